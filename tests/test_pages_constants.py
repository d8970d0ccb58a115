"""The Train page offers what core accepts: its choices and bounds come from core's
constants, not copies of them."""

from __future__ import annotations

import streamlit as st

import ui
from core.data import ingest
from core.model.engines import ENGINES, SETTINGS
from core.model.text import LANGUAGE_NAMES, LANGUAGES, WEIGHTINGS
from core.ops import train
from tests.test_pages import ok, page


def test_train_page_choices_and_bounds_are_cores(home, small_csv):
    st.cache_data.clear()
    st.cache_resource.clear()
    ingest.import_paths([small_csv], "shop")
    at = ok(page("train"))
    options = {box.label: box.options for box in at.selectbox}
    assert options["Language"] == [LANGUAGE_NAMES[code] for code in LANGUAGES]  # by name
    assert len(options["Weight terms by"]) == len(WEIGHTINGS)
    assert options["Engine"] == sorted(ENGINES)
    at.toggle(key="train_fit_k").set_value(False).run()   # K as typed
    k = at.number_input(key="train_k")
    assert (k.min, k.max) == (train.MIN_K, train.MAX_K)
    k.set_value(train.MAX_K).run()  # the largest K core trains is accepted, with a warning
    ok(at)
    assert at.number_input(key="train_k").value == train.MAX_K
    expected = train.size_warnings(train.MAX_K, 3)  # small_csv has 3 campaigns
    assert expected and {ui.message_text(w) for w in expected} <= {w.value for w in at.warning}

    next(box for box in at.selectbox if box.label == "Engine").set_value("gensim").run()
    alpha = next(box for box in ok(at).selectbox if box.label == "alpha")
    assert alpha.options == list(train.GENSIM_NAMED["alpha"])
    assert alpha.value == "symmetric"  # gensim's default, offered first


def test_train_page_engine_widgets_come_from_cores_table(home, small_csv):
    """Each engine's widgets are its `engines.SETTINGS` rows: label, bounds and choices,
    starting at its DEFAULTS; every bound and choice is a value core trains with."""
    ingest.import_paths([small_csv], "shop")
    at = ok(page("train"))
    for engine in sorted(ENGINES):
        next(box for box in at.selectbox if box.label == "Engine").set_value(engine).run()
        ok(at)
        widgets = {"int": at.number_input, "float": at.number_input, "bool": at.toggle,
                   "choice": at.selectbox, "text": at.text_input}
        for setting in SETTINGS[engine]:
            widget = widgets[setting.kind](key=f"train_{engine}_{setting.name}")
            assert widget.label == setting.label, (engine, setting.name)
            assert widget.value == setting.default_of(engine), (engine, setting.name)
            if setting.kind in ("int", "float"):
                assert (widget.min, widget.max) == (setting.low, setting.high)
                kind = int if setting.kind == "int" else float
                for bound in (setting.low, setting.high):
                    train.check_param(engine, setting.name, kind(bound))
            for choice in setting.choices:
                train.check_param(engine, setting.name, choice)
            if setting.kind == "choice":
                assert widget.options == list(setting.choices)

"""The Train page offers what core accepts: its choices and bounds come from core's
constants, not copies of them."""

from __future__ import annotations

import streamlit as st

from core.data import ingest
from core.model.engines import ENGINES
from core.model.text import LANGUAGES, WEIGHTINGS
from core.ops import train
from tests.test_pages import ok, page


def test_train_page_choices_and_bounds_are_cores(home, small_csv):
    st.cache_data.clear()
    st.cache_resource.clear()
    ingest.import_paths([small_csv], "shop")
    at = ok(page("train"))
    options = {box.label: box.options for box in at.selectbox}
    assert options["Language"] == list(LANGUAGES)
    assert len(options["Weight terms by"]) == len(WEIGHTINGS)
    assert options["Engine"] == sorted(ENGINES)
    k = at.number_input(key="train_k")
    assert (k.min, k.max) == (train.MIN_K, train.MAX_K)
    k.set_value(train.MAX_K).run()  # the largest K core trains is accepted, with a warning
    ok(at)
    assert at.number_input(key="train_k").value == train.MAX_K
    expected = train.size_warnings(train.MAX_K, 3)  # small_csv has 3 campaigns
    assert expected and set(expected) <= {w.value for w in at.warning}

    next(box for box in at.selectbox if box.label == "Engine").set_value("gensim").run()
    alpha = next(box for box in ok(at).selectbox if box.label == "alpha")
    assert alpha.options == list(train.GENSIM_NAMED["alpha"])
    assert alpha.value == "symmetric"  # gensim's default, offered first

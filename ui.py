"""Shared pieces of the Streamlit pages: cached loaders, the active dataset, error boxes.

Everything here is presentation; the work happens in `core`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pandas as pd
import streamlit as st

from core import datasets
from core.errors import TopicLabError


@st.cache_data(show_spinner=False)
def dataset_versions() -> pd.DataFrame:
    """Cached listing; call `refresh()` after anything that adds a version."""
    return datasets.list_versions()


@st.cache_data(show_spinner=False, max_entries=8)
def campaigns(name: str, version: int) -> pd.DataFrame:
    """Versions are immutable, so their tables can be cached for the life of the app."""
    return datasets.campaigns(name, version)


@st.cache_data(show_spinner=False, max_entries=8)
def terms(name: str, version: int) -> pd.DataFrame:
    return datasets.terms(name, version)


@st.cache_data(show_spinner=False, max_entries=8)
def top_terms(name: str, version: int, limit: int = 25) -> pd.DataFrame:
    return datasets.top_terms(name, version, limit)


def refresh() -> None:
    """Forget cached listings after the store changed."""
    dataset_versions.clear()


def active_dataset() -> tuple[str, int] | None:
    """The dataset version the user picked (session state), defaulting to the newest demo."""
    versions = dataset_versions()
    if versions.empty:
        return None
    picked = st.session_state.get("dataset")
    known = set(zip(versions["name"], versions["version"], strict=True))
    if picked not in known:
        names = list(dict.fromkeys(versions["name"]))
        name = "demo" if "demo" in names else names[0]
        picked = (name, int(versions.loc[versions["name"] == name, "version"].max()))
        st.session_state["dataset"] = picked
    return picked


def dataset_picker(container=st) -> tuple[str, int] | None:
    """A selectbox over all versions bound to the active dataset."""
    versions = dataset_versions()
    current = active_dataset()
    if current is None:
        return None
    options = list(zip(versions["name"], versions["version"].astype(int), strict=True))
    choice = container.selectbox(
        "Dataset version", options, index=options.index(current),
        format_func=lambda o: f"{o[0]} v{o[1]}", key="dataset_picker",
    )
    st.session_state["dataset"] = choice
    return choice


def empty_store_notice() -> None:
    st.info(
        "The store holds no data yet. Import a file on the **Explore** page, or run "
        "`python -m core init` to load the demo corpus."
    )


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Show a TopicLabError as an error box instead of a stack trace."""
    try:
        yield
    except TopicLabError as err:
        st.error(str(err))


@st.cache_data(show_spinner=False)
def models_table(dataset: str | None = None) -> pd.DataFrame:
    """Registered models; call `refresh_models()` after training, promoting or deleting."""
    from core import registry
    return registry.list_models(dataset)


@st.cache_resource(show_spinner="Loading model…", max_entries=6)
def model(model_id: str):
    """A loaded model (engine + encoder); artifacts never change, so cache by id."""
    from core import registry
    return registry.load(model_id)


def refresh_models() -> None:
    models_table.clear()
    scored_model_ids.clear()


def production_model_id() -> str | None:
    models = models_table()
    if models.empty:
        return None
    hits = models[models["aliases"].str.contains("production", regex=False)]
    return None if hits.empty else str(hits["model_id"].iloc[0])


def model_picker(label: str = "Model", key: str = "model_picker",
                 container=st) -> str | None:
    """A selectbox over registered models, production first."""
    models = models_table()
    if models.empty:
        return None
    ids = models["model_id"].tolist()
    production = production_model_id()
    if production:
        ids.remove(production)
        ids.insert(0, production)
    aliases = dict(zip(models["model_id"], models["aliases"], strict=True))
    return container.selectbox(
        label, ids, key=key,
        format_func=lambda m: f"{m}  [{aliases[m]}]" if aliases[m] else m,
    )


def no_models_notice() -> None:
    st.info("No model is trained yet. Train one on the **Train** page or run "
            "`python -m core train --dataset demo`.")


class StreamlitProgress:
    """A progress bar that core's long work reports to (done, total, message)."""

    def __init__(self, label: str) -> None:
        self.bar = st.progress(0.0, text=label)

    def __call__(self, done: int, total: int, message: str) -> None:
        self.bar.progress(min(1.0, done / total) if total else 1.0, text=message)


@st.cache_data(show_spinner=False)
def scored_model_ids() -> list[str]:
    """Models with stored fingerprints (the ones Lookup can use), production first."""
    from core import store
    ids = store.query("SELECT DISTINCT model_id FROM fingerprints ORDER BY model_id")
    scored = ids["model_id"].tolist()
    production = production_model_id()
    if production in scored:
        scored.remove(production)
        scored.insert(0, production)
    return scored


@st.cache_resource(show_spinner="Loading the model's fingerprints…", max_entries=3)
def lookup(model_id: str):
    """The loaded lookup service of a scored model (fingerprints, term index)."""
    from core.lookup import Lookup
    return Lookup(model_id)


def summary_cards(table: pd.DataFrame) -> None:
    """Campaigns, terms and totals of a campaign table, '—' where the data has no metric."""
    def total(column: str) -> str:
        return f"{table[column].sum():,.0f}" if table[column].notna().any() else "—"

    cards = st.columns(5)
    cards[0].metric("Campaigns", f"{len(table):,}")
    cards[1].metric("Terms", f"{int(table['terms'].sum()):,}")
    cards[2].metric("Impressions", total("impressions"))
    cards[3].metric("Clicks", total("clicks"))
    cards[4].metric("Cost", total("cost"))

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

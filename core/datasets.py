"""Reading dataset versions back: listings, one version's rows, its per-campaign table."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from core import store
from core.errors import NotFoundError


@dataclass(frozen=True)
class DatasetVersion:
    name: str
    version: int
    content_hash: str
    rows: int
    campaigns: int
    source_files: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"


def list_versions(name: str | None = None) -> pd.DataFrame:
    """Every version (or those of one dataset), newest first within a name."""
    where, params = ("WHERE name = ?", [name]) if name else ("", [])
    return store.query(
        "SELECT name, version, rows, campaigns, source_files, content_hash, created_at, "
        f"created_by, warnings FROM datasets {where} ORDER BY name, version DESC", params
    )


def get(name: str, version: int | None = None) -> DatasetVersion:
    """One version (the latest when `version` is None); NotFoundError names what exists."""
    row = store.query_one(
        "SELECT name, version, content_hash, rows, campaigns, source_files FROM datasets "
        "WHERE name = ? AND (? IS NULL OR version = ?) ORDER BY version DESC LIMIT 1",
        [name, version, version],
    )
    if row is None:
        known = list_versions()
        if known.empty:
            raise NotFoundError("The store holds no datasets yet: import a file first.")
        if name not in set(known["name"]):
            names = ", ".join(sorted(set(known["name"])))
            raise NotFoundError(f"No dataset named {name!r}. Known datasets: {names}.")
        versions = ", ".join(str(v) for v in sorted(known.loc[known["name"] == name, "version"]))
        raise NotFoundError(f"Dataset {name!r} has no version {version}; it has {versions}.")
    return DatasetVersion(row[0], row[1], row[2], row[3], row[4], tuple(row[5]))


def terms(name: str, version: int) -> pd.DataFrame:
    """All term rows of one version, in import order."""
    return store.query(
        "SELECT * EXCLUDE (dataset, version) FROM terms WHERE dataset = ? AND version = ? "
        "ORDER BY source_file, source_line", [name, version]
    )


def campaigns(name: str, version: int) -> pd.DataFrame:
    """One row per campaign with its totals and rates (the `campaigns` view)."""
    return store.query(
        "SELECT * EXCLUDE (dataset, version) FROM campaigns WHERE dataset = ? AND version = ? "
        "ORDER BY campaign_id", [name, version]
    )


def top_terms(name: str, version: int, limit: int = 25) -> pd.DataFrame:
    """Most widespread terms: in how many campaigns, with their clicks and cost."""
    return store.query(
        "SELECT term, count(DISTINCT campaign_id) AS campaigns, sum(impressions) AS impressions,"
        " sum(clicks) AS clicks, sum(cost) AS cost FROM terms WHERE dataset = ? AND version = ?"
        " GROUP BY term ORDER BY campaigns DESC, clicks DESC NULLS LAST LIMIT ?",
        [name, version, limit],
    )

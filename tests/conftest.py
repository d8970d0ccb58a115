"""Shared fixtures: every test that touches the store gets its own temporary home."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("TOPICLAB_SHARED_DATA", REPO.parent / "shared" / "data"))
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty TOPICLAB_HOME for one test."""
    path = tmp_path / "home"
    monkeypatch.setenv("TOPICLAB_HOME", str(path))
    monkeypatch.setenv("TOPICLAB_LOCK_WAIT_S", "5")
    return path


def write_terms_csv(path: Path, rows: list[dict]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture
def small_csv(tmp_path: Path) -> Path:
    """Three campaigns, eight rows, with metrics."""
    rows = [
        ("C1", "Acme Plumbing", "emergency plumber", 100, 10, 25.0, 2),
        ("C1", "Acme Plumbing", "plumber near me", 200, 12, 30.5, 1),
        ("C1", "Acme Plumbing", "free stuff", 50, 5, 9.0, 0),
        ("C2", "Best Shoes", "running shoes", 500, 40, 20.0, 4),
        ("C2", "Best Shoes", "cheap trainers", 300, 9, 4.5, 0),
        ("C3", "Cloud CRM", "crm software", 80, 4, 60.0, 1),
        ("C3", "Cloud CRM", "sales crm", 90, 3, 45.0, 0),
        ("C3", "Cloud CRM", "crm for small business", 40, 2, 30.0, 1),
    ]
    cols = ["campaign_id", "campaign_name", "keyword", "impressions", "clicks", "cost",
            "conversions"]
    return write_terms_csv(tmp_path / "small.csv", [dict(zip(cols, r, strict=True)) for r in rows])

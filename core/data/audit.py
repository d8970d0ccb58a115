"""The append-only audit log: who did what, when. No code path updates or deletes it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import duckdb
import pandas as pd

from core.data import auth, store


def record(con: duckdb.DuckDBPyConnection, action: str, target: str | None = None,
           details: dict[str, Any] | None = None) -> None:
    """Append one entry on `con`, inside the caller's transaction, so it lands with the change."""
    user = auth.current_user()
    con.execute(
        "INSERT INTO audit (logged_at, actor, role, action, target, details) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [now(), user.name, user.role, action, target,
         json.dumps(details or {}, default=str, ensure_ascii=False)],
    )
    store.mark_change()


def entries(limit: int = 200, action: str | None = None) -> pd.DataFrame:
    """Newest first."""
    where, params = ("WHERE action = ?", [action]) if action else ("", [])
    return store.query(
        f"SELECT id, logged_at, actor, role, action, target, details FROM audit {where} "
        "ORDER BY id DESC LIMIT ?", [*params, limit]
    )


def now() -> datetime:
    """UTC, without tzinfo: what DuckDB's TIMESTAMP stores."""
    return datetime.now(UTC).replace(tzinfo=None)

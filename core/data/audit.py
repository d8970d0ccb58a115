"""The append-only audit log: who did what, when. No code path updates or deletes it."""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

import duckdb
import pandas as pd

from core import whole
from core.data import auth, store
from core.errors import InputError

# Every action the code base records (`record(con, ACTION, …)`; a test keeps this list and
# the calls in step), so `entries(action=…)` can name a typo instead of finding nothing.
ACTIONS = ("canary", "carry_labels", "clear_brands", "delete", "drift", "feedback",
           "import", "key_create", "key_revoke", "label_topic", "pipeline", "promote",
           "review", "save_settings", "score", "set_brands", "set_currency", "sweep",
           "train")
# The actions whose target is a model id (the others name a dataset version, a campaign,
# an account, a key or a sweep): pages mark those of a model deleted since.
MODEL_ACTIONS = ("canary", "carry_labels", "delete", "label_topic", "pipeline", "promote",
                 "score", "train")


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


def entries(limit: int = 200, action: str | Collection[str] | None = None) -> pd.DataFrame:
    """Newest first; `action` (one of ACTIONS, or several) keeps those actions' entries,
    filtered in the store, so an old entry of a rare action is found behind thousands of
    others. An unknown action is refused: a typo printed `[]`, which reads as "nothing
    happened"."""
    limit = whole.whole("limit", limit)   # -1 was a DuckDB binder error, True one entry
    picked = None if action is None else [action] if isinstance(action, str) else list(action)
    for name in picked or []:
        _check_action(name)
    where = "WHERE list_contains(?, action)" if picked is not None else ""
    params = [picked] if picked is not None else []
    return store.query(
        f"SELECT id, logged_at, actor, role, action, target, details FROM audit {where} "
        "ORDER BY id DESC LIMIT ?", [*params, limit]
    )


def records(limit: int = 200, action: str | Collection[str] | None = None
            ) -> list[dict[str, Any]]:
    """`entries` as JSON output gives them: `details` an object, not its JSON text
    (`python -m core audit` printed `"details": "{\\"alias\\": …}"`, a string to parse twice)."""
    rows = entries(limit, action).to_dict(orient="records")
    for row in rows:
        row["details"] = _details(row["details"])
    return rows


def _details(text: str | None) -> Any:
    """A stored entry's details as an object; text that is not JSON (written by hand or
    another version) as it is, rather than failing the whole listing."""
    try:
        return json.loads(text) if text is not None else None
    except ValueError:
        return text


def recorded_actions() -> list[str]:
    """The actions the log holds, sorted: what the Audit page offers to filter by."""
    return [row[0] for row in store.query(
        "SELECT DISTINCT action FROM audit ORDER BY action").itertuples(index=False)]


def _check_action(action: str) -> None:
    """Known: an action of ACTIONS, or one the store holds (written by another version)."""
    if isinstance(action, str) and (action in ACTIONS or store.query_one(
            "SELECT 1 FROM audit WHERE action = ? LIMIT 1", [action])):
        return
    raise InputError(f"Unknown audit action {action!r}; the actions Topic Lab records are: "
                     f"{', '.join(ACTIONS)}.")


def now() -> datetime:
    """UTC, without tzinfo: what DuckDB's TIMESTAMP stores."""
    return datetime.now(UTC).replace(tzinfo=None)

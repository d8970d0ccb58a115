"""API keys of the scoring service: created and revoked by data scientists, hashed at rest.

A key is 32 random bytes (`secrets.token_urlsafe`) with a `tl_` prefix, shown once when it
is created. The store keeps only its SHA-256: a random 256-bit secret cannot be guessed
from its hash, so a slow password hash (scrypt) would add latency to every request and no
safety. Each key has a role (what it may do) and a rate (requests per minute).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb
import pandas as pd

from core.data import audit, auth, store
from core.errors import InputError, NotFoundError, shown

# Roles a key can have: a person's roles (core.data.auth) plus `scorer`, a machine key that
# may only read answers (no feedback).
SCORER = "scorer"
ROLES = (SCORER, auth.ACCOUNT_MANAGER, auth.DATA_SCIENTIST)
DEFAULT_RATE = 600
MAX_RATE = 1_000_000
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
PREFIX = "tl_"


@dataclass(frozen=True)
class ApiKey:
    """What the service knows about a valid key (never the key itself)."""

    name: str
    role: str
    rate_per_minute: int

    def can(self, action: str) -> bool:
        """Same permissions as a person of this role; a scorer key has none beyond reading."""
        return auth.User(self.name, self.role).can(action)


def stored_problem(key: ApiKey) -> str | None:
    """What makes a key as stored unusable, or None: a role or a rate below 1 that `keys
    create` refuses, written with plain SQL (the columns take any). A rate of 0 made
    every request after the first a 500 (a division by zero), a negative one let every
    request through, an unknown role made feedback a 500."""
    if key.role not in ROLES:
        return f"role {key.role!r} (not one of {', '.join(ROLES)})"
    if key.rate_per_minute < 1:
        return f"rate of {key.rate_per_minute} requests a minute (at least 1)"
    return None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _check(name: str, role: str, rate: int) -> None:
    if not _NAME.match(name or ""):
        raise InputError(f"Key name {name!r} is not valid: use 1-64 letters, digits, "
                         "'_', '.', '@' or '-', starting with a letter or digit.")
    if role not in ROLES:
        raise InputError(f"Unknown key role {role!r}; use one of {', '.join(ROLES)}.")
    # A float rate was stored rounded into the INTEGER column (2.5 as 2) while the answer
    # said 2.5; a string was a TypeError traceback.
    if isinstance(rate, bool) or not isinstance(rate, int):
        raise InputError("--rate must be a whole number of requests per minute, not "
                         f"{shown(rate)}.")
    if not 1 <= rate <= MAX_RATE:
        raise InputError(f"--rate must be between 1 and {MAX_RATE:,} requests per minute, "
                         f"not {rate}.")


@dataclass(frozen=True)
class NewKey:
    """A key just made: `key` is the only copy of the secret (the store keeps its hash)."""

    name: str
    role: str
    rate_per_minute: int
    key: str
    note: str = "Shown once: only its hash is stored. Send it as the X-API-Key header."

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "rate_per_minute": self.rate_per_minute,
                "key": self.key, "note": self.note}


@dataclass(frozen=True)
class RevokedKey:
    name: str
    revoked_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "revoked_at": self.revoked_at}


def create(name: str, role: str = auth.ACCOUNT_MANAGER, rate_per_minute: int = DEFAULT_RATE
           ) -> NewKey:
    """Make a new key; the result holds the only copy of the secret."""
    user = auth.require("manage_keys")
    _check(name, role, rate_per_minute)
    key = PREFIX + secrets.token_urlsafe(32)
    with store.transaction() as con:  # the name check and the insert see the same state
        row = con.execute("SELECT name FROM api_keys WHERE lower(name) = ?",
                          [auth.identity(name)]).fetchone()
        if row:  # names are looked up without case: "Ana" and "ana" are one
            raise InputError(f"A key named {row[0]!r} exists already (maybe revoked); pick "
                             "another name.")
        store.mark_serving_change()
        con.execute("INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, ?, NULL, NULL)",
                    [name, hash_key(key), role, rate_per_minute, audit.now(), user.name])
        audit.record(con, "key_create", name, {"role": role, "rate_per_minute":
                                               rate_per_minute})
    return NewKey(name, role, rate_per_minute, key)


def revoke(name: str) -> RevokedKey:
    """Revoke a key for good (the row stays, for the audit trail and the request log)."""
    user = auth.require("manage_keys")
    with store.transaction() as con:
        row = con.execute("SELECT revoked_at, name FROM api_keys WHERE lower(name) = ? "
                          "ORDER BY name = ? DESC", [auth.identity(name), name]).fetchone()
        if row is None:
            raise NotFoundError(f"No API key named {name!r}; `python -m core keys list` shows "
                                "them.")
        name = row[1]  # as it was created
        if row[0] is not None:
            raise InputError(f"The key {name!r} was revoked already, at {row[0]}.")
        now = audit.now()
        store.mark_serving_change()
        con.execute("UPDATE api_keys SET revoked_at = ?, revoked_by = ? WHERE name = ?",
                    [now, user.name, name])
        audit.record(con, "key_revoke", name)
    return RevokedKey(name, now)


def list_keys() -> pd.DataFrame:
    """Every key with its role, rate and state; never the secret or its hash."""
    return store.query(
        "SELECT name, role, rate_per_minute, created_at, created_by, revoked_at, revoked_by, "
        "revoked_at IS NULL AS active FROM api_keys ORDER BY created_at, name")


def active_keys(con: duckdb.DuckDBPyConnection) -> dict[str, ApiKey]:
    """Hash -> key of every key not revoked: what the service checks requests against."""
    rows = con.execute("SELECT key_hash, name, role, rate_per_minute FROM api_keys "
                       "WHERE revoked_at IS NULL").fetchall()
    return {h: ApiKey(name, role, int(rate)) for h, name, role, rate in rows}


def find(key: str | None, known: dict[str, ApiKey]) -> ApiKey | None:
    """The key a request presented, looked up by hash in `known`; None when unknown.
    Spaces and tabs around it are dropped: HTTP says they are not part of a header's
    value, but uvicorn passed `X-API-Key:  tl_…  ` on with them, a 401 for a valid key."""
    key = key.strip(" \t") if key else key
    if not key or len(key) > 200:
        return None
    # Looked up by hash: what is compared is never the secret itself.
    return known.get(hash_key(key))

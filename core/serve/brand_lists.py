"""The per-account brand list setting (table `account_brands`): brand phrases an account
manager names by hand, used by `core.model.brand` before the brands it detects from names."""

from __future__ import annotations

import json
from collections.abc import Sequence

from core.data import store
from core.errors import InputError
from core.model.actions import normalize_term


def brand_lists() -> dict[str, list[str]]:
    """{account: brand phrases} set with `set_brand_list`."""
    frame = store.query("SELECT account, phrases FROM account_brands")
    return {str(a): list(json.loads(p)) for a, p in zip(frame["account"], frame["phrases"],
                                                        strict=True)}


def set_brand_list(account: str, phrases: Sequence[str]) -> list[str]:
    """Set (or, with no phrases, clear) an account's brand list; returns what is stored."""
    if not isinstance(account, str) or not account.strip():
        raise InputError("account: give the account name the brand list is for")
    cleaned = list(dict.fromkeys(normalize_term(p) for p in phrases if str(p).strip()))
    with store.transaction() as con:
        con.execute("DELETE FROM account_brands WHERE account = ?", [account])
        if cleaned:
            con.execute("INSERT INTO account_brands VALUES (?, ?, now())",
                        [account, json.dumps(cleaned, ensure_ascii=False)])
    return cleaned

"""The per-account brand list setting (table `account_brands`): brand phrases an account
manager names by hand, used by `core.model.brand` before the brands it detects from names.

Why by hand: a brand that is in no account or campaign name (a product name, a former
name, a spelling in another script) is only found when someone says so. Setting or
clearing a list is a write: role-checked (`set_brands`), audited with the list before and
after, and checked against the data in the same transaction that writes it; it marks a
serving change, so a running scoring service reads the lists again. The account
is an `account` of the stored term rows, or for exports without an account column the
`~word` advertiser `core.model.brand` groups their campaigns under (`~akashi`).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence

import duckdb

from core.data import audit, auth, store
from core.errors import InputError, NotFoundError
from core.model.actions import normalize_term
from core.plain_text import hidden_characters

MAX_PHRASES = 200
MAX_LENGTH = 100


def brand_lists() -> dict[str, list[str]]:
    """{account: brand phrases} set with `set_brand_list`."""
    with store.connect(read_only=True) as con:
        return {a: list(p) for a, p in read_lists(con).items()}


def read_lists(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, ...]]:
    """The brand lists on an open connection, as tuples: the scoring service's poller
    reads them with its other settings and compares them between rounds."""
    rows = con.execute("SELECT account, phrases FROM account_brands ORDER BY account")
    return {str(a): tuple(json.loads(p)) for a, p in rows.fetchall()}


def brand_list(account: str) -> list[str]:
    """One account's brand phrases ([] when none are set)."""
    return brand_lists().get(account, [])


def listed(account: str) -> list[str]:
    """`brands list ACCOUNT`: the account's phrases, [] when it has none, and the error
    `set_brand_list` gives (with accounts like it) when it has none and is in no stored
    dataset: a misspelt account was listed as `[]`, as if it had no brand list."""
    with store.connect(read_only=True) as con:
        phrases = read_lists(con).get(account)
        if phrases is None:
            _check_account(con, account)
    return list(phrases or ())


def _clean(phrases: Sequence[str]) -> list[str]:
    """The phrases normalised, blanks and repeats dropped; an InputError for what would
    store nonsense or silently wipe the list: one string (it was split into its letters),
    only blank phrases (`brands set ACCOUNT " "` cleared the list), control characters."""
    if isinstance(phrases, str | bytes):
        raise InputError(f"phrases: give a list of brand phrases, not one string "
                         f"({phrases[:40]!r}); e.g. [{phrases[:40]!r}]")
    given = list(phrases)
    cleaned = list(dict.fromkeys(normalize_term(p) for p in given if str(p).strip()))
    if given and not cleaned:
        raise InputError("phrases: every phrase given is blank; to remove the account's "
                         "brand list use `brands clear ACCOUNT` (clear_brand_list)")
    for p in cleaned:
        bad = hidden_characters(p)
        if bad:
            raise InputError(f"phrase {p[:40]!r} holds control or invisible characters ({bad})")
    if len(cleaned) > MAX_PHRASES:
        raise InputError(f"phrases: {len(cleaned)} given; at most {MAX_PHRASES} per account")
    for p in cleaned:
        if len(p) > MAX_LENGTH:
            raise InputError(f"phrase {p[:40]!r}…: {len(p)} characters; at most {MAX_LENGTH}")
    return cleaned


def _known_accounts(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Accounts of the stored term rows, and the `~word` advertisers of rows without one
    (named as `core.model.brand` names them)."""
    from core.model.brand import owner_name
    rows = con.execute(
        "SELECT account, name, any_value(campaign_id) FROM (SELECT account, CASE WHEN "
        "account IS NULL OR trim(account) = '' THEN campaign_name END AS name, campaign_id "
        "FROM terms) GROUP BY account, name").fetchall()
    return sorted({owner_name(a, n, str(c)) for a, n, c in rows})


_MAX_ACCOUNT = 200  # longer names are shown cut, and not matched for a hint


def _check_account(con: duckdb.DuckDBPyConnection, account: object) -> str:
    if not isinstance(account, str) or not account.strip():
        raise InputError("account: give the account name the brand list is for")
    known = _known_accounts(con)
    if account not in known:
        close = [] if len(account) > _MAX_ACCOUNT else difflib.get_close_matches(
            account, known, n=3, cutoff=0.6)  # (difflib's time grows with both lengths)
        close += [a for a in known if account.lower() in a.lower() and a not in close][:3]
        hint = f" Accounts like it: {', '.join(map(repr, close))}." if close else ""
        shown = account if len(account) <= _MAX_ACCOUNT else f"{account[:40]}…"
        raise NotFoundError(f"account {shown!r} is in no stored dataset.{hint}")
    return account


def set_brand_list(account: str, phrases: Sequence[str]) -> list[str]:
    """Set (or, with an empty list, clear) an account's brand list; returns what is stored.

    The account must be in the stored data (checked in the same transaction as the
    write); the change and the list before it go to the audit log."""
    auth.require("set_brands")
    cleaned = _clean(phrases)
    with store.transaction() as con:
        account = _check_account(con, account)
        before = con.execute("SELECT phrases FROM account_brands WHERE account = ?",
                             [account]).fetchone()
        con.execute("DELETE FROM account_brands WHERE account = ?", [account])
        if cleaned:
            # audit.now(), UTC as every stored time: DuckDB's now() cast to TIMESTAMP
            # is the machine's local time
            con.execute("INSERT INTO account_brands VALUES (?, ?, ?)",
                        [account, json.dumps(cleaned, ensure_ascii=False), audit.now()])
        audit.record(con, "set_brands" if cleaned else "clear_brands", account,
                     {"before": json.loads(before[0]) if before else [], "after": cleaned})
        store.mark_serving_change()       # running services rebuild their brand index
    return cleaned


def clear_brand_list(account: str) -> list[str]:
    """Remove an account's brand list; an error when it has none (nothing to undo)."""
    auth.require("set_brands")
    with store.transaction() as con:
        before = con.execute("SELECT phrases FROM account_brands WHERE account = ?",
                             [account]).fetchone()
        if before is None:
            raise NotFoundError(f"account {account!r} has no brand list to clear")
        con.execute("DELETE FROM account_brands WHERE account = ?", [account])
        audit.record(con, "clear_brands", account, {"before": json.loads(before[0]),
                                                     "after": []})
        store.mark_serving_change()
    return []

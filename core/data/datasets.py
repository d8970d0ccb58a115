"""Reading dataset versions back: listings, one version's rows, its per-campaign table."""

from __future__ import annotations

import math
import os
import tempfile
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from core import whole
from core.data import audit, auth, store
from core.data.currencies import checked_code
from core.errors import InputError, NotFoundError, case_hint, quoted


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


def canonical_name(name: str) -> str:
    """A dataset name as it is stored: NFKC (full-width "ｄｅｍｏ" is "demo"), every run of
    white space one space, none at the ends. "my  data" and "ｍｙ data" were new datasets
    beside "my data", which every picker shows alike."""
    text = unicodedata.normalize("NFKC", name) if isinstance(name, str) else ""
    return " ".join(text.split())


def stored_name(name: str) -> str:
    """The name a dataset is stored under for a name as given: itself when a dataset has
    it exactly, else the dataset whose name is `canonical_name(name)` but for runs of spaces
    (a store made before names were normalised may hold "my  data"), else
    `canonical_name(name)`. Names only ever held ASCII letters, digits, spaces and `_.-`,
    so spaces are the only difference normalising makes to a stored name."""
    if not isinstance(name, str):
        return name
    row = store.query_one(f"SELECT {_STORED_NAME}", _stored_name_params(name))
    return row[0] if row and row[0] is not None else canonical_name(name)


# `stored_name` as a subquery, so a lookup by name stays one query (each opens the store).
_STORED_NAME = ("(SELECT name FROM datasets WHERE name = ? OR "
                "regexp_replace(name, ' +', ' ', 'g') = ? ORDER BY name = ? DESC, created_at "
                "LIMIT 1)")


def _stored_name_params(name: str) -> list[str]:
    """The subquery's parameters; a name that is no text is refused naming it (a notebook's
    `register_fitted(model, 5)` reached DuckDB: "Could not convert string 'demo' to INT32")."""
    if not isinstance(name, str):
        raise InputError(f"A dataset name is text (`python -m core datasets` lists them), "
                         f"not {name!r:.80}.")
    return [name, canonical_name(name), name]


def list_versions(name: str | None = None) -> pd.DataFrame:
    """Every version (or those of one dataset, by `stored_name`), newest first within a
    name. A blank name (a shell variable left empty) is a name no dataset has, not "every
    dataset"."""
    where, params = ("", [])
    if name is not None:
        where, params = f"WHERE name = {_STORED_NAME}", _stored_name_params(name)
    return store.query(
        "SELECT name, version, rows, campaigns, source_files, content_hash, created_at, "
        f"created_by, warnings FROM datasets {where} ORDER BY name, version DESC", params
    )


def default_version(versions: pd.DataFrame | None = None) -> tuple[str, int] | None:
    """What to show first: the newest version of `demo`, else of the first dataset."""
    versions = list_versions() if versions is None else versions
    if versions.empty:
        return None
    names = list(dict.fromkeys(versions["name"]))
    name = "demo" if "demo" in names else names[0]
    return name, int(versions.loc[versions["name"] == name, "version"].max())


def _searchable(text: pd.Series) -> pd.Series:
    """Text as a campaign search compares it: lower case, and NFKC (what Lookup does to
    pasted keywords), so full-width `ＡＫＡＳＨＩ`, typed with a Japanese input method
    left on, finds `akashi_brand` (it found nothing), and half-width `ｱｶｼ` finds `アカシ`.
    Only text that is not ASCII is normalised: that costs ~1 s per million names."""
    text = text.str.lower()
    wide = ~text.str.isascii()
    if wide.any():
        text = text.where(~wide, text[wide].str.normalize("NFKC").str.lower())
    return text


def search_campaigns(table: pd.DataFrame, text: str, limit: int | None = None) -> pd.DataFrame:
    """Rows of a campaign table whose id, name or account contains `text` (any case, any
    width: `_searchable`); exact id matches first."""
    needle = _searchable(pd.Series([text.strip()], dtype=str)).iloc[0].strip()
    if needle:
        hay = _searchable(table["campaign_id"].astype(str) + " "
                          + table["campaign_name"].fillna("") + " " + table["account"].fillna(""))
        hits = table[hay.str.contains(needle, regex=False)]
        exact = _searchable(hits["campaign_id"].astype(str)) == needle
        table = pd.concat([hits[exact], hits[~exact]])
    return table if limit is None else table.head(limit)


def get(name: str, version: int | None = None) -> DatasetVersion:
    """One version (the latest when `version` is None) of the dataset `stored_name(name)`
    names; NotFoundError names what exists. A version that is no whole number is refused
    (True read version 1, 1.5 "no version")."""
    version = whole.version(version)
    row = store.query_one(
        "SELECT name, version, content_hash, rows, campaigns, source_files FROM datasets "
        f"WHERE name = {_STORED_NAME} AND (? IS NULL OR version = ?) ORDER BY version DESC "
        "LIMIT 1", [*_stored_name_params(name), version, version],
    )
    if row is None:
        known = list_versions()
        if known.empty:
            raise NotFoundError("The store holds no datasets yet: import a file first.")
        stored = stored_name(name)
        if stored not in set(known["name"]):
            raise unknown_dataset(name, set(known["name"]))
        versions = ", ".join(str(v) for v in sorted(known.loc[known["name"] == stored,
                                                              "version"]))
        raise NotFoundError(f"Dataset {name!r} has no version {version}; it has {versions}.")
    return DatasetVersion(row[0], row[1], row[2], row[3], row[4], tuple(row[5]))


def check_account(account: object) -> None:
    """Refuse a blank account name (a shell variable left empty): it was "No account ''
    … Accounts like it:" with the first accounts of the dataset, since every name
    contains the empty text."""
    if not isinstance(account, str) or not account.strip():
        raise InputError(f"The account name {account!r} is blank: give an account name "
                         "(`python -m core find TEXT` shows campaigns with their account).")


def unknown_dataset(name: str, known: set[str]) -> NotFoundError:
    """The error for a dataset name the store lacks: the name it has in another case
    first, then every name."""
    names = ", ".join(sorted(known))
    return NotFoundError(f"No dataset named {quoted(name)}.{case_hint(name, known)} "
                         f"Known datasets: {names}.")


# Stored ids named in a "Did you mean" for a campaign id given in another case.
_CASE_MATCHES = 3
# The columns a case hint looks in, and what the hint says is case-sensitive.
_CASE_COLUMNS = {"campaign_id": "Campaign ids", "account": "Account names"}


def campaign_case_hint(campaign_id: object, *, dataset: str | None = None,
                       version: int | None = None, model_id: str | None = None,
                       con: duckdb.DuckDBPyConnection | None = None,
                       column: str = "campaign_id") -> str:
    """" Did you mean 'C001'? Campaign ids are case-sensitive." when a campaign id that was
    not found is stored in another case, in a dataset version's rows or (with `model_id`)
    a model's fingerprints (else ""): `c001` for `C001` was "unknown" with no hint. For
    the error path only: `lower(campaign_id)` has no index, so this scans the version (at
    1M campaigns, 50M rows, ~50 ms; see docs/hostile-input.md). `con`: the
    caller's connection, when it holds one. `column="account"` hints an account name of
    the version's rows instead (`ngrams --account acme` for "Acme" had no hint)."""
    if not isinstance(campaign_id, str) or not campaign_id.strip():
        return ""
    what = _CASE_COLUMNS[column]  # a column name from this table only: it is put in the SQL
    source, params = (("fingerprints WHERE model_id = ?", [model_id]) if model_id is not None
                      else ("terms WHERE dataset = ? AND version = ?", [dataset, version]))
    sql = (f"SELECT DISTINCT {column} FROM {source} AND lower({column}) = lower(?) "
           f"ORDER BY {column} LIMIT {_CASE_MATCHES}")
    params.append(campaign_id.strip())
    rows = (con.execute(sql, params).fetchall() if con is not None
            else store.query(sql, params).itertuples(index=False))
    return case_hint(campaign_id, [row[0] for row in rows], what)


def terms(name: str, version: int, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """The term rows of one version in import order: every column, or only `columns`
    (reading fewer is much faster at millions of rows: Lookup and scoring read only
    theirs). Read through Arrow; integer columns with missing values come as float64."""
    return term_table(name, version, columns).to_pandas()


# Rows per batch when a whole version is encoded batch by batch (`term_batches`): a few
# hundred MB of term rows at a time. Reading all 50M rows of 1M campaigns at once took
# most of the 11.5 GB that scoring them with a sample-trained model peaked at.
TERM_BATCH_ROWS = 2_000_000


def term_batches(name: str, version: int, columns: Sequence[str] | None = None,
                 max_rows: int | None = None) -> Iterator[pd.DataFrame]:
    """`terms` in batches of whole campaigns, about `max_rows` (`TERM_BATCH_ROWS`) rows
    each, one batch when the version is that small: every row of a campaign is in one
    batch, in import order.

    A larger version is split in one pass: DuckDB writes it to temporary Parquet files,
    one folder per batch by a hash of the campaign id (as the Spark export buckets it),
    and the batches are read back one at a time; the store is read only during that pass.
    """
    batches = max(1, math.ceil(get(name, version).rows / (max_rows or TERM_BATCH_ROWS)))
    if batches == 1:
        yield terms(name, version, columns)
        return
    from core import config

    wanted = list(columns or _term_columns())
    picked = ", ".join(dict.fromkeys([*wanted, *_IMPORT_ORDER]))
    with tempfile.TemporaryDirectory(prefix=".term-batches-", dir=config.home()) as folder:
        target = str(Path(folder) / "rows").replace("'", "''")
        with store.connect(read_only=True) as con:
            con.execute(f"COPY (SELECT {picked}, CAST(hash(campaign_id) % {batches} AS "
                        "INTEGER) AS batch FROM terms WHERE dataset = ? AND version = ?) "
                        f"TO '{target}' (FORMAT parquet, PARTITION_BY (batch))",
                        [name, version])
        for batch in range(batches):
            part = Path(folder) / "rows" / f"batch={batch}"
            if not part.exists():   # no campaign's id hashed to it
                continue
            os.utime(folder)   # in use: start-up clean-up leaves it (`orphans.clean`)
            # its files hold every column but `batch`
            yield _in_import_order_sorted(pq.read_table(part)).select(wanted).to_pandas()


def _term_columns() -> list[str]:
    """Every column of the terms table but its dataset and version, in order."""
    with store.connect(read_only=True) as con:
        return con.sql("SELECT * EXCLUDE (dataset, version) FROM terms LIMIT 0").columns


def term_table(name: str, version: int, columns: Sequence[str] | None = None) -> pa.Table:
    """`terms` as an Arrow table, for callers that convert only the rows they use.

    Rows are read as stored and sorted only when they are not in import order already
    (DuckDB keeps insertion order, and an import inserts a version in file-then-line
    order when its files came sorted): an ORDER BY sorts every time.
    """
    version = whole.whole("version", version)
    picked = "* EXCLUDE (dataset, version)" if columns is None else ", ".join(
        [*columns, *(c for c in _IMPORT_ORDER if c not in columns)])
    with store.connect(read_only=True) as con:
        table = con.sql(f"SELECT {picked} FROM terms WHERE dataset = ? AND version = ?",
                        params=[name, version]).to_arrow_table()
    table = _in_import_order_sorted(table)
    if columns is not None:
        table = table.select(list(columns))
    return table


_IMPORT_ORDER = ["source_file", "source_line"]


def _in_import_order_sorted(table: pa.Table) -> pa.Table:
    """The rows in import order, sorted only when they are not already."""
    if _in_import_order(table):
        return table
    return table.sort_by([(column, "ascending") for column in _IMPORT_ORDER])


def _in_import_order(table: pa.Table) -> bool:
    """Whether rows are sorted by (source_file, source_line)."""
    if table.num_rows < 2:
        return True
    files, lines = table.column("source_file"), table.column("source_line")
    head, tail = files.slice(0, table.num_rows - 1), files.slice(1)
    if pc.any(pc.less(tail, head)).as_py():
        return False
    same = pc.equal(tail, head)
    later = pc.greater(lines.slice(1), lines.slice(0, table.num_rows - 1))
    return not pc.any(pc.and_(same, pc.invert(later))).as_py()


def campaigns(name: str, version: int, ids: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per campaign with its totals and rates (the `campaigns` view).

    With `ids`: indexed by campaign id in that order (an unknown id gets an empty row),
    each text column in one Arrow chunk. Lookup takes a few rows per answer, and taking
    them from a column of 9 chunks copied all of it (~10 ms per column at 1M campaigns).
    """
    version = whole.whole("version", version)
    frame = store.query(
        "SELECT * EXCLUDE (dataset, version) FROM campaigns WHERE dataset = ? AND version = ? "
        "ORDER BY campaign_id", [name, version]
    )
    if ids is None:
        return frame
    frame = frame.set_index("campaign_id").reindex(ids)
    return pa.Table.from_pandas(frame, preserve_index=True).combine_chunks().to_pandas()


def top_terms(name: str, version: int, limit: int = 25) -> pd.DataFrame:
    """Most widespread terms: in how many campaigns, with their clicks and cost."""
    version, limit = whole.whole("version", version), whole.whole("limit", limit)
    return store.query(
        "SELECT term, count(DISTINCT campaign_id) AS campaigns, sum(impressions) AS impressions,"
        " sum(clicks) AS clicks, sum(cost) AS cost FROM terms WHERE dataset = ? AND version = ?"
        " GROUP BY term ORDER BY campaigns DESC, clicks DESC NULLS LAST LIMIT ?",
        [name, version, limit],
    )


def currency(name: str) -> str | None:
    """The currency of a dataset's cost: from its exports' "Currency code" column, else
    the dataset's setting (`set_currency`), else None (unknown)."""
    row = store.query_one("SELECT currency FROM dataset_currency WHERE name = ?",
                          [stored_name(name)])
    return row[0] if row else None


def set_currency(name: str, code: str) -> str:
    """Set the currency of a dataset's cost (ISO 4217, e.g. 'JPY'). Requires `import`."""
    auth.require("import")
    name = stored_name(name)
    code = checked_code(code or "")
    with store.transaction() as con:
        if not con.execute("SELECT 1 FROM datasets WHERE name = ?", [name]).fetchone():
            known = {row[0] for row in con.execute("SELECT DISTINCT name FROM datasets").fetchall()}
            raise unknown_dataset(name, known)
        con.execute("INSERT OR REPLACE INTO dataset_currency VALUES (?, ?, 'setting', ?)",
                    [name, code, audit.now()])
        audit.record(con, "set_currency", name, {"currency": code})
        store.mark_serving_change()   # a running service's suggest reasons quote it
    return code

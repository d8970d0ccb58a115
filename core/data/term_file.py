"""A dataset version's term rows on disk, grouped by campaign and memory-mapped.

Lookup gathers the rows of a campaign and its neighbours for every answer. Held in memory
they cost 1.2 GB per 100,000 campaigns (Arrow, only the columns actions read), so a
1,000,000-campaign store did not fit in 23 GB. DuckDB writes them once per dataset
version into an Arrow IPC file, sorted by campaign and then import order, with each row's
import position; the file is mapped, not read: the kernel keeps the pages a query touches
in its page cache (shared between processes, dropped under pressure) and a campaign's rows
are one contiguous slice. Each file is written under a temporary name and renamed into
place, so a crash never leaves half a file; a damaged one is written again.

A campaign's id, name and account repeat on every one of its rows: at 1,000,000
campaigns they were 4.7 GB of a 10 GB file. Sorted by campaign they come in runs, so they
are written run-end encoded (each run once, with where it ends; Arrow's own layout, still
mapped): nothing is lost when a campaign's name differs between rows, it is only a
shorter run. Readers decode the few rows they gather (`core.model.campaign_model`).
Files written before this hold plain columns and are read the same way.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from core import config
from core.data.schema import ROW_POSITION
from core.errors import StoreError

_BATCH_ROWS = 64_000        # rows per record batch: small takes stay within a few batches
RUN_COLUMNS = ("campaign_id", "campaign_name", "account")   # one value per campaign, mostly


@dataclass(frozen=True)
class TermFile:
    """The mapped rows and where each campaign's rows are."""

    table: pa.Table             # sorted by campaign id, then ROW_POSITION; memory-mapped
    campaign_ids: list[str]     # sorted as in the file
    bounds: np.ndarray          # campaign i's rows are bounds[i]:bounds[i + 1]
    accounts: pd.DataFrame      # distinct (account, campaign_id) pairs, no missing accounts


def root() -> Path:
    return config.home() / "term_rows"


def open_term_file(name: str, version: int, columns: Sequence[str]) -> TermFile:
    """The term rows (`columns` + ROW_POSITION) of one dataset version, written on first use."""
    from core.data import datasets  # here: `TermFile` alone must not load the store

    info = datasets.get(name, version)
    path, index_path = _paths(info, columns)
    if not (path.exists() and index_path.exists()):
        _write(info, list(columns), path, index_path)
    try:
        return _read(path, index_path)
    except (pa.ArrowException, OSError, KeyError, ValueError):   # damaged: written again
        _write(info, list(columns), path, index_path)
        return _read(path, index_path)


def remove(name: str, version: int, columns: Sequence[str]) -> None:
    """Delete one dataset version's term files (when no model uses the version any more:
    they are only a copy, written again on a later lookup)."""
    from core.data import datasets

    for path in _paths(datasets.get(name, version), columns):
        path.unlink(missing_ok=True)


def _paths(info, columns: Sequence[str]) -> tuple[Path, Path]:
    """(rows file, campaign index file) of a dataset version and column list."""
    key = hashlib.sha256(
        repr((info.name, info.version, info.content_hash, tuple(columns))).encode()
    ).hexdigest()[:24]
    return root() / f"{key}.arrow", root() / f"{key}.campaigns.arrow"


def _read(path: Path, index_path: Path) -> TermFile:
    table = _mapped(path)
    index = _mapped(index_path).to_pandas()
    rows = index.groupby("campaign_id", sort=False)["rows"].sum()   # in the file's order
    bounds = np.concatenate([[0], np.cumsum(rows.to_numpy())]).astype(np.int64)
    if bounds[-1] != table.num_rows:
        raise ValueError(f"{path} does not match its campaign index")
    return TermFile(table, rows.index.tolist(), bounds,
                    index.loc[index["account"].notna(), ["account", "campaign_id"]])


def _mapped(path: Path) -> pa.Table:
    with pa.memory_map(str(path)) as source:
        return pa.ipc.open_file(source).read_all()   # zero-copy: buffers point into the map


def _write(info, columns: list[str], path: Path, index: Path) -> None:
    """Both files from one read-only connection, each renamed into place when complete.
    A full disk or a folder that cannot hold them is a `StoreError` that says where."""
    import duckdb

    from core.data import store

    picked = ", ".join(columns)
    where = "FROM terms WHERE dataset = ? AND version = ?"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with store.connect(read_only=True) as con:   # the sort spills beyond its budget
            _write_ipc(con.sql(
                f"SELECT {picked}, row_number() OVER (ORDER BY source_file, source_line) - 1 "
                f"AS {ROW_POSITION} {where} ORDER BY campaign_id, {ROW_POSITION}",
                params=[info.name, info.version]), path, RUN_COLUMNS)
            _write_ipc(con.sql(
                f"SELECT campaign_id, account, count(*) AS rows {where} "
                "GROUP BY campaign_id, account ORDER BY campaign_id, account",
                params=[info.name, info.version]), index)
    except (OSError, duckdb.IOException) as err:
        raise StoreError(
            f"Lookup's copy of the term rows of {info.name} v{info.version} could not be "
            f"written to {path.parent} ({str(err).splitlines()[0]}). It needs about as much "
            "disk as the dataset's rows: free some space there, or point TOPICLAB_HOME at a "
            "larger disk.") from err


def _write_ipc(relation, path: Path, run_columns: Sequence[str] = ()) -> None:
    """A query's result streamed into an Arrow IPC file (never whole in memory), the
    `run_columns` it has run-end encoded."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with relation.to_arrow_reader(_BATCH_ROWS) as reader:
            schema = reader.schema
            runs = [schema.get_field_index(c) for c in run_columns if c in schema.names]
            for i in runs:
                schema = schema.set(i, pa.field(schema.field(i).name, pa.run_end_encoded(
                    pa.int32(), schema.field(i).type)))
            with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
                for batch in reader:
                    columns = batch.columns
                    for i in runs:
                        columns[i] = pc.run_end_encode(columns[i], run_end_type=pa.int32())
                    writer.write_batch(pa.RecordBatch.from_arrays(columns, schema=schema))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)

"""A dataset version as Parquet files for Spark: exported by DuckDB, cached by content hash.

Spark reads `$TOPICLAB_HOME/parquet/<content hash>/` directly (no JDBC, nothing goes
through pandas). DuckDB's `COPY (SELECT …) TO … (FORMAT parquet, PARTITION_BY bucket)`
writes it, where `bucket` is a hash of the campaign id: all rows of one campaign are in
one bucket, so a campaign's terms can be tokenised and folded in together. `fold` (0-999,
another hash of the campaign id) selects the held-out campaigns the same way in Spark and
in DuckDB. The files are written to a temporary folder and renamed into place, so a
crashed export never leaves a half-written cache; identical content is exported once.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

from core import config, datasets, store

# Columns Spark needs: campaign, text, the weighting columns, and the import order.
COLUMNS = ("campaign_id", "term", "impressions", "clicks", "source_file", "source_line")
FOLD_SQL = "CAST(hash(campaign_id || '#fold') % 1000 AS INTEGER)"
_CAMPAIGNS_PER_BUCKET = 15_000
_MAX_BUCKETS = 256


def parquet_root() -> Path:
    return config.home() / "parquet"


def buckets_for(campaigns: int) -> int:
    """Number of Parquet partitions: about 15,000 campaigns each, at least 4."""
    return max(4, min(_MAX_BUCKETS, math.ceil(campaigns / _CAMPAIGNS_PER_BUCKET)))


def export(name: str, version: int | None = None) -> Path:
    """The folder of Parquet files of one dataset version, exporting it on first use."""
    info = datasets.get(name, version)
    final = parquet_root() / info.content_hash
    if (final / "_SUCCESS").exists():
        return final
    buckets = buckets_for(info.campaigns)
    tmp = parquet_root() / f".tmp-{info.content_hash}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    columns = ", ".join(COLUMNS)
    try:
        with store.connect(read_only=True) as con:
            con.execute(
                f"COPY (SELECT {columns}, {FOLD_SQL} AS fold, "
                f"CAST(hash(campaign_id) % {buckets} AS INTEGER) AS bucket "
                "FROM terms WHERE dataset = ? AND version = ? AND term IS NOT NULL "
                f"ORDER BY bucket, source_file, source_line) TO '{_sql_path(tmp)}' "
                "(FORMAT parquet, PARTITION_BY (bucket))", [info.name, info.version])
        (tmp / "_SUCCESS").write_text(f"{info.label}\n", "utf-8")
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")

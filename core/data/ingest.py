"""Import files into the store as a new, immutable version of a named dataset.

Readers (`core.data.readers`) turn files into canonical term rows and refuse bad input;
this module gives the rows a version number and writes them, with the version's
metadata and an audit entry, in one transaction. Content identical to an existing
version of the same dataset is recognised by its hash and not stored twice.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from core.data import audit, auth, datasets, encodings, files, readers, store
from core.data.schema import TERM_COLUMNS
from core.errors import CLI, Controls, InputError, counted, plural
from core.memory import releases_memory

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\- ]{0,63}$")
# The hash ignores where rows came from, so the same content under another file name
# (or in another order) is recognised as the same.
_HASHED = [c for c in TERM_COLUMNS if c not in ("source_file", "source_line")]
_HASH_ROWS = 100_000  # rows hashed at a time (`_row_hashes`)


@dataclass
class ImportSummary:
    dataset: str
    version: int
    rows: int
    campaigns: int
    content_hash: str
    status: str  # "created" | "unchanged"
    files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def check_dataset_name(name: str) -> str:
    """The name as stored (`datasets.canonical_name`: NFKC, one space between words), or an
    InputError when that is no valid name."""
    name = datasets.canonical_name(name or "")
    if not _NAME.match(name):
        raise InputError(
            f"Dataset name {name!r} is not valid: use 1-64 letters, digits, spaces, '_', '-' "
            "or '.', starting with a letter or digit."
        )
    return name


def _may_import(dataset: str) -> str:
    """The checked dataset name, once the current user may import (before any reading): an
    existing dataset's own spelling when one differs from it only by runs of spaces."""
    dataset = datasets.stored_name(check_dataset_name(dataset))
    auth.require("import")
    _refuse_case_twin(store.query_one(_CASE_TWIN, [dataset]), dataset)
    return dataset


# Another dataset whose name differs only by case: `Demo` beside `demo` looks like one
# dataset in every picker and command, and holds versions the other's history lacks.
# Of the names that differ only by case, the first made takes new versions: the others
# (a new one, or a twin a store made before twins were refused) are refused naming it.
# Runs of spaces count as one (`datasets.canonical_name`): "My  Data" is a twin of "my data".
_CASE_TWIN = ("SELECT name, EXISTS (SELECT 1 FROM datasets WHERE name = $1) FROM ("
              "SELECT name, min(created_at) AS made FROM datasets "
              "WHERE lower(regexp_replace(name, ' +', ' ', 'g')) = "
              "lower(regexp_replace($1, ' +', ' ', 'g')) "
              "GROUP BY name ORDER BY made, name LIMIT 1) WHERE name <> $1")


def _refuse_case_twin(twin: tuple | None, dataset: str) -> None:
    """An InputError naming the first-made dataset whose name differs from `dataset` only
    by case, when there is one: a new name, or an older store's later twin, would split
    one dataset's history in two."""
    if twin is None:
        return
    if twin[1]:
        raise InputError(f"Datasets {twin[0]!r} and {dataset!r} differ only by case (a store "
                         f"made before such names were refused); new versions go to "
                         f"{twin[0]!r}, the first made: import into {twin[0]!r}, or choose a "
                         "name that differs in more than case.")
    raise InputError(f"Dataset {twin[0]!r} exists; a dataset named {dataset!r} would differ "
                     f"from it only by case: import into {twin[0]!r}, or choose a name "
                     "that differs in more than case.")


def content_hash(frame: pd.DataFrame) -> str:
    """Order-independent SHA-256 of the canonical columns."""
    return _digest([_row_hashes(frame)])


def _row_hashes(frame: pd.DataFrame) -> np.ndarray:
    """pandas' hash of each row's `_HASHED` cells, `_HASH_ROWS` rows at a time: a row's hash
    is its own cells' whatever rows are beside it, and pandas makes a Python string of
    every text cell it hashes (280 MB at once for the 2M terms of a 133 MB file, the peak
    of its import; bench/import_big.py)."""
    hashed = frame[_HASHED]
    parts = [pd.util.hash_pandas_object(hashed.iloc[start:start + _HASH_ROWS], index=False)
             .to_numpy() for start in range(0, len(hashed), _HASH_ROWS)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype="uint64")


def _digest(row_hashes: list[np.ndarray]) -> str:
    """The content hash from the row hashes of every file (in any order, split anyhow)."""
    return hashlib.sha256(np.sort(np.concatenate(row_hashes)).tobytes()).hexdigest()


def import_paths(paths: Sequence[str | Path], dataset: str, *,
                 names: Sequence[str] | None = None,
                 encoding: str | None = None) -> ImportSummary:
    """Read files/folders (all as one version) and store them. `encoding`: a codec name
    for every text file, or None / "auto" to detect it (`core.data.encodings`)."""
    dataset = _may_import(dataset)
    return import_each(readers.read_each(paths, names=names, encoding=encoding), dataset)


def import_uploads(uploads: Sequence[tuple[str, bytes]], dataset: str, *,
                   encoding: str | None = None, controls: Controls = CLI) -> ImportSummary:
    """Store in-memory uploads (the browser's file widget), all as one version; warnings
    name the caller's `controls`.

    The bytes go to a private temporary folder so the same readers handle them; messages
    and `source_file` keep the uploaded names. Sizes are checked here, before anything is
    written, whatever limit the widget applied.
    """
    dataset = _may_import(dataset)
    encoding = encodings.check_choice(encoding)
    if not uploads:
        raise InputError("No file was uploaded.")
    names = [readers.upload_name(name, i, len(uploads)) for i, (name, _) in enumerate(uploads)]
    for name, (_, data) in zip(names, uploads, strict=True):
        files.check_size(len(data), name)
    with tempfile.TemporaryDirectory(prefix="topiclab-upload-") as tmp:
        paths = []
        for i, (name, (_, data)) in enumerate(zip(names, uploads, strict=True)):
            path = Path(tmp) / f"upload-{i}{Path(name).suffix.lower()[:10]}"
            path.write_bytes(data)
            paths.append(path)
        return import_each(readers.read_each(paths, names=names, encoding=encoding), dataset,
                           controls=controls)


def import_result(result: readers.ReadResult, dataset: str) -> ImportSummary:
    """Write what a reader produced as the next version of `dataset`, or recognise it."""
    return import_each([result], dataset)


@releases_memory
def import_each(results: Iterable[readers.ReadResult], dataset: str, *,
                controls: Controls = CLI) -> ImportSummary:
    """Write the files' rows as the next version of `dataset`, or recognise it.

    Each file's rows go to a private Parquet file as soon as it is read, so an import of
    many files holds one file's rows in memory, not all of them (at 1M campaigns in ten
    files the whole frame at once peaked at 21.8 GB); then one transaction inserts them
    all with the version's metadata, or none of them.
    """
    dataset = _may_import(dataset)
    with tempfile.TemporaryDirectory(prefix="topiclab-import-") as tmp:
        staged, hashes, campaigns, read = [], [], set(), []
        for result in results:
            frame = result.frame[list(TERM_COLUMNS)]
            hashes.append(_row_hashes(frame))
            campaigns.update(frame["campaign_id"].unique().tolist())
            staged.append(Path(tmp) / f"part-{len(staged):05d}.parquet")
            frame.to_parquet(staged[-1], index=False)
            # Only what the file said is kept: even an empty slice of `frame` would keep its
            # Arrow string buffers, and so every file's rows, alive.
            read.append(replace(result, frame=pd.DataFrame(columns=list(TERM_COLUMNS))))
            del frame, result
        if not read:
            raise InputError("nothing to read: no files given")
        result = readers.combine(read)
        rows = sum(len(h) for h in hashes)
        return _store(result, dataset, staged, rows, len(campaigns), _digest(hashes),
                      controls)


# Campaign ids an import before whole float ids were read as integers (stop 35) stored
# as Arrow or pandas printed a float ("1.2345678901e+10", "7.0"), and the integer each
# is now read as: the text `readers.float_id_texts` gives it.
_RESPELLED_IDS = (
    "SELECT count(*), arg_min(old.id, new.id), min(new.id), arg_min(old.version, new.id) "
    "FROM (SELECT campaign_id AS id, max(version) AS version FROM terms WHERE dataset = ? "
    "      AND regexp_matches(campaign_id, '^-?\\d+(\\.\\d+)?e\\+\\d+$|^-?\\d+\\.0$') "
    "      GROUP BY campaign_id) old "
    "JOIN (SELECT DISTINCT campaign_id AS id FROM read_parquet(?)) new "
    "ON CAST(TRY_CAST(TRY_CAST(old.id AS DOUBLE) AS BIGINT) AS VARCHAR) = new.id")


def _respelled_ids(con, dataset: str, staged: list[Path]) -> list[str]:
    """A warning when campaign ids of the new version are spelled otherwise in an earlier
    version of `dataset` (a Parquet float id: "1.2345678901e+10" then, "12345678901" now):
    they are other campaigns to every review, neighbour verdict and model of the old
    version, so a re-import of the same file is a new version that matches none of them.
    Old versions are immutable and models on disk name their ids, so nothing is rewritten."""
    if not staged:
        return []
    count, old, new, version = con.execute(
        _RESPELLED_IDS, [dataset, [str(path) for path in staged]]).fetchone()
    if not count:
        return []
    return [f"{counted(count, 'campaign id')} of this version {plural(count, 'is', 'are')} "
            f"spelled as a float in an earlier version ({old!r} in v{version} is {new!r} "
            "now: imports before float ids were read as integers stored them so); reviews, "
            "neighbour feedback and models of that version name the old spelling, so they "
            "do not apply to these campaigns"]


def _older_version(con: duckdb.DuckDBPyConnection, dataset: str, version: int,
                   controls: Controls = CLI) -> list[str]:
    """A warning when the files hold exactly a version older than the newest: `train`,
    `drift` and the pages use the newest, so re-importing the whole account after a
    one-file version said only `unchanged`, version 1, and training went on the one file."""
    latest = con.execute("SELECT max(version) FROM datasets WHERE name = ?",
                         [dataset]).fetchone()[0]
    if latest is None or version >= latest:
        return []
    return [f"these files hold exactly {dataset} v{version}, stored already; it is not the "
            f"newest version (v{latest}), which train, drift and the pages use unless told "
            f"otherwise: {controls.older_version.format(version=version)}"]


def _store(result: readers.ReadResult, dataset: str, staged: list[Path], rows: int,
           campaigns: int, digest: str, controls: Controls = CLI) -> ImportSummary:
    """The version's row, its terms (from the staged Parquet files) and the audit entry, in
    one transaction; an existing version with the same content instead, if there is one."""
    with store.transaction() as con:
        _refuse_case_twin(con.execute(_CASE_TWIN, [dataset]).fetchone(), dataset)
        same = con.execute(
            "SELECT version FROM datasets WHERE name = ? AND content_hash = ? "
            "ORDER BY version LIMIT 1", [dataset, digest]
        ).fetchone()
        if same:
            return ImportSummary(dataset, same[0], rows, campaigns, digest, "unchanged",
                                 list(result.files),
                                 [*result.warnings,
                                  *_older_version(con, dataset, same[0], controls)])
        version = con.execute(
            "SELECT coalesce(max(version), 0) + 1 FROM datasets WHERE name = ?", [dataset]
        ).fetchone()[0]
        result = replace(result, warnings=[*result.warnings,
                                           *_respelled_ids(con, dataset, staged)])
        con.execute(
            "INSERT INTO datasets VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [dataset, version, digest, list(result.files),
             [result.format_by_file.get(f, "") for f in result.files], rows, campaigns,
             audit.now(), auth.current_user().name, list(result.warnings)],
        )
        for path in staged:
            con.execute(f"INSERT INTO terms SELECT ?, ?, {', '.join(TERM_COLUMNS)} "
                        "FROM read_parquet(?)", [dataset, version, str(path)])
        if result.currency:  # the exports say which currency the cost is in
            con.execute("INSERT OR REPLACE INTO dataset_currency VALUES (?, ?, 'export', ?)",
                        [dataset, result.currency, audit.now()])
            store.mark_serving_change()   # running services quote amounts in it
        summary = ImportSummary(dataset, version, rows, campaigns, digest, "created",
                                list(result.files), list(result.warnings))
        audit.record(con, "import", f"{dataset} v{version}",
                     {"files": summary.files, "rows": summary.rows,
                      "campaigns": summary.campaigns, "hash": digest})
    return summary

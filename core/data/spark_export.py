"""A dataset version as Parquet files for Spark: exported by DuckDB, cached per version.

Spark reads `<export dir>/<content hash>-<origin digest>/` (`export_key`) directly (no
JDBC, nothing goes through pandas). The export dir is `TOPICLAB_SPARK_EXPORT_DIR` when
set — any Hadoop URI the cluster can read (`hdfs://…`, `s3a://…`, `file:///shared/…`), so
that executors on other machines find the files — else `$TOPICLAB_HOME/parquet` (local
mode).

DuckDB's `COPY (SELECT …) TO … (FORMAT parquet, PARTITION_BY bucket)` writes it, where
`bucket` is a hash of the campaign id: all rows of one campaign are in one bucket, so a
campaign's terms can be tokenised and folded in together. `fold` (0-999, another hash of
the campaign id) selects the held-out campaigns the same way in Spark and in DuckDB. The
files are written to a temporary folder and renamed into place, so a crashed export never
leaves a half-written cache; identical content is exported once. For a URI, DuckDB writes
the local staging copy under `$TOPICLAB_HOME/parquet` and the driver uploads it with
Hadoop's FileSystem API (the same client Spark reads with), then renames it into place.

Encoded counts of a model (`counts_location`) are written next to the exports by Spark
itself, so scoring in Spark reads them instead of tokenising every campaign again.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import shutil
import stat
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from core import config
from core.data import datasets, files, store
from core.errors import InputError, TopicLabError

log = logging.getLogger(__name__)

# Columns Spark needs: campaign, text, the weighting columns, and the import order.
COLUMNS = ("campaign_id", "term", "impressions", "clicks", "source_file", "source_line")
FOLD_SQL = "CAST(hash(campaign_id || '#fold') % 1000 AS INTEGER)"
EXPORT_DIR_ENV = "TOPICLAB_SPARK_EXPORT_DIR"
_CAMPAIGNS_PER_BUCKET = 15_000
Announce = Callable[[bool], None]   # told whether an export is written (True) or reused
_MAX_BUCKETS = 256


def parquet_root() -> Path:
    """The local folder DuckDB writes exports to (the export dir itself in local mode)."""
    return config.home() / "parquet"


_chosen: str | None = None   # `--export-dir` of the command this process runs


def export_dir(explicit: str | None = None) -> str:
    """Where Spark reads exports and writes encoded counts: `explicit`, else the
    `--export-dir` of the running command (`chosen`), else `TOPICLAB_SPARK_EXPORT_DIR`
    (a local path or any Hadoop URI), else `$TOPICLAB_HOME/parquet` — the same order as
    the Spark master's (`--spark-master`, then `TOPICLAB_SPARK_MASTER`)."""
    given = _given(explicit)
    return str(parquet_root()) if given is None else _tidy(_absolute(given))


def _given(explicit: str | None = None) -> str | None:
    """The export dir as the user gave it (`export_dir`'s order), None for the default."""
    for configured in (explicit, _chosen, os.environ.get(EXPORT_DIR_ENV)):
        if configured and configured.strip():
            return configured.strip()
    return None


_AUTHORITY = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^/]*)(/.*)?")


def _tidy(location: str) -> str:
    """One spelling per folder: no trailing or doubled slashes, and a local `file://` URI
    as `file:///x` (`file://localhost/x` too). `file:///x/` and `file:///x` were two
    places (so were `/x/` and `/x//`), and stripping every trailing slash made the root
    `file:///` the refused `file:` and `/` an empty export dir: the current folder."""
    found = _AUTHORITY.fullmatch(location)
    if found is None:    # a local path, absolute by now, or a URI without `//`
        return (re.sub("/+", "/", location).rstrip("/") or "/") if location.startswith(
            "/") else location
    head, path = found.group(1), re.sub("/+", "/", found.group(2) or "").rstrip("/")
    if re.fullmatch(r"file://(localhost)?", head, re.I):
        return f"file://{path or '/'}"
    return head + path


def _absolute(location: str) -> str:
    """A relative local folder as an absolute path: the counts' place is recorded with the
    model, and `delete-model` run from another folder looked for `relexp/counts/<id>`
    there and left the real ones. `file:/x`, Hadoop's short form of a local path, is
    the path `/x` (DuckDB wrote into `./file:/x` under the working folder, then failed
    with an IO Error traceback). Anything else with a scheme (`file:relative` too, which
    Hadoop refuses) is left as it is. A local `~/x` is the home folder's
    (`files.given_path`, as every other path): a quoted `--export-dir "~/x"` or the
    variable set in a service file was a folder named `~` in the working folder. So is
    `file:~/x` (and `file://~/x`, whose "host" `~` no machine has): DuckDB wrote the
    export into `./file:~/x` under the working folder, which Spark then could not read."""
    if re.match(r"file:/(?!/)", location):
        return location[len("file:"):]
    home = re.match(r"file:(//)?(?=~)", location)   # file:~/x, file://~/x: ~/x, as typed
    if home:
        location = location[home.end():]
    elif not location or re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", location):
        return location
    path = str(files.given_path(location))
    return path if path.startswith("~") else os.path.abspath(path)   # `check_export_dir`


@contextmanager
def chosen(location: str | None) -> Iterator[None]:
    """Use `location` as the export dir while a command runs (the CLI's `--export-dir`;
    None leaves the environment's). One command per process, so a module value is
    enough, and it reaches every place that resolves the dir, whichever thread."""
    global _chosen
    if location is not None and not location.strip():
        raise InputError("--export-dir must name a folder or a Hadoop URI, not be empty")
    if location is not None:
        check_export_dir(location.strip(), "--export-dir")
    previous, _chosen = _chosen, location
    try:
        yield
    finally:
        _chosen = previous


_PATTERN = re.compile(r"[\[\]{}*?\\]")


def check_export_dir(location: str | None = None, what: str = "the Spark export dir"
                     ) -> None:
    """Refuse an export dir (`location`, else the one in force) Spark cannot read from,
    before Spark starts: a folder that is a file (`check_local_folder`), or a name with
    `[ ] { } * ? \\`, which Spark's `read.parquet` takes as a pattern: `x[1]` failed with
    "[PATH_NOT_FOUND] Path does not exist" after the export was written, and `st*r`
    listed the folder above, failing on a sibling named `a:b`. `file:relative` too, which
    Hadoop refuses (a relative path in an absolute URI) after DuckDB wrote the export
    into a folder named `file:relative` under the working folder, and `~nosuchuser/x`,
    which `~` cannot expand: the export went into a folder `./~nosuchuser/x`."""
    given = _given() if location is None else location.strip()
    location = export_dir() if location is None else _tidy(_absolute(given))
    named = _as_given(given, location)
    if location.startswith("~"):
        raise InputError(
            f"{what} {named}: {location.split('/')[0]} names no user of this machine, so "
            "it is not a home folder; name the folder in full")
    if re.match(r"file:(?!/)", location):
        raise InputError(
            f"{what} {named}: a file: URI names a folder from the root (file:///x, "
            "file:/x) or the home folder (file:~/x); for a folder under this one, leave "
            "out file:")
    host = _other_host(location)
    if host:
        path = location[len(f"file://{host}"):] or "/"
        raise InputError(
            f"{what} {named}: names the host {host}, but a file: URI is a folder of the "
            f"machine that reads it (Hadoop ignores the host: each Spark process would "
            f"use its own {path}, not {host}'s); name it file://{path} (a folder mounted "
            "there on every machine) or the URI of a shared file system (hdfs://…, "
            "s3a://…)")
    found = _PATTERN.search(location)
    if found:
        raise InputError(
            f"{what} {named}: holds '{found.group()}', which Spark reads as a file name "
            "pattern, not as part of a name; name a folder without [ ] { } * ? or \\ "
            f"(--export-dir or {EXPORT_DIR_ENV}; the default is $TOPICLAB_HOME/parquet)")
    check_local_folder(location, what, named)


def _other_host(location: str) -> str | None:
    """The host a `file://host/x` URI names (None for `file:///x`; `localhost` is tidied
    away): Hadoop's local file system ignores it, so `file://otherhost/x` was this
    machine's `/x`, written and recorded as if it were the other machine's."""
    found = re.match(r"file://([^/]+)", location, re.I)
    return found.group(1) if found else None


def _as_given(given: str | None, location: str) -> str:
    """The export dir as the user typed it, and the folder that is when it reads
    otherwise (`~/x`, `file:/x`, a relative path): messages named only the tidied form."""
    if given is None or given.rstrip("/") == location or given == location:
        return location
    return f"{given} (that is {location})"


def check_local_folder(location: str, what: str, named: str | None = None) -> None:
    """A local export dir (a path or `file:///x`) is a folder, or made when missing: a
    file there (`--export-dir /dev/null`, a CSV) failed in `mkdir` with a
    FileExistsError traceback. `named`: the place as the user gave it, for the message."""
    local = _local_path(location)
    if local is None:
        return
    location, named = str(local), named or location
    try:
        mode = os.stat(location).st_mode
    except FileNotFoundError:
        return
    except OSError as err:
        raise InputError(f"{what} {named}: cannot be used ({err.strerror})") from None
    if not stat.S_ISDIR(mode):
        raise InputError(f"{what} {named}: is {files.kind_of(mode)}, not a folder; name a "
                         "folder (it is made when missing) or a Hadoop URI")


def is_uri(location: str) -> bool:
    """True for `scheme://…` locations, which go through Hadoop's FileSystem API."""
    return "://" in location


def counts_location(model_id: str) -> str:
    """Where Spark keeps a model's encoded counts as Parquet (campaign_id, indices,
    values, oov_share, first_file, first_line)."""
    return f"{export_dir().rstrip('/')}/counts/{model_id}"   # the root `/` too


def counts_locations(model_id: str, recorded: str | Sequence[str] | None = None
                     ) -> list[str]:
    """Every place a model's encoded counts may be: where Spark wrote them (`recorded`:
    training's in the model, Spark scorings' in the registry), under the export dir now in
    force, and under the local default. Only locations ending in `counts/<model id>` are
    ever named."""
    known = [recorded] if isinstance(recorded, str) else list(recorded or ())
    places = [*known, counts_location(model_id), str(parquet_root() / "counts" / model_id)]
    suffix = f"counts/{model_id}"
    found: dict[object, str] = {}   # one entry per folder: `/x/…` is `file:///x/…`
    for place in (_tidy(p) for p in places if p):
        if place.endswith(suffix):
            found.setdefault(_local_path(place) or place, place)
    return list(found.values())


@dataclass(frozen=True)
class CountsLeft:
    """What `remove_counts` could not remove: `left`, places Spark wrote counts to (or
    whose removal failed) that keep them; `unchecked`, the export dir in force, a cluster
    URI this process could not look at (no Spark session): counts are there only if a
    Spark run wrote them without recording it. `delete-model` listed those as left, a
    guess (a tomotopy model's "counts" at hdfs://… that never existed)."""

    left: tuple[str, ...] = ()
    unchecked: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.left or self.unchecked)

    def report(self) -> dict[str, list[str]]:
        """The CLI's keys for what is not empty: `counts_left`, `counts_not_checked`."""
        return {key: list(places) for key, places in (
            ("counts_left", self.left), ("counts_not_checked", self.unchecked)) if places}

    def sentence(self) -> str:
        """One sentence for the app ('' when nothing was left)."""
        parts = []
        if self.left:
            parts.append(f"Its Spark counts at {', '.join(self.left)} were left (no Spark "
                         "session here to remove them).")
        if self.unchecked:
            parts.append(f"{', '.join(self.unchecked)} could not be checked for counts (no "
                         "Spark session here to look).")
        return " ".join(parts)


def remove_counts(model_id: str, recorded: str | Sequence[str] | None = None,
                  session=None) -> CountsLeft:
    """Delete a deleted model's encoded counts (call after the delete committed); what
    could not be removed, or not looked at, is returned (and logged).

    Local paths and `file://` URIs are removed with the file system, without Spark; other
    URIs through Hadoop's FileSystem API when a Spark `session` is running, else they are
    left (starting Spark only to delete would take longer than the delete itself): a place
    in `recorded` (Spark wrote there) as left, the export dir in force as not checked."""
    known = {_tidy(p) for p in ([recorded] if isinstance(recorded, str)
                                     else list(recorded or ())) if p}
    left, unchecked = [], []
    for location in counts_locations(model_id, recorded):
        local = _local_path(location)
        try:
            if local is not None:
                shutil.rmtree(local, ignore_errors=not local.exists())
            elif session is not None:
                HadoopFS(session).delete(location)
            else:
                (left if location in known else unchecked).append(location)
        except Exception as err:  # the model is gone already: say what stayed, go on
            log.warning("could not remove %s: %s", location, err)
            left.append(location)
    if left:
        log.warning("encoded counts of deleted model %s left at %s", model_id,
                    ", ".join(left))
    if unchecked:
        log.warning("%s not checked for encoded counts of deleted model %s (no Spark "
                    "session to look with)", ", ".join(unchecked), model_id)
    return CountsLeft(tuple(left), tuple(unchecked))


def read_arrow(session, location: str):
    """A Parquet folder Spark wrote, as one Arrow table on the driver.

    A local folder (a path or `file://`) is read by pyarrow in this process. Spark's
    `toArrow()` gathers every task's result in the driver JVM's heap first
    (`TOPICLAB_SPARK_DRIVER_MEMORY`, 2 GB by default), which 1M campaigns' encoded counts
    overflowed; other URIs (`hdfs://`, `s3a://`) still go that way, so a cluster's driver
    needs the heap for what it collects (docs/spark.md, Running on a cluster)."""
    local = _local_path(location)
    if local is None:
        return session.read.parquet(location).toArrow()
    import pyarrow.parquet as pq

    return pq.read_table(local)  # Spark's _SUCCESS and .crc files are skipped


def scratch_location(name: str) -> str:
    """A fresh folder under the export dir for a job's output the driver reads back."""
    return f"{export_dir().rstrip('/')}/scratch/{name}-{uuid.uuid4().hex[:12]}"


def remove_scratch(session, location: str) -> None:
    """Delete a job's scratch folder, and the `scratch/` folder above it once empty (it
    stayed under the export dir after every scoring). Another run's scratch folder in it
    keeps it: the delete of the parent is not recursive. Scratch folders of killed runs
    (`kill -9`, the OOM killer: a fold-in's N x K weights, a model's encoded counts) stayed
    for good; one older than `_STALE_TMP_S` goes now too."""
    parent = location.rsplit("/", 1)[0]
    local = _local_path(location)
    if local is not None:
        shutil.rmtree(local, ignore_errors=True)
        for old in _stale(local.parent.glob("*")):
            shutil.rmtree(old, ignore_errors=True)
        with suppress(OSError):          # not empty (another run's), or gone already
            local.parent.rmdir()
        return
    fs = HadoopFS(session)
    fs.delete(location)
    with suppress(Exception):            # the listing may be refused: the rest goes on
        fs.delete_older_than(parent, _STALE_TMP_S)
    with suppress(Exception):            # not empty: Hadoop refuses a plain delete
        fs.delete_if_empty(parent)


def move_into_place(session, source: str, target: str) -> bool:
    """Rename the finished folder `source` to `target` unless a complete `target` (with
    Spark's `_SUCCESS`) is there already, written by another run meanwhile: that one is
    kept, never replaced while its owner may be reading it (`source` is then left to the
    caller to delete). True when `source` was moved. A local rename fails on a target
    folder that is not empty, so two runs never both win."""
    local, local_target = _local_path(source), _local_path(target)
    if local is not None and local_target is not None:
        if (local_target / "_SUCCESS").exists():
            return False
        if local_target.exists():        # a run that crashed half-way: nobody reads it
            shutil.rmtree(local_target, ignore_errors=True)
        local_target.parent.mkdir(parents=True, exist_ok=True)
        try:
            local.rename(local_target)
        except OSError:                  # another run's folder got there first
            if (local_target / "_SUCCESS").exists():
                return False
            raise
        return True
    return _move_with_hadoop(HadoopFS(session), source, target)


def _move_with_hadoop(fs: HadoopFS, source: str, target: str) -> bool:
    """`move_into_place` on a Hadoop URI: the rename never lands inside a folder another
    run put at `target` after the check (`HadoopFS.rename`)."""
    if fs.exists(f"{target}/_SUCCESS"):
        return False
    fs.delete(target)
    fs.mkdirs(target.rsplit("/", 1)[0])
    if fs.rename(source, target):
        return True
    if fs.exists(f"{target}/_SUCCESS"):      # another run's complete folder: kept
        return False
    raise OSError(f"could not move {source} to {target}: a folder that is not complete "
                  "appeared there meanwhile")


def _local_path(location: str) -> Path | None:
    """The local path of a plain path or `file://` URI; None for other URIs.

    Read as Hadoop's `Path` reads it, since Spark writes there through it: everything
    after the authority, `%20` and `#` included as they are. Decoded (`%20` as a space),
    `file:///x/a%20b` was `/x/a b` here while Spark wrote `/x/a%20b`, and scoring ended in
    a FileNotFoundError traceback."""
    if not is_uri(location):
        return Path(location)
    if location.startswith("file://"):
        rest = location[len("file://"):]
        return Path(rest[rest.index("/"):] if "/" in rest else "/")
    return None


def buckets_for(campaigns: int) -> int:
    """Number of Parquet partitions: about 15,000 campaigns each, at least 4."""
    return max(4, min(_MAX_BUCKETS, math.ceil(campaigns / _CAMPAIGNS_PER_BUCKET)))


def export(name: str, version: int | None = None, session=None) -> str:
    """The location of one dataset version's Parquet files, exporting it on first use.

    `session` (a SparkSession) is needed only when the export dir is a URI. A caller that
    reads the export in Spark jobs afterwards uses `exported`, which keeps it in place."""
    with exported(name, version, session) as location:
        return location


@contextmanager
def exported(name: str, version: int | None = None, session=None,
             announce: Announce | None = None) -> Iterator[str]:
    """`export`, with the export kept while the block runs: in a local export dir an
    export of an older version of the dataset is removed when a newer one is written
    (`_remove_superseded`), never while a run holds it here. `announce(True)` is called
    before an export is written, `announce(False)` when a finished one is reused (runs
    said "Exporting …" for an export they only found in place)."""
    info = datasets.get(name, version)
    root = export_dir()
    check_export_dir(root)
    local = _local_path(root)
    if local is None:
        yield _export_to_uri(info, root, session, announce)
        return
    # A `file:///x` export dir is the folder /x of this machine too: DuckDB writes there
    # as for `/x` (it was staged under $TOPICLAB_HOME/parquet and uploaded, a second copy
    # whose older versions were never removed, and its readers held no lock of /x).
    with _held(local, export_key(info)):
        folder = _export_local(info, local, announce)
        yield str(folder) if not is_uri(root) else f"{root.rstrip('/')}/{folder.name}"


def _export_to_uri(info, root: str, session, announce: Announce | None = None) -> str:
    """`export` into a Hadoop URI: staged locally, uploaded, renamed into place."""
    if session is None:
        raise ValueError("exporting to a URI needs the Spark session")
    final = f"{root}/{export_key(info)}"
    fs = HadoopFS(session)
    done = fs.exists(f"{final}/_SUCCESS")
    _tell(announce, not done)
    if done:
        return final
    tmp = f"{root}/.tmp-{export_key(info)}-{uuid.uuid4().hex[:12]}"   # this run's own
    try:
        with _held(parquet_root(), export_key(info)):   # the staging copy, while uploaded
            fs.upload(_export_local(info, parquet_root()), tmp)
        if not fs.exists(f"{final}/_SUCCESS"):   # else another run uploaded it meanwhile
            fs.delete(final)
            if not fs.rename(tmp, final) and not fs.exists(f"{final}/_SUCCESS"):
                raise OSError(f"could not move the export to {final}: a folder that is "
                              "not complete appeared there meanwhile")
    finally:
        fs.delete(tmp)
    return final


def export_key(info) -> str:
    """The folder name of a version's export: its content hash, then a digest of the
    version and the files it came from. The content hash leaves out file names and line
    numbers (a re-import of the same rows is the same content), but the export holds them
    (`source_file`, `source_line`: the import order Spark's counts follow): another
    dataset's rows, equal but from other files or in another order, were reused, naming
    that dataset's files and giving its order."""
    origin = "\x00".join([info.name, str(info.version), *info.source_files])
    return f"{info.content_hash}-{hashlib.sha256(origin.encode()).hexdigest()[:12]}"


_STALE_TMP_S = 6 * 3600   # a `.tmp-…` folder this old is a killed run's, not a running one's


def _export_local(info, root: Path, announce: Announce | None = None) -> Path:
    """Export into a temporary folder of this run's own, then rename it into place. Two
    runs exporting one version at once shared `.tmp-<hash>`, the second deleting what
    the first was writing, and each removed `<hash>/` before its rename, while the
    other's Spark jobs read it: now a complete `<hash>/` is never replaced."""
    final = root / export_key(info)
    _remove_superseded(root, info)
    done = (final / "_SUCCESS").exists()
    _tell(announce, not done)
    if done:
        return final
    buckets = buckets_for(info.campaigns)
    _make_root(root)
    _remove_stale_tmp(root, export_key(info))
    _remove_old_key_exports(root)
    tmp = root / f".tmp-{export_key(info)}-{uuid.uuid4().hex[:12]}"
    try:
        _write_export(info, tmp, buckets)
        if not (final / "_SUCCESS").exists():    # else another run exported it meanwhile
            shutil.rmtree(final, ignore_errors=True)  # a half one of an older version
            try:
                tmp.rename(final)
            except OSError:                      # another run's got there first
                if not (final / "_SUCCESS").exists():
                    raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _tell(announce: Announce | None, writes: bool) -> None:
    if announce is not None:
        announce(writes)


def _write_export(info, tmp: Path, buckets: int) -> None:
    """DuckDB's Parquet export of one dataset version into `tmp`, `_SUCCESS` last."""
    columns = ", ".join(COLUMNS)
    with store.connect(read_only=True) as con:
        con.execute(
            f"COPY (SELECT {columns}, {FOLD_SQL} AS fold, "
            f"CAST(hash(campaign_id) % {buckets} AS INTEGER) AS bucket "
            "FROM terms WHERE dataset = ? AND version = ? AND term IS NOT NULL "
            f"ORDER BY bucket, source_file, source_line) TO '{_sql_path(tmp)}' "
            "(FORMAT parquet, PARTITION_BY (bucket))", [info.name, info.version])
    (tmp / "_SUCCESS").write_text(f"{info.label}\n", "utf-8")


def _remove_stale_tmp(root: Path, key: str) -> None:
    """Temporary folders of runs killed mid-export (each run names its own, so none is
    reused); one younger than `_STALE_TMP_S` may be a running export's and stays."""
    for old in _stale(root.glob(f".tmp-{key}-*")):
        shutil.rmtree(old, ignore_errors=True)


# An export folder named as before `export_key` held the origin digest: the content hash.
_OLD_KEY = re.compile(r"[0-9a-f]{64}")
# Topic Lab's own `_SUCCESS` marker holds the version's label (Spark's is empty).
_OUR_MARKER = re.compile(r".+ v[0-9]+\n")


def _remove_old_key_exports(root: Path) -> None:
    """Exports written before the key held the origin digest (`<content hash>/`): no run
    reads them again, and they stayed for good, one per dataset version. Only folders
    Topic Lab wrote go (a content-hash name and its own `_SUCCESS` marker, `demo v1`),
    once untouched for `_STALE_TMP_S` (a run of the older code might still read one)."""
    with suppress(OSError):
        candidates = [p for p in root.iterdir() if _OLD_KEY.fullmatch(p.name)]
        for old in _stale(iter(candidates)):
            with suppress(OSError, UnicodeDecodeError):
                marker = (old / "_SUCCESS").read_text("utf-8")
                if _OUR_MARKER.fullmatch(marker) and not (old / "_SUCCESS").is_symlink():
                    shutil.rmtree(old)
                    log.info("removed %s, an export of %s under its former key", old,
                             marker.strip())


# A current export's name: the content hash, then the origin digest (`export_key`).
_KEY = re.compile(r"[0-9a-f]{64}-[0-9a-f]{12}")


@contextmanager
def _held(root: Path, key: str, exclusive: bool = False) -> Iterator[bool]:
    """Hold the lock `<root>/.in-use-<key>` of one export while the block runs: shared by
    every run reading it (`exported`), exclusive and without waiting to remove it (True
    when got). Released when this process ends however it ends (`kill -9` too): no lock
    file is taken for stale. One that another run removed meanwhile is taken again."""
    import fcntl

    lock = root / f".in-use-{key}"
    _make_root(root)
    while True:
        handle = open(lock, "a+b")  # noqa: SIM115 - held for the block
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB if exclusive
                            else fcntl.LOCK_SH)
            except BlockingIOError:
                yield False
                return
            if _same_file(lock, handle):
                yield True
                if exclusive:     # the export is gone: so is its lock file
                    lock.unlink(missing_ok=True)
                return
        finally:
            handle.close()


def _same_file(path: Path, handle) -> bool:
    """Whether `path` is still the file `handle` has open (not removed or replaced)."""
    try:
        return os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino
    except OSError:
        return False


def _make_root(root: Path) -> None:
    """Make the local export dir, or say in one line why it cannot be made."""
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:  # `--export-dir /proc/x`: was a FileNotFoundError traceback
        raise InputError(f"the Spark export dir {root}: cannot be made ({err.strerror}); "
                         "name a folder this machine can write, or a Hadoop URI") from None


def _remove_superseded(root: Path, info) -> None:
    """Exports of older versions of `info`'s dataset (Topic Lab's `_SUCCESS` marker
    `name vN`, N below this version): a cache of one export per version ever run on Spark
    piled up, one full copy of the dataset each. One a run reads now (`exported`) stays;
    a later run on that version exports it again."""
    with suppress(OSError):
        for folder in root.iterdir():
            if _KEY.fullmatch(folder.name) and _older_version_of(folder, info):
                _remove_unless_held(root, folder)


def _older_version_of(folder: Path, info) -> bool:
    """Whether `folder` is Topic Lab's export of an older version of `info`'s dataset."""
    marker = folder / "_SUCCESS"
    try:
        if marker.is_symlink():
            return False
        label = marker.read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    if not _OUR_MARKER.fullmatch(label):
        return False
    name, version = label.strip().rsplit(" v", 1)
    return name == info.name and int(version) < info.version


def _remove_unless_held(root: Path, folder: Path) -> None:
    """Remove one export unless a run holds it: moved aside under the lock first, so no run
    that takes the lock after finds half of it."""
    with _held(root, folder.name, exclusive=True) as got:
        if not got:
            return
        aside = root / f".tmp-{folder.name}-gone-{uuid.uuid4().hex[:12]}"
        with suppress(OSError):
            folder.rename(aside)
            shutil.rmtree(aside, ignore_errors=True)
            log.info("removed %s, the export of an older dataset version", folder)


def _stale(paths: Iterator[Path]) -> list[Path]:
    """The folders among `paths` untouched for `_STALE_TMP_S`: a killed run's, not a
    running one's."""
    old = []
    for path in paths:
        with suppress(OSError):
            if time.time() - path.stat().st_mtime > _STALE_TMP_S:
                old.append(path)
    return old


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def _hadoop_reason(err: BaseException) -> str:
    """The line of a Hadoop error that says what is wrong, without the Java stack."""
    text = str(err)
    for pattern in ("No FileSystem for scheme", "Relative path in absolute URI"):
        at = text.find(pattern)
        if at >= 0:
            return text[at:].splitlines()[0].split(": ")[0].strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].startswith("An error occurred while calling"):
        # py4j's own first line names only the Java method; the next is Java's exception
        # (`hdfs://` said "An error occurred while calling o44.getFileSystem.", not
        # "Incomplete HDFS URI, no host")
        return re.sub(r"^:?\s*([\w$]+\.)+[\w$]+(Exception|Error):\s*", "", lines[1])[:200]
    return lines[0][:200] if lines else type(err).__name__


class HadoopFS:
    """The few file operations the export needs, on any Hadoop URI, through the Spark
    driver's JVM (`hdfs://`, `s3a://`, `file://`; whatever the cluster's Hadoop reads)."""

    def __init__(self, session) -> None:
        sc = session.sparkContext
        if sc._jsc is None:  # was AttributeError: 'NoneType' … 'hadoopConfiguration'
            raise TopicLabError("the Spark session stopped, so Hadoop's FileSystem API "
                                "cannot be reached through it")
        self._jvm, self._conf = sc._jvm, sc._jsc.hadoopConfiguration()
        self._gateway = sc._gateway

    def _path(self, location: str):
        try:
            path = self._jvm.org.apache.hadoop.fs.Path(location)
            return path, path.getFileSystem(self._conf)
        except Exception as err:  # `foo://x`, `file:relative`: was a Py4JJavaError traceback
            raise InputError(f"the Spark export dir: Hadoop cannot use {location} "
                             f"({_hadoop_reason(err)}); name a local folder or a URI such as "
                             "hdfs://namenode/topiclab, s3a://bucket/topiclab or "
                             "file:///mnt/shared/topiclab") from None

    def exists(self, location: str) -> bool:
        path, fs = self._path(location)
        return bool(fs.exists(path))

    def delete(self, location: str) -> None:
        path, fs = self._path(location)
        if fs.exists(path):
            fs.delete(path, True)

    def delete_if_empty(self, location: str) -> None:
        path, fs = self._path(location)
        if fs.exists(path) and not fs.listStatus(path):
            fs.delete(path, False)

    def delete_older_than(self, location: str, seconds: float) -> None:
        """Delete what is in the folder `location` and was last modified `seconds` ago."""
        path, fs = self._path(location)
        if not fs.exists(path):
            return
        cutoff = (time.time() - seconds) * 1000
        for status in fs.listStatus(path):
            if status.getModificationTime() < cutoff:
                fs.delete(status.getPath(), True)

    def mkdirs(self, location: str) -> None:
        path, fs = self._path(location)
        fs.mkdirs(path)

    def upload(self, local: Path, location: str) -> None:
        path, fs = self._path(location)
        # From a java.net.URI: Path(String) takes `%E3%83…` and `%20` of `as_uri()` as
        # they are, so a $TOPICLAB_HOME with a space or non-ASCII letter was "does not
        # exist" (a Py4JJavaError traceback).
        source = self._jvm.org.apache.hadoop.fs.Path(
            self._jvm.java.net.URI.create(local.resolve().as_uri()))
        fs.copyFromLocalFile(False, True, source, path)

    def rename(self, source: str, target: str) -> bool:
        """Rename `source` to `target` if nothing is there: False when something is (another
        run's folder got there first), and `source` stays. `FileSystem.rename` moves a
        folder *into* a target folder that exists, so two runs renaming to one target at
        once nested one's folder in the other's (`counts/<model>/counts-<model>-<run>/`,
        which Spark then failed to read). FileContext's rename with `Options.Rename.NONE`
        refuses instead, atomically on HDFS; a file system without a FileContext binding
        is renamed the old way and checked for a nested folder afterwards."""
        path, fs = self._path(source)
        dest = self._path(target)[0]
        try:
            context = self._jvm.org.apache.hadoop.fs.FileContext.getFileContext(
                dest.toUri(), self._conf)
        except Exception:  # no AbstractFileSystem for this scheme
            return self._rename_then_check(source, target)
        rename_options = self._jvm.org.apache.hadoop.fs.Options.Rename
        options = self._gateway.new_array(rename_options, 1)
        options[0] = rename_options.NONE
        try:
            context.rename(path, dest, options)
        except Exception as err:
            if "FileAlreadyExistsException" in str(err) or fs.exists(dest):
                return False
            raise OSError(f"could not rename {source} to {target} "
                          f"({_hadoop_reason(err)})") from None
        return True

    def _rename_then_check(self, source: str, target: str) -> bool:
        """`FileSystem.rename`, then undo a move into a target that existed meanwhile."""
        path, fs = self._path(source)
        if self.exists(target):
            return False
        if not fs.rename(path, self._path(target)[0]):
            if self.exists(target):
                return False
            raise OSError(f"could not rename {source} to {target}")
        nested = f"{target}/{source.rstrip('/').rsplit('/', 1)[-1]}"
        if self.exists(nested):          # moved into another run's folder: take it out
            fs.rename(self._path(nested)[0], path)
            return False
        return True

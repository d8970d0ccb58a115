"""Faults around the store: a damaged file, a bad home, bad numbers on the command line,
and folders a crashed save left behind. Each is one `error:` line or is cleaned up."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from core.data import orphans, store
from core.errors import StoreError
from core.serve import registry
from tests.conftest import cli


def assert_one_line_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    code, out, err = result.returncode, result.stdout, result.stderr
    assert code == 1, out
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture
def filled_store(home) -> Path:
    """A store with rows in it, so that a cut-short copy is missing real data."""
    store.execute("INSERT INTO meta SELECT 'k' || range, repeat('v', 1000) FROM range(5000)")
    return home / "topiclab.duckdb"


@pytest.mark.parametrize("damage", ["truncated", "not duckdb", "empty"])
def test_damaged_store_file_is_one_clear_error(filled_store, home, damage):
    data = filled_store.read_bytes()
    damaged = {"truncated": data[: len(data) // 2],
               "not duckdb": b"campaign_id,term\nC1,shoes\n" * 100, "empty": b""}[damage]
    filled_store.write_bytes(damaged)
    store._schema_ready.clear()
    with pytest.raises(StoreError, match="damaged or not a DuckDB database"):
        store.query("SELECT count(*) FROM meta")
    # The file is left exactly as it was, for the user to move aside or restore.
    assert filled_store.read_bytes() == damaged


def test_damaged_store_in_the_cli(filled_store, home):
    data = filled_store.read_bytes()
    filled_store.write_bytes(data[: len(data) * 9 // 10])  # cut short near the end
    assert_one_line_error(cli("models", home=home, lock_wait="2"), "damaged",
                          "python -m core init")


def test_home_that_is_a_file(tmp_path):
    not_a_folder = tmp_path / "home.txt"
    not_a_folder.write_text("x")
    assert_one_line_error(cli("datasets", home=not_a_folder, lock_wait="2"),
                          "is a file", "TOPICLAB_HOME")
    assert not_a_folder.read_text() == "x"


@pytest.mark.parametrize("blank", ["", "   "])
def test_a_blank_home_is_refused_not_read_as_the_current_folder(tmp_path, monkeypatch, blank):
    """TOPICLAB_HOME="" made a store in whatever folder the command ran in ("   ": a folder
    named with three spaces)."""
    monkeypatch.chdir(tmp_path)
    assert_one_line_error(cli("datasets", home=blank), f"TOPICLAB_HOME={blank!r} is blank")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("spaced", ["store ", " store", "store\r"])
def test_a_home_with_a_space_at_either_end_is_refused(tmp_path, monkeypatch, spaced):
    """"store " (a quoting slip, or a .env file's CRLF) made a folder named "store "."""
    monkeypatch.chdir(tmp_path)
    assert_one_line_error(cli("datasets", home=spaced),
                          f"TOPICLAB_HOME={spaced!r} starts or ends with a space",
                          "set it to 'store'")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", ["fifo", "folder", "wal fifo"])
def test_a_store_file_that_is_no_regular_file_is_refused(tmp_path, kind):
    """A FIFO named topiclab.duckdb (or .wal) made every command wait for a writer
    forever; a folder of that name was an IO Error from DuckDB."""
    name = "topiclab.duckdb.wal" if kind == "wal fifo" else "topiclab.duckdb"
    place = tmp_path / name
    place.mkdir() if kind == "folder" else os.mkfifo(place)
    shown = "a folder" if kind == "folder" else "a FIFO"
    assert_one_line_error(cli("datasets", home=tmp_path, lock_wait="2"),
                          f"The store file {place} is {shown}", "move it aside")
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_a_home_with_a_tilde_is_in_the_home_folder(tmp_path, monkeypatch):
    """"~/topiclab" made a folder named "~" in the current one, then DuckDB (which expands
    "~" itself) could not open the store in it."""
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.setenv("HOME", str(tmp_path / "me"))
    assert cli("datasets", home="~/topiclab").stdout.strip() == "[]"
    assert (tmp_path / "me" / "topiclab" / "topiclab.duckdb").is_file()
    assert list((tmp_path / "cwd").iterdir()) == []


def _cannot_create_in(folder: Path) -> bool:
    try:
        (folder / "topiclab-probe").touch()
    except OSError:
        return True
    (folder / "topiclab-probe").unlink()
    return False


def _unwritable_folder(tmp_path: Path) -> Path:
    """A folder this process cannot create files in. Root ignores permission bits, so
    then a kernel folder that refuses new files stands in."""
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    for candidate in (folder, Path("/sys/kernel")):
        if candidate.is_dir() and _cannot_create_in(candidate):
            return candidate
    pytest.skip("no folder here refuses new files to this user")


def test_home_that_cannot_be_written(tmp_path):
    locked = _unwritable_folder(tmp_path)
    assert_one_line_error(cli("datasets", home=locked, lock_wait="2"),
                          "permission denied", "TOPICLAB_HOME")


@pytest.mark.parametrize("args, argument, value", [
    (["audit", "--limit", "-1"], "--limit", "-1"),
    (["find", "shoes", "--limit", "-1"], "--limit", "-1"),
    (["find", "shoes", "--limit", "0"], "--limit", "0"),
    (["neighbors", "C1", "-n", "0"], "-n", "0"),
    (["neighbors", "C1", "-n", "-5"], "-n", "-5"),
    (["neighbors", "C1", "--min-terms", "-1"], "--min-terms", "-1"),
    (["suggest", "C1", "-n", "-1"], "-n", "-1"),
    (["topics", "--words", "0"], "--words", "0"),
    (["drift", "--dataset", "demo", "--version", "0"], "--version", "0"),
    (["train", "--dataset", "demo", "--seed", "-3"], "--seed", "-3"),
    (["pipeline", "--dataset", "demo", "--tolerance", "nan"], "--tolerance", "nan"),
    (["demo", "--out", "x.parquet", "--campaigns", "0"], "--campaigns", "0"),
    (["demo", "--out", "x.parquet", "--shift", "2"], "--shift", "2"),
    (["neighbors", "C1", "-n", "ten"], "-n", "ten"),
])
def test_numeric_arguments_out_of_range_are_refused(home, args, argument, value):
    result = cli(*args, home=home)
    assert result.returncode == 1, result.stdout
    err = result.stderr.strip()
    assert err.startswith(f"error: argument {argument}: must be") and value in err, err
    assert len(err.splitlines()) == 1
    assert not (home / "topiclab.duckdb").exists()  # refused before touching anything


def _make_old(folder: Path, hours: float = 2) -> None:
    stamp = time.time() - hours * 3600
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            os.utime(os.path.join(root, name), (stamp, stamp))
    os.utime(folder, (stamp, stamp))


def test_orphan_model_folders_are_cleaned_at_start_up(trained_home):
    models = trained_home / "models"
    production = registry.resolve("production")
    _make_old(models / production)

    def folder(name: str, manifest: bool, old: bool) -> Path:
        path = models / name
        (path / "engine").mkdir(parents=True)
        (path / "engine" / "weights.bin").write_bytes(b"0" * 100)
        if manifest:
            (path / "manifest.json").write_text("{}")
        if old:
            _make_old(path)
        return path

    crashed_save = folder(".tmp-tomotopy-k12-crashed", manifest=False, old=True)
    crashed_rename = folder("tomotopy-k12-unregistered", manifest=True, old=True)
    saving_now = folder(".tmp-tomotopy-k12-saving-now", manifest=False, old=False)
    renamed_now = folder("tomotopy-k12-row-being-inserted", manifest=True, old=False)
    not_ours = folder("notes", manifest=False, old=True)
    killed_encode = trained_home / ".term-batches-killed"   # `datasets.term_batches`
    encoding_now = trained_home / ".term-batches-running"
    for path in (killed_encode, encoding_now):
        (path / "rows" / "batch=0").mkdir(parents=True)
        (path / "rows" / "batch=0" / "data_0.parquet").write_bytes(b"0" * 100)
    _make_old(killed_encode)

    result = cli("models", home=trained_home, lock_wait="2")
    assert result.returncode == 0, result.stderr  # any command cleans when it starts
    assert not crashed_save.exists() and not crashed_rename.exists()
    assert not killed_encode.exists() and encoding_now.exists()
    assert saving_now.exists() and renamed_now.exists() and not_ours.exists()
    assert (models / production / "manifest.json").exists()
    assert registry.load(production).k > 0  # the registered model is whole
    assert orphans.clean() == []  # nothing left to clean


def test_clean_up_removes_nothing_when_the_store_cannot_be_read(home):
    models = home / "models"
    (models / "some-model").mkdir(parents=True)
    (models / "some-model" / "manifest.json").write_text("{}")
    _make_old(models / "some-model")
    (home / "topiclab.duckdb").write_bytes(b"not a database")
    store._schema_ready.clear()
    assert orphans.clean() == []
    assert (models / "some-model" / "manifest.json").exists()

"""The store: schema on first use, transactions, and the cross-process concurrency rule."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from core.data import store
from core.errors import StoreBusyError, StoreError
from tests.conftest import REPO


def test_schema_created_on_first_use(home):
    counts = store.table_counts()
    assert (home / "topiclab.duckdb").exists()
    for table in ("datasets", "terms", "models", "aliases", "fingerprints", "audit"):
        assert counts[table] == 0
    assert store.query_one("SELECT value FROM meta WHERE key = 'schema_version'")[0] == "1"


def test_transaction_rolls_back_everything(home):
    with pytest.raises(RuntimeError, match="boom"), store.transaction() as con:
        con.execute("INSERT INTO meta VALUES ('a', '1')")
        raise RuntimeError("boom")
    assert store.query_one("SELECT count(*) FROM meta WHERE key = 'a'")[0] == 0


def test_reading_block_opens_the_store_once_and_refuses_writes(home, monkeypatch):
    """Helpers that each open the store share the block's one connection (each open takes
    the file's lock); a write inside would need the file attached read-write, so it is
    refused in words."""
    store.execute("INSERT INTO meta VALUES ('a', '1')")
    opened = []
    open_store = store._open
    monkeypatch.setattr(store, "_open", lambda *a, **k: opened.append(1) or open_store(*a, **k))
    with store.reading():
        store.query_one("SELECT value FROM meta WHERE key = 'a'")  # left unfetched: no matter
        assert store.query("SELECT value FROM meta WHERE key = 'a'")["value"].tolist() == ["1"]
        with store.reading(), store.connect(read_only=True) as con:   # nested: the same
            assert con.execute("SELECT count(*) FROM meta WHERE key = 'a'").fetchone() == (1,)
        with pytest.raises(RuntimeError, match=r"write inside store\.reading"):
            store.execute("INSERT INTO meta VALUES ('b', '2')")
    assert len(opened) == 1
    store.execute("INSERT INTO meta VALUES ('b', '2')")                # after it: as before
    assert store.query_one("SELECT value FROM meta WHERE key = 'b'") == ("2",)
    assert len(opened) == 3


def test_a_connection_that_ended_leaves_the_file_to_other_processes(home):
    """Connections attach the store to one DuckDB instance per process and detach it when
    they end: the file must then be free for another process's writer, with the change
    checkpointed into it (no write-ahead log left), as when each connection closed an
    instance of its own; a write left uncommitted by an error is not in it."""
    store.execute("INSERT INTO meta VALUES ('kept', '1')")
    with pytest.raises(ValueError, match="halfway"), store.connect() as con:
        con.execute("BEGIN TRANSACTION")
        con.execute("INSERT INTO meta VALUES ('lost', '1')")
        raise ValueError("halfway")
    path = home / "topiclab.duckdb"
    assert not Path(f"{path}.wal").exists()
    other = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import duckdb
        con = duckdb.connect({str(path)!r})
        print(sorted(k for (k,) in con.execute(
            "SELECT key FROM meta WHERE key IN ('kept', 'lost')").fetchall()))
        con.execute("INSERT INTO meta VALUES ('other', '1')")
        con.close()
    """)], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert other.returncode == 0, other.stderr
    assert other.stdout.strip() == "['kept']"
    assert store.query_one("SELECT value FROM meta WHERE key = 'other'") == ("1",)


def test_an_attachment_no_connection_holds_is_let_go(home):
    """An interrupt that lands between the ATTACH and its bookkeeping leaves the file
    attached with no connection to end it: the next open lets it go instead of refusing
    ("already attached") while it keeps the file locked against other processes."""
    store.execute("INSERT INTO meta VALUES ('a', '1')")
    path = str(home / "topiclab.duckdb")
    store._instance.execute(f"ATTACH '{path}' AS {store.STORE_ALIAS}")   # as left behind
    assert store.query_one("SELECT value FROM meta WHERE key = 'a'") == ("1",)
    other = subprocess.run([sys.executable, "-c", "import duckdb, sys\n"
                            "duckdb.connect(sys.argv[1]).close()", path],
                           capture_output=True, text=True, cwd=REPO, timeout=120)
    assert other.returncode == 0, other.stderr


def test_an_open_inside_a_connection_shares_it_and_a_write_in_a_read_is_refused(home):
    """The store is attached once per process: an open nested in the same thread gets the
    same attachment (DuckDB refused a second configuration of one file, and refuses a
    second attachment), and a write nested in a read-only one is refused in words."""
    store.execute("INSERT INTO meta VALUES ('a', '1')")
    with store.connect() as outer:
        outer.execute("INSERT INTO meta VALUES ('b', '2')")
        with store.connect(read_only=True) as inner:
            assert inner.execute("SELECT count(*) FROM meta WHERE key IN ('a', 'b')"
                                 ).fetchone() == (2,)
    with store.connect(read_only=True), pytest.raises(RuntimeError, match="write inside"):
        store.execute("INSERT INTO meta VALUES ('c', '3')")
    assert store.query_one("SELECT count(*) FROM meta WHERE key IN ('a', 'b', 'c')") == (2,)
    # Sorts beyond the memory budget spill beside the store, as a connection of its own did.
    spill = store.query_one("SELECT current_setting('temp_directory')")[0]
    assert spill == f"{home / 'topiclab.duckdb'}.tmp"


def test_generation_is_new_after_each_audited_commit_and_only_then(home):
    """The app keys its listings on `store.generation()` (a file read, no connection): it
    must change with every committed audited change, also one made by another process,
    and never for a read, an unaudited write or a rolled-back change."""
    from core.data import audit, auth

    store.ensure_schema()
    seen = [store.generation()]
    store.query("SELECT * FROM models")
    store.execute("INSERT INTO meta VALUES ('quiet', 'x')")            # not audited
    assert store.generation() == seen[-1]
    with auth.use(auth.local_user()):
        with pytest.raises(RuntimeError, match="boom"), store.transaction() as con:
            audit.record(con, "probe", "rolled back")
            raise RuntimeError("boom")
        assert store.generation() == seen[-1]
        for target in ("one", "two"):
            with store.transaction() as con:
                audit.record(con, "probe", target)
            seen.append(store.generation())
    subprocess.run([sys.executable, "-c", textwrap.dedent("""
        from core.data import audit, auth, store
        with auth.use(auth.local_user()), store.transaction() as con:
            audit.record(con, "probe", "another process")
    """)], cwd=REPO, env={**os.environ, "TOPICLAB_HOME": str(home)}, check=True,
        timeout=120)
    seen.append(store.generation())
    assert len(set(seen)) == len(seen) == 4 and seen[0] == ""
    assert store.query_one("SELECT count(*) FROM audit")[0] == 3


def test_a_pipe_or_folder_in_place_of_the_generation_file_is_named_not_waited_on(home):
    """A pipe there would make every page run block on reading it; a folder would fail
    the replace after the commit. Both are one message naming the file."""
    from core.data import audit, auth

    store.ensure_schema()
    token = home / store.STORE_GENERATION_FILE
    os.mkfifo(token)
    with pytest.raises(StoreError, match=r"store\.generation is not a regular file \(a pipe"):
        store.generation()
    token.unlink()
    token.mkdir()
    with (auth.use(auth.local_user()),
          pytest.raises(StoreError, match="the change itself was saved"),
          store.transaction() as con):
        audit.record(con, "probe", "kept")
    assert store.query_one("SELECT target FROM audit")[0] == "kept"   # committed as said
    assert not list(home.glob("store.generation.*.tmp"))
    token.rmdir()
    assert store.generation() == ""


def hold_store(home, seconds: float) -> subprocess.Popen:
    """Another process that opens the store read-write and keeps it for `seconds`."""
    store.ensure_schema()
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import duckdb, time
            con = duckdb.connect({str(home / 'topiclab.duckdb')!r})
            print('locked', flush=True)
            time.sleep({seconds})
            con.close()
        """)], stdout=subprocess.PIPE, text=True, cwd=REPO,
    )
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_other_process_holding_the_file_gives_clear_busy_error(home, monkeypatch):
    holder = hold_store(home, 30)
    try:
        monkeypatch.setenv("TOPICLAB_LOCK_WAIT_S", "0.5")
        with pytest.raises(StoreBusyError, match="in use by another process"):
            store.query("SELECT 1")
    finally:
        holder.kill()
        holder.wait()
    # Once the other process is gone, the store is usable again and unchanged.
    assert store.table_counts()["datasets"] == 0


def test_writer_waits_for_other_process_then_succeeds(home):
    holder = hold_store(home, 1.0)
    store.execute("INSERT INTO meta VALUES ('after', 'wait')")  # retries until released
    holder.wait()
    assert store.query_one("SELECT value FROM meta WHERE key = 'after'")[0] == "wait"


def hold_read_only(home) -> subprocess.Popen:
    """Another process that only reads: a read-only connection kept open until killed."""
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import duckdb, time
            con = duckdb.connect({str(home / 'topiclab.duckdb')!r}, read_only=True)
            con.execute("SELECT count(*) FROM models").fetchall()
            print('reading', flush=True)
            time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True, cwd=REPO,
    )
    assert holder.stdout.readline().strip() == "reading"
    return holder


def test_readers_never_need_the_write_lock(home, monkeypatch):
    store.execute("INSERT INTO meta VALUES ('probe', 'x')")
    holder = hold_read_only(home)
    try:
        monkeypatch.setenv("TOPICLAB_LOCK_WAIT_S", "1")
        # A process's first use checks the schema: read-only now, so another reader is
        # no obstacle (it used to open the file read-write and report "busy").
        store._schema_ready.clear()
        assert store.query_one("SELECT value FROM meta WHERE key = 'probe'")[0] == "x"
        env = {**os.environ, "TOPICLAB_HOME": str(home), "TOPICLAB_LOCK_WAIT_S": "1"}
        for args in (["models"], ["sql", "SELECT count(*) AS n FROM meta"]):
            result = subprocess.run([sys.executable, "-m", "core", *args], cwd=REPO, env=env,
                                    capture_output=True, text=True, timeout=120)
            assert result.returncode == 0, (args, result.stderr)
            json.loads(result.stdout)
        # A writer still waits for the reader, and says so when it gives up.
        with pytest.raises(StoreBusyError):
            store.execute("INSERT INTO meta VALUES ('during', 'read')")
    finally:
        holder.kill()
        holder.wait()


def test_outdated_schema_is_upgraded_by_the_next_writer(home):
    store.execute("UPDATE meta SET value = 'old' WHERE key = 'schema_fingerprint'")
    store.execute("DROP VIEW campaigns")
    store._schema_ready.clear()
    store.ensure_schema()
    assert store.query_one("SELECT value FROM meta WHERE key = 'schema_fingerprint'")[0] == (
        store.SCHEMA_FINGERPRINT)
    assert store.query_one("SELECT count(*) FROM campaigns")[0] == 0

"""The term rows Lookup reads from disk (`core.data.term_file`): the same rows, order,
index and dtypes as the rows held in memory, written once per dataset version."""

from __future__ import annotations

import duckdb
import pandas as pd
import pyarrow as pa
import pytest

from core.data import datasets, ingest, term_file
from core.data.schema import ROW_POSITION
from core.errors import StoreError
from core.model import actions
from core.model.campaign_model import TermRows
from tests.conftest import write_terms_csv


def _interleaved_files(folder) -> list:
    """Two files whose campaigns interleave (a keyword export and a search-term export),
    with accounts, and clicks missing in one row (integers with a gap come as float64)."""
    keywords = [{"campaign_id": f"C{c}", "campaign_name": f"Camp {c}",
                 "account": f"A{c % 2}", "keyword": f"word{c} kw{i}",
                 "impressions": 10 * i + c, "clicks": i, "cost": 1.5 * i}
                for i in range(3) for c in (3, 1, 2)]
    searches = [{"campaign_id": f"C{c}", "campaign_name": f"Camp {c}" + (" (renamed)" if c == 1
                                                                      else ""),
                 "account": f"A{c % 2}", "search_term": f"query{c} st{i}",
                 "impressions": 5 + i, "clicks": None if (c, i) == (2, 1) else 1,
                 "cost": 0.5}
                for c in (2, 1, 3) for i in range(2)]
    return [write_terms_csv(folder / "keywords.csv", keywords),
            write_terms_csv(folder / "search_terms.csv", searches)]


def test_rows_from_the_file_match_the_rows_in_memory(home, tmp_path, monkeypatch):
    """Batches of 4 rows, so campaigns straddle batches; C1 was renamed between the
    exports, and its run-end encoded name keeps both."""
    monkeypatch.setattr(term_file, "_BATCH_ROWS", 4)
    ingest.import_paths(_interleaved_files(tmp_path), "mixed")
    info = datasets.get("mixed")
    stored = term_file.open_term_file("mixed", info.version, actions.ROW_COLUMNS)
    assert stored.table.num_rows == 15 and len(stored.table.to_batches()) == 4
    encoded = {f.name for f in stored.table.schema if pa.types.is_run_end_encoded(f.type)}
    assert encoded == set(term_file.RUN_COLUMNS)
    on_disk = TermRows(stored)
    in_memory = TermRows(datasets.term_table("mixed", info.version, actions.ROW_COLUMNS))
    for ids in (["C1"], ["C3", "C1"], ["C2", "nope"], [], ["C1", "C2", "C3"]):
        got, want = on_disk.of(ids), in_memory.of(ids)
        pd.testing.assert_frame_equal(got, want)
    both = on_disk.of(["C1", "C2"])
    # import order across campaigns: the keyword rows of both come before their searches
    assert both["term_type"].tolist() == sorted(both["term_type"], key=["keyword",
                                                "search_term"].index)
    assert both.index.is_monotonic_increasing and len(both) == 10
    assert on_disk.of(["C2"])["clicks"].dtype == "float64"
    for account in ("A0", "A1", "nobody", None):
        got, want = on_disk.of_account(account), in_memory.of_account(account)
        if want is None:
            assert got is None
        else:
            pd.testing.assert_frame_equal(got, want)
    assert set(on_disk.of_account("A1")["campaign_id"]) == {"C1", "C3"}
    assert set(on_disk.of(["C1"])["campaign_name"]) == {"Camp 1", "Camp 1 (renamed)"}


def test_the_file_is_written_once_per_version_and_whole(home, tmp_path, small_csv):
    ingest.import_paths([small_csv], "small")
    first = term_file.open_term_file("small", 1, actions.ROW_COLUMNS)
    files = sorted(term_file.root().iterdir())
    assert [f.suffix for f in files] == [".arrow", ".arrow"]    # the rows and their index
    stamps = [f.stat().st_mtime_ns for f in files]
    again = term_file.open_term_file("small", 1, actions.ROW_COLUMNS)
    assert [f.stat().st_mtime_ns for f in files] == stamps      # read, not written again
    assert again.campaign_ids == first.campaign_ids == ["C1", "C2", "C3"]
    assert again.bounds.tolist() == [0, 3, 5, 8]

    # another version gets its own file; a half-written pair is written again
    ingest.import_paths(_interleaved_files(tmp_path), "small")
    term_file.open_term_file("small", 2, actions.ROW_COLUMNS)
    assert len(list(term_file.root().iterdir())) == 4
    index = next(f for f in files if f.name.endswith(".campaigns.arrow"))
    index.unlink()
    assert term_file.open_term_file("small", 1, actions.ROW_COLUMNS).bounds[-1] == 8
    assert index.exists()

    # a damaged file is written again, not trusted
    rows_file = next(f for f in files if not f.name.endswith(".campaigns.arrow"))
    rows_file.write_bytes(b"not an arrow file")
    assert term_file.open_term_file("small", 1, actions.ROW_COLUMNS).table.num_rows == 8
    assert rows_file.stat().st_size > 100

    # a failing query leaves no partial file behind
    before = sorted(p.name for p in term_file.root().iterdir())
    with pytest.raises(duckdb.BinderException, match="no_such_column"):
        term_file.open_term_file("small", 1, ["campaign_id", "no_such_column"])
    assert sorted(p.name for p in term_file.root().iterdir()) == before


def test_lookup_reads_term_rows_in_import_order(home, tmp_path):
    """Import order is by file, then line, whether or not the files were inserted in that
    order; Lookup's rows come in it, with the columns the actions read."""
    from tests.conftest import demo_subset

    rows = [{"campaign_id": f"C{i % 3}", "keyword": f"word{i} plumber", "clicks": i}
            for i in range(6)]
    b, a = tmp_path / "b.csv", tmp_path / "a.csv"
    pd.DataFrame(rows[:3]).to_csv(b, index=False)
    pd.DataFrame(rows[3:]).to_csv(a, index=False)
    ingest.import_paths([b, a], "two")  # stored b's rows first
    ingest.import_paths([demo_subset(tmp_path / "d.parquet", campaigns=30)], "demo")
    for name in ("two", "demo"):
        expected = datasets.terms(name, 1)
        stored = term_file.open_term_file(name, 1, actions.ROW_COLUMNS)
        assert stored.table.column_names == [*actions.ROW_COLUMNS, ROW_POSITION]
        got = TermRows(stored).of(stored.campaign_ids)
        assert got.index.tolist() == list(range(len(expected)))
        assert got["term"].tolist() == expected["term"].tolist()
        assert got["campaign_id"].tolist() == expected["campaign_id"].tolist()
    assert TermRows(term_file.open_term_file("two", 1, actions.ROW_COLUMNS)).of(
        ["C0", "C1", "C2"])["term"].iloc[0] == "word3 plumber"


def test_a_folder_that_cannot_hold_the_file_is_a_clear_error(home, small_csv):
    """`term_rows` taken by a plain file (as a full disk, it cannot be written): Lookup's
    load says which dataset and folder, and the store keeps its rows."""
    ingest.import_paths([small_csv], "small")
    term_file.root().write_text("not a folder")
    with pytest.raises(StoreError, match=r"term rows of small v1 could not be written to "
                                         r".*term_rows.*TOPICLAB_HOME"):
        term_file.open_term_file("small", 1, actions.ROW_COLUMNS)
    assert len(datasets.terms("small", 1)) == 8
    term_file.root().unlink()
    assert term_file.open_term_file("small", 1, actions.ROW_COLUMNS).table.num_rows == 8

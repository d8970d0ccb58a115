"""Imports become immutable dataset versions; bad input leaves the store exactly as it was."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from core.data import audit, auth, datasets, ingest, readers, store
from core.errors import InputError, NotFoundError, PermissionDenied
from tests.conftest import FIXTURES


def test_import_creates_numbered_versions_and_recognises_identical_content(home, small_csv,
                                                                            tmp_path):
    first = ingest.import_paths([small_csv], "shop")
    assert (first.version, first.rows, first.campaigns, first.status) == (1, 8, 3, "created")

    again = ingest.import_paths([small_csv], "shop")
    assert (again.version, again.status) == (1, "unchanged")

    # Same rows in another order and under another file name: still the same content.
    shuffled = pd.read_csv(small_csv).sample(frac=1, random_state=3)
    other = tmp_path / "renamed.csv"
    shuffled.to_csv(other, index=False)
    assert ingest.import_paths([other], "shop").status == "unchanged"

    changed = pd.read_csv(small_csv)
    changed.loc[0, "clicks"] = 11
    changed.to_csv(other, index=False)
    second = ingest.import_paths([other], "shop")
    assert (second.version, second.status) == (2, "created")

    versions = datasets.list_versions("shop")
    assert list(versions["version"]) == [2, 1]
    assert datasets.get("shop").version == 2
    assert datasets.terms("shop", 1)["clicks"].iloc[0] == 10  # version 1 untouched
    # v1's files again: stored already, but not the newest, which training would use
    older = ingest.import_paths([small_csv], "shop")
    assert (older.version, older.status) == (1, "unchanged")
    assert older.warnings == ["these files hold exactly shop v1, stored already; it is not "
                              "the newest version (v2), which train, drift and the pages use "
                              "unless told otherwise: give `--version 1` to train on it or "
                              "check its drift"]
    assert ingest.import_paths([other], "shop").warnings == []   # the newest: nothing to say
    # the Explore page names its picker, where the import made v1 active (it said "give
    # `--version 1`", a flag the page has no box for)
    import ui
    uploaded = ingest.import_uploads([("a.csv", small_csv.read_bytes())], "shop",
                                     controls=ui.PAGE_CONTROLS)
    assert uploaded.warnings == [older.warnings[0].replace(
        "give `--version 1` to train on it or check its drift",
        "it is the active version now, so the pages use it until you pick another in the "
        "Dataset version picker (`python -m core train` and `drift` take `--version 1`)")]


def test_files_are_stored_one_at_a_time_and_hashed_as_one_content(home, small_csv, tmp_path):
    """Each file is staged as soon as it is read; how rows are split into files does not
    change the content hash, the rows or the campaigns, and a bad later file stores nothing."""
    from core.data import readers

    rows = pd.read_csv(small_csv)
    parts = [tmp_path / "a.csv", tmp_path / "b.csv"]
    rows.iloc[:5].to_csv(parts[0], index=False)
    rows.iloc[5:].to_csv(parts[1], index=False)
    whole = readers.read_paths(parts)
    split = ingest.import_paths(parts, "shop")
    assert split.content_hash == ingest.content_hash(whole.frame)  # the whole frame's hash
    assert (split.rows, split.campaigns, split.files) == (8, 3, ["a.csv", "b.csv"])
    stored = datasets.terms("shop", 1).sort_values(["source_file", "source_line"])
    assert stored["term"].tolist() == whole.frame["term"].tolist()
    assert stored["clicks"].tolist() == whole.frame["clicks"].tolist()
    assert ingest.import_paths([small_csv], "shop").status == "unchanged"  # one file, same rows

    with pytest.raises(InputError, match="no such file"):  # every path, before any reading
        readers.read_each([small_csv, tmp_path / "missing.csv"])
    bad = tmp_path / "c.csv"
    bad.write_text("campaign_id,keyword,clicks\nC9,boots,many\n")
    with pytest.raises(InputError, match="clicks"):
        ingest.import_paths([parts[0], bad], "shop")
    assert list(datasets.list_versions("shop")["version"]) == [1]


def test_campaign_table_totals_and_rates(home, small_csv):
    ingest.import_paths([small_csv], "shop")
    table = datasets.campaigns("shop", 1).set_index("campaign_id")
    assert table.loc["C1", "terms"] == 3
    assert table.loc["C1", "clicks"] == 27
    assert table.loc["C1", "ctr"] == pytest.approx(27 / 350)
    assert table.loc["C2", "cpc"] == pytest.approx(24.5 / 49)
    assert table.loc["C3", "conversion_rate"] == pytest.approx(2 / 9)


def test_import_is_audited(home, small_csv):
    ingest.import_paths([small_csv], "shop")
    log = audit.entries()
    assert list(log["action"]) == ["import"]
    assert log["target"].iloc[0] == "shop v1"


def test_sony_export_version_matches_the_file(home):
    summary = ingest.import_paths([FIXTURES / "sony" / "PO_brand.csv"], "sony")
    assert (summary.rows, summary.campaigns) == (48, 1)
    table = datasets.campaigns("sony", 1)
    assert table["campaign_id"].tolist() == ["PO_brand"]
    assert int(table["clicks"].iloc[0]) == 1871
    assert int(table["impressions"].iloc[0]) == 9808


@pytest.mark.parametrize("content, needle", [
    (b"", "empty"),
    (b"campaign_id,keyword\n", "no data rows"),
    (b"name,price\nfoo,1\n", "term"),
    (b"\x00\x01\x02\xff\xfe\x00binary\x00junk" * 20, "not a text file"),
    (b"campaign_id,keyword,clicks\nC1,shoes,abc\n", "clicks"),
])
def test_bad_input_names_the_problem_and_leaves_the_store_unchanged(home, small_csv, tmp_path,
                                                                    content, needle):
    ingest.import_paths([small_csv], "shop")
    before = store.table_counts()
    bad = tmp_path / "bad.csv"
    bad.write_bytes(content)
    with pytest.raises(InputError) as err:
        ingest.import_paths([small_csv, bad], "shop")
    assert "bad.csv" in str(err.value)
    assert needle in str(err.value).lower()
    assert store.table_counts() == before


def test_missing_path_and_bad_dataset_name(home, tmp_path):
    with pytest.raises(InputError, match="no such file"):
        ingest.import_paths([tmp_path / "nope.csv"], "shop")
    with pytest.raises(InputError, match="not valid"):
        ingest.import_paths([tmp_path / "nope.csv"], "'; DROP TABLE terms; --")
    assert store.table_counts()["datasets"] == 0


def test_a_dataset_name_differing_only_by_case_is_refused(home, small_csv):
    """`--dataset Demo` beside `demo` made a second dataset that every picker shows as
    the same one. It is refused naming the existing one, also when that one appears while
    the files are read (the check is in the transaction that writes)."""
    from core.data import readers

    ingest.import_paths([small_csv], "shop")
    before = store.table_counts()
    with pytest.raises(InputError, match="Dataset 'shop' exists; a dataset named 'Shop' would "
                                         "differ from it only by case"):
        ingest.import_paths([small_csv], "Shop")
    assert store.table_counts() == before
    assert ingest.import_paths([small_csv], "shop").status == "unchanged"

    def read_meanwhile():
        ingest.import_paths([small_csv], "Other")  # after import_each's first check
        yield from readers.read_each([small_csv])

    with pytest.raises(InputError, match="Dataset 'Other' exists; a dataset named 'other'"):
        ingest.import_each(read_meanwhile(), "other")
    assert sorted(datasets.list_versions()["name"]) == ["Other", "shop"]


def test_case_twins_an_older_store_holds_take_versions_only_under_the_first_name(
        home, small_csv, tmp_path):
    """Twins made before they were refused ('shop', then 'Shop') both took new versions,
    so each spelling grew a history of its own. The first made still takes them; the
    other is refused naming it, and nothing is stored."""
    ingest.import_paths([small_csv], "shop")
    ingest.import_paths([small_csv], "later")
    with store.transaction() as con:  # as a store made before the refusal holds them
        con.execute("UPDATE datasets SET name = 'Shop' WHERE name = 'later'")
        con.execute("UPDATE terms SET dataset = 'Shop' WHERE dataset = 'later'")
    other = tmp_path / "other.csv"
    other.write_text("campaign_id,term\nC9,new words\n", encoding="utf-8")
    before = store.table_counts()
    with pytest.raises(InputError, match=r"Datasets 'shop' and 'Shop' differ only by case .*"
                                         r"new versions go to 'shop', the first made"):
        ingest.import_paths([other], "Shop")
    assert store.table_counts() == before
    assert ingest.import_paths([other], "shop").version == 2
    with pytest.raises(InputError, match="Dataset 'shop' exists; a dataset named 'SHOP'"):
        ingest.import_paths([other], "SHOP")


def test_an_unknown_name_in_another_case_names_the_known_one(home, small_csv):
    """`datasets Demo` listed every dataset ("Known datasets: …, demo, …") and left the user
    to spot that the name differs only by case; model ids and aliases said nothing."""
    from core.serve import registry

    ingest.import_paths([small_csv], "shop")
    ingest.import_paths([small_csv], "shopping")
    hint = re.escape("No dataset named 'Shop'. Did you mean 'shop'? Names are case-sensitive. "
                     "Known")
    with pytest.raises(NotFoundError, match=hint):
        datasets.get("Shop")
    with pytest.raises(NotFoundError, match=hint):
        datasets.set_currency("Shop", "EUR")
    assert datasets.get("shop ").name == "shop"  # an import strips the name
    with pytest.raises(NotFoundError, match=r"'shopx'\. Known datasets: shop, shopping\.$"):
        datasets.get("shopx")
    with pytest.raises(NotFoundError, match=re.escape("No model with id 'Production'. Did you "
                                                      "mean 'production'?")):
        registry.resolve("Production")


def test_dataset_names_are_normalised_and_old_spellings_still_found(home, small_csv, tmp_path):
    """"my  data" (two spaces) and full-width "ｍｙ ｄａｔａ" were accepted, or refused, as
    names apart from "my data", which every picker shows alike: names are stored NFKC with
    one space between words, and a name given either way finds the dataset."""
    from tests.conftest import cli, ok_json

    first = ingest.import_paths([small_csv], "  my   data ")
    assert first.dataset == "my data" and first.status == "created"
    again = ingest.import_paths([small_csv], "ｍｙ\u3000data")   # full-width, ideographic space
    assert (again.dataset, again.version, again.status) == ("my data", 1, "unchanged")
    assert datasets.list_versions()["name"].tolist() == ["my data"]
    assert datasets.get("my  data").label == "my data v1"
    with pytest.raises(NotFoundError, match=r"'my  data' has no version 5; it has 1\.$"):
        datasets.get("my  data", 5)
    assert len(datasets.list_versions("ｍｙ data")) == 1
    with pytest.raises(NotFoundError, match="Did you mean 'my data'"):
        datasets.get("My data")
    assert ok_json(cli("datasets", "my  data", home=home))[0]["name"] == "my data"
    assert ok_json(cli("models", "--dataset", "ｍｙ data", home=home)) == []
    # A store made before names were normalised may hold "old  name": found as written and
    # as normalised, and an import adds to it, not to a new "old name".
    ingest.import_paths([small_csv], "old name")
    with store.transaction() as con:
        for table in ("datasets", "terms"):
            column = "name" if table == "datasets" else "dataset"
            con.execute(f"UPDATE {table} SET {column} = 'old  name' WHERE {column} = 'old name'")
    assert datasets.get("old  name").name == datasets.get("old name").name == "old  name"
    other = tmp_path / "other.csv"
    other.write_text("term,campaign_id\nnew term,C9\n")
    grown = ingest.import_paths([other], "old name")
    assert (grown.dataset, grown.version) == ("old  name", 2)
    assert set(datasets.list_versions()["name"]) == {"my data", "old  name"}
    with pytest.raises(InputError, match="differ"):
        ingest.import_paths([small_csv], "Old Name")


def test_file_over_the_size_limit(home, small_csv, monkeypatch):
    monkeypatch.setenv("TOPICLAB_MAX_UPLOAD_MB", "0.0001")
    with pytest.raises(InputError, match="TOPICLAB_MAX_UPLOAD_MB"):
        ingest.import_paths([small_csv], "shop")
    assert store.table_counts()["terms"] == 0


def test_uploads_keep_their_names(home, small_csv):
    summary = ingest.import_uploads([("my export.csv", small_csv.read_bytes())], "shop")
    assert summary.files == ["my export.csv"]
    assert set(datasets.terms("shop", 1)["source_file"]) == {"my export.csv"}


@pytest.mark.parametrize("name", ["", "  ", ".", "..", "exports/..", None])
def test_an_upload_whose_name_names_no_file_is_refused(home, small_csv, name):
    """Stored as `upload-0` (the temporary file's name) or `..`, the source of every row
    and the campaign id of a file without that column."""
    with pytest.raises(InputError, match=r"upload 2 of 2 is named .*which names no file; "
                                         r"give the file's own name, such as terms.csv"):
        ingest.import_uploads([("a.csv", small_csv.read_bytes()),
                               (name, small_csv.read_bytes())], "shop")
    with pytest.raises(InputError, match="upload 1 of 1 is named"):
        readers.read_bytes(small_csv.read_bytes(), name)
    assert store.table_counts()["datasets"] == 0
    assert ingest.import_uploads([("in/a/folder.csv", small_csv.read_bytes())],
                                 "shop").files == ["folder.csv"]


def test_account_manager_cannot_import(home, small_csv):
    with auth.use(auth.User("amy", auth.ACCOUNT_MANAGER)), \
            pytest.raises(PermissionDenied, match=r"amy \(account manager\) may not"):
        ingest.import_paths([small_csv], "shop")
    assert store.table_counts()["datasets"] == 0


def test_campaign_totals_do_not_count_search_term_clicks_twice(home, tmp_path):
    rows = tmp_path / "mixed.csv"
    rows.write_text(
        "campaign_id,term,term_type,clicks,impressions\n"
        "K,plumber,keyword,10,100\n"
        "K,plumber near me,search_term,7,60\n"   # already inside the keyword's 10 clicks
        "S,drain,search_term,3,30\n"             # no keyword rows: search terms count
        "S,drain cleaning,search_term,2,20\n"
    )
    ingest.import_paths([rows], "mixed")
    table = datasets.campaigns("mixed", 1).set_index("campaign_id")
    assert table.loc["K", "clicks"] == 10 and table.loc["K", "impressions"] == 100
    assert table.loc["S", "clicks"] == 5 and table.loc["K", "search_terms"] == 1


def test_a_reimport_names_campaign_ids_an_older_import_spelled_as_floats(home, tmp_path):
    """Imports before float ids were read whole stored a Parquet float id 12345678901.0 as
    '1.2345678901e+10' (and 7.0 as '7.0'); the same file imported again now stores
    '12345678901', a new version whose campaigns match no review or neighbour verdict of
    the old one, which the import did not say. It says so now, naming one pair, and the
    version keeps the warning."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "excel.parquet"
    pq.write_table(pa.table({"campaign_id": pa.array([12345678901.0, 7.0, 8.0], pa.float64()),
                             "term": ["red shoes", "blue socks", "green hats"]}), path)
    ingest.import_paths([path], "excel")
    with store.transaction() as con:  # as an import before stop 35 stored them
        con.execute("UPDATE terms SET campaign_id = CASE campaign_id "
                    "WHEN '12345678901' THEN '1.2345678901e+10' WHEN '7' THEN '7.0' "
                    "ELSE campaign_id END WHERE dataset = 'excel'")
        con.execute("UPDATE datasets SET content_hash = 'of the old spelling'")
    again = ingest.import_paths([path], "excel")
    assert (again.version, again.status) == (2, "created")
    note = ("2 campaign ids of this version are spelled as a float in an earlier version "
            "('1.2345678901e+10' in v1 is '12345678901' now: imports before float ids were "
            "read as integers stored them so); reviews, neighbour feedback and models of that "
            "version name the old spelling, so they do not apply to these campaigns")
    assert again.warnings == [note]
    stored = datasets.list_versions("excel").set_index("version")["warnings"]
    assert list(stored[2]) == [note] and list(stored[1]) == []
    # a file of other ids, or a dataset without old spellings, gets no such note
    other = tmp_path / "other.csv"
    other.write_text("campaign_id,term\n9,new words\n", encoding="utf-8")
    assert ingest.import_paths([other], "excel").warnings == []
    assert ingest.import_paths([path], "fresh").warnings == []


def test_rows_are_hashed_a_slice_at_a_time_to_the_same_content_hash(
        tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The content hash hashes `_HASH_ROWS` rows at a time: pandas made a Python string
    of every text cell of the file at once (280 MB for 2M terms, an import's peak). Each
    row's hash is the one the whole frame gives it, so every stored content hash still
    recognises its file."""
    import tracemalloc

    import numpy as np

    rows = 30_000
    text = "Keyword,Campaign ID,Ad group,Clicks\n" + "".join(
        f"term {i} word,C{i % 50},group {i},{i % 7}\n" for i in range(rows))
    path = tmp_path / "terms.csv"
    path.write_text(text)
    frame = readers.read_paths([path]).frame
    whole = pd.util.hash_pandas_object(frame[ingest._HASHED], index=False).to_numpy()
    monkeypatch.setattr(ingest, "_HASH_ROWS", 1_000, raising=False)
    tracemalloc.start()
    try:
        sliced = ingest._row_hashes(frame)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert np.array_equal(sliced, whole)
    assert peak < 32 * rows, f"{peak / rows:.0f} bytes a row"

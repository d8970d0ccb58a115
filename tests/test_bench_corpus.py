"""The benches measure a corpus of your own (`--corpus`): the defaults are also judged on
real corpora kept outside the repository, which `bench/quality.py` and
`bench/neighbors.py` could not read (their corpora were fixed: BBC, M10, WANDS, Sony)."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from bench import neighbors, quality
from tests.conftest import shared_data


@pytest.fixture(scope="module")
def titles(tmp_path_factory):
    """300 real M10 paper titles as a CSV of id, Title, label (any case of `title`)."""
    frame = pd.read_csv(shared_data("octis_m10/corpus.tsv"), sep="\t", header=None,
                        names=["text", "split", "label"], quoting=3, dtype=str).head(300)
    path = tmp_path_factory.mktemp("own") / "titles.csv"
    frame.rename(columns={"text": "Title"})[["Title", "label"]].to_csv(path, index=False)
    return path, frame


def test_quality_measures_a_csv_of_titles(titles, capsys):
    path, frame = titles
    quality.main(["--corpus", str(path), "--k", "4", "--quick"])
    out = capsys.readouterr().out
    assert f"titles.csv : {len(frame)} documents" in out
    row = re.search(r"^\s+4\s+tomotopy \(project default\)\s+(-?[\d.]+)\s+([\d.]+)", out, re.M)
    assert row, out
    npmi, td = map(float, row.groups())
    assert -1 <= npmi <= 1 and 0.5 <= td <= 1          # 4 topics of 10 words, few repeated
    assert "published" not in out                      # BBC's published rows are BBC's


def test_neighbors_measures_a_labelled_csv_above_chance(titles, capsys):
    path, frame = titles
    neighbors.main(["--corpus", str(path), "--skip-latency"])
    out = capsys.readouterr().out
    table = {m.group(1).strip(): float(m.group(2)) for m in re.finditer(
        r"^titles\.csv\s+(.+?)\s+([\d.]+)\s+[\d.]+$", out, re.M)}
    chance = (frame["label"].value_counts(normalize=True) ** 2).sum()
    default = next(v for k, v in table.items() if k.startswith("default:"))
    assert default > 2 * chance and table["tfidf (sklearn cosine)"] > chance, (table, chance)
    assert "octis_m10" not in out and "demo" not in out    # only the corpus given


def test_a_corpus_of_your_own_is_read_in_each_layout_and_refused_clearly(tmp_path, capsys):
    octis = tmp_path / "octis"
    octis.mkdir()
    (octis / "corpus.tsv").write_text("heat pump repair\ttrain\thvac\n"
                                      "drain cleaning\ttest\tplumbing\n", encoding="utf-8")
    assert quality.read_own(octis) == (["heat pump repair", "drain cleaning"],
                                       ["hvac", "plumbing"], True)
    (tmp_path / "lines.txt").write_text("emergency plumber\n24 hour plumber\n", encoding="utf-8")
    assert quality.read_own(tmp_path / "lines.txt") == (
        ["emergency plumber", "24 hour plumber"], None, False)
    pd.DataFrame({"doc_id": [1], "body": ["x"]}).to_csv(tmp_path / "odd.csv", index=False)
    with pytest.raises(SystemExit, match=r"odd\.csv: no text column\. Columns found: "
                                         r"doc_id, body\. Name it one of text, title"):
        quality.read_own(tmp_path / "odd.csv")
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "header.csv").write_text("text\n", encoding="utf-8")
    for path, message in [(tmp_path / "missing.csv", "missing.csv: no such file"),
                          (tmp_path, "corpus.tsv: no such file (a folder is read in OCTIS"),
                          ("/dev/null", "/dev/null: not a regular file (a device or a pipe)"),
                          (tmp_path / "empty.csv", "empty.csv: not readable as a corpus: "),
                          (tmp_path / "header.csv", "header.csv: no documents")]:
        with pytest.raises(SystemExit, match=re.escape(message)):
            quality.read_own(path)
    with pytest.raises(SystemExit, match=r"lines\.txt: no labels: .* `label` column"):
        neighbors.main(["--corpus", str(tmp_path / "lines.txt"), "--skip-latency"])

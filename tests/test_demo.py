"""The synthetic demo corpus: deterministic, well-formed, and drifting only when asked."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pandas as pd
import pytest

from core import cli
from core.config import DEMO_DIR
from core.data import demo

SMALL = 200
COMMITTED = DEMO_DIR / "campaigns.parquet"


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    return demo.generate(SMALL, seed=11)


@pytest.fixture(scope="module")
def committed() -> pd.DataFrame:
    return pd.read_parquet(COMMITTED)


def test_same_arguments_give_identical_frames(small: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(small, demo.generate(SMALL, seed=11))


def test_another_seed_gives_another_corpus(small: pd.DataFrame) -> None:
    other = demo.generate(SMALL, seed=12)
    assert list(other.columns) == list(small.columns)
    assert set(other["term"]) != set(small["term"])


def test_columns_and_dtypes(small: pd.DataFrame) -> None:
    assert tuple(small.columns) == demo.COLUMNS
    for column in ("impressions", "clicks"):
        assert small[column].dtype == "int64", column
    for column in ("cost", "conversions"):
        assert small[column].dtype == "float64", column
    for column in ("campaign_id", "campaign_name", "account", "ad_group", "term", "term_type",
                   "match_type", "vertical"):
        assert pd.api.types.is_string_dtype(small[column]), column
    assert small.drop(columns="match_type").notna().all().all()


def test_rows_are_well_formed(small: pd.DataFrame) -> None:
    assert set(small["term_type"]) == {"keyword", "search_term"}
    keywords = small["term_type"] == "keyword"
    assert set(small.loc[keywords, "match_type"]) == {"exact", "phrase", "broad"}
    assert small.loc[~keywords, "match_type"].isna().all()
    assert (small["clicks"] <= small["impressions"]).all()
    assert (small["conversions"] <= small["clicks"]).all()
    assert (small["cost"] >= 0).all() and (small["conversions"] >= 0).all()
    assert (small.loc[small["clicks"] == 0, "cost"] == 0).all()
    assert (small["cost"].round(2) == small["cost"]).all()
    assert (small["conversions"].round(1) == small["conversions"]).all()
    assert (small["conversions"] % 1 != 0).any()  # fractional, like Google Ads
    assert small["term"].str.strip().eq(small["term"]).all()
    assert not small["term"].str.contains("  ").any()
    assert not small.duplicated(["campaign_id", "term", "term_type", "match_type"]).any()


def test_campaigns_have_15_to_150_terms_and_one_name_account_vertical(
    small: pd.DataFrame,
) -> None:
    per_campaign = small.groupby("campaign_id")
    assert per_campaign.ngroups == SMALL
    sizes = per_campaign.size()
    assert sizes.between(15, 150).all()
    assert (per_campaign[["campaign_name", "account", "vertical"]].nunique() == 1).all().all()
    names = per_campaign["campaign_name"].first()
    assert names.is_unique
    assert small["campaign_id"].str.fullmatch(r"C\d{5}").all()
    assert small.groupby("account")["campaign_id"].nunique().max() > 1  # accounts own several


def test_off_topic_search_terms_spend_without_converting(small: pd.DataFrame) -> None:
    unrelated = set(demo._vocab().unrelated)
    off_topic = small[small["term"].isin(unrelated)]
    assert len(off_topic) > 0
    assert (off_topic["term_type"] == "search_term").all()
    assert (off_topic["cost"] > 0).all() and (off_topic["conversions"] == 0).all()


def test_shift_makes_next_month(small: pd.DataFrame) -> None:
    shifted = demo.generate(SMALL, seed=11, shift=0.6)
    assert list(shifted.columns) == list(small.columns)
    assert (shifted.dtypes == small.dtypes).all()
    base_ids, new_ids = set(small["campaign_id"]), set(shifted["campaign_id"])
    assert base_ids - new_ids, "some campaigns should be gone"
    added = new_ids - base_ids
    assert added and min(added) > max(base_ids), "new campaigns get ids after the base range"
    new_terms = ~shifted["term"].isin(set(small["term"]))
    assert new_terms.mean() > 0.1
    assert shifted.loc[new_terms, "term"].str.contains(r"\b(?:2027|ai|app)\b").any()
    assert (shifted["clicks"] <= shifted["impressions"]).all()
    assert (shifted["conversions"] <= shifted["clicks"]).all()
    # Campaigns that carry on keep most of their terms.
    kept = sorted(base_ids & new_ids)[0]
    before = set(small.loc[small["campaign_id"] == kept, "term"])
    after = set(shifted.loc[shifted["campaign_id"] == kept, "term"])
    assert len(before & after) > len(after) / 2


@pytest.mark.parametrize(("n_campaigns", "shift"), [(1, 0.0), (1, 1.0), (3, 0.3), (2, 1.0)])
def test_a_corpus_of_a_few_campaigns_is_generated(n_campaigns: int, shift: float) -> None:
    """`demo --campaigns 1` (and 3, or 2 shifted by 1) failed with `KeyError: 'campaign_id'`:
    with no keyword repeated in the corpus, planting selected its rows with an empty list,
    which pandas reads as no columns."""
    frame, truth = demo.generate_with_truth(n_campaigns, seed=5, shift=shift)
    assert frame["campaign_id"].nunique() >= n_campaigns
    assert set(truth["campaign_id"]) <= set(frame["campaign_id"])


def test_shift_zero_is_the_base_corpus(small: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(demo.generate(SMALL, seed=11, shift=0.0), small)


@pytest.mark.parametrize(("kwargs", "needle"), [({"n_campaigns": 0}, "n_campaigns must be"),
                                               ({"shift": 1.5}, "shift must be between"),
                                               ({"shift": -0.1}, "shift must be between")])
def test_bad_arguments_are_refused(kwargs: dict, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        demo.generate(**kwargs)


def test_write_and_cli_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = demo.write(tmp_path / "out" / "small.parquet", n_campaigns=30, seed=3)
    pd.testing.assert_frame_equal(pd.read_parquet(path), demo.generate(30, seed=3))

    assert cli.main(["demo", "--out", str(tmp_path / "cli.parquet"), "--campaigns", "25",
                     "--seed", "3", "--shift", "0.2"]) == 0
    summary = json.loads(capsys.readouterr().out)
    frame = pd.read_parquet(summary["path"])
    pd.testing.assert_frame_equal(frame, demo.generate(25, seed=3, shift=0.2))
    assert frame["campaign_id"].nunique() >= 25

    # The summary counts the campaigns written: a shift adds some (it said 3,000 of 3,090).
    assert cli.main(["demo", "--out", str(tmp_path / "grown.parquet"), "--campaigns", "100",
                     "--shift", "1"]) == 0
    summary = json.loads(capsys.readouterr().out)
    written = pd.read_parquet(summary["path"])["campaign_id"].nunique()
    assert summary["campaigns"] == written > 100


def test_out_never_replaces_a_device_fifo_or_folder(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """`demo --out /dev/null` run as root replaced the device with a Parquet file (written
    to a `.partial` file renamed over it); `--out <a folder>` was an IsADirectoryError
    traceback that left the `.partial` file behind. (A FIFO stands in for the device.)"""
    fifo, folder = tmp_path / "pipe", tmp_path / "folder"
    os.mkfifo(fifo)
    folder.mkdir()
    for target, kind in ((fifo, "is a FIFO"), (folder, "is a folder"),
                         (tmp_path / "pipe.parquet", "is a FIFO")):
        if target.name == "pipe.parquet":  # the ground truth beside it would replace it
            os.mkfifo(tmp_path / "pipe.planted.parquet")
        assert cli.main(["demo", "--out", str(target), "--campaigns", "5"]) == 1
        assert kind in capsys.readouterr().err
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and folder.is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "pipe",
                                                          "pipe.planted.parquet"]


def test_demo_without_out_never_replaces_the_committed_corpus(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """`demo --shift 0.3` without `--out` (a careless copy of the README's line) replaced
    the committed corpus, the ground truth of tests and benchmarks, with a drifted one."""
    committed = tmp_path / "campaigns.parquet"   # a copy stands in for the committed file
    committed.write_bytes(demo.DEFAULT_PATH.read_bytes())
    monkeypatch.setattr(demo, "DEFAULT_PATH", committed)
    for argv in (["--shift", "0.3"], ["--campaigns", "5"], ["--seed", "1"]):
        assert cli.main(["demo", *argv]) == 1
        assert "give --out FILE" in capsys.readouterr().err
    assert committed.read_bytes() == (DEMO_DIR / "campaigns.parquet").read_bytes()
    defaults = cli.build_parser().parse_args(["demo"])  # the CLI's defaults are the module's
    assert (defaults.campaigns, defaults.seed) == (demo.DEFAULT_CAMPAIGNS, demo.DEFAULT_SEED)


def test_committed_file_is_the_default_output(committed: pd.DataFrame) -> None:
    assert COMMITTED.stat().st_size <= 3 * 1024 * 1024
    frame, truth = demo.generate_with_truth()
    pd.testing.assert_frame_equal(committed, frame)
    pd.testing.assert_frame_equal(pd.read_parquet(demo.planted_path(COMMITTED)), truth)


def test_committed_file_covers_the_verticals(committed: pd.DataFrame) -> None:
    assert committed["campaign_id"].nunique() == demo.DEFAULT_CAMPAIGNS
    assert committed["vertical"].nunique() >= 30
    assert committed.groupby("campaign_id").size().between(15, 150).all()
    brand = committed["campaign_name"].str.contains(" - Brand - ")
    assert 0.05 < brand.groupby(committed["campaign_id"]).first().mean() < 0.5
    # Mixed-theme campaigns: ad groups that belong to another vertical's themes.
    themed = ~committed["ad_group"].str.startswith(("Brand - ", "Competitors"))
    group_vertical = committed[themed].groupby("ad_group")["vertical"].agg(
        lambda s: s.mode().iloc[0])
    foreign = themed & (committed["ad_group"].map(group_vertical) != committed["vertical"])
    mixed = foreign.groupby(committed["campaign_id"]).mean() > 0.1
    assert 0.05 < mixed.mean() < 0.25

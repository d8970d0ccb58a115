"""The biterm engine (bitermplus, real training) on short planted campaigns: it recovers
the word groups, scores pasted keywords like its training campaigns, and survives the
model artifact and the registry (trained through the CLI like any engine)."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout

import numpy as np
import pandas as pd
import pytest

from core import cli
from core.data import ingest
from core.errors import InputError
from core.model import artifact
from core.model.corpus import Corpus
from core.model.engines import BitermTM, Engine, make_engine
from core.model.text import TextConfig
from core.serve import registry, score

GROUPS = {
    "food": ["pizza", "pasta", "salad", "burger", "sushi", "noodle", "taco", "curry"],
    "money": ["mortgage", "loan", "credit", "bank", "insurance", "pension", "deposit", "tax"],
    "home": ["plumber", "roof", "boiler", "chimney", "drain", "faucet", "gutter", "furnace"],
}
FAST = {"k": 3, "iterations": 60, "seed": 1}


def planted_rows(campaigns_per_group: int = 40, keywords: int = 3, seed: int = 0
                 ) -> pd.DataFrame:
    """Short campaigns: a few two-word keywords, all from one word group."""
    rng = np.random.default_rng(seed)
    rows = []
    for group, words in GROUPS.items():
        for c in range(campaigns_per_group):
            for _ in range(keywords):
                a, b = rng.choice(words, 2, replace=False)
                rows.append({"campaign_id": f"{group}-{c:03d}", "term": f"{a} {b}"})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return Corpus.from_frame(planted_rows(), TextConfig(language="en"))


@pytest.fixture(scope="module")
def engine(corpus) -> BitermTM:
    return make_engine("btm", **FAST).fit(corpus)


def group_of_topic(engine: Engine) -> dict[int, str]:
    """Topic -> the group all of its top 6 words belong to; fails on a mixed topic."""
    owners = {}
    for k, words in enumerate(engine.topics(6)):
        groups = {g for g, members in GROUPS.items() if set(words) <= set(members)}
        assert len(groups) == 1, f"topic {k} mixes groups: {words}"
        owners[k] = groups.pop()
    return owners


def test_recovers_planted_word_groups(engine, corpus):
    assert engine.topic_term_.shape == (3, len(corpus.dictionary))
    np.testing.assert_allclose(engine.topic_term_.sum(axis=1), 1.0)
    owners = group_of_topic(engine)
    assert set(owners.values()) == set(GROUPS)
    # every training campaign lands on its own group's topic
    top = engine.transform(corpus.bow).argmax(axis=1)
    assert [owners[t] for t in top] == [cid.split("-")[0] for cid in corpus.campaign_ids]
    assert engine.fit_info_["biterms"] > len(corpus)  # pairs, not documents
    assert 0 < engine.fit_info_["background_share"] < 1


def test_pasted_keywords_fold_in_like_training_campaigns(engine, corpus):
    owners = group_of_topic(engine)
    bows, oov = corpus.encoder.encode_docs([["sushi taco", "pizza"], ["mortgage bank"],
                                            ["leaky gutter drain"]])
    pasted = engine.transform(bows)
    assert [owners[t] for t in pasted.argmax(axis=1)] == ["food", "money", "home"]
    assert oov[2] == pytest.approx(1 / 3)  # "leaky" is unknown, the rest is scored
    # the same words as a training campaign get that campaign's fingerprint
    np.testing.assert_allclose(engine.transform([corpus.bow[0]]), engine.transform(corpus.bow[:1]))


def test_same_seed_same_model_and_save_load_round_trip(engine, corpus, tmp_path):
    again = make_engine("btm", **FAST).fit(corpus)
    np.testing.assert_array_equal(again.topic_term_, engine.topic_term_)
    folder = artifact.write(tmp_path / "m", engine=engine, encoder=corpus.encoder,
                            manifest={"engine": "btm"})
    manifest, loaded, encoder = artifact.read(folder)
    assert manifest["engine"] == "btm" and encoder.vocabulary == corpus.vocabulary
    assert type(loaded) is BitermTM and loaded.get_params() == engine.get_params()
    np.testing.assert_array_equal(loaded.transform(corpus.bow), engine.transform(corpus.bow))
    assert loaded.topics(6) == engine.topics(6)
    assert loaded.fit_info_["topic_shares"] == engine.fit_info_["topic_shares"]


def test_without_background_and_with_no_pairs():
    one_word = Corpus.from_texts(["pizza", "loan", "roof"] * 5,
                                 config=TextConfig(language="en", no_below=1, no_above=1.0))
    with pytest.raises(InputError, match="two known words"):
        make_engine("btm", k=2).fit(one_word)
    with pytest.raises(InputError, match="window"):
        make_engine("btm", k=2, window=1).fit(one_word)


def test_cli_trains_a_btm_model_that_scores_pasted_keywords(home, tmp_path):
    path = tmp_path / "planted.csv"
    planted_rows(campaigns_per_group=20).to_csv(path, index=False)
    ingest.import_paths([path], "planted")
    out = io.StringIO()
    with redirect_stdout(out):
        code = cli.main(["train", "--engine", "btm", "--dataset", "planted", "--k", "3",
                         "--seed", "1", "--iterations", "60"])
    assert code == 0
    model = registry.load(json.loads(out.getvalue())["model_id"])
    assert model.manifest["engine"] == "btm" and model.k == 3
    assert model.manifest["library_versions"]["bitermplus"] == "1.0.0"
    assert model.manifest["metrics"]["npmi"] is not None
    owners = group_of_topic(model.engine)
    fp = score.fold_in(model, ["curry noodle", "burger"])
    assert owners[int(np.argmax(fp.weights))] == "food"


def test_train_page_offers_btm_and_trains_it(home, tmp_path):
    from tests.test_pages import ok, page

    path = tmp_path / "planted.csv"
    planted_rows(campaigns_per_group=20).to_csv(path, index=False)
    ingest.import_paths([path], "planted")
    at = page("train")
    [engine] = [s for s in at.selectbox if s.label == "Engine"]
    engine.set_value("btm").run()
    assert [t.label for t in at.toggle if t.label == "Background topic"]
    at.toggle(key="train_fit_k").set_value(False).run()   # exactly K = 3
    at.number_input(key="train_k").set_value(3)
    at.number_input(key="train_btm_iterations").set_value(60)
    ok(at.button(key="train_start").click().run())
    newest = registry.list_models().iloc[0]
    assert newest["engine"] == "btm" and newest["k"] == 3
    assert any(f"Trained `{newest['model_id']}`" in s.value for s in at.success)

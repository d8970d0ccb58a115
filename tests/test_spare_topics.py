"""Spare topics (core/model/spare_topics.py): real tomotopy training on 1,500 M10 titles."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest

from core.errors import InputError
from core.model import diversity, spare_topics
from core.model.corpus import Corpus
from core.model.engines import CAMPAIGNS_PER_TOPIC, DEFAULTS, Engine, bow_matrix, make_engine
from core.model.metrics import coherence, topic_diversity
from tests.conftest import m10_titles

# Small enough for seconds; one worker makes tomotopy deterministic for a seed.
FAST = {"k": 10, "iterations": 200, "seed": 0, "workers": 1}


@pytest.fixture(scope="module")
def titles() -> Corpus:
    return m10_titles()


@pytest.fixture(scope="module")
def counts(titles: Corpus):
    return bow_matrix(titles.bow, len(titles.vocabulary))


@pytest.fixture(scope="module")
def plain(titles: Corpus) -> Engine:
    return make_engine("tomotopy", spare_share=0.0, **FAST).fit(titles)


def test_keep_best_drops_a_repeated_topic_and_one_without_a_theme(plain, counts) -> None:
    """Two rows added to a trained model: a copy of its least coherent topic (it repeats
    every top word) and a topic of ten words no two of which share a title (document
    NPMI −1)."""
    present = counts.toarray() > 0
    lonely, seen = [], np.zeros(present.shape[0], dtype=bool)
    for word in np.argsort(present.sum(axis=0), kind="stable"):
        docs = present[:, word]
        if docs.any() and not (docs & seen).any():
            lonely.append(word)
            seen |= docs
        if len(lonely) == diversity.TOPN:
            break
    noise = np.full(counts.shape[1], 1e-6)
    noise[lonely] = 1.0
    _, npmi = spare_topics.keep_best(plain.topic_term_, counts, plain.k)
    repeated = int(np.argmin(npmi))
    rows = np.vstack([plain.topic_term_, plain.topic_term_[repeated], noise / noise.sum()])
    keep, npmi = spare_topics.keep_best(rows, counts, plain.k)
    assert npmi[-1] == pytest.approx(-1.0)
    dropped = set(range(len(rows))) - set(keep.tolist())
    assert len(keep) == plain.k and list(keep) == sorted(keep)
    assert len(rows) - 1 in dropped and len(dropped & {repeated, len(rows) - 2}) == 1


def test_a_coherent_topic_is_not_dropped_for_sharing_words(plain, counts) -> None:
    """The median guard: the most coherent topic and its copy both stay, though dropping
    either would raise diversity most; a topic at most as coherent as the median goes."""
    _, npmi = spare_topics.keep_best(plain.topic_term_, counts, plain.k)
    best = int(np.argmax(npmi))
    rows = np.vstack([plain.topic_term_, plain.topic_term_[best]])
    keep, npmi = spare_topics.keep_best(rows, counts, plain.k)
    (dropped,) = set(range(len(rows))) - set(keep.tolist())
    assert {best, plain.k} <= set(keep.tolist()) and npmi[dropped] <= np.median(npmi)


def test_main_documents_counts_the_documents_whose_strongest_topic_each_is(plain, counts
                                                                         ) -> None:
    assert spare_topics.main_documents(np.array([[0.2, 0.8], [0.6, 0.4], [0.1, 0.9]])
                                       ).tolist() == [1, 2]
    main = spare_topics.main_documents(plain.transform(counts))
    assert main.sum() == counts.shape[0] and main.shape == (plain.k,)


def test_spares_never_leave_fewer_than_five_documents_or_ten_words_per_topic() -> None:
    assert spare_topics.spare_count(20, 0.4, 3000, 2000) == 8
    assert spare_topics.spare_count(20, 0.4, 66, 2000) == 2      # 66 // 3 = 22 topics
    assert spare_topics.spare_count(20, 0.4, 3000, 230) == 3     # 230 // 10 = 23 topics
    assert spare_topics.spare_count(8, 0.4, 14, 187) == 0        # the 16 Sony exports
    assert spare_topics.spare_count(20, 0.0, 3000, 2000) == 0


def test_engine_trains_spares_and_keeps_k_more_coherent_and_distinct(titles, plain) -> None:
    spared = make_engine("tomotopy", spare_share=0.3, **FAST).fit(titles)
    dropped = spared.fit_info_["spare_topics_dropped"]
    assert len(dropped) == 3
    assert all(len(d["top_words"]) == 10 for d in dropped)
    # each dropped topic is the strongest of its share of the 1,500 titles, and the
    # warning names those that were still a theme (all three, on M10's titles)
    assert all(d["main_documents"] >= CAMPAIGNS_PER_TOPIC for d in dropped)
    (warning,) = spare_topics.dropped_theme_warnings(spared)
    largest = max(dropped, key=lambda d: d["main_documents"])
    assert warning.startswith("3 of the spare topics dropped were the strongest topic of 3 ")
    assert f'"{" ".join(largest["top_words"][:5])} …" ({largest["main_documents"]:,})' in warning
    assert "spread over the K topics kept" in warning
    assert spared.topic_term_.shape == plain.topic_term_.shape and spared.alpha_.shape == (10,)
    np.testing.assert_allclose(spared.topic_term_.sum(axis=1), 1.0)
    np.testing.assert_allclose(spared.transform(titles.bow[:50]).sum(axis=1), 1.0)

    def objective(engine: Engine) -> float:
        top = engine.topics(10)
        return (coherence(top, titles, "c_npmi")
                + spare_topics.DIVERSITY_WEIGHT * topic_diversity(top))

    assert objective(spared) > objective(plain)


def test_a_saved_model_keeps_its_setting_and_what_it_dropped(tmp_path, titles) -> None:
    spared = make_engine("tomotopy", spare_share=0.2, **FAST).fit(titles)
    loaded = Engine.load(spared.save(tmp_path / "m"))
    assert loaded.spare_share == 0.2 and DEFAULTS["tomotopy"]["spare_share"] == 0.0
    assert loaded.fit_info_["spare_topics_dropped"] == spared.fit_info_["spare_topics_dropped"]
    np.testing.assert_allclose(loaded.topic_term_, spared.topic_term_)


def test_cli_flag_reaches_the_engine_params_and_bad_shares_are_refused() -> None:
    from core import cli
    from core.ops.train import check_param

    parser = cli.build_parser()
    spec = cli._spec(parser.parse_args(["train", "--dataset", "d", "--spare-share", "0"]))
    assert spec.params["spare_share"] == 0.0
    check_param("tomotopy", "spare_share", 0.0)
    for bad in (-0.1, 1.5, float("nan"), "many"):
        with pytest.raises(InputError, match="spare_share"):
            check_param("tomotopy", "spare_share", bad)


def test_hidden_spares_rank_neighbours_but_are_never_shown(tmp_path) -> None:
    """`hidden_spares` keeps the spares `spare_share` drops as hidden topics: the K shown
    are `spare_share`'s (topic lists, fingerprints summing to 1 over K), while neighbours
    rank by all K + S, as `bench/hidden_spares.py` measured (BBC NPMI 0.161 at the default's
    neighbours); a shared topic is always one shown, and `save`/`load` keep the hidden
    ones."""
    import pandas as pd

    from core import CampaignModel
    from tests.conftest import DEMO_FILE

    frame = pd.read_parquet(DEMO_FILE)
    some = frame[frame["campaign_id"].isin(frame["campaign_id"].unique()[:300])]
    params = {"iterations": 200, "spare_share": 0.4}
    with pytest.warns(UserWarning, match="are shown spread over the K topics kept"):
        shown = CampaignModel(k=10, engine_params=params).fit(some)
    with pytest.warns(UserWarning, match="spare topics dropped were the strongest") as told:
        model = CampaignModel(k=10, engine_params={**params, "hidden_spares": True}).fit(some)
    engine = model.engine_
    assert any("little or no weight on any topic shown" in str(w.message) for w in told)
    assert engine.hidden_term_.shape == (4, len(model.vocabulary_))
    np.testing.assert_allclose(engine.topic_term_, shown.engine_.topic_term_)  # same K shown
    assert len(model.topics()) == 10 and model.fingerprints_.shape[1] == 10
    np.testing.assert_allclose(model.fingerprints_.sum(axis=1), 1.0, atol=1e-5)
    every = engine.transform_all(model.counts_.matrix)
    assert every.shape == (len(model.counts_.campaign_ids), 14)
    np.testing.assert_allclose(engine.transform(model.counts_.matrix),
                               every[:, :10] / every[:, :10].sum(axis=1, keepdims=True))
    assert model.index_.fingerprints_.shape[1] == 14 and shown.index_.fingerprints_.shape[1] == 10
    ids = model.fingerprints_.index[:40]
    ranked = [model.neighbors(c, 10)["campaign_id"].tolist() for c in ids]
    assert ranked != [shown.neighbors(c, 10)["campaign_id"].tolist() for c in ids]
    # shared topics name shown topics only (a hidden id has no name: an IndexError)
    shared = [s for c in ids for s in model.neighbors(c, 10)["shared_topics"] if s]
    assert shared and all(s in shown_names(model) for s in shared)
    keywords = some.loc[some["campaign_id"] == ids[0], "term"].tolist()
    pasted = model.fingerprint(keywords)
    assert pasted.weights.shape == (10,) and pasted.all_weights.shape == (14,)
    np.testing.assert_allclose(pasted.weights, pasted.all_weights[:10]
                               / pasted.all_weights[:10].sum(), rtol=1e-5)
    result = model.suggest(keywords)            # ranked by all 14 against the index
    assert result.actions or result.notes
    loaded = CampaignModel.load(model.save(tmp_path / "hidden"))
    np.testing.assert_allclose(loaded.engine_.hidden_term_, engine.hidden_term_)
    np.testing.assert_allclose(loaded.index_.fingerprints_, model.index_.fingerprints_,
                               atol=1e-6)
    assert shown.engine_.hidden_term_ is None
    with pytest.raises(InputError, match="hidden_spares must be True or False, not 'yes'"):
        CampaignModel(k=10, engine_params={**params, "hidden_spares": "yes"}).fit(some)


def shown_names(model) -> set[str]:
    """Every way a neighbour table can name shared topics of the K shown (names hold
    commas, so a table's text is not split)."""
    from core.model.neighbors import shared_topic_names

    names = model.topic_names_
    return {shared_topic_names(combo, names) for n in (1, 2, 3)
            for combo in itertools.permutations(range(len(names)), n)}


def test_the_store_keeps_hidden_spares_and_lookup_ranks_by_them(home, tmp_path,
                                                                capsys) -> None:
    """Trained through the registry (`train --spare-share 0.4 --hidden-spares`), scored
    locally: the store keeps each campaign's shares of the hidden topics beside its
    fingerprint, and Lookup (the app's, the service's) ranks by all K + S, as the
    notebook's `CampaignModel` of the same model does; pasted keywords too."""
    from core import cli
    from core.data import auth, ingest, store
    from core.errors import TopicLabError
    from core.ops import drift, train
    from core.serve import answers, campaign_map, registry, review, score
    from core.serve.lookup import Lookup
    from tests.conftest import demo_subset

    auth.set_user(auth.local_user())
    ingest.import_paths([demo_subset(tmp_path / "some.parquet", 300)], "some")
    args = cli.build_parser().parse_args([
        "train", "--dataset", "some", "--k", "10", "--iterations", "200",
        "--spare-share", "0.4", "--hidden-spares"])
    spec = cli._spec(args)
    assert spec.params["hidden_spares"] is True
    result = train.train(spec)
    model_id = result.model_id
    themes = [d for d in registry.load(model_id).engine.fit_info_["spare_topics_dropped"]
              if d["main_documents"] >= 3]
    assert themes and any(w.startswith(f"{len(themes)} of the spare topics dropped")
                          for w in result.warnings)
    score.score_dataset(model_id)
    stored = score.load_fingerprints(model_id)
    assert stored.weights.shape[1] == 10 and stored.hidden.shape == (len(stored.weights), 4)
    np.testing.assert_allclose(stored.weights.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(stored.for_neighbours.sum(axis=1), 1.0, atol=1e-5)
    nulls = store.query_one("SELECT count(*) FROM fingerprints WHERE hidden IS NULL")[0]
    assert nulls == 0
    lookup, notebook = Lookup(model_id), registry.campaign_model(model_id)
    assert lookup.index.fingerprints_.shape[1] == 14
    for campaign in stored.campaign_ids[::60]:
        assert (lookup.neighbors(campaign, 5)["campaign_id"].tolist()
                == notebook.neighbors(campaign, 5)["campaign_id"].tolist())
    fingerprint, table = lookup.keyword_neighbors(["emergency plumber", "blocked drain"], 5)
    assert fingerprint.all_weights.shape == (14,) and len(table) == 5
    assert fingerprint.hidden_share == pytest.approx(fingerprint.all_weights[10:].sum())
    # a stored campaign's share of the hidden topics, which Lookup's page reports
    shares = stored.hidden.sum(axis=1)
    for campaign in (stored.campaign_ids[int(np.argmax(shares))], stored.campaign_ids[0]):
        found = lookup.campaign(campaign, 5).fingerprint
        row = stored.index_of(campaign)
        assert found.hidden_share == pytest.approx(shares[row], abs=1e-5)
        np.testing.assert_allclose(found.all_weights, stored.for_neighbours[row], atol=1e-6)
    assert score.Fingerprint(np.array([0.5, 0.5]), 0.0).hidden_share == 0.0
    # ... and every answer carries it: the service's, the CLI's, Lookup's JSON
    most = stored.campaign_ids[int(np.argmax(shares))]
    items = [answers.Query(campaign_id=most),
             answers.Query(keywords=["emergency plumber", "blocked drain"])]
    stored_answer, pasted_answer = answers.fingerprint_many(lookup, items)
    assert stored_answer["hidden_share"] == round(float(shares.max()), 4)
    assert stored_answer["hidden_share"] >= score.MOSTLY_HIDDEN
    assert pasted_answer["hidden_share"] == round(fingerprint.hidden_share, 4) > 0
    assert cli.main(["fingerprint", most, "--model", model_id]) == 0
    assert json.loads(capsys.readouterr().out)["hidden_share"] == stored_answer["hidden_share"]
    assert lookup.campaign(most, 5).to_dict(lookup.topic_names)["hidden_share"] == (
        stored_answer["hidden_share"])
    # the Review queue says why such a campaign's confidence is low
    queue = review.review_queue(model_id, max_confidence=1.0, limit=10_000).set_index(
        "campaign_id")
    np.testing.assert_allclose(queue.loc[stored.campaign_ids, "hidden_share"], shares,
                               atol=1e-5)
    mostly = (queue["hidden_share"] >= score.MOSTLY_HIDDEN) & (queue["oov_share"] <= 0.5)
    assert mostly.any() and (queue.loc[mostly, "reason"] == "mostly on hidden topics").all()
    assert (queue.loc[~mostly, "reason"] != "mostly on hidden topics").all()
    rest = review.review_queue(model_id, max_confidence=1.0, limit=10_000, mostly_hidden=False)
    assert sorted(rest["campaign_id"]) == sorted(queue.index[~mostly])
    # drift reads every topic: a version of only the campaigns on hidden themes has moved
    # (its topics are the hidden ones), and it holds no campaign the model cannot place
    # (read over the shown topics alone, their flat fingerprints were all "low confidence")
    on_hidden = set(stored.campaign_ids[i] for i in np.flatnonzero(shares >= 0.8))
    assert len(on_hidden) >= 5, shares.max()
    rows = pd.read_parquet(tmp_path / "some.parquet")
    rows[rows["campaign_id"].isin(on_hidden)].to_parquet(tmp_path / "hidden.parquet")
    ingest.import_paths([tmp_path / "hidden.parquet"], "some")
    moved = drift.drift_report("some", 2, model_id)
    low = moved.measures["low_confidence_increase"]
    assert low["current"] <= 0.2 and not low["exceeded"], moved.measures
    assert moved.measures["topic_shift_js"]["exceeded"], moved.measures
    assert sum(moved.confidence_histogram["version"][:3]) <= 0.2 * len(on_hidden)
    # the Map places them by every topic and sets them apart: a flat shown fingerprint's
    # strongest topic says nothing of them
    drawn = campaign_map.campaign_map(model_id)
    mostly_ids = np.asarray(stored.campaign_ids)[shares >= score.MOSTLY_HIDDEN]
    group = drawn.points.set_index("campaign_id").loc[mostly_ids]
    assert (group["topic_name"] == campaign_map.ON_HIDDEN).all()
    assert group["top_topics"].str.fullmatch(rf"{campaign_map.ON_HIDDEN} \(\d+%\)").all()
    assert campaign_map.ON_HIDDEN not in set(drawn.points.set_index("campaign_id").drop(
        group.index)["topic_name"])
    row = drawn.clusters.set_index("name").loc[campaign_map.ON_HIDDEN]
    assert row["campaigns"] == len(group) and drawn.clusters["name"].iloc[-1] == (
        campaign_map.ON_HIDDEN)
    assert drawn.legend_order("topic_name")[-1] == campaign_map.ON_HIDDEN
    top_hidden = stored.hidden.argmax(axis=1)[shares >= score.MOSTLY_HIDDEN]  # together
    xy = group[["x", "y"]].to_numpy()
    same = top_hidden[:, None] == top_hidden[None, :]
    apart = np.linalg.norm(xy[:, None] - xy[None, :], axis=2)
    assert apart[same & ~np.eye(len(xy), dtype=bool)].mean() < apart[~same].mean() / 2
    with pytest.raises(TopicLabError, match="--hidden-spares is for --engine tomotopy"):
        cli._spec(cli.build_parser().parse_args([
            "train", "--dataset", "some", "--engine", "gensim", "--hidden-spares"]))


def test_hidden_spares_without_spare_topics_are_refused_before_training() -> None:
    """`hidden_spares` alone trained a model with nothing hidden, and said nothing."""
    import pandas as pd

    from core import CampaignModel, cli
    from core.errors import TopicLabError
    from tests.conftest import DEMO_FILE

    message = "hidden_spares keeps the spare topics that spare_share trains"
    args = cli.build_parser().parse_args(["train", "--dataset", "demo", "--hidden-spares"])
    with pytest.raises(TopicLabError, match=f"{message}: give spare_share above 0 as well "
                                            r"\(0.4 suggested\), not 0.0, or leave"):
        cli._spec(args)
    with pytest.raises(InputError, match=f"{message}.*not 0,"):
        CampaignModel(k=5, engine_params={"hidden_spares": True, "spare_share": 0}).fit(
            pd.read_parquet(DEMO_FILE).head(50))
    spec = cli._spec(cli.build_parser().parse_args(
        ["train", "--dataset", "demo", "--hidden-spares", "--spare-share", "0.4"]))
    assert spec.params == {"hidden_spares": True, "spare_share": 0.4}

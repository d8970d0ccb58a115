"""Engines: real gensim / tomotopy training on the first 300 BBC News documents."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import Cancelled, InputError
from core.model.corpus import Corpus
from core.model.engines import (
    DEFAULT_ENGINE,
    DEFAULTS,
    ENGINES,
    Engine,
    GensimLDA,
    TomotopyLDA,
    fold_in,
    make_engine,
)
from tests.conftest import bbc_corpus

FAST = {"gensim": {"passes": 2, "iterations": 20}, "tomotopy": {"iterations": 60}}
LOCAL = sorted(FAST)  # the Spark engine has its own tests (tests/test_spark.py)


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return bbc_corpus(300)


@pytest.fixture(scope="module")
def fitted(corpus) -> dict[str, Engine]:
    return {name: make_engine(name, k=5, seed=3, **FAST[name]).fit(corpus) for name in LOCAL}


@pytest.mark.parametrize("name", LOCAL)
def test_shapes_and_distributions(fitted, corpus, name):
    engine = fitted[name]
    assert engine.topic_term_.shape == (5, len(corpus.dictionary))
    np.testing.assert_allclose(engine.topic_term_.sum(axis=1), 1.0)
    assert (engine.topic_term_ >= 0).all()
    doc_topic = engine.transform(corpus.bow)
    assert doc_topic.shape == (len(corpus), 5)
    np.testing.assert_allclose(doc_topic.sum(axis=1), 1.0)
    assert engine.vocabulary_ == corpus.vocabulary
    words = engine.top_words(0, 7)
    assert len(words) == len(set(words)) == 7
    assert words[0] == corpus.vocabulary[int(engine.topic_term_[0].argmax())]
    # topics are not all alike: documents do not all land on the same topic
    assert len(set(doc_topic.argmax(axis=1))) >= 3


@pytest.mark.parametrize("name", LOCAL)
def test_same_seed_same_model_different_seed_different_model(fitted, corpus, name):
    again = make_engine(name, k=5, seed=3, **FAST[name]).fit(corpus)
    np.testing.assert_array_equal(again.topic_term_, fitted[name].topic_term_)
    other = make_engine(name, k=5, seed=4, **FAST[name]).fit(corpus)
    assert not np.allclose(other.topic_term_, fitted[name].topic_term_)


@pytest.mark.parametrize("name", LOCAL)
def test_save_load_round_trip_gives_identical_transform(fitted, corpus, name, tmp_path):
    engine = fitted[name]
    engine.save(tmp_path / name)
    assert {p.name for p in (tmp_path / name).iterdir()} == {
        "topic_term.npy", "alpha.npy", "term_weights.npy", "engine.json"}  # 300: none picked
    loaded = Engine.load(tmp_path / name)
    assert type(loaded) is type(engine) and loaded.get_params() == engine.get_params()
    np.testing.assert_array_equal(loaded.transform(corpus.bow), engine.transform(corpus.bow))
    assert loaded.topics(10) == engine.topics(10)
    other = GensimLDA if name == "tomotopy" else TomotopyLDA
    with pytest.raises(InputError, match=name):
        other.load(tmp_path / name)


def test_transform_is_deterministic_and_independent_of_batch(fitted, corpus):
    engine = fitted["tomotopy"]
    whole = engine.transform(corpus.bow)
    np.testing.assert_array_equal(engine.transform(corpus.bow), whole)
    np.testing.assert_array_equal(engine.transform(corpus.bow[17:40]), whole[17:40])
    np.testing.assert_array_equal(engine.transform([corpus.bow[5]])[0], whole[5])
    for i in range(0, len(corpus.bow), 23):  # one document alone takes its own path
        np.testing.assert_array_equal(engine.transform([corpus.bow[i]])[0], whole[i])


def test_unknown_words_and_empty_documents_get_the_prior(fitted):
    engine = fitted["gensim"]
    vocab_size = engine.topic_term_.shape[1]
    result = engine.transform([[], [(vocab_size + 5, 3)]])
    expected = engine.alpha_ / engine.alpha_.sum()
    np.testing.assert_allclose(result, [expected, expected])


def test_fold_in_recovers_known_mixtures():
    # three topics over disjoint words: the posterior mean is exactly
    # (alpha + words drawn from topic k) / (sum(alpha) + words), close to the true mixture
    topic_term = np.zeros((3, 30))
    for k in range(3):
        topic_term[k, k * 10:(k + 1) * 10] = 0.1
    rng = np.random.default_rng(0)
    truth = rng.dirichlet([1, 1, 1], size=40)
    docs, per_topic = [], []
    for theta in truth:
        words = rng.choice(30, size=400, p=theta @ topic_term)
        ids, counts = np.unique(words, return_counts=True)
        docs.append(list(zip(ids.tolist(), counts.tolist(), strict=True)))
        per_topic.append(np.bincount(words // 10, minlength=3))
    estimate = fold_in(topic_term, np.full(3, 0.1), docs)
    np.testing.assert_allclose(estimate, (np.array(per_topic) + 0.1) / 400.3, atol=1e-3)
    assert np.abs(estimate - truth).max() < 0.15


@pytest.mark.parametrize("name", LOCAL)
def test_progress_is_reported_and_cancel_propagates(corpus, name):
    seen = []
    make_engine(name, k=3, seed=1, **FAST[name]).fit(
        corpus, progress=lambda done, total, message: seen.append((done, total, message)))
    assert seen[0][0] == 0 and seen[-1][0] == seen[-1][1]
    assert [d for d, _, _ in seen] == sorted(d for d, _, _ in seen)
    assert len(seen) >= 3

    def cancel(done: int, total: int, message: str) -> None:
        if done >= 1:
            raise Cancelled("stopped by the user")

    engine = make_engine(name, k=3, seed=1, **FAST[name])
    with pytest.raises(Cancelled, match="stopped by the user"):
        engine.fit(corpus, progress=cancel)
    assert not hasattr(engine, "topic_term_")


def test_registry_and_params_are_checked():
    assert DEFAULT_ENGINE in ENGINES and set(DEFAULTS) == set(ENGINES)
    for name, cls in ENGINES.items():
        assert cls().get_params().items() >= DEFAULTS[name].items()
    with pytest.raises(InputError, match="mallet"):
        make_engine("mallet")
    with pytest.raises(InputError, match="passes"):
        make_engine("tomotopy", passes=3)
    assert make_engine("gensim", k=7, passes=3).get_params()["passes"] == 3


def test_training_needs_words(corpus):
    empty = corpus.subset([])
    with pytest.raises(InputError, match="no words"):
        make_engine("gensim", k=2).fit(empty)


def test_idf_engine_keeps_its_term_weights_for_scoring(fitted, corpus):
    idf_engine = make_engine("tomotopy", k=5, seed=3, iterations=60, term_weight="idf").fit(corpus)
    df = np.zeros(len(corpus.dictionary))
    for doc in corpus.bow:
        df[[i for i, _ in doc]] += 1
    np.testing.assert_allclose(idf_engine.term_weights_, np.log(len(corpus) / df))
    plain = fold_in(idf_engine.topic_term_, idf_engine.alpha_, corpus.bow[:20])
    assert not np.allclose(idf_engine.transform(corpus.bow[:20]), plain)
    one_engine = make_engine("tomotopy", k=5, seed=3, iterations=60, term_weight="one")
    assert (one_engine.fit(corpus).term_weights_ == 1).all()
    assert (fitted["gensim"].term_weights_ == 1).all()


def test_compiled_and_numpy_fold_in_agree():
    """fold_in runs numba's loop from COMPILED_FROM documents on and numpy below: both
    must give the same proportions (what a campaign scores must not depend on how many
    were scored with it)."""
    import scipy.sparse as sp

    from core.model import engines
    from core.model.fold_kernel import fold_in_rows

    rng = np.random.default_rng(0)
    k, v, n = 12, 300, engines.COMPILED_FROM + 200
    phi = rng.dirichlet(np.full(v, 0.1), size=k)
    alpha = np.full(k, 0.1)
    counts = sp.random(n, v, density=0.03, random_state=1, format="csr",
                       data_rvs=lambda size: rng.integers(1, 4, size).astype(float))
    counts[5] = 0                                    # a campaign with no known word
    counts.eliminate_zeros()
    compiled = engines.fold_in(phi, alpha, counts)   # n >= COMPILED_FROM: numba
    vectorised = engines._fold_in_vectorised(phi, alpha, counts, 200, 1e-4)
    assert np.abs(compiled - vectorised).max() < 1e-12
    few = engines.fold_in(phi, alpha, counts[:50])   # below: numpy
    assert np.abs(few - compiled[:50]).max() < 1e-12
    np.testing.assert_allclose(compiled[5], alpha / alpha.sum())
    out = np.empty((3, k))
    fold_in_rows(counts.indptr[:4].astype(np.int64), counts.indices.astype(np.int64),
                 counts.data, np.ascontiguousarray(phi.T), alpha, 200, 1e-4, out)
    assert np.abs(out - compiled[:3]).max() < 1e-12


def test_encoder_vocabulary_is_built_once_and_follows_its_dictionary():
    """The vocabulary list is cached (pasted-keyword lookups read it), yet each call gives
    a list of its own, and a dictionary rebuilt (as `compactify` does) is seen at once."""
    from gensim.corpora import Dictionary

    from core.model.corpus import Encoder
    from core.model.text import TextConfig, Tokenizer

    dictionary = Dictionary([["heat", "pump"], ["drain", "cleaning"]])
    encoder = Encoder(Tokenizer(TextConfig()), dictionary)
    words = encoder.vocabulary
    assert words == [dictionary[i] for i in range(len(dictionary))]
    words.append("changed by a caller")
    assert encoder.vocabulary == words[:-1]
    dictionary.filter_tokens(bad_ids=[dictionary.token2id["pump"]])   # compacts: new ids
    assert encoder.vocabulary == [dictionary[i] for i in range(len(dictionary))]
    assert "pump" not in encoder.vocabulary and len(encoder.vocabulary) == 3


def test_transform_keeps_the_topics_part_and_follows_new_arrays(fitted, corpus):
    """`transform` keeps what it derives from the topics between calls (a pasted-keyword
    request no longer copies the topic matrix): the same figures as `fold_in` from the
    raw arrays, to the bit, and new fitted arrays are picked up, not the kept ones."""
    import copy

    engine = copy.deepcopy(fitted["tomotopy"])
    docs = corpus.bow[:30]
    first = engine.transform(docs)
    assert np.array_equal(first, fold_in(engine.topic_term_, engine.alpha_, docs,
                                         engine.term_weights_))
    assert np.array_equal(engine.transform(docs), first)      # from what it kept
    engine.term_weights_ = engine.term_weights_ * 2.0          # another array: rebuilt
    assert np.array_equal(engine.transform(docs), fold_in(
        engine.topic_term_, engine.alpha_, docs, engine.term_weights_))
    assert not np.array_equal(engine.transform(docs), first)


def test_tomotopy_is_imported_without_its_extensions_deprecation_warning() -> None:
    """tomotopy's compiled extension raises "DeprecationWarning: builtin type _VocabDict
    has no __module__ attribute" at import, shown in notebooks and test runs at the first
    fit; `engines.tomotopy()` imports it without that one message, and is the only place
    core imports it (a fresh interpreter: the import happens once per process)."""
    import re

    from tests.conftest import REPO, run_python

    code = ("import warnings; warnings.simplefilter('always')\n"
            "from core.model.engines import tomotopy\n"
            "tp = tomotopy(); print(tp.LDAModel.__name__)\n"
            "warnings.warn('still shown', DeprecationWarning)\n")
    out = run_python(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "LDAModel"
    assert "has no __module__" not in out.stderr
    assert "still shown" in out.stderr  # only that message is silenced, not the category
    imports = [f"{path.relative_to(REPO)}: {line.strip()}"
               for path in (REPO / "core").rglob("*.py")
               for line in path.read_text(encoding="utf-8").splitlines()
               if re.match(r"\s*(import tomotopy|from tomotopy)", line)]
    assert imports == ["core/model/engines.py: import tomotopy as tp"]

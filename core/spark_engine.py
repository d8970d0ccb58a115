"""The Spark engine: MLlib online LDA for training, the project's own fold-in for scoring.

Training (`train`) reads a dataset version as Parquet (`core.spark_export`), tokenises
each bucket of campaigns inside Spark tasks with the project's own `Tokenizer` and
`campaign_rows` (so tokens and weighting are those of a local run), builds the
vocabulary with `CountVectorizer` (explicit `minDF`/`maxDF`/`vocabSize` from the text
settings), fits `LDA(optimizer="online")`, normalises `topicsMatrix` to K x V and
registers the same artifact as the local engines (`engine: spark` in the manifest).
Metrics are measured locally on a sample of campaigns (`TrainSpec.sample`).

Scoring (`score`) folds every campaign in inside Spark tasks with `core.engines.fold_in`
and the model's encoder, the topic-word matrix broadcast, so Spark and local scoring give
the same fingerprints; they are written back in one transaction.

Differences from a local run, by design: the tokenizer's language and bigram phrases are
learned on the sample (identical when the dataset is no larger than the sample); the
held-out campaigns are chosen by a hash of their id, not a random draw; and when more
words pass the filters than `keep_n`, `vocabSize` keeps the most frequent by count
(gensim keeps those in most documents).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from core import spark_session
from core.engines import SparkLDA, fold_in
from core.errors import InputError

Progress = Callable[[int, int, str], None]
TaskHook = Callable[[pd.DataFrame], None]

_FOLD_BATCH = 1000


# --- training from a dataset version -------------------------------------------------------

def train(spec, progress: Progress | None = None, *, sweep_id: str | None = None):
    """Train a Spark model on a whole dataset version and register it (see module doc)."""
    from core import datasets, metrics, registry, spark_export
    from core.corpus import Encoder
    from core.train import _STAGES, _TOTAL, TrainResult, _noop, _stage, engine_params

    progress = progress or _noop
    info = datasets.get(spec.dataset, spec.version)
    engine = SparkLDA(k=spec.k, **spec.params)
    engine.check_params()  # bad params fail before any work
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    progress(0, _TOTAL, f"Starting Spark for {info.label}…")
    session = spark_session.get(engine.master)
    timings["spark_start"], clock = _lap(clock)

    progress(1, _TOTAL, f"Exporting {info.label} to Parquet…")
    path = spark_export.export(info.name, info.version)
    timings["export"], clock = _lap(clock)

    cut = round(spec.heldout_share * 1000)
    sample = _sample_rows(info.name, info.version, spec.sample, spec.text.weight_by)
    tokenizer = _fit_tokenizer(sample, spec.text)
    tokenize = _stage(progress, 2, _STAGES["tokenize"] - 2)
    docs, n_docs, vocabulary, dfs = spark_session.run_job(
        session, "tokenise and count",
        lambda: _vocabulary(session, str(path), tokenizer, spec.text), tokenize, 14)
    timings["tokenize"], clock = _lap(clock)

    try:
        # One partition per core: online LDA starts a job per mini-batch, and small
        # tasks cost more in scheduling than they save.
        features = docs.filter(docs.fold >= cut).coalesce(
            session.sparkContext.defaultParallelism)
        fit = _stage(progress, _STAGES["tokenize"], _STAGES["fit"])
        topic_term, alpha, ran_on = engine.fit_frame(session, features.select("features"), fit)
        n_train = int(spark_session.run_job(session, "count", features.count))
    finally:
        docs.unpersist()
    if not np.isfinite(topic_term).all() or (topic_term.sum(axis=1) <= 0).any():
        raise InputError("the corpus has no words to train on")
    engine.topic_term_ = topic_term / topic_term.sum(axis=1, keepdims=True)
    engine.alpha_ = np.broadcast_to(alpha, (spec.k,)).copy()
    engine.term_weights_ = np.ones(len(vocabulary))
    engine.vocabulary_ = list(vocabulary)
    engine.fit_seconds_, clock = _lap(clock)
    engine.fit_info_ = {**ran_on, "documents": n_train, "heldout_share": spec.heldout_share,
                        "parquet": path.name}
    timings["fit"] = engine.fit_seconds_

    progress(_TOTAL - _STAGES["evaluate"], _TOTAL, "Measuring coherence and perplexity on a "
             f"sample of {min(spec.sample, n_docs):,} campaigns…")
    encoder = Encoder(tokenizer, _dictionary(vocabulary, dfs, n_docs))
    train_sample, heldout_sample = _sample_corpora(sample, encoder, cut)
    scores = metrics.evaluate(engine, train_sample, heldout_sample if cut else None)
    scores.update(documents=n_train, vocabulary_size=len(vocabulary),
                  metrics_documents=len(train_sample))
    timings["evaluate"], clock = _lap(clock)
    progress(_TOTAL, _TOTAL, "Saving the model…")
    model_id = registry.register(
        engine=engine, engine_name="spark", encoder=encoder,
        params={"k": spec.k, **engine_params(engine)}, dataset=info.name,
        version=info.version, dataset_hash=info.content_hash, metrics=scores,
        timings={k: round(v, 3) for k, v in timings.items()}, sweep_id=sweep_id)
    return TrainResult(model_id, info.name, info.version, "spark", spec.k, scores, timings)


def _lap(since: float) -> tuple[float, float]:
    now = time.perf_counter()
    return now - since, now


def _sample_rows(name: str, version: int, campaigns: int, weight_by: str | None
                 ) -> pd.DataFrame:
    """Term rows of up to `campaigns` campaigns picked by a hash of their id (the same
    campaigns every time), in import order, with their held-out `fold`."""
    from core import spark_export, store

    weight = f", {weight_by}" if weight_by else ""
    with store.connect(read_only=True) as con:
        return con.sql(
            "WITH picked AS (SELECT DISTINCT campaign_id FROM terms WHERE dataset = $name AND "
            "version = $version AND term IS NOT NULL ORDER BY hash(campaign_id || '#sample'), "
            "campaign_id LIMIT $n) "
            f"SELECT campaign_id, term{weight}, {spark_export.FOLD_SQL} AS fold FROM terms "
            "JOIN picked USING (campaign_id) WHERE dataset = $name AND version = $version "
            "AND term IS NOT NULL ORDER BY source_file, source_line",
            params={"name": name, "version": version, "n": int(campaigns)},
        ).to_arrow_table().to_pandas()


def _fit_tokenizer(sample: pd.DataFrame, text):
    """The tokenizer fitted (language, phrases) on the sample's campaigns, as Corpus does."""
    from core.corpus import campaign_rows
    from core.text import Tokenizer

    if sample.empty:
        raise InputError("the dataset has no terms to train on")
    rows = campaign_rows(sample, text.weight_by)
    grouped: list[list[str]] = [[] for _ in rows.ids]
    for pos, term in zip(rows.positions, rows.terms, strict=True):
        grouped[pos].append(term)
    return Tokenizer(text).fit(grouped)


def _tokenize_bucket(tokenizer_state: dict[str, Any], weight_by: str | None,
                     frame: pd.DataFrame) -> pd.DataFrame:
    """Inside a Spark task: the weighted tokens of every campaign in one bucket of rows."""
    from core.corpus import campaign_rows
    from core.text import Tokenizer

    frame = frame.sort_values(["source_file", "source_line"], kind="stable")
    rows = campaign_rows(frame, weight_by)
    _, weighted = rows.documents(Tokenizer.from_dict(tokenizer_state))
    folds = frame.drop_duplicates("campaign_id").set_index("campaign_id")["fold"]
    return pd.DataFrame({"campaign_id": rows.ids,
                         "fold": folds.reindex(rows.ids).to_numpy(dtype=np.int32),
                         "tokens": weighted})


def _vocabulary(session, path: str, tokenizer, text):
    """(cached documents with count vectors, documents, vocabulary, document frequencies)."""
    from pyspark.ml.feature import CountVectorizer
    from pyspark.sql import functions as F

    state, weight_by = tokenizer.to_dict(), text.weight_by

    def tokenize(frame: pd.DataFrame) -> pd.DataFrame:
        return _tokenize_bucket(state, weight_by, frame)

    terms = session.read.parquet(path)
    docs = terms.groupBy("bucket").applyInPandas(
        tokenize, schema="campaign_id string, fold int, tokens array<string>").cache()
    n_docs = docs.count()
    max_df = int(text.no_above * n_docs)  # gensim's bound: int(no_above * documents)
    if max_df < text.no_below:
        raise InputError(
            f"no words are left after the vocabulary filters ({n_docs} documents, "
            f"no_below={text.no_below}, no_above={text.no_above}): lower no_below or "
            "raise no_above")
    vectorizer = CountVectorizer(inputCol="tokens", outputCol="features",
                                 minDF=float(text.no_below), maxDF=float(max_df),
                                 vocabSize=int(text.keep_n))
    model = vectorizer.fit(docs)
    vocabulary = list(model.vocabulary)
    if not vocabulary:
        raise InputError(
            f"no words are left after the vocabulary filters ({n_docs} documents, "
            f"no_below={text.no_below}, no_above={text.no_above}): lower no_below or "
            "raise no_above")
    kept = session.createDataFrame([(w,) for w in vocabulary], "word string")
    counted = (docs.select(F.explode(F.array_distinct("tokens")).alias("word"))
               .join(F.broadcast(kept), "word").groupBy("word").count().collect())
    dfs = {row["word"]: int(row["count"]) for row in counted}
    features = model.transform(docs).select("campaign_id", "fold", "features").cache()
    features.count()
    docs.unpersist()
    return features, n_docs, vocabulary, dfs


def _dictionary(words: list[str], dfs: dict[str, int], num_docs: int):
    """A gensim Dictionary over `words` in this order, as `Encoder.load` rebuilds one."""
    from gensim.corpora import Dictionary

    dictionary = Dictionary()
    dictionary.token2id = {w: i for i, w in enumerate(words)}
    dictionary.dfs = {i: int(dfs.get(w, 0)) for i, w in enumerate(words)}
    dictionary.cfs = {}
    dictionary.num_docs = int(num_docs)
    return dictionary


def _sample_corpora(sample: pd.DataFrame, encoder, cut: int):
    """(training, held-out) Corpus of the sampled campaigns over the model's vocabulary."""
    from core.corpus import Corpus, campaign_rows

    parts = []
    for frame in (sample[sample["fold"] >= cut], sample[sample["fold"] < cut]):
        rows = campaign_rows(frame, encoder.tokenizer.config.weight_by)
        tokens, weighted = rows.documents(encoder.tokenizer)
        bow = [encoder.dictionary.doc2bow(doc) for doc in weighted]
        parts.append(Corpus(rows.ids, tokens, bow, encoder.dictionary, encoder.tokenizer))
    return parts[0], parts[1]


# --- batch scoring -------------------------------------------------------------------------

def score(model_id: str | None = None, progress: Progress | None = None, *,
          master: str | None = None, task_hook: TaskHook | None = None) -> dict[str, Any]:
    """Fingerprint every campaign of a model's dataset version in Spark tasks and store
    them in one transaction (the previous fingerprints stay if anything fails).

    `task_hook(frame)` runs in every task before its campaigns are folded in (tests use
    it to make a job fail).
    """
    from core import auth, registry, spark_export
    from core import score as local_score

    auth.require("score")
    model_id = registry.resolve(model_id)
    model = registry.load(model_id)
    dataset = model.manifest["dataset"]
    timings: dict[str, float] = {}
    started = clock = time.perf_counter()
    session = spark_session.get(master)
    timings["spark_start"], clock = _lap(clock)
    path = spark_export.export(dataset["name"], int(dataset["version"]))
    timings["export"], clock = _lap(clock)
    state = session.sparkContext.broadcast({
        "tokenizer": model.encoder.tokenizer.to_dict(), "words": model.vocabulary,
        "topic_term": model.engine.topic_term_, "alpha": model.engine.alpha_,
        "term_weights": model.engine.term_weights_})
    terms = session.read.parquet(str(path))

    def fold_bucket(frame: pd.DataFrame) -> pd.DataFrame:
        return _fold_in_bucket(state.value, frame, task_hook)

    scored = terms.groupBy("bucket").applyInPandas(
        fold_bucket, schema="campaign_id string, weights array<double>, oov_share double")
    try:
        table = spark_session.run_job(session, "fold-in", scored.toArrow, progress)
    finally:
        state.destroy()
    timings["fold_in"], clock = _lap(clock)
    ids = table.column("campaign_id").to_pylist()
    k = model.k
    flat = table.column("weights").combine_chunks().values.to_numpy(zero_copy_only=False)
    weights = flat.reshape(len(ids), k).astype(np.float32) if ids else np.empty((0, k))
    oov = table.column("oov_share").to_numpy(zero_copy_only=False)
    local_score.store_fingerprints(model_id, ids, weights, oov, {"engine": "spark"})
    timings["write"], clock = _lap(clock)
    seconds = time.perf_counter() - started
    return {"model_id": model_id, "dataset": dataset["name"], "version": dataset["version"],
            "campaigns": len(ids), "seconds": round(seconds, 3),
            "campaigns_per_second": round(len(ids) / seconds, 1) if seconds else None,
            "engine": "spark", "ran_on": spark_session.describe(session),
            "timings": {key: round(value, 3) for key, value in timings.items()}}


def _fold_in_bucket(state: dict[str, Any], frame: pd.DataFrame,
                    task_hook: TaskHook | None = None) -> pd.DataFrame:
    """Inside a Spark task: fingerprints of one bucket's campaigns, exactly as local
    scoring computes them (same encoder, same `fold_in`; results do not depend on batch)."""
    from core.corpus import Encoder
    from core.text import Tokenizer

    if task_hook is not None:
        task_hook(frame)
    frame = frame.sort_values(["source_file", "source_line"], kind="stable")
    encoder = Encoder(Tokenizer.from_dict(state["tokenizer"]),
                      _dictionary(state["words"], {}, 0))
    ids, counts, oov = encoder.encode_frame(frame, as_matrix=True)
    weights = np.empty((len(ids), len(state["alpha"])))
    for start in range(0, len(ids), _FOLD_BATCH):
        stop = start + _FOLD_BATCH
        weights[start:stop] = fold_in(state["topic_term"], state["alpha"], counts[start:stop],
                                      state["term_weights"])
    return pd.DataFrame({"campaign_id": ids, "weights": list(weights), "oov_share": oov})

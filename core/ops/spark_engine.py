"""The Spark engine: MLlib online LDA for training, the project's own fold-in for scoring.

Training (`train`) reads a dataset version as Parquet (`core.data.spark_export`), tokenises
each bucket of campaigns inside Spark tasks with the project's own `Tokenizer` and
`campaign_rows` (so tokens and weighting are those of a local run), builds the
vocabulary with `CountVectorizer` (explicit `minDF`/`maxDF`/`vocabSize` from the text
settings), fits `LDA(optimizer="online")`, normalises `topicsMatrix` to K x V and
registers the same artifact as the local engines (`engine: spark` in the manifest).
Metrics are measured locally on a sample of campaigns (`TrainSpec.sample`), coherence
over the whole sample (held-out campaigns too), as a local run's and the gate's.

Scoring (`score`) folds every campaign in inside Spark tasks with `core.model.engines.fold_in`
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
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from core.errors import InputError, counted
from core.memory import releases_memory
from core.model import spark_session, term_vectors
from core.model.engines import SparkLDA, fold_in, split_hidden
from core.progress import Progress, part

if TYPE_CHECKING:
    from core.serve.score import ScoreResult

TaskHook = Callable[[pd.DataFrame], None]



# --- training from a dataset version -------------------------------------------------------

@spark_session.holds
def train(spec, progress: Progress | None = None, *, sweep_id: str | None = None):
    """Train a Spark model on a whole dataset version and register it (see module doc)."""
    with ExitStack() as exports:  # the export stays until its last job (`exported`)
        return _train(spec, progress, sweep_id, exports)


def _train(spec, progress: Progress | None, sweep_id: str | None, exports: ExitStack):
    from core.data import datasets, spark_export
    from core.model import metrics
    from core.model.corpus import Encoder
    from core.ops.train import (
        _STAGES,
        _TOTAL,
        TrainResult,
        _noop,
        _stage,
        engine_params,
        size_warnings,
    )
    from core.serve import registry

    progress = progress or _noop
    info = datasets.get(spec.dataset, spec.version)
    engine = SparkLDA(k=spec.k, **spec.params)
    engine.check_params()  # bad params fail before any work
    spark_export.check_export_dir()
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    session = spark_session.get(engine.master, progress)
    timings["spark_start"], clock = _lap(clock)

    location = exports.enter_context(spark_export.exported(
        info.name, info.version, session,
        lambda writes: progress(1, _TOTAL, exporting(info.label, writes))))
    timings["export"], clock = _lap(clock)

    cut = round(spec.heldout_share * 1000)
    sample = _sample_rows(info.name, info.version, spec.sample, spec.text.weight_by)
    tokenizer = _fit_tokenizer(sample, spec.text)
    tokenize = _stage(progress, 2, _STAGES["tokenize"] - 2)
    docs, n_docs, vocabulary, dfs, dropped = spark_session.run_job(
        session, "tokenise and count",
        lambda: _vocabulary(session, location, tokenizer, spec.text), tokenize, 14)
    timings["tokenize"], clock = _lap(clock)
    warnings = size_warnings(spec.k, n_docs, len(vocabulary))  # as a local run warns
    for warning in warnings:
        progress(_STAGES["tokenize"], _TOTAL, f"Warning: {warning}")

    with spark_session.cleaning_up(docs.unpersist):
        features, n_train, cut = _training_rows(session, docs, cut)
        if cut == 0 and spec.heldout_share:
            warnings.append(_ALL_HELD_OUT.format(n=n_docs))
            progress(_STAGES["tokenize"], _TOTAL, f"Warning: {warnings[-1]}")
        fit = _stage(progress, _STAGES["tokenize"], _STAGES["fit"])
        topic_term, alpha, ran_on = engine.fit_frame(session, features.select("features"),
                                                     n_train, fit)
    if not np.isfinite(topic_term).all() or (topic_term.sum(axis=1) <= 0).any():
        raise InputError("the corpus has no words to train on")
    engine.topic_term_ = topic_term / topic_term.sum(axis=1, keepdims=True)
    engine.alpha_ = np.broadcast_to(alpha, (spec.k,)).copy()
    engine.term_weights_ = np.ones(len(vocabulary))
    engine.vocabulary_ = list(vocabulary)
    engine.fit_seconds_, clock = _lap(clock)
    engine.fit_info_ = {**ran_on, "documents": n_train,
                        "heldout_share": spec.heldout_share if cut else 0.0,
                        "parquet": location.rsplit("/", 1)[-1]}
    timings["fit"] = engine.fit_seconds_

    progress(_TOTAL - _STAGES["evaluate"], _TOTAL, "Measuring coherence and perplexity on a "
             f"sample of {min(spec.sample, n_docs):,} campaigns…")
    encoder = Encoder(tokenizer, _dictionary(vocabulary, dfs, n_docs), dropped)
    train_sample, heldout_sample = _sample_corpora(sample, encoder, cut)
    # word2vec reads at most term_vectors.MAX_TOKENS tokens: the local sample is enough
    encoder.word_similarity, encoder.word_vectors = term_vectors.learn_for(
        train_sample.tokens, encoder.vocabulary, spec.text.soft_terms, spec.text.word_vectors)
    # the words each topic shows are picked on the same local sample
    engine.shown_words_ = engine.pick_shown_words(train_sample)
    # No campaign hashed into the held-out share (a small dataset): no perplexity, rather
    # than a NaN that made the model "hold non-finite metrics" and unable to serve.
    scores = metrics.evaluate(engine, train_sample,
                              heldout_sample if cut and len(heldout_sample) else None,
                              reference=_whole(train_sample, heldout_sample))
    scores.update(documents=n_train, vocabulary_size=len(vocabulary),
                  metrics_documents=len(train_sample))
    timings["evaluate"], clock = _lap(clock)

    # The encoded counts of every campaign (saved with the model, as local engines do,
    # and kept as Parquet for scoring in Spark) and the dataset's brand/place words.
    model_id = registry.new_model_id("spark", spec.k)
    counts_at = spark_export.counts_location(model_id)
    engine.fit_info_["counts"] = counts_at   # so deleting the model removes them
    try:
        counts = spark_session.run_job(
            session, "encode counts",
            lambda: _write_counts(session, location, encoder, counts_at),
            _stage(progress, _TOTAL - _STAGES["evaluate"], _STAGES["evaluate"] - 1), 2)
        encoder.dictionary.cfs = _corpus_frequencies(counts)
        words = _name_words(counts, encoder, info)
        timings["counts"], clock = _lap(clock)
        progress(_TOTAL, _TOTAL, "Saving the model…")
        timings = {k: round(v, 3) for k, v in timings.items()}  # shown as stored, as train's
        model_id = registry.register(
            engine=engine, engine_name="spark", encoder=encoder,
            params={"k": spec.k, **engine_params(engine)}, dataset=info.name,
            version=info.version, dataset_hash=info.content_hash, metrics=scores,
            timings=timings, sweep_id=sweep_id,
            model_id=model_id, counts=counts, name_words=words.to_dict())
    except BaseException:
        spark_session.quietly(lambda: spark_export.HadoopFS(session).delete(counts_at))
        raise
    return TrainResult(model_id, info.name, info.version, "spark", spec.k, scores, timings,
                       warnings + metrics.explain(scores, spec.k),
                       language=encoder.tokenizer.language_)


def exporting(label: str, writes: bool) -> str:
    """The export step's line: whether the version is written as Parquet or a finished
    export of it is reused (every run said "Exporting …", also when it wrote nothing)."""
    if writes:
        return f"Exporting {label} to Parquet for Spark…"
    return f"Reusing the export of {label} to Parquet (written by an earlier run)…"


_ALL_HELD_OUT = ("every one of the {n} campaigns fell in the held-out share (it is chosen "
                 "by a hash of the campaign id): trained on all of them, perplexity not "
                 "measured; import more campaigns for a held-out measure")


def _training_rows(session, docs, cut: int):
    """(the training campaigns' rows, how many, the fold cut used). The held-out
    campaigns are those whose id hashes below `cut`; in a small dataset that can be every
    one, and MLlib's LDA then failed with "empty collection": train on all instead."""
    # One partition per core: online LDA starts a job per mini-batch, and small tasks
    # cost more in scheduling than they save.
    parallelism = session.sparkContext.defaultParallelism
    features = docs.filter(docs.fold >= cut).coalesce(parallelism)
    n_train = int(spark_session.run_job(session, "count", features.count))
    if n_train == 0 and cut:
        return _training_rows(session, docs, 0)
    return features, n_train, cut


COUNTS_SCHEMA = ("campaign_id string, first_file string, first_line int, indices array<int>, "
                 "counts array<double>, oov_share double")


def _encode_bucket(state: dict[str, Any], table):
    """Inside a Spark task: the encoded counts of one bucket's campaigns, exactly as
    `Encoder.encode_frame` gives them locally, with where each campaign first appears."""
    import pyarrow as pa

    from core.model.corpus import Encoder
    from core.model.text import Tokenizer

    frame = table.to_pandas().sort_values(["source_file", "source_line"], kind="stable")
    encoder = Encoder(Tokenizer.from_dict(state["tokenizer"]),
                      _dictionary(state["words"], {}, 0))
    ids, counts, oov = encoder.encode_frame(frame, as_matrix=True)
    first = frame.drop_duplicates("campaign_id").set_index("campaign_id").reindex(ids)
    offsets = pa.array(counts.indptr.astype(np.int32))
    return pa.table({
        "campaign_id": pa.array(ids, pa.string()),
        "first_file": pa.array(first["source_file"].to_numpy(), pa.string()),
        "first_line": pa.array(first["source_line"].to_numpy(dtype=np.int32)),
        "indices": pa.ListArray.from_arrays(offsets, pa.array(counts.indices.astype(np.int32))),
        "counts": pa.ListArray.from_arrays(offsets, pa.array(counts.data.astype(np.float64))),
        "oov_share": pa.array(np.asarray(oov, dtype=np.float64))})


def _encode_job(session, location: str, encoder, target: str) -> None:
    """Tokenise and encode every campaign in Spark tasks; write the counts to `target`."""
    state = {"tokenizer": encoder.tokenizer.to_dict(), "words": encoder.vocabulary}

    def encode(table):
        return _encode_bucket(state, table)

    (session.read.parquet(location).groupBy("bucket")
     .applyInArrow(encode, schema=COUNTS_SCHEMA)
     .write.mode("overwrite").parquet(target))


def _write_counts(session, location: str, encoder, target: str):
    """Encode every campaign in Spark (Parquet at `target`) and collect them as the
    model's `EncodedCounts`, in import order like a local run's."""
    from core.data import spark_export

    _encode_job(session, location, encoder, target)
    table = spark_export.read_arrow(session, target)
    return _counts_from_arrow(table.sort_by([("first_file", "ascending"),
                                             ("first_line", "ascending")]),
                              len(encoder.vocabulary))


def _counts_from_arrow(table, n_words: int):
    """EncodedCounts from the Arrow table of `COUNTS_SCHEMA` rows (no Python row loop)."""
    import scipy.sparse as sp

    from core.model.corpus import EncodedCounts

    ids = table.column("campaign_id").to_pylist()
    matrix = _csr(table.column("indices").combine_chunks(),
                  table.column("counts").combine_chunks(), n_words)
    oov = table.column("oov_share").to_numpy(zero_copy_only=False)
    return EncodedCounts(ids, sp.csr_matrix(matrix), np.asarray(oov, dtype=np.float64))


def _csr(indices, values, n_words: int):
    """A campaigns x words CSR matrix from two list<…> Arrow arrays of equal shape."""
    import scipy.sparse as sp

    offsets = indices.offsets.to_numpy()
    indptr = (offsets - offsets[0]).astype(np.int64)
    cols = indices.flatten().to_numpy(zero_copy_only=False).astype(np.int32)
    data = values.flatten().to_numpy(zero_copy_only=False).astype(np.float64)
    return sp.csr_matrix((data, cols, indptr), shape=(len(indices), n_words))


def _corpus_frequencies(counts) -> dict[int, int]:
    """Each word's weighted count over all campaigns (gensim's `cfs`, as a local run has)."""
    totals = np.asarray(counts.matrix.sum(axis=0)).ravel()
    return dict(enumerate(np.rint(totals).astype(np.int64).tolist()))


def _name_words(counts, encoder, info):
    """Brand and place words of the whole dataset version, as local training finds them."""
    from core.data import datasets
    from core.model import namewords

    campaigns = datasets.campaigns(info.name, info.version, counts.campaign_ids)
    return namewords.detect(counts.matrix, encoder.vocabulary,
                            campaigns["campaign_name"].tolist(), campaigns["account"].tolist(),
                            encoder.tokenizer)


def _lap(since: float) -> tuple[float, float]:
    now = time.perf_counter()
    return now - since, now


def _sample_rows(name: str, version: int, campaigns: int, weight_by: str | None
                 ) -> pd.DataFrame:
    """Term rows of up to `campaigns` campaigns picked by a hash of their id (the same
    campaigns every time), in import order, with their held-out `fold`."""
    from core.data import spark_export, store

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
    from core.model.corpus import campaign_rows
    from core.model.text import Tokenizer

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
    from core.model.corpus import campaign_rows
    from core.model.text import Tokenizer

    frame = frame.sort_values(["source_file", "source_line"], kind="stable")
    rows = campaign_rows(frame, weight_by)
    _, weighted = rows.documents(Tokenizer.from_dict(tokenizer_state))
    folds = frame.drop_duplicates("campaign_id").set_index("campaign_id")["fold"]
    return pd.DataFrame({"campaign_id": rows.ids,
                         "fold": folds.reindex(rows.ids).to_numpy(dtype=np.int32),
                         "tokens": weighted})


def _vocabulary(session, path: str, tokenizer, text):
    """(cached documents with count vectors, documents, vocabulary, document frequencies,
    the words the filters dropped and why)."""
    from pyspark.ml.feature import CountVectorizer

    from core.model.corpus import dropped_words, no_tokens, no_vocabulary

    state, weight_by = tokenizer.to_dict(), text.weight_by

    def tokenize(frame: pd.DataFrame) -> pd.DataFrame:
        return _tokenize_bucket(state, weight_by, frame)

    terms = session.read.parquet(path)
    docs = terms.groupBy("bucket").applyInPandas(
        tokenize, schema="campaign_id string, fold int, tokens array<string>").cache()
    n_docs = docs.count()
    max_df = int(text.no_above * n_docs)  # gensim's bound: int(no_above * documents)
    if max_df < text.no_below:
        raise InputError(no_vocabulary(n_docs, text))
    vectorizer = CountVectorizer(inputCol="tokens", outputCol="features",
                                 minDF=float(text.no_below), maxDF=float(max_df),
                                 vocabSize=int(text.keep_n))
    model = vectorizer.fit(docs)
    vocabulary = list(model.vocabulary)
    seen = _document_frequencies(docs)
    if not vocabulary:
        raise InputError(no_vocabulary(n_docs, text) if seen else no_tokens(n_docs, text))
    dfs = {w: seen.get(w, 0) for w in vocabulary}
    dropped = dropped_words(seen, set(vocabulary), text.no_above * n_docs)
    features = model.transform(docs).select("campaign_id", "fold", "features").cache()
    features.count()
    docs.unpersist()
    return features, n_docs, vocabulary, dfs, dropped


def _document_frequencies(docs) -> dict[str, int]:
    """Every word of the documents -> how many hold it, kept ones and filtered ones: the
    filtered ones are the model's `dropped` words, which Spark models did not save (their
    unknown words were all "never seen", and drift took words dropped as too common for
    new ones). Gathered as Arrow, not as a Row per word."""
    from pyspark.sql import functions as F

    table = (docs.select(F.explode(F.array_distinct("tokens")).alias("word"))
             .groupBy("word").count().toArrow())
    return dict(zip(table.column("word").to_pylist(), table.column("count").to_pylist(),
                    strict=True))


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
    from core.model.corpus import Corpus, campaign_rows

    parts = []
    for frame in (sample[sample["fold"] >= cut], sample[sample["fold"] < cut]):
        rows = campaign_rows(frame, encoder.tokenizer.config.weight_by)
        tokens, weighted = rows.documents(encoder.tokenizer)
        bow = [encoder.dictionary.doc2bow(doc) for doc in weighted]
        parts.append(Corpus(rows.ids, tokens, bow, encoder.dictionary, encoder.tokenizer))
    return parts[0], parts[1]


def _whole(train_part, heldout):
    """Both parts of the sample as one Corpus: coherence's reference texts, every sampled
    campaign of the version, as a local run's (`core.ops.train._cut`) and the quality
    gate's. Counted over the training part, a Spark model's NPMI in the Compare table
    (-0.0140) was not the gate's on the same version (-0.0150)."""
    from core.model.corpus import Corpus

    return Corpus(train_part.campaign_ids + heldout.campaign_ids,
                  train_part.tokens + heldout.tokens, train_part.bow + heldout.bow,
                  train_part.dictionary, train_part.tokenizer)


# --- batch scoring -------------------------------------------------------------------------

@releases_memory
@spark_session.holds
def score(model_id: str | None = None, progress: Progress | None = None, *,
          master: str | None = None, task_hook: TaskHook | None = None
          ) -> ScoreResult:
    """Fingerprint every campaign of a model's dataset version in Spark tasks and store
    them in one transaction (the previous fingerprints stay if anything fails).

    The tasks read the model's encoded counts as Parquet (`spark_export.counts_location`,
    written by Spark training; for other models the first Spark scoring tokenises the
    campaigns in Spark and writes them) and fold each Arrow batch in with one vectorised
    `fold_in` call, the topic-word matrix broadcast once. `task_hook(frame)` runs in every
    task before its campaigns are folded in (tests use it to make a job fail).
    """
    from core.data import spark_export
    from core.serve import registry
    from core.serve import score as local_score

    report = progress or (lambda done, total, message: None)
    report(0, _SCORE_STEPS, f"Loading model {model_id or 'production'}…")
    run = local_score.prepare(model_id)
    model_id, model, dataset = run.model_id, run.model, run.dataset
    spark_export.check_export_dir()
    session = spark_session.get(master, report)
    run.lap("spark_start")
    counts_at = spark_export.counts_location(model_id)
    fold_from = _SCORE_PHASES["ship"]
    with _counts_go_if_deleted(session, model_id, counts_at):
        if not spark_export.HadoopFS(session).exists(f"{counts_at}/_SUCCESS"):
            label = f"{dataset['name']} v{dataset['version']}"
            with spark_export.exported(dataset["name"], int(dataset["version"]), session,
                                       lambda writes: report(_SCORE_PHASES["export"],
                                                             _SCORE_STEPS,
                                                             exporting(label, writes))
                                       ) as location:
                run.lap("export")
                registry.record_counts(model_id, counts_at)  # so delete-model finds them
                _encode_into_place(session, location, model.encoder, counts_at, _part(
                    report, _SCORE_PHASES["encode"], _SCORE_PHASES["encoded"]))
            run.lap("encode")
            fold_from = _SCORE_PHASES["encoded"]
        report(fold_from, _SCORE_STEPS,
               f"Shipping the model ({model.k} topics x {len(model.vocabulary):,} words) to "
               f"Spark and reading its encoded counts at {counts_at}…")
        topic_term, alpha = model.engine.all_topics()   # hidden topics too, as locally
        state = session.sparkContext.broadcast({
            "topic_term": topic_term, "alpha": alpha,
            "term_weights": model.engine.term_weights_})
        n_words = len(model.vocabulary)

        def fold_batches(batches):
            yield from _fold_in_batches(state.value, n_words, batches, task_hook)

        def fold_in_job() -> None:   # reading the counts' schema is part of the job group
            counts = session.read.parquet(counts_at).select("campaign_id", "indices",
                                                            "counts", "oov_share")
            scored = counts.repartition(_partitions(session)).mapInArrow(
                fold_batches,
                schema="campaign_id string, weights array<double>, oov_share double")
            scored.write.mode("overwrite").parquet(scratch)

        # Written as Parquet and read back rather than collected (`spark_export.read_arrow`).
        scratch = spark_export.scratch_location(model_id)
        with spark_session.cleaning_up(state.destroy,
                                       lambda: spark_export.remove_scratch(session, scratch)):
            spark_session.run_job(session, "fold-in", fold_in_job,
                                  _part(report, fold_from, _SCORE_PHASES["read"]),
                                  _FOLD_IN_JOBS)
            report(_SCORE_PHASES["read"], _SCORE_STEPS, "Reading the fingerprints back…")
            table = spark_export.read_arrow(session, scratch)
        run.lap("fold_in")
        ids = table.column("campaign_id").to_pylist()
        width = len(alpha)
        flat = table.column("weights").combine_chunks().flatten().to_numpy(zero_copy_only=False)
        every = (flat.reshape(len(ids), width).astype(np.float32) if ids
                 else np.empty((0, width), dtype=np.float32))
        weights, hidden = split_hidden(every, model.k)
        oov = table.column("oov_share").to_numpy(zero_copy_only=False)
        # grouped here, as local scoring groups them, from counts saved with the model
        counts = registry.encoded_counts(model_id)
        groups = (None if counts is None else
                  local_score.find_groups(model_id, model, ids, every, counts))
        run.lap("groups")
        report(_SCORE_PHASES["write"], _SCORE_STEPS,
               f"Writing {len(ids):,} fingerprints to the store…")
        local_score.store_fingerprints(model_id, ids, weights, oov, {"engine": "spark"},
                                       hidden, groups)
        run.lap("write")
    report(_SCORE_STEPS, _SCORE_STEPS, f"Scored {counted(len(ids), 'campaign')} in Spark")
    return run.result(len(ids), "spark", spark_session.describe(session))


# Where each step of a Spark scoring starts on its bar of `_SCORE_STEPS`: the bar reaches
# the end only when the fingerprints are stored (the fold-in's own bar of several Spark
# jobs sat at 99.9% while later jobs, reading back and writing went on).
_SCORE_STEPS = 1000
_SCORE_PHASES = {"export": 10, "encode": 20, "encoded": 500, "ship": 20, "read": 900,
                 "write": 950}
_FOLD_IN_JOBS = 3     # reading the counts' schema, the shuffle's map stage, the write
_ENCODE_JOBS = 3      # listing the export, the shuffle's map stage, the write


def _part(progress: Progress, start: int, end: int) -> Progress:
    """A job's own progress mapped onto [start, end] of the scoring's bar."""
    return part(progress, start, end, _SCORE_STEPS)


def _encode_into_place(session, location: str, encoder, counts_at: str,
                       progress: Progress | None) -> None:
    """Encode every campaign into a scratch folder of this run, then move it to
    `counts_at` (`spark_export.move_into_place`): two `score --engine spark` of one model
    into one export dir both wrote `counts_at` itself in overwrite mode, each deleting
    the files the other was writing or reading."""
    from core.data import spark_export

    scratch = spark_export.scratch_location(f"counts-{counts_at.rsplit('/', 1)[-1]}")
    with spark_session.cleaning_up(lambda: spark_export.remove_scratch(session, scratch)):
        spark_session.run_job(session, "encode counts",
                              lambda: _encode_job(session, location, encoder, scratch),
                              progress, _ENCODE_JOBS)
        spark_export.move_into_place(session, scratch, counts_at)


@contextmanager
def _counts_go_if_deleted(session, model_id: str, counts_at: str) -> Iterator[None]:
    """A model deleted while Spark scores it: the delete removed the counts where they
    were, but the encode job could write them after it (scoring then failed with
    "deleted while it was being scored" and they stayed, recorded nowhere), and a job
    that found them gone failed with pyspark's `[PATH_NOT_FOUND] Path does not exist`.
    Either way the counts go and the error says the model was deleted."""
    from core.data import spark_export
    from core.errors import NotFoundError

    try:
        yield
    except Exception as err:
        if _registered(model_id):
            raise
        spark_session.quietly(lambda: spark_export.HadoopFS(session).delete(counts_at))
        if isinstance(err, NotFoundError):
            raise
        raise NotFoundError(f"Model {model_id} was deleted while it was being scored."
                            ) from err


def _registered(model_id: str) -> bool:
    from core.errors import NotFoundError
    from core.serve import registry

    try:
        registry.get(model_id)
    except NotFoundError:
        return False
    return True


def _partitions(session) -> int:
    """Fold-in tasks: two per core, so a slow task does not hold the others up, and few
    enough that each Arrow batch is thousands of campaigns."""
    return 2 * session.sparkContext.defaultParallelism


def _fold_in_batches(state: dict[str, Any], n_words: int, batches,
                     task_hook: TaskHook | None = None):
    """Inside a Spark task: fingerprints of each Arrow batch of encoded counts, with one
    `fold_in` call per batch (results do not depend on the batch: local scoring's)."""
    import pyarrow as pa

    for batch in batches:
        if task_hook is not None:
            task_hook(batch.to_pandas())
        counts = _csr(batch.column("indices"), batch.column("counts"), n_words)
        weights = fold_in(state["topic_term"], state["alpha"], counts, state["term_weights"])
        k = weights.shape[1]
        offsets = pa.array(np.arange(0, (len(batch) + 1) * k, k, dtype=np.int32))
        yield pa.RecordBatch.from_arrays(
            [batch.column("campaign_id"), pa.ListArray.from_arrays(offsets, pa.array(
                weights.ravel())), batch.column("oov_share")],
            names=["campaign_id", "weights", "oov_share"])

"""Fingerprints: a campaign's topic distribution under a model.

Batch scoring folds every campaign of the model's dataset version in and stores the
fingerprints per (model, campaign) in one transaction; real-time scoring folds in the
keywords of a campaign that is not in the store, with the model's own text settings.
Both go through the same encoder and the same engine `transform`, so a stored campaign
re-scored from its own terms gets the same fingerprint.
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from core import jsonable
from core.data import audit, auth, datasets, store
from core.errors import InputError, NotFoundError, counted, quoted
from core.memory import releases_memory
from core.model.campaign_model import Fingerprint, fit_index, fold_in_keyword_lists, read_words
from core.model.corpus import EncodedCounts
from core.model.engines import join_hidden, split_hidden
from core.plain_text import first_hidden, given_id
from core.progress import Progress, part
from core.serve import registry

# A fingerprint's confidence is its strongest topic weight; below this the model is unsure
# which topic the campaign is about (the Review queue lists it, drift counts such campaigns).
LOW_CONFIDENCE = 0.3
# A campaign with at least this share on topics its model keeps hidden (`hidden_spares`)
# is mostly about what its shown fingerprint leaves out: Lookup and the Review queue say so.
MOSTLY_HIDDEN = 0.5
# Campaigns per fold-in call: small enough for one batch's working set to stay in the CPU
# cache (at K=50, batches of 1,000 folded in 1.8x faster than 16,000), and two threads
# fold batches in parallel (numpy and scipy release the GIL). A document's fingerprint
# does not depend on its batch, so the result is the same either way.
_BATCH = 1000
_THREADS = 2


@dataclass
class Fingerprints:
    """All stored fingerprints of one model, as arrays for fast neighbour search."""

    model_id: str
    campaign_ids: list[str]
    weights: np.ndarray            # N × K float32
    confidence: np.ndarray
    oov_share: np.ndarray
    hidden: np.ndarray | None = None   # N x S shares of hidden topics (`hidden_spares`)
    groups: np.ndarray | None = None   # N x sizes groups in the neighbour graph (int16)

    @property
    def for_neighbours(self) -> np.ndarray:
        """What a neighbour index ranks by: over every topic, hidden ones included."""
        return join_hidden(self.weights, self.hidden)

    def of(self, campaign_id: str) -> Fingerprint:
        """One stored campaign's fingerprint, with its weights over the hidden topics too
        (`Fingerprint.all_weights`) when the model has them."""
        row = self.index_of(campaign_id)
        one = slice(row, row + 1)
        return Fingerprint(
            np.asarray(self.weights[row], dtype=float), float(self.oov_share[row]),
            all_weights=None if self.hidden is None else join_hidden(
                np.asarray(self.weights[one], dtype=float), self.hidden[one])[0])

    def hidden_share(self, row: int) -> float:
        """The share of the campaign at `row` on hidden topics (`Fingerprint.hidden_share`;
        0 for a model without them)."""
        return 0.0 if self.hidden is None else float(self.hidden[row].sum())

    def index_of(self, campaign_id: str) -> int:
        try:
            return self._positions[given_id(campaign_id)]
        except KeyError:
            hint = datasets.campaign_case_hint(given_id(campaign_id), model_id=self.model_id)
            raise NotFoundError(f"No campaign {quoted(campaign_id)} in {self._data()}.{hint} "
                                "Search by name with `python -m core find`.") from None

    def _data(self) -> str:
        """"demo v2 (the data of model M)", as Lookup names it: a scored model has a
        fingerprint for every campaign of its data, so an id without one is not in it
        (`fingerprint C00042` under the shifted month's model said only "has no
        fingerprint under model M")."""
        row = registry.get(self.model_id)
        return f"{row['dataset']} v{row['version']} (the data of model {self.model_id})"

    def __post_init__(self) -> None:
        self._positions = {cid: i for i, cid in enumerate(self.campaign_ids)}

    def knows_no_word(self) -> np.ndarray:
        """Per campaign, whether the model knows no word of it (its fingerprint is the
        prior alone, as Sony's `amuelind_brand`'s): the Map clusters such campaigns apart
        and pickers mark them."""
        return ~(np.asarray(self.oov_share) < 1)   # 1: no word of it is in the vocabulary

    def without_known_words(self) -> frozenset[str]:
        """Ids of the campaigns the model knows no word of (`knows_no_word`)."""
        return frozenset(np.asarray(self.campaign_ids, dtype=object)[self.knows_no_word()])


@dataclass(frozen=True)
class ScoreResult:
    """What a batch scoring did: campaigns fingerprinted, how fast, and where the time went
    (`timings`, seconds per stage). Spark scoring adds `engine` and `ran_on`."""

    model_id: str
    dataset: str
    version: int
    campaigns: int
    seconds: float
    campaigns_per_second: float | None
    timings: dict[str, float]
    engine: str | None = None              # "spark" (local scoring does not say)
    ran_on: dict[str, Any] | None = None   # the Spark master and its cores

    def to_dict(self) -> dict[str, Any]:
        spark = {"engine": self.engine, "ran_on": self.ran_on} if self.engine else {}
        return {"model_id": self.model_id, "dataset": self.dataset, "version": self.version,
                "campaigns": self.campaigns, "seconds": self.seconds,
                "campaigns_per_second": self.campaigns_per_second, **spark,
                "timings": self.timings}


@dataclass
class ScoringRun:
    """A batch scoring under way (local or Spark): the model checked out, and a clock that
    splits the seconds into stages. `prepare` starts one, `result` ends it."""

    model_id: str
    model: registry.LoadedModel
    timings: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    def __post_init__(self) -> None:
        self._clock = self.started

    @property
    def dataset(self) -> dict[str, Any]:
        """The model's dataset (`name`, `version`)."""
        return self.model.manifest["dataset"]

    def lap(self, stage: str) -> None:
        """Book the seconds since the last lap to `stage`."""
        now = time.perf_counter()
        self.timings[stage], self._clock = now - self._clock, now

    def result(self, campaigns: int, engine: str | None = None,
               ran_on: dict[str, Any] | None = None) -> ScoreResult:
        seconds = time.perf_counter() - self.started
        return ScoreResult(self.model_id, self.dataset["name"], self.dataset["version"],
                           campaigns, round(seconds, 3),
                           round(campaigns / seconds, 1) if seconds else None,
                           {key: round(value, 3) for key, value in self.timings.items()},
                           engine, ran_on)


def prepare(model_id: str | None, model: registry.LoadedModel | None = None) -> ScoringRun:
    """Check the caller may score, resolve and load the model (`model`: loaded already),
    and start the clock: the start both local and Spark scoring share."""
    auth.require("score")
    model_id = registry.resolve(model_id)
    return ScoringRun(model_id, registry.loaded(model_id, model))


@releases_memory
def score_dataset(model_id: str | None = None, progress: Progress | None = None, *,
                  model: registry.LoadedModel | None = None) -> ScoreResult:
    """Fingerprint every campaign of the model's dataset version and store them atomically.

    The result's `timings` splits the seconds into reading the term rows, tokenising and
    encoding them, folding them in and writing the fingerprints. A model saved with its
    encoded counts (`registry.encoded_counts`) skips reading and encoding the rows.
    `model`: its artifact, when the caller loaded it (the pipeline gated with it).
    """
    report = progress or (lambda done, total, message: None)
    run = prepare(model_id, model)
    model, dataset = run.model, run.dataset
    saved = registry.encoded_counts(run.model_id)  # encoded at training time, when saved
    fold_from = 0
    if saved is not None:
        ids, counts, oov = saved.campaign_ids, saved.matrix, saved.oov_share
        run.lap("read")
        run.timings["encode"] = 0.0
    else:
        report(0, _STEPS, f"Reading and encoding the campaigns of {dataset['name']} "
                          f"v{int(dataset['version'])}…")
        fold_from = _PHASES["encoded"]
        # batch by batch (reading and encoding take turns), timed apart
        reading = _Timed(datasets.term_batches(dataset["name"], int(dataset["version"]),
                                               model.encoder.columns))
        ids, counts, oov = model.encoder.encode_batches(reading)
        run.lap("encode")
        run.timings["read"] = reading.seconds
        run.timings["encode"] -= reading.seconds
    every = _fold_in_batches(model, counts,
                             part(report, fold_from, _PHASES["groups"], _STEPS))
    run.lap("fold_in")
    encoded = saved or EncodedCounts(list(ids), counts, oov)
    report(_PHASES["groups"], _STEPS, "Grouping the campaigns by their nearest…")
    groups = find_groups(run.model_id, model, encoded.campaign_ids, every, encoded)
    run.lap("groups")
    report(_PHASES["write"], _STEPS, f"Writing {len(ids):,} fingerprints to the store…")
    weights, hidden = split_hidden(every, model.k)
    store_fingerprints(run.model_id, ids, weights, oov, hidden=hidden, groups=groups)
    if saved is None:  # kept with the model: Lookup and the next scoring need not encode
        with suppress(FileNotFoundError):  # the model was deleted meanwhile
            encoded.save(registry.model_dir(run.model_id))
    run.lap("write")
    report(_STEPS, _STEPS, f"Scored {counted(len(ids), 'campaign')}")
    return run.result(len(ids))


# Where each step of a local scoring starts on its bar of `_STEPS`: the bar reaches the
# end only once the fingerprints are stored (it reached 100% at the last fold-in batch,
# and then sat there while they were written), as Spark scoring's does.
_STEPS = 1000
_PHASES = {"encoded": 100, "groups": 900, "write": 950}


def find_groups(model_id: str, model: registry.LoadedModel, ids: Sequence[str],
                every: np.ndarray, counts: EncodedCounts) -> np.ndarray | None:
    """The campaigns' groups in the model's neighbour graph (`core.model.neighbor_groups`),
    in `ids` order: found once at scoring, from the same index Lookup and the service
    build, and stored with the fingerprints. `every`: fingerprints over every topic."""
    return fit_index(ids, every, counts, f"Model {model_id}", model.encoder, shown=model.k,
                     groups="find").groups_


class _Timed:
    """An iterator's items, with the seconds spent waiting for them in `seconds`."""

    def __init__(self, items: Iterator) -> None:
        self._items, self.seconds = items, 0.0

    def __iter__(self) -> Iterator:
        while True:
            start = time.perf_counter()
            item = next(self._items, _DONE)
            self.seconds += time.perf_counter() - start
            if item is _DONE:
                return
            yield item


_DONE = object()


def store_fingerprints(model_id: str, ids: Sequence[str], weights: np.ndarray,
                       oov: np.ndarray, details: dict | None = None,
                       hidden: np.ndarray | None = None,
                       groups: np.ndarray | None = None) -> None:
    """Replace a model's fingerprints in one transaction (local and Spark scoring):
    `weights` over the K topics shown, `hidden` the shares of its hidden topics (None:
    it has none), `groups` each campaign's groups (`find_groups`; None: not found)."""
    k = weights.shape[1]
    table = pa.table({
        "model_id": pa.array([model_id] * len(ids), pa.string()),
        "campaign_id": pa.array(list(ids), pa.string()),
        "weights": pa.FixedSizeListArray.from_arrays(pa.array(weights.ravel()), k),
        "confidence": pa.array(weights.max(axis=1) if len(ids) else [], pa.float32()),
        "oov_share": pa.array(np.asarray(oov).astype(np.float32)),
        "hidden": (pa.nulls(len(ids), pa.list_(pa.float32())) if hidden is None else
                   pa.FixedSizeListArray.from_arrays(
                       pa.array(np.asarray(hidden, dtype=np.float32).ravel()),
                       hidden.shape[1])),
        "groups": (pa.nulls(len(ids), pa.list_(pa.int16())) if groups is None else
                   pa.FixedSizeListArray.from_arrays(
                       pa.array(np.asarray(groups, dtype=np.int16).ravel()),
                       groups.shape[1])),
    })
    with store.transaction() as con:
        if con.execute("SELECT 1 FROM models WHERE model_id = ?", [model_id]).fetchone() is None:
            raise NotFoundError(f"Model {model_id} was deleted while it was being scored.")
        con.execute("DELETE FROM fingerprints WHERE model_id = ?", [model_id])
        con.register("incoming_fingerprints", table)
        con.execute("INSERT INTO fingerprints (model_id, campaign_id, weights, confidence, "
                    "oov_share, hidden, groups) SELECT model_id, campaign_id, "
                    "weights::FLOAT[], confidence, oov_share, hidden::FLOAT[], "
                    "groups::SMALLINT[] FROM incoming_fingerprints")
        con.unregister("incoming_fingerprints")
        audit.record(con, "score", model_id, {"campaigns": len(ids), **(details or {})})




def _fold_in_batches(model: registry.LoadedModel, counts, progress: Progress | None
                     ) -> np.ndarray:
    """N x (K + S) float32 proportions of the rows of a count matrix over every topic,
    hidden ones included (`Engine.transform_all`), batch by batch."""
    n = counts.shape[0]
    weights = np.empty((n, model.k + model.engine.hidden_topics), dtype=np.float32)
    starts = range(0, n, _BATCH)

    def fold(start: int) -> int:
        stop = min(start + _BATCH, n)
        weights[start:stop] = model.engine.transform_all(counts[start:stop])
        return stop

    pool = ThreadPoolExecutor(max_workers=_THREADS)
    try:
        for stop in pool.map(fold, starts):  # in order, so progress only moves forward
            if progress:
                progress(stop, n, f"Folded in {stop:,} of {n:,} campaigns")
    finally:  # a cancelled run (progress raised) drops the batches not yet started
        pool.shutdown(wait=True, cancel_futures=True)
    return weights


def unknown_of_stored(model: registry.LoadedModel, campaign_id: str) -> Fingerprint | None:
    """A stored campaign's words the model does not use, and why, read again from its
    term rows: a stored fingerprint keeps only their share (the CLI printed `oov_share`
    0.26 with `unknown_words: []`), also when the model knows none of them
    (`campaign_model.read_words`; `weights` is empty: the stored ones are the fingerprint).
    None when its terms hold no word."""
    info = model.manifest["dataset"]
    rows = store.query("SELECT term FROM terms WHERE dataset = ? AND version = ? AND "
                       "campaign_id = ? AND term IS NOT NULL ORDER BY source_file, source_line",
                       [info["name"], int(info["version"]), campaign_id])
    return read_words(model.encoder, rows["term"].astype(str).tolist())


def load_fingerprints(model_id: str) -> Fingerprints:
    """The stored fingerprints of a model (scored campaigns only), in campaign-id order."""
    with store.connect(read_only=True) as con:
        table = con.sql(
            "SELECT campaign_id, weights, confidence, oov_share, hidden, groups "
            "FROM fingerprints WHERE model_id = ? ORDER BY campaign_id", params=[model_id]
        ).to_arrow_table()
    if table.num_rows == 0:
        raise NotFoundError(f"Model {model_id} has no stored fingerprints yet: run "
                            f"`python -m core score {model_id}` or promote it.")
    weights = table.column("weights").combine_chunks()
    k = len(weights[0])
    matrix = weights.values.to_numpy(zero_copy_only=False).reshape(-1, k).astype(np.float32)
    return Fingerprints(model_id, table.column("campaign_id").to_pylist(), matrix,
                        table.column("confidence").to_numpy(),
                        table.column("oov_share").to_numpy(zero_copy_only=False),
                        _matrix_of(table, "hidden", np.float32),
                        _matrix_of(table, "groups", np.int16))


def _matrix_of(table: pa.Table, column: str, dtype: type) -> np.ndarray | None:
    """A list column every row has (hidden topics, groups) as an N x width matrix; None
    where rows lack it (a model without hidden topics, fingerprints stored before groups)."""
    values = table.column(column).combine_chunks()
    if values.null_count or not len(values):
        return None
    return values.values.to_numpy(zero_copy_only=False).reshape(len(values), -1).astype(dtype)


def is_scored(model_id: str) -> bool:
    row = store.query_one("SELECT count(*) FROM fingerprints WHERE model_id = ?", [model_id])
    return bool(row and row[0])


def fold_in(model: registry.LoadedModel, terms: Sequence[str]) -> Fingerprint:
    """Fingerprint of keywords that are not in the store (pasted, or from a file)."""
    result = fold_in_many(model, [terms])[0]
    if isinstance(result, InputError):
        raise result
    return result


def fold_in_many(model: registry.LoadedModel, keyword_lists: Sequence[Sequence[str]]
                 ) -> list[Fingerprint | InputError]:
    """`fold_in` of many new campaigns at once (the service's batches): one tokenizer pass
    over all their terms and one `transform` call. Each item is its fingerprint, or the
    InputError that `fold_in` would raise for it; a fingerprint does not depend on the
    other items."""
    return fold_in_keyword_lists(model.encoder, model.engine, keyword_lists,
                                 f"model {model.model_id}")


# Decimals of a topic weight in every answer (CLI, Lookup's JSON, the scoring service):
# the fingerprint's weights and its top topics' alike. Top topics had 4, so a weight read
# 0.00012 in the fingerprint and 0.0001 beside its name in the same answer. Five, not
# four: at K = 200 a topic's prior share is 0.005, and four decimals made the weak topics
# of a fingerprint equal (0.00012, 0.00011 and 0.0001 all read 0.0001). The Python API
# (`CampaignModel`, `Fingerprint.weights`) keeps every digit: its numbers are computed
# with, and they round to these. Token shares (`oov_share`, `unknown`'s) are no weights:
# they keep 4 decimals, a hundredth of a percent.
WEIGHT_DECIMALS = 5


def shown_weights(weights: Any) -> list[float]:
    """Topic weights (any shape, flattened) as answers show them: `[round(float(w),
    WEIGHT_DECIMALS) for w in weights]`, in numpy (`jsonable.rounded`)."""
    return jsonable.rounded(weights, WEIGHT_DECIMALS)


def top_topics(weights: Sequence[float] | np.ndarray, names: Sequence[str], n: int = 5
               ) -> list[dict]:
    """A fingerprint's `n` strongest topics, strongest first (ties by topic id), as the
    CLI, the Lookup answer and the scoring service print them."""
    return top_topics_many(np.asarray(weights, dtype=float)[None, :], names, n)[0]


def top_topics_many(weights: np.ndarray, names: Sequence[str], n: int = 5
                    ) -> list[list[dict]]:
    """`top_topics` of every row of an N x K matrix, in one sort (a batch of 1,000
    fingerprints spent a third of its time in numpy calls made row by row)."""
    weights = np.asarray(weights, dtype=float)
    order = np.argsort(-weights, axis=1, kind="stable")[:, :n]
    strongest = np.take_along_axis(weights, order, axis=1)
    strongest = np.reshape(shown_weights(strongest), strongest.shape).tolist()
    return [[{"topic": t, "name": names[t], "weight": w}
             for t, w in zip(topics, row, strict=True)]
            for topics, row in zip(order.tolist(), strongest, strict=True)]


def split_keywords(text: str) -> list[str]:
    """Pasted text -> keywords: one per line, or separated by commas, tabs or semicolons
    (full-width and Japanese ones too: NFKC first, then 、).

    A keyword holding a control or invisible character (a terminal's colour code ESC[31m,
    NUL, a zero-width space) is refused, naming it: it was kept in the keyword, so the
    word around it was unknown to every model and shown garbled."""
    text = unicodedata.normalize("NFKC", text)
    for sep in (";", "\t", ",", "、"):
        text = text.replace(sep, "\n")
    keywords = [line.strip() for line in text.splitlines() if line.strip()]
    if problem := first_hidden(keywords, "Keyword"):
        raise InputError(f"{problem}; paste plain text: one keyword per line, or separated "
                         "by commas.")
    return keywords

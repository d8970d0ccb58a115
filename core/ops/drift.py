"""Drift: how far a dataset version has moved from what the production model learned from.

Four measures, each with a threshold and a plain verdict:
- out-of-vocabulary share: the share of the version's tokens whose words the model has no
  vocabulary entry for and that are new or newly common: never seen in training, or seen
  there in fewer campaigns than the vocabulary's `no_below` and now in at least that many
  (0 on the training data itself). Not every word without an entry: the words the
  vocabulary filter dropped as too common, or that are as rare as they were, have a
  share that moves with which campaigns a version holds (Sony's exports without the five
  `nnc` campaigns rose from 0.11 to 0.30 with no new word at all), and a version that is
  a subset of training holds no word in more campaigns than training did;
- new terms that matter: the words that share counts, ranked by the volume they carry
  (impressions, else occurrences), to show *what* is new;
- topic-prevalence shift: Jensen–Shannon distance (base 2, 0..1) between the mean
  fingerprint of the training data and of the version;
- confidence: the share of campaigns whose strongest topic is weak (max weight below
  core.serve.score.LOW_CONFIDENCE), compared with the training data.
Retraining is recommended when any measure crosses its threshold.

Fingerprints here are over every topic, the hidden ones of a `hidden_spares` model
included (`Engine.transform_all`): a surge of campaigns in a theme the model keeps hidden
is a shift, and a campaign sure of a hidden theme is not one the model cannot place.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.spatial.distance import jensenshannon

from core.data import audit, auth, datasets, store
from core.errors import CLI, Controls, InputError, counted, plural
from core.model.corpus import EncodedCounts, Encoder, gc_paused
from core.model.text import Tokenizer
from core.serve import registry
from core.serve.score import LOW_CONFIDENCE
from core.testpause import pause

THRESHOLDS = {
    "oov_increase": 0.10,         # share of tokens of words new or newly common, no entry
    "topic_shift_js": 0.15,       # JS distance between mean fingerprints
    "low_confidence_increase": 0.15,  # absolute rise in the share of low-confidence campaigns
}

# The measures in words, with the value that crossed: the verdict said "topic shift js
# crossed the threshold", the key's spelling and no figure.
MEASURE_NAMES = {
    "oov_increase": "the rise in out-of-vocabulary words",
    "topic_shift_js": "the topic shift (Jensen-Shannon distance)",
    "low_confidence_increase": "the rise in low-confidence campaigns",
}


@dataclass
class DriftReport:
    model_id: str
    dataset: str
    version: int
    measures: dict[str, dict[str, Any]]
    new_terms: list[dict[str, Any]] = field(default_factory=list)
    confidence_histogram: dict[str, list[float]] = field(default_factory=dict)
    # whether `model_id` was production when the report was recorded (None: not recorded):
    # a promote while drift measured makes it False, the report that of the model measured
    against_production: bool | None = None

    @property
    def retrain_recommended(self) -> bool:
        return any(m["exceeded"] for m in self.measures.values())

    @property
    def verdict(self) -> str:
        if not self.retrain_recommended:
            return "No retraining needed: every measure is within its threshold."
        crossed = [f"{MEASURE_NAMES.get(name, name)} {m['value']:.2f} is above its threshold "
                   f"{m['threshold']:.2f}" for name, m in self.measures.items() if m["exceeded"]]
        return f"Retrain recommended: {'; '.join(crossed)}."

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "retrain_recommended": self.retrain_recommended,
                "verdict": self.verdict}


def _measure(value: float, threshold: float, baseline: float | None = None,
             current: float | None = None) -> dict[str, Any]:
    out = {"value": round(float(value), 4), "threshold": threshold,
           "exceeded": bool(value > threshold)}
    if baseline is not None:
        out["baseline"] = round(float(baseline), 4)
        out["current"] = round(float(current), 4)
    return out


class _WordTally:
    """Occurrences and volume of every word of some term rows, words in first-seen order.

    Counted per batch without a per-row Python loop (51.7M rows took minutes): each
    distinct term is tokenised once, its rows and volume are summed per term, and the
    terms' words add those sums with `np.bincount`. The figures equal a row-by-row,
    token-by-token count: occurrences are integers, and the volume is impressions (a
    BIGINT column), whole numbers whose float sums are exact in any order below 2**53.
    First-seen order is kept because it breaks ties in the ranking of new terms. Given
    the rows' campaigns, it also counts the campaigns each word occurs in (`campaigns`).
    """

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.rows = np.zeros(0, dtype=np.int64)
        self.volume = np.zeros(0, dtype=np.float64)
        self.campaigns = np.zeros(0, dtype=np.int64)

    def add(self, tokenizer: Tokenizer, terms: pd.Series, volume: np.ndarray,
            rows: np.ndarray | None = None, campaigns: pd.Series | None = None) -> None:
        """Count the words of these term rows (strings), each row weighing `volume`; with
        `rows`, each entry stands for that many rows and `volume` is their sum. With
        `campaigns` (each row's campaign id; every row of a campaign in this batch, as
        `datasets.term_batches` gives them), also the campaigns each word occurs in."""
        term_codes, unique_terms = pd.factorize(terms)   # distinct terms, first-seen order
        with gc_paused():
            per_term = tokenizer.tokenize_terms(unique_terms.tolist())
            lengths = np.fromiter(map(len, per_term), dtype=np.int64, count=len(per_term))
            flat = list(itertools.chain.from_iterable(per_term))
            del per_term
        word_codes, words = pd.factorize(pd.Series(flat, dtype=object))
        del flat
        # a term's first row comes before any later term's, so the flat tokens of the
        # distinct terms meet each word in the order the rows do
        index = self.index
        ids = np.fromiter((index.setdefault(w, len(index)) for w in words),
                          dtype=np.int64, count=len(words))
        owner = np.repeat(np.arange(len(lengths)), lengths)
        word_ids = ids[word_codes]
        term_rows = np.bincount(term_codes, weights=rows, minlength=len(lengths))
        term_volume = np.bincount(term_codes, weights=volume, minlength=len(lengths))
        size = len(index)
        occurrences = np.bincount(word_ids, weights=term_rows[owner], minlength=size)
        self.rows = _grown(self.rows, size) + np.rint(occurrences).astype(np.int64)
        self.volume = _grown(self.volume, size) + np.bincount(
            word_ids, weights=term_volume[owner], minlength=size)
        if campaigns is not None:
            self.campaigns = _grown(self.campaigns, size) + _campaigns_per_word(
                campaigns, term_codes, len(lengths), owner, word_ids, size)

    def counters(self) -> tuple[Counter[str], Counter[str], Counter[str]]:
        """(volume, occurrences, campaigns) per word, in first-seen order; campaigns are
        empty unless they were given."""
        words = list(self.index)
        campaigns = self.campaigns.tolist() if len(self.campaigns) == len(words) else []
        return (Counter(dict(zip(words, self.volume.tolist(), strict=True))),
                Counter(dict(zip(words, self.rows.tolist(), strict=True))),
                Counter(dict(zip(words, campaigns, strict=False))))


def _campaigns_per_word(campaigns: pd.Series, term_codes: np.ndarray, n_terms: int,
                        owner: np.ndarray, word_ids: np.ndarray, size: int) -> np.ndarray:
    """In how many of these campaigns each word occurs (rows: `term_codes`, the distinct
    terms' words: `word_ids` of term `owner`): a campaigns x terms times terms x words
    product, whose stored entries are the distinct (campaign, word) pairs."""
    campaign_codes, unique_campaigns = pd.factorize(campaigns)
    campaign_terms = sp.csr_matrix((np.ones(len(term_codes)), (campaign_codes, term_codes)),
                                   shape=(len(unique_campaigns), n_terms))
    term_words = sp.csr_matrix((np.ones(len(word_ids)), (owner, word_ids)),
                               shape=(n_terms, size))
    return np.bincount((campaign_terms @ term_words).indices, minlength=size)


def _grown(values: np.ndarray, size: int) -> np.ndarray:
    """`values` padded with zeros to `size` (words first met in a later batch)."""
    return np.pad(values, (0, size - len(values)))


def _profile(model: registry.LoadedModel, batches: Iterable[pd.DataFrame],
             counts: EncodedCounts | None = None) -> dict[str, Any]:
    """OOV share, mean fingerprint, confidences and per-token volume of some term rows,
    read batch by batch (`datasets.term_batches`, `_columns` are enough). `counts`: the
    rows already encoded (the model's own data, saved with it)."""
    tally = _WordTally()
    ids: list[str] = []
    parts = []
    for terms in batches:
        terms = terms[terms["term"].notna()]
        if counts is None:
            batch_ids, bows, _ = model.encoder.encode_frame(terms, as_matrix=True)
            ids += batch_ids
            parts.append(model.engine.transform_all(bows))
        volume = (pd.to_numeric(terms.get("impressions"), errors="coerce").fillna(0)
                  if "impressions" in terms else pd.Series(0, index=terms.index))
        tally.add(model.encoder.tokenizer, terms["term"].astype(str),
                  volume.to_numpy(dtype=np.float64), campaigns=terms["campaign_id"])
    if counts is not None:
        ids, parts = counts.campaign_ids, [model.engine.transform_all(counts.matrix)]
    return _summary(model, tally, np.vstack(parts), len(ids))


def _training_profile(model_id: str, model: registry.LoadedModel) -> dict[str, Any]:
    """`_profile` of the model's training data. With its encoded counts saved (at training
    or scoring) the fingerprints come from them and DuckDB counts the rows and impressions
    per distinct term, so the version is not read row by row. Its words then come in no
    particular order: of them a report uses only which words were seen and the OOV share,
    both the same in any order. A rebound model's topics were learnt on another version
    (`registry.learned_on`): that one is its training data, read row by row (the counts
    saved with it are of the version it answers)."""
    trained_on = registry.learned_on(model.manifest)
    name, version = trained_on["name"], int(trained_on["version"])
    rebound = "rebound_from" in model.manifest
    counts = None if rebound else registry.encoded_counts(model_id)
    if counts is None:
        return _profile(model, datasets.term_batches(name, version, _columns(model)))
    per_term = store.query(
        "SELECT term, count(*) AS n, coalesce(sum(impressions), 0)::DOUBLE AS volume "
        "FROM terms WHERE dataset = ? AND version = ? AND term IS NOT NULL GROUP BY term",
        [name, version])
    tally = _WordTally()
    tally.add(model.encoder.tokenizer, per_term["term"].astype(str),
              per_term["volume"].to_numpy(dtype=np.float64),
              per_term["n"].to_numpy(dtype=np.float64))
    return _summary(model, tally, model.engine.transform_all(counts.matrix),
                    len(counts.campaign_ids))


def _columns(model: registry.LoadedModel) -> list[str]:
    """The term-row columns a profile reads: the encoder's and the volume."""
    return list(dict.fromkeys([*model.encoder.columns, "impressions"]))


def _summary(model: registry.LoadedModel, tally: _WordTally, fingerprints: np.ndarray,
             campaigns: int) -> dict[str, Any]:
    """A profile from its word tally and its campaigns' fingerprints."""
    vocabulary = model.encoder.dictionary.token2id
    token_volume, token_rows, token_campaigns = tally.counters()
    known = np.fromiter(map(vocabulary.__contains__, tally.index), dtype=bool,
                        count=len(tally.index))
    total = int(tally.rows.sum())
    unknown_count = int(tally.rows[~known].sum())
    return {"oov_share": unknown_count / total if total else 1.0,
            "mean_fingerprint": fingerprints.mean(axis=0),
            "confidence": fingerprints.max(axis=1),
            "token_volume": token_volume, "token_rows": token_rows,
            "token_campaigns": token_campaigns, "campaigns": campaigns}


def unrepresented_words(version: dict[str, Any], seen: Collection[str],
                        encoder: Encoder) -> set[str]:
    """The words of a version's profile the model cannot represent that are new or newly
    common: no vocabulary entry, and never `seen` in training, or dropped there as too
    rare (in fewer campaigns than `no_below`) and now in at least that many. A word
    dropped as too common, or as rare as it was, is left out: a version that is a subset
    of training holds no word in more campaigns than training did."""
    vocabulary, dropped = encoder.dictionary.token2id, encoder.dropped
    no_below = encoder.tokenizer.config.no_below
    return {word for word, campaigns in version["token_campaigns"].items()
            if word not in vocabulary and (word not in seen or (
                dropped.get(word) == "too rare" and campaigns >= no_below))}


def word_share(rows: Counter[str], words: Collection[str]) -> float:
    """The share of the occurrences in `rows` (word -> occurrences) of `words`; 1.0 for a
    version without a single word to read."""
    total = sum(rows.values())
    if not total:
        return 1.0
    return sum(n for word, n in rows.items() if word in words) / total


def topic_shift(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon distance (base 2, in [0, 1]) of two mean fingerprints. scipy's
    `jensenshannon` takes the square root of a divergence that rounding can leave a hair
    below zero, which gives NaN for two nearly equal fingerprints (a version against
    itself, read in batches): a NaN measure never crosses its threshold."""
    with np.errstate(invalid="ignore"):
        distance = jensenshannon(p, q, base=2)
    return 0.0 if np.isnan(distance) and np.allclose(p, q, rtol=0, atol=1e-12) \
        else float(distance)


def check_same_dataset(model_id: str, dataset: str, other_dataset: bool = False,
                       controls: Controls = CLI) -> None:
    """Refuse to measure a dataset against a model trained on another one unless asked to:
    the store has one production model, and against a model of `demo` every measure of
    `sony` crosses its threshold, which says the datasets differ, not that `sony` moved.
    (The pipeline skips that check for the same reason.) `controls`: how the message
    names the confirmation (the Monitor page's own box, or the CLI's flags)."""
    trained_on = registry.get(model_id)["dataset"]
    if trained_on != dataset and not other_dataset:
        raise InputError(
            f"Model {model_id} was trained on dataset {trained_on!r}, not {dataset!r}: drift "
            f"against it would measure how unlike the two datasets are, not how {dataset!r} "
            f"moved: {controls.drift_other_dataset}.")


def drift_report(dataset: str, version: int | None = None,
                 model_id: str | None = None, *, other_dataset: bool = False,
                 model: registry.LoadedModel | None = None,
                 controls: Controls = CLI) -> DriftReport:
    """Compare a dataset version with the training data of a model (default: production)
    of the same dataset; `other_dataset=True` allows a model of another one. `model`: its
    artifact, when the caller loaded it already (the pipeline gates with it next)."""
    model_id = registry.resolve(model_id)
    info = datasets.get(dataset, version)
    check_same_dataset(model_id, info.name, other_dataset, controls)
    model = registry.loaded(model_id, model)
    base = _training_profile(model_id, model)
    new = _profile(model, datasets.term_batches(info.name, info.version, _columns(model)))

    low_base = float((base["confidence"] < LOW_CONFIDENCE).mean())
    low_new = float((new["confidence"] < LOW_CONFIDENCE).mean())
    shift = topic_shift(base["mean_fingerprint"], new["mean_fingerprint"])
    unrepresented = unrepresented_words(new, base["token_rows"], model.encoder)
    oov = word_share(new["token_rows"], unrepresented)
    measures = {
        "oov_increase": _measure(oov, THRESHOLDS["oov_increase"], 0.0, oov),
        "topic_shift_js": _measure(shift, THRESHOLDS["topic_shift_js"]),
        "low_confidence_increase": _measure(low_new - low_base,
                                            THRESHOLDS["low_confidence_increase"], low_base,
                                            low_new),
    }
    use_volume = sum(new["token_volume"].values()) > 0
    ranking = new["token_volume"] if use_volume else new["token_rows"]
    unseen = Counter({w: v for w, v in ranking.items() if w in unrepresented})
    new_terms = [{"word": w, "volume": v, "rows": new["token_rows"][w],
                  "campaigns": new["token_campaigns"][w]} for w, v in unseen.most_common(20)]
    bins = np.linspace(0, 1, 11)
    histogram = {"bins": bins.round(2).tolist(),
                 "training": np.histogram(base["confidence"], bins)[0].tolist(),
                 "version": np.histogram(new["confidence"], bins)[0].tolist()}
    return DriftReport(model_id, info.name, info.version, measures, new_terms, histogram)


def record(report: DriftReport) -> None:
    """Keep a report so the Monitor page can chart drift over versions.

    Its model is checked in the transaction that writes: measuring takes seconds (minutes
    on millions of rows), and a `delete-model` in another process meanwhile would leave a
    report of a model that no longer exists. Whether that model is production is read
    there too (`against_production`): a promote meanwhile leaves the report the measured
    model's, out of the new production's chart."""
    auth.require("score")
    pause("drift_record")  # the window: the model was loaded, the report not yet written
    with store.transaction() as con:
        registry.get_in(con, report.model_id, deleted_meanwhile=(
            f"while drift was measured against it, so no report of {report.dataset} "
            f"v{report.version} was recorded"))
        production = con.execute(
            "SELECT model_id FROM aliases WHERE alias = 'production'").fetchone()
        report.against_production = (production is not None
                                     and production[0] == report.model_id)
        con.execute(
            "INSERT INTO drift_reports VALUES (?, ?, ?, ?, ?, ?)",
            [report.model_id, report.dataset, report.version, json.dumps(report.to_dict()),
             report.retrain_recommended, audit.now()],
        )
        audit.record(con, "drift", f"{report.dataset} v{report.version}",
                     {"model_id": report.model_id,
                      "retrain_recommended": report.retrain_recommended})


def check(dataset: str, version: int | None = None,
          model_id: str | None = None, *, other_dataset: bool = False,
          model: registry.LoadedModel | None = None, controls: Controls = CLI) -> DriftReport:
    """Measure drift and record it: what the Monitor page, the CLI and the pipeline run.
    The role is checked first: an account manager waited for the whole measurement
    (minutes on millions of rows) to be refused when it was to be recorded."""
    auth.require("score")
    report = drift_report(dataset, version, model_id, other_dataset=other_dataset,
                          model=model, controls=controls)
    record(report)
    return report


def history(dataset: str, model_id: str | None = None) -> pd.DataFrame:
    """The latest stored report per version of a dataset, one row per measure: against
    `model_id`, or else against the production model of its time (the Monitor page's
    chart). A check against another model (`drift --model candidate`) took a version's
    place in that chart when it came last, though it says nothing of production; reports
    recorded before that was known count as production's. `model_deleted` marks reports
    of a model deleted since (`kept_reports`)."""
    frame = store.query(
        "SELECT model_id, version, report, created_at, model_id NOT IN (SELECT model_id FROM "
        "models) AS model_deleted FROM drift_reports WHERE dataset = ? "
        "AND (? IS NULL OR model_id = ?) ORDER BY version, created_at DESC",
        [dataset, model_id, model_id])
    rows, done = [], set()
    for rec in frame.itertuples():
        report = json.loads(rec.report)
        if rec.version in done or (model_id is None
                                   and not report.get("against_production", True)):
            continue
        done.add(rec.version)
        for name, m in report["measures"].items():
            rows.append({"model_id": rec.model_id, "version": rec.version, "measure": name,
                         "value": m["value"], "threshold": m["threshold"],
                         "exceeded": m["exceeded"], "model_deleted": rec.model_deleted})
    return pd.DataFrame(rows)



def kept_reports(model_id: str) -> int:
    """How many drift reports were recorded against `model_id`. A delete keeps them: they
    are the history of how the data moved (a former production model's checks are the
    Monitor chart's points for those versions), shown marked as of a deleted model; no
    report is recorded against a model once it is deleted (`record`), so after a delete
    this count no longer changes."""
    row = store.query_one("SELECT count(*) FROM drift_reports WHERE model_id = ?",
                          [model_id])
    return int(row[0]) if row else 0


def kept_sentence(model_id: str) -> str:
    """What a delete tells of the drift reports it kept ("" when none)."""
    kept = kept_reports(model_id)
    return (f"Its {counted(kept, 'drift check')} {plural(kept, 'stays', 'stay')} in the Monitor "
            "page's history, marked as of a deleted model." if kept else "")


def deleted(model_ids: Collection[str]) -> set[str]:
    """Those of `model_ids` the registry no longer holds (deleted since their reports)."""
    return {m for m, shown in registry.marked_deleted(model_ids).items() if shown != m}


def checks_of_other_models(dataset: str) -> dict[str, int]:
    """Per model, how many stored reports of a dataset were checked against a model that
    was not production at the time (`drift --model M`), newest first: `history` leaves
    them out, and the Monitor page said "no drift checks recorded" over them."""
    frame = store.query(
        "SELECT model_id, report FROM drift_reports WHERE dataset = ? "
        "ORDER BY created_at DESC", [dataset])
    counts: Counter[str] = Counter()
    for rec in frame.itertuples():
        if not json.loads(rec.report).get("against_production", True):
            counts[rec.model_id] += 1
    return dict(counts)

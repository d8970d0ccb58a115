"""LDA engines behind one small interface, and the fold-in that scores new documents.

An engine learns `topic_term_` (K x V, rows sum to 1, columns in the corpus dictionary's
id order) and a document-topic prior `alpha_` (length K). Everything after training —
scoring campaigns, pasted keywords, held-out perplexity — goes through `fold_in`, one
vectorised routine shared by all engines, so a saved model scores identically whichever
engine made it, and needs only the saved arrays.

An engine trained with per-word weights (tomotopy `term_weight="idf"`) also keeps those
weights, and the fold-in weighs a document's counts the same way, so scoring agrees with
training (measured on BBC: 94.7% same top topic as the sampler's own training
assignments with weights, 93.1% without).

Artifacts are plain files: `topic_term.npy`, `alpha.npy`, `term_weights.npy` and
`engine.json` (engine name, params, vocabulary in column order, fit info). No pickles.
"""

from __future__ import annotations

import inspect
import json
import math
import numbers
import os
import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import numpy as np
import scipy.sparse as sp

from core.errors import InputError, listed, plural, shown
from core.model import shown_words, spark_session
from core.progress import Progress

Bow = Sequence[tuple[int, int | float]]

# Two cores are shared by everyone on these machines; tomotopy's PARTITION scheme with
# a fixed number of workers is deterministic for a given seed (COPY_MERGE is not).
_WORKERS = max(1, min(2, os.cpu_count() or 1))

# ---------------------------------------------------------------------------------------
# Default settings, chosen by measurement: OCTIS BBC News, K=20, 2-core machine, NPMI / TD
# as mean over seeds (the full table of what was tried is in bench/quality.py):
#   tomotopy Gibbs, IDF term weights, eta 0.1, alpha 0.05 fixed, 1300 it  <- the default:
#       0.125 / 0.92 on seeds 0-5 (range 0.102-0.147), 0.117 / 0.93 on seeds 6-11;
#       0.121 over all 12 seeds; ~18 CPU s = ~10 s wall when idle; M10 0.041 / 0.82
#   the same with alpha 0.1, 1000 it: 0.119 / 0.93 (seeds 0-5), 0.117 / 0.92 (6-11);
#       0.118 over 12 seeds in ~14 CPU s; M10 0.035 / 0.82. The two differ by less than
#       the seed spread; the default is the one whose 12-seed mean reaches the 0.12 target.
#   tomotopy Gibbs, plain counts, eta 0.01, alpha optimised (library default): 0.118 / 0.83
#   gensim LdaModel 10 passes x 50 it: 0.073 / 0.76 in 5-7 s (the OCTIS 1 pass: 0.012 / 0.60)
# IDF weights lift diversity (shared everyday words like "year", "people" stop topping
# many topics) and a larger eta (0.1) keeps NPMI up; re-optimising alpha (optim_interval)
# lowered NPMI with IDF. On the 3,000-campaign demo ad corpus the same settings give the
# same neighbour purity as plain counts (0.63 same-vertical @10), and on the real Sony
# keyword exports they separate the products cleanly.
# spare_share (core/model/spare_topics.py) and diversify stay off: both lift NPMI and
# diversity, and both lower the neighbour answers a little (docs/benchmarks.md).
# hidden_spares keeps the neighbours, but the spares it hides are themes too: on the demo
# at K = 50 + 20, 9 / 3 / 3 of its 46 verticals had no topic shown (seeds 0-2,
# `bench/hidden_spares.py`).
DEFAULT_ENGINE = "tomotopy"


def tomotopy() -> Any:
    """The tomotopy module, imported without the DeprecationWarning its compiled extension
    raises at import ("builtin type _VocabDict has no __module__ attribute", from
    CPython's import machinery: a type the extension defines, not anything we call). It
    showed in notebooks and test runs at every first fit; only that message is silenced."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"builtin type \w+ has no __module__ "
                                r"attribute", category=DeprecationWarning)
        import tomotopy as tp
    return tp
# How much data a topic needs. LDA estimates a topic from the campaigns that use it: with
# fewer than ~3 campaigns per topic, topics become fragments of single campaigns (the
# demo trains well at 3,000 / 50 = 60). 3 is what the sweep's own objective picks on
# small samples (`bench/small_k.py`: 16-120 campaigns of the demo, BBC News and M10 and
# the 16 Sony exports; its picks hold 1.5-5 per topic, median ~3, where the vocabulary
# allows). It was 5, never measured: there it gave lower NPMI than 3 on 7 of the 10
# samples where the two differ (equal on 16 M10 titles, higher on 30 BBC articles and on
# 60 M10 titles, whose 47 words limit K). Each topic is shown and scored by its top 10
# words: with fewer than 10 words per topic those lists must overlap, and below 7 per
# topic diversity cannot reach the 0.7 floor of sweeps. Training warns below either
# (`size_warnings`: `train`, the Train page and `CampaignModel.fit`), and spare topics never
# take a corpus below them.
CAMPAIGNS_PER_TOPIC = 3
WORDS_PER_TOPIC = 10
MIN_K, MAX_K = 2, 500  # the K a model may have (the Train page's input takes the same)


def size_warnings(k: int, campaigns: int, vocabulary: int | None = None) -> list[str]:
    """Why K may be too large for the data (see CAMPAIGNS_PER_TOPIC), in words."""
    notes = []
    if campaigns < CAMPAIGNS_PER_TOPIC * k:
        notes.append(
            f"K = {k} topics for {campaigns:,} campaigns is a lot: LDA needs several "
            f"campaigns per topic (at least ~{CAMPAIGNS_PER_TOPIC}), so expect topics that "
            f"are fragments of single campaigns and a poor NPMI. "
            f"{_smaller_k(k, campaigns // CAMPAIGNS_PER_TOPIC, 'import more campaigns')}")
    if vocabulary is not None and vocabulary < WORDS_PER_TOPIC * k:
        notes.append(
            f"The vocabulary has {vocabulary:,} words for {k} topics: each topic is shown "
            f"by its top {WORDS_PER_TOPIC} words, which must then repeat across topics. "
            + _smaller_k(k, vocabulary // WORDS_PER_TOPIC,
                         "loosen the vocabulary filters (keep rarer words)",
                         also="or loosen the vocabulary filters (keep rarer words)"))
    return notes


def fitting_k(k: int, campaigns: int, vocabulary: int | None = None) -> int:
    """The largest K up to `k` that `campaigns` hold at CAMPAIGNS_PER_TOPIC per topic (and,
    when given, a `vocabulary` at WORDS_PER_TOPIC words per topic), never below MIN_K: the
    K `size_warnings` advises, for a dataset no one chose a K for."""
    fits = campaigns // CAMPAIGNS_PER_TOPIC
    if vocabulary is not None:
        fits = min(fits, vocabulary // WORDS_PER_TOPIC)
    return max(MIN_K, min(k, fits))


def fewer_topics(k: int) -> int:
    """The K to try when K topics repeat each other's top words: 2/3 of it, at least MIN_K
    (the step for a K no one chose, `core.model.fitted_k`; on the demo's verticals
    alone it lifted every first model below the diversity floor above it in one to three
    steps, `bench/diversity_floor.py`)."""
    return max(MIN_K, round(k * 2 / 3))


def _smaller_k(k: int, fits: int, otherwise: str, also: str = "") -> str:
    """Advice towards the K the data fits, or, when K is already the smallest (`MIN_K`),
    what else to do (advising "K <= 2" to a K = 2 model helped no one)."""
    if max(MIN_K, fits) < k:
        return f"Try K <= {max(MIN_K, fits)}{' ' + also if also else ''}."
    return f"K = {k} is already the smallest: {otherwise}."


DEFAULTS: dict[str, dict[str, Any]] = {
    "tomotopy": {"k": 20, "alpha": 0.05, "eta": 0.1, "iterations": 1300, "seed": 0,
                 "term_weight": "idf", "rm_top": 0, "optim_interval": 0, "burn_in": 0,
                 "workers": _WORKERS, "diversify": False, "spare_share": 0.0,
                 "hidden_spares": False, "shown_words": "coherent"},
    "gensim": {"k": 20, "alpha": "symmetric", "eta": None, "passes": 10, "iterations": 50,
               "seed": 0, "chunksize": 2000, "decay": 0.5, "offset": 1.0,
               "shown_words": "coherent"},
    # Spark MLlib online LDA (core/ops/spark_engine.py): alpha/eta None = MLlib's 1/K; master
    # None = TOPICLAB_SPARK_MASTER, else local[*]. Whole-corpus mini-batches and a short
    # learning offset: 15 iterations recovered planted word groups exactly, where MLlib's
    # own defaults (5% mini-batches, offset 1024) still mixed them after 40. Mini-batches
    # stop growing at batch_documents: past it each iteration reads a random share of the
    # corpus, so fitting costs the same at 1M campaigns as at 50,000 (docs/spark.md).
    "spark": {"k": 20, "iterations": 15, "seed": 0, "alpha": None, "eta": None,
              "subsampling_rate": 1.0, "batch_documents": 50_000,
              "learning_offset": 10.0, "learning_decay": 0.51,
              "optimize_alpha": True, "master": None, "shown_words": "coherent"},
    # Biterm topic model (bitermplus) for short documents: alpha/eta are BTM's corpus-level
    # topic prior (None = the paper's 50/K) and word prior; a background topic takes the
    # corpus-wide frequent words (measured on M10, K=20, 200 it: NPMI 0.125 / TD 0.69 with
    # it, 0.097 / 0.64 without); fold_alpha is the per-topic prior mass of the fold-in.
    "btm": {"k": 20, "alpha": None, "eta": 0.01, "iterations": 200, "seed": 0, "window": 15,
            "background": True, "fold_alpha": 0.05, "shown_words": "coherent"},
}
_T, _G, _D, _B = (DEFAULTS["tomotopy"], DEFAULTS["gensim"], DEFAULTS["spark"],
                  DEFAULTS["btm"])
# The named values gensim accepts instead of a number (its default first: the Train page
# offers them in this order).
GENSIM_NAMED = {"alpha": ("symmetric", "asymmetric", "auto"), "eta": ("symmetric", "auto")}


# Whole-number parameters and their allowed range (inclusive), for every engine.
_WHOLE: dict[str, tuple[int, int]] = {
    "iterations": (1, 100_000), "passes": (1, 10_000), "seed": (0, 2**32 - 1),
    "chunksize": (1, 10_000_000), "rm_top": (0, 100_000), "optim_interval": (0, 100_000),
    "burn_in": (0, 100_000), "workers": (1, 256), "progress_every": (1, 100_000),
    "window": (2, 100_000), "batch_documents": (1, 10**9),
}
# Real parameters: (low, high), low excluded. alpha/eta are Dirichlet priors (> 0);
# gensim's and MLlib's learning-rate decay must be in (0.5, 1] and offset tau_0 > 0.
_REAL: dict[str, tuple[float, float]] = {
    "alpha": (0.0, 1e6), "eta": (0.0, 1e6), "decay": (0.5, 1.0),
    "offset": (0.0, 1e6), "learning_offset": (0.0, 1e6), "learning_decay": (0.5, 1.0),
    "subsampling_rate": (0.0, 1.0), "fold_alpha": (0.0, 1e6), "spare_share": (0.0, 1.0),
}
_LOW_INCLUDED = {"decay", "spare_share"}  # gensim's default decay is 0.5 itself; 0 spares
_TERM_WEIGHTS = {"one", "idf", "pmi"}


def is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_param(engine: str, name: str, value: Any) -> None:
    """One training parameter: finite, of the right kind, in its range; else an
    InputError naming the parameter and the value. Here in the model layer so that the
    notebook's `CampaignModel` checks as `TrainSpec` does (an alpha of -1 aborted the
    whole process inside tomotopy; NaN trained a model of NaN fingerprints)."""
    if name in _WHOLE:
        if value is None and name == "batch_documents":
            return  # no cap: every mini-batch is subsampling_rate of the corpus
        low, high = _WHOLE[name]
        if not (isinstance(value, numbers.Integral) and not isinstance(value, bool)
                and low <= value <= high):
            raise InputError(f"{name} must be a whole number from {low:,} to {high:,}, "
                             f"not {shown(value)}.")
    elif name in _REAL:
        low, high = _REAL[name]
        if value is None and engine != "tomotopy" and name in ("alpha", "eta"):
            return  # the library's own default (gensim eta, MLlib's 1/K)
        if engine == "gensim" and ((value is None and name == "eta") or (
                isinstance(value, str) and value in GENSIM_NAMED.get(name, ()))):
            return
        if isinstance(value, str):
            named = sorted(GENSIM_NAMED.get(name, ())) if engine == "gensim" else []
            words = f" or one of {named}" if named else ""
            raise InputError(f"{engine} needs a number{words} for {name}, not {shown(value)}.")
        if not is_number(value) or not math.isfinite(value):
            raise InputError(f"{name} must be a finite number, not {shown(value)}.")
        inclusive = name in _LOW_INCLUDED
        if not (low <= value <= high if inclusive else low < value <= high):
            relation = "at least" if inclusive else "greater than"
            raise InputError(f"{name} must be {relation} {low:g} and at most {high:g}, "
                             f"not {shown(value)}.")
    elif name == "master" and not _blank(value):   # blank: TOPICLAB_SPARK_MASTER, local[*]
        spark_session.check_master(value, "master")
    elif name == "hidden_spares" and not isinstance(value, bool):
        raise InputError(f"hidden_spares must be True or False, not {shown(value)}.")
    elif name == "shown_words" and value not in shown_words.CHOICES:
        raise InputError(f"shown_words must be one of {list(shown_words.CHOICES)}, not "
                         f"{shown(value)}.")
    elif name == "term_weight" and value not in _TERM_WEIGHTS:
        raise InputError(f"term_weight must be one of {sorted(_TERM_WEIGHTS)}, not {shown(value)}.")


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def check_params(engine: str, params: Mapping[str, Any]) -> None:
    """Every training parameter (`check_param`), then those that only work together:
    `hidden_spares` without `spare_share` trained a model with no spares, silently."""
    for name, value in params.items():
        check_param(engine, name, value)
    default = DEFAULTS.get(engine, {}).get("spare_share")
    if params.get("hidden_spares") and not params.get("spare_share", default):
        raise InputError(f"hidden_spares keeps the spare topics that spare_share trains: "
                         f"give spare_share above 0 as well (0.4 suggested), not "
                         f"{shown(params.get('spare_share', 0.0))}, or leave hidden_spares "
                         "off.")


@dataclass(frozen=True)
class Setting:
    """One engine setting a person tunes before training, as a form shows it. Its default
    is the engine's `DEFAULTS` entry (`default_of`); `low`/`high` are the form's bounds,
    inside what `core.ops.train.check_param` accepts (a test checks)."""

    name: str                        # the engine parameter
    label: str
    kind: str                        # "int", "float", "bool", "choice" or "text"
    low: float | None = None
    high: float | None = None
    step: float | None = None
    choices: tuple[Any, ...] = ()    # kind "choice", first = the default
    help: str | None = None
    format: str | None = None        # printf format of a float
    fallback: Callable[[], Any] | None = None  # what a None default means right now

    def resolve(self, value: Any) -> Any:
        """The value a form starts from: `value`, or the fallback's when it is None."""
        return self.fallback() if value is None and self.fallback else value

    def default_of(self, engine: str) -> Any:
        return self.resolve(DEFAULTS[engine][self.name])


# Which words each topic shows, offered for every engine.
_SHOWN_WORDS = Setting(
    "shown_words", "Words each topic shows", "choice", choices=shown_words.CHOICES,
    help="coherent: of each topic's 20 most probable words, the 10 most used together in "
         "the same campaigns, from 1,000 training campaigns (clearer topic lists; the "
         "topics, fingerprints and similar campaigns are the same). probable: its 10 most "
         "probable words (docs/models.md).")

# What the Train page offers per engine (the others keep their DEFAULTS; the CLI and the
# API take any of them as params).
SETTINGS: dict[str, tuple[Setting, ...]] = {
    "tomotopy": (
        Setting("iterations", "Gibbs iterations", "int", 10, 5000, 50),
        Setting("alpha", "alpha", "float", 0.001, 10.0, format="%.3f"),
        Setting("eta", "eta", "float", 0.001, 1.0, format="%.3f"),
        Setting("spare_share", "Spare topics (share of K)", "float", 0.0, 1.0, 0.1,
                format="%.1f",
                help="Train this share of K more topics (0.4 suggested), then keep the K "
                     "whose top words are the most coherent and distinct: clearer topics, "
                     "similar campaigns a little less precise (docs/models.md). 0: exactly K."),
        Setting("hidden_spares", "Keep spares for neighbours", "bool",
                help="With spare topics: keep the spares instead of dropping them, hidden "
                     "from topic lists and fingerprints, so that similar campaigns are "
                     "ranked by them too (as precise as without spares; docs/models.md)."),
        Setting("diversify", "Diversify topics", "bool",
                help="After training, merge topics that share their top words and re-split "
                     "another (K stays); kept only where neither topic diversity nor coherence "
                     "falls and one of them rises. Off by default: see docs/models.md."),
        _SHOWN_WORDS),
    "gensim": (
        Setting("passes", "Passes", "int", 1, 100),
        Setting("iterations", "Iterations per pass", "int", 10, 1000),
        Setting("alpha", "alpha", "choice", choices=GENSIM_NAMED["alpha"]), _SHOWN_WORDS),
    "spark": (
        Setting("iterations", "Online LDA iterations", "int", 1, 500),
        Setting("master", "Spark master", "text", fallback=spark_session.master,
                help="local[*] runs on this machine; spark://host:7077, yarn or k8s://… on "
                     "a cluster (default: TOPICLAB_SPARK_MASTER)."), _SHOWN_WORDS),
    "btm": (
        Setting("iterations", "Gibbs iterations", "int", 10, 5000, 50),
        Setting("eta", "eta (word prior)", "float", 0.001, 1.0, format="%.3f"),
        Setting("background", "Background topic", "bool",
                help="A topic fixed to the corpus's word frequencies takes words common to "
                     "every campaign; it is not one of the K topics."), _SHOWN_WORDS),
}


def _report(progress: Progress | None, done: int, total: int, message: str) -> None:
    if progress is not None:
        progress(done, total, message)  # may raise core.errors.Cancelled: let it through


# ---------------------------------------------------------------------------------------
def bow_matrix(bow_docs: Sequence[Bow], n_terms: int) -> sp.csr_matrix:
    """N x V sparse counts; ids outside the vocabulary and non-positive counts are dropped."""
    lengths = np.fromiter((len(doc) for doc in bow_docs), dtype=np.int64, count=len(bow_docs))
    pairs = np.array([pair for doc in bow_docs for pair in doc], dtype=np.float64).reshape(-1, 2)
    rows = np.repeat(np.arange(len(bow_docs)), lengths)
    ids, values = pairs[:, 0].astype(np.int64), pairs[:, 1]
    ok = (ids >= 0) & (ids < n_terms) & (values > 0)
    matrix = sp.csr_matrix((values[ok], (rows[ok], ids[ok])), shape=(len(bow_docs), n_terms))
    matrix.sum_duplicates()
    return matrix


# Below this many documents fold_in stays in numpy: loading numba costs more than it saves.
COMPILED_FROM = 1_000


class FoldInTopics(NamedTuple):
    """What `fold_in` derives from a model's topics before it reads any document: the same
    for every call, so `Engine.transform` keeps it (rebuilding it copied the K x V topic
    matrix twice per call: ~1.5 ms of a pasted-keyword request at 13,000 words)."""

    phi: np.ndarray                    # K x V float64
    phi_t: np.ndarray                  # V x K, contiguous (each word's topic row)
    alpha: np.ndarray                  # length K float64
    column_weights: np.ndarray | None  # length V; None when every weight is 1


def shown_topics(weights: np.ndarray, k: int) -> np.ndarray:
    """The first `k` columns of proportions over K shown and S hidden topics
    (`Engine.transform_all`), renormalised: a fingerprint as users see it."""
    return split_hidden(weights, k)[0]


def split_hidden(weights: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Proportions over K shown and S hidden topics as (the K shown, renormalised; the S
    hidden shares, or None without hidden topics): what the store keeps of a campaign."""
    if weights.shape[1] == k:
        return weights, None
    shown = weights[:, :k]
    return shown / shown.sum(axis=1, keepdims=True), weights[:, k:]


def join_hidden(shown: np.ndarray, hidden: np.ndarray | None) -> np.ndarray:
    """The proportions `split_hidden` split: the shown part scaled back, then the hidden."""
    if hidden is None:
        return shown
    return np.hstack([shown * (1 - hidden.sum(axis=1, keepdims=True)), hidden])


def fold_in_topics(topic_term: np.ndarray, alpha: np.ndarray,
                   term_weights: np.ndarray | None = None) -> FoldInTopics:
    """The per-model part of `fold_in` (see there), computed once."""
    phi = np.asarray(topic_term, dtype=np.float64)
    k = phi.shape[0]
    alpha = np.ascontiguousarray(np.broadcast_to(np.asarray(alpha, dtype=np.float64), (k,)))
    column_weights = (phi.sum(axis=0) > 0).astype(np.float64)
    if term_weights is not None:
        column_weights *= np.asarray(term_weights, dtype=np.float64)
    return FoldInTopics(phi, np.ascontiguousarray(phi.T), alpha,
                        None if (column_weights == 1.0).all() else column_weights)


def fold_in(topic_term: np.ndarray | FoldInTopics, alpha: np.ndarray | None,
            bow_docs: Sequence[Bow] | sp.spmatrix,
            term_weights: np.ndarray | None = None, max_iter: int = 200,
            tol: float = 1e-4) -> np.ndarray:
    """Document-topic proportions of documents under fixed topics (N x K, rows sum to 1).

    Fixed-point (EM) iterations of theta_d ∝ alpha + sum_v n_dv * r_dvk with
    r_dvk ∝ theta_dk * phi_kv: the posterior-mean estimate a Gibbs sampler reports,
    with the topic-word distributions held fixed. Deterministic (starts uniform), each
    document iterated until its own change is below `tol`, so its result does not depend
    on which other documents share the call (from `COMPILED_FROM` documents on,
    `core.model.fold_kernel` runs the loop compiled; fewer stay in numpy).
    `term_weights` (length V) multiplies each word's count first, as the engine did in
    training. Words with zero probability under every topic (or zero weight) are
    ignored; a document with no known words gets the prior mean alpha / sum(alpha).
    `topic_term` may be `fold_in_topics(...)` computed before (then `alpha` and
    `term_weights` are not read).
    """
    topics = (topic_term if isinstance(topic_term, FoldInTopics)
              else fold_in_topics(topic_term, alpha, term_weights))
    phi, alpha = topics.phi, topics.alpha
    k, n_terms = phi.shape
    counts = bow_docs.tocsr() if sp.issparse(bow_docs) else bow_matrix(bow_docs, n_terms)
    if topics.column_weights is not None:
        counts = (counts @ sp.diags(topics.column_weights)).tocsr()
        counts.eliminate_zeros()
    if counts.shape[0] < COMPILED_FROM:
        return _fold_in_vectorised(phi, alpha, counts, max_iter, tol, topics.phi_t)
    theta = np.empty((counts.shape[0], k))
    # Imported here: numba takes ~0.4 s to import and ~0.2 s to load the compiled loop,
    # which a command folding in a few documents need not pay.
    from core.model.fold_kernel import fold_in_rows

    # One signature (int64 indices, float64 values): numba compiles once, not per dtype.
    fold_in_rows(counts.indptr.astype(np.int64), counts.indices.astype(np.int64),
                 counts.data.astype(np.float64), topics.phi_t, alpha,
                 int(max_iter), float(tol), theta)
    return theta


def warm_compiled_fold_in() -> None:
    """Load the compiled fold-in loop now (~0.6 s: numba and its cached machine code), so
    the first large batch a long-running process folds in does not pay for it."""
    from core.model.fold_kernel import fold_in_rows

    theta = np.empty((1, 1))
    fold_in_rows(np.array([0, 1], dtype=np.int64), np.array([0], dtype=np.int64),
                 np.array([1.0]), np.ones((1, 1)), np.ones(1), 1, 1e-4, theta)


def _fold_in_vectorised(phi: np.ndarray, alpha: np.ndarray, counts: sp.csr_matrix,
                        max_iter: int, tol: float, phi_t: np.ndarray | None = None
                        ) -> np.ndarray:
    """`fold_in` for a few documents, in numpy: the same iterations as the compiled loop
    (a test compares them), without loading numba.

    A converged document is frozen and dropped from the working set, so its result does
    not depend on which other documents share the batch.
    """
    n_docs, k = counts.shape[0], phi.shape[0]
    theta = np.full((n_docs, k), 1.0 / k)
    if phi_t is None:
        phi_t = np.ascontiguousarray(phi.T)                   # V x K
    active = np.arange(n_docs)
    lengths = np.diff(counts.indptr)
    cols, data = counts.indices, counts.data
    rows = np.repeat(np.arange(n_docs), lengths)
    phi_at = phi_t[cols]                                      # nnz x K: phi_kv per (d, v)
    current = theta
    for _ in range(max_iter):
        if active.size == 0:
            break
        per_word = np.einsum("ik,ik->i", current[rows], phi_at)
        # expected topic counts: sum_v n_dv * phi_kv / per_word, per document
        if active.size == 1:
            # One document (a pasted keyword list): its words' rows added in order, the
            # sums the CSR product below makes, without building a scipy matrix per
            # iteration (that cost more than the arithmetic).
            expected = _sum_in_order((data / per_word)[:, None] * phi_at, k)
        else:
            indptr = np.r_[0, np.cumsum(lengths)]
            weights = sp.csr_matrix((data / per_word, cols, indptr),
                                    shape=(active.size, len(phi_t)))
            expected = weights @ phi_t
        new = alpha + current * expected
        new /= new.sum(axis=1, keepdims=True)
        moving = np.abs(new - current).max(axis=1) >= tol
        theta[active] = new
        if not moving.all():
            keep_nnz = np.repeat(moving, lengths)
            active, lengths = active[moving], lengths[moving]
            phi_at, data, cols = phi_at[keep_nnz], data[keep_nnz], cols[keep_nnz]
            rows = np.repeat(np.arange(active.size), lengths)
            new = new[moving]
        current = new
    return theta


def _sum_in_order(rows: np.ndarray, k: int) -> np.ndarray:
    """1 x k: the rows added one after another from zero, as scipy's CSR product adds a
    row's entries (`np.add.accumulate` is sequential; `sum` would add pairwise)."""
    if rows.shape[0] == 0:
        return np.zeros((1, k))
    return np.add.accumulate(rows, axis=0)[-1:]


# ---------------------------------------------------------------------------------------
class Trained(NamedTuple):
    """What an engine's training hands to `Engine.fit`."""

    topic_term: np.ndarray           # K x V over the corpus dictionary ids
    alpha: np.ndarray                # length K (or a scalar)
    term_weights: np.ndarray | None  # length V weights used in training, None = all 1
    info: dict[str, Any]             # engine-specific facts for the manifest
    # topics trained but not shown, kept for neighbours (`hidden_spares`): S x V, alpha S
    hidden: tuple[np.ndarray, np.ndarray] | None = None


class Engine(ABC):
    """An LDA trainer. `__init__` only stores params; `fit` learns the `_` attributes.
    Every engine takes `shown_words`: which ten words each topic shows ("coherent", the
    default, or "probable"; `core.model.shown_words`)."""

    name: ClassVar[str]

    def get_params(self) -> dict[str, Any]:
        return {p: getattr(self, p) for p in inspect.signature(type(self).__init__).parameters
                if p != "self"}

    @abstractmethod
    def _train(self, corpus, progress: Progress | None) -> Trained:
        """Learn from the corpus; topic_term is K x V over the corpus dictionary ids."""

    def fit(self, corpus, progress: Progress | None = None) -> Engine:
        """Train on a `core.model.corpus.Corpus`. If `progress` raises, nothing is kept."""
        if len(corpus) == 0 or corpus.num_tokens == 0:
            raise InputError("the corpus has no words to train on")
        started = time.perf_counter()
        topic_term, alpha, term_weights, info, hidden = self._train(corpus, progress)
        topic_term = np.asarray(topic_term, dtype=np.float64)
        self.topic_term_ = topic_term / topic_term.sum(axis=1, keepdims=True)
        self.alpha_ = np.broadcast_to(np.asarray(alpha, dtype=np.float64), (self.k,)).copy()
        self.term_weights_ = (np.ones(topic_term.shape[1]) if term_weights is None
                              else np.asarray(term_weights, dtype=np.float64))
        self.hidden_term_ = self.hidden_alpha_ = None
        if hidden is not None:
            rows = np.asarray(hidden[0], dtype=np.float64)
            self.hidden_term_ = rows / rows.sum(axis=1, keepdims=True)
            self.hidden_alpha_ = np.asarray(hidden[1], dtype=np.float64).copy()
        self.vocabulary_ = list(corpus.vocabulary)
        self.fit_info_ = info
        self.shown_words_ = self.pick_shown_words(corpus)
        self.fit_seconds_ = time.perf_counter() - started
        return self

    def pick_shown_words(self, corpus) -> np.ndarray | None:
        """The word ids each topic shows (`core.model.shown_words`), picked on the training
        campaigns of `corpus`; None, the most probable, with `shown_words="probable"` or
        too few campaigns (then `fit_info_["shown_words"]` says so)."""
        if self.shown_words != "coherent":
            return None
        if why := shown_words.too_few(sum(1 for doc in corpus.bow if doc)):
            self.fit_info_["shown_words"] = why
            return None
        return shown_words.pick(self.topic_term_, bow_matrix(corpus.bow, len(corpus.vocabulary)))

    @property
    def words_picked(self) -> bool:
        """Whether each topic shows words picked for coherence, not its most probable."""
        return self.__dict__.get("shown_words_") is not None

    def transform(self, bow_docs: Sequence[Bow] | sp.spmatrix) -> np.ndarray:
        """Topic proportions (N x K, rows sum to 1) of bow documents; see `fold_in`. With
        hidden topics (`hidden_spares`), the K shown of `transform_all`, renormalised."""
        return shown_topics(self.transform_all(bow_docs), self.k)

    def transform_all(self, bow_docs: Sequence[Bow] | sp.spmatrix) -> np.ndarray:
        """Proportions over the K topics shown and the hidden ones after them (N x (K + S),
        rows sum to 1): what neighbours are ranked by. N x K without hidden topics."""
        self._check_fitted()
        # The topics' part of the fold-in, kept while the fitted arrays are the same ones.
        fitted = (self.topic_term_, self.alpha_, self.term_weights_,
                  self.__dict__.get("hidden_term_"))
        kept = self.__dict__.get("_fold_in_topics")
        if kept is None or any(a is not b for a, b in zip(kept[0], fitted, strict=True)):
            kept = self._fold_in_topics = (fitted, fold_in_topics(*self.all_topics(),
                                                                  self.term_weights_))
        return fold_in(kept[1], None, bow_docs)

    @property
    def hidden_topics(self) -> int:
        """How many hidden topics follow the K shown (`hidden_spares`; 0 without)."""
        hidden = self.__dict__.get("hidden_term_")
        return 0 if hidden is None else len(hidden)

    def all_topics(self) -> tuple[np.ndarray, np.ndarray]:
        """Topic-word rows and alpha of every topic, the hidden ones after the K shown:
        what a fold-in over all of them needs (Spark scoring ships them)."""
        hidden = self.__dict__.get("hidden_term_")
        if hidden is None:
            return self.topic_term_, self.alpha_
        return (np.vstack([self.topic_term_, hidden]),
                np.concatenate([self.alpha_, self.hidden_alpha_]))

    def top_word_ids(self, k: int, n: int = 10) -> np.ndarray:
        """Vocabulary ids of the n words topic k shows, in probability order: with
        `shown_words="coherent"` the words picked at training (`core.model.shown_words`),
        past them its most probable others; else its n most probable."""
        self._check_fitted()
        phi = self.topic_term_[k]
        picked = self.__dict__.get("shown_words_")
        if picked is None:
            return np.argsort(-phi, kind="stable")[:n]
        ids = list(picked[k][:n])
        if len(ids) < n:   # more words than were picked: sort the whole topic only then
            shown = set(ids)
            order = np.argsort(-phi, kind="stable")[:n + len(ids)]
            ids += [i for i in order if i not in shown][:n - len(ids)]
        ids = np.asarray(ids, dtype=np.int64)
        return ids[np.argsort(-phi[ids], kind="stable")]

    def top_words(self, k: int, n: int = 10) -> list[str]:
        """The n words topic k shows (`top_word_ids`)."""
        return [self.vocabulary_[i] for i in self.top_word_ids(k, n)]

    def topics(self, n: int = 10) -> list[list[str]]:
        """Top n words of every topic, in topic order."""
        return [self.top_words(k, n) for k in range(self.topic_term_.shape[0])]

    def _check_fitted(self) -> None:
        if not hasattr(self, "topic_term_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit(corpus) first")

    # -- persistence ------------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        """Write topic_term.npy, alpha.npy, term_weights.npy and engine.json into folder."""
        self._check_fitted()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "topic_term.npy", self.topic_term_)
        np.save(folder / "alpha.npy", self.alpha_)
        np.save(folder / "term_weights.npy", self.term_weights_)
        if self.__dict__.get("hidden_term_") is not None:
            np.save(folder / "hidden_term.npy", self.hidden_term_)
            np.save(folder / "hidden_alpha.npy", self.hidden_alpha_)
        if self.__dict__.get("shown_words_") is not None:
            np.save(folder / "shown_words.npy", self.shown_words_)
        meta = {"engine": self.name, "params": self.get_params(), "vocabulary": self.vocabulary_,
                "fit_seconds": self.fit_seconds_, "fit_info": self.fit_info_}
        (folder / "engine.json").write_text(json.dumps(meta, ensure_ascii=False), "utf-8")
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> Engine:
        """Read what `save` wrote; `Engine.load` picks the class from engine.json."""
        folder = Path(folder)
        meta = json.loads((folder / "engine.json").read_text("utf-8"))
        engine_cls = ENGINES.get(meta["engine"])
        if engine_cls is None or (cls is not Engine and engine_cls is not cls):
            raise InputError(f"{folder} holds a {meta['engine']!r} engine, not {cls.__name__}")
        engine = engine_cls(**meta["params"])
        engine.topic_term_ = np.load(folder / "topic_term.npy")
        engine.alpha_ = np.load(folder / "alpha.npy")
        weights = folder / "term_weights.npy"  # absent in artifacts from before it existed
        engine.term_weights_ = (np.load(weights) if weights.exists()
                                else np.ones(engine.topic_term_.shape[1]))
        hidden = folder / "hidden_term.npy"
        engine.hidden_term_ = np.load(hidden) if hidden.exists() else None
        engine.hidden_alpha_ = (np.load(folder / "hidden_alpha.npy") if hidden.exists()
                                else None)
        picked = folder / "shown_words.npy"  # absent before stop 52 and when not picked
        engine.shown_words_ = np.load(picked) if picked.exists() else None
        if "shown_words" not in meta["params"]:  # saved before stop 52: the most probable
            engine.shown_words = "probable"
        engine.vocabulary_ = meta["vocabulary"]
        engine.fit_seconds_ = meta["fit_seconds"]
        engine.fit_info_ = meta.get("fit_info", {})
        return engine


class GensimLDA(Engine):
    """gensim's online variational Bayes LDA (`LdaModel`, single process).

    `LdaMulticore(workers=2)` was slower than `LdaModel` on 2-core machines (its worker
    processes compete with BLAS threads for the same cores). Progress is reported after
    every pass through a gensim training callback.
    """

    name = "gensim"

    def __init__(self, k: int = _G["k"], alpha: str | float = _G["alpha"],
                 eta: str | float | None = _G["eta"], passes: int = _G["passes"],
                 iterations: int = _G["iterations"], seed: int = _G["seed"],
                 chunksize: int = _G["chunksize"], decay: float = _G["decay"],
                 offset: float = _G["offset"], shown_words: str = _G["shown_words"]) -> None:
        self.k = k
        self.alpha = alpha
        self.eta = eta
        self.passes = passes
        self.iterations = iterations
        self.seed = seed
        self.chunksize = chunksize
        self.decay = decay
        self.offset = offset
        self.shown_words = shown_words

    def _train(self, corpus, progress):
        from gensim.models import LdaModel

        _report(progress, 0, self.passes, f"gensim: {self.passes} passes")
        callback = _gensim_pass_progress(progress, self.passes)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            model = LdaModel(corpus=corpus.bow, id2word=corpus.dictionary, num_topics=self.k,
                             alpha=self.alpha, eta=self.eta, passes=self.passes,
                             iterations=self.iterations, random_state=self.seed,
                             chunksize=self.chunksize, decay=self.decay, offset=self.offset,
                             eval_every=None, callbacks=[callback])
        return Trained(model.get_topics(), np.asarray(model.alpha), None, {})


def _gensim_pass_progress(progress: Progress | None, passes: int):
    """A gensim callback 'metric' whose only job is to call `progress` after each pass
    (gensim is imported here, not at module import: the CLI's parser reads this module)."""
    from gensim.models.callbacks import Metric

    class PassProgress(Metric):
        def __init__(self) -> None:
            self.done = 0
            self.logger, self.viz_env, self.title = None, None, "progress"

        def get_value(self, **kwargs) -> float:
            self.done += 1
            _report(progress, self.done, passes, f"gensim: pass {self.done}/{passes}")
            return 0.0

    return PassProgress()


class TomotopyLDA(Engine):
    """tomotopy's collapsed Gibbs sampling LDA.

    `term_weight` is tomotopy's TermWeight ("one", "idf", "pmi"); `rm_top` drops the
    most frequent words; `optim_interval` re-estimates an asymmetric alpha every that
    many iterations (0 = keep alpha fixed) after `burn_in` iterations. `spare_share`
    trains that share of K more topics and keeps K (`core.model.spare_topics`);
    `hidden_spares` keeps the others too, hidden from topic lists and fingerprints, for
    neighbours (`transform_all`; docs/benchmarks.md, *Spare topics*); `diversify` then
    runs the diversity step (`core.model.diversity`). Training runs in steps of
    `progress_every` iterations with progress reported between them.
    """

    name = "tomotopy"

    def __init__(self, k: int = _T["k"], alpha: float = _T["alpha"], eta: float = _T["eta"],
                 iterations: int = _T["iterations"], seed: int = _T["seed"],
                 term_weight: str = _T["term_weight"], rm_top: int = _T["rm_top"],
                 optim_interval: int = _T["optim_interval"], burn_in: int = _T["burn_in"],
                 workers: int = _T["workers"], diversify: bool = _T["diversify"],
                 spare_share: float = _T["spare_share"],
                 hidden_spares: bool = _T["hidden_spares"],
                 shown_words: str = _T["shown_words"], progress_every: int = 20) -> None:
        self.k = k
        self.alpha = alpha
        self.eta = eta
        self.iterations = iterations
        self.seed = seed
        self.term_weight = term_weight
        self.rm_top = rm_top
        self.optim_interval = optim_interval
        self.burn_in = burn_in
        self.workers = workers
        self.diversify = diversify
        self.spare_share = spare_share
        self.hidden_spares = hidden_spares
        self.shown_words = shown_words
        self.progress_every = progress_every

    def _train(self, corpus, progress):
        tp = tomotopy()

        from core.model import spare_topics
        from core.model.diversity import top_word_ids

        weights = {"one": tp.TermWeight.ONE, "idf": tp.TermWeight.IDF, "pmi": tp.TermWeight.PMI}
        if self.term_weight not in weights:
            raise InputError(f"term_weight must be one of {sorted(weights)}")
        documents = sum(1 for doc in corpus.bow if doc)
        spare = spare_topics.spare_count(self.k, self.spare_share, documents,
                                         len(corpus.vocabulary))
        model = tp.LDAModel(tw=weights[self.term_weight], k=self.k + spare, alpha=self.alpha,
                            eta=self.eta, seed=int(self.seed), rm_top=self.rm_top)
        vocabulary = corpus.vocabulary
        added = 0
        for doc in corpus.bow:
            words = [vocabulary[i] for i, c in doc for _ in range(round(c))]
            if words:
                model.add_doc(words)
                added += 1
        model.optim_interval = self.optim_interval
        model.burn_in = self.burn_in
        scheme = tp.ParallelScheme.PARTITION if self.workers > 1 else tp.ParallelScheme.NONE
        _report(progress, 0, self.iterations, f"tomotopy: {self.iterations} iterations")
        done = 0
        while done < self.iterations:
            step = min(self.progress_every, self.iterations - done)
            with warnings.catch_warnings():  # "may differ if workers != 1": not with PARTITION
                warnings.simplefilter("ignore", RuntimeWarning)
                model.train(step, workers=self.workers, parallel=scheme)
            done += step
            _report(progress, done, self.iterations,
                    f"tomotopy: iteration {done}/{self.iterations}")
        token2id = corpus.dictionary.token2id
        columns = np.array([token2id[w] for w in model.used_vocabs], dtype=np.int64)
        topic_term = np.zeros((self.k + spare, len(vocabulary)))
        topic_term[:, columns] = np.array([model.get_topic_word_dist(t)
                                           for t in range(self.k + spare)])
        alpha = np.broadcast_to(np.asarray(model.alpha, dtype=np.float64), (self.k + spare,))
        info = {"log_likelihood_per_word": float(model.ll_per_word), "documents": added,
                "removed_top_words": list(model.removed_top_words)}
        # the raw counts, built once for what runs after sampling
        counts = bow_matrix(corpus.bow, len(vocabulary)) if spare or self.diversify else None
        hidden = None
        if spare:
            main = spare_topics.main_documents([doc.get_topic_dist() for doc in model.docs])
            keep, npmi = spare_topics.keep_best(topic_term, counts, self.k)
            dropped = np.setdiff1d(np.arange(self.k + spare), keep)
            info["spare_topics_dropped"] = [
                {"top_words": [vocabulary[i] for i in top],
                 "document_npmi": round(float(npmi[t]), 4), "main_documents": int(main[t])}
                for t, top in zip(dropped, top_word_ids(topic_term[dropped]), strict=True)]
            if self.hidden_spares:
                hidden = (topic_term[dropped], alpha[dropped])
            topic_term, alpha = topic_term[keep], alpha[keep]
        term_weights = None
        if self.term_weight == "idf":  # tomotopy's weight: log(documents / document frequency)
            df = np.zeros(len(vocabulary))
            for doc in corpus.bow:
                df[[i for i, c in doc if c > 0]] += 1
            with np.errstate(divide="ignore"):
                term_weights = np.where(df > 0, np.log(added / np.maximum(df, 1)), 0.0)
        if self.diversify:
            topic_term, info["diversity_moves"] = self._diversify(counts, topic_term, alpha,
                                                                  term_weights)
        return Trained(topic_term, alpha, term_weights, info, hidden)


    def _diversify(self, counts, topic_term, alpha, term_weights):
        """Merge topics that repeat each other's top words and re-split another
        (`core.model.diversity`, on the N x V raw training `counts`); returns the new
        matrix and the moves made."""
        from core.model import diversity

        params = {"term_weight": self.term_weight, "alpha": self.alpha, "eta": self.eta}
        return diversity.diversify(topic_term / topic_term.sum(axis=1, keepdims=True),
                                   np.asarray(alpha, dtype=np.float64), counts, term_weights,
                                   params, seed=int(self.seed))


class SparkLDA(Engine):
    """MLlib's online variational Bayes LDA, trained on a Spark session.

    `subsampling_rate` is the share of documents in each mini-batch, lowered so that a
    mini-batch holds about `batch_documents` at most (None: no cap); `learning_offset`
    and `learning_decay` are MLlib's tau0 and kappa; `alpha`/`eta` None keep MLlib's 1/K.
    `master` is where it runs (None: `TOPICLAB_SPARK_MASTER`, else local[*]); the master
    it actually ran on is kept in `fit_info_`.
    """

    name = "spark"

    def __init__(self, k: int = _D["k"], iterations: int = _D["iterations"],
                 seed: int = _D["seed"], alpha: float | None = _D["alpha"],
                 eta: float | None = _D["eta"], subsampling_rate: float = _D["subsampling_rate"],
                 batch_documents: int | None = _D["batch_documents"],
                 learning_offset: float = _D["learning_offset"],
                 learning_decay: float = _D["learning_decay"],
                 optimize_alpha: bool = _D["optimize_alpha"], master: str | None = _D["master"],
                 shown_words: str = _D["shown_words"]) -> None:
        self.k = k
        self.iterations = iterations
        self.seed = seed
        self.alpha = alpha
        self.eta = eta
        self.subsampling_rate = subsampling_rate
        self.batch_documents = batch_documents
        self.learning_offset = learning_offset
        self.learning_decay = learning_decay
        self.optimize_alpha = optimize_alpha
        self.master = master
        self.shown_words = shown_words

    def check_params(self) -> None:
        """Refuse values MLlib would reject, with a message, before Spark starts."""
        if not isinstance(self.iterations, int) or self.iterations < 1:
            raise InputError(f"iterations must be a whole number of at least 1, "
                             f"not {shown(self.iterations)}.")
        if not 0 < self.subsampling_rate <= 1:
            raise InputError(f"subsampling_rate must be in (0, 1], not {self.subsampling_rate}")
        if self.batch_documents is not None and not (
                isinstance(self.batch_documents, int) and self.batch_documents >= 1):
            raise InputError("batch_documents must be a whole number of at least 1 or None, "
                             f"not {shown(self.batch_documents)}.")
        if self.learning_offset <= 0 or not 0.5 < self.learning_decay <= 1:
            raise InputError("learning_offset must be positive and learning_decay in (0.5, 1].")

    def sampling_rate(self, documents: int) -> float:
        """The share of `documents` each mini-batch reads: `subsampling_rate`, capped so a
        mini-batch holds about `batch_documents`."""
        if self.batch_documents is None or documents <= self.batch_documents:
            return float(self.subsampling_rate)
        return min(float(self.subsampling_rate), self.batch_documents / documents)

    def _lda(self, documents: int):
        from pyspark.ml.clustering import LDA

        self.check_params()
        lda = LDA(k=self.k, maxIter=self.iterations, seed=int(self.seed), optimizer="online",
                  subsamplingRate=self.sampling_rate(documents),
                  learningOffset=float(self.learning_offset),
                  learningDecay=float(self.learning_decay),
                  optimizeDocConcentration=bool(self.optimize_alpha),
                  featuresCol="features")
        if self.alpha is not None:
            lda.setDocConcentration([float(self.alpha)] * self.k)
        if self.eta is not None:
            lda.setTopicConcentration(float(self.eta))
        return lda

    def fit_frame(self, session, features, documents: int, progress: Progress | None = None
                  ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """Fit on a DataFrame of `documents` rows with a `features` count-vector column:
        (K x V, alpha, info)."""
        lda = self._lda(documents)
        model = spark_session.run_job(session, "online LDA", lambda: lda.fit(features),
                                      progress, expected_jobs=self.iterations + 2)
        topic_term = np.asarray(model.topicsMatrix().toArray(), dtype=np.float64).T
        alpha = np.asarray(model.estimatedDocConcentration().toArray(), dtype=np.float64)
        return topic_term, alpha, {**spark_session.describe(session),
                                   "subsampling_rate": lda.getSubsamplingRate()}

    @spark_session.holds
    def _train(self, corpus, progress):
        """Fit on an in-memory Corpus (sweeps, the pipeline, notebooks): its bows go to
        Spark as count vectors; the vocabulary is the corpus's."""
        from pyspark.ml.linalg import SparseVector

        session = spark_session.get(self.master, progress)
        n_terms = len(corpus.dictionary)
        rows = [(SparseVector(n_terms, sorted((int(i), float(c)) for i, c in doc)),)
                for doc in corpus.bow if doc]
        frame = session.createDataFrame(rows, ["features"])
        topic_term, alpha, info = self.fit_frame(session, frame, len(rows), progress)
        return Trained(topic_term, alpha, None, {**info, "documents": len(rows)})


class BitermTM(Engine):
    """The biterm topic model (Yan et al. 2013, `bitermplus`), made for short documents.

    BTM does not model documents: it fits one topic mixture to the whole corpus's
    biterms, the unordered word pairs that co-occur within `window` positions of a
    document, so a campaign of three keywords still contributes every pair it has
    ("heat pump", "pump repair"). With `background` a (K+1)-th topic is fixed to the
    corpus word frequencies and absorbs words common everywhere; it is dropped from
    `topic_term_`, which keeps K topics. Pairs come from the documents' unweighted tokens
    in order (`weight_by` weights only the fold-in's counts). Documents are scored by the
    shared `fold_in` under a prior of `fold_alpha * K` spread over the topics as the
    corpus's biterms are, so a saved BTM model scores like any other engine's. The
    library trains in one call: progress is reported before and after it.
    """

    name = "btm"

    def __init__(self, k: int = _B["k"], alpha: float | None = _B["alpha"],
                 eta: float = _B["eta"], iterations: int = _B["iterations"],
                 seed: int = _B["seed"], window: int = _B["window"],
                 background: bool = _B["background"], fold_alpha: float = _B["fold_alpha"],
                 shown_words: str = _B["shown_words"]) -> None:
        self.k = k
        self.alpha = alpha
        self.eta = eta
        self.iterations = iterations
        self.seed = seed
        self.window = window
        self.background = background
        self.fold_alpha = fold_alpha
        self.shown_words = shown_words

    def _train(self, corpus, progress):
        import bitermplus

        if not isinstance(self.window, int) or self.window < 2:
            raise InputError("window must be a whole number of at least 2, not "
                             f"{shown(self.window)}")
        token2id = corpus.dictionary.token2id
        docs = [np.fromiter((token2id[w] for w in tokens if w in token2id), dtype=np.int32)
                for tokens in corpus.tokens]
        if not any(len(doc) > 1 for doc in docs):
            raise InputError("no document has two known words: the biterm model has no "
                             "word pairs to learn from")
        biterms = bitermplus.get_biterms(docs, win=self.window, as_array=True)
        extra = int(bool(self.background))
        alpha = 50.0 / self.k if self.alpha is None else float(self.alpha)
        model = bitermplus.BTM(bow_matrix(corpus.bow, len(corpus.dictionary)),
                               np.asarray(corpus.vocabulary, dtype=object), T=self.k + extra,
                               alpha=alpha, beta=float(self.eta), seed=int(self.seed),
                               win=self.window, has_background=bool(self.background))
        n_biterms = int(sum(len(b) for b in biterms))
        _report(progress, 0, self.iterations,
                f"btm: {self.iterations} iterations over {n_biterms:,} word pairs")
        model.fit(biterms, iterations=self.iterations, verbose=False)
        _report(progress, self.iterations, self.iterations,
                f"btm: iteration {self.iterations}/{self.iterations}")
        topic_term = np.asarray(model.matrix_topics_words_, dtype=np.float64)[extra:]
        shares = np.asarray(model.theta_, dtype=np.float64)[extra:]
        prior = self.fold_alpha * self.k * shares / shares.sum()
        info = {"biterms": n_biterms, "documents": sum(len(doc) > 0 for doc in docs),
                "topic_shares": shares.tolist(),
                "background_share": float(model.theta_[0]) if extra else 0.0}
        return Trained(topic_term, prior, None, info)


ENGINES: dict[str, type[Engine]] = {"gensim": GensimLDA, "tomotopy": TomotopyLDA,
                                    "btm": BitermTM}

ENGINES["spark"] = SparkLDA  # pyspark is imported only when it trains (`make spark`)


def engine_params(name: str) -> list[str]:
    """The parameters engine `name` takes, in its signature's order."""
    return [p for p in inspect.signature(ENGINES[name].__init__).parameters if p != "self"]


def engines_taking(param: str) -> list[str]:
    """The engines that take `param`, sorted: what a refusal names for a parameter that
    belongs to another engine (`passes` is gensim's)."""
    return sorted(name for name in ENGINES if param in engine_params(name))


def make_engine(name: str = DEFAULT_ENGINE, **params: Any) -> Engine:
    """An engine by registry name; unknown names or params are an InputError naming them,
    and the engines that do take them."""
    engine_cls = ENGINES.get(name)
    if engine_cls is None:
        raise InputError(f"unknown engine {name!r}; choose one of {sorted(ENGINES)}")
    allowed = engine_params(name)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        takers = [(p, engines_taking(p)) for p in unknown]
        elsewhere = "; ".join(f"{' and '.join(t)} {plural(len(t), 'takes', 'take')} {p!r}"
                              for p, t in takers if t)
        elsewhere = f" ({elsewhere})" if elsewhere else ""
        raise InputError(f"engine {name!r} has no {listed('parameter', unknown)}{elsewhere}; "
                         f"it takes {', '.join(map(repr, allowed))}")
    return engine_cls(**params)

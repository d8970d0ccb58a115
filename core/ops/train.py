"""One training run: dataset version -> corpus -> engine -> metrics -> registered model.

Progress goes to a callback `progress(done, total, message)`; when it raises
`Cancelled`, the run stops and nothing is written (the model is registered last).
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from core.data import auth, datasets, store
from core.errors import InputError, NotFoundError, shown
from core.memory import releases_memory
from core.model import fitted_k, metrics, namewords, spare_topics
from core.model.corpus import Corpus
from core.model.engines import (  # noqa: F401  (re-exported: pages and tests read them here)
    DEFAULT_ENGINE,
    DEFAULTS,
    GENSIM_NAMED,
    MAX_K,
    MIN_K,
    bow_matrix,
    check_param,
    check_params,
    fitting_k,
    is_number,
    make_engine,
    size_warnings,
)
from core.model.text import TextConfig, check_numbers, check_stopwords
from core.plain_text import hidden_characters
from core.progress import Progress
from core.serve import registry

# The K a model may have (MIN_K, MAX_K: the Train page's input takes the same) and the
# size checks before training (`size_warnings`: CAMPAIGNS_PER_TOPIC, WORDS_PER_TOPIC) live
# in core.model.engines, so that `CampaignModel.fit` warns as `train` does.

# Share of the progress bar each stage gets.
_STAGES = {"tokenize": 10, "fit": 75, "evaluate": 15}
_TOTAL = sum(_STAGES.values())


@dataclass(frozen=True)
class TrainSpec:
    """Everything that defines a model, apart from the data itself."""

    dataset: str
    version: int | None = None
    engine: str = DEFAULT_ENGINE
    k: int = DEFAULTS[DEFAULT_ENGINE]["k"]
    params: dict[str, Any] = field(default_factory=dict)  # alpha, eta, iterations, seed, …
    text: TextConfig = field(default_factory=TextConfig)
    heldout_share: float = 0.1
    sample: int = 20_000  # campaigns the metrics are measured on when there are more

    def __post_init__(self) -> None:
        """Refuse bad values here, with a message naming the parameter and value, before
        any work (tomotopy aborts the whole process on K = 0; NaN or inf alpha/eta train
        a model whose every fingerprint is NaN)."""
        if isinstance(self.k, bool) or not isinstance(self.k, int) or not MIN_K <= self.k <= MAX_K:
            raise InputError(f"K must be a whole number from {MIN_K} to {MAX_K}, not "
                             f"{shown(self.k)}.")
        make_engine(self.engine, k=self.k, **self.params)  # unknown engine or parameter names
        check_params(self.engine, self.params)
        share = self.heldout_share
        if not is_number(share) or not 0 <= share < 1:
            raise InputError(f"heldout_share must be a number in [0, 1), not {shown(share)}.")
        if isinstance(self.sample, bool) or not isinstance(self.sample, int) or self.sample < 2:
            raise InputError("sample must be a whole number of at least 2, not "
                             f"{shown(self.sample)}.")
        check_stopwords(self.text.extra_stopwords)  # here, not in TextConfig: saved models load
        check_numbers(self.text)

    def with_(self, **changes: Any) -> TrainSpec:
        return replace(self, **changes)


@dataclass(frozen=True)
class TrainResult:
    model_id: str
    dataset: str
    version: int
    engine: str
    k: int
    metrics: dict[str, Any]
    timings: dict[str, float]
    warnings: list[str] = field(default_factory=list)   # size warnings, poor scores
    # when `train_fitted` trained more than one model: each, in order, this one among them
    # (model_id, k, diversity, its training's `seconds` and, from the second on, why it
    # was `retrained`)
    tries: list[dict[str, Any]] = field(default_factory=list)
    language: str | None = None   # the text's, as the tokenizer read it (detected or named)

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def _noop(done: int, total: int, message: str) -> None:
    return None


def _stage(progress: Progress, start: int, width: int) -> Progress:
    """Map a stage's own 0..total progress onto its slice of the overall bar."""
    def report(done: int, total: int, message: str) -> None:
        share = done / total if total else 1.0
        progress(start + round(width * share), _TOTAL, message)
    return report


def build_corpus(dataset: str, version: int | None, text: TextConfig) -> tuple[Corpus, Any]:
    """The corpus of one dataset version (one document per campaign)."""
    info = datasets.get(dataset, version)
    return Corpus.from_frame(datasets.terms(info.name, info.version), text), info


@releases_memory
def train(spec: TrainSpec, progress: Progress | None = None, *, corpus: Corpus | None = None,
          sweep_id: str | None = None) -> TrainResult:
    """Train, evaluate and register one model. `corpus` may be passed to reuse tokenisation."""
    auth.require("train")
    progress = progress or _noop
    if spec.engine == "spark" and corpus is None:  # the whole version is tokenised in Spark
        from core.ops import spark_engine
        return spark_engine.train(spec, progress, sweep_id=sweep_id)
    timings: dict[str, float] = {}
    info = datasets.get(spec.dataset, spec.version)

    started = time.perf_counter()
    progress(0, _TOTAL, f"Tokenising {info.label}…")
    if corpus is None:
        corpus, _ = build_corpus(info.name, info.version, spec.text)
    train_part, heldout = corpus.split(spec.heldout_share, seed=0) if spec.heldout_share else (
        corpus, None)
    timings["tokenize"] = time.perf_counter() - started
    warnings = size_warnings(spec.k, len(corpus), len(corpus.vocabulary))
    for warning in warnings:
        progress(_STAGES["tokenize"], _TOTAL, f"Warning: {warning}")

    started = time.perf_counter()
    engine = make_engine(spec.engine, k=spec.k, **spec.params)
    engine.fit(train_part, progress=_stage(progress, _STAGES["tokenize"], _STAGES["fit"]))
    timings["fit"] = time.perf_counter() - started
    warnings += spare_topics.dropped_theme_warnings(engine)

    started = time.perf_counter()
    progress(_TOTAL - _STAGES["evaluate"], _TOTAL, "Measuring coherence and perplexity…")
    scores = metrics.evaluate(engine, *_metrics_sample(train_part, heldout, spec.sample),
                              reference=_cut(corpus, spec.sample))
    if len(train_part) > spec.sample:
        scores.update(documents=len(train_part), metrics_documents=spec.sample)
    words = _name_words(corpus, info)
    timings["evaluate"] = time.perf_counter() - started
    # The last report comes before the model is written: a page interrupted by a click
    # during a report then really has nothing saved.
    progress(_TOTAL, _TOTAL, "Saving the model…")

    # to the millisecond, what is shown as what is stored (`train` printed 2.050568717000033)
    timings = {k: round(v, 3) for k, v in timings.items()}
    model_id = registry.register(
        engine=engine, engine_name=spec.engine, encoder=corpus.encoder,
        params={"k": spec.k, **engine_params(engine)}, dataset=info.name,
        version=info.version, dataset_hash=info.content_hash, metrics=scores,
        timings=timings, sweep_id=sweep_id,
        counts=corpus.encoded_counts(),
        name_words=words.to_dict(),
    )
    return TrainResult(model_id, info.name, info.version, spec.engine, spec.k, scores,
                       timings, warnings + metrics.explain(scores, spec.k),
                       language=corpus.language)


def train_fitted(spec: TrainSpec, progress: Progress | None = None, *,
                 corpus: Corpus | None = None) -> TrainResult:
    """Train and register a dataset no one chose a K for (the pipeline, `train` without
    `--k`, the Train page's switch) as `core.model.fitted_k` fits one: from the K its
    campaigns and the words kept hold (the words only when `corpus` is given or the engine
    tokenises here, not Spark), lowered while the topics are below the diversity floor.
    The models tried on the way stay registered without an alias, marked with the model
    kept instead (`kept_instead`, shown on Compare), and are listed in the result's
    `tries`."""
    info = datasets.get(spec.dataset, spec.version)
    if corpus is None and spec.engine != "spark":
        corpus, _ = build_corpus(info.name, info.version, spec.text)
    words = len(corpus.vocabulary) if corpus is not None else None
    spec = spec.with_(dataset=info.name, version=info.version)
    reused = None if spec.engine == "spark" else corpus  # Spark tokenises in its tasks
    kept, results = fitted_k.lower_until_diverse(
        fitting_k(spec.k, int(info.campaigns), words),
        lambda k: train(spec.with_(k=k), progress, corpus=reused), _diversity)
    registry.mark_kept_instead([r.model_id for r in results], kept.model_id)
    tries = [_tried(results[0]), *(_tried(now, retrained=(
        f"K = {before.k} had topic diversity {_diversity(before):.2f}, below the floor "
        f"{metrics.DIVERSITY_FLOOR}")) for before, now in itertools.pairwise(results))]
    return replace(kept, tries=tries if len(tries) > 1 else [])


def _tried(result: TrainResult, **why: str) -> dict[str, Any]:
    return {"model_id": result.model_id, "k": result.k, "diversity": round(_diversity(result), 4),
            "seconds": round(sum(result.timings.values()), 3), **why}


def _diversity(result: TrainResult) -> float:
    value = result.metrics.get("diversity")
    return float(value) if isinstance(value, int | float) else 1.0


def _name_words(corpus: Corpus, info: Any) -> namewords.NameWords:
    """Brand and place words of the training data (kept out of automatic topic names)."""
    campaigns = datasets.campaigns(info.name, info.version, corpus.campaign_ids)
    counts = bow_matrix(corpus.bow, len(corpus.vocabulary))
    return namewords.detect(counts, corpus.vocabulary, campaigns["campaign_name"].tolist(),
                            campaigns["account"].tolist(), corpus.tokenizer)


def _metrics_sample(train_part: Corpus, heldout: Corpus | None, sample: int
                    ) -> tuple[Corpus, Corpus | None]:
    """At most `sample` training campaigns (and as many held-out ones in proportion) to
    measure on: coherence grows with the corpus (235 s of metrics against 21 s of fitting
    at 100,000 campaigns). The same campaigns every time (a fixed seed)."""
    share = sample / len(train_part) if len(train_part) else 1.0
    return _cut(train_part, sample), _cut(heldout, max(1, round(len(heldout or ()) * share)))


def _cut(corpus: Corpus | None, n: int) -> Corpus | None:
    """At most `n` campaigns of `corpus`, the same ones every time (a fixed seed). Of the
    whole version, the reference texts of coherence: counted over the training part, a
    model's NPMI in the Compare table (0.143) was not the one the gate showed beside it on
    the same version (0.148), which counts over all of it."""
    if corpus is None or len(corpus) <= n:
        return corpus
    return corpus.subset(sorted(np.random.default_rng(0).choice(len(corpus), n, False)))


def engine_params(engine: Any) -> dict[str, Any]:
    """The engine's constructor params (scikit-learn style `get_params`), JSON-friendly."""
    params = engine.get_params() if hasattr(engine, "get_params") else {}
    return {k: v for k, v in params.items() if isinstance(v, str | int | float | bool | None)}


save_settings = registry.save_settings  # the writer, beside the aliases promotion moves


def saved_settings(dataset: str, version: int | None = None,
                   vocabulary: int | None = None) -> TrainSpec:
    """How this dataset is trained: its saved settings, else the default engine with its
    defaults (production's settings are not read: the docstring said they were, and
    `pipeline --export-dir` says "its saved settings, else the default") and a K no larger
    than the campaigns of `version` (None: the latest) hold (`fitting_k`), nor, when the
    caller has tokenised them, the `vocabulary` of words kept. The pipeline's first model
    of the 16 Sony exports had the default K = 20 and went to production with NPMI -0.030
    and topic diversity 0.59 below the floor 0.7 (K = 5: 0.097 / 0.87; seeds 0-2,
    `bench/small_k.py`)."""
    row = _settings_row(dataset)
    if row:
        s = json.loads(row[0])
        return TrainSpec(dataset=dataset, engine=s["engine"], k=int(s["k"]),
                         params=s.get("params", {}),
                         text=_plain_stopwords(TextConfig.from_dict(s["text"])))
    spec = TrainSpec(dataset=dataset, engine=DEFAULT_ENGINE)
    try:
        campaigns = int(datasets.get(dataset, version).campaigns)
        return spec.with_(k=fitting_k(spec.k, campaigns, vocabulary))
    except NotFoundError:  # not imported yet (`pipeline --from` asks before importing)
        return spec


def has_saved_settings(dataset: str) -> bool:
    """Whether someone chose how this dataset is trained (a promotion saved its recipe),
    so that its K is kept as it is rather than fitted to the data."""
    return _settings_row(dataset) is not None


def _settings_row(dataset: str) -> tuple | None:
    return store.query_one("SELECT settings FROM dataset_settings WHERE name = ?", [dataset])


def _plain_stopwords(text: TextConfig) -> TextConfig:
    """Saved text settings without the stop words that hold a control or invisible
    character: saved from a model promoted before such words were refused
    (`check_stopwords`), they made every `saved_settings` fail, so the pipeline stopped
    after its drift step and the Train page showed only "type plain words", with no box
    to type them in. Such a word matched no token, so training is the same without it;
    the stored settings are left as they are."""
    kept = tuple(w for w in text.extra_stopwords if not hidden_characters(str(w)))
    return text if len(kept) == len(text.extra_stopwords) else replace(
        text, extra_stopwords=kept)

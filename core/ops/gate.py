"""The promotion gate: may this model serve at all, and should it replace production?

Two questions, one place, so the pipeline, the CLI and the Compare page give the same
answer:

- `problems(model_id)`: reasons the model must never serve — NaN/inf in its metrics or
  topic-word matrix, or degenerate topics (several topics with the same top words, as
  a training run with broken parameters produces). Promotion refuses such a model.
- `verdict(model_id, production_id)`: the pipeline's quality gate. Both models' top
  words are scored (NPMI) against the *same* texts — the dataset version the new model
  was trained on — and the new model passes unless it is worse than production by more
  than `tolerance` plus its coverage gain, or its topic diversity is below the floor.
  Coverage is the share of the version's tokens a model has a vocabulary entry for: NPMI
  scores only the words a model knows, so production kept a high NPMI on a version a
  fifth of which (a new vertical) it could not represent, and the retrain drift
  recommended stayed candidate. Each point of coverage the new model gains over
  production widens the tolerance by a point of NPMI; coverage it loses changes nothing.
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.data import store
from core.errors import (
    CLI,
    Controls,
    InputError,
    PermissionDenied,
    StoreBusyError,
    TopicLabError,
    shown,
)
from core.model import metrics
from core.model.metrics import DIVERSITY_FLOOR
from core.model.text import TextConfig
from core.serve import registry

DEFAULT_TOLERANCE = 0.02
MAX_TOLERANCE = 2.0   # NPMI spans [-1, 1]: more than 2 lets every model through
TOP_WORDS = metrics.TOPN


def check_tolerance(tolerance: Any) -> float:
    """The NPMI tolerance as a float, or an InputError naming it: a finite number from 0 to
    MAX_TOLERANCE, as `pipeline --tolerance` takes. From Python, NaN let a model through
    however much worse its NPMI (no comparison with NaN is true, so none was "worse by
    more than" it), and so did infinity; a negative one asked for a model better than
    production."""
    if isinstance(tolerance, bool) or not isinstance(tolerance, numbers.Real) \
            or not math.isfinite(tolerance) or not 0 <= tolerance <= MAX_TOLERANCE:
        raise InputError(f"tolerance must be a finite number from 0 to {MAX_TOLERANCE:g}, "
                         f"not {shown(tolerance)}.")
    return float(tolerance)


@dataclass(frozen=True)
class Verdict:
    """The gate's decision, the reason in words, and the figures behind it."""

    passes: bool
    reason: str
    evaluation: dict[str, Any] = field(default_factory=dict)
    other_dataset: bool = False    # production serves another dataset
    warning: str | None = None     # passes, but the user should know (`first_model_note`)

    def to_dict(self) -> dict[str, Any]:
        return {"passes": self.passes, "reason": self.reason, "evaluation": self.evaluation,
                "other_dataset": self.other_dataset,
                **({"warning": self.warning} if self.warning else {})}


def below_floor(diversity: float) -> bool:
    """Whether a model's topic diversity is below the floor the gate holds models to."""
    return diversity < DIVERSITY_FLOOR


def floor_note(model_id: str, diversity: float, first: bool = True,
               controls: Controls = CLI) -> str | None:
    """Why a production model below the diversity floor serves anyway (None when it is
    not below): the gate promotes the first model whatever its scores, since nothing else
    would serve, and the floor applies from the second on (`first`; else it was promoted
    past the gate). Sony's first model went to production with diversity 0.40 without a
    word of it."""
    if not below_floor(diversity):
        return None
    why = ("it serves because it is the first production model and nothing else would"
           if first else "it was promoted to production past the quality gate "
           f"({controls.force})")
    return (f"{model_id}'s topic diversity {diversity:.2f} is below the floor "
            f"{DIVERSITY_FLOOR} (its topics repeat each other's top words); {why}. The gate "
            "holds the next models to the floor: train one with another K and promote it "
            "when it is above.")


def production_floor_note(model_id: str, controls: Controls = CLI) -> str | None:
    """`floor_note` of a production model, first or not as its promotion was audited
    (the Compare page shows it for as long as the model serves, naming its `controls`)."""
    diversity = registry.get(model_id)["metrics"].get("diversity")
    if not isinstance(diversity, int | float) or not below_floor(float(diversity)):
        return None
    row = store.query_one(
        "SELECT details->>'previous' FROM audit WHERE action = 'promote' AND target = ? "
        "AND details->>'alias' = 'production' ORDER BY id DESC LIMIT 1", [model_id])
    return floor_note(model_id, float(diversity), first=row is None or row[0] is None,
                      controls=controls)


def recorded_diversity(model_id: str, record: dict,
                       model: registry.LoadedModel | None = None) -> float:
    """The model's topic diversity as training recorded it, else measured on its topics
    as training does (`metrics.evaluate`): a model registered from Python without metrics
    (`registry.register(metrics={})`, as bench/serve.py does) made `promote` a KeyError
    traceback at the gate."""
    value = record["metrics"].get("diversity")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    top = registry.loaded(model_id, model).engine.topics(metrics.TOPN)
    return metrics.topic_diversity(top)


def problems(model_id: str, model: registry.LoadedModel | None = None) -> list[str]:
    """Why this model must not serve (empty when it may). `model`: its artifact, when the
    caller loaded it already (the pipeline and a promotion judge it next)."""
    record = registry.get(model_id)
    found = []
    bad_metrics = registry.non_finite_metrics(record["metrics"])
    if bad_metrics:
        found.append(f"its metrics hold non-finite values ({', '.join(bad_metrics)})")
    model = registry.loaded(model_id, model)
    topic_term = np.asarray(model.engine.topic_term_)
    if not np.isfinite(topic_term).all() or not np.isfinite(model.engine.alpha_).all():
        found.append("its topic-word matrix or alpha holds NaN or infinite values (were its "
                     "training parameters finite?)")
        return found
    groups: dict[tuple[str, ...], list[int]] = {}
    for topic, words in enumerate(model.top_words(TOP_WORDS)):
        groups.setdefault(tuple(words), []).append(topic)
    same = [topics for topics in groups.values() if len(topics) > 1]
    if same:
        shown = "; ".join(", ".join(str(t) for t in topics) for topics in same[:5])
        found.append(f"its topics are degenerate: topics {shown} have identical top-"
                     f"{TOP_WORDS} word lists (empty topics: is K too large for the data, or "
                     "were its parameters broken?)")
    return found


@dataclass(frozen=True)
class Fit:
    """How a model fits a dataset version: the NPMI of its top words there, the share of
    those words the version lacks, and the share of its tokens the model can represent."""

    npmi: float
    top_words_missing: float
    coverage: float


def word_counts(corpus) -> Counter[str]:
    """Occurrences of each word in `corpus`'s campaigns, before any vocabulary filter."""
    return Counter(itertools.chain.from_iterable(corpus.tokens))


def _loaded(model: str | registry.LoadedModel) -> registry.LoadedModel:
    """A model id's artifact, loaded; an artifact loaded already as it is (loading one is
    a few reads and a library's parse: the gate loaded each model two or three times)."""
    return model if isinstance(model, registry.LoadedModel) else registry.load(model)


def fit_on(corpus, model: str | registry.LoadedModel,
           counts: Counter[str] | None = None) -> Fit:
    """`model` (an id, or its artifact loaded) scored on `corpus`: NPMI with it as reference
    (top words the corpus lacks are left out; a topic left with fewer than 2 words is
    dropped) and coverage, the share of the occurrences in `counts` (`word_counts(corpus)`)
    whose word the model knows."""
    return fits_on(corpus, [model], counts)[0]


def fits_on(corpus, models: list[str | registry.LoadedModel],
            counts: Counter[str] | None = None) -> list[Fit]:
    """`fit_on` of each model, their NPMI measured in one pass over the corpus
    (`metrics.coherence_of_each`): the gate's two fits took two, nearly all of its time."""
    loaded = [_loaded(model) for model in models]
    known = corpus.dictionary.token2id
    tops = [model.top_words(TOP_WORDS) for model in loaded]
    kept = [[[w for w in topic if w in known] for topic in top] for top in tops]
    usable = [[t for t in topics if len(t) >= 2] for topics in kept]
    npmis = metrics.coherence_of_each(usable, corpus, "c_npmi")
    counts = word_counts(corpus) if counts is None else counts
    total = sum(counts.values())
    fits = []
    for model, top, topics, good, npmi in zip(loaded, tops, kept, usable, npmis,
                                               strict=True):
        missing = 1 - sum(len(t) for t in topics) / sum(len(t) for t in top)
        vocabulary = model.encoder.dictionary.token2id
        covered = sum(n for word, n in counts.items() if word in vocabulary)
        fits.append(Fit(npmi if good else -1.0, missing, covered / total if total else 1.0))
    return fits


def damage(model_id: str) -> str | None:
    """Why `model_id`'s folder cannot be read as the service and drift read it (None when
    it can): its artifact, and the encoded counts saved beside it (a truncated
    counts.npz raised `BadZipFile` through the pipeline's drift step, a traceback)."""
    return load_intact(model_id)[1]


def load_intact(model_id: str) -> tuple[registry.LoadedModel | None, str | None]:
    """`model_id`'s artifact, loaded, and None; or None and why its folder cannot be read
    (see `damage`), so the gate loads production once to check it and to score it."""
    from core.model.corpus import EncodedCounts

    try:
        model = registry.load(model_id)
        EncodedCounts.load(registry.model_dir(model_id))
    except (StoreBusyError, PermissionDenied):
        raise
    except Exception as err:
        if isinstance(err, TopicLabError):
            return None, str(err)
        return None, (f"its artifact in {registry.model_dir(model_id)} is damaged "
                      f"({err.__class__.__name__}: {err})")
    return model, None


def npmi_on(corpus, model_id: str) -> tuple[float, float]:
    """A model's NPMI with `corpus` as reference, and the share of its top words that
    corpus lacks (see `fit_on`)."""
    fit = fit_on(corpus, model_id)
    return fit.npmi, fit.top_words_missing


def verdict(model_id: str, production_id: str | None, corpus=None, *,
            tolerance: float = DEFAULT_TOLERANCE,
            known_problems: list[str] | None = None,
            model: registry.LoadedModel | None = None,
            production: registry.LoadedModel | None = None,
            controls: Controls = CLI) -> Verdict:
    """Should `model_id` replace `production_id`? `corpus` is the model's training corpus
    (built from its dataset version and text settings when not given). `known_problems`:
    the model's `problems`, when the caller has just found them (a promotion checks them
    first; finding them loads the model and its top words again). `model`: `model_id`'s
    artifact, when the caller loaded it; `production`: `production_id`'s, loaded by
    `load_intact` (the pipeline measured drift with it). Each model is loaded once here.
    `controls`: how the reason names the confirmation of another dataset (a page's own)."""
    production_model = production
    tolerance = check_tolerance(tolerance)
    record = registry.get(model_id)
    label = f"{record['dataset']} v{int(record['version'])}"
    if known_problems is None:  # finding them loads the model: once, for its fit below too
        model = registry.loaded(model_id, model)
        known_problems = problems(model_id, model)
    if known_problems:
        return Verdict(False, f"{model_id} cannot serve: " + "; ".join(known_problems))
    if production_id == model_id:
        return Verdict(False, f"{model_id} is already the production model")
    serves = registry.get(production_id)["dataset"] if production_id else None
    if corpus is None:
        from core.ops.train import build_corpus
        corpus, _ = build_corpus(record["dataset"], int(record["version"]),
                                 TextConfig.from_dict(record["text_config"], trained=True))
    counts = word_counts(corpus)
    if production_model is not None and serves == record["dataset"]:
        production, damaged = production_model, None
    else:
        production, damaged = load_intact(production_id) \
            if production_id and serves == record["dataset"] else (None, None)
    # both models' NPMI in one pass over the texts (two took twice as long)
    fits = fits_on(corpus, [model if model is not None else model_id,
                            *([production] if production is not None else [])], counts)
    new = fits[0]
    new_npmi, new_div = new.npmi, recorded_diversity(model_id, record, model)
    evaluation: dict[str, Any] = {"new_npmi": round(new_npmi, 4),
                                  "new_diversity": round(new_div, 4),
                                  "new_coverage": round(new.coverage, 4)}
    if damaged:
        evaluation.update(production=production_id, production_damaged=damaged)
        if below_floor(new_div):
            return Verdict(False, f"topic diversity {new_div:.2f} is below the floor "
                                  f"{DIVERSITY_FLOOR} (production {production_id} cannot be "
                                  f"loaded either: {damaged})", evaluation)
        return Verdict(True, f"production {production_id} cannot be loaded, so it cannot be "
                             f"better: {damaged}", evaluation)
    if production_id and serves == record["dataset"]:
        prod = fits[1]
        evaluation.update(production=production_id, production_npmi=round(prod.npmi, 4),
                          production_top_words_missing=round(prod.top_words_missing, 3),
                          production_coverage=round(prod.coverage, 4),
                          coverage_gain=round(max(0.0, new.coverage - prod.coverage), 4))
    if production_id is None:
        return Verdict(True, "there is no production model yet" + (
            f", so it is promoted although its topic diversity {new_div:.2f} is below the "
            f"floor {DIVERSITY_FLOOR} (nothing else would serve)" if below_floor(new_div)
            else ""), evaluation, warning=floor_note(model_id, new_div))
    if serves != record["dataset"]:
        return Verdict(False, (
            f"production ({production_id}) serves dataset {serves!r}; a model of "
            f"{record['dataset']!r} does not replace it automatically — "
            f"{controls.other_dataset}"), evaluation, other_dataset=True)
    if below_floor(new_div):
        return Verdict(False, f"topic diversity {new_div:.2f} is below the floor "
                              f"{DIVERSITY_FLOOR}", evaluation)
    prod_npmi, gain = evaluation["production_npmi"], evaluation["coverage_gain"]
    allowed = f"the tolerance {tolerance}" + (
        f" plus the coverage gain {gain:.3f} (it represents {new.coverage:.1%} of the "
        f"version's tokens, production {prod.coverage:.1%})" if gain > 0 else "")
    if new_npmi < prod_npmi - tolerance - gain:
        return Verdict(False, f"NPMI {new_npmi:.3f} is worse than production's "
                              f"{prod_npmi:.3f} on {label} by more than {allowed}", evaluation)
    return Verdict(True, f"NPMI {new_npmi:.3f} vs production's {prod_npmi:.3f} on {label} "
                         f"is within {allowed} or better", evaluation)

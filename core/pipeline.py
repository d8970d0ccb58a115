"""The gated retraining pipeline a scheduler runs: import → drift check → train →
evaluate → gate → promote (or keep as candidate) → batch score.

The gate compares the new model with production on the *same* data — the new dataset
version — by the stated objective: NPMI coherence of the top-10 words, with the
training texts of the new version as reference. The new model is promoted unless it is
worse than production by more than `tolerance`, or its topic diversity is below the
floor; otherwise it becomes the `candidate` and the reason says why. Production and its
fingerprints are only touched by the final promotion, which scores before it moves the
alias, so a failure at any step leaves them as they were.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from core import audit, auth, datasets, deploy, drift, ingest, metrics, registry, store
from core.errors import NotFoundError, TopicLabError
from core.sweep import DIVERSITY_FLOOR
from core.train import Progress, build_corpus, saved_settings, train

DEFAULT_TOLERANCE = 0.02
Log = Callable[[str], None]


def _npmi_on(corpus, model_id: str) -> tuple[float, float]:
    """A model's NPMI with `corpus` as reference, and the share of its top words that
    corpus lacks (those are left out; a topic left with fewer than 2 words is dropped)."""
    top = registry.load(model_id).top_words(metrics.TOPN)
    known = corpus.dictionary.token2id
    kept = [[w for w in topic if w in known] for topic in top]
    missing = 1 - sum(len(t) for t in kept) / sum(len(t) for t in top)
    usable = [t for t in kept if len(t) >= 2]
    npmi = metrics.coherence(usable, corpus, "c_npmi") if usable else -1.0
    return npmi, missing


def run(dataset: str, paths: Sequence[str | Path] | None = None, *,
        tolerance: float = DEFAULT_TOLERANCE, overrides: dict[str, Any] | None = None,
        progress: Progress | None = None, log: Log | None = None) -> dict[str, Any]:
    """Run every step; raises on failure (nothing promoted), returns the decision otherwise."""
    for action in ("train", "promote"):  # refuse before doing any work
        auth.require(action)
    steps: list[dict[str, Any]] = []

    def note(step: str, **detail: Any) -> None:
        steps.append({"step": step, **detail})
        if log:
            log(f"{step}: {json.dumps(detail, default=str, ensure_ascii=False)}")

    started = time.perf_counter()
    version = None
    if paths:
        summary = ingest.import_paths(paths, dataset)
        version = summary.version
        note("import", version=summary.version, status=summary.status, rows=summary.rows)
        latest = datasets.get(dataset).version
        if summary.status == "unchanged" and version != latest:
            raise TopicLabError(
                f"These files hold exactly {dataset} v{version}, an older version (the latest "
                f"is v{latest}); retraining on old data was not started.")

    try:
        production = registry.resolve("production")
    except NotFoundError:
        production = None
    serves = registry.get(production)["dataset"] if production else None
    if production and serves != dataset:
        note("drift", skipped=f"production serves dataset {serves!r}, not {dataset!r}")
    elif production:
        report = drift.check(dataset, version, production)
        note("drift", against=production, retrain_recommended=report.retrain_recommended,
             verdict=report.verdict)

    spec = saved_settings(dataset)
    if overrides:
        # Another engine's saved params (e.g. tomotopy's term_weight) do not carry over.
        kept = spec.params if overrides.get("engine", spec.engine) == spec.engine else {}
        spec = spec.with_(**{k: v for k, v in overrides.items() if k in ("k", "engine")},
                          params={**kept, **overrides.get("params", {})})
    corpus, info = build_corpus(dataset, version, spec.text)
    spec = spec.with_(dataset=info.name, version=info.version)
    result = train(spec, progress, corpus=corpus)
    note("train", model_id=result.model_id, dataset=info.label, engine=spec.engine, k=spec.k)

    # Both models are judged on the same data: the whole version just trained on.
    new_npmi, _ = _npmi_on(corpus, result.model_id)
    new_div = result.metrics["diversity"]
    evaluation = {"new_npmi": round(new_npmi, 4), "new_diversity": round(new_div, 4)}
    if production and serves == dataset:
        prod_npmi, missing = _npmi_on(corpus, production)
        evaluation.update(production=production, production_npmi=round(prod_npmi, 4),
                          production_top_words_missing=round(missing, 3))
    note("evaluate", **evaluation)

    if production is None:
        promote, reason = True, "there is no production model yet"
    elif serves != dataset:
        promote, reason = False, (
            f"production ({production}) serves dataset {serves!r}; a model of {dataset!r} "
            "does not replace it automatically — promote it with `python -m core promote`")
    elif new_div < DIVERSITY_FLOOR:
        promote, reason = False, (f"topic diversity {new_div:.2f} is below the floor "
                                  f"{DIVERSITY_FLOOR}")
    elif new_npmi < evaluation["production_npmi"] - tolerance:
        promote, reason = False, (
            f"NPMI {new_npmi:.3f} is worse than production's {evaluation['production_npmi']:.3f} "
            f"on {info.label} by more than the tolerance {tolerance}")
    else:
        promote, reason = True, (
            f"NPMI {new_npmi:.3f} vs production's {evaluation['production_npmi']:.3f} on "
            f"{info.label} is within the tolerance {tolerance} or better")
    note("gate", decision="promote" if promote else "candidate", reason=reason)

    if promote:
        outcome = deploy.promote(result.model_id, "production", progress)
        note("promote", alias="production", previous=outcome["previous"],
             scored=(outcome["scoring"] or {}).get("campaigns"))
    else:
        outcome = deploy.promote(result.model_id, "candidate", progress)
        note("candidate", alias="candidate", previous=outcome["previous"],
             scored=(outcome["scoring"] or {}).get("campaigns"))
    decision = "promoted" if promote else "candidate"
    with store.transaction() as con:
        audit.record(con, "pipeline", result.model_id,
                     {"dataset": info.label, "decision": decision, "reason": reason})
    return {"decision": decision, "reason": reason, "model_id": result.model_id,
            "dataset": info.name, "version": info.version, "production_before": production,
            "metrics": result.metrics, "steps": steps,
            "seconds": round(time.perf_counter() - started, 2)}

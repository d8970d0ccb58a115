"""The gated retraining pipeline a scheduler runs: import → drift check → train →
evaluate → gate → promote (or keep as candidate) → batch score → carry topic names.

The gate (`core.ops.gate.verdict`, the same one the Compare page shows) compares the new
model with production on the *same* data — the new dataset version — by the stated
objective: NPMI coherence of the top-10 words, with the training texts of the new
version as reference. The new model is promoted unless it is worse than production by
more than `tolerance`, or its topic diversity is below the floor; otherwise it becomes
the `candidate` and the reason says why. A model that must not serve at all (NaN
metrics, degenerate topics) is neither promoted nor made candidate: the pipeline fails
saying so, the model kept without an alias, and what K to try. Production and its
fingerprints are only touched by the final promotion, which scores before it moves the
alias, so a failure at any step leaves them as they were. Last, the human topic names
of the production model it was compared with are carried to the new model's aligned
topics (`core.ops.carry`), marked as carried until someone confirms them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.data import audit, auth, datasets, ingest, store
from core.errors import (
    AliasMovedError,
    NotFoundError,
    TopicLabError,
)
from core.ops import carry, deploy, drift, gate
from core.ops.train import (
    build_corpus,
    has_saved_settings,
    saved_settings,
    train,
    train_fitted,
)
from core.progress import Progress
from core.serve import registry

DEFAULT_TOLERANCE = gate.DEFAULT_TOLERANCE
Log = Callable[[str], None]


@dataclass(frozen=True)
class PipelineResult:
    """The decision ("promoted" or "candidate") and why, the new model, the dataset version
    it was trained on, the production it was placed against (`production_before`: the
    model it replaced, or kept as candidate beside), and every step with its details.
    When production moved during the run that is the new one, which the model was judged
    again against: the one the run started with was named, as if it had been replaced
    (it is in the `production_moved` step)."""

    decision: str
    reason: str
    model_id: str
    dataset: str
    version: int
    production_before: str | None
    metrics: dict[str, Any]
    warnings: list[str]
    names: carry.CarryReport | None    # production's topic names carried to the new model
    steps: list[dict[str, Any]]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"decision": self.decision, "reason": self.reason, "model_id": self.model_id,
                "dataset": self.dataset, "version": self.version,
                "production_before": self.production_before, "metrics": self.metrics,
                "warnings": self.warnings,
                "names": self.names.to_dict() if self.names else None,
                "steps": self.steps, "seconds": self.seconds}


def _training_corpus(spec, corpus):
    """The corpus training reuses: none for Spark, which tokenises the whole version in
    its tasks from the Parquet export (`--export-dir`) and keeps the encoded counts there,
    as `train --engine spark` does; fitting MLlib on this process's corpus exported
    nothing. The local corpus stays the gate's reference either way."""
    return None if spec.engine == "spark" else corpus


def _drift_step(note: Callable[..., None], dataset: str, version: int | None,
                production: str) -> tuple[registry.LoadedModel | None, str | None]:
    """Check drift against production and note it; production's artifact, loaded once for
    drift, the gate and the names (each loaded it again: seconds of a K = 50 model's
    parse), or why its folder cannot be read. A damaged production stopped the pipeline
    here (a traceback), so it could not retrain its way out: the step is noted as skipped
    with the reason, and the gate lets a new model that can serve replace it."""
    model, damaged = gate.load_intact(production)
    if damaged is not None:
        note("drift", skipped=f"production {production} cannot be loaded: {damaged}")
        return None, damaged
    report = drift.check(dataset, version, production, model=model)
    note("drift", against=production, retrain_recommended=report.retrain_recommended,
         verdict=report.verdict)
    return model, None


def _refuse(result, label: str, broken: list[str], production: str | None) -> None:
    """End a run whose model must not serve: audited as refused, and an error saying what
    was left as it was and how to get out. Promoting it to candidate failed with "cannot
    be promoted" alone, exit 1 and no JSON, the model left without an alias unexplained
    (a new dataset trained with the default K = 20 on 5 campaigns: degenerate topics)."""
    with store.transaction() as con:
        audit.record(con, "pipeline", result.model_id,
                     {"dataset": label, "decision": "refused", "reason": "; ".join(broken)})
    hints = " ".join(w for w in result.warnings if w.startswith("K = "))
    raise TopicLabError(
        f"Model {result.model_id} ({label}, K = {result.k}) was trained but cannot serve: "
        f"{'; '.join(broken)}. Nothing was promoted: production "
        f"({production or 'none'}) and the candidate alias are as they were, and the model "
        f"is kept without an alias for inspection (`python -m core delete-model "
        f"{result.model_id}` removes it). {hints + ' ' if hints else ''}Run the pipeline "
        "again with another K (`--k N`).")


REJUDGE = 3  # production moved this many times while judging: the model stays candidate


def _place(model_id: str, model: registry.LoadedModel, decided: gate.Verdict,
           production: str | None, corpus, tolerance: float, progress: Progress | None,
           note: Callable[..., None]) -> tuple[gate.Verdict, str | None]:
    """Promote the model or make it candidate as `decided` says; returns the verdict that
    placed it and the production model it was judged against. The promotion is refused
    when production moved since the gate read it (another pipeline or `promote` won: the
    alias is checked and moved in one transaction); the model is then judged again
    against the new production and placed by that verdict. Two overlapping runs failed
    the second with "production changed while you were deciding", its fully trained
    model left without an alias."""
    for _ in range(REJUDGE):
        if not decided.passes:
            break
        try:
            # Judged against `production`: promoted only if it still is (stale gate).
            outcome = deploy.promote(model_id, "production", progress, expected=production,
                                     known_problems=[], model=model)
        except AliasMovedError as moved:
            note("production_moved", judged_against=production, now=moved.now)
            production = moved.now
            decided = gate.verdict(model_id, production, corpus, tolerance=tolerance,
                                   known_problems=[], model=model)
            note("gate", decision="promote" if decided.passes else "candidate",
                 against=production, reason=decided.reason)
            continue
        note("promote", alias="production", previous=outcome.previous,
             scored=outcome.scoring.campaigns if outcome.scoring else None,
             **_warned(outcome))
        return decided, production
    if decided.passes:  # still passing, but production kept moving under it
        decided = gate.Verdict(False, (
            f"production changed {REJUDGE} times while this model was judged (now "
            f"{production}); it is kept as candidate: compare it with production and "
            "promote it if it is better"), decided.evaluation)
    outcome = deploy.promote(model_id, "candidate", progress, known_problems=[], model=model)
    note("candidate", alias="candidate", previous=outcome.previous,
         scored=outcome.scoring.campaigns if outcome.scoring else None, **_warned(outcome))
    return decided, production


def _warned(outcome: deploy.PromoteResult) -> dict[str, str]:
    """The promotion's warning for its step (a canary its alias move turned off)."""
    return {"warning": outcome.warning} if outcome.warning else {}


def run(dataset: str, paths: Sequence[str | Path] | None = None, *,
        tolerance: float = DEFAULT_TOLERANCE, overrides: dict[str, Any] | None = None,
        progress: Progress | None = None, log: Log | None = None) -> PipelineResult:
    """Run every step; raises on failure (nothing promoted), returns the decision otherwise."""
    for action in ("train", "promote"):  # refuse before doing any work
        auth.require(action)
    tolerance = gate.check_tolerance(tolerance)
    steps: list[dict[str, Any]] = []

    def note(step: str, **detail: Any) -> None:
        steps.append({"step": step, **detail})
        if log:
            log(f"{step}: {json.dumps(detail, default=str, ensure_ascii=False)}")

    started = time.perf_counter()
    version = None
    if not paths:  # a typo: said before "drift: skipped, production serves 'demo'" was logged
        datasets.get(dataset)
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
    damaged = production_model = None
    if production and serves != dataset:
        note("drift", skipped=f"production serves dataset {serves!r}, not {dataset!r}")
    elif production:
        production_model, damaged = _drift_step(note, dataset, version, production)

    spec = saved_settings(dataset, version)
    if overrides:
        # Another engine's saved params (e.g. tomotopy's term_weight) do not carry over.
        kept = spec.params if overrides.get("engine", spec.engine) == spec.engine else {}
        spec = spec.with_(**{k: v for k, v in overrides.items() if k in ("k", "engine")},
                          params={**kept, **overrides.get("params", {})})
    corpus, info = build_corpus(dataset, version, spec.text)
    spec = spec.with_(dataset=info.name, version=info.version)
    if "k" not in (overrides or {}) and not has_saved_settings(dataset):  # a K no one chose
        result = train_fitted(spec, progress, corpus=corpus)
    else:
        result = train(spec, progress, corpus=_training_corpus(spec, corpus))
    for tried in result.tries or [{"model_id": result.model_id, "k": result.k}]:
        note("train", model_id=tried["model_id"], dataset=info.label, engine=spec.engine,
             k=tried["k"], language=corpus.language,
             **{"retrained": tried["retrained"]} if "retrained" in tried else {})
    if result.tries and result.model_id != result.tries[-1]["model_id"]:
        [kept] = [t for t in result.tries if t["model_id"] == result.model_id]
        note("train", kept=result.model_id, k=result.k,
             reason=f"no K tried reached topic diversity {gate.DIVERSITY_FLOOR}; the most "
                    f"diverse ({kept['diversity']:.2f}) goes on")

    # Both models are judged on the same data: the whole version just trained on. Whether
    # the model may serve at all is found once, for the gate and the promotion, and its
    # artifact loaded once for both.
    model = registry.load(result.model_id)
    broken = gate.problems(result.model_id, model)
    decided = gate.verdict(result.model_id, production, corpus, tolerance=tolerance,
                           known_problems=broken, model=model, production=production_model)
    note("evaluate", **decided.evaluation)
    promote, reason = decided.passes, decided.reason
    note("gate", decision="refused" if broken else "promote" if promote else "candidate",
         reason=reason)
    if broken:
        _refuse(result, info.label, broken, production)

    judged = production
    decided, production = _place(result.model_id, model, decided, production, corpus,
                                 tolerance, progress, note)
    promote, reason = decided.passes, decided.reason
    if production != judged:  # production moved while this run judged: names come from it
        serves = registry.get(production)["dataset"] if production else None
        damaged = decided.evaluation.get("production_damaged")
        production_model = None
    names = None
    if production and serves == dataset and damaged:
        note("names", skipped=f"production {production} cannot be loaded")
    elif production and serves == dataset:
        names = carry.carry_labels(production, result.model_id, loaded=(
            production_model or registry.load(production), model))
        note("names", carried=len(names.carried), not_carried=len(names.not_carried),
             new_topics=names.new_topics)
    decision = "promoted" if promote else "candidate"
    with store.transaction() as con:
        audit.record(con, "pipeline", result.model_id,
                     {"dataset": info.label, "decision": decision, "reason": reason})
    warnings = [*result.warnings, *([decided.warning] if decided.warning else []),
                *(step["warning"] for step in steps if step["step"] in ("promote", "candidate")
                  and "warning" in step)]
    return PipelineResult(decision, reason, result.model_id, info.name, info.version,
                          production, result.metrics, warnings, names, steps,
                          round(time.perf_counter() - started, 2))

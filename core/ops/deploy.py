"""Promotion: move an alias to a model, batch-scoring it first.

Scoring happens before the alias moves, so if scoring fails production still points at
the previous model with its fingerprints intact. Candidates are scored too, so they can
be compared with production campaign by campaign (A/B).

The safety net: a model that must not serve (`gate.problems`: NaN metrics, degenerate
topics) or whose fingerprints hold NaN is refused; a model of another dataset than
production's needs `other_dataset=True`; with `expected` the promotion is refused when
production moved since the caller looked (the confirmation named another model). With
`require_gate` a promotion to production must also pass the pipeline's quality gate
(`gate.verdict`) against the production model of the moment, which must still be
production when the alias moves: the CLI asks for it unless `--force`. The alias, the
cleared candidate alias and the dataset's retraining recipe are written in one
transaction, with every check inside it; a canary share the move turns off (its candidate
moved or became production) is said in the result's warning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb

from core.data import auth, datasets, store
from core.errors import CLI, Controls, InputError, TopicLabError
from core.ops import gate
from core.progress import Progress
from core.serve import canary, registry, score
from core.testpause import pause


@dataclass(frozen=True)
class PromoteResult:
    """The alias moved: the model it now names, the one it named before (None: none), and
    the batch scoring done first (None: the model was scored already)."""

    model_id: str
    alias: str
    previous: str | None
    scoring: score.ScoreResult | None
    gate: gate.Verdict | None = None   # the quality gate's verdict, when it was asked for
    # the first production model is below the floor; the canary stopped (its candidate moved)
    warning: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"model_id": self.model_id, "alias": self.alias, "previous": self.previous,
                "scoring": self.scoring.to_dict() if self.scoring else None,
                "gate": self.gate.to_dict() if self.gate else None,
                **({"warning": self.warning} if self.warning else {})}


def promote(model_id: str, alias: str = "production", progress: Progress | None = None, *,
            expected: str | None = registry.ANY_PREVIOUS, other_dataset: bool = False,
            require_gate: bool = False, known_problems: list[str] | None = None,
            model: registry.LoadedModel | None = None,
            controls: Controls = CLI) -> PromoteResult:
    """Point `alias` at `model_id`, fingerprinting its dataset first if not done yet.

    `model_id` may name an alias, as in every other command (`promote candidate` moves
    production to the candidate's model), but not the alias being moved.
    `known_problems`: the model's `gate.problems`, when the caller has just found them
    (the pipeline's gate did; finding them loads the model and its top words again).
    `model`: its artifact, when the caller loaded it (scoring then need not load it).
    `controls`: how refusals name the confirmations (a page's own, or the CLI's flags)."""
    registry.check_alias(alias)
    auth.require("promote")
    named = model_id
    if named == alias:
        others = " or 'candidate'" if alias == "production" else ""
        raise InputError(f"{alias!r} is the alias being moved, not a model to point it at: "
                         f"name a model id (`python -m core models` lists them){others}.")
    model_id = registry.resolve(named)
    record = registry.get(model_id)
    loaded = model if model is not None and model.model_id == model_id else None
    if known_problems is None and loaded is None:  # once, for the problems and the gate
        loaded = registry.load(model_id)
    broken = gate.problems(model_id, loaded) if known_problems is None else known_problems
    if broken:
        raise TopicLabError(f"Model {model_id} cannot be promoted: " + "; ".join(broken) + ".")
    if alias == "production" and not other_dataset:
        with store.connect(read_only=True) as con:
            _same_dataset(con, record, controls)  # early, before scoring; checked again below
    verdict = None
    if require_gate and alias == "production" and not other_dataset:
        verdict, expected = _passes_gate(model_id, expected, broken, loaded, progress,
                                         controls)
    scored = None
    if not score.is_scored(model_id):
        scored = score.score_dataset(model_id, progress, model=loaded)
    pause("promote")  # the window: the model was resolved and scored, the alias not moved
    with store.transaction() as con:
        if named in registry.ALIASES:
            _still_named(con, named, model_id)
        if alias == "production" and not other_dataset:
            _same_dataset(con, record, controls)
        canary_before = canary.read_stored(con)
        previous = registry.move_alias(con, alias, model_id, expected=expected)
        canary_stopped = canary.stopped_note(canary_before, canary.read_stored(con), controls)
        if alias == "production":
            registry.save_settings(model_id, con=con)  # the pipeline retrains it the same way
    notes = [older_version_note(record, controls)] if alias == "production" else []
    notes.append(canary_stopped)
    if alias == "production" and previous is None:   # no gate to hold it to the floor
        notes.append(gate.floor_note(model_id, float(record["metrics"].get("diversity", 1.0))))
    warning = " ".join(note for note in notes if note) or None
    return PromoteResult(model_id, alias, previous, scored, verdict, warning)


def older_version_note(record: dict[str, Any], controls: Controls = CLI) -> str | None:
    """Production answers the campaigns of its own dataset version: rolled back to a model
    of an older version (`promote candidate` after the pipeline moved on), the newer
    version's new campaigns were unknown (404 in the service) without a word. The note
    says how to rebind it (`core.ops.rebind`), as `controls` name it."""
    newest = datasets.get(record["dataset"])
    if newest.version <= int(record["version"]):
        return None
    return (f"{record['model_id']} was trained on {newest.name} v{record['version']}, and "
            f"{newest.name} v{newest.version} is newer: production answers only the "
            f"campaigns of v{record['version']}, so campaigns new in v{newest.version} are "
            f"unknown to it until a model of v{newest.version} is production: "
            + controls.rebind.format(model=record["model_id"], version=newest.version) + ".")


def _passes_gate(model_id: str, expected: str | None, broken: list[str],
                 loaded: registry.LoadedModel | None = None, progress: Progress | None = None,
                 controls: Controls = CLI) -> tuple[gate.Verdict | None, str | None]:
    """The gate's verdict against the production model (`expected`, or today's; None:
    nothing to compare with), refusing a model that does not pass; and the production
    model the alias must still name when it moves. `broken`: the model's `gate.problems`,
    found by the caller (not looked for twice); `loaded`: its artifact, when loaded.
    Said on `progress` first: it takes seconds (17 s for the demo's K = 50 on a busy
    machine), and `promote` printed nothing meanwhile."""
    production = registry.alias("production") if expected is registry.ANY_PREVIOUS else expected
    if production in (None, model_id):
        return None, production
    if progress is not None:
        progress(0, 1, f"Quality gate: scoring the top words of {model_id} and of "
                       f"production {production} (NPMI)…")
    verdict = gate.verdict(model_id, production, known_problems=broken, model=loaded)
    if not verdict.passes:
        raise TopicLabError(f"Model {model_id} does not pass the quality gate: "
                            f"{verdict.reason}. Compare the two models (the Compare page), "
                            f"or promote it anyway ({controls.force}).")
    return verdict, production


def _still_named(con: duckdb.DuckDBPyConnection, name: str, model_id: str) -> None:
    """An alias named as the model (`promote candidate`) was read before scoring: refuse
    when it moved since, rather than promote a model it no longer names."""
    row = con.execute("SELECT model_id FROM aliases WHERE alias = ?", [name]).fetchone()
    if row is None or row[0] != model_id:
        raise TopicLabError(f"{name} changed while promoting: it now points at "
                            f"{row[0] if row else 'nothing'}, not {model_id}. Look at it "
                            "again before promoting.")


def _same_dataset(con: duckdb.DuckDBPyConnection, record: dict[str, Any],
                  controls: Controls = CLI) -> None:
    """Refuse to replace production with a model of another dataset unless asked to."""
    rows = con.execute("SELECT m.model_id, m.dataset FROM aliases a JOIN models m "
                      "USING (model_id) WHERE a.alias = 'production'").fetchall()
    row = rows[0] if rows else None
    if row and row[1] != record["dataset"]:
        raise TopicLabError(
            f"Production ({row[0]}) serves dataset {row[1]!r}; {record['model_id']} is a "
            f"model of {record['dataset']!r}. Replacing it changes what every lookup "
            f"answers from: {controls.other_dataset}.")

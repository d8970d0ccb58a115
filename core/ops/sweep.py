"""Sweeps: a grid over K (and alpha) × seeds, every run registered, the best one chosen.

The objective is stated, not implied: among configurations whose mean topic diversity
reaches the floor, the highest mean NPMI coherence wins; the winning configuration's
best seed is the chosen model. Stability (mean best-match Jaccard of top-10 words
between seeds) is reported per configuration so a coherent-but-unstable K stands out.
"""

from __future__ import annotations

import io
import itertools
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb
import pandas as pd

from core.data import audit, auth, store
from core.errors import InputError
from core.model import metrics
from core.model.engines import DEFAULTS, MAX_K, fitting_k
from core.model.metrics import DIVERSITY_FLOOR
from core.ops.train import TrainResult, TrainSpec, build_corpus, train
from core.progress import Progress
from core.serve import registry
from core.testpause import pause

OBJECTIVE = (f"highest mean NPMI among configurations with mean topic diversity ≥ "
             f"{DIVERSITY_FLOOR}; the best seed of that configuration is chosen")


def suggested_ks(k: int, campaigns: int) -> list[int]:
    """K values to sweep around a dataset's K (saved, or what its campaigns hold): half of
    it, itself and half as much again, none above what the campaigns hold. At K = 20 that
    is the 10, 20 and 30 the Train page offered every dataset, where the 16 Sony exports
    (K = 5) were offered only K values their campaigns cannot hold."""
    candidates = (k // 2, k, min(MAX_K, k + k // 2))  # fitting_k keeps them >= MIN_K
    return sorted({fitting_k(value, campaigns) for value in candidates})


@dataclass
class SweepResult:
    sweep_id: str
    runs: list[TrainResult]
    table: pd.DataFrame            # one row per configuration (K, alpha)
    best_model_id: str
    explanation: str
    objective: str = OBJECTIVE
    grid: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"sweep_id": self.sweep_id, "objective": self.objective,
                "best_model_id": self.best_model_id, "explanation": self.explanation,
                "grid": self.grid, "configurations": self.table.to_dict(orient="records"),
                "models": [r.model_id for r in self.runs]}


def sweep(base: TrainSpec, ks: Sequence[int], seeds: Sequence[int] = (0, 1),
          alphas: Sequence[Any] | None = None,
          progress: Progress | None = None) -> SweepResult:
    """Train every (K, alpha, seed), tokenising the dataset once; register all runs.

    Runs are registered as they finish: a sweep stopped half-way keeps the runs it
    completed (each a normal model), and records no sweep.
    """
    auth.require("train")
    if not ks or not seeds:
        raise InputError("A sweep needs at least one K and one seed.")
    # A value given twice is one run: `--seeds 0 0` trained seed 0 twice, and the two
    # identical runs made the configuration look perfectly stable (stability 1.00).
    ks, seeds = sorted(set(ks)), list(dict.fromkeys(seeds))
    alpha_values: list[Any] = list(dict.fromkeys(alphas)) if alphas else [None]
    grid = list(itertools.product(ks, alpha_values, seeds))
    specs = [base.with_(k=k, params={**base.params, "seed": seed,
                                     **({"alpha": alpha} if alpha is not None else {})})
             for k, alpha, seed in grid]  # every value is checked before any training
    sweep_id = f"sweep-{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
    corpus, info = build_corpus(base.dataset, base.version, base.text)
    runs: list[TrainResult] = []
    rows = []
    for i, ((k, alpha, seed), spec) in enumerate(zip(grid, specs, strict=True)):
        label = f"K={k}" + (f", alpha={alpha}" if alpha is not None else "") + f", seed {seed}"
        [used] = alphas_used(base, [alpha])  # as the grid shows it, not "default"

        def step(done: int, total: int, message: str, i: int = i, label: str = label) -> None:
            if progress:
                progress(i * total + done, len(grid) * total, f"[{i + 1}/{len(grid)}] "
                         f"{label}: {message}")

        result = train(spec.with_(dataset=info.name, version=info.version), step,
                       corpus=corpus, sweep_id=sweep_id)
        runs.append(result)
        rows.append({"k": k, "alpha": used, "seed": seed, "model_id": result.model_id,
                     **{m: result.metrics.get(m) for m in
                        ("npmi", "c_v", "u_mass", "diversity", "perplexity")}})

    shown = {"k": list(ks), "alpha": alphas_used(base, alpha_values), "seeds": list(seeds)}
    per_run = pd.DataFrame(rows)
    top_words = {r.model_id: registry.load(r.model_id).top_words(metrics.TOPN) for r in runs}
    table = _summarise(per_run, top_words)
    best_model_id, explanation = _choose(table, per_run)
    pause("sweep_record")  # the window: the runs are registered, the sweep not yet
    with store.transaction() as con:
        _check_best(con, best_model_id, sweep_id)
        con.execute(
            "INSERT INTO sweeps VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [sweep_id, info.name, info.version,
             json.dumps({"k": list(ks), "alpha": shown["alpha"], "seeds": list(seeds),
                         "engine": base.engine}, default=str),
             OBJECTIVE, best_model_id, explanation,
             table.to_json(orient="records"), audit.now()],
        )
        audit.record(con, "sweep", sweep_id, {"models": len(runs), "best": best_model_id})
    return SweepResult(sweep_id, runs, table, best_model_id, explanation,
                       grid=shown)


# What an engine whose default alpha is None uses (core.model.engines.DEFAULTS).
_ALPHA_RULES = {"spark": "1/K (MLlib's default)", "btm": "50/K (BTM's default)"}


def alphas_used(base: TrainSpec, alpha_values: Sequence[Any]) -> list[Any]:
    """The alphas a sweep trained with, as its grid shows them: a sweep without `alphas`
    trains with the spec's alpha or the engine's default, and showed `"alpha": [null]`."""
    used = base.params.get("alpha", DEFAULTS.get(base.engine, {}).get("alpha"))
    if used is None:
        used = _ALPHA_RULES.get(base.engine, "the engine's default")
    return [used if alpha is None else alpha for alpha in alpha_values]


def _check_best(con: duckdb.DuckDBPyConnection, model_id: str, sweep_id: str) -> None:
    """On the connection that records the sweep: a sweep runs for minutes, and a model
    deleted by another process meanwhile must not become the chosen model of a sweep."""
    registry.get_in(con, model_id, deleted_meanwhile=(
        f"while sweep {sweep_id} ran (it was its best run), so the sweep was not recorded "
        "(its other runs are kept as models; `python -m core models` lists them)"))


def list_sweeps(dataset: str | None = None) -> pd.DataFrame:
    """Every sweep with its chosen model, explanation and per-configuration results."""
    where, params = ("WHERE dataset = ?", [dataset]) if dataset else ("", [])
    frame = store.query(f"SELECT * FROM sweeps {where} ORDER BY created_at DESC", params)
    frame["results"] = frame["results"].map(lambda r: pd.read_json(io.StringIO(r)))
    return frame


def stability_table(sweeps: pd.DataFrame | None = None) -> pd.DataFrame:
    """Stability per K of every sweep that measured it (K, stability, sweep)."""
    sweeps = list_sweeps() if sweeps is None else sweeps
    frames = [r.assign(sweep=sid) for sid, r in zip(sweeps["sweep_id"], sweeps["results"],
                                                    strict=True)]
    if not frames:
        return pd.DataFrame(columns=["k", "stability", "sweep"])
    return pd.concat(frames).dropna(subset=["stability"])[["k", "stability", "sweep"]]


def _summarise(per_run: pd.DataFrame, top_words: dict[str, list[list[str]]]) -> pd.DataFrame:
    """Mean metrics and seed stability per (K, alpha)."""
    per_run = per_run.assign(shown_alpha=per_run["alpha"], alpha=_alpha_key(per_run["alpha"]))
    rows = []
    for (k, _), group in per_run.groupby(["k", "alpha"], sort=True):
        runs = [top_words[m] for m in group["model_id"]]
        rows.append({
            "k": int(k), "alpha": group["shown_alpha"].iloc[0], "runs": len(group),
            "npmi": group["npmi"].mean(), "c_v": group["c_v"].mean(),
            "u_mass": group["u_mass"].mean(), "diversity": group["diversity"].mean(),
            "perplexity": group["perplexity"].mean(),
            "stability": metrics.stability(runs) if len(runs) > 1 else None,
        })
    return pd.DataFrame(rows)


def _alpha_key(alphas: pd.Series) -> pd.Series:
    """Alpha as a group label: numbers and names (gensim's "auto", BTM's "50/K …") mixed
    do not sort, their text does."""
    return alphas.map(str).astype(object)


def _choose(table: pd.DataFrame, per_run: pd.DataFrame) -> tuple[str, str]:
    eligible = table[table["diversity"] >= DIVERSITY_FLOOR]
    note = ""
    if eligible.empty:
        eligible = table
        note = (f" No configuration reached the diversity floor {DIVERSITY_FLOOR}, so the "
                "floor was ignored.")
    best = eligible.sort_values(["npmi", "diversity"], ascending=False).iloc[0]
    runs = per_run[(per_run["k"] == best["k"])
                   & (_alpha_key(per_run["alpha"]) == str(best["alpha"]))]
    chosen = runs.sort_values("npmi", ascending=False).iloc[0]
    runner_up = ""
    if len(eligible) > 1:
        second = eligible.sort_values(["npmi", "diversity"], ascending=False).iloc[1]
        runner_up = f" Next best: K={int(second['k'])} with NPMI {second['npmi']:.3f}."
    alpha = f", alpha={best['alpha']}" if table["alpha"].map(str).nunique() > 1 else ""
    stability = ("" if pd.isna(best["stability"])
                 else f", stability {best['stability']:.2f} across seeds")
    explanation = (
        f"K={int(best['k'])}{alpha} has the highest mean NPMI ({best['npmi']:.3f}) with "
        f"diversity {best['diversity']:.2f}{stability}; its best seed "
        f"({int(chosen['seed'])}) is {chosen['model_id']}.{runner_up}{note}"
    )
    return str(chosen["model_id"]), explanation

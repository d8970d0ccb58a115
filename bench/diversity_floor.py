"""How often does a new dataset's first model land below the diversity floor, and what
does training again at a smaller K give? The pipeline on each demo vertical alone.

A dataset no one has chosen a K for trains `core.model.engines.fitting_k`'s K; where that
model's topic diversity is below the floor the gate holds later models to (0.7), the
pipeline trains again at 2/3 of K, up to three times (`core.model.fitted_k`).
One vertical of the demo corpus (27-120 campaigns of one industry: the data of a client in
one line of business) is such a dataset. This imports each vertical as its own dataset
into a scratch store (a temporary `TOPICLAB_HOME`, removed afterwards), runs
`pipeline.run` with the project defaults (seed 0), and prints each training's K, topic
diversity, NPMI (over the version, as the gate counts it) and fit seconds, then how many
verticals started below the floor, how many ended above it, and how NPMI moved.
`--diversify` also trains each vertical that started below the floor once more at its
first K with the diversity step (`diversify=True`, which keeps K), the other way to
topics that stop repeating each other's words, and prints the same summary for it.

    .venv/bin/python -m bench.diversity_floor [--verticals 10] [--diversify]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verticals", type=int, help="only the first N verticals (default: all)")
    parser.add_argument("--diversify", action="store_true",
                        help="also train each vertical below the floor at its first K with "
                             "the diversity step")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="topiclab-floor-") as home:
        os.environ["TOPICLAB_HOME"] = home  # before the store is first opened
        run(home, args.verticals, args.diversify)


def run(home: str, limit: int | None, with_diversify: bool = False) -> None:
    from bench.neighbors import load_demo
    from core.data import auth, ingest
    from core.model.metrics import DIVERSITY_FLOOR
    from core.ops import pipeline, train
    from core.serve import registry

    auth.set_user(auth.local_user())
    rows, _, _ = load_demo(None)
    verticals = sorted(rows["vertical"].unique())[:limit]
    started_below = ended_above = diversified_above = 0
    moves, diversified_moves = [], []
    print(f"{len(verticals)} demo verticals, each alone as a dataset; floor {DIVERSITY_FLOOR}")
    for vertical in verticals:
        path = os.path.join(home, f"{vertical}.parquet")
        part = rows[rows["vertical"] == vertical]
        part.to_parquet(path, index=False)
        ingest.import_paths([path], vertical)
        started = time.perf_counter()
        result = pipeline.run(vertical)
        seconds = time.perf_counter() - started
        trained = [registry.get(step["model_id"]) for step in result.steps
                   if step["step"] == "train" and "model_id" in step]
        figures = [(m["k"], m["metrics"]["diversity"], m["metrics"]["npmi"],
                    m["timings"]["fit"]) for m in trained]
        chosen = registry.get(result.model_id)["metrics"]
        ladder = " -> ".join(f"K {k}: TD {td:.2f} NPMI {npmi:+.3f} ({fit:.1f} s)"
                             for k, td, npmi, fit in figures)
        if figures[0][1] < DIVERSITY_FLOOR:
            started_below += 1
            ended_above += chosen["diversity"] >= DIVERSITY_FLOOR
            moves.append(chosen["npmi"] - figures[0][2])
            if with_diversify:
                k, _, npmi, _ = figures[0]
                stepped = registry.get(train.train(train.TrainSpec(
                    dataset=vertical, k=int(k), params={"diversify": True})).model_id)
                diversified_above += stepped["metrics"]["diversity"] >= DIVERSITY_FLOOR
                diversified_moves.append(stepped["metrics"]["npmi"] - npmi)
                ladder += (f"  | K {k} with the diversity step: TD "
                           f"{stepped['metrics']['diversity']:.2f} NPMI "
                           f"{stepped['metrics']['npmi']:+.3f} "
                           f"({stepped['timings']['fit']:.1f} s)")
        print(f"{vertical:<24} {part['campaign_id'].nunique():>4} campaigns  {ladder}  "
              f"[pipeline {seconds:.1f} s]", flush=True)
    print(f"\nstarted below the floor: {started_below} of {len(verticals)}; ended above it: "
          f"{ended_above}")
    summary("the model kept", moves)
    if with_diversify:
        print(f"with the diversity step at the first K instead: above the floor "
              f"{diversified_above} of {started_below}")
        summary("the diversity step's model", diversified_moves)


def summary(what: str, moves: list[float]) -> None:
    """How NPMI moved from the first model, over the verticals that started below."""
    if moves:
        print(f"NPMI of {what} minus the first: median {statistics.median(moves):+.3f}, "
              f"range {min(moves):+.3f} .. {max(moves):+.3f}, lower on {sum(m < 0 for m in moves)}")


if __name__ == "__main__":
    main()

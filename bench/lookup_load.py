"""How long does building a `Lookup` take, and how often does it open the store?

Measures `Lookup(model)` on the store in TOPICLAB_HOME (e.g. the demo store of
`python -m core init`), after one warm-up load (imports, the schema check, compiled
loops), and prints each load's time, the median and the store opens per load
(`bench/store_open.py` measures what one costs). `bench/lookup.py` measures the same load at 100,000
campaigns among much else; this one is for the demo-sized store the app starts with.

With `--against DIR` (another checkout, e.g. `git worktree add /tmp/base HEAD~1`) the same
loads run with that tree's `core` too, in child processes that take turns with this
tree's (`--blocks` turns each), so both medians come from one session on the same load
of a shared machine.

    TOPICLAB_HOME=... .venv/bin/python -m bench.lookup_load [--rounds 7] [--model ID]
        [--against DIR --blocks 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def measure(model: str | None, rounds: int) -> dict:
    """Seconds and store opens of `rounds` loads, after one warm-up load, in this process."""
    from core.data import auth, store
    from core.serve.lookup import Lookup

    auth.set_user(auth.local_user())
    opens = []
    real_open = store._open

    def counted(*args, **kwargs):  # a counter around the real open: nothing else changes
        opens.append(1)
        return real_open(*args, **kwargs)

    store._open = counted
    Lookup(model)
    seconds, per_load = [], []
    for _ in range(rounds):
        opens.clear()
        started = time.perf_counter()
        Lookup(model)
        seconds.append(time.perf_counter() - started)
        per_load.append(len(opens))
    return {"seconds": seconds, "opens": per_load}


def child(tree: Path, model: str | None, rounds: int) -> dict:
    """`measure` in a fresh process that imports `core` from `tree`."""
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); sys.path.insert(0, sys.argv[2]);"
            "from bench.lookup_load import measure;"
            "print(json.dumps(measure(sys.argv[3] or None, int(sys.argv[4]))))")
    # `core` from `tree` first; this file's `measure` from this checkout (the old tree may
    # not have it)
    env = {**os.environ, "PYTHONPATH": ""}
    out = subprocess.run([sys.executable, "-c", code, str(REPO_ROOT), str(tree),
                          model or "", str(rounds)], env=env, cwd=tree, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def report(label: str, result: dict) -> dict:
    median = statistics.median(result["seconds"])
    print(f"{label}: median {median:.3f} s over {len(result['seconds'])} loads "
          f"({', '.join(f'{s:.3f}' for s in result['seconds'])}); store opens per load "
          f"{sorted(set(result['opens']))}", flush=True)
    return {"median_s": median, **result}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", default=None, help="model id or alias (default: production)")
    parser.add_argument("--rounds", type=int, default=7, help="timed loads per process")
    parser.add_argument("--against", type=Path, default=None,
                        help="another checkout whose `core` is measured in turn with this one")
    parser.add_argument("--blocks", type=int, default=3,
                        help="with --against: turns of each tree (a process each)")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args(argv)
    if "TOPICLAB_HOME" not in os.environ:
        parser.error("set TOPICLAB_HOME to the store to measure (e.g. `python -m core init`'s)")
    if args.against is None:
        figures = {"this": report("this tree", measure(args.model, args.rounds))}
    else:
        trees = {"against": args.against.resolve(), "this": REPO_ROOT}
        gathered: dict[str, dict] = {name: {"seconds": [], "opens": []} for name in trees}
        for _ in range(args.blocks):
            for name, tree in trees.items():
                result = child(tree, args.model, args.rounds)
                for key in ("seconds", "opens"):
                    gathered[name][key] += result[key]
        figures = {name: report(f"{name} ({trees[name]})", gathered[name]) for name in trees}
        print(f"speed-up: {figures['against']['median_s'] / figures['this']['median_s']:.2f}x")
    if args.json:
        print(json.dumps(figures, indent=1))
    return figures


if __name__ == "__main__":
    main()

"""How long do the promotion checks take on a store? Prints medians and model loads.

Two checks load models that a promotion or a canary then uses:

- `gate.verdict(candidate, production)` (the pipeline's gate, `promote` without
  `--force`, the Compare page), with the candidate's training corpus built once as the
  pipeline passes it;
- `canary.check_loads(candidate)` (`canary set`: is the candidate usable by the service?).

Each is run `--repeats` times in this process on the store in TOPICLAB_HOME (which needs
a production model and another model of the same dataset: `python -m core init`, then
`python -m core train --dataset demo`). Prints the median wall time of each and how
many times each model's artifact was loaded by one call (`registry.load`, counted by
wrapping it). The machines are shared: the figures are from this one run.

    TOPICLAB_HOME=… .venv/bin/python -m bench.gate [--candidate ID] [--repeats 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import Counter
from collections.abc import Callable
from typing import Any


def _loads_counted() -> Counter[str]:
    """Count `registry.load` calls per model id from now on in this process."""
    from core.serve import registry

    counted: Counter[str] = Counter()
    load = registry.load

    def counting(model_id: str) -> Any:
        counted[model_id] += 1
        return load(model_id)

    registry.load = counting
    return counted


def _timed(run: Callable[[], Any], repeats: int, counted: Counter[str]
           ) -> dict[str, Any]:
    seconds = []
    for _ in range(repeats):
        counted.clear()
        started = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - started)
    return {"median_s": round(statistics.median(seconds), 3),
            "min_s": round(min(seconds), 3), "loads_per_call": dict(counted)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidate", help="model judged (default: the newest non-production "
                                            "model of production's dataset)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from core.model.text import TextConfig
    from core.ops import gate
    from core.ops.train import build_corpus
    from core.serve import canary, registry

    production = registry.resolve("production")
    dataset = registry.get(production)["dataset"]
    models = registry.list_models(dataset)
    candidate = args.candidate or next(m for m in models["model_id"] if m != production)
    record = registry.get(candidate)
    corpus, _ = build_corpus(record["dataset"], int(record["version"]),
                             TextConfig.from_dict(record["text_config"]))
    counted = _loads_counted()
    results = {
        "candidate": candidate, "production": production,
        "verdict": _timed(lambda: gate.verdict(candidate, production, corpus), args.repeats,
                          counted),
        "canary_check": _timed(lambda: canary.check_loads(candidate), args.repeats, counted),
    }
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"candidate {candidate}, production {production}")
    for name in ("verdict", "canary_check"):
        row = results[name]
        print(f"{name:13s} median {row['median_s']:.3f} s (min {row['min_s']:.3f} s), "
              f"artifact loads per call: {row['loads_per_call']}")


if __name__ == "__main__":
    main()

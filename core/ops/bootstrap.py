"""First-run set-up: a fresh store gets the demo corpus and a trained production model,
so the app is useful the first time it opens. Idempotent: `make run` calls it each time."""

from __future__ import annotations

from typing import Any

from core import config
from core.data import datasets, ingest, store
from core.errors import NotFoundError
from core.ops import deploy, train
from core.progress import Progress
from core.serve import registry

DEMO_DATASET = "demo"
DEMO_FILE = config.DEMO_DIR / "campaigns.parquet"
# The demo has 46 verticals; a topic model needs at least one topic per theme to tell them
# apart. Measured on it by `python -m bench.demo_k` (tomotopy defaults, seeds 0-2, one
# run each; "merged": verticals whose campaigns' commonest main topic is another
# vertical's too): K=20 NPMI -0.03, topic-only precision@10 0.63; K=40 NPMI 0.21-0.25,
# TD 0.91, precision 0.84-0.90, 16-20 of 46 verticals merged (topics such as "payroll
# plumb drain"); K=50 NPMI 0.31-0.33, TD 0.90-0.91, precision 0.94-0.98, 4-6 merged, in
# 10% more CPU (71-77 s against 67-71 s on 2 threads); K=60 0-2 merged but TD 0.85-0.88.
# The blended neighbours the Lookup page shows are the same at all three (0.990-0.991).
# The first production model therefore uses K=50: the smallest K measured with almost
# every vertical its own topic at TD >= 0.90.
DEMO_K = 50


def ensure_demo(train_model: bool = True, progress: Progress | None = None) -> dict[str, Any]:
    """Import the demo corpus into an empty store; train and promote a model if none is
    in production."""
    store.ensure_schema()
    report: dict[str, Any] = {"home": str(config.home())}
    if datasets.list_versions().empty:
        report["import"] = ingest.import_paths([DEMO_FILE], DEMO_DATASET).to_dict()
    else:
        report["import"] = "skipped: the store already holds data"
    if not train_model:
        return report
    try:
        report["production"] = registry.resolve("production")
        report["train"] = "skipped: a production model exists"
    except NotFoundError:
        if datasets.list_versions(DEMO_DATASET).empty:
            spec = train.saved_settings(str(datasets.list_versions()["name"].iloc[0]))
        else:
            spec = train.saved_settings(DEMO_DATASET).with_(k=DEMO_K)
        result = train.train(spec, progress)
        report["train"] = result.to_dict()
        report["promote"] = deploy.promote(result.model_id, "production", progress).to_dict()
        report["production"] = result.model_id
    return report

"""First-run set-up: a fresh store gets the demo corpus (and, once training exists, a
production model), so the app is useful the first time it opens."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core import config, datasets, ingest, store

DEMO_DATASET = "demo"
DEMO_FILE = config.DEMO_DIR / "campaigns.parquet"


def ensure_demo(train: bool = True,
                progress: Callable[[int, int, str], None] | None = None) -> dict[str, Any]:
    """Import the committed demo corpus when the store holds no dataset; idempotent."""
    store.ensure_schema()
    report: dict[str, Any] = {"home": str(config.home())}
    if datasets.list_versions().empty:
        report["import"] = ingest.import_paths([DEMO_FILE], DEMO_DATASET).to_dict()
    else:
        report["import"] = "skipped: the store already holds data"
    return report

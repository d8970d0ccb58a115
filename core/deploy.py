"""Promotion: move an alias to a model; a new production model is batch-scored first.

Scoring happens before the alias moves, so if scoring fails production still points at
the previous model with its fingerprints intact.
"""

from __future__ import annotations

from typing import Any

from core import auth, registry, score, train
from core.score import Progress


def promote(model_id: str, alias: str = "production",
            progress: Progress | None = None) -> dict[str, Any]:
    """Point `alias` at `model_id`; for production, fingerprint its dataset first."""
    auth.require("promote")
    registry.get(model_id)
    previous = registry.alias(alias)
    scored = None
    if alias == "production" and not score.is_scored(model_id):
        scored = score.score_dataset(model_id, progress)
    registry.set_alias(alias, model_id)
    if alias == "production":
        train.save_settings(model_id)  # the pipeline retrains this dataset the same way
    return {"model_id": model_id, "alias": alias, "previous": previous, "scoring": scored}

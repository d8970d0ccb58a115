"""Promotion: move an alias to a model, batch-scoring it first.

Scoring happens before the alias moves, so if scoring fails production still points at
the previous model with its fingerprints intact. Candidates are scored too, so they can
be compared with production campaign by campaign (A/B).
"""

from __future__ import annotations

from typing import Any

from core import auth, registry, score, train
from core.score import Progress


def promote(model_id: str, alias: str = "production",
            progress: Progress | None = None) -> dict[str, Any]:
    """Point `alias` at `model_id`, fingerprinting its dataset first if not done yet."""
    auth.require("promote")
    registry.get(model_id)
    previous = registry.alias(alias)
    scored = None
    if not score.is_scored(model_id):
        scored = score.score_dataset(model_id, progress)
    registry.set_alias(alias, model_id)
    if alias == "production":
        train.save_settings(model_id)  # the pipeline retrains this dataset the same way
    return {"model_id": model_id, "alias": alias, "previous": previous, "scoring": scored}

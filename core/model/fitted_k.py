"""The K of a dataset no one chose a K for, wherever it is trained: the pipeline, `train`
without `--k`, the Train page's *Fit K to the data* (`core.ops.train.train_fitted`) and
`CampaignModel(k="auto")` in a notebook.

It starts from the K its campaigns and words hold (`engines.fitting_k`), and while the
model's topic diversity is below the floor the gate holds every later model to
(`metrics.DIVERSITY_FLOOR`), trains again at 2/3 of its K (`engines.fewer_topics`), at
most `RETRAININGS` times. The first model above the floor, else the most diverse, is
kept. Without the retraining a dataset whose first model was below the floor kept that
model: it went to production as the first one, then the gate refused every monthly
retraining at the same saved K. Of the demo's 46 verticals imported alone, 16 start below
the floor and all 16 end above it (one, 94 campaigns: K = 19 diversity 0.66, K = 13 0.70;
`bench/diversity_floor.py`, docs/lifecycle.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from core.model import metrics
from core.model.engines import fewer_topics

RETRAININGS = 3  # at most, after the first training

Model = TypeVar("Model")


def lower_until_diverse(k: int, fit: Callable[[int], Model],
                        diversity: Callable[[Model], float]) -> tuple[Model, list[Model]]:
    """The model kept and every model tried, in order: `fit(k)`, then `fit` at
    `fewer_topics` of the last K while `diversity` of the last model is below the floor."""
    tried = [fit(k)]
    while (diversity(tried[-1]) < metrics.DIVERSITY_FLOOR and fewer_topics(k) < k
           and len(tried) <= RETRAININGS):
        k = fewer_topics(k)
        tried.append(fit(k))
    kept = tried[-1]
    if diversity(kept) < metrics.DIVERSITY_FLOOR:
        kept = max(tried, key=diversity)
    return kept, tried

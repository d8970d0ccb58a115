"""Topic Lab: topic models over ad-campaign keywords, and the MLOps loop around them.

The package is the product; the Streamlit pages and the CLI (`python -m core`) are thin
views over it. Nothing in here imports streamlit.

The public Python API, for notebooks (no store needed):

    from core import CampaignModel, read_terms
    terms = read_terms(["exports/"])
    model = CampaignModel(k=40, engine="tomotopy", seed=0).fit(terms)

Everything else is private by convention. The names below are imported on first use, so
`import core` (and the CLI) stays light.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "CampaignModel": "core.model.campaign_model",
    "Fingerprint": "core.model.campaign_model",
    "read_terms": "core.model.campaign_model",
    "TextConfig": "core.model.text",
    "InputError": "core.errors",
    "NotFoundError": "core.errors",
    "TopicLabError": "core.errors",
}
__all__ = ["CampaignModel", "Fingerprint", "InputError", "NotFoundError", "TextConfig",
           "TopicLabError", "__version__", "read_terms"]

if TYPE_CHECKING:
    from core.errors import InputError, NotFoundError, TopicLabError
    from core.model.campaign_model import CampaignModel, Fingerprint, read_terms
    from core.model.text import TextConfig


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'core' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

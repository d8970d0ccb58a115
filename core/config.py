"""Where Topic Lab keeps its data, and the limits it enforces.

Everything is read from the environment at call time, so tests can point
`TOPICLAB_HOME` at a temporary folder.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_DIR = REPO_ROOT / "data" / "demo"


def home() -> Path:
    """The store's folder: `TOPICLAB_HOME`, default `data/store/` in the repo."""
    path = Path(os.environ.get("TOPICLAB_HOME", REPO_ROOT / "data" / "store"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def db_path() -> Path:
    return home() / "topiclab.duckdb"


def models_dir() -> Path:
    path = home() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw else default


def max_upload_bytes() -> int:
    """Largest file an import accepts (`TOPICLAB_MAX_UPLOAD_MB`, default 200 MB)."""
    return int(_env_number("TOPICLAB_MAX_UPLOAD_MB", 200) * 1024 * 1024)


def sql_row_cap() -> int:
    """Most rows a user SQL query returns (`TOPICLAB_SQL_ROW_CAP`, default 10,000)."""
    return int(_env_number("TOPICLAB_SQL_ROW_CAP", 10_000))


def sql_timeout_s() -> float:
    """Seconds before a user SQL query is interrupted (`TOPICLAB_SQL_TIMEOUT_S`, default 10)."""
    return _env_number("TOPICLAB_SQL_TIMEOUT_S", 10.0)

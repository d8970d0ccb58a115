"""Where Topic Lab keeps its data, and the limits it enforces.

Everything is read from the environment at call time, so tests can point
`TOPICLAB_HOME` at a temporary folder.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from core.errors import InputError, StoreError

REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_DIR = REPO_ROOT / "data" / "demo"


def home() -> Path:
    """The store's folder: `TOPICLAB_HOME` (`~` expanded; blank, or with a space at either
    end, refused), default
    `data/store/` in the repo.

    Created when missing; a path that is a file or cannot be created is a `StoreError`
    saying what to do, not a traceback.
    """
    raw = os.environ.get("TOPICLAB_HOME")
    if raw is not None and not raw.strip():
        # Path("") is the current folder: a store appeared wherever the command ran.
        raise StoreError(f"TOPICLAB_HOME={raw!r} is blank: point it at a folder (it is "
                         "created when missing), or unset it for the default, data/store/ "
                         "in the repository.")
    if raw is not None and raw != raw.strip():
        # "/data/store " (a quoting slip, or a .env file's CRLF line end) made a folder
        # whose name ends in a space, beside the store meant
        raise StoreError(f"TOPICLAB_HOME={raw!r} starts or ends with a space (or tab, or "
                         f"line end): set it to {raw.strip()!r}, the folder meant.")
    # "~/topiclab" as written in a .env file: made a folder named "~" in the current one.
    path = Path(raw).expanduser() if raw is not None else REPO_ROOT / "data" / "store"
    if path.is_dir():
        return path
    if path.exists() or any(p.exists() and not p.is_dir() for p in path.parents):
        raise StoreError(f"TOPICLAB_HOME={path} is a file, not a folder: point "
                         "TOPICLAB_HOME at a folder (it is created when missing).")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise StoreError(f"TOPICLAB_HOME={path} cannot be created ({err.strerror}): point "
                         "TOPICLAB_HOME at a folder you can write to.") from None
    return path


STORE_FILE = "topiclab.duckdb"   # in home(), beside the `models` folder


def db_path() -> Path:
    return home() / STORE_FILE


def models_dir() -> Path:
    path = home() / "models"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise StoreError(f"The model folder {path} cannot be created ({err.strerror}): make "
                         "TOPICLAB_HOME writable or point it at another folder.") from None
    return path


def read_number(text: str) -> float:
    """`text` as a float, in ASCII only: Python's float() and int() also read other scripts'
    digits (`canary set '٥'` set 5 %, `'５'` too), which no one types meaning a number on
    purpose. A ValueError otherwise, as float()'s; `digits_hint` says why."""
    if not text.isascii():
        raise ValueError(f"not an ASCII number: {text!r}")
    return float(text)


def read_whole(text: str) -> int:
    """`read_number` for a whole number (int()'s syntax, ASCII only)."""
    if not text.isascii():
        raise ValueError(f"not an ASCII number: {text!r}")
    return int(text)


def digits_hint(text: str) -> str:
    """What to add to a refusal of `text` as a number when it holds non-ASCII characters."""
    return "" if text.isascii() else " (write numbers with the digits 0-9)"


def env_number(name: str, default: float, zero: str | None = None) -> float:
    """A positive number from the environment, or `default` when the variable is unset;
    anything else (text, NaN, infinity, zero or less) is refused naming the variable.
    `zero`: what 0 means, for a variable where 0 is a setting (then 0 is taken too)."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = read_number(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and (value > 0 or (zero is not None and value == 0))):
        kind = f"a number of 0 ({zero}) or more" if zero else "a positive number"
        raise InputError(f"{name}={raw!r} is not {kind}{digits_hint(raw)}: set it to one, "
                         f"or unset it for the default ({default:g}).")
    return value


def env_whole(name: str, default: int, zero: str | None = None) -> int:
    """`env_number` for a count: a fraction is refused naming the variable, not rounded
    (`TOPICLAB_SERVICE_MAX_IN_FLIGHT=0.5` ran with 1, `TOPICLAB_SQL_ROW_CAP=0.5` with 0)."""
    value = env_number(name, default, zero)
    if value != int(value):
        kind = f"a whole number of 0 ({zero}) or more" if zero else "a whole number of 1 or more"
        raise InputError(f"{name}={os.environ.get(name, '').strip()!r} is not {kind}: set it "
                         f"to one, or unset it for the default ({default:g}).")
    return int(value)


def max_upload_bytes() -> int:
    """Largest file an import accepts (`TOPICLAB_MAX_UPLOAD_MB`, default 200 MB)."""
    return int(env_number("TOPICLAB_MAX_UPLOAD_MB", 200) * 1024 * 1024)


def sql_row_cap() -> int:
    """Most rows a user SQL query returns (`TOPICLAB_SQL_ROW_CAP`, default 10,000)."""
    return env_whole("TOPICLAB_SQL_ROW_CAP", 10_000)


def sql_timeout_s() -> float:
    """Seconds before a user SQL query is interrupted (`TOPICLAB_SQL_TIMEOUT_S`, default 10).

    Covers running the query, fetching its rows and converting them."""
    return env_number("TOPICLAB_SQL_TIMEOUT_S", 10.0)


def store_memory_mb() -> int:
    """DuckDB's memory budget in every process that opens the store
    (`TOPICLAB_STORE_MEMORY_MB`, default 2048). DuckDB's own default is 80% of the machine:
    exporting 1M campaigns for Spark sorted 52M rows in the driver's process, which
    reached 15.9 GB. Beyond the budget, sorts and aggregates spill to `<store>.tmp`."""
    return max(64, int(env_number("TOPICLAB_STORE_MEMORY_MB", 2048)))


def sql_memory_mb() -> int:
    """Memory budget of one user SQL query (`TOPICLAB_SQL_MEMORY_MB`, default 512).

    The query runs in its own process whose data segment is limited to this; DuckDB's
    `memory_limit` gets half of it, the rest is for DuckDB's unmanaged buffers, Python
    and the Arrow result. A query that needs more stops with a clear message."""
    return int(env_number("TOPICLAB_SQL_MEMORY_MB", 512))


def sql_threads() -> int:
    """DuckDB threads for one user SQL query (`TOPICLAB_SQL_THREADS`, default 1), so the
    SQL editor never takes every core from the app and the scoring service."""
    return env_whole("TOPICLAB_SQL_THREADS", 1)


def sql_result_bytes() -> int:
    """Most bytes a user SQL query returns (`TOPICLAB_SQL_RESULT_MB`, default 20 MB, as
    Arrow data); beyond it the result is capped like the row cap, with a notice."""
    return int(env_number("TOPICLAB_SQL_RESULT_MB", 20) * 1024 * 1024)

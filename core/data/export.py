"""Tables as people download them: numbers rounded to what they mean, in reading order,
and no cell a spreadsheet would run as a formula.

Floats straight from numpy carry noise (`155.49999999999997`) and false precision
(`0.8743218912`); an export rounds money to cents, rates and shares to basis points,
similarities to six decimals (as every answer shows them, so a floor never reads
otherwise) and weights and scores to three, and shows whole counts as
integers. The on-screen tables use the same precision through `st.column_config`.

Campaign names, terms and topic names come from imported files and people, so a cell
may read `=HYPERLINK("http://…","Open report")`; a spreadsheet would run it (CSV
injection). Every text cell that starts with `=`, `+`, `-`, `@` (or their full-width
forms `＝`, `＋`, `－`, `＠`), a tab or a carriage return gets a leading single
quote, as OWASP recommends, so it is shown as text. Only text cells: a negative number
in a numeric column stays a number. Control and invisible characters are dropped from
text cells first, as imports drop them (a tab or line break becomes a space), so no
cell carries a terminal escape. `csv_bytes` is the one CSV writer: the Lookup page's
download buttons and `python -m core neighbors|suggest --format csv` write exactly its
bytes (UTF-8 with a byte-order mark, so Excel shows Japanese and accented names right;
CRLF line ends, so a CR inside a cell is quoted).
"""

from __future__ import annotations

import numbers
import re
import unicodedata
from typing import Any

import numpy as np
import pandas as pd

from core.jsonable import RATE_DECIMALS, SIMILARITY_DECIMALS
from core.plain_text import visible_text

# Column name patterns -> decimals, first match wins; other float columns get 4.
DECIMALS: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"(^|_)(ctr|rate|share|acceptance)($|_)"), RATE_DECIMALS),
    (re.compile(r"(^|_)(cost|cpc|spend|wasted|value)($|_)"), 2),
    # as every answer shows a neighbour's similarity (why six: `jsonable`); at three, a
    # neighbour at 0.2996 read 0.3 beside *similar enough* False under a 0.3 floor
    (re.compile(r"similarity"), SIMILARITY_DECIMALS),
    (re.compile(r"(weight|score|fit|confidence|npmi|distance|js)"), 3),
)
OTHER_DECIMALS = 4
# Counts that may arrive as floats (NaN for "not reported"): shown as integers.
_COUNTS = re.compile(r"(^|_)(impressions|clicks|terms|neighbors|campaigns|rows|verdicts)$")


def decimals_for(column: str) -> int:
    """How many decimals a float column of this name is exported with."""
    name = str(column).lower()
    return next((d for pattern, d in DECIMALS if pattern.search(name)), OTHER_DECIMALS)


def export_frame(frame: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """A copy ready to download: floats rounded per column, whole counts as integers,
    `columns` (those present) first in that order, the rest after."""
    out = frame.copy()
    if columns:
        first = [c for c in columns if c in out.columns]
        out = out[first + [c for c in out.columns if c not in first]]
    for column in out.columns:
        values = out[column]
        if not pd.api.types.is_float_dtype(values):
            continue
        present = values.dropna()
        if _COUNTS.search(str(column).lower()) and np.all(np.mod(present, 1) == 0):
            out[column] = values.round().astype("Int64")
        else:
            out[column] = values.round(decimals_for(str(column)))
    return out


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula, made plain text, and without
    control or invisible characters (`visible_text`: an ESC sequence in a name imported
    before imports removed them recoloured the terminal of `--format csv`); numbers,
    missing values and other text unchanged. Other objects are written as their text."""
    if value is None or isinstance(value, (numbers.Number, pd.Timestamp)):
        return value
    if not isinstance(value, str):
        if pd.api.types.is_scalar(value) and pd.isna(value):
            return value
        value = str(value)
    value = visible_text(value)
    return "'" + value if _formula_start(value) else value


def _formula_start(text: str) -> bool:
    """Whether `text` starts as a formula would, its first character compatibility-folded
    (NFKC, so `＝`, `＋`, `－`, `＠` and the small `﹦`, `﹢`, `﹣`, `﹫` count): Japanese
    Excel turns full-width digits entered in a cell into numbers, and guides disagree on
    whether it does so for `＝` (LibreOffice looks for an ASCII `=` only), so
    `＝HYPERLINK(…)` is quoted too. The cost is a visible `'` in plain-text readers, as
    for `=`."""
    return unicodedata.normalize("NFKC", text[:1]).startswith(FORMULA_STARTS)


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` whose text cells (and column names) are neutralised."""
    safe = frame.copy()
    for column in safe.columns:
        values = safe[column]
        if not (pd.api.types.is_numeric_dtype(values.dtype)
                or pd.api.types.is_datetime64_any_dtype(values.dtype)):
            safe[column] = values.astype(object).map(neutralise)
    safe.columns = [neutralise(str(column)) for column in safe.columns]
    return safe


def to_csv(frame: pd.DataFrame, columns: list[str] | None = None) -> str:
    """CSV text of `export_frame(frame, columns)`, neutralised, without the index."""
    return safe_frame(export_frame(frame, columns)).to_csv(index=False, lineterminator="\r\n")


def csv_bytes(frame: pd.DataFrame, columns: list[str] | None = None) -> bytes:
    """The bytes of a CSV download (the app's buttons and the CLI's `--format csv`)."""
    return to_csv(frame, columns).encode("utf-8-sig")

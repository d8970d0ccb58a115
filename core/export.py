"""Tables as people download them: numbers rounded to what they mean, in reading order.

Floats straight from numpy carry noise (`155.49999999999997`) and false precision
(`0.8743218912`); an export rounds money to cents, rates and shares to basis points
and similarities, weights and scores to three decimals, and shows whole counts as
integers. The on-screen tables use the same precision through `st.column_config`.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

# Column name patterns -> decimals, first match wins; other float columns get 4.
DECIMALS: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"(^|_)(ctr|rate|share|acceptance)($|_)"), 4),
    (re.compile(r"(^|_)(cost|cpc|spend|wasted|value)($|_)"), 2),
    (re.compile(r"(similarity|weight|score|fit|confidence|npmi|distance|js)"), 3),
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


def to_csv(frame: pd.DataFrame, columns: list[str] | None = None) -> str:
    """CSV text of `export_frame(frame, columns)`, without the index."""
    return export_frame(frame, columns).to_csv(index=False)

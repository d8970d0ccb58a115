"""Values made JSON-ready one way for the CLI (`cli.json_safe`) and the service
(`serve.answers.plain`): `json.dumps(..., allow_nan=False)` must never fail on them nor
print `NaN` or a Python repr."""

from __future__ import annotations

import base64
import contextlib
import datetime
import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

NS_PER = {"D": 86_400 * 10**9, "H": 3_600 * 10**9, "M": 60 * 10**9}
# Keys whose values are counts or ids: a whole float under one is written as an integer.
# pandas makes a column float once it holds a missing value (an action's `topic` and
# `keywords`, beside actions that have none), and sums of counts come back as floats, so
# `suggest --account` printed `"topic": 12.0` and `ngrams` `"impressions": 5634.0`.
# (`conversions` is not one: Google Ads reports fractional conversions.)
COUNT_KEYS = frozenset({"topic", "keywords", "impressions", "clicks", "terms",
                        "search_terms", "campaigns", "rank", "n", "k", "runs", "version"})

# Decimals of a neighbour's similarity and of its parts (topic, term, vector similarity)
# wherever a neighbour is shown: CLI and Lookup JSON, CSV, the service, the pages, Python
# (`core.model.neighbors` rounds them as it makes each `Neighbor`, so the floors compare
# the very number shown). The index scores in float32, which printed 0.7185765504837036.
# Six is the last decimal float32 arithmetic bears out, and enough to order neighbours as
# the score does: `python -m bench.similarity_decimals` (every campaign's 10 neighbours,
# tomotopy K = 50 seed 0, one run) put the float32 similarity against the same sum in
# float64 at median 4.5e-8, p99 5.0e-7 (demo, 3,000 campaigns) and 2.1e-8, 1.9e-7 (BBC
# News, 2,225). Of consecutive neighbours with different scores, 5 of 27,000 (demo) and 0
# of 20,025 (BBC) read equal at six decimals, each under 1e-6 apart, within that error;
# at five 20 and 13, at four 212 and 156, at three (the CSV's before) 1,988 and 1,477.
# Exact ties (BBC's duplicate articles, 1,077 pairs) stay ties.
SIMILARITY_DECIMALS = 6

# Decimals of a rate (CTR, conversion rate) wherever one is given: basis points, the
# hundredth of a percent every page shows (`8.16%`), as CSV exports round them. The JSON
# answers gave 0.08161859664227292 beside a similarity of six decimals.
RATE_DECIMALS = 4


def python_numbers(value: Any) -> Any:
    """`value` with numpy numbers (in dicts, lists and tuples too) as Python's, for a
    model's manifest and settings: a grid from `np.arange` or a results frame gave
    np.int64 settings, and `save` failed with "Object of type int64 is not JSON
    serializable"."""
    if isinstance(value, dict):
        return {k: python_numbers(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(python_numbers(v) for v in value)
    return value.item() if isinstance(value, np.generic) else value


def rounded(values: Any, decimals: int) -> list[float]:
    """`[round(float(v), decimals) for v in values]` (any shape, flattened), in numpy:
    Python's `round` was a fifth of a 1,000-item fingerprint batch's time. `rint(v *
    10**d) / 10**d` is the same float (the division is correctly rounded, as `round` reads
    its decimal back; `rint` and `round` both take an exact half to even) wherever `v *
    10**d` is exact. It is for float32 (24 bits times 5**d's at most 29, d <= 12, fit a
    float64: the neighbour index's similarities, 11 -> 4 us a query); of a float64 `v`
    the few whose product lies within rounding error of a half go through `round` itself.
    What comes out has at most `decimals` decimals in its repr."""
    given = np.asarray(values)
    values = given.astype(np.float64).ravel()
    scale = 10.0 ** decimals
    scaled = values * scale
    out = (np.rint(scaled) / scale).tolist()
    if given.dtype == np.float32 and 0 <= decimals <= 12:
        return out
    near_half = ~(np.abs(scaled - np.floor(scaled) - 0.5) > 1e-6)   # NaN and inf too
    for i in np.flatnonzero(near_half).tolist():
        out[i] = round(float(values[i]), decimals)
    return out


def decimal_number(value: Decimal) -> int | float | None:
    """A DuckDB HUGEINT or DECIMAL (sums, casts) as a JSON number, not text; None when it
    is not finite."""
    if not value.is_finite():
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def bytes_text(value: bytes | bytearray | memoryview) -> str:
    """A DuckDB BLOB (any bytes) as base64 text: JSON has no bytes, base64 is how JSON
    usually carries them (BigQuery exports, protobuf's JSON), it keeps every byte (a BLOB
    need not be UTF-8) and DuckDB reads it back with `from_base64(…)`."""
    return base64.b64encode(bytes(value)).decode("ascii")


def duration_text(value: Any) -> str | None:
    """A duration (DuckDB INTERVAL as Arrow or pandas hands it over, `timedelta`,
    `pd.Timedelta`, `np.timedelta64`) as ISO-8601 text, e.g. `P1M2DT3H0.5S`; None when
    `value` is no duration (or numpy's NaT). ISO text rather than seconds because an
    INTERVAL keeps months and days apart from time (a month is not a fixed number of
    seconds); it is pandas' `Timedelta.isoformat()` form and PostgreSQL's
    `intervalstyle = iso_8601`, with a sign on each negative part (`PT-1H-30M`)."""
    parts = _interval_parts(value)
    return None if parts is None else _iso_duration(*parts)


def _interval_parts(value: Any) -> tuple[int, int, int] | None:
    """(months, days, nanoseconds) of a duration, or None when `value` is no duration."""
    if isinstance(value, datetime.timedelta):  # pd.Timedelta too (it adds nanoseconds)
        micro = (value.days * 86_400 + value.seconds) * 10**6 + value.microseconds
        return 0, *_split(micro * 1000 + int(getattr(value, "nanoseconds", 0)), NS_PER["D"])
    kind = type(value).__name__
    if kind == "MonthDayNano":  # pyarrow's INTERVAL scalar (a named tuple)
        return int(value.months), int(value.days), int(value.nanoseconds)
    if kind == "DateOffset" and set(value.kwds) <= {"months", "days", "nanoseconds"}:
        # what pyarrow's to_pandas() makes of an INTERVAL column
        months, days, nanoseconds = (int(value.kwds.get(part, 0)) * value.n
                                     for part in ("months", "days", "nanoseconds"))
        return months, days, nanoseconds
    if kind == "timedelta64":
        import numpy as np
        if np.isnat(value):
            return None
        unit = np.datetime_data(value.dtype)[0]
        if unit in ("Y", "M"):
            return int(value.astype("timedelta64[M]").astype(np.int64)), 0, 0
        return 0, *_split(int(value.astype("timedelta64[ns]").astype(np.int64)), NS_PER["D"])
    return None


def _split(total: int, unit: int) -> tuple[int, int]:
    """Whole units and the rest, both toward zero: -90 min is -1 h and -30 min."""
    whole = abs(total) // unit * (-1 if total < 0 else 1)
    return whole, total - whole * unit


def _iso_duration(months: int, days: int, nanoseconds: int) -> str:
    years, months = _split(months, 12)
    hours, rest = _split(nanoseconds, NS_PER["H"])
    minutes, rest = _split(rest, NS_PER["M"])
    date = "".join(f"{n}{unit}" for n, unit in ((years, "Y"), (months, "M"), (days, "D")) if n)
    seconds = ""
    if rest:
        whole, frac = _split(rest, 10**9)
        seconds = f"{'-' if rest < 0 and not whole else ''}{whole}"
        if frac:
            seconds += "." + f"{abs(frac):09d}".rstrip("0")
        seconds += "S"
    time = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M")) if n) + seconds
    if not date and not time:
        return "PT0S"
    return f"P{date}" + (f"T{time}" if time else "")


_PER_SECOND = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}
_UTC_NAMES = {"UTC", "Etc/UTC", "GMT", "Etc/GMT", "Z", "+00:00", "00:00"}


def calendar_date(days: int) -> str:
    """Days since 1970-01-01 as an ISO date of the proleptic Gregorian calendar, for any
    year DuckDB holds (to 5,881,580; year 0 is 1 BC, as in ISO 8601 and Arrow). Python's
    dates stop at 9999 and Arrow's text at about year 146,000 (`<value out of range: …>`);
    this is Hinnant's days-to-civil arithmetic, exact for any whole number of days."""
    z = days + 719_468  # days since 0000-03-01
    era = z // 146_097
    day_of_era = z - era * 146_097
    year_of_era = (day_of_era - day_of_era // 1460 + day_of_era // 36_524
                   - day_of_era // 146_096) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    shifted_month = (5 * day_of_year + 2) // 153  # 0 = March
    day = day_of_year - (153 * shifted_month + 2) // 5 + 1
    month = shifted_month + 3 if shifted_month < 10 else shifted_month - 9
    year = year_of_era + era * 400 + (month <= 2)
    sign = "-" if year < 0 else ""
    return f"{sign}{abs(year):04d}-{month:02d}-{day:02d}"


def instant_text(value: int, unit: str, tz: str | None = None) -> str:
    """A timestamp (`value` `unit`s since 1970-01-01 00:00 UTC) as `calendar_date` and the
    time of day, as Python prints one (`2024-05-01 10:00:00.250000`; `+00:00` when it has
    a time zone): for any year, where pandas' and Arrow's texts stop or, with a time
    zone, went wrong past year 2262 (`-31072-01-01` for year 100,000). With a zone other
    than UTC the time is converted to it within Python's years, and shown in UTC beyond."""
    per_second = _PER_SECOND[unit]
    seconds, fraction = divmod(value, per_second)
    if tz is not None and tz not in _UTC_NAMES:
        with contextlib.suppress(OverflowError, ValueError, KeyError):
            from zoneinfo import ZoneInfo
            moment = datetime.datetime.fromtimestamp(seconds, ZoneInfo(tz))
            return str(moment.replace(microsecond=fraction * 10**6 // per_second))
    days, second_of_day = divmod(seconds, 86_400)
    hours, rest = divmod(second_of_day, 3600)
    text = f"{calendar_date(days)} {hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
    if fraction:
        digits = max(6, len(str(per_second)) - 1)
        text += f".{fraction * 10**digits // per_second:0{digits}d}"
    return text + ("+00:00" if tz is not None else "")


def _whole(key: Any, value: Any) -> Any:
    """`value` as an int when `key` names a count or an id (`COUNT_KEYS`) and it is a
    whole float; anything else as it is."""
    if type(value) is float and key in COUNT_KEYS and value.is_integer():
        return int(value)
    return value


def plain(value: Any, date_text: Callable[[Any], str] = str,
          other: Callable[[Any], Any] = str) -> Any:
    """`value` with dict keys as text, whole floats under count keys (`COUNT_KEYS`) as
    integers, every non-finite float (numpy's too) and missing
    marker (pd.NA, NaT) as None, numpy scalars and arrays as Python ones, decimals as
    numbers, durations and bytes as text, dates and times through `date_text` (the CLI
    prints `str`, the service ISO 8601) and any other object through `other`."""
    if isinstance(value, dict):
        return {str(key): _whole(key, plain(item, date_text, other))
                for key, item in value.items()}
    if isinstance(value, bool | str | int) or value is None:
        return value
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if (duration := duration_text(value)) is not None:  # before tuples: Arrow's is one
        return duration
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes_text(value)
    if isinstance(value, list | tuple | np.ndarray):
        return [plain(item, date_text, other) for item in list(value)]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.datetime64 | np.timedelta64):  # numpy counts them as integers;
        # a timedelta64 here is NaT (any other was a duration above)
        return None if np.isnat(value) else date_text(pd.Timestamp(value))
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, Decimal):
        return decimal_number(value)
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, datetime.date | datetime.time):
        return date_text(value)
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return other(value)

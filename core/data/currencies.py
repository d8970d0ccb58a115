"""The ISO 4217 currency codes a cost cell or a dataset's currency may name.

Any three capital letters after a figure were read as a currency ("12 PCS" was 12 in
currency "PCS"); only these are. No installed dependency lists them (Babel and pycountry
are not pinned), so they are frozen here: ISO 4217 List One as of 2025 (with ZWG, XCG),
without XTS (testing) and XXX (no currency), plus the codes withdrawn since 2015 that an
older export may still name (HRK, SLL, ZWL, ANG, CUC, VEF, MRO, STD, BYR, LTL).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from core.errors import InputError
from core.jsonable import COUNT_KEYS

ISO_4217 = frozenset((
    "AED", "AFN", "ALL", "AMD", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN",
    "BZD", "CAD", "CDF", "CHE", "CHF", "CHW", "CLF", "CLP", "CNY", "COP", "COU", "CRC",
    "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD",
    "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG",
    "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS",
    "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL",
    "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK",
    "MXN", "MXV", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB",
    "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR",
    "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC",
    "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH",
    "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED", "VES", "VND", "VUV", "WST",
    "XAF", "XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XCD", "XCG", "XDR", "XOF", "XPD",
    "XPF", "XPT", "XSU", "XUA", "YER", "ZAR", "ZMW", "ZWG",
    # withdrawn since 2015
    "HRK", "SLL", "ZWL", "ANG", "CUC", "VEF", "MRO", "STD", "BYR", "LTL",
))


def is_currency(code: str) -> bool:
    """Whether `code` (upper case, as written) is an ISO 4217 currency code."""
    return code in ISO_4217


def checked_code(code: object) -> str:
    """`code` as a currency code (spaces trimmed, upper-cased), or an InputError naming it
    unless ISO 4217 has it: a dataset's setting and the amounts `suggest` quotes take the
    same codes."""
    text = code.strip().upper() if isinstance(code, str) else None
    if text is None or not is_currency(text):
        shown = repr(text) if text is not None else f"{code!r:.80}"
        raise InputError(f"Currency {shown} is not an ISO 4217 code such as EUR, USD or JPY.")
    return text


# ISO 4217 minor units other than 2 (List One, 2025): digits after the decimal point.
_MINOR_UNITS = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF",
                     "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF",
                     "BYR", "MRO", "STD"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}


def minor_unit(code: str | None) -> int:
    """Decimals of an amount in `code` (2 when unknown): Sony's JPY costs showed as
    12345.00, yen having no minor unit."""
    return _MINOR_UNITS.get((code or "").upper(), 2)


def money_format(code: str | None) -> str:
    """The printf format of a table column of amounts in `code`: thousands separators
    and the currency's decimals ("%,.0f" for JPY, "%,.2f" for EUR or an unknown one)."""
    return f"%,.{minor_unit(code)}f"


def format_amount(amount: float, code: str | None) -> str:
    """An amount in `code` with thousands separators and the currency's decimals, without
    the code (for a figure whose label names it): '12,346', '1,234.50'."""
    return f"{amount:,.{minor_unit(code)}f}"


def format_money(amount: float, code: str | None) -> str:
    """An amount as a sentence shows it: '12,345 JPY', '1,234.50 EUR', '1,234.50' when the
    currency is unknown."""
    text = format_amount(amount, code)
    return f"{text} {code}" if code else text


# Decimals kept of a sum of counts read as floats (impressions, clicks, conversions): the
# sums' float noise goes (`ngrams` printed 1486.0000000000005), a fractional conversion
# (Google Ads' data-driven attribution) stays.
COUNT_DECIMALS = 6


def shown_sums(frame: pd.DataFrame, code: str | None, money: Sequence[str] = ("cost",),
               counts: Sequence[str] = ("impressions", "clicks", "conversions")
               ) -> pd.DataFrame:
    """`frame` with its sums as reports show them (CLI, API and pages alike): `money`
    columns rounded to `code`'s minor unit (a cluster's cost read 487610.1199999999),
    `counts` to COUNT_DECIMALS. Columns `frame` lacks are skipped; what is stored is
    never rounded, only what is shown."""
    rounded = {c: pd.to_numeric(frame[c], errors="coerce").round(minor_unit(code))
               for c in money if c in frame}
    rounded |= {c: whole_if_whole(c, pd.to_numeric(frame[c], errors="coerce")
                                  .round(COUNT_DECIMALS))
                for c in counts if c in frame}
    return frame.assign(**rounded)


def whole_if_whole(name: str, values: pd.Series) -> pd.Series:
    """A count that is whole by nature (clicks, impressions: `jsonable.COUNT_KEYS`) as
    pandas' nullable Int64 when every value is whole, missing ones <NA>: the Python API's
    neighbours gave `580.0` clicks where the CLI and the service print 580 (a float
    column is what pandas makes of a count beside a missing value, or of a sum).
    Conversions stay floats (Google Ads reports fractions, and COUNT_KEYS leaves them
    out), as does a count holding a fraction, which no export has but which is not
    rounded away."""
    if name not in COUNT_KEYS or values.dtype == "Int64":
        return values
    present = values.dropna().to_numpy(dtype=float)
    if not (np.isfinite(present) & (present == np.round(present))).all():
        return values
    return values.astype("Int64")

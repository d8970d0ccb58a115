"""Which input column feeds which canonical column, by name.

Exports and hand-made files spell the same thing many ways ("Impr.", "impressions",
"Search term", "query"); names are compared after lower-casing and dropping spaces and
punctuation, against an ordered alias list per canonical column (first alias found wins,
so "Search term" beats "Keyword" in a search terms report that has both). Another
column that names an already fed metric column ("Impressions" beside "Impr.") is a
rival: the reader imports the file only when the two hold the same numbers.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from core.errors import InputError

# canonical column -> accepted input names, most specific first.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "campaign_id": ("campaign_id", "campaign id", "cid", "campaign"),
    "campaign_name": ("campaign_name", "campaign name", "campaign"),
    "account": ("account", "account name", "customer", "customer name", "advertiser",
                "advertiser name"),
    "ad_group": ("ad_group", "ad group", "adgroup", "ad group name"),
    "term": ("term", "search term", "search_term", "search query", "query", "keyword",
             "keywords", "text"),
    "term_type": ("term_type", "term type"),
    "match_type": ("match_type", "match type"),
    "impressions": ("impressions", "impr.", "impr", "imps"),
    "clicks": ("clicks",),
    "cost": ("cost", "spend", "amount spent"),
    "conversions": ("conversions", "conv."),
    "date": ("date", "day"),
    "label": ("label", "vertical", "category", "class", "query_class"),
    # Not a term column: the currency of `cost`, kept per dataset (`datasets.currency`).
    "currency": ("currency code", "currency"),
}

# Input names of the term column that say what kind of term it holds.
SEARCH_TERM_NAMES = frozenset({"searchterm", "searchquery", "query"})
KEYWORD_NAMES = frozenset({"keyword", "keywords"})


# Metric columns whose every alias is a synonym: a second one beside the first holds the
# same figures or contradicts them. The other columns' aliases also name neighbouring
# things, where the first, most specific one is meant and another legitimately differs:
# "Keyword" beside "Search term" (the keyword the search matched), "Customer name"
# beside "Account name" (a manager account), "Campaign" beside "Campaign ID".
RIVAL_CHECKED = ("impressions", "clicks", "cost", "conversions")


def normalise_name(name: str) -> str:
    """`"Impr."`, `"impr"` and `" IMPR "` all become `"impr"` (letters and digits only)."""
    folded = unicodedata.normalize("NFKC", str(name)).casefold()
    return re.sub(r"[\W_]+", "", folded)


_NORMALISED_ALIASES = {column: tuple(dict.fromkeys(normalise_name(a) for a in aliases))
                       for column, aliases in COLUMN_ALIASES.items()}


def match_columns(headers: Sequence[str]) -> dict[str, int]:
    """Canonical column -> index of the input column that feeds it.

    One input column may feed two canonical ones: a lone "Campaign" is both the
    campaign id and its name. Two input columns that share a normalised name and feed a
    canonical column are refused (`InputError`, naming both): taking either would drop
    the other's values unseen. Repeated names no canonical column uses are left alone.
    """
    position: dict[str, int] = {}
    for index, header in enumerate(headers):
        position.setdefault(normalise_name(header), index)
    matched: dict[str, int] = {}
    for column, aliases in _NORMALISED_ALIASES.items():
        for alias in aliases:
            if alias in position:
                matched[column] = position[alias]
                break
    fed = {index: column for column, index in reversed(matched.items())}
    for index, header in enumerate(headers):
        first = position[normalise_name(header)]
        if first != index and first in fed:
            raise InputError(
                f"columns {first + 1} {headers[first]!r} and {index + 1} {header!r} have the "
                f"same name, so which one holds the {fed[first].replace('_', ' ')} is "
                "unclear; rename or remove one of them")
    return matched


def rival_columns(headers: Sequence[str], matched: dict[str, int]
                  ) -> list[tuple[str, int, int]]:
    """(metric column, index of the column read, index of a rival) for every input column
    that names a `RIVAL_CHECKED` column another column already feeds and feeds none
    itself ("Impr." and "Impressions"): taking the first alone would drop the other's
    figures unseen, so the reader compares them."""
    fed = set(matched.values())
    rivals = []
    for column in RIVAL_CHECKED:
        if column not in matched:
            continue
        kept = matched[column]
        kept_name = normalise_name(headers[kept])
        for index, header in enumerate(headers):
            name = normalise_name(header)
            if (index in fed or name == kept_name
                    or name not in _NORMALISED_ALIASES[column]):
                continue  # fed, or a repeated name (match_columns refuses those it reads)
            rivals.append((column, kept, index))
    return rivals


def accepted_names(column: str) -> str:
    """The aliases of one canonical column, for error messages."""
    return ", ".join(repr(a) for a in COLUMN_ALIASES[column])

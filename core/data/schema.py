"""The canonical shape of one imported row: one keyword or search term of a campaign.

Readers turn every input format into a DataFrame with exactly these columns (missing
optional ones are null); the store keeps them as they are.
"""

from __future__ import annotations

# name -> DuckDB type. Order is the order of the `terms` table after (dataset, version).
TERM_COLUMNS: dict[str, str] = {
    "campaign_id": "VARCHAR NOT NULL",   # required
    "campaign_name": "VARCHAR",
    "account": "VARCHAR",
    "ad_group": "VARCHAR",
    "term": "VARCHAR NOT NULL",          # required; match-type decorations stripped
    "term_type": "VARCHAR",              # 'keyword' | 'search_term'
    "match_type": "VARCHAR",             # 'exact' | 'phrase' | 'broad' | None
    "impressions": "BIGINT",
    "clicks": "BIGINT",
    "cost": "DOUBLE",                    # in the account's currency, as exported
    "conversions": "DOUBLE",
    "date": "DATE",
    "label": "VARCHAR",                  # any ground-truth label (e.g. the demo's vertical)
    "source_file": "VARCHAR NOT NULL",   # file name (no folders) the row came from
    "source_line": "INTEGER NOT NULL",   # 1-based line in that file (data rows, as an editor shows)
}

REQUIRED_COLUMNS = ("campaign_id", "term")
METRIC_COLUMNS = ("impressions", "clicks", "cost", "conversions")
# A term row's place in import order (source file, then line), in Lookup's term file.
ROW_POSITION = "row_position"

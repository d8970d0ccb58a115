"""The keywords of one new campaign, from a file: an export the importer reads, or a list.

An account manager has a prospect's keywords as a Keyword Planner download, an export of
one campaign (CSV or Excel), or a plain list. `neighbors --file` and the Lookup page's
*New campaign* took every line of the file as a keyword, so a Keyword Planner download
gave its title, its range line and its tab-separated header as keywords. A file the
importer reads (`readers.read_bytes`: it has a term column) gives its term column, in
file order, each keyword once; a text with no table of terms (`readers.NoTermTable`: a
plain file, or a workbook's sheet) is one keyword per line (or separated by commas, tabs
or semicolons, as pasted: `score.split_keywords`). Any other refusal of the reader (a table
of terms that is wrong) stands.
"""

from __future__ import annotations

from core.data import readers
from core.errors import InputError, counted
from core.serve.score import split_keywords


def keywords_of_file(data: bytes, name: str, encoding: str | None = None
                     ) -> tuple[list[str], list[str]]:
    """(keywords, warnings) of one new campaign's file. An export of several campaigns is
    refused: its keywords are not one campaign's."""
    try:
        read = readers.read_bytes(data, name, encoding=encoding)
    except readers.NoTermTable as plain:  # a list (as text, or a workbook's column)
        return split_keywords(plain.text), plain.warnings
    frame = read.frame
    campaigns = frame["campaign_id"].nunique()
    # that a file without a campaign column is one campaign is what is asked here
    warnings = [w for w in read.warnings if not w.startswith(f"{name}: no campaign column")]
    if campaigns > 1:
        raise InputError(f"the file holds {counted(campaigns, 'campaign')} ("
                         f"{', '.join(repr(c) for c in frame['campaign_id'].unique()[:3])}"
                         f"{', …' if campaigns > 3 else ''}): a new campaign's keywords are "
                         "one campaign's; look a stored one up, or give one campaign's file",
                         file=name)
    return list(dict.fromkeys(frame["term"])), warnings

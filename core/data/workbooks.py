"""Spreadsheet workbooks (Excel .xlsx/.xls, OpenDocument .ods) as the text the reader reads.

Google Ads, Microsoft Advertising and Amazon Ads all offer their reports as Excel
downloads (Amazon's by default). Each worksheet holding cells becomes tab-separated text,
one line per sheet row, so that a report's title and range lines, its totals rows and an
account export's settings rows are read exactly as in the CSV download; sheet row N is
line N of every message. The reader reads the first worksheet that holds a table of terms.
Cells keep their types: numbers are written with a decimal point whatever the workbook's
language (`typed` for the reader), dates as ISO days. python-calamine (Rust's calamine)
reads the sheets; the parts of an .xlsx/.ods are first checked for their unpacked size, so
a small file that unpacks to gigabytes is refused before anything is read.
"""

from __future__ import annotations

import csv
import io
import math
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from typing import Any

from core.config import max_upload_bytes
from core.data.files import megabytes
from core.errors import InputError

# Signatures: the ZIP container of .xlsx and .ods, and the compound file of .xls (and of a
# password-protected .xlsx, which Excel encrypts into one).
ZIP_MAGIC = b"PK\x03\x04"
COMPOUND_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# A workbook's parts may unpack to this many times the largest file an import accepts
# (`TOPICLAB_MAX_UPLOAD_MB`): sheet XML repeats its markup around every cell, ~5-15x a
# report's CSV, while a "zip bomb" unpacks to thousands of times its size.
UNPACKED_PER_UPLOAD = 5
_LINE_BREAKS = str.maketrans({"\r": " ", "\n": " ", "\u2028": " ", "\u2029": " "})


def is_workbook(data: bytes) -> bool:
    """Whether the bytes are an .xlsx/.ods (a ZIP holding a workbook's parts) or a compound
    file (.xls, or an encrypted .xlsx)."""
    if data.startswith(COMPOUND_MAGIC):
        return True
    if not data.startswith(ZIP_MAGIC):
        return False
    names = zip_names(data)
    return any(n.startswith("xl/") or n == "content.xml" for n in names)


def sheet_texts(data: bytes, name: str) -> tuple[list[str], Iterator[tuple[str, str]]]:
    """The names of the worksheets holding cells, in workbook order, and each one's
    (name, tab-separated text) as it is asked for: the reader reads the first that holds a
    table of terms (an Amazon Ads bulk file opens on its portfolios)."""
    from python_calamine import CalamineWorkbook

    if data.startswith(ZIP_MAGIC):
        _check_unpacked_size(data, name)
    with _calamine_errors(data, name):
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        sheets = [meta.name for meta in book.sheets_metadata
                  if str(meta.typ).endswith("WorkSheet")]
        filled = [(sheet, cells) for sheet in sheets
                  if (cells := book.get_sheet_by_name(sheet)).height and cells.width]
    if not filled:
        raise InputError("the workbook has no worksheet holding cells", file=name)

    def texts() -> Iterator[tuple[str, str]]:
        for sheet, cells in filled:  # each sheet parsed once, above
            with _calamine_errors(data, name):
                rows = cells.to_python(skip_empty_area=False)
            yield sheet, _as_text(rows)

    return [sheet for sheet, _ in filled], texts()


def sheets_note(name: str, read: str, sheets: list[str]) -> list[str]:
    """The warning that names the worksheet read and those left alone (none for a workbook
    of one worksheet)."""
    others = [sheet for sheet in sheets if sheet != read]
    if not others:
        return []
    why = "" if read == sheets[0] else ", the first holding a column of terms"
    return [f"{name}: worksheet {read!r} read{why}; {len(others)} other worksheet"
            f"{'s' if len(others) > 1 else ''} left alone "
            f"({', '.join(repr(s) for s in others[:3])}{', …' if len(others) > 3 else ''}): "
            "save each as a file of its own to import it"]


@contextmanager
def _calamine_errors(data: bytes, name: str) -> Iterator[None]:
    """calamine's refusals as messages that say what to do."""
    from python_calamine import CalamineError, PasswordError

    try:
        yield
    except (PasswordError, CalamineError) as err:
        if isinstance(err, PasswordError) or _is_encrypted(data):
            raise InputError("the workbook is password-protected; save it without a password "
                             "(or save the sheet as CSV) and import that", file=name) from None
        raise InputError(f"the workbook cannot be read ({err}); open it and save the sheet as "
                         "CSV (UTF-8)", file=name) from None


def _is_encrypted(data: bytes) -> bool:
    """An .xlsx saved with a password: a compound file holding the streams
    "EncryptionInfo" and "EncryptedPackage" (MS-OFFCRYPTO), which calamine cannot tell
    from any other file it does not know ("Cannot detect file format")."""
    return (data.startswith(COMPOUND_MAGIC)
            and "EncryptedPackage".encode("utf-16-le") in data)


def zip_names(data: bytes) -> list[str]:
    """The names in a ZIP's directory (none for a damaged or partial one); nothing is
    unpacked."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):  # a damaged or partial archive
        return []


def _check_unpacked_size(data: bytes, name: str) -> None:
    """Refuse a workbook whose parts unpack to more than `UNPACKED_PER_UPLOAD` uploads."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        unpacked = sum(info.file_size for info in archive.infolist())
    limit = UNPACKED_PER_UPLOAD * max_upload_bytes()
    if unpacked > limit:
        raise InputError(f"the workbook unpacks to {megabytes(unpacked)}, more than "
                         f"{megabytes(limit)} ({UNPACKED_PER_UPLOAD} times "
                         "TOPICLAB_MAX_UPLOAD_MB); save the sheet as CSV and import that",
                         file=name)


def _as_text(rows: list[list[Any]]) -> str:
    """Rows as tab-separated lines. Until the header (the first row of two or more cells)
    each row stops at its last cell, so a report's title line is a line of its own; from
    the header on every row is as wide as the header (cells beyond it are kept when they
    hold something, for the reader to refuse). An empty row is an empty line."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter="\t", lineterminator="\n")
    width = None
    for row in rows:
        cells = [_cell_text(value) for value in row]
        filled = len(cells)
        while filled and not cells[filled - 1]:
            filled -= 1
        if not filled:
            out.write("\n")
            continue
        if width is None and sum(bool(c) for c in cells) >= 2:
            width = filled
        writer.writerow(cells[:max(filled, width)] if width else cells[:filled])
    return out.getvalue()


def _cell_text(value: Any) -> str:
    """A cell as the CSV download writes it: whole numbers without ".0", other numbers
    with a decimal point, days as ISO dates, line breaks as spaces (row N stays line N)."""
    if isinstance(value, str):
        return value.translate(_LINE_BREAKS)
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 2**53:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat(" ")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return "" if value is None else str(value)

"""Every supported input file into rows of the canonical term table (`core.data.schema`).

Readers only read and validate: they return a DataFrame with exactly `TERM_COLUMNS`, or
raise `InputError` naming the file, line and column of the first problem, so that the
importer can refuse the whole file before it touches the store.

Delimited text is parsed with the `csv` module rather than pandas' C parser because
every row must keep the line an editor shows for it (quoted fields may span lines) and
ragged rows must be refused, not silently padded. A regular file is parsed in one C pass;
only an irregular one is re-read row by row to say where it goes wrong.
"""

from __future__ import annotations

import array
import contextlib
import csv
import functools
import gc
import io
import itertools
import os
import re
import stat
import threading
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, NamedTuple

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from core.data import encodings, files, workbooks
from core.data.columns import (
    DECIMAL_COMMA_NAMES,
    ENGLISH_DATE_NAMES,
    KEYWORD_NAMES,
    SEARCH_TERM_NAMES,
    accepted_names,
    match_columns,
    normalise_name,
    rival_columns,
    unread_term_columns,
)
from core.data.currencies import is_currency
from core.data.match_types import named_match_type, names_a_negative, strip_match_decoration
from core.data.schema import METRIC_COLUMNS, TERM_COLUMNS
from core.errors import InputError, counted, plural
from core.plain_text import hidden_characters, hidden_pattern, visible_text

PLANTED_SUFFIX = "planted.parquet"  # core.data.demo.planted_path: never read from a folder
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xlsb", ".xls", ".ods")
SUPPORTED_SUFFIXES = (".csv", ".tsv", ".tab", ".txt", ".parquet", ".pq", *WORKBOOK_SUFFIXES)
DELIMITERS = (",", "\t", ";", "|")
# The days a date may be: those Python's `datetime.date` holds (pandas reads a CSV's
# "10000-01-01" as no date, Arrow and pandas hold years far outside these).
FIRST_DAY, LAST_DAY = "0001-01-01", "9999-12-31"
_DELIMITER_NAMES = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}
# A single-column file is read whole-line: this delimiter never occurs in text.
_NO_DELIMITER = "\x1f"
# Rows after the header that the delimiter must also fit (`_sniff_delimiter`).
_SNIFF_ROWS = 20
# Excel's delimiter hint, a first line "sep=;" that tools exporting for Excel write: it was
# taken for the header ("no term column. Columns found: 'sep=', ''").
_SEP_LINE = re.compile(r'^\s*"?sep=([,\t;|])"?\s*$', re.IGNORECASE)

# A number as Excel's General format writes a long one: "1.23457E+10", "1E+11"; pandas,
# Python and Arrow write "1.2e+16".
_SCIENTIFIC_ID = r"^\d(?:[.,]\d+)?[Ee]\+\d{2,}$"
# Whole numbers from here on are not all floats: a float id this large lost digits.
_EXACT_FLOAT_IDS = 2.0 ** 53

# A day as Excel's serial number (days from 1899-12-30), 1927-05-18 to 2173-10-14.
_EXCEL_SERIAL = re.compile(r"^[1-9]\d{4}(?:\.0*)?$")
# A day written as numbers, day and month in either order, then the year (and a time):
# "03/04/2024", "25.05.2024", "3-4-24 10:00" (`_days_in_one_order`)
_NUMERIC_DAY = re.compile(r"^(\d{1,2})([./-])(\d{1,2})\2(\d{4}|\d{2})((?:[ T].*)?)$")
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")

_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")

# Google Ads UI downloads: "Search keyword report" / "Search terms report", then the range;
# in another UI language the title says report in it ("Suchbegriffbericht", "Rapport sur
# les termes de recherche", "Informe de ...", "Rapporto ...", "Relatório ...", "検索語句レポート";
# German and Dutch join it to what it reports on: "Zoektermenrapport").
_REPORT_WORDS = r"(?:\breport|bericht|rapport|\binforme|\brelat[óo]rio|レポート)"
_REPORT_TITLE = re.compile(
    r"^\s*\"?(?:[\w ./&()-]*\breport|[\w ./&()'’-]*" + _REPORT_WORDS + r"[\w ./&()'’-]*)\"?\s*$",
    re.IGNORECASE)
# Keyword Planner's download of keyword ideas: "Keyword Stats 2024-05-01 at 10_00_00", then
# the range of its monthly searches, then the header (UTF-16, tabs).
_PLANNER_TITLE = re.compile(r'^\s*"?Keyword Stats \d{4}-\d{2}-\d{2}(?: at [\d_]+)?"?\s*$',
                            re.IGNORECASE)
# "All time" in the translated UIs (from Google Ads' UI terms; not checked against a real
# export): "Gesamter Zeitraum" / "Gesamte Laufzeit", "Toute la période", "Todo el período",
# "Tutto il periodo", "Todo o período", "Gehele periode", "全期間".
_ALL_TIME = (r"all time|gesamter zeitraum|gesamte laufzeit|toute la p[ée]riode"
             r"|todo el per[ií]odo|tutto il periodo|todo o per[ií]odo|gehele periode"
             r"|volledige periode|全期間")
_DATE_RANGE_LINE = re.compile(r"^\s*\"?[^\t;|]*(\d{4}|" + _ALL_TIME + r")[^\t;|]*\"?\s*$",
                              re.IGNORECASE)
# The two ends of a range: "A - B", "A – B" (en dash), "A～B" (Japanese).
_RANGE_DASH = re.compile(r"\s+[-–—]\s+|\s*[～〜~]\s*")
# A day as the translated UIs write it: "1. Mai 2024", "1er mai 2024", "1 may. 2024",
# "1 de mayo de 2024", "1 de mai. de 2024", "1 mei 2024"; Japanese "2024年5月1日".
_DAY_MONTH_YEAR = re.compile(
    r"^(\d{1,2})(?:er)?\.?\s+(?:de\s+)?([^\W\d_]+)\.?,?\s+(?:de\s+)?(\d{4})$")
_JAPANESE_DAY = re.compile(r"^(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日$")
# Month names of de, fr, es, it, pt and nl, January first; an abbreviation ("Sept.",
# "févr.", "mag", "dez") is any start of at least 3 letters that names one month only.
_MONTH_NAMES = (
    ("januar", "janvier", "enero", "gennaio", "janeiro", "januari"),
    ("februar", "février", "febrero", "febbraio", "fevereiro", "februari"),
    ("märz", "mars", "marzo", "março", "maart", "mrt"),
    ("april", "avril", "abril", "aprile"),
    ("mai", "mayo", "maggio", "maio", "mei"),
    ("juni", "juin", "junio", "giugno", "junho"),
    ("juli", "juillet", "julio", "luglio", "julho"),
    ("august", "août", "agosto", "augustus"),
    ("september", "septembre", "septiembre", "setiembre", "settembre", "setembro"),
    ("oktober", "octobre", "octubre", "ottobre", "outubro"),
    ("november", "novembre", "noviembre", "novembro"),
    ("dezember", "décembre", "diciembre", "dicembre", "dezembro", "december"),
)

_NULL_TOKENS = frozenset({"", "--", "-", "n/a", "na", "nan", "null", "none"})
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$")
# One currency sign or ISO code before or after the figure ("$1,234.50", "1.234,56 €",
# "1 234,56\u00a0€", "12,50 EUR", "USD 3"): Google Ads downloads write none (the currency is
# a column), hand-made files do. Only one: "€5 €" stays a cell that is no number. Cells of
# one column in two currencies, or in another than their row's currency code, are refused
# (`_check_one_currency`): their sum would mean nothing. Three capitals are a currency only
# when ISO 4217 has them (`_unknown_codes`): "12 PCS" is no number, not 12 in "PCS".
_MARK = r"[$€£¥￥]|[A-Z]{3}"
_CURRENCY_SIGN = re.compile(rf"^(?P<before>{_MARK})\s*(?=[^$€£¥￥A-Za-z]*$)"
                            rf"|(?<=\d)\s*(?P<after>{_MARK})$")
# The codes a sign may stand for: "$5" and "USD 5" agree, "$5" and "EUR 5" do not.
_SIGN_CODES = {"$": frozenset({"USD", "CAD", "AUD", "NZD", "HKD", "SGD", "MXN", "TWD"}),
               "€": frozenset({"EUR"}), "£": frozenset({"GBP"}),
               "¥": frozenset({"JPY", "CNY"}), "￥": frozenset({"JPY", "CNY"})}
# Decimal-comma numbers ("1.234,56", "1 234,56" with a space, NBSP or narrow NBSP, "12,5").
_GROUP_SPACES = " \u00a0\u202f"
_EUROPEAN = re.compile(r"^[+-]?(\d+|\d{1,3}(\.\d{3})+|\d{1,3}([ \u00a0\u202f]\d{3})+)(,\d*)?$")
# A cell's number style, decided once per file (`_number_style`): only these say which.
_COMMA_SIGNS = re.compile(r"^[+-]?(\d+,\d{1,2}|\d{1,3}(\.\d{3})+,\d*|\d{1,3}(\.\d{3}){2,}"
                          r"|\d{1,3}([ \u00a0\u202f]\d{3})+(,\d*)?)$")
_DOT_SIGNS = re.compile(r"^[+-]?(\d+\.\d{1,2}|\d{1,3}(,\d{3})+(\.\d*)?)$")
_AMBIGUOUS = re.compile(r"^[+-]?\d{1,3}\.\d{3}$")  # "1.234": 1234 in a German export
# "Total: Account" and its translations ("Gesamt:", "Total :", "Totale:", "Totaal:",
# "合計:"), at the start of a cell.
_TOTAL_NAMES = r"\s*(?:total|totale|totaal|gesamt|合計|総計)\s*"
_TOTAL_LABEL = re.compile(_TOTAL_NAMES + "[:：]", re.IGNORECASE)
# A totals row's label without the colon ("Total"), read as one only in a report's row whose
# term is blank (such a row is refused as "the term is empty" otherwise).
_TOTAL_WORD_ONLY = re.compile(_TOTAL_NAMES + "$", re.IGNORECASE)

_TERM_TYPE_VALUES = {
    "keyword": "keyword", "keywords": "keyword", "kw": "keyword",
    "searchterm": "search_term", "searchterms": "search_term", "searchquery": "search_term",
    "query": "search_term", "st": "search_term",
}
_TEXT_COLUMNS = ("account", "ad_group", "label")
# Text whose control and invisible characters are removed on import, with a warning: a
# terminal colour code or a zero-width space in a keyword or name garbles every table
# and CSV and makes two names look equal. Campaign ids holding one are refused instead:
# cleaning could merge two campaigns.
_CLEANED_COLUMNS = ("term", "campaign_name", "term_type", "match_type", *_TEXT_COLUMNS)
# The largest value one term row may hold. No keyword row has a trillion impressions,
# clicks or conversions (all Google searches of a year are about 2e12), and no account
# spends 1e15 in any currency (that is about 60 billion USD in Indonesian rupiah). Bigger
# values are typos or hostile (1e308 summed over two rows is infinite): within these
# bounds every sum over even a billion rows stays finite and fits DuckDB's integers, and
# impressions/clicks fit int64 with room to spare.
_METRIC_MAX = {"impressions": 1e12, "clicks": 1e12, "cost": 1e15, "conversions": 1e12}
_MAX_LISTED_LINES = 10
# Rows of a CSV parsed before their cells move to Arrow (`_rows_at_once`), and characters
# of its text the CSV reader is given at a time (`_text_lines`).
_CHUNK_ROWS = 100_000
_TEXT_PIECE = 1 << 20
# A cell of Python whitespace only (`str.strip` leaves nothing), for Arrow's RE2, whose \s
# is ASCII only; and a superset of the totals labels `_TOTAL_LABEL` matches.
_BLANK_CELL = r"^[\s\x0b\x1c-\x1f\x85\p{Z}]*$"
# The characters Python's `str.split` and `str.strip` take for whitespace (`str.isspace`),
# as an RE2 class body; and, by them, the cells that cleaning leaves as they are
# (`_per_distinct`): a term without whitespace but single spaces between words, a first
# `[` or `"` or any `+` (`strip_match_decoration`), and a non-blank cell without
# whitespace at either end (`_stripped`).
_PY_SPACE = (r"\t-\r\x1c-\x20\x85\xa0\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}"
             r"\x{205f}\x{3000}")
_PLAIN_TERM = rf'^(?:[^{_PY_SPACE}\["+][^{_PY_SPACE}+]*(?: [^{_PY_SPACE}+]+)*)?$'
_PLAIN_STRIPPED = rf"^[^{_PY_SPACE}](?s:.*[^{_PY_SPACE}])?$"
_TOTAL_WORD = r"(?i)tota|gesamt|合計|総計"

# Builds the error for (message, row position, canonical column) of the file being read.
_Fail = Callable[[str, int, str], InputError]


@dataclass
class ReadResult:
    """Rows of one import, the file names they came from, and what was noticed on the way."""

    frame: pd.DataFrame
    files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    format_by_file: dict[str, str] = field(default_factory=dict)
    currency: str | None = None  # Google Ads' "Currency code" when the files agree on one
    currencies: set[str] = field(default_factory=set)  # every code the files give


@dataclass
class _RawTable:
    """One file's cells before cleaning: canonical column -> input values, plus line numbers."""

    values: dict[str, pd.Series]
    headers: dict[str, str]  # canonical column -> the input column name it came from
    lines: np.ndarray
    format: str
    term_header: str
    # The cells of every input column (used or not) of the rows at some positions: a row
    # is a duplicate only when all of them repeat an earlier row's.
    cells: Callable[[np.ndarray], list[tuple]]
    table: pa.Table  # every input column (names may repeat): the duplicate check's rows
    report_date: pd.Timestamp | None = None
    warnings: list[str] = field(default_factory=list)
    decimal_comma: bool = False  # metrics written "1.234,56" (`_number_style`)


# --------------------------------------------------------------------------- public API


def read_paths(paths: Sequence[str | Path], *, names: Sequence[str] | None = None,
               encoding: str | None = None) -> ReadResult:
    """Read files and/or folders (their supported files, sorted by name) into one frame.

    `names` gives the display name of each path (an upload's original file name when the
    path is a temporary file); messages and `source_file` use it. `encoding` (a codec
    name; None or "auto" to detect) applies to every text file. Only regular files are
    read (`core.data.files`): a device, FIFO or socket is refused before it is opened.
    """
    return combine(list(read_each(paths, names=names, encoding=encoding)))


def read_each(paths: Sequence[str | Path], *, names: Sequence[str] | None = None,
              encoding: str | None = None) -> Iterator[ReadResult]:
    """`read_paths` one file at a time: every path is checked first (kind, size, names),
    then each file is read when the iteration reaches it, so an import of many files
    holds one file's rows at a time (`core.data.ingest`). `combine` joins the results."""
    encoding = encodings.check_choice(encoding)
    if isinstance(paths, (str, Path)):
        paths = [paths]
    if names is not None and len(names) != len(paths):
        raise ValueError(f"got {len(names)} names for {len(paths)} paths")
    sources: list[tuple[Path, str]] = []
    for index, raw_path in enumerate(paths):
        if not isinstance(raw_path, str | os.PathLike):  # None, a number, bytes
            raise InputError(f"path {index + 1} of {len(paths)} is {raw_path!r:.80}, not the "
                             "name of a file or folder")
        if isinstance(raw_path, str) and not raw_path.strip():
            # Path("") is Path("."): an empty argument would import the current folder.
            raise InputError(f"path {index + 1} of {len(paths)} is an empty path; name a file "
                             "or folder (use '.' for the current folder)")
        path = files.given_path(raw_path)
        shown = upload_name(names[index], index, len(names)) if names is not None else None
        try:
            is_dir = stat.S_ISDIR(os.stat(path).st_mode)
        except OSError:
            is_dir = False  # files.regular_file says what is wrong
        if is_dir:
            sources.extend((child, child.name) for child in _supported_files(path))
        else:
            sources.append((path, shown or path.name))
    if not sources:
        raise InputError("nothing to read: no files given")
    identities = []
    for path, shown in sources:  # every kind and size before any reading
        place = shown if names is not None else str(path)
        info = files.regular_file(path, place, folders=True)
        files.check_size(info.st_size, shown)
        identities.append((shown, place, (info.st_dev, info.st_ino)))
    _check_once(identities)
    _check_distinct([shown for _, shown in sources])
    return (_read_one(files.read_limited(path, shown, folders=True), shown, encoding)
            for path, shown in sources)


def read_bytes(data: bytes, name: str, *, encoding: str | None = None) -> ReadResult:
    """Read one in-memory upload (e.g. Streamlit's `UploadedFile.getvalue()`)."""
    shown = upload_name(name, 0, 1)
    files.check_size(len(data), shown)
    return combine([_read_one(data, shown, encodings.check_choice(encoding))])


def upload_name(name: object, index: int, count: int) -> str:
    """The file name an upload is stored under (its `source_file`, and the campaign id of
    a file without that column): the last part of `name`, or an InputError when that names
    no file. `""`, `"."` or `".."` (a browser never sends them; a script may) were stored
    as `upload-0` (the temporary file's name) or `..`."""
    base = Path(name).name if isinstance(name, str) else None
    if base is None or base.strip() in ("", ".", ".."):
        raise InputError(f"upload {index + 1} of {count} is named {name!r:.80}, which names no "
                         "file; give the file's own name, such as terms.csv (it is stored as "
                         "the source of every row)")
    return base


# --------------------------------------------------------------------------- files and folders


def _supported_files(folder: Path) -> list[Path]:
    """The folder's supported regular files; a device, FIFO or socket among them is refused
    (reading it would hang or never end), sub-folders and hidden files are left alone."""
    found = []
    for child in sorted(folder.iterdir()):
        if child.name.startswith("."):
            continue
        try:
            mode = os.stat(child).st_mode
        except OSError:
            continue  # a dangling link: nothing to read
        if stat.S_ISREG(mode):
            found.append(child)
        elif not stat.S_ISDIR(mode) and child.suffix.lower() in SUPPORTED_SUFFIXES:
            raise files.not_regular(f"{folder}/{child.name}", mode, folders=True)
    # The demo generator's ground truth (`planted.parquet`, `x.planted.parquet`) sits
    # beside its corpus and is never term rows: models must not see it.
    supported = [p for p in found if p.suffix.lower() in SUPPORTED_SUFFIXES
                 and not p.name.endswith(PLANTED_SUFFIX)]
    if not supported:
        seen = ", ".join(p.name for p in found[:10]) or "nothing"
        raise InputError(
            f"folder has no supported files ({', '.join(SUPPORTED_SUFFIXES)}); found: {seen}",
            file=str(folder))
    return supported


def _check_once(sources: list[tuple[str, str, tuple[int, int]]]) -> None:
    """Each file once: `ingest f.csv f.csv` (or `f.csv ./f.csv`, a folder and a file in
    it, a link to it) was told the two files had the same name and to rename one."""
    seen: dict[tuple[int, int], str] = {}
    for shown, place, identity in sources:
        if identity in seen:
            given = f"{place!r}" if seen[identity] == place else \
                f"{seen[identity]!r} and {place!r}, one file,"
            raise InputError(f"the same file was given twice ({given}); give it once",
                             file=shown)
        seen[identity] = place


def _check_distinct(names: list[str]) -> None:
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(f"two input files are both named {repeated[0]!r}; rows are traced by "
                         "file name, so rename one of them", file=repeated[0])


def combine(results: Sequence[ReadResult]) -> ReadResult:
    """One result from several files' (their rows concatenated, their warnings, and a
    warning when they give costs in different currencies)."""
    warnings = [w for result in results for w in result.warnings]
    currencies = set().union(*(result.currencies for result in results))
    if len(currencies) > 1:
        listed = ", ".join(sorted(currencies))
        warnings.append(f"the files give costs in several currencies ({listed}); costs are "
                        "summed as exported, without conversion")
    frames = [result.frame for result in results]
    return ReadResult(
        frame=frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True),
        files=[f for result in results for f in result.files], warnings=warnings,
        format_by_file={k: v for result in results for k, v in result.format_by_file.items()},
        currency=next(iter(currencies)) if len(currencies) == 1 else None,
        currencies=currencies)


def _currencies(raw: _RawTable, name: str) -> set[str]:
    """The currency codes a file's "Currency code" column holds (upper-cased), if any; a
    code ISO 4217 lacks is refused naming its line ("PCS" became the dataset's currency)."""
    if "currency" not in raw.values:
        return set()
    codes = pd.Series(_as_text(raw.values["currency"]), dtype=object).str.strip().str.upper()
    found = {code for code in codes.dropna() if code.casefold() not in _NULL_TOKENS}
    unknown = sorted(code for code in found if not is_currency(code))
    if unknown:
        at = int(np.flatnonzero((codes == unknown[0]).to_numpy())[0])
        raise InputError(f"{raw.values['currency'].iloc[at]!r} is not an ISO 4217 currency "
                         "code such as EUR, USD or JPY", file=name, line=int(raw.lines[at]),
                         column=raw.headers["currency"])
    return found


def _read_one(data: bytes, name: str, encoding: str | None = None) -> ReadResult:
    hidden = hidden_characters(name)
    if hidden:  # stored with every row, and the campaign id of a file without that column
        raise InputError(f"the file name holds control or invisible characters ({hidden}); "
                         "rename the file", file=repr(name))
    if not data:
        raise InputError("the file is empty (0 bytes)", file=name)
    sheet = None
    if data[:4] == b"PAR1":
        raw = _read_parquet(data, name)
    elif workbooks.is_workbook(data):
        raw, sheet = _read_workbook(data, name)
        del data
    elif data[:4] == b"PK\x03\x04":
        raise InputError(_zip_refusal(data, name), file=name)
    elif kind := _compressed_kind(data):
        raise InputError(f"this is a {kind}-compressed file, which cannot be imported as it is; "
                         "decompress it and import the CSV or Parquet file inside", file=name)
    else:
        text, encoding_warnings = _decode(data, name, encoding)
        del data  # the cells are in Arrow from here on: neither the bytes (when this was
        # their last holder) nor the text are held through the cleaning (266 MB of a 133 MB
        # file's peak)
        raw = _read_delimited(text, name, notes=encoding_warnings)
        del text
    with _on_sheet(name, sheet):
        currencies = _currencies(raw, name)
        frame, warnings = _canonical_frame(raw, name)
    return ReadResult(frame, [name], raw.warnings + warnings, {name: raw.format},
                      next(iter(currencies)) if len(currencies) == 1 else None, currencies)


def _read_workbook(data: bytes, name: str) -> tuple[_RawTable, str | None]:
    """The cells of a workbook's first worksheet that holds a table of terms, and that
    worksheet's name when the workbook has others (messages then name it). An Amazon Ads
    bulk file opens on its portfolios, and a report saved with a notes sheet before it was
    refused as "no term column". With no such worksheet the first one's refusal stands
    (a keyword list typed as a column is read from it: `core.serve.keyword_files`)."""
    sheets, texts = workbooks.sheet_texts(data, name)
    named = len(sheets) > 1
    refusal = settings_only = None
    for sheet, text in texts:
        notes = workbooks.sheets_note(name, sheet, sheets)
        shown = sheet if named else None
        try:
            with _on_sheet(name, shown):
                return _read_delimited(text, name, notes=notes, typed=True), shown
        except NoTermTable as err:
            refusal = refusal or err
        except NoKeywordRows as err:  # named with its worksheet by `_on_sheet`
            settings_only = settings_only or err
    if settings_only is not None:
        raise settings_only
    assert refusal is not None  # `sheet_texts` refuses a workbook without worksheets
    if named:
        raise NoTermTable(f"no worksheet has a term column; the first, {sheets[0]!r}: "
                          f"{refusal.message}", text=refusal.text, warnings=refusal.warnings,
                          file=name, line=refusal.line)
    raise refusal


@contextlib.contextmanager
def _on_sheet(name: str, sheet: str | None) -> Iterator[None]:
    """A refusal of a workbook's cells names the worksheet (when it has several): its
    line N is that worksheet's row N."""
    try:
        yield
    except NoTermTable:
        raise
    except InputError as err:
        if sheet is None or err.file != name:
            raise
        raise type(err)(err.message, file=f"{name}, worksheet {sheet!r}", line=err.line,
                        column=err.column) from None


def _zip_refusal(data: bytes, name: str) -> str:
    """Why a ZIP file that is no workbook (`workbooks.is_workbook`) is refused: named as a
    workbook, it is a damaged one; another archive (Microsoft Advertising zips every report
    it downloads) is extracted. Only the archive's directory is read, never a member."""
    names = workbooks.zip_names(data)
    if Path(name).suffix.lower() in WORKBOOK_SUFFIXES:
        return ("this is named as a spreadsheet workbook but holds no worksheet (a damaged "
                "or partial download?); open it and save the sheet as CSV (UTF-8), or "
                "download it again")
    inside = [n for n in names if not n.endswith("/")]
    held = (f" (it holds {', '.join(repr(n) for n in inside[:3])}"
            f"{', …' if len(inside) > 3 else ''})" if inside else "")
    return (f"this is a ZIP archive{held}, which cannot be imported as it is; extract it "
            "and import the CSV or Parquet files inside (a folder of them is one import)")


# The first bytes of compressed files: a gzip of a CSV was refused as "NUL bytes (binary
# data, or UTF-16 or UTF-32 without a byte-order mark)", naming the wrong cause.
_COMPRESSED = {b"\x1f\x8b": "gzip", b"\xfd7zXZ\x00": "xz", b"\x28\xb5\x2f\xfd": "zstd",
               b"7z\xbc\xaf\x27\x1c": "7-Zip"}
_BZIP2 = re.compile(rb"^BZh[1-9]1AY&SY")  # "BZh" alone may start a header


def _compressed_kind(data: bytes) -> str | None:
    """The compression whose mark `data` starts with ("gzip"), or None."""
    if _BZIP2.match(data[:10]):
        return "bzip2"
    return next((kind for mark, kind in _COMPRESSED.items() if data.startswith(mark)), None)


# --------------------------------------------------------------------------- decoding


def _decode(data: bytes, name: str, encoding: str | None = None) -> tuple[str, list[str]]:
    """Text of the file (`core.data.encodings`) once it is known not to be binary."""
    text, warnings = encodings.decode(data, name, encoding)
    text = _without_dos_end(text)
    sample = text[:1_000_000]
    if "\x00" in text or len(_CONTROL_CHARS.findall(sample)) > max(2, len(sample) // 1000):
        raise InputError("is not a text file: it holds binary control characters; expected "
                         "CSV/TSV text or Parquet", file=name)
    return text, warnings


def _without_dos_end(text: str) -> str:
    """The text without the Ctrl-Z (U+001A) that old DOS and Windows tools write as an
    end-of-file mark (was: a last row of one field, refused as ragged, or removed from a
    keyword with a warning). Only at the very end: one anywhere else is a character of a
    cell, cleaned or refused as every control character is."""
    return text.rstrip("\x1a")


# --------------------------------------------------------------------------- delimited text


def _sniff_delimiter(header: str, sample: Sequence[str] = ()) -> str:
    """The candidate that splits the header into the most fields (column names rarely
    contain delimiters, unlike data) among those that split every `sample` row (the lines
    after the header) into as many: "Keyword;Campaign,Name" is two fields by comma and by
    semicolon, and the comma, tried first, won on the header alone, so "shoes;C1" was one
    field. When no candidate fits every row (a ragged file) the header alone decides, and
    the reader then names the ragged row. A one-field header means a one-column file."""
    widths = {d: _header_width(header, d) for d in DELIMITERS}
    splitting = [d for d in DELIMITERS if widths[d] > 1]
    fitting = [d for d in splitting if _fits_rows(sample, d, widths[d])]
    candidates = fitting or splitting
    if not candidates:
        return _NO_DELIMITER
    return max(candidates, key=widths.__getitem__)  # the first of equals: DELIMITERS' order


def _header_width(header: str, delimiter: str) -> int:
    """Fields of the header by `delimiter`; 1 when they cannot be parsed by it (a quoted
    line break read as split in the middle of a field)."""
    try:
        return len(next(csv.reader(io.StringIO(header, newline=""), delimiter=delimiter), []))
    except csv.Error:
        return 1


def _fits_rows(sample: Sequence[str], delimiter: str, width: int) -> bool:
    """Whether every non-blank sample row has `width` fields by `delimiter` (or more, the
    extra ones empty: a trailing delimiter), as the reader will want."""
    try:
        rows = list(csv.reader(io.StringIO("\n".join(sample), newline=""),
                               delimiter=delimiter))
    except csv.Error:
        return False
    return all(len(row) == width or (len(row) > width and not any(c.strip() for c in row[width:]))
               for row in rows if any(cell.strip() for cell in row))


# A Microsoft Advertising report (a download from its web UI or Reporting API, CSV or TSV):
# "Report Name: …" and other "Name: value" lines of metadata up to a blank line, then the
# column headers, and a copyright line after the rows. The API writes both by default
# (`ReportRequest`'s ExcludeReportHeader and ExcludeReportFooter; learn.microsoft.com,
# Microsoft Advertising Reporting service). Its report dates are left alone: "Report Time"
# is written in the account's locale, and the day of a row is the TimePeriod column's.
_MS_REPORT_NAME = re.compile(r'^\s*"?Report Name\s*:\s*(.*?)"?\s*$', re.IGNORECASE)
_MS_METADATA = re.compile(r'^\s*"?[A-Za-z][A-Za-z ]*:')
_MS_FOOTER = re.compile(r"^\s*(?:©|\(c\)|@)\s*\d{4}\s+Microsoft Corporation", re.IGNORECASE)
_HEAD_LINES = 40  # a Microsoft report's metadata is 8 lines and a blank one


def _microsoft_preamble(lines: list[str]) -> tuple[int, str] | None:
    """(lines before the header, report name) of a Microsoft Advertising report, or None:
    `lines` start at its first non-blank line."""
    found = _MS_REPORT_NAME.match(lines[0]) if lines else None
    if not found:
        return None
    for index in range(1, len(lines)):
        if not lines[index].strip():
            header = next((i for i in range(index + 1, len(lines)) if lines[i].strip()), None)
            return None if header is None else (header, found[1] or "Microsoft Advertising")
        if not _MS_METADATA.match(lines[index]):
            return None
    return None


def _preamble(lines: list[str]) -> tuple[int, str | None, str | None]:
    """(lines before the header, report title, date-range line) of a Google Ads download."""
    if (len(lines) < 2 or not (_REPORT_TITLE.match(lines[0]) or _PLANNER_TITLE.match(lines[0]))
            or _has_delimiter(lines[0])):
        return 0, None, None
    title = lines[0].strip().strip('"')
    if len(lines) >= 3 and _DATE_RANGE_LINE.match(lines[1]):
        return 2, title, lines[1].strip().strip('"')
    return 1, title, None


def _has_delimiter(line: str) -> bool:
    return any(d in line for d in DELIMITERS)


# What a report's title says it is, in English and the translated UIs ("Suchbegriffbericht",
# "Rapport sur les termes de recherche", "Rapport sur les mots clés", "検索語句レポート"), and
# Microsoft Advertising's "Search Query Performance Report".
_SEARCH_TERMS_TITLE = re.compile(r"search term|search ?quer|suchbegriff|termes? de recherche"
                                 r"|términos? de búsqueda|termini? di ricerca|termos? de "
                                 r"pesquisa|zoekterm|検索語句", re.IGNORECASE)
_KEYWORD_TITLE = re.compile(r"keyword|mots? clés?|palabras? clave|parole chiave|parola chiave"
                            r"|palavras?-chave|zoekwoord|キーワード", re.IGNORECASE)


def _report_format(title: str | None, delimiter: str, term_header: str,
                   source: str = "google_ads") -> str:
    """The format label: a Google Ads (or Microsoft Advertising, `source`) download is named
    by its title or, when the title does not say, by its term column ("Suchbegriff", "Mot
    clé"), in any UI language."""
    if title is None:
        return "tsv" if delimiter == "\t" else "csv"
    if _PLANNER_TITLE.match(title):  # ideas, not an account's: no campaign, no metrics
        return "keyword_planner"
    term = normalise_name(term_header)
    if _SEARCH_TERMS_TITLE.search(title) or term in SEARCH_TERM_NAMES:
        return f"{source}_search_terms_report"
    if _KEYWORD_TITLE.search(title) or term in KEYWORD_NAMES:
        return f"{source}_keyword_report"
    return f"{source}_report"


def _report_date(line: str | None) -> pd.Timestamp | None:
    """The report's day when the range line names a single day (`"May 1, 2024"`,
    `"May 1, 2024 - May 1, 2024"`, `"1. Mai 2024 - 1. Mai 2024"`, `"2024年5月1日"`);
    ranges and "All time" (in any UI language) give no date: their figures are sums
    over many days, which no one day stands for."""
    if not line:
        return None
    days = set()
    for end in _RANGE_DASH.split(line.strip()):
        day = _english_day(end.strip()) or _translated_day(end.strip())
        if day is None:
            return None
        days.add(day)
    return pd.Timestamp(days.pop()) if len(days) == 1 else None


def _english_day(text: str) -> date | None:
    for pattern in ("%B %d, %Y", "%b %d, %Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    return None


def _translated_day(text: str) -> date | None:
    """A day of a translated range line (`_DAY_MONTH_YEAR`, `_JAPANESE_DAY`), or None."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    if found := _JAPANESE_DAY.match(folded):
        year, month, day = (int(part) for part in found.groups())
    elif found := _DAY_MONTH_YEAR.match(folded):
        day, year = int(found[1]), int(found[3])
        month = _month_number(found[2])
    else:
        return None
    try:
        return date(year, month, day) if month else None
    except ValueError:  # "31. Februar 2024"
        return None


def _month_number(word: str) -> int | None:
    """1-12 for a month name or an abbreviation only one month's names start with."""
    if len(word) < 3:
        return None
    months = {number for number, names in enumerate(_MONTH_NAMES, start=1)
              if any(name.startswith(word) for name in names)}
    return months.pop() if len(months) == 1 else None


class NoTermTable(InputError):
    """A text that holds no table of terms: no header row, or no column a term is read from.
    Carries the `text` as read (decoded, or a workbook's sheet) and the `warnings` of
    reading it, for a caller that reads such a text otherwise: a list of keywords, one per
    line (`core.serve.keyword_files`)."""

    def __init__(self, message: str, *, text: str, warnings: list[str], file: str,
                 line: int | None = None) -> None:
        super().__init__(message, file=file, line=line)
        self.text, self.warnings = text, warnings


class NoKeywordRows(InputError):
    """An account export with settings rows only: a workbook's reader goes on to its next
    worksheet (an Amazon Ads bulk file whose Sponsored Products campaigns are all
    automatic has its keywords on the Sponsored Brands worksheet)."""


def _read_delimited(text: str, name: str, *, notes: Sequence[str] = (),
                    typed: bool = False) -> _RawTable:
    """One delimited file's cells; `notes` (of decoding it) lead its warnings. `typed`: the
    text of a workbook's sheet (`core.data.workbooks`), whose numbers are typed cells
    written with a decimal point, so its number style is not guessed from its headers'
    language."""
    start = text[:65_536]
    head = [line.rstrip("\r\n") for line in _physical_lines(start)[:_HEAD_LINES]]
    blank_lead = next((i for i, line in enumerate(head) if line.strip()), len(head))
    hint = _SEP_LINE.match(head[blank_lead]) if blank_lead < len(head) else None
    blank_lead += hint is not None
    microsoft = _microsoft_preamble(head[blank_lead:])
    if microsoft:
        (skip, title), range_line = microsoft, None
    else:
        skip, title, range_line = _preamble(head[blank_lead:])
    skip += blank_lead
    if skip >= len(head) or not head[skip].strip():
        raise NoTermTable("the file has no header row (it is empty or blank)", text=text,
                          warnings=list(notes), file=name)
    delimiter = hint.group(1) if hint else _sniff_delimiter(*_header_and_sample(start, skip))

    reader = _csv_rows(text, skip, delimiter)
    try:
        written = next(reader)
    except csv.Error as err:
        raise InputError(f"the header row cannot be parsed ({err})", file=name,
                         line=skip + 1) from None
    header = [cell.strip() for cell in written]
    header_end = skip + reader.line_num  # the header's last line (1-based)

    matched = _match_columns(header, name, skip + 1)
    if "term" not in matched:
        said = (f" (split by {_DELIMITER_NAMES[delimiter]}, as the line {hint.group(0).strip()!r} "
                "before it says: correct or remove that line if the file uses another "
                "delimiter)" if hint else "")
        raise NoTermTable(
            f"no term column. Columns found: {', '.join(repr(h) for h in header)}{said}. "
            f"Accepted names for the term column: {accepted_names('term')}"
            f"{_negative_list_note(header)}", text=text, warnings=list(notes), file=name,
            line=skip + 1)
    layout = _Layout(name=name, skip=skip, delimiter=delimiter, width=len(header),
                     term_index=matched["term"], report=title is not None, header_end=header_end,
                     footer=microsoft is not None)
    parsed = _rows_at_once(reader, layout)
    if isinstance(parsed, _Prefix):  # something unusual: the rest row by row, to say where
        reader = _csv_rows(text, layout.header_end + parsed.rows, delimiter)
        parsed = _rows_one_by_one(reader, layout, parsed)
    columns, lines, totals = parsed
    columns, lines, repeats = _without_repeated_header(columns, lines, written, layout)
    export = _account_export(header, matched)
    columns, lines, settings = (_keyword_rows(columns, lines, layout, export) if export
                                else (columns, lines, []))
    if not len(lines) and export:
        raise NoKeywordRows("the file has no keyword rows, only campaign, ad group and other "
                            "settings", file=name, line=skip + 1)
    if not len(lines):
        what = "only totals rows" if totals else "a header but no data rows"
        raise InputError(f"the file has {what}", file=name, line=skip + 1)
    if export and export[0] == "amazon_ads_bulk" and "conversions" not in matched:
        # its keywords' orders (a file of one's own may hold orders beside conversions)
        orders = [i for i, cell in enumerate(header) if normalise_name(cell) == "orders"]
        matched.update({"conversions": orders[0]} if orders else {})

    def cells_of(index: int) -> pd.Series:  # "str", still in Arrow
        return columns[index].to_pandas()

    decimal_comma, style_warnings = ((False, []) if typed else
                                     _number_style(header, matched, cells_of, lines, name))
    _check_rivals(header, matched, cells_of, lines, name, decimal_comma)
    values = {column: cells_of(index) for column, index in matched.items()}
    table = pa.table(columns, names=[str(i) for i in range(layout.width)])
    file_format = export[0] if export else _report_format(
        title, delimiter, header[layout.term_index], "microsoft_ads" if microsoft else "google_ads")
    return _RawTable(
        values=values, headers={c: header[i] for c, i in matched.items()},
        lines=lines, format=file_format, term_header=header[layout.term_index],
        cells=lambda at: _parquet_rows(table, at), table=table,
        report_date=_report_date(range_line),
        warnings=[*notes, *_term_column_note(header, matched, name), *repeats, *settings,
                  *style_warnings],
        decimal_comma=decimal_comma)


def _physical_lines(text: str) -> list[str]:
    """The lines of `text` with their ends, split where the CSV reader splits them (at line
    feeds and carriage returns only): `str.splitlines` also splits at U+2028, U+000B,
    U+001C …, so a title "Search keyword report<U+2028>" was two lines and the header was
    looked for one line too early ("the file has no header row")."""
    return io.StringIO(text, newline="").readlines()


def _header_and_sample(start: str, skip: int) -> tuple[str, list[str]]:
    """The header record of the file's start (its lines joined while a quote is open: a
    header cell "Key<line break>word" was sniffed as the text up to the break, so no
    delimiter, and the header was "cannot be parsed"), then up to `_SNIFF_ROWS` lines
    after it, without the last one when the start cut it (a half row would look ragged)."""
    lines = _physical_lines(start)[skip:]
    end = 1
    while end < len(lines) and "".join(lines[:end]).count('"') % 2:
        end += 1
    header, rest = "".join(lines[:end]).rstrip("\r\n"), lines[end:]
    if rest and not rest[-1].endswith(("\n", "\r")):
        rest.pop()
    return header, _whole_records(rest[:_SNIFF_ROWS])


def _whole_records(lines: list[str]) -> list[str]:
    """The lines without those of a last record whose quote they leave open (a quoted
    field of 40 lines cut at 20 was a ragged row, so the right delimiter did not fit)."""
    kept, quotes = 0, 0
    for index, line in enumerate(lines, start=1):
        quotes += line.count('"')
        if quotes % 2 == 0:
            kept = index
    return [line.rstrip("\r\n") for line in lines[:kept]]


def _match_columns(header: list[str], name: str, line: int | None = None) -> dict[str, int]:
    """`match_columns`, its refusal of a repeated column name placed in the file."""
    try:
        return match_columns(header)
    except InputError as err:
        raise InputError(str(err), file=name, line=line) from None


def _term_column_note(header: list[str], matched: dict[str, int], name: str) -> list[str]:
    """A warning naming the term column read when others also name it (`Keyword,Keywords`
    read the first with no word of it, so the user could not tell which one was used)."""
    unread = unread_term_columns(header, matched)
    if not unread:
        return []
    kept = matched["term"]
    others = ", ".join(f"{i + 1} {header[i]!r}" for i in unread)
    n = len(unread)
    return [f"{name}: terms are read from column {kept + 1} {header[kept]!r}, the first "
            f"accepted name of the term column; {plural(n, 'column')} {others} "
            f"also {plural(n, 'names', 'name')} it and {plural(n, 'is', 'are')} not imported: "
            "rename or remove the one whose terms you do not want"]


def _check_rivals(header: list[str], matched: dict[str, int],
                  cells_of: Callable[[int], Sequence], lines: Sequence[int], name: str,
                  decimal_comma: bool = False) -> None:
    """Refuse two columns that name one metric ("Impr.", "Impressions") when their
    figures differ, naming both and the first line where they do: reading one would drop
    the other unseen. Figures are compared as numbers ("1,234" and 1234 agree, two blanks
    agree); cells that are no number are compared as text (`rival_columns`)."""
    for column, kept, rival in rival_columns(header, matched):
        (ours, a, a_bad, _), (theirs, b, b_bad, _) = (
            _parsed_numbers(pd.Series(cells_of(i)), decimal_comma) for i in (kept, rival))
        same = (a == b) | (a.isna() & b.isna() & ~a_bad & ~b_bad)
        odd = a_bad | b_bad  # not numbers: the same text, or the import refuses it later
        same |= odd & (ours == theirs)
        if same.all():
            continue
        at = int(np.flatnonzero(~same.to_numpy())[0])
        what = column.replace("_", " ")
        raise InputError(
            f"columns {kept + 1} {header[kept]!r} and {rival + 1} {header[rival]!r} both "
            f"hold the {what} but differ here ({_shown(ours.iloc[at])} and "
            f"{_shown(theirs.iloc[at])}), so which one holds the {what} is unclear; remove "
            "or rename the other one", file=name, line=int(lines[at]))


@dataclass(frozen=True)
class _Layout:
    """Where the table sits in a delimited text file."""

    name: str
    skip: int  # preamble lines before the header
    delimiter: str
    width: int  # fields in the header
    term_index: int
    report: bool  # an ad platform's download (title line present)
    header_end: int  # the header's last line
    footer: bool = False  # a Microsoft Advertising report: a copyright line after the rows


def _csv_rows(text: str, skip: int, delimiter: str):
    lines = _text_lines(text)
    for _ in range(skip):
        next(lines, None)
    return csv.reader(lines, delimiter=delimiter, strict=True)


def _text_lines(text: str) -> Iterator[str]:
    """The lines of `text` as `io.StringIO(text, newline="")` gives them, read from pieces
    of about `_TEXT_PIECE` characters cut after a line feed: a StringIO of the whole text
    held four bytes per character beside it (533 MB for a 133 MB CSV)."""
    start = 0
    while start < len(text):
        end = text.find("\n", start + _TEXT_PIECE)
        end = len(text) if end < 0 else end + 1
        yield from io.StringIO(text[start:end], newline="")
        start = end


def _without_repeated_header(columns: list[pa.ChunkedArray], lines: np.ndarray,
                             header: list[str], layout: _Layout
                             ) -> tuple[list[pa.ChunkedArray], np.ndarray, list[str]]:
    """The columns without the rows that repeat the header cell for cell (two exports
    joined with `cat`: "Keyword,Campaign ID" was imported as the term "Keyword" of a
    campaign "Campaign ID", or refused as "'Clicks' is not a number"), and a warning naming
    them. Compared in Arrow, the term column first: a Python pass over every row cost
    0.3 s per 2M rows (bench/read_csv.py)."""
    term_index = layout.term_index
    if not len(lines) or not pc.any(pc.equal(columns[term_index], header[term_index])).as_py():
        return columns, lines, []
    same = functools.reduce(pc.and_, (pc.equal(column, cell)
                                      for column, cell in zip(columns, header, strict=True)))
    repeated = np.flatnonzero(same.to_numpy(zero_copy_only=False))
    if not repeated.size:
        return columns, lines, []
    at = lines[repeated].tolist()
    listed = ", ".join(str(n) for n in at[:_MAX_LISTED_LINES])
    more = ", ..." if len(at) > _MAX_LISTED_LINES else ""
    columns, lines = _without_rows(columns, lines, repeated)
    return (columns, lines,
            [f"{layout.name}: {counted(len(at), 'row')} repeating the header (line "
             f"{layout.skip + 1}) dropped ({plural(len(at), 'line')} {listed}{more}): files "
             "joined into one?"])


# A whole account's export lists its campaigns, ad groups, ads, locations … each on a row
# of its own beside the keyword rows, and every such row refused the file as "the term is
# empty". Google Ads Editor's (CSV) has the column no report has, "Criterion Type" (the
# keywords' match type); Microsoft Advertising's bulk file (its Editor's export, the Bulk
# API's download) names each row's kind in its first column, "Type" ("Format Version",
# "Campaign", "Keyword", "Campaign Negative Keyword" …), beside "Parent Id"
# (learn.microsoft.com, Bulk File Schema): a file of one's own with a Type column is not one.
# Amazon Ads' bulk file (Sponsored Products' bulksheet) names each row's kind in its
# "Entity" column ("Campaign", "Ad Group", "Product Ad", "Keyword", "Negative Keyword",
# "Product Targeting" …) beside "Operation", its keywords under "Keyword Text".
_EXPORT_NOTE = {
    "google_ads_editor": "a Google Ads Editor export lists campaigns, ad groups, ads and "
                         "other settings on rows of their own",
    "microsoft_ads_bulk": "a Microsoft Advertising bulk file lists campaigns, ad groups, "
                          "ads and other settings on rows of their own",
    "amazon_ads_bulk": "an Amazon Ads bulk file lists campaigns, ad groups, product ads, "
                       "product targets and other settings on rows of their own",
}


def _account_export(header: list[str], matched: dict[str, int]) -> tuple[str, int] | None:
    """The kind of account export (`_EXPORT_NOTE`) and its column that names each row's
    kind (Google Ads Editor's: its keyword column, empty on settings rows), or None."""
    if ("match_type" in matched
            and normalise_name(header[matched["match_type"]]) == normalise_name("criterion type")):
        return "google_ads_editor", matched["term"]
    names = [normalise_name(cell) for cell in header]
    term = names[matched["term"]]
    if names[0] == "type" and "parentid" in names and term == "keyword":
        return "microsoft_ads_bulk", 0
    if "entity" in names and "operation" in names and term == "keywordtext":
        return "amazon_ads_bulk", names.index("entity")
    return None


def _keyword_rows(columns: list[pa.ChunkedArray], lines: np.ndarray, layout: _Layout,
                  export: tuple[str, int]) -> tuple[list[pa.ChunkedArray], np.ndarray, list[str]]:
    """An account export's keyword rows, and warnings counting the rows skipped: in a
    Google Ads Editor export those without a keyword (its negatives are dropped later, by
    their criterion type), in a bulk file those of another type, its negative keywords
    counted apart. Elsewhere a row without a term is still refused."""
    kind, at = export
    if kind == "google_ads_editor":
        terms = pc.utf8_trim_whitespace(columns[at])
        other = pc.equal(terms, "").fill_null(True).to_numpy(zero_copy_only=False)
        negative = np.zeros_like(other)
    else:
        kinds = pc.utf8_lower(pc.utf8_trim_whitespace(columns[at])).fill_null("")
        other = pc.not_equal(kinds, "keyword").to_numpy(zero_copy_only=False)
        negative = pc.match_substring(kinds, "negative keyword").to_numpy(zero_copy_only=False)
    drop = np.flatnonzero(other)
    if not drop.size:
        return columns, lines, []
    notes = []
    if negative.any():
        types = pc.unique(columns[at].filter(pa.array(negative))).to_pylist()
        n = int(negative.sum())
        notes.append(f"{layout.name}: {counted(n, 'negative keyword')} (type "
                     f"{', '.join(repr(t) for t in types[:3])}) dropped: they say what a "
                     "campaign excludes, not what it targets")
    if (n := int(drop.size - negative.sum())):
        notes.insert(0, f"{layout.name}: {counted(n, 'row')} without a keyword skipped: "
                        f"{_EXPORT_NOTE[kind]}")
    columns, lines = _without_rows(columns, lines, drop)
    return columns, lines, notes


def _without_rows(columns: list[pa.ChunkedArray], lines: np.ndarray, positions: np.ndarray
                  ) -> tuple[list[pa.ChunkedArray], np.ndarray]:
    """The columns and lines without the rows at `positions`."""
    keep = np.ones(len(lines), dtype=bool)
    keep[positions] = False
    mask = pa.array(keep)
    return [column.filter(mask) for column in columns], lines[keep]


def _is_total(row: list[str], layout: _Layout) -> bool:
    """Totals rows: an empty term beside a "Total: ..." cell; in a Google Ads download
    the "Total: ..." label may also sit in the term column itself, and beside an empty
    term a bare "Total" (Microsoft Advertising) labels one too."""
    term = row[layout.term_index]
    blank = not term.strip()
    if not blank and not (layout.report and _TOTAL_LABEL.match(term)):
        return False
    bare = layout.report and blank
    return any(_TOTAL_LABEL.match(cell) or (bare and _TOTAL_WORD_ONLY.match(cell))
               for cell in row)


class _Prefix(NamedTuple):
    """The rows `_rows_at_once` took (as Arrow arrays, one list a column) before a chunk it
    could not: `rows` rows of one line each, right after the header."""

    parts: list[list[pa.Array]]
    rows: int


def _rows_at_once(reader, layout: _Layout
                  ) -> tuple[list[pa.ChunkedArray], np.ndarray, int] | _Prefix:
    """All rows in one C-speed pass when the file is regular (one line per row, every row
    as wide as the header), as Arrow text columns, totals rows dropped; else the regular
    chunks before the first irregular one (`_Prefix`), for `_rows_one_by_one` to go on
    from.

    Rows are parsed `_CHUNK_ROWS` at a time and each chunk's cells moved to Arrow at once:
    one Python string per cell of the whole file held 3.0 GB at 2M rows (133 MB), and the
    width and totals checks were Python passes over every row (bench/import_big.py). A
    chunk is checked as it is parsed: a quoted line break was only noticed at the end,
    and the whole file parsed again row by row."""
    width = layout.width
    parts: list[list[pa.Array]] = [[] for _ in range(width)]
    rows, lines_read = 0, reader.line_num
    try:
        with _no_cycle_collection():
            for chunk in _csv_chunks(reader):
                try:
                    cells = list(zip(*chunk, strict=True))
                except ValueError:
                    return _Prefix(parts, rows)  # blank, short or long rows
                if len(cells) != width or reader.line_num - lines_read != len(chunk):
                    return _Prefix(parts, rows)  # or a quoted field spans lines
                lines_read = reader.line_num
                for part, column in zip(parts, cells, strict=True):
                    part.append(_cells_array(column))
                rows += len(chunk)
    except csv.Error:
        return _Prefix(parts, rows)
    columns = [pa.chunked_array(part, pa.large_string()) for part in parts]
    lines = np.arange(layout.header_end + 1, layout.header_end + 1 + rows, dtype="int64")
    return _without_totals(columns, lines, layout)


def _without_totals(columns: list[pa.ChunkedArray], lines: np.ndarray, layout: _Layout
                    ) -> tuple[list[pa.ChunkedArray], np.ndarray, int]:
    """The columns and lines without their totals rows (`_total_rows`), and how many."""
    totals = _total_rows(columns, layout)
    if totals.size:
        columns, lines = _without_rows(columns, lines, totals)
    return columns, lines, int(totals.size)


def _csv_chunks(reader) -> Iterator[list[list[str]]]:
    """The reader's rows, `_CHUNK_ROWS` at a time."""
    while chunk := list(itertools.islice(reader, _CHUNK_ROWS)):
        yield chunk


@contextlib.contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """No cyclic garbage collection while a CSV is parsed: its rows are lists of strings,
    which form no cycles, yet each million of them started collections that went over
    every object alive (3.6 of 5.1 CPU seconds of parsing 500k rows)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _total_rows(columns: list[pa.ChunkedArray], layout: _Layout) -> np.ndarray:
    """Positions of the totals rows (`_is_total`): Arrow finds the few rows that may be one
    (a blank term; in a Google Ads download also a term naming a total), `_is_total`
    judges them."""
    terms = columns[layout.term_index]
    suspect = pc.match_substring_regex(terms, _BLANK_CELL)
    if layout.report:
        suspect = pc.or_(suspect, pc.match_substring_regex(terms, _TOTAL_WORD))
    at = np.flatnonzero(suspect.to_numpy(zero_copy_only=False))
    return np.array([i for i in at
                     if _is_total([column[int(i)].as_py() for column in columns], layout)],
                    dtype="int64")


def _cells_array(cells: Sequence[str]) -> pa.Array:
    """Parsed cells as an Arrow text array in the system allocator's memory: in Arrow's
    default pool (mimalloc) the 9 columns of a 2M-row, 133 MB file (253 MB of cells)
    kept ~50-100 MB more resident through the whole cleaning (bench/import_big.py)."""
    return pa.array(cells, pa.large_string(), memory_pool=pa.system_memory_pool())


def _to_arrow(rows: list[list[str]], parts: list[list[pa.Array]]) -> None:
    """Move `rows` to Arrow, one array a column appended to `parts`, and empty it."""
    if rows:
        for part, cells in zip(parts, zip(*rows, strict=True), strict=True):
            part.append(_cells_array(cells))
        rows.clear()


def _rows_one_by_one(reader, layout: _Layout, prefix: _Prefix
                     ) -> tuple[list[pa.ChunkedArray], np.ndarray, int]:
    """Rows (as Arrow text columns) with the line each starts on, after the `prefix`'s
    (`reader` starts at the line after them); blank lines skipped; the first malformed or
    ragged row refused with its line. Rows go to Arrow `_CHUNK_ROWS` at a time, as
    `_rows_at_once`'s do, with cyclic GC paused: a Python list of strings per row of the
    whole file was held at once (a 133 MB file with one blank line peaked at 2.1 GB, now
    1.0 GB, and its read took 24.4 CPU s, now 13.7)."""
    name, width = layout.name, layout.width
    skip = layout.header_end + prefix.rows  # physical lines before the reader's first
    columns = [pa.chunked_array(part, pa.large_string()) for part in prefix.parts]
    first = np.arange(layout.header_end + 1, skip + 1, dtype="int64")
    columns, first, totals = _without_totals(columns, first, layout)
    parts: list[list[pa.Array]] = [list(column.chunks) for column in columns]
    rows: list[list[str]] = []
    lines = array.array("q", first.tobytes())
    end_line = reader.line_num  # physical lines the reader has consumed
    try:
        with _no_cycle_collection():
            for row in reader:
                start, end_line = skip + end_line + 1, reader.line_num
                if len(row) != width:
                    if not any(cell.strip() for cell in row):
                        continue  # blank line
                    if len(row) > width and not any(cell.strip() for cell in row[width:]):
                        row = row[:width]  # trailing empty cells from a trailing delimiter
                    elif layout.footer and len(row) == 1 and _MS_FOOTER.match(row[0]):
                        continue  # "©2026 Microsoft Corporation. All rights reserved."
                    else:
                        raise _ragged_row(row, width, start, skip + end_line, layout)
                if _is_total(row, layout):
                    totals += 1
                    continue
                rows.append(row)
                lines.append(start)
                if len(rows) == _CHUNK_ROWS:
                    _to_arrow(rows, parts)
    except csv.Error as err:
        start = skip + end_line + 1
        if "unexpected end of data" in str(err):
            raise InputError(
                "unterminated quoted field: a quote opened in this row is never closed",
                file=name, line=start) from None
        if "field limit" in str(err):  # the reader is far past the row by now
            limit = f"{csv.field_size_limit() // 1024} KB"
            raise InputError(
                f"a field of the row starting here runs past {limit}: an unterminated quote, "
                f"or a field over {limit}; close the quote, or shorten the field",
                file=name, line=start) from None
        raise InputError(
            f"malformed quoting ({err}): quote the whole field and double any quote inside it",
            file=name, line=skip + reader.line_num) from None
    _to_arrow(rows, parts)
    return ([pa.chunked_array(part, pa.large_string()) for part in parts],
            np.asarray(lines, dtype="int64"), totals)


def _ragged_row(row: list[str], width: int, start: int, end: int, layout: _Layout
                ) -> InputError:
    name, header_line, delimiter = layout.name, layout.skip + 1, layout.delimiter
    if end > start:
        return InputError(
            f"the row starting here runs to line {end} and has {len(row)} fields where the "
            f"header (line {header_line}) has {width}: probably an unterminated quote",
            file=name, line=start)
    kind = _DELIMITER_NAMES.get(delimiter, "delimiter")
    return InputError(
        f"row has {len(row)} fields but the header (line {header_line}) has {width}; "
        f"check for a missing or stray {kind} or quote", file=name, line=start)


# --------------------------------------------------------------------------- parquet


def _read_parquet(data: bytes, name: str) -> _RawTable:
    try:  # ParquetFile, not read_table: Arrow's dataset reader fails on a repeated column
        # name with its internals; `_match_columns` refuses it naming both columns
        table = pq.ParquetFile(pa.BufferReader(data)).read()
    except (pa.ArrowException, OSError, ValueError) as err:
        raise InputError(f"is not a readable Parquet file ({err})", file=name) from None
    header = [str(column) for column in table.column_names]
    matched = _match_columns(header, name)
    if "term" not in matched:
        raise InputError(
            f"no term column. Columns found: {', '.join(repr(h) for h in header)}. "
            f"Accepted names for the term column: {accepted_names('term')}"
            f"{_negative_list_note(header)}", file=name)
    if table.num_rows == 0:
        raise InputError("the file has columns but no data rows", file=name)
    def text_cells(index: int) -> list:  # typed numbers have no style to tell
        cells = table.column(index)
        return (cells.to_pylist() if pa.types.is_string(cells.type)
                or pa.types.is_large_string(cells.type) else [])

    lines = np.arange(1, table.num_rows + 1)
    decimal_comma, style_warnings = _number_style(header, matched, text_cells, lines, name)
    _check_rivals(header, matched, lambda index: table.column(index).to_pylist(), lines,
                  name, decimal_comma)
    values = {}
    for column, index in matched.items():
        cells = table.column(index)
        kind = cells.type
        if column in METRIC_COLUMNS and pa.types.is_temporal(kind):
            # as text a duration is its count of units: 5 s would be 5,000,000 clicks
            raise InputError(f"holds {kind} values, not numbers: export it as a number "
                             "column", file=name, column=header[index])
        if pa.types.is_nested(kind):
            # printed, a list of keywords was one term "'a', 'b'" (its brackets read as an
            # exact-match decoration), a struct a campaign id "{'a': 1}"
            raise InputError(f"holds {kind} values, not one value per cell: export it as a "
                             "plain text or number column", file=name, column=header[index])
        if column == "campaign_id" and pa.types.is_boolean(kind):
            # as text every campaign was "true" or "false": two campaigns of all the rows
            raise InputError("holds true/false values, not campaign ids: export the ids "
                             "as a text or number column", file=name, column=header[index])
        if column == "campaign_id" and pa.types.is_temporal(kind):
            # as text a timestamp id 1 was "1970-01-01 00:00:01.000", a day of the week
            raise InputError(f"holds {kind} values (dates or times), not campaign ids: export "
                             "the ids as a text or number column", file=name,
                             column=header[index])
        if column == "campaign_id" and pa.types.is_floating(kind):
            _check_finite_ids(cells, name, header[index])
            _check_exact_float_ids(cells, name, header[index])
            cells = float_id_texts(cells)
        if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
            cells = _utf8_cells(cells, name, header[index])
        typed = ((column in METRIC_COLUMNS and (pa.types.is_integer(kind)
                                                or pa.types.is_floating(kind)))
                 or (column == "date" and (pa.types.is_date(kind)
                                           or pa.types.is_timestamp(kind))))
        if typed:
            if pa.types.is_floating(kind):
                nan = np.flatnonzero(pc.is_nan(cells).fill_null(False).to_numpy(
                    zero_copy_only=False))
                if nan.size:
                    raise InputError("NaN is not a number; leave the cell empty (null) when "
                                     "there is no value", file=name, line=int(nan[0]) + 1,
                                     column=header[index])
            if column == "date":
                _check_parquet_days(cells, name, header[index])
            if pa.types.is_date(kind):
                cells = cells.cast(pa.timestamp("us"))
            values[column] = cells.to_pandas().reset_index(drop=True)
            continue
        try:  # arrow prints ints as "17", not pandas' "17.0" for a column with nulls
            text = cells.cast(pa.large_string())
        except (pa.ArrowException, NotImplementedError):
            text = pa.array([None if v is None else str(v) for v in cells.to_pylist()],
                            pa.large_string())
        _check_cell_sizes(text, name, header[index])
        values[column] = text.to_pandas().reset_index(drop=True)  # "str", still in Arrow
    return _RawTable(
        values=values, headers={c: header[i] for c, i in matched.items()},
        lines=np.arange(1, table.num_rows + 1, dtype="int64"), format="parquet",
        term_header=header[matched["term"]], cells=lambda at: _parquet_rows(table, at),
        table=table,
        warnings=_term_column_note(header, matched, name) + style_warnings,
        decimal_comma=decimal_comma)


def _check_parquet_days(cells: pa.ChunkedArray, name: str, header: str) -> None:
    """Refuse a Parquet date or timestamp outside the years 1 to 9999, naming its line: a
    CSV date outside them is refused (`_date_column`), these were stored (year -768 or
    7445, an integer column cast to dates), and days past year 294,247 were an Arrow
    "out of bounds" traceback. Compared as the integers Arrow keeps, in the column's unit."""
    unit = "D" if pa.types.is_date32(cells.type) else (
        "ms" if pa.types.is_date64(cells.type) else cells.type.unit)
    counts = cells.cast(pa.int32() if unit == "D" else pa.int64())
    per_day = int(np.timedelta64(1, "D") // np.timedelta64(1, unit))
    epoch = np.datetime64("1970-01-01", "D")
    bounds = [int((np.datetime64(day, "D") - epoch).astype(int)) * per_day
              for day in (FIRST_DAY, LAST_DAY)]
    low, high = max(bounds[0], -2**63), min(bounds[1] + per_day - 1, 2**63 - 1)
    out = pc.or_(pc.less(counts, low), pc.greater(counts, high)).fill_null(False)
    bad = np.flatnonzero(out.to_numpy(zero_copy_only=False))
    if bad.size:
        count = counts[int(bad[0])].as_py()
        day = np.datetime64(count // per_day, "D")  # numpy's days reach any year
        raise InputError(f"{day} is not a date from {FIRST_DAY} to {LAST_DAY}", file=name,
                         line=int(bad[0]) + 1, column=header)


def _check_cell_sizes(text: pa.ChunkedArray | pa.Array, name: str, header: str) -> None:
    """Refuse a text cell longer than a CSV field may be (`csv.field_size_limit`, 128 K
    characters), naming its line: a Parquet file took a 5 MB campaign id or a 10 MB term
    that the same rows as CSV are refused for, and every picker and answer carried it."""
    limit = csv.field_size_limit()
    lengths = pc.utf8_length(text)
    if (pc.max(lengths).as_py() or 0) <= limit:
        return
    at = int(np.flatnonzero(pc.fill_null(pc.greater(lengths, limit), False).to_numpy(
        zero_copy_only=False))[0])
    raise InputError(f"a cell of {lengths[at].as_py():,} characters is longer than the "
                     f"{limit // 1024} KB a field may hold; shorten it", file=name,
                     line=at + 1, column=header)


def _check_finite_ids(cells: pa.ChunkedArray, name: str, header: str) -> None:
    """Refuse a NaN or infinite campaign id of a float column, naming its line: as text they
    were the campaigns "nan" and "inf", every row without an id merged into one campaign
    (a missing id, null, is refused as "the campaign is empty")."""
    odd = pc.invert(pc.is_finite(cells.cast(pa.float64()))).fill_null(False)
    at = np.flatnonzero(odd.to_numpy())
    if at.size:
        value = cells[int(at[0])].as_py()
        raise InputError(f"{value} is not a campaign id: give every row its campaign's id",
                         file=name, line=int(at[0]) + 1, column=header)


def _check_exact_float_ids(cells: pa.ChunkedArray, name: str, header: str) -> None:
    """Refuse a float campaign id of 2**53 or more, naming its line: a float keeps about 16
    digits, so such ids lost their last ones and different campaigns became one id
    (1.2345678901234568e+17 for every id of those first digits)."""
    floats = cells.cast(pa.float64())
    big = pc.greater_equal(pc.abs(floats), _EXACT_FLOAT_IDS).fill_null(False)
    at = np.flatnonzero(big.to_numpy(zero_copy_only=False))
    if at.size:
        value = floats[int(at[0])].as_py()
        raise InputError(f"the campaign id {value!r} is a float too large to hold every digit "
                         "(2**53 or more): its last digits are lost, so campaigns would "
                         "merge; store the ids as integers or text", file=name,
                         line=int(at[0]) + 1, column=header)


def float_id_texts(cells: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Float campaign ids as text, whole ones as integers: 12345678901.0 is "12345678901",
    as a CSV gives it, not Arrow's "1.2345678901e+10" (a second campaign beside the CSV's,
    and a text that looks as if Excel shortened it). Other values as Arrow writes them;
    nulls stay null. Also `CampaignModel.fit`'s, so a frame of float ids fits the store's."""
    floats = cells.cast(pa.float64())
    whole = pc.and_(pc.equal(floats, pc.floor(floats)),
                    pc.less(pc.abs(floats), _EXACT_FLOAT_IDS))
    integers = pc.if_else(whole, floats, 0.0).cast(pa.int64()).cast(pa.large_string())
    return pc.if_else(whole, integers, floats.cast(pa.large_string()))


def _utf8_cells(cells: pa.ChunkedArray, name: str, header: str) -> pa.ChunkedArray:
    """A binary column (strings written without Parquet's UTF-8 annotation, as older Hive
    and Spark do) as text, or an InputError naming the first cell that is not UTF-8: one
    such cell made every cell of the column its Python repr, `b'C1'`."""
    try:
        return cells.cast(pa.large_string())
    except pa.ArrowInvalid:
        for line, value in enumerate(cells.to_pylist(), start=1):
            try:
                value is None or value.decode("utf-8")
            except UnicodeDecodeError:
                raise InputError(f"{value[:40]!r} is not UTF-8 text", file=name, line=line,
                                 column=header) from None
        raise


def _parquet_rows(table: pa.Table, at: np.ndarray) -> list[tuple]:
    """Every column's values of the rows at `at`, column by column (names may repeat)."""
    taken = table.take(pa.array(at))
    return list(zip(*(column.to_pylist() for column in taken.columns), strict=True))


# --------------------------------------------------------------------------- cleaning


def _canonical_frame(raw: _RawTable, name: str) -> tuple[pd.DataFrame, list[str]]:
    """Validate and convert one file's cells into `TERM_COLUMNS`; the warnings it raised."""
    warnings: list[str] = []
    lines = raw.lines
    rows = len(lines)

    def fail(message: str, position: int, column: str) -> InputError:
        return InputError(message, file=name, line=int(lines[position]),
                          column=raw.headers.get(column))

    if "campaign_id" in raw.values:
        _check_visible_ids(raw.values["campaign_id"], fail)
    repeated = _input_duplicates(raw)  # before the cleaned columns exist beside the cells
    for column in _CLEANED_COLUMNS:
        if column in raw.values:
            raw.values[column] = _visible_cells(raw.values[column], name,
                                                raw.headers[column], warnings)

    terms, decorated = _per_distinct(raw.values["term"], strip_match_decoration, ("", None),
                                     _PLAIN_TERM)
    empty = np.flatnonzero((terms == "").to_numpy())
    if empty.size:
        raise fail(_empty_cells("term", empty.size), int(empty[0]), "term")

    stem = Path(name).stem
    if "campaign_id" in raw.values:
        campaign_ids = _stripped(raw.values["campaign_id"])
        missing = np.flatnonzero(campaign_ids.isna().to_numpy())
        if missing.size:
            raise fail(_empty_cells("campaign", missing.size), int(missing[0]), "campaign_id")
        _check_unshortened_ids(campaign_ids, fail)
        campaign_names = (_stripped(raw.values["campaign_name"]) if "campaign_name" in raw.values
                          else pd.Series([None] * rows, dtype="str"))
    else:
        campaign_ids = pd.Series([stem] * rows, dtype="str")
        campaign_names = campaign_ids
        if not raw.format.startswith("google_ads"):  # those exports never have one
            warnings.append(f"{name}: no campaign column, so the whole file is one "
                            f"campaign named {stem!r}")

    match_types, negative, negative_types = _match_types(raw, decorated, name, warnings)
    term_types = _term_types(raw, name, warnings)

    columns: dict[str, pd.Series] = {
        "campaign_id": campaign_ids,
        "campaign_name": campaign_names,
        "term": terms,
        "term_type": term_types,
        "match_type": pd.Series(match_types, dtype="str"),
    }
    for column in _TEXT_COLUMNS:
        columns[column] = (_stripped(raw.values[column]) if column in raw.values
                           else pd.Series([None] * rows, dtype="str"))
    for column in METRIC_COLUMNS:
        whole = column in ("impressions", "clicks")
        if column in raw.values:
            columns[column] = _number_column(raw.values[column], whole, fail, column,
                                             raw.decimal_comma, raw.values.get("currency"),
                                             lines)
        else:
            columns[column] = pd.Series([None] * rows, dtype="Int64" if whole else "float64")
    columns["date"] = _date_column(raw, fail, warnings, name)
    columns["source_file"] = pd.Series([name] * rows, dtype="str")
    columns["source_line"] = pd.Series(lines, dtype="int64")
    # copy=False: a copy of every number, day and line column (each consolidated into one
    # block per type) was made beside them, 50 MB of the peak of a 2M-row file
    frame = pd.DataFrame({column: columns[column].reset_index(drop=True)
                          for column in TERM_COLUMNS}, copy=False)

    duplicated = _duplicates(frame, raw) if repeated is None else repeated
    if duplicated.any():
        dropped = frame.loc[duplicated, "source_line"].tolist()
        listed = ", ".join(str(n) for n in dropped[:_MAX_LISTED_LINES])
        more = ", ..." if len(dropped) > _MAX_LISTED_LINES else ""
        warnings.append(f"{name}: {counted(len(dropped), 'duplicate row')} dropped, identical "
                        f"in every column to an earlier one ({plural(len(dropped), 'line')} "
                        f"{listed}{more})")
        frame = frame.loc[~duplicated].reset_index(drop=True)
        negative = None if negative is None else negative[~duplicated]
    if negative is not None:
        frame = _without_negatives(frame, negative, negative_types, name, warnings)
    return frame, warnings


def _without_negatives(frame: pd.DataFrame, negative: np.ndarray, types: list[str],
                       name: str, warnings: list[str]) -> pd.DataFrame:
    """The rows that are not negative keywords, with a warning counting those dropped: a
    negative says what a campaign excludes, and as a term it put "free", "jobs" and
    "diy" among the words its topics and neighbours are found by. A file of negatives
    alone is refused."""
    said = ", ".join(repr(t) for t in types[:3])
    if negative.all():
        raise InputError(f"every row is a negative keyword (match type {said}): negatives "
                         "say what campaigns exclude, not what they target; import a "
                         "keyword or search terms report", file=name)
    n = int(negative.sum())
    warnings.append(f"{name}: {counted(n, 'negative keyword')} (match type {said}) dropped: "
                    "they say what a campaign excludes, not what it targets")
    return frame.loc[~negative].reset_index(drop=True)


# What may be a hidden character, for Arrow's RE2 (a superset: the joiners that Persian and
# Indic spelling needs match too, and are let through by `hidden_pattern`).
_MAYBE_HIDDEN = r"[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]"


def _hidden_cells(values: pd.Series) -> list[str]:
    """The distinct cells that hold a hidden character. Arrow finds the candidates (0.1 s
    for 1.5M terms; a Python pass doubled the read time), then `hidden_pattern` judges
    them. Only the candidates are made distinct: the distinct cells of all (2M terms of a
    2M-row file) held 190 MB."""
    cells = pa.array(values, from_pandas=True, type=pa.large_string())
    candidates = pc.unique(cells.filter(pc.match_substring_regex(cells, _MAYBE_HIDDEN)))
    search = hidden_pattern().search
    return [text for text in candidates.to_pylist() if text and search(text)]


def _negative_list_note(header: list[str]) -> str:
    """What a file without a term column is when a column names negative keywords (Google
    Ads' "Negative keyword" download, Microsoft's "Negative Keyword"): said, since renaming
    that column would import the negatives as the campaigns' own words."""
    if not any(names_a_negative(normalise_name(cell)) for cell in header):
        return ""
    return (". This looks like a list of negative keywords, which say what campaigns "
            "exclude, not what they target: import a keyword or search terms report")


def _empty_cells(what: str, count: int) -> str:
    """The refusal of rows without a term or a campaign: how many, and what to do (a
    report's rows with no class, say, are all refused at once, not found one by one)."""
    more = f" (and in {count - 1:,} more rows)" if count > 1 else ""
    return (f"the {what} is empty{more}: give every row a {what}, or remove the rows "
            "without one")


def _check_visible_ids(values: pd.Series, fail: _Fail, source: str = "the file") -> None:
    """Refuse a campaign id holding a control or invisible character, naming its first
    row: `C1` and `C1` with a zero-width space would be two campaigns that look alike, and
    removing the character could merge two real ones."""
    bad = _hidden_cells(values)
    if bad:
        position = int(np.flatnonzero(values.isin(bad).to_numpy())[0])
        text = str(values.iloc[position])
        raise fail(f"the campaign id {text[:60]!r} holds control or invisible characters "
                   f"({hidden_characters(text)}); correct it in {source}", position,
                   "campaign_id")


def _check_unshortened_ids(ids: pd.Series, fail: _Fail) -> None:
    """Refuse a campaign id in Excel's scientific notation ("1.23457E+10"): Excel saves a
    long numeric id shown in a narrow General column so, its last digits lost, and every
    campaign of the same first digits became one (they were imported merged). Python and
    pandas write a float id so too ("1.2e+16"); "3E4" has no "+" and stays an id."""
    shortened = np.flatnonzero(ids.str.match(_SCIENTIFIC_ID, na=False).to_numpy(bool))
    if shortened.size:
        at = int(shortened[0])
        shown = ids.iloc[at]
        cause, fix = (("Excel saves a long id in a narrow column", "format the column as Text "
                       "or Number with 0 decimals and save the file again") if "E" in shown
                      else ("a program writes a float id", "write the ids as integers or text"))
        raise fail(f"the campaign id {shown!r} is a number in scientific notation, as {cause}: "
                   f"its last digits are lost, so campaigns would merge; {fix}", at,
                   "campaign_id")


def row_label(frame: pd.DataFrame, position: int) -> str:
    """How a message names one row of a frame given in Python: `term row .iloc[3]
    (index 7)`, its position and its index label (they differ after a filter). One wording
    for every check of such rows: they said "row 7" (the label), "term row .iloc[3]" (the
    position) or nothing. Numpy labels read as plain numbers."""
    label = frame.index[position]
    if isinstance(label, np.generic):  # a filtered frame's: "(index np.int64(103))"
        label = label.item()
    return f"term row .iloc[{position}] (index {label!r})"


def visible_frame(frame: pd.DataFrame, name: str) -> tuple[pd.DataFrame, list[str]]:
    """Term rows made in Python (`CampaignModel.fit`), checked as an import checks a file's:
    control and invisible characters removed from the text columns, with a warning per
    column, and a campaign id holding one refused naming its row. Only text cells are
    looked at; a frame without such characters is returned as it is."""
    def fail(message: str, position: int, column: str) -> InputError:
        return InputError(f"{name}: {row_label(frame, position)}, column {column!r}: {message}")

    if "campaign_id" in frame.columns:
        _check_visible_ids(_text_cells(frame["campaign_id"]), fail, "the term rows")
    warnings: list[str] = []
    for column in _CLEANED_COLUMNS:
        if column in frame.columns:
            texts = _text_cells(frame[column])
            cleaned = _visible_cells(texts, name, column, warnings)
            if cleaned is not texts:  # as objects: a categorical lacks the cleaned texts
                frame = frame.assign(**{column: frame[column].astype(object).where(
                    texts.isna().to_numpy(), cleaned.to_numpy())})
    return frame, warnings


def check_one_value_per_cell(frame: pd.DataFrame, name: str) -> None:
    """Refuse term rows made in Python whose id or text cells hold lists, tuples, arrays,
    sets or dicts, naming the first such row, as an import refuses a list column: a term
    column of token lists (`str.split()`) was read as their printed form, so with
    `pretokenized` the words were "'access'," and "'accord',", and an id ['C1'] was the
    campaign "['C1']". Columns of text (the usual case) are passed by dtype alone."""
    for column in ("campaign_id", *_CLEANED_COLUMNS):
        if column not in frame.columns:
            continue
        values = frame[column]
        if isinstance(values.dtype, pd.ArrowDtype) and pa.types.is_nested(
                values.dtype.pyarrow_dtype):
            found = np.flatnonzero(values.notna().to_numpy())
        elif values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) not in (
                "string", "empty", "integer", "floating", "mixed-integer-float", "decimal"):
            found = np.flatnonzero([not pd.api.types.is_scalar(v) for v in values.tolist()])
        else:
            continue
        if found.size:
            at = int(found[0])
            value = values.iloc[at]
            raise InputError(
                f"{name}: {row_label(frame, at)}, column {column!r}: holds "
                f"{type(value).__name__} {value!r:.60}, not one value per cell: give it as "
                f"text (tokens joined by spaces: frame[{column!r}].str.join(' '))")


def canonical_term_types(frame: pd.DataFrame, name: str) -> tuple[pd.DataFrame, list[str]]:
    """Term rows made in Python with their `term_type` read as an import reads a file's
    (`_term_types`): "Keyword" and "Search term" (a report's own spelling, as
    `pd.read_csv` keeps it) are 'keyword' and 'search_term', other values are left empty
    with a warning. They were kept as given, so no row was a search term: the campaigns'
    search terms counted 0 and the actions learnt from them were silently missing."""
    if "term_type" not in frame.columns:
        return frame, []
    codes, uniques = pd.factorize(frame["term_type"], use_na_sentinel=True)
    values = [v if isinstance(v, str) else None for v in uniques]
    canonical = [_TERM_TYPE_VALUES.get(normalise_name(v)) if v else None for v in values]
    if canonical == values:
        return frame, []
    unknown = sorted({str(v) for v, c in zip(uniques, canonical, strict=True)
                      if c is None and not (isinstance(v, str) and not v.strip())})
    notes = ([f"{name}: term type values {unknown[:3]} are not 'keyword' or 'search_term'; "
              "left empty"] if unknown else [])
    read = np.asarray([*canonical, None], dtype=object)[codes]  # code -1 (missing): None
    return frame.assign(term_type=pd.Series(read, index=frame.index, dtype="str")), notes


def checked_metrics(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """Term rows made in Python (`CampaignModel.fit`) with their metric columns checked and
    read as an import reads a file's (`_number_column`): -5 clicks, an infinite cost or
    1.5 impressions are refused naming the row; "1,340" is 1340. Fit summed -5 clicks into
    a negative CTR and an infinite cost into an infinite CPC."""
    def fail(message: str, position: int, column: str) -> InputError:
        return InputError(f"{name}: {row_label(frame, position)}, column {column!r}: {message}")

    read = {column: _number_column(frame[column].reset_index(drop=True),
                                   column in ("impressions", "clicks"), fail, column
                                   ).set_axis(frame.index)
            for column in METRIC_COLUMNS if column in frame.columns}
    return frame.assign(**read) if read else frame


def _text_cells(values: pd.Series) -> pd.Series:
    """A column's text cells by position, other cells (numbers, None) missing."""
    values = values.reset_index(drop=True)
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(object)
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        return values
    return values.where(values.map(lambda v: isinstance(v, str)).astype(bool), None)


def _visible_cells(values: pd.Series, name: str, header: str,
                   warnings: list[str]) -> pd.Series:
    """The cells without control or invisible characters (`visible_text`), with a warning
    counting the cells changed and naming the characters; `values` itself when none hold
    one."""
    bad = _hidden_cells(values)
    if not bad:
        return values
    found = sorted({c for text in bad for c in hidden_pattern().findall(text)})
    changed = values.isin(bad).to_numpy()
    cells = int(changed.sum())
    shown = ", ".join(f"U+{ord(c):04X}" for c in found[:8]) + (", …" if len(found) > 8 else "")
    warnings.append(f"{name}: {counted(cells, 'cell')} of column "
                    f"{header!r} held control or invisible characters ({shown}); they were "
                    "removed (a tab or line break became a space)")
    cleaned = {text: visible_text(text) for text in bad}
    return values.where(~changed, values.map(cleaned))


def _duplicates(frame: pd.DataFrame, raw: _RawTable) -> np.ndarray:
    """Rows identical in every input column to an earlier row (a report pasted twice).

    Not rows that only clean alike: one search term matched by two keywords is two rows
    that differ in the Keyword column, which the importer does not keep, and `+a` and
    `a` are two keywords. Rows that are identical in every input column clean alike, so
    only rows whose canonical form repeats (whose hash repeats, `_row_hashes`: a superset)
    are compared cell by cell, in DuckDB (`_repeated_rows`).
    """
    return _hashed_duplicates(raw, _row_hashes(frame.drop(columns="source_line")))


def _input_duplicates(raw: _RawTable) -> np.ndarray | None:
    """`_duplicates` from a hash of each row's input cells, before the file is cleaned (None
    when DuckDB cannot hash a Parquet column's type): hashed beside the cleaned columns,
    the check's hashes and hash table were the peak of importing a 2M-row, 133 MB file
    (bench/import_big.py)."""
    try:
        hashes = _table_hashes(raw.table)
    except duckdb.Error:
        return None
    return _hashed_duplicates(raw, hashes)


def _hashed_duplicates(raw: _RawTable, row_hashes: np.ndarray) -> np.ndarray:
    """`_duplicates` given a hash of each row that is equal for rows of equal input cells:
    only the rows whose hash repeats are compared cell by cell."""
    duplicated = np.zeros(len(row_hashes), dtype=bool)
    hashes = pd.Series(row_hashes)
    alike = np.flatnonzero(hashes.duplicated(keep=False).to_numpy())
    if alike.size:
        firsts, differing = _same_as_first(raw.table, alike, hashes.to_numpy()[alike])
        duplicated[alike[firsts != alike]] = True
        duplicated[alike[differing]] = False
        if differing.any():  # rows of one hash that differ: grouped cell by cell
            try:
                duplicated[_repeated_rows(raw.table, alike[differing])] = True
            except duckdb.Error:  # a Parquet type DuckDB cannot group: compared in Python
                duplicated[_repeated_in_python(raw, alike[differing])] = True
    return duplicated


def _same_as_first(table: pa.Table, at: np.ndarray, hashes: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """For the rows `at` (ascending) and their row hashes: the first row of each one's hash
    and, marked on every row of a hash, whether any of its rows differs from that first
    row in an input cell. Compared column by column in Arrow (nulls alike): grouping the
    rows of a file pasted twice (4M) by all their cells at once held 1.3 GB in DuckDB.
    A column Arrow cannot compare marks every row as differing."""
    _, first_index, inverse = np.unique(hashes, return_index=True, return_inverse=True)
    firsts = at[first_index][inverse]
    same = np.ones(len(at), dtype=bool)
    ours, theirs = pa.array(at), pa.array(firsts)
    for column in table.columns:
        try:
            a, b = column.take(ours), column.take(theirs)
            equal = pc.fill_null(pc.equal(a, b), False)
            both_null = pc.and_(pc.is_null(a), pc.is_null(b))
            same &= pc.or_(equal, both_null).to_numpy(zero_copy_only=False)
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid):  # list or struct cells
            return firsts, np.ones(len(at), dtype=bool)
    bad_groups = np.unique(inverse[~same])
    return firsts, np.isin(inverse, bad_groups)


_scratch_lock = threading.Lock()
_scratch_instance: tuple[int, duckdb.DuckDBPyConnection] | None = None   # (pid, instance)


@contextlib.contextmanager
def _scratch() -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection of this process's in-memory DuckDB instance (one thread, insertion order
    kept) for grouping and hashing Arrow rows: an instance of its own per call cost ~25 ms
    (every built-in function registered, then dropped). Each use gets a cursor of its own,
    so tables registered on it are its own."""
    global _scratch_instance
    with _scratch_lock:
        if _scratch_instance is None or _scratch_instance[0] != os.getpid():
            _scratch_instance = (os.getpid(), duckdb.connect(
                config={"threads": 1, "preserve_insertion_order": True}))
        cursor = _scratch_instance[1].cursor()
    try:
        yield cursor
    finally:
        cursor.close()


def _repeated_rows(table: pa.Table, at: np.ndarray) -> np.ndarray:
    """The rows among `at` whose every input cell equals an earlier row's, grouped by DuckDB
    over their Arrow cells (nulls alike): a Python tuple of every candidate row's cells
    made a file pasted twice (1M rows, 500k of them repeated) take 2.6 CPU s here."""
    names = [f"c{i}" for i in range(table.num_columns)]
    rows = table.take(pa.array(at)).rename_columns(names).append_column(
        "position", pa.array(at, pa.int64()))
    listed = ", ".join(f'"{name}"' for name in names)
    with _scratch() as con:
        con.register("candidates", rows)
        first = con.execute(f"SELECT min(position) AS p FROM candidates GROUP BY {listed}"
                            ).fetchnumpy()["p"]
    return at[~np.isin(at, first)]


def _repeated_in_python(raw: _RawTable, at: np.ndarray) -> np.ndarray:
    """`_repeated_rows` by a Python tuple of each row's cells."""
    repeated, seen = [], set()
    for position, cells in zip(at, raw.cells(at), strict=True):
        try:
            hash(cells)
        except TypeError:  # Parquet list or struct cells: compared as printed
            cells = (repr(cells),)
        if cells in seen:
            repeated.append(position)
        seen.add(cells)
    return np.asarray(repeated, dtype=np.int64)


def _row_hashes(frame: pd.DataFrame) -> np.ndarray:
    """A 64-bit hash of each row of `frame` (equal rows hash alike), by DuckDB over its
    Arrow columns a vector at a time: pandas' `duplicated` held 410 MB of per-column codes
    and hash tables for 2M rows of 14 columns (bench/import_big.py)."""
    return _table_hashes(pa.Table.from_pandas(frame, preserve_index=False))


def _table_hashes(table: pa.Table) -> np.ndarray:
    """`_row_hashes` of an Arrow table (its column names may repeat)."""
    names = [f"c{i}" for i in range(table.num_columns)]  # SQL names whatever the headers
    table = table.rename_columns(names)
    listed = ", ".join(names)
    with _scratch() as con:
        con.register("term_rows", table)
        return con.execute(f"SELECT hash({listed}) AS h FROM term_rows").fetchnumpy()["h"]


def _as_text(values: pd.Series) -> list[str | None]:
    """Cells as Python strings (None for missing). Object columns hold only str/None
    already, "str" columns (CSV and Parquet text, kept in Arrow) str/NaN, converted in C (a
    Python pass cost ~0.3 s per 2M cells); typed (numeric, date) columns are printed."""
    if values.dtype == object:
        return values.tolist()
    if isinstance(values.dtype, pd.StringDtype):
        return values.to_numpy(dtype=object, na_value=None).tolist()
    return [None if pd.isna(v) else str(v) for v in values.tolist()]


def _stripped(values: pd.Series) -> pd.Series:
    """Text cells with surrounding whitespace removed; blank cells become null."""
    (cleaned,) = _per_distinct(values, lambda v: (v.strip() or None,), (None,),
                               _PLAIN_STRIPPED)
    return cleaned


def _per_distinct(values: pd.Series, clean: Callable[[str], tuple], missing: tuple,
                  plain: str | None = None) -> list[pd.Series]:
    """"str" columns of `clean`'s outputs for every cell as text (`missing` for empty
    cells), computed once per distinct cell: exports repeat the same campaign, ad group
    and keyword on many rows.

    `plain`: an RE2 pattern of the cells `clean` gives back as they are, None for its
    other outputs. Arrow finds them, and only the other cells are cleaned in Python: a
    Python string per distinct term and its cleaned forms held 470 MB of a 2M-row file
    whose terms (nearly all distinct) needed no cleaning (bench/import_big.py)."""
    if plain is not None:
        return _per_odd_cell(values, clean, missing, plain)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    outputs = [missing if v is None else clean(v) for v in _as_text(pd.Series(uniques))]
    return [_spread([output[i] for output in outputs], codes, empty)
            for i, empty in enumerate(missing)]


def _per_odd_cell(values: pd.Series, clean: Callable[[str], tuple], missing: tuple,
                  plain: str) -> list[pd.Series]:
    """`_per_distinct` of the cells not matching `plain` (and the empty ones), the rest
    kept as they are: `values` itself when every cell is plain."""
    cells = pa.array(values, from_pandas=True, type=pa.large_string())
    odd = pc.invert(pc.match_substring_regex(cells, plain)).fill_null(True)
    odd = pa.array(odd.to_numpy(zero_copy_only=False))  # one mask for all chunks of `cells`
    odd_at = np.flatnonzero(odd.to_numpy(zero_copy_only=False))
    rows = len(values)
    if not odd_at.size:
        nothing = np.full(rows, -1, dtype=np.int64)
        return [values.reset_index(drop=True), *(_spread([], nothing, None) for _ in missing[1:])]
    cleaned = _per_distinct(values.iloc[odd_at], clean, missing)
    bases = [cells, *(pa.nulls(rows, pa.large_string()) for _ in missing[1:])]
    return [pc.replace_with_mask(base, odd, pa.array(part, from_pandas=True,
                                                     type=pa.large_string())).to_pandas()
            for base, part in zip(bases, cleaned, strict=True)]


def _spread(per_code: list[str | None], codes: np.ndarray, empty: str | None) -> pd.Series:
    """One text per factorize code, spread over the rows in Arrow (`empty` for code -1),
    not built from a million Python strings (with Parquet text kept in Arrow: reading a
    20,000-campaign part 6.0 -> 5.3 s)."""
    distinct = pa.array([*per_code, empty], pa.large_string())
    return distinct.take(pa.array(np.where(codes < 0, len(per_code), codes))).to_pandas()


def _match_types(raw: _RawTable, decorated: pd.Series, name: str,
                 warnings: list[str]) -> tuple[pd.Series, np.ndarray | None, list[str]]:
    """The Match type column where it says something, else the term's decoration; which
    rows it names negative keywords (None: none), and those match types."""
    if "match_type" not in raw.values:
        return decorated, None, []
    codes, uniques = pd.factorize(raw.values["match_type"], use_na_sentinel=True)
    rows_of = np.bincount(codes[codes >= 0], minlength=len(uniques))
    found, unknown, negative = [], {}, []
    values = _as_text(pd.Series(uniques))
    for value, count in zip(values, rows_of, strict=True):
        key = normalise_name(value) if value else ""
        negative.append(names_a_negative(key))
        found.append(None if negative[-1] else named_match_type(key))
        if key and found[-1] is None and not negative[-1]:
            unknown[value] = int(count)
    said = _spread(found, codes, None)
    negatives = [value for value, is_negative in zip(values, negative, strict=True)
                 if is_negative]
    excluded = np.isin(codes, np.flatnonzero(negative)) if negatives else None
    if unknown:
        examples = ", ".join(repr(v) for v in list(unknown)[:3])
        n = sum(unknown.values())
        warnings.append(f"{name}: {counted(n, 'row')} {plural(n, 'has', 'have')} a match type "
                        f"that is not "
                        f"exact, phrase or broad ({examples}); taken from the term's "
                        "decoration where it has one, else left empty")
    return said.where(said.notna(), decorated), excluded, negatives


def _term_types(raw: _RawTable, name: str, warnings: list[str]) -> pd.Series:
    """'keyword' / 'search_term': from a Term type column, else from the report kind or the
    name of the term column ("Search term" vs "Keyword"), else unknown. A report whose
    title and term column name neither kind (Google Ads or Microsoft Advertising alike)
    holds keywords: search terms are their own report in both."""
    if raw.format.endswith("_search_terms_report"):
        default = "search_term"
    elif raw.format.endswith("_keyword_report") or raw.format in (
            "google_ads_report", "microsoft_ads_report", *_EXPORT_NOTE):
        default = "keyword"
    else:
        header = normalise_name(raw.term_header)
        default = ("search_term" if header in SEARCH_TERM_NAMES
                   else "keyword" if header in KEYWORD_NAMES else None)
    rows = len(raw.lines)
    if "term_type" not in raw.values:
        return pd.Series([default] * rows, dtype="str")
    codes, uniques = pd.factorize(raw.values["term_type"], use_na_sentinel=True)
    values = _as_text(pd.Series(uniques))
    keys = [normalise_name(value) if value else "" for value in values]
    unknown = {value for value, key in zip(values, keys, strict=True)
               if key and key not in _TERM_TYPE_VALUES}
    if unknown:
        warnings.append(f"{name}: term type values {sorted(unknown)[:3]} are not 'keyword' or "
                        "'search_term'; left empty")
    return _spread([_TERM_TYPE_VALUES.get(key) or default for key in keys], codes, default)


def _number_style(header: Sequence[str], matched: dict[str, int],
                  cells_of: Callable[[int], Sequence], lines: Sequence[int], name: str
                  ) -> tuple[bool, list[str]]:
    """Whether the file writes its metrics with a decimal comma ("1.234,56", "1 234",
    "12,5": a German, French, Spanish, Italian, Portuguese or Dutch Google Ads UI), and
    the warning the choice needs. Decided once for the whole file from the kept metric
    columns, never per cell: read cell by cell, "1.234" would be 1234 in one row and
    1.234 in the next. Cells of both styles are refused, naming one of each; a file
    whose cells fit both ("1.234" alone) is read with a decimal point, as an English
    export, unless its headers are of a decimal-comma UI language ("Klicks", "Coût")."""
    first: dict[str, tuple[int, int, str]] = {}  # style -> (column index, position, cell)
    for column in METRIC_COLUMNS:
        if column not in matched:
            continue
        cells = pd.Series(cells_of(matched[column]))
        distinct = _first_of_each(cells)  # exports repeat their figures
        text = distinct[distinct.map(lambda v: isinstance(v, str)).astype(bool)]
        text = text.str.strip().str.replace(_CURRENCY_SIGN, "", regex=True)
        for style, pattern in (("comma", _COMMA_SIGNS), ("dot", _DOT_SIGNS),
                               ("ambiguous", _AMBIGUOUS)):
            hits = text.index[text.str.match(pattern).to_numpy(dtype=bool)]
            if style not in first and len(hits):
                first[style] = (matched[column], int(hits[0]), cells[hits[0]])

    def where(style: str) -> str:
        index, position, cell = first[style]
        return f"{cell!r} (line {int(lines[position])}, column {header[index]!r})"

    if "comma" in first and "dot" in first:
        raise InputError(
            f"the numbers are written in two styles: {where('comma')} has a decimal comma "
            f"(1.234,56) and {where('dot')} a decimal point (1,234.56), so which one "
            "every cell means is unclear; export the report again in one UI language",
            file=name)
    if "comma" in first:
        return True, []
    if "dot" in first or "ambiguous" not in first:
        return False, []
    language = next((h for h in header if normalise_name(h) in DECIMAL_COMMA_NAMES), None)
    if language is None:
        return False, []
    return True, [f"{name}: numbers such as {where('ambiguous')} are read with a decimal "
                  f"comma (as thousands), since the headers ({language!r}) are of a Google "
                  "Ads UI language that writes 1.234,56; no cell showed which style the "
                  "file uses"]


def _first_of_each(cells: pd.Series) -> pd.Series:
    """The first cell of each distinct value, in file order (`drop_duplicates`), hashed by
    `factorize`, which hashes Arrow text in Arrow: `drop_duplicates` made a Python string
    of every cell first (1.7x the text of a CSV at once)."""
    codes, _ = pd.factorize(cells, use_na_sentinel=True)
    _, first = np.unique(codes, return_index=True)
    return cells.iloc[np.sort(first)]


class _Parsed(NamedTuple):
    """Metric cells: as typed or as text, as numbers, which are no number, and the currency
    sign or code each names (None where none)."""

    original: pd.Series
    numbers: pd.Series
    bad: pd.Series
    marks: pd.Series


def _parsed_numbers(values: pd.Series, decimal_comma: bool = False) -> _Parsed:
    """Metric cells (`_Parsed`): thousands separators and currency signs or codes removed,
    `--` and blanks null (null, not bad). The cells are what messages show: -5 as typed,
    not -5.0; '1,5x' as written. `decimal_comma` (the file's style, `_number_style`):
    "1.234,56" and "1 234,56" are 1234.56, "1.234" is 1234, and a cell written with a
    decimal point is no number."""
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(
            values.dtype):
        original = values.reset_index(drop=True)
        numbers = pd.to_numeric(original).astype("float64")
        nothing = pd.Series(None, index=numbers.index, dtype=object)
        return _Parsed(original, numbers, pd.Series(False, index=numbers.index), nothing)
    original = pd.Series(_as_text(values), dtype=object)
    # Plain numbers parse in C; only the rest ("1,340", " --", "¥500") is cleaned.
    numbers = pd.to_numeric(original, errors="coerce").astype("float64")
    if decimal_comma:  # "1.234" is 1234 here: the C parse would make it 1.234
        numbers[original.str.contains(".", regex=False, na=False).to_numpy(bool)] = np.nan
    odd = numbers.isna() & original.notna()
    bad = pd.Series(False, index=numbers.index)
    marks = pd.Series(None, index=numbers.index, dtype=object)
    if odd.any():
        text = original[odd].str.strip()
        missing = text.str.casefold().isin(_NULL_TOKENS)
        stripped = text.str.replace(_CURRENCY_SIGN, "", regex=True)
        signed = stripped != text  # only these are searched again, for the mark itself
        if signed.any():
            found = text[signed].str.extract(_CURRENCY_SIGN)
            marks[found.index] = found["before"].fillna(found["after"])
            unknown = _unknown_codes(marks)
            stripped[unknown] = text[unknown]  # left as written, so it is no number
            marks[unknown] = None
        text = stripped
        if decimal_comma:
            european = text.str.match(_EUROPEAN).astype(bool)
            text = text.where(european | ~text.str.contains(r"[.,]").astype(bool), None)
            text = text.where(~european, text.str.replace(f"[.{_GROUP_SPACES}]", "", regex=True)
                              .str.replace(",", ".", regex=False))
        else:
            grouped = text.str.match(_THOUSANDS)
            text = text.where(~grouped, text.str.replace(",", "", regex=False))
        parsed = pd.to_numeric(text.where(~missing, None), errors="coerce")
        numbers[odd] = parsed.astype("float64")
        bad[odd] = parsed.isna() & ~missing
        marks[bad] = None
    return _Parsed(original, numbers, bad, marks)


# Cells Arrow's cast reads as `pd.to_numeric` does (`_plain_numbers`): at most 15 digits
# (their float is one correctly rounded division, so both parsers agree), no sign, no
# separator; with a decimal comma, whole numbers only.
_PLAIN_NUMBER = r"^\d{1,15}$|^\d{1,14}\.\d$|^\d{1,13}\.\d\d$|^\d{1,9}\.\d{1,6}$"
_PLAIN_WHOLE = r"^\d{1,15}$"


def _plain_numbers(values: pd.Series, decimal_comma: bool = False) -> _Parsed:
    """`_parsed_numbers` of a text column, each cell parsed once: plain numbers ("12",
    "3.50") by Arrow's cast, the other cells by `_parsed_numbers` once per distinct value.
    A Python string per cell of a 2M-row column (~90 MB, ~0.5 CPU s a column) was made
    for `pd.to_numeric` before. `original` is `values` (messages read one cell of it)."""
    if values.dtype == object or pd.api.types.is_numeric_dtype(values.dtype) \
            or pd.api.types.is_bool_dtype(values.dtype):
        return _parsed_numbers(values, decimal_comma)
    original = values.reset_index(drop=True)
    cells = pa.array(original, from_pandas=True, type=pa.large_string())
    plain = pc.match_substring_regex(cells, _PLAIN_WHOLE if decimal_comma else _PLAIN_NUMBER)
    plain = plain.fill_null(False)
    numbers = pc.if_else(plain, cells, None).cast(pa.float64()).to_numpy(zero_copy_only=False)
    odd_at = np.flatnonzero(pc.and_(pc.invert(plain), pc.is_valid(cells)).to_numpy(
        zero_copy_only=False))
    bad = np.zeros(len(original), dtype=bool)
    marks = pd.Series(None, index=original.index, dtype=object)
    if odd_at.size:
        codes, uniques = pd.factorize(original.iloc[odd_at], use_na_sentinel=True)
        distinct = _parsed_numbers(pd.Series(_as_text(pd.Series(uniques)), dtype=object),
                                   decimal_comma)
        numbers[odd_at] = distinct.numbers.to_numpy()[codes]
        bad[odd_at] = distinct.bad.to_numpy(dtype=bool)[codes]
        if distinct.marks.notna().any():
            marks.iloc[odd_at] = distinct.marks.to_numpy()[codes]
    return _Parsed(original, pd.Series(numbers, dtype="float64"), pd.Series(bad), marks)


def _unknown_codes(marks: pd.Series) -> pd.Index:
    """Where a cell's three capitals are no ISO 4217 code ("12 PCS", "5 ABC")."""
    named = marks.dropna()
    return named.index[[len(m) == 3 and not is_currency(m) for m in named]]


def _number_column(values: pd.Series, whole: bool, fail: _Fail, column: str,
                   decimal_comma: bool = False, currency: pd.Series | None = None,
                   lines: Sequence[int] = ()) -> pd.Series:
    """Metric cells as numbers (`_parsed_numbers`); anything that is not a non-negative
    number, or in two currencies (`_check_one_currency`; `currency`: the file's currency
    code column, as read), is refused."""
    original, numbers, bad, marks = _plain_numbers(values, decimal_comma)
    bad |= np.isinf(numbers)
    if bad.any():
        at = int(np.flatnonzero(bad.to_numpy())[0])
        raise fail(f"{_shown(original.iloc[at])} is not a number", at, column)
    _check_one_currency(original, marks, fail, column, lines, currency)
    negative = np.flatnonzero((numbers < 0).to_numpy())
    if negative.size:
        at = int(negative[0])
        raise fail(f"{_shown(original.iloc[at])} is negative; metrics must be 0 or more", at,
                   column)
    limit = _METRIC_MAX.get(column)
    too_big = np.flatnonzero((numbers > limit).to_numpy()) if limit else []
    if len(too_big):
        at = int(too_big[0])
        raise fail(f"{_shown(original.iloc[at])} is out of range: {column} may be at most "
                   f"{limit:,.0f} per row", at, column)
    if whole:
        fractional = np.flatnonzero((numbers.notna() & (numbers % 1 != 0)).to_numpy())
        if fractional.size:
            at = int(fractional[0])
            raise fail(f"{_shown(original.iloc[at])} is not a whole number", at, column)
        return numbers.round().astype("Int64")
    return numbers


def _codes(mark: str) -> frozenset[str]:
    return _SIGN_CODES.get(mark, frozenset({mark}))


def _check_one_currency(original: pd.Series, marks: pd.Series, fail: _Fail, column: str,
                        lines: Sequence[int], currency: pd.Series | None) -> None:
    """Refuse a metric column whose cells name two currencies ("$5" and "€5", "USD 3" and
    "EUR 3"), or a cell in another currency than its row's currency code: summed, they
    would be a number in no currency. Two cells are named, the first of each currency."""
    seen = marks.dropna().drop_duplicates()   # each mark at its first cell, in file order
    for n, (at, mark) in enumerate(seen.items()):
        clash = next((i for i, m in seen.iloc[:n].items() if not _codes(m) & _codes(mark)),
                     None)
        if clash is not None:
            raise fail(f"{original.iloc[at]!r} is in another currency than "
                       f"{original.iloc[clash]!r} (line {int(lines[clash])}); a sum of both "
                       "would mean nothing: give every figure of a column in one currency",
                       int(at), column)
    if currency is None or seen.empty:
        return
    pairs = pd.DataFrame({"mark": marks.dropna(), "code": _row_codes(currency, marks)})
    for at, (mark, code) in pairs.dropna().drop_duplicates().iterrows():
        if code and code not in _codes(mark):
            raise fail(f"{original.iloc[at]!r} is not in {code}, the currency code of its "
                       "row; a sum of both would mean nothing", int(at), column)


def _row_codes(currency: pd.Series, marks: pd.Series) -> pd.Series:
    """The currency codes (upper-cased) of the rows whose cell names a currency, by row:
    only those are read, as the marks are, since reading the whole column once per metric
    column cost ~0.35 s per 500k rows of every Google Ads export, which has one."""
    at = marks.index[marks.notna().to_numpy()]
    cells = _as_text(currency.iloc[at.to_numpy()])
    return pd.Series(cells, index=at, dtype=object).str.strip().str.upper()


def _shown(cell: Any) -> str:
    """A refused cell as messages show it: text quoted as the file has it ('1,5x'), a
    number (Parquet) plainly: inf, -inf, nan, -5, not numpy's `np.float64(inf)`."""
    return repr(cell.item() if isinstance(cell, np.generic) else cell)


def _date_column(raw: _RawTable, fail: _Fail, warnings: list[str], name: str) -> pd.Series:
    rows = len(raw.lines)
    if "date" not in raw.values:
        day = raw.report_date if raw.report_date is not None else pd.NaT
        return pd.Series([day] * rows, dtype="datetime64[us]")
    values = raw.values["date"].reset_index(drop=True)
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        if getattr(values.dt, "tz", None) is not None:
            values = values.dt.tz_localize(None)
        return values.dt.normalize().astype("datetime64[us]")
    text = pd.Series(_as_text(values), dtype="object").fillna("").str.strip()
    missing = text.str.casefold().isin(_NULL_TOKENS)
    text = _days_in_one_order(text, raw, fail, warnings, name)
    days = _local_days(text.where(~missing, None))
    bad = np.flatnonzero((days.isna() & ~missing).to_numpy())
    if bad.size:
        at = int(bad[0])
        raise fail(f"{text.iloc[at]!r} is not a date{_serial_day_note(text.iloc[at])}", at,
                   "date")
    outside = np.flatnonzero(((days < pd.Timestamp(FIRST_DAY)) | (days > pd.Timestamp(LAST_DAY)))
                             .to_numpy())
    if outside.size:  # pandas reads "-0768-01-01"; no date picker, JSON or CSV writer does
        at = int(outside[0])
        raise fail(f"{text.iloc[at]!r} is not a date from {FIRST_DAY} to {LAST_DAY}", at,
                   "date")
    return days


def _days_in_one_order(text: pd.Series, raw: _RawTable, fail: _Fail, warnings: list[str],
                       name: str) -> pd.Series:
    """Days written as numbers ("03/04/2024", "25.05.2024") rewritten month first, so that
    every cell of the column is read in one order. Read cell by cell, "13/04/2024" was
    13 April and "03/04/2024" in the same column 4 March, and the German "01.05.2024"
    5 January. The order is the one a cell proves (a first number above 12 is a day, a
    second one above 12 is); a column proving both is refused. Where no cell tells,
    dotted days and days under a translated header (`Datum`, `Jour` …) are day first,
    as in those languages, and others month first, with a warning that it is a guess."""
    distinct = pd.Series(pd.unique(text), dtype="object")
    parts = distinct.str.extract(_NUMERIC_DAY)
    found = parts[0].notna().to_numpy()
    if not found.any():
        return text
    first, second = parts[0].astype(float).to_numpy(), parts[2].astype(float).to_numpy()
    proofs = {order: distinct[found & (a > 12) & (b <= 12)]
              for order, a, b in (("day", first, second), ("month", second, first))}
    every = text.to_numpy()
    at = {order: int(np.flatnonzero(every == cells.iloc[0])[0])
          for order, cells in proofs.items() if len(cells)}
    if len(at) == 2:
        raise fail(f"days are written both day first ({text.iloc[at['day']]!r}, line "
                   f"{raw.lines[at['day']]}) and month first ({text.iloc[at['month']]!r}, "
                   f"line {raw.lines[at['month']]}); write them as YYYY-MM-DD",
                   max(at.values()), "date")
    if at:
        day_first = "day" in at
    else:
        header = raw.headers["date"]
        local = normalise_name(header) not in ENGLISH_DATE_NAMES
        day_first = local or bool((parts[1][found] == ".").all())
        if not day_first:
            example = distinct[found].iloc[0]
            warnings.append(f"{name}: column {header!r}: no day tells whether days such "
                            f"as {example!r} are month first or day first; read month first "
                            "(MM/DD/YYYY, as in the US). If they are day first, write them "
                            "as YYYY-MM-DD and import the file again")
    day, month = (parts[0], parts[2]) if day_first else (parts[2], parts[0])
    rewritten = month + "/" + day + "/" + parts[3] + parts[4]
    return text.map(dict(zip(distinct[found], rewritten[found], strict=True))).fillna(text)


def _serial_day_note(cell: str) -> str:
    """What a date cell of a whole number from 10000 to 99999 ("45413") likely is: a day
    Excel saved as its serial number (the cell formatted as General or Number). Named, not
    read: Excel for Mac may count from 1904, so a guess could be four years out unseen."""
    if not _EXCEL_SERIAL.match(cell):
        return ""
    day = _EXCEL_EPOCH + pd.Timedelta(days=int(float(cell)))
    return (f"; it looks like a day Excel saved as a number (serial {int(float(cell))} is "
            f"{day:%Y-%m-%d} counted from 1900): format the column as a date (yyyy-mm-dd) "
            "and save the file again")


def _local_days(text: pd.Series) -> pd.Series:
    """Calendar days as written (a time zone, if any, is dropped, not converted)."""
    try:
        parsed = pd.to_datetime(text, errors="coerce", format="mixed")
    except (ValueError, TypeError):  # e.g. several time zones in one column
        parsed = pd.Series([_one_day(v) for v in text.tolist()], index=text.index)
    else:
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_localize(None)
    return pd.Series(parsed, dtype="datetime64[us]").dt.normalize()


def _one_day(value: str | None) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value) if value is not None else pd.NaT
    except (ValueError, TypeError):
        return pd.NaT
    return stamp.tz_localize(None) if stamp is not pd.NaT and stamp.tzinfo else stamp


__all__ = ["SUPPORTED_SUFFIXES", "ReadResult", "read_bytes", "read_paths",
           "strip_match_decoration"]

"""Real .xlsx files for the import tests, written part by part.

No dependency writes workbooks (python-calamine only reads them), so a test's workbook is
the smallest package Excel itself opens (ECMA-376: content types, the package and workbook
relationships, the workbook, its styles, one XML part per worksheet). Numbers are number
cells, days are numbers in Excel's built-in date format (serial days from 1899-12-30),
everything else an inline string, as a report's export has them.
"""

from __future__ import annotations

import io
import zipfile
from datetime import date
from xml.sax.saxutils import escape

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
_DOC = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml"


def _column(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _cell(reference: str, value: object) -> str:
    if isinstance(value, date):  # style 1: number format 14, Excel's short date
        return f'<c r="{reference}" s="1"><v>{(value - date(1899, 12, 30)).days}</v></c>'
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f'<c r="{reference}"><v>{value!r}</v></c>'
    return (f'<c r="{reference}" t="inlineStr"><is><t xml:space="preserve">'
            f"{escape(str(value))}</t></is></c>")


def _sheet(rows: list[list[object]]) -> str:
    lines = []
    for r, row in enumerate(rows, start=1):
        cells = "".join(_cell(f"{_column(c)}{r}", value) for c, value in enumerate(row)
                        if value is not None and value != "")
        lines.append(f'<row r="{r}">{cells}</row>')
    return f'<worksheet xmlns="{_MAIN}"><sheetData>{"".join(lines)}</sheetData></worksheet>'


def xlsx(sheets: dict[str, list[list[object]]]) -> bytes:
    """An .xlsx of these worksheets (name -> rows of cells; None or "" leaves a cell out)."""
    count = len(sheets)
    overrides = "".join(f'<Override PartName="/xl/worksheets/sheet{i}.xml" '
                        f'ContentType="{_TYPE}.worksheet+xml"/>' for i in range(1, count + 1))
    parts = {
        "[Content_Types].xml":
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            f'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{_TYPE}.sheet.main+xml"/>'
            f'<Override PartName="/xl/styles.xml" ContentType="{_TYPE}.styles+xml"/>'
            f"{overrides}</Types>",
        "_rels/.rels":
            f'<Relationships xmlns="{_RELS}"><Relationship Id="rId1" '
            f'Type="{_DOC}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml":
            f'<workbook xmlns="{_MAIN}" xmlns:r="{_DOC}"><sheets>'
            + "".join(f'<sheet name="{escape(name)}" sheetId="{i}" r:id="rId{i}"/>'
                      for i, name in enumerate(sheets, start=1)) + "</sheets></workbook>",
        "xl/_rels/workbook.xml.rels":
            f'<Relationships xmlns="{_RELS}">'
            + "".join(f'<Relationship Id="rId{i}" Type="{_DOC}/worksheet" '
                      f'Target="worksheets/sheet{i}.xml"/>' for i in range(1, count + 1))
            + f'<Relationship Id="rId{count + 1}" Type="{_DOC}/styles" Target="styles.xml"/>'
            "</Relationships>",
        "xl/styles.xml":
            f'<styleSheet xmlns="{_MAIN}"><fonts count="1"><font/></fonts><fills count="1">'
            '<fill/></fills><borders count="1"><border/></borders><cellStyleXfs count="1">'
            '<xf/></cellStyleXfs><cellXfs count="2"><xf numFmtId="0"/>'
            '<xf numFmtId="14" applyNumberFormat="1"/></cellXfs></styleSheet>',
        **{f"xl/worksheets/sheet{i}.xml": _sheet(rows)
           for i, rows in enumerate(sheets.values(), start=1)},
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for part, xml in parts.items():
            archive.writestr(part, '<?xml version="1.0" encoding="UTF-8"?>' + xml)
    return buffer.getvalue()

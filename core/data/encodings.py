"""Bytes of a text file into text: the encoding it declares, the one the user names, or a
checked guess among the few that ad exports really come in.

A statistical detector alone picks wrongly on short text: "café crème" in Latin-1 is
as valid in cp1250 and came out as "crčme" with only a warning. So a file without a
byte-order mark that is not UTF-8 is decoded strictly with each of a fixed, ordered
list of candidates (Japanese Shift-JIS/cp932 and EUC-JP, Western Windows-1252/Latin-1)
and each decoding is judged for plausibility by how its non-ASCII characters sit in the
text. One plausible reading is used (and named in a warning); none, or two that read
differently and equally well, refuse the file with the candidates named, so the user
can say which (`--encoding`, or the Explore page's choice).
"""

from __future__ import annotations

import codecs
import re
import unicodedata

import charset_normalizer

from core.errors import InputError

AUTO = "auto"
# What the user may pick (the Explore page shows these labels; the CLI takes any Python
# codec name). Order = the order candidates are tried when guessing, after UTF-8.
CHOICES: dict[str, str] = {
    AUTO: "detect: byte-order mark, UTF-8, or a checked guess",
    "utf-8": "UTF-8",
    "cp932": "Japanese Shift-JIS",
    "euc_jp": "Japanese EUC-JP",
    "cp1252": "Western European Windows-1252 / Latin-1",
    "utf-16": "UTF-16 (byte order from its mark, else from its zero bytes)",
}
GUESSES = ("cp932", "euc_jp", "cp1252")

# Checked longest first: the UTF-32 LE mark starts with the UTF-16 LE one.
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32 LE"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32 BE"),
    (codecs.BOM_UTF8, "utf-8", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16 LE"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16 BE"),
)
# A guess is kept when at most this share of its non-ASCII characters look wrong.
_MAX_ODD_SHARE = 0.02
_HALFWIDTH_KATAKANA = (0xFF61, 0xFF9F)
_KANA = re.compile(r"[\u3041-\u309f\u30a0-\u30ff\uff66-\uff9f]")
_KANJI = re.compile(r"[\u4e00-\u9fff]")
# Japanese keywords without a single kana are rare; this many kanji without one is Chinese.
_KANJI_WITHOUT_KANA = 10


def label(codec: str) -> str:
    """How a choice is shown: "Japanese Shift-JIS (cp932)"."""
    return CHOICES[codec] if codec in (AUTO, "utf-8") else f"{CHOICES[codec]} ({codec})"


def check_choice(encoding: str | None) -> str | None:
    """The codec name to use, or None to detect; an unknown name is refused, and so is a
    value that is no name (`read_terms(..., encoding=5)` was an AttributeError)."""
    if encoding is not None and not isinstance(encoding, str):
        raise InputError(f"encoding: give a codec name such as 'cp932' (or None to detect), "
                         f"not {encoding!r:.80}")
    if encoding is None or encoding.strip().lower() in ("", AUTO):
        return None
    try:
        codec = codecs.lookup(encoding.strip())
    except LookupError:
        raise InputError(f"unknown encoding {encoding!r}; use one of "
                         f"{', '.join(c for c in CHOICES if c != AUTO)} or another Python "
                         "codec name") from None
    # base64, zlib, rot13, hex, uu: codecs of bytes to bytes (or text to text), which
    # `bytes.decode` refuses with a LookupError traceback
    if not getattr(codec, "_is_text_encoding", True):
        raise InputError(f"{encoding!r} is not a text encoding (a codec like base64, zlib or "
                         "rot13 transforms data, it does not read text); use one of "
                         f"{', '.join(c for c in CHOICES if c != AUTO)} or another text "
                         "encoding")
    return codec.name


def decode(data: bytes, name: str, encoding: str | None = None) -> tuple[str, list[str]]:
    """Text of a file, and warnings about how its encoding was chosen."""
    chosen = check_choice(encoding)
    # A byte-order mark wins over a chosen encoding: the choice is for files without one
    # (a folder of UTF-16 exports and one Shift-JIS file is imported with one choice).
    for bom, codec, shown in BOMS:
        if data.startswith(bom):
            notes = [] if chosen is None or _same_codec(chosen, codec) else [
                f"{name}: its byte-order mark says {shown}, so it was read as {shown}, not "
                f"as the chosen {chosen} (which applies to files without one)"]
            return _strict(data[len(bom):], codec, name, f"{shown} (its byte-order mark says "
                           "so)", len(bom)), notes
    order = _utf16_order(data) if chosen in (None, "utf-16") else None
    if chosen is not None and order is None:
        _check_wide_choice(data, chosen, name)
        text = _strict(data, chosen, name, chosen, 0)
        _check_not_utf8(data, text, chosen, name)
        return text, []
    if order is not None:
        shown = order.replace("utf-16-", "UTF-16 ").upper()
        return _strict(data, order, name, shown, 0), [
            f"{name}: UTF-16 without a byte-order mark; read as {shown}, the byte order its "
            "zero bytes show; check that the text looks right, or save the file as UTF-8"]
    if b"\x00" in data:
        raise InputError("is not a text file: it contains NUL bytes (binary data, or UTF-16 "
                         "or UTF-32 without a byte-order mark); expected CSV/TSV text or "
                         "Parquet", file=name)
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError:
        pass
    return _guess(data, name)


# UTF-16 without a mark: the share of its code units that must have a zero byte on one side
# (ASCII letters, digits, commas and line ends of a CSV) while the other side has almost none.
_UTF16_MIN_ZEROS = 0.2
_UTF16_SAMPLE = 1 << 16


def _utf16_order(data: bytes) -> str | None:
    """"utf-16-le" or "utf-16-be" for UTF-16 text without a byte-order mark, from where its
    zero bytes sit ("a" is 61 00 little-endian, 00 61 big-endian), else None. Python's
    utf-16 codec reads a file without a mark as little-endian, so a big-endian one came out
    as CJK-looking garbage; refused as binary without `--encoding`, both are now read."""
    sample = data[:_UTF16_SAMPLE]
    if len(data) % 2 or len(sample) < 4:
        return None
    units = len(sample) // 2
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    if odd >= units * _UTF16_MIN_ZEROS and even * 10 <= odd:
        return "utf-16-le"
    if even >= units * _UTF16_MIN_ZEROS and odd * 10 <= even:
        return "utf-16-be"
    return None


def _check_wide_choice(data: bytes, chosen: str, name: str) -> None:
    """Refuse a UTF-16 or UTF-32 choice for bytes (without a mark) that are not such text,
    naming the likely encoding: `--encoding utf-16` on a UTF-8 file read every two bytes as
    one CJK-looking character, silently where no header is looked for (`fingerprint
    --file`). Every ASCII character (comma, digit, line end) of such text has a zero byte,
    so bytes without one are not it; nor are UTF-16 bytes in the other byte order."""
    if not chosen.startswith(("utf-16", "utf-32")) or not data:
        return
    if b"\x00" not in data:
        try:
            data.decode("utf-8")
            likely = "its bytes read as UTF-8: choose utf-8 (or let the encoding be detected)"
        except UnicodeDecodeError:
            likely = "let the encoding be detected, or choose the one the file was saved in"
        raise InputError(f"is not {chosen} text: it has no zero bytes, which every comma, "
                         f"digit and line end of {chosen} text has; {likely}", file=name)
    order = _utf16_order(data) if chosen in ("utf-16-le", "utf-16-be") else None
    if order is not None and order != chosen:
        raise InputError(f"is not {chosen} text: its zero bytes sit where {order} puts them; "
                         f"choose {order} (or utf-16, which finds the byte order)", file=name)


def _check_not_utf8(data: bytes, text: str, chosen: str, name: str) -> None:
    """Refuse another encoding chosen for UTF-8 bytes that are not all ASCII: `--encoding
    cp932` made 'café' 'cafﾃｩ', cp1252 'cafÃ©', silently. Text in those encodings is
    valid UTF-8 only by rare chance (an accented capital before a symbol, every time)."""
    if chosen.startswith("utf") or data.isascii():
        return
    try:
        utf8 = data.decode("utf-8")
    except UnicodeDecodeError:
        return
    if utf8 != text:
        raise InputError(f"is UTF-8, not {chosen}: read as {chosen}, "
                         f"{_sample(text, utf8)!r} would be {_sample(utf8, text)!r}; choose "
                         "utf-8 (or let the encoding be detected)", file=name)


def _same_codec(chosen: str, marked: str) -> bool:
    """Whether a chosen codec agrees with the one a byte-order mark names ("utf-16" and
    "utf-16-le", "utf-8-sig" and "utf-8")."""
    return chosen in (marked, marked.rsplit("-", 1)[0]) or (chosen, marked) == ("utf-8-sig",
                                                                                "utf-8")


def _strict(data: bytes, codec: str, name: str, label: str, offset: int) -> str:
    try:
        return data.decode(codec)
    except UnicodeDecodeError as err:
        good = data[:err.start].decode(codec, errors="replace")
        raise InputError(f"cannot be decoded as {label}: invalid bytes at byte "
                         f"{err.start + offset}", file=name,
                         line=good.count("\n") + 1) from None
    except UnicodeError as err:  # codecs that name no position: punycode, undefined
        raise InputError(f"cannot be decoded as {label} ({err})", file=name) from None


def _guess(data: bytes, name: str) -> tuple[str, list[str]]:
    readings: list[tuple[float, str, str]] = []  # (odd share, codec, text)
    for codec in GUESSES:
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        readings.append((odd_share(text, japanese=codec != "cp1252"), codec, text))
    plausible = sorted((r for r in readings if r[0] <= _MAX_ODD_SHARE), key=lambda r: r[0])
    if plausible:
        best_share, best_codec, best_text = plausible[0]
        rivals = [r for r in plausible[1:] if r[0] == best_share and r[2] != best_text]
        if not rivals:
            _refuse_mixed(data, name, best_codec)
            return best_text, [
                f"{name}: not UTF-8; read as {label(best_codec)}, the only "
                "one of the usual encodings that reads it plausibly; check that the text "
                "looks right, or save the file as UTF-8"]
        shown = "; ".join(f"{codec} reads {_sample(best_text, text)!r}"
                          for _, codec, text in [plausible[0], *rivals])
        raise InputError(f"is not UTF-8 and its encoding is ambiguous: {shown}. Choose the "
                         "encoding (--encoding, or Encoding on the Explore page) or save the "
                         "file as UTF-8", file=name)
    _refuse_mixed(data, name, None)
    hint = ""
    best = charset_normalizer.from_bytes(data).best()
    if best is not None and best.encoding not in GUESSES:
        hint = f" (it might be {best.encoding}: a statistical guess)"
    tried = ", ".join(label(codec) for codec in GUESSES)
    raise InputError(f"is not UTF-8, and none of {tried} reads it plausibly{hint}. Choose the "
                     "encoding (--encoding, or Encoding on the Explore page) or save the "
                     "file as UTF-8", file=name)


# A line of UTF-8 text as ad exports hold it: its non-ASCII characters all Latin-1 or
# Latin Extended-A, punctuation, kana, kanji or full-width forms, one at least an accented
# letter (beside cp1252 lines) or kana or kanji (beside Japanese ones). Chance bytes of a
# legacy encoding rarely decode to that (half-width katakana pairs decode to Armenian,
# Syriac, Latin Extended-B or accented letters: 'պݱ Ƭ', 'Ħ Ź', never to kana).
_TEXT_CHAR = r"\u00a0-\u017f\u2000-\u206f\u3000-\u30ff\u4e00-\u9fff\uff00-\uffef"
_OTHER_CHAR = re.compile(rf"[^\x00-\x7f{_TEXT_CHAR}]")
_TEXT_LETTERS = {True: re.compile(r"[\u3041-\u30ff\u4e00-\u9fff]"),  # a Japanese guess
                 False: re.compile(r"[\u00c0-\u017f]")}
_ANY_LETTER = re.compile(r"[\u00c0-\u017f\u3041-\u30ff\u4e00-\u9fff]")  # no guess read it


def _refuse_mixed(data: bytes, name: str, codec: str | None) -> None:
    """Refuse a file whose lines are in two encodings, naming a line of each: rows of a
    UTF-8 export pasted under rows of a cp1252 or Shift-JIS one were read as 'cafÃ© crÃ¨me'
    and '譚ｱ莠ｬ' with only the usual "read as cp1252" warning. A line counts as UTF-8 when it
    decodes as UTF-8 to text (`_TEXT_LETTERS`, nothing `_OTHER_CHAR`), which a line of the
    other encoding does only by rare chance (`--encoding` then reads the file as named).
    `codec`: the guess that reads the other lines, None when none reads them plausibly."""
    letters = _TEXT_LETTERS[codec != "cp1252"] if codec else _ANY_LETTER
    utf8_line = other_line = None
    for number, line in enumerate(data.split(b"\n"), start=1):
        if line.isascii():
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            other_line = other_line or number
        else:
            if letters.search(text) and not _OTHER_CHAR.search(text):
                utf8_line = utf8_line or (number, text)
        if utf8_line and other_line:
            shown = utf8_line[1].strip()[:40]
            raise InputError(
                f"mixes encodings: line {utf8_line[0]} is UTF-8 ({shown!r}) and line "
                f"{other_line} is not{f' (it reads as {codec})' if codec else ''}, so one of "
                "them would be garbled; save the file in one encoding, or choose one with "
                "--encoding (or Encoding on the Explore page)", file=name)


def _sample(reference: str, text: str, width: int = 24) -> str:
    """Where `text` first differs from `reference`, a few characters around it."""
    at = next((i for i, (a, b) in enumerate(zip(reference, text, strict=False)) if a != b),
              min(len(reference), len(text)))
    start = max(0, at - 6)
    return text[start:start + width].replace("\n", " ")


def odd_share(text: str, *, japanese: bool) -> float:
    """Share of the non-ASCII characters of `text` that look wrong for its script.

    Anywhere: C1 control, private-use and unassigned characters. Western text: non-ASCII
    characters come one at a time inside or beside words (`café`, `à`) or two beside
    a letter (`informações`); runs of three or more, or two standing alone, are what
    Japanese bytes turn into (`“Œ‹ž`). Japanese text: a run wedged between two ASCII
    letters (`cr鑪e` from `crème`) and half-width katakana touching an ASCII letter
    (`CAFﾉ` from `CAFÉ`) are odd; so is text with many kanji and not one kana, which is
    Chinese (GB2312 bytes read as EUC-JP), not Japanese.
    """
    odd = total = 0
    n = len(text)
    i = 0
    while i < n:
        if ord(text[i]) < 128 or text[i].isspace():
            i += 1
            continue
        start = i
        while i < n and ord(text[i]) >= 128 and not text[i].isspace():
            i += 1
        run = text[start:i]
        total += len(run)
        before = text[start - 1] if start else ""
        after = text[i] if i < n else ""
        letter_before = before.isascii() and before.isalpha()
        letter_after = after.isascii() and after.isalpha()
        odd += sum(unicodedata.category(c) in ("Cc", "Co", "Cn", "Cs") for c in run)
        if japanese:
            if letter_before and letter_after:
                odd += len(run)
                continue
            if letter_before or letter_after:
                odd += sum(_HALFWIDTH_KATAKANA[0] <= ord(c) <= _HALFWIDTH_KATAKANA[1]
                           for c in run)
        elif len(run) >= 3 or (len(run) == 2 and not (letter_before or letter_after)):
            odd += len(run)
    if japanese and not _KANA.search(text) and len(_KANJI.findall(text)) >= _KANJI_WITHOUT_KANA:
        return 1.0
    return odd / total if total else 0.0


__all__ = ["AUTO", "BOMS", "CHOICES", "GUESSES", "check_choice", "decode", "odd_share"]

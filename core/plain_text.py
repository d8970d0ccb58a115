"""Which characters of a name a person cannot see or that break a line.

User names, topic names and brand phrases are shown in every picker, table, CSV and API
answer: a bell, a newline or a zero-width space in one garbles them or makes two names
look equal. Control, format and line/paragraph separator characters are refused, except
the zero-width (non-)joiners that Persian and Indic scripts need to spell words.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from collections.abc import Iterable

from core.errors import InputError, quoted

_HIDDEN = ("Cc", "Cf", "Zl", "Zp")
_JOINERS = ("\u200c", "\u200d")  # ZWNJ and ZWJ: part of correct spelling in some scripts
# Hidden characters that separate words where they stand: a cleaned cell gets a space.
_SEPARATORS = "\t\n\v\f\r\x1c\x1d\x1e\x1f\x85\u2028\u2029"


def hidden_characters(text: str) -> str:
    """The hidden characters of `text` as `U+XXXX, …` (each once), or "" when none.
    Text Python calls printable has none (it has no Cc, Cf, Zl or Zp character), and
    that test runs in C: the loop below cost ~8 µs per keyword, 0.4 ms of every
    50-keyword `/v1/neighbors` request and Lookup paste, all of them plain text."""
    if text.isprintable():
        return ""
    found = [c for c in text if unicodedata.category(c) in _HIDDEN and c not in _JOINERS]
    return ", ".join(f"U+{ord(c):04X}" for c in dict.fromkeys(found))


def first_hidden(texts: Iterable[str], what: str) -> str | None:
    """`<what> <n> '<text>' holds control or invisible characters (U+…)` for the first of
    `texts` (numbered from 1) that holds one, else None; the caller says what to do.
    Pasted keywords, service keywords and stop words are checked so: such a word matches
    no token, so it was unknown to every model, or a stop word that removed nothing."""
    for number, text in enumerate(texts, 1):
        if bad := hidden_characters(text):
            return (f"{what} {number} {quoted(text)} holds control or invisible characters "
                    f"({bad})")
    return None


def given_id(campaign_id: str) -> str:
    """A campaign id as typed or sent, without surrounding spaces: an import trims every id
    it stores, so `" C1"` (pasted with a space, a cell padded by a spreadsheet) can only
    mean `C1`; it was "No campaign ' C1'" from the CLI and a 404 from the service. A
    value that is not text is left for the caller's own check."""
    return campaign_id.strip() if isinstance(campaign_id, str) else campaign_id


def plain_line(value: object, what: str, limit: int) -> str:
    """`value` stripped, or an InputError naming what is wrong: not text, a hidden
    character, or more than `limit` characters. `what` names it ("topic name")."""
    if not isinstance(value, str):
        raise InputError(f"A {what} is text, not {type(value).__name__} ({value!r:.80}).")
    value = value.strip()
    bad = hidden_characters(value)
    if bad:
        raise InputError(f"The {what} {value[:40]!r} holds control or invisible characters "
                         f"({bad}); use plain text on one line.")
    if len(value) > limit:
        raise InputError(f"A {what} may have at most {limit} characters, not {len(value):,}.")
    return value


@functools.cache
def hidden_pattern() -> re.Pattern[str]:
    """One hidden character (as `hidden_characters` judges them), as a compiled class, so
    that millions of imported cells are checked at the regex engine's speed. Built once
    per process from the Unicode tables (about 0.1 s)."""
    codes = [c for c in range(sys.maxunicode + 1)
             if unicodedata.category(chr(c)) in _HIDDEN and chr(c) not in _JOINERS]
    spans: list[list[int]] = []
    for code in codes:
        if spans and spans[-1][1] == code - 1:
            spans[-1][1] = code
        else:
            spans.append([code, code])
    return re.compile("[" + "".join(
        re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
        for a, b in spans) + "]")


def visible_text(text: str) -> str:
    """`text` without its hidden characters: tabs, line breaks and other separators become
    a space (two words stay two), the rest (ESC, NUL, zero-width space, BOM) go."""
    return hidden_pattern().sub(lambda m: " " if m.group() in _SEPARATORS else "", text)

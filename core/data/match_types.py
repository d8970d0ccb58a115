"""Google Ads match-type marks: `[exact]`, `"phrase"`, `+broad +modifier`.

One rule for the whole product: the readers keep the bare term and record the match type
the marks imply; the tokenizer sees the same bare term, so a keyword tokenises the same
whether it was exported with or without its marks.
"""

from __future__ import annotations


def strip_match_decoration(term: str) -> tuple[str, str | None]:
    """`[a b]` -> exact, `"a b"` -> phrase, `+a +b` -> broad; whitespace collapsed.

    Returns the bare term and the match type its decoration implies (None if undecorated).
    Doubled quotes around a phrase (`\"\"\"a b\"\"\"`, a CSV-escaped export) go as well.
    """
    text = " ".join(term.split())
    if len(text) < 2:
        return text, None
    if text[0] == "[" and text[-1] == "]":
        return " ".join(text[1:-1].split()), "exact"
    if text[0] == '"' and text[-1] == '"':
        return " ".join(text.strip('"').split()), "phrase"
    if "+" not in text:
        return text, None
    tokens = text.split(" ")
    if any(len(token) > 1 and token[0] == "+" for token in tokens):
        bare = " ".join(token[1:] if token.startswith("+") else token for token in tokens)
        return " ".join(bare.split()), "broad"
    return text, None

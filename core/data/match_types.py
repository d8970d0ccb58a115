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


# How the Google Ads UI names the match types (Match type column, report values such as
# "Exact match (close variant)"), by the start of the name as `normalise_name` gives it;
# the English ones ("exact match", "phrase match", "broad match") are matched by their
# first word. French calls phrase match "Expression exacte" and exact match "Mot clé
# exact", so "exact" alone is no sign of exact match outside English. German, French,
# Spanish and Japanese names follow Google Ads' help centre; Italian, Portuguese and Dutch
# ones could not be confirmed against a real export.
MATCH_TYPE_NAMES: dict[str, str] = {
    "exact": "exact", "phrase": "phrase", "broad": "broad",
    # de
    "exaktpassend": "exact", "genaupassend": "exact", "wortgruppe": "phrase",
    "passendewortgruppe": "phrase",
    "weitgehendpassend": "broad",
    # fr
    "motcléexact": "exact", "expressionexacte": "phrase", "requêtelarge": "broad",
    # es
    "concordanciaexacta": "exact", "concordanciadefrase": "phrase",
    "concordanciaamplia": "broad",
    # it
    "corrispondenzaesatta": "exact", "corrispondenzaafrase": "phrase",
    "corrispondenzagenerica": "broad",
    # pt
    "correspondênciaexata": "exact", "correspondênciadefrase": "phrase",
    "correspondênciaampla": "broad",
    # nl
    "exactzoeken": "exact", "woordgroep": "phrase", "zoekenopwoordgroep": "phrase",
    "breedzoeken": "broad",
    # ja
    "完全一致": "exact", "フレーズ一致": "phrase", "部分一致": "broad",
}


def named_match_type(key: str) -> str | None:
    """The match type a normalised Match type cell names ("exaktpassend" -> exact),
    by its longest known start, or None."""
    starts = [name for name in MATCH_TYPE_NAMES if key.startswith(name)]
    return MATCH_TYPE_NAMES[max(starts, key=len)] if starts else None


# How a Match type (or Google Ads Editor's Criterion type) cell names a negative keyword:
# "Negative Phrase", "Campaign Negative Exact", "Negativo", "Négatif", "除外キーワード",
# "Ausschließendes Keyword", "Uitsluitingszoekwoord" (normalised, so without spaces).
NEGATIVE_MARKS = ("negativ", "négati", "除外", "ausschlie", "uitsluit")


def names_a_negative(key: str) -> bool:
    """Whether a normalised match type cell says the row is a negative keyword: what a
    campaign excludes, not what it targets."""
    return any(mark in key for mark in NEGATIVE_MARKS)


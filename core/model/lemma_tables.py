"""Corrections to spaCy's lookup lemma tables for keywords, which are mostly nouns.

A lookup table maps a form to a lemma without its part of speech: spaCy's rule
lemmatizers need a tagger, and no model is downloaded. So where a noun is also a form of a
verb (or an adjective's comparative), the table often gives the verb: Spanish "casa" (a
house) became "casar" (to marry), "vino" (wine) "venir" (to come), "tienda" (a shop)
"tender"; Italian "conto" "contare", "offerte" "offrire"; English "wedding" "wed". These
were the words topics were named by and campaigns matched on, and a noun's singular and
plural could even get two lemmas ("viaje" "viajar", "viajes" "viaje"). Dutch's table lacks
plurals its own data lists ("winkels" stayed apart from "winkel").

The corrections here patch the table a pipeline lemmatises with (`apply`), once per
process. Each one is a `TextConfig` setting that a model trained before it existed keeps
off, so its tokens do not change.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

# English's lookup table reads every -ing form as its verb, every -er form that is also a
# comparative as its adjective, and a few nouns as another word. In keywords and titles
# these are mostly nouns: "grooming" (pets) became "groom" (weddings), "accounting"
# "account", "hosting" "host", "wedding" "wed", "ceiling" "ceil", "number" "numb",
# "broker" "broke", "cleaner" "clean", "dryer" "dry", "taxes" "taxis", "rent" "rend",
# "shot" "shoot", "weed" "wee", "data" "datum". Kept as written: the table's -ing and -er
# forms, and these nouns, which have no singular of the same meaning (plural-only nouns,
# Latin plurals used as mass nouns, fields and product classes in -ics whose -ic is an
# adjective: "aesthetics" clinics beside "aesthetic"), or whose lemma is another word.
ENGLISH_NOUN_FORMS = {
    "taxes": "tax",                     # the table's "taxis"
    **{noun: noun for noun in (
        "weed", "rent", "shot", "led", "rose", "vegas")},   # "wee", "rend", "shoot" …
    **{noun: noun for noun in (
        "data", "media", "clothes", "glasses", "sunglasses", "goods", "pants", "shorts",
        "trousers", "scissors", "pliers", "tongs", "tweezers", "savings", "premises",
        "headquarters", "arms", "logistics", "electronics", "physics", "athletics",
        "politics", "statistics", "robotics", "genetics", "aesthetics", "cosmetics",
        "acoustics", "ethics", "obstetrics", "geriatrics", "graphics", "optics")},
}

# The languages whose nouns spaCy's data lists by part of speech, read first by
# `noun_first` (Portuguese has one table only; French's and German's tables read the
# keywords measured right).
NOUN_FIRST_LANGUAGES = ("es", "it", "nl")


def apply(table, language: str, *, noun_forms: bool, noun_first: bool) -> None:
    """Patch spaCy's `lemma_lookup` table of a pipeline of `language` in place:
    German's nouns in lower case; English's noun forms (`TextConfig.noun_forms`); the
    nouns and adjectives of Spanish, Italian and Dutch first (`TextConfig.noun_first`)."""
    if language == "de":
        _lower_case_nouns(table)
    if language == "en" and noun_forms:
        _keep_noun_forms(table)
    if language in NOUN_FIRST_LANGUAGES and noun_first:
        for form, lemma in nouns_first(language).items():
            table.set(form, lemma)


def lookup_table(language: str) -> dict[str, Any]:
    """The `lemma_lookup` table as spacy-lookups-data ships it (form -> lemma, or a list of
    them): spaCy's own `Table` keeps hashes, not words."""
    return _table(language, "lemma_lookup")


def _table(language: str, name: str) -> Any:
    from spacy.util import load_language_data, registry

    return load_language_data(registry.lookups.get(language)[name])


def _keep_noun_forms(table) -> None:
    """English's -ing and -er forms and `ENGLISH_NOUN_FORMS` as their own lemmas (or the
    right one)."""
    for key, lemma in lookup_table("en").items():
        if key.endswith(("ing", "er")) and lemma != key:
            table.set(key, key)
    for key, lemma in ENGLISH_NOUN_FORMS.items():
        table.set(key, lemma)


def _lower_case_nouns(table) -> None:
    """German's lookup table spells nouns as German does ("Schuhe" -> "Schuh"), and
    keywords are mostly written in lower case ("schuhe"), which it did not find: each
    capitalised form also under its lower-case spelling, unless that is a form of its own
    ("essen", to eat, beside the noun "Essen")."""
    for key, lemma in lookup_table("de").items():
        lower = key.lower()
        if lower != key and lower not in table and isinstance(lemma, str):
            table.set(lower, lemma.lower())


@cache   # one per language and process: Spanish's 490,000 forms take about 1 s
def nouns_first(language: str) -> dict[str, str]:
    """The corrections `noun_first` makes: each form of `language`'s lookup table that the
    part-of-speech data knows as a noun or an adjective, and the table as another word
    that is neither (a verb, or a slip), with its noun's lemma, else its adjective's:
    "casa" -> "casa", not "casar". Where the table gave a noun or an adjective it is kept,
    so an adjective's genders stay one word ("nueva" -> "nuevo"); verb forms that are no
    noun ("comprando") keep their verb.

    Dutch's table holds no form of 3,234 nouns whose plurals its data lists apart
    (`lemma_exc`: "winkels", "advocaten"), which stayed words of their own: each that the
    data does not list as a verb too ("kopen", to buy, beside "koop") gets its singular."""
    if language == "nl":
        table, verbs = lookup_table("nl"), frozenset(_table("nl", "lemma_index")["verb"])
        return {form: lemmas[0] for form, lemmas in _table("nl", "lemma_exc")["noun"].items()
                if form not in table and form not in verbs and isinstance(lemmas[0], str)}
    if language == "it":   # Italian ships its lookup split by part of speech as well
        adjectives, nouns = _table("it", "lemma_lookup_adj"), _table("it", "lemma_lookup_noun")
        lemma_of = {**adjectives, **nouns}.get
        readings = {*adjectives.values(), *nouns.values()} - {
            *_table("it", "lemma_lookup_verb").values()}
    elif language == "es":
        lemma_of, readings = _spanish_noun_or_adjective()
    else:
        raise ValueError(f"no part-of-speech data for language {language!r}")
    corrections = {}
    for form, lemma in lookup_table(language).items():
        if isinstance(lemma, str) and lemma not in readings \
                and isinstance(own := lemma_of(form), str) and own != lemma:
            corrections[form] = own
    return corrections


def _spanish_noun_or_adjective() -> tuple[Callable[[str], str | None], frozenset[str]]:
    """A form's lemma as a Spanish noun, else as an adjective, else None; and the lemmas
    that are a noun's or an adjective's reading (listed as one, and not as a verb). The
    form's lemma is the form itself where spaCy's `lemma_index` lists it, else the first
    listed one that its singular (and masculine) rules (`lemma_rules`, as spaCy's
    `SpanishLemmatizer` applies them) make of it: "casas" -> "casa", "baratas" -> "barato",
    "jóvenes" -> "joven"."""
    index, rules = _table("es", "lemma_index"), _table("es", "lemma_rules")
    accents = str.maketrans(dict(rules["accents"]))
    ways = []
    for listed, endings in ((index["noun"], rules["noun_plur"]),
                            (index["adj"], [*rules["adj_sing_fem"], *rules["adj_plur"]])):
        by_ending: dict[str, list[tuple[int, int, str]]] = {}   # first the rule listed first
        for place, (old, new) in enumerate(endings):
            by_ending.setdefault(old, []).append((place, len(old), new))
        longest = max(map(len, by_ending))

        @cache   # a form's rules depend on its last `longest` letters alone
        def rules_ending(tail: str, by_ending=by_ending, longest=longest) -> list:
            return sorted(rule for n in range(1, longest + 1)
                          for rule in by_ending.get(tail[-n:], ()) if n <= len(tail))

        ways.append((frozenset(listed), rules_ending, longest))

    def lemma_of(form: str) -> str | None:
        for listed, rules_ending, longest in ways:
            if form in listed:
                return form
            for _, cut, new in rules_ending(form[-longest:]):
                stem = form[:len(form) - cut] + new
                if stem in listed:
                    return stem
                if (plain := stem.translate(accents)) in listed:   # jóvenes -> joven
                    return plain
        return None

    return lemma_of, (ways[0][0] | ways[1][0]) - frozenset(index["verb"])

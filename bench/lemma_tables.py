"""How many Spanish, Italian and Dutch nouns does the lookup table turn into other words or
leave apart from their singular, and what does `TextConfig.noun_first` cost?

    .venv/bin/python -m bench.lemma_tables [--runs 3]

No labelled Spanish, Italian or Dutch keywords are at hand, so this measures the lemmas,
not topics. For Spanish and Italian:

- the forms of spaCy's lookup table that the part-of-speech data reads as a noun or an
  adjective, and how many of them the table gives a lemma that is neither (a verb, or a
  slip): the corrections `noun_first` makes; for Spanish also their share of running text
  (stop words aside), weighted by spaCy's `lexeme_prob` word frequencies (Italian ships
  none);
- nouns whose forms (singular, plural) get more than one lemma, with the setting off and
  on: a topic model counts those as different words;
- the hand-written keyword lists of `bench.languages`, tokenised both ways;
- the median seconds, over `--runs`, of making the corrections (once per process).

For Dutch: the plurals its data lists apart from the table (`lemma_exc`), how many the
table lacks and how many are given their singular; its keyword list, both ways.

Then, for Portuguese, which has one table and no part-of-speech data: how a rule that
needs none (keep a form the table turns into an infinitive; a plural in -s becomes the
form without it when that is a form of the table) agrees with Spanish's part-of-speech
answer, and how many of Spanish's other verb forms it would split from their verb.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections import defaultdict

from bench.languages import KEYWORDS
from core.model import lemma_tables
from core.model.text import TextConfig, Tokenizer, _stopwords

_INFINITIVE = ("ar", "er", "ir", "ír")


def tokens(language: str, noun_first: bool) -> list[str]:
    config = TextConfig(language=language, noun_first=noun_first)
    return [w for doc in Tokenizer(config).fit_transform(KEYWORDS[language]) for w in doc]


def split_nouns(language: str, lemma_of_form, patched: dict[str, str]) -> tuple[int, int, int]:
    """Nouns with 2+ forms in the table, and how many get 2+ lemmas before and after."""
    table = lemma_tables.lookup_table(language)
    forms_of = defaultdict(list)
    for form in table:
        if isinstance(own := lemma_of_form(form), str):
            forms_of[own].append(form)
    groups = [forms for lemma, own in forms_of.items() if len(forms := {*own, lemma}) > 1]

    def lemma(form: str, corrected: bool):
        return (corrected and patched.get(form)) or table.get(form, form)

    before = sum(len({str(lemma(f, False)) for f in forms}) > 1 for forms in groups)
    after = sum(len({str(lemma(f, True)) for f in forms}) > 1 for forms in groups)
    return len(groups), before, after


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    for language in lemma_tables.NOUN_FIRST_LANGUAGES:
        seconds = []
        for _ in range(args.runs):
            lemma_tables.nouns_first.cache_clear()
            started = time.perf_counter()
            corrections = lemma_tables.nouns_first(language)
            seconds.append(time.perf_counter() - started)
        table = lemma_tables.lookup_table(language)
        if language == "nl":
            listed = lemma_tables._table("nl", "lemma_exc")["noun"]
            print(f"## nl: {len(table):,} forms; {len(listed):,} plurals listed apart "
                  f"(`lemma_exc`), {sum(f not in table for f in listed):,} of them not in "
                  f"the table; {len(corrections):,} given their singular (the rest are "
                  f"listed as verbs too); corrections made in "
                  f"{statistics.median(seconds):.2f} s (median of {args.runs})")
            keyword_changes(language)
            continue
        lemma_of = (lemma_tables._spanish_noun_or_adjective()[0] if language == "es" else
                    {**lemma_tables._table("it", "lemma_lookup_adj"),
                     **lemma_tables._table("it", "lemma_lookup_noun")}.get)
        readable = sum(isinstance(lemma_of(form), str) for form in table)
        print(f"## {language}: {len(table):,} forms; {readable:,} read as a noun or "
              f"adjective, {len(corrections):,} of them lemmatised by the table as "
              f"another word; corrections made in {statistics.median(seconds):.2f} s "
              f"(median of {args.runs})")
        if language == "es":
            prob = lemma_tables._table("es", "lexeme_prob")
            stop = _stopwords("es")   # never a topic's word
            mass = sum(math.exp(prob.get(form, -30.0)) for form in corrections
                       if form not in stop)
            top = sorted((f for f in corrections if f not in stop),
                         key=lambda f: -prob.get(f, -30.0))[:12]
            print(f"   share of running Spanish text (lexeme_prob) in those forms, stop "
                  f"words aside: {mass:.4f}; the most frequent: "
                  + ", ".join(f"{f} ({table[f]} -> {corrections[f]})" for f in top))
        groups, before, after = split_nouns(language, lemma_of, corrections)
        print(f"   nouns and adjectives of 2+ forms: {groups:,}; given 2+ lemmas: "
              f"{before:,} off, {after:,} on")
        keyword_changes(language)
    portuguese_rule_on_spanish()


def keyword_changes(language: str) -> None:
    off, on = tokens(language, False), tokens(language, True)
    changed = [f"{a} -> {b}" for a, b in zip(off, on, strict=True) if a != b]
    print(f"   hand-written keywords: {len(changed)} of {len(on)} tokens changed: "
          f"{', '.join(changed) or 'none'}")


def portuguese_rule_on_spanish() -> None:
    """The rule without part-of-speech data, tried where the answer is known."""
    table, corrections = lemma_tables.lookup_table("es"), lemma_tables.nouns_first("es")

    def rule(form: str) -> str:
        lemma = table[form]
        if isinstance(lemma, str) and lemma.endswith(_INFINITIVE) and not form.endswith("r"):
            return form[:-1] if form.endswith("s") and form[:-1] in table else form
        return lemma

    agree = sum(rule(form) == lemma for form, lemma in corrections.items())
    verbs = [form for form, lemma in table.items() if form not in corrections
             and isinstance(lemma, str) and lemma.endswith(_INFINITIVE) and lemma != form]
    split = sum(rule(form) != table[form] for form in verbs)
    print(f"## pt: the rule without part-of-speech data, on Spanish: agrees on "
          f"{agree / len(corrections):.1%} of the {len(corrections):,} corrections, and "
          f"splits {split / len(verbs):.1%} of {len(verbs):,} other verb forms from "
          f"their verb")


if __name__ == "__main__":
    main()

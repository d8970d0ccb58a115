"""Which language is a corpus's text? The coverage `core.model.text.detect_language` reads.

    .venv/bin/python -m bench.languages [--runs 3]

For each text (the committed demo's keywords; the WANDS queries, M10 titles and BBC News
articles of the shared data, when it is there; and one hand-written keyword list per
language, `KEYWORDS`), prints the share of its words (2+ letters, with repeats, the first
50,000) each Latin language's word forms cover (the keys and lemmas of spaCy's lookup
table, lower case), the language detected, and the median CPU seconds of
`detect_language` over `--runs` (in one process: the English forms are read once and
kept, the other tables each time they are needed; the answer it keeps for words it has
seen is dropped before each run).

Stop 53, `--runs 3`, one run: the English corpora 0.77 (demo), 0.80 (WANDS), 0.88 (M10),
0.93 (BBC) English and at most 0.29 any other language, detected English in 0.00-0.28 s;
the six lists 0.54-0.81 their own language, at most 0.38 another and 0.00-0.25 English,
each detected as its own, in 0.00 s (by function words) or 3.2 s (Spanish: by every
table). Stop 54, English's stop words counted as English forms: demo 0.83, WANDS 0.84,
the six lists 0.00-0.25 English as before. Stop 56, function words counted as different
words: the same detections in the same time (docs/benchmarks.md, *Languages*).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter

import pandas as pd

from bench.quality import shared_data
from core.model.text import (
    DETECT_WORDS,
    LATIN_LANGUAGES,
    WORD_PATTERN,
    _latin_language,
    detect_language,
    word_coverage,
)
from tests.conftest import DEMO_FILE

# Keyword lists as advertisers in each language write them (lower case, function words
# now and then): plumbers, dentists, removals, tyres, hotels, insurance, shoes.
KEYWORDS = {
    "de": ["klempner notdienst berlin", "rohrreinigung preise", "zahnarzt in der nähe",
           "umzugsfirma hamburg kosten", "autoreifen online bestellen", "hotels mit pool",
           "kfz versicherung vergleich", "günstige schuhe für damen",
           "schlüsseldienst bei nacht"],
    "fr": ["plombier urgence paris", "débouchage canalisation prix", "dentiste près de chez moi",
           "déménagement lyon devis", "pneus voiture en ligne", "hôtels avec piscine",
           "assurance auto comparateur", "chaussures pas cher femme"],
    "es": ["fontanero urgente madrid", "desatascos precios", "dentista cerca de mí",
           "mudanzas barcelona presupuesto", "neumáticos online", "hoteles con piscina",
           "seguro de coche comparar", "zapatos baratos mujer", "tienda online zapatillas nike"],
    "it": ["idraulico urgente roma", "spurgo tubature prezzi", "dentista vicino a me",
           "traslochi milano preventivo", "pneumatici online", "alberghi con piscina",
           "assicurazione auto confronto", "scarpe economiche donna",
           "traslochi senza pensieri", "hotel della costa"],
    "pt": ["encanador urgente lisboa", "desentupimento preços", "dentista perto de mim",
           "mudanças porto orçamento", "pneus online", "hotéis com piscina",
           "seguro automóvel comparar", "sapatos baratos mulher",
           "dentista sem marcação"],
    "nl": ["loodgieter spoed amsterdam", "ontstoppen prijzen", "tandarts in de buurt",
           "verhuisbedrijf rotterdam kosten", "autobanden online bestellen",
           "hotels met zwembad", "autoverzekering vergelijken", "goedkope schoenen dames",
           "fietsen voor kinderen", "verhuizen naar spanje", "het beste hotel"],
}


def texts() -> dict[str, list[str]]:
    """Each text of the table: one list of strings per text."""
    found = {"demo keywords": pd.read_parquet(DEMO_FILE, columns=["term"])["term"].tolist()}
    shared = shared_data()
    queries = shared / "wands_queries" / "query.csv"
    if queries.is_file():
        found["WANDS queries"] = pd.read_csv(queries, sep="\t")["query"].tolist()
    for label, folder in (("M10 titles", "octis_m10"), ("BBC News", "octis_bbc_news")):
        path = shared / folder / "corpus.tsv"
        if path.is_file():
            found[label] = [line.split("\t")[0] for line in
                            path.read_text(encoding="utf-8").splitlines()]
    return found | {f"{lang} keywords (hand-written)": kw for lang, kw in KEYWORDS.items()}


def words_of(docs: list[str]) -> Counter[str]:
    """The words `detect_language` counts: 2+ letters, lower case, the first 50,000."""
    words: Counter[str] = Counter()
    for doc in docs:
        words.update(WORD_PATTERN.findall(doc.lower()))
        if words.total() >= DETECT_WORDS:
            break
    return words


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"| text | {' | '.join(LATIN_LANGUAGES)} | detected | CPU s |")
    print(f"|---|{'---|' * len(LATIN_LANGUAGES)}---|---|")
    for label, docs in texts().items():
        words = words_of(docs)
        cover = [f"{word_coverage(words, lang):.3f}" for lang in LATIN_LANGUAGES]
        seconds, detected = [], set()
        for _ in range(args.runs):
            _latin_language.cache_clear()  # the first detection of these words, every run
            started = time.process_time()
            detected.add(detect_language([docs]))
            seconds.append(time.process_time() - started)
        print(f"| {label} | {' | '.join(cover)} | {', '.join(sorted(detected))} | "
              f"{statistics.median(seconds):.2f} |", flush=True)


if __name__ == "__main__":
    main()

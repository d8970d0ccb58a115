"""Turn campaign keywords into tokens: the one place spaCy is used.

The settings are a small frozen `TextConfig` saved with every model, and the fitted
`Tokenizer` (language + learned bigram phrases) is saved beside it, so new campaigns
are tokenised at scoring time exactly as the training data was.

No spaCy model is downloaded: English and the other Latin-script languages of the
Google Ads UI that spaCy has lookup lemmas for (German, French, Spanish, Italian,
Portuguese, Dutch) are `spacy.blank(lang)` with the lookup lemmatizer from
`spacy-lookups-data` and spaCy's stop words; Japanese is `spacy.blank("ja")`, i.e.
SudachiPy with sudachidict-core (its tokenizer made by `ja_tokenizer`, below).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import numbers
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from core.data.match_types import strip_match_decoration
from core.errors import InputError, quoted, shown
from core.jsonable import python_numbers
from core.model import lemma_tables
from core.model.lemma_tables import lookup_table as _lookup_table
from core.plain_text import first_hidden

# Space-separated languages, tokenised alike: spaCy's rule-based tokenizer, its lookup
# lemmas and stop words. English first: the fallback when nothing else is clearly the text's.
LATIN_LANGUAGES = ("en", "de", "fr", "es", "it", "pt", "nl")
LANGUAGES = ("auto", *LATIN_LANGUAGES, "ja")
LANGUAGE_NAMES = {"auto": "detected from the text", "en": "English", "de": "German",
                  "fr": "French", "es": "Spanish", "it": "Italian", "pt": "Portuguese",
                  "nl": "Dutch", "ja": "Japanese"}
WEIGHTINGS = (None, "impressions", "clicks")
JA_SPLIT_MODES = ("A", "B", "C")

# Share of CJK letters (kana + kanji) among all letters above which a corpus is Japanese.
# Real Japanese keyword lists mix in Latin words (`aws 構築`, `gps キッズ`), so the bar is
# low; an English corpus has practically no CJK letters.
JA_CJK_SHARE = 0.2
# Share of a corpus's words (of 2+ letters, counted with repeats) that English's word
# forms (the keys and lemmas of spaCy's English lookup table) cover, at or above which it
# is English without looking further: English corpora measured 0.77 (demo keywords), 0.80
# (WANDS queries), 0.88 (M10 titles), 0.93 (BBC News); German, French, Spanish, Italian,
# Portuguese and Dutch keyword lists 0.00-0.25. Below it, the function words only one
# language has (its spaCy stop words that no other language's list holds and that are no
# English word: "für", "avec", "voor") decide when at least `FUNCTION_WORDS` different
# ones are one language's and twice any other's; else (keywords with too few such words)
# another language is chosen when its word forms cover at least `OTHER_COVERAGE` and
# `OTHER_MARGIN` more than English's (those lists: 0.54-0.81 their own language, at most
# 0.38 any other; `python -m bench.languages`). Else English, as before other languages were known.
EN_COVERAGE = 0.5
FUNCTION_WORDS = 3
OTHER_COVERAGE = 0.4
OTHER_MARGIN = 0.15
DETECT_WORDS = 50_000   # the words (of a corpus's first documents) that decide its language
WORD_PATTERN = re.compile(r"[^\W\d_]{2,}")

_CJK_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f]")
_KANJI_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3005]")
_LATIN_WORD_RE = re.compile(r"^[a-z][a-z0-9'.&-]*$")
_NBATCH = 1000
# Marks that separate words in keywords but that spaCy's tokenizer keeps inside a
# token ("boiler;repair", "boiler、repair"): read as spaces, as the CLI's `--text` and the
# Lookup page read them between keywords. spaCy splits the others (, / - …) itself.
_WORD_SEPARATORS = str.maketrans(dict.fromkeys(";|、・", " "))
_HAS_SEPARATOR = re.compile(r"[;|、・]")  # most terms have none: translate only those
_ASCII_SEPARATORS = r"[;|]"   # those of them a plain (ASCII) term can hold, for Arrow
# Sudachi POS (Universal Dependencies, as spaCy reports them) that carry content.
_JA_CONTENT_POS = frozenset({"NOUN", "PROPN", "VERB", "ADJ"})
_JA_AFFIX_TAGS = ("接尾辞", "接頭辞")  # 化 in クラウド化, お in お見積り
# Sudachi refuses a text over 49,149 UTF-8 bytes ("Input is too long"): a longer Japanese
# term (a field an import accepts holds up to 128K characters) is read in pieces of at most
# this many characters (4 bytes each at most), cut after a space or punctuation mark.
_JA_PIECE_CHARS = 12_000
_JA_CUT_AFTER = re.compile(r"[\s。．.、，,！!？?」』）)]")


_WHOLE_SETTINGS = ("min_token_len", "bigram_min_count", "no_below", "keep_n")
_REAL_SETTINGS = ("no_above", "bigram_threshold")


def check_numbers(config: TextConfig) -> None:
    """Counts are whole numbers and shares and thresholds finite ones: `keep_n=1e4` failed
    inside gensim ("slice indices must be integers"), `min_token_len=inf` said "lower
    no_below", and `no_below="3"` was a bare TypeError. Checked where a corpus is built
    and training starts, not in TextConfig: a model saved with such a setting still
    loads (`no_below=2.5` trained)."""
    for name in _WHOLE_SETTINGS:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise InputError(f"TextConfig: {name} must be a whole number, not {shown(value)}")
    for name in _REAL_SETTINGS:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, numbers.Real) \
                or not math.isfinite(value):
            raise InputError(f"TextConfig: {name} must be a finite number, not {shown(value)}")


# Settings added after models had been trained without them, each with the value that
# tokenises as those models did: a trained model's saved config lacking one is read so
# (`TextConfig.from_dict(..., trained=True)`), and keeps its identity
# (`core.serve.registry.model_identity`).
ADDED_SETTINGS = {"noun_forms": False, "noun_first": False}


@dataclass(frozen=True)
class TextConfig:
    """How text becomes tokens and which tokens make the vocabulary.

    Defaults suit short ad keywords (campaigns of 15-150 terms): lemmas, no bigrams
    (too few repeats in short documents to learn them), tokens of 2+ letters, and a
    vocabulary of words seen in at least 2 campaigns and at most half of them.
    `soft_terms` also learns which vocabulary words are similar (`core.model.term_vectors`), so
    that neighbours match "emergency plumber" with "urgent plumber": it helps short titles
    (M10) but blurred the demo's verticals, so it is off by default. `word_vectors` keeps
    the word vectors that word2vec learns on the corpus, for the campaign-vector part of
    the neighbour score (`core.model.campaign_vectors`): it lifted every corpus measured,
    so it is on by default.
    """

    language: str = "auto"               # "auto" or one of LANGUAGES; auto = detect_language()
    lemmatize: bool = True
    extra_stopwords: tuple[str, ...] = ()  # matched case-insensitively
    min_token_len: int = 2               # Latin-script tokens; CJK words may be 1 kanji
    keep_numbers: bool = False
    bigrams: bool = False                # learn gensim Phrases within each term
    bigram_min_count: int = 5
    bigram_threshold: float = 10.0
    no_below: int = 2                    # drop words in fewer documents than this
    no_above: float = 0.5                # drop words in a larger share of documents
    keep_n: int = 50_000                 # then keep at most this many most frequent words
    weight_by: str | None = None         # None | "impressions" | "clicks"; see core.model.corpus
    pretokenized: bool = False           # text is already tokens: split on whitespace only
    ja_split_mode: str = "B"             # Sudachi mode: B splits 勤怠管理 into 勤怠 / 管理
    soft_terms: bool = False             # learn word similarity (word2vec on the corpus) for
                                         # the neighbour score; see core.model.term_vectors
    word_vectors: bool = True            # keep word2vec's vectors for campaign vectors;
                                         # see core.model.campaign_vectors
    noun_forms: bool = True              # English: -ing and -er forms and some nouns kept
                                         # as written (`ENGLISH_NOUN_FORMS`)
    noun_first: bool = True              # Spanish, Italian, Dutch: a noun or adjective
                                         # form takes its noun's or adjective's lemma
                                         # ("casa", not "casar"; "winkels" "winkel");
                                         # see core.model.lemma_tables

    def __post_init__(self) -> None:
        if isinstance(self.extra_stopwords, str):  # tuple("ab") would be ("a", "b")
            raise InputError("TextConfig: extra_stopwords is a list of words, not one string "
                             f"({quoted(self.extra_stopwords)}); parse_stopwords splits "
                             "comma-separated text.")
        object.__setattr__(self, "extra_stopwords", tuple(self.extra_stopwords))
        for f in dataclasses.fields(self):  # numpy numbers (a grid from np.arange) as
            object.__setattr__(self, f.name, python_numbers(getattr(self, f.name)))
        for name in (*_WHOLE_SETTINGS, *_REAL_SETTINGS):  # compared below: `no_below="3"`
            value = getattr(self, name)                    # was a bare TypeError
            if not isinstance(value, numbers.Real):
                raise InputError(f"TextConfig: {name} must be a number, not {shown(value)}")
        checks = [
            (self.language in LANGUAGES, f"language must be one of {LANGUAGES}"),
            (self.weight_by in WEIGHTINGS, f"weight_by must be one of {WEIGHTINGS}"),
            (self.ja_split_mode in JA_SPLIT_MODES,
             f"ja_split_mode must be one of {JA_SPLIT_MODES}"),
            (self.min_token_len >= 1, "min_token_len must be at least 1"),
            (self.no_below >= 1, "no_below must be at least 1"),
            (0 < self.no_above <= 1, "no_above must be in (0, 1]"),
            (self.keep_n >= 1, "keep_n must be at least 1"),
            (self.bigram_min_count >= 1, "bigram_min_count must be at least 1"),
            (self.bigram_threshold > 0, "bigram_threshold must be positive"),
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(f"TextConfig: {message}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples become lists)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) }
        out["extra_stopwords"] = list(self.extra_stopwords)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, trained: bool = False) -> TextConfig:
        """Inverse of `to_dict`; unknown keys are an error that names them. `trained`: the
        config a model was trained with, which tokenises new text as its training text
        was: a setting added since it was saved (`ADDED_SETTINGS`) is off."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"TextConfig: unknown settings {unknown}; known are {sorted(known)}")
        return cls(**{**(ADDED_SETTINGS if trained else {}), **data})


def check_stopwords(words: Iterable[object]) -> tuple[str, ...]:
    """Stop words to train with, or an InputError naming the first that is not text or
    holds a control or invisible character (ESC, NUL, a zero-width space): such a word
    matches no token, so it was saved with the model and silently removed nothing."""
    words = tuple(words)
    for number, word in enumerate(words, 1):
        if not isinstance(word, str):
            raise InputError(f"Extra stop word {number} is {type(word).__name__} "
                             f"({quoted(word)}), not text.")
    if problem := first_hidden(words, "Extra stop word"):
        raise InputError(f"{problem}; type plain words, separated by commas.")
    return words


def parse_stopwords(text: str) -> tuple[str, ...]:
    """The Train page's comma-separated stop words, stripped and lower-cased, each checked
    by `check_stopwords`."""
    return check_stopwords(w.strip().lower() for w in text.split(",") if w.strip())


def detect_language(texts: Iterable[str] | Iterable[Sequence[str]]) -> str:
    """"ja" when at least `JA_CJK_SHARE` of the letters are kana/kanji; else the Latin
    language whose word forms cover the words best (`EN_COVERAGE`, `OTHER_COVERAGE`),
    English unless another is clearly the text's.

    Accepts strings or documents that are lists of terms. No letters at all gives "en".
    """
    cjk = letters = counted = 0
    words: Counter[str] = Counter()
    for text in texts:
        for chunk in ([text] if isinstance(text, str) else text):
            chunk = str(chunk)
            letters += sum(ch.isalpha() for ch in chunk)
            cjk += len(_CJK_RE.findall(chunk))
            if counted < DETECT_WORDS:
                found = WORD_PATTERN.findall(chunk.lower())
                words.update(found)
                counted += len(found)
    if letters and cjk / letters >= JA_CJK_SHARE:
        return "ja"
    return latin_language(words)


def latin_language(words: Counter[str]) -> str:
    """The language of these lower-case words and their counts (`detect_language`). The
    lookup tables of the other languages (0.2-1.2 s each to read) are read only when
    English covers too few of the words, and the answer is kept for the same words: each
    retraining of a dataset version, and the quality gate of a promotion, which builds the
    corpus again, read them once per process."""
    return _latin_language(frozenset(words.items()))


@lru_cache(maxsize=8)
def _latin_language(counts: frozenset[tuple[str, int]]) -> str:
    words = Counter(dict(counts))
    total = words.total()
    if not total:
        return "en"
    english = word_coverage(words, "en")
    if english >= EN_COVERAGE:
        return "en"
    own = _function_words()
    # different words, not occurrences: stop lists hold a few content words (Italian's
    # "casa"), and a Spanish estate agent's "casa" in every row outvoted Spanish words
    votes = sorted(((len(own[lang].intersection(words)), lang)
                    for lang in LATIN_LANGUAGES[1:]), reverse=True)
    if votes[0][0] >= FUNCTION_WORDS and votes[0][0] >= 2 * votes[1][0]:
        return votes[0][1]
    coverage = {lang: word_coverage(words, lang) for lang in LATIN_LANGUAGES[1:]}
    best = max(coverage, key=coverage.__getitem__)
    chosen = (coverage[best] >= OTHER_COVERAGE
              and coverage[best] >= english + OTHER_MARGIN)
    return best if chosen else "en"


def word_coverage(words: Counter[str], language: str) -> float:
    """Share of the words (with their counts) that are word forms of `language`: the keys
    or lemmas of its spaCy lookup table, in lower case (or capitalised: German nouns)."""
    known = _english_forms().__contains__ if language == "en" else _is_form(language)
    return sum(n for w, n in words.items() if known(w)) / max(words.total(), 1)


@lru_cache(maxsize=1)
def _function_words() -> dict[str, frozenset[str]]:
    """Per language other than English, its stop words that no other language's list holds
    and that are no English word form ("car" is in French's list, "local" in Portuguese's)."""
    lists = {lang: _stopwords(lang) - _stopwords("en") for lang in LATIN_LANGUAGES[1:]}
    english = _english_forms()
    return {lang: frozenset(w for w in words if w not in english and not any(
                w in lists[other] for other in lists if other != lang))
            for lang, words in lists.items()}


@lru_cache(maxsize=1)
def _english_forms() -> frozenset[str]:
    """English's keys, lemmas and stop words in lower case (67,000 forms in 0.03 s), kept.
    The table holds a word only where its lemma differs or is its own, so "the", "and" and
    "of" were in no table: rows of them alone were read as no language's."""
    table = _lookup_table("en")
    return frozenset(map(str.lower, itertools.chain(table, _lemmas(table),
                                                    _stopwords("en"))))


def _is_form(language: str) -> Callable[[str], bool]:
    """Whether a lower-case word is a key of the language's table as written or
    capitalised, or one of its lemmas. Read for one detection, not kept (Portuguese's
    820,000 forms: about 1 s; 1.6 s with every key lower-cased as well)."""
    table = _lookup_table(language)
    lemmas = frozenset(map(str.lower, _lemmas(table)))
    return lambda w: w in table or w.capitalize() in table or w in lemmas


def _lemmas(table: dict[str, Any]) -> set[str]:
    """The table's distinct lemmas (a value is one, or a list of them). Made distinct before
    anything else touches them: Portuguese's 820,000 values are 84,000 lemmas."""
    values = table.values()
    lemmas = {v for v in values if isinstance(v, str)}
    lemmas.update(v for value in values if isinstance(value, list) for v in value
                  if isinstance(v, str))
    return lemmas


def strip_decorations(term: str) -> str:
    """The term without its Google Ads match-type marks (the readers' rule,
    `core.data.match_types`)."""
    return strip_match_decoration(term)[0]


@lru_cache(maxsize=4)
def load_nlp(language: str, ja_split_mode: str = "B", noun_forms: bool = True,
             noun_first: bool = True):
    """The blank spaCy pipeline for a language, built once per process (loading is slow).
    `noun_forms`, `noun_first`: the `TextConfig` settings that correct its lookup lemmas
    (`core.model.lemma_tables`)."""
    import spacy

    if language in LATIN_LANGUAGES:
        nlp = spacy.blank(language)
        nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
        nlp.initialize()  # reads the lookup tables from spacy-lookups-data
        lemma_tables.apply(nlp.get_pipe("lemmatizer").lookups.get_table("lemma_lookup"),
                           language, noun_forms=noun_forms, noun_first=noun_first)
        # spaCy's 1M-character guard is for the parser and NER, which this pipeline has
        # not: a longer "word" (a pasted file of one line) is one token, not a traceback.
        nlp.max_length = 2**62
        return nlp
    if language == "ja":
        spacy.registry.tokenizers.register(_JA_TOKENIZER, func=_ja_tokenizer_factory)
        return spacy.blank("ja", config={"nlp": {"tokenizer": {
            "@tokenizers": _JA_TOKENIZER, "split_mode": ja_split_mode}}})
    raise InputError(f"no text pipeline for language {language!r}")


# spaCy 3.8's own Japanese tokenizer ("spacy.ja.JapaneseTokenizer") builds Sudachi's with
# `Dictionary().create()`, which sudachipy 0.7 deprecates: its DeprecationWarning reached
# the output of every process that tokenised Japanese. This one is spaCy's, the same
# tokens and tags, over `Dictionary().tokenizer()`.
_JA_TOKENIZER = "topiclab.ja.SudachiTokenizer"


def _ja_tokenizer_factory(split_mode: str | None = None):
    return lambda nlp: ja_tokenizer(nlp.vocab, split_mode)


def ja_tokenizer(vocab, split_mode: str | None = None):
    """spaCy's `JapaneseTokenizer` with Sudachi's tokenizer made by the current API."""
    from spacy.lang.ja import JapaneseTokenizer
    from sudachipy import Dictionary

    tokenizer = JapaneseTokenizer.__new__(JapaneseTokenizer)
    tokenizer.vocab = vocab
    tokenizer.split_mode = split_mode
    tokenizer.tokenizer = Dictionary().tokenizer(mode=split_mode or "A")
    tokenizer.need_subtokens = split_mode not in (None, "A")   # as spaCy's __init__ sets it
    return tokenizer


@cache   # one per language
def _stopwords(language: str) -> frozenset[str]:
    """spaCy's stop words of the language, and English's with them: keywords in every
    language mix in English words."""
    import importlib

    from spacy.lang.en.stop_words import STOP_WORDS as EN

    own = importlib.import_module(f"spacy.lang.{language}.stop_words").STOP_WORDS
    return frozenset(EN) | frozenset(own)


# Terms that `strip_decorations` + NFKC may change: non-ASCII ones (ASCII is NFKC-stable)
# and those with a match-type mark or with the whitespace `str.strip` removes at an end.
_MAY_CHANGE_RE = r'["+\[\]]|^[\t\n\x0b\x0c\r\x1c-\x1f ]|[\t\n\x0b\x0c\r\x1c-\x1f ]$'


_MAY_CHANGE = re.compile(_MAY_CHANGE_RE)
_FEW_TERMS = 64   # below this, Python's checks beat building an Arrow array


def _plain(array: pa.Array) -> pa.BooleanArray:
    """Per term, whether cleaning leaves it as it is: ASCII, nothing `_MAY_CHANGE_RE` finds."""
    return pc.and_(pc.string_is_ascii(array),
                   pc.invert(pc.match_substring_regex(array, _MAY_CHANGE_RE)))


def _clean_terms(terms: list[str]) -> list[str]:
    """`NFKC(strip_decorations(term))` of each term, calling Python only for the few terms
    a vectorised (Arrow) check says it may change: most keywords are plain ASCII words.
    A few terms (a pasted keyword list) are checked in Python: the same pattern, whose
    `$` also matches before a final newline there, so it sends at least the same terms
    to the full cleaning."""
    if len(terms) < _FEW_TERMS:
        return [t if t.isascii() and not _MAY_CHANGE.search(t)
                else unicodedata.normalize("NFKC", strip_decorations(t)) for t in terms]
    plain = _plain(pa.array(terms, pa.large_string()))
    cleaned = list(terms)
    for i in np.flatnonzero(~plain.to_numpy(zero_copy_only=False)):
        cleaned[i] = unicodedata.normalize("NFKC", strip_decorations(terms[i]))
    return cleaned


def _latin_chunks(text: str) -> list[str]:
    """A cleaned Latin-script term's space-separated chunks, `_WORD_SEPARATORS` read as spaces:
    what `_latin_words` caches, so `Tokenizer.warm` fills the cache with the same ones."""
    if _HAS_SEPARATOR.search(text):  # one C-level scan; translate costs 3x a plain split
        text = text.translate(_WORD_SEPARATORS)
    return text.split(" ")


def _ja_pieces(text: str) -> list[str]:
    """A Japanese text in pieces Sudachi accepts (`_JA_PIECE_CHARS`), each cut after the
    last space or punctuation mark it holds (else at its end); a short text is one piece."""
    pieces = []
    while len(text) > _JA_PIECE_CHARS:
        window = text[:_JA_PIECE_CHARS]
        marks = [m.end() for m in _JA_CUT_AFTER.finditer(window, _JA_PIECE_CHARS // 2)]
        cut = marks[-1] if marks else _JA_PIECE_CHARS
        pieces.append(text[:cut])
        text = text[cut:]
    return [*pieces, text]


def _as_terms(doc: str | Sequence[str]) -> list[str]:
    return [doc] if isinstance(doc, str) else [str(t) for t in doc]


class Tokenizer:
    """Text -> token lists, scikit-learn style: `Tokenizer(config).fit(docs).transform(docs)`.

    A doc is one string or a list of term strings (the keywords of one campaign). Terms
    are tokenised one by one, so bigram phrases never join the end of one keyword to the
    start of the next. `fit` resolves the language (when "auto") and learns the phrases.
    """

    def __init__(self, config: TextConfig | None = None) -> None:
        self.config = config or TextConfig()

    # -- learning ---------------------------------------------------------------------
    def fit(self, docs: Sequence[str | Sequence[str]]) -> Tokenizer:
        cfg = self.config
        if cfg.language == "auto":
            self.language_ = detect_language(docs)
        else:
            self.language_ = cfg.language
        self.phrasegrams_: dict[str, float] = {}
        if cfg.bigrams:
            from gensim.models.phrases import Phrases

            terms = [t for doc in docs for t in _as_terms(doc)]
            sentences = self._tokenize_unigrams(terms)
            phrases = Phrases(sentences, min_count=cfg.bigram_min_count,
                              threshold=cfg.bigram_threshold, delimiter="_")
            self.phrasegrams_ = dict(phrases.export_phrases())
        return self

    def fit_transform(self, docs: Sequence[str | Sequence[str]]) -> list[list[str]]:
        return self.fit(docs).transform(docs)

    # -- applying ---------------------------------------------------------------------
    def transform(self, docs: Sequence[str | Sequence[str]]) -> list[list[str]]:
        """One token list per doc: the tokens of its terms, in order."""
        per_doc = [_as_terms(doc) for doc in docs]
        flat = [t for terms in per_doc for t in terms]
        tokenized = iter(self.tokenize_terms(flat))
        return [[tok for _ in terms for tok in next(tokenized)] for terms in per_doc]

    def tokenize_terms(self, terms: Sequence[str]) -> list[list[str]]:
        """Tokens of each term separately (phrases applied), e.g. for weighting terms."""
        self._check_fitted()
        unigrams = self._tokenize_unigrams(terms)
        if not self.phrasegrams_:
            return unigrams
        return [self._join_phrases(toks) for toks in unigrams]

    def _tokenize_unigrams(self, terms: Sequence[str]) -> list[list[str]]:
        cfg = self.config
        language = getattr(self, "language_", cfg.language)
        stop = {unicodedata.normalize("NFKC", w).lower() for w in cfg.extra_stopwords}
        if cfg.pretokenized:
            return [[w for w in t.split() if w.lower() not in stop] for t in terms]
        unique = list(dict.fromkeys(terms))  # keywords repeat a lot across campaigns
        cleaned = _clean_terms(unique)
        nlp = self.nlp()
        stop |= _stopwords(language)
        if language in LATIN_LANGUAGES:
            chunks = [_latin_chunks(text) for text in cleaned]
            words = self._latin_words(nlp, stop, chunks)
            tokens = [[w for chunk in parts if chunk for w in words[chunk]] for parts in chunks]
        else:
            pieces = [_ja_pieces(text) for text in cleaned]
            docs = iter(nlp.pipe([p for parts in pieces for p in parts], batch_size=_NBATCH))
            tokens = [[w for _ in parts for tok in next(docs) for w in self._keep_ja(tok)
                       if w not in stop] for parts in pieces]
        if len(unique) == len(terms):  # already distinct: unique is terms, in order
            return tokens
        result = dict(zip(unique, tokens, strict=True))
        return [result[t] for t in terms]

    def nlp(self):
        """The spaCy pipeline this tokenizer runs: `load_nlp` of its language and settings,
        built once per process."""
        cfg = self.config
        return load_nlp(getattr(self, "language_", cfg.language), cfg.ja_split_mode,
                        cfg.noun_forms, cfg.noun_first)

    def warm(self, terms: pa.Array | pa.ChunkedArray) -> int:
        """Run spaCy now over every word of these terms (e.g. a model's training terms) that
        a Latin-script tokenizer has not seen, so later calls find them in its cache (see
        `_latin_words`); the tokens are the same either way. A long-running service does
        this once per model: spaCy on an unseen word costs ~0.1 ms, most of a cold
        1,000-item batch of pasted keywords. Returns how many words were added."""
        self._check_fitted()
        cfg = self.config
        language = getattr(self, "language_", cfg.language)
        if cfg.pretokenized or language not in LATIN_LANGUAGES:
            return 0
        distinct = pc.unique(terms).drop_null()   # chunks are hashed as they are
        plain = _plain(distinct)
        separated = pc.replace_substring_regex(distinct.filter(plain), _ASCII_SEPARATORS, " ")
        words = pc.unique(pc.list_flatten(pc.split_pattern(separated, " ")))
        chunks = [words.to_pylist()]
        others = distinct.filter(pc.invert(plain)).to_pylist()   # cleaned as tokenize does
        chunks += [_latin_chunks(text) for text in _clean_terms(others)]
        stop = ({unicodedata.normalize("NFKC", w).lower() for w in cfg.extra_stopwords}
                | _stopwords(language))
        before = len(self.__dict__.get("_chunk_tokens", {}))
        self._latin_words(self.nlp(), stop, chunks)
        return len(self.__dict__["_chunk_tokens"]) - before

    def _latin_words(self, nlp, stop: set[str],
                     chunks: Sequence[Sequence[str]]) -> dict[str, list[str]]:
        """Tokens of every space-separated chunk of the terms, each chunk run through spaCy
        once per tokenizer (the result is kept for later calls).

        spaCy's tokenizer (of every Latin-script language) splits on spaces first and
        handles each chunk on its own, and the lookup lemmatizer and the token filters look
        at one token at a time, so a term's tokens are the concatenation of its chunks'
        tokens. Ad keywords reuse a few thousand words across millions of rows, so this
        avoids almost all spaCy work.
        """
        cache: dict[str, list[str]] = self.__dict__.setdefault("_chunk_tokens", {})
        new = [c for c in set(itertools.chain.from_iterable(chunks)) if c and c not in cache]
        for chunk, doc in zip(new, nlp.pipe(new, batch_size=_NBATCH), strict=True):
            cache[chunk] = [w for tok in doc for w in self._keep_latin(tok) if w not in stop]
        return cache

    def _keep_latin(self, tok) -> list[str]:
        """The token's word; nothing for punctuation, numbers, stop and too-short words."""
        cfg = self.config
        if tok.is_punct or tok.is_space or tok.is_stop or tok.lower_ in _stopwords(tok.lang_):
            return []
        if tok.like_num or not any(ch.isalpha() for ch in tok.text):
            return [tok.lower_] if cfg.keep_numbers and tok.like_num else []
        word = (tok.lemma_ if cfg.lemmatize else tok.text).lower()
        return [word] if len(word) >= cfg.min_token_len else []

    def _keep_ja(self, tok) -> list[str]:
        """Content words (nouns, verbs, adjectives); Latin words kept as they are written.

        Sudachi knows some English phrases (`machine learning`) as one token: they are
        split on spaces. Latin words are only lower-cased, not lemmatised: in Japanese
        keywords they are mostly names (`aws`, `windows`) that an English lemma breaks.
        """
        cfg = self.config
        text = tok.text.lower()
        if _LATIN_WORD_RE.match(text.replace(" ", "")):
            return [w for w in text.split()
                    if len(w) >= cfg.min_token_len and w not in _stopwords("en")]
        if tok.like_num or tok.pos_ == "NUM":
            return [text] if cfg.keep_numbers else []
        if (tok.pos_ not in _JA_CONTENT_POS or tok.tag_.startswith(_JA_AFFIX_TAGS)
                or not any(ch.isalpha() for ch in text)):
            return []
        word = tok.lemma_.lower() if cfg.lemmatize and tok.pos_ in ("VERB", "ADJ") else text
        if len(word) == 1 and (not _KANJI_RE.match(word) or "助数詞" in tok.tag_):
            return []  # stray single kana, counters
        return [word]

    def _join_phrases(self, tokens: list[str]) -> list[str]:
        """Greedy left-to-right merge of learned pairs, as gensim's FrozenPhrases does."""
        if not self.phrasegrams_ or len(tokens) < 2:
            return tokens
        out, i = [], 0
        while i < len(tokens):
            if i + 1 < len(tokens) and f"{tokens[i]}_{tokens[i + 1]}" in self.phrasegrams_:
                out.append(f"{tokens[i]}_{tokens[i + 1]}")
                i += 2
            else:
                out.append(tokens[i])
                i += 1
        return out

    def _check_fitted(self) -> None:
        if not hasattr(self, "language_"):
            raise RuntimeError("Tokenizer is not fitted: call fit(docs) first")

    # -- persistence ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        self._check_fitted()
        return {"config": self.config.to_dict(), "language": self.language_,
                "phrasegrams": self.phrasegrams_}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Tokenizer:
        tokenizer = cls(TextConfig.from_dict(data["config"], trained=True))
        tokenizer.language_ = data["language"]
        tokenizer.phrasegrams_ = dict(data.get("phrasegrams", {}))
        return tokenizer

    def save(self, folder: str | Path) -> Path:
        """Write `tokenizer.json` (config, language, learned phrases) into folder."""
        path = Path(folder) / "tokenizer.json"
        path.write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=1), "utf-8")
        return path

    @classmethod
    def load(cls, folder: str | Path) -> Tokenizer:
        return cls.from_dict(json.loads((Path(folder) / "tokenizer.json").read_text("utf-8")))

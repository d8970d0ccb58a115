"""Text pipeline and corpus: real spaCy/Sudachi on real keywords, no fakes."""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.languages import KEYWORDS
from core.errors import InputError
from core.model.corpus import Corpus, Encoder
from core.model.text import TextConfig, Tokenizer, detect_language, load_nlp, strip_decorations
from tests.conftest import FIXTURES, SONY, shared_data


def sony_keywords(name: str, folder: Path | None = None) -> list[str]:
    """The keywords of a Sony export: of the shared data's 16, or in `folder`."""
    path = folder / name if folder else shared_data(f"{SONY}/{name}")
    frame = pd.read_csv(path, encoding="utf-16", sep="\t", skiprows=2)
    return [str(k) for k in frame["Keyword"].dropna()]


def en_tokens(*terms: str, **config) -> list[str]:
    return Tokenizer(TextConfig(language="en", **config)).fit_transform([list(terms)])[0]


# -- config -------------------------------------------------------------------------------
def test_config_round_trips_through_json_and_is_frozen():
    config = TextConfig(language="ja", extra_stopwords=("無料", "おすすめ"), bigrams=True,
                        no_below=3, weight_by="clicks")
    data = json.loads(json.dumps(config.to_dict()))
    assert TextConfig.from_dict(data) == config
    assert isinstance(TextConfig.from_dict(data).extra_stopwords, tuple)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.no_below = 5


def test_config_rejects_unknown_keys_by_name_and_bad_values():
    with pytest.raises(InputError, match="min_count_typo"):
        TextConfig.from_dict({"language": "en", "min_count_typo": 3})
    with pytest.raises(InputError, match="language"):
        TextConfig(language="sv")  # Swedish: not a language offered
    with pytest.raises(InputError, match="no_above"):
        TextConfig(no_above=1.5)


@pytest.mark.parametrize(("setting", "value"), [
    ("keep_n", 1e4), ("keep_n", float("inf")), ("min_token_len", float("inf")),
    ("no_below", 2.5), ("no_below", "3"), ("min_token_len", True),
    ("bigram_threshold", float("inf")), ("no_above", float("nan")), ("no_above", "0.5")])
def test_config_refuses_counts_that_are_not_whole_and_numbers_that_are_not_finite(
        setting, value):
    """`keep_n=1e4` passed and failed inside gensim with "slice indices must be integers",
    `min_token_len=inf` left no word and said "lower no_below", `no_below="3"` was a bare
    TypeError, `bigram_threshold=inf` was kept (and saved with the model). Refused where
    a corpus is built or training is asked for; a saved model's settings still load."""
    from core.ops.train import TrainSpec

    try:
        config = dataclasses.replace(TextConfig(language="en"), **{setting: value})
    except InputError as err:   # TextConfig's own checks: a number, in its range
        assert f"TextConfig: {setting} must be" in str(err)
        return
    texts = ["emergency plumber", "plumber near me", "drain cleaning"] * 3
    for build in (lambda: Corpus.from_texts(texts, config=config),
                  lambda: TrainSpec(dataset="demo", text=config)):
        with pytest.raises(InputError, match=f"TextConfig: {setting} must be a "):
            build()
    assert TextConfig.from_dict(config.to_dict()) == config   # as a saved model's
    fine = TextConfig(language="en", keep_n=np.int64(10), no_above=np.float64(0.9))
    assert len(Corpus.from_texts(texts, config=fine).dictionary) > 0


# -- English ------------------------------------------------------------------------------
def test_english_lemmas_and_stop_words():
    assert en_tokens("runs shoes") == ["run", "shoe"]
    tokens = en_tokens("cheapest plumbers near me")
    assert "me" not in tokens and "plumber" in tokens and "cheap" in tokens


def test_english_nouns_keep_their_form_where_a_lemma_would_change_their_meaning(tmp_path):
    """spaCy's lookup table lemmatises by form alone: every -ing form became its verb and
    some plural nouns another word, so pet grooming met the wedding groom, accounting a
    login account, and a tax campaign's topic read "taxis". Other words still become
    their lemma. A config saved before `noun_forms` (an older model's) tokenises as its
    model was trained, and a saved tokenizer keeps its setting."""
    terms = ("pet grooming", "wedding venues", "accounting firm", "file taxes online",
             "weed control", "data recovery", "social media marketing", "ceiling fan",
             "reading glasses", "aesthetics clinics")
    assert en_tokens(*terms) == [
        "pet", "grooming", "wedding", "venue", "accounting", "firm", "file", "tax", "online",
        "weed", "control", "data", "recovery", "social", "media", "marketing", "ceiling",
        "fan", "reading", "glasses", "aesthetics", "clinic"]
    assert en_tokens("mortgage broker", "phone number", "carpet cleaner", "flu shot",
                     "car rent") == ["mortgage", "broker", "phone", "number", "carpet",
                                     "cleaner", "flu", "shot", "car", "rent"]
    assert en_tokens("emergency plumbers", "cheapest roofs", "ran") == [
        "emergency", "plumber", "cheap", "roof", "run"]
    assert en_tokens(*terms[:4], noun_forms=False) == [
        "pet", "groom", "wed", "venue", "account", "firm", "file", "taxis", "online"]
    saved = TextConfig(language="en").to_dict()
    del saved["noun_forms"]
    assert TextConfig.from_dict(saved, trained=True).noun_forms is False
    assert TextConfig.from_dict(saved).noun_forms is True  # settings to train with
    tokenizer = Tokenizer(TextConfig(language="en", noun_forms=False)).fit([["pet grooming"]])
    folder = tokenizer.save(tmp_path).parent
    state = json.loads((folder / "tokenizer.json").read_text())
    del state["config"]["noun_forms"]  # as a model trained before the setting saved it
    (folder / "tokenizer.json").write_text(json.dumps(state))
    assert Tokenizer.load(tmp_path).transform(["pet grooming"]) == [["pet", "groom"]]
    Tokenizer(TextConfig(language="en")).fit([["pet grooming"]]).save(tmp_path)
    assert Tokenizer.load(tmp_path).transform(["pet grooming"]) == [["pet", "grooming"]]


def tokens_in(language: str, *terms: str, **config) -> list[str]:
    return Tokenizer(TextConfig(language=language, **config)).fit_transform([list(terms)])[0]


def test_spanish_italian_and_dutch_nouns_take_their_nouns_lemma():
    """The Spanish and Italian lookup tables read a noun that is also a verb form as the
    verb: a house (casa) became to marry (casar), wine (vino) to come (venir), a shop
    (tienda) to hang out (tender), and "viaje" went to "viajar" while "viajes" went to
    "viaje", so a noun's singular and plural were two words. Their part-of-speech data
    reads them as nouns; adjectives keep one lemma for both genders, verbs their verb, and
    a config saved before `noun_first` (an older model's) tokenises as it was trained."""
    spanish = ("casas y casa rural", "vino tinto", "viaje barato", "viajes baratos",
               "tienda online", "abogado de familia", "abogados", "presupuesto",
               "zapatillas blancas", "comprar")
    assert tokens_in("es", *spanish) == [
        "casa", "casa", "rural", "vino", "tinto", "viaje", "barato", "viaje", "barato",
        "tienda", "online", "abogado", "familia", "abogado", "presupuesto", "zapatilla",
        "blanco", "comprar"]
    assert tokens_in("es", *spanish[:3], noun_first=False) == [
        "casar", "casar", "rural", "venir", "tintar", "viajar", "barato"]
    italian = ("viaggio in italia", "viaggi economici", "offerte vacanze", "conto corrente",
               "gelato artigianale", "negozio scarpe")
    assert tokens_in("it", *italian) == [
        "viaggio", "italia", "viaggio", "economico", "offerta", "vacanza", "conto",
        "corrente", "gelato", "artigianale", "negozio", "scarpa"]
    assert tokens_in("it", *italian[:3], noun_first=False) == [
        "viaggiare", "italia", "viaggo", "economico", "offrire", "vacanza"]
    # Dutch's table lacks plurals its data lists apart; a verb's infinitive stays a verb
    dutch = ("advocaten amsterdam", "winkels utrecht", "huis kopen", "afspraken tandarts")
    assert tokens_in("nl", *dutch) == [
        "advocaat", "amsterdam", "winkel", "utrecht", "huis", "kopen", "afspraak", "tandarts"]
    assert tokens_in("nl", *dutch[:2], noun_first=False) == [
        "advocaten", "amsterdam", "winkels", "utrecht"]
    saved = TextConfig(language="es").to_dict()
    del saved["noun_first"]
    assert TextConfig.from_dict(saved, trained=True).noun_first is False
    assert TextConfig.from_dict(saved).noun_first is True  # settings to train with


def test_english_drops_punctuation_numbers_short_tokens_and_user_stop_words():
    tokens = en_tokens("24/7 plumber, 2024 a x!", "free plumber quote",
                       extra_stopwords=("free",))
    assert tokens == ["plumber", "plumber", "quote"]
    assert "24/7" in en_tokens("24/7 plumber", keep_numbers=True)


@pytest.mark.parametrize("raw, clean", [
    ("[running shoes]", "running shoes"),
    ('"running shoes"', "running shoes"),
    ('"""running shoes"""', "running shoes"),
    ("+running +shoes", "running shoes"),
    ("  running shoes ", "running shoes"),
])
def test_match_type_decorations_are_stripped(raw, clean):
    assert " ".join(strip_decorations(raw).split()) == clean
    assert en_tokens(raw) == ["running", "shoe"]


@pytest.mark.parametrize("mark", [";", "|", "、", "・", "，", "｜"])
def test_marks_between_words_separate_them_as_spaces_do(mark):
    """spaCy's English tokenizer keeps "boiler;repair" as one token: it was an unknown word
    to the service while the CLI's --text, which splits keywords on these marks, found
    two known ones."""
    assert en_tokens(f"boiler{mark}repairs") == en_tokens("boiler repairs") == [
        "boiler", "repair"]
    assert en_tokens("c++ course") == ["c++", "course"]  # other marks are spaCy's to read


def test_no_lemmatize_keeps_surface_forms():
    assert en_tokens("running shoes", lemmatize=False) == ["running", "shoes"]


# -- Japanese -----------------------------------------------------------------------------
def test_japanese_compounds_split_into_words():
    tokenizer = Tokenizer(TextConfig(language="ja")).fit([["勤怠管理クラウド"]])
    assert tokenizer.transform([["勤怠管理クラウド"]]) == [["勤怠", "管理", "クラウド"]]
    assert tokenizer.transform(["子供 見守り 携帯"]) == [["子供", "見守る", "携帯"]]
    # particles (と, は) are dropped, Latin words in Japanese text are kept as words
    assert tokenizer.transform(["機械学習とは"]) == [["機械", "学習"]]
    assert tokenizer.transform(["aws 構築", "gps キッズ"]) == [["aws", "構築"], ["gps", "キッズ"]]


def test_a_japanese_text_longer_than_sudachi_reads_is_tokenised_in_pieces():
    """Sudachi refuses over 49,149 bytes ("Input is too long"): a 22,500-character term (an
    import accepts 128K) crashed training with a SudachiError traceback."""
    tokenizer = Tokenizer(TextConfig(language="ja")).fit([["補聴器"]])
    sentence = "補聴器のおすすめ。"
    one = tokenizer.tokenize_terms([sentence])[0]
    long_text, unbroken = sentence * 2500, "補聴器" * 10_000
    assert len(long_text.encode()) > 49_149 and len(unbroken.encode()) > 49_149
    assert tokenizer.tokenize_terms([long_text]) == [one * 2500]
    assert set(tokenizer.tokenize_terms([unbroken])[0]) == {"補聴器"}


def test_an_english_word_over_a_million_characters_is_one_token_not_a_traceback():
    """A keyword file of one 2M-character line gave spaCy's E088 traceback (its limit
    guards the parser and NER, which the pipeline has not)."""
    tokenizer = Tokenizer(TextConfig(language="en")).fit([["plumber"]])
    assert tokenizer.tokenize_terms(["y" * 2_000_000, "emergency plumber"]) == [
        ["y" * 2_000_000], ["emergency", "plumber"]]


def test_real_sony_keywords_become_japanese_words():
    docs = [sony_keywords("akashi_nonbrand.csv"), sony_keywords("amuelink_child_mimamori.csv")]
    tokenizer = Tokenizer().fit(docs)
    assert tokenizer.language_ == "ja"
    attendance, kids = tokenizer.transform(docs)
    assert {"勤怠", "管理", "シフト"} <= set(attendance)
    assert {"gps", "見守る", "キッズ"} <= set(kids)
    tokens = attendance + kids
    # words, not characters and not whole phrases
    assert sum(len(t) == 1 for t in tokens) / len(tokens) < 0.05
    assert max(len(t) for t in tokens) <= 12
    assert not any(" " in t or '"' in t or "[" in t for t in tokens)


def test_japanese_is_tokenised_by_sudachis_current_api_as_spacy_tokenises_it():
    """spaCy's Japanese tokenizer calls sudachipy's deprecated `Dictionary.create()`, a
    DeprecationWarning in the output of every process that tokenised Japanese; the
    pipeline's own (`Dictionary.tokenizer()`) raises none and gives spaCy's words, tags,
    lemmas and sub-tokens on real Sony keywords, in each split mode."""
    import spacy

    keywords = [k for name in ("akashi_nonbrand.csv", "akashi_brand.csv", "PO_brand.csv")
                for k in sony_keywords(name, FIXTURES / "sony")]
    load_nlp.cache_clear()   # built anew here, not taken from an earlier test's cache
    try:
        for mode in ("A", "B", "C"):
            with warnings.catch_warnings():
                warnings.simplefilter("error", DeprecationWarning)
                ours = load_nlp("ja", mode)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                spacys = spacy.blank("ja", config={"nlp": {"tokenizer": {"split_mode": mode}}})
            for text in keywords:
                a, b = ours(text), spacys(text)
                assert [(t.text, t.tag_, t.pos_, t.lemma_, t.norm_, t.whitespace_) for t in a] \
                    == [(t.text, t.tag_, t.pos_, t.lemma_, t.norm_, t.whitespace_) for t in b]
                assert a.user_data == b.user_data, text
    finally:
        load_nlp.cache_clear()


def test_language_detection_uses_cjk_share():
    assert detect_language(["running shoes", "cheap plumbers"]) == "en"
    assert detect_language([sony_keywords("bitdrive_aws_alltime.csv")]) == "ja"
    assert detect_language(["aws 構築"]) == "ja"  # mixed Latin + Japanese
    assert detect_language(["amazon web services aws cloud hosting 構"]) == "en"
    assert detect_language(["", "123"]) == "en"


def test_one_repeated_stop_word_of_another_language_does_not_decide_the_language():
    """Italian's stop list holds "casa": Spanish real-estate keywords without function
    words, "casa" in many rows, were read as Italian (and lemmatised so) though Spanish
    word forms covered nearly all of them. A language's function words are counted as
    different words, not occurrences."""
    rows = ["casa rural", "casa barata", "comprar casa", "alquiler casa", "casa con jardín",
            "pisos baratos", "venta pisos", "chalet adosado", "inmobiliaria madrid"]
    assert detect_language([rows * 20]) == "es"
    assert detect_language([KEYWORDS["it"] * 20]) == "it"   # three of its own, as before


@pytest.mark.parametrize("language", sorted(KEYWORDS))
def test_each_latin_language_is_detected_and_tokenised_in_its_own_words(language):
    """German, French, Spanish, Italian, Portuguese and Dutch keywords went through the
    English pipeline: "für", "avec" and "de" stayed words a topic could be named by, and
    "schuhe" / "schuh" or "hôtels" / "hôtel" were two words each. Each is detected from
    its words, and gets its own stop words and lemmas."""
    tokenizer = Tokenizer().fit([KEYWORDS[language]])
    assert tokenizer.language_ == language  # Spanish's few function words: by word forms
    words = {w for doc in tokenizer.transform(KEYWORDS[language]) for w in doc}
    stop = {"für", "mit", "der", "avec", "pas", "de", "con", "da", "com", "met", "in", "a"}
    assert not words & stop
    lemmas = {"de": {"schuh", "dame", "preis"}, "fr": {"chaussure", "hôtel", "pneu"},
              "es": {"zapato", "hotel", "neumático"}, "it": {"scarpa", "albergo", "prezzo"},
              "pt": {"sapato", "hotel", "mudança"}, "nl": {"schoen", "hotel", "autoband"}}
    assert lemmas[language] <= words, sorted(words)
    # the same words, whatever language a user names, are not lemmatised as English ones
    english = {w for doc in Tokenizer(TextConfig(language="en")).fit(["x"]).transform(
        KEYWORDS[language]) for w in doc}
    assert not lemmas[language] <= english


def test_english_corpora_stay_english_and_a_few_foreign_words_do_not_move_them():
    """Other languages' stop lists hold English words ("car" in French's, "local" in
    Portuguese's, "men" in Dutch's): detection reads which language's word forms cover the
    text, so English keywords (the demo's, with its "los angeles" and "el paso") and
    English titles stay English."""
    from core.data import demo

    terms = demo.generate(300)["term"].tolist()
    assert detect_language([terms]) == "en"
    assert detect_language([sony_keywords("bitdrive_aws_alltime.csv")]) == "ja"
    titles = ["learning sparse codes with a mixture of gaussians",
              "a bayesian approach to protein folding", "neural networks for speech recognition",
              "hotel de ville restoration costs", "los angeles car insurance quotes"]
    assert detect_language(titles) == "en"
    # no language's words (every table read, none covers them): English, as before
    assert detect_language(["xq zzv", "qqq"]) == "en"


def test_english_function_words_are_english_and_a_detection_reads_the_tables_once(
        monkeypatch):
    """Rows of "the", "and", "of" alone were in no language's table (English's holds a word
    only with a lemma), so every other table was read (~3 s) to call them English; and a
    pipeline read the tables twice for the same words (training, then its quality gate)."""
    from core.model import text

    read = []
    real = text._lookup_table
    monkeypatch.setattr(text, "_lookup_table", lambda lang: read.append(lang) or real(lang))
    text._latin_language.cache_clear()

    def others() -> list[str]:
        return sorted(lang for lang in read if lang != "en")

    assert detect_language(["the and of", "for the"]) == "en"
    assert others() == []
    made_up = ["kabar lodun mifey", "nugol pehix kajup"]
    assert detect_language(made_up) == "en"
    assert others() == sorted(text.LATIN_LANGUAGES[1:])       # every other table, once
    assert detect_language(list(reversed(made_up))) == "en"   # the same words: none again
    assert others() == sorted(text.LATIN_LANGUAGES[1:])


def test_a_tokenizer_of_another_language_is_saved_and_scores_alike(tmp_path):
    tokenizer = Tokenizer().fit([KEYWORDS["fr"]])
    tokenizer.save(tmp_path)
    loaded = Tokenizer.load(tmp_path)
    assert loaded.language_ == "fr"
    assert loaded.transform(["les meilleurs hôtels à lyon"]) == \
        tokenizer.transform(["les meilleurs hôtels à lyon"]) == [["meilleur", "hôtel", "lyon"]]
    # a service warms the cache with the language's own pipeline: same tokens after it
    import pyarrow as pa

    assert loaded.warm(pa.array(["chaussures femme", "pneus hiver"])) > 0
    assert loaded.transform(["chaussures femme"]) == [["chaussure", "femme"]]


# -- bigrams and persistence --------------------------------------------------------------
def test_bigrams_are_learned_within_terms_and_saved(tmp_path):
    docs = [["new york hotel", "new york pizza", "cheap flight"]] * 6
    config = TextConfig(language="en", bigrams=True, bigram_min_count=3, bigram_threshold=0.5)
    tokenizer = Tokenizer(config).fit(docs)
    assert tokenizer.transform([["new york cheap"]]) == [["new_york", "cheap"]]
    # a phrase never spans two keywords
    assert tokenizer.transform([["york", "new"]]) == [["york", "new"]]
    tokenizer.save(tmp_path)
    again = Tokenizer.load(tmp_path)
    assert again.transform(docs) == tokenizer.transform(docs)
    assert again.config == config


def test_transform_before_fit_is_an_error():
    with pytest.raises(RuntimeError, match="not fitted"):
        Tokenizer().transform(["x"])


# -- corpus -------------------------------------------------------------------------------
def _frame() -> pd.DataFrame:
    rows = []
    for cid, terms in {"c1": ["running shoes", "trail running shoes", "shoe store"],
                       "c2": ["plumber near me", "emergency plumber", "running water plumber"],
                       "c3": ["trail shoes", "hiking boots", "boot store"]}.items():
        for i, t in enumerate(terms):
            rows.append({"campaign_id": cid, "campaign_name": cid.upper(), "term": t,
                         "impressions": 10 ** (i + 1), "clicks": i})
    return pd.DataFrame(rows)


def test_corpus_groups_terms_by_campaign_and_filters_vocabulary():
    corpus = Corpus.from_frame(_frame(), TextConfig(language="en", no_below=2, no_above=1.0))
    assert corpus.campaign_ids == ["c1", "c2", "c3"]
    assert corpus.campaign_names == ["C1", "C2", "C3"]
    assert corpus.subset([2]).campaign_names == ["C3"]
    assert corpus.tokens[0] == ["running", "shoe", "trail", "running", "shoe", "shoe", "store"]
    # words in only one campaign (plumber, hiking, emergency...) are filtered by no_below=2
    assert set(corpus.vocabulary) == {"running", "shoe", "trail", "store"}
    assert dict((corpus.dictionary[i], c) for i, c in corpus.bow[0])["shoe"] == 3
    strict = Corpus.from_frame(_frame(), TextConfig(language="en", no_below=1, no_above=0.5))
    assert "shoe" not in strict.vocabulary and "plumber" in strict.vocabulary  # shoe in 2/3
    capped = Corpus.from_frame(_frame(), TextConfig(language="en", no_below=1, keep_n=3,
                                                     no_above=1.0))
    assert len(capped.vocabulary) == 3


def test_weighting_repeats_tokens_by_log_impressions():
    plain = Corpus.from_frame(_frame(), TextConfig(language="en", no_below=1, no_above=1.0))
    weighted = Corpus.from_frame(_frame(), TextConfig(language="en", no_below=1, no_above=1.0,
                                                      weight_by="impressions"))
    counts = {weighted.dictionary[i]: c for i, c in weighted.bow[0]}
    # "running shoes" 10 impr -> round(1 + log1p(10)) = 3; "trail running shoes" 100 -> 6
    assert counts["trail"] == 6 and counts["running"] == 3 + 6
    assert weighted.tokens == plain.tokens  # the text itself is not weighted
    with pytest.raises(InputError, match="impressions"):
        Corpus.from_frame(_frame().drop(columns="impressions"),
                          TextConfig(weight_by="impressions"))


def test_empty_vocabulary_and_missing_columns_are_clear_errors():
    with pytest.raises(InputError, match="no words are left") as err:
        Corpus.from_frame(_frame(), TextConfig(language="en", no_below=4))
    assert "(3 documents, no_below=4" in str(err.value) and "there are only 3" in str(err.value)
    # one campaign (a version of one export file) can share no word with another: the data
    # is what to change (it said "(1 documents, …): lower no_below")
    one = _frame()[_frame()["campaign_id"] == "c1"]
    with pytest.raises(InputError, match=r"\(1 document, no_below=2.*there is only 1; .*more "
                                         "campaigns"):
        Corpus.from_frame(one, TextConfig(language="en"))
    with pytest.raises(InputError, match=r"no_above=0.1\): lower no_below or raise no_above"):
        Corpus.from_frame(_frame(), TextConfig(language="en", no_below=1, no_above=0.1))
    with pytest.raises(InputError, match="term"):
        Corpus.from_frame(_frame().drop(columns="term"))


def test_pretokenized_texts_split_and_held_out_split():
    texts = ["alpha beta gamma", "beta gamma delta", "alpha delta", "gamma alpha beta"] * 5
    corpus = Corpus.from_texts(texts, config=TextConfig(pretokenized=True, no_above=1.0))
    assert corpus.tokens[0] == ["alpha", "beta", "gamma"]
    train, heldout = corpus.split(test_share=0.25, seed=1)
    assert len(train) == 15 and len(heldout) == 5
    assert sorted(train.campaign_ids + heldout.campaign_ids, key=int) == corpus.campaign_ids
    assert train.dictionary is corpus.dictionary
    again, _ = corpus.split(test_share=0.25, seed=1)
    assert again.campaign_ids == train.campaign_ids


def test_encode_new_tokens_reports_oov_share(tmp_path):
    corpus = Corpus.from_frame(_frame(), TextConfig(language="en", no_below=2, no_above=1.0))
    bow, oov = corpus.encode(["shoe", "shoe", "store", "zebra"])
    assert {corpus.dictionary[i]: c for i, c in bow} == {"shoe": 2, "store": 1}
    assert oov == pytest.approx(0.25)
    assert corpus.encode([]) == ([], 1.0)
    corpus.encoder.save(tmp_path)
    loaded = Encoder.load(tmp_path)
    assert loaded.vocabulary == corpus.vocabulary
    bows, oovs = loaded.encode_docs([["trail running shoes", "zebra crossing"]])
    assert oovs[0] == pytest.approx(2 / 5)
    assert {loaded.dictionary[i] for i, _ in bows[0]} == {"trail", "running", "shoe"}


def test_warm_fills_the_word_cache_and_changes_no_token():
    """`Tokenizer.warm` (the service runs it over a model's terms) runs spaCy over the
    terms' words ahead of time: later calls find them cached and give the same tokens as a
    tokenizer that never warmed, decorated and non-ASCII terms included."""
    import pyarrow as pa

    terms = ["Emergency Plumbers", "[boiler repairs]", "+cheap +flights", "café crème",
             "running  shoes", "the best 24h plumber", "ｆｕｌｌ width"]
    cold = Tokenizer(TextConfig(language="en")).fit(terms)
    warm = Tokenizer(TextConfig(language="en")).fit(terms)
    added = warm.warm(pa.chunked_array([pa.array([*terms, None, terms[0]])]))
    cached = warm._chunk_tokens
    assert added == len(cached) >= 10
    assert {"Emergency", "boiler", "café", "full"} <= set(cached)     # words as cleaned:
    assert "ｆｕｌｌ" not in cached and "[boiler" not in cached        # NFKC, no match marks
    assert warm.warm(pa.array(terms)) == 0                             # nothing new
    asked = [*terms, "emergency boiler", "Flights"]
    assert warm.tokenize_terms(asked) == cold.tokenize_terms(asked)
    assert Tokenizer(TextConfig(pretokenized=True)).fit(terms).warm(pa.array(terms)) == 0
    # words between separators (; | 、 ・) are the chunks tokenising asks for: warmed, the
    # tokenizer runs spaCy on nothing more (it had warmed "boiler;repair" as one chunk)
    separated = ["boiler;repair", "roof|gutter", "drain、cleaning", "pipe・lagging"]
    warm = Tokenizer(TextConfig(language="en")).fit(separated)
    warm.warm(pa.array(separated))
    before = set(warm._chunk_tokens)
    assert {"boiler", "repair", "gutter", "drain", "lagging"} <= before
    assert warm.tokenize_terms(separated) == cold.tokenize_terms(separated)
    assert set(warm._chunk_tokens) == before


def test_few_terms_are_cleaned_as_many_are():
    """A pasted keyword list (a few terms) is checked in Python, a large one with Arrow:
    both clean every term the same way (match marks, NFKC, edge whitespace)."""
    from core.model.text import _FEW_TERMS, _clean_terms

    tricky = ["plain words", "[exact match]", '"phrase match"', "+broad +match", "café",
              "ｆｕｌｌ ｗｉｄｔｈ", " leading", "trailing ", "tab\tinside", "end\n", "", "a-b's",
              "\x1cfile sep", "ﬁ ligature", "x]y"]
    few = _clean_terms(tricky)
    many = _clean_terms(tricky * (_FEW_TERMS // len(tricky) + 1))
    assert len(tricky) < _FEW_TERMS <= len(tricky) * (_FEW_TERMS // len(tricky) + 1)
    assert many[:len(tricky)] == few
    assert few[1] == "exact match" and few[5] == "full width" and few[0] == "plain words"

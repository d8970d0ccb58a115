"""Topic names (issue #9.4): ranked by relevance, without brand or place words, full word
list kept; one function names topics for the CLI and the pages."""

from __future__ import annotations

import re

import numpy as np

from core.data import demo
from core.model import relevance
from core.model.namewords import NameWords, place_words
from core.serve import naming, registry


def demo_brand_words() -> set[str]:
    """Ground truth from the generator: words of its brand names that none of its
    vertical, modifier or query texts use (so "family" of "Family Law" is not one)."""
    data = demo._vocabulary_file()
    brand_parts = data["words"]["brand_first"] + data["words"]["brand_second"]
    brand = {w.lower() for part in brand_parts for w in re.findall(r"[A-Za-z]+", part)}

    def texts(value: object, skip: bool = False) -> list[str]:
        if isinstance(value, str):
            return [] if skip else [value]
        if isinstance(value, dict):
            return [t for key, v in value.items()
                    for t in [key, *texts(v, key in ("brand_first", "brand_second"))]]
        if isinstance(value, list):
            return [t for v in value for t in texts(v, skip)]
        return []

    other = {w.lower() for t in texts(data) for w in re.findall(r"[A-Za-z]+", t)}
    return brand - other


def test_no_automatic_topic_name_on_the_demo_holds_a_brand_or_place_word(trained_home) -> None:
    from core.data import datasets

    model = registry.load(registry.resolve("production"))
    accounts = datasets.campaigns("demo", 1)["account"].dropna()
    account_words = {w.lower() for a in accounts for w in re.findall(r"[A-Za-z]+", a)}
    truth = demo_brand_words() & account_words      # brand words of this data's accounts
    in_vocabulary = truth & set(model.vocabulary)
    assert len(in_vocabulary) >= 10                 # not vacuous: the model has them
    topics = naming.describe(model)
    shown = [t.automatic for t in topics]
    phi = model.engine.topic_term_
    probable = [[model.vocabulary[i] for i in np.argsort(-phi[t], kind="stable")[:10]]
                for t in range(len(topics))]
    for topic, most in zip(topics, probable, strict=True):
        name = topic.automatic.split(": ", 1)[1]
        named = set(name.removeprefix("places: ").split(", "))
        assert not named & truth, (topic.automatic, shown)
        about_places = np.mean([w in place_words() for w in most]) >= 0.5
        assert name.startswith("places: ") == about_places, (topic.automatic, most)
        if not about_places:
            assert not named & place_words(), (topic.automatic, shown)
        assert topic.words == model.engine.top_words(topic.topic, 10)  # the words it shows
        assert topic.name == topic.automatic and topic.label is None
    # ... and by probability alone some names would have carried them.
    assert any(set(most[:3]) & (truth | place_words()) for most in probable)
    assert registry.topic_names(model) == [t.name for t in topics]


def test_a_topic_of_place_words_is_named_by_them_and_others_never_are() -> None:
    # Campaigns copied per city give a topic of city names and leftovers; naming it by
    # the leftovers ("lnodon, football, career" on the demo) would hide what it is.
    cities = sorted(w for w in place_words() if w.isalpha())[:6]
    vocabulary = [*cities, "plumber", "drain", "leak", "football", "career"]
    phi = np.array([[0.16, 0.15, 0.14, 0.13, 0.12, 0.10, 0.02, 0.02, 0.02, 0.07, 0.07],
                    [0.09, 0.01, 0.01, 0.01, 0.01, 0.01, 0.30, 0.25, 0.20, 0.06, 0.05]])
    excluded = NameWords(place=frozenset(cities))
    share = phi.mean(axis=0)
    (place_name, place_words_, _), (plumbing, _, relevant) = relevance.automatic_names(
        phi, share, vocabulary, excluded, n_words=6)
    assert place_name.startswith("T0: places: ")
    assert set(place_name.removeprefix("T0: places: ").split(", ")) <= set(cities)
    assert place_words_ == cities                  # its top words, all six cities
    assert plumbing == "T1: plumber, drain, leak"  # a city among its top words: left out
    assert cities[0] not in relevant
    # with two of its six top words places, it is named as before, without them
    two = NameWords(place=frozenset(cities[:2]))
    name = relevance.automatic_names(phi, share, vocabulary, two, n_words=6)[0][0]
    assert not name.startswith("T0: places: ") and not set(name[4:].split(", ")) & two.place


def test_relevance_puts_a_topics_own_words_before_words_every_topic_has() -> None:
    # Word 0 is frequent everywhere; word 1 belongs to topic 0 alone.
    phi = np.array([[0.50, 0.30, 0.10, 0.10],
                    [0.60, 0.01, 0.20, 0.19],
                    [0.60, 0.01, 0.19, 0.20]])
    share = np.array([0.55, 0.10, 0.18, 0.17])
    rel = relevance.relevance(phi, share)
    assert np.argmax(phi[0]) == 0 and np.argmax(rel[0]) == 1
    assert np.allclose(relevance.relevance(phi, share, lam=1.0), np.log(phi))


def test_a_human_name_wins_and_the_cli_topics_show_both(trained_home) -> None:
    from tests.conftest import cli, ok_json

    model_id = registry.resolve("production")
    registry.set_topic_label(model_id, 1, "Plumbing")
    topics = ok_json(cli("topics", home=trained_home))["topics"]
    assert topics[1]["name"] == "Plumbing" and topics[1]["label"] == "Plumbing"
    assert topics[1]["automatic_name"].startswith("T1: ") and topics[1]["confirmed"] is True
    assert topics[0]["name"] == topics[0]["automatic_name"] and len(topics[0]["top_words"]) == 10

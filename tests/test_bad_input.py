"""Bad input as a new user gives it, through the CLI and the notebook API: each is refused
with one message naming what is wrong, and the store keeps what it had."""

from __future__ import annotations

import re

import pytest

from core.data import store
from core.serve import registry
from tests.conftest import cli


@pytest.mark.parametrize("blank", ["", "   "])
def test_a_blank_model_id_is_refused_not_read_as_production(trained_home, blank):
    production = registry.alias("production")
    registry.set_topic_label(production, 0, "Plumbing")
    before = store.table_counts()
    for args in (("label-topic", blank, "0", "Roofing"), ("topics", blank),
                 ("fingerprint", "C00001", "--model", blank)):
        result = cli(*args, home=trained_home)
        assert result.returncode == 1, (args, result.stdout)
        assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
        assert repr(blank) in result.stderr, result.stderr
    assert registry.topic_labels(production) == {0: "Plumbing"}
    assert store.table_counts() == before
    with pytest.raises(registry.InputError, match="blank"):
        registry.resolve(blank)
    assert registry.resolve(None) == production  # no id at all still means production


@pytest.mark.parametrize("topic, label, needle", [
    (1, "bell\x07here", "U+0007"),
    (1, "two\nlines", "U+000A"),
    (1, "zero\u200bwidth", "U+200B"),
    (1, "x" * 81, "at most 80"),
    (1, None, "text, not NoneType"),
    (1, 5, "text, not int"),
    (1.5, "Roofing", "whole number"),   # was stored on topic 2
    ("1", "Roofing", "whole number"),   # was a TypeError traceback
    (True, "Roofing", "whole number"),  # was stored on topic 1
    (3, "Plumbing", "Topic 1 of model"),   # two topics of one name: one bar in charts
    (3, " heating ", "named 'Heating' already: give topic 3 another name"),
])
def test_a_bad_topic_name_or_topic_is_refused_and_the_old_name_kept(trained_home, topic,
                                                                    label, needle):
    production = registry.alias("production")
    registry.set_topic_label(production, 1, "Plumbing")
    registry.set_topic_label(production, 2, "Heating")
    before = store.table_counts()
    with pytest.raises(registry.InputError, match=re.escape(needle)):
        registry.set_topic_label(production, topic, label)
    assert registry.topic_labels(production) == {1: "Plumbing", 2: "Heating"}
    assert store.table_counts() == before


def test_label_topic_in_the_cli_refuses_control_characters(trained_home):
    production = registry.alias("production")
    registry.set_topic_label(production, 0, "Plumbing")
    result = cli("label-topic", "production", "0", "Roof\x1b[31mred", home=trained_home)
    assert result.returncode == 1 and "U+001B" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert registry.topic_labels(production) == {0: "Plumbing"}


@pytest.mark.parametrize("text, hidden", [
    ("plain words 4k", ""), ("カメラ\u3000レンズ", ""), ("a\u00a0b", ""),  # spaces: shown
    ("می\u200cخواهم", ""), ("\U0001F469\u200d\U0001F4BB", ""),  # joiners spell words
    ("\ue000private", ""), ("\U000e0001tag", "U+E0001"), ("a\x1b[31mb\x1b", "U+001B"),
    ("zero\u200bwidth\u2028line", "U+200B, U+2028"), ("nul\x00", "U+0000"),
])
def test_hidden_characters_are_named_whether_or_not_the_text_is_printable(text, hidden):
    """`hidden_characters` skips its per-character loop for printable text (every pasted
    keyword of a request goes through it): text that is not printable for another reason
    (a no-break space, a joiner, a private-use character) still has nothing hidden."""
    from core.plain_text import hidden_characters
    assert hidden_characters(text) == hidden


def _an_account() -> str:
    return store.query_one("SELECT min(account) FROM terms")[0]


@pytest.mark.parametrize("phrases, needle", [
    (["   "], "every phrase given is blank"),   # was: the list silently cleared
    (["", " \t "], "every phrase given is blank"),
    ("acme", "not one string"),                 # was: stored as ['a', 'c', 'm', 'e']
    (["ac\x00me"], "U+0000"),
    (["acme\u200b"], "U+200B"),
])
def test_bad_brand_phrases_are_refused_and_the_list_kept(trained_home, phrases, needle):
    from core.serve import brand_lists
    account = _an_account()
    brand_lists.set_brand_list(account, ["acme co"])
    with pytest.raises(registry.InputError, match=re.escape(needle)):
        brand_lists.set_brand_list(account, phrases)
    assert brand_lists.brand_list(account) == ["acme co"]
    assert brand_lists.set_brand_list(account, []) == []  # an empty list still clears


def test_brands_set_with_only_blank_phrases_keeps_the_list(trained_home):
    from core.serve import brand_lists
    account = _an_account()
    brand_lists.set_brand_list(account, ["acme co"])
    result = cli("brands", "set", account, "  ", home=trained_home)
    assert result.returncode == 1 and "brands clear" in result.stderr, result.stderr
    assert brand_lists.brand_list(account) == ["acme co"]


def test_emptying_the_lookup_pages_brand_box_still_clears_the_list(trained_home):
    from core.serve import brand_lists
    from tests.test_pages import ok, page
    owner = store.query_one("SELECT any_value(account) FROM terms "
                            "WHERE campaign_id = 'C00002'")[0]
    brand_lists.set_brand_list(owner, ["acme co"])
    at = page("lookup")
    at.selectbox(key="lookup_campaign").set_value("C00002").run()
    at.text_input(key=f"brand_list:{owner}").set_value("  ")
    at.button(key="FormSubmitter:brand_list-Save brand list").click().run()
    ok(at)
    assert brand_lists.brand_list(owner) == []


@pytest.mark.parametrize("rate", [2.5, "600", True, float("nan")])
def test_a_key_rate_that_is_not_a_whole_number_is_refused(trained_home, rate):
    from core.serve import keys
    with pytest.raises(registry.InputError, match="rate"):
        keys.create("notebook-key", rate_per_minute=rate)
    assert keys.list_keys().empty


@pytest.mark.parametrize("percent", ["5", True, None, float("nan"), float("inf")])
def test_a_canary_share_that_is_not_a_finite_number_is_refused(two_models_home,
                                                               second_model, percent):
    from core.serve import canary
    registry.set_alias("candidate", second_model)
    canary.set_percent(10)
    with pytest.raises(registry.InputError, match="canary share"):
        canary.set_percent(percent)
    assert canary.get_percent() == 10


def test_a_canary_share_below_one_bucket_is_refused(two_models_home, second_model):
    """`canary set 1e-300` was stored and shown as on, though it rounds to none of the
    10,000 buckets: the candidate got no traffic. Shares keep the 0.01 % a bucket is."""
    from core.serve import canary
    registry.set_alias("candidate", second_model)
    canary.set_percent(10)
    for tiny in (1e-300, 0.004):
        with pytest.raises(registry.InputError, match=r"must be 0 \(off\) or at least 0.01 %"):
            canary.set_percent(tiny)
    assert canary.get_percent() == 10
    assert canary.set_percent(0.01).canary_percent == 0.01
    assert any(canary.variant(f"c:C{i}", 0.01) == canary.CANDIDATE for i in range(50_000))
    assert canary.set_percent(12.3456).canary_percent == canary.get_percent() == 12.35
    assert canary.set_percent(0).canary_percent == 0


def test_a_canary_share_without_a_candidate_is_refused(trained_home):
    """The share belongs to the candidate it is set for: with none, `canary set 10` was
    stored for whatever model became candidate next (a pipeline's, failed gate and all)."""
    from core.serve import canary
    with pytest.raises(registry.TopicLabError, match="No model is marked candidate"):
        canary.set_percent(10)
    assert canary.get_percent() == 0 and canary.set_percent(0).canary_percent == 0


def test_the_candidate_is_not_deleted_while_the_canary_sends_it_traffic(two_models_home,
                                                                       second_model):
    import json

    from core.data import audit
    from core.serve import canary
    registry.set_alias("candidate", second_model)
    canary.set_percent(20)
    before = store.table_counts()
    result = cli("delete-model", second_model, home=two_models_home)
    assert result.returncode == 1, result.stdout
    assert "candidate" in result.stderr and "canary set 0" in result.stderr, result.stderr
    assert "`python -m core promote MODEL_ID --alias candidate`" in result.stderr  # the CLI's
    assert "Traceback" not in result.stderr
    assert registry.alias("candidate") == second_model  # nothing lost
    assert store.table_counts() == before
    canary.set_percent(0)
    by_alias = cli("delete-model", "candidate", home=two_models_home)  # was: "No model with
    assert by_alias.returncode == 1                                   # id 'candidate'"
    assert f"'candidate' is an alias (it points at {second_model}), not a model id" \
        in by_alias.stderr
    assert registry.alias("candidate") == second_model
    served = store.serving_generation()
    registry.delete(second_model)  # no live traffic: the alias goes with the model
    assert registry.alias("candidate") is None
    assert store.serving_generation() != served  # running services stop serving it
    entry = audit.entries(action="delete")
    assert json.loads(entry["details"].iloc[0]) == {"cleared_aliases": ["candidate"]}


@pytest.fixture(scope="module")
def few_terms(tmp_path_factory):
    """Term rows of 150 demo campaigns, as a notebook reads them."""
    import warnings

    from core import read_terms
    from tests.conftest import demo_subset
    path = demo_subset(tmp_path_factory.mktemp("few") / "few.parquet", campaigns=150)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return path, read_terms(path)


@pytest.mark.parametrize("params, needle", [
    ({"alpha": float("nan")}, "alpha must be a finite number"),  # was: every fingerprint NaN
    ({"eta": float("inf")}, "eta must be a finite number"),
    ({"iterations": 0}, "iterations must be a whole number"),
    ({"seed": -1}, "seed must be a whole number"),               # was: accepted
    ({"seed": float("nan")}, "seed must be a whole number"),     # was: a ValueError
])
def test_campaign_model_checks_its_engine_settings_as_training_does(few_terms, params,
                                                                    needle):
    from core import CampaignModel
    params = dict(params)
    settings = {"seed": params.pop("seed")} if "seed" in params else {}
    with pytest.raises(registry.InputError, match=needle):
        CampaignModel(k=3, engine_params={"iterations": 20, **params}, **settings
                      ).fit(few_terms[1])


def test_a_negative_alpha_in_a_notebook_is_an_error_not_a_dead_kernel(few_terms):
    from tests.conftest import run_python
    code = ("import warnings; warnings.simplefilter('ignore')\n"
            "from core import CampaignModel, InputError, read_terms\n"
            f"terms = read_terms({str(few_terms[0])!r})\n"
            "try:\n"
            "    CampaignModel(k=3, engine_params={'alpha': -1.0, 'iterations': 20})"
            ".fit(terms)\n"
            "except InputError as err:\n"
            "    print('refused:', err)\n")
    done = run_python(code, timeout=300)
    # was: tomotopy's C++ exception ended the process (SIGABRT) inside fit
    assert done.returncode == 0, done.stderr[-500:]
    assert "refused: alpha must be greater than 0" in done.stdout


@pytest.fixture(scope="module")
def fitted(few_terms):
    from core import CampaignModel
    return CampaignModel(k=4, engine_params={"iterations": 30}).fit(few_terms[1])


def test_term_rows_with_a_column_twice_are_refused_by_name(fitted, few_terms, tmp_path):
    """`pd.concat([terms, terms[["term"]]], axis=1)`: pandas' "cannot reindex on an axis
    with duplicate labels" from inside fit (and transform, and load)."""
    import pandas as pd

    from core import CampaignModel, InputError
    terms = few_terms[1]
    twice = pd.concat([terms, terms[["term"]]], axis=1)
    message = "the term rows have more than one column named 'term'"
    with pytest.raises(InputError, match=f"fit: {message}"):
        CampaignModel(k=4).fit(twice)
    with pytest.raises(InputError, match=f"transform: {message}"):
        fitted.transform(twice)
    folder = fitted.save(tmp_path / "m", include_terms=False)
    with pytest.raises(InputError, match=f"load: {message}"):
        CampaignModel.load(folder, terms=twice)


@pytest.mark.parametrize("n", [0, -1, float("nan"), 2.5, "5", True])
def test_campaign_model_refuses_a_count_that_is_not_a_positive_whole_number(fitted, n):
    campaign = fitted.fingerprints_.index[0]
    for call in (lambda: fitted.neighbors(campaign, n),   # was: an empty table, or n=nan
                 lambda: fitted.topics(n),                # a traceback; topics(-1): all
                 lambda: fitted.suggest(campaign, n)):    # words but the last
        with pytest.raises(registry.InputError, match=r"n must be a whole number"):
            call()
    with pytest.raises(registry.InputError, match="min_terms"):
        fitted.neighbors(campaign, 5, min_terms=-1)


@pytest.mark.parametrize("keywords", [None, [None], [5], 42])
def test_campaign_model_refuses_keywords_that_are_not_text(fitted, keywords):
    with pytest.raises(registry.InputError, match="keywords"):  # were tracebacks
        fitted.fingerprint(keywords)


@pytest.mark.parametrize("args", [("datasets", "demoo"), ("models", "--dataset", "demoo"),
                                  ("datasets", "  "), ("datasets", ""),
                                  ("models", "--dataset", "")])   # "" listed every dataset
def test_listing_an_unknown_dataset_names_it_instead_of_printing_nothing(trained_home, args):
    result = cli(*args, home=trained_home)
    assert result.returncode == 1, result.stdout  # was: exit 0 with []
    assert f"No dataset named {args[-1]!r}" in result.stderr and "demo" in result.stderr
    known = cli("models", "--dataset", "demo", home=trained_home)
    assert known.returncode == 0 and known.stdout.strip() != "[]"


def test_label_topic_prints_the_name_as_stored(trained_home):
    import json
    production = registry.alias("production")
    named = cli("label-topic", "production", "0", "  Roofing ", home=trained_home)
    assert json.loads(named.stdout)["name"] == "Roofing" == registry.topic_labels(production)[0]
    removed = json.loads(cli("label-topic", "production", "0", "   ",
                             home=trained_home).stdout)
    assert removed["name"] is None and removed["removed"] is True  # was: "name": "   "
    assert 0 not in registry.topic_labels(production)


def test_the_production_model_cannot_also_be_the_candidate(two_models_home, second_model):
    production = registry.alias("production")
    registry.set_alias("candidate", second_model)
    result = cli("promote", production, "--alias", "candidate", home=two_models_home)
    assert result.returncode == 1, result.stdout  # was: both aliases on one model
    assert "is the production model already" in result.stderr, result.stderr
    assert registry.aliases() == {"production": production, "candidate": second_model}


def test_a_change_saved_beside_an_unwritable_token_still_tells_the_app(two_models_home,
                                                                      second_model):
    from core.errors import StoreError
    from core.serve import canary
    registry.set_alias("candidate", second_model)   # a canary share needs a candidate
    token = two_models_home / store.SERVING_GENERATION_FILE
    token.unlink(missing_ok=True)
    token.mkdir()  # a folder where the serving token goes
    before = store.generation()
    with pytest.raises(StoreError, match="the change itself was saved"):
        canary.set_percent(15)
    assert canary.get_percent() == 15
    assert store.generation() != before  # was: unchanged, so cached listings stayed stale


def test_an_unknown_audit_action_is_refused_naming_the_known_ones(home, small_csv):
    import json
    assert cli("ingest", str(small_csv), "--dataset", "shop", home=home).returncode == 0
    result = cli("audit", "--action", "nope", home=home)
    assert result.returncode == 1, result.stdout  # was: exit 0 with []
    assert "Unknown audit action 'nope'" in result.stderr
    assert "import, key_create" in result.stderr and "promote" in result.stderr
    imported = cli("audit", "--action", "import", home=home)
    assert imported.returncode == 0 and len(json.loads(imported.stdout)) == 1
    # details is an object in the JSON, not its text (was "{\"files\": 1, …}")
    [entry] = json.loads(imported.stdout)
    assert entry["details"]["rows"] == 8 and entry["details"]["files"] == ["small.csv"]
    none_yet = cli("audit", "--action", "promote", home=home)  # known, none recorded yet
    assert none_yet.returncode == 0 and json.loads(none_yet.stdout) == []


def test_the_known_audit_actions_are_those_the_code_base_records():
    """audit.ACTIONS is written out by hand: a new `audit.record(con, "x", …)` must add x,
    else `audit --action x` would be refused on a store that holds none yet."""
    import ast

    from core.data import audit
    from tests.conftest import REPO

    recorded = set()
    for path in (REPO / "core").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "record" and ast.unparse(node.func.value) == "audit"):
                recorded |= {n.value for n in ast.walk(node.args[1])
                             if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    assert recorded == set(audit.ACTIONS)


def test_promote_takes_an_alias_name_as_other_commands_do(two_models_home, second_model):
    production = registry.alias("production")
    registry.set_alias("candidate", second_model)
    itself = cli("promote", "production", home=two_models_home)
    assert itself.returncode == 1  # was: No model with id 'production'
    assert "'production' is the alias being moved, not a model" in itself.stderr
    assert registry.alias("production") == production
    moved = cli("promote", "candidate", "--force", home=two_models_home)
    assert moved.returncode == 0, moved.stderr  # was: No model with id 'candidate'
    assert registry.alias("production") == second_model
    assert registry.alias("candidate") is None  # cleared, as promoting it by id does


def test_campaign_model_takes_keywords_from_a_column_array_or_set(fitted):
    """A notebook passes `frame["keyword"]` or an array as often as a list (the check for
    non-text keywords refused them for a while)."""
    import numpy as np
    import pandas as pd

    words = ["lawn care", "roof repair"]
    expected = fitted.fingerprint(words).weights
    for given in (pd.Series(words), np.array(words), tuple(words)):
        assert np.allclose(fitted.fingerprint(given).weights, expected)
    assert np.allclose(fitted.fingerprint({"lawn care"}).weights,
                       fitted.fingerprint("lawn care").weights)


def test_names_keep_the_joiners_persian_and_indic_scripts_spell_with(trained_home):
    """ZWNJ and ZWJ are format characters, but part of a word's correct spelling in
    Persian and several Indic scripts; a zero-width space stays refused."""
    production = registry.alias("production")
    name = "می\u200cخواهم"  # "I want" in Persian, spelled with a ZWNJ
    assert registry.set_topic_label(production, 0, name) == name
    assert registry.topic_labels(production)[0] == name
    with pytest.raises(registry.InputError, match="U\\+200B"):
        registry.set_topic_label(production, 0, "roof\u200brepair")
    assert registry.topic_labels(production)[0] == name


@pytest.mark.parametrize("argv", [("neighbors", "{}"), ("fingerprint", "{}"), ("topics", "{}"),
                                  ("suggest", "--account", "{}"), ("ngrams", "{}"),
                                  ("label-topic", "{}", "0", "Roofing")])
def test_an_unknown_id_of_any_length_gets_a_short_message(trained_home, argv):
    """A pasted page of text as a campaign, account or model id was echoed whole in the
    error (100,000 characters on stderr), as brand lists' account names were."""
    long_id = "C" * 100_000
    result = cli(*[a.format(long_id) for a in argv], home=trained_home)
    assert result.returncode == 1 and result.stderr.startswith("error: ")
    assert len(result.stderr) < 400 and "… (100,000 characters)" in result.stderr
    near = cli(*[a.format("C0004") for a in argv], home=trained_home)  # a short one: whole
    assert "'C0004'" in near.stderr


def test_an_unknown_account_of_any_length_gets_a_short_message(trained_home):
    """A pasted page of text as the account name was echoed whole in the error (and
    difflib compared all of it with every account for a hint)."""
    from core.serve import brand_lists
    with pytest.raises(registry.NotFoundError) as refused:
        brand_lists.set_brand_list("x" * 100_000, ["acme co"])
    assert len(str(refused.value)) < 300 and "is in no stored dataset" in str(refused.value)
    account = _an_account()
    with pytest.raises(registry.NotFoundError, match=re.escape(repr(account[:-1]))):
        brand_lists.set_brand_list(account[:-1], ["acme co"])  # a near miss: still named


def test_versions_and_counts_that_are_not_whole_numbers_are_refused_naming_them(trained_home):
    """A bool is an int to Python and DuckDB rounds a float into an INTEGER: `datasets.get(
    "demo", True)` read version 1, `Lookup.neighbors(c, 2.5)` gave two rows, `top_terms(…,
    limit=True)` one; n=nan was numpy's ValueError, `audit.entries(-1)` DuckDB's binder
    error and `registry.get(True)` its "Could not convert string … to BOOL". Each is now
    refused naming the argument (`core.whole`)."""
    import numpy as np

    from core.data import audit, datasets
    from core.errors import InputError
    from core.serve.lookup import Lookup

    lookup = Lookup()
    campaign = lookup.campaigns.index[0]
    calls = {
        "version": [lambda v: datasets.get("demo", v), lambda v: datasets.terms("demo", v),
                    lambda v: datasets.campaigns("demo", v),
                    lambda v: datasets.top_terms("demo", v)],
        "limit": [lambda v: datasets.top_terms("demo", 1, v), audit.entries,
                  lambda v: lookup.search("a", v)],
        "n": [lambda v: lookup.neighbors(campaign, v),
              lambda v: lookup.keywords(["plumber london"], v)],
    }
    for name, functions in calls.items():
        for call in functions:
            for bad in (True, 1.0, 2.5, float("nan"), float("inf"), "1", 0, -1):
                with pytest.raises(InputError, match=f"^{name} must be a whole number of at "
                                                     f"least 1, not {re.escape(repr(bad))}"):
                    call(bad)
            call(np.int64(1))   # a whole number from numpy or pandas is one
    with pytest.raises(InputError, match="min_terms must be a whole number of at least 0"):
        lookup.neighbors(campaign, 3, min_terms=1.5)
    with pytest.raises(InputError, match=r"A model id is text .*, not True"):
        registry.get(True)
    assert datasets.get("demo", None).version == datasets.get("demo", 1).version == 1
    assert len(lookup.neighbors(campaign, 2)) == 2

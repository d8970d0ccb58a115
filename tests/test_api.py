"""The notebook API (`from core import CampaignModel, read_terms`): the README example on
the demo subset with no store, and the same answers as the store's Lookup."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.errors import NotFoundError
from core.model import actions
from tests.conftest import FAST_K, FAST_PARAMS, REPO, SONY, demo_subset, shared_data

MODEL_ARGS = {"k": FAST_K, "engine": "tomotopy", "seed": 0,
              "engine_params": {"iterations": FAST_PARAMS["iterations"]}}


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory) -> Path:
    return demo_subset(tmp_path_factory.mktemp("api") / "demo400.parquet")


@pytest.fixture(scope="module")
def fitted(demo_file: Path):
    """One small model fitted in-process on the demo subset, with no store."""
    from core import CampaignModel, read_terms

    mp = pytest.MonkeyPatch()
    mp.delenv("TOPICLAB_HOME", raising=False)
    try:
        return CampaignModel(**MODEL_ARGS).fit(read_terms([demo_file]))
    finally:
        mp.undo()


EXAMPLE = """
import json, sys
from core import CampaignModel, read_terms
terms = read_terms([sys.argv[1]])
model = CampaignModel(k={k}, engine="tomotopy", seed=0,
                      engine_params={{"iterations": {iterations}}}).fit(terms)
fp = model.fingerprints_
topics = model.topics(n=10)
near = model.neighbors("C00042", n=10)
new = model.fingerprint(["emergency plumber", "blocked drain"])
advice = model.suggest("C00042")
model.save(sys.argv[2])
print(json.dumps({{
    "shape": list(fp.shape), "sums": fp.sum(axis=1).tolist(),
    "topics_shape": list(topics.shape), "topic_words": topics["words"].map(len).tolist(),
    "neighbors": near["campaign_id"].tolist(), "new_sum": float(new.weights.sum()),
    "known": new.known_tokens, "kinds": [a.kind for a in advice.actions],
    "store_used": any(m in sys.modules for m in ("core.data.store", "streamlit")),
}}))
"""


def test_readme_example_runs_without_a_store(demo_file: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The example as a notebook runs it: a fresh interpreter, no TOPICLAB_HOME, and
    nothing of the store or of Streamlit imported (DuckDB itself may be: `read_terms`
    hashes rows with it to find duplicates, an engine in memory, no store)."""
    monkeypatch.delenv("TOPICLAB_HOME", raising=False)
    code = EXAMPLE.format(k=FAST_K, iterations=FAST_PARAMS["iterations"])
    env = {k: v for k, v in os.environ.items() if k != "TOPICLAB_HOME"}
    out = subprocess.run([sys.executable, "-c", code, str(demo_file), str(tmp_path / "m")],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["shape"] == [400, FAST_K]
    assert np.allclose(result["sums"], 1.0, atol=1e-5)
    assert result["topics_shape"] == [FAST_K, 4] and set(result["topic_words"]) == {10}
    assert len(result["neighbors"]) == 10 and "C00042" not in result["neighbors"]
    assert result["new_sum"] == pytest.approx(1.0) and "plumber" in result["known"]
    assert result["kinds"] and set(result["kinds"]) <= set(actions.KINDS)
    assert not result["store_used"]
    assert (tmp_path / "m" / "manifest.json").is_file()
    assert (tmp_path / "m" / "counts.npz").is_file()


def readme_python_snippet() -> list[str]:
    """The lines of the README's notebook example (the first Python block of "Use from
    Python"), as a reader pastes them."""
    section = (REPO / "README.md").read_text(encoding="utf-8").split("## Use from Python", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0].splitlines()


def test_the_readmes_python_snippet_runs_as_written(fitted, demo_file: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's own lines, not a copy of them (EXAMPLE above is one, and could drift):
    the files it reads become the demo subset, and the module's fitted model stands for the
    fit line, whose estimator is built and its settings checked without the training."""
    from core import CampaignModel

    lines = readme_python_snippet()
    fit = [line for line in lines if ".fit(terms)" in line]
    reads = [line for line in lines if re.search(r"read_terms\(\[[^\]]*\]\)", line)]
    assert len(fit) == 1 and len(reads) == 1 and len(lines) > 6
    monkeypatch.delenv("TOPICLAB_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    unfitted: dict = {"CampaignModel": CampaignModel}
    exec(fit[0].split("#")[0].replace(".fit(terms)", ""), unfitted)
    unfitted["model"]._make_engine()  # its settings are valid ones
    code = "\n".join(line for line in lines if line not in fit).replace(
        re.search(r"read_terms\(\[[^\]]*\]\)", reads[0])[0], f"read_terms([{str(demo_file)!r}])")
    namespace = {"model": fitted}
    exec(compile(code, "README.md (Use from Python)", "exec"), namespace)
    assert len(namespace["terms"]) == len(fitted.terms_)
    assert (tmp_path / "m" / "manifest.json").is_file()


def test_fitted_attributes_and_answers(fitted) -> None:
    fp = fitted.fingerprints_
    assert fp.shape == (400, FAST_K) and fp.index.is_monotonic_increasing
    assert np.allclose(fp.sum(axis=1), 1.0, atol=1e-5)
    assert fitted.topic_term_.shape == (FAST_K, len(fitted.vocabulary_))
    topics = fitted.topics(n=5)
    assert topics.shape == (FAST_K, 4)
    assert topics["name"].str.startswith("T").all()
    first = topics.iloc[0]
    assert first["words"] == fitted.engine_.top_words(0, 5)
    assert first["weights"] == sorted(first["weights"], reverse=True)
    new = fitted.fingerprint(["emergency plumber", "blocked drain", "zxqv"])
    assert new.weights.sum() == pytest.approx(1.0)
    assert "zxqv" in new.unknown_tokens and 0 < new.oov_share < 1
    # the pasted keywords of a stored campaign come close to that campaign
    own = fitted.terms_.loc[fitted.terms_["campaign_id"] == "C00042", "term"].tolist()
    advice = fitted.suggest(own)
    assert advice.actions or advice.notes
    near = fitted._keyword_neighbors(fitted.fingerprint(own), 5)
    assert "C00042" in near["campaign_id"].tolist()


def test_a_campaign_id_with_spaces_around_it_is_the_campaign(fitted) -> None:
    """An import trims the ids it stores, so `" C00042 "` can only mean C00042 (it was "No
    campaign ' C00042 '"); a suggestion for it is the campaign's, not its characters'."""
    assert fitted.neighbors(" C00042\t").equals(fitted.neighbors("C00042"))
    padded, plain = fitted.suggest(" C00042 "), fitted.suggest("C00042")
    assert actions.to_frame(padded.actions).equals(actions.to_frame(plain.actions))
    with pytest.raises(NotFoundError, match="No campaign 'C 00042'"):
        fitted.suggest(" C 00042")


def test_a_campaign_argument_that_is_no_id_is_refused_by_name(fitted) -> None:
    """`suggest(None)` was "TypeError: 'NoneType' object is not iterable", `suggest(b"C1")`
    read the bytes as the keywords [67, 49] though `neighbors(b"C1")` reads them as the id,
    `suggest({...})` took a dict's keys as keywords, and `neighbors(None)` / `(nan)` said
    "No campaign 'None'", as if a campaign had that id."""
    from core import InputError

    for missing in (None, float("nan"), pd.NA):
        with pytest.raises(InputError, match="give a campaign id, not"):
            fitted.neighbors(missing)
        with pytest.raises(InputError, match="give a campaign id or a list of keywords"):
            fitted.suggest(missing)
    plain = actions.to_frame(fitted.suggest("C00042").actions)
    assert actions.to_frame(fitted.suggest(b"C00042").actions).equals(plain)
    with pytest.raises(NotFoundError, match="No campaign 'C99999'"):
        fitted.suggest(b"C99999")
    with pytest.raises(InputError, match="list of keywords"):
        fitted.suggest({"emergency plumber": 1})


def test_no_keywords_are_refused_naming_the_argument(fitted) -> None:
    """`fingerprint([])` said the Lookup page's "No keywords were given: paste one keyword
    per line or separate them with commas", naming neither the argument nor anything a
    notebook user can paste into; `suggest([])` said the same."""
    from core import InputError

    for empty in ([], "", ["  ", ""], pd.Series([], dtype=object)):
        with pytest.raises(InputError, match=r"^keywords: give at least one keyword with "
                                             r"text, not") as caught:
            fitted.fingerprint(empty)
        assert "paste" not in str(caught.value)
        with pytest.raises(InputError, match=r"^campaign: give at least one keyword with "
                                             r"text, not"):
            fitted.suggest(empty if not isinstance(empty, str) else [empty])
    with pytest.raises(InputError, match=r"^campaign: give a keyword or a list of keywords"):
        fitted.suggest({"emergency plumber": 1})
    assert fitted.fingerprint([" ", "emergency plumber"]).known_tokens


def test_neighbors_of_several_campaigns_at_once_is_refused_by_name(fitted) -> None:
    """`neighbors(["C00042", "C00043"])` (the CLI takes several ids) said "No campaign
    \"['C00042', 'C00043']\"", as if a campaign had that id."""
    from core import InputError

    for many in (["C00042", "C00043"], ("C00042",), pd.Series(["C00042"]),
                 np.array(["C00042"])):
        with pytest.raises(InputError, match=r"give one campaign id, not a \w+ .*ask once "
                                             "per campaign"):
            fitted.neighbors(many)
    assert fitted.neighbors(np.str_("C00042")).equals(fitted.neighbors("C00042"))


def test_exclude_account_takes_true_or_false_only(fitted) -> None:
    """`exclude_account="no"` (or "false", 0.5) was truthy: the campaign's own account was
    left out of its neighbours, silently."""
    from core import InputError

    for value in ("no", "false", 0.5, None):
        with pytest.raises(InputError, match=rf"exclude_account must be True or False, not "
                                             rf"{re.escape(repr(value))}"):
            fitted.neighbors("C00042", exclude_account=value)
    assert fitted.neighbors("C00042", exclude_account=np.bool_(False)).equals(
        fitted.neighbors("C00042"))


def test_the_store_lookup_takes_exclude_account_true_or_false_only(trained_home) -> None:
    """`Lookup.neighbors(exclude_account="no")` left the campaign's own account out, as
    `CampaignModel.neighbors` did before it used the shared flag check."""
    from core import InputError
    from core.serve import registry
    from core.serve.lookup import Lookup

    lookup = Lookup(registry.alias("production"))
    for value in ("no", 0, None):
        with pytest.raises(InputError, match=rf"exclude_account must be True or False, not "
                                             rf"{re.escape(repr(value))}"):
            lookup.neighbors("C00042", exclude_account=value)
        with pytest.raises(InputError, match="exclude_account must be True or False"):
            lookup.campaign("C00042", exclude_account=value)
    assert lookup.neighbors("C00042", exclude_account=np.bool_(False)).equals(
        lookup.neighbors("C00042"))


def test_yes_no_settings_take_true_or_false_only(fitted, tmp_path: Path) -> None:
    """`save(include_terms="no")` saved the term rows (a truthy string), silently; `save`
    and `registry.campaign_model(with_terms=...)` check their flag as `neighbors` does."""
    from core import InputError
    from core.serve import registry

    for value in ("no", 0, None):
        with pytest.raises(InputError, match=rf"include_terms must be True or False, not "
                                             rf"{re.escape(repr(value))}"):
            fitted.save(tmp_path / "m", include_terms=value)
        with pytest.raises(InputError, match="with_terms must be True or False"):
            registry.campaign_model("production", with_terms=value)  # refused before the store
    assert not (tmp_path / "m").exists()
    fitted.save(tmp_path / "m", include_terms=np.bool_(False))
    assert not (tmp_path / "m" / "terms.parquet").exists()


def test_a_path_that_is_no_folder_name_is_refused_by_name(fitted, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    """`load(5)` and `save(5)` were pathlib's "TypeError: expected str, bytes or
    os.PathLike object, not int" from deep inside; "" was the current folder."""
    from core import CampaignModel, InputError

    monkeypatch.chdir(tmp_path)
    for value in (5, None, b"m", ["m"]):
        with pytest.raises(InputError, match=rf"load: path must be a folder name \(text or a "
                                             rf"pathlib.Path\), not {type(value).__name__}"):
            CampaignModel.load(value)
        with pytest.raises(InputError, match=rf"save: path must be a folder name .* not "
                                             rf"{type(value).__name__}"):
            fitted.save(value)
    # a folder that is not there, or a file, was "holds no readable Topic Lab model
    # (manifest.json is missing or unreadable: FileNotFoundError)", as if it were damaged
    with pytest.raises(NotFoundError, match=r"nope is not there, not a model folder: give the "
                                            r"folder `save` wrote"):
        CampaignModel.load(tmp_path / "nope")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(NotFoundError, match=r"file\.txt is a file, not a model folder"):
        CampaignModel.load(tmp_path / "file.txt")
    (tmp_path / "file.txt").unlink()
    for empty in ("", "  "):
        with pytest.raises(InputError, match="save: path is empty"):
            fitted.save(empty)
        with pytest.raises(InputError, match="load: path is empty"):
            CampaignModel.load(empty)
    assert not list(tmp_path.iterdir())


def test_save_and_load_expand_a_home_folder_as_read_terms_does(fitted, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    """`save("~/models/m1")` made a folder named `~` in the current folder, then failed
    with "OSError: Cannot save file into a non-existent directory: '<home>/.tmp-m1'";
    `load("~/…")` said the folder was not there."""
    from core import CampaignModel

    home, cwd = tmp_path / "home", tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(cwd)
    assert fitted.save("~/models/m1") == home / "models" / "m1"
    assert (home / "models" / "m1" / "manifest.json").is_file()
    assert not list(cwd.iterdir())  # no folder named "~"
    loaded = CampaignModel.load("~/models/m1")
    assert loaded.fingerprints_.equals(fitted.fingerprints_)


def test_save_refuses_the_current_folder_and_the_folders_holding_it(
        fitted, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`save(".")` in an empty folder was "OSError: [Errno 16] Device or resource busy:
    '.' -> '.old-'"; by its full name the folder would have been replaced, leaving Python
    in a deleted folder."""
    from core import InputError

    here = tmp_path / "notebooks"
    here.mkdir()
    monkeypatch.chdir(here)
    for path, said in ((".", "is the current folder"), ("./", "is the current folder"),
                       (str(here), "is the current folder"), ("..", "holds the current")):
        with pytest.raises(InputError, match=f"save: .* {said} .*give a new folder"):
            fitted.save(path)
    assert not list(here.iterdir()) and [p.name for p in tmp_path.iterdir()] == ["notebooks"]
    assert (fitted.save("model/") / "manifest.json").is_file()  # a folder in it is fine


def test_read_terms_refuses_an_encoding_that_is_no_name(demo_file: Path) -> None:
    """`read_terms(..., encoding=5)` was "AttributeError: 'int' object has no attribute
    'strip'"; a name is still taken, spaces and case aside."""
    from core import InputError, read_terms

    for wrong in (5, b"cp932", ["cp932"]):
        with pytest.raises(InputError, match="encoding: give a codec name such as 'cp932'"):
            read_terms(demo_file, encoding=wrong)
    assert len(read_terms(demo_file, encoding=" UTF-8 ")) == len(read_terms(demo_file))


def test_a_campaign_id_in_another_case_is_named(fitted) -> None:
    """`c00042` for C00042 was "No campaign 'c00042'" with no hint."""
    with pytest.raises(NotFoundError, match=r"Did you mean 'C00042'\? Campaign ids are "
                                            "case-sensitive"):
        fitted.neighbors("c00042")
    with pytest.raises(NotFoundError) as missed:
        fitted.neighbors("x00042")
    assert "Did you mean" not in str(missed.value)


def test_scikit_learn_conventions(fitted, demo_file: Path) -> None:
    from sklearn.base import clone
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    from core import CampaignModel, InputError, NotFoundError

    params = fitted.get_params()
    assert params["k"] == FAST_K and params["engine"] == "tomotopy"
    copy = clone(fitted)
    assert copy.get_params() == params and not hasattr(copy, "fingerprints_")
    with pytest.raises(RuntimeError, match="not fitted"):
        copy.neighbors("C00042")
    # scikit-learn's own exception, as `check_is_fitted` raises it (was: RuntimeError only)
    with pytest.raises(NotFittedError, match="not fitted: call fit"):
        copy.suggest("C00042")
    with pytest.raises(NotFittedError):
        check_is_fitted(copy)
    check_is_fitted(fitted)
    assert copy.set_params(k=7).k == 7
    with pytest.raises(InputError, match="K must be a whole number"):
        CampaignModel(k=0).fit(pd.read_parquet(demo_file))
    with pytest.raises(InputError, match="no parameter"):
        CampaignModel(engine_params={"iteration": 5}).fit(pd.read_parquet(demo_file))
    with pytest.raises(NotFoundError, match="C99999"):
        fitted.neighbors("C99999")
    for method in (fitted.transform, CampaignModel(**MODEL_ARGS).fit):  # not AttributeError
        with pytest.raises(InputError, match=r"takes a DataFrame of term rows .*, not list"):
            method(["emergency plumber"])


def test_term_rows_are_not_metadata_to_route() -> None:
    """scikit-learn read `terms` (fit's and transform's X) from the signatures as metadata:
    help(CampaignModel) listed set_fit_request(terms=…) and set_transform_request(terms=…),
    saying "metadata should be passed to the fit method"."""
    from core import CampaignModel

    assert not hasattr(CampaignModel, "set_fit_request")
    assert not hasattr(CampaignModel, "set_transform_request")
    requests = CampaignModel()._get_metadata_request()
    assert "terms" not in requests.fit.requests and "terms" not in requests.transform.requests


def test_term_rows_without_a_campaign_are_refused_by_name(fitted) -> None:
    """A DataFrame with missing campaign ids (after a merge) failed deep in the campaign
    totals: "ValueError: 'list' argument must have no negative elements"."""
    from core import CampaignModel, InputError

    terms = fitted.terms_.copy()
    terms.loc[terms.index[3:5], "campaign_id"] = None
    with pytest.raises(InputError, match=r"2 term rows have no campaign_id \(the first: "
                                         r"term row \.iloc\[3\] \(index 3\), term '.+'\)"):
        CampaignModel(**MODEL_ARGS).fit(terms)


def test_campaign_ids_are_trimmed_and_a_blank_one_refused_as_an_import_does(fitted) -> None:
    """Ids padded by a spreadsheet (" C00042 ") were fitted as such, so no query reached
    them (`neighbors` trims the id asked: " C00042 " and "C00042" alike were "No campaign
    'C00042'"), and rows with an id of "" or "  " were one campaign of many campaigns'
    rows; an import trims ids and refuses a blank one."""
    from core import CampaignModel, InputError

    padded = fitted.terms_.assign(campaign_id=" " + fitted.terms_["campaign_id"] + "  ")
    assert fitted.transform(padded).index.equals(fitted.fingerprints_.index)
    model = CampaignModel(**{**MODEL_ARGS, "k": 3}).fit(padded.iloc[:3000])
    assert " " not in "".join(model.fingerprints_.index)
    first = model.fingerprints_.index[0]
    assert len(model.neighbors(f" {first} ", n=2)) == 2
    for blank in ("", "  "):
        terms = fitted.terms_.copy()
        terms.loc[terms.index[3:5], "campaign_id"] = blank
        with pytest.raises(InputError, match=r"2 term rows have no campaign_id \(the first: "
                                             r"term row \.iloc\[3\] \(index 3\)"):
            CampaignModel(**MODEL_ARGS).fit(terms)


def test_cells_holding_lists_are_refused_as_an_import_refuses_them(fitted) -> None:
    """A term column of token lists (`str.split()`) was read as their printed form: with
    `pretokenized` the vocabulary was "'access'," and "'accord',", silently; an id ['C1']
    was the campaign "['C1']". An import refuses a list column."""
    from core import CampaignModel, InputError, TextConfig

    terms = fitted.terms_.iloc[:3000]
    tokens = terms.assign(term=terms["term"].str.split())
    model = CampaignModel(**{**MODEL_ARGS, "k": 3, "text": TextConfig(pretokenized=True)})
    for method in (model.fit, fitted.transform):
        with pytest.raises(InputError, match=r"term row \.iloc\[0\] \(index 0\), column "
                                             r"'term': holds list \['.+, not one value per "
                                             r"cell: give it as text"):
            method(tokens)
    ids = terms.assign(campaign_id=[[c] for c in terms["campaign_id"]])
    with pytest.raises(InputError, match=r"column 'campaign_id': holds list \['C00001'\]"):
        model.fit(ids)
    # joined as the message says, the same rows fit on words, not on their printed form
    model.fit(tokens.assign(term=tokens["term"].str.join(" ")))
    assert not [w for w in model.vocabulary_ if "'" in w or "," in w]


def test_rows_indexed_by_a_column_they_keep_fit(fitted, tmp_path: Path) -> None:
    """`set_index("campaign_id", drop=False)` (or a MultiIndex of columns) failed inside fit
    with pandas' "'campaign_id' is both an index level and a column label, which is
    ambiguous"; the columns are what is read."""
    from core import CampaignModel

    terms = fitted.terms_.iloc[:3000]
    plain = CampaignModel(**{**MODEL_ARGS, "k": 3}).fit(terms)
    for indexed in (terms.set_index("campaign_id", drop=False),
                    terms.set_index(["label", "term"], drop=False)):
        model = CampaignModel(**{**MODEL_ARGS, "k": 3}).fit(indexed)
        assert model.fingerprints_.equals(plain.fingerprints_)
        assert model.campaigns_["label"].equals(plain.campaigns_["label"])
        assert len(model.suggest("C00001").actions) == len(plain.suggest("C00001").actions)
    assert indexed.index.names == ["label", "term"]  # the caller's frame is left as it was
    loaded = CampaignModel.load(plain.save(tmp_path / "m", include_terms=False),
                                terms=terms.set_index("campaign_id", drop=False))
    assert loaded.neighbors("C00001", n=3).equals(plain.neighbors("C00001", n=3))


def test_term_types_in_a_reports_spelling_are_read_as_an_import_reads_them(fitted) -> None:
    """"Keyword" and "Search term" (as `pd.read_csv` keeps a report's values) were kept as
    given, so no row was a search term: `campaigns_` counted 0 of them and the actions
    learnt from search terms were silently missing. An import reads them, and leaves
    other values empty with a warning."""
    from core import CampaignModel

    terms = fitted.terms_.iloc[:3000]
    spelt = terms.assign(term_type=terms["term_type"].map(
        {"keyword": "Keyword", "search_term": "Search term"}))
    model = CampaignModel(**{**MODEL_ARGS, "k": 3})
    plain = model.fit(terms).campaigns_
    assert plain["search_terms"].sum() > 0
    assert model.fit(spelt).campaigns_["search_terms"].equals(plain["search_terms"])
    assert model.terms_["term_type"].equals(terms["term_type"])
    assert "promote_search_terms" in {a.kind for a in model.suggest("C00001").actions}
    odd = terms.assign(term_type=terms["term_type"].where(terms.index != 5, "Keyword idea"))
    with pytest.warns(UserWarning, match=r"fit: term type values \['Keyword idea'\] are not "
                                         r"'keyword' or 'search_term'; left empty"):
        model.fit(odd)
    assert model.terms_["term_type"].isna().sum() == 1


def test_rows_headed_as_an_export_are_pointed_to_read_terms(fitted) -> None:
    """A frame of an export read with pandas ("Campaign ID", "Keyword", as Google Ads
    heads them) was "term rows lack the columns 'campaign_id', 'term'", naming neither the
    columns it had nor `read_terms`, which maps them: both are said, with the rename that
    would do, in fit, transform and load alike; other columns are listed, at most 8."""
    from core import CampaignModel, InputError

    export = pd.DataFrame({"Campaign ID": ["C1", "C2"], "Keyword": ["plumber", "drain"],
                           "Clicks": [3, 4], "Currency code": ["JPY", "JPY"]})
    said = re.escape(
        "term rows lack the columns 'campaign_id', 'term'; their columns are 'Campaign ID', "
        "'Keyword', 'Clicks', 'Currency code'. These look like an export's headers: read its "
        "files with read_terms (from core import read_terms), which maps them and reads their "
        "values as an import does, or rename them: .rename(columns={'Campaign ID': "
        "'campaign_id', 'Keyword': 'term', 'Clicks': 'clicks'})")
    with pytest.raises(InputError, match=f"^{said}$"):
        CampaignModel(**MODEL_ARGS).fit(export)
    with pytest.raises(InputError, match=f"^{said}$"):
        fitted.transform(export)
    renamed = export.rename(columns={"Campaign ID": "campaign_id", "Keyword": "term"})
    with warnings.catch_warnings():  # words the model may not know: a warning, not this
        warnings.simplefilter("ignore")
        assert list(fitted.transform(renamed).index) == ["C1", "C2"]  # the rename reads
    wide = pd.DataFrame({f"c{i}": ["x"] for i in range(12)})
    with pytest.raises(InputError, match=r"their columns are 'c0', 'c1', 'c2', 'c3', 'c4', "
                                         r"'c5', 'c6', 'c7', … \(12 in all\)$"):
        CampaignModel(**MODEL_ARGS).fit(wide)


def test_an_export_without_a_campaign_column_says_a_rename_is_not_enough() -> None:
    """A Sony keyword report read with pandas has an export's headers but no campaign
    column (`read_terms` names its rows after the file): the hint offered a rename, after
    which fit still said "term rows lack the column 'campaign_id'". `fit` does not map
    the headers itself: the file's values need the reader too ("[sony ai]" keeps its
    match marks, "Exact match" is not "exact", the file name is the campaign), so it says
    what `read_terms` does and that a rename needs a campaign id as well; with one, the
    frame trains."""
    from core import CampaignModel, InputError, read_terms

    sony = REPO / "tests" / "fixtures" / "sony"
    export = pd.concat([pd.read_csv(path, encoding="utf-16", sep="\t", skiprows=2)
                        .assign(campaign=path.stem) for path in sorted(sony.glob("*.csv"))])
    raw = export.drop(columns="campaign")
    with pytest.raises(InputError, match=re.escape(
            "'Impr.': 'impressions', 'Clicks': 'clicks', 'Cost': 'cost', 'Conversions': "
            "'conversions'}). They hold no campaign column (read_terms names a file's rows "
            "after the file when it has none, as an import does), so a rename needs a "
            "campaign id too: .assign(campaign_id=...)") + "$"):
        CampaignModel(**MODEL_ARGS).fit(raw)
    headed = pd.DataFrame({"Campaign ID": ["C1"], "Keyword": ["plumber"]})
    with pytest.raises(InputError, match=r"rename them: \.rename\(columns=\{'Campaign ID': "
                                         r"'campaign_id', 'Keyword': 'term'\}\)$"):
        CampaignModel(**MODEL_ARGS).fit(headed)  # a campaign column: no such note
    renamed = export.rename(columns={"Keyword": "term", "campaign": "campaign_id"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = CampaignModel(**{**MODEL_ARGS, "k": 2}).fit(renamed)
    assert set(model.fingerprints_.index) == set(read_terms(sony)["campaign_id"])


def test_messages_listing_names_agree_with_how_many(fitted) -> None:
    """Messages listing names read "lack the column(s) ['term']" and "Unknown role(s) …"
    whether one name was missing or several."""
    from core import CampaignModel, InputError
    from core.data import auth
    from core.model import engines

    rows = pd.DataFrame({"campaign_id": ["C1"], "term": ["plumber"]})
    with pytest.raises(InputError, match=r"term rows lack the column 'term'; their columns "
                                         r"are 'campaign_id'$"):
        CampaignModel(**MODEL_ARGS).fit(rows[["campaign_id"]])
    with pytest.raises(InputError, match=r"lack the columns 'campaign_id', 'term'; their "
                                         r"columns are 'a', 'b'$"):
        CampaignModel(**MODEL_ARGS).fit(rows.rename(columns={"campaign_id": "a", "term": "b"}))
    with pytest.raises(InputError, match=r"has no parameter 'iteration'; it takes"):
        engines.make_engine("tomotopy", iteration=5)
    with pytest.raises(InputError, match=r"has no parameters 'a', 'b'; it takes"):
        engines.make_engine("tomotopy", b=1, a=2)
    with pytest.raises(InputError, match=r"^engine 'btm' has no parameters 'passes', 'spare_"
                                         r"share' \(gensim takes 'passes'; tomotopy takes "
                                         r"'spare_share'\); it takes 'k', 'alpha', "):
        engines.make_engine("btm", spare_share=0.2, passes=3)  # was a Python list ['k', …]
    with pytest.raises(InputError, match=r"^neighbors lacks the columns 'campaign_id', "
                                         r"'similarity'$"):
        actions.suggest(rows, rows, pd.DataFrame({"x": [1]}), np.ones(3))
    with pytest.raises(auth.IdentityError, match=r"^Unknown roles 'elf', 'wizard' in"):
        auth.role_for("ana@example.com", {"wizard": ["*"], "elf": ["*"]})


def test_fit_on_rows_with_nothing_to_learn_says_so(fitted) -> None:
    """An empty frame, a term column of blanks and terms of stop words only were all "no
    words are left after the vocabulary filters (… no_below=2, no_above=0.5): lower
    no_below or raise no_above", a setting to change that would not help."""
    from core import CampaignModel, InputError

    model = CampaignModel(**MODEL_ARGS)
    with pytest.raises(InputError, match=r"the term rows are empty \(0 rows\)"):
        model.fit(fitted.terms_.iloc[:0])
    blanks = pd.DataFrame({"campaign_id": ["C1", "C2", "C3"], "term": [None, np.nan, None]})
    with pytest.raises(InputError, match="none of the 3 term rows has a term"):
        model.fit(blanks)
    stop_words = pd.DataFrame({"campaign_id": ["C1", "C2"], "term": ["the and", "of 42 !"]})
    with pytest.raises(InputError, match=r"no word is left after tokenising the 2 documents: "
                                         r"every word is a stop word, a number"):
        model.fit(stop_words)
    assert not hasattr(model, "index_")


def test_every_check_of_a_term_row_names_it_the_same_way(fitted) -> None:
    """A bad row of a frame given to fit was "row 103" (its index label) when its
    campaign_id was missing, "term row .iloc[3]" (its position, no label) when the id was
    infinite, and "term row .iloc[3] (index 103)" for a bad metric: one wording now, the
    position and the label, which differ after a filter or concat."""
    from core import CampaignModel, InputError

    terms = fitted.terms_.iloc[:60].set_axis(range(100, 160))
    label = re.escape("term row .iloc[3] (index 103)")
    model = CampaignModel(**MODEL_ARGS)
    bad = [("1 term row has no campaign_id (the first: ", terms.assign(
               campaign_id=terms["campaign_id"].where(terms.index != 103, None))),
           ("fit: ", terms.assign(campaign_id=np.where(terms.index == 103, np.inf, 1.0))),
           ("fit: ", terms.assign(clicks=np.where(terms.index == 103, -5, 1)))]
    for said, frame in bad:
        with pytest.raises(InputError, match=re.escape(said) + label):
            model.fit(frame)
    # after a filter the labels are numpy integers: they read "(index np.int64(104))"
    kept = fitted.terms_.iloc[:160][lambda f: (f.index >= 100) & (f.index != 101)]
    with pytest.raises(InputError, match=re.escape("fit: term row .iloc[3] (index 104), ")):
        model.fit(kept.assign(clicks=np.where(kept.index == 104, -5, 1)))


def test_number_campaign_ids_fit_as_an_import_reads_them(fitted, tmp_path: Path) -> None:
    """A frame of float campaign ids (pandas reads a column with a missing cell so) gave
    ids "7.0" in Python while importing the same rows gives "7": fingerprints, neighbours
    and load(terms=) of the store's rows did not meet."""
    from core import CampaignModel, read_terms

    terms = fitted.terms_[fitted.terms_["campaign_id"].isin(
        fitted.terms_["campaign_id"].unique()[:40])].copy()
    terms["campaign_id"] = pd.factorize(terms["campaign_id"])[0].astype("float64") + 1
    terms.to_parquet(tmp_path / "numbers.parquet", index=False)
    imported = read_terms(tmp_path / "numbers.parquet")
    model = CampaignModel(**{**MODEL_ARGS, "k": 4}).fit(terms)
    assert sorted(imported["campaign_id"].unique()) == model.fingerprints_.index.tolist()
    assert "7" in model.fingerprints_.index and "7.0" not in model.fingerprints_.index
    assert model.neighbors(7.0, n=3)["campaign_id"].tolist() == \
        model.neighbors("7", n=3)["campaign_id"].tolist()
    # suggest took 7.0 for a list of keywords (TypeError: 'float' object is not iterable)
    by_number, by_text = model.suggest(7.0, n=3), model.suggest("7", n=3)
    assert ([a.kind for a in by_number.actions], by_number.notes) == \
        ([a.kind for a in by_text.actions], by_text.notes)
    with pytest.raises(NotFoundError, match="No campaign '999'"):
        model.suggest(999)
    assert model.transform(terms).index.tolist() == model.transform(imported).index.tolist()


def test_number_campaign_ids_keep_their_rows_whatever_the_frame_index() -> None:
    """Integer ids were turned into text on a 0..n index and assigned back by label: a
    frame indexed [10, 11, 12] (a filtered one) lost every id, one indexed [0, 2, 1] had
    two rows' ids swapped, silently."""
    from core.model.campaign_model import _checked_frame

    for index in ([10, 11, 12], [0, 2, 1]):
        terms = pd.DataFrame({"campaign_id": [3, 4, 3], "term": ["a b", "c d", "e f"]},
                             index=index)
        checked = _checked_frame("fit", terms)
        assert checked["campaign_id"].tolist() == ["3", "4", "3"], index
        assert checked.index.tolist() == index


def test_fit_warns_when_k_is_too_large_for_the_data_as_train_does(fitted) -> None:
    """`train` (CLI, Train page) warned "K = 12 topics for 20 campaigns is a lot"; the
    notebook's `CampaignModel.fit` trained the same fragments of single campaigns silently.
    One helper words both (`core.model.engines.size_warnings`)."""
    from core import CampaignModel
    from core.ops import train

    terms = fitted.terms_[fitted.terms_["campaign_id"].isin(
        fitted.terms_["campaign_id"].unique()[:20])]
    with pytest.warns(UserWarning) as caught:
        model = CampaignModel(**{**MODEL_ARGS, "k": 12}).fit(terms)
    said = [str(w.message) for w in caught]
    expected = train.size_warnings(12, 20, len(model.vocabulary_))
    assert expected and expected[0].startswith("K = 12 topics for 20 campaigns is a lot")
    assert [w for w in said if w in expected] == expected


def test_k_auto_fits_k_to_the_data_as_the_pipeline_does(tmp_path: Path) -> None:
    """A notebook had to pick K itself: `CampaignModel(k=20)` on one demo vertical (94
    campaigns of one industry) trained topics repeating each other's top words, where the
    pipeline, `train` and the Train page fit K to the data. `k="auto"` fits it the same way
    (`core.model.fitted_k`); the K trained is `k_`, the Ks tried are `k_tried_`, both kept
    by `save` and `load`, while `k` stays as given (scikit-learn's params)."""
    from core import CampaignModel, InputError
    from core.model.engines import DEFAULTS, fewer_topics, fitting_k
    from core.model.metrics import DIVERSITY_FLOOR
    from tests.conftest import DEMO_FILE

    frame = pd.read_parquet(DEMO_FILE)
    one = frame[frame["vertical"] == frame["vertical"].min()]
    model = CampaignModel(k="auto", engine_params={"iterations": FAST_PARAMS["iterations"]}
                          ).fit(one)
    ks = [k for k, _ in model.k_tried_]
    start = fitting_k(DEFAULTS["tomotopy"]["k"], one["campaign_id"].nunique(),
                      len(model.vocabulary_))
    assert len(ks) >= 2 and ks[0] == start, (ks, start)
    assert ks == [start, *(fewer_topics(k) for k in ks[:-1])]
    assert all(d < DIVERSITY_FLOOR for _, d in model.k_tried_[:-1])
    assert model.k_tried_[-1][1] >= DIVERSITY_FLOOR and model.k_ == ks[-1]
    assert model.fingerprints_.shape[1] == model.topic_term_.shape[0] == model.k_
    assert model.get_params()["k"] == "auto" and model.manifest_["k"] == model.k_
    again = CampaignModel.load(model.save(tmp_path / "auto"))
    assert (again.k, again.k_, again.k_tried_) == ("auto", model.k_, model.k_tried_)
    given = CampaignModel(k=start, engine_params={"iterations": 30}).fit(one)
    assert (given.k_, given.k_tried_) == (start, [])
    with pytest.raises(InputError, match="from 2 to 500 or 'auto', not 'Auto'"):
        CampaignModel(k="Auto").fit(one)


def test_fit_cleans_and_refuses_what_an_import_does(fitted) -> None:
    """A frame made in Python kept a zero-width space or a bell in its terms and names
    (the word 'plum\u200bber' no keyword matches), and 'C1\u200b' was a second campaign
    beside 'C1'; an import of the same cells cleans the text and refuses the id. A bool
    id column was two campaigns, "True" and "False", an infinite float id the campaign
    "inf"; -5 clicks made a negative CTR, an infinite cost an infinite CPC. Bytes ids
    were "b'C1'" (an import reads them as "C1"); columns on two levels an AttributeError."""
    from core import CampaignModel, InputError

    terms = fitted.terms_[fitted.terms_["campaign_id"].isin(
        fitted.terms_["campaign_id"].unique()[:40])].reset_index(drop=True)
    clean = CampaignModel(**{**MODEL_ARGS, "k": 4}).fit(terms)
    word = next(w for w in terms["term"].str.split().str[0].value_counts().index
                if len(w) > 3 and w in clean.vocabulary_)
    dirty = terms.assign(
        term=terms["term"].str.replace(word, word[:2] + "\u200b" + word[2:], regex=False),
        campaign_name=terms["campaign_name"] + "\x07")
    with pytest.warns(UserWarning, match=r"fit: \d+ cells of column 'term' held control or "
                                         r"invisible characters \(U\+200B\)"):
        model = CampaignModel(**{**MODEL_ARGS, "k": 4}).fit(dirty)
    assert model.vocabulary_ == clean.vocabulary_
    assert np.allclose(model.fingerprints_, clean.fingerprints_)
    assert not model.campaigns_["campaign_name"].str.contains("\x07").any()
    categorical = dirty.assign(term=pd.Categorical(dirty["term"]))  # was a TypeError
    with pytest.warns(UserWarning, match="transform: .* of column 'term' held control"):
        assert np.allclose(fitted.transform(categorical), fitted.transform(terms))
    twin = terms.copy()
    twin.loc[7, "campaign_id"] = twin.loc[7, "campaign_id"] + "\u200b"
    for method in (CampaignModel(**MODEL_ARGS).fit, fitted.transform):
        with pytest.raises(InputError, match=r"term row \.iloc\[7\] \(index 7\), column "
                                             r"'campaign_id': the campaign id '.+\\u200b' "
                                             r"holds control or invisible characters"):
            method(twin)
    with pytest.raises(InputError, match="fit: the campaign_id column holds true/false values"):
        CampaignModel(**MODEL_ARGS).fit(terms.assign(campaign_id=terms.index % 2 == 0))
    stamped = terms.assign(campaign_id=pd.to_datetime(terms.index % 9, unit="s"))
    with pytest.raises(InputError, match=r"fit: the campaign_id column holds datetime64\[.+\] "
                                         r"values \(dates or times\), not campaign ids"):
        CampaignModel(**MODEL_ARGS).fit(stamped)
    for column, value, message in [("clicks", -5, "-5 is negative"),
                                   ("cost", np.inf, "inf is not a number"),
                                   ("impressions", 1.5, "1.5 is not a whole number")]:
        bad = terms.assign(**{column: np.where(terms.index == 3, value, 1)})
        with pytest.raises(InputError, match=re.escape(
                f"fit: term row .iloc[3] (index 3), column '{column}': {message}")):
            CampaignModel(**MODEL_ARGS).fit(bad)
    with pytest.raises(InputError, match=r"fit: term row \.iloc\[1\] \(index 1\), column "
                                         r"'campaign_id': inf is not a campaign id"):
        CampaignModel(**MODEL_ARGS).fit(terms.assign(
            campaign_id=np.where(terms.index == 1, np.inf, terms.index % 5)))
    as_bytes = fitted.transform(terms.assign(campaign_id=terms["campaign_id"].map(str.encode)))
    assert as_bytes.index.tolist() == sorted(terms["campaign_id"].unique())  # was "b'C00001'"
    with pytest.raises(InputError, match=re.escape(r"the campaign id b'C\xe9' is not UTF-8")):
        fitted.transform(terms.assign(campaign_id=b"C\xe9"))
    flat = terms.set_axis(pd.MultiIndex.from_product([terms.columns, ["x"]]), axis=1)
    with pytest.raises(InputError, match="transform: the term rows have columns on 2 levels"):
        fitted.transform(flat)


def test_campaign_ids_that_are_dates_in_any_dtype_are_refused(fitted) -> None:
    """A datetime64 id column was refused, but the same dates as an object column (a
    frame built from Timestamps or `date`s), a Period column or a categorical of dates
    became campaigns such as '2024-01-01 00:00:00' and '2024-01', silently."""
    from core import InputError

    terms = fitted.terms_.head(20).reset_index(drop=True)
    days = pd.to_datetime(terms.index % 3, unit="D", origin="2024-01-01")
    for ids, kind in [(pd.Series(days, dtype=object), "object of datetime"),
                      (days.date, "object of date"),
                      (days.to_period("M"), r"period\[M\] of period"),
                      (pd.Categorical(days), "category of datetime64"),
                      (pd.Series(days - days[0], dtype=object), "object of timedelta")]:
        with pytest.raises(InputError, match=rf"transform: the campaign_id column holds "
                                             rf"{kind} values \(dates or times\)"):
            fitted.transform(terms.assign(campaign_id=ids))
    mixed = pd.Series(terms["campaign_id"], dtype=object)  # text ids of object dtype stay ids
    assert fitted.transform(terms.assign(campaign_id=mixed)).equals(fitted.transform(terms))


@pytest.mark.parametrize(("setting", "message"), [
    ({"term_weight": float("nan")}, "term_weight must be a number from 0 to 1, not nan"),
    ({"vector_weight": "0.4"}, "vector_weight must be a number from 0 to 1, not '0.4'"),
    ({"term_weight": 0.7, "vector_weight": 0.7}, "must be at most 1, not 0.7 \\+ 0.7"),
    ({"text": "english"}, "text must be a TextConfig or a dict of its settings, not 'english'"),
    ({"engine_params": "iterations=5"}, "engine_params must be a dict"),
])
def test_every_setting_is_checked_before_training(fitted, setting, message) -> None:
    """Neighbour weights were checked only once the engine had trained (minutes on a
    real account), "0.4" then failed with a TypeError; text="english" and a string of
    engine_params gave "dictionary update sequence element #0 has length 1". No rows
    here: a setting checked after tokenising would fail with "no words are left"."""
    from core import CampaignModel, InputError

    with pytest.raises(InputError, match=message):
        CampaignModel(**{**MODEL_ARGS, **setting}).fit(fitted.terms_.iloc[:0])


def test_max_k_is_the_training_bound() -> None:
    from core.model import campaign_model
    from core.ops import train

    assert campaign_model.MAX_K == train.MAX_K


def test_save_load_round_trip(fitted, tmp_path: Path) -> None:
    from core import CampaignModel, InputError

    folder = fitted.save(tmp_path / "m")
    loaded = CampaignModel.load(folder)
    pd.testing.assert_frame_equal(loaded.fingerprints_, fitted.fingerprints_)
    assert loaded.get_params() == fitted.get_params()
    assert loaded.vocabulary_ == fitted.vocabulary_
    pd.testing.assert_frame_equal(loaded.neighbors("C00042"), fitted.neighbors("C00042"))
    # saving again over a model folder replaces it; a folder of other files is refused
    fitted.save(folder)
    other = tmp_path / "notes"
    other.mkdir()
    (other / "todo.txt").write_text("keep me")
    with pytest.raises(InputError, match="not a Topic Lab model folder"):
        fitted.save(other)
    assert (other / "todo.txt").read_text() == "keep me"
    # without terms the model still fingerprints and finds neighbours, but cannot suggest
    bare = fitted.save(tmp_path / "bare", include_terms=False)
    slim = CampaignModel.load(bare)
    pd.testing.assert_frame_equal(slim.fingerprints_, fitted.fingerprints_)
    with pytest.raises(InputError, match="terms="):
        slim.suggest("C00042")


def test_numpy_settings_save_and_load_as_numbers(fitted, tmp_path: Path) -> None:
    """Settings from a grid (`np.arange`, a results frame) are numpy numbers: a TextConfig
    setting or seed made `save` fail with "TypeError: Object of type int64 is not JSON
    serializable" after training, and np.int64 iterations were left out of the manifest's
    params."""
    from sklearn.base import clone

    from core import CampaignModel

    terms = fitted.terms_.iloc[:3000]
    model = CampaignModel(k=np.int64(3), seed=np.int64(1), term_weight=np.float64(0.3),
                          engine_params={"iterations": np.int64(FAST_PARAMS["iterations"])},
                          text={"no_below": np.int64(2)}).fit(terms)
    assert model.manifest_["params"]["iterations"] == FAST_PARAMS["iterations"]
    loaded = CampaignModel.load(model.save(tmp_path / "m"))
    params = loaded.get_params()
    assert params["seed"] == 1 and type(params["seed"]) is int
    assert params["engine_params"] == {"iterations": FAST_PARAMS["iterations"]}
    assert type(params["engine_params"]["iterations"]) is int
    assert params["text"].no_below == 2 and type(params["text"].no_below) is int
    assert clone(loaded).fit(terms).fingerprints_.equals(model.fingerprints_)


@pytest.mark.parametrize(("settings", "said"), [
    ({"k": np.float64(5.0)}, "K must be a whole number from 2 to 500 or 'auto', not 5.0."),
    ({"engine_params": {"iterations": np.float64(30)}},
     "iterations must be a whole number from 1 to 100,000, not 30.0."),
    ({"term_weight": np.float32(1.5)}, "term_weight must be a number from 0 to 1, not 1.5"),
    # checked as given, not after `.item()`: it read "not -0.10000000149011612"
    ({"engine_params": {"alpha": np.float32(-0.1)}},
     "alpha must be greater than 0 and at most 1e+06, not -0.1."),
    ({"seed": np.float32(1.1)},
     "seed must be a whole number from 0 to 4,294,967,295, not 1.1."),
    ({"text": {"no_below": np.float64(2.5)}},
     "TextConfig: no_below must be a whole number, not 2.5"),
])
def test_numpy_settings_show_as_numbers_in_messages(fitted, settings: dict,
                                                    said: str) -> None:
    """A value from a grid is a numpy number, which numpy 2 writes `np.float64(5.0)`: the
    message read "K must be a whole number …, not np.float64(5.0)". Shown as the number
    (`core.errors.shown`, which every setting's message uses), before any training."""
    from core import CampaignModel, InputError
    from core.errors import shown

    with pytest.raises(InputError, match=f"^{re.escape(said)}$"):
        CampaignModel(**{**MODEL_ARGS, **settings}).fit(fitted.terms_.iloc[:50])
    with pytest.raises(InputError, match=r"^n must be a whole number of at least 1, not 2\.0\.$"):
        fitted.neighbors("C00042", n=np.float64(2.0))
    assert [shown(v) for v in (np.int64(3), np.True_, np.str_("a"), "a", None)] == [
        "3", "True", "'a'", "'a'", "None"]


def test_a_damaged_saved_model_is_named_as_damaged(fitted, tmp_path: Path) -> None:
    """A truncated terms.parquet was pyarrow's "ArrowInvalid: … Parquet magic bytes not
    found in footer", a truncated counts.npz "BadZipFile: File is not a zip file", where a
    broken engine or encoder file is one TopicLabError naming the folder."""
    import shutil

    from core import CampaignModel, TopicLabError

    saved = fitted.save(tmp_path / "m")
    for name, error in (("terms.parquet", "ArrowInvalid"), ("counts.npz", "BadZipFile")):
        broken = tmp_path / f"broken-{name}"
        shutil.copytree(saved, broken)
        data = (broken / name).read_bytes()
        (broken / name).write_bytes(data[:len(data) // 2])
        with pytest.raises(TopicLabError, match=rf"The model in .*broken-{re.escape(name)} is "
                                                rf"damaged: its {re.escape(name)} cannot be "
                                                rf"read \({error}: "):
            CampaignModel.load(broken)


def files_open_on(path: Path) -> list[str]:
    """This process's file descriptors open on `path` (Linux's /proc/self/fd)."""
    target = os.path.realpath(path)
    found = []
    for fd in Path("/proc/self/fd").iterdir():
        try:
            if os.readlink(fd) == target:
                found.append(fd.name)
        except OSError:   # the descriptor /proc listed itself with, closed since
            pass
    return found


def test_a_truncated_npz_leaves_no_file_open(fitted, tmp_path: Path) -> None:
    """numpy's `np.load(path)` kept a truncated counts.npz open: `BadZipFile`'s traceback
    held the handle, and collecting it gave a ResourceWarning. A user catching the error
    (or a log keeping it) now holds no file of the model's folder."""
    import gc
    import zipfile

    import scipy.sparse as sp

    from core import CampaignModel, TopicLabError
    from core.model import term_vectors
    from core.model.corpus import EncodedCounts

    saved = fitted.save(tmp_path / "m")   # soft terms off: a word similarity of its own
    similar = term_vectors.save(sp.random(300, 300, density=0.05, format="csr", rng=0), tmp_path)
    damaged = [saved / EncodedCounts.FILE, similar]
    for path in damaged:
        data = path.read_bytes()
        path.write_bytes(data[:len(data) // 2])
    loads = [(CampaignModel.load, saved, TopicLabError),
             (EncodedCounts.load, saved, zipfile.BadZipFile),
             (term_vectors.load, tmp_path, zipfile.BadZipFile)]
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always", ResourceWarning)
        for load, folder, error in loads:
            with pytest.raises(error) as caught:
                load(folder)
            assert not [f for p in damaged for f in files_open_on(p)], load
            del caught
            gc.collect()
    assert not [w for w in seen if issubclass(w.category, ResourceWarning)], seen


def test_a_saved_model_says_what_it_was_saved_with(fitted, tmp_path: Path) -> None:
    """A notebook's folder kept no library versions, so one that would not load said "it
    was saved with None."; now it keeps them as a registry model's does, and a folder
    saved before says nothing of them."""
    import shutil

    from core import CampaignModel, TopicLabError

    saved = fitted.save(tmp_path / "m")
    manifest = json.loads((saved / "manifest.json").read_text("utf-8"))
    assert {"python", "tomotopy", "numpy"} <= set(manifest["library_versions"])
    (saved / "encoder" / "tokenizer.json").write_text("{", "utf-8")
    with pytest.raises(TopicLabError, match=r"could not be loaded \(JSONDecodeError: .*\); it "
                                            r"was saved with \{'python': "):
        CampaignModel.load(saved)
    older = tmp_path / "older"
    shutil.copytree(saved, older)
    del manifest["library_versions"]
    (older / "manifest.json").write_text(json.dumps(manifest), "utf-8")
    with pytest.raises(TopicLabError, match=r"could not be loaded \(JSONDecodeError: .*\)\.$"):
        CampaignModel.load(older)


def test_fingerprints_compare_with_equals(fitted) -> None:
    """`fingerprint(a) == fingerprint(a)` (and `in` a list) was "ValueError: The truth
    value of an array with more than one element is ambiguous", from the dataclass's
    own `==` over the weights array."""
    same = fitted.fingerprint(["emergency plumber"])
    assert same == fitted.fingerprint(["emergency plumber"])
    other = fitted.fingerprint(["blocked drain"])
    assert same != other and other in [same, other] and same != "emergency plumber"


def test_a_missing_topic_name_is_no_name(fitted, tmp_path: Path) -> None:
    """Names taken from a column (`dict(zip(frame.topic, frame.name))`) hold NaN for the
    topics nobody named: those topics were named "nan"; now they keep their automatic
    names, as a topic given "" does."""
    from core import CampaignModel

    folder = fitted.save(tmp_path / "m")
    names = pd.DataFrame({"topic": [0, 1, 2, 3], "name": ["Plumbing", np.nan, None, ""]})
    model = CampaignModel.load(folder, topic_names=dict(zip(names["topic"], names["name"],
                                                            strict=True)))
    assert model.topic_names_[0] == "Plumbing"
    assert model.topic_names_[1:4] == fitted.topic_names_[1:4]
    assert "nan" not in model.topics()["name"].tolist()


def test_fit_transform_gives_what_transform_gives_after_fit(fitted) -> None:
    """scikit-learn's transformers have `fit_transform`; CampaignModel had none
    (AttributeError, so no Pipeline step of it either). It fits, then answers what
    `transform` of the same rows answers, in transform's order: campaigns as the rows
    first name them, not sorted as `fingerprints_`."""
    from sklearn.base import clone

    terms = fitted.terms_.iloc[:3000].iloc[::-1]  # first named: not in id order
    model = clone(fitted)
    fingerprints = model.fit_transform(terms)
    assert hasattr(model, "fingerprints_")  # fitted, as fit leaves it
    pd.testing.assert_frame_equal(fingerprints, model.transform(terms))
    assert fingerprints.index.tolist() == terms["campaign_id"].drop_duplicates().tolist()
    assert fingerprints.index.tolist() != sorted(fingerprints.index)
    assert np.allclose(fingerprints.sum(axis=1), 1, atol=1e-5)


def test_transform_says_which_campaigns_it_could_not_read(fitted) -> None:
    """A campaign whose words the model does not know got the engine's prior (1/K each) as
    if read from its terms, and one with no term was left out of the answer, silently."""
    rows = pd.DataFrame({"campaign_id": ["X", "X", "Y", "Z"],
                         "term": ["zzqx wvvq", "qqzx", None, "emergency plumber"]})
    with pytest.warns(UserWarning) as caught:
        got = fitted.transform(rows)
    notes = [str(w.message) for w in caught]
    # in the number of their count: "1 of 2 campaign(s) have …", "1 campaign(s) have …"
    assert any("1 of 2 campaigns has no word the model knows (e.g. 'X'): its fingerprint is "
               "the model's prior, not a reading of its terms" in n for n in notes)
    assert any("1 campaign has no term and gets no fingerprint (e.g. 'Y')" in n
               for n in notes)
    assert got.index.tolist() == ["X", "Z"]
    assert np.allclose(got.loc["X"], 1 / FAST_K)  # what the warning is about
    with warnings.catch_warnings():  # rows the model reads whole: nothing to say
        warnings.simplefilter("error")
        fitted.transform(rows.iloc[3:])


def test_settings_changed_after_fit_do_not_change_what_the_model_says_it_was_trained_with(
        fitted, tmp_path: Path) -> None:
    """The manifest held the caller's `engine_params` dict itself: changing it after fit (for
    the next model) made the fitted model, its saved folder and the model loaded from it say
    `iterations: 999`, and a clone of the loaded one train something else."""
    from core import CampaignModel

    params = fitted.engine_params
    trained = dict(params)
    params["iterations"] = 999
    try:
        assert fitted.manifest_["estimator"]["engine_params"] == trained
        loaded = CampaignModel.load(fitted.save(tmp_path / "m"))
    finally:
        params.clear()
        params.update(trained)
    assert loaded.get_params()["engine_params"] == trained
    loaded.engine_params["iterations"] = 5  # the loaded model's own dict, not its manifest
    assert loaded.manifest_["estimator"]["engine_params"] == trained


def test_to_frame_takes_what_suggest_returns(fitted) -> None:
    """suggest's docstring says `actions.to_frame` turns its answer into one table; given
    that answer it raised "TypeError: 'SuggestionResult' object is not iterable"."""
    from core.model import actions

    advice = fitted.suggest("C00042")
    table = actions.to_frame(advice)
    pd.testing.assert_frame_equal(table, actions.to_frame(advice.actions))
    assert len(table) > len(advice.actions) > 0


def test_a_fitted_model_pickles_with_the_same_answers(fitted) -> None:
    """A notebook's `joblib.dump(model, …)` / `pickle.dumps(model)` failed: "Can't pickle
    local object 'term_topic_fit_from.<locals>.fit'"."""
    import pickle

    from core.model import actions

    fitted.suggest("C00042")  # builds the brand index, a cache of closures, as answers do
    again = pickle.loads(pickle.dumps(fitted))
    pd.testing.assert_frame_equal(again.fingerprints_, fitted.fingerprints_)
    pd.testing.assert_frame_equal(again.neighbors("C00042"), fitted.neighbors("C00042"))
    pd.testing.assert_frame_equal(actions.to_frame(again.suggest("C00042").actions),
                                  actions.to_frame(fitted.suggest("C00042").actions))


def test_load_refuses_term_rows_of_other_campaigns(fitted, tmp_path: Path) -> None:
    """A registry model loaded with another version's or dataset's rows answered with
    neighbours without names and no actions, silently."""
    from core import CampaignModel, InputError

    bare = fitted.save(tmp_path / "bare", include_terms=False)
    terms = fitted.terms_
    fewer = terms[terms["campaign_id"] != "C00042"]
    other = terms.assign(campaign_id="X" + terms["campaign_id"])
    with pytest.raises(InputError, match=r"1 of its 400 campaigns is not in them \(e\.g\. "
                                         r"\['C00042'\]\) and they hold 0 other campaigns\."):
        CampaignModel.load(bare, terms=fewer)
    with pytest.raises(InputError, match=r"400 of its 400 campaigns are not .* hold 400 other "
                                         r"campaigns \(e\.g\."):
        CampaignModel.load(bare, terms=other)
    again = CampaignModel.load(bare, terms=terms)  # its own rows load
    pd.testing.assert_frame_equal(again.neighbors("C00042"), fitted.neighbors("C00042"))
    # a notebook row without a term is left out by fit (its campaign is not in the model):
    # the rows it was fitted on still load (they were refused as "1 other campaign(s)")
    termless = pd.concat([terms, terms.iloc[:1].assign(campaign_id="ZNOTERM", term=None)],
                         ignore_index=True)
    again = CampaignModel.load(bare, terms=termless)
    assert "ZNOTERM" not in again.fingerprints_.index


def test_same_answers_as_the_store_lookup(fitted, demo_file: Path, home: Path) -> None:
    """The notebook model registered in a store: Lookup (the page's object) gives the
    same neighbour tables, the same actions, and the same per-campaign table."""
    from core import CampaignModel
    from core.data import datasets, ingest
    from core.model.actions import to_frame
    from core.model.campaign_model import campaign_table
    from core.serve import registry, score
    from core.serve.lookup import Lookup

    ingest.import_paths([demo_file], "demo")
    model_id = registry.register_fitted(fitted, "demo")
    score.score_dataset(model_id)
    lookup = Lookup(model_id)
    assert lookup.topic_names == fitted.topic_names_
    stored = lookup.fingerprints
    assert stored.campaign_ids == fitted.fingerprints_.index.tolist()
    assert np.array_equal(stored.weights, fitted.fingerprints_.to_numpy())
    for campaign_id in ["C00042", *stored.campaign_ids[:: 80]]:
        pd.testing.assert_frame_equal(lookup.neighbors(campaign_id, 10),
                                      fitted.neighbors(campaign_id, 10), check_dtype=False)
        page = to_frame(lookup.campaign(campaign_id, 10).suggestions.actions)
        pd.testing.assert_frame_equal(page, to_frame(fitted.suggest(campaign_id).actions),
                                      check_dtype=False)
    keywords = ["emergency plumber", "blocked drain"]
    page = lookup.keywords(keywords, 10)
    assert np.array_equal(page.fingerprint.weights, fitted.fingerprint(keywords).weights)
    pd.testing.assert_frame_equal(to_frame(page.suggestions.actions),
                                  to_frame(fitted.suggest(keywords).actions), check_dtype=False)
    # one rule for campaign totals: pandas (notebook) and SQL (the store's view) agree
    view = datasets.campaigns("demo", 1).set_index("campaign_id")
    mine = campaign_table(datasets.terms("demo", 1))
    pd.testing.assert_frame_equal(mine[view.columns], view, check_dtype=False)
    # and the registry's artifact loads in a notebook with the same fingerprints
    with pytest.warns(UserWarning, match=r"registry\.campaign_model\(model_id\)"):
        again = CampaignModel.load(registry.model_dir(model_id),
                                   terms=datasets.terms("demo", 1))
    assert np.array_equal(again.fingerprints_.to_numpy(), stored.weights)


def test_a_registry_model_loads_in_python_with_the_names_given_in_the_app(trained_home):
    """`CampaignModel.load` of a registry model's folder named its topics automatically,
    not as the Topics page (and every answer there) names them."""
    from core import CampaignModel, InputError
    from core.data import datasets
    from core.serve import registry
    from core.serve.lookup import Lookup

    model_id = registry.alias("production")
    registry.set_topic_label(model_id, 2, "Plumbing")
    model = registry.campaign_model("production", terms=datasets.terms("demo", 1))
    app = Lookup(model_id)
    assert model.topic_names_ == app.topic_names == registry.topic_names(app.model)
    assert model.topics()["name"][2] == "Plumbing"
    assert model.topic_names_[3] == app.topic_names[3] != "Plumbing"   # automatic, as shown
    pd.testing.assert_frame_equal(model.neighbors("C00042", 10), app.neighbors("C00042", 10),
                                  check_dtype=False)
    with pytest.raises(InputError, match="topics 0-11, not 12"):
        CampaignModel.load(registry.model_dir(model_id), topic_names={12: "x"})
    # an id of another dataset (a Sony campaign asked of a demo model) names the version,
    # as the CLI does; it said "in the data of <model id>" alone
    with pytest.raises(NotFoundError, match=rf"No campaign 'akashi_brand' in demo v1 \(the "
                                            rf"data of model {model_id}\)"):
        model.suggest("akashi_brand")


def test_a_registry_model_loads_with_its_versions_term_rows(trained_home):
    """`registry.campaign_model("production")` had no term rows: its neighbours had no
    names or performance, and `suggest` pointed to `CampaignModel.load(path, terms=...)`."""
    from core import InputError
    from core.serve import registry
    from core.serve.lookup import Lookup

    model = registry.campaign_model("production")
    app = Lookup(registry.alias("production"))
    mine = model.neighbors("C00042", 5)
    assert mine["campaign_name"].notna().all() and mine["clicks"].notna().all()
    pd.testing.assert_frame_equal(mine, app.neighbors("C00042", 5), check_dtype=False)
    assert model.suggest("C00042").actions
    bare = registry.campaign_model("production", with_terms=False)
    assert bare.neighbors("C00042", 5)["campaign_name"].isna().all()
    with pytest.raises(InputError, match=r"registry\.campaign_model\(model_id\)"):
        bare.suggest("C00042")


def test_suggest_quotes_amounts_in_the_datasets_currency(trained_home):
    """`CampaignModel.suggest` quoted every amount with 2 decimals and no code ("spent
    30.00") where the app, knowing the dataset's currency, says "spent 30 JPY"."""
    from core import InputError
    from core.data import datasets
    from core.model.actions import to_frame
    from core.serve import registry
    from core.serve.lookup import Lookup

    datasets.set_currency("demo", "JPY")
    model = registry.campaign_model("production")
    assert model.currency_ == "JPY"
    mine = to_frame(model.suggest("C00042").actions)
    pd.testing.assert_frame_equal(mine, to_frame(Lookup(registry.alias("production"))
                                                 .campaign("C00042").suggestions.actions),
                                  check_dtype=False)
    reasons = " ".join(mine["reason"])
    assert re.search(r"CPC \d+ JPY vs median \d+ JPY", reasons), reasons  # yen have no cents
    euros = " ".join(to_frame(model.suggest("C00042", currency=" eur ").actions)["reason"])
    assert re.search(r"CPC \d+\.\d\d EUR", euros) and " JPY" not in euros
    with pytest.raises(InputError, match=r"Currency 'EURO' is not an ISO 4217 code"):
        model.suggest("C00042", currency="euro")
    with pytest.raises(InputError, match=r"Currency 5 is not an ISO 4217 code"):
        model.suggest("C00042", currency=5)


@pytest.fixture(scope="module")
def sony_model():
    """A small model of the Sony exports (16 campaigns, cost in the exports' JPY), fitted
    in-process from `read_terms` of their folder."""
    from core import CampaignModel, read_terms

    return CampaignModel(k=3, seed=0, engine_params={"iterations": 50}).fit(
        read_terms(shared_data(SONY)))


def amount_reasons(model, currency: str | None = None) -> list[str]:
    """The reasons quoting a CPC among the actions suggested for the Sony campaign whose
    CPC is flagged (1.78x its neighbours' median)."""
    from core.model.actions import to_frame

    actions_ = model.suggest("bitdrive_management_cloud_alltime", currency=currency).actions
    return [r for r in to_frame(actions_)["reason"] if "CPC " in r]


def test_a_model_fitted_on_exports_quotes_their_currency(sony_model) -> None:
    """`fit(read_terms(folder))` of the Sony exports left `currency_` None, so `suggest`
    quoted "CPC 432.00 vs median 242.00" where the app, importing the same files, says
    "CPC 432 JPY": read_terms now carries the exports' *Currency code* in the frame's
    attrs, and fit takes it."""
    from core import read_terms

    assert read_terms(shared_data(SONY) / "akashi_brand.csv").attrs["currency"] == "JPY"
    assert sony_model.currency_ == "JPY"
    quoted = amount_reasons(sony_model)
    assert quoted and all(re.search(r"CPC \d+ JPY", r) for r in quoted), quoted
    assert all(" EUR" in r for r in amount_reasons(sony_model, currency="EUR"))


def test_ngram_waste_quotes_money_in_the_currencys_minor_unit(fitted) -> None:
    """`ngram_waste` summed costs with float noise and quoted them with two decimals
    whatever the currency: "spent 360.29" and evidence cost 200.23000000000002 for a
    model in JPY, where the other actions say "360 JPY". Its reason and evidence show
    amounts in the currency's minor unit, as `ngrams` and the map do (`shown_sums`)."""
    found = 0
    for campaign in fitted.fingerprints_.index:
        shown = {}
        for currency in ("JPY", "USD"):
            waste = [a for a in fitted.suggest(campaign, currency=currency).actions
                     if a.kind == "ngram_waste"]
            shown[currency] = waste[0] if waste else None
        if shown["USD"] is None:
            continue
        yen, dollars = (shown[c].evidence["cost"].dropna() for c in ("JPY", "USD"))
        assert dollars.equals(dollars.round(2)) and yen.equals(yen.round(0)), dollars.tolist()
        assert yen.equals(dollars.round(0))
        assert re.search(r"spent [\d,]+ JPY \(.*>= [\d,]+ JPY cost .*, [\d,]+ JPY\)$",
                         shown["JPY"].reason), shown["JPY"].reason
        assert re.search(r"spent [\d,]+\.\d\d USD \(", shown["USD"].reason)
        found += (dollars != dollars.round(0)).any()
        if found >= 3:
            break
    assert found >= 3  # the demo's costs have cents: the rounding is seen, not vacuous


def test_a_saved_model_keeps_its_currency(sony_model, fitted, tmp_path: Path) -> None:
    """`save` wrote no currency, so a model of the Sony exports loaded back quoted "CPC
    432.00" again; a folder saved before (no currency in its manifest) still loads, with
    none, and a code ISO 4217 lacks is refused where it enters: in `save`, or in a
    manifest edited by hand."""
    from core import CampaignModel, InputError

    loaded = CampaignModel.load(sony_model.save(tmp_path / "sony"))
    assert loaded.currency_ == "JPY"
    assert amount_reasons(loaded) == amount_reasons(sony_model)
    assert CampaignModel.load(fitted.save(tmp_path / "demo")).currency_ is None
    manifest_file = tmp_path / "sony" / "manifest.json"
    manifest = json.loads(manifest_file.read_text("utf-8"))
    manifest_file.write_text(json.dumps({k: v for k, v in manifest.items() if k != "currency"}))
    assert CampaignModel.load(tmp_path / "sony").currency_ is None
    manifest_file.write_text(json.dumps({**manifest, "currency": "PCS"}))
    with pytest.raises(InputError, match=r"sony: its manifest's currency: Currency 'PCS' is "
                                         r"not an ISO 4217 code"):
        CampaignModel.load(tmp_path / "sony")
    euros = CampaignModel.load(sony_model.save(tmp_path / "eur"))
    euros.currency_ = " eur "
    assert CampaignModel.load(euros.save(tmp_path / "eur")).currency_ == "EUR"
    euros.currency_ = "euro"
    with pytest.raises(InputError, match=r"^save: the model's currency_: Currency 'EURO'"):
        euros.save(tmp_path / "eur")
    assert CampaignModel.load(tmp_path / "eur").currency_ == "EUR"  # the folder kept


def test_term_rows_without_a_currency_code_fit_without_a_currency(fitted, demo_file: Path,
                                                                  tmp_path: Path) -> None:
    """Rows with no *Currency code* (the demo), or in two currencies, give no currency, as
    an import stores none; a code set by hand in attrs that ISO 4217 lacks is refused
    before training, naming where it came from."""
    from core import CampaignModel, InputError, read_terms

    assert fitted.currency_ is None
    assert read_terms(demo_file).attrs["currency"] is None
    rows = tmp_path / "two"
    rows.mkdir()
    for name, code in (("a.csv", "JPY"), ("b.csv", "EUR")):
        (rows / name).write_text(f"Campaign,Keyword,Cost,Currency code\n{name},shoes,5,{code}\n")
    with pytest.warns(UserWarning, match="several currencies"):
        assert read_terms(rows).attrs["currency"] is None
    terms = fitted.terms_.copy()
    terms.attrs["currency"] = "yen"
    with pytest.raises(InputError, match=r"^fit: the term rows' attrs\['currency'\]: Currency "
                                         r"'YEN' is not an ISO 4217 code"):
        CampaignModel(**MODEL_ARGS).fit(terms)


def test_campaign_models_term_rows_are_refused_naming_campaign_model(trained_home):
    """`registry.campaign_model(terms=5)` said "load takes a DataFrame …", naming a function
    the user had not called."""
    from core import InputError
    from core.data import datasets
    from core.serve import registry

    with pytest.raises(InputError, match=r"^campaign_model takes a DataFrame of term rows .*"
                                         r"not int"):
        registry.campaign_model("production", terms=5)
    doubled = pd.concat([datasets.terms("demo", 1)[["campaign_id", "term"]]] * 2, axis=1)
    with pytest.raises(InputError, match=r"^campaign_model: the term rows have more than one "
                                         r"column named 'campaign_id'"):
        registry.campaign_model("production", terms=doubled)


def test_load_has_no_private_keyword_and_names_itself(fitted, tmp_path: Path) -> None:
    """`load` showed a `_caller=` keyword (registry.campaign_model's, so that its messages
    name campaign_model) in its signature and help; it is gone, and `load`'s own messages
    still name `load` and its warning the line that called it."""
    import inspect

    from core import CampaignModel, InputError

    assert list(inspect.signature(CampaignModel.load).parameters) == [
        "path", "terms", "topic_names"]
    folder = fitted.save(tmp_path / "m", include_terms=False)
    with pytest.raises(TypeError, match="_caller"):
        CampaignModel.load(folder, _caller="campaign_model")
    with pytest.raises(InputError, match=r"^load takes a DataFrame of term rows .*not int"):
        CampaignModel.load(folder, terms=5)
    with pytest.raises(InputError, match=r"^load: path must be a folder name"):
        CampaignModel.load(5)


def test_a_registry_folder_loaded_directly_warns_at_the_callers_line(trained_home) -> None:
    from core import CampaignModel
    from core.serve import registry

    with pytest.warns(UserWarning, match="automatic names only") as caught:
        CampaignModel.load(registry.model_dir(registry.alias("production")))
    assert {Path(w.filename).name for w in caught} == {Path(__file__).name}


def test_a_model_deleted_while_a_notebook_loads_it_is_named_as_deleted(
        second_model: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process deleting the model while `campaign_model` read its rows gave "…
    holds no readable Topic Lab model (manifest.json is missing or unreadable)", as if its
    artifact were broken. A model already held keeps answering from memory."""
    import threading

    from core.data import auth
    from core.serve import registry

    held = registry.campaign_model(second_model, with_terms=False)
    monkeypatch.setenv("TOPICLAB_TEST_PAUSE", "campaign_model:3")
    user = auth.local_user()

    def delete_soon() -> None:
        time.sleep(1)
        with auth.use(user):
            registry.delete(second_model)

    deleter = threading.Thread(target=delete_soon)
    deleter.start()
    try:
        with pytest.raises(NotFoundError, match=rf"Model {second_model} was deleted \(by "
                                                r"another process\) while it was being loaded"):
            registry.campaign_model(second_model, with_terms=False)
    finally:
        deleter.join()
    assert len(held.neighbors("C00042", 3)) == 3


def test_register_refuses_a_model_of_other_rows(fitted, tmp_path: Path, home: Path) -> None:
    from core import InputError
    from core.data import ingest, store
    from core.serve import registry

    ingest.import_paths([demo_subset(tmp_path / "d300.parquet", campaigns=300)], "small")
    with pytest.raises(InputError, match="other rows than small v1"):
        registry.register_fitted(fitted, "small")
    assert store.query("SELECT count(*) AS n FROM models")["n"].iloc[0] == 0


def test_register_finds_the_version_of_the_rows_the_model_was_fitted_on(
        fitted, demo_file: Path, tmp_path: Path, home: Path) -> None:
    """A model fitted on version 1's files was refused (`other rows than demo v2`) once a
    newer version was imported; `version=` still names one."""
    from core import InputError
    from core.data import ingest
    from core.serve import registry

    ingest.import_paths([demo_file], "demo")
    ingest.import_paths([demo_subset(tmp_path / "d300.parquet", campaigns=300)], "demo")
    with pytest.raises(InputError, match="other rows than demo v2"):
        registry.register_fitted(fitted, "demo", version=2)
    model_id = registry.register_fitted(fitted, "demo")
    assert registry.list_models().set_index("model_id").loc[model_id, "version"] == 1


def test_registering_the_same_model_twice_returns_its_id(fitted, demo_file: Path,
                                                         home: Path) -> None:
    """A notebook cell `register_fitted(model, "demo")` run twice registered the model
    twice: two registry rows and folders of one model. The second call (or one of a
    pickled copy) returns the id the model has, with a warning, adding nothing; the check
    is in the transaction that inserts, so a register racing it adds nothing either. A
    model deleted since is registered anew."""
    import pickle

    from core.data import ingest, store
    from core.model import metrics
    from core.model.corpus import Corpus
    from core.serve import registry

    def models() -> list[str]:
        return store.query("SELECT model_id FROM models ORDER BY model_id")["model_id"].tolist()

    ingest.import_paths([demo_file], "demo")
    first = registry.register_fitted(fitted, "demo")
    with pytest.warns(UserWarning, match=rf"already registered on demo v1, as {first}: its id "
                                         r"is returned and nothing is added"):
        assert registry.register_fitted(fitted, "demo") == first
    with pytest.warns(UserWarning, match="already registered"):
        assert registry.register_fitted(pickle.loads(pickle.dumps(fitted)), "demo") == first
    assert models() == [first]
    assert [p.name for p in registry.model_dir(first).parent.iterdir()] == [first]
    # a register that passed the first look (a race): the transaction finds the model
    identity = registry.fitted_identity(fitted, "demo", 1)
    info = registry.get(first)
    again = registry.register(
        engine=fitted.engine_, engine_name="tomotopy", encoder=fitted.encoder_,
        params=fitted.manifest_["params"], dataset="demo", version=1,
        dataset_hash=info["dataset_hash"],
        metrics=metrics.evaluate(fitted.engine_, Corpus.from_frame(
            fitted.terms_, fitted.encoder_.tokenizer.config)),
        timings={}, model_id="racing-copy", fitted=identity)
    assert again == first and models() == [first]
    assert not registry.model_dir("racing-copy").exists()
    registry.delete(first)
    renewed = registry.register_fitted(fitted, "demo")
    assert renewed != first and models() == [renewed]


def test_registering_a_trained_model_opened_in_python_returns_its_id(demo_file: Path,
                                                                     home: Path) -> None:
    """Only `register_fitted` kept a model's identity: a model `train` registered, opened
    with `campaign_model(model_id)` and registered from the notebook, became a second row
    and folder of the same model. `train` keeps it too, so that copy is recognised; a
    second `train` run stays a run of its own."""
    from core.data import ingest, store
    from core.ops.train import TrainSpec, train
    from core.serve import registry

    ingest.import_paths([demo_file], "demo")
    trained = train(TrainSpec(dataset="demo", k=FAST_K, params=dict(FAST_PARAMS))).model_id
    opened = registry.campaign_model(trained)
    with pytest.warns(UserWarning, match=rf"already registered on demo v1, as {trained}: "):
        assert registry.register_fitted(opened, "demo") == trained
    assert store.query("SELECT model_id FROM models")["model_id"].tolist() == [trained]


def test_train_shows_the_seconds_it_stores(demo_file: Path, home: Path) -> None:
    """`train` printed `"fit": 2.050568717000033` and `"fit_seconds": 2.05025849499998`
    where the registry stored the timings to the millisecond: one rounding, at the
    source, for what is shown and what is stored."""
    from core.data import ingest
    from core.ops.train import TrainSpec, train
    from core.serve import registry

    ingest.import_paths([demo_file], "demo")
    result = train(TrainSpec(dataset="demo", k=FAST_K, params=dict(FAST_PARAMS)))
    stored = registry.get(result.model_id)
    seconds = {**result.timings, **{k: v for k, v in result.metrics.items()
                                    if k.endswith("_seconds") and v is not None}}
    assert {"tokenize", "fit", "evaluate", "fit_seconds", "npmi_seconds"} <= set(seconds)
    assert all(v == round(v, 3) for v in seconds.values()), seconds
    assert result.timings == stored["timings"]


def test_register_refuses_what_is_no_model_or_no_dataset_name(fitted, demo_file: Path,
                                                             home: Path) -> None:
    """A notebook passing a model id, or a dataset name that is no text, got
    "AttributeError: 'str' object has no attribute '_check_fitted'" and DuckDB's
    "Could not convert string 'demo' to INT32"; each is named now, and nothing is stored."""
    from core import InputError
    from core.data import ingest, store
    from core.serve import registry

    ingest.import_paths([demo_file], "demo")
    with pytest.raises(InputError, match=r"takes a fitted CampaignModel, not str 'tomotopy-k12'"):
        registry.register_fitted("tomotopy-k12", "demo")
    for name in (5, None, ["demo"]):
        shown = re.escape(repr(name))
        with pytest.raises(InputError, match=rf"A dataset name is text .*, not {shown}"):
            registry.register_fitted(fitted, name)
    assert store.query("SELECT count(*) AS n FROM models")["n"].iloc[0] == 0


def test_a_registry_model_read_in_python_registers_on_its_own_version(trained_home) -> None:
    """`campaign_model` reads its version's rows from the store, whose empty dates are
    None, not an import's NaT: registering that model again (after a save, say) was refused
    as "fitted on other rows than demo v1", rows for rows the same."""
    from core.serve import registry

    model = registry.campaign_model("production")
    model_id = registry.register_fitted(model, "demo")
    record = registry.get(model_id)
    assert (record["dataset"], record["version"]) == ("demo", 1)


def test_register_refuses_a_model_with_other_neighbour_weights(fitted, demo_file: Path,
                                                               home: Path) -> None:
    """Lookup ranks a registered model's neighbours with the default weights: a model fitted
    with term_weight=0 was registered and then answered otherwise on the Lookup page."""
    from sklearn.base import clone

    from core import InputError
    from core.data import ingest, store
    from core.serve import registry

    ingest.import_paths([demo_file], "demo")
    topics_only = clone(fitted).set_params(term_weight=0.0).fit(fitted.terms_)
    assert not topics_only.neighbors("C00042").equals(fitted.neighbors("C00042"))
    with pytest.raises(InputError, match=r"ranks neighbours with term_weight=0\.0; registered "
                                         r"models use term_weight=0\.4 and vector_weight=0\.4"):
        registry.register_fitted(topics_only, "demo")
    assert store.query("SELECT count(*) AS n FROM models")["n"].iloc[0] == 0


def test_a_notebook_model_is_not_saved_into_the_registry_folder(fitted, demo_file: Path,
                                                                home: Path) -> None:
    """Saving a refitted model over `$TOPICLAB_HOME/models/<id>/` changed the registered
    model under its registry row (its K, its topics; `score` then failed with a TypeError)."""
    from core import InputError
    from core.data import ingest
    from core.serve import registry

    ingest.import_paths([demo_file], "demo")
    model_id = registry.register_fitted(fitted, "demo")
    folder = registry.model_dir(model_id)
    manifest = (folder / "manifest.json").read_text()
    for target in (folder, folder.parent / "my-notebook-model"):
        with pytest.raises(InputError, match="is in the models folder of the Topic Lab store"):
            fitted.save(target)
    assert (folder / "manifest.json").read_text() == manifest
    assert not (folder.parent / "my-notebook-model").exists()
    fitted.save(home / "elsewhere" / "m")  # anywhere else is fine


def test_trained_models_carry_their_encoded_counts(trained_home: Path) -> None:
    """Training saves the encoded term matrix; it is exactly what encoding the rows
    again gives, and Lookup and drift answer the same with it as without it."""
    from core.data import datasets
    from core.ops import drift
    from core.serve import registry
    from core.serve.lookup import Lookup

    model_id = registry.resolve("production")
    saved = registry.encoded_counts(model_id)
    assert saved is not None
    model = registry.load(model_id)
    ids, matrix, oov = model.encoder.encode_frame(datasets.terms("demo", 1), as_matrix=True)
    assert saved.campaign_ids == ids
    assert (saved.matrix != matrix).nnz == 0 and np.array_equal(saved.oov_share, oov)
    fast = Lookup(model_id)
    drift_fast = drift.drift_report("demo").to_dict()
    (registry.model_dir(model_id) / "counts.npz").unlink()
    assert registry.encoded_counts(model_id) is None
    slow = Lookup(model_id)
    for campaign_id in fast.fingerprints.campaign_ids[:5]:
        pd.testing.assert_frame_equal(fast.neighbors(campaign_id), slow.neighbors(campaign_id))
    assert drift.drift_report("demo").to_dict() == drift_fast


def test_scoring_stores_each_campaigns_groups_and_lookup_ranks_by_them(trained_home: Path
                                                                      ) -> None:
    """Groups in the neighbour graph are found once, at scoring, and stored with the
    fingerprints; Lookup (and so the service) ranks by them. Fingerprints stored before
    groups existed still answer, by the blend alone, until scored again."""
    from core.data import store
    from core.model.neighbor_groups import sizes_for
    from core.serve import registry, score
    from core.serve.lookup import Lookup

    model_id = registry.resolve("production")
    stored = score.load_fingerprints(model_id)
    n = len(stored.campaign_ids)
    assert stored.groups is not None and stored.groups.shape == (n, len(sizes_for(n)))
    assert stored.groups.dtype == np.int16 and len(np.unique(stored.groups[:, -1])) > 10
    lookup = Lookup(model_id)
    np.testing.assert_array_equal(lookup.index.groups_, stored.groups)
    campaign = stored.campaign_ids[0]
    found = lookup.neighbors(campaign, 5)
    assert found["group_similarity"].between(0, 1).all() and found["group_similarity"].max() > 0
    blend = 0.2 * found["topic_similarity"] + 0.4 * found["term_similarity"] \
        + 0.4 * found["vector_similarity"]
    np.testing.assert_allclose(found["similarity"], 0.8 * blend + 0.2 * found["group_similarity"],
                               atol=1e-5)
    model = registry.campaign_model(model_id)  # a notebook finds the same groups itself
    assert model.neighbors(campaign, 5)["campaign_id"].tolist() == found["campaign_id"].tolist()

    with store.transaction() as con:
        con.execute("UPDATE fingerprints SET groups = NULL WHERE model_id = ?", [model_id])
    assert score.load_fingerprints(model_id).groups is None
    before = Lookup(model_id)
    assert before.index.groups_ is None
    assert before.neighbors(campaign, 5)["group_similarity"].isna().all()
    result = score.score_dataset(model_id)   # found again, the same
    assert result.timings["groups"] > 0
    np.testing.assert_array_equal(score.load_fingerprints(model_id).groups, stored.groups)


def test_a_model_trained_on_a_sample_scores_every_campaign(trained_home: Path) -> None:
    """Counts of a training sample are not saved as the dataset's: scoring encodes the
    whole version (and keeps those counts), so every campaign gets a fingerprint and
    Lookup knows it."""
    from core.data import datasets
    from core.model.corpus import Corpus
    from core.model.text import TextConfig
    from core.ops import train
    from core.serve import registry, score
    from core.serve.lookup import Lookup

    rows = datasets.terms("demo", 1)
    half = rows["campaign_id"].drop_duplicates().iloc[::2]
    corpus = Corpus.from_frame(rows[rows["campaign_id"].isin(half)], TextConfig())
    result = train.train(train.TrainSpec(dataset="demo", k=4, params={"iterations": 20}),
                         corpus=corpus)
    assert not (registry.model_dir(result.model_id) / "counts.npz").exists()
    assert registry.encoded_counts(result.model_id) is None
    score.score_dataset(result.model_id)
    everyone = set(rows["campaign_id"])
    assert set(score.load_fingerprints(result.model_id).campaign_ids) == everyone
    saved = registry.encoded_counts(result.model_id)  # scoring kept what it encoded
    assert saved is not None and set(saved.campaign_ids) == everyone
    left_out = next(c for c in everyone if c not in set(half))
    assert not Lookup(result.model_id).neighbors(left_out, 3).empty

def test_a_version_read_in_batches_gives_the_answers_of_reading_it_at_once(
        trained_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Encoding a whole version (scoring a model without its counts, drift, name words,
    the Topics view) reads it in batches of whole campaigns: scoring 1M campaigns with a
    sample-trained model read all 50M rows at once and peaked at 13.2 GB."""
    from core import config
    from core.data import datasets
    from core.ops import drift
    from core.serve import naming, registry, score, topics

    model_id = registry.resolve("production")
    model = registry.load(model_id)
    whole_ids, whole, whole_oov = model.encoder.encode_frame(datasets.terms("demo", 1),
                                                             as_matrix=True)
    drift_at_once = drift.drift_report("demo")
    names_at_once = naming.detect_for(model.encoder, "demo", 1).to_dict()
    fingerprints_at_once = score.load_fingerprints(model_id)

    info = datasets.get("demo", 1)
    monkeypatch.setattr(datasets, "TERM_BATCH_ROWS", info.rows // 5)
    batches = list(datasets.term_batches("demo", 1))
    assert len(batches) >= 5
    assert not list(config.home().glob(".term-batches-*"))   # its temporary files went
    at_once = datasets.terms("demo", 1)
    assert all(batch.dtypes.equals(at_once.dtypes) for batch in batches)
    campaigns = [set(batch["campaign_id"]) for batch in batches]
    assert sum(map(len, campaigns)) == len(set().union(*campaigns)) == info.campaigns
    assert sum(map(len, batches)) == info.rows
    for batch in batches:   # each campaign whole, in import order
        where = list(zip(batch["source_file"], batch["source_line"], strict=True))
        assert where == sorted(where)
    ids, matrix, oov = model.encoder.encode_batches(iter(batches))
    order = pd.Index(ids).get_indexer(whole_ids)
    assert (order >= 0).all() and len(ids) == len(whole_ids)
    assert (matrix[order] != whole).nnz == 0 and np.array_equal(oov[order], whole_oov)

    (registry.model_dir(model_id) / "counts.npz").unlink()
    view = topics.topic_view(model)     # no saved counts: encoded batch by batch
    rows = pd.Index(view.campaign_ids).get_indexer(whole_ids)
    np.testing.assert_array_equal(view.doc_lengths[rows], np.asarray(whole.sum(axis=1)).ravel())
    result = score.score_dataset(model_id)
    assert result.timings["read"] > 0 and result.timings["encode"] > 0
    again = score.load_fingerprints(model_id)
    assert again.campaign_ids == fingerprints_at_once.campaign_ids
    np.testing.assert_allclose(again.weights, fingerprints_at_once.weights, atol=1e-6)
    batched = drift.drift_report("demo")
    assert batched.measures == drift_at_once.measures
    assert batched.new_terms == drift_at_once.new_terms
    assert naming.detect_for(model.encoder, "demo", 1).to_dict() == names_at_once


def test_term_rows_from_arrow_batches_match_the_dataframe_ones():
    """Lookup keeps the rows in Arrow batches; what a query gathers must be the frame the
    DataFrame path gives: same rows, order, index and dtypes (a gap in an integer column
    anywhere makes it float64, as the whole table's to_pandas does)."""
    import pyarrow as pa

    from core.model.campaign_model import TermRows

    frame = pd.DataFrame({"campaign_id": ["C1", "C2", "C1", "C3", "C2", "C1", "C3"],
                          "account": ["A", "B", "A", None, "B", "A", None],
                          "term": [f"t{i}" for i in range(7)],
                          "clicks": pd.array([1, 2, None, 4, 5, 6, 7], dtype="Int64")})
    # as DuckDB hands it over: no pandas metadata in the schema
    table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
    batched = pa.Table.from_batches(table.to_batches(max_chunksize=2))
    assert len(batched.to_batches()) == 4
    from_arrow, from_frame = TermRows(batched), TermRows(batched.to_pandas())
    for ids in (["C1"], ["C3", "C1"], ["C2", "nope"], [], ["C1", "C2", "C3"]):
        got, want = from_arrow.of(ids), from_frame.of(ids)
        pd.testing.assert_frame_equal(got, want)
    assert from_arrow.of(["C1"])["clicks"].dtype == "float64"
    assert from_arrow.of(["C1"]).index.tolist() == [0, 2, 5]
    pd.testing.assert_frame_equal(from_arrow.of_account("A"), from_frame.of_account("A"))
    assert from_arrow.of_account(None) is None


def test_readme_states_no_count_of_tests() -> None:
    """The README said "871 tests" long after the suite had grown: it says how to count
    them instead of a number that goes stale with every commit."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    assert not re.findall(r"\b\d[\d,]* (?:real-browser )?tests\b", readme)
    assert "--collect-only" in readme


@pytest.mark.parametrize("currency", ["JPY", "USD"])
def test_neighbours_performance_is_rounded_as_reports_show_it(trained_home, currency):
    """Neighbours' money and counts were shown unrounded everywhere: a JPY CPC read
    164.39383894381893, conversions 469.90999999999997, in the CLI's `neighbors`, the
    neighbours `suggest` returns, the service's /v1/neighbors and the Python API. They are
    rounded once, where the table's performance columns are gathered: money to the
    currency's minor unit, counts without float noise; Python, Lookup and the service's
    records agree value for value."""
    from core.data import datasets
    from core.data.currencies import minor_unit
    from core.serve import registry
    from core.serve.answers import plain
    from core.serve.lookup import Lookup

    datasets.set_currency("demo", currency)
    model, app = registry.campaign_model("production"), Lookup(registry.alias("production"))
    money, decimals = ["cost", "cpc"], minor_unit(currency)
    seen_rounding = 0
    for cid in model.fingerprints_.index[:10]:
        mine = model.neighbors(cid, 10)
        pd.testing.assert_frame_equal(mine, app.neighbors(cid, 10), check_dtype=False)
        records = app.neighbor_records(app.find_neighbors(cid, 10))
        assert records == plain(app.neighbors(cid, 10).to_dict(orient="records"))
        shown = mine[money].astype(float)
        assert shown.equals(shown.round(decimals)), shown
        counts = mine[["impressions", "clicks", "conversions"]].astype(float)
        assert counts.equals(counts.round(6))
        raw = model.campaigns_.loc[mine["campaign_id"], money].astype(float).to_numpy()
        seen_rounding += int((raw != shown.to_numpy()).any())
    assert seen_rounding >= 5  # the demo's CPCs have more decimals than any currency's
    pd.testing.assert_frame_equal(app.campaign(cid, 10).neighbors, app.neighbors(cid, 10),
                                  check_dtype=False)  # what `suggest` shows beside actions


def test_sony_neighbours_show_whole_yen(sony_model) -> None:
    """On the Sony exports (JPY) a neighbour's CPC read 164.39383894381893 yen."""
    table = sony_model.neighbors("PO_brand", 15)
    cpc = table["cpc"].dropna().astype(float)
    assert len(cpc) >= 5 and cpc.equals(cpc.round(0)), cpc.tolist()
    assert (sony_model.campaigns_["cpc"].dropna() % 1 != 0).any()  # the stored ones keep theirs


def test_a_model_fitted_in_python_is_named_this_model(sony_model) -> None:
    """A model fitted in Python (no registry id) was named by its class in messages: "None
    of the words is in the vocabulary of model CampaignModel", "No campaign 'x' in the data
    of CampaignModel"; it is `this model`, as a registry model is `model <id>` (the CLI's
    wording, checked by `test_a_registry_model_loads_with_its_versions_term_rows`)."""
    from core import InputError, NotFoundError

    with pytest.raises(InputError, match=r"^None of the words is in the vocabulary of this "
                                         r"model \(words found: plumber\)"):
        sony_model.fingerprint(["plumber"])
    with pytest.raises(NotFoundError, match=r"^No campaign 'C00042' in the data of this model"):
        sony_model.neighbors("C00042")


def german_campaigns() -> pd.DataFrame:
    """30 German campaigns of three trades, written as German advertisers write keywords:
    lower case, inflected, with "für", "mit", "in der" between the words that matter."""
    import random

    trades = {
        "klempner": ["klempner", "rohrreinigung", "notdienst", "abfluss verstopft",
                     "rohrbruch", "sanitär", "wasserhähne", "toiletten reparatur"],
        "zahnarzt": ["zahnarzt", "zahnreinigung", "implantate", "zahnersatz", "bleaching",
                     "kieferorthopäde", "zahnschmerzen", "füllungen"],
        "umzug": ["umzugsfirma", "umzug", "möbeltransport", "umzugskartons", "entrümpelung",
                  "möbellager", "umzugshelfer", "klaviertransport"],
    }
    extras = ["in der nähe", "für senioren", "mit festpreis", "kosten", "preise", "günstig",
              "und beratung", "bei nacht"]
    cities = ["berlin", "hamburg", "münchen", "köln", "frankfurt"]
    pick = random.Random(0)
    rows = []
    for trade, words in trades.items():
        for i in range(10):
            cid = f"{trade}-{i:02d}"
            for _ in range(10):
                rows.append({"campaign_id": cid, "campaign_name": f"{trade.title()} {i}",
                             "term": " ".join([pick.choice(words), pick.choice(extras),
                                               pick.choice(cities)])})
    return pd.DataFrame(rows)


def test_a_german_account_gets_german_topics_and_neighbours() -> None:
    """German keywords went through English stop words and lemmas: "für", "mit" and "der"
    were words topics showed and campaigns were matched by, "schmerzen"/"schmerz" two words.
    The model reads them as German, and a pasted German campaign finds its trade."""
    from core import CampaignModel

    model = CampaignModel(k=3, engine="tomotopy", seed=0,
                          engine_params={"iterations": FAST_PARAMS["iterations"]})
    model.fit(german_campaigns())
    assert model.language_ == "de"
    shown = {w for words in model.topics()["words"] for w in words}
    assert not shown & {"für", "mit", "der", "in", "und", "bei"}
    assert {"klempner", "zahnarzt", "umzugsfirma"} <= set(model.vocabulary_)
    assert "füllung" in model.vocabulary_ and "füllungen" not in model.vocabulary_  # lemmas
    new = model.fingerprint(["verstopfter abfluss für den notdienst", "rohrbruch in köln"])
    assert not {"für", "den", "in"} & set(new.known_tokens + new.unknown_tokens)
    near = model._keyword_neighbors(new, 5)
    assert near["campaign_id"].str.startswith("klempner").all(), near["campaign_id"].tolist()

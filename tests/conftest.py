"""Shared fixtures: every test that touches the store gets its own temporary home.

Tests on the shared corpora (OCTIS BBC News and M10, all 16 Sony exports) reach them only
through `shared_data`: on a machine without the folder (a fresh clone elsewhere) they are
skipped, each naming the missing path and how to provide it, instead of failing with a
FileNotFoundError. Under CI (`CI` set, not "0" or "false"; `.ci/run` sets it) they fail
instead: the README promises CI provides the folder, so a missing one is a broken set-up,
and a green run that skipped every engine, metric and neighbour test would only look like
one that checked them.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pytest

if TYPE_CHECKING:
    from streamlit.components.v2.component_manager import BidiComponentManager
    from streamlit.testing.v1 import AppTest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("TOPICLAB_SHARED_DATA", REPO.parent / "shared" / "data"))
TEST_SETTINGS = {"TOPICLAB_SHARED_DATA"}   # the tests' own; every other TOPICLAB_ is Topic Lab's


def clear_topiclab_settings() -> None:
    """Drop the Topic Lab settings of the shell that runs the tests, before any fixture or
    subprocess reads them: with `TOPICLAB_ROLE=account_manager` exported, every CLI test
    failed "may not import", and with `TOPICLAB_HOME` a test that sets no home of its own
    would use the user's store. Each test sets what it needs (`home`, monkeypatch)."""
    for name in [n for n in os.environ if n.startswith("TOPICLAB_")]:
        if name not in TEST_SETTINGS:
            del os.environ[name]


clear_topiclab_settings()
FIXTURES = Path(__file__).resolve().parent / "fixtures"
BBC = "octis_bbc_news/corpus.tsv"   # in the shared data: shared_data(BBC)
SONY = "sony_okg_ad_keywords/keyword"


def in_ci() -> bool:
    """Whether the tests run under CI (`CI` set to anything but "", "0", "false", "no")."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def shared_data(relative: str) -> Path:
    """`relative` in the shared data folder, for a test or fixture that needs it: skips the
    test when it is missing (fails under CI), with a reason naming the path and how to
    provide it (see the module's docstring)."""
    path = SHARED_DATA / relative
    if path.exists():
        return path
    where = ("the folder TOPICLAB_SHARED_DATA names" if "TOPICLAB_SHARED_DATA" in os.environ
             else "../shared/data beside the repository, used when TOPICLAB_SHARED_DATA is unset")
    message = (f"shared data missing: {path} does not exist ({where}); set "
               "TOPICLAB_SHARED_DATA to the folder holding octis_bbc_news, octis_m10 and "
               "sony_okg_ad_keywords")
    if in_ci():
        pytest.fail(f"{message}; CI is set, so this fails instead of skipping", pytrace=False)
    pytest.skip(message)


def run_python(code: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter started in the repository (what a notebook or a first
    import sees), its output captured as text."""
    return subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


def stop_process(proc: subprocess.Popen, timeout: float) -> None:
    """Ask `proc` to end; kill it if it has not within `timeout` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@functools.cache
def installed_components() -> BidiComponentManager:
    """Streamlit's real component manager, its scan of the installed packages done once per
    test process. Not a mock: it is what `AppTest.run` builds for itself, but each new
    AppTest rescanned every installed package's metadata (0.15-0.2 s, hundreds of times a
    run) to find the same components; the app registers none of its own."""
    from streamlit.components.v2.component_manager import BidiComponentManager

    manager = BidiComponentManager()
    manager.discover_and_register_components(start_file_watching=False)
    return manager


def app_test(script: Path | Callable[[], None] = REPO / "app.py", *,
             default_timeout: float = 120) -> AppTest:
    """An AppTest of `script` (the app by default; a function as `AppTest.from_function`
    takes) that reuses `installed_components()` instead of rescanning the packages. Every
    test builds its AppTests here (test_environment checks it)."""
    from streamlit.testing.v1 import AppTest

    if callable(script):
        at = AppTest.from_function(script, default_timeout=default_timeout)
    else:
        at = AppTest.from_file(str(script), default_timeout=default_timeout)
    at._bidi_component_manager = installed_components()  # AppTest's own cache of it
    return at


def bbc_corpus(documents: int):
    """The first BBC News documents (OCTIS, already tokenised) as a Corpus."""
    from core.model.corpus import Corpus
    from core.model.text import TextConfig

    with shared_data(BBC).open(encoding="utf-8") as handle:
        texts = [next(handle).split("\t")[0] for _ in range(documents)]
    return Corpus.from_texts(texts, config=TextConfig(pretokenized=True, no_below=3))


@pytest.fixture(scope="session", autouse=True)
def local_user():
    """Tests act as the local data scientist, named explicitly: core has no default user."""
    from core.data import auth
    auth.set_user(auth.User("local", auth.DATA_SCIENTIST))
    return auth.current_user()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty TOPICLAB_HOME for one test."""
    path = tmp_path / "home"
    monkeypatch.setenv("TOPICLAB_HOME", str(path))
    monkeypatch.setenv("TOPICLAB_LOCK_WAIT_S", "5")
    return path


def cli(*args: str, home: Path, lock_wait: str = "5", text: bool = True
        ) -> subprocess.CompletedProcess:
    """`python -m core ARGS` as a fresh process runs it (`core.cli.main`, the store's schema
    not yet checked, its own user context, exit code as `__main__` returns it), but in this
    process: a subprocess only adds seconds of imports per call. Tests about the process
    itself (entry point, exit status, concurrency) use `cli_process`. `text=False`: stdout
    and stderr as bytes (as `subprocess.run` gives them), for CSV output."""
    from core import cli as core_cli
    from core.data import store

    saved = {name: os.environ.get(name) for name in ("TOPICLAB_HOME", "TOPICLAB_LOCK_WAIT_S")}
    os.environ.update(TOPICLAB_HOME=str(home), TOPICLAB_LOCK_WAIT_S=lock_wait)
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    store._schema_ready.clear()  # as a new process: nothing checked yet
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = contextvars.copy_context().run(core_cli.main, list(args))
            except SystemExit as exit_:  # argparse's usage errors
                code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    texts = []
    for stream in (out, err):
        stream.flush()
        data = stream.buffer.getvalue()
        texts.append(data.decode("utf-8") if text else data)
    return subprocess.CompletedProcess(["python", "-m", "core", *args], code, *texts)


def cli_process(*args: str, home: Path, lock_wait: str = "5") -> subprocess.CompletedProcess:
    """`python -m core ARGS` in a real subprocess, as a scheduler runs it."""
    env = {**os.environ, "TOPICLAB_HOME": str(home), "TOPICLAB_LOCK_WAIT_S": lock_wait}
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def ok_json(result: subprocess.CompletedProcess):
    """The JSON a CLI call printed, after checking it exited 0."""
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def write_terms_csv(path: Path, rows: list[dict]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture
def small_csv(tmp_path: Path) -> Path:
    """Three campaigns, eight rows, with metrics."""
    rows = [
        ("C1", "Acme Plumbing", "emergency plumber", 100, 10, 25.0, 2),
        ("C1", "Acme Plumbing", "plumber near me", 200, 12, 30.5, 1),
        ("C1", "Acme Plumbing", "free stuff", 50, 5, 9.0, 0),
        ("C2", "Best Shoes", "running shoes", 500, 40, 20.0, 4),
        ("C2", "Best Shoes", "cheap trainers", 300, 9, 4.5, 0),
        ("C3", "Cloud CRM", "crm software", 80, 4, 60.0, 1),
        ("C3", "Cloud CRM", "sales crm", 90, 3, 45.0, 0),
        ("C3", "Cloud CRM", "crm for small business", 40, 2, 30.0, 1),
    ]
    cols = ["campaign_id", "campaign_name", "keyword", "impressions", "clicks", "cost",
            "conversions"]
    return write_terms_csv(tmp_path / "small.csv", [dict(zip(cols, r, strict=True)) for r in rows])


DEMO_FILE = REPO / "data" / "demo" / "campaigns.parquet"
# Small but real: the first 400 demo campaigns, a quick tomotopy model.
FAST_PARAMS = {"iterations": 150, "seed": 0}
FAST_K = 12


def m10_titles(n: int = 1500):
    """A fixed sample of `n` OCTIS M10 paper titles (~6 words each) as a corpus: short,
    real text on which topic models train in seconds."""
    import numpy as np

    from core.model.corpus import Corpus
    from core.model.text import TextConfig

    frame = pd.read_csv(shared_data("octis_m10/corpus.tsv"), sep="\t", header=None,
                        names=["text", "split", "label"], quoting=3, keep_default_na=False,
                        dtype=str)
    rows = frame.iloc[np.sort(np.random.default_rng(0).choice(len(frame), n, replace=False))]
    return Corpus.from_texts(rows["text"].tolist(), config=TextConfig(pretokenized=True))


@functools.cache
def _generated_demo(n_campaigns: int | None, seed: int | None, shift: float) -> pd.DataFrame:
    from core.data import demo

    return demo.generate(demo.DEFAULT_CAMPAIGNS if n_campaigns is None else n_campaigns,
                         demo.DEFAULT_SEED if seed is None else seed, shift=shift)


def generated_demo(n_campaigns: int | None = None, seed: int | None = None,
                   shift: float = 0.0) -> pd.DataFrame:
    """`core.data.demo.generate(n_campaigns, seed, shift=shift)` (its defaults for None),
    generated once per test process for each set of arguments (planting takes 3-17 s a
    call) and copied for each caller, which may change its copy freely."""
    return _generated_demo(n_campaigns, seed, float(shift)).copy()


def demo_subset(path: Path, campaigns: int = 400, shift: float = 0.0) -> Path:
    """The first `campaigns` campaigns of the demo corpus (or of a shifted month) as Parquet."""
    frame = generated_demo(600, seed=7, shift=shift) if shift else pd.read_parquet(DEMO_FILE)
    keep = frame["campaign_id"].drop_duplicates().head(campaigns)
    frame[frame["campaign_id"].isin(keep)].to_parquet(path, index=False)
    return path


@pytest.fixture(scope="session")
def trained_home_template(tmp_path_factory) -> Path:
    """A store with `demo` v1 (400 campaigns) and a scored production model, built once."""
    from core.data import ingest
    from core.ops import deploy, train

    home = tmp_path_factory.mktemp("trained-home")
    mp = pytest.MonkeyPatch()
    mp.setenv("TOPICLAB_HOME", str(home))
    try:
        ingest.import_paths([demo_subset(home / "demo400.parquet")], "demo")
        result = train.train(train.TrainSpec(dataset="demo", k=FAST_K, params=FAST_PARAMS))
        deploy.promote(result.model_id, "production")
    finally:
        mp.undo()
    return home


def private_copy(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of a template store as this test's TOPICLAB_HOME, so it may change it freely."""
    import shutil

    home = tmp_path / "home"
    shutil.copytree(template, home)
    monkeypatch.setenv("TOPICLAB_HOME", str(home))
    monkeypatch.setenv("TOPICLAB_LOCK_WAIT_S", "5")
    return home


@pytest.fixture
def trained_home(trained_home_template: Path, tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the trained store, so a test may change it freely."""
    return private_copy(trained_home_template, tmp_path, monkeypatch)


# A second model for tests that need two (compare, A/B, races, the service's candidate).
SECOND_K = 6
SECOND_PARAMS = {"iterations": 60, "seed": 0}


@pytest.fixture(scope="session")
def two_models_template(trained_home_template: Path, tmp_path_factory) -> Path:
    """The trained store plus a second scored model (K = SECOND_K, no alias), built once
    instead of once per test that needs two models."""
    import shutil

    from core.ops import train
    from core.serve import score

    home = tmp_path_factory.mktemp("two-models") / "home"
    shutil.copytree(trained_home_template, home)
    mp = pytest.MonkeyPatch()
    mp.setenv("TOPICLAB_HOME", str(home))
    try:
        second = train.train(train.TrainSpec(dataset="demo", k=SECOND_K, params=SECOND_PARAMS))
        score.score_dataset(second.model_id)
    finally:
        mp.undo()
    return home


@pytest.fixture
def two_models_home(two_models_template: Path, tmp_path: Path,
                    monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the store with two scored models (production and `second_model`)."""
    return private_copy(two_models_template, tmp_path, monkeypatch)


@pytest.fixture
def second_model(two_models_home: Path) -> str:
    """The id of the scored model in `two_models_home` that is not production."""
    from core.serve import registry

    production = registry.alias("production")
    others = [m for m in registry.list_models()["model_id"] if m != production]
    assert len(others) == 1, others
    return others[0]


# Two campaigns of words no other campaign uses: the vocabulary filter leaves them mostly
# unknown to the model, so they land in the review queue.
ODD_CAMPAIGNS = pd.DataFrame({
    "campaign_id": ["X001"] * 3 + ["X002"] * 3,
    "campaign_name": ["Odd one"] * 3 + ["Odd two"] * 3,
    "term": ["plumber zqxv", "blorft gnark", "snarfle wibbet",
             "florp quibble", "garnix tembo", "wuzzle drain"]})


def build_review_store(home: Path, campaigns: int, k: int, iterations: int,
                       file_name: str) -> None:
    """Into `home`: `demo` v1 (the first demo campaigns plus ODD_CAMPAIGNS) and a scored
    production model that is unsure about the odd two (a non-empty review queue)."""
    from core.data import ingest
    from core.ops import deploy, train

    mp = pytest.MonkeyPatch()
    mp.setenv("TOPICLAB_HOME", str(home))
    try:
        frame = pd.read_parquet(demo_subset(home / "demo.parquet", campaigns))
        pd.concat([frame, ODD_CAMPAIGNS], ignore_index=True).to_parquet(home / file_name)
        ingest.import_paths([home / file_name], "demo")
        model = train.train(train.TrainSpec(dataset="demo", k=k,
                                            params={"iterations": iterations}))
        deploy.promote(model.model_id, "production")
    finally:
        mp.undo()

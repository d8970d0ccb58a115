"""The tests do not depend on the shell that runs them: its Topic Lab settings, cleared
by conftest (`clear_topiclab_settings`), do not reach a test or the processes it starts."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from core.data import auth
from tests.conftest import REPO, TEST_SETTINGS


def test_no_setting_of_the_shell_reaches_a_test():
    assert {n for n in os.environ if n.startswith("TOPICLAB_")} <= TEST_SETTINGS
    assert auth.local_user().role == auth.DATA_SCIENTIST


def test_a_shell_with_topiclab_settings_runs_the_tests_as_a_clean_one(tmp_path):
    """Exported `TOPICLAB_ROLE=account_manager` failed every CLI test ("may not import"),
    and `TOPICLAB_HOME` was the store of any test that set none."""
    outer_store = tmp_path / "the users store"
    env = {**os.environ, "TOPICLAB_ROLE": auth.ACCOUNT_MANAGER, "TOPICLAB_USER": "someone",
           "TOPICLAB_HOME": str(outer_store), "TOPICLAB_SQL_ROW_CAP": "1"}
    inner = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         f"{__file__}::test_no_setting_of_the_shell_reaches_a_test"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert inner.returncode == 0, inner.stdout + inner.stderr
    assert not outer_store.exists()


# Two users of the shared corpora: a test reading Sony exports, a module fixture of BBC News.
ON_SHARED_DATA = ["tests/test_text.py::test_language_detection_uses_cjk_share",
                  "tests/test_metrics.py::test_perplexity_and_evaluate_on_a_real_model"]


def pytest_without_shared_data(tmp_path, ci: str | None) -> subprocess.CompletedProcess:
    """The tests of ON_SHARED_DATA run where the shared data folder does not exist."""
    env = {n: v for n, v in os.environ.items() if n != "CI"}
    env["TOPICLAB_SHARED_DATA"] = str(tmp_path / "no shared data")
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rsf", "-p", "no:cacheprovider",
         *ON_SHARED_DATA], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def test_without_the_shared_data_its_tests_skip_naming_the_folder(tmp_path):
    """A fresh clone without `../shared/data` failed these with FileNotFoundError."""
    inner = pytest_without_shared_data(tmp_path, ci="false")
    assert inner.returncode == 0, inner.stdout + inner.stderr
    missing = tmp_path / "no shared data"
    reasons = [line for line in inner.stdout.splitlines() if line.startswith("SKIPPED")]
    assert len(reasons) == 2, inner.stdout
    assert all(f"shared data missing: {missing}/" in r and "set TOPICLAB_SHARED_DATA" in r
               for r in reasons), reasons


def test_under_ci_missing_shared_data_fails_the_run(tmp_path):
    inner = pytest_without_shared_data(tmp_path, ci="1")
    assert inner.returncode == 1, inner.stdout + inner.stderr
    assert "skipped" not in inner.stdout, inner.stdout
    assert inner.stdout.count("CI is set, so this fails instead of skipping") >= 2, inner.stdout


def test_the_app_started_from_another_folder_keeps_the_repositorys_settings(tmp_path):
    """`streamlit run /path/to/app.py` from another folder (no ~/.streamlit either) still
    reads the repository's `.streamlit/config.toml`, which Streamlit looks for beside the
    script as well as in the current folder: served on 127.0.0.1 only and headless (no
    e-mail prompt, no browser), where Streamlit's defaults are every address and a prompt.
    `make run` passes those two itself; the theme and upload limit come the same way."""
    import time
    import urllib.request

    from tests.browser import free_port
    from tests.conftest import stop_process

    port = free_port()
    env = {**os.environ, "HOME": str(tmp_path), "TOPICLAB_HOME": str(tmp_path / "home")}
    log = tmp_path / "streamlit.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(REPO / "app.py"),
             "--server.port", str(port)],
            cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health",
                                            timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
    finally:
        stop_process(proc, 10)
    text = log.read_text()
    assert f"URL: http://127.0.0.1:{port}" in text, text
    assert "Network URL" not in text and "Email" not in text, text
    assert "Collecting usage statistics" not in text, text   # gatherUsageStats = false


def test_streamlits_secrets_file_is_never_committed():
    """The README tells users to put their sign-in secrets in `.streamlit/secrets.toml`."""
    if not (REPO / ".git").exists():
        pytest.skip(f"{REPO} is not a git checkout")
    ignored = subprocess.run(["git", "check-ignore", "-q", ".streamlit/secrets.toml"],
                             cwd=REPO, capture_output=True, timeout=30)
    assert ignored.returncode == 0


def test_every_apptest_reuses_one_scan_of_the_installed_components():
    """`AppTest.run` rescanned every installed package for components once per AppTest
    (0.15-0.2 s each, hundreds per run); the tests build AppTests with `app_test`, which
    hands each the one real manager `installed_components` discovered."""
    from streamlit.components.v2.component_manager import BidiComponentManager

    from tests.conftest import app_test, installed_components

    def script():
        import streamlit as st
        st.write("ran")

    first, second = app_test(), app_test(script)
    assert first._bidi_component_manager is second._bidi_component_manager
    assert type(installed_components()) is BidiComponentManager  # the real one
    second.run()
    assert not second.exception and [m.value for m in second.markdown] == ["ran"]
    assert second._bidi_component_manager is installed_components()
    direct = [f"{p.name}:{n}" for p in (REPO / "tests").glob("*.py") if p.name != "conftest.py"
              for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
              if re.search(r"AppTest\.from_\w+\(", line)]
    assert not direct, f"build AppTests with tests.conftest.app_test: {direct}"


def test_a_generated_demo_month_is_made_once_and_each_caller_gets_its_own_copy():
    """`demo.generate` plants its problems in 3-17 s a call, and the lifecycle and page
    tests asked for the same months again and again: `generated_demo` makes each once."""
    import pandas as pd

    from core.data import demo
    from tests.conftest import _generated_demo, generated_demo

    first = generated_demo(40, seed=3, shift=0.3)
    hits = _generated_demo.cache_info().hits
    first.loc[:, "term"] = "changed by its caller"
    second = generated_demo(40, seed=3, shift=0.3)
    assert _generated_demo.cache_info().hits == hits + 1
    pd.testing.assert_frame_equal(second, demo.generate(40, 3, shift=0.3))


def test_the_makefile_runs_every_file_of_browser_tests():
    """`make test` runs the real-browser tests from the files it lists (BROWSER_TESTS), so
    a browser test in a file not listed there would never run: `-m "not browser"` leaves
    it out of the other run."""
    listed = re.search(r"^BROWSER_TESTS := (.+)$", (REPO / "Makefile").read_text(), re.M)
    assert listed, "the Makefile lists no BROWSER_TESTS"
    marked = {f"tests/{path.name}" for path in (REPO / "tests").glob("test_*.py")
              if re.search(r"pytest\.mark\.browser", path.read_text(encoding="utf-8"))}
    assert marked and set(listed.group(1).split()) == marked

"""The tests do not depend on the shell that runs them: its Topic Lab settings, cleared
by conftest (`clear_topiclab_settings`), do not reach a test or the processes it starts."""

from __future__ import annotations

import os
import subprocess
import sys

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

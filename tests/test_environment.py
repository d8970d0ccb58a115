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

"""Bad input as a new user gives it, through the CLI and the notebook API: each is refused
with one message naming what is wrong, and the store keeps what it had."""

from __future__ import annotations

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

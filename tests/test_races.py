"""Races between real processes: a check and its write must not let another command in.

One process is paused between its check and its write (`TOPICLAB_TEST_PAUSE`, see
core/testpause.py); the competing command runs in a second, already-started process
during the pause. DuckDB lets one process write at a time, so the competitor either
waits for the lock and then sees the new state, or gives up with "store is busy"
(short `TOPICLAB_LOCK_WAIT_S`): both are correct; a dangling alias or label is not.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from core.data import audit, store
from core.errors import TopicLabError
from core.serve import registry, score
from tests.conftest import REPO

PAUSE_S = 1.5  # the rival is imported already and acts within milliseconds of the go
# The competitor imports everything its command needs before it says "ready".
_COMPETITOR = ("import sys\nfrom core import cli\nfrom core.data import store\n"
               "from core.ops import deploy, train\nfrom core.serve import registry, score\n"
               "store.ensure_schema()\nprint('ready', file=sys.stderr, flush=True)\n"
               "sys.stdin.readline()\nsys.exit(cli.main(sys.argv[1:]))\n")


def _env(home, lock_wait: float, pause: str | None = None) -> dict[str, str]:
    env = {**os.environ, "TOPICLAB_HOME": str(home), "TOPICLAB_LOCK_WAIT_S": str(lock_wait)}
    env.pop("TOPICLAB_TEST_PAUSE", None)
    if pause:
        env["TOPICLAB_TEST_PAUSE"] = f"{pause}:{PAUSE_S}"
    return env


def _wait_for_line(proc: subprocess.Popen, needle: str) -> list[str]:
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if needle in line:
            return seen
    raise AssertionError(f"{needle!r} never appeared; stderr: {''.join(seen)}")


def race(home, paused: list[str], point: str, competing: list[str], lock_wait: float,
         out: list[str] | None = None) -> tuple[tuple[int, str], tuple[int, str]]:
    """Run `paused` (CLI arguments, or `["-c", code]` for a path no command reaches) with a
    pause at `point`, and `competing` during that pause. Returns (returncode, stderr) of both;
    `out`, when given, gets the paused command's stdout (its JSON answer)."""
    rival = subprocess.Popen([sys.executable, "-c", _COMPETITOR, *competing], cwd=REPO,
                             env=_env(home, lock_wait), stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_line(rival, "ready")  # imports done: it acts within milliseconds of the go
    argv = paused if paused[0] == "-c" else ["-m", "core", *paused]
    first = subprocess.Popen([sys.executable, *argv], cwd=REPO,
                             env=_env(home, 30, point), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    head = _wait_for_line(first, f"test pause: {point}")
    rival.stdin.write("go\n")
    rival.stdin.flush()
    out_first, err_first = first.communicate(timeout=120)
    if out is not None:
        out.append(out_first)
    _, err_rival = rival.communicate(timeout=120)
    return ((first.returncode, "".join(head) + err_first), (rival.returncode, err_rival))


def _assert_production_is_whole() -> str:
    production = registry.alias("production")
    assert production is not None
    assert production in registry.list_models()["model_id"].tolist(), (
        f"production points at {production}, which is no longer in the registry")
    assert score.is_scored(production)
    with pytest.raises(TopicLabError, match="production model"):
        registry.delete(production)  # it keeps its delete protection
    return production


@pytest.mark.parametrize("lock_wait", [20, 0.3], ids=["rival-waits", "rival-gives-up"])
def test_promote_and_delete_of_the_same_model_interleave(two_models_home, second_model,
                                                         lock_wait):
    previous = registry.alias("production")
    promote = ["promote", second_model, "--force"]  # the race, not the quality gate
    (p_rc, p_err), (d_rc, d_err) = race(two_models_home, promote, "set_alias",
                                        ["delete-model", second_model], lock_wait)
    production = _assert_production_is_whole()
    if production == second_model:  # promote won: the delete was refused or timed out
        assert p_rc == 0, p_err
        assert d_rc == 1 and ("production model" in d_err or "busy" in d_err), d_err
        assert previous in registry.list_models()["model_id"].tolist()
    else:  # the delete won: the promotion failed cleanly, nothing points at M
        assert production == previous
        assert p_rc == 1 and "error:" in p_err, p_err
    assert "Traceback" not in p_err + d_err


def test_naming_a_topic_while_its_model_is_deleted_leaves_no_orphan(two_models_home,
                                                                    second_model):
    (l_rc, l_err), (d_rc, d_err) = race(
        two_models_home, ["label-topic", second_model, "0", "Plumbing"], "set_topic_label",
        ["delete-model", second_model], 20)
    orphans = store.query_one("SELECT count(*) FROM topic_labels WHERE model_id NOT IN "
                              "(SELECT model_id FROM models)")[0]
    assert orphans == 0
    assert l_rc == 0 and d_rc == 0, (l_err, d_err)  # the delete ran after the label
    assert second_model not in registry.list_models()["model_id"].tolist()
    assert "Traceback" not in l_err + d_err


def test_deleting_a_model_while_it_is_promoted(two_models_home, second_model):
    previous = registry.alias("production")
    (d_rc, d_err), (p_rc, p_err) = race(two_models_home, ["delete-model", second_model],
                                        "delete", ["promote", second_model, "--force"], 20)
    production = _assert_production_is_whole()
    assert "Traceback" not in p_err + d_err
    if d_rc == 0:  # the delete went first: the promotion found no model
        assert p_rc == 1 and "error:" in p_err, p_err
        assert production == previous
    else:  # the promotion went first: the delete refused to remove production
        assert "production model" in d_err and production == second_model


def _as_local_user(code: str) -> list[str]:
    """`python -c` arguments running `code` as the CLI would: as the local user, with a
    `TopicLabError` printed as `error: …` and exit 1."""
    body = "".join(f"    {line}\n" for line in code.splitlines())
    return ["-c", "import sys\nfrom core.data import auth\nfrom core.errors import "
            "TopicLabError\nauth.set_user(auth.local_user())\ntry:\n" + body +
            "except TopicLabError as err:\n    print(f'error: {err}', file=sys.stderr)\n"
            "    sys.exit(1)\n"]


def test_carrying_names_to_a_model_deleted_meanwhile_leaves_no_orphan(two_models_home,
                                                                      second_model):
    production = registry.alias("production")
    for topic in range(registry.get(production)["k"]):
        registry.set_topic_label(production, topic, f"Name {topic}")
    carry_code = ("from core.ops import carry\n"
                  f"carry.carry_labels({production!r}, {second_model!r}, max_js=1.0)")
    (c_rc, c_err), (d_rc, d_err) = race(two_models_home, _as_local_user(carry_code),
                                        "carry_labels", ["delete-model", second_model], 20)
    orphans = store.query_one("SELECT count(*) FROM topic_labels WHERE model_id NOT IN "
                              "(SELECT model_id FROM models)")[0]
    assert orphans == 0
    assert d_rc == 0, d_err
    assert second_model not in registry.list_models()["model_id"].tolist()
    assert "Traceback" not in c_err + d_err
    if c_rc != 0:  # the delete went first: carrying found no model and said so
        assert f"No model with id {second_model!r}" in c_err, c_err


def _audit_ids(action: str, target_column: str, value: str) -> list[int]:
    return store.query(f"SELECT id FROM audit WHERE action = ? AND {target_column} = ? "
                       "ORDER BY id", [action, value])["id"].tolist()


@pytest.mark.parametrize("point", ["record_feedback", "record_review"])
def test_feedback_and_reviews_are_never_recorded_for_a_model_deleted_meanwhile(
        two_models_home, second_model, point):
    first, other = store.query("SELECT campaign_id FROM fingerprints WHERE model_id = ? "
                               "ORDER BY campaign_id LIMIT 2", [second_model])["campaign_id"]
    call = (f"review.record_feedback({second_model!r}, {first!r}, {other!r}, True)"
            if point == "record_feedback" else
            f"review.record_review({second_model!r}, {first!r}, 'flag')")
    (w_rc, w_err), (d_rc, d_err) = race(
        two_models_home, _as_local_user(f"from core.serve import review\n{call}"), point,
        ["delete-model", second_model], 20)
    assert d_rc == 0, d_err
    assert "Traceback" not in w_err + d_err
    deleted = _audit_ids("delete", "target", second_model)
    written = _audit_ids("feedback" if point == "record_feedback" else "review", "target",
                         first)
    assert len(deleted) == 1
    # Either the verdict went in before the delete, or it was refused: never after it.
    assert all(i < deleted[0] for i in written), (written, deleted)
    if w_rc != 0:
        assert f"No model with id {second_model!r}" in w_err, w_err


def test_service_feedback_queued_before_its_model_was_deleted_is_not_written_after(
        two_models_home, second_model):
    """The service checks a verdict against the model it serves and queues it; the writer
    commits it up to a second later, when another process may have deleted the model."""
    from core.serve.request_log import Feedback, StoreWriter
    first, other = store.query("SELECT campaign_id FROM fingerprints WHERE model_id = ? "
                               "ORDER BY campaign_id LIMIT 2", [second_model])["campaign_id"]
    writer = StoreWriter(interval_s=3600)  # flushed by hand below, not by its thread
    assert writer.put(Feedback(second_model, first, other, True, "am-key", "account_manager"))
    deleted = subprocess.run([sys.executable, "-m", "core", "delete-model", second_model],
                             cwd=REPO, env=_env(two_models_home, 20), capture_output=True,
                             text=True, timeout=120)
    assert deleted.returncode == 0, deleted.stderr
    writer.flush(wait_s=5)
    rows = store.query_one("SELECT count(*) FROM neighbor_feedback WHERE model_id = ?",
                           [second_model])[0]
    assert rows == 0  # was: recorded (and audited) after the model's delete
    assert _audit_ids("feedback", "target", first) == []


def test_a_drift_report_is_not_recorded_for_a_model_deleted_while_it_was_measured(
        two_models_home, second_model):
    (r_rc, r_err), (d_rc, d_err) = race(
        two_models_home, ["drift", "--dataset", "demo", "--model", second_model], "drift_record",
        ["delete-model", second_model], 20)
    assert d_rc == 0, d_err  # the delete ran in the pause, before the report's transaction
    assert r_rc == 1 and f"No model with id {second_model!r}: it was deleted" in r_err, r_err
    assert "Traceback" not in r_err + d_err
    reports = store.query_one("SELECT count(*) FROM drift_reports WHERE model_id = ?",
                              [second_model])[0]
    assert reports == 0  # was: a report (and its audit entry) of a deleted model
    assert _audit_ids("drift", "target", "demo v1") == []


def test_a_drift_check_of_production_names_the_model_it_measured_when_promoted_meanwhile(
        two_models_home, second_model):
    """`drift` without --model measures the production model of its start; a promote
    while it measures must not make its report production's new model's."""
    from core.ops import drift
    first = registry.alias("production")
    out: list[str] = []
    (r_rc, r_err), (p_rc, p_err) = race(
        two_models_home, ["drift", "--dataset", "demo"], "drift_record",
        ["promote", second_model, "--force"], 20, out)
    assert p_rc == 0 and r_rc == 0, p_err + r_err
    assert registry.alias("production") == second_model
    printed = json.loads(out[0])
    assert printed["model_id"] == first and printed["against_production"] is False
    row = store.query_one("SELECT model_id, report FROM drift_reports")
    assert row[0] == first and json.loads(row[1])["model_id"] == first
    assert json.loads(row[1])["against_production"] is False
    assert drift.history("demo").empty   # not charted as the new production's
    assert drift.checks_of_other_models("demo") == {first: 1}


def test_a_sweep_is_not_recorded_with_a_best_model_deleted_while_it_ran(trained_home):
    # One run, under a known id, so the rival can name the model the sweep will choose.
    sweep_code = ("from core.ops import sweep, train\nfrom core.serve import registry\n"
                  "registry.new_model_id = lambda engine, k: 'swept'\n"
                  "sweep.sweep(train.TrainSpec(dataset='demo', k=4, params={'iterations': "
                  "30}), [4], seeds=[0])")
    (s_rc, s_err), (d_rc, d_err) = race(trained_home, _as_local_user(sweep_code),
                                        "sweep_record", ["delete-model", "swept"], 20)
    assert d_rc == 0, d_err  # the delete ran in the pause, before the sweep's transaction
    assert s_rc == 1 and "No model with id 'swept': it was deleted while sweep" in s_err
    assert "Traceback" not in s_err + d_err
    # was: a sweep whose best model is gone
    assert store.query_one("SELECT count(*) FROM sweeps")[0] == 0
    assert store.query("SELECT id FROM audit WHERE action = 'sweep'").empty


def test_promote_candidate_is_refused_when_the_candidate_moved_while_it_was_scored(
        two_models_home, second_model):
    """`promote candidate` reads the alias, scores its model, then moves production: a
    candidate that moved in between (here: deleted, which clears the alias) is refused by
    name, rather than production being pointed at what the alias no longer names."""
    production = registry.alias("production")
    registry.set_alias("candidate", second_model)
    (p_rc, p_err), (d_rc, d_err) = race(two_models_home, ["promote", "candidate", "--force"],
                                        "promote", ["delete-model", second_model], 20)
    assert d_rc == 0, d_err  # the delete ran in the pause, before the promotion's write
    assert p_rc == 1, p_err
    assert (f"candidate changed while promoting: it now points at nothing, not "
            f"{second_model}") in p_err, p_err
    assert "Traceback" not in p_err + d_err
    assert _assert_production_is_whole() == production
    assert registry.alias("candidate") is None


def test_a_pipeline_whose_production_moved_while_it_judged_is_judged_again(
        two_models_home, second_model):
    """Two overlapping runs: the second's gate read production P, the first (here a
    `promote`) moved it to Q before the second promoted. It failed with "production
    changed while you were deciding", its trained model left without an alias; now it
    is judged again against Q and placed by that verdict."""
    judged = registry.alias("production")
    run = ["pipeline", "--dataset", "demo", "--tolerance", "2"]  # passes any NPMI gate
    answer: list[str] = []
    (p_rc, p_err), (r_rc, r_err) = race(two_models_home, run, "promote",
                                        ["promote", second_model, "--force"], 20, answer)
    assert r_rc == 0, r_err  # the rival moved production during the pipeline's pause
    assert p_rc == 0, p_err  # was: exit 1, "production changed while you were deciding"
    assert "Traceback" not in p_err + r_err
    assert f'"judged_against": "{judged}", "now": "{second_model}"' in p_err, p_err
    entry = audit.entries(action="pipeline").iloc[0]
    new = entry["target"]
    assert new not in (judged, second_model)
    aliases = registry.aliases()
    assert new in aliases.values()  # production (passed against Q) or candidate, not none
    if aliases["production"] == new:
        assert '"previous": "' + second_model in p_err  # it replaced Q, not P
    else:
        assert aliases["production"] == second_model and aliases["candidate"] == new
    # The answer names the production it replaced (or was kept as candidate beside), Q:
    # it named P, which it was first judged against, as if P had been replaced.
    result = json.loads(answer[0])
    assert result["model_id"] == new and result["production_before"] == second_model, result

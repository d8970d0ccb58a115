"""Who acts is never guessed: blank or odd names, unknown roles and threads without a user
are refused (issue #8.9)."""

from __future__ import annotations

import threading

import pytest

from core.data import audit, auth, store
from core.errors import InputError, PermissionDenied
from core.ops import train
from core.serve import registry
from tests.conftest import REPO, app_test, cli
from tests.test_app import AUTH_SECRETS, login_app

AM = auth.User("amy", auth.ACCOUNT_MANAGER)


@pytest.mark.parametrize(("variable", "value", "needle"), [
    ("TOPICLAB_USER", "", "must not be empty or blank"),
    ("TOPICLAB_USER", "   ", "must not be empty or blank"),
    ("TOPICLAB_USER", "eve\x1b[2J", "U+001B"),
    ("TOPICLAB_USER", "eve\nadmin", "U+000A"),
    ("TOPICLAB_USER", "eve\u200b", "U+200B"),
    ("TOPICLAB_ROLE", "wizard", "TOPICLAB_ROLE='wizard' is not a role"),
    ("TOPICLAB_ROLE", "", "TOPICLAB_ROLE='' is not a role"),
])
def test_cli_refuses_a_bad_identity_and_writes_nothing(trained_home, monkeypatch, variable,
                                                       value, needle):
    monkeypatch.setenv(variable, value)
    before = store.table_counts()
    model_id = registry.alias("production")
    result = cli("label-topic", model_id, "0", "Plumbing", home=trained_home)
    assert result.returncode == 1, result.stdout
    assert result.stderr.startswith("error: ") and needle in result.stderr
    assert store.table_counts() == before


def test_names_and_roles_are_checked_where_users_are_made():
    for name in ("", " ", "\t", "a\x00b", " padded "):
        with pytest.raises(auth.IdentityError):
            auth.User(name, auth.DATA_SCIENTIST)
    with pytest.raises(auth.IdentityError, match="Unknown role 'wizard'"):
        auth.User("ana", "wizard")
    with pytest.raises(auth.IdentityError, match="Unknown role"):
        auth.role_for("x@example.com", {"wizard": ["*"]})
    assert auth.User("Ana Müller", auth.ACCOUNT_MANAGER).can("feedback")


def test_every_permission_in_the_role_table_is_checked_somewhere():
    """`export` stood in the table though nothing checked it: a permission nobody checks
    is a promise the table cannot keep (it was removed; reading is open to every role)."""
    import re
    sources = "\n".join(p.read_text(encoding="utf-8") for folder in ("core", "app_pages")
                        for p in (REPO / folder).rglob("*.py"))
    sources += (REPO / "ui.py").read_text(encoding="utf-8")
    granted = set().union(*auth.PERMISSIONS.values())
    unchecked = sorted(a for a in granted
                       if not re.search(rf'(require|can)\(\s*"{a}"', sources))
    assert unchecked == []


def test_a_thread_that_never_set_a_user_may_change_nothing(trained_home):
    model_id = registry.alias("production")
    outcome: dict[str, BaseException | str] = {}

    def worker() -> None:  # a new thread starts with no user, whatever the caller's was
        try:
            registry.set_topic_label(model_id, 0, "From a thread")
            outcome["result"] = "written"
        except BaseException as err:  # the test reports whatever happened
            outcome["result"] = err

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert isinstance(outcome["result"], PermissionDenied)
    assert "No user is set" in str(outcome["result"])
    assert registry.topic_labels(model_id) == {}

    def named_worker() -> None:  # handed a user explicitly, the same work is allowed
        with auth.use(auth.User("worker", auth.DATA_SCIENTIST)):
            registry.set_topic_label(model_id, 0, "From a thread")

    thread = threading.Thread(target=named_worker)
    thread.start()
    thread.join()
    assert registry.topic_labels(model_id) == {0: "From a thread"}
    assert audit.entries(action="label_topic")["actor"].iloc[0] == "worker"


def test_saving_the_retraining_recipe_needs_a_role_and_is_audited(trained_home):
    model_id = registry.alias("production")
    before = len(audit.entries(action="save_settings"))  # promotion saved it once already
    with auth.use(AM), pytest.raises(PermissionDenied, match="may not promote"):
        train.save_settings(model_id)
    assert len(audit.entries(action="save_settings")) == before
    train.save_settings(model_id)
    assert len(audit.entries(action="save_settings")) == before + 1
    entry = audit.entries(action="save_settings").iloc[0]
    assert entry["target"] == "demo" and entry["actor"] == "local"
    assert model_id in entry["details"]


@pytest.mark.parametrize(("variable", "value", "needle"), [
    ("TOPICLAB_ROLE", "wizard", "TOPICLAB_ROLE='wizard' is not a role"),
    ("TOPICLAB_USER", "  ", "must not be empty or blank"),
])
def test_app_refuses_a_bad_local_identity(home, small_csv, monkeypatch, variable, value,
                                          needle):
    from core.data import ingest
    ingest.import_paths([small_csv], "shop")
    monkeypatch.setenv(variable, value)
    at = app_test(default_timeout=60)
    at.run()
    assert not at.exception
    assert any(needle in e.value for e in at.error), [e.value for e in at.error]
    assert not at.metric  # no page ran


def test_app_refuses_an_unknown_role_in_the_role_map(home, small_csv):
    from core.data import ingest
    ingest.import_paths([small_csv], "shop")
    at = login_app({"is_logged_in": True, "email": "ana@example.com", "name": "Ana"})
    at.secrets = {**AUTH_SECRETS, "topiclab": {"roles": {"wizard": ["*@example.com"]}}}
    at.run()
    assert not at.exception
    assert any("Unknown role 'wizard'" in e.value for e in at.error)


def test_a_widget_callback_acts_as_the_signed_in_user(home, small_csv):
    """Explore's import runs in a callback, before app.py names the run's user: it must act
    as the session's signed-in user, never as a default one."""
    from core.data import datasets, ingest
    from tests.conftest import FIXTURES
    ingest.import_paths([small_csv], "shop")
    at = login_app({"is_logged_in": True, "email": "ana@example.com", "name": "Ana"})
    at.run()
    at.switch_page("app_pages/explore.py")
    at.run()
    sony = FIXTURES / "sony" / "PO_brand.csv"
    at.file_uploader[0].upload(sony.name, sony.read_bytes(), "text/csv")
    at.text_input(key="import_name").set_value("sony")
    at.button[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert datasets.get("sony").campaigns == 1
    entry = audit.entries(action="import").iloc[0]
    assert entry["actor"] == "ana@example.com" and entry["role"] == auth.DATA_SCIENTIST


def test_a_widget_callback_uses_the_role_the_role_map_gives_now(home, small_csv):
    """A callback ran as the role of the session's previous run: with Ana's data-scientist
    role taken out of `[topiclab.roles]` meanwhile, her next click still imported."""
    from core.data import datasets, ingest
    from tests.conftest import FIXTURES
    ingest.import_paths([small_csv], "shop")
    at = login_app({"is_logged_in": True, "email": "ana@example.com", "name": "Ana"})
    at.run()
    at.switch_page("app_pages/explore.py")
    at.run()
    at.secrets = {**AUTH_SECRETS, "topiclab": {"roles": {"account_manager": ["*@example.com"]}}}
    sony = FIXTURES / "sony" / "PO_brand.csv"
    at.file_uploader[0].upload(sony.name, sony.read_bytes(), "text/csv")
    at.text_input(key="import_name").set_value("sony")
    at.button[0].click().run()
    assert not at.exception
    assert any("ana@example.com (account manager) may not import" in e.value
               for e in at.error), [e.value for e in at.error]
    assert datasets.list_versions()["name"].tolist() == ["shop"]
    assert audit.entries(action="import")["actor"].tolist() == ["local"]


@pytest.mark.parametrize("who", ["ana", None, {"name": "ana", "role": "data_scientist"}])
def test_use_needs_a_user_as_set_user_does(who):
    """`use("ana")` was taken: the work failed halfway with an AttributeError (or, with
    None, as "no user"), where `set_user` said what it needs."""
    for enter in (auth.set_user, lambda u: auth.use(u).__enter__()):
        with pytest.raises(TypeError, match=r"needs a core\.data\.auth\.User"):
            enter(who)


def test_one_person_is_one_person_whatever_the_case_of_their_name(trained_home):
    """"Ana@example.com" and "ana@example.com" (an identity provider's spelling varies) were
    two people: her two verdicts on one neighbour counted twice, and two API keys could be
    made for her, one of which `keys revoke` could not find by the other spelling."""
    from core.serve import keys, review, score

    model_id = registry.alias("production")
    campaign, neighbour = score.load_fingerprints(model_id).campaign_ids[:2]
    for spelling, useful in (("Ana@example.com", True), ("ana@example.com", False)):
        with auth.use(auth.User(spelling, auth.ACCOUNT_MANAGER)):
            review.record_feedback(model_id, campaign, neighbour, useful=useful)
    [row] = review.acceptance([model_id]).to_dict("records")
    assert (row["verdicts"], row["useful"]) == (1, 0)   # her last verdict, once
    actors = set(audit.entries(action="feedback")["actor"])
    assert actors == {"Ana@example.com", "ana@example.com"}   # stored as given

    keys.create("Ana@example.com")
    with pytest.raises(InputError, match=r"A key named 'Ana@example\.com' exists already"):
        keys.create("ana@example.com")
    assert keys.revoke("ANA@EXAMPLE.COM").name == "Ana@example.com"
    assert keys.list_keys()["name"].tolist() == ["Ana@example.com"]
    assert auth.role_for("ANA@Example.com", {"data_scientist": ["ana@example.COM"]}) \
        == auth.DATA_SCIENTIST


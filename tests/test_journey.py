"""Both journeys of issue #9 in a real browser, on a fresh store, as people walk them.

Account manager: look up a campaign, export its neighbours as CSV, give feedback, paste
the keywords of a new campaign. Data scientist: import Google Ads exports (they become
the active dataset), train a small model on them, name a topic, save a review decision.
Every page visited must show no exception, and nothing may leave the machine.
Screenshots go to $TOPICLAB_SCREENSHOTS (default: the test's temporary folder).
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from core.jsonable import SIMILARITY_DECIMALS
from tests.browser import browser_page, streamlit_server
from tests.conftest import FIXTURES, build_review_store

pytestmark = pytest.mark.browser
TIMEOUT = 90_000  # ms; the first run of a page loads spaCy and the model
SONY = sorted((FIXTURES / "sony").glob("*.csv"))


@pytest.fixture(scope="module")
def fresh_home(tmp_path_factory) -> Path:
    """A new store as a first `make run` leaves it, smaller: 150 demo campaigns plus two
    made of words no other campaign uses (so the review queue has work), and a scored
    production model."""
    home = tmp_path_factory.mktemp("journey") / "home"
    home.mkdir()
    build_review_store(home, 150, k=8, iterations=100, file_name="demo.parquet")
    yield home
    shutil.rmtree(home.parent, ignore_errors=True)


def query(home: Path, sql: str) -> pd.DataFrame:
    """Read the store the app writes (between the app's short connections)."""
    from core.data import store
    mp = pytest.MonkeyPatch()
    mp.setenv("TOPICLAB_HOME", str(home))
    try:
        return store.query(sql)
    finally:
        mp.undo()


class Journey:
    """One browser session: navigation through the sidebar keeps Streamlit's session."""

    def __init__(self, page, shots: Path) -> None:
        self.page, self.shots, self.count = page, shots, 0
        self.started = time.monotonic()

    def idle(self) -> None:
        """Wait until the script run triggered by the last action has finished: no
        "Running…" status and no element still marked stale from the previous run."""
        self.page.wait_for_timeout(300)
        self.page.wait_for_function("""() => {
            const status = document.querySelector('[data-testid="stStatusWidget"]');
            return (!status || status.offsetParent === null)
                && !document.querySelector('[data-stale="true"]');
        }""", timeout=TIMEOUT)

    def check(self, name: str, show=None) -> None:
        """No exception on the page; a screenshot of it (scrolled to `show` if given)."""
        self.idle()
        if show is not None:
            show.evaluate("e => e.scrollIntoView({block: 'start'})")
            self.page.wait_for_timeout(300)
        self.count += 1
        print(f"{time.monotonic() - self.started:6.1f} s  {name}")
        self.page.screenshot(path=str(self.shots / f"{self.count:02d}-{name}.png"),
                             full_page=True)
        errors = self.page.locator("[data-testid='stException']")
        assert errors.count() == 0, errors.all_inner_texts()

    def go(self, title: str) -> None:
        self.page.get_by_test_id("stSidebarNav").get_by_role("link", name=title,
                                                              exact=True).click()
        self.page.get_by_role("heading", level=1).first.wait_for(timeout=TIMEOUT)
        self.idle()

    def pick(self, label: str, text: str) -> None:
        """Type into a selectbox and take the first matching option."""
        box = self.page.get_by_role("combobox", name=label, exact=True)
        box.click()
        box.fill(text)
        self.page.get_by_role("option").filter(has_text=text).first.click()
        self.idle()

    def toast(self, text: str) -> None:
        self.page.get_by_test_id("stToast").filter(has_text=text).wait_for(timeout=TIMEOUT)


def test_account_manager_and_data_scientist_journeys(fresh_home, tmp_path):
    shots = Path(os.environ.get("TOPICLAB_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    outside: list[str] = []
    with streamlit_server(fresh_home) as url, browser_page(outside) as page:
        page.goto(url)
        page.get_by_role("heading", name="Topic Lab").first.wait_for(timeout=TIMEOUT)
        j = Journey(page, shots)
        try:
            walk(j, page, fresh_home)
        except Exception:
            page.screenshot(path=str(shots / "failed.png"))
            raise
    assert outside == []


def walk(j: Journey, page, fresh_home: Path) -> None:
    """Both journeys, one step after the other, in one browser session."""
    j.check("home")

    # -- account manager: look up a campaign ----------------------------------------
    j.go("Lookup")
    j.pick("Campaign (type an id or part of a name)", "C00002")
    page.get_by_role("heading", name="Suggested actions").wait_for(timeout=TIMEOUT)
    j.check("lookup-campaign", page.get_by_role("heading", name="Most similar campaigns"))

    # Export the neighbours as CSV and read what was downloaded.
    with page.expect_download() as download:
        page.get_by_role("button", name="Download neighbours (CSV)").click()
    rows = list(csv.DictReader(io.StringIO(
        Path(download.value.path()).read_text("utf-8-sig"))))
    assert len(rows) == 10 and "C00002" not in {r["campaign_id"] for r in rows}
    assert list(rows[0])[:6] == ["campaign_name", "campaign_id", "similarity", "ctr",
                                 "cpc", "conversion_rate"]
    # similarities with the six decimals every answer gives them, other numbers at most four
    numbers = [(k, v) for r in rows for k, v in r.items() if re.fullmatch(r"-?\d+\.\d+", v)]
    assert numbers and all(
        len(v.split(".")[1]) <= (SIMILARITY_DECIMALS if "similarity" in k else 4)
        for k, v in numbers), numbers
    assert any(len(v.split(".")[1]) > 4 for k, v in numbers if "similarity" in k), numbers

    # Feedback on the first neighbour.
    page.get_by_text("Was a suggested neighbour useful? Tell us").click()
    send = page.get_by_role("button", name="Send feedback")
    send.wait_for(timeout=TIMEOUT)
    j.idle()
    send.click()
    thanks = page.get_by_text("Thanks — recorded")
    try:
        thanks.wait_for(timeout=20_000)
    except PlaywrightTimeout:
        # Seen in a few CI runs, alone or beside other tests: the form stays open with no
        # reply, as if the click never reached the app (not understood). Click once more,
        # only when nothing was recorded; the check below still wants exactly one row.
        assert query(fresh_home, "SELECT count(*) AS n FROM neighbor_feedback")["n"][0] == 0
        j.idle()
        send.click()
        thanks.wait_for(timeout=TIMEOUT)
    j.check("lookup-feedback")
    feedback = query(fresh_home, "SELECT campaign_id, neighbor_id, useful "
                                 "FROM neighbor_feedback")
    assert feedback.to_dict("records") == [
        {"campaign_id": "C00002", "neighbor_id": rows[0]["campaign_id"], "useful": True}]

    # Paste the keywords of a new campaign.
    page.get_by_text("New campaign", exact=True).click()
    keywords = page.get_by_role("textbox", name=re.compile("Keywords of the new campaign"))
    keywords.fill("emergency plumber\nblocked drain\nwater heater repair")
    keywords.press("Control+Enter")
    page.get_by_role("heading", name="Most similar campaigns").wait_for(timeout=TIMEOUT)
    j.check("lookup-keywords", page.get_by_role("heading", name="Suggested actions"))
    page.get_by_role("button", name="Download actions (CSV)").wait_for(timeout=TIMEOUT)

    # -- data scientist: import Sony exports; they become the active dataset --------
    j.go("Explore")
    page.get_by_text("Import files as a new dataset version").click()
    j.idle()
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
        [str(p) for p in SONY])
    # The files upload in the background: submit only once the uploader lists them.
    page.get_by_test_id("stFileChip").first.wait_for(timeout=TIMEOUT)
    name = page.get_by_role("textbox", name="Dataset name")
    name.fill("sony")
    j.idle()
    page.get_by_role("button", name="Import").click()
    done = page.get_by_text("as sony v1, now the active dataset")
    try:
        done.wait_for(timeout=2 * TIMEOUT)  # 16 files parsed and stored on a busy machine
    except Exception:
        alerts = page.get_by_test_id("stAlert").all_inner_texts()
        raise AssertionError(f"the import did not report success; alerts: {alerts}") from None
    j.check("explore-imported")
    sidebar = page.get_by_test_id("stSidebar")
    assert sidebar.get_by_text("sony v1").is_visible()
    assert page.get_by_role("combobox", name="Dataset version").input_value() == "sony v1"
    assert page.get_by_test_id("stMetric").filter(has_text="Cost (JPY)").is_visible()
    assert name.input_value() == "sony"  # the name field did not reset

    # Train a small model on them (the Train page starts on the active dataset).
    j.go("Train")
    assert page.get_by_role("combobox", name="Dataset version").input_value() == "sony v1"
    page.get_by_text("Fit K to the data").click()   # on for a dataset new to training
    j.idle()
    k = page.get_by_role("spinbutton", name="Topics (K)")
    k.fill("3")
    k.press("Tab")
    iterations = page.get_by_role("spinbutton", name="Gibbs iterations")
    iterations.fill("60")
    iterations.press("Tab")
    j.idle()
    page.get_by_role("button", name="Start").click()
    done = page.get_by_test_id("stAlertContentSuccess").filter(has_text="Trained")
    done.wait_for(timeout=TIMEOUT)
    j.check("train", done)
    trained = query(fresh_home, "SELECT model_id, dataset, k FROM models "
                                "ORDER BY created_at DESC LIMIT 1").iloc[0]
    assert (trained["dataset"], trained["k"]) == ("sony", 3)

    # Name a topic of the production model.
    j.go("Topics")
    page.frame_locator("iframe").first.locator("svg circle.dot").first.wait_for(
        timeout=TIMEOUT)
    box = page.get_by_role("textbox", name="Name this topic")
    box.fill("Journey topic")
    page.get_by_role("button", name="Save name").click()
    j.toast("is now named 'Journey topic'")
    j.check("topics-named")
    # The new name shows at once in the topic picker (not the old automatic name).
    assert page.get_by_role("combobox", name="Topic", exact=True).input_value() == \
        "Journey topic"
    labels = query(fresh_home, "SELECT topic, label FROM topic_labels")
    assert labels.to_dict("records") == [{"topic": 0, "label": "Journey topic"}]

    # Save a review decision.
    j.go("Review")
    page.get_by_text("flag", exact=True).click()
    page.get_by_role("button", name="Save decision").click()
    j.toast("Saved:")
    j.check("review-saved")
    reviews = query(fresh_home, "SELECT campaign_id, decision FROM reviews")
    assert len(reviews) == 1 and reviews["decision"].iloc[0] == "flag"
    assert reviews["campaign_id"].iloc[0] in {"X001", "X002"}

    # Promote the Sony model to production: the page names the model it replaces, shows
    # the pipeline's quality gate and asks for confirmation, twice for another dataset.
    production = query(fresh_home, "SELECT model_id FROM aliases "
                                   "WHERE alias = 'production'")["model_id"].iloc[0]
    j.go("Compare")
    j.pick("Model", trained["model_id"])
    page.get_by_test_id("stRadio").filter(has_text="Alias").get_by_text(
        "production", exact=True).click()
    j.idle()
    page.get_by_text("replaces the production model").wait_for(timeout=TIMEOUT)
    page.get_by_text("Quality gate (as the pipeline judges it)").wait_for(timeout=TIMEOUT)
    promote = page.get_by_role("button", name="Promote")
    assert promote.is_disabled()  # nothing happens before the confirmations
    page.get_by_text("Yes: production should serve dataset 'sony'").click()
    j.idle()
    page.get_by_text(f"Yes, replace {production} with {trained['model_id']}").click()
    j.idle()
    promote.click()
    page.get_by_text(f"{trained['model_id']} is now production").wait_for(timeout=TIMEOUT)
    j.check("compare-promoted")
    aliases = query(fresh_home, "SELECT alias, model_id FROM aliases")
    assert dict(zip(aliases["alias"], aliases["model_id"], strict=True)) == {
        "production": trained["model_id"]}

    # Lookup now works on the active dataset (sony v1) with the new production model.
    j.go("Lookup")
    page.get_by_text("Campaigns of sony v1").wait_for(timeout=TIMEOUT)
    j.check("lookup-sony")


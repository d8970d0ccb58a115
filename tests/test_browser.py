"""The real thing: a running app in Debian's headless Chromium, nothing leaving the machine."""

from __future__ import annotations

import pytest

from core.serve import registry
from tests.browser import browser_page, streamlit_server
from tests.conftest import cli, ok_json

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def app(trained_home_template):
    """One server over a copy of the trained demo store, shared by this module's tests."""
    import shutil
    import tempfile
    from pathlib import Path

    home = Path(tempfile.mkdtemp(prefix="topiclab-browser-")) / "home"
    shutil.copytree(trained_home_template, home)
    mp = pytest.MonkeyPatch()
    mp.setenv("TOPICLAB_HOME", str(home))
    try:
        with streamlit_server(home) as url:
            yield url, home
    finally:
        mp.undo()
        shutil.rmtree(home.parent, ignore_errors=True)


def grid_cells(page, index: int = -1, timeout: int = 30_000) -> list[str]:
    """Texts of a dataframe's cells: the grid draws on a canvas, its accessible twin holds
    the texts."""
    grid = page.locator("[data-testid='stDataFrame']").nth(index)
    cells = grid.locator("td[role=gridcell]")
    cells.first.wait_for(state="attached", timeout=timeout)
    return cells.all_text_contents()


def test_explore_runs_sql(app, tmp_path):
    url, home = app
    outside: list[str] = []
    with browser_page(outside) as page:
        page.goto(f"{url}/explore")  # a deep link on a fresh server
        page.get_by_role("tab", name="SQL").click(timeout=90_000)  # the first run loads
        page.get_by_role("textbox", name="SQL").fill(
            "SELECT campaign_id, terms FROM campaigns ORDER BY campaign_id LIMIT 2")
        page.get_by_role("button", name="Run query").click()
        page.get_by_text("2 rows").wait_for(timeout=30_000)
        cells = grid_cells(page)
        page.screenshot(path=str(tmp_path / "explore.png"))
        assert cells[0::2] == ["C00001", "C00002"]
    assert outside == []
    terms = ok_json(cli("sql", "SELECT terms FROM campaigns ORDER BY campaign_id LIMIT 2",
                        home=home))["data"]
    assert cells[1::2] == [str(row["terms"]) for row in terms]


def test_topics_draws_pyldavis_offline(app, tmp_path):
    url, home = app
    mp = pytest.MonkeyPatch()
    mp.setenv("TOPICLAB_HOME", str(home))
    try:
        k = registry.get(registry.resolve("production"))["k"]
    finally:
        mp.undo()
    outside: list[str] = []
    with browser_page(outside) as page:
        page.goto(f"{url}/topics")
        frame = page.frame_locator("iframe").first
        circles = frame.locator("svg circle.dot")
        circles.first.wait_for(timeout=60_000)
        page.screenshot(path=str(tmp_path / "topics.png"), full_page=True)
        assert circles.count() == k
    assert outside == []


def test_lookup_shows_neighbours_and_actions(app, tmp_path):
    url, home = app
    outside: list[str] = []
    with browser_page(outside) as page:
        page.goto(f"{url}/lookup")
        box = page.get_by_role("combobox", name="Campaign (type an id or part of a name)")
        box.click()
        box.fill("C00002")
        page.get_by_role("option").first.click()
        page.get_by_role("heading", name="Most similar campaigns").wait_for(timeout=60_000)
        cells = grid_cells(page, 0)
        page.get_by_role("heading", name="Suggested actions").wait_for()
        page.screenshot(path=str(tmp_path / "lookup.png"), full_page=True)
        ids = [c for c in cells if c.startswith("C0")]
        assert len(ids) == 10 and "C00002" not in ids  # one id per neighbour, not itself
        # a new campaign from a Keyword Planner download of C00002's own keywords (UTF-16,
        # its title and range lines): C00002 is its nearest campaign
        terms = [row["term"] for row in ok_json(cli(
            "sql", "SELECT DISTINCT term FROM terms WHERE campaign_id = 'C00002' "
            "AND term_type = 'keyword' ORDER BY term", home=home))["data"]]
        planner = tmp_path / "Keyword Stats 2026-12-05 at 09_20_11.csv"
        planner.write_text("Keyword Stats 2026-12-05 at 09_20_11\nDec 1, 2025 - Nov 30, 2026\n"
                           "Keyword\tCurrency\tAvg. monthly searches\n"
                           + "".join(f"{t}\tUSD\t1K – 10K\n" for t in terms), "utf-16")
        page.locator("[data-testid=stButtonGroup]").get_by_text("New campaign").click()
        page.locator("input[type=file]").set_input_files(str(planner))
        page.get_by_role("heading", name="Most similar campaigns").wait_for(timeout=60_000)
        cells = grid_cells(page, 0)
        assert next(c for c in cells if c.startswith("C0")) == "C00002", cells
        assert page.locator("[data-testid='stException']").count() == 0
        # an export of two campaigns is refused, saying so, in place of the neighbours
        export = tmp_path / "two campaigns.csv"
        export.write_text("Campaign,Keyword\nPlumbing,drain\nRoofing,roof repair\n")
        page.locator("input[type=file]").set_input_files(str(export))
        page.get_by_text("the file holds 2 campaigns").wait_for(timeout=60_000)
        # the last answer's elements go when the rerun ends (stale ones stay until then)
        page.get_by_role("heading", name="Most similar campaigns").wait_for(
            state="detached", timeout=30_000)
    assert outside == []


def test_map_draws_campaigns_and_clusters(app, tmp_path):
    url, home = app
    outside: list[str] = []
    with browser_page(outside) as page:
        page.goto(f"{url}/map")
        page.get_by_role("heading", name="Clusters of campaigns").wait_for(timeout=120_000)
        chart = page.locator("[data-testid='stPlotlyChart']")
        chart.locator(".scatterlayer, .gl-container").first.wait_for(timeout=30_000)
        cells = grid_cells(page)
        page.screenshot(path=str(tmp_path / "map.png"), full_page=True)
        assert page.locator("[data-testid='stException']").count() == 0
        assert chart.count() == 1
    assert outside == []
    # The clusters table as core computes it, biggest first: each row in view starts with
    # the cluster's name, size and top topics (the grid draws only the cells in view).
    clusters = ok_json(cli("map", "--clusters", home=home))
    seen = [c for c in clusters if c["name"] in cells]
    assert len(seen) >= min(len(clusters), 5) and seen == clusters[:len(seen)]
    for cluster in seen:
        at = cells.index(cluster["name"])
        assert cells[at + 1:at + 3] == [str(cluster["campaigns"]), cluster["top_topics"]]


def test_train_page_shows_the_k_of_the_dataset_picked(trained_home_template, tmp_path):
    """Picking another dataset on the Train page starts its settings from that dataset's
    recipe. AppTest saw the new K, but the browser kept showing the previous one (the page
    deleted the widget's key, which the browser is not told of): demo's K on a dataset of
    94 campaigns, judged by the page as the new K (no size warning) and sent back by the
    click on Start, which trained it. Its own server: the import must not move the others'."""
    import shutil

    from core.ops import train
    from tests.conftest import demo_subset

    home = tmp_path / "home"
    shutil.copytree(trained_home_template, home)
    ok_json(cli("ingest", str(demo_subset(tmp_path / "few.parquet", 40)), "--dataset", "few",
                home=home))
    mp = pytest.MonkeyPatch()
    mp.setenv("TOPICLAB_HOME", str(home))
    try:
        demo_k, few_k = train.saved_settings("demo").k, train.saved_settings("few").k
    finally:
        mp.undo()
    assert demo_k != few_k
    outside: list[str] = []
    with streamlit_server(home) as url, browser_page(outside) as page:
        page.goto(f"{url}/train")
        k = page.get_by_role("spinbutton", name="Topics (K)")
        fit = page.get_by_role("switch", name="Fit K to the data")
        k.wait_for(timeout=90_000)
        shown = [(k.input_value(), fit.is_checked())]
        for dataset, expected in [("few", few_k), ("demo", demo_k)]:
            page.locator("[data-testid='stSelectbox']").filter(
                has_text="Dataset version").locator("input").click()
            page.get_by_role("option", name=f"{dataset} v1").click()
            k.and_(page.locator(f"input[value='{expected}']")).wait_for(timeout=30_000)
            shown.append((k.input_value(), fit.is_checked()))
        page.screenshot(path=str(tmp_path / "train.png"), full_page=True)
    # the K a dataset no one chose a K for starts from is fitted to its data (the switch)
    assert shown == [(str(demo_k), False), (str(few_k), True), (str(demo_k), False)]
    assert outside == []

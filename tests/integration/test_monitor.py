"""The monitor in a real browser (Debian's chromium, headless, driven by Playwright) against
real agents: a submitted job is listed and its progress moves, the pause button pauses it, the
log viewer shows what a command printed, and a user is not offered what its role may not do.
Screenshots go to ``test-artifacts/`` (git-ignored)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright

from puli_mesh.keys import KeyPair
from puliclient import Graph
from puliclient.status import NodeStatus

from .conftest import wait_for
from .test_cli_operating import cli_json
from .test_security import client, submit_as
from .test_web_api import WebMesh, admin_farm
from .test_web_api import web as web  # the fixture, by its name (a redundant alias: a re-export)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
WAIT_MS = 30_000
CHART_SAMPLES = """async () => {
  const { drawCharts } = await import("/monitor/static/charts.js");
  const sample = (end, done) => ({ end, done, failed: 1, ready_by_pool: { default: 4, gpu: 2 },
                                   utilisation: 0.5, licences: { nuke: [1, 4] } });
  drawCharts(document.getElementById("charts"), [sample(1000, 3), sample(1060, 5)]);
}"""


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[BrowserContext]:
    """A fresh headless chromium (its own user-data-dir) for one test."""
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 1366, "height": 768})
        try:
            yield context
        finally:
            context.close()


def logged_in(browser: BrowserContext, web: WebMesh, who: str) -> Page:
    """A page of the follower's monitor, logged in as ``who`` through the login form (after
    logging out whoever this browser was logged in as)."""
    page = browser.new_page()
    page.goto(web.url(web.follower()) + "/logout")
    expect(page).to_have_url(re.compile(r"/login$"), timeout=WAIT_MS)
    page.fill("input[name=token]", web.token(who))
    page.click("button")
    expect(page.locator("#me")).to_contain_text(who, timeout=WAIT_MS)
    return page


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"monitor-{name}.png"), full_page=True)


def submit_frames(web: WebMesh, key: KeyPair, name: str, frames: int, cmd: str) -> int:
    graph = Graph(name)
    for frame in range(frames):
        graph.addNewTask(f"{name}_{frame}", arguments={"cmd": cmd.format(frame=frame)})
    reply = client(web.mesh, key).request("SUBMIT", graph=graph.prepareGraphRepresentation())
    return int(reply["graph_id"])


def row(page: Page, job_id: int) -> object:
    return page.locator(f"#jobs tr[data-job='{job_id}']")


def test_the_jobs_page_lists_a_job_its_progress_moves_and_the_log_shows_its_output(
        web: WebMesh, browser: BrowserContext, tmp_path: Path) -> None:
    anonymous = browser.new_page()
    anonymous.goto(web.url(web.follower()) + "/")
    expect(anonymous).to_have_url(re.compile(r"/login$"), timeout=WAIT_MS)  # no token: sent to log in
    page = logged_in(browser, web, "alice")
    # Each frame ends when the test opens its gate (a file): the page is seen at 0/3, then 1/3,
    # then 3/3 whatever the machine's speed (timed frames could all end between two polls).
    job = submit_frames(web, web.people["alice"], "lighting", 3,
                        f"echo frame-{{frame}}-rendered; until [ -e {tmp_path}/gate{{frame}} ]; do sleep 0.05; done")
    listed = page.locator(f"#jobs tr[data-job='{job}']")
    expect(listed).to_be_visible(timeout=WAIT_MS)
    expect(listed.locator(".progress")).to_have_text(re.compile(r"^\s*0/3$"), timeout=WAIT_MS)
    shot(page, "jobs-running")
    (tmp_path / "gate0").touch()
    expect(listed.locator(".progress")).to_have_text(re.compile(r"^\s*1/3$"), timeout=WAIT_MS)
    (tmp_path / "gate1").touch()
    (tmp_path / "gate2").touch()
    expect(listed.locator(".progress")).to_have_text("3/3", timeout=WAIT_MS)
    expect(listed.locator(".status")).to_have_text(NodeStatus.DONE.name, timeout=WAIT_MS)

    listed.locator("td.name a").click()
    expect(page.locator("#job-tree")).to_contain_text("lighting_0", timeout=WAIT_MS)
    page.locator("#job-tree button[data-log]").first.click()
    expect(page.locator("#log")).to_contain_text("frame-0-rendered", timeout=WAIT_MS)
    expect(page.locator("#log-state")).to_have_text("(ended)", timeout=WAIT_MS)
    shot(page, "log-viewer")


def test_the_pause_button_pauses_a_job_and_a_user_sees_no_cancel_on_anothers_job(
        web: WebMesh, browser: BrowserContext) -> None:
    mine = submit_as(web.mesh, web.people["alice"], "mine", cmd="sleep 60")
    theirs = submit_as(web.mesh, web.people["bob"], "theirs", cmd="sleep 60")
    page = logged_in(browser, web, "alice")
    own_row, their_row = page.locator(f"#jobs tr[data-job='{mine}']"), page.locator(f"#jobs tr[data-job='{theirs}']")
    expect(their_row).to_be_visible(timeout=WAIT_MS)
    expect(own_row.locator("button[data-action=cancel]")).to_have_count(1)
    expect(their_row.locator("button")).to_have_count(0)  # no cancel, no pause: nothing alice may do there
    shot(page, "user-view")

    own_row.locator("button[data-action=pause]").click()
    def paused_says_the_cli() -> bool:  # as a wrangler checks: `puli-mesh jobs`, a separate process
        return any(j["id"] == mine and j["status_name"] == NodeStatus.PAUSED.name
                   for j in cli_json(web.mesh, "jobs", "--user", "alice"))

    wait_for(paused_says_the_cli, 20, "`puli-mesh jobs` to show alice's job paused from the monitor")
    expect(own_row.locator(".status")).to_have_text(NodeStatus.PAUSED.name, timeout=WAIT_MS)

    page.click("#tabs button[data-view=nodes]")  # a user sees the nodes, and no pause/drain/resume
    expect(page.locator("#nodes tr[data-node]")).to_have_count(2, timeout=WAIT_MS)
    expect(page.locator("#nodes button")).to_have_count(0)
    for name in ("web1", "web2"):  # each node's load average, as its worker reports it
        expect(page.locator(f"#nodes tr[data-node={name}] td.load")).to_have_text(re.compile(r"^\d+\.\d\d$"))

    admin = logged_in(browser, web, "admin")  # an operator or admin: every job's actions, the nodes'
    expect(admin.locator(f"#jobs tr[data-job='{theirs}'] button[data-action=cancel]")).to_have_count(1,
                                                                                                     timeout=WAIT_MS)
    admin.click("#tabs button[data-view=nodes]")
    expect(admin.locator("#nodes tr[data-node] button[data-action=drain]")).to_have_count(2, timeout=WAIT_MS)
    shot(admin, "admin-nodes")
    admin_farm(web).set_licence("nuke", 4)
    admin.click("#tabs button[data-view=licences]")
    expect(admin.locator("#licences tr[data-licence=nuke]")).to_contain_text("0/4", timeout=WAIT_MS)
    admin.click("#tabs button[data-view=charts]")
    expect(admin.locator("#charts")).not_to_be_empty(timeout=WAIT_MS)  # a sample a minute: maybe none yet
    admin.evaluate(CHART_SAMPLES)  # the charts drawn by this browser from two samples of Farm.history's shape
    expect(admin.locator("#charts figure")).to_have_count(4)
    expect(admin.locator("#charts figure svg polyline")).to_have_count(2 + 2 + 1 + 1)
    expect(admin.locator("#charts")).to_contain_text("gpu")
    shot(admin, "admin-charts")
    admin_farm(web).cancel(mine)
    admin_farm(web).cancel(theirs)

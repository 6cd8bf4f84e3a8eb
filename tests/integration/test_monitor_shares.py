"""The monitor's Shares tab in a real browser (Debian's chromium, headless, driven by Playwright)
against real agents: offered only once a pool has a share tree, it shows each account's use
against its guarantee and cap, its waiting work, its pool's preemption and the quotas across
pools, and the figures follow the jobs of two projects as their frames
end (gated: the test ends each one). Screenshots go to ``test-artifacts/`` (git-ignored)."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import BrowserContext, Page, expect

from puliclient import Graph

from .test_monitor import WAIT_MS, logged_in, shot
from .test_monitor import browser as browser  # the fixture, by its name (a redundant alias: a re-export)
from .test_security import client
from .test_web_api import WebMesh, admin_farm
from .test_web_api import web as web  # the fixture, by its name


def submit_project(web: WebMesh, project: str, frames: int, gates: Path) -> int:
    """A job of ``project`` (its ``prod`` tag) by alice whose frame N ends when ``gates/PROJECT-N`` exists."""
    graph = Graph(project, tags={"prod": project})
    for frame in range(frames):
        graph.addNewTask(f"{project}_{frame}", arguments={
            "cmd": f"until [ -e {gates}/{project}-{frame} ] || [ -e {gates}/ALL ]; do sleep 0.05; done"})
    reply = client(web.mesh, web.people["alice"]).request("SUBMIT", graph=graph.prepareGraphRepresentation())
    return int(reply["graph_id"])


def figures(page: Page, account: str, use: str, ready: str, min_: str, max_: str, state: str) -> None:
    row = page.locator(f"#shares tr[data-share='{account}']")
    for cell, text in (("use", use), ("ready", ready), ("min", min_), ("max", max_), ("state", state)):
        expect(row.locator(f"td.{cell}")).to_have_text(text, timeout=WAIT_MS)


def test_the_shares_tab_shows_each_accounts_use_against_its_guarantee_and_cap(
        web: WebMesh, browser: BrowserContext, tmp_path: Path) -> None:
    gates = tmp_path / "gates"
    gates.mkdir()
    page = logged_in(browser, web, "alice")
    tab = page.locator("#tabs button[data-view=shares]")
    expect(page.locator("#jobs")).to_be_visible(timeout=WAIT_MS)
    expect(tab).to_be_hidden()  # no share tree: nothing to show

    farm = admin_farm(web)
    farm.set_share("default", "film", min=4, weight=2)
    farm.set_share("default", "rnd", max=1)
    farm.set_share_preempt("default", 600)  # shown; never reached in this test's time
    farm.set_share_quota("project", "rnd", 1)
    try:
        expect(tab).to_be_visible(timeout=WAIT_MS)  # the jobs view's next poll: its figures say so
        tab.click()
        # below its guarantee, but no work of it waits: nothing is owed (as `puli-mesh shares list` says)
        figures(page, "default/film", "0", "0", "4", "-", "")
        figures(page, "default/rnd", "0", "0", "0", "1", "")
        expect(page.locator("#shares tr[data-share='default/film'] td.preempt")).to_have_text("after 600 s")
        quota = page.locator("#quotas tr[data-quota='project/rnd']")
        expect(quota.locator("td.max")).to_have_text("1", timeout=WAIT_MS)
        expect(quota.locator("td.state")).to_have_text("")

        # 4 slots on the two agents: rnd is capped at 1, film (4 frames) takes the other 3: one waits.
        submit_project(web, "rnd", 3, gates)
        submit_project(web, "film", 4, gates)
        figures(page, "default/film", "3", "1", "4", "-", "below guarantee")
        figures(page, "default/rnd", "1", "2", "0", "1", "at cap")
        # film's bar has a mark at its guarantee, rnd's at its cap (the pool's scale: 4 slots)
        film, rnd = (page.locator(f"#shares tr[data-share='default/{name}'] .bar") for name in ("film", "rnd"))
        expect(film.locator(".guarantee")).to_have_attribute("style", "left:100.0%")
        expect(film.locator(".cap")).to_have_count(0)
        expect(rnd.locator(".cap")).to_have_attribute("style", "left:25.0%")
        expect(rnd.locator(".guarantee")).to_have_count(0)
        expect(quota.locator("td.use")).to_have_text("1", timeout=WAIT_MS)
        expect(quota.locator("td.state")).to_have_text("at quota")
        shot(page, "shares")

        for frame in range(4):
            (gates / f"film-{frame}").touch()
        figures(page, "default/film", "0", "0", "4", "-", "")  # done: nothing holds a slot, nothing waits
        figures(page, "default/rnd", "1", "2", "0", "1", "at cap")  # still one frame at a time
        for frame in range(3):
            (gates / f"rnd-{frame}").touch()
        figures(page, "default/rnd", "0", "0", "0", "1", "")
    finally:
        (gates / "ALL").touch()

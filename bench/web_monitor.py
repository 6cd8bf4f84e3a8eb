"""The monitor's figures with 10,000 jobs (run by hand; prints one JSON line at the end).

    python bench/web_monitor.py [--jobs 10000] [--monitors 20] [--seconds 20] [--repeat 3]

A local farm of two secured agents serving HTTP (``LocalFarm``, real ZooKeeper, real agents)
gets ``--jobs`` one-command jobs (``sleep``: two run, the rest wait). Then:

* ``page_load_ms``: a headless chromium (Debian's, driven by Playwright, as the browser tests)
  opens the follower's monitor, logged in, until the jobs table shows its first row; the median
  of ``--repeat`` loads (``page_load_ms_max`` the longest);
* ``update_latency_ms``: a job of the first page paused (then resumed) through ``Farm`` until
  the open page shows its new status; the median of ``--repeat`` changes (the page polls every
  2 s, so about 1 s is expected, up to 2 s plus a request; each edit at a random phase of it);
* ``leader_cpu_idle_pct`` and ``leader_cpu_monitors_pct``: the leader process's CPU (user +
  system, percent of one core) over ``--seconds`` with no monitor open, then with ``--monitors``
  pollers replaying exactly the requests an open jobs page makes every 2 s (one page of 50 jobs
  and the figures) against the follower's HTTP server; ``web_agent_cpu_*_pct`` the same for the
  follower that serves them (its web server and its half of the round trips).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from puli_mesh.keys import load_client_key  # noqa: E402
from puli_mesh.local_farm import AgentProcess, LocalFarm  # noqa: E402
from puli_mesh.web.auth import token_for  # noqa: E402
from puli_mesh.zkserver import free_port  # noqa: E402
from puliclient import Graph  # noqa: E402
from puliclient.farm import Farm  # noqa: E402
from puliclient.status import NodeStatus  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run"]
POLL_S = 2.0
PAGE_REQUESTS = ("/api/jobs?limit=50&reverse=true", "/monitor-api/figures")
"""What an open jobs page asks every ``POLL_S`` (``static/monitor.js``: refreshJobs)."""
SHOWS = """([job, status]) =>
  document.querySelector(`#jobs tr[data-job='${job}'] .status`)?.textContent === status"""
"""Checked in the page every 20 ms (Playwright's expect backs off to 1 s between checks)."""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_percent(pids: list[int], seconds: float) -> list[float]:
    before = [cpu_seconds(pid) for pid in pids]
    time.sleep(seconds)  # a measuring window, not a synchronisation
    return [round((cpu_seconds(pid) - b) / seconds * 100, 1) for pid, b in zip(pids, before, strict=True)]


def submit_jobs(farm: LocalFarm, count: int) -> None:
    client = farm.client(timeout=30.0)
    for index in range(count):
        graph = Graph(f"bench{index:05d}")
        graph.addNewTask(f"bench{index:05d}", arguments={"cmd": "sleep 3600"})
        client.request("SUBMIT", graph=graph.prepareGraphRepresentation())
        if index % 1000 == 999:
            print(f"{index + 1} jobs submitted", file=sys.stderr)


def pollers(url: str, token: str, count: int, stop: threading.Event) -> list[threading.Thread]:
    def poll() -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
            while not stop.is_set():
                for path in PAGE_REQUESTS:
                    http.get(path).raise_for_status()
                stop.wait(POLL_S)

    threads = [threading.Thread(target=poll, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--monitors", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    farm = LocalFarm(agents=2, slots=1, http=True, base_port=free_port())
    farm.start()
    try:
        status = farm.wait_ready(60)
        leader: AgentProcess = next(p for p in farm.processes if p.name == status["leader"])
        web: AgentProcess = next(p for p in farm.processes if p.name != status["leader"])
        assert farm.admin_key is not None and leader.process is not None and web.process is not None
        token = token_for(load_client_key(farm.admin_key), time.time(), hours=2)[0]
        started = time.perf_counter()
        submit_jobs(farm, args.jobs)
        submit_s = time.perf_counter() - started
        mesh = Farm(client=farm.client(timeout=30.0))
        url = f"http://127.0.0.1:{web.http_port}"

        loads: list[float] = []
        latencies: list[float] = []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1366, "height": 768})
            page.goto(url + "/login")
            page.fill("input[name=token]", token)
            page.click("button")
            for _ in range(args.repeat):
                started = time.perf_counter()
                page.goto(url + "/")
                page.wait_for_selector("#jobs tbody tr", timeout=60_000)
                loads.append((time.perf_counter() - started) * 1000)
            target = mesh.jobs(reverse=True, limit=1)[0]["id"]  # on the first page (newest first), waiting
            for index in range(args.repeat):
                pause = index % 2 == 0
                # At a random phase of the page's polling: right after the page showed the last
                # change, the next edit would always wait a whole period.
                time.sleep(random.uniform(0, POLL_S))
                started = time.perf_counter()
                mesh.pause(target) if pause else mesh.resume(target)
                shown = NodeStatus.PAUSED.name if pause else NodeStatus.READY.name
                page.wait_for_function(SHOWS, arg=[target, shown], polling=20, timeout=30_000)
                latencies.append((time.perf_counter() - started) * 1000)
            browser.close()

        pids = [leader.process.pid, web.process.pid]
        idle = cpu_percent(pids, args.seconds)
        stop = threading.Event()
        threads = pollers(url, token, args.monitors, stop)
        time.sleep(POLL_S)  # let every poller make its first round before measuring
        busy = cpu_percent(pids, args.seconds)
        stop.set()
        for thread in threads:
            thread.join(30)
        print(json.dumps({
            "jobs": args.jobs, "submit_s": round(submit_s, 1),
            "page_load_ms": round(statistics.median(loads)), "page_load_ms_max": round(max(loads)),
            "update_latency_ms": round(statistics.median(latencies)),
            "update_latency_ms_max": round(max(latencies)),
            "monitors": args.monitors, "seconds": args.seconds,
            "leader_cpu_idle_pct": idle[0], "leader_cpu_monitors_pct": busy[0],
            "web_agent_cpu_idle_pct": idle[1], "web_agent_cpu_monitors_pct": busy[1],
        }))
    finally:
        farm.stop()


if __name__ == "__main__":
    main()

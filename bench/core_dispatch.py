"""Benchmark of the pure scheduling core (run by hand).

    python bench/core_dispatch.py [--quick] [--rounds N]

Measures, with progress on stderr and ONE JSON line on stdout:

* ``decisions_per_s_100k``: Assign decisions per second while 1,000 render nodes
  (4 slots each) drain 100,000 READY commands in 1,000 tasks, with licences
  (a quarter of the tasks need ``lic_a``, a tenth ``lic_a&lic_b``) and maxRN
  (task caps on a fifth of the tasks, a group cap on one graph in ten, a graph
  cap on another one in ten) in play. The loop is the real protocol: nodes
  ask for work with their free slots, every assigned command starts and ends
  DONE, its node asks again. The time of the whole loop is counted.
* ``decisions_per_s_100k_studio``: the same drain with issue 17's policies in the workload:
  the pool has a share tree (``--projects`` projects, each with a guarantee, every other one
  capped, weights 1-3, and an account for each of ``--users`` users in the first project),
  each job belongs to a project (its ``prod`` tag) and a user, and every fifth task depends
  frame by frame (``byFrame``) on the task before it, so its commands become READY one by one
  as the frames they wait for end. ``studio_vs_plain`` is its ratio to the first figure,
  measured side by side in the same process. With ``--rounds N`` the two drains alternate N
  times and each figure is the median of its N runs (``studio_vs_plain``: the median of the N
  pairs' ratios): on a machine whose speed wanders, one pair can be off by a tenth.
* ``decisions_per_s_1m``: the same as the first with 1,000,000 commands (same task count).
* ``submit_s_100k``: ``submit_graph`` of one graph of 100,000 commands.
* ``bytes_per_command``: memory the core retains per queued command
  (tracemalloc over submitting 1,000,000 commands, representations excluded);
  ``rss_bytes_per_command``: the growth of the process's resident memory over
  the same submissions (what the machine actually gives, allocator slack included).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
import tracemalloc
from collections import deque
from dataclasses import dataclass
from typing import Any

import psutil

from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.coordinator.decisions import Assign
from puli_mesh.coordinator.render_nodes import RenderNodeInfo
from puli_mesh.coordinator.shares import ShareSpec
from puliclient.status import CommandStatus, NodeStatus

DONE = int(CommandStatus.DONE)
DONE_NODE = int(NodeStatus.DONE)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def make_graph(name: str, n_tasks: int, per_task: int, *, first_task: int = 0,
               graph_max_rn: int = -1, group_max_rn: int = 0, by_frame_every: int = 0,
               project: str = "", user: str = "bench") -> dict[str, Any]:
    nodes: list[dict[str, Any]] = [{
        "type": "TaskGroup", "name": name, "arguments": {"scene": f"/p/{name}.ma"},
        "environment": {"PROD": "bench"}, "dependencies": [], "maxRN": group_max_rn, "priority": 0,
        "dispatchKey": 0, "requirements": {}, "tags": {}, "timer": None,
        "tasks": list(range(1, n_tasks + 1)),
        "strategy": "octopus.dispatcher.strategies.FifoStrategy"}]
    for i in range(n_tasks):
        k = first_task + i
        lic = "lic_a&lic_b" if k % 10 == 0 else ("lic_a" if k % 4 == 0 else "")
        tname = f"{name}_t{i}"
        # the task before it is at index i (the group is at 0): comp frame N waits for render frame N
        by_frame = by_frame_every and i % by_frame_every == by_frame_every - 1
        nodes.append({
            "type": "Task", "name": tname, "runner": "puliclient.jobs.DefaultCommandRunner",
            "arguments": {"cmd": "render"}, "environment": {},
            "dependencies": [[i, [DONE_NODE], {"byFrame": True}]] if by_frame else [],
            "maxRN": 20 if k % 5 == 0 else 0, "priority": 0, "dispatchKey": k % 3,
            "validationExpression": "VALID", "requirements": {}, "minNbCores": 1,
            "maxNbCores": 1, "ramUse": 0, "lic": lic, "licence": lic, "tags": {},
            "timer": None, "maxAttempt": 1,
            "commands": [{"description": f"{tname}_{j + 1}_{j + 1}", "type": "command",
                          "task": tname, "arguments": {"start": j + 1, "end": j + 1}}
                         for j in range(per_task)]})
    if project:
        nodes[0]["tags"] = {"prod": project}
    return {"name": name, "meta": {}, "root": 0, "tasks": nodes, "user": user,
            "poolName": "default", "maxRN": graph_max_rn}


@dataclass(frozen=True, slots=True)
class Studio:
    """Issue 17's policies in the workload: share accounts and frame-by-frame dependencies."""

    projects: int
    users: int
    by_frame_every: int = 5

    def accounts(self, slots: int) -> dict[tuple[str, ...], ShareSpec]:
        """Half the slots guaranteed among the projects, every other project capped at twice
        its guarantee, weights 1-3; the first project's users each guaranteed a share of it."""
        each = slots // (2 * self.projects)
        specs = {(f"p{k}",): ShareSpec(min=each, max=2 * each if k % 2 else 0, weight=1.0 + k % 3)
                 for k in range(self.projects)}
        for u in range(self.users):
            specs[("p0", f"u{u}")] = ShareSpec(min=each // (2 * self.users), weight=1.0)
        return specs


def build_core(n_nodes: int, n_graphs: int, tasks_per_graph: int, per_task: int,
               studio: Studio | None = None) -> SchedulingCore:
    core = SchedulingCore()
    core.set_licence("lic_a", 600, 0)
    core.set_licence("lic_b", 150, 0)
    for i in range(n_nodes):
        core.node_joined(RenderNodeInfo(f"rn{i:04d}", ["default"], 4, 16000, 16000, 4,
                                        {"softs": []}, 1.0 + (i % 7) / 10), 0)
    if studio is not None:
        core.set_shares("default", studio.accounts(4 * n_nodes), 0)
    for g in range(n_graphs):
        policy: dict[str, Any] = {} if studio is None else {
            "by_frame_every": studio.by_frame_every, "project": f"p{g % studio.projects}",
            "user": f"u{g // studio.projects % (studio.users + 1)}"}  # u{users}: no account of its own
        rep = make_graph(f"job{g}", tasks_per_graph, per_task, first_task=g * tasks_per_graph,
                         graph_max_rn=400 if g % 10 == 0 else -1, group_max_rn=300 if g % 10 == 5 else 0,
                         **policy)
        core.submit_graph(rep, 0)
    return core


def drain(core: SchedulingCore, n_nodes: int, expected: int) -> tuple[int, float]:
    queue: deque[Assign] = deque()
    now = 1.0
    t0 = time.perf_counter()
    n = 0
    for i in range(n_nodes):
        for d in core.request_work(f"rn{i:04d}", 4, now):
            queue.append(d)  # type: ignore[arg-type]
    n += len(queue)
    next_report = 100_000
    while queue:
        a = queue.popleft()
        now += 0.001
        core.command_started(a.command_id, a.attempt, now)
        out = core.command_update(a.command_id, a.attempt, now, status=DONE)
        out += core.request_work(a.node, 1, now)
        for d in out:
            if isinstance(d, Assign):
                queue.append(d)
                n += 1
        if n >= next_report:
            log(f"  {n:,} assigned, {n / (time.perf_counter() - t0):,.0f}/s")
            next_report += 100_000
    elapsed = time.perf_counter() - t0
    if n != expected:
        raise SystemExit(f"drained {n} commands, expected {expected}")
    return n, elapsed


def bench_drain(total: int, studio: Studio | None = None) -> float:
    per_task = total // 1000
    log(f"building 1,000 render nodes and {total:,} commands in 1,000 tasks"
        f"{'' if studio is None else f' with {studio}'}...")
    t = time.perf_counter()
    core = build_core(1000, 100, 10, per_task, studio)
    log(f"  built in {time.perf_counter() - t:.1f}s; draining")
    n, elapsed = drain(core, 1000, total)
    rate = n / elapsed
    log(f"  {n:,} decisions in {elapsed:.2f}s: {rate:,.0f} decisions/s")
    return rate


def bench_submit() -> float:
    core = SchedulingCore()
    core.set_licence("lic_a", 600, 0)
    core.set_licence("lic_b", 150, 0)
    rep = make_graph("big", 100, 1000)
    t = time.perf_counter()
    core.submit_graph(rep, 0)
    elapsed = time.perf_counter() - t
    log(f"submit of one 100,000-command graph: {elapsed:.2f}s")
    return elapsed


def bench_rss(total: int) -> float:
    """Resident memory grown per command over submitting ``total`` commands (no tracing)."""
    core = SchedulingCore()
    core.set_licence("lic_a", 600, 0)
    core.set_licence("lic_b", 150, 0)
    me = psutil.Process()
    per_graph = 100_000
    gc.collect()
    before = me.memory_info().rss
    for g in range(total // per_graph):
        rep = make_graph(f"r{g}", 100, per_graph // 100, first_task=g * 100)
        core.submit_graph(rep, 0)
        del rep
        gc.collect()
    grown = me.memory_info().rss - before
    log(f"  resident memory: {grown / total:.0f} bytes/command over {total:,} commands")
    assert core.figures() is not None  # keep the core alive until measured
    return grown / total


def bench_memory(total: int) -> float:
    core = SchedulingCore()
    core.set_licence("lic_a", 600, 0)
    core.set_licence("lic_b", 150, 0)
    tracemalloc.start()
    retained = 0
    per_graph = 100_000
    for g in range(total // per_graph):
        rep = make_graph(f"m{g}", 100, per_graph // 100, first_task=g * 100)
        before = tracemalloc.get_traced_memory()[0]
        core.submit_graph(rep, 0)
        retained += tracemalloc.get_traced_memory()[0] - before
        del rep
        log(f"  memory: {(g + 1) * per_graph:,} commands, {retained / ((g + 1) * per_graph):.0f}"
            f" bytes/command")
    tracemalloc.stop()
    return retained / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="skip the 1M-command runs")
    parser.add_argument("--projects", type=int, default=4, help="projects in the studio workload's share tree")
    parser.add_argument("--users", type=int, default=3, help="user accounts in its first project")
    parser.add_argument("--rounds", type=int, default=1, help="plain and studio drains, alternated (medians)")
    args = parser.parse_args()
    result: dict[str, Any] = {}
    plain, studio = [], []
    for _ in range(args.rounds):  # alternated, so both see the machine's same moods
        plain.append(bench_drain(100_000))
        studio.append(bench_drain(100_000, Studio(args.projects, args.users)))
    result["decisions_per_s_100k"] = round(statistics.median(plain))
    result["decisions_per_s_100k_studio"] = round(statistics.median(studio))
    result["studio_vs_plain"] = round(statistics.median(s / p for p, s in zip(plain, studio, strict=True)), 3)
    result["submit_s_100k"] = round(bench_submit(), 3)
    if not args.quick:
        result["decisions_per_s_1m"] = round(bench_drain(1_000_000))
        result["per_decision_cost_ratio_1m_vs_100k"] = round(
            result["decisions_per_s_100k"] / result["decisions_per_s_1m"], 2)
        result["bytes_per_command"] = round(bench_memory(1_000_000))
        result["rss_bytes_per_command"] = round(bench_rss(1_000_000))
    else:
        result["bytes_per_command"] = round(bench_memory(200_000))
        result["rss_bytes_per_command"] = round(bench_rss(200_000))
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""What the queries of ``puli-mesh top`` cost the leader's loop at studio scale, in memory
(run by hand; prints one JSON line at the end).

    python bench/query_cost.py [--nodes 2000] [--frames 20000] [--done 6000] [--repeat 50]

A :class:`SchedulingCore` holds ``--nodes`` render nodes that said HELLO (1 slot each, with
ZooKeeper member data and a live link each, as the leader knows them) and one job of
``--frames`` commands, ``--done`` of them DONE and one per node RUNNING (a farm in steady
load, its running commands in the middle of the id range). No sockets, no ZooKeeper: every
request goes through ``ClientRequests.handle`` (the leader's own code: the answer built and
msgpack-encoded, the status facts read from a stub shell that builds one ``LinkFacts`` per
link as the service does) and comes back to a real :class:`puliclient.farm.Farm`, so
``puli_mesh.cli.top.snapshot`` asks exactly what ``top`` asks. Only the handling is timed: the
CURVE encryption of a reply (in ZeroMQ's I/O thread, proportional to its bytes) is left out,
so the bytes are reported beside the times.

Figures (microseconds of the loop per request, the median of ``--repeat`` rounds):
``us_<query>`` for the full ``status``, ``graphs`` (every page of ``Farm.jobs``), ``commands``
(the running ones, ``limit`` 50), ``licences``; ``top_snapshot_us``: one whole ``top``
snapshot (every request it makes), ``top_snapshot_mean_us`` and ``_max_us`` the mean and the
longest of 50 viewers' snapshots over 4 s of the leader's clock (a view the leader keeps a
while is rebuilt in some of them); ``top_requests``: how many; ``top_bytes``: the bytes of
their replies; ``bytes_<query>``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from puli_mesh.cli.top import RUNNING_NAMES, snapshot  # noqa: E402
from puli_mesh.coordinator.client_queries import JournalFigures, LinkFacts, StatusFacts  # noqa: E402
from puli_mesh.coordinator.core import SchedulingCore  # noqa: E402
from puli_mesh.coordinator.decisions import Assign  # noqa: E402
from puli_mesh.coordinator.records import Record, Result  # noqa: E402
from puli_mesh.coordinator.render_nodes import RenderNodeInfo  # noqa: E402
from puli_mesh.coordinator.requests import ClientRequests  # noqa: E402
from puli_mesh.coordinator.stats import FarmStats  # noqa: E402
from puli_mesh.errors import MeshRequestError  # noqa: E402
from puli_mesh.protocol import ErrorMessage, QueryMessage, ResultMessage, decode  # noqa: E402
from puliclient import Graph  # noqa: E402
from puliclient.farm import Farm  # noqa: E402
from puliclient.status import CommandStatus  # noqa: E402

NOW = 1_000_000.0
VIEWERS = 50


@dataclass
class Link:
    """What the service keeps of a worker's link, as much as ``status_facts`` reads."""

    endpoint: str
    resources: dict[str, Any]
    heard: float = NOW

    def alive(self, now: float) -> bool:
        return now - self.heard < 15.0


@dataclass
class Shell:
    """A ``RequestHost``: the core, and status facts built per request as the service does."""

    core: SchedulingCore
    links: dict[str, Link]
    stats: FarmStats = field(default_factory=FarmStats)

    def run(self, record: Record[Result]) -> Result:
        raise NotImplementedError("queries only")

    def status_facts(self) -> StatusFacts:
        links = {name: LinkFacts(link.endpoint, list((link.resources or {}).get("pools", [])), link.alive(NOW))
                 for name, link in self.links.items()}
        return StatusFacts("bench", "rn00000", 1, 0, JournalFigures(1, 1, 0, 0, 0, None), links, {}, True)


class Wire:
    """A ``MeshClient`` that hands each request to the leader's ``ClientRequests`` and times it."""

    def __init__(self, requests: ClientRequests) -> None:
        self.requests = requests
        self.spent: dict[str, float] = defaultdict(float)
        self.bytes: dict[str, int] = defaultdict(int)
        self.count: dict[str, int] = defaultdict(int)
        self.now = NOW

    def request(self, kind: str, **fields: Any) -> Any:
        assert kind == "QUERY"
        msg = QueryMessage("r", fields["what"], fields["args"])
        t0 = time.perf_counter()
        reply = self.requests.handle(msg, self.now)
        self.spent[msg.what] += time.perf_counter() - t0
        self.bytes[msg.what] += len(reply)
        self.count[msg.what] += 1
        answer = decode(reply)
        if isinstance(answer, ErrorMessage):
            raise MeshRequestError(answer.message, answer.code)
        assert isinstance(answer, ResultMessage)
        return answer.data

    def reset(self) -> None:
        self.spent.clear()
        self.bytes.clear()
        self.count.clear()


def farm_in_steady_load(nodes: int, frames: int, done: int) -> Shell:
    core = SchedulingCore()
    links: dict[str, Link] = {}
    for i in range(nodes):
        name = f"rn{i:05d}"
        core.node_joined(RenderNodeInfo(name, cores=8, ram_mb=32768, free_ram_mb=30000, slots=1,
                                        characteristics={"os": "linux", "softs": []}), NOW)
        links[name] = Link("tcp://10.0.0.1:8000", {"pools": ["default"]})
    graph = Graph("burst")
    graph.addNewTask("frames", {"cmd": "sleep 10", "start": 1, "end": frames})
    core.submit_graph(graph.prepareGraphRepresentation(), NOW)
    finished = 0
    while True:
        assigns = [d for name in links for d in core.request_work(name, 1, NOW) if isinstance(d, Assign)]
        for a in assigns:
            core.command_started(a.command_id, a.attempt, NOW)
        if finished >= done or not assigns:
            return Shell(core, links)
        for a in assigns:
            core.command_update(a.command_id, a.attempt, NOW, status=CommandStatus.DONE)
        finished += len(assigns)


def members_of(shell: Shell) -> dict[str, dict[str, Any]]:
    """ZooKeeper's member data, as ``agent._member_data`` registers it."""
    return {name: {"endpoint": link.endpoint, "slots": 1, "pools": ["default"], "running": 1, "accepting": True,
                   "pid": 4242, "faults": 0, "cores": 8, "ram_mb": 32768, "free_ram_mb": 30000, "load": 1.5,
                   "cpu_percent": 97.0, "os": "Linux", "version": "0.14.0"}
            for name, link in shell.links.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=2_000)
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--done", type=int, default=6_000)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()

    t0 = time.perf_counter()
    shell = farm_in_steady_load(args.nodes, args.frames, args.done)
    requests = ClientRequests(shell, "rn00000")
    requests.members_data = members_of(shell)
    wire = Wire(requests)
    farm = Farm(client=wire)  # type: ignore[arg-type]
    figures = shell.core.figures()
    print(f"built in {time.perf_counter() - t0:.1f}s: {figures['nodes_online']} nodes, {figures['running']} "
          f"running, {figures['ready']} ready", file=sys.stderr)

    per_query: dict[str, list[float]] = defaultdict(list)
    sizes: dict[str, int] = {}
    asks = {
        "status": farm.status,
        "graphs": farm.jobs,
        "commands": lambda: farm.commands(status=RUNNING_NAMES, limit=50),
        "licences": farm.licences,
    }
    for what, ask in asks.items():
        for _ in range(args.repeat):
            wire.reset()
            ask()
            per_query[what].append(wire.spent[what] * 1e6)
            sizes[what] = wire.bytes[what]
    snapshots: list[float] = []
    for i in range(max(args.repeat, VIEWERS * 4)):  # 50 viewers a second, for 4 seconds at least
        wire.reset()
        wire.now = NOW + i / VIEWERS
        snapshot(farm)
        snapshots.append(sum(wire.spent.values()) * 1e6)
    result: dict[str, Any] = {"nodes": args.nodes, "frames": args.frames, "running": figures["running"]}
    for what, spent in per_query.items():
        result[f"us_{what}"] = round(statistics.median(spent), 1)
        result[f"bytes_{what}"] = sizes[what]
    result["top_snapshot_us"] = round(statistics.median(snapshots), 1)
    result["top_snapshot_mean_us"] = round(statistics.fmean(snapshots), 1)
    result["top_snapshot_max_us"] = round(max(snapshots), 1)
    result["top_requests"] = sum(wire.count.values())
    result["top_bytes"] = sum(wire.bytes.values())
    result["top_us_per_query"] = {what: round(s * 1e6, 1) for what, s in wire.spent.items()}
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""How long the heaviest requests hold the leader's loop, measured from outside (run by hand;
prints one JSON line at the end).

    python bench/heavy_requests.py [--quick] [--seconds 6] [--waiting 100000] [--pipeline 0]

A local farm (a private ZooKeeper, 2 agents of 1 slot; the first leads) runs short commands continuously, each
recording on which node it ran and when it started and ended. One phase after another, for
``--seconds`` each, a hostile-but-allowed client sends one kind of heavy request back to back
(each waiting for its answer) while a probe client sends a tiny ``QUERY figures`` every 10 ms:

* ``idle``: nothing heavy (the baseline); ``idle_after`` again at the end (the control);
* ``listing``: every command of a farm holding ``--waiting`` READY commands (they ask more RAM
  than any node has, so they wait), the whole tree of their graph, every graph;
* ``log_read``: a 64 MB command log read from the start and from the end, as much as allowed;
* ``submit``: the largest submit this bench tries, ``--submit-tasks`` x ``--submit-commands``
  commands (their commands wait too), ``--submit-repeats`` times; a refused one is counted as
  refused.

Per phase: the probe's round trip p50/p99/max (the max is the longest block of the leader's loop
by one request of that kind, as a client sees it), the dispatch gap p50/p99 (on one node, a
command's end to the next one's start: what a render node waits), the heavy requests answered
and their round trip. ``--pipeline 0`` (the default here) makes every dispatch go through the
leader: with the agents' default pipeline a node starts queued commands by itself, which hides
the leader's stalls from the dispatch gap (not from the probe).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import zmq  # noqa: E402

from puli_mesh.client import MeshClient, MeshRequestError, MeshUnreachableError  # noqa: E402
from puli_mesh.local_farm import agent_command  # noqa: E402
from puli_mesh.protocol import (  # noqa: E402
    ErrorMessage,
    LogsMessage,
    Message,
    QueryMessage,
    SubmitMessage,
    decode,
)
from puli_mesh.zkserver import ZooKeeperServer, free_port  # noqa: E402
from puliclient import Graph  # noqa: E402
from puliclient.status import NodeStatus  # noqa: E402

NEVER_FITS_MB = 1 << 40
STREAM_SLEEP_S = 0.02
PROBE_EVERY_S = 0.01
BIG_LOG_BYTES = 64 * 1024 * 1024


class Farm:
    def __init__(self, base: Path, pipeline: int) -> None:
        self.base = base
        self.zk = ZooKeeperServer(data_dir=base / "zookeeper", port=free_port())
        self.env = dict(os.environ, PULI_PIPELINE=str(pipeline))
        self.agents: dict[str, tuple[subprocess.Popen[bytes], int]] = {}

    def start(self, name: str) -> None:
        if self.zk.process is None:
            self.zk.start()
        port = free_port()
        cmd = agent_command(name, self.zk.hosts, "bench-heavy", port, self.base / name / "logs",
                            self.base / name / "agent.log", slots=1)
        self.agents[name] = (subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                              stderr=subprocess.DEVNULL, env=self.env), port)

    def wait_ready(self, count: int) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status = self.status()
            if status and len([n for n in status["nodes"] if n["state"] in ("idle", "busy")]) >= count:
                return
            time.sleep(0.1)
        raise TimeoutError("the farm did not come up")

    def client(self, name: str | None = None, timeout: float = 30.0) -> MeshClient:
        port = self.agents[name or next(iter(self.agents))][1]
        return MeshClient(node=f"127.0.0.1:{port}", timeout=timeout, tries=1)

    def status(self) -> dict[str, Any]:
        for name in self.agents:
            try:
                return dict(self.client(name, timeout=2.0).request("QUERY", what="status", args={}))
            except (MeshUnreachableError, MeshRequestError):
                continue
        return {}

    def leader_address(self) -> str:
        leader = self.status()["leader"]
        return f"127.0.0.1:{self.agents[leader][1]}"

    def wait_done(self, graph_id: int, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            tree = self.client().request("QUERY", what="graph", args={"id": graph_id, "children": True})
            if tree["status"] == int(NodeStatus.DONE):
                return dict(tree)
            time.sleep(0.1)
        raise TimeoutError(f"graph {graph_id} not DONE")

    def stop(self) -> None:
        for proc, _ in self.agents.values():
            if proc.poll() is None:
                proc.terminate()
        for proc, _ in self.agents.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.zk.stop()


def submit(farm: Farm, graph: Graph) -> int:
    return int(farm.client().request("SUBMIT", graph=graph.prepareGraphRepresentation())["graph_id"])


def waiting_graph(name: str, tasks: int, commands: int) -> Graph:
    graph = Graph(name)
    for t in range(tasks):
        task = graph.addNewTask(f"t{t}", {"cmd": "true"}, ramUse=NEVER_FITS_MB)
        task.commands = []
        for c in range(commands):
            task.addCommand(f"t{t}_{c}", {"cmd": "true"})
    return graph


def stream_graph(records: Path, commands: int) -> Graph:
    """Short commands, each appending ``node start_ns end_ns`` to ``records``."""
    graph = Graph("stream")
    line = (f's=$(date +%s%N); sleep {STREAM_SLEEP_S}; echo "$PULI_NODE_NAME $s $(date +%s%N)" >> {records}')
    task = graph.addNewTask("stream", {"cmd": line})
    task.commands = []
    for c in range(commands):
        task.addCommand(f"s{c}", {"cmd": line})
    return graph


def ask(sock: zmq.Socket, frame: bytes, timeout_s: float = 120.0) -> Message | None:
    sock.send(frame)
    if not sock.poll(int(timeout_s * 1000)):
        return None
    return decode(sock.recv())


def run_phase(address: str, heavy: list[bytes], seconds: float, most: int | None = None) -> dict[str, Any]:
    """``seconds`` of probing while ``heavy`` frames are sent round and round (none: idle), at
    most ``most`` of them (None: no bound)."""
    stop = threading.Event()
    heavy_rtts: list[float] = []
    refused: list[str] = []
    ctx = zmq.Context.instance()

    def hammer() -> None:
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(f"tcp://{address}")
        i = 0
        try:
            while not stop.is_set() and (most is None or i < most):
                t0 = time.perf_counter()
                reply = ask(sock, heavy[i % len(heavy)])
                heavy_rtts.append(time.perf_counter() - t0)
                if isinstance(reply, ErrorMessage):
                    refused.append(f"{reply.code}: {reply.message[:200]}")
                elif reply is None:
                    refused.append("no answer within 120 s")
                    break
                i += 1
        finally:
            sock.close(linger=0)

    probe = ctx.socket(zmq.DEALER)
    probe.setsockopt(zmq.LINGER, 0)
    probe.connect(f"tcp://{address}")
    rtts: list[float] = []
    thread = threading.Thread(target=hammer, daemon=True) if heavy else None
    start = time.time()
    if thread is not None:
        thread.start()
    try:
        deadline = time.monotonic() + seconds
        n = 0
        while time.monotonic() < deadline:
            n += 1
            t0 = time.perf_counter()
            if ask(probe, QueryMessage(f"p{n}", "figures", {}).encode()) is None:
                raise TimeoutError("the probe got no answer within 120 s")
            rtts.append(time.perf_counter() - t0)
            time.sleep(PROBE_EVERY_S)
    finally:
        stop.set()
        if thread is not None:
            thread.join(timeout=150)
        probe.close(linger=0)
    return {"start": start, "end": time.time(), "probe": rtts, "heavy": heavy_rtts, "refused": refused}


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def dispatch_gaps(records: Path) -> list[tuple[float, float]]:
    """``(when the next command started, the gap in s)`` for each node's consecutive commands."""
    by_node: dict[str, list[tuple[int, int]]] = {}
    for line in records.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3:
            by_node.setdefault(parts[0], []).append((int(parts[1]), int(parts[2])))
    gaps = []
    for runs in by_node.values():
        runs.sort()
        for (_, prev_end), (start, _) in zip(runs, runs[1:], strict=False):
            gaps.append((start / 1e9, (start - prev_end) / 1e9))
    return gaps


def ms(value: float) -> float:
    return round(value * 1000, 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="short phases and a smaller farm")
    parser.add_argument("--seconds", type=float, default=6.0, help="length of each phase")
    parser.add_argument("--waiting", type=int, default=100_000, help="READY commands the listings go through")
    parser.add_argument("--submit-tasks", type=int, default=100)
    parser.add_argument("--submit-commands", type=int, default=1000, help="commands per task of the big submit")
    parser.add_argument("--submit-repeats", type=int, default=4, help="big submits in the submit phase")
    parser.add_argument("--pipeline", type=int, default=0, help="the agents' pipeline (0: the leader dispatches all)")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.waiting, args.submit_tasks = 3.0, 20_000, 20

    with tempfile.TemporaryDirectory(prefix="puli-bench-heavy-") as tmp:
        base = Path(tmp)
        farm = Farm(base, args.pipeline)
        try:
            farm.start("a0")  # alone: it leads, and runs the command whose log is read (on the leader)
            farm.wait_ready(1)
            address = farm.leader_address()
            chatty = Graph("chatty")
            chatty.addNewTask("chatty", {"cmd": f"head -c {BIG_LOG_BYTES} /dev/zero | tr '\\0' a; echo"})
            chatty_id = submit(farm, chatty)
            farm.wait_done(chatty_id)
            page = farm.client().request("QUERY", what="commands", args={"id": chatty_id})
            (log_command,) = [c["id"] for c in page["items"]]
            farm.start("a1")
            farm.wait_ready(2)
            per_task = 1000
            waiting = submit(farm, waiting_graph("waiting", max(1, args.waiting // per_task), per_task))
            records = base / "stream.txt"
            records.touch()
            phases = ["idle", "listing", "log_read", "submit", "idle_after"]
            stream_commands = int(len(phases) * args.seconds / STREAM_SLEEP_S * 2) + 200
            stream = submit(farm, stream_graph(records, stream_commands))
            time.sleep(1.0)  # the stream is flowing
            big = waiting_graph("big-submit", args.submit_tasks, args.submit_commands).prepareGraphRepresentation()
            heavy: dict[str, list[bytes]] = {
                "idle": [],
                "listing": [QueryMessage("l1", "commands", {}).encode(),
                            QueryMessage("l2", "graph", {"id": waiting, "children": True}).encode(),
                            QueryMessage("l3", "graphs", {}).encode()],
                "log_read": [LogsMessage("g1", log_command, 0, 2**62).encode(),
                             LogsMessage("g2", log_command, -(2**62), 2**62).encode()],
                "submit": [SubmitMessage(f"s{i}", big).encode() for i in range(2)],
                "idle_after": [],
            }
            submit_bytes = len(heavy["submit"][0])
            # Each accepted big submit stays in the farm (its commands wait): a few show the block.
            most = {"submit": args.submit_repeats}
            results = {name: run_phase(address, heavy[name], args.seconds, most.get(name)) for name in phases}
            farm.client().request("EDIT", action="cancel", args={"id": stream})
            gaps = dispatch_gaps(records)
        finally:
            farm.stop()

    out: dict[str, Any] = {"agents": 2, "slots_per_agent": 1, "pipeline": args.pipeline,
                           "phase_seconds": args.seconds, "waiting_commands": args.waiting,
                           "submit_commands": args.submit_tasks * args.submit_commands,
                           "submit_bytes": submit_bytes, "log_bytes": BIG_LOG_BYTES, "phases": {}}
    for name in phases:
        r = results[name]
        phase_gaps = [g for t, g in gaps if r["start"] <= t <= r["end"]]
        out["phases"][name] = {
            "probe_p50_ms": ms(percentile(r["probe"], 0.5)),
            "probe_p99_ms": ms(percentile(r["probe"], 0.99)),
            "probe_max_ms": ms(max(r["probe"])),
            "probes": len(r["probe"]),
            "dispatch_gap_p50_ms": ms(percentile(phase_gaps, 0.5)),
            "dispatch_gap_p99_ms": ms(percentile(phase_gaps, 0.99)),
            "dispatches": len(phase_gaps),
            "heavy_answered": len(r["heavy"]) - len(r["refused"]),
            "heavy_refused": len(r["refused"]),
            "heavy_rtt_p50_ms": ms(statistics.median(r["heavy"])) if r["heavy"] else None,
            "heavy_rtt_max_ms": ms(max(r["heavy"])) if r["heavy"] else None,
            "refusal": r["refused"][0] if r["refused"] else None,
        }
    out["longest_block_ms"] = {name: out["phases"][name]["probe_max_ms"] for name in ("listing", "log_read", "submit")}
    print(json.dumps(out))


if __name__ == "__main__":
    main()

"""Mesh throughput and latency on loopback (run by hand; prints one JSON line at the end).

    python bench/mesh_throughput.py [--commands 2000] [--rounds 2] [--rest 1.0] [--insecure]

1. 2,000 commands of `true` through 2 agents with 2 slots each, compared in the
   same run with a plain Python loop spawning the same 2,000 processes
   (`sh -c true`) 4 at a time: ``ratio = mesh_rate / loop_rate``, each rate the
   mean of ``--rounds`` timed runs, loop and mesh interleaved, each after
   ``--rest`` seconds of quiet. Both are warmed up first (``--warm-up``: the
   mesh's ZooKeeper compiles its request path during its first thousand
   transactions; an idle VM spawns slower). The rest matters on this VM: a loop
   started straight after another burst of processes runs 10-25% slower than
   one started after a second of quiet, so both sides get the same.
   The loop runs while the farm is up and idle (its heartbeats cost the loop
   about 1%). ``cpu_ms_per_command`` says where the CPU went (each agent, its
   commands, the ZooKeeper server) during the mesh runs, and
   ``journal_batches_per_command`` how well the leader's group commit gathered
   records. ``file_create_us`` is the cost of creating one file where the farm
   writes its logs (``TMPDIR``), taken before the farm starts: the mesh creates a
   log per command, so a figure far above 10 µs means the disk, not the mesh, set
   the pace (see the README's "Measuring").
   The farm is secured (CURVE on every connection, roles checked) as ``make farm`` is;
   ``--insecure`` runs it open, to compare the ratio with and without CURVE.
2. Submit-to-start latency of one command on an idle mesh: from the moment
   ``submit()`` is called to the moment the command's process records its
   start time, over ``--latency-samples`` graphs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402

from puli_mesh.local_farm import LocalFarm  # noqa: E402
from puliclient import Graph  # noqa: E402
from puliclient.status import NodeStatus  # noqa: E402


def loop_rate(commands: int, parallel: int) -> float:
    start = time.perf_counter()
    running: list[subprocess.Popen[bytes]] = []
    launched = 0
    while launched < commands or running:
        while launched < commands and len(running) < parallel:
            running.append(subprocess.Popen("true", shell=True))
            launched += 1
        running[0].wait()
        running = [p for p in running if p.poll() is None]
    return commands / (time.perf_counter() - start)


def wait_graph(farm: LocalFarm, graph_id: int, timeout: float = 600.0) -> dict[str, object]:
    client = farm.client()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # The graph alone, not its commands: the observer must not load the leader.
        tree = client.request("QUERY", what="graph", args={"id": graph_id, "children": False})
        if tree["status"] in (NodeStatus.DONE, NodeStatus.ERROR, NodeStatus.CANCELED):
            return dict(tree)
        time.sleep(0.05)
    raise TimeoutError(f"graph {graph_id} not finished after {timeout}s")


def file_create_us(directory: Path, files: int = 200) -> float:
    """Wall time to create (and close) one empty file where the farm writes its logs.

    The mesh creates a log per command; on some file systems (this project's VM: ext4
    without a journal, for minutes after thousands of deletions) that alone costs more
    than a frame, so the figure says in which state the disk was.
    """
    directory.mkdir(parents=True)
    start = time.perf_counter()
    for i in range(files):
        os.close(os.open(directory / f"{i}", os.O_WRONLY | os.O_CREAT, 0o666))
    return (time.perf_counter() - start) / files * 1e6


def run_graph(farm: LocalFarm, port: int, name: str, commands: int) -> float:
    """Submit ``commands`` commands of `true` and wait for DONE; returns commands/s from the
    call to ``submit()`` to the graph's end time as the leader recorded it (the loop that
    waits for DONE polls every 50 ms: its own delay is not the mesh's)."""
    graph = Graph(name)
    graph.addNewTask("true", arguments={"cmd": "true", "start": 1, "end": commands, "packetSize": 1})
    start = time.time()
    url, _ = graph.submit("127.0.0.1", port)
    tree = wait_graph(farm, int(url.rsplit("/", 1)[1]))
    assert tree["status"] == NodeStatus.DONE, tree["status"]
    return commands / (float(tree["end_time"]) - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commands", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2, help="timed loop and mesh runs, interleaved")
    parser.add_argument("--rest", type=float, default=1.0, help="seconds of quiet before each timed run")
    parser.add_argument("--latency-samples", type=int, default=30)
    parser.add_argument("--warm-up", type=int, default=500, help="commands run before measuring")
    parser.add_argument("--insecure", action="store_true", help="an open farm: no CURVE, no roles")
    args = parser.parse_args()

    loop_rates: list[float] = []
    mesh_rates: list[float] = []
    with tempfile.TemporaryDirectory(prefix="puli-bench-") as tmp:
        create_us = file_create_us(Path(tmp) / "probe")
        farm = LocalFarm(agents=2, slots=2, base_port=18004, data_dir=Path(tmp) / "farm", insecure=args.insecure)
        try:
            farm.start()
            os.environ.update(farm.environment())  # Graph.submit finds the farm and its key there
            port = farm.processes[0].port
            leader = farm.client().request("QUERY", what="status", args={})["leader"]
            watched = {p.name + (" (leader)" if p.name == leader else ""): psutil.Process(p.process.pid)
                       for p in farm.processes if p.process is not None}
            assert farm.zookeeper is not None and farm.zookeeper.process is not None
            watched["zookeeper"] = psutil.Process(farm.zookeeper.process.pid)
            run_graph(farm, port, "warm-up", args.warm_up)
            loop_rate(args.warm_up, parallel=4)
            journal_before = farm.client().request("QUERY", what="status", args={})["journal"]
            cpu_s = dict.fromkeys([name + part for name in watched for part in ("", " children")], 0.0)
            for i in range(args.rounds):
                time.sleep(args.rest)
                loop_rates.append(loop_rate(args.commands, parallel=4))
                time.sleep(args.rest)
                before = {name: proc.cpu_times() for name, proc in watched.items()}
                mesh_rates.append(run_graph(farm, port, f"throughput-{i}", args.commands))
                for name, proc in watched.items():
                    a, b = proc.cpu_times(), before[name]
                    cpu_s[name] += a.user + a.system - b.user - b.system
                    cpu_s[name + " children"] += (a.children_user + a.children_system
                                                  - b.children_user - b.children_system)
                print(f"round {i + 1}: loop {loop_rates[-1]:.0f} processes/s, mesh {mesh_rates[-1]:.0f} "
                      "commands/s", file=sys.stderr)
            journal = farm.client().request("QUERY", what="status", args={})["journal"]

            latencies = []
            for i in range(args.latency_samples):
                marker = Path(tmp) / f"start-{i}"
                graph = Graph(f"latency-{i}")
                graph.addNewTask("one", arguments={"cmd": f"date +%s.%N > {marker}"})
                t0 = time.time()
                url, _ = graph.submit("127.0.0.1", port)
                wait_graph(farm, int(url.rsplit("/", 1)[1]))
                latencies.append((float(marker.read_text()) - t0) * 1000)
            latencies.sort()
        finally:
            farm.stop()
    measured = args.commands * args.rounds
    rate_mesh = statistics.mean(mesh_rates)
    rate_loop = statistics.mean(loop_rates)
    result = {
        "commands": args.commands,
        "agents": 2,
        "curve": not args.insecure,
        "slots_per_agent": 2,
        "mesh_rate_per_s": round(rate_mesh, 1),
        "loop_rate_per_s": round(rate_loop, 1),
        "ratio": round(rate_mesh / rate_loop, 3),
        "mesh_rates": [round(r, 1) for r in mesh_rates],
        "loop_rates": [round(r, 1) for r in loop_rates],
        "latency_p50_ms": round(statistics.median(latencies), 2),
        "latency_p90_ms": round(latencies[int(len(latencies) * 0.9) - 1], 2),
        "latency_samples": len(latencies),
        "cpu_ms_per_command": {k: round(v / measured * 1000, 3) for k, v in cpu_s.items() if v},
        "journal_records_per_command": round((journal["records"] - journal_before["records"]) / measured, 2),
        "journal_batches_per_command": round(
            (journal["batches_written"] - journal_before["batches_written"]) / measured, 3),
        "log_dir": tempfile.gettempdir(),
        "file_create_us": round(create_us, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""Mesh throughput and latency on loopback (run by hand; prints one JSON line at the end).

    python bench/mesh_throughput.py [--commands 2000]

1. 2,000 commands of `true` through 2 agents with 2 slots each, compared in the
   same run with a plain Python loop spawning the same 2,000 processes
   (`sh -c true`) 4 at a time: ``ratio = mesh_rate / loop_rate``. The loop is
   timed before and after the mesh (``loop_rate_before_after``) and
   ``loop_rate_per_s`` is their mean: this VM's speed drifts by 10-20% within
   minutes, and a loop run on an idle machine is 20% slower than on a warm one, so
   it too is warmed up first (``--warm-up`` processes).
   ``cpu_ms_per_command`` says where the CPU went (each agent, its
   commands, the ZooKeeper server) during that phase, and
   ``journal_batches_per_command`` how well the leader's group commit gathered
   records. The mesh first runs ``--warm-up`` commands (500), unmeasured: a
   farm in service has its ZooKeeper's JIT warm.
2. Submit-to-start latency of one command on an idle mesh: from the moment
   ``submit()`` is called to the moment the command's process records its
   start time, over ``--latency-samples`` graphs.
"""

from __future__ import annotations

import argparse
import json
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commands", type=int, default=2000)
    parser.add_argument("--latency-samples", type=int, default=30)
    parser.add_argument("--warm-up", type=int, default=500, help="commands run before measuring")
    args = parser.parse_args()

    loop_rate(args.warm_up, parallel=4)  # warm, as the mesh is: an idle VM spawns slower
    loop_before = loop_rate(args.commands, parallel=4)
    print(f"loop: {loop_before:.0f} processes/s", file=sys.stderr)

    with tempfile.TemporaryDirectory(prefix="puli-bench-") as tmp:
        farm = LocalFarm(agents=2, slots=2, base_port=18004, data_dir=Path(tmp) / "farm")
        try:
            farm.start()
            port = farm.processes[0].port
            leader = farm.client().request("QUERY", what="status", args={})["leader"]
            watched = {p.name + (" (leader)" if p.name == leader else ""): psutil.Process(p.process.pid)
                       for p in farm.processes if p.process is not None}
            assert farm.zookeeper is not None and farm.zookeeper.process is not None
            watched["zookeeper"] = psutil.Process(farm.zookeeper.process.pid)
            # Warm up first, as a farm in service is: ZooKeeper's JIT compiles its request
            # path during its first thousand transactions, at several times the steady cost.
            warm = Graph("warm-up")
            warm.addNewTask("true", arguments={"cmd": "true", "start": 1, "end": args.warm_up, "packetSize": 1})
            url, _ = warm.submit("127.0.0.1", port)
            wait_graph(farm, int(url.rsplit("/", 1)[1]))
            journal_before = farm.client().request("QUERY", what="status", args={})["journal"]
            cpu_before = {name: proc.cpu_times() for name, proc in watched.items()}
            graph = Graph("throughput")
            graph.addNewTask("true", arguments={"cmd": "true", "start": 1, "end": args.commands, "packetSize": 1})
            start = time.perf_counter()
            url, _ = graph.submit("127.0.0.1", port)
            tree = wait_graph(farm, int(url.rsplit("/", 1)[1]))
            elapsed = time.perf_counter() - start
            assert tree["status"] == NodeStatus.DONE, tree["status"]
            rate_mesh = args.commands / elapsed
            print(f"mesh: {rate_mesh:.0f} commands/s", file=sys.stderr)
            journal = farm.client().request("QUERY", what="status", args={})["journal"]
            cpu_ms = {}
            for name, proc in watched.items():
                a, b = proc.cpu_times(), cpu_before[name]
                cpu_ms[name] = round((a.user + a.system - b.user - b.system) / args.commands * 1000, 3)
                cpu_ms[name + " children"] = round((a.children_user + a.children_system - b.children_user
                                                    - b.children_system) / args.commands * 1000, 3)

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
    # The machine's speed drifts from minute to minute (a VM): the loop is timed on
    # both sides of the mesh and the ratio uses their mean.
    loop_after = loop_rate(args.commands, parallel=4)
    print(f"loop again: {loop_after:.0f} processes/s", file=sys.stderr)
    rate_loop = (loop_before + loop_after) / 2

    result = {
        "commands": args.commands,
        "agents": 2,
        "slots_per_agent": 2,
        "mesh_rate_per_s": round(rate_mesh, 1),
        "loop_rate_per_s": round(rate_loop, 1),
        "loop_rate_before_after": [round(loop_before, 1), round(loop_after, 1)],
        "ratio": round(rate_mesh / rate_loop, 3),
        "latency_p50_ms": round(statistics.median(latencies), 2),
        "latency_p90_ms": round(latencies[int(len(latencies) * 0.9) - 1], 2),
        "latency_samples": len(latencies),
        "cpu_ms_per_command": {k: v for k, v in cpu_ms.items() if v},
        "journal_records_per_command": round((journal["records"] - journal_before["records"]) / args.commands, 2),
        "journal_batches_per_command": round(
            (journal["batches_written"] - journal_before["batches_written"]) / args.commands, 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()

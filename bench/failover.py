"""Failover figures on loopback (run by hand; prints one JSON line at the end).

    python bench/failover.py [--trials 10] [--session-timeout 2]

* ``failover_p50_s``: ``kill -9`` of the leader (and of the commands it ran, as
  a crashed machine) to the first command started by the new leader. Right
  after the kill a client submits a one-command graph, retrying every 20 ms
  until a new leader accepts it; the command records when it starts.
* ``graceful_p50_s``: the same after ``step_down`` (planned hand-over).
* ``recovery_s_100k``: a coordinator holding a 100,000-command graph is killed;
  the successor's own measure of rebuilding its state (snapshot + journal
  replay) and publishing itself, read from its log ("took over in").
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from puli_mesh.client import MeshClient, MeshRequestError, MeshUnreachableError  # noqa: E402
from puli_mesh.local_farm import agent_command, kill_machine  # noqa: E402
from puli_mesh.zkserver import ZooKeeperServer, free_port  # noqa: E402
from puliclient import Graph  # noqa: E402


class Farm:
    def __init__(self, base: Path, zk: ZooKeeperServer, cluster: str, session_timeout: float) -> None:
        self.base, self.zk, self.cluster, self.session_timeout = base, zk, cluster, session_timeout
        self.agents: dict[str, tuple[subprocess.Popen[bytes], int, Path]] = {}

    def start(self, name: str, pools: str = "default", env: dict[str, str] | None = None) -> None:
        port = free_port()
        log = self.base / f"{name}.log"
        cmd = agent_command(name, self.zk.hosts, self.cluster, port, self.base / name, log, pools=pools,
                            session_timeout=self.session_timeout)
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=dict(os.environ, **(env or {})))
        self.agents[name] = (proc, port, log)

    def client(self, name: str, timeout: float = 2.0, tries: int = 1) -> MeshClient:
        return MeshClient(node=f"127.0.0.1:{self.agents[name][1]}", timeout=timeout, tries=tries)

    def status(self) -> dict:
        for name, (proc, _, _) in self.agents.items():
            if proc.poll() is None:
                try:
                    return dict(self.client(name).request("QUERY", what="status", args={}))
                except (MeshUnreachableError, MeshRequestError):
                    continue
        return {}

    def wait_ready(self, count: int, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = self.status()
            if st and len([n for n in st["nodes"] if n["state"] in ("idle", "busy")]) >= count:
                return str(st["leader"])
            time.sleep(0.1)
        raise TimeoutError("mesh not ready")

    def kill_machine(self, name: str) -> None:
        kill_machine(self.agents[name][0].pid)

    def stop(self) -> None:
        for proc, _, _ in self.agents.values():
            if proc.poll() is None:
                proc.terminate()
        for proc, _, _ in self.agents.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def submit_until_accepted(farm: Farm, survivors: list[str], marker: Path) -> None:
    graph = Graph("probe")
    graph.addNewTask("probe", {"cmd": f"date +%s.%N > {marker}"})
    data = graph.prepareGraphRepresentation()
    while True:
        for name in survivors:
            try:
                farm.client(name, timeout=0.5).request("SUBMIT", graph=data)
                return
            except (MeshUnreachableError, MeshRequestError):
                continue
        time.sleep(0.02)


def wait_marker(marker: Path, timeout: float = 60) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if marker.exists() and marker.read_text().strip():
            return float(marker.read_text())
        time.sleep(0.005)
    raise TimeoutError(f"{marker} never written")


def trial(base: Path, zk: ZooKeeperServer, index: int, session_timeout: float, graceful: bool) -> float:
    farm = Farm(base / f"t{index}-{'g' if graceful else 'k'}", zk, f"bench-{index}-{graceful}", session_timeout)
    farm.base.mkdir(parents=True)
    try:
        for i in range(3):
            farm.start(f"a{i}")
        leader = farm.wait_ready(3)
        survivors = [n for n in farm.agents if n != leader]
        marker = farm.base / "started"
        t0 = time.time()
        if graceful:
            farm.client(leader).request("EDIT", action="step_down", args={})
        else:
            farm.kill_machine(leader)
        submit_until_accepted(farm, survivors, marker)
        return wait_marker(marker) - t0
    finally:
        farm.stop()


def recovery(base: Path, zk: ZooKeeperServer, session_timeout: float, commands: int) -> dict[str, float]:
    farm = Farm(base / "recovery", zk, "bench-recovery", session_timeout)
    farm.base.mkdir(parents=True)
    try:
        # Two agents that render nothing of the graph (pool "office"): 100,000 commands stay queued.
        farm.start("r1", pools="office")
        farm.wait_ready(1)
        farm.start("r2", pools="office")
        leader = farm.wait_ready(2)
        other = next(n for n in farm.agents if n != leader)
        graph = Graph("hundred-thousand")
        for t in range(commands // 1000):
            graph.addNewTask(f"t{t}", {"cmd": "true", "start": 1, "end": 1000})
        farm.client(leader, timeout=60).request("SUBMIT", graph=graph.prepareGraphRepresentation())
        farm.kill_machine(leader)
        log = farm.agents[other][2]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            text = log.read_text() if log.exists() else ""
            took = re.search(r"took over in ([0-9.]+)s", text)
            rec = re.search(r"recovered .* in ([0-9.]+)s", text)
            if took and rec:
                return {"recovery_s": float(took.group(1)), "replay_s": float(rec.group(1))}
            time.sleep(0.1)
        raise TimeoutError("successor never took over")
    finally:
        farm.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--session-timeout", type=float, default=2.0)
    parser.add_argument("--commands", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="puli-failover-") as tmp:
        base = Path(tmp)
        zk = ZooKeeperServer(data_dir=base / "zk", port=free_port())
        zk.start()
        try:
            kills = []
            for i in range(args.trials):
                kills.append(trial(base, zk, i, args.session_timeout, graceful=False))
                print(f"kill -9 trial {i}: {kills[-1]:.3f}s", file=sys.stderr)
            graceful = []
            for i in range(args.trials):
                graceful.append(trial(base, zk, i, args.session_timeout, graceful=True))
                print(f"step-down trial {i}: {graceful[-1]:.3f}s", file=sys.stderr)
            rec = recovery(base, zk, args.session_timeout, args.commands)
            print(f"recovery: {rec}", file=sys.stderr)
        finally:
            zk.stop()
    print(json.dumps({
        "session_timeout_s": args.session_timeout,
        "trials": args.trials,
        "failover_p50_s": round(statistics.median(kills), 3),
        "failover_max_s": round(max(kills), 3),
        "graceful_p50_s": round(statistics.median(graceful), 3),
        "graceful_max_s": round(max(graceful), 3),
        "recovery_s_100k": round(rec["recovery_s"], 3),
        "replay_s_100k": round(rec["replay_s"], 3),
    }))


if __name__ == "__main__":
    main()

"""A simulated farm against the real thing: how one leader holds N render nodes (run by hand).

    python bench/scale.py [--nodes 500,1000,2000] [--procs 4] [--quick] [--frame-spread 0.25]

For each N: a real ZooKeeper, the cluster's keys, two real agents (a leader and a standby,
pool ``agents``: they render nothing of the bench's job) and N simulated render nodes spread
over ``--procs`` processes (``bench/simulated_nodes.py``: each node a ZooKeeper member and a
CURVE link speaking the worker protocol; a frame "runs" for its ``sleep N`` without a process).
Scenarios, in this order, with progress on stderr:

* link: N nodes joining at once (a whole farm starting), seconds until the leader has
  welcomed every one (``link_s_N``);
* idle: the leader's CPU (% of one core) with N idle nodes (``leader_idle_cpu_pct_N``);
* burst: a 20,000-frame job of ``sleep 10`` lands on the idle nodes: seconds until every
  node runs something (``busy_after_burst_s_N``);
* steady: the job keeps every node busy: dispatch latency from a node's request (READY, or a
  final UPDATE's credit) to its ASSIGN, p50/p99 (``dispatch_p50_ms_N``, ``dispatch_p99_ms_N``),
  the leader's CPU (``leader_steady_cpu_pct_N``) and memory (``leader_rss_mb_N``), the
  simulator's CPU (``simulator_cpu_pct_N``, % of one core, all its processes). The burst starts
  every node's frame within a moment; each frame lasts its ``sleep 10`` times a factor drawn
  from 1 +/- ``--frame-spread`` (0.25; real frames differ far more), so the waves of N ends
  spread out over a few cycles as on a farm. ``--frame-spread 0`` keeps them in waves of N
  every 10 s: a harsher load, whose p99 is the time to answer a whole wave;
* viewers: 50 clients each taking what ``puli-mesh top`` shows (``cli.top.snapshot``: four
  requests) once a second: one snapshot's p99 (``query_p99_ms_N``), and the dispatch p99
  beside it (``dispatch_p99_viewers_ms_N``);
* failover: kill -9 of the leader under that load: seconds to the first ASSIGN of the new
  epoch (``failover_s_N``), until every node is welcomed by it (``reattach_s_N``), and
  commands started twice (``ran_twice_N``, must be 0).

One JSON line at the end with every key for every N run. The agents use the local farm's
settings (``local_farm.agent_command``: session timeout 4 s, heartbeat 0.5 s); the simulated
nodes heartbeat at the same interval.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from puli_mesh import key_registry  # noqa: E402
from puli_mesh.cli.top import snapshot  # noqa: E402
from puli_mesh.client import MeshClient, MeshRequestError, MeshUnreachableError  # noqa: E402
from puli_mesh.cluster_keys import init_cluster, zookeeper  # noqa: E402
from puli_mesh.keys import KeyRecord, create_key_pair, load_client_key  # noqa: E402
from puli_mesh.local_farm import agent_command, kill_machine  # noqa: E402
from puli_mesh.roles import Role  # noqa: E402
from puli_mesh.zk_access import read_credential  # noqa: E402
from puli_mesh.zkpaths import ClusterPaths  # noqa: E402
from puli_mesh.zkserver import ZooKeeperServer, free_port  # noqa: E402
from puliclient import Graph  # noqa: E402
from puliclient.farm import Farm  # noqa: E402

SIMULATOR = Path(__file__).resolve().parent / "simulated_nodes.py"
CLUSTER = "scale"
SESSION_TIMEOUT_S = 4.0
HEARTBEAT_S = 0.5  # local_farm.agent_command's
LIVENESS = 3
VIEWERS = 50
LINK_TIMEOUT_S = 400.0
"""How long N nodes joining at once may take to be linked (a whole farm starting: ``link_s_N``)."""


def progress(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class SimulatorProcess:
    """One simulated_nodes.py process and its control lines."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.process = subprocess.Popen([sys.executable, str(SIMULATOR), json.dumps(config)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, bufsize=1)

    def read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("a simulator process ended")
        return dict(json.loads(line))

    def ask(self, op: str, **fields: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"op": op, **fields}) + "\n")
        self.process.stdin.flush()
        return self.read()

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                assert self.process.stdin is not None
                self.process.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self.process.stdin.flush()
                self.process.wait(timeout=20)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()


class ScaleRun:
    """One N: the farm, the simulators, the scenarios."""

    def __init__(self, base: Path, nodes: int, procs: int, quick: bool, frame_spread: float) -> None:
        self.base, self.nodes, self.procs, self.quick = base, nodes, procs, quick
        self.frame_spread = frame_spread
        self.zk = ZooKeeperServer(data_dir=base / "zk", port=free_port())
        self.agents: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
        self.sims: list[SimulatorProcess] = []
        self.figures: dict[str, Any] = {}

    # ------------------------------------------------------------------ set-up
    def start(self) -> None:
        self.zk.start()
        made = init_cluster(self.base / "keys", self.zk.hosts, CLUSTER, "admin", "bench-host", time.time())
        self.keys, self.admin_key = made.directory, made.admin_key
        node_key = create_key_pair(self.base / "simkey", "simulator")
        with zookeeper(self.zk.hosts, read_credential(self.keys)) as zk:
            key_registry.write_record(zk, ClusterPaths(CLUSTER), KeyRecord(
                "simulator", Role.NODE, node_key.public_key.decode(), time.time()))
        for name in ("agent-1", "agent-2"):
            port = free_port()
            cmd = agent_command(name, self.zk.hosts, CLUSTER, port, self.base / name / "logs",
                                self.base / name / "agent.log", slots=1, pools="agents",
                                session_timeout=SESSION_TIMEOUT_S, keys=self.keys)
            self.agents[name] = (subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                                  stderr=subprocess.DEVNULL), port)
            if name == "agent-1":
                self.wait_status(lambda s: bool(s.get("leader")), 60, "a leader")
        names = [f"sim-{i:05d}" for i in range(self.nodes)]
        assert node_key.secret_file is not None
        for p in range(self.procs):
            self.sims.append(SimulatorProcess({
                "zk": self.zk.hosts, "cluster": CLUSTER, "keys": str(self.keys), "node_key": str(node_key.secret_file),
                "names": names[p::self.procs], "heartbeat_interval": HEARTBEAT_S, "heartbeat_liveness": LIVENESS,
                "frame_spread": self.frame_spread, "seed": p}))
        for sim in self.sims:
            sim.read()  # {"ready": n}: its members are registered
        progress(f"N={self.nodes}: {self.nodes} members registered; waiting for every node to be linked")
        t0 = time.time()
        self.figures[f"link_s_{self.nodes}"] = round(self.wait_attached(LINK_TIMEOUT_S) - t0, 1)
        progress(f"N={self.nodes}: every node linked in {self.figures[f'link_s_{self.nodes}']}s")

    def client(self, timeout: float = 5.0) -> MeshClient:
        port = next(port for proc, port in self.agents.values() if proc.poll() is None)
        return MeshClient(node=f"127.0.0.1:{port}", timeout=timeout, tries=3, key=load_client_key(self.admin_key))

    def status(self) -> dict[str, Any]:
        try:
            return dict(self.client(timeout=10).request("QUERY", what="status", args={}))
        except (MeshUnreachableError, MeshRequestError):
            return {}

    def wait_status(self, ok: Any, timeout: float, what: str) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.status()
            if status and ok(status):
                return status
            time.sleep(0.3)
        raise TimeoutError(f"no {what} within {timeout:.0f}s")

    def leader(self) -> psutil.Process:
        name = str(self.status()["leader"])
        return psutil.Process(self.agents[name][0].pid)

    def stats(self) -> list[dict[str, Any]]:
        return [sim.ask("stats") for sim in self.sims]

    def mark(self) -> None:
        for sim in self.sims:
            sim.ask("mark")

    def wait_attached(self, timeout: float) -> float:
        """Wall time when the last node was welcomed by the newest epoch."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            stats = self.stats()
            epoch = max(s["epoch"] for s in stats)
            if all(s["all_attached"] and s["epoch"] == epoch for s in stats):
                return max(s["welcomed_at"] for s in stats)
            time.sleep(0.2)
        attached = sum(s["attached"] for s in self.stats())
        raise TimeoutError(f"{attached} of {self.nodes} nodes attached after {timeout:.0f}s")

    def sim_cpu(self) -> float:
        return sum(s["cpu_s"] for s in self.stats())

    # ------------------------------------------------------------------ scenarios
    def idle(self) -> None:
        seconds = 5.0 if self.quick else 30.0
        leader = self.leader()
        time.sleep(2.0)  # the joins' aftermath
        before = leader.cpu_times()
        time.sleep(seconds)
        after = leader.cpu_times()
        used = (after.user + after.system) - (before.user + before.system)
        self.figures[f"leader_idle_cpu_pct_{self.nodes}"] = round(100 * used / seconds, 2)
        progress(f"N={self.nodes} idle: leader {100 * used / seconds:.1f}% of a core over {seconds:.0f}s")

    def burst(self) -> None:
        frames = 2_000 if self.quick else 20_000
        frame_s = 2 if self.quick else 10
        graph = Graph("burst")
        graph.addNewTask("frames", {"cmd": f"sleep {frame_s}", "start": 1, "end": frames})
        data = graph.prepareGraphRepresentation()
        self.mark()
        t0 = time.time()
        self.client(timeout=60).request("SUBMIT", graph=data)
        submitted = time.time() - t0
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            stats = self.stats()
            firsts = [t for s in stats for t in s["first_assign"].values()]
            if len(firsts) >= self.nodes:
                busy = max(firsts) - t0
                self.figures[f"busy_after_burst_s_{self.nodes}"] = round(busy, 3)
                self.figures[f"submit_s_{self.nodes}"] = round(submitted, 3)
                progress(f"N={self.nodes} burst: {frames} frames, every node busy {busy:.2f}s after the "
                         f"submit began (the SUBMIT itself took {submitted:.2f}s)")
                return
            time.sleep(0.1)
        progress(f"N={self.nodes} burst: only {len(firsts)} nodes got work within 120s")

    def steady(self) -> None:
        seconds = 8.0 if self.quick else 30.0
        leader = self.leader()
        self.mark()
        sim_before, before = self.sim_cpu(), leader.cpu_times()
        time.sleep(seconds)
        after, sim_after = leader.cpu_times(), self.sim_cpu()
        stats = self.stats()
        latencies = [x for s in stats for x in s["latencies"]]
        n = self.nodes
        self.figures[f"dispatch_p50_ms_{n}"] = round(1000 * percentile(latencies, 0.5), 2)
        self.figures[f"dispatch_p99_ms_{n}"] = round(1000 * percentile(latencies, 0.99), 2)
        self.figures[f"dispatches_{n}"] = len(latencies)
        self.figures[f"leader_steady_cpu_pct_{n}"] = round(
            100 * ((after.user + after.system) - (before.user + before.system)) / seconds, 1)
        self.figures[f"simulator_cpu_pct_{n}"] = round(100 * (sim_after - sim_before) / seconds, 1)
        self.figures[f"leader_rss_mb_{n}"] = round(leader.memory_info().rss / 2**20, 1)
        progress(f"N={n} steady: {len(latencies)} dispatches, p50 {self.figures[f'dispatch_p50_ms_{n}']} ms, "
                 f"p99 {self.figures[f'dispatch_p99_ms_{n}']} ms; leader {self.figures[f'leader_steady_cpu_pct_{n}']}%"
                 f", {self.figures[f'leader_rss_mb_{n}']} MB; simulator {self.figures[f'simulator_cpu_pct_{n}']}%")

    def viewers(self) -> None:
        seconds = 8.0 if self.quick else 30.0
        stop = threading.Event()
        times: list[float] = []
        errors: list[str] = []

        def view(index: int) -> None:
            farm = Farm(client=self.client(timeout=10))
            time.sleep(index / VIEWERS)  # spread over the second, as independent wranglers are
            while not stop.is_set():
                t0 = time.perf_counter()
                try:
                    snapshot(farm)
                    times.append(time.perf_counter() - t0)
                except Exception as exc:  # a viewer's failure is a figure, not the bench's end
                    errors.append(type(exc).__name__)
                stop.wait(max(0.0, 1.0 - (time.perf_counter() - t0)))

        self.mark()
        threads = [threading.Thread(target=view, args=(i,), daemon=True) for i in range(VIEWERS)]
        for thread in threads:
            thread.start()
        time.sleep(seconds)
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
        latencies = [x for s in self.stats() for x in s["latencies"]]
        n = self.nodes
        self.figures[f"query_p99_ms_{n}"] = round(1000 * percentile(times, 0.99), 1)
        self.figures[f"query_p50_ms_{n}"] = round(1000 * percentile(times, 0.5), 1)
        self.figures[f"dispatch_p99_viewers_ms_{n}"] = round(1000 * percentile(latencies, 0.99), 2)
        progress(f"N={n} viewers: {len(times)} snapshots ({len(errors)} failed), p50 "
                 f"{self.figures[f'query_p50_ms_{n}']} ms, p99 {self.figures[f'query_p99_ms_{n}']} ms; dispatch p99 "
                 f"{self.figures[f'dispatch_p99_viewers_ms_{n}']} ms")

    def failover(self) -> None:
        n = self.nodes
        leader = self.leader()
        self.mark()
        t0 = time.time()
        kill_machine(leader.pid)
        progress(f"N={n} failover: leader killed; waiting for the standby")
        first: float | None = None
        deadline = time.monotonic() + 120
        while first is None and time.monotonic() < deadline:
            firsts = [s["first_new_epoch_assign"] for s in self.stats() if s["first_new_epoch_assign"]]
            first = min(firsts) if firsts else None
            time.sleep(0.1)
        if first is None:
            progress(f"N={n} failover: no ASSIGN of a new epoch within 120s")
            return
        self.figures[f"failover_s_{n}"] = round(first - t0, 3)
        try:
            self.figures[f"reattach_s_{n}"] = round(self.wait_attached(120) - t0, 3)
        except TimeoutError as exc:
            progress(f"N={n} failover: {exc}")
        time.sleep(2.0 if self.quick else 5.0)  # whatever would run twice has had time to start
        twice = {cid: k for s in self.stats() for cid, k in s["started"].items()}
        self.figures[f"ran_twice_{n}"] = len(twice)
        progress(f"N={n} failover: first new ASSIGN {self.figures[f'failover_s_{n}']}s, every node re-attached "
                 f"{self.figures.get(f'reattach_s_{n}')}s, {len(twice)} commands started twice")

    def stop(self) -> None:
        for sim in self.sims:
            sim.stop()
        for proc, _ in self.agents.values():
            if proc.poll() is None:
                proc.terminate()
        for proc, _ in self.agents.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.zk.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", default="500,1000,2000")
    parser.add_argument("--procs", type=int, default=4, help="simulator processes")
    parser.add_argument("--quick", action="store_true", help="N=200, short phases (about a minute)")
    parser.add_argument("--frame-spread", type=float, default=0.25,
                        help="each frame lasts its time x (1 +/- this), drawn at random (0: waves of N)")
    parser.add_argument("--keep", type=Path, help="keep each N's ZooKeeper, keys and agent logs under this directory")
    args = parser.parse_args()
    sizes = [200] if args.quick else [int(x) for x in args.nodes.split(",")]
    figures: dict[str, Any] = {"session_timeout_s": SESSION_TIMEOUT_S, "heartbeat_s": HEARTBEAT_S,
                               "frame_spread": args.frame_spread}
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix=f"puli-scale-{n}-") as tmp:
            base = Path(tmp) if args.keep is None else args.keep / f"n{n}"
            base.mkdir(parents=True, exist_ok=True)
            run = ScaleRun(base, n, min(args.procs, n), args.quick, args.frame_spread)
            try:
                run.start()
                for scenario in (run.idle, run.burst, run.steady, run.viewers, run.failover):
                    scenario()
            except Exception as exc:  # ship the figures measured so far
                progress(f"N={n}: stopped early: {type(exc).__name__}: {exc}")
            finally:
                figures.update(run.figures)
                run.stop()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

"""A real mesh (ZooKeeper + agent processes on loopback) runs graphs end to end.

Rules are checked from what the commands themselves record (name, node,
timestamps), never from the coordinator's own view.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psutil

from puli_mesh.cluster_state import set_licence
from puli_mesh.zkpaths import ClusterPaths
from puliclient import Graph
from puliclient.status import NodeStatus

from .conftest import Mesh, wait_for

RECORD = (
    'echo "start $PULI_TASK_NAME $PULI_COMMAND_ID %%MI_FRAME%% $PULI_NODE_NAME $(date +%s.%N)" >> {rec}; '
    "sleep {sleep}; "
    'echo "end $PULI_TASK_NAME $PULI_COMMAND_ID %%MI_FRAME%% $PULI_NODE_NAME $(date +%s.%N)" >> {rec}'
)


def read_records(path: Path) -> dict[tuple[str, str, str], dict[str, object]]:
    """(task, command, frame) -> {start, end, node}."""
    runs: dict[tuple[str, str, str], dict[str, object]] = {}
    for line in path.read_text().splitlines():
        what, task, cid, frame, node, stamp = line.split()
        runs.setdefault((task, cid, frame), {})[what] = float(stamp)
        runs[(task, cid, frame)]["node"] = node
    return runs


def command_spans(runs: dict[tuple[str, str, str], dict[str, object]], task: str) -> list[tuple[float, float]]:
    """One (first start, last end) span per command of a task."""
    spans: dict[str, list[float]] = {}
    for (t, cid, _frame), run in runs.items():
        if t == task:
            span = spans.setdefault(cid, [float("inf"), 0.0])
            span[0] = min(span[0], float(run["start"]))  # type: ignore[arg-type]
            span[1] = max(span[1], float(run["end"]))  # type: ignore[arg-type]
    return [(s, e) for s, e in spans.values()]


def overlaps(spans: list[tuple[float, float]]) -> bool:
    spans = sorted(spans)
    return any(b[0] < a[1] for a, b in zip(spans, spans[1:], strict=False))


def set_cluster_licence(mesh: Mesh, name: str, total: int) -> None:
    zk = mesh.zk_started()
    try:
        set_licence(zk, ClusterPaths(mesh.cluster), name, total)
    finally:
        zk.stop()
        zk.close()
    wait_for(lambda: any(lic["name"] == name and lic["total"] == total
                         for lic in mesh.client_any().request("QUERY", what="licences", args={})),
             15, f"licence {name} known to the coordinator")


def submit(mesh: Mesh, graph: Graph, agent: str | None = None) -> int:
    proc = mesh.agents[agent] if agent else next(iter(mesh.agents.values()))
    url, body = graph.submit("127.0.0.1", proc.port)
    assert url.startswith("puli://") and body.startswith("Graph created.")
    return int(url.rsplit("/", 1)[1])


def test_graph_with_dependencies_packets_licence_and_maxrn_runs_to_done(mesh: Mesh, tmp_path: Path) -> None:
    for i in range(3):
        mesh.start_agent(f"rn{i + 1}", slots=2)
    mesh.wait_ready(3)
    set_cluster_licence(mesh, "render1", 1)
    rec = tmp_path / "records.txt"

    graph = Graph("rules")
    licensed = graph.addNewTask("licensed", arguments={
        "cmd": RECORD.format(rec=rec, sleep=0.2), "start": 1, "end": 6, "packetSize": 2}, lic="render1")
    capped = graph.addNewTask("capped", arguments={
        "cmd": RECORD.format(rec=rec, sleep=0.2), "start": 1, "end": 4, "packetSize": 1}, maxRN=1)
    free = graph.addNewTask("free", arguments={
        "cmd": RECORD.format(rec=rec, sleep=0.1), "start": 1, "end": 6, "packetSize": 1})
    graph.addChain([licensed, capped])
    free.dependsOn(licensed)
    graph_id = submit(mesh, graph)

    tree = mesh.wait_graph(graph_id, {int(NodeStatus.DONE), int(NodeStatus.ERROR)}, timeout=90)
    assert tree["status"] == NodeStatus.DONE, json.dumps(tree, default=str)[:3000]

    runs = read_records(rec)
    assert all("start" in r and "end" in r for r in runs.values())
    assert len([k for k in runs if k[0] == "licensed"]) == 6
    assert len([k for k in runs if k[0] == "capped"]) == 4
    assert len([k for k in runs if k[0] == "free"]) == 6
    # licence of 1 token: the licensed commands never overlap
    assert not overlaps(command_spans(runs, "licensed"))
    # maxRN=1: the capped commands never overlap
    assert not overlaps(command_spans(runs, "capped"))
    # dependencies: nothing of 'capped' or 'free' starts before every 'licensed' command ended
    licensed_end = max(e for _, e in command_spans(runs, "licensed"))
    assert min(s for s, _ in command_spans(runs, "capped")) >= licensed_end
    assert min(s for s, _ in command_spans(runs, "free")) >= licensed_end
    # 'free' has no cap: with 6 slots on 3 nodes, several of its commands overlapped
    assert overlaps(command_spans(runs, "free"))
    assert len({r["node"] for r in runs.values()}) >= 2


def test_submit_to_a_follower_is_redirected_to_the_leader(mesh: Mesh, tmp_path: Path) -> None:
    mesh.start_agent("a1")
    mesh.start_agent("a2")
    status = mesh.wait_ready(2)
    follower = next(n["name"] for n in status["nodes"] if n["name"] != status["leader"])
    out = tmp_path / "out.txt"
    graph = Graph("via-follower")
    graph.addNewTask("hello", arguments={"cmd": f"echo hello > {out}"})
    graph_id = submit(mesh, graph, agent=follower)
    assert mesh.wait_graph(graph_id, {int(NodeStatus.DONE)})["status"] == NodeStatus.DONE
    assert out.read_text() == "hello\n"
    # The same works when the client only knows ZooKeeper.
    data = mesh.zk_client().request("QUERY", what="graph", args={"id": graph_id})
    assert data["status"] == NodeStatus.DONE


def test_failing_command_ends_in_error_with_exit_code_and_log_tail(mesh: Mesh) -> None:
    mesh.start_agent("solo")
    mesh.wait_ready(1)
    graph = Graph("failing")
    graph.addNewTask("boom", arguments={"cmd": "echo about to fail; echo last words >&2; exit 3"})
    graph_id = submit(mesh, graph)
    tree = mesh.wait_graph(graph_id, {int(NodeStatus.ERROR)})
    command = tree["tasks"][0]["commands"][0] if "tasks" in tree else _first_command(tree)
    assert "3" in command["message"]
    assert "last words" in command["message"]


def _first_command(tree: dict[str, object]) -> dict[str, object]:
    stack = [tree]
    while stack:
        node = stack.pop()
        commands = node.get("commands")  # type: ignore[union-attr]
        if commands:
            return commands[0]  # type: ignore[no-any-return,index]
        stack.extend(node.get("children", []))  # type: ignore[union-attr,arg-type]
    raise AssertionError("no command in tree")


def _tree_pids(pidfile: Path) -> list[int]:
    return [int(p) for p in pidfile.read_text().split()] if pidfile.exists() else []


def test_timeout_and_cancel_kill_the_whole_process_tree(mesh: Mesh, tmp_path: Path) -> None:
    mesh.start_agent("killer", slots=2)
    mesh.wait_ready(1)
    pids_t = tmp_path / "timeout.pids"
    pids_c = tmp_path / "cancel.pids"
    tree_cmd = "sleep 60 & echo $! >> {f}; setsid sleep 60 & echo $! >> {f}; echo $$ >> {f}; wait"
    graph = Graph("kill-trees")
    graph.addNewTask("times-out", arguments={"cmd": tree_cmd.format(f=pids_t), "timeout": 2})
    cancel_me = graph.addNewTask("canceled", arguments={"cmd": tree_cmd.format(f=pids_c)})
    graph_id = submit(mesh, graph)
    wait_for(lambda: len(_tree_pids(pids_c)) == 3 and len(_tree_pids(pids_t)) == 3, 30, "both trees started")
    assert all(psutil.pid_exists(p) for p in _tree_pids(pids_c))

    tree = mesh.graph(graph_id)
    cancel_id = next(c["id"] for c in _all_nodes(tree) if c.get("name") == cancel_me.name)
    mesh.client_any().request("EDIT", action="cancel", args={"id": cancel_id})

    def all_dead(pidfile: Path) -> bool:
        return not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
                       for p in _tree_pids(pidfile))

    wait_for(lambda: all_dead(pids_t), 30, "the timed-out tree to be gone")
    wait_for(lambda: all_dead(pids_c), 30, "the canceled tree to be gone")
    final = mesh.wait_graph(graph_id, {int(NodeStatus.CANCELED), int(NodeStatus.ERROR)})
    statuses = {n["name"]: n["status"] for n in _all_nodes(final) if n.get("type") == "Task"}
    assert statuses["times-out"] == NodeStatus.ERROR
    assert statuses["canceled"] == NodeStatus.CANCELED


def _all_nodes(tree: dict[str, object]) -> list[dict[str, object]]:
    out, stack = [], [tree]
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(node.get("children", []) or [])  # type: ignore[arg-type]
    return out


def test_a_killed_workers_commands_run_again_elsewhere(mesh: Mesh, tmp_path: Path) -> None:
    mesh.start_agent("stays")
    mesh.wait_ready(1)
    victim = mesh.start_agent("victim", slots=2)
    mesh.wait_ready(2)
    rec = tmp_path / "records.txt"
    graph = Graph("survives-a-dead-node")
    graph.addNewTask("long", arguments={"cmd": RECORD.format(rec=rec, sleep=3), "start": 1, "end": 3,
                                        "packetSize": 1})
    graph_id = submit(mesh, graph)

    def victim_running() -> bool:
        return rec.exists() and " victim " in rec.read_text()

    wait_for(victim_running, 30, "the victim to start a command")
    mesh.kill9("victim")
    assert not victim.alive()
    tree = mesh.wait_graph(graph_id, {int(NodeStatus.DONE), int(NodeStatus.ERROR)}, timeout=90)
    assert tree["status"] == NodeStatus.DONE
    runs = read_records(rec)
    finished = {(task, frame) for (task, _cid, frame), r in runs.items() if "end" in r}
    assert finished == {("long", "1"), ("long", "2"), ("long", "3")}
    assert all(r["node"] == "stays" for r in runs.values() if "end" in r)


def test_status_json_lists_the_leader_and_every_node(mesh: Mesh) -> None:
    for name in ("s1", "s2", "s3"):
        mesh.start_agent(name)
    mesh.wait_ready(3)
    result = subprocess.run(
        [sys.executable, "-m", "puli_mesh", "status", "--zk", mesh.zookeeper.hosts, "--cluster", mesh.cluster,
         "--json"], capture_output=True, text=True, timeout=60, env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["leader"] in {"s1", "s2", "s3"}
    assert data["epoch"] >= 1
    assert {n["name"] for n in data["nodes"]} == {"s1", "s2", "s3"}
    assert all(n["state"] == "idle" and n["slots"] == 1 and n["ram_mb"] > 0 for n in data["nodes"])
    unreachable = subprocess.run([sys.executable, "-m", "puli_mesh", "status", "--node", "127.0.0.1:1"],
                                 capture_output=True, text=True, timeout=60)
    assert unreachable.returncode == 3
    assert "no mesh reachable" in unreachable.stderr

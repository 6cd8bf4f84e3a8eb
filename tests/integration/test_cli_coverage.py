"""``puli-mesh`` commands no other test runs, against a real mesh (real ZooKeeper, real agents).

Commands are run as a user would (a subprocess) and their ``--json`` parsed;
the mesh is polled in-process (fast) only to wait for a state. The commands
run here block on *gates* (files the test creates) and record every run in a
file, so a test decides when a command ends and sees which node ran it, how
often, and whether its process is gone -- no sleep is used to synchronise.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .conftest import Mesh, wait_for
from .test_cli_operating import cli, cli_json

EXIT_FAILED, EXIT_USAGE = 1, 2


def cli_zk(mesh: Mesh, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """For the commands that edit cluster settings in ZooKeeper (``pools add``, ``licences set``)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PULI_NODE", "PULI_ZK", "PULI_CLUSTER")}
    env["COLUMNS"] = "160"
    return subprocess.run([sys.executable, "-m", "puli_mesh", *args, "--zk", mesh.zookeeper.hosts,
                           "--cluster", mesh.cluster], capture_output=True, text=True, timeout=timeout, env=env)


def json_zk(mesh: Mesh, *args: str) -> Any:
    return json.loads(ok(cli_zk(mesh, *args, "--json")))


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.args, result.stdout, result.stderr)
    return result.stdout


def submitted(result: subprocess.CompletedProcess[str]) -> int:
    """The graph id ``exec`` prints: ``submitted graph 12 (4 commands)``."""
    return int(ok(result).split()[2])


@dataclass
class Run:
    frame: int
    node: str
    pid: int


class Gates:
    """Shell commands that record their run and wait for a file; the test opens the gates."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir()
        self.log = directory / "runs"

    def command(self, gate: str = "%%MI_FRAME%%") -> str:
        """Records ``frame node pid``, then waits until the gate (or every gate) is open."""
        return (f'echo "%%MI_FRAME%% $PULI_NODE_NAME $$" >> {self.log}; '
                f'until [ -e {self.dir}/{gate} ] || [ -e {self.dir}/ALL ]; do sleep 0.05; done')

    def open(self, gate: str | int) -> None:
        (self.dir / str(gate)).touch()

    def runs(self) -> list[Run]:
        if not self.log.exists():
            return []
        return [Run(int(f), n, int(p)) for f, n, p in (line.split() for line in self.log.read_text().splitlines())]

    def wait_runs(self, count: int, what: str) -> list[Run]:
        return wait_for(lambda: (r := self.runs()) and len(r) >= count and r, 20, what)


@pytest.fixture
def gates(mesh: Mesh, tmp_path: Path) -> Iterator[Gates]:
    """Opened all at once at teardown (before the mesh stops), so no command outlives a failed test."""
    g = Gates(tmp_path / "gates")
    try:
        yield g
    finally:
        g.open("ALL")


def commands_of(mesh: Mesh, graph_id: int) -> list[dict[str, Any]]:
    return list(mesh.client_any().request("QUERY", what="commands", args={"id": graph_id})["items"])


def by_status(mesh: Mesh, graph_id: int, *statuses: str) -> list[dict[str, Any]]:
    return [c for c in commands_of(mesh, graph_id) if c["status_name"] in statuses]


def wait_running(mesh: Mesh, graph_id: int, count: int) -> list[dict[str, Any]]:
    """The graph's RUNNING commands once there are ``count`` (a started process may still read ASSIGNED)."""
    return wait_for(lambda: len(r := by_status(mesh, graph_id, "RUNNING")) == count and r, 20,
                    f"{count} command(s) of graph {graph_id} RUNNING")


def process_gone(pid: int) -> bool:
    """Ended (reaped, or a zombie its parent has not reaped yet)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state == "Z"


def tree_commands(node: dict[str, Any]) -> list[dict[str, Any]]:
    """The commands of a ``show --json`` tree, in tree order."""
    return [*node.get("commands", []), *(c for child in node.get("children", []) for c in tree_commands(child))]


def node_states(mesh: Mesh) -> dict[str, str]:
    return {n["name"]: n["state"] for n in cli_json(mesh, "nodes")}


# ------------------------------------------------------------------ nodes pause
def test_nodes_pause_keeps_what_runs_pause_kill_requeues_it_elsewhere_and_resume(mesh: Mesh, gates: Gates) -> None:
    mesh.start_agent("n1")
    mesh.start_agent("n2")
    mesh.wait_ready(2)

    # One command runs; pausing its node (no --kill) lets it go on.
    first = submitted(cli(mesh, "exec", gates.command("a"), "--name", "first"))
    (run,) = gates.wait_runs(1, "the first command to start")
    busy, other = run.node, ({"n1", "n2"} - {run.node}).pop()
    assert ok(cli(mesh, "nodes", "pause", busy)).strip() == f"render node {busy} paused"
    assert node_states(mesh)[busy] == "paused"
    (running,) = wait_running(mesh, first, 1)
    assert running["render_node"] == busy and not process_gone(run.pid)
    gates.open("a")
    assert mesh.wait_graph(first, {3}, timeout=20)["status_name"] == "DONE"
    assert node_states(mesh)[busy] == "paused"  # finishing its command did not unpause it

    # Two commands, one free node: the paused node takes none of them.
    second = submitted(cli(mesh, "exec", gates.command(), "--start", "1", "--end", "2", "--name", "second"))
    (r1,) = gates.wait_runs(2, "a command of the second job to start")[1:]
    assert r1.node == other
    assert [c["render_node"] for c in by_status(mesh, second, "ASSIGNED", "RUNNING")] == [other]

    # resume: the paused node gets work again.
    assert ok(cli(mesh, "nodes", "resume", busy)).strip() == f"render node {busy} resumed"
    (r2,) = gates.wait_runs(3, "the resumed node to take the other command")[2:]
    assert r2.node == busy and r2.frame != r1.frame

    # pause --kill: the command running there is killed and goes back to READY (no attempt
    # spent); once the other node is free it runs there.
    killed = cli(mesh, "nodes", "pause", busy, "--kill")
    assert ok(killed).strip() == f"render node {busy} paused (commands killed, they run again elsewhere)"
    wait_for(lambda: process_gone(r2.pid), 10, "the killed command's process to end")
    assert node_states(mesh)[busy] == "paused"
    (requeued,) = wait_for(lambda: [c for c in commands_of(mesh, second) if c["status_name"] == "READY"], 10,
                           "the killed command back to READY")
    assert requeued["attempts"] == 0 and requeued["description"].endswith(f"_{r2.frame}_{r2.frame}")
    gates.open(r1.frame)  # frees the other node
    (r3,) = gates.wait_runs(4, "the killed command to run again")[3:]
    assert (r3.frame, r3.node) == (r2.frame, other)
    gates.open(r2.frame)
    assert mesh.wait_graph(second, {3}, timeout=20)["status_name"] == "DONE"
    assert sorted(c["attempts"] for c in cli_json(mesh, "commands", "--graph", str(second))) == [1, 1]

    ok(cli(mesh, "nodes", "resume", busy))
    wait_for(lambda: node_states(mesh)[busy] == "idle", 10, f"{busy} idle again")


# ---------------------------------------------------------------- restart (all)
def test_restart_without_errors_only_runs_every_command_again(mesh: Mesh, tmp_path: Path) -> None:
    mesh.start_agent("r1", slots=3)
    mesh.wait_ready(1)
    runs, marker = tmp_path / "runs", tmp_path / "fixed"
    cmd = (f"echo %%MI_FRAME%% >> {runs}; "
           f"if [ %%MI_FRAME%% -eq 2 ] && [ ! -e {marker} ]; then exit 3; fi")
    job = cli(mesh, "exec", cmd, "--start", "1", "--end", "3", "--name", "again", "--wait")
    assert job.returncode == 1, job.stdout + job.stderr  # frame 2 failed
    graph_id = int(job.stdout.split()[2])
    assert sorted(runs.read_text().split()) == ["1", "2", "3"]

    marker.touch()
    assert ok(cli(mesh, "restart", str(graph_id))).strip() == f"restarted {graph_id}"
    assert mesh.wait_graph(graph_id, {3}, timeout=20)["status_name"] == "DONE"
    assert sorted(runs.read_text().split()) == ["1", "1", "2", "2", "3", "3"]  # the DONE ones too
    shown = cli_json(mesh, "show", str(graph_id))
    assert [c["attempts"] for c in tree_commands(shown)] == [1, 1, 1]  # reset by the restart, ran once since


# ----------------------------------------------------- cancel/restart --command
def test_cancel_and_restart_single_commands(mesh: Mesh, gates: Gates) -> None:
    mesh.start_agent("c1", slots=2)
    mesh.wait_ready(1)
    graph_id = submitted(cli(mesh, "exec", gates.command(), "--start", "1", "--end", "2", "--name", "pair"))
    gates.wait_runs(2, "both commands to start")
    wait_running(mesh, graph_id, 2)
    pid = {r.frame: r.pid for r in gates.runs()}
    one, two = sorted(commands_of(mesh, graph_id), key=lambda c: c["id"])

    assert ok(cli(mesh, "cancel", "--command", str(one["id"]))).strip() == f"canceled command {one['id']}"
    wait_for(lambda: process_gone(pid[1]), 10, "the canceled command's process to end")
    states = {c["id"]: c["status_name"] for c in cli_json(mesh, "commands", "--graph", str(graph_id))}
    assert states == {one["id"]: "CANCELED", two["id"]: "RUNNING"}  # the other one goes on
    assert not process_gone(pid[2])

    assert ok(cli(mesh, "restart", "--command", str(one["id"]))).strip() == f"restarted command {one['id']}"
    again = gates.wait_runs(3, "the restarted command to run again")[2]
    assert again.frame == 1
    gates.open(1)
    gates.open(2)
    assert mesh.wait_graph(graph_id, {3}, timeout=20)["status_name"] == "DONE"

    # restart --command on a DONE command runs it once more, and only it.
    ok(cli(mesh, "restart", "--command", str(two["id"])))
    wait_for(lambda: [r.frame for r in gates.runs()].count(2) == 2, 20, "command 2 to run again")
    assert mesh.wait_graph(graph_id, {3}, timeout=20)["status_name"] == "DONE"
    assert sorted(r.frame for r in gates.runs()) == [1, 1, 2, 2]
    done = cli(mesh, "cancel", "--command", str(one["id"]))
    assert done.returncode == 1 and "already DONE" in done.stderr  # refused, not reported as canceled


# ------------------------------------------------------- pause/resume --command
def test_pause_and_resume_single_commands(mesh: Mesh, gates: Gates) -> None:
    mesh.start_agent("s1")
    mesh.wait_ready(1)
    graph_id = submitted(cli(mesh, "exec", gates.command(), "--start", "1", "--end", "2", "--name", "held"))
    (first,) = gates.wait_runs(1, "the first command to start")
    one, two = sorted(commands_of(mesh, graph_id), key=lambda c: c["id"])
    running, waiting = (one, two) if first.frame == 1 else (two, one)

    # A waiting command is held: when the slot frees, nothing takes it.
    assert ok(cli(mesh, "pause", "--command", str(waiting["id"]))).strip() == f"paused command {waiting['id']}"
    gates.open(first.frame)
    wait_for(lambda: by_status(mesh, graph_id, "DONE"), 20, "the first command to end")
    held = cli_json(mesh, "commands", "--graph", str(graph_id), "--status", "READY")
    assert [(c["id"], c["paused"]) for c in held] == [(waiting["id"], True)]
    assert len(gates.runs()) == 1
    assert ok(cli(mesh, "resume", "--command", str(waiting["id"]))).strip() == f"resumed command {waiting['id']}"
    assert gates.wait_runs(2, "the resumed command to run")[1].frame != first.frame

    # --kill stops a running one; it waits, READY, no attempt spent, until resumed.
    pid = gates.runs()[1].pid
    ok(cli(mesh, "pause", "--command", "--kill", str(waiting["id"])))
    wait_for(lambda: process_gone(pid), 10, "the paused command's process to end")
    wait_for(lambda: by_status(mesh, graph_id, "READY"), 10, "the killed command back to READY")
    view = cli_json(mesh, "commands", "--graph", str(graph_id), "--status", "READY")[0]
    assert view["paused"] and view["attempts"] == 0
    ok(cli(mesh, "resume", "--command", str(waiting["id"])))
    gates.open("ALL")
    assert mesh.wait_graph(graph_id, {3}, timeout=20)["status_name"] == "DONE"
    done = cli(mesh, "pause", "--command", str(running["id"]))
    assert done.returncode == 1 and "DONE" in done.stderr


# ------------------------------------------------------------------- set pool=
def test_set_pool_moves_a_job_to_a_pool_added_with_pools_add(mesh: Mesh, gates: Gates) -> None:
    mesh.start_agent("d1")
    mesh.wait_ready(1)
    graph_id = submitted(cli(mesh, "exec", gates.command(), "--start", "1", "--end", "2", "--name", "mover"))
    (first,) = gates.wait_runs(1, "the first command to start on d1")
    assert first.node == "d1"

    refused = cli(mesh, "set", str(graph_id), "pool=other")
    assert refused.returncode == EXIT_FAILED and "not defined" in refused.stderr and "(not_found)" in refused.stderr
    assert "pools add other" in refused.stderr  # the error says what to do
    assert ok(cli_zk(mesh, "pools", "add", "other")).strip() == "pool other defined"
    assert {p["name"]: p["nodes"] for p in json_zk(mesh, "pools")}["other"] == []
    assert ok(cli(mesh, "set", str(graph_id), "pool=other")).strip() == f"node {graph_id}: pool=other"

    (job,) = cli_json(mesh, "jobs", "--name", "mover")
    assert job["pool"] == "other"
    assert [j["id"] for j in cli_json(mesh, "jobs", "--pool", "other")] == [graph_id]
    assert cli_json(mesh, "jobs", "--pool", "default") == []
    assert cli_json(mesh, "show", str(graph_id))["pool"] == "other"
    pools = {p["name"]: p for p in cli_json(mesh, "pools")}
    assert graph_id in pools["other"]["graphs"] and graph_id not in pools["default"]["graphs"]

    # A node of the new pool runs what is left; what ran on d1 goes on there.
    mesh.start_agent("o1", pools="other")
    (second,) = gates.wait_runs(2, "the second command to start on o1")[1:]
    assert second.node == "o1"
    assert sorted(c["render_node"] for c in wait_running(mesh, graph_id, 2)) == ["d1", "o1"]
    gates.open("ALL")
    assert mesh.wait_graph(graph_id, {3}, timeout=20)["status_name"] == "DONE"


def test_set_pool_a_node_of_the_old_pool_no_longer_runs_the_job(mesh: Mesh, gates: Gates, tmp_path: Path) -> None:
    mesh.start_agent("d2")
    mesh.wait_ready(1)
    ok(cli_zk(mesh, "pools", "add", "other"))
    runs = tmp_path / "order"
    busy = submitted(cli(mesh, "exec", gates.command("x"), "--name", "busy"))
    gates.wait_runs(1, "d2 to be busy")
    moved = submitted(cli(mesh, "exec", f"echo moved >> {runs}", "--name", "moved"))  # READY: d2 is busy
    ok(cli(mesh, "set", str(moved), "pool=other"))
    later = submitted(cli(mesh, "exec", f"echo later >> {runs}", "--name", "later"))  # stays in default
    gates.open("x")
    assert mesh.wait_graph(busy, {3}, timeout=20)["status_name"] == "DONE"
    # d2 takes the job submitted later: proof that it asked for work after the first one ended.
    assert mesh.wait_graph(later, {3}, timeout=20)["status_name"] == "DONE"
    assert runs.read_text().split() == ["later"]
    assert cli_json(mesh, "show", str(moved))["status_name"] == "READY"


# ----------------------------------------------------------- exec --packet-size
def test_exec_packet_size_groups_frames_into_commands(mesh: Mesh, tmp_path: Path) -> None:
    mesh.start_agent("p1", slots=2)
    mesh.wait_ready(1)
    frames = tmp_path / "frames"
    cmd = f"echo %%MI_FRAME%% %%MI_START%% %%MI_END%% $PULI_COMMAND_ID >> {frames}"
    job = cli(mesh, "exec", cmd, "--start", "3", "--end", "12", "--packet-size", "4", "--name", "packets", "--wait")
    assert job.returncode == 0, job.stdout + job.stderr
    assert "(3 commands)" in job.stdout
    graph_id = int(job.stdout.split()[2])

    commands = sorted(cli_json(mesh, "commands", "--graph", str(graph_id)), key=lambda c: c["id"])
    assert [(c["arguments"]["start"], c["arguments"]["end"]) for c in commands] == [(3, 6), (7, 10), (11, 12)]
    lines = sorted((line.split() for line in frames.read_text().splitlines()), key=lambda f: int(f[0]))
    assert [int(f[0]) for f in lines] == list(range(3, 13))  # every frame once
    ids = [c["id"] for c in commands]
    assert [(int(s), int(e), int(c)) for _f, s, e, c in lines] == (
        [(3, 6, ids[0])] * 4 + [(7, 10, ids[1])] * 4 + [(11, 12, ids[2])] * 2)

    assert cli(mesh, "exec", "true", "--packet-size", "0").returncode == EXIT_USAGE


# --------------------------------------------------------------- licences set
def licence(mesh: Mesh, name: str) -> dict[str, Any] | None:
    """One licence as ``licences --json`` shows it (None while the coordinator does not know it)."""
    return next((lic for lic in cli_json(mesh, "licences") if lic["name"] == name), None)


def test_licences_set_defines_a_licence_whose_tokens_gate_commands(mesh: Mesh, gates: Gates) -> None:
    mesh.start_agent("l1", slots=2)
    mesh.wait_ready(1)
    assert ok(cli_zk(mesh, "licences", "set", "shave", "1")).strip() == "licence shave: 1 tokens"

    first = wait_for(lambda: licence(mesh, "shave"), 10, "the coordinator to know licence shave")
    assert (first["total"], first["used"], first["rns"]) == (1, 0, [])

    graph_id = submitted(cli(mesh, "exec", gates.command(), "--start", "1", "--end", "2", "--lic", "shave",
                             "--name", "licensed"))
    (run,) = gates.wait_runs(1, "one licensed command to start")
    assert [c["status_name"] for c in by_status(mesh, graph_id, "READY")] == ["READY"]  # 1 token, 2 slots
    held = licence(mesh, "shave")
    assert held is not None and (held["used"], held["total"], held["rns"]) == (1, 1, ["l1"])
    assert {lic["name"]: lic for lic in json_zk(mesh, "licences")}["shave"]["used"] == 1  # --zk finds the leader

    gates.open("ALL")
    assert mesh.wait_graph(graph_id, {3}, timeout=20)["status_name"] == "DONE"
    wait_for(lambda: (lic := licence(mesh, "shave")) is not None and lic["used"] == 0, 10, "the token to come back")


def test_licences_set_changes_a_total_at_run_time(mesh: Mesh) -> None:
    mesh.start_agent("l2")
    mesh.wait_ready(1)
    ok(cli_zk(mesh, "licences", "set", "fur", "1"))
    wait_for(lambda: licence(mesh, "fur"), 10, "the coordinator to know licence fur")
    ok(cli_zk(mesh, "licences", "set", "fur", "2"))  # "Define a licence or change its total"
    wait_for(lambda: (lic := licence(mesh, "fur")) is not None and lic["total"] == 2, 3,
             "licences --json to show the new total")


# ------------------------------------------------------------------ top, Ctrl-C
def test_top_quits_on_ctrl_c(mesh: Mesh, tmp_path: Path) -> None:
    mesh.start_agent("topc")
    mesh.wait_ready(1)
    session = f"topc-{os.getpid()}-{time.monotonic_ns()}"
    address = mesh.agents["topc"].address
    rc, err = tmp_path / "rc", tmp_path / "stderr"
    # The shell outlives top to write its exit status (tmux's own #{pane_dead_status} is not
    # always filled in); `trap true INT` keeps it alive on Ctrl-C, top gets SIGINT as usual.
    command = (f"trap true INT; {sys.executable} -m puli_mesh top --node {address} --interval 0.5 2> {err}; "
               f"echo $? > {rc}.tmp; mv {rc}.tmp {rc}")

    def tmux(*args: str) -> subprocess.CompletedProcess[str]:  # a server of its own: its environment is ours
        return subprocess.run(["tmux", "-L", session, *args], capture_output=True, text=True, timeout=10)

    assert tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "30", command).returncode == 0
    try:
        wait_for(lambda: "leader topc" in tmux("capture-pane", "-p", "-t", session).stdout, 30, "top to draw")
        assert tmux("send-keys", "-t", session, "C-c").returncode == 0
        status = wait_for(lambda: rc.exists() and rc.read_text().strip(), 10, "top to exit on Ctrl-C")
        assert status == "0", err.read_text()
        assert "Traceback" not in err.read_text()
    finally:
        tmux("kill-server")


# ------------------------------------------------------------ nodes unquarantine
def test_nodes_unquarantine_gives_a_quarantined_node_work_again(mesh: Mesh, tmp_path: Path) -> None:
    """Five failures in a row quarantine a node (Puli's RN_NB_ERRORS_TOLERANCE); `nodes resume`
    does not end it, `nodes unquarantine` does."""
    mesh.start_agent("q1")
    mesh.wait_ready(1)
    broken = cli(mesh, "exec", "exit 3", "--start", "1", "--end", "5", "--name", "broken", "--wait")
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert node_states(mesh)["q1"] == "quarantined"
    runs = tmp_path / "runs"
    after = submitted(cli(mesh, "exec", f"echo %%MI_FRAME%% >> {runs}", "--start", "1", "--end", "1",
                          "--name", "after"))
    assert [c["status_name"] for c in commands_of(mesh, after)] == ["READY"]  # the only node takes nothing
    assert ok(cli(mesh, "nodes", "unquarantine", "q1")).strip() == "render node q1 out of quarantine"
    assert mesh.wait_graph(after, {3}, timeout=20)["status_name"] == "DONE"
    assert runs.read_text().split() == ["1"]
    again = cli(mesh, "nodes", "unquarantine", "q1")
    assert again.returncode == 1 and "not in quarantine" in again.stdout + again.stderr

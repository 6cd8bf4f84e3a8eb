"""Planned hand-over: `puli-mesh step-down` moves leadership at once, running commands go on."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from puli_mesh.node.agent import SHUTDOWN_WAIT_S
from puliclient import Graph
from puliclient.status import NodeStatus

from .conftest import Mesh, wait_for

RECORD = 'echo "start $PULI_COMMAND_ID $PULI_NODE_NAME" >> {rec}; sleep 3; echo "end $PULI_COMMAND_ID" >> {rec}'


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "puli_mesh", *args], capture_output=True, text=True, timeout=60)


def test_step_down_hands_over_and_commands_keep_running(mesh: Mesh, tmp_path: Path) -> None:
    for name in ("h1", "h2", "h3"):
        mesh.start_agent(name, slots=2)
    status = mesh.wait_ready(3)
    old_leader, old_epoch = status["leader"], status["epoch"]
    assert status["journal"]["records"] >= 3  # the HELLOs are journalled
    rec = tmp_path / "runs.txt"
    graph = Graph("handover")
    graph.addNewTask("work", {"cmd": RECORD.format(rec=rec), "start": 1, "end": 4})
    url, _ = graph.submit("127.0.0.1", mesh.agents[old_leader].port)
    graph_id = int(url.rsplit("/", 1)[1])
    wait_for(lambda: rec.exists() and rec.read_text().count("start") == 4, 30, "four commands running")

    follower = next(n for n in mesh.agents if n != old_leader)
    result = cli("step-down", "--node", mesh.agents[follower].address)  # redirected to the leader
    assert result.returncode == 0, result.stderr
    assert f"{old_leader} is handing over" in result.stdout

    def new_leader() -> dict[str, object] | None:
        st = mesh.status()
        return st if st is not None and st["leader"] != old_leader else None

    after = wait_for(new_leader, 10, "another agent to lead")
    assert after["epoch"] > old_epoch
    tree = mesh.wait_graph(graph_id, {int(NodeStatus.DONE), int(NodeStatus.ERROR)}, timeout=60)
    assert tree["status"] == NodeStatus.DONE
    text = rec.read_text()
    assert text.count("start") == 4 and text.count("end") == 4  # nothing restarted
    shown = cli("status", "--node", mesh.agents[follower].address, "--json")
    assert json.loads(shown.stdout)["leader"] == after["leader"]


def test_a_farm_stopped_whole_does_not_wait_for_acknowledgements_nobody_will_send(
        mesh: Mesh, tmp_path: Path) -> None:
    # Every agent stops at once while a command runs on each: the leader steps down, so the
    # commands' final UPDATEs have nobody to acknowledge them. An agent used to wait its whole
    # SHUTDOWN_WAIT_S for them anyway (5 s more per stop, in every test's teardown too).
    for name in ("s1", "s2"):
        mesh.start_agent(name, slots=1, extra=["--pipeline", "0"])
    mesh.wait_ready(2)
    rec = tmp_path / "runs.txt"
    graph = Graph("stopping")
    graph.addNewTask("work", {"cmd": f'echo start >> {rec}; sleep 1', "start": 1, "end": 2})
    graph.submit("127.0.0.1", mesh.agents["s1"].port)
    wait_for(lambda: rec.exists() and rec.read_text().count("start") == 2, 30, "a command running on each agent")
    began = time.monotonic()
    mesh.stop()
    took = time.monotonic() - began
    assert all(proc.process is not None and proc.process.returncode == 0 for proc in mesh.agents.values())
    # The commands end within their second; the agents then leave at once, not SHUTDOWN_WAIT_S later.
    assert took < SHUTDOWN_WAIT_S, f"the farm took {took:.1f}s to stop"

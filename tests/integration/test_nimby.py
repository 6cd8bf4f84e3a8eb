"""A workstation's NIMBY through a real agent: its user comes back, its frame dies and waits, no attempt spent.

The user's idle time comes from ``PULI_TEST_IDLE_FILE`` (``node.nimby``): a test cannot press
a key on the machine, and the devices' times would say whatever the machine's users did.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from puli_mesh.node.nimby import TEST_IDLE_FILE
from puliclient import Graph

from .conftest import Mesh, wait_for
from .test_cli_operating import cli
from .test_live_node import cancel_and_wait, command_of, node_row, submit


def test_a_returning_user_takes_the_node_back_at_once_and_its_command_waits_without_an_attempt(
        mesh: Mesh, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    idle = tmp_path / "idle_seconds"
    idle.write_text("3600")  # nobody touched it for an hour
    monkeypatch.setenv(TEST_IDLE_FILE, str(idle))
    mesh.start_agent("ws1", extra=["--nimby", "idle", "--nimby-idle-minutes", "15"])
    mesh.wait_ready(1)
    graph = Graph("nimby")
    graph.addNewTask("long", {"cmd": "sleep 120"})
    graph_id = submit(mesh, graph)
    wait_for(lambda: command_of(mesh, graph_id)["status_name"] == "RUNNING", 30, "the idle workstation to render")

    idle.write_text("0.3")  # a key pressed
    pressed = time.monotonic()
    shown: dict[str, Any] = wait_for(lambda: (c := command_of(mesh, graph_id))["status_name"] == "READY" and c,
                                     20, "the command to be taken back")
    taken_back_s = time.monotonic() - pressed
    assert shown["attempts"] == 0  # the user's, not the command's fault: no attempt spent
    assert taken_back_s < 5.0, taken_back_s  # about a second; a loaded test machine gets some slack
    row = wait_for(lambda: (r := node_row(mesh, "ws1"))["reason"] == "nimby: user active" and r, 30,
                   "the reason in the member data")
    assert row["state"] in ("paused", "draining") and row["running"] == 0
    listed = cli(mesh, "nodes")
    assert listed.returncode == 0 and "(nimby: user active)" in listed.stdout, listed.stdout + listed.stderr
    assert command_of(mesh, graph_id)["status_name"] == "READY"  # it takes nothing while the user works

    idle.write_text("1000")  # the user left more than 15 minutes ago
    wait_for(lambda: command_of(mesh, graph_id)["status_name"] == "RUNNING", 20, "the node to take work again")
    assert node_row(mesh, "ws1")["reason"] == ""
    cancel_and_wait(mesh, graph_id, "ws1")

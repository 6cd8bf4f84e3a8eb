"""Least privilege on the node, on a real mesh: a command's clean environment, its log's mode, and
an agent run as root running each command as its job's user (``--run-as-job-user``).

The suite runs as root (here and in CI), as a studio's agents do; an agent that is not root must
refuse ``--run-as-job-user`` at start, which the first test checks when the suite is not root.
A graph's ``user`` is ``nobody`` (known on every Debian-like node); on a secured mesh it is the
submitting key's name, so these graphs are submitted as, or on behalf of, ``nobody``.
"""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path

import pytest

from puliclient import Graph
from puliclient.status import NodeStatus

from .conftest import Mesh
from .test_mesh_runs_graphs import submit

PROBE = ('echo "uid=$(id -u) user=$PULI_USER home=$HOME licence=${RLM_LICENSE-unset} '
         'secret=${AWS_SECRET_ACCESS_KEY-unset} zk=${PULI_ZK-unset}"')


def command_log(mesh: Mesh, agent: str, graph_id: int) -> Path:
    """The log of the graph's only command, where the agent wrote it."""
    commands = mesh.client_any().request("QUERY", what="commands", args={"id": graph_id})["items"]
    assert len(commands) == 1, commands
    logs = list((mesh.agents[agent].log_dir / mesh.cluster).glob(f"*/{commands[0]['id']}.log"))
    assert len(logs) == 1, logs
    return logs[0]


def test_a_root_agent_runs_each_command_as_its_jobs_user_in_a_clean_environment(
        mesh: Mesh, monkeypatch: pytest.MonkeyPatch) -> None:
    # What the agent's environment holds beyond the allowlist stays with the agent; what a studio
    # lists in command_env_passthrough reaches its commands.
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "the-agents-own")
    monkeypatch.setenv("RLM_LICENSE", "5053@licence-server")
    monkeypatch.setenv("PULI_ZK", "zk.invalid:2181")  # an agent's setting (its --zk wins): never a command's
    proc = mesh.start_agent("rn1", extra=["--run-as-job-user", "--command-env-passthrough", "RLM_LICENSE"])
    if os.geteuid() != 0:
        assert proc.process is not None and proc.process.wait(timeout=30) == 2, "refused: not root"
        return
    mesh.wait_ready(1)
    graph = Graph("as-nobody", user="nobody")
    graph.addNewTask("probe", {"cmd": PROBE, "start": 1, "end": 1})
    graph_id = submit(mesh, graph)
    tree = mesh.wait_graph(graph_id, {int(NodeStatus.DONE), int(NodeStatus.ERROR)})
    log = command_log(mesh, "rn1", graph_id)
    assert tree["status"] == int(NodeStatus.DONE), log.read_text()
    nobody = pwd.getpwnam("nobody")
    assert (f"uid={nobody.pw_uid} user=nobody home={nobody.pw_dir} licence=5053@licence-server "
            f"secret=unset zk=unset\n") in log.read_text()
    info = log.stat()
    assert (info.st_uid, stat.S_IMODE(info.st_mode) & ~0o640) == (os.geteuid(), 0), "the agent's, 0640 at most"
    assert stat.S_IMODE(log.parent.stat().st_mode) & ~0o750 == 0


def test_a_job_user_unknown_on_the_node_ends_in_error_and_frees_the_slot(mesh: Mesh, tmp_path: Path) -> None:
    if os.geteuid() != 0:  # the refusal at start is the first test's
        mesh.start_agent("rn2")
    else:
        mesh.start_agent("rn2", extra=["--run-as-job-user"])
    mesh.wait_ready(1)
    witness = tmp_path / "ran"
    stranger = Graph("as-a-stranger", user="no-such-user-on-this-node")
    stranger.addNewTask("t", {"cmd": f"touch {witness}", "start": 1, "end": 1})
    stranger_id = submit(mesh, stranger)
    if os.geteuid() == 0:
        tree = mesh.wait_graph(stranger_id, {int(NodeStatus.DONE), int(NodeStatus.ERROR)})
        assert tree["status"] == int(NodeStatus.ERROR)
        assert "user 'no-such-user-on-this-node' is not known on this node" in \
            command_log(mesh, "rn2", stranger_id).read_text()
        assert not witness.exists(), "it did not run, not as the agent either"
    # The one slot is free again: the next job runs.
    nobody = Graph("next", user="nobody")
    nobody.addNewTask("t", {"cmd": "true", "start": 1, "end": 1})
    assert mesh.wait_graph(submit(mesh, nobody), {int(NodeStatus.DONE)})["status"] == int(NodeStatus.DONE)
    assert mesh.agents["rn2"].alive()

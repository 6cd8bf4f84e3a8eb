"""Who may do what, on a real secured mesh: CURVE keys, the registry in ZooKeeper, roles.

Every test runs real agents with the cluster's keys (the ``mesh`` fixture secures it) and
clients holding keys of the roles they need (``Mesh.add_key``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from puli_mesh import key_registry
from puli_mesh.access import Role
from puli_mesh.client import MeshClient, MeshRequestError, MeshUnreachableError
from puli_mesh.keys import KeyPair, create_key_pair
from puli_mesh.protocol import ErrorCode, ErrorMessage, HelloMessage, QueryMessage, ResultMessage
from puli_mesh.zkpaths import ClusterPaths
from puli_mesh.zkserver import ZooKeeperServer
from puliclient import Graph
from puliclient.status import NodeStatus

from .conftest import Mesh, wait_for
from .hostile_peer import raw_peer

DONE = int(NodeStatus.DONE)


def client(mesh: Mesh, key: KeyPair | None, tries: int = 3, timeout: float = 5.0) -> MeshClient:
    return MeshClient(node=mesh.agents[mesh.leader()].address, key=key, tries=tries, timeout=timeout)


def submit_as(mesh: Mesh, key: KeyPair, name: str, cmd: str = "true", user: str | None = None) -> int:
    graph = Graph(name, user=user) if user else Graph(name)
    graph.addNewTask(name, arguments={"cmd": cmd})
    return int(client(mesh, key).request("SUBMIT", graph=graph.prepareGraphRepresentation())["graph_id"])


def revoke(mesh: Mesh, name: str) -> None:
    zk = mesh.zk_started()
    try:
        paths = ClusterPaths(mesh.cluster)
        record = key_registry.read_records(zk, paths)[name]
        key_registry.write_record(zk, paths, record.revoke(time.time()))
    finally:
        zk.stop()
        zk.close()


@pytest.fixture
def people(mesh: Mesh) -> dict[str, KeyPair]:
    """Two agents up, and the keys of alice and bob (users) and wendy (operator)."""
    mesh.start_agent("rn1", slots=2)
    mesh.start_agent("rn2", slots=2)
    mesh.wait_ready(2)
    return {"alice": mesh.add_key("alice", Role.USER), "bob": mesh.add_key("bob", Role.USER),
            "wendy": mesh.add_key("wendy", Role.OPERATOR)}


def test_a_client_without_a_key_or_with_an_unknown_key_gets_nothing_and_the_agent_stays_healthy(
        mesh: Mesh, people: dict[str, KeyPair], tmp_path: Path) -> None:
    with pytest.raises(MeshUnreachableError):
        client(mesh, None, tries=1, timeout=1.0).request("QUERY", what="status", args={})
    server_key = people["alice"].server_key
    stranger = create_key_pair(tmp_path / "elsewhere", "stranger", server_key=server_key)
    with pytest.raises(MeshUnreachableError):
        client(mesh, stranger, tries=1, timeout=1.0).request("QUERY", what="status", args={})
    assert "refused a CURVE handshake from an unknown or revoked key" in mesh.agent_log(mesh.leader())
    status = client(mesh, people["alice"]).request("QUERY", what="status", args={})
    assert status["secured"] is True and len(status["nodes"]) == 2


def test_the_graph_belongs_to_the_key_and_its_commands_see_it_as_puli_user(
        mesh: Mesh, people: dict[str, KeyPair], tmp_path: Path) -> None:
    out = tmp_path / "who"
    graph_id = submit_as(mesh, people["alice"], "mine", cmd=f"echo $PULI_USER > {out}")
    graph = mesh.wait_graph(graph_id, {DONE})
    assert graph["user"] == "alice"
    assert out.read_text().strip() == "alice"
    claimed = submit_as(mesh, people["alice"], "as-bob", user="bob")  # a field proves nothing
    assert mesh.graph(claimed)["user"] == "alice"
    on_behalf = submit_as(mesh, people["wendy"], "for-bob", user="bob")
    graph = mesh.graph(on_behalf)
    assert graph["user"] == "bob" and graph["meta"]["submitted_by"] == "wendy"


def test_a_user_cannot_cancel_another_users_job_but_an_operator_can(
        mesh: Mesh, people: dict[str, KeyPair]) -> None:
    graph_id = submit_as(mesh, people["alice"], "long", cmd="sleep 60")
    with pytest.raises(MeshRequestError) as refused:
        client(mesh, people["bob"]).request("EDIT", action="cancel", args={"id": graph_id})
    assert refused.value.code == ErrorCode.FORBIDDEN
    assert "needs role operator" in str(refused.value) and "'alice'" in str(refused.value)
    assert mesh.graph(graph_id)["status"] != int(NodeStatus.CANCELED)
    with pytest.raises(MeshRequestError) as node_edit:  # render nodes are the wranglers'
        client(mesh, people["alice"]).request("EDIT", action="node_pause", args={"name": "rn1"})
    assert node_edit.value.code == ErrorCode.FORBIDDEN
    client(mesh, people["wendy"]).request("EDIT", action="cancel", args={"id": graph_id})
    mesh.wait_graph(graph_id, {int(NodeStatus.CANCELED)})
    with pytest.raises(MeshRequestError) as step_down:  # the cluster itself is the admins'
        client(mesh, people["wendy"]).request("EDIT", action="step_down", args={})
    assert step_down.value.code == ErrorCode.FORBIDDEN and "needs role admin" in str(step_down.value)


def test_a_log_is_served_to_its_owner_and_operators_only(mesh: Mesh, people: dict[str, KeyPair]) -> None:
    graph_id = submit_as(mesh, people["alice"], "talks", cmd="echo secret-output")
    mesh.wait_graph(graph_id, {DONE})
    command = client(mesh, people["alice"]).request("QUERY", what="commands", args={"id": graph_id})["items"][0]
    node = mesh.agents[command["last_node"]].address

    def read(key: KeyPair) -> str:
        data = MeshClient(node=node, key=key, timeout=5.0).request_at(
            node, "LOGS", command_id=command["id"], offset=0, limit=4096)
        return str(data["data"])

    assert "secret-output" in read(people["alice"])
    assert "secret-output" in read(people["wendy"])
    with pytest.raises(MeshRequestError) as refused:
        read(people["bob"])
    assert refused.value.code == ErrorCode.FORBIDDEN


def test_a_revoked_key_is_refused_from_its_next_message_even_on_an_open_connection(
        mesh: Mesh, people: dict[str, KeyPair]) -> None:
    with raw_peer(mesh.agents[mesh.leader()].address, key=people["bob"]) as bob:
        assert isinstance(bob.ask(QueryMessage("q0", "status", {})), ResultMessage)
        revoke(mesh, "bob")

        def refused() -> bool:
            reply = bob.ask(QueryMessage("q", "status", {}))
            return isinstance(reply, ErrorMessage) and reply.code == ErrorCode.FORBIDDEN

        wait_for(refused, 10, "bob's open connection to be refused once his key is revoked")
    with pytest.raises(MeshUnreachableError):  # and a new connection is refused at the handshake
        client(mesh, people["bob"], tries=1, timeout=1.0).request("QUERY", what="status", args={})
    assert client(mesh, people["alice"]).request("QUERY", what="status", args={})["secured"] is True


def test_only_a_node_key_speaks_the_worker_protocol(mesh: Mesh, people: dict[str, KeyPair], tmp_path: Path) -> None:
    hello = HelloMessage(name="rn1", endpoint="tcp://127.0.0.1:1", pools=["default"], cores=64, ram_mb=1 << 20,
                         free_ram_mb=1 << 20, slots=64, characteristics={}, performance=10.0, running=[],
                         last_epoch=0, pipeline=0)
    with raw_peer(mesh.agents[mesh.leader()].address, b"rn1#x", key=people["wendy"]) as impostor:
        reply = impostor.ask(hello)
    assert isinstance(reply, ErrorMessage) and reply.code == ErrorCode.FORBIDDEN
    # An agent whose own key is not registered is refused at the handshake: it never links.
    assert mesh.keys is not None
    rogue_keys = tmp_path / "rogue-keys"
    rogue_keys.mkdir(mode=0o700)
    for shared in ("zookeeper", "cluster.key", "cluster.key_secret"):
        (rogue_keys / shared).write_bytes((mesh.keys / shared).read_bytes())
        (rogue_keys / shared).chmod(0o600)
    create_key_pair(rogue_keys, "agent")
    registered = mesh.keys
    mesh.keys = rogue_keys
    try:
        mesh.start_agent("rogue")
    finally:
        mesh.keys = registered
    leader = mesh.leader()
    wait_for(lambda: mesh.agent_log(leader).count("refused a CURVE handshake") >= 1, 20,
             "the leader to refuse the rogue agent's handshake")
    status = client(mesh, people["wendy"]).request("QUERY", what="status", args={})
    assert all(n["name"] != "rogue" or n["state"] not in ("idle", "busy") for n in status["nodes"])


def test_after_a_failover_the_new_leader_enforces_the_same_roles(mesh: Mesh, people: dict[str, KeyPair]) -> None:
    graph_id = submit_as(mesh, people["alice"], "survives", cmd="sleep 60")
    old = mesh.leader()
    mesh.kill9(old)
    wait_for(lambda: (s := mesh.status()) is not None and s["leader"] != old, 30, "a new leader")
    with pytest.raises(MeshRequestError) as refused:
        client(mesh, people["bob"]).request("EDIT", action="cancel", args={"id": graph_id})
    assert refused.value.code == ErrorCode.FORBIDDEN
    client(mesh, people["alice"]).request("EDIT", action="cancel", args={"id": graph_id})
    mesh.wait_graph(graph_id, {int(NodeStatus.CANCELED)})


def test_an_open_mesh_runs_only_when_told_insecure_and_says_so(
        zookeeper: ZooKeeperServer, zk_cluster: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PULI_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.puli-mesh/key either: an open mesh's client
    open_mesh = Mesh(zookeeper, f"{zk_cluster}-open", tmp_path)
    try:
        open_mesh.start_agent("plain")  # keys None: started with --insecure
        status = open_mesh.wait_ready(1)
        assert status["secured"] is False
        assert "INSECURE mesh" in open_mesh.agent_log("plain")
        address = open_mesh.agents["plain"].address
        shown = subprocess.run([sys.executable, "-m", "puli_mesh", "status", "--node", address],
                               capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "200"})
        assert shown.returncode == 0 and "INSECURE" in shown.stdout
    finally:
        open_mesh.stop()

"""Peers that lie (issue 12, "peers are believed"), speaking the worker protocol by hand over a raw
DEALER to a real leader: results and licence releases for commands they do not hold, an identity
taken over on the ROUTER, a HELLO claiming commands it does not run, attempt tokens read from a
client query. (A HELLO from a non-member is ``test_bad_input.py``'s.)

Each test ends with "a new graph still runs to DONE and nothing earlier was lost"."""

from __future__ import annotations

from typing import Any

from puli_mesh.protocol import (
    AckMessage,
    AssignMessage,
    AssignsMessage,
    ByeMessage,
    ErrorCode,
    ErrorMessage,
    HelloMessage,
    Message,
    ReadyMessage,
    ReleaseMessage,
    UpdateMessage,
    UpdatesMessage,
    WelcomeMessage,
)
from puliclient import Graph
from puliclient.status import CommandStatus, NodeStatus

from .conftest import Mesh, wait_for
from .hostile_peer import assert_farm_runs, fake_member, one_task_graph, raw_peer, run_to_done, submit

DONE = int(NodeStatus.DONE)
RUNNING = int(CommandStatus.RUNNING)
TOKENS = range(4)
"""The attempt tokens a liar tries: a command's first attempts."""


def hello(name: str, running: list[list[int]] | None = None, slots: int = 4) -> HelloMessage:
    return HelloMessage(name=name, endpoint="tcp://127.0.0.1:1", pools=["default"], cores=64, ram_mb=1 << 20,
                        free_ram_mb=1 << 20, slots=slots, characteristics={}, performance=10.0,
                        running=running or [], last_epoch=0, pipeline=0)


def command(mesh: Mesh, command_id: int) -> dict[str, Any]:
    return dict(mesh.client_any().request("QUERY", what="command", args={"id": command_id}))


def commands_of(mesh: Mesh, graph_id: int) -> list[dict[str, Any]]:
    return list(mesh.client_any().request("QUERY", what="commands", args={"id": graph_id})["items"])


def running_command(mesh: Mesh, name: str, seconds: float = 4.0) -> tuple[int, int]:
    """Submit a one-command graph sleeping ``seconds``; (graph id, command id) once it runs."""
    graph_id = submit(mesh, one_task_graph(name, f"sleep {seconds}"))
    (cmd,) = wait_for(lambda: [c for c in commands_of(mesh, graph_id) if c["status"] == RUNNING], 30,
                      f"{name} to run")
    return graph_id, int(cmd["id"])


def waiting_command(mesh: Mesh, name: str) -> tuple[int, int]:
    """A one-command graph that no node can take (it asks more RAM than any has): it stays READY."""
    graph = Graph(name)
    graph.addNewTask(name, {"cmd": "true"}, ramUse=1 << 40)
    graph_id = submit(mesh, graph.prepareGraphRepresentation())
    (cmd,) = commands_of(mesh, graph_id)
    assert cmd["status"] == int(CommandStatus.READY), cmd
    return graph_id, int(cmd["id"])


def acked(messages: list[Message], command_id: int, token: int | None = None) -> bool:
    return any(a[0] == command_id and token in (None, a[1])
               for m in messages if isinstance(m, AckMessage) for a in m.acks)


def test_results_and_releases_from_a_node_that_does_not_hold_the_command_are_ignored(mesh: Mesh) -> None:
    mesh.start_agent("rn1")
    mesh.wait_ready(1)
    before = run_to_done(mesh, "before")
    held, cmd = running_command(mesh, "held")
    with fake_member(mesh, "thief"), raw_peer(mesh.agents["rn1"].address, b"thief") as thief:
        assert isinstance(thief.ask(hello("thief", slots=0)), WelcomeMessage)
        seq = 0
        for token in TOKENS:
            for status in (CommandStatus.DONE, CommandStatus.ERROR, None):
                seq += 1
                thief.send(UpdateMessage(cmd, token, seq, None if status is None else int(status), 1.0,
                                         "forged", {"forged": True}))
            seq += 1
            thief.send(UpdatesMessage([UpdateMessage(cmd, token, seq, int(CommandStatus.CANCELED), 1.0, "forged",
                                                     None).to_map()], None))
            thief.send(ReleaseMessage(cmd, token, "anything"))
        got = thief.drain(1.0)
        seen = command(mesh, cmd)
        assert seen["status"] == RUNNING and seen["message"] != "forged" and "forged" not in seen["stats"], seen
        assert not acked(got, cmd, token=1), got  # the attempt rn1 runs
        # An attempt nobody holds is stale: acknowledged (a worker must stop sending it again),
        # neither applied nor journalled (the service's unit test counts the records).
        thief.send(ByeMessage())
    mesh.wait_graph(held, {DONE})
    assert command(mesh, cmd)["attempts"] == 1
    assert_farm_runs(mesh, {before: DONE, held: DONE})


def test_attempt_tokens_stay_inside_the_mesh(mesh: Mesh) -> None:
    """A client may see attempts, never the token that a worker's messages are checked against."""
    mesh.start_agent("rn1")
    mesh.wait_ready(1)
    graph_id = run_to_done(mesh, "secret")
    (cmd,) = commands_of(mesh, graph_id)
    for view in (cmd, command(mesh, int(cmd["id"])), mesh.graph(graph_id)):
        assert "attempt_token" not in str(view) and "token" not in str(sorted(_keys(view))), view
    assert_farm_runs(mesh, {graph_id: DONE})


def _keys(value: Any) -> set[str]:
    keys: set[str] = set()
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            keys |= set(map(str, v))
            stack += v.values()
        elif isinstance(v, list):
            stack += v
    return keys


def test_an_identity_cannot_be_taken_over_on_the_router(mesh: Mesh) -> None:
    """An intruder connects with a live node's name as its DEALER identity and says HELLO with
    nothing running: the node's command must not be dropped, and nothing is assigned to it."""
    mesh.start_agent("rn1")
    mesh.wait_ready(1)
    before = run_to_done(mesh, "before")
    held, cmd = running_command(mesh, "held")
    with raw_peer(mesh.agents["rn1"].address, b"rn1") as intruder:
        intruder.send(hello("rn1"))
        intruder.send(ReadyMessage(4))
        waiting = submit(mesh, one_task_graph("bait"))
        got = intruder.drain(2.0)
        assert not [m for m in got if isinstance(m, WelcomeMessage | AssignMessage | AssignsMessage)], got
    mesh.wait_graph(held, {DONE})
    seen = command(mesh, cmd)
    assert seen["attempts"] == 1 and seen["status"] == int(CommandStatus.DONE), seen
    mesh.wait_graph(waiting, {DONE})
    assert_farm_runs(mesh, {before: DONE, held: DONE, waiting: DONE})


def test_a_hello_cannot_reattach_commands_it_does_not_run(mesh: Mesh) -> None:
    """A member says HELLO listing, as "running", a READY command and a command another node runs:
    neither is kept for it, neither changes hands."""
    mesh.start_agent("rn1")
    mesh.wait_ready(1)
    before = run_to_done(mesh, "before")
    parked, ready_cmd = waiting_command(mesh, "parked")
    held, running_cmd = running_command(mesh, "held")
    claims = [[c, t] for c in (ready_cmd, running_cmd) for t in TOKENS]
    with fake_member(mesh, "liar"), raw_peer(mesh.agents["rn1"].address, b"liar") as liar:
        welcome = liar.ask(hello("liar", running=claims, slots=0))
        assert isinstance(welcome, WelcomeMessage), welcome
        assert ready_cmd not in welcome.keep and running_cmd not in welcome.keep, welcome
        assert command(mesh, ready_cmd)["status"] == int(CommandStatus.READY)
        seen = command(mesh, running_cmd)
        assert seen["status"] == RUNNING and seen["render_node"] == "rn1", seen
        liar.send(ByeMessage())
    mesh.wait_graph(held, {DONE})
    assert command(mesh, running_cmd)["attempts"] == 1
    assert command(mesh, ready_cmd)["status"] == int(CommandStatus.READY)
    assert_farm_runs(mesh, {before: DONE, held: DONE, parked: int(NodeStatus.READY)})


def test_a_peer_using_a_nodes_name_as_routing_id_neither_takes_its_link_nor_its_work(mesh: Mesh) -> None:
    """The worker's routing id used to be its name, and the ROUTER handed a routing id over to
    whoever connected with it last: a stranger connecting as ``b"member"`` received the node's
    ASSIGNs and spoke as it. Now only the routing id of an accepted HELLO speaks for a node."""
    mesh.start_agent("member")
    mesh.wait_ready(1)
    with raw_peer(mesh.agents["member"].address, b"member") as intruder:
        refused = intruder.ask(ReadyMessage(8))  # asks for work as the node
        assert isinstance(refused, ErrorMessage) and refused.code == ErrorCode.HELLO_FIRST, refused
        graph_id = run_to_done(mesh, "while-the-intruder-listens")  # the member got and ran it
        assert intruder.recv(0.2) is None, "the intruder received something meant for the node"
    names = [n["name"] for n in mesh.client_any().request("QUERY", what="status", args={})["nodes"]]
    assert names == ["member"]
    assert_farm_runs(mesh, {graph_id: DONE})

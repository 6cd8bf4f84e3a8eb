"""Fuzzing a real leader: hypothesis-generated protocol messages and graph representations, valid
and near-valid, thrown over raw DEALER sockets at a real agent process leading a real ZooKeeper
cluster. After every example the agent is alive and answers ``status``; after every batch a
small graph still runs to DONE.

What is generated:

* messages of every kind of ``protocol.KINDS``, each field valid for its type or hostile (wrong
  type, ints at and past int64, NaN and infinities, strings up to 1 MB, maps nested up to
  msgpack's 1,024 levels, big lists), fields dropped, unknown fields added; sent as a client and
  as a worker that is a ZooKeeper member (it says HELLO, in its own pool, so that it never takes
  the farm's work);
* graph representations: built with ``puliclient`` then broken (a key dropped or made hostile,
  cycles, references out of range), or deep (nested groups up to 1,000) or wide;
* garbage: random bytes, unknown kinds, other protocol versions, several frames.

Runs are bounded and repeatable: a fixed number of examples drawn with fixed seeds, no shrinking
(each example costs real round trips; a failure prints the example as it was), no example
database. The shapes that stopped the farm before issue 12 are explicit examples, tried first.
Not here: the hostile classes of issue 12 one by one (``test_hostile_*.py``).
"""

from __future__ import annotations

import collections.abc
import dataclasses
import math
import types
import typing
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, Phase, assume, example, given, seed, settings
from hypothesis import strategies as st

from puli_mesh.client import MeshClient, MeshRequestError, MeshUnreachableError
from puli_mesh.coordinator.client_queries import QUERIES
from puli_mesh.coordinator.edit_actions import EDIT_ACTIONS
from puli_mesh.errors import ProtocolError
from puli_mesh.protocol import KINDS, PROTOCOL_VERSION, HelloMessage, SubmitMessage
from puliclient import Graph

from .conftest import Mesh
from .hostile_peer import RawPeer, deep_groups, deepest_submit, fake_member, nested_value, one_task_graph, run_to_done

FUZZER = "fuzzer"
"""The ZooKeeper member the fuzzer speaks as; its HELLOs put it in its own pool."""
FUZZ_POOL = "fuzz-only"
NEVER_FITS_MB = 1 << 40
"""A ``ramUse`` no node has: a wide graph's commands wait instead of filling the farm."""
BATCHES = 3
"""Batches of ``max_examples`` examples, each followed by a graph run to DONE; batch ``n`` draws
with the fixed seed ``SEED + n``: every run tries the same examples."""
SEED = 12
SAFE_ACTIONS = sorted(a for a in EDIT_ACTIONS if not a.startswith("node_") and a != "pool_set_nodes")
"""Edits the fuzzer may name: not those that pause, drain, re-pool or remove the one real node."""
FUZZ_SETTINGS = settings(max_examples=50, deadline=None, database=None,
                         phases=[Phase.explicit, Phase.generate], print_blob=False,
                         suppress_health_check=list(HealthCheck))

# ------------------------------------------------------------------ values
HUGE_INTS = [2**31, 2**32, 2**63 - 1, 2**63, 2**64 - 1, -(2**63), -1]
ODD_FLOATS = [math.nan, math.inf, -math.inf, -0.0, 1e308, 5e-324]
json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1),
                      st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30), st.binary(max_size=30))
json_like = st.recursive(json_leaf, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                         max_leaves=12)
hostile_value = st.one_of(
    st.sampled_from(HUGE_INTS + ODD_FLOATS + [True, False, None, "", b"\x00\xff", [], {}]),
    st.sampled_from([1_000, 65_536, 1 << 20]).map(lambda n: "x" * n),  # big strings
    st.sampled_from([2, 64, 500, 1000, 1012, 1016, 1020]).map(nested_value),  # deep maps, to msgpack's limit
    st.sampled_from([1_000, 100_000]).map(lambda n: list(range(n))),  # big lists
    st.sampled_from([1_000, 20_000]).map(lambda n: {str(i): i for i in range(n)}),  # wide maps
    json_like,
)


def valid_for(hint: Any) -> st.SearchStrategy[Any]:
    """Values of the type ``hint`` as the wire holds it (see ``protocol``'s docstring)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return json_like
    if origin is types.UnionType or origin is typing.Union:
        return st.one_of(*(valid_for(a) for a in args))
    if hint is type(None):
        return st.none()
    if hint is int:
        return st.one_of(st.integers(-3, 1000), st.integers(-(2**63), 2**63 - 1))
    if hint is float:
        return st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-3, 1000))
    if hint is str:
        return st.one_of(st.text(max_size=20), st.sampled_from(["default", FUZZER, "rn1", "[/]", "status"]))
    if hint is bool:
        return st.booleans()
    if origin in (list, collections.abc.Sequence) or hint in (list, collections.abc.Sequence):
        return st.lists(valid_for(args[0]) if args else json_like, max_size=5)
    if origin is dict or hint is dict:
        return st.dictionaries(st.text(max_size=10), valid_for(args[1]) if args else json_like, max_size=5)
    raise TypeError(f"no strategy for {hint!r}")


def fields_of(cls: type) -> dict[str, Any]:
    """Every wire field of a message class and its type; a spread part's fields included."""
    hints = typing.get_type_hints(cls)
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            out.update(fields_of(hint))  # type: ignore[arg-type]
        else:
            out[f.name] = hint
    return out


@st.composite
def message_map(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    """A map of ``kind``: each field valid or hostile, some dropped, some unknown ones added."""
    payload: dict[str, Any] = {"v": PROTOCOL_VERSION, "k": kind}
    for name, hint in fields_of(KINDS[kind]).items():
        if name == "what":
            value = draw(st.one_of(st.sampled_from(sorted(QUERIES)), valid_for(str), hostile_value))
        elif name == "action":
            value = draw(st.one_of(st.sampled_from(SAFE_ACTIONS), valid_for(str), hostile_value))
        else:
            value = draw(st.one_of(valid_for(hint), valid_for(hint), hostile_value))
        if not draw(st.integers(0, 9)) == 0:  # one field in ten is left out
            payload[name] = value
    payload.update(draw(st.dictionaries(st.text(max_size=6), json_like, max_size=2)))  # unknown fields
    payload["v"], payload["k"] = PROTOCOL_VERSION, kind
    return payload


def pack(payload: Any) -> bytes:
    try:
        return msgpack.packb(payload, use_bin_type=True)
    except (ValueError, OverflowError):  # nested past 1,024 levels with the frame's own
        assume(False)
        raise


garbage = st.one_of(
    st.binary(max_size=256),
    st.builds(lambda k, p: pack({"v": PROTOCOL_VERSION, "k": k, **p}), st.text(max_size=12),
              st.dictionaries(st.text(max_size=6), json_like, max_size=3)),  # unknown kinds
    st.builds(lambda v, k: pack({"v": v, "k": k}), st.one_of(json_leaf, st.integers(0, 9)),
              st.sampled_from(sorted(KINDS))),  # other versions
    json_like.map(pack),  # not a map
)


class Sent:
    """One message of an example: who sends it ("client" or "worker") and its frames. Printed
    short: hypothesis' printer would recurse through a deep graph and fail on its own."""

    __slots__ = ("sender", "parts", "label")

    def __init__(self, sender: str, parts: list[bytes], label: str) -> None:
        self.sender, self.parts, self.label = sender, parts, label

    def __repr__(self) -> str:
        return f"Sent({self.sender}, {self.label}, {[len(p) for p in self.parts]} bytes)"


@st.composite
def frames(draw: st.DrawFn) -> Sent:
    """A message of any kind (or garbage), from a client or from the member worker."""
    sender = draw(st.sampled_from(["client", "worker"]))
    if draw(st.integers(0, 4)) == 0:
        return Sent(sender, draw(st.lists(garbage, min_size=1, max_size=3)), "garbage")
    kind = draw(st.sampled_from(sorted(KINDS)))
    payload = draw(message_map(kind))
    if kind == HelloMessage.kind and sender == "worker" and draw(st.booleans()):
        payload["name"] = FUZZER  # a HELLO the leader takes
    if kind == HelloMessage.kind and payload.get("name") == FUZZER:
        payload["pools"] = [FUZZ_POOL]  # in its own pool: the farm's graphs never wait on the fuzzer
    return Sent(sender, [pack(payload)], kind)


def submit_of(data: dict[str, Any], label: str) -> Sent:
    """A client's SUBMIT of ``data``, encoded as the client would, or raw if it refuses to."""
    try:
        frame = SubmitMessage(f"fuzz-{label}", data).encode()
    except ProtocolError:  # too big, or beyond what the client sends: as a hostile client would
        frame = pack({"v": PROTOCOL_VERSION, "k": "SUBMIT", "rid": f"fuzz-{label}", "graph": data})
    return Sent("client", [frame], label)


# ------------------------------------------------------------------ graphs
@st.composite
def graphs(draw: st.DrawFn) -> Sent:
    """A SUBMIT of a graph representation: valid, broken, deep or wide."""
    shape = draw(st.sampled_from(["valid", "stored", "broken", "cycle", "dangling", "deep", "wide"]))
    return submit_of(draw(representations(shape)), shape)


@st.composite
def representations(draw: st.DrawFn, shape: str) -> dict[str, Any]:
    """A graph representation of ``shape``."""
    if shape == "deep":
        depth = draw(st.sampled_from([2, 63, 64, 65, 200, 1000]))
        data = _one_task()
        group, task = data["tasks"][0], data["tasks"][1]
        data["tasks"] = [{**group, "name": f"g{i}", "tasks": [i + 1]} for i in range(depth)] + [task]
        return data
    if shape == "wide":
        graph = Graph("wide")
        for i in range(draw(st.sampled_from([10, 300, 3000]))):
            graph.addNewTask(f"t{i}", {"cmd": "true"}, ramUse=NEVER_FITS_MB)
        return graph.prepareGraphRepresentation()
    graph = Graph("fuzzed")
    parent = graph
    tasks = []
    for i in range(draw(st.integers(1, 4))):
        if draw(st.booleans()):
            parent = parent.addNewTaskGroup(f"g{i}")
        tasks.append(parent.addNewTask(f"t{i}", {"cmd": "true"}))
    if len(tasks) > 1:
        graph.addEdges([(tasks[0], tasks[-1])])
    data = graph.prepareGraphRepresentation()
    data["name"] = draw(st.one_of(st.just("fuzzed"), valid_for(str)))  # past the client's own checks
    nodes = data["tasks"]
    if shape == "stored":  # valid, with a hostile value where a graph keeps free-form data
        node = nodes[draw(st.integers(0, len(nodes) - 1))]
        where = draw(st.sampled_from(["meta", "tags", "arguments", "environment", "requirements"]))
        holder = data["meta"] if where == "meta" else node.setdefault(where, {})
        if isinstance(holder, dict):
            holder[draw(st.text(max_size=8))] = draw(hostile_value)
    elif shape == "broken":
        for _ in range(draw(st.integers(1, 3))):
            node = nodes[draw(st.integers(0, len(nodes) - 1))]
            key = draw(st.sampled_from(sorted(node)))
            if draw(st.booleans()):
                del node[key]
            else:
                node[key] = draw(hostile_value)
        if draw(st.booleans()):
            data[draw(st.sampled_from(sorted(data)))] = draw(hostile_value)
    elif shape == "cycle":
        ids = [i for i, n in enumerate(nodes) if n["type"] == "Task"]
        for i, n in enumerate(nodes):
            if n["type"] == "Task":
                n["dependencies"] = [[j, [3]] for j in ids if draw(st.booleans())] or [[i, [3]]]
    elif shape == "dangling":
        where = draw(st.sampled_from(["root", "child", "dependency"]))
        bad = draw(st.sampled_from([-1, len(nodes), 10**6, 2**63 - 1]))
        if where == "root":
            data["root"] = bad
        elif where == "child":
            nodes[0]["tasks"] = [*nodes[0]["tasks"], bad]
        else:
            next(n for n in nodes if n["type"] == "Task")["dependencies"] = [[bad, [3]]]
    _only_true(data)
    return data


def _one_task() -> dict[str, Any]:
    graph = Graph("deep")
    graph.addNewTask("t", {"cmd": "true"})
    return graph.prepareGraphRepresentation()


def _only_true(data: dict[str, Any]) -> None:
    """Whatever was broken, a command that runs runs ``true``: random text never reaches a shell."""
    nodes = data.get("tasks")
    for node in nodes if isinstance(nodes, list) else []:
        if not isinstance(node, dict):
            continue
        commands = node.get("commands")
        for holder in [node, *(c for c in (commands if isinstance(commands, list) else []) if isinstance(c, dict))]:
            arguments = holder.get("arguments")
            if isinstance(arguments, dict):
                arguments["cmd"] = "true"


def known_poison_graphs() -> list[Sent]:
    """Shapes that stopped the farm before issue 12, always tried first (hypothesis' explicit
    phase): groups nested deep enough to overflow status propagation, and free-form data nested
    deep enough that a journal batch holding it cannot be packed."""
    stored_deep = one_task_graph("stored-deep")
    stored_deep["meta"] = {"x": nested_value(1016)}
    return [submit_of(deep_groups("deep-200", 200), "deep-200"), submit_of(deep_groups("deep-1000", 1000), "deep-1000"),
            submit_of(stored_deep, "stored-deep")]


def _deepest_arguments() -> bytes:
    graph = one_task_graph("deepest")
    graph["tasks"][1]["commands"][0]["arguments"]["x"] = "@DEEP@"
    return deepest_submit(graph, "@DEEP@", rid="deepest")


KNOWN_POISON_FRAMES = [Sent("client", [_deepest_arguments()], "deepest-submit")]
"""A SUBMIT nested as deep as msgpack decodes: it wedged the journal before issue 12."""


# ------------------------------------------------------------------ the runs
@pytest.fixture
def leader(mesh: Mesh) -> Mesh:
    mesh.start_agent("rn1")
    mesh.wait_ready(1)
    return mesh


def alive_and_answering(mesh: Mesh) -> None:
    proc = mesh.agents["rn1"]
    assert proc.alive(), "the leader died"
    try:
        status = MeshClient(node=proc.address, timeout=10.0, tries=1).request("QUERY", what="status", args={})
    except (MeshUnreachableError, MeshRequestError) as exc:
        raise AssertionError(f"the leader does not answer status: {exc}") from exc
    assert status["leader"] == "rn1"


class Fuzzer:
    """A client peer and a worker peer (a ZooKeeper member) on the leader's port."""

    def __init__(self, mesh: Mesh) -> None:
        address = mesh.agents["rn1"].address
        self.client = RawPeer(address)
        self.worker = RawPeer(address, FUZZER.encode())

    def send(self, sender: str, parts: list[bytes]) -> None:
        (self.client if sender == "client" else self.worker).send(*parts)

    def settle(self) -> None:
        """Read what came back (replies are not checked: the leader's survival is)."""
        for peer in (self.client, self.worker):
            while peer.socket.poll(0):
                peer.socket.recv_multipart()

    def close(self) -> None:
        self.client.close()
        self.worker.close()


def test_fuzzed_messages_never_stop_the_leader(leader: Mesh) -> None:
    with fake_member(leader, FUZZER):
        fuzzer = Fuzzer(leader)
        try:
            for batch in range(BATCHES):

                @seed(SEED + batch)
                @FUZZ_SETTINGS
                @given(st.lists(frames(), min_size=1, max_size=8))
                @example(KNOWN_POISON_FRAMES)
                def throw(messages: list[Sent]) -> None:
                    for sent in messages:
                        fuzzer.send(sent.sender, sent.parts)
                    alive_and_answering(leader)
                    fuzzer.settle()

                throw()
                run_to_done(leader, f"after-batch-{batch}", timeout=30)
        finally:
            fuzzer.close()


def test_fuzzed_graphs_never_stop_the_leader(leader: Mesh) -> None:
    peer = RawPeer(leader.agents["rn1"].address)
    try:
        for batch in range(BATCHES):

            @seed(SEED + batch)
            @FUZZ_SETTINGS
            @given(st.lists(graphs(), min_size=1, max_size=3))
            @example(known_poison_graphs())
            def throw(submits: list[Sent]) -> None:
                for sent in submits:
                    peer.send(*sent.parts)
                alive_and_answering(leader)
                while peer.socket.poll(0):
                    peer.socket.recv_multipart()

            throw()
            run_to_done(leader, f"after-graphs-{batch}", timeout=30)
    finally:
        peer.close()

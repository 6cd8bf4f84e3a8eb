"""puliclient.Farm's own logic (bulk edits, log following, error translation) against a scripted mesh."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from puli_mesh.errors import ConfigError, MeshRequestError, MeshUnreachableError
from puliclient import Graph
from puliclient.errors import (
    FarmIllegalEditError,
    FarmInvalidRequestError,
    FarmNoLeaderError,
    FarmNotFoundError,
    FarmUnreachableError,
    GraphError,
)
from puliclient.farm import Farm, FarmError
from puliclient.query_fields import node_listing


class ScriptedFarm(Farm):
    """A Farm whose requests are answered by a function of the test."""

    def __init__(self, answer: Any) -> None:
        super().__init__(node="127.0.0.1:1")
        self.answer = answer
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def request(self, kind: str, **fields: Any) -> Any:
        self.calls.append((kind, fields))
        return self.answer(kind, fields)


def test_bulk_edit_applies_to_every_matching_job_and_refuses_without_a_filter() -> None:
    def answer(kind: str, fields: dict[str, Any]) -> Any:
        if kind == "QUERY":  # two pages
            assert fields["args"] in ({"user": "ana", "limit": 1000}, {"user": "ana", "limit": 1000, "cursor": 4})
            return ({"items": [{"id": 3}], "cursor": 4} if "cursor" not in fields["args"]
                    else {"items": [{"id": 5}], "cursor": None})
        return {"ok": True}

    farm = ScriptedFarm(answer)
    assert farm.edit_jobs("restart", errors_only=True, user="ana") == [3, 5]
    edits = [f for k, f in farm.calls if k == "EDIT"]
    assert edits == [{"action": "restart", "args": {"id": 3, "errors_only": True}},
                     {"action": "restart", "args": {"id": 5, "errors_only": True}}]
    with pytest.raises(FarmError, match="give at least one filter"):
        farm.edit_jobs("cancel")


def test_listings_are_read_page_after_page_up_to_the_limit() -> None:
    def answer(kind: str, fields: dict[str, Any]) -> Any:
        after = fields["args"].get("cursor", 0)
        ids = [i for i in range(after + 1, 12) if i % 2][:fields["args"]["limit"]]
        return {"items": [{"id": i} for i in ids], "cursor": ids[-1] if ids and ids[-1] < 11 else None}

    farm = ScriptedFarm(answer)
    assert [c["id"] for c in farm.commands(graph=7)] == [1, 3, 5, 7, 9, 11]
    farm.calls.clear()
    assert [j["id"] for j in farm.jobs(user="ana", limit=2)] == [1, 3]
    assert [f["args"] for _, f in farm.calls] == [{"user": "ana", "limit": 2}]


def test_status_asks_for_a_bounded_page_of_nodes_only_when_told() -> None:
    farm = ScriptedFarm(lambda kind, fields: {"nodes": []})
    farm.status()
    farm.status(nodes_limit=10)
    assert [f["args"] for _, f in farm.calls] == [{}, {"nodes_limit": 10}]  # the plain one as before


def test_a_node_name_filter_is_a_glob() -> None:
    nodes = [{"name": n, "state": "idle", "pools": ["default"]} for n in ("rn1", "rn12", "gpu1", "[x]")]
    farm = ScriptedFarm(leader_node_rows(nodes))
    assert [n["name"] for n in farm.nodes(name="rn1*")] == ["rn1", "rn12"]
    assert [n["name"] for n in farm.nodes(name="[x]")] == ["[x]"]  # no character classes
    with pytest.raises(FarmInvalidRequestError, match="above the 256-character limit"):
        farm.nodes(name="*" * 300)


def test_follow_log_reads_on_until_the_command_is_final_and_drained() -> None:
    log = b"line 1\nline 2\nline 3\n"
    state = {"reads": 0}

    def answer(kind: str, fields: dict[str, Any]) -> Any:
        if kind == "QUERY" and fields["what"] == "command":
            final = state["reads"] >= 3
            return {"id": 9, "status": 5 if final else 3, "status_name": "DONE" if final else "RUNNING",
                    "render_node": None if final else "rn1", "last_node": "rn1"}
        if kind == "QUERY" and fields["what"] == "status":
            return {"nodes": [{"name": "rn1", "endpoint": "tcp://127.0.0.1:2"}]}
        raise AssertionError(kind)

    farm = ScriptedFarm(answer)

    def read_log(command_id: int, offset: int = 0, limit: int = 0) -> dict[str, Any]:
        state["reads"] += 1
        visible = log[: 7 * min(state["reads"], 3)]  # the log grows by one line per read
        chunk = visible[offset:offset + 7]
        return {"data": chunk, "next_offset": offset + len(chunk), "size": len(visible)}

    farm.read_log = read_log  # type: ignore[method-assign]
    assert b"".join(farm.follow_log(9, interval=0.0)) == log


def test_a_command_that_never_ran_has_no_log() -> None:
    farm = ScriptedFarm(lambda kind, fields: {"id": 4, "status": 1, "status_name": "READY",
                                              "render_node": None, "last_node": None})
    with pytest.raises(FarmNotFoundError, match="has not run yet") as info:
        farm.read_log(4)
    assert info.value.code == "not_found"  # scripts written before the classes test the code


class StubWire:
    """An in-memory mesh client: records what the Farm sends, answers with ``answer``."""

    def __init__(self, answer: Callable[[str, dict[str, Any]], Any]) -> None:
        self.answer = answer
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.licences: dict[str, int] = {}
        self.pools: dict[str, list[str]] = {"default": ["rn1", "rn2"]}

    def request(self, kind: str, **fields: Any) -> Any:
        self.sent.append((kind, fields))
        return self.answer(kind, fields)

    def request_at(self, endpoint: str, kind: str, **fields: Any) -> Any:
        return self.request(kind, endpoint=endpoint, **fields)

    def set_licence(self, name: str, total: int) -> None:
        if total < 0:
            raise ConfigError(f"licence {name!r}: total must be 0 or more, got {total}")
        self.licences[name] = total

    def define_pool(self, name: str) -> None:
        self.pools.setdefault(name, [])

    def pool_members(self) -> dict[str, list[str]]:
        return dict(sorted(self.pools.items()))


def refusing(code: str, message: str) -> Callable[[str, dict[str, Any]], Any]:
    def answer(kind: str, fields: dict[str, Any]) -> Any:
        raise MeshRequestError(code, message)

    return answer


@pytest.mark.parametrize(("code", "cls"), [("not_found", FarmNotFoundError), ("illegal", FarmIllegalEditError),
                                           ("invalid", FarmInvalidRequestError), ("no_leader", FarmNoLeaderError)])
def test_a_refusal_of_the_mesh_arrives_as_the_class_of_its_code(code: str, cls: type[FarmError]) -> None:
    farm = Farm(client=StubWire(refusing(code, "graph 7 is not paused")))  # type: ignore[arg-type]
    with pytest.raises(cls, match="graph 7 is not paused") as info:
        farm.resume(7)
    assert info.value.code == code and isinstance(info.value, FarmError)


def test_silence_is_unreachable_not_a_refusal() -> None:
    def silent(kind: str, fields: dict[str, Any]) -> Any:
        raise MeshUnreachableError("no mesh reachable at 10.0.0.1:8004: no answer within 10s")

    farm = Farm(client=StubWire(silent))  # type: ignore[arg-type]
    with pytest.raises(FarmUnreachableError) as info:
        farm.status()
    assert not isinstance(info.value, FarmError)


def test_log_reads_are_translated_the_same_way() -> None:
    def answer(kind: str, fields: dict[str, Any]) -> Any:
        if kind == "QUERY" and fields["what"] == "command":
            return {"id": 4, "status": 7, "status_name": "ERROR", "render_node": None, "last_node": "rn1"}
        if kind == "QUERY" and fields["what"] == "status":
            return {"nodes": [{"name": "rn1", "endpoint": "tcp://127.0.0.1:2"}]}
        raise MeshRequestError("not_found", "node rn1 has no log for command 4")

    wire = StubWire(answer)
    with pytest.raises(FarmNotFoundError, match="no log for command 4"):
        Farm(client=wire).read_log(4)  # type: ignore[arg-type]
    assert wire.sent[-1] == ("LOGS", {"endpoint": "tcp://127.0.0.1:2", "command_id": 4, "offset": 0,
                                      "limit": 256 * 1024})


def test_step_down_names_the_leader_handing_over() -> None:
    wire = StubWire(lambda kind, fields: {"leader": "agent-2"})
    assert Farm(client=wire).step_down() == "agent-2"  # type: ignore[arg-type]
    assert wire.sent == [("EDIT", {"action": "step_down", "args": {}})]


def test_submit_sends_the_validated_representation_and_names_the_graph_in_a_refusal() -> None:
    graph = Graph("shot010", poolName="gpu")
    graph.addNewTask("render", {"cmd": "echo %%MI_FRAME%%", "start": 1, "end": 2})
    wire = StubWire(lambda kind, fields: {"url": "puli://agent-1/nodes/12", "message": "Graph created."})
    farm = Farm(client=wire)  # type: ignore[arg-type]
    assert farm.submit(graph) == ("puli://agent-1/nodes/12", "Graph created.")
    ((kind, fields),) = wire.sent
    assert kind == "SUBMIT" and fields["graph"]["name"] == "shot010" and fields["graph"]["poolName"] == "gpu"

    farm = Farm(client=StubWire(refusing("not_found", "pool 'gpu' is not defined")))  # type: ignore[arg-type]
    with pytest.raises(FarmNotFoundError, match="the mesh refused graph 'shot010': pool 'gpu' is not defined"):
        farm.submit(graph)

    broken = Graph("cyclic")
    a = broken.addNewTask("a", {"cmd": "true"})
    b = broken.addNewTask("b", {"cmd": "true"})
    a.dependsOn(b)
    b.dependsOn(a)
    wire = StubWire(lambda kind, fields: pytest.fail("a malformed graph must not be sent"))
    with pytest.raises(GraphError):
        Farm(client=wire).submit(broken)  # type: ignore[arg-type]


def test_cluster_settings_go_through_the_wire_and_bad_values_are_invalid_requests() -> None:
    wire = StubWire(lambda kind, fields: pytest.fail("the Farm calls the client's settings methods"))
    farm = Farm(client=wire)  # type: ignore[arg-type]
    farm.set_licence("mtoa", 20)
    farm.define_pool("gpu")
    assert wire.licences == {"mtoa": 20}
    assert farm.cluster_pools() == [{"name": "default", "nodes": ["rn1", "rn2"]}, {"name": "gpu", "nodes": []}]
    with pytest.raises(FarmInvalidRequestError, match="must be 0 or more") as info:
        farm.set_licence("mtoa", -1)
    assert info.value.code == "invalid"


def test_node_edits_are_one_edit_each_with_none_clearing_an_override() -> None:
    farm = ScriptedFarm(lambda kind, fields: {"ok": True})
    farm.set_node_pools("rn1", ("gpu",))
    farm.set_node_pools("rn1", None)
    farm.set_node_performance("rn1", 1.5)
    farm.set_pool_nodes("gpu", ["rn1", "rn2"])
    farm.remove_node("rn3")
    assert [f for _k, f in farm.calls] == [
        {"action": "node_set", "args": {"name": "rn1", "values": {"pools": ["gpu"]}}},
        {"action": "node_set", "args": {"name": "rn1", "values": {"pools": None}}},
        {"action": "node_set", "args": {"name": "rn1", "values": {"performance": 1.5}}},
        {"action": "pool_set_nodes", "args": {"pool": "gpu", "names": ["rn1", "rn2"]}},
        {"action": "node_remove", "args": {"name": "rn3"}},
    ]


def test_run_time_edits_name_their_edit_actions_and_a_user_change_is_its_own_edit() -> None:
    farm = ScriptedFarm(lambda kind, fields: {"ok": True})
    farm.set(7, timer=None, maxAttempt=3, user="bob")
    farm.set_environment(7, {"SHOT": "010", "OLD": None})
    farm.set_arguments(8, {"cmd": "echo"})
    farm.restart(7, cascade=False)
    farm.restart_command(57, cascade=False)
    farm.set_command(57, description="d", arguments={"start": 3})
    farm.done_command(57)
    assert [f for _k, f in farm.calls] == [
        {"action": "set", "args": {"id": 7, "values": {"timer": None, "maxAttempt": 3}}},
        {"action": "set_user", "args": {"id": 7, "user": "bob"}},
        {"action": "environment", "args": {"id": 7, "environment": {"SHOT": "010", "OLD": None}}},
        {"action": "arguments", "args": {"id": 8, "arguments": {"cmd": "echo"}}},
        {"action": "restart", "args": {"id": 7, "errors_only": False, "cascade": False}},
        {"action": "command_restart", "args": {"id": 57, "cascade": False}},
        {"action": "command_set", "args": {"id": 57, "description": "d", "arguments": {"start": 3}}},
        {"action": "command_done", "args": {"id": 57}},
    ]


def test_jobs_pass_time_ranges_to_the_leader_and_sort_every_match_before_the_limit() -> None:
    rows = [{"id": 1, "creation_time": 30.0}, {"id": 2, "creation_time": 10.0}, {"id": 3, "creation_time": 20.0}]
    farm = ScriptedFarm(lambda kind, fields: {"items": rows, "cursor": None})
    assert [j["id"] for j in farm.jobs(started_after=5.0, ended_before=9.0, sort="creationTime", limit=2)] == [2, 3]
    assert [f["args"] for _, f in farm.calls] == [{"started_after": 5.0, "ended_before": 9.0, "limit": 1000}]
    assert [j["id"] for j in farm.jobs(sort="creation_time", reverse=True)] == [1, 3, 2]
    by_id = ScriptedFarm(lambda kind, fields: {"items": sorted(rows, key=lambda r: r["id"],
                                                               reverse=fields["args"].get("newest_first", False)),
                                               "cursor": None})
    assert [j["id"] for j in by_id.jobs(reverse=True, limit=2)] == [3, 2]  # the newest, paged by the leader
    assert [f["args"] for _, f in by_id.calls] == [{"newest_first": True, "limit": 2}]
    with pytest.raises(FarmInvalidRequestError, match="unknown field 'colour'; known: id, name"):
        farm.jobs(sort="colour")


def leader_node_rows(nodes: list[dict[str, Any]]) -> Any:
    """A leader answering ``node_rows`` over ``nodes`` by its own rule, its refusal as the wire's ``invalid``."""
    def answer(kind: str, fields: dict[str, Any]) -> Any:
        assert (kind, fields["what"]) == ("QUERY", "node_rows")
        try:
            return node_listing(nodes, fields["args"])
        except ValueError as exc:
            raise FarmInvalidRequestError(str(exc)) from exc

    return answer


def test_nodes_are_filtered_sorted_and_sliced_at_the_leader() -> None:
    nodes = [{"name": f"rn{i}", "state": "idle", "pools": ["default"], "cores": i} for i in range(1, 6)]
    farm = ScriptedFarm(leader_node_rows(nodes))
    assert [n["name"] for n in farm.nodes(sort="cores", reverse=True, offset=1, limit=2)] == ["rn4", "rn3"]
    assert farm.node_page(cores="+3", limit=1) == {"items": [nodes[3]], "total": 2}
    assert [f["args"] for _, f in farm.calls] == [{"sort": "cores", "reverse": True, "offset": 1, "limit": 2},
                                                 {"cores": "+3", "limit": 1}]
    farm.calls.clear()
    farm.nodes(cores=0)  # exactly 0 cores is a bound, not "no filter"
    assert [f["args"] for _, f in farm.calls] == [{"cores": 0}]
    for bad in ({"limit": 0}, {"offset": -1}, {"limit": True}):
        with pytest.raises(FarmInvalidRequestError, match="whole number"):
            farm.nodes(**bad)


def test_nodes_take_pul_rn_constraints_and_sort() -> None:
    nodes = [{"name": "rn1", "state": "idle", "pools": ["default"], "performance": 1.0, "ram_mb": 8000, "cores": 8},
             {"name": "rn2", "state": "busy", "pools": ["gpu"], "performance": 3.0, "ram_mb": 64000, "cores": 32},
             {"name": "rn3", "state": "idle", "pools": ["gpu"], "performance": 2.5, "ram_mb": 32000, "cores": 16}]
    farm = ScriptedFarm(leader_node_rows(nodes))
    assert [n["name"] for n in farm.nodes(speed="+2")] == ["rn2", "rn3"]
    assert [n["name"] for n in farm.nodes(ram="-40000", cores="+8")] == ["rn3"]
    assert [n["name"] for n in farm.nodes(cores=32)] == ["rn2"]
    assert [n["name"] for n in farm.nodes(name=["rn1", "rn3"], sort="ramSize", reverse=True)] == ["rn3", "rn1"]
    assert [n["name"] for n in farm.nodes(sort="speed")] == ["rn1", "rn3", "rn2"]
    with pytest.raises(FarmInvalidRequestError, match="ram: write \\+N"):
        farm.nodes(ram="lots")
    with pytest.raises(FarmInvalidRequestError, match="unknown field 'tags:prod'; known: name, state"):
        farm.nodes(sort="tags:prod")


def test_a_tag_may_be_called_node_id_as_any_other() -> None:
    """The id is positional only: a studio's tag ``node_id`` is a tag, not the id twice."""
    farm = ScriptedFarm(lambda kind, fields: {"ok": True})
    farm.set_tags(7, node_id="rn12", prod=None)
    assert [f for _k, f in farm.calls] == [{"action": "tags", "args": {"id": 7, "tags": {"node_id": "rn12",
                                                                                         "prod": None}}}]

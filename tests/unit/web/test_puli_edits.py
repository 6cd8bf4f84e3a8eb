"""Puli's edit endpoints beyond a node's own (``web.puli_edits``) and the models' edits over HTTP,
over a real scheduling core without sockets (FastAPI's TestClient in front, ``CoreWire`` behind)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from puli_mesh.web.app import create_app
from puli_mesh.web.puli_edits import command_time_bound, time_admits
from puliclient.farm import Farm
from puliclient.model.command import CommandModel
from puliclient.server.queueHandler import QueueHandler
from puliclient.server.renderNodeHandler import RenderNodeHandler
from puliclient.status import CommandStatus, NodeStatus
from puliclient.strategies import FIFO_STRATEGY
from tests.unit.client.test_server_model import CoreWire, submit
from tests.unit.web.test_puli_http import CREATED, CoreContext, http_server


class LicenceWire(CoreWire):
    """The stub wire, with the cluster setting a licence total needs (the core's own rule)."""

    def set_licence(self, name: str, total: int) -> None:
        self.core.set_licence(name, total, self.now)


@pytest.fixture
def wire() -> LicenceWire:
    wire = LicenceWire()
    wire.now = CREATED
    submit(wire, "shot010_light", "alice", tags={"prod": "film"})
    submit(wire, "shot020_comp", "bob", tags={"prod": "ad"})
    submit(wire, "test_shot030", "alice", tags={"prod": "film"})
    wire.join("rn1", ["default"])
    wire.join("rn2", ["default"])
    return wire


@pytest.fixture
def http(wire: LicenceWire) -> TestClient:
    return TestClient(create_app(CoreContext(wire)))  # type: ignore[arg-type]


def farm(wire: CoreWire) -> Farm:
    return Farm(client=wire)  # type: ignore[arg-type]


def job(wire: CoreWire, name: str) -> dict[str, Any]:
    return next(g for g in farm(wire).jobs() if g["name"] == name)


def node(wire: CoreWire, name: str) -> dict[str, Any]:
    return next(n for n in farm(wire).status()["nodes"] if n["name"] == name)


# ------------------------------------------------------------------ pure rules
def test_a_command_start_time_bound_reads_pulis_prefixes() -> None:
    at = datetime(2026, 3, 1, 12).timestamp()
    assert command_time_bound(">2026-03-01 12:00:00") == (">", at)
    assert command_time_bound("<2026-03-01 12:00:00") == ("<", at)
    assert command_time_bound("2026-03-01 12:00:00") == (">=", at)
    assert time_admits((">", at), at + 1) and not time_admits((">", at), at) and time_admits((">=", at), at)
    assert time_admits(("<", at), at - 1) and not time_admits(("<", at), None)
    with pytest.raises(ValueError, match="constraint_starttime"):
        command_time_bound(">yesterday")


# ------------------------------------------------------------------ bulk edits
def test_bulk_pause_pauses_the_jobs_the_constraints_find_and_answers_pulis_summary(http: TestClient,
                                                                                     wire: CoreWire) -> None:
    reply = http.put("/pause", params={"constraint_user": "alice"})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert set(body["summary"]) == {"editedCount", "filteredCount", "totalInDispatcher", "requestTime",
                                    "requestDate"}
    assert (body["summary"]["editedCount"], body["summary"]["filteredCount"],
            body["summary"]["totalInDispatcher"]) == (2, 2, 3)
    assert body["editedJobs"] == [job(wire, "shot010_light")["id"], job(wire, "test_shot030")["id"]]
    assert [job(wire, n)["paused"] for n in ("shot010_light", "shot020_comp", "test_shot030")] == [True, False, True]
    again = http.put("/resume", params={"constraint_name": "shot0"}).json()  # a regex, as /query's
    assert again["editedJobs"] == [job(wire, "shot010_light")["id"]]
    assert [r["id"] for r in again["refusedJobs"]] == [job(wire, "shot020_comp")["id"]]  # not paused: skipped
    assert again["refusedJobs"][0]["code"] == "illegal" and job(wire, "shot010_light")["paused"] is False


def test_bulk_status_maxrn_and_priority(http: TestClient, wire: CoreWire) -> None:
    canceled = http.put("/edit/status", params={"update_status": int(NodeStatus.CANCELED), "constraint_prod": "ad"})
    assert canceled.json()["summary"]["editedCount"] == 1
    assert job(wire, "shot020_comp")["status"] == NodeStatus.CANCELED
    maxrn = http.put("/edit/maxrn", params={"value": 4, "constraint_user": "alice"})
    assert maxrn.json()["summary"]["editedCount"] == 2
    prio = http.put("/edit/prio", params={"value": 9, "constraint_id": job(wire, "test_shot030")["id"]})
    assert prio.status_code == 200
    assert (job(wire, "shot010_light")["maxRN"], job(wire, "test_shot030")["maxRN"]) == (4, 4)
    assert job(wire, "test_shot030")["dispatchKey"] == 9 and job(wire, "shot010_light")["dispatchKey"] != 9


@pytest.mark.parametrize(("path", "params"), [
    ("/pause", {}),  # every job: refused
    ("/pause", {"constraint_colour": "red"}),
    ("/pause", {"constraint_name": "(unclosed"}),
    ("/edit/status", {"update_status": int(NodeStatus.RUNNING), "constraint_user": "alice"}),
    ("/edit/status", {"update_status": "soon", "constraint_user": "alice"}),
    ("/edit/maxrn", {"value": -2, "constraint_user": "alice"}),
    ("/edit/prio", {"constraint_user": "alice"}),
])
def test_a_bad_bulk_edit_is_a_400_and_edits_nothing(http: TestClient, wire: CoreWire, path: str,
                                                    params: dict[str, Any]) -> None:
    reply = http.put(path, params=params)
    assert reply.status_code == 400 and reply.json()["code"] == "invalid"
    assert not any(j["paused"] for j in farm(wire).jobs())


def test_a_bulk_edit_above_the_bound_is_refused_whole(http: TestClient, wire: CoreWire,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("puli_mesh.web.puli_edits.MAX_BULK_JOBS", 2)
    reply = http.put("/pause", params={"constraint_status": int(NodeStatus.READY)})
    assert reply.status_code == 400 and "at most 2" in reply.json()["message"]
    assert not any(j["paused"] for j in farm(wire).jobs())
    assert http.put("/pause", params={"constraint_user": "alice"}).json()["summary"]["editedCount"] == 2


# ------------------------------------------------------------------ commands
def test_put_command_sets_text_and_status(http: TestClient, wire: CoreWire) -> None:
    assert http.get("/commands/2").json()["description"] == "render_1_2"
    reply = http.put("/commands/2", json={"description": "again_1_2", "arguments": {"cmd": "echo x"}})
    assert reply.status_code == 200, reply.text
    assert (farm(wire).command(2)["description"], farm(wire).command(2)["arguments"]["cmd"]) == ("again_1_2", "echo x")
    assert http.put("/commands/2", json={"status": int(CommandStatus.CANCELED)}).status_code == 200
    assert farm(wire).command(2)["status"] == CommandStatus.CANCELED
    assert http.put("/commands/2", json={"status": int(CommandStatus.READY)}).status_code == 200
    assert farm(wire).command(2)["status"] == CommandStatus.READY
    assert http.put("/commands/3", json={"status": int(CommandStatus.DONE)}).status_code == 200
    assert farm(wire).command(3)["status"] == CommandStatus.DONE
    assert http.put("/commands/3", json={"status": int(CommandStatus.RUNNING)}).status_code == 400
    assert http.put("/commands/3", json={"colour": 1}).status_code == 400
    assert http.put("/commands/3", json={"arguments": "cmd"}).status_code == 400
    assert http.put("/commands/99999", json={"status": int(CommandStatus.DONE)}).status_code == 404


def test_query_command_filters_pages_and_picks_fields(http: TestClient, wire: CoreWire) -> None:
    farm(wire).done_command(1)
    body = http.get("/query/command", params={"constraint_status": "DONE"}).json()
    assert [i["id"] for i in body["items"]] == [1] and list(body["items"][0]) == list(CommandModel.__dataclass_fields__)
    page = http.get("/query/command", params={"attr": ["id", "status"], "limit": 2, "offset": 1}).json()
    assert page["items"] == [{"id": 2, "status": 1}, {"id": 3, "status": 1}]
    assert (page["summary"]["count"], page["summary"]["totalInDispatcher"], page["summary"]["next"]) == (2, 9, 3)
    picked = http.get("/query/command", params=[("constraint_id", "4"), ("constraint_id", "2"),
                                                ("constraint_id", "99999"), ("attr", "id")])
    assert picked.json()["items"] == [{"id": 2}, {"id": 4}]
    assert http.get("/query/command", params={"constraint_starttime": ">2000-01-01 00:00:00"}).json()["items"] == []
    for bad in ({"constraint_starttime": "soon"}, {"constraint_colour": "red"}, {"constraint_status": "42"},
                {"limit": 0}, {"limit": 100_000}):
        assert http.get("/query/command", params=bad).status_code in (400, 422), bad


# ------------------------------------------------------------------ nodes, pools, licences
def test_node_strategy_pool_members_performance_quarantine_and_removal(http: TestClient, wire: CoreWire) -> None:
    graph_id = job(wire, "shot010_light")["id"]
    assert http.put(f"/nodes/{graph_id}/strategy", json={"strategy": FIFO_STRATEGY}).status_code == 200
    assert http.put(f"/nodes/{graph_id}/strategy", json={"strategy": "no.Such"}).status_code == 400
    wire.core.define_pool("gpu")
    assert http.put("/pools/gpu/rendernodes", json={"renderNodes": ["rn2"]}).status_code == 200
    assert "gpu" in node(wire, "rn2")["pools"] and "gpu" not in node(wire, "rn1")["pools"]
    assert http.put("/pools/gpu/rendernodes", json={"renderNodes": "rn2"}).status_code == 400
    assert http.put("/rendernodes/performance", json={"rn1": 4.5}).status_code == 200
    assert node(wire, "rn1")["performance"] == 4.5
    for bad in ({"rn1": 0}, {"rn1": "fast"}, {}, [1]):
        assert http.put("/rendernodes/performance", json=bad).status_code == 400
    assert http.put("/rendernodes/quarantine", json={"quarantine": True, "rns": ["rn2"]}).status_code == 200
    assert node(wire, "rn2")["state"] == "paused"
    assert http.put("/rendernodes/quarantine", json={"quarantine": "yes", "rns": ["rn2"]}).status_code == 400
    assert http.put("/rendernodes/quarantine", json={"quarantine": False, "rns": ["rn9"]}).status_code == 404
    assert http.delete("/rendernodes/rn1").status_code == 409  # connected: stop its agent first


def test_licences_in_pulis_shapes(http: TestClient, wire: CoreWire) -> None:
    assert http.put("/licenses/nuke", json={"maxlic": 4}).status_code == 200
    assert http.get("/licenses").text == "{'nuke': '0 / 4'}"
    assert http.get("/licenses/nuke").json() == {"max": 4, "used": 0, "rns": []}
    assert http.get("/licenses/maya").status_code == 404
    for bad in ({"maxlic": -1}, {"maxlic": "4"}, {"max": 4}):
        assert http.put("/licenses/nuke", json=bad).status_code == 400


# ------------------------------------------------------------------ the models over HTTP
def test_job_tags_and_node_performance_edit_the_mesh_over_http(http: TestClient, wire: CoreWire) -> None:
    graph_id = job(wire, "shot010_light")["id"]
    model = QueueHandler(http_server(http)).getJobsById([graph_id], recursive=False)[0][0]
    assert model.setShot("s010") and job(wire, "shot010_light")["tags"]["shot"] == "s010"
    assert model.updateTags({"seq": "sq1"}) and job(wire, "shot010_light")["tags"]["seq"] == "sq1"
    assert model.setTags({"prod": "tv"}) and job(wire, "shot010_light")["tags"] == {"prod": "tv"}
    rn1 = RenderNodeHandler(http_server(http)).getRenderNodesByName(["rn1"])[0][0]
    assert rn1.setPerformanceIndex(2.5) and node(wire, "rn1")["performance"] == 2.5

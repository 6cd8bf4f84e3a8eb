"""Puli's own HTTP endpoints (``web.puli_http``) and puliclient over HTTP, over a real scheduling
core without sockets: FastAPI's TestClient in front, the core behind a stub wire
(``CoreWire``: each request encoded and decoded as on the mesh, answered by the leader's own code)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from puli_mesh.errors import TokenError
from puli_mesh.roles import Role
from puli_mesh.web.app import create_app
from puli_mesh.web.context import Identity
from puli_mesh.web.puli_http import JOB_ATTRS, RN_ATTRS, job_query, node_query, parse_time, picked, stats_json
from puliclient import Graph, submission
from puliclient.errors import FarmError
from puliclient.farm import Farm
from puliclient.model.job import Job
from puliclient.query_fields import NumberBound
from puliclient.server import http as puli_http_client
from puliclient.server.http import HttpAnswer
from puliclient.server.queueHandler import QueueHandler
from puliclient.server.renderNodeHandler import RenderNodeHandler
from puliclient.server.server import InvalidParamError, RequestError, RequestTimeoutError, Server
from puliclient.status import NodeStatus, RenderNodeStatus
from tests.unit.client.test_server_model import CoreWire, submit

CREATED = datetime(2026, 3, 1, 12, 0, 0).timestamp()
"""When the fixture's jobs are submitted (local time, as Puli's time constraints are written)."""


@dataclass
class CoreContext:
    """The web context over a real core; ``secured``: a token from ``TOKENS`` is needed."""

    wire: CoreWire
    secured: bool = False
    tokens: dict[str, Identity] = field(default_factory=lambda: {"ana-token": Identity("ana", Role.ADMIN, None)})

    def identify(self, token: str, now: float) -> Identity:
        if token not in self.tokens:
            raise TokenError("no such token")
        return self.tokens[token]

    def farm(self, token: str | None) -> Farm:
        return Farm(client=self.wire)  # type: ignore[arg-type]


@pytest.fixture
def wire() -> CoreWire:
    wire = CoreWire()
    wire.now = CREATED
    wire.core.define_pool("gpu")
    submit(wire, "shot010_light", "alice", tags={"prod": "film", "nbFrames": 10})
    submit(wire, "shot020_comp", "bob", pool="gpu", tags={"prod": "ad"})
    submit(wire, "test_shot030", "alice", tags={"prod": "film"})
    wire.join("rn1", ["default"], version="2.0", speed=3.5)
    wire.join("rn2", ["gpu"], version="2.1", speed=2.0)
    return wire


@pytest.fixture
def http(wire: CoreWire) -> TestClient:
    return TestClient(create_app(CoreContext(wire)))  # type: ignore[arg-type]


@dataclass
class AppEndpoint:
    """An ``HttpEndpoint`` whose requests go to the app through the TestClient (no socket)."""

    http: TestClient
    url: str = "http://testserver"
    token: str | None = None

    def call(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None) -> HttpAnswer:
        reply = self.http.request(method.upper(), path, json=body, params=params)
        data = reply.json() if reply.headers.get("content-type", "").startswith("application/json") else reply.text
        if reply.status_code >= 400:
            raise FarmError.from_code(data.get("code", "error"), data.get("message", ""))
        return HttpAnswer(reply.status_code, {k.lower(): v for k, v in reply.headers.items()}, data)

    def json(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        return self.call(method, path, body, params).body


def http_server(http: TestClient) -> Server:
    server = Server(farm=None)
    server.endpoint = AppEndpoint(http)  # type: ignore[assignment]
    return server


def job_id(wire: CoreWire, name: str) -> int:
    return next(int(g["id"]) for g in Farm(client=wire).jobs() if g["name"] == name)  # type: ignore[arg-type]


# ------------------------------------------------------------------ pure mapping
def test_constraints_become_the_handlers_arguments_and_the_leaders_time_filters() -> None:
    args = job_query({"user": ["alice", "bob"], "status": ["1", "RUNNING"], "id": ["4"], "name": ["^shot.*"],
                      "prod": ["film"], "creationtime": ["2026-03-01 11:00:00"]})
    assert args == {"userList": ["alice", "bob"], "statusList": [1, "RUNNING"], "idList": [4],
                    "nameList": ["^shot.*"], "tagsDict": {"prod": ["film"]},
                    "meshFilters": {"since": datetime(2026, 3, 1, 11).timestamp()}}
    assert job_query({"starttime": ["2026-03-01 11:00:00"]})["meshFilters"] == {
        "started_after": parse_time("2026-03-01 11:00:00", "starttime")}
    for bad in ({"colour": ["red"]}, {"id": ["four"]}, {"endtime": ["yesterday"]}):
        with pytest.raises(ValueError, match="constraint_"):
            job_query(bad)


def test_pul_rn_bounds_read_plus_as_more_and_minus_as_less() -> None:
    args, bounds = node_query({"coresnumber": ["+4"], "ramsize": ["-40000"], "speed": ["3.5"], "status": ["3"]})
    assert args == {"statusList": [3]}
    assert bounds == [("coresNumber", NumberBound(1, 4.0)), ("ramSize", NumberBound(-1, 40000.0)),
                      ("speed", NumberBound(0, 3.5))]
    with pytest.raises(ValueError, match="constraint_cpu"):
        node_query({"cpu": ["+2"]})


def test_attributes_pick_fields_tags_and_characteristics_as_puli_named_them() -> None:
    row = {"id": 3, "name": "a", "tags": {"prod": "film"}, "caracteristics": {"os": "linux"}}
    assert picked(row, ["id", "tags:prod", "tags:shot", "caracteristics:os", "nothing"]) == {
        "id": 3, "tags:prod": "film", "tags:shot": None, "caracteristics:os": "linux", "nothing": None}


def test_stats_have_pulis_shape() -> None:
    stats = {"current": {"ready": 5, "running": 2, "slots": 16, "busy_slots": 2, "licences": {"nuke": [1, 4]}},
             "totals": {"done": 7, "failed": 1}, "jobs_by_status": {"READY": 2, "TOTAL": 2},
             "render_nodes_by_status": {"IDLE": 1, "UNKNOWN": 1, "TOTAL": 2}}
    out = stats_json(stats, 99.0)
    assert out["commands"] == {"READY": 5, "RUNNING": 2, "DONE": 7, "ERROR": 1, "TOTAL": 15}
    assert out["rendernodes"] == {"totalCores": 16, "idleCores": 14, "missingRenderNodes": 1,
                                  "renderNodesByStatus": {"IDLE": 1, "UNKNOWN": 1, "TOTAL": 2}}
    assert out["licensesDict"] == [{"name": "nuke", "used": 1, "total": 4}] and "1 / 4" in out["licenses"]
    assert out["jobs"]["TOTAL"] == 2 and out["date"] == 99.0


# ------------------------------------------------------------------ routes
def test_query_by_user_with_attributes_answers_in_pulis_shape(http: TestClient) -> None:
    reply = http.get("/query", params=[("constraint_user", "alice"), ("attr", "id"), ("attr", "name")])
    assert reply.status_code == 200
    body = reply.json()
    assert [sorted(i) for i in body["items"]] == [["id", "name"], ["id", "name"]]
    assert [i["name"] for i in body["items"]] == ["shot010_light", "test_shot030"]
    assert set(body["summary"]) == {"count", "totalInDispatcher", "requestTime", "requestDate"}
    assert (body["summary"]["count"], body["summary"]["totalInDispatcher"]) == (2, 3)


def test_query_without_attributes_gives_pulis_default_fields(http: TestClient) -> None:
    items = http.get("/query", params={"constraint_prod": "ad"}).json()["items"]
    assert len(items) == 1 and list(items[0]) == list(JOB_ATTRS)
    item = items[0]
    assert (item["name"], item["user"], item["tags:prod"], item["status"]) == ("shot020_comp", "bob", "ad", 1)
    assert (item["commandCount"], item["readyCommandCount"], item["allocatedRN"], item["optimalMaxRN"]) == (3, 3, 0, 0)
    assert item["creationTime"] == CREATED


@pytest.mark.parametrize(("params", "expected"), [
    ({"constraint_name": ".*test"}, ["test_shot030"]),
    ({"constraint_name": "shot0[12]0_"}, ["shot010_light", "shot020_comp"]),
    ({"constraint_status": "1"}, ["shot010_light", "shot020_comp", "test_shot030"]),
    ({"constraint_status": "2"}, []),
    ({"constraint_id": "6"}, ["shot020_comp"]),  # a job's id is its graph's (1, 6, 11 here)
    ({"constraint_creationtime": "2026-03-01 11:59:59"}, ["shot010_light", "shot020_comp", "test_shot030"]),
    ({"constraint_creationtime": "2026-03-01 12:00:01"}, []),
    ({"constraint_starttime": "2000-01-01 00:00:00"}, []),  # nothing has started
])
def test_query_constraints_filter_as_pulis(http: TestClient, params: dict[str, str], expected: list[str]) -> None:
    items = http.get("/query", params={**params, "attr": "name"}).json()["items"]
    assert [i["name"] for i in items] == expected


def test_query_tree_nests_the_children(http: TestClient) -> None:
    items = http.get("/query", params={"constraint_id": "1", "attr": ["id", "name"], "tree": "1"}).json()["items"]
    assert items[0]["name"] == "shot010_light"
    assert [c["name"] for c in items[0]["children"]] == ["notify", "renders"]
    assert [c["name"] for c in items[0]["children"][1]["children"]] == ["render"]


@pytest.mark.parametrize("params", [{"constraint_colour": "red"}, {"constraint_status": "42"},
                                    {"constraint_name": "(unclosed"}, {"constraint_creationtime": "soon"}])
def test_a_bad_constraint_is_a_400(http: TestClient, params: dict[str, str]) -> None:
    reply = http.get("/query", params=params)
    assert reply.status_code == 400 and reply.json()["code"] == "invalid"


def test_query_rn_filters_by_numeric_bounds_and_status(http: TestClient) -> None:
    def names(**params: str) -> list[str]:
        return [i["name"] for i in http.get("/query/rn", params={**params, "attr": "name"}).json()["items"]]

    assert names() == ["rn1", "rn2"]
    assert names(constraint_speed="+3") == ["rn1"]
    assert names(constraint_speed="-3") == ["rn2"]
    assert names(constraint_coresnumber="8") == ["rn1", "rn2"]
    assert names(constraint_ramsize="+32000") == []
    assert names(constraint_name="rn2") == ["rn2"]
    assert names(constraint_status=str(int(RenderNodeStatus.IDLE))) == ["rn1", "rn2"]
    items = http.get("/query/rn", params={"constraint_name": "rn1"}).json()["items"]
    assert list(items[0]) == list(RN_ATTRS) and items[0]["puliversion"] == "2.0" and items[0]["pools"] == ["default"]


def test_post_query_job_takes_puliclients_body(http: TestClient) -> None:
    body = http.post("/query/job", json={"user": ["alice"], "name": ["shot"], "recursive": False}).json()
    assert [i["name"] for i in body["items"]] == ["shot010_light"] and body["summary"]["count"] == 1
    assert body["items"][0]["children"] == [] and body["items"][0]["poolShares"] == ["default"]
    tree = http.post("/query/job", json={"tags": {"prod": ["ad"]}}).json()["items"][0]
    assert tree["children"][1]["children"][0]["task"]["commands"][0]["description"] == "render_1_2"
    for bad in ({"user": []}, {"user": "alice"}, {"colour": ["red"]}):
        assert http.post("/query/job", json=bad).status_code == 400


def test_post_query_rendernode_takes_puliclients_body(http: TestClient) -> None:
    body = http.post("/query/rendernode", json={"pool": ["gpu"]}).json()
    assert [i["name"] for i in body["items"]] == ["rn2"] and body["summary"]["totalInDispatcher"] == 2


def test_graphs_post_is_pulis_submission(http: TestClient, wire: CoreWire) -> None:
    graph = Graph("over_http", user="carol")
    graph.addNewTask("t", {"cmd": "echo hi"})
    reply = http.post("/graphs/", json=graph.prepareGraphRepresentation())
    assert reply.status_code == 201
    new_id = job_id(wire, "over_http")
    assert reply.headers["location"] == f"http://testserver/nodes/{new_id}"
    assert reply.text.startswith("Graph created.\nCreated nodes: ")
    assert http.post("/graphs/", json={"name": "no tasks"}).status_code == 400


def test_a_node_is_its_pulis_json_and_a_missing_one_404(http: TestClient) -> None:
    body = http.get("/nodes/1").json()
    assert (body["id"], body["name"], body["user"], body["status"]) == (1, "shot010_light", "alice", 1)
    assert body["tags"] == {"prod": "film", "nbFrames": 10}
    root = body["children"][0]  # the mesh's graph node holds the graph's root group
    assert [c["name"] for c in root["children"]] == ["notify", "renders"]
    assert root["children"][0]["task"]["commands"][0]["description"] == "notify"
    assert http.get("/nodes/999").status_code == 404


def test_rendernodes_and_stats(http: TestClient) -> None:
    nodes = http.get("/rendernodes").json()["rendernodes"]
    assert [n["name"] for n in nodes] == ["rn1", "rn2"] and nodes[0]["coresNumber"] == 8
    stats = http.get("/stats").json()
    assert stats["jobs"]["TOTAL"] == 3 and stats["rendernodes"]["renderNodesByStatus"]["TOTAL"] == 2


def test_pulis_node_edits_reach_the_core(http: TestClient, wire: CoreWire) -> None:
    def graph(gid: int) -> dict[str, Any]:
        return Farm(client=wire).graph({1: 1, 2: 6, 3: 11}[gid], children=False)  # type: ignore[arg-type]

    assert http.put("/nodes/1/paused", json={"paused": True}).status_code == 200
    assert graph(1)["paused"] is True
    assert http.put("/nodes/1/paused", json={"paused": False}).status_code == 200
    assert graph(1)["paused"] is False
    assert http.put("/nodes/6/priority", json={"priority": 7}).status_code == 200
    assert http.put("/nodes/6/maxRN", json={"maxRN": 3}).status_code == 200
    assert (graph(2)["dispatchKey"], graph(2)["maxRN"]) == (7, 3)  # Puli's priority is the dispatch key
    assert http.put("/nodes/6/prod", json={"prod": "tv"}).status_code == 200
    assert graph(2)["tags"]["prod"] == "tv"
    assert http.put("/nodes/11/status", json={"status": int(NodeStatus.CANCELED)}).status_code == 200
    assert graph(3)["status"] == NodeStatus.CANCELED
    assert http.put("/nodes/11/status", json={"status": int(NodeStatus.RUNNING)}).status_code == 400
    assert http.put("/nodes/11/colour", json={"colour": 1}).status_code == 404
    assert http.put("/nodes/11/priority", json={"nothing": 1}).status_code == 400
    assert http.put("/nodes/999/paused", json={"paused": True}).status_code == 404


def test_a_secured_mesh_wants_the_header_never_a_token_in_the_url(wire: CoreWire) -> None:
    http = TestClient(create_app(CoreContext(wire, secured=True)))  # type: ignore[arg-type]
    assert http.get("/query").status_code == 401
    assert http.get("/query", params={"token": "ana-token"}).status_code == 401
    assert http.get("/query", headers={"Authorization": "Bearer ana-token"}).status_code == 200
    assert http.post("/graphs/", json={}).status_code == 401


# ------------------------------------------------------------------ puliclient over HTTP
def test_queue_handler_over_http_finds_what_it_finds_over_the_mesh(http: TestClient, wire: CoreWire) -> None:
    over_http = QueueHandler(http_server(http))
    over_mesh = QueueHandler(Server(farm=Farm(client=wire)))  # type: ignore[arg-type]
    for query in (lambda q: q.getAllJobs(), lambda q: q.getJobsByUser(["alice"]),
                  lambda q: q.getJobsByName([".*test"]), lambda q: q.getJobsByTags({"nbFrames": [10], "prod": ["ad"]}),
                  lambda q: q.getJobs(idList=[1, 6], poolList=["default"]), lambda q: q.getJobsByStatus(["READY"])):
        jobs, summary = query(over_http)
        expected, _ = query(over_mesh)
        assert [j.encode() for j in jobs] == [j.encode() for j in expected]
        assert all(isinstance(j, Job) for j in jobs) and summary["count"] == len(jobs)
    with pytest.raises(InvalidParamError):
        over_http.getJobsByUser([])


def test_a_job_read_over_http_edits_the_mesh(http: TestClient, wire: CoreWire) -> None:
    job = QueueHandler(http_server(http)).getJobsById([6], recursive=False)[0][0]
    assert job.children == [] and job.name == "shot020_comp"
    assert job.pause() and Farm(client=wire).graph(6, children=False)["paused"] is True  # type: ignore[arg-type]
    assert job.setMaxRn(4) and Farm(client=wire).graph(6, children=False)["maxRN"] == 4  # type: ignore[arg-type]
    assert job.setProd("tv") and job.tags["prod"] == "tv"
    with pytest.raises(RequestError) as refused:
        Job(id=999, server=http_server(http)).cancel()
    assert refused.value.code == "not_found"


def test_render_node_handler_over_http(http: TestClient) -> None:
    nodes, summary = RenderNodeHandler(http_server(http)).getRenderNodesByName(["rn"])
    assert [n.name for n in nodes] == ["rn1", "rn2"] and summary["totalInDispatcher"] == 2
    assert nodes[0].pools == ["default"] and nodes[0].statusLabel == "Idle"


def test_graph_submitted_over_http_returns_pulis_url(http: TestClient, wire: CoreWire) -> None:
    graph = Graph("submitted", user="dan")
    graph.addNewTask("t", {"cmd": "echo hi"})
    location, message = submission.submit_over_http(graph.prepareGraphRepresentation(), AppEndpoint(http))
    assert location == f"http://testserver/nodes/{job_id(wire, 'submitted')}"
    assert message.startswith("Graph created.")


def test_an_http_address_comes_from_the_arguments_or_puli_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(puli_http_client.TOKEN_VARIABLE, "tok")
    monkeypatch.delenv(puli_http_client.URL_VARIABLE, raising=False)
    assert Server("agent", 8080, http=True).endpoint == puli_http_client.HttpEndpoint("http://agent:8080", "tok")
    assert Server("http://agent:8080").getBaseUrl() == "http://agent:8080"
    assert Server("agent", 7100).endpoint is None and Server().endpoint is None
    monkeypatch.setenv(puli_http_client.URL_VARIABLE, "http://web:9000")
    assert Server().endpoint == puli_http_client.HttpEndpoint("http://web:9000", "tok")
    assert submission.http_endpoint(None, None, 10.0).url == "http://web:9000"
    assert submission.http_endpoint("rn1", 7100, 10.0) is None


def test_an_agent_not_answering_http_is_a_timeout_error() -> None:
    server = Server("127.0.0.1", 1, http=True, token="t", timeout=0.5)
    with pytest.raises(RequestTimeoutError) as silent:
        QueueHandler(server).getAllJobs()
    assert silent.value.code == "unreachable" and "127.0.0.1:1" in str(silent.value)


def test_a_huge_body_list_is_refused(http: TestClient) -> None:
    assert http.post("/query/job", json={"name": ["a"] * 1001}).status_code == 400
    assert http.get("/nodes/-1").status_code == 422


@pytest.mark.parametrize("names", [["a" * 257], [f"n{i}" for i in range(101)], ["(unclosed"]])
def test_name_regexes_are_bounded_and_must_compile(http: TestClient, names: list[str]) -> None:
    assert http.post("/query/job", json={"name": names}).status_code == 400
    reply = http.get("/query", params=[("constraint_name", n) for n in names])
    assert reply.status_code == 400 and reply.json()["code"] == "invalid"
    assert http.post("/query/rendernode", json={"host": names}).status_code == 400


def test_name_regexes_within_the_bounds_are_served(http: TestClient) -> None:
    names = ["x" * 250 + "|shot0", *[f"nothing{i}" for i in range(99)]]
    items = http.post("/query/job", json={"name": names, "recursive": False}).json()["items"]
    assert [i["name"] for i in items] == ["shot010_light", "shot020_comp"]

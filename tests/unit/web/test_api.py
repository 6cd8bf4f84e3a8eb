"""The /api/ routes that mirror Farm, over a stub farm (FastAPI's TestClient; no mesh, no network)."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from puli_mesh.client import MeshClient
from puli_mesh.errors import MeshRequestError
from puli_mesh.web.api import TOTAL_HEADER, router
from puli_mesh.web.app import create_app
from puliclient.farm import Farm
from puliclient.query_fields import node_listing
from tests.unit.web.test_app import BEARER, StubClient, StubContext


@dataclass
class SettingsStubClient(StubClient):
    """A stub wire that also takes cluster settings as the real one does (checked, then sent)."""

    change_settings = MeshClient.change_settings
    set_licence = MeshClient.set_licence
    define_pool = MeshClient.define_pool


class SettingsStubContext(StubContext):
    def farm(self, token: str | None) -> Farm:
        return Farm(client=SettingsStubClient(token, self.sent, self.answers))  # type: ignore[arg-type]


@pytest.fixture
def context() -> SettingsStubContext:
    return SettingsStubContext(answers={"EDIT": None, "SETTINGS": None})


@pytest.fixture
def http(context: StubContext) -> TestClient:
    return TestClient(create_app(context))  # type: ignore[arg-type]


def sent(context: StubContext) -> list[tuple[str, str, dict[str, Any]]]:
    """What reached the mesh: (kind, action or what, args), each as the caller."""
    assert all(token == "ana-token" for token, _k, _f in context.sent)
    return [(kind, f.get("action") or f.get("what"), f.get("args", {})) for _t, kind, f in context.sent]


# ------------------------------------------------------------------------ coverage
ROUTES: dict[str, str] = {
    "status": "GET /api/status", "graph": "GET /api/jobs/{job_id}", "graphs": "GET /api/jobs",
    "jobs": "GET /api/jobs", "commands": "GET /api/commands", "command": "GET /api/commands/{command_id}",
    "nodes": "GET /api/nodes", "node_page": "GET /api/nodes", "pools": "GET /api/pools",
    "licences": "GET /api/licences",
    "stats": "GET /api/stats", "history": "GET /api/history", "hooks": "GET /api/hooks",
    "read_log": "GET /api/commands/{command_id}/log", "tail_log": "GET /api/commands/{command_id}/log/tail",
    "follow_log": "GET /api/commands/{command_id}/log/follow", "submit": "POST /api/jobs",
    "pause": "POST /api/jobs/{job_id}/pause", "resume": "POST /api/jobs/{job_id}/resume",
    "cancel": "POST /api/jobs/{job_id}/cancel", "restart": "POST /api/jobs/{job_id}/restart",
    "set": "POST /api/jobs/{job_id}/set", "set_tags": "POST /api/jobs/{job_id}/tags",
    "set_environment": "POST /api/jobs/{job_id}/environment", "set_arguments": "POST /api/jobs/{job_id}/arguments",
    "archive": "POST /api/jobs/{job_id}/archive", "edit_jobs": "POST /api/jobs/edit",
    "pause_command": "POST /api/commands/{command_id}/pause",
    "resume_command": "POST /api/commands/{command_id}/{action}",
    "cancel_command": "POST /api/commands/{command_id}/{action}",
    "done_command": "POST /api/commands/{command_id}/{action}",
    "restart_command": "POST /api/commands/{command_id}/restart", "set_command": "POST /api/commands/{command_id}/set",
    "pause_node": "POST /api/nodes/{name}/pause", "drain_node": "POST /api/nodes/{name}/drain",
    "resume_node": "POST /api/nodes/{name}/resume", "clear_quarantine": "POST /api/nodes/{name}/unquarantine",
    "clear_node": "POST /api/nodes/{name}/clear",
    "set_node": "POST /api/nodes/{name}/set", "set_node_pools": "POST /api/nodes/{name}/set",
    "set_node_performance": "POST /api/nodes/{name}/set", "remove_node": "POST /api/nodes/{name}/remove",
    "set_pool_nodes": "POST /api/pools/{name}/nodes", "step_down": "POST /api/leader/step-down",
    "set_licence": "POST /api/licences/{name}", "define_pool": "POST /api/pools/{name}",
    "add_hook": "POST /api/hooks", "remove_hook": "DELETE /api/hooks/{name}", "shares": "GET /api/shares",
    "quotas": "GET /api/quotas",
}
"""The route that does what each public method of Farm does."""

NOT_OVER_HTTP: dict[str, str] = {
    "request": "the raw wire: every route is one such request, made as the caller",
    "query": "the raw wire (QUERY): the read routes are the queries",
    "edit": "the raw wire (EDIT): the edit routes are the edits, each with its body checked",
    "listing": "reads every page: the listing routes answer one page and its cursor, the caller pages",
    "wait": "a client-side loop: poll GET /api/jobs/{job_id}?children=false",
    "graph_id": "parses a submit() location, no mesh involved",
    "cluster_pools": "reads ZooKeeper directly, with the agent's own credentials and no role check at the leader; "
                     "GET /api/pools answers the leader's view",
    "set_share": "share trees are set by operators with `puli-mesh shares set` or Farm; the web shows them "
                 "(GET /api/shares)",
    "remove_share": "as set_share: `puli-mesh shares remove` or Farm",
    "set_share_quota": "as set_share: `puli-mesh shares quota` or Farm; GET /api/quotas shows them",
    "set_share_preempt": "as set_share: `puli-mesh shares preempt` or Farm; GET /api/shares shows preempt_after",
}
"""Public methods of Farm deliberately not offered over HTTP, and why."""


def farm_methods() -> set[str]:
    return {name for name, _ in inspect.getmembers(Farm, callable) if not name.startswith("_")}


def api_routes() -> set[str]:
    return {f"{method} {r.path}" for r in router.routes if isinstance(r, APIRoute) for method in r.methods}


def test_every_public_method_of_farm_has_a_route_or_a_reason_not_to() -> None:
    missing = farm_methods() - set(ROUTES) - set(NOT_OVER_HTTP)
    assert not missing, f"Farm methods without a route under /api/ (add one, or a reason to NOT_OVER_HTTP): {missing}"
    assert not set(ROUTES) & set(NOT_OVER_HTTP)
    assert set(ROUTES) | set(NOT_OVER_HTTP) <= farm_methods(), "the tables name a method Farm no longer has"


def test_every_route_the_table_names_exists() -> None:
    assert set(ROUTES.values()) - api_routes() == set()


def test_every_route_has_a_summary_in_the_openapi_document(http: TestClient) -> None:
    paths = http.get("/api/openapi.json").json()["paths"]
    for route in ROUTES.values():
        method, path = route.split(" ", 1)
        assert paths[path][method.lower()]["summary"], route


# ------------------------------------------------------------------------ reads
def test_history_asks_for_the_samples_since_a_time(http: TestClient, context: StubContext) -> None:
    samples = [{"start": 60.0, "end": 120.0, "done": 3}]
    context.answers["history"] = {"samples": samples}
    assert http.get("/api/history?since=60", headers=BEARER).json() == samples
    assert http.get("/api/history", headers=BEARER).json() == samples
    assert [args for _k, _w, args in sent(context)] == [{"since": 60.0}, {}]
    assert http.get("/api/history?since=-1", headers=BEARER).status_code == 422


def test_jobs_filter_on_tags_as_key_value_pairs(http: TestClient, context: StubContext) -> None:
    context.answers["graphs"] = {"items": [], "cursor": None}
    assert http.get("/api/jobs?tag=prod=film&tag=seq=010", headers=BEARER).status_code == 200
    assert sent(context) == [("QUERY", "graphs", {"tags": {"prod": "film", "seq": "010"}, "limit": 100})]
    answer = http.get("/api/jobs?tag=nokey", headers=BEARER)
    assert answer.status_code == 422 and "KEY=VALUE" in answer.json()["message"]
    assert len(context.sent) == 1


def test_commands_take_farms_graph_filter(http: TestClient, context: StubContext) -> None:
    context.answers["commands"] = {"items": [{"id": 4}], "cursor": None}
    assert http.get("/api/commands?graph=3&status=ERROR&node=rn1", headers=BEARER).json()["items"] == [{"id": 4}]
    assert sent(context) == [("QUERY", "commands", {"id": 3, "status": ["ERROR"], "node": "rn1", "limit": 100})]


NODES = [{"name": f"rn{i}", "state": "idle" if i % 2 else "busy", "pools": ["default"], "performance": float(i),
          "ram_mb": 1024 * i, "cores": i} for i in range(1, 8)]


def leader_node_rows(args: dict[str, Any]) -> dict[str, Any] | MeshRequestError:
    """The leader's answer to ``node_rows`` over :data:`NODES` (its refusal: ``invalid``)."""
    try:
        return node_listing(NODES, args)
    except ValueError as exc:
        return MeshRequestError("invalid", str(exc))


def test_nodes_filter_sort_and_page_as_farm_nodes(http: TestClient, context: StubContext) -> None:
    context.answers["node_rows"] = leader_node_rows
    answer = http.get("/api/nodes?state=idle&speed=%2B2&sort=speed&reverse=true&offset=1&limit=2", headers=BEARER)
    assert answer.status_code == 200
    assert [n["name"] for n in answer.json()] == ["rn5", "rn3"]  # idle, faster than 2: rn7 rn5 rn3; from the 2nd
    assert answer.headers[TOTAL_HEADER] == "3"
    # sorted and sliced at the leader: only the two rows asked for travel
    assert sent(context) == [("QUERY", "node_rows", {"state": ["idle"], "speed": "+2", "sort": "speed",
                                                     "reverse": True, "offset": 1, "limit": 2})]
    everything = http.get("/api/nodes", headers=BEARER)
    assert everything.json() == NODES[:] and everything.headers[TOTAL_HEADER] == "7"
    assert http.get("/api/nodes?ram=lots", headers=BEARER).status_code == 400
    assert http.get("/api/nodes?limit=0", headers=BEARER).status_code == 422


def test_hooks_are_listed_as_farm_lists_them(http: TestClient, context: StubContext) -> None:
    context.answers["SETTINGS"] = [{"name": "ci", "events": ["job_done"], "url": "https://ci.example/p"}]
    assert http.get("/api/hooks", headers=BEARER).json() == context.answers["SETTINGS"]
    assert sent(context) == [("SETTINGS", "hook_list", {})]


# ------------------------------------------------------------------------ edits
def test_job_edits_send_farms_edits(http: TestClient, context: StubContext) -> None:
    for path, body in [("tags", {"prod": "film", "old": None, "node_id": "x"}),
                       ("environment", {"OCIO": "/show/ocio", "TMP": None}),
                       ("arguments", {"frames": "1-10"}), ("archive", None),
                       ("set", {"strategy": "PriorityStrategy", "user": "bob"})]:
        answer = http.post(f"/api/jobs/7/{path}", headers=BEARER, json=body)
        assert answer.status_code == 200, answer.json()
    assert sent(context) == [
        ("EDIT", "tags", {"id": 7, "tags": {"prod": "film", "old": None, "node_id": "x"}}),
        ("EDIT", "environment", {"id": 7, "environment": {"OCIO": "/show/ocio", "TMP": None}}),
        ("EDIT", "arguments", {"id": 7, "arguments": {"frames": "1-10"}}),
        ("EDIT", "archive", {"id": 7}),
        ("EDIT", "set", {"id": 7, "values": {"strategy": "PriorityStrategy"}}),
        ("EDIT", "set_user", {"id": 7, "user": "bob"}),
    ]


def test_a_bulk_edit_edits_every_match_and_needs_a_filter(http: TestClient, context: StubContext) -> None:
    context.answers["graphs"] = {"items": [{"id": 3}, {"id": 5}], "cursor": None}
    answer = http.post("/api/jobs/edit", headers=BEARER,
                       json={"action": "set", "filters": {"user": ["ana"]}, "values": {"priority": 4}})
    assert answer.json() == {"edited": [3, 5]}
    assert [s for s in sent(context) if s[0] == "EDIT"] == [("EDIT", "set", {"id": 3, "values": {"priority": 4}}),
                                                            ("EDIT", "set", {"id": 5, "values": {"priority": 4}})]
    refused = http.post("/api/jobs/edit", headers=BEARER, json={"action": "cancel", "filters": {}})
    assert refused.status_code == 400
    assert http.post("/api/jobs/edit", headers=BEARER, json={"action": "rm", "filters": {"user": ["a"]}}
                     ).status_code == 422
    assert http.post("/api/jobs/edit", headers=BEARER,  # giving jobs away is one job at a time
                     json={"action": "set", "filters": {"user": ["a"]}, "values": {"user": "b"}}).status_code == 422


def test_command_edits_with_a_body(http: TestClient, context: StubContext) -> None:
    assert http.post("/api/commands/9/set", headers=BEARER,
                     json={"description": "again", "arguments": {"x": None}}).status_code == 200
    assert http.post("/api/commands/9/restart", headers=BEARER, json={"cascade": False}).status_code == 200
    assert http.post("/api/commands/9/restart", headers=BEARER).status_code == 200
    assert http.post("/api/commands/9/done", headers=BEARER).status_code == 200
    assert sent(context) == [
        ("EDIT", "command_set", {"id": 9, "description": "again", "arguments": {"x": None}}),
        ("EDIT", "command_restart", {"id": 9, "cascade": False}),
        ("EDIT", "command_restart", {"id": 9, "cascade": True}),
        ("EDIT", "command_done", {"id": 9}),
    ]


def test_node_edits_and_step_down(http: TestClient, context: StubContext) -> None:
    context.answers["step_down"] = {"leader": "agent-2"}
    assert http.post("/api/nodes/rn1/set", headers=BEARER, json={"pools": ["gpu"], "performance": None}
                     ).status_code == 200
    assert http.post("/api/nodes/rn1/unquarantine", headers=BEARER).status_code == 200
    assert http.post("/api/nodes/rn1/clear", headers=BEARER).status_code == 200
    assert http.post("/api/nodes/rn1/remove", headers=BEARER).status_code == 200
    assert http.post("/api/leader/step-down", headers=BEARER).json() == {"leader": "agent-2"}
    assert sent(context) == [
        ("EDIT", "node_set", {"name": "rn1", "values": {"pools": ["gpu"], "performance": None}}),
        ("EDIT", "clear_quarantine", {"name": "rn1"}),
        ("EDIT", "clear_node", {"name": "rn1"}),
        ("EDIT", "node_remove", {"name": "rn1"}),
        ("EDIT", "step_down", {}),
    ]
    assert http.post("/api/nodes/rn1/set", headers=BEARER, json={"performance": 0}).status_code == 422


def test_cluster_settings_and_hooks(http: TestClient, context: StubContext) -> None:
    context.answers["SETTINGS"] = {"name": "ci", "events": ["job_done"], "url": "https://ci.example/p"}
    assert http.post("/api/licences/mtoa", headers=BEARER, json={"total": 20}).status_code == 200
    assert http.post("/api/pools/gpu", headers=BEARER).status_code == 200
    assert http.post("/api/pools/gpu/nodes", headers=BEARER, json={"names": ["rn1", "rn2"]}).status_code == 200
    added = http.post("/api/hooks", headers=BEARER, json={"name": "ci", "events": ["job_done"],
                                                          "url": "https://ci.example/p"})
    assert added.status_code == 201 and added.json()["name"] == "ci"
    assert http.delete("/api/hooks/ci", headers=BEARER).status_code == 200
    assert sent(context) == [
        ("SETTINGS", "licence_set", {"name": "mtoa", "total": 20}),
        ("SETTINGS", "pool_define", {"name": "gpu"}),
        ("EDIT", "pool_set_nodes", {"pool": "gpu", "names": ["rn1", "rn2"]}),
        ("SETTINGS", "hook_add", {"name": "ci", "events": ["job_done"], "url": "https://ci.example/p",
                                  "command": None, "user": None, "pool": None}),
        ("SETTINGS", "hook_remove", {"name": "ci"}),
    ]


def test_bad_settings_are_refused_before_the_mesh(http: TestClient, context: StubContext) -> None:
    assert http.post("/api/licences/mtoa", headers=BEARER, json={"total": -1}).status_code == 422
    assert http.post("/api/hooks", headers=BEARER, json={"name": "x", "events": ["job_exploded"],
                                                         "url": "https://a"}).status_code == 400
    assert http.post("/api/hooks", headers=BEARER, json={"name": "x", "events": []}).status_code == 422
    assert context.sent == []


def test_what_the_leader_forbids_is_a_403(http: TestClient, context: StubContext) -> None:
    context.answers["EDIT"] = MeshRequestError("forbidden", "set_user needs the operator role")
    answer = http.post("/api/jobs/7/set", headers=BEARER, json={"user": "bob"})
    assert answer.status_code == 403 and answer.json()["code"] == "forbidden"


@pytest.mark.parametrize(("path", "body"), [
    ("/api/jobs/1/tags", {str(i): 1 for i in range(10_001)}),  # more keys than a value may hold
    ("/api/jobs/1/environment", ["not", "a", "map"]),
    ("/api/jobs/1/arguments", {"k" * 2000: 1}),  # a key longer than a name
    ("/api/nodes/rn1/set", {"performance": "inf"}),
    ("/api/commands/1/set", {"arguments": {"x": 1}, "extra": True}),
])
def test_unbounded_or_malformed_bodies_are_refused_unsent(http: TestClient, context: StubContext, path: str,
                                                          body: Any) -> None:
    assert http.post(path, headers=BEARER, json=body).status_code == 422
    assert context.sent == []

"""The web app's routes over a stub farm (FastAPI's TestClient; no mesh, no network)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient

from puli_mesh.errors import MeshRequestError, MeshUnreachableError, TokenError
from puli_mesh.roles import Role
from puli_mesh.web.app import MAX_BODY_BYTES, create_app
from puli_mesh.web.callers import TOKEN_COOKIE
from puli_mesh.web.context import Identity
from puliclient.farm import Farm

TOKENS = {"ana-token": Identity("ana", Role.USER, 1_900_000_000)}


@dataclass
class StubClient:
    """Records each request (with the token it was made for) and answers from ``answers``."""

    token: str | None
    sent: list[tuple[str | None, str, dict[str, Any]]]
    answers: dict[str, Any]

    def request(self, kind: str, **fields: Any) -> Any:
        self.sent.append((self.token, kind, fields))
        key = fields.get("what") or fields.get("action") or kind
        answer = self.answers.get(key, self.answers.get(kind))
        if callable(answer):  # the leader's own rule, run on the request's arguments
            answer = answer(fields.get("args", {}))
        if isinstance(answer, Exception):
            raise answer
        return answer


@dataclass
class StubContext:
    secured: bool = True
    sent: list[tuple[str | None, str, dict[str, Any]]] = field(default_factory=list)
    answers: dict[str, Any] = field(default_factory=dict)

    def identify(self, token: str, now: float) -> Identity:
        if token not in TOKENS:
            raise TokenError("the token has expired")
        return TOKENS[token]

    def farm(self, token: str | None) -> Farm:
        return Farm(client=StubClient(token, self.sent, self.answers))  # type: ignore[arg-type]


@pytest.fixture
def context() -> StubContext:
    return StubContext(answers={"graphs": {"items": [{"id": 1, "name": "shot"}], "cursor": 1}, "EDIT": None})


@pytest.fixture
def http(context: StubContext) -> TestClient:
    return TestClient(create_app(context))  # type: ignore[arg-type]


BEARER = {"Authorization": "Bearer ana-token"}


def test_the_api_needs_a_token_on_a_secured_mesh(http: TestClient, context: StubContext) -> None:
    answer = http.get("/api/jobs")
    assert answer.status_code == 401
    assert answer.json()["code"] == "unauthorized"
    assert http.get("/api/jobs", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert context.sent == []  # refused before any round trip


def test_whoami_says_who_the_token_stands_for(http: TestClient) -> None:
    assert http.get("/api/whoami", headers=BEARER).json() == {"name": "ana", "role": "user",
                                                              "expires_at": 1_900_000_000}


def test_an_open_mesh_needs_no_login() -> None:
    http = TestClient(create_app(StubContext(secured=False)))  # type: ignore[arg-type]
    assert http.get("/api/whoami").json()["role"] == "admin"


def test_jobs_ask_the_leader_for_one_page_with_the_callers_token(http: TestClient, context: StubContext) -> None:
    answer = http.get("/api/jobs?user=ana&status=RUNNING&status=ERROR&limit=5&cursor=10", headers=BEARER)
    assert answer.status_code == 200
    assert answer.json() == {"items": [{"id": 1, "name": "shot"}], "cursor": 1}
    assert context.sent == [("ana-token", "QUERY", {"what": "graphs", "args": {
        "user": ["ana"], "status": ["RUNNING", "ERROR"], "cursor": 10, "limit": 5}})]


def test_login_sets_an_httponly_strict_cookie_the_api_then_accepts(http: TestClient) -> None:
    answer = http.post("/login", data={"token": "ana-token"}, follow_redirects=False)
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"]
    assert f"{TOKEN_COOKIE}=ana-token" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert http.get("/api/whoami").json()["name"] == "ana"
    http.get("/logout")
    assert http.get("/api/whoami").status_code == 401


def test_a_refused_login_sets_no_cookie(http: TestClient) -> None:
    answer = http.post("/login", json={"token": "stolen"})
    assert answer.status_code == 401 and "set-cookie" not in answer.headers


def test_edits_are_posts_sent_as_the_caller(http: TestClient, context: StubContext) -> None:
    assert http.post("/api/jobs/7/pause", headers=BEARER, json={"kill": True}).json() == {"ok": True}
    assert http.post("/api/jobs/7/restart", headers=BEARER, json={"errors_only": True}).status_code == 200
    assert http.post("/api/jobs/7/set", headers=BEARER, json={"priority": 3, "maxRN": 2}).status_code == 200
    assert http.post("/api/nodes/rn1/drain", headers=BEARER).status_code == 200
    assert [(t, f["action"], f["args"]) for t, _k, f in context.sent] == [
        ("ana-token", "pause", {"id": 7, "kill": True}),
        ("ana-token", "restart", {"id": 7, "errors_only": True, "cascade": True}),
        ("ana-token", "set", {"id": 7, "values": {"priority": 3, "maxRN": 2}}),
        ("ana-token", "node_drain", {"name": "rn1"}),
    ]


@pytest.mark.parametrize(("error", "status", "code"), [
    (MeshRequestError("forbidden", "needs operator"), 403, "forbidden"),
    (MeshRequestError("not_found", "no graph 7"), 404, "not_found"),
    (MeshRequestError("illegal", "already done"), 409, "illegal"),
    (MeshRequestError("invalid", "bad"), 400, "invalid"),
    (MeshUnreachableError("nobody"), 503, "unreachable"),
])
def test_the_meshs_errors_map_to_http_statuses(http: TestClient, context: StubContext, error: Exception,
                                               status: int, code: str) -> None:
    context.answers["EDIT"] = error
    answer = http.post("/api/jobs/7/cancel", headers=BEARER)
    assert answer.status_code == status
    body = answer.json()
    assert body["code"] == code and body["message"] and body["error"]


@pytest.mark.parametrize("path", ["/api/jobs/-1/pause", f"/api/jobs/{2**60}/pause", "/api/jobs/x/pause"])
def test_bad_ids_are_refused_unsent(http: TestClient, context: StubContext, path: str) -> None:
    answer = http.post(path, headers=BEARER)
    assert answer.status_code == 422 and answer.json()["code"] == "invalid"
    assert context.sent == []


def test_unknown_edit_values_and_out_of_range_ones_are_refused(http: TestClient, context: StubContext) -> None:
    assert http.post("/api/jobs/7/set", headers=BEARER, json={"rm -rf": 1}).status_code == 422
    assert http.post("/api/jobs/7/set", headers=BEARER, json={"priority": 10**12}).status_code == 422
    assert http.get("/api/jobs?limit=100000", headers=BEARER).status_code == 422
    assert context.sent == []


def test_a_body_above_the_limit_is_refused(http: TestClient, context: StubContext) -> None:
    answer = http.post("/api/jobs", headers=BEARER, content=b"{" + b" " * MAX_BODY_BYTES + b"}")
    assert answer.status_code == 413
    assert context.sent == []


def test_submit_sends_the_graph_json(http: TestClient, context: StubContext) -> None:
    context.answers["SUBMIT"] = {"url": "puli://leader/nodes/4", "message": "Graph created."}
    answer = http.post("/api/jobs", headers=BEARER, json={"name": "g", "user": "ana"})
    assert answer.status_code == 201 and answer.json()["url"].endswith("/nodes/4")
    assert context.sent == [("ana-token", "SUBMIT", {"graph": {"name": "g", "user": "ana"}})]


def test_the_openapi_document_lists_the_api(http: TestClient) -> None:
    paths = http.get("/api/openapi.json").json()["paths"]
    assert {"/api/jobs", "/api/jobs/{job_id}", "/api/commands/{command_id}/log", "/api/nodes",
            "/api/whoami"} <= set(paths)


def test_a_streamed_body_above_the_limit_is_refused_too(http: TestClient, context: StubContext) -> None:
    def chunks() -> Any:
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b" " * 65536

    answer = http.post("/api/jobs", headers=BEARER, content=chunks())
    assert answer.status_code == 413
    assert context.sent == []


def test_an_unexpected_failure_is_a_json_500_and_the_app_goes_on(context: StubContext) -> None:
    http = TestClient(create_app(context), raise_server_exceptions=False)  # type: ignore[arg-type]
    context.answers["graphs"] = {"no items": True}  # an answer the route does not expect
    answer = http.get("/api/jobs", headers=BEARER)
    assert answer.status_code == 500 and answer.json()["code"] == "internal"
    assert http.get("/api/whoami", headers=BEARER).status_code == 200


def test_an_unknown_route_is_a_json_404(http: TestClient) -> None:
    answer = http.get("/api/nothing-here", headers=BEARER)
    assert answer.status_code == 404 and answer.json()["code"] == "not_found"
    assert http.post("/api/commands/3/explode", headers=BEARER).json()["code"] == "not_found"


def test_sorted_jobs_read_every_match_and_answer_the_first_limit(http: TestClient, context: StubContext) -> None:
    context.answers["graphs"] = {"items": [{"id": 1, "priority": 5}, {"id": 2, "priority": 9},
                                           {"id": 3, "priority": 7}], "cursor": None}
    answer = http.get("/api/jobs?sort=priority&reverse=true&limit=2", headers=BEARER).json()
    assert answer == {"items": [{"id": 2, "priority": 9}, {"id": 3, "priority": 7}], "cursor": None}
    assert http.get("/api/jobs?sort=nonsense", headers=BEARER).status_code == 400

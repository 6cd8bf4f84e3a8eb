"""The monitor's routes over a stub farm (no mesh, no browser): the page, its files, what it offers."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from puli_mesh.access import decide
from puli_mesh.roles import Role
from puli_mesh.web.app import create_app
from puli_mesh.web.monitor import JOB_ACTIONS, NODE_ACTIONS, STATIC, offered_actions
from puliclient.status import CommandStatus, NodeStatus

from .test_app import StubContext

BEARER = {"Authorization": "Bearer ana-token"}  # ana: a user (test_app.TOKENS)


def test_the_page_is_served_at_the_root_with_every_file_it_loads() -> None:
    http = TestClient(create_app(StubContext()))  # type: ignore[arg-type]
    page = http.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    loaded = set(re.findall(r"/monitor/static/([\w.-]+)", page.text))
    for name in STATIC:
        if name.endswith(".js"):
            loaded |= set(re.findall(r"/monitor/static/([\w.-]+)", STATIC[name].decode()))
    assert {"monitor.js", "monitor.css", "charts.js"} <= loaded
    for name in loaded:
        answer = http.get(f"/monitor/static/{name}")
        assert answer.status_code == 200, name
    assert http.get("/monitor/static/monitor.js").headers["content-type"].startswith("text/javascript")


def test_only_the_shipped_files_are_served() -> None:
    http = TestClient(create_app(StubContext()))  # type: ignore[arg-type]
    for name in ("nope.js", "..%2F..%2Fauth.py", "__init__.py", "..%2Fmonitor.py"):
        assert http.get(f"/monitor/static/{name}").status_code == 404


def test_a_user_is_offered_actions_on_its_own_jobs_only_and_no_node_actions() -> None:
    offered = offered_actions(Role.USER, "ana")
    assert offered == {"own": list(JOB_ACTIONS), "others": [], "nodes": []}
    for role in (Role.OPERATOR, Role.ADMIN):
        assert offered_actions(role, "wendy") == {"own": list(JOB_ACTIONS), "others": list(JOB_ACTIONS),
                                                  "nodes": list(NODE_ACTIONS)}


def test_what_is_offered_is_what_the_permission_table_allows() -> None:
    for role in (Role.USER, Role.OPERATOR, Role.ADMIN):
        offered = offered_actions(role, "ana")
        for action in JOB_ACTIONS:
            assert (action in offered["others"]) == decide(role, "ana", "EDIT", action, "bob").allowed
        for route, action in NODE_ACTIONS.items():
            assert (route in offered["nodes"]) == decide(role, "ana", "EDIT", action, None).allowed


def test_meta_names_the_caller_its_actions_and_the_statuses() -> None:
    http = TestClient(create_app(StubContext()))  # type: ignore[arg-type]
    assert http.get("/monitor-api/meta").status_code == 401
    meta = http.get("/monitor-api/meta", headers=BEARER).json()
    assert meta["me"]["name"] == "ana" and meta["me"]["role"] == "user"
    assert meta["offered"] == offered_actions(Role.USER, "ana")
    assert meta["job_statuses"] == [s.name for s in NodeStatus]
    assert meta["command_statuses"] == [s.name for s in CommandStatus]


def test_figures_ask_the_mesh_as_the_caller() -> None:
    context = StubContext(answers={"figures": {"graphs": 2}})
    http = TestClient(create_app(context))  # type: ignore[arg-type]
    assert http.get("/monitor-api/figures", headers=BEARER).json() == {"graphs": 2}
    assert context.sent[0] == ("ana-token", "QUERY", {"what": "figures", "args": {}})

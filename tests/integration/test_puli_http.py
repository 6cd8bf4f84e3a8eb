"""Puli's own HTTP endpoints on real agents (``--http-port``), and Puli-era clients speaking them:
a ``/query`` in Puli's shape, a submission by ``POST /graphs/`` that runs, Puli's request
example run unchanged with ``PULI_URL``, ``Graph.submit()`` returning Puli's URL, a bulk
``PUT /pause`` and a ``PUT /rendernodes/performance``."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import httpx
import pytest

from puliclient import Graph
from puliclient.farm import Farm
from puliclient.server.queueHandler import QueueHandler
from puliclient.server.server import RequestError, Server
from puliclient.status import NodeStatus

from . import test_web_api
from .conftest import wait_for
from .test_puli_scripts import ROOT, SCRIPTS
from .test_security import submit_as
from .test_web_api import WebMesh, admin_farm

web = test_web_api.web
"""The fixture: two agents serving HTTP on a secured mesh, alice's and bob's keys."""


def put(web: WebMesh, agent: str, path: str, who: str, body: Any = None, **params: Any) -> httpx.Response:
    return httpx.put(web.url(agent) + path, json=body, params=params, timeout=15,
                     headers={"Authorization": f"Bearer {web.token(who)}"})


def graph_done(farm: Farm, graph_id: int) -> bool:
    return farm.graph(graph_id, children=False)["status"] == NodeStatus.DONE


def test_a_puli_era_query_is_answered_in_pulis_shape(web: WebMesh) -> None:
    mine = [submit_as(web.mesh, web.people["alice"], f"shot{i}") for i in range(2)]
    submit_as(web.mesh, web.people["bob"], "other")
    reply = web.get(web.follower(), "/query", "alice", constraint_user="alice", attr=["id", "name"])
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["items"] == [{"id": mine[0], "name": "shot0"}, {"id": mine[1], "name": "shot1"}]
    assert (body["summary"]["count"], body["summary"]["totalInDispatcher"]) == (2, 3)
    assert set(body["summary"]) == {"count", "totalInDispatcher", "requestTime", "requestDate"}
    nodes = web.get("web1", "/query/rn", "alice", constraint_coresnumber="+0", attr="name").json()["items"]
    assert sorted(n["name"] for n in nodes) == ["web1", "web2"]
    assert web.get("web1", "/query", None).status_code == 401  # the same caller rule as /api/
    with pytest.raises(RequestError) as refused:  # puliclient over HTTP with a bad token
        QueueHandler(Server(web.url("web1"), token="pmt1.bogus")).getAllJobs()
    assert refused.value.code == "unauthorized"


def test_a_graph_posted_to_graphs_gets_201_and_a_location_and_runs(web: WebMesh) -> None:
    graph = Graph("posted")
    graph.addNewTask("posted", arguments={"cmd": "true"})
    reply = web.post("web2", "/graphs/", "alice", graph.prepareGraphRepresentation())
    assert reply.status_code == 201, reply.text
    location = reply.headers["location"]
    assert location.startswith(f"{web.url('web2')}/nodes/") and reply.text.startswith("Graph created.")
    graph_id = Farm.graph_id(location)
    wait_for(lambda: graph_done(admin_farm(web), graph_id), 60, "the posted graph to finish")
    node = web.get("web1", f"/nodes/{graph_id}", "alice").json()
    assert (node["id"], node["name"], node["user"], node["status"]) == (graph_id, "posted", "alice", NodeStatus.DONE)


def test_pulis_request_example_runs_unchanged_over_http(web: WebMesh) -> None:
    submit_as(web.mesh, web.people["alice"], "test_lighting")
    env = {**{k: v for k, v in os.environ.items() if k not in ("PULI_NODE", "PULI_ZK", "PULI_KEY")},
           "PULI_URL": web.url(web.follower()), "PULI_TOKEN": web.token("alice"),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    run = subprocess.run([sys.executable, str(SCRIPTS / "request_jobs.py")], capture_output=True, text=True,
                         timeout=120, env=env, cwd=str(SCRIPTS))
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == 11 and lines[0].endswith("name:test_lighting user:alice")  # one job, then 10 queries
    assert "[Job(test_lighting)]" in lines[1] and "'count': 1" in lines[1]  # getAllJobs(), with its summary
    assert "[Job(test_lighting)]" in lines[4]  # getJobsByName(['.*test'], False)
    assert lines[5] == "[]"  # getJobsByUser(['jsa'], False)[0]


def test_graph_submit_over_http_returns_pulis_url(web: WebMesh, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULI_URL", web.url("web1"))
    monkeypatch.setenv("PULI_KEY", str(web.people["alice"].secret_file))  # the token is made from the key
    monkeypatch.delenv("PULI_TOKEN", raising=False)
    graph = Graph("submitted_over_http")
    graph.addNewTask("t", arguments={"cmd": "true"})
    location, message = graph.submit()
    assert location.startswith(f"{web.url('web1')}/nodes/") and message.startswith("Graph created.")
    graph_id = Farm.graph_id(location)
    wait_for(lambda: graph_done(admin_farm(web), graph_id), 60, "the submitted graph to finish")
    assert admin_farm(web).graph(graph_id, children=False)["user"] == "alice"


def test_a_bulk_pause_pauses_the_constrained_jobs_only(web: WebMesh) -> None:
    alices = [submit_as(web.mesh, web.people["alice"], f"long{i}", cmd="sleep 60") for i in range(2)]
    bobs = submit_as(web.mesh, web.people["bob"], "bobs", cmd="sleep 60")
    reply = put(web, web.follower(), "/pause", "alice", constraint_user="alice")
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert sorted(body["editedJobs"]) == alices and body["summary"]["editedCount"] == 2
    assert (body["summary"]["filteredCount"], body["summary"]["totalInDispatcher"]) == (2, 3)
    farm = admin_farm(web)
    assert [farm.graph(i, children=False)["paused"] for i in [*alices, bobs]] == [True, True, False]
    for graph_id in [*alices, bobs]:
        farm.cancel(graph_id)


def test_a_render_nodes_performance_is_set_over_http(web: WebMesh) -> None:
    reply = put(web, "web2", "/rendernodes/performance", "admin", {"web1": 7.5})
    assert reply.status_code == 200, reply.text
    performance = {n["name"]: n["performance"] for n in admin_farm(web).status()["nodes"]}
    assert performance["web1"] == 7.5 and performance["web2"] != 7.5
    refused = put(web, "web2", "/rendernodes/performance", "alice", {"web1": 1.0})
    assert refused.status_code == 403  # an operator's edit

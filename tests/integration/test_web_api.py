"""The HTTP API of real agents (``puli_mesh.web``): the same answers as ``Farm``, the same
roles as the CLI through web tokens, revocation at once, and a follower's API across a failover."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import httpx
import pytest

from puli_mesh import keys
from puli_mesh.access import Role
from puli_mesh.client import MeshClient, MeshRequestError
from puli_mesh.keys import KeyPair
from puli_mesh.protocol import ErrorCode
from puli_mesh.web.auth import token_for
from puli_mesh.web.context import ActingClient
from puli_mesh.zkserver import free_port
from puliclient.farm import Farm
from puliclient.status import NodeStatus

from .conftest import Mesh, wait_for
from .test_security import revoke, submit_as


@dataclasses.dataclass
class WebMesh:
    mesh: Mesh
    http: dict[str, int]
    """Agent name -> its HTTP port."""
    people: dict[str, KeyPair]

    def url(self, agent: str) -> str:
        return f"http://127.0.0.1:{self.http[agent]}"

    def follower(self) -> str:
        leader = self.mesh.leader()
        return next(name for name in self.http if name != leader)

    def token(self, who: str) -> str:
        return token_for(self.people[who], time.time(), hours=1)[0]

    def get(self, agent: str, path: str, who: str | None, **params: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token(who)}"} if who else {}
        return httpx.get(self.url(agent) + path, params=params, headers=headers, timeout=15)

    def post(self, agent: str, path: str, who: str, body: Any = None) -> httpx.Response:
        return httpx.post(self.url(agent) + path, json=body, timeout=15,
                          headers={"Authorization": f"Bearer {self.token(who)}"})


@pytest.fixture
def web(mesh: Mesh) -> WebMesh:
    """Two agents serving HTTP; alice and bob (users) and the admin's key."""
    http = {"web1": free_port(), "web2": free_port()}
    for name, port in http.items():
        mesh.start_agent(name, slots=2, extra=["--http-port", str(port)])
    mesh.wait_ready(2)
    people = {"alice": mesh.add_key("alice", Role.USER), "bob": mesh.add_key("bob", Role.USER),
              "admin": keys.load_client_key(mesh.keys / "admin.key_secret") if mesh.keys else None}
    web = WebMesh(mesh, http, people)  # type: ignore[arg-type]

    def serving() -> bool:
        try:
            return all(web.get(name, "/api/whoami", "alice").status_code == 200 for name in http)
        except httpx.HTTPError:
            return False

    wait_for(serving, 30, "both agents to serve HTTP")
    return web


def admin_farm(web: WebMesh) -> Farm:
    return Farm(client=MeshClient(node=web.mesh.agents["web1"].address, key=web.people["admin"], timeout=5.0))


def test_api_jobs_answers_what_farm_jobs_answers(web: WebMesh) -> None:
    ids = [submit_as(web.mesh, web.people["alice"], f"shot{i}") for i in range(3)]
    for graph_id in ids:
        web.mesh.wait_graph(graph_id, {int(NodeStatus.DONE)})
    answer = web.get(web.follower(), "/api/jobs", "bob", limit=2)
    assert answer.status_code == 200
    first = answer.json()
    rest = web.get(web.follower(), "/api/jobs", "bob", limit=2, cursor=first["cursor"]).json()
    assert first["items"] + rest["items"] == admin_farm(web).jobs()
    assert [job["id"] for job in first["items"] + rest["items"]] == ids
    filtered = web.get(web.follower(), "/api/jobs", "bob", name="shot1").json()["items"]
    assert filtered == admin_farm(web).jobs(name="shot1")
    tree = web.get(web.follower(), f"/api/jobs/{ids[0]}", "bob").json()
    assert tree == admin_farm(web).graph(ids[0])


def test_a_user_token_may_pause_its_own_job_and_gets_403_cancelling_anothers(web: WebMesh) -> None:
    mine = submit_as(web.mesh, web.people["alice"], "mine", cmd="sleep 60")
    theirs = submit_as(web.mesh, web.people["bob"], "theirs", cmd="sleep 60")
    agent = web.follower()
    assert web.get(agent, "/api/whoami", "alice").json()["name"] == "alice"
    assert web.post(agent, f"/api/jobs/{mine}/pause", "alice").status_code == 200
    wait_for(lambda: admin_farm(web).graph(mine, children=False)["status"] == int(NodeStatus.PAUSED), 20,
             "alice's job paused through the web API")
    refused = web.post(agent, f"/api/jobs/{theirs}/cancel", "alice")
    assert refused.status_code == 403
    assert refused.json()["code"] == "forbidden" and "alice" in refused.json()["message"]
    assert admin_farm(web).graph(theirs, children=False)["status"] != int(NodeStatus.CANCELED)
    assert httpx.get(web.url(agent) + "/api/jobs", timeout=15).status_code == 401  # no token, nothing
    admin_farm(web).cancel(mine)
    admin_farm(web).cancel(theirs)


def agent_client(web: WebMesh, token: str | None) -> ActingClient:
    """What an agent's web server uses: the agents' own key (role node), plus a user's token."""
    assert web.mesh.keys is not None
    cluster = keys.load_key_pair(web.mesh.keys / f"{keys.CLUSTER_KEY}{keys.SECRET_SUFFIX}")
    own = keys.load_key_pair(web.mesh.keys / f"{keys.AGENT_KEY}{keys.SECRET_SUFFIX}")
    return ActingClient(node=web.mesh.agents[web.mesh.leader()].address, timeout=5.0, tries=1,
                        key=dataclasses.replace(own, server_key=cluster.public_key), token=token)


def test_the_leader_honours_a_token_from_a_node_key_only_while_its_key_lives(web: WebMesh) -> None:
    with pytest.raises(MeshRequestError) as alone:  # an agent's key by itself may not query
        agent_client(web, None).request("QUERY", what="status", args={})
    assert alone.value.code == ErrorCode.FORBIDDEN
    token = web.token("bob")
    assert agent_client(web, token).request("QUERY", what="status", args={})["leader"]
    with pytest.raises(MeshRequestError) as foreign:  # a person's key does not carry tokens
        client = ActingClient(node=web.mesh.agents[web.mesh.leader()].address, key=web.people["alice"],
                              timeout=5.0, tries=1, token=token)
        client.request("QUERY", what="status", args={})
    assert foreign.value.code == ErrorCode.FORBIDDEN
    revoke(web.mesh, "bob")

    def refused() -> bool:
        try:
            agent_client(web, token).request("QUERY", what="status", args={})
        except MeshRequestError as exc:
            return exc.code == ErrorCode.FORBIDDEN
        return False

    wait_for(refused, 10, "the leader to refuse the token of a revoked key")
    wait_for(lambda: web.get(web.follower(), "/api/whoami", None).status_code == 401
             and httpx.get(web.url(web.follower()) + "/api/whoami", timeout=15,
                           headers={"Authorization": f"Bearer {token}"}).status_code == 401,
             10, "the web API to refuse the token of a revoked key")


def test_a_followers_api_keeps_answering_after_the_leader_is_killed(web: WebMesh) -> None:
    graph_id = submit_as(web.mesh, web.people["alice"], "survives", cmd="sleep 60")
    follower, leader = web.follower(), web.mesh.leader()
    web.mesh.kill9(leader)

    def answers() -> dict[str, Any] | None:
        try:
            reply = web.get(follower, "/api/jobs", "alice")
        except httpx.HTTPError:
            return None
        return reply.json() if reply.status_code == 200 else None

    page = wait_for(answers, 40, "the follower's API to answer from the new leader")
    assert [job["id"] for job in page["items"]] == [graph_id]
    status = web.get(follower, "/api/status", "alice").json()
    assert status["leader"] == follower
    assert web.post(follower, f"/api/jobs/{graph_id}/cancel", "alice").status_code == 200


def test_a_commands_log_is_read_tailed_and_followed_over_http(web: WebMesh) -> None:
    graph_id = submit_as(web.mesh, web.people["alice"], "talks", cmd="echo web-log-line-42")
    web.mesh.wait_graph(graph_id, {int(NodeStatus.DONE)})
    agent = web.follower()
    commands = web.get(agent, "/api/commands", "alice", job=graph_id).json()["items"]
    assert [c["id"] for c in commands] == [c["id"] for c in admin_farm(web).commands(graph=graph_id)]
    command_id = commands[0]["id"]
    piece = web.get(agent, f"/api/commands/{command_id}/log", "alice").json()
    assert "web-log-line-42" in piece["data"] and piece["next_offset"] == piece["size"]
    assert "web-log-line-42" in web.get(agent, f"/api/commands/{command_id}/log/tail", "alice", lines=5).json()["text"]
    with httpx.stream("GET", web.url(agent) + f"/api/commands/{command_id}/log/follow", timeout=30,
                      headers={"Authorization": f"Bearer {web.token('alice')}"}) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        events = "".join(stream.iter_text())
    assert "web-log-line-42" in events and "event: end" in events
    refused = web.get(agent, f"/api/commands/{command_id}/log", "bob")  # not bob's job
    assert refused.status_code == 403


def scrape(web: WebMesh, agent: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """An agent's ``/metrics``, read with ``prometheus_client``'s own parser: sample name ->
    labels -> value."""
    from prometheus_client.parser import text_string_to_metric_families

    answer = httpx.get(web.url(agent) + "/metrics", timeout=15)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def test_every_agent_serves_its_metrics_and_the_leader_the_farms(web: WebMesh) -> None:
    graph_id = submit_as(web.mesh, web.people["alice"], "counted")
    web.mesh.wait_graph(graph_id, {int(NodeStatus.DONE)})
    leader, follower = web.mesh.leader(), web.follower()

    def farm_says_done() -> dict[str, dict[tuple[tuple[str, str], ...], float]] | None:
        samples = scrape(web, leader)  # the first scrape asks the leader's loop for fresh gauges
        done = samples.get("puli_mesh_jobs", {}).get((("status", "DONE"),), 0)
        return samples if done >= 1 else None

    samples = wait_for(farm_says_done, 30, "the leader's /metrics to count the job DONE")
    assert samples["puli_mesh_leader"][()] == 1
    assert samples["puli_mesh_commands"][(("status", "DONE"),)] >= 1
    assert "puli_mesh_dispatch_latency_seconds_count" in samples
    theirs = scrape(web, follower)
    assert theirs["puli_mesh_leader"][()] == 0 and "puli_mesh_jobs" not in theirs  # the farm: the leader's
    assert any(name.startswith("puli_mesh_node_") for name in theirs)  # its own node: every agent's


@pytest.fixture
def history_each_second(monkeypatch: pytest.MonkeyPatch) -> None:
    """Agents started after this sample the farm each second, not each minute."""
    monkeypatch.setenv("PULI_HISTORY_PERIOD", "1")


def test_api_nodes_history_and_hooks_answer_what_farm_answers(history_each_second: None, web: WebMesh) -> None:
    farm, agent = admin_farm(web), web.follower()
    graph_id = submit_as(web.mesh, web.people["alice"], "sampled")
    web.mesh.wait_graph(graph_id, {int(NodeStatus.DONE)})
    # Live figures move between two reads: poll until one pair of reads agrees.
    wait_for(lambda: web.get(agent, "/api/nodes", "bob").json() == farm.nodes(), 20, "/api/nodes == Farm.nodes()")
    filtered = web.get(agent, "/api/nodes", "bob", name="web*", sort="name", reverse="true", limit=1)
    assert [n["name"] for n in filtered.json()] == ["web2"] and filtered.headers["X-Total-Count"] == "2"

    def sampled() -> list[dict[str, Any]] | None:
        samples = farm.history()
        return samples if any(s["done_total"] >= 1 for s in samples) else None

    since = wait_for(sampled, 30, "a sample counting the job's command")[0]["start"]
    assert web.get(agent, "/api/history", "bob", since=since).json() == farm.history(since)
    assert web.post(agent, "/api/hooks", "admin", {"name": "ci", "events": ["job_done"],
                                                   "url": "http://127.0.0.1:9/hook"}).status_code == 201
    listed = web.get(agent, "/api/hooks", "bob").json()
    assert listed == farm.hooks() and [h["name"] for h in listed] == ["ci"]


def test_an_operator_edit_is_refused_for_a_user_token_and_done_for_the_admins(web: WebMesh) -> None:
    agent, farm = web.follower(), admin_farm(web)
    refused = web.post(agent, "/api/licences/mtoa", "alice", {"total": 3})
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    assert "mtoa" not in [lic["name"] for lic in farm.licences()]
    assert web.post(agent, "/api/licences/mtoa", "admin", {"total": 3}).status_code == 200
    wait_for(lambda: {"name": "mtoa", "total": 3} in [{k: lic[k] for k in ("name", "total")}
                                                       for lic in farm.licences()], 20, "the licence defined")
    graph_id = submit_as(web.mesh, web.people["alice"], "given", cmd="sleep 60")
    assert web.post(agent, f"/api/jobs/{graph_id}/set", "alice", {"user": "bob"}).status_code == 403
    assert web.post(agent, f"/api/jobs/{graph_id}/set", "admin", {"user": "bob", "priority": 7}).status_code == 200
    job = farm.graph(graph_id, children=False)
    assert (job["user"], job["dispatchKey"]) == ("bob", 7)  # `priority` sets the dispatch key (Puli's)
    assert web.post(agent, "/api/hooks", "alice", {"name": "x", "events": ["job_done"],
                                                   "url": "http://127.0.0.1:9/x"}).status_code == 403
    farm.cancel(graph_id)

"""Event hooks through real agents: a local HTTP receiver gets exactly the events asked, once
each on a calm run, every one at least once across a leader killed -9; a command hook runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from puli_mesh.access import Role
from puli_mesh.client import MeshClient
from puliclient import Graph
from puliclient.errors import FarmForbiddenError, FarmInvalidRequestError, FarmNotFoundError
from puliclient.farm import Farm
from puliclient.status import NodeStatus

from .conftest import Mesh, wait_for


class Receiver:
    """An HTTP server in the test process: records every POST; answers 500 while ``failing``."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []  # (path, document), successes only
        self.refused = 0
        self.failing = False
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    if receiver.failing:
                        receiver.refused += 1
                        self.send_response(500)
                    else:
                        receiver.received.append((self.path, json.loads(body)))
                        self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def at(self, path: str) -> list[dict[str, Any]]:
        with self.lock:
            return [doc for p, doc in self.received if p == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def job(name: str, cmd: str) -> Graph:
    graph = Graph(name)
    graph.addNewTask("t", {"cmd": cmd})
    return graph


def summary(docs: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    return sorted((d["kind"], (d.get("job") or {}).get("name")) for d in docs)


def test_a_hook_gets_exactly_the_events_asked_once_each(mesh: Mesh, receiver: Receiver) -> None:
    mesh.start_agent("h1")
    mesh.wait_ready(1)
    farm = Farm(node=mesh.agents["h1"].address)
    added = farm.add_hook("done", ["job_done"], url=receiver.url("/done"))
    assert added["events"] == ["job_done"] and added["added_at"] > 0
    farm.add_hook("errors", ["job_error", "command_failed"], url=receiver.url("/errors"))
    assert sorted(h["name"] for h in farm.hooks()) == ["done", "errors"]

    good = Farm.graph_id(farm.submit(job("good", "true"))[0])
    bad = Farm.graph_id(farm.submit(job("bad", "false"))[0])
    mesh.wait_graph(good, {int(NodeStatus.DONE)})
    mesh.wait_graph(bad, {int(NodeStatus.ERROR)})
    wait_for(lambda: len(receiver.at("/errors")) >= 2 and receiver.at("/done"), 30, "the hooks' events")

    done, errors = receiver.at("/done"), receiver.at("/errors")
    assert summary(done) == [("job_done", "good")]  # not the job in error
    assert summary(errors) == [("command_failed", "bad"), ("job_error", "bad")]
    assert done[0]["job"]["id"] == good and done[0]["job"]["status"] == "DONE"
    assert done[0]["cluster"] == mesh.cluster and done[0]["id"].startswith(f"{mesh.cluster}:")
    failed = next(d for d in errors if d["kind"] == "command_failed")
    assert failed["command"]["attempt"] == 1 and failed["node"] == "h1"
    assert len({d["id"] for d in done + errors}) == 3

    farm.remove_hook("errors")
    assert [h["name"] for h in farm.hooks()] == ["done"]
    with pytest.raises(FarmNotFoundError):
        farm.remove_hook("errors")


def test_hook_settings_are_checked_and_a_command_hook_needs_an_admin(mesh: Mesh, receiver: Receiver) -> None:
    mesh.start_agent("h1")
    mesh.wait_ready(1)
    operator = mesh.add_key("wrangler", Role.OPERATOR)
    user = mesh.add_key("artist", Role.USER)
    address = mesh.agents["h1"].address
    as_operator = Farm(client=MeshClient(node=address, key=operator, timeout=5.0))
    as_user = Farm(client=MeshClient(node=address, key=user, timeout=5.0))
    with pytest.raises(FarmForbiddenError):
        as_operator.add_hook("run", ["job_done"], command="touch /tmp/never")
    as_operator.add_hook("post", ["job_done"], url=receiver.url("/x"))
    with pytest.raises(FarmForbiddenError):
        as_user.add_hook("mine", ["job_done"], url=receiver.url("/y"))
    assert [h["name"] for h in as_user.hooks()] == ["post"]  # anyone lists
    with pytest.raises(FarmInvalidRequestError):
        as_operator.add_hook("ftp", ["job_done"], url="ftp://example.com/x")
    listed = subprocess.run([sys.executable, "-m", "puli_mesh", "hooks", "list", "--json", "--node", address],
                            capture_output=True, text=True, timeout=60, check=True, env={**os.environ})
    assert [h["name"] for h in json.loads(listed.stdout)] == ["post"]


def test_every_event_arrives_at_least_once_across_a_leader_killed(mesh: Mesh, receiver: Receiver) -> None:
    mesh.start_agent("f1")
    mesh.wait_ready(1)
    mesh.start_agent("f2")
    mesh.wait_ready(2)
    leader = mesh.leader()
    survivor = next(name for name in mesh.agents if name != leader)
    farm = Farm(node=mesh.agents[survivor].address)
    farm.add_hook("ci", ["job_done"], url=receiver.url("/ci"))
    receiver.failing = True  # the events wait in the leader's delivery, retried
    before = [Farm.graph_id(farm.submit(job(f"before-{i}", "true"))[0]) for i in range(3)]
    for graph_id in before:
        mesh.wait_graph(graph_id, {int(NodeStatus.DONE)})
    wait_for(lambda: receiver.refused >= 1, 30, "a delivery refused")

    mesh.kill9(leader)
    wait_for(lambda: (s := mesh.status()) is not None and s["leader"] == survivor, 60, "the survivor to lead")
    after = Farm.graph_id(farm.submit(job("after", "true"))[0])
    mesh.wait_graph(after, {int(NodeStatus.DONE)})
    receiver.failing = False
    wanted = {*before, after}
    wait_for(lambda: {d["job"]["id"] for d in receiver.at("/ci")} >= wanted, 60, "every job_done delivered")
    docs = receiver.at("/ci")
    assert {d["kind"] for d in docs} == {"job_done"}
    assert {d["job"]["id"] for d in docs} == wanted  # nothing else, nothing missing
    by_job = {d["job"]["id"]: d["id"] for d in docs}
    assert all(d["id"] == by_job[d["job"]["id"]] for d in docs)  # a duplicate keeps its id


def test_a_command_hook_runs_with_the_event(mesh: Mesh) -> None:
    out = Path(tempfile.mkdtemp(prefix="puli-hook-"))
    out.chmod(0o777)  # a root agent runs the hook as nobody
    try:
        mesh.start_agent("c1")
        mesh.wait_ready(1)
        farm = Farm(node=mesh.agents["c1"].address)
        farm.add_hook("file", ["job_done"], command=f"sh -c 'cat > {out}/$PULI_EVENT_KIND-$PULI_JOB_NAME.json'")
        graph_id = Farm.graph_id(farm.submit(job("rendered", "true"))[0])
        mesh.wait_graph(graph_id, {int(NodeStatus.DONE)})
        path = out / "job_done-rendered.json"
        wait_for(lambda: path.exists() and path.stat().st_size > 0, 30, "the hook's file")
        document = json.loads(path.read_text())
        assert (document["kind"], document["job"]["id"]) == ("job_done", graph_id)
        if os.geteuid() == 0:
            assert path.stat().st_uid != 0  # never run as root
    finally:
        shutil.rmtree(out, ignore_errors=True)

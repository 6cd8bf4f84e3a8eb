"""puliclient.server and puliclient.model against a real scheduling core, without sockets.

The wire is a stub (:class:`CoreWire`) that hands each request, encoded and decoded as on the
mesh, to the coordinator's own request handling (``ClientRequests``) over a real
``SchedulingCore``: what the handlers and models read is exactly what a leader answers.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import pytest

from puli_mesh.coordinator.client_queries import JournalFigures, LinkFacts, StatusFacts
from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.coordinator.records import Record, Result
from puli_mesh.coordinator.render_nodes import RenderNodeInfo
from puli_mesh.coordinator.requests import ClientRequests
from puli_mesh.coordinator.stats import FarmStats
from puli_mesh.errors import MeshRequestError
from puli_mesh.protocol import EditMessage, ErrorMessage, QueryMessage, ResultMessage, SubmitMessage, decode
from puliclient import NODE_DONE, NODE_PAUSED, NODE_READY, NODE_RUNNING, Graph
from puliclient.farm import Farm
from puliclient.model.command import Command, frames_of
from puliclient.model.job import Job
from puliclient.model.renderNode import RenderNode, endpoint_address
from puliclient.model.task import Task
from puliclient.server.queueHandler import QueueHandler
from puliclient.server.renderNodeHandler import RenderNodeHandler
from puliclient.server.server import (
    InvalidParamError,
    MeshUnsupportedError,
    RequestError,
    RequestTimeoutError,
    Server,
    request,
)
from puliclient.status import CommandStatus, RenderNodeStatus


@dataclass
class CoreHost:
    """The coordinator's shell reduced to applying each record at once."""

    core: SchedulingCore = field(default_factory=SchedulingCore)
    stats: FarmStats = field(default_factory=FarmStats)
    links: dict[str, LinkFacts] = field(default_factory=dict)

    def run(self, record: Record[Result]) -> Result:
        return record.apply(self.core)

    def status_facts(self) -> StatusFacts:
        return StatusFacts("c", "rn1", 1, 0, JournalFigures(0, 0, 0, 0, 0, None), self.links)


class CoreWire:
    """A stub ``MeshClient``: every request goes through the wire's encoding to a real core."""

    def __init__(self) -> None:
        self.host = CoreHost()
        self.requests = ClientRequests(self.host, "rn1")
        self.now = 1000.0
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self._rids = itertools.count()

    @property
    def core(self) -> SchedulingCore:
        return self.host.core

    def request(self, kind: str, **fields: Any) -> Any:
        self.sent.append((kind, fields))
        rid = f"r{next(self._rids)}"
        message = {"QUERY": lambda: QueryMessage(rid, fields["what"], fields["args"]),
                   "EDIT": lambda: EditMessage(rid, fields["action"], fields["args"]),
                   "SUBMIT": lambda: SubmitMessage(rid, fields["graph"])}[kind]()
        reply = decode(self.requests.handle(decode(message.encode()), self.now))  # type: ignore[arg-type]
        if isinstance(reply, ErrorMessage):
            raise MeshRequestError(reply.code, reply.message)
        assert isinstance(reply, ResultMessage)
        return reply.data

    def join(self, name: str, pools: list[str], version: str = "1.0", **chars: Any) -> None:
        self.core.node_joined(RenderNodeInfo(name, pools, 8, 32000, 16000, 1, dict(chars), 1.5), self.now)
        self.host.links[name] = LinkFacts(f"tcp://{name}.studio:7100", pools, alive=True)
        self.requests.members_data[name] = {"endpoint": f"tcp://{name}.studio:7100", "version": version,
                                            "pools": pools, "cores": 8, "ram_mb": 32000, "free_ram_mb": 16000}


def submit(wire: CoreWire, name: str, user: str, frames: int = 4, pool: str = "default",
           tags: dict[str, Any] | None = None) -> int:
    graph = Graph(name, user=user, poolName=pool, tags=tags or {})
    group = graph.addNewTaskGroup("renders")
    group.addNewTask("render", {"cmd": "echo %%MI_FRAME%%", "start": 1, "end": frames, "packetSize": 2})
    graph.addNewTask("notify", {"cmd": "echo done"})
    location, _ = Farm(client=wire).submit(graph)  # type: ignore[arg-type]
    return Farm.graph_id(location)


@pytest.fixture
def wire() -> CoreWire:
    wire = CoreWire()
    wire.core.define_pool("gpu")
    submit(wire, "shot010_light", "ana", tags={"prod": "film", "nbFrames": 10})
    submit(wire, "shot020_comp", "bob", pool="gpu", tags={"prod": "ad"})
    submit(wire, "test_shot030", "ana", tags={"prod": "film"})
    return wire


def handler(wire: CoreWire) -> QueueHandler:
    return QueueHandler(Server(farm=Farm(client=wire)))  # type: ignore[arg-type]


def names(jobs: list[Job]) -> list[str]:
    return [j.name for j in jobs]


def test_all_jobs_come_with_pulis_fields_and_a_summary(wire: CoreWire) -> None:
    jobs, summary = handler(wire).getAllJobs()
    assert names(jobs) == ["shot010_light", "shot020_comp", "test_shot030"]
    job = jobs[0]
    assert (job.user, job.status, job.statusLabel, job.statusShortLabel) == ("ana", NODE_READY, "READY", "I")
    assert (job.commandCount, job.readyCommandCount, job.doneCommandCount) == (3, 3, 0)
    assert job.tags == {"prod": "film", "nbFrames": 10} and job.poolShares == ["default"]
    assert (summary["count"], summary["totalInDispatcher"]) == (3, 3)
    assert summary["requestTime"] >= 0 and summary["requestDate"]


@pytest.mark.parametrize(("query", "expected"), [
    (lambda q: q.getJobsByUser(["ana"]), ["shot010_light", "test_shot030"]),
    (lambda q: q.getJobsByUser(["ana", "bob"]), ["shot010_light", "shot020_comp", "test_shot030"]),
    (lambda q: q.getJobsByPool(["gpu"]), ["shot020_comp"]),
    (lambda q: q.getJobsById(range(2, 100)), ["shot020_comp", "test_shot030"]),
    (lambda q: q.getJobsById(list(range(1, 600))), ["shot010_light", "shot020_comp", "test_shot030"]),
    (lambda q: q.getJobsByName([".*test"]), ["test_shot030"]),  # re.match: anchored at the start
    (lambda q: q.getJobsByName(["test"]), ["test_shot030"]),
    (lambda q: q.getJobsByName(["shot0[12]0_"]), ["shot010_light", "shot020_comp"]),
    (lambda q: q.getJobsByName(["light"]), []),  # not a search: the start must match
    (lambda q: q.getJobsByStatus([NODE_READY]), ["shot010_light", "shot020_comp", "test_shot030"]),
    (lambda q: q.getJobsByStatus([NODE_RUNNING, NODE_DONE]), []),
    (lambda q: q.getJobsByProd(["ad"]), ["shot020_comp"]),
    (lambda q: q.getJobsByTags({"nbFrames": [10]}), ["shot010_light"]),
    # Puli's tags: ANY listed tag with one of its values
    (lambda q: q.getJobsByTags({"nbFrames": [10], "prod": ["ad"]}), ["shot010_light", "shot020_comp"]),
    # AND across keys
    (lambda q: q.getJobs(userList=["ana"], nameList=["shot"], tagsDict={"prod": ["film"]}), ["shot010_light"]),
    (lambda q: q.getJobs(idList=[1, 2], poolList=["default", "renderfarm"]), ["shot010_light"]),
])
def test_filters_are_pulis(wire: CoreWire, query: Any, expected: list[str]) -> None:
    jobs, summary = query(handler(wire))
    assert names(jobs) == expected
    assert summary["count"] == len(expected)


@pytest.mark.parametrize("query", [
    lambda q: q.getJobsByUser([]),
    lambda q: q.getJobsByUser("ana"),
    lambda q: q.getJobsByPool(None),
    lambda q: q.getJobs(idList=[]),
    lambda q: q.getJobsByName(["(unclosed"]),
    lambda q: q.getJobsByStatus([42]),
    lambda q: q.getJobsByTags({}),
    lambda q: q.getJobsByTags({"prod": []}),
])
def test_a_malformed_argument_is_refused_before_anything_is_sent(wire: CoreWire, query: Any) -> None:
    sent = len(wire.sent)
    with pytest.raises(InvalidParamError):
        query(handler(wire))
    assert len(wire.sent) == sent


def test_a_jobs_tree_is_fetched_once_when_first_walked(wire: CoreWire) -> None:
    jobs, _ = handler(wire).getJobsByName(["shot010"])
    sent = len(wire.sent)
    job = jobs[0]
    groups = job.children
    assert [c.name for c in groups] == ["notify", "renders"]  # a group's tasks, then its groups
    assert len(wire.sent) == sent + 1
    notify, renders = groups
    assert renders.task is None and [c.name for c in renders.children] == ["render"]
    task = renders.children[0].task
    assert isinstance(task, Task) and task.user == "ana" and task.runner.endswith("DefaultCommandRunner")
    assert [c.description for c in task.commands] == ["render_1_2", "render_3_4"]
    assert all(isinstance(c, Command) for c in task.commands)
    assert task.commands[0].nbFrames == 2 and task.commands[0].statusLabel == "READY"
    assert notify.task is not None and len(notify.task.commands) == 1
    assert job.children is groups and len(wire.sent) == sent + 1  # walked again: no new request
    assert job.encode()["children"][1]["children"][0]["task"]["commands"][1]["description"] == "render_3_4"


def test_not_recursive_gives_jobs_without_children_and_asks_nothing_more(wire: CoreWire) -> None:
    jobs, _ = handler(wire).getJobsByUser(["bob"], False)
    sent = len(wire.sent)
    assert jobs[0].children == [] and jobs[0].task is None
    assert len(wire.sent) == sent


def test_a_task_whose_commands_the_tree_left_out_fetches_them_all(wire: CoreWire) -> None:
    gid = submit(wire, "big", "ana", frames=2400)  # 1,200 commands: above the tree view's 1,000
    jobs, _ = handler(wire).getJobsById([gid])
    task = jobs[0].children[1].children[0].task
    assert task is not None and task.commandCount == 1200 and len(task.listed) < 1200
    assert len(task.commands) == 1200 and task.commands[-1].description == "render_2399_2400"


def test_job_mutators_edit_the_mesh_and_the_object(wire: CoreWire) -> None:
    job = handler(wire).getJobsByName(["shot010"])[0][0]
    assert job.setDispatchKey(7) and job.dispatchKey == 7
    assert job.setMaxRn(3) and job.maxRN == 3
    assert job.setPool("gpu") and job.pool == "gpu"
    assert job.updateTags({"shot": "s010"}) and job.setProd("film2")
    assert job.setTags({"prod": "film3"}) and job.tags == {"prod": "film3"}
    assert job.pause() and job.paused
    again = handler(wire).getJobsById([job.id])[0][0]
    assert (again.dispatchKey, again.maxRN, again.pool, again.tags) == (7, 3, "gpu", {"prod": "film3"})
    assert (again.status, again.paused, again.statusShortLabel) == (NODE_PAUSED, True, "P")
    assert job.resume() and handler(wire).getJobsById([job.id])[0][0].status == NODE_READY


def test_a_refused_edit_is_a_request_error_with_the_meshs_code(wire: CoreWire) -> None:
    job = handler(wire).getJobsByName(["shot010"])[0][0]
    with pytest.raises(RequestError) as refused:
        job.resume()  # not paused
    assert refused.value.code == "illegal"
    with pytest.raises(RequestError) as unknown:
        job.setPool("nowhere")
    assert unknown.value.code == "not_found"
    task_node = job.children[0]
    with pytest.raises(RequestError):
        task_node.setPool("gpu")  # a job's pool, not a task's
    assert task_node.pause() and task_node.resume()


def test_render_nodes_with_pulis_fields_and_filters() -> None:
    wire = CoreWire()
    wire.join("rn1", ["default"], version="1.0", speed=3.2)
    wire.join("rn2", ["default", "gpu"], version="2.0")
    wire.core.pause_render_node("rn2", wire.now)
    rn_handler = RenderNodeHandler(Server(farm=Farm(client=wire)))  # type: ignore[arg-type]
    nodes, summary = rn_handler.getAllRenderNodes()
    assert [n.name for n in nodes] == ["rn1", "rn2"] and summary["totalInDispatcher"] == 2
    rn1 = nodes[0]
    assert isinstance(rn1, RenderNode)
    assert (rn1.id, rn1.host, rn1.port, rn1.puliversion) == ("rn1", "rn1.studio", 7100, "1.0")
    assert (rn1.coresNumber, rn1.ramSize, rn1.systemFreeRam, rn1.speed) == (8, 32000, 16000, 3.2)
    assert (rn1.status, rn1.statusLabel, rn1.statusShortLabel) == (RenderNodeStatus.IDLE, "Idle", "I")
    assert nodes[1].status == RenderNodeStatus.PAUSED
    assert [n.name for n in rn_handler.getRenderNodesByPool(["gpu"])[0]] == ["rn2"]
    assert [n.name for n in rn_handler.getRenderNodesByStatus([RenderNodeStatus.IDLE])[0]] == ["rn1"]
    assert [n.name for n in rn_handler.getRenderNodesByHost(["rn.\\.stud"])[0]] == ["rn1", "rn2"]
    assert [n.name for n in rn_handler.getRenderNodesByVersion(["2.0"])[0]] == ["rn2"]
    assert [n.name for n in rn_handler.getRenderNodesById(["rn2"])[0]] == ["rn2"]
    assert rn_handler.getRenderNodes(nameList=["rn"], versionList=["1.0"], poolList=["gpu"])[0] == []
    with pytest.raises(InvalidParamError):
        rn_handler.getRenderNodesByStatus([99])
    assert rn1.pause() and wire.core.render_nodes()[0]["paused"]
    assert rn1.resume() and not wire.core.render_nodes()[0]["paused"]
    assert rn1.setPerformanceIndex(2.5) and rn1.performance == 2.5
    assert wire.core.render_nodes()[0]["performance"] == 2.5


def test_what_the_mesh_cannot_do_says_so_and_is_a_not_implemented_error() -> None:
    wire = CoreWire()
    wire.join("rn1", ["default"])
    rn1 = RenderNodeHandler(Server(farm=Farm(client=wire))).getAllRenderNodes()[0][0]  # type: ignore[arg-type]
    for action in (rn1.restart, rn1.killAndRestart, rn1.getLog, rn1.tailLog):
        with pytest.raises(MeshUnsupportedError, match="the mesh cannot") as raised:
            action()
        assert isinstance(raised.value, NotImplementedError) and raised.value.code == "unsupported"
    with pytest.raises(MeshUnsupportedError, match="no HTTP API"):
        Server("localhost", 8004).get("/query/job")
    with pytest.raises(RequestError):
        request("localhost", 8004, "/rendernodes/", "get")


def test_a_server_address_names_the_agent_asked_and_silence_is_a_timeout() -> None:
    server = Server("127.0.0.1", 1, timeout=0.3)
    with pytest.raises(RequestTimeoutError) as silent:
        QueueHandler(server).getAllJobs()
    assert "127.0.0.1:1" in str(silent.value) and silent.value.code == "unreachable"


def test_labels_and_frames_follow_puli() -> None:
    assert [Command(status=int(s)).statusShortLabel for s in CommandStatus] == list("BIARFDTEC")
    assert Command(status=99).statusLabel == "UNKNOWN"
    assert [RenderNode(status=int(s)).statusShortLabel for s in RenderNodeStatus] == list("UBPIAWF")
    assert (frames_of("render_1_10"), frames_of("render"), frames_of("a_b_c")) == (10, 0, 0)
    assert endpoint_address("tcp://h:9") == ("h", 9) and endpoint_address("") == ("", 0)
    assert (repr(Job(name="j")), str(Job(id=3, name="j")), repr(Task(name="t"))) == ("Job(j)", "Job: 3 - j", "Task(t)")

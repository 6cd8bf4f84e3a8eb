"""Client requests against a stub host: records run through it, replies and error codes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from puli_mesh.coordinator.client_queries import JournalFigures, StatusFacts
from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.coordinator.records import EditRecord, Record, Result, SubmitRecord, replay
from puli_mesh.coordinator.requests import ClientRequests
from puli_mesh.coordinator.stats import FarmStats
from puli_mesh.limits import MAX_RID_CHARS
from puli_mesh.protocol import (
    ClientRequest,
    EditMessage,
    ErrorCode,
    ErrorMessage,
    LogsMessage,
    QueryMessage,
    ResultMessage,
    SubmitMessage,
    decode,
)

from .graphs import single


@dataclass
class StubHost:
    """A RequestHost that applies records at once and remembers them."""

    core: SchedulingCore = field(default_factory=SchedulingCore)
    stats: FarmStats = field(default_factory=FarmStats)
    ran: list[Any] = field(default_factory=list)

    def run(self, record: Record[Result]) -> Result:
        self.ran.append(record)
        return record.apply(self.core)

    def status_facts(self) -> StatusFacts:
        return StatusFacts("c", "leader", 1, 0, JournalFigures(0, 0, 0, 0, 0, None))


def ask(requests: ClientRequests, request: ClientRequest, now: float = 50.0) -> ResultMessage | ErrorMessage:
    heard = decode(request.encode())  # through the wire, as the agent hands it over
    assert isinstance(heard, ClientRequest)
    reply = decode(requests.handle(heard, now))
    assert isinstance(reply, ResultMessage | ErrorMessage)
    return reply


def result(requests: ClientRequests, request: ClientRequest, now: float = 50.0) -> Any:
    reply = ask(requests, request, now)
    assert isinstance(reply, ResultMessage), reply
    return reply.data


def test_a_submit_runs_one_record_with_the_time_given_and_a_retry_is_answered_from_memory() -> None:
    host = StubHost()
    requests = ClientRequests(host, "leader")
    first = result(requests, SubmitMessage("r1", single("t", 2)), now=42.0)
    again = result(requests, SubmitMessage("r1", single("t", 2)), now=43.0)
    assert first == again and first["graph_id"] == 1
    assert first["message"] == "Graph created. Created nodes: " + ",".join(map(str, first["node_ids"]))
    assert host.ran == [SubmitRecord(single("t", 2), 42.0, "r1")]


@pytest.mark.parametrize("recovery", ["replay", "snapshot"])
def test_a_submit_sent_again_to_a_successor_gets_the_same_graph_and_journals_nothing(recovery: str) -> None:
    """The leader journalled the SUBMIT and died before its reply left: the client sends it
    again, same request id, to the next leader, rebuilt from the journal or a snapshot."""
    leader = StubHost()
    first = result(ClientRequests(leader, "leader"), SubmitMessage("r1", single("t", 2)), now=42.0)
    result(ClientRequests(leader, "leader"), SubmitMessage("r2", single("u", 1)), now=43.0)
    if recovery == "replay":
        successor = StubHost()
        assert replay(successor.core, [(i, r.to_data()) for i, r in enumerate(leader.ran, 1)]) == 0
    else:
        successor = StubHost(core=SchedulingCore.restore(leader.core.snapshot()))
    again = result(ClientRequests(successor, "next"), SubmitMessage("r1", single("t", 2)), now=50.0)
    assert successor.ran == []  # nothing journalled
    assert (again["graph_id"], again["node_ids"]) == (first["graph_id"], first["node_ids"])
    assert [g["id"] for g in successor.core.graphs()] == [1, 4]  # one graph each, none twice


def test_an_edit_runs_an_edit_record() -> None:
    host = StubHost()
    requests = ClientRequests(host, "leader")
    result(requests, SubmitMessage("r1", single("t", 1)))
    assert result(requests, EditMessage("r2", "pause", {"id": 1}), now=7.0) == {"ok": True}
    assert host.ran[-1] == EditRecord("pause", {"id": 1}, 7.0)


@pytest.mark.parametrize(("request_", "code"), [
    (EditMessage("r", "resume", {"id": 99}), ErrorCode.NOT_FOUND),
    (EditMessage("r", "pause", {}), ErrorCode.INVALID),
    (QueryMessage("r", "nothing", {}), ErrorCode.INVALID),
    (SubmitMessage("r", {**single("t", 1), "poolName": "nowhere"}), ErrorCode.NOT_FOUND),
    (LogsMessage("r", 1, 0, 1), ErrorCode.INVALID),
])
def test_refusals_carry_a_stable_code(request_: ClientRequest, code: ErrorCode) -> None:
    reply = ask(ClientRequests(StubHost(), "leader"), request_)
    assert isinstance(reply, ErrorMessage) and (reply.rid, reply.code) == ("r", code)
    assert reply.code == code.value  # the wire's word


def test_queries_get_the_time_passed_in() -> None:
    stats = result(ClientRequests(StubHost(), "leader"), QueryMessage("r", "stats", {}), now=123.0)
    assert stats["current"]["end"] == 123.0


def test_a_request_id_above_the_limit_is_refused_before_anything_is_remembered() -> None:
    """A SUBMIT's id is kept with its graph (journal, snapshot): a megabyte id 10,000 times over
    would be gigabytes. Refused, and not echoed back."""
    host = StubHost()
    reply = ask(ClientRequests(host, "leader"), SubmitMessage("r" * (MAX_RID_CHARS + 1), single("t", 1)))
    assert isinstance(reply, ErrorMessage) and (reply.rid, reply.code) == (None, ErrorCode.INVALID)
    assert f"limit of {MAX_RID_CHARS}" in reply.message and host.ran == []
    assert isinstance(ask(ClientRequests(host, "leader"), SubmitMessage("r" * MAX_RID_CHARS, single("t", 1))),
                      ResultMessage)

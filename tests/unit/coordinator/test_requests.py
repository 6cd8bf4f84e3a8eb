"""Client requests against a stub host: records run through it, replies and error codes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from puli_mesh.coordinator import requests as requests_mod
from puli_mesh.coordinator.client_queries import JournalFigures, StatusFacts
from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.coordinator.records import EditRecord, Record, Result, SubmitRecord
from puli_mesh.coordinator.requests import ClientRequests
from puli_mesh.coordinator.stats import FarmStats
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
    assert host.ran == [SubmitRecord(single("t", 2), 42.0)]


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


def test_remembered_submit_replies_are_bounded_by_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(requests_mod, "RECENT_SUBMITS_BYTES", 1000)
    requests = ClientRequests(StubHost(), "leader")
    for i in range(10):
        requests.remember_submit(f"r{i}", b"x" * 300)
    assert list(requests.recent_submits) == ["r7", "r8", "r9"] and requests.recent_submits_bytes == 900

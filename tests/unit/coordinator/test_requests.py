"""Client requests against a stub host: records run through it, replies and error codes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from puli_mesh import protocol
from puli_mesh.coordinator.client_queries import JournalFigures, StatusFacts
from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.coordinator.records import EditRecord, Record, Result, SubmitRecord
from puli_mesh.coordinator.requests import ClientRequests
from puli_mesh.coordinator.stats import FarmStats

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


def ask(requests: ClientRequests, kind: str, now: float = 50.0, **fields: Any) -> protocol.Message:
    return protocol.decode(requests.handle(protocol.decode(protocol.encode(kind, **fields)), now))


def test_a_submit_runs_one_record_with_the_time_given_and_a_retry_is_answered_from_memory() -> None:
    host = StubHost()
    requests = ClientRequests(host, "leader")
    first = ask(requests, "SUBMIT", now=42.0, rid="r1", graph=single("t", 2))
    again = ask(requests, "SUBMIT", now=43.0, rid="r1", graph=single("t", 2))
    assert first == again and first["data"]["graph_id"] == 1
    assert first["data"]["message"] == "Graph created. Created nodes: " + ",".join(map(str, first["data"]["node_ids"]))
    assert host.ran == [SubmitRecord(single("t", 2), 42.0)]


def test_an_edit_runs_an_edit_record() -> None:
    host = StubHost()
    requests = ClientRequests(host, "leader")
    ask(requests, "SUBMIT", rid="r1", graph=single("t", 1))
    reply = ask(requests, "EDIT", now=7.0, rid="r2", action="pause", args={"id": 1})
    assert reply["data"] == {"ok": True}
    assert host.ran[-1] == EditRecord("pause", {"id": 1}, 7.0)


@pytest.mark.parametrize(("kind", "fields", "code"), [
    ("EDIT", {"action": "resume", "args": {"id": 99}}, "not_found"),
    ("EDIT", {"action": "pause", "args": {}}, "invalid"),
    ("QUERY", {"what": "nothing", "args": {}}, "invalid"),
    ("SUBMIT", {"graph": {**single("t", 1), "poolName": "nowhere"}}, "not_found"),
    ("LOGS", {"command_id": 1, "offset": 0, "limit": 1}, "invalid"),
])
def test_refusals_carry_a_stable_code(kind: str, fields: dict[str, Any], code: str) -> None:
    reply = ask(ClientRequests(StubHost(), "leader"), kind, rid="r", **fields)
    assert (reply.kind, reply["code"]) == ("ERROR", code)


def test_queries_get_the_time_passed_in() -> None:
    reply = ask(ClientRequests(StubHost(), "leader"), "QUERY", now=123.0, rid="r", what="stats", args={})
    assert reply["data"]["current"]["end"] == 123.0

"""The coordinator service takes a worker's gathered UPDATES: each item in order, a bad one
dropped alone, one ACK for them, and the credit after them as one READY.

A real ROUTER and DEALER on loopback; no journal (every record is durable at once).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import zmq

from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.coordinator.records import SubmitRecord
from puli_mesh.coordinator.service import CoordinatorService
from puli_mesh.protocol import (
    AckMessage,
    AssignMessage,
    AssignsMessage,
    CommandSpec,
    HelloMessage,
    Message,
    ReadyMessage,
    UpdatesMessage,
    WorkerMessage,
    decode,
)
from puliclient.status import CommandStatus

from ..unit.coordinator.graphs import single


def assigned_specs(msg: Message) -> list[CommandSpec]:
    """What an ASSIGN or an ASSIGNS tells the worker to run (nothing for another kind)."""
    if isinstance(msg, AssignMessage):
        return [msg.spec]
    if isinstance(msg, AssignsMessage):
        return [CommandSpec.from_map(item) for item in msg.assigns]
    return []

class _Link:
    def __init__(self) -> None:
        self.context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self.router = self.context.socket(zmq.ROUTER)
        self.router.bind("tcp://127.0.0.1:*")
        self.dealer = self.context.socket(zmq.DEALER)
        self.dealer.setsockopt(zmq.IDENTITY, b"w1")
        self.dealer.connect(self.router.getsockopt(zmq.LAST_ENDPOINT).decode())
        self.dealer.send(b"hello")  # a ROUTER drops what it sends to a peer it has not heard yet
        assert self.router.poll(5000), "the DEALER did not connect"
        self.router.recv_multipart()
        self.service = CoordinatorService(self.router, SchedulingCore(), 1, heartbeat_interval=1.0,
                                          heartbeat_liveness=3, leader_name="w1", cluster="c")

    def say(self, msg: WorkerMessage) -> None:
        heard = decode(msg.encode())  # through the wire, as the agent hands it over
        assert isinstance(heard, WorkerMessage)
        self.service.on_worker_message(b"w1", heard)

    def join(self, slots: int) -> list[int]:
        """HELLO and READY with every slot free; returns the commands assigned in reply."""
        self.say(HelloMessage(name="w1", endpoint="tcp://127.0.0.1:1", pools=["default"], cores=4, ram_mb=4096,
                              free_ram_mb=4096, slots=slots, characteristics={"softs": []}, performance=1.0,
                              running=[], last_epoch=0, pipeline=0))
        self.say(ReadyMessage(slots))
        return [spec.command_id for m in self.heard() for spec in assigned_specs(m)]

    def heard(self) -> list[Message]:
        got = []
        while self.dealer.poll(500):
            got.append(decode(self.dealer.recv()))
        return got

    def close(self) -> None:
        self.dealer.close(linger=0)
        self.router.close(linger=0)
        self.context.term()


@pytest.fixture
def link() -> Iterator[_Link]:
    pair = _Link()
    try:
        yield pair
    finally:
        pair.close()


def test_gathered_updates_are_applied_in_order_acknowledged_together_and_credit_follows(link: _Link) -> None:
    service = link.service
    service.run(SubmitRecord(single("t", 3), time.time()))
    first = link.join(slots=2)
    assert len(first) == 2

    done = int(CommandStatus.DONE)
    items: list[Any] = [
        {"command_id": cid, "attempt": 1, "seq": seq, "status": done, "completion": 1.0, "message": "ok",
         "stats": None} for seq, cid in enumerate(first, start=1)]
    items.insert(1, {"command_id": "not a number", "attempt": 1})  # dropped alone
    link.say(UpdatesMessage(items, 2))

    assert [service.core.command(cid)["status"] for cid in first] == [done, done]
    replies = link.heard()
    acks = [m.acks for m in replies if isinstance(m, AckMessage)]
    assert acks == [[[first[0], 1, 1]], [[first[1], 1, 2]]]
    third = [m.spec.command_id for m in replies if isinstance(m, AssignMessage)]
    assert len(third) == 1 and third[0] not in first  # the credit after both: the last command


def test_updates_without_credit_ask_for_no_work(link: _Link) -> None:
    service = link.service
    service.run(SubmitRecord(single("t", 2), time.time()))
    (cid,) = link.join(slots=1)
    running = int(CommandStatus.RUNNING)
    link.say(UpdatesMessage(free_slots=None, updates=[
        {"command_id": cid, "attempt": 1, "seq": 1, "status": running, "completion": 0.5, "message": None,
         "stats": None},
        {"command_id": cid, "attempt": 1, "seq": 2, "status": None, "completion": 0.7, "message": "70%",
         "stats": None}]))
    assert service.core.command(cid)["status"] == running
    assert [m.kind for m in link.heard()] == ["ACK", "ACK"]  # no ASSIGN: no credit was given

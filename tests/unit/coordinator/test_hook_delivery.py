"""The delivery thread's steps, driven one by one with an in-memory store and a stub receiver."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from puli_mesh.coordinator import hook_delivery
from puli_mesh.coordinator.hook_delivery import HookDelivery, HookFailed
from puli_mesh.coordinator.hook_events import HookEvent
from puli_mesh.errors import FencedError
from puli_mesh.hooks import GIVE_UP_S, Hook


@dataclass
class MemoryStore:
    hooks: dict[str, Hook] = field(default_factory=dict)
    marks: dict[str, int] = field(default_factory=dict)
    fenced: bool = False

    def read_hooks(self) -> dict[str, Hook]:
        return dict(self.hooks)

    def read_marks(self) -> dict[str, int]:
        return dict(self.marks)

    def write_mark(self, name: str, seq: int) -> None:
        if self.fenced:
            raise FencedError("newer leader")
        self.marks[name] = seq

    def still_leading(self) -> bool:
        return not self.fenced


@pytest.fixture
def posted(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every POST (url, event id); a URL in ``refuse`` answers 500."""
    calls: list[Any] = []

    def post(url: str, body: str, event_id: str) -> None:
        calls.append((url, event_id))
        if url in getattr(post, "refuse", ()):
            raise HookFailed(f"{url} answered 500")

    monkeypatch.setattr(hook_delivery, "post", post)
    calls.append(post)  # calls[0]: the stub itself, to set ``refuse``
    return calls


def event(seq: int, kind: str = "job_done", user: str = "ana", time: float = 1000.0) -> HookEvent:
    return HookEvent(seq, kind, time, job_id=seq, job_name=f"j{seq}", user=user, pool="default", status="DONE")


def turn(delivery: HookDelivery) -> None:
    delivery._refresh()
    delivery._sort_inbox()
    delivery._deliver_due()
    delivery._write_marks()


def test_each_hook_gets_the_events_it_wants_after_its_mark_and_the_mark_moves(posted: list[Any]) -> None:
    store = MemoryStore({"a": Hook("a", ("job_done",), url="http://a"),
                         "b": Hook("b", ("job_error",), url="http://b", user="ana")}, marks={"a": 1})
    delivery = HookDelivery(store, "c", [event(1), event(2), event(3, "job_error"), event(4, "job_error", "bob")],
                            alive=lambda: True)
    for _ in range(3):
        turn(delivery)
    assert posted[1:] == [("http://a", "c:2"), ("http://b", "c:3")]  # 1: before a's mark; 4: bob's
    assert store.marks == {"a": 2, "b": 3}
    delivery.offer([event(2)])  # offered again (a successor's backlog): below the mark, not sent
    turn(delivery)
    assert len(posted) == 3


def test_a_refused_event_is_retried_with_back_off_then_given_up(posted: list[Any],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    posted[0].refuse = {"http://a"}
    clock = {"mono": 0.0, "wall": 1000.0}
    monkeypatch.setattr(hook_delivery.time, "monotonic", lambda: clock["mono"])
    monkeypatch.setattr(hook_delivery.time, "time", lambda: clock["wall"])
    store = MemoryStore({"a": Hook("a", ("job_done",), url="http://a")})
    delivery = HookDelivery(store, "c", [event(1), event(2)], alive=lambda: True)
    turn(delivery)
    queue = delivery.queues["a"]
    assert (queue.failures, queue.next_try) == (1, 1.0)
    turn(delivery)  # not due yet: not tried
    assert len(posted) == 2
    clock["mono"] = 1.0
    turn(delivery)
    assert (queue.failures, queue.next_try) == (2, 3.0) and "a" not in store.marks
    clock["mono"], clock["wall"] = 10.0, 1000.0 + GIVE_UP_S + 1  # past the horizon: dropped, the mark moves
    turn(delivery)
    assert store.marks == {"a": 1} and delivery.dropped == 1 and [e.seq for e in queue.events] == [2]


def test_a_hook_added_late_still_gets_recent_events_from_its_time(posted: list[Any]) -> None:
    store = MemoryStore()
    delivery = HookDelivery(store, "c", [event(1, time=5.0), event(2, time=20.0)], alive=lambda: True)
    turn(delivery)  # no hook yet
    store.hooks["late"] = Hook("late", ("job_done",), url="http://late", added_at=10.0)
    turn(delivery)
    assert posted[1:] == [("http://late", "c:2")]


def test_a_fenced_mark_stops_the_thread(posted: list[Any]) -> None:
    store = MemoryStore({"a": Hook("a", ("job_done",), url="http://a")})
    delivery = HookDelivery(store, "c", [event(1)], alive=lambda: True)
    store.fenced = True
    delivery.run()  # returns: a newer leader exists
    assert posted[1:] == []


def test_a_command_hook_gets_the_document_on_stdin_and_fails_on_a_bad_exit() -> None:
    hook_delivery.run_command("""sh -c 'test "$(cat)" = "{}" && test "$PULI_EVENT_KIND" = job_done'""", "{}",
                              {"PULI_EVENT_KIND": "job_done"})
    with pytest.raises(HookFailed, match="exited 1"):
        hook_delivery.run_command("""sh -c 'test "$(cat)" = "{}"'""", "{other}", {})

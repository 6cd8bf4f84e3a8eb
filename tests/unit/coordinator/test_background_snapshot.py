"""Snapshots taken by a forked child: the bytes are the state at the fork, whatever the loop
does meanwhile; a child that fails or dies is a SnapshotError, never a truncated snapshot."""

from __future__ import annotations

import gc
import os
import signal
import socket
from typing import Any

import pytest

from puli_mesh.coordinator import background_snapshot
from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.coordinator.journal import unpack
from puli_mesh.errors import SnapshotError
from tests.unit.coordinator.graphs import assigns, finish, graph, rn, task
from tests.unit.coordinator.test_snapshot import farm, through_msgpack


def test_the_child_sends_the_whole_state_packed_as_the_journal_stores_it() -> None:
    core = farm()
    blob = background_snapshot.start(core).packed()
    assert unpack(blob) == through_msgpack(core.snapshot())
    restored = SchedulingCore.restore(unpack(blob))
    assert restored.snapshot() == core.snapshot()


def test_the_snapshot_is_the_state_at_the_fork_not_after_what_the_loop_does_next() -> None:
    core = SchedulingCore()
    core.node_joined(rn("a", slots=1), 0)
    core.submit_graph(graph([task("render", 2)]), 1)
    before = through_msgpack(core.snapshot())
    pending = background_snapshot.start(core)
    # The loop goes on at once: a command ends, another graph comes in.
    finish(core, assigns(core.request_work("a", 1, 2))[0], 3)
    core.submit_graph(graph([task("comp", 1)], name="second"), 4)
    assert through_msgpack(core.snapshot()) != before
    assert unpack(pending.packed()) == before


def test_a_dump_that_fails_in_the_child_is_a_snapshot_error_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    core = farm()

    def broken() -> dict[str, Any]:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(core, "snapshot", broken)
    pending = background_snapshot.start(core)
    with pytest.raises(SnapshotError, match="RecursionError: maximum recursion depth exceeded"):
        pending.packed()


def test_a_child_killed_midway_is_a_snapshot_error(monkeypatch: pytest.MonkeyPatch) -> None:
    core = farm()

    def killed() -> dict[str, Any]:
        os.kill(os.getpid(), signal.SIGKILL)  # in the child: as the OOM killer would
        raise AssertionError("unreachable")

    monkeypatch.setattr(core, "snapshot", killed)
    with pytest.raises(SnapshotError, match="sent nothing.*-9"):
        background_snapshot.start(core).packed()


def test_a_child_reaped_by_someone_else_is_judged_by_its_bytes() -> None:
    core = farm()
    pending = background_snapshot.start(core)
    os.waitpid(pending._pid, 0)  # another part of the process reaps it (its bytes fit the pipe)
    assert unpack(pending.packed()) == through_msgpack(core.snapshot())


def test_without_fork_the_state_is_packed_on_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    core = farm()
    monkeypatch.delattr(os, "fork")
    pending = background_snapshot.start(core)
    assert unpack(pending.packed()) == through_msgpack(core.snapshot())


def test_the_thread_keeps_the_failure_for_the_loop_and_writes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    core = farm()
    written: list[bytes] = []

    def broken() -> dict[str, Any]:
        raise ValueError("no")

    monkeypatch.setattr(core, "snapshot", broken)
    thread = background_snapshot.SnapshotThread(background_snapshot.start(core), written.append)
    thread.start()
    thread.join(10)
    assert isinstance(thread.failure, SnapshotError) and written == []
    good = background_snapshot.SnapshotThread(background_snapshot.start(farm()), written.append)
    good.start()
    good.join(10)
    assert good.failure is None and unpack(written[0]) == through_msgpack(farm().snapshot())


def test_the_child_holds_nothing_of_the_leader_but_its_pipe(monkeypatch: pytest.MonkeyPatch) -> None:
    core = farm()
    listening = socket.socket()  # stands for the leader's port and its ZooKeeper connection
    listening.bind(("127.0.0.1", 0))
    listening.listen()
    previous = signal.signal(signal.SIGTERM, lambda *_: None)  # the agent handles SIGTERM

    def inside() -> dict[str, Any]:  # what the child sees, sent back as its "state"
        return {"fds": sorted(int(fd) for fd in os.listdir("/proc/self/fd")),
                "sigterm_default": signal.getsignal(signal.SIGTERM) == signal.SIG_DFL,
                "gc": gc.isenabled()}

    monkeypatch.setattr(core, "snapshot", inside)
    port_fd = listening.fileno()
    try:
        seen = unpack(background_snapshot.start(core).packed())
    finally:
        signal.signal(signal.SIGTERM, previous)
        listening.close()
    assert port_fd not in seen["fds"]
    assert len([fd for fd in seen["fds"] if fd > 2]) == 2  # its pipe, and the one listdir opened
    assert seen["sigterm_default"] and not seen["gc"]

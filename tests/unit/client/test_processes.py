"""``guarded_process``: no exception, not even a signal's at the worst moment, orphans the process."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import psutil
import pytest

from puliclient.processes import guarded_process, kill_process_group

# A shell leading its own group with a child of its own: the kill must take the group.
GROUP = ["sh", "-c", "sleep 30 & wait"]


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # what the command watcher makes of SIGTERM


@pytest.fixture
def sigterm_interrupts() -> Iterator[None]:
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Every Popen guarded_process starts (it may never hand it to the test); SIGKILLed at teardown."""
    processes: list[subprocess.Popen[bytes]] = []

    class RecordingPopen(subprocess.Popen[bytes]):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            processes.append(self)

    monkeypatch.setattr(subprocess, "Popen", RecordingPopen)
    yield processes
    for process in processes:  # only does anything when the test failed
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _recording_kill() -> tuple[list[int], Callable[[subprocess.Popen[bytes]], None]]:
    killed: list[int] = []

    def kill(process: subprocess.Popen[bytes]) -> None:
        killed.append(process.pid)
        kill_process_group(process)

    return killed, kill


def _members(pgid: int) -> list[int]:
    pids = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                pids.append(proc.pid)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return pids


def _assert_group_gone(pgid: int) -> None:
    deadline = time.monotonic() + 10
    while alive := _members(pgid):
        assert time.monotonic() < deadline, f"process group {pgid} survived: {alive}"
        time.sleep(0.01)


@pytest.mark.usefixtures("sigterm_interrupts")
def test_sigterm_as_the_handlers_come_back_kills_the_process(
    monkeypatch: pytest.MonkeyPatch, started: list[subprocess.Popen[bytes]]
) -> None:
    # The CI failure's window: the signal lands just after the real handler is
    # back, before the caller could have entered its own try (spawn() lost the
    # child there). Raised from inside signal.signal, it is handled as that
    # call returns, deterministically.
    real_signal = signal.signal

    def signal_then_sigterm(sig: int, handler: Any) -> Any:
        previous = real_signal(sig, handler)
        if sig == signal.SIGTERM and handler is _interrupt:
            signal.raise_signal(signal.SIGTERM)
        return previous

    monkeypatch.setattr(signal, "signal", signal_then_sigterm)
    killed, kill = _recording_kill()
    with pytest.raises(KeyboardInterrupt), guarded_process(GROUP, kill, start_new_session=True):
        pytest.fail("the with body ran despite the SIGTERM")
    monkeypatch.undo()
    [process] = started
    assert killed == [process.pid]
    _assert_group_gone(process.pid)
    assert signal.getsignal(signal.SIGTERM) is _interrupt


@pytest.mark.usefixtures("sigterm_interrupts")
def test_sigterm_during_popen_is_held_then_delivered_after_the_kill(
    monkeypatch: pytest.MonkeyPatch, started: list[subprocess.Popen[bytes]]
) -> None:
    popen = subprocess.Popen

    def popen_then_sigterm(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        process = popen(*args, **kwargs)
        signal.raise_signal(signal.SIGTERM)  # while Popen would still be returning
        return process

    monkeypatch.setattr(subprocess, "Popen", popen_then_sigterm)
    killed, kill = _recording_kill()
    with pytest.raises(KeyboardInterrupt), guarded_process(GROUP, kill, start_new_session=True):
        pytest.fail("the with body ran despite the SIGTERM")
    [process] = started
    assert killed == [process.pid]
    _assert_group_gone(process.pid)
    assert signal.getsignal(signal.SIGTERM) is _interrupt


@pytest.mark.usefixtures("sigterm_interrupts")
def test_sigterm_in_the_body_kills_the_process() -> None:
    killed, kill = _recording_kill()
    with pytest.raises(KeyboardInterrupt), guarded_process(GROUP, kill, start_new_session=True) as process:
        os.kill(os.getpid(), signal.SIGTERM)  # the handler raises as this returns
        pytest.fail(f"pid {process.pid}: the SIGTERM did not interrupt the body")
    assert killed == [process.pid]
    _assert_group_gone(process.pid)


def test_the_kill_reaps_even_when_popens_own_lock_was_left_taken() -> None:
    # An interruption raised inside Popen.wait at the wrong instant leaves its lock taken; a
    # command watcher given two SIGTERMs then hung in the kill's final wait() until SIGKILL.
    process = subprocess.Popen(GROUP, start_new_session=True)
    process._waitpid_lock.acquire()  # the state such an interruption leaves
    try:
        killer = threading.Thread(target=kill_process_group, args=(process,), daemon=True)
        killer.start()
        killer.join(timeout=10)
        assert not killer.is_alive(), "kill_process_group blocked on the Popen's lock"
    finally:
        process._waitpid_lock.release()
    assert process.returncode == -signal.SIGTERM
    _assert_group_gone(process.pid)


def test_a_process_the_body_already_reaped_is_not_killed_again() -> None:
    killed, kill = _recording_kill()
    with pytest.raises(RuntimeError, match="gave up"), guarded_process(GROUP, kill, start_new_session=True) as process:
        kill(process)
        raise RuntimeError("gave up")
    assert killed == [process.pid]


def test_normal_exit_leaves_the_process_alone() -> None:
    killed, kill = _recording_kill()
    with guarded_process(["true"], kill) as process:
        assert process.wait() == 0
    assert killed == []


def test_off_the_main_thread_an_exception_still_kills() -> None:
    killed, kill = _recording_kill()
    errors: list[BaseException] = []
    pids: list[int] = []

    def run() -> None:
        try:
            with guarded_process(GROUP, kill, start_new_session=True) as process:
                pids.append(process.pid)
                raise RuntimeError("in the body")
        except RuntimeError as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert [str(e) for e in errors] == ["in the body"]
    assert killed == pids
    _assert_group_gone(pids[0])

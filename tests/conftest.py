"""Fixtures shared by every test layer."""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from puli_mesh.zkserver import ZooKeeperServer


def os_ignored_signals() -> int:
    """The signals the kernel discards for this process (``SigIgn`` of /proc/self/status): what a
    native library may set with sigaction behind Python's back (0 where there is no /proc)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("SigIgn:"):
                    return int(line.split()[1], 16)
    except OSError:
        pass
    return 0


@pytest.fixture(autouse=True)
def signal_handling_left_as_found() -> Iterator[None]:
    """Fail (and undo) a test that leaves this process's SIGINT/SIGTERM handlers, its blocked
    signals or its ignored ones changed: a later test in the same worker (the Ctrl-C tests)
    would break instead."""
    watched = (signal.SIGINT, signal.SIGTERM)
    handlers = {sig: signal.getsignal(sig) for sig in watched}
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    ignored = os_ignored_signals()
    yield
    changed = [f"{sig.name}: {handlers[sig]!r} -> {signal.getsignal(sig)!r}"
               for sig in watched if signal.getsignal(sig) != handlers[sig]]
    now_blocked = signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    if now_blocked != mask:
        changed.append(f"blocked signals: {sorted(mask)} -> {sorted(now_blocked)}")
    now_ignored = os_ignored_signals()
    if now_ignored != ignored:
        changed.append(f"signals the kernel ignores: {ignored:#x} -> {now_ignored:#x}")
        for sig, handler in handlers.items():  # installed again, at the kernel too
            if handler is not None:
                signal.signal(sig, handler)
    for sig, handler in handlers.items():
        if handler is not None:
            signal.signal(sig, handler)
    assert not changed, f"the test left signal handling changed: {changed}"


@pytest.fixture(scope="session")
def zookeeper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZooKeeperServer]:
    """A real ZooKeeper server (Debian's) on a free loopback port, torn down after the run.

    One server for the whole session keeps the suite fast; tests isolate
    themselves with their own cluster name (``zk_cluster``).
    """
    server = ZooKeeperServer(data_dir=Path(tmp_path_factory.mktemp("zookeeper")))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def zk_cluster(request: pytest.FixtureRequest) -> str:
    """A cluster name unique to this test, so tests sharing one ZooKeeper never collide."""
    safe = "".join(c if c.isalnum() else "-" for c in request.node.name)[:60]
    # Not id(request): an address is reused once its object is freed, and parametrized tests
    # share their first 60 characters, so two tests got one cluster (and its stale znodes).
    return f"t-{safe}-{uuid.uuid4().hex[:12]}"

"""Killing what a command started: whole process groups and process trees.

Frames are started in their own session (``start_new_session=True``) so one
``killpg`` reaches everything they forked; a command watcher run as a
subprocess is killed with its whole tree of descendants (psutil), because its
frames live in sessions of their own. Both send SIGTERM, give a short grace,
then SIGKILL. Nothing here decides *when* to kill.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

GRACE_SECONDS = 2.0
_POLL_SECONDS = 0.02


def spawn(
    args: Any, kill: Callable[[subprocess.Popen[bytes]], None], **popen_kwargs: Any
) -> subprocess.Popen[bytes]:
    """``subprocess.Popen(args, **popen_kwargs)`` that a Ctrl-C (or SIGTERM) cannot orphan.

    A signal arriving while Popen starts the child would otherwise raise before
    the caller holds the process, leaving it running. In the main thread, such
    a signal is held until Popen returns; then the child is killed with
    ``kill`` and the signal is delivered again to its usual handler.
    """
    if threading.current_thread() is not threading.main_thread():
        return subprocess.Popen(args, **popen_kwargs)
    received: list[int] = []
    previous = {
        sig: handler
        for sig in (signal.SIGINT, signal.SIGTERM)
        if (handler := signal.getsignal(sig)) is not None
    }
    for sig in previous:
        signal.signal(sig, lambda signum, frame: received.append(signum))
    try:
        process = subprocess.Popen(args, **popen_kwargs)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if received:
        kill(process)
        signal.raise_signal(received[0])
    return process


def _group_alive(pgid: int) -> bool:
    """True while a live (non-zombie) process is in group ``pgid``.

    Scans the process table instead of ``killpg(pgid, 0)``: some kernels keep
    answering for a group for a while after its last member was reaped.
    """
    import psutil  # lazily: command processes import this module and rarely kill

    for pid in psutil.pids():
        try:
            if os.getpgid(pid) == pgid and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, psutil.NoSuchProcess, PermissionError):
            continue
    return False


def kill_process_group(process: subprocess.Popen[bytes], grace: float = GRACE_SECONDS) -> None:
    """SIGTERM the group led by ``process``, SIGKILL it after ``grace`` s, reap ``process``.

    ``process`` must have been started with ``start_new_session=True``: its pid
    is then its process group id.
    """
    pgid = process.pid
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        process.wait()
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        process.poll()  # reap our own child so it stops counting as a group member
        if not _group_alive(pgid):
            break
        time.sleep(_POLL_SECONDS)
    else:
        log.warning("process group %d still alive %.1f s after SIGTERM: SIGKILL", pgid, grace)
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait()


def kill_process_tree(pid: int, grace: float = GRACE_SECONDS) -> None:
    """SIGTERM ``pid`` and all its descendants, SIGKILL the survivors after ``grace`` s.

    The caller still has to reap ``pid`` if it is its child.
    """
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for proc in procs:
        try:
            proc.terminate()
        except psutil.NoSuchProcess:
            pass
    _gone, alive = psutil.wait_procs(procs, timeout=grace)
    for proc in alive:
        log.warning("pid %d still alive %.1f s after SIGTERM: SIGKILL", proc.pid, grace)
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=grace)

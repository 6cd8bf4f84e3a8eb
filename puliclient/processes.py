"""Starting and killing what a command runs: whole process groups and process trees.

Frames are started in their own session (``start_new_session=True``) so one
``killpg`` reaches everything they forked; a command watcher run as a
subprocess is killed with its whole tree of descendants (psutil), because its
frames live in sessions of their own. Both send SIGTERM, give a short grace,
then SIGKILL. Nothing here decides *when* to kill.

:func:`guarded_process` starts a process so that no exception, including the
KeyboardInterrupt a SIGINT or (in the command watcher) a SIGTERM raises at any
moment, leaves it running unseen: from the instant Popen returns until the
``with`` block ends, an exception kills it before propagating. Not covered: a
SIGKILL of this process, or a ``kill`` that is itself interrupted.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

log = logging.getLogger(__name__)

_Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers

GRACE_SECONDS = 2.0
_POLL_SECONDS = 0.02


class GuardedProcess:
    """The context manager returned by :func:`guarded_process`.

    A class rather than ``@contextlib.contextmanager``: the latter's
    ``__enter__`` runs Python code, and checks for pending signals, after the
    generator has yielded the process and before the ``with`` statement
    protects the body; a signal handled there would leave the process running,
    the very gap this closes. Here ``__enter__`` returns straight from inside
    its ``try``, and the body is protected from its first instruction.
    """

    def __init__(
        self, args: Any, kill: Callable[[subprocess.Popen[bytes]], None], popen_kwargs: dict[str, Any]
    ) -> None:
        self._args = args
        self._kill = kill
        self._popen_kwargs = popen_kwargs
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> subprocess.Popen[bytes]:
        if threading.current_thread() is not threading.main_thread():
            # Signal handlers only run in the main thread: nothing can interrupt us here.
            self._process = subprocess.Popen(self._args, **self._popen_kwargs)
            return self._process
        received: list[int] = []
        previous = {
            sig: handler
            for sig in (signal.SIGINT, signal.SIGTERM)
            # None: a handler installed from C, which could not be put back;
            # SIG_IGN: such a signal must neither kill the child nor be delivered.
            if (handler := signal.getsignal(sig)) is not None and handler != signal.SIG_IGN
        }
        try:
            for sig in previous:
                signal.signal(sig, lambda signum, frame: received.append(signum))
            process = subprocess.Popen(self._args, **self._popen_kwargs)
        except BaseException:
            # No process (Popen reaps a child that failed to exec): restore the
            # handlers and deliver what was held, so a Ctrl-C is not lost.
            _restore_handlers(previous)
            if received:
                signal.raise_signal(received[0])
            raise
        try:
            # Restored inside this try: a signal that the restored handler turns
            # into an exception, from here on, kills the process on its way out.
            _restore_handlers(previous)
            if received:
                self._kill(process)
                signal.raise_signal(received[0])
            self._process = process
            return process
        except BaseException:
            if process.returncode is None:
                self._kill(process)
            raise

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        process = self._process
        # returncode set: the body already killed (or waited for) and reaped it.
        if exc_type is not None and process is not None and process.returncode is None:
            self._kill(process)


def _restore_handlers(previous: dict[signal.Signals, _Handler]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)


def guarded_process(
    args: Any, kill: Callable[[subprocess.Popen[bytes]], None], **popen_kwargs: Any
) -> GuardedProcess:
    """``with guarded_process(args, kill, **popen_kwargs) as process:``: a Popen no exception can orphan.

    ``subprocess.Popen(args, **popen_kwargs)`` is started on entry; an exception
    leaving the ``with`` body calls ``kill(process)`` (unless the process was
    already reaped, i.e. the body killed or waited for it) and then
    propagates. A normal exit leaves the process alone: the body waits for it.

    In the main thread, SIGINT and SIGTERM arriving while Popen starts the
    child are held until it returns; the child is then killed with ``kill``
    and the first signal is raised again to its usual handler (should that
    handler not raise, the body gets the killed process). A signal arriving
    later, once the handlers are back, is within reach of the kill. Off the
    main thread, where signal handlers never run, no handler is touched.

    ``kill`` must reap the process (``wait``) or it may be called twice.
    """
    return GuardedProcess(args, kill, popen_kwargs)


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
        reap(process)
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        reap(process, block=False)  # our own child, reaped, stops counting as a group member
        if not _group_alive(pgid):
            break
        time.sleep(_POLL_SECONDS)
    else:
        log.warning("process group %d still alive %.1f s after SIGTERM: SIGKILL", pgid, grace)
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    reap(process)


def reap(process: subprocess.Popen[Any], block: bool = True) -> None:
    """Reap ``process`` (set its ``returncode``) once it has exited; ``block``: wait for that.

    ``os.waitpid`` rather than ``Popen.wait``/``poll``: those take a lock of the Popen's own,
    and an interruption raised by a signal handler at the wrong instant inside them (between
    taking it and the ``with``/``try`` that gives it back) leaves it taken for good; every
    later ``wait()`` then blocks forever. Seen: a command watcher given two SIGTERMs hung in
    the ``wait()`` that ends this module's kill, until the agent's SIGKILL.
    """
    if process.returncode is not None:
        return
    try:
        pid, status = os.waitpid(process.pid, 0 if block else os.WNOHANG)
    except ChildProcessError:
        # Reaped elsewhere meanwhile: its status is lost; 0, as Popen itself says then.
        process.returncode = 0
        return
    if pid:
        process.returncode = os.waitstatus_to_exitcode(status)


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

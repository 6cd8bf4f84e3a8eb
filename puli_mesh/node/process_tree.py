"""The processes of one running command, so that a kill takes all of them.

Puli's worker sent SIGTERM to the watcher's pid only, and its children kept
rendering after a kill (Puli 1.7's known orphans). A command's
processes do not share one process group here: the watcher leads its own
session, and ``DefaultCommandRunner`` starts every frame in a session of its
own. So they are found three ways, each catching what the others miss:

* the watcher's **process group** (``os.killpg``), which reaches its members
  even after their parent died;
* the **descendants** of every tracked process as psutil sees them
  (``children(recursive=True)``), which finds the ones that called ``setsid``;
* a **marker** in the environment (``PULI_EXECUTION_ID=<random token>``, set
  for the watcher and inherited by everything it starts), looked up in
  ``/proc/<pid>/environ``: it finds orphans that were reparented to init, such
  as a frame's forgotten ``sleep 60 &`` after the frame ended.

Guarantees: ``signal()`` reaches the group and every process collected so far;
a tracked pid that was reused by an unrelated process is never signalled
(psutil checks each process's creation time); zombies count as gone.

Not guaranteed: a process that clears its environment *and* leaves the session
*and* is orphaned before a ``collect()`` is invisible. The marker scan reads
every process's environ (a few ms for a few hundred processes), so it runs
when a command ends or is killed, not continuously. Linux only (``/proc``);
elsewhere only the group and the descendants are used.
"""

from __future__ import annotations

import logging
import os
import signal

import psutil

log = logging.getLogger(__name__)

MARKER_VARIABLE = "PULI_EXECUTION_ID"


class ProcessTree:
    """The process group of ``root_pid`` plus every process of the command found so far."""

    def __init__(self, root_pid: int, marker: str | None = None, track_root: bool = True) -> None:
        """``track_root=False`` when the root was already reaped: its pid may name another process now."""
        self.root_pid = root_pid
        self.pgid = root_pid  # the watcher was started with start_new_session=True
        self._marker = f"{MARKER_VARIABLE}={marker}".encode() if marker else None
        self._tracked: dict[int, psutil.Process] = {}
        if track_root:
            try:
                self._tracked[root_pid] = psutil.Process(root_pid)
            except psutil.Error:
                pass

    @property
    def tracked_pids(self) -> list[int]:
        """Every pid collected so far (alive or not)."""
        return sorted(self._tracked)

    def collect(self, scan_marked: bool = True) -> int:
        """Add descendants of living tracked processes (and marked processes); returns new count."""
        found: list[psutil.Process] = []
        for proc in list(self._tracked.values()):
            try:
                if proc.is_running():  # not gone, and its pid does not name another process
                    found += proc.children(recursive=True)
            except psutil.Error:
                continue
        if scan_marked:
            found += self._marked()
        new = 0
        for proc in found:
            if proc.pid not in self._tracked:
                self._tracked[proc.pid] = proc
                new += 1
        return new

    def _marked(self) -> list[psutil.Process]:
        if self._marker is None or not os.path.isdir("/proc"):
            return []
        me = os.getpid()
        marked: list[psutil.Process] = []
        for pid in psutil.pids():
            if pid == me or pid in self._tracked:
                continue
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    environ = f.read()
                if self._marker in environ.split(b"\0"):
                    marked.append(psutil.Process(pid))
            except (OSError, psutil.Error):
                continue  # gone meanwhile, or not ours to read
        return marked

    def resident_mb(self) -> float:
        """The resident memory (MB) of the tree now: the sum of the RSS of every tracked process
        still running, descendants collected first (not the marker scan: too costly to repeat)."""
        self.collect(scan_marked=False)
        total = 0
        for proc in self._tracked.values():
            try:
                if proc.is_running():  # its pid may name another process by now
                    total += proc.memory_info().rss
            except psutil.Error:  # gone meanwhile: it holds nothing
                continue
        return total / (1024 * 1024)

    def signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the group and to every tracked process still running."""
        try:
            os.killpg(self.pgid, sig)
        except ProcessLookupError:
            pass  # the group is empty
        except PermissionError:
            log.warning("not allowed to signal process group %d", self.pgid)
        for proc in self._tracked.values():
            try:
                proc.send_signal(sig)  # psutil refuses if the pid now names another process
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                pass
            except psutil.AccessDenied:
                log.warning("not allowed to signal pid %d of group %d", proc.pid, self.pgid)

    def group_members(self) -> list[int]:
        """Pids of the group that are not zombies (a scan of every pid: call it sparingly)."""
        try:
            os.killpg(self.pgid, 0)
        except ProcessLookupError:
            return []
        except PermissionError:
            pass
        members: list[int] = []
        for pid in psutil.pids():
            try:
                if os.getpgid(pid) != self.pgid:
                    continue
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    members.append(pid)
            except (OSError, psutil.Error):
                continue
        return members

    def survivors(self) -> list[int]:
        """Pids of the group and tracked processes still running (zombies count as gone)."""
        alive = set(self.group_members())
        for pid, proc in self._tracked.items():
            try:
                if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                    alive.add(pid)
            except psutil.Error:
                pass
        return sorted(alive)

    def kill_hard(self, rounds: int = 5) -> None:
        """SIGKILL everything, re-collecting between rounds so late forks are caught too.

        A SIGKILLed process may take a moment to vanish (or longer, in
        uninterruptible sleep): check ``survivors()`` afterwards.
        """
        self.collect()
        for _ in range(rounds):
            self.signal(signal.SIGKILL)
            if self.collect(scan_marked=False) == 0:
                break

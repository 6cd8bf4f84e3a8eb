"""The processes of one running command, so that a kill takes all of them.

Puli's worker sent SIGTERM to the watcher's pid only, and its children kept
rendering (see reference/puli-original-behaviour.md, 5.7). Here a command's
processes are found two ways, because each misses something the other finds:

* its **process group**: the watcher is started with ``start_new_session=True``,
  so it leads its own session and group and every child that does not move away
  is in it; ``os.killpg`` reaches them even after their parent died;
* its **descendants** as psutil sees them (``children(recursive=True)``),
  collected *before* signalling, which finds the ones that called ``setsid``
  or ``setpgid`` and left the group.

Guarantees: ``signal()`` reaches every process of the group and every tracked
descendant; a tracked pid that was reused by an unrelated process is never
signalled (psutil checks each process's creation time).

Not guaranteed: a process that left the group *and* whose parent died before
it was collected is reparented to init and cannot be found (call ``collect()``
while the tree is intact, i.e. before signalling). The group id could in theory
be reused once every member is gone; pids wrap around far too slowly for that
to matter within a kill's grace period.
"""

from __future__ import annotations

import logging
import os
import signal

import psutil

log = logging.getLogger(__name__)


class ProcessTree:
    """The process group ``pgid`` plus the descendants of ``root_pid`` found so far."""

    def __init__(self, root_pid: int, pgid: int | None = None) -> None:
        self.root_pid = root_pid
        self.pgid = root_pid if pgid is None else pgid
        self._tracked: dict[int, psutil.Process] = {}
        try:
            self._tracked[root_pid] = psutil.Process(root_pid)
        except psutil.Error:
            pass

    @property
    def tracked_pids(self) -> list[int]:
        """Every pid collected so far (alive or not)."""
        return sorted(self._tracked)

    def collect(self) -> int:
        """Add the current descendants of every tracked living process; returns how many are new."""
        new = 0
        for proc in list(self._tracked.values()):
            try:
                if not proc.is_running():  # gone, or its pid now names another process
                    continue
                children = proc.children(recursive=True)
            except psutil.Error:
                continue
            for child in children:
                if child.pid not in self._tracked:
                    self._tracked[child.pid] = child
                    new += 1
        return new

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

    def group_alive(self) -> bool:
        """True while a process of the group still runs (zombies waiting for a reaper do not)."""
        try:
            os.killpg(self.pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return bool(self.group_members())

    def group_members(self) -> list[int]:
        """Pids in the group that are not zombies (a scan of every pid: call it sparingly)."""
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
        """Pids of tracked processes that are still running (zombies count as gone)."""
        alive: list[int] = []
        for pid, proc in self._tracked.items():
            try:
                if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
            except psutil.Error:
                pass
        return alive

    def kill_hard(self, rounds: int = 5) -> list[int]:
        """SIGKILL everything, re-collecting between rounds so late forks are caught too.

        Returns the pids still running afterwards (normally none; a process in
        uninterruptible sleep dies only when its I/O returns).
        """
        for _ in range(rounds):
            self.collect()
            self.signal(signal.SIGKILL)
            if self.collect() == 0:
                break
        return self.survivors()

"""A render node's killfile (Puli's worker killfile): a file whose presence takes the node off the farm.

A workstation user (or a script of theirs) writes the file to keep their machine for
themselves; the agent looks at it about every second (``CHECK_EVERY_S``: one ``stat``, the
file read only when the ``stat`` changed):

=========================  =============================================================
file                       the node
=========================  =============================================================
absent, or ``0``           takes work (undoing a pause its killfile made, not an operator's)
empty                      pauses: finishes what runs, takes nothing new (like a drain)
``-1``                     kills what runs (re-queued, no attempt spent) and pauses; the file
                           is rewritten empty, so it stays paused
``-2``                     as ``-1``, then the agent exits with :data:`EXIT_KILLFILE_STOP`
                           (systemd's ``Restart=on-failure`` starts it again, paused)
``-3``                     as ``-1``, then the agent starts itself again in place
                           (:data:`EXIT_KILLFILE_RESTART`: ``puli-mesh agent`` re-executes)
anything else              pauses, as empty (one warning per content)
=========================  =============================================================

The node tells its leader with a KILLFILE message (``protocol.KillfileOrder``); the leader
journals it, so ``puli-mesh nodes`` shows ``killfile`` as the reason of the pause, and the
pause outlives a failover. The worker also refuses work itself while its killfile holds it.

Guarantees: :func:`killfile_step` is pure (the file's content and the previous order in, what
to do out); a ``-N`` is acted on once per write of the file, even if rewriting it fails.
Not here: what pausing means to the scheduler (``coordinator.render_node_events.killfile``).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from puli_mesh.protocol import KillfileOrder

log = logging.getLogger(__name__)

CHECK_EVERY_S = 1.0
EXIT_KILLFILE_STOP = 4
"""The agent's exit code after a ``-2``: a failure to systemd (``Restart=on-failure``), so it restarts."""
EXIT_KILLFILE_RESTART = 5
"""The agent's exit code after a ``-3``: ``puli-mesh agent`` then re-executes itself in place."""
EXIT_WAIT_S = 5.0
"""After a ``-2``/``-3``, the leader's KILLs and the commands' last UPDATEs get this long before the agent leaves."""
EXIT_WAIT_MIN_S = 0.5
"""...and at least this long, for the KILLFILE message to leave the socket."""
MAX_READ_BYTES = 64


@dataclass(frozen=True, slots=True)
class KillfileStep:
    """What a killfile's content asks, given the order the node obeys."""

    order: KillfileOrder
    """The order to obey from now on (after a kill: PAUSE)."""
    report: KillfileOrder | None
    """What to tell the leader (None: nothing changed)."""
    rewrite: bool = False
    """Empty the file (a ``-N`` was acted on)."""
    exit_code: int | None = None
    """Leave the agent with this code once the kill is done."""
    unknown: bool = False
    """The content is none of the known values (taken as empty)."""


KILL_EXITS: dict[str, int | None] = {"-1": None, "-2": EXIT_KILLFILE_STOP, "-3": EXIT_KILLFILE_RESTART}


def killfile_step(content: str | None, previous: KillfileOrder | None) -> KillfileStep:
    """The step for a killfile holding ``content`` (None: no file) when the node obeys
    ``previous`` (None: nothing yet, so whatever it is is reported)."""
    text = None if content is None else content.strip()
    if text is None or text == "0":
        return KillfileStep(KillfileOrder.OFF, None if previous is KillfileOrder.OFF else KillfileOrder.OFF)
    if text in KILL_EXITS:
        return KillfileStep(KillfileOrder.PAUSE, KillfileOrder.KILL, rewrite=True, exit_code=KILL_EXITS[text])
    return KillfileStep(KillfileOrder.PAUSE, None if previous is KillfileOrder.PAUSE else KillfileOrder.PAUSE,
                        unknown=text != "")


class Obeying(Protocol):
    """What the killfile needs of the worker (``node.worker.Worker``)."""

    running: dict[int, object]

    def obey_killfile(self, order: KillfileOrder, report: KillfileOrder | None) -> None: ...


class KillfileWatch:
    """Looks at the killfile about every second and has the worker obey it (the shell)."""

    def __init__(self, path: Path, worker: Obeying) -> None:
        self.path = path
        self.worker = worker
        self.order: KillfileOrder | None = None
        self._seen: tuple[int, int, int] | None = None  # the file's (inode, size, mtime) last read
        self._next_check = 0.0
        self._warned: set[str] = set()
        self._leave: tuple[int, float, float] | None = None  # exit code, earliest, latest

    def tick(self, now: float) -> int | None:
        """Check the file if it is time; the exit code when the agent must leave now."""
        if self._leave is not None:
            code, earliest, latest = self._leave
            if now >= latest or (now >= earliest and not self.worker.running):
                return code
            return None
        if now < self._next_check:
            return None
        self._next_check = now + CHECK_EVERY_S
        content = self._read()
        if content is False:
            return None  # unchanged since it was last read
        step = killfile_step(content, self.order)
        if step.unknown and content not in self._warned:
            self._warned.add(str(content))
            log.warning("killfile %s holds %r, none of '', 0, -1, -2, -3: the node pauses as for an empty one",
                        self.path, str(content)[:MAX_READ_BYTES])
        if step.report is not None:
            log.info("killfile %s: %s", self.path, step.report)
        self.order = step.order
        self.worker.obey_killfile(step.order, step.report)
        if step.rewrite:
            self._rewrite()
        if step.exit_code is not None:
            log.warning("killfile %s: the agent leaves (exit code %d)", self.path, step.exit_code)
            self._leave = (step.exit_code, now + EXIT_WAIT_MIN_S, now + EXIT_WAIT_S)
        return None

    def member_data(self) -> dict[str, Any]:
        """Nothing for the member data: the leader knows the pause (``node.nimby.NodeWatch``)."""
        return {}

    def news(self) -> bool:
        return False

    def _read(self) -> str | None | bool:
        """The file's content (None: no file), or False when its ``stat`` did not change."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            seen = None
        except OSError as exc:
            log.warning("killfile %s cannot be looked at: %s", self.path, exc)
            return False
        else:
            seen = (st.st_ino, st.st_size, st.st_mtime_ns)
        if seen == self._seen and self.order is not None:
            return False
        self._seen = seen
        if seen is None:
            return None
        try:
            with open(self.path, "rb") as f:
                return f.read(MAX_READ_BYTES).decode("utf-8", "replace")
        except FileNotFoundError:
            self._seen = None
            return None
        except OSError as exc:
            log.warning("killfile %s cannot be read (%s): taken as empty", self.path, exc)
            return ""

    def _rewrite(self) -> None:
        """Empty the file: the node stays paused, and the ``-N`` is not acted on again."""
        try:
            with open(self.path, "w"):
                pass
            st = os.stat(self.path)
            self._seen = (st.st_ino, st.st_size, st.st_mtime_ns)
        except OSError as exc:  # acted on once all the same: ``_seen`` keeps the -N's stat
            log.error("killfile %s could not be emptied: %s", self.path, exc)

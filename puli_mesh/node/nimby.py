"""A workstation's NIMBY ("not in my back yard"): when a render node that is someone's desk takes work.

The agent setting ``nimby`` says which rule holds:

============  ==================================================================================
``off``       the node always takes work (its ``killfile``, when one is set, still applies)
``killfile``  Puli's worker killfile (``node.killfile``): the ``killfile`` setting must name it
``idle``      the node takes work only while nobody used the machine for ``nimby_idle_minutes``
              (and, when ``nimby_window`` is set, e.g. ``"20:00-08:00"``, only inside that window
              of local wall-clock time); when the user comes back, what runs is killed and
              re-queued (no attempt spent) within ``CHECK_EVERY_S`` plus a round trip to the leader
============  ==================================================================================

``idle`` reuses the killfile's path to the leader: the watch has the worker obey a
:class:`~puli_mesh.protocol.KillfileOrder` (the user came back: ``KILL``; the window closed:
``PAUSE``, what runs finishes; idle again inside the window: ``OFF``), sent as a KILLFILE
message and journalled by the leader, so the pause outlives a failover and is undone by the
node alone, never over an operator's pause. Why the node holds (``user active``, ``outside
window``) is in the agent's member data under ``MEMBER_KEY``: ``puli-mesh nodes`` and ``top``
show the pause's reason as ``nimby: user active``.

User input is read without X where possible (:func:`device_idle_s`): the newest access or
modification time of the terminals (``/dev/pts/*``, ``/dev/tty[0-9]*``: the tty layer stamps
them on input, what ``w`` shows as IDLE) and of ``/dev/input/event*`` (where the kernel stamps
them); ``xprintidle`` when it is installed and a ``DISPLAY`` is set (a graphical session whose
devices say nothing), at most once a second. No source at all (a headless machine) counts as
idle forever: nobody sits there. For tests only: ``PULI_TEST_IDLE_FILE`` names a file holding
the idle seconds to use instead.

Guarantees: :func:`nimby_step` is pure (idle seconds, the local minute of the day, the rules,
the previous state in; the state and what to tell the leader out); a window is in wall-clock
minutes, so a DST change moves nothing (20:00 stays 20:00). The watch costs a few ``stat``
calls every ``CHECK_EVERY_S``.
Not here: what pausing means to the scheduler (``coordinator.render_node_events.killfile``).
"""

from __future__ import annotations

import glob
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from puli_mesh.errors import ConfigError
from puli_mesh.node.killfile import KillfileWatch, Obeying
from puli_mesh.protocol import KillfileOrder

log = logging.getLogger(__name__)

CHECK_EVERY_S = 0.25
"""How often the ``idle`` watch reads the user's idle time: a returning user's frames die within a second."""
MEMBER_KEY = "nimby"
"""The agent's member data key saying why it holds (a :class:`NimbyState`; "" while it takes
work; only with ``nimby = idle``)."""
TEST_IDLE_FILE = "PULI_TEST_IDLE_FILE"
DEVICE_GLOBS = ("/dev/pts/[0-9]*", "/dev/tty[0-9]*", "/dev/input/event*")
DEVICES_LISTED_EVERY_S = 10.0
"""The device nodes are listed again this often (a new terminal, a plugged keyboard); stat'ed each check."""
XPRINTIDLE_EVERY_S = 1.0
MINUTES_A_DAY = 24 * 60


class NimbyMode(StrEnum):
    """The ``nimby`` setting."""

    OFF = "off"
    KILLFILE = "killfile"
    IDLE = "idle"


class NimbyState(StrEnum):
    """Where an ``idle`` node stands; the words ``puli-mesh nodes`` shows after ``nimby:``."""

    IDLE = "idle"  # nobody used it for long enough, inside the window: it takes work
    USER_ACTIVE = "user active"
    OUTSIDE_WINDOW = "outside window"


ORDERS = {NimbyState.IDLE: KillfileOrder.OFF, NimbyState.USER_ACTIVE: KillfileOrder.PAUSE,
          NimbyState.OUTSIDE_WINDOW: KillfileOrder.PAUSE}
"""The order the worker obeys in each state."""
REPORTS = {NimbyState.IDLE: KillfileOrder.OFF, NimbyState.USER_ACTIVE: KillfileOrder.KILL,
           NimbyState.OUTSIDE_WINDOW: KillfileOrder.PAUSE}
"""What the leader is told on entering each state: a returning user's frames are killed, a
closing window lets what runs finish."""


@dataclass(frozen=True, slots=True)
class Window:
    """A daily window of local wall-clock time, ``start`` included, ``end`` not (minutes of the
    day); ``start > end`` wraps midnight."""

    start: int
    end: int

    def contains(self, minute: int) -> bool:
        if self.start < self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end


def parse_window(text: str) -> Window | None:
    """``"HH:MM-HH:MM"`` as a :class:`Window`; ``""``: None (always). ConfigError saying why."""
    text = text.strip()
    if not text:
        return None
    try:
        start, end = (_minute_of(part) for part in text.split("-"))
    except ValueError:
        raise ConfigError(f"nimby_window {text!r} is not HH:MM-HH:MM (e.g. 20:00-08:00)") from None
    if start == end:
        raise ConfigError(f"nimby_window {text!r} is empty: leave it unset to render at any hour")
    return Window(start, end)


def _minute_of(clock: str) -> int:
    hours, minutes = clock.strip().split(":")
    h, m = int(hours), int(minutes)
    if not (0 <= h <= 23 and 0 <= m <= 59):
        raise ValueError(clock)
    return h * 60 + m


@dataclass(frozen=True, slots=True)
class NimbyRules:
    """The ``idle`` mode's settings, parsed."""

    idle_s: float
    """Seconds without user input before the node takes work."""
    window: Window | None = None


@dataclass(frozen=True, slots=True)
class NimbyStep:
    state: NimbyState
    order: KillfileOrder
    """What the worker obeys from now on."""
    report: KillfileOrder | None
    """What to tell the leader (None: the state did not change)."""


def nimby_step(idle_s: float | None, minute: int, rules: NimbyRules, previous: NimbyState | None) -> NimbyStep:
    """The state of a node whose user has been idle ``idle_s`` seconds (None: no input source,
    idle forever) at ``minute`` of the local day, having been in ``previous`` (None: the first
    look, always reported). A user at the machine wins over the window: their frames die."""
    if idle_s is not None and idle_s < rules.idle_s:
        state = NimbyState.USER_ACTIVE
    elif rules.window is not None and not rules.window.contains(minute % MINUTES_A_DAY):
        state = NimbyState.OUTSIDE_WINDOW
    else:
        state = NimbyState.IDLE
    return NimbyStep(state, ORDERS[state], None if state is previous else REPORTS[state])


def check_settings(mode: str, killfile: str, idle_minutes: float, window: str) -> NimbyMode:
    """The ``nimby*`` settings checked together (``config.Settings.validate``); ConfigError saying why."""
    try:
        chosen = NimbyMode(mode)
    except ValueError:
        raise ConfigError(f"nimby {mode!r} is none of {', '.join(m.value for m in NimbyMode)}") from None
    if chosen is NimbyMode.KILLFILE and not killfile:
        raise ConfigError("nimby = killfile needs the killfile setting (--killfile PATH)")
    if chosen is NimbyMode.IDLE and killfile:
        raise ConfigError("nimby = idle and a killfile: choose one (nimby = killfile, or no killfile)")
    if idle_minutes < 0:
        raise ConfigError(f"nimby_idle_minutes must not be negative, got {idle_minutes}")
    parse_window(window)
    return chosen


# ------------------------------------------------------------------ the shell
IdleSource = Callable[[float], "float | None"]
"""The user's idle seconds at a wall-clock time (None: nothing to tell)."""


class NodeWatch(Protocol):
    """What the agent's loop asks of the watch that decides when its node takes work."""

    def tick(self, now: float) -> int | None:
        """Look if it is time; the agent's exit code when it must leave now."""
        ...

    def member_data(self) -> dict[str, Any]:
        """What to add to the agent's member data."""
        ...

    def news(self) -> bool:
        """Whether ``member_data`` changed since the last call (the agent writes it at once)."""
        ...


class NoWatch:
    """``nimby = off`` without a killfile: the node always takes work."""

    def tick(self, now: float) -> int | None:
        return None

    def member_data(self) -> dict[str, Any]:
        return {}

    def news(self) -> bool:
        return False


class NimbyWatch:
    """Reads the user's idle time every ``CHECK_EVERY_S`` and has the worker obey (``nimby = idle``)."""

    def __init__(self, rules: NimbyRules, worker: Obeying, idle: IdleSource,
                 clock: Callable[[], float] = time.time,
                 local: Callable[[float], time.struct_time] = time.localtime) -> None:
        self.rules = rules
        self.worker = worker
        self.idle = idle
        self.clock = clock
        self.local = local
        self.state: NimbyState | None = None
        self._next_check = 0.0
        self._news = False

    def tick(self, now: float) -> int | None:
        if now < self._next_check:
            return None
        self._next_check = now + CHECK_EVERY_S
        wall = self.clock()
        local = self.local(wall)
        step = nimby_step(self.idle(wall), local.tm_hour * 60 + local.tm_min, self.rules, self.state)
        if step.report is not None:
            log.info("nimby: %s (%s)", step.state, "takes work" if step.state is NimbyState.IDLE else "holds")
            self.state = step.state
            self._news = True
            self.worker.obey_killfile(step.order, step.report)
        return None

    def member_data(self) -> dict[str, Any]:
        """Why it holds (``"user active"``, ``"outside window"``), "" while it takes work."""
        return {MEMBER_KEY: "" if self.state in (None, NimbyState.IDLE) else str(self.state)}

    def news(self) -> bool:
        news, self._news = self._news, False
        return news


def watch_for(mode: str, killfile: str, idle_minutes: float, window: str, worker: Obeying) -> NodeWatch:
    """The watch the settings ask for (checked by ``check_settings`` already)."""
    if mode == NimbyMode.IDLE:
        return NimbyWatch(NimbyRules(idle_minutes * 60.0, parse_window(window)), worker, InputIdle())
    return KillfileWatch(Path(killfile), worker) if killfile else NoWatch()


# ------------------------------------------------------------------ idle sources
def device_idle_s(wall: float, paths: list[str]) -> float | None:
    """Seconds since the newest access or modification of ``paths`` (None: none could be stat'ed)."""
    newest: float | None = None
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            continue
        touched = max(st.st_atime, st.st_mtime)
        if newest is None or touched > newest:
            newest = touched
    return None if newest is None else max(0.0, wall - newest)


def forced_idle_s() -> float | None:
    """The idle seconds ``PULI_TEST_IDLE_FILE`` holds (None: not set, or unreadable)."""
    path = os.environ.get(TEST_IDLE_FILE)
    if not path:
        return None
    try:
        with open(path) as f:
            return float(f.read().strip())
    except (OSError, ValueError) as exc:
        log.warning("%s=%s unreadable (%s): ignored", TEST_IDLE_FILE, path, exc)
        return None


class InputIdle:
    """This machine's user idle time: the shortest of what its sources say (:data:`IdleSource`)."""

    def __init__(self) -> None:
        self._paths: list[str] = []
        self._listed_at = float("-inf")
        self._xprintidle = shutil.which("xprintidle") if os.environ.get("DISPLAY") else None
        self._x_read: tuple[float, float] | None = None  # (wall time, idle seconds) of the last read

    def __call__(self, wall: float) -> float | None:
        if os.environ.get(TEST_IDLE_FILE):
            return forced_idle_s()
        if wall - self._listed_at >= DEVICES_LISTED_EVERY_S:
            self._listed_at = wall
            self._paths = [p for pattern in DEVICE_GLOBS for p in glob.glob(pattern)]
        readings = [r for r in (device_idle_s(wall, self._paths), self._x_idle_s(wall)) if r is not None]
        return min(readings) if readings else None

    def _x_idle_s(self, wall: float) -> float | None:
        if self._xprintidle is None:
            return None
        if self._x_read is not None and wall - self._x_read[0] < XPRINTIDLE_EVERY_S:
            return self._x_read[1] + wall - self._x_read[0]  # a process a second, not four
        try:
            out = subprocess.run([self._xprintidle], capture_output=True, text=True, timeout=1.0, check=True)
            idle = int(out.stdout.strip()) / 1000.0
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            log.warning("xprintidle failed (%s): the devices alone tell the user's idle time", exc)
            self._xprintidle = None
            return None
        self._x_read = (wall, idle)
        return idle

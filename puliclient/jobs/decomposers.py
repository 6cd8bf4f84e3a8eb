"""Decomposers (a task's arguments → its commands) and expanders (a group → more nodes).

``DefaultTaskDecomposer`` cuts a frame range into packets of commands named
``<task>_<start>_<end>``:

* ``start``/``end`` (default 1) with ``packetSize`` (default 1): 1-10 by 3 gives
  1-3, 4-6, 7-9, 10-10.
* ``framesList`` (takes priority), comma separated: ``"1-10,20,30-40"``; each
  token is packetised on its own.
* A step, ``"1-100x5"`` in ``framesList`` or a ``step`` argument (applies to the
  ranges that give no ``x``): the frames are 1, 6, 11, ... . With packetSize 1
  each stepped frame is one command; with packetSize N, consecutive *stepped*
  frames are grouped N at a time (1-11 with step 5 holds frames 1, 6, 11), and
  the command carries ``step`` in its arguments so ``DefaultCommandRunner``
  runs exactly those frames. (Puli's unmerged step branch ignored the step
  when packetSize > 1; that loses frames, so we do not.)

A range is refused (``GraphError``) before any command is made when its packets would hold
more frames than ``GraphLimits.frames_per_command`` or the task more commands than
``commands_per_task`` (the defaults: ``puli_mesh.limits``): 1 to 10**12 is refused at once.

Decomposition happens client-side; the mesh only ever sees commands. Nothing
here runs a command. A decomposer sees its task, and an expander its group,
through what it uses of them (:class:`DecomposableTask`,
:class:`ExpandableGroup`), so this module does not import the object model
that imports it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Protocol

from puli_mesh.limits import DEFAULT_GRAPH_LIMITS, frame_count
from puliclient.errors import GraphError

_TOKEN = re.compile(r"^\s*(-?\d+)\s*(?:-\s*(-?\d+)\s*(?:x\s*(\d+)\s*)?)?$")


class DecomposableTask(Protocol):
    """What a decomposer uses of its :class:`~puliclient.task.Task`."""

    @property
    def name(self) -> str: ...

    @property
    def arguments(self) -> Mapping[str, Any]: ...

    def append_command(
        self,
        name: str,
        arguments: Mapping[str, Any],
        runnerPackages: str | None,
        watcherPackages: str | None,
    ) -> Any: ...


class ExpandableGroup(Protocol):
    """What an expander uses of its :class:`~puliclient.taskgroup.TaskGroup` (Puli's API)."""

    @property
    def name(self) -> str: ...

    def addNewTask(self, *args: Any, **kwargs: Any) -> Any: ...

    def addNewTaskGroup(self, *args: Any, **kwargs: Any) -> Any: ...


class TaskDecomposer:
    """Base class: built with the task, it adds the task's commands."""

    def __init__(self, task: DecomposableTask) -> None:
        self.task = task

    def addCommand(
        self,
        name: str,
        args: dict[str, Any],
        runnerPackages: str | None = None,
        watcherPackages: str | None = None,
    ) -> None:
        """Append a command to the task being decomposed."""
        self.task.append_command(name, args, runnerPackages, watcherPackages)


class DefaultTaskDecomposer(TaskDecomposer):
    """Packetises ``start``/``end``/``framesList`` (see the module docstring)."""

    START_LABEL = "start"
    END_LABEL = "end"
    PACKETSIZE_LABEL = "packetSize"
    FRAMESLIST_LABEL = "framesList"
    STEP_LABEL = "step"

    def __init__(self, task: DecomposableTask) -> None:
        super().__init__(task)
        args = task.arguments
        if (self.START_LABEL in args and self.END_LABEL in args) or self.FRAMESLIST_LABEL in args:
            self.decompose(
                start=args.get(self.START_LABEL, 1),
                end=args.get(self.END_LABEL, 1),
                packetSize=args.get(self.PACKETSIZE_LABEL, 1),
                framesList=args.get(self.FRAMESLIST_LABEL, ""),
                step=args.get(self.STEP_LABEL, 1),
            )
        else:
            self.addCommand(task.name, dict(args))

    def decompose(
        self,
        start: Any,
        end: Any,
        packetSize: Any,
        framesList: str = "",
        step: Any = 1,
    ) -> None:
        """Add one command per packet; raise ``GraphError`` naming the task on bad values."""
        try:
            packet_size, default_step = int(packetSize), int(step)
            if framesList:
                ranges = [self._parse_token(token, default_step) for token in framesList.split(",")]
            else:
                ranges = [(int(start), int(end), default_step)]
        except (TypeError, ValueError) as exc:
            raise GraphError(f"task '{self.task.name}': cannot decompose: {exc}") from exc
        if packet_size < 1:
            raise GraphError(f"task '{self.task.name}': packetSize must be >= 1, not {packet_size}")
        limits = DEFAULT_GRAPH_LIMITS
        commands = 0
        for first, last, frame_step in ranges:  # checked whole before a command is made
            if first > last:
                raise GraphError(f"task '{self.task.name}': start {first} is after end {last}")
            if frame_step < 1:
                raise GraphError(f"task '{self.task.name}': step must be >= 1, not {frame_step}")
            frames = frame_count(first, last, frame_step)
            if min(frames, packet_size) > limits.frames_per_command:
                raise GraphError(f"task '{self.task.name}': packets of {min(frames, packet_size)} frames are above "
                                 f"the limit of {limits.frames_per_command} frames per command; use a smaller "
                                 "packetSize")
            commands += -(-frames // packet_size)
            if commands > limits.commands_per_task:
                raise GraphError(f"task '{self.task.name}': {first}-{last} makes more than "
                                 f"{limits.commands_per_task} commands, the limit per task; use a bigger "
                                 "packetSize or split the range into several tasks")
        for first, last, frame_step in ranges:
            frames = frame_count(first, last, frame_step)
            for i in range(0, frames, packet_size):  # the packets, never the list of every frame
                end = min(i + packet_size, frames) - 1
                self._add_packet(first + i * frame_step, first + end * frame_step, frame_step)

    def _add_packet(self, first: int, last: int, frame_step: int) -> None:
        args = dict(self.task.arguments)
        args[self.START_LABEL] = first
        args[self.END_LABEL] = last
        if frame_step != 1 or self.STEP_LABEL in args:
            args[self.STEP_LABEL] = frame_step
        self.addCommand(f"{self.task.name}_{first}_{last}", args)

    @staticmethod
    def _parse_token(token: str, default_step: int) -> tuple[int, int, int]:
        match = _TOKEN.match(token)
        if match is None:
            raise ValueError(f"bad framesList token {token!r} (expected N, A-B or A-BxS)")
        first, last, frame_step = match.groups()
        if last is None:
            return int(first), int(first), 1
        return int(first), int(last), int(frame_step) if frame_step else default_step


class TaskExpander:
    """Base class of expanders: built once with the group, it may add tasks or groups to it."""

    def __init__(self, taskGroup: ExpandableGroup) -> None:
        self.taskGroup = taskGroup

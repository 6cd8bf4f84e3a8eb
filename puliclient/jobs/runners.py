"""``CommandRunner`` (what runs one command on a render node) and ``DefaultCommandRunner``.

A runner declares its parameters as class attributes and implements
``execute(self, arguments, updateCompletion, updateMessage, updateStats=None)``;
a runner written the old way, ``execute(self, arguments)`` logging through
``self.log``, works as well (the watcher looks at the signature). Runners raise
``CommandError`` to fail, ``CommandDone`` to end early as DONE and
``RunnerTimeoutError`` when their timeout expires. Mapping those outcomes to a
command status is the watcher's job (:mod:`puliclient.commandwatcher`), not
this module's.
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
from collections.abc import Callable
from typing import Any, ClassVar

from puli_mesh.limits import DEFAULT_GRAPH_LIMITS, frame_count
from puliclient.errors import CommandError, RunnerTimeoutError
from puliclient.jobs.parameters import CommandRunnerParameter, IntegerParameter, StringParameter
from puliclient.processes import guarded_process, kill_process_group

CompletionCallback = Callable[[float], None]
MessageCallback = Callable[[str], None]
StatsCallback = Callable[[dict[str, Any]], None]


class CommandRunner:
    """Base class of every runner.

    ``parameters`` lists the declared :class:`CommandRunnerParameter` of the
    class and of its bases (a subclass may redeclare a name). The watcher sets
    ``environment`` (the command's own environment, to merge over
    ``os.environ`` for subprocesses), ``startDate``, ``runnerPackages`` and
    ``associatedWatcher`` (the :class:`puliclient.commandwatcher.CommandWatcher`
    running it, as in Puli) before calling :meth:`execute`.
    """

    parameters: ClassVar[list[CommandRunnerParameter]] = []
    log: ClassVar[logging.Logger] = logging.getLogger("puli.runner")
    scriptTimeOut: ClassVar[float | None] = None

    def __init__(self) -> None:
        self.environment: dict[str, str] = {}
        self.startDate: float | None = None
        self.runnerPackages: str = ""
        # Any, not CommandWatcher: that module imports this one (no cycle, even for typing).
        self.associatedWatcher: Any = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declared: dict[str, CommandRunnerParameter] = {}
        for klass in reversed(cls.__mro__):
            for name, value in vars(klass).items():
                if isinstance(value, CommandRunnerParameter):
                    value.name = name
                    declared[name] = value
        cls.parameters = list(declared.values())

    def validate(self, arguments: dict[str, Any]) -> None:
        """Check and convert ``arguments`` in place; raise ``ValidationError``/``RangeError``."""
        for parameter in self.parameters:
            parameter.validate(arguments)

    def execute(
        self,
        arguments: dict[str, Any],
        updateCompletion: CompletionCallback,
        updateMessage: MessageCallback,
        updateStats: StatsCallback | None = None,
    ) -> None:
        """Run the command. Subclasses override this."""
        raise NotImplementedError(f"{type(self).__name__}.execute is not implemented")

    def subprocess_environment(self) -> dict[str, str]:
        """``os.environ`` with the command's environment merged over it."""
        return {**os.environ, **self.environment}


def frame_command_lines(arguments: dict[str, Any],
                        max_frames: int = DEFAULT_GRAPH_LIMITS.frames_per_command) -> list[tuple[int, str]]:
    """``(frame, shell command)`` for every frame of validated DefaultCommandRunner arguments.

    The one place ``%%MI_FRAME%%``, ``%%MI_START%%`` and ``%%MI_END%%`` are
    substituted: the runner uses it, and so does a render node that runs these
    commands without starting a Python watcher. Raises ``CommandError`` when the
    range holds no frame, or more than ``max_frames`` (counted before anything is
    listed: a range of 10**12 frames fails the command at once instead of holding its slot).
    """
    start, end, step = arguments["start"], arguments["end"], arguments["step"]
    count = frame_count(start, end, step)
    if count > max_frames:
        raise CommandError(f"{count} frames to run ({start} to {end} by {step}), above the limit of {max_frames} "
                           "frames per command; cut the range into more commands")
    frames = range(start, end + 1, step)
    if not frames:
        raise CommandError(f"no frame to run: start {start} is after end {end}")
    return [
        (
            frame,
            arguments["cmd"]
            .replace("%%MI_FRAME%%", str(frame))
            .replace("%%MI_START%%", str(start))
            .replace("%%MI_END%%", str(end)),
        )
        for frame in frames
    ]


class DefaultCommandRunner(CommandRunner):
    """Runs the shell command ``cmd`` once per frame, ``start`` to ``end`` by ``step``.

    ``%%MI_FRAME%%``, ``%%MI_START%%`` and ``%%MI_END%%`` in ``cmd`` are
    replaced by the frame, the start and the end. Frames run one after the
    other, each in its own session with the task environment merged over
    ``os.environ``; completion is reported after each frame. A frame exiting
    non-zero stops the command with ``CommandError`` ("frame 12: command exited
    with code 3"). ``timeout`` (seconds, 0 = none) applies to the whole command:
    when it expires the running frame's whole process group gets SIGTERM, then
    SIGKILL after a short grace, and ``RunnerTimeoutError`` is raised. An
    interruption (KeyboardInterrupt, or SIGTERM turned into one by the
    watcher) kills the running frame's group the same way before propagating.
    """

    cmd = StringParameter(mandatory=True)
    start = IntegerParameter(default=1)
    end = IntegerParameter(default=1)
    step = IntegerParameter(default=1, min=1)
    timeout = IntegerParameter(default=0, min=0)

    def execute(
        self,
        arguments: dict[str, Any],
        updateCompletion: CompletionCallback,
        updateMessage: MessageCallback,
        updateStats: StatsCallback | None = None,
    ) -> None:
        frames = frame_command_lines(arguments)
        timeout = arguments["timeout"]
        deadline = time.monotonic() + timeout if timeout > 0 else None
        environment = self.subprocess_environment()
        updateCompletion(0.0)
        for done, (frame, command) in enumerate(frames, start=1):
            self.log.info("frame %d: %s", frame, command)
            returncode = self._run_frame(command, environment, deadline, timeout, frame)
            if returncode < 0:
                raise CommandError(f"frame {frame}: command killed by signal {-returncode}")
            if returncode != 0:
                raise CommandError(f"frame {frame}: command exited with code {returncode}")
            updateCompletion(done / len(frames))
        updateMessage(f"{len(frames)} frame(s) done")

    def _run_frame(
        self,
        command: str,
        environment: dict[str, str],
        deadline: float | None,
        timeout: int,
        frame: int,
    ) -> int:
        # An interruption (the watcher's SIGTERM, Ctrl-C) kills the group on its way out of the with.
        with guarded_process(
            command, kill_process_group, shell=True, env=environment, start_new_session=True
        ) as process:
            try:
                remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                return process.wait(timeout=remaining)
            except subprocess.TimeoutExpired:
                kill_process_group(process)
                raise RunnerTimeoutError(
                    f"frame {frame}: command timed out after {timeout} s (process group killed)"
                ) from None

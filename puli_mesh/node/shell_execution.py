"""Running a ``DefaultCommandRunner`` command without a Python watcher: the agent spawns the frames.

Most farm commands are shell lines (``DefaultCommandRunner``). Starting a
Python interpreter per command to run ``sh -c`` costs ~100 ms of CPU and
latency; this execution runs each frame's shell line directly, one after the
other, with the same substitutions (``puliclient.jobs.runners.frame_command_lines``),
environment, log file, timeout and kill as :class:`~puli_mesh.node.execution.CommandExecution`,
whose interface it has (the agent's loop cannot tell them apart).

``report_fd`` is a pidfd of the running frame: it becomes readable when the
frame exits, so the loop wakes at once instead of polling.

Guarantees: one ``end`` event; a frame exiting non-zero stops the command with
ERROR ("frame 12: command exited with code 3" and the log tail); the timeout
covers the whole command (TIMEOUT), and so does the idle limit (``idle``: no output in the
log and no frame ended for that long: TIMEOUT saying so); ``kill()`` takes the frame's group, its
descendants and anything carrying this execution's ``PULI_EXECUTION_ID``,
SIGKILL after the grace. When a frame ends by itself, a cheap check (is its
process group empty?) decides whether leftovers must be hunted down. Each frame
gets the environment and runs as the account ``launch.CommandLaunch`` says (its
job's user with ``run_as_job_user``: a user it must not run as ends it in ERROR,
the reason in its log). Not done: runners other than ``DefaultCommandRunner``.
"""

from __future__ import annotations

import functools
import logging
import os
import secrets
import signal
import subprocess
import time
from pathlib import Path

from puli_mesh.errors import JobUserError
from puli_mesh.node.command import (
    ExecutionEvent,
    command_environment,
    log_file_for,
    log_footer,
    log_header,
    message_with_tail,
    open_log,
)
from puli_mesh.node.execution import DEFAULT_KILL_GRACE_S, SETTLE_AFTER_SIGKILL_S, CommandExecution, watch_ram
from puli_mesh.node.idle import IdleClock, idle_limit, idle_message
from puli_mesh.node.launch import DEFAULT_LAUNCH, Account, CommandLaunch
from puli_mesh.node.process_tree import ProcessTree
from puli_mesh.node.ram_watch import ram_watch_for
from puli_mesh.protocol import CommandSpec
from puliclient.errors import CommandError
from puliclient.jobs.runners import DefaultCommandRunner, frame_command_lines
from puliclient.status import CommandStatus

log = logging.getLogger(__name__)

NATIVE_RUNNERS = frozenset({"puliclient.jobs.DefaultCommandRunner", "puliclient.jobs.runners.DefaultCommandRunner"})
_ARGUMENTS = DefaultCommandRunner()
"""Only validates arguments (stateless): one instance for every command."""


@functools.cache
def _devnull() -> int:
    """Every frame's stdin: opened once for the agent's life, not once per frame as ``subprocess.DEVNULL`` is."""
    return os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)


class _Frame:
    """One frame's shell, started with ``os.posix_spawn``.

    ``subprocess.Popen`` costs the agent about twice the CPU per frame (its
    error pipe, Python-side argument and environment handling); on a farm of
    short frames that is most of what an agent spends per command. Only what
    this module needs: ``pid``, ``poll()`` and ``returncode`` (negative for a
    signal, as with Popen). A frame run as its job's user (``account``) is started
    with ``subprocess.Popen``, which can change the child's groups and ids before
    exec (posix_spawn cannot); the Popen object only starts it: ``poll`` reaps it.
    """

    __slots__ = ("pid", "returncode", "status_lost", "_popen")

    def __init__(self, line: str, env: dict[str, str], stdin: int, output: int,
                 account: Account | None = None) -> None:
        self.returncode: int | None = None
        self.status_lost = False
        self._popen: subprocess.Popen[bytes] | None = None
        if account is not None:
            self._popen = subprocess.Popen(
                [_SHELL, "-c", line], env=env, stdin=stdin, stdout=output, stderr=output,
                start_new_session=True, close_fds=True, **account.spawn_arguments())
            self.pid = self._popen.pid
            return
        self.pid = os.posix_spawn(
            _SHELL, [_SHELL, "-c", line], env,
            file_actions=[(os.POSIX_SPAWN_DUP2, stdin, 0), (os.POSIX_SPAWN_DUP2, output, 1),
                          (os.POSIX_SPAWN_DUP2, output, 2)],
            setsid=True,  # its own session and process group: a kill takes the whole frame
            # Python ignores SIGPIPE and SIGXFSZ; a shell must not inherit that (Popen's
            # restore_signals). Every descriptor of the agent is close-on-exec (PEP 446,
            # libzmq, pidfds, the log; seal_inherited_descriptors for the rest), so the
            # frame gets exactly 0, 1 and 2.
            setsigdef=_DEFAULT_SIGNALS, setsigmask=(),
        )

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped by someone else: it ended, how is unknown
                self.status_lost = True
                self.returncode = -1
                return -1
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
            if self._popen is not None and self.returncode is not None:
                # Reaped here: the Popen must not wait for (nor warn about) a pid that is gone.
                self._popen.returncode = self.returncode
        return self.returncode


_SHELL = "/bin/sh"
_DEFAULT_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ)


def seal_inherited_descriptors() -> int:
    """Mark every descriptor above 2 close-on-exec; returns how many were not.

    ``posix_spawn`` has no ``close_fds``: a frame gets every descriptor of the agent
    that is not close-on-exec. What the agent opens itself always is (PEP 446,
    libzmq, pidfds, logs); what it inherited from whoever started it (a shell, a
    supervisor, a CI runner's pipe) may not be, nor what a library opens without
    close-on-exec later. The agent calls this at start and every ten seconds.
    """
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:  # no /proc: the usual range
        fds = list(range(3, 1024))
    sealed = 0
    for fd in fds:
        if fd <= 2:
            continue
        try:
            if os.get_inheritable(fd):
                os.set_inheritable(fd, False)
                sealed += 1
        except OSError:  # closed meanwhile (the listing's own descriptor)
            continue
    return sealed


class ShellFramesExecution:
    """One attempt of one DefaultCommandRunner command, its frames run by the agent itself.

    The log is opened once per attempt: the header, every frame's stdout and
    stderr and the footer go through that one descriptor, closed at the end.
    ``pid`` is the running frame's shell (the ``started`` event carries frame 1's).
    """

    def __init__(self, spec: CommandSpec, log_dir: Path | str, node_name: str,
                 cluster: str = "default", kill_grace: float = DEFAULT_KILL_GRACE_S,
                 launch: CommandLaunch = DEFAULT_LAUNCH, idle_limit: float | None = None) -> None:
        self.spec = spec
        self.idle_limit = idle_limit
        """Seconds without output nor a frame's end that end it as TIMEOUT (``idle.idle_limit``); None: never."""
        self.node_name = node_name
        self.kill_grace = kill_grace
        self.launch = launch
        self._account: Account | None = None
        self.execution_id = secrets.token_hex(16)  # as uuid4().hex, without the UUID object
        self._log_file: str | None = None
        self.pid: int | None = None
        self.started_at: float | None = None
        self.completion = 0.0
        self.result: ExecutionEvent | None = None
        self._frames: list[tuple[int, str]] = []
        self._next_frame = 0
        self._env: dict[str, str] = {}
        self._timeout: float | None = None
        self._frame: _Frame | None = None
        self._pidfd = -1
        self._logfd = -1
        self._queue: list[ExecutionEvent] = []
        self._kill: tuple[CommandStatus, str, float] | None = None
        self._tree: ProcessTree | None = None
        self._sigkill_at: float | None = None
        self._idle: IdleClock | None = None
        self._ram = ram_watch_for(spec.ram_mb, spec.kill_on_ram_overuse)  # None: it booked no RAM
        try:
            self._log_file = log_file_for(log_dir, cluster, spec.task_id, spec.command_id)
        except ValueError as exc:
            log.error("command %d: %s", spec.command_id, exc)

    @property
    def log_path(self) -> Path | None:
        return None if self._log_file is None else Path(self._log_file)

    @property
    def finished(self) -> bool:
        return self.result is not None

    @property
    def report_fd(self) -> int:
        return self._pidfd

    def start(self) -> None:
        spec = self.spec
        try:
            if self._log_file is None:
                raise ValueError("the cluster name is not a valid directory name")
            arguments = dict(spec.arguments)
            _ARGUMENTS.validate(arguments)
            self._frames = frame_command_lines(arguments)
            timeouts = [t for t in (spec.time_limit, arguments.get("timeout")) if t]
            self._timeout = float(min(timeouts)) if timeouts else None
            self._logfd = open_log(self._log_file)
            os.write(self._logfd, log_header(spec, self.node_name))
            self._account = self.launch.account_for(spec.user)
            self._env = command_environment(spec, self._log_file, self.node_name, self.execution_id,
                                            self.launch.base_environment(self._account))
            self.started_at = time.monotonic()
            if self.idle_limit is not None:
                self._idle = IdleClock(self.idle_limit, self.started_at)
                self._idle.saw_output(os.fstat(self._logfd).st_size, self.started_at)  # the header: not output
            if self._ram is not None:
                self._ram.started(self.started_at)
            self._spawn_next()
        except (CommandError, ValueError, OSError, subprocess.SubprocessError, JobUserError) as exc:
            message = f"could not start the command: {exc}"
            if self._logfd >= 0:  # the log says why, not only the command's message
                try:
                    os.write(self._logfd, f"=== puli-mesh: {message} ===\n".encode())
                except OSError:
                    pass
            self._finish(CommandStatus.ERROR, message, None, with_tail=False)
            return
        self._queue.append(ExecutionEvent(spec.command_id, spec.attempt, "started", value=self.pid))

    def _spawn_next(self) -> None:
        frame, line = self._frames[self._next_frame]
        self._next_frame += 1
        self._frame = _Frame(line, self._env, _devnull(), self._logfd, self._account)
        self.pid = self._frame.pid
        self._tree = None  # built only when needed: psutil reads /proc, costly per command
        self._close_pidfd()
        try:
            self._pidfd = os.pidfd_open(self._frame.pid)
        except (AttributeError, OSError):  # not Linux >= 5.3: the loop's check() still reaps it
            self._pidfd = -1
        log.debug("command %d frame %d started as pid %d", self.spec.command_id, frame, self.pid)

    def read_reports(self) -> list[ExecutionEvent]:
        """The pidfd is readable (the frame ended): reap it and say what follows."""
        return self._check(time.monotonic(), reap=True)

    def check(self, now: float) -> list[ExecutionEvent]:
        """Every loop turn: timeouts and kills. With a pidfd, a frame's end is seen by
        ``read_reports`` (the loop polls the pidfd), so no wait call is made here."""
        if self._kill is None and self._timeout is None and self._idle is None and self._ram is None \
                and self._pidfd >= 0 and not self._queue:
            return []  # nothing but the frame's end can happen, and its pidfd will say so
        return self._check(now, reap=self._pidfd < 0 or self._kill is not None)

    def _check(self, now: float, reap: bool) -> list[ExecutionEvent]:
        if not self.finished and self._frame is not None:
            code = self._frame.poll() if reap else self._frame.returncode
            if self._kill is not None:
                self._check_killing(code, now)
            elif code is None:
                if self._timeout and self.started_at is not None and now - self.started_at >= self._timeout:
                    log.warning("command %d attempt %d timed out after %gs", self.spec.command_id,
                                self.spec.attempt, self._timeout)
                    self.kill(reason=f"timed out after {self._timeout:g}s", status=CommandStatus.TIMEOUT)
                elif self._idle is not None and self._idle_expired(now):
                    log.warning("command %d attempt %d: no output nor progress for %gs; killing it as hung",
                                self.spec.command_id, self.spec.attempt, self._idle.limit)
                    self.kill(reason=idle_message(self._idle.limit), status=CommandStatus.TIMEOUT)
                elif self._ram is not None and self._ram.look_due(now):
                    watch_ram(self.spec, self._ram, self._process_tree(), now, {}, self._queue, self.kill)
            else:
                self._frame_exited(code)
        events, self._queue = self._queue, []
        return events

    def _idle_expired(self, now: float) -> bool:
        """Whether the command has been idle for its idle limit (its log looked at when due)."""
        idle = self._idle
        assert idle is not None
        if idle.look_due(now) and self._logfd >= 0:
            try:
                idle.saw_output(os.fstat(self._logfd).st_size, now)
            except OSError:
                pass
        return idle.expired(now)

    def _frame_exited(self, code: int) -> None:
        spec = self.spec
        self._clean_leftovers()
        frame = self._frames[self._next_frame - 1][0]
        if self._frame is not None and self._frame.status_lost:  # never call DONE what may have failed
            self._finish(CommandStatus.ERROR, f"frame {frame}: its exit status was lost (it was reaped "
                         f"outside this execution)", None)
            return
        if code != 0:
            what = f"killed by signal {-code}" if code < 0 else f"exited with code {code}"
            self._finish(CommandStatus.ERROR, f"frame {frame}: command {what}", code)
            return
        self.completion = self._next_frame / len(self._frames)
        if self._idle is not None:  # a frame done is progress
            self._idle.saw_progress(time.monotonic())
        self._queue.append(ExecutionEvent(spec.command_id, spec.attempt, "completion", value=self.completion))
        if self._next_frame < len(self._frames):
            try:
                self._spawn_next()
            except (OSError, subprocess.SubprocessError) as exc:
                self._finish(CommandStatus.ERROR, f"frame {self._frames[self._next_frame - 1][0]}: "
                             f"could not start: {exc}", None)
            return
        self._finish(CommandStatus.DONE, f"{len(self._frames)} frame(s) done", 0, with_tail=False)

    def _process_tree(self) -> ProcessTree:
        assert self._frame is not None
        if self._tree is None:
            reaped = self._frame.returncode is not None
            self._tree = ProcessTree(self._frame.pid, marker=self.execution_id, track_root=not reaped)
        return self._tree

    def _clean_leftovers(self) -> None:
        """A frame ended: if its process group still has members (a forgotten ``&``), kill them."""
        assert self._frame is not None
        try:
            os.killpg(self._frame.pid, 0)
        except ProcessLookupError:
            return
        except PermissionError:
            pass
        tree = self._process_tree()
        tree.collect()
        leftovers = tree.survivors()
        if leftovers:
            log.warning("command %d left processes %s running; killing them", self.spec.command_id, leftovers)
            tree.kill_hard()

    def kill(self, reason: str = "canceled", status: CommandStatus = CommandStatus.CANCELED,
             grace: float | None = None) -> None:
        if self.finished or self._frame is None or self._kill is not None:
            return
        grace = self.kill_grace if grace is None else grace
        self._kill = (status, reason, time.monotonic() + grace)
        tree = self._process_tree()
        tree.collect()
        log.info("command %d attempt %d: SIGTERM to pids %s (%s)", self.spec.command_id, self.spec.attempt,
                 tree.tracked_pids, reason)
        tree.signal(signal.SIGTERM)

    def _check_killing(self, code: int | None, now: float) -> None:
        assert self._kill is not None
        status, reason, deadline = self._kill
        tree = self._process_tree()
        tree.collect(scan_marked=False)
        survivors = tree.survivors()
        if not survivors and code is not None:
            self._finish(status, reason, code, with_tail=False)
            return
        if self._sigkill_at is None:
            if now >= deadline:
                self._sigkill_at = now
                log.warning("command %d: still running after SIGTERM; SIGKILL", self.spec.command_id)
                tree.kill_hard()
        elif now - self._sigkill_at >= SETTLE_AFTER_SIGKILL_S:
            log.error("command %d: pids %s survived SIGKILL; ending anyway", self.spec.command_id, survivors)
            self._finish(status, reason, code, with_tail=False)

    def _finish(self, status: CommandStatus, message: str, exit_code: int | None, with_tail: bool = True) -> None:
        spec = self.spec
        if self._ram is not None:
            message = self._ram.end_message(message)
        if with_tail:
            message = message_with_tail(message, self._log_file)
        if status == CommandStatus.DONE:
            self.completion = 1.0
        self.result = ExecutionEvent(spec.command_id, spec.attempt, "end", status=status, message=message,
                                     completion=self.completion, exit_code=exit_code)
        self._queue.append(self.result)
        self._close_pidfd()
        self._close_log(status, exit_code)
        # One line per DONE would be most of an agent's log on a farm of short frames.
        log.log(logging.DEBUG if status == CommandStatus.DONE else logging.INFO,
                "command %d attempt %d ended %s (exit code %s)", spec.command_id, spec.attempt,
                status.name, exit_code)

    def _close_log(self, status: CommandStatus, exit_code: int | None) -> None:
        """Write the footer (if the header was written) and close the log."""
        if self._logfd < 0:
            return
        try:
            os.write(self._logfd, log_footer(self.spec, status, exit_code))
        except OSError as exc:
            log.warning("command %d: cannot write to %s: %s", self.spec.command_id, self._log_file, exc)
        finally:
            os.close(self._logfd)
            self._logfd = -1

    def _close_pidfd(self) -> None:
        if self._pidfd >= 0:
            os.close(self._pidfd)
            self._pidfd = -1


def start_execution(spec: CommandSpec, log_dir: Path | str, node_name: str, cluster: str = "default",
                    launch: CommandLaunch = DEFAULT_LAUNCH,
                    idle_timeout: float = 0.0) -> ShellFramesExecution | CommandExecution:
    """The execution for ``spec``: shell frames run natively, any other runner through its watcher;
    either launched as ``launch`` says (environment, account). ``idle_timeout`` is the agent's
    default idle limit (0: none), for a spec that gives none (``idle.idle_limit``)."""
    limit = idle_limit(spec.idle_timeout, idle_timeout)
    if spec.runner in NATIVE_RUNNERS and os.environ.get("PULI_NATIVE_SHELL", "1") != "0":
        return ShellFramesExecution(spec, log_dir, node_name, cluster, launch=launch, idle_limit=limit)
    return CommandExecution(spec, log_dir, node_name, cluster, launch=launch, idle_limit=limit)

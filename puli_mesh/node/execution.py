"""Running one command on a render node, separate from any socket loop.

Example (what the agent's loop does)::

    ex = CommandExecution(spec, log_dir=Path("/var/log/puli-mesh"), node_name="rn1")
    ex.start()                          # spawns the watcher; never blocks
    poller.register(ex.report_fd, zmq.POLLIN)
    ...                                 # each loop turn:
    events = ex.read_reports()          # when report_fd is readable
    events += ex.check(time.monotonic())
    if ex.finished: send(ex.result)

The child is ``python -m puliclient.commandwatcher --report-fd W``, in its own
session and process group; it gets the spec as one JSON object on stdin and
writes one JSON object per line on the report pipe. Its stdout and stderr are
appended to ``<log_dir>/<cluster>/<task_id>/<command_id>.log``, one header per
attempt.

Guarantees:

* no method blocks or sleeps, and none raises into the loop because of the
  command: an unstartable command (unwritable log dir, full disk, missing
  interpreter) ends at once with an ERROR event;
* exactly one final ``end`` event per execution, after the watcher is reaped,
  preceded by every progress event it wrote;
* the watcher gets the environment and runs as the account ``launch.CommandLaunch``
  says (with ``run_as_job_user``, its job's user; a user it must not run as ends
  the command in ERROR, the reason in its log);
* the timeout is enforced with the monotonic clock (Puli never did); so is the idle limit
  (``idle``: no output in the log and no progress report for that long ends it as TIMEOUT,
  the whole tree killed as by ``kill()``);
* ``kill()`` takes the whole tree: SIGTERM to the process group, to every
  descendant collected beforehand (even those that called ``setsid``) and to
  every process carrying this execution's ``PULI_EXECUTION_ID`` (orphans of
  earlier frames), then, after a grace period checked in ``check()``, SIGKILL
  to whatever is left; the end comes only once they are gone;
* a watcher that dies without an ``end`` (crash, SIGKILL, bad runner) gives an
  ERROR with its exit code and the tail of the log; garbage on the report pipe
  is logged and skipped;
* when the command ends by itself, whatever it left running (a forgotten
  ``&``) is SIGKILLed: a finished command occupies nothing.

Not done here: talking to the coordinator, retries (the coordinator decides),
licences. Not guaranteed: a process that clears its environment, leaves the
session and is orphaned cannot be found (see ``process_tree``); a process stuck
in uninterruptible sleep may outlive its SIGKILL (logged, the end is sent anyway).
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from puli_mesh.errors import JobUserError
from puli_mesh.node.command import (
    ExecutionEvent,
    append_to_log,
    command_environment,
    describe_exit,
    log_header,
    log_path_for,
    make_log_directories,
    message_with_tail,
    open_log,
    read_log,
    tail_lines,
    write_log_footer,
)
from puli_mesh.node.idle import IdleClock, idle_message
from puli_mesh.node.launch import DEFAULT_LAUNCH, CommandLaunch
from puli_mesh.node.process_tree import ProcessTree
from puli_mesh.node.ram_watch import PEAK_RSS_STAT, RamVerdict, RamWatch, ram_watch_for
from puli_mesh.protocol import CommandSpec
from puliclient.status import CommandStatus, isFinalStatus

log = logging.getLogger(__name__)

# Re-exported for the tests written against this module before ``command`` was split off.
__all__ = ["CommandExecution", "ExecutionEvent", "parse_report", "read_log", "tail_lines"]

WATCHER_MODULE = "puliclient.commandwatcher"
DEFAULT_KILL_GRACE_S = 3.0
SETTLE_AFTER_SIGKILL_S = 2.0
"""How long to wait for SIGKILLed processes to vanish before ending anyway."""
MAX_REPORT_LINE = 1024 * 1024
"""A report line longer than this (without newline) is garbage: dropped."""

# ------------------------------------------------------------------- report parsing
def _finite(value: Any, default: float | None = None) -> float:
    """``value`` as a finite float; ``default`` for NaN or infinity, or ValueError without one."""
    number = float(value)
    if math.isfinite(number):
        return number
    if default is None:
        raise ValueError(f"{value!r} is not a finite number")
    return default


def parse_report(line: bytes, command_id: int, attempt: int) -> ExecutionEvent | None:
    """One line of the report pipe as an event, or None (logged) if it is not a valid report."""
    try:
        data = json.loads(line)
        kind = data["event"]
        if kind == "completion":
            return ExecutionEvent(command_id, attempt, "completion", value=_finite(data["value"]))
        if kind == "message":
            return ExecutionEvent(command_id, attempt, "message", value=str(data["value"]))
        if kind == "stats":
            if not isinstance(data["value"], dict):
                raise TypeError("stats value is not an object")
            return ExecutionEvent(command_id, attempt, "stats", value=data["value"])
        if kind == "licence":
            if not isinstance(data["value"], str) or not data["value"]:
                raise TypeError("licence value is not a name")
            return ExecutionEvent(command_id, attempt, "licence", value=data["value"])
        if kind == "end":
            return ExecutionEvent(
                command_id, attempt, "end",
                status=CommandStatus(int(data["status"])),
                message=str(data.get("message") or ""),
                # A runner's NaN must not cost the command its end: the mesh refuses a non-finite
                # completion, and the end would be resent forever.
                completion=_finite(data.get("completion") or 0.0, default=0.0),
            )
        raise ValueError(f"unknown event {kind!r}")
    except (ValueError, TypeError, KeyError) as exc:
        log.warning("command %d attempt %d: skipping bad report line %.200r (%s)",
                    command_id, attempt, line, exc)
        return None


def watch_ram(spec: CommandSpec, watch: RamWatch, tree: ProcessTree, now: float, runner_stats: dict[str, Any],
              queue: list[ExecutionEvent], kill: Callable[[str, CommandStatus], object]) -> None:
    """Read a running command's memory (``ram_watch``) for either execution: the events it gives
    go on ``queue`` (a new peak in its stats, the over-use's message once), and an over-use its
    task kills for is killed with ``kill(reason, ERROR)``."""
    peak = watch.peak_mb
    verdict = watch.saw(tree.resident_mb(), now)
    if watch.peak_mb > peak + 1 and watch.peak_mb > watch.booked_mb:  # an over-user's new peak: its stats
        queue.append(ExecutionEvent(spec.command_id, spec.attempt, "stats",
                                    value={**runner_stats, PEAK_RSS_STAT: round(watch.peak_mb)}))
    if verdict is RamVerdict.REPORT:
        log.warning("command %d attempt %d: %s", spec.command_id, spec.attempt, watch.message)
        queue.append(ExecutionEvent(spec.command_id, spec.attempt, "message", value=watch.message))
    elif verdict is RamVerdict.KILL:
        log.warning("command %d attempt %d: %s; killing it", spec.command_id, spec.attempt, watch.message)
        kill(f"{watch.message}: killed (killOnRamOveruse)", CommandStatus.ERROR)


# ------------------------------------------------------------------------ execution
@dataclass(slots=True)
class _Kill:
    status: CommandStatus
    reason: str
    term_deadline: float
    grace: float
    reason_wins: bool = True
    """False when the watcher had reported its end before the kill: its result stands."""
    sigkill_at: float | None = None


@dataclass(slots=True)
class _Pipes:
    report_r: int = -1
    stdin_w: int = -1
    stdin_pending: bytes = b""
    buffer: bytearray = field(default_factory=bytearray)


class CommandExecution:
    """One attempt of one command on this node: spawn, watch, time out, kill, report.

    Single-threaded: call it from the loop only. See the module docstring for
    what it guarantees.
    """

    def __init__(self, spec: CommandSpec, log_dir: Path | str, node_name: str,
                 cluster: str = "default", kill_grace: float = DEFAULT_KILL_GRACE_S,
                 python: str = sys.executable, launch: CommandLaunch = DEFAULT_LAUNCH,
                 idle_limit: float | None = None) -> None:
        self.spec = spec
        self.idle_limit = idle_limit
        """Seconds without output nor progress that end it as TIMEOUT (``idle.idle_limit``); None: never."""
        self.launch = launch
        self.log_dir = Path(log_dir)
        self.node_name = node_name
        self.cluster = cluster
        self.kill_grace = kill_grace
        self.python = python
        self.log_path: Path | None = None
        self.pid: int | None = None
        self.started_at: float | None = None
        self.completion = 0.0
        self.result: ExecutionEvent | None = None
        self.execution_id = uuid.uuid4().hex
        """Set as PULI_EXECUTION_ID in the command's environment to find its orphans."""
        self._popen: subprocess.Popen[bytes] | None = None
        self._tree: ProcessTree | None = None
        self._pipes = _Pipes()
        self._queue: list[ExecutionEvent] = []
        self._reported_end: ExecutionEvent | None = None
        self._reported_end_at: float | None = None
        self._kill: _Kill | None = None
        self._idle: IdleClock | None = None
        self._ram = ram_watch_for(spec.ram_mb, spec.kill_on_ram_overuse)
        """Its memory against its ``ramUse`` (``ram_watch``); None: it booked none, never looked at."""
        self._runner_stats: dict[str, Any] = {}  # the runner's last stats: the peak is added to them
        try:
            self.log_path = log_path_for(self.log_dir, cluster, spec.task_id, spec.command_id)
        except ValueError as exc:
            log.error("command %d: %s", spec.command_id, exc)

    # ------------------------------------------------------------------ properties
    @property
    def finished(self) -> bool:
        return self.result is not None

    @property
    def report_fd(self) -> int:
        """The report pipe's read end (non-blocking), or -1 once it is closed (EOF or end)."""
        return self._pipes.report_r

    # ----------------------------------------------------------------------- start
    def start(self) -> None:
        """Spawn the watcher. Never raises because of the command: failures end it with ERROR."""
        if self._popen is not None or self.finished:
            log.warning("command %d attempt %d: start() called twice; ignored",
                        self.spec.command_id, self.spec.attempt)
            return
        try:
            self._spawn()
        except Exception as exc:  # noqa: BLE001 - anything here is the command's failure, not ours
            if isinstance(exc, JobUserError):  # a refusal, not a fault: no traceback
                log.error("command %d attempt %d refused: %s", self.spec.command_id, self.spec.attempt, exc)
            else:
                log.exception("command %d attempt %d could not start", self.spec.command_id,
                              self.spec.attempt)
            self._abandon_child()
            self._close_pipes()
            append_to_log(self.log_path, f"could not start the command: {exc}")
            self._finish(CommandStatus.ERROR, f"could not start the command: {exc}", None,
                         with_tail=False)

    def _abandon_child(self) -> None:
        """After a failure past Popen (rare): do not leave a half-started watcher behind."""
        if self._popen is None or self._popen.poll() is not None:
            return
        try:
            os.killpg(self._popen.pid, signal.SIGKILL)
            self._popen.wait(timeout=1.0)  # SIGKILLed: this takes milliseconds
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("command %d: could not clean up pid %d: %s", self.spec.command_id,
                        self._popen.pid, exc)

    def _spawn(self) -> None:
        if self.log_path is None:
            raise ValueError(f"cluster {self.cluster!r} is not a valid directory name")
        spec = self.spec
        make_log_directories(str(self.log_path.parent))
        account = self.launch.account_for(spec.user)  # JobUserError: the command must not run here
        env = command_environment(spec, self.log_path, self.node_name, self.execution_id,
                                  self.launch.base_environment(account))
        payload = json.dumps({"runner": spec.runner, "arguments": spec.arguments,
                              "environment": env}).encode()
        report_r, report_w = os.pipe2(os.O_CLOEXEC)
        self._pipes.report_r = report_r
        try:
            logfd = open_log(str(self.log_path))
            try:
                os.write(logfd, log_header(spec, self.node_name))
                self._popen = subprocess.Popen(
                    [self.python, "-m", WATCHER_MODULE, "--report-fd", str(report_w)],
                    stdin=subprocess.PIPE, stdout=logfd, stderr=logfd, env=env,
                    pass_fds=(report_w,), start_new_session=True, close_fds=True,
                    **(account.spawn_arguments() if account is not None else {}),
                )
            finally:
                os.close(logfd)
        finally:
            os.close(report_w)
        os.set_blocking(report_r, False)
        self.started_at = time.monotonic()
        if self.idle_limit is not None:
            self._idle = IdleClock(self.idle_limit, self.started_at)
            self._idle.saw_output(self._log_size(), self.started_at)  # the header: not output
        if self._ram is not None:
            self._ram.started(self.started_at)
        self.pid = self._popen.pid
        self._tree = ProcessTree(self._popen.pid, marker=self.execution_id)
        assert self._popen.stdin is not None
        self._pipes.stdin_w = self._popen.stdin.fileno()
        os.set_blocking(self._pipes.stdin_w, False)
        self._pipes.stdin_pending = payload
        self._feed_stdin()
        log.info("command %d attempt %d started as pid %d on %s, log %s", spec.command_id,
                 spec.attempt, self.pid, self.node_name, self.log_path)
        self._queue.append(ExecutionEvent(spec.command_id, spec.attempt, "started", value=self.pid))

    def _feed_stdin(self) -> None:
        """Write what the pipe takes of the spec; the rest goes on the next turn (never blocks)."""
        pipes = self._pipes
        if pipes.stdin_w < 0:
            return
        try:
            while pipes.stdin_pending:
                written = os.write(pipes.stdin_w, pipes.stdin_pending)
                pipes.stdin_pending = pipes.stdin_pending[written:]
        except BlockingIOError:
            return
        except BrokenPipeError:
            log.warning("command %d: watcher closed its stdin before reading the spec",
                        self.spec.command_id)
        self._close_stdin()

    def _close_stdin(self) -> None:
        if self._popen is not None and self._popen.stdin is not None:
            try:
                self._popen.stdin.close()
            except OSError:
                pass
        self._pipes.stdin_w = -1
        self._pipes.stdin_pending = b""

    # ---------------------------------------------------------------------- report
    def read_reports(self) -> list[ExecutionEvent]:
        """Events parsed from the report pipe so far (and any queued ones). Never blocks."""
        self._read_pipe()
        events, self._queue = self._queue, []
        return events

    def _read_pipe(self) -> None:
        pipes = self._pipes
        while pipes.report_r >= 0:
            try:
                data = os.read(pipes.report_r, 65536)
            except BlockingIOError:
                break
            except OSError as exc:
                log.warning("command %d: report pipe error: %s", self.spec.command_id, exc)
                data = b""
            if not data:  # EOF: stop offering the fd, or a poller would spin on it
                os.close(pipes.report_r)
                pipes.report_r = -1
                break
            pipes.buffer += data
            self._parse_buffer()
        if pipes.report_r < 0 and pipes.buffer:
            self._parse_line(bytes(pipes.buffer))  # a last line without newline
            pipes.buffer.clear()

    def _parse_buffer(self) -> None:
        buf = self._pipes.buffer
        while (nl := buf.find(b"\n")) >= 0:
            line = bytes(buf[:nl])
            del buf[: nl + 1]
            if line.strip():
                self._parse_line(line)
        if len(buf) > MAX_REPORT_LINE:
            log.warning("command %d: dropping a %d-byte report line without newline",
                        self.spec.command_id, len(buf))
            buf.clear()

    def _parse_line(self, line: bytes) -> None:
        event = parse_report(line, self.spec.command_id, self.spec.attempt)
        if event is None or self.finished:
            return
        if event.kind == "end":
            if self._reported_end is None:
                self._reported_end = event
                self._reported_end_at = time.monotonic()
            return  # emitted by _finish once the watcher is reaped
        if event.kind == "completion":
            self.completion = event.value
        if event.kind == "stats" and self._ram is not None:  # the peak stays in what it reports
            self._runner_stats = event.value
            if self._ram.peak_mb:
                event.value = {**event.value, PEAK_RSS_STAT: round(self._ram.peak_mb)}
        if self._idle is not None and event.kind != "licence":  # completion, message, stats: progress
            self._idle.saw_progress(time.monotonic())
        self._queue.append(event)

    # ----------------------------------------------------------------------- check
    def check(self, now: float) -> list[ExecutionEvent]:
        """Feed stdin, enforce the timeout and the kill grace, reap the watcher. Never blocks."""
        if self.finished or self._popen is None:
            events, self._queue = self._queue, []
            return events
        self._feed_stdin()
        code = self._popen.poll()
        if code is None:
            self._check_running(now)
        else:
            self._check_exited(code, now)
        events, self._queue = self._queue, []
        return events

    def _check_running(self, now: float) -> None:
        spec = self.spec
        assert self.started_at is not None and self._tree is not None
        if self._kill is None:
            limit = spec.time_limit
            if limit and now - self.started_at >= limit:
                log.warning("command %d attempt %d timed out after %gs", spec.command_id,
                            spec.attempt, limit)
                self.kill(reason=f"timed out after {limit:g}s", status=CommandStatus.TIMEOUT)
            elif (self._reported_end_at is not None
                  and now - self._reported_end_at >= self.kill_grace):
                # Reported its end but does not exit: take it down, keep its result.
                log.warning("command %d: watcher reported its end but still runs; killing it",
                            spec.command_id)
                self.kill(reason="watcher did not exit after its end")
            elif self._idle is not None and self._reported_end is None and self._idle_expired(now):
                log.warning("command %d attempt %d: no output nor progress for %gs; killing it as hung",
                            spec.command_id, spec.attempt, self._idle.limit)
                self.kill(reason=idle_message(self._idle.limit), status=CommandStatus.TIMEOUT)
            elif self._ram is not None and self._reported_end is None and self._ram.look_due(now):
                watch_ram(spec, self._ram, self._tree, now, self._runner_stats, self._queue, self.kill)
            return
        self._tree.collect(scan_marked=False)
        if self._kill.sigkill_at is None and now >= self._kill.term_deadline:
            self._sigkill(now)

    def _idle_expired(self, now: float) -> bool:
        """Whether the command has been idle for its idle limit (its log looked at when due)."""
        idle = self._idle
        assert idle is not None
        if idle.look_due(now):
            idle.saw_output(self._log_size(), now)
        return idle.expired(now)

    def _log_size(self) -> int:
        """The log's size in bytes; -1 when it cannot be read (then no output is ever seen)."""
        try:
            return os.stat(self.log_path).st_size if self.log_path is not None else -1
        except OSError:
            return -1

    def _check_exited(self, code: int, now: float) -> None:
        assert self._tree is not None
        self._read_pipe()
        self._close_stdin()
        kill = self._kill
        if kill is not None:
            self._tree.collect(scan_marked=False)  # children forked since the kill began
            survivors = self._tree.survivors()
            if survivors:
                if kill.sigkill_at is None:
                    if now < kill.term_deadline:
                        return  # the watcher went, the rest still has its grace
                    self._sigkill(now)
                    return
                if now - kill.sigkill_at < SETTLE_AFTER_SIGKILL_S:
                    return
                log.error("command %d: pids %s survived SIGKILL; ending anyway",
                          self.spec.command_id, survivors)
        self._sweep()
        self._read_pipe()
        self._close_pipes()
        self._conclude(code)

    def _sweep(self) -> None:
        """Last look for anything of the command still running (a forgotten ``&``): SIGKILL it."""
        assert self._tree is not None
        self._tree.collect()
        leftovers = self._tree.survivors()
        if leftovers:
            log.warning("command %d attempt %d left processes %s running; killing them",
                        self.spec.command_id, self.spec.attempt, leftovers)
            self._tree.kill_hard()

    def _conclude(self, code: int) -> None:
        reported = self._reported_end
        if self._kill is not None and (reported is None or self._kill.reason_wins):
            self._finish(self._kill.status, self._kill.reason, code, with_tail=False)
        elif reported is None:
            self._finish(CommandStatus.ERROR,
                         f"command process exited with code {describe_exit(code)}"
                         " without reporting an end", code)
        elif not isFinalStatus(reported.status or 0):
            self._finish(CommandStatus.ERROR,
                         f"watcher reported a non-final status {reported.status}"
                         f" (exit code {describe_exit(code)})", code, reported.completion)
        elif reported.status == CommandStatus.ERROR:
            message = reported.message or f"command failed with exit code {describe_exit(code)}"
            self._finish(CommandStatus.ERROR, message, code, reported.completion)
        else:
            if (code == 0) != (reported.status == CommandStatus.DONE):
                log.warning("command %d: watcher reported %s but exited with %s",
                            self.spec.command_id, reported.status, describe_exit(code))
            self._finish(CommandStatus(reported.status), reported.message, code,
                         reported.completion, with_tail=False)

    # ------------------------------------------------------------------------ kill
    def kill(self, reason: str = "canceled", status: CommandStatus = CommandStatus.CANCELED,
             grace: float | None = None) -> None:
        """Kill the whole tree: SIGTERM now, SIGKILL after ``grace`` seconds (in ``check()``).

        The final event has ``status`` and ``reason`` as message, unless the
        watcher had already reported its end (then its result stands and only
        the processes are cleaned up). A second kill only collects new
        descendants: the first one's status and deadline stay. A kill before
        start or after the end does nothing.
        """
        if self.finished or self._popen is None or self._tree is None:
            log.info("command %d attempt %d: kill(%s) with nothing running", self.spec.command_id,
                     self.spec.attempt, reason)
            return
        if self._kill is not None:
            self._tree.collect()
            return
        grace = self.kill_grace if grace is None else grace
        self._kill = _Kill(status, reason, time.monotonic() + grace, grace,
                           reason_wins=self._reported_end is None)
        self._tree.collect()  # before signalling: afterwards parents die and children are lost
        log.info("command %d attempt %d: SIGTERM to group %d and pids %s (%s)",
                 self.spec.command_id, self.spec.attempt, self._tree.pgid,
                 self._tree.tracked_pids, reason)
        self._tree.signal(signal.SIGTERM)

    def _sigkill(self, now: float) -> None:
        assert self._kill is not None and self._tree is not None
        self._kill.sigkill_at = now
        log.warning("command %d attempt %d: still running %gs after SIGTERM; SIGKILL",
                    self.spec.command_id, self.spec.attempt, self._kill.grace)
        self._tree.kill_hard()

    # ---------------------------------------------------------------------- finish
    def _finish(self, status: CommandStatus, message: str, exit_code: int | None,
                completion: float | None = None, with_tail: bool = True) -> None:
        spec = self.spec
        if completion is None:
            completion = self.completion
        self.completion = completion
        if self._ram is not None:
            message = self._ram.end_message(message)
        if with_tail:
            message = message_with_tail(message, self.log_path)
        self.result = ExecutionEvent(spec.command_id, spec.attempt, "end", status=status,
                                     message=message, completion=completion,
                                     exit_code=exit_code)
        self._queue.append(self.result)
        self._write_footer(status, exit_code)
        log.info("command %d attempt %d ended %s (exit code %s)", spec.command_id, spec.attempt,
                 status.name, exit_code)

    def _write_footer(self, status: CommandStatus, exit_code: int | None) -> None:
        if self.log_path is not None and self._popen is not None:
            write_log_footer(self.log_path, self.spec, status, exit_code)

    def _close_pipes(self) -> None:
        self._close_stdin()
        if self._pipes.report_r >= 0:
            os.close(self._pipes.report_r)
            self._pipes.report_r = -1

"""Executions with real processes: done, error, timeout, kill, crash, bad starts.

Tests taking the ``execution`` fixture run twice, through the Python watcher
(CommandExecution) and natively (ShellFramesExecution): for a
DefaultCommandRunner command the agent must not be able to tell them apart.
Tests taking ``watcher_execution`` are about the watcher itself (its pipe, its
crashes, other runners); the native path's own tests are in
``test_shell_execution.py``.

No process is mocked and nothing sleeps to synchronise: ``drive`` (in
``running.py``) is a tiny event loop that selects on the report fd, then calls
read_reports/check until a condition holds or a deadline passes.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import stat
import time
from pathlib import Path
from typing import cast

import psutil
import pytest

from puli_mesh.errors import ProtocolError
from puli_mesh.node.command import ExecutionEvent
from puli_mesh.node.execution import (
    log_path_for,
    parse_report,
    read_log,
    tail_lines,
    watch_ram,
)
from puli_mesh.node.launch import CommandLaunch
from puli_mesh.node.process_tree import ProcessTree
from puli_mesh.node.ram_watch import RamWatch
from puli_mesh.protocol import CommandSpec
from puliclient.status import CommandStatus
from tests.unit.node.runners import REPOSITORY_PATH
from tests.unit.node.running import ASSIGN_FIELDS, Execution, Factory, drive, gone, make_spec, pid_gone, run, tree_of


# --------------------------------------------------------------------------- specs
def test_a_spec_ignores_extra_fields_and_a_timeout_of_zero_or_below_is_none() -> None:
    spec = make_spec(timeout=0)  # ASSIGN_FIELDS carries the ASSIGN's epoch: not a spec's field
    assert spec.time_limit is None
    assert spec.command_id == 42 and spec.licences == ["nuke"]
    assert make_spec(timeout=-5).time_limit is None
    assert make_spec(timeout=None).time_limit is None
    assert make_spec(timeout=2).time_limit == 2.0


def test_a_spec_names_a_missing_field() -> None:
    fields = dict(ASSIGN_FIELDS)
    del fields["runner"]
    with pytest.raises(ProtocolError, match="runner"):
        CommandSpec.from_map(fields)


# -------------------------------------------------------------------- log helpers
def test_log_helpers(tmp_path: Path) -> None:
    path = log_path_for(tmp_path, "paris", 7, 42)
    assert path == tmp_path / "paris" / "7" / "42.log"
    with pytest.raises(ValueError):
        log_path_for(tmp_path, "../etc", 7, 42)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"".join(b"line %d\n" % i for i in range(100)))
    chunk, offset = read_log(path, 0, 7)
    assert (chunk, offset) == (b"line 0\n", 7)
    chunk, offset = read_log(path, offset, 7)
    assert chunk == b"line 1\n"
    chunk, end = read_log(path, -8)
    assert chunk == b"line 99\n" and end == path.stat().st_size
    assert read_log(path, end + 100) == (b"", end)
    assert tail_lines(path, 2) == ["line 98", "line 99"]
    assert tail_lines(tmp_path / "missing.log", 5) == []


def test_garbage_report_lines_are_skipped() -> None:
    assert parse_report(b"not json", 1, 1) is None
    assert parse_report(b'{"event": "teleport"}', 1, 1) is None
    assert parse_report(b'{"event": "completion", "value": "half"}', 1, 1) is None
    assert parse_report(b'{"event": "end", "status": 99}', 1, 1) is None
    event = parse_report(b'{"event": "end", "status": 5, "message": "ok", "completion": 1}', 1, 2)
    assert event is not None and event.status == CommandStatus.DONE and event.attempt == 2


def test_a_runners_non_finite_completion_is_never_sent_and_never_costs_the_end() -> None:
    """The mesh refuses a NaN or infinite completion: progress carrying one is skipped, and an
    end carrying one keeps its status (else the worker would resend a refused end forever)."""
    assert parse_report(b'{"event": "completion", "value": NaN}', 1, 1) is None
    assert parse_report(b'{"event": "completion", "value": Infinity}', 1, 1) is None
    end = parse_report(b'{"event": "end", "status": 5, "completion": NaN}', 1, 1)
    assert end is not None and end.status == CommandStatus.DONE and end.completion == 0.0


# ------------------------------------------------------------------------ running
def test_default_runner_runs_every_frame_with_the_puli_environment(execution: Factory, tmp_path: Path) -> None:
    spec = make_spec(arguments={
        "cmd": "echo frame %%MI_FRAME%% $PULI_COMMAND_ID; env | grep -E '^PULI_' | sort",
        "start": 1, "end": 3,
    })
    ex = execution(spec)
    events = run(ex)

    assert events[0].kind == "started" and isinstance(events[0].value, int)  # the watcher's or frame 1's pid
    assert [e.kind for e in events].count("end") == 1 and events[-1] is ex.result
    assert ex.result is not None
    assert ex.result.status == CommandStatus.DONE, ex.result.message
    assert ex.result.completion == pytest.approx(1.0) and ex.completion == pytest.approx(1.0)
    assert ex.result.exit_code == 0
    assert any(e.kind == "completion" for e in events)
    assert ex.report_fd == -1, "the report fd is closed once the command ended"

    assert ex.log_path == log_path_for(tmp_path / "logs", "default", 7, 42)
    text = ex.log_path.read_text()
    for frame in (1, 2, 3):
        assert f"frame {frame} 42\n" in text
    expected = {
        "PULI_USER": "jdoe", "PULI_COMMAND_ID": "42", "PULI_TASK_ID": "7",
        "PULI_TASK_NAME": "render_7", "PULI_LOG": str(ex.log_path),
        "PULI_ALLOCATED_CORES": "2", "PULI_ALLOCATED_MEMORY": "1024",
        "PULI_NODE_NAME": "rn1", "PULI_GRAPH_ID": "3", "PULI_ATTEMPT": "1",
        "PULI_TEST_VAR": "from-the-spec",
    }
    for name, value in expected.items():
        assert f"{name}={value}\n" in text, name


def test_an_environment_value_that_is_not_a_string_reaches_the_command_as_one(execution: Factory) -> None:
    # The protocol checks that the environment is a map, not what it holds.
    ex = execution(make_spec(environment={"PULI_TEST_VAR": 12}, arguments={"cmd": "echo var=$PULI_TEST_VAR"}))
    run(ex)
    assert ex.result is not None and ex.result.status == CommandStatus.DONE, ex.result.message
    assert ex.log_path is not None and "var=12\n" in ex.log_path.read_text()


def test_failing_frame_ends_in_error_naming_it_with_the_log_tail(execution: Factory) -> None:
    cmd = "echo about to fail %%MI_FRAME%%; [ %%MI_FRAME%% != 2 ] || exit 3"
    ex = execution(make_spec(arguments={"cmd": cmd, "start": 1, "end": 3}))
    run(ex)
    assert ex.result is not None and ex.result.status == CommandStatus.ERROR
    assert ex.result.exit_code not in (None, 0)
    assert ex.result.message.startswith("frame 2: command exited with code 3\n"), ex.result.message
    assert ex.log_path is not None and "about to fail 3" not in ex.log_path.read_text(), "frame 3 not run"
    assert "\n--- last lines of the log ---\n" in ex.result.message
    assert "about to fail" in ex.result.message.split("--- last lines of the log ---")[1]


def test_timeout_kills_the_whole_tree(execution: Factory) -> None:
    ex = execution(make_spec(arguments={"cmd": "sh -c 'sleep 60 & sleep 60'"}, timeout=1))
    ex.start()
    seen: dict[int, psutil.Process] = {}

    def both_sleeps_running() -> bool:
        try:
            for proc in tree_of(ex):
                seen.setdefault(proc.pid, proc)
        except psutil.NoSuchProcess:
            pass
        return sum(1 for p in seen.values() if p.name() == "sleep") >= 2

    drive(ex, both_sleeps_running, timeout=10)
    started = time.monotonic()
    drive(ex, lambda: ex.finished)

    assert ex.result is not None and ex.result.status == CommandStatus.TIMEOUT
    assert ex.result.message == "timed out after 1s"
    assert time.monotonic() - started < 5, "SIGTERM is enough here, no need for the grace"
    survivors = [p.pid for p in seen.values() if not gone(p)]
    assert survivors == []


def _kill_tree_with_setsid_grandchild(
        execution: Factory, tmp_path: Path, prelude: str, grace: float,
) -> tuple[Execution, list[psutil.Process]]:
    pidfile = tmp_path / "escapee.pid"
    cmd = f"{prelude}setsid sleep 60 & echo $! > {pidfile}; sleep 60"
    ex = execution(make_spec(arguments={"cmd": cmd}))
    ex.start()
    drive(ex, lambda: pidfile.exists() and pidfile.read_text().strip() != "", timeout=10)
    escapee = psutil.Process(int(pidfile.read_text()))
    drive(ex, lambda: escapee.pid in {p.pid for p in tree_of(ex)}, timeout=10)
    # $! is the setsid process from its fork on: on a loaded machine it may not have called
    # setsid() yet. Wait until it has left the session (what the test is about), not assume it.
    drive(ex, lambda: os.getsid(escapee.pid) != os.getsid(ex.pid or 0), timeout=10)
    tree = tree_of(ex)
    ex.kill(grace=grace)
    drive(ex, lambda: ex.finished)
    return ex, tree


def test_kill_reaches_a_grandchild_that_called_setsid(execution: Factory,
                                                       tmp_path: Path) -> None:
    ex, tree = _kill_tree_with_setsid_grandchild(execution, tmp_path, "", grace=3.0)
    assert ex.result is not None and ex.result.status == CommandStatus.CANCELED
    assert ex.result.message == "canceled"
    assert [p.pid for p in tree if not gone(p)] == []


def test_kill_falls_back_to_sigkill_after_the_grace(execution: Factory, tmp_path: Path) -> None:
    # Every shell and sleep of this tree ignores SIGTERM (ignored signals survive exec).
    ex, tree = _kill_tree_with_setsid_grandchild(execution, tmp_path, "trap '' TERM; ",
                                                 grace=0.5)
    assert ex.result is not None and ex.result.status == CommandStatus.CANCELED
    assert [p.pid for p in tree if not gone(p)] == []


def test_kill_with_another_status_and_twice(execution: Factory) -> None:
    ex = execution(make_spec(arguments={"cmd": "sleep 60"}))
    ex.start()
    ex.kill(reason="node going down", status=CommandStatus.ERROR)
    ex.kill(reason="canceled by jdoe")  # the first kill's status stays
    drive(ex, lambda: ex.finished)
    assert ex.result is not None and ex.result.status == CommandStatus.ERROR
    assert ex.result.message == "node going down"
    ex.kill()  # after the end: nothing to do, no error
    assert ex.check(time.monotonic()) == []


def test_watcher_killed_without_reporting_an_end(watcher_execution: Factory) -> None:
    ex = watcher_execution(make_spec(arguments={"cmd": "echo shooting the watcher; kill -9 $PPID"}))
    run(ex)
    assert ex.result is not None and ex.result.status == CommandStatus.ERROR
    assert ex.result.exit_code == -signal.SIGKILL
    assert ex.result.message.startswith("command process exited with code -9")
    assert "without reporting an end" in ex.result.message
    assert "shooting the watcher" in ex.result.message


def test_runner_that_cannot_be_imported_is_an_error(watcher_execution: Factory) -> None:
    ex = watcher_execution(make_spec(runner="no_such_package.NoSuchRunner"))
    run(ex)
    assert ex.result is not None and ex.result.status == CommandStatus.ERROR
    assert ex.result.exit_code not in (None, 0)
    assert "--- last lines of the log ---" in ex.result.message


def test_unwritable_log_dir_gives_an_error_event_not_an_exception(execution: Factory,
                                                                  tmp_path: Path) -> None:
    not_a_dir = tmp_path / "a-file"
    not_a_dir.write_text("")
    ex = execution(log_dir=not_a_dir)
    ex.start()
    assert ex.finished and ex.pid is None and ex.report_fd == -1
    events = ex.check(time.monotonic())
    assert [e.kind for e in events] == ["end"]
    assert events[0].status == CommandStatus.ERROR
    assert "could not start the command" in events[0].message
    assert ex.check(time.monotonic()) == [] and ex.read_reports() == []


def test_every_attempt_appends_its_header_to_the_same_log(execution: Factory) -> None:
    for attempt in (1, 2):
        ex = execution(make_spec(attempt=attempt, arguments={"cmd": f"echo attempt {attempt}"}))
        run(ex)
        assert ex.result is not None and ex.result.status == CommandStatus.DONE
    assert ex.log_path is not None
    lines = ex.log_path.read_text().splitlines()
    headers = [line for line in lines if line.startswith("=== puli-mesh: command 42 attempt")
               and " on rn1 at " in line]
    assert len(headers) == 2
    assert "attempt 1 on rn1" in headers[0] and "attempt 2 on rn1" in headers[1]
    footers = [line for line in lines if line.startswith("=== puli-mesh: command 42 attempt")
               and " ended DONE (exit code 0) at " in line]
    assert len(footers) == 2
    order = [lines.index(line) for line in (headers[0], "attempt 1", footers[0], headers[1], "attempt 2", footers[1])]
    assert order == sorted(order)


def test_leftover_background_processes_are_killed_when_the_command_ends(
        execution: Factory, tmp_path: Path) -> None:
    pidfile = tmp_path / "bg.pid"
    ex = execution(make_spec(arguments={"cmd": f"sleep 60 & echo $! > {pidfile}"}))
    run(ex)
    assert ex.result is not None and ex.result.status == CommandStatus.DONE
    pid = int(pidfile.read_text())
    drive(ex, lambda: pid_gone(pid), timeout=5)


def test_kill_reaches_an_orphan_left_by_an_earlier_frame(watcher_execution: Factory,
                                                         tmp_path: Path) -> None:
    # Frame 1 forgets a background sleep and ends (its session's leader is gone, the
    # sleep is reparented to init); frame 2 is still running when the kill comes.
    pidfile = tmp_path / "orphan.pid"
    cmd = (f"if [ %%MI_FRAME%% = 1 ]; then sleep 60 & echo $! > {pidfile}; "
           "else sleep 60; fi")
    ex = watcher_execution(make_spec(arguments={"cmd": cmd, "start": 1, "end": 2}))
    ex.start()
    drive(ex, lambda: ex.completion >= 0.5, timeout=10)
    orphan = psutil.Process(int(pidfile.read_text()))
    assert orphan.pid not in {p.pid for p in tree_of(ex)}, "not a descendant any more"
    ex.kill()
    drive(ex, lambda: ex.finished)
    assert ex.result is not None and ex.result.status == CommandStatus.CANCELED
    assert gone(orphan)


def test_a_spec_larger_than_a_pipe_buffer_is_fed_without_blocking(watcher_execution: Factory) -> None:
    padding = "x" * 1_000_000  # a pipe holds 64 KiB: start() must not wait for the watcher
    ex = watcher_execution(make_spec(arguments={"cmd": "true", "padding": padding}))
    before = time.monotonic()
    ex.start()
    assert time.monotonic() - before < 1.0
    drive(ex, lambda: ex.finished)
    assert ex.result is not None and ex.result.status == CommandStatus.DONE, ex.result.message


@pytest.mark.parametrize(("arguments", "expected"), [
    ({"start": 1, "end": 2}, "argument 'cmd' is mandatory"),
    ({"cmd": "true", "start": 5, "end": 2}, "no frame to run: start 5 is after end 2"),
    ({"cmd": "true", "step": 0}, "argument 'step' is 0, less than 1"),
], ids=["missing-cmd", "start-after-end", "step-zero"])
def test_invalid_arguments_end_in_error_without_an_exception(execution: Factory, arguments: dict[str, object],
                                                             expected: str) -> None:
    ex = execution(make_spec(arguments=arguments))
    run(ex)
    assert ex.result is not None and ex.result.status == CommandStatus.ERROR
    assert expected in ex.result.message


def test_a_frame_killed_by_a_signal_is_an_error_naming_the_signal(execution: Factory) -> None:
    ex = execution(make_spec(arguments={"cmd": "kill -9 $$", "start": 4, "end": 5}))
    run(ex)
    assert ex.result is not None and ex.result.status == CommandStatus.ERROR
    assert ex.result.message.startswith("frame 4: command killed by signal 9\n"), ex.result.message


@pytest.mark.parametrize(("spec_timeout", "argument_timeout"), [(1, 30), (30, 1)],
                         ids=["spec-smaller", "argument-smaller"])
def test_the_smaller_timeout_wins_and_takes_a_setsid_grandchild(
        execution: Factory, tmp_path: Path, spec_timeout: int, argument_timeout: int) -> None:
    pidfile = tmp_path / "escapee.pid"
    cmd = f"setsid sleep 60 & echo $! > {pidfile}; sleep 60"
    ex = execution(make_spec(arguments={"cmd": cmd, "timeout": argument_timeout}, timeout=spec_timeout))
    started = time.monotonic()
    ex.start()
    drive(ex, lambda: pidfile.exists() and pidfile.read_text().strip() != "", timeout=10)
    escapee = int(pidfile.read_text())
    drive(ex, lambda: ex.finished)
    assert ex.result is not None and ex.result.status == CommandStatus.TIMEOUT, ex.result.message
    assert time.monotonic() - started < 10
    drive(ex, lambda: pid_gone(escapee), timeout=5)


def test_a_log_dir_removed_between_commands_is_made_again(execution: Factory, tmp_path: Path) -> None:
    # Log clean-up jobs delete old task directories; the next command of that task must not fail for it.
    first = execution(make_spec(command_id=1))
    run(first)
    assert first.log_path is not None
    shutil.rmtree(first.log_path.parent)
    second = execution(make_spec(command_id=2))
    run(second)
    assert second.result is not None and second.result.status == CommandStatus.DONE, second.result.message
    assert second.log_path is not None and second.log_path.exists()


def test_no_descriptor_of_the_log_is_left_open_after_the_end(execution: Factory) -> None:
    ex = execution(make_spec(arguments={"cmd": "echo %%MI_FRAME%%", "start": 1, "end": 3}))
    run(ex)
    assert ex.log_path is not None
    fds = Path("/proc/self/fd")
    open_on_log = [fd.name for fd in fds.iterdir() if _link(fd) == str(ex.log_path)]
    assert open_on_log == []


def _link(path: Path) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return ""


def test_logs_are_created_0640_in_directories_0750(execution: Factory, tmp_path: Path) -> None:
    """Nobody on the node but the agent's account (and its group) reads a command's log."""
    ex = execution(make_spec(arguments={"cmd": "echo secret-ish"}))
    run(ex)
    assert ex.result is not None and ex.result.status == CommandStatus.DONE, ex.result.message
    assert ex.log_path is not None
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(ex.log_path.stat().st_mode) == 0o640 & ~umask
    for directory in (ex.log_path.parent, ex.log_path.parent.parent, tmp_path / "logs"):  # task, cluster, log_dir
        assert stat.S_IMODE(directory.stat().st_mode) == 0o750 & ~umask, directory


@pytest.mark.parametrize(("user", "says"), [
    ("no-such-user-on-this-node", "user 'no-such-user-on-this-node' is not known on this node"),
    ("root", "user 'root' has uid 0"),
    ("", "the job has no user"),
])
def test_a_job_user_a_command_must_not_run_as_ends_it_in_error_with_the_reason_in_its_log(
        execution: Factory, tmp_path: Path, user: str, says: str) -> None:
    witness = tmp_path / "ran"
    ex = execution(make_spec(user=user, arguments={"cmd": f"touch {witness}"}),
                   launch=CommandLaunch(as_job_user=True))
    run(ex)
    assert ex.result is not None and ex.result.status == CommandStatus.ERROR
    assert ex.result.message.startswith("could not start the command: ") and says in ex.result.message
    assert ex.log_path is not None and says in ex.log_path.read_text()
    assert not witness.exists(), "nothing ran, not as the agent either"


# ------------------------------------------------------------------ hung frames (idleTimeout)
def test_a_command_silent_for_its_idle_limit_ends_timeout_with_its_tree_gone(
        execution: Factory, tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    ex = execution(make_spec(arguments={"cmd": f"echo hello; sleep 60 & echo $! > {pidfile}; wait"}),
                   idle_limit=1.0)
    started = time.monotonic()
    ex.start()
    drive(ex, lambda: pidfile.exists() and pidfile.read_text().strip() != "", timeout=10)
    child = psutil.Process(int(pidfile.read_text()))
    drive(ex, lambda: ex.finished)
    assert ex.result is not None and ex.result.status == CommandStatus.TIMEOUT
    assert ex.result.message == "no output nor progress for 1 s (idleTimeout): killed as hung"
    assert time.monotonic() - started < 4
    assert gone(child)


def test_a_command_that_keeps_printing_outlives_its_idle_limit(execution: Factory) -> None:
    ex = execution(make_spec(arguments={"cmd": "for i in 1 2 3 4 5 6; do echo $i; sleep 0.4; done"}),
                   idle_limit=1.0)
    events = run(ex)
    assert ex.result is not None and ex.result.status == CommandStatus.DONE, ex.result.message
    assert [e.kind for e in events if e.kind == "end"] == ["end"]


def test_frames_that_end_are_progress_even_without_output(execution: Factory) -> None:
    # 4 silent frames of 0.6 s each: 2.4 s in all, never 1 s without a frame ending.
    ex = execution(make_spec(arguments={"cmd": "sleep 0.6 > /dev/null", "start": 1, "end": 4}), idle_limit=1.0)
    run(ex)
    assert ex.result is not None and ex.result.status == CommandStatus.DONE, ex.result.message



def test_a_runners_progress_reports_keep_a_silent_command_alive(watcher_execution: Factory) -> None:
    ex = watcher_execution(make_spec(runner="tests.unit.node.runners.SilentProgressRunner", arguments={},
                                     environment={"PYTHONPATH": REPOSITORY_PATH}), idle_limit=1.0)
    run(ex)
    assert ex.result is not None and ex.result.status == CommandStatus.DONE, ex.result.message


# ------------------------------------------------------------------ RAM over-use (ramUse)
GROW = "python3 -c 'b = b\"x\" * (120 << 20); import time; time.sleep(30)'"
"""A command holding about 120 MB resident for 30 s."""


def test_a_command_using_more_ram_than_it_booked_says_so_once_and_keeps_running(execution: Factory) -> None:
    ex = execution(make_spec(arguments={"cmd": GROW}, ram_mb=50))
    ex.start()
    events: list[ExecutionEvent] = []
    deadline = time.monotonic() + 15
    while not any(e.kind == "message" for e in events):  # the agent's loop, until it says so
        assert time.monotonic() < deadline and not ex.finished, events
        select.select([ex.report_fd] if ex.report_fd >= 0 else [], [], [], 0.05)
        events += ex.read_reports() + ex.check(time.monotonic())
    messages = [e.value for e in events if e.kind == "message"]
    assert len(messages) == 1 and messages[0].startswith("used 1") and messages[0].endswith(
        " MB, booked 50 MB (ramUse)"), messages
    peaks = [e.value["peak_rss_mb"] for e in events if e.kind == "stats"]
    assert peaks and peaks[-1] >= 100
    assert not ex.finished, "no kill unless the task asks for it"
    ex.kill()
    events += drive(ex, lambda: ex.finished)
    assert [e.value for e in events if e.kind == "message"] == messages, "reported once"
    assert ex.result is not None and ex.result.message.startswith("canceled; used 1")
    assert ex.result.message.endswith(" MB, booked 50 MB (ramUse)"), "the end keeps the over-use said"


def test_a_command_over_its_booking_is_killed_when_its_task_asks(execution: Factory) -> None:
    ex = execution(make_spec(arguments={"cmd": GROW}, ram_mb=50, kill_on_ram_overuse=True))
    started = time.monotonic()
    run(ex, timeout=15)
    assert ex.result is not None and ex.result.status == CommandStatus.ERROR
    assert ex.result.message.startswith("used 1") and ex.result.message.endswith(
        " MB, booked 50 MB (ramUse): killed (killOnRamOveruse)"), ex.result.message
    assert time.monotonic() - started < 10


class ReadTree:
    """A process tree whose resident memory is set by the test (``watch_ram`` reads only that)."""

    def __init__(self) -> None:
        self.mb = 0.0

    def resident_mb(self) -> float:
        return self.mb


@pytest.mark.parametrize("kill_on_overuse", [False, True], ids=["report", "kill"])
def test_watch_ram_queues_the_peak_and_the_message_once_and_kills_only_when_asked(kill_on_overuse: bool) -> None:
    tree = ReadTree()
    queue: list[ExecutionEvent] = []
    kills: list[tuple[str, CommandStatus]] = []

    def look(now: float, mb: float) -> None:
        tree.mb = mb
        watch_ram(make_spec(), watch, cast(ProcessTree, tree), now, {"frames": 1}, queue,
                  lambda reason, status: kills.append((reason, status)))

    watch = RamWatch(50, kill_on_overuse)
    look(0.0, 40)
    assert queue == [] and kills == []  # within its booking: nothing
    look(2.0, 120)
    assert [(e.kind, e.value) for e in queue[:1]] == [("stats", {"frames": 1, "peak_rss_mb": 120})]
    if kill_on_overuse:
        assert len(queue) == 1
        assert kills == [("used 120 MB, booked 50 MB (ramUse): killed (killOnRamOveruse)", CommandStatus.ERROR)]
    else:
        assert [(e.kind, e.value) for e in queue[1:]] == [("message", "used 120 MB, booked 50 MB (ramUse)")]
        look(4.0, 120)
        assert len(queue) == 2 and kills == []  # said once; no new peak, no kill


def test_a_command_that_booked_no_ram_is_never_looked_at(execution: Factory) -> None:
    held = "python3 -c 'b = b\"x\" * (120 << 20); import time; time.sleep(2.5)'"  # past a look
    ex = execution(make_spec(arguments={"cmd": held}, ram_mb=0, kill_on_ram_overuse=True))
    events = run(ex)
    assert ex.result is not None and ex.result.status == CommandStatus.DONE, ex.result.message
    assert not [e for e in events if "ramUse" in str(e.value) or "peak_rss_mb" in str(e.value)]

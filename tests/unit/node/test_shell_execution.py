"""ShellFramesExecution's own behaviour: frames, completion per frame, the pidfd, leftovers, choosing the path.

What it shares with the watcher (environment, errors with the log tail,
timeouts, kills, log headers and footers) is tested against both
implementations in ``test_execution.py``. Real processes, no mocks; ``drive``
selects on the report fd instead of sleeping.
"""

from __future__ import annotations

import os
import pwd
import select
import signal
import stat
from pathlib import Path

import pytest

from puli_mesh.node.execution import CommandExecution
from puli_mesh.node.launch import CommandLaunch
from puli_mesh.node.shell_execution import ShellFramesExecution, seal_inherited_descriptors, start_execution
from puliclient.status import CommandStatus
from tests.unit.node.running import Factory, drive, make_spec, pid_gone, run


def test_frames_run_in_order_with_substitutions_and_a_completion_per_frame(native_execution: Factory) -> None:
    cmd = "echo frame=%%MI_FRAME%% start=%%MI_START%% end=%%MI_END%% pid=$$"
    ex = native_execution(make_spec(arguments={"cmd": cmd, "start": 2, "end": 9, "step": 3}))
    events = run(ex)

    assert ex.result is not None and ex.result.status == CommandStatus.DONE, ex.result.message
    assert ex.result.exit_code == 0 and ex.result.message == "3 frame(s) done"
    assert [e.kind for e in events] == ["started", "completion", "completion", "completion", "end"]
    assert [e.value for e in events if e.kind == "completion"] == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert ex.result.completion == 1.0
    assert ex.log_path is not None
    frames = [line for line in ex.log_path.read_text().splitlines() if line.startswith("frame=")]
    assert [line.rsplit(" pid=", 1)[0] for line in frames] == [
        "frame=2 start=2 end=9", "frame=5 start=2 end=9", "frame=8 start=2 end=9"]
    assert frames[0].endswith(f" pid={events[0].value}"), "started carries frame 1's pid"


def test_a_failing_frame_gives_its_own_exit_code_and_the_completion_so_far(native_execution: Factory) -> None:
    ex = native_execution(make_spec(arguments={"cmd": "[ %%MI_FRAME%% -lt 3 ] || exit 4", "start": 1, "end": 4}))
    events = run(ex)
    assert ex.result is not None and ex.result.status == CommandStatus.ERROR
    assert ex.result.exit_code == 4
    assert ex.result.message.startswith("frame 3: command exited with code 4\n--- last lines of the log ---\n")
    assert [e.value for e in events if e.kind == "completion"] == pytest.approx([0.25, 0.5])
    assert ex.result.completion == pytest.approx(0.5)


def test_invalid_arguments_end_at_start_with_nothing_spawned(native_execution: Factory) -> None:
    ex = native_execution(make_spec(arguments={"cmd": "true", "start": 3, "end": 1}))
    ex.start()
    assert ex.finished and ex.pid is None and ex.report_fd == -1
    events = ex.check(0.0)
    assert [e.kind for e in events] == ["end"] and events[0].status == CommandStatus.ERROR
    assert events[0].message == "could not start the command: no frame to run: start 3 is after end 1"


def test_a_background_job_is_killed_when_its_frame_ends(native_execution: Factory, tmp_path: Path) -> None:
    # Frame 1 forgets `sleep 60 &`; frame 2 runs for long: the job must be gone before the command ends.
    pidfile = tmp_path / "bg.pid"
    cmd = f"if [ %%MI_FRAME%% = 1 ]; then sleep 60 & echo $! > {pidfile}; else sleep 60; fi"
    ex = native_execution(make_spec(arguments={"cmd": cmd, "start": 1, "end": 2}))
    ex.start()
    drive(ex, lambda: ex.completion >= 0.5, timeout=10)
    background = int(pidfile.read_text())
    drive(ex, lambda: pid_gone(background), timeout=5)
    assert not ex.finished, "frame 2 still runs"
    ex.kill()
    drive(ex, lambda: ex.finished)
    assert ex.result is not None and ex.result.status == CommandStatus.CANCELED


def test_the_report_fd_is_a_pidfd_readable_when_a_frame_exits(native_execution: Factory, tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    cmd = f"trap 'exit 0' TERM; echo > {ready}; while :; do sleep 1; done"
    ex = native_execution(make_spec(arguments={"cmd": cmd, "start": 1, "end": 2}))
    ex.start()
    assert [e.kind for e in ex.read_reports()] == ["started"]
    fd = ex.report_fd
    assert fd >= 0
    drive(ex, ready.exists, timeout=10)
    assert select.select([fd], [], [], 0.1)[0] == [], "not readable while the frame runs"
    assert ex.pid is not None
    os.kill(ex.pid, signal.SIGTERM)  # frame 1 ends cleanly
    assert select.select([fd], [], [], 10)[0] == [fd]
    events = ex.read_reports()
    assert [(e.kind, e.value) for e in events] == [("completion", 0.5)]
    assert ex.report_fd >= 0, "frame 2's pidfd"
    ex.kill(grace=0)
    drive(ex, lambda: ex.finished)
    assert ex.report_fd == -1


@pytest.mark.parametrize("runner", ["puliclient.jobs.DefaultCommandRunner",
                                    "puliclient.jobs.runners.DefaultCommandRunner"])
def test_start_execution_runs_default_runner_commands_natively(runner: str, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PULI_NATIVE_SHELL", raising=False)
    assert isinstance(start_execution(make_spec(runner=runner), tmp_path, "rn1"), ShellFramesExecution)
    monkeypatch.setenv("PULI_NATIVE_SHELL", "0")
    assert isinstance(start_execution(make_spec(runner=runner), tmp_path, "rn1"), CommandExecution)


@pytest.mark.parametrize("runner", ["puliclient.jobs.DefaultCommandRunner", "tests.SomeRunner"])
def test_start_execution_gives_the_tasks_idle_timeout_else_the_agents(runner: str, tmp_path: Path) -> None:
    def limit(task_value: float | None, agents: float) -> float | None:
        spec = make_spec(runner=runner, idle_timeout=task_value) if task_value is not None else make_spec(runner=runner)
        return start_execution(spec, tmp_path, "rn1", idle_timeout=agents).idle_limit

    assert limit(None, 0.0) is None
    assert limit(None, 900.0) == 900.0
    assert limit(60, 900.0) == 60.0
    assert limit(0, 900.0) is None  # the task turned it off


def test_start_execution_gives_other_runners_to_the_watcher(tmp_path: Path) -> None:
    spec = make_spec(runner="examples.runners.SleepRunner")
    assert isinstance(start_execution(spec, tmp_path, "rn1", cluster="paris"), CommandExecution)


def test_a_frame_gets_default_sigpipe_its_own_session_and_no_descriptor_of_the_agent(
        native_execution: Factory) -> None:
    """What Popen did for us (restore_signals, start_new_session, close_fds), posix_spawn must too."""
    inherited_r, inherited_w = os.pipe()
    os.set_inheritable(inherited_w, True)  # as a descriptor the agent was started with may be
    try:
        assert seal_inherited_descriptors() >= 1  # what the agent does at start
        cmd = ("echo fds $(ls /proc/$$/fd | tr '\\n' ' '); "
               "echo sigignored $(sed -n 's/^SigIgn:\\t//p' /proc/$$/status); "
               "echo session $(ps -o sid= -p $$) pid $$")
        ex = native_execution(make_spec(arguments={"cmd": cmd}))
        run(ex)
    finally:
        os.close(inherited_r)
        os.close(inherited_w)
    assert ex.result is not None and ex.result.status == CommandStatus.DONE, ex.result.message
    assert ex.log_path is not None
    out = {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in ex.log_path.read_text().splitlines()
           if line.startswith(("fds ", "sigignored ", "session "))}
    fds = {int(fd) for fd in out["fds"].split()}
    assert {0, 1, 2} <= fds and inherited_w not in fds and inherited_r not in fds, out["fds"]
    ignored = int(out["sigignored"], 16)
    assert not ignored & (1 << (signal.SIGPIPE - 1)) and not ignored & (1 << (signal.SIGXFSZ - 1))
    sid, _, pid = out["session"].split()
    assert sid == pid  # the frame leads its own session (and process group)


def test_a_frame_reaped_by_someone_else_ends_in_error_not_done(native_execution: Factory) -> None:
    ex = native_execution(make_spec(arguments={"cmd": "true"}))
    ex.start()
    assert ex.pid is not None and ex.report_fd >= 0
    readable, _, _ = select.select([ex.report_fd], [], [], 10.0)
    assert readable, "the frame did not end"
    os.waitpid(ex.pid, 0)  # what a careless library calling waitpid would do
    drive(ex, lambda: ex.finished, 20.0)
    assert ex.result is not None and ex.result.status == CommandStatus.ERROR
    assert "exit status was lost" in ex.result.message


def test_a_frame_runs_as_its_jobs_user_with_its_groups_and_account_while_the_agent_writes_the_log(
        native_execution: Factory) -> None:
    """``run_as_job_user`` on an agent running as root (as the suite does here and in CI): the shell
    is ``nobody``'s, with nobody's groups, HOME and USER, in ``/``; the log stays the agent's (0640)."""
    nobody = pwd.getpwnam("nobody")
    cmd = 'echo "uid $(id -u) gid $(id -g) groups $(id -G)"; echo "account $HOME $USER $LOGNAME"; pwd'
    ex = native_execution(make_spec(user="nobody", arguments={"cmd": cmd, "start": 1, "end": 2}),
                          launch=CommandLaunch(as_job_user=True))
    run(ex)
    assert ex.result is not None and ex.log_path is not None
    if os.geteuid() != 0:  # an agent that is not root cannot switch users: the command fails, never runs as us
        assert ex.result.status == CommandStatus.ERROR and "could not start" in ex.result.message
        return
    assert ex.result.status == CommandStatus.DONE, ex.result.message
    text = ex.log_path.read_text()
    groups = " ".join(str(g) for g in os.getgrouplist("nobody", nobody.pw_gid))
    assert text.count(f"uid {nobody.pw_uid} gid {nobody.pw_gid} groups {groups}\n") == 2, text  # both frames
    assert f"account {nobody.pw_dir} nobody nobody\n/\n" in text, text
    info = ex.log_path.stat()
    assert (info.st_uid, info.st_gid) == (os.geteuid(), os.getegid()), "the agent owns the log"
    assert stat.S_IMODE(info.st_mode) & ~0o640 == 0

"""The command watcher: outcome → status mapping, callbacks, environment, and the subprocess protocol."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from puliclient import CommandStatus
from puliclient.commandwatcher import WatchResult, _InterruptOnce, watch

OUTCOME = "clienthelpers.OutcomeRunner"


@pytest.mark.parametrize(
    ("arguments", "status", "message"),
    [
        ({"outcome": "done"}, CommandStatus.DONE, ""),
        ({"outcome": "commanddone"}, CommandStatus.DONE, "finished early"),
        ({"outcome": "error"}, CommandStatus.ERROR, "it went wrong"),
        ({"outcome": "timeout"}, CommandStatus.TIMEOUT, "too slow"),
        ({"outcome": "crash"}, CommandStatus.ERROR, "crashed: ZeroDivisionError: boom"),
        ({"outcome": "exit1"}, CommandStatus.ERROR, "sys.exit(1)"),
        ({}, CommandStatus.ERROR, "argument 'outcome' is mandatory"),
        ({"outcome": "done", "count": 11}, CommandStatus.ERROR, "greater than 10"),
    ],
)
def test_outcomes_map_to_command_statuses(
    arguments: dict[str, Any], status: CommandStatus, message: str
) -> None:
    result = watch(OUTCOME, arguments)
    assert result.status == status
    assert message in result.message
    expected_completion = 1.0 if status == CommandStatus.DONE else (
        0.25 if "outcome" in arguments and "count" not in arguments else 0.0)
    assert result.completion == expected_completion


def test_unknown_runner_is_an_error_naming_the_path() -> None:
    result = watch("nosuch.Runner", {})
    assert result.status == CommandStatus.ERROR
    assert "cannot load runner 'nosuch.Runner'" in result.message


def test_keyboard_interrupt_propagates() -> None:
    with pytest.raises(KeyboardInterrupt):
        watch(OUTCOME, {"outcome": "interrupt"})


def test_callbacks_receive_each_update() -> None:
    events: list[tuple[str, Any]] = []
    result = watch(
        "clienthelpers.ReportingRunner",
        {},
        on_completion=lambda v: events.append(("completion", v)),
        on_message=lambda v: events.append(("message", v)),
        on_stats=lambda v: events.append(("stats", v)),
    )
    assert events == [("completion", 0.5), ("message", "half way"), ("stats", {"frames": 2}),
                      ("completion", 1.0)]
    assert result == WatchResult(CommandStatus.DONE, "half way", 1.0, {"frames": 2})


def test_runner_without_update_stats_is_called_without_it() -> None:
    result = watch("clienthelpers.NoStatsRunner", {})
    assert (result.status, result.message) == (CommandStatus.DONE, "no stats")


def test_old_style_runner_works(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = watch("clienthelpers.OldStyleRunner", {"path": str(out)})
    assert result.status == CommandStatus.DONE and out.read_text() == "old"


def test_a_failing_callback_does_not_fail_the_command() -> None:
    def broken(value: float) -> None:
        raise OSError("report pipe closed")

    assert watch("clienthelpers.ReportingRunner", {}, on_completion=broken).status == (
        CommandStatus.DONE)


def test_environment_is_applied_then_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULI_TEST_VAR", "caller")
    result = watch(OUTCOME, {"outcome": "env"}, environment={"PULI_TEST_VAR": "command"})
    assert result.message == "command"
    assert os.environ["PULI_TEST_VAR"] == "caller"
    monkeypatch.delenv("PULI_TEST_VAR")
    watch(OUTCOME, {"outcome": "env"}, environment={"PULI_TEST_VAR": "command"})
    assert "PULI_TEST_VAR" not in os.environ


def test_arguments_are_not_modified() -> None:
    arguments = {"cmd": "true"}
    watch("puliclient.jobs.DefaultCommandRunner", arguments)
    assert arguments == {"cmd": "true"}


# ---------------------------------------------------------------- subprocess protocol
def _spawn(request: Any, report: bool = True) -> tuple[subprocess.Popen[bytes], int | None]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    read_fd, write_fd = os.pipe() if report else (None, None)
    args = [sys.executable, "-m", "puliclient.commandwatcher"]
    if report:
        args += ["--report-fd", str(write_fd)]
    process = subprocess.Popen(args, stdin=subprocess.PIPE, env=env,
                               pass_fds=(write_fd,) if report else (),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if write_fd is not None:
        os.close(write_fd)
    assert process.stdin is not None
    payload = request if isinstance(request, str) else json.dumps(request)
    process.stdin.write(payload.encode())
    process.stdin.close()
    return process, read_fd


def _events(read_fd: int) -> list[dict[str, Any]]:
    with os.fdopen(read_fd) as stream:
        return [json.loads(line) for line in stream]


def test_an_early_licence_release_is_reported_and_only_release_is_accepted() -> None:
    process, read_fd = _spawn({"runner": "clienthelpers.ReleasingRunner", "arguments": {"licence": "shave"}})
    assert read_fd is not None
    events = _events(read_fd)
    assert process.wait() == 0
    assert {"event": "licence", "value": "shave"} in events
    assert events[-1]["message"] == "reserve False, release True"


def test_protocol_reports_every_event_then_the_end() -> None:
    process, read_fd = _spawn({"runner": "clienthelpers.ReportingRunner", "arguments": {},
                               "environment": {}})
    assert read_fd is not None
    events = _events(read_fd)
    assert process.wait() == 0
    assert events == [
        {"event": "completion", "value": 0.5},
        {"event": "message", "value": "half way"},
        {"event": "stats", "value": {"frames": 2}},
        {"event": "completion", "value": 1.0},
        {"event": "end", "status": int(CommandStatus.DONE), "message": "half way",
         "completion": 1.0},
    ]


def test_protocol_error_exit_code_and_environment(tmp_path: Path) -> None:
    out = tmp_path / "out"
    process, read_fd = _spawn({"runner": "puliclient.jobs.DefaultCommandRunner",
                               "arguments": {"cmd": f"echo $WHO > {out}; exit 5"},
                               "environment": {"WHO": "watcher"}})
    assert read_fd is not None
    end = _events(read_fd)[-1]
    assert process.wait() == 1
    assert end["event"] == "end" and end["status"] == int(CommandStatus.ERROR)
    assert end["message"] == "frame 1: command exited with code 5"
    assert out.read_text().strip() == "watcher"


def test_protocol_timeout_status() -> None:
    process, read_fd = _spawn({"runner": OUTCOME, "arguments": {"outcome": "timeout"}})
    assert read_fd is not None
    assert _events(read_fd)[-1]["status"] == int(CommandStatus.TIMEOUT)
    assert process.wait() == 1


def test_protocol_without_report_fd_gives_only_the_exit_code() -> None:
    done, _ = _spawn({"runner": OUTCOME, "arguments": {"outcome": "done"}}, report=False)
    failed, _ = _spawn({"runner": OUTCOME, "arguments": {"outcome": "error"}}, report=False)
    assert (done.wait(), failed.wait()) == (0, 1)


@pytest.mark.parametrize("request_text", ["not json", "[1]", '{"arguments": {}}',
                                          '{"runner": "a.B", "arguments": []}'])
def test_protocol_bad_request_ends_in_error(request_text: str) -> None:
    process, read_fd = _spawn(request_text)
    assert read_fd is not None
    events = _events(read_fd)
    assert process.wait() == 1
    assert len(events) == 1 and events[0]["status"] == int(CommandStatus.ERROR)
    assert events[0]["message"].startswith("bad request on stdin")


@pytest.mark.parametrize("sigterms", [1, 2])
def test_sigterm_kills_the_frames_and_reports_canceled(tmp_path: Path, sigterms: int) -> None:
    # Two: the agent signals the watcher's group, then each pid; the second must not break
    # into the cleanup the first started (it once left the watcher hung until SIGKILL).
    pid_file = tmp_path / "pid"
    process, read_fd = _spawn({"runner": "puliclient.jobs.DefaultCommandRunner",
                               "arguments": {"cmd": f"sleep 30 & echo $! > {pid_file}; wait"}})
    assert read_fd is not None
    with os.fdopen(read_fd) as stream:
        assert json.loads(stream.readline()) == {"event": "completion", "value": 0.0}
        deadline = time.monotonic() + 10
        while not (pid_file.exists() and pid_file.read_text().strip()):
            assert time.monotonic() < deadline, "the frame never wrote its pid"
            time.sleep(0.01)
        frame_pid = int(pid_file.read_text())
        for _ in range(sigterms):
            process.send_signal(signal.SIGTERM)
        end = json.loads(stream.readlines()[-1])
    assert process.wait(timeout=10) == 1
    assert end == {"event": "end", "status": int(CommandStatus.CANCELED), "message": "interrupted",
                   "completion": 0.0}
    _assert_gone(frame_pid)


def _assert_gone(frame_pid: int) -> None:
    # The signal is sent; the kernel may take a moment to finish the process off.
    deadline = time.monotonic() + 10
    while True:
        try:
            if psutil.Process(frame_pid).status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        assert time.monotonic() < deadline, f"frame {frame_pid} survived the watcher's SIGTERM"
        time.sleep(0.01)


def test_only_the_first_sigterm_interrupts_the_watcher() -> None:
    # The agent signals the group and each pid: a second SIGTERM must not break into the cleanup.
    handler = _InterruptOnce()
    with pytest.raises(KeyboardInterrupt):
        handler(signal.SIGTERM, None)
    handler(signal.SIGTERM, None)  # returns: the kill of the frames goes on


# --------------------------------------------------------------------- Puli's CommandWatcher
def test_a_runner_finds_the_watcher_running_it_as_associated_watcher() -> None:
    result = watch("clienthelpers.WatcherReadingRunner", {"a": 1},
                   environment={"PULI_COMMAND_ID": "42", "PULI_RUNNER_PACKAGES": "nuke-9"})
    assert result.status == CommandStatus.DONE, result.message
    assert result.stats == {"id": 42, "arguments": {"a": 1, "frames": 3}, "completion_seen": 0.5, "same_start": True,
                            "packages": "nuke-9", "final_yet": None}


def test_command_watcher_has_puli_constructor_and_runs_the_command_when_built() -> None:
    from octopus.commandwatcher.commandwatcher import CommandWatcher as FromPuliPath
    from puliclient.commandwatcher import CommandWatcher

    assert FromPuliPath is CommandWatcher
    watcher = CommandWatcher("", "0", 7, "clienthelpers.WatcherReadingRunner", "maya-2016", "0", {"b": 2})
    assert watcher.finalState == CommandStatus.DONE and watcher.completion == 1.0
    assert watcher.stats["id"] == 7 and watcher.stats["packages"] == "maya-2016"
    assert watcher.result is not None and watcher.result.stats == watcher.stats
    given = {"b": 2}
    unstarted = CommandWatcher("", "0", 9, "clienthelpers.WatcherReadingRunner", None, "0", given, start=False)
    assert unstarted.finalState is None and unstarted.result is None
    result = watch(unstarted.runner, unstarted.arguments, watcher=unstarted)
    assert result is unstarted.result and result.stats["id"] == 9
    assert unstarted.arguments == {"b": 2, "frames": 3} and given == {"b": 2}  # validated, as in Puli
    failed = CommandWatcher("", "0", 8, OUTCOME, None, "0", {"outcome": "error"})
    assert failed.finalState == CommandStatus.ERROR and failed.result is not None
    assert "it went wrong" in failed.result.message

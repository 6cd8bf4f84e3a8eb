"""Runner parameters, loaders, DefaultCommandRunner (frames, env, errors, timeout) and RunnerToolkit."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import psutil
import pytest

from puliclient import CommandStatus, RangeError, ValidationError
from puliclient.commandwatcher import watch
from puliclient.errors import CommandError, Error, JobTypeImportError, RunnerTimeoutError
from puliclient.jobs import (
    BooleanParameter,
    CommandRunner,
    DefaultCommandRunner,
    FloatParameter,
    IntegerParameter,
    RunnerToolkit,
    StringListParameter,
    StringParameter,
    TimeoutError,
    loadCommandRunner,
    loadTaskDecomposer,
    loadTaskExpander,
)

DEFAULT = "puliclient.jobs.DefaultCommandRunner"


class Declared(CommandRunner):
    name = StringParameter(mandatory=True)
    count = IntegerParameter(default=2, min=1, max=5)
    ratio = FloatParameter(default=0.5)
    flag = BooleanParameter(default=False)
    items = StringListParameter(default=[])


class Child(Declared):
    extra = StringParameter(default="x")


def validated(**arguments: Any) -> dict[str, Any]:
    Declared().validate(arguments)
    return arguments


def test_defaults_are_filled_and_values_converted() -> None:
    assert validated(name=7) == {"name": "7", "count": 2, "ratio": 0.5, "flag": False, "items": []}
    assert validated(name="n", count="4", ratio="2", flag="yes", items=("a", 1)) == {
        "name": "n", "count": 4, "ratio": 2.0, "flag": True, "items": ["a", "1"]}
    assert validated(name="n", flag="0")["flag"] is False


def test_parameters_are_collected_with_inheritance() -> None:
    assert [p.name for p in Child.parameters] == ["name", "count", "ratio", "flag", "items",
                                                  "extra"]
    assert [p.name for p in DefaultCommandRunner.parameters] == [
        "cmd", "start", "end", "step", "timeout"]


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({}, ValidationError, "argument 'name' is mandatory"),
        ({"name": "n", "count": "many"}, ValidationError, "argument 'count': cannot use 'many'"),
        ({"name": "n", "count": 1.5}, ValidationError, "argument 'count'"),
        ({"name": "n", "count": True}, ValidationError, "argument 'count'"),
        ({"name": "n", "count": 0}, RangeError, "'count' is 0, less than 1"),
        ({"name": "n", "count": 6}, RangeError, "'count' is 6, greater than 5"),
        ({"name": "n", "flag": "maybe"}, ValidationError, "argument 'flag'"),
        ({"name": "n", "items": 3}, ValidationError, "argument 'items'"),
    ],
)
def test_validation_errors(arguments: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        Declared().validate(arguments)


def test_timeout_alias_and_range_error_is_a_validation_error() -> None:
    assert TimeoutError is RunnerTimeoutError
    assert issubclass(RangeError, ValidationError) and issubclass(ValidationError, CommandError)


# ------------------------------------------------------------------------ loaders
def test_loaders_return_the_class() -> None:
    assert loadCommandRunner(DEFAULT) is DefaultCommandRunner
    assert loadTaskDecomposer("puliclient.jobs.DefaultTaskDecomposer").__name__ == (
        "DefaultTaskDecomposer")
    assert loadTaskExpander("clienthelpers.TwoTasksExpander").__name__ == "TwoTasksExpander"
    assert loadCommandRunner("puliclient.CallableRunner").__name__ == "CallableRunner"


def test_loader_errors_name_the_path_and_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "brokenmodule_for_puli.py").write_text("raise RuntimeError('bad import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    cases = {
        "NoDots": "expected a dotted path",
        "nosuchpkg.Runner": "'nosuchpkg.Runner': module 'nosuchpkg' not found",
        "brokenmodule_for_puli.Runner": "importing 'brokenmodule_for_puli' failed: RuntimeError",
        "puliclient.jobs.NoSuchRunner": "module 'puliclient.jobs' has no 'NoSuchRunner'",
        "clienthelpers.NotARunner": "not a subclass of puliclient.jobs.runners.CommandRunner",
    }
    for path, message in cases.items():
        with pytest.raises(JobTypeImportError, match=message):
            loadCommandRunner(path)


def test_a_script_catching_import_error_around_a_runner_load_catches_it() -> None:
    # Puli scripts guard optional runners with ``except ImportError``.
    try:
        loadCommandRunner("nosuchpkg_for_puli.Runner")
    except ImportError as exc:
        caught: BaseException = exc
    assert isinstance(caught, JobTypeImportError) and isinstance(caught, Error)


# ------------------------------------------------------------------------ DefaultCommandRunner
def test_one_process_per_frame_with_substitutions(tmp_path: Path) -> None:
    out = tmp_path / "out"
    completions: list[float] = []
    result = watch(
        DEFAULT,
        {"cmd": f"echo %%MI_FRAME%% %%MI_START%% %%MI_END%% $$ >> {out}", "start": 3, "end": 5},
        on_completion=completions.append,
    )
    assert result.status == CommandStatus.DONE
    lines = [line.split() for line in out.read_text().splitlines()]
    assert [line[:3] for line in lines] == [["3", "3", "5"], ["4", "3", "5"], ["5", "3", "5"]]
    assert len({line[3] for line in lines}) == 3  # three shells
    assert completions == pytest.approx([0.0, 1 / 3, 2 / 3, 1.0])


def test_step_runs_only_the_stepped_frames(tmp_path: Path) -> None:
    out = tmp_path / "out"
    watch(DEFAULT, {"cmd": f"echo %%MI_FRAME%% >> {out}", "start": 1, "end": 11, "step": 5})
    assert out.read_text().split() == ["1", "6", "11"]


def test_task_environment_is_merged_over_os_environ(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PULI_OUTER", "outer")
    out = tmp_path / "out"
    result = watch(DEFAULT, {"cmd": f"echo $PULI_OUTER $PULI_INNER > {out}"},
                   environment={"PULI_INNER": "inner"})
    assert result.status == CommandStatus.DONE
    assert out.read_text().split() == ["outer", "inner"]
    assert "PULI_INNER" not in os.environ


def test_non_zero_exit_stops_at_the_failing_frame(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = watch(DEFAULT, {"cmd": f"echo %%MI_FRAME%% >> {out}; test %%MI_FRAME%% -ne 12 || "
                                    "exit 3", "start": 11, "end": 14})
    assert result.status == CommandStatus.ERROR
    assert result.message == "frame 12: command exited with code 3"
    assert out.read_text().split() == ["11", "12"]
    assert result.completion == pytest.approx(0.25)


def test_missing_cmd_is_a_validation_error() -> None:
    result = watch(DEFAULT, {"start": 1})
    assert result.status == CommandStatus.ERROR and "'cmd' is mandatory" in result.message


def test_negative_timeout_is_a_range_error() -> None:
    result = watch(DEFAULT, {"cmd": "true", "timeout": -1})
    assert result.status == CommandStatus.ERROR and "less than 0" in result.message


def _wait_for_lines(path: Path, count: int) -> list[int]:
    while True:  # the shell writes the pids before sleeping; the timeout bounds this wait
        if path.exists():
            lines = path.read_text().split()
            if len(lines) >= count:
                return [int(pid) for pid in lines[:count]]


def _dead(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_timeout_kills_the_whole_process_tree(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    cmd = f"echo $$ > {pids}; sleep 30 & echo $! >> {pids}; sleep 30 & echo $! >> {pids}; wait"
    result = watch(DEFAULT, {"cmd": cmd, "timeout": 1})
    assert result.status == CommandStatus.TIMEOUT
    assert "timed out after 1 s" in result.message
    shell, *sleeps = _wait_for_lines(pids, 3)
    assert all(_dead(pid) for pid in (shell, *sleeps))


# ------------------------------------------------------------------------ RunnerToolkit
def test_execute_with_timeout_returns_the_code_or_raises() -> None:
    assert RunnerToolkit.executeWithTimeout("exit 4", 5) == 4
    with pytest.raises(RunnerTimeoutError, match="timed out after 0.2 s"):
        RunnerToolkit.executeWithTimeout("sleep 30", 0.2)


def test_execute_streams_merged_output_lines() -> None:
    lines: list[str] = []
    code = RunnerToolkit.execute("sh -c 'echo one; echo two >&2; exit 2'", 0, lines.append)
    assert code == 2 and lines == ["one", "two"]


def test_execute_calls_the_timeout_callback_while_running() -> None:
    calls: list[int] = []

    def stop(process: subprocess.Popen[bytes]) -> None:
        calls.append(process.pid)
        process.terminate()

    code = RunnerToolkit.execute("sleep 30", 0.1, lambda line: None, stop)
    assert code < 0 and len(calls) >= 1


def test_execute_with_output_wraps_start_failures() -> None:
    with pytest.raises(CommandError, match="cannot run"):
        RunnerToolkit.executeWithOutput("/no/such/binary --flag")
    with pytest.raises(CommandError, match="cannot run"):
        RunnerToolkit.executeWithOutput("unbalanced 'quote")


def test_send_mail_failure_is_a_command_error() -> None:
    with pytest.raises(CommandError, match="cannot send mail through 127.0.0.1:1"):
        RunnerToolkit.sendMail("s", "b", "a@b.c", SMTPhost="127.0.0.1", SMTPport=1)


def test_a_frame_range_above_the_limit_fails_before_it_is_listed() -> None:
    from puliclient.jobs.runners import frame_command_lines

    started = {"cmd": "echo %%MI_FRAME%%", "start": 1, "step": 1}
    with pytest.raises(CommandError, match="1000000000000 frames to run .* above the limit of 100000"):
        frame_command_lines({**started, "end": 10**12})  # instantly: nothing is listed
    assert frame_command_lines({**started, "end": 3}, max_frames=3)[-1] == (3, "echo 3")
    with pytest.raises(CommandError, match="above the limit of 2"):
        frame_command_lines({**started, "end": 3}, max_frames=2)

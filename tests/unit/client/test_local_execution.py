"""Graph.execute and Graph.execNode: dependency order, status lists, retries, timeouts, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import psutil
import pytest

from puliclient import (
    CANCELED,
    DONE,
    ERROR,
    CommandStatus,
    Graph,
    GraphExecError,
    GraphExecInterrupt,
    NodeStatus,
    local_execution,
)
from tests.unit.client.savedfiles import saved_graph, saved_group, saved_task

APPEND = 'echo {line} >> "$LOG"'


def three_level_graph(tmp_path: Path) -> tuple[Graph, Path]:
    """root group → sub-groups → tasks, with chained, group and ERROR-status dependencies."""
    log = tmp_path / "log"
    graph = Graph("job", tags={"prod": "test"})
    graph.root.setEnv({"LOG": str(log)})
    prep = graph.addNewTaskGroup("prep")
    prep.addNewTask("setup", {"cmd": APPEND.format(line="setup")})
    render = graph.addNewTaskGroup("render")
    frames = render.addNewTask("frames", {
        "cmd": APPEND.format(line="frame_%%MI_FRAME%%"), "start": 1, "end": 5, "packetSize": 2})
    flaky_cmd = ('if [ -e "$MARKER" ]; then ' + APPEND.format(line="flaky_ok") + "; else "
                 'touch "$MARKER"; ' + APPEND.format(line="flaky_fail") + "; exit 3; fi")
    render.addNewTask("flaky", {"cmd": flaky_cmd}, maxAttempt=2,
                      environment={"MARKER": str(tmp_path / "marker")})
    post = render.addNewTaskGroup("post")
    comp = post.addNewTask("comp", {"cmd": APPEND.format(line="comp")})
    comp.dependsOn(frames)
    render.dependsOn(prep)
    broken = graph.addNewTask("broken", {"cmd": APPEND.format(line="broken") + "; exit 1"})
    graph.addNewTask("on_error", {"cmd": APPEND.format(line="on_error")}).dependsOn(
        broken, [ERROR])
    graph.addNewTask("on_success", {"cmd": APPEND.format(line="on_success")}).dependsOn(broken)
    final = graph.addNewTask("final", {"cmd": APPEND.format(line="final")})
    graph.addEdges([(render, final, [DONE])])
    return graph, log


@pytest.mark.parametrize("subprocess", [False, True], ids=["in-process", "subprocess"])
def test_three_level_graph_runs_in_dependency_order(tmp_path: Path, subprocess: bool) -> None:
    graph, log = three_level_graph(tmp_path)
    assert graph.execute(subprocess=subprocess) == NodeStatus.ERROR  # 'broken' failed
    lines = log.read_text().split()
    counts = {line: lines.count(line) for line in set(lines)}
    assert counts == {"setup": 1, "frame_1": 1, "frame_2": 1, "frame_3": 1, "frame_4": 1,
                      "frame_5": 1, "flaky_fail": 1, "flaky_ok": 1, "comp": 1, "broken": 1,
                      "on_error": 1, "final": 1}
    first, last = lines.index, lambda name: len(lines) - 1 - lines[::-1].index(name)
    frames = [f"frame_{i}" for i in range(1, 6)]
    # the group dependency of 'render' on 'prep' reached every task inside it
    assert all(first("setup") < first(name) for name in [*frames, "flaky_fail", "comp"])
    assert max(last(f) for f in frames) < first("comp")
    assert first("flaky_fail") < first("flaky_ok")
    assert first("broken") < first("on_error")
    assert max(last(name) for name in [*frames, "flaky_ok", "comp"]) < first("final")


def test_graph_whose_only_failure_is_retried_successfully_is_done(tmp_path: Path) -> None:
    marker, out = tmp_path / "marker", tmp_path / "out"
    graph = Graph("g")
    graph.addNewTask("flaky", {"cmd": f"echo run >> {out}; test -e {marker} || "
                                      f"{{ touch {marker}; exit 1; }}"}, maxAttempt=3)
    assert graph.execute(subprocess=False) == NodeStatus.DONE
    assert out.read_text().split() == ["run", "run"]  # no third attempt after success


def test_attempts_stop_at_max_attempt(tmp_path: Path) -> None:
    out = tmp_path / "out"
    graph = Graph("g")
    graph.addNewTask("bad", {"cmd": f"echo run >> {out}; exit 1"}, maxAttempt=3)
    assert graph.execute(subprocess=False) == NodeStatus.ERROR
    assert out.read_text().split() == ["run"] * 3


def test_unreachable_error_branch_stays_blocked_and_graph_is_done(tmp_path: Path) -> None:
    out = tmp_path / "out"
    graph = Graph("g")
    ok = graph.addNewTask("ok", {"cmd": f"echo ok >> {out}"})
    graph.addNewTask("cleanup", {"cmd": f"echo cleanup >> {out}"}).dependsOn(ok, [ERROR])
    assert graph.execute(subprocess=False) == NodeStatus.DONE
    assert out.read_text().split() == ["ok"]


def test_downstream_of_a_failure_never_runs_and_does_not_hang(tmp_path: Path) -> None:
    out = tmp_path / "out"
    graph = Graph("g")
    a = graph.addNewTask("a", {"cmd": "exit 1"})
    b = graph.addNewTask("b", {"cmd": f"echo b >> {out}"})
    c = graph.addNewTask("c", {"cmd": f"echo c >> {out}"})
    graph.addChain([a, b, c])
    assert graph.execute(subprocess=False) == NodeStatus.ERROR
    assert not out.exists()


def test_every_dependency_is_checked_not_only_the_first(tmp_path: Path) -> None:
    out = tmp_path / "out"
    graph = Graph("g")
    good = graph.addNewTask("good", {"cmd": "true"})
    bad = graph.addNewTask("bad", {"cmd": "exit 1"})
    both = graph.addNewTask("both", {"cmd": f"echo both >> {out}"})
    both.dependsOn(good)
    both.dependsOn(bad)
    graph.execute(subprocess=False)
    assert not out.exists()


def test_dependency_on_a_failed_group_with_error_status(tmp_path: Path) -> None:
    out = tmp_path / "out"
    graph = Graph("g")
    group = graph.addNewTaskGroup("group")
    group.addNewTask("fine", {"cmd": "true"})
    group.addNewTask("fails", {"cmd": "exit 2"})
    graph.addNewTask("handler", {"cmd": f"echo handled >> {out}"}).dependsOn(group, [ERROR])
    assert graph.execute(subprocess=False) == NodeStatus.ERROR
    assert out.read_text().split() == ["handled"]


@pytest.mark.parametrize("subprocess", [False, True], ids=["in-process", "subprocess"])
def test_timeout_makes_the_graph_fail(monkeypatch: pytest.MonkeyPatch, subprocess: bool) -> None:
    # The graph status alone would not tell a timeout from any other failure:
    # record what the command itself ended with, in the mode under test.
    name = "run_in_subprocess" if subprocess else "run_in_process"
    real = getattr(local_execution, name)
    ended: list[CommandStatus] = []

    def recording(pCommand: Mapping[str, Any]) -> CommandStatus:
        ended.append(real(pCommand))
        return ended[-1]

    monkeypatch.setattr(local_execution, name, recording)
    graph = Graph("g")
    graph.addNewTask("slow", {"cmd": "sleep 30", "timeout": 1})
    assert graph.execute(subprocess=subprocess) == NodeStatus.ERROR
    assert ended == [CommandStatus.TIMEOUT]


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_watcher_that_cannot_start_raises_graph_exec_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The watcher is started as `sys.executable -m puliclient.commandwatcher`:
    # an interpreter that does not exist makes Popen itself fail.
    missing = str(tmp_path / "no-such-python")
    monkeypatch.setattr(sys, "executable", missing)
    graph = Graph("g")
    graph.addNewTask("never", {"cmd": f"touch {tmp_path / 'ran'}"})
    command = {"runner": "puliclient.jobs.DefaultCommandRunner", "arguments": {"cmd": "true"}}
    before = _open_fds()
    with pytest.raises(GraphExecError, match="cannot start the command watcher: .*no-such-python"):
        graph.execNode(command)
    with pytest.raises(GraphExecError, match="cannot start the command watcher: .*no-such-python"):
        graph.execute()
    assert _open_fds() == before  # the report pipe is closed on that path too
    assert not (tmp_path / "ran").exists()


def test_nearest_argument_and_environment_win(tmp_path: Path) -> None:
    out = tmp_path / "out"
    graph = Graph("g")
    graph.root.setEnv({"WHO": "root", "KEEP": "root"})
    group = graph.addNewTaskGroup("grp", arguments={"cmd": f"echo group >> {out}"},
                                  environment={"WHO": "group"})
    group.addNewTask("inherits", {})
    group.addNewTask("own", {"cmd": f"echo $WHO $KEEP >> {out}"}, environment={"WHO": "task"})
    assert graph.execute(subprocess=False) == NodeStatus.DONE
    assert out.read_text().splitlines() == ["group", "task root"]


def test_exec_node_in_both_modes(tmp_path: Path) -> None:
    graph = Graph("g")
    out = tmp_path / "out"
    command = {"runner": "puliclient.jobs.DefaultCommandRunner",
               "arguments": {"cmd": f"echo $X >> {out}"}, "environment": {"X": "x"}}
    assert graph.execNode(command) == CommandStatus.DONE
    assert graph.execNode(command, subprocess=False) == CommandStatus.DONE
    assert out.read_text().split() == ["x", "x"]
    failing = {"runner": "clienthelpers.OutcomeRunner", "arguments": {"outcome": "timeout"}}
    assert graph.execNode(failing) == CommandStatus.TIMEOUT
    assert graph.execNode({"runner": "no.Such", "arguments": {}}) == CommandStatus.ERROR


def test_interrupt_in_process_raises_graph_exec_interrupt() -> None:
    graph = Graph("g")
    graph.addNewTask("stop", {"outcome": "interrupt"}, runner="clienthelpers.OutcomeRunner")
    with pytest.raises(GraphExecInterrupt, match="'stop'"):
        graph.execute(subprocess=False)


def _interrupt_main_once(pid_file: Path, main_thread: int, sent: list[float]) -> threading.Thread:
    def run() -> None:
        deadline = time.monotonic() + 20
        while not (pid_file.exists() and pid_file.read_text().strip()):
            if time.monotonic() > deadline:
                return  # the test then says the frame never started
            time.sleep(0.005)
        signal.pthread_kill(main_thread, signal.SIGINT)
        sent.append(time.monotonic())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _signal_state() -> str:
    """How this process handles SIGINT, for a failure message: Python's handler and the kernel's
    view (/proc/self/status: pending, blocked, ignored, caught)."""
    try:
        with open("/proc/self/status") as f:
            kernel = " ".join(line.strip() for line in f if line.startswith(("SigPnd", "SigBlk", "SigIgn", "SigCgt")))
    except OSError:
        kernel = "no /proc"
    return f"handler {signal.getsignal(signal.SIGINT)!r}, thread {threading.current_thread().name}; {kernel}"


@pytest.fixture
def ctrl_c() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt, as in a terminal, whatever this process inherited: a shell
    starts a background job (``make test &``) with SIGINT ignored, and Python keeps it so."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("ctrl_c")
@pytest.mark.parametrize("subprocess", [False, True], ids=["in-process", "subprocess"])
def test_ctrl_c_kills_what_runs(tmp_path: Path, subprocess: bool) -> None:
    pid_file = tmp_path / "pid"
    graph = Graph("g")
    graph.addNewTask("long", {"cmd": f"sleep 30 & echo $! > {pid_file}; wait"})
    after = graph.addNewTask("after", {"cmd": f"touch {tmp_path / 'after'}"})
    after.dependsOn(graph.root.tasks[0], [DONE, ERROR, CANCELED])
    sent: list[float] = []
    thread = _interrupt_main_once(pid_file, threading.main_thread().ident or 0, sent)
    started = time.monotonic()
    with pytest.raises(GraphExecInterrupt, match="'long'"):
        try:
            graph.execute(subprocess=subprocess)
        finally:  # what to look at if the SIGINT is lost (it once was, twice in one worker)
            state = (f"SIGINT sent {sent[0] - started:.2f} s after start" if sent else "SIGINT not sent") \
                + f"; {_signal_state()}"
            print(state, file=sys.stderr)
    thread.join()
    sleeper = int(pid_file.read_text())
    try:
        assert psutil.Process(sleeper).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        pass
    assert not (tmp_path / "after").exists()


def test_running_a_puli_saved_file_decomposes_it_first(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "out"
    saved = saved_graph([
        saved_group("saved", [1, 2]),
        saved_task("frames", {"cmd": f"echo f%%MI_FRAME%% >> {out}", "start": 1, "end": 3, "packetSize": 2}),
        saved_task("after", {"cmd": f"echo after >> {out}"}, dependencies=[[1, [DONE]]]),
    ])
    path = tmp_path / "saved.json"
    path.write_text(json.dumps(saved))
    assert local_execution.main([str(path)]) == 0
    assert out.read_text().split() == ["f1", "f2", "f3", "after"]
    saved["tasks"][1]["decomposer"] = "no.such.Decomposer"
    path.write_text(json.dumps(saved))
    assert local_execution.main([str(path)]) == 2
    assert "task node 1 ('frames'): cannot load decomposer 'no.such.Decomposer'" in caplog.text
    assert local_execution.main([str(tmp_path / "missing.json")]) == 2
    assert "cannot read graph file" in caplog.text
    assert out.read_text().split() == ["f1", "f2", "f3", "after"]  # nothing more ran


def test_a_graph_nested_deeper_than_the_stack_runs_to_done() -> None:
    # 1000 groups, each inside the previous one, a task at the bottom; built by hand (the
    # client's check would refuse the depth): every group's status waits on the one below.
    nodes = [saved_group(f"g{i}", [i + 1]) for i in range(1000)]
    nodes.append(saved_task("bottom", {"cmd": "true"}, commands=[
        {"description": "bottom", "type": "command", "task": "bottom", "arguments": {"cmd": "true"}}]))
    ran: list[str] = []

    def run(command: dict[str, Any]) -> CommandStatus:
        ran.append(command["description"])
        return CommandStatus.DONE

    execution = local_execution.LocalExecution(saved_graph(nodes), run)
    assert set(execution.node_statuses().values()) == {NodeStatus.BLOCKED}
    assert execution.run() == NodeStatus.DONE and ran == ["bottom"]
    assert list(execution.node_statuses()) == list(reversed(range(1001)))  # children first


def test_by_frame_runs_the_comp_frames_whose_render_frames_are_done(tmp_path: Path) -> None:
    """Render frames 3-4 fail: with byFrame, comp 1-2 (one packet over two render commands)
    still runs and comp 3-4 stays BLOCKED; an ordinary dependency runs no comp frame at all."""
    log = tmp_path / "log"
    for by_frame in (True, False):
        log.unlink(missing_ok=True)
        graph = Graph("frames")
        graph.root.setEnv({"LOG": str(log)})
        render = graph.addNewTask("render", {
            "cmd": "test %%MI_FRAME%% -le 2 && " + APPEND.format(line="render_%%MI_FRAME%%"),
            "start": 1, "end": 4})
        comp = graph.addNewTask("comp", {"cmd": APPEND.format(line="comp_%%MI_START%%_%%MI_END%%"),
                                         "start": 1, "end": 4, "packetSize": 2})
        comp.dependsOn(render, byFrame=by_frame)
        assert graph.execute() == NodeStatus.ERROR
        lines = set(log.read_text().split())
        assert lines == {"render_1", "render_2", *(["comp_1_2"] if by_frame else [])}

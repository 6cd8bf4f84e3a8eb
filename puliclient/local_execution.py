"""Running a whole graph on this machine (``Graph.execute``), one command at a time.

The engine works on the representation (so a saved graph file runs the same
way) and fixes Puli's local execution: *every* dependency of a task is
checked, by its real index, including those of its ancestor groups. Each pass
runs every READY command, then re-evaluates the BLOCKED ones; it stops when a
pass has nothing to run, so unmet dependencies never hang.

A frame-by-frame dependency (``dependsOn(..., byFrame=True)``) is checked per command, as
on the farm: a comp command runs as soon as the render commands covering its frames are
done. Each pass runs the READY commands in graph order, so with a render task listed
before its comp, comp frame N still runs after all of render (one command at a time).

Statuses follow the farm: a task is CANCELED if a command was canceled, else
ERROR if one failed (after its ``maxAttempt`` attempts; locally retried at
once, without Puli's 20 s delay), else BLOCKED/READY while commands wait, else
DONE; a group takes its children's status with Puli's folder precedence
(ERROR > RUNNING > READY > BLOCKED > CANCELED > DONE).

The result is CANCELED if any command was canceled, else ERROR if any failed,
else DONE. Commands whose dependencies can never be met (say, an "on error"
branch of a task that succeeded) stay BLOCKED, are counted in the summary and
do not change the result. Timers and maxRN are ignored locally (logged).
Ctrl-C kills what runs and raises ``GraphExecInterrupt``.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from puliclient.commandwatcher import watch
from puliclient.errors import GraphError, GraphExecError, GraphExecInterrupt
from puliclient.hierarchical import ancestry, resolved_command
from puliclient.processes import guarded_process, kill_process_tree
from puliclient.representation import BY_FRAME_COMMAND_STATUSES, frame_range, is_by_frame, parent_indices
from puliclient.status import CommandStatus, NodeStatus

log = logging.getLogger(__name__)

RunCommand = Callable[[dict[str, Any]], CommandStatus]

_FAILED = frozenset({CommandStatus.ERROR, CommandStatus.TIMEOUT})
# Puli's FolderNode precedence (no PAUSED locally), most important first.
_GROUP_PRECEDENCE = (
    NodeStatus.ERROR,
    NodeStatus.RUNNING,
    NodeStatus.READY,
    NodeStatus.BLOCKED,
    NodeStatus.CANCELED,
)


@dataclass
class LocalCommand:
    """One command of the graph and where it stands."""

    task_index: int
    spec: dict[str, Any]
    max_attempt: int
    status: CommandStatus = CommandStatus.BLOCKED
    attempts: int = 0


def task_status(commands: list[LocalCommand]) -> NodeStatus:
    """A task's status from its commands' (Puli's TaskNode precedence)."""
    statuses = {command.status for command in commands}
    if CommandStatus.CANCELED in statuses:
        return NodeStatus.CANCELED
    if statuses & _FAILED:
        return NodeStatus.ERROR
    if statuses & {CommandStatus.RUNNING, CommandStatus.FINISHING}:
        return NodeStatus.RUNNING
    if statuses & {CommandStatus.READY, CommandStatus.ASSIGNED}:
        return NodeStatus.READY
    if CommandStatus.BLOCKED in statuses:
        return NodeStatus.BLOCKED
    return NodeStatus.DONE


class LocalExecution:
    """Runs a validated representation with ``run_command`` (in-process or subprocess)."""

    def __init__(self, data: Mapping[str, Any], run_command: RunCommand) -> None:
        self.data = data
        self.run_command = run_command
        self.parents = parent_indices(data)
        self.commands: dict[int, list[LocalCommand]] = {}
        for i, node in enumerate(data["tasks"]):
            if node["type"] != "Task":
                continue
            self.commands[i] = [
                LocalCommand(i, resolved_command(data, self.parents, i, c), node.get("maxAttempt", 1))
                for c in range(len(node["commands"]))
            ]
        self.order: list[str] = []  # descriptions, in execution order (one entry per attempt)

    def _all_commands(self) -> list[LocalCommand]:
        return [command for i in sorted(self.commands) for command in self.commands[i]]

    def node_statuses(self) -> dict[int, NodeStatus]:
        """Status of every node, computed from the commands."""
        statuses: dict[int, NodeStatus] = {}
        nodes = self.data["tasks"]
        for first in range(len(nodes)):
            # Children before their group, with an explicit stack: groups may be nested deep.
            stack = [first]
            while stack:
                i = stack[-1]
                if i in statuses:
                    stack.pop()
                    continue
                node = nodes[i]
                if node["type"] == "Task":
                    statuses[i] = task_status(self.commands[i])
                    continue
                waiting = [child for child in node["tasks"] if child not in statuses]
                if waiting:
                    stack.extend(reversed(waiting))
                    continue
                children = {statuses[child] for child in node["tasks"]}
                statuses[i] = next((s for s in _GROUP_PRECEDENCE if s in children), NodeStatus.DONE)
        return statuses

    def dependencies_met(self, command: LocalCommand, statuses: Mapping[int, NodeStatus]) -> bool:
        """True when every dependency of the command's task and of its ancestor groups is met.

        A frame-by-frame one is met when every command of its source whose frames meet this
        command's is in one of the command statuses of the listed node statuses; where a
        command of either side has no frame range, the whole source's status decides."""
        for i in ancestry(self.parents, command.task_index):
            for dependency in self.data["tasks"][i]["dependencies"]:
                source, accepted = dependency[0], dependency[1]
                if is_by_frame(dependency):
                    met = self._frames_met(command, source, accepted)
                    if met is not None:
                        if not met:
                            return False
                        continue
                if statuses[source] not in accepted:
                    return False
        return True

    def _frames_met(self, command: LocalCommand, source: int, accepted: list[int]) -> bool | None:
        """The frame-by-frame check of ``command`` against node ``source``; None when a command
        of either side has no frame range (the whole-node rule then applies)."""
        own = _frames(command)
        sources = [c for i in self._tasks_under(source) for c in self.commands[i]]
        if own is None or any(_frames(c) is None for c in sources):
            return None
        wanted = frozenset(cs for s in accepted for cs in BY_FRAME_COMMAND_STATUSES[NodeStatus(s)])
        for c in sources:
            frames = _frames(c)
            assert frames is not None
            if frames[0] <= own[1] and own[0] <= frames[1] and c.status not in wanted:
                return False
        return True

    def _tasks_under(self, index: int) -> list[int]:
        """The task indexes of node ``index``'s subtree (itself if it is a task)."""
        out, stack = [], [index]
        while stack:
            i = stack.pop()
            if i in self.commands:
                out.append(i)
            elif self.data["tasks"][i]["type"] == "TaskGroup":
                stack.extend(self.data["tasks"][i]["tasks"])
        return out

    def run(self) -> NodeStatus:
        started = time.monotonic()
        self._log_ignored_settings()
        commands = self._all_commands()
        while True:
            statuses = self.node_statuses()
            for command in commands:
                if command.status == CommandStatus.BLOCKED and self.dependencies_met(
                    command, statuses
                ):
                    command.status = CommandStatus.READY
            ready = [command for command in commands if command.status == CommandStatus.READY]
            if not ready:
                break
            for command in ready:
                self._run_with_retries(command)
        return self._summarise(commands, time.monotonic() - started)

    def _run_with_retries(self, command: LocalCommand) -> None:
        description = command.spec["description"]
        while True:
            command.attempts += 1
            command.status = CommandStatus.RUNNING
            self.order.append(description)
            log.info("command %s: attempt %d/%d", description, command.attempts,
                     command.max_attempt)
            try:
                command.status = self.run_command(command.spec)
            except KeyboardInterrupt:
                command.status = CommandStatus.CANCELED
                raise GraphExecInterrupt(
                    f"interrupted while running command '{description}'; it was killed"
                ) from None
            if command.status not in _FAILED or command.attempts >= command.max_attempt:
                break
            log.warning("command %s ended %s; retrying", description, command.status.name)

    def _summarise(self, commands: list[LocalCommand], elapsed: float) -> NodeStatus:
        counts = Counter(command.status for command in commands)
        if counts[CommandStatus.CANCELED]:
            result = NodeStatus.CANCELED
        elif counts[CommandStatus.ERROR] or counts[CommandStatus.TIMEOUT]:
            result = NodeStatus.ERROR
        else:
            result = NodeStatus.DONE
        log.info(
            "graph %r %s in %.2f s: %d commands, %d done, %d error, %d timeout, %d canceled, "
            "%d never ran (dependencies not met), %d executions",
            self.data["name"], result.name, elapsed, len(commands), counts[CommandStatus.DONE],
            counts[CommandStatus.ERROR], counts[CommandStatus.TIMEOUT],
            counts[CommandStatus.CANCELED], counts[CommandStatus.BLOCKED],
            sum(command.attempts for command in commands),
        )
        return result

    def _log_ignored_settings(self) -> None:
        now = time.time()
        for node in self.data["tasks"]:
            timer = node.get("timer")
            if timer is not None and timer > now:
                log.info("node %r: timer ignored in local execution", node["name"])


def _frames(command: LocalCommand) -> tuple[int, int] | None:
    arguments = command.spec["arguments"]
    return frame_range(arguments.get("start"), arguments.get("end"))


# --------------------------------------------------------------------------- one command
def run_in_process(pCommand: Mapping[str, Any]) -> CommandStatus:
    """Run one command through :func:`watch` in this process."""
    result = watch(
        pCommand["runner"],
        dict(pCommand.get("arguments") or {}),
        environment=dict(pCommand.get("environment") or {}),
        on_message=lambda message: log.info("%s: %s", pCommand.get("description", ""), message),
    )
    return result.status


def _child_environment() -> dict[str, str]:
    # The watcher must import what this script imports (custom runners next to it).
    paths = [entry for entry in sys.path if entry]
    existing = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([*paths, *([existing] if existing else [])])}


def _kill_watcher(process: subprocess.Popen[bytes]) -> None:
    kill_process_tree(process.pid)
    process.wait()


def run_in_subprocess(pCommand: Mapping[str, Any]) -> CommandStatus:
    """Run one command in ``python -m puliclient.commandwatcher``, as a render node would.

    Its output goes to this process's stdout/stderr. On KeyboardInterrupt the
    watcher and everything under it are killed before the interrupt propagates.
    """
    request = {
        "runner": pCommand["runner"],
        "arguments": dict(pCommand.get("arguments") or {}),
        "environment": dict(pCommand.get("environment") or {}),
    }
    end: dict[str, Any] | None = None
    read_fd, write_fd = os.pipe()
    with os.fdopen(read_fd, "r") as events:  # closes the read end, however this ends
        process: subprocess.Popen[bytes] | None = None
        try:
            with guarded_process(
                [sys.executable, "-m", "puliclient.commandwatcher", "--report-fd", str(write_fd)],
                _kill_watcher,
                stdin=subprocess.PIPE,
                pass_fds=(write_fd,),
                env=_child_environment(),
            ) as process:
                # Our copy of the write end would keep the pipe open after the
                # watcher exits: reading would never see EOF. Forgotten before
                # being closed, so an interruption cannot make the finally close
                # it (or a reused fd number) a second time.
                fd, write_fd = write_fd, -1
                os.close(fd)
                assert process.stdin is not None
                with process.stdin:
                    process.stdin.write(json.dumps(request).encode())
                for line in events:
                    event = json.loads(line)
                    if event.get("event") == "end":
                        end = event
                    elif event.get("event") == "message":
                        log.info("%s: %s", pCommand.get("description", ""), event["value"])
                returncode = process.wait()
        except OSError as exc:
            if process is None:  # Popen failed: there is no watcher to kill
                raise GraphExecError(f"cannot start the command watcher: {exc}") from exc
            raise
        finally:
            if write_fd >= 0:  # the watcher never started
                os.close(write_fd)
    if end is None:
        log.error("command watcher exited with %s without reporting an end", returncode)
        return CommandStatus.ERROR
    return CommandStatus(end["status"])


def execute_representation(data: Mapping[str, Any], in_subprocess: bool = True) -> NodeStatus:
    """Run a validated representation locally and return the graph's final node status."""
    engine = LocalExecution(data, run_in_subprocess if in_subprocess else run_in_process)
    return engine.run()


def main(argv: list[str] | None = None) -> int:
    """``python -m puliclient.local_execution graph.json``: run a saved graph here.

    The file is loaded as ``Graph.loadAndSubmit`` loads it (a Puli file's
    undecomposed tasks are decomposed). Exit status: 0 if the graph ends DONE,
    1 otherwise, 2 for a usage error or a file that cannot be loaded.
    """
    from puliclient.graphfile import load_graph_file

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        log.error("usage: python -m puliclient.local_execution GRAPH.json")
        return 2
    try:
        data = load_graph_file(args[0])
    except GraphError as exc:
        log.error("%s", exc)
        return 2
    return 0 if execute_representation(data) == NodeStatus.DONE else 1


if __name__ == "__main__":
    sys.exit(main())

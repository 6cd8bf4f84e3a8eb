"""One command on a render node: what happens to it (``ExecutionEvent``), its environment and
its log file. What to run is the ASSIGN's ``protocol.CommandSpec``.

Shared by the two ways a command runs (``execution``: through a Python watcher;
``shell_execution``: shell frames spawned by the agent) and by the log server.
Logs live at ``<log_dir>/<cluster>/<task_id>/<command_id>.log``, one header and
one footer line per attempt, created ``LOG_FILE_MODE`` (0640) in directories made
``LOG_DIRECTORY_MODE`` (0750), owned by the agent's account even when the command runs
as its job's user: the agent opens the log and the command writes to the descriptor
it inherits as its stdout and stderr. Nothing here starts or kills a process; what a
command gets of the agent's environment is ``launch``'s.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from puli_mesh.node.launch import gpu_environment
from puli_mesh.node.process_tree import MARKER_VARIABLE
from puli_mesh.protocol import CommandSpec
from puliclient.status import CommandStatus

log = logging.getLogger(__name__)

LOG_TAIL_LINES = 20
LOG_FILE_MODE = 0o640
"""A command's log: written by the agent (the command writes through the descriptor it inherits),
readable by the agent's group, by nobody else on the node; clients read it through the agent."""
LOG_DIRECTORY_MODE = 0o750
_TAIL_MAX_BYTES = 64 * 1024

EventKind = Literal["started", "completion", "message", "stats", "licence", "end"]


@dataclass(slots=True)
class ExecutionEvent:
    """Something that happened to a running command.

    ``value`` holds the payload of started (the pid), completion (float),
    message (str), stats (dict) and licence (the name of a licence the runner
    gave back early) events. ``status``, ``message``,
    ``completion`` and ``exit_code`` describe an ``end``.
    """

    command_id: int
    attempt: int
    kind: EventKind
    value: Any = None
    status: CommandStatus | None = None
    message: str = ""
    completion: float = 0.0
    exit_code: int | None = None


# ------------------------------------------------------------------------ log files
def log_path_for(log_dir: Path | str, cluster: str, task_id: int, command_id: int) -> Path:
    """Where a command's log lives: ``<log_dir>/<cluster>/<task_id>/<command_id>.log``."""
    return Path(log_file_for(log_dir, cluster, task_id, command_id))


def log_file_for(log_dir: Path | str, cluster: str, task_id: int, command_id: int) -> str:
    """:func:`log_path_for` as a string: building a Path per command showed on short frames."""
    if not cluster or "/" in cluster or cluster in (".", ".."):
        raise ValueError(f"cluster {cluster!r} is not a valid directory name")
    return f"{os.fspath(log_dir)}/{cluster}/{int(task_id)}/{int(command_id)}.log"


def open_log(path: str) -> int:
    """A command's log opened for appending (close-on-exec), created ``LOG_FILE_MODE`` with its
    missing directories ``LOG_DIRECTORY_MODE``. The directory is made only when missing: a stat
    per command saved."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
    try:
        return os.open(path, flags, LOG_FILE_MODE)
    except FileNotFoundError:  # first command of the task, or a clean-up job removed the directory
        make_log_directories(os.path.dirname(path))
        return os.open(path, flags, LOG_FILE_MODE)


def make_log_directories(directory: str) -> None:
    """``os.makedirs`` giving every directory it makes ``LOG_DIRECTORY_MODE`` (makedirs gives its
    mode to the last one only)."""
    parent = os.path.dirname(directory)
    if parent and parent != directory and not os.path.isdir(parent):
        make_log_directories(parent)
    try:
        os.mkdir(directory, LOG_DIRECTORY_MODE)
    except FileExistsError:
        pass


def append_to_log(path: Path | str | None, text: str) -> None:
    """One line of the agent's in a command's log (why it could not start); logged if it cannot."""
    if path is None:
        return
    try:
        fd = open_log(os.fspath(path))
        try:
            os.write(fd, f"=== puli-mesh: {text} ===\n".encode())
        finally:
            os.close(fd)
    except OSError as exc:
        log.warning("cannot write to %s: %s", path, exc)


def read_log(path: Path | str, offset: int = 0, limit: int = 65536) -> tuple[bytes, int]:
    """Read up to ``limit`` bytes from ``offset``; returns the chunk and the next offset.

    A negative offset counts from the end (``-65536``: the last 64 KiB). An
    offset past the end gives ``b""`` and the file's size. Raises
    ``FileNotFoundError`` if there is no such log.
    """
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        start = max(0, size + offset) if offset < 0 else min(offset, size)
        f.seek(start)
        chunk = f.read(max(0, limit))
    return chunk, start + len(chunk)


def tail_lines(path: Path | str, n: int) -> list[str]:
    """The last ``n`` lines of a log (decoded, bad bytes replaced), looking at its last 64 KiB.

    Returns ``[]`` if the file does not exist or cannot be read.
    """
    if n <= 0:
        return []
    try:
        chunk, _ = read_log(path, -_TAIL_MAX_BYTES, _TAIL_MAX_BYTES)
    except OSError:
        return []
    return chunk.decode("utf-8", errors="replace").splitlines()[-n:]



def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"{code} ({signal.Signals(-code).name})"
        except ValueError:
            pass
    return str(code)


def command_environment(spec: CommandSpec, log_path: Path | str | None, node_name: str,
                        execution_id: str, base: Mapping[str, str]) -> dict[str, str]:
    """The environment of a command: ``base`` (``launch.CommandLaunch.base_environment``: what it
    gets of the agent's environment and its account's), the job's, then the PULI_* variables."""
    env = dict(base)
    # The protocol checks that the environment is a map, not what it holds; the OS needs strings.
    env.update({str(k): str(v) for k, v in spec.environment.items()})
    env.update({
        "PULI_USER": spec.user,
        "PULI_COMMAND_ID": str(spec.command_id),
        "PULI_TASK_ID": str(spec.task_id),
        "PULI_TASK_NAME": spec.task_name,
        "PULI_LOG": str(log_path),
        "PULI_ALLOCATED_CORES": str(spec.cores),
        "PULI_ALLOCATED_MEMORY": str(spec.ram_mb),
        "PULI_NODE_NAME": node_name,
        "PULI_GRAPH_ID": str(spec.graph_id),
        "PULI_ATTEMPT": str(spec.attempt),
        MARKER_VARIABLE: execution_id,
    })
    if spec.gpus:
        env.update(gpu_environment(spec.gpus))
    return env


def _stamp() -> str:
    """The local time to the second, ISO 8601 with its offset."""
    return _stamp_of(int(time.time()))


@functools.lru_cache(maxsize=1)
def _stamp_of(second: int) -> str:
    # Formatted once a second: a header and a footer per command, and on short
    # frames the formatting showed.
    return datetime.fromtimestamp(second).astimezone().isoformat(timespec="seconds")


def log_header(spec: CommandSpec, node_name: str) -> bytes:
    stamp = _stamp()
    return (f"=== puli-mesh: command {spec.command_id} attempt {spec.attempt}"
            f" on {node_name} at {stamp} ===\n").encode()


def log_footer(spec: CommandSpec, status: CommandStatus, exit_code: int | None) -> bytes:
    stamp = _stamp()
    return (f"=== puli-mesh: command {spec.command_id} attempt {spec.attempt} ended {status.name}"
            f" (exit code {exit_code}) at {stamp} ===\n").encode()


def write_log_footer(log_path: Path, spec: CommandSpec, status: CommandStatus, exit_code: int | None) -> None:
    try:
        fd = open_log(os.fspath(log_path))
        try:
            os.write(fd, log_footer(spec, status, exit_code))
        finally:
            os.close(fd)
    except OSError as exc:
        log.warning("command %d: cannot write to %s: %s", spec.command_id, log_path, exc)


def message_with_tail(message: str, log_path: Path | str | None) -> str:
    if log_path is None:
        return message
    tail = "\n".join(tail_lines(log_path, LOG_TAIL_LINES))
    return f"{message}\n--- last lines of the log ---\n{tail}"

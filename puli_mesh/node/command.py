"""One command on a render node: what happens to it (``ExecutionEvent``), its environment and
its log file. What to run is the ASSIGN's ``protocol.CommandSpec``.

Shared by the two ways a command runs (``execution``: through a Python watcher;
``shell_execution``: shell frames spawned by the agent) and by the log server.
Logs live at ``<log_dir>/<cluster>/<task_id>/<command_id>.log``, one header and
one footer line per attempt. Nothing here starts or kills a process.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from puli_mesh.node.process_tree import MARKER_VARIABLE
from puli_mesh.protocol import CommandSpec
from puliclient.status import CommandStatus

log = logging.getLogger(__name__)

LOG_TAIL_LINES = 20
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



def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"{code} ({signal.Signals(-code).name})"
        except ValueError:
            pass
    return str(code)


@functools.cache
def _agent_environment_snapshot() -> dict[str, str]:
    return dict(os.environ)


def agent_environment() -> dict[str, str]:
    """A copy of ``os.environ`` as it was at the first command (the agent does not change its own).

    ``dict(os.environ)`` decodes every variable (~15 µs for 40 of them), a
    noticeable share of a 1 ms command; the decoded copy is made once.
    """
    return _agent_environment_snapshot().copy()


def command_environment(spec: CommandSpec, log_path: Path | str | None, node_name: str,
                        execution_id: str) -> dict[str, str]:
    """The environment of a command: the agent's, the task's, then Puli's and our PULI_* variables."""
    env = agent_environment()
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
        with open(log_path, "ab") as f:
            f.write(log_footer(spec, status, exit_code))
    except OSError as exc:
        log.warning("command %d: cannot write to %s: %s", spec.command_id, log_path, exc)


def message_with_tail(message: str, log_path: Path | str | None) -> str:
    if log_path is None:
        return message
    tail = "\n".join(tail_lines(log_path, LOG_TAIL_LINES))
    return f"{message}\n--- last lines of the log ---\n{tail}"

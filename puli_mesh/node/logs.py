"""Serving command logs: answered by the agent that ran the command, also after it ended.

Logs stay on the render node (``<log_dir>/<cluster>/<task_id>/<command_id>.log``);
a client asks the leader which node ran a command, then asks that node.

Guarantees: a request reads at most ``MAX_CHUNK`` bytes (whatever ``limit`` it asks),
about 0.3 ms of the loop. A command this agent started (``Worker.ran``) is found by its
path at once; any other (an earlier life's) is looked for in every task's directory, which
costs about 12 us per directory on the loop.

Not here: finding which node ran a command (the coordinator's query), writing logs (``command``).
"""

from __future__ import annotations

from pathlib import Path

from puli_mesh.config import Settings
from puli_mesh.node.command import log_file_for, read_log
from puli_mesh.protocol import ErrorCode, ErrorMessage, LogsMessage, ResultMessage

MAX_CHUNK = 1024 * 1024


def find_log(settings: Settings, command_id: int, task_id: int | None = None) -> Path | None:
    """The log of ``command_id``: under ``task_id``'s directory if known, else in any task's."""
    if task_id is not None:
        path = Path(log_file_for(settings.log_dir, settings.cluster, task_id, command_id))
        if path.exists():
            return path
    base = Path(settings.log_dir) / settings.cluster
    matches = sorted(base.glob(f"*/{int(command_id)}.log"))
    return matches[0] if matches else None


def serve(settings: Settings, msg: LogsMessage, task_id: int | None = None) -> bytes:
    """The reply to a LOGS request: a chunk of the log, or a ``not_found`` ERROR (``task_id``:
    the command's, when this agent knows it)."""
    path = find_log(settings, msg.command_id, task_id)
    if path is None:
        return ErrorMessage(
            msg.rid, ErrorCode.NOT_FOUND, f"node {settings.name} has no log for command {msg.command_id}").encode()
    limit = max(1, min(msg.limit, MAX_CHUNK))
    # a negative offset counts from the end (``logs --tail``)
    chunk, next_offset = read_log(path, offset=msg.offset, limit=limit)
    return ResultMessage(msg.rid, {
        "node": settings.name, "path": str(path), "data": chunk, "next_offset": next_offset,
        "size": path.stat().st_size,
    }).encode()

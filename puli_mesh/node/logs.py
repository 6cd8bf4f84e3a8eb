"""Serving command logs: answered by the agent that ran the command, also after it ended.

Logs stay on the render node (``<log_dir>/<cluster>/<task_id>/<command_id>.log``);
a client asks the leader which node ran a command, then asks that node.
"""

from __future__ import annotations

from pathlib import Path

from puli_mesh import protocol
from puli_mesh.config import Settings
from puli_mesh.node.command import read_log

MAX_CHUNK = 1024 * 1024


def find_log(settings: Settings, command_id: int) -> Path | None:
    base = Path(settings.log_dir) / settings.cluster
    matches = sorted(base.glob(f"*/{int(command_id)}.log"))
    return matches[0] if matches else None


def serve(settings: Settings, msg: protocol.Message) -> bytes:
    rid = msg["rid"]
    command_id = int(msg["command_id"])
    path = find_log(settings, command_id)
    if path is None:
        return protocol.error_reply(
            rid, "not_found", f"node {settings.name} has no log for command {command_id}")
    limit = max(1, min(int(msg["limit"]), MAX_CHUNK))
    offset = int(msg["offset"])  # negative: from the end (``logs --tail``)
    chunk, next_offset = read_log(path, offset=offset, limit=limit)
    return protocol.encode("RESULT", rid=rid, data={
        "node": settings.name, "path": str(path), "data": chunk, "next_offset": next_offset,
        "size": path.stat().st_size,
    })

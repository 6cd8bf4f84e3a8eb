"""Commands left running by a previous life of this agent (it was killed with ``kill -9``).

A command runs in its own session, so it survives its agent. The coordinator
has re-queued it elsewhere by the time the agent restarts, so the restarted
agent kills what its previous life left: processes whose environment says they
are commands of this node (``PULI_NODE_NAME``) logging under this agent's log
directory (``PULI_LOG``). Linux only (``/proc``); elsewhere it finds nothing.
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

log = logging.getLogger(__name__)


def find_orphans(node_name: str, log_dir: Path) -> list[int]:
    name_marker = f"PULI_NODE_NAME={node_name}".encode()
    log_marker = f"PULI_LOG={Path(log_dir).resolve()}".encode()
    me = os.getpid()
    found: list[int] = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if name_marker in env and any(v.startswith(log_marker) for v in env):
            found.append(int(entry))
    return found


def kill_orphans(node_name: str, log_dir: Path) -> int:
    """SIGKILL what a previous life of this agent left running; return how many."""
    pids = find_orphans(node_name, log_dir)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            continue
    if pids:
        log.warning("killed %d command process(es) left by a previous run of agent %s: %s", len(pids), node_name, pids)
    return len(pids)

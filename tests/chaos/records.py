"""What commands record about themselves, and the checks made on those records."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

RECORD = (
    'echo "start $PULI_TASK_NAME $PULI_COMMAND_ID %%MI_FRAME%% $PULI_NODE_NAME $(date +%s.%N)" >> {rec}; '
    "sleep {sleep}; "
    'echo "end $PULI_TASK_NAME $PULI_COMMAND_ID %%MI_FRAME%% $PULI_NODE_NAME $(date +%s.%N)" >> {rec}'
)


@dataclass(frozen=True)
class Run:
    task: str
    command: int
    frame: int
    node: str
    start: float
    end: float | None


def read_runs(path: Path) -> list[Run]:
    """Every execution of every frame, matched start to end by (command, frame, node)."""
    open_runs: dict[tuple[str, str, str, str], list[float]] = {}
    runs: list[Run] = []
    if not path.exists():
        return runs
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) != 6:
            continue
        what, task, cid, frame, node, stamp = parts
        key = (task, cid, frame, node)
        if what == "start":
            open_runs.setdefault(key, []).append(float(stamp))
        elif open_runs.get(key):
            runs.append(Run(task, int(cid), int(frame), node, open_runs[key].pop(0), float(stamp)))
    for (task, cid, frame, node), starts in open_runs.items():
        runs += [Run(task, int(cid), int(frame), node, s, None) for s in starts]
    return runs


def max_concurrent(runs: list[Run]) -> int:
    edges = sorted([(r.start, 1) for r in runs] + [(r.end if r.end is not None else float("inf"), -1) for r in runs],
                   key=lambda e: (e[0], e[1]))
    current = peak = 0
    for _, delta in edges:
        current += delta
        peak = max(peak, current)
    return peak

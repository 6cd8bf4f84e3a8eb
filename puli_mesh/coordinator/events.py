"""The coordinator's inputs as plain records: applied live, journalled, and replayed by a successor.

The scheduling core is deterministic, so the journal stores its inputs (with
the time each happened) rather than its state: replaying the same records on a
restored snapshot rebuilds exactly the same tree, assignments and counters.
Records are tuples of plain data (msgpack carries them as lists)::

    ("submit", representation, now)
    ("hello", render_node_info_dict, [[command_id, attempt], ...], now)
    ("ready", node_name, free_slots, now)
    ("update", command_id, attempt, now, status, completion, message, stats)
    ("release", command_id, attempt, licence, now)
    ("left", node_name, now)
    ("tick", now)
    ("licence", name, total, now)
    ("pool", name)
    ("edit", action, args, now)

Progress-only updates (no status) are not recorded: they change no decision.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.coordinator.decisions import Decision, SubmitResult
from puli_mesh.coordinator.render_nodes import RenderNodeInfo
from puli_mesh.coordinator.requests import apply_edit

Event = Sequence[Any]


def info_record(info: RenderNodeInfo) -> dict[str, Any]:
    return dataclasses.asdict(info)


def apply_event(core: SchedulingCore, event: Event) -> Any:
    """Feed one record to the core; return what the core returned."""
    kind = event[0]
    if kind == "submit":
        return core.submit_graph(event[1], event[2])
    if kind == "hello":
        running = [(int(c), int(a)) for c, a in event[2]]
        return core.reconcile_node(RenderNodeInfo(**event[1]), running, event[3])
    if kind == "ready":
        return core.request_work(event[1], int(event[2]), event[3])
    if kind == "update":
        _, cid, attempt, now, status, completion, message, stats = event
        return core.command_update(int(cid), int(attempt), now, status=status, completion=completion,
                                   message=message, stats=stats)
    if kind == "release":
        return core.release_command_licence(int(event[1]), int(event[2]), str(event[3]), event[4])
    if kind == "left":
        return core.node_left(event[1], event[2])
    if kind == "tick":
        return core.tick(event[1])
    if kind == "licence":
        return core.set_licence(event[1], int(event[2]), event[3])
    if kind == "pool":
        return core.define_pool(event[1])
    if kind == "edit":
        return apply_edit(core, event[1], dict(event[2]), event[3])
    raise ValueError(f"unknown journal record {kind!r}")


def decisions_of(result: Any) -> list[Decision]:
    """The decisions inside whatever ``apply_event`` returned."""
    if isinstance(result, SubmitResult):
        return list(result.decisions)
    if isinstance(result, tuple):  # reconcile_node: (keep, kill, decisions)
        return list(result[2])
    return list(result or [])

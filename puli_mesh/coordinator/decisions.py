"""What the scheduling core asks the outside world to do.

Every mutating method of :class:`~puli_mesh.coordinator.core.SchedulingCore`
returns a ``list[Decision]``. A decision is an order for a render node; the
service turns it into a protocol message: an :class:`Assign` is a
:class:`~puli_mesh.protocol.CommandSpec`, so ``AssignMessage(epoch=..., spec=decision)``
is its ASSIGN and ``decision.to_map()`` its item of an ASSIGNS; a :class:`Kill`
becomes a ``KillMessage``. Decisions are not looked at again by the core once returned.

Guarantees: an :class:`Assign` is only produced for a node that asked for work
(``request_work`` credit) and had room for it; its ``attempt`` token is unique
for the command, so any later message about an older token is stale.

Not here: sending, retrying a send, journalling.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from puli_mesh.protocol import CommandSpec


@dataclass(slots=True)
class Assign(CommandSpec):
    """Run this command (attempt token ``attempt``) on render node ``node``.

    Not ``frozen``, like :class:`CommandSpec` (one per decision on the hot path);
    treat it as immutable all the same."""

    node: str  # last, and positional: a keyword argument costs ~0.1 us per decision


@dataclass(frozen=True, slots=True)
class Kill:
    """Stop ``command_id`` (attempt token ``attempt``) on render node ``node``."""

    node: str
    command_id: int
    attempt: int
    reason: str


Decision = Assign | Kill


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """Outcome of ``submit_graph``: the new ids and the assignments made at once.

    ``node_ids[i]`` is the id given to ``representation["tasks"][i]``.
    """

    graph_id: int
    node_ids: list[int]
    decisions: list[Decision] = field(default_factory=list)

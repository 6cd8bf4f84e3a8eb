"""What the scheduling core asks the outside world to do.

Every mutating method of :class:`~puli_mesh.coordinator.core.SchedulingCore`
returns a ``list[Decision]``. A decision is an order for a render node; the
service turns it into a protocol message (``ASSIGN``, ``KILL``). Decisions are
frozen: the core never looks at them again once returned.

Guarantees: an :class:`Assign` is only produced for a node that asked for work
(``request_work`` credit) and had room for it; its ``attempt`` token is unique
for the command, so any later message about an older token is stale.

Not here: sending, retrying a send, journalling.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Assign:
    """Run ``command_id`` (attempt token ``attempt``) on render node ``node``.

    Not ``frozen`` only because a frozen dataclass sets each of these fields
    through ``object.__setattr__``, ~1 us per decision on the hot path; treat it
    as immutable all the same."""

    node: str
    command_id: int
    attempt: int
    runner: str
    arguments: dict[str, Any]
    environment: dict[str, str]
    timeout: float | None
    licences: tuple[str, ...]
    cores: int
    ram_mb: int
    task_id: int
    task_name: str
    graph_id: int
    user: str
    name: str = ""  # the command's description, e.g. "render_1_10"
    after: int = 0  # sent ahead: start it on the node when command ``after`` ends (0: now)


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

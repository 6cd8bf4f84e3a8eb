"""The scheduling core's whole state in one object, and its settings.

Every module of the core works on a :class:`CoreState`; only ``core.py`` is
public. Keeping the state in one place is what makes ``snapshot``/``restore``
and the invariants checkable.

Determinism: collections are dicts (insertion ordered) or heaps whose entries
are totally ordered by ids, never sets, so the same events give the same
decisions, before and after a snapshot/restore.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from puli_mesh.coordinator.decisions import Decision
from puli_mesh.coordinator.hook_events import EventOutbox
from puli_mesh.coordinator.licences import LicenseManager
from puli_mesh.coordinator.pools import Pool, Signature, signature_key
from puli_mesh.coordinator.render_nodes import RenderNode
from puli_mesh.coordinator.submitted import SubmittedGraphs
from puli_mesh.coordinator.tree import CommandNode, GraphNode, TreeNode
from puli_mesh.limits import GraphLimits


@dataclass
class CoreSettings:
    """Tunables of the scheduling core (the service fills them from ``config``)."""

    retry_delay_s: float = 20.0  # Puli's DELAY_BEFORE_AUTORETRY
    quarantine_after: int = 5  # Puli's RN_NB_ERRORS_TOLERANCE
    # A job with this many failures on a node avoids it for this long (``sick_hosts``);
    # a job's ``sickAfter`` / ``forgiveAfter`` tags win.
    sick_after: int = 3
    forgive_after_s: float = 1800.0
    default_pool: str = "default"
    archive_after_s: float = 0.0  # finished graphs leave the core this long after their end; 0: never
    # Pipelining (``assignment``): a task is short once this many of its commands
    # ended DONE in this many seconds on average; 0 commands: never pipeline.
    pipeline_after_done: int = 3
    pipeline_below_s: float = 1.0
    # ... and a node is sent ahead no more than this many seconds of the task's work
    # per slot (its average run time), up to the node's own ``pipeline`` count.
    pipeline_window_s: float = 0.25
    # What a submitted graph and a running command's reports may hold (the agent's ``graph_*``
    # settings). Checked when a graph is accepted, not when a successor replays it.
    graph_limits: GraphLimits = field(default_factory=GraphLimits)


@dataclass(slots=True)
class SickHosts:
    """Which commands and jobs avoid which render nodes: the rules are ``sick_hosts``'s, the only
    module that changes it."""

    commands: dict[int, dict[str, None]] = field(default_factory=dict)
    """command id -> the nodes it failed on (its retries avoid them)."""
    commands_of: dict[str, dict[int, None]] = field(default_factory=dict)
    """node -> the command ids avoiding it (the index ``pick`` reads)."""
    jobs: dict[str, dict[int, float]] = field(default_factory=dict)
    """node -> graph id -> until when that job avoids it."""
    failures: dict[tuple[int, str], int] = field(default_factory=dict)
    """(graph id, node) -> that job's failures on that node since it last avoided it."""
    expiry: list[tuple[float, str, int]] = field(default_factory=list)
    """heap (until, node, graph id): the forgiveness timers."""

    @property
    def active(self) -> bool:
        """Whether anything avoids any node (else ``pick`` takes its usual path)."""
        return bool(self.commands_of or self.jobs)

    def concerns(self, name: str) -> bool:
        """Whether some command or job avoids node ``name`` (it may be passed over)."""
        return name in self.commands_of or name in self.jobs

    def due(self, now: float) -> bool:
        """Whether :func:`forgive_due` would forgive something at ``now``."""
        return bool(self.expiry) and self.expiry[0][0] <= now


class CoreState:
    def __init__(self, settings: CoreSettings) -> None:
        self.settings = settings
        self.graphs: dict[int, GraphNode] = {}
        self.nodes: dict[int, TreeNode] = {}  # graphs, task groups, tasks: one id space
        self.commands: dict[int, CommandNode] = {}
        self.render_nodes: dict[str, RenderNode] = {}
        self.pools: dict[str, Pool] = {settings.default_pool: Pool(settings.default_pool)}
        self.licences = LicenseManager()
        self.signatures: dict[Any, Signature] = {}
        self.next_node_id = 1
        self.next_command_id = 1
        self.out: list[Decision] = []  # decisions of the event being handled
        self.dirty_pools: dict[str, None] = {}  # pools where waiting nodes may now find work
        # Dependency sources whose status changed: nodes, and commands of frame-by-frame sources.
        self.dep_queue: deque[TreeNode | CommandNode] = deque()
        self.retries: list[tuple[float, int, int]] = []  # heap (retry_at, command id, token)
        self.timers: list[tuple[float, int]] = []  # heap (timer, task id) of tasks parked on a timer
        self.building = False  # while a graph is built: no ready-index updates
        self.submitted = SubmittedGraphs()  # request id -> graph, for a SUBMIT sent again
        self.events = EventOutbox()  # what hooks may ask for (``hook_events``)
        self.sick = SickHosts()  # which commands and jobs avoid which nodes (``sick_hosts``)
        self.preempting: dict[str, None] = {}  # pools whose share tree preempts (``preemption``)
        self.preempt_wake: dict[str, float] = {}  # pool -> when a borrower's command grows old enough
        self.quotas: dict[tuple[str, str], Any] = {}  # (user|project, name) -> QuotaCounter (``quotas``)
        self.quota_of: dict[int, tuple[Any, ...]] = {}  # graph id -> its QuotaCounters

    def signature(self, requirements: dict[str, Any], min_cores: int, max_cores: int,
                  ram_use: int, licences: tuple[str, ...], gpus: int = 0) -> Signature:
        key = signature_key(requirements, min_cores, max_cores, ram_use, licences, gpus)
        sig = self.signatures.get(key)
        if sig is None:
            sig = Signature(len(self.signatures) + 1, key, dict(requirements), min_cores,
                            max_cores, ram_use, licences, gpus)
            self.signatures[key] = sig
        return sig

    def mark_all_pools_dirty(self) -> None:
        for name in self.pools:
            self.dirty_pools[name] = None

"""Render nodes as the scheduling core sees them, and requirement matching.

A render node has pools, cores, RAM, slots (how many commands it may run at
once) and characteristics (``softs``, ``os``...). Each running command reserves
cores and RAM on it (Puli 3.12):

* ``minNbCores > 0``: at least that many cores must be free; ``0``: all cores
  must be free (the command wants the whole machine);
* the command reserves ``min(free cores, maxNbCores)`` cores, or all free cores
  when ``maxNbCores == 0``; so a default task takes the whole node, and tasks
  that declare ``maxNbCores`` pack several commands onto a node with slots;
* ``ramUse > 0``: that many MB must be available and are reserved; available RAM
  is ``min(reported free RAM, RAM - reserved)``. ``ramUse == 0`` reserves nothing
  (Puli reserved "all free RAM", which made packing impossible).

GPUs: a node has GPU ids (``gpus``, from its HELLO: detected or configured) and keeps those
no command holds in ``free_gpus``, in the node's order. A task's ``gpus > 0`` is booked like
cores: a command goes only to a node with that many free (``assignment.pick``), takes the
first free ids (:func:`take_gpus`, so replaying the same events gives the same ids) and gives
them back when it ends (:func:`give_back_gpus`, from ``lifecycle.release_run``).

Fitting work: :func:`can_run` (online, not paused or quarantined, requirements met: busy or not)
and :func:`fits_signature` (that, and a free slot, cores, RAM and GPUs, now or once a run is gone)
say whether a node can take work of a signature (``preemption``, ``sick_hosts``);
``assignment.pick`` inlines the same rules on its hot path.

Credit: a node receives work only after it asked (``request_work``); ``credit``
is what it may still take, never more than its free slots.

Pipelining: a node with ``pipeline > 0`` also takes up to that many commands
per slot *ahead*: they wait on the node behind a running command of the same
task and start the moment it ends (``assignment`` says when). ``running``
holds both; ``in_slots`` counts only those holding a slot.

Quarantine: ``quarantine_after`` failures in a row (ERROR or TIMEOUT; DONE resets
the streak; lost or killed commands do not count) stop new work until cleared
(``clear_quarantine``, or ``sick_hosts.clear_node``, which also forgives the jobs'
and commands' avoidances of the node).

Operator overrides: ``pools_override`` and ``performance_override`` (set by a wrangler,
``render_node_events.set_pools`` / ``set_performance``) win over what the node's agent
says in its HELLO, also when it joins again, until cleared (None). ``configured_pools`` and
``configured_performance`` keep what the agent said, to go back to.

Not here: choosing work (``assignment``), liveness (the service decides when a
node is gone and says ``node_left``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from puli_mesh.coordinator.tree import C_ASSIGNED, C_RUNNING, Running
from puli_mesh.limits import reported_gpus_within, reported_load_within
from puliclient.status import RenderNodeStatus

if TYPE_CHECKING:
    from puli_mesh.coordinator.pools import Signature
    from puli_mesh.protocol import HelloMessage


@dataclass
class RenderNodeInfo:
    """What a worker tells about itself when it joins (:meth:`from_hello`)."""

    name: str
    pools: list[str] = field(default_factory=lambda: ["default"])
    cores: int = 1
    ram_mb: int = 0
    free_ram_mb: int = 0
    slots: int = 1
    characteristics: dict[str, Any] = field(default_factory=dict)
    performance: float = 1.0
    pipeline: int = 0
    """Commands of short tasks it queues behind each running one (0: none)."""
    gpus: list[str] = field(default_factory=list)
    """Its GPUs' ids (what ``CUDA_VISIBLE_DEVICES`` names), in order."""
    load: float = 0.0
    """Its 1-minute load average, as last reported (HELLO, then HEARTBEATs): shown, never decided on."""

    @classmethod
    def from_hello(cls, hello: HelloMessage) -> RenderNodeInfo:
        """What a worker's HELLO says about it (its types checked by the protocol; the pools'
        names, a list the protocol does not look into, made strings here)."""
        return cls(name=hello.name, pools=[str(p) for p in hello.pools], cores=hello.cores,
                   ram_mb=hello.ram_mb, free_ram_mb=hello.free_ram_mb, slots=hello.slots,
                   characteristics=dict(hello.characteristics), performance=float(hello.performance),
                   pipeline=hello.pipeline, gpus=reported_gpus_within(hello.gpus),
                   load=reported_load_within(hello.load or 0.0) or 0.0)


class RenderNode:
    __slots__ = ("name", "pools", "cores", "ram_mb", "free_ram_mb", "slots", "characteristics",
                 "performance", "online", "paused", "draining", "killfile", "quarantined", "fail_streak", "credit",
                 "running", "used_cores", "used_ram", "compat", "profile", "joined_at",
                 "pipeline", "followers", "slot_share", "configured_pools", "pools_override",
                 "configured_performance", "performance_override", "gpus", "free_gpus", "load")

    def __init__(self, info: RenderNodeInfo, now: float) -> None:
        self.name = info.name
        self.running: dict[int, Running] = {}  # command id -> reservation, in assignment order
        # command id -> the run waiting right behind it (pipelining): every run sent
        # ahead is the follower of exactly one other, so these are the waiting ones
        self.followers: dict[int, Running] = {}
        self.used_cores = 0
        self.used_ram = 0
        self.paused = False
        self.draining = False  # paused by a drain: what runs finishes, nothing new comes
        self.killfile = False  # the pause is its killfile's (``render_node_events.killfile``), not an operator's
        self.quarantined = False
        self.fail_streak = 0
        self.credit = 0
        self.online = True
        self.joined_at = now
        self.pools_override: tuple[str, ...] | None = None
        self.performance_override: float | None = None
        self.apply_info(info)

    def apply_info(self, info: RenderNodeInfo) -> None:
        self.configured_pools: tuple[str, ...] = tuple(dict.fromkeys(info.pools)) or ("default",)
        self.pools: tuple[str, ...] = (self.configured_pools if self.pools_override is None
                                       else self.pools_override)
        self.cores = max(int(info.cores), 1)
        self.ram_mb = int(info.ram_mb)
        self.free_ram_mb = int(info.free_ram_mb)
        self.load = float(info.load)
        self.slots = max(int(info.slots), 0)
        self.characteristics = dict(info.characteristics)
        self.characteristics.setdefault("softs", [])
        self.configured_performance = float(info.performance)
        self.performance = (self.configured_performance if self.performance_override is None
                            else self.performance_override)
        self.pipeline = max(int(info.pipeline), 0)
        # Cores a command gets when its task does not say (maxNbCores 0): an equal share.
        self.slot_share = max(1, self.core_capacity // max(self.slots, 1))
        self.gpus: tuple[str, ...] = tuple(dict.fromkeys(str(g) for g in info.gpus))
        held = {g for run in self.running.values() for g in run.gpus}
        self.free_gpus: list[str] = [g for g in self.gpus if g not in held]
        self.characteristics_changed()

    def characteristics_changed(self) -> None:
        self.compat: dict[int, bool] = {}  # signature id -> requirements match (cached)
        # Nodes with the same profile get the same answer for the same free resources.
        self.profile = (self.pools, repr(sorted(self.characteristics.items())))

    # ------------------------------------------------------------ capacity
    @property
    def core_capacity(self) -> int:
        """Cores that can be handed out: at least one per slot (more slots than cores is oversubscription)."""
        return max(self.cores, self.slots)

    @property
    def free_cores(self) -> int:
        # core_capacity inlined: this is on the assignment hot path.
        return (self.cores if self.cores >= self.slots else self.slots) - self.used_cores

    @property
    def available_ram(self) -> int:
        return min(self.free_ram_mb, self.ram_mb - self.used_ram)

    @property
    def in_slots(self) -> int:
        """Commands holding a slot (running, or assigned and about to run)."""
        return len(self.running) - len(self.followers)

    @property
    def capacity(self) -> int:
        """Commands it may hold at once: its slots and what may wait behind them."""
        return self.slots * (1 + self.pipeline)

    def can_take_work(self) -> bool:
        return (self.online and not self.paused and not self.quarantined and self.credit > 0
                and len(self.running) - len(self.followers) < self.slots)  # in_slots, inlined: hot path

    def status(self) -> RenderNodeStatus:
        if not self.online:
            return RenderNodeStatus.UNKNOWN
        if self.paused:
            return RenderNodeStatus.PAUSED
        if not self.running:
            return RenderNodeStatus.IDLE
        statuses = {r.command.status for r in self.running.values()}
        if C_RUNNING in statuses:
            return RenderNodeStatus.WORKING
        if C_ASSIGNED in statuses:
            return RenderNodeStatus.ASSIGNED
        return RenderNodeStatus.FINISHING


def take_gpus(node: RenderNode, count: int) -> tuple[str, ...]:
    """Reserve ``count`` of ``node``'s free GPUs (the first free ones: deterministic)."""
    free = node.free_gpus
    taken = tuple(free[:count])
    del free[:count]
    return taken


def give_back_gpus(node: RenderNode, gpus: tuple[str, ...]) -> None:
    """``gpus`` are free again on ``node`` (ids it no longer has, after a new HELLO, are dropped)."""
    free = set(node.free_gpus).union(gpus)
    node.free_gpus = [g for g in node.gpus if g in free]


def gpus_used(node: RenderNode) -> int:
    """How many of ``node``'s GPUs commands hold."""
    return len(node.gpus) - len(node.free_gpus)


def can_run(node: RenderNode, sig: Signature) -> bool:
    """Whether ``node`` could run work of ``sig`` at all, busy or not: online, not paused or
    quarantined, and its requirements met (cached per signature in ``node.compat``)."""
    if not node.online or node.paused or node.quarantined:
        return False
    ok = node.compat.get(sig.id)
    if ok is None:
        ok = node.compat[sig.id] = matches_requirements(sig.requirements, node.characteristics)
    return ok


def fits_signature(node: RenderNode, sig: Signature, gone: Running | None = None) -> bool:
    """Whether work of ``sig`` fits on ``node`` now (``gone`` None), or once ``gone``'s command
    has left it (its slot, cores, reserved RAM and GPUs given back): :func:`can_run`, a free slot,
    the cores (``minNbCores`` 0: every core free), the RAM and the GPUs.

    RAM: now, what ``assignment.pick`` would see (``available_ram``: the node's live free RAM
    counts); with ``gone``, only what is reserved, since the live free RAM the node reported
    still includes what ``gone``'s command uses. Licences are not looked at (callers do).
    ``assignment.pick`` inlines the same rules for speed: a change here goes there too."""
    if not can_run(node, sig):
        return False
    if gone is None:
        cores, gpus, slot = 0, 0, 0
        free_ram = node.available_ram
    else:
        cores, gpus, slot = gone.cores, len(gone.gpus), 1
        free_ram = node.ram_mb - node.used_ram + gone.ram_mb
    if node.in_slots - slot >= node.slots:
        return False
    if sig.min_cores > 0:
        if node.free_cores + cores < sig.min_cores:
            return False
    elif node.used_cores - cores:  # minNbCores 0: every core free
        return False
    return not (sig.ram_use and free_ram < sig.ram_use) and len(node.free_gpus) + gpus >= sig.gpus


def matches_requirements(requirements: dict[str, Any], characteristics: dict[str, Any]) -> bool:
    """Puli's matching (3.12): ``softs`` all present; other keys must exist; a
    two-item list ``[a, b]`` means ``a < value < b``; bool and str must be equal;
    a number is a minimum; a type mismatch fails (unless the requirement is a list)."""
    for key, req in requirements.items():
        if key.lower() == "softs":
            have = {str(s).lower() for s in characteristics.get("softs", []) or []}
            wanted = req if isinstance(req, list | tuple) else [req]
            if not all(str(s).lower() in have for s in wanted):
                return False
            continue
        if key not in characteristics:
            return False
        value = characteristics[key]
        if isinstance(req, list | tuple):
            if len(req) != 2:
                return False
            try:
                if not (req[0] < value < req[1]):
                    return False
            except TypeError:
                return False
        elif isinstance(req, bool) or isinstance(value, bool):
            if type(req) is not type(value) or req != value:
                return False
        elif isinstance(req, int | float):
            if not isinstance(value, int | float) or value < req:
                return False
        elif isinstance(req, str):
            if not isinstance(value, str) or value != req:
                return False
        elif req != value:
            return False
    return True

"""The dispatch tree: graph folder -> task groups -> tasks -> commands.

Plain ``__slots__`` classes, one per level, plus the status rules that derive a
task's or a folder's status from its children (Puli 3.17, with the choices
below). The tree holds counters that other modules keep exact on every change,
so deriving a status is O(1) and never walks the children:

* a :class:`Task` counts its commands per command status (``counts``) and how
  many of its ERROR/TIMEOUT commands still wait for an automatic retry;
* a folder (:class:`Graph`, :class:`TaskGroup`) counts its children per node
  status (``child_counts``);
* every node counts the commands of its subtree that hold a render node
  (``running``: ASSIGNED, RUNNING or FINISHING), which is what maxRN caps.

Status precedence (deliberate, documented for users):

* task: PAUSED (paused and not all final) > RUNNING (a command is assigned or
  running) > READY (a command is READY, or waits for a retry) > ERROR (a
  command failed for good) > BLOCKED > CANCELED > DONE. ERROR therefore means
  "stopped with failures: nothing of it can run again without an edit" and a
  dependency on ERROR fires only then, never while other frames still run.
* folder: PAUSED > RUNNING > READY > ERROR > BLOCKED > CANCELED > DONE over the
  children's statuses; a folder without children is DONE.

Not here: changing statuses (``lifecycle``), dependencies, assignment.
"""

from __future__ import annotations

from typing import Any

from puliclient.status import (
    COMMAND_STATUS_COUNT,
    FINAL_COMMAND_STATUSES,
    FINAL_NODE_STATUSES,
    NODE_STATUS_COUNT,
    RUNNING_COMMAND_STATUSES,
    CommandStatus,
    NodeStatus,
)
from puliclient.strategies import FIFO_STRATEGY

# Plain ints on the hot path (IntEnum arithmetic and hashing are slower).
C_BLOCKED = int(CommandStatus.BLOCKED)
C_READY = int(CommandStatus.READY)
C_ASSIGNED = int(CommandStatus.ASSIGNED)
C_RUNNING = int(CommandStatus.RUNNING)
C_FINISHING = int(CommandStatus.FINISHING)
C_DONE = int(CommandStatus.DONE)
C_TIMEOUT = int(CommandStatus.TIMEOUT)
C_ERROR = int(CommandStatus.ERROR)
C_CANCELED = int(CommandStatus.CANCELED)
C_FINAL = frozenset(int(s) for s in FINAL_COMMAND_STATUSES)
C_HOLDING = frozenset(int(s) for s in RUNNING_COMMAND_STATUSES)
# What a worker may report: BLOCKED and ASSIGNED are the coordinator's to set.
C_REPORTABLE = frozenset(int(s) for s in CommandStatus) - {C_BLOCKED, C_ASSIGNED}

N_BLOCKED = int(NodeStatus.BLOCKED)
N_READY = int(NodeStatus.READY)
N_RUNNING = int(NodeStatus.RUNNING)
N_DONE = int(NodeStatus.DONE)
N_ERROR = int(NodeStatus.ERROR)
N_CANCELED = int(NodeStatus.CANCELED)
N_PAUSED = int(NodeStatus.PAUSED)
N_FINAL = frozenset(int(s) for s in FINAL_NODE_STATUSES)

# Why a task is out of its ready bucket although it has READY commands.
PARK_NONE = 0
PARK_TASK_CAP = 1
PARK_GROUP_CAP = 2
PARK_TIMER = 3


class Running:
    """What a command holds while it occupies a render node (one per running command).

    ``after`` is 0 for a command that holds one of the node's slots. A command
    sent ahead (pipelining, see ``assignment``) waits on the node behind command
    ``after`` and holds no cores or RAM until that one ends and hands it its slot.
    ``gpus``: the ids of the node's GPUs it holds (its task's ``gpus``; empty for most).
    """

    __slots__ = ("command", "node", "cores", "ram_mb", "licences", "assigned_at", "after", "gpus")

    def __init__(self, command: CommandNode, node: Any, cores: int, ram_mb: int,
                 licences: tuple[str, ...], assigned_at: float, after: int = 0,
                 gpus: tuple[str, ...] = ()) -> None:
        self.command = command
        self.node = node  # RenderNode
        self.cores = cores
        self.ram_mb = ram_mb
        self.licences = licences
        self.assigned_at = assigned_at  # when it was given its slot: the start of its run time
        self.after = after
        self.gpus = gpus


class CommandNode:
    """One process run. Kept small: a farm queues millions of these.

    ``args`` is either None, a tuple of values aligned with ``task.cmd_arg_keys``
    (the usual packetised case: every command has the same keys) or a dict.
    ``attempts`` counts executions that ended (DONE, ERROR, TIMEOUT) and is what
    ``maxAttempt`` limits; ``token`` is the attempt token of the latest
    assignment (it also grows on lost re-queues, which spend no attempt).
    """

    __slots__ = ("id", "task", "idx", "description", "args", "status", "completion",
                 "attempts", "token", "run", "start_time", "end_time", "update_time",
                 "message", "stats", "retry_at", "queued", "last_node", "held")

    def __init__(self, cid: int, task: TaskNode, idx: int, description: str, args: Any) -> None:
        self.id = cid
        self.task = task
        self.idx = idx
        self.description = description
        self.args = args
        self.status = C_READY
        self.completion = 0.0
        self.attempts = 0
        self.token = 0
        self.run: Running | None = None
        self.start_time: float | None = None
        self.end_time: float | None = None
        self.update_time: float | None = None
        self.message = ""
        self.stats: dict[str, Any] | None = None
        self.retry_at: float | None = None
        self.queued = False  # present in task.ready (possibly as a stale entry)
        self.last_node: str | None = None  # the render node of the latest assignment (its log is there)
        self.held = False  # paused on its own: not handed out until resumed

    def own_arguments(self) -> dict[str, Any]:
        a = self.args
        if a is None:
            return {}
        if isinstance(a, tuple):
            return dict(zip(self.task.cmd_arg_keys, a, strict=True))
        return dict(a)


class TreeNode:
    """Fields shared by graphs, task groups and tasks."""

    KIND = ""
    """What the node is in Puli's words ("Graph", "TaskGroup", "Task"): the ``type`` that
    queries show and snapshots store, whatever the class is called here."""

    __slots__ = ("id", "name", "parent", "graph", "status", "deps", "rdeps", "unmet",
                 "dispatch_key", "priority", "max_rn", "running", "tags", "timer", "paused",
                 "arguments", "environment", "requirements", "creation_time", "start_time",
                 "end_time", "order_key", "assigned")

    def __init__(self, nid: int, name: str, parent: Folder | None) -> None:
        self.id = nid
        self.name = name
        self.parent = parent
        self.graph: GraphNode = parent.graph if parent is not None else self  # type: ignore[assignment]
        self.status = N_DONE
        self.deps: list[Any] = []  # Dependency objects where this node waits
        self.rdeps: list[Any] = []  # Dependency objects where this node is the source
        self.unmet = 0
        self.dispatch_key: float = 0
        self.priority = 0
        self.max_rn = -1
        self.running = 0
        self.tags: dict[str, Any] = {}
        self.timer: float | None = None
        self.paused = False
        self.arguments: dict[str, Any] = {}
        self.environment: dict[str, str] = {}
        self.requirements: dict[str, Any] = {}
        self.creation_time = 0.0
        self.start_time: float | None = None
        self.end_time: float | None = None
        # Its place among its parent's children under the parent's strategy (``pools``)...
        self.order_key: Any = nid
        # ... and what a Fair/WeighedFair parent counted for it: commands given, or their
        # dispatchKeys. Kept from the assignments themselves, so a successor that replays
        # them (or restores a snapshot, which stores it) counts the same.
        self.assigned: float = 0

    def ancestors(self) -> list[TreeNode]:
        out: list[TreeNode] = []
        p = self.parent
        while p is not None:
            out.append(p)
            p = p.parent
        return out


class Folder(TreeNode):
    """A node with children: a graph or a task group."""

    __slots__ = ("children", "child_counts", "parked_tasks", "strategy")

    def __init__(self, nid: int, name: str, parent: Folder | None) -> None:
        super().__init__(nid, name, parent)
        self.children: list[TreeNode] = []
        self.child_counts = [0] * NODE_STATUS_COUNT
        self.parked_tasks: list[TaskNode] = []  # tasks waiting for this folder's maxRN to drop
        # How it orders its children (``puliclient.strategies``, stored form). A graph's
        # folder has one child, its root group: it stays FIFO.
        self.strategy = FIFO_STRATEGY


class TaskGroupNode(Folder):
    KIND = "TaskGroup"
    __slots__ = ()


class GraphNode(Folder):
    """The folder node of one submitted graph (a "job"): owner, pool, its own maxRN.

    ``version``/``parked``/``buckets`` belong to the assignment index (``pools``).
    """

    KIND = "Graph"

    __slots__ = ("user", "pool", "meta", "n_ready", "version", "parked", "buckets",
                 "active", "root_index", "ordered", "dynamic", "share")

    def __init__(self, nid: int, name: str) -> None:
        super().__init__(nid, name, None)
        self.graph = self
        self.user = ""
        self.pool = "default"
        self.meta: dict[str, Any] = {}
        self.n_ready = 0  # READY commands in the graph
        self.version = 0  # bumps whenever its fair-share key changes
        self.parked = False  # at its own maxRN: out of the pool queues until a command ends
        self.buckets: dict[int, Any] = {}  # signature id -> JobBucket
        self.active = False  # has READY or holding commands (counts for the pool's weights)
        self.root_index = 0
        # A group of the graph orders its children otherwise than FIFO (``ordered``), by
        # counts that move with each assignment (``dynamic``): see ``pools``.
        self.ordered = False
        self.dynamic = False
        self.share: Any = None  # its ShareAccount when its pool has a share tree (``shares``)


class TaskNode(TreeNode):
    """A leaf: the commands plus everything needed to run them."""

    KIND = "Task"

    __slots__ = ("rank", "commands", "counts", "n_retry", "ready", "bucketed", "parked", "sig",
                 "runner", "min_cores", "max_cores", "ram_use", "gpus", "lic", "max_attempt",
                 "cmd_arg_keys", "merged_args", "merged_env", "timeout", "eff_timer",
                 "blocked", "completion_sum", "validation", "packages", "done_n", "done_s",
                 "env_cache", "frames_n", "tpf_sum", "tpf_min", "tpf_max", "frame_rdeps", "frame_wait",
                 "idle_timeout", "kill_on_ram_overuse")

    def __init__(self, nid: int, name: str, parent: Folder | None) -> None:
        super().__init__(nid, name, parent)
        self.rank = nid  # its place in its job's FIFO walk (``pools.order_graph``)
        self.commands: list[CommandNode] = []
        self.counts = [0] * COMMAND_STATUS_COUNT
        self.n_retry = 0
        self.ready: list[int] = []  # heap of command indexes (FIFO by id)
        self.bucketed = False
        self.parked = PARK_NONE
        self.sig: Any = None  # Signature
        self.runner = ""
        self.min_cores = 1
        self.max_cores = 0
        self.ram_use = 0
        self.gpus = 0  # GPUs each command books (``render_nodes``)
        self.lic: tuple[str, ...] = ()
        self.max_attempt = 1
        self.cmd_arg_keys: tuple[str, ...] = ()
        self.merged_args: dict[str, Any] = {}
        self.merged_env: dict[str, str] = {}
        self.timeout: float | None = None
        self.eff_timer: float | None = None
        self.blocked = False  # its own or an ancestor's dependencies are unmet
        self.completion_sum = 0.0
        self.validation = ""
        self.packages: tuple[str, str] = ("", "")
        self.done_n = 0  # commands that ended DONE, and their run time in seconds:
        self.done_s = 0.0  # what tells a task of short commands (pipelining)
        # (cores, memory) -> the environment its commands get with them (``assignment``)
        self.env_cache: dict[tuple[int, int], dict[str, str]] = {}
        # Time per frame of its DONE commands; a folder's is summed from its tasks (queries).
        self.frames_n = 0
        self.tpf_sum = 0.0
        self.tpf_min: float | None = None
        self.tpf_max: float | None = None
        # Frame-by-frame dependencies (``dependencies``): those its commands are sources of, and
        # command idx -> how many source commands covering its frames are unmet (absent: none).
        self.frame_rdeps: list[Any] = []
        self.frame_wait: dict[int, int] = {}
        # Its ``idleTimeout`` (seconds, 0: off; None: the agent's default): sent with each command.
        self.idle_timeout: float | None = None
        self.kill_on_ram_overuse = False  # its ``killOnRamOveruse``: sent with each command when set

    @property
    def completion(self) -> float:
        n = len(self.commands)
        return self.completion_sum / n if n else 1.0


def task_status(t: TaskNode) -> int:
    c = t.counts
    holding = c[C_ASSIGNED] + c[C_RUNNING] + c[C_FINISHING]
    waiting = c[C_READY] + c[C_BLOCKED] + t.n_retry
    if t.paused and (holding or waiting):
        return N_PAUSED
    if holding:
        return N_RUNNING
    if c[C_READY] or t.n_retry:
        return N_READY
    if c[C_ERROR] + c[C_TIMEOUT] - t.n_retry:
        return N_ERROR
    if c[C_BLOCKED]:
        return N_BLOCKED
    if c[C_CANCELED]:
        return N_CANCELED
    return N_DONE


_FOLDER_ORDER = (N_PAUSED, N_RUNNING, N_READY, N_ERROR, N_BLOCKED, N_CANCELED)


def folder_status(f: Folder) -> int:
    cc = f.child_counts
    for s in _FOLDER_ORDER:
        if cc[s]:
            return s
    return N_DONE


def frames_of(description: str, step: Any = None) -> int:
    """Frames of a ``<name>_<start>_<end>`` command (0 when the name has no range);
    with a ``step`` argument, ``len(range(start, end + 1, step))`` (graph-schema)."""
    parts = description.rsplit("_", 2)
    if len(parts) != 3:
        return 0
    try:
        start, end = int(parts[1]), int(parts[2])
    except ValueError:
        return 0
    if isinstance(step, int) and not isinstance(step, bool) and step > 1:
        return len(range(start, end + 1, step))
    return end - start + 1 if end >= start else 0


def iter_tasks(node: TreeNode) -> list[TaskNode]:
    """Every task of a subtree, in id (children) order."""
    out: list[TaskNode] = []
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, TaskNode):
            out.append(n)
        else:
            stack.extend(reversed(n.children))  # type: ignore[attr-defined]
    return out


def iter_nodes(node: TreeNode) -> list[TreeNode]:
    """Every node of a subtree (the node first), depth first in children order."""
    out: list[TreeNode] = []
    stack = [node]
    while stack:
        n = stack.pop()
        out.append(n)
        if isinstance(n, Folder):
            stack.extend(reversed(n.children))
    return out

"""Pools and the per-pool index of ready work (the structure assignment reads).

A render node belongs to one or more pools; a graph runs in the one pool it
names. The pool ``default`` always exists; other pools exist once defined
(``define_pool``) or once a node joins declaring them. Submitting to an
unknown pool is an error (Puli silently created an empty pool).

The ready index, per pool::

    Pool.queues[signature id] -> SigQueue
        .heap    : lazy min-heap of job entries (share, -dispatchKey, graph id, version, bucket)
        .buckets : graph id -> JobBucket
                       .tasks : min-heap of (order, task) that have READY commands
    Task.ready   : min-heap of command indexes (FIFO by id)

A *signature* groups tasks that make the same demands on a render node
(requirements, cores, RAM, licences). Whether a node can run a signature is
decided once per signature, not once per task, so a node that matches nothing
costs O(signatures in its pools) and never a scan of the tasks.

Job ordering (Puli 3.9): jobs with a user-set maxRN (> 0) first, by dispatchKey
desc then submission order; the other jobs share the pool by dispatchKey:
weight = dispatchKey - min(dispatchKey of the active jobs) + 1, and the job with
the fewest holding commands per unit of weight goes first (ties: dispatchKey
desc, then submission order). Counting commands, not nodes, is what shares
*slots* when nodes run several commands. This is work conserving: a job may
exceed its proportional share when the others have nothing this node can run;
nothing is ever pre-empted to restore the share.

Task ordering inside a job follows the strategy of each task group
(``puliclient.strategies``), level by level: a task's order is the tuple of
the keys of its ancestors and itself among their siblings (FIFO: id; AsIs:
position; Priority: (-priority, id); Fair and WeighedFair: (count, id)). A job
whose groups are all FIFO (``graph.ordered`` false, the usual case) keys a task
by one integer instead, its ``rank`` in that order (depth first, children by
id, as Puli walked them), at no cost per decision. Fair/WeighedFair counts only
grow, with each assignment (:func:`count_assignment`): an entry keyed before is
then too small, so it reaches the top early and :func:`live_task` re-keys it
there (the same lazy increase-key as the job heap). Known cost: a Fair group's
child that is itself a group with k tasks holding READY work makes k entries
stale per command given to it (O(k log n) per decision under such a group;
O(log n) when the fair children are tasks). Changing a strategy re-keys the
job's tasks (:func:`reorder_graph`: O(tasks), once per edit). The top level
(jobs of a pool) is not a strategy: Puli's root folder was FIFO under its
pool-share policy, which is the fair share above.

Heaps are lazy: an entry whose graph ``version`` moved on, or whose bucket is
empty, is dropped when it reaches the top. Every change of a job's key pushes a
fresh entry; the heap is rebuilt when stale entries outnumber live ones.

Not here: whether a node fits a signature, picking the task (``assignment``).
"""

from __future__ import annotations

import bisect
import heapq
import logging
from typing import Any

from puli_mesh.coordinator.tree import Folder, GraphNode, TaskNode, TreeNode, iter_nodes
from puliclient.strategies import (
    AS_IS_STRATEGY,
    FAIR_STRATEGY,
    FIFO_STRATEGY,
    PRIORITY_STRATEGY,
    WEIGHED_FAIR_STRATEGY,
)

log = logging.getLogger(__name__)


class Signature:
    """The demands a task makes on a render node (shared by similar tasks)."""

    __slots__ = ("id", "key", "requirements", "min_cores", "max_cores", "ram_use", "licences", "gpus")

    def __init__(self, sid: int, key: Any, requirements: dict[str, Any], min_cores: int,
                 max_cores: int, ram_use: int, licences: tuple[str, ...], gpus: int = 0) -> None:
        self.id = sid
        self.key = key
        self.requirements = requirements
        self.min_cores = min_cores
        self.max_cores = max_cores
        self.ram_use = ram_use
        self.licences = licences
        self.gpus = gpus


def signature_key(requirements: dict[str, Any], min_cores: int, max_cores: int, ram_use: int,
                  licences: tuple[str, ...], gpus: int = 0) -> tuple[Any, ...]:
    return (repr(sorted(requirements.items())), min_cores, max_cores, ram_use, licences, gpus)


class JobBucket:
    """The tasks of one graph with one signature that have READY commands."""

    __slots__ = ("graph", "queue", "tasks", "queued", "entry_version", "entry_share")

    def __init__(self, graph: GraphNode, queue: SigQueue) -> None:
        self.graph = graph
        self.queue = queue
        self.tasks: list[tuple[Any, TaskNode]] = []  # (order, task): see task_order
        # this bucket owns an entry in queue.heap (set and cleared only in _own, _disown and
        # push_graph: with an account, counted by count_queued)
        self.queued = False
        self.entry_version = -1  # the graph version of that entry
        self.entry_share = 0.0  # and the share it was keyed with


class SigQueue:
    __slots__ = ("sig", "pool", "heap", "buckets", "account", "bit", "n_queued")

    def __init__(self, sig: Signature, pool: Pool, account: Any = None, bit: int = 0) -> None:
        self.sig = sig
        self.pool = pool
        self.account = account  # in a pool with a share tree: the one ShareAccount it holds
        self.heap: list[tuple[Any, ...]] = []
        self.buckets: dict[int, JobBucket] = {}
        # its signature's bit in its pool (1 << the signature's place in Pool.by_sig): a pick
        # asks an account "work of a signature this node fits?" with one ``&`` (``ShareAccount.mask``)
        self.bit = bit
        self.n_queued = 0  # with an account: its buckets owning an entry in ``heap``


class Pool:
    __slots__ = ("name", "members", "queues", "by_sig", "sig_queued", "waiting", "waiting_keys", "graphs",
                 "dk_counts", "min_dk", "shares")

    def __init__(self, name: str) -> None:
        self.name = name
        self.members: dict[str, Any] = {}  # render node name -> RenderNode
        # signature id -> SigQueue; with a share tree, (signature id, account path) -> SigQueue
        self.queues: dict[Any, SigQueue] = {}
        # signature id -> its queues (one; with a share tree, one per account): a node's fit to
        # a signature is checked once, however many accounts have work of it (``assignment.pick``)
        self.by_sig: dict[int, list[SigQueue]] = {}
        # with a share tree, signature id -> the job buckets owning an entry in its queues (all
        # accounts): a node is never walked through the accounts for a signature without work
        self.sig_queued: dict[int, int] = {}
        self.waiting: list[tuple[float, str]] = []  # sorted (-performance, name): nodes with credit
        self.waiting_keys: dict[str, tuple[float, str]] = {}
        self.graphs: dict[int, GraphNode] = {}
        self.dk_counts: dict[float, int] = {}  # dispatchKey -> active graphs
        self.min_dk: float = 0
        self.shares: Any = None  # its ShareTree, if it has one (``shares``)

    def drop_queues(self) -> None:
        """Forget every queue (a share tree came, changed or went: the queues are rebuilt)."""
        self.queues = {}
        self.by_sig = {}
        self.sig_queued = {}

    # --------------------------------------------------------- waiting nodes
    def add_waiting(self, name: str, performance: float) -> None:
        if name in self.waiting_keys:
            return
        key = (-performance, name)
        self.waiting_keys[name] = key
        # Insertion keeps the list sorted: faster nodes are offered work first.
        bisect.insort(self.waiting, key)

    def remove_waiting(self, name: str) -> None:
        key = self.waiting_keys.pop(name, None)
        if key is None:
            return
        i = bisect.bisect_left(self.waiting, key)
        if i < len(self.waiting) and self.waiting[i] == key:
            del self.waiting[i]

    def has_work(self, licences: Any) -> bool:
        """Cheap over-approximation: some queue has entries, its licences are free and, in a
        pool with a share tree, its account is below its cap (``ShareAccount.capped``)."""
        if self.shares is None:
            for q in self.queues.values():
                if q.heap and licences.available(q.sig.licences):
                    return True
            return False
        # With a tree, a signature's licences are asked about once, not once per account.
        counts = self.sig_queued
        for sid, qs in self.by_sig.items():
            if not counts[sid]:
                continue
            lics = None
            for q in qs:
                a = q.account
                if q.heap and (a is None or not (a.full or a.parent.full)):  # not a.capped(), inlined
                    if lics is None:
                        lics = licences.available(q.sig.licences)
                    if lics:
                        return True
                    break
        return False


# ------------------------------------------------------------------ job keys
def job_key(graph: GraphNode, pool: Pool) -> tuple[float, float, int]:
    """(share, -dispatchKey, graph id): smaller goes first.

    ``share`` is the holding commands per unit of weight, or -1 for a job with a
    user-set maxRN (served first). One number for both tiers keeps the heap
    entries short: their comparisons are most of the cost of a decision."""
    if graph.max_rn > 0:
        return (-1.0, -graph.dispatch_key, graph.id)
    weight = graph.dispatch_key - pool.min_dk + 1
    if weight < 1:
        weight = 1
    return (graph.running / weight, -graph.dispatch_key, graph.id)


def push_graph(graph: GraphNode, pool: Pool, worse: bool = False, better: bool = False) -> None:
    """The graph's key changed: make its old entries stale and push fresh ones.

    ``worse=True`` (the key only grew, e.g. one more holding command) pushes
    nothing: the bucket's entry now under-estimates the key, so it surfaces no
    later than it should and :func:`top` re-keys it then (lazy increase-key).
    ``better=True`` (only the share fell: a holding command ended) pushes only
    where the entry over-estimates the new share; where it was keyed with a
    share no greater, it still under-estimates and stays (the usual case: a job
    picked, so keyed before its command was counted, then that command ends).
    """
    graph.version += 1
    if worse:
        return
    if graph.parked:
        for b in graph.buckets.values():
            _disown(b)
        return
    v = graph.version
    k0, k1, k2 = job_key(graph, pool)
    for b in graph.buckets.values():
        if b.tasks:
            if better and b.queued and b.entry_share <= k0:
                continue
            q = b.queue
            heap = q.heap
            heapq.heappush(heap, (k0, k1, k2, v, b))  # _own(b, ...), inlined: once per command end
            if not b.queued:
                b.queued = True
                if q.account is not None:
                    count_queued(q, 1)
            b.entry_version = v
            b.entry_share = k0
            n = len(heap)
            if n > 64 and n > 4 * len(q.buckets):
                compact(q)
        else:
            _disown(b)


def _own(b: JobBucket, key: tuple[float, float, int], version: int) -> tuple[Any, ...]:
    """The heap entry ``b`` now owns: its job's ``key`` at graph ``version``."""
    if not b.queued:
        b.queued = True
        if b.queue.account is not None:
            count_queued(b.queue, 1)
    b.entry_version = version
    b.entry_share = key[0]
    return (*key, version, b)


def _disown(b: JobBucket) -> None:
    """``b`` owns no live entry any more: any it left in a heap is stale."""
    if b.queued:
        b.queued = False
        if b.queue.account is not None:
            count_queued(b.queue, -1)
    b.entry_version = -1


def count_queued(q: SigQueue, n: int) -> None:
    """A bucket of account queue ``q`` came to own (1) or stopped owning (-1) a heap entry: the
    counts a pick reads (``SigQueue.n_queued``, ``Pool.sig_queued``, ``ShareAccount.mask``)."""
    q.n_queued += n
    if n > 0 and q.n_queued == 1:
        q.account.gained(q.bit)
    elif n < 0 and not q.n_queued:
        q.account.lost(q.bit)
    q.pool.sig_queued[q.sig.id] += n


def compact(q: SigQueue) -> None:
    """Rebuild a heap from its live buckets (drops stale entries)."""
    entries = []
    for b in q.buckets.values():
        g = b.graph
        if b.tasks and not g.parked:
            entries.append(_own(b, job_key(g, q.pool), g.version))
        else:
            _disown(b)
    heapq.heapify(entries)
    q.heap = entries


def add_task(task: TaskNode, pool: Pool) -> None:
    """Put a task with READY commands into its graph's bucket for its signature."""
    graph = task.graph
    sig = task.sig
    bucket = graph.buckets.get(sig.id)
    if bucket is None:
        account = graph.share
        qkey = sig.id if account is None else (sig.id, account.path)  # one queue per account
        q = pool.queues.get(qkey)
        if q is None:
            same = pool.by_sig.get(sig.id)
            if same is None:
                same = pool.by_sig[sig.id] = []
                bit = 1 << (len(pool.by_sig) - 1)
            else:
                bit = same[0].bit
            q = pool.queues[qkey] = SigQueue(sig, pool, account, bit)
            same.append(q)
            if account is not None:
                account.queues.append(q)
                pool.sig_queued.setdefault(sig.id, 0)
        bucket = graph.buckets[sig.id] = q.buckets[graph.id] = JobBucket(graph, q)
    heapq.heappush(bucket.tasks, (task_order(task) if graph.ordered else task.rank, task))
    task.bucketed = True
    if not bucket.queued and not graph.parked:
        heapq.heappush(bucket.queue.heap, _own(bucket, job_key(graph, pool), graph.version))


def top(q: SigQueue) -> tuple[Any, ...] | None:
    """The best live entry of a queue, dropping stale ones and parking capped graphs."""
    heap = q.heap
    while heap:
        e = heap[0]
        b = e[4]
        g = b.graph
        if b.queue is not q or g.parked or e[3] != b.entry_version:
            heapq.heappop(heap)  # stale: not the entry its bucket owns
            continue
        if not b.tasks:
            heapq.heappop(heap)
            _disown(b)
            continue
        if 0 < g.max_rn <= g.running:
            # The graph is at its own maxRN: out of every queue until a command ends.
            heapq.heappop(heap)
            g.parked = True
            for other in g.buckets.values():
                _disown(other)
            continue
        v = g.version
        if e[3] != v:  # the key grew since this entry was pushed: re-key it
            k0, k1, k2 = job_key(g, q.pool)
            heapq.heapreplace(heap, (k0, k1, k2, v, b))  # _own(b, ...), inlined: once per decision
            b.entry_version = v
            b.entry_share = k0
            continue
        return e
    return None


def set_active(graph: GraphNode, pool: Pool, active: bool) -> None:
    """A graph started or stopped having READY/holding commands: update the weights."""
    if graph.active == active:
        return
    graph.active = active
    dk = graph.dispatch_key
    counts = pool.dk_counts
    if active:
        counts[dk] = counts.get(dk, 0) + 1
    else:
        n = counts.get(dk, 0) - 1
        if n > 0:
            counts[dk] = n
        else:
            counts.pop(dk, None)
    new_min = min(counts) if counts else 0
    if new_min != pool.min_dk:
        pool.min_dk = new_min
        # Every weight in the pool moved: refresh every job's key (rare: a job
        # with a new lowest dispatchKey came or went).
        for g in pool.graphs.values():
            if g.buckets:
                push_graph(g, pool)


def detach_graph(graph: GraphNode, pool: Pool) -> None:
    """Take a graph out of a pool's index (archive, pool change)."""
    set_active(graph, pool, False)
    for b in graph.buckets.values():
        b.queue.buckets.pop(graph.id, None)
        # Its entry may still sit in the queue's heap: make it stale, or a node of
        # this pool would still be given the graph's commands.
        _disown(b)
        for _tid, t in b.tasks:
            t.bucketed = False
    graph.buckets = {}
    graph.version += 1
    pool.graphs.pop(graph.id, None)
    if graph.share is not None:  # its holding commands leave the account with it
        graph.share.charge(-graph.running)
        graph.share = None


def bind_share(graph: GraphNode, pool: Pool) -> None:
    """In a pool with a share tree, charge ``graph`` (entering the pool's index) to its account.
    Call before any of its tasks enters a bucket: the bucket's queue is the account's."""
    if pool.shares is not None:
        graph.share = pool.shares.bind(graph)


# --------------------------------------------------------- task order (strategies)
def child_key(folder: Folder, child: TreeNode, position: int) -> Any:
    """``child``'s key among the children of ``folder`` (at ``position``) under its strategy."""
    strategy = folder.strategy
    if strategy == FIFO_STRATEGY:
        return child.id
    if strategy == AS_IS_STRATEGY:
        return position
    if strategy == PRIORITY_STRATEGY:
        return (-child.priority, child.id)
    return (child.assigned, child.id)  # FAIR_STRATEGY, WEIGHED_FAIR_STRATEGY


def order_graph(graph: GraphNode) -> None:
    """Key every node of ``graph`` among its siblings; set ``graph.ordered``/``dynamic`` and,
    for a job of FIFO groups only, each task's ``rank`` (its place, depth first, children by id)."""
    ordered = dynamic = False
    nodes = iter_nodes(graph)
    for n in nodes:
        if isinstance(n, Folder):
            strategy = n.strategy
            if strategy != FIFO_STRATEGY:
                ordered = True
                dynamic = dynamic or strategy in (FAIR_STRATEGY, WEIGHED_FAIR_STRATEGY)
            for i, c in enumerate(n.children):
                c.order_key = child_key(n, c, i)
    graph.ordered = ordered
    graph.dynamic = dynamic
    if not ordered:
        rank = 0
        stack: list[TreeNode] = [graph]
        while stack:  # a loop, not recursion: a job may be nested deeper than Python's stack
            n = stack.pop()
            if isinstance(n, TaskNode):
                n.rank = rank
                rank += 1
            elif isinstance(n, Folder):
                stack.extend(sorted(n.children, key=_by_id_desc))


def _by_id_desc(n: TreeNode) -> int:
    return -n.id


def task_order(task: TaskNode) -> Any:
    """The key of ``task`` in its job's task heaps: the keys of its path, root first."""
    keys = []
    n: TreeNode = task
    while n.parent is not None:
        keys.append(n.order_key)
        n = n.parent
    keys.reverse()
    return tuple(keys)


def count_assignment(task: TaskNode) -> None:
    """A command of ``task`` was given: count it for every Fair/WeighedFair group above it.
    Called only for a ``graph.dynamic`` job."""
    n: TreeNode = task
    p = n.parent
    while p is not None:
        strategy = p.strategy
        if strategy == FAIR_STRATEGY:
            n.assigned += 1
            n.order_key = (n.assigned, n.id)
        elif strategy == WEIGHED_FAIR_STRATEGY:
            # A negative weight would lower the count: the lazy re-keying needs counts that
            # only grow (and a negative child would take every slot anyway): it counts as 0.
            if n.dispatch_key > 0:
                n.assigned += n.dispatch_key
                n.order_key = (n.assigned, n.id)
        n = p
        p = n.parent


def live_task(tasks: list[tuple[Any, TaskNode]]) -> None:
    """Re-key the top of a ``dynamic`` job's task heap until its entry holds the task's
    current order (counts only grow, so every other entry is then no better)."""
    while tasks:
        entry = tasks[0]
        current = task_order(entry[1])
        if entry[0] == current:
            return
        heapq.heapreplace(tasks, (current, entry[1]))


def reorder_graph(graph: GraphNode) -> None:
    """A strategy changed (or a key it reads): re-key the graph's tasks in every bucket."""
    order_graph(graph)
    for b in graph.buckets.values():
        if graph.ordered:
            b.tasks = [(task_order(t), t) for _, t in b.tasks]
        else:
            b.tasks = [(t.rank, t) for _, t in b.tasks]
        heapq.heapify(b.tasks)


def set_strategy(graph: GraphNode, group: Folder, strategy: str) -> None:
    """``group`` orders its children by ``strategy`` (a stored name) from now on. Fair counts
    start again from zero, as a new Puli strategy object's did."""
    group.strategy = strategy
    for c in group.children:
        c.assigned = 0
    reorder_graph(graph)

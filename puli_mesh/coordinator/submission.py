"""Turning a graph representation (``docs/graph-schema.md``) into dispatch tree nodes.

Guarantees: a representation is either rejected as a whole with a clear error
(``InvalidGraphError`` naming the node and the field, ``UnknownPoolError``,
``UnknownLicenceError``) or fully registered, with its initial blocked state
computed before anything can be assigned. The schema is checked once, by the
client's own check (``puliclient.representation.validateRepresentation``),
whose ``GraphError`` becomes ``InvalidGraphError`` in :func:`validate`; this
module adds only what the client cannot know (pools, licences).

Choices:

* Inheritance, nearest value wins (fixes Puli): arguments, environment and
  requirements merge root group -> ... -> task
  (``puliclient.hierarchical.merge_inherited``), then the command's own
  arguments win over all of them.
* Timers: a task may not start before its own timer nor any ancestor's (the
  latest wins); Puli overwrote the task's timer with its group's.
* The graph folder node gets its own id; ``node_ids[i]`` is the id of
  ``tasks[i]``; ids are never reused. The graph's dispatchKey and priority are
  its root node's.
* A dependency cycle, including one through the hierarchy (a task depending on
  its own group), is rejected: it could never be met (the client's check).
* A group's ``strategy`` may be any name ``puliclient.strategies.strategy_name``
  accepts (an unknown one is refused); it is stored in the dotted form.
* Root tags ``paused: true`` submit the graph paused (Puli).

Not here: deciding what runs (``assignment``).
"""

from __future__ import annotations

from collections import deque
from typing import Any

from puli_mesh.coordinator import dependencies, lifecycle, sick_hosts
from puli_mesh.coordinator import pools as pools_mod
from puli_mesh.coordinator.assignment import timeout_of
from puli_mesh.coordinator.state import CoreState
from puli_mesh.coordinator.tree import (
    C_READY,
    CommandNode,
    Folder,
    GraphNode,
    TaskGroupNode,
    TaskNode,
    TreeNode,
    folder_status,
    task_status,
)
from puli_mesh.errors import InvalidGraphError, UnknownLicenceError, UnknownPoolError
from puliclient.errors import GraphError
from puliclient.hierarchical import merge_inherited
from puliclient.representation import is_by_frame, node_label, parent_indices, validateRepresentation
from puliclient.status import COMMAND_STATUS_COUNT, NODE_STATUS_COUNT
from puliclient.strategies import strategy_name


def licences_of(task: dict[str, Any]) -> tuple[str, ...]:
    """The licence tokens a task's commands need (``lic``, e.g. ``"mtoa&shave"``)."""
    raw = task.get("lic") or task.get("licence") or ""
    return tuple(dict.fromkeys(p.strip() for p in raw.split("&") if p.strip()))


def validate(st: CoreState, rep: Any) -> list[int | None]:
    """Check ``rep``; return the parent index of every node (None for the root).

    The schema is the client's one check (:func:`validateRepresentation`); its
    ``GraphError`` becomes ``InvalidGraphError`` here, the one boundary. Only
    what the client cannot know is checked after it: the pool and the licences
    must be defined on this mesh. The graph limits are the core's (``CoreSettings.graph_limits``).
    """
    try:
        validateRepresentation(rep, limits=st.settings.graph_limits)
    except GraphError as exc:
        name = rep.get("name") if isinstance(rep, dict) else None
        raise InvalidGraphError(f"graph {name!r}: {exc}") from exc
    where = f"graph {rep['name']!r}"
    pool = rep["poolName"] or st.settings.default_pool
    if pool not in st.pools:
        raise UnknownPoolError(
            f"{where} wants pool {pool!r}, which is not defined (known: "
            f"{', '.join(sorted(st.pools))}); define it with `puli-mesh pools add {pool}` "
            f"or start agents with pools = [\"{pool}\"]")
    wrong = sick_hosts.check_tags(rep["tasks"][rep["root"]].get("tags"))
    if wrong is not None:
        raise InvalidGraphError(f"{where}: {wrong}")
    for i, node in enumerate(rep["tasks"]):
        if node["type"] != "Task":
            continue
        for lic in licences_of(node):
            if lic not in st.licences:
                raise UnknownLicenceError(
                    f"{where}, {node_label(rep, i)} needs licence {lic!r}, which is not defined; "
                    f"define it with `puli-mesh licences set {lic} TOTAL`")
    parents: list[int | None] = [None] * len(rep["tasks"])
    for child, parent in parent_indices(rep).items():
        parents[child] = parent
    return parents


# -------------------------------------------------------------------- build
def build(st: CoreState, rep: dict[str, Any], parents: list[int | None],
          now: float) -> tuple[GraphNode, list[int]]:
    tasks_rep: list[dict[str, Any]] = rep["tasks"]
    root = int(rep.get("root", 0))
    gid = st.next_node_id
    ids = [gid + 1 + i for i in range(len(tasks_rep))]
    st.next_node_id = gid + 1 + len(tasks_rep)
    graph = GraphNode(gid, rep["name"])
    graph.user = rep.get("user", "") or ""
    graph.pool = rep.get("poolName") or st.settings.default_pool
    graph.max_rn = int(rep["maxRN"])
    graph.meta = dict(rep.get("meta") or {})
    graph.root_index = root
    graph.creation_time = now
    root_rep = tasks_rep[root]
    graph.dispatch_key = root_rep.get("dispatchKey", 0) or 0
    graph.priority = root_rep.get("priority", 0) or 0
    graph.tags = dict(root_rep.get("tags") or {})

    children: list[list[int]] = [[] for _ in tasks_rep]
    for i, p in enumerate(parents):
        if p is not None:
            children[p].append(i)
    for i, node in enumerate(tasks_rep):  # keep the group's own child order
        if node.get("type") == "TaskGroup":
            children[i] = list(node.get("tasks", []))

    objs: list[TreeNode | None] = [None] * len(tasks_rep)
    order: list[int] = []
    queue = deque([root])
    while queue:  # breadth first: a parent exists before its children
        i = queue.popleft()
        order.append(i)
        queue.extend(children[i])
    cid = st.next_command_id
    for i in order:
        node = tasks_rep[i]
        p = parents[i]
        parent: Folder = graph if p is None else objs[p]  # type: ignore[assignment]
        obj: TreeNode
        if node["type"] == "TaskGroup":
            obj = TaskGroupNode(ids[i], node["name"], parent)
            obj.strategy = strategy_name(node["strategy"])  # checked by validate(): the stored form
        else:
            obj = TaskNode(ids[i], node["name"], parent)
        _common(obj, node, now)
        parent.children.append(obj)
        objs[i] = obj
        if isinstance(obj, TaskNode):
            cid = _build_task(st, obj, node, cid)
    st.next_command_id = cid
    # Children are appended in BFS order; restore the representation's order.
    for i, node in enumerate(tasks_rep):
        if node.get("type") == "TaskGroup":
            objs[i].children = [objs[c] for c in children[i]]  # type: ignore[union-attr]
    all_nodes: list[TreeNode] = [graph] + [objs[i] for i in order]  # type: ignore[misc]
    finish_build(st, graph, all_nodes, now)
    # Dependencies, then the initial blocked state, then the ready index.
    st.building = True
    try:
        for i, node in enumerate(tasks_rep):
            for dependency in node.get("dependencies", []) or []:
                src, statuses = dependency[0], frozenset(int(s) for s in dependency[1])
                if src == i or not statuses:
                    continue  # Puli ignored self-dependencies and empty status lists
                if is_by_frame(dependency):
                    dependencies.install_by_frame(objs[i], objs[src], statuses)  # type: ignore[arg-type]
                else:
                    dependencies.install(objs[i], objs[src], statuses)  # type: ignore[arg-type]
        for obj in all_nodes:
            if isinstance(obj, TaskNode):
                if dependencies.effectively_blocked(obj):
                    dependencies._apply_task(st, obj, now)
                if obj.frame_wait:
                    dependencies.block_waiting(st, obj, now)
        dependencies.process(st, now)
    finally:
        st.building = False
    index_graph(st, graph, all_nodes)
    if graph.tags.get("paused") in (True, "true"):
        for obj in all_nodes:
            obj.paused = True
            if isinstance(obj, TaskNode):
                lifecycle.refresh_task(st, obj, now)
    return graph, [ids[i] for i in range(len(tasks_rep))]


def _common(obj: TreeNode, node: dict[str, Any], now: float) -> None:
    obj.arguments = dict(node.get("arguments") or {})
    obj.environment = {str(k): str(v) for k, v in (node.get("environment") or {}).items()}
    obj.requirements = dict(node.get("requirements") or {})
    obj.tags = dict(node.get("tags") or {})
    obj.max_rn = int(node["maxRN"])
    obj.dispatch_key = node.get("dispatchKey", 0) or 0
    obj.priority = node.get("priority", 0) or 0
    obj.timer = node.get("timer")
    obj.creation_time = now


def _build_task(st: CoreState, t: TaskNode, node: dict[str, Any], cid: int) -> int:
    t.runner = node.get("runner", "") or ""
    t.min_cores = int(node.get("minNbCores", 0))
    t.max_cores = int(node.get("maxNbCores", 0))
    t.ram_use = int(node.get("ramUse", 0))
    t.gpus = int(node.get("gpus", 0) or 0)
    t.lic = licences_of(node)
    t.max_attempt = int(node.get("maxAttempt", 1) or 1)
    idle = node.get("idleTimeout")
    t.idle_timeout = None if idle is None else float(idle)
    t.kill_on_ram_overuse = node.get("killOnRamOveruse") is True
    t.validation = node.get("validationExpression", "") or ""
    t.packages = (node.get("runnerPackages", "") or "", node.get("watcherPackages", "") or "")
    cmds = node["commands"]
    first = cmds[0].get("arguments") or {}
    keys = tuple(first)
    t.cmd_arg_keys = keys
    out = t.commands
    for j, c in enumerate(cmds):
        a = c.get("arguments") or None
        args: Any
        if not a:
            args = None
        elif keys and len(a) == len(keys) and tuple(a) == keys:
            args = tuple(a.values())  # shares the key layout with the task: no per-command dict
        else:
            args = dict(a)
        out.append(CommandNode(cid, t, j, c.get("description", "") or "", args))
        cid += 1
    return cid


def inherit(st: CoreState, task: TaskNode) -> None:
    """The task's values that come from its chain of ancestors (arguments, environment,
    requirements, timer) and its signature: at submission, on restore and after an edit."""
    chain = [*reversed(task.ancestors()), task]  # the root first
    args = merge_inherited([n.arguments for n in chain])
    req = merge_inherited([n.requirements for n in chain])
    task.merged_args = args
    task.merged_env = merge_inherited([n.environment for n in chain])
    task.env_cache = {}
    # Timers are not inherited but combined: the latest of the chain holds.
    timers = [n.timer for n in chain if n.timer is not None]
    task.eff_timer = max(timers) if timers else None
    task.timeout = timeout_of(args.get("timeout"))
    task.sig = st.signature(req, task.min_cores, task.max_cores, task.ram_use, task.lic, task.gpus)


def finish_build(st: CoreState, graph: GraphNode, all_nodes: list[TreeNode], now: float) -> None:
    """Inherited values, signatures, counters and statuses of freshly built nodes."""
    for obj in all_nodes:
        if isinstance(obj, TaskNode):
            inherit(st, obj)
    # Counters and statuses, leaves first.
    for obj in reversed(all_nodes):
        if isinstance(obj, TaskNode):
            counts = [0] * COMMAND_STATUS_COUNT
            done = 0.0
            for c in obj.commands:
                counts[c.status] += 1
                done += c.completion
            obj.counts = counts
            obj.completion_sum = done
            obj.n_retry = sum(1 for c in obj.commands if c.retry_at is not None)
            obj.status = task_status(obj)
        else:
            cc = [0] * NODE_STATUS_COUNT
            for ch in obj.children:  # type: ignore[attr-defined]
                cc[ch.status] += 1
            obj.child_counts = cc  # type: ignore[attr-defined]
            obj.status = folder_status(obj)  # type: ignore[arg-type]
    graph.n_ready = sum(t.counts[C_READY] for t in all_nodes if isinstance(t, TaskNode))
    for obj in all_nodes:
        st.nodes[obj.id] = obj
        if isinstance(obj, TaskNode):
            for c in obj.commands:
                st.commands[c.id] = c
    st.graphs[graph.id] = graph


def index_graph(st: CoreState, graph: GraphNode, all_nodes: list[TreeNode]) -> None:
    """Put the graph's READY work into its pool's ready index."""
    pool = st.pools[graph.pool]
    pool.graphs[graph.id] = graph
    pools_mod.bind_share(graph, pool)
    pools_mod.order_graph(graph)  # before any task enters a bucket: their keys read it
    pools_mod.set_active(graph, pool, graph.n_ready > 0 or graph.running > 0)
    for obj in all_nodes:
        if isinstance(obj, TaskNode):
            ready = [c.idx for c in obj.commands if c.status == C_READY]
            for c in obj.commands:
                c.queued = False
            for i in ready:
                obj.commands[i].queued = True
            obj.ready = ready  # ascending: already a heap
            obj.bucketed = False
            lifecycle.make_available(st, obj)

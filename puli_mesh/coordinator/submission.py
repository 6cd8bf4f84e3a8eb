"""Turning a graph representation (``docs/graph-schema.md``) into dispatch tree nodes.

Guarantees: a representation is either rejected as a whole with a clear error
(``InvalidGraphError`` naming the node and the field, ``UnknownPoolError``,
``UnknownLicenceError``) or fully registered, with its initial blocked state
computed before anything can be assigned.

Choices:

* Inheritance, nearest value wins (fixes Puli): arguments, environment and
  requirements merge root group -> ... -> task, then the command's own
  arguments win over all of them.
* Timers: a task may not start before its own timer nor any ancestor's (the
  latest wins); Puli overwrote the task's timer with its group's.
* The graph folder node gets its own id; ``node_ids[i]`` is the id of
  ``tasks[i]``; ids are never reused. The graph's dispatchKey and priority are
  its root node's.
* A dependency cycle, including one through the hierarchy (a task depending on
  its own group), is rejected: it could never be met.
* Root tags ``paused: true`` submit the graph paused (Puli).

Not here: deciding what runs (``assignment``).
"""

from __future__ import annotations

from collections import deque
from typing import Any

from puli_mesh.coordinator import dependencies, lifecycle
from puli_mesh.coordinator import pools as pools_mod
from puli_mesh.coordinator.state import CoreState
from puli_mesh.coordinator.tree import (
    C_READY,
    Command,
    Folder,
    Graph,
    Task,
    TaskGroup,
    TreeNode,
    folder_status,
    task_status,
)
from puli_mesh.errors import InvalidGraphError, UnknownLicenceError, UnknownPoolError
from puliclient.errors import GraphError
from puliclient.representation import validateRepresentation
from puliclient.status import COMMAND_STATUS_COUNT, NODE_STATUS_COUNT

_NUM = (int, float)


def _field(node: dict[str, Any], key: str, types: Any, default: Any, where: str) -> Any:
    value = node.get(key, default)
    if value is None and default is None:
        return None
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise InvalidGraphError(f"{where}: '{key}' must be {_names(types)}, not a bool")
    if not isinstance(value, types):
        raise InvalidGraphError(
            f"{where}: '{key}' must be {_names(types)}, got {type(value).__name__} {value!r}")
    return value


def _names(types: Any) -> str:
    if isinstance(types, tuple):
        return " or ".join(t.__name__ for t in types)
    return str(types.__name__)


def _max_rn(node: dict[str, Any], where: str) -> int:
    v = _field(node, "maxRN", int, -1, where)
    if v < -1:
        raise InvalidGraphError(f"{where}: maxRN must be -1, 0 (unbounded) or positive, not {v}")
    return int(v)


def licences_of(task: dict[str, Any]) -> tuple[str, ...]:
    raw = task.get("lic") or task.get("licence") or ""
    if not isinstance(raw, str):
        raise InvalidGraphError(f"task {task.get('name')!r}: 'lic' must be a str like 'a&b'")
    return tuple(dict.fromkeys(p.strip() for p in raw.split("&") if p.strip()))


def validate(st: CoreState, rep: Any) -> list[int | None]:
    """Check everything; return the parent index of every node (None for the root)."""
    if not isinstance(rep, dict):
        raise InvalidGraphError(f"a graph representation is a dict, got {type(rep).__name__}")
    try:  # the one schema check, shared with the client (docs/graph-schema.md)
        validateRepresentation(rep)
    except GraphError as exc:
        raise InvalidGraphError(f"graph {rep.get('name')!r}: {exc}") from exc
    where = f"graph {rep.get('name')!r}"
    _field(rep, "name", str, None, where) or _missing(where, "name")
    tasks = rep.get("tasks")
    if not isinstance(tasks, list) or not tasks:
        raise InvalidGraphError(f"{where}: 'tasks' must be a non-empty list of nodes")
    root = _field(rep, "root", int, 0, where)
    if not 0 <= root < len(tasks):
        raise InvalidGraphError(f"{where}: root index {root} is outside the {len(tasks)} nodes")
    _field(rep, "user", str, "", where)
    pool = _field(rep, "poolName", str, st.settings.default_pool, where)
    _max_rn(rep, where)
    if pool not in st.pools:
        raise UnknownPoolError(
            f"{where} wants pool {pool!r}, which is not defined (known: "
            f"{', '.join(sorted(st.pools))}); define it with `puli-mesh pools add {pool}` "
            f"or start agents with pools = [\"{pool}\"]")
    parents: list[int | None] = [None] * len(tasks)
    for i, node in enumerate(tasks):
        if not isinstance(node, dict):
            raise InvalidGraphError(f"{where}: node {i} must be a dict")
        nwhere = f"{where}, node {i} ({node.get('name')!r})"
        kind = node.get("type")
        _field(node, "name", str, None, nwhere) or _missing(nwhere, "name")
        for key in ("arguments", "environment", "requirements", "tags"):
            _field(node, key, dict, {}, nwhere)
        _max_rn(node, nwhere)
        _field(node, "dispatchKey", _NUM, 0, nwhere)
        _field(node, "priority", _NUM, 0, nwhere)
        _field(node, "timer", _NUM, None, nwhere)
        deps = _field(node, "dependencies", list, [], nwhere)
        for dep in deps:
            if (not isinstance(dep, list | tuple) or len(dep) != 2 or not isinstance(dep[0], int)
                    or not isinstance(dep[1], list | tuple)):
                raise InvalidGraphError(f"{nwhere}: a dependency is [index, [statuses]], "
                                        f"got {dep!r}")
            if not 0 <= dep[0] < len(tasks):
                raise InvalidGraphError(f"{nwhere}: dependency on node {dep[0]}, which is "
                                        f"outside the graph ({len(tasks)} nodes)")
            for s in dep[1]:
                if not isinstance(s, int) or isinstance(s, bool) or not 0 <= s <= 6:
                    raise InvalidGraphError(f"{nwhere}: status {s!r} in a dependency is not a "
                                            f"node status (0..6)")
        if kind == "TaskGroup":
            children = _field(node, "tasks", list, [], nwhere)
            for c in children:
                if not isinstance(c, int) or not 0 <= c < len(tasks):
                    raise InvalidGraphError(f"{nwhere}: child index {c!r} is outside the graph")
                if c == i or c == root or parents[c] is not None:
                    raise InvalidGraphError(f"{nwhere}: node {c} cannot be a child here (it is "
                                            f"the root, itself, or already has a parent)")
                parents[c] = i
        elif kind == "Task":
            _validate_task(st, node, nwhere)
        else:
            raise InvalidGraphError(f"{nwhere}: 'type' must be 'Task' or 'TaskGroup', "
                                    f"got {kind!r}")
    for i in range(len(tasks)):
        if i != root and parents[i] is None:
            raise InvalidGraphError(f"{where}: node {i} ({tasks[i].get('name')!r}) is not "
                                    f"reachable from the root")
    _check_cycles(rep, tasks, parents, where)
    return parents


def _missing(where: str, key: str) -> None:
    raise InvalidGraphError(f"{where}: '{key}' is missing or empty")


def _validate_task(st: CoreState, node: dict[str, Any], where: str) -> None:
    _field(node, "runner", str, "", where)
    for key in ("minNbCores", "maxNbCores", "ramUse"):
        if _field(node, key, int, 0, where) < 0:
            raise InvalidGraphError(f"{where}: '{key}' must be >= 0")
    if _field(node, "maxAttempt", int, 1, where) < 1:
        raise InvalidGraphError(f"{where}: 'maxAttempt' must be >= 1")
    commands = _field(node, "commands", list, [], where)
    if not commands:
        raise InvalidGraphError(f"{where}: a task needs at least one command")
    for j, c in enumerate(commands):
        if not isinstance(c, dict) or not isinstance(c.get("description", ""), str):
            raise InvalidGraphError(f"{where}: command {j} must be a dict with a str "
                                    f"'description'")
        if not isinstance(c.get("arguments", {}), dict):
            raise InvalidGraphError(f"{where}: command {j}: 'arguments' must be a dict")
    for lic in licences_of(node):
        if lic not in st.licences:
            raise UnknownLicenceError(
                f"{where} needs licence {lic!r}, which is not defined; define it with "
                f"`puli-mesh licences set {lic} TOTAL`")


def _check_cycles(rep: dict[str, Any], tasks: list[dict[str, Any]], parents: list[int | None],
                  where: str) -> None:
    # "X cannot finish before Y": a node waits for its dependencies' sources and for
    # its ancestors' ones; a folder waits for its children.
    n = len(tasks)
    waits: list[list[int]] = [[] for _ in range(n)]
    for i, node in enumerate(tasks):
        j: int | None = i
        while j is not None:
            waits[i].extend(d[0] for d in tasks[j].get("dependencies", []) or [])
            j = parents[j]
        if node.get("type") == "TaskGroup":
            waits[i].extend(node.get("tasks", []))
    color = [0] * n
    for start in range(n):
        if color[start]:
            continue
        stack = [(start, 0)]
        color[start] = 1
        while stack:
            v, k = stack[-1]
            if k < len(waits[v]):
                stack[-1] = (v, k + 1)
                w = waits[v][k]
                if color[w] == 1:
                    raise InvalidGraphError(
                        f"{where}: dependency cycle through node {w} ({tasks[w].get('name')!r}); "
                        f"it could never be met")
                if color[w] == 0:
                    color[w] = 1
                    stack.append((w, 0))
            else:
                color[v] = 2
                stack.pop()


# -------------------------------------------------------------------- build
def build(st: CoreState, rep: dict[str, Any], parents: list[int | None],
          now: float) -> tuple[Graph, list[int]]:
    tasks_rep: list[dict[str, Any]] = rep["tasks"]
    root = int(rep.get("root", 0))
    gid = st.next_node_id
    ids = [gid + 1 + i for i in range(len(tasks_rep))]
    st.next_node_id = gid + 1 + len(tasks_rep)
    graph = Graph(gid, rep["name"])
    graph.user = rep.get("user", "") or ""
    graph.pool = rep.get("poolName") or st.settings.default_pool
    graph.max_rn = int(rep.get("maxRN", -1))
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
            obj = TaskGroup(ids[i], node["name"], parent)
            obj.strategy = node.get("strategy") or obj.strategy
        else:
            obj = Task(ids[i], node["name"], parent)
        _common(obj, node, now)
        parent.children.append(obj)
        objs[i] = obj
        if isinstance(obj, Task):
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
            for src, statuses in node.get("dependencies", []) or []:
                if src == i or not statuses:
                    continue  # Puli ignored self-dependencies and empty status lists
                dependencies.install(objs[i], objs[src], frozenset(int(s) for s in statuses))  # type: ignore[arg-type]
        for obj in all_nodes:
            if isinstance(obj, Task) and dependencies.effectively_blocked(obj):
                dependencies._apply_task(st, obj, now)
        dependencies.process(st, now)
    finally:
        st.building = False
    index_graph(st, graph, all_nodes)
    if graph.tags.get("paused") in (True, "true"):
        for obj in all_nodes:
            obj.paused = True
            if isinstance(obj, Task):
                lifecycle.refresh_task(st, obj, now)
    return graph, [ids[i] for i in range(len(tasks_rep))]


def _common(obj: TreeNode, node: dict[str, Any], now: float) -> None:
    obj.arguments = dict(node.get("arguments") or {})
    obj.environment = {str(k): str(v) for k, v in (node.get("environment") or {}).items()}
    obj.requirements = dict(node.get("requirements") or {})
    obj.tags = dict(node.get("tags") or {})
    obj.max_rn = int(node.get("maxRN", -1))
    obj.dispatch_key = node.get("dispatchKey", 0) or 0
    obj.priority = node.get("priority", 0) or 0
    obj.timer = node.get("timer")
    obj.creation_time = now


def _build_task(st: CoreState, t: Task, node: dict[str, Any], cid: int) -> int:
    t.runner = node.get("runner", "") or ""
    t.min_cores = int(node.get("minNbCores", 0))
    t.max_cores = int(node.get("maxNbCores", 0))
    t.ram_use = int(node.get("ramUse", 0))
    t.lic = licences_of(node)
    t.max_attempt = int(node.get("maxAttempt", 1) or 1)
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
        out.append(Command(cid, t, j, c.get("description", "") or "", args))
        cid += 1
    return cid


def finish_build(st: CoreState, graph: Graph, all_nodes: list[TreeNode], now: float) -> None:
    """Inherited values, signatures, counters and statuses of freshly built nodes."""
    for obj in all_nodes:
        if isinstance(obj, Task):
            chain = [obj] + obj.ancestors()
            args: dict[str, Any] = {}
            env: dict[str, str] = {}
            req: dict[str, Any] = {}
            timer: float | None = None
            for n in reversed(chain):  # root first: the nearest value is applied last
                args.update(n.arguments)
                env.update(n.environment)
                req.update(n.requirements)
                if n.timer is not None:
                    timer = n.timer if timer is None else max(timer, n.timer)
            obj.merged_args = args
            obj.merged_env = env
            obj.eff_timer = timer
            raw = args.get("timeout")
            obj.timeout = float(raw) if isinstance(raw, int | float) and raw > 0 else None
            obj.sig = st.signature(req, obj.min_cores, obj.max_cores, obj.ram_use, obj.lic)
    # Counters and statuses, leaves first.
    for obj in reversed(all_nodes):
        if isinstance(obj, Task):
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
    graph.n_ready = sum(t.counts[C_READY] for t in all_nodes if isinstance(t, Task))
    for obj in all_nodes:
        st.nodes[obj.id] = obj
        if isinstance(obj, Task):
            for c in obj.commands:
                st.commands[c.id] = c
    st.graphs[graph.id] = graph


def index_graph(st: CoreState, graph: Graph, all_nodes: list[TreeNode]) -> None:
    """Put the graph's READY work into its pool's ready index."""
    pool = st.pools[graph.pool]
    pool.graphs[graph.id] = graph
    pools_mod.set_active(graph, pool, graph.n_ready > 0 or graph.running > 0)
    for obj in all_nodes:
        if isinstance(obj, Task):
            ready = [c.idx for c in obj.commands if c.status == C_READY]
            for c in obj.commands:
                c.queued = False
            for i in ready:
                obj.commands[i].queued = True
            obj.ready = ready  # ascending: already a heap
            obj.bucketed = False
            lifecycle.make_available(st, obj)

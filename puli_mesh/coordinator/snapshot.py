"""The whole core state as plain data, and back.

``dump`` returns dicts/lists/str/int/float/bool/None only (msgpack-able). It
stores what cannot be derived: the tree with its definitions and edits
(dispatchKey, maxRN, pause, pool), every command's runtime fields, the render
nodes with their credit, quarantine, operator's pools and performance and running
commands (in assignment order), licence totals, pending retries, sick hosts (``sick_hosts``),
the id counters and the request ids of recent SUBMITs (``submitted``). ``load`` rebuilds
everything else -- counters, statuses, dependency state, licence usage, the
ready index and the waiting nodes -- with the same code paths as a submit.

Guarantee: after ``load(dump(state))`` the same events give the same decisions.
The ready index is rebuilt without the maxRN "parked" marks of the original:
that parking is a cache the next pick rediscovers, and the releases that wake
it dirty the same pool either way, so it changes no decision. Timer parking is
kept: the passing of a timer is what offers those tasks to waiting nodes.

The tree is stored flat, and every walk here is a loop: a graph may be nested
deeper than Python's stack or msgpack's nesting limit (511), and a snapshot that
cannot be written or read would stop the farm. Format 2 stores each graph as
its nodes in depth-first order (a node after its parent, siblings in order),
each naming its ``parent``; format 1 (still read) nested each folder's
``children`` in it.

Not here: writing it anywhere (the journal does), schema migrations beyond reading
format 1 (the ``format`` number is checked).
"""

from __future__ import annotations

import heapq
from typing import Any

from puli_mesh.coordinator import dependencies, quotas, sick_hosts, submission
from puli_mesh.coordinator import pools as pools_mod
from puli_mesh.coordinator.hook_events import EventOutbox
from puli_mesh.coordinator.lifecycle import hold_delta
from puli_mesh.coordinator.pools import Pool
from puli_mesh.coordinator.render_nodes import RenderNode, RenderNodeInfo
from puli_mesh.coordinator.shares import ShareTree, account_rows, parse_accounts
from puli_mesh.coordinator.state import CoreState
from puli_mesh.coordinator.tree import (
    PARK_TIMER,
    CommandNode,
    Folder,
    GraphNode,
    Running,
    TaskGroupNode,
    TaskNode,
    TreeNode,
    iter_nodes,
)
from puli_mesh.errors import CoreError
from puliclient.errors import GraphError
from puliclient.representation import BY_FRAME, is_by_frame
from puliclient.strategies import FIFO_STRATEGY, strategy_name

FORMAT = 2
"""What ``dump`` writes: 2 stores each graph's nodes flat, each naming its ``parent``."""
READABLE_FORMATS = frozenset({1, FORMAT})
"""What ``load`` reads: 1 nested each folder's ``children`` inside it (too deep to pack for
a deep graph); it holds the same fields otherwise."""

_NODE_FIELDS = ("name", "dispatch_key", "priority", "max_rn", "tags", "timer", "paused",
                "arguments", "environment", "requirements", "creation_time", "start_time",
                "end_time")
_TASK_FRAME_FIELDS = ("frames_n", "tpf_sum", "tpf_min", "tpf_max")  # time per frame


def dump(st: CoreState) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "next_node_id": st.next_node_id,
        "next_command_id": st.next_command_id,
        "licences": [[lic.name, lic.total] for lic in st.licences.licences.values()],
        "pools": list(st.pools),
        "shares": {name: account_rows(p.shares.specs) for name, p in st.pools.items() if p.shares is not None},
        "quotas": quotas.quota_rows({c.key: c.max for c in st.quotas.values()}),
        "share_preempt": {name: p.shares.preempt_after for name, p in st.pools.items()
                          if p.shares is not None and p.shares.preempt_after is not None},
        "render_nodes": [_dump_rn(n) for n in st.render_nodes.values()],
        "graphs": [[_dump_node(n) for n in iter_nodes(g)] for g in st.graphs.values()],
        "retries": [list(r) for r in st.retries],
        # Tasks parked on a future timer: when it passes, waiting nodes are offered
        # them, so this parking is state (unlike the cap parkings, woken by releases).
        "timers": [list(t) for t in st.timers],
        "timer_parked": [n.id for n in st.nodes.values()
                         if isinstance(n, TaskNode) and n.parked == PARK_TIMER],
        "hook_events": st.events.snapshot(),  # not yet delivered, maybe: a successor delivers them
        "submitted": st.submitted.dump(),  # SUBMIT request ids: a client's retry after recovery
        "sick": sick_hosts.dump(st),  # which commands and jobs avoid which nodes, until when
    }


def _dump_rn(n: RenderNode) -> dict[str, Any]:
    return {
        "name": n.name, "pools": list(n.configured_pools), "cores": n.cores, "ram_mb": n.ram_mb,
        "free_ram_mb": n.free_ram_mb, "slots": n.slots, "load": n.load,
        "characteristics": _plain(n.characteristics), "performance": n.configured_performance,
        # an operator's (None: the agent's own, above)
        "pools_override": None if n.pools_override is None else list(n.pools_override),
        "performance_override": n.performance_override,
        "online": n.online, "paused": n.paused, "draining": n.draining, "killfile": n.killfile,
        "quarantined": n.quarantined,
        "fail_streak": n.fail_streak, "credit": n.credit, "joined_at": n.joined_at,
        "running": list(n.running), "pipeline": n.pipeline, "gpus": list(n.gpus),
    }


def _dump_node(n: TreeNode) -> dict[str, Any]:
    out: dict[str, Any] = {"id": n.id, "type": n.KIND,
                           "parent": None if n.parent is None else n.parent.id}
    for f in _NODE_FIELDS:
        out[f] = _plain(getattr(n, f))
    out["deps"] = [[d.source.id, sorted(d.statuses), *([{BY_FRAME: True}] if d.by_frame else [])]
                   for d in n.deps]
    if n.assigned:  # a Fair/WeighedFair parent's count (older snapshots have none)
        out["assigned"] = n.assigned
    if isinstance(n, GraphNode):
        out.update(user=n.user, pool=n.pool, meta=_plain(n.meta), root_index=n.root_index)
    if isinstance(n, TaskGroupNode):
        out["strategy"] = n.strategy
    if isinstance(n, TaskNode):
        for f in _TASK_FRAME_FIELDS:
            out[f] = getattr(n, f)
        out.update(done_n=n.done_n, done_s=n.done_s, runner=n.runner, min_cores=n.min_cores, max_cores=n.max_cores,
                   ram_use=n.ram_use, gpus=n.gpus, lic=list(n.lic), max_attempt=n.max_attempt,
                   cmd_arg_keys=list(n.cmd_arg_keys), validation=n.validation,
                   packages=list(n.packages))
        if n.idle_timeout is not None:
            out["idle_timeout"] = n.idle_timeout
        if n.kill_on_ram_overuse:
            out["kill_on_ram_overuse"] = True
        out["commands"] = [_dump_command(c) for c in n.commands]
    return out


def _dump_command(c: CommandNode) -> list[Any]:
    args: Any = c.args
    if isinstance(args, tuple):
        args = _plain(list(args))
    elif args is not None:
        args = {"dict": _plain(args)}
    run = c.run
    return [c.id, c.description, args, c.status, c.completion, c.attempts, c.token,
            c.start_time, c.end_time, c.update_time, c.message, _plain(c.stats), c.retry_at,
            None if run is None else [run.node.name, run.cores, run.ram_mb, list(run.licences),
                                      run.assigned_at, run.after, *([list(run.gpus)] if run.gpus else [])],
            c.last_node, c.held]


def _plain(v: Any) -> Any:
    """``v`` with every mapping key a str and every tuple a list (a copy of its containers).

    A loop over an explicit stack: tags and arguments are shaped by users.
    """
    if not isinstance(v, dict | list | tuple):
        return v
    top: Any = {} if isinstance(v, dict) else []
    stack: list[tuple[Any, Any]] = [(v, top)]
    while stack:
        source, copy = stack.pop()
        if isinstance(source, dict):
            for k, x in source.items():
                if isinstance(x, dict | list | tuple):
                    inner: Any = {} if isinstance(x, dict) else []
                    stack.append((x, inner))
                    x = inner
                copy[str(k)] = x
        else:
            for x in source:
                if isinstance(x, dict | list | tuple):
                    inner = {} if isinstance(x, dict) else []
                    stack.append((x, inner))
                    x = inner
                copy.append(x)
    return top


# --------------------------------------------------------------------- load
def load(st: CoreState, data: dict[str, Any]) -> None:
    found = data.get("format")
    if found not in READABLE_FORMATS:
        readable = ", ".join(map(str, sorted(READABLE_FORMATS)))
        raise CoreError(f"snapshot format {found!r} is not one this core reads ({readable}); "
                        f"a cluster is upgraded as a whole: run one version on every agent")
    for name, total in data["licences"]:
        st.licences.set_total(name, total)
    st.submitted.load(data.get("submitted", []))  # older snapshots have none
    st.events = EventOutbox.restore(data.get("hook_events"))  # nor hook events
    sick_hosts.load(st.sick, data.get("sick"))  # nor sick hosts
    for name in data["pools"]:
        if name not in st.pools:
            st.pools[name] = Pool(name)
    for name, rows in data.get("shares", {}).items():  # older snapshots have none
        after = data.get("share_preempt", {}).get(name)  # older snapshots: no preemption
        st.pools[name].shares = ShareTree(parse_accounts(rows), after)  # before any job is indexed
        if after is not None:
            st.preempting[name] = None  # as ``preemption.register``, but nothing to look at yet
    now0 = 0.0
    for d in data["render_nodes"]:
        info = RenderNodeInfo(d["name"], d["pools"], d["cores"], d["ram_mb"], d["free_ram_mb"],
                              d["slots"], d["characteristics"], d["performance"], d.get("pipeline", 0),
                              d.get("gpus", []), d.get("load", 0.0))  # older snapshots: none
        n = st.render_nodes[d["name"]] = RenderNode(info, d["joined_at"])
        pools_override, n.performance_override = d.get("pools_override"), d.get("performance_override")
        if pools_override is not None or n.performance_override is not None:  # older snapshots: neither
            n.pools_override = None if pools_override is None else tuple(pools_override)
            n.apply_info(info)
        n.online, n.paused, n.quarantined = d["online"], d["paused"], d["quarantined"]
        n.draining = d.get("draining", False)
        n.killfile = d.get("killfile", False)  # older snapshots have none
        n.fail_streak, n.credit = d["fail_streak"], d["credit"]
        for p in n.pools:
            if p not in st.pools:
                st.pools[p] = Pool(p)
            st.pools[p].members[n.name] = n
    runs: dict[int, tuple[CommandNode, list[Any]]] = {}
    graphs: list[tuple[GraphNode, list[TreeNode]]] = []
    flat = [_flat_graph(gd) if found == 1 else gd for gd in data["graphs"]]
    for node_data in flat:
        g = _load_graph(node_data, runs)
        nodes = iter_nodes(g)
        submission.finish_build(st, g, nodes, now0)
        graphs.append((g, nodes))
    by_id = st.nodes
    st.building = True
    try:
        for node_data in flat:
            for d in node_data:
                node = by_id[d["id"]]
                for dep in d["deps"]:  # [source, statuses] or [source, statuses, {"byFrame": true}]
                    if is_by_frame(dep):
                        dependencies.install_by_frame(node, by_id[dep[0]], frozenset(dep[1]))
                    else:
                        dependencies.install(node, by_id[dep[0]], frozenset(dep[1]))
    finally:
        st.building = False
    for _g, nodes in graphs:
        for n in nodes:
            if isinstance(n, TaskNode):
                n.blocked = dependencies.effectively_blocked(n)
    # Reservations, in each node's assignment order.
    for d in data["render_nodes"]:
        node = st.render_nodes[d["name"]]
        for cid in d["running"]:
            cmd, r = runs[cid]
            run = Running(cmd, node, r[1], r[2], tuple(r[3]), r[4], r[5] if len(r) > 5 else 0)
            if len(r) > 6:  # it holds GPUs
                run.gpus = tuple(r[6])
                node.free_gpus = [g for g in node.free_gpus if g not in run.gpus]
            cmd.run = run
            node.running[cid] = run
            if run.after:  # pipelined: waiting on the node behind command run.after
                node.followers[run.after] = run
            node.used_cores += run.cores
            node.used_ram += run.ram_mb
            for lic in run.licences:
                licence = st.licences.licences[lic]
                licence.used += 1
                licence.rns[node.name] = licence.rns.get(node.name, 0) + 1
            hold_delta(cmd.task, 1)
    for tid in data["timer_parked"]:
        task = st.nodes[tid]
        assert isinstance(task, TaskNode)
        task.parked = PARK_TIMER
    st.timers = [(at, tid) for at, tid in data["timers"]]
    heapq.heapify(st.timers)
    for g, nodes in graphs:
        submission.index_graph(st, g, nodes)
        pools_mod.push_graph(g, st.pools[g.pool])
    quotas.set_quotas(st, quotas.parse_quotas(data.get("quotas", [])))  # older snapshots: none; use from the runs
    st.retries = [tuple(r) for r in data["retries"]]  # type: ignore[misc]
    heapq.heapify(st.retries)
    st.next_node_id = data["next_node_id"]
    st.next_command_id = data["next_command_id"]
    for n in st.render_nodes.values():
        if n.can_take_work():
            for p in n.pools:
                st.pools[p].add_waiting(n.name, n.performance)
    st.dep_queue.clear()
    st.dirty_pools.clear()


def _flat_graph(root: dict[str, Any]) -> list[dict[str, Any]]:
    """A format-1 graph (each folder's ``children`` nested in it) as format 2's flat list."""
    out: list[dict[str, Any]] = []
    stack: list[tuple[dict[str, Any], int | None]] = [(root, None)]
    while stack:
        d, parent = stack.pop()
        out.append({**d, "parent": parent})
        stack.extend((c, d["id"]) for c in reversed(d.get("children", ())))
    return out


def _stored_strategy(value: object) -> str:
    """A snapshotted strategy. Older cores stored any string a client sent, and ran every
    group FIFO: an unknown name stays FIFO, so the successor keeps the order it replaces."""
    try:
        return strategy_name(value)
    except GraphError:
        return FIFO_STRATEGY


def _load_graph(node_data: list[dict[str, Any]],
                runs: dict[int, tuple[CommandNode, list[Any]]]) -> GraphNode:
    """The tree of one graph from its flat nodes (each after its parent, siblings in order)."""
    folders: dict[int, Folder] = {}
    graph: GraphNode | None = None
    for d in node_data:
        parent = None if d["parent"] is None else folders[d["parent"]]
        n = _load_node(d, parent, runs)
        if parent is None:
            assert graph is None and isinstance(n, GraphNode), "a graph has one root, first"
            graph = n
        else:
            parent.children.append(n)
        if isinstance(n, Folder):
            folders[n.id] = n
    assert graph is not None, "a graph has a root"
    return graph


def _load_node(d: dict[str, Any], parent: Folder | None,
               runs: dict[int, tuple[CommandNode, list[Any]]]) -> TreeNode:
    kind = d["type"]
    n: TreeNode
    if kind == "Graph":
        g = GraphNode(d["id"], d["name"])
        g.user, g.pool, g.meta, g.root_index = d["user"], d["pool"], d["meta"], d["root_index"]
        n = g
    elif kind == "TaskGroup":
        n = TaskGroupNode(d["id"], d["name"], parent)
        n.strategy = _stored_strategy(d["strategy"])
    else:
        n = TaskNode(d["id"], d["name"], parent)
    for f in _NODE_FIELDS:
        setattr(n, f, d[f])
    n.assigned = d.get("assigned", 0)
    if isinstance(n, TaskNode):
        n.runner, n.min_cores, n.max_cores = d["runner"], d["min_cores"], d["max_cores"]
        n.ram_use, n.lic, n.max_attempt = d["ram_use"], tuple(d["lic"]), d["max_attempt"]
        n.gpus = d.get("gpus", 0)  # older snapshots: none
        n.cmd_arg_keys, n.validation = tuple(d["cmd_arg_keys"]), d["validation"]
        n.packages = tuple(d["packages"])  # type: ignore[assignment]
        n.done_n, n.done_s = d.get("done_n", 0), d.get("done_s", 0.0)
        n.idle_timeout = d.get("idle_timeout")  # older snapshots lack it
        n.kill_on_ram_overuse = d.get("kill_on_ram_overuse", False)  # absent: not set (or older)
        for f in _TASK_FRAME_FIELDS:  # older snapshots also had them (unused) on folders
            setattr(n, f, d[f])
        for idx, row in enumerate(d["commands"]):
            (cid, desc, args, status, completion, attempts, token, start, end, update, message,
             stats, retry_at, run) = row[:14]
            if isinstance(args, list):
                args = tuple(args)
            elif isinstance(args, dict):
                args = args["dict"]
            c = CommandNode(cid, n, idx, desc, args)
            c.status, c.completion, c.attempts, c.token = status, completion, attempts, token
            c.start_time, c.end_time, c.update_time = start, end, update
            c.message, c.stats, c.retry_at = message, stats, retry_at
            c.last_node = row[14] if len(row) > 14 else None  # older snapshots lack it
            c.held = bool(row[15]) if len(row) > 15 else False
            n.commands.append(c)
            if run is not None:
                runs[cid] = (c, run)
    return n

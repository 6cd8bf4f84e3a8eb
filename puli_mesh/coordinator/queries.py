"""Plain-data views of the core's state for the CLI and the API.

Everything returned is dicts, lists, str, int, float, bool and None (msgpack
friendly), built on demand. Statuses are numbers (Puli's) with a ``*_name`` twin.
Times per frame are in seconds (Puli reported milliseconds).

Guarantees: no view holds a command's attempt token. It stays inside the mesh (the ASSIGN to
the worker and the journal), so a client cannot learn the token a result is checked against;
``attempts`` (executions that ended) and ``render_node``/``last_node`` are what a user needs.
Guarantees: no walk here recurses, so a view works at any depth a graph has; a tree view
(``node_view`` with children) is built in one depth-first walk, each node's figures the
same as its own view's. A tree view nests two levels per tree level, so msgpack (511
levels at most) carries one of ~250 levels over the wire: the graph depth limit stays
far below that.

Not here: formatting (the CLI does it) and filters on graphs and render nodes
(``client_queries``); only the command listing filters here, because a farm holds far
more commands than it is sensible to send.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from puli_mesh.coordinator.render_nodes import RenderNode, gpus_used
from puli_mesh.coordinator.state import CoreState
from puli_mesh.coordinator.tree import (
    C_DONE,
    C_READY,
    CommandNode,
    GraphNode,
    TaskGroupNode,
    TaskNode,
    TreeNode,
    iter_tasks,
)
from puliclient.status import CMD_STATUS_NAME, COMMAND_STATUS_COUNT, CommandStatus, NodeStatus


def _times(n: TreeNode, tasks: list[TaskNode]) -> dict[str, Any]:
    """Times, and time per frame: kept per task, summed over a folder's ``tasks`` here
    (a DONE command then updates one node, not every ancestor)."""
    frames = sum(t.frames_n for t in tasks)
    mins = [t.tpf_min for t in tasks if t.tpf_min is not None]
    maxs = [t.tpf_max for t in tasks if t.tpf_max is not None]
    return {
        "creation_time": n.creation_time,
        "start_time": n.start_time,
        "end_time": n.end_time,
        "avg_time_per_frame_s": sum(t.tpf_sum for t in tasks) / frames if frames else None,
        "min_time_per_frame_s": min(mins) if mins else None,
        "max_time_per_frame_s": max(maxs) if maxs else None,
    }



def _counts(tasks: list[TaskNode]) -> tuple[int, int, int, float, list[int]]:
    """(commands, ready, done, completion, commands per status) of a subtree's ``tasks``."""
    total = ready = done = 0
    comp = 0.0
    per_status = [0] * COMMAND_STATUS_COUNT
    for t in tasks:
        total += len(t.commands)
        ready += t.counts[C_READY]
        done += t.counts[C_DONE]
        comp += t.completion_sum
        for s, k in enumerate(t.counts):
            per_status[s] += k
    return total, ready, done, (comp / total if total else 1.0), per_status


TREE_NODES_MAX = 1_000
"""Views of task groups and tasks in one tree view (``node_view`` with children)."""
TREE_COMMANDS_MAX = 1_000
"""Views of commands in one tree view. A graph may hold 100,000 commands: their views would be
about 30 MB (above the message limit) and hold the leader's loop for a second. Past these, a
tree view says what it left out; ``QUERY commands`` (``id``: any node) pages through the
rest. At 1,000 of each, a view costs the loop about 8 ms (100 tasks of 1,000 commands);
the figures of a folder still sum its subtree's tasks: 70 ms for a folder of 50,000 tasks."""


def node_view(n: TreeNode, children: bool, *, nodes_max: int = TREE_NODES_MAX,
              commands_max: int = TREE_COMMANDS_MAX) -> dict[str, Any]:
    """The view of one node; with ``children``, of its subtree (``children`` of a folder,
    ``commands`` of a task), bounded to ``nodes_max`` nodes and ``commands_max`` commands: a
    shown folder's children all get their places (while any are left) before the walk goes
    down into them, so the upper levels of a big job are shown whole and a node is shown only
    with its ancestors. A folder whose children are not all shown says how many are left out
    (``children_omitted``), a task its commands (``commands_omitted``), and the top view the
    totals (``omitted``: nodes and commands). Every shown node's figures count its whole subtree.

    One walk, with an explicit stack (a graph may be nested deeper than Python's stack):
    each node's tasks are a run of the subtree's tasks in depth-first order, so every
    folder sums its own tasks in the same order as ``iter_tasks`` without walking its
    subtree again.
    """
    if not children:
        return _own_view(n, iter_tasks(n))
    tasks: list[TaskNode] = []
    views: dict[int, dict[str, Any]] = {}  # of shown nodes whose parent's view is not built yet
    nodes_left, commands_left = nodes_max - 1, commands_max  # the top node is always shown
    omitted_nodes = omitted_commands = 0
    stack: list[tuple[TreeNode, int, bool]] = [(n, -1, True)]  # -1: before its children are walked
    while stack:
        node, start, shown = stack.pop()
        if isinstance(node, TaskNode):
            tasks.append(node)
            if shown:
                view = _own_view(node, [node])
                listed = node.commands[:max(commands_left, 0)]
                commands_left -= len(listed)
                view["commands"] = [command_view(c) for c in listed]
                if len(listed) < len(node.commands):
                    view["commands_omitted"] = len(node.commands) - len(listed)
                views[node.id] = view
            omitted_commands += len(node.commands) - (len(views[node.id]["commands"]) if shown else 0)
        elif start < 0:
            stack.append((node, len(tasks), shown))
            walk = []
            for child in node.children:  # type: ignore[attr-defined]
                child_shown = shown and nodes_left > 0
                nodes_left -= child_shown
                omitted_nodes += not child_shown
                walk.append((child, -1, child_shown))
            stack.extend(reversed(walk))
        elif shown:
            view = _own_view(node, tasks[start:])
            view["children"] = [views.pop(c.id) for c in node.children if c.id in views]  # type: ignore[attr-defined]
            left_out = len(node.children) - len(view["children"])  # type: ignore[attr-defined]
            if left_out:
                view["children_omitted"] = left_out
            views[node.id] = view
    top = views[n.id]
    if omitted_nodes or omitted_commands:
        top["omitted"] = {"nodes": omitted_nodes, "commands": omitted_commands}
    return top


def _own_view(n: TreeNode, tasks: list[TaskNode]) -> dict[str, Any]:
    """A node's view without its children or commands; ``tasks`` are its subtree's, in
    ``iter_tasks`` order."""
    total, ready, done, completion, per_status = _counts(tasks)
    out: dict[str, Any] = {
        "id": n.id,
        "name": n.name,
        "type": n.KIND,
        "status": n.status,
        "status_name": NodeStatus(n.status).name,
        "completion": completion,
        "dispatchKey": n.dispatch_key,
        "priority": n.priority,
        "maxRN": n.max_rn,
        "running": n.running,
        "paused": n.paused,
        "tags": dict(n.tags),
        "timer": n.timer,
        "commandCount": total,
        "readyCommandCount": ready,
        "doneCommandCount": done,
        "command_counts": {name: k for name, k in zip(CMD_STATUS_NAME, per_status, strict=True) if k},
        "dependencies": [
            {"node": d.source.id, "statuses": sorted(d.statuses), "met": d.met,
             "unmeetable": d.unmeetable, "byFrame": d.by_frame}
            for d in n.deps
        ],
        **_times(n, tasks),
    }
    if isinstance(n, GraphNode):
        out.update(user=n.user, pool=n.pool, meta=dict(n.meta))
    if isinstance(n, TaskGroupNode):
        out["strategy"] = n.strategy
    if isinstance(n, TaskNode):
        out.update(runner=n.runner, lic="&".join(n.lic), minNbCores=n.min_cores,
                   maxNbCores=n.max_cores, ramUse=n.ram_use, gpus=n.gpus, maxAttempt=n.max_attempt,
                   idleTimeout=n.idle_timeout, killOnRamOveruse=n.kill_on_ram_overuse,
                   requirements=dict(n.requirements), blocked=n.blocked,
                   arguments=dict(n.arguments), environment=dict(n.environment))
    return out


def command_view(c: CommandNode) -> dict[str, Any]:
    t = c.task
    return {
        "id": c.id,
        "description": c.description,
        "task_id": t.id,
        "graph_id": t.graph.id,
        "status": c.status,
        "status_name": CommandStatus(c.status).name,
        "completion": c.completion,
        "attempts": c.attempts,
        "max_attempt": t.max_attempt,
        "render_node": c.run.node.name if c.run is not None else None,
        "last_node": c.last_node,
        "task_name": t.name,
        "arguments": c.own_arguments(),
        "message": c.message,
        "stats": dict(c.stats) if c.stats else {},
        "start_time": c.start_time,
        "end_time": c.end_time,
        "update_time": c.update_time,
        "retry_at": c.retry_at,
        "paused": c.held,
    }


def render_node_view(n: RenderNode) -> dict[str, Any]:
    status = n.status()
    return {
        "name": n.name,
        "status": int(status),
        "status_name": status.name,
        "online": n.online,
        "pools": list(n.pools),
        "cores": n.cores,
        "free_cores": n.free_cores,
        "ram_mb": n.ram_mb,
        "free_ram_mb": n.free_ram_mb,
        "load": n.load,
        "reserved_ram_mb": n.used_ram,
        "slots": n.slots,
        "credit": n.credit,
        "characteristics": dict(n.characteristics),
        "performance": n.performance,
        "configured_pools": list(n.configured_pools),  # what its agent says; pools: what counts
        "pools_override": None if n.pools_override is None else list(n.pools_override),
        "performance_override": n.performance_override,
        "paused": n.paused,
        "draining": n.draining,
        "killfile": n.killfile,  # paused by its killfile, not an operator
        "quarantined": n.quarantined,
        "fail_streak": n.fail_streak,
        "running": [cid for cid, r in n.running.items() if not r.after],
        "queued": [cid for cid, r in n.running.items() if r.after],  # pipelined, waiting for a slot
        "pipeline": n.pipeline,
        "gpus": list(n.gpus),
        "free_gpus": list(n.free_gpus),
    }


@dataclass(slots=True)  # not frozen: a frozen one takes 4 times as long to build, and one is built per node
class RenderNodeBrief:
    """What ``puli-mesh status`` shows of a render node the core knows: a few fields, so the
    status of 2,000 nodes is not built from 2,000 whole ``render_node_view``s. Read only."""

    name: str
    slots: int
    cores: int
    ram_mb: int
    free_ram_mb: int
    paused: bool
    draining: bool
    quarantined: bool
    running: list[int]
    queued: list[int]
    """Pipelined, waiting for a slot."""
    pools: tuple[str, ...]
    pools_override: tuple[str, ...] | None
    """An operator's pools (None: the agent's own)."""
    performance: float
    killfile: bool = False
    """Paused (or draining) by its killfile, not an operator."""
    avoided_by: tuple[tuple[int, float], ...] = ()
    """(job id, until when) of the jobs avoiding it (``sick_hosts``)."""
    avoided_by_commands: tuple[int, ...] = ()
    """The failed commands whose retries avoid it."""
    gpus: int = 0
    gpus_used: int = 0
    load: float = 0.0
    """Its 1-minute load average, as its worker last reported it."""


def render_node_brief(n: RenderNode) -> RenderNodeBrief:
    running = n.running
    if n.followers:
        queued = [cid for cid, r in running.items() if r.after]
        started = [cid for cid, r in running.items() if not r.after]
    else:  # no pipelining: every run holds a slot (the common case, and the cheap one)
        queued, started = [], list(running)
    return RenderNodeBrief(n.name, n.slots, n.cores, n.ram_mb, n.free_ram_mb, n.paused, n.draining, n.quarantined,
                           started, queued, n.pools, n.pools_override, n.performance,
                           n.killfile, gpus=len(n.gpus), gpus_used=gpus_used(n), load=n.load)


def _by_status(names: Iterator[str]) -> dict[str, int]:
    """How many of each status name, and ``TOTAL`` (Puli's /stats)."""
    counted = Counter(names)
    return {**dict(sorted(counted.items())), "TOTAL": sum(counted.values())}


def figures(st: CoreState) -> dict[str, Any]:
    """Farm-wide gauges, and Puli's /stats counts: jobs and render nodes by status (a walk of the
    graphs and of the nodes, never of the commands)."""
    online = [n for n in st.render_nodes.values() if n.online]
    ready_by_pool: dict[str, int] = {}
    for g in st.graphs.values():
        if g.n_ready:
            ready_by_pool[g.pool] = ready_by_pool.get(g.pool, 0) + g.n_ready
    return {
        "jobs_by_status": _by_status(NodeStatus(g.status).name for g in st.graphs.values()),
        "render_nodes_by_status": _by_status(n.status().name for n in st.render_nodes.values()),
        "ready": sum(ready_by_pool.values()),
        "ready_by_pool": ready_by_pool,
        "running": sum(g.running for g in st.graphs.values()),
        "graphs": len(st.graphs),
        "nodes_online": len(online),
        "slots": sum(n.slots for n in online),
        "busy_slots": sum(n.in_slots for n in online),
        "licences": {lic.name: [lic.used, lic.total] for lic in st.licences.licences.values()},
    }


def command_counts(st: CoreState) -> dict[str, int]:
    """Every command of the farm per status name (a walk of every task, never of the commands:
    for the metrics, asked at most every ``metrics.FARM_GAUGES_MAX_AGE_S``)."""
    per_status = [0] * COMMAND_STATUS_COUNT
    for g in st.graphs.values():
        for t in iter_tasks(g):
            for s, k in enumerate(t.counts):
                per_status[s] += k
    return dict(zip(CMD_STATUS_NAME, per_status, strict=True))


def graphs(st: CoreState) -> list[dict[str, Any]]:
    return [node_view(g, False) for g in st.graphs.values()]


def pools(st: CoreState) -> list[dict[str, Any]]:
    return [{"name": p.name, "render_nodes": list(p.members), "graphs": list(p.graphs)}
            for p in st.pools.values()]

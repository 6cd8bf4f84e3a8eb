"""Every QUERY a client may ask, in one table, and the operators' graph filters.

:data:`QUERIES` maps a query's ``what`` to the function answering it from a
:class:`QueryContext` (the core, the query's ``args``, the time, the farm's stats and
the facts only the service shell knows: links, membership, the journal's figures).
Every answer is plain data (msgpack-able), built on the core's views.

The listings (``graphs``, ``commands``, ``nodes``) answer one page,
``{"items": [...], "cursor": next or None}``, and take ``limit`` and ``cursor``
(``listings``): no query walks the whole farm on the loop.

Filters follow Puli's ``/query/job`` semantics: AND across keys, OR within a key (a
list), ``name`` is a glob (``puliclient.patterns``: never a regular expression, so no
client string can stall the loop), ``user`` and ``pool`` are exact, ``tags``
``{"prod": "film"}`` match when every given tag has one of the given values. A key
lists at most ``MAX_FILTER_VALUES`` values. Time ranges (:data:`TIME_RANGES`, epoch
seconds, Puli's ``constraint_creationtime/starttime/endtime``): ``since`` (created at or
after), ``created_before``, ``started_after``/``started_before``,
``ended_after``/``ended_before``; a graph not started (ended) yet matches no range on
its start (end).

Errors: an unknown query or a missing argument raises ``KeyError``, a bad filter
``ValueError`` (the client gets ``invalid``); the core raises ``UnknownIdError``
(``not_found``).

Not here: edits (``edit_actions``), reading clocks or sockets (the shell passes what
it knows in), formatting (the CLI does it).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.coordinator.queries import RenderNodeBrief
from puli_mesh.coordinator.stats import FarmStats
from puli_mesh.limits import MAX_FILTER_VALUES, STATUS_NODES_MAX
from puliclient.patterns import NamePattern, any_matches
from puliclient.query_fields import node_listing
from puliclient.status import CommandStatus, NodeStatus, parse_status


def _statuses(values: Any, enum: type[NodeStatus] | type[CommandStatus]) -> set[int] | None:
    """``["RUNNING", 4]`` or ``"error,done"`` -> ``{2, 4}``; None for no filter."""
    if values is None or values == [] or values == "":
        return None
    if isinstance(values, str):
        values = [v for v in values.split(",") if v.strip()]
    if not isinstance(values, Iterable):
        values = [values]
    return {int(parse_status(v, enum)) for v in values}


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v for v in value.split(",") if v]
    if isinstance(value, list | tuple | set):
        return list(value)
    return [value]


TIME_RANGES: dict[str, tuple[str, bool]] = {
    "since": ("creation_time", True),
    "created_before": ("creation_time", False),
    "started_after": ("start_time", True),
    "started_before": ("start_time", False),
    "ended_after": ("end_time", True),
    "ended_before": ("end_time", False),
}
"""The time-range filters of ``graphs``: key -> (the graph's time, True: at or after; False: before)."""


def _bounded(key: str, values: list[Any]) -> list[Any]:
    if len(values) > MAX_FILTER_VALUES:
        raise ValueError(f"{key} filter lists {len(values)} values, above the limit of {MAX_FILTER_VALUES}; "
                         f"narrow it, or use a name pattern")
    return values


def _seconds(key: str, value: Any) -> float:
    """A time-range bound as epoch seconds; ``ValueError`` for anything but a finite number."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value or abs(value) == float("inf"):
        raise ValueError(f"{key} must be a time in epoch seconds, not {value!r}")
    return float(value)


@dataclass(frozen=True, slots=True)
class GraphFilter:
    """The graph filters of one query, parsed once: ``id``, ``user``, ``status``, ``name``
    (globs, ``puliclient.patterns``), ``tags`` ({key: value or [values]}), ``pool`` and the
    time ranges of :data:`TIME_RANGES` (epoch s). :meth:`matches` is a few attribute tests per graph."""

    ids: frozenset[int]
    users: frozenset[str]
    pools: frozenset[str]
    statuses: frozenset[int] | None
    names: tuple[NamePattern, ...]
    tags: dict[str, frozenset[str]]
    times: tuple[tuple[str, bool, float], ...]
    """(the graph's time attribute, at or after (else before), the bound) of each range given."""

    @classmethod
    def from_args(cls, args: dict[str, Any]) -> GraphFilter:
        """The filters in a query's ``args``; ``ValueError`` for a bad one (the client gets ``invalid``)."""
        statuses = _statuses(args.get("status"), NodeStatus)
        raw_tags = args.get("tags") or {}
        if not isinstance(raw_tags, dict):
            raise ValueError(f"tags filter must be a map of tag to value(s), not {type(raw_tags).__name__}")
        times = tuple((attr, after, _seconds(key, args[key])) for key, (attr, after) in TIME_RANGES.items()
                      if args.get(key) is not None)
        return cls(
            ids=frozenset(int(i) for i in _bounded("id", _as_list(args.get("id")))),
            users=frozenset(map(str, _bounded("user", _as_list(args.get("user"))))),
            pools=frozenset(map(str, _bounded("pool", _as_list(args.get("pool"))))),
            statuses=None if statuses is None else frozenset(statuses),
            names=tuple(NamePattern(n) for n in _bounded("name", _as_list(args.get("name")))),
            tags={str(k): frozenset(str(x) for x in _bounded(f"tag {k}", _as_list(v)))
                  for k, v in _bounded("tags", list(raw_tags.items()))},
            times=times,
        )

    def matches(self, g: Any) -> bool:
        """Whether graph ``g`` (a ``GraphNode``, or anything with its attributes) passes every filter."""
        if self.ids and g.id not in self.ids:
            return False
        if self.users and g.user not in self.users:
            return False
        if self.pools and g.pool not in self.pools:
            return False
        if self.statuses is not None and g.status not in self.statuses:
            return False
        if self.names and not any_matches(self.names, str(g.name)):
            return False
        for attr, after, bound in self.times:
            at = getattr(g, attr)
            if at is None or (at < bound if after else at >= bound):
                return False
        return not self.tags or all(str(g.tags.get(k)) in vs for k, vs in self.tags.items())


@dataclass(frozen=True, slots=True)
class LinkFacts:
    """What the shell knows of one worker's link."""

    endpoint: str
    pools: list[str]
    alive: bool
    """Heard from within its heartbeat liveness."""


@dataclass(frozen=True, slots=True)
class JournalFigures:
    records: int
    durable: int
    bytes_written: int
    batches_written: int
    last_snapshot_record: int
    last_snapshot_time: float | None


@dataclass(frozen=True, slots=True)
class StatusFacts:
    """What the status query needs from the service shell, read when it is asked."""

    cluster: str
    leader: str
    epoch: int
    assignments_sent: int
    journal: JournalFigures
    links: dict[str, LinkFacts] = field(default_factory=dict)
    faults: dict[str, int] = field(default_factory=dict)
    """The coordinator's periodic steps that failed, and how often (``puli_mesh.faults``)."""
    secured: bool = False
    """Keys and roles checked (False: an ``--insecure`` mesh, open to anyone who reaches it)."""


@dataclass(frozen=True, slots=True)
class QueryContext:
    """Everything a query may read. ``facts`` is called only by the status query."""

    core: SchedulingCore
    args: dict[str, Any]
    now: float
    stats: FarmStats
    facts: Callable[[], StatusFacts]
    members: dict[str, dict[str, Any]]
    """ZooKeeper's member data per node name (endpoint, resources, accepting)."""
    views: QueryViews = field(default_factory=lambda: QueryViews())
    """Views kept between requests (the handler's; a fresh one keeps nothing)."""


NODE_STATES = ("gone", "silent", "connecting", "quarantined", "draining", "paused", "busy", "idle")
"""Every state ``puli-mesh status`` gives a node, those that may need someone first: the order
of a bounded status's page of nodes (``nodes_limit``)."""
NODE_STATE_RANK = {state: rank for rank, state in enumerate(NODE_STATES)}


def node_state(member: dict[str, Any] | None, link: LinkFacts | None, core_node: RenderNodeBrief | None) -> str:
    """A node's state as ``puli-mesh status`` shows it, from the first fact that applies."""
    if member is None and link is None:
        return "gone"
    if link is None:
        return "connecting"
    if not link.alive:
        return "silent"
    if core_node is not None:
        if core_node.draining:
            return "draining"
        if core_node.paused:
            return "paused"
        if core_node.quarantined:
            return "quarantined"
    if (member or {}).get("accepting") is False:
        return "draining"
    return "busy" if core_node is not None and core_node.running else "idle"


def node_row(name: str, state: str, leader: str, member: dict[str, Any] | None, link: LinkFacts | None,
             core_node: RenderNodeBrief | None) -> dict[str, Any]:
    """One node of the status reply: what ZooKeeper's member data says, else its link, else the core."""
    known = member or {}
    running = core_node.running if core_node is not None else []
    return {
        "name": name,
        "state": state,
        "reason": pause_reason(known, core_node),  # why paused or draining, when the node did it itself
        "leader": name == leader,
        "endpoint": known.get("endpoint", link.endpoint if link else ""),
        # an operator's pools win over what the agent says (``pools_override``: None when none)
        "pools": (list(core_node.pools) if core_node is not None and core_node.pools_override is not None
                  else known.get("pools", link.pools if link else [])),
        "pools_override": None if core_node is None or core_node.pools_override is None
        else list(core_node.pools_override),
        "performance": core_node.performance if core_node is not None else None,
        "slots": _slots(member, core_node),
        "running": len(running),
        "running_commands": list(running),
        "queued_commands": list(core_node.queued) if core_node else [],  # pipelined, not started
        # the member's data is read after it joins: until then, what its HELLO said
        "cores": known.get("cores", core_node.cores if core_node else 0),
        "cpu_percent": known.get("cpu_percent", 0.0),
        # the core's as for free RAM: its worker reports it as it changes; the member data's is slow
        "load": core_node.load if core_node else known.get("load", 0.0),
        "ram_mb": known.get("ram_mb", core_node.ram_mb if core_node else 0),
        # the core's is what its worker reported last (``ramUse`` is matched against it); the
        # member data's is at most a minute old, read slowly: only for a node the core lacks
        "free_ram_mb": core_node.free_ram_mb if core_node else known.get("free_ram_mb", 0),
        "version": known.get("version", ""),
        "faults": known.get("faults", 0),  # units of work of that agent that failed (its log says why)
        # why it is passed over (``sick_hosts``): jobs that failed there too often, until when; failed commands
        "avoided_by": [{"job": job, "until": until} for job, until in core_node.avoided_by] if core_node else [],
        "avoided_by_commands": list(core_node.avoided_by_commands) if core_node else [],
        "gpus": core_node.gpus if core_node else 0,
        "gpus_used": core_node.gpus_used if core_node else 0,
    }


def pause_reason(member: dict[str, Any], core_node: RenderNodeBrief | None) -> str:
    """Why a node paused itself: ``killfile``, or ``nimby: user active`` / ``nimby: outside
    window`` when its agent watches its user (``node.nimby``: the member data's ``nimby`` says
    why while it holds, read up to a member refresh late; until then just ``nimby``); "" for an
    operator's pause."""
    if core_node is None or not core_node.killfile:
        return ""
    nimby = member.get("nimby")
    if nimby is None:
        return "killfile"
    return f"nimby: {nimby}" if nimby else "nimby"


def _slots(member: dict[str, Any] | None, core_node: RenderNodeBrief | None) -> int:
    """A node's slots: its member data's, else what the core knows."""
    return (member or {}).get("slots", core_node.slots if core_node else 0)


NodeFacts = tuple[str, dict[str, Any] | None, LinkFacts | None, RenderNodeBrief | None, str]
"""A node's name, member data, link, core brief and state."""


def _every_node(members: dict[str, dict[str, Any]], links: dict[str, LinkFacts],
                core_nodes: dict[str, RenderNodeBrief]) -> Iterator[NodeFacts]:
    """Every node known to ZooKeeper, to the links or to the core, with what each knows and its state."""
    for name in set(members) | set(links) | set(core_nodes):
        member, link, core_node = members.get(name), links.get(name), core_nodes.get(name)
        yield name, member, link, core_node, node_state(member, link, core_node)


def _mesh_view(core: SchedulingCore, facts: StatusFacts) -> dict[str, Any]:
    """The status reply without its nodes."""
    journal = facts.journal
    return {
        "cluster": facts.cluster,
        "leader": facts.leader,
        "epoch": facts.epoch,
        "secured": facts.secured,
        "graphs": core.figures()["graphs"],
        "shares": core.has_shares(),  # whether asking QUERY shares / quotas shows anything
        "assignments_sent": facts.assignments_sent,
        "faults": dict(facts.faults),
        "journal": {
            "records": journal.records,
            "durable": journal.durable,
            "bytes_written": journal.bytes_written,
            "batches_written": journal.batches_written,
            "last_snapshot_record": journal.last_snapshot_record,
            "last_snapshot_time": journal.last_snapshot_time,
        },
    }


def status_view(core: SchedulingCore, facts: StatusFacts, members: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The mesh as ``puli-mesh status`` shows it: the leader, the journal, every node known
    to ZooKeeper, to the links or to the core."""
    return {**_mesh_view(core, facts), "nodes": node_rows(core, facts, members)}


def node_rows(core: SchedulingCore, facts: StatusFacts, members: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Every node known to ZooKeeper, to the links or to the core, as a row (:func:`node_row`), by name."""
    known = sorted(_every_node(members, facts.links, core.render_node_briefs()), key=lambda node: node[0])
    return [node_row(name, state, facts.leader, member, link, core_node)
            for name, member, link, core_node, state in known]


def status_summary_view(core: SchedulingCore, facts: StatusFacts, members: dict[str, dict[str, Any]],
                        nodes_limit: int, now: float) -> dict[str, Any]:
    """The status reply with a bounded page of nodes (what ``puli-mesh top`` shows on one
    screen): the first ``nodes_limit`` nodes in :data:`NODE_STATES` order then by name, and
    ``summary``: every node counted (``nodes``, per state in ``states``, ``slots`` of the nodes
    not gone, commands ``running`` on them), ``as_of`` the time it was built."""
    states: dict[str, int] = dict.fromkeys(NODE_STATES, 0)
    ranked: list[tuple[int, str, NodeFacts]] = []
    slots = running = 0
    for node in _every_node(members, facts.links, core.render_node_briefs()):
        name, member, _, core_node, state = node
        states[state] += 1
        ranked.append((NODE_STATE_RANK[state], name, node))
        if state != "gone":
            slots += _slots(member, core_node)
            running += len(core_node.running) if core_node else 0
    nodes = [node_row(name, state, facts.leader, member, link, core_node)
             for _, _, (name, member, link, core_node, state) in heapq.nsmallest(nodes_limit, ranked)]
    summary = {"nodes": len(ranked), "states": {k: n for k, n in states.items() if n}, "slots": slots,
               "running": running, "as_of": now}
    return {**_mesh_view(core, facts), "nodes": nodes, "summary": summary}


STATUS_SUMMARY_MAX_AGE_S = 1.0
"""How stale a bounded status (``nodes_limit``) may be: it is built at most this often per
``nodes_limit`` and the same reply served in between, so 50 ``top`` windows (each refreshing
once a second) cost the leader one build a second, not fifty (each reads every node: 8 ms at
2,000 nodes, 20-40 ms on a loaded 2-core leader, a stall that dispatch waits behind)."""


class QueryViews:
    """Views kept between requests (one per leader, owned by the request handler): the
    bounded status and the farm's figures (a walk of every job and node, which every open
    monitor asks for every few seconds), rebuilt when older than
    :data:`STATUS_SUMMARY_MAX_AGE_S` (or when the clock went back)."""

    __slots__ = ("status_summaries", "kept_figures")

    def __init__(self) -> None:
        self.status_summaries: dict[int, tuple[float, dict[str, Any]]] = {}
        self.kept_figures: tuple[float, dict[str, Any]] | None = None

    def figures(self, q: QueryContext) -> dict[str, Any]:
        kept = self.kept_figures
        if kept is not None and 0.0 <= q.now - kept[0] < STATUS_SUMMARY_MAX_AGE_S:
            return kept[1]
        # ``shares``: as in the status, so the monitor's jobs view knows whether to offer the Shares tab
        figures = {**q.core.figures(), "shares": q.core.has_shares()}
        self.kept_figures = (q.now, figures)
        return figures

    def status_summary(self, q: QueryContext, nodes_limit: int) -> dict[str, Any]:
        kept = self.status_summaries.get(nodes_limit)
        if kept is not None and 0.0 <= q.now - kept[0] < STATUS_SUMMARY_MAX_AGE_S:
            return kept[1]
        view = status_summary_view(q.core, q.facts(), q.members, nodes_limit, q.now)
        self.status_summaries[nodes_limit] = (q.now, view)
        return view


def _history(q: QueryContext) -> dict[str, Any]:
    """``{"since"?}`` (epoch s; none: every sample kept): the per-minute samples since then, oldest
    first, kept across failovers (at most ``stats.HISTORY_HOURS`` hours), and the totals now."""
    since = q.args.get("since")
    samples = q.stats.since(0.0 if since is None else _seconds("since", since))
    return {"period_s": q.stats.period, "samples": samples,
            "totals": {"done": q.stats.done_total, "failed": q.stats.failed_total}}


def _status(q: QueryContext) -> dict[str, Any]:
    """Every node (no argument), or ``nodes_limit``: a bounded page and a summary (:func:`status_summary_view`)."""
    nodes_limit = q.args.get("nodes_limit")
    if nodes_limit is None:
        return status_view(q.core, q.facts(), q.members)
    if isinstance(nodes_limit, bool) or not isinstance(nodes_limit, int) or not 0 <= nodes_limit <= STATUS_NODES_MAX:
        raise ValueError(f"nodes_limit must be an integer from 0 to {STATUS_NODES_MAX}, not {nodes_limit!r}")
    return q.views.status_summary(q, nodes_limit)


def _cursor(q: QueryContext, kind: type[int] | type[str]) -> Any:
    value = q.args.get("cursor")
    return None if value is None else kind(value)


def _graphs(q: QueryContext) -> dict[str, Any]:
    """Filters (:class:`GraphFilter`), ``limit``, ``cursor``, ``newest_first``: a page of graph views."""
    match = GraphFilter.from_args(q.args).matches
    newest_first = q.args.get("newest_first", False)
    if not isinstance(newest_first, bool):
        raise ValueError(f"newest_first must be true or false, not {newest_first!r}")
    return q.core.graph_page(match, _cursor(q, int), q.args.get("limit"), newest_first).to_map()


def _commands(q: QueryContext) -> dict[str, Any]:
    """``{"id"?, "status"?, "node"?, "limit"?, "cursor"?}``: a page of the commands under a
    node (or all), filtered."""
    node_id = q.args.get("id")
    statuses = _statuses(q.args.get("status"), CommandStatus)
    return q.core.command_page(None if node_id is None else int(node_id), statuses, q.args.get("node") or None,
                               _cursor(q, int), q.args.get("limit")).to_map()


def _render_nodes(q: QueryContext) -> dict[str, Any]:
    """``limit``, ``cursor`` (a name): a page of the core's render nodes."""
    return q.core.render_node_page(_cursor(q, str), q.args.get("limit")).to_map()


QUERIES: dict[str, Callable[[QueryContext], Any]] = {
    # ``puli-mesh status``, ``nodes``, ``top``; ``Farm.status``, ``Farm.nodes``
    # ``{"nodes_limit"?}``: with it a bounded page of nodes and a summary, up to
    # ``STATUS_SUMMARY_MAX_AGE_S`` old (``puli-mesh top``)
    "status": _status,
    # ``Farm.nodes``, ``/api/nodes``, ``puli-mesh nodes``: the status's node rows filtered, sorted
    # and sliced here, so only those asked for travel (``puliclient.query_fields.node_listing``)
    "node_rows": lambda q: node_listing(node_rows(q.core, q.facts(), q.members), q.args),
    # ``puli-mesh jobs`` with its filters (``GraphFilter``), a page at a time; ``Farm.jobs``
    "graphs": _graphs,
    # ``puli-mesh show ID``: ``{"id", "children"?}``
    "graph": lambda q: q.core.graph_tree(int(q.args["id"]), bool(q.args.get("children", True))),
    # one command: ``{"id"}``
    "command": lambda q: q.core.command(int(q.args["id"])),
    # ``puli-mesh commands`` with its filters, a page at a time
    "commands": _commands,
    # the core's render nodes (credit, quarantine, running and queued commands), a page at a time
    "nodes": _render_nodes,
    "licences": lambda q: q.core.licences.stats(),
    "pools": lambda q: q.core.pools(),
    # ``puli-mesh shares list``, ``Farm.shares``: each account's use against its guarantee and cap
    "shares": lambda q: q.core.share_use(),
    # ``puli-mesh shares list``, ``Farm.quotas``: each quota across pools, its use against its max
    "quotas": lambda q: q.core.quota_use(),
    "figures": lambda q: q.views.figures(q),
    # ``puli-mesh stats``: the last hour, a sample a minute
    "stats": lambda q: q.stats.report(q.now, q.views.figures(q)),
    # ``puli-mesh stats --history``, the charts; ``Farm.history``: ``{"since"?}``, a sample a minute
    "history": _history,
}


def answer_query(what: str, q: QueryContext) -> Any:
    """The answer to query ``what``; ``KeyError`` naming the known ones if there is none."""
    handler = QUERIES.get(what)
    if handler is None:
        raise KeyError(f"unknown query {what!r}; known: {', '.join(sorted(QUERIES))}")
    return handler(q)

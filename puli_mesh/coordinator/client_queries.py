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
lists at most ``MAX_FILTER_VALUES`` values.

Errors: an unknown query or a missing argument raises ``KeyError``, a bad filter
``ValueError`` (the client gets ``invalid``); the core raises ``UnknownIdError``
(``not_found``).

Not here: edits (``edit_actions``), reading clocks or sockets (the shell passes what
it knows in), formatting (the CLI does it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.coordinator.stats import FarmStats
from puliclient.patterns import NamePattern, any_matches
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


MAX_FILTER_VALUES = 256
"""Values one filter key may list (ids, users, name patterns...): each is tried on every graph looked at."""


def _bounded(key: str, values: list[Any]) -> list[Any]:
    if len(values) > MAX_FILTER_VALUES:
        raise ValueError(f"{key} filter lists {len(values)} values, above the limit of {MAX_FILTER_VALUES}; "
                         f"narrow it, or use a name pattern")
    return values


@dataclass(frozen=True, slots=True)
class GraphFilter:
    """The graph filters of one query, parsed once: ``id``, ``user``, ``status``, ``name``
    (globs, ``puliclient.patterns``), ``tags`` ({key: value or [values]}), ``pool``, ``since``
    (submitted at or after, epoch s). :meth:`matches` is a few attribute tests per graph."""

    ids: frozenset[int]
    users: frozenset[str]
    pools: frozenset[str]
    statuses: frozenset[int] | None
    names: tuple[NamePattern, ...]
    tags: dict[str, frozenset[str]]
    since: float | None

    @classmethod
    def from_args(cls, args: dict[str, Any]) -> GraphFilter:
        """The filters in a query's ``args``; ``ValueError`` for a bad one (the client gets ``invalid``)."""
        statuses = _statuses(args.get("status"), NodeStatus)
        raw_tags = args.get("tags") or {}
        if not isinstance(raw_tags, dict):
            raise ValueError(f"tags filter must be a map of tag to value(s), not {type(raw_tags).__name__}")
        since = args.get("since")
        return cls(
            ids=frozenset(int(i) for i in _bounded("id", _as_list(args.get("id")))),
            users=frozenset(map(str, _bounded("user", _as_list(args.get("user"))))),
            pools=frozenset(map(str, _bounded("pool", _as_list(args.get("pool"))))),
            statuses=None if statuses is None else frozenset(statuses),
            names=tuple(NamePattern(n) for n in _bounded("name", _as_list(args.get("name")))),
            tags={str(k): frozenset(str(x) for x in _bounded(f"tag {k}", _as_list(v)))
                  for k, v in _bounded("tags", list(raw_tags.items()))},
            since=None if since is None else float(since),
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
        if self.since is not None and (g.creation_time or 0) < self.since:
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


def node_state(member: dict[str, Any] | None, link: LinkFacts | None, core_node: dict[str, Any]) -> str:
    """A node's state as ``puli-mesh status`` shows it, from the first fact that applies."""
    if member is None and link is None:
        return "gone"
    if link is None:
        return "connecting"
    if not link.alive:
        return "silent"
    for flag in ("draining", "paused", "quarantined"):
        if core_node.get(flag):
            return flag
    if (member or {}).get("accepting") is False:
        return "draining"
    return "busy" if core_node.get("running") else "idle"


def status_view(core: SchedulingCore, facts: StatusFacts, members: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The mesh as ``puli-mesh status`` shows it: the leader, the journal, every node known
    to ZooKeeper, to the links or to the core."""
    core_nodes = {n["name"]: n for n in core.render_nodes()}
    nodes = []
    for name in sorted(set(members) | set(facts.links) | set(core_nodes)):
        member = members.get(name)
        core_node = core_nodes.get(name, {})
        link = facts.links.get(name)
        known = member or {}
        nodes.append({
            "name": name,
            "state": node_state(member, link, core_node),
            "leader": name == facts.leader,
            "endpoint": known.get("endpoint", link.endpoint if link else ""),
            "pools": known.get("pools", link.pools if link else []),
            "slots": known.get("slots", core_node.get("slots", 0)),
            "running": len(core_node.get("running", []) or []),
            "running_commands": list(core_node.get("running", []) or []),
            "queued_commands": list(core_node.get("queued", []) or []),  # pipelined, not started
            # the member's data is read after it joins: until then, what its HELLO said
            "cores": known.get("cores", core_node.get("cores", 0)),
            "cpu_percent": known.get("cpu_percent", 0.0),
            "load": known.get("load", 0.0),
            "ram_mb": known.get("ram_mb", core_node.get("ram_mb", 0)),
            "free_ram_mb": known.get("free_ram_mb", core_node.get("free_ram_mb", 0)),
            "version": known.get("version", ""),
            "faults": known.get("faults", 0),  # units of work of that agent that failed (its log says why)
        })
    journal = facts.journal
    return {
        "cluster": facts.cluster,
        "leader": facts.leader,
        "epoch": facts.epoch,
        "secured": facts.secured,
        "nodes": nodes,
        "graphs": core.figures()["graphs"],
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


def _cursor(q: QueryContext, kind: type[int] | type[str]) -> Any:
    value = q.args.get("cursor")
    return None if value is None else kind(value)


def _graphs(q: QueryContext) -> dict[str, Any]:
    """Filters (:class:`GraphFilter`), ``limit``, ``cursor``: a page of graph views."""
    match = GraphFilter.from_args(q.args).matches
    return q.core.graph_page(match, _cursor(q, int), q.args.get("limit")).to_map()


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
    "status": lambda q: status_view(q.core, q.facts(), q.members),
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
    "figures": lambda q: q.core.figures(),
    # ``puli-mesh stats``: the last hour, a sample a minute
    "stats": lambda q: q.stats.report(q.now, q.core.figures()),
}


def answer_query(what: str, q: QueryContext) -> Any:
    """The answer to query ``what``; ``KeyError`` naming the known ones if there is none."""
    handler = QUERIES.get(what)
    if handler is None:
        raise KeyError(f"unknown query {what!r}; known: {', '.join(sorted(QUERIES))}")
    return handler(q)

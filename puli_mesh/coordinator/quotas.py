"""Quotas across pools: per user and per project, a cap on the commands they hold, whatever the pool.

A quota is ``(kind, name) -> max``: kind ``user`` (a job's user) or ``project`` (its project, as
for share trees: ``shares.project_of``). A job whose user or project holds ``max`` commands
(assigned, running, finishing, sent ahead) gets no new slot in any pool until one of them ends.

Use is counted per quota (:class:`QuotaCounter`), charged in ``assignment.reserve`` and given
back in ``lifecycle.release_run``; it is derived from the running commands, so a restored core
rebuilds it (:func:`set_quotas` binds every job). A job met at its quota by a pick is *parked*
out of the ready index (as a job at its maxRN is) and woken when the counter goes below its max.

Guarantees: pure (no I/O, no clock); a farm without quotas pays one test per decision
(``st.quotas`` in ``reserve``, ``pick``, ``release_run``); a quota is never exceeded by an
assignment, commands sent ahead included; :func:`parse_quotas` refuses a malformed definition
with ``ValueError`` before it is journalled.
Known limits: a job's counters are cached by graph id while quotas exist (an archived job's
entry stays until the quotas change).
Not here: where the definitions are kept (``share_store``, fed by ``node.share_feed``).
"""

from __future__ import annotations

from typing import Any

from puli_mesh.coordinator import pools as pools_mod
from puli_mesh.coordinator.shares import check_path, project_of
from puli_mesh.coordinator.state import CoreState
from puli_mesh.coordinator.tree import GraphNode
from puli_mesh.limits import INT64_MAX

QUOTA_KINDS = ("user", "project")
"""What a quota may cap: a user's commands, or a project's."""

MAX_QUOTAS = 10_000
"""Quotas a farm may define: a bound for hostile input."""


class QuotaCounter:
    """One quota's cap, its use, and the jobs parked on it."""

    __slots__ = ("key", "max", "use", "parked")

    def __init__(self, key: tuple[str, str], cap: int) -> None:
        self.key = key
        self.max = cap
        self.use = 0
        self.parked: dict[int, GraphNode] = {}  # graph id -> a job parked while this quota is full

    @property
    def full(self) -> bool:
        """Whether its commands are at its max: no job charged to it gets a new slot."""
        return self.use >= self.max


def parse_quotas(rows: Any) -> dict[tuple[str, str], int]:
    """``[[kind, name, max], ...]`` (the journalled form) checked, as (kind, name) -> max (>= 1)."""
    if not isinstance(rows, list) or len(rows) > MAX_QUOTAS:
        raise ValueError(f"quotas are a list of at most {MAX_QUOTAS} [kind, name, max]")
    out: dict[tuple[str, str], int] = {}
    for row in rows:
        key, cap = check_quota(row)
        out[key] = cap
    return out


def check_quota(row: Any, least: int = 1) -> tuple[tuple[str, str], int]:
    """``[kind, name, max]`` checked, with ``max`` from ``least`` (0 where it means "remove")."""
    if not isinstance(row, (list, tuple)) or len(row) != 3 or row[0] not in QUOTA_KINDS:
        raise ValueError(f"a quota is [user|project, name, max], got {str(row)[:60]!r}")
    (name,) = check_path(row[1:2])
    cap = row[2]
    if isinstance(cap, bool) or not isinstance(cap, int) or not least <= cap <= INT64_MAX:
        raise ValueError(f"a quota's max must be a whole number from {least} to {INT64_MAX}, got {cap!r}")
    return (row[0], name), cap


def quota_rows(limits: dict[tuple[str, str], int]) -> list[list[Any]]:
    """The journalled (and snapshotted) form of the quotas, sorted."""
    return [[kind, name, cap] for (kind, name), cap in sorted(limits.items())]


def counters_of(st: CoreState, graph: GraphNode) -> tuple[QuotaCounter, ...]:
    """The quotas ``graph`` is charged to (cached by graph id)."""
    got = st.quota_of.get(graph.id)
    if got is None:
        keys = (("user", graph.user), ("project", project_of(graph.tags)))
        got = st.quota_of[graph.id] = tuple(st.quotas[k] for k in keys if k in st.quotas)
    return got


def set_quotas(st: CoreState, limits: dict[tuple[str, str], int]) -> None:
    """The quotas are ``limits`` from now on: counters rebuilt from the running commands; the jobs
    parked on a quota wake (the next pick parks those still at one)."""
    woken = [g for c in st.quotas.values() for g in c.parked.values()]
    st.quotas = {k: QuotaCounter(k, cap) for k, cap in sorted(limits.items())}
    st.quota_of = {}
    for g in st.graphs.values():
        if g.running:
            for c in counters_of(st, g):
                c.use += g.running
    for g in woken:
        wake(st, g)


def moved(st: CoreState, graph: GraphNode) -> None:
    """``graph``'s user or tags changed: its commands move to its new quotas."""
    if not st.quotas:
        return
    for c in counters_of(st, graph):
        c.use -= graph.running
    del st.quota_of[graph.id]
    for c in counters_of(st, graph):
        c.use += graph.running
    wake(st, graph)


def full(st: CoreState, graph: GraphNode) -> bool:
    """Whether ``graph``'s user or project is at its quota."""
    return any(c.full for c in counters_of(st, graph))


def blocked(st: CoreState, graph: GraphNode) -> bool:
    """If ``graph`` is at a quota, park it (out of every queue until that quota has room)."""
    over = [c for c in counters_of(st, graph) if c.full]
    if not over:
        return False
    graph.parked = True
    pools_mod.push_graph(graph, st.pools[graph.pool])  # parked: its entries become stale
    for c in over:
        c.parked[graph.id] = graph
    return True


def charge(st: CoreState, graph: GraphNode, n: int) -> None:
    """``n`` more (or fewer) commands held by ``graph``; a quota that gets room wakes its jobs."""
    for c in counters_of(st, graph):
        c.use += n
        if n < 0 and c.parked and not c.full:
            parked, c.parked = c.parked, {}
            for g in parked.values():
                wake(st, g)


def wake(st: CoreState, graph: GraphNode) -> None:
    """Put a job parked on a quota back in the ready index (unless its maxRN still parks it)."""
    if graph.parked and not 0 < graph.max_rn <= graph.running and graph.pool in st.pools:
        graph.parked = False
        pools_mod.push_graph(graph, st.pools[graph.pool])
        st.dirty_pools[graph.pool] = None


def use_rows(st: CoreState) -> list[dict[str, Any]]:
    """Each quota: kind, name, max and use."""
    return [{"kind": c.key[0], "name": c.key[1], "max": c.max, "use": c.use} for c in st.quotas.values()]

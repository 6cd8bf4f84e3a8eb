"""The core's share trees: defining a pool's accounts, moving a job between accounts, the use view.

A base class of :class:`~puli_mesh.coordinator.core.SchedulingCore` (as ``core_views`` is), so the
facade stays one object. The rule itself is ``shares`` (pure); here the ready index is rebuilt
when a pool's tree or a job's account changes: a pool's queues are per (signature, account)
once it has a tree, per signature otherwise.

Guarantees: defining the same accounts again changes nothing (a new ``preempt_after`` only
changes whether and when borrowers are preempted); a job's holding commands move
with it from account to account (its use is derived from them); every change is an edit, so it is
journalled and replayed, and a snapshot keeps the definitions (``snapshot``).
Not here: the ordering rule (``shares``), where definitions are kept (the leader's feed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from puli_mesh.coordinator import lifecycle, preemption, quotas
from puli_mesh.coordinator import pools as pools_mod
from puli_mesh.coordinator.decisions import Decision
from puli_mesh.coordinator.shares import ShareSpec, ShareTree, account_rows, project_of
from puli_mesh.coordinator.state import CoreState
from puli_mesh.coordinator.tree import GraphNode, iter_tasks
from puli_mesh.errors import UnknownPoolError


def reindex_graph(st: CoreState, graph: GraphNode) -> None:
    """Take ``graph`` out of its pool's index and put it back: its account may have changed."""
    pool = st.pools[graph.pool]
    pools_mod.detach_graph(graph, pool)
    graph.parked = False
    pool.graphs[graph.id] = graph
    pools_mod.bind_share(graph, pool)
    pools_mod.set_active(graph, pool, graph.n_ready > 0 or graph.running > 0)
    for t in iter_tasks(graph):
        lifecycle.make_available(st, t)
    st.dirty_pools[graph.pool] = None


def account_moved(st: CoreState, graph: GraphNode) -> None:
    """``graph``'s user or tags changed: if that changes its account, re-index it."""
    account = graph.share
    if account is not None and account.path != (project_of(graph.tags), graph.user):
        reindex_graph(st, graph)
    quotas.moved(st, graph)


def set_share_tree(st: CoreState, pool_name: str, specs: dict[tuple[str, ...], ShareSpec],
                   preempt_after: float | None = None) -> None:
    """``pool_name``'s accounts are ``specs`` from now on (none: the pool has no tree), preempting
    commands older than ``preempt_after`` seconds (None: never; ``preemption``)."""
    pool = st.pools.get(pool_name)
    if pool is None:
        raise UnknownPoolError(f"pool {pool_name!r} is not defined (known: {', '.join(sorted(st.pools))})")
    current = pool.shares
    preemption.register(st, pool_name, preempt_after if specs else None)
    if (current.specs if current is not None else {}) == specs and (current is not None) == bool(specs):
        if current is not None:
            current.preempt_after = preempt_after
        return
    graphs = list(pool.graphs.values())
    for g in graphs:
        pools_mod.detach_graph(g, pool)
    pool.drop_queues()  # the queues were per account (or per signature): rebuilt below
    pool.shares = ShareTree(specs, preempt_after) if specs else None
    for g in graphs:
        g.parked = False
        pool.graphs[g.id] = g
        pools_mod.bind_share(g, pool)
        pools_mod.set_active(g, pool, g.n_ready > 0 or g.running > 0)
        for t in iter_tasks(g):
            lifecycle.make_available(st, t)
    st.dirty_pools[pool_name] = None


class CoreShares:
    """The share-tree half of the core's facade (module docstring)."""

    _st: CoreState

    _start: Callable[[float], None]  # SchedulingCore's
    _done: Callable[[float], list[Decision]]

    def set_shares(self, pool: str, specs: dict[tuple[str, ...], ShareSpec], now: float,
                   preempt_after: float | None = None) -> list[Decision]:
        """Define ``pool``'s share tree (``{}``: none), preempting borrowers' commands older than
        ``preempt_after`` seconds (None: never); work may move (and be preempted) at once."""
        self._start(now)
        set_share_tree(self._st, pool, specs, preempt_after)
        return self._done(now)

    def set_quotas(self, limits: dict[tuple[str, str], int], now: float) -> list[Decision]:
        """The quotas across pools are ``limits`` ((``user``|``project``, name) -> max) from now on."""
        self._start(now)
        quotas.set_quotas(self._st, limits)
        return self._done(now)

    def quota_rows(self) -> list[list[Any]]:
        """The quotas, as journalled (``quotas.quota_rows``)."""
        return quotas.quota_rows({c.key: c.max for c in self._st.quotas.values()})

    def quota_use(self) -> list[dict[str, Any]]:
        """Each quota's use against its max."""
        return quotas.use_rows(self._st)

    def share_preempt(self) -> dict[str, float]:
        """Each preempting pool's ``preempt_after`` (pools that never preempt are left out)."""
        return {name: p.shares.preempt_after for name, p in sorted(self._st.pools.items())
                if p.shares is not None and p.shares.preempt_after is not None}

    def preempt_due(self, now: float) -> bool:
        """Whether a borrower's command becomes old enough to preempt by ``now`` while a guarantee
        waits (``tick`` then preempts it: the shell journals a tick for it)."""
        return preemption.wake_at(self._st) <= now

    def has_shares(self) -> bool:
        """Whether some pool has a share tree or some quota exists: what ``top`` and the monitor
        poll (``QUERY status``, ``figures``) to know whether to ask for the shares at all."""
        return bool(self._st.quotas) or any(p.shares is not None for p in self._st.pools.values())

    def share_rows(self) -> dict[str, list[list[Any]]]:
        """Every pool's definitions, as journalled (``shares.account_rows``)."""
        return {name: account_rows(p.shares.specs) for name, p in sorted(self._st.pools.items())
                if p.shares is not None}

    def share_use(self) -> list[dict[str, Any]]:
        """Each account's use against its guarantee and cap, and its waiting (READY) work, pool by pool."""
        out = []
        for name, p in sorted(self._st.pools.items()):
            if p.shares is not None:
                for row in p.shares.listing(p.graphs.values()):
                    out.append({"pool": name, **row})
        return out

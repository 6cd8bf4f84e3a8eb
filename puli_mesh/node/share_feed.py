"""The leader feeds the share trees kept in ZooKeeper into its core, as journalled edits.

A tree (or a quota) changes through a ``SETTINGS`` request the leader itself answers
(``share_set``, ``share_remove``, ``share_preempt``, ``share_quota``): the desk calls :func:`feed`
right after writing ZooKeeper, so the change
takes effect at the next free slot. A new leader calls it once it has replayed the journal:
the trees are already in its core (the ``pool_shares`` edits are journalled and snapshotted),
unless a leader died between writing ZooKeeper and journalling the edit.

Guarantees: only a pool whose tree differs from the core's is fed, with one ``pool_shares``
edit (journalled, so a successor replays the same decisions); a tree for a pool the core does
not know is logged and left for the next feed, never fatal.
Not here: the rule (``coordinator.shares``), ZooKeeper's layout (``share_store``).
"""

from __future__ import annotations

import logging
import time

from kazoo.client import KazooClient

from puli_mesh import share_store
from puli_mesh.coordinator.records import EditRecord
from puli_mesh.coordinator.service import CoordinatorService
from puli_mesh.errors import CoreError
from puli_mesh.zkpaths import ClusterPaths

log = logging.getLogger(__name__)

SHARE_ACTIONS = frozenset({"share_set", "share_remove", "share_preempt", "share_quota"})
"""The ``SETTINGS`` actions after which the desk feeds the trees."""


def feed(zk: KazooClient, paths: ClusterPaths, service: CoordinatorService) -> int:
    """Bring the core's share trees and quotas to what ZooKeeper holds; how many pools (or the
    quotas) changed."""
    changed = 0
    quotas = share_store.read_quotas(zk, paths)
    if quotas != service.core.quota_rows():
        try:
            service.run(EditRecord("share_quotas", {"quotas": quotas}, time.time()))
            changed += 1
        except CoreError as exc:
            log.warning("quotas not applied: %s", exc)
    wanted = share_store.read_trees(zk, paths)
    known = service.core.share_rows()
    preempting = service.core.share_preempt()
    pools = {p["name"] for p in service.core.pools()}
    for pool in sorted(set(wanted) | set(known)):
        tree = wanted.get(pool, share_store.PoolShares([]))
        after = tree.preempt_after if tree.rows else None  # a pool without accounts has no tree to preempt with
        if tree.rows == known.get(pool, []) and after == preempting.get(pool):
            continue
        if pool not in pools:  # not journalled: the record would be refused on every replay too
            log.warning("share tree of pool %s not applied: no such pool (`puli-mesh pools add %s`)", pool, pool)
            continue
        args: dict[str, object] = {"pool": pool, "accounts": tree.rows}
        if after is not None:  # absent when off: the edit as journalled before preemption existed
            args["preempt_after"] = after
        try:
            service.run(EditRecord("pool_shares", args, time.time()))
            changed += 1
        except CoreError as exc:
            log.warning("share tree of pool %s not applied: %s", pool, exc)
    return changed

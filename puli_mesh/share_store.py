"""Share trees in ZooKeeper: ``shares/<pool>`` holds one pool's accounts as JSON rows.

Each znode's data is ``[[account, min, max, weight], ...]`` (``coordinator.shares.account_rows``),
the form the leader journals (the ``pool_shares`` edit), or, for a pool whose tree preempts,
``{"accounts": [...], "preempt_after": seconds}``. An account or the preemption is changed by
rewriting its pool's znode with a version check, so two operators' concurrent changes both land.

The quotas across pools are one znode, ``share_quotas``: ``[[user|project, name, max], ...]``
(``coordinator.quotas.quota_rows``), changed the same way.

Guarantees: what is written has passed ``coordinator.shares.parse_accounts``; an unreadable
znode is left out of :func:`read_trees` and logged, never fatal.
Not here: who may change them (``access``), feeding them to the core (``node.share_feed``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError

from puli_mesh import zk_access
from puli_mesh.coordinator.quotas import parse_quotas, quota_rows
from puli_mesh.coordinator.shares import ShareSpec, account_rows, check_preempt_after, parse_accounts
from puli_mesh.zkpaths import ClusterPaths

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PoolShares:
    """One pool's share tree as kept: its rows (``account_rows``) and ``preempt_after`` (None: off)."""

    rows: list[list[Any]]
    preempt_after: float | None = None


def parse_tree(data: Any) -> tuple[dict[tuple[str, ...], ShareSpec], float | None]:
    """A znode's decoded JSON (either form) checked: the accounts and ``preempt_after``."""
    if isinstance(data, dict):
        if set(data) - {"accounts", "preempt_after"}:
            raise ValueError(f"a share tree holds accounts and preempt_after, got {sorted(data)[:5]}")
        return parse_accounts(data.get("accounts", [])), check_preempt_after(data.get("preempt_after"))
    return parse_accounts(data), None


def tree_data(specs: dict[tuple[str, ...], ShareSpec], preempt_after: float | None) -> bytes:
    """What a pool's znode holds: the plain rows unless the tree preempts (older agents read those)."""
    rows = account_rows(specs)
    return json.dumps(rows if preempt_after is None else {"accounts": rows, "preempt_after": preempt_after}).encode()


def read_trees(zk: KazooClient, paths: ClusterPaths) -> dict[str, PoolShares]:
    """Every pool's readable share tree, by pool name."""
    trees: dict[str, PoolShares] = {}
    for pool, data in zk_access.children_data(zk, paths.shares).items():
        try:
            specs, after = parse_tree(json.loads(data.decode()))
            trees[pool] = PoolShares(account_rows(specs), after)
        except (ValueError, UnicodeDecodeError, TypeError) as exc:
            log.warning("share tree znode %s is unreadable, left out: %s", pool, exc)
    return trees


def _written(zk: KazooClient, paths: ClusterPaths, znode: str, payload: bytes, version: int,
             parent: str | None = None) -> bool:
    """Write ``payload`` over ``version`` of ``znode`` (-1: create it, and ``parent`` first if
    given); False if someone changed it meanwhile (read it again and retry)."""
    try:
        if version < 0:
            credential = zk_access.client_credential(zk)
            if parent is not None:
                zk_access.ensure_znode(zk, paths, parent, credential)
            zk.create(znode, payload, acl=zk_access.acl_for(paths, znode, credential))
        else:
            zk.set(znode, payload, version=version)
        return True
    except (BadVersionError, NodeExistsError):
        return False


NOT_CHANGED = object()
"""``_change``'s ``spec`` and ``preempt_after`` when that part is kept as it is."""


def _change(zk: KazooClient, paths: ClusterPaths, pool: str, path: tuple[str, ...] | None,
            spec: Any, preempt_after: Any = NOT_CHANGED) -> bool:
    """Set (``spec``) or remove (None) one account of ``pool``, and/or set its ``preempt_after``;
    whether the account existed before."""
    znode = paths.share(pool)
    while True:
        try:
            data, stat = zk.get(znode)
            specs, after = parse_tree(json.loads(data.decode()))
            version = stat.version
        except NoNodeError:
            specs, after, version = {}, None, -1
        existed = path in specs
        if path is not None and spec is None:
            specs.pop(path, None)
        elif path is not None and spec is not NOT_CHANGED:
            specs[path] = spec
        if preempt_after is not NOT_CHANGED:
            after = preempt_after
        if _written(zk, paths, znode, tree_data(specs, after), version, parent=paths.shares):
            return existed


def set_preempt(zk: KazooClient, paths: ClusterPaths, pool: str, preempt_after: float | None) -> None:
    """``pool``'s tree preempts borrowers' commands older than ``preempt_after`` seconds (None: never)."""
    _change(zk, paths, pool, None, NOT_CHANGED, preempt_after)


def set_account(zk: KazooClient, paths: ClusterPaths, pool: str, path: tuple[str, ...], spec: ShareSpec) -> None:
    """Define account ``path`` of ``pool`` or change its figures."""
    _change(zk, paths, pool, path, spec)


def remove_account(zk: KazooClient, paths: ClusterPaths, pool: str, path: tuple[str, ...]) -> bool:
    """Remove account ``path`` of ``pool`` (its jobs fall back to an implicit account); whether it existed."""
    return _change(zk, paths, pool, path, None)


def read_quotas(zk: KazooClient, paths: ClusterPaths) -> list[list[Any]]:
    """The quotas across pools, as rows (none if unset or unreadable: logged)."""
    try:
        data, _stat = zk.get(paths.share_quotas)
    except NoNodeError:
        return []
    try:
        return quota_rows(parse_quotas(json.loads(data.decode())))
    except (ValueError, UnicodeDecodeError, TypeError) as exc:
        log.warning("quotas znode is unreadable, left out: %s", exc)
        return []


def set_quota(zk: KazooClient, paths: ClusterPaths, kind: str, name: str, cap: int) -> bool:
    """Quota ``(kind, name)`` is ``cap`` (0: removed); whether it existed before."""
    znode = paths.share_quotas
    while True:
        try:
            data, stat = zk.get(znode)
            limits, version = parse_quotas(json.loads(data.decode())), stat.version
        except NoNodeError:
            limits, version = {}, -1
        existed = (kind, name) in limits
        if cap:
            limits[(kind, name)] = cap
        else:
            limits.pop((kind, name), None)
        if _written(zk, paths, znode, json.dumps(quota_rows(limits)).encode(), version):
            return existed

"""Share trees in ZooKeeper: ``shares/<pool>`` holds one pool's accounts as JSON rows.

Each znode's data is ``[[account, min, max, weight], ...]`` (``coordinator.shares.account_rows``),
the form the leader journals (the ``pool_shares`` edit). An account is changed by rewriting its
pool's znode with a version check, so two operators' concurrent changes both land.

Guarantees: what is written has passed ``coordinator.shares.parse_accounts``; an unreadable
znode is left out of :func:`read_trees` and logged, never fatal.
Not here: who may change them (``access``), feeding them to the core (``node.share_feed``).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError

from puli_mesh import zk_access
from puli_mesh.coordinator.shares import ShareSpec, account_rows, parse_accounts
from puli_mesh.zkpaths import ClusterPaths

log = logging.getLogger(__name__)


def read_trees(zk: KazooClient, paths: ClusterPaths) -> dict[str, list[list[Any]]]:
    """Every pool's readable share tree, as rows, by pool name."""
    trees: dict[str, list[list[Any]]] = {}
    for pool, data in zk_access.children_data(zk, paths.shares).items():
        try:
            trees[pool] = account_rows(parse_accounts(json.loads(data.decode())))
        except (ValueError, UnicodeDecodeError, TypeError) as exc:
            log.warning("share tree znode %s is unreadable, left out: %s", pool, exc)
    return trees


def _change(zk: KazooClient, paths: ClusterPaths, pool: str, path: tuple[str, ...],
            spec: ShareSpec | None) -> bool:
    """Set (``spec``) or remove (None) one account of ``pool``; whether it existed before."""
    znode = paths.share(pool)
    while True:
        try:
            data, stat = zk.get(znode)
            specs = parse_accounts(json.loads(data.decode()))
            version = stat.version
        except NoNodeError:
            specs, version = {}, -1
        existed = path in specs
        if spec is None:
            specs.pop(path, None)
        else:
            specs[path] = spec
        payload = json.dumps(account_rows(specs)).encode()
        try:
            if version < 0:
                credential = zk_access.client_credential(zk)
                zk_access.ensure_znode(zk, paths, paths.shares, credential)
                zk.create(znode, payload, acl=zk_access.acl_for(paths, znode, credential))
            else:
                zk.set(znode, payload, version=version)
            return existed
        except (BadVersionError, NodeExistsError):
            continue  # changed meanwhile: read it again


def set_account(zk: KazooClient, paths: ClusterPaths, pool: str, path: tuple[str, ...], spec: ShareSpec) -> None:
    """Define account ``path`` of ``pool`` or change its figures."""
    _change(zk, paths, pool, path, spec)


def remove_account(zk: KazooClient, paths: ClusterPaths, pool: str, path: tuple[str, ...]) -> bool:
    """Remove account ``path`` of ``pool`` (its jobs fall back to an implicit account); whether it existed."""
    return _change(zk, paths, pool, path, None)

"""Small control data a cluster keeps in ZooKeeper: leader pointer, licences, pools, members.

Values are JSON so an operator can read them with ``zkCli.sh``. This module
reads and writes them; watching them is the caller's business. Every znode it creates carries
the ACL of ``zk_access.acl_for`` for the credential of the client it is given: readable by
anyone, writable only with the cluster's credential.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import NodeExistsError, NoNodeError

from puli_mesh import zk_access
from puli_mesh.errors import ConfigError
from puli_mesh.zk_access import ZooKeeperCredential
from puli_mesh.zkpaths import ClusterPaths


@dataclass(frozen=True)
class LeaderInfo:
    name: str
    endpoint: str
    epoch: int


def dump(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True).encode()


def load(data: bytes | None) -> Any:
    if not data:
        return None
    try:
        return json.loads(data.decode())
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None


def parse_leader(data: bytes | None) -> LeaderInfo | None:
    """The leader znode's content, or None if absent or unreadable."""
    raw = load(data)
    if not isinstance(raw, dict):
        return None
    try:
        return LeaderInfo(name=str(raw["name"]), endpoint=str(raw["endpoint"]), epoch=int(raw["epoch"]))
    except (KeyError, TypeError, ValueError):
        return None


def read_leader(zk: KazooClient, paths: ClusterPaths) -> LeaderInfo | None:
    try:
        data, _ = zk.get(paths.leader)
    except NoNodeError:
        return None
    return parse_leader(data)


def publish_leader(zk: KazooClient, paths: ClusterPaths, leader: LeaderInfo,
                   credential: ZooKeeperCredential | None) -> None:
    """Write the (ephemeral) leader znode: readable by anyone, written only with the credential."""
    data = dump({"name": leader.name, "endpoint": leader.endpoint, "epoch": leader.epoch})
    try:
        zk.create(paths.leader, data, ephemeral=True, acl=zk_access.acl_for(paths, paths.leader, credential))
    except NodeExistsError:
        zk.set(paths.leader, data)


def validate_name(kind: str, name: str) -> str:
    if not name or "/" in name or name.startswith(".") or any(c.isspace() for c in name):
        raise ConfigError(f"{kind} name {name!r} is invalid: use letters, digits, '-', '_' or '.'")
    return name


def set_licence(zk: KazooClient, paths: ClusterPaths, name: str, total: int) -> None:
    validate_name("licence", name)
    if total < 0:
        raise ConfigError(f"licence {name!r}: total must be 0 or more, got {total}")
    path = paths.licence(name)
    credential = zk_access.client_credential(zk)
    zk_access.ensure_znode(zk, paths, paths.licences, credential)
    try:
        zk.create(path, dump(total), acl=zk_access.acl_for(paths, path, credential))
    except NodeExistsError:
        zk.set(path, dump(total))


def read_licences(zk: KazooClient, paths: ClusterPaths) -> dict[str, int]:
    totals = {name: load(data) for name, data in zk_access.children_data(zk, paths.licences).items()}
    return {name: total for name, total in totals.items() if isinstance(total, int)}


def define_pool(zk: KazooClient, paths: ClusterPaths, name: str) -> None:
    validate_name("pool", name)
    zk_access.ensure_znode(zk, paths, paths.pool(name), zk_access.client_credential(zk))


def ensure_shared(zk: KazooClient, paths: ClusterPaths, credential: ZooKeeperCredential | None) -> None:
    """Make the parents a leader watches exist (members, licences, pools), readable by anyone."""
    for path in (paths.nodes, paths.licences, paths.pools):
        zk_access.ensure_znode(zk, paths, path, credential)


def read_pools(zk: KazooClient, paths: ClusterPaths) -> list[str]:
    try:
        return sorted(zk.get_children(paths.pools))
    except NoNodeError:
        return []


def read_members(zk: KazooClient, paths: ClusterPaths) -> dict[str, dict[str, Any]]:
    """Every live agent's registration data, by name."""
    members = {name: load(data) for name, data in zk_access.children_data(zk, paths.nodes).items()}
    return {name: value if isinstance(value, dict) else {} for name, value in members.items()}

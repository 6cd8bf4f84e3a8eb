"""Event hooks in ZooKeeper: the hooks themselves, and how far each one was delivered.

``hooks/<name>`` holds a :class:`~puli_mesh.hooks.Hook` (JSON), written by the leader for an
operator's ``SETTINGS`` request; ``hook_marks/<name>`` holds the sequence number of the last
event the leader's delivery gave that hook (or gave up on). Both are private to the cluster's
credential (a URL may carry a receiver's token): clients list hooks through the leader.

Guarantees: a mark is written in a transaction that checks the epoch znode's version, so a
deposed leader's delivery cannot move a mark (``FencedError``); an unreadable hook znode is left
out of :func:`read_hooks` and logged, never fatal.

Not here: what a hook is (``puli_mesh.hooks``), who may change them (``access``), delivering.
"""

from __future__ import annotations

import json
import logging

from kazoo.client import KazooClient
from kazoo.exceptions import NodeExistsError, NoNodeError, RolledBackError

from puli_mesh import zk_access
from puli_mesh.errors import ConfigError, FencedError
from puli_mesh.hooks import Hook, check_count
from puli_mesh.zkpaths import ClusterPaths

log = logging.getLogger(__name__)


def read_hooks(zk: KazooClient, paths: ClusterPaths) -> dict[str, Hook]:
    """Every readable hook by name."""
    hooks: dict[str, Hook] = {}
    for name, data in zk_access.children_data(zk, paths.hooks).items():
        try:
            hooks[name] = Hook.from_data(json.loads(data.decode()))
        except (ConfigError, ValueError, UnicodeDecodeError, TypeError) as exc:
            log.warning("hook znode %s is unreadable, left out: %s", name, exc)
    return hooks


def write_hook(zk: KazooClient, paths: ClusterPaths, hook: Hook) -> None:
    """Add ``hook`` or replace the one of that name (within ``hooks.MAX_HOOKS``)."""
    credential = zk_access.client_credential(zk)
    zk_access.ensure_znode(zk, paths, paths.hooks, credential)
    check_count(list(zk.get_children(paths.hooks)), hook.name)
    data = json.dumps(hook.to_data(), sort_keys=True).encode()
    path = paths.hook(hook.name)
    try:
        zk.create(path, data, acl=zk_access.private_acl(credential))
    except NodeExistsError:
        zk.set(path, data)


def remove_hook(zk: KazooClient, paths: ClusterPaths, name: str) -> bool:
    """Remove hook ``name`` and its mark; whether it existed."""
    found = True
    try:
        zk.delete(paths.hook(name))
    except NoNodeError:
        found = False
    try:
        zk.delete(paths.hook_mark(name))
    except NoNodeError:
        pass
    return found


def read_marks(zk: KazooClient, paths: ClusterPaths) -> dict[str, int]:
    """Each hook's mark (the last event sequence number given to it); a hook without one has none."""
    marks: dict[str, int] = {}
    for name, data in zk_access.children_data(zk, paths.hook_marks).items():
        try:
            marks[name] = int(data.decode())
        except (ValueError, UnicodeDecodeError):
            log.warning("hook mark %s is unreadable, taken as none", name)
    return marks


def write_mark(zk: KazooClient, paths: ClusterPaths, name: str, seq: int, epoch_version: int) -> None:
    """Set hook ``name``'s mark to ``seq``, fenced by the epoch (``FencedError``: a newer leader)."""
    credential = zk_access.client_credential(zk)
    path = paths.hook_mark(name)
    if zk.exists(path) is None:
        zk_access.ensure_znode(zk, paths, paths.hook_marks, credential)
        try:
            zk.create(path, b"0", acl=zk_access.private_acl(credential))
        except NodeExistsError:
            pass
    tx = zk.transaction()
    tx.check(paths.epoch, epoch_version)
    tx.set_data(path, str(seq).encode())
    results = tx.commit()
    if results and isinstance(results[0], Exception) and not isinstance(results[0], RolledBackError):
        raise FencedError(f"hook mark {name!r} not written: the epoch moved (a newer leader exists)")
    failed = [r for r in results if isinstance(r, Exception) and not isinstance(r, RolledBackError)]
    if failed:
        raise failed[0]


class ZooKeeperHookStore:
    """What one leader's delivery (``coordinator.hook_delivery``) reads and writes, bound to its
    epoch (the epoch znode's version when it took it)."""

    def __init__(self, zk: KazooClient, paths: ClusterPaths, epoch_version: int) -> None:
        self.zk = zk
        self.paths = paths
        self.epoch_version = epoch_version

    def read_hooks(self) -> dict[str, Hook]:
        return read_hooks(self.zk, self.paths)

    def read_marks(self) -> dict[str, int]:
        return read_marks(self.zk, self.paths)

    def write_mark(self, name: str, seq: int) -> None:
        write_mark(self.zk, self.paths, name, seq, self.epoch_version)

    def still_leading(self) -> bool:
        """Whether the epoch znode is still at this leader's version (no newer leader)."""
        stat = self.zk.exists(self.paths.epoch)
        return stat is not None and stat.version == self.epoch_version

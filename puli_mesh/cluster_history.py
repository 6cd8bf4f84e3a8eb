"""Where the leader keeps the farm's per-minute figures in ZooKeeper, for the next leader.

One znode an hour (``ClusterPaths.history_hour``: ``history/h-<hours since the epoch>``), JSON
(an operator reads it with ``zkCli.sh``), holding that hour's samples (``coordinator.stats``):
the leader rewrites the hour of each minute it closes (one asynchronous write a minute: nothing
for the loop to wait on, nothing per node or per command) and deletes the hours older than
the ones it keeps; a new leader reads every hour back when it takes over. An hour is at most 60
samples that name at most ``stats.SAMPLE_KEYS_MAX`` pools and licences: far below ZooKeeper's
1 MB node limit.

Guarantees: a znode that is unreadable or holds something else than a list of samples is
skipped (logged), never a failed takeover; the znodes get the cluster's private ACL
(``zk_access.acl_for``). Not here: what a sample holds and which hours are kept
(``coordinator.stats``); fencing: a deposed leader's last write of an hour may land after its
successor's, which costs at most a minute of figures, never the scheduling state.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, NoNodeError
from kazoo.interfaces import IAsyncResult

from puli_mesh import zk_access
from puli_mesh.zkpaths import ClusterPaths

log = logging.getLogger(__name__)

PREFIX = "h-"


def parse_hour(data: bytes | None) -> list[dict[str, Any]]:
    """The samples a znode holds; [] for anything that is not a list of samples with a start."""
    try:
        raw = json.loads((data or b"").decode())
    except (UnicodeDecodeError, json.JSONDecodeError):
        return []
    if not isinstance(raw, list):
        return []
    return [s for s in raw if isinstance(s, dict) and isinstance(s.get("start"), int | float)
            and not isinstance(s.get("start"), bool)]


class ZooKeeperHistory:
    """The history store of one cluster (the service's ``HistoryStore``)."""

    def __init__(self, zk: KazooClient, paths: ClusterPaths) -> None:
        self.zk = zk
        self.paths = paths
        self.credential = zk_access.client_credential(zk)

    def read(self) -> list[dict[str, Any]]:
        """Every sample kept, in any order (blocking: at takeover)."""
        try:
            names = self.zk.get_children(self.paths.history)
        except NoNodeError:
            return []
        samples: list[dict[str, Any]] = []
        for name in names:
            try:
                data, _ = self.zk.get(f"{self.paths.history}/{name}")
            except NoNodeError:
                continue
            hour = parse_hour(data)
            if not hour and data:
                log.warning("farm history %s is unreadable: skipped", name)
            samples.extend(hour)
        return samples

    def write_hour(self, hour: int, samples: list[dict[str, Any]], keep_from: int | None) -> None:
        """Store ``hour``'s samples, and drop the hours before ``keep_from`` (asynchronous)."""
        path = self.paths.history_hour(hour)
        data = json.dumps(samples, sort_keys=True, separators=(",", ":")).encode()

        def written(result: IAsyncResult) -> None:  # on a kazoo thread
            try:
                result.get()
            except NoNodeError:  # a new hour: create it (and the parent, the first time)
                self._create(path, data)
            except KazooException as exc:
                log.warning("farm history of hour %d not written: %s", hour, exc)

        self.zk.set_async(path, data).rawlink(written)
        if keep_from is not None and samples and len(samples) == 1:  # once an hour, when it begins
            self._drop_before(keep_from)

    def _create(self, path: str, data: bytes) -> None:
        # makepath gives ``history`` the hour's ACL: the private one acl_for gives both
        def created(result: IAsyncResult) -> None:  # on a kazoo thread
            try:
                result.get()
            except KazooException as exc:
                log.warning("farm history %s not created: %s", path, exc)

        acl = zk_access.acl_for(self.paths, path, self.credential)
        self.zk.create_async(path, data, acl=acl, makepath=True).rawlink(created)

    def _drop_before(self, keep_from: int) -> None:
        def listed(result: IAsyncResult) -> None:  # on a kazoo thread
            try:
                names = result.get()
            except KazooException:
                return
            for name in names:
                if name.startswith(PREFIX) and name[len(PREFIX):].isdigit() and int(name[len(PREFIX):]) < keep_from:
                    self.zk.delete_async(f"{self.paths.history}/{name}")

        self.zk.get_children_async(self.paths.history).rawlink(listed)

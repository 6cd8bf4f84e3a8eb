"""The cluster's key registry in ZooKeeper: who each public key is, read, written and followed.

One znode per key, ``keys/<name>``, holds a :class:`~puli_mesh.keys.KeyRecord` as JSON (an
operator can read it with ``zkCli.sh``, given the cluster's credential). Every write also bumps
the data of ``keys`` itself, in the same transaction, so a follower needs one watch, on
``keys``, to see any key added, changed or revoked.

Guarantees: :class:`KeyRegistry` answers :meth:`~KeyRegistry.lookup` from any thread (the ZAP
handler's, the agent's loop) with a consistent view: the whole map is replaced at once after
each re-read; a revoked key, a key not in the registry and a znode that does not hold a valid
record (logged, never trusted) all answer None.

Not here: the key files (``puli_mesh.keys``), what a role may do (``puli_mesh.access``), the
ACLs of these znodes (``puli_mesh.zk_access``: private to the cluster's credential).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from kazoo.client import KazooClient

from puli_mesh import zk_access
from puli_mesh.errors import KeyMaterialError
from puli_mesh.keys import KeyRecord, check_key_name
from puli_mesh.zkpaths import ClusterPaths

log = logging.getLogger(__name__)


def encode_record(record: KeyRecord) -> bytes:
    return json.dumps(record.to_data(), sort_keys=True).encode()


def decode_record(data: bytes) -> KeyRecord:
    """The record in a registry znode; :class:`KeyMaterialError` saying what is wrong with it."""
    try:
        raw = json.loads(data.decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KeyMaterialError(f"not a key record (JSON): {exc}") from None
    return KeyRecord.from_data(raw)


def read_records(zk: KazooClient, paths: ClusterPaths) -> dict[str, KeyRecord]:
    """Every valid record of the registry by name (revoked ones included); a znode that holds
    no valid record is logged and left out. Empty when the cluster has no registry."""
    records: dict[str, KeyRecord] = {}
    for name, data in zk_access.children_data(zk, paths.keys).items():
        try:
            record = decode_record(data)
        except KeyMaterialError as exc:
            log.warning("key registry: %s is ignored: %s", paths.key(name), exc)
            continue
        if record.name != name:
            log.warning("key registry: %s holds the record of %r; ignored", paths.key(name), record.name)
            continue
        records[name] = record
    return records


def write_record(zk: KazooClient, paths: ClusterPaths, record: KeyRecord) -> None:
    """Create or replace ``record``'s znode and bump the registry, in one transaction. The
    registry's rules (one name per public key, no live name given twice) are the caller's:
    ``cluster_settings.added_key`` for a request."""
    check_key_name(record.name)
    credential = zk_access.client_credential(zk)
    zk_access.ensure_znode(zk, paths, paths.keys, credential)
    path = paths.key(record.name)
    tx = zk.transaction()
    if zk.exists(path) is None:
        tx.create(path, encode_record(record), acl=zk_access.acl_for(paths, path, credential))
    else:
        tx.set_data(path, encode_record(record))
    tx.set_data(paths.keys, record.name.encode())  # every set_data fires the watch, same data or not
    results = tx.commit()
    failed = [r for r in results if isinstance(r, Exception)]
    if failed:
        raise failed[0]


class KeyRegistry:
    """The registry as this agent last read it, kept current by a watch on ``keys``."""

    def __init__(self) -> None:
        self._live: dict[str, KeyRecord] = {}
        """Public key -> its record, for the keys registered and not revoked."""

    def replace(self, records: dict[str, KeyRecord]) -> None:
        """Take ``records`` (by name) as the registry: in force for the next lookup."""
        self._live = {r.public_key: r for r in records.values() if not r.revoked}

    def lookup(self, public_key: str | bytes | None) -> KeyRecord | None:
        """The record of a live (registered, not revoked) key, else None."""
        if isinstance(public_key, bytes):
            public_key = public_key.decode("ascii", "replace")
        return self._live.get(public_key) if public_key else None

    def follow(self, zk: KazooClient, paths: ClusterPaths) -> None:
        """Read the registry now and again after every write to it (a kazoo DataWatch on ``keys``)."""
        def reread(_data: Any, _stat: Any) -> None:
            try:
                self.replace(read_records(zk, paths))
            except Exception:  # a watch callback must not die: the next write re-reads
                log.exception("re-reading the key registry failed")
        zk.DataWatch(paths.keys, reread)

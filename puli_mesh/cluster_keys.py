"""A new secured cluster's material: what ``puli-mesh keys init`` makes (and ``make farm``, the tests).

In one directory (0700): the cluster's ZooKeeper credential (``zookeeper``), the cluster's key
pair (``cluster.key``/``cluster.key_secret``: every agent's CURVE server key), this host's
agents' key (``agent.key``/``agent.key_secret``, role ``node``) and the first admin's client key
(``<admin>.key_secret``, naming the cluster's public key). In ZooKeeper: the cluster's base znode
under the credential (``zk_access.lock_down``) and the registry records of the admin and of this
host's agents.

Guarantees: nothing is overwritten: a directory that already holds a cluster's material, or a
cluster that already has a key registry, is refused (``ConfigError`` saying what to do) before
anything is written.

Not here: adding keys to a running cluster (a ``SETTINGS`` request to the leader), the formats
of the files (``puli_mesh.keys``, ``puli_mesh.zk_access``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from kazoo.exceptions import NoNodeError
from kazoo.handlers.threading import KazooTimeoutError

from puli_mesh import key_registry, keys, zk_access
from puli_mesh.access import Role
from puli_mesh.errors import ConfigError, ZooKeeperError
from puli_mesh.keys import KeyRecord
from puli_mesh.zkpaths import ClusterPaths


@dataclass(frozen=True, slots=True)
class ClusterMaterial:
    """What :func:`init_cluster` made."""

    directory: Path
    """The agents' keys directory (``--keys``, ``PULI_KEYS``)."""
    admin_key: Path
    """The first admin's client key file (``PULI_KEY``)."""
    node_name: str
    """The name this host's agents' key is registered under."""


def init_cluster(directory: Path, zk_hosts: str, cluster: str, admin: str = "admin",
                 node_name: str = "", timeout: float = 10.0) -> ClusterMaterial:
    """Make a new cluster's keys in ``directory`` and register them in ZooKeeper (see the module)."""
    keys.check_key_name(admin)
    node_name = keys.check_key_name(node_name or "node")
    if admin == node_name:
        raise ConfigError(f"the admin's key and the agents' key need different names, both are {admin!r}")
    taken = [p.name for p in (directory / zk_access.CREDENTIAL_FILE, *keys.key_files(directory, keys.CLUSTER_KEY),
                              *keys.key_files(directory, keys.AGENT_KEY), *keys.key_files(directory, admin))
             if p.exists()]
    if taken:
        raise ConfigError(f"{directory} holds a cluster's material already ({', '.join(taken)}); "
                          "use another directory, or add keys to that cluster with `puli-mesh keys add`")
    paths = ClusterPaths(cluster)
    anonymous = zk_access.connect(zk_hosts, timeout, None)
    try:
        anonymous.start(timeout=timeout)
    except KazooTimeoutError as exc:
        raise ZooKeeperError(f"ZooKeeper at {zk_hosts} did not answer; check --zk / PULI_ZK") from exc
    try:
        try:
            registered = anonymous.get_children(paths.keys)
        except NoNodeError:
            registered = []
        except Exception:  # NoAuth: a registry exists under some credential
            registered = ["?"]
    finally:
        anonymous.stop()
        anonymous.close()
    if registered:
        raise ConfigError(f"cluster {cluster!r} has a key registry already; add keys to it with "
                          "`puli-mesh keys add` (as an admin), or choose another cluster name")
    credential = zk_access.write_credential(directory)
    cluster_pair = keys.create_key_pair(directory, keys.CLUSTER_KEY)
    agent_pair = keys.create_key_pair(directory, keys.AGENT_KEY)
    admin_pair = keys.create_key_pair(directory, admin, server_key=cluster_pair.public_key)
    zk = zk_access.connect(zk_hosts, timeout, credential)
    zk.start(timeout=timeout)
    try:
        zk_access.lock_down(zk, paths, credential)
        now = time.time()
        key_registry.write_record(zk, paths, KeyRecord(admin, Role.ADMIN, admin_pair.public_key.decode(), now))
        key_registry.write_record(zk, paths, KeyRecord(node_name, Role.NODE, agent_pair.public_key.decode(), now))
    finally:
        zk.stop()
        zk.close()
    assert admin_pair.secret_file is not None
    return ClusterMaterial(directory, admin_pair.secret_file, node_name)

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

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException
from kazoo.handlers.threading import KazooTimeoutError

from puli_mesh import key_registry, keys, zk_access
from puli_mesh.errors import ConfigError, SettingsRefusedError, ZooKeeperError
from puli_mesh.keys import AGENT_KEY, CLUSTER_KEY, PUBLIC_SUFFIX, SECRET_SUFFIX, KeyRecord
from puli_mesh.roles import Role
from puli_mesh.zk_access import CREDENTIAL_FILE, ZooKeeperCredential
from puli_mesh.zkpaths import ClusterPaths

ZK_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class ClusterMaterial:
    """What :func:`init_cluster` made."""

    directory: Path
    """The agents' keys directory (``--keys``, ``PULI_KEYS``)."""
    admin_key: Path
    """The first admin's client key file (``PULI_KEY``)."""
    registered: list[KeyRecord]
    """The records written in the registry: the admin's and this host's agents'."""


def cluster_material(directory: Path, admin: str) -> list[Path]:
    """The files of a cluster's material :func:`init_cluster` would make in ``directory`` that exist."""
    names = [CREDENTIAL_FILE, *(f"{key}{suffix}" for key in (CLUSTER_KEY, AGENT_KEY, admin)
                                for suffix in (PUBLIC_SUFFIX, SECRET_SUFFIX))]
    return [directory / name for name in names if (directory / name).exists()]


@contextlib.contextmanager
def zookeeper(hosts: str, credential: ZooKeeperCredential | None, timeout: float = ZK_TIMEOUT_S
              ) -> Iterator[KazooClient]:
    """A started ZooKeeper session (``credential``: the cluster's, or None for a look), closed on exit."""
    zk = zk_access.connect(hosts, timeout, credential)
    try:
        zk.start(timeout=timeout)
    except KazooTimeoutError as exc:
        raise ZooKeeperError(f"ZooKeeper at {hosts} did not answer; check --zk / PULI_ZK") from exc
    try:
        yield zk
    except KazooException as exc:
        raise ZooKeeperError(f"ZooKeeper at {hosts} refused an operation: {exc!r}") from exc
    finally:
        zk.stop()
        zk.close()


def init_cluster(directory: Path, hosts: str, cluster: str, admin: str, node_name: str,
                 now: float) -> ClusterMaterial:
    """Make a new cluster's material in ``directory`` and register its first keys (see the module)."""
    keys.check_key_name(admin)
    keys.check_key_name(node_name)
    if admin in (CLUSTER_KEY, AGENT_KEY):
        raise ConfigError(f"--admin {admin!r} would share a file with the agents' keys; choose another name")
    present = cluster_material(directory, admin)
    if present:
        raise ConfigError(f"{directory} already holds a cluster's material ({', '.join(p.name for p in present)}); "
                          "choose a new directory (nothing was written)")
    paths = ClusterPaths(cluster)
    with zookeeper(hosts, None) as zk:
        if zk.exists(paths.keys) is not None:
            raise SettingsRefusedError(
                f"cluster {cluster!r} at {hosts} has a key registry already: it was initialised before "
                "(nothing was written). Add keys with `puli-mesh keys add NAME --role ROLE` (an admin's PULI_KEY)")
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)
    credential = zk_access.write_credential(directory)
    cluster_pair = keys.create_key_pair(directory, CLUSTER_KEY)
    agent_pair = keys.create_key_pair(directory, AGENT_KEY)
    admin_pair = keys.create_key_pair(directory, admin, server_key=cluster_pair.public_key)
    records = [KeyRecord(admin, Role.ADMIN, admin_pair.public_key.decode(), now),
               KeyRecord(node_name, Role.NODE, agent_pair.public_key.decode(), now)]
    with zookeeper(hosts, credential) as zk:
        zk_access.lock_down(zk, paths, credential)
        for record in records:
            key_registry.write_record(zk, paths, record)
    assert admin_pair.secret_file is not None
    return ClusterMaterial(directory, admin_pair.secret_file, records)

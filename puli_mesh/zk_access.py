"""Who may touch a cluster's znodes: the cluster's ZooKeeper credential and the ACLs it sets.

A secured cluster has one ZooKeeper credential (a digest user and password, created by
``puli-mesh keys init`` in the agents' keys directory as ``zookeeper``, mode 0600). Every agent
authenticates with it, and every znode the cluster creates carries an ACL that gives that
credential all rights. Only what a client must read without the credential is readable by
anyone (:func:`public_read_acl`): the leader pointer, the members, the licences and the pools. The
key registry, the epoch, the election, the journal and the snapshots are not readable, and
nothing is writable, without the credential.

Guarantees: the credential file is created 0600 and never overwritten, and one that group or
others may read is refused on load; :func:`connect` returns a client (not yet started) whose
every create carries the cluster's ACL, so a znode cannot be left open by forgetting an
argument.

Not here: which znodes exist (``zkpaths``), what is in them (the callers), the keys of the mesh
(``puli_mesh.keys``).
"""

from __future__ import annotations

import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from kazoo.client import KazooClient
from kazoo.exceptions import NodeExistsError
from kazoo.security import ACL, OPEN_ACL_UNSAFE, make_acl, make_digest_acl

from puli_mesh.errors import ConfigError
from puli_mesh.zkpaths import ROOT, ClusterPaths

CREDENTIAL_FILE = "zookeeper"
"""The credential's file in an agents' keys directory."""
DIGEST_USER = "puli-mesh"
PASSWORD_BYTES = 32

WORLD_READ: ACL = make_acl("world", "anyone", read=True)


@dataclass(frozen=True, slots=True)
class ZooKeeperCredential:
    """A digest user and password; ``auth`` is what ZooKeeper's ``addauth digest`` takes."""

    user: str
    password: str

    @property
    def auth(self) -> str:
        return f"{self.user}:{self.password}"

    def owner_acl(self) -> ACL:
        """All rights for this credential, none for anyone else."""
        return make_digest_acl(self.user, self.password, all=True)


def write_credential(directory: Path) -> ZooKeeperCredential:
    """A new random credential in ``directory/zookeeper`` (0600). ``ConfigError`` if one exists."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    credential = ZooKeeperCredential(DIGEST_USER, secrets.token_urlsafe(PASSWORD_BYTES))
    path = directory / CREDENTIAL_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(f"{path} exists already: this directory holds a cluster's material") from None
    with os.fdopen(fd, "w") as out:
        out.write(credential.auth + "\n")
    return credential


def read_credential(directory: Path) -> ZooKeeperCredential:
    """The credential in ``directory/zookeeper``; ``ConfigError`` if missing, malformed or
    readable by group or others."""
    path = directory / CREDENTIAL_FILE
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        text = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the cluster's ZooKeeper credential {path}: {exc.strerror}") from None
    if mode & 0o077:
        raise ConfigError(f"{path} may be read by others (mode {mode:04o}); run `chmod 600 {path}`")
    user, sep, password = text.partition(":")
    if not sep or not user or not password or any(c.isspace() for c in text):
        raise ConfigError(f"{path} must hold one line USER:PASSWORD")
    return ZooKeeperCredential(user, password)


def private_acl(credential: ZooKeeperCredential | None) -> list[ACL]:
    """The ACL of a cluster znode nobody else may read. Open when the mesh runs insecure."""
    return list(OPEN_ACL_UNSAFE) if credential is None else [credential.owner_acl()]


def public_read_acl(credential: ZooKeeperCredential | None) -> list[ACL]:
    """The ACL of a znode clients read without the credential: the leader, members, licences, pools."""
    return list(OPEN_ACL_UNSAFE) if credential is None else [credential.owner_acl(), WORLD_READ]


def connect(hosts: str, timeout: float, credential: ZooKeeperCredential | None) -> KazooClient:
    """A ZooKeeper client (not started) authenticated with ``credential``, whose creates carry
    :func:`private_acl` unless given another ACL; with None, an anonymous client of an insecure
    mesh."""
    if credential is None:
        return KazooClient(hosts=hosts, timeout=timeout)
    return KazooClient(hosts=hosts, timeout=timeout, auth_data=[("digest", credential.auth)],
                       default_acl=private_acl(credential))


def lock_down(zk: KazooClient, paths: ClusterPaths, credential: ZooKeeperCredential) -> None:
    """Make the cluster's base znode exist under ``credential`` (readable by anyone, so clients
    find the leader under it). ``/puli-mesh`` itself stays open: other clusters live there too.
    ``zk`` must be authenticated with ``credential``."""
    if zk.exists(ROOT) is None:
        try:
            zk.create(ROOT, b"", acl=list(OPEN_ACL_UNSAFE))
        except NodeExistsError:
            pass
    if zk.exists(paths.base) is None:
        try:
            zk.create(paths.base, b"", acl=public_read_acl(credential))
        except NodeExistsError:
            pass
    zk.set_acls(paths.base, public_read_acl(credential))

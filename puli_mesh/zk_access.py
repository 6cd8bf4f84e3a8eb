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

Which znode gets which ACL is one rule, :func:`acl_for`: the callers that create znodes
(membership, cluster state, journal, key registry, the agent's takeover) go through
:func:`ensure_znode` or pass its ACL; :func:`lock_down` applies the rule to a whole existing tree
(a cluster run insecure before and secured later) and :func:`check_tree` lists every znode that
breaks it. Under SASL (:class:`ZooKeeperOptions`) the digest ACLs stay as they are: ZooKeeper
accepts an ``addauth digest`` in a SASL session, so the credential and the ACLs do not change
with the site's authentication.

Not here: which znodes exist (``zkpaths``), what is in them (the callers), the keys of the mesh
(``puli_mesh.keys``), the ensemble's own configuration (its ACLs outside ``/puli-mesh``, its
SASL realm, its certificates: the site's).
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError, NodeExistsError, NoNodeError
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


def read_secret_file(path: Path, what: str) -> str:
    """The stripped text of a secret file; ``ConfigError`` if unreadable or readable by group or others."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        text = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from None
    if mode & 0o077:
        raise ConfigError(f"{path} may be read by others (mode {mode:04o}); run `chmod 600 {path}`")
    return text


def read_credential(directory: Path) -> ZooKeeperCredential:
    """The credential in ``directory/zookeeper``; ``ConfigError`` if missing, malformed or
    readable by group or others."""
    path = directory / CREDENTIAL_FILE
    text = read_secret_file(path, "the cluster's ZooKeeper credential")
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


def acl_for(paths: ClusterPaths, path: str, credential: ZooKeeperCredential | None) -> list[ACL]:
    """The ACL the cluster's rule gives ``path``: :func:`public_read_acl` for the base znode, the
    members, the leader, the licences and the pools (clients read them); :func:`private_acl` for
    every other znode of the cluster (keys, epoch, election, journal, snapshots). ``/puli-mesh``
    itself is open: other clusters live under it too."""
    if credential is None or path == ROOT:
        return list(OPEN_ACL_UNSAFE)
    shared_parents = (paths.nodes, paths.licences, paths.pools)
    if path in (paths.base, paths.leader, *shared_parents) or path.rpartition("/")[0] in shared_parents:
        return public_read_acl(credential)
    return private_acl(credential)


def client_credential(zk: KazooClient) -> ZooKeeperCredential | None:
    """The cluster credential ``zk`` authenticates with (its digest auth), None for an anonymous
    client of an insecure mesh. Lets the code that creates znodes take the ACL from the client it
    is given, so every caller holding a :func:`connect` client gets the same rule."""
    for scheme, auth in zk.auth_data:
        if scheme == "digest":
            user, _, password = auth.partition(":")
            return ZooKeeperCredential(user, password)
    return None


def ensure_znode(zk: KazooClient, paths: ClusterPaths, path: str,
                 credential: ZooKeeperCredential | None) -> None:
    """Make ``path`` exist, and its missing parents, each created with :func:`acl_for` (kazoo's
    ``ensure_path`` gives every parent it creates the one ACL it is given: the cluster's base
    znode would get a private ACL from the first private path made under it). One ``exists`` when
    the path is there already. An existing znode's ACL is left as it is (:func:`lock_down`)."""
    if zk.exists(path) is not None:
        return
    parent = path.rpartition("/")[0]
    if parent:
        ensure_znode(zk, paths, parent, credential)
    try:
        zk.create(path, b"", acl=acl_for(paths, path, credential))
    except NodeExistsError:
        pass


def lock_down(zk: KazooClient, paths: ClusterPaths, credential: ZooKeeperCredential) -> None:
    """Put the cluster under ``credential``: create its base znode if missing, then give every
    znode of its tree, existing ones included, the ACL of :func:`acl_for`. So a cluster run
    insecure before is secured by running this once (its agents restarted with ``--keys``).
    ``zk`` must be authenticated with ``credential``; a znode that already belongs to another
    credential is a ``ConfigError`` (this tree is another cluster's)."""
    ensure_znode(zk, paths, paths.base, credential)
    pending = [paths.base]
    while pending:  # each znode's ACL before its children are listed: a parent may be private
        path = pending.pop()
        try:
            zk.set_acls(path, acl_for(paths, path, credential))
            pending.extend(f"{path}/{child}" for child in zk.get_children(path))
        except NoNodeError:
            continue  # an ephemeral znode gone meanwhile (a member, an election contender)
        except NoAuthError:
            raise ConfigError(f"{path} is protected by another credential than this cluster's: "
                              f"is {paths.base} another cluster's? Lock it down with its own "
                              f"credential, or choose another cluster name") from None


def check_tree(zk: KazooClient, paths: ClusterPaths) -> list[str]:
    """Every znode of the cluster whose ACL is not the one :func:`acl_for` gives it, for the
    credential ``zk`` authenticates with, as one line each (empty: the tree is as it should be).
    ``zk`` must be able to read the whole tree: the cluster's credential, or an open mesh."""
    credential = client_credential(zk)
    problems: list[str] = []
    for path in walk(zk, paths.base):
        try:
            found, _ = zk.get_acls(path)
        except NoNodeError:
            continue
        expected = acl_for(paths, path, credential)
        if _acl_key(found) != _acl_key(expected):
            problems.append(f"{path}: ACL {_describe(found)}, expected {_describe(expected)}")
    return problems


def walk(zk: KazooClient, top: str) -> list[str]:
    """``top`` and every znode under it, parents first; znodes gone during the walk are skipped."""
    found: list[str] = []
    pending = [top]
    while pending:
        path = pending.pop()
        try:
            children = zk.get_children(path)
        except NoNodeError:
            continue
        found.append(path)
        pending.extend(f"{path}/{child}" for child in sorted(children, reverse=True))
    return found


READ_WINDOW = 1000
"""Znodes asked for at once by ``read_many``: one round trip each, one after the other, made a
new leader read 2,900 journal batches in 2.1 s; asked for together, ZooKeeper answers them in
order at its own pace."""


def read_many(zk: KazooClient, paths: Sequence[str]) -> Iterator[tuple[str, bytes]]:
    """Each path with its data, in the order given, asked for ``READ_WINDOW`` at a time; a znode
    removed meanwhile is left out."""
    for start in range(0, len(paths), READ_WINDOW):
        window = paths[start:start + READ_WINDOW]
        results = [zk.get_async(path) for path in window]
        for path, result in zip(window, results, strict=True):
            try:
                data, _ = result.get()
            except NoNodeError:
                continue
            yield path, data


def children_data(zk: KazooClient, parent: str) -> dict[str, bytes]:
    """Each child of ``parent`` with its data, by name in order; empty when ``parent`` does not
    exist, and a child removed between the listing and its read is left out."""
    try:
        names = zk.get_children(parent)
    except NoNodeError:
        return {}
    return {path.rpartition("/")[2]: data for path, data in read_many(zk, [f"{parent}/{n}" for n in sorted(names)])}


def _acl_key(acls: list[ACL]) -> set[tuple[int, str, str]]:
    return {(acl.perms, acl.id.scheme, acl.id.id) for acl in acls}


def _describe(acls: list[ACL]) -> str:
    return ", ".join(f"{scheme}:{ident.partition(':')[0]}={perms}"
                     for perms, scheme, ident in sorted(_acl_key(acls))) or "none"


SASL_MECHANISMS = ("DIGEST-MD5", "GSSAPI")


@dataclass(frozen=True, slots=True)
class ZooKeeperOptions:
    """How to reach an ensemble that runs TLS or SASL. The field names are the settings' (and so
    ``PULI_ZK_TLS_CA``... in the environment, ``--zk-tls-ca``... as flags); empty: not used."""

    zk_tls_ca: str = ""
    zk_tls_cert: str = ""
    zk_tls_key: str = ""
    zk_sasl_mechanism: str = ""
    zk_sasl_user: str = ""
    zk_sasl_password_file: str = ""

    def check(self) -> None:
        """``ConfigError`` naming the first inconsistent option (no file is read here)."""
        if (self.zk_tls_cert or self.zk_tls_key) and not self.zk_tls_ca:
            raise ConfigError("zk_tls_cert/zk_tls_key need zk_tls_ca: TLS to ZooKeeper is on when "
                              "zk_tls_ca names the CA file that signed the ensemble's certificates")
        if bool(self.zk_tls_cert) != bool(self.zk_tls_key):
            raise ConfigError("give zk_tls_cert and zk_tls_key together (the client's certificate and its key)")
        mechanism = self.zk_sasl_mechanism
        if mechanism and mechanism not in SASL_MECHANISMS:
            raise ConfigError(f"zk_sasl_mechanism {mechanism!r} is not supported: use "
                              f"{' or '.join(SASL_MECHANISMS)}")
        if not mechanism and (self.zk_sasl_user or self.zk_sasl_password_file):
            raise ConfigError("zk_sasl_user/zk_sasl_password_file need zk_sasl_mechanism")
        if mechanism == "DIGEST-MD5" and not (self.zk_sasl_user and self.zk_sasl_password_file):
            raise ConfigError("zk_sasl_mechanism DIGEST-MD5 needs zk_sasl_user and zk_sasl_password_file")

    def client_arguments(self) -> dict[str, Any]:
        """The keyword arguments of ``KazooClient`` these options stand for. The files are looked
        at here, so a wrong path is a ``ConfigError`` naming it rather than a connection that never
        comes up; the SASL password is read from its file (refused if others may read it)."""
        self.check()
        arguments: dict[str, Any] = {}
        if self.zk_tls_ca:
            arguments.update(use_ssl=True, verify_certs=True, ca=_existing(self.zk_tls_ca, "zk_tls_ca"))
            if self.zk_tls_cert:
                arguments.update(certfile=_existing(self.zk_tls_cert, "zk_tls_cert"),
                                 keyfile=_existing(self.zk_tls_key, "zk_tls_key"))
        if self.zk_sasl_mechanism == "DIGEST-MD5":
            password = read_secret_file(Path(self.zk_sasl_password_file).expanduser(), "the ZooKeeper SASL password")
            arguments["sasl_options"] = {"mechanism": "DIGEST-MD5", "username": self.zk_sasl_user,
                                         "password": password}
        elif self.zk_sasl_mechanism == "GSSAPI":
            # Kerberos: the ticket cache of the process (kinit, or a keytab through KRB5CCNAME).
            sasl: dict[str, str] = {"mechanism": "GSSAPI"}
            if self.zk_sasl_user:
                sasl["principal"] = self.zk_sasl_user
            arguments["sasl_options"] = sasl
        return arguments


def _existing(path: str, setting: str) -> str:
    found = Path(path).expanduser()
    if not found.is_file():
        raise ConfigError(f"{setting}: {found} is not a file")
    return str(found)


def options_from_environment(environ: Mapping[str, str] | None = None) -> ZooKeeperOptions:
    """The options a client (CLI, ``puliclient``) takes from ``PULI_ZK_TLS_CA``, ...: the same
    names as the agent's settings."""
    env = os.environ if environ is None else environ
    return ZooKeeperOptions(**{f.name: env.get(f"PULI_{f.name.upper()}", "").strip()
                               for f in fields(ZooKeeperOptions)})


def connect(hosts: str, timeout: float, credential: ZooKeeperCredential | None,
            options: ZooKeeperOptions | None = None) -> KazooClient:
    """A ZooKeeper client (not started) authenticated with ``credential``, whose creates carry
    :func:`private_acl` unless given another ACL; with None, an anonymous client of an insecure
    mesh (or a client that reads only what is public). ``options``: TLS and SASL to the ensemble."""
    arguments = options.client_arguments() if options is not None else {}
    if credential is not None:
        arguments.update(auth_data=[("digest", credential.auth)], default_acl=private_acl(credential))
    return KazooClient(hosts=hosts, timeout=timeout, **arguments)

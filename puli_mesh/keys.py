"""CURVE key pairs on disk, and the key registry's record of who a public key is.

Every agent and every user has its own key pair (libzmq's CURVE). The files are pyzmq's
certificates (``zmq.auth.create_certificates``): ``NAME.key`` holds the public key and may be
handed out; ``NAME.key_secret`` holds both keys and never leaves its owner's machine (an agent's
``--keys`` directory, a user's ``PULI_KEY``). The cluster knows a key by its public half only: a
:class:`KeyRecord` (name, role, public key, when added, when revoked), stored as plain data, one
znode per key under the cluster in ZooKeeper.

Guarantees: a secret file is created 0600 inside a private (0700) temporary directory and only
then linked to its name, so it is never readable by others, even for an instant, and an existing
key file is never overwritten; a secret file readable by group or others is refused on load (as
ssh does); a :class:`KeyRecord` is valid once built (name, Z85 public key of 40 characters, known
role, finite times), whether made here or read back from the registry.

Not here: the registry's znodes (the shells), CURVE on sockets and the ZAP handler (the shells),
what a role may do (``puli_mesh.access``), reading a clock (the caller passes ``added_at``).
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import zmq.auth

from puli_mesh.errors import KeyMaterialError
from puli_mesh.roles import Role

KEY_NAME_LENGTH = 64
"""Characters a key's name may have: it names files and a znode (a limit for ``limits`` to adopt)."""

KEY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")
"""A key's name: letters, digits, ``.``, ``_``, ``-``, not starting with a dot or a dash, so it
is a safe file name and znode name (no ``/``, no ``..``)."""

Z85_KEY_LENGTH = 40
"""A CURVE key (32 bytes) in Z85 text."""

Z85_ALPHABET = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#")

PUBLIC_SUFFIX = ".key"
SECRET_SUFFIX = ".key_secret"

SERVER_KEY_FIELD = "server_key"
"""The metadata of a client's key file naming the cluster's public key (the agents' CURVE server
key), so a client with one file can reach any agent of its cluster."""
CLUSTER_KEY = "cluster"
"""In an agents' keys directory: the cluster's key pair, the CURVE server key of every agent
(any agent may lead, so a client trusts the cluster, not one host)."""
AGENT_KEY = "agent"
"""In an agents' keys directory: this host's agents' own key (role ``node``), their identity
as workers."""


def check_key_name(name: Any) -> str:
    """``name`` if it may name a key; else :class:`KeyMaterialError` saying what a name may be."""
    if not isinstance(name, str) or not name:
        raise KeyMaterialError(f"a key's name must be a non-empty string, got {name!r:.60}")
    if len(name) > KEY_NAME_LENGTH:
        raise KeyMaterialError(f"key name has {len(name)} characters, above the limit of {KEY_NAME_LENGTH}")
    if not KEY_NAME.match(name):
        raise KeyMaterialError(f"key name {name!r} may hold only letters, digits, '.', '_' and '-', "
                               "and starts with a letter or a digit")
    return name


def check_public_key(key: Any) -> str:
    """``key`` (str or bytes) as Z85 text of 40 characters; else :class:`KeyMaterialError`."""
    if isinstance(key, bytes):
        try:
            key = key.decode("ascii")
        except UnicodeDecodeError:
            raise KeyMaterialError("a public key must be Z85 text (ASCII)") from None
    if not isinstance(key, str):
        raise KeyMaterialError(f"a public key must be Z85 text, got {type(key).__name__}")
    if len(key) != Z85_KEY_LENGTH or not Z85_ALPHABET.issuperset(key):
        raise KeyMaterialError(f"a public key is {Z85_KEY_LENGTH} characters of Z85 text, got {key!r:.60}")
    return key


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A key loaded from its files: ``secret_key`` is None when only the public file was read;
    ``server_key`` is the cluster's public key when the file names it (a client's file)."""

    name: str
    public_key: bytes
    secret_key: bytes | None
    public_file: Path
    secret_file: Path | None
    server_key: bytes | None = None


def key_files(directory: Path, name: str) -> tuple[Path, Path]:
    """The public and the secret file of key ``name`` in ``directory``."""
    check_key_name(name)
    return directory / f"{name}{PUBLIC_SUFFIX}", directory / f"{name}{SECRET_SUFFIX}"


def create_key_pair(directory: Path, name: str, server_key: bytes | None = None) -> KeyPair:
    """A new key pair ``name`` in ``directory`` (created 0700 if missing): ``NAME.key`` 0644,
    ``NAME.key_secret`` 0600. :class:`KeyMaterialError` if either file exists already.
    ``server_key``: the cluster's public key, written in the files for a client to find."""
    public_file, secret_file = key_files(directory, name)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".new-key-", dir=directory))  # 0700: nobody else looks in
    linked: list[Path] = []
    try:
        metadata = {SERVER_KEY_FIELD: check_public_key(server_key)} if server_key is not None else None
        made_public, made_secret = (Path(p) for p in zmq.auth.create_certificates(staging, name, metadata))
        made_secret.chmod(0o600)
        made_public.chmod(0o644)
        for made, target in ((made_secret, secret_file), (made_public, public_file)):
            os.link(made, target)  # unlike rename, refuses to replace an existing file
            linked.append(target)
    except FileExistsError as exc:
        for target in linked:
            target.unlink()
        raise KeyMaterialError(f"key {name!r} exists already in {directory} ({exc.filename}); "
                               "revoke it and choose another name, or remove its files first") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return load_key_pair(secret_file)


def create_key_file(path: Path, server_key: bytes | None = None) -> KeyPair:
    """A new key pair whose secret file (both keys, 0600) is ``path``, with no public file: a
    client's key made by ``puli-mesh keys add`` (its public half goes to the registry).
    ``server_key`` as for :func:`create_key_pair`. :class:`KeyMaterialError` if ``path`` exists."""
    directory = path.parent
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".new-key-", dir=directory))
    try:
        metadata = {SERVER_KEY_FIELD: check_public_key(server_key)} if server_key is not None else None
        _public, made_secret = (Path(p) for p in zmq.auth.create_certificates(staging, "key", metadata))
        made_secret.chmod(0o600)
        os.link(made_secret, path)
    except FileExistsError:
        raise KeyMaterialError(f"{path} exists already; choose another file (--out) or remove it first") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return load_key_pair(path, secret=True)


CLIENT_KEY_VARIABLE = "PULI_KEY"
DEFAULT_CLIENT_KEY = Path("~/.puli-mesh/key")
"""Where a client's key file is when ``PULI_KEY`` does not say (a ``NAME.key_secret`` copied there, 0600)."""


def client_key_file(environ: Mapping[str, str] | None = None) -> Path | None:
    """The client's key file: ``PULI_KEY`` if set, else ``~/.puli-mesh/key`` if it exists, else None."""
    environ = os.environ if environ is None else environ
    given = environ.get(CLIENT_KEY_VARIABLE)
    if given:
        return Path(given).expanduser()
    default = Path(os.path.expanduser(str(DEFAULT_CLIENT_KEY)))
    return default if default.exists() else None


def _server_key(path: Path) -> bytes | None:
    """The ``server_key`` metadata of a key file, if it has one."""
    for line in path.read_text(errors="replace").splitlines():
        field, sep, value = line.strip().partition("=")
        if sep and field.strip() == SERVER_KEY_FIELD:
            return check_public_key(value.strip().strip('"')).encode()
    return None


def load_key_pair(path: Path, secret: bool | None = None) -> KeyPair:
    """The key in ``path``: a secret file (``NAME.key_secret``, or any file when ``secret`` is
    True: both keys; refused if group or others may read it) or a public one (``NAME.key``:
    ``secret_key`` None)."""
    secret = path.name.endswith(SECRET_SUFFIX) if secret is None else secret
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise KeyMaterialError(f"cannot read key file {path}: {exc.strerror}") from None
    if secret and stat.S_IMODE(mode) & 0o077:
        raise KeyMaterialError(f"secret key file {path} may be read by others (mode {stat.S_IMODE(mode):04o}); "
                               f"run `chmod 600 {path}`")
    try:
        public, secret_key = zmq.auth.load_certificate(path)
        server_key = _server_key(path)
    except (OSError, ValueError) as exc:
        raise KeyMaterialError(f"{path} is not a key file: {exc}") from None
    if secret and secret_key is None:
        raise KeyMaterialError(f"{path} holds no secret key; a client or an agent needs its NAME{SECRET_SUFFIX}")
    check_public_key(public)
    if secret_key is not None:
        check_public_key(secret_key)  # the same Z85 shape
    name = path.name.removesuffix(SECRET_SUFFIX).removesuffix(PUBLIC_SUFFIX)
    return KeyPair(name, public, secret_key, path.with_name(name + PUBLIC_SUFFIX),
                   path if secret_key is not None else None, server_key)


@dataclass(frozen=True, slots=True)
class AgentKeys:
    """What an agent reads from its ``--keys`` directory: the cluster's server pair and its own."""

    directory: Path
    cluster: KeyPair
    agent: KeyPair


def load_agent_keys(directory: Path) -> AgentKeys:
    """The agents' keys in ``directory`` (``cluster.key_secret``, ``agent.key_secret``)."""
    cluster = load_key_pair(key_files(directory, CLUSTER_KEY)[1])
    agent = load_key_pair(key_files(directory, AGENT_KEY)[1])
    return AgentKeys(directory, cluster, agent)


def load_client_key(path: Path) -> KeyPair:
    """A client's key file (``PULI_KEY``): its own pair and the cluster's public key."""
    pair = load_key_pair(path, secret=True)
    if pair.server_key is None:
        raise KeyMaterialError(f"{path} does not name the cluster's key ({SERVER_KEY_FIELD}); "
                               "make client keys with `puli-mesh keys add`")
    return pair


def _time(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise KeyMaterialError(f"{what} must be a finite number of seconds since the epoch, got {value!r:.60}")
    return float(value)


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """Who a public key is, as the cluster's key registry keeps it (one znode per key)."""

    name: str
    role: Role
    public_key: str
    added_at: float
    revoked_at: float | None = None

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if not isinstance(self.role, Role):
            raise KeyMaterialError(f"key {self.name!r}: role must be a Role, got {self.role!r:.60}")
        check_public_key(self.public_key)
        _time(self.added_at, "added_at")
        if self.revoked_at is not None:
            _time(self.revoked_at, "revoked_at")

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def revoke(self, at: float) -> KeyRecord:
        """This record revoked at ``at`` (kept as first revoked if it was already)."""
        return self if self.revoked_at is not None else replace(self, revoked_at=at)

    def to_data(self) -> dict[str, Any]:
        """Plain data (strings, numbers, None) for the registry's znode."""
        return {"name": self.name, "role": str(self.role), "public_key": self.public_key,
                "added_at": self.added_at, "revoked_at": self.revoked_at}

    @classmethod
    def from_data(cls, data: Any) -> KeyRecord:
        """The record in ``data`` (from :meth:`to_data`, or a registry znode anyone may have
        written): :class:`KeyMaterialError` saying what is wrong with it."""
        if not isinstance(data, dict):
            raise KeyMaterialError(f"a key record is a map, not {type(data).__name__}")
        missing = [f for f in ("name", "role", "public_key", "added_at") if f not in data]
        if missing:
            raise KeyMaterialError(f"key record lacks {', '.join(missing)}")
        role: Role | None = None
        with contextlib.suppress(ValueError, TypeError):
            role = Role(data["role"])
        if role is None:
            raise KeyMaterialError(f"key record {data.get('name')!r:.60}: unknown role {data['role']!r:.60}; "
                                   f"known: {', '.join(Role)}")
        return cls(data["name"], role, data["public_key"], data["added_at"], data.get("revoked_at"))

"""Talking to a mesh from a client (puliclient, the CLI, pipeline tools).

A client reaches any agent (``--node HOST:PORT`` / ``PULI_NODE``, or Puli's
``PULIHOST``/``PULIPORT``), or reads the leader from ZooKeeper (``--zk`` /
``PULI_ZK``). A follower answers REDIRECT; the client follows at most
``MAX_HOPS`` redirects. Every request has a timeout and a bounded number of
tries (Lazy Pirate): a client never hangs forever. A client keeps its connection to an agent
open from one request to the next (per thread: ZeroMQ sockets are not shared between threads),
so a tool that polls (``top``, a wrangler's script) pays the CURVE handshake once, not on every
request; a try that gets no answer closes it, and the next try opens a new one (Lazy Pirate's
rule: a late answer on the old one is never mistaken for the new). The cluster settings kept in
ZooKeeper (licence totals, pools, keys) are read here (licences and pools, which anyone may
read) and changed through the leader (``SETTINGS``: a client holds no ZooKeeper credential).

Guarantees: an agent's ERROR reply raises ``MeshRequestError`` with its ``code``;
no answer raises ``MeshUnreachableError`` (both in :mod:`puli_mesh.errors`, also
importable from here).

Not here: what a code means for a user (``puliclient.farm`` maps codes to its
exception classes), formatting, retries beyond the Lazy Pirate tries.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import zmq

from puli_mesh.errors import ConfigError, MeshRequestError, MeshUnreachableError, ProtocolError, PuliMeshError
from puli_mesh.keys import KeyPair, client_key_file, load_client_key
from puli_mesh.limits import CLIENT_HWM, MAX_MESSAGE_BYTES
from puli_mesh.protocol import (
    KINDS,
    ClientRequest,
    ErrorCode,
    ErrorMessage,
    Message,
    RedirectMessage,
    ResultMessage,
    decode,
)
from puli_mesh.zkpaths import ClusterPaths

if TYPE_CHECKING:
    from kazoo.client import KazooClient

log = logging.getLogger(__name__)

__all__ = ["MeshClient", "MeshRequestError", "MeshUnreachableError", "to_endpoint"]

MAX_HOPS = 3
DEFAULT_TIMEOUT_S = 10.0
DEFAULT_TRIES = 3


def to_endpoint(address: str) -> str:
    """``host:port`` or ``tcp://host:port`` -> ``tcp://host:port``."""
    if address.startswith("tcp://"):
        return address
    if ":" not in address:
        address = f"{address}:8004"
    return f"tcp://{address}"


def client_key_from_environment() -> KeyPair | None:
    """The client's key (``keys.client_key_file``: ``PULI_KEY``, else ``~/.puli-mesh/key``); None
    (an open mesh's client) when there is none. A named file that cannot be used is an error."""
    path = client_key_file()
    return None if path is None else load_client_key(path)


def _probe(endpoint: str, timeout: float) -> None:
    """Fail fast with a clear reason when nothing listens (ZeroMQ would retry silently)."""
    host, _, port = endpoint.removeprefix("tcp://").rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=min(timeout, 5.0)).close()
    except (OSError, ValueError) as exc:
        raise MeshUnreachableError(f"no mesh reachable at {host}:{port} ({exc})") from exc


@dataclass
class MeshClient:
    """Sends requests to a mesh and returns the ``data`` of the RESULT."""

    node: str | None = None
    zk: str | None = None
    cluster: str = "default"
    timeout: float = DEFAULT_TIMEOUT_S
    tries: int = DEFAULT_TRIES
    key: KeyPair | None = field(default_factory=client_key_from_environment)
    """This client's key (CURVE); None for an open (``--insecure``) mesh."""
    _links: threading.local = field(default_factory=threading.local, init=False, repr=False, compare=False)
    """Per thread: endpoint -> the DEALER kept open to it."""

    def close(self) -> None:
        """Close this thread's open connections (the others close with their threads' sockets)."""
        for sock in self._open_links().values():
            sock.close(linger=0)
        self._open_links().clear()

    def __enter__(self) -> MeshClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _open_links(self) -> dict[str, zmq.Socket[bytes]]:
        links: dict[str, zmq.Socket[bytes]] | None = getattr(self._links, "sockets", None)
        if links is None:
            links = self._links.sockets = {}
        return links

    def _link(self, endpoint: str) -> zmq.Socket[bytes]:
        """The open connection to ``endpoint``, or a new one (checked reachable first)."""
        links = self._open_links()
        sock = links.get(endpoint)
        if sock is not None:
            return sock
        _probe(endpoint, self.timeout)
        sock = zmq.Context.instance().socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        sock.setsockopt(zmq.RCVHWM, CLIENT_HWM)
        sock.setsockopt(zmq.SNDHWM, CLIENT_HWM)
        sock.setsockopt(zmq.SNDTIMEO, int(self.timeout * 1000))  # never hang on a send either
        if self.key is not None:
            assert self.key.secret_key is not None and self.key.server_key is not None  # load_client_key
            sock.curve_secretkey = self.key.secret_key
            sock.curve_publickey = self.key.public_key
            sock.curve_serverkey = self.key.server_key
        sock.connect(endpoint)
        links[endpoint] = sock
        return sock

    def _drop_link(self, endpoint: str) -> None:
        sock = self._open_links().pop(endpoint, None)
        if sock is not None:
            sock.close(linger=0)

    @classmethod
    def from_environment(cls, node: str | None = None, zk: str | None = None,
                         cluster: str | None = None, timeout: float = DEFAULT_TIMEOUT_S) -> MeshClient:
        """Explicit arguments first, then PULI_NODE / PULI_ZK / PULI_CLUSTER, then PULIHOST:PULIPORT."""
        node = node or os.environ.get("PULI_NODE")
        zk = zk or os.environ.get("PULI_ZK")
        if not node and not zk:
            host = os.environ.get("PULIHOST", "puliserver")
            port = os.environ.get("PULIPORT", "8004")
            node = f"{host}:{port}"
        return cls(node=node, zk=zk, cluster=cluster or os.environ.get("PULI_CLUSTER", "default"),
                   timeout=timeout)

    def describe(self) -> str:
        return self.node or f"zk {self.zk} cluster {self.cluster}"

    @contextmanager
    def _zookeeper(self) -> Iterator[KazooClient]:
        """A ZooKeeper session for one look-up, closed on exit."""
        from kazoo.handlers.threading import KazooTimeoutError

        from puli_mesh import zk_access

        if not self.zk:
            raise ConfigError("cluster settings live in ZooKeeper: give the ZooKeeper hosts (zk, PULI_ZK)")
        # A client reads only what is public (leader, members, licences, pools): no credential;
        # TLS/SASL to the ensemble as the environment says (PULI_ZK_TLS_CA, ...).
        zk = zk_access.connect(self.zk, max(2.0, self.timeout), None, zk_access.options_from_environment())
        try:
            zk.start(timeout=self.timeout)
        except KazooTimeoutError as exc:
            raise MeshUnreachableError(f"ZooKeeper at {self.zk} did not answer") from exc
        try:
            yield zk
        finally:
            zk.stop()
            zk.close()

    def _first_endpoint(self) -> str:
        if self.node:
            return to_endpoint(self.node)
        from puli_mesh.cluster_state import read_leader

        with self._zookeeper() as zk:
            leader = read_leader(zk, ClusterPaths(self.cluster))
        if leader is None:
            raise MeshUnreachableError(f"cluster {self.cluster!r} at {self.zk} has no leader yet")
        return leader.endpoint

    # Cluster settings are kept in ZooKeeper, whose cluster znodes only agents may write: the
    # leader writes them for a client whose role allows it (``puli_mesh.cluster_settings``).
    def change_settings(self, action: str, **args: Any) -> Any:
        """Send one ``SETTINGS`` action to the leader; its RESULT data. The arguments are checked
        here first (``ConfigError`` / ``KeyMaterialError``), so a bad one costs no round trip."""
        from puli_mesh.cluster_settings import parse

        parse(action, args)
        return self.request("SETTINGS", action=action, args=args)

    def set_licence(self, name: str, total: int) -> None:
        """Define a licence or change its total. Raises ``ConfigError`` for a bad name or total."""
        self.change_settings("licence_set", name=name, total=total)

    def define_pool(self, name: str) -> None:
        """Define a pool (graphs may name it before any node joins it)."""
        self.change_settings("pool_define", name=name)

    def add_key(self, name: str, role: str, public_key: str) -> dict[str, Any]:
        """Register the public key of ``name`` with ``role`` (admin only); the new record's data."""
        return dict(self.change_settings("key_add", name=name, role=role, public_key=public_key))

    def revoke_key(self, name: str) -> dict[str, Any]:
        """Revoke key ``name`` (admin only): refused from its next message on; its record's data."""
        return dict(self.change_settings("key_revoke", name=name))

    def list_keys(self) -> list[dict[str, Any]]:
        """Every key of the cluster's registry (admin only), revoked ones included, by name."""
        return list(self.change_settings("key_list"))

    def pool_members(self) -> dict[str, list[str]]:
        """Every pool defined or named by a live agent, with the live agents in it (sorted)."""
        from puli_mesh.cluster_state import read_members, read_pools

        paths = ClusterPaths(self.cluster)
        with self._zookeeper() as zk:
            defined = read_pools(zk, paths)
            members = read_members(zk, paths)
        by_pool: dict[str, list[str]] = {p: [] for p in defined}
        for name, data in members.items():
            for pool in data.get("pools", []):
                by_pool.setdefault(pool, []).append(name)
        return {pool: sorted(names) for pool, names in sorted(by_pool.items())}

    def request(self, kind: str, *, rid: str | None = None, **fields: Any) -> Any:
        """Send one request (``kind``: SUBMIT, QUERY, EDIT or LOGS, with its fields), follow
        redirects, return the RESULT data or raise.

        One request id (``rid``, a fresh one unless given) for every try and redirect: a SUBMIT
        whose reply was lost, sent again with the same ``rid`` (even to a new leader after a
        failover), gets the graph it created instead of a second one."""
        rid = rid or uuid.uuid4().hex
        endpoint = self._first_endpoint()
        for _hop in range(MAX_HOPS + 1):
            match self._exchange(endpoint, kind, fields, rid):
                case ResultMessage(data=data):
                    return data
                case RedirectMessage(endpoint=leader):
                    log.debug("redirected from %s to %s", endpoint, leader)
                    endpoint = leader
                case ErrorMessage(code=code, message=message):
                    raise MeshRequestError(code, message)
                case reply:
                    raise MeshRequestError(ErrorCode.PROTOCOL, f"unexpected reply {reply.kind}")
        raise MeshUnreachableError(f"more than {MAX_HOPS} redirects from {self.describe()}")

    def request_at(self, endpoint: str, kind: str, **fields: Any) -> Any:
        """Send to one given agent without following redirects (logs are served where they are)."""
        match self._exchange(to_endpoint(endpoint), kind, fields, uuid.uuid4().hex):
            case ResultMessage(data=data):
                return data
            case ErrorMessage(code=code, message=message):
                raise MeshRequestError(code, message)
            case reply:
                raise MeshRequestError(ErrorCode.PROTOCOL, f"unexpected reply {reply.kind} from {endpoint}")

    def _exchange(self, endpoint: str, kind: str, fields: dict[str, Any], rid: str) -> Message:
        data = _request(kind, rid, fields).encode()
        last_error = "no answer"
        for attempt in range(self.tries):
            sock = self._link(endpoint)
            try:
                sock.send(data)
                deadline = time.monotonic() + self.timeout
                while sock.poll(max(0, int((deadline - time.monotonic()) * 1000))):
                    try:
                        reply = decode(sock.recv())
                    except PuliMeshError as exc:
                        last_error = str(exc)
                        break
                    if getattr(reply, "rid", None) in (rid, None):
                        return reply
                    # A late reply to an earlier request on this connection: keep waiting.
                else:
                    last_error = f"no answer within {self.timeout:.0f}s"
            except zmq.ZMQError as exc:  # e.g. the send timed out
                last_error = str(exc)
            self._drop_link(endpoint)  # Lazy Pirate: a try that failed closes its connection
            log.debug("try %d to %s failed: %s", attempt + 1, endpoint, last_error)
        hint = "" if self.key is not None else " (a secured mesh answers only a client with a key: set PULI_KEY)"
        raise MeshUnreachableError(f"no mesh reachable at {endpoint.removeprefix('tcp://')}: {last_error}{hint}")


def _request(kind: str, rid: str, fields: dict[str, Any]) -> ClientRequest:
    """The client request of ``kind`` with these fields; raise ProtocolError for another kind or
    a field it has not (its types are checked when it is encoded)."""
    cls = KINDS.get(kind)
    if cls is None or not issubclass(cls, ClientRequest):
        raise ProtocolError(f"{kind!r} is not a client request")
    try:
        request = cls(rid=rid, **fields)
    except TypeError as exc:  # a field the kind has not, or one it lacks
        raise ProtocolError(f"bad {kind} fields: {exc}") from exc
    assert isinstance(request, ClientRequest)
    return request

"""An agent's security: its keys, the cluster's ZooKeeper credential, the key registry, CURVE.

Built once from the settings: with ``--keys DIR`` the agent is secured (CURVE on its ROUTER as
the cluster's server key, CURVE on its worker link with its own node key, a ZAP handler that
lets in only live keys of the registry, every znode behind the cluster's credential); with
``--insecure`` nothing of that (and the agent says so in its log).

Guarantees: a secured agent's ROUTER completes a handshake only with a key registered and not
revoked at that moment, and :meth:`AgentSecurity.requester` re-checks the key of every message
against the registry as it is now, so a revoked key is refused from its next message on, even
on a connection opened before; an agent with keys that cannot be read does not start; a web
token (:meth:`AgentSecurity.token_holder`) stands for a key only while the registry holds it live.

Not here: what a role may do (``puli_mesh.access``), the registry's znodes
(``puli_mesh.key_registry``), the ACLs (``puli_mesh.zk_access``).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import zmq
from kazoo.client import KazooClient
from zmq.auth.base import Authenticator

from puli_mesh import zk_access
from puli_mesh.config import Settings
from puli_mesh.errors import ConfigError, KeyMaterialError, TokenError
from puli_mesh.key_registry import KeyRegistry
from puli_mesh.keys import AgentKeys, KeyPair, KeyRecord, load_agent_keys
from puli_mesh.web.auth import TokenClaim, read_token
from puli_mesh.zkpaths import ClusterPaths

log = logging.getLogger(__name__)

ZAP_DOMAIN = "puli-mesh"
USER_ID = "User-Id"
"""The property ZeroMQ gives every message received over CURVE: what the ZAP handler answered
for its sender's key (pyzmq's default: the key itself, in Z85)."""


ZAP_POLL_MS = 100
"""How often the ZAP thread looks whether it must stop."""


def finish(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run to its end a coroutine that never waits, without an event loop (``Authenticator``'s
    handler awaits only a callback's awaitable answer, and ours answers a bool at once)."""
    try:
        coroutine.send(None)
    except StopIteration:
        return
    coroutine.close()
    raise RuntimeError("the ZAP handler waited for something; it must answer at once")


class ZapHandler:
    """pyzmq's ``Authenticator`` (the ZAP protocol, with our key check as its CURVE callback),
    served by a plain thread. pyzmq's ``ThreadAuthenticator`` runs it in an asyncio loop: about
    0.3 ms more Python per handshake, under the GIL beside the agent's loop, paid 2,000 times
    at once when a farm's workers reconnect to a new leader."""

    def __init__(self, context: zmq.Context[zmq.Socket[bytes]], provider: Any) -> None:
        self.authenticator = Authenticator(context, log=logging.getLogger(f"{__name__}.zap"))
        self.provider = provider
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Bind the ZAP socket (before any CURVE socket binds) and serve it."""
        self.authenticator.start()
        self.authenticator.configure_curve_callback(ZAP_DOMAIN, credentials_provider=self.provider)
        self._thread = threading.Thread(target=self._serve, name="zap", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        sock = self.authenticator.zap_socket
        while not self._stopping.is_set():
            if sock.poll(ZAP_POLL_MS):
                try:
                    finish(self.authenticator.handle_zap_message(sock.recv_multipart()))
                except Exception:  # a bad request must not end the thread: no handshake would pass
                    log.exception("ZAP request not handled")

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.authenticator.stop()


class AgentSecurity:
    """The agent's keys and the registry it checks every peer against (None parts: insecure)."""

    def __init__(self, keys: AgentKeys | None, credential: zk_access.ZooKeeperCredential | None) -> None:
        self.keys = keys
        self.credential = credential
        self.registry = KeyRegistry()
        self._zap: ZapHandler | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> AgentSecurity:
        """Read the keys directory of ``settings`` (``ConfigError`` saying what is wrong with it)."""
        directory: Path | None = settings.keys_directory()
        if directory is None:
            log.warning("INSECURE mesh: no keys, no encryption, no roles; anyone who reaches port %d "
                        "or ZooKeeper owns this farm", settings.port)
            return cls(None, None)
        try:
            return cls(load_agent_keys(directory), zk_access.read_credential(directory))
        except KeyMaterialError as exc:
            raise ConfigError(f"keys directory {directory}: {exc}") from exc

    @property
    def secured(self) -> bool:
        return self.keys is not None

    # ------------------------------------------------------------------ CURVE
    def start_zap(self, context: zmq.Context[zmq.Socket[bytes]]) -> None:
        """Start the ZAP handler, before any socket binds (every handshake is refused until
        :meth:`follow` has read the registry)."""
        if self.keys is None:
            return
        self._zap = ZapHandler(context, self)
        self._zap.start()

    def follow(self, zk: KazooClient, paths: ClusterPaths) -> None:
        """Read the key registry now and after each change (``zk`` is started)."""
        if self.keys is not None:
            self.registry.follow(zk, paths)

    def stop(self) -> None:
        if self._zap is not None:
            self._zap.stop()
            self._zap = None

    def callback(self, _domain: str, key: bytes) -> bool:
        """The ZAP handler's question (on its thread): may this public key connect?"""
        allowed = self.registry.lookup(key) is not None
        if not allowed:
            log.warning("refused a CURVE handshake from an unknown or revoked key %s", key.decode("ascii", "replace"))
        return allowed

    def serve(self, sock: zmq.Socket[bytes]) -> None:
        """Make ``sock`` (before it binds) a CURVE server with the cluster's key."""
        if self.keys is None:
            return
        pair = self.keys.cluster
        assert pair.secret_key is not None  # load_agent_keys reads secret files
        sock.curve_secretkey = pair.secret_key
        sock.curve_publickey = pair.public_key
        sock.curve_server = True
        sock.zap_domain = ZAP_DOMAIN.encode()
        sock.setsockopt(zmq.ZAP_ENFORCE_DOMAIN, 1)  # no handler answering: refuse, never let in unchecked

    def secure_client(self, sock: zmq.Socket[bytes]) -> None:
        """Make ``sock`` (before it connects) a CURVE client with this host's agents' key."""
        if self.keys is None:
            return
        own = self.keys.agent
        assert own.secret_key is not None
        sock.curve_secretkey = own.secret_key
        sock.curve_publickey = own.public_key
        sock.curve_serverkey = self.keys.cluster.public_key

    def requester(self, frame: zmq.Frame) -> KeyRecord | None:
        """Who sent ``frame``, as the registry is now: None for a key not (or no longer) live."""
        try:
            user_id = frame.get(USER_ID)
        except zmq.ZMQError:
            return None  # no CURVE property: not a message that went through our handshake
        return self.registry.lookup(user_id)


    # ------------------------------------------------------------------ web tokens
    def token_holder(self, token: str, now: float) -> tuple[KeyRecord, TokenClaim]:
        """The live key a web token (``puli_mesh.web.auth``) was made with, as the registry is
        now, and what the token says; :class:`TokenError` for a bad, expired or foreign token,
        or a key not (or no longer) registered. Only a secured agent holds the cluster's secret key to check one."""
        if self.keys is None:
            raise TokenError("this mesh runs open (--insecure): it has no keys to check a token with")
        cluster = self.keys.cluster
        assert cluster.secret_key is not None  # load_agent_keys reads secret files
        claim = read_token(token, cluster.secret_key, cluster.public_key, now)
        record = self.registry.lookup(claim.public_key)
        if record is None:
            raise TokenError("the token's key is not registered or was revoked; ask an admin (`puli-mesh keys list`)")
        return record, claim

    def client_key(self) -> KeyPair | None:
        """This agent's own key as a client's (CURVE client of the cluster's key): how its web
        server reaches the mesh. None on an open mesh."""
        if self.keys is None:
            return None
        return dataclasses.replace(self.keys.agent, server_key=self.keys.cluster.public_key)

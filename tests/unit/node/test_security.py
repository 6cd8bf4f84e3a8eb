"""The agent's ZAP handler on a plain thread (``node.security``), against real ZeroMQ sockets."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq

from puli_mesh.errors import TokenError
from puli_mesh.keys import AGENT_KEY, CLUSTER_KEY, AgentKeys, KeyRecord, create_key_pair
from puli_mesh.node.security import ZAP_DOMAIN, AgentSecurity, ZapHandler, finish
from puli_mesh.roles import Role
from puli_mesh.web.auth import TokenClaim, token_for


def test_a_coroutine_that_never_waits_is_run_to_its_end_one_that_waits_is_refused() -> None:
    ran: list[str] = []

    async def at_once() -> None:
        ran.append("done")

    finish(at_once())
    assert ran == ["done"]

    class Pending:
        def __await__(self) -> Iterator[None]:
            yield None  # what an event loop would be asked to wait for

    async def waits() -> None:
        await Pending()

    with pytest.raises(RuntimeError, match="answer at once"):
        finish(waits())


class Keys:
    """The credentials provider: lets in one public key."""

    def __init__(self, allowed: bytes) -> None:
        self.allowed = allowed
        self.asked: list[bytes] = []

    def callback(self, _domain: str, key: bytes) -> bool:
        self.asked.append(key)
        return key == self.allowed


@pytest.fixture
def context() -> Iterator[zmq.Context[zmq.Socket[bytes]]]:
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    yield ctx
    ctx.term()


def test_the_handler_lets_in_a_known_key_and_refuses_another(context: zmq.Context[zmq.Socket[bytes]]) -> None:
    server_public, server_secret = zmq.curve_keypair()
    known_public, known_secret = zmq.curve_keypair()
    other_public, other_secret = zmq.curve_keypair()
    keys = Keys(known_public)
    zap = ZapHandler(context, keys)
    zap.start()
    sockets: list[zmq.Socket[bytes]] = []
    try:
        router = context.socket(zmq.ROUTER)
        sockets.append(router)
        router.curve_server, router.curve_secretkey, router.curve_publickey = True, server_secret, server_public
        router.zap_domain = ZAP_DOMAIN.encode()
        port = router.bind_to_random_port("tcp://127.0.0.1")
        for public, secret in ((other_public, other_secret), (known_public, known_secret)):
            dealer = context.socket(zmq.DEALER)
            sockets.append(dealer)
            dealer.curve_serverkey, dealer.curve_publickey, dealer.curve_secretkey = server_public, public, secret
            dealer.connect(f"tcp://127.0.0.1:{port}")
            dealer.send(public)
        assert router.poll(5000)
        _, said = router.recv_multipart()
        assert said == known_public and not router.poll(300)  # the other key never got through
        assert set(keys.asked) == {known_public, other_public}
    finally:
        for sock in sockets:
            sock.close(linger=0)
        zap.stop()


# ------------------------------------------------------------------ web tokens
def agent_security(tmp_path: Path) -> AgentSecurity:
    cluster = create_key_pair(tmp_path / "keys", CLUSTER_KEY)
    agent = create_key_pair(tmp_path / "keys", AGENT_KEY)
    return AgentSecurity(AgentKeys(tmp_path / "keys", cluster, agent), None)


def test_a_token_stands_for_its_key_while_the_registry_holds_it_live(tmp_path: Path) -> None:
    security = agent_security(tmp_path)
    cluster_public = security.keys.cluster.public_key  # type: ignore[union-attr]
    ana = create_key_pair(tmp_path / "ana", "ana", server_key=cluster_public)
    record = KeyRecord("ana", Role.USER, ana.public_key.decode(), 0.0)
    security.registry.replace({"ana": record})
    now = time.time()
    token, expires_at = token_for(ana, now, hours=1)
    assert security.token_holder(token, now) == (record, TokenClaim(record.public_key, expires_at))
    security.registry.replace({"ana": record.revoke(now)})
    with pytest.raises(TokenError, match="revoked"):
        security.token_holder(token, now)


def test_an_open_agent_checks_no_token_and_its_web_server_has_no_key(tmp_path: Path) -> None:
    with pytest.raises(TokenError, match="open"):
        AgentSecurity(None, None).token_holder("pmt1.x", 0.0)
    assert AgentSecurity(None, None).client_key() is None
    security = agent_security(tmp_path)
    own = security.client_key()
    assert own is not None and own.server_key == security.keys.cluster.public_key  # type: ignore[union-attr]
    assert own.public_key == security.keys.agent.public_key  # type: ignore[union-attr]

"""The mesh client (``puli_mesh.client``) against ROUTER sockets that play a follower and a leader."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import zmq

from puli_mesh.client import MeshClient
from puli_mesh.errors import ConfigError, KeyMaterialError
from puli_mesh.protocol import (
    Message,
    QueryMessage,
    RedirectMessage,
    ResultMessage,
    SettingsMessage,
    SubmitMessage,
    decode,
)


@pytest.fixture
def context() -> Iterator[zmq.Context[zmq.Socket[bytes]]]:
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    yield ctx
    ctx.term()


def test_a_request_keeps_its_rid_across_redirects_and_tries(context: zmq.Context[zmq.Socket[bytes]]) -> None:
    """The follower redirects; the leader loses the first try's reply: the SUBMIT that reaches
    the leader again carries the rid it had, so the leader knows it is the same SUBMIT."""
    follower, leader = context.socket(zmq.ROUTER), context.socket(zmq.ROUTER)
    follower_port = follower.bind_to_random_port("tcp://127.0.0.1")
    leader_port = leader.bind_to_random_port("tcp://127.0.0.1")
    seen: list[tuple[str, str]] = []
    stop = threading.Event()

    def serve() -> None:
        leader_heard = 0
        while not stop.is_set():
            for sock, name in ((follower, "follower"), (leader, "leader")):
                if not sock.poll(10):
                    continue
                peer, frame = sock.recv_multipart()
                msg = decode(frame)
                assert isinstance(msg, SubmitMessage)
                seen.append((name, msg.rid))
                if sock is follower:
                    sock.send_multipart([peer, RedirectMessage(msg.rid, f"tcp://127.0.0.1:{leader_port}", 1).encode()])
                else:
                    leader_heard += 1
                    if leader_heard != 1:  # the first try's reply is "lost"
                        sock.send_multipart([peer, ResultMessage(msg.rid, {"graph_id": 7}).encode()])

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        client = MeshClient(node=f"127.0.0.1:{follower_port}", timeout=0.5, tries=3)
        assert client.request("SUBMIT", graph={"name": "g"}, rid="mine") == {"graph_id": 7}
        assert seen == [("follower", "mine"), ("leader", "mine"), ("leader", "mine")]
        seen.clear()
        client.request("SUBMIT", graph={"name": "g"})  # a fresh rid by default, one for all hops
        ((_, to_follower), (_, to_leader)) = seen
        assert to_follower == to_leader != "mine"
    finally:
        stop.set()
        server.join(5)
        follower.close(linger=0)
        leader.close(linger=0)


@contextmanager
def leader_answering(context: zmq.Context[zmq.Socket[bytes]],
                     answer: Callable[[bytes, Message], Message | None]) -> Iterator[int]:
    """A ROUTER playing the leader on a thread: ``answer(peer, request)`` is its reply (None: it
    stays silent). Yields its port."""
    leader = context.socket(zmq.ROUTER)
    port = leader.bind_to_random_port("tcp://127.0.0.1")
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            if not leader.poll(10):
                continue
            peer, frame = leader.recv_multipart()
            reply = answer(peer, decode(frame))
            if reply is not None:
                leader.send_multipart([peer, reply.encode()])

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        yield port
    finally:
        stop.set()
        server.join(timeout=5)
        leader.close(linger=0)


def test_settings_changes_are_settings_requests_to_the_leader(context: zmq.Context[zmq.Socket[bytes]]) -> None:
    """``set_licence``, ``define_pool`` and the key methods send one SETTINGS each (no ZooKeeper
    session: a client cannot write the cluster's znodes); a bad value is refused before sending."""
    heard: list[tuple[str, dict[str, object]]] = []

    def answer(_peer: bytes, msg: Message) -> Message:
        assert isinstance(msg, SettingsMessage)
        heard.append((msg.action, msg.args))
        return ResultMessage(msg.rid, [] if msg.action == "key_list" else dict(msg.args))

    with leader_answering(context, answer) as port:
        client = MeshClient(node=f"127.0.0.1:{port}", timeout=2.0)
        client.set_licence("mtoa", 20)
        client.define_pool("gpu")
        public = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
        assert client.add_key("bob", "user", public) == {"name": "bob", "role": "user", "public_key": public}
        assert client.revoke_key("bob") == {"name": "bob"}
        assert client.list_keys() == []
        with pytest.raises(ConfigError, match="total must be a whole number"):
            client.set_licence("mtoa", -1)
        with pytest.raises(KeyMaterialError, match="Z85"):
            client.add_key("eve", "user", "not a key")
    assert heard == [("licence_set", {"name": "mtoa", "total": 20}), ("pool_define", {"name": "gpu"}),
                     ("key_add", {"name": "bob", "role": "user", "public_key": public}),
                     ("key_revoke", {"name": "bob"}), ("key_list", {})]


def test_a_client_keeps_its_connection_between_requests_and_drops_it_after_a_try_unanswered(
        context: zmq.Context[zmq.Socket[bytes]]) -> None:
    """A polling tool pays one handshake, not one per request (on a secured mesh each costs the
    leader a CURVE handshake); a try that got no answer leaves by a new connection, so a late
    answer on the old one is never taken for the new try's."""
    peers: list[bytes] = []

    def answer(peer: bytes, msg: Message) -> Message | None:
        assert isinstance(msg, QueryMessage)
        peers.append(peer)
        return None if len(peers) == 3 else ResultMessage(msg.rid, len(peers))  # the 3rd try: silence

    with leader_answering(context, answer) as port, \
            MeshClient(node=f"127.0.0.1:{port}", timeout=0.5, tries=2) as client:
        assert [client.request("QUERY", what="figures", args={}) for _ in range(2)] == [1, 2]
        assert peers[0] == peers[1]  # one connection
        assert client.request("QUERY", what="figures", args={}) == 4
        assert peers[2] == peers[1] != peers[3]  # the unanswered try's connection was dropped
        assert client.request("QUERY", what="figures", args={}) == 5 and peers[4] == peers[3]

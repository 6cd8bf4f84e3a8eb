"""Protocol: round trips, and every kind of bad input gives a clear ProtocolError."""

from __future__ import annotations

import msgpack
import pytest

from puli_mesh import protocol
from puli_mesh.errors import ProtocolError

V = protocol.PROTOCOL_VERSION


def test_round_trip_keeps_fields() -> None:
    data = protocol.encode("UPDATE", command_id=7, attempt=2, seq=9, status=5, completion=1.0,
                           message="done", stats={"frames": 3})
    msg = protocol.decode(data)
    assert msg.kind == "UPDATE"
    assert msg["command_id"] == 7 and msg["attempt"] == 2 and msg["stats"] == {"frames": 3}
    assert msg.get("missing", "x") == "x"


@pytest.mark.parametrize(
    ("frame", "fragment"),
    [
        (b"\xc1\xc1garbage", "not valid msgpack"),
        (msgpack.packb([1, 2, 3]), "expected a map"),
        (msgpack.packb({"v": 99, "k": "READY", "free_slots": 1}), "protocol version 99"),
        (msgpack.packb({"v": V, "free_slots": 1}), "has no kind"),
        (msgpack.packb({"v": V, "k": "NOPE"}), "unknown message kind 'NOPE'"),
        (msgpack.packb({"v": V, "k": "READY"}), "lacks field 'free_slots'"),
        (msgpack.packb({"v": V, "k": "READY", "free_slots": "2"}), "READY.free_slots must be int, got str"),
        (msgpack.packb({"v": V, "k": "READY", "free_slots": True}), "got bool"),
    ],
)
def test_bad_frames_are_refused_with_a_reason(frame: bytes, fragment: str) -> None:
    with pytest.raises(ProtocolError, match=fragment.replace("(", r"\(").replace(".", r"\.")):
        protocol.decode(frame)


def test_encode_refuses_what_a_peer_would_refuse() -> None:
    with pytest.raises(ProtocolError, match="lacks field 'rid'"):
        protocol.encode("SUBMIT", graph={})


def test_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(protocol, "MAX_MESSAGE_BYTES", 100)
    with pytest.raises(ProtocolError, match="above the 100-byte limit"):
        protocol.encode("ERROR", rid=None, code="x", message="y" * 200)
    with pytest.raises(ProtocolError, match="above the 100-byte limit"):
        protocol.decode(b"\x00" * 101)


def test_unknown_extra_fields_are_kept_for_forward_compatibility() -> None:
    frame = msgpack.packb({"v": V, "k": "READY", "free_slots": 1, "future": [1]})
    assert protocol.decode(frame).get("future") == [1]

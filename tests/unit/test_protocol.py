"""Protocol: one class per kind, byte-compatible round trips, and every kind of bad input
gives a clear ProtocolError."""

from __future__ import annotations

import typing
from typing import Any

import msgpack
import pytest

from puli_mesh import protocol
from puli_mesh.errors import ProtocolError
from puli_mesh.protocol import (
    AckMessage,
    AssignMessage,
    AssignsMessage,
    ByeMessage,
    CommandSpec,
    EditMessage,
    ErrorCode,
    ErrorMessage,
    HeartbeatMessage,
    HelloMessage,
    KillfileMessage,
    KillMessage,
    LogsMessage,
    Message,
    QueryMessage,
    ReadyMessage,
    RedirectMessage,
    ReleaseMessage,
    ResultMessage,
    SettingsMessage,
    SubmitMessage,
    UpdateMessage,
    UpdatesMessage,
    WelcomeMessage,
    decode,
)
from puliclient.errors import FARM_ERROR_CLASSES, FarmError
from puliclient.status import CommandStatus

V = protocol.PROTOCOL_VERSION

SPEC_FIELDS: dict[str, Any] = {
    "command_id": 42, "attempt": 3, "runner": "puliclient.jobs.DefaultCommandRunner",
    "arguments": {"cmd": "render", "start": 1, "end": 10}, "environment": {"PROD": "x"}, "timeout": 3600.0,
    "licences": ["mtoa"], "cores": 4, "ram_mb": 4000, "task_id": 7, "task_name": "render", "graph_id": 2,
    "user": "jdoe", "name": "render_1_10", "after": 0,
}
UPDATE_FIELDS: dict[str, Any] = {"command_id": 7, "attempt": 2, "seq": 9, "status": 5, "completion": 1.0,
                                 "message": "done", "stats": {"frames": 3}}

# Each kind, and the map its frame held before messages were classes (version 4): the same bytes.
EVERY_KIND: list[tuple[Message, dict[str, Any]]] = [
    (HelloMessage("w1", "tcp://h:8004", ["default"], 8, 32000, 16000, 2, {"os": "linux"}, 1.5, [[4, 1]], 3, 16),
     {"name": "w1", "endpoint": "tcp://h:8004", "pools": ["default"], "cores": 8, "ram_mb": 32000,
      "free_ram_mb": 16000, "slots": 2, "characteristics": {"os": "linux"}, "performance": 1.5,
      "running": [[4, 1]], "last_epoch": 3, "pipeline": 16}),
    (ReadyMessage(3), {"free_slots": 3}),
    (UpdateMessage(**UPDATE_FIELDS), UPDATE_FIELDS),
    (UpdateMessage(**UPDATE_FIELDS, free_slots=2), {**UPDATE_FIELDS, "free_slots": 2}),
    (UpdatesMessage([UPDATE_FIELDS], None), {"updates": [UPDATE_FIELDS], "free_slots": None}),
    (HeartbeatMessage(5), {"epoch": 5}),
    (HeartbeatMessage(5, free_ram_mb=2048), {"epoch": 5, "free_ram_mb": 2048}),  # a worker's, with news
    (KillfileMessage("pause"), {"order": "pause"}),
    (ByeMessage(), {}),
    (ReleaseMessage(7, 2, "mtoa"), {"command_id": 7, "attempt": 2, "licence": "mtoa"}),
    (WelcomeMessage(5, [1, 2], [3]), {"epoch": 5, "keep": [1, 2], "kill": [3]}),
    (AssignMessage(5, CommandSpec(**SPEC_FIELDS)), {"epoch": 5, **SPEC_FIELDS}),
    (AssignsMessage(5, [SPEC_FIELDS, SPEC_FIELDS]), {"epoch": 5, "assigns": [SPEC_FIELDS, SPEC_FIELDS]}),
    (AckMessage(5, [[7, 2, 9]]), {"epoch": 5, "acks": [[7, 2, 9]]}),
    (KillMessage(5, 7, 2, "canceled"), {"epoch": 5, "command_id": 7, "attempt": 2, "reason": "canceled"}),
    (SubmitMessage("r1", {"name": "g"}), {"rid": "r1", "graph": {"name": "g"}}),
    (QueryMessage("r1", "graphs", {}), {"rid": "r1", "what": "graphs", "args": {}}),
    (EditMessage("r1", "pause", {"id": 3}), {"rid": "r1", "action": "pause", "args": {"id": 3}}),
    (EditMessage("r1", "pause", {"id": 3}, token="pmt1.k.9.m"),  # an agent's web server, acting for a user
     {"rid": "r1", "action": "pause", "args": {"id": 3}, "token": "pmt1.k.9.m"}),
    (LogsMessage("r1", 7, 0, 10, token="pmt1.k.9.m"),
     {"rid": "r1", "command_id": 7, "offset": 0, "limit": 10, "token": "pmt1.k.9.m"}),
    (LogsMessage("r1", 7, -100, 100), {"rid": "r1", "command_id": 7, "offset": -100, "limit": 100}),
    (SettingsMessage("r1", "licence_set", {"name": "mtoa", "total": 20}),
     {"rid": "r1", "action": "licence_set", "args": {"name": "mtoa", "total": 20}}),
    (ResultMessage("r1", [1, "two"]), {"rid": "r1", "data": [1, "two"]}),
    (RedirectMessage("r1", "tcp://leader:8004", 5), {"rid": "r1", "endpoint": "tcp://leader:8004", "epoch": 5}),
    (ErrorMessage(None, "not_found", "no such graph"), {"rid": None, "code": "not_found", "message": "no such graph"}),
]


@pytest.mark.parametrize(("msg", "wire"), EVERY_KIND, ids=[f"{m.kind}-{i}" for i, (m, _) in enumerate(EVERY_KIND)])
def test_every_kind_encodes_to_the_same_bytes_as_before_and_decodes_to_an_equal_message(
        msg: Message, wire: dict[str, Any]) -> None:
    frame = msg.encode()
    assert frame == msgpack.packb({"v": V, "k": msg.kind, **wire}, use_bin_type=True)
    decoded = decode(frame)
    assert type(decoded) is type(msg) and decoded == msg and decoded.unknown == {}


def test_every_kind_has_one_class_and_the_tables_name_them_all() -> None:
    assert set(protocol.KINDS) == {m.kind for m, _ in EVERY_KIND}
    assert all(protocol.KINDS[cls.kind] is cls for cls in protocol.KINDS.values())
    assert isinstance(decode(ReadyMessage(1).encode()), protocol.WorkerMessage)
    assert isinstance(decode(LogsMessage("r", 1, 0, 1).encode()), protocol.ClientRequest)
    assert not isinstance(decode(ResultMessage("r", None).encode()), protocol.ClientRequest | protocol.WorkerMessage)


def test_an_assign_decision_travels_as_its_command_spec() -> None:
    from puli_mesh.coordinator.decisions import Assign

    decision = Assign(*{**SPEC_FIELDS, "licences": ("mtoa",)}.values(), "rn1")
    frame = AssignMessage(epoch=5, spec=decision).encode()
    assert msgpack.unpackb(frame) == {"v": V, "k": "ASSIGN", "epoch": 5, **SPEC_FIELDS}  # no node; a list
    msg = decode(frame)
    assert isinstance(msg, AssignMessage) and msg.epoch == 5
    assert type(msg.spec) is CommandSpec and msg.spec == CommandSpec(**SPEC_FIELDS)
    assert decision.to_map() == {**SPEC_FIELDS, "licences": ("mtoa",)}  # an ASSIGNS item (a list on the wire)
    items = decode(AssignsMessage(5, [decision.to_map()]).encode())
    assert isinstance(items, AssignsMessage) and [CommandSpec.from_map(i) for i in items.assigns] == [msg.spec]


@pytest.mark.parametrize(
    ("frame", "fragment"),
    [
        (b"\xc1\xc1garbage", "not valid msgpack"),
        (msgpack.packb([1, 2, 3]), "expected a map"),
        (msgpack.packb({"v": 99, "k": "READY", "free_slots": 1}), "protocol version 99"),
        (msgpack.packb({"k": "READY", "free_slots": 1}), "protocol version None"),
        (msgpack.packb({"v": V, "free_slots": 1}), "has no kind"),
        (msgpack.packb({"v": V, "k": ["READY"]}), "has no kind"),
        (msgpack.packb({"v": V, "k": "NOPE"}), "unknown message kind 'NOPE'"),
        (msgpack.packb({"v": V, "k": "READY"}), "lacks field 'free_slots'"),
        (msgpack.packb({"v": V, "k": "READY", "free_slots": "2"}), "READY.free_slots must be int, got str"),
        (msgpack.packb({"v": V, "k": "READY", "free_slots": True}), "got bool"),
        (msgpack.packb({"v": V, "k": "HELLO", **{**EVERY_KIND[0][1], "performance": "fast"}}),
         "HELLO.performance must be int or float, got str"),
        (msgpack.packb({"v": V, "k": "UPDATE", **{**UPDATE_FIELDS, "status": 5.0}}),
         "UPDATE.status must be int or NoneType, got float"),
        (msgpack.packb({"v": V, "k": "ASSIGN", "epoch": 1, **{**SPEC_FIELDS, "runner": None}}),
         "ASSIGN.runner must be str, got NoneType"),
        (msgpack.packb({"v": V, "k": "ASSIGN", **SPEC_FIELDS}), "ASSIGN message lacks field 'epoch'"),
        (msgpack.packb({"v": V, "k": "ASSIGN", "epoch": 1, **{k: v for k, v in SPEC_FIELDS.items() if k != "after"}}),
         "ASSIGN message lacks field 'after'"),
        (msgpack.packb({"v": V, "k": "ERROR", "rid": 1, "code": "x", "message": "y"}),
         "ERROR.rid must be str or NoneType"),
        (msgpack.packb({"v": V, "k": "RESULT", "rid": "r"}), "RESULT message lacks field 'data'"),
    ],
)
def test_bad_frames_are_refused_with_a_reason(frame: bytes, fragment: str) -> None:
    with pytest.raises(ProtocolError, match=fragment.replace("(", r"\(").replace(".", r"\.")):
        decode(frame)


def test_encode_refuses_what_a_peer_would_refuse() -> None:
    with pytest.raises(ProtocolError, match="HELLO.cores must be int, got str"):
        HelloMessage(**{**EVERY_KIND[0][1], "cores": "8"}).encode()
    with pytest.raises(ProtocolError, match="READY.free_slots must be int, got bool"):
        ReadyMessage(True).encode()
    with pytest.raises(ProtocolError, match="ASSIGN.cores must be int, got float"):
        CommandSpec(**{**SPEC_FIELDS, "cores": 4.0}).to_map()


def test_a_subclass_of_a_field_type_is_sent_as_its_base() -> None:
    msg = decode(UpdateMessage(**{**UPDATE_FIELDS, "status": CommandStatus.DONE}).encode())
    assert isinstance(msg, UpdateMessage) and msg.status == 5 and type(msg.status) is int
    item = UpdateMessage.from_map({**UPDATE_FIELDS, "status": CommandStatus.DONE, "free_slots": 2})
    assert item.status is CommandStatus.DONE and item.free_slots == 2


def test_an_optional_field_absent_or_of_another_type_reads_as_none_and_none_is_not_sent() -> None:
    assert "free_slots" not in msgpack.unpackb(UpdateMessage(**UPDATE_FIELDS).encode())
    for free_slots in ("3", True, [3]):
        frame = msgpack.packb({"v": V, "k": "UPDATE", **UPDATE_FIELDS, "free_slots": free_slots})
        msg = decode(frame)
        assert isinstance(msg, UpdateMessage) and msg.free_slots is None and msg.unknown == {}
    assert UpdateMessage.from_map(UPDATE_FIELDS).free_slots is None  # an item of an UPDATES


def test_items_are_read_alone_and_a_bad_one_says_what_it_is() -> None:
    with pytest.raises(ProtocolError, match="UPDATE item is a str, expected a map"):
        UpdateMessage.from_map("junk")
    with pytest.raises(ProtocolError, match="ASSIGN message lacks field 'runner'"):
        CommandSpec.from_map({k: v for k, v in SPEC_FIELDS.items() if k != "runner"})
    with pytest.raises(ProtocolError, match="ASSIGN.cores must be int, got str"):
        CommandSpec.from_map({**SPEC_FIELDS, "cores": "four"})


def test_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(protocol, "MAX_MESSAGE_BYTES", 100)
    with pytest.raises(ProtocolError, match="above the 100-byte limit"):
        ErrorMessage(None, "x", "y" * 200).encode()
    with pytest.raises(ProtocolError, match="above the 100-byte limit"):
        decode(b"\x00" * 101)


def test_unknown_extra_fields_are_tolerated_kept_aside_and_not_trusted() -> None:
    frame = msgpack.packb({"v": V, "k": "READY", "free_slots": 1, "future": [1]})
    msg = decode(frame)
    assert msg == ReadyMessage(1) and msg.unknown == {"future": [1]}
    assert msg.encode() == ReadyMessage(1).encode()  # never passed on
    assert not hasattr(msg, "future")


def test_messages_are_frozen() -> None:
    msg = ReadyMessage(1)
    with pytest.raises(AttributeError):
        msg.free_slots = 2  # type: ignore[misc]


def test_the_kinds_a_worker_or_a_client_sends() -> None:
    assert {cls.kind for cls in typing.get_args(protocol.ClientRequest)} == {
        "SUBMIT", "QUERY", "EDIT", "LOGS", "SETTINGS"}
    assert {cls.kind for cls in typing.get_args(protocol.WorkerMessage)} == {
        "HELLO", "READY", "UPDATE", "UPDATES", "HEARTBEAT", "BYE", "RELEASE", "KILLFILE"}


def test_an_item_read_alone_must_be_a_map() -> None:
    with pytest.raises(ProtocolError, match="UPDATE item is a list, expected a map"):
        UpdateMessage.from_map([1])
    assert UpdateMessage.from_map(UPDATE_FIELDS) == UpdateMessage(**UPDATE_FIELDS)


def test_error_codes_travel_as_their_words_and_each_has_a_farm_error_class() -> None:
    reply = decode(ErrorMessage("r", ErrorCode.NOT_FOUND, "no").encode())
    assert isinstance(reply, ErrorMessage) and reply.code == "not_found" == ErrorCode.NOT_FOUND
    assert set(FARM_ERROR_CLASSES) == {code.value for code in ErrorCode}
    for code in ErrorCode:
        error = FarmError.from_code(code, "what went wrong")
        assert type(error) is FARM_ERROR_CLASSES[code] and error.code == code


NOT_FINITE = [float("nan"), float("inf"), float("-inf")]


@pytest.mark.parametrize("value", NOT_FINITE)
@pytest.mark.parametrize(("kind", "fields", "name"), [
    ("HELLO", EVERY_KIND[0][1], "performance"),
    ("UPDATE", UPDATE_FIELDS, "completion"),
    ("ASSIGN", {"epoch": 1, **SPEC_FIELDS}, "timeout"),  # a field of the spread CommandSpec
])
def test_a_float_field_must_be_finite(kind: str, fields: dict[str, Any], name: str, value: float) -> None:
    good = msgpack.packb({"v": V, "k": kind, **fields})
    assert decode(good).kind == kind
    bad = msgpack.packb({"v": V, "k": kind, **{**fields, name: value}})
    with pytest.raises(ProtocolError, match=rf"{kind}\.{name} must be a finite number, got {value!r}"):
        decode(bad)


def test_a_float_field_takes_ints_none_and_the_largest_finite_floats() -> None:
    for completion in (None, 0, -(2**63), 2**64 - 1, 1.7976931348623157e308, -5e-324):
        msg = decode(msgpack.packb({"v": V, "k": "UPDATE", **{**UPDATE_FIELDS, "completion": completion}}))
        assert isinstance(msg, UpdateMessage) and msg.completion == completion


def test_a_non_finite_item_of_an_updates_is_refused_alone() -> None:
    items = [{**UPDATE_FIELDS, "seq": 1}, {**UPDATE_FIELDS, "seq": 2, "completion": float("nan")},
             {**UPDATE_FIELDS, "seq": 3}]
    msg = decode(msgpack.packb({"v": V, "k": "UPDATES", "updates": items, "free_slots": 1}))
    assert isinstance(msg, UpdatesMessage)
    read, refused = [], []
    for item in msg.updates:
        try:
            read.append(UpdateMessage.from_map(item).seq)
        except ProtocolError as exc:
            refused.append(str(exc))
    assert read == [1, 3]
    assert refused == ["UPDATE.completion must be a finite number, got nan"]
    with pytest.raises(ProtocolError, match="ASSIGN.timeout must be a finite number, got inf"):
        CommandSpec.from_map({**SPEC_FIELDS, "timeout": float("inf")})  # an item of an ASSIGNS
    with pytest.raises(ProtocolError, match="UPDATE.completion must be a finite number"):  # the careful pass
        UpdateMessage.from_map({**UPDATE_FIELDS, "status": CommandStatus.DONE, "completion": float("-inf")})


@pytest.mark.parametrize(("args", "fragment"), [
    ({"values": {"priority": 10**24}}, "integers must lie within -9223372036854775808 to 18446744073709551615"),
    ({"tags": {"x": object()}}, "can not serialize 'object' object"),
])
def test_a_message_msgpack_cannot_pack_is_refused_with_a_protocol_error(args: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ProtocolError, match=f"EDIT message cannot be sent: .*{fragment}"):
        EditMessage("r1", "set", args).encode()


def nested_map(depth: int) -> Any:
    """Maps nested ``depth`` deep (the innermost holds a scalar)."""
    value: Any = 0
    for _ in range(depth):
        value = {"k": value}
    return value


def test_a_message_nested_deeper_than_the_limit_is_refused_however_it_nests() -> None:
    # A SUBMIT's map is level 1, its graph level 2: a graph nesting MAX_NESTING - 1 maps fits.
    fits = msgpack.packb({"v": V, "k": "SUBMIT", "rid": "r", "graph": nested_map(protocol.MAX_NESTING - 1)})
    assert isinstance(decode(fits), SubmitMessage)
    for frame in (
        msgpack.packb({"v": V, "k": "SUBMIT", "rid": "r", "graph": nested_map(protocol.MAX_NESTING)}),
        msgpack.packb({"v": V, "k": "SUBMIT", "rid": "r", "graph": {"meta": nested_map(1000)}}),  # decodes in msgpack
        msgpack.packb({"v": V, "k": "UPDATE", **UPDATE_FIELDS, "stats": {"s": nested_map(40)}}),
        msgpack.packb({"v": V, "k": "EDIT", "rid": "r", "action": "tags", "args": {"tags": [[[[[[[[[[[[[[[[[[
            [[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}),
        msgpack.packb({"v": V, "k": "READY", "free_slots": 1, "future": nested_map(40)}),  # an unknown field
    ):
        with pytest.raises(ProtocolError, match=f"more than {protocol.MAX_NESTING} levels deep"):
            decode(frame)
    deep_answer = msgpack.packb({"v": V, "k": "RESULT", "rid": "r", "data": nested_map(200)})
    assert isinstance(decode(deep_answer), ResultMessage)  # the leader's answer: not journalled


def test_only_kinds_with_list_or_map_fields_walk_their_nesting() -> None:
    plain = protocol.Message._decoded.__func__
    walked = {kind for kind, cls in protocol.KINDS.items() if cls._decoded.__func__ is not plain}
    assert {"READY", "HEARTBEAT", "BYE", "KILL", "RELEASE", "RESULT"}.isdisjoint(walked)
    assert {"SUBMIT", "UPDATE", "UPDATES", "HELLO", "ASSIGN", "ASSIGNS", "QUERY", "EDIT"} <= walked


def test_a_heartbeats_free_ram_is_optional_and_typed() -> None:
    frame = msgpack.packb({"v": V, "k": "HEARTBEAT", "epoch": 5, "free_ram_mb": "lots"}, use_bin_type=True)
    assert decode(frame) == HeartbeatMessage(5)  # of another type: read as absent, never acted on
    assert protocol.killfile_order("kill") is protocol.KillfileOrder.KILL
    assert protocol.killfile_order("-1") is None

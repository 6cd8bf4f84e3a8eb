"""Every message of the mesh: kinds, fields, msgpack encoding, validation, limits.

One place per fact: no other module spells a message kind or a field name out
by hand; they call :func:`encode` and read decoded :class:`Message` objects.

Framing: one ZeroMQ frame per message (after the ROUTER identity), holding a
msgpack map ``{"v": PROTOCOL_VERSION, "k": KIND, ...fields}``. Client requests
carry ``rid`` (a request id the reply echoes) so a client can match replies.

Conversations:

* worker (DEALER) -> coordinator (ROUTER on the leader's port):
  ``HELLO`` -> ``WELCOME`` (epoch, keep/kill lists); ``READY`` (credit = free
  slots, plus free places in its pipeline queue) -> ``ASSIGN``... (several released by one
  journal batch go as one ``ASSIGNS``, in order); ``UPDATE`` -> ``ACK`` (one ACK
  lists every UPDATE of that worker made durable by the same journal batch; a final
  UPDATE may carry an optional ``free_slots``: it then stands for a READY too; a worker
  finishing frames fast gathers its UPDATEs into one ``UPDATES``, whose ``free_slots``
  is the credit after all of them); ``HEARTBEAT`` both ways;
  ``KILL`` from the coordinator; ``BYE`` when the worker leaves; ``RELEASE``
  when a runner gives a licence token back before its command ends.
* client -> any agent's ROUTER: ``SUBMIT``, ``QUERY``, ``EDIT``, ``LOGS`` ->
  ``RESULT`` or ``ERROR``; a follower answers ``SUBMIT``/``QUERY``/``EDIT`` with
  ``REDIRECT`` (the leader's endpoint). ``LOGS`` is answered by the agent that
  holds the log.

Validation checks the version, the kind, every required field and its type;
unknown extra fields are kept (forward compatibility) but not trusted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack

from puli_mesh.errors import ProtocolError

PROTOCOL_VERSION = 4
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
"""Upper bound of one message. A 100,000-command graph is about 10 MB."""

_NUM = (int, float)
_OPT_STR = (str, type(None))
_OPT_NUM = (int, float, type(None))

# kind -> {field: accepted types}. Every listed field is required.
SCHEMAS: dict[str, dict[str, tuple[type, ...] | type]] = {
    # worker -> coordinator
    "HELLO": {
        "name": str,
        "endpoint": str,
        "pools": list,
        "cores": int,
        "ram_mb": int,
        "free_ram_mb": int,
        "slots": int,
        "characteristics": dict,
        "performance": _NUM,
        "running": list,  # [[command_id, attempt], ...], queued ones included
        "last_epoch": int,
        "pipeline": int,  # commands of short tasks it queues behind each running one
    },
    "READY": {"free_slots": int},
    "UPDATE": {
        "command_id": int,
        "attempt": int,
        "seq": int,
        "status": (int, type(None)),
        "completion": _OPT_NUM,
        "message": _OPT_STR,
        "stats": (dict, type(None)),
    },
    # several UPDATEs' fields, in order; free_slots: the credit after them (None: no READY)
    "UPDATES": {"updates": list, "free_slots": (int, type(None))},
    "HEARTBEAT": {"epoch": int},  # the newest epoch the sender knows
    "BYE": {},
    "RELEASE": {"command_id": int, "attempt": int, "licence": str},  # the runner gave a token back early
    # coordinator -> worker
    "WELCOME": {"epoch": int, "keep": list, "kill": list},
    "ASSIGN": {
        "epoch": int,
        "command_id": int,
        "attempt": int,
        "runner": str,
        "arguments": dict,
        "environment": dict,
        "timeout": _OPT_NUM,
        "licences": list,
        "cores": int,
        "ram_mb": int,
        "task_id": int,
        "task_name": str,
        "graph_id": int,
        "user": str,
        "name": str,
        "after": int,  # 0: start now; else start when command ``after`` ends here
    },
    "ASSIGNS": {"epoch": int, "assigns": list},  # several ASSIGNs' fields (without epoch), in order
    "ACK": {"epoch": int, "acks": list},  # [[command_id, attempt, seq], ...]: UPDATEs now durable
    "KILL": {"epoch": int, "command_id": int, "attempt": int, "reason": str},
    # client -> any agent
    "SUBMIT": {"rid": str, "graph": dict},
    "QUERY": {"rid": str, "what": str, "args": dict},
    "EDIT": {"rid": str, "action": str, "args": dict},
    "LOGS": {"rid": str, "command_id": int, "offset": int, "limit": int},
    # replies to clients
    "RESULT": {"rid": str, "data": object},
    "REDIRECT": {"rid": str, "endpoint": str, "epoch": int},
    "ERROR": {"rid": _OPT_STR, "code": str, "message": str},
}

CLIENT_REQUESTS = frozenset({"SUBMIT", "QUERY", "EDIT", "LOGS"})
WORKER_MESSAGES = frozenset({"HELLO", "READY", "UPDATE", "UPDATES", "HEARTBEAT", "BYE", "RELEASE"})


@dataclass(frozen=True, slots=True)
class Message:
    """One decoded, validated message."""

    kind: str
    fields: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.fields[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)


def encode(kind: str, **fields: Any) -> bytes:
    """Encode one message, validating it first so we never send what we would refuse."""
    _validate(kind, fields)
    payload = {"v": PROTOCOL_VERSION, "k": kind}
    payload.update(fields)
    data: bytes = msgpack.packb(payload, use_bin_type=True)
    if len(data) > MAX_MESSAGE_BYTES:
        raise ProtocolError(
            f"{kind} message is {len(data)} bytes, above the {MAX_MESSAGE_BYTES}-byte limit"
        )
    return data


def decode(frame: bytes) -> Message:
    """Decode and validate one frame; raise ProtocolError with a readable reason."""
    if len(frame) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"message of {len(frame)} bytes is above the {MAX_MESSAGE_BYTES}-byte limit")
    try:
        payload = msgpack.unpackb(frame, raw=False, strict_map_key=False)
    except Exception as exc:  # msgpack raises several unrelated types on garbage
        raise ProtocolError(f"message is not valid msgpack: {exc}") from exc
    if not isinstance(payload, dict):
        raise ProtocolError(f"message is a {type(payload).__name__}, expected a map")
    version = payload.pop("v", None)
    if version != PROTOCOL_VERSION:
        raise ProtocolError(
            f"protocol version {version!r} is not supported (this agent speaks {PROTOCOL_VERSION}); "
            "upgrade every agent and client to the same puli-mesh version"
        )
    kind = payload.pop("k", None)
    if not isinstance(kind, str):
        raise ProtocolError("message has no kind ('k')")
    _validate(kind, payload)
    return Message(kind, payload)


def check(kind: str, fields: dict[str, Any]) -> None:
    """Validate the fields of one message of ``kind`` (e.g. an item of an ASSIGNS); raise ProtocolError."""
    if not isinstance(fields, dict):
        raise ProtocolError(f"{kind} item is a {type(fields).__name__}, expected a map")
    _validate(kind, fields)


def _validate(kind: str, fields: dict[str, Any]) -> None:
    schema = SCHEMAS.get(kind)
    if schema is None:
        raise ProtocolError(f"unknown message kind {kind!r}")
    for name, types in schema.items():
        if name not in fields:
            raise ProtocolError(f"{kind} message lacks field {name!r}")
        if types is object:
            continue
        value = fields[name]
        # bool is an int in Python; a protocol int field must not take True/False.
        if isinstance(value, bool) and bool not in _as_tuple(types):
            raise ProtocolError(f"{kind}.{name} must be {_type_names(types)}, got bool")
        if not isinstance(value, types):
            raise ProtocolError(
                f"{kind}.{name} must be {_type_names(types)}, got {type(value).__name__}"
            )


def _as_tuple(types: tuple[type, ...] | type) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)


def _type_names(types: tuple[type, ...] | type) -> str:
    return " or ".join(t.__name__ for t in _as_tuple(types))


def error_reply(rid: str | None, code: str, message: str) -> bytes:
    """An ERROR reply; ``code`` is a stable word scripts can test (``not_found``...)."""
    return encode("ERROR", rid=rid, code=code, message=message)

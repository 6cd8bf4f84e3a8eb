"""Every message of the mesh: one class per kind, its fields, its msgpack encoding, validation.

One place per fact: a message kind is one frozen dataclass below whose fields
ARE the kind's fields with their types; validation is derived from them (no
schema written a second time), and no other module spells a kind or a field
name out by hand. What a render node is told to run (:class:`CommandSpec`) is
written once too: the core's ``Assign`` decision is one, an ``ASSIGN`` carries
one, and the worker runs it.

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
  when a runner gives a licence token back before its command ends; a worker's HEARTBEAT
  may carry its free RAM (sent when it changed), and ``KILLFILE`` says its killfile's state.
* client -> any agent's ROUTER: ``SUBMIT``, ``QUERY``, ``EDIT``, ``LOGS``, ``SETTINGS`` ->
  ``RESULT`` or ``ERROR``; a follower answers ``SUBMIT``/``QUERY``/``EDIT``/``SETTINGS`` with
  ``REDIRECT`` (the leader's endpoint). ``LOGS`` is answered by the agent that
  holds the log. An ``ERROR``'s ``code`` is one of :class:`ErrorCode`, the one table of them.

Guarantees: :func:`decode` returns an instance of the kind's class or raises
:class:`~puli_mesh.errors.ProtocolError` saying why: the version, the kind, every
field's presence and type (a ``bool`` is not an ``int``), that a ``float`` field holds a
finite number (NaN and infinities are refused), the size (``limits.MAX_MESSAGE_BYTES``),
and that lists and maps nest at most ``limits.MAX_NESTING`` deep (except in a RESULT: see
:data:`NESTING_UNCHECKED`), so whatever is decoded can be packed again into the journal. The
nesting is walked only for kinds with fields that may hold a list or a map, and only when one
does: READY, HEARTBEAT and an UPDATE without stats pay nothing for it. Encoding checks the
same, so we never send what a peer would refuse, except finiteness and nesting: looking at
every float and every argument sent would cost every ASSIGN and UPDATE, and it would turn a
producer's NaN into an exception in the sender's loop; whoever makes a float (a runner's
progress, a graph's timeout) keeps it finite, and what a client sends nested deeper comes
back as a ``protocol`` ERROR (the graph check bounds a graph's values first).
Ints need no bound here: msgpack only decodes ints within 64 bits. A field is required unless
declared :func:`optional` (absent or of another type, it reads as None; None is not
sent). Unknown fields are tolerated (forward compatibility), kept aside in ``unknown``
and never acted upon. Types map to what the wire holds: ``int`` (not bool), ``float``
(int or float), ``str``, ``list``, ``Sequence`` (list or tuple), ``dict``, ``X | None``,
``Any``; containers are not looked into, except items that a class reads one by one
(``ASSIGNS``, ``UPDATES``: one bad item is refused alone).

Not here: how a field's type hint becomes its check (``wire_fields``), the limits' values
(``limits``), sockets, retries, what a message means to the coordinator or the worker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass
from enum import StrEnum
from typing import Any, ClassVar, Self

import msgpack

from puli_mesh.errors import ProtocolError
from puli_mesh.limits import MAX_MESSAGE_BYTES, MAX_NESTING
from puli_mesh.wire_fields import CONTAINERS, WireFields, derive_rules, nesting_depth_above, optional

PROTOCOL_VERSION = 4


# ------------------------------------------------------------------ what to run
@dataclass(slots=True)
class CommandSpec(WireFields):
    """What a render node is told to run: the body of an ``ASSIGN``, an item of an ``ASSIGNS``.
    The core's ``Assign`` decision is one (plus its node: a subclass travels as a CommandSpec,
    its own fields stay home); the worker runs one.

    Not frozen, and to be treated as immutable all the same: the core builds one per
    assignment, and a frozen dataclass's ``__init__`` sets each field through
    ``object.__setattr__``, about 2 us more per decision (``bench/core_dispatch.py``)."""

    _label: ClassVar[str] = "ASSIGN"

    command_id: int
    attempt: int  # the attempt token: any later message about an older one is stale
    runner: str
    arguments: dict[str, Any]
    environment: dict[str, str]
    timeout: float | None  # as sent; see ``time_limit``
    licences: Sequence[str]  # a tuple from the core, a list from the wire
    cores: int
    ram_mb: int
    task_id: int
    task_name: str
    graph_id: int
    user: str
    name: str  # the command's description, e.g. "render_1_10"
    after: int  # sent ahead (pipelined): start it on the node when command ``after`` ends (0: now)
    # Keyword-only: the core's ``Assign`` adds its positional ``node`` after these fields.
    _: KW_ONLY
    idle_timeout: float | None = optional()
    """The task's ``idleTimeout`` in seconds (0: off); absent (None): the agent's ``idle_timeout``."""
    gpus: Sequence[str] | None = optional()  # the node's GPUs it may use (CUDA_VISIBLE_DEVICES); None: none
    kill_on_ram_overuse: bool | None = optional()
    """The task's ``killOnRamOveruse``: a command using more RAM than ``ram_mb`` is killed (``node.ram_watch``)."""

    @property
    def time_limit(self) -> float | None:
        """The timeout in seconds, or None for none (None, 0 or below)."""
        timeout = self.timeout
        return float(timeout) if timeout and timeout > 0 else None


# ------------------------------------------------------------------ messages
class Message(WireFields):
    """A message of one kind: a frozen dataclass whose fields are that kind's fields."""

    __slots__ = ("_unknown",)
    kind: ClassVar[str]

    def encode(self) -> bytes:
        """The frame to send, validated first so we never send what a peer would refuse."""
        payload: dict[str, Any] = {"v": PROTOCOL_VERSION, "k": self.kind}
        self._write(payload)
        try:
            data: bytes = msgpack.packb(payload, use_bin_type=True)
        except (OverflowError, ValueError, TypeError) as exc:  # an int beyond 64 bits, too deep, not data
            raise ProtocolError(f"{self.kind} message cannot be sent: {exc} (integers must lie within "
                                f"{-(2**63)} to {2**64 - 1}; values must be plain data)") from exc
        if len(data) > MAX_MESSAGE_BYTES:
            raise ProtocolError(f"{self.kind} message is {len(data)} bytes, above the {MAX_MESSAGE_BYTES}-byte limit")
        return data

    @property
    def unknown(self) -> dict[str, Any]:
        """Fields a newer peer sent that this version does not know (never acted upon)."""
        return getattr(self, "_unknown", {})  # set only when there were some

    @classmethod
    def _decoded(cls, payload: dict[str, Any]) -> Self:
        """The message in ``payload``, of a kind none of whose fields may hold a list or a map."""
        obj, read = cls._read(payload)
        if len(payload) > read + 2:  # more than the fields, "v" and "k"
            return cls._with_unknown(obj, payload)
        return obj

    @classmethod
    def _decoded_nesting(cls, payload: dict[str, Any]) -> Self:
        """:meth:`_decoded` for a kind with fields that may hold lists or maps: how deep they
        nest is checked, unless every one of them holds a scalar (an UPDATE without stats)."""
        obj, read = cls._read(payload)
        if len(payload) > read + 2:
            return cls._with_unknown(obj, payload)
        for name in cls._nested:
            if payload.get(name).__class__ in CONTAINERS:
                cls._check_nesting([v for v in map(payload.get, cls._nested) if v.__class__ in CONTAINERS])
                break
        return obj

    @classmethod
    def _with_unknown(cls, obj: Self, payload: dict[str, Any]) -> Self:
        cls._check_nesting([v for v in payload.values() if v.__class__ in CONTAINERS])  # kept: they count too
        unknown = {k: v for k, v in payload.items() if k not in cls._names and k not in ("v", "k")}
        object.__setattr__(obj, "_unknown", unknown)
        return obj

    @classmethod
    def _check_nesting(cls, level: list[Any]) -> None:
        depth = nesting_depth_above(level, MAX_NESTING)
        if depth is not None:
            raise ProtocolError(f"{cls.kind} message nests lists and maps more than {MAX_NESTING} levels deep "
                                f"(the limit of any message, its own map counting as 1); send flatter data")


# worker -> coordinator
@dataclass(frozen=True, slots=True)
class HelloMessage(Message):
    """A worker joins (or rejoins after a leader change) and says what it is and what it runs."""
    kind: ClassVar[str] = "HELLO"

    name: str  # must match the socket identity
    endpoint: str  # where its agent answers clients (LOGS)
    pools: list[str]
    cores: int
    ram_mb: int
    free_ram_mb: int
    slots: int
    characteristics: dict[str, Any]
    performance: float
    running: list[list[int]]  # [[command_id, attempt], ...], queued ones included
    last_epoch: int
    pipeline: int  # commands of short tasks it queues behind each running one
    gpus: list[str] | None = optional()  # its GPUs' ids (bounded by the leader: ``limits.reported_gpus_within``)
    load: float | None = optional()  # its 1-minute load average (``HeartbeatMessage.load``)


@dataclass(frozen=True, slots=True)
class ReadyMessage(Message):
    """The worker may take ``free_slots`` more commands (free slots and free pipeline places)."""
    kind: ClassVar[str] = "READY"

    free_slots: int


@dataclass(frozen=True, slots=True)
class UpdateMessage(Message):
    """News of one command: progress (``status`` None, not journalled) or a status, acknowledged
    by an ACK; the worker sends it again until then. Also an item of an UPDATES."""
    kind: ClassVar[str] = "UPDATE"

    command_id: int
    attempt: int
    seq: int  # the worker's number for it, echoed by the ACK
    status: int | None  # a CommandStatus
    completion: float | None
    message: str | None
    stats: dict[str, Any] | None
    free_slots: int | None = optional()  # also a READY with this credit


@dataclass(frozen=True, slots=True)
class UpdatesMessage(Message):
    """Several UPDATEs, in order, then a READY: ``free_slots`` is the credit after them
    (None: no READY). Each item is an UPDATE's map, read alone with ``UpdateMessage.from_map``."""
    kind: ClassVar[str] = "UPDATES"

    updates: list[dict[str, Any]]
    free_slots: int | None


@dataclass(frozen=True, slots=True)
class HeartbeatMessage(Message):
    """Both ways: still here. ``epoch``: the newest epoch the sender knows. A worker sends one
    on a link it said nothing on for an interval; the leader answers it, with ``interval``:
    the seconds its workers are to heartbeat at (it grows with the farm)."""
    kind: ClassVar[str] = "HEARTBEAT"

    epoch: int
    interval: float | None = optional()
    free_ram_mb: int | None = optional()
    """From a worker: its free RAM (MB) now, sent when it changed by more than a threshold
    (``node.resources.FigureReport``); the leader matches ``ramUse`` against it."""
    load: float | None = optional()
    """From a worker: its 1-minute load average now, sent when it changed by more than a
    threshold (``node.resources.LOAD_STEP``); shown, never used to decide."""


class KillfileOrder(StrEnum):
    """What a node's killfile asks of it (``node.killfile``), as a KILLFILE message says it."""

    OFF = "off"  # no killfile (or "0"): the node takes work
    PAUSE = "pause"  # an empty file: finish what runs, take nothing new
    KILL = "kill"  # "-1", "-2", "-3": kill what runs (re-queued, no attempt spent) and pause


def killfile_order(word: str) -> KillfileOrder | None:
    """The :class:`KillfileOrder` a KILLFILE's ``order`` names, or None."""
    try:
        return KillfileOrder(word)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class KillfileMessage(Message):
    """The worker's killfile state (a :class:`KillfileOrder` value; another word is refused by
    the leader). Sent when it changes, and after a WELCOME while it is not ``off``."""
    kind: ClassVar[str] = "KILLFILE"

    order: str


@dataclass(frozen=True, slots=True)
class ByeMessage(Message):
    """The worker leaves."""
    kind: ClassVar[str] = "BYE"


@dataclass(frozen=True, slots=True)
class ReleaseMessage(Message):
    """A runner gave licence ``licence`` back before its command ended."""
    kind: ClassVar[str] = "RELEASE"

    command_id: int
    attempt: int
    licence: str


# coordinator -> worker
@dataclass(frozen=True, slots=True)
class WelcomeMessage(Message):
    """The answer to HELLO: of what the worker said it runs, keep these, kill those (command ids)."""
    kind: ClassVar[str] = "WELCOME"

    epoch: int
    keep: list[int]
    kill: list[int]
    interval: float | None = optional()  # the heartbeat interval, as in HEARTBEAT


@dataclass(frozen=True, slots=True)
class AssignMessage(Message):
    """Run this command: the spec's fields travel in the message's own map, next to the epoch."""
    kind: ClassVar[str] = "ASSIGN"

    epoch: int
    spec: CommandSpec


@dataclass(frozen=True, slots=True)
class AssignsMessage(Message):
    """Several ASSIGNs, in order (one journal batch's for this worker). Each item is a
    CommandSpec's map (``spec.to_map()``), read alone with ``CommandSpec.from_map``."""
    kind: ClassVar[str] = "ASSIGNS"

    epoch: int
    assigns: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class AckMessage(Message):
    """These UPDATEs are durable: ``[[command_id, attempt, seq], ...]``."""
    kind: ClassVar[str] = "ACK"

    epoch: int
    acks: list[list[int]]


@dataclass(frozen=True, slots=True)
class KillMessage(Message):
    """Stop this command (attempt token ``attempt``)."""
    kind: ClassVar[str] = "KILL"

    epoch: int
    command_id: int
    attempt: int
    reason: str


# client -> any agent
@dataclass(frozen=True, slots=True)
class SubmitMessage(Message):
    """Submit a graph (its representation)."""
    kind: ClassVar[str] = "SUBMIT"

    rid: str
    graph: dict[str, Any]
    token: str | None = optional()  # a user's web token: an agent's web server acting for them


@dataclass(frozen=True, slots=True)
class QueryMessage(Message):
    """Ask something (``what``) of the coordinator."""
    kind: ClassVar[str] = "QUERY"

    rid: str
    what: str
    args: dict[str, Any]
    token: str | None = optional()  # a user's web token: an agent's web server acting for them


@dataclass(frozen=True, slots=True)
class EditMessage(Message):
    """Change something (``action``) on the coordinator."""
    kind: ClassVar[str] = "EDIT"

    rid: str
    action: str
    args: dict[str, Any]
    token: str | None = optional()  # a user's web token: an agent's web server acting for them


@dataclass(frozen=True, slots=True)
class LogsMessage(Message):
    """Read a command's log from the agent that ran it; a negative offset counts from the end."""
    kind: ClassVar[str] = "LOGS"

    rid: str
    command_id: int
    offset: int
    limit: int
    token: str | None = optional()  # a user's web token: an agent's web server acting for them


@dataclass(frozen=True, slots=True)
class SettingsMessage(Message):
    """Change or read the cluster's settings kept in ZooKeeper (``action``: licences, pools,
    keys; ``puli_mesh.cluster_settings``), written by the leader with the cluster's credential."""
    kind: ClassVar[str] = "SETTINGS"

    rid: str
    action: str
    args: dict[str, Any]
    token: str | None = optional()  # a user's web token: an agent's web server acting for them


# replies to clients
@dataclass(frozen=True, slots=True)
class ResultMessage(Message):
    """A request's answer."""
    kind: ClassVar[str] = "RESULT"

    rid: str
    data: Any


@dataclass(frozen=True, slots=True)
class RedirectMessage(Message):
    """Ask the leader instead, at ``endpoint``."""
    kind: ClassVar[str] = "REDIRECT"

    rid: str
    endpoint: str
    epoch: int


class ErrorCode(StrEnum):
    """The stable word an ERROR carries: scripts and clients test it, never the message's text."""

    INVALID = "invalid"  # the request or message is malformed (bad arguments, an invalid graph)
    NOT_FOUND = "not_found"  # no graph, task, command, node, pool or licence has this id or name
    ILLEGAL = "illegal"  # an edit that makes no sense in the current status
    REFUSED = "refused"  # any other refusal of the scheduling core
    NO_LEADER = "no_leader"  # no coordinator is elected yet: retry in a moment
    NOT_LEADER = "not_leader"  # a worker message reached an agent that does not lead
    HELLO_FIRST = "hello_first"  # a worker spoke to a coordinator it has not said HELLO to
    NOT_MEMBER = "not_member"  # a HELLO from a name that is not a live ZooKeeper member of the cluster
    LINKED = "linked"  # a HELLO for a node linked from another connection still heard from: said again later
    BUSY = "busy"  # too much of this client's already waits (or the journal is behind): retry later
    FORBIDDEN = "forbidden"  # the requester's key may not make this request (its role, or revoked)
    PROTOCOL = "protocol"  # the message could not be decoded
    INTERNAL = "internal"  # the agent failed while handling it (a bug; its log says more)


@dataclass(frozen=True, slots=True)
class ErrorMessage(Message):
    """A request (or a message) failed; ``code`` is an :class:`ErrorCode` (a plain str when a
    newer peer sends a code this version does not know)."""
    kind: ClassVar[str] = "ERROR"

    rid: str | None
    code: str  # an ErrorCode
    message: str


WorkerMessage = (HelloMessage | ReadyMessage | UpdateMessage | UpdatesMessage | HeartbeatMessage | ByeMessage
                 | ReleaseMessage | KillfileMessage)
"""What a worker sends its coordinator (also usable with ``isinstance``)."""
ClientRequest = SubmitMessage | QueryMessage | EditMessage | LogsMessage | SettingsMessage
"""What a client sends any agent (also usable with ``isinstance``)."""


NESTING_UNCHECKED = frozenset({"RESULT"})
"""Kinds whose nesting is not bounded by ``MAX_NESTING``: a RESULT is the leader's answer to a
client (a tree view nests two levels per level of a graph), and a client journals nothing."""


def _register(*classes: type[WireFields]) -> dict[str, type[Message]]:
    """Derive each class's field rules from its fields; the kind -> class table."""
    kinds: dict[str, type[Message]] = {}
    for cls in classes:
        derive_rules(cls)
        if issubclass(cls, Message):
            cls._label = cls.kind
            kinds[cls.kind] = cls
            if cls._nested and cls.kind not in NESTING_UNCHECKED:
                cls._decoded = Message.__dict__["_decoded_nesting"]  # the classmethod, unbound
    return kinds


KINDS = _register(
    CommandSpec,  # first: AssignMessage spreads it
    HelloMessage, ReadyMessage, UpdateMessage, UpdatesMessage, HeartbeatMessage, ByeMessage, ReleaseMessage,
    KillfileMessage, WelcomeMessage, AssignMessage, AssignsMessage, AckMessage, KillMessage,
    SubmitMessage, QueryMessage, EditMessage, LogsMessage, SettingsMessage,
    ResultMessage, RedirectMessage, ErrorMessage,
)
"""Every message class by its kind."""


def _kind(kind: str) -> type[Message]:
    cls = KINDS.get(kind)
    if cls is None:
        raise ProtocolError(f"unknown message kind {kind!r}")
    return cls


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
    version = payload.get("v")
    if version != PROTOCOL_VERSION:
        raise ProtocolError(f"protocol version {version!r} is not supported (this agent speaks {PROTOCOL_VERSION}); "
                            "upgrade every agent and client to the same puli-mesh version")
    kind = payload.get("k")
    if not isinstance(kind, str):
        raise ProtocolError("message has no kind ('k')")
    return _kind(kind)._decoded(payload)

"""The journal's records: the coordinator's inputs, one class per kind, applied live and replayed.

The scheduling core is deterministic, so the journal stores its inputs (with the time
each happened) rather than its state: replaying the same records on a restored snapshot
rebuilds exactly the same tree, assignments and counters. The live service builds a
record, journals it and applies it (``record.apply(core)``); a new leader decodes the
same record from the journal and applies it the same way (:func:`replay`).

Encoding: ``record.to_data()`` is a msgpack-able list, ``[kind, field, field, ...]`` in
the class's field order; :func:`decode_record` reads it back. A field added to a kind
changes the journal's format (``journal.FORMAT``).

Guarantees: a record applied twice on the same state gives the same result; decoding
an unknown kind or a malformed record raises ``ValueError``/``TypeError``, never
applies part of it.

Not recorded: progress-only updates (no status): they change no decision.
Not here: writing the journal (``journal``), when records become durable (``durability``).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar

import msgpack

from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.coordinator.decisions import Decision, SubmitResult
from puli_mesh.coordinator.edit_actions import apply_edit
from puli_mesh.coordinator.render_nodes import RenderNodeInfo
from puli_mesh.errors import CoreError
from puli_mesh.faults import Faults
from puli_mesh.limits import GraphLimits, reported_load_within, reported_ram_within
from puli_mesh.protocol import HeartbeatMessage, KillfileMessage, KillfileOrder, killfile_order

UNLIMITED_GRAPHS = GraphLimits(*(2**62,) * len(GraphLimits.__slots__))
"""Graph limits no graph reaches: those replay uses (see :func:`replay`)."""

log = logging.getLogger(__name__)

Result = TypeVar("Result", covariant=True)


class Record(Protocol[Result]):
    """What every record kind offers; ``Result`` is what the core returns for it."""

    KIND: ClassVar[str]

    def apply(self, core: SchedulingCore) -> Result:
        """Feed this record to the core."""
        ...

    def to_data(self) -> list[Any]:
        """The record as msgpack-able data."""
        ...


@dataclass(frozen=True, slots=True)
class SubmitRecord:
    """A client submitted a graph (its representation as received), with the request id it
    used (None in journals of format 1 and 2): replayed, the core remembers it, so a SUBMIT
    sent again to a new leader gets the same graph."""

    KIND: ClassVar[str] = "submit"
    representation: dict[str, Any]
    now: float
    rid: str | None = None

    def apply(self, core: SchedulingCore) -> SubmitResult:
        return core.submit_graph(self.representation, self.now, self.rid)

    def to_data(self) -> list[Any]:
        return [self.KIND, self.representation, self.now, self.rid]

    @classmethod
    def from_data(cls, data: list[Any]) -> SubmitRecord:
        _, representation, now, *rest = data  # formats 1 and 2 had no request id
        if len(rest) > 1:
            raise ValueError(f"a submit record has at most 4 fields, not {len(data)}")
        rid = rest[0] if rest else None
        return cls(dict(representation), now, None if rid is None else str(rid))


Reconciliation = tuple[list[int], list[int], list[Decision]]
"""``reconcile_node``'s result: the commands the node keeps, those it kills, decisions."""


@dataclass(frozen=True, slots=True)
class HelloRecord:
    """A worker said HELLO: what it is, and the ``[command_id, attempt]`` it still runs."""

    KIND: ClassVar[str] = "hello"
    info: RenderNodeInfo
    running: tuple[tuple[int, int], ...]
    now: float

    def apply(self, core: SchedulingCore) -> Reconciliation:
        return core.reconcile_node(self.info, self.running, self.now)

    def to_data(self) -> list[Any]:
        return [self.KIND, dataclasses.asdict(self.info), [list(r) for r in self.running], self.now]

    @classmethod
    def from_data(cls, data: list[Any]) -> HelloRecord:
        _, info, running, now = data
        return cls(RenderNodeInfo(**info), tuple((int(c), int(a)) for c, a in running), now)


@dataclass(frozen=True, slots=True)
class ReadyRecord:
    """A worker has ``free_slots`` for work (a READY, or the credit of an UPDATE)."""

    KIND: ClassVar[str] = "ready"
    node: str
    free_slots: int
    now: float

    def apply(self, core: SchedulingCore) -> list[Decision]:
        return core.request_work(self.node, self.free_slots, self.now)

    def to_data(self) -> list[Any]:
        return [self.KIND, self.node, self.free_slots, self.now]

    @classmethod
    def from_data(cls, data: list[Any]) -> ReadyRecord:
        _, node, free_slots, now = data
        return cls(str(node), int(free_slots), now)


@dataclass(frozen=True, slots=True)
class UpdateRecord:
    """A worker reported a command's status (progress-only updates are not recorded)."""

    KIND: ClassVar[str] = "update"
    command_id: int
    attempt: int
    now: float
    status: int
    completion: float | None
    message: str | None
    stats: dict[str, Any] | None

    def apply(self, core: SchedulingCore) -> list[Decision]:
        return core.command_update(self.command_id, self.attempt, self.now, status=self.status,
                                   completion=self.completion, message=self.message, stats=self.stats)

    def to_data(self) -> list[Any]:
        return [self.KIND, self.command_id, self.attempt, self.now, self.status, self.completion,
                self.message, self.stats]

    @classmethod
    def from_data(cls, data: list[Any]) -> UpdateRecord:
        _, command_id, attempt, now, status, completion, message, stats = data
        return cls(int(command_id), int(attempt), now, int(status), completion, message, stats)


@dataclass(frozen=True, slots=True)
class ReleaseRecord:
    """A runner gave ``licence`` back before its command ended."""

    KIND: ClassVar[str] = "release"
    command_id: int
    attempt: int
    licence: str
    now: float

    def apply(self, core: SchedulingCore) -> list[Decision]:
        return core.release_command_licence(self.command_id, self.attempt, self.licence, self.now)

    def to_data(self) -> list[Any]:
        return [self.KIND, self.command_id, self.attempt, self.licence, self.now]

    @classmethod
    def from_data(cls, data: list[Any]) -> ReleaseRecord:
        _, command_id, attempt, licence, now = data
        return cls(int(command_id), int(attempt), str(licence), now)


@dataclass(frozen=True, slots=True)
class LeftRecord:
    """A render node left the mesh (its ZooKeeper session ended, plus ``lost_grace``)."""

    KIND: ClassVar[str] = "left"
    node: str
    now: float

    def apply(self, core: SchedulingCore) -> list[Decision]:
        return core.node_left(self.node, self.now)

    def to_data(self) -> list[Any]:
        return [self.KIND, self.node, self.now]

    @classmethod
    def from_data(cls, data: list[Any]) -> LeftRecord:
        _, node, now = data
        return cls(str(node), now)


@dataclass(frozen=True, slots=True)
class FreeRamRecord:
    """A worker reported its free RAM (a HEARTBEAT's ``free_ram_mb``, bounded): ``ramUse`` is
    matched against it, so it is journalled for a successor to decide alike."""

    KIND: ClassVar[str] = "free_ram"
    node: str
    free_ram_mb: int
    now: float

    def apply(self, core: SchedulingCore) -> list[Decision]:
        return core.node_updated(self.node, self.now, free_ram_mb=self.free_ram_mb)

    def to_data(self) -> list[Any]:
        return [self.KIND, self.node, self.free_ram_mb, self.now]

    @classmethod
    def from_data(cls, data: list[Any]) -> FreeRamRecord:
        _, node, free_ram_mb, now = data
        return cls(str(node), int(free_ram_mb), now)


@dataclass(frozen=True, slots=True)
class KillfileRecord:
    """A worker's killfile says ``order`` (a KILLFILE message)."""

    KIND: ClassVar[str] = "killfile"
    node: str
    order: KillfileOrder
    now: float

    def apply(self, core: SchedulingCore) -> list[Decision]:
        return core.node_killfile(self.node, self.order, self.now)

    def to_data(self) -> list[Any]:
        return [self.KIND, self.node, str(self.order), self.now]

    @classmethod
    def from_data(cls, data: list[Any]) -> KillfileRecord:
        _, node, order, now = data
        return cls(str(node), KillfileOrder(order), now)


@dataclass(frozen=True, slots=True)
class TickRecord:
    """Time passed: retries due, timers, archiving (only recorded when the core has one due)."""

    KIND: ClassVar[str] = "tick"
    now: float

    def apply(self, core: SchedulingCore) -> list[Decision]:
        return core.tick(self.now)

    def to_data(self) -> list[Any]:
        return [self.KIND, self.now]

    @classmethod
    def from_data(cls, data: list[Any]) -> TickRecord:
        _, now = data
        return cls(now)


@dataclass(frozen=True, slots=True)
class LicenceRecord:
    """An operator set a licence's total tokens (read from ZooKeeper)."""

    KIND: ClassVar[str] = "licence"
    name: str
    total: int
    now: float

    def apply(self, core: SchedulingCore) -> list[Decision]:
        return core.set_licence(self.name, self.total, self.now)

    def to_data(self) -> list[Any]:
        return [self.KIND, self.name, self.total, self.now]

    @classmethod
    def from_data(cls, data: list[Any]) -> LicenceRecord:
        _, name, total, now = data
        return cls(str(name), int(total), now)


@dataclass(frozen=True, slots=True)
class PoolRecord:
    """An operator defined a pool (read from ZooKeeper)."""

    KIND: ClassVar[str] = "pool"
    name: str

    def apply(self, core: SchedulingCore) -> list[Decision]:
        return core.define_pool(self.name)

    def to_data(self) -> list[Any]:
        return [self.KIND, self.name]

    @classmethod
    def from_data(cls, data: list[Any]) -> PoolRecord:
        _, name = data
        return cls(str(name))


@dataclass(frozen=True, slots=True)
class EditRecord:
    """A client's EDIT (``edit_actions`` says what each action does)."""

    KIND: ClassVar[str] = "edit"
    action: str
    args: dict[str, Any]
    now: float

    def apply(self, core: SchedulingCore) -> list[Decision]:
        return apply_edit(core, self.action, dict(self.args), self.now)

    def to_data(self) -> list[Any]:
        return [self.KIND, self.action, self.args, self.now]

    @classmethod
    def from_data(cls, data: list[Any]) -> EditRecord:
        _, action, args, now = data
        return cls(str(action), dict(args), now)


AnyRecord = (SubmitRecord | HelloRecord | ReadyRecord | UpdateRecord | ReleaseRecord | LeftRecord
             | FreeRamRecord | KillfileRecord | TickRecord | LicenceRecord | PoolRecord | EditRecord)

RECORD_KINDS: dict[str, type[AnyRecord]] = {cls.KIND: cls for cls in (
    SubmitRecord, HelloRecord, ReadyRecord, UpdateRecord, ReleaseRecord, LeftRecord, FreeRamRecord,
    KillfileRecord, TickRecord, LicenceRecord, PoolRecord, EditRecord)}


def decode_record(data: Any) -> AnyRecord:
    """A record from its ``to_data()`` form; ``ValueError``/``TypeError`` if it is not one."""
    if not isinstance(data, list | tuple) or not data:
        raise ValueError(f"a journal record is a non-empty list, not {data!r:.80}")
    cls = RECORD_KINDS.get(data[0])
    if cls is None:
        raise ValueError(f"unknown journal record kind {data[0]!r}; known: {', '.join(RECORD_KINDS)}")
    return cls.from_data(list(data))


def report_record(core: SchedulingCore, node: str, msg: HeartbeatMessage | KillfileMessage,
                  now: float) -> FreeRamRecord | KillfileRecord | None:
    """The record of a worker's report of its free RAM (a HEARTBEAT's, bounded by
    ``limits.reported_ram_within``) or of its killfile, or None when it changes nothing the
    core knows (most reports: nothing is journalled) or is refused (logged). A HEARTBEAT's load
    is set on the core here, never journalled: no decision reads it (``live_load``)."""
    if isinstance(msg, HeartbeatMessage):
        if msg.load is not None and (load := reported_load_within(msg.load)) is not None:
            core.node_load(node, load)
        if msg.free_ram_mb is None:
            return None
        free_ram = reported_ram_within(msg.free_ram_mb)
        if free_ram != msg.free_ram_mb:
            log.warning("free RAM of %d MB reported by %s %s", msg.free_ram_mb, node,
                        "refused" if free_ram is None else f"taken as {free_ram} MB")
        if free_ram is None or not core.free_ram_changes(node, free_ram):
            return None
        return FreeRamRecord(node, free_ram, now)
    order = killfile_order(msg.order)
    if order is None:
        log.warning("KILLFILE from %s refused: %r is no killfile order", node, msg.order[:40])
        return None
    return KillfileRecord(node, order, now) if core.killfile_changes(node, order) else None


def decisions_of(result: object) -> list[Decision]:
    """The decisions inside what a record's ``apply`` returned (a ``SubmitResult``, a
    ``Reconciliation`` or the decisions themselves)."""
    if isinstance(result, SubmitResult):
        return list(result.decisions)
    if isinstance(result, tuple):  # a Reconciliation
        return list(result[2])
    return list(result) if isinstance(result, list) else []


def check_encodable(record: AnyRecord) -> None:
    """``ValueError`` if the journal could not pack ``record`` (a value nested deeper than msgpack
    packs, an int beyond 64 bits, something that is not data), so it is refused before it is
    applied or journalled: once in a batch, an unpackable record would be retried for ever and
    every later batch would wait behind it. Packed as the journal packs it (``use_bin_type``);
    for the records whose content a client shapes (SUBMIT, EDIT), not the workers' hot ones,
    whose fields the protocol's decoder has bounded."""
    try:
        msgpack.packb(record.to_data(), use_bin_type=True)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ValueError(f"this {record.KIND} cannot be journalled ({exc}): values must be plain data "
                         "(strings, numbers within 64 bits, lists, maps) nested less deep") from exc


REPLAY_FAULT = "journal replay"
"""The name under which a record that could not be replayed is counted in ``Faults``
(``puli-mesh status`` shows it among the coordinator's faults)."""


def replay(core: SchedulingCore, indexed_records: Iterable[tuple[int, Any]],
           faults: Faults | None = None) -> int:
    """Apply journalled records (``(index, data)`` in order) to ``core``; return how many
    were refused. A record the core refuses was refused live too (the journal keeps it, as
    an exception may come after a partial change): replaying it changes the same. One that
    cannot be read or applied (a bug) is logged with its traceback, counted in ``faults``
    under :data:`REPLAY_FAULT`, and skipped: it must not stop every future leader."""
    refused = 0
    # A journalled graph was accepted under the limits of the leader that took it: replaying it
    # must rebuild it whatever this agent's graph_* settings say, or every later id would shift.
    limits, core.settings.graph_limits = core.settings.graph_limits, UNLIMITED_GRAPHS
    try:
        refused = _replay(core, indexed_records, faults if faults is not None else Faults())
    finally:
        core.settings.graph_limits = limits
    return refused


def _replay(core: SchedulingCore, indexed_records: Iterable[tuple[int, Any]], faults: Faults) -> int:
    refused = 0
    for index, data in indexed_records:
        try:
            decode_record(data).apply(core)
        except CoreError as exc:
            refused += 1
            log.debug("journal record %d refused, as it was live: %s", index, exc)
        except Exception:
            refused += 1
            faults.note(REPLAY_FAULT)
            log.exception("journal record %d could not be replayed; SKIPPED (%d so far): the farm goes on "
                          "without what it did", index, faults.counts[REPLAY_FAULT])
    return refused

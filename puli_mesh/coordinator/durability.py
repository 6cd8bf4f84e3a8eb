"""The durability pipeline: which journal batch to write when, and what each one releases.

The rule it keeps is the README's promise, "nothing a worker or client acts on can be
lost": every record the coordinator acts on is appended to the journal, and a message
that follows from it (an ASSIGN, a KILL, a WELCOME, an ACK, a SUBMIT's reply) is held
until every record before it is durable. A new leader replays the journal, so it never
meets a worker that acted on something it does not know.

Pure: no sockets, no ZooKeeper, no clock. Time is an argument (monotonic seconds);
records and peers are opaque to it. The service shell adds records and held messages,
writes the batches it cuts, reports how each write ended, and sends what comes back.

Guarantees:

* **Group commit.** A quiet pipeline (nothing in flight, and its last batch was at most
  ``QUIET_BATCH_RECORDS`` records or more than ``group_wait`` ago) cuts a batch at once;
  a busy one lets records gather for up to ``group_wait`` (``GROUP_WAIT_S``) or until
  ``GROUP_RECORDS`` of them wait.
* **Pipelining.** At most ``MAX_INFLIGHT`` batches are written and not yet acknowledged.
* **Order.** Batches become durable in the order they were cut, whatever order their
  acknowledgements come in; what they hold is released in that order. A failed write
  makes every unacknowledged batch be written again, in order, after ``RETRY_WRITE_S``.
* **Grouping.** What one batch releases to one peer keeps its order, except that its
  ACKs come first, as one :class:`SendAcks`; a run of ASSIGNs goes as one
  :class:`SendAssigns`.
* **Fencing.** A fenced write (a newer leader exists) stops the pipeline for good:
  ``fenced`` tells the shell its leader must step down.
* **Reading back** (``read_back``): a new leader replays contiguous records only. A batch
  missing between two stored ones is reported (``gap``: the candidate must not lead); an
  incomplete last batch (its leader died mid-write, so it was never acknowledged) is dropped.
* **Bounds.** What waits for the journal is bounded: :meth:`DurabilityPipeline.busy` says
  when a peer already has ``MAX_HELD_PER_PEER`` messages or ``MAX_HELD_BYTES_PER_PEER``
  bytes held, or when ``MAX_UNDURABLE_RECORDS`` records are not yet durable (the journal is
  slow or down); the shell then refuses that peer's next request (``busy``) instead of
  journalling it.

Not here: encoding messages or records, writing to ZooKeeper, reading clocks.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

RETRY_WRITE_S = 0.5
"""A failed journal write is tried again after this: long enough not to spin on a lost
ZooKeeper connection, short next to the session timeout that would end the leadership."""
MAX_INFLIGHT = 4
"""Journal batches written but not yet acknowledged: pipelining hides ZooKeeper's fsync."""
GROUP_WAIT_S = 0.02
GROUP_RECORDS = 256
"""Group commit: on a busy mesh a batch waits up to GROUP_WAIT_S (20 ms; Puli's own
dispatcher cycled every few seconds) for GROUP_RECORDS records. Each ZooKeeper
transaction costs the leader (kazoo) and ZooKeeper a millisecond or more of CPU
together on a small loaded machine, so a batch per record or two was most of the
mesh's cost per command (bench/mesh_throughput.py). A quiet mesh writes at once, so a
lone submission waits for nothing: quiet means nothing in flight and either no write for
GROUP_WAIT_S or a last batch of at most QUIET_BATCH_RECORDS (one command's end is two)."""
QUIET_BATCH_RECORDS = 4
MAX_HELD_PER_PEER = 256
MAX_HELD_BYTES_PER_PEER = 16 * 1024 * 1024
"""What one peer may have waiting for the journal: a client's replies to its SUBMITs and EDITs
(a few hundred bytes each; a huge graph's list of node ids up to a few MB). Far above one
client's requests in flight; a client that sends faster than the journal writes is refused."""
MAX_UNDURABLE_RECORDS = 50_000
"""Records appended and not yet durable (about 200 batches of 256): beyond this the journal is
down or far behind, and client requests are refused until it catches up (workers' records
are never refused: they report what happened)."""

Peer = bytes
"""Whom a held message goes to (the ROUTER identity of a worker or a client)."""
AssignItem = dict[str, Any]
"""A held ASSIGN: its ASSIGNS item, a ``CommandSpec``'s map (``spec.to_map()``)."""


@dataclass(frozen=True, slots=True)
class Send:
    """Send ``data`` (an encoded message) to ``peer``."""

    peer: Peer
    data: bytes


@dataclass(frozen=True, slots=True)
class SendAcks:
    """Acknowledge these UPDATEs (``[command_id, attempt, seq]`` each) to ``peer``, in one ACK."""

    peer: Peer
    acks: list[list[int]]


@dataclass(frozen=True, slots=True)
class SendAssigns:
    """Send these ASSIGNs' fields (without the epoch) to ``peer``: one ASSIGN, or one ASSIGNS."""

    peer: Peer
    assigns: list[AssignItem]


Release = Send | SendAcks | SendAssigns


@dataclass(slots=True)
class Batch:
    """Records ``first .. first + len(records) - 1``, cut as batch ``number``, and what
    waits for them to be durable (the messages in their order, the ACKs per peer)."""

    number: int
    first: int
    records: list[Any]
    held: list[tuple[Peer, bytes | AssignItem]] = field(default_factory=list)
    acks: dict[Peer, list[list[int]]] = field(default_factory=dict)
    durable: bool = False

    @property
    def last(self) -> int:
        return self.first + len(self.records) - 1


def releases(held: list[tuple[Peer, bytes | AssignItem]], acks: dict[Peer, list[list[int]]]) -> list[Release]:
    """What a durable batch held, as sends: one ACK per peer first, then each peer's
    messages in their order, each run of ASSIGNs (held as their fields) as one send."""
    out: list[Release] = [SendAcks(peer, triples) for peer, triples in acks.items()]
    runs: dict[Peer, list[AssignItem]] = {}
    for peer, item in held:
        if isinstance(item, dict):
            runs.setdefault(peer, []).append(item)
            continue
        run = runs.pop(peer, None)
        if run:
            out.append(SendAssigns(peer, run))
        out.append(Send(peer, item))
    out.extend(SendAssigns(peer, run) for peer, run in runs.items())
    return out


class DurabilityPipeline:
    """Records waiting for the journal, batches in flight, and what each one holds back.

    Indexes count records from 1 over the cluster's whole life: a new leader starts at
    the index after the last one it recovered (``next_index``).
    """

    def __init__(self, next_index: int = 1, *, group_wait: float = GROUP_WAIT_S) -> None:
        self.group_wait = group_wait
        self.next_index = next_index
        self.durable_index = next_index - 1
        self.fenced = False
        self._records: list[Any] = []
        self._records_since = 0.0  # when the oldest waiting record came
        self._last_write = float("-inf")  # when the last batch was cut
        self._last_batch_records = 0
        # What waits for every record so far, not yet given to a batch: it goes with the
        # next batch cut, or at once when the last batch in flight becomes durable.
        self._held: list[tuple[Peer, bytes | AssignItem]] = []
        self._held_acks: dict[Peer, list[list[int]]] = {}
        self._inflight: deque[Batch] = deque()
        self._retry_at: float | None = None
        self._batch_no = 0
        self._held_by_peer: dict[Peer, list[int]] = {}  # peer -> [messages, bytes] held, not yet released

    # ------------------------------------------------------------------ records
    def add(self, record: Any, now: float) -> int:
        """Append ``record`` to what the next batch writes; return its index."""
        if not self._records:
            self._records_since = now
        self._records.append(record)
        index = self.next_index
        self.next_index += 1
        return index

    @property
    def all_durable(self) -> bool:
        """Whether every record so far is durable: what follows from them may go at once."""
        return not self._records and not self._inflight

    idle = all_durable
    """Nothing waits to be written or acknowledged (a hand-over may end)."""

    @property
    def retry_pending(self) -> bool:
        return self._retry_at is not None

    # ------------------------------------------------------------------ holding
    def hold(self, peer: Peer, data: bytes) -> list[Release]:
        """Send ``data`` once every record so far is durable: returned now if it already is."""
        if self.all_durable:
            return [Send(peer, data)]
        self._held.append((peer, data))
        share = self._held_by_peer.setdefault(peer, [0, 0])
        share[0] += 1
        share[1] += len(data)
        return []

    def busy(self, peer: Peer) -> str | None:
        """Why a new request of ``peer`` must be refused now (None: it may be taken): too much
        is held for it, or the journal is too far behind."""
        undurable = self.next_index - 1 - self.durable_index
        if undurable >= MAX_UNDURABLE_RECORDS:
            return (f"the journal is {undurable} records behind (limit {MAX_UNDURABLE_RECORDS}): "
                    f"ZooKeeper is slow or unreachable; retry in a few seconds")
        share = self._held_by_peer.get(peer)
        if share is not None and (share[0] >= MAX_HELD_PER_PEER or share[1] >= MAX_HELD_BYTES_PER_PEER):
            return (f"{share[0]} replies ({share[1]} bytes) already wait for the journal for this connection "
                    f"(limits {MAX_HELD_PER_PEER}, {MAX_HELD_BYTES_PER_PEER} bytes): wait for them before "
                    f"sending more")
        return None

    def _released(self, held: list[tuple[Peer, bytes | AssignItem]]) -> None:
        """Held messages leave: they no longer count in their peer's share."""
        shares = self._held_by_peer
        if not shares:
            return  # the usual case: nothing but ASSIGNs and ACKs held, nothing to count
        for peer, item in held:
            if isinstance(item, bytes):
                share = shares.get(peer)
                if share is not None:
                    share[0] -= 1
                    share[1] -= len(item)
                    if share[0] <= 0:
                        del shares[peer]

    def hold_assign(self, peer: Peer, fields: AssignItem) -> list[Release]:
        """An ASSIGN's fields, held like a message; consecutive ones to a peer go as one send."""
        if self.all_durable:
            return [SendAssigns(peer, [fields])]
        self._held.append((peer, fields))
        return []

    def hold_ack(self, peer: Peer, command_id: int, attempt: int, seq: int) -> list[Release]:
        """Acknowledge an UPDATE once every record so far is durable, together with the
        other acknowledgements due to that peer then (returned now if all is durable)."""
        triple = [command_id, attempt, seq]
        if self.all_durable:
            return [SendAcks(peer, [triple])]
        self._held_acks.setdefault(peer, []).append(triple)
        return []

    # ------------------------------------------------------------------ batches
    def due_in(self, now: float) -> float | None:
        """Seconds before the waiting records are due to be cut (0: now), or None if no cut
        waits on time (nothing waiting, fenced, a retry pending, or ``MAX_INFLIGHT`` batches
        in flight: an acknowledgement comes first)."""
        if (not self._records or self.fenced or self._retry_at is not None
                or len(self._inflight) >= MAX_INFLIGHT):
            return None
        if len(self._records) >= GROUP_RECORDS:
            return 0.0
        if not self._inflight and (now - self._last_write >= self.group_wait
                                   or self._last_batch_records <= QUIET_BATCH_RECORDS):
            return 0.0  # quiet: nothing to wait for
        return max(0.0, self._records_since + self.group_wait - now)

    def cut(self, now: float) -> Batch | None:
        """The next batch to write, if one is due now (it is then in flight), else None.
        It takes every waiting record and everything held since the previous cut."""
        due = self.due_in(now)
        if due is None or due > 0:
            return None
        self._last_write = now
        self._last_batch_records = len(self._records)
        self._batch_no += 1
        batch = Batch(self._batch_no, self.next_index - len(self._records), self._records,
                      self._held, self._held_acks)
        self._records, self._held, self._held_acks = [], [], {}
        self._inflight.append(batch)
        return batch

    def written(self, number: int) -> list[Release]:
        """Batch ``number`` is durable: what it and every batch before it release, in order.
        An unknown number (a batch written twice by a retry, or already released) releases
        nothing."""
        batch = self._find(number)
        if batch is None:
            return []
        batch.durable = True
        out: list[Release] = []
        while self._inflight and self._inflight[0].durable:
            done = self._inflight.popleft()
            self.durable_index = done.last
            self._released(done.held)
            out += releases(done.held, done.acks)
        if not self._inflight and not self._records and not self.fenced and self._retry_at is None:
            # held after the last cut, with no record since: nothing is left to wait for
            if self._held or self._held_acks:
                self._released(self._held)
                out += releases(self._held, self._held_acks)
                self._held, self._held_acks = [], {}
        return out

    def failed(self, number: int, now: float) -> bool:
        """Writing batch ``number`` failed or could not start (e.g. connection lost): write
        every batch not yet acknowledged again after the delay (see :meth:`rewrites_due`).
        Returns whether the batch was in flight (False: a stale report, ignored)."""
        if self._find(number) is None:
            return False
        if self._retry_at is None:
            self._retry_at = now + RETRY_WRITE_S
        return True

    def fence(self, number: int) -> bool:
        """Batch ``number`` was refused because a newer leader exists; return whether that
        stopped this pipeline (it then cuts and rewrites nothing more)."""
        if self._find(number) is None:
            return False
        self.fenced = True
        return True

    def rewrites_due(self, now: float) -> list[Batch]:
        """The batches to write again now, in order (ZooKeeper stores one session's
        writes in order): every unacknowledged one, once the retry delay has passed."""
        if self._retry_at is None or now < self._retry_at or self.fenced:
            return []
        self._retry_at = None
        return [b for b in self._inflight if not b.durable]

    def _find(self, number: int) -> Batch | None:
        for batch in self._inflight:
            if batch.number == number:
                return batch
        return None


@dataclass(slots=True)
class SnapshotSchedule:
    """When to snapshot the core: every ``every`` records or ``interval`` seconds (whichever
    comes first, and only if a record came since), never while one is being written.

    A snapshot bounds what a new leader replays; taking one costs a fork on the loop and a
    pass over the whole state in the child, so neither too often nor while the previous
    one is still written.
    """

    every: int
    interval: float
    last_index: int
    last_at: float

    def due(self, index: int, now: float, writing: bool) -> bool:
        """Whether to snapshot the state after record ``index`` now."""
        if writing:
            return False
        since = index - self.last_index
        if since <= 0:
            return False
        return since >= self.every or now - self.last_at >= self.interval

    def taken(self, index: int, now: float) -> None:
        """A snapshot of the state after record ``index`` is being written from now."""
        self.last_index = index
        self.last_at = now


# ---------------------------------------------------------------- reading back
@dataclass(slots=True)
class ReadBack:
    """The records a new leader replays, and what reading the journal back found wrong."""

    records: list[tuple[int, Any]]
    """``(index, record)``, contiguous from the first index after the snapshot."""
    gap: tuple[int, int] | None = None
    """``(first missing index, first index after it that is stored)``: a batch is missing
    between two stored ones. Records past a gap were stored; guessing what the missing
    ones held would rebuild a wrong farm, so the candidate must not lead."""
    dropped_tail: list[tuple[int, int]] = field(default_factory=list)
    """Index ranges of incomplete batches past the last record: the last write of a leader that
    died mid-batch. A batch counts only once whole, so nothing in them was acknowledged."""


def read_back(after: int, batches: list[tuple[int, list[Any]]],
              incomplete: list[tuple[int, int]]) -> ReadBack:
    """Records after index ``after`` from the complete ``batches`` (``(first index, records)``
    in index order; copies and overlaps allowed, the first copy of each index wins) and the
    ``(first, last)`` index ranges of the ``incomplete`` ones."""
    out = ReadBack([])
    expected = after + 1
    for first, records in batches:
        if first + len(records) <= expected:
            continue  # already read (a retried copy, or before the snapshot)
        if first > expected:
            out.gap = (expected, first)
            break
        out.records.extend((first + offset, record) for offset, record in
                           enumerate(records[expected - first:], start=expected - first))
        expected = first + len(records)
    if out.gap is None:
        out.dropped_tail = [(first, last) for first, last in incomplete if last >= expected]
    return out

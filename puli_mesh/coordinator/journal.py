"""The coordinator's durable memory in ZooKeeper: a fenced, group-committed journal plus snapshots.

Guarantees:

* **Fenced writes.** Every write is a ZooKeeper transaction that first checks
  the version of the cluster's ``epoch`` znode as it was when this leader took
  its epoch. A newer leader has changed it, so a deposed leader's write fails
  (``FencedError`` reaches the caller) and nothing of it is stored.
* **Group commit.** Many records go in one batch, compressed; a batch bigger
  than a znode may hold is split in parts written in order; a batch counts only
  when all its parts are stored. Batches are named
  ``b-<first index>-<last index>-<sequence>`` so trimming needs no reads.
* **Idempotent retries.** A batch retried after a lost connection may be
  stored twice; readers keep the first copy of each ``(epoch, batch number)``.
* **Known formats only.** Every batch carries the journal's ``FORMAT``; a reader refuses a
  batch of a format it cannot read (``JournalFormatError``, naming both) rather than misread it.
  A cluster is upgraded as a whole (README.md, "A cluster is upgraded as a whole").
* **No gap.** Recovery replays contiguous records only: a batch missing between two stored
  ones (or a snapshot's missing part) is ``JournalDamagedError``, never "nothing there".
* **Bounded recovery.** A snapshot (the core's whole state, compressed, in
  parts) is written regularly; its pointer is updated only once the journal is
  durable up to the snapshot's index, then older batches and snapshots are
  deleted.
* **Private.** Every znode written here (epoch, batches, snapshots, their parents) carries the
  private ACL of ``zk_access`` for the credential of the client given: no one without the
  cluster's credential reads or writes the journal.

Not here: what the records mean (``records``), when to write or snapshot (``durability``).
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgpack
from kazoo.client import KazooClient
from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError, RolledBackError
from kazoo.interfaces import IAsyncResult

from puli_mesh import zk_access
from puli_mesh.coordinator.durability import read_back
from puli_mesh.errors import FencedError, JournalDamagedError, JournalFormatError
from puli_mesh.hook_store import ZooKeeperHookStore
from puli_mesh.zkpaths import ClusterPaths

log = logging.getLogger(__name__)

FORMAT = 4
"""The batch format this version writes: 1 had no ``format`` field; 2 carries it, its records
being ``records.AnyRecord.to_data()``; 3 adds the client's request id to a submit record; 4
adds the ``free_ram`` and ``killfile`` records (a worker's reports).
Bump it with any change of a batch or of a record."""
READABLE_FORMATS = frozenset({1, 2, 3, FORMAT})
"""What this version reads. Format 1 laid out its batches and records exactly as format 2 does
(the records became classes, their data did not change), format 2's submit records are
format 3's without a request id, and format 3 is format 4 without its two new kinds, so a
cluster upgraded from any of them keeps its queued work. A newer format is refused rather than
misread (an older agent would skip the records it does not know, and decide otherwise)."""
MAX_PART_BYTES = 900 * 1024
"""Under ZooKeeper's default 1 MB jute.maxbuffer, with room for the transaction's framing."""


def pack(value: Any) -> bytes:
    """What the journal stores for a batch or a snapshot: msgpack, compressed (zlib's
    fastest level: a snapshot of a million commands is packed while the farm runs)."""
    return zlib.compress(msgpack.packb(value, use_bin_type=True), 1)


def unpack(blob: bytes) -> Any:
    """The value ``pack`` stored."""
    return msgpack.unpackb(zlib.decompress(blob), raw=False, strict_map_key=False)


def _split(blob: bytes) -> list[bytes]:
    return [blob[i:i + MAX_PART_BYTES] for i in range(0, len(blob), MAX_PART_BYTES)] or [b""]


@dataclass
class Recovered:
    """What a new leader reads back: the newest snapshot and every record after it."""

    snapshot: dict[str, Any] | None
    snapshot_index: int
    records: list[tuple[int, list[Any]]] = field(default_factory=list)
    """``(index, record)`` in order, all with index > snapshot_index."""
    batches: int = 0

    @property
    def last_index(self) -> int:
        return self.records[-1][0] if self.records else self.snapshot_index


def _is_fenced(results: Any) -> bool:
    return isinstance(results, list) and any(isinstance(r, BadVersionError) for r in results)


def _failed(results: Any) -> Exception | None:
    if isinstance(results, list):
        for r in results:
            if isinstance(r, Exception) and not isinstance(r, RolledBackError):
                return r
    return None


class JournalWriter:
    """Writes one leader's batches and snapshots, fenced by its epoch."""

    def __init__(self, zk: KazooClient, paths: ClusterPaths, epoch: int, epoch_version: int) -> None:
        self.zk = zk
        self.paths = paths
        self.epoch = epoch
        self.epoch_version = epoch_version
        self.credential = zk_access.client_credential(zk)
        self.acl = zk_access.private_acl(self.credential)
        zk_access.ensure_znode(zk, paths, paths.journal, self.credential)
        zk_access.ensure_znode(zk, paths, paths.snapshots, self.credential)

    def hook_store(self) -> ZooKeeperHookStore:
        """Hooks and their marks for this leader's hook delivery, fenced by its epoch."""
        return ZooKeeperHookStore(self.zk, self.paths, self.epoch_version)

    def _transaction(self) -> Any:
        tx = self.zk.transaction()
        tx.check(self.paths.epoch, self.epoch_version)
        return tx

    def write_batch_async(self, batch_no: int, first: int, records: list[Any],
                          done: Callable[[Exception | None], None]) -> int:
        """Store records ``first..first+len-1``; ``done(None)`` once durable, ``done(exc)`` if not.

        ``done`` runs on a kazoo thread. ``FencedError`` means a newer leader exists.
        Returns the size of the compressed batch.
        """
        last = first + len(records) - 1
        blob = pack({"format": FORMAT, "epoch": self.epoch, "batch": batch_no, "first": first,
                      "records": records})
        parts = _split(blob)
        name = f"{self.paths.journal}/b-{first:012d}-{last:012d}-"
        results: list[IAsyncResult] = []
        for index, part in enumerate(parts):
            data = msgpack.packb({"e": self.epoch, "b": batch_no, "p": index, "n": len(parts), "d": part})
            tx = self._transaction()
            tx.create(name, data, acl=self.acl, sequence=True)
            results.append(tx.commit_async())

        def finished(result: IAsyncResult) -> None:
            try:
                value = result.get()
            except Exception as exc:  # connection loss, session expiry: the caller retries or steps down
                done(exc)
                return
            if _is_fenced(value):
                done(FencedError(f"epoch {self.epoch} was superseded; journal write refused"))
                return
            done(_failed(value))

        results[-1].rawlink(finished)
        return len(blob)

    def write_snapshot(self, blob: bytes, index: int, durable_through: Callable[[], int],
                       wait: float = 30.0) -> bool:
        """Write a snapshot of the state after record ``index``, packed (``pack(core.snapshot())``,
        done by ``background_snapshot`` off the loop); blocking, for a worker thread.

        The pointer moves only once the journal is durable through ``index``
        (``durable_through()``), then what it covers is trimmed. Returns False if
        it had to give up (the journal did not catch up, or the epoch moved).
        """
        started = time.monotonic()
        snap_dir = f"{self.paths.snapshots}/s-{self.epoch:06d}-{index:012d}"
        parts = _split(blob)
        try:
            zk_access.ensure_znode(self.zk, self.paths, snap_dir, self.credential)
            for number, part in enumerate(parts):
                tx = self._transaction()
                tx.create(f"{snap_dir}/p-{number:05d}", part, acl=self.acl)
                if _is_fenced(tx.commit()):
                    raise FencedError(f"epoch {self.epoch} was superseded")
            deadline = time.monotonic() + wait
            while durable_through() < index:
                if time.monotonic() > deadline:
                    log.warning("snapshot at %d abandoned: journal not durable in %.0fs", index, wait)
                    return False
                time.sleep(0.01)
            pointer = msgpack.packb({"dir": snap_dir, "parts": len(parts), "index": index, "epoch": self.epoch})
            tx = self._transaction()
            if self.zk.exists(self.paths.snapshot) is None:
                tx.create(self.paths.snapshot, pointer, acl=self.acl)
            else:
                tx.set_data(self.paths.snapshot, pointer)
            if _is_fenced(tx.commit()):
                raise FencedError(f"epoch {self.epoch} was superseded")
        except FencedError:
            log.warning("snapshot at %d refused: a newer leader exists", index)
            return False
        removed = self.trim(index, keep=snap_dir)
        log.info("snapshot at record %d: %d bytes in %d part(s), %.2fs; %d journal batch(es) trimmed",
                 index, len(blob), len(parts), time.monotonic() - started, removed)
        return True

    def trim(self, index: int, keep: str) -> int:
        """Delete the batches wholly covered by the snapshot at ``index`` and the snapshots
        older than it; return how many batches went.

        Fenced like every write: once a newer leader exists nothing more is deleted (a slow
        snapshot thread of a deposed leader must not delete what its successor wrote), and a
        snapshot at or past ``index`` is never deleted, whoever wrote it."""
        removed = 0
        for child in self.zk.get_children(self.paths.journal):
            try:
                last = int(child.split("-")[2])
            except (IndexError, ValueError):
                continue
            if last <= index:
                if not self._delete_fenced([f"{self.paths.journal}/{child}"]):
                    return removed
                removed += 1
        for child in self.zk.get_children(self.paths.snapshots):
            path = f"{self.paths.snapshots}/{child}"
            try:
                older = int(child.split("-")[2]) < index
            except (IndexError, ValueError):
                continue  # not ours to judge
            if path == keep or not older:
                continue
            try:
                parts = [f"{path}/{part}" for part in self.zk.get_children(path)]
            except NoNodeError:
                continue
            if not self._delete_fenced([*parts, path]):
                return removed
        return removed

    def _delete_fenced(self, paths: list[str]) -> bool:
        """Delete ``paths`` in one transaction fenced by the epoch; False once a newer leader exists
        (a node already gone makes the transaction fail harmlessly: another trim got there first)."""
        tx = self._transaction()
        for path in paths:
            tx.delete(path)
        if _is_fenced(tx.commit()):
            log.warning("journal trim stopped: a newer leader exists (epoch %d is superseded)", self.epoch)
            return False
        return True


def _batch_order(name: str) -> tuple[int, str]:
    """``b-<first>-<last>-<sequence>`` sorts by first index, then by ZooKeeper's sequence; an
    unexpected name sorts first (the reader warns and skips it)."""
    parts = name.split("-")
    try:
        return int(parts[1]), parts[3]
    except (IndexError, ValueError):
        return -1, name


def read_journal(zk: KazooClient, paths: ClusterPaths) -> Recovered:
    """Load the newest snapshot and every complete batch after it, in order
    (``durability.read_back``): a missing batch between stored ones is a
    ``JournalDamagedError``, an incomplete last batch is dropped with a log line."""
    snapshot: dict[str, Any] | None = None
    snapshot_index = 0
    try:
        raw, _ = zk.get(paths.snapshot)
    except NoNodeError:
        raw = None  # no snapshot yet: the journal holds everything
    if raw is not None:
        pointer = msgpack.unpackb(raw, raw=False)
        try:
            blob = b"".join(zk.get(f"{pointer['dir']}/p-{n:05d}")[0] for n in range(int(pointer["parts"])))
        except NoNodeError as exc:
            # Never "nothing there": that would rebuild an empty farm and give out ids again.
            raise JournalDamagedError(
                f"the snapshot of cluster {paths.cluster!r} at record {pointer.get('index')} is missing a part "
                f"({exc.args[0] if exc.args else pointer['dir']}); no agent can take over from this journal. "
                f"Restore the snapshot's znodes under {pointer['dir']}, or start the cluster afresh (delete "
                f"{paths.journal}, {paths.snapshot} and {paths.snapshots}: queued work is lost)") from exc
        snapshot = unpack(blob)
        snapshot_index = int(pointer["index"])
    try:
        children = zk.get_children(paths.journal)
    except NoNodeError:
        children = []
    # In index order, and in ZooKeeper's order within one index range (a batch's parts, its
    # retries): a batch retried after a later one was stored holds the earlier records, and
    # taking the batches in the order ZooKeeper stored them would drop it as already read.
    children.sort(key=_batch_order)
    recovered = Recovered(snapshot, snapshot_index)
    seen: set[tuple[int, int]] = set()
    pending: dict[tuple[int, int], tuple[int, int, list[bytes]]] = {}  # key -> first, last, parts
    complete: list[tuple[int, list[Any]]] = []
    wanted: dict[str, tuple[int, int]] = {}  # path -> its first and last record index
    for child in children:
        try:
            first, last = int(child.split("-")[1]), int(child.split("-")[2])
        except (IndexError, ValueError):
            log.warning("journal: ignoring unexpected znode %s", child)
            continue
        if last > snapshot_index:
            wanted[f"{paths.journal}/{child}"] = (first, last)
    for path, data in zk_access.read_many(zk, list(wanted)):
        first, last = wanted[path]
        part = msgpack.unpackb(data, raw=False)
        key = (int(part["e"]), int(part["b"]))
        if key in seen:
            continue  # a batch retried after a lost reply: keep its first copy
        chunks = pending.setdefault(key, (first, last, []))[2]
        if len(chunks) != int(part["p"]):
            continue  # a duplicate part of a retried batch
        chunks.append(part["d"])
        if len(chunks) < int(part["n"]):
            continue
        del pending[key]
        seen.add(key)
        batch = unpack(b"".join(chunks))
        check_format(batch, paths)
        recovered.batches += 1
        complete.append((int(batch["first"]), batch["records"]))
    read = read_back(snapshot_index, complete, [(first, last) for first, last, _ in pending.values()])
    if read.gap is not None:
        missing, present = read.gap
        raise JournalDamagedError(
            f"the journal of cluster {paths.cluster!r} lacks records {missing} to {present - 1} (a batch "
            f"between two stored ones is missing); no agent can take over from it: the records after "
            f"the gap would be replayed on a wrong state. Restore the missing batch under "
            f"{paths.journal}, or start the cluster afresh (delete {paths.journal}, {paths.snapshot} "
            f"and {paths.snapshots}: queued work is lost)")
    for first, last in read.dropped_tail:
        log.warning("journal: incomplete last batch (records %d to %d) dropped: its leader died "
                    "while writing it, so none of it was acknowledged", first, last)
    recovered.records = read.records
    return recovered


def check_format(batch: dict[str, Any], paths: ClusterPaths) -> None:
    """Refuse a batch of a format this version cannot read: misreading it would rebuild a wrong state."""
    found = batch.get("format", 1)
    if found not in READABLE_FORMATS:
        readable = ", ".join(map(str, sorted(READABLE_FORMATS)))
        raise JournalFormatError(
            f"the journal of cluster {paths.cluster!r} holds a batch in format {found!r}, but this "
            f"puli-mesh reads formats {readable}: a cluster is upgraded as a whole. Run one version on "
            f"every agent; to start afresh on this one, stop every agent and delete {paths.journal}, "
            f"{paths.snapshot} and {paths.snapshots} from ZooKeeper (queued work is lost, licences "
            f"and pools are kept)")


def take_epoch(zk: KazooClient, paths: ClusterPaths) -> tuple[int, int]:
    """Increment the epoch with compare-and-set; return ``(epoch, version of the epoch znode)``."""
    credential = zk_access.client_credential(zk)
    zk_access.ensure_znode(zk, paths, paths.base, credential)
    while True:
        try:
            data, stat = zk.get(paths.epoch)
        except NoNodeError:
            try:
                zk.create(paths.epoch, b"1", acl=zk_access.acl_for(paths, paths.epoch, credential))
                return 1, 0
            except NodeExistsError:
                continue
        try:
            current = int(data.decode() or 0)
        except ValueError:
            current = 0
        try:
            new_stat = zk.set(paths.epoch, str(current + 1).encode(), version=stat.version)
            return current + 1, int(new_stat.version)
        except BadVersionError:
            continue

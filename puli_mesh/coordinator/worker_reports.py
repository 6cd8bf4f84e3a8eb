"""What a linked worker reports, turned into journal records: a base class of
:class:`~puli_mesh.coordinator.service.CoordinatorService`, so the service stays one object
while its module stays short.

A final UPDATE is journalled and acknowledged once durable; progress is applied, not
journalled; an UPDATES batch is its items in order, then its credit; a READY credit, a free
RAM figure or a killfile is journalled when it is news.

Guarantees: no I/O and no clock read here (``now`` is an argument): the service reads the
clocks and sends, these methods only decide what is run and what is acknowledged.
Not here: which routing id speaks for which node (``service``: HELLO and links), decoding
(``protocol``), what a record does to the core (``records``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from puli_mesh.coordinator.records import ReadyRecord, UpdateRecord, report_record
from puli_mesh.errors import CoreError, ProtocolError
from puli_mesh.limits import bounded_report
from puli_mesh.protocol import HeartbeatMessage, KillfileMessage, UpdateMessage, UpdatesMessage

if TYPE_CHECKING:
    from puli_mesh.coordinator.core import SchedulingCore
    from puli_mesh.coordinator.records import Record, Result
    from puli_mesh.coordinator.stats import FarmStats

log = logging.getLogger(__name__)


class WorkerReports:
    """The worker-report half of the coordinator service (module docstring)."""

    core: SchedulingCore
    dispatching: bool
    stats: FarmStats

    def run(self, record: Record[Result]) -> Result:
        raise NotImplementedError  # the service's

    def hold_ack(self, identity: bytes, command_id: int, attempt: int, seq: int) -> None:
        raise NotImplementedError  # the service's

    def on_update(self, identity: bytes, name: str, update: UpdateMessage, now: float) -> None:
        """One UPDATE (validated): a final status is journalled, progress is not. Only the node
        that holds the attempt may report on it. An attempt nobody holds is stale (the command
        was taken back, or ended): the core would ignore it, so it is acknowledged, for its
        sender to stop sending it, and neither applied nor journalled."""
        holder = self.core.held_by(update.command_id, update.attempt)
        if holder != name:
            if holder is not None:
                log.warning("update of command %d refused from %s: %s holds it", update.command_id, name, holder)
                return  # neither applied nor acknowledged
            log.debug("stale update of command %d attempt %d from %s: acknowledged only",
                      update.command_id, update.attempt, name)
            self.hold_ack(identity, update.command_id, update.attempt, update.seq)
            return
        status = update.status
        message, stats = update.message, update.stats
        limits = self.core.settings.graph_limits
        if stats or (message is not None and len(message) > limits.message_length):
            message, stats = bounded_report(message, stats, limits)  # kept within the limits, marked
        if status is None:
            # Progress only: not journalled, so the core changes no decision for it.
            self.core.command_progress(update.command_id, update.attempt, now, completion=update.completion,
                                       message=message, stats=stats)
        else:
            self.run(UpdateRecord(update.command_id, update.attempt, now, status,
                                  update.completion, message, stats))
            self.stats.command_finished(status)  # counts finals only
        self.hold_ack(identity, update.command_id, update.attempt, update.seq)

    def on_updates(self, identity: bytes, name: str, msg: UpdatesMessage, now: float) -> None:
        """Several UPDATEs in their order, then one READY with the credit after them. A
        malformed or refused item is dropped alone (the worker sends it again unacknowledged)."""
        for item in msg.updates:
            try:
                self.on_update(identity, name, UpdateMessage.from_map(item), now)
            except ProtocolError as exc:
                log.warning("dropped a bad update from %s: %s", name, exc)
            except CoreError as exc:
                log.warning("core refused an update from %s: %s", name, exc)
        self.credit(name, msg.free_slots, now)

    def report(self, name: str, msg: HeartbeatMessage | KillfileMessage, now: float) -> None:
        """A worker's free RAM or killfile, journalled when it is news (``records.report_record``)."""
        record = report_record(self.core, name, msg, now)
        if record is not None and self.dispatching:
            self.run(record)

    def credit(self, name: str, free_slots: int | None, now: float) -> None:
        """An update's ``free_slots`` stands for a READY."""
        if free_slots is not None and self.dispatching:
            self.run(ReadyRecord(name, free_slots, now))

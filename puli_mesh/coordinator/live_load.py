"""A render node's load as its worker reports it: kept in the core's node record, for the listings.

The load average goes to the leader as it changes (a HELLO's and a HEARTBEAT's ``load``,
``node.resources.FigureReport``); ``puli-mesh nodes``, QUERY nodes and ``/api/nodes`` show the
core's figure. No decision reads it, so setting it is not journalled (as a command's progress
is not): a successor has the one of the node's last HELLO (journalled with it) or snapshot
until the node reports again, and every node says HELLO to a new leader with its load.

Guarantees: O(1) per report, no I/O, no clock. Not here: bounding the figure
(``limits.reported_load_within``, by ``records.report_record``), sending it (``node.worker``).
"""

from __future__ import annotations

from puli_mesh.coordinator.state import CoreState


class LiveLoad:
    """The core's facade for a node's load: a base class of ``SchedulingCore``."""

    _st: CoreState

    def node_load(self, name: str, load: float) -> None:
        """Node ``name``'s worker reports a load average of ``load`` (bounded): kept for the
        listings. An unknown or offline node's is dropped (its next HELLO says it again)."""
        node = self._st.render_nodes.get(name)
        if node is not None and node.online:
            node.load = load

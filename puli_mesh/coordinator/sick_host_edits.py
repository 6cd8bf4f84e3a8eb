"""The scheduling core's facade for sick hosts: forgiving a node, and why it is passed over.

A base class of :class:`~puli_mesh.coordinator.core.SchedulingCore` (as ``core_views.CoreViews``
is), so the facade stays one object while ``core`` stays short.

Guarantees: pure; ``clear_node`` is an event like the core's others (time is an argument, the
decisions it leads to are returned), journalled by the service as the ``clear_node`` edit.
Not here: the rules and bookkeeping (``sick_hosts``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from puli_mesh.coordinator import assignment, render_node_events, sick_hosts
from puli_mesh.coordinator.decisions import Decision
from puli_mesh.coordinator.state import CoreState


class SickHostEdits:
    """``clear_node`` and ``avoidance_reasons`` (module docstring)."""

    _st: CoreState
    _start: Callable[[float], None]  # the core's: ``SchedulingCore._start`` / ``_done``
    _done: Callable[[float], list[Decision]]

    def clear_node(self, name: str, now: float) -> list[Decision]:
        """Forgive render node ``name``: its quarantine, every job's and command's avoidance of it
        (``sick_hosts.clear_node``). UnknownIdError for an unknown node, IllegalTransitionError
        when nothing was to forgive."""
        self._start(now)
        node = render_node_events.render_node(self._st, name)
        sick_hosts.clear_node(self._st, name)
        assignment.dispatch_node(self._st, node, now)
        return self._done(now)

    def avoidance_reasons(self, name: str, now: float) -> dict[str, Any]:
        """Why ``name`` is passed over: ``avoided_by`` [{job, until}], ``avoided_by_commands`` [ids]."""
        return sick_hosts.reasons(self._st, name, now)

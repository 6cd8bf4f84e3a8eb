"""Transitional: the agent's old way to replay one journal record.

``node/agent.py`` still calls :func:`apply_event` while it recovers; it is to call
``records.replay(core, recovered.records)`` instead, and this module then goes.

Not here: anything else; the records are in ``records``.
"""

from __future__ import annotations

from typing import Any

from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.coordinator.records import decode_record


def apply_event(core: SchedulingCore, event: Any) -> Any:
    """Decode one journalled record and feed it to the core; return what the core returned."""
    return decode_record(event).apply(core)

"""How a worker's link to its leader behaves: its routing ids, the heartbeat interval it keeps,
how it spreads its waits, how fast ZeroMQ reconnects it.

Shared by the worker (``node.worker``) and the simulated nodes of ``bench/scale.py``, which
must behave like it.

Not here: the messages (``puli_mesh.protocol``), the socket and what goes over it (``worker``).
"""

from __future__ import annotations

import random
import secrets

from puli_mesh.limits import heartbeat_interval_within

RECONNECT_IVL_MAX_MS = 2000
"""ZeroMQ tries a lost connection again after 100 ms, then after twice as long each time, up to
this. Without a bound on the back-off a dead leader's 2,000 workers tried to reach its port 20,000
times a second until a successor was published, and the machines' CPU went to refused connections
(at 2,000 simulated nodes on 2 cores, ZooKeeper's news of the new leader came 2 s late)."""
ROUTING_NAME_BYTES = 200
"""How much of the node's name its routing id shows (ZeroMQ allows 255 bytes in all)."""


def spread(wait: float) -> float:
    """A wait drawn from its upper half, so that a farm's nodes waiting alike do not act in one wave."""
    return wait * (0.5 + random.random() / 2)


def interval_told(own: float, told: float | None) -> float:
    """The heartbeat interval a worker keeps, given its own setting and what its leader told it
    (None: nothing): never shorter than its own, never beyond ``MAX_HEARTBEAT_INTERVAL_S``."""
    return own if told is None else heartbeat_interval_within(own, told)


def fresh_routing_id(name: str) -> bytes:
    """A routing id for one connection to the leader: the name (for logs) and 96 random bits.
    The leader ties it to the node at an accepted HELLO; being unguessable and new on every
    connection, nobody can take it over (the leader's ROUTER has no handover) nor speak with it."""
    return (name.encode()[:ROUTING_NAME_BYTES] + b"#" + secrets.token_hex(12).encode()).lstrip(b"\0")

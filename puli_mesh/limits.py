"""Every limit of the mesh, in one place: what the wire carries, and how big a graph may be.

Two kinds:

* **Hard, wire-level constants** (:data:`MAX_MESSAGE_BYTES`, :data:`MAX_NESTING`,
  :data:`INT64_MIN`/:data:`INT64_MAX`, the sockets' high-water marks): the same for every agent and client of a release,
  because they decide what a message may be at all. Not settings.
* **Graph limits** (:class:`GraphLimits`): how big and deep a graph, and what a command
  reports while it runs, may be. Settings of the agent (``puli_mesh.config``), with defaults
  a studio never reaches by accident (a 100,000-command graph of about 10 MB passes them).
  The client checks the defaults before it sends; the coordinator checks its configured ones
  before it journals.

Guarantees: pure (no I/O, imports nothing from the project, so ``puliclient`` and the CLI
may import it without loading the mesh). Every limit is named and documented here; code
that enforces one names it in its error, says the value and what to do.

Not here: enforcing them (the protocol's decoder, ``puliclient.representation``, the
coordinator's request handling and the decomposers do, each where its data is read).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
"""What the journal and snapshots store: an integer outside this range cannot be packed back
once decoded as an unsigned one, so values a user sets (priorities, maxRN, ids) stay in it."""

MAX_MESSAGE_BYTES = 16 * 1024 * 1024
"""Upper bound of one message (and ZeroMQ's ``MAXMSGSIZE`` on every socket that receives
them). A 100,000-command graph is about 10 MB; anything bigger would be stored in ZooKeeper,
which keeps its whole tree in memory."""

MAX_NESTING = 32
"""How deep lists and maps may nest in any message, the message's own map counting as 1.
msgpack decodes up to 1024 levels and packs no more: a message decoded near that depth
could not be journalled once wrapped in a batch (its records, a record), and every later
batch would wait behind it. 32 leaves a command's arguments more than 20 levels (a SUBMIT's
map, the graph, its tasks, a task, its commands, a command, its arguments come first); the
journal's wrapping and a snapshot's tree levels stay far below msgpack's bound."""

MAX_VALUE_NESTING = MAX_NESTING - 7
"""How deep lists and maps may nest in a value a user shapes in a graph (a command's arguments,
a node's tags...), the value itself counting as 1: a SUBMIT's map, the graph, its tasks, a task,
its commands, a command and its arguments come first, so the SUBMIT stays within MAX_NESTING."""

MAX_RID_CHARS = 128
"""A client request's id (``rid``): the leader keeps the last SUBMITs' ids with their graphs
(journal, snapshot), so a retry finds its graph after a failover. A uuid is 36 characters."""

STATUS_NODES_MAX = 500
"""Nodes a bounded ``QUERY status`` (``nodes_limit``, what ``puli-mesh top`` asks) may list: a
screen's worth and then some; the whole list is the plain ``status``."""

MAX_FILTER_VALUES = 256
"""Values one filter key of a listing query may list (ids, users, name patterns, node states...):
each is tried on every graph or node looked at."""


# Sockets: ZeroMQ bounds its queues by messages, each at most MAX_MESSAGE_BYTES.
ROUTER_RCVHWM = 8
"""Messages of one peer waiting for the loop: with MAXMSGSIZE a connection holds at most 9 x
16 MiB of our memory; a full queue makes ZeroMQ stop reading that connection alone."""
ROUTER_SNDHWM = 16
"""Messages waiting to leave for one peer. Sends are NOBLOCK with ROUTER_MANDATORY: to a full queue
one fails at once, never blocks the loop (the coordinator drops that worker's link: ``_send``)."""
ROUTER_BACKLOG = 4096
"""Connections the agent's port queues before it accepts them (ZeroMQ's default is 100; Linux caps
it at ``net.core.somaxconn``, 4,096 since 5.4). After a failover every worker connects at once:
with 100, the connections beyond it were dropped and their hosts tried again 1, 3, 7 and 15 s
later (TCP's back-off), and 2,000 nodes took 20 s to be re-attached instead of 5."""
ROUTER_BYTES_PER_TURN = 8 * 1024 * 1024
"""Input read from the ROUTER in one turn: a flood of big messages must not stall the rest of the loop."""
WORKER_HWM = 64
"""Messages queued each way on the link to the coordinator (they are small: results, READY,
ASSIGNs). A send to a full queue is dropped, never waited for: what matters is sent again
(unacknowledged results, HELLO, heartbeats carry the rest)."""
CLIENT_HWM = 4
"""A client has one request in flight; a few late replies of earlier tries may queue behind it."""


@dataclass(frozen=True, slots=True)
class GraphLimits:
    """How big a submitted graph, and what its commands report, may be.

    Each field is a setting of the agent (``graph_<field>`` in ``puli_mesh.config``); the
    defaults are what the client checks before it sends."""

    depth: int = 64
    """Levels of nodes from the root group down to the deepest task, the root being level 1."""
    nodes: int = 100_000
    """Tasks and task groups in one graph."""
    commands_per_task: int = 100_000
    """Commands of one task (a decomposer that would make more is refused before it builds them)."""
    frames_per_command: int = 100_000
    """Frames one command covers (``start``..``end`` by ``step``): a runner never builds a
    longer list, and a decomposer never cuts a range whose packets would hold more."""
    name_length: int = 1_024
    """Characters of a name: the graph's, a node's, a command's description, the user, the
    pool, a runner, a licence, a dictionary key."""
    string_length: int = 65_536
    """Characters of any other string of a graph (argument, environment and tag values, meta)."""
    value_items: int = 10_000
    """Items of one value a user shapes (a node's or a command's arguments, a node's tags,
    environment or requirements, the graph's meta), every key, list item and nested map counted."""
    stats_items: int = 1_000
    """Items of the stats a running command reports (counted as ``value_items``); more are dropped."""
    message_length: int = 4_096
    """Characters of the message a running command reports; a longer one is cut, with a marker."""

    def check(self) -> list[str]:
        """What is wrong with these values (each should be a positive int): one line per field."""
        return [f"{f.name} must be a positive whole number, got {getattr(self, f.name)!r}"
                for f in fields(self)
                if type(getattr(self, f.name)) is not int or getattr(self, f.name) < 1]


DEFAULT_GRAPH_LIMITS = GraphLimits()
"""The limits a client checks before it sends (and an agent applies unless configured)."""


def frame_count(start: int, end: int, step: int) -> int:
    """How many frames ``start``..``end`` (inclusive) by ``step`` holds, without listing them."""
    return len(range(start, end + 1, step)) if step > 0 else 0


def cut_text(text: str, limit: int) -> str:
    """``text`` if at most ``limit`` characters, else its start with a marker saying how long it was."""
    if len(text) <= limit:
        return text
    marker = f" [... cut: {len(text)} characters, the limit is {limit}]"
    return text[:max(0, limit - len(marker))] + marker


DROPPED_STATS_KEY = "stats_dropped"
"""The one key of the stats stored in place of stats above ``GraphLimits.stats_items``."""


def count_items(value: Any, cap: int) -> int:
    """Items of ``value`` (every key, list item and nested map counted), counted with a stack,
    stopping once past ``cap``: the result is ``cap + 1`` or more when it is above it."""
    items = 0
    stack = [value]
    while stack and items <= cap:
        item = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        items += len(item)
        stack.extend(child for child in children if isinstance(child, dict | list))
    return items


def bounded_report(message: str | None, stats: dict[str, Any] | None,
                   limits: GraphLimits) -> tuple[str | None, dict[str, Any] | None]:
    """A running command's report as the coordinator keeps it: a message above
    ``message_length`` cut with a marker (its start is what a reader needs: the error), stats
    above ``stats_items`` replaced by one :data:`DROPPED_STATS_KEY` saying why. Cut rather than
    refused: a worker sends an unacknowledged final UPDATE again and again, so refusing it
    would leave the command RUNNING for ever."""
    if message is not None and len(message) > limits.message_length:
        message = cut_text(message, limits.message_length)
    if stats and count_items(stats, limits.stats_items) > limits.stats_items:
        stats = {DROPPED_STATS_KEY: f"more than {limits.stats_items} items, the limit (graph_stats_items)"}
    return message, stats

MAX_HEARTBEAT_INTERVAL_S = 60.0
"""The longest heartbeat interval a leader tells its workers and a worker takes from its leader
(the interval grows with the farm: ``coordinator.worker_links``); a larger one is a bug or a
hostile peer's, and a link silent for minutes could not be told from a dead one."""


def heartbeat_interval_within(own: float, wanted: float) -> float:
    """``wanted`` as a heartbeat interval: never below ``own`` (the configured one), never above
    ``MAX_HEARTBEAT_INTERVAL_S`` unless ``own`` already is."""
    return min(max(own, wanted), max(own, MAX_HEARTBEAT_INTERVAL_S))


MAX_REPORTED_RAM_MB = 1 << 30
"""The most free RAM (MB, a petabyte) a worker's report is believed up to: a larger figure is
taken as this one (and logged), a negative one is refused, so a broken or hostile report can
neither crash the leader nor make every ``ramUse`` fit."""


def reported_ram_within(value: int) -> int | None:
    """A reported free RAM as the leader keeps it: None for a negative one (refused), else at
    most :data:`MAX_REPORTED_RAM_MB`."""
    if value < 0:
        return None
    return min(value, MAX_REPORTED_RAM_MB)


MAX_REPORTED_LOAD = 1_000_000.0
"""The highest load average a worker's report is believed up to (a larger one is taken as this
one): a broken or hostile report must not put absurd figures in every listing."""


def reported_load_within(value: float) -> float | None:
    """A reported load average as the leader keeps it, to two decimals: None for a negative or
    non-finite one (refused), else at most :data:`MAX_REPORTED_LOAD`."""
    if not value >= 0:  # negative, or NaN
        return None
    return round(min(value, MAX_REPORTED_LOAD), 2)


MAX_IDLE_TIMEOUT_S = 30 * 24 * 3600.0
"""The longest ``idleTimeout`` (a task's, or an agent's ``idle_timeout``) accepted, in seconds: 30
days. A frame silent longer than that is hung whatever it renders; a larger value is a typo."""


def idle_timeout_error(value: object) -> str | None:
    """Why ``value`` is not a task's ``idleTimeout``, or None when it is one: None (the farm's
    default), or seconds from 0 (off) to :data:`MAX_IDLE_TIMEOUT_S` (NaN and infinities refused).
    The one rule of the submission's check and of the ``set`` edit."""
    if value is None or (value.__class__ in (int, float) and 0 <= value <= MAX_IDLE_TIMEOUT_S):  # type: ignore[operator]
        return None
    return (f"'idleTimeout' must be seconds from 0 (off) to {MAX_IDLE_TIMEOUT_S:g}, or None (the farm's default), "
            f"not {value!r}")


MAX_GPUS = 64
"""The most GPUs a node reports (more are ignored, and logged) and a task may ask for: a
GPU server has 8 or 16; a larger figure is a mistake or a hostile peer's."""
MAX_GPU_ID_CHARS = 64
"""The longest GPU id a node reports (an index or a UUID: ``GPU-`` and 36 characters)."""


def reported_gpus_within(gpus: object) -> list[str]:
    """A HELLO's ``gpus`` as the leader keeps them: strings of at most ``MAX_GPU_ID_CHARS``
    (longer ones, empty ones and duplicates are dropped), at most ``MAX_GPUS`` of them."""
    if not isinstance(gpus, list | tuple):
        return []
    kept: dict[str, None] = {}
    for g in gpus:
        if isinstance(g, str | int) and not isinstance(g, bool) and 0 < len(str(g)) <= MAX_GPU_ID_CHARS:
            kept[str(g)] = None
            if len(kept) >= MAX_GPUS:
                break
    return list(kept)

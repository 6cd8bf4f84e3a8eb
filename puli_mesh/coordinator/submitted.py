"""Which graph each client SUBMIT created, by its request id: a SUBMIT sent again (a client's
retry after a lost reply, possibly to a new leader after a failover) gets the same graph.

The table is part of the core's state: every SUBMIT record carries its request id, so replay
rebuilds it, and the snapshot keeps it, so deduplication survives recovery.

Guarantees: pure and deterministic (time is the submit record's, never a clock); bounded: at
most ``KEPT_SUBMITS`` entries, none older than ``KEPT_SUBMITS_S`` than the newest submit.

Not here: answering the client (``requests``), journalling (``records.SubmitRecord``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

KEPT_SUBMITS = 10_000
"""Request ids remembered: far more than clients retrying at once."""
KEPT_SUBMITS_S = 86_400.0
"""... and for no longer than a day after the newest submit: a retry comes within seconds."""


@dataclass(frozen=True, slots=True)
class SubmittedGraph:
    """What one SUBMIT created: the graph's id and its node ids, ``graph_id + 1 ..
    graph_id + nodes`` (submission gives them in a row)."""

    graph_id: int
    nodes: int
    at: float

    @property
    def node_ids(self) -> list[int]:
        return list(range(self.graph_id + 1, self.graph_id + 1 + self.nodes))


class SubmittedGraphs:
    """Request id -> :class:`SubmittedGraph`, oldest first."""

    __slots__ = ("by_rid",)

    def __init__(self) -> None:
        self.by_rid: dict[str, SubmittedGraph] = {}

    def get(self, rid: str) -> SubmittedGraph | None:
        return self.by_rid.get(rid)

    def remember(self, rid: str, graph_id: int, nodes: int, now: float) -> None:
        by_rid = self.by_rid
        by_rid.pop(rid, None)
        by_rid[rid] = SubmittedGraph(graph_id, nodes, now)
        cutoff = now - KEPT_SUBMITS_S
        while by_rid:
            oldest = next(iter(by_rid))
            if len(by_rid) <= KEPT_SUBMITS and by_rid[oldest].at >= cutoff:
                break
            del by_rid[oldest]

    def dump(self) -> list[list[Any]]:
        return [[rid, s.graph_id, s.nodes, s.at] for rid, s in self.by_rid.items()]

    def load(self, rows: list[list[Any]]) -> None:
        self.by_rid = {str(rid): SubmittedGraph(int(graph_id), int(nodes), float(at))
                       for rid, graph_id, nodes, at in rows}

"""Client requests the coordinator answers: SUBMIT, QUERY and EDIT.

A SUBMIT and an EDIT become journal records run through the :class:`RequestHost` (the
service shell: it journals the record, applies it to the core and holds the reply until
the record is durable); a QUERY reads the core and what the host knows
(``client_queries``). Errors become ERROR replies with a stable ``code`` (an
``ErrorCode``: ``invalid``, ``not_found``, ``illegal``, ``refused``) and a message
that says what was wrong. A SUBMIT retried by a client after a lost reply (same ``rid``)
is answered from memory instead of creating the graph twice.

Not here: clocks (``now`` is an argument), sockets, holding replies until durable (the
shell).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any, Protocol

from puli_mesh.coordinator.client_queries import QueryContext, StatusFacts, answer_query
from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.coordinator.edit_actions import check_edit
from puli_mesh.coordinator.records import EditRecord, Record, Result, SubmitRecord
from puli_mesh.coordinator.stats import FarmStats
from puli_mesh.errors import (
    CoreError,
    IllegalTransitionError,
    InvalidGraphError,
    UnknownIdError,
    UnknownLicenceError,
    UnknownPoolError,
)
from puli_mesh.protocol import (
    ClientRequest,
    EditMessage,
    ErrorCode,
    ErrorMessage,
    QueryMessage,
    ResultMessage,
    SubmitMessage,
)

log = logging.getLogger(__name__)

RECENT_SUBMITS = 1024
RECENT_SUBMITS_BYTES = 16 * 1024 * 1024
"""SUBMIT replies remembered for a client's retry (the oldest forgotten first): far more than
clients retrying at once. A reply lists the graph's node ids, so a huge graph's is a few MB:
the bytes are bounded too."""


class RequestHost(Protocol):
    """What the requests need from the service shell."""

    @property
    def core(self) -> SchedulingCore: ...

    @property
    def stats(self) -> FarmStats: ...

    def run(self, record: Record[Result]) -> Result:
        """Journal ``record``, apply it to the core, carry out its decisions; return its result."""
        ...

    def status_facts(self) -> StatusFacts:
        """What the status query needs from the shell, read now."""
        ...


def error_code(exc: CoreError) -> ErrorCode:
    """The stable ``code`` of an ERROR reply for what the core refused."""
    # A pool or licence name the mesh does not define is unknown, like an id: the request is
    # well formed (`puli-mesh` exits 1, not 2) and may succeed once it is defined.
    if isinstance(exc, (UnknownIdError, UnknownPoolError, UnknownLicenceError)):
        return ErrorCode.NOT_FOUND
    if isinstance(exc, IllegalTransitionError):
        return ErrorCode.ILLEGAL
    if isinstance(exc, InvalidGraphError):
        return ErrorCode.INVALID
    return ErrorCode.REFUSED


class ClientRequests:
    """Answers SUBMIT, QUERY and EDIT for one leader."""

    def __init__(self, host: RequestHost, leader_name: str) -> None:
        self.host = host
        self.leader_name = leader_name
        self.recent_submits: OrderedDict[str, bytes] = OrderedDict()
        self.recent_submits_bytes = 0
        self.members_data: dict[str, dict[str, Any]] = {}
        """ZooKeeper's member data per node name, set by the agent (read by the status query)."""

    def handle(self, msg: ClientRequest, now: float) -> bytes:
        """The reply to one client request (``now``: wall-clock seconds)."""
        rid = msg.rid
        if isinstance(msg, SubmitMessage) and rid in self.recent_submits:
            return self.recent_submits[rid]
        try:
            match msg:
                case SubmitMessage():
                    reply = ResultMessage(rid, self.submit(msg.graph, now)).encode()
                    self.remember_submit(rid, reply)
                    return reply
                case QueryMessage():
                    return ResultMessage(rid, self.query(msg.what, msg.args, now)).encode()
                case EditMessage():
                    return ResultMessage(rid, self.edit(msg.action, msg.args, now)).encode()
        except CoreError as exc:
            return ErrorMessage(rid, error_code(exc), str(exc)).encode()
        except (KeyError, TypeError, ValueError) as exc:
            return ErrorMessage(rid, ErrorCode.INVALID, f"bad {msg.kind} arguments: {exc!r}").encode()
        return ErrorMessage(rid, ErrorCode.INVALID, f"{msg.kind} is not a client request").encode()

    def remember_submit(self, rid: str, reply: bytes) -> None:
        """Keep a SUBMIT's reply for a retry, forgetting the oldest beyond the count and bytes."""
        recent = self.recent_submits
        recent[rid] = reply
        self.recent_submits_bytes += len(reply)
        while len(recent) > RECENT_SUBMITS or self.recent_submits_bytes > RECENT_SUBMITS_BYTES:
            _, old = recent.popitem(last=False)
            self.recent_submits_bytes -= len(old)

    def submit(self, graph: dict[str, Any], now: float) -> dict[str, Any]:
        # Checked before it is journalled: a refused graph leaves no record (a record the core
        # refuses on every replay, or one too deep to pack, would only burden every successor).
        self.host.core.check_graph(graph)
        result = self.host.run(SubmitRecord(graph, now))
        log.info("graph %d %r submitted by %s: %d nodes", result.graph_id, graph.get("name"),
                 graph.get("user"), len(result.node_ids))
        return {
            "graph_id": result.graph_id,
            "node_ids": list(result.node_ids),
            "url": f"puli://{self.leader_name}/nodes/{result.graph_id}",
            "message": "Graph created. Created nodes: " + ",".join(str(i) for i in result.node_ids),
        }

    def query(self, what: str, args: dict[str, Any], now: float) -> Any:
        host = self.host
        return answer_query(what, QueryContext(host.core, args, now, host.stats, host.status_facts,
                                               self.members_data))

    def edit(self, action: str, args: dict[str, Any], now: float) -> dict[str, Any]:
        # Through the host: the edit is journalled and replayed by a successor. An unknown
        # or malformed edit is refused before it is journalled: replaying it would only fail again.
        check_edit(action, args)
        self.host.run(EditRecord(action, dict(args), now))
        return {"ok": True}

"""Client requests the coordinator answers: SUBMIT, QUERY and EDIT.

A SUBMIT and an EDIT become journal records run through the :class:`RequestHost` (the
service shell: it journals the record, applies it to the core and holds the reply until
the record is durable); a QUERY reads the core and what the host knows
(``client_queries``). Errors become ERROR replies with a stable ``code`` (an
``ErrorCode``: ``invalid``, ``not_found``, ``illegal``, ``refused``) and a message
that says what was wrong. A SUBMIT sent again by a client after a lost reply (same
``rid``), to this leader or a successor, is answered with the graph it created
(``SchedulingCore.submitted``, journalled with the graph) and journals nothing.

Not here: clocks (``now`` is an argument), sockets, holding replies until durable (the
shell).
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from puli_mesh.coordinator.client_queries import QueryContext, QueryViews, StatusFacts, answer_query
from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.coordinator.decisions import SubmitResult
from puli_mesh.coordinator.edit_actions import check_edit
from puli_mesh.coordinator.records import EditRecord, Record, Result, SubmitRecord, check_encodable
from puli_mesh.coordinator.stats import FarmStats
from puli_mesh.errors import (
    CoreError,
    IllegalTransitionError,
    InvalidGraphError,
    UnknownIdError,
    UnknownLicenceError,
    UnknownPoolError,
)
from puli_mesh.limits import MAX_RID_CHARS
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
        self.members_data: dict[str, dict[str, Any]] = {}
        """ZooKeeper's member data per node name, set by the agent (read by the status query)."""
        self.views = QueryViews()
        """Views kept between queries (the bounded status)."""

    def handle(self, msg: ClientRequest, now: float) -> bytes:
        """The reply to one client request (``now``: wall-clock seconds)."""
        rid = msg.rid
        if len(rid) > MAX_RID_CHARS:  # remembered with a graph (``submitted``): it must stay small
            return ErrorMessage(None, ErrorCode.INVALID, f"request id of {len(rid)} characters, above the "
                                f"limit of {MAX_RID_CHARS}").encode()
        try:
            match msg:
                case SubmitMessage():
                    return ResultMessage(rid, self.submit(msg.graph, now, rid)).encode()
                case QueryMessage():
                    return ResultMessage(rid, self.query(msg.what, msg.args, now)).encode()
                case EditMessage():
                    return ResultMessage(rid, self.edit(msg.action, msg.args, now)).encode()
        except CoreError as exc:
            return ErrorMessage(rid, error_code(exc), str(exc)).encode()
        except (KeyError, TypeError, ValueError) as exc:
            return ErrorMessage(rid, ErrorCode.INVALID, f"bad {msg.kind} arguments: {exc!r}").encode()
        return ErrorMessage(rid, ErrorCode.INVALID, f"{msg.kind} is not a client request").encode()

    def submit(self, graph: dict[str, Any], now: float, rid: str) -> dict[str, Any]:
        core = self.host.core
        result = core.submitted(rid)
        if result is not None:  # sent again: the graph exists (it may still be becoming durable)
            log.info("SUBMIT %s sent again: graph %d", rid, result.graph_id)
            return self.submit_reply(result)
        # Checked before it is journalled: a refused graph leaves no record (a record the core
        # refuses on every replay, or one too deep to pack, would only burden every successor).
        core.check_graph(graph)
        record = SubmitRecord(graph, now, rid)
        check_encodable(record)  # e.g. a key the schema does not know, nested too deep to pack
        result = self.host.run(record)
        log.info("graph %d %r submitted by %s: %d nodes", result.graph_id, graph.get("name"),
                 graph.get("user"), len(result.node_ids))
        return self.submit_reply(result)

    def submit_reply(self, result: SubmitResult) -> dict[str, Any]:
        return {
            "graph_id": result.graph_id,
            "node_ids": list(result.node_ids),
            "url": f"puli://{self.leader_name}/nodes/{result.graph_id}",
            "message": "Graph created. Created nodes: " + ",".join(str(i) for i in result.node_ids),
        }

    def query(self, what: str, args: dict[str, Any], now: float) -> Any:
        host = self.host
        return answer_query(what, QueryContext(host.core, args, now, host.stats, host.status_facts,
                                               self.members_data, self.views))

    def edit(self, action: str, args: dict[str, Any], now: float) -> dict[str, Any]:
        # Through the host: the edit is journalled and replayed by a successor. An unknown
        # or malformed edit is refused before it is journalled: replaying it would only fail again.
        check_edit(action, args)
        record = EditRecord(action, dict(args), now)
        check_encodable(record)  # e.g. an argument the edit ignores, nested too deep to pack
        self.host.run(record)
        return {"ok": True}

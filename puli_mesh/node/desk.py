"""The agent's ROUTER desk: reads what peers send, learns who sent it, checks they may, routes it.

Every message that reaches an agent's port comes through here: a client's request (answered by
the coordinator when this agent leads, else redirected), a worker's message (for the
coordinator), a request for a command's log (answered by the agent that ran it), a step-down.
On a secured mesh the sender is the key its connection proved (CURVE, checked by the ZAP
handler at the handshake) and is looked up again in the registry for every message, so a key
revoked while connected is refused from its next message on; what it asks is then checked
against :mod:`puli_mesh.access`. A client request from a node key (an agent's web server) that
carries a user's web token is that user's: the token is checked with the cluster's secret key
and its key looked up in the registry, and the name and role found there are checked (a node
key without a token is refused as before; a bad, expired or revoked token is ``forbidden``).
A SUBMIT's graph belongs to the requester's key name (an operator or admin may submit for the
user the graph names: the graph keeps who submitted it).

Guarantees: nothing a peer sends stops the loop (a failure while handling one message is
logged and answered ``internal``); a refused request gets an ERROR ``forbidden`` saying which
role it needs, and nothing of it is done; on an open (``--insecure``) mesh nobody is checked.

Not here: the rules of who may do what (``puli_mesh.access``), the keys (``node.security``),
what the coordinator does with a request (``coordinator/service.py``).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol, cast, get_args

import zmq
from kazoo.client import KazooClient

from puli_mesh import access, protocol
from puli_mesh.cluster_state import LeaderInfo
from puli_mesh.config import Settings
from puli_mesh.coordinator.edit_actions import COMMAND_EDITS
from puli_mesh.coordinator.service import CoordinatorService
from puli_mesh.errors import ProtocolError, TokenError
from puli_mesh.keys import KeyRecord
from puli_mesh.limits import ROUTER_BYTES_PER_TURN
from puli_mesh.node import logs, settings_requests, share_feed
from puli_mesh.node.security import AgentSecurity
from puli_mesh.node.worker import Worker
from puli_mesh.protocol import (
    ClientRequest,
    EditMessage,
    ErrorCode,
    ErrorMessage,
    LogsMessage,
    Message,
    RedirectMessage,
    ResultMessage,
    SettingsMessage,
    SubmitMessage,
    WorkerMessage,
)
from puli_mesh.roles import Role
from puli_mesh.zkpaths import ClusterPaths

log = logging.getLogger(__name__)

TOKEN_CARRIERS = frozenset(get_args(ClientRequest))
"""The message classes that may carry a user's web token (``puli_mesh.web.auth``)."""

SUBMITTED_BY = "submitted_by"
"""The key of a graph's ``meta`` (which no edit changes) naming who submitted it for its user."""


class Leadership(Protocol):
    """What the desk reads of its agent: who leads, and its coordinator while it leads."""

    service: CoordinatorService | None
    leader: LeaderInfo | None


def rid_of(msg: Message) -> str | None:
    """The request id to echo in an ERROR about ``msg``: the kinds that carry one (replies too)."""
    return getattr(msg, "rid", None)


class Desk:
    """Reads the agent's ROUTER each turn and hands every message to whom answers it."""

    def __init__(self, router: zmq.Socket[bytes], settings: Settings, security: AgentSecurity, worker: Worker,
                 agent: Leadership, step_down: Callable[[], None], zk: KazooClient) -> None:
        self.router = router
        self.zk = zk  # the cluster's settings requests write ZooKeeper (``node.settings_requests``)
        self.paths = ClusterPaths(settings.cluster)
        self.settings = settings
        self.security = security
        self.worker = worker
        self.agent = agent
        self.step_down = step_down

    def drain(self) -> None:
        """Read what waits, up to a byte budget (the rest next turn: ZeroMQ takes peers in turn)."""
        budget = ROUTER_BYTES_PER_TURN
        secured = self.security.secured
        for _ in range(1000):
            if budget <= 0:
                return
            requester: KeyRecord | None = None
            try:
                if secured:
                    parts = self.router.recv_multipart(zmq.NOBLOCK, copy=False)
                    requester = self.security.requester(parts[-1])
                    frames = [part.bytes for part in parts]
                else:
                    frames = self.router.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            budget -= sum(map(len, frames))
            if len(frames) != 2:
                log.warning("dropped a message with %d frames (expected identity + body)", len(frames))
                continue
            identity, body = frames
            try:
                msg = protocol.decode(body)
            except ProtocolError as exc:
                log.warning("bad message from %r: %s", identity[:32], exc)
                self.reply(identity, ErrorMessage(None, ErrorCode.PROTOCOL, str(exc)).encode())
                continue
            if secured and requester is None:
                log.warning("refused %s from a key that is no longer registered (revoked)", msg.kind)
                self.reply(identity, ErrorMessage(rid_of(msg), ErrorCode.FORBIDDEN,
                                                  "your key is not registered or was revoked; "
                                                  "ask an admin (`puli-mesh keys list`)").encode())
                continue
            if requester is not None and type(msg) in TOKEN_CARRIERS:  # a set lookup: cheap for a worker's
                requester = self._acting_for(identity, cast(ClientRequest, msg), requester)
                if requester is None:
                    continue
            try:
                self.route(identity, msg, requester)
            except Exception as exc:  # a bug must not take the agent (and its running commands) down
                log.exception("handling %s from %r failed", msg.kind, identity[:32])
                self.reply(identity, ErrorMessage(rid_of(msg), ErrorCode.INTERNAL,
                                                  f"internal error: {exc}").encode())

    def _acting_for(self, identity: bytes, msg: ClientRequest, requester: KeyRecord) -> KeyRecord | None:
        """Who ``msg`` is from: ``requester``, or for a request carrying a web token, the key the
        token was made with (an agent's web server acting for its user). A token is honoured from
        a node key only (a person's key acts as itself), and is checked against the registry as it
        is now; None when it was refused (the ERROR ``forbidden`` is sent)."""
        if msg.token is None:
            return requester
        try:
            if requester.role is not Role.NODE:
                raise TokenError("a web token is honoured only from an agent's web server (a node key); "
                                 "a person's key speaks for itself")
            holder, _claim = self.security.token_holder(msg.token, time.time())
        except TokenError as exc:
            log.warning("refused %s from %s carrying a web token: %s", msg.kind, requester.name, exc)
            self.reply(identity, ErrorMessage(msg.rid, ErrorCode.FORBIDDEN, f"web token refused: {exc}").encode())
            return None
        return holder

    def route(self, identity: bytes, msg: Message, requester: KeyRecord | None) -> None:
        """Answer ``msg`` from ``requester`` (None: an open mesh, nobody is checked)."""
        service = self.agent.service
        if isinstance(msg, LogsMessage):
            # The owner of a log is known for the commands this agent ran lately (``Worker.ran``);
            # an older log is served to operators and admins only (fail closed).
            owner = self.worker.ran_by.get(msg.command_id)
            if self._allowed(identity, msg, requester, access.LOGS, None, owner):
                self.reply(identity, logs.serve(self.settings, msg, self.worker.ran.get(msg.command_id)))
        elif isinstance(msg, ClientRequest):
            if isinstance(msg, EditMessage) and msg.action == "step_down" and service is not None:
                if self._allowed(identity, msg, requester, access.EDIT, msg.action, None):
                    self.reply(identity, ResultMessage(msg.rid, {"leader": self.settings.name}).encode())
                    self.step_down()
            elif isinstance(msg, SettingsMessage) and service is not None and service.dispatching:
                answer = settings_requests.answer(self.zk, self.paths, msg, requester, time.time())
                if msg.action in share_feed.SHARE_ACTIONS and isinstance(answer, ResultMessage):
                    share_feed.feed(self.zk, self.paths, service)  # in force before the client hears
                self.reply(identity, answer.encode())
            elif service is not None and service.dispatching:
                checked = self._checked_request(identity, msg, requester, service)
                if checked is not None:
                    service.on_client_request(identity, checked)
            elif (leader := self.agent.leader) is not None and leader.name != self.settings.name:
                self.reply(identity, RedirectMessage(msg.rid, leader.endpoint, leader.epoch).encode())
            else:
                self.reply(identity, ErrorMessage(
                    msg.rid, ErrorCode.NO_LEADER, "no coordinator is elected yet; retry in a moment").encode())
        elif isinstance(msg, WorkerMessage):
            if not self._allowed(identity, msg, requester, msg.kind, None, None):
                return
            if service is not None:
                service.on_worker_message(identity, msg)
            else:
                self.reply(identity, ErrorMessage(None, ErrorCode.NOT_LEADER, "this agent does not lead").encode())
        else:
            self.reply(identity, ErrorMessage(rid_of(msg), ErrorCode.INVALID,
                                              f"{msg.kind} is not a request").encode())

    def _checked_request(self, identity: bytes, msg: ClientRequest, requester: KeyRecord | None,
                         service: CoordinatorService) -> ClientRequest | None:
        """``msg`` as the coordinator must see it (a SUBMIT's user from the key), or None when
        it was refused (the ERROR is sent)."""
        if requester is None:
            return msg
        if isinstance(msg, SubmitMessage):
            return self._submit_as(identity, msg, requester)
        what = getattr(msg, "action", None) or getattr(msg, "what", None)
        owner = None
        if isinstance(msg, EditMessage):
            owner = self._owner(service, msg.action, msg.args)
        if not self._allowed(identity, msg, requester, msg.kind, what if isinstance(what, str) else "?", owner):
            return None
        return msg

    def _submit_as(self, identity: bytes, msg: SubmitMessage, requester: KeyRecord) -> SubmitMessage | None:
        """The SUBMIT with its graph's ``user`` set from the key. A ``user`` key submits as
        itself whatever the graph says (puliclient fills in the login, which is no proof); an
        operator or admin submits for the user the graph names, which the graph then keeps
        with who submitted it (``meta["submitted_by"]``)."""
        graph = msg.graph
        if not isinstance(graph, dict):
            return msg  # the service refuses it as invalid
        named = graph.get("user")
        user = requester.name
        if requester.role is not Role.USER and isinstance(named, str) and named:
            user = named
        if not self._allowed(identity, msg, requester, access.SUBMIT, None, user):
            return None
        graph = {**graph, "user": user}
        if user != requester.name:
            meta = graph.get("meta")
            graph["meta"] = {**(meta if isinstance(meta, dict) else {}), SUBMITTED_BY: requester.name}
            log.info("%s (role %s) submits a graph for user %r", requester.name, requester.role, user)
        return dataclasses.replace(msg, graph=graph)

    @staticmethod
    def _owner(service: CoordinatorService, action: str, args: Any) -> str | None:
        """The user of the job an edit is about (None: not about a job, or an unknown id)."""
        ident = args.get("id") if isinstance(args, dict) else None
        if isinstance(ident, bool) or not isinstance(ident, int):
            return None
        if action in COMMAND_EDITS:
            return service.core.owner(command_id=ident)
        return service.core.owner(node_id=ident)

    def _allowed(self, identity: bytes, msg: Message, requester: KeyRecord | None, kind: str,
                 what: str | None, owner: str | None) -> bool:
        """Whether ``requester`` may; if not, the ERROR ``forbidden`` is sent and logged."""
        if requester is None:
            return True
        if kind in (access.QUERY, access.EDIT) and not access.has_rule(kind, what):
            return True  # an unknown query or action: its handler refuses it as ``invalid``, to anyone
        decision = access.decide(requester.role, requester.name, kind, what, owner)
        if decision.allowed:
            return True
        log.warning("refused: %s", decision.message)
        self.reply(identity, ErrorMessage(rid_of(msg), ErrorCode.FORBIDDEN, decision.message).encode())
        return False

    def reply(self, identity: bytes, data: bytes) -> None:
        try:
            self.router.send_multipart([identity, data], zmq.NOBLOCK)
        except zmq.ZMQError as exc:
            log.debug("reply to %r lost: %s", identity[:32], exc)

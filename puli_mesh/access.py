"""Who may do what: the roles and THE one permission table of every request an agent answers.

A requester is a name and a :class:`Role`, both taken from its authenticated key (never from
a field of the request). :func:`decide` says whether that requester may make one request:

* ``user``: submit; every query; pause, resume, cancel, restart, set (timer, maxAttempt, ramUse,
  killOnRamOveruse, name...), tag, edit the environment and arguments of, archive **their own** jobs (and edit,
  set DONE... commands of them); read logs of their own jobs;
* ``operator`` (a wrangler): all of that on any job, for any user (a SUBMIT on behalf of
  another user), any log, giving a job to another user (``set_user``: an owner may not give a
  job away, since the job's user is whom its commands run as on the nodes and whose quota and
  access it counts against, which only a wrangler may decide), the render nodes (pause, drain,
  resume, clear a quarantine, set their pools or performance, remove one), and the licences
  and pools of the cluster;
* ``admin``: all of that, step-down, and the keys of the cluster (add, revoke, list);
* ``node``: the worker protocol only (HELLO, READY, UPDATE...); a node key cannot submit, query
  or edit, and no people's key may speak the worker protocol.

The table, :data:`PERMISSIONS`, is keyed by ``(request kind, action or query)``: every edit
action of ``edit_actions.EDIT_ACTIONS``, every query of ``client_queries.QUERIES``, ``SUBMIT``,
``LOGS``, the ``step_down`` edit, every ``SETTINGS`` action (:data:`SETTINGS_ROLES`) and every
worker message kind (``protocol.WorkerMessage``).
It is built from those tables, and ``tests/unit/test_access.py`` checks that nothing in them
lacks a rule; a request with no rule is refused (deny by default).

``owner`` is the user a request is about: the job's user for an edit of a job, a task or a
command, the job of the command for LOGS; for SUBMIT, the user the graph is submitted for (the
requester's own name when the graph names none). It is None when the request is not about one
job; for a rule that depends on the owner, an unknown owner grants a ``user`` nothing (fail
closed), so the shell resolves ids before it asks.

Guarantees: pure (no I/O, no clock), one dict lookup and a few comparisons per call, so it may
sit on the per-message path; every refusal's message names the request, the role it needs and
the requester's name and role.

Not here: authenticating anyone (CURVE and ZAP in the shells), the key registry
(``puli_mesh.keys``), resolving a job's owner from an id (the core), the wire error code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import get_args

from puli_mesh.coordinator.client_queries import QUERIES
from puli_mesh.coordinator.edit_actions import COMMAND_EDITS, EDIT_ACTIONS
from puli_mesh.errors import AccessError
from puli_mesh.protocol import (
    EditMessage,
    LogsMessage,
    QueryMessage,
    SettingsMessage,
    SubmitMessage,
    WorkerMessage,
)
from puli_mesh.roles import PEOPLE_RANK, Role


@dataclass(frozen=True, slots=True)
class Permission:
    """Who may make one kind of request.

    ``least``: the lowest role allowed at all (``Role.NODE`` for the worker protocol: that
    role alone). ``others``: when set, the request is about a job and a requester who does
    not own it needs this role instead (``operator`` for another user's job)."""

    least: Role
    others: Role | None = None


@dataclass(frozen=True, slots=True)
class AccessDecision:
    """The answer of :func:`decide`: allowed, or refused with ``needed`` and a message saying so."""

    allowed: bool
    needed: Role | None = None
    message: str = ""

    def check(self) -> None:
        """Raise :class:`~puli_mesh.errors.AccessError` (with this decision's message) if refused."""
        if not self.allowed:
            raise AccessError(self.message, self.needed)


ALLOWED = AccessDecision(True)

OWN_JOB_EDITS = frozenset({"pause", "resume", "cancel", "restart", "set", "tags", "environment", "arguments",
                           "archive"}) | COMMAND_EDITS
"""Edits of one job (a graph, a task group, a task, or one of its commands): its owner may."""

OPERATOR_JOB_EDITS = frozenset({"set_user"})
"""Edits of one job that its owner may not make: giving it to another user (module docstring)."""

RENDER_NODE_EDITS = frozenset({"node_pause", "node_drain", "node_resume", "clear_quarantine", "clear_node", "node_set",
                               "pool_set_nodes", "node_remove", "pool_shares",
                               "share_quotas"})
"""Edits of the render nodes and their pools (members, share trees, quotas): operators and admins only."""

ADMIN_EDITS = frozenset({"step_down"})
"""Edits of the cluster itself, handled by the agent before the service sees them: admins only."""

SUBMIT = SubmitMessage.kind
QUERY = QueryMessage.kind
EDIT = EditMessage.kind
LOGS = LogsMessage.kind
SETTINGS = SettingsMessage.kind
WORKER_KINDS = frozenset(cls.kind for cls in get_args(WorkerMessage))
"""Every kind a worker sends its coordinator: the ``node`` role's, and only its."""


SETTINGS_ROLES: dict[str, Role] = {
    "licence_set": Role.OPERATOR,
    "pool_define": Role.OPERATOR,
    "key_add": Role.ADMIN,
    "key_revoke": Role.ADMIN,
    "key_list": Role.ADMIN,
    "hook_add": Role.OPERATOR,
    "hook_remove": Role.OPERATOR,
    "hook_list": Role.USER,
    "share_set": Role.OPERATOR,
    "share_remove": Role.OPERATOR,
    "share_preempt": Role.OPERATOR,
    "share_quota": Role.OPERATOR,
}
"""Every action of a ``SETTINGS`` request and the least role it needs. What each action is (its
arguments, its checks) is ``puli_mesh.cluster_settings``, which reads its names here: it checks
keys, and ``puli_mesh.keys`` imports this module, so this module cannot import that one."""


COMMAND_HOOK_ROLE = Role.ADMIN
"""A hook with a command runs that program on the leader's host, as the agent's user (or
``nobody`` for a root agent): an admin's decision, like the keys. A URL-only hook is an
operator's (``hook_add`` above)."""


def decide_least(role: Role, name: str, request: str, least: Role) -> AccessDecision:
    """May ``name``, of ``role``, make ``request``, which needs at least ``least`` (a people's role)?
    For a request whose arguments ask for more than its action's rule (a hook's command)."""
    if role is Role.NODE or PEOPLE_RANK[role] < PEOPLE_RANK[least]:
        return _refused(least, request, name, role)
    return ALLOWED


def _edit_rule(action: str) -> Permission | None:
    """None for an action in no set above: left out of the table, so refused to everyone
    (the unit test names it), rather than an agent that fails to import."""
    if action in OWN_JOB_EDITS:
        return Permission(Role.USER, others=Role.OPERATOR)
    if action in RENDER_NODE_EDITS or action in OPERATOR_JOB_EDITS:
        return Permission(Role.OPERATOR)
    if action in ADMIN_EDITS:
        return Permission(Role.ADMIN)
    return None


def _table() -> dict[tuple[str, str], Permission]:
    table: dict[tuple[str, str], Permission] = {
        (SUBMIT, ""): Permission(Role.USER, others=Role.OPERATOR),
        (LOGS, ""): Permission(Role.USER, others=Role.OPERATOR),
    }
    for action in (*EDIT_ACTIONS, *ADMIN_EDITS):
        rule = _edit_rule(action)
        if rule is not None:
            table[(EDIT, action)] = rule
    for what in QUERIES:
        table[(QUERY, what)] = Permission(Role.USER)
    for action, least in SETTINGS_ROLES.items():
        table[(SETTINGS, action)] = Permission(least)
    for kind in WORKER_KINDS:
        table[(kind, "")] = Permission(Role.NODE)
    return table


PERMISSIONS: dict[tuple[str, str], Permission] = _table()
"""``(request kind, edit action, query name or settings action, "" for other kinds)`` -> who may."""


def has_rule(request_kind: str, action_or_query: str | None = None) -> bool:
    """Whether the table has a rule for this request: a request with none is an unknown action
    or query, which its handler refuses as ``invalid`` to anyone."""
    return (request_kind, action_or_query or "") in PERMISSIONS


def _what(request_kind: str, action_or_query: str) -> str:
    return f"{request_kind} {action_or_query!r}" if action_or_query else request_kind


def _refused(needed: Role, request: str, name: str, role: Role, why: str = "") -> AccessDecision:
    return AccessDecision(False, needed, f"{request} is not allowed for {name!r} (role {role}){why}: it needs "
                                         f"role {needed}; ask an admin for a key with that role")


def decide(role: Role, name: str, request_kind: str, action_or_query: str | None = None,
           owner: str | None = None) -> AccessDecision:
    """May ``name``, of ``role``, make this request (about a job of ``owner``; see the module
    docstring)? ``action_or_query`` is an EDIT's or a SETTINGS's action or a QUERY's ``what``,
    None otherwise."""
    key = action_or_query or ""
    rule = PERMISSIONS.get((request_kind, key))
    request = _what(request_kind, key)
    if rule is None:
        return AccessDecision(False, None, f"{request} is not a request any role may make")
    if rule.least is Role.NODE or role is Role.NODE:
        if rule.least is role:
            return ALLOWED
        if role is Role.NODE:
            return _refused(Role.USER, request, name, role, " (a node key speaks only the worker protocol)")
        return _refused(Role.NODE, request, name, role, " (the worker protocol is for render nodes' keys)")
    rank = PEOPLE_RANK[role]
    if rank < PEOPLE_RANK[rule.least]:
        return _refused(rule.least, request, name, role)
    if rule.others is not None and owner != name and rank < PEOPLE_RANK[rule.others]:
        whose = "of an unknown owner" if owner is None else f"of {owner!r}"
        return _refused(rule.others, f"{request} {whose}", name, role, ", who may act on their own jobs only")
    return ALLOWED

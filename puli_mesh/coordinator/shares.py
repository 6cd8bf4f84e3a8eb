"""Share trees: per pool, accounts pool -> project -> user with a guarantee, a cap and a weight.

A pool may have a share tree. A job belongs to one account of its pool: its project is its
``prod`` tag (as Puli wranglers set it), else its ``project`` tag, else ``-``; its user is
the job's user. Each account holds a guaranteed minimum of slots (``min``), a burst cap
(``max``, 0: none) and a ``weight`` (> 0). An account is defined for a project
(``POOL/PROJECT``) or for one user of a project (``POOL/PROJECT/USER``); a project or user
without a definition gets an implicit account (min 0, no cap, weight 1), so every job has
exactly one project account and one user account below it.

The rule (:func:`rank`), applied each time a node asks for work: among the accounts with
READY work this node can run, an account at its cap (its own or its project's) gets nothing;
then a project below its guarantee goes before one at or above it, then the project with the
least use per unit of weight; inside the chosen project, the same rule between its users;
inside a user account, the jobs' own order (``pools``: maxRN tier, dispatchKey fair share).
So free capacity goes to whoever has work (work conserving), and an account below its
guarantee gets the next free slot back. *Use* is the account's holding commands in the pool
(assigned, running, finishing, sent ahead), charged in ``assignment.reserve`` and given back
in ``lifecycle.release_run``; it is derived from the running commands, so a restored core
rebuilds it (:func:`ShareTree.bind` charges a job's holding commands when it is indexed).

Guarantees: pure (no I/O, no clock); a pool without a share tree is never looked at here
(one ``pool.shares is None`` check per pool in ``pick``); :func:`parse_accounts` refuses a
malformed definition with ``ValueError`` before it is journalled.

Known limits: commands sent ahead (``assignment.fill_ahead``) respect the caps but not the
order: a guarantee may wait for the few seconds of short work queued behind a borrower's slot.

A pool's tree may also *preempt* (:attr:`ShareTree.preempt_after`, off by default): then a
borrower's youngest commands older than that many seconds are killed and requeued to give an
account below its guarantee its slots back at once (``preemption``), instead of as commands end.

Not here: the preemption rule (``preemption``); quotas across pools; where the definitions are
kept (cluster settings in ZooKeeper, fed by the leader: ``node.share_feed``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from puli_mesh.limits import DEFAULT_GRAPH_LIMITS, INT64_MAX

NO_PROJECT = "-"
"""The project of a job with neither a ``prod`` nor a ``project`` tag."""

PROJECT_TAGS = ("prod", "project")
"""The tags that name a job's project, first found wins."""


@dataclass(frozen=True, slots=True)
class ShareSpec:
    """What an account is given: ``min`` slots guaranteed, at most ``max`` (0: no cap), ``weight``."""

    min: int = 0
    max: int = 0
    weight: float = 1.0


IMPLICIT = ShareSpec()


class ShareAccount:
    """One account's definition and its use (holding commands of its jobs in the pool)."""

    __slots__ = ("path", "spec", "use", "parent", "defined", "full", "above", "ratio", "queues", "mask",
                 "bit_users", "children")

    def __init__(self, path: tuple[str, ...], spec: ShareSpec, parent: ShareAccount | None,
                 defined: bool) -> None:
        self.path = path  # (project,) or (project, user)
        self.spec = spec
        self.use = 0
        self.parent = parent  # the project account of a user account
        self.defined = defined
        # Kept up to date by charge(): at its own cap; its key (at or above its guarantee, use
        # per weight), read by every pick (``assignment.ranked_queues``).
        self.full = False
        self.above = spec.min <= 0
        self.ratio = 0.0
        self.queues: list[Any] = []  # a user account's queues in its pool (SigQueue), one per signature
        # The signatures (``SigQueue.bit``) of which it has queued work (a project: its users
        # have), and for a project, per bit, how many of its users have: a pick passes over an
        # account without work the node fits in one test (``assignment.ranked_queues``).
        self.mask = 0
        self.bit_users: dict[int, int] = {}
        self.children: list[ShareAccount] = []  # a project's user accounts, in the order made
        if parent is not None:
            parent.children.append(self)

    @property
    def key(self) -> tuple[bool, float]:
        """(at or above its guarantee, use per weight): smaller goes first (:func:`rank`)."""
        return (self.above, self.ratio)

    def charge(self, n: int) -> None:
        """``n`` more (or fewer) holding commands, on this user account and its project's."""
        a: ShareAccount | None = self
        while a is not None:
            use = a.use = a.use + n
            spec = a.spec
            a.full = 0 < spec.max <= use
            a.above = use >= spec.min
            a.ratio = use / spec.weight
            a = a.parent

    def gained(self, bit: int) -> None:
        """This user account's queue of signature ``bit`` has queued work again (``pools``)."""
        self.mask |= bit
        p = self.parent
        n = p.bit_users.get(bit, 0)  # type: ignore[union-attr]  # a user account's
        p.bit_users[bit] = n + 1  # type: ignore[union-attr]
        if not n:
            p.mask |= bit  # type: ignore[union-attr]

    def lost(self, bit: int) -> None:
        """This user account's queue of signature ``bit`` has no queued work left (``pools``)."""
        self.mask &= ~bit
        p = self.parent
        n = p.bit_users[bit] - 1  # type: ignore[union-attr]  # a user account's
        p.bit_users[bit] = n  # type: ignore[union-attr]
        if not n:
            p.mask &= ~bit  # type: ignore[union-attr]

    def capped(self) -> bool:
        """At its cap or its project's: no more slots until a command ends."""
        return self.full or self.parent.full  # type: ignore[union-attr]  # a user account's


def rank(account: ShareAccount) -> tuple[tuple[bool, float], tuple[bool, float]]:
    """The order of a user account's work (smaller first): its project's key (at or above its
    guarantee, use per weight), then its own. Capping is :meth:`ShareAccount.capped`."""
    return (account.parent.key, account.key)  # type: ignore[union-attr]  # a user account's


def project_of(tags: dict[str, Any]) -> str:
    """A job's project from its (root's) tags: ``prod``, else ``project``, else ``-``."""
    for key in PROJECT_TAGS:
        value = tags.get(key)
        if isinstance(value, str) and value:
            return value
    return NO_PROJECT


class ShareTree:
    """The accounts of one pool: defined ones, and implicit ones made as jobs need them."""

    __slots__ = ("specs", "accounts", "projects", "preempt_after")

    def __init__(self, specs: dict[tuple[str, ...], ShareSpec], preempt_after: float | None = None) -> None:
        self.specs = dict(specs)  # defined accounts: path -> spec
        # None: no preemption; else the age (s) from which a borrower's command may be preempted
        self.preempt_after = preempt_after
        self.accounts: dict[tuple[str, ...], ShareAccount] = {}
        self.projects: list[ShareAccount] = []  # its project accounts, in the order made
        for path, spec in sorted(self.specs.items()):  # projects before their users
            if len(path) == 1:
                self.accounts[path] = proj = ShareAccount(path, spec, None, True)
                self.projects.append(proj)
        for path in sorted(self.specs):
            if len(path) == 2:
                self.account_for(path[0], path[1])

    def account_for(self, project: str, user: str) -> ShareAccount:
        """The user account a job of ``project`` by ``user`` is charged to (made if implicit)."""
        leaf = self.accounts.get((project, user))
        if leaf is not None:
            return leaf
        proj = self.accounts.get((project,))
        if proj is None:
            proj = self.accounts[(project,)] = ShareAccount((project,), IMPLICIT, None, False)
            self.projects.append(proj)
        spec = self.specs.get((project, user))
        leaf = self.accounts[(project, user)] = ShareAccount(
            (project, user), spec or IMPLICIT, proj, spec is not None)
        return leaf

    def bind(self, graph: Any) -> ShareAccount:
        """The account of ``graph`` (a ``GraphNode``), charged with its holding commands."""
        account = self.account_for(project_of(graph.tags), graph.user)
        account.charge(graph.running)
        return account

    def listing(self, graphs: Iterable[Any] = ()) -> list[dict[str, Any]]:
        """Every defined account and every account in use: path, guarantee, cap, weight, use, and
        ``ready``: the READY commands of its jobs among ``graphs`` (the pool's ``GraphNode``s)
        that are not paused -- the work waiting for a slot, counted here when asked rather than
        kept up to date on every decision."""
        ready: dict[tuple[str, ...], int] = {}
        for g in graphs:
            a = g.share
            if g.n_ready and a is not None and not g.paused:
                ready[a.path] = ready.get(a.path, 0) + g.n_ready
                ready[a.parent.path] = ready.get(a.parent.path, 0) + g.n_ready
        out = []
        for path, a in sorted(self.accounts.items()):
            if a.defined or a.use:
                s = a.spec
                out.append({"account": "/".join(path), "min": s.min, "max": s.max,
                            "weight": s.weight, "use": a.use, "ready": ready.get(path, 0),
                            "defined": a.defined, "preempt_after": self.preempt_after})
        return out


# ---------------------------------------------------------------- definitions
def check_path(path: Any) -> tuple[str, ...]:
    """``PROJECT`` or ``PROJECT/USER`` (a string or a list) as a tuple; else ``ValueError``."""
    parts = path.split("/") if isinstance(path, str) else path
    if not isinstance(parts, (list, tuple)) or not 1 <= len(parts) <= 2:
        raise ValueError(f"a share account is PROJECT or PROJECT/USER, got {str(path)[:60]!r}")
    limit = DEFAULT_GRAPH_LIMITS.name_length
    for part in parts:
        if not isinstance(part, str) or not part or len(part) > limit or "/" in part:
            raise ValueError(f"a share account's project and user are names of 1 to {limit} "
                             f"characters without '/', got {str(part)[:60]!r}")
    return tuple(parts)


def check_spec(min_slots: Any, max_slots: Any, weight: Any) -> ShareSpec:
    """A definition's figures, checked: whole ``min``/``max`` from 0, ``max`` 0 or at least
    ``min``, a finite ``weight`` above 0; else ``ValueError`` saying which."""
    values = []
    for what, value in (("min", min_slots), ("max", max_slots)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= INT64_MAX:
            raise ValueError(f"a share's {what} must be a whole number from 0 to {INT64_MAX}, got {value!r}")
        values.append(value)
    if 0 < values[1] < values[0]:
        raise ValueError(f"a share's max ({values[1]}) is below its min ({values[0]}); 0 means no cap")
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 < weight < math.inf:
        raise ValueError(f"a share's weight must be a number above 0, got {weight!r}")
    return ShareSpec(values[0], values[1], float(weight))


PREEMPT_AFTER_S = 60.0
"""The default age (s) before which a command is never preempted: a guard against churn."""

MAX_PREEMPT_AFTER_S = 7 * 86400.0
"""The longest ``preempt_after`` accepted (a week): a bound for hostile input."""


def check_preempt_after(value: Any) -> float | None:
    """A pool's ``preempt_after``: None (off) or seconds from 0 to a week; else ``ValueError``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_PREEMPT_AFTER_S:
        raise ValueError(f"a share tree's preempt_after is None (off) or seconds from 0 to "
                         f"{MAX_PREEMPT_AFTER_S:g}, got {str(value)[:60]!r}")
    return float(value)


MAX_ACCOUNTS = 10_000
"""Accounts one pool may define: a bound for hostile input, far above any studio's."""


def parse_accounts(rows: Any) -> dict[tuple[str, ...], ShareSpec]:
    """``[[account, min, max, weight], ...]`` (the journalled form) checked, as path -> spec."""
    if not isinstance(rows, list) or len(rows) > MAX_ACCOUNTS:
        raise ValueError(f"share accounts are a list of at most {MAX_ACCOUNTS} [account, min, max, weight]")
    out: dict[tuple[str, ...], ShareSpec] = {}
    for row in rows:
        if not isinstance(row, (list, tuple)) or len(row) != 4:
            raise ValueError(f"a share account is [account, min, max, weight], got {str(row)[:60]!r}")
        out[check_path(row[0])] = check_spec(row[1], row[2], row[3])
    return out


def account_rows(specs: dict[tuple[str, ...], ShareSpec]) -> list[list[Any]]:
    """The journalled (and snapshotted) form of a pool's definitions, sorted."""
    return [["/".join(p), s.min, s.max, s.weight] for p, s in sorted(specs.items())]

"""Share-tree preemption: a borrower's youngest commands give an account below its guarantee its slots.

A pool's share tree may preempt (``ShareTree.preempt_after`` is not None; off by default). Then,
after each event, an account of that pool that is below its guarantee, has READY work it may
take (not at its cap, licences free) and finds no room on any node of the pool that fits that
work, is given room by killing commands of *borrowers*:

* whom: when the waiting account's project is below its guarantee, the user accounts of the
  other projects above their guarantee, the most over it first (project use - min, then user
  use - min, then path); when only the user account is below its own guarantee, its project's
  other users above theirs;
* never below a borrower's own guarantee (user and project), never a command younger than
  ``preempt_after`` seconds (churn: it started when the slot was lent), never one that has a
  pipelined command waiting behind it (that one would take the slot);
* which: the youngest first (latest slot, then highest command id), on a node where the
  waiting work fits once that command is gone;
* for work that could take the slot: not at a quota across pools (``quotas``);
* how many: just enough: the waiting account's missing guarantee, at most its READY commands,
  less the room there already is; later rounds see the freed slots as room, so they never kill
  again for the same slot.

A preempted command is killed (a ``Kill`` decision) and requeued without spending an attempt
(``lifecycle.requeue``, as a killfile's or a pause's kill), with a message naming the account it
was preempted for. The waiting account then wins the freed slot when its node asks for work:
below its guarantee, it ranks first (``shares.rank``).

Determinism: everything read is the core's logical state and ``now``; the pools are looked at
once more in every journalled ``tick`` (``lifecycle.retries_due``), which the shell runs when
:func:`wake_at` says a borrower's command has grown old enough (``CoreShares.preempt_due``), so a
successor replaying the journal preempts the same commands at the same events.

Guarantees: pure (no I/O, no clock); a farm without a preempting pool pays one test per event
(``st.preempting`` in ``assignment.flush_waiting``).
Known limits: READY work is seen through the ready index (a task whose READY commands are all
held still counts as waiting); a command's room is judged by ``render_nodes.fits_signature``:
requirements, cores, reserved RAM and GPUs (not live free RAM, once a borrower's run is gone);
an account's READY demand is counted by job; a successor that restores a snapshot learns when to
wake again at its next event.
Not here: the ordering rule (``shares``), the definitions (``core_shares``).
"""

from __future__ import annotations

import logging
import math

from puli_mesh.coordinator import lifecycle, quotas
from puli_mesh.coordinator.pools import Pool, SigQueue, top
from puli_mesh.coordinator.render_nodes import fits_signature
from puli_mesh.coordinator.shares import ShareAccount, ShareTree
from puli_mesh.coordinator.state import CoreState
from puli_mesh.coordinator.tree import Running
from puli_mesh.hooks import COMMAND_PREEMPTED
from puliclient.status import NodeStatus

log = logging.getLogger(__name__)


def register(st: CoreState, pool: str, preempt_after: float | None) -> None:
    """``pool`` preempts from now on (``preempt_after`` seconds) or not (None)."""
    if preempt_after is None:
        st.preempting.pop(pool, None)
        st.preempt_wake.pop(pool, None)
    else:
        st.preempting[pool] = None
        st.dirty_pools[pool] = None  # looked at in this event already


def wake_at(st: CoreState) -> float:
    """When a preempting pool should be looked at again though nothing happens (inf: never)."""
    return min(st.preempt_wake.values()) if st.preempt_wake else math.inf


def preempt(st: CoreState, now: float) -> bool:
    """One round over the preempting pools; whether it killed anything."""
    killed = False
    for name in list(st.preempting):
        pool = st.pools.get(name)
        tree = pool.shares if pool is not None else None
        st.preempt_wake.pop(name, None)
        if pool is None or tree is None or tree.preempt_after is None:
            continue
        if preempt_pool(st, pool, tree, tree.preempt_after, now):
            killed = True
    return killed


def deficit(account: ShareAccount) -> tuple[int, bool]:
    """Slots ``account`` (a user account) misses to its guarantee, and whether they are its
    project's (then other projects lend them back) rather than its own (then its project's users)."""
    p = account.parent
    assert p is not None  # a user account's
    if p.use < p.spec.min:
        return p.spec.min - p.use, True
    return account.spec.min - account.use, False


def waiting(st: CoreState, pool: Pool) -> list[tuple[ShareAccount, SigQueue]]:
    """The accounts below their guarantee with READY work they may take, best ranked first, each
    with its best queue."""
    found: dict[tuple[str, ...], tuple[ShareAccount, SigQueue]] = {}
    for q in pool.queues.values():
        a = q.account
        if a is None or not q.heap or a.path in found or a.capped():
            continue
        if a.use >= a.spec.min and a.parent.use >= a.parent.spec.min:  # type: ignore[union-attr]
            continue
        if not st.licences.available(q.sig.licences):
            continue
        e = top(q)
        if e is not None and not (st.quotas and quotas.full(st, e[4].graph)):  # at its quota: no slot helps
            found[a.path] = (a, q)
    return sorted(found.values(), key=lambda aq: (aq[0].parent.key, aq[0].key, aq[0].path))  # type: ignore[union-attr]


def demand(account: ShareAccount, pool: Pool) -> int:
    """The READY commands of ``account``'s jobs (counted by job)."""
    graphs = {b.graph.id: b.graph.n_ready for q in pool.queues.values() if q.account is account
              for b in q.buckets.values()}
    return sum(graphs.values())


def lenders(tree: ShareTree, needy: ShareAccount, across: bool) -> list[ShareAccount]:
    """The user accounts that may lose a command to ``needy``: above their guarantee (and, across
    projects, in a project above its own), most over it first."""
    out = []
    project = needy.parent
    for a in tree.accounts.values():
        p = a.parent
        if p is None or a is needy or a.use <= a.spec.min:
            continue
        if across and (p is project or p.use <= p.spec.min):
            continue
        if not across and p is not project:
            continue
        out.append(a)
    return out


def over(a: ShareAccount) -> tuple[int, int, tuple[str, ...]]:
    """The order of lenders (smaller first): the most over its guarantee, project then user."""
    p = a.parent
    assert p is not None
    return (-(p.use - p.spec.min), -(a.use - a.spec.min), a.path)


def preempt_pool(st: CoreState, pool: Pool, tree: ShareTree, after: float, now: float) -> bool:
    """Give the accounts of ``pool`` waiting below their guarantee the slots lent to borrowers."""
    killed = False
    for needy, q in waiting(st, pool):
        missing, across = deficit(needy)
        sig = q.sig
        members = [pool.members[name] for name in sorted(pool.members)]  # sorted: the same order after a restore
        room = sum(1 for node in members if fits_signature(node, sig))
        need = min(missing, demand(needy, pool)) - room
        if need <= 0:
            continue
        accounts = lenders(tree, needy, across)
        if not accounts:
            continue
        held: dict[tuple[str, ...], list[Running]] = {a.path: [] for a in accounts}
        for node in members:
            for run in node.running.values():
                a = run.command.task.graph.share
                if (a is not None and a.path in held and held_by(tree, a) and not run.after
                        and run.command.id not in node.followers and fits_signature(node, sig, run)):
                    held[a.path].append(run)
        for runs in held.values():
            runs.sort(key=lambda r: (r.assigned_at, r.command.id))  # youngest last
        while need > 0:
            victim = None
            for a in sorted(accounts, key=over):
                if a.use <= a.spec.min or (across and a.parent.use <= a.parent.spec.min):  # type: ignore[union-attr]
                    continue
                runs = held[a.path]
                old = [r for r in runs if now - r.assigned_at >= after]
                if old:
                    victim = old[-1]
                    runs.remove(victim)
                    break
                if runs:
                    wake = runs[0].assigned_at + after
                    st.preempt_wake[pool.name] = min(st.preempt_wake.get(pool.name, wake), wake)
            if victim is None:
                break
            kill(st, victim, f"{pool.name}/{'/'.join(needy.path[:1] if across else needy.path)}", now)
            killed = True
            need -= 1
    return killed


def held_by(tree: ShareTree, account: ShareAccount) -> bool:
    """Whether ``account`` is the tree's own account of its path (a run's job may be charged to
    the tree of another pool when the job's pool and the node's pools differ)."""
    return tree.accounts.get(account.path) is account


def kill(st: CoreState, run: Running, account: str, now: float) -> None:
    """Preempt ``run``'s command for ``account``: killed, requeued, no attempt spent."""
    cmd = run.command
    log.info("command %d on %s preempted for share account %s", cmd.id, run.node.name, account)
    lifecycle.kill_decision(st, cmd, f"preempted for share account {account}")
    lifecycle.requeue(st, cmd, now)
    cmd.message = f"preempted for share account {account} (requeued, no attempt spent)"
    g = cmd.task.graph  # a hook may tell the job's owner why a frame restarted (``hooks``)
    st.events.add(COMMAND_PREEMPTED, now, job_id=g.id, job_name=g.name, user=g.user, pool=g.pool,
                  status=NodeStatus(g.status).name, command_id=cmd.id, attempt=cmd.attempts,
                  message=cmd.message, node=run.node.name)

"""The agent's role in its cluster (following, leading, handing over, stopping) as one pure state machine.

Rules of this module:

* Everything that decides the agent's role lives here: the states, the events that move it, the
  actions it asks for, the timers and their reasons. ``agent.py`` only feeds events in (from
  ZooKeeper, the election, its sockets, timers and signals) and carries the actions out.
* No I/O and no clock: ``AgentRole.handle(event, now)`` takes the loop's monotonic time as an
  argument, so every transition is tested in microseconds (``tests/unit/node/test_role.py``).
* The transitions are data: ``TRANSITIONS[state][type(event)]`` gives the next state and the
  actions, in the order the loop must carry them out. ``IGNORED[state]`` lists the events a state
  drops on purpose, each with its reason. Any other pair is a bug in the loop feeding the machine:
  ``handle`` raises ``RoleTransitionError`` (the loop logs it and goes on).
* Four rules apply on entering a state, whatever the event (like h11's state-triggered
  transitions): entering a handover starts its deadline (``HANDOVER_DRAIN_S``); entering a
  stopping state from a running one starts the grace period; entering ``REJOINING`` sets when to
  contend again (the transition's ``rejoin_after``); entering ``LEADING`` while ZooKeeper is
  suspended keeps the new coordinator from dispatching.
* ``Tick`` (fed every loop turn) is not in the table: it fires the timers that are due, in this
  order, each as its own event through the table: ``SuspensionTimedOut``, ``HandoverTimedOut``,
  ``RejoinDue``, ``GracePeriodOver``.

Two facts are orthogonal to the state and kept beside it: whether the ZooKeeper session is
connected (``connected``; a rejoin waits for it) and since when it is suspended
(``suspended_since``; a suspended leader stops dispatching at once and steps down after
``SUSPENDED_STEP_DOWN_FRACTION`` of the session timeout). Stopping is not orthogonal: a stopping
agent's own states (``TAKING_OVER_TO_STOP``, ``HANDING_OVER_TO_STOP``, ``STOPPING``) say it, so the
table never needs a flag to choose where a transition goes.

The states, and the usual way through them::

    FOLLOWING --Elected--> TAKING_OVER --TakeoverDone--> LEADING --StepDownAsked--> HANDING_OVER
        ^                       |                           |                            |
        |                TakeoverFailed        Lost, fenced, leader znode lost,    JournalDrained,
        |                       v              suspended too long                 HandoverTimedOut
        +---Connected, RejoinDue--- REJOINING <-------------+----------------------------+

    any running state --Shutdown--> its stopping twin (STOPPING, TAKING_OVER_TO_STOP,
    HANDING_OVER_TO_STOP) --WorkerIdle (once out of leadership) or a second Shutdown--> STOPPED

Guarantees: a stopping agent never rejoins the election and resigns any election it wins; a leader
that may have been replaced (ZooKeeper suspended, its leader znode gone, its journal fenced, its
session lost) stops dispatching before anything else; every timer is a named constant below.

Not here: what the actions do (``agent.py``: ZooKeeper, sockets, the coordinator service, the
worker), which agent is the leader (the leader znode, followed by the worker), membership data.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import get_args

from puli_mesh.errors import PuliMeshError

# ---------------------------------------------------------------------------------------- timers
SUSPENDED_STEP_DOWN_FRACTION = 0.5
"""A leader whose ZooKeeper connection is suspended stops dispatching at once (ZooKeeper may
already have elected another). If the suspension outlasts this fraction of the session timeout,
it stops being the coordinator: ZooKeeper expires a session after the full timeout and another
agent takes over then, so a leader cut off this long most likely has a successor by the time it is
back; it rejoins as a follower rather than wait on a state a successor replaces."""

HANDOVER_DRAIN_S = 5.0
"""A planned handover waits this long for the journal's gathered records and batches in flight to
be stored before resigning. A healthy ZooKeeper stores a batch in milliseconds; past this it is in
trouble, and the successor replays whatever was stored (nothing unstored was acted on)."""

REJOIN_AFTER_HANDOVER_S = 1.0
"""After handing over, wait this long before contending again: the next contender in line takes the
lock meanwhile (this agent's new election node then queues behind it), and an agent alone in its
cluster takes the lead back only after this pause rather than at once."""

REJOIN_AFTER_FAILED_TAKEOVER_S = 2.0
"""A takeover that failed (ZooKeeper flapping, an unreadable snapshot) would likely fail again at
once: wait this long, so another agent tries first and a failing one does not spin."""

RETRY_REJOIN_S = 2.0
"""Registering and joining the election failed (ZooKeeper answered with an error): try again after
this rather than on every loop turn."""

KILL_AGAIN_S = 5.0
"""Once the grace period is over, the running commands are killed, and killed again every this many
seconds while any still runs: a kill escalates to SIGKILL well within it."""


class RoleTransitionError(PuliMeshError):
    """An event reached a state that neither handles nor ignores it: the loop fed it by mistake."""


# ---------------------------------------------------------------------------------------- states
class RoleState(enum.Enum):
    FOLLOWING = "following"
    """In the election (contending), not leading; the worker follows whoever leads."""
    REJOINING = "rejoining"
    """Out of the election after leading or failing to; contends again once ZooKeeper is connected
    and ``rejoin_at`` has passed (a reconnection rejoins at once)."""
    TAKING_OVER = "taking over"
    """Elected: taking a new epoch, replaying the journal, publishing the leader znode."""
    LEADING = "leading"
    """The coordinator runs; it dispatches unless ZooKeeper is suspended."""
    HANDING_OVER = "handing over"
    """Planned step-down: not dispatching, the journal drains, then it resigns."""
    TAKING_OVER_TO_STOP = "taking over, then stopping"
    """Signalled while taking over: hands over as soon as the takeover ends."""
    HANDING_OVER_TO_STOP = "handing over, then stopping"
    """Signalled while leading or handing over: hands over, then stops."""
    STOPPING = "stopping"
    """Signalled: takes no new work, never leads; exits once no command runs. It may still be in the
    election (a follower is not taken out of it), and resigns any election it wins."""
    STOPPED = "stopped"
    """The loop exits."""


HANDING_OVER_STATES = frozenset({RoleState.HANDING_OVER, RoleState.HANDING_OVER_TO_STOP})
LEADERSHIP_STATES = frozenset({RoleState.LEADING, *HANDING_OVER_STATES})
"""States in which this agent's coordinator exists (and may be suspended, fenced or deposed)."""
STOPPING_STATES = frozenset({RoleState.TAKING_OVER_TO_STOP, RoleState.HANDING_OVER_TO_STOP, RoleState.STOPPING})
"""States of a signalled agent whose grace period runs."""


# ---------------------------------------------------------------------------------------- events
@dataclass(frozen=True, slots=True)
class Suspended:
    """ZooKeeper connection SUSPENDED: the session may still be alive, or expiring."""


@dataclass(frozen=True, slots=True)
class Connected:
    """ZooKeeper connection CONNECTED (again): the session survived, or a new one began after LOST."""


@dataclass(frozen=True, slots=True)
class Lost:
    """ZooKeeper session LOST: its ephemeral znodes (member, election, leader) are gone."""


@dataclass(frozen=True, slots=True)
class Elected:
    """The election recipe says this agent holds the lock."""


@dataclass(frozen=True, slots=True)
class ElectionFailed:
    """The election recipe ended with an error (session loss while contending, or releasing the lock
    after a resignation failed)."""


@dataclass(frozen=True, slots=True)
class TakeoverDone:
    """Answer to ``TakeOver``: the coordinator runs and the leader znode is published."""


@dataclass(frozen=True, slots=True)
class TakeoverFailed:
    """Answer to ``TakeOver``: it raised (the loop logged why)."""


@dataclass(frozen=True, slots=True)
class LeaderZnodeOwned:
    """Answer to ``CheckLeaderZnode``: the leader znode exists and this session owns it."""


@dataclass(frozen=True, slots=True)
class LeaderZnodeLost:
    """Answer to ``CheckLeaderZnode``: the leader znode is gone or another session's (or the check
    itself failed: a leader that cannot prove it leads must not go on)."""


@dataclass(frozen=True, slots=True)
class JournalFenced:
    """A journal write was refused because a newer epoch exists: another agent leads."""


@dataclass(frozen=True, slots=True)
class StepDownAsked:
    """An operator asked the coordinator to hand over (``puli-mesh step-down``)."""


@dataclass(frozen=True, slots=True)
class JournalDrained:
    """While handing over: the journal has nothing gathered and nothing in flight."""


@dataclass(frozen=True, slots=True)
class Shutdown:
    """SIGTERM or SIGINT. The first one stops the agent gracefully; a second one stops it now."""


@dataclass(frozen=True, slots=True)
class WorkerIdle:
    """While stopping: the worker runs no command."""


@dataclass(frozen=True, slots=True)
class RejoinFailed:
    """Answer to ``Rejoin``: registering or joining the election raised (the loop logged why)."""


@dataclass(frozen=True, slots=True)
class Tick:
    """A loop turn: fires the timers that are due (see the module docstring)."""


@dataclass(frozen=True, slots=True)
class SuspensionTimedOut:
    """Timer (from ``Tick``): leading while suspended for too long (``SUSPENDED_STEP_DOWN_FRACTION``)."""


@dataclass(frozen=True, slots=True)
class HandoverTimedOut:
    """Timer (from ``Tick``): the handover's journal did not drain within ``HANDOVER_DRAIN_S``."""


@dataclass(frozen=True, slots=True)
class RejoinDue:
    """Timer (from ``Tick``): rejoining, connected, and the rejoin delay has passed."""


@dataclass(frozen=True, slots=True)
class GracePeriodOver:
    """Timer (from ``Tick``): stopping, and the grace period (or the last kill's wait) is over."""


Event = (Suspended | Connected | Lost | Elected | ElectionFailed | TakeoverDone | TakeoverFailed
         | LeaderZnodeOwned | LeaderZnodeLost | JournalFenced | StepDownAsked | JournalDrained | Shutdown
         | WorkerIdle | RejoinFailed | Tick | SuspensionTimedOut | HandoverTimedOut | RejoinDue | GracePeriodOver)


# --------------------------------------------------------------------------------------- actions
@dataclass(frozen=True, slots=True)
class TakeOver:
    """Take a new epoch, rebuild the core from the journal, start the coordinator on the ROUTER,
    publish the leader znode; then feed ``TakeoverDone`` or ``TakeoverFailed``."""


@dataclass(frozen=True, slots=True)
class AbandonTakeover:
    """Drop whatever a failed or interrupted takeover built (a coordinator not yet published)."""


@dataclass(frozen=True, slots=True)
class StopDispatching:
    """Self-fencing: the coordinator keeps its state but makes no decision and writes nothing new."""


@dataclass(frozen=True, slots=True)
class ResumeDispatching:
    """The coordinator may dispatch again."""


@dataclass(frozen=True, slots=True)
class CheckLeaderZnode:
    """Read the leader znode; feed ``LeaderZnodeOwned`` or ``LeaderZnodeLost``."""


@dataclass(frozen=True, slots=True)
class BeginHandover:
    """Log why, and stop dispatching: from now on only the journal's pending writes go out."""

    reason: str


@dataclass(frozen=True, slots=True)
class EndHandover:
    """The handover is over: drop the coordinator (its journal is stored as far as it could be)."""


@dataclass(frozen=True, slots=True)
class StepDown:
    """Drop the coordinator at once, without waiting for its journal; log why."""

    reason: str


@dataclass(frozen=True, slots=True)
class DeleteLeaderZnode:
    """Delete the leader znode, so followers see the change now rather than at session expiry."""


@dataclass(frozen=True, slots=True)
class Resign:
    """Leave the election (release the lock, or stop contending)."""


@dataclass(frozen=True, slots=True)
class Rejoin:
    """Register the member znode again and join the election; feed ``RejoinFailed`` if it raises."""


@dataclass(frozen=True, slots=True)
class StopAccepting:
    """The worker takes no new work and tells the coordinator so; what runs goes on."""


@dataclass(frozen=True, slots=True)
class KillCommands:
    """Kill every running command (the grace period is over)."""


@dataclass(frozen=True, slots=True)
class Exit:
    """Leave the loop (the agent then kills what still runs, and closes its session)."""

    reason: str


Action = (TakeOver | AbandonTakeover | StopDispatching | ResumeDispatching | CheckLeaderZnode | BeginHandover
          | EndHandover | StepDown | DeleteLeaderZnode | Resign | Rejoin | StopAccepting | KillCommands | Exit)


# ------------------------------------------------------------------------------------ the table
@dataclass(frozen=True, slots=True)
class Transition:
    target: RoleState
    actions: tuple[Action, ...] = ()
    rejoin_after: float = 0.0
    """Only for a target ``REJOINING``: seconds before contending again (once connected)."""


S = RoleState
_lost = StepDown("ZooKeeper session lost")
_fenced = StepDown("a newer leader fenced our journal writes")
_znode_lost = StepDown("lost the leader znode")
_too_long = StepDown("ZooKeeper unreachable for more than half the session timeout")
_asked = BeginHandover("asked by an operator")
_stopping = BeginHandover("this agent is stopping")
_handed_over = (EndHandover(), DeleteLeaderZnode(), Resign())
_second_signal = Exit("a second signal: stopping now, without waiting for running commands")

TRANSITIONS: dict[RoleState, dict[type, Transition]] = {
    S.FOLLOWING: {
        Suspended: Transition(S.FOLLOWING),
        Connected: Transition(S.FOLLOWING),
        Lost: Transition(S.REJOINING),  # the recipe is gone with the session: contend again once connected
        Elected: Transition(S.TAKING_OVER, (TakeOver(),)),
        ElectionFailed: Transition(S.REJOINING),
        RejoinFailed: Transition(S.REJOINING, rejoin_after=RETRY_REJOIN_S),
        Shutdown: Transition(S.STOPPING, (StopAccepting(),)),
    },
    S.REJOINING: {
        Suspended: Transition(S.REJOINING),
        Connected: Transition(S.FOLLOWING, (Rejoin(),)),  # a reconnection does not wait for the delay
        RejoinDue: Transition(S.FOLLOWING, (Rejoin(),)),
        # A late answer of a recipe thought gone: the lock is ours, so lead rather than hold it idle.
        Elected: Transition(S.TAKING_OVER, (TakeOver(),)),
        Shutdown: Transition(S.STOPPING, (StopAccepting(),)),
    },
    S.TAKING_OVER: {
        Suspended: Transition(S.TAKING_OVER),  # noted: entering LEADING will not dispatch (entry rule)
        Connected: Transition(S.TAKING_OVER),
        TakeoverDone: Transition(S.LEADING),
        TakeoverFailed: Transition(S.REJOINING, (AbandonTakeover(), Resign()),
                                   rejoin_after=REJOIN_AFTER_FAILED_TAKEOVER_S),
        Lost: Transition(S.REJOINING, (AbandonTakeover(), Resign())),
        Shutdown: Transition(S.TAKING_OVER_TO_STOP, (StopAccepting(),)),
    },
    S.TAKING_OVER_TO_STOP: {
        Suspended: Transition(S.TAKING_OVER_TO_STOP),
        Connected: Transition(S.TAKING_OVER_TO_STOP),
        TakeoverDone: Transition(S.HANDING_OVER_TO_STOP, (_stopping,)),
        TakeoverFailed: Transition(S.STOPPING, (AbandonTakeover(), Resign())),
        Lost: Transition(S.STOPPING, (AbandonTakeover(), Resign())),
        GracePeriodOver: Transition(S.TAKING_OVER_TO_STOP, (KillCommands(),)),
        Shutdown: Transition(S.STOPPED, (_second_signal,)),
    },
    S.LEADING: {
        Suspended: Transition(S.LEADING, (StopDispatching(),)),  # self-fencing: another may lead already
        Connected: Transition(S.LEADING, (CheckLeaderZnode(),)),
        LeaderZnodeOwned: Transition(S.LEADING, (ResumeDispatching(),)),
        LeaderZnodeLost: Transition(S.REJOINING, (_znode_lost, Resign())),
        SuspensionTimedOut: Transition(S.REJOINING, (_too_long, Resign())),
        Lost: Transition(S.REJOINING, (_lost, Resign())),
        JournalFenced: Transition(S.REJOINING, (_fenced, Resign())),
        StepDownAsked: Transition(S.HANDING_OVER, (_asked,)),
        Shutdown: Transition(S.HANDING_OVER_TO_STOP, (StopAccepting(), _stopping)),
    },
    S.HANDING_OVER: {
        Suspended: Transition(S.HANDING_OVER),  # not dispatching already; the suspension timer runs
        Connected: Transition(S.HANDING_OVER, (CheckLeaderZnode(),)),
        LeaderZnodeOwned: Transition(S.HANDING_OVER),  # still ours: drain on, dispatching stays off
        LeaderZnodeLost: Transition(S.REJOINING, (_znode_lost, Resign())),
        SuspensionTimedOut: Transition(S.REJOINING, (_too_long, Resign())),
        Lost: Transition(S.REJOINING, (_lost, Resign())),
        JournalFenced: Transition(S.REJOINING, (_fenced, Resign())),
        JournalDrained: Transition(S.REJOINING, _handed_over, rejoin_after=REJOIN_AFTER_HANDOVER_S),
        HandoverTimedOut: Transition(S.REJOINING, _handed_over, rejoin_after=REJOIN_AFTER_HANDOVER_S),
        Shutdown: Transition(S.HANDING_OVER_TO_STOP, (StopAccepting(),)),  # the deadline stays
    },
    S.HANDING_OVER_TO_STOP: {
        Suspended: Transition(S.HANDING_OVER_TO_STOP),
        Connected: Transition(S.HANDING_OVER_TO_STOP, (CheckLeaderZnode(),)),
        LeaderZnodeOwned: Transition(S.HANDING_OVER_TO_STOP),
        LeaderZnodeLost: Transition(S.STOPPING, (_znode_lost, Resign())),
        SuspensionTimedOut: Transition(S.STOPPING, (_too_long, Resign())),
        Lost: Transition(S.STOPPING, (_lost, Resign())),
        JournalFenced: Transition(S.STOPPING, (_fenced, Resign())),
        JournalDrained: Transition(S.STOPPING, _handed_over),
        HandoverTimedOut: Transition(S.STOPPING, _handed_over),
        GracePeriodOver: Transition(S.HANDING_OVER_TO_STOP, (KillCommands(),)),
        Shutdown: Transition(S.STOPPED, (_second_signal,)),
    },
    S.STOPPING: {
        Elected: Transition(S.STOPPING, (Resign(),)),  # a stopping agent never leads
        WorkerIdle: Transition(S.STOPPED, (Exit("no command left running"),)),
        GracePeriodOver: Transition(S.STOPPING, (KillCommands(),)),
        Shutdown: Transition(S.STOPPED, (_second_signal,)),
    },
    S.STOPPED: {},
}

_RUNNING_ZK = frozenset({Suspended, Connected, Lost})
IGNORED: dict[RoleState, frozenset[type]] = {
    # Never fed outside a handover or a stop; a timer that is not due does not fire.
    S.FOLLOWING: frozenset({JournalDrained, WorkerIdle}),
    # Already out of the election: a loss or a failed release changes nothing; the rejoin waits.
    S.REJOINING: frozenset({Lost, ElectionFailed, JournalDrained, WorkerIdle}),
    # The lock is held: the recipe reports a failure only after a resignation.
    S.TAKING_OVER: frozenset({ElectionFailed, JournalDrained, WorkerIdle}),
    S.TAKING_OVER_TO_STOP: frozenset({ElectionFailed, JournalDrained, WorkerIdle}),
    S.LEADING: frozenset({ElectionFailed, JournalDrained, WorkerIdle}),
    # Asked twice: the handover under way is the answer. Idle workers wait for the handover's end.
    S.HANDING_OVER: frozenset({ElectionFailed, StepDownAsked, WorkerIdle}),
    S.HANDING_OVER_TO_STOP: frozenset({ElectionFailed, StepDownAsked, WorkerIdle}),
    # A stopping agent does not rejoin, whatever ZooKeeper does.
    S.STOPPING: _RUNNING_ZK | {ElectionFailed, JournalDrained},
    # The loop is exiting: events drained in the same turn change nothing.
    S.STOPPED: frozenset(get_args(Event)),
}


# ---------------------------------------------------------------------------------- the machine
@dataclass(slots=True)
class AgentRole:
    """The role of one agent: ``handle(event, now)`` moves it and returns the actions to carry out."""

    session_timeout: float
    grace_period: float
    state: RoleState = RoleState.FOLLOWING  # the agent registers and joins the election before its loop
    connected: bool = True  # ``Agent.start`` returns connected
    suspended_since: float | None = None
    handover_deadline: float | None = None
    rejoin_at: float = 0.0
    kill_at: float | None = None

    def handle(self, event: Event, now: float) -> list[Action]:
        """Apply one event at time ``now`` (monotonic seconds); return the actions, in order."""
        if isinstance(event, Tick):
            return self._fire_timers(now)
        self._note_connection(event, now)
        return self._apply(event, now)

    def _note_connection(self, event: Event, now: float) -> None:
        if isinstance(event, Suspended):
            self.connected = False
            self.suspended_since = now
        elif isinstance(event, Connected):
            self.connected = True
            self.suspended_since = None
        elif isinstance(event, Lost):
            self.connected = False
            self.suspended_since = None  # no session left to lose: leadership ends with this event

    def _apply(self, event: Event, now: float) -> list[Action]:
        source = self.state
        transition = TRANSITIONS[source].get(type(event))
        if transition is None:
            if type(event) in IGNORED[source]:
                return []
            raise RoleTransitionError(f"{type(event).__name__} is not expected while {source.value}")
        target = transition.target
        self.state = target
        actions = list(transition.actions)
        # Entry rules (see the module docstring).
        if target in HANDING_OVER_STATES and source not in HANDING_OVER_STATES:
            self.handover_deadline = now + HANDOVER_DRAIN_S
        elif target not in HANDING_OVER_STATES:
            self.handover_deadline = None
        if target in STOPPING_STATES and source not in STOPPING_STATES:
            self.kill_at = now + self.grace_period
        if target is S.REJOINING and source is not S.REJOINING:
            self.rejoin_at = now + transition.rejoin_after
        if target is S.LEADING and source is not S.LEADING and self.suspended_since is not None:
            actions.append(StopDispatching())
        return actions

    def _fire_timers(self, now: float) -> list[Action]:
        actions: list[Action] = []
        if (self.state in LEADERSHIP_STATES and self.suspended_since is not None
                and now - self.suspended_since > self.session_timeout * SUSPENDED_STEP_DOWN_FRACTION):
            actions += self._apply(SuspensionTimedOut(), now)
        if self.state in HANDING_OVER_STATES and self.handover_deadline is not None and now >= self.handover_deadline:
            actions += self._apply(HandoverTimedOut(), now)
        if self.state is S.REJOINING and self.connected and now >= self.rejoin_at:
            actions += self._apply(RejoinDue(), now)
        if self.state in STOPPING_STATES and self.kill_at is not None and now >= self.kill_at:
            self.kill_at = now + KILL_AGAIN_S
            actions += self._apply(GracePeriodOver(), now)
        return actions

"""The agent's role machine: every transition of its table, its timers and the odd sequences.

Pure: no ZooKeeper, no sockets, no clock (time is the ``now`` argument).
"""

from __future__ import annotations

from typing import get_args

import pytest

from puli_mesh.node.role import (
    HANDOVER_DRAIN_S,
    IGNORED,
    KILL_AGAIN_S,
    REJOIN_AFTER_FAILED_TAKEOVER_S,
    REJOIN_AFTER_HANDOVER_S,
    RETRY_REJOIN_S,
    TRANSITIONS,
    AbandonTakeover,
    Action,
    AgentRole,
    BeginHandover,
    CheckLeaderZnode,
    Connected,
    DeleteLeaderZnode,
    Elected,
    ElectionFailed,
    EndHandover,
    Event,
    Exit,
    GracePeriodOver,
    HandoverTimedOut,
    JournalDrained,
    JournalFenced,
    KillCommands,
    LeaderZnodeLost,
    LeaderZnodeOwned,
    Lost,
    Rejoin,
    RejoinDue,
    RejoinFailed,
    Resign,
    ResumeDispatching,
    RoleState,
    RoleTransitionError,
    Shutdown,
    StepDown,
    StepDownAsked,
    StopAccepting,
    StopDispatching,
    Suspended,
    SuspensionTimedOut,
    TakeOver,
    TakeoverDone,
    TakeoverFailed,
    Tick,
    WorkerIdle,
)

S = RoleState
SESSION = 10.0
GRACE = 30.0

LOST = StepDown("ZooKeeper session lost")
FENCED = StepDown("a newer leader fenced our journal writes")
ZNODE_LOST = StepDown("lost the leader znode")
TOO_LONG = StepDown("ZooKeeper unreachable for more than half the session timeout")
ASKED = BeginHandover("asked by an operator")
STOPPING = BeginHandover("this agent is stopping")
HANDED_OVER = [EndHandover(), DeleteLeaderZnode(), Resign()]
SECOND = Exit("a second signal: stopping now, without waiting for running commands")
IDLE = Exit("no command left running")


def role(state: RoleState = S.FOLLOWING) -> AgentRole:
    return AgentRole(session_timeout=SESSION, grace_period=GRACE, state=state)


# Every cell of the table, written out again by hand: (state, event, next state, actions).
CASES: list[tuple[RoleState, Event, RoleState, list[Action]]] = [
    (S.FOLLOWING, Suspended(), S.FOLLOWING, []),
    (S.FOLLOWING, Connected(), S.FOLLOWING, []),
    (S.FOLLOWING, Lost(), S.REJOINING, []),
    (S.FOLLOWING, Elected(), S.TAKING_OVER, [TakeOver()]),
    (S.FOLLOWING, ElectionFailed(), S.REJOINING, []),
    (S.FOLLOWING, RejoinFailed(), S.REJOINING, []),
    (S.FOLLOWING, Shutdown(), S.STOPPING, [StopAccepting()]),
    (S.REJOINING, Suspended(), S.REJOINING, []),
    (S.REJOINING, Connected(), S.FOLLOWING, [Rejoin()]),
    (S.REJOINING, RejoinDue(), S.FOLLOWING, [Rejoin()]),
    (S.REJOINING, Elected(), S.TAKING_OVER, [TakeOver()]),
    (S.REJOINING, Shutdown(), S.STOPPING, [StopAccepting()]),
    (S.TAKING_OVER, Suspended(), S.TAKING_OVER, []),
    (S.TAKING_OVER, Connected(), S.TAKING_OVER, []),
    (S.TAKING_OVER, TakeoverDone(), S.LEADING, []),
    (S.TAKING_OVER, TakeoverFailed(), S.REJOINING, [AbandonTakeover(), Resign()]),
    (S.TAKING_OVER, Lost(), S.REJOINING, [AbandonTakeover(), Resign()]),
    (S.TAKING_OVER, Shutdown(), S.TAKING_OVER_TO_STOP, [StopAccepting()]),
    (S.TAKING_OVER_TO_STOP, Suspended(), S.TAKING_OVER_TO_STOP, []),
    (S.TAKING_OVER_TO_STOP, Connected(), S.TAKING_OVER_TO_STOP, []),
    (S.TAKING_OVER_TO_STOP, TakeoverDone(), S.HANDING_OVER_TO_STOP, [STOPPING]),
    (S.TAKING_OVER_TO_STOP, TakeoverFailed(), S.STOPPING, [AbandonTakeover(), Resign()]),
    (S.TAKING_OVER_TO_STOP, Lost(), S.STOPPING, [AbandonTakeover(), Resign()]),
    (S.TAKING_OVER_TO_STOP, GracePeriodOver(), S.TAKING_OVER_TO_STOP, [KillCommands()]),
    (S.TAKING_OVER_TO_STOP, Shutdown(), S.STOPPED, [SECOND]),
    (S.LEADING, Suspended(), S.LEADING, [StopDispatching()]),
    (S.LEADING, Connected(), S.LEADING, [CheckLeaderZnode()]),
    (S.LEADING, LeaderZnodeOwned(), S.LEADING, [ResumeDispatching()]),
    (S.LEADING, LeaderZnodeLost(), S.REJOINING, [ZNODE_LOST, Resign()]),
    (S.LEADING, SuspensionTimedOut(), S.REJOINING, [TOO_LONG, Resign()]),
    (S.LEADING, Lost(), S.REJOINING, [LOST, Resign()]),
    (S.LEADING, JournalFenced(), S.REJOINING, [FENCED, Resign()]),
    (S.LEADING, StepDownAsked(), S.HANDING_OVER, [ASKED]),
    (S.LEADING, Shutdown(), S.HANDING_OVER_TO_STOP, [StopAccepting(), STOPPING]),
    (S.HANDING_OVER, Suspended(), S.HANDING_OVER, []),
    (S.HANDING_OVER, Connected(), S.HANDING_OVER, [CheckLeaderZnode()]),
    (S.HANDING_OVER, LeaderZnodeOwned(), S.HANDING_OVER, []),
    (S.HANDING_OVER, LeaderZnodeLost(), S.REJOINING, [ZNODE_LOST, Resign()]),
    (S.HANDING_OVER, SuspensionTimedOut(), S.REJOINING, [TOO_LONG, Resign()]),
    (S.HANDING_OVER, Lost(), S.REJOINING, [LOST, Resign()]),
    (S.HANDING_OVER, JournalFenced(), S.REJOINING, [FENCED, Resign()]),
    (S.HANDING_OVER, JournalDrained(), S.REJOINING, HANDED_OVER),
    (S.HANDING_OVER, HandoverTimedOut(), S.REJOINING, HANDED_OVER),
    (S.HANDING_OVER, Shutdown(), S.HANDING_OVER_TO_STOP, [StopAccepting()]),
    (S.HANDING_OVER_TO_STOP, Suspended(), S.HANDING_OVER_TO_STOP, []),
    (S.HANDING_OVER_TO_STOP, Connected(), S.HANDING_OVER_TO_STOP, [CheckLeaderZnode()]),
    (S.HANDING_OVER_TO_STOP, LeaderZnodeOwned(), S.HANDING_OVER_TO_STOP, []),
    (S.HANDING_OVER_TO_STOP, LeaderZnodeLost(), S.STOPPING, [ZNODE_LOST, Resign()]),
    (S.HANDING_OVER_TO_STOP, SuspensionTimedOut(), S.STOPPING, [TOO_LONG, Resign()]),
    (S.HANDING_OVER_TO_STOP, Lost(), S.STOPPING, [LOST, Resign()]),
    (S.HANDING_OVER_TO_STOP, JournalFenced(), S.STOPPING, [FENCED, Resign()]),
    (S.HANDING_OVER_TO_STOP, JournalDrained(), S.STOPPING, HANDED_OVER),
    (S.HANDING_OVER_TO_STOP, HandoverTimedOut(), S.STOPPING, HANDED_OVER),
    (S.HANDING_OVER_TO_STOP, GracePeriodOver(), S.HANDING_OVER_TO_STOP, [KillCommands()]),
    (S.HANDING_OVER_TO_STOP, Shutdown(), S.STOPPED, [SECOND]),
    (S.STOPPING, Elected(), S.STOPPING, [Resign()]),
    (S.STOPPING, WorkerIdle(), S.STOPPED, [IDLE]),
    (S.STOPPING, GracePeriodOver(), S.STOPPING, [KillCommands()]),
    (S.STOPPING, Shutdown(), S.STOPPED, [SECOND]),
]


def test_the_cases_cover_every_cell_of_the_table() -> None:
    table = {(state, kind) for state, row in TRANSITIONS.items() for kind in row}
    cases = [(state, type(event)) for state, event, _, _ in CASES]
    assert len(cases) == len(set(cases))
    assert set(cases) == table


@pytest.mark.parametrize(("state", "event", "target", "actions"), CASES,
                         ids=[f"{s.name}-{type(e).__name__}" for s, e, _, _ in CASES])
def test_transition(state: RoleState, event: Event, target: RoleState, actions: list[Action]) -> None:
    machine = role(state)
    assert machine.handle(event, 100.0) == actions
    assert machine.state is target


ALL_EVENTS = [kind for kind in get_args(Event) if kind is not Tick]


@pytest.mark.parametrize("state", list(RoleState), ids=lambda s: s.name)
def test_every_other_event_is_ignored_on_purpose_or_an_error(state: RoleState) -> None:
    assert not set(TRANSITIONS[state]) & IGNORED[state]
    for kind in ALL_EVENTS:
        if kind in TRANSITIONS[state]:
            continue
        machine = role(state)
        if kind in IGNORED[state]:
            assert machine.handle(kind(), 100.0) == []
            assert machine.state is state
        else:
            with pytest.raises(RoleTransitionError):
                machine.handle(kind(), 100.0)


def test_a_bug_in_the_loop_is_an_error_naming_the_event_and_state() -> None:
    with pytest.raises(RoleTransitionError, match="TakeoverDone is not expected while following"):
        role().handle(TakeoverDone(), 0.0)


def test_a_tick_with_nothing_due_does_nothing_in_any_state() -> None:
    for state in RoleState:
        machine = AgentRole(session_timeout=SESSION, grace_period=GRACE, state=state, rejoin_at=50.0,
                            handover_deadline=50.0, kill_at=50.0)
        assert machine.handle(Tick(), 10.0) == []
        assert machine.state is state


# ----------------------------------------------------------------------- the usual way through
def lead(now: float = 0.0) -> AgentRole:
    machine = role()
    assert machine.handle(Elected(), now) == [TakeOver()]
    assert machine.handle(TakeoverDone(), now) == []
    assert machine.state is S.LEADING
    return machine


def test_planned_step_down_drains_then_rejoins_after_its_delay() -> None:
    machine = lead()
    assert machine.handle(StepDownAsked(), 10.0) == [ASKED]
    assert machine.handle(StepDownAsked(), 10.1) == []  # asked again while handing over: nothing new
    assert machine.handle(Tick(), 10.2) == []
    assert machine.handle(JournalDrained(), 10.3) == HANDED_OVER
    assert machine.state is S.REJOINING
    assert machine.handle(Tick(), 10.3 + REJOIN_AFTER_HANDOVER_S - 0.01) == []
    assert machine.handle(Tick(), 10.3 + REJOIN_AFTER_HANDOVER_S) == [Rejoin()]
    assert machine.state is S.FOLLOWING
    assert machine.handle(Tick(), 20.0) == []


def test_a_handover_whose_journal_does_not_drain_ends_at_its_deadline() -> None:
    machine = lead()
    machine.handle(StepDownAsked(), 10.0)
    assert machine.handle(Tick(), 10.0 + HANDOVER_DRAIN_S - 0.01) == []
    assert machine.handle(Tick(), 10.0 + HANDOVER_DRAIN_S) == HANDED_OVER
    assert machine.state is S.REJOINING


def test_leading_again_after_a_handover_starts_a_fresh_handover_deadline() -> None:
    machine = lead()
    machine.handle(StepDownAsked(), 0.0)
    machine.handle(Lost(), 1.0)  # the handover ends abruptly: its deadline must not survive
    machine.handle(Connected(), 2.0)
    machine.handle(Elected(), 3.0)
    machine.handle(TakeoverDone(), 3.0)
    assert machine.handle(Tick(), 100.0) == []  # leading, not handing over
    assert machine.handle(StepDownAsked(), 100.0) == [ASKED]
    assert machine.handle(Tick(), 104.0) == []
    assert machine.handle(Tick(), 100.0 + HANDOVER_DRAIN_S) == HANDED_OVER


# ---------------------------------------------------------------------- ZooKeeper while leading
def test_suspended_leader_stops_dispatching_and_resumes_if_the_leader_znode_is_still_its_own() -> None:
    machine = lead()
    assert machine.handle(Suspended(), 1.0) == [StopDispatching()]
    assert machine.handle(Tick(), 1.0 + SESSION / 2) == []  # exactly half: not yet
    assert machine.handle(Connected(), 6.5) == [CheckLeaderZnode()]
    assert machine.handle(LeaderZnodeOwned(), 6.5) == [ResumeDispatching()]
    assert machine.state is S.LEADING
    assert machine.handle(Tick(), 100.0) == []  # the suspension is over: no timeout later


def test_suspended_leader_steps_down_if_the_leader_znode_is_gone_on_reconnection() -> None:
    machine = lead()
    machine.handle(Suspended(), 1.0)
    assert machine.handle(Connected(), 2.0) == [CheckLeaderZnode()]
    assert machine.handle(LeaderZnodeLost(), 2.0) == [ZNODE_LOST, Resign()]
    assert machine.state is S.REJOINING
    assert machine.handle(Tick(), 2.0) == [Rejoin()]  # connected, no delay after being deposed


def test_suspended_then_lost_leader_steps_down_and_rejoins_only_once_connected() -> None:
    machine = lead()
    machine.handle(Suspended(), 1.0)
    assert machine.handle(Lost(), 3.0) == [LOST, Resign()]
    assert machine.state is S.REJOINING
    assert machine.handle(Tick(), 60.0) == []  # no session: no rejoin, however long
    assert machine.handle(Connected(), 61.0) == [Rejoin()]
    assert machine.state is S.FOLLOWING


def test_a_leader_suspended_longer_than_half_the_session_timeout_steps_down() -> None:
    machine = lead()
    machine.handle(Suspended(), 1.0)
    assert machine.handle(Tick(), 1.0 + SESSION / 2 + 0.01) == [TOO_LONG, Resign()]
    assert machine.state is S.REJOINING
    assert machine.handle(Tick(), 30.0) == []  # still suspended: rejoining waits for the connection
    assert machine.handle(Connected(), 31.0) == [Rejoin()]


def test_suspension_while_handing_over_keeps_dispatching_off_and_still_times_out() -> None:
    machine = lead()
    machine.handle(StepDownAsked(), 0.0)
    assert machine.handle(Suspended(), 1.0) == []
    assert machine.handle(Connected(), 2.0) == [CheckLeaderZnode()]
    assert machine.handle(LeaderZnodeOwned(), 2.0) == []  # no ResumeDispatching in a handover
    assert machine.state is S.HANDING_OVER
    machine.handle(Suspended(), 2.5)
    assert machine.handle(Tick(), 2.5 + SESSION / 2 + 0.01) == [TOO_LONG, Resign()]


def test_takeover_done_while_suspended_does_not_dispatch() -> None:
    machine = role()
    machine.handle(Elected(), 0.0)
    assert machine.handle(Suspended(), 0.5) == []
    assert machine.handle(TakeoverDone(), 1.0) == [StopDispatching()]
    assert machine.state is S.LEADING
    assert machine.handle(Connected(), 2.0) == [CheckLeaderZnode()]


def test_losing_the_session_or_the_journal_while_handing_over_steps_down_at_once() -> None:
    for event, step_down in ((Lost(), LOST), (JournalFenced(), FENCED), (LeaderZnodeLost(), ZNODE_LOST)):
        machine = lead()
        machine.handle(StepDownAsked(), 0.0)
        assert machine.handle(event, 1.0) == [step_down, Resign()]
        assert machine.state is S.REJOINING
        assert machine.handle(Tick(), 1.0 + HANDOVER_DRAIN_S) == ([] if isinstance(event, Lost) else [Rejoin()])


def test_the_election_recipe_failing_during_a_handover_does_not_stop_it() -> None:
    machine = lead()
    machine.handle(StepDownAsked(), 0.0)
    assert machine.handle(ElectionFailed(), 1.0) == []
    assert machine.state is S.HANDING_OVER
    assert machine.handle(JournalDrained(), 1.5) == HANDED_OVER


def test_a_fenced_journal_makes_the_leader_step_down_and_contend_again() -> None:
    machine = lead()
    assert machine.handle(JournalFenced(), 5.0) == [FENCED, Resign()]
    assert machine.handle(Tick(), 5.0) == [Rejoin()]
    assert machine.state is S.FOLLOWING


# --------------------------------------------------------------------------- election troubles
def test_a_failed_takeover_resigns_and_rejoins_after_its_delay() -> None:
    machine = role()
    machine.handle(Elected(), 10.0)
    assert machine.handle(TakeoverFailed(), 10.0) == [AbandonTakeover(), Resign()]
    assert machine.handle(Tick(), 10.0 + REJOIN_AFTER_FAILED_TAKEOVER_S - 0.01) == []
    assert machine.handle(Tick(), 10.0 + REJOIN_AFTER_FAILED_TAKEOVER_S) == [Rejoin()]


def test_a_reconnection_rejoins_without_waiting_for_the_delay() -> None:
    machine = role()
    machine.handle(Elected(), 10.0)
    machine.handle(TakeoverFailed(), 10.0)
    machine.handle(Suspended(), 10.1)
    assert machine.handle(Connected(), 10.2) == [Rejoin()]


def test_a_failed_election_or_rejoin_contends_again() -> None:
    machine = role()
    assert machine.handle(ElectionFailed(), 1.0) == []
    assert machine.handle(Tick(), 1.0) == [Rejoin()]
    assert machine.handle(RejoinFailed(), 1.0) == []
    assert machine.handle(Tick(), 1.0 + RETRY_REJOIN_S - 0.01) == []
    assert machine.handle(Tick(), 1.0 + RETRY_REJOIN_S) == [Rejoin()]


def test_a_follower_whose_session_is_lost_rejoins_once_connected() -> None:
    machine = role()
    machine.handle(Suspended(), 1.0)
    assert machine.handle(Lost(), 2.0) == []
    assert machine.handle(ElectionFailed(), 2.0) == []  # the recipe ends with the session: already known
    assert machine.handle(Tick(), 30.0) == []
    assert machine.handle(Connected(), 31.0) == [Rejoin()]


# ------------------------------------------------------------------------------------- stopping
def test_sigterm_while_taking_over_hands_over_as_soon_as_the_takeover_ends() -> None:
    machine = role()
    machine.handle(Elected(), 0.0)
    assert machine.handle(Shutdown(), 0.1) == [StopAccepting()]
    assert machine.handle(TakeoverDone(), 0.5) == [STOPPING]
    assert machine.state is S.HANDING_OVER_TO_STOP
    assert machine.handle(WorkerIdle(), 0.6) == []  # leadership first
    assert machine.handle(Tick(), 0.5 + HANDOVER_DRAIN_S) == HANDED_OVER
    assert machine.state is S.STOPPING
    assert machine.handle(Connected(), 6.0) == []  # never rejoins
    assert machine.handle(WorkerIdle(), 6.0) == [IDLE]
    assert machine.state is S.STOPPED


def test_sigterm_while_taking_over_then_failing_stops_without_rejoining() -> None:
    machine = role()
    machine.handle(Elected(), 0.0)
    machine.handle(Shutdown(), 0.1)
    assert machine.handle(TakeoverFailed(), 0.2) == [AbandonTakeover(), Resign()]
    assert machine.state is S.STOPPING
    assert machine.handle(Tick(), 10.0) == []


def test_sigterm_to_the_leader_hands_over_then_waits_for_running_commands() -> None:
    machine = lead()
    assert machine.handle(Shutdown(), 1.0) == [StopAccepting(), STOPPING]
    assert machine.handle(StepDownAsked(), 1.1) == []
    assert machine.handle(JournalDrained(), 1.2) == HANDED_OVER
    assert machine.handle(Tick(), 1.2 + REJOIN_AFTER_HANDOVER_S) == []  # no rejoin while stopping
    assert machine.handle(WorkerIdle(), 2.5) == [IDLE]


def test_sigterm_while_handing_over_keeps_the_handover_deadline() -> None:
    machine = lead()
    machine.handle(StepDownAsked(), 0.0)
    assert machine.handle(Shutdown(), 3.0) == [StopAccepting()]
    assert machine.handle(Tick(), HANDOVER_DRAIN_S) == HANDED_OVER
    assert machine.state is S.STOPPING


def test_a_second_signal_stops_at_once_and_nothing_moves_after() -> None:
    machine = role()
    assert machine.handle(Shutdown(), 0.0) == [StopAccepting()]
    assert machine.handle(Shutdown(), 0.5) == [SECOND]
    assert machine.state is S.STOPPED
    for event in (Shutdown(), Elected(), Connected(), WorkerIdle(), JournalFenced(), Tick()):
        assert machine.handle(event, 100.0) == []
    assert machine.state is S.STOPPED


def test_a_stopping_follower_resigns_an_election_it_wins() -> None:
    machine = role()
    machine.handle(Shutdown(), 0.0)
    assert machine.handle(Elected(), 1.0) == [Resign()]
    assert machine.state is S.STOPPING


def test_the_grace_period_kills_running_commands_then_kills_again_until_they_end() -> None:
    machine = role()
    machine.handle(Shutdown(), 0.0)
    assert machine.handle(Tick(), GRACE - 0.01) == []
    assert machine.handle(Tick(), GRACE) == [KillCommands()]
    assert machine.handle(Tick(), GRACE + KILL_AGAIN_S - 0.01) == []
    assert machine.handle(Tick(), GRACE + KILL_AGAIN_S) == [KillCommands()]
    assert machine.handle(WorkerIdle(), GRACE + KILL_AGAIN_S + 1) == [IDLE]


def test_the_grace_period_runs_from_the_first_signal_through_a_handover() -> None:
    machine = lead()
    machine.handle(Shutdown(), 0.0)  # grace starts here, not when leadership ends
    machine.handle(Suspended(), 1.0)
    # One tick, two timers due: the suspension's step-down first, then the kill.
    assert machine.handle(Tick(), GRACE) == [TOO_LONG, Resign(), KillCommands()]
    assert machine.state is S.STOPPING


@pytest.mark.parametrize("state", list(RoleState), ids=lambda s: s.name)
def test_every_timer_that_can_fire_in_a_state_is_in_its_row(state: RoleState) -> None:
    # Everything due at once: whatever fires must be handled, never an error.
    machine = AgentRole(session_timeout=SESSION, grace_period=GRACE, state=state, suspended_since=0.0,
                        handover_deadline=0.0, rejoin_at=0.0, kill_at=0.0)
    machine.handle(Tick(), 1000.0)
    machine.handle(Tick(), 2000.0)

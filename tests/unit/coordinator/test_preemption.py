"""Share-tree preemption (``coordinator.preemption``): who is killed, when, how many, and replay."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from puli_mesh import hooks
from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.coordinator.decisions import Assign, Kill
from puli_mesh.coordinator.edit_actions import check_edit
from puli_mesh.coordinator.records import EditRecord, ReadyRecord, SubmitRecord, TickRecord, decisions_of, replay
from puli_mesh.coordinator.shares import ShareSpec
from puliclient.status import CommandStatus
from tests.unit.coordinator.graphs import assigns, graph, group, rn, task

READY = CommandStatus.READY.value
DONE = CommandStatus.DONE.value


def job(project: str, n: int, user: str = "alice") -> dict[str, Any]:
    return graph([group("root", [1], tags={"prod": project}), task("t", n)], user=user, name=f"{project}-{user}")


def kills(decisions: list[Any]) -> list[Kill]:
    return [d for d in decisions if isinstance(d, Kill)]


def use(core: SchedulingCore) -> dict[str, int]:
    return {r["account"]: r["use"] for r in core.share_use()}


def borrowed(specs: dict[tuple[str, ...], ShareSpec], after: float | None = 60.0,
             times: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0)) -> tuple[SchedulingCore, dict[str, Assign]]:
    """Four one-slot nodes all running project ``rnd``'s commands (node i's from ``times[i]``)."""
    core = SchedulingCore()
    for i in range(4):
        core.node_joined(rn(f"rn{i}"), 0.0)
    core.set_shares("default", specs, 0.0, preempt_after=after)
    core.submit_graph(job("rnd", 10), 0.0)
    running = {}
    for i, t in enumerate(times):
        (a,) = assigns(core.request_work(f"rn{i}", 1, t))
        running[a.node] = a
    return core, running


def test_a_waiting_guarantee_kills_the_youngest_borrowed_commands_once_old_enough() -> None:
    core, running = borrowed({("show",): ShareSpec(1, 0, 1.0)}, times=(1.0, 10.0, 30.0, 20.0))
    (k,) = kills(core.submit_graph(job("show", 5), 95.0).decisions)
    assert (k.node, k.command_id) == ("rn2", running["rn2"].command_id)  # the youngest: 30 s
    assert k.reason == "preempted for share account default/show"
    cmd = core.command(k.command_id)
    assert cmd["status"] == READY and cmd["attempts"] == 0  # requeued: no attempt spent
    assert "preempted for share account default/show" in cmd["message"]
    assert use(core)["rnd"] == 3
    (a,) = assigns(core.request_work("rn2", 1, 91.0))  # the freed slot goes to the guarantee
    assert a.graph_id != running["rn0"].graph_id and use(core)["show"] == 1
    assert not kills(core.tick(200.0))  # guarantee met: nothing more


def test_a_preempted_command_is_a_hook_event_naming_the_job_the_node_and_the_account() -> None:
    core, running = borrowed({("show",): ShareSpec(1, 0, 1.0)}, times=(1.0, 10.0, 30.0, 20.0))
    before = core.hook_events.last_seq
    (k,) = kills(core.submit_graph(job("show", 5), 95.0).decisions)
    (event,) = core.hook_events.after(before)
    assert (event.kind, event.command_id, event.node, event.user) == (
        hooks.COMMAND_PREEMPTED, k.command_id, "rn2", "alice")
    assert event.job_id == running["rn2"].graph_id and event.time == 95.0
    assert event.message == "preempted for share account default/show (requeued, no attempt spent)"
    assert hooks.COMMAND_PREEMPTED in hooks.JOB_EVENTS  # a hook may filter it by user or pool


def test_no_command_is_preempted_before_its_minimum_age_and_a_tick_comes_when_one_reaches_it() -> None:
    core, running = borrowed({("show",): ShareSpec(1, 0, 1.0)}, times=(1.0, 10.0, 30.0, 20.0))
    assert not kills(core.submit_graph(job("show", 5), 40.0).decisions)  # the oldest is 39 s old
    assert not core.tick_due(60.9) and core.tick_due(61.0)  # the shell journals a tick then
    (k,) = kills(core.tick(61.0))
    assert k.node == "rn0"  # the only one old enough


def test_just_enough_is_killed_and_never_below_the_borrowers_own_guarantee() -> None:
    core, _ = borrowed({("show",): ShareSpec(3, 0, 1.0), ("rnd",): ShareSpec(2, 0, 1.0)})
    core.submit_graph(job("show", 5), 70.0)  # old enough at once
    assert len(kills(core.tick(71.0))) == 0  # the submission did it already: two, not three
    assert use(core)["rnd"] == 2


def test_the_kill_count_is_the_missing_guarantee_capped_by_the_demand() -> None:
    core, _ = borrowed({("show",): ShareSpec(3, 0, 1.0)})
    assert len(kills(core.submit_graph(job("show", 2), 70.0).decisions)) == 2  # two READY commands
    assert len(kills(core.tick(80.0))) == 0  # the freed slots are room now: no second round


def test_no_preemption_when_off_when_young_or_when_a_node_has_room() -> None:
    core, _ = borrowed({("show",): ShareSpec(2, 0, 1.0)}, after=None)  # off: the default
    assert not kills(core.submit_graph(job("show", 5), 500.0).decisions) and not core.tick_due(10_000.0)
    core, _ = borrowed({("show",): ShareSpec(2, 0, 1.0)})
    assert not kills(core.submit_graph(job("show", 5), 59.0).decisions)  # younger than 60 s
    core = SchedulingCore()
    for i in range(3):
        core.node_joined(rn(f"rn{i}"), 0.0)
    core.set_shares("default", {("show",): ShareSpec(2, 0, 1.0)}, 0.0, preempt_after=0.0)
    core.submit_graph(job("rnd", 10), 0.0)
    core.request_work("rn0", 1, 1.0)
    core.request_work("rn1", 1, 1.0)
    assert len(kills(core.submit_graph(job("show", 5), 100.0).decisions)) == 1  # rn2 is free: one kill


def test_a_guarantee_whose_user_is_at_its_quota_preempts_nobody() -> None:
    for user, killed in (("bob", 0), ("carl", 2)):  # bob is at his quota, carl has none
        core, _ = borrowed({("show",): ShareSpec(2, 0, 1.0)})
        core.define_pool("side")
        core.node_joined(rn("rn4", pools=["side"]), 50.0)
        core.set_quotas({("user", "bob"): 1}, 50.0)
        core.submit_graph(job("misc", 1, user="bob") | {"poolName": "side"}, 50.0)
        assert len(assigns(core.request_work("rn4", 1, 51.0))) == 1
        assert len(kills(core.submit_graph(job("show", 5, user=user), 100.0).decisions)) == killed


def test_a_user_below_its_guarantee_takes_from_its_projects_other_users_only() -> None:
    core, _ = borrowed({("film",): ShareSpec(0, 0, 1.0), ("film", "ana"): ShareSpec(2, 0, 1.0)})
    core.submit_graph(job("film", 8, user="bob"), 0.0)  # film/bob: nothing running, not over
    assert not kills(core.submit_graph(job("film", 5, user="ana"), 100.0).decisions)  # rnd is another project
    core, _ = borrowed({("rnd",): ShareSpec(0, 0, 1.0), ("rnd", "ana"): ShareSpec(2, 0, 1.0)})
    assert len(kills(core.submit_graph(job("rnd", 5, user="ana"), 100.0).decisions)) == 2


def test_the_setting_is_checked_journalled_and_survives_a_snapshot() -> None:
    check_edit("pool_shares", {"pool": "default", "accounts": [["a", 1, 0, 1]], "preempt_after": 60})
    for bad in (-1, "60", True, float("inf"), 10**9):
        try:
            check_edit("pool_shares", {"pool": "default", "accounts": [["a", 1, 0, 1]], "preempt_after": bad})
        except ValueError:
            continue
        raise AssertionError(bad)
    core, _ = borrowed({("show",): ShareSpec(1, 0, 1.0)})
    restored = SchedulingCore.restore(core.snapshot())
    assert restored.share_preempt() == {"default": 60.0}
    assert {r["preempt_after"] for r in restored.share_use()} == {60.0}
    assert len(kills(restored.submit_graph(job("show", 5), 100.0).decisions)) == 1


def test_a_successor_replaying_the_journal_preempts_the_same_commands() -> None:
    base = SchedulingCore()
    for i in range(3):
        base.node_joined(rn(f"rn{i}"), 0.0)
    snap = base.snapshot()
    journal = [
        EditRecord("pool_shares", {"pool": "default", "accounts": [["show", 2, 0, 1]], "preempt_after": 30}, 1.0),
        SubmitRecord(job("rnd", 6), 1.0, "r1"),
        ReadyRecord("rn0", 1, 2.0), ReadyRecord("rn1", 1, 5.0), ReadyRecord("rn2", 1, 9.0),
        SubmitRecord(job("show", 4), 20.0, "r2"),
        TickRecord(40.0),
    ]
    live = SchedulingCore.restore(snap)
    out = [d for r in journal for d in decisions_of(r.apply(live))]
    successor = SchedulingCore.restore(snap)
    assert replay(successor, enumerate(r.to_data() for r in journal)) == 0
    assert sorted(k.node for k in kills(out)) == ["rn1", "rn2"]  # both killed at the tick: rn2 (9 s) and rn1 (5 s)
    assert successor.snapshot() == live.snapshot()


# ------------------------------------------------------------------ invariants
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mins=st.lists(st.integers(0, 3), min_size=2, max_size=3),
       demand=st.lists(st.integers(0, 6), min_size=3, max_size=3),
       steps=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 50)), min_size=1, max_size=40))
def test_with_preemption_a_guarantee_with_demand_is_granted_and_no_lender_goes_below_its_own(
        mins: list[int], demand: list[int], steps: list[tuple[int, int]]) -> None:
    nodes = 5
    projects = [f"p{i}" for i in range(len(mins))]
    specs = {(p,): ShareSpec(m, 0, 1.0) for p, m in zip(projects, mins, strict=True)}
    core = SchedulingCore()
    core.set_shares("default", specs, 0.0, preempt_after=0.0)
    project_of: dict[int, str] = {}
    running: dict[str, Assign] = {}
    t = 0.0

    def held() -> dict[str, int]:
        out = dict.fromkeys(projects, 0)
        for a in running.values():
            out[project_of[a.graph_id]] += 1
        return out

    def record(decisions: list[Any]) -> None:
        before = held()
        for d in decisions:
            if isinstance(d, Kill):
                a = running.pop(d.node)
                assert a.command_id == d.command_id
                p = project_of[a.graph_id]
                assert before[p] - 1 >= specs[(p,)].min  # never below its own guarantee
                before[p] -= 1
        for a in assigns(decisions):
            assert a.node not in running
            running[a.node] = a

    for i in range(nodes):
        record(core.node_joined(rn(f"rn{i}"), t))
    for kind, k in steps:
        t += 1.0
        if kind == 0 and k % len(projects) < len(demand) and demand[k % len(projects)]:
            p = projects[k % len(projects)]
            result = core.submit_graph(job(p, demand[k % len(projects)]), t)
            project_of[result.graph_id] = p
            record(result.decisions)
        elif kind == 1 and running:
            name = sorted(running)[k % len(running)]
            a = running.pop(name)
            core.command_started(a.command_id, a.attempt, t)
            record(core.command_update(a.command_id, a.attempt, t, status=DONE))
        for _ in range(3):  # rounds: every free node asks (the slots exist), then a tick preempts
            for i in range(nodes):
                if f"rn{i}" not in running:
                    record(core.request_work(f"rn{i}", 1, t))
            record(core.tick(t))
        for i in range(nodes):
            if f"rn{i}" not in running:
                record(core.request_work(f"rn{i}", 1, t))
        # An account below its guarantee with READY work: no other holds more than its own guarantee.
        h = held()
        for p in projects:
            if h[p] < specs[(p,)].min and has_ready(core, p, project_of):
                assert all(h[q] <= specs[(q,)].min for q in projects if q != p), (p, h, mins)


def has_ready(core: SchedulingCore, project: str, project_of: dict[int, str]) -> bool:
    return any(core.node(g)["readyCommandCount"] > 0 for g, p in project_of.items() if p == project)

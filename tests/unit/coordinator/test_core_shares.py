"""Share trees in the core (``coordinator.core_shares``): guarantees, caps, lending, moves, restore."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.coordinator.decisions import Assign
from puli_mesh.coordinator.edit_actions import apply_edit, check_edit
from puli_mesh.coordinator.records import EditRecord, ReadyRecord, SubmitRecord, decisions_of, replay
from puli_mesh.coordinator.shares import ShareSpec
from puliclient.status import CommandStatus
from tests.unit.coordinator.graphs import assigns, graph, group, rn, task

DONE = CommandStatus.DONE.value


def job(project: str, n: int, user: str = "alice", name: str = "") -> dict[str, Any]:
    return graph([group("root", [1], tags={"prod": project}), task("t", n)], user=user,
                 name=name or f"{project}-{user}")


def end(core: SchedulingCore, a: Assign, now: float) -> list[Any]:
    core.command_started(a.command_id, a.attempt, now)
    return core.command_update(a.command_id, a.attempt, now, status=DONE)


def use(core: SchedulingCore) -> dict[str, int]:
    return {r["account"]: r["use"] for r in core.share_use()}


def farm(nodes: int) -> SchedulingCore:
    core = SchedulingCore()
    for i in range(nodes):
        core.node_joined(rn(f"rn{i}"), 0.0)
    return core


def test_a_guaranteed_project_gets_its_slots_back_as_borrowers_end() -> None:
    core = farm(4)
    core.set_shares("default", {("show",): ShareSpec(3, 0, 1.0)}, 0.0)
    core.submit_graph(job("rnd", 10), 0.0)
    running = {a.node: a for n in range(4) for a in assigns(core.request_work(f"rn{n}", 1, 1.0))}
    assert use(core)["rnd"] == 4  # work conserving: the idle guarantee is lent
    core.submit_graph(job("show", 10), 2.0)
    t = 3.0
    for name in ("rn0", "rn1", "rn2", "rn3"):
        end(core, running[name], t)
        (a,) = assigns(core.request_work(name, 1, t))
        running[name] = a
        t += 1
    assert use(core)["show"] == 3 and use(core)["rnd"] == 1  # back to its guarantee, then fair


def test_no_account_goes_above_its_cap_even_with_idle_nodes() -> None:
    core = farm(4)
    core.set_shares("default", {("rnd",): ShareSpec(0, 2, 1.0)}, 0.0)
    core.submit_graph(job("rnd", 10), 0.0)
    got = [a for n in range(4) for a in assigns(core.request_work(f"rn{n}", 1, 1.0))]
    assert len(got) == 2 and use(core)["rnd"] == 2
    end(core, got[0], 2.0)  # a slot under the cap: a waiting node gets it
    assert use(core)["rnd"] == 2


def test_weights_share_the_capacity_above_the_guarantees() -> None:
    core = farm(6)
    core.set_shares("default", {("a",): ShareSpec(0, 0, 2.0), ("b",): ShareSpec(0, 0, 1.0)}, 0.0)
    core.submit_graph(job("a", 20), 0.0)
    core.submit_graph(job("b", 20), 0.0)
    for n in range(6):
        core.request_work(f"rn{n}", 1, 1.0)
    assert use(core)["a"] == 4 and use(core)["b"] == 2


def test_users_share_their_project_by_their_own_accounts() -> None:
    core = farm(4)
    core.set_shares("default", {("a",): ShareSpec(0, 0, 1.0), ("a", "bob"): ShareSpec(3, 0, 1.0)}, 0.0)
    core.submit_graph(job("a", 20, user="alice"), 0.0)
    core.submit_graph(job("a", 20, user="bob"), 0.0)
    for n in range(4):
        core.request_work(f"rn{n}", 1, 1.0)
    assert use(core)["a/bob"] == 3 and use(core)["a/alice"] == 1 and use(core)["a"] == 4


def test_a_job_whose_project_tag_changes_moves_with_its_running_commands() -> None:
    core = farm(2)
    core.set_shares("default", {("a",): ShareSpec(0, 0, 1.0)}, 0.0)
    gid = core.submit_graph(job("a", 4), 0.0).graph_id
    core.request_work("rn0", 1, 1.0)
    core.set_tags(gid, {"prod": "b"}, 2.0)
    assert use(core)["a"] == 0 and use(core)["b"] == 1
    core.set_user(gid, "zoe", 3.0)
    assert use(core)["b/zoe"] == 1
    assert assigns(core.request_work("rn1", 1, 4.0))  # still in the index, in its new account


def test_removing_the_tree_gives_back_the_plain_order_and_no_accounts() -> None:
    core = farm(2)
    core.set_shares("default", {("a",): ShareSpec(0, 1, 1.0)}, 0.0)
    core.submit_graph(job("a", 4), 0.0)
    core.request_work("rn0", 1, 1.0)
    assert not assigns(core.request_work("rn1", 1, 1.0))  # capped
    (given,) = assigns(core.set_shares("default", {}, 2.0))  # the waiting node gets it at once
    assert given.node == "rn1"
    assert core.share_use() == [] and core.share_rows() == {}


def test_the_edit_is_checked_before_journalling_and_the_tree_survives_a_snapshot() -> None:
    check_edit("pool_shares", {"pool": "default", "accounts": [["a", 1, 2, 1]]})
    for bad in ([["a", 3, 2, 1]], "x", [["a/b/c", 0, 0, 1]]):
        try:
            check_edit("pool_shares", {"pool": "default", "accounts": bad})
        except ValueError:
            continue
        raise AssertionError(bad)
    core = farm(3)
    apply_edit(core, "pool_shares", {"pool": "default", "accounts": [["a", 0, 2, 1]]}, 0.0)
    core.submit_graph(job("a", 5), 0.0)
    core.request_work("rn0", 1, 1.0)
    restored = SchedulingCore.restore(core.snapshot())
    assert restored.share_rows() == {"default": [["a", 0, 2, 1.0]]}
    assert use(restored)["a"] == 1  # rebuilt from the running commands
    assert len(assigns(restored.request_work("rn1", 1, 2.0))) == 1
    assert not assigns(restored.request_work("rn2", 1, 2.0))  # the cap holds after restore


# ------------------------------------------------------------------ invariants
accounts_st = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 4), st.integers(1, 3)),
                       min_size=2, max_size=4)
steps_st = st.lists(st.tuples(st.booleans(), st.integers(0, 100)), min_size=1, max_size=60)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(accounts=accounts_st, demand=st.lists(st.integers(0, 8), min_size=4, max_size=4), steps=steps_st)
def test_guarantees_first_caps_never_exceeded_and_no_starvation(
        accounts: list[tuple[int, int, int]], demand: list[int], steps: list[tuple[bool, int]]) -> None:
    nodes = 5
    specs = {}
    for i, (lo, cap, weight) in enumerate(accounts):
        specs[(f"p{i}",)] = ShareSpec(lo, cap if cap == 0 or cap >= lo else lo, float(weight))
    core = SchedulingCore()
    core.set_shares("default", specs, 0.0)
    projects = [f"p{i}" for i in range(len(accounts))]
    ready: dict[str, int] = {}
    project_of_graph: dict[int, str] = {}
    for i, n in enumerate(demand[: len(projects)]):
        if n:
            project_of_graph[core.submit_graph(job(projects[i], n), 0.0).graph_id] = projects[i]
            ready[projects[i]] = ready.get(projects[i], 0) + n
    held: dict[str, int] = dict.fromkeys(projects, 0)
    running: dict[str, Assign] = {}
    t = 1.0

    def ask(name: str) -> None:
        record(core.request_work(name, 1, t))

    def record(decisions: list[Any]) -> None:
        for a in assigns(decisions):  # to the node asking, or to nodes waiting with credit
            below = {p for p in projects if ready.get(p, 0) and held[p] < specs[(p,)].min}
            p = project_of_graph[a.graph_id]
            assert not below or p in below, (p, below)  # a guarantee with demand is served first
            held[p] += 1
            ready[p] -= 1
            assert a.node not in running
            running[a.node] = a
        for p in projects:
            cap = specs[(p,)].max
            assert not cap or held[p] <= cap
        assert {k: v for k, v in use(core).items() if "/" not in k and v} == {p: v for p, v in held.items() if v}

    for i in range(nodes):
        record(core.node_joined(rn(f"rn{i}"), t))
    for finish_one, k in steps:
        t += 1
        busy = sorted(running)
        if finish_one and busy:
            name = busy[k % len(busy)]
            a = running.pop(name)
            held[project_of_graph[a.graph_id]] -= 1
            record(end(core, a, t))
            ask(name)
        else:
            for i in range(nodes):
                if f"rn{i}" not in running:
                    ask(f"rn{i}")
    for _ in range(200):  # drain: every account with work gets slots until none is left
        t += 1
        for name in sorted(running):
            a = running.pop(name)
            held[project_of_graph[a.graph_id]] -= 1
            record(end(core, a, t))
        for i in range(nodes):
            ask(f"rn{i}")
        if not running:
            break
    assert not any(ready.values()), ready


def sent(cap: int) -> int:
    """Commands a one-slot node with a queue holds once the job has shown it is short."""
    core = SchedulingCore()
    core.node_joined(rn("rn0", pipeline=4), 0.0)
    core.set_shares("default", {("a",): ShareSpec(0, cap, 1.0)}, 0.0)
    core.submit_graph(job("a", 30), 0.0)
    t = 1.0
    for _ in range(4):  # short commands: a few milliseconds each
        (a,) = assigns(core.request_work("rn0", 1, t))
        end(core, a, t + 0.001)
        t += 0.01
    return len(assigns(core.request_work("rn0", 5, t)))


def test_commands_sent_ahead_stay_within_the_cap() -> None:
    assert sent(cap=0) > 1  # no cap: the node is sent some ahead
    assert sent(cap=1) == 1


def test_a_successor_replaying_the_journal_takes_the_same_decisions() -> None:
    """The tree is a journalled edit: replayed after a snapshot taken before it, the same
    commands go to the same nodes, and the cap holds in the successor."""
    before = farm(3)
    base = before.snapshot()
    journal = [
        EditRecord("pool_shares", {"pool": "default", "accounts": [["b", 2, 0, 1], ["a", 0, 1, 1]]}, 1.0),
        SubmitRecord(job("a", 5), 1.0, "r1"),
        SubmitRecord(job("b", 5), 1.0, "r2"),
        ReadyRecord("rn0", 1, 2.0), ReadyRecord("rn1", 1, 2.0), ReadyRecord("rn2", 1, 2.0),
    ]
    live = SchedulingCore.restore(base)
    given = [a for r in journal for a in assigns(decisions_of(r.apply(live)))]
    successor = SchedulingCore.restore(base)
    assert replay(successor, enumerate(r.to_data() for r in journal)) == 0
    assert use(successor) == use(live) and use(live)["b"] == 2 and use(live)["a"] == 1
    assert len(given) == 3 and all(successor.held_by(a.command_id, a.attempt) == a.node for a in given)


def test_each_account_lists_its_waiting_work_and_a_paused_job_waits_for_nothing() -> None:
    core = farm(1)
    core.set_shares("default", {("show",): ShareSpec(2, 0, 1.0), ("rnd",): ShareSpec(0, 0, 1.0)}, 0.0)
    alice = core.submit_graph(job("show", 4), 0.0).graph_id
    assert len(assigns(core.request_work("rn0", 1, 1.0))) == 1
    core.submit_graph(job("show", 3, user="bob"), 1.0)

    def ready(c: SchedulingCore) -> dict[str, int]:
        return {r["account"]: r["ready"] for r in c.share_use()}

    # an implicit account is listed while in use (alice), its waiting work counts in its project
    assert ready(core) == {"rnd": 0, "show": 6, "show/alice": 3}
    assert ready(SchedulingCore.restore(core.snapshot())) == ready(core)  # counted, not kept
    core.pause(alice, 2.0)
    assert ready(core) == {"rnd": 0, "show": 3, "show/alice": 0}


def test_inside_an_account_a_job_in_two_signatures_keeps_its_task_order() -> None:
    # As without shares: the job's task order decides between its queues, not which of the
    # account's queues happened to be made first (here the second task's, by an earlier job).
    for shares in (False, True):
        core = farm(1)
        if shares:
            core.set_shares("default", {("show",): ShareSpec(1, 0, 1.0)}, 0.0)
        core.submit_graph(graph([group("root", [1], tags={"prod": "show"}), task("early", 1, ramUse=100)],
                                name="early"), 0.0)
        (a,) = assigns(core.request_work("rn0", 1, 1.0))
        end(core, a, 2.0)
        core.submit_graph(graph([group("root", [1, 2], tags={"prod": "show"}), task("first", 1),
                                 task("second", 1, ramUse=100)], name="later"), 3.0)
        (a,) = assigns(core.request_work("rn0", 1, 4.0))
        assert a.arguments["cmd"] == "echo first", (shares, a)

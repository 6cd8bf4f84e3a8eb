"""The ready index's task order: each group's strategy (Fifo, AsIs, Fair, WeighedFair,
Priority), its change at run time, and its survival across a snapshot."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.coordinator.edit_actions import apply_edit, check_edit
from puli_mesh.coordinator.records import (
    EditRecord,
    HelloRecord,
    ReadyRecord,
    SubmitRecord,
    UpdateRecord,
    decisions_of,
    replay,
)
from puli_mesh.coordinator.shares import ShareSpec
from puli_mesh.errors import IllegalTransitionError, InvalidGraphError
from puli_mesh.faults import Faults
from puliclient.status import CommandStatus
from puliclient.strategies import STRATEGIES, strategy_name
from tests.unit.coordinator.graphs import assigns, finish, graph, group, rn, task

FIFO, AS_IS, FAIR, WEIGHED, PRIORITY = STRATEGIES
DONE = int(CommandStatus.DONE)


def one_slot(rep: dict[str, Any]) -> tuple[SchedulingCore, int]:
    core = SchedulingCore()
    core.node_joined(rn("a"), 0)
    gid = core.submit_graph(rep, 0).graph_id
    return core, gid


def drain(core: SchedulingCore, start: float = 1, limit: int = 1000) -> list[str]:
    """The task of every command a one-slot node runs, in order, until nothing is left."""
    order: list[str] = []
    now = start
    while len(order) < limit:
        out = assigns(core.request_work("a", 1, now))
        if not out:
            break
        (a,) = out
        order.append(a.task_name)
        now += 1
        finish(core, a, now)
    return order


def flat(strategy: str, tasks: list[dict[str, Any]], order: list[int] | None = None) -> dict[str, Any]:
    """A root group of ``strategy`` holding ``tasks`` (listed in ``order``, indexes from 1)."""
    children = order or list(range(1, len(tasks) + 1))
    return graph([group("root", children, strategy=strategy), *tasks])


def test_fifo_is_by_id_whatever_the_group_lists():
    core, _ = one_slot(flat(FIFO, [task("x", 2), task("y", 2)], order=[2, 1]))
    assert drain(core) == ["x", "x", "y", "y"]


def test_fifo_walks_group_by_group_as_puli_did():
    # g (id before w's) holds a, listed after w: Puli's FIFO runs g's tasks before w.
    rep = graph([group("root", [1, 2]), group("g", [3]), task("w", 1), task("a", 2)])
    core, _ = one_slot(rep)
    assert drain(core) == ["a", "a", "w"]


def test_as_is_follows_the_group_s_own_list():
    core, _ = one_slot(flat(AS_IS, [task("x", 2), task("y", 2), task("z", 1)], order=[2, 3, 1]))
    assert drain(core) == ["y", "y", "z", "x", "x"]


def test_priority_is_highest_first_then_by_id():
    tasks = [task("low", 2, priority=1), task("high", 2, priority=5), task("mid", 1, priority=3),
             task("mid2", 1, priority=3)]
    core, _ = one_slot(flat(PRIORITY, tasks))
    assert drain(core) == ["high", "high", "mid", "mid2", "low", "low"]


def test_fair_gives_the_child_with_fewest_commands_first():
    core, _ = one_slot(flat(FAIR, [task("x", 3), task("y", 2), task("z", 1)]))
    assert drain(core) == ["x", "y", "z", "x", "y", "x"]


def test_weighed_fair_counts_each_child_s_dispatch_key():
    core, _ = one_slot(flat(WEIGHED, [task("x", 3, dispatchKey=1), task("y", 3, dispatchKey=2)]))
    # counts x0 y0 -> x(1); y(2); x(2); tie -> x by id (3); then y, y
    assert drain(core) == ["x", "y", "x", "x", "y", "y"]


def test_fair_between_groups_of_several_tasks():
    # root (Fair) -> g1 [a, b], g2 [c, d] (FIFO): the groups alternate, FIFO inside each.
    rep = graph([group("root", [1, 2], strategy=FAIR), group("g1", [3, 4]), group("g2", [5, 6]),
                 task("a", 2), task("b", 1), task("c", 1), task("d", 2)])
    core, _ = one_slot(rep)
    assert drain(core) == ["a", "c", "a", "d", "b", "d"]


def test_strategies_apply_level_by_level():
    # root (Priority) -> low group (Fair: p, q) and high group (AsIs: s listed before r).
    rep = graph([group("root", [1, 2], strategy=PRIORITY),
                 group("low", [3, 4], strategy=FAIR, priority=1),
                 group("high", [6, 5], strategy=AS_IS, priority=9),
                 task("p", 2), task("q", 2), task("r", 1), task("s", 1)])
    core, _ = one_slot(rep)
    assert drain(core) == ["s", "r", "p", "q", "p", "q"]


def test_a_snapshot_keeps_the_fair_counts():
    rep = flat(FAIR, [task("x", 4), task("y", 4), task("z", 4)])
    core, _ = one_slot(rep)
    assert drain(core, limit=4) == ["x", "y", "z", "x"]  # x has two, y and z one each
    restored = SchedulingCore.restore(core.snapshot())
    assert drain(restored, start=100) == drain(core, start=100)


def test_replaying_the_same_events_gives_the_same_order():
    rep = flat(WEIGHED, [task("x", 5, dispatchKey=3), task("y", 5, dispatchKey=1), task("z", 5, dispatchKey=2)])
    orders = [drain(one_slot(rep)[0]) for _ in range(2)]
    assert orders[0] == orders[1]
    # counts x0 y0 z0 -> x(3), y(1), z(2); y(2); y and z tie at 2 -> y by id (3); z(4)
    assert orders[0][:6] == ["x", "y", "z", "y", "y", "z"]


def test_set_strategy_reorders_at_once_and_restarts_fair_counts():
    core, gid = one_slot(flat(FIFO, [task("x", 2, priority=1), task("y", 2, priority=2)]))
    apply_edit(core, "set", {"id": gid, "values": {"strategy": "PriorityStrategy"}}, 1)
    assert core.graph_tree(gid)["children"][0]["strategy"] == PRIORITY
    assert drain(core, start=2) == ["y", "y", "x", "x"]


def test_set_strategy_on_a_group_and_back_to_fifo():
    rep = graph([group("root", [1, 2]), group("g", [3, 4]), task("w", 1), task("a", 2), task("b", 2)])
    core, gid = one_slot(rep)
    g_id = core.graph_tree(gid)["children"][0]["children"][0]["id"]
    apply_edit(core, "set", {"id": g_id, "values": {"strategy": "fair"}}, 1)
    assert drain(core, start=2, limit=3) == ["a", "b", "a"]  # g is first (FIFO by id), then fair inside
    apply_edit(core, "set", {"id": g_id, "values": {"strategy": FIFO}}, 10)
    assert drain(core, start=11) == ["b", "w"]


def test_set_strategy_refuses_a_task_and_an_unknown_name():
    core, gid = one_slot(flat(FIFO, [task("x", 1)]))
    task_id = core.graph_tree(gid)["children"][0]["children"][0]["id"]
    with pytest.raises(IllegalTransitionError, match="task"):
        apply_edit(core, "set", {"id": task_id, "values": {"strategy": "FairStrategy"}}, 1)
    with pytest.raises(ValueError, match="unknown strategy"):
        check_edit("set", {"id": gid, "values": {"strategy": "LotteryStrategy"}})
    with pytest.raises(ValueError, match="unknown strategy"):
        check_edit("set", {"id": gid, "values": {"strategy": ["FairStrategy"]}})


def test_an_unknown_strategy_is_refused_at_submit_and_names_are_normalised():
    core = SchedulingCore()
    with pytest.raises(InvalidGraphError, match="unknown strategy 'octopus.dispatcher.strategies.Lottery"):
        core.submit_graph(flat("octopus.dispatcher.strategies.LotteryStrategy", [task("x")]), 0)
    gid = core.submit_graph(flat("PriorityStrategy", [task("x")]), 0).graph_id
    assert core.graph_tree(gid)["children"][0]["strategy"] == PRIORITY
    assert strategy_name("weighed_fair") == WEIGHED


# ----------------------------------------------------------- against a naive model
def model_order(rep: dict[str, Any]) -> list[str]:
    """Puli's rule written plainly: at each decision, from the root group down, sort the
    children that still have commands by their group's strategy; count Fair assignments."""
    nodes = rep["tasks"]
    left = {i: len(n["commands"]) for i, n in enumerate(nodes) if n["type"] == "Task"}
    counts: dict[int, float] = {}

    def has_work(i: int) -> bool:
        return left[i] > 0 if i in left else any(has_work(c) for c in nodes[i]["tasks"])

    def key(parent: int, child: int) -> Any:
        s = nodes[parent]["strategy"]
        if s == AS_IS:
            return nodes[parent]["tasks"].index(child)
        if s == PRIORITY:
            return (-nodes[child]["priority"], child)
        if s in (FAIR, WEIGHED):
            return (counts.get(child, 0), child)
        return child

    order = []
    while has_work(0):
        i, path = 0, []
        while i not in left:
            child = min((c for c in nodes[i]["tasks"] if has_work(c)), key=lambda c, p=i: key(p, c))
            path.append((i, child))
            i = child
        left[i] -= 1
        order.append(nodes[i]["name"])
        for parent, child in path:
            s = nodes[parent]["strategy"]
            if s == FAIR:
                counts[child] = counts.get(child, 0) + 1
            elif s == WEIGHED:
                counts[child] = counts.get(child, 0) + max(nodes[child]["dispatchKey"], 0)
    return order


@st.composite
def trees(draw: st.DrawFn) -> dict[str, Any]:
    """A random tree of groups and tasks in preorder (a subtree's indexes together)."""
    nodes: list[dict[str, Any]] = []

    def build(depth: int) -> int:
        i = len(nodes)
        if depth > 0 and draw(st.booleans()) or depth == 0:
            nodes.append(group(f"g{i}", [], strategy=draw(st.sampled_from(STRATEGIES)),
                               priority=draw(st.integers(0, 3)), dispatchKey=draw(st.integers(-1, 3))))
            n_children = draw(st.integers(1, 3))
            children = [build(depth + 1) if depth < 2 else leaf() for _ in range(n_children)]
            if draw(st.booleans()):
                children.reverse()
            nodes[i]["tasks"] = children
            return i
        return leaf()

    def leaf() -> int:
        i = len(nodes)
        nodes.append(task(f"t{i}", draw(st.integers(1, 3)), priority=draw(st.integers(0, 3)),
                          dispatchKey=draw(st.integers(-1, 3))))
        return i

    build(0)
    return graph(nodes)


@settings(max_examples=150, deadline=None)
@given(trees())
def test_the_index_gives_the_naive_model_s_order(rep: dict[str, Any]) -> None:
    core, _ = one_slot(rep)
    assert drain(core) == model_order(rep)


def test_a_successor_replaying_the_journal_counts_and_orders_the_same() -> None:
    """Fair counts are not journalled: they follow from the journalled events, whose
    assignments a successor makes again, on a fresh core or on a restored snapshot."""
    live = SchedulingCore()
    journal: list[tuple[int, Any]] = []
    snapshot: dict[str, Any] = {}

    def record(r: Any) -> list[Any]:
        journal.append((len(journal) + 1, r.to_data()))
        return assigns(decisions_of(r.apply(live)))

    record(HelloRecord(rn("a"), (), 0.0))
    tasks = [task("x", 3, dispatchKey=2), task("y", 3, dispatchKey=1), task("z", 3, dispatchKey=3)]
    record(SubmitRecord(flat(FAIR, tasks), 1.0))
    out = record(ReadyRecord("a", 1, 1.0))
    now = 2.0
    for step in range(5):
        (a,) = out
        record(UpdateRecord(a.command_id, a.attempt, now, DONE, 1.0, "", None))
        if step == 1:
            record(EditRecord("set", {"id": a.graph_id, "values": {"strategy": "WeighedFairStrategy"}}, now))
        if step == 2:
            snapshot = live.snapshot()
            taken = len(journal)
        out = record(ReadyRecord("a", 1, now))
        now += 1
    assert any(n.get("assigned") for g in live.snapshot()["graphs"] for n in g)

    fresh = SchedulingCore()
    replay(fresh, journal, Faults())
    restored = SchedulingCore.restore(snapshot)
    replay(restored, journal[taken:], Faults())
    assert fresh.snapshot() == live.snapshot() == restored.snapshot()
    assert drain(fresh, start=now) == drain(restored, start=now) == drain(live, start=now)


def _owned_per_signature(pool: Any) -> dict[int, int]:
    """What Pool.sig_queued must say: the buckets owning a heap entry, per signature."""
    return {sid: sum(b.queued for q in qs for b in q.buckets.values()) for sid, qs in pool.by_sig.items()}


def _masks_follow_the_buckets(pool: Any) -> bool:
    """What ShareAccount.mask must say: a user account's, the signature bits of its queues with a
    bucket owning an entry; a project's, its users' together (a pick passes over the others)."""
    accounts = pool.shares.accounts.values()
    for a in accounts:
        if a.parent is not None:
            owned = {q: sum(b.queued for b in q.buckets.values()) for q in a.queues}
            if any(q.n_queued != n for q, n in owned.items()):
                return False
            if a.mask != sum(q.bit for q, n in owned.items() if n):
                return False
    return all(p.mask == _union(u.mask for u in accounts if u.parent is p) for p in accounts if p.parent is None)


def _union(masks: Any) -> int:
    out = 0
    for m in masks:
        out |= m
    return out


def test_a_share_tree_pool_counts_the_queued_buckets_of_each_signature() -> None:
    core = SchedulingCore()
    for i in range(3):
        core.node_joined(rn(f"rn{i}"), 0.0)
    core.set_shares("default", {("show",): ShareSpec(1, 2, 1.0)}, 0.0)
    for project, user in (("show", "a"), ("show", "b"), ("rnd", "a")):
        core.submit_graph(graph([group("root", [1], tags={"prod": project}), task("t", 3)],
                                user=user, name=f"{project}-{user}"), 0.0)
    pool = core._st.pools["default"]
    assert pool.sig_queued == _owned_per_signature(pool) and sum(pool.sig_queued.values()) == 3
    assert _masks_follow_the_buckets(pool) and pool.shares.accounts[("show",)].mask == 1
    now = 1.0
    running = [a for i in range(3) for a in assigns(core.request_work(f"rn{i}", 1, now))]
    while running:  # drain: the counts follow every bucket that gains or loses its entry
        a = running.pop(0)
        now += 1.0
        core.command_started(a.command_id, a.attempt, now)
        core.command_update(a.command_id, a.attempt, now, status=CommandStatus.DONE.value)
        running += assigns(core.request_work(a.node, 1, now))
        assert pool.sig_queued == _owned_per_signature(pool) and _masks_follow_the_buckets(pool)
    assert sum(pool.sig_queued.values()) == 0 and not pool.has_work(core._st.licences)
    assert not any(a.mask for a in pool.shares.accounts.values())

"""Quotas across pools (``coordinator.quotas``): per user and per project, whatever the pool."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.coordinator.decisions import Assign
from puli_mesh.coordinator.edit_actions import apply_edit, check_edit
from puli_mesh.coordinator.quotas import QuotaCounter
from puliclient.status import CommandStatus
from tests.unit.coordinator.graphs import assigns, graph, group, rn, task

DONE = CommandStatus.DONE.value


def job(project: str, n: int, user: str = "alice", pool: str = "default") -> dict[str, Any]:
    return graph([group("root", [1], tags={"prod": project}), task("t", n)], user=user, pool=pool,
                 name=f"{project}-{user}")


def end(core: SchedulingCore, a: Assign, now: float) -> list[Any]:
    core.command_started(a.command_id, a.attempt, now)
    return core.command_update(a.command_id, a.attempt, now, status=DONE)


def two_pools() -> SchedulingCore:
    core = SchedulingCore()
    core.define_pool("gpu")
    for i in range(3):
        core.node_joined(rn(f"a{i}"), 0.0)
        core.node_joined(rn(f"g{i}", pools=["gpu"]), 0.0)
    return core


def ask_all(core: SchedulingCore, now: float) -> list[Assign]:
    return [a for i in range(3) for name in (f"a{i}", f"g{i}") for a in assigns(core.request_work(name, 1, now))]


def test_a_counter_is_full_from_its_max_on() -> None:
    c = QuotaCounter(("user", "alice"), 2)
    assert not c.full
    c.use = 2
    assert c.full
    c.use = 3  # a quota lowered below what runs: still full
    assert c.full


def test_a_users_quota_holds_across_pools_and_other_users_are_not_held() -> None:
    core = two_pools()
    core.set_quotas({("user", "alice"): 2}, 0.0)
    core.submit_graph(job("film", 5), 0.0)
    core.submit_graph(job("film", 5, pool="gpu"), 0.0)
    core.submit_graph(job("film", 5, user="bob", pool="gpu"), 0.0)
    got = ask_all(core, 1.0)
    by_user = [a.user for a in got]
    assert by_user.count("alice") == 2 and len(got) == 4  # the gpu pool full, the default one holds alice
    assert core.quota_use() == [{"kind": "user", "name": "alice", "max": 2, "use": 2}]


def test_a_projects_quota_and_a_command_ending_wakes_the_parked_job() -> None:
    core = two_pools()
    core.set_quotas({("project", "film"): 1}, 0.0)
    film = {core.submit_graph(job("film", 3), 0.0).graph_id,
            core.submit_graph(job("film", 3, user="bob", pool="gpu"), 0.0).graph_id}
    rnd = core.submit_graph(job("rnd", 1, pool="gpu"), 0.0).graph_id
    got = ask_all(core, 1.0)
    assert sorted(a.graph_id in film for a in got) == [False, True]  # one film command in both pools
    (a,) = [a for a in got if a.graph_id in film]
    (b,) = assigns(end(core, a, 2.0))  # a node still waiting (with credit) gets the next film one
    assert b.graph_id in film and b.graph_id != rnd and core.quota_use()[0]["use"] == 1


def test_raising_a_quota_wakes_the_parked_jobs_and_removing_it_frees_them() -> None:
    core = two_pools()
    apply_edit(core, "share_quotas", {"quotas": [["user", "alice", 1]]}, 0.0)
    core.submit_graph(job("film", 6), 0.0)
    assert len(ask_all(core, 1.0)) == 1
    assert len(assigns(core.set_quotas({("user", "alice"): 2}, 2.0))) == 1  # waiting nodes take it at once
    assert len(assigns(core.set_quotas({}, 3.0))) == 1  # the third node of the pool
    assert core.quota_rows() == [] and core.quota_use() == []


def test_quotas_are_checked_survive_a_snapshot_and_follow_a_jobs_user() -> None:
    check_edit("share_quotas", {"quotas": [["user", "alice", 3], ["project", "film", 1]]})
    for bad in ([["team", "x", 1]], [["user", "", 1]], [["user", "a", 0]], [["user", "a", True]], "x"):
        try:
            check_edit("share_quotas", {"quotas": bad})
        except ValueError:
            continue
        raise AssertionError(bad)
    core = two_pools()
    core.set_quotas({("user", "alice"): 1}, 0.0)
    gid = core.submit_graph(job("film", 5), 0.0).graph_id
    assert len(ask_all(core, 1.0)) == 1
    restored = SchedulingCore.restore(core.snapshot())
    assert restored.quota_rows() == [["user", "alice", 1]]
    assert restored.quota_use()[0]["use"] == 1 and not ask_all(restored, 2.0)
    assert len(assigns(restored.set_user(gid, "bob", 3.0))) == 2  # bob has no quota: alice's job moves on


def test_commands_sent_ahead_stay_within_the_quota() -> None:
    core = SchedulingCore()
    core.node_joined(rn("rn0", pipeline=4), 0.0)
    core.set_quotas({("user", "alice"): 1}, 0.0)
    core.submit_graph(job("a", 30), 0.0)
    t = 1.0
    for _ in range(4):  # short commands: the task is pipelined from now on
        (a,) = assigns(core.request_work("rn0", 1, t))
        end(core, a, t + 0.001)
        t += 0.01
    assert len(assigns(core.request_work("rn0", 5, t))) == 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(caps=st.tuples(st.integers(1, 4), st.integers(1, 4)),
       steps=st.lists(st.tuples(st.booleans(), st.integers(0, 50)), min_size=1, max_size=40))
def test_a_quota_is_never_exceeded(caps: tuple[int, int], steps: list[tuple[bool, int]]) -> None:
    core = two_pools()
    core.set_quotas({("user", "alice"): caps[0], ("project", "film"): caps[1]}, 0.0)
    jobs = [job("film", 6), job("film", 6, pool="gpu"), job("rnd", 6, pool="gpu"), job("film", 6, user="bob")]
    owner = {core.submit_graph(j, 0.0).graph_id: (j["user"], j["tasks"][0]["tags"]["prod"]) for j in jobs}
    running: dict[str, Assign] = {}
    t = 1.0
    for finish_one, k in steps:
        t += 1.0
        if finish_one and running:
            name = sorted(running)[k % len(running)]
            for a in assigns(end(core, running.pop(name), t)):
                running[a.node] = a
        for a in ask_all(core, t):
            running[a.node] = a
        users = [owner[a.graph_id][0] for a in running.values()]
        projects = [owner[a.graph_id][1] for a in running.values()]
        assert users.count("alice") <= caps[0] and projects.count("film") <= caps[1]
        assert {r["name"]: r["use"] for r in core.quota_use()} == {"alice": users.count("alice"),
                                                                  "film": projects.count("film")}

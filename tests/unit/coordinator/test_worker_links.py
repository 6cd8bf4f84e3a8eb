"""Links, heartbeats and lost-node expiry, with time as an argument."""

from __future__ import annotations

from puli_mesh.coordinator.worker_links import HEARTBEATS_PER_S, LostNodes, WorkerLink, scale_heartbeat_interval
from puli_mesh.limits import MAX_HEARTBEAT_INTERVAL_S


def test_a_link_is_alive_while_heard_within_its_liveness() -> None:
    link = WorkerLink("w1", b"w1", "tcp://w1:1", last_heard=10.0)
    assert link.alive(13.0, interval=1.0, liveness=3)
    assert not link.alive(13.01, interval=1.0, liveness=3)


def test_the_heartbeat_interval_grows_with_the_farm_to_keep_within_the_leaders_budget() -> None:
    assert scale_heartbeat_interval(0.5, links=3) == 0.5
    assert scale_heartbeat_interval(0.5, links=int(HEARTBEATS_PER_S)) == 1.0
    assert scale_heartbeat_interval(1.0, links=2000) == 2000 / HEARTBEATS_PER_S
    assert scale_heartbeat_interval(1.0, links=10**7) == MAX_HEARTBEAT_INTERVAL_S
    assert scale_heartbeat_interval(90.0, links=10**7) == 90.0  # never below what was configured


def test_a_node_gone_from_zookeeper_is_lost_after_the_grace_unless_it_comes_back() -> None:
    lost = LostNodes(grace=5.0)
    lost.observe({"a", "b", "c"}, online=[], now=0.0)
    lost.observe({"a"}, online=["a", "b"], now=1.0)
    assert lost.expired(5.9) == []
    lost.observe({"a"}, online=[], now=3.0)  # a later change does not push the deadline back
    assert lost.expired(6.0) == ["b", "c"]
    assert lost.expired(100.0) == []  # forgotten once expired


def test_a_node_back_in_zookeeper_or_saying_hello_is_not_lost() -> None:
    lost = LostNodes(grace=5.0)
    lost.observe(set(), online=["a", "b"], now=0.0)
    lost.observe({"a"}, online=["a", "b"], now=1.0)
    lost.returned("b")
    assert lost.expired(10.0) == []


def test_without_grace_a_node_is_lost_at_once_only_if_known() -> None:
    lost = LostNodes(grace=0.0)
    lost.observe({"x"}, online=["a"], now=0.0)  # "a" was online in the core: gone now
    assert lost.expired(0.0) == ["a"]

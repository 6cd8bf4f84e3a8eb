"""Links, heartbeats and lost-node expiry, with time as an argument."""

from __future__ import annotations

from puli_mesh.coordinator.worker_links import LostNodes, WorkerLink, heartbeats_due


def test_a_link_is_alive_while_heard_within_its_liveness() -> None:
    link = WorkerLink("w1", b"w1", "tcp://w1:1", last_heard=10.0)
    assert link.alive(13.0, interval=1.0, liveness=3)
    assert not link.alive(13.01, interval=1.0, liveness=3)


def test_links_nothing_was_sent_on_for_an_interval_are_due_a_heartbeat() -> None:
    quiet = WorkerLink("a", b"a", "", 0.0, last_sent=5.0)
    chatty = WorkerLink("b", b"b", "", 0.0, last_sent=5.5)
    assert heartbeats_due([quiet, chatty], 6.0, interval=1.0) == [quiet]


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

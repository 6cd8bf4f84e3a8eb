"""A node's load in the core's node record: from its HELLO, then its HEARTBEATs (never
journalled), bounded, kept by a snapshot and by a resources update, shown in its rows."""

from __future__ import annotations

import msgpack

from puli_mesh.coordinator.client_queries import node_row
from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.coordinator.records import report_record
from puli_mesh.coordinator.render_nodes import RenderNodeInfo
from puli_mesh.limits import MAX_REPORTED_LOAD
from puli_mesh.protocol import HeartbeatMessage, HelloMessage

from .graphs import rn


def hello(load: float | None) -> HelloMessage:
    return HelloMessage(name="rn1", endpoint="tcp://rn1:1", pools=["default"], cores=8, ram_mb=8000,
                        free_ram_mb=8000, slots=1, characteristics={}, performance=1.0, running=[],
                        last_epoch=0, pipeline=0, load=load)


def load_of(core: SchedulingCore, name: str = "rn1") -> float:
    return core.render_node_briefs()[name].load


def test_a_hellos_load_is_the_nodes_and_an_older_workers_is_zero() -> None:
    assert RenderNodeInfo.from_hello(hello(3.25)).load == 3.25
    assert RenderNodeInfo.from_hello(hello(None)).load == 0.0
    assert RenderNodeInfo.from_hello(hello(1e300)).load == MAX_REPORTED_LOAD


def test_a_heartbeats_load_is_kept_and_never_journalled() -> None:
    core = SchedulingCore()
    core.node_joined(rn("rn1"), 0.0)
    assert report_record(core, "rn1", HeartbeatMessage(1, load=4.5), 1.0) is None  # no record: not journalled
    assert load_of(core) == 4.5
    assert core.render_nodes()[0]["load"] == 4.5
    record = report_record(core, "rn1", HeartbeatMessage(1, free_ram_mb=900, load=2.0), 2.0)
    assert record is not None and record.free_ram_mb == 900  # the free RAM on the same beat still is
    assert load_of(core) == 2.0
    assert report_record(core, "rn1", HeartbeatMessage(1, load=-1.0), 3.0) is None
    assert load_of(core) == 2.0, "a negative load is refused"
    report_record(core, "ghost", HeartbeatMessage(1, load=9.0), 3.0)  # an unknown node: dropped
    assert "ghost" not in core.render_node_briefs()


def test_a_resources_update_and_a_snapshot_keep_it() -> None:
    core = SchedulingCore()
    core.node_joined(rn("rn1"), 0.0)
    core.node_load("rn1", 7.5)
    core.node_updated("rn1", 1.0, free_ram_mb=100)
    core.node_updated("rn1", 1.0, pools=["default", "gpu"])
    assert load_of(core) == 7.5
    data = msgpack.unpackb(msgpack.packb(core.snapshot(), use_bin_type=True), raw=False, strict_map_key=False)
    assert load_of(SchedulingCore.restore(data)) == 7.5


def test_the_nodes_row_shows_the_cores_load_over_the_slow_member_data() -> None:
    core = SchedulingCore()
    core.node_joined(rn("rn1"), 0.0)
    core.node_load("rn1", 3.5)
    member = {"load": 0.25, "cpu_percent": 12.0}  # up to a minute old
    assert node_row("rn1", "idle", "rn1", member, None, core.render_node_briefs()["rn1"])["load"] == 3.5
    assert node_row("rn2", "idle", "rn1", member, None, None)["load"] == 0.25  # a node the core lacks

"""Journal records: one class per kind, encoded and decoded losslessly, replayed like the live path."""

from __future__ import annotations

import logging
from typing import Any

import msgpack
import pytest

from puli_mesh.coordinator.core import CoreSettings, SchedulingCore
from puli_mesh.coordinator.records import (
    RECORD_KINDS,
    REPLAY_FAULT,
    AnyRecord,
    EditRecord,
    FreeRamRecord,
    HelloRecord,
    KillfileRecord,
    LeftRecord,
    LicenceRecord,
    PoolRecord,
    ReadyRecord,
    ReleaseRecord,
    SubmitRecord,
    TickRecord,
    UpdateRecord,
    decisions_of,
    decode_record,
    replay,
    report_record,
)
from puli_mesh.errors import CoreError, InvalidGraphError
from puli_mesh.faults import Faults
from puli_mesh.limits import MAX_REPORTED_RAM_MB, GraphLimits
from puli_mesh.protocol import HeartbeatMessage, KillfileMessage, KillfileOrder
from puliclient.status import CommandStatus

from .graphs import assigns, rn, single

DONE = int(CommandStatus.DONE)

ONE_OF_EACH: list[AnyRecord] = [
    SubmitRecord(single("t", 2), 1.0, "rid-1"),
    HelloRecord(rn("rn1", slots=2), ((3, 1), (4, 2)), 2.0),
    ReadyRecord("rn1", 2, 3.0),
    UpdateRecord(3, 1, 4.0, DONE, 1.0, "ok", {"frames": 1}),
    ReleaseRecord(3, 1, "shave", 5.0),
    LeftRecord("rn1", 6.0),
    FreeRamRecord("rn1", 2048, 6.5),
    KillfileRecord("rn1", KillfileOrder.KILL, 6.7),
    TickRecord(7.0),
    LicenceRecord("shave", 10, 8.0),
    PoolRecord("gpu"),
    EditRecord("pause", {"id": 1, "kill": False}, 9.0),
]


def test_there_is_one_class_per_kind_and_each_is_tested() -> None:
    assert {type(r) for r in ONE_OF_EACH} == set(RECORD_KINDS.values())
    assert sorted(RECORD_KINDS) == sorted({"submit", "hello", "ready", "update", "release", "left", "tick",
                                           "licence", "pool", "edit", "free_ram", "killfile"})


@pytest.mark.parametrize("record", ONE_OF_EACH, ids=lambda r: r.KIND)
def test_every_record_survives_msgpack(record: AnyRecord) -> None:
    data = msgpack.unpackb(msgpack.packb(record.to_data(), use_bin_type=True), raw=False, strict_map_key=False)
    assert data[0] == record.KIND
    assert decode_record(data) == record


def test_the_encoding_is_the_kind_then_the_fields_in_order() -> None:
    assert UpdateRecord(3, 1, 4.0, DONE, None, None, None).to_data() == ["update", 3, 1, 4.0, DONE, None, None, None]
    assert HelloRecord(rn("a"), ((1, 2),), 0.5).to_data()[2] == [[1, 2]]
    assert SubmitRecord({"name": "g"}, 1.0, "r").to_data() == ["submit", {"name": "g"}, 1.0, "r"]


def test_a_submit_record_of_format_1_or_2_has_no_request_id() -> None:
    assert decode_record(["submit", {"name": "g"}, 1.0]) == SubmitRecord({"name": "g"}, 1.0, None)


@pytest.mark.parametrize(("data", "error"), [
    (["dance", 1], ValueError),
    ([], ValueError),
    ("pool", ValueError),
    (["ready", "rn1"], ValueError),  # a field missing
    (["tick", 1.0, 2.0], ValueError),  # one too many
    (["submit", {}, 1.0, "r", "extra"], ValueError),
])
def test_a_malformed_record_is_refused_whole(data: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        decode_record(data)


def test_replay_gives_the_live_state_and_counts_what_the_core_refused(caplog: pytest.LogCaptureFixture) -> None:
    live = SchedulingCore()
    journal: list[tuple[int, Any]] = []
    records: list[AnyRecord] = [PoolRecord("default"), HelloRecord(rn("rn1", slots=2), (), 1.0),
                                SubmitRecord(single("t", 3), 2.0), ReadyRecord("rn1", 2, 3.0)]
    decisions = []
    for record in records:
        decisions += decisions_of(record.apply(live))
        journal.append((len(journal) + 1, record.to_data()))
    (first, _) = assigns(decisions)
    done = UpdateRecord(first.command_id, first.attempt, 4.0, DONE, 1.0, "ok", None)
    decisions_of(done.apply(live))
    journal.append((5, done.to_data()))
    refused_live = EditRecord("resume", {"id": 999}, 5.0)  # refused live too: journalled all the same
    with pytest.raises(CoreError):
        refused_live.apply(live)
    journal.append((6, refused_live.to_data()))
    journal.append((7, ["dance"]))  # unreadable: skipped and logged

    rebuilt = SchedulingCore()
    faults = Faults()
    with caplog.at_level(logging.DEBUG, logger="puli_mesh.coordinator.records"):
        assert replay(rebuilt, journal, faults) == 2
    assert rebuilt.snapshot() == live.snapshot()
    assert faults.counts == {REPLAY_FAULT: 1}  # the unreadable one; a refusal is no fault
    assert "journal record 7 could not be replayed" in caplog.text
    assert "journal record 6 refused" in caplog.text


def test_decisions_of_every_result_shape() -> None:
    core = SchedulingCore()
    core.node_joined(rn("rn1"), 0.0)
    core.request_work("rn1", 1, 0.0)
    submitted = SubmitRecord(single("t", 1), 1.0).apply(core)
    assert [d.command_id for d in assigns(decisions_of(submitted))] == [1]
    keep, kill, _ = reconciled = HelloRecord(rn("rn1"), ((1, 1),), 2.0).apply(core)
    assert (keep, kill, decisions_of(reconciled)) == ([1], [], [])
    assert decisions_of(None) == []


def test_replay_rebuilds_a_graph_accepted_under_looser_limits_than_the_successors() -> None:
    loose = SchedulingCore(CoreSettings(graph_limits=GraphLimits(nodes=100)))
    record = SubmitRecord(single("t", 3), 1000.0)
    record.apply(loose)
    strict = SchedulingCore(CoreSettings(graph_limits=GraphLimits(nodes=1, commands_per_task=1)))
    with pytest.raises(InvalidGraphError, match="above the limit of 1"):  # live, it would refuse it
        strict.check_graph(single("t", 3))
    assert replay(strict, [(1, record.to_data())]) == 0
    assert strict.snapshot() == loose.snapshot() and strict.settings.graph_limits.nodes == 1  # restored


def test_a_workers_report_is_journalled_only_when_it_is_news(caplog: pytest.LogCaptureFixture) -> None:
    core = SchedulingCore()
    core.node_joined(rn("rn1", ram=32000), 0.0)  # free RAM 32000 from its HELLO
    assert report_record(core, "rn1", HeartbeatMessage(1), 1.0) is None  # a plain heartbeat
    assert report_record(core, "rn1", HeartbeatMessage(1, free_ram_mb=32000), 1.0) is None  # no news
    assert report_record(core, "rn1", HeartbeatMessage(1, free_ram_mb=900), 1.0) == FreeRamRecord("rn1", 900, 1.0)
    assert report_record(core, "ghost", HeartbeatMessage(1, free_ram_mb=900), 1.0) is None  # unknown node
    with caplog.at_level(logging.WARNING, logger="puli_mesh.coordinator.records"):
        assert report_record(core, "rn1", HeartbeatMessage(1, free_ram_mb=-5), 1.0) is None
        assert report_record(core, "rn1", HeartbeatMessage(1, free_ram_mb=1 << 60), 1.0) == FreeRamRecord(
            "rn1", MAX_REPORTED_RAM_MB, 1.0)
        assert report_record(core, "rn1", KillfileMessage("explode"), 1.0) is None
    assert "-5 MB reported by rn1 refused" in caplog.text and "'explode' is no killfile order" in caplog.text
    assert report_record(core, "rn1", KillfileMessage("off"), 1.0) is None  # not held: no news
    assert report_record(core, "rn1", KillfileMessage("pause"), 1.0) == KillfileRecord(
        "rn1", KillfileOrder.PAUSE, 1.0)
    KillfileRecord("rn1", KillfileOrder.PAUSE, 1.0).apply(core)
    assert report_record(core, "rn1", KillfileMessage("pause"), 2.0) is None  # said again after a WELCOME
    assert report_record(core, "rn1", KillfileMessage("kill"), 2.0) is not None  # a kill always is


def test_replayed_reports_give_the_live_decisions() -> None:
    live = SchedulingCore()
    records: list[AnyRecord] = [PoolRecord("default"), HelloRecord(rn("rn1", slots=2, ram=8000), (), 1.0),
                                FreeRamRecord("rn1", 1000, 1.5),
                                SubmitRecord(single("t", 2, ramUse=3000, maxNbCores=1), 2.0),
                                ReadyRecord("rn1", 2, 3.0), FreeRamRecord("rn1", 7000, 4.0),
                                KillfileRecord("rn1", KillfileOrder.KILL, 5.0)]
    decisions = [d for record in records for d in decisions_of(record.apply(live))]
    assert len(assigns(decisions)) == 2  # none at 1000 MB free, two once 7000 MB were reported
    rebuilt = SchedulingCore()
    assert replay(rebuilt, [(i, r.to_data()) for i, r in enumerate(records, 1)]) == 0
    assert rebuilt.snapshot() == live.snapshot()

"""The RAM over-use rule: sampling, threshold, a report once, the kill when asked (pure)."""

from puli_mesh.node.ram_watch import (
    LOOK_EVERY_S,
    RamVerdict,
    RamWatch,
    overuse_message,
    ram_watch_for,
    size_text,
)


def test_a_command_that_booked_no_ram_is_never_watched() -> None:
    assert ram_watch_for(0, True) is None
    assert ram_watch_for(50, None) == RamWatch(50, kill=False)
    assert ram_watch_for(50, True) == RamWatch(50, kill=True)


def test_memory_is_read_at_most_every_look_interval() -> None:
    watch = RamWatch(100)
    watch.started(0.0)
    assert not watch.look_due(LOOK_EVERY_S - 0.01), "a frame shorter than an interval is never read"
    assert watch.look_due(LOOK_EVERY_S)
    watch.saw(10, 0.0)
    assert not watch.look_due(LOOK_EVERY_S - 0.01)
    assert watch.look_due(LOOK_EVERY_S)


def test_within_the_booking_nothing_happens_and_the_peak_is_kept() -> None:
    watch = RamWatch(100)
    assert watch.saw(80, 0.0) is RamVerdict.NOTHING
    assert watch.saw(100, 2.0) is RamVerdict.NOTHING  # exactly what it booked is no over-use
    assert watch.saw(30, 4.0) is RamVerdict.NOTHING
    assert watch.peak_mb == 100
    assert not watch.reported


def test_an_overuse_is_reported_once_with_its_peak() -> None:
    watch = RamWatch(4096)
    assert watch.saw(5000, 0.0) is RamVerdict.REPORT
    assert watch.saw(5324.8, 2.0) is RamVerdict.NOTHING  # reported already
    assert watch.saw(3000, 4.0) is RamVerdict.NOTHING
    assert watch.saw(6000, 6.0) is RamVerdict.NOTHING
    assert watch.message == "used 5.9 GB, booked 4 GB (ramUse)"


def test_the_final_message_keeps_a_reported_overuse() -> None:
    watch = RamWatch(50)
    assert watch.end_message("1 frame(s) done") == "1 frame(s) done", "nothing to add before an over-use"
    watch.saw(200, 0.0)
    watch.saw(250, 2.0)
    assert watch.end_message("1 frame(s) done") == "1 frame(s) done; used 250 MB, booked 50 MB (ramUse)"
    assert watch.end_message("") == "used 250 MB, booked 50 MB (ramUse)"
    killing = RamWatch(50, kill=True)
    killing.saw(200, 0.0)
    assert killing.end_message("killed") == "killed", "a kill's message says it already"


def test_an_overuse_kills_when_the_task_asks_for_it() -> None:
    watch = RamWatch(50, kill=True)
    assert watch.saw(40, 0.0) is RamVerdict.NOTHING
    assert watch.saw(200, 2.0) is RamVerdict.KILL
    assert watch.message == "used 200 MB, booked 50 MB (ramUse)"


def test_sizes_read_as_people_read_them() -> None:
    assert size_text(300) == "300 MB"
    assert size_text(5324.8) == "5.2 GB"
    assert overuse_message(5324.8, 4096) == "used 5.2 GB, booked 4 GB (ramUse)"

"""NIMBY: the pure decision (idle time, window, previous state), the settings, and the watch with a fake idle source."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from puli_mesh.config import load_settings
from puli_mesh.errors import ConfigError
from puli_mesh.node.killfile import KillfileWatch
from puli_mesh.node.nimby import (
    CHECK_EVERY_S,
    MEMBER_KEY,
    TEST_IDLE_FILE,
    InputIdle,
    NimbyRules,
    NimbyState,
    NimbyStep,
    NimbyWatch,
    NoWatch,
    Window,
    device_idle_s,
    nimby_step,
    parse_window,
    watch_for,
)
from puli_mesh.protocol import KillfileOrder

OFF, PAUSE, KILL = KillfileOrder.OFF, KillfileOrder.PAUSE, KillfileOrder.KILL
IDLE, ACTIVE, OUTSIDE = NimbyState.IDLE, NimbyState.USER_ACTIVE, NimbyState.OUTSIDE_WINDOW
NIGHT = parse_window("20:00-08:00")
RULES = NimbyRules(idle_s=900.0, window=NIGHT)


def at(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


@pytest.mark.parametrize(("text", "window"), [
    ("20:00-08:00", Window(1200, 480)),
    (" 9:30 - 17:45 ", Window(570, 1065)),
    ("", None),
])
def test_a_window_is_parsed_to_minutes_of_the_day(text: str, window: Window | None) -> None:
    assert parse_window(text) == window


@pytest.mark.parametrize("text", ["20:00", "24:00-08:00", "20:60-08:00", "8-9", "20:00-20:00", "a:b-c:d",
                                  "20:00-08:00-09:00"])
def test_a_bad_window_is_refused_saying_why(text: str) -> None:
    with pytest.raises(ConfigError, match="nimby_window"):
        parse_window(text)


@pytest.mark.parametrize(("clock", "inside"), [
    ("20:00", True), ("23:59", True), ("00:00", True), ("07:59", True),  # wraps midnight
    ("08:00", False), ("12:00", False), ("19:59", False),
])
def test_a_window_wrapping_midnight(clock: str, inside: bool) -> None:
    assert NIGHT is not None and NIGHT.contains(at(clock)) is inside


def test_a_day_window_does_not_wrap() -> None:
    day = Window(at("09:00"), at("17:00"))
    assert day.contains(at("09:00")) and day.contains(at("16:59"))
    assert not day.contains(at("17:00")) and not day.contains(at("08:59")) and not day.contains(at("23:00"))


@pytest.mark.parametrize(("idle_s", "clock", "previous", "step"), [
    (None, "22:00", None, NimbyStep(IDLE, OFF, OFF)),  # no input source: nobody sits there; first look told
    (900.0, "22:00", IDLE, NimbyStep(IDLE, OFF, None)),  # idle long enough, inside: takes work, nothing new
    (899.0, "22:00", None, NimbyStep(ACTIVE, PAUSE, KILL)),
    (0.2, "22:00", IDLE, NimbyStep(ACTIVE, PAUSE, KILL)),  # the user came back: frames die
    (30.0, "22:00", ACTIVE, NimbyStep(ACTIVE, PAUSE, None)),  # still there: told once
    (5.0, "12:00", OUTSIDE, NimbyStep(ACTIVE, PAUSE, KILL)),  # a user wins over the window: what drains dies
    (3600.0, "08:00", IDLE, NimbyStep(OUTSIDE, PAUSE, PAUSE)),  # the window closed: what runs finishes
    (3600.0, "12:00", ACTIVE, NimbyStep(OUTSIDE, PAUSE, PAUSE)),
    (3600.0, "20:00", OUTSIDE, NimbyStep(IDLE, OFF, OFF)),  # the window opened
    (3600.0, "03:00", ACTIVE, NimbyStep(IDLE, OFF, OFF)),  # the user left, at night
])
def test_each_situation_has_its_step(idle_s: float | None, clock: str, previous: NimbyState | None,
                                     step: NimbyStep) -> None:
    assert nimby_step(idle_s, at(clock), RULES, previous) == step


def test_without_a_window_only_the_user_counts() -> None:
    rules = NimbyRules(idle_s=60.0)
    assert nimby_step(61.0, at("12:00"), rules, None).state is IDLE
    assert nimby_step(59.0, at("03:00"), rules, IDLE).state is ACTIVE


def test_the_settings_are_checked_together(tmp_path: Path) -> None:
    assert load_settings(environ={}).nimby == "off"
    settings = load_settings(environ={"PULI_NIMBY": "idle", "PULI_NIMBY_WINDOW": "20:00-08:00",
                                      "PULI_NIMBY_IDLE_MINUTES": "5"})
    assert (settings.nimby, settings.nimby_idle_minutes, settings.nimby_window) == ("idle", 5.0, "20:00-08:00")
    for overrides, says in [({"nimby": "sometimes"}, "none of off, killfile, idle"),
                            ({"nimby": "killfile"}, "needs the killfile setting"),
                            ({"nimby": "idle", "killfile": str(tmp_path / "kf")}, "choose one"),
                            ({"nimby": "idle", "nimby_idle_minutes": -1}, "must not be negative"),
                            ({"nimby": "idle", "nimby_window": "late"}, "HH:MM-HH:MM")]:
        with pytest.raises(ConfigError, match=says):
            load_settings(environ={}, overrides=overrides)


class Obedient:
    def __init__(self) -> None:
        self.running: dict[int, object] = {}
        self.orders: list[tuple[KillfileOrder, KillfileOrder | None]] = []

    def obey_killfile(self, order: KillfileOrder, report: KillfileOrder | None) -> None:
        self.orders.append((order, report))


def test_watch_for_gives_the_watch_each_setting_asks(tmp_path: Path) -> None:
    worker = Obedient()
    assert isinstance(watch_for("off", "", 15.0, "", worker), NoWatch)
    assert isinstance(watch_for("off", str(tmp_path / "kf"), 15.0, "", worker), KillfileWatch)  # as before
    assert isinstance(watch_for("killfile", str(tmp_path / "kf"), 15.0, "", worker), KillfileWatch)
    idle = watch_for("idle", "", 15.0, "20:00-08:00", worker)
    assert isinstance(idle, NimbyWatch) and idle.rules == NimbyRules(900.0, NIGHT)


def test_the_watch_holds_while_the_user_works_and_frees_the_node_when_they_leave() -> None:
    idle_s = [0.0]
    clock = [time.mktime((2026, 12, 3, 22, 0, 0, 0, 0, -1))]  # 22:00 local: inside the night window
    worker = Obedient()
    watch = NimbyWatch(RULES, worker, lambda _wall: idle_s[0], clock=lambda: clock[0])
    assert watch.tick(0.0) is None
    assert worker.orders == [(PAUSE, KILL)] and watch.news() and not watch.news()
    assert watch.member_data() == {MEMBER_KEY: "user active"}
    watch.tick(CHECK_EVERY_S / 2)  # not due: the source is not read
    idle_s[0] = 1000.0
    watch.tick(CHECK_EVERY_S / 2)
    assert len(worker.orders) == 1
    watch.tick(CHECK_EVERY_S)
    assert worker.orders[-1] == (OFF, OFF) and watch.member_data() == {MEMBER_KEY: ""} and watch.news()
    watch.tick(2 * CHECK_EVERY_S)
    assert len(worker.orders) == 2 and not watch.news()  # nothing new: nothing told
    idle_s[0] = 0.1  # a key pressed
    watch.tick(3 * CHECK_EVERY_S)
    assert worker.orders[-1] == (PAUSE, KILL)
    idle_s[0], clock[0] = 5000.0, clock[0] + 11 * 3600  # 09:00 the next morning, nobody there
    watch.tick(4 * CHECK_EVERY_S)
    assert worker.orders[-1] == (PAUSE, PAUSE) and watch.member_data() == {MEMBER_KEY: "outside window"}


def test_device_idle_is_the_time_since_the_newest_touched_device(tmp_path: Path) -> None:
    old, new = tmp_path / "pts0", tmp_path / "event3"
    old.touch()
    new.touch()
    os.utime(old, (1000.0, 1000.0))
    os.utime(new, (1500.0, 1400.0))  # read at 1500 (atime), written at 1400
    assert device_idle_s(1600.0, [str(old), str(new), str(tmp_path / "gone")]) == 100.0
    assert device_idle_s(1200.0, [str(new)]) == 0.0  # a clock behind the device: just now
    assert device_idle_s(1600.0, [str(tmp_path / "gone")]) is None


def test_the_test_file_stands_for_the_devices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    forced = tmp_path / "idle"
    forced.write_text("42.5\n")
    monkeypatch.setenv(TEST_IDLE_FILE, str(forced))
    assert InputIdle()(time.time()) == 42.5
    forced.write_text("not a number")
    assert InputIdle()(time.time()) is None

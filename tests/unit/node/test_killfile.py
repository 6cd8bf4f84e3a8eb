"""The killfile: what each content asks (pure), and the watch that reads the file once per change."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from puli_mesh.node.killfile import (
    CHECK_EVERY_S,
    EXIT_KILLFILE_RESTART,
    EXIT_KILLFILE_STOP,
    EXIT_WAIT_MIN_S,
    KillfileStep,
    KillfileWatch,
    killfile_step,
)
from puli_mesh.protocol import KillfileOrder

OFF, PAUSE, KILL = KillfileOrder.OFF, KillfileOrder.PAUSE, KillfileOrder.KILL


@pytest.mark.parametrize(("content", "previous", "step"), [
    (None, None, KillfileStep(OFF, OFF)),  # the first look is always told
    (None, OFF, KillfileStep(OFF, None)),
    (None, PAUSE, KillfileStep(OFF, OFF)),
    ("0\n", PAUSE, KillfileStep(OFF, OFF)),  # Puli's POST /pause "0"
    ("", OFF, KillfileStep(PAUSE, PAUSE)),
    ("  \n", PAUSE, KillfileStep(PAUSE, None)),
    ("-1", OFF, KillfileStep(PAUSE, KILL, rewrite=True)),
    ("-1\n", PAUSE, KillfileStep(PAUSE, KILL, rewrite=True)),  # a kill is always told
    ("-2", OFF, KillfileStep(PAUSE, KILL, rewrite=True, exit_code=EXIT_KILLFILE_STOP)),
    ("-3", PAUSE, KillfileStep(PAUSE, KILL, rewrite=True, exit_code=EXIT_KILLFILE_RESTART)),
    ("gone fishing", OFF, KillfileStep(PAUSE, PAUSE, unknown=True)),
    ("-4", PAUSE, KillfileStep(PAUSE, None, unknown=True)),
])
def test_each_content_asks_its_step(content: str | None, previous: KillfileOrder | None, step: KillfileStep) -> None:
    assert killfile_step(content, previous) == step


class Obedient:
    def __init__(self) -> None:
        self.running: dict[int, object] = {}
        self.orders: list[tuple[KillfileOrder, KillfileOrder | None]] = []

    def obey_killfile(self, order: KillfileOrder, report: KillfileOrder | None) -> None:
        self.orders.append((order, report))


def test_the_watch_acts_once_per_write_and_empties_the_file_after_a_kill(tmp_path: Path) -> None:
    path = tmp_path / "killfile"
    worker = Obedient()
    watch = KillfileWatch(path, worker)
    assert watch.tick(0.0) is None and worker.orders == [(OFF, OFF)]
    assert watch.tick(0.5) is None and len(worker.orders) == 1  # not due yet
    path.write_text("-1")
    assert watch.tick(1.0) is None
    assert worker.orders[-1] == (PAUSE, KILL) and path.read_text() == ""  # stays paused
    watch.tick(2.0)
    watch.tick(3.0)
    assert len(worker.orders) == 2  # the emptied file changed nothing: no second kill
    path.unlink()
    watch.tick(4.0)
    assert worker.orders[-1] == (OFF, OFF)


def test_an_unknown_content_pauses_with_one_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "killfile"
    path.write_text("please")
    worker = Obedient()
    watch = KillfileWatch(path, worker)
    with caplog.at_level(logging.WARNING, logger="puli_mesh.node.killfile"):
        watch.tick(0.0)
        path.write_text("please")  # written again, the same content
        watch.tick(1.0 + CHECK_EVERY_S)
    assert worker.orders[0] == (PAUSE, PAUSE)
    assert caplog.text.count("holds 'please'") == 1


def test_a_minus_two_leaves_once_the_leader_has_killed_what_ran(tmp_path: Path) -> None:
    path = tmp_path / "killfile"
    path.write_text("-2")
    worker = Obedient()
    worker.running = {7: object()}
    watch = KillfileWatch(path, worker)
    assert watch.tick(0.0) is None and worker.orders == [(PAUSE, KILL)]
    assert watch.tick(EXIT_WAIT_MIN_S + 0.1) is None  # command 7 still runs
    worker.running = {}
    assert watch.tick(EXIT_WAIT_MIN_S + 0.2) == EXIT_KILLFILE_STOP
    assert path.read_text() == ""  # the restarted agent stays paused, and does not leave again

"""``puli-mesh top``'s shares panel through real agents, in a real 80-column terminal (tmux):
with a share tree set, each account's use is shown against its guarantee and cap, flagged
when it is below its guarantee with work waiting or at its cap, a quota against its max, the
pool's preemption in the title, and the figures follow the commands as they end (gated: the
test ends each one)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

from .conftest import Mesh, wait_for
from .test_cli_coverage import Gates, ok, submitted
from .test_cli_operating import cli
from .test_shares import gates as gates  # the fixture, by its name (a redundant alias: a re-export)


def rows(screen: str) -> list[list[str]]:
    """The cells of each line of a screen (cells stand two spaces apart or more, or at a border)."""
    return [[cell.strip() for cell in re.split(r" {2,}|│", line.strip()) if cell.strip()]
            for line in screen.splitlines()]


class Terminal:
    """A command running in a detached tmux session of 80 x 30, on a tmux server of its own: a
    shared server would run the command with the environment of whoever started the server
    (another test's ``PULI_KEY``, under pytest-xdist)."""

    def __init__(self, command: str) -> None:
        self.session = f"topshares-{os.getpid()}-{time.monotonic_ns()}"
        self.tmux = ["tmux", "-L", self.session]
        subprocess.run([*self.tmux, "new-session", "-d", "-s", self.session, "-x", "80", "-y", "30", command],
                       check=True)

    def screen(self) -> str:
        return subprocess.run([*self.tmux, "capture-pane", "-p", "-t", self.session], capture_output=True,
                              text=True).stdout

    def showing(self, *expected: list[str]) -> str | None:
        """The screen if each of ``expected`` is a line's cells or a run of them (the panels of
        the top row share lines), else None."""
        text = self.screen()
        shown = [" | ".join(["", *row, ""]) for row in rows(text)]
        runs = [" | ".join(["", *cells, ""]) for cells in expected]
        return text if all(any(run in line for line in shown) for run in runs) else None

    def close(self) -> None:
        subprocess.run([*self.tmux, "kill-server"], capture_output=True, check=False)


def test_top_shows_each_accounts_use_against_its_guarantee_and_cap(mesh: Mesh, gates: Gates) -> None:
    # No pipelining: a node sent commands ahead would hold more than its slots' worth of use.
    mesh.start_agent("rn1", slots=2, extra=["--pipeline", "0"])
    mesh.wait_ready(1)
    terminal = Terminal(f"{sys.executable} -m puli_mesh top --node {mesh.agents['rn1'].address} --interval 0.5")
    try:
        wait_for(lambda: terminal.showing(["node", "state", "use", "cpu", "free"]), 30, "top to draw")
        assert "shares" not in terminal.screen()  # no share tree: top as before

        ok(cli(mesh, "shares", "set", "default/film", "--min", "2", "--weight", "2"))
        ok(cli(mesh, "shares", "set", "default/rnd", "--max", "1"))
        ok(cli(mesh, "shares", "quota", "project/rnd", "--max", "1"))
        ok(cli(mesh, "shares", "preempt", "default", "on", "--after", "600"))  # shown; never reached here
        wait_for(lambda: terminal.showing(["default/film", "0", "2", "-", "2"], ["default/rnd", "0", "0", "1", "1"],
                                          ["quota project/rnd", "0", "-", "1", "-"]),
                 30, "the shares panel with the quota")
        wait_for(lambda: "preempts: default after 600 s" in terminal.screen(), 30, "the pool's preemption in the title")

        submitted(cli(mesh, "exec", gates.command("r%%MI_FRAME%%"), "--end", "3", "--prod", "rnd", "--name", "rnd"))
        gates.wait_runs(1, "rnd to get its one slot (its cap)")
        submitted(cli(mesh, "exec", gates.command("f%%MI_FRAME%%"), "--end", "3", "--prod", "film", "--name", "film"))
        text = wait_for(lambda: terminal.showing(["default/film", "1", "2", "-", "2", "below min"],
                                                 ["default/rnd", "1", "0", "1", "1", "at cap"],
                                                 ["quota project/rnd", "1", "-", "1", "-", "at quota"]),
                        30, "film below its guarantee with frames waiting, rnd at its cap")
        assert all(len(line) <= 80 for line in text.splitlines())

        gates.open("r1")  # the slot rnd frees goes to film, below its guarantee
        wait_for(lambda: terminal.showing(["default/film", "2", "2", "-", "2"], ["default/rnd", "0", "0", "1", "1"]),
                 30, "film at its guarantee, rnd without a slot")
        shown = rows(terminal.screen())
        assert not any(row[:1] == ["default/film"] and row[-1] in ("below min", "at cap") for row in shown)
    finally:
        terminal.close()

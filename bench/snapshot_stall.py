"""Benchmark: how long taking a snapshot holds the leader's loop (run by hand).

    python bench/snapshot_stall.py [--commands N]

Builds a core in memory holding N commands (default 1,000,000: 100 graphs of 100 tasks,
1,000 render nodes of 4 slots, 50,000 commands done and 4,000 running), then takes a
snapshot two ways while a stand-in loop dispatches (each turn: a command ends DONE, its
node asks for more work; what the leader's loop does all day):

* before (the old way): ``core.snapshot()`` on the loop, then a thread packs it (the
  loop's gaps while the thread holds the GIL count too);
* after: ``background_snapshot.start`` forks on the loop; the child dumps and packs;
  a thread reads the bytes from the pipe.

The loop is "held" for the longest gap between two of its turns, the call itself
included. ``--ballast-mb M`` adds M MB of resident memory the child never touches: the
fork of a larger leader (it copies page tables, in proportion to the resident set).

Progress on stderr, ONE JSON line on stdout: ``snapshot_stall_ms_<N>`` before
and after, the fork alone, the child's wall time, the packed size, the memory (the
loop's resident set, and the most the child's own pages reached: copy-on-write), and
``python_loop_ns`` (a trivial Python loop's cost per turn) to judge the machine.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from core_dispatch import build_core  # noqa: E402

from puli_mesh.coordinator import background_snapshot  # noqa: E402
from puli_mesh.coordinator.core import SchedulingCore  # noqa: E402
from puli_mesh.coordinator.decisions import Assign  # noqa: E402
from puli_mesh.coordinator.journal import pack  # noqa: E402
from puli_mesh.node.agent import GC_THRESHOLDS  # noqa: E402
from puliclient.status import CommandStatus  # noqa: E402

DONE = int(CommandStatus.DONE)
NODES = 1000


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class Dispatch:
    """The stand-in loop: each ``turn`` ends one running command and asks for more work."""

    def __init__(self, core: SchedulingCore) -> None:
        self.core = core
        self.queue: deque[Assign] = deque()
        self.now = 1.0
        for i in range(NODES):
            self._take(core.request_work(f"rn{i:04d}", 4, self.now))

    def _take(self, decisions: list[Any]) -> None:
        self.queue.extend(d for d in decisions if isinstance(d, Assign))

    def turn(self) -> None:
        if not self.queue:
            return  # every command ran (a small --commands): the loop only turns
        a = self.queue.popleft()
        self.now += 0.001
        self.core.command_started(a.command_id, a.attempt, self.now)
        out = self.core.command_update(a.command_id, a.attempt, self.now, status=DONE)
        self._take(out + self.core.request_work(a.node, 1, self.now))

    def run_while(self, busy: threading.Event) -> tuple[float, int]:
        """Turn (sleeping 1 ms between turns, as a loop waiting on its sockets) until ``busy``
        is cleared; the longest gap between two turns (s), and how many turns."""
        worst, count, last = 0.0, 0, time.perf_counter()
        while busy.is_set():
            self.turn()
            time.sleep(0.001)
            t = time.perf_counter()
            worst = max(worst, t - last - 0.001)
            last, count = t, count + 1
        return worst, count


def beside_the_loop(loop: Dispatch, work: Callable[[], dict[str, Any]]) -> tuple[float, int, dict[str, Any]]:
    """Run ``work`` on a thread while the stand-in loop dispatches: the loop's worst gap, its
    turns, and what ``work`` returned."""
    busy = threading.Event()
    busy.set()
    out: dict[str, Any] = {}

    def run() -> None:
        out.update(work())
        busy.clear()

    threading.Thread(target=run).start()
    gap, turns = loop.run_while(busy)
    return gap, turns, out


def before(core: SchedulingCore, loop: Dispatch) -> tuple[float, float, float, int]:
    """The old way: the loop's stall (dump on the loop, then the loop's worst gap while a thread
    packs), the dump and pack times, the packed size."""
    rss = psutil.Process().memory_info().rss
    t0 = time.perf_counter()
    state = core.snapshot()
    dump_s = time.perf_counter() - t0
    grown = (psutil.Process().memory_info().rss - rss) / 2**20
    log(f"  before: the dumped state grew the loop's process by {grown:.0f} MB")
    def write() -> dict[str, Any]:
        t = time.perf_counter()
        blob = pack(state)
        return {"blob": blob, "pack_s": time.perf_counter() - t}

    gap, turns, out = beside_the_loop(loop, write)
    log(f"  before: dump on the loop {dump_s * 1e3:.0f} ms; pack on a thread {out['pack_s'] * 1e3:.0f} ms, "
        f"the loop's worst gap meanwhile {gap * 1e3:.0f} ms ({turns} turns)")
    return dump_s + gap, dump_s, out["pack_s"], len(out["blob"])


def after(core: SchedulingCore, loop: Dispatch) -> tuple[float, float, float, int]:
    """The fork: the loop's stall (the fork, then its worst gap while the child works), the fork
    alone, the child's wall time until its bytes are read, the packed size."""
    t0 = time.perf_counter()
    pending = background_snapshot.start(core)
    fork_s = time.perf_counter() - t0
    def read() -> dict[str, Any]:
        blob = pending.packed()
        return {"blob": blob, "child_s": time.perf_counter() - t0}

    gap, turns, out = beside_the_loop(loop, read)
    log(f"  after: fork {fork_s * 1e3:.1f} ms; child {out['child_s']:.1f} s, the loop's worst gap "
        f"meanwhile {gap * 1e3:.1f} ms ({turns} turns)")
    return max(fork_s, gap), fork_s, out["child_s"], len(out["blob"])


def child_memory(core: SchedulingCore) -> tuple[float, float]:
    """The loop's resident MB, and the most MB of the child's own (copied) pages, sampled."""
    me = psutil.Process()
    rss = me.memory_info().rss / 2**20
    pending = background_snapshot.start(core)
    child = psutil.Process(pending._pid)
    peak = 0.0
    done = threading.Event()
    threading.Thread(target=lambda: (pending.packed(), done.set())).start()
    while not done.is_set():
        try:
            peak = max(peak, child.memory_full_info().uss / 2**20)
        except psutil.Error:
            break
        time.sleep(0.05)
    done.wait()
    return rss, peak


def python_loop_ns() -> float:
    n = 5_000_000
    t = time.perf_counter()
    x = 0
    for i in range(n):
        x += i
    return (time.perf_counter() - t) / n * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--commands", type=int, default=1_000_000)
    parser.add_argument("--ballast-mb", type=int, default=0,
                        help="grow the process by this much untouched-by-the-child memory, to see what "
                             "the fork costs a larger leader (its page tables)")
    args = parser.parse_args()
    n = args.commands
    gc.set_threshold(*GC_THRESHOLDS)  # as the agent runs
    log(f"building {NODES} render nodes and {n:,} commands...")
    t = time.perf_counter()
    core = build_core(NODES, 100, 100, n // 10_000)
    loop = Dispatch(core)
    for _ in range(50_000):
        loop.turn()
    log(f"  built in {time.perf_counter() - t:.1f}s; {len(loop.queue)} running")
    ballast = bytearray(args.ballast_mb * 2**20)
    ballast[::4096] = bytes(len(range(0, len(ballast), 4096)))  # written: its pages are resident
    stall_before, dump_s, pack_s, _size = before(core, loop)
    stall_after, fork_s, child_s, size = after(core, loop)
    rss, child_peak = child_memory(core)
    log(f"  memory: the loop's process {rss:.0f} MB; the child's own pages at most {child_peak:.0f} MB")
    result = {
        f"snapshot_stall_ms_{n}_before": round(stall_before * 1e3, 1),
        f"snapshot_stall_ms_{n}_after": round(stall_after * 1e3, 1),
        "dump_ms_before": round(dump_s * 1e3),
        "pack_ms_before": round(pack_s * 1e3),
        "fork_ms": round(fork_s * 1e3, 1),
        "child_s": round(child_s, 2),
        "snapshot_mb": round(size / 2**20, 1),
        "loop_rss_mb": round(rss),
        "child_own_mb_peak": round(child_peak),
        "python_loop_ns": round(python_loop_ns(), 1),
    }
    print(json.dumps(result))
    del ballast


if __name__ == "__main__":
    main()

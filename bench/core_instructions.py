"""Instructions per scheduling decision, counted by valgrind (run by hand; needs ``valgrind``).

    python bench/core_instructions.py [--small]

The drains of ``core_dispatch.py`` (plain, and the studio workload: share tree and
frame-by-frame dependencies) run under ``valgrind --tool=cachegrind --cache-sim=no``, each
twice: once only built, once built and drained; the difference divided by the decisions is
the drain's cost in machine instructions per decision. Unlike a rate it does not move with the
machine's load or speed (same interpreter, same ``PYTHONHASHSEED``), so two commits are
compared with one run each, on a machine where rates wander by a quarter between runs. It
counts instructions, not time: cache misses and branch mispredictions are left out, so a
workload that touches more memory costs somewhat more time than its count says.

Prints ONE JSON line: ``instructions_per_decision_plain``, ``instructions_per_decision_studio``
and ``studio_vs_plain`` (the ratio of the per-decision costs, plain over studio: what
``core_dispatch.py``'s ``studio_vs_plain`` estimates from rates). ``--small`` uses 250 nodes and
25,000 commands (about a minute) instead of the bench's 1,000 nodes and 100,000 (about five).
Copied into the ``bench/`` of an older checkout, whose ``core_dispatch.py`` has no studio
workload, it measures the plain drain alone: how a commit compares with one before it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import core_dispatch  # noqa: E402  (a sibling script, not a package)

SIZES = {"bench": (1000, 100, 10, 100), "small": (250, 25, 10, 100)}
"""(nodes, graphs, tasks per graph, commands per task) of each size."""


def child(workload: str, size: str, drain: bool) -> None:
    """What valgrind runs: build the core (and drain it)."""
    nodes, graphs, tasks, per_task = SIZES[size]
    if workload == "studio":
        core = core_dispatch.build_core(nodes, graphs, tasks, per_task, core_dispatch.Studio(4, 3))
    else:  # as older versions of core_dispatch take it: this script measures their plain drain too
        core = core_dispatch.build_core(nodes, graphs, tasks, per_task)
    if drain:
        core_dispatch.drain(core, nodes, graphs * tasks * per_task)


def instructions(workload: str, size: str, drain: bool) -> int:
    """The instructions valgrind counted for one child run."""
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    args = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
            sys.executable, __file__, "--child", workload, size, "1" if drain else "0"]
    out = subprocess.run(args, env=env, capture_output=True, text=True, check=True).stderr
    found = re.search(r"I\s+refs:\s+([\d,]+)", out)
    if found is None:
        raise SystemExit(f"no instruction count in valgrind's output:\n{out[-2000:]}")
    return int(found.group(1).replace(",", ""))


def per_decision(workload: str, size: str) -> int:
    nodes, graphs, tasks, per_task = SIZES[size]
    with ThreadPoolExecutor(2) as pool:  # the two runs of a workload side by side
        built, drained = pool.map(lambda d: instructions(workload, size, d), (False, True))
    return round((drained - built) / (graphs * tasks * per_task))


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4] == "1")
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", help="250 nodes and 25,000 commands")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    size = "small" if args.small else "bench"
    workloads = ("plain", "studio") if hasattr(core_dispatch, "Studio") else ("plain",)
    result: dict[str, float] = {f"instructions_per_decision_{w}": per_decision(w, size) for w in workloads}
    if "studio" in workloads:
        result["studio_vs_plain"] = round(
            result["instructions_per_decision_plain"] / result["instructions_per_decision_studio"], 3)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

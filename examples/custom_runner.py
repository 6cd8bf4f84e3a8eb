"""A task run by a custom runner class (see customrunner.py), then a shell check.

    python examples/custom_runner.py --local
"""

from __future__ import annotations

import os
import sys
import tempfile

from _cli import run

from puliclient import Graph

target = os.path.join(tempfile.mkdtemp(prefix="puli_custom_"), "count.txt")
graph = Graph("custom_runner")
count = graph.addNewTask("count", {"path": target, "count": 5},
                         runner="customrunner.CountRunner")
show = graph.addNewTask("show", {"cmd": f"cat {target}"})
show.dependsOn(count)

if __name__ == "__main__":
    sys.exit(run(graph))

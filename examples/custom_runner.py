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
# A render node imports the runner by its dotted path: the module must be on its
# Python path. Studios deploy runners as packages; here the task's environment
# points PYTHONPATH at this directory (the agents run on this machine).
here = os.path.dirname(os.path.abspath(__file__))
count = graph.addNewTask("count", {"path": target, "count": 5},
                         runner="customrunner.CountRunner", environment={"PYTHONPATH": here})
show = graph.addNewTask("show", {"cmd": f"cat {target}"})
show.dependsOn(count)

if __name__ == "__main__":
    sys.exit(run(graph))

# ruff: noqa: UP031, UP028, N816 - written as Puli-era scripts were (their style is what is tested)
"""Submits a task run by ``toolkitrunner.ToolkitRunner`` (a custom runner importing
``from puliclient import RunnerToolkit``) and prints where it went; ``--wait`` waits for the end.

    PULI_NODE=rn1:7100 python examples/puli/toolkit_job.py OUTFILE --wait
"""

import os
import sys

from puliclient import DONE, Graph
from puliclient.farm import Farm

target = sys.argv[1]
graph = Graph("toolkit job", tags={"prod": "prod_name", "shot": "shot_code"})
here = os.path.dirname(os.path.abspath(__file__))
graph.addNewTask("toolkit", runner="toolkitrunner.ToolkitRunner",
                 arguments={"cmd": "echo toolkit > %s" % target}, environment={"PYTHONPATH": here})
location, message = graph.submit()
print(location, message)
if "--wait" in sys.argv:
    final = Farm().wait(Farm.graph_id(location), timeout=120)
    print("graph ended with status %s" % final["status_name"])
    sys.exit(0 if final["status"] == DONE else 1)

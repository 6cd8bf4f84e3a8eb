"""Python callables as tasks: a function and a method, with JSON-serialisable arguments.

    python examples/callables.py --local
"""

from __future__ import annotations

import os
import sys
import tempfile

from _cli import run
from callables_lib import Report, multiply

from puliclient import Graph

report_path = os.path.join(tempfile.mkdtemp(prefix="puli_callables_"), "report.txt")
graph = Graph("callables")
product = graph.addNewCallable(multiply, user_args=(6, 7))
report = graph.addNewCallable(Report().write, name="report",
                              user_kwargs={"path": report_path, "title": "Report",
                                           "lines": ["6 x 7 computed"]})
report.dependsOn(product)

if __name__ == "__main__":
    sys.exit(run(graph))

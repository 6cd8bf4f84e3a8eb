# ruff: noqa: UP031, UP028, N816 - written as Puli-era scripts were (their style is what is tested)
"""A Puli-era submission script that falls back when a runner cannot be loaded here.

Studios wrapped the load in ``except ImportError`` (Puli's ``JobTypeImportError`` is one):
with no renderer installed on the submitting machine, the script uses the default runner.

    python examples/puli/optional_runner.py
"""

from puliclient import Graph
from puliclient.jobs import loadCommandRunner

try:
    runner = loadCommandRunner("studio_renderers.maya.MayaRunner")
    name = "studio_renderers.maya.MayaRunner"
except ImportError as e:
    print("no Maya runner here (%s: %s): falling back to the command line" % (type(e).__name__, e))
    name = "puliclient.jobs.DefaultCommandRunner"

graph = Graph("optional runner")
graph.addNewTask("render", runner=name, arguments={"cmd": "echo rendered"})
print("runner: %s" % graph.root.tasks[0].runner)

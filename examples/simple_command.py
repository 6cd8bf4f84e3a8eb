"""One task, one shell command (Puli's first example).

    python examples/simple_command.py --local
"""

from __future__ import annotations

import sys

from _cli import run

from puliclient import Graph

graph = Graph("simple_command")
graph.addNewTask("hello", {"cmd": "echo hello from $USER_LABEL; sleep 0.1"},
                 environment={"USER_LABEL": "puli"})

if __name__ == "__main__":
    sys.exit(run(graph))

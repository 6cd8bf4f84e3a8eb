"""What every ``puli-mesh`` command module shares: consoles, exit codes, the mesh options, errors.

Exit codes scripts can rely on: 0 success, 1 the request failed (unknown id,
refused edit), 2 bad usage, 3 the mesh or ZooKeeper could not be reached.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True)

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3

ZkOpt = Annotated[str | None, typer.Option("--zk", envvar="PULI_ZK", help="ZooKeeper hosts (reads the leader there).")]
NodeOpt = Annotated[str | None, typer.Option("--node", envvar="PULI_NODE", help="Any agent, HOST:PORT.")]
ClusterOpt = Annotated[str, typer.Option("--cluster", envvar="PULI_CLUSTER", help="Cluster name.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def fail(message: str, code: int = EXIT_FAILED) -> typer.Exit:
    err_console.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")

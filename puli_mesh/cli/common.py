"""What every ``puli-mesh`` command module shares: consoles, the mesh options, the farm, exit codes.

Guarantees: exit codes mean the same for every command, and are decided here
only, from the class of the error (:func:`exit_code`): 0 success, 1 the mesh
refused (unknown id, pool or licence; an edit that makes no sense now), 2 bad
usage (including a request the mesh found malformed), 3 the mesh or ZooKeeper
could not be reached.

Not here: formatting of what the mesh answers (``views``), parsing of option
values (``arguments``), the commands themselves.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from puli_mesh.errors import ConfigError, MeshRequestError, MeshUnreachableError, PuliMeshError, ZooKeeperError
from puliclient.errors import Error as PuliclientError
from puliclient.errors import FarmError, FarmInvalidRequestError, FarmUnreachableError
from puliclient.farm import Farm

console = Console()
err_console = Console(stderr=True)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3

# First match wins: the specific classes before their bases.
EXIT_CODES: tuple[tuple[type[Exception], int], ...] = (
    (FarmUnreachableError, EXIT_UNREACHABLE),
    (ZooKeeperError, EXIT_UNREACHABLE),
    (MeshUnreachableError, EXIT_UNREACHABLE),  # commands that use the wire itself (`keys`)
    (FarmInvalidRequestError, EXIT_USAGE),
    (ConfigError, EXIT_USAGE),
    (FarmError, EXIT_FAILED),
    (PuliclientError, EXIT_FAILED),  # a graph exec could not build, a refused submission
    (PuliMeshError, EXIT_FAILED),
)

ZkOpt = Annotated[str | None, typer.Option("--zk", envvar="PULI_ZK", help="ZooKeeper hosts (reads the leader there).")]
NodeOpt = Annotated[str | None, typer.Option("--node", envvar="PULI_NODE", help="Any agent, HOST:PORT.")]
ClusterOpt = Annotated[str, typer.Option("--cluster", envvar="PULI_CLUSTER", help="Cluster name.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
NameOpt = Annotated[list[str] | None, typer.Option(
    "--name", "-n", help="Name glob, case-sensitive: shot01*_light (* any run, ? one character); "
                         "without * or ?, contained in the name (repeat for several).")]

NO_MESH = "say where the mesh is: --node HOST:PORT or --zk HOSTS (or PULI_NODE / PULI_ZK)"
NO_ZOOKEEPER = "cluster settings live in ZooKeeper: give --zk HOSTS (or PULI_ZK)"


def exit_code(exc: Exception) -> int:
    """The exit code for a command that failed with ``exc``."""
    for cls, code in EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return EXIT_FAILED


def describe(exc: Exception) -> str:
    """The line printed for ``exc``; a refusal of the mesh ends with its code, for scripts and searches."""
    if isinstance(exc, FarmError | MeshRequestError):
        return f"{exc} ({exc.code})"
    return str(exc)


def fail(message: str, code: int = EXIT_FAILED) -> typer.Exit:
    err_console.print(Text.assemble(("error:", "red"), " ", message))  # the message may hold any name
    return typer.Exit(code)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Errors of the mesh, of ZooKeeper, of the settings or of option values as a message and an exit code."""
    try:
        yield
    except (PuliclientError, PuliMeshError) as exc:  # the farm's errors derive from puliclient's
        raise fail(describe(exc), exit_code(exc)) from exc


def farm_for(node: str | None, zk: str | None, cluster: str) -> Farm:
    """The farm the options point at: an agent (``--node`` wins) or the leader read from ZooKeeper."""
    if not node and not zk:
        raise fail(NO_MESH, EXIT_USAGE)
    return Farm(node=node, zk=None if node else zk, cluster=cluster)


def settings_farm(zk: str | None, cluster: str) -> Farm:
    """The farm whose pools and their members are read from ZooKeeper at ``zk`` (no leader needed)."""
    if not zk:
        raise fail(NO_ZOOKEEPER, EXIT_USAGE)
    return Farm(zk=zk, cluster=cluster)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")

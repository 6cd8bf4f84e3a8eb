"""The ``puli-mesh`` command line (the console script and ``python -m puli_mesh``).

Guarantees: every command reaches the mesh through :class:`puliclient.farm.Farm`,
and exit codes mean the same everywhere: 0 ok, 1 the mesh refused, 2 bad usage,
3 the mesh or ZooKeeper could not be reached.

Not here: scheduling, the agent itself, the wire protocol. ``main`` holds the app
and the commands that run things (agent, up) or look at the cluster; ``jobs``,
``top`` the operating commands; ``views`` pure formatting; ``common`` what they share.
"""

from puli_mesh.cli.main import app

__all__ = ["app"]

"""``puli-mesh logs``: a command's log, read from the render node that ran it (also after it ended).

Guarantees: bytes are written as the node stored them (no decoding); ``--follow``
streams until the command is final and its log read to the end, Ctrl-C ends it
quietly. Errors leave through :func:`puli_mesh.cli.common.reported_errors`.
Not here: where logs are kept (the agent's ``node.logs``), finding the node
(:meth:`puliclient.farm.Farm.read_log`).
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from puli_mesh.cli.common import ClusterOpt, NodeOpt, ZkOpt, farm_for, reported_errors


def logs(command_id: Annotated[int, typer.Argument(help="Command id (from `puli-mesh commands` or `show`).")],
         follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing until the command ends.")] = False,
         tail: Annotated[int | None, typer.Option("--tail", help="Only the last N lines (then follow).")] = None,
         node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default") -> None:
    """A command's log, served by the render node that ran it (also after it ended).

    Example: `puli-mesh logs 57 --tail 20`; `puli-mesh logs 57 -f`
    """
    farm = farm_for(node, zk, cluster)
    out = sys.stdout.buffer
    with reported_errors():
        offset = 0
        if tail is not None:
            piece = farm.read_log(command_id, offset=0, limit=1)
            text = farm.tail_log(command_id, tail)
            out.write(text.encode())
            out.flush()
            offset = int(piece["size"])
            if not follow:
                return
        if follow:
            try:
                for chunk in farm.follow_log(command_id, offset=offset, interval=0.3):
                    out.write(chunk)
                    out.flush()
            except KeyboardInterrupt:
                return
            return
        while True:
            piece = farm.read_log(command_id, offset=offset)
            out.write(bytes(piece["data"]))
            if not piece["data"] or int(piece["next_offset"]) >= int(piece["size"]):
                break
            offset = int(piece["next_offset"])
        out.flush()

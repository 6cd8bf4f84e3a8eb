"""The operators' queries and edits (``puli-mesh jobs``, ``commands``, ``nodes drain``...).

Two halves, both on top of the scheduling core's facade:

* :func:`filter_graphs` and :func:`queries`: read-only, built on the core's plain
  views. Filters follow Puli's ``/query/job`` semantics: AND across keys, OR
  within a key (a list), ``name`` is a regular expression (``re.search``),
  ``user`` and ``pool`` are exact, ``tags`` ``{"prod": "film"}`` match when every
  given tag has one of the given values.
* :func:`apply_edit`: edits beyond the basic ones of ``requests.apply_edit``
  (which falls back to this). Pure, like every edit: a successor replays it from
  the journal with the same result.

Errors: a bad filter raises ``ValueError`` (the client gets ``invalid``); the
core raises ``UnknownIdError``/``IllegalTransitionError`` (``not_found``/``illegal``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.coordinator.decisions import Decision
from puliclient.status import CommandStatus, NodeStatus

EDITS = ("node_drain", "command_cancel", "command_restart", "command_pause", "command_resume", "tags")


def _statuses(values: Any, enum: type[NodeStatus] | type[CommandStatus]) -> set[int] | None:
    """``["RUNNING", 4]`` or ``"error,done"`` -> ``{2, 4}``; None for no filter."""
    if values is None or values == [] or values == "":
        return None
    if isinstance(values, str):
        values = [v for v in values.split(",") if v.strip()]
    if not isinstance(values, Iterable):
        values = [values]
    out: set[int] = set()
    for v in values:
        if isinstance(v, int) and not isinstance(v, bool):
            out.add(int(enum(v)))
            continue
        key = str(v).strip().upper()
        if key.isdigit():
            out.add(int(enum(int(key))))
        elif key in enum.__members__:
            out.add(int(enum[key]))
        else:
            raise ValueError(f"unknown status {v!r}; known: {', '.join(enum.__members__)}")
    return out


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v for v in value.split(",") if v]
    if isinstance(value, list | tuple | set):
        return list(value)
    return [value]


def filter_graphs(graphs: list[dict[str, Any]], args: dict[str, Any]) -> list[dict[str, Any]]:
    """Graphs matching every given filter: ``id``, ``user``, ``status``, ``name`` (regex),
    ``tags`` ({key: value or [values]}), ``pool``, ``since`` (submitted at or after, epoch s)."""
    ids = {int(i) for i in _as_list(args.get("id"))}
    users = set(map(str, _as_list(args.get("user"))))
    pools = set(map(str, _as_list(args.get("pool"))))
    statuses = _statuses(args.get("status"), NodeStatus)
    names = _as_list(args.get("name"))
    try:
        name_re = re.compile("|".join(f"(?:{n})" for n in names)) if names else None
    except re.error as exc:
        raise ValueError(f"name filter {names!r} is not a valid regular expression: {exc}") from exc
    tags = {str(k): {str(x) for x in _as_list(v)} for k, v in dict(args.get("tags") or {}).items()}
    since = args.get("since")
    out = []
    for g in graphs:
        if ids and g["id"] not in ids:
            continue
        if users and g.get("user") not in users:
            continue
        if pools and g.get("pool") not in pools:
            continue
        if statuses is not None and g["status"] not in statuses:
            continue
        if name_re is not None and not name_re.search(str(g["name"])):
            continue
        if since is not None and (g.get("creation_time") or 0) < float(since):
            continue
        if tags and not all(str(g.get("tags", {}).get(k)) in vs for k, vs in tags.items()):
            continue
        out.append(g)
    return out


def queries(core: SchedulingCore, args: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    """The query kinds this module answers (``requests`` merges them into its own)."""
    def commands() -> list[dict[str, Any]]:
        node_id = args.get("id")
        limit = args.get("limit")
        return core.commands(node_id=None if node_id is None else int(node_id),
                             statuses=_statuses(args.get("status"), CommandStatus),
                             render_node=args.get("node") or None,
                             limit=None if limit is None else int(limit))

    return {
        "graphs": lambda: filter_graphs(core.graphs(), args),
        "commands": commands,
        "pools": lambda: core.pools(),
        "figures": lambda: core.figures(),
    }


def apply_edit(core: SchedulingCore, action: str, args: dict[str, Any], now: float) -> list[Decision]:
    """The edits of this module; ``KeyError`` for an unknown action."""
    if action == "node_drain":
        return core.pause_render_node(str(args["name"]), now, drain=True)
    if action == "command_cancel":
        return core.cancel_command(int(args["id"]), now)
    if action == "command_restart":
        return core.restart_command(int(args["id"]), now)
    if action == "command_pause":
        return core.pause_command(int(args["id"]), now, kill=bool(args.get("kill", False)))
    if action == "command_resume":
        return core.resume_command(int(args["id"]), now)
    if action == "tags":
        tags = args["tags"]
        if not isinstance(tags, dict):
            raise ValueError(f"tags must be a mapping, not {type(tags).__name__}")
        return core.set_tags(int(args["id"]), tags, now)
    raise KeyError(f"unknown edit {action!r}")

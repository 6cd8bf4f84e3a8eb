"""Every EDIT action a client may ask for: its name, its arguments, and what it does to the core.

One table, :data:`EDIT_ACTIONS`, used by both paths that apply an edit:

* **live**: a client's ``EDIT`` (``puli-mesh pause 7``, ``Farm().pause(7)``...) becomes an
  ``EditRecord`` that the service journals and applies (``requests`` -> ``service.run``);
* **replay**: a new leader applies the same ``EditRecord`` read back from the journal
  (``records.replay``).

Both call :func:`apply_edit`, so an edit must stay pure (time is ``now``, recorded with
it): replaying it on the same state gives the same result.

Errors: an unknown action or a missing argument raises ``KeyError``, a malformed one
``ValueError``/``TypeError`` (the client gets ``invalid``); the core raises
``UnknownIdError``/``IllegalTransitionError`` (``not_found``/``illegal``).

Not here: ``step_down`` (the agent handles it before the service sees it), queries
(``client_queries``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.coordinator.decisions import Decision

EditAction = Callable[[SchedulingCore, dict[str, Any], float], list[Decision]]
"""``(core, args, now) -> decisions``: parses ``args`` and applies one edit."""


def pause(core: SchedulingCore, args: dict[str, Any], now: float) -> list[Decision]:
    """``{"id", "kill"?}``: nothing new of a graph, group or task starts; ``kill`` also stops
    what runs. From ``puli-mesh pause ID [--kill]``, ``Farm.pause``, ``Farm.edit_jobs("pause")``."""
    return core.pause(int(args["id"]), now, kill=bool(args.get("kill", False)))


def resume(core: SchedulingCore, args: dict[str, Any], now: float) -> list[Decision]:
    """``{"id"}``: undo ``pause``. From ``puli-mesh resume ID``, ``Farm.resume``."""
    return core.resume(int(args["id"]), now)


def cancel(core: SchedulingCore, args: dict[str, Any], now: float) -> list[Decision]:
    """``{"id"}``: cancel every command of a node, killing what runs. From
    ``puli-mesh cancel ID``, ``Farm.cancel``."""
    return core.cancel(int(args["id"]), now)


def restart(core: SchedulingCore, args: dict[str, Any], now: float) -> list[Decision]:
    """``{"id", "errors_only"?}``: run a node's commands again (only ERROR/TIMEOUT ones with
    ``errors_only``). From ``puli-mesh restart ID [--errors-only]``, ``Farm.restart``."""
    return core.restart(int(args["id"]), now, errors_only=bool(args.get("errors_only", False)))


def set_values(core: SchedulingCore, args: dict[str, Any], now: float) -> list[Decision]:
    """``{"id", "values": {"priority"|"dispatchKey"|"maxRN"|"pool"|"poolName": value}}``,
    applied in their order. From ``puli-mesh set ID key=value...``, ``Farm.set``."""
    node_id = int(args["id"])
    decisions: list[Decision] = []
    for key, value in dict(args["values"]).items():
        if key in ("priority", "dispatchKey"):
            decisions += core.set_dispatch_key(node_id, int(value), now)
        elif key == "maxRN":
            decisions += core.set_max_rn(node_id, int(value), now)
        elif key in ("pool", "poolName"):
            decisions += core.set_pool(node_id, str(value), now)
        else:
            raise KeyError(f"{key!r} cannot be set (priority, maxRN, pool)")
    return decisions


def set_tags(core: SchedulingCore, args: dict[str, Any], now: float) -> list[Decision]:
    """``{"id", "tags": {key: value or None}}``: merge tags (None removes one). From
    ``puli-mesh set ID tag.KEY=VALUE``, ``Farm.set_tags``."""
    tags = args["tags"]
    if not isinstance(tags, dict):
        raise ValueError(f"tags must be a mapping, not {type(tags).__name__}")
    return core.set_tags(int(args["id"]), tags, now)


def archive(core: SchedulingCore, args: dict[str, Any], now: float) -> list[Decision]:
    """``{"id"}``: remove a finished graph. From ``puli-mesh archive ID``, ``Farm.archive``
    (agents archive old graphs themselves through ``tick``, not through this)."""
    return core.archive(int(args["id"]), now)


def command_cancel(core: SchedulingCore, args: dict[str, Any], now: float) -> list[Decision]:
    """``{"id"}`` of a command. From ``puli-mesh cancel --command ID``, ``Farm.cancel_command``."""
    return core.cancel_command(int(args["id"]), now)


def command_restart(core: SchedulingCore, args: dict[str, Any], now: float) -> list[Decision]:
    """``{"id"}`` of a command. From ``puli-mesh restart --command ID``, ``Farm.restart_command``."""
    return core.restart_command(int(args["id"]), now)


def command_pause(core: SchedulingCore, args: dict[str, Any], now: float) -> list[Decision]:
    """``{"id", "kill"?}`` of a command: hold it (``kill``: stop it if it runs, no attempt
    spent). From ``puli-mesh pause --command ID``, ``Farm.pause_command``."""
    return core.pause_command(int(args["id"]), now, kill=bool(args.get("kill", False)))


def command_resume(core: SchedulingCore, args: dict[str, Any], now: float) -> list[Decision]:
    """``{"id"}`` of a command. From ``puli-mesh resume --command ID``, ``Farm.resume_command``."""
    return core.resume_command(int(args["id"]), now)


def node_pause(core: SchedulingCore, args: dict[str, Any], now: float) -> list[Decision]:
    """``{"name", "kill"?}`` of a render node: no new work (``kill`` re-queues what runs).
    From ``puli-mesh nodes pause NAME [--kill]``, ``Farm.pause_node``."""
    return core.pause_render_node(str(args["name"]), now, kill=bool(args.get("kill", False)))


def node_drain(core: SchedulingCore, args: dict[str, Any], now: float) -> list[Decision]:
    """``{"name"}``: finish what runs, take nothing new. From ``puli-mesh nodes drain NAME``,
    ``Farm.drain_node``."""
    return core.pause_render_node(str(args["name"]), now, drain=True)


def node_resume(core: SchedulingCore, args: dict[str, Any], now: float) -> list[Decision]:
    """``{"name"}``: undo ``node_pause``/``node_drain``. From ``puli-mesh nodes resume NAME``,
    ``Farm.resume_node``."""
    return core.resume_render_node(str(args["name"]), now)


def clear_quarantine(core: SchedulingCore, args: dict[str, Any], now: float) -> list[Decision]:
    """``{"name"}``: let a node that failed too often take work again. From
    ``Farm.clear_quarantine``."""
    return core.clear_quarantine(str(args["name"]), now)


EDIT_ACTIONS: dict[str, EditAction] = {
    "pause": pause,
    "resume": resume,
    "cancel": cancel,
    "restart": restart,
    "set": set_values,
    "tags": set_tags,
    "archive": archive,
    "command_cancel": command_cancel,
    "command_restart": command_restart,
    "command_pause": command_pause,
    "command_resume": command_resume,
    "node_pause": node_pause,
    "node_drain": node_drain,
    "node_resume": node_resume,
    "clear_quarantine": clear_quarantine,
}


def action_named(action: str) -> EditAction:
    """The edit called ``action``; ``KeyError`` naming the known ones if there is none."""
    try:
        return EDIT_ACTIONS[action]
    except KeyError:
        raise KeyError(f"unknown edit {action!r}; known: {', '.join(sorted(EDIT_ACTIONS))}") from None


def apply_edit(core: SchedulingCore, action: str, args: dict[str, Any], now: float) -> list[Decision]:
    """Apply one edit to the core (live and on replay: see the module docstring)."""
    return action_named(action)(core, args, now)

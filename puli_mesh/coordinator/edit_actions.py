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

Guarantees: every value an edit stores can be journalled and snapshotted: numbers are
integers within int64 (:func:`edit_int`), names strings within the default ``name_length``
(:func:`edit_name`), tag values plain msgpack data with strings within the default
``string_length`` (:func:`check_tag_value`). The default limits, not an agent's settings: an
edit must mean the same to every successor that replays it.
:func:`check_edit` parses an edit's arguments exactly as :func:`apply_edit` will, without a
core, so a malformed edit is refused before it is journalled (a journalled one that cannot
be packed would stop every later batch and snapshot).

Not here: ``step_down`` (the agent handles it before the service sees it), queries
(``client_queries``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.coordinator.decisions import Decision
from puli_mesh.coordinator.quotas import parse_quotas
from puli_mesh.coordinator.shares import check_preempt_after, parse_accounts
from puli_mesh.limits import DEFAULT_GRAPH_LIMITS, INT64_MAX, INT64_MIN, idle_timeout_error
from puliclient.errors import GraphError
from puliclient.representation import (
    check_environment,
    check_gpus,
    check_max_attempt,
    check_resource,
    check_timer,
    check_value,
    plain_data,
)
from puliclient.strategies import strategy_name

EditAction = Callable[[SchedulingCore, dict[str, Any], float], list[Decision]]
"""``(core, args, now) -> decisions``: parses ``args`` and applies one edit."""

TAG_MAX_DEPTH = 8
"""How deep lists and maps may nest in a tag value: far below msgpack's packing limit,
which a snapshot reaches with the tree's own levels added."""

_TAG_SCALARS = (str, bool, int, float, type(None))


def _shown(value: Any) -> str:
    """``value`` for an error message, cut short: a refused value may be huge."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def edit_int(value: Any, what: str) -> int:
    """``value`` as an integer within int64 (``int()`` accepts it: ``"5"``, ``5.0``); else
    ``ValueError`` saying the accepted range."""
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(inf)
        number = None
    if number is None or not INT64_MIN <= number <= INT64_MAX:
        raise ValueError(f"{what} must be an integer from {INT64_MIN} to {INT64_MAX}, got {_shown(value)}")
    return number


def edit_name(value: Any, what: str) -> str:
    """``value`` as a name (a pool, a render node): a string of at most the default
    ``name_length`` characters (a constant, so a successor replays the edit alike); else ``ValueError``."""
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, got {type(value).__name__} {_shown(value)}")
    if len(value) > DEFAULT_GRAPH_LIMITS.name_length:
        raise ValueError(f"{what} has {len(value)} characters, above the limit of {DEFAULT_GRAPH_LIMITS.name_length}")
    return value


def edit_strategy(value: Any) -> str:
    """``value`` as a stored strategy name (``puliclient.strategies.strategy_name``: dotted,
    class or short name); else ``ValueError`` naming the known ones."""
    try:
        return strategy_name(value)
    except GraphError as exc:
        raise ValueError(str(exc)) from None


def check_tag_value(value: Any, key: str) -> None:
    """``ValueError`` unless ``value`` is plain data msgpack stores: str, bool, None, an int
    within int64, a finite float, or lists and str-keyed maps of those nested at most
    :data:`TAG_MAX_DEPTH` deep. Walked with a stack: the value is user-shaped."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if len(item) > DEFAULT_GRAPH_LIMITS.string_length:
                raise ValueError(f"tag {key!r}: a string has {len(item)} characters, above the limit of "
                                 f"{DEFAULT_GRAPH_LIMITS.string_length}")
            continue
        if isinstance(item, bool) or item is None:
            continue
        if isinstance(item, int):
            if not INT64_MIN <= item <= INT64_MAX:
                raise ValueError(f"tag {key!r}: a number must be an integer from {INT64_MIN} to {INT64_MAX}, "
                                 f"got {_shown(item)}")
        elif isinstance(item, float):
            if item - item != 0.0:  # NaN and infinities only
                raise ValueError(f"tag {key!r}: a number must be finite, got {item!r}")
        elif isinstance(item, list | tuple | dict):
            if depth >= TAG_MAX_DEPTH:
                raise ValueError(f"tag {key!r}: lists and maps nest at most {TAG_MAX_DEPTH} deep")
            if isinstance(item, dict):
                for k in item:
                    if not isinstance(k, str):
                        raise ValueError(f"tag {key!r}: map keys must be strings, got {_shown(k)}")
                children = item.values()
            else:
                children = item
            stack.extend((child, depth + 1) for child in children)
        else:
            raise ValueError(f"tag {key!r}: {type(item).__name__} is not plain data "
                             "(str, number, bool, None, list or map)")


def submission_rule(check: Callable[..., None], *args: Any) -> None:
    """Run one of the submission's checks (``puliclient.representation``) on an edited value:
    its ``GraphError`` becomes the ``ValueError`` of a malformed edit."""
    try:
        check(*args)
    except GraphError as exc:
        raise ValueError(str(exc)) from exc


def edit_timer(value: Any, what: str) -> float | None:
    """``value`` as a timer: None, or finite epoch seconds (an integer within int64 or a float);
    else ``ValueError``."""
    submission_rule(check_timer, value, what)
    if value is None:
        return None
    return edit_int(value, what) if isinstance(value, int) else float(value)


def edit_key(value: Any, what: str) -> str:
    """``value`` as the name of an argument or environment variable: a non-empty name."""
    if not edit_name(value, what):
        raise ValueError(f"{what} is empty")
    return cast(str, value)


def edit_changes(changes: Any, what: str, environment: bool = False) -> dict[str, Any]:
    """``changes`` (name -> value, None removes the name) as the submission accepts them: plain
    data within the default limits; an environment's values are strings."""
    if not isinstance(changes, dict) or not changes:
        raise ValueError(f"{what} must be a non-empty mapping of names to values, not {_shown(changes)}")
    for key in changes:
        edit_key(key, f"a name in {what}")
    kept = {k: v for k, v in changes.items() if v is not None}
    if environment:
        submission_rule(check_environment, kept, what)
    else:
        try:
            kept = plain_data(kept, what)
        except GraphError as exc:
            raise ValueError(str(exc)) from exc
    submission_rule(check_value, kept, what, what, DEFAULT_GRAPH_LIMITS)
    return {k: kept.get(k) for k in changes}


def pause(core: SchedulingCore, args: dict[str, Any], now: float) -> list[Decision]:
    """``{"id", "kill"?}``: nothing new of a graph, group or task starts; ``kill`` also stops
    what runs. From ``puli-mesh pause ID [--kill]``, ``Farm.pause``, ``Farm.edit_jobs("pause")``."""
    return core.pause(edit_int(args["id"], "id"), now, kill=bool(args.get("kill", False)))


def resume(core: SchedulingCore, args: dict[str, Any], now: float) -> list[Decision]:
    """``{"id"}``: undo ``pause``. From ``puli-mesh resume ID``, ``Farm.resume``."""
    return core.resume(edit_int(args["id"], "id"), now)


def cancel(core: SchedulingCore, args: dict[str, Any], now: float) -> list[Decision]:
    """``{"id"}``: cancel every command of a node, killing what runs. From
    ``puli-mesh cancel ID``, ``Farm.cancel``."""
    return core.cancel(edit_int(args["id"], "id"), now)


def restart(core: SchedulingCore, args: dict[str, Any], now: float) -> list[Decision]:
    """``{"id", "errors_only"?, "cascade"?}``: run a node's commands again (only ERROR/TIMEOUT
    ones with ``errors_only``; ``cascade`` False leaves their dependents as they are). From
    ``puli-mesh restart ID [--errors-only] [--no-cascade]``, ``Farm.restart``."""
    return core.restart(edit_int(args["id"], "id"), now, errors_only=bool(args.get("errors_only", False)),
                        cascade=bool(args.get("cascade", True)))


def _ruled_int(value: Any, key: str, check: Callable[..., None], *before: Any) -> int:
    """``value`` as an integer (:func:`edit_int`) that passes the submission's own rule for
    ``key`` (``puliclient.representation``), called as ``check(*before, number, key)``."""
    number = edit_int(value, key)
    submission_rule(check, *before, number, key)
    return number


def _idle_timeout(value: Any, key: str) -> float | None:
    """``value`` as an ``idleTimeout`` by the submission's rule (``limits.idle_timeout_error``):
    None (the agents' default) or seconds; a number given as text is read as one, as
    :func:`edit_int` reads integers."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass  # left to the rule, which names what it accepts
    problem = idle_timeout_error(value)
    if problem is not None:
        raise ValueError(f"{key}: {problem}")
    return None if value is None else float(value)


FLAG_WORDS = {"true": True, "false": False}
"""The words a flag may be given as (any case), as well as a boolean: what ``puli-mesh set`` sends."""


def edit_flag(value: Any, what: str) -> bool:
    """``value`` as a flag: a boolean, or ``true``/``false`` as text; else ``ValueError``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in FLAG_WORDS:
        return FLAG_WORDS[value.lower()]
    raise ValueError(f"{what} must be true or false, got {_shown(value)}")


def set_values(core: SchedulingCore, args: dict[str, Any], now: float) -> list[Decision]:
    """``{"id", "values": {key: value}}``, applied in their order; keys: ``priority``/``dispatchKey``,
    ``maxRN``, ``pool``/``poolName``, ``strategy`` (a group's), ``timer`` (epoch seconds or None),
    ``maxAttempt`` (>= 1), ``ramUse`` (MB >= 0), ``idleTimeout`` (seconds, 0: off, None: the agents'
    default; for the commands started next), ``gpus`` (0 to ``limits.MAX_GPUS``),
    ``killOnRamOveruse`` (true/false, for the commands started next), ``name``. From
    ``puli-mesh set ID key=value...``, ``Farm.set``."""
    node_id = edit_int(args["id"], "id")
    decisions: list[Decision] = []
    for key, value in dict(args["values"]).items():
        if key in ("priority", "dispatchKey"):
            decisions += core.set_dispatch_key(node_id, edit_int(value, key), now)
        elif key == "maxRN":
            decisions += core.set_max_rn(node_id, edit_int(value, key), now)
        elif key in ("pool", "poolName"):
            decisions += core.set_pool(node_id, edit_name(value, key), now)
        elif key == "strategy":
            decisions += core.set_strategy(node_id, edit_strategy(value), now)
        elif key == "timer":
            decisions += core.set_timer(node_id, edit_timer(value, key), now)
        elif key == "maxAttempt":
            decisions += core.set_max_attempt(node_id, _ruled_int(value, key, check_max_attempt), now)
        elif key == "ramUse":
            decisions += core.set_ram_use(node_id, _ruled_int(value, key, check_resource, "ramUse"), now)
        elif key == "idleTimeout":
            decisions += core.set_idle_timeout(node_id, _idle_timeout(value, key), now)
        elif key == "gpus":
            decisions += core.set_gpus(node_id, _ruled_int(value, key, check_gpus), now)
        elif key == "killOnRamOveruse":
            decisions += core.set_kill_on_ram_overuse(node_id, edit_flag(value, key), now)
        elif key == "name":
            decisions += core.rename(node_id, edit_key(value, key), now)
        else:
            raise KeyError(f"{key!r} cannot be set (priority, maxRN, pool, strategy, timer, maxAttempt, ramUse, "
                           "idleTimeout, gpus, killOnRamOveruse, name; "
                           "a job's user with the set_user edit)")
    return decisions


def set_environment(core: SchedulingCore, args: dict[str, Any], now: float) -> list[Decision]:
    """``{"id", "environment": {name: value or None}}``: merge into a node's environment (None
    removes a name), for the next command each task under it runs. From ``puli-mesh set ID
    env.NAME=VALUE``, ``Farm.set_environment``."""
    changes = edit_changes(args["environment"], "environment", environment=True)
    return core.set_environment(edit_int(args["id"], "id"), changes, now)


def set_arguments(core: SchedulingCore, args: dict[str, Any], now: float) -> list[Decision]:
    """``{"id", "arguments": {name: value or None}}``: merge into a node's arguments, for the
    next command each task under it runs. From ``puli-mesh set ID arg.NAME=VALUE``,
    ``Farm.set_arguments``."""
    changes = edit_changes(args["arguments"], "arguments")
    return core.set_arguments(edit_int(args["id"], "id"), changes, now)


def set_user(core: SchedulingCore, args: dict[str, Any], now: float) -> list[Decision]:
    """``{"id", "user"}`` of a graph: give the job to another user (an operator's edit: see
    ``access``). From ``puli-mesh set ID user=NAME``, ``Farm.set(ID, user=NAME)``."""
    return core.set_user(edit_int(args["id"], "id"), edit_key(args["user"], "user"), now)


def set_tags(core: SchedulingCore, args: dict[str, Any], now: float) -> list[Decision]:
    """``{"id", "tags": {key: value or None}}``: merge tags (None removes one). From
    ``puli-mesh set ID tag.KEY=VALUE``, ``Farm.set_tags``."""
    tags = args["tags"]
    if not isinstance(tags, dict):
        raise ValueError(f"tags must be a mapping, not {type(tags).__name__}")
    for key, value in tags.items():
        if not isinstance(key, str):
            raise ValueError(f"tag names must be strings, got {_shown(key)}")
        edit_name(key, "a tag name")
        check_tag_value(value, key)
    return core.set_tags(edit_int(args["id"], "id"), tags, now)


def archive(core: SchedulingCore, args: dict[str, Any], now: float) -> list[Decision]:
    """``{"id"}``: remove a finished graph. From ``puli-mesh archive ID``, ``Farm.archive``
    (agents archive old graphs themselves through ``tick``, not through this)."""
    return core.archive(edit_int(args["id"], "id"), now)


def command_cancel(core: SchedulingCore, args: dict[str, Any], now: float) -> list[Decision]:
    """``{"id"}`` of a command. From ``puli-mesh cancel --command ID``, ``Farm.cancel_command``."""
    return core.cancel_command(edit_int(args["id"], "id"), now)


def command_restart(core: SchedulingCore, args: dict[str, Any], now: float) -> list[Decision]:
    """``{"id", "cascade"?}`` of a command. From ``puli-mesh restart --command ID [--no-cascade]``,
    ``Farm.restart_command``."""
    return core.restart_command(edit_int(args["id"], "id"), now, cascade=bool(args.get("cascade", True)))


def command_set(core: SchedulingCore, args: dict[str, Any], now: float) -> list[Decision]:
    """``{"id", "description"?, "arguments"?: {name: value or None}}`` of a command, for its
    next run. From ``puli-mesh set --command ID description=... arg.NAME=...``,
    ``Farm.set_command``."""
    description = args.get("description")
    if description is not None:
        edit_name(description, "description")
    changes = args.get("arguments")
    if changes is not None:
        changes = edit_changes(changes, "arguments")
    if description is None and changes is None:
        raise KeyError("a command edit needs a description or arguments")
    return core.edit_command(edit_int(args["id"], "id"), now, description, changes)


def command_done(core: SchedulingCore, args: dict[str, Any], now: float) -> list[Decision]:
    """``{"id"}`` of a command: accept it by hand as DONE (killed first if it runs). From
    ``puli-mesh done --command ID``, ``Farm.done_command``."""
    return core.set_command_done(edit_int(args["id"], "id"), now)


def command_pause(core: SchedulingCore, args: dict[str, Any], now: float) -> list[Decision]:
    """``{"id", "kill"?}`` of a command: hold it (``kill``: stop it if it runs, no attempt
    spent). From ``puli-mesh pause --command ID``, ``Farm.pause_command``."""
    return core.pause_command(edit_int(args["id"], "id"), now, kill=bool(args.get("kill", False)))


def command_resume(core: SchedulingCore, args: dict[str, Any], now: float) -> list[Decision]:
    """``{"id"}`` of a command. From ``puli-mesh resume --command ID``, ``Farm.resume_command``."""
    return core.resume_command(edit_int(args["id"], "id"), now)


def node_pause(core: SchedulingCore, args: dict[str, Any], now: float) -> list[Decision]:
    """``{"name", "kill"?}`` of a render node: no new work (``kill`` re-queues what runs).
    From ``puli-mesh nodes pause NAME [--kill]``, ``Farm.pause_node``."""
    return core.pause_render_node(edit_name(args["name"], "name"), now, kill=bool(args.get("kill", False)))


def node_drain(core: SchedulingCore, args: dict[str, Any], now: float) -> list[Decision]:
    """``{"name"}``: finish what runs, take nothing new. From ``puli-mesh nodes drain NAME``,
    ``Farm.drain_node``."""
    return core.pause_render_node(edit_name(args["name"], "name"), now, drain=True)


def node_resume(core: SchedulingCore, args: dict[str, Any], now: float) -> list[Decision]:
    """``{"name"}``: undo ``node_pause``/``node_drain``. From ``puli-mesh nodes resume NAME``,
    ``Farm.resume_node``."""
    return core.resume_render_node(edit_name(args["name"], "name"), now)


def clear_quarantine(core: SchedulingCore, args: dict[str, Any], now: float) -> list[Decision]:
    """``{"name"}``: let a node that failed too often take work again. From
    ``Farm.clear_quarantine``."""
    return core.clear_quarantine(edit_name(args["name"], "name"), now)


def clear_node(core: SchedulingCore, args: dict[str, Any], now: float) -> list[Decision]:
    """``{"name"}``: forgive a node: its quarantine, every job's and command's avoidance of it
    (``sick_hosts``). From ``puli-mesh nodes clear NAME``, ``Farm.clear_node``."""
    return core.clear_node(edit_name(args["name"], "name"), now)


def edit_names(value: Any, what: str) -> list[str]:
    """``value`` as a list of names (:func:`edit_name` each); else ``ValueError``."""
    if not isinstance(value, list | tuple):
        raise ValueError(f"{what} must be a list of names, got {type(value).__name__} {_shown(value)}")
    return [edit_name(v, f"each of {what}") for v in value]


def edit_performance(value: Any) -> float:
    """``value`` as a render node's performance: a finite number above 0; else ``ValueError``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = None
    if isinstance(value, bool) or number is None or not 0.0 < number < float("inf"):
        raise ValueError(f"performance must be a number above 0, got {_shown(value)}")
    return number


def node_set(core: SchedulingCore, args: dict[str, Any], now: float) -> list[Decision]:
    """``{"name", "values": {"pools": [names] | None, "performance": number | None}}``: an
    operator's pools or performance for a render node, kept when it joins again; None goes
    back to what its agent says. From ``puli-mesh nodes set NAME pools=a,b performance=1.5``,
    ``Farm.set_node_pools``, ``Farm.set_node_performance``."""
    name = edit_name(args["name"], "name")
    decisions: list[Decision] = []
    for key, value in dict(args["values"]).items():
        if key == "pools":
            decisions += core.set_node_pools(name, None if value is None else edit_names(value, key), now)
        elif key == "performance":
            decisions += core.set_node_performance(name, None if value is None else edit_performance(value), now)
        else:
            raise KeyError(f"{key!r} cannot be set on a render node (pools, performance)")
    return decisions


def pool_set_nodes(core: SchedulingCore, args: dict[str, Any], now: float) -> list[Decision]:
    """``{"pool", "names": [render node names]}``: the pool's members now (Puli's ``PUT
    /pools/<pool>/rendernodes``). From ``puli-mesh pools set-nodes POOL NAME...``,
    ``Farm.set_pool_nodes``."""
    return core.set_pool_nodes(edit_name(args["pool"], "pool"), edit_names(args["names"], "names"), now)


def node_remove(core: SchedulingCore, args: dict[str, Any], now: float) -> list[Decision]:
    """``{"name"}`` of a render node that left: forget it. From ``puli-mesh nodes remove NAME``,
    ``Farm.remove_node``."""
    return core.remove_render_node(edit_name(args["name"], "name"), now)


def pool_shares(core: SchedulingCore, args: dict[str, Any], now: float) -> list[Decision]:
    """``{"pool", "accounts": [[PROJECT or PROJECT/USER, min, max, weight], ...], "preempt_after"?}``:
    the pool's share tree from now on (``[]``: none), preempting borrowers' commands older than
    ``preempt_after`` seconds (absent or None: never; ``preemption``). From the leader, fed by the
    cluster settings (``puli-mesh shares set|preempt``, ``Farm.set_share``, ``Farm.set_share_preempt``),
    journalled so a successor replays it alike."""
    return core.set_shares(edit_name(args["pool"], "pool"), parse_accounts(args["accounts"]), now,
                           check_preempt_after(args.get("preempt_after")))


def share_quotas(core: SchedulingCore, args: dict[str, Any], now: float) -> list[Decision]:
    """``{"quotas": [[user|project, name, max], ...]}``: the quotas across pools from now on (``[]``:
    none). From the leader, fed by the cluster settings (``puli-mesh shares quota``,
    ``Farm.set_share_quota``), journalled so a successor replays it alike."""
    return core.set_quotas(parse_quotas(args["quotas"]), now)


COMMAND_EDITS = frozenset({"command_cancel", "command_restart", "command_pause", "command_resume",
                           "command_set", "command_done"})
"""The actions whose ``id`` is a command's (every other job edit's is a graph's, group's or task's)."""

EDIT_ACTIONS: dict[str, EditAction] = {
    "pause": pause,
    "resume": resume,
    "cancel": cancel,
    "restart": restart,
    "set": set_values,
    "tags": set_tags,
    "environment": set_environment,
    "arguments": set_arguments,
    "set_user": set_user,
    "archive": archive,
    "command_cancel": command_cancel,
    "command_restart": command_restart,
    "command_pause": command_pause,
    "command_resume": command_resume,
    "command_set": command_set,
    "command_done": command_done,
    "node_pause": node_pause,
    "node_drain": node_drain,
    "node_resume": node_resume,
    "clear_quarantine": clear_quarantine,
    "clear_node": clear_node,
    "node_set": node_set,
    "pool_set_nodes": pool_set_nodes,
    "node_remove": node_remove,
    "pool_shares": pool_shares,
    "share_quotas": share_quotas,
}


def action_named(action: str) -> EditAction:
    """The edit called ``action``; ``KeyError`` naming the known ones if there is none."""
    try:
        return EDIT_ACTIONS[action]
    except KeyError:
        raise KeyError(f"unknown edit {action!r}; known: {', '.join(sorted(EDIT_ACTIONS))}") from None


class _NoCore:
    """Stands in for the core in :func:`check_edit`: every method accepts anything and decides nothing."""

    def __getattr__(self, name: str) -> Callable[..., list[Decision]]:
        return _decide_nothing


def _decide_nothing(*args: Any, **kwargs: Any) -> list[Decision]:
    return []


_NO_CORE = cast(SchedulingCore, _NoCore())


def check_edit(action: str, args: dict[str, Any]) -> None:
    """Raise as :func:`apply_edit` would for a malformed edit (``KeyError``, ``ValueError``,
    ``TypeError``), touching no core: the action runs against one that ignores every call,
    so its arguments are parsed by the very code that applies them. What only the core
    knows (ids, statuses) is left to :func:`apply_edit`."""
    action_named(action)(_NO_CORE, args, 0.0)


def apply_edit(core: SchedulingCore, action: str, args: dict[str, Any], now: float) -> list[Decision]:
    """Apply one edit to the core (live and on replay: see the module docstring)."""
    return action_named(action)(core, args, now)

"""Puli's edit endpoints beyond a node's own (``web.puli_http`` has those): commands, pools,
render nodes, licences, Puli's bulk edits of the jobs a ``/query`` finds, and ``/query/command``.

Routes (Puli's paths and bodies):

* ``GET /commands/<id>``: a command as Puli's ``Command``; ``PUT /commands/<id>``: any of
  ``description``, ``arguments`` (``Farm.set_command``) and ``status`` (READY:
  ``restart_command``, ``cascade`` in the body; DONE: ``done_command``; CANCELED:
  ``cancel_command``), the text first, then the status;
* ``PUT /pools/<p>/rendernodes``: ``{"renderNodes": [names]}`` (``Farm.set_pool_nodes``);
* ``PUT /rendernodes/performance``: ``{"<name>": perf}`` (``Farm.set_node_performance``; null:
  the agent's own); ``PUT /rendernodes/quarantine``: ``{"quarantine": false, "rns": [names]}``
  clears each quarantine (``Farm.clear_quarantine``), ``true`` PAUSES each node without killing
  what it runs (``Farm.pause_node``: the mesh quarantines by itself, after failures; an
  operator's "give it nothing more" is a pause); ``DELETE /rendernodes/<name>``
  (``Farm.remove_node``: a connected node is refused, 409);
* ``GET /licenses`` (Puli's text: ``{'name': 'used / total'}``), ``GET /licenses/<name>``
  (``{"max", "used", "rns"}``), ``PUT /licenses/<name>`` (``{"maxlic": N}``: ``Farm.set_licence``);
* bulk: ``PUT /pause``, ``/resume``, ``/edit/status?update_status=N`` (as ``PUT
  /nodes/<id>/status``), ``/edit/maxrn?value=N`` (N >= -1), ``/edit/prio?value=N`` (the
  dispatch key), each with ``/query``'s ``constraint_*`` (parsed in one place,
  ``puli_http.job_query``); the answer ``{"summary": {"editedCount", "filteredCount",
  "totalInDispatcher", "requestTime", "requestDate"}, "editedJobs": [ids], "refusedJobs":
  [{"id", "code", "message"}]}`` (``refusedJobs`` is the mesh's: a job the edit does not fit,
  e.g. resuming one not paused, or one the caller may not edit, is skipped and said);
* ``GET /query/command``: ``attr=``, ``constraint_id`` (command ids), ``constraint_status``,
  ``constraint_starttime`` (``>TIME`` after, ``<TIME`` before, no prefix: at or after), paged
  by ``offset`` and ``limit``.

What differs from Puli: a render node is named by its mesh name, not ``host:port``; a job
edit goes through the leader one job at a time (``Farm.edit_jobs`` would filter names as
globs, Puli's are regular expressions, so the jobs are found as ``/query`` finds them).

Guarantees: a bulk edit needs at least one constraint (a whole-farm edit must name the jobs,
as ``Farm.edit_jobs``) and edits at most :data:`MAX_BULK_JOBS` jobs: beyond, 400 and nothing
is edited; ``/query/command`` reads at most :data:`MAX_COMMANDS_SCANNED` commands. The same
caller rule and error statuses as ``web.puli_http``.

Not here: a node's single-field edits and the queries (``web.puli_http``), the mesh's own API
(``web.api``), Puli's ``DELETE /licenses/<name>`` (the mesh gives licences back itself).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Path, Query, Request
from fastapi.responses import PlainTextResponse

from puli_mesh.web.api import MAX_TEXT, PAGE_DEFAULT, PAGE_MAX
from puli_mesh.web.callers import Caller, CallerDependency, context_of
from puli_mesh.web.puli_http import (
    MAX_BODY_VALUES,
    PULI_STATUS_EDITS,
    TIME_FORMAT,
    NodeId,
    constraints_of,
    field_of,
    job_query,
    picked,
    puli_errors,
    server_for,
    status_values,
)
from puliclient.errors import FarmForbiddenError, FarmIllegalEditError, FarmNotFoundError, FarmRefusedError
from puliclient.farm import Farm
from puliclient.model.command import CommandModel
from puliclient.server.filters import statuses, summary
from puliclient.server.queueHandler import QueueHandler
from puliclient.status import CommandStatus, NodeStatus

router = APIRouter(tags=["puli"])

MAX_BULK_JOBS = 1000
"""The most jobs one bulk edit (``/pause``, ``/edit/...``) may edit: beyond, it is refused whole."""
MAX_COMMANDS_SCANNED = 10_000
"""The most commands one ``/query/command`` reads from the leader."""
COMMAND_STATUS_EDITS: dict[CommandStatus, Callable[[Farm, int, dict[str, Any]], None]] = {
    CommandStatus.READY: lambda farm, cid, body: farm.restart_command(cid, cascade=bool(body.get("cascade", True))),
    CommandStatus.DONE: lambda farm, cid, _body: farm.done_command(cid),
    CommandStatus.CANCELED: lambda farm, cid, _body: farm.cancel_command(cid),
}
"""What ``PUT /commands/<id>`` does for each status it takes."""
COMMAND_BODY_KEYS = ("status", "description", "arguments", "cascade")
SKIPPED_EDITS = (FarmIllegalEditError, FarmNotFoundError, FarmForbiddenError, FarmRefusedError)
"""A bulk edit's refusals of one job: that job is skipped and listed; any other error ends the request."""
NodeName = Annotated[str, Path(min_length=1, max_length=MAX_TEXT)]
CommandId = NodeId


# ------------------------------------------------------------------ pure rules
def command_time_bound(text: str) -> tuple[str, float]:
    """``constraint_starttime``: ``(">", t)`` after, ``("<", t)`` before; no prefix is ``>=``
    (as ``/query``'s time constraints); ``ValueError`` saying how to write it."""
    text = text.strip()
    side = text[0] if text[:1] in ("<", ">") else ">="
    stamp = text[1:] if side != ">=" else text
    try:
        return side, datetime.strptime(stamp.strip(), TIME_FORMAT).timestamp()
    except ValueError:
        raise ValueError(f"constraint_starttime: write '<' or '>' then a time as {TIME_FORMAT!r}, "
                         f"not {text[:40]!r}") from None


def time_admits(bound: tuple[str, float], value: float | None) -> bool:
    side, limit = bound
    if value is None:
        return False
    return value > limit if side == ">" else value < limit if side == "<" else value >= limit


def bulk_answer(edited: list[int], refused: list[dict[str, Any]], found: int, total: int,
                started: float) -> dict[str, Any]:
    """Puli's bulk edit answer (and the mesh's ``refusedJobs``)."""
    base = summary(len(edited), total, started)  # Puli's summary, its count named editedCount here
    head = {"editedCount": base.pop("count"), "filteredCount": found, **base}
    return {"summary": head, "editedJobs": edited, "refusedJobs": refused}


def int_param(request: Request, name: str, minimum: int | None = None) -> int:
    text = request.query_params.get(name)
    try:
        value = int(str(text))
    except ValueError:
        raise HTTPException(400, f"{name}: a whole number is needed, not {str(text)[:20]!r}") from None
    if minimum is not None and value < minimum:
        raise HTTPException(400, f"{name}: at least {minimum}, not {value}")
    return value


def listed(body: Any, key: str) -> list[str]:
    values = field_of(body, key)
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise HTTPException(400, f"{key}: a list of names")
    if len(values) > MAX_BODY_VALUES:
        raise HTTPException(400, f"{key}: at most {MAX_BODY_VALUES} names")
    return values


# ------------------------------------------------------------------ commands
@router.get("/commands/{command_id}", summary="A command as Puli's Command")
def command(request: Request, command_id: CommandId, who: Caller = CallerDependency) -> dict[str, Any]:
    return CommandModel.from_view(who.farm(context_of(request)).command(command_id)).encode()


@router.put("/commands/{command_id}", summary="Puli's command edit: description, arguments, status (READY restarts, "
                                              "DONE accepts, CANCELED cancels)")
def put_command(request: Request, command_id: CommandId, body: Annotated[Any, Body()],
                who: Caller = CallerDependency) -> PlainTextResponse:
    if not isinstance(body, dict) or not body or set(body) - set(COMMAND_BODY_KEYS):
        raise HTTPException(400, f"the body has some of {', '.join(COMMAND_BODY_KEYS)}")
    edit = None
    if "status" in body:
        try:
            edit = COMMAND_STATUS_EDITS.get(CommandStatus(int(body["status"])))
        except (TypeError, ValueError):
            edit = None
        if edit is None:
            takes = ", ".join(f"{int(s)} ({s.name})" for s in COMMAND_STATUS_EDITS)
            raise HTTPException(400, f"status {str(body['status'])[:20]!r}: this mesh takes {takes}")
    arguments = body.get("arguments")
    if arguments is not None and not isinstance(arguments, dict):
        raise HTTPException(400, "arguments: a {name: value} map")
    farm = who.farm(context_of(request))
    if body.get("description") is not None or arguments is not None:
        description = body.get("description")
        farm.set_command(command_id, description=None if description is None else str(description),
                         arguments=arguments)
    if edit is not None:
        edit(farm, command_id, body)
    return PlainTextResponse(f"Command {command_id} updated")


def command_or_none(farm: Farm, command_id: int) -> dict[str, Any] | None:
    """One command, None when there is none (a query finds nothing there; it is no error)."""
    try:
        return farm.command(command_id)
    except FarmNotFoundError:
        return None


@router.get("/query/command", summary="Puli's command query: attr=, constraint_id/status/starttime (<, >), "
                                      "offset, limit")
def query_commands(request: Request, offset: Annotated[int, Query(ge=0, le=MAX_COMMANDS_SCANNED)] = 0,
                   limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = PAGE_DEFAULT,
                   who: Caller = CallerDependency) -> dict[str, Any]:
    started = time.monotonic()
    attrs, constraints, _ = constraints_of(request)
    unknown = sorted(set(constraints) - {"id", "status", "starttime"})
    if unknown:
        raise HTTPException(400, f"unknown constraint_{unknown[0][:40]}; known: id, status, starttime")
    farm = who.farm(context_of(request))
    with puli_errors():
        bounds = [command_time_bound(t) for t in constraints.get("starttime", [])]
        wanted = statuses("constraint_status", status_values(constraints["status"]), CommandStatus) \
            if "status" in constraints else None
        if "id" in constraints:
            try:
                ids = sorted({int(t) for t in constraints["id"]})
            except ValueError:
                raise ValueError("constraint_id: command ids are numbers") from None
            rows = [r for r in (command_or_none(farm, i) for i in ids)
                    if r is not None and (wanted is None or int(r["status"]) in wanted)]
        else:
            rows = farm.commands(status=wanted, limit=MAX_COMMANDS_SCANNED)  # type: ignore[arg-type]
    matching = [r for r in rows if all(time_admits(b, r.get("start_time")) for b in bounds)]
    page = matching[offset:offset + limit]
    items = [picked(CommandModel.from_view(r).encode(), attrs or list(CommandModel.__dataclass_fields__))
             for r in page]
    answer = summary(len(items), len(matching), started)
    answer["offset"] = offset
    answer["next"] = offset + limit if offset + limit < len(matching) else None
    return {"summary": answer, "items": items}


# ------------------------------------------------------------------ pools, render nodes, licences
@router.put("/pools/{pool}/rendernodes", summary="Puli's pool members: {renderNodes: [names]}")
def put_pool_nodes(request: Request, pool: NodeName, body: Annotated[Any, Body()],
                   who: Caller = CallerDependency) -> PlainTextResponse:
    names = listed(body, "renderNodes")
    who.farm(context_of(request)).set_pool_nodes(pool, names)
    return PlainTextResponse(f"Pool {pool} has {len(names)} render nodes")


@router.put("/rendernodes/performance", summary="Puli's performance index: {name: perf} (null: the agent's own)")
def put_performance(request: Request, body: Annotated[Any, Body()],
                    who: Caller = CallerDependency) -> PlainTextResponse:
    if not isinstance(body, dict) or not body or len(body) > MAX_BODY_VALUES:
        raise HTTPException(400, f"the body is {{name: performance}}, 1 to {MAX_BODY_VALUES} nodes")
    for name, value in body.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or value <= 0):
            raise HTTPException(400, f"{str(name)[:40]}: a performance is a number above 0 (or null)")
    farm = who.farm(context_of(request))
    for name, value in body.items():
        farm.set_node_performance(name, None if value is None else float(value))
    return PlainTextResponse(f"Performance set for {len(body)} render nodes")


@router.put("/rendernodes/quarantine", summary="Puli's quarantine: false clears it, true pauses the nodes "
                                               "(nothing killed)")
def put_quarantine(request: Request, body: Annotated[Any, Body()],
                   who: Caller = CallerDependency) -> PlainTextResponse:
    quarantine = field_of(body, "quarantine")
    if not isinstance(quarantine, bool):
        raise HTTPException(400, "quarantine: true or false")
    names = listed(body, "rns")
    farm = who.farm(context_of(request))
    for name in names:
        if quarantine:
            farm.pause_node(name, kill=False)
        else:
            farm.clear_quarantine(name)
    return PlainTextResponse(f"{'Paused' if quarantine else 'Quarantine cleared for'} {len(names)} render nodes")


@router.delete("/rendernodes/{name}", summary="Forget a render node that left the mesh (a connected one: 409)")
def delete_rendernode(request: Request, name: NodeName, who: Caller = CallerDependency) -> PlainTextResponse:
    who.farm(context_of(request)).remove_node(name)
    return PlainTextResponse(f"Render node {name} removed")


def licence_text(rows: list[dict[str, Any]]) -> str:
    """Puli's ``repr`` of its licence manager: ``{'name': 'used / total'}``."""
    return repr({row["name"]: f"{row['used']} / {row['total']}" for row in rows})


@router.get("/licenses", summary="Puli's licences: {'name': 'used / total'} (text)")
def licences(request: Request, who: Caller = CallerDependency) -> PlainTextResponse:
    return PlainTextResponse(licence_text(who.farm(context_of(request)).licences()))


@router.get("/licenses/{name}", summary="One licence: {max, used, rns}")
def licence(request: Request, name: NodeName, who: Caller = CallerDependency) -> dict[str, Any]:
    for row in who.farm(context_of(request)).licences():
        if row["name"] == name:
            return {"max": row["total"], "used": row["used"], "rns": sorted(row.get("rns") or [])}
    raise HTTPException(404, f"no licence {name[:40]!r}")


@router.put("/licenses/{name}", summary="Puli's licence total: {maxlic: N}")
def put_licence(request: Request, name: NodeName, body: Annotated[Any, Body()],
                who: Caller = CallerDependency) -> PlainTextResponse:
    total = field_of(body, "maxlic")
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise HTTPException(400, "maxlic: a whole number, 0 or more")
    who.farm(context_of(request)).set_licence(name, total)
    return PlainTextResponse(f"Licence {name}: {total}")


# ------------------------------------------------------------------ bulk edits
def bulk_edit(request: Request, who: Caller, apply: Callable[[Farm, int], None]) -> dict[str, Any]:
    """``apply`` to every job ``/query``'s constraints of this request find (at most
    :data:`MAX_BULK_JOBS`); a job the mesh refuses is skipped and listed."""
    started = time.monotonic()
    _, constraints, _ = constraints_of(request)
    if not constraints:
        raise HTTPException(400, "a bulk edit of every job is refused: give at least one constraint_...")
    server = server_for(request, who)
    with puli_errors():
        found, answer = QueueHandler(server).getJobs(recursive=False, **job_query(constraints))
    if len(found) > MAX_BULK_JOBS:
        raise HTTPException(400, f"{len(found)} jobs match: one bulk edit edits at most {MAX_BULK_JOBS}; "
                                 "narrow the constraints")
    farm = who.farm(context_of(request))
    edited: list[int] = []
    refused: list[dict[str, Any]] = []
    for job in found:
        try:
            apply(farm, job.id)
        except SKIPPED_EDITS as exc:
            refused.append({"id": job.id, "code": exc.code, "message": str(exc)})
        else:
            edited.append(job.id)
    return bulk_answer(edited, refused, len(found), int(answer["totalInDispatcher"]), started)


@router.put("/pause", summary="Puli's bulk pause of the jobs constraint_*= find")
def bulk_pause(request: Request, who: Caller = CallerDependency) -> dict[str, Any]:
    return bulk_edit(request, who, lambda farm, job_id: farm.pause(job_id))


@router.put("/resume", summary="Puli's bulk resume of the jobs constraint_*= find")
def bulk_resume(request: Request, who: Caller = CallerDependency) -> dict[str, Any]:
    return bulk_edit(request, who, lambda farm, job_id: farm.resume(job_id))


@router.put("/edit/status", summary="Puli's bulk status: update_status=N (READY restarts, CANCELED cancels, "
                                    "PAUSED pauses)")
def bulk_status(request: Request, who: Caller = CallerDependency) -> dict[str, Any]:
    raw = int_param(request, "update_status")
    try:
        action = PULI_STATUS_EDITS.get(NodeStatus(raw))
    except ValueError:
        action = None
    if action is None:
        takes = ", ".join(f"{int(s)} ({s.name})" for s in PULI_STATUS_EDITS)
        raise HTTPException(400, f"update_status {raw}: this mesh takes {takes}")
    return bulk_edit(request, who, lambda farm, job_id: getattr(farm, action)(job_id))


@router.put("/edit/maxrn", summary="Puli's bulk maxRN: value=N (-1: no limit)")
def bulk_max_rn(request: Request, who: Caller = CallerDependency) -> dict[str, Any]:
    value = int_param(request, "value", minimum=-1)
    return bulk_edit(request, who, lambda farm, job_id: farm.set(job_id, maxRN=value))


@router.put("/edit/prio", summary="Puli's bulk priority (the dispatch key): value=N")
def bulk_priority(request: Request, who: Caller = CallerDependency) -> dict[str, Any]:
    value = int_param(request, "value")
    return bulk_edit(request, who, lambda farm, job_id: farm.set(job_id, priority=value))

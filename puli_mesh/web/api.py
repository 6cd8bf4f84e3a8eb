"""The JSON API under ``/api/``: :class:`puliclient.farm.Farm` over HTTP.

Reads: ``whoami``, ``status``, ``jobs`` (filtered, one page at a time: ``{"items", "cursor"}``,
ask again with ``cursor`` for the next; or ``sort``-ed, the first ``limit``), a job's tree
(``jobs/{id}``), ``commands`` (paged the same way), one command, its log (a piece from an
``offset``, the ``tail``, or ``follow``: the log as it grows, as server-sent events),
``nodes``, ``licences``, ``pools``, ``stats``, ``history`` (the per-minute samples since ``since``).
Edits (POST, the caller's role decides at the leader): a job's (or task group's, task's)
``pause``, ``resume``, ``cancel``, ``restart`` (``errors_only``), ``set`` (priority, maxRN...);
a command's ``pause``, ``resume``, ``cancel``, ``restart``, ``done``; a render node's
``pause``, ``drain``, ``resume``; submitting a graph (``POST /api/jobs``, Puli's graph JSON).

Guarantees: every route is a plain ``def`` (FastAPI runs it in its thread pool, off the event
loop) that asks the mesh as the caller (``web.context``); every input is bounded (ids, page
sizes, offsets, lists of filters, bodies); the mesh checks the caller's role, never this module.

Not here: who the caller is (``web.app.caller``), error bodies and codes (``web.app``), the
monitor's pages, Puli's own endpoints.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from puli_mesh.node.logs import MAX_CHUNK
from puli_mesh.web.callers import Caller, CallerDependency, context_of
from puliclient.errors import Error as PuliclientError
from puliclient.farm import Farm

router = APIRouter(prefix="/api", tags=["farm"])

MAX_ID = 2**53
"""The largest id or offset taken (JSON's exact integers)."""
MAX_FILTER_VALUES = 50
"""Values one filter may list (``?status=RUNNING&status=ERROR``...)."""
MAX_TEXT = 256
PAGE_DEFAULT = 100
PAGE_MAX = 1000
TAIL_MAX_LINES = 10_000
FOLLOW_SECONDS = 3600.0
"""How long one ``follow`` stream lasts at most (the browser reconnects from its last offset)."""
FOLLOW_INTERVAL_S = 0.5

Id = Annotated[int, Field(ge=0, le=MAX_ID)]
Texts = Annotated[list[Annotated[str, Field(max_length=MAX_TEXT)]] | None, Query(max_length=MAX_FILTER_VALUES)]
Epoch = Annotated[float | None, Query(ge=0, le=1e11)]


def farm(request: Request, who: Caller) -> Farm:
    return who.farm(context_of(request))


def page(farm_: Farm, what: str, limit: int, cursor: int | None, **args: Any) -> dict[str, Any]:
    """One page of a listing, as the leader answers it (``Farm.listing`` reads them all)."""
    args = {k: v for k, v in args.items() if v not in (None, [], "")}
    if cursor is not None:
        args["cursor"] = cursor
    answer = farm_.query(what, **args, limit=limit)
    return {"items": answer["items"], "cursor": answer["cursor"]}


# -------------------------------------------------------------------------- reads
@router.get("/whoami", summary="Who the caller is: name, role, token expiry")
def whoami(who: Caller = CallerDependency) -> dict[str, Any]:
    return who.identity.to_data()


@router.get("/status", summary="Cluster, leader, epoch and the render nodes (Farm.status)")
def status(request: Request, nodes_limit: Annotated[int | None, Query(ge=0, le=500)] = None,
           who: Caller = CallerDependency) -> dict[str, Any]:
    return farm(request, who).status(nodes_limit)


@router.get("/jobs", summary="Jobs matching every filter, one page (Farm.jobs)")
def jobs(request: Request, id: Annotated[list[Id] | None, Query(max_length=MAX_FILTER_VALUES)] = None,  # noqa: A002
         user: Texts = None, status: Texts = None, name: Texts = None, pool: Texts = None,
         since: Epoch = None, created_before: Epoch = None, started_after: Epoch = None,
         started_before: Epoch = None, ended_after: Epoch = None, ended_before: Epoch = None,
         limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = PAGE_DEFAULT,
         cursor: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
         sort: Annotated[str | None, Query(max_length=MAX_TEXT)] = None, reverse: bool = False,
         who: Caller = CallerDependency) -> dict[str, Any]:
    filters = {"user": user, "status": status, "name": name, "pool": pool, "since": since,
               "created_before": created_before, "started_after": started_after, "started_before": started_before,
               "ended_after": ended_after, "ended_before": ended_before}
    if sort is not None:  # sorting needs every match (Farm.jobs reads them all): the first `limit`, no cursor
        rows = farm(request, who).jobs(ids=id, sort=sort, reverse=reverse, limit=limit, **filters)
        return {"items": rows, "cursor": None}
    return page(farm(request, who), "graphs", limit, cursor, id=id, **filters)


@router.get("/jobs/{job_id}", summary="A job (or any node of it): its tree (Farm.graph)")
def job(request: Request, job_id: Id, children: bool = True, who: Caller = CallerDependency) -> dict[str, Any]:
    return farm(request, who).graph(job_id, children)


@router.get("/commands", summary="Commands of a job, task group or task, one page (Farm.commands)")
def commands(request: Request, job: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
             status: Texts = None, node: Annotated[str | None, Query(max_length=MAX_TEXT)] = None,
             limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = PAGE_DEFAULT,
             cursor: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
             who: Caller = CallerDependency) -> dict[str, Any]:
    return page(farm(request, who), "commands", limit, cursor, id=job, status=status, node=node)


@router.get("/commands/{command_id}", summary="One command (Farm.command)")
def command(request: Request, command_id: Id, who: Caller = CallerDependency) -> dict[str, Any]:
    return farm(request, who).command(command_id)


def log_piece(piece: dict[str, Any]) -> dict[str, Any]:
    """A piece of log as JSON: its bytes as text (UTF-8, undecodable bytes replaced)."""
    return {"node": piece.get("node"), "path": piece.get("path"), "size": piece.get("size"),
            "next_offset": piece.get("next_offset"),
            "data": bytes(piece.get("data") or b"").decode("utf-8", errors="replace")}


@router.get("/commands/{command_id}/log",
            summary="A piece of a command's log from `offset` (negative: from the end); poll with next_offset")
def command_log(request: Request, command_id: Id, offset: Annotated[int, Query(ge=-MAX_ID, le=MAX_ID)] = 0,
                limit: Annotated[int, Query(ge=1, le=MAX_CHUNK)] = 256 * 1024,
                who: Caller = CallerDependency) -> dict[str, Any]:
    return log_piece(farm(request, who).read_log(command_id, offset, limit))


@router.get("/commands/{command_id}/log/tail", summary="The last lines of a command's log")
def command_log_tail(request: Request, command_id: Id, lines: Annotated[int, Query(ge=0, le=TAIL_MAX_LINES)] = 50,
                     who: Caller = CallerDependency) -> dict[str, Any]:
    return {"text": farm(request, who).tail_log(command_id, lines)}


@router.get("/commands/{command_id}/log/follow",
            summary="The log as it grows, as server-sent events (`data`: {text, offset}) until the command ends")
def command_log_follow(request: Request, command_id: Id, offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
                       who: Caller = CallerDependency) -> StreamingResponse:
    mesh = farm(request, who)

    def events() -> Iterator[str]:
        at = offset
        try:
            for piece in mesh.follow_log(command_id, offset=offset, interval=FOLLOW_INTERVAL_S,
                                         timeout=FOLLOW_SECONDS):
                at += len(piece)
                text = piece.decode("utf-8", errors="replace")
                yield f"id: {at}\ndata: {json.dumps({'text': text, 'offset': at})}\n\n"
            yield f"event: end\ndata: {json.dumps({'offset': at})}\n\n"
        except TimeoutError:
            yield f"event: timeout\ndata: {json.dumps({'offset': at})}\n\n"
        except PuliclientError as exc:
            yield f"event: error\ndata: {json.dumps({'message': str(exc), 'offset': at})}\n\n"

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


@router.get("/nodes", summary="Render nodes, filtered (Farm.nodes)")
def nodes(request: Request, pool: Annotated[str | None, Query(max_length=MAX_TEXT)] = None,
          state: Texts = None, name: Texts = None, who: Caller = CallerDependency) -> list[dict[str, Any]]:
    return farm(request, who).nodes(pool=pool, state=state, name=name)


@router.get("/licences", summary="Licences: used / total (Farm.licences)")
def licences(request: Request, who: Caller = CallerDependency) -> list[dict[str, Any]]:
    return farm(request, who).licences()


@router.get("/pools", summary="Pools as the leader sees them (Farm.pools)")
def pools(request: Request, who: Caller = CallerDependency) -> list[dict[str, Any]]:
    return farm(request, who).pools()


@router.get("/stats", summary="The last hour, a sample per minute (Farm.stats)")
def stats(request: Request, who: Caller = CallerDependency) -> dict[str, Any]:
    return farm(request, who).stats()


@router.get("/history", summary="The farm's per-minute samples since `since` (epoch seconds), oldest first "
                             "(Farm.history)")
def history(request: Request, since: Epoch = None, who: Caller = CallerDependency) -> list[dict[str, Any]]:
    return farm(request, who).history(since)


# -------------------------------------------------------------------------- edits
class Edit(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PauseBody(Edit):
    kill: bool = False


class RestartBody(Edit):
    errors_only: bool = False
    cascade: bool = True


class JobValues(Edit):
    """What ``set`` may change (Farm.set); the leader checks each value as for the CLI."""

    priority: int | None = Field(None, ge=-1_000_000, le=1_000_000)
    maxRN: int | None = Field(None, ge=-1, le=1_000_000)  # noqa: N815 (Puli's name)
    maxAttempt: int | None = Field(None, ge=1, le=1000)  # noqa: N815
    ramUse: int | None = Field(None, ge=0, le=2**40)  # noqa: N815
    timer: float | None = Field(None, ge=0, le=1e11)
    pool: str | None = Field(None, max_length=MAX_TEXT)
    name: str | None = Field(None, max_length=MAX_TEXT)
    user: str | None = Field(None, max_length=MAX_TEXT)


OK = {"ok": True}


@router.post("/jobs/{job_id}/pause", summary="Pause a job, task group or task (`kill` stops what runs)")
def pause(request: Request, job_id: Id, body: PauseBody | None = None,
          who: Caller = CallerDependency) -> dict[str, Any]:
    farm(request, who).pause(job_id, kill=(body or PauseBody()).kill)
    return OK


@router.post("/jobs/{job_id}/resume", summary="Resume a job, task group or task")
def resume(request: Request, job_id: Id, who: Caller = CallerDependency) -> dict[str, Any]:
    farm(request, who).resume(job_id)
    return OK


@router.post("/jobs/{job_id}/cancel", summary="Cancel a job, task group or task")
def cancel(request: Request, job_id: Id, who: Caller = CallerDependency) -> dict[str, Any]:
    farm(request, who).cancel(job_id)
    return OK


@router.post("/jobs/{job_id}/restart", summary="Run again: all, or `errors_only`")
def restart(request: Request, job_id: Id, body: RestartBody | None = None,
            who: Caller = CallerDependency) -> dict[str, Any]:
    values = body or RestartBody()
    farm(request, who).restart(job_id, errors_only=values.errors_only, cascade=values.cascade)
    return OK


@router.post("/jobs/{job_id}/set", summary="Set priority, maxRN, maxAttempt, ramUse, timer, pool, name, user")
def set_values(request: Request, job_id: Id, body: JobValues, who: Caller = CallerDependency) -> dict[str, Any]:
    values = body.model_dump(exclude_unset=True)
    if values:
        farm(request, who).set(job_id, **values)
    return OK


@router.post("/jobs", status_code=201, summary="Submit a graph (Puli's graph JSON, as Graph.submit sends it)")
def submit(request: Request, graph: Annotated[dict[str, Any], Body()],
           who: Caller = CallerDependency) -> dict[str, Any]:
    reply = farm(request, who).request("SUBMIT", graph=graph)
    return dict(reply)


COMMAND_EDITS = {"cancel": Farm.cancel_command, "restart": Farm.restart_command, "done": Farm.done_command,
                 "resume": Farm.resume_command}


@router.post("/commands/{command_id}/pause", summary="Hold one command (`kill` stops it if it runs)")
def pause_command(request: Request, command_id: Id, body: PauseBody | None = None,
                  who: Caller = CallerDependency) -> dict[str, Any]:
    farm(request, who).pause_command(command_id, kill=(body or PauseBody()).kill)
    return OK


@router.post("/commands/{command_id}/{action}", summary="A command's cancel, restart, done or resume")
def edit_command(request: Request, command_id: Id, action: str, who: Caller = CallerDependency) -> dict[str, Any]:
    edit = COMMAND_EDITS.get(action)
    if edit is None:
        raise HTTPException(404, f"no command action {action[:40]!r}: one of {', '.join(sorted(COMMAND_EDITS))}")
    edit(farm(request, who), command_id)
    return OK


NodeName = Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]


@router.post("/nodes/{name}/pause", summary="No new work for a render node (`kill` re-queues what runs)")
def pause_node(request: Request, name: NodeName, body: PauseBody | None = None,
               who: Caller = CallerDependency) -> dict[str, Any]:
    farm(request, who).pause_node(name, kill=(body or PauseBody()).kill)
    return OK


@router.post("/nodes/{name}/drain", summary="Finish what runs on a render node, take nothing new")
def drain_node(request: Request, name: NodeName, who: Caller = CallerDependency) -> dict[str, Any]:
    farm(request, who).drain_node(name)
    return OK


@router.post("/nodes/{name}/resume", summary="A paused or draining render node takes work again")
def resume_node(request: Request, name: NodeName, who: Caller = CallerDependency) -> dict[str, Any]:
    farm(request, who).resume_node(name)
    return OK

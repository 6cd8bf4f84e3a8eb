"""The JSON API under ``/api/``: :class:`puliclient.farm.Farm` over HTTP.

Reads: ``whoami``, ``status``, ``jobs`` (filtered, tags too, one page at a time:
``{"items", "cursor"}``, ask again with ``cursor`` for the next; or ``sort``-ed, the first
``limit``), a job's tree (``jobs/{id}``), ``commands`` (paged the same way), one command, its log
(a piece from an ``offset``, the ``tail``, or ``follow``: the log as it grows, as server-sent
events), ``nodes`` (Farm.nodes' filters, a slice from ``offset``), ``licences``, ``pools``,
``stats``, ``history`` (the per-minute samples since ``since``), ``hooks``, ``shares``, ``quotas``.
Edits (POST, the caller's role decides at the leader): a job's (or task group's, task's)
``pause``, ``resume``, ``cancel``, ``restart``, ``set`` (priority, maxRN, strategy, user...),
``tags``, ``environment``, ``arguments``, ``archive``, and the same for every job a filter matches
(``jobs/edit``); a command's ``pause``, ``resume``, ``cancel``, ``restart``, ``done``, ``set``; a
render node's ``pause``, ``drain``, ``resume``, ``set``, ``unquarantine``, ``clear``, ``remove``; the
leader's ``step-down``; the cluster settings (a licence, a pool and its nodes, event hooks);
submitting a graph (``POST /api/jobs``, Puli's graph JSON). Which route does what each Farm
method does: ``tests/unit/web/test_api.py`` (it fails when Farm gains a method without one).

Guarantees: every route is a plain ``def`` (FastAPI runs it in its thread pool, off the event
loop) that asks the mesh as the caller (``web.context``); every input is bounded (ids, page
sizes, offsets, lists of filters, bodies); the mesh checks the caller's role, never this module.

Not here: who the caller is (``web.app.caller``), error bodies and codes (``web.app``), the
monitor's pages, Puli's own endpoints.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, HTTPException, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from puli_mesh.hooks import EVENT_KINDS, MAX_COMMAND_CHARS, MAX_FILTER_CHARS, MAX_HOOK_NAME_CHARS, MAX_URL_CHARS
from puli_mesh.limits import DEFAULT_GRAPH_LIMITS, INT64_MAX
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
TOTAL_HEADER = "X-Total-Count"
"""The header of a listing answered as a plain list (``/api/nodes``): how many items match."""
MAX_MAP_KEYS = DEFAULT_GRAPH_LIMITS.value_items
"""Keys of a map a caller sends (tags, environment, arguments); the leader checks the rest."""

Id = Annotated[int, Field(ge=0, le=MAX_ID)]
Texts = Annotated[list[Annotated[str, Field(max_length=MAX_TEXT)]] | None, Query(max_length=MAX_FILTER_VALUES)]
Epoch = Annotated[float | None, Query(ge=0, le=1e11)]
NodeName = Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]
OK = {"ok": True}
"""What an edit answers once the leader took it."""


def farm(request: Request, who: Caller) -> Farm:
    return who.farm(context_of(request))


def page(farm_: Farm, what: str, limit: int, cursor: int | None, **args: Any) -> dict[str, Any]:
    """One page of a listing, as the leader answers it (``Farm.listing`` reads them all)."""
    args = {k: v for k, v in args.items() if v not in (None, [], "")}
    if cursor is not None:
        args["cursor"] = cursor
    answer = farm_.query(what, **args, limit=limit)
    return {"items": answer["items"], "cursor": answer["cursor"]}


def read_route(path: str, summary: str, call: Callable[[Farm], Any]) -> None:
    """GET ``path`` (no parameters): what ``call`` answers of the caller's Farm."""
    def route(request: Request, who: Caller = CallerDependency) -> Any:
        return call(farm(request, who))

    router.get(path, summary=summary, name=call.__name__)(route)


def job_edit(action: str, summary: str, call: Callable[[Farm, int], object]) -> None:
    """POST ``/jobs/{job_id}/<action>`` without a body: ``call(farm, job_id)``, answered :data:`OK`."""
    def route(request: Request, job_id: Id, who: Caller = CallerDependency) -> dict[str, Any]:
        call(farm(request, who), job_id)
        return OK

    router.post(f"/jobs/{{job_id}}/{action}", summary=summary, name=call.__name__)(route)


def node_edit(action: str, summary: str, call: Callable[[Farm, str], object]) -> None:
    """POST ``/nodes/{name}/<action>`` without a body: ``call(farm, name)``, answered :data:`OK`."""
    def route(request: Request, name: NodeName, who: Caller = CallerDependency) -> dict[str, Any]:
        call(farm(request, who), name)
        return OK

    router.post(f"/nodes/{{name}}/{action}", summary=summary, name=call.__name__)(route)


def set_given(call: Callable[..., object], key: int | str, body: BaseModel) -> dict[str, Any]:
    """``call(key, **values)`` with the values the body gives (none given: nothing sent), answered :data:`OK`."""
    values = body.model_dump(exclude_unset=True)
    if values:
        call(key, **values)
    return OK


# -------------------------------------------------------------------------- reads
@router.get("/whoami", summary="Who the caller is: name, role, token expiry")
def whoami(who: Caller = CallerDependency) -> dict[str, Any]:
    return who.identity.to_data()


@router.get("/status", summary="Cluster, leader, epoch and the render nodes (Farm.status)")
def status(request: Request, nodes_limit: Annotated[int | None, Query(ge=0, le=500)] = None,
           who: Caller = CallerDependency) -> dict[str, Any]:
    return farm(request, who).status(nodes_limit)


def tags_filter(pairs: list[str] | None) -> dict[str, str] | None:
    """``?tag=prod=film&tag=seq=010`` -> ``{"prod": "film", "seq": "010"}`` (None: no filter), as the
    CLI's ``--tag``."""
    tags: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise HTTPException(422, f"tag {pair[:60]!r}: write KEY=VALUE")
        tags[key] = value
    return tags or None


@router.get("/jobs", summary="Jobs matching every filter (`tag=KEY=VALUE` repeated: all of them), one page "
                             "(Farm.jobs)")
def jobs(request: Request, id: Annotated[list[Id] | None, Query(max_length=MAX_FILTER_VALUES)] = None,  # noqa: A002
         user: Texts = None, status: Texts = None, name: Texts = None, pool: Texts = None,
         tag: Texts = None, since: Epoch = None, created_before: Epoch = None, started_after: Epoch = None,
         started_before: Epoch = None, ended_after: Epoch = None, ended_before: Epoch = None,
         limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = PAGE_DEFAULT,
         cursor: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
         sort: Annotated[str | None, Query(max_length=MAX_TEXT)] = None, reverse: bool = False,
         who: Caller = CallerDependency) -> dict[str, Any]:
    filters = {"user": user, "status": status, "name": name, "tags": tags_filter(tag), "pool": pool, "since": since,
               "created_before": created_before, "started_after": started_after, "started_before": started_before,
               "ended_after": ended_after, "ended_before": ended_before}
    if sort is not None:  # sorting needs every match (Farm.jobs reads them all): the first `limit`, no cursor
        rows = farm(request, who).jobs(ids=id, sort=sort, reverse=reverse, limit=limit, **filters)
        return {"items": rows, "cursor": None}
    # `reverse` alone: newest first, paged at the leader like the id order
    return page(farm(request, who), "graphs", limit, cursor, id=id, newest_first=reverse or None, **filters)


@router.get("/jobs/{job_id}", summary="A job (or any node of it): its tree (Farm.graph)")
def job(request: Request, job_id: Id, children: bool = True, who: Caller = CallerDependency) -> dict[str, Any]:
    return farm(request, who).graph(job_id, children)


@router.get("/commands", summary="Commands of a job, task group or task (`graph`, or `job`), by status and "
                                 "by the node that runs or last ran them, one page (Farm.commands)")
def commands(request: Request, graph: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
             job: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
             status: Texts = None, node: Annotated[str | None, Query(max_length=MAX_TEXT)] = None,
             limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = PAGE_DEFAULT,
             cursor: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
             who: Caller = CallerDependency) -> dict[str, Any]:
    return page(farm(request, who), "commands", limit, cursor, id=job if graph is None else graph,
                status=status, node=node)


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


Bound = Annotated[str | None, Query(max_length=32, description="`+2` more than 2, `-2` less than 2, `2` exactly 2")]


@router.get("/nodes", summary="Render nodes by name (or `sort`), filtered as Farm.nodes; from `offset`, at most "
                              "`limit` (header X-Total-Count: how many match)")
def nodes(request: Request, response: Response, pool: Annotated[str | None, Query(max_length=MAX_TEXT)] = None,
          state: Texts = None, name: Texts = None, speed: Bound = None, ram: Bound = None, cores: Bound = None,
          sort: Annotated[str | None, Query(max_length=MAX_TEXT)] = None, reverse: bool = False,
          offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
          limit: Annotated[int | None, Query(ge=1, le=PAGE_MAX)] = None,
          who: Caller = CallerDependency) -> list[dict[str, Any]]:
    answer = farm(request, who).node_page(pool=pool, state=state, name=name, speed=speed, ram=ram, cores=cores,
                                          sort=sort, reverse=reverse, offset=offset, limit=limit)
    response.headers[TOTAL_HEADER] = str(answer["total"])
    return list(answer["items"])


read_route("/licences", "Licences: used / total (Farm.licences)", Farm.licences)
read_route("/pools", "Pools as the leader sees them (Farm.pools)", Farm.pools)
read_route("/shares", "Share accounts: use against guarantee (min) and cap (max) (Farm.shares)", Farm.shares)
read_route("/quotas", "Quotas across pools: each user's or project's use against its max (Farm.quotas)",
           Farm.quotas)
read_route("/stats", "The last hour, a sample per minute, and jobs and render nodes by status (Farm.stats)",
           Farm.stats)


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


class JobSettings(Edit):
    """What ``set`` may change of one job or of every job a filter matches (Farm.set,
    Farm.edit_jobs); the leader checks each value as for the CLI."""

    priority: int | None = Field(None, ge=-1_000_000, le=1_000_000)
    maxRN: int | None = Field(None, ge=-1, le=1_000_000)  # noqa: N815 (Puli's name)
    maxAttempt: int | None = Field(None, ge=1, le=1000)  # noqa: N815
    ramUse: int | None = Field(None, ge=0, le=2**40)  # noqa: N815
    timer: float | None = Field(None, ge=0, le=1e11)
    pool: str | None = Field(None, max_length=MAX_TEXT)
    name: str | None = Field(None, max_length=MAX_TEXT)
    strategy: str | None = Field(None, max_length=MAX_TEXT, description="a group's (or a graph's root group's) "
                                 "strategy: FifoStrategy, PriorityStrategy... (puliclient.strategies)")


class JobValues(JobSettings):
    """:class:`JobSettings`, and ``user``: give a graph to another user (an operator's edit)."""

    user: str | None = Field(None, max_length=MAX_TEXT)



@router.post("/jobs/{job_id}/pause", summary="Pause a job, task group or task (`kill` stops what runs)")
def pause(request: Request, job_id: Id, body: PauseBody | None = None,
          who: Caller = CallerDependency) -> dict[str, Any]:
    farm(request, who).pause(job_id, kill=(body or PauseBody()).kill)
    return OK


job_edit("resume", "Resume a job, task group or task", Farm.resume)
job_edit("cancel", "Cancel a job, task group or task", Farm.cancel)


@router.post("/jobs/{job_id}/restart", summary="Run again: all, or `errors_only`")
def restart(request: Request, job_id: Id, body: RestartBody | None = None,
            who: Caller = CallerDependency) -> dict[str, Any]:
    values = body or RestartBody()
    farm(request, who).restart(job_id, errors_only=values.errors_only, cascade=values.cascade)
    return OK


@router.post("/jobs/{job_id}/set", summary="Set priority, maxRN, maxAttempt, ramUse, timer, pool, name, strategy; "
                                         "user (an operator's)")
def set_values(request: Request, job_id: Id, body: JobValues, who: Caller = CallerDependency) -> dict[str, Any]:
    return set_given(farm(request, who).set, job_id, body)


Map = Annotated[dict[Annotated[str, Field(max_length=DEFAULT_GRAPH_LIMITS.name_length)], Any],
                Body(max_length=MAX_MAP_KEYS)]


@router.post("/jobs/{job_id}/tags", summary="Merge tags into a job, task group or task (a null value removes one)")
def set_tags(request: Request, job_id: Id, tags: Map, who: Caller = CallerDependency) -> dict[str, Any]:
    farm(request, who).set_tags(job_id, **tags)
    return OK


@router.post("/jobs/{job_id}/environment",
             summary="Merge into the environment of the next commands under it (a null value removes a variable)")
def set_environment(request: Request, job_id: Id, environment: Map, who: Caller = CallerDependency) -> dict[str, Any]:
    farm(request, who).set_environment(job_id, environment)
    return OK


@router.post("/jobs/{job_id}/arguments",
             summary="Merge into the arguments of the next commands under it (a null value removes one)")
def set_arguments(request: Request, job_id: Id, arguments: Map, who: Caller = CallerDependency) -> dict[str, Any]:
    farm(request, who).set_arguments(job_id, arguments)
    return OK


job_edit("archive", "Remove a DONE or CANCELED job from the farm", Farm.archive)


class JobFilters(Edit):
    """Which jobs a bulk edit takes: those matching every filter given (as ``GET /api/jobs``)."""

    ids: list[Id] | None = Field(None, max_length=MAX_FILTER_VALUES)
    user: list[Annotated[str, Field(max_length=MAX_TEXT)]] | None = Field(None, max_length=MAX_FILTER_VALUES)
    status: list[Annotated[str, Field(max_length=MAX_TEXT)]] | None = Field(None, max_length=MAX_FILTER_VALUES)
    name: list[Annotated[str, Field(max_length=MAX_TEXT)]] | None = Field(None, max_length=MAX_FILTER_VALUES)
    pool: list[Annotated[str, Field(max_length=MAX_TEXT)]] | None = Field(None, max_length=MAX_FILTER_VALUES)
    tags: dict[Annotated[str, Field(max_length=MAX_TEXT)], Annotated[str, Field(max_length=MAX_TEXT)]] | None = \
        Field(None, max_length=MAX_FILTER_VALUES)
    since: float | None = Field(None, ge=0, le=1e11)
    created_before: float | None = Field(None, ge=0, le=1e11)
    started_after: float | None = Field(None, ge=0, le=1e11)
    started_before: float | None = Field(None, ge=0, le=1e11)
    ended_after: float | None = Field(None, ge=0, le=1e11)
    ended_before: float | None = Field(None, ge=0, le=1e11)


class BulkEdit(Edit):
    action: Literal["pause", "resume", "cancel", "restart", "set", "archive"]
    filters: JobFilters
    kill: bool = False
    errors_only: bool = False
    values: JobSettings | None = None


@router.post("/jobs/edit", summary="Pause, resume, cancel, restart, set or archive every job matching the "
                                   "filters (at least one); the ids edited (Farm.edit_jobs)")
def edit_jobs(request: Request, body: BulkEdit, who: Caller = CallerDependency) -> dict[str, Any]:
    values = body.values.model_dump(exclude_unset=True) if body.values is not None else None
    edited = farm(request, who).edit_jobs(body.action, kill=body.kill, errors_only=body.errors_only, values=values,
                                          **body.filters.model_dump(exclude_unset=True))
    return {"edited": edited}


@router.post("/jobs", status_code=201, summary="Submit a graph (Puli's graph JSON, as Graph.submit sends it)")
def submit(request: Request, graph: Annotated[dict[str, Any], Body()],
           who: Caller = CallerDependency) -> dict[str, Any]:
    reply = farm(request, who).request("SUBMIT", graph=graph)
    return dict(reply)


COMMAND_EDITS = {"cancel": Farm.cancel_command, "done": Farm.done_command, "resume": Farm.resume_command}
"""The command edits without a body (the others have their own routes, registered before these)."""


class CommandRestartBody(Edit):
    cascade: bool = True


class CommandValues(Edit):
    description: str | None = Field(None, max_length=DEFAULT_GRAPH_LIMITS.name_length)
    arguments: dict[Annotated[str, Field(max_length=DEFAULT_GRAPH_LIMITS.name_length)], Any] | None = \
        Field(None, max_length=MAX_MAP_KEYS)


@router.post("/commands/{command_id}/restart", summary="Run one command again (and what depends on it, unless "
                                                       "`cascade` is false)")
def restart_command(request: Request, command_id: Id, body: CommandRestartBody | None = None,
                    who: Caller = CallerDependency) -> dict[str, Any]:
    farm(request, who).restart_command(command_id, cascade=(body or CommandRestartBody()).cascade)
    return OK


@router.post("/commands/{command_id}/set", summary="A command's description and arguments (merged; a null "
                                                   "argument removes it), for its next run")
def set_command(request: Request, command_id: Id, body: CommandValues,
                who: Caller = CallerDependency) -> dict[str, Any]:
    farm(request, who).set_command(command_id, description=body.description, arguments=body.arguments)
    return OK


@router.post("/commands/{command_id}/pause", summary="Hold one command (`kill` stops it if it runs)")
def pause_command(request: Request, command_id: Id, body: PauseBody | None = None,
                  who: Caller = CallerDependency) -> dict[str, Any]:
    farm(request, who).pause_command(command_id, kill=(body or PauseBody()).kill)
    return OK


@router.post("/commands/{command_id}/{action}", summary="A command's cancel, done or resume")
def edit_command(request: Request, command_id: Id, action: str, who: Caller = CallerDependency) -> dict[str, Any]:
    edit = COMMAND_EDITS.get(action)
    if edit is None:
        raise HTTPException(404, f"no command action {action[:40]!r}: one of {', '.join(sorted(COMMAND_EDITS))}")
    edit(farm(request, who), command_id)
    return OK



@router.post("/nodes/{name}/pause", summary="No new work for a render node (`kill` re-queues what runs)")
def pause_node(request: Request, name: NodeName, body: PauseBody | None = None,
               who: Caller = CallerDependency) -> dict[str, Any]:
    farm(request, who).pause_node(name, kill=(body or PauseBody()).kill)
    return OK


node_edit("drain", "Finish what runs on a render node, take nothing new", Farm.drain_node)
node_edit("resume", "A paused or draining render node takes work again", Farm.resume_node)


class NodeValues(Edit):
    """An operator's values for a render node; a null goes back to what its agent says."""

    pools: list[Annotated[str, Field(max_length=MAX_TEXT)]] | None = Field(None, max_length=MAX_FILTER_VALUES)
    performance: float | None = Field(None, gt=0, allow_inf_nan=False)


@router.post("/nodes/{name}/set", summary="An operator's `pools` or `performance` for a render node (null: its "
                                          "agent's)")
def set_node(request: Request, name: NodeName, body: NodeValues, who: Caller = CallerDependency) -> dict[str, Any]:
    return set_given(farm(request, who).set_node, name, body)


node_edit("unquarantine", "Let a quarantined render node take work again", Farm.clear_quarantine)
node_edit("clear", "Forgive a render node: its quarantine, every job's and command's avoidance of it (nothing to "
          "forgive: 409)", Farm.clear_node)
node_edit("remove", "Forget a render node that left the mesh (a connected one: 409)", Farm.remove_node)


@router.post("/leader/step-down", summary="The leader hands over now (before maintenance); its name")
def step_down(request: Request, who: Caller = CallerDependency) -> dict[str, Any]:
    return {"leader": farm(request, who).step_down()}


# -------------------------------------------------------------- cluster settings
SettingName = Annotated[str, Field(min_length=1, max_length=DEFAULT_GRAPH_LIMITS.name_length)]


class LicenceTotal(Edit):
    total: int = Field(ge=0, le=INT64_MAX)


@router.post("/licences/{name}", summary="Define a licence or change its total (lowering it never kills)")
def set_licence(request: Request, name: SettingName, body: LicenceTotal,
                who: Caller = CallerDependency) -> dict[str, Any]:
    farm(request, who).set_licence(name, body.total)
    return OK


@router.post("/pools/{name}", summary="Define a pool (jobs may name it before any node joins it)")
def define_pool(request: Request, name: SettingName, who: Caller = CallerDependency) -> dict[str, Any]:
    farm(request, who).define_pool(name)
    return OK


class PoolNodes(Edit):
    names: list[Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]] = Field(max_length=PAGE_MAX * 10)


@router.post("/pools/{name}/nodes", summary="The render nodes of a pool are these now (each gets an operator's "
                                            "pools)")
def set_pool_nodes(request: Request, name: SettingName, body: PoolNodes,
                   who: Caller = CallerDependency) -> dict[str, Any]:
    farm(request, who).set_pool_nodes(name, body.names)
    return OK


read_route("/hooks", "Every event hook (Farm.hooks)", Farm.hooks)


class HookValues(Edit):
    """An event hook (``puli_mesh.hooks``: its events, where they go, whose jobs)."""

    name: str = Field(min_length=1, max_length=MAX_HOOK_NAME_CHARS)
    events: list[Annotated[str, Field(max_length=MAX_TEXT)]] = Field(min_length=1, max_length=len(EVENT_KINDS))
    url: str | None = Field(None, max_length=MAX_URL_CHARS)
    command: str | None = Field(None, max_length=MAX_COMMAND_CHARS)
    user: str | None = Field(None, max_length=MAX_FILTER_CHARS)
    pool: str | None = Field(None, max_length=MAX_FILTER_CHARS)


@router.post("/hooks", status_code=201, summary="Add (or replace) an event hook; the hook as kept (operator; "
                                                "admin with a command)")
def add_hook(request: Request, body: HookValues, who: Caller = CallerDependency) -> dict[str, Any]:
    return farm(request, who).add_hook(body.name, body.events, url=body.url, command=body.command, user=body.user,
                                       pool=body.pool)


@router.delete("/hooks/{name}", summary="Remove an event hook")
def remove_hook(request: Request, name: Annotated[str, Field(min_length=1, max_length=MAX_HOOK_NAME_CHARS)],
                who: Caller = CallerDependency) -> dict[str, Any]:
    farm(request, who).remove_hook(name)
    return OK

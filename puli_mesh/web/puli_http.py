"""Puli's own HTTP endpoints, answered from the mesh: what a Puli-era tool (``pul_query``,
``pul_rn``, ``puliclient.server`` over HTTP, a wrangler's script) sends to Puli's dispatcher.

Routes (Puli's paths and JSON shapes):

* ``POST /graphs/``: submit Puli's graph JSON; 201, ``Location: http://host:port/nodes/<id>``
  and Puli's text body ``Graph created.\\nCreated nodes: 1,2,3``;
* ``GET /nodes/<id>``: a job, group or task as Puli's ``to_json`` (its children nested);
* ``GET /rendernodes``: ``{"rendernodes": [...]}``;
* ``GET /query`` and ``GET /query/rn``: ``attr=`` (repeatable) picks the fields,
  ``constraint_<field>=`` filters (repeatable: any of them), ``tree=1`` nests children;
  ``POST /query/job`` and ``POST /query/rendernode``: the JSON bodies ``puliclient.server``
  sends; every query answers ``{"summary": {"count", "totalInDispatcher", "requestTime",
  "requestDate"}, "items": [...]}``;
* ``GET /stats``: jobs, commands and render nodes by status, cores, licences, date;
* edits: ``PUT /nodes/<id>/paused`` and ``/pauseKill`` (``{"paused": bool}``),
  ``/status`` (``{"status": N}``: READY restarts, ``?cmdStatus=`` only the failed commands;
  CANCELED cancels; PAUSED pauses), ``/priority``, ``/dispatchKey``, ``/maxRN``, ``/name``,
  ``/user``, ``/maxAttempt``, ``/strategy`` (``{"<field>": value}``; a strategy as
  ``puliclient.strategies`` names it), ``/prod`` (the tag).

What differs from Puli (the mesh's model is not Puli's): a render node's ``id`` is its name;
a job has one pool (``poolShares`` lists its name, no pool share ids); there is no
``updateTime`` and ``optimalMaxRN`` is 0 (as in Puli); ``/stats``'s ``commands`` counts
what the leader counts cheaply (ready, running, done and failed so far), not every status.

Guarantees: the same caller rule as ``/api/`` (``web.callers``: a Bearer token or the login
cookie on a secured mesh). A token in the URL (``?token=``) is NOT accepted: URLs end up in
access logs, proxies and shell history, where a token would outlive its purpose; a Puli-era
tool adds the header (``puliclient.server`` does, from ``PULI_TOKEN`` or ``PULI_KEY``).
Filtering follows ``puliclient.server``'s handlers (one place for Puli's filter semantics);
field names follow ``puliclient.query_fields``. Name and host regular expressions
(``constraint_name``, a body's ``name``/``host``) run on this agent's web thread: at most
``filters.MAX_PATTERNS`` of at most ``filters.MAX_PATTERN_CHARS`` characters, compiled once per
request, one that does not compile is a 400. Python's ``re`` has no timeout: a catastrophic
pattern within those bounds costs the caller's own request thread only (never the leader,
which filters no regular expression). Errors: 400 for a bad argument, the mesh's
codes as ``/api/`` maps them (404, 403, 409, 503).

Not here: the mesh's own JSON API (``web.api``), the endpoints of Puli's workers; Puli's bulk
edits (``/pause``, ``/edit/...``), commands, pools, licences and render node edits are in
``web.puli_edits``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Path, Request
from fastapi.responses import PlainTextResponse

from puli_mesh.web.api import MAX_ID
from puli_mesh.web.callers import Caller, CallerDependency, context_of
from puliclient.errors import FarmError, FarmUnreachableError
from puliclient.model.job import JobModel
from puliclient.model.renderNode import RenderNodeModel
from puliclient.query_fields import TAG_PREFIX, NumberBound
from puliclient.server.filters import summary
from puliclient.server.queueHandler import QueueHandler
from puliclient.server.renderNodeHandler import RenderNodeHandler
from puliclient.server.server import InvalidParamError, RequestError, Server
from puliclient.status import CommandStatus, NodeStatus

router = APIRouter(tags=["puli"])

JOB_ATTRS = (
    "id", "user", "name", "tags:prod", "tags:shot", "status", "completion", "dispatchKey", "startTime",
    "creationTime", "endTime", "updateTime", "averageTimeByFrame", "maxTimeByFrame", "minTimeByFrame", "maxRN",
    "optimalMaxRN", "allocatedRN", "maxAttempt", "commandCount", "readyCommandCount", "doneCommandCount",
)
"""``/query``'s fields when no ``attr`` is given (Puli's default)."""
RN_ATTRS = (
    "id", "name", "host", "port", "ramSize", "coresNumber", "speed", "status", "lastAliveTime", "createDate",
    "registerDate", "puliversion", "pools", "systemFreeRam", "systemSwapPercentage",
)
"""``/query/rn``'s fields when no ``attr`` is given (Puli's default)."""
RN_CHARACTERISTIC_PREFIX = "caracteristics:"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
"""How Puli's ``constraint_creationtime/starttime/endtime`` write a time (local time, ``>=``)."""
TIME_CONSTRAINTS = {"creationtime": "since", "starttime": "started_after", "endtime": "ended_after"}
"""Puli's time constraints and the ``Farm.jobs`` filters that do them at the leader."""
RN_BOUNDS = {"speed": "speed", "ramsize": "ramSize", "coresnumber": "coresNumber"}
"""pul_rn's numeric constraints (``+N`` more, ``-N`` less, ``N`` equal) and the field each bounds."""
MAX_VALUES = 200
"""Query parameters one ``/query`` may carry."""
MAX_BODY_VALUES = 1000
"""Values one key of a ``/query/job`` body may list (each name is a regular expression to run)."""
NodeId = Annotated[int, Path(ge=0, le=MAX_ID)]
PULI_STATUS_EDITS = {NodeStatus.READY: "restart", NodeStatus.CANCELED: "cancel", NodeStatus.PAUSED: "pause"}
"""What ``PUT /nodes/<id>/status`` does for each status it takes."""
NODE_FIELD_EDITS = ("priority", "dispatchKey", "maxRN", "name", "user", "maxAttempt", "strategy")
"""The single-field edits of ``PUT /nodes/<id>/<field>`` that ``Farm.set`` does."""


# ------------------------------------------------------------------ pure mapping
def job_json(job: JobModel, tree: bool) -> dict[str, Any]:
    """A job (or group, or task node) as Puli's node ``to_json``: the model's fields, Puli's
    extras (``optimalMaxRN``, ``userDefinedMaxRn``), children nested when ``tree`` (the mesh's
    ``priority`` is Puli's ``dispatchKey``)."""
    out = {name: getattr(job, name) for name in job.__dataclass_fields__
           if name not in ("known_children", "known_task", "server")}
    out["optimalMaxRN"] = 0
    out["userDefinedMaxRn"] = job.maxRN not in (-1, 0)
    out["children"] = []  # Puli's answer without the tree: no children
    if tree:  # the properties fetch a listed job's tree once
        out["children"] = [job_json(child, tree) for child in job.children]
        if job.task is not None:
            out["task"] = job.task.encode()
    return out


def picked(row: Mapping[str, Any], attrs: list[str]) -> dict[str, Any]:
    """The fields ``attrs`` names of ``row``; ``tags:KEY`` and ``caracteristics:KEY`` read a key
    of that dict (Puli's spelling); a field the row lacks is None, as Puli answered."""
    out: dict[str, Any] = {}
    for attr in attrs:
        for prefix, holder in ((TAG_PREFIX, "tags"), (RN_CHARACTERISTIC_PREFIX, "caracteristics")):
            if attr.startswith(prefix):
                out[attr] = (row.get(holder) or {}).get(attr[len(prefix):])
                break
        else:
            out[attr] = row.get(attr)
    return out


def with_children(job: JobModel, attrs: list[str], tree: bool) -> dict[str, Any]:
    item = picked(job_json(job, False), attrs)
    if tree:
        item["children"] = [with_children(c, attrs, tree) for c in job.children]
    return item


def parse_time(text: str, what: str) -> float:
    """Puli's ``"YYYY-mm-dd HH:MM:SS"`` (local time) as epoch seconds; ``ValueError`` saying how."""
    try:
        return datetime.strptime(text.strip(), TIME_FORMAT).timestamp()
    except ValueError:
        raise ValueError(f"constraint_{what}: write a time as {TIME_FORMAT!r}, not {text[:40]!r}") from None


def status_values(texts: list[str]) -> list[int | str]:
    """Statuses as Puli sent them (numbers) or by name."""
    return [int(t) if t.strip().lstrip("-").isdigit() else t.strip() for t in texts]


def job_query(constraints: Mapping[str, list[str]]) -> dict[str, Any]:
    """``QueueHandler.getJobs``'s arguments for Puli's ``constraint_*`` values; ``ValueError``
    for one it does not know or cannot read."""
    args: dict[str, Any] = {}
    mesh_filters: dict[str, float] = {}
    for key, texts in constraints.items():
        if key == "id":
            try:
                args["idList"] = [int(t) for t in texts]
            except ValueError:
                raise ValueError(f"constraint_id: ids are numbers, not {texts!r}") from None
        elif key == "status":
            args["statusList"] = status_values(texts)
        elif key == "user":
            args["userList"] = texts
        elif key == "name":
            args["nameList"] = texts
        elif key == "pool":
            args["poolList"] = texts
        elif key == "prod":
            args["tagsDict"] = {"prod": texts}
        elif key in TIME_CONSTRAINTS:
            mesh_filters[TIME_CONSTRAINTS[key]] = max(parse_time(t, key) for t in texts)
        else:
            known = ", ".join(["id", "status", "user", "name", "pool", "prod", *TIME_CONSTRAINTS])
            raise ValueError(f"unknown constraint_{key}; known: {known}")
    if mesh_filters:
        args["meshFilters"] = mesh_filters
    return args


def node_query(constraints: Mapping[str, list[str]]) -> tuple[dict[str, Any], list[tuple[str, NumberBound]]]:
    """``RenderNodeHandler.getRenderNodes``'s arguments and the numeric bounds (field, bound)
    for pul_rn's ``constraint_*`` values; ``ValueError`` for one it does not know or cannot read."""
    args: dict[str, Any] = {}
    bounds: list[tuple[str, NumberBound]] = []
    for key, texts in constraints.items():
        if key == "status":
            args["statusList"] = status_values(texts)
        elif key in ("name", "host", "pool", "version"):
            args[f"{key}List"] = texts
        elif key in RN_BOUNDS:
            bounds += [(RN_BOUNDS[key], NumberBound.parse(t, key)) for t in texts]
        else:
            known = ", ".join(["status", "name", "host", "pool", "version", *RN_BOUNDS])
            raise ValueError(f"unknown constraint_{key}; known: {known}")
    return args, bounds


def stats_json(stats: Mapping[str, Any], now: float) -> dict[str, Any]:
    """Puli's ``/stats`` from ``Farm.stats()``: jobs, render nodes and commands by status (each
    with ``TOTAL``), cores, licences, date."""
    current = stats.get("current") or {}
    totals = stats.get("totals") or {}
    nodes = dict(stats.get("render_nodes_by_status") or {})
    licences = current.get("licences") or {}
    slots, busy = int(current.get("slots") or 0), int(current.get("busy_slots") or 0)
    commands = {CommandStatus.READY.name: current.get("ready", 0),
                CommandStatus.RUNNING.name: current.get("running", 0),
                CommandStatus.DONE.name: totals.get("done", 0), CommandStatus.ERROR.name: totals.get("failed", 0)}
    commands["TOTAL"] = sum(int(v or 0) for v in commands.values())
    return {
        "date": now,
        "jobs": dict(stats.get("jobs_by_status") or {}),
        "commands": commands,
        "rendernodes": {"totalCores": slots, "idleCores": slots - busy,
                        "missingRenderNodes": int(nodes.get("UNKNOWN", 0)), "renderNodesByStatus": nodes},
        "licenses": repr({name: f"{used} / {total}" for name, (used, total) in licences.items()}),
        "licensesDict": [{"name": name, "used": used, "total": total} for name, (used, total) in licences.items()],
    }


# ------------------------------------------------------------------ shell
def server_for(request: Request, who: Caller) -> Server:
    """Puli's query handlers' server, asking the mesh as the caller."""
    return Server(farm=who.farm(context_of(request)))


@contextmanager
def puli_errors() -> Iterator[None]:
    """A bad argument: 400; the mesh's refusal: its own error (``web.app`` gives its status)."""
    try:
        yield
    except (InvalidParamError, ValueError) as exc:
        raise HTTPException(400, str(exc)) from exc
    except RequestError as exc:
        if isinstance(exc.__cause__, FarmError | FarmUnreachableError):
            raise exc.__cause__ from None
        raise HTTPException(400, str(exc)) from exc


def constraints_of(request: Request) -> tuple[list[str], dict[str, list[str]], bool]:
    """``attr`` values, ``constraint_*`` values by key (lower case) and ``tree``."""
    params = request.query_params
    if len(params) > MAX_VALUES:
        raise HTTPException(400, f"at most {MAX_VALUES} query parameters")
    constraints: dict[str, list[str]] = {}
    for key, value in params.multi_items():
        if key.startswith("constraint_"):
            constraints.setdefault(key.removeprefix("constraint_").lower(), []).append(value)
    return params.getlist("attr"), constraints, params.get("tree", "0") not in ("0", "", "false")


def node_url(request: Request, node_id: int) -> str:
    return f"{str(request.base_url).rstrip('/')}/nodes/{node_id}"


@router.post("/graphs/", status_code=201, summary="Puli's submission: 201 with Location /nodes/<id>")
def submit_graph(request: Request, graph: Annotated[dict[str, Any], Body()],
                 who: Caller = CallerDependency) -> PlainTextResponse:
    reply = who.farm(context_of(request)).request("SUBMIT", graph=graph)
    message = "Graph created.\nCreated nodes: " + ",".join(str(i) for i in reply.get("node_ids", []))
    return PlainTextResponse(message, status_code=201, headers={"Location": node_url(request, int(reply["graph_id"]))})


@router.get("/nodes/{node_id}", summary="A job, group or task as Puli's to_json")
def node(request: Request, node_id: NodeId, who: Caller = CallerDependency) -> dict[str, Any]:
    view = who.farm(context_of(request)).graph(node_id)
    return job_json(JobModel.from_view(view, None), tree=True)


@router.get("/rendernodes", summary="Puli's render nodes: {rendernodes: [...]}")
def rendernodes(request: Request, who: Caller = CallerDependency) -> dict[str, Any]:
    with puli_errors():
        found, _ = RenderNodeHandler(server_for(request, who)).getAllRenderNodes()
    return {"rendernodes": [n.encode() for n in found]}


@router.get("/query", summary="Puli's job query: attr=, constraint_*=, tree=1")
def query_jobs(request: Request, who: Caller = CallerDependency) -> dict[str, Any]:
    started = time.monotonic()
    attrs, constraints, tree = constraints_of(request)
    with puli_errors():
        found, answer = QueueHandler(server_for(request, who)).getJobs(recursive=tree, **job_query(constraints))
    items = [with_children(j, attrs or list(JOB_ATTRS), tree) for j in found]
    return {"summary": summary(len(items), answer["totalInDispatcher"], started), "items": items}


def bounded(found: list[RenderNodeModel], bounds: list[tuple[str, NumberBound]]) -> list[RenderNodeModel]:
    return [n for n in found if all(bound.admits(getattr(n, name)) for name, bound in bounds)]


@router.get("/query/rn", summary="Puli's render node query: attr=, constraint_*= (+N/-N bounds)")
def query_rendernodes(request: Request, who: Caller = CallerDependency) -> dict[str, Any]:
    started = time.monotonic()
    attrs, constraints, _ = constraints_of(request)
    with puli_errors():
        args, bounds = node_query(constraints)
        found, answer = RenderNodeHandler(server_for(request, who)).getRenderNodes(**args)
    items = [picked(n.encode(), attrs or list(RN_ATTRS)) for n in bounded(found, bounds)]
    return {"summary": summary(len(items), answer["totalInDispatcher"], started), "items": items}


JOB_BODY_KEYS = {"id": "idList", "name": "nameList", "pool": "poolList", "status": "statusList", "user": "userList",
                 "tags": "tagsDict"}
RN_BODY_KEYS = {"host": "hostList", "id": "idList", "name": "nameList", "pool": "poolList", "status": "statusList",
                "version": "versionList"}


def handler_args(body: Mapping[str, Any], keys: Mapping[str, str]) -> dict[str, Any]:
    """A ``/query/job`` or ``/query/rendernode`` body as the handler's arguments (None: no filter)."""
    unknown = sorted(set(body) - set(keys) - {"recursive"})
    if unknown:
        raise InvalidParamError(f"unknown query keys {unknown[:5]}; known: {', '.join(sorted(keys))}")
    for key, value in body.items():
        if isinstance(value, list | dict) and len(value) > MAX_BODY_VALUES:
            raise InvalidParamError(f"{key}: at most {MAX_BODY_VALUES} values")
    return {keys[k]: v for k, v in body.items() if k in keys and v is not None}


@router.post("/query/job", summary="puliclient's job query (QueueHandler's JSON body)")
def post_query_jobs(request: Request, body: Annotated[dict[str, Any], Body()],
                    who: Caller = CallerDependency) -> dict[str, Any]:
    recursive = bool(body.get("recursive", True))
    with puli_errors():
        found, answer = QueueHandler(server_for(request, who)).getJobs(recursive=recursive,
                                                                       **handler_args(body, JOB_BODY_KEYS))
        items = [job_json(j, recursive) for j in found]
    return {"summary": answer, "items": items}


@router.post("/query/rendernode", summary="puliclient's render node query (RenderNodeHandler's JSON body)")
def post_query_rendernodes(request: Request, body: Annotated[dict[str, Any], Body()],
                           who: Caller = CallerDependency) -> dict[str, Any]:
    with puli_errors():
        found, answer = RenderNodeHandler(server_for(request, who)).getRenderNodes(**handler_args(body, RN_BODY_KEYS))
    return {"summary": answer, "items": [n.encode() for n in found]}


@router.get("/stats", summary="Puli's /stats: jobs, commands, render nodes by status; cores; licences")
def stats(request: Request, who: Caller = CallerDependency) -> dict[str, Any]:
    return stats_json(who.farm(context_of(request)).stats(), time.time())


# ------------------------------------------------------------------ edits
def field_of(body: Any, name: str) -> Any:
    if not isinstance(body, dict) or name not in body:
        raise HTTPException(400, f"the body is {{{name!r}: value}}")
    return body[name]


@router.put("/nodes/{node_id}/paused", summary="Puli's pause/resume: {paused: bool}")
def put_paused(request: Request, node_id: NodeId, body: Annotated[Any, Body()] = None,
               who: Caller = CallerDependency) -> PlainTextResponse:
    return pause_or_resume(request, who, node_id, body, kill=False)


@router.put("/nodes/{node_id}/pauseKill", summary="Puli's pause (killing what runs) / resume: {paused: bool}")
def put_pause_kill(request: Request, node_id: NodeId, body: Annotated[Any, Body()] = None,
                   who: Caller = CallerDependency) -> PlainTextResponse:
    return pause_or_resume(request, who, node_id, body, kill=True)


def pause_or_resume(request: Request, who: Caller, node_id: NodeId, body: Any, kill: bool) -> PlainTextResponse:
    paused = True if body is None else field_of(body, "paused")
    farm = who.farm(context_of(request))
    if paused in (True, 1, "true", "True", "1"):
        farm.pause(node_id, kill=kill)
        return PlainTextResponse(f"Node {node_id} paused")
    farm.resume(node_id)
    return PlainTextResponse(f"Node {node_id} resumed")


@router.put("/nodes/{node_id}/status", summary="Puli's status edit: READY restarts (?cmdStatus: failed only), "
                                                "CANCELED cancels, PAUSED pauses")
def put_status(request: Request, node_id: NodeId, body: Annotated[Any, Body()],
               who: Caller = CallerDependency) -> PlainTextResponse:
    raw = field_of(body, "status")
    try:
        status = NodeStatus(int(raw))
    except (TypeError, ValueError):
        status = None
    action = PULI_STATUS_EDITS.get(status) if status is not None else None
    if action is None:
        takes = ", ".join(f"{int(s)} ({s.name})" for s in PULI_STATUS_EDITS)
        raise HTTPException(400, f"status {str(raw)[:20]!r}: this mesh takes {takes}")
    farm = who.farm(context_of(request))
    if action == "restart":
        errors_only = "cmdStatus" in request.query_params
        farm.restart(node_id, errors_only=errors_only, cascade=bool(body.get("cascade", True)))
    elif action == "cancel":
        farm.cancel(node_id)
    else:
        farm.pause(node_id)
    return PlainTextResponse(f"Status set to {status.name} for node {node_id}")


@router.put("/nodes/{node_id}/{field}", summary="Puli's single-field edits: priority, dispatchKey, maxRN, name, "
                                                 "user, maxAttempt, prod")
def put_field(request: Request, node_id: NodeId, field: str, body: Annotated[Any, Body()],
              who: Caller = CallerDependency) -> PlainTextResponse:
    farm = who.farm(context_of(request))
    if field == "prod":
        farm.set_tags(node_id, prod=str(field_of(body, "prod")))
    elif field in NODE_FIELD_EDITS:
        farm.set(node_id, **{field: field_of(body, field)})
    else:
        raise HTTPException(404, f"no node edit {field[:40]!r}: one of {', '.join([*NODE_FIELD_EDITS, 'prod'])}")
    return PlainTextResponse(f"{field} set for node {node_id}")

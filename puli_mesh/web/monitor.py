"""The monitor: the wrangler's web page (jobs, a job's tree and logs, nodes, licences, share
accounts (a tab offered only while some pool has a share tree), charts).

Routes:

* ``GET /``: the page (``static/index.html``), a single-page application in plain HTML, CSS and
  JavaScript modules (no build step); ``?wall=1`` is its large-text mode for a wall screen;
* ``GET /monitor/static/{name}``: its script and style sheet, only the files shipped in
  ``static/`` (a name is looked up in that list, never joined to a path);
* ``GET /monitor-api/meta``: what the page must not write by hand: the caller, the actions its
  role is offered (:func:`offered_actions`, from ``puli_mesh.access``), the job and command status
  names (``puliclient.status``) and the polling period;
* ``GET /monitor-api/figures``: the farm's gauges (jobs by status, queue depth per pool...).

Everything else the page shows it reads from ``/api/`` (``web.api``; the charts:
``/api/history``), as the caller: the page holds no rule of who may do what beyond hiding what
the caller's role may not do (an owner's job for a ``user``, everything for an ``operator`` or
``admin``); the leader decides.

Guarantees: the page never loads every job or node: jobs a page at a time through the API's
cursor and filters, nodes as the bounded status (``nodes_limit``) with its summary.

Not here: the JSON API (``web.api``), the login (``web.app``), the history itself
(``coordinator.stats``).
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from puli_mesh.access import EDIT, decide
from puli_mesh.roles import Role
from puli_mesh.web.callers import Caller, CallerDependency, context_of
from puliclient.status import CommandStatus, NodeStatus

router = APIRouter(include_in_schema=False)

POLL_INTERVAL_S = 2.0
"""How often an open page asks again (the page stops while its tab is hidden)."""
STATIC_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
"""The files the monitor serves, by suffix, and their content types."""


def static_files() -> dict[str, bytes]:
    """Every file of ``static/`` with a known suffix, by name (read once: a few kilobytes)."""
    root = resources.files("puli_mesh.web") / "static"
    return {item.name: item.read_bytes() for item in root.iterdir()
            if item.is_file() and any(item.name.endswith(suffix) for suffix in STATIC_TYPES)}


STATIC = static_files()

JOB_ACTIONS = ("pause", "resume", "cancel", "restart", "set")
"""The edits the jobs table offers (``set``: priority and maxRN), as ``EDIT_ACTIONS`` names them."""
NODE_ACTIONS = {"pause": "node_pause", "drain": "node_drain", "resume": "node_resume"}
"""The edits the nodes table offers: the API's route name -> the edit action."""
SOMEONE_ELSE = "\x00someone else"
"""An owner no caller is called (a name never holds a NUL): asks whether a role may act on others' jobs."""


def offered_actions(role: Role, name: str) -> dict[str, list[str]]:
    """What the page offers a caller: ``own`` job actions (on jobs of ``name``), ``others`` (on
    anyone's), ``nodes`` (the API's node routes). Asked of the one permission table, so the page
    offers exactly what the leader would allow; the leader still decides every request."""
    def allowed(action: str, owner: str | None) -> bool:
        return decide(role, name, EDIT, action, owner).allowed

    return {"own": [a for a in JOB_ACTIONS if allowed(a, name)],
            "others": [a for a in JOB_ACTIONS if allowed(a, SOMEONE_ELSE)],
            "nodes": [route for route, action in NODE_ACTIONS.items() if allowed(action, None)]}


def content_type(name: str) -> str:
    return next(kind for suffix, kind in STATIC_TYPES.items() if name.endswith(suffix))


@router.get("/", response_class=HTMLResponse)
def index() -> HTMLResponse:
    # The page asks /api/whoami first and goes to /login without a valid token.
    return HTMLResponse(STATIC["index.html"], headers={"Cache-Control": "no-cache"})


@router.get("/monitor/static/{name}")
def static(name: str) -> Response:
    body = STATIC.get(name)
    if body is None:
        raise HTTPException(404, f"no file {name[:40]!r} in the monitor")
    return Response(body, media_type=content_type(name), headers={"Cache-Control": "no-cache"})


@router.get("/monitor-api/meta")
def meta(who: Caller = CallerDependency) -> dict[str, Any]:
    me = who.identity
    return {"me": me.to_data(), "offered": offered_actions(me.role, me.name),
            "job_statuses": [s.name for s in NodeStatus], "command_statuses": [s.name for s in CommandStatus],
            "poll_interval_s": POLL_INTERVAL_S}


@router.get("/monitor-api/figures")
def figures(request: Request, who: Caller = CallerDependency) -> dict[str, Any]:
    return dict(who.farm(context_of(request)).query("figures"))



"""Who makes an HTTP request: the token it carries (header or cookie) and whom it stands for.

Guarantees: on a secured mesh a route that depends on :data:`CallerDependency` runs only for a
valid token of a live key (else 401, before any round trip to the mesh); on an open mesh every
caller is :data:`~puli_mesh.web.context.ANONYMOUS` with the admin role (nobody is checked).

Not here: the token's format and check (``web.auth``, ``node.security``), the login page
(``web.app``), what the caller may do (the leader decides, ``puli_mesh.access``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from fastapi import Depends, HTTPException, Request

from puli_mesh.errors import TokenError
from puli_mesh.roles import Role
from puli_mesh.web.context import ANONYMOUS, Identity, WebContext
from puliclient.farm import Farm

TOKEN_COOKIE = "puli_mesh_token"


def context_of(request: Request) -> WebContext:
    """The app's :class:`~puli_mesh.web.context.WebContext` (``create_app`` keeps it in its state)."""
    context: WebContext = request.app.state.context
    return context


@dataclass(frozen=True, slots=True)
class Caller:
    """Who makes an HTTP request, and the token that proved it (None on an open mesh)."""

    identity: Identity
    token: str | None

    def farm(self, context: WebContext) -> Farm:
        return context.farm(self.token)


def token_of(request: Request) -> str | None:
    """The token a request carries: ``Authorization: Bearer`` first, else the cookie."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.cookies.get(TOKEN_COOKIE) or None


def caller(request: Request) -> Caller:
    """The caller of a request (a FastAPI dependency); 401 without a valid token on a secured mesh."""
    context = context_of(request)
    if not context.secured:
        return Caller(Identity(ANONYMOUS, Role.ADMIN, None), None)
    token = token_of(request)
    if token is None:
        raise HTTPException(401, "log in: a token from `puli-mesh keys token`, as the cookie (/login) "
                                 "or an `Authorization: Bearer` header")
    try:
        return Caller(context.identify(token, time.time()), token)
    except TokenError as exc:
        raise HTTPException(401, str(exc)) from exc


CallerDependency = Depends(caller)

"""What the web layer needs of its agent: who a token stands for, and a mesh client acting for them.

The web layer is a CLIENT of the mesh: every route asks the leader through
:class:`puliclient.farm.Farm` over this agent's own ROUTER (a follower redirects, the client
follows and re-finds the leader after a failover), exactly as the CLI does. On a secured mesh
it connects with this agent's own key (role ``node``, which may not query or edit anything by
itself) and adds the caller's web token to every request: the agent that answers checks the
token and the registry, and decides with the token holder's name and role.

Guarantees: a token is checked here too (for ``/login`` and ``/api/whoami``, and to refuse a
bad one with 401 before any round trip), but the mesh never trusts this check: the answering
agent checks again. The connections to the mesh are shared by every request of one thread.

Not here: HTTP (``web.app``, ``web.api``), the token format (``web.auth``), the check at the
answering agent (``node.desk``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from puli_mesh.client import MeshClient
from puli_mesh.config import Settings
from puli_mesh.node.security import AgentSecurity
from puli_mesh.roles import Role
from puliclient.farm import Farm

MESH_TIMEOUT_S = 5.0
"""How long a route waits for the mesh per try: an HTTP caller gets 503 rather than hanging."""
MESH_TRIES = 2
ANONYMOUS = "anonymous"
"""The name of every caller of an open (``--insecure``) mesh, where nobody is checked."""


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a caller is: the name and role of their key; ``expires_at`` (epoch seconds) of the
    token that proved it, None on an open mesh."""

    name: str
    role: Role
    expires_at: int | None

    def to_data(self) -> dict[str, Any]:
        return {"name": self.name, "role": str(self.role), "expires_at": self.expires_at}


class WebContext(Protocol):
    """What the app asks of its agent (a stub in the unit tests)."""

    @property
    def secured(self) -> bool:
        """Whether callers must log in (False on an open mesh)."""
        ...

    def identify(self, token: str, now: float) -> Identity:
        """Who ``token`` stands for now; :class:`~puli_mesh.errors.TokenError` if nobody."""
        ...

    def farm(self, token: str | None) -> Farm:
        """The mesh, asked for the holder of ``token`` (None: an open mesh)."""
        ...


@dataclass
class ActingClient(MeshClient):
    """A :class:`MeshClient` whose every request carries a user's web token (when it has one)."""

    token: str | None = None

    def request(self, kind: str, *, rid: str | None = None, **fields: Any) -> Any:
        if self.token is not None:
            fields["token"] = self.token
        return super().request(kind, rid=rid, **fields)

    def request_at(self, endpoint: str, kind: str, **fields: Any) -> Any:
        if self.token is not None:
            fields["token"] = self.token
        return super().request_at(endpoint, kind, **fields)


def local_address(settings: Settings) -> str:
    """Where this agent's own ROUTER is reached from its host (a wildcard bind: loopback)."""
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "*", "") else settings.host
    return f"{host}:{settings.port}"


@dataclass
class AgentWebContext:
    """The web context of a running agent: its settings and security (keys, registry)."""

    settings: Settings
    security: AgentSecurity
    _shared: MeshClient = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._shared = MeshClient(node=local_address(self.settings), zk=self.settings.zk,
                                  cluster=self.settings.cluster, timeout=MESH_TIMEOUT_S, tries=MESH_TRIES,
                                  key=self.security.client_key())

    @property
    def secured(self) -> bool:
        return self.security.secured

    def identify(self, token: str, now: float) -> Identity:
        record, claim = self.security.token_holder(token, now)
        return Identity(record.name, record.role, claim.expires_at)

    def farm(self, token: str | None) -> Farm:
        shared = self._shared
        client = ActingClient(node=shared.node, zk=shared.zk, cluster=shared.cluster, timeout=shared.timeout,
                              tries=shared.tries, key=shared.key, token=token)
        client._links = shared._links  # one connection per thread and agent, whoever asks through it
        return Farm(client=client)

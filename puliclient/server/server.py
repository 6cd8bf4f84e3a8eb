"""Puli's ``Server`` and ``request``: which mesh a query handler talks to, and its errors.

``Server(host, port)`` names an agent's client port (``puli-mesh agent --port``): the
handlers built on it ask that agent, which forwards to the leader. ``Server()`` with no
address uses the environment, as :class:`puliclient.farm.Farm` does (``PULI_NODE``,
``PULI_ZK``, then ``PULIHOST``/``PULIPORT``; ``PULI_KEY`` for the client's key).

Errors: what the mesh refuses or does not answer leaves the handlers and the models as a
:class:`RequestError` (Puli's class; ``.code`` keeps the mesh's word: ``not_found``,
``illegal``...) or, when nothing answered, a :class:`RequestTimeoutError`; a malformed
argument list is an :class:`InvalidParamError`; what the mesh cannot do at all (restart a
worker process, read a worker's own log, Puli's HTTP URLs) a :class:`MeshUnsupportedError`.
All derive from :class:`puliclient.errors.Error`.

Guarantees: every error of the farm is translated in one place (:meth:`Server.translated`).
Not here: the queries themselves (``queueHandler``, ``renderNodeHandler``), HTTP (Puli's
``Server.get/post/put/delete`` and ``request`` raise :class:`MeshUnsupportedError`: the
mesh speaks its own protocol; use the handlers or :class:`~puliclient.farm.Farm`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from puliclient.errors import Error, FarmError, FarmUnreachableError

if TYPE_CHECKING:
    from puliclient.farm import Farm


class RequestError(Error):
    """The mesh refused a request, or it could not be sent; ``code`` is the mesh's word for
    why (``not_found``, ``illegal``, ``invalid``, ``forbidden``...; ``unreachable`` when
    nothing answered; ``unsupported`` for what the mesh cannot do)."""

    def __init__(self, message: str, code: str = "error") -> None:
        super().__init__(message)
        self.code = code


class RequestTimeoutError(RequestError):
    """Nothing answered in time (no agent at the address, or no leader)."""


class InvalidParamError(Error, ValueError):
    """A query's argument is malformed: an empty list, a status that is not a node status..."""


class MeshUnsupportedError(RequestError, NotImplementedError):
    """Something Puli offered (or left unimplemented) that the mesh cannot do; the message
    says what to use instead. Also a ``NotImplementedError``, which Puli raised for most of them."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "unsupported")


def _no_http(url: str) -> MeshUnsupportedError:
    return MeshUnsupportedError(f"the mesh has no HTTP API ({url!r}): use QueueHandler, RenderNodeHandler "
                                f"or puliclient.farm.Farm")


def request(host: str, port: int, url: str, method: str = "get", *args: Any, **kwargs: Any) -> Any:
    """Puli's HTTP helper: the mesh has no HTTP API, so this always raises :class:`MeshUnsupportedError`."""
    raise _no_http(url)


class Server:
    """The mesh a handler asks: the agent at ``host:port``, or the environment's mesh when
    no address is given. ``farm``: an existing :class:`~puliclient.farm.Farm` to use (tests)."""

    def __init__(self, host: str | None = None, port: int | None = None, *, farm: Farm | None = None,
                 timeout: float = 10.0) -> None:
        self.host = host
        self.port = port
        self._farm = farm
        self._timeout = timeout

    @property
    def farm(self) -> Farm:
        """The connection, made on first use (making it resolves the address)."""
        if self._farm is None:
            from puliclient.farm import Farm

            # A host without a port: the mesh client adds the agents' default port.
            node = None if self.host is None else self.host if self.port is None else f"{self.host}:{self.port}"
            from puli_mesh.errors import PuliMeshError

            try:
                with self.translated():
                    self._farm = Farm(node=node, timeout=self._timeout)
            except PuliMeshError as exc:  # no address, no key file...: before any request
                raise RequestError(f"cannot talk to the mesh: {exc}", "config") from exc
        return self._farm

    def getBaseUrl(self) -> str:
        return f"{self.host}:{self.port}" if self.host is not None else "(the environment's mesh)"

    def setHostConnection(self, host: str, port: int) -> None:
        """Ask the agent at ``host:port`` from now on."""
        self.host, self.port, self._farm = host, port, None

    @staticmethod
    @contextmanager
    def translated() -> Iterator[None]:
        """The farm's errors as Puli's request errors: the one place they are translated."""
        try:
            yield
        except FarmUnreachableError as exc:
            raise RequestTimeoutError(str(exc), "unreachable") from exc
        except FarmError as exc:
            raise RequestError(str(exc), exc.code) from exc

    def request(self, url: str, method: str, *args: Any, **kwargs: Any) -> Any:
        raise _no_http(url)

    def get(self, url: str, *args: Any, **kwargs: Any) -> Any:
        raise _no_http(url)

    def post(self, url: str, *args: Any, **kwargs: Any) -> Any:
        raise _no_http(url)

    def put(self, url: str, *args: Any, **kwargs: Any) -> Any:
        raise _no_http(url)

    def delete(self, url: str, *args: Any, **kwargs: Any) -> Any:
        raise _no_http(url)

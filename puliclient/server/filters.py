"""Puli's query arguments and summaries, shared by the two handlers.

Guarantees: an argument list is checked before anything is sent (an empty list, a string
where a list belongs, a bad regular expression or status: :class:`InvalidParamError`);
``None`` means "no filter on that key", as in Puli.
Not here: asking the mesh (``queueHandler``, ``renderNodeHandler``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from enum import IntEnum
from typing import Any

from puliclient.errors import UnknownStatusError
from puliclient.server.server import InvalidParamError
from puliclient.status import parse_status


def values(key: str, given: Iterable[Any] | None) -> list[Any] | None:
    """A filter's values as a list; None for no filter; ``InvalidParamError`` for an empty
    list or a lone string or mapping."""
    if given is None:
        return None
    if isinstance(given, str | bytes | dict) or not isinstance(given, Iterable):
        raise InvalidParamError(f"{key} must be a list of values, not {type(given).__name__} {given!r}")
    listed = list(given)
    if not listed:
        raise InvalidParamError(f"{key} is an empty list: give at least one value, or None for no filter")
    return listed


def required(key: str, given: Iterable[Any] | None) -> list[Any]:
    """The values of a ``getXByY`` query's one filter: a list is required there."""
    listed = values(key, given)
    if listed is None:
        raise InvalidParamError(f"{key} is None: give a list of values")
    return listed


def patterns(key: str, given: Iterable[Any] | None) -> list[re.Pattern[str]] | None:
    """Puli's name and host filters: regular expressions tried with ``re.match`` (on this
    machine: the mesh itself only takes globs)."""
    listed = values(key, given)
    if listed is None:
        return None
    try:
        return [re.compile(str(p)) for p in listed]
    except re.error as exc:
        raise InvalidParamError(f"{key}: {exc}") from exc


def any_match(regexes: list[re.Pattern[str]] | None, text: str) -> bool:
    return regexes is None or any(r.match(text) for r in regexes)


def statuses(key: str, given: Iterable[Any] | None, kind: type[IntEnum]) -> list[int] | None:
    """Status numbers (or names) of ``kind``; ``InvalidParamError`` for one it does not have."""
    listed = values(key, given)
    if listed is None:
        return None
    try:
        return [int(parse_status(s, kind)) for s in listed]  # type: ignore[arg-type]
    except UnknownStatusError as exc:
        raise InvalidParamError(f"{key}: {exc}") from exc


def summary(count: int, total: int, started: float) -> dict[str, Any]:
    """Puli's ``summary``: ``count``, ``totalInDispatcher``, ``requestTime`` (seconds, as this
    client measured it) and ``requestDate``."""
    return {"count": count, "totalInDispatcher": total, "requestTime": time.monotonic() - started,
            "requestDate": time.ctime()}

"""Puli's query arguments and summaries, shared by the two handlers.

Guarantees: an argument list is checked before anything is sent (an empty list, a string
where a list belongs, a bad regular expression or status: :class:`InvalidParamError`);
``None`` means "no filter on that key", as in Puli. Regular expressions are bounded in number
and length (:data:`MAX_PATTERNS`, :data:`MAX_PATTERN_CHARS`) because an agent's web thread
runs the ones an HTTP caller sends (``/query``, ``/query/job``); Python's ``re`` has no
timeout, so a catastrophic pattern within those bounds still costs the thread that runs it:
over HTTP, the caller's own request thread, not the leader's.
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

MAX_PATTERNS = 100
"""Regular expressions one query may give for one key (each is tried on every job's name)."""
MAX_PATTERN_CHARS = 256
"""The longest regular expression a query may give."""


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
    machine: the mesh itself only takes globs), compiled once per query; at most
    :data:`MAX_PATTERNS` of at most :data:`MAX_PATTERN_CHARS` characters each."""
    listed = values(key, given)
    if listed is None:
        return None
    if len(listed) > MAX_PATTERNS:
        raise InvalidParamError(f"{key}: at most {MAX_PATTERNS} regular expressions, not {len(listed)}")
    for pattern in listed:
        if len(str(pattern)) > MAX_PATTERN_CHARS:
            raise InvalidParamError(f"{key}: a regular expression of at most {MAX_PATTERN_CHARS} characters")
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

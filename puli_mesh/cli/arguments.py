"""Option values of the operating commands turned into what :class:`puliclient.farm.Farm` takes.

Pure functions: no I/O, the clock is an argument. A value that cannot be parsed
raises :class:`puli_mesh.errors.ConfigError` (the CLI exits 2, bad usage) with a
message that shows how to write it.

Not here: the options themselves (the command modules), checks only the mesh can
make (is a status name, a pool or a job id known: the mesh answers).
"""

from __future__ import annotations

import time
from typing import Any

from puli_mesh.errors import ConfigError
from puli_mesh.limits import INT64_MAX, INT64_MIN

DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d")
# What `puli-mesh set` may change, and the name each one has in an edit's values.
SETTABLE_NUMBERS = ("priority", "dispatchKey", "maxRN")
POOL_KEYS = ("pool", "poolName")


def parse_since(value: str, now: float | None = None) -> float:
    """``2h``, ``30m``, ``1d``, ``45s``, an epoch or ``YYYY-mm-dd[ HH:MM[:SS]]`` -> epoch seconds."""
    now = time.time() if now is None else now
    value = value.strip()
    if value and value[-1] in DURATION_UNITS and value[:-1].replace(".", "", 1).isdigit():
        return now - float(value[:-1]) * DURATION_UNITS[value[-1]]
    try:
        return float(value)
    except ValueError:
        pass
    for fmt in DATE_FORMATS:
        try:
            return time.mktime(time.strptime(value, fmt))
        except ValueError:
            continue
    raise ConfigError(f"--since {value!r}: give a duration (2h, 30m, 1d) or a date (2024-05-01 12:00)")


def parse_tags(pairs: list[str] | None) -> dict[str, str]:
    """``["prod=film", "seq=010"]`` -> ``{"prod": "film", "seq": "010"}``."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--tag {pair!r}: write KEY=VALUE")
        out[key] = value
    return out


def upper_statuses(status: list[str] | None) -> list[str] | None:
    """Status names as the mesh spells them (``error`` -> ``ERROR``); None for no filter."""
    return [s.upper() for s in status or []] or None


def job_filters(user: list[str] | None, status: list[str] | None, name: list[str] | None,
                tag: list[str] | None, pool: list[str] | None, since: str | None,
                now: float | None = None) -> dict[str, Any]:
    """The filters of :meth:`puliclient.farm.Farm.jobs` from the repeated options (None: not given)."""
    since_at = parse_since(since, now) if since else None
    return {"user": user or None, "status": upper_statuses(status), "name": name or None,
            "tags": parse_tags(tag) or None, "pool": pool or None, "since": since_at}


def has_filter(filters: dict[str, Any]) -> bool:
    return any(v for v in filters.values())


def parse_assignments(items: list[str]) -> tuple[dict[str, Any], dict[str, str | None]]:
    """``priority=10 maxRN=4 pool=gpu tag.prod=film tag.old=`` -> (values, tags); an empty tag removes it."""
    values: dict[str, Any] = {}
    tags: dict[str, str | None] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"{item!r}: write KEY=VALUE (priority=10, maxRN=4, pool=gpu, tag.prod=film)")
        if key.startswith("tag."):
            tags[key[4:]] = value or None
        elif key in SETTABLE_NUMBERS:
            try:
                number = int(value)
            except ValueError as exc:
                raise ConfigError(f"{key} must be a whole number, not {value!r}") from exc
            if not INT64_MIN <= number <= INT64_MAX:  # what the mesh can store, as the leader checks
                raise ConfigError(f"{key} must be a whole number from {INT64_MIN} to {INT64_MAX}, not {value}")
            values[key] = number
        elif key in POOL_KEYS:
            values["pool"] = value
        elif key == "strategy":  # a group's: FifoStrategy, PriorityStrategy... (the leader checks it)
            values["strategy"] = value
        else:
            raise ConfigError(f"{key!r} cannot be set; use priority, maxRN, pool, strategy or tag.KEY")
    return values, tags

"""Option values of the operating commands turned into what :class:`puliclient.farm.Farm` takes.

Pure functions: no I/O, the clock is an argument. A value that cannot be parsed
raises :class:`puli_mesh.errors.ConfigError` (the CLI exits 2, bad usage) with a
message that shows how to write it.

Not here: the options themselves (the command modules), checks only the mesh can
make (is a status name, a pool or a job id known: the mesh answers).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from puli_mesh.errors import ConfigError
from puli_mesh.limits import INT64_MAX, INT64_MIN
from puliclient.query_fields import field_name

DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d")
# What `puli-mesh set` may change, and the name each one has in an edit's values.
SETTABLE_NUMBERS = ("priority", "dispatchKey", "maxRN")
POOL_KEYS = ("pool", "poolName")


def parse_since(value: str, now: float | None = None, option: str = "--since") -> float:
    """``2h``, ``30m``, ``1d``, ``45s`` (that long ago), an epoch or ``YYYY-mm-dd[ HH:MM[:SS]]``
    (Puli's ``"YYYY-mm-dd HH:MM:SS"``, local time) -> epoch seconds; ``option`` names it in the error."""
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
    raise ConfigError(f"{option} {value!r}: give a duration (2h, 30m, 1d) or a date (2024-05-01 12:00)")


DELAY_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")


def parse_delay(value: str) -> float:
    """puliexec's ``--time-delay``: ``3h30m``, ``100m``, ``1d2h``, ``45s`` or plain seconds -> seconds."""
    text = value.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    if text and re.fullmatch(f"(?:{DELAY_PART.pattern})+", text):
        return sum(float(n) * DURATION_UNITS[unit] for n, unit in DELAY_PART.findall(text))
    raise ConfigError(f"--time-delay {value!r}: write a delay such as 3h30m, 100m, 1d or 90 (seconds)")


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


TIME_RANGE_OPTIONS = ("created_before", "started_after", "started_before", "ended_after", "ended_before")
"""The time ranges of ``puli-mesh jobs`` besides ``--since`` (created after), as the leader names them."""


def time_ranges(given: dict[str, str | None], now: float | None = None) -> dict[str, float]:
    """``{"started_after": "2h", "ended_before": "2024-05-01 12:00:00", ...}`` -> epoch seconds, for
    :meth:`puliclient.farm.Farm.jobs`; the ranges not given are left out."""
    return {key: parse_since(value, now, "--" + key.replace("_", "-"))
            for key, value in given.items() if value is not None}


def listing_fields(typed: list[str], fields: tuple[str, ...], aliases: dict[str, str],
                   tags: bool = False) -> list[str]:
    """The listing fields ``typed`` names (``-a``, ``--sort``: the mesh's or Puli's names,
    ``tags:KEY`` for jobs); :class:`ConfigError` naming the known ones for an unknown one."""
    try:
        return [field_name(t, fields, aliases, tags) for t in typed]
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


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


# What `puli-mesh set` changes at run time besides the above (Puli's node, task and command edits).
RUNTIME_NUMBERS = ("maxAttempt", "ramUse", "gpus")
RUNTIME_SECONDS = ("idleTimeout",)
RUNTIME_FLAGS = ("killOnRamOveruse",)  # true or false
RUNTIME_TEXTS = ("name", "user", "description")
TIMER_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", *DATE_FORMATS)
ENV_PREFIX = "env."
ARG_PREFIX = "arg."


@dataclass(slots=True)
class RuntimeEdits:
    """The run-time edits of one ``puli-mesh set``: ``values`` go to ``Farm.set`` (timer,
    maxAttempt, ramUse, name, user); ``environment`` and ``arguments`` are merged (None removes);
    ``description`` is a command's."""

    values: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, str | None] = field(default_factory=dict)
    arguments: dict[str, Any] = field(default_factory=dict)
    description: str | None = None


def is_runtime_edit(item: str) -> bool:
    """Whether ``KEY=VALUE`` is one :func:`parse_runtime_edits` reads (the rest: :func:`parse_assignments`)."""
    key = item.partition("=")[0]
    return (key in ("timer", *RUNTIME_NUMBERS, *RUNTIME_SECONDS, *RUNTIME_FLAGS, *RUNTIME_TEXTS)
            or key.startswith((ENV_PREFIX, ARG_PREFIX)))


def parse_timer(value: str) -> float | None:
    """``none`` (or empty) -> None; epoch seconds; ``2026-05-01T20:00[:00]`` or ``2026-05-01 20:00`` (local time)."""
    value = value.strip()
    if value.lower() in ("", "none"):
        return None
    try:
        return float(value)
    except ValueError:
        pass
    for fmt in TIMER_FORMATS:
        try:
            return time.mktime(time.strptime(value, fmt))
        except ValueError:
            continue
    raise ConfigError(f"timer={value!r}: give epoch seconds, a date (2026-05-01T20:00) or none")


def parse_seconds(key: str, value: str) -> float | None:
    """``none`` (or empty) -> None; else a duration: seconds (``600``, ``1.5``) or ``10m``,
    ``1h30m`` (as :func:`parse_delay`); the leader checks the range."""
    text = value.strip()
    if text.lower() in ("", "none"):
        return None
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    if re.fullmatch(f"(?:{DELAY_PART.pattern})+", text):
        return sum(float(n) * DURATION_UNITS[unit] for n, unit in DELAY_PART.findall(text))
    raise ConfigError(f"{key}={value!r}: give seconds (600), a duration (10m, 1h30m) or none")


def _argument_value(text: str) -> Any:
    """An ``arg.NAME=`` value: JSON when it reads as JSON (``5``, ``true``, ``[1, 2]``), else the text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_runtime_edits(items: list[str]) -> RuntimeEdits:
    """``timer=2026-05-01T20:00 maxAttempt=3 ramUse=4000 killOnRamOveruse=true name=N user=U env.A=1
    arg.cmd=... description=D``;
    an empty ``env.``/``arg.`` value removes that name."""
    out = RuntimeEdits()
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"{item!r}: write KEY=VALUE (timer=..., maxAttempt=3, env.NAME=VALUE, arg.NAME=VALUE)")
        if key.startswith(ENV_PREFIX) and key[len(ENV_PREFIX):]:
            out.environment[key[len(ENV_PREFIX):]] = value or None
        elif key.startswith(ARG_PREFIX) and key[len(ARG_PREFIX):]:
            out.arguments[key[len(ARG_PREFIX):]] = _argument_value(value) if value else None
        elif key == "timer":
            out.values["timer"] = parse_timer(value)
        elif key in RUNTIME_SECONDS:  # `none` (or empty): the farm's default
            out.values[key] = parse_seconds(key, value)
        elif key in RUNTIME_FLAGS:
            if value.lower() not in ("true", "false"):
                raise ConfigError(f"{key} must be true or false, not {value!r}")
            out.values[key] = value.lower() == "true"
        elif key in RUNTIME_NUMBERS:
            try:
                number = int(value)
            except ValueError as exc:
                raise ConfigError(f"{key} must be a whole number, not {value!r}") from exc
            if not INT64_MIN <= number <= INT64_MAX:
                raise ConfigError(f"{key} must be a whole number from {INT64_MIN} to {INT64_MAX}, not {value}")
            out.values[key] = number
        elif key == "description":
            out.description = value
        elif key in RUNTIME_TEXTS:
            out.values[key] = value
        else:
            raise ConfigError(f"{key!r}: name the variable or argument (env.NAME=VALUE, arg.NAME=VALUE)")
    return out

"""The fields of the job and render-node listings, and the rules that pick, sort and bound by them.

What Puli's ``pul_query`` and ``pul_rn`` did with ``-a/--attribute``, ``-o/--sort``,
``-r/--reverse-order`` and ``-C speed=+2``, for :meth:`puliclient.farm.Farm.jobs`,
:meth:`~puliclient.farm.Farm.nodes` and the ``puli-mesh jobs``/``nodes`` commands:

* :data:`JOB_FIELDS` and :data:`NODE_FIELDS`: the fields a row of each listing holds (a
  unit test keeps them equal to the coordinator's views); Puli's names are accepted too
  (:data:`JOB_ALIASES`, :data:`NODE_ALIASES`: ``creationTime``, ``ramSize``, ``speed``...),
  and ``tags:KEY`` names a job's tag, as in Puli.
* :func:`field_name` turns what a user typed into a field, or raises ``ValueError`` listing
  the known ones; :func:`field_value` reads it from a row; :func:`sorted_rows` sorts by it
  (rows without a value last, whatever the direction).
* :class:`NumberBound`: ``+2`` means more than 2, ``-2`` less than 2, ``2`` exactly 2.
* :func:`node_listing`: the render-node listing the leader answers (``node_rows``): filtered
  (:class:`NodeFilter`), sorted and sliced there, so only the rows asked for travel.

Guarantees: pure functions on plain rows: no I/O, no clock. Not here: filters the leader
applies (``puli_mesh.coordinator.client_queries``), formatting (``puli_mesh.cli.views``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from puli_mesh.limits import INT64_MAX, MAX_FILTER_VALUES
from puliclient.patterns import NamePattern, any_matches

JOB_FIELDS = (
    "id", "name", "type", "status", "status_name", "completion", "dispatchKey", "priority", "maxRN", "running",
    "paused", "tags", "timer", "commandCount", "readyCommandCount", "doneCommandCount", "command_counts",
    "dependencies", "creation_time", "start_time", "end_time", "avg_time_per_frame_s", "min_time_per_frame_s",
    "max_time_per_frame_s", "user", "pool", "meta",
)
"""A row of ``Farm.jobs`` (the coordinator's graph view, without children)."""
NODE_FIELDS = (
    "name", "state", "reason", "leader", "endpoint", "pools", "pools_override", "performance", "slots", "running",
    "running_commands", "queued_commands", "cores", "cpu_percent", "load", "ram_mb", "free_ram_mb", "version",
    "faults", "avoided_by", "avoided_by_commands", "gpus", "gpus_used",
)
"""A row of ``Farm.nodes`` (a node of the status reply)."""
JOB_ALIASES = {
    "creationTime": "creation_time", "startTime": "start_time", "endTime": "end_time",
    "averageTimeByFrame": "avg_time_per_frame_s", "maxTimeByFrame": "max_time_per_frame_s",
    "minTimeByFrame": "min_time_per_frame_s", "allocatedRN": "running", "prod": "tags:prod", "shot": "tags:shot",
}
"""Puli's ``/query`` attribute names for the mesh's fields."""
NODE_ALIASES = {
    "ramSize": "ram_mb", "coresNumber": "cores", "speed": "performance", "status": "state",
    "systemFreeRam": "free_ram_mb", "puliversion": "version", "host": "endpoint",
}
"""Puli's ``/query/rn`` attribute names for the mesh's fields."""
TAG_PREFIX = "tags:"


def field_name(typed: str, fields: tuple[str, ...], aliases: Mapping[str, str], tags: bool = False) -> str:
    """The field ``typed`` names (itself, or what its Puli alias stands for); ``tags:KEY`` when
    ``tags``. ``ValueError`` naming every known field for anything else."""
    name = aliases.get(typed, typed)
    if name in fields or (tags and name.startswith(TAG_PREFIX) and len(name) > len(TAG_PREFIX)):
        return name
    known = ", ".join([*fields, *(["tags:KEY"] if tags else []), *sorted(aliases)])
    raise ValueError(f"unknown field {typed!r}; known: {known}")


def field_value(row: Mapping[str, Any], name: str) -> Any:
    """``row[name]``, or the tag for ``tags:KEY``; None when the row has no such value."""
    if name.startswith(TAG_PREFIX):
        return (row.get("tags") or {}).get(name[len(TAG_PREFIX):])
    return row.get(name)


def _sort_key(value: Any) -> tuple[int, Any]:
    """Numbers before text before anything else, so a column of mixed values still sorts."""
    if isinstance(value, int | float):
        return 0, value
    if isinstance(value, str):
        return 1, value
    return 2, repr(value)


def sorted_rows(rows: Iterable[Mapping[str, Any]], name: str, reverse: bool = False) -> list[Any]:
    """``rows`` by field ``name`` (``reverse``: descending); rows without the field come last."""
    present, missing = [], []
    for r in rows:
        (missing if field_value(r, name) is None else present).append(r)
    present.sort(key=lambda r: _sort_key(field_value(r, name)), reverse=reverse)
    return present + missing


@dataclass(frozen=True, slots=True)
class NumberBound:
    """pul_rn's numeric constraint: ``+N`` more than N, ``-N`` less than N, ``N`` exactly N."""

    sign: int
    """1: above, -1: below, 0: equal."""
    value: float

    @classmethod
    def parse(cls, text: str | float, what: str) -> NumberBound:
        """``"+2"``, ``"-4096"``, ``"8"`` or a number; ``ValueError`` saying how to write one."""
        if isinstance(text, bool):
            raise ValueError(f"{what}: write +N (more than N), -N (less than N) or N, not {text!r}")
        if isinstance(text, int | float):
            return cls(0, float(text))
        raw = str(text).strip()
        sign = {"+": 1, "-": -1}.get(raw[:1], 0)
        try:
            value = float(raw[1:] if sign else raw)
        except ValueError:
            raise ValueError(f"{what}: write +N (more than N), -N (less than N) or N, not {text!r}") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{what}: {text!r} is not a finite number")
        return cls(sign, value)

    def admits(self, number: Any) -> bool:
        if isinstance(number, bool) or not isinstance(number, int | float):
            return False
        if self.sign > 0:
            return number > self.value
        if self.sign < 0:
            return number < self.value
        return number == self.value


@dataclass(frozen=True, slots=True)
class NodeFilter:
    """``Farm.nodes``' filters of render-node rows, parsed once: a pool, states (any of them),
    name globs (any of them, :mod:`puliclient.patterns`) and pul_rn's :class:`NumberBound` on
    ``speed`` (the performance), ``ram`` (MB) and ``cores``."""

    pool: str | None
    states: frozenset[str]
    names: tuple[NamePattern, ...]
    bounds: tuple[tuple[str, NumberBound], ...]

    @classmethod
    def parse(cls, args: Mapping[str, Any]) -> NodeFilter:
        """The filters in a ``node_rows`` query's ``args``; ``ValueError`` for a bad one."""
        state, name, pool = args.get("state"), args.get("name"), args.get("pool")
        states = [state] if isinstance(state, str) else list(state or [])
        names = [name] if isinstance(name, str) else list(name or [])
        for key, values in (("state", states), ("name", names)):
            if len(values) > MAX_FILTER_VALUES:
                raise ValueError(f"{key} filter lists {len(values)} values, above the limit of {MAX_FILTER_VALUES}")
        return cls(None if pool is None else str(pool), frozenset(map(str, states)),
                   tuple(NamePattern(str(n)) for n in names),
                   tuple((key, NumberBound.parse(args[what], what)) for key, what in
                         (("performance", "speed"), ("ram_mb", "ram"), ("cores", "cores"))
                         if args.get(what) is not None))

    def admits(self, row: Mapping[str, Any]) -> bool:
        return ((self.pool is None or self.pool in row.get("pools", []))
                and (not self.states or row.get("state") in self.states)
                and (not self.names or any_matches(self.names, str(row.get("name"))))
                and all(bound.admits(row.get(key)) for key, bound in self.bounds))


def _count(args: Mapping[str, Any], key: str, least: int) -> int | None:
    """``args[key]`` as a whole number from ``least`` to ``limits.INT64_MAX`` (None: not given)."""
    value = args.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= INT64_MAX:
        raise ValueError(f"{key} must be a whole number from {least} to {INT64_MAX}, not {value!r}")
    return value


def node_listing(rows: Iterable[Mapping[str, Any]], args: Mapping[str, Any]) -> dict[str, Any]:
    """What ``Farm.nodes`` and ``/api/nodes`` ask the leader (the ``node_rows`` query): the rows
    :class:`NodeFilter` admits, by ``sort`` (a field of :data:`NODE_FIELDS` or a Puli name;
    ``name`` when not given; ``reverse``: descending), from ``offset``, at most ``limit`` (all
    when not given): ``{"items", "total"}``, ``total`` counting every match. ``ValueError`` for
    a bad argument."""
    node_filter = NodeFilter.parse(args)
    sort = args.get("sort")
    field = "name" if sort is None else field_name(str(sort), NODE_FIELDS, NODE_ALIASES)
    reverse = args.get("reverse", False)
    if not isinstance(reverse, bool):
        raise ValueError(f"reverse must be true or false, not {reverse!r}")
    offset = _count(args, "offset", 0) or 0
    limit = _count(args, "limit", 1)
    matching = sorted_rows((r for r in rows if node_filter.admits(r)), field, reverse)
    return {"items": matching[offset:] if limit is None else matching[offset:offset + limit], "total": len(matching)}

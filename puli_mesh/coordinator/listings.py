"""Paged listings of the core's graphs, commands and render nodes: what a QUERY may cost the loop.

A listing answers one page: at most ``limit`` items (its :class:`ListingBounds`' default
when the client gives none, never more than their maximum), in id order (render nodes: name order),
after the client's ``cursor``, and the cursor to ask for the next page (None: nothing
left). The cursor is the last id (name) *looked at*, so a page is stable under inserts:
new graphs and commands get higher ids and come on later pages, an archived one just
stops appearing, nothing is listed twice or skipped.

Guarantees: one request looks at no more than its bounds' ``scan_max`` entries, whatever its
filters match: a filter that matches little gives a short (even empty) page with a cursor,
and the client asks again. A subtree's commands (``commands --graph ID``) are looked up
through its tasks, so their cost is the subtree's, not the farm's; the farm's running commands
(``commands --status RUNNING``, what ``top`` shows) through the render nodes that hold them.

Not here: parsing the client's filters (``client_queries``), the views themselves (``queries``).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any, TypeVar

from puli_mesh.coordinator.queries import command_view, node_view, render_node_view
from puli_mesh.coordinator.render_nodes import RenderNode
from puli_mesh.coordinator.tree import C_HOLDING, CommandNode, GraphNode, TreeNode, iter_tasks


@dataclass(frozen=True, slots=True)
class ListingBounds:
    """What one page of a listing may cost the loop: items built, entries looked at.

    Chosen for a few milliseconds a request on the project's 2-core VM (README,
    "Measuring"): a graph's view costs about 16 us (a walk of its tasks), a command's
    6 us, and their encoding as much again; testing a graph against the filters about
    1 us, a command about 0.2 us."""

    page_default: int
    page_max: int
    scan_max: int


GRAPH_BOUNDS = ListingBounds(page_default=100, page_max=200, scan_max=2_000)
COMMAND_BOUNDS = ListingBounds(page_default=200, page_max=500, scan_max=20_000)
RENDER_NODE_BOUNDS = ListingBounds(page_default=200, page_max=500, scan_max=500)
UNBOUNDED = ListingBounds(page_default=2**62, page_max=2**62, scan_max=2**62)
"""For in-process callers (tests, tools), never for a client's request."""

Key = TypeVar("Key", int, str)


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a listing and where the next one starts (None: this was the last)."""

    items: list[dict[str, Any]]
    cursor: int | str | None

    def to_map(self) -> dict[str, Any]:
        return {"items": self.items, "cursor": self.cursor}


def page_limit(value: Any, bounds: ListingBounds) -> int:
    """The client's ``limit`` (None: the default) within 1 .. the maximum; ValueError below 1."""
    if value is None:
        return bounds.page_default
    limit = int(value)
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    return min(limit, bounds.page_max)


def _scan(keys: Iterator[Key], limit: Any, bounds: ListingBounds,
          take: Callable[[Key], dict[str, Any] | None]) -> Page:
    """Look at ``keys`` in order, keeping what ``take`` returns, until the page is full or
    ``scan_max`` keys were looked at; the cursor is the last key looked at if any is left."""
    limit = page_limit(limit, bounds)
    scan_max = bounds.scan_max
    items: list[dict[str, Any]] = []
    last: Key | None = None
    looked = 0
    for key in keys:
        if looked >= scan_max or len(items) >= limit:
            return Page(items, last)
        looked += 1
        last = key
        item = take(key)
        if item is not None:
            items.append(item)
    return Page(items, None)


def _after(keys: list[Key], after: Key | None) -> Iterator[Key]:
    """The sorted ``keys`` after ``after`` (all when None)."""
    return islice(keys, 0 if after is None else bisect_right(keys, after), None)


def graph_page(graphs: Mapping[int, GraphNode], match: Callable[[GraphNode], bool], after: int | None,
               limit: Any, newest_first: bool = False) -> Page:
    """Graphs matching ``match``, as ``node_view`` without children, after graph id ``after``,
    at most ``limit`` (the client's, None for the default). ``newest_first``: in descending id
    order, ``after`` then meaning the ids below it (a monitor shows the newest jobs first)."""
    def take(gid: int) -> dict[str, Any] | None:
        g = graphs[gid]
        return node_view(g, False) if match(g) else None

    ids = sorted(graphs)
    if newest_first:
        below = len(ids) if after is None else bisect_left(ids, after)
        return _scan(reversed(ids[:below]), limit, GRAPH_BOUNDS, take)
    return _scan(_after(ids, after), limit, GRAPH_BOUNDS, take)


def command_page(commands: Mapping[int, CommandNode], root: TreeNode | None, statuses: set[int] | None,
                 render_node: str | None, after: int | None, limit: Any,
                 bounds: ListingBounds = COMMAND_BOUNDS, holders: Mapping[str, RenderNode] | None = None) -> Page:
    """Commands of ``root``'s subtree (every graph's when None), by status and by the render
    node that runs or last ran them, after command id ``after``.

    ``holders``: the render nodes; when only holding statuses (ASSIGNED, RUNNING, FINISHING)
    are asked for across every graph, the ids looked at are those the nodes hold (a holding
    command is exactly one a node holds), not the farm's: ``top`` asks for the running
    commands every second, and 2,000 of them among 20,000 cost 20 times less to find."""
    def take(cid: int) -> dict[str, Any] | None:
        c = commands[cid]
        if statuses is not None and c.status not in statuses:
            return None
        if render_node is not None and c.last_node != render_node:
            return None
        return command_view(c)

    if root is not None:
        ids = _subtree_ids(root, after)
    elif statuses and holders is not None and statuses <= C_HOLDING:
        ids = _after(sorted(cid for n in holders.values() for cid in n.running), after)
    else:
        ids = _after(sorted(commands), after)
    return _scan(ids, limit, bounds, take)


def _subtree_ids(root: TreeNode, after: int | None) -> Iterator[int]:
    """The ids of a subtree's commands after ``after``, in order: a task's commands have
    consecutive ids, so its tasks in the order of their first command are all it takes
    (the subtree's cost, not the farm's)."""
    tasks = sorted((t for t in iter_tasks(root) if t.commands), key=lambda t: t.commands[0].id)
    floor = 0 if after is None else after
    for t in tasks:
        if t.commands[-1].id <= floor:
            continue
        for c in t.commands:
            if c.id > floor:
                yield c.id


def render_node_page(nodes: Mapping[str, RenderNode], after: str | None, limit: Any) -> Page:
    """Render nodes as ``render_node_view``, in name order, after name ``after``."""
    return _scan(_after(sorted(nodes), after), limit, RENDER_NODE_BOUNDS, lambda name: render_node_view(nodes[name]))


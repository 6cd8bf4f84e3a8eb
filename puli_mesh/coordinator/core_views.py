"""The scheduling core's lookups and queries: what :class:`~puli_mesh.coordinator.core.SchedulingCore`
answers without changing anything.

A base class of the core, so the facade stays one object while its module stays short: the
lookups by id (which raise :class:`UnknownIdError`) and the plain-data views the service
answers queries with.

Guarantees: nothing here changes the core's state.
Not here: events and edits (``core``), how a view is shaped (``queries``, ``listings``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from puli_mesh.coordinator import listings, queries, sick_hosts
from puli_mesh.coordinator.state import CoreState
from puli_mesh.coordinator.tree import CommandNode, GraphNode, TreeNode
from puli_mesh.errors import UnknownIdError


class CoreViews:
    """The read-only half of the core's facade (module docstring)."""

    _st: CoreState

    # ---------------------------------------------------------------- lookups
    def _node(self, node_id: int) -> TreeNode:
        n = self._st.nodes.get(node_id)
        if n is None:
            raise UnknownIdError(f"no graph, task group or task has id {node_id}")
        return n

    def owner(self, node_id: int | None = None, command_id: int | None = None) -> str | None:
        """The user of the job a node (or a command) belongs to; None for an unknown id, so an
        access rule about the owner fails closed."""
        if command_id is not None:
            cmd = self._st.commands.get(command_id)
            return None if cmd is None else cmd.task.graph.user
        n = self._st.nodes.get(node_id) if node_id is not None else None
        return None if n is None else n.graph.user

    def _graph(self, graph_id: int) -> GraphNode:
        n = self._node(graph_id)
        g = n.graph
        if n is not g and not (g.children and g.children[0] is n):
            raise UnknownIdError(f"node {graph_id} ({n.name!r}) is not a graph; its graph is "
                                 f"{g.id}")
        return g

    def _command(self, command_id: int) -> CommandNode:
        c = self._st.commands.get(command_id)
        if c is None:
            raise UnknownIdError(f"no command has id {command_id}")
        return c

    # ---------------------------------------------------------------- queries
    def graphs(self) -> list[dict[str, Any]]:
        return queries.graphs(self._st)

    def graph_tree(self, graph_id: int, children: bool = True) -> dict[str, Any]:
        """One graph's view; with ``children`` its whole tree down to the commands."""
        return queries.node_view(self._graph(graph_id), children)

    def node(self, node_id: int) -> dict[str, Any]:
        return queries.node_view(self._node(node_id), True)

    def command(self, command_id: int) -> dict[str, Any]:
        return queries.command_view(self._command(command_id))

    def commands(self, node_id: int | None = None, statuses: Iterable[int] | None = None,
                 render_node: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Commands of a subtree (every graph when None), filtered by status and by the
        render node that runs or last ran them, in id order, at most ``limit``; unbounded,
        for in-process callers (a client's request gets ``command_page``)."""
        return self.command_page(node_id, None if statuses is None else set(statuses), render_node, None,
                                 limit, listings.UNBOUNDED).items

    def graph_page(self, match: Callable[[GraphNode], bool], after: int | None, limit: Any,
                   newest_first: bool = False) -> listings.Page:
        """A page of the graphs ``match`` accepts, after graph id ``after`` (``listings``)."""
        return listings.graph_page(self._st.graphs, match, after, limit, newest_first)

    def command_page(self, node_id: int | None, statuses: set[int] | None, render_node: str | None,
                     after: int | None, limit: Any,
                     bounds: listings.ListingBounds = listings.COMMAND_BOUNDS) -> listings.Page:
        """A page of the commands of node ``node_id``'s subtree (every graph's when None)."""
        root = None if node_id is None else self._node(node_id)
        return listings.command_page(self._st.commands, root, statuses, render_node, after, limit, bounds,
                                     self._st.render_nodes)

    def render_node_page(self, after: str | None, limit: Any) -> listings.Page:
        return listings.render_node_page(self._st.render_nodes, after, limit)

    def figures(self) -> dict[str, Any]:
        """Farm-wide gauges (queue depth, running commands, slots, licences) for stats."""
        return queries.figures(self._st)

    def command_counts(self) -> dict[str, int]:
        """Every command of the farm per status name (a walk of every task: for the metrics)."""
        return queries.command_counts(self._st)

    def render_nodes(self) -> list[dict[str, Any]]:
        return [queries.render_node_view(n) for n in self._st.render_nodes.values()]

    def online_nodes(self) -> list[str]:
        """The names of the render nodes the core has online."""
        return [name for name, n in self._st.render_nodes.items() if n.online]

    def render_node_briefs(self) -> dict[str, queries.RenderNodeBrief]:
        """Every render node, by name, as much as ``puli-mesh status`` shows of it (cheaper than ``render_nodes``)."""
        briefs = {name: queries.render_node_brief(n) for name, n in self._st.render_nodes.items()}
        if self._st.sick.active:
            sick_hosts.add_reasons(self._st.sick, briefs)
        return briefs

    def pools(self) -> list[dict[str, Any]]:
        return queries.pools(self._st)


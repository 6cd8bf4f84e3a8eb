"""Views: a tree view (``node_view`` with children) is built in one walk, at any depth, and
says of every node exactly what that node's own view says."""

from __future__ import annotations

from puli_mesh.coordinator import queries
from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.coordinator.tree import TreeNode
from puliclient.status import CommandStatus
from tests.unit.coordinator.graphs import (
    DEEP,
    assigns,
    finish,
    flat_view,
    graph,
    group,
    nested,
    rn,
    submit_unchecked,
    task,
)


def _tree_matches_own_views(core: SchedulingCore, gid: int) -> None:
    nodes: dict[int, TreeNode] = core._st.nodes
    views = flat_view(core.graph_tree(gid))
    assert len(views) == sum(1 for n in nodes.values() if n.graph.id == gid)
    for view in views:
        view.pop("commands", None)
        assert view == queries.node_view(nodes[view["id"]], False)


def test_each_node_of_a_tree_view_is_its_own_view():
    core = SchedulingCore()
    core.node_joined(rn("a", slots=4), 0)
    r = core.submit_graph(graph([
        group("root", [1, 2, 5]), group("left", [3, 4]), task("solo", 1),
        task("l1", 3), task("l2", 2), group("right", [6]), task("r1", 4)]), 0)
    for i, a in enumerate(assigns(core.request_work("a", 4, 1))):
        core.command_started(a.command_id, a.attempt, 1)
        if i % 2:
            finish(core, a, 4 + i)
        else:
            core.command_update(a.command_id, a.attempt, 3, completion=0.3 + i / 10)
    core.command_update(a.command_id, a.attempt, 9, status=int(CommandStatus.ERROR))
    _tree_matches_own_views(core, r.graph_id)


def test_a_tree_view_of_a_deep_graph_nests_every_level():
    core = SchedulingCore()
    core.node_joined(rn("a", slots=2), 0)
    r = submit_unchecked(core, nested(DEEP), 0)
    (a, _b) = assigns(core.request_work("a", 2, 1))
    finish(core, a, 2)
    view = core.graph_tree(r.graph_id)
    for level in range(DEEP):
        view = view["children"][0]
        assert view["name"] == f"g{level}" and view["commandCount"] == 2 + (not level)
        assert view["completion"] == (0.5 if level else 1 / 3)
    assert [c["name"] for c in view["children"]] == ["bottom"]
    assert [c["status_name"] for c in view["children"][0]["commands"]] == ["DONE", "ASSIGNED"]
    _tree_matches_own_views(core, r.graph_id)

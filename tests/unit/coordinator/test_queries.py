"""Views: a tree view (``node_view`` with children) is built in one walk, at any depth, and
says of every node exactly what that node's own view says; no view publishes a token."""

from __future__ import annotations

from typing import Any

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
    single,
    submit_unchecked,
    task,
    whole_tree,
)


def _tree_matches_own_views(core: SchedulingCore, gid: int) -> None:
    nodes: dict[int, TreeNode] = core._st.nodes
    views = flat_view(whole_tree(core, gid))
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
    view = whole_tree(core, r.graph_id)
    for level in range(DEEP):
        view = view["children"][0]
        assert view["name"] == f"g{level}" and view["commandCount"] == 2 + (not level)
        assert view["completion"] == (0.5 if level else 1 / 3)
    assert [c["name"] for c in view["children"]] == ["bottom"]
    assert [c["status_name"] for c in view["children"][0]["commands"]] == ["DONE", "ASSIGNED"]
    _tree_matches_own_views(core, r.graph_id)


def keys(view: Any) -> set[str]:
    """Every key of a nested view."""
    found: set[str] = set()
    todo = [view]
    while todo:
        v = todo.pop()
        if isinstance(v, dict):
            found.update(str(k) for k in v)
            todo.extend(v.values())
        elif isinstance(v, list):
            todo.extend(v)
    return found


def test_no_view_publishes_the_attempt_token():
    """A result is checked against the attempt token; a client that could read it could
    forge a result as the holding node would."""
    core = SchedulingCore()
    core.node_joined(rn("a"), 0)
    g = core.submit_graph(single("t", 2), 0)
    (x,) = assigns(core.request_work("a", 1, 0))
    core.node_left("a", 1)  # a lost re-queue: the token moves on, no attempt is spent
    core.node_joined(rn("a"), 2)
    (x2,) = assigns(core.request_work("a", 1, 2))
    assert x2.attempt != x.attempt
    views = [core.command(x2.command_id), core.commands(), core.graph_tree(g.graph_id),
             core.node(g.graph_id), core.graphs(), core.render_nodes(), core.figures()]
    assert not {k for k in keys(views) if "token" in k}
    shown = core.command(x2.command_id)
    assert shown["attempts"] == 0 and shown["render_node"] == "a"


def test_a_tree_view_is_bounded_and_says_what_it_left_out() -> None:
    """A graph of 100,000 commands would make a view of ~30 MB: past the bounds, the start of
    the depth-first order is shown, ancestors first, and the rest is counted, not listed."""
    core = SchedulingCore()
    g = core.submit_graph(graph([group("root", [1, 4]), group("top", [2, 3]), task("a", 4), task("b", 4),
                                 task("c", 4)], name="big"), 0)
    assert "omitted" not in core.graph_tree(g.graph_id)
    nodes = core._st.nodes
    bounded = queries.node_view(nodes[g.graph_id], True, nodes_max=4, commands_max=3)
    # shown: the graph, then the root group's children both ("top", "c"), before going down; "a"
    # and "b" are not; 3 of c's 4 commands
    assert bounded["omitted"] == {"nodes": 2, "commands": 1 + 4 + 4}
    (root,) = bounded["children"]
    top, c = root["children"]
    assert "children_omitted" not in root and (top["children"], top["children_omitted"]) == ([], 2)
    assert [x["description"] for x in c["commands"]] == ["c_1_1", "c_2_2", "c_3_3"]
    assert c["commands_omitted"] == 1
    # every shown node's figures still count its whole subtree
    for shown in (bounded, root, top, c):
        own = queries.node_view(nodes[shown["id"]], False)
        skip = ("children", "children_omitted", "omitted", "commands", "commands_omitted")
        assert {k: v for k, v in shown.items() if k not in skip} == own


def test_the_listing_fields_clients_sort_and_select_by_are_those_of_the_views() -> None:
    """puliclient.query_fields names the fields of a job row and of a node row; they must be
    the ones the leader sends, or ``jobs -a``/``--sort`` would refuse a real field."""
    from puli_mesh.coordinator.client_queries import node_row
    from puliclient.query_fields import JOB_FIELDS, NODE_FIELDS

    core = SchedulingCore()
    core.node_joined(rn("rn1", perf=2.5), 0.0)
    gid = core.submit_graph(single("t", 1), 0.0).graph_id
    assert tuple(queries.node_view(core._st.graphs[gid], False)) == JOB_FIELDS
    brief = core.render_node_briefs()["rn1"]
    row = node_row("rn1", "idle", "rn1", None, None, brief)
    assert tuple(row) == NODE_FIELDS
    assert row["performance"] == 2.5  # Puli's speed, as the core knows it


def test_a_task_view_carries_its_own_arguments_and_environment() -> None:
    """Puli's task model has them (``puliclient.model``), and a run-time edit of them must show."""
    core = SchedulingCore()
    gid = core.submit_graph(single("t", 1, environment={"SHOT": "010"}), 0.0).graph_id
    task_id = core.graph_tree(gid)["children"][0]["children"][0]["id"]
    core.set_arguments(task_id, {"cmd": "echo edited"}, 1.0)
    view = core.node(task_id)
    assert (view["arguments"], view["environment"]) == ({"cmd": "echo edited"}, {"SHOT": "010"})

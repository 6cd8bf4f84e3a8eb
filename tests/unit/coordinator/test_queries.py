"""Client-visible views of the core (``queries``): what they never publish."""

from __future__ import annotations

from typing import Any

from puli_mesh.coordinator.core import SchedulingCore
from tests.unit.coordinator.graphs import assigns, rn, single


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

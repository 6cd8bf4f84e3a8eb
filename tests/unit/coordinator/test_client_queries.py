"""The one table of queries: the operators' graph filters, the status view, unknown queries."""

from __future__ import annotations

from typing import Any

import pytest

from puli_mesh.coordinator.client_queries import (
    QUERIES,
    JournalFigures,
    LinkFacts,
    QueryContext,
    StatusFacts,
    answer_query,
    filter_graphs,
)
from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.coordinator.stats import FarmStats
from puliclient.status import NodeStatus

from .graphs import rn, single

RUNNING, ERROR, DONE = int(NodeStatus.RUNNING), int(NodeStatus.ERROR), int(NodeStatus.DONE)
GRAPHS = [
    {"id": 1, "name": "shot010_light", "user": "ana", "pool": "default", "status": RUNNING, "creation_time": 100,
     "tags": {"prod": "film"}},
    {"id": 2, "name": "shot020_comp", "user": "bob", "pool": "gpu", "status": ERROR, "creation_time": 200,
     "tags": {"prod": "ad"}},
    {"id": 3, "name": "shot030_light", "user": "ana", "pool": "gpu", "status": DONE, "creation_time": 300,
     "tags": {}},
]


@pytest.mark.parametrize(("args", "ids"), [
    ({}, [1, 2, 3]),
    ({"user": "ana"}, [1, 3]),
    ({"user": ["ana", "bob"], "pool": "gpu"}, [2, 3]),
    ({"status": "running,error"}, [1, 2]),
    ({"status": [DONE]}, [3]),
    ({"name": "light$"}, [1, 3]),
    ({"name": ["^shot01", "comp"]}, [1, 2]),
    ({"tags": {"prod": "film"}}, [1]),
    ({"tags": {"prod": ["film", "ad"]}}, [1, 2]),
    ({"since": 200}, [2, 3]),
    ({"id": [3, 1]}, [1, 3]),
])
def test_graph_filters_and_across_keys_or_within(args: dict[str, object], ids: list[int]) -> None:
    assert [g["id"] for g in filter_graphs(GRAPHS, args)] == ids


def test_bad_filters_say_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="unknown status 'fine'; known: BLOCKED"):
        filter_graphs(GRAPHS, {"status": "fine"})
    with pytest.raises(ValueError, match="not a valid regular expression"):
        filter_graphs(GRAPHS, {"name": "(unclosed"})


JOURNAL = JournalFigures(records=12, durable=10, bytes_written=900, batches_written=3,
                         last_snapshot_record=0, last_snapshot_time=None)


def context(core: SchedulingCore, what_args: dict[str, Any] | None = None,
            links: dict[str, LinkFacts] | None = None,
            members: dict[str, dict[str, Any]] | None = None) -> QueryContext:
    facts = StatusFacts("paris", "rn1", 7, 42, JOURNAL, links or {})
    return QueryContext(core, what_args or {}, 1000.0, FarmStats(), lambda: facts, members or {})


def test_status_tells_each_node_state_from_zookeeper_the_links_and_the_core() -> None:
    core = SchedulingCore()
    for name in ("busy", "paused", "silent", "closing"):
        core.node_joined(rn(name), 0.0)
    core.submit_graph(single("t", 1), 0.0)
    core.request_work("busy", 1, 0.0)
    core.pause_render_node("paused", 0.0)
    alive = LinkFacts("tcp://a:1", ["default"], alive=True)
    links = {"busy": alive, "paused": alive, "silent": LinkFacts("tcp://s:1", ["gpu"], alive=False),
             "closing": alive, "idle": alive}
    members = {name: {"endpoint": f"tcp://{name}:9", "cores": 8} for name in links}
    members["closing"]["accepting"] = False
    members["joining"] = {"endpoint": "tcp://j:9"}
    status = answer_query("status", context(core, links=links, members=members))
    states = {n["name"]: n["state"] for n in status["nodes"]}
    assert states == {"busy": "busy", "paused": "paused", "silent": "silent", "closing": "draining",
                      "idle": "idle", "joining": "connecting"}
    assert (status["cluster"], status["leader"], status["epoch"], status["assignments_sent"]) == ("paris", "rn1", 7, 42)
    assert status["journal"] == {"records": 12, "durable": 10, "bytes_written": 900, "batches_written": 3,
                                 "last_snapshot_record": 0, "last_snapshot_time": None}
    busy = next(n for n in status["nodes"] if n["name"] == "busy")
    assert busy["running"] == 1 and busy["endpoint"] == "tcp://busy:9" and not busy["leader"]
    # A node only the core knows (its member and link are gone) is "gone"; pools come from the link.
    core.node_joined(rn("ghost"), 0.0)
    nodes = {n["name"]: n for n in answer_query("status", context(core, links=links))["nodes"]}
    assert nodes["ghost"]["state"] == "gone" and nodes["silent"]["pools"] == ["gpu"]


def test_graphs_are_filtered_in_the_one_table() -> None:
    core = SchedulingCore()
    core.submit_graph(single("mine", 1), 0.0)
    core.submit_graph({**single("theirs", 1), "user": "bob"}, 0.0)
    assert [g["name"] for g in answer_query("graphs", context(core))] == ["mine", "theirs"]
    assert [g["name"] for g in answer_query("graphs", context(core, {"user": "bob"}))] == ["theirs"]


def test_an_unknown_query_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="unknown query 'everything'; known: command, commands, figures"):
        answer_query("everything", context(SchedulingCore()))
    assert set(QUERIES) == {"status", "graphs", "graph", "command", "commands", "nodes", "licences", "pools",
                            "figures", "stats"}

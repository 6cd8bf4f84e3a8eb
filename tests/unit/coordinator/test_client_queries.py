"""The one table of queries: the operators' graph filters, the status view, the paged listings,
unknown queries."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest

from puli_mesh.coordinator.client_queries import (
    NODE_STATES,
    QUERIES,
    STATUS_SUMMARY_MAX_AGE_S,
    GraphFilter,
    JournalFigures,
    LinkFacts,
    QueryContext,
    QueryViews,
    StatusFacts,
    answer_query,
)
from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.coordinator.listings import COMMAND_BOUNDS
from puli_mesh.coordinator.shares import ShareSpec
from puli_mesh.coordinator.stats import FarmStats
from puli_mesh.limits import STATUS_NODES_MAX
from puli_mesh.protocol import KillfileOrder
from puliclient.status import CommandStatus, NodeStatus

from .graphs import graph, group, rn, single, task

RUNNING, ERROR, DONE = int(NodeStatus.RUNNING), int(NodeStatus.ERROR), int(NodeStatus.DONE)
GRAPHS = [
    {"id": 1, "name": "shot010_light", "user": "ana", "pool": "default", "status": RUNNING, "creation_time": 100,
     "tags": {"prod": "film"}},
    {"id": 2, "name": "shot020_comp", "user": "bob", "pool": "gpu", "status": ERROR, "creation_time": 200,
     "tags": {"prod": "ad"}},
    {"id": 3, "name": "shot030_light", "user": "ana", "pool": "gpu", "status": DONE, "creation_time": 300,
     "tags": {}},
]


def filter_graphs(graphs: list[dict[str, Any]], args: dict[str, Any]) -> list[dict[str, Any]]:
    match = GraphFilter.from_args(args).matches
    return [g for g in graphs if match(SimpleNamespace(**g))]


@pytest.mark.parametrize(("args", "ids"), [
    ({}, [1, 2, 3]),
    ({"user": "ana"}, [1, 3]),
    ({"user": ["ana", "bob"], "pool": "gpu"}, [2, 3]),
    ({"status": "running,error"}, [1, 2]),
    ({"status": [DONE]}, [3]),
    ({"name": "*light"}, [1, 3]),
    ({"name": ["shot01*", "comp"]}, [1, 2]),
    ({"name": "shot0?0_*"}, [1, 2, 3]),
    ({"name": "shot0?0_comp"}, [2]),
    ({"name": "Shot"}, []),  # case-sensitive, like every name of the farm
    ({"name": "hot"}, [1, 2, 3]),  # no wildcard: contained in the name
    ({"tags": {"prod": "film"}}, [1]),
    ({"tags": {"prod": ["film", "ad"]}}, [1, 2]),
    ({"since": 200}, [2, 3]),
    ({"id": [3, 1]}, [1, 3]),
])
def test_graph_filters_and_across_keys_or_within(args: dict[str, object], ids: list[int]) -> None:
    assert [g["id"] for g in filter_graphs(GRAPHS, args)] == ids


TIMED = [  # created, started, ended: 1 has not started, 2 runs, 3 ended
    {**GRAPHS[0], "start_time": None, "end_time": None},
    {**GRAPHS[1], "start_time": 250, "end_time": None},
    {**GRAPHS[2], "start_time": 310, "end_time": 400},
]


@pytest.mark.parametrize(("args", "ids"), [
    ({"since": 200, "created_before": 300}, [2]),
    ({"created_before": 100}, []),  # before: strictly
    ({"started_after": 250}, [2, 3]),  # after: at or after, as Puli's constraint_starttime
    ({"started_before": 300}, [2]),  # a graph not started yet matches no range on its start
    ({"ended_after": 0}, [3]),
    ({"ended_before": 400}, []),
    ({"started_after": 0, "ended_before": 401}, [3]),
])
def test_time_ranges_bound_creation_start_and_end(args: dict[str, object], ids: list[int]) -> None:
    assert [g["id"] for g in filter_graphs(TIMED, args)] == ids


@pytest.mark.parametrize("bound", ["yesterday", float("nan"), float("inf"), True, [1]])
def test_a_time_range_takes_only_a_finite_epoch(bound: object) -> None:
    with pytest.raises(ValueError, match="started_after must be a time in epoch seconds"):
        filter_graphs(TIMED, {"started_after": bound})


def test_bad_filters_say_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="unknown status 'fine'; known: BLOCKED"):
        filter_graphs(GRAPHS, {"status": "fine"})
    with pytest.raises(ValueError, match="257 characters is above the 256-character limit"):
        filter_graphs(GRAPHS, {"name": "x" * 257})
    with pytest.raises(ValueError, match="user filter lists 300 values, above the limit of 256"):
        filter_graphs(GRAPHS, {"user": [f"u{i}" for i in range(300)]})
    # What was a regular expression is a harmless glob: no error, no stall.
    assert filter_graphs(GRAPHS, {"name": "(unclosed"}) == []


def test_a_catastrophic_regular_expression_is_a_quick_glob() -> None:
    """``(a+)+$`` took the loop minutes as a regex over a name of a's ending in b; as a glob it
    is looked for as a plain substring, and a pattern made of wildcards stays linear."""
    name = "a" * 200 + "b"
    graphs = [{**GRAPHS[0], "id": i, "name": name} for i in range(1000)]
    start = time.perf_counter()
    assert filter_graphs(graphs, {"name": ["(a+)+$", "(a|aa)*c", "*a*a*a*a*a*a*a*a*c", "?" * 200 + "*c"]}) == []
    assert time.perf_counter() - start < 1.0


JOURNAL = JournalFigures(records=12, durable=10, bytes_written=900, batches_written=3,
                         last_snapshot_record=0, last_snapshot_time=None)


def context(core: SchedulingCore, what_args: dict[str, Any] | None = None,
            links: dict[str, LinkFacts] | None = None,
            members: dict[str, dict[str, Any]] | None = None, now: float = 1000.0,
            views: QueryViews | None = None) -> QueryContext:
    facts = StatusFacts("paris", "rn1", 7, 42, JOURNAL, links or {})
    return QueryContext(core, what_args or {}, now, FarmStats(), lambda: facts, members or {}, views or QueryViews())


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


def test_node_rows_are_the_status_rows_filtered_sorted_and_sliced_at_the_leader() -> None:
    core = SchedulingCore()
    links = {name: LinkFacts(f"tcp://{name}:1", ["default"], alive=True) for name in ("rn1", "rn2", "rn3", "gpu1")}
    members = {name: {"endpoint": f"tcp://{name}:9", "cores": cores}
               for name, cores in (("rn1", 8), ("rn2", 32), ("rn3", 16), ("gpu1", 64))}
    everything = answer_query("status", context(core, links=links, members=members))["nodes"]
    assert answer_query("node_rows", context(core, links=links, members=members)) == {"items": everything, "total": 4}
    page = answer_query("node_rows", context(core, {"name": "rn*", "sort": "coresNumber", "reverse": True,
                                                    "offset": 1, "limit": 1}, links=links, members=members))
    assert [n["name"] for n in page["items"]] == ["rn3"] and page["total"] == 3
    for bad, problem in (({"sort": "colour"}, "unknown field 'colour'"), ({"limit": 0}, "limit must be"),
                         ({"offset": "1"}, "offset must be"), ({"reverse": "yes"}, "reverse must be"),
                         ({"cores": "many"}, "cores: write"), ({"state": ["idle"] * 257}, "above the limit")):
        with pytest.raises(ValueError, match=problem):
            answer_query("node_rows", context(core, bad, links=links, members=members))


def test_status_shows_an_operators_pools_over_the_agents_and_the_performance() -> None:
    core = SchedulingCore()
    core.define_pool("gpu")
    core.node_joined(rn("own"), 0.0)
    core.node_joined(rn("set"), 0.0)
    core.set_node_pools("set", ["gpu"], 1.0)
    core.set_node_performance("set", 2.0, 1.0)
    members = {name: {"endpoint": f"tcp://{name}:9", "pools": ["default"]} for name in ("own", "set")}
    nodes = {n["name"]: n for n in answer_query("status", context(core, members=members))["nodes"]}
    assert (nodes["own"]["pools"], nodes["own"]["pools_override"], nodes["own"]["performance"]) == (
        ["default"], None, 1.0)
    assert (nodes["set"]["pools"], nodes["set"]["pools_override"], nodes["set"]["performance"]) == (
        ["gpu"], ["gpu"], 2.0)


def test_status_shows_the_free_ram_the_node_last_reported_and_a_killfiles_pause() -> None:
    core = SchedulingCore()
    core.node_joined(rn("rn1", ram=32000), 0.0)
    core.node_updated("rn1", 1.0, free_ram_mb=1234)  # what its worker reported since its HELLO
    core.node_killfile("rn1", KillfileOrder.PAUSE, 2.0)
    core.node_joined(rn("rn2"), 0.0)
    core.pause_render_node("rn2", 2.0)
    alive = LinkFacts("tcp://a:1", ["default"], alive=True)
    members = {"rn1": {"free_ram_mb": 30000}, "rn2": {}}  # ZooKeeper's figure: up to a minute old
    status = answer_query("status", context(core, links={"rn1": alive, "rn2": alive}, members=members))
    rows = {n["name"]: n for n in status["nodes"]}
    assert rows["rn1"]["free_ram_mb"] == 1234
    assert (rows["rn1"]["state"], rows["rn1"]["reason"]) == ("draining", "killfile")
    assert (rows["rn2"]["state"], rows["rn2"]["reason"]) == ("paused", "")  # an operator's


def test_a_node_paused_by_its_nimby_says_why_its_user_holds_it() -> None:
    core = SchedulingCore()
    for name in ("desk", "late", "kf", "op"):
        core.node_joined(rn(name), 0.0)
        core.node_killfile(name, KillfileOrder.KILL, 1.0)
    core.pause_render_node("op", 2.0)  # an operator's pause from now on
    alive = LinkFacts("tcp://a:1", ["default"], alive=True)
    members = {"desk": {"nimby": "user active"}, "late": {"nimby": ""}, "kf": {}, "op": {"nimby": "user active"}}
    status = answer_query("status", context(core, links=dict.fromkeys(members, alive), members=members))
    reasons = {n["name"]: n["reason"] for n in status["nodes"]}
    # "late": the member data still says it took work (read before its user came back)
    assert reasons == {"desk": "nimby: user active", "late": "nimby", "kf": "killfile", "op": ""}


def test_graphs_are_filtered_in_the_one_table() -> None:
    core = SchedulingCore()
    core.submit_graph(single("mine", 1), 0.0)
    core.submit_graph({**single("theirs", 1), "user": "bob"}, 0.0)
    assert answer_query("graphs", context(core))["cursor"] is None
    assert [g["name"] for g in answer_query("graphs", context(core))["items"]] == ["mine", "theirs"]
    assert [g["name"] for g in answer_query("graphs", context(core, {"user": "bob"}))["items"]] == ["theirs"]


def pages(core: SchedulingCore, what: str, args: dict[str, Any], between: Any = None) -> list[Any]:
    """Every page's items' ids (names for nodes), calling ``between(page number)`` after each page."""
    out: list[Any] = []
    cursor = None
    for number in range(10_000):
        page = answer_query(what, context(core, {**args, **({} if cursor is None else {"cursor": cursor})}))
        out += [item.get("id", item.get("name")) for item in page["items"]]
        cursor = page["cursor"]
        if cursor is None:
            return out
        if between is not None:
            between(number)
    raise AssertionError("no last page")


def test_graph_pages_are_stable_under_inserts_and_archives() -> None:
    core = SchedulingCore()
    first = [core.submit_graph(single(f"g{i}", 1), 0.0).graph_id for i in range(7)]
    added: list[int] = []

    def meanwhile(number: int) -> None:  # a graph submitted and one archived between two pages
        added.append(core.submit_graph(single(f"late{number}", 1), 0.0).graph_id)
        if number == 0:
            core.cancel(first[5], 0.0)
            core.archive(first[5], 0.0)

    seen = pages(core, "graphs", {"limit": 2}, meanwhile)
    assert seen == sorted(seen) and len(seen) == len(set(seen))  # in id order, none twice
    assert seen == [g for g in first if g != first[5]] + added  # nothing skipped, the archived one gone
    assert pages(core, "graphs", {"limit": 2, "name": "late*"}) == added


def test_graph_pages_newest_first_page_down_from_the_newest_and_refuse_a_non_bool() -> None:
    """A monitor lists the newest jobs first: the leader pages them, the first page is the newest."""
    core = SchedulingCore()
    ids = [core.submit_graph(single(f"g{i}", 1, pool="default"), 0.0).graph_id for i in range(5)]
    newest = pages(core, "graphs", {"limit": 2, "newest_first": True})
    assert newest == ids[::-1]
    first = answer_query("graphs", context(core, {"limit": 2, "newest_first": True}))
    assert [g["id"] for g in first["items"]] == ids[:-3:-1]  # the two newest, newest first
    assert pages(core, "graphs", {"limit": 2, "newest_first": True, "name": "g1*"}) == [ids[1]]
    with pytest.raises(ValueError, match="newest_first must be true or false"):
        answer_query("graphs", context(core, {"newest_first": "yes"}))


def test_command_pages_follow_ids_whole_farm_and_subtree() -> None:
    core = SchedulingCore()
    # Groups make the tree order differ from the id order (ids are given breadth first).
    tree = {**single("g", 1), "tasks": [group("root", [1, 2]), group("sub", [3]), task("b", 3), task("a", 4)]}
    gid = core.submit_graph(tree, 0.0).graph_id
    other = core.submit_graph(single("other", 5), 0.0).graph_id
    every = [c["id"] for c in core.commands()]
    assert pages(core, "commands", {"limit": 3}) == sorted(every)
    mine = [c["id"] for c in core.commands(node_id=gid)]
    assert pages(core, "commands", {"limit": 2, "id": gid}) == sorted(mine)
    assert pages(core, "commands", {"id": other, "limit": 1000}) == sorted(c["id"] for c in core.commands(other))
    task_a = next(t for t in core.graph_tree(gid)["children"][0]["children"] if t["name"] == "sub")["children"][0]
    assert pages(core, "commands", {"id": task_a["id"], "limit": 3}) == [c["id"] for c in task_a["commands"]]
    with pytest.raises(Exception, match="no graph, task group or task has id 999"):
        answer_query("commands", context(core, {"id": 999}))


def test_a_page_is_at_most_the_maximum_and_a_request_looks_at_a_bounded_number_of_entries() -> None:
    core = SchedulingCore()
    core.submit_graph(single("big", COMMAND_BOUNDS.scan_max + 10), 0.0)
    page = answer_query("commands", context(core, {"limit": 10**9}))
    assert len(page["items"]) == COMMAND_BOUNDS.page_max and page["cursor"] == page["items"][-1]["id"]
    # A filter that matches nothing: an empty page after scan_max entries, and a cursor to go on.
    page = answer_query("commands", context(core, {"status": "DONE"}))
    assert page["items"] == [] and page["cursor"] == COMMAND_BOUNDS.scan_max
    page = answer_query("commands", context(core, {"status": "DONE", "cursor": page["cursor"]}))
    assert page == {"items": [], "cursor": None}
    with pytest.raises(ValueError, match="limit must be at least 1"):
        answer_query("graphs", context(core, {"limit": 0}))


def test_render_nodes_are_paged_by_name() -> None:
    core = SchedulingCore()
    for name in ("rn3", "rn1", "rn2", "rn10"):
        core.node_joined(rn(name), 0.0)
    assert pages(core, "nodes", {"limit": 3}) == ["rn1", "rn10", "rn2", "rn3"]


def test_an_unknown_query_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="unknown query 'everything'; known: command, commands, figures, graph"):
        answer_query("everything", context(SchedulingCore()))
    assert set(QUERIES) == {"status", "graphs", "graph", "command", "commands", "nodes", "node_rows", "licences",
                            "pools", "figures", "stats", "history", "shares",
                            "quotas"}


def test_the_shares_query_shows_each_accounts_use_against_its_guarantee_and_cap() -> None:
    core = SchedulingCore()
    core.node_joined(rn("rn1"), 0.0)
    core.set_shares("default", {("film",): ShareSpec(2, 4, 1.0)}, 0.0)
    core.submit_graph(graph([group("root", [1], tags={"prod": "film"}), task("t", 2)], user="ana"), 0.0)
    core.request_work("rn1", 1, 1.0)
    rows = {r["account"]: r for r in answer_query("shares", context(core))}
    assert rows["film"] == {"pool": "default", "account": "film", "min": 2, "max": 4, "weight": 1.0,
                            "use": 1, "ready": 1, "defined": True, "preempt_after": None}
    assert rows["film/ana"]["use"] == 1 and not rows["film/ana"]["defined"]


def test_the_status_and_the_figures_say_whether_there_are_shares_to_ask_for() -> None:
    core = SchedulingCore()
    core.node_joined(rn("rn1"), 0.0)

    def flags() -> tuple[bool, bool, bool]:  # a new context each time: nothing kept from the last ask
        return (answer_query("status", context(core))["shares"],
                answer_query("status", context(core, {"nodes_limit": 5}))["shares"],
                answer_query("figures", context(core))["shares"])

    assert flags() == (False, False, False)
    core.set_quotas({("user", "ana"): 3}, 0.0)
    assert flags() == (True, True, True)  # a quota alone is something to show
    core.set_quotas({}, 0.0)
    core.set_shares("default", {("film",): ShareSpec(2, 4, 1.0)}, 0.0)
    assert flags() == (True, True, True)
    core.set_shares("default", {}, 0.0)
    assert flags() == (False, False, False)


def mixed_farm() -> tuple[SchedulingCore, dict[str, LinkFacts], dict[str, dict[str, Any]]]:
    """Two nodes of each state but ``gone`` and ``connecting`` (one each), the names in no state's order."""
    core = SchedulingCore()
    alive = LinkFacts("tcp://a:1", ["default"], alive=True)
    links: dict[str, LinkFacts] = {}
    for i, state in enumerate(("idle", "busy", "paused", "silent", "quarantined", "draining") * 2):
        name = f"n{(i * 7) % 12:02d}-{state}"
        core.node_joined(rn(name, slots=2), 0.0)
        links[name] = LinkFacts("tcp://s:1", ["default"], alive=False) if state == "silent" else alive
        if state == "busy":
            core.submit_graph(single(f"for {name}", 1), 0.0)
            core.request_work(name, 1, 0.0)
        elif state == "paused":
            core.pause_render_node(name, 0.0)
        elif state == "draining":
            core.pause_render_node(name, 0.0, drain=True)
        elif state == "quarantined":
            core._st.render_nodes[name].quarantined = True
    core.node_joined(rn("zz-gone", slots=2), 0.0)
    members = {name: {"endpoint": f"tcp://{name}:9", "slots": 2} for name in links}
    members["aa-connecting"] = {"endpoint": "tcp://c:9", "slots": 4}
    return core, links, members


def test_a_bounded_status_lists_the_nodes_that_may_need_someone_first_and_counts_every_node() -> None:
    core, links, members = mixed_farm()
    full = answer_query("status", context(core, links=links, members=members))
    assert "summary" not in full and len(full["nodes"]) == 14  # the plain status is as it was
    bounded = answer_query("status", context(core, {"nodes_limit": 5}, links=links, members=members))
    rank = {state: i for i, state in enumerate(NODE_STATES)}
    expected = sorted(full["nodes"], key=lambda n: (rank[n["state"]], n["name"]))[:5]
    assert bounded["nodes"] == expected  # each row as the full status gives it
    assert [n["state"] for n in bounded["nodes"]] == ["gone", "silent", "silent", "connecting", "quarantined"]
    assert bounded["summary"] == {
        "nodes": 14, "states": {"gone": 1, "silent": 2, "connecting": 1, "quarantined": 2, "draining": 2,
                                "paused": 2, "busy": 2, "idle": 2},
        "slots": sum(n["slots"] for n in full["nodes"] if n["state"] != "gone"),
        "running": sum(n["running"] for n in full["nodes"]), "as_of": 1000.0}
    assert {k: v for k, v in bounded.items() if k not in ("nodes", "summary")} == \
        {k: v for k, v in full.items() if k != "nodes"}
    none = answer_query("status", context(core, {"nodes_limit": 0}, links=links, members=members))
    assert none["nodes"] == [] and none["summary"]["nodes"] == 14


@pytest.mark.parametrize("bad", [-1, STATUS_NODES_MAX + 1, "10", 2.5, True, [3]])
def test_a_bad_nodes_limit_is_invalid(bad: Any) -> None:
    with pytest.raises(ValueError, match=f"nodes_limit must be an integer from 0 to {STATUS_NODES_MAX}"):
        answer_query("status", context(SchedulingCore(), {"nodes_limit": bad}))


def test_a_bounded_status_is_kept_at_most_its_max_age_then_built_again() -> None:
    core, links, members = mixed_farm()
    views = QueryViews()

    def ask(now: float, limit: int = 3) -> dict[str, Any]:
        return answer_query("status", context(core, {"nodes_limit": limit}, links=links, members=members, now=now,
                                              views=views))

    first = ask(1000.0)
    core.submit_graph(single("more", 1), 0.0)
    idle = next(n["name"] for n in answer_query("status", context(core, links=links, members=members))["nodes"]
                if n["state"] == "idle")
    core.request_work(idle, 1, 0.0)
    assert ask(1000.0 + STATUS_SUMMARY_MAX_AGE_S / 2) is first  # the same reply, not built again
    assert ask(1000.0, limit=4)["summary"]["running"] == 3  # another limit: its own view
    again = ask(1000.0 + STATUS_SUMMARY_MAX_AGE_S)
    assert again["summary"]["running"] == 3 and again["summary"]["as_of"] == 1000.0 + STATUS_SUMMARY_MAX_AGE_S
    assert ask(999.0)["summary"]["as_of"] == 999.0  # the clock went back: built again


def test_the_figures_every_monitor_asks_for_are_walked_at_most_once_per_max_age() -> None:
    core = SchedulingCore()
    core.submit_graph(single("one", 1), 0.0)
    views = QueryViews()

    def ask(now: float) -> dict[str, Any]:
        return answer_query("figures", context(core, now=now, views=views))

    first = ask(1000.0)
    core.submit_graph(single("two", 1), 0.0)
    assert ask(1000.0 + STATUS_SUMMARY_MAX_AGE_S / 2) is first and first["graphs"] == 1
    assert ask(1000.0 + STATUS_SUMMARY_MAX_AGE_S)["graphs"] == 2
    assert ask(999.0)["graphs"] == 2  # the clock went back: walked again


def test_running_commands_are_found_through_the_nodes_that_hold_them() -> None:
    core = SchedulingCore()
    for i in range(4):
        core.node_joined(rn(f"rn{i}", slots=2), 0.0)
    core.submit_graph(single("big", 40), 0.0)
    given = [d for name in ("rn2", "rn0", "rn3") for d in core.request_work(name, 2, 0.0)]
    held = [d.command_id for d in given]
    core.command_started(held[0], given[0].attempt, 0.0)
    everything = core.commands(statuses=None)
    running = sorted(c["id"] for c in everything if c["status_name"] in ("ASSIGNED", "RUNNING", "FINISHING"))
    assert sorted(held) == running
    assert pages(core, "commands", {"status": "RUNNING,ASSIGNED,FINISHING", "limit": 4}) == running
    assert pages(core, "commands", {"status": "RUNNING"}) == [held[0]]
    assert pages(core, "commands", {"status": "ASSIGNED", "node": "rn3", "limit": 1}) == \
        sorted(c["id"] for c in everything if c["render_node"] == "rn3")
    # a command that ended is no longer held: not listed, though it ran
    core.command_update(held[0], given[0].attempt, 0.0, status=CommandStatus.DONE)
    assert held[0] not in pages(core, "commands", {"status": "RUNNING,ASSIGNED"})


def test_history_answers_the_samples_since_a_time_and_the_totals() -> None:
    q = context(SchedulingCore(), {"since": 150.0})
    q.stats.resume([{"start": float(t), "done_total": t // 60} for t in (60, 120, 180, 240)])
    reply = answer_query("history", q)
    assert [s["start"] for s in reply["samples"]] == [180.0, 240.0]
    assert reply["totals"] == {"done": 4, "failed": 0} and reply["period_s"] == 60.0
    everything = context(SchedulingCore())
    everything.stats.resume([{"start": 60.0}])
    assert len(answer_query("history", everything)["samples"]) == 1
    with pytest.raises(ValueError, match="since must be a time"):
        answer_query("history", context(SchedulingCore(), {"since": "yesterday"}))

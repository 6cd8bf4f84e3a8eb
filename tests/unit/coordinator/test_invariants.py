"""Property-based checks: random graphs, nodes and event sequences; invariants after
every event, and snapshot -> restore -> the same decisions."""

from __future__ import annotations

from typing import Any

import msgpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from puli_mesh.coordinator.core import CoreSettings, SchedulingCore
from puli_mesh.coordinator.decisions import Assign, Kill
from puli_mesh.coordinator.tree import C_FINAL, C_HOLDING, N_CANCELED, N_DONE, TaskNode, iter_tasks
from puli_mesh.errors import CoreError
from puliclient.status import CommandStatus
from tests.unit.coordinator.graphs import graph, group, rn, task

LICS = ["", "a", "b", "a&b"]
END_STATUSES = [5, 5, 5, 7, 6, 8]  # DONE mostly, ERROR, TIMEOUT, CANCELED


@st.composite
def graph_specs(draw: Any, max_commands: int = 4) -> dict[str, Any]:
    n_tasks = draw(st.integers(1, 3))
    nodes: list[dict[str, Any]] = [group("root", [], maxRN=draw(st.sampled_from([0, 0, 2])))]
    use_sub = n_tasks > 1 and draw(st.booleans())
    if use_sub:
        nodes.append(group("sub", [], maxRN=draw(st.sampled_from([0, 1, 2]))))
        nodes[0]["tasks"].append(1)
    for i in range(n_tasks):
        idx = len(nodes)
        deps = []
        if idx > 1 + use_sub and draw(st.booleans()):
            src = draw(st.integers(1 + use_sub, idx - 1))
            deps = [[src, draw(st.sampled_from([[3], [3], [4], [3, 4], [5], [2]]))]]
        t = task(f"t{i}", draw(st.integers(1, max_commands)), deps=deps,
                 lic=draw(st.sampled_from(LICS)), maxRN=draw(st.sampled_from([0, 0, 1, 2])),
                 maxNbCores=draw(st.sampled_from([0, 1, 2])),
                 minNbCores=draw(st.sampled_from([1, 1, 0])),
                 ramUse=draw(st.sampled_from([0, 0, 1000])),
                 maxAttempt=draw(st.integers(1, 2)),
                 timer=draw(st.sampled_from([None, None, 15.0])),
                 requirements=draw(st.sampled_from([{}, {}, {"softs": ["maya"]}])))
        nodes.append(t)
        parent = 1 if use_sub and draw(st.booleans()) else 0
        nodes[parent]["tasks"].append(idx)
    if use_sub and not nodes[1]["tasks"]:
        nodes[1]["tasks"].append(nodes[0]["tasks"].pop())
    return graph(nodes, max_rn=draw(st.sampled_from([-1, -1, 2])),
                 pool=draw(st.sampled_from(["default", "default", "p2"])))


N_NODES = 4
ops = st.one_of(
    st.tuples(st.just("submit"), graph_specs()),
    st.tuples(st.just("request"), st.integers(0, N_NODES - 1), st.integers(0, 3)),
    st.tuples(st.just("request"), st.integers(0, N_NODES - 1), st.integers(0, 3)),
    st.tuples(st.just("start"), st.integers(0, 50)),
    st.tuples(st.just("end"), st.integers(0, 50), st.sampled_from(END_STATUSES)),
    st.tuples(st.just("start"), st.integers(0, 50)),
    st.tuples(st.just("end"), st.integers(0, 50), st.sampled_from(END_STATUSES)),
    st.tuples(st.just("end"), st.integers(0, 50), st.sampled_from(END_STATUSES)),
    st.tuples(st.just("tick"), st.floats(0, 25)),
    st.tuples(st.just("left"), st.integers(0, N_NODES - 1)),
    st.tuples(st.just("join"), st.integers(0, N_NODES - 1)),
    st.tuples(st.just("edit"), st.sampled_from(["pause", "pausekill", "resume", "cancel",
                                                "restart", "restart_err", "maxrn", "dk",
                                                "archive"]),
              st.integers(0, 50), st.integers(-1, 3)),
    st.tuples(st.just("rn"), st.sampled_from(["pause", "pausekill", "resume", "clear"]),
              st.integers(0, N_NODES - 1)),
    st.tuples(st.just("licence"), st.sampled_from(["a", "b"]), st.integers(0, 3)),
    st.tuples(st.just("snapshot")),
)


def node_info(i: int, pipelined: bool = False) -> Any:
    pools = [["default"], ["default", "p2"], ["p2"], ["default"]][i]
    softs = ["maya"] if i % 2 else []
    return rn(f"rn{i}", pools=pools, cores=[4, 2, 8, 1][i], ram=[4000, 2000, 1500, 8000][i],
              slots=[1, 2, 3, 2][i], softs=softs, pipeline=[2, 1, 3, 1][i] if pipelined else 0)


# Events come 0.5 s apart or more: with these, a task turns "short" after one DONE
# command, so pipelined nodes get commands sent ahead in most sequences.
CORE_SETTINGS = CoreSettings(pipeline_after_done=1, pipeline_below_s=100.0)


class Driver:
    def __init__(self, pipelined: bool = False) -> None:
        self.pipelined = pipelined
        self.core = SchedulingCore(CORE_SETTINGS)
        self.now = 0.0
        self.outstanding: dict[int, Assign] = {}
        self.node_ids: list[int] = []
        self.core.define_pool("p2")
        self.core.set_licence("a", 2, 0)
        self.core.set_licence("b", 1, 0)
        for i in range(N_NODES):
            self.core.node_joined(node_info(i, pipelined), 0)

    def apply(self, op: tuple[Any, ...]) -> list[Any]:
        core, kind = self.core, op[0]
        self.now += 0.5
        now = self.now
        out: list[Any] = []
        try:
            if kind == "submit":
                r = core.submit_graph(op[1], now)
                self.node_ids += [r.graph_id, *r.node_ids]
                out = r.decisions
            elif kind == "request":
                out = core.request_work(f"rn{op[1]}", op[2], now)
            elif kind in ("start", "end") and self.outstanding:
                a = list(self.outstanding.values())[op[1] % len(self.outstanding)]
                if kind == "start":
                    out = core.command_started(a.command_id, a.attempt, now)
                else:
                    out = core.command_update(a.command_id, a.attempt, now, status=op[2])
                    self.outstanding.pop(a.command_id, None)
            elif kind == "tick":
                self.now += op[1]
                out = core.tick(self.now)
            elif kind == "left":
                out = core.node_left(f"rn{op[1]}", now)
                self.outstanding = {c: a for c, a in self.outstanding.items()
                                    if a.node != f"rn{op[1]}"}
            elif kind == "join":
                out = core.node_joined(node_info(op[1], self.pipelined), now)
            elif kind == "edit" and self.node_ids:
                nid = self.node_ids[op[2] % len(self.node_ids)]
                verb = op[1]
                if verb in ("pause", "pausekill"):
                    out = core.pause(nid, now, kill=verb == "pausekill")
                elif verb == "resume":
                    out = core.resume(nid, now)
                elif verb == "cancel":
                    out = core.cancel(nid, now)
                elif verb in ("restart", "restart_err"):
                    out = core.restart(nid, now, errors_only=verb == "restart_err")
                elif verb == "maxrn":
                    out = core.set_max_rn(nid, op[3], now)
                elif verb == "dk":
                    out = core.set_dispatch_key(nid, op[3], now)
                else:
                    out = core.archive(nid, now)
            elif kind == "rn":
                name = f"rn{op[2]}"
                if op[1] in ("pause", "pausekill"):
                    out = core.pause_render_node(name, now, kill=op[1] == "pausekill")
                elif op[1] == "resume":
                    out = core.resume_render_node(name, now)
                else:
                    out = core.clear_quarantine(name, now)
            elif kind == "licence":
                out = core.set_licence(op[1], op[2], now)
        except CoreError:
            out = []
        for d in out:
            if isinstance(d, Assign):
                self.outstanding[d.command_id] = d
            elif isinstance(d, Kill):
                self.outstanding.pop(d.command_id, None)
        return out


def holding_under(node: Any) -> int:
    return sum(1 for t in iter_tasks(node) for c in t.commands if c.status in C_HOLDING)


def check_invariants(core: SchedulingCore, decisions: list[Any], before: dict[str, Any]) -> None:
    s = core._st
    # licences: never taken beyond the total (a lowered total may leave used > total,
    # but then nothing more is taken), and counted exactly
    for lic in s.licences.licences.values():
        holders = sum(1 for n in s.render_nodes.values() for r in n.running.values()
                      if lic.name in r.licences)
        assert lic.used == holders
        if lic.used > lic.total:
            assert lic.used <= before["lic"].get(lic.name, 0)
    # maxRN at every level: never exceeded by new work (a lowered value kills nothing)
    for n in s.nodes.values():
        running = holding_under(n)
        assert running == n.running
        if n.max_rn > 0 and running > n.max_rn:
            assert running <= before["running"].get(n.id, 0)
    # a command holds at most one node, and holding commands are exactly the runs
    seen: dict[int, str] = {}
    for node in s.render_nodes.values():
        assert node.in_slots <= node.slots
        assert 0 <= node.used_cores <= node.core_capacity
        assert node.used_cores == sum(r.cores for r in node.running.values())
        for cid, run in node.running.items():
            assert cid not in seen
            seen[cid] = node.name
            assert run.command.run is run and run.command.status in C_HOLDING
        # pipelining: each waiting run is the one follower of a run of the same task on
        # the same node, holds no cores or RAM, and no chain is deeper than the setting
        ahead = [r for r in node.running.values() if r.after]
        assert len(ahead) == len(node.followers)
        for r in ahead:
            assert node.followers[r.after] is r and r.cores == r.ram_mb == 0
            assert node.running[r.after].command.task is r.command.task
        for r in node.running.values():
            if not r.after:
                depth, tail = 0, r
                while tail.command.id in node.followers:
                    tail, depth = node.followers[tail.command.id], depth + 1
                assert depth <= node.pipeline
    for c in s.commands.values():
        assert (c.status in C_HOLDING) == (c.id in seen)
    # no command starts before its dependencies (and its groups') are met
    for d in decisions:
        if isinstance(d, Assign):
            t = s.commands[d.command_id].task
            for x in [t, *t.ancestors()]:
                for dep in x.deps:
                    assert dep.source.status in dep.statuses
    # a finished graph has only final commands; counters match the commands
    for g in s.graphs.values():
        if g.status in (N_DONE, N_CANCELED):
            assert all(c.status in C_FINAL for t in iter_tasks(g) for c in t.commands)
    for n in s.nodes.values():
        if isinstance(n, TaskNode):
            counts = [0] * 9
            for c in n.commands:
                counts[c.status] += 1
            assert counts == n.counts


def measure(core: SchedulingCore) -> dict[str, Any]:
    s = core._st
    return {"lic": {lic.name: lic.used for lic in s.licences.licences.values()},
            "running": {n.id: n.running for n in s.nodes.values()}}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(graph_specs(), min_size=1, max_size=3), st.lists(ops, min_size=5, max_size=60))
def test_invariants_hold_after_every_event(graphs: list[dict[str, Any]],
                                          sequence: list[tuple[Any, ...]]) -> None:
    run_sequence(Driver(), graphs, sequence)


# More commands ending DONE and nodes asking for work: tasks turn short and queues fill.
pipelined_ops = st.one_of(
    ops,
    st.tuples(st.just("end"), st.integers(0, 50), st.just(int(CommandStatus.DONE))),
    st.tuples(st.just("request"), st.integers(0, N_NODES - 1), st.integers(2, 6)),
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(graph_specs(max_commands=8), min_size=1, max_size=2),
       st.lists(pipelined_ops, min_size=5, max_size=60))
def test_invariants_hold_with_pipelined_nodes(graphs: list[dict[str, Any]],
                                             sequence: list[tuple[Any, ...]]) -> None:
    """Every node takes commands ahead: the same invariants, plus the queues' own."""
    run_sequence(Driver(pipelined=True), graphs, sequence)


def run_sequence(drv: Driver, graphs: list[dict[str, Any]], sequence: list[tuple[Any, ...]]) -> None:
    twin: Driver | None = None
    for op in [("submit", g) for g in graphs] + [("request", i, 2) for i in range(N_NODES)] \
            + sequence:
        if op[0] == "snapshot":
            data = drv.core.snapshot()
            data = msgpack.unpackb(msgpack.packb(data), strict_map_key=False)
            twin = Driver.__new__(Driver)
            twin.pipelined = drv.pipelined
            twin.core = SchedulingCore.restore(data, CORE_SETTINGS)
            twin.now, twin.outstanding = drv.now, dict(drv.outstanding)
            twin.node_ids = list(drv.node_ids)
            assert twin.core.graphs() == drv.core.graphs()
            continue
        before = measure(drv.core)
        out = drv.apply(op)
        check_invariants(drv.core, out, before)
        if twin is not None:
            assert twin.apply(op) == out
    if twin is not None:
        assert twin.core.graphs() == drv.core.graphs()
        assert twin.core.render_nodes() == drv.core.render_nodes()
        assert twin.core.licences.stats() == drv.core.licences.stats()

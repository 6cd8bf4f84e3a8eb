"""Render nodes as the core sees them: what a worker's HELLO makes of one, and whether work fits on one."""

from __future__ import annotations

from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.coordinator.render_nodes import RenderNode, RenderNodeInfo, can_run, fits_signature
from puli_mesh.protocol import HelloMessage, decode
from tests.unit.coordinator.graphs import assigns, finish, rn, single


def hello(**changes: object) -> HelloMessage:
    fields: dict[str, object] = {
        "name": "rn1", "endpoint": "tcp://rn1:8004", "pools": ["default", "gpu"], "cores": 16, "ram_mb": 64000,
        "free_ram_mb": 60000, "slots": 4, "characteristics": {"os": "linux", "softs": ["maya"]},
        "performance": 2, "running": [[12, 1]], "last_epoch": 3, "pipeline": 16, **changes}
    msg = decode(HelloMessage(**fields).encode())  # type: ignore[arg-type]
    assert isinstance(msg, HelloMessage)
    return msg


def test_a_hello_gives_the_info_of_the_render_node_that_sent_it() -> None:
    info = RenderNodeInfo.from_hello(hello())
    assert info == RenderNodeInfo(name="rn1", pools=["default", "gpu"], cores=16, ram_mb=64000, free_ram_mb=60000,
                                  slots=4, characteristics={"os": "linux", "softs": ["maya"]}, performance=2.0,
                                  pipeline=16)
    assert type(info.performance) is float
    node = RenderNode(info, now=0.0)
    assert node.pools == ("default", "gpu") and node.capacity == 4 * 17


def test_pool_names_a_worker_sends_are_made_strings_and_its_characteristics_copied() -> None:
    msg = hello(pools=[3, "gpu"])
    info = RenderNodeInfo.from_hello(msg)
    assert info.pools == ["3", "gpu"]
    info.characteristics["os"] = "changed"
    assert msg.characteristics["os"] == "linux"


# ------------------------------------------------------------------ GPUs
def test_a_hello_gives_its_gpus_bounded_and_without_duplicates() -> None:
    from puli_mesh.limits import MAX_GPU_ID_CHARS, MAX_GPUS

    assert RenderNodeInfo.from_hello(hello()).gpus == []
    assert RenderNodeInfo.from_hello(hello(gpus=["0", "1", "0", "", "x" * (MAX_GPU_ID_CHARS + 1)])).gpus == ["0", "1"]
    many = RenderNodeInfo.from_hello(hello(gpus=[str(i) for i in range(MAX_GPUS + 10)])).gpus
    assert len(many) == MAX_GPUS
    node = RenderNode(RenderNodeInfo.from_hello(hello(gpus=["GPU-a", "GPU-b"])), now=0.0)
    assert node.gpus == ("GPU-a", "GPU-b") and node.free_gpus == ["GPU-a", "GPU-b"]


def gpu_info(name: str, n: int) -> RenderNodeInfo:
    """``name`` with ``n`` GPUs (ids "0"...), 4 slots and 16 cores."""
    info = rn(name, slots=4, cores=16)
    info.gpus = [str(g) for g in range(n)]
    return info


def gpu_farm(*gpus_per_node: int) -> SchedulingCore:
    """A core with one node per figure: ``rnI`` with that many GPUs."""
    core = SchedulingCore()
    for i, n in enumerate(gpus_per_node):
        core.node_joined(gpu_info(f"rn{i}", n), 0)
    return core


def test_two_one_gpu_commands_get_different_gpus_and_a_third_waits_for_one_to_end() -> None:
    core = gpu_farm(2)
    core.submit_graph(single("gpu", 3, gpus=1, maxNbCores=1), 1)
    first = assigns(core.request_work("rn0", 4, 2))
    assert sorted(a.gpus or () for a in first) == [("0",), ("1",)]  # a third waits: no GPU free
    node = core._st.render_nodes["rn0"]
    assert node.free_gpus == []
    third = assigns(finish(core, first[0], 3))
    assert [a.gpus for a in third] == [first[0].gpus]  # the one freed, at once
    assert node.free_gpus == []


def test_a_two_gpu_command_never_goes_to_a_one_gpu_node_and_gpus_zero_needs_none() -> None:
    core = gpu_farm(1)
    core.submit_graph(single("big", 1, gpus=2), 1)
    assert assigns(core.request_work("rn0", 4, 2)) == []  # it keeps its credit, unused
    cpu = core.submit_graph(single("cpu", 1, maxNbCores=1), 3)  # a task without GPUs runs there
    assert [(a.task_name, a.node, a.gpus) for a in assigns(cpu.decisions)] == [("cpu", "rn0", None)]
    core.node_joined(gpu_info("rn2", 2), 5)
    got = assigns(core.request_work("rn2", 4, 6))
    assert [(a.task_name, a.gpus) for a in got] == [("big", ("0", "1"))]


def test_gpus_held_survive_a_snapshot_and_a_hello_record_keeps_them() -> None:
    import msgpack

    from puli_mesh.coordinator.records import HelloRecord

    core = gpu_farm(2)
    core.submit_graph(single("gpu", 3, gpus=1, maxNbCores=1), 1)
    first = assigns(core.request_work("rn0", 4, 2))
    data = msgpack.unpackb(msgpack.packb(core.snapshot(), use_bin_type=True), raw=False, strict_map_key=False)
    restored = SchedulingCore.restore(data)
    node = restored._st.render_nodes["rn0"]
    assert node.gpus == ("0", "1") and node.free_gpus == []
    assert {r.gpus for r in node.running.values()} == {("0",), ("1",)}
    assert restored._st.nodes[first[0].task_id].gpus == 1  # type: ignore[attr-defined]
    # the successor decides as the leader would have: the third command gets the GPU freed
    third = assigns(finish(restored, first[1], 3))
    assert [a.gpus for a in third] == [first[1].gpus]
    record = HelloRecord(gpu_info("rn9", 3), (), 4.0)
    assert HelloRecord.from_data(msgpack.unpackb(msgpack.packb(record.to_data()))).info.gpus == ["0", "1", "2"]


def test_a_node_that_joins_again_keeps_the_gpus_its_commands_hold_booked() -> None:
    core = gpu_farm(2)
    core.submit_graph(single("gpu", 1, gpus=1, maxNbCores=1), 1)
    (a,) = assigns(core.request_work("rn0", 4, 2))
    core.command_started(a.command_id, a.attempt, 3)
    core.reconcile_node(gpu_info("rn0", 2), [(a.command_id, a.attempt)], 4)
    node = core._st.render_nodes["rn0"]
    assert node.free_gpus == [g for g in ("0", "1") if (g,) != a.gpus]


# ------------------------------------------------------------ fitting work
def busy_node(node_gpus: int = 0, **task_fields: object) -> tuple[SchedulingCore, RenderNode]:
    """A core whose node ``rn0`` (8 cores, 32000 MB, 2 slots, ``node_gpus`` GPUs) runs one command
    of ``task_fields``."""
    core = SchedulingCore()
    info = rn("rn0", slots=2, os="linux")
    info.gpus = [str(g) for g in range(node_gpus)]
    core.node_joined(info, 0)
    core.submit_graph(single("t", 1, **task_fields), 1)  # type: ignore[arg-type]
    assert len(assigns(core.request_work("rn0", 2, 2))) == 1
    return core, core._st.render_nodes["rn0"]


def test_can_run_asks_only_state_and_requirements_busy_or_not() -> None:
    core, node = busy_node(maxNbCores=8)  # every core taken: busy, still able
    linux = core._st.signature({"os": "linux"}, 1, 0, 0, ())
    windows = core._st.signature({"os": "windows"}, 1, 0, 0, ())
    assert can_run(node, linux) and not can_run(node, windows)
    assert node.compat[linux.id] and not node.compat[windows.id]  # cached, as pick caches it
    for flag in ("paused", "quarantined"):
        setattr(node, flag, True)
        assert not can_run(node, linux)
        setattr(node, flag, False)
    node.online = False
    assert not can_run(node, linux)


def test_fits_signature_counts_slots_cores_and_gpus_and_what_a_gone_run_gives_back() -> None:
    core, node = busy_node(node_gpus=1, maxNbCores=6, gpus=1)
    (run,) = node.running.values()
    st = core._st
    small = st.signature({}, 2, 2, 0, ())
    assert fits_signature(node, small)  # a slot and 2 cores free
    assert not fits_signature(node, st.signature({}, 3, 3, 0, ()))  # 3 cores: not now...
    assert fits_signature(node, st.signature({}, 3, 3, 0, ()), gone=run)  # ...once the run is gone
    assert not fits_signature(node, st.signature({"os": "windows"}, 1, 1, 0, ()), gone=run)
    whole = st.signature({}, 0, 0, 0, ())  # minNbCores 0: every core free
    assert not fits_signature(node, whole) and fits_signature(node, whole, gone=run)
    gpu = st.signature({}, 1, 1, 0, (), gpus=1)
    assert not fits_signature(node, gpu) and fits_signature(node, gpu, gone=run)
    node.slots = 1  # the run's slot is the only one
    assert not fits_signature(node, small) and fits_signature(node, small, gone=run)
    node.paused = True
    assert not fits_signature(node, small, gone=run)


def test_fits_signature_reads_live_free_ram_now_and_only_reserved_ram_once_a_run_is_gone() -> None:
    core, node = busy_node(maxNbCores=1, ramUse=20000)
    (run,) = node.running.values()
    st = core._st
    need = st.signature({}, 1, 1, 15000, ())
    assert not fits_signature(node, need)  # 32000 - 20000 reserved
    assert fits_signature(node, need, gone=run)
    node.free_ram_mb = 1000  # what the node reports free includes the run's use: ignored once it is gone
    assert not fits_signature(node, st.signature({}, 1, 1, 2000, ()))  # now: live free RAM counts
    assert fits_signature(node, need, gone=run)
    assert fits_signature(node, st.signature({}, 1, 1, 0, ()))  # ramUse 0 asks for nothing

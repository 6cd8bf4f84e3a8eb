"""Render nodes as the core sees them: what a worker's HELLO makes of one."""

from __future__ import annotations

from puli_mesh.coordinator.render_nodes import RenderNode, RenderNodeInfo
from puli_mesh.protocol import HelloMessage, decode


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

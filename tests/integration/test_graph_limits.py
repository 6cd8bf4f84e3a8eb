"""The limits against a real mesh: graphs over the leader's configured limits are refused by the real
``puli-mesh`` CLI (exit 2, the limit named), a SUBMIT nested a thousand maps deep sent raw is refused
at decode, and nothing of them stops the farm: a graph still runs to DONE, and a successor replays
a journal that holds none of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgpack
import pytest

from puli_mesh.errors import MeshRequestError
from puli_mesh.limits import MAX_NESTING
from puli_mesh.protocol import PROTOCOL_VERSION, ErrorCode
from puliclient import Graph

from .conftest import Mesh, wait_for
from .test_bad_input import _raw_exchange
from .test_cli_operating import EXIT_USAGE, cli, cli_json
from .test_hostile_values import run_to_done

LIMITS = {"graph_nodes": 6, "graph_depth": 3, "graph_commands_per_task": 10, "graph_frames_per_command": 100,
          "graph_name_length": 64, "graph_string_length": 200, "graph_value_items": 50}


def limited_agent(mesh: Mesh, name: str, tmp_path: Path) -> None:
    config = tmp_path / f"{name}.toml"
    config.write_text("".join(f"{key} = {value}\n" for key, value in LIMITS.items()))
    mesh.start_agent(name, extra=["--config", str(config)])


def nested_meta(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = {"k": value}
    return value


CLI_CASES = [
    (["exec", "true", "--end", "20", "--name", "many"], "20 commands, above the limit of 10", "commands_per_task"),
    (["exec", "true", "--end", "1000", "--packet-size", "500", "--name", "long"],
     "500 frames (1 to 500 by 1), above the limit of 100", "frames_per_command"),
    (["exec", "true", "--name", "n" * 100], "'name' has 100 characters, above the limit of 64", "name_length"),
    (["exec", "echo " + "x" * 300, "--name", "wordy"], "holds a string of 305 characters, above the limit of 200",
     "string_length"),
]
"""``puli-mesh`` arguments, what the refusal says, and the limit it names."""


def test_graphs_over_each_limit_are_refused_and_the_farm_goes_on(mesh: Mesh, tmp_path: Path) -> None:
    limited_agent(mesh, "rn1", tmp_path)
    limited_agent(mesh, "rn2", tmp_path)
    mesh.wait_ready(2)

    # Through the CLI: the client's own check (the defaults) lets them through, the leader's
    # configured limits do not: invalid, exit 2, the limit and its setting named.
    for args, message, field in CLI_CASES:
        refused = cli(mesh, *args)
        assert refused.returncode == EXIT_USAGE, (args, refused.stdout, refused.stderr)
        text = " ".join(refused.stderr.split())  # rich wraps long lines
        assert message in text and f"graph_{field}" in text and "Traceback" not in text, text

    # Shapes the CLI does not build, sent by the wire client: nodes, depth, items of a value.
    too_many = Graph("wide")
    for i in range(6):
        too_many.addNewTask(f"t{i}", {"cmd": "true"})
    too_deep = Graph("deep")
    too_deep.addNewTaskGroup("g1").addNewTaskGroup("g2").addNewTask("t", {"cmd": "true"})
    too_big = Graph("big")
    too_big.addNewTask("t", {"cmd": "true", "values": list(range(60))})
    for graph, message in ((too_many, "7 nodes (tasks and groups), above the limit of 6"),
                           (too_deep, "nests 4 levels deep here, above the limit of 3"),
                           (too_big, "arguments holds more than 50 items")):
        with pytest.raises(MeshRequestError) as refused_graph:
            mesh.zk_client().request("SUBMIT", graph=graph.prepareGraphRepresentation())
        assert refused_graph.value.code == ErrorCode.INVALID and message in str(refused_graph.value)

    # A SUBMIT nested a thousand maps deep (msgpack decodes 1024), sent raw: refused at decode.
    deep = msgpack.packb({"v": PROTOCOL_VERSION, "k": "SUBMIT", "rid": "deep",
                          "graph": {"name": "deep", "meta": nested_meta(1000)}})
    reply = _raw_exchange(mesh.agents[mesh.leader()].address, [deep])
    assert reply is not None and reply.code == ErrorCode.PROTOCOL
    assert f"more than {MAX_NESTING} levels deep" in reply.message

    # The farm goes on: nothing was created, a graph runs to DONE, and a successor that replays
    # the journal (which holds none of the refused graphs) serves and runs the next one.
    assert cli_json(mesh, "jobs") == []
    run_to_done(mesh, "after")
    leader = mesh.leader()
    mesh.kill9(leader)
    wait_for(lambda: (s := mesh.status()) is not None and s["leader"] != leader, 60, "a new leader")
    mesh.wait_ready(1, timeout=60)
    assert [job["name"] for job in cli_json(mesh, "jobs")] == ["after"]
    run_to_done(mesh, "after-failover")

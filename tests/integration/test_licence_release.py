"""A runner gives its licence back before it ends (Puli's ``updateLicense``), on a real mesh."""

from __future__ import annotations

from pathlib import Path

from puliclient import Graph

from .conftest import Mesh, wait_for
from .test_mesh_runs_graphs import set_cluster_licence, submit

HELPERS = Path(__file__).resolve().parent.parent / "unit" / "client"  # clienthelpers.ReleasingRunner


def test_an_early_release_lets_the_next_command_take_the_only_token(mesh: Mesh, tmp_path: Path) -> None:
    mesh.start_agent("r1", slots=2)
    mesh.wait_ready(1)
    set_cluster_licence(mesh, "early", 1)
    gate = tmp_path / "gate"
    graph = Graph("release")
    graph.addNewTask("hold", {"licence": "early", "gate": str(gate), "start": 1, "end": 2, "packetSize": 1},
                     runner="clienthelpers.ReleasingRunner", lic="early", maxNbCores=1,
                     environment={"PYTHONPATH": str(HELPERS)})
    graph_id = submit(mesh, graph)
    client = mesh.client_any()

    def both_running() -> bool:
        cmds = client.request("QUERY", what="commands", args={"id": graph_id})["items"]
        return len(cmds) == 2 and all(c["status_name"] == "RUNNING" for c in cmds)

    # One token, two commands running at once: the first gave its token back while it waits.
    wait_for(both_running, 30, "both commands to run with a single licence token")
    # Each gave its token back: none is held although both still run.
    wait_for(lambda: next(x for x in client.request("QUERY", what="licences", args={})
                          if x["name"] == "early")["used"] == 0, 10, "both tokens given back")
    gate.touch()
    tree = mesh.wait_graph(graph_id, {3}, timeout=30)
    assert tree["status_name"] == "DONE"
    lic = next(x for x in client.request("QUERY", what="licences", args={}) if x["name"] == "early")
    assert lic["used"] == 0

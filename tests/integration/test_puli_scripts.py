"""Puli-era scripts run unchanged, as subprocesses with the farm's environment, against a real mesh.

The scripts are in ``examples/puli``: Puli's two request-edit examples (``QueueHandler``,
``RenderNodeHandler``), a custom runner importing ``from puliclient import RunnerToolkit``
run by a real node, a submission script catching ``ImportError`` around a runner load, and
a wrangler's script walking ``puliclient.model`` objects and pausing a job through them.
The queries travel over the mesh protocol here; ``test_puli_http`` runs them over HTTP.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from puliclient import Graph
from puliclient.farm import Farm
from puliclient.status import NodeStatus

from .conftest import Mesh, wait_for

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "examples" / "puli"


def run_script(mesh: Mesh, name: str, *args: str, node: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``examples/puli/NAME`` as a user would: the farm's environment (``PULI_NODE``: the
    agent rn1, or ``node``), nothing else."""
    env = {**os.environ, "PULI_NODE": node or mesh.agents["rn1"].address,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, str(SCRIPTS / name), *args], capture_output=True, text=True,
                          timeout=120, env=env, cwd=str(SCRIPTS))


def submit(farm: Farm, name: str, user: str, frames: int, tags: dict[str, str] | None = None) -> int:
    graph = Graph(name, user=user, tags=tags or {})
    graph.addNewTask("render", {"cmd": "echo frame %%MI_FRAME%%", "start": 1, "end": frames, "packetSize": 1})
    graph.addNewTask("notify", {"cmd": "echo done"})
    return Farm.graph_id(farm.submit(graph)[0])


def started_mesh(mesh: Mesh) -> Farm:
    mesh.start_agent("rn1")
    mesh.wait_ready(1)
    return Farm(node=mesh.agents["rn1"].address)


def test_pulis_request_examples_find_jobs_and_render_nodes(mesh: Mesh) -> None:
    farm = started_mesh(mesh)
    farm.pause_node("rn1")  # the jobs stay READY while the scripts look at them
    lighting = submit(farm, "test_lighting", "jsa", 2, {"prod": "prod_name"})
    comp = submit(farm, "comp", "ana", 1, {"prod": "test"})

    jobs = run_script(mesh, "request_jobs.py")
    assert jobs.returncode == 0, jobs.stderr
    lines = jobs.stdout.splitlines()
    assert lines[:2] == [f"id:{lighting} name:test_lighting user:jsa", f"id:{comp} name:comp user:ana"]
    assert "[Job(test_lighting)]" in lines[5]  # getJobsByName(['.*test'], False)
    assert lines[6] == "[Job(test_lighting)]"  # getJobsByUser(['jsa'], False)[0]
    assert "[Job(comp)]" in lines[9]  # getJobsByTags({'nbFrames': [10], 'prod': ['test']}): any tag

    nodes = run_script(mesh, "request_rendernodes.py")
    assert nodes.returncode == 0, nodes.stderr
    assert nodes.stdout.splitlines()[:2] == ["All render nodes", nodes.stdout.splitlines()[1]]
    assert nodes.stdout.splitlines()[1].startswith("id:rn1 name:rn1 hostname:")
    assert nodes.stdout.rstrip().endswith("Query render nodes:")  # no vfxpc64 here


def test_a_custom_runner_importing_runnertoolkit_from_puliclient_runs_on_a_node(mesh: Mesh, tmp_path: Path) -> None:
    started_mesh(mesh)
    target = tmp_path / "toolkit.txt"
    result = run_script(mesh, "toolkit_job.py", str(target), "--wait")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "graph ended with status DONE" in result.stdout
    assert target.read_text() == "toolkit\n"


def test_a_script_catching_importerror_around_a_runner_load_falls_back(mesh: Mesh) -> None:
    started_mesh(mesh)
    result = run_script(mesh, "optional_runner.py")
    assert result.returncode == 0, result.stderr
    assert "no Maya runner here (JobTypeImportError: " in result.stdout
    assert result.stdout.splitlines()[-1] == "runner: puliclient.jobs.DefaultCommandRunner"


def test_a_wrangler_walks_the_model_and_pauses_a_job_through_it(mesh: Mesh) -> None:
    farm = started_mesh(mesh)
    farm.pause_node("rn1")
    small = submit(farm, "shot010", "ana", 1)
    big = submit(farm, "shot020", "ana", 3)
    submit(farm, "other", "bob", 5)

    result = run_script(mesh, "wrangler.py", "ana")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout.splitlines()
    assert out[0] == "2 job(s) of ana among 3"
    assert f"job {small} shot010 [READY] tasks=2 commands=2" in out
    assert f"job {big} shot020 [READY] tasks=2 commands=4" in out
    assert "    render_1_1 I" in out and "    notify I" in out and out[-1] == "paused shot020"
    assert farm.graph(big, children=False)["status"] == NodeStatus.PAUSED
    assert farm.graph(small, children=False)["status"] == NodeStatus.READY

    # Server(host, port): the agent's client port, given on the command line, wins over the
    # environment (which names no agent here).
    host, port = mesh.agents["rn1"].address.split(":")
    again = run_script(mesh, "wrangler.py", "ana", host, port, node="127.0.0.1:1")
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"job {big} shot020 [PAUSED] tasks=2 commands=4" in again.stdout.splitlines()
    farm.resume(big)
    farm.resume_node("rn1")
    wait_for(lambda: farm.graph(big, children=False)["status"] == NodeStatus.DONE, 60, "the resumed job to end")

"""The operating commands of ``puli-mesh`` against a real mesh, run as a user would: a subprocess.

What a wrangler does in a day: run frames (``exec``), list and inspect jobs, read a
failed frame's log, restart failures, change priorities, drain a node, read stats.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .conftest import Mesh, wait_for

EXIT_FAILED, EXIT_USAGE = 1, 2


def cli(mesh: Mesh, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    address = next(p.address for p in mesh.agents.values() if p.alive())
    env = {k: v for k, v in os.environ.items() if k not in ("PULI_NODE", "PULI_ZK")}
    env["COLUMNS"] = "160"
    return subprocess.run([sys.executable, "-m", "puli_mesh", *args, "--node", address],
                          capture_output=True, text=True, timeout=timeout, env=env)


def cli_json(mesh: Mesh, *args: str) -> Any:
    result = cli(mesh, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_exec_jobs_show_failed_frame_log_restart_set_and_errors(mesh: Mesh, tmp_path: Path) -> None:
    mesh.start_agent("rn1", slots=2)
    mesh.start_agent("rn2", slots=2)
    mesh.wait_ready(2)

    # puliexec: 4 frames, frame 3 fails the first time only (a marker file makes the retry pass).
    marker = tmp_path / "fixed"
    cmd = (f'echo "rendering frame %%MI_FRAME%%"; if [ %%MI_FRAME%% -eq 3 ] && [ ! -e {marker} ]; '
           'then echo "frame 3: texture missing" >&2; exit 4; fi')
    run = cli(mesh, "exec", cmd, "--start", "1", "--end", "4", "--name", "ops-shot", "--wait")
    assert run.returncode == EXIT_FAILED, run.stdout + run.stderr  # the graph ended in ERROR
    assert "ERROR" in run.stdout

    (job,) = cli_json(mesh, "jobs", "--name", "ops-shot*")
    assert job["status_name"] == "ERROR" and job["command_counts"] == {"DONE": 3, "ERROR": 1}
    graph_id = job["id"]
    assert cli_json(mesh, "jobs", "--status", "DONE", "--name", "ops-shot*") == []
    table = cli(mesh, "jobs")
    assert table.returncode == 0 and "ops-shot" in table.stdout and "1 err 3 done" in table.stdout

    tree = cli_json(mesh, "show", str(graph_id))
    assert tree["id"] == graph_id and tree["status_name"] == "ERROR"
    shown = cli(mesh, "show", str(graph_id))
    assert shown.returncode == 0 and "texture missing" in shown.stdout

    (failed,) = cli_json(mesh, "commands", "--graph", str(graph_id), "--status", "ERROR")
    assert failed["description"].endswith("_3_3") and failed["last_node"] in ("rn1", "rn2")
    assert len(cli_json(mesh, "commands", "--graph", str(graph_id))) == 4

    # The failed frame's log, from the node that ran it, after the command ended.
    log = cli(mesh, "logs", str(failed["id"]))
    assert log.returncode == 0, log.stderr
    assert "rendering frame 3" in log.stdout and "texture missing" in log.stdout
    tail = cli(mesh, "logs", str(failed["id"]), "--tail", "1")
    assert tail.returncode == 0 and tail.stdout.strip().splitlines() == [tail.stdout.strip().splitlines()[-1]]
    assert len(tail.stdout.strip().splitlines()) == 1

    # Fix the input, restart only the failure: the job ends DONE, the good frames did not run again.
    marker.touch()
    restart = cli(mesh, "restart", "--errors-only", str(graph_id))
    assert restart.returncode == 0, restart.stderr
    done = mesh.wait_graph(graph_id, {3})
    assert done["status_name"] == "DONE"
    runs = [c for c in cli_json(mesh, "commands", "--graph", str(graph_id))]
    assert sorted(c["attempts"] for c in runs) == [1, 1, 1, 1]  # attempts reset by the restart, ran once more

    # Edits on the job, then filters that see them.
    assert cli(mesh, "set", str(graph_id), "priority=10", "maxRN=4", "tag.prod=film").returncode == 0
    (edited,) = cli_json(mesh, "jobs", "--tag", "prod=film")
    assert edited["id"] == graph_id and edited["dispatchKey"] == 10 and edited["maxRN"] == 4

    # Errors: exit 1 and a message naming what was wrong; usage errors exit 2.
    for args in (["show", "99999"], ["pause", "99999"], ["logs", "99999"], ["restart", "--command", "99999"]):
        bad = cli(mesh, *args)
        assert bad.returncode == EXIT_FAILED, (args, bad.stdout, bad.stderr)
        assert "99999" in bad.stderr and "not_found" in bad.stderr
    illegal = cli(mesh, "resume", str(graph_id))
    assert illegal.returncode == EXIT_FAILED and "not paused" in illegal.stderr and "illegal" in illegal.stderr
    assert cli(mesh, "set", str(graph_id), "colour=blue").returncode == EXIT_USAGE
    assert cli(mesh, "pause").returncode == EXIT_USAGE  # no id, no filter: refuses to pause the farm
    assert cli(mesh, "jobs", "--status", "FINE").returncode == EXIT_USAGE

    # Remove the finished job by hand.
    assert cli(mesh, "archive", str(graph_id)).returncode == 0
    assert cli(mesh, "show", str(graph_id)).returncode == EXIT_FAILED


def test_submit_pause_resume_cancel_nodes_drain_pools_and_stats(mesh: Mesh, tmp_path: Path) -> None:
    mesh.start_agent("n1")
    mesh.start_agent("n2", pools="default,gpu")
    mesh.wait_ready(2)

    script = tmp_path / "submit_me.py"
    script.write_text(
        "from puliclient import Graph\n"
        "g = Graph('scripted', poolName='gpu')\n"
        "g.addNewTask('long', arguments={'cmd': 'sleep 30', 'start': 1, 'end': 2, 'packetSize': 1})\n"
        "print(g.submit()[0])\n")
    sub = cli(mesh, "submit", str(script))
    assert sub.returncode == 0, sub.stderr
    graph_id = int(sub.stdout.strip().rsplit("/", 1)[1])

    # pause: nothing new starts, the running command goes on; resume; cancel kills.
    wait_for(lambda: cli_json(mesh, "jobs", "--name", "scripted")[0]["status_name"] == "RUNNING", 20, "running")
    assert cli(mesh, "pause", "--name", "scripted*").returncode == 0  # bulk edit by constraint
    (paused,) = cli_json(mesh, "jobs", "--status", "PAUSED")
    assert paused["id"] == graph_id
    assert cli(mesh, "resume", str(graph_id)).returncode == 0
    assert cli(mesh, "cancel", str(graph_id)).returncode == 0
    assert mesh.wait_graph(graph_id, {5})["status_name"] == "CANCELED"

    # nodes: list, drain (state draining, nothing new), resume.
    nodes = {n["name"]: n for n in cli_json(mesh, "nodes")}
    assert set(nodes) == {"n1", "n2"} and nodes["n2"]["pools"] == ["default", "gpu"]
    assert [n["name"] for n in cli_json(mesh, "nodes", "--pool", "gpu")] == ["n2"]
    assert cli(mesh, "nodes", "drain", "n2").returncode == 0
    wait_for(lambda: {n["name"]: n["state"] for n in cli_json(mesh, "nodes")}["n2"] == "draining", 10, "draining")
    gpu_job = cli(mesh, "exec", "echo gpu", "--pool", "gpu", "--name", "gpu-only")
    assert gpu_job.returncode == 0
    gpu_id = int(gpu_job.stdout.split()[2])
    assert mesh.graph(gpu_id)["status_name"] == "READY"  # the only gpu node is draining
    assert cli(mesh, "nodes", "resume", "n2").returncode == 0
    assert mesh.wait_graph(gpu_id, {3}, timeout=20)["status_name"] == "DONE"
    assert cli(mesh, "nodes", "drain", "ghost").returncode == EXIT_FAILED

    pools = {p["name"]: p for p in cli_json(mesh, "pools")}
    assert pools["gpu"]["nodes"] == ["n2"] and gpu_id in pools["gpu"]["graphs"]

    stats = cli_json(mesh, "stats")
    now = stats["current"]
    assert now["done"] >= 1 and now["nodes_online"] == 2 and now["slots"] == 2
    assert isinstance(stats["minutes"], list)
    assert cli(mesh, "stats").returncode == 0


def test_logs_follow_streams_the_lines_of_a_running_command(mesh: Mesh, tmp_path: Path) -> None:
    mesh.start_agent("solo")
    mesh.wait_ready(1)
    # The command holds after its first line until the test has seen that line while it runs
    # (a CLI that starts slowly on a loaded machine must not find it already ended).
    go_on = tmp_path / "go-on"
    talk = (f"echo line 1; while [ ! -e {go_on} ]; do sleep 0.05; done; "
            "for i in 2 3 4 5 6; do echo line $i; sleep 0.2; done")
    sub = cli(mesh, "exec", talk, "--name", "talker")
    graph_id = int(sub.stdout.split()[2])
    command_id = wait_for(lambda: [c["id"] for c in mesh.client_any().request(
        "QUERY", what="commands", args={"id": graph_id, "status": ["RUNNING"]})["items"]], 20,
        "the command to run")[0]

    address = mesh.agents["solo"].address
    follow = subprocess.Popen([sys.executable, "-m", "puli_mesh", "logs", str(command_id), "--follow",
                               "--node", address], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert follow.stdout is not None
        first = follow.stdout.readline()
        while first.startswith("=== "):  # the agent's header of each attempt
            first = follow.stdout.readline()
        status_at_first_line = mesh.client_any().request("QUERY", what="command", args={"id": command_id})
        assert first.startswith("line ")
        assert status_at_first_line["status_name"] == "RUNNING"  # streamed while it runs
        go_on.touch()
        # Read through the text wrapper: readline() may have buffered the next lines already, and
        # communicate() would read the pipe beneath it and lose them.
        rest = follow.stdout.read()
        follow.wait(timeout=30)
        assert follow.stderr is not None
        err = follow.stderr.read()
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.wait()
    assert follow.returncode == 0, err
    lines = [first.strip(), *(line for line in rest.strip().splitlines() if not line.startswith("=== "))]
    assert lines == [f"line {i}" for i in range(1, 7)]
    assert mesh.graph(graph_id)["status_name"] == "DONE"


def test_top_shows_the_mesh_in_an_80_column_terminal_and_quits_on_q(mesh: Mesh, tmp_path: Path) -> None:
    mesh.start_agent("topa", slots=2)
    mesh.wait_ready(1)
    sub = cli(mesh, "exec", "sleep 20", "--name", "watched-job")
    graph_id = int(sub.stdout.split()[2])
    session = f"top-{os.getpid()}-{int(time.time())}"
    address = mesh.agents["topa"].address
    command = f"{sys.executable} -m puli_mesh top --node {address} --interval 0.5"
    # A tmux server of its own: a shared one runs the command with the environment of whoever
    # started it (another test's PULI_KEY, under pytest-xdist).
    tmux = ["tmux", "-L", session]
    subprocess.run([*tmux, "new-session", "-d", "-s", session, "-x", "80", "-y", "30", command], check=True)

    def screen() -> str:
        out = subprocess.run([*tmux, "capture-pane", "-p", "-t", session], capture_output=True, text=True)
        return out.stdout

    def alive() -> bool:
        return subprocess.run([*tmux, "has-session", "-t", session], capture_output=True).returncode == 0

    try:
        def showing() -> str | None:
            text = screen()
            return text if "watched-job" in text and "topa" in text else None

        text = wait_for(showing, 30, "top to show the node and the job")
        assert "leader topa" in text and "licences" in text and "running" in text
        assert all(len(line) <= 80 for line in text.splitlines())
        subprocess.run([*tmux, "send-keys", "-t", session, "q"], check=True)
        wait_for(lambda: not alive(), 10, "top to quit on q")
    finally:
        if alive():
            subprocess.run([*tmux, "kill-server"], check=False)
        mesh.client_any().request("EDIT", action="cancel", args={"id": graph_id})


def test_names_rich_would_read_as_markup_are_listed_as_given(mesh: Mesh, tmp_path: Path) -> None:
    # A job named '[/]' once made `puli-mesh jobs` fail for everyone (rich read it as a closing tag).
    mesh.start_agent("[red]rn")
    mesh.wait_ready(1)
    script = tmp_path / "hostile.py"
    script.write_text(
        "from puliclient import Graph\n"
        "g = Graph('[/]')\n"
        "g.addNewTask('[bold]t', arguments={'cmd': 'echo \"[link=file:///etc]y\"', 'start': 1, 'end': 1})\n"
        "print(g.submit()[0])\n")
    sub = cli(mesh, "submit", str(script))
    assert sub.returncode == 0, sub.stderr
    graph_id = int(sub.stdout.strip().rsplit("/", 1)[1])
    assert mesh.wait_graph(graph_id, {3})["status_name"] == "DONE"

    def shown(*args: str) -> list[list[str]]:
        """The lines of a listing split into its cells (two spaces apart or more, tree guides dropped)."""
        result = cli(mesh, *args)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return [re.split(r" {2,}", line.lstrip("│└├─ ").strip()) for line in result.stdout.splitlines()]

    assert [str(graph_id), "[/]"] in [row[:2] for row in shown("jobs")]
    tree = shown("show", str(graph_id))
    assert tree[0][:4] == [f"{graph_id} [/]", "DONE", "100%", "1 done"]
    (task,) = [row for row in tree if row[0].endswith(" [bold]t")]
    assert task[1:] == ["DONE", "100%", "1 done"]
    (command_label,) = [row for row in tree if row[0].startswith("command ")]
    assert command_label[0].endswith(" [bold]t_1_1") and "on [red]rn" in command_label
    (command,) = [row for row in shown("commands", "--graph", str(graph_id)) if row[0] != "id"]
    assert command[1:3] == [str(graph_id), "[bold]t"] and "[red]rn" in command
    assert ["[red]rn *", "idle"] in [row[:2] for row in shown("nodes")]

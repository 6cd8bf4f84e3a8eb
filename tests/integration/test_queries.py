"""Puli's queries on a real mesh, run as a wrangler would: pul_query's attributes, sort, CSV and
time ranges (``jobs``), pul_rn's constraints (``nodes``), /stats by status, puliexec's options."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

from .conftest import Mesh
from .test_cli_operating import cli, cli_json


def puli_date(at: float) -> str:
    """pul_query's constraint format."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))


def test_jobs_nodes_stats_and_exec_answer_as_pul_query_pul_rn_and_puliexec(mesh: Mesh, tmp_path: Path) -> None:
    fast = tmp_path / "fast.toml"
    fast.write_text("performance = 3.0\n")
    mesh.start_agent("rn1", slots=2, extra=["--config", str(fast)])
    mesh.start_agent("rn2", slots=2)
    mesh.wait_ready(2)

    before = time.time() - 1
    for name in ("q-alpha", "q-beta"):
        run = cli(mesh, "exec", "true", "--name", name, "--prod", "film", "--min-ram", "1", "--wait")
        assert run.returncode == 0, run.stdout + run.stderr

    # pul_query: -a picks the columns (Puli's names too), CSV with a header row, sorted at will.
    listed = cli(mesh, "jobs", "--started-after", puli_date(before), "-a", "name", "-a", "prod",
                 "-a", "status_name", "-o", "name", "-r")
    assert listed.returncode == 0, listed.stderr
    assert list(csv.reader(io.StringIO(listed.stdout), delimiter=";")) == [
        ["name", "prod", "status_name"], ["q-beta", "film", "DONE"], ["q-alpha", "film", "DONE"]]
    assert cli_json(mesh, "jobs", "--ended-before", puli_date(before)) == []  # the leader filters
    assert [j["name"] for j in cli_json(mesh, "jobs", "--created-after", "1h", "--ended-after", "1h",
                                        "--sort", "creationTime")] == ["q-alpha", "q-beta"]
    wrong = cli(mesh, "jobs", "-a", "colour")
    assert wrong.returncode == 2 and "unknown field 'colour'; known: id, name" in wrong.stdout + wrong.stderr

    # pul_rn: +N above, -N below; speed is the node's performance index.
    assert [n["name"] for n in cli_json(mesh, "nodes", "--speed=+2")] == ["rn1"]
    assert [n["name"] for n in cli_json(mesh, "nodes", "--speed=-2")] == ["rn2"]
    assert cli_json(mesh, "nodes", "--cores=-1") == []
    by_speed = cli(mesh, "nodes", "--csv", "-a", "name", "-a", "speed", "-o", "speed", "-r")
    assert by_speed.stdout.splitlines() == ["name;speed", "rn1;3.0", "rn2;1.0"], by_speed.stderr

    # /stats: jobs and render nodes by status.
    stats = cli_json(mesh, "stats")
    assert stats["jobs_by_status"] == {"DONE": 2, "TOTAL": 2}
    assert stats["render_nodes_by_status"]["TOTAL"] == 2

    # puliexec --time-delay: the task's timer holds it; --minRam is its ramUse.
    delayed = cli(mesh, "exec", "true", "--name", "q-later", "--time-delay", "1h", "--min-ram", "64")
    assert delayed.returncode == 0, delayed.stderr
    (job,) = cli_json(mesh, "jobs", "--name", "q-later")
    ((task,),) = [group["children"] for group in cli_json(mesh, "show", str(job["id"]))["children"]]
    assert task["timer"] > time.time() + 3000 and task["ramUse"] == 64, task
    # Idle nodes ask for work all the time: an hour-away timer keeps its command queued.
    time.sleep(2)
    assert [c["status_name"] for c in cli_json(mesh, "commands", "--graph", str(job["id"]))] == ["READY"]

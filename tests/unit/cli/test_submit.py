"""``puli-mesh exec``: puliexec's options reach the graph; ``--local`` runs it here, no mesh."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from puli_mesh.cli import app, submit
from puli_mesh.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE


def test_exec_options_become_the_tasks_timer_ram_user_and_prod_tag() -> None:
    graph = submit.exec_graph("render %%MI_FRAME%%", 1, 4, 2, "gpu", "shot", 3, 2, "nuke", None, 1000.0, 2048,
                              "ana", "film")
    data = graph.prepareGraphRepresentation()
    group, task = data["tasks"]
    assert (data["user"], data["poolName"], data["maxRN"], group["tags"]) == ("ana", "gpu", 2, {"prod": "film"})
    assert (task["timer"], task["ramUse"], task["dispatchKey"], task["lic"]) == (1000.0, 2048, 3, "nuke")
    assert len(task["commands"]) == 2
    plain = submit.exec_graph("true", 1, 1, 1, "default", None, 0, -1, "", None, None, 0, None, None)
    assert plain.prepareGraphRepresentation()["tasks"][1]["timer"] is None
    assert "prod" not in plain.prepareGraphRepresentation()["tasks"][0]["tags"]



def test_exec_gpus_book_that_many_gpus_per_command() -> None:
    graph = submit.exec_graph("render", 1, 1, 1, "gpu", None, 0, -1, "", None, None, 0, None, None, gpus=2)
    assert graph.prepareGraphRepresentation()["tasks"][1]["gpus"] == 2


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in ("PULI_NODE", "PULI_ZK", "PULI_CLUSTER"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def test_exec_local_runs_every_frame_here_without_a_mesh(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "frames"
    result = runner.invoke(app, ["exec", f"echo %%MI_FRAME%% >> {out}", "--start", "1", "--end", "3", "--local",
                                 "--time-delay", "1h", "--prod", "film"])
    assert result.exit_code == EXIT_OK, result.output
    assert out.read_text().split() == ["1", "2", "3"]


def test_exec_local_exits_1_when_the_command_fails(runner: CliRunner) -> None:
    result = runner.invoke(app, ["exec", "exit 3", "--local"])
    assert result.exit_code == EXIT_FAILED
    assert "ERROR" in result.output


def test_exec_refuses_a_delay_it_cannot_read_before_any_mesh(runner: CliRunner) -> None:
    result = runner.invoke(app, ["exec", "true", "--time-delay", "soon", "--node", "127.0.0.1:1"])
    assert result.exit_code == EXIT_USAGE
    assert "--time-delay 'soon'" in result.output


def test_exec_idle_timeout_becomes_the_tasks_and_a_bad_one_is_refused(runner: CliRunner) -> None:
    graph = submit.exec_graph("true", 1, 1, 1, "default", None, 0, -1, "", None, None, 0, None, None,
                              idle_timeout=600.0)
    assert graph.prepareGraphRepresentation()["tasks"][1]["idleTimeout"] == 600.0
    result = runner.invoke(app, ["exec", "true", "--idle-timeout", "soon", "--local"])
    assert result.exit_code == EXIT_USAGE, result.output
    assert "--idle-timeout='soon'" in result.output

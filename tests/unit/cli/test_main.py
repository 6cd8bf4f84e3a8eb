"""The ``puli-mesh`` app as a whole, run in-process: its commands, and usage errors caught before any I/O."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from puli_mesh.cli import app
from puli_mesh.cli.common import EXIT_USAGE
from puli_mesh.node.killfile import EXIT_KILLFILE_RESTART, EXIT_KILLFILE_STOP

COMMANDS = ["agent", "status", "step-down", "up", "version", "jobs", "show", "commands", "pause", "resume",
            "cancel", "restart", "done", "set", "archive", "logs", "exec", "submit", "stats", "top", "licences",
            "pools", "nodes", "keys"]
NOWHERE = "127.0.0.1:1"  # nothing listens: a test that reached the network would exit 3, not 2


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in ("PULI_NODE", "PULI_ZK", "PULI_CLUSTER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    return CliRunner()


def test_help_lists_every_command_in_order(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    listed = [line.split()[1] for line in result.output.splitlines()
              if line.startswith("│ ") and len(line.split()) > 2 and line.split()[1] in COMMANDS]
    assert listed == COMMANDS


@pytest.mark.parametrize(("args", "message"), [
    (["jobs"], "say where the mesh is"),
    (["pause", "--node", NOWHERE], "name the jobs"),
    (["pause", "--command", "--node", NOWHERE], "--command needs command ids"),
    (["set", "7", "colour=blue", "--node", NOWHERE], "cannot be set"),
    (["set", "7", "maxRN=many", "--node", NOWHERE], "whole number"),
    (["jobs", "--tag", "prod", "--node", NOWHERE], "write KEY=VALUE"),
    (["cancel", "--since", "last week", "--node", NOWHERE], "give a duration"),
    (["jobs", "--started-after", "soon", "--node", NOWHERE], "--started-after 'soon': give a duration"),
    (["jobs", "-o", "colour", "--node", NOWHERE], "unknown field 'colour'; known: id, name"),
    (["jobs", "-a", "id", "-a", "colour", "--node", NOWHERE], "unknown field 'colour'"),
    (["nodes", "--sort", "tags:prod", "--node", NOWHERE], "unknown field 'tags:prod'; known: name, state"),
    (["nodes", "--csv", "-a", "ramSize", "-a", "gpu", "--node", NOWHERE], "unknown field 'gpu'"),
    (["exec", "true", "--start", "5", "--end", "1", "--node", NOWHERE], "--start <= --end"),
    (["licences", "set", "mtoa", "3"], "say where the mesh is"),
    (["pools", "add", "gpu"], "say where the mesh is"),
    (["submit", "no/such/script.py", "--node", NOWHERE], "is not a file"),
    (["up", "--zk-servers", "2"], "give 1, 3 or 5"),
])
def test_bad_usage_exits_2_with_a_message(runner: CliRunner, args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == EXIT_USAGE, result.output
    assert message in result.output


def test_version(runner: CliRunner) -> None:
    from puli_mesh import __version__

    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0 and result.output.strip() == __version__


@pytest.mark.parametrize(("args", "message"), [
    (["--zk-tls-cert", "/etc/zk/me.pem", "--zk-tls-key", "/etc/zk/me.key"], "need zk_tls_ca"),
    (["--zk-sasl-mechanism", "PLAIN"], "DIGEST-MD5 or GSSAPI"),
    (["--zk-sasl-mechanism", "DIGEST-MD5", "--zk-sasl-user", "rn"], "zk_sasl_password_file"),
])
def test_the_agents_zookeeper_tls_and_sasl_flags_reach_the_settings(runner: CliRunner, args: list[str],
                                                                     message: str) -> None:
    result = runner.invoke(app, ["agent", "--zk", NOWHERE, "--insecure", *args])
    assert result.exit_code == EXIT_USAGE
    assert message in result.output


@pytest.mark.parametrize(("args", "message"), [
    (["--nimby", "idle", "--nimby-window", "after dinner"], "is not HH:MM-HH:MM"),
    (["--nimby", "idle", "--nimby-idle-minutes", "-5"], "nimby_idle_minutes must not be negative"),
    (["--nimby", "killfile"], "needs the killfile setting"),
])
def test_the_agents_nimby_flags_reach_the_settings(runner: CliRunner, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["agent", "--zk", NOWHERE, "--insecure", *args])
    assert result.exit_code == EXIT_USAGE
    assert message in result.output


@pytest.mark.parametrize(("args", "message"), [
    ([], "no keys: give the agents' keys directory"),
    (["--keys", "/nowhere/keys"], "cannot read"),
    (["--keys", "/nowhere/keys", "--insecure"], "not both"),
])
def test_an_agent_without_usable_keys_refuses_to_start_unless_told_insecure(
        runner: CliRunner, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str) -> None:
    monkeypatch.delenv("PULI_KEYS", raising=False)
    monkeypatch.delenv("PULI_INSECURE", raising=False)
    result = runner.invoke(app, ["agent", "--zk", NOWHERE, *args])
    assert result.exit_code == EXIT_USAGE
    assert message in result.output


@pytest.mark.parametrize(("code", "reexecuted"), [(EXIT_KILLFILE_RESTART, True), (EXIT_KILLFILE_STOP, False)])
def test_an_agent_whose_killfile_says_restart_runs_its_command_line_again(
        runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, code: int, reexecuted: bool) -> None:
    from puli_mesh.cli import main
    from puli_mesh.node import agent

    seen: dict[str, Any] = {}

    class Stub:
        def __init__(self, settings: Any) -> None:
            seen["killfile"] = settings.killfile

        def run(self) -> int:
            return code

    execs: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(agent, "Agent", Stub)
    monkeypatch.setattr(main.os, "execv", lambda path, argv: execs.append((path, list(argv))))
    result = runner.invoke(app, ["agent", "--zk", NOWHERE, "--insecure", "--killfile", str(tmp_path / "kf")])
    assert seen["killfile"] == str(tmp_path / "kf")
    assert execs == ([(sys.executable, sys.orig_argv)] if reexecuted else [])
    assert result.exit_code == code

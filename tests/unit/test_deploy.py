"""The files shipped in ``deploy/`` agree with the code they configure.

The example settings load as the agent loads them, the unit starts a real subcommand with
options the agent has and stops it after its grace period, and the ZooKeeper ensemble's
settings admit the agents' session timeout and the journal's largest write.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from configparser import ConfigParser
from pathlib import Path

import typer

from puli_mesh.cli.main import app
from puli_mesh.config import Settings, load_settings
from puli_mesh.coordinator.journal import MAX_PART_BYTES
from puli_mesh.node.agent import SHUTDOWN_WAIT_S
from puli_mesh.node.execution import DEFAULT_KILL_GRACE_S, SETTLE_AFTER_SIGKILL_S

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SETTINGS = {name for name in Settings.__dataclass_fields__}
JUTE_FRAMING_BYTES = 4096
"""A transaction's framing around a journal part: the epoch check, the path, the ACL, the
part's msgpack envelope (a few hundred bytes; generous)."""
COMMENTED_SETTING = re.compile(r"^# ([a-z_]+) = ")


def _toml() -> dict[str, object]:
    return tomllib.loads((DEPLOY / "agent.toml").read_text())


def _unit() -> ConfigParser:
    parser = ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    parser.read_string((DEPLOY / "puli-mesh-agent.service").read_text())
    return parser


def _zoo() -> dict[str, str]:
    lines = (DEPLOY / "zoo.cfg").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))


def _seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+)(s|min)?", value.strip())
    assert match, f"not a plain systemd time span: {value!r}"
    return float(match.group(1)) * (60 if match.group(2) == "min" else 1)


def test_example_settings_load_as_the_agent_loads_them() -> None:
    settings = load_settings(DEPLOY / "agent.toml", environ={})  # validated; the keys are not read
    assert settings.keys and not settings.insecure  # a farm runs secured
    assert not settings.run_as_job_user  # else it validates only as root: the unit says how


def test_every_key_of_the_example_is_a_setting_even_commented_out() -> None:
    text = (DEPLOY / "agent.toml").read_text()
    commented = {m.group(1) for line in text.splitlines() if (m := COMMENTED_SETTING.match(line))}
    assert commented, "the commented-out examples (host, zk_tls_*...) were expected"
    assert set(_toml()) | commented <= SETTINGS


def test_unit_starts_a_real_subcommand_with_options_the_agent_has() -> None:
    service = _unit()["Service"]
    words = shlex.split(service["ExecStart"])
    assert Path(words[0]).name == "puli-mesh"
    assert words[1] == "agent"
    command = typer.main.get_command(app).commands[words[1]]  # type: ignore[attr-defined]  # a group
    options = {opt for param in command.params for opt in param.opts}
    given = [word for word in words[2:] if word.startswith("--")]
    assert "--config" in given
    assert set(given) <= options
    assert words[words.index("--config") + 1] == "/etc/puli-mesh/agent.toml"


def test_unit_stops_the_agent_after_its_grace_period_not_before() -> None:
    service = _unit()["Service"]
    grace = float(_toml()["grace_period"])  # type: ignore[arg-type]
    worst = grace + DEFAULT_KILL_GRACE_S + SETTLE_AFTER_SIGKILL_S + SHUTDOWN_WAIT_S
    assert _seconds(service["TimeoutStopSec"]) > worst
    assert service["KillSignal"] == "SIGTERM"
    assert service["KillMode"] == "mixed"  # the default would SIGTERM every frame with the agent
    assert service["Restart"] == "on-failure"


def test_unit_opens_enough_descriptors_for_a_leader_of_2000_nodes() -> None:
    assert int(_unit()["Service"]["LimitNOFILE"]) >= 2 * 2000


def test_ensemble_admits_the_agents_session_timeout() -> None:
    zoo = _zoo()
    timeout_ms = float(_toml()["session_timeout"]) * 1000  # type: ignore[arg-type]
    assert int(zoo["minSessionTimeout"]) <= timeout_ms <= int(zoo["maxSessionTimeout"])
    assert int(zoo["minSessionTimeout"]) >= 2 * int(zoo["tickTime"])  # ZooKeeper's own floor


def test_ensemble_accepts_the_journals_largest_write() -> None:
    assert "jute.maxbuffer" not in _zoo()  # ignored there: ZooKeeper reads it as a JVM property
    flags = (DEPLOY / "java.env").read_text()
    match = re.search(r"-Djute\.maxbuffer=(\d+)", flags)
    assert match is not None
    assert int(match.group(1)) >= MAX_PART_BYTES + JUTE_FRAMING_BYTES


def test_ensemble_answers_the_monitoring_words() -> None:
    words = set(_zoo()["4lw.commands.whitelist"].split(","))
    assert {"mntr", "srvr", "ruok"} <= words  # srvr: the test fixture's readiness probe too
    assert int(_zoo()["autopurge.purgeInterval"]) > 0

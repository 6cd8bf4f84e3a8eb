"""Settings: file < environment < flags, and clear errors for bad values."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from puli_mesh.config import load_settings
from puli_mesh.errors import ConfigError
from puli_mesh.limits import GraphLimits


def test_precedence_file_then_environment_then_flags(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text('zk = "zk1:2181"\nslots = 2\npools = ["a", "b"]\ncluster = "paris"\nsession-timeout = 4\n')
    settings = load_settings(config, environ={"PULI_SLOTS": "3", "PULI_CLUSTER": "lyon"},
                             overrides={"cluster": "nice", "port": None})
    assert settings.zk == "zk1:2181"          # file
    assert settings.pools == ["a", "b"]       # file
    assert settings.session_timeout == 4.0    # file, dashed key accepted
    assert settings.slots == 3                # environment beats file
    assert settings.cluster == "nice"         # flag beats environment
    assert settings.port == 8004              # unset flag does not hide the default


def test_pipeline_defaults_to_two_per_slot_and_can_be_turned_off() -> None:
    assert load_settings(environ={}).pipeline == 16
    assert load_settings(environ={"PULI_PIPELINE": "0"}).pipeline == 0


def test_environment_list_is_comma_separated() -> None:
    assert load_settings(environ={"PULI_POOLS": "gpu, default"}).pools == ["gpu", "default"]


def test_command_env_passthrough_is_a_list_from_the_file_or_the_environment(tmp_path: Path) -> None:
    assert load_settings(environ={}).command_env_passthrough == []
    config = tmp_path / "agent.toml"
    config.write_text('command_env_passthrough = ["RLM_LICENSE", "foundry_LICENSE"]\n')
    assert load_settings(config, environ={}).command_env_passthrough == ["RLM_LICENSE", "foundry_LICENSE"]
    assert load_settings(environ={"PULI_COMMAND_ENV_PASSTHROUGH": "RLM_LICENSE, LM_LICENSE_FILE"}
                         ).command_env_passthrough == ["RLM_LICENSE", "LM_LICENSE_FILE"]


def test_command_env_passthrough_never_hands_the_agents_puli_variables_to_commands() -> None:
    with pytest.raises(ConfigError, match="names 'PULI_KEYS': the agent's PULI_\\* variables"):
        load_settings(environ={"PULI_COMMAND_ENV_PASSTHROUGH": "RLM_LICENSE,PULI_KEYS"})


def test_run_as_job_user_needs_an_agent_running_as_root(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(environ={}).run_as_job_user is False
    if os.geteuid() == 0:  # as the suite runs here and in CI
        assert load_settings(environ={"PULI_RUN_AS_JOB_USER": "yes"}).run_as_job_user is True
        monkeypatch.setattr(os, "geteuid", lambda: 1000)  # the same agent started as an ordinary user
    with pytest.raises(ConfigError, match="run_as_job_user needs the agent to run as root .*start the agent "
                                          "as root, or turn run_as_job_user off"):
        load_settings(environ={}, overrides={"run_as_job_user": True})


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"slots": 0}, "slots must be at least 1"),
        ({"pipeline": -1}, "pipeline must not be negative"),
        ({"port": 70000}, "port 70000 is out of range"),
        ({"session_timeout": 0.5}, "below ZooKeeper's 1s minimum"),
        ({"cluster": "a/b"}, "not a valid name"),
        ({"slots": "many"}, "cannot use 'many'"),
        ({"colour": "red"}, "unknown setting 'colour'"),
        ({"performance": "nan"}, "performance must be a finite number"),
        ({"session_timeout": "nan"}, "session_timeout must be a finite number"),
        ({"performance": 0}, "performance must be positive"),
        ({"graph_depth": 0}, "graph_depth must be a positive whole number"),
        ({"graph_message_length": "-5"}, "graph_message_length must be a positive whole number"),
    ],
)
def test_bad_values_are_named(overrides: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        load_settings(environ={}, overrides=overrides)


def test_bad_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml", environ={})
    bad = tmp_path / "bad.toml"
    bad.write_text("slots = [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(bad, environ={})
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("flavour = 1\n")
    with pytest.raises(ConfigError, match="unknown setting 'flavour'"):
        load_settings(unknown, environ={})


def test_graph_limits_are_settings_with_the_limits_defaults(tmp_path: Path) -> None:
    assert load_settings(environ={}).graph_limits() == GraphLimits()
    config = tmp_path / "agent.toml"
    config.write_text("graph_depth = 8\ngraph-nodes = 500\n")
    settings = load_settings(config, environ={"PULI_GRAPH_STATS_ITEMS": "20"})
    assert settings.graph_limits() == GraphLimits(depth=8, nodes=500, stats_items=20)


def test_zookeeper_tls_and_sasl_settings_come_from_the_environment_and_flags() -> None:
    settings = load_settings(environ={"PULI_ZK_TLS_CA": "/etc/zk/ca.pem", "PULI_ZK_SASL_MECHANISM": "GSSAPI"},
                             overrides={"zk_sasl_user": "rn1@STUDIO", "zk_tls_cert": Path("/etc/zk/rn1.pem"),
                                        "zk_tls_key": Path("/etc/zk/rn1.key")})
    options = settings.zookeeper_options()
    assert (options.zk_tls_ca, options.zk_tls_cert, options.zk_tls_key) == (
        "/etc/zk/ca.pem", "/etc/zk/rn1.pem", "/etc/zk/rn1.key")
    assert (options.zk_sasl_mechanism, options.zk_sasl_user) == ("GSSAPI", "rn1@STUDIO")
    assert load_settings(environ={}).zookeeper_options().client_arguments() == {}


def test_inconsistent_zookeeper_options_are_refused_at_load() -> None:
    with pytest.raises(ConfigError, match="DIGEST-MD5 or GSSAPI"):
        load_settings(environ={"PULI_ZK_SASL_MECHANISM": "PLAIN"})


def test_http_port_defaults_to_8080_comes_from_the_environment_and_zero_turns_http_off(tmp_path: Path) -> None:
    assert load_settings(environ={}).http_port == 8080
    assert load_settings(environ={"PULI_HTTP_PORT": "9090"}).http_port == 9090
    assert load_settings(environ={}, overrides={"http_port": 0}).http_port == 0
    config = tmp_path / "agent.toml"
    config.write_text("http_port = 8181\nhttp_host = '0.0.0.0'\n")
    settings = load_settings(config, environ={})
    assert (settings.http_port, settings.http_host) == (8181, "0.0.0.0")
    for bad in ("-1", "65536"):
        with pytest.raises(ConfigError, match="http_port"):
            load_settings(environ={"PULI_HTTP_PORT": bad})


def test_the_farms_idle_timeout_defaults_to_off_and_is_bounded() -> None:
    assert load_settings(environ={}).idle_timeout == 0.0
    assert load_settings(environ={"PULI_IDLE_TIMEOUT": "900"}).idle_timeout == 900.0
    for bad in ("-1", str(30 * 24 * 3600 + 1), "nan"):
        with pytest.raises(ConfigError, match="idle_timeout"):
            load_settings(environ={"PULI_IDLE_TIMEOUT": bad})


def test_sick_host_settings_from_file_environment_and_flags(tmp_path: Path) -> None:
    defaults = load_settings(environ={})
    assert (defaults.quarantine_after, defaults.sick_after, defaults.forgive_after) == (5, 3, 1800.0)
    config = tmp_path / "agent.toml"
    config.write_text("quarantine_after = 8\nsick_after = 2\n")
    settings = load_settings(config, environ={"PULI_FORGIVE_AFTER": "600"}, overrides={"sick_after": 4})
    assert (settings.quarantine_after, settings.sick_after, settings.forgive_after) == (8, 4, 600.0)
    for bad in ({"PULI_QUARANTINE_AFTER": "0"}, {"PULI_SICK_AFTER": "0"}, {"PULI_FORGIVE_AFTER": "-1"}):
        with pytest.raises(ConfigError):
            load_settings(environ=bad)


def test_gpus_are_a_number_or_ids_and_unset_means_detected(tmp_path: Path) -> None:
    assert load_settings(environ={}).gpus is None  # detected by the agent (nvidia-smi)
    assert load_settings(environ={"PULI_GPUS": "2"}).gpus == ["0", "1"]
    assert load_settings(environ={"PULI_GPUS": "0"}).gpus == []  # none, and no detection
    assert load_settings(environ={}, overrides={"gpus": "1,3"}).gpus == ["1", "3"]
    config = tmp_path / "agent.toml"
    config.write_text('gpus = ["GPU-a", 2]\n')
    assert load_settings(config, environ={}).gpus == ["GPU-a", "2"]
    config.write_text("gpus = 3\n")
    assert load_settings(config, environ={}).gpus == ["0", "1", "2"]
    for bad in ("gpus = 1000\n", "gpus = true\n", 'gpus = ["a", "a"]\n', f'gpus = ["{"x" * 200}"]\n'):
        config.write_text(bad)
        with pytest.raises(ConfigError, match="gpus"):
            load_settings(config, environ={})

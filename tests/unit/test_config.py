"""Settings: file < environment < flags, and clear errors for bad values."""

from __future__ import annotations

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

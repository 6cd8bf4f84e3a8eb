"""``puli-mesh keys``: files made with the right modes, keys registered through the leader (a stub here)."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path
from typing import Any

import pytest
import zmq
from typer.testing import CliRunner

import puli_mesh.cli.keys as keys_cli
from puli_mesh import keys, zk_access
from puli_mesh.cli import app
from puli_mesh.cli.common import EXIT_FAILED, EXIT_USAGE
from puli_mesh.client import MeshRequestError
from puli_mesh.web.auth import read_token

CLUSTER_PUBLIC = zmq.curve_keypair()[0]


class StubLeader:
    """What ``MeshClient`` answers for the keys commands: a registry in memory."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        self.refuse: str | None = None

    def add_key(self, name: str, role: str, public_key: str) -> dict[str, Any]:
        if self.refuse:
            raise MeshRequestError("refused", self.refuse)
        self.records[name] = {"name": name, "role": str(role), "public_key": public_key, "added_at": 0.0,
                              "revoked_at": None}
        return self.records[name]

    def revoke_key(self, name: str) -> dict[str, Any]:
        if name not in self.records:
            raise MeshRequestError("not_found", f"no key is named {name!r}")
        self.records[name]["revoked_at"] = 3600.0
        return self.records[name]

    def list_keys(self) -> list[dict[str, Any]]:
        return [self.records[n] for n in sorted(self.records)]


@pytest.fixture
def leader(monkeypatch: pytest.MonkeyPatch) -> StubLeader:
    stub = StubLeader()
    monkeypatch.setattr(keys_cli, "mesh_client", lambda *_where: stub)
    return stub


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    for name in ("PULI_NODE", "PULI_ZK", "PULI_CLUSTER", "PULI_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.puli-mesh/key of the machine's user
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)
    return CliRunner()


@pytest.fixture
def admin_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> keys.KeyPair:
    pair = keys.create_key_pair(tmp_path / "mine", "root", server_key=CLUSTER_PUBLIC)
    monkeypatch.setenv("PULI_KEY", str(pair.secret_file))
    return pair


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ---------------------------------------------------------------- add
def test_add_writes_a_0600_key_file_naming_the_cluster_and_registers_its_public_half(
        runner: CliRunner, leader: StubLeader, admin_key: keys.KeyPair, tmp_path: Path) -> None:
    result = runner.invoke(app, ["keys", "add", "ana", "--role", "user", "--node", "stub"])
    assert result.exit_code == 0, result.output
    made = keys.load_client_key(tmp_path / "ana.key_secret")
    assert mode(tmp_path / "ana.key_secret") == 0o600
    assert made.server_key == CLUSTER_PUBLIC
    assert leader.records["ana"]["public_key"] == made.public_key.decode()
    assert leader.records["ana"]["role"] == "user"
    assert "registered ana (role user)" in result.output
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["ana.key_secret"]  # no public file left


def test_add_with_out_writes_that_file(runner: CliRunner, leader: StubLeader, admin_key: keys.KeyPair,
                                       tmp_path: Path) -> None:
    out = tmp_path / "given" / "wrangler.secret"
    result = runner.invoke(app, ["keys", "add", "wr", "--role", "operator", "--out", str(out), "--node", "s",
                                 "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["file"] == str(out)
    assert mode(out) == 0o600 and keys.load_client_key(out).public_key.decode() == leader.records["wr"]["public_key"]


def test_add_a_node_key_writes_an_agents_key_directory(runner: CliRunner, leader: StubLeader,
                                                       tmp_path: Path) -> None:
    result = runner.invoke(app, ["keys", "add", "rn12", "--role", "node", "--out", "rn12-keys", "--node", "s"])
    assert result.exit_code == 0, result.output
    agent = keys.load_key_pair(tmp_path / "rn12-keys" / "agent.key_secret")
    assert mode(tmp_path / "rn12-keys" / "agent.key_secret") == 0o600
    assert leader.records["rn12"] == {**leader.records["rn12"], "role": "node",
                                      "public_key": agent.public_key.decode()}


def test_add_with_a_public_key_writes_no_file(runner: CliRunner, leader: StubLeader, tmp_path: Path) -> None:
    public = zmq.curve_keypair()[0].decode()
    result = runner.invoke(app, ["keys", "add", "far", "--role", "user", "--public-key", public, "--node", "s"])
    assert result.exit_code == 0, result.output
    assert leader.records["far"]["public_key"] == public
    assert list(tmp_path.glob("far*")) == []


def test_a_refused_key_leaves_no_file(runner: CliRunner, leader: StubLeader, admin_key: keys.KeyPair,
                                      tmp_path: Path) -> None:
    leader.refuse = "key 'ana' is registered already (role user); revoke it first"
    result = runner.invoke(app, ["keys", "add", "ana", "--role", "user", "--node", "s"])
    assert result.exit_code == EXIT_FAILED
    assert "registered already" in result.output and "(refused)" in result.output
    assert not (tmp_path / "ana.key_secret").exists()


def test_add_without_a_key_of_ones_own_says_how_to_give_it(runner: CliRunner, leader: StubLeader) -> None:
    result = runner.invoke(app, ["keys", "add", "ana", "--role", "user", "--node", "s"])
    assert result.exit_code == EXIT_USAGE  # a key file is the caller's set-up, like a setting
    assert "PULI_KEY=FILE" in result.output and "--public-key" in result.output
    assert leader.records == {}


@pytest.mark.parametrize(("args", "message"), [
    (["keys", "add", "ana", "--role", "root", "--node", "s"], "--role 'root' is not one of user, operator"),
    (["keys", "add", "ana", "--role", "user", "--public-key", "x", "--out", "f", "--node", "s"], "no file to --out"),
    (["keys", "init", "--dir", "d"], "give --zk HOSTS"),
])
def test_bad_usage_exits_2(runner: CliRunner, leader: StubLeader, args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == EXIT_USAGE, result.output
    assert message in result.output


def test_every_command_but_init_needs_the_mesh(runner: CliRunner) -> None:
    for args in (["add", "ana", "--role", "user"], ["list"], ["revoke", "ana"]):
        result = runner.invoke(app, ["keys", *args])
        assert result.exit_code == EXIT_USAGE, result.output
        assert "say where the mesh is" in result.output


# ---------------------------------------------------------------- list, revoke
def test_list_shows_each_key_with_its_role_and_times(runner: CliRunner, leader: StubLeader) -> None:
    for name, role in (("ana", "user"), ("[bold]x", "operator")):
        leader.add_key(name, role, zmq.curve_keypair()[0].decode())
    leader.revoke_key("ana")
    result = runner.invoke(app, ["keys", "list", "--node", "s"])
    assert result.exit_code == 0, result.output
    rows = {line.split()[1]: line for line in result.output.splitlines() if "user" in line or "operator" in line}
    assert "[bold]x" in rows and "operator" in rows["[bold]x"]  # a name is printed as given, never as markup
    assert rows["ana"].rstrip(" │").endswith(keys_cli.when(3600.0))
    listed = json.loads(runner.invoke(app, ["keys", "list", "--node", "s", "--json"]).output)
    assert [k["name"] for k in listed] == ["[bold]x", "ana"]


def test_revoke_says_so_and_an_unknown_name_is_not_found(runner: CliRunner, leader: StubLeader) -> None:
    leader.add_key("ana", "user", zmq.curve_keypair()[0].decode())
    result = runner.invoke(app, ["keys", "revoke", "ana", "--node", "s"])
    assert result.exit_code == 0 and result.output.strip() == "key ana revoked"
    missing = runner.invoke(app, ["keys", "revoke", "nobody", "--node", "s"])
    assert missing.exit_code == EXIT_FAILED and "(not_found)" in missing.output


# ---------------------------------------------------------------- init, refused before any I/O
def test_init_refuses_a_directory_that_holds_a_clusters_material(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "old").mkdir()
    zk_access.write_credential(tmp_path / "old")
    result = runner.invoke(app, ["keys", "init", "--dir", "old", "--zk", "127.0.0.1:1"])
    assert result.exit_code == EXIT_USAGE, result.output
    assert "already holds a cluster's material (zookeeper)" in result.output
    assert sorted(p.name for p in (tmp_path / "old").iterdir()) == ["zookeeper"]


def test_new_makes_a_client_key_here_naming_the_cluster_from_its_public_file(runner: CliRunner) -> None:
    cluster = keys.create_key_pair(Path("material"), keys.CLUSTER_KEY)
    result = runner.invoke(app, ["keys", "new", "mine.key_secret", "--cluster-key", "material/cluster.key", "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    made = keys.load_client_key(Path("mine.key_secret"))
    assert made.server_key == cluster.public_key and shown["public_key"] == made.public_key.decode()
    assert stat.S_IMODE(Path("mine.key_secret").stat().st_mode) == 0o600
    by_text = runner.invoke(app, ["keys", "new", "other.key_secret", "--cluster-key", cluster.public_key.decode()])
    assert by_text.exit_code == 0 and "--public-key" in by_text.output


def test_new_makes_this_hosts_agents_key_or_says_what_a_client_key_lacks(runner: CliRunner) -> None:
    result = runner.invoke(app, ["keys", "new", "agents", "--agents"])
    assert result.exit_code == 0, result.output
    assert keys.load_key_pair(Path("agents") / "agent.key_secret").secret_key is not None
    assert "--role node" in result.output
    missing = runner.invoke(app, ["keys", "new", "mine.key_secret"])
    assert missing.exit_code == EXIT_USAGE and "--cluster-key" in missing.output
    assert not Path("mine.key_secret").exists()
    bad = runner.invoke(app, ["keys", "new", "mine.key_secret", "--cluster-key", "not-a-key"])
    assert bad.exit_code == EXIT_USAGE and "Z85" in bad.output


# ---------------------------------------------------------------- token
def test_token_prints_a_web_token_the_cluster_checks(runner: CliRunner, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    cluster_public, cluster_secret = zmq.curve_keypair()
    pair = keys.create_key_pair(tmp_path / "ana", "ana", server_key=cluster_public)
    monkeypatch.setenv("PULI_KEY", str(pair.secret_file))
    result = runner.invoke(app, ["keys", "token", "--hours", "2"])
    assert result.exit_code == 0, result.output
    now = time.time()
    claim = read_token(result.stdout.strip(), cluster_secret, cluster_public, now)
    assert claim.public_key == pair.public_key.decode()
    assert 2 * 3600 - 60 < claim.expires_at - now <= 2 * 3600
    as_json = json.loads(runner.invoke(app, ["keys", "token", "--json"]).stdout)
    assert as_json["token"].startswith("pmt1.") and as_json["expires_at"] > now


def test_token_refuses_a_life_beyond_thirty_days_and_a_missing_key(runner: CliRunner, admin_key: keys.KeyPair,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    assert runner.invoke(app, ["keys", "token", "--hours", "721"]).exit_code != 0
    monkeypatch.delenv("PULI_KEY")
    result = runner.invoke(app, ["keys", "token"])
    assert result.exit_code != 0 and "PULI_KEY" in result.output

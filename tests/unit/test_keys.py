"""Key pairs on disk and the key registry's records (``puli_mesh.keys``)."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
import zmq

from puli_mesh.access import Role
from puli_mesh.errors import KeyMaterialError, PuliMeshError
from puli_mesh.keys import (
    KEY_NAME_LENGTH,
    KeyRecord,
    check_key_name,
    check_public_key,
    client_key_file,
    create_key_file,
    create_key_pair,
    key_files,
    load_key_pair,
)

PUBLIC = zmq.curve_keypair()[0].decode()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ---------------------------------------------------------------- files
def test_a_created_key_pair_loads_back_with_its_secret_file_0600(tmp_path: Path) -> None:
    made = create_key_pair(tmp_path / "keys", "alice")
    public_file, secret_file = key_files(tmp_path / "keys", "alice")
    assert (made.public_file, made.secret_file) == (public_file, secret_file)
    assert mode(secret_file) == 0o600
    assert mode(public_file) == 0o644
    assert mode(tmp_path / "keys") == 0o700
    assert sorted(p.name for p in (tmp_path / "keys").iterdir()) == ["alice.key", "alice.key_secret"]  # no staging left
    loaded = load_key_pair(secret_file)
    assert loaded == made
    assert loaded.name == "alice"
    assert len(loaded.public_key) == len(loaded.secret_key or b"") == 40
    assert zmq.curve_public(loaded.secret_key) == loaded.public_key  # the halves belong together


def test_the_public_file_alone_loads_without_a_secret(tmp_path: Path) -> None:
    made = create_key_pair(tmp_path, "rn-001")
    public = load_key_pair(made.public_file)
    assert public.public_key == made.public_key
    assert public.secret_key is None and public.secret_file is None
    assert "secret-key" not in made.public_file.read_text()


def test_two_keys_differ_and_an_existing_key_is_never_overwritten(tmp_path: Path) -> None:
    first = create_key_pair(tmp_path, "alice")
    assert create_key_pair(tmp_path, "bob").public_key != first.public_key
    with pytest.raises(KeyMaterialError, match="exists already"):
        create_key_pair(tmp_path, "alice")
    assert load_key_pair(first.secret_file or Path()).secret_key == first.secret_key
    first.public_file.unlink()  # half a pair left: still refused, and the secret kept
    with pytest.raises(KeyMaterialError, match="exists already"):
        create_key_pair(tmp_path, "alice")
    assert not first.public_file.exists()
    assert load_key_pair(first.secret_file or Path()).secret_key == first.secret_key


def test_a_secret_file_others_may_read_is_refused(tmp_path: Path) -> None:
    secret_file = create_key_pair(tmp_path, "alice").secret_file or Path()
    secret_file.chmod(0o640)
    with pytest.raises(KeyMaterialError, match="chmod 600"):
        load_key_pair(secret_file)


def test_missing_and_malformed_key_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyMaterialError, match="cannot read"):
        load_key_pair(tmp_path / "nobody.key_secret")
    junk = tmp_path / "junk.key"
    junk.write_text("not a certificate\n")
    with pytest.raises(KeyMaterialError, match="not a key file"):
        load_key_pair(junk)
    public_only = tmp_path / "half.key_secret"
    public_only.write_text(f'curve\n    public-key = "{PUBLIC}"\n')
    public_only.chmod(0o600)
    with pytest.raises(KeyMaterialError, match="no secret key"):
        load_key_pair(public_only)
    short = tmp_path / "short.key"
    short.write_text('curve\n    public-key = "abc"\n')
    with pytest.raises(KeyMaterialError, match="40 characters"):
        load_key_pair(short)


@pytest.mark.parametrize("name", ["", "../etc", "a/b", ".hidden", "-x", "a b", "é", "x" * (KEY_NAME_LENGTH + 1)])
def test_a_key_name_that_is_not_a_safe_file_and_znode_name_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(KeyMaterialError):
        check_key_name(name)
    with pytest.raises(KeyMaterialError):
        create_key_pair(tmp_path, name)
    assert list(tmp_path.iterdir()) == []


def test_names_and_public_keys_that_are_fine() -> None:
    assert check_key_name("render-node_01.studio") == "render-node_01.studio"
    assert check_key_name("x" * KEY_NAME_LENGTH)
    assert check_public_key(PUBLIC.encode()) == PUBLIC
    for bad in ["", PUBLIC[:-1], PUBLIC + "a", PUBLIC[:-1] + "~", PUBLIC[:-1] + '"', 40, None, b"\xff" * 40]:
        with pytest.raises(KeyMaterialError):
            check_public_key(bad)


# ---------------------------------------------------------------- registry records
def record(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"name": "alice", "role": "user", "public_key": PUBLIC, "added_at": 1_700_000_000.5,
                            "revoked_at": None}
    data.update(changes)
    return data


def test_a_record_round_trips_through_plain_data() -> None:
    rec = KeyRecord("alice", Role.OPERATOR, PUBLIC, 1_700_000_000.5)
    data = rec.to_data()
    assert data == record(role="operator")
    assert type(data["role"]) is str  # plain data, not the enum
    assert KeyRecord.from_data(data) == rec
    assert KeyRecord.from_data(data).role is Role.OPERATOR


def test_revoking_keeps_the_first_time_and_round_trips() -> None:
    rec = KeyRecord("alice", Role.USER, PUBLIC, 10.0)
    assert not rec.revoked
    gone = rec.revoke(20.0)
    assert gone.revoked and gone.revoked_at == 20.0
    assert gone.revoke(30.0).revoked_at == 20.0
    assert KeyRecord.from_data(gone.to_data()) == gone
    assert KeyRecord.from_data(record(revoked_at=5)).revoked


@pytest.mark.parametrize(("data", "says"), [
    ("alice", "is a map"),
    ({"name": "alice"}, "lacks role, public_key, added_at"),
    (record(role="root"), "unknown role 'root'; known: user, operator, admin, node"),
    (record(role=None), "unknown role"),
    (record(name="../x"), "may hold only"),
    (record(name="x" * 65), "above the limit of 64"),
    (record(public_key=PUBLIC[:39]), "40 characters"),
    (record(public_key=None), "Z85 text"),
    (record(added_at="yesterday"), "added_at"),
    (record(added_at=float("nan")), "added_at"),
    (record(added_at=True), "added_at"),
    (record(revoked_at=-1), "revoked_at"),
])
def test_a_malformed_record_is_refused_saying_why(data: Any, says: str) -> None:
    with pytest.raises(KeyMaterialError, match=says.replace("(", r"\(")) as caught:
        KeyRecord.from_data(data)
    assert isinstance(caught.value, PuliMeshError)


def test_a_record_is_checked_when_built_in_code_too() -> None:
    with pytest.raises(KeyMaterialError, match="role must be a Role"):
        KeyRecord("alice", "admin", PUBLIC, 0.0)  # type: ignore[arg-type]
    with pytest.raises(KeyMaterialError):
        KeyRecord("alice", Role.ADMIN, "nope", 0.0)


# ---------------------------------------------------------------- the client's key file
def test_the_client_key_is_puli_key_else_the_default_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert client_key_file({}) is None
    default = tmp_path / ".puli-mesh" / "key"
    default.parent.mkdir()
    default.write_text("")
    assert client_key_file({}) == default
    assert client_key_file({"PULI_KEY": "~/mine.key_secret"}) == tmp_path / "mine.key_secret"


def test_create_key_file_never_overwrites(tmp_path: Path) -> None:
    made = create_key_file(tmp_path / "a.key_secret", server_key=PUBLIC.encode())
    assert made.server_key == PUBLIC.encode() and mode(tmp_path / "a.key_secret") == 0o600
    with pytest.raises(KeyMaterialError, match="exists already"):
        create_key_file(tmp_path / "a.key_secret")
    assert load_key_pair(tmp_path / "a.key_secret").public_key == made.public_key
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.key_secret"]

"""The pure parts of ``zk_access``: the credential file, the ACL rule, the TLS/SASL options.

No ZooKeeper here: a ``KazooClient`` that is built but never started opens no connection.
(The ACLs against a real ZooKeeper: ``tests/integration/test_zookeeper_acls.py``.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kazoo.client import KazooClient
from kazoo.security import OPEN_ACL_UNSAFE

from puli_mesh import zk_access
from puli_mesh.errors import ConfigError
from puli_mesh.zk_access import (
    CREDENTIAL_FILE,
    WORLD_READ,
    ZooKeeperCredential,
    ZooKeeperOptions,
    acl_for,
    client_credential,
    options_from_environment,
    private_acl,
    public_read_acl,
    read_credential,
    write_credential,
)
from puli_mesh.zkpaths import ROOT, ClusterPaths

CREDENTIAL = ZooKeeperCredential("puli-mesh", "secret")
PATHS = ClusterPaths("paris")


# ------------------------------------------------------------------ the credential file
def test_a_new_credential_is_private_random_and_read_back(tmp_path: Path) -> None:
    written = write_credential(tmp_path / "keys")
    path = tmp_path / "keys" / CREDENTIAL_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "keys").stat().st_mode & 0o777 == 0o700
    assert read_credential(tmp_path / "keys") == written
    assert written.password != write_credential(tmp_path / "other").password


def test_a_credential_is_never_overwritten(tmp_path: Path) -> None:
    first = write_credential(tmp_path)
    with pytest.raises(ConfigError, match="exists already"):
        write_credential(tmp_path)
    assert read_credential(tmp_path) == first


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_a_credential_others_may_read_is_refused(tmp_path: Path, mode: int) -> None:
    write_credential(tmp_path)
    (tmp_path / CREDENTIAL_FILE).chmod(mode)
    with pytest.raises(ConfigError, match="chmod 600"):
        read_credential(tmp_path)


@pytest.mark.parametrize("content", ["", "no-colon", ":password", "user:", "user:pass word", "a:b\nc:d"])
def test_a_malformed_credential_is_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / CREDENTIAL_FILE
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(ConfigError, match="USER:PASSWORD"):
        read_credential(tmp_path)


def test_a_missing_credential_says_which_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=str(tmp_path / CREDENTIAL_FILE)):
        read_credential(tmp_path)


# ------------------------------------------------------------------ the ACL rule
@pytest.mark.parametrize("path", [PATHS.base, PATHS.nodes, PATHS.node("rn1"), PATHS.leader, PATHS.licences,
                                  PATHS.licence("mtoa"), PATHS.pools, PATHS.pool("gpu")])
def test_what_clients_read_is_public_read_and_written_only_with_the_credential(path: str) -> None:
    acl = acl_for(PATHS, path, CREDENTIAL)
    assert acl == public_read_acl(CREDENTIAL)
    assert WORLD_READ in acl and len(acl) == 2
    assert CREDENTIAL.owner_acl() in acl


@pytest.mark.parametrize("path", [PATHS.keys, PATHS.key("alice"), PATHS.epoch, PATHS.election,
                                  f"{PATHS.election}/n_0000000001", PATHS.journal, f"{PATHS.journal}/b-1-1-0",
                                  PATHS.snapshot, PATHS.snapshots, f"{PATHS.snapshots}/s-1-1",
                                  f"{PATHS.snapshots}/s-1-1/p-00000", f"{PATHS.pool('gpu')}/nested"])
def test_everything_else_of_the_cluster_is_private(path: str) -> None:
    assert acl_for(PATHS, path, CREDENTIAL) == private_acl(CREDENTIAL) == [CREDENTIAL.owner_acl()]


def test_the_root_shared_by_every_cluster_and_an_insecure_mesh_stay_open() -> None:
    assert acl_for(PATHS, ROOT, CREDENTIAL) == list(OPEN_ACL_UNSAFE)
    for path in (PATHS.base, PATHS.epoch, PATHS.key("alice"), PATHS.leader):
        assert acl_for(PATHS, path, None) == list(OPEN_ACL_UNSAFE)


def test_a_client_knows_the_credential_it_authenticates_with() -> None:
    assert client_credential(zk_access.connect("127.0.0.1:1", 1.0, CREDENTIAL)) == CREDENTIAL
    assert client_credential(zk_access.connect("127.0.0.1:1", 1.0, None)) is None
    other = KazooClient(hosts="127.0.0.1:1", auth_data=[("digest", "u:p:with:colons")])
    assert client_credential(other) == ZooKeeperCredential("u", "p:with:colons")


def test_a_credentialed_client_creates_private_znodes_by_default() -> None:
    assert zk_access.connect("127.0.0.1:1", 1.0, CREDENTIAL).default_acl == private_acl(CREDENTIAL)


# ------------------------------------------------------------------ TLS and SASL
def test_no_options_is_a_plain_connection() -> None:
    assert ZooKeeperOptions().client_arguments() == {}
    client = zk_access.connect("127.0.0.1:1", 1.0, None, ZooKeeperOptions())
    assert client.use_ssl is False


def test_tls_options_map_to_kazoo(tmp_path: Path) -> None:
    ca, cert, key = (tmp_path / name for name in ("ca.pem", "me.pem", "me.key"))
    for path in (ca, cert, key):
        path.write_text("PEM")
    options = ZooKeeperOptions(zk_tls_ca=str(ca), zk_tls_cert=str(cert), zk_tls_key=str(key))
    assert options.client_arguments() == {"use_ssl": True, "verify_certs": True, "ca": str(ca),
                                          "certfile": str(cert), "keyfile": str(key)}
    client = zk_access.connect("127.0.0.1:1", 1.0, CREDENTIAL, options)
    assert (client.use_ssl, client.ca, client.certfile, client.keyfile, client.verify_certs) == (
        True, str(ca), str(cert), str(key), True)
    assert ZooKeeperOptions(zk_tls_ca=str(ca)).client_arguments() == {
        "use_ssl": True, "verify_certs": True, "ca": str(ca)}


def test_a_tls_file_that_is_not_there_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"zk_tls_ca: {tmp_path / 'nope.pem'} is not a file"):
        ZooKeeperOptions(zk_tls_ca=str(tmp_path / "nope.pem")).client_arguments()


def test_digest_md5_reads_its_password_from_a_private_file(tmp_path: Path) -> None:
    password = tmp_path / "zk-password"
    password.write_text("s3cret\n")
    password.chmod(0o600)
    options = ZooKeeperOptions(zk_sasl_mechanism="DIGEST-MD5", zk_sasl_user="render",
                               zk_sasl_password_file=str(password))
    assert options.client_arguments() == {
        "sasl_options": {"mechanism": "DIGEST-MD5", "username": "render", "password": "s3cret"}}
    password.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        options.client_arguments()


def test_gssapi_uses_the_ticket_cache_and_an_optional_principal() -> None:
    assert ZooKeeperOptions(zk_sasl_mechanism="GSSAPI").client_arguments() == {
        "sasl_options": {"mechanism": "GSSAPI"}}
    assert ZooKeeperOptions(zk_sasl_mechanism="GSSAPI", zk_sasl_user="rn1@STUDIO").client_arguments() == {
        "sasl_options": {"mechanism": "GSSAPI", "principal": "rn1@STUDIO"}}


@pytest.mark.parametrize(("options", "fragment"), [
    (ZooKeeperOptions(zk_tls_cert="c", zk_tls_key="k"), "need zk_tls_ca"),
    (ZooKeeperOptions(zk_tls_ca="ca", zk_tls_cert="c"), "together"),
    (ZooKeeperOptions(zk_tls_ca="ca", zk_tls_key="k"), "together"),
    (ZooKeeperOptions(zk_sasl_mechanism="PLAIN"), "DIGEST-MD5 or GSSAPI"),
    (ZooKeeperOptions(zk_sasl_user="u"), "need zk_sasl_mechanism"),
    (ZooKeeperOptions(zk_sasl_mechanism="DIGEST-MD5", zk_sasl_user="u"), "needs zk_sasl_user and"),
])
def test_inconsistent_options_are_refused(options: ZooKeeperOptions, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        options.check()
    with pytest.raises(ConfigError, match=fragment):
        options.client_arguments()


def test_clients_take_the_options_from_the_agents_environment_names() -> None:
    environ = {"PULI_ZK_TLS_CA": "/ca.pem", "PULI_ZK_SASL_MECHANISM": "GSSAPI", "PULI_ZK_SASL_USER": " me ",
               "PULI_ZK": "ignored:2181"}
    assert options_from_environment(environ) == ZooKeeperOptions(
        zk_tls_ca="/ca.pem", zk_sasl_mechanism="GSSAPI", zk_sasl_user="me")
    assert options_from_environment({}) == ZooKeeperOptions()

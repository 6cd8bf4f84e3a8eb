"""``puli-mesh keys``: a cluster's keys made, registered, listed and revoked.

``keys init`` makes a new cluster's material before any agent runs, and is the one command
that writes ZooKeeper itself (with the new credential); ``keys add``, ``list`` and ``revoke``
ask the leader (``SETTINGS``, role admin), which writes the registry.

Guarantees: a secret key file is created 0600 (``puli_mesh.keys``) and never overwritten;
``keys init`` writes nothing when the directory already holds a cluster's material or the
cluster already has a key registry; ``keys add`` removes the key file it made when the leader
refuses the key, so a secret nobody registered does not linger. Errors leave through
:func:`puli_mesh.cli.common.reported_errors`.

Not here: what a key may do (``puli_mesh.access``), the registry's rules
(``puli_mesh.cluster_settings``), CURVE on the client's socket (``puli_mesh.client``).
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

import puli_mesh.cli.views as views
from puli_mesh.cli.common import (
    EXIT_USAGE,
    ClusterOpt,
    JsonOpt,
    NodeOpt,
    ZkOpt,
    console,
    fail,
    print_json,
    reported_errors,
)
from puli_mesh.errors import ConfigError, KeyMaterialError
from puli_mesh.roles import Role

if TYPE_CHECKING:  # loaded by the commands that use them: `puli-mesh --help` starts without zmq
    from puli_mesh.client import MeshClient
    from puli_mesh.keys import KeyPair

# No help=: the callback's docstring (with its example) is the group's help.
keys_app = typer.Typer(no_args_is_help=True)

ROLES = ", ".join(Role)


@keys_app.callback()
def keys_group() -> None:
    """The cluster's keys: who may do what (roles user, operator, admin, node).

    Example: `puli-mesh keys init --dir /etc/puli-mesh/keys --zk zk1:2181`, then
    `PULI_KEY=/etc/puli-mesh/keys/admin.key_secret puli-mesh keys add ana --role user`
    """


# --------------------------------------------------------------------------- init
def short_host_name() -> str:
    return socket.gethostname().split(".")[0]


def init_cluster(directory: Path, hosts: str, cluster: str, admin: str, node_name: str,
                 now: float) -> dict[str, Any]:
    """``cluster_keys.init_cluster``, and what it made as the command shows it."""
    from puli_mesh import cluster_keys  # loads ZooKeeper's client: `keys init` only

    made = cluster_keys.init_cluster(directory, hosts, cluster, admin, node_name, now)
    return {"directory": str(directory), "cluster": cluster, "zookeeper": hosts,
            "files": sorted(str(p) for p in directory.iterdir()),
            "registered": [r.to_data() for r in made.registered],
            "environment": {"agents": f"PULI_KEYS={directory}", "admin": f"PULI_KEY={made.admin_key}"}}


@keys_app.command("init")
def keys_init(
    directory: Annotated[Path, typer.Option("--dir", help="Where the cluster's material goes (created 0700).")],
    zk: ZkOpt = None, cluster: ClusterOpt = "default",
    admin: Annotated[str, typer.Option("--admin", help="The first admin key's name.")] = "admin",
    node_name: Annotated[str | None, typer.Option(
        "--node-name", help="This host's agents' name in the registry (default: the short host name).")] = None,
    json_: JsonOpt = False,
) -> None:
    """A new cluster's keys, before any agent runs: the ZooKeeper credential, the cluster's key,
    this host's agents' key and the first admin's key; ZooKeeper locked down for the cluster.

    Example: `puli-mesh keys init --dir /etc/puli-mesh/keys --zk zk1:2181,zk2:2181`
    """
    if not zk:
        raise fail("keys init writes the cluster's registry in ZooKeeper: give --zk HOSTS (or PULI_ZK)", EXIT_USAGE)
    with reported_errors():
        made = init_cluster(directory, zk, cluster, admin, node_name or short_host_name(), time.time())
    if json_:
        print_json(made)
        return
    console.print(Text(f"cluster {cluster}: keys in {directory}"))
    for path in made["files"]:
        console.print(Text(f"  {path}"))
    for record in made["registered"]:
        console.print(Text(f"registered {record['name']} (role {record['role']})"))
    console.print(Text(f"agents of this host: {made['environment']['agents']}"))
    console.print(Text(f"the admin:           {made['environment']['admin']}"))


# ---------------------------------------------------------------------------- add
def mesh_client(node: str | None, zk: str | None, cluster: str) -> MeshClient:
    """The client that asks the leader: ``--node`` wins, else the leader read from ZooKeeper."""
    from puli_mesh.client import MeshClient

    if not node and not zk:
        raise fail("say where the mesh is: --node HOST:PORT or --zk HOSTS (or PULI_NODE / PULI_ZK)", EXIT_USAGE)
    return MeshClient(node=node, zk=None if node else zk, cluster=cluster)


def cluster_public_key() -> bytes:
    """The cluster's public key, from the caller's own client key file (PULI_KEY)."""
    from puli_mesh import keys

    path = keys.client_key_file()
    if path is None:
        raise KeyMaterialError(f"keys add writes the cluster's key into the new key file: set "
                               f"{keys.CLIENT_KEY_VARIABLE}=FILE to your own key file (or copy it to "
                               f"{keys.DEFAULT_CLIENT_KEY}), or register a key made elsewhere with --public-key")
    server_key = keys.load_client_key(path).server_key
    assert server_key is not None  # load_client_key refuses a file without it
    return server_key


def new_key(name: str, role: Role, out: Path | None) -> KeyPair:
    """The key pair ``keys add`` makes: a client's file, or for a node an agents' key directory."""
    from puli_mesh import keys

    if role is Role.NODE:
        return keys.create_key_pair(out or Path(name), keys.AGENT_KEY)
    return keys.create_key_file(out or Path(f"{name}{keys.SECRET_SUFFIX}"), server_key=cluster_public_key())


@keys_app.command("add")
def keys_add(
    name: Annotated[str, typer.Argument(help="The key's name: a user, a wrangler, a host's agents.")],
    role: Annotated[str, typer.Option("--role", help=f"One of {ROLES}.")],
    out: Annotated[Path | None, typer.Option(
        "--out", help="The secret key file (default ./NAME.key_secret); for --role node, a directory "
                      "(default ./NAME) that gets agent.key and agent.key_secret.")] = None,
    public_key: Annotated[str | None, typer.Option(
        "--public-key", help="Register this public key (Z85), made elsewhere: no file is written.")] = None,
    node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default", json_: JsonOpt = False,
) -> None:
    """A new key pair for NAME, its public half registered through the leader (role admin).

    Needs your own key file (PULI_KEY) for the cluster's key it writes into the new file.

    Example: `puli-mesh keys add ana --role user --out ana.key_secret`; `keys add rn12 --role node --out rn12/`
    """
    if public_key is not None and out is not None:
        raise fail("--public-key registers a key made elsewhere: no file to --out", EXIT_USAGE)
    client = mesh_client(node, zk, cluster)
    with reported_errors():
        try:
            checked = Role(role)
        except ValueError:
            raise ConfigError(f"--role {role!r} is not one of {ROLES}") from None
        made = None if public_key is not None else new_key(name, checked, out)
        key = made.public_key.decode() if made is not None else str(public_key)
        try:
            record = client.add_key(name, checked, key)
        except BaseException:
            if made is not None:  # nobody may use a key the cluster does not know
                for path in (made.secret_file, made.public_file):
                    if path is not None:
                        path.unlink(missing_ok=True)
            raise
    if json_:
        print_json({**record, "file": str(made.secret_file) if made else None})
        return
    console.print(Text(f"registered {record['name']} (role {record['role']})"))
    if made is not None:
        console.print(Text(f"secret key: {made.secret_file} (mode 0600; give it to {name} only)"))


# ---------------------------------------------------------------------------- new
@keys_app.command("new")
def keys_new(
    out: Annotated[Path, typer.Argument(help="The new secret key file (0600); with --agents, a keys directory.")],
    cluster_key: Annotated[str | None, typer.Option(
        "--cluster-key", help="The cluster's public key: its `cluster.key` file (public; an admin hands "
                              "it out) or the key itself (Z85). A client's file names it.")] = None,
    agents: Annotated[bool, typer.Option(
        "--agents", help="This host's agents' key: OUT/agent.key and agent.key_secret.")] = False,
    json_: JsonOpt = False,
) -> None:
    """A key pair made here, registered by nobody yet: the secret half never leaves this machine.
    An admin then registers its public half with `keys add NAME --role ROLE --public-key KEY`.

    Example: `puli-mesh keys new ~/.puli-mesh/key --cluster-key cluster.key`; on a render host,
    `puli-mesh keys new /etc/puli-mesh/keys --agents`
    """
    from puli_mesh import keys

    with reported_errors():
        if agents:
            made = keys.create_key_pair(out, keys.AGENT_KEY)
        else:
            if not cluster_key:
                raise ConfigError("a client's key file names the cluster's key: give --cluster-key "
                                  "(the public key in the cluster's `cluster.key`, from an admin)")
            given = Path(cluster_key).expanduser()
            server_key = (keys.load_key_pair(given).public_key if given.is_file()
                          else keys.check_public_key(cluster_key.strip()).encode())
            made = keys.create_key_file(out, server_key=server_key)
    public = made.public_key.decode()
    if json_:
        print_json({"file": str(made.secret_file), "public_key": public})
        return
    console.print(Text(f"secret key: {made.secret_file} (mode 0600; it stays here)"))
    console.print(Text(f"public key: {public}"))
    console.print(Text(f"have an admin run: puli-mesh keys add NAME --role {'node' if agents else 'user'} "
                       f"--public-key '{public}'"))


# --------------------------------------------------------------- list and revoke
@keys_app.command("list")
def keys_list(node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default",
              json_: JsonOpt = False) -> None:
    """Every key of the cluster with its role, when it was added and revoked (role admin).

    Example: `puli-mesh keys list --json`
    """
    client = mesh_client(node, zk, cluster)
    with reported_errors():
        records = client.list_keys()
    if json_:
        print_json(records)
        return
    table = Table("name", "role", "added", "revoked")
    for r in records:
        revoked = r.get("revoked_at")
        views.add_row(table, r["name"], r["role"], when(r["added_at"]), when(revoked) if revoked else "-")
    console.print(table)


def when(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(seconds))


@keys_app.command("token")
def keys_token(hours: Annotated[float, typer.Option(help="How long it is valid (at most 720: 30 days).")] = 12.0,
               json_: JsonOpt = False) -> None:
    """Print a web token made from your key (PULI_KEY) to log in to any agent's web pages and
    HTTP API, made here with no round trip. It stops working when it expires or your key is
    revoked; keep it as secret as your key for its lifetime.

    Example: `curl -H "Authorization: Bearer $(puli-mesh keys token)" http://agent1:8080/api/whoami`
    """
    from puli_mesh import keys
    from puli_mesh.web.auth import token_for

    with reported_errors():
        path = keys.client_key_file()
        if path is None:
            raise KeyMaterialError(f"a token is made from your key: set {keys.CLIENT_KEY_VARIABLE}=FILE "
                                   f"(or copy it to {keys.DEFAULT_CLIENT_KEY})")
        token, expires_at = token_for(keys.load_client_key(path), time.time(), hours)
    if json_:
        print_json({"token": token, "expires_at": expires_at})
        return
    print(token)  # alone on stdout, for $(puli-mesh keys token)


@keys_app.command("revoke")
def keys_revoke(name: str, node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default") -> None:
    """Revoke key NAME: refused from its next message on, open connections included (role admin).

    Example: `puli-mesh keys revoke ana`
    """
    client = mesh_client(node, zk, cluster)
    with reported_errors():
        client.revoke_key(name)
    console.print(Text(f"key {name} revoked"))

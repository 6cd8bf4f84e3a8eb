"""The ``puli-mesh`` app: its help, the list of its commands, and the commands that run things.

``agent`` runs this render node's agent; ``up`` a whole local farm; the other
commands live in the modules named after what they are about and are listed
here, in the order ``puli-mesh --help`` shows them.

Guarantees: exit codes are those of :mod:`puli_mesh.cli.common` (0 ok, 1 the
mesh refused, 2 bad usage, 3 the mesh or ZooKeeper could not be reached).
Not here: talking to a mesh (every other command goes through
:class:`puliclient.farm.Farm`), formatting.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

import puli_mesh.cli.cluster as cluster
import puli_mesh.cli.hooks as hooks
import puli_mesh.cli.jobs as jobs
import puli_mesh.cli.keys as keys
import puli_mesh.cli.logs as logs
import puli_mesh.cli.nodes as nodes
import puli_mesh.cli.shares as shares
import puli_mesh.cli.submit as submit
import puli_mesh.cli.top as top
from puli_mesh import __version__
from puli_mesh.cli.common import EXIT_UNREACHABLE, EXIT_USAGE, console, fail, reported_errors
from puli_mesh.errors import PuliMeshError

APP_HELP = """Puli Mesh: a render farm of uniform agents. Try `puli-mesh up --agents 3`.

Commands find the mesh with `--node HOST:PORT` (any agent) or `--zk HOSTS`, or in
PULI_NODE / PULI_ZK. `puli-mesh COMMAND --help` shows a command's options.

A session (12 is a job id, 57 a command id, both printed by the lines before):

```
puli-mesh up --agents 3                 # a local farm; leave it running
export PULI_NODE=127.0.0.1:8004         # then, in another shell
puli-mesh exec 'render -f %%MI_FRAME%% a.ma' --end 100 --packet-size 10
puli-mesh jobs                          # id, status, progress, ETA
puli-mesh top                           # all of it, live; q quits
puli-mesh show 12                       # commands: status, node, attempts
puli-mesh pause 12                      # nothing new starts; resume 12
puli-mesh commands -g 12 --status ERROR # the failed commands
puli-mesh logs 57                       # a failed command's log
puli-mesh restart 12 --errors-only      # run the failed commands again
```
"""

app = typer.Typer(help=APP_HELP, no_args_is_help=True, rich_markup_mode="markdown")


def _setup_logging(level: str, log_file: Path | None = None) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers = [logging.FileHandler(log_file)]
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO), handlers=handlers,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kazoo").setLevel(logging.WARNING)


# --------------------------------------------------------------------------- agent
def agent(
    config: Annotated[Path | None, typer.Option("--config", help="TOML settings file.")] = None,
    zk: Annotated[str | None, typer.Option(help="ZooKeeper hosts. [env PULI_ZK]")] = None,
    cluster: Annotated[str | None, typer.Option(help="Cluster name (default `default`).")] = None,
    name: Annotated[str | None, typer.Option(help="Node name (default: host name). [env PULI_NAME]")] = None,
    host: Annotated[str | None, typer.Option(help="Address others reach this agent at. [env PULI_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="Client/coordinator port (default 8004). [env PULI_PORT]")] = None,
    http_port: Annotated[int | None, typer.Option(
        help="HTTP port of the monitor and the JSON API (default 8080; 0: no HTTP). [env PULI_HTTP_PORT]")] = None,
    slots: Annotated[int | None, typer.Option(help="Commands run at once (default 1). [env PULI_SLOTS]")] = None,
    pipeline: Annotated[int | None, typer.Option(
        help="Short commands queued behind each running one (default 16; 0: off). [env PULI_PIPELINE]")] = None,
    pools: Annotated[str | None, typer.Option(help="Comma-separated pools (default `default`).")] = None,
    gpus: Annotated[str | None, typer.Option(
        help="This node's GPUs: a number N (ids 0..N-1) or comma-separated ids (default: what nvidia-smi "
             "finds). [env PULI_GPUS]")] = None,
    log_dir: Annotated[Path | None, typer.Option(help="Where command logs go. [env PULI_LOG_DIR]")] = None,
    session_timeout: Annotated[float | None, typer.Option(help="ZooKeeper session timeout, s (default 10).")] = None,
    heartbeat_interval: Annotated[float | None, typer.Option(help="Heartbeat interval, s (default 1).")] = None,
    heartbeat_liveness: Annotated[int | None, typer.Option(help="Missed heartbeats before a peer is gone.")] = None,
    grace_period: Annotated[float | None, typer.Option(help="On SIGTERM, seconds commands get to finish.")] = None,
    retry_delay: Annotated[float | None, typer.Option(help="Seconds before an ERROR is retried (default 20).")] = None,
    lost_grace: Annotated[float | None, typer.Option(help="Extra seconds before a lost node's work moves.")] = None,
    quarantine_after: Annotated[int | None, typer.Option(
        help="Failures in a row that quarantine a node (default 5). [env PULI_QUARANTINE_AFTER]")] = None,
    sick_after: Annotated[int | None, typer.Option(
        help="A job's failures on one node before it avoids the node (default 3). [env PULI_SICK_AFTER]")] = None,
    forgive_after: Annotated[float | None, typer.Option(
        help="Seconds a job avoids such a node (default 1800). [env PULI_FORGIVE_AFTER]")] = None,
    archive_after_days: Annotated[float | None, typer.Option(help="Archive finished graphs after N days.")] = None,
    command_env_passthrough: Annotated[str | None, typer.Option(
        help="Comma-separated variables of the agent's environment commands also get (e.g. a licence "
             "server's). [env PULI_COMMAND_ENV_PASSTHROUGH]")] = None,
    run_as_job_user: Annotated[bool | None, typer.Option(
        "--run-as-job-user", help="Run each command as its job's user (the agent must run as root). "
                                  "[env PULI_RUN_AS_JOB_USER]")] = None,
    keys: Annotated[Path | None, typer.Option(
        help="The agents' keys directory (`puli-mesh keys init`). [env PULI_KEYS]")] = None,
    insecure: Annotated[bool | None, typer.Option(
        "--insecure", help="Run an open mesh without keys: anyone who reaches it owns it.")] = None,
    zk_tls_ca: Annotated[Path | None, typer.Option(
        help="CA of the ZooKeeper ensemble's certificates: TLS to ZooKeeper. [env PULI_ZK_TLS_CA]")] = None,
    zk_tls_cert: Annotated[Path | None, typer.Option(
        help="Client certificate for ZooKeeper over TLS. [env PULI_ZK_TLS_CERT]")] = None,
    zk_tls_key: Annotated[Path | None, typer.Option(
        help="Key of --zk-tls-cert. [env PULI_ZK_TLS_KEY]")] = None,
    zk_sasl_mechanism: Annotated[str | None, typer.Option(
        help="SASL to ZooKeeper: DIGEST-MD5 or GSSAPI. [env PULI_ZK_SASL_MECHANISM]")] = None,
    zk_sasl_user: Annotated[str | None, typer.Option(
        help="SASL user (DIGEST-MD5) or Kerberos principal (GSSAPI). [env PULI_ZK_SASL_USER]")] = None,
    zk_sasl_password_file: Annotated[Path | None, typer.Option(
        help="File holding the DIGEST-MD5 password (0600). [env PULI_ZK_SASL_PASSWORD_FILE]")] = None,
    killfile: Annotated[Path | None, typer.Option(
        help="Puli's killfile: present, the node pauses (-1 kills, -2 exits, -3 restarts). [env PULI_KILLFILE]")
    ] = None,
    nimby: Annotated[str | None, typer.Option(
        help="When this workstation renders: off, killfile, idle (no user input for --nimby-idle-minutes). "
             "[env PULI_NIMBY]")] = None,
    nimby_idle_minutes: Annotated[float | None, typer.Option(
        help="With --nimby idle: minutes without user input first (default 15). [env PULI_NIMBY_IDLE_MINUTES]")
    ] = None,
    nimby_window: Annotated[str | None, typer.Option(
        help="With --nimby idle: local hours it may render, e.g. 20:00-08:00. [env PULI_NIMBY_WINDOW]")] = None,
    idle_timeout: Annotated[float | None, typer.Option(
        help="Seconds a command may print nothing and report no progress before it is killed as hung "
             "(TIMEOUT), for tasks without their own idleTimeout (default 0: off). [env PULI_IDLE_TIMEOUT]")
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning.")] = "info",
    agent_log: Annotated[Path | None, typer.Option(help="Write the agent's own log here instead of stderr.")] = None,
) -> None:
    """Run the agent of this render node: worker always, coordinator while elected.

    Example: `puli-mesh agent --zk zk1:2181,zk2:2181 --slots 4 --pools default,gpu`
    """
    from puli_mesh.config import load_settings
    from puli_mesh.node.agent import Agent
    from puli_mesh.node.killfile import EXIT_KILLFILE_RESTART

    _setup_logging(log_level, agent_log)
    with reported_errors():  # bad settings exit 2, ZooKeeper out of reach 3
        settings = load_settings(config, overrides={
            "zk": zk, "cluster": cluster, "name": name, "host": host, "port": port, "slots": slots,
            "http_port": http_port,
            "pipeline": pipeline, "pools": pools, "gpus": gpus, "log_dir": log_dir, "session_timeout": session_timeout,
            "heartbeat_interval": heartbeat_interval, "heartbeat_liveness": heartbeat_liveness,
            "grace_period": grace_period, "retry_delay": retry_delay, "lost_grace": lost_grace,
            "quarantine_after": quarantine_after, "sick_after": sick_after, "forgive_after": forgive_after,
            "archive_after_days": archive_after_days, "keys": keys, "insecure": insecure,
            "command_env_passthrough": command_env_passthrough, "run_as_job_user": run_as_job_user,
            "zk_tls_ca": zk_tls_ca, "zk_tls_cert": zk_tls_cert, "zk_tls_key": zk_tls_key,
            "zk_sasl_mechanism": zk_sasl_mechanism, "zk_sasl_user": zk_sasl_user,
            "zk_sasl_password_file": zk_sasl_password_file, "killfile": killfile,
            "nimby": nimby, "nimby_idle_minutes": nimby_idle_minutes, "nimby_window": nimby_window,
            "idle_timeout": idle_timeout,
        })
        code = Agent(settings).run()
    if code == EXIT_KILLFILE_RESTART:  # its killfile said -3: the same command line again, in place
        logging.getLogger(__name__).warning("agent restarting (killfile -3)")
        os.execv(sys.executable, sys.orig_argv)
    raise typer.Exit(code)


# ----------------------------------------------------------------------------- up
def up(
    agents: Annotated[int, typer.Option(help="How many agents to start.")] = 3,
    slots: Annotated[int, typer.Option(help="Slots per agent.")] = 1,
    base_port: Annotated[int, typer.Option(help="First agent's port (next ones follow).")] = 8004,
    data_dir: Annotated[Path | None, typer.Option(help="ZooKeeper data and logs (default: temp dir).")] = None,
    submit_examples: Annotated[bool, typer.Option(help="Submit the example graphs once the mesh is up.")] = False,
    session_timeout: Annotated[float, typer.Option(help="Session timeout of the agents, s.")] = 4.0,
    insecure: Annotated[bool, typer.Option(
        "--insecure", help="No keys: an open farm (by default it makes its own keys).")] = False,
    zk_servers: Annotated[int, typer.Option(
        help="ZooKeeper servers: 1, or an ensemble of 3 or 5 on loopback (kill one to see the farm go on).")] = 1,
    http: Annotated[bool, typer.Option(help="Each agent serves the web monitor and API on a free port.")] = True,
) -> None:
    """Start a local farm: a private ZooKeeper and N agents on loopback, with keys of its own
    (an admin key for you: the banner prints the environment to use). Ctrl-C stops everything.

    Example: `puli-mesh up --agents 3`, then in another shell, with the banner's `export` line:

    `PULI_NODE=127.0.0.1:8004 PULI_KEY=... python examples/simple_command.py`
    """
    from puli_mesh.local_farm import LocalFarm

    _setup_logging("info")
    if zk_servers not in (1, 3, 5):
        raise fail(f"--zk-servers {zk_servers}: give 1, 3 or 5 (an ensemble needs an odd number)", EXIT_USAGE)
    farm = LocalFarm(agents=agents, slots=slots, base_port=base_port, data_dir=data_dir,
                     session_timeout=session_timeout, insecure=insecure, zk_servers=zk_servers, http=http)

    def interrupted(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM stops the farm as cleanly as Ctrl-C

    signal.signal(signal.SIGTERM, interrupted)
    try:
        farm.start()
    except (PuliMeshError, KeyboardInterrupt) as exc:
        farm.stop()
        raise fail(f"the local farm did not start: {exc}", EXIT_UNREACHABLE) from exc
    console.print(Text(farm.banner()), soft_wrap=True)  # it holds the data directory, a path the user chose
    code = 0
    try:
        if submit_examples:
            code = farm.submit_examples(console)
        farm.wait()
    except KeyboardInterrupt:
        console.print("stopping the farm...")
    finally:
        farm.stop()
    raise typer.Exit(code)


def version() -> None:
    """Print the version.

    Example: `puli-mesh version`
    """
    console.print(__version__)


# The commands in the order `puli-mesh --help` lists them (groups come last there).
app.command()(agent)
app.command()(cluster.status)
app.command("step-down")(cluster.step_down)
app.command()(up)
app.command()(version)
jobs.register(app)  # jobs, show, commands, pause, resume, cancel, restart, done, set, archive
app.command()(logs.logs)
app.command("exec")(submit.exec_command)
app.command()(submit.submit)
app.command()(cluster.stats)
app.command()(top.top)
app.add_typer(cluster.licences_app, name="licences")
app.add_typer(cluster.pools_app, name="pools")
app.add_typer(nodes.nodes_app, name="nodes")
app.add_typer(keys.keys_app, name="keys")
app.add_typer(hooks.hooks_app, name="hooks")
app.add_typer(shares.shares_app, name="shares")

"""The agent's settings: one typed object, read from a TOML file < ``PULI_*`` environment < CLI flags.

Example ``puli-mesh.toml``::

    zk = "zk1:2181,zk2:2181,zk3:2181"
    cluster = "paris"
    pools = ["default", "gpu"]
    slots = 2
    log_dir = "/var/log/puli-mesh"
    session_timeout = 10

Every key is also an environment variable (``PULI_ZK``, ``PULI_SLOTS``, ...)
and a flag of ``puli-mesh agent`` (``--zk``, ``--slots``, ...). This module
only parses and validates; it does not touch the network.
"""

from __future__ import annotations

import dataclasses
import math
import os
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from puli_mesh.errors import ConfigError
from puli_mesh.limits import DEFAULT_GRAPH_LIMITS as _LIMITS
from puli_mesh.limits import MAX_GPU_ID_CHARS, MAX_GPUS, MAX_IDLE_TIMEOUT_S, GraphLimits
from puli_mesh.node.nimby import check_settings as check_nimby
from puli_mesh.zk_access import ZooKeeperOptions

DEFAULT_PORT = 8004
DEFAULT_HTTP_PORT = 8080
"""HTTP's usual alternative port: 8004 (Puli's) is the agents' ZeroMQ port, and a studio's proxies
and firewalls already know 8080 as "an internal web server"."""
GRAPH_PREFIX = "graph_"
"""The settings of the graph limits are ``graph_<GraphLimits field>``."""
_LIMIT_NAMES = tuple(f.name for f in dataclasses.fields(GraphLimits))
_ZOOKEEPER_OPTION_NAMES = tuple(f.name for f in dataclasses.fields(ZooKeeperOptions))


def _default_name() -> str:
    return socket.gethostname().split(".")[0].lower() or "localhost"


@dataclass
class Settings:
    """Everything an agent needs to know to join a mesh."""

    zk: str = "127.0.0.1:2181"
    """ZooKeeper connection string (``host:port[,host:port...]``)."""
    cluster: str = "default"
    """Several farms can share one ZooKeeper; each lives under ``/puli-mesh/<cluster>``."""
    name: str = field(default_factory=_default_name)
    """This render node's name, unique in the cluster."""
    host: str = "127.0.0.1"
    """Address other agents and clients reach this agent at."""
    port: int = DEFAULT_PORT
    """The agent's one port (its ROUTER): workers, clients, and the LOGS of the commands it ran."""
    http_port: int = DEFAULT_HTTP_PORT
    """This agent's HTTP server (the monitor, the JSON API under ``/api/``); 0: no HTTP."""
    http_host: str = ""
    """The address the HTTP server binds (empty: the agent's ``host``)."""
    slots: int = 1
    """Commands this agent runs at once."""
    pipeline: int = 16
    """Commands of a short task (under a second each, seen from its first ones) that
    may wait on this node behind each running one, so a slot never idles for the
    coordinator's round trip between two short commands; 0: never. The coordinator
    sends ahead only about a quarter of a second of the task's work per slot, so the
    full depth is for commands of a few tens of milliseconds."""
    pools: list[str] = field(default_factory=lambda: ["default"])
    gpus: list[str] | None = None
    """This node's GPUs, the ids ``CUDA_VISIBLE_DEVICES`` names: a number N (GPUs ``0`` to
    ``N-1``; 0: none) or a list of ids (``["0", "2"]``, UUIDs; ``--gpus 0,2``). None (unset):
    detected with ``nvidia-smi`` (``node.resources.detect_gpus``); set, it wins over detection."""
    log_dir: Path = field(default_factory=lambda: Path.home() / ".puli-mesh" / "logs")
    session_timeout: float = 10.0
    """ZooKeeper session timeout in seconds (tests use 2)."""
    heartbeat_interval: float = 1.0
    """Seconds between heartbeats on the worker <-> coordinator link."""
    heartbeat_liveness: int = 3
    """Missed heartbeats before the peer is considered gone (Paranoid Pirate)."""
    grace_period: float = 30.0
    """On SIGTERM: seconds running commands may take to finish before they are killed."""
    retry_delay: float = 20.0
    """Seconds before an ERROR command with attempts left goes back to READY (Puli: 20)."""
    quarantine_after: int = 5
    """Failures (ERROR or TIMEOUT) in a row after which a node takes no work until cleared (Puli: 5)."""
    sick_after: int = 3
    """A job that failed this many times on one node avoids that node (a job's ``sickAfter`` tag wins)."""
    forgive_after: float = 1800.0
    """... for this many seconds, then forgives it (a job's ``forgiveAfter`` tag wins)."""
    lost_grace: float = 0.0
    """Extra seconds after a node's session expired before its commands are re-queued."""
    archive_after_days: float = 0.0
    """Finished (DONE or CANCELED) graphs are archived this many days after they ended; 0: never."""
    command_env_passthrough: list[str] = field(default_factory=list)
    """Variables of the agent's own environment a command also gets (e.g. a licence server's
    ``RLM_LICENSE``), besides the few every command gets (``node.launch.INHERITED_VARIABLES``).
    Never a ``PULI_*`` name: those are the agent's settings and credentials."""
    run_as_job_user: bool = False
    """Run each command as its job's user (uid, groups, ``HOME``) instead of the agent's. Needs
    the agent to run as root and the job's users known on every node (NIS/LDAP); a job whose
    user is unknown here or is root ends in ERROR."""
    snapshot_every: int = 10_000
    """Journal records between two snapshots of the coordinator's state. A new leader reads and
    replays what came after the newest one: at 2,000 nodes 30,000 records took 2.6 s of a
    failover, 10,000 about a second. A snapshot costs a fork of the leader and, in the child,
    about 4 us per command held (1,000,000 commands: 4 s of a core and 6 MB written): a farm
    that holds that many raises this."""
    snapshot_interval: float = 300.0
    """Seconds between two snapshots when fewer records came in."""
    history_period: float = 60.0
    """Seconds between two samples of the farm's figures (``stats``, the history and its charts)."""
    characteristics: dict[str, Any] = field(default_factory=dict)
    """Extra characteristics matched against task requirements (``softs``...)."""
    performance: float = 1.0
    """Performance index: faster nodes are chosen first."""
    killfile: str = ""
    """Puli's worker killfile: a file whose presence pauses this node (``node.killfile`` says what
    its content does: empty pauses, -1 kills and pauses, -2/-3 also exit/restart the agent); "": none."""
    nimby: str = "off"
    """When this node, someone's workstation, takes work (``node.nimby``): ``off`` (always),
    ``killfile`` (Puli's: the ``killfile`` setting), ``idle`` (only while nobody used it for
    ``nimby_idle_minutes``, and inside ``nimby_window`` when set; a returning user's frames
    are killed and re-queued without spending an attempt)."""
    nimby_idle_minutes: float = 15.0
    """With ``nimby = idle``: minutes without keyboard or mouse before the node takes work."""
    nimby_window: str = ""
    """With ``nimby = idle``: local hours it may render, ``"HH:MM-HH:MM"`` (``"20:00-08:00"``
    wraps midnight); "": any hour."""
    idle_timeout: float = 0.0
    """Seconds a command may go without output nor progress before it is killed as hung (TIMEOUT),
    for tasks that set no ``idleTimeout`` of their own (``node.idle``); 0: no limit."""
    keys: str = ""
    """The agents' keys directory (``puli-mesh keys init``): the cluster's ZooKeeper credential,
    the cluster's key pair and this host's agents' key. Required unless ``insecure``."""
    insecure: bool = False
    """Run without keys: no CURVE, no roles, open znodes. For a throwaway farm only; the mesh says
    so in ``status``, ``top`` and every agent's log."""
    zk_tls_ca: str = ""
    """CA file that signed the ZooKeeper ensemble's certificates: TLS to ZooKeeper is on when set
    (the ensemble's secure client port in ``zk``)."""
    zk_tls_cert: str = ""
    """This agent's client certificate for ZooKeeper over TLS, when the ensemble asks for one."""
    zk_tls_key: str = ""
    """The private key of ``zk_tls_cert``."""
    zk_sasl_mechanism: str = ""
    """SASL to ZooKeeper, where the site runs it: ``DIGEST-MD5`` or ``GSSAPI`` (Kerberos, with
    the process's ticket cache). The cluster's digest credential and ACLs apply in any case."""
    zk_sasl_user: str = ""
    """The SASL user (DIGEST-MD5) or Kerberos principal (GSSAPI, optional)."""
    zk_sasl_password_file: str = ""
    """File holding the DIGEST-MD5 password (mode 0600)."""
    # The graph limits (``limits.GraphLimits``, where each is described), applied by this agent
    # when it leads. Set them alike on every agent: a successor replays what was accepted.
    graph_depth: int = _LIMITS.depth
    graph_nodes: int = _LIMITS.nodes
    graph_commands_per_task: int = _LIMITS.commands_per_task
    graph_frames_per_command: int = _LIMITS.frames_per_command
    graph_name_length: int = _LIMITS.name_length
    graph_string_length: int = _LIMITS.string_length
    graph_value_items: int = _LIMITS.value_items
    graph_stats_items: int = _LIMITS.stats_items
    graph_message_length: int = _LIMITS.message_length

    def graph_limits(self) -> GraphLimits:
        """The ``graph_*`` settings as one :class:`~puli_mesh.limits.GraphLimits`."""
        return GraphLimits(**{name: getattr(self, GRAPH_PREFIX + name) for name in _LIMIT_NAMES})

    def zookeeper_options(self) -> ZooKeeperOptions:
        """The ``zk_tls_*`` and ``zk_sasl_*`` settings as one :class:`~puli_mesh.zk_access.ZooKeeperOptions`."""
        return ZooKeeperOptions(**{name: getattr(self, name) for name in _ZOOKEEPER_OPTION_NAMES})

    def validate(self) -> Settings:
        """Raise ConfigError naming the first bad value; return self for chaining."""
        if not self.zk.strip():
            raise ConfigError("zk is empty: give the ZooKeeper hosts, e.g. --zk 127.0.0.1:2181")
        if not self.cluster or "/" in self.cluster:
            raise ConfigError(f"cluster {self.cluster!r} is not a valid name (no '/', not empty)")
        if not self.name or "/" in self.name:
            raise ConfigError(f"name {self.name!r} is not a valid node name (no '/', not empty)")
        if not 1 <= self.port <= 65534:
            raise ConfigError(f"port {self.port} is out of range 1..65534")
        if not 0 <= self.http_port <= 65535:
            raise ConfigError(f"http_port {self.http_port} is out of range 0..65535 (0: no HTTP)")
        if self.slots < 1:
            raise ConfigError(f"slots must be at least 1, got {self.slots}")
        if self.pipeline < 0:
            raise ConfigError(f"pipeline must not be negative, got {self.pipeline}")
        if self.gpus is not None:
            if len(self.gpus) > MAX_GPUS or len(set(self.gpus)) != len(self.gpus):
                raise ConfigError(f"gpus: at most {MAX_GPUS} GPUs (limits.MAX_GPUS), each named once; got {self.gpus}")
            if not all(0 < len(g) <= MAX_GPU_ID_CHARS for g in self.gpus):
                raise ConfigError(f"gpus: an id is 1 to {MAX_GPU_ID_CHARS} characters (limits.MAX_GPU_ID_CHARS); "
                                  f"got {self.gpus}")
        if not self.pools:
            raise ConfigError("pools is empty: a node must belong to at least one pool")
        if self.session_timeout < 1.0:
            raise ConfigError(f"session_timeout {self.session_timeout}s is below ZooKeeper's 1s minimum")
        for attr in ("heartbeat_interval", "grace_period", "retry_delay", "lost_grace", "archive_after_days",
                     "forgive_after"):
            if getattr(self, attr) < 0:
                raise ConfigError(f"{attr} must not be negative, got {getattr(self, attr)}")
        if self.heartbeat_interval <= 0:
            raise ConfigError("heartbeat_interval must be positive")
        if self.snapshot_every < 1 or self.snapshot_interval <= 0:
            raise ConfigError("snapshot_every and snapshot_interval must be positive")
        if not 1.0 <= self.history_period <= 3600.0:
            raise ConfigError(f"history_period must be from 1 to 3600 seconds, not {self.history_period}")
        if self.quarantine_after < 1 or self.sick_after < 1:
            raise ConfigError("quarantine_after and sick_after must be at least 1")
        if self.heartbeat_liveness < 1:
            raise ConfigError("heartbeat_liveness must be at least 1")
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if isinstance(value, float) and not math.isfinite(value):  # NaN passes every comparison above
                raise ConfigError(f"{item.name} must be a finite number, got {value}")
        if self.keys and self.insecure:
            raise ConfigError("give --keys or --insecure, not both")
        agents_own = [name for name in self.command_env_passthrough if name.startswith("PULI_") or not name]
        if agents_own:
            raise ConfigError(f"command_env_passthrough names {agents_own[0]!r}: the agent's PULI_* variables "
                              "(its settings and credentials) never reach a command; list other variables")
        if self.run_as_job_user and os.geteuid() != 0:
            raise ConfigError(f"run_as_job_user needs the agent to run as root (it runs as uid {os.geteuid()}) "
                              "to switch to each job's user: start the agent as root, or turn "
                              "run_as_job_user off")
        if not 0 <= self.idle_timeout <= MAX_IDLE_TIMEOUT_S:
            raise ConfigError(f"idle_timeout must be from 0 (off) to {MAX_IDLE_TIMEOUT_S:g} seconds, "
                              f"got {self.idle_timeout}")
        if self.performance <= 0:
            raise ConfigError(f"performance must be positive, got {self.performance}")
        check_nimby(self.nimby, self.killfile, self.nimby_idle_minutes, self.nimby_window)
        self.zookeeper_options().check()
        problems = self.graph_limits().check()
        if problems:
            raise ConfigError(f"{GRAPH_PREFIX}{problems[0]}")
        return self

    def keys_directory(self) -> Path | None:
        """The agents' keys directory, None for an open (``insecure``) mesh; ``ConfigError`` when
        neither is given: an agent never runs open by accident."""
        if self.insecure:
            return None
        if not self.keys:
            raise ConfigError("no keys: give the agents' keys directory (--keys DIR, PULI_KEYS; made by "
                              "`puli-mesh keys init`), or run an open mesh with --insecure")
        return Path(self.keys).expanduser()

    @property
    def endpoint(self) -> str:
        """The ZeroMQ endpoint of this agent's ROUTER."""
        return f"tcp://{self.host}:{self.port}"


_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}
BOOLEANS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def gpu_ids(value: Any) -> list[str]:
    """The ``gpus`` setting as GPU ids: a whole number N (as a number or a text, e.g.
    ``PULI_GPUS=2``) is ``0`` to ``N-1``; a list, or a comma-separated text, names them."""
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            value = int(text)
        else:
            return [v.strip() for v in text.split(",") if v.strip()]
    if isinstance(value, bool):
        raise TypeError("expected a number of GPUs or a list of GPU ids")
    if isinstance(value, int):
        if not 0 <= value <= MAX_GPUS:
            raise ValueError(f"a number of GPUs from 0 to {MAX_GPUS} (limits.MAX_GPUS)")
        return [str(i) for i in range(value)]
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    raise TypeError("expected a number of GPUs or a list of GPU ids")


def _convert(key: str, value: Any) -> Any:
    """Convert a raw value (TOML or environment string) to the field's type."""
    kind = _FIELDS[key].type
    try:
        if key == "gpus":
            return gpu_ids(value)
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text not in BOOLEANS:
                raise ValueError(f"expected one of {', '.join(sorted(BOOLEANS))}")
            return BOOLEANS[text]
        if kind == "Path":
            return Path(value).expanduser()
        if kind == "list[str]":
            if isinstance(value, str):
                return [v.strip() for v in value.split(",") if v.strip()]
            return [str(v) for v in value]
        if kind == "dict[str, Any]":
            if not isinstance(value, Mapping):
                raise TypeError("expected a table")
            return dict(value)
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {key!r}: cannot use {value!r} ({exc})") from exc


def load_settings(
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the settings: defaults < TOML file < ``PULI_*`` environment < overrides (flags).

    ``overrides`` with a value of None are ignored, so CLI flags left unset do
    not hide the file or the environment.
    """
    values: dict[str, Any] = {}
    if config_file is not None:
        try:
            raw = tomllib.loads(Path(config_file).read_text())
        except FileNotFoundError as exc:
            raise ConfigError(f"config file {config_file} does not exist") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {config_file} is not valid TOML: {exc}") from exc
        for key, value in raw.items():
            key = key.replace("-", "_")
            if key not in _FIELDS:
                raise ConfigError(f"config file {config_file}: unknown setting {key!r}")
            values[key] = _convert(key, value)
    env = os.environ if environ is None else environ
    for key in _FIELDS:
        if key == "characteristics":
            continue
        raw_env = env.get(f"PULI_{key.upper()}")
        if raw_env is not None and raw_env != "":
            values[key] = _convert(key, raw_env)
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key not in _FIELDS:
            raise ConfigError(f"unknown setting {key!r}")
        values[key] = _convert(key, value)
    return Settings(**values).validate()

"""Event hooks: what a hook is, which events it asks for, and the rules of delivering them.

A pipeline registers a hook to learn when something happens on the farm: a job ended (DONE,
ERROR, CANCELED), a command failed for good (ERROR or TIMEOUT with no attempt left), a render
node was quarantined or lost. The leader then POSTs the event's JSON document to the hook's URL
and/or runs its command (the document on stdin and in ``PULI_EVENT_*`` variables).

Hooks are cluster settings kept in ZooKeeper (``hook_add``, ``hook_remove``, ``hook_list``: see
``cluster_settings``); the events come from the scheduling core (``coordinator.hook_events``),
journalled with the change that caused them; ``coordinator.hook_delivery`` delivers them.

Guarantees: pure and light (the standard library only: a client and the CLI load it); a
:class:`Hook` that exists is valid (a name as ``cluster_state.validate_name`` wants it, within
``MAX_HOOK_NAME_CHARS``; known event names; an http(s) URL within ``MAX_URL_CHARS``; a command
within ``MAX_COMMAND_CHARS``; at least a URL or a command), else :class:`~puli_mesh.errors.ConfigError`
says what is wrong. The delivery schedule (:func:`retry_delay`, :func:`given_up`) is a function
of the attempt count and the event's age, so a successor leader follows the same one.

Not here: ZooKeeper, HTTP, processes, clocks (time is an argument).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from puli_mesh.errors import ConfigError

JOB_DONE = "job_done"
JOB_ERROR = "job_error"
JOB_CANCELED = "job_canceled"
COMMAND_FAILED = "command_failed"
COMMAND_PREEMPTED = "command_preempted"
NODE_QUARANTINED = "node_quarantined"
NODE_LOST = "node_lost"
EVENT_KINDS = (JOB_DONE, JOB_ERROR, JOB_CANCELED, COMMAND_FAILED, COMMAND_PREEMPTED, NODE_QUARANTINED, NODE_LOST)
"""Every event a hook may ask for, in the order the CLI lists them."""
JOB_EVENTS = frozenset({JOB_DONE, JOB_ERROR, JOB_CANCELED, COMMAND_FAILED, COMMAND_PREEMPTED})
"""Events about a job (they carry its user and pool, which a hook may filter on)."""

MAX_HOOKS = 32
"""Hooks a cluster may have: each one is delivered in turn by the leader's one delivery thread."""
MAX_HOOK_NAME_CHARS = 64
MAX_URL_CHARS = 2048
MAX_COMMAND_CHARS = 4096
MAX_FILTER_CHARS = 256

HTTP_TIMEOUT_S = 5.0
"""A POST that has not been answered in this long failed (and is retried)."""
COMMAND_TIMEOUT_S = 30.0
"""A hook's command still running after this long is killed, and counts as failed."""
RETRY_FIRST_S = 1.0
RETRY_CAP_S = 300.0
"""Back-off: a failed delivery is tried again 1 s later, then 2, 4, ... up to every 5 minutes."""
GIVE_UP_S = 3600.0
"""An event not delivered this long after it happened is logged and dropped: a receiver down
for an hour is not waited for, and what the core keeps for delivery stays bounded."""
OUTBOX_MAX_EVENTS = 10_000
"""Events the core keeps for delivery (the oldest go first beyond it, logged): bounded memory
and snapshot size, far above the events an hour of a studio farm makes."""


@dataclass(frozen=True, slots=True)
class Hook:
    """One registered hook: the events it asks for, where they go, and an optional user or pool
    filter (job events only: a node event has neither). ``added_at`` (wall-clock seconds): a
    hook gets no event that happened before it was added."""

    name: str
    events: tuple[str, ...]
    url: str | None = None
    command: str | None = None
    user: str | None = None
    pool: str | None = None
    added_at: float = 0.0

    def __post_init__(self) -> None:
        check_name(self.name)
        events = self.events
        if isinstance(events, str) or not isinstance(events, list | tuple) or not events:
            raise ConfigError(f"hook {self.name!r}: events must be a non-empty list of {', '.join(EVENT_KINDS)}")
        unknown = [f"{e!r:.40}" for e in events if e not in EVENT_KINDS]
        if unknown:
            raise ConfigError(f"hook {self.name!r}: unknown event(s) {', '.join(unknown[:5])}; "
                              f"known: {', '.join(EVENT_KINDS)}")
        object.__setattr__(self, "events", tuple(dict.fromkeys(events)))
        if self.url is None and self.command is None:
            raise ConfigError(f"hook {self.name!r}: give a URL to POST to, a command to run, or both")
        if self.url is not None:
            check_url(self.url)
        if self.command is not None:
            _text(self.name, "command", self.command, MAX_COMMAND_CHARS)
            if not self.command.strip():
                raise ConfigError(f"hook {self.name!r}: the command is empty")
        for field, value in (("user", self.user), ("pool", self.pool)):
            if value is not None:
                _text(self.name, field, value, MAX_FILTER_CHARS)
        if isinstance(self.added_at, bool) or not isinstance(self.added_at, int | float):
            raise ConfigError(f"hook {self.name!r}: added_at must be a number")

    def to_data(self) -> dict[str, Any]:
        return {"name": self.name, "events": list(self.events), "url": self.url, "command": self.command,
                "user": self.user, "pool": self.pool, "added_at": self.added_at}

    @classmethod
    def from_data(cls, data: Any) -> Hook:
        """A hook as kept in ZooKeeper; ``ConfigError`` for anything else."""
        if not isinstance(data, dict):
            raise ConfigError(f"a hook is a map, got {type(data).__name__}")
        try:
            return cls(data["name"], tuple(data["events"]) if isinstance(data["events"], list) else data["events"],
                       data.get("url"), data.get("command"), data.get("user"), data.get("pool"),
                       data.get("added_at", 0.0))
        except KeyError as exc:
            raise ConfigError(f"a hook lacks {exc}") from None

    def wants(self, kind: str, user: str | None, pool: str | None, time: float) -> bool:
        """Whether an event of ``kind`` (about a job of ``user`` in ``pool``), at ``time``, is for this hook."""
        if kind not in self.events or time < self.added_at:
            return False
        if self.user is not None and user != self.user:
            return False
        return self.pool is None or pool == self.pool


def _text(hook: str, field: str, value: Any, limit: int) -> None:
    if not isinstance(value, str):
        raise ConfigError(f"hook {hook!r}: {field} must be a string, got {type(value).__name__}")
    if len(value) > limit:
        raise ConfigError(f"hook {hook!r}: {field} of {len(value)} characters, above the limit of {limit}")


def check_name(name: Any) -> str:
    if not isinstance(name, str):
        raise ConfigError(f"a hook name must be a string, got {type(name).__name__}")
    if len(name) > MAX_HOOK_NAME_CHARS:
        raise ConfigError(f"hook name of {len(name)} characters, above the limit of {MAX_HOOK_NAME_CHARS}")
    if not name or "/" in name or name.startswith(".") or any(c.isspace() for c in name):
        raise ConfigError(f"hook name {name!r} is invalid: use letters, digits, '-', '_' or '.'")
    return name


def check_url(url: Any) -> str:
    """An http(s) URL with a host, within ``MAX_URL_CHARS``."""
    if not isinstance(url, str):
        raise ConfigError(f"a hook URL must be a string, got {type(url).__name__}")
    if len(url) > MAX_URL_CHARS:
        raise ConfigError(f"hook URL of {len(url)} characters, above the limit of {MAX_URL_CHARS}")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ConfigError(f"hook URL {url!r:.80} is not a URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"hook URL {url!r:.80} is refused: only http:// and https:// URLs with a host")
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise ConfigError(f"hook URL {url!r:.80} holds whitespace or control characters")
    return url


def check_count(existing: list[str], name: str) -> None:
    """Refuse a new hook beyond ``MAX_HOOKS`` (replacing one of ``existing`` is allowed)."""
    if name not in existing and len(existing) >= MAX_HOOKS:
        raise ConfigError(f"the cluster has {len(existing)} hooks, the limit is {MAX_HOOKS}: remove one first")


def parse_events(text: str) -> tuple[str, ...]:
    """``job_done,job_error`` (the CLI's ``--on``), or ``all``."""
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    return EVENT_KINDS if names == ("all",) else names


def retry_delay(failures: int) -> float:
    """Seconds before the next try after ``failures`` failed ones (1 or more): exponential, capped."""
    return min(RETRY_CAP_S, RETRY_FIRST_S * 2.0 ** min(max(failures - 1, 0), 30))


def given_up(event_time: float, now: float) -> bool:
    """Whether an event of ``event_time`` is past the give-up horizon at ``now``."""
    return now - event_time > GIVE_UP_S


def command_environment(document: dict[str, Any], encoded: str) -> dict[str, str]:
    """The ``PULI_EVENT*`` variables a command hook gets: the whole document (``PULI_EVENT``)
    and its main fields, each a string ('' when absent)."""
    job = document.get("job") or {}
    command = document.get("command") or {}

    def text(value: Any) -> str:
        return "" if value is None else str(value)

    return {
        "PULI_EVENT": encoded,
        "PULI_EVENT_ID": text(document.get("id")),
        "PULI_EVENT_KIND": text(document.get("kind")),
        "PULI_EVENT_TIME": text(document.get("time")),
        "PULI_CLUSTER": text(document.get("cluster")),
        "PULI_JOB_ID": text(job.get("id")),
        "PULI_JOB_NAME": text(job.get("name")),
        "PULI_JOB_USER": text(job.get("user")),
        "PULI_JOB_STATUS": text(job.get("status")),
        "PULI_COMMAND_ID": text(command.get("id")),
        "PULI_COMMAND_ATTEMPT": text(command.get("attempt")),
        "PULI_NODE": text(document.get("node")),
    }

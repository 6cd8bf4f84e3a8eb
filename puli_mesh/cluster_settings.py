"""What a ``SETTINGS`` request may ask: the cluster's settings kept in ZooKeeper, one action each.

A client holds no ZooKeeper credential (the cluster's znodes are locked down): it asks the
leader, which checks the requester's role (``access.SETTINGS_ROLES``) and writes ZooKeeper
with the cluster's credential. The actions, each a dataclass of checked arguments:

* ``licence_set {name, total}``: define a licence or change its total (operator);
* ``pool_define {name}``: define a pool (operator);
* ``key_add {name, role, public_key}``: register a key made elsewhere, by its public half (admin);
* ``key_revoke {name}``: refuse a key from its next message on (admin);
* ``key_list {}``: every key of the registry, revoked ones included (admin);
* ``hook_add {name, events, url, command, user, pool}``: add or replace an event hook (operator;
  admin for one with a command: it runs a program on the leader's host);
* ``hook_remove {name}``: remove an event hook (operator);
* ``hook_list {}``: every event hook (anyone);
* ``share_set {pool, account, min, max, weight}``: define or change a share account (operator);
* ``share_remove {pool, account}``: remove a share account (operator);
* ``share_preempt {pool, preempt_after}``: a pool's tree preempts borrowers' commands older than
  ``preempt_after`` seconds, or never (None) (operator);
* ``share_quota {kind, name, max}``: a user's or project's quota across pools, 0 removes it (operator).

:func:`parse` turns a request's ``(action, args)`` into one of them; :func:`added_key` and
:func:`revoked_key` decide what a key change makes of the registry as it stands.

Guarantees: pure (no I/O, no clock: the time is an argument); a parsed action's arguments are
valid (names as ``cluster_state.validate_name`` and ``keys.check_key_name`` want them, a total
within ``0..limits.INT64_MAX``, a known role, a Z85 public key), and any other argument, or a
missing one, is refused; every refusal says what was wrong and what to do, as a
:class:`~puli_mesh.errors.ConfigError` or :class:`~puli_mesh.errors.KeyMaterialError` (bad
arguments), :class:`~puli_mesh.errors.UnknownKeyError` or
:class:`~puli_mesh.errors.SettingsRefusedError` (what the registry does not allow).

Not here: who may ask (``puli_mesh.access``), reading and writing ZooKeeper
(``puli_mesh.node.settings_requests``), the key files (``puli_mesh.keys``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from puli_mesh.access import COMMAND_HOOK_ROLE, SETTINGS_ROLES, Role
from puli_mesh.cluster_state import validate_name
from puli_mesh.coordinator.quotas import check_quota
from puli_mesh.coordinator.shares import ShareSpec, check_path, check_preempt_after, check_spec
from puli_mesh.errors import ConfigError, SettingsRefusedError, UnknownKeyError
from puli_mesh.hooks import Hook
from puli_mesh.hooks import check_name as check_hook_name
from puli_mesh.keys import KeyRecord, check_key_name, check_public_key
from puli_mesh.limits import INT64_MAX


@dataclass(frozen=True, slots=True)
class LicenceSet:
    """Define licence ``name`` or change its total (lowering it never kills running commands)."""

    action: ClassVar[str] = "licence_set"
    name: str
    total: int

    def __post_init__(self) -> None:
        _text(self.action, "name", self.name)
        validate_name("licence", self.name)
        total = self.total
        if isinstance(total, bool) or not isinstance(total, int) or not 0 <= total <= INT64_MAX:
            raise ConfigError(f"licence {self.name!r}: total must be a whole number from 0 to {INT64_MAX}, "
                              f"got {total!r:.60}")


@dataclass(frozen=True, slots=True)
class PoolDefine:
    """Define pool ``name`` (graphs may name it before any node joins it)."""

    action: ClassVar[str] = "pool_define"
    name: str

    def __post_init__(self) -> None:
        _text(self.action, "name", self.name)
        validate_name("pool", self.name)


@dataclass(frozen=True, slots=True)
class KeyAdd:
    """Register the public key of ``name`` with ``role`` (the secret half stays with its owner)."""

    action: ClassVar[str] = "key_add"
    name: str
    role: Role
    public_key: str

    def __post_init__(self) -> None:
        check_key_name(self.name)
        role: Role | None = None
        with contextlib.suppress(ValueError, TypeError):
            role = Role(self.role)
        if role is None:
            raise ConfigError(f"key {self.name!r}: role {self.role!r:.60} is not one of {', '.join(Role)}")
        object.__setattr__(self, "role", role)  # "admin" from the wire is Role.ADMIN from here on
        object.__setattr__(self, "public_key", check_public_key(self.public_key))


@dataclass(frozen=True, slots=True)
class KeyRevoke:
    """Revoke key ``name``: refused from its next message on."""

    action: ClassVar[str] = "key_revoke"
    name: str

    def __post_init__(self) -> None:
        check_key_name(self.name)


@dataclass(frozen=True, slots=True)
class KeyList:
    """Every key of the registry, revoked ones included."""

    action: ClassVar[str] = "key_list"


@dataclass(frozen=True, slots=True)
class HookAdd:
    """Add event hook ``name`` (or replace it): ``events`` POSTed to ``url`` and/or given to
    ``command``, optionally only a ``user``'s or a ``pool``'s jobs (``puli_mesh.hooks``)."""

    action: ClassVar[str] = "hook_add"
    name: str
    events: list[str]
    url: str | None
    command: str | None
    user: str | None
    pool: str | None

    def __post_init__(self) -> None:
        self.hook(0.0)  # checks every argument

    def hook(self, now: float) -> Hook:
        """The hook this adds, added at ``now``."""
        events = tuple(self.events) if isinstance(self.events, list) else self.events
        return Hook(self.name, events, self.url, self.command, self.user, self.pool, now)


@dataclass(frozen=True, slots=True)
class HookRemove:
    """Remove event hook ``name`` (events not yet delivered to it are not)."""

    action: ClassVar[str] = "hook_remove"
    name: str

    def __post_init__(self) -> None:
        check_hook_name(self.name)


@dataclass(frozen=True, slots=True)
class HookList:
    """Every event hook, by name."""

    action: ClassVar[str] = "hook_list"


@dataclass(frozen=True, slots=True)
class ShareSet:
    """Define share account ``account`` (``PROJECT`` or ``PROJECT/USER``) of ``pool``, or change it:
    ``min`` slots guaranteed, at most ``max`` (0: no cap), ``weight`` (``coordinator.shares``)."""

    action: ClassVar[str] = "share_set"
    pool: str
    account: str
    min: int
    max: int
    weight: float

    def __post_init__(self) -> None:
        _text(self.action, "pool", self.pool)
        validate_name("pool", self.pool)
        try:
            check_path(self.account)
            check_spec(self.min, self.max, self.weight)
        except ValueError as exc:
            raise ConfigError(f"{self.action}: {exc}") from None

    @property
    def path(self) -> tuple[str, ...]:
        return check_path(self.account)

    @property
    def spec(self) -> ShareSpec:
        return check_spec(self.min, self.max, self.weight)


@dataclass(frozen=True, slots=True)
class ShareRemove:
    """Remove share account ``account`` of ``pool`` (its jobs fall back to an implicit account)."""

    action: ClassVar[str] = "share_remove"
    pool: str
    account: str

    def __post_init__(self) -> None:
        _text(self.action, "pool", self.pool)
        validate_name("pool", self.pool)
        try:
            check_path(self.account)
        except ValueError as exc:
            raise ConfigError(f"{self.action}: {exc}") from None

    @property
    def path(self) -> tuple[str, ...]:
        return check_path(self.account)


@dataclass(frozen=True, slots=True)
class SharePreempt:
    """Pool ``pool``'s share tree preempts borrowers' commands older than ``preempt_after`` seconds
    to give an account below its guarantee its slots (None: never, the default; ``preemption``)."""

    action: ClassVar[str] = "share_preempt"
    pool: str
    preempt_after: float | None

    def __post_init__(self) -> None:
        _text(self.action, "pool", self.pool)
        validate_name("pool", self.pool)
        try:
            check_preempt_after(self.preempt_after)
        except ValueError as exc:
            raise ConfigError(f"{self.action}: {exc}") from None


@dataclass(frozen=True, slots=True)
class ShareQuota:
    """``kind`` (``user`` or ``project``) ``name`` holds at most ``max`` commands whatever the pool
    (0: no quota; ``coordinator.quotas``)."""

    action: ClassVar[str] = "share_quota"
    kind: str
    name: str
    max: int

    def __post_init__(self) -> None:
        try:
            check_quota([self.kind, self.name, self.max], least=0)  # 0: the quota is removed
        except ValueError as exc:
            raise ConfigError(f"{self.action}: {exc}") from None


SettingsAction = (LicenceSet | PoolDefine | KeyAdd | KeyRevoke | KeyList | HookAdd | HookRemove | HookList
                  | ShareSet | ShareRemove | SharePreempt | ShareQuota)

ACTIONS: dict[str, type[SettingsAction]] = {
    cls.action: cls for cls in (LicenceSet, PoolDefine, KeyAdd, KeyRevoke, KeyList, HookAdd, HookRemove, HookList,
                                ShareSet, ShareRemove, SharePreempt, ShareQuota)
}
"""Every ``SETTINGS`` action by name: the same names as ``access.SETTINGS_ROLES`` (a unit test
checks it), which says who may ask each."""


def _text(action: str, field: str, value: Any) -> None:
    if not isinstance(value, str):
        raise ConfigError(f"{action}: {field} must be a string, got {type(value).__name__}")


def parse(action: str, args: dict[str, Any]) -> SettingsAction:
    """The action a ``SETTINGS`` request asks for, its arguments checked."""
    cls = ACTIONS.get(action)
    if cls is None:
        raise ConfigError(f"{action!r:.60} is not a settings action; known: {', '.join(ACTIONS)}")
    names = [f.name for f in fields(cls)]
    unknown = sorted(f"{k!s:.60}" for k in args if k not in names)[:10]  # a few, each short: a message stays small
    missing = [n for n in names if n not in args]
    if unknown or missing:
        raise ConfigError(f"{action} takes {', '.join(names) or 'no arguments'}"
                          + (f"; unknown: {', '.join(unknown)}" if unknown else "")
                          + (f"; missing: {', '.join(missing)}" if missing else ""))
    return cls(**args)


def role_needed(action: SettingsAction) -> Role:
    """The least role that may ask for ``action``: a hook with a command needs more than its
    action's rule (``access.COMMAND_HOOK_ROLE``)."""
    if isinstance(action, HookAdd) and action.command is not None:
        return COMMAND_HOOK_ROLE
    return SETTINGS_ROLES[action.action]


def live_admins(records: dict[str, KeyRecord]) -> list[str]:
    """The names of the registry's live (not revoked) admin keys."""
    return sorted(r.name for r in records.values() if r.role is Role.ADMIN and not r.revoked)


def added_key(add: KeyAdd, records: dict[str, KeyRecord], now: float) -> KeyRecord:
    """The record ``add`` makes, given the registry's ``records`` by name. A revoked key's name
    may be given again (its record is replaced, so its old public key stays refused)."""
    held = records.get(add.name)
    if held is not None and not held.revoked:
        raise SettingsRefusedError(f"key {add.name!r} is registered already (role {held.role}); revoke it "
                                   f"first (`puli-mesh keys revoke {add.name}`) or choose another name")
    for other in records.values():
        if other.public_key == add.public_key and other.name != add.name:
            raise SettingsRefusedError(f"this public key is registered already, as {other.name!r}; "
                                       "every key pair belongs to one name: make a new pair")
    return KeyRecord(add.name, add.role, add.public_key, now)


def revoked_key(revoke: KeyRevoke, records: dict[str, KeyRecord], now: float) -> KeyRecord:
    """The record of ``revoke.name`` revoked at ``now`` (unchanged if it was revoked already).
    Refused for an unknown name, and for the last live admin key: nobody could manage keys."""
    held = records.get(revoke.name)
    if held is None:
        raise UnknownKeyError(f"no key is named {revoke.name!r}; `puli-mesh keys list` shows them")
    if held.role is Role.ADMIN and live_admins(records) == [held.name]:
        raise SettingsRefusedError(f"key {held.name!r} is the last live admin key: revoking it would leave "
                                   "nobody to manage keys; add another admin key first")
    return held.revoke(now)

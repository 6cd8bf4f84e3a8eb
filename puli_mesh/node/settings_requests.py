"""The leader's answer to a ``SETTINGS`` request: the cluster's settings, written with its credential.

A client cannot write the cluster's znodes (``puli_mesh.zk_access``); it asks the leader, which
checks the requester's role, parses the action (``puli_mesh.cluster_settings``), and reads or
writes ZooKeeper: licence totals and pools (``cluster_state``), the key registry
(``key_registry``), share trees (``share_store``: the leader feeds them to its core at once,
``node.share_feed``). The coordinator learns of a licence or a pool as it does of any change in
ZooKeeper: through the agent's watches.

Guarantees: :func:`answer` returns a RESULT or an ERROR for anything the request holds (bad
arguments ``invalid``, an unknown key ``not_found``, a key change the registry does not allow
``refused``, a ZooKeeper failure ``internal``), except a requester whose role does not allow
the action: that raises :class:`~puli_mesh.errors.AccessError`, for the agent to answer as it
answers every refusal of a role.

Not here: what the actions are and what they may change (``cluster_settings``), who may ask
(``access``), who the requester is (the agent, from the connection).
"""

from __future__ import annotations

import logging
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException
from kazoo.handlers.threading import KazooTimeoutError

from puli_mesh import access, cluster_settings, cluster_state, hook_store, key_registry, share_store
from puli_mesh.cluster_settings import (
    HookAdd,
    HookList,
    HookRemove,
    KeyAdd,
    KeyList,
    KeyRevoke,
    LicenceSet,
    PoolDefine,
    SettingsAction,
    SharePreempt,
    ShareQuota,
    ShareRemove,
    ShareSet,
)
from puli_mesh.coordinator.shares import check_preempt_after
from puli_mesh.errors import (
    ConfigError,
    KeyMaterialError,
    SettingsRefusedError,
    UnknownHookError,
    UnknownKeyError,
    UnknownShareError,
    ZooKeeperError,
)
from puli_mesh.keys import KeyRecord
from puli_mesh.limits import MAX_RID_CHARS
from puli_mesh.protocol import ErrorCode, ErrorMessage, Message, ResultMessage, SettingsMessage
from puli_mesh.zkpaths import ClusterPaths

log = logging.getLogger(__name__)

ERROR_CODES: tuple[tuple[type[Exception], ErrorCode], ...] = (
    (UnknownKeyError, ErrorCode.NOT_FOUND),
    (UnknownHookError, ErrorCode.NOT_FOUND),
    (UnknownShareError, ErrorCode.NOT_FOUND),
    (SettingsRefusedError, ErrorCode.REFUSED),
    (ConfigError, ErrorCode.INVALID),
    (KeyMaterialError, ErrorCode.INVALID),
)
"""The wire's word for each refusal of a settings action (the first class that matches)."""


def answer(zk: KazooClient, paths: ClusterPaths, msg: SettingsMessage, requester: KeyRecord | None,
           now: float) -> Message:
    """The reply to ``msg`` from ``requester`` (None: an open mesh, where anyone may do anything),
    ``now`` being wall-clock seconds (a key's ``added_at``, ``revoked_at``)."""
    rid = msg.rid
    if len(rid) > MAX_RID_CHARS:
        return ErrorMessage(None, ErrorCode.INVALID, f"request id of {len(rid)} characters, above the "
                            f"limit of {MAX_RID_CHARS}")
    if requester is not None and access.has_rule(access.SETTINGS, msg.action):  # an unknown one: refused below
        decision = access.decide(requester.role, requester.name, access.SETTINGS, msg.action)
        if not decision.allowed:
            log.warning("refused: %s", decision.message)
            return ErrorMessage(rid, ErrorCode.FORBIDDEN, decision.message)
    try:
        action = cluster_settings.parse(msg.action, msg.args)
        least = cluster_settings.role_needed(action)
        if requester is not None and least is not access.SETTINGS_ROLES[action.action]:
            decision = access.decide_least(requester.role, requester.name,
                                           f"{access.SETTINGS} {msg.action!r} with a command", least)
            if not decision.allowed:
                log.warning("refused: %s", decision.message)
                return ErrorMessage(rid, ErrorCode.FORBIDDEN, decision.message)
        data = carry_out(zk, paths, action, now)
    except (KazooException, KazooTimeoutError, ZooKeeperError) as exc:
        log.warning("SETTINGS %s: ZooKeeper failed: %r", msg.action, exc)
        return ErrorMessage(rid, ErrorCode.INTERNAL, f"{msg.action}: ZooKeeper failed ({exc!r:.200}); "
                            "nothing may have changed: look, then retry")
    except (ConfigError, KeyMaterialError, SettingsRefusedError, UnknownKeyError, UnknownHookError,
            UnknownShareError) as exc:
        code = next(c for cls, c in ERROR_CODES if isinstance(exc, cls))
        return ErrorMessage(rid, code, str(exc))
    who = "anyone (open mesh)" if requester is None else f"{requester.name!r} ({requester.role})"
    if not isinstance(action, KeyList):
        log.info("SETTINGS %s %s by %s", action.action, msg.args.get("name"), who)
    return ResultMessage(rid, data)


def carry_out(zk: KazooClient, paths: ClusterPaths, action: SettingsAction, now: float) -> Any:
    """Read or write ZooKeeper for ``action``; the RESULT's data."""
    match action:
        case LicenceSet(name=name, total=total):
            cluster_state.set_licence(zk, paths, name, total)
            return {"licence": name, "total": total}
        case PoolDefine(name=name):
            cluster_state.define_pool(zk, paths, name)
            return {"pool": name}
        case KeyAdd():
            record = cluster_settings.added_key(action, key_registry.read_records(zk, paths), now)
            key_registry.write_record(zk, paths, record)
            return record.to_data()
        case KeyRevoke():
            records = key_registry.read_records(zk, paths)
            record = cluster_settings.revoked_key(action, records, now)
            if record is not records[action.name]:
                key_registry.write_record(zk, paths, record)
            return record.to_data()
        case KeyList():
            return [r.to_data() for r in key_registry.read_records(zk, paths).values()]
        case HookAdd():
            hook = action.hook(now)
            hook_store.write_hook(zk, paths, hook)
            return hook.to_data()
        case HookRemove(name=name):
            if not hook_store.remove_hook(zk, paths, name):
                raise UnknownHookError(f"no hook is named {name!r}; `puli-mesh hooks list` shows them")
            return {"hook": name}
        case HookList():
            return [hook.to_data() for hook in hook_store.read_hooks(zk, paths).values()]
        case ShareSet(pool=pool, account=account):
            share_store.set_account(zk, paths, pool, action.path, action.spec)
            return {"pool": pool, "account": account}
        case ShareRemove(pool=pool, account=account):
            if not share_store.remove_account(zk, paths, pool, action.path):
                raise UnknownShareError(f"pool {pool!r} has no share account {account!r}; "
                                        "`puli-mesh shares list` shows them")
            return {"pool": pool, "account": account}
        case ShareQuota(kind=kind, name=name, max=cap):
            share_store.set_quota(zk, paths, kind, name, cap)
            return {"kind": kind, "name": name, "max": cap}
        case SharePreempt(pool=pool, preempt_after=after):
            share_store.set_preempt(zk, paths, pool, check_preempt_after(after))
            return {"pool": pool, "preempt_after": after}

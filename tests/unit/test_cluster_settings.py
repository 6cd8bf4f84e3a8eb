"""The ``SETTINGS`` actions of ``puli_mesh.cluster_settings``: arguments checked, key changes decided."""

from __future__ import annotations

from typing import Any

import pytest

from puli_mesh.access import Role
from puli_mesh.cluster_settings import (
    ACTIONS,
    HookAdd,
    HookList,
    HookRemove,
    KeyAdd,
    KeyList,
    KeyRevoke,
    LicenceSet,
    PoolDefine,
    SharePreempt,
    ShareQuota,
    ShareRemove,
    ShareSet,
    added_key,
    live_admins,
    parse,
    revoked_key,
    role_needed,
)
from puli_mesh.coordinator.shares import ShareSpec
from puli_mesh.errors import ConfigError, KeyMaterialError, SettingsRefusedError, UnknownKeyError
from puli_mesh.keys import KeyRecord
from puli_mesh.limits import INT64_MAX

PUBLIC = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
OTHER = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"


def record(name: str, role: Role = Role.USER, public_key: str = PUBLIC, revoked_at: float | None = None) -> KeyRecord:
    return KeyRecord(name, role, public_key, 10.0, revoked_at)


# ---------------------------------------------------------------- parse
def test_each_action_parses_into_its_checked_arguments() -> None:
    assert parse("licence_set", {"name": "mtoa", "total": 20}) == LicenceSet("mtoa", 20)
    assert parse("pool_define", {"name": "gpu"}) == PoolDefine("gpu")
    add = parse("key_add", {"name": "alice", "role": "operator", "public_key": PUBLIC})
    assert add == KeyAdd("alice", Role.OPERATOR, PUBLIC)
    assert isinstance(add, KeyAdd) and add.role is Role.OPERATOR  # the wire's str became the Role
    assert parse("key_revoke", {"name": "alice"}) == KeyRevoke("alice")
    assert parse("key_list", {}) == KeyList()
    share = parse("share_set", {"pool": "default", "account": "film/ana", "min": 2, "max": 0, "weight": 2})
    assert isinstance(share, ShareSet) and share.path == ("film", "ana") and share.spec == ShareSpec(2, 0, 2.0)
    assert parse("share_remove", {"pool": "default", "account": "film"}) == ShareRemove("default", "film")
    assert parse("share_preempt", {"pool": "gpu", "preempt_after": 60}) == SharePreempt("gpu", 60)
    assert parse("share_preempt", {"pool": "gpu", "preempt_after": None}) == SharePreempt("gpu", None)
    assert set(ACTIONS) == {"licence_set", "pool_define", "key_add", "key_revoke", "key_list", "hook_add",
                            "hook_remove", "hook_list", "share_set", "share_remove", "share_preempt",
                            "share_quota"}
    assert parse("share_quota", {"kind": "user", "name": "ana", "max": 0}) == ShareQuota("user", "ana", 0)


def test_each_action_names_the_role_it_needs() -> None:
    assert role_needed(LicenceSet("a", 1)) is Role.OPERATOR
    assert role_needed(PoolDefine("a")) is Role.OPERATOR
    assert role_needed(KeyAdd("a", Role.USER, PUBLIC)) is Role.ADMIN
    assert role_needed(KeyRevoke("a")) is Role.ADMIN
    assert role_needed(KeyList()) is Role.ADMIN


@pytest.mark.parametrize(("action", "args", "error", "message"), [
    ("format_disk", {}, ConfigError, "'format_disk' is not a settings action; known: licence_set"),
    ("licence_set", {"name": "mtoa"}, ConfigError, "licence_set takes name, total; missing: total"),
    ("licence_set", {"name": "mtoa", "total": 1, "colour": "red"}, ConfigError, "unknown: colour"),
    ("key_list", {"all": True}, ConfigError, "key_list takes no arguments; unknown: all"),
    ("licence_set", {"name": "mtoa", "total": -1}, ConfigError, f"total must be a whole number from 0 to {INT64_MAX}"),
    ("licence_set", {"name": "mtoa", "total": INT64_MAX + 1}, ConfigError, "whole number"),
    ("licence_set", {"name": "mtoa", "total": True}, ConfigError, "whole number"),
    ("licence_set", {"name": "mtoa", "total": 2.5}, ConfigError, "whole number"),
    ("licence_set", {"name": "a/b", "total": 1}, ConfigError, "licence name 'a/b' is invalid"),
    ("licence_set", {"name": 7, "total": 1}, ConfigError, "name must be a string"),
    ("pool_define", {"name": ".hidden"}, ConfigError, "pool name '.hidden' is invalid"),
    ("pool_define", {"name": ""}, ConfigError, "pool name '' is invalid"),
    ("key_add", {"name": "../etc", "role": "user", "public_key": PUBLIC}, KeyMaterialError, "may hold only letters"),
    ("key_add", {"name": "bob", "role": "root", "public_key": PUBLIC}, ConfigError,
     "role 'root' is not one of user, operator, admin, node"),
    ("key_add", {"name": "bob", "role": "user", "public_key": "short"}, KeyMaterialError, "40 characters of Z85"),
    ("key_revoke", {"name": ""}, KeyMaterialError, "non-empty string"),
    ("share_set", {"pool": "default", "account": "a/b/c", "min": 0, "max": 0, "weight": 1}, ConfigError,
     "share_set: a share account is PROJECT or PROJECT/USER"),
    ("share_set", {"pool": "default", "account": "a", "min": 5, "max": 2, "weight": 1}, ConfigError,
     "max (2) is below its min (5)"),
    ("share_set", {"pool": "default", "account": "a", "min": 0, "max": 0, "weight": 0}, ConfigError,
     "weight must be a number above 0"),
    ("share_set", {"pool": "a/b", "account": "a", "min": 0, "max": 0, "weight": 1}, ConfigError,
     "pool name 'a/b' is invalid"),
    ("share_remove", {"pool": "default", "account": ""}, ConfigError, "share_remove: a share account's"),
    ("share_quota", {"kind": "team", "name": "x", "max": 1}, ConfigError, "share_quota: a quota is [user|project"),
    ("share_quota", {"kind": "user", "name": "x", "max": -1}, ConfigError, "share_quota: a quota's max"),
    ("share_preempt", {"pool": "default", "preempt_after": -1}, ConfigError, "share_preempt: a share tree's"),
    ("share_preempt", {"pool": "default", "preempt_after": "soon"}, ConfigError, "preempt_after is None (off)"),
])
def test_bad_arguments_are_refused_saying_what_is_wrong(action: str, args: dict[str, Any],
                                                         error: type[Exception], message: str) -> None:
    with pytest.raises(error) as caught:
        parse(action, args)
    assert message in str(caught.value)


def test_the_largest_total_is_accepted() -> None:
    assert parse("licence_set", {"name": "site", "total": INT64_MAX}) == LicenceSet("site", INT64_MAX)
    assert parse("licence_set", {"name": "none", "total": 0}) == LicenceSet("none", 0)


# ---------------------------------------------------------------- key changes
def test_a_new_key_is_recorded_with_its_role_and_the_time_given() -> None:
    made = added_key(KeyAdd("bob", Role.OPERATOR, OTHER), {"alice": record("alice")}, 99.0)
    assert made == KeyRecord("bob", Role.OPERATOR, OTHER, 99.0)


def test_a_live_name_is_not_added_again_but_a_revoked_one_may_be() -> None:
    with pytest.raises(SettingsRefusedError, match="'alice' is registered already.*keys revoke alice"):
        added_key(KeyAdd("alice", Role.USER, OTHER), {"alice": record("alice")}, 99.0)
    again = added_key(KeyAdd("alice", Role.USER, OTHER), {"alice": record("alice", revoked_at=50.0)}, 99.0)
    assert again == KeyRecord("alice", Role.USER, OTHER, 99.0)


def test_one_public_key_belongs_to_one_name() -> None:
    with pytest.raises(SettingsRefusedError, match="registered already, as 'alice'"):
        added_key(KeyAdd("bob", Role.USER, PUBLIC), {"alice": record("alice")}, 99.0)


def test_revoking_marks_the_record_and_keeps_the_first_time() -> None:
    records = {"alice": record("alice"), "root": record("root", Role.ADMIN, OTHER)}
    revoked = revoked_key(KeyRevoke("alice"), records, 99.0)
    assert revoked.revoked_at == 99.0 and revoked.name == "alice"
    twice = revoked_key(KeyRevoke("alice"), {**records, "alice": revoked}, 120.0)
    assert twice is revoked


def test_an_unknown_name_cannot_be_revoked() -> None:
    with pytest.raises(UnknownKeyError, match="no key is named 'nobody'; `puli-mesh keys list`"):
        revoked_key(KeyRevoke("nobody"), {"alice": record("alice")}, 99.0)


def test_the_last_live_admin_key_cannot_be_revoked() -> None:
    root = record("root", Role.ADMIN)
    with pytest.raises(SettingsRefusedError, match="'root' is the last live admin key"):
        revoked_key(KeyRevoke("root"), {"root": root}, 99.0)
    old = record("old", Role.ADMIN, OTHER, revoked_at=5.0)
    with pytest.raises(SettingsRefusedError, match="last live admin"):  # a revoked admin does not count
        revoked_key(KeyRevoke("root"), {"root": root, "old": old}, 99.0)
    other = record("other", Role.ADMIN, OTHER)
    assert revoked_key(KeyRevoke("root"), {"root": root, "other": other}, 99.0).revoked
    assert live_admins({"root": root, "old": old, "other": other}) == ["other", "root"]



# ---------------------------------------------------------------- hooks
def test_hook_actions_parse_checked_and_a_command_hook_needs_an_admin() -> None:
    args = {"name": "ci", "events": ["job_done"], "url": "https://ci.example/x", "command": None,
            "user": None, "pool": None}
    add = parse("hook_add", args)
    assert isinstance(add, HookAdd) and add.hook(5.0).added_at == 5.0
    assert role_needed(add) is Role.OPERATOR
    assert role_needed(parse("hook_add", {**args, "command": "notify-send done"})) is Role.ADMIN
    assert role_needed(parse("hook_remove", {"name": "ci"})) is Role.OPERATOR
    assert role_needed(parse("hook_list", {})) is Role.USER
    assert parse("hook_remove", {"name": "ci"}) == HookRemove("ci") and parse("hook_list", {}) == HookList()
    for bad in ({**args, "url": "gopher://x"}, {**args, "events": ["job_exploded"]}, {**args, "url": None}):
        with pytest.raises(ConfigError):
            parse("hook_add", bad)
    with pytest.raises(ConfigError, match="missing: command, user, pool"):
        parse("hook_add", {"name": "ci", "events": ["job_done"], "url": "http://x"})
    with pytest.raises(ConfigError):
        parse("hook_remove", {"name": "../etc"})

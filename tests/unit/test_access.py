"""The permission table of ``puli_mesh.access``: complete, and each role's rules."""

from __future__ import annotations

from typing import get_args

import pytest

from puli_mesh import access
from puli_mesh.access import (
    EDIT,
    LOGS,
    OWN_JOB_EDITS,
    PERMISSIONS,
    QUERY,
    RENDER_NODE_EDITS,
    SETTINGS,
    SETTINGS_ROLES,
    SUBMIT,
    WORKER_KINDS,
    AccessDecision,
    Role,
    decide,
)
from puli_mesh.cluster_settings import ACTIONS
from puli_mesh.coordinator.client_queries import QUERIES
from puli_mesh.coordinator.edit_actions import EDIT_ACTIONS
from puli_mesh.errors import AccessError, PuliMeshError
from puli_mesh.protocol import KINDS, ClientRequest, WorkerMessage

PEOPLE = (Role.USER, Role.OPERATOR, Role.ADMIN)


# ---------------------------------------------------------------- the table is complete
def test_every_edit_action_and_step_down_has_a_rule() -> None:
    assert {*EDIT_ACTIONS, "step_down"} <= {name for kind, name in PERMISSIONS if kind == EDIT}


def test_every_query_has_a_rule() -> None:
    assert set(QUERIES) <= {name for kind, name in PERMISSIONS if kind == QUERY}


def test_every_client_request_and_worker_kind_has_a_rule() -> None:
    kinds = {kind for kind, _ in PERMISSIONS}
    assert {cls.kind for cls in get_args(ClientRequest)} <= kinds
    assert {cls.kind for cls in get_args(WorkerMessage)} == WORKER_KINDS <= kinds


def test_every_settings_action_has_a_rule_and_the_roles_name_only_actions() -> None:
    assert set(SETTINGS_ROLES) == set(ACTIONS)
    assert set(ACTIONS) <= {name for kind, name in PERMISSIONS if kind == SETTINGS}


def test_the_table_names_only_what_exists() -> None:
    for kind, name in PERMISSIONS:
        assert kind in KINDS
        if kind == EDIT:
            assert name in EDIT_ACTIONS or name == "step_down"
        elif kind == QUERY:
            assert name in QUERIES
        elif kind == SETTINGS:
            assert name in ACTIONS
        else:
            assert name == ""


def test_an_edit_action_in_no_rule_set_gets_no_rule_so_everyone_is_refused() -> None:
    assert access._edit_rule("format_disk") is None  # noqa: SLF001
    for role in Role:
        decision = decide(role, "root", EDIT, "format_disk")
        assert not decision.allowed
        assert decision.needed is None
        assert "EDIT 'format_disk' is not a request any role may make" in decision.message


def test_unknown_kinds_and_queries_are_refused() -> None:
    assert not decide(Role.ADMIN, "a", QUERY, "secrets").allowed
    assert not decide(Role.ADMIN, "a", "RESULT").allowed
    assert not decide(Role.ADMIN, "a", SUBMIT, "pause").allowed  # a SUBMIT has no action


# ---------------------------------------------------------------- user
def test_a_user_submits_as_themselves_but_not_for_someone_else() -> None:
    assert decide(Role.USER, "alice", SUBMIT, None, owner="alice").allowed
    refused = decide(Role.USER, "alice", SUBMIT, None, owner="bob")
    assert not refused.allowed
    assert refused.needed is Role.OPERATOR


@pytest.mark.parametrize("what", sorted(QUERIES))
def test_a_user_may_ask_every_query(what: str) -> None:
    assert decide(Role.USER, "alice", QUERY, what).allowed


@pytest.mark.parametrize("action", sorted(OWN_JOB_EDITS))
def test_a_user_edits_their_own_jobs_only(action: str) -> None:
    assert decide(Role.USER, "alice", EDIT, action, owner="alice").allowed
    other = decide(Role.USER, "alice", EDIT, action, owner="bob")
    assert not other.allowed
    assert other.needed is Role.OPERATOR
    unknown = decide(Role.USER, "alice", EDIT, action, owner=None)  # fail closed
    assert not unknown.allowed
    assert unknown.needed is Role.OPERATOR


def test_a_user_reads_the_logs_of_their_own_jobs_only() -> None:
    assert decide(Role.USER, "alice", LOGS, None, owner="alice").allowed
    assert not decide(Role.USER, "alice", LOGS, None, owner="bob").allowed


@pytest.mark.parametrize("action", sorted(RENDER_NODE_EDITS | {"step_down"}))
def test_a_user_edits_no_render_node_and_cannot_step_down(action: str) -> None:
    assert not decide(Role.USER, "alice", EDIT, action).allowed


def test_setting_a_nodes_pools_or_performance_and_removing_it_are_operators_edits() -> None:
    for action in ("node_set", "pool_set_nodes", "node_remove"):
        assert action in RENDER_NODE_EDITS
        assert decide(Role.OPERATOR, "wrangler", EDIT, action).allowed
        assert not decide(Role.USER, "alice", EDIT, action).allowed


# ---------------------------------------------------------------- operator and admin
@pytest.mark.parametrize("role", [Role.OPERATOR, Role.ADMIN])
def test_operators_and_admins_act_on_any_job_node_and_log(role: Role) -> None:
    for action in OWN_JOB_EDITS:
        assert decide(role, "wrangler", EDIT, action, owner="bob").allowed
        assert decide(role, "wrangler", EDIT, action, owner=None).allowed
    for action in RENDER_NODE_EDITS:
        assert decide(role, "wrangler", EDIT, action).allowed
    assert decide(role, "wrangler", LOGS, None, owner="bob").allowed
    assert decide(role, "wrangler", SUBMIT, None, owner="bob").allowed  # on behalf of bob
    assert all(decide(role, "wrangler", QUERY, what).allowed for what in QUERIES)


def test_only_an_operator_gives_a_job_to_another_user_not_even_its_owner() -> None:
    refused = decide(Role.USER, "alice", EDIT, "set_user", owner="alice")
    assert not refused.allowed and refused.needed is Role.OPERATOR
    assert decide(Role.OPERATOR, "wrangler", EDIT, "set_user", owner="alice").allowed
    assert decide(Role.ADMIN, "root", EDIT, "set_user", owner="alice").allowed


def test_the_owner_edits_the_run_time_values_of_their_jobs_and_commands() -> None:
    for action in ("environment", "arguments", "command_set", "command_done"):
        assert decide(Role.USER, "alice", EDIT, action, owner="alice").allowed
        assert not decide(Role.USER, "alice", EDIT, action, owner="bob").allowed


def test_only_an_admin_steps_the_leader_down() -> None:
    assert decide(Role.ADMIN, "root", EDIT, "step_down").allowed
    refused = decide(Role.OPERATOR, "wrangler", EDIT, "step_down")
    assert not refused.allowed
    assert refused.needed is Role.ADMIN


LICENCE_AND_POOL = ("licence_set", "pool_define")
KEY_ACTIONS = ("key_add", "key_revoke", "key_list")


def test_operators_set_licences_and_pools_and_users_may_not() -> None:
    for action in LICENCE_AND_POOL:
        assert decide(Role.OPERATOR, "wrangler", SETTINGS, action).allowed
        assert decide(Role.ADMIN, "root", SETTINGS, action).allowed
        refused = decide(Role.USER, "alice", SETTINGS, action)
        assert not refused.allowed
        assert refused.needed is Role.OPERATOR
        assert f"SETTINGS {action!r} is not allowed for 'alice' (role user)" in refused.message


def test_only_admins_manage_keys() -> None:
    for action in KEY_ACTIONS:
        assert decide(Role.ADMIN, "root", SETTINGS, action).allowed
        for role in (Role.USER, Role.OPERATOR):
            refused = decide(role, "someone", SETTINGS, action)
            assert not refused.allowed
            assert refused.needed is Role.ADMIN


def test_a_node_key_changes_no_setting() -> None:
    for action in (*LICENCE_AND_POOL, *KEY_ACTIONS):
        refused = decide(Role.NODE, "rn-001", SETTINGS, action)
        assert not refused.allowed
        assert "only the worker protocol" in refused.message


# ---------------------------------------------------------------- node
@pytest.mark.parametrize("kind", sorted(WORKER_KINDS))
def test_only_a_node_key_speaks_the_worker_protocol(kind: str) -> None:
    assert decide(Role.NODE, "rn-001", kind).allowed
    for role in PEOPLE:
        refused = decide(role, "root", kind)
        assert not refused.allowed
        assert refused.needed is Role.NODE


def test_a_node_key_cannot_submit_query_edit_or_read_logs() -> None:
    requests = [(SUBMIT, None), (LOGS, None), (EDIT, "cancel"), (EDIT, "node_pause"), (EDIT, "step_down"),
                *((QUERY, what) for what in QUERIES)]
    for kind, name in requests:
        refused = decide(Role.NODE, "rn-001", kind, name, owner="rn-001")
        assert not refused.allowed, (kind, name)
        assert refused.needed is Role.USER
        assert "only the worker protocol" in refused.message


# ---------------------------------------------------------------- messages and errors
def test_a_refusal_says_what_was_refused_to_whom_and_which_role_is_needed() -> None:
    message = decide(Role.USER, "alice", EDIT, "cancel", owner="bob").message
    assert "EDIT 'cancel' of 'bob'" in message
    assert "'alice' (role user)" in message
    assert "needs role operator" in message
    message = decide(Role.OPERATOR, "wrangler", EDIT, "step_down").message
    assert "needs role admin" in message
    assert "of an unknown owner" in decide(Role.USER, "alice", LOGS, None).message


def test_check_raises_an_access_error_carrying_the_needed_role() -> None:
    decide(Role.USER, "alice", QUERY, "graphs").check()  # allowed: nothing raised
    decision = decide(Role.USER, "alice", EDIT, "node_drain")
    with pytest.raises(AccessError) as caught:
        decision.check()
    assert isinstance(caught.value, PuliMeshError)
    assert caught.value.needed is Role.OPERATOR
    assert str(caught.value) == decision.message


def test_decisions_are_immutable_values() -> None:
    decision = decide(Role.USER, "alice", QUERY, "status")
    assert decision == AccessDecision(True)
    with pytest.raises(AttributeError):
        decision.allowed = False  # type: ignore[misc]


def test_has_rule_tells_an_unknown_action_from_a_known_one() -> None:
    assert access.has_rule("EDIT", "cancel") and access.has_rule("SUBMIT") and access.has_rule("SETTINGS", "key_add")
    assert not access.has_rule("EDIT", "wipe") and not access.has_rule("QUERY", "everything")

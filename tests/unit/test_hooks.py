"""The hook model: what a hook may be, which events it wants, the delivery schedule."""

from __future__ import annotations

import pytest

from puli_mesh import hooks
from puli_mesh.errors import ConfigError
from puli_mesh.hooks import EVENT_KINDS, Hook, check_count, given_up, parse_events, retry_delay


def test_a_hook_round_trips_and_keeps_its_events_once() -> None:
    hook = Hook("ci", ("job_done", "job_error", "job_done"), url="https://ci.example/puli?t=1", user="ana",
                added_at=10.0)
    assert hook.events == ("job_done", "job_error")
    assert Hook.from_data(hook.to_data()) == hook


@pytest.mark.parametrize(("args", "message"), [
    (("", ("job_done",), "http://x"), "invalid"),
    (("a/b", ("job_done",), "http://x"), "invalid"),
    (("x" * (hooks.MAX_HOOK_NAME_CHARS + 1), ("job_done",), "http://x"), "above the limit"),
    (("h", (), "http://x"), "non-empty"),
    (("h", "job_done", "http://x"), "non-empty"),
    (("h", ("job_done", "job_exploded"), "http://x"), "unknown event"),
    (("h", ("job_done",), "ftp://x/y"), "only http"),
    (("h", ("job_done",), "file:///etc/passwd"), "only http"),
    (("h", ("job_done",), "http://"), "only http"),
    (("h", ("job_done",), "http://x/a b"), "whitespace"),
    (("h", ("job_done",), "http://x/" + "a" * hooks.MAX_URL_CHARS), "above the limit"),
    (("h", ("job_done",), None), "a URL to POST to, a command"),
    (("h", ("job_done",), None, "  "), "empty"),
    (("h", ("job_done",), None, "x" * (hooks.MAX_COMMAND_CHARS + 1)), "above the limit"),
    (("h", ("job_done",), 7), "must be a string"),
])
def test_a_bad_hook_is_refused_with_what_is_wrong(args: tuple, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Hook(*args)


def test_unreadable_stored_data_is_a_config_error() -> None:
    for data in (None, [], {"events": ["job_done"]}, {"name": "h", "events": 3, "url": "http://x"}):
        with pytest.raises(ConfigError):
            Hook.from_data(data)


def test_a_hook_wants_its_events_its_user_and_pool_and_nothing_from_before_it() -> None:
    hook = Hook("h", ("job_done", "node_lost"), url="http://x", user="ana", added_at=100.0)
    assert hook.wants("job_done", "ana", "default", 100.0)
    assert not hook.wants("job_error", "ana", "default", 200.0)  # not asked
    assert not hook.wants("job_done", "bob", "default", 200.0)  # another user's job
    assert not hook.wants("job_done", "ana", "default", 99.0)  # before the hook existed
    assert not hook.wants("node_lost", None, None, 200.0)  # a node event has no user: filtered out
    pooled = Hook("p", ("job_done",), url="http://x", pool="gpu")
    assert pooled.wants("job_done", "anyone", "gpu", 1.0) and not pooled.wants("job_done", "anyone", "cpu", 1.0)


def test_events_from_the_command_line() -> None:
    assert parse_events("job_done, job_error,") == ("job_done", "job_error")
    assert parse_events("all") == EVENT_KINDS


def test_the_retry_schedule_doubles_up_to_its_cap_and_gives_up_past_the_horizon() -> None:
    assert [retry_delay(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert retry_delay(9) == 256.0
    assert retry_delay(10) == hooks.RETRY_CAP_S and retry_delay(10_000) == hooks.RETRY_CAP_S
    assert not given_up(1000.0, 1000.0 + hooks.GIVE_UP_S)
    assert given_up(1000.0, 1000.0 + hooks.GIVE_UP_S + 0.1)


def test_the_number_of_hooks_is_bounded_but_one_may_be_replaced() -> None:
    names = [f"h{i}" for i in range(hooks.MAX_HOOKS)]
    check_count(names, "h0")
    with pytest.raises(ConfigError, match="limit"):
        check_count(names, "one-more")


def test_a_command_gets_the_document_and_its_fields_as_variables() -> None:
    document = {"id": "c:3", "kind": "command_failed", "time": 5.0, "cluster": "c",
                "job": {"id": 1, "name": "shot", "user": "ana", "status": "ERROR"},
                "command": {"id": 9, "attempt": 2}, "node": "rn1"}
    env = hooks.command_environment(document, "{...}")
    assert env["PULI_EVENT"] == "{...}" and env["PULI_EVENT_ID"] == "c:3"
    assert (env["PULI_JOB_NAME"], env["PULI_COMMAND_ATTEMPT"], env["PULI_NODE"]) == ("shot", "2", "rn1")
    assert hooks.command_environment({"kind": "node_lost", "node": "rn1"}, "{}")["PULI_JOB_ID"] == ""

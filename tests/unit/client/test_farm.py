"""puliclient.Farm's own logic (bulk edits, log following) against a scripted mesh."""

from __future__ import annotations

from typing import Any

import pytest

from puliclient.farm import Farm, FarmError


class ScriptedFarm(Farm):
    """A Farm whose requests are answered by a function of the test."""

    def __init__(self, answer: Any) -> None:
        super().__init__(node="127.0.0.1:1")
        self.answer = answer
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def request(self, kind: str, **fields: Any) -> Any:
        self.calls.append((kind, fields))
        return self.answer(kind, fields)


def test_bulk_edit_applies_to_every_matching_job_and_refuses_without_a_filter() -> None:
    def answer(kind: str, fields: dict[str, Any]) -> Any:
        if kind == "QUERY":
            assert fields["args"] == {"user": "ana"}
            return [{"id": 3}, {"id": 5}]
        return {"ok": True}

    farm = ScriptedFarm(answer)
    assert farm.edit_jobs("restart", errors_only=True, user="ana") == [3, 5]
    edits = [f for k, f in farm.calls if k == "EDIT"]
    assert edits == [{"action": "restart", "args": {"id": 3, "errors_only": True}},
                     {"action": "restart", "args": {"id": 5, "errors_only": True}}]
    with pytest.raises(FarmError, match="give at least one filter"):
        farm.edit_jobs("cancel")


def test_follow_log_reads_on_until_the_command_is_final_and_drained() -> None:
    log = b"line 1\nline 2\nline 3\n"
    state = {"reads": 0}

    def answer(kind: str, fields: dict[str, Any]) -> Any:
        if kind == "QUERY" and fields["what"] == "command":
            final = state["reads"] >= 3
            return {"id": 9, "status": 5 if final else 3, "status_name": "DONE" if final else "RUNNING",
                    "render_node": None if final else "rn1", "last_node": "rn1"}
        if kind == "QUERY" and fields["what"] == "status":
            return {"nodes": [{"name": "rn1", "endpoint": "tcp://127.0.0.1:2"}]}
        raise AssertionError(kind)

    farm = ScriptedFarm(answer)

    def read_log(command_id: int, offset: int = 0, limit: int = 0) -> dict[str, Any]:
        state["reads"] += 1
        visible = log[: 7 * min(state["reads"], 3)]  # the log grows by one line per read
        chunk = visible[offset:offset + 7]
        return {"data": chunk, "next_offset": offset + len(chunk), "size": len(visible)}

    farm.read_log = read_log  # type: ignore[method-assign]
    assert b"".join(farm.follow_log(9, interval=0.0)) == log


def test_a_command_that_never_ran_has_no_log() -> None:
    farm = ScriptedFarm(lambda kind, fields: {"id": 4, "status": 1, "status_name": "READY",
                                              "render_node": None, "last_node": None})
    with pytest.raises(FarmError, match="has not run yet") as info:
        farm.read_log(4)
    assert info.value.code == "not_found"

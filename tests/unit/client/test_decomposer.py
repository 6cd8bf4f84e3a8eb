"""DefaultTaskDecomposer: ranges, packets, framesList, steps, and bad values."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from puliclient import GraphError, Task


def commands(arguments: dict[str, object]) -> list[tuple[str, dict[str, object]]]:
    task = Task("t", arguments).decompose()
    return [(c.description, c.arguments) for c in task.commands]


def names(arguments: dict[str, object]) -> list[str]:
    return [name for name, _ in commands(arguments)]


def test_range_packets_with_remainder() -> None:
    assert names({"start": 1, "end": 10, "packetSize": 3}) == ["t_1_3", "t_4_6", "t_7_9", "t_10_10"]


def test_packet_larger_than_the_range_is_one_command() -> None:
    assert names({"start": 1, "end": 2, "packetSize": 10}) == ["t_1_2"]


def test_command_arguments_copy_the_task_arguments_with_start_and_end() -> None:
    result = commands({"cmd": "r", "start": 1, "end": 4, "packetSize": 2})
    assert result[1] == ("t_3_4", {"cmd": "r", "start": 3, "end": 4, "packetSize": 2})


def test_frames_list_tokens_are_packetised_one_by_one() -> None:
    result = names({"framesList": "1-5,20,30-33", "packetSize": 2})
    assert result == ["t_1_2", "t_3_4", "t_5_5", "t_20_20", "t_30_31", "t_32_33"]


def test_frames_list_takes_priority_over_start_end() -> None:
    assert names({"start": 1, "end": 100, "framesList": "7"}) == ["t_7_7"]


def test_no_frame_arguments_gives_one_command_named_after_the_task() -> None:
    assert commands({"cmd": "x"}) == [("t", {"cmd": "x"})]


def test_none_arguments_give_one_empty_command() -> None:
    assert commands(None) == [("t", {})]  # type: ignore[arg-type]


def test_step_in_frames_list_one_command_per_stepped_frame() -> None:
    result = commands({"framesList": "1-11x5"})
    assert [name for name, _ in result] == ["t_1_1", "t_6_6", "t_11_11"]
    assert result[0][1]["step"] == 5


def test_step_with_packets_groups_consecutive_stepped_frames() -> None:
    result = commands({"start": 1, "end": 20, "step": 5, "packetSize": 2})
    assert [name for name, _ in result] == ["t_1_6", "t_11_16"]
    assert all(args["step"] == 5 for _, args in result)


def test_explicit_token_step_wins_over_the_step_argument() -> None:
    assert names({"framesList": "1-3x1,10-14", "step": 2}) == [
        "t_1_1", "t_2_2", "t_3_3", "t_10_10", "t_12_12", "t_14_14"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"framesList": "1-a"}, "bad framesList token"),
        ({"start": 5, "end": 1}, "start 5 is after end 1"),
        ({"start": 1, "end": 5, "packetSize": 0}, "packetSize must be >= 1"),
        ({"start": 1, "end": 5, "step": 0}, "step must be >= 1"),
        ({"start": "x", "end": 5}, "cannot decompose"),
    ],
)
def test_bad_values_raise_graph_error_naming_the_task(
    arguments: dict[str, object], message: str
) -> None:
    with pytest.raises(GraphError, match=f"task 't'.*{message}"):
        Task("t", arguments).decompose()


@given(
    start=st.integers(-50, 50),
    length=st.integers(1, 60),
    packet=st.integers(1, 12),
    step=st.integers(1, 7),
)
def test_packets_cover_every_stepped_frame_exactly_once(
    start: int, length: int, packet: int, step: int
) -> None:
    end = start + length - 1
    result = commands({"start": start, "end": end, "packetSize": packet, "step": step})
    covered = [f for _, a in result for f in range(a["start"], a["end"] + 1, a["step"])]
    assert covered == list(range(start, end + 1, step))
    assert all(len(range(a["start"], a["end"] + 1, a["step"])) <= packet for _, a in result)


def test_a_huge_range_is_refused_before_any_command_is_made() -> None:
    with pytest.raises(GraphError, match="makes more than 100000 commands, the limit per task"):
        commands({"cmd": "x", "start": 1, "end": 10**12})
    with pytest.raises(GraphError, match="packets of 1000000 frames are above the limit of 100000"):
        commands({"cmd": "x", "start": 1, "end": 10**12, "packetSize": 10**6})
    assert names({"cmd": "x", "start": 1, "end": 100_000, "packetSize": 100_000}) == ["t_1_100000"]
    assert names({"cmd": "x", "framesList": "1-11x5", "packetSize": 2}) == ["t_1_6", "t_11_11"]

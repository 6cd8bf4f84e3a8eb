"""Formatting helpers of the operating commands: times, ETA, counts, bars, table fitting, user text shown as given."""

from __future__ import annotations

import io

from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from puli_mesh.cli import views
from puliclient.status import CommandStatus, NodeStatus

from .conftest import cells


def test_timing_extrapolates_the_eta_from_completion() -> None:
    job = {"start_time": 1000.0, "end_time": None, "completion": 0.25, "status": NodeStatus.RUNNING,
           "status_name": "RUNNING"}
    _started, elapsed, eta = views.timing(job, now=1060.0)
    assert (elapsed, eta) == ("1m00s", "3m00s")
    assert views.timing({**job, "completion": 0.0}, now=1060.0)[2] == "?"
    assert views.timing({**job, "end_time": 1100.0, "status_name": "DONE"}, now=5000.0)[1:] == ("1m40s", "-")
    assert views.timing({"start_time": None}, now=1.0) == ("-", "-", "-")


def test_a_final_job_without_an_end_time_has_no_eta() -> None:
    # A job canceled before any command ended has no end time: no ETA either.
    for status in (NodeStatus.DONE, NodeStatus.ERROR, NodeStatus.CANCELED):
        job = {"start_time": 1000.0, "end_time": None, "completion": 0.5, "status": int(status)}
        assert views.timing(job, now=1060.0)[2] == "-"
    assert views.timing({"start_time": 1000.0, "completion": 0.5, "status": int(NodeStatus.PAUSED)},
                        now=1060.0)[2] == "1m00s"


def test_counts_put_the_urgent_first() -> None:
    assert views.counts({"DONE": 5, "ERROR": 1, "RUNNING": 2}) == "2 run 1 err 5 done"
    assert views.counts({}) == "-"


def test_every_status_name_has_a_style() -> None:
    names = {s.name for s in CommandStatus} | {s.name for s in NodeStatus}
    assert names <= set(views.STATUS_STYLE)
    assert views.status_text("ERROR").style == "bold red"
    assert views.status_text("draining").style == "blue"
    assert views.status_text("nonsense").plain == "nonsense"


def test_durations_and_clock() -> None:
    assert [views.duration(s) for s in (None, -1, 59, 61, 3 * 3600 + 120, 2 * 86400 + 3600)] == [
        "-", "-", "59s", "1m01s", "3h02m", "2d01h"]
    assert views.clock(None) == "-"
    assert views.clock(1000.0, now=1000.0).count(":") == 2  # today: the time only


def test_bar_is_plain_text_of_the_given_width() -> None:
    assert views.bar(0.5, 10).plain == "█████░░░░░  50%"
    assert views.bar(2.0, 4, percent=False).plain == "████"


def test_fit_keeps_ids_whole_and_lets_free_text_shrink() -> None:
    table = Table("id", "name")
    table.add_row("123456", "a very long job name")
    views.fit(table)
    id_column, name_column = table.columns
    assert id_column.min_width == 6 and name_column.min_width == len("name") + 2
    assert all(c.no_wrap and c.overflow == "ellipsis" for c in table.columns)


def rendered(renderable: RenderableType, width: int = 200) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(renderable)
    out = console.file
    assert isinstance(out, io.StringIO)
    return out.getvalue()


def test_a_row_shows_its_text_cells_as_given(hostile_name: str) -> None:
    name = hostile_name
    table = Table("id", "name", "status", box=None)
    views.add_row(table, "7", name, views.status_text("ERROR"))
    assert cells(rendered(views.fit(table)).splitlines()[1]) == ["7", name, "ERROR"]
    cell = table.columns[1]._cells[0]
    assert isinstance(cell, Text) and cell.plain == name and not cell.spans


def test_a_row_keeps_the_renderables_it_is_given() -> None:
    table = Table("status", "progress")
    status, progress = views.status_text("DONE"), views.bar(1.0, 4)
    views.add_row(table, status, progress)
    assert [c._cells[0] for c in table.columns] == [status, progress]


def test_a_group_s_label_names_its_strategy_unless_fifo() -> None:
    group = {"id": 3, "name": "g", "status_name": "READY", "completion": 0.0, "command_counts": {}}
    fifo = views.tree_label({**group, "strategy": "octopus.dispatcher.strategies.FifoStrategy"}).plain
    assert fifo == views.tree_label(group).plain
    prio = views.tree_label({**group, "strategy": "octopus.dispatcher.strategies.PriorityStrategy"}).plain
    assert prio == fifo + "  PriorityStrategy"


def test_tree_labels_show_names_descriptions_and_messages_as_given(hostile_name: str) -> None:
    name = hostile_name
    task = {"id": 7, "name": name, "status_name": "RUNNING", "completion": 0.5, "command_counts": {"RUNNING": 1},
            "paused": True}
    assert views.tree_label(task).plain == f"7 {name}  RUNNING  50%  1 run  paused"
    command = {"id": 9, "description": name, "status_name": "ERROR", "completion": 0.0, "render_node": name,
               "attempts": 1, "max_attempt": 3, "message": f"first\n{name}\n"}
    label = views.command_label(command)
    assert label.plain == f"command 9 {name}  ERROR  0%  on {name}  attempt 1/3  {name}"
    assert rendered(Tree(views.tree_label(task)).add(label)).strip() == label.plain


def test_a_tree_label_styles_only_what_the_view_chose() -> None:
    task = {"id": 7, "name": "[bold red]x", "status_name": "ERROR", "completion": 0.0}
    label = views.tree_label(task)
    styled = {label.plain[span.start:span.end]: str(span.style) for span in label.spans}
    assert styled == {"7": "bold", "ERROR": "bold red"}


def test_last_line_is_the_last_non_empty_line_cut_to_its_limit() -> None:
    assert views.last_line("one\ntwo [/]\n\n", 50) == "two [/]"
    assert views.last_line("abcdef", 3) == "abc"
    assert views.last_line(None, 10) == views.last_line("  \n", 10) == ""

"""``puli-mesh top``'s shares panel: each share account's use against its guarantee and cap.

The leader's ``QUERY shares`` (``Farm.shares``) lists the accounts of every pool that has a
share tree and none otherwise, so an empty answer means "no panel": a farm without share
trees sees ``top`` as before. The panel lists, per account, ``POOL/PROJECT[/USER]``, its use
(holding commands), its guarantee (``min``), its cap (``max``, ``-`` for none), its weight, and
a flag: :data:`BELOW_MIN` when it is below its guarantee while work of it waits (the row's
``ready``: READY commands of its jobs that are not paused, counted by the leader), :data:`AT_CAP` when its
use has reached its cap. The quotas across pools (``QUERY quotas``, ``Farm.quotas``) follow as
``quota user/NAME`` or ``quota project/NAME`` rows (use and max; :data:`AT_QUOTA` when use has
reached max), and the title names the pools that preempt and after how long (the rows'
``preempt_after``). Flagged rows are listed first: on a fixed screen they are what someone may
need to look at.

Guarantees: pure (data in, rows out: no request, no clock); a row's fields other than those
read here are ignored, so a leader adding fields to ``QUERY shares`` changes nothing here.

Not here: the rule and the figures (``coordinator.shares``, the leader's core), fetching the
data (``top.snapshot``), ``puli-mesh shares list`` (``cli.shares``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.table import Table
from rich.text import Text

import puli_mesh.cli.views as views

TOP_SHARES = 6
"""Accounts one frame lists (the panel's rows); the title counts them all."""

BELOW_MIN = "below min"
"""The flag of an account below its guarantee while work of it waits: it gets the next free slot."""
AT_CAP = "at cap"
"""The flag of an account whose use has reached its cap: it gets no slot until a command ends."""
AT_QUOTA = "at quota"
"""The flag of a quota whose use has reached its max: its user or project gets no slot in any pool."""
FLAG_STYLES = {BELOW_MIN: "bold yellow", AT_CAP: "magenta", AT_QUOTA: "magenta"}


@dataclass(frozen=True, slots=True)
class ShareLine:
    """One row of the panel."""

    account: str  # POOL/PROJECT or POOL/PROJECT/USER, or "quota user/NAME" / "quota project/NAME"
    use: int
    min: int
    max: int  # 0: no cap
    weight: float
    flag: str  # "", BELOW_MIN, AT_CAP or AT_QUOTA
    quota: bool = False  # a quota across pools: no guarantee, no weight


def flag_of(row: dict[str, Any]) -> str:
    """:data:`AT_CAP`, :data:`BELOW_MIN` (only with work waiting: ``ready``) or ``""``."""
    use, cap = row["use"], row["max"]
    if 0 < cap <= use:
        return AT_CAP
    if use < row["min"] and row.get("ready", 0) > 0:  # no ``ready`` from a leader before it: no flag
        return BELOW_MIN
    return ""


def quota_line(row: dict[str, Any]) -> ShareLine:
    """A quota (``QUERY quotas`` row: kind, name, max, use) as a row of the panel."""
    use, cap = row["use"], row["max"]
    return ShareLine(f"quota {row['kind']}/{row['name']}", use, 0, cap, 0.0, AT_QUOTA if use >= cap else "", True)


def share_lines(shares: Sequence[dict[str, Any]], quotas: Sequence[dict[str, Any]] = (),
                limit: int = TOP_SHARES) -> list[ShareLine]:
    """The first ``limit`` rows of the panel: flagged rows first, each group in the leader's
    order (pool, then account), then the quotas."""
    lines = [ShareLine(f"{row['pool']}/{row['account']}", row["use"], row["min"], row["max"], row["weight"],
                       flag_of(row)) for row in shares]
    lines += [quota_line(row) for row in quotas]
    lines.sort(key=lambda line: not line.flag)  # stable: the leader's order inside each group
    return lines[:limit]


def shares_table(lines: list[ShareLine]) -> Table:
    """The panel's table of ``lines``; every cell one line, cut with an ellipsis."""
    table = Table("account", "use", "min", "max", "weight", "", box=None, expand=True, header_style="bold")
    for line in lines:
        views.add_row(table, line.account, str(line.use), "-" if line.quota else str(line.min), str(line.max or "-"),
                      "-" if line.quota else f"{line.weight:g}", Text(line.flag, style=FLAG_STYLES.get(line.flag, "")))
    for column in table.columns:
        column.no_wrap = True
        column.overflow = "ellipsis"
    return table


def preempting(shares: list[dict[str, Any]]) -> dict[str, float]:
    """Each pool that preempts (its rows' ``preempt_after`` is not None) and after how many seconds."""
    return {row["pool"]: row["preempt_after"] for row in shares if row.get("preempt_after") is not None}


def shares_title(shown: int, total: int, preempts: dict[str, float] | None = None) -> str:
    """The panel's title: how many rows of how many, then the pools that preempt (rich cuts a title
    wider than the panel with an ellipsis: the counts come first)."""
    title = "shares" if shown >= total else f"shares ({shown} of {total})"
    if preempts:
        title += ", preempts: " + ", ".join(f"{pool} after {after:g} s" for pool, after in preempts.items())
    return title

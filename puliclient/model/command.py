"""Puli's ``Command`` query model: one command of a task, as the mesh reports it.

Built from the mesh's command view (``Farm.commands``, a tree from ``Farm.graph``) with
Puli's field names: ``attempt`` (attempts that ended), ``renderNode`` (the node that runs or
last ran it), ``nbFrames`` (from the description's last two ``_``-separated numbers, as Puli
counted), ``avgTimeByFrame`` in milliseconds, as Puli's.

Not here: editing a command (``Farm.cancel_command``, ``Farm.restart_command``...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from puliclient.model.labels import StatusModel, fields_of
from puliclient.status import CommandStatus


def frames_of(description: str) -> int:
    """Puli's ``nbFrames``: ``end - start + 1`` from a description ending ``_START_END``, else 0."""
    parts = description.rsplit("_", 2)
    if len(parts) < 3:
        return 0
    try:
        start, end = int(parts[1]), int(parts[2])
    except ValueError:
        return 0
    return end - start + 1


@dataclass(slots=True, eq=False)
class CommandModel(StatusModel):
    """One command; its fields are Puli's ``puliclient.model.command.Command``'s."""

    STATUS_KIND = CommandStatus

    id: int = 0
    description: str = ""
    status: int = 0
    completion: float = 0.0
    attempt: int = 0
    message: str = ""
    renderNode: str | None = None
    nbFrames: int = 0
    arguments: dict[str, Any] = field(default_factory=dict)
    startTime: float | None = None
    endTime: float | None = None
    updateTime: float | None = None
    avgTimeByFrame: float = 0.0
    stats: dict[str, Any] = field(default_factory=dict)
    paused: bool = False
    """Held by ``Farm.pause_command`` (the mesh's; not a Puli field)."""

    @classmethod
    def from_view(cls, view: dict[str, Any]) -> CommandModel:
        """From the mesh's command view."""
        description = str(view.get("description") or "")
        frames = frames_of(description)
        start, end = view.get("start_time"), view.get("end_time")
        per_frame = 1000.0 * (end - start) / frames if frames and start is not None and end is not None else 0.0
        return cls(id=int(view["id"]), description=description, status=int(view["status"]),
                   completion=float(view.get("completion") or 0.0), attempt=int(view.get("attempts") or 0),
                   message=str(view.get("message") or ""),
                   renderNode=view.get("render_node") or view.get("last_node"), nbFrames=frames,
                   arguments=dict(view.get("arguments") or {}), startTime=start, endTime=end,
                   updateTime=view.get("update_time"), avgTimeByFrame=per_frame,
                   stats=dict(view.get("stats") or {}), paused=bool(view.get("paused")))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CommandModel:
        """From Puli's JSON of a command (its ``encode()``)."""
        return cls(**fields_of(cls, data))

    def __repr__(self) -> str:
        return f"Command({self.description})"

    def __str__(self) -> str:
        return f"Command: {self.id} - {self.description}"


Command = CommandModel
"""Puli's name (``from puliclient.model.command import Command``); the class is named apart
from the graph-building ``puliclient.task.Command``."""

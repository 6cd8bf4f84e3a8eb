"""Puli's ``Task`` query model: a task of a job and its commands, as the mesh reports it.

Built from a task's view in a job's tree (``Farm.graph``). A tree view lists at most
the mesh's bound of commands (1,000 for the whole tree): a task whose commands were left
out fetches them all, page after page (``Farm.commands``), the first time ``commands`` is
read. Times per frame are in milliseconds, as Puli's.

``arguments`` and ``environment`` are the task's own (what its group adds is the group's).

Not here: editing a task (``Farm.pause``, ``Farm.set``... take a task's id).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from puliclient.model.command import CommandModel
from puliclient.model.labels import StatusModel, fields_of
from puliclient.status import NodeStatus

if TYPE_CHECKING:
    from puliclient.server.server import Server


def per_frame_ms(seconds: float | None) -> float:
    """The mesh's seconds per frame as Puli's milliseconds (0 when not known, as Puli's default)."""
    return 0.0 if seconds is None else 1000.0 * float(seconds)


@dataclass(slots=True, eq=False)
class TaskModel(StatusModel):
    """One task; its fields are Puli's ``puliclient.model.task.Task``'s."""

    STATUS_KIND = NodeStatus
    NOT_ENCODED = frozenset({"listed", "server"})

    id: int = 0
    name: str = ""
    user: str = ""
    status: int = 0
    creationTime: float | None = None
    startTime: float | None = None
    endTime: float | None = None
    updateTime: float | None = None
    tags: dict[str, Any] = field(default_factory=dict)
    lic: str = ""
    ramUse: int = 0
    completion: float = 0.0
    averageTimeByFrame: float = 0.0
    minTimeByFrame: float = 0.0
    maxTimeByFrame: float = 0.0
    runner: str = ""
    arguments: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    maxAttempt: int = 1
    paused: bool = False
    commandCount: int = 0
    """Every command of the task, listed or not (the mesh's; not a Puli field)."""
    listed: list[CommandModel] = field(default_factory=list, repr=False)
    """The commands the view carried; ``commands`` completes them when some were left out."""
    server: Server | None = field(default=None, repr=False)

    @classmethod
    def from_view(cls, view: dict[str, Any], user: str = "", server: Server | None = None) -> TaskModel:
        """From a task's view in a tree (``commands`` as far as the view lists them)."""
        return cls(id=int(view["id"]), name=str(view["name"]), user=user, status=int(view["status"]),
                   creationTime=view.get("creation_time"), startTime=view.get("start_time"),
                   endTime=view.get("end_time"), tags=dict(view.get("tags") or {}), lic=str(view.get("lic") or ""),
                   ramUse=int(view.get("ramUse") or 0), completion=float(view.get("completion") or 0.0),
                   averageTimeByFrame=per_frame_ms(view.get("avg_time_per_frame_s")),
                   minTimeByFrame=per_frame_ms(view.get("min_time_per_frame_s")),
                   maxTimeByFrame=per_frame_ms(view.get("max_time_per_frame_s")),
                   runner=str(view.get("runner") or ""), arguments=dict(view.get("arguments") or {}),
                   environment=dict(view.get("environment") or {}), maxAttempt=int(view.get("maxAttempt") or 1),
                   paused=bool(view.get("paused")), commandCount=int(view.get("commandCount") or 0),
                   listed=[CommandModel.from_view(c) for c in view.get("commands") or []], server=server)

    @classmethod
    def from_json(cls, data: dict[str, Any], server: Server | None = None) -> TaskModel:
        """From Puli's JSON of a task (its ``encode()``), its commands included."""
        return cls(**fields_of(cls, data), listed=[CommandModel.from_json(c) for c in data.get("commands") or []],
                   server=server)

    @property
    def commands(self) -> list[CommandModel]:
        """Every command of the task: those of the view, or all of them fetched once when the
        view left some out (raises ``RequestError`` if the mesh does not answer)."""
        if len(self.listed) < self.commandCount and self.server is not None:
            with self.server.translated():
                views = self.server.farm.commands(graph=self.id)
            self.listed = [CommandModel.from_view(c) for c in views]
        return self.listed

    def encode(self) -> dict[str, Any]:
        """Puli's ``encode()``: the fields as a dict, the commands encoded."""
        out = self.encoded_fields()
        out["commands"] = [c.encode() for c in self.commands]
        return out

    def __repr__(self) -> str:
        return f"Task({self.name})"

    def __str__(self) -> str:
        return f"Task: {self.id} - {self.name}"


Task = TaskModel
"""Puli's name (``from puliclient.model.task import Task``); the class is named apart from
the graph-building ``puliclient.task.Task``."""

"""Puli's ``Job`` query model: a job (graph), its task groups and tasks, as the mesh reports it.

A job of ``QueueHandler`` is built from the mesh's graph listing (its figures, no tree).
As in Puli, a job is its graph's root: its ``children`` are the root group's (task groups
and tasks, each a ``Job``; a task's ``Job`` has the
:class:`~puliclient.model.task.TaskModel` as ``task``, as in Puli) are fetched with one
``Farm.graph`` the first time they are read, unless the handler was asked with
``recursive=False`` (Puli's answer then had no children either). A tree view carries at
most the mesh's bound of nodes (1,000): a folder whose children were left out says how many
in ``childrenOmitted`` (the mesh has no query for a folder's own subtree yet).

Mutators, which were stubs in Puli, edit the mesh through :class:`~puliclient.farm.Farm`
and update this object when the mesh accepted: ``setDispatchKey``, ``setMaxRn``,
``setPool`` (a graph only), ``setTags``/``updateTags``/``setProd``/``setShot``,
``pause``/``resume``/``cancel``/``restart``. Each returns True, as Puli's did; a refusal
raises ``RequestError`` (``.code`` says why) instead of Puli's logged ``False``.

Times per frame are in milliseconds, as Puli's.
Not here: finding jobs (``puliclient.server.queueHandler``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from puliclient.model.labels import StatusModel, fields_of
from puliclient.model.task import TaskModel, per_frame_ms
from puliclient.status import NodeStatus

if TYPE_CHECKING:
    from puliclient.server.server import Server

TASK_KIND = "Task"
"""The ``type`` of a task's view in the mesh's tree."""


@dataclass(slots=True, eq=False)
class JobModel(StatusModel):
    """A job, a task group or a task's node; its fields are Puli's ``puliclient.model.job.Job``'s."""

    STATUS_KIND = NodeStatus
    NOT_ENCODED = frozenset({"known_children", "known_task", "server"})

    id: int = 0
    name: str = ""
    user: str = ""
    status: int = 0
    creationTime: float | None = None
    updateTime: float | None = None
    startTime: float | None = None
    endTime: float | None = None
    tags: dict[str, Any] = field(default_factory=dict)
    commandCount: int = 0
    doneCommandCount: int = 0
    readyCommandCount: int = 0
    dispatchKey: int = 0
    maxRN: int = 0
    allocatedRN: int = 0
    """Render nodes (slots) its commands hold now."""
    timer: float | None = None
    completion: float = 0.0
    averageTimeByFrame: float = 0.0
    minTimeByFrame: float = 0.0
    maxTimeByFrame: float = 0.0
    dependencies: list[list[Any]] = field(default_factory=list)
    """Puli's ``[[node id, [statuses]], ...]``."""
    poolShares: list[str] = field(default_factory=list)
    """The job's pool (the mesh has one pool per job, no pool shares)."""
    additionnalPoolShares: list[str] = field(default_factory=list)
    pool: str = ""
    paused: bool = False
    childrenOmitted: int = 0
    """Children the mesh's tree view left out (its bound); not a Puli field."""
    known_children: list[JobModel] | None = field(default=None, repr=False)
    """None until the tree is fetched (a job from a listing asked for recursively)."""
    known_task: TaskModel | None = field(default=None, repr=False)
    server: Server | None = field(default=None, repr=False)

    @classmethod
    def from_view(cls, view: dict[str, Any], server: Server | None = None, recursive: bool = True,
                  user: str = "") -> JobModel:
        """From a node's view: a listed graph (its tree fetched later when ``recursive``), or a
        node of a fetched tree (its children from the view)."""
        user = str(view.get("user") or user)
        job = cls(id=int(view["id"]), name=str(view["name"]), user=user, status=int(view["status"]),
                  creationTime=view.get("creation_time"), startTime=view.get("start_time"),
                  endTime=view.get("end_time"), tags=dict(view.get("tags") or {}),
                  commandCount=int(view.get("commandCount") or 0),
                  doneCommandCount=int(view.get("doneCommandCount") or 0),
                  readyCommandCount=int(view.get("readyCommandCount") or 0),
                  dispatchKey=int(view.get("dispatchKey") or 0), maxRN=int(view.get("maxRN") or 0),
                  allocatedRN=int(view.get("running") or 0),
                  timer=view.get("timer"), completion=float(view.get("completion") or 0.0),
                  averageTimeByFrame=per_frame_ms(view.get("avg_time_per_frame_s")),
                  minTimeByFrame=per_frame_ms(view.get("min_time_per_frame_s")),
                  maxTimeByFrame=per_frame_ms(view.get("max_time_per_frame_s")),
                  dependencies=[[d["node"], list(d["statuses"])] for d in view.get("dependencies") or []],
                  poolShares=[str(view["pool"])] if view.get("pool") else [], pool=str(view.get("pool") or ""),
                  paused=bool(view.get("paused")), childrenOmitted=int(view.get("children_omitted") or 0),
                  server=server)
        if view.get("type") == TASK_KIND:
            job.known_task = TaskModel.from_view(view, user, server)
            job.known_children = []
        elif "children" in view:
            job.known_children = [cls.from_view(c, server, user=user) for c in view["children"]]
        elif not recursive or server is None:
            job.known_children = []
        return job

    @classmethod
    def from_json(cls, data: dict[str, Any], server: Server | None = None) -> JobModel:
        """From Puli's JSON of a job (``/query/job``'s items, ``/nodes/<id>``): its fields, its
        ``children`` and ``task`` when given (none: a job asked for without its tree)."""
        job = cls(**fields_of(cls, data), server=server)
        job.known_children = [cls.from_json(c, server) for c in data.get("children") or []]
        if isinstance(data.get("task"), dict):
            job.known_task = TaskModel.from_json(data["task"], server)
        return job

    def _tree(self) -> None:
        """Fetch this job's tree once (a listed graph's children and task)."""
        if self.known_children is not None:
            return
        assert self.server is not None  # from_view leaves the tree unknown only with a server
        with self.server.translated():
            view = self.server.farm.graph(self.id)
        children = view.get("children") or []
        # The mesh's graph node holds the graph's root (a group or a task); Puli's job was that root.
        root = children[0] if len(children) == 1 and not view.get("children_omitted") else view
        tree = JobModel.from_view(root, self.server, user=self.user)
        self.known_children, self.known_task, self.childrenOmitted = (tree.known_children, tree.known_task,
                                                                     tree.childrenOmitted)

    @property
    def children(self) -> list[JobModel]:
        """The task groups and tasks under this node, each a ``Job`` (fetched on first read)."""
        self._tree()
        return self.known_children or []

    @property
    def task(self) -> TaskModel | None:
        """The task, when this node is a task (Puli's TaskNode); None for a job or a group."""
        self._tree()
        return self.known_task

    # ----------------------------------------------------------------- mutators
    def _edit(self, action: str, **args: Any) -> bool:
        if self.server is None:
            from puliclient.server.server import RequestError

            raise RequestError(f"job {self.id} was not read from a mesh: nothing to edit", "invalid")
        with self.server.translated():
            self.server.farm.edit(action, id=self.id, **args)
        return True

    def setDispatchKey(self, prio: int) -> bool:
        """Puli's priority of this node among its siblings."""
        self._edit("set", values={"dispatchKey": int(prio)})
        self.dispatchKey = int(prio)
        return True

    def setMaxRn(self, maxRn: int) -> bool:
        """The most render nodes this node may use at once (-1: no limit)."""
        self._edit("set", values={"maxRN": int(maxRn)})
        self.maxRN = int(maxRn)
        return True

    def setPool(self, pool: str) -> bool:
        """Move the job to another pool (a job's top node only: the mesh has one pool per job)."""
        self._edit("set", values={"pool": str(pool)})
        self.pool, self.poolShares = str(pool), [str(pool)]
        return True

    def updateTags(self, tags: dict[str, Any]) -> bool:
        """Merge ``tags`` into the node's tags (a None value removes that tag)."""
        self._edit("tags", tags=dict(tags))
        for key, value in tags.items():
            if value is None:
                self.tags.pop(key, None)
            else:
                self.tags[key] = value
        return True

    def setTags(self, tags: dict[str, Any]) -> bool:
        """Replace the node's tags by ``tags``."""
        return self.updateTags({**{key: None for key in self.tags if key not in tags}, **tags})

    def setProd(self, prod: str) -> bool:
        return self.updateTags({"prod": prod})

    def setShot(self, shot: str) -> bool:
        return self.updateTags({"shot": shot})

    def pause(self, kill: bool = False) -> bool:
        """Nothing new starts; ``kill`` also stops what runs (it runs again after ``resume``)."""
        self._edit("pause", kill=bool(kill))
        self.paused = True
        return True

    def resume(self) -> bool:
        self._edit("resume")
        self.paused = False
        return True

    def cancel(self) -> bool:
        return self._edit("cancel")

    def restart(self, errorsOnly: bool = False) -> bool:
        """Run again: everything, or only the commands in ERROR or TIMEOUT."""
        return self._edit("restart", errors_only=bool(errorsOnly))

    def encode(self) -> dict[str, Any]:
        """Puli's ``encode()``: the fields as a dict, ``children`` and ``task`` encoded."""
        out = self.encoded_fields()
        out["children"] = [c.encode() for c in self.children]
        if self.task is not None:
            out["task"] = self.task.encode()
        return out

    def __repr__(self) -> str:
        return f"Job({self.name})"

    def __str__(self) -> str:
        return f"Job: {self.id} - {self.name}"


Job = JobModel
"""Puli's name (``from puliclient.model.job import Job``)."""

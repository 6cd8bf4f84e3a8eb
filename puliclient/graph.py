"""``Graph``: the unit of submission — a root node plus user, pool and limits.

A graph builds its representation (docs/graph-schema.md) with
:meth:`Graph.prepareGraphRepresentation` (:class:`GraphDumper`), which
expands groups, decomposes tasks, pushes group dependencies down and
validates (:func:`puliclient.representation.validateRepresentation`);
``save``, ``submit``, ``execute`` start from it; ``loadAndSubmit`` starts
from a saved file (:func:`puliclient.graphfile.load_graph_file`, which
decomposes what Puli saved undecomposed). Sending goes through
:func:`puliclient.submission.submit_representation` only.

Not here: the schema and its check (:mod:`puliclient.representation`), the
transport (:mod:`puliclient.submission`).
"""

from __future__ import annotations

import getpass
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

# Module imports, not ``from puliclient import ...``: no module imports its own
# package's __init__ (which re-exports Graph), and tests patch these modules' functions.
import puliclient.local_execution as local_execution
import puliclient.submission as submission
from puliclient.errors import ConnectionError, GraphError, GraphExecInterrupt
from puliclient.graphfile import load_graph_file
from puliclient.node import DEFAULT_END_STATUS, EMPTY, Node
from puliclient.representation import (
    BY_FRAME,
    Representation,
    command_data,
    plain_data,
    validateRepresentation,
)
from puliclient.status import CommandStatus, NodeStatus
from puliclient.task import Task
from puliclient.taskgroup import TaskGroup

log = logging.getLogger(__name__)


class Graph:
    """``Graph(name, root=None, user=None, poolName='default', maxRN=-1, tags={})``.

    Without ``root`` a TaskGroup named after the graph is the root; a given
    Task or TaskGroup root receives ``tags``. ``user`` defaults to the login
    name; ``maxRN`` -1 means unbounded.
    """

    def __init__(
        self,
        name: str,
        root: Task | TaskGroup | None = None,
        user: str | None = None,
        poolName: str = "default",
        maxRN: int = -1,
        tags: Mapping[str, Any] | None = EMPTY,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise GraphError(f"a graph name must be a non-empty string, not {name!r}")
        self.name = name
        if root is None:
            root = TaskGroup(name, tags=tags)
        elif isinstance(root, Task | TaskGroup):
            root.updateTags(tags or {})
        else:
            raise GraphError(f"graph '{name}': root must be a Task or a TaskGroup, not {root!r}")
        self.root: Task | TaskGroup = root
        self.user = user or getpass.getuser()
        self.poolName = poolName
        self.maxRN = maxRN
        self.meta: dict[str, Any] = {}

    # ------------------------------------------------------------------ building
    def _root_group(self) -> TaskGroup:
        if not isinstance(self.root, TaskGroup):
            raise GraphError(
                f"graph '{self.name}': its root is the task '{self.root.name}', which cannot "
                "hold other nodes; build the graph with a TaskGroup root"
            )
        return self.root

    def add(self, pElem: Task | TaskGroup) -> Task | TaskGroup:
        """Attach a Task or TaskGroup to the root; returns it."""
        root = self._root_group()
        if isinstance(pElem, Task):
            return root.addTask(pElem)
        if isinstance(pElem, TaskGroup):
            return root.addTaskGroup(pElem)
        raise GraphError(f"graph '{self.name}': can only add a Task or a TaskGroup, not {pElem!r}")

    def addList(self, pElemList: Iterable[Task | TaskGroup]) -> None:
        """Attach each node of ``pElemList`` to the root."""
        for element in pElemList:
            self.add(element)

    def addNewTask(self, *args: Any, **kwargs: Any) -> Task:
        """``Task(*args, **kwargs)`` attached to the root."""
        return self._root_group().addNewTask(*args, **kwargs)

    def addNewTaskGroup(self, *args: Any, **kwargs: Any) -> TaskGroup:
        """``TaskGroup(*args, **kwargs)`` attached to the root."""
        return self._root_group().addNewTaskGroup(*args, **kwargs)

    def addNewCallable(
        self,
        targetCall: Callable[..., Any],
        name: str = "",
        user_args: Sequence[Any] = (),
        user_kwargs: Mapping[str, Any] | None = EMPTY,
        **kwargs: Any,
    ) -> Task:
        """A task running ``targetCall`` on a render node (see ``TaskGroup.addNewCallable``)."""
        return self._root_group().addNewCallable(targetCall, name, user_args, user_kwargs,
                                                 **kwargs)

    def addEdges(self, pEdgeList: Iterable[Sequence[Any]]) -> bool:
        """Add dependencies: ``[(source, dest), (source, dest, [statuses]), ...]``.

        ``dest`` waits for ``source`` (default [DONE]). ``ConnectionError`` for an
        edge that is not 2 or 3 items or whose status list is not a list.
        """
        for edge in pEdgeList:
            if isinstance(edge, str) or not isinstance(edge, Sequence) or len(edge) not in (2, 3):
                raise ConnectionError(
                    f"graph '{self.name}': an edge is (source, dest) or (source, dest, [statuses]),"
                    f" not {edge!r}"
                )
            source, destination = edge[0], edge[1]
            statuses = edge[2] if len(edge) == 3 else DEFAULT_END_STATUS
            if len(edge) == 3 and not isinstance(statuses, list | tuple):
                raise ConnectionError(
                    f"graph '{self.name}': the status list of edge {edge!r} must be a list"
                )
            if not isinstance(destination, Node):
                raise ConnectionError(
                    f"graph '{self.name}': edge destination {destination!r} is not a node"
                )
            destination.dependsOn(source, statuses)
        return True

    def addChain(
        self, pEdgeChain: Sequence[Node], pEndStatusList: Iterable[int] = DEFAULT_END_STATUS
    ) -> bool:
        """Chain nodes: each waits for the previous one in any of ``pEndStatusList``."""
        if isinstance(pEdgeChain, str) or not isinstance(pEdgeChain, Sequence):
            raise ConnectionError(f"graph '{self.name}': a chain is a list of nodes")
        if isinstance(pEndStatusList, str) or not isinstance(pEndStatusList, Iterable):
            raise ConnectionError(f"graph '{self.name}': the status list must be a list")
        statuses = list(pEndStatusList)
        return self.addEdges(
            [(source, dest, statuses) for source, dest in zip(pEdgeChain[:-1], pEdgeChain[1:], strict=True)]
        )

    # ------------------------------------------------------------------ representation
    def prepareGraphRepresentation(self) -> dict[str, Any]:
        """Expand and decompose everything, push group dependencies down, validate.

        Returns plain data (docs/graph-schema.md). Raises ``GraphError``
        (``DependencyCycleError`` for a cycle) naming the faulty node.
        """
        return GraphDumper(self).dump()

    def save(self, path: str | Path) -> None:
        """Write the representation as JSON to ``path``.

        Unlike Puli, which saved tasks before decomposition (with empty command
        lists), the file holds the decomposed, validated representation: it can
        be executed or submitted as is.
        """
        data = self.prepareGraphRepresentation()
        Path(path).write_text(json.dumps(data, indent=2), encoding="utf-8")

    def submit(self, host: str | None = None, port: int | None = None) -> tuple[str, str]:
        """Submit to the mesh: ``host:port`` if given, else env ``PULI_NODE``, ``PULI_ZK``, then
        ``PULIHOST``/``PULIPORT``, else puliserver:8004. Any agent will do: a follower
        redirects to the leader. Over HTTP, as Puli did, when ``host`` is an agent's web address
        (``http://agent:8080``) or none is given and ``PULI_URL`` is set.

        Returns ``(location, message)``: ``puli://<leader>/nodes/<id>`` over the mesh protocol,
        Puli's ``http://host:port/nodes/<id>`` over HTTP; raises ``GraphSubmissionError``.
        """
        return submission.submit_representation(self.prepareGraphRepresentation(), host, port)

    @staticmethod
    def loadAndSubmit(
        path: str | Path, host: str | None = None, port: int | None = None
    ) -> tuple[str, str]:
        """Submit a graph file written by ``save`` (ours or Puli's).

        Tasks Puli saved undecomposed (empty ``commands``) are decomposed first,
        as Puli's client did before submitting; then the whole graph is
        validated. Raises ``GraphError`` (naming the node) before anything is
        sent, ``GraphSubmissionError`` if the mesh does not take it.
        """
        return submission.submit_representation(load_graph_file(path), host, port)

    # ------------------------------------------------------------------ local execution
    def execute(self, subprocess: bool = True) -> NodeStatus:
        """Run the whole graph on this machine, in dependency order; return its final status.

        Each command runs in a ``python -m puliclient.commandwatcher`` subprocess
        (``subprocess=False``: in this process, as Puli did). See
        :mod:`puliclient.local_execution` for the rules. Raises
        ``GraphExecInterrupt`` on Ctrl-C after killing what runs.
        """
        data = self.prepareGraphRepresentation()
        return local_execution.execute_representation(data, in_subprocess=subprocess)

    def execNode(self, pCommand: Mapping[str, Any], subprocess: bool = True) -> CommandStatus:
        """Run one command (``{"runner", "arguments", "environment", ...}``) as a worker would.

        In a commandwatcher subprocess (output left on stdout/stderr) or, with
        ``subprocess=False``, in this process. Returns the command status;
        raises ``GraphExecInterrupt`` on Ctrl-C after killing the command.
        """
        run = local_execution.run_in_subprocess if subprocess else local_execution.run_in_process
        try:
            return run(pCommand)
        except KeyboardInterrupt:
            raise GraphExecInterrupt(
                f"interrupted while running {pCommand.get('description', pCommand['runner'])!r}"
            ) from None

    def __repr__(self) -> str:
        """The graph as it stands, as indented JSON (what Puli printed): nothing is expanded,
        decomposed or validated, so printing a graph never changes it."""
        try:
            return json.dumps(GraphDumper(self).as_built(), indent=4)
        except GraphError as exc:  # a repr must not raise: say why there is no JSON instead
            return f"<Graph {self.name!r}: not representable: {exc}>"


def _tags(tags: Mapping[str, Any], where: str) -> dict[str, Any]:
    plain = plain_data(tags, where)
    # Puli's tag hack: 'shot' and 'plan' are synonyms.
    if "shot" in plain and "plan" not in plain:
        plain["plan"] = plain["shot"]
    elif "plan" in plain and "shot" not in plain:
        plain["shot"] = plain["plan"]
    return plain


class GraphDumper:
    """Turns a :class:`Graph` into its representation (expands first), then validates it.

    ``GraphDumper(graph).dump()`` or Puli's call shape ``GraphDumper().dumpGraph(graph)``.
    """

    def __init__(self, graph: Graph | None = None) -> None:
        self.graph = graph

    def dumpGraph(self, graph: Graph) -> Representation:
        """Puli's call shape: the representation of ``graph``, expanded and validated as
        :meth:`dump` gives it (Puli's dumped what its caller had expanded, or empty command
        lists; a representation the mesh would refuse is no use to a script)."""
        self.graph = graph
        return self.dump()

    def dump(self) -> Representation:
        """Expand and decompose the graph, then its validated representation."""
        data = self._representation(expand=True)
        validateRepresentation(data)
        return data

    def as_built(self) -> Representation:
        """The representation of the graph as it stands: nothing expanded, decomposed or
        validated (tasks not decomposed yet have no commands). For ``repr``."""
        return self._representation(expand=False)

    def _representation(self, expand: bool) -> Representation:
        if self.graph is None:
            raise GraphError("GraphDumper needs a graph: GraphDumper(graph) or dumpGraph(graph)")
        root = self.graph.root
        if isinstance(root, TaskGroup):
            if expand:
                root.expand(root)
            nodes = root.walk()
        else:
            if expand:
                root.decompose()
            nodes = [root]
        index = {id(node): i for i, node in enumerate(nodes)}
        dumped = [self._dump_node(node, index) for node in nodes]
        self._push_down_group_dependencies(nodes, dumped, index)
        data: Representation = {
            "name": self.graph.name,
            "meta": plain_data(self.graph.meta, f"graph '{self.graph.name}' meta"),
            "root": 0,
            "tasks": dumped,
            "user": self.graph.user,
            "poolName": self.graph.poolName,
            "maxRN": self.graph.maxRN,
        }
        return data

    def _dump_node(self, node: Node, index: Mapping[int, int]) -> dict[str, Any]:
        assert self.graph is not None
        kind = "task" if isinstance(node, Task) else "group"
        where = f"{kind} '{node.name}'"
        dependencies = []
        for source, statuses in node.dependencies.items():
            if id(source) not in index:
                raise GraphError(
                    f"{where} depends on '{source.name}', which is not in graph "
                    f"'{self.graph.name}'; add it to the graph first"
                )
            dependency: list[Any] = [index[id(source)], [int(s) for s in statuses]]
            if source in node.frame_sources:
                dependency.append({BY_FRAME: True})
            dependencies.append(dependency)
        common = {
            "name": node.name,
            "arguments": plain_data(node.arguments, f"{where} arguments"),
            "environment": plain_data(node.environment, f"{where} environment"),
            "dependencies": dependencies,
            "requirements": plain_data(node.requirements, f"{where} requirements"),
            "maxRN": node.maxRN,
            "priority": node.priority,
            "dispatchKey": node.dispatchKey,
            "tags": _tags(node.tags, f"{where} tags"),
            "timer": node.timer,
        }
        if isinstance(node, TaskGroup):
            children = [index[id(child)] for child in (*node.tasks, *node.taskGroups)]
            return {"type": "TaskGroup", **common, "strategy": node.strategy, "tasks": children}
        assert isinstance(node, Task)
        commands = [
            command_data(command.description, node.name, command.arguments, where)
            for command in node.commands
        ]
        gpus = {"gpus": node.gpus} if node.gpus else {}  # absent from Puli's graphs: only when asked
        task: dict[str, Any] = {
            "type": "Task",
            **common,
            "runner": node.runner,
            "validationExpression": node.validator,
            "minNbCores": node.minNbCores,
            "maxNbCores": node.maxNbCores,
            "ramUse": node.ramUse,
            "commands": commands,
            "lic": node.lic,
            "licence": node.lic,
            "maxAttempt": node.maxAttempt,
            "runnerPackages": node.runnerPackages,
            "watcherPackages": node.watcherPackages,
            **gpus,
        }
        if node.idleTimeout is not None:  # absent otherwise: the files of tasks without one stay Puli's
            task["idleTimeout"] = node.idleTimeout
        if node.killOnRamOveruse:  # as idleTimeout: absent unless set
            task["killOnRamOveruse"] = node.killOnRamOveruse
        return task

    @staticmethod
    def _push_down_group_dependencies(
        nodes: list[Node], dumped: list[dict[str, Any]], index: Mapping[int, int]
    ) -> None:
        for i, node in enumerate(nodes):
            if not isinstance(node, TaskGroup) or not dumped[i]["dependencies"]:
                continue
            for descendant in node.walk():
                if isinstance(descendant, Task):
                    own = dumped[index[id(descendant)]]["dependencies"]
                    for dependency in dumped[i]["dependencies"]:
                        if dependency not in own:
                            own.append([dependency[0], list(dependency[1]), *dependency[2:]])

"""``TaskGroup``: a folder of tasks and groups, with inherited arguments and environment.

A group's dependencies are pushed down to every task inside it when the
representation is built (the group keeps them too). An expander, if given,
runs once on ``expand()``; then child tasks are decomposed and child groups
expanded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from puliclient.errors import GraphError
from puliclient.jobs import TaskExpander, loadTaskExpander
from puliclient.node import EMPTY, Node
from puliclient.runner import callable_arguments
from puliclient.strategies import FIFO_STRATEGY
from puliclient.task import Task

CALLABLE_RUNNER = "puliclient.CallableRunner"


class TaskGroup(Node):
    """``TaskGroup(name, expander=None, arguments={}, tags={}, environment={}, timer=None,
    priority=0, dispatchKey=0)``."""

    def __init__(
        self,
        name: str,
        expander: str | None = None,
        arguments: Mapping[str, Any] | None = EMPTY,
        tags: Mapping[str, Any] | None = EMPTY,
        environment: Mapping[str, str] | None = EMPTY,
        timer: float | None = None,
        priority: int = 0,
        dispatchKey: int = 0,
    ) -> None:
        super().__init__(name, arguments, environment, tags, timer, priority, dispatchKey)
        self.expander = expander
        self._expander_class: type[TaskExpander] | None = (
            loadTaskExpander(expander) if expander else None
        )
        self.expanded = False
        self.strategy = FIFO_STRATEGY
        self.tasks: list[Task] = []
        self.taskGroups: list[TaskGroup] = []

    @classmethod
    def createFromTask(cls, task: Task) -> TaskGroup:
        """A new group named after ``task`` with copies of its arguments, environment, tags,
        timer, priority, dispatchKey, requirements and dependencies. The task itself is not
        added."""
        group = cls(
            task.name,
            arguments=dict(task.arguments),
            tags=task.tags,
            environment=dict(task.environment),
            timer=task.timer,
            priority=task.priority,
            dispatchKey=task.dispatchKey,
        )
        group.requirements = dict(task.requirements)
        for node, statuses in task.dependencies.items():
            group.dependsOn(node, statuses, byFrame=node in task.frame_sources)
        return group

    def addTask(self, task: Task) -> Task:
        """Attach ``task`` to this group; ``GraphError`` if it is not a Task or has a parent."""
        if not isinstance(task, Task):
            raise GraphError(f"group '{self.name}': addTask needs a Task, not {task!r}")
        task.attach_to(self)
        self.tasks.append(task)
        return task

    def addTaskGroup(self, taskGroup: TaskGroup) -> TaskGroup:
        """Attach ``taskGroup``; ``GraphError`` if not a TaskGroup, already attached, or an
        ancestor of this group."""
        if not isinstance(taskGroup, TaskGroup):
            raise GraphError(
                f"group '{self.name}': addTaskGroup needs a TaskGroup, not {taskGroup!r}"
            )
        ancestor: TaskGroup | None = self
        while ancestor is not None:
            if ancestor is taskGroup:
                raise GraphError(f"group '{taskGroup.name}' cannot contain itself")
            ancestor = ancestor.parent
        taskGroup.attach_to(self)
        self.taskGroups.append(taskGroup)
        return taskGroup

    def addNewTask(self, *args: Any, **kwargs: Any) -> Task:
        """``Task(*args, **kwargs)`` attached to this group."""
        return self.addTask(Task(*args, **kwargs))

    def addNewTaskGroup(self, *args: Any, **kwargs: Any) -> TaskGroup:
        """``TaskGroup(*args, **kwargs)`` attached to this group."""
        return self.addTaskGroup(TaskGroup(*args, **kwargs))

    def addNewCallable(
        self,
        targetCall: Callable[..., Any],
        name: str = "",
        user_args: Sequence[Any] = (),
        user_kwargs: Mapping[str, Any] | None = EMPTY,
        runner: str = CALLABLE_RUNNER,
        **kwargs: Any,
    ) -> Task:
        """A task running ``targetCall(*user_args, **user_kwargs)`` on a render node.

        The callable must be importable there (not defined in ``__main__``) and
        its arguments JSON-serialisable, otherwise ``GraphError``. Extra keyword
        arguments go to ``Task``.
        """
        label, arguments = callable_arguments(targetCall, user_args, user_kwargs)
        return self.addNewTask(name or label, arguments, runner=runner, **kwargs)

    def expand(self, hierarchy: TaskGroup | None = None) -> TaskGroup:
        """Run the expander once, then decompose child tasks and expand child groups.

        Depth first, each group's expander before its tasks and groups; a loop over an
        explicit stack (groups may be nested deeper than Python's stack), which reads each
        group's ``taskGroups`` as it goes, so groups an expander adds are expanded too.
        """
        stack: list[tuple[TaskGroup, int]] = [(self, -1)]  # -1: not expanded yet
        while stack:
            group, next_child = stack.pop()
            if next_child < 0:
                if not group.expanded and group._expander_class is not None:
                    group._expander_class(group)
                group.expanded = True
                for task in group.tasks:
                    task.decompose()
                next_child = 0
            if next_child < len(group.taskGroups):
                stack.append((group, next_child + 1))
                stack.append((group.taskGroups[next_child], -1))
        return self

    def walk(self) -> list[Node]:
        """This group and every node under it, parents before children: each group, its
        tasks, then each of its groups' walk (a loop: groups may be nested deep)."""
        nodes: list[Node] = []
        stack: list[TaskGroup] = [self]
        while stack:
            group = stack.pop()
            nodes += [group, *group.tasks]
            stack.extend(reversed(group.taskGroups))
        return nodes

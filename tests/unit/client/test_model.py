"""Graph, TaskGroup, Task, Command: building, defaults, dependencies and their errors."""

from __future__ import annotations

import pytest

from puliclient import (
    DONE,
    ERROR,
    RUNNING,
    Command,
    ConnectionError,
    Graph,
    GraphError,
    HierarchicalDict,
    JobTypeImportError,
    Task,
    TaskAlreadyDecomposedError,
    TaskGroup,
)


def test_graph_without_root_creates_a_root_group_with_the_tags() -> None:
    graph = Graph("g", tags={"prod": "p"}, user="alice")
    assert isinstance(graph.root, TaskGroup)
    assert graph.root.name == "g" and graph.root.tags == {"prod": "p"}
    assert (graph.user, graph.poolName, graph.maxRN) == ("alice", "default", -1)


def test_graph_with_a_task_root_refuses_children() -> None:
    task = Task("t", {"cmd": "true"})
    graph = Graph("g", root=task, tags={"a": 1})
    assert task.tags == {"a": 1}
    with pytest.raises(GraphError, match="root is the task 't'"):
        graph.addNewTask("u", {"cmd": "true"})
    with pytest.raises(GraphError):
        graph.add(Task("v", {}))


def test_graph_refuses_a_bad_root_and_adding_a_non_node() -> None:
    with pytest.raises(GraphError, match="root must be a Task or a TaskGroup"):
        Graph("g", root="nope")  # type: ignore[arg-type]
    with pytest.raises(GraphError, match="can only add"):
        Graph("g").add(42)  # type: ignore[arg-type]


def test_add_and_addlist_attach_to_the_root() -> None:
    graph = Graph("g")
    a, b, group = Task("a", {}), Task("b", {}), TaskGroup("grp")
    assert graph.add(a) is a
    graph.addList([b, group])
    assert graph.root.tasks == [a, b] and graph.root.taskGroups == [group]
    assert a.parent is graph.root


def test_a_node_has_a_single_parent() -> None:
    graph = Graph("g")
    task = graph.addNewTask("t", {})
    other = TaskGroup("other")
    with pytest.raises(GraphError, match="already belongs to group 'g'"):
        other.addTask(task)


def test_a_group_cannot_contain_itself() -> None:
    outer = TaskGroup("outer")
    inner = outer.addNewTaskGroup("inner")
    with pytest.raises(GraphError, match="cannot contain itself"):
        inner.addTaskGroup(outer)


def test_add_task_type_checks() -> None:
    group = TaskGroup("g")
    with pytest.raises(GraphError, match="addTask needs a Task"):
        group.addTask(TaskGroup("x"))  # type: ignore[arg-type]
    with pytest.raises(GraphError, match="addTaskGroup needs a TaskGroup"):
        group.addTaskGroup(Task("x", {}))  # type: ignore[arg-type]


def test_documented_defaults_of_task() -> None:
    task = Task("t", {"cmd": "x"})
    assert task.runner == "puliclient.jobs.DefaultCommandRunner"
    assert task.decomposer == "puliclient.jobs.DefaultTaskDecomposer"
    assert (task.maxRN, task.priority, task.dispatchKey, task.validator) == (0, 0, 0, "0")
    assert (task.minNbCores, task.maxNbCores, task.ramUse, task.lic) == (1, 0, 0, "")
    assert (task.timer, task.maxAttempt) == (None, 1)
    assert task.dependencies == {} and task.environment == {} and task.tags == {}


def test_defaults_are_never_shared_between_nodes() -> None:
    a, b = Task("a", {}), Task("b", {})
    a.tags["x"] = 1
    a.environment["E"] = "1"
    a.requirements["softs"] = ["maya"]
    assert b.tags == {} and b.environment == {} and b.requirements == {}
    g1, g2 = TaskGroup("g1"), TaskGroup("g2")
    g1.arguments["k"] = 1
    assert g2.arguments == {}


def test_constructor_arguments_are_copied() -> None:
    arguments = {"cmd": "x"}
    task = Task("t", arguments)
    task.arguments["cmd"] = "y"
    assert arguments == {"cmd": "x"}


def test_empty_name_is_refused() -> None:
    with pytest.raises(GraphError, match="non-empty string"):
        Task("", {})
    with pytest.raises(GraphError):
        Graph("")


def test_depends_on_default_status_and_errors() -> None:
    a, b = Task("a", {}), Task("b", {})
    b.dependsOn(a)
    assert b.dependencies == {a: [DONE]}
    b.dependsOn(a, [DONE, ERROR])
    assert b.dependencies[a] == [DONE, ERROR]
    with pytest.raises(ConnectionError, match="not a node status"):
        b.dependsOn(a, [42])
    with pytest.raises(ConnectionError, match="must be a list"):
        b.dependsOn(a, "3")  # type: ignore[arg-type]
    with pytest.raises(ConnectionError, match="empty"):
        b.dependsOn(a, [])
    with pytest.raises(ConnectionError, match="only depend on a Task or a TaskGroup"):
        b.dependsOn("a")  # type: ignore[arg-type]
    with pytest.raises(ConnectionError, match="itself"):
        b.dependsOn(b)


def test_dependencies_constructor_argument() -> None:
    a = Task("a", {})
    b = Task("b", {}, dependencies={a: [ERROR]})
    assert b.dependencies == {a: [ERROR]}


def test_add_edges_and_its_errors() -> None:
    graph = Graph("g")
    a, b, c = (graph.addNewTask(n, {}) for n in "abc")
    assert graph.addEdges([(a, b), (a, c, [ERROR])]) is True
    assert b.dependencies == {a: [DONE]} and c.dependencies == {a: [ERROR]}
    with pytest.raises(ConnectionError, match="an edge is"):
        graph.addEdges([(a,)])
    with pytest.raises(ConnectionError, match="an edge is"):
        graph.addEdges([(a, b, [DONE], "extra")])
    with pytest.raises(ConnectionError, match="must be a list"):
        graph.addEdges([(a, b, DONE)])
    with pytest.raises(ConnectionError, match="not a node"):
        graph.addEdges([(a, "b")])


def test_add_chain() -> None:
    graph = Graph("g")
    a, b, c = (graph.addNewTask(n, {}) for n in "abc")
    assert graph.addChain([a, b, c], [DONE, ERROR])
    assert a.dependencies == {}
    assert b.dependencies == {a: [DONE, ERROR]} and c.dependencies == {b: [DONE, ERROR]}
    with pytest.raises(ConnectionError):
        graph.addChain([a, b], 3)  # type: ignore[arg-type]
    with pytest.raises(ConnectionError):
        graph.addChain("ab")  # type: ignore[arg-type]


def test_decompose_twice_does_not_duplicate_commands() -> None:
    task = Task("t", {"cmd": "x", "start": 1, "end": 4, "packetSize": 2})
    task.decompose()
    task.decompose()
    assert [c.description for c in task.commands] == ["t_1_2", "t_3_4"]


def test_adding_a_command_after_decomposition_raises() -> None:
    task = Task("t", {"cmd": "x"}).decompose()
    with pytest.raises(TaskAlreadyDecomposedError, match="task 't' was already decomposed"):
        task.addCommand("extra", {})


def test_manual_commands_with_no_decomposer() -> None:
    task = Task("t", {"cmd": "base"}, decomposer=None)
    command = task.addCommand("first", {"cmd": "one"})
    task.decompose()
    assert isinstance(command, Command) and command.task is task
    assert [c.description for c in task.commands] == ["first"]
    assert task.canBeDecomposed is False


def test_changing_the_decomposer_resets_commands() -> None:
    task = Task("t", {"cmd": "x"}).decompose()
    task.decomposer = "puliclient.jobs.DefaultTaskDecomposer"
    assert task.commands == [] and task.decomposed is False


def test_unknown_decomposer_and_expander_raise_job_type_import_error() -> None:
    with pytest.raises(JobTypeImportError, match="no.such.module"):
        Task("t", {}, decomposer="no.such.module.Decomposer")
    with pytest.raises(JobTypeImportError, match="not a subclass"):
        TaskGroup("g", expander="clienthelpers.NotARunner")


def test_expander_runs_once_then_children_are_decomposed() -> None:
    group = TaskGroup("g", expander="clienthelpers.TwoTasksExpander")
    group.expand(group)
    group.expand(group)
    assert [t.name for t in group.tasks] == ["expanded1", "expanded2"]
    assert all(t.decomposed for t in group.tasks)


def test_command_copies_its_arguments() -> None:
    arguments = {"a": 1}
    command = Command("c", Task("t", {}), arguments)
    command.arguments["a"] = 2
    assert arguments == {"a": 1}


def test_set_env_replaces_and_update_tags_merges() -> None:
    group = TaskGroup("g", environment={"A": "1"}, tags={"x": 1})
    group.setEnv({"B": "2"})
    group.updateTags({"y": 2})
    assert group.environment == {"B": "2"} and group.tags == {"x": 1, "y": 2}


def test_create_from_task_copies_settings_but_not_the_task() -> None:
    source = Task("src", {})
    task = Task("t", {"a": 1}, environment={"E": "v"}, tags={"k": 1}, timer=5.0,
                dispatchKey=3, dependencies={source: [ERROR]})
    group = TaskGroup.createFromTask(task)
    assert (group.name, dict(group.arguments), dict(group.environment)) == (
        "t", {"a": 1}, {"E": "v"})
    assert (group.tags, group.timer, group.dispatchKey) == ({"k": 1}, 5.0, 3)
    assert group.dependencies == {source: [ERROR]} and group.tasks == []


def test_create_from_task_keeps_the_requirements_as_a_copy() -> None:
    task = Task("t", {}, requirements={"softs": ["nuke"], "os": "linux"})
    group = TaskGroup.createFromTask(task)
    assert group.requirements == {"softs": ["nuke"], "os": "linux"}
    group.requirements["os"] = "windows"
    assert task.requirements["os"] == "linux"


def test_hierarchical_dict_falls_back_on_item_access_only() -> None:
    parent = HierarchicalDict(None, {"a": 1, "b": 1})
    child = HierarchicalDict(parent, {"b": 2})
    assert child["a"] == 1 and child["b"] == 2
    assert "a" not in child and child.get("a") is None and dict(child) == {"b": 2}
    assert child.flattened() == {"a": 1, "b": 2}
    with pytest.raises(KeyError):
        child["missing"]


def test_children_inherit_arguments_through_their_parent() -> None:
    group = TaskGroup("g", arguments={"shot": "s01"}, environment={"E": "g"})
    task = group.addNewTask("t", {"cmd": "x"})
    assert task.arguments["shot"] == "s01" and task.environment["E"] == "g"


def test_groups_nested_deeper_than_the_stack_are_expanded_and_walked_in_order() -> None:
    graph = Graph("deep")
    group = graph.root
    levels = [group]
    for i in range(1000):  # at Python's default recursion limit
        group = group.addNewTaskGroup(f"g{i}", expander="clienthelpers.TwoTasksExpander" if i == 999 else None)
        group.addNewTask(f"t{i}", {"cmd": "true"})
        levels.append(group)
    graph.root.addNewTask("last", {"cmd": "true"})
    graph.root.expand()
    assert all(g.expanded for g in levels)
    assert [t.name for t in group.tasks] == ["t999", "expanded1", "expanded2"]
    assert all(len(t.commands) == 1 for g in levels for t in g.tasks)  # every task decomposed
    names = [n.name for n in graph.root.walk()]
    expected = ["deep", "last"]
    for i in range(1000):
        expected += [f"g{i}", f"t{i}"]
    assert names == [*expected, "expanded1", "expanded2"]


def test_depends_on_by_frame() -> None:
    a, b = Task("a", {}), Task("b", {})
    b.dependsOn(a, byFrame=True)
    assert b.dependencies == {a: [DONE]} and b.frame_sources == {a}
    with pytest.raises(ConnectionError, match="final statuses only"):
        b.dependsOn(a, [RUNNING], byFrame=True)
    with pytest.raises(ConnectionError, match="True or False"):
        b.dependsOn(a, byFrame="yes")  # type: ignore[arg-type]
    b.dependsOn(a)  # an ordinary dependency replaces it
    assert b.frame_sources == set()

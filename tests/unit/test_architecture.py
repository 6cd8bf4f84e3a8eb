"""The layering rules of docs/architecture.md, checked on the source itself (no imports run).

* No import cycle between the modules of ``puli_mesh`` and ``puliclient``: imports inside
  functions and under ``TYPE_CHECKING`` count, since they hide a cycle rather than remove it.
* In ``puli_mesh/coordinator/`` only the shells (``SHELLS``) import zmq or kazoo, and no other
  module reads a clock: the rules take time as an argument.
* The pure state machines outside the coordinator (``PURE``) import neither and read no clock.
* No module is longer than ``MAX_LINES``.
* One class per name across both packages (puliclient keeps Puli's names; the core's differ).
* Every document a file names is in the repository.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("puli_mesh", "puliclient", "octopus")
SHELLS = {"puli_mesh.coordinator.service", "puli_mesh.coordinator.journal", "puli_mesh.coordinator.hook_delivery"}
PURE = {"puli_mesh.node.role", "puli_mesh.access", "puli_mesh.cluster_settings"}
MAX_LINES = 600
IO_LIBRARIES = ("zmq", "kazoo")
CLOCKS = {("time", "time"), ("time", "monotonic"), ("time", "perf_counter"), ("time", "time_ns"),
          ("time", "monotonic_ns"), ("datetime", "now"), ("datetime", "utcnow"), ("date", "today")}


def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imported_names(name: str, path: Path) -> Iterator[str]:
    """Every dotted name ``path`` imports, anywhere in the file, relative imports resolved."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package[:len(package) - (node.level - 1)]
                base = ".".join([*parent, base] if base else parent)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def import_graph() -> dict[str, set[str]]:
    known = modules()
    graph: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        for target in imported_names(name, path):
            while target and target not in known:  # `from pkg.mod import Class` -> pkg.mod
                target = target.rpartition(".")[0]
            if target and target != name:
                graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def imports_io(path: Path) -> bool:
    names = imported_names("x", path)
    return any(n == lib or n.startswith(lib + ".") for n in names for lib in IO_LIBRARIES)


def clock_reads(path: Path) -> list[int]:
    """Lines calling ``time.time()``, ``datetime.now()`` and the like."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            owner_name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")
            if (owner_name, node.func.attr) in CLOCKS:
                lines.append(node.lineno)
    return lines


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_between_modules() -> None:
    assert cycles(import_graph()) == []


def test_only_the_coordinators_shells_do_io_and_no_other_module_of_it_reads_a_clock() -> None:
    coordinator = {n: p for n, p in modules().items() if n.startswith("puli_mesh.coordinator.")}
    assert {n for n, p in coordinator.items() if imports_io(p)} <= SHELLS
    readers = {n: clock_reads(p) for n, p in coordinator.items() if n not in SHELLS}
    assert {n: lines for n, lines in readers.items() if lines} == {}


def test_the_pure_state_machines_do_no_io_and_read_no_clock() -> None:
    known = modules()
    for name in PURE:
        assert not imports_io(known[name]), name
        assert clock_reads(known[name]) == [], name


def test_no_module_is_longer_than_the_limit() -> None:
    lengths = {n: len(p.read_text().splitlines()) for n, p in modules().items()}
    assert {n: count for n, count in lengths.items() if count > MAX_LINES} == {}


def test_one_class_per_name() -> None:
    homes: dict[str, list[str]] = {}
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                homes.setdefault(node.name, []).append(name)
    assert {cls: where for cls, where in homes.items() if len(where) > 1} == {}


def test_every_document_a_file_names_is_in_the_repository() -> None:
    """A ``*.md`` named in code or docs must exist here: a newcomer has only the repository."""
    known = {p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*.md") if not {".venv", ".git"} & set(p.parts)}
    names = {ref.rsplit("/", 1)[-1] for ref in known}
    files = [p for p in ROOT.rglob("*") if p.suffix in (".py", ".md", ".toml", ".sh", ".cfg")
             and not {".venv", ".git", "node_modules", "legacy"} & set(p.parts)]
    missing = {(str(p.relative_to(ROOT)), ref) for p in files
               for ref in re.findall(r"[\w./-]+\.md\b", p.read_text())
               if ref not in known and ref.rsplit("/", 1)[-1] not in names}
    assert missing == set()

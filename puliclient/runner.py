"""``CallableRunner``: run an importable Python function or method as a command.

Client side, :func:`callable_arguments` describes the callable by import path
(module, function or class + method) and its arguments as JSON text, never as
pickled code. Render-node side, :class:`CallableRunner` imports it and calls it.

Functions defined in ``__main__`` (the submitting script), lambdas and nested
functions are refused with a ``GraphError``: a render node cannot import
them, and importing the script by its file path would run its top-level code
(usually: build and submit the graph again). Move the function into a module.

``sysPath`` is the callable's module root first, then the client's own
``sys.path`` (as Puli sent it), so what the callable imports from the studio's
paths is found on the render node too; the node appends what it lacks.

``RunnerToolkit`` is importable from here too, where Puli's runners found it.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from puliclient.errors import CommandError, GraphError
from puliclient.jobs import CommandRunner, RunnerToolkit, StringListParameter, StringParameter

# Puli's runner module held RunnerToolkit too: ``from puliclient.runner import RunnerToolkit``.
__all__ = ["CallableRunner", "RunnerToolkit", "callable_arguments"]


def _module_root(module_name: str) -> str | None:
    """The sys.path entry from which ``module_name`` was imported, if it is a file."""
    module = sys.modules.get(module_name)
    file = getattr(module, "__file__", None)
    if not file:
        return None
    path = Path(file).resolve().parent
    depth = module_name.count(".") + (1 if Path(file).name == "__init__.py" else 0)
    for _ in range(depth):
        path = path.parent
    return str(path)


def client_sys_path(first: str | None) -> list[str]:
    """``first`` (when given), then this process's ``sys.path`` as absolute paths, each once.

    Relative entries (``''`` is the current directory) are made absolute here: on a render
    node they would name another directory."""
    entries: list[str] = []
    for entry in [first, *sys.path]:
        if not isinstance(entry, str):  # None: no module root; sys.path may hold anything
            continue
        path = os.path.abspath(entry)
        if path not in entries:
            entries.append(path)
    return entries


def callable_arguments(
    targetCall: Callable[..., Any],
    user_args: Sequence[Any] = (),
    user_kwargs: Mapping[str, Any] | None = None,
) -> tuple[str, dict[str, Any]]:
    """Return ``(default task name, CallableRunner arguments)`` for ``targetCall``.

    Raises ``GraphError`` when the callable cannot be imported on a render node
    or its arguments are not JSON-serialisable.
    """
    if not callable(targetCall):
        raise GraphError(f"addNewCallable needs a function or a method, not {targetCall!r}")
    function = getattr(targetCall, "__func__", targetCall)
    module_name = getattr(function, "__module__", None)
    qualname = getattr(function, "__qualname__", "")
    label = qualname or repr(targetCall)
    if not module_name or not qualname:
        raise GraphError(f"callable {targetCall!r} has no importable module and name")
    if module_name == "__main__":
        raise GraphError(
            f"callable '{label}' is defined in the submitting script (__main__), which a "
            "render node cannot import; move it into an importable module and import it "
            "from your script"
        )
    if "<locals>" in qualname or "<lambda>" in qualname:
        raise GraphError(
            f"callable '{label}' is a lambda or a nested function; define it at the top "
            f"level of module '{module_name}'"
        )
    parts = qualname.split(".")
    arguments: dict[str, Any] = {"moduleName": module_name}
    if len(parts) == 1:
        arguments.update(execType="function", funcName=parts[0])
    elif len(parts) == 2:
        arguments.update(execType="method", className=parts[0], methodName=parts[1])
        if isinstance(getattr(targetCall, "__self__", None), type):
            raise GraphError(f"'{label}' is a classmethod; CallableRunner calls instance methods")
    else:
        raise GraphError(f"callable '{label}' is nested too deep; use a top-level class")
    arguments["sysPath"] = client_sys_path(_module_root(module_name))
    try:
        arguments["user_args"] = json.dumps(list(user_args))
        arguments["user_kwargs"] = json.dumps(dict(user_kwargs or {}))
    except (TypeError, ValueError) as exc:
        raise GraphError(
            f"arguments of callable '{label}' are not JSON-serialisable: {exc}; pass plain "
            "data (str, numbers, bool, None, lists, dicts with str keys)"
        ) from exc
    return label, arguments


class CallableRunner(CommandRunner):
    """Imports ``moduleName`` and calls ``funcName`` or ``className().methodName``.

    ``sysPath`` entries are appended to ``sys.path`` first (when missing);
    ``user_args``/``user_kwargs`` are JSON text. Any exception of the callable
    becomes a ``CommandError`` naming it.
    """

    execType = StringParameter(mandatory=True)
    moduleName = StringParameter(mandatory=True)
    funcName = StringParameter()
    className = StringParameter()
    methodName = StringParameter()
    sysPath = StringListParameter(default=[])
    user_args = StringParameter(default="[]")
    user_kwargs = StringParameter(default="{}")

    def execute(
        self,
        arguments: dict[str, Any],
        updateCompletion: Callable[[float], None],
        updateMessage: Callable[[str], None],
    ) -> None:
        for entry in arguments["sysPath"]:
            if entry not in sys.path:
                sys.path.append(entry)
        try:
            args = json.loads(arguments["user_args"])
            kwargs = json.loads(arguments["user_kwargs"])
        except ValueError as exc:
            raise CommandError(f"user_args/user_kwargs are not valid JSON: {exc}") from exc
        target = self._resolve(arguments)
        updateCompletion(0.0)
        try:
            result = target(*args, **kwargs)
        except (CommandError, KeyboardInterrupt):
            raise
        except Exception as exc:
            raise CommandError(f"{target.__qualname__} raised {type(exc).__name__}: {exc}") from exc
        updateCompletion(1.0)
        if result is not None:
            updateMessage(f"returned {result!r}"[:1000])

    @staticmethod
    def _resolve(arguments: dict[str, Any]) -> Callable[..., Any]:
        module_name = arguments["moduleName"]
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            raise CommandError(f"cannot import module '{module_name}': {exc}") from exc
        exec_type = arguments["execType"]
        try:
            if exec_type == "function":
                return getattr(module, arguments["funcName"])
            if exec_type == "method":
                instance = getattr(module, arguments["className"])()
                return getattr(instance, arguments["methodName"])
        except (AttributeError, TypeError) as exc:
            raise CommandError(f"cannot find the callable in '{module_name}': {exc}") from exc
        raise CommandError(f"execType must be 'function' or 'method', not {exec_type!r}")


"""Loading runner, decomposer and expander classes from dotted paths (``"pkg.module.Class"``).

Every failure raises ``JobTypeImportError`` naming the path and the reason
(module not found, import crashed, no such attribute, wrong base class).
"""

from __future__ import annotations

import importlib
from typing import TypeVar

from puliclient.errors import JobTypeImportError

T = TypeVar("T", bound=type)


def load_class(dotted_path: str, base: T, kind: str) -> T:
    """Import ``dotted_path`` and check it is a subclass of ``base``."""
    if not isinstance(dotted_path, str) or "." not in dotted_path:
        raise JobTypeImportError(
            f"cannot load {kind} {dotted_path!r}: expected a dotted path 'package.module.Class'"
        )
    module_name, _, class_name = dotted_path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise JobTypeImportError(
            f"cannot load {kind} '{dotted_path}': module '{exc.name}' not found "
            "(is it installed or on sys.path on this machine?)"
        ) from exc
    except Exception as exc:
        raise JobTypeImportError(
            f"cannot load {kind} '{dotted_path}': importing '{module_name}' failed: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    try:
        cls = getattr(module, class_name)
    except AttributeError as exc:
        raise JobTypeImportError(
            f"cannot load {kind} '{dotted_path}': module '{module_name}' has no '{class_name}'"
        ) from exc
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise JobTypeImportError(
            f"cannot load {kind} '{dotted_path}': it is not a subclass of "
            f"{base.__module__}.{base.__qualname__}"
        )
    return cls

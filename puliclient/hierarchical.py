"""``HierarchicalDict``: a node's own arguments or environment, with a parent to fall back on.

Puli's semantics are kept: ``d[key]`` falls back to the parent group's dict,
but ``get``, ``in``, ``copy``, iteration and serialisation see the dict's own
keys only, so the representation carries each node's own values and the
inheritance is resolved where the command runs (nearest value wins, see
docs/graph-schema.md). :meth:`HierarchicalDict.flattened` gives the resolved
view. This module does not know about tasks or groups.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class HierarchicalDict(dict[str, Any]):
    """A dict whose missing keys are looked up in ``parent`` (``d[key]`` only)."""

    def __init__(
        self,
        parent: HierarchicalDict | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(values or {})
        self.parent = parent

    def __missing__(self, key: str) -> Any:
        if self.parent is None:
            raise KeyError(key)
        return self.parent[key]

    def flattened(self) -> dict[str, Any]:
        """Own keys merged over every ancestor's: the nearest value wins."""
        merged = self.parent.flattened() if self.parent is not None else {}
        merged.update(self)
        return merged

"""Reading a saved graph file (ours or Puli's) into a representation ready to submit or run.

``Graph.loadAndSubmit`` and ``python -m puliclient.local_execution FILE`` both
load through :func:`load_graph_file`, so a file behaves the same whichever way
it is used. A file written by Puli's ``Graph.save()`` holds tasks that were
never decomposed (empty ``commands``): they are decomposed here, as Puli's
client did before submitting (:func:`~puliclient.representation.decompose_saved_tasks`).
Nothing here sends or runs anything.
"""

from __future__ import annotations

import json
from pathlib import Path

from puliclient.errors import GraphError
from puliclient.representation import Representation, decompose_saved_tasks


def load_graph_file(path: str | Path) -> Representation:
    """The validated, fully decomposed representation saved in ``path`` (JSON).

    Raises ``GraphError`` for a file that cannot be read or is not JSON, and,
    naming the node, for anything the representation's validation refuses or a
    decomposer that cannot be loaded.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GraphError(f"cannot read graph file {str(path)!r}: {exc}") from exc
    return decompose_saved_tasks(data)

"""Functions and a class run by examples/callables.py. They live in a module, not in the
script, because a render node imports them by module name."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)


def multiply(a: float, b: float) -> float:
    result = a * b
    log.info("%s x %s = %s", a, b, result)
    return result


class Report:
    """Instantiated without arguments by CallableRunner."""

    def write(self, path: str, title: str, lines: list[str]) -> None:
        Path(path).write_text(title + "\n" + "\n".join(lines) + "\n")

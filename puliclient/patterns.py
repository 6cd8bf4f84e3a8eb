"""Name patterns: the globs that jobs and render nodes are filtered by (``--name``, ``name=``).

A pattern with ``*`` (any run of characters, none included) or ``?`` (any one character)
must match the whole name: ``shot01*_light`` matches ``shot010_light``, not
``seq_shot010_light``. A pattern with neither matches any name that contains it, as the
old regular expressions did: ``shot01`` finds ``seq_shot010_light``. Matching is
case-sensitive, like every name, user and pool of the farm (``Shot`` is not ``shot``).
There are no character classes and no escapes: ``[``, ``]`` and ``\\`` are plain
characters, so a name holding them is found by typing it.

Guarantees: matching builds and runs no regular expression, so a pattern from a client
cannot stall whoever matches it (the coordinator's loop, for ``QUERY graphs``): one
match costs at most O(len(name) x len(pattern)) steps, and a pattern is at most
:data:`MAX_PATTERN_CHARS` long (:class:`NamePattern` refuses a longer one with
``ValueError``).

Not here: which fields are filtered and how filters combine (``puli_mesh.coordinator.client_queries``).
"""

from __future__ import annotations

from collections.abc import Iterable

MAX_PATTERN_CHARS = 256
"""Longer than any sensible name filter; a bound on what one match may cost."""
WILDCARDS = ("*", "?")


class NamePattern:
    """One glob, split once at its ``*``; :meth:`matches` tests a name against it."""

    __slots__ = ("text", "_parts", "_contains")

    def __init__(self, text: str) -> None:
        if not isinstance(text, str):
            raise ValueError(f"a name pattern is a string, not {type(text).__name__}")
        if len(text) > MAX_PATTERN_CHARS:
            raise ValueError(f"name pattern of {len(text)} characters is above the {MAX_PATTERN_CHARS}-character "
                             f"limit; use a shorter glob (* and ? are the wildcards)")
        self.text = text
        self._contains = not any(w in text for w in WILDCARDS)
        self._parts = text.split("*")

    def __repr__(self) -> str:
        return f"NamePattern({self.text!r})"

    def matches(self, name: str) -> bool:
        """Whether ``name`` matches (see the module's rules)."""
        if self._contains:
            return self.text in name
        parts = self._parts
        if len(parts) == 1:  # ``?`` but no ``*``: exactly as long as the pattern
            return len(name) == len(self.text) and _fits(self.text, name, 0)
        head, tail = parts[0], parts[-1]
        start, end = len(head), len(name) - len(tail)
        if end < start or not _fits(head, name, 0) or not _fits(tail, name, end):
            return False
        # Each middle piece at its leftmost place: leaves the most room to the ones after it,
        # so a greedy scan is exact and never backtracks.
        for piece in parts[1:-1]:
            if not piece:
                continue
            at = _find(piece, name, start, end)
            if at < 0:
                return False
            start = at + len(piece)
        return True


def _fits(piece: str, name: str, at: int) -> bool:
    """``piece`` (``?`` matching any character) matches ``name`` at ``at`` (room checked by the caller)."""
    if "?" not in piece:
        return name.startswith(piece, at)
    return all(c == "?" or c == name[at + i] for i, c in enumerate(piece))


def _find(piece: str, name: str, start: int, end: int) -> int:
    """The leftmost place of ``piece`` in ``name[start:end]``, or -1."""
    if "?" not in piece:
        return name.find(piece, start, end)
    for at in range(start, end - len(piece) + 1):
        if _fits(piece, name, at):
            return at
    return -1


def any_matches(patterns: Iterable[NamePattern], name: str) -> bool:
    """Whether ``name`` matches one of ``patterns`` (a filter's values are OR'ed)."""
    return any(p.matches(name) for p in patterns)

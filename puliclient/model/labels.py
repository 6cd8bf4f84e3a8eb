"""Puli's status labels of the query models (``statusLabel``, ``statusShortLabel``), the
fields a model takes from Puli's JSON (:func:`fields_of`), and the base class that gives every
model those labels and its ``encode()`` once (:class:`StatusModel`).

Guarantees: every label comes from the enums of :mod:`puliclient.status`; Puli's one
exception is spelled here once: READY's short label is ``I`` (Puli's "idle"), every other
short label is the first letter of the status's name.
Not here: the numbers and names themselves (``puliclient.status``).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, ClassVar

from puliclient.status import RN_STATUS_NAMES, RenderNodeStatus


def status_label(value: int, kind: type[IntEnum]) -> str:
    """``NodeStatus``/``CommandStatus`` names as Puli printed them (``RUNNING``); render node
    statuses capitalised (``Idle``); ``UNKNOWN`` for a number the enum does not have."""
    try:
        status = kind(value)
    except ValueError:
        return "UNKNOWN"
    return RN_STATUS_NAMES[int(status)] if kind is RenderNodeStatus else status.name


def status_short_label(value: int, kind: type[IntEnum]) -> str:
    """Puli's one-letter label (``R``; READY is ``I``); ``?`` for an unknown number."""
    try:
        status = kind(value)
    except ValueError:
        return "?"
    if status.name == "READY":
        return "I"
    return status.name[0]


MODEL_LINKS = frozenset({"server", "known_children", "known_task", "listed", "children", "task", "commands"})
"""Fields of a model that are links or nested models, never taken as plain values by :func:`fields_of`."""


def fields_of(model: type, data: dict[str, Any]) -> dict[str, Any]:
    """The plain fields of dataclass ``model`` that ``data`` (Puli's JSON of one) holds; the rest
    is left out (a newer server's extra keys, the nested models each ``from_json`` builds)."""
    names = model.__dataclass_fields__  # type: ignore[attr-defined]
    return {k: v for k, v in data.items() if k in names and k not in MODEL_LINKS}


class StatusModel:
    """A base class of the query models: Puli's ``statusLabel``/``statusShortLabel`` of the
    model's ``status`` (read as :attr:`STATUS_KIND`), and ``encode()``, its dataclass fields
    but :attr:`NOT_ENCODED` (links to a server, nested models a subclass encodes itself)."""

    __slots__ = ()  # the dataclass subclasses keep their slots
    STATUS_KIND: ClassVar[type[IntEnum]]
    NOT_ENCODED: ClassVar[frozenset[str]] = frozenset()
    status: int

    @property
    def statusLabel(self) -> str:
        return status_label(self.status, self.STATUS_KIND)

    @property
    def statusShortLabel(self) -> str:
        return status_short_label(self.status, self.STATUS_KIND)

    def encoded_fields(self) -> dict[str, Any]:
        """The fields as a dict, but :attr:`NOT_ENCODED`."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__  # type: ignore[attr-defined]
                if name not in self.NOT_ENCODED}

    def encode(self) -> dict[str, Any]:
        """Puli's ``encode()``: the fields as a dict."""
        return self.encoded_fields()

"""The field rules of the wire: what a field of a message may hold, derived from its type hint.

:mod:`puli_mesh.protocol` declares every message kind as a dataclass; this module turns each
field's type hint into the check its values pass when a map is read (:meth:`WireFields._read`)
and written (:meth:`WireFields._write`), and says how deep a message's lists and maps nest
(:func:`nesting_depth_above`).

Guarantees: the quick read path costs one class test per required field; a float field refuses
NaN and infinities; ``bool`` is never an ``int``; a field that cannot hold a list or a map costs
nothing for the nesting check (:attr:`WireFields._nested` lists those that can).

Not here: the message kinds, their encoding and ``decode`` (``protocol``), sockets.
"""

from __future__ import annotations

import collections.abc
import types
import typing
from collections.abc import Callable
from dataclasses import MISSING, field, fields
from operator import attrgetter
from typing import Any, ClassVar, Self

from puli_mesh.errors import ProtocolError

_OPTIONAL = "optional"


def optional() -> Any:
    """Declare a field that may be absent from the wire (see the module's docstring)."""
    return field(default=None, metadata={_OPTIONAL: True})


# ------------------------------------------------------------------ the field rules
FieldRule = tuple[str, "frozenset[type] | _Anything", tuple[type, ...], bool, Callable[[Any, Any], None]]
"""One field, from its type hint: name; classes accepted as they are (the quick check); what
``isinstance`` accepts (subclasses, e.g. an IntEnum; empty: anything); required; its slot's
``__set__``. A plain tuple: it is unpacked for every field of every message."""

_WIRE_TYPES: dict[Any, tuple[type, ...]] = {
    int: (int,), float: (int, float), str: (str,), bool: (bool,), type(None): (type(None),),
    list: (list,), dict: (dict,), tuple: (list, tuple), collections.abc.Sequence: (list, tuple),
}


class _Absent:
    """The class of ``_ABSENT``, what a map gives for a field it lacks: never a wire type."""


_ABSENT = _Absent()


class _Anything:
    """The classes an ``Any`` field accepts as they are: all but :class:`_Absent`."""

    def __contains__(self, cls: object) -> bool:
        return cls is not _Absent


def _accepted(hint: Any) -> tuple[type, ...]:
    """The classes a field of type ``hint`` may hold on the wire (empty: anything)."""
    if hint is Any or hint is object:
        return ()
    origin = typing.get_origin(hint)
    if origin is types.UnionType or origin is typing.Union:
        accepted: list[type] = []
        for arm in typing.get_args(hint):
            arm_types = _accepted(arm)
            if not arm_types:
                return ()
            accepted += [t for t in arm_types if t not in accepted]
        return tuple(accepted)
    wire = _WIRE_TYPES.get(origin or hint)
    if wire is None:
        raise TypeError(f"no wire type for {hint!r}")
    return wire


def _rules_of(cls: type) -> tuple[tuple[FieldRule, ...], tuple[tuple[str, type[WireFields]], ...]]:
    """The field rules of a dataclass, and its fields that spread another class's fields."""
    hints = typing.get_type_hints(cls)
    rules: list[FieldRule] = []
    spread: list[tuple[str, type[WireFields]]] = []
    for f in fields(cls):
        hint = hints[f.name]
        if isinstance(hint, type) and issubclass(hint, WireFields):
            spread.append((f.name, hint))
            continue
        accepted = _accepted(hint)
        required = not f.metadata.get(_OPTIONAL, False)
        if not required and (f.default is not None or f.default_factory is not MISSING):
            raise TypeError(f"{cls.__name__}.{f.name}: an optional field defaults to None")
        setter = cls.__dict__[f.name].__set__
        if float in accepted:
            setter = _finite_setter(cls, f.name, setter)
        rules.append((f.name, frozenset(accepted) if accepted else _Anything(), accepted, required, setter))
    return tuple(rules), tuple(spread)


def _finite_setter(cls: type[WireFields], name: str, setter: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
    """``setter`` refusing NaN and infinities: a float field holds a finite number.

    Every read path sets a field through its rule's setter, so the check is in one place and
    costs only the messages that have a float field (not READY); ``x - x`` is 0.0 for every
    finite float and NaN otherwise, cheaper than a call to ``math.isfinite``."""
    def set_finite(obj: Any, value: Any) -> None:
        if value.__class__ is float and value - value != 0.0:
            raise ProtocolError(f"{cls._label}.{name} must be a finite number, got {value!r}")
        setter(obj, value)
    return set_finite


def _fits(accepted: tuple[type, ...], value: Any) -> bool:
    """The slow check, for a value whose class is not one accepted as it is (e.g. an IntEnum)."""
    # bool is an int in Python; a protocol int field must not take True/False.
    return isinstance(value, accepted) and not (isinstance(value, bool) and bool not in accepted)


def _wrong_type(label: str, name: str, accepted: tuple[type, ...], value: Any) -> ProtocolError:
    names = " or ".join(t.__name__ for t in accepted)
    return ProtocolError(f"{label}.{name} must be {names}, got {type(value).__name__}")


_new = object.__new__


class WireFields:
    """Fields that travel as (part of) a msgpack map; subclasses are dataclasses with slots.

    ``_rules`` and the rest are derived from the class's own fields by :func:`_register`."""

    __slots__ = ()
    _label: ClassVar[str]  # the kind named in error messages
    _rules: ClassVar[tuple[FieldRule, ...]]
    _quick: ClassVar[tuple[tuple[str, Any, Callable[[Any, Any], None]], ...]]  # required: name, exact, set
    _optional: ClassVar[tuple[FieldRule, ...]]
    _spread: ClassVar[tuple[tuple[str, type[WireFields]], ...]]  # fields whose own fields go in the same map
    _names: ClassVar[frozenset[str]]  # every key of the map
    _nested: ClassVar[tuple[str, ...]]  # keys of the map whose value may be a list or a map
    _values: ClassVar[Callable[[Any], tuple[Any, ...]]]  # the values of ``_rules``' fields, in one call

    @classmethod
    def from_map(cls, data: Any) -> Self:
        """Read one map (e.g. an item of an ASSIGNS or an UPDATES); raise ProtocolError."""
        if not isinstance(data, dict):
            raise ProtocolError(f"{cls._label} item is a {type(data).__name__}, expected a map")
        return cls._read(data)[0]

    @classmethod
    def _read(cls, data: dict[str, Any]) -> tuple[Self, int]:
        """A validated instance from ``data``, and how many of its keys were read.

        The quick pass takes a map whose required fields are all there, each of a class
        accepted as it is: nearly every one; the careful pass says what is wrong with the
        others. Slots are filled through their descriptors: a frozen dataclass's
        ``__init__`` costs about twice as much, on every READY and UPDATE."""
        obj = _new(cls)
        for name, exact, setter in cls._quick:
            value = data.get(name, _ABSENT)
            if value.__class__ not in exact:  # absent too
                return cls._read_carefully(data)
            setter(obj, value)
        if cls._optional or cls._spread:
            return obj, len(cls._quick) + cls._read_rest(data, obj)
        return obj, len(cls._quick)

    @classmethod
    def _read_carefully(cls, data: dict[str, Any]) -> tuple[Self, int]:
        obj = _new(cls)
        for name, exact, accepted, required, setter in cls._rules:
            if required:
                value = data.get(name, _ABSENT)
                if value is _ABSENT:
                    raise ProtocolError(f"{cls._label} message lacks field {name!r}")
                if value.__class__ not in exact and not _fits(accepted, value):
                    raise _wrong_type(cls._label, name, accepted, value)
                setter(obj, value)
        return obj, len(cls._quick) + cls._read_rest(data, obj)

    @classmethod
    def _read_rest(cls, data: dict[str, Any], obj: Any) -> int:
        """Read the optional fields and the spread parts into ``obj``; how many keys they read."""
        read = 0
        for name, exact, accepted, _, setter in cls._optional:
            value = data.get(name)
            if value is not None:
                read += 1
                if value.__class__ not in exact and not _fits(accepted, value):
                    value = None  # not what this version means by it: as if absent
            setter(obj, value)
        for name, part in cls._spread:
            value, n = part._read(data)
            read += n
            cls.__dict__[name].__set__(obj, value)
        return read

    def to_map(self) -> dict[str, Any]:
        """The fields as a map, validated (an ASSIGNS item is a CommandSpec's); raise ProtocolError."""
        data: dict[str, Any] = {}
        self._write(data)
        return data

    def _write(self, data: dict[str, Any]) -> None:
        cls = type(self)
        for (name, exact, accepted, required, _), value in zip(cls._rules, cls._values(self)):  # noqa: B905
            if value is None and not required:
                continue
            if value.__class__ not in exact and not _fits(accepted, value):
                raise _wrong_type(cls._label, name, accepted, value)
            data[name] = value
        for name, part in cls._spread:
            part._write(getattr(self, name), data)


CONTAINERS = frozenset({dict, list})
"""What msgpack decodes an array or a map into (``use_list``; a key is never one of them)."""


def _may_nest(rule: FieldRule) -> bool:
    accepted = rule[2]
    return not accepted or any(t in (list, dict, tuple) for t in accepted)


def derive_rules(cls: type[WireFields]) -> None:
    """Derive ``cls``'s field rules (``_rules``, ``_quick``...) from its fields; the classes it
    spreads must have theirs already."""
    cls._rules, cls._spread = _rules_of(cls)
    cls._quick = tuple((name, exact, setter) for name, exact, _, required, setter in cls._rules if required)
    cls._optional = tuple(rule for rule in cls._rules if not rule[3])
    names = [rule[0] for rule in cls._rules]
    cls._values = (attrgetter(*names) if len(names) > 1 else  # a tuple, in one C call, from two names up
                   (lambda o, n=names[0]: (getattr(o, n),)) if names else (lambda o: ()))
    cls._names = frozenset(names).union(*(part._names for _, part in cls._spread))
    cls._nested = tuple(rule[0] for rule in cls._rules if _may_nest(rule)) + tuple(
        name for _, part in cls._spread for name in part._nested)


def nesting_depth_above(level: list[Any], limit: int) -> int | None:
    """How deep lists and maps nest in one map whose list and map fields are ``level`` (the map
    itself is level 1, ``level`` level 2), if that is above ``limit``; None if it is not.

    Walked level by level, never recursively (the data is whoever sent it), and it stops at the
    first level past the limit: the cost is the containers within it, their items looked at once."""
    depth = 1
    while level:
        depth += 1
        if depth > limit:
            return depth
        below: list[Any] = []
        append = below.append
        for container in level:
            for value in container.values() if container.__class__ is dict else container:
                if value.__class__ in CONTAINERS:
                    append(value)
        level = below
    return None

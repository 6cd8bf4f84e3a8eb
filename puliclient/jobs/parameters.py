"""Declared runner parameters: defaults, mandatory arguments, type conversion, ranges.

A :class:`~puliclient.jobs.runners.CommandRunner` subclass declares its
arguments as class attributes (``cmd = StringParameter(mandatory=True)``);
``CommandRunner.validate`` runs each parameter on the arguments dict. A
missing mandatory argument or a value that does not convert raises
``ValidationError``; a value outside ``min``/``max`` raises ``RangeError``.
Arguments no parameter declares are left untouched.
"""

from __future__ import annotations

from typing import Any

from puliclient.errors import RangeError, ValidationError


class CommandRunnerParameter:
    """One declared argument of a runner. ``name`` is set from the attribute name."""

    def __init__(
        self,
        default: Any = None,
        mandatory: bool | None = None,
        min: Any = None,  # noqa: A002 - Puli's keyword
        max: Any = None,  # noqa: A002 - Puli's keyword
        **kwargs: Any,
    ) -> None:
        self.name = ""
        self.default = default
        self.isMandatory = bool(mandatory)
        self.minValue = min
        self.maxValue = max
        self.options = kwargs

    def validate(self, arguments: dict[str, Any]) -> None:
        """Fill in the default, check presence, convert and range-check ``arguments[name]``."""
        if arguments.get(self.name) is None:
            if self.isMandatory:
                raise ValidationError(f"argument '{self.name}' is mandatory")
            arguments[self.name] = self.default
            return
        try:
            value = self.convert(arguments[self.name])
        except (TypeError, ValueError) as exc:
            raise ValidationError(
                f"argument '{self.name}': cannot use {arguments[self.name]!r} ({exc})"
            ) from exc
        if self.minValue is not None and value < self.minValue:
            raise RangeError(f"argument '{self.name}' is {value!r}, less than {self.minValue!r}")
        if self.maxValue is not None and value > self.maxValue:
            raise RangeError(
                f"argument '{self.name}' is {value!r}, greater than {self.maxValue!r}"
            )
        arguments[self.name] = value

    def convert(self, value: Any) -> Any:
        """Return ``value`` as this parameter's type (raise TypeError/ValueError if impossible)."""
        return value

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, default={self.default!r})"


class StringParameter(CommandRunnerParameter):
    """A ``str`` argument (any value is converted with ``str()``)."""

    def convert(self, value: Any) -> str:
        return str(value)


class IntegerParameter(CommandRunnerParameter):
    """An ``int`` argument; ``"12"`` is accepted, ``"1.5"`` and booleans are not."""

    def convert(self, value: Any) -> int:
        if isinstance(value, bool):
            raise TypeError("a boolean is not an integer")
        if isinstance(value, float) and not value.is_integer():
            raise ValueError("not a whole number")
        return int(value)


class FloatParameter(CommandRunnerParameter):
    """A ``float`` argument."""

    def convert(self, value: Any) -> float:
        if isinstance(value, bool):
            raise TypeError("a boolean is not a number")
        return float(value)


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class BooleanParameter(CommandRunnerParameter):
    """A ``bool`` argument; strings such as ``"true"``/``"0"`` are understood."""

    def convert(self, value: Any) -> bool:
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError("expected true/false, yes/no, 1/0")
        return bool(value)


class StringListParameter(CommandRunnerParameter):
    """A list of ``str``; a single string becomes a one-item list."""

    def convert(self, value: Any) -> list[str]:
        if isinstance(value, str):
            return [value]
        if not isinstance(value, list | tuple):
            raise TypeError("expected a list of strings")
        return [str(item) for item in value]

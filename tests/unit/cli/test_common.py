"""The one mapping from error classes to exit codes, and the mesh's codes to the farm's classes."""

from __future__ import annotations

import pytest
import typer

from puli_mesh.cli.common import (
    EXIT_FAILED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    describe,
    exit_code,
    reported_errors,
)
from puli_mesh.errors import ConfigError, PuliMeshError, ZooKeeperError
from puliclient.errors import (
    FARM_ERROR_CLASSES,
    FarmBusyError,
    FarmError,
    FarmForbiddenError,
    FarmIllegalEditError,
    FarmInternalError,
    FarmInvalidRequestError,
    FarmNoLeaderError,
    FarmNotFoundError,
    FarmProtocolError,
    FarmRefusedError,
    FarmUnreachableError,
    GraphError,
)

from .conftest import HOSTILE

# The README's promise: 1 the mesh refused, 2 bad usage, 3 the mesh could not be reached.
EXPECTED = {
    "invalid": (FarmInvalidRequestError, EXIT_USAGE),
    "not_found": (FarmNotFoundError, EXIT_FAILED),
    "illegal": (FarmIllegalEditError, EXIT_FAILED),
    "refused": (FarmRefusedError, EXIT_FAILED),
    "no_leader": (FarmNoLeaderError, EXIT_FAILED),
    "busy": (FarmBusyError, EXIT_FAILED),
    "forbidden": (FarmForbiddenError, EXIT_FAILED),
    "protocol": (FarmProtocolError, EXIT_FAILED),
    "internal": (FarmInternalError, EXIT_FAILED),
    # answers to a worker's messages: a client meeting one sees what it means to it
    "not_leader": (FarmNoLeaderError, EXIT_FAILED),
    "hello_first": (FarmProtocolError, EXIT_FAILED),
    "not_member": (FarmProtocolError, EXIT_FAILED),
    "linked": (FarmProtocolError, EXIT_FAILED),
}


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_each_code_of_the_mesh_has_its_class_and_exit_code(code: str) -> None:
    cls, exit_status = EXPECTED[code]
    error = FarmError.from_code(code, "what went wrong")
    assert type(error) is cls and error.code == code and str(error) == "what went wrong"
    assert exit_code(error) == exit_status
    assert describe(error) == f"what went wrong ({code})"


def test_every_class_of_the_table_is_covered() -> None:
    assert {code: cls for code, (cls, _) in EXPECTED.items()} == FARM_ERROR_CLASSES


def test_an_unknown_code_is_a_plain_farm_error_that_keeps_its_word() -> None:
    error = FarmError.from_code("too_busy", "later")
    assert type(error) is FarmError and error.code == "too_busy"
    assert exit_code(error) == EXIT_FAILED
    assert describe(error) == "later (too_busy)"


def test_errors_outside_the_farm_map_by_class() -> None:
    assert exit_code(FarmUnreachableError("no mesh reachable")) == EXIT_UNREACHABLE
    assert exit_code(ZooKeeperError("ZooKeeper lost")) == EXIT_UNREACHABLE
    assert exit_code(ConfigError("slots must be > 0")) == EXIT_USAGE
    assert exit_code(GraphError("a cycle")) == EXIT_FAILED
    assert exit_code(PuliMeshError("anything else")) == EXIT_FAILED
    assert exit_code(RuntimeError("a bug")) == EXIT_FAILED
    assert describe(FarmUnreachableError("no mesh reachable")) == "no mesh reachable"  # no code: nothing refused


def test_the_farm_error_code_is_not_read_from_the_message() -> None:
    # A refusal whose text mentions reachability is still a refusal.
    assert exit_code(FarmRefusedError("node rn1 is not reachable from the pool")) == EXIT_FAILED


def test_reported_errors_print_the_error_and_exit_with_its_code(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit) as stopped, reported_errors():
        raise FarmNotFoundError("no graph 99999")
    assert stopped.value.exit_code == EXIT_FAILED
    assert "no graph 99999 (not_found)" in capsys.readouterr().err
    with pytest.raises(ZeroDivisionError), reported_errors():  # a bug is not an error of the farm: not hidden
        raise ZeroDivisionError


@pytest.mark.parametrize("name", HOSTILE)
def test_an_error_naming_anything_is_printed_as_given(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit), reported_errors():
        raise FarmNotFoundError(f"no pool {name}")
    assert capsys.readouterr().err == f"error: no pool {name} (not_found)\n"

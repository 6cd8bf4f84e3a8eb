"""Chaos tests reuse the integration fixtures (real ZooKeeper, real agent processes)."""

from tests.integration.conftest import mesh, pytest_runtest_makereport  # noqa: F401

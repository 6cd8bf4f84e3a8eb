"""The /api/ routes that mirror Farm, over a stub farm (FastAPI's TestClient; no mesh, no network)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from puli_mesh.web.app import create_app
from tests.unit.web.test_app import BEARER, StubContext


@pytest.fixture
def context() -> StubContext:
    return StubContext(answers={"EDIT": None})


@pytest.fixture
def http(context: StubContext) -> TestClient:
    return TestClient(create_app(context))  # type: ignore[arg-type]


def test_history_asks_for_the_samples_since_a_time(http: TestClient, context: StubContext) -> None:
    samples = [{"start": 60.0, "end": 120.0, "done": 3}]
    context.answers["history"] = {"samples": samples}
    assert http.get("/api/history?since=60", headers=BEARER).json() == samples
    assert http.get("/api/history", headers=BEARER).json() == samples
    assert [f["args"] for _t, _k, f in context.sent] == [{"since": 60.0}, {}]
    assert http.get("/api/history?since=-1", headers=BEARER).status_code == 422

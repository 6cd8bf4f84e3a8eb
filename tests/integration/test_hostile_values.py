"""Values that cannot be stored, sent through the real ``puli-mesh`` CLI to a real mesh: refused
before the journal sees them, and the farm goes on (listings, status, a successor, new work)."""

from __future__ import annotations

import pytest

from puli_mesh.errors import MeshRequestError
from puli_mesh.protocol import ErrorCode

from .conftest import Mesh, wait_for
from .test_cli_operating import EXIT_USAGE, cli, cli_json

INT64_MAX = str(2**63 - 1)


def run_to_done(mesh: Mesh, name: str) -> int:
    """Run a one-frame job with ``puli-mesh exec --wait``; its graph id, once DONE."""
    run = cli(mesh, "exec", "echo frame %%MI_FRAME%%", "--start", "1", "--end", "1", "--name", name, "--wait")
    assert run.returncode == 0, run.stdout + run.stderr
    (job,) = cli_json(mesh, "jobs", "--name", name)
    assert job["status_name"] == "DONE", job
    return int(job["id"])


def test_a_priority_beyond_int64_is_refused_and_the_farm_goes_on(mesh: Mesh) -> None:
    mesh.start_agent("rn1")
    mesh.start_agent("rn2")
    mesh.wait_ready(2)
    graph_id = run_to_done(mesh, "before")

    # Beyond int64, within msgpack's 64 bits or not: the CLI refuses it as the leader would
    # (invalid, exit 2), saying the accepted range, and sends nothing.
    for value in ("1000000000000000000000000", str(2**64 - 1)):
        refused = cli(mesh, "set", str(graph_id), f"priority={value}")
        assert refused.returncode == EXIT_USAGE, refused.stdout + refused.stderr
        assert INT64_MAX in refused.stderr and "Traceback" not in refused.stderr
    # The leader's own check, for a client that sends it anyway (within msgpack's unsigned 64 bits).
    with pytest.raises(MeshRequestError) as refused_by_leader:
        mesh.zk_client().request("EDIT", action="set", args={"id": graph_id, "values": {"priority": 2**64 - 1}})
    assert refused_by_leader.value.code == ErrorCode.INVALID and INT64_MAX in str(refused_by_leader.value)

    # Listings and status still work; nothing was changed.
    (job,) = cli_json(mesh, "jobs", "--name", "before")
    assert job["id"] == graph_id and job["dispatchKey"] == 0
    table = cli(mesh, "jobs")
    assert table.returncode == 0 and "before" in table.stdout, table.stderr
    status = cli(mesh, "status")
    assert status.returncode == 0, status.stderr

    # The refused edit left no trace in the journal: a successor replays it and lists the farm.
    leader = mesh.leader()
    mesh.kill9(leader)
    wait_for(lambda: (s := mesh.status()) is not None and s["leader"] != leader, 60, "a new leader")
    mesh.wait_ready(1, timeout=60)
    (job,) = cli_json(mesh, "jobs", "--name", "before")
    assert job["id"] == graph_id and job["dispatchKey"] == 0
    assert cli(mesh, "status").returncode == 0

    # New work still runs to DONE.
    run_to_done(mesh, "after")

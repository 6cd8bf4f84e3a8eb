"""Values that cannot be stored, sent through the real ``puli-mesh`` CLI to a real mesh: refused
before the journal sees them, and the farm goes on (listings, status, a successor, new work)."""

from __future__ import annotations

from .conftest import Mesh, wait_for
from .test_cli_operating import EXIT_FAILED, EXIT_USAGE, cli, cli_json

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

    # Beyond msgpack's 64 bits: the client cannot even send it, and says so (no traceback).
    unsendable = cli(mesh, "set", str(graph_id), "priority=1000000000000000000000000")
    assert unsendable.returncode == EXIT_FAILED, unsendable.stdout + unsendable.stderr
    assert "cannot be sent" in unsendable.stderr and "Traceback" not in unsendable.stderr
    # Within msgpack's unsigned 64 bits but beyond int64: sent, and refused by the leader.
    refused = cli(mesh, "set", str(graph_id), f"priority={2**64 - 1}")
    assert refused.returncode == EXIT_USAGE, refused.stdout + refused.stderr
    assert "invalid" in refused.stderr and INT64_MAX in refused.stderr  # says the accepted range

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

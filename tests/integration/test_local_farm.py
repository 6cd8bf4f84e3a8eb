"""`puli-mesh up --agents 3` followed by the README's example submissions runs them to DONE."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil

from puli_mesh.zkserver import free_port

from .conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ["simple_command.py", "frame_range.py", "custom_runner.py", "callables.py"]


def test_up_then_the_examples_run_to_done(tmp_path: Path) -> None:
    base_port = free_port()
    out = tmp_path / "up.out"
    with open(out, "wb") as sink:
        up = subprocess.Popen(
            [sys.executable, "-m", "puli_mesh", "up", "--agents", "3", "--base-port", str(base_port),
             "--data-dir", str(tmp_path / "farm")],
            stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_for(lambda: "Press Ctrl-C" in out.read_text(errors="replace") or up.poll() is not None,
                 90, "the local farm to come up")
        assert up.poll() is None, out.read_text()
        agents = [p for p in psutil.Process(up.pid).children(recursive=True) if "agent" in p.cmdline()]
        assert len(agents) == 3
        # The banner's environment, as a user copies it: where the farm is and its admin key.
        export = next(line for line in out.read_text().splitlines() if line.strip().startswith("export "))
        given = dict(item.split("=", 1) for item in export.split()[1:])
        assert given["PULI_NODE"] == f"127.0.0.1:{base_port}" and Path(given["PULI_KEY"]).exists()
        env = dict(os.environ, **given)
        for example in EXAMPLES:
            result = subprocess.run([sys.executable, str(ROOT / "examples" / example), "--wait"], env=env,
                                    capture_output=True, text=True, timeout=120)
            assert result.returncode == 0, f"{example}: {result.stdout}\n{result.stderr}"
            assert "ended with status DONE" in result.stdout
    finally:
        up.send_signal(signal.SIGTERM)  # as a service manager would; Ctrl-C takes the same path
        up.wait(timeout=60)
    assert "stopping the farm" in out.read_text()
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in agents)

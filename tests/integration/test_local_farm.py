"""`puli-mesh up --agents 3` followed by the README's example submissions runs them to DONE."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
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
        # Each agent's web monitor and API, at the URL the banner prints, behind a token of the admin's key.
        urls = re.findall(r"Web monitor and API of agent-\d: (http://\S+/) ", out.read_text())
        assert len(urls) == 3
        token = subprocess.run([sys.executable, "-m", "puli_mesh", "keys", "token"], env=env, check=True,
                               capture_output=True, text=True, timeout=30).stdout.strip()
        for url in urls:
            assert httpx.get(url + "api/whoami", timeout=10).status_code == 401
            me = httpx.get(url + "api/whoami", headers={"Authorization": f"Bearer {token}"}, timeout=10)
            assert me.json()["role"] == "admin"
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

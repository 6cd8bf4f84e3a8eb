"""What CURVE costs a client: one request's round trip with and without keys (run by hand).

    python bench/client_handshake.py [--requests 300] [--cli 10]

Two local farms of one agent each run side by side, one secured (CURVE, the ZAP handler,
roles) and one open (``--insecure``). Interleaved, a ``MeshClient`` asks each for ``status``
``--requests`` times: a client opens a new connection per request (Lazy Pirate), so each
secured request pays a CURVE handshake (key exchange and the ZAP check) on top of the
encrypted exchange. ``--cli`` times the whole ``puli-mesh status --json`` command against
each (a new Python process per call: what a wrangler waits for). Prints one JSON line: the
median and p90 of each, and their differences (the handshake's cost on the round trip).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from puli_mesh.local_farm import LocalFarm  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def time_request(farm: LocalFarm) -> float:
    client = farm.client(timeout=5.0, tries=1)
    start = time.perf_counter()
    client.request("QUERY", what="status", args={})
    return (time.perf_counter() - start) * 1000


def time_cli(farm: LocalFarm) -> float:
    env = {k: v for k, v in os.environ.items() if k != "PULI_KEY"}
    env.update(farm.environment())  # PULI_KEY only for the secured farm
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "puli_mesh", "status", "--json"], env=env, check=True,
                   capture_output=True)
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--cli", type=int, default=10, help="timed `puli-mesh status` commands per farm")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="puli-bench-") as tmp:
        secured = LocalFarm(agents=1, base_port=18104, data_dir=Path(tmp) / "secured", cluster="secured")
        plain = LocalFarm(agents=1, base_port=18204, data_dir=Path(tmp) / "open", cluster="open", insecure=True)
        times: dict[str, list[float]] = {"curve": [], "open": [], "cli_curve": [], "cli_open": []}
        try:
            secured.start()
            plain.start()
            for _ in range(20):  # warm both up (imports, the first ZAP round)
                time_request(secured)
                time_request(plain)
            for _ in range(args.requests):
                times["curve"].append(time_request(secured))
                times["open"].append(time_request(plain))
            for _ in range(args.cli):
                times["cli_curve"].append(time_cli(secured))
                times["cli_open"].append(time_cli(plain))
        finally:
            secured.stop()
            plain.stop()
    result: dict[str, object] = {"requests": args.requests, "cli_runs": args.cli}
    for name, values in times.items():
        result[f"{name}_p50_ms"] = round(statistics.median(values), 3)
        result[f"{name}_p90_ms"] = round(percentile(values, 0.9), 3)
    result["handshake_cost_p50_ms"] = round(statistics.median(times["curve"]) - statistics.median(times["open"]), 3)
    result["cli_cost_p50_ms"] = round(statistics.median(times["cli_curve"]) - statistics.median(times["cli_open"]), 3)
    result["request_ratio_p50"] = round(statistics.median(times["curve"]) / statistics.median(times["open"]), 3)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

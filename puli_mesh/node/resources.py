"""What a render node has: cores, RAM, load, OS, read with psutil; and when its figures are news.

Free RAM is what the leader matches a task's ``ramUse`` against, and the load is what people
watch in ``puli-mesh nodes``, so a worker tells both again as they change (Puli sent them every
8 s): a :class:`FigureReport` per figure says when a new reading is news (``FREE_RAM_STEP_MB``,
``LOAD_STEP`` from what the leader was told), the worker reads them every ``FIGURES_EVERY_S``
(or its heartbeat interval, when the leader made that longer) and sends the news on one
HEARTBEAT.

For tests only: ``PULI_TEST_FREE_RAM_FILE`` names a file holding the free RAM (MB) to report
instead of the system's, ``PULI_TEST_LOAD_FILE`` one holding the load average (an integration
test cannot make a machine's free RAM or load what it wants); unreadable, it is ignored.

GPUs: :func:`detect_gpus` asks ``nvidia-smi`` (when on the PATH) for the GPUs' indexes, the ids
``CUDA_VISIBLE_DEVICES`` takes; :func:`node_gpus` prefers the configured ones (the ``gpus``
setting), so a node without NVIDIA's tools, or a test, says what it has.

Not here: what the leader does with it (``coordinator.records.report_record``), which GPUs a
command gets (the leader's ``render_nodes``).
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Generic, TypeVar

import psutil

from puli_mesh import __version__

log = logging.getLogger(__name__)

FIGURES_EVERY_S = 8.0
"""How often a worker reads its free RAM to see if it is news (Puli's ``WORKER_SYSINFO_DELAY``)."""
FREE_RAM_STEP_MB = 256
"""A change of free RAM smaller than this is not news: not sent, not journalled."""
LOAD_STEP = 0.5
"""A change of the 1-minute load average smaller than this is not news: not sent (a busy node's
load wanders by a few tenths all the time; half a core is what an operator notices)."""
TEST_FREE_RAM_FILE = "PULI_TEST_FREE_RAM_FILE"
TEST_LOAD_FILE = "PULI_TEST_LOAD_FILE"
NVIDIA_SMI = "nvidia-smi"
GPU_QUERY = ("--query-gpu=index,name,memory.total", "--format=csv,noheader")
GPU_QUERY_TIMEOUT_S = 10.0
"""A driver that hangs ``nvidia-smi`` must not hold the agent's start for ever: no GPUs then."""


@dataclass(frozen=True)
class Resources:
    cores: int
    ram_mb: int
    free_ram_mb: int
    load: float
    cpu_percent: float
    os: str
    version: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


Figure = TypeVar("Figure", int, float)


@dataclass(slots=True)
class FigureReport(Generic[Figure]):
    """What the leader was last told of one of this node's figures (free RAM, load), and whether
    a reading is news: it moved ``step`` or more from that."""

    step: Figure
    told_value: Figure | None = None

    def told(self, value: Figure) -> None:
        """The leader was told ``value`` (a HELLO carries it)."""
        self.told_value = value

    def news(self, value: Figure) -> Figure | None:
        """``value`` if it is news to the leader (then taken as told), else None."""
        told = self.told_value
        if told is not None and abs(value - told) < self.step:
            return None
        self.told_value = value
        return value


def _test_figure(variable: str, parse: Callable[[str], Figure]) -> Figure | None:
    """The figure the file named by ``variable`` holds (tests only), or None: the system's."""
    path = os.environ.get(variable)
    if not path:
        return None
    try:
        with open(path) as f:
            return parse(f.read().strip())
    except (OSError, ValueError) as exc:
        log.warning("%s=%s unreadable (%s): the system's figure is reported", variable, path, exc)
        return None


def read_free_ram_mb(available_bytes: int | None = None) -> int:
    """This node's free RAM (MB): what the system can give without swapping."""
    forced = _test_figure(TEST_FREE_RAM_FILE, int)
    if forced is not None:
        return forced
    if available_bytes is None:
        available_bytes = psutil.virtual_memory().available
    return int(available_bytes // (1024 * 1024))


def read_load() -> float:
    """This node's 1-minute load average, to two decimals (0 where the system has none)."""
    forced = _test_figure(TEST_LOAD_FILE, float)
    if forced is not None:
        return forced
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return 0.0


def read_resources() -> Resources:
    memory = psutil.virtual_memory()
    return Resources(
        cores=psutil.cpu_count(logical=True) or 1,
        ram_mb=int(memory.total // (1024 * 1024)),
        free_ram_mb=read_free_ram_mb(memory.available),
        load=read_load(),
        cpu_percent=psutil.cpu_percent(interval=None),
        os=platform.system().lower(),
        version=__version__,
    )


def parse_gpu_query(output: str) -> list[str]:
    """The GPU ids (indexes) in ``nvidia-smi --query-gpu=index,name,memory.total
    --format=csv,noheader``'s output: one ``0, NVIDIA RTX A6000, 49140 MiB`` line per GPU."""
    ids: list[str] = []
    for line in output.splitlines():
        index = line.split(",", 1)[0].strip()
        if index.isdigit():
            ids.append(index)
    return ids


def detect_gpus() -> list[str]:
    """This node's NVIDIA GPUs, from ``nvidia-smi``; none when it is absent or fails (logged)."""
    path = shutil.which(NVIDIA_SMI)
    if path is None:
        return []
    try:
        done = subprocess.run([path, *GPU_QUERY], capture_output=True, text=True,
                              timeout=GPU_QUERY_TIMEOUT_S, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("%s failed (%s): no GPUs reported; set them with the gpus setting", NVIDIA_SMI, exc)
        return []
    ids = parse_gpu_query(done.stdout)
    log.info("%s found %d GPU(s): %s", NVIDIA_SMI, len(ids), ",".join(ids) or "none")
    return ids


def node_gpus(configured: Sequence[str] | None) -> list[str]:
    """This node's GPU ids: the configured ones when set (even none), else detected."""
    return list(configured) if configured is not None else detect_gpus()

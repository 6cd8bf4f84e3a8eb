"""What a render node has: cores, RAM, load, OS, read with psutil."""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass
from typing import Any

import psutil

from puli_mesh import __version__


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


def read_resources() -> Resources:
    memory = psutil.virtual_memory()
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = 0.0
    return Resources(
        cores=psutil.cpu_count(logical=True) or 1,
        ram_mb=int(memory.total // (1024 * 1024)),
        free_ram_mb=int(memory.available // (1024 * 1024)),
        load=round(load, 2),
        cpu_percent=psutil.cpu_percent(interval=None),
        os=platform.system().lower(),
        version=__version__,
    )

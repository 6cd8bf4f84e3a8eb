"""Client tests load helper runners by dotted path (``clienthelpers.X``), as a render node would.

This directory goes on sys.path so ``clienthelpers`` imports in this process
and, through the PYTHONPATH local execution hands on, in watcher subprocesses.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

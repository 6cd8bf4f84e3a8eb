"""Puli's ``octopus.commandwatcher.commandwatcher`` path: its ``CommandWatcher`` class.

The class lives in :mod:`puliclient.commandwatcher`; this module only re-exports it.
"""

from __future__ import annotations

from puliclient.commandwatcher import CommandWatcher

__all__ = ["CommandWatcher"]

"""A runner written the old Puli way: ``execute(self, arguments)``, logging through ``self.log``.

It lives in its own module so a render node (or the local watcher) can import
it as ``customrunner.CountRunner``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from puliclient.jobs import CommandRunner, IntegerParameter, StringParameter


class CountRunner(CommandRunner):
    """Writes the numbers 1..count into ``path``, one per line."""

    path = StringParameter(mandatory=True)
    count = IntegerParameter(default=3, min=1, max=1000)

    def execute(self, arguments: dict[str, Any]) -> None:
        self.log.info("counting to %d into %s", arguments["count"], arguments["path"])
        numbers = "\n".join(str(i) for i in range(1, arguments["count"] + 1))
        Path(arguments["path"]).write_text(numbers + "\n")

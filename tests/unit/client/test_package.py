"""The import paths Puli scripts use: what ``puliclient`` itself offers, and from where."""

from __future__ import annotations

import subprocess
import sys

import puliclient
from puliclient import status
from puliclient.jobs import RunnerToolkit


def test_runner_toolkit_is_importable_where_puli_scripts_find_it() -> None:
    import puliclient.runner

    assert puliclient.RunnerToolkit is RunnerToolkit
    assert puliclient.runner.RunnerToolkit is RunnerToolkit


def test_a_custom_runner_module_importing_runner_toolkit_from_the_package_loads() -> None:
    # A Puli-era runner file, as a studio has it: imported in a fresh interpreter so the
    # package's lazy attributes are exercised from scratch.
    script = (
        "from puliclient import RunnerToolkit\n"
        "from puliclient.jobs import CommandRunner\n"
        "class EchoRunner(CommandRunner):\n"
        "    def execute(self, arguments, updateCompletion, updateMessage):\n"
        "        RunnerToolkit.executeWithOutput('true')\n"
        "print(RunnerToolkit.__module__)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == RunnerToolkit.__module__


def test_star_import_gives_puli_command_status_names_and_helpers() -> None:
    namespace: dict[str, object] = {}
    exec("from puliclient import *", namespace)
    for name in ("CMD_STATUS", "CMD_STATUS_NAME", "isDoneStatus", "isErrorStatus", "isFinalStatus",
                 "isRunningStatus", "RunnerToolkit", "CMD_DONE", "DONE"):
        assert name in namespace, name
    assert namespace["CMD_STATUS"] is status.CMD_STATUS
    assert namespace["CMD_STATUS_NAME"] is status.CMD_STATUS_NAME
    assert namespace["isFinalStatus"] is status.isFinalStatus
    assert namespace["isRunningStatus"] is status.isRunningStatus
    assert namespace["isDoneStatus"] is status.isDoneStatus
    assert namespace["isErrorStatus"] is status.isErrorStatus


def test_every_name_of_all_resolves() -> None:
    for name in puliclient.__all__:
        assert getattr(puliclient, name) is not None, name

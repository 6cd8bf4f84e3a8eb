# ruff: noqa: UP031, UP028, N816 - written as Puli-era scripts were (their style is what is tested)
"""A custom runner as Puli-era studios wrote them: ``from puliclient import RunnerToolkit``.

A render node imports it by its dotted path (``toolkitrunner.ToolkitRunner``): the task's
environment puts this directory on PYTHONPATH (see ``toolkit_job.py``).
"""

from puliclient import RunnerToolkit
from puliclient.jobs import CommandRunner, StringParameter


class ToolkitRunner(CommandRunner):
    """Runs ``cmd`` through the toolkit, with a timeout, as Puli's runners did."""

    cmd = StringParameter(mandatory=True)

    def execute(self, arguments, updateCompletion, updateMessage, updateStats=None):
        self.log.info("running %s with the toolkit", arguments["cmd"])
        RunnerToolkit.executeWithTimeout(arguments["cmd"], 30)
        updateCompletion(1.0)
        updateMessage("ran through RunnerToolkit")

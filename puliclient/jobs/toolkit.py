"""``RunnerToolkit``: helpers for custom runners (run with a timeout, stream output, mail).

Every process started here runs in its own session so a timeout kills its whole
tree. These helpers block the calling thread; they do not report completion
(the runner does, through its callbacks).
"""

from __future__ import annotations

import logging
import queue
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from typing import IO, Protocol

from puliclient.errors import CommandError, RunnerTimeoutError
from puliclient.processes import guarded_process, kill_process_group


class SavableGraph(Protocol):
    """What ``runGraphInXterm`` uses of a :class:`~puliclient.graph.Graph` (the jobs
    package does not import the object model, which imports it)."""

    def save(self, path: str) -> None: ...


log = logging.getLogger("puli.runner")

OutputCallback = Callable[[str], None]
TimeoutCallback = Callable[[subprocess.Popen[bytes]], None]


def _pump_lines(stream: IO[bytes], lines: queue.Queue[str | None]) -> None:
    for raw in iter(stream.readline, b""):
        lines.put(raw.decode(errors="replace").rstrip("\n"))
    lines.put(None)


def _stream_output(
    process: subprocess.Popen[bytes],
    timeout: float,
    outputCallback: OutputCallback | None,
    timeoutCallback: TimeoutCallback | None,
) -> int:
    """The body of ``execute``: pass the output on until ``process`` ends."""
    assert process.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=_pump_lines, args=(process.stdout, lines), daemon=True)
    reader.start()
    emit = outputCallback or log.info
    period = timeout if timeout and timeout > 0 else None
    try:
        while True:
            try:
                line = lines.get(timeout=period)
            except queue.Empty:
                if timeoutCallback is not None and process.poll() is None:
                    timeoutCallback(process)
                continue
            if line is None:
                break
            emit(line)
        return process.wait()
    except BaseException:
        # Here rather than in guarded_process's exit, which comes after the
        # finally: the reader only sees EOF once the group is dead.
        kill_process_group(process)
        raise
    finally:
        reader.join(timeout=1.0)
        process.stdout.close()


class RunnerToolkit:
    """Static helpers, as in Puli's ``puliclient.jobs.RunnerToolkit``."""

    @staticmethod
    def executeWithTimeout(cmd: str, timeout: float) -> int:
        """Run ``cmd`` in a shell; past ``timeout`` s kill its process group and raise.

        Returns the exit code. Raises ``RunnerTimeoutError`` on timeout.
        """
        # Any other exception (an interruption) kills the group on its way out of the with.
        with guarded_process(cmd, kill_process_group, shell=True, start_new_session=True) as process:
            try:
                return process.wait(timeout=timeout if timeout and timeout > 0 else None)
            except subprocess.TimeoutExpired:
                kill_process_group(process)
                raise RunnerTimeoutError(f"command timed out after {timeout} s: {cmd}") from None

    @staticmethod
    def execute(
        cmd: str,
        timeout: float = 0,
        outputCallback: OutputCallback | None = None,
        timeoutCallback: TimeoutCallback | None = None,
    ) -> int:
        """Run ``cmd`` (split with shlex, no shell), stdout and stderr merged.

        Each output line goes to ``outputCallback`` (or to the runner log).
        While it runs, ``timeoutCallback(process)`` is called every ``timeout``
        seconds (``timeout <= 0``: never); the callback decides whether to kill
        it. Returns the exit code; a command that cannot start raises
        ``CommandError``.
        """
        started = False
        try:
            with guarded_process(
                shlex.split(cmd),
                kill_process_group,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            ) as process:
                started = True
                return _stream_output(process, timeout, outputCallback, timeoutCallback)
        except (OSError, ValueError) as exc:
            if started:  # the command's own failure, not a failure to start it
                raise
            raise CommandError(f"cannot run {cmd!r}: {exc}") from exc

    @classmethod
    def executeWithOutput(cls, cmd: str, outputCallback: OutputCallback | None = None) -> int:
        """``execute`` without the periodic callback."""
        return cls.execute(cmd, 0, outputCallback, None)

    @staticmethod
    def sendMail(
        subject: str,
        body: str,
        toAddress: str,
        ccAddress: str = "",
        fromAddress: str = "puliserver",
        SMTPhost: str = "localhost",
        SMTPport: int = 25,
    ) -> None:
        """Send a plain-text mail through ``SMTPhost`` (Puli defaulted to a Google MX; we
        default to the local MTA). ``toAddress``/``ccAddress`` may hold several
        addresses separated by commas. Raises ``CommandError`` if sending fails."""
        import smtplib  # here, not at module level: every command process imports this module
        from email.message import EmailMessage

        message = EmailMessage()
        message["Subject"] = subject
        message["From"] = fromAddress
        message["To"] = toAddress
        if ccAddress:
            message["Cc"] = ccAddress
        message.set_content(body)
        try:
            with smtplib.SMTP(SMTPhost, SMTPport, timeout=30) as smtp:
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            raise CommandError(f"cannot send mail through {SMTPhost}:{SMTPport}: {exc}") from exc

    @staticmethod
    def runGraphInXterm(graph: SavableGraph, keepWindowOpen: bool = True) -> subprocess.Popen[bytes]:
        """Save ``graph`` to a temporary file and execute it locally in a new xterm.

        Returns the xterm process. Raises ``NotImplementedError`` when no
        ``xterm`` is installed.
        """
        xterm = shutil.which("xterm")
        if xterm is None:
            raise NotImplementedError("runGraphInXterm needs 'xterm', which is not installed")
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
            path = handle.name
        graph.save(path)
        command = [xterm, *(["-hold"] if keepWindowOpen else []), "-e"]
        command += [sys.executable, "-m", "puliclient.local_execution", path]
        return subprocess.Popen(command)

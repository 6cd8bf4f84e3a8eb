"""The command watcher: run one command's runner and report how it goes.

In-process, :func:`watch` loads the runner class by dotted path, validates the
arguments, calls ``execute`` with reporting callbacks and maps the outcome to
a :class:`~puliclient.status.CommandStatus`:

* normal return or ``CommandDone`` → DONE (completion 1.0);
* ``RunnerTimeoutError`` (Puli's ``jobs.TimeoutError``) → TIMEOUT;
* ``CommandError``, ``ValidationError``, ``RangeError``, ``JobTypeImportError``
  or any other exception → ERROR (traceback logged, message set);
* ``KeyboardInterrupt`` propagates.

As a program, ``python -m puliclient.commandwatcher --report-fd N`` reads one
JSON object ``{"runner", "arguments", "environment"}`` from stdin, runs
:func:`watch` (the runner's output goes to this process's stdout/stderr) and
writes one JSON object per line to file descriptor N for each event::

    {"event": "completion", "value": 0.5}
    {"event": "message", "value": "..."}
    {"event": "stats", "value": {...}}
    {"event": "end", "status": <CommandStatus int>, "message": "...", "completion": 1.0}

:class:`CommandWatcher` is Puli's class of that name, with its constructor: building
one runs the command in this process (Puli's ``Graph.execNode`` did so) and leaves the
outcome in ``finalState``. Every runner, however it is run, finds the watcher running
it as ``self.associatedWatcher`` (``id``, ``arguments``, ``completion``, ``message``,
``stats``, ``startDate``, ``finalState``), as in Puli.

Exit code 0 when DONE, 1 otherwise. SIGTERM is turned into an interruption,
so the runner kills its frames before the watcher exits with status CANCELED.
Importing this module has no side effects. It does not retry and knows
nothing of the mesh.
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

from puliclient.errors import CommandDone, CommandError, JobTypeImportError, RunnerTimeoutError
from puliclient.jobs import loadCommandRunner
from puliclient.status import CommandStatus

log = logging.getLogger(__name__)


@dataclass
class WatchResult:
    """How a command ended."""

    status: CommandStatus
    message: str
    completion: float
    stats: dict[str, Any] = field(default_factory=dict)


@contextmanager
def _environment_applied(environment: Mapping[str, str]) -> Iterator[None]:
    """Apply ``environment`` to os.environ for the duration, then restore it exactly."""
    saved = {key: os.environ.get(key) for key in environment}
    os.environ.update(environment)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _accepts(function: Callable[..., Any], name: str) -> bool:
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == name or p.kind is p.VAR_KEYWORD for p in parameters)


def _is_old_style(execute: Callable[..., Any]) -> bool:
    """``execute(self, arguments)``: Puli's first runners, which log through ``self.log``."""
    try:
        parameters = list(inspect.signature(execute).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    variadic = any(p.kind is p.VAR_POSITIONAL for p in parameters)
    return len(positional) <= 1 and not variadic


class CommandWatcher:
    """Puli's ``CommandWatcher(serverFullName, workerPort, id, runner, runnerPackages,
    validationExpression, arguments)``: building one runs the command here, now.

    The outcome is ``finalState`` (a :class:`CommandStatus`) and ``result`` (the
    :class:`WatchResult`); ``completion``, ``message`` and ``stats`` follow the runner
    while it runs. ``serverFullName`` and ``workerPort`` are kept for scripts that read
    them: nothing is reported over HTTP (Puli's local mode, worker port ``"0"``); on the
    mesh the worker reads the program's events instead. ``start=False`` builds the watcher
    without running it (:func:`watch` makes one so for every runner's ``associatedWatcher``).
    """

    def __init__(
        self,
        serverFullName: str,
        workerPort: str | int,
        id: int,  # noqa: A002 - Puli's parameter name
        runner: str,
        runnerPackages: str | None,
        validationExpression: str,
        arguments: Mapping[str, Any],
        *,
        environment: Mapping[str, str] | None = None,
        start: bool = True,
    ) -> None:
        self.serverFullName = serverFullName
        self.workerPort = str(workerPort)
        self.id = id
        self.runner = runner
        self.runnerPackages = runnerPackages or ""
        self.validationExpression = validationExpression
        self.arguments = dict(arguments)
        self.environment = dict(environment or {})
        self.completion = 0.0
        self.message = ""
        self.stats: dict[str, Any] = {}
        self.startDate = time.time()
        self.finalState: CommandStatus | None = None
        self.result: WatchResult | None = None
        if start:
            self.run()

    def run(self) -> WatchResult:
        """Run the command in this process (see :func:`watch`); also sets ``finalState``."""
        return watch(self.runner, self.arguments, environment=self.environment, watcher=self)


class _Reporter:
    """Holds the latest completion/message/stats (on the watcher) and forwards each update."""

    def __init__(
        self,
        watcher: CommandWatcher,
        on_completion: Callable[[float], None] | None,
        on_message: Callable[[str], None] | None,
        on_stats: Callable[[dict[str, Any]], None] | None,
        on_licence: Callable[[str], None] | None = None,
    ) -> None:
        self.watcher = watcher
        self._on_completion = on_completion
        self._on_message = on_message
        self._on_stats = on_stats
        self._on_licence = on_licence

    def _forward(self, callback: Callable[[Any], None] | None, value: Any) -> None:
        if callback is None:
            return
        try:
            callback(value)
        except Exception:
            log.exception("a reporting callback failed; the command goes on")

    @property
    def completion(self) -> float:
        return self.watcher.completion

    @property
    def message(self) -> str:
        return self.watcher.message

    @property
    def stats(self) -> dict[str, Any]:
        return self.watcher.stats

    def update_completion(self, value: float) -> None:
        self.watcher.completion = min(1.0, max(0.0, float(value)))
        self._forward(self._on_completion, self.watcher.completion)

    def update_message(self, value: str) -> None:
        self.watcher.message = str(value)
        self._forward(self._on_message, self.watcher.message)

    def update_stats(self, value: Mapping[str, Any]) -> None:
        self.watcher.stats.update(value)
        self._forward(self._on_stats, dict(self.watcher.stats))

    def update_license(self, request: Mapping[str, Any]) -> bool:
        """Puli's ``updateLicense``: ``{'action': 'release', 'licenseName': NAME}`` gives the
        command's token of NAME back before it ends (on the farm, the next command needing it
        may start). Only ``release`` exists, as in Puli; anything else returns False."""
        name = request.get("licenseName") if isinstance(request, Mapping) else None
        if not isinstance(request, Mapping) or request.get("action") != "release" or not isinstance(name, str) \
                or not name:
            log.warning("licence request %r refused: only {'action': 'release', 'licenseName': NAME} "
                        "is supported", request)
            return False
        self._forward(self._on_licence, name)
        return True


def watch(
    runner: str,
    arguments: dict[str, Any],
    *,
    environment: dict[str, str] | None = None,
    on_completion: Callable[[float], None] | None = None,
    on_message: Callable[[str], None] | None = None,
    on_stats: Callable[[dict[str, Any]], None] | None = None,
    on_licence: Callable[[str], None] | None = None,
    watcher: CommandWatcher | None = None,
) -> WatchResult:
    """Run the runner at dotted path ``runner`` on ``arguments``; see the module docstring.

    ``environment`` is set in ``os.environ`` while the runner runs (restored
    afterwards) and given to the runner as ``runner.environment`` for its
    subprocesses. ``arguments`` is not modified. ``watcher`` is the runner's
    ``associatedWatcher`` (one is made from ``environment`` when not given); it
    holds the progress and, at the end, ``finalState`` and ``result``.
    """
    environment = dict(environment or {})
    if watcher is None:
        watcher = CommandWatcher(
            "", "0", _command_id(environment), runner, environment.get("PULI_RUNNER_PACKAGES", ""),
            "0", arguments, environment=environment, start=False,
        )
    reporter = _Reporter(watcher, on_completion, on_message, on_stats, on_licence)
    started = time.monotonic()
    try:
        with _environment_applied(environment):
            _run(runner, watcher.arguments, environment, reporter)
    except CommandDone as done:
        return _ended(CommandStatus.DONE, str(done) or reporter.message, 1.0, reporter, runner)
    except RunnerTimeoutError as exc:
        log.error("runner %s timed out: %s", runner, exc)
        return _ended(CommandStatus.TIMEOUT, str(exc), reporter.completion, reporter, runner)
    except CommandError as exc:
        log.error("runner %s failed: %s", runner, exc, exc_info=log.isEnabledFor(logging.DEBUG))
        return _ended(CommandStatus.ERROR, str(exc), reporter.completion, reporter, runner)
    except JobTypeImportError as exc:
        log.error("%s", exc)
        return _ended(CommandStatus.ERROR, str(exc), 0.0, reporter, runner)
    except SystemExit as exc:
        if exc.code in (0, None):
            return _ended(CommandStatus.DONE, reporter.message, 1.0, reporter, runner)
        message = f"runner called sys.exit({exc.code!r})"
        return _ended(CommandStatus.ERROR, message, reporter.completion, reporter, runner)
    except Exception as exc:
        log.exception("runner %s crashed", runner)
        message = f"crashed: {type(exc).__name__}: {exc}"
        return _ended(CommandStatus.ERROR, message, reporter.completion, reporter, runner)
    log.debug("runner %s done in %.2f s", runner, time.monotonic() - started)
    return _ended(CommandStatus.DONE, reporter.message, 1.0, reporter, runner)


def _command_id(environment: Mapping[str, str]) -> int:
    """The command id the mesh's worker put in the environment (0 when run by hand)."""
    value = environment.get("PULI_COMMAND_ID") or os.environ.get("PULI_COMMAND_ID", "")
    return int(value) if value.isdigit() else 0


def _ended(
    status: CommandStatus, message: str, completion: float, reporter: _Reporter, runner: str
) -> WatchResult:
    log.info("runner %s ended %s%s", runner, status.name, f": {message}" if message else "")
    result = WatchResult(status, message, completion, dict(reporter.stats))
    reporter.watcher.completion = completion
    reporter.watcher.finalState = status
    reporter.watcher.result = result
    return result


def _run(
    runner_path: str, arguments: dict[str, Any], environment: dict[str, str], reporter: _Reporter
) -> None:
    runner = loadCommandRunner(runner_path)()
    runner.environment = environment
    runner.startDate = reporter.watcher.startDate
    runner.runnerPackages = reporter.watcher.runnerPackages
    runner.associatedWatcher = reporter.watcher
    runner.validate(arguments)
    execute = runner.execute
    if _is_old_style(execute):
        execute(arguments)
        return
    extra: dict[str, Any] = {}
    if _accepts(execute, "updateStats"):
        extra["updateStats"] = reporter.update_stats
    if _accepts(execute, "updateLicense"):
        extra["updateLicense"] = reporter.update_license
    execute(arguments, reporter.update_completion, reporter.update_message, **extra)


# --------------------------------------------------------------------------- program
class _EventWriter:
    """Writes one JSON object per line to the report file descriptor (or nowhere)."""

    def __init__(self, stream: IO[str] | None) -> None:
        self.stream = stream

    def __call__(self, event: dict[str, Any]) -> None:
        if self.stream is None:
            return
        self.stream.write(json.dumps(event) + "\n")
        self.stream.flush()


def _read_request(stdin: IO[str]) -> tuple[str, dict[str, Any], dict[str, str]]:
    request = json.loads(stdin.read())
    if not isinstance(request, dict):
        raise ValueError("the request must be a JSON object")
    runner, arguments = request.get("runner"), request.get("arguments", {})
    environment = request.get("environment") or {}
    if not isinstance(runner, str):
        raise ValueError("'runner' must be a dotted path string")
    if not isinstance(arguments, dict) or not isinstance(environment, dict):
        raise ValueError("'arguments' and 'environment' must be objects")
    return runner, arguments, {str(k): str(v) for k, v in environment.items()}


class _InterruptOnce:
    """The SIGTERM handler: the first SIGTERM becomes a KeyboardInterrupt, later ones do nothing.

    The agent signals the watcher's process group and then each process of the command, so the
    watcher often gets SIGTERM twice; a second interruption would break into the cleanup the
    first one started (the runner killing its frames), which must run to its end.
    """

    def __init__(self) -> None:
        self.interrupted = False

    def __call__(self, signum: int, frame: object) -> None:
        if self.interrupted:
            log.info("signal %d again: already stopping", signum)
            return
        self.interrupted = True
        raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m puliclient.commandwatcher``; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m puliclient.commandwatcher")
    parser.add_argument("--report-fd", type=int, default=None,
                        help="file descriptor receiving one JSON event per line")
    options = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stream = None
    if options.report_fd is not None:
        os.set_inheritable(options.report_fd, False)
        stream = os.fdopen(options.report_fd, "w", buffering=1)
    emit = _EventWriter(stream)
    signal.signal(signal.SIGTERM, _InterruptOnce())
    try:
        runner, arguments, environment = _read_request(sys.stdin)
    except ValueError as exc:
        emit({"event": "end", "status": int(CommandStatus.ERROR),
              "message": f"bad request on stdin: {exc}", "completion": 0.0})
        return 1
    try:
        result = watch(
            runner,
            arguments,
            environment=environment,
            on_completion=lambda value: emit({"event": "completion", "value": value}),
            on_message=lambda value: emit({"event": "message", "value": value}),
            on_stats=lambda value: emit({"event": "stats", "value": value}),
            on_licence=lambda value: emit({"event": "licence", "value": value}),
        )
    except KeyboardInterrupt:
        emit({"event": "end", "status": int(CommandStatus.CANCELED),
              "message": "interrupted", "completion": 0.0})
        return 1
    emit({"event": "end", "status": int(result.status), "message": result.message,
          "completion": result.completion})
    return 0 if result.status == CommandStatus.DONE else 1


if __name__ == "__main__":
    sys.exit(main())

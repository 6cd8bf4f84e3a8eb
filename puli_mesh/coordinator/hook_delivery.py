"""Delivering hook events: the leader's thread that POSTs them and runs hooks' commands.

The service hands over events once the record that made them is durable (``offer``, which never
blocks: a bounded inbox, the oldest dropped and logged beyond ``hooks.OUTBOX_MAX_EVENTS``). This
thread matches them to the hooks kept in ZooKeeper (read again every ``REFRESH_S``), delivers
each hook's events in order, one at a time, and after each success (or give-up) moves the hook's
mark in ZooKeeper (``hook_store``: fenced by the epoch). A successor leader delivers every kept
event after each hook's mark again: at least once, duplicates possible (receivers de-duplicate
on the document's ``id``).

Delivery: a URL gets ``POST`` with the JSON document (``Content-Type: application/json``), any
2xx is success, ``hooks.HTTP_TIMEOUT_S`` at most; a command is split as a shell would
(``shlex``, no shell), gets the document on stdin and ``PULI_EVENT*`` variables
(``hooks.command_environment``) over what a render command inherits (``node.launch``), must
exit 0 within ``hooks.COMMAND_TIMEOUT_S``; an agent running as root runs it as ``nobody`` (in
``/``), never as root. A failure is retried after ``hooks.retry_delay`` (1 s doubling up
to 5 minutes); an event older than ``hooks.GIVE_UP_S`` is logged and dropped.

Guarantees: never blocks the loop (``offer`` takes a lock for a list append); stops once its
service is gone, a newer epoch exists (checked every ``REFRESH_S``), or a mark write is fenced.
One slow receiver delays the other hooks by at most its timeout per try.

Not here: which events exist (``hook_events``), what a hook is (``puli_mesh.hooks``), ZooKeeper
itself (``hook_store``).
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import subprocess
import threading
import time
import urllib.error
import urllib.request
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from puli_mesh.coordinator.hook_events import HookEvent
from puli_mesh.errors import FencedError, JobUserError
from puli_mesh.hooks import (
    COMMAND_TIMEOUT_S,
    HTTP_TIMEOUT_S,
    OUTBOX_MAX_EVENTS,
    Hook,
    command_environment,
    given_up,
    retry_delay,
)
from puli_mesh.node import launch

log = logging.getLogger(__name__)

REFRESH_S = 2.0
"""Hooks (and the epoch) are read again this often: a new hook gets events within 2 s."""
IDLE_WAIT_S = 0.2
"""The thread sleeps at most this long when nothing is due (woken at once by ``offer``)."""


class HookStore(Protocol):
    """Hooks and marks in ZooKeeper (``hook_store.ZooKeeperHookStore``), or a test's stub."""

    def read_hooks(self) -> dict[str, Hook]: ...
    def read_marks(self) -> dict[str, int]: ...
    def write_mark(self, name: str, seq: int) -> None: ...
    def still_leading(self) -> bool: ...


@dataclass(slots=True)
class HookQueue:
    """One hook's events to deliver, in order, and how the first one has fared."""

    hook: Hook
    mark: int
    events: deque[HookEvent] = field(default_factory=deque)
    failures: int = 0
    next_try: float = 0.0  # monotonic
    url_done: bool = False  # the head's POST succeeded (a retry runs only its command)
    dirty: bool = False  # mark moved, not yet written


class HookDelivery(threading.Thread):
    """The delivery thread of one leader (one epoch)."""

    def __init__(self, store: HookStore, cluster: str, backlog: list[HookEvent],
                 alive: Callable[[], bool]) -> None:
        super().__init__(name="hook-delivery", daemon=True)
        self.store = store
        self.cluster = cluster
        self.alive = alive
        self._inbox: deque[HookEvent] = deque(backlog)
        self.kept: deque[HookEvent] = deque(maxlen=OUTBOX_MAX_EVENTS)
        """Every event sorted so far, for a hook this thread learns of later (a hook added
        just before an event is read here up to ``REFRESH_S`` after it)."""
        self._wake = threading.Condition()
        self._stopped = False
        self.queues: dict[str, HookQueue] = {}
        self.delivered = 0
        self.dropped = 0

    def offer(self, events: list[HookEvent]) -> None:
        """Events now durable (never blocks)."""
        if not events:
            return
        with self._wake:
            self._inbox.extend(events)
            while len(self._inbox) > OUTBOX_MAX_EVENTS:
                gone = self._inbox.popleft()
                self.dropped += 1
                log.error("hook event %d (%s) dropped: %d events wait for delivery already",
                          gone.seq, gone.kind, OUTBOX_MAX_EVENTS)
            self._wake.notify()

    def stop(self) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify()

    # ------------------------------------------------------------------ the loop
    def run(self) -> None:
        next_refresh = 0.0
        while not self._stopped and self.alive():
            try:
                if time.monotonic() >= next_refresh:
                    next_refresh = time.monotonic() + REFRESH_S
                    if not self.store.still_leading():
                        log.info("hook delivery stops: a newer leader exists")
                        return
                    self._refresh()
                self._sort_inbox()
                wait = self._deliver_due()
                self._write_marks()
            except FencedError:
                log.info("hook delivery stops: a newer leader exists")
                return
            except Exception:  # ZooKeeper away, a bug: logged, tried again shortly
                log.exception("hook delivery failed; trying again")
                wait = IDLE_WAIT_S * 5
            with self._wake:
                if not self._inbox and not self._stopped:
                    self._wake.wait(min(wait, IDLE_WAIT_S))

    def _refresh(self) -> None:
        hooks = self.store.read_hooks()
        for name in [n for n in self.queues if n not in hooks]:
            del self.queues[name]  # removed: what it still had goes with it
        new = [n for n in hooks if n not in self.queues]
        marks = self.store.read_marks() if new else {}
        for name, hook in hooks.items():
            queue = self.queues.get(name)
            if queue is None:
                queue = self.queues[name] = HookQueue(hook, marks.get(name, 0))
                queue.events.extend(e for e in self.kept if e.seq > queue.mark
                                    and hook.wants(e.kind, e.user, e.pool, e.time))
            else:
                queue.hook = hook  # replaced: its new settings from now on

    def _sort_inbox(self) -> None:
        with self._wake:
            events = list(self._inbox)
            self._inbox.clear()
        self.kept.extend(events)
        for event in events:
            for queue in self.queues.values():
                if event.seq > queue.mark and queue.hook.wants(event.kind, event.user, event.pool, event.time):
                    if not queue.events or queue.events[-1].seq < event.seq:  # a re-offer adds nothing twice
                        queue.events.append(event)

    def _deliver_due(self) -> float:
        """Try each hook's first event if due; seconds until the next try is due."""
        wait = IDLE_WAIT_S
        for queue in list(self.queues.values()):
            if not queue.events:
                continue
            now = time.monotonic()
            if now < queue.next_try:
                wait = min(wait, queue.next_try - now)
                continue
            event = queue.events[0]
            if self._deliver(queue, event):
                self.delivered += 1
                self._done(queue)
            elif given_up(event.time, time.time()):
                self.dropped += 1
                log.error("hook %s gave up on event %d (%s) after %d tries: dropped", queue.hook.name,
                          event.seq, event.kind, queue.failures)
                self._done(queue)
            else:
                queue.next_try = time.monotonic() + retry_delay(queue.failures)
                wait = min(wait, retry_delay(queue.failures))
        return wait

    def _done(self, queue: HookQueue) -> None:
        event = queue.events.popleft()
        queue.mark, queue.dirty = event.seq, True
        queue.failures, queue.next_try, queue.url_done = 0, 0.0, False

    def _write_marks(self) -> None:
        for name, queue in self.queues.items():
            if queue.dirty:
                self.store.write_mark(name, queue.mark)
                queue.dirty = False

    # ---------------------------------------------------------------- delivering
    def _deliver(self, queue: HookQueue, event: HookEvent) -> bool:
        hook = queue.hook
        document = event.document(self.cluster)
        body = json.dumps(document, sort_keys=True)
        try:
            if hook.url is not None and not queue.url_done:
                post(hook.url, body, document["id"])
                queue.url_done = True
            if hook.command is not None:
                run_command(hook.command, body, command_environment(document, body))
        except (OSError, ValueError, subprocess.SubprocessError, HookFailed, JobUserError) as exc:
            queue.failures += 1
            log.warning("hook %s: event %d (%s) not delivered (try %d): %s", hook.name, event.seq,
                        event.kind, queue.failures, exc)
            return False
        log.info("hook %s: event %d (%s) delivered", hook.name, event.seq, event.kind)
        return True


def start_for(owner: object, journal: object, cluster: str, backlog: list[HookEvent]) -> HookDelivery | None:
    """Start the delivery of a service (``owner``) whose journal keeps hooks (a ZooKeeper one:
    ``journal.JournalWriter.hook_store``); None for a journal without (a test's in-memory one).
    It runs while ``owner`` exists and is not fenced."""
    store = getattr(journal, "hook_store", None)
    if store is None:
        return None
    ref = weakref.ref(owner)

    def alive() -> bool:
        me = ref()
        return me is not None and not getattr(me, "fenced", False)

    delivery = HookDelivery(store(), cluster, backlog, alive)
    delivery.start()
    return delivery


class HookFailed(Exception):
    """A receiver answered, but not with success (a non-2xx status, a command's exit status)."""


def post(url: str, body: str, event_id: str) -> None:
    request = urllib.request.Request(url, data=body.encode(), method="POST", headers={
        "Content-Type": "application/json", "User-Agent": "puli-mesh-hooks", "X-Puli-Event-Id": event_id})
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as answer:
            status = answer.status
    except urllib.error.HTTPError as exc:
        raise HookFailed(f"{url} answered {exc.code}") from None
    if not 200 <= status < 300:
        raise HookFailed(f"{url} answered {status}")


HOOK_ACCOUNT = "nobody"
"""Who a command hook runs as when the agent runs as root: never root."""


def run_command(command: str, body: str, variables: dict[str, str]) -> None:
    """Run a hook's command as a render command would be (``node.launch``: the same inherited
    environment, never root), plus the event's variables."""
    account = launch.job_account(HOOK_ACCOUNT) if os.geteuid() == 0 else None
    env = {**launch.inherited_environment(os.environ, account=account), **variables}
    spawn = account.spawn_arguments() if account is not None else {}
    done = subprocess.run(shlex.split(command), input=body.encode(), env=env, capture_output=True,
                          timeout=COMMAND_TIMEOUT_S, check=False, **spawn)
    if done.returncode != 0:
        raise HookFailed(f"{command!r:.80} exited {done.returncode}: {done.stderr[-300:].decode(errors='replace')}")

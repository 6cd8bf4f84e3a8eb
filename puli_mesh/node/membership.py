"""An agent's presence in ZooKeeper: its ephemeral member znode and its election contender.

Runs on kazoo's threads; every change is handed to the agent's loop through
``post`` (a thread-safe callable), never applied to agent state directly.

The election uses kazoo's ``Election`` recipe (a lock: the lowest sequential
ephemeral node leads, each contender watches only its predecessor). Kazoo never
interrupts a leader function, so ``_lead`` just tells the loop it leads and
waits until the loop says to stop; the loop watches the connection state
itself (a recipe's callback must not block kazoo's event thread).

What SUSPENDED and LOST mean for the caller, and what the agent does about them
(stop dispatching, step down, rejoin), is decided by ``node/role.py``; this module
only reports them (``zk_state``, ``elected``, ``election_failed``).

The member znode is readable by anyone (clients list the members), the election's are private
to the cluster's credential (``zk_access.acl_for``; the recipe's creates take the client's
default ACL, which ``zk_access.connect`` makes private).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import NodeExistsError, NoNodeError
from kazoo.recipe.election import Election
from kazoo.security import ACL

from puli_mesh import zk_access
from puli_mesh.cluster_state import dump
from puli_mesh.errors import ZooKeeperError
from puli_mesh.zkpaths import ClusterPaths

log = logging.getLogger(__name__)

Post = Callable[[str, Any], None]

REGISTER_POLL_S = 0.2
"""While a previous session's member znode waits to expire, look again this often."""
CLOSE_JOIN_S = 5.0
FIGURES = frozenset({"running", "free_ram_mb", "load", "cpu_percent"})
"""What changes all the time in an agent's member data: written at most each ``FIGURES_EVERY_S``."""
FIGURES_EVERY_S = 60.0
"""Closing waits this long for the election thread to release the lock (one ZooKeeper delete)."""


class Membership:
    """Registers the agent, runs it in the election, and reports leadership and session changes."""

    def __init__(self, zk: KazooClient, paths: ClusterPaths, name: str, post: Post) -> None:
        self.zk = zk
        self.paths = paths
        self.name = name
        self.post = post
        self.election = Election(zk, paths.election, identifier=name)
        self.credential = zk_access.client_credential(zk)
        self._stop_leading = threading.Event()
        self._thread: threading.Thread | None = None
        self._closing = False
        self._written: dict[str, Any] | None = None  # the member data last written by update()
        self._written_at = 0.0
        self.zk.add_listener(self._on_state)

    def _on_state(self, state: str) -> None:
        # Called on kazoo's connection thread: only hand the event over.
        self.post("zk_state", state)

    def register(self, data: dict[str, Any], wait: float) -> None:
        """Create the member znode; wait up to ``wait`` s for a previous session's node to expire."""
        path = self.paths.node(self.name)
        zk_access.ensure_znode(self.zk, self.paths, self.paths.nodes, self.credential)
        deadline = time.monotonic() + wait
        while True:
            try:
                self.zk.create(path, dump(data), acl=self._member_acl(), ephemeral=True)
                return
            except NodeExistsError:
                try:
                    _, stat = self.zk.get(path)
                except NoNodeError:
                    continue
                if stat.ephemeralOwner == self.zk.client_id[0]:
                    self.zk.set(path, dump(data))
                    return
                if time.monotonic() > deadline:
                    raise ZooKeeperError(
                        f"another agent named {self.name!r} is alive in cluster "
                        f"{self.paths.cluster!r}; give this one another --name"
                    ) from None
                time.sleep(REGISTER_POLL_S)

    def update(self, data: dict[str, Any], now: float) -> None:
        """Write this agent's data if it changed beyond its figures (``FIGURES``), or if the
        figures were last written ``FIGURES_EVERY_S`` ago: at 2,000 agents a write each 10 s
        was 200 quorum writes a second, most of them a new load average."""
        written = self._written
        if (written is not None and now - self._written_at < FIGURES_EVERY_S
                and all(data.get(k) == v for k, v in written.items() if k not in FIGURES)
                and data.keys() == written.keys()):
            return
        self._write(data)
        self._written, self._written_at = dict(data), now

    def _write(self, data: dict[str, Any]) -> None:
        try:
            self.zk.set(self.paths.node(self.name), dump(data))
        except NoNodeError:
            self.zk.create(self.paths.node(self.name), dump(data), acl=self._member_acl(), ephemeral=True)

    def _member_acl(self) -> list[ACL]:
        return zk_access.acl_for(self.paths, self.paths.node(self.name), self.credential)

    def join_election(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._drop_stale_contenders()
        zk_access.ensure_znode(self.zk, self.paths, self.paths.election, self.credential)
        # A fresh recipe each time: a Lock whose release failed keeps stale state.
        self.election = Election(self.zk, self.paths.election, identifier=self.name)
        self._stop_leading.clear()
        self._thread = threading.Thread(target=self._run_election, name="election", daemon=True)
        self._thread.start()

    def _drop_stale_contenders(self) -> None:
        """Delete election nodes this session left behind (a release that failed while ZooKeeper
        was unreachable): contending again behind our own stale node would wait forever."""
        session = self.zk.client_id[0] if self.zk.client_id else None
        try:
            children = self.zk.get_children(self.paths.election)
        except NoNodeError:
            return
        for child in children:
            path = f"{self.paths.election}/{child}"
            try:
                _, stat = self.zk.get(path)
                if stat.ephemeralOwner == session:
                    log.info("removing our stale election node %s", child)
                    self.zk.delete(path)
            except NoNodeError:
                continue

    def _run_election(self) -> None:
        try:
            self.election.run(self._lead)
        except Exception as exc:  # session loss while contending: the loop re-joins
            if not self._closing:
                log.warning("election for %s ended: %s", self.name, exc)
                self.post("election_failed", str(exc))

    def _lead(self) -> None:
        self.post("elected", None)
        self._stop_leading.wait()

    def resign(self) -> None:
        """Stop leading (or contending); the loop calls join_election again to contend."""
        self._stop_leading.set()
        self.election.cancel()

    def close(self) -> None:
        self._closing = True
        self.resign()
        if self._thread is not None:
            self._thread.join(timeout=CLOSE_JOIN_S)

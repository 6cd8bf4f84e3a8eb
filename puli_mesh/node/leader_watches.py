"""What a leading agent follows in ZooKeeper for its coordinator: the members (who may render,
and the load figures ``status`` shows), the licences (their totals) and the pools. A base
class of :class:`~puli_mesh.node.agent.Agent`, so the agent stays one object while its
module stays short.

Kazoo's watches run on its threads: they only ``post`` an event; the agent's loop handles it
(``_event_<kind>``) and feeds the coordinator service. Member data is read asynchronously, a
slice a second (:data:`MEMBER_READS_PER_S`), never all at once on the loop.

Guarantees: a watch ends once the service it was set for no longer leads.
Not here: the agent's own registration (``node.membership``), the loop and its events
(``node.agent``), what the service does with what it is fed (``coordinator.service``).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError

from puli_mesh import cluster_state
from puli_mesh.zkpaths import ClusterPaths

if TYPE_CHECKING:
    from puli_mesh.coordinator.service import CoordinatorService

MEMBER_REFRESH_S = 10.0
"""How often an agent refreshes its own registration data, and the leader re-reads every member's."""

MEMBER_READS_PER_S = 20
"""The leader re-reads members' data (the load and memory figures ``status`` shows) a slice a
second: every member each ``MEMBER_REFRESH_S`` on a small farm, at most this many a second on a
big one (each figure then up to members / 20 seconds old). Re-reading all 2,000 members of a
farm at once queued 2,000 reads ahead of the journal's writes on the leader's one ZooKeeper
session, and dispatch waited for them: up to 1.4 s every 10 s."""


class LeaderWatches:
    """The leader's ZooKeeper watches, a base class of the agent (module docstring)."""

    zk: KazooClient
    paths: ClusterPaths
    service: CoordinatorService | None
    post: Callable[[str, Any], None]
    members_to_read: deque[str]
    """The leader's round of member reads (``read_some_members``)."""
    licences_watched: set[str]
    """Licence znodes whose data this leader watches."""

    def watch_cluster(self) -> None:
        """Follow the members, licences and pools for the service that now leads."""
        self.licences_watched = set()
        self.members_to_read.clear()
        self.zk.ChildrenWatch(self.paths.nodes, self._watch_members)
        self.zk.ChildrenWatch(self.paths.licences, self._watch_licences)
        self.zk.ChildrenWatch(self.paths.pools, self._watch_pools)

    # kazoo threads: post only
    def _watch_members(self, children: list[str]) -> bool:
        self.post("members", set(children))
        return self.service is not None

    def _watch_licences(self, _children: list[str]) -> bool:
        self.post("licences", None)
        return self.service is not None

    def _watch_pools(self, _children: list[str]) -> bool:
        self.post("pools", None)
        return self.service is not None

    # the loop: what the watches posted (the agent dispatches ``_event_<kind>``)
    def _event_members(self, names: set[str]) -> None:
        service = self.service
        if service is not None:
            before = service.members or set()
            known = service.requests.members_data
            for gone in set(known) - names:
                del known[gone]
            service.set_members(names)
            # Only members new since the last change: the watch's first call after a takeover
            # names all 2,000, whose reads (2,000 on the loop, 2,000 answers after) held the new
            # leader's loop for 2 s before it took its first HELLO. The round of reads has them.
            self._read_members(service, names - before)

    def _read_members(self, service: CoordinatorService, names: Iterable[str]) -> None:
        """Read these members' registration data without blocking the loop: one asynchronous
        get each, its answer posted back (a synchronous re-read of every member held the loop
        for a round trip per member, on every change of membership)."""
        for name in names:
            self.zk.get_async(self.paths.node(name)).rawlink(
                lambda result, name=name: self.post("member_data", (service, name, result)))

    def read_some_members(self, service: CoordinatorService) -> None:
        """This second's slice of the round of member reads (see ``MEMBER_READS_PER_S``)."""
        members = service.members or set()
        if not self.members_to_read:
            self.members_to_read.extend(sorted(members))
        count = min(len(self.members_to_read), MEMBER_READS_PER_S,
                    max(1, math.ceil(len(members) / MEMBER_REFRESH_S)))
        self._read_members(service, [self.members_to_read.popleft() for _ in range(count)])

    def _event_member_data(self, payload: tuple[CoordinatorService, str, Any]) -> None:
        service, name, result = payload
        if service is not self.service or name not in service.members:
            return  # a read for a coordinator that stepped down, or a member gone meanwhile
        try:
            data, _ = result.get_nowait()
        except NoNodeError:
            service.requests.members_data.pop(name, None)
            return
        value = cluster_state.load(data)
        service.requests.members_data[name] = value if isinstance(value, dict) else {}

    def _event_licences(self, _payload: Any) -> None:
        if self.service is not None:
            self._watch_each_licence(self.service)
            self.service.set_licences(cluster_state.read_licences(self.zk, self.paths))

    def _watch_each_licence(self, service: CoordinatorService) -> None:
        """A new total is a change of the licence znode's data, which the children watch
        does not see: watch each licence's data too, for as long as this service leads."""
        def changed(_data: bytes | None, _stat: Any) -> bool:  # on a kazoo thread
            self.post("licences", None)
            return self.service is service  # False ends the watch once this service is gone

        for name in self.zk.get_children(self.paths.licences):
            if name not in self.licences_watched:
                self.licences_watched.add(name)
                self.zk.DataWatch(self.paths.licence(name), changed)

    def _event_pools(self, _payload: Any) -> None:
        if self.service is not None:
            self.service.set_pools(cluster_state.read_pools(self.zk, self.paths))

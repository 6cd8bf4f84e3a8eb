"""Where a cluster keeps its state in ZooKeeper: the one helper that builds those paths.

Layout under ``/puli-mesh/<cluster>``::

    nodes/<name>       ephemeral, one per live agent (endpoint, resources)
    election/          kazoo Election contenders
    epoch              persistent counter: the leader's fencing token
    leader             ephemeral: endpoint and epoch of the coordinator, written once it is ready
    licences/<name>    persistent: total tokens of one licence
    pools/<name>       persistent: a pool defined by an operator
    journal/b-<seq>    persistent sequential: one group-committed batch (or part of one) of core events
    snapshot           persistent: pointer to the newest complete snapshot
    snapshots/s-<n>/p-<seq>  persistent: the compressed parts of one snapshot
    history/h-<hour>   persistent: the farm's per-minute figures of one hour (hours since the epoch)
    keys               persistent: the key registry's change counter (bumped by every write)
    keys/<name>        persistent: one key's record (name, role, public key, added, revoked)
    hooks/<name>       persistent: one event hook (events, URL, command, filters, added)
    hook_marks/<name>  persistent: the sequence number of the last event the hook was given
    shares/<pool>      persistent: the share tree of one pool ([[account, min, max, weight], ...])
    share_quotas       persistent: the quotas across pools ([[user|project, name, max], ...])
"""

from __future__ import annotations

from dataclasses import dataclass

ROOT = "/puli-mesh"


@dataclass(frozen=True)
class ClusterPaths:
    cluster: str

    @property
    def base(self) -> str:
        return f"{ROOT}/{self.cluster}"

    @property
    def nodes(self) -> str:
        return f"{self.base}/nodes"

    def node(self, name: str) -> str:
        return f"{self.nodes}/{name}"

    @property
    def election(self) -> str:
        return f"{self.base}/election"

    @property
    def epoch(self) -> str:
        return f"{self.base}/epoch"

    @property
    def leader(self) -> str:
        return f"{self.base}/leader"

    @property
    def licences(self) -> str:
        return f"{self.base}/licences"

    def licence(self, name: str) -> str:
        return f"{self.licences}/{name}"

    @property
    def pools(self) -> str:
        return f"{self.base}/pools"

    def pool(self, name: str) -> str:
        return f"{self.pools}/{name}"

    @property
    def journal(self) -> str:
        return f"{self.base}/journal"

    @property
    def snapshot(self) -> str:
        return f"{self.base}/snapshot"

    @property
    def snapshots(self) -> str:
        return f"{self.base}/snapshots"

    @property
    def history(self) -> str:
        return f"{self.base}/history"

    def history_hour(self, hour: int) -> str:
        return f"{self.history}/h-{hour:010d}"

    @property
    def keys(self) -> str:
        return f"{self.base}/keys"

    def key(self, name: str) -> str:
        return f"{self.keys}/{name}"

    @property
    def hooks(self) -> str:
        return f"{self.base}/hooks"

    def hook(self, name: str) -> str:
        return f"{self.hooks}/{name}"

    @property
    def hook_marks(self) -> str:
        return f"{self.base}/hook_marks"

    def hook_mark(self, name: str) -> str:
        return f"{self.hook_marks}/{name}"

    @property
    def shares(self) -> str:
        return f"{self.base}/shares"

    def share(self, pool: str) -> str:
        return f"{self.shares}/{pool}"

    @property
    def share_quotas(self) -> str:
        return f"{self.base}/share_quotas"

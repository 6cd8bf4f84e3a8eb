"""An agent's security: its keys, the cluster's ZooKeeper credential, the key registry, CURVE.

Built once from the settings: with ``--keys DIR`` the agent is secured (CURVE on its ROUTER as
the cluster's server key, CURVE on its worker link with its own node key, a ZAP handler that
lets in only live keys of the registry, every znode behind the cluster's credential); with
``--insecure`` nothing of that (and the agent says so in its log).

Guarantees: a secured agent's ROUTER completes a handshake only with a key registered and not
revoked at that moment, and :meth:`AgentSecurity.requester` re-checks the key of every message
against the registry as it is now, so a revoked key is refused from its next message on, even
on a connection opened before; an agent with keys that cannot be read does not start.

Not here: what a role may do (``puli_mesh.access``), the registry's znodes
(``puli_mesh.key_registry``), the ACLs (``puli_mesh.zk_access``).
"""

from __future__ import annotations

import logging
from pathlib import Path

from puli_mesh import zk_access
from puli_mesh.config import Settings
from puli_mesh.errors import ConfigError, KeyMaterialError
from puli_mesh.key_registry import KeyRegistry
from puli_mesh.keys import AgentKeys, load_agent_keys

log = logging.getLogger(__name__)


class AgentSecurity:
    """The agent's keys and the registry it checks every peer against (None parts: insecure)."""

    def __init__(self, keys: AgentKeys | None, credential: zk_access.ZooKeeperCredential | None) -> None:
        self.keys = keys
        self.credential = credential
        self.registry = KeyRegistry()

    @classmethod
    def from_settings(cls, settings: Settings) -> AgentSecurity:
        """Read the keys directory of ``settings`` (``ConfigError`` saying what is wrong with it)."""
        directory: Path | None = settings.keys_directory()
        if directory is None:
            log.warning("INSECURE mesh: no keys, no encryption, no roles; anyone who reaches port %d "
                        "or ZooKeeper owns this farm", settings.port)
            return cls(None, None)
        try:
            return cls(load_agent_keys(directory), zk_access.read_credential(directory))
        except KeyMaterialError as exc:
            raise ConfigError(f"keys directory {directory}: {exc}") from exc

    @property
    def secured(self) -> bool:
        return self.keys is not None

"""The roles a key may have: what the registry stores beside each public key.

Guarantees: pure and light (the standard library only), so a client that reads its key file
does not load the permission table and the scheduling core behind it.

Not here: what each role may do (``puli_mesh.access``).
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What a key may do; stored with its public key in the key registry."""

    USER = "user"
    OPERATOR = "operator"
    ADMIN = "admin"
    NODE = "node"


PEOPLE_RANK: dict[Role, int] = {Role.USER: 1, Role.OPERATOR: 2, Role.ADMIN: 3}
"""The people's roles, each allowed everything the ones below it are. ``node`` is apart."""



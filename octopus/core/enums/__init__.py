"""Puli's ``octopus.core.enums``: the status constants its scripts imported.

``from octopus.core import enums`` then ``enums.RN_IDLE``, ``enums.NODE_DONE``,
``enums.CMD_ERROR``, or ``from octopus.core.enums.command import *``: the same numbers as
Puli's, taken from :mod:`puliclient.status` (command and node numbering differ, as in Puli:
``CMD_DONE`` is 5, ``NODE_DONE`` 3).

Not here: anything but the constants and Puli's status helpers.
"""

from octopus.core.enums.command import *  # noqa: F403 - Puli's enums package star-exported them
from octopus.core.enums.command import __all__ as _command_names
from octopus.core.enums.node import *  # noqa: F403
from octopus.core.enums.node import __all__ as _node_names
from octopus.core.enums.rendernode import *  # noqa: F403
from octopus.core.enums.rendernode import __all__ as _rendernode_names

__all__ = [*_command_names, *_node_names, *_rendernode_names]

"""Puli's ``octopus.dispatcher.licenses.licensemanager`` path: its ``LicenseManager`` class.

The class is the coordinator's licence counters, :class:`puli_mesh.coordinator.licences.
LicenseManager`, with Puli's methods: ``releaseLicenseForRenderNode(licenseName,
renderNode)`` and ``stats()`` (``[{'name', 'total', 'used', 'rns'}]``), plus
``setMaxLicensesNumber(name, total)``. A render node is named by its name (a string), not
by a render-node object as in Puli. To see or change a running farm's licences, use
:meth:`puliclient.farm.Farm.licences` and :meth:`puliclient.farm.Farm.set_licence`.
"""

from __future__ import annotations

from puli_mesh.coordinator.licences import LicenseManager

__all__ = ["LicenseManager"]

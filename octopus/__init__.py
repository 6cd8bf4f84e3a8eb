"""Puli's ``octopus`` import paths, for scripts and runners written for Puli.

Puli's server package was ``octopus``; a few of its names were imported by studio code.
Each module here only re-exports the Puli Mesh name that does that job today:

* ``octopus.commandwatcher.commandwatcher.CommandWatcher`` ->
  :class:`puliclient.commandwatcher.CommandWatcher`;
* ``octopus.dispatcher.licenses.licensemanager.LicenseManager`` ->
  :class:`puli_mesh.coordinator.licences.LicenseManager`;
* ``octopus.core.enums`` (``command``, ``node``, ``rendernode``) -> the status constants of
  :mod:`puliclient.status`.

Not here: any behaviour of its own, or the rest of Puli's server (the mesh replaces it).
"""

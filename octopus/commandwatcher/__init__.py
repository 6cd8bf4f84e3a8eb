"""Puli's ``octopus.commandwatcher`` package path (see :mod:`octopus`)."""

"""Puli's ``octopus.dispatcher`` package path (see :mod:`octopus`)."""

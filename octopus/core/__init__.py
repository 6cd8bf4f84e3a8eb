"""Puli's ``octopus.core`` package: only its ``enums`` are provided (see :mod:`octopus.core.enums`)."""

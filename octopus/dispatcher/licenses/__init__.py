"""Puli's ``octopus.dispatcher.licenses`` package path (see :mod:`octopus`)."""

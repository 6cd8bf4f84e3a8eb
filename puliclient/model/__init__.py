"""Puli's query models (``puliclient.model``): jobs, tasks, commands and render nodes as the mesh reports them.

Puli's modules and names, kept::

    from puliclient.model.job import Job            # children, task, setDispatchKey, pause...
    from puliclient.model.task import Task          # commands
    from puliclient.model.command import Command
    from puliclient.model.renderNode import RenderNode

The objects are built by :mod:`puliclient.server`'s handlers from the mesh's answers, with
Puli's field names and ``statusLabel``/``statusShortLabel``. Where Puli's mutators were stubs,
these edit the mesh through :class:`puliclient.farm.Farm`.

Not here: the wire (``puliclient.farm``), finding them (``puliclient.server``).
"""

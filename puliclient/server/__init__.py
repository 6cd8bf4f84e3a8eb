"""Puli's query API (``puliclient.server``): find jobs and render nodes, as Puli's scripts did.

Puli's modules, kept name for name::

    from puliclient.server.server import Server
    from puliclient.server.queueHandler import QueueHandler
    from puliclient.server.renderNodeHandler import RenderNodeHandler

    jobs, summary = QueueHandler().getJobsByUser(["ana"])
    for job in jobs:
        print(job.name, job.statusLabel, job.commandCount)

Puli sent these queries to its dispatcher's HTTP API; here they travel over the mesh
protocol through :class:`puliclient.farm.Farm` (the same environment: ``PULI_NODE``,
``PULI_ZK``, ``PULI_KEY``), or, given an agent's HTTP address (``Server(host, port,
http=True)``, ``PULI_URL``), over its HTTP API as Puli's did (``puliclient.server.http``).
The answers become :mod:`puliclient.model` objects.

Not here: the models (:mod:`puliclient.model`), the agent's routes (``puli_mesh.web``).
"""

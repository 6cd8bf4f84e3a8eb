# ruff: noqa: UP031, UP028, N816 - written as Puli-era scripts were (their style is what is tested)
"""A wrangler's script of the Puli era: walk every job of a user through ``puliclient.model``
objects, print names, statuses, task and command counts, and pause the biggest one.

    PULI_NODE=rn1:7100 python examples/puli/wrangler.py USER [HOST PORT]

With HOST and PORT the query goes to that agent's client port (``Server(host, port)``).
"""

import sys

from puliclient.server.queueHandler import QueueHandler
from puliclient.server.server import RequestError, Server


def walk(job, depth=0):
    """Yield (node, depth) for a job and everything under it."""
    yield job, depth
    for child in job.children:
        for found in walk(child, depth + 1):
            yield found


user = sys.argv[1]
server = Server(sys.argv[2], int(sys.argv[3])) if len(sys.argv) > 3 else None
jobs, summary = QueueHandler(server).getJobsByUser([user])
print("%d job(s) of %s among %d" % (summary["count"], user, summary["totalInDispatcher"]))

biggest = None
for job in jobs:
    tasks = [node.task for node, _ in walk(job) if node.task is not None]
    commands = sum(len(task.commands) for task in tasks)
    print("job %s %s [%s] tasks=%d commands=%d" % (job.id, job.name, job.statusLabel, len(tasks), commands))
    for node, depth in walk(job):
        if node.task is not None:
            for command in node.task.commands:
                print("%s%s %s" % ("  " * (depth + 1), command.description, command.statusShortLabel))
    if biggest is None or commands > biggest[1]:
        biggest = (job, commands)

if biggest is not None:
    try:
        biggest[0].pause()
        print("paused %s" % biggest[0].name)
    except RequestError as e:
        print("could not pause %s: %s (%s)" % (biggest[0].name, e, e.code))
        sys.exit(1)

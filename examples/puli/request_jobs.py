# ruff: noqa: UP031, UP028, N816 - written as Puli-era scripts were (their style is what is tested)
"""Puli's request-edit example 02 (``scripts/examples/request-edit/02_request_jobs.py``), in Python 3.

Finds jobs with ``QueueHandler``, Puli's query API. Only ``print`` changed (Python 3).
``QueueHandler()`` asks the mesh of the environment: over the mesh protocol
(``PULI_NODE``/``PULI_ZK``, ``PULI_KEY``), or over an agent's HTTP API when ``PULI_URL`` is set
(with ``PULI_TOKEN``, or a token made from ``PULI_KEY``); ``QueueHandler(Server(host, port))``
asks one agent.

    PULI_NODE=rn1:7100 python examples/puli/request_jobs.py
    PULI_URL=http://rn1:8080 python examples/puli/request_jobs.py
"""

from octopus.core import enums
from puliclient.server.queueHandler import QueueHandler

qh = QueueHandler()
allJobsList, summary = qh.getAllJobs()

for job in allJobsList:
    print("id:%s name:%s user:%s" % (job.id, job.name, job.user))

print(qh.getAllJobs())
print(qh.getJobsByStatus([enums.NODE_CANCELED, enums.NODE_RUNNING]))
print(qh.getJobsById(range(1, 100)))
print(qh.getJobsByName(['.*test'], False))
print(qh.getJobsByUser(['jsa'], False)[0])
print(qh.getJobsByProd(['prod_name'], False))
print(qh.getJobsByTags({'nbFrames': [10]}, False))
print(qh.getJobsByTags({'nbFrames': [10], 'prod': ['test']}, False))
print(qh.getJobsByPool(['renderfarm'], False))

print(qh.getJobs(
    idList=[28, 32],
    nameList=['.*test'],
    poolList=["default", "renderfarm"],
    statusList=[enums.NODE_DONE],
    tagsDict={
        'prod': ['prodA', 'prodB'],
        'nbFrames': [100],
    },
    userList=['user1', 'user2']
))

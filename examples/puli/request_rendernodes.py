# ruff: noqa: UP031, UP028, N816 - written as Puli-era scripts were (their style is what is tested)
"""Puli's request-edit example 01 (``scripts/examples/request-edit/01_request_rendernodes.py``), in Python 3.

Finds render nodes with ``RenderNodeHandler`` over the mesh protocol. Only ``print`` changed
(Python 3).
A mesh node's ``id`` is its name.

    PULI_NODE=rn1:7100 python examples/puli/request_rendernodes.py
"""

from octopus.core import enums
from puliclient.server.renderNodeHandler import RenderNodeHandler

rnHandler = RenderNodeHandler()
(allRnList, summary) = rnHandler.getAllRenderNodes()
print("All render nodes")
if allRnList:
    for rn in allRnList:
        print("id:%s name:%s hostname:%s ram:%s/%s" % (rn.id, rn.name, rn.host, rn.systemFreeRam, rn.ramSize))

(results, summary) = rnHandler.getRenderNodes(
    idList=[4, 5, 6],
    nameList=["vfxpc.*:8000"],
    hostList=["vfxpc64"],
    versionList=["dev"],
    poolList=["default", "renderfarm"],
    statusList=[enums.RN_IDLE],
)

print("")
print("Query render nodes:")
if results:
    for rn in results:
        print("id:%s name:%s hostname:%s puliversion:%s ram:%s/%s" % (rn.id, rn.name, rn.host, rn.puliversion,
                                                                      rn.systemFreeRam, rn.ramSize))

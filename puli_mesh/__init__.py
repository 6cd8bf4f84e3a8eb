"""Puli Mesh: the agent, the coordinator and the tools of a peer-to-peer render farm."""

__version__ = "0.1.0"

# ruff: noqa: N999 - Puli's module name, kept for its scripts
"""Puli's ``QueueHandler``: find jobs by id, name, pool, status, user and tags.

Every query returns ``(list[Job], summary)`` with Puli's filter semantics: AND across the
given keys, OR within a key's list; ``name`` is a list of regular expressions tried with
``re.match``; ``user`` and ``pool`` are exact; ``tags`` ``{"prod": ["a", "b"]}`` matches a
job when ANY listed tag has one of the listed values (compared as text); ``None`` leaves a
key out; an empty list raises ``InvalidParamError``. Jobs are the farm's graphs (the direct
children of Puli's ``/graphs``). ``recursive=False`` gives jobs without children; otherwise
a job's tree is fetched the first time its ``children``/``task`` are read (:mod:`puliclient.model.job`).

Over HTTP (a :class:`~puliclient.server.server.Server` with an HTTP address) the query is
Puli's: the arguments, checked here, are posted to the agent's ``/query/job``, which runs this
same handler over the mesh; the answer's jobs come back whole (children included when
``recursive``).

How (over the mesh protocol): ids, users, pools and statuses are filtered by the mesh (``Farm.jobs``, page after
page); names and tags here, because the mesh's own name filter is a glob (no client regular
expression runs on the leader) and its tag filter ANDs the tags.

Not here: render nodes (``renderNodeHandler``), the models (``puliclient.model``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from puliclient.model.job import JobModel
from puliclient.server.filters import any_match, patterns, required, statuses, summary, values
from puliclient.server.server import InvalidParamError, Server
from puliclient.status import NodeStatus

IDS_PER_QUERY = 200
"""Ids sent in one listing: a longer id list is asked for in pieces (the mesh bounds the
values of one filter key)."""


def tags_match(wanted: dict[str, list[str]], tags: dict[str, Any]) -> bool:
    """Puli's tag filter: any wanted tag whose value is among the wanted values."""
    return any(key in tags and str(tags[key]) in accepted for key, accepted in wanted.items())


class QueueHandler:
    """The jobs of the mesh ``server`` names (None: the environment's mesh)."""

    def __init__(self, server: Server | None = None) -> None:
        self.server = server if server is not None else Server()

    def getJobs(self, idList: Iterable[int] | None = None, nameList: Iterable[str] | None = None,
                poolList: Iterable[str] | None = None, statusList: Iterable[int] | None = None,
                userList: Iterable[str] | None = None, tagsDict: dict[str, Iterable[Any]] | None = None,
                recursive: bool = True, *,
                meshFilters: dict[str, Any] | None = None) -> tuple[list[JobModel], dict[str, Any]]:
        """Jobs passing every given filter; ``(jobs, summary)``. ``meshFilters``: more of
        ``Farm.jobs``' filters (``since``, ``started_after``, ``ended_after``...; not Puli's,
        for Puli's time constraints of ``/query``; not over HTTP)."""
        started = time.monotonic()
        ids = values("idList", idList)
        names = patterns("nameList", nameList)
        pools = values("poolList", poolList)
        wanted_statuses = statuses("statusList", statusList, NodeStatus)
        users = values("userList", userList)
        wanted_tags = None
        if tagsDict is not None:
            if not isinstance(tagsDict, dict) or not tagsDict:
                raise InvalidParamError(f"tagsDict must be a non-empty {{tag: [values]}} map, not {tagsDict!r}")
            wanted_tags = {str(k): {str(v) for v in required(f"tagsDict[{k!r}]", vs)} for k, vs in tagsDict.items()}
        if self.server.endpoint is not None:
            if meshFilters:
                raise InvalidParamError("meshFilters are not sent over HTTP: use Puli's /query constraints")
            body = {"id": ids, "name": None if names is None else [n.pattern for n in names], "pool": pools,
                    "status": wanted_statuses, "user": users, "recursive": recursive,
                    "tags": None if wanted_tags is None else {k: sorted(v) for k, v in wanted_tags.items()}}
            with self.server.translated():
                answer = self.server.endpoint.json("POST", "/query/job", {k: v for k, v in body.items()
                                                                          if v is not None})
            return [JobModel.from_json(item, self.server) for item in answer["items"]], answer["summary"]
        server_filters: dict[str, Any] = {"pool": pools, "status": wanted_statuses, "user": users,
                                          **(meshFilters or {})}
        with self.server.translated():
            farm = self.server.farm
            if ids is None:
                views = farm.jobs(**server_filters)
            else:
                views = []
                for start in range(0, len(ids), IDS_PER_QUERY):
                    views += farm.jobs(ids=[int(i) for i in ids[start:start + IDS_PER_QUERY]], **server_filters)
                views.sort(key=lambda v: int(v["id"]))
            total = int(farm.query("figures")["graphs"])
        jobs = [JobModel.from_view(v, self.server, recursive) for v in views if any_match(names, str(v["name"]))
                and (wanted_tags is None or tags_match(wanted_tags, v.get("tags") or {}))]
        return jobs, summary(len(jobs), total, started)

    def getAllJobs(self, recursive: bool = True) -> tuple[list[JobModel], dict[str, Any]]:
        return self.getJobs(recursive=recursive)

    def getJobsById(self, idList: Iterable[int], recursive: bool = True) -> tuple[list[JobModel], dict[str, Any]]:
        return self.getJobs(idList=required("idList", idList), recursive=recursive)

    def getJobsByName(self, nameList: Iterable[str], recursive: bool = True) -> tuple[list[JobModel], dict[str, Any]]:
        """Jobs whose name one of the regular expressions matches (``re.match``: from the start)."""
        return self.getJobs(nameList=required("nameList", nameList), recursive=recursive)

    def getJobsByPool(self, poolList: Iterable[str], recursive: bool = True) -> tuple[list[JobModel], dict[str, Any]]:
        return self.getJobs(poolList=required("poolList", poolList), recursive=recursive)

    def getJobsByStatus(self, statusList: Iterable[int],
                        recursive: bool = True) -> tuple[list[JobModel], dict[str, Any]]:
        """Jobs in one of the node statuses (``NODE_RUNNING``...; names are accepted too)."""
        return self.getJobs(statusList=required("statusList", statusList), recursive=recursive)

    def getJobsByUser(self, userList: Iterable[str], recursive: bool = True) -> tuple[list[JobModel], dict[str, Any]]:
        return self.getJobs(userList=required("userList", userList), recursive=recursive)

    def getJobsByProd(self, prodList: Iterable[str], recursive: bool = True) -> tuple[list[JobModel], dict[str, Any]]:
        """Jobs whose ``prod`` tag is one of ``prodList``."""
        return self.getJobs(tagsDict={"prod": required("prodList", prodList)}, recursive=recursive)

    def getJobsByTags(self, tagsDict: dict[str, Iterable[Any]],
                      recursive: bool = True) -> tuple[list[JobModel], dict[str, Any]]:
        return self.getJobs(tagsDict=tagsDict, recursive=recursive)

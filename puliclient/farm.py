"""Querying and editing a running farm from Python (the API the ``puli-mesh`` CLI is built on).

Example::

    from puliclient.farm import Farm
    farm = Farm()                      # PULI_NODE, PULI_ZK, then PULIHOST/PULIPORT
    location, _ = farm.submit(graph)   # or graph.submit()
    graph_id = Farm.graph_id(location)
    final = farm.wait(graph_id)        # blocks until DONE, ERROR or CANCELED
    print(final["status_name"])

Query and edit, on one graph or by constraint (Puli's ``pul_query``/``pul_set_pause``)::

    farm.jobs(user="ana", status=["ERROR"], name="shot01*")   # filters: AND across, OR within
    farm.jobs(started_after=time.time() - 3600, sort="creationTime", reverse=True)
    farm.nodes(speed="+2", ram="-8192", sort="ramSize")      # pul_rn's constraints
    farm.restart(graph_id, errors_only=True)
    farm.edit_jobs("pause", user="ana", pool="gpu")           # every matching job; their ids
    farm.set(graph_id, priority=10, maxRN=4)
    farm.commands(graph=graph_id, status=["ERROR"])
    print(farm.tail_log(command_id, lines=20))                # served by the node that ran it
    farm.drain_node("rn12")                                   # finish what runs, take nothing new
    farm.set_node_pools("rn12", ["gpu"])                      # an operator's pools (None: its own)

Cluster settings (kept in ZooKeeper, changed by the leader for an operator's key)::

    farm.set_licence("mtoa", 20)
    farm.define_pool("gpu")
    farm.add_hook("done", ["job_done", "job_error"], url="https://ci.example/puli")  # event hooks

Errors (:mod:`puliclient.errors`): a :class:`FarmError` subclass when the mesh
refused (``FarmNotFoundError``: unknown id, pool or licence; ``FarmIllegalEditError``:
an edit that makes no sense now; ``FarmInvalidRequestError``: a malformed request;
``.code`` keeps the mesh's word: ``not_found``, ``illegal``, ``invalid``...), and
:class:`FarmUnreachableError` when nothing answered.

Guarantees: every error the wire raises leaves as one of those classes (one
translation, :meth:`Farm._translated`). The mesh answers its listings (jobs, commands)
a page at a time; :meth:`Farm.jobs` and :meth:`Farm.commands` ask page after page
(:meth:`Farm.listing`), so a caller gets everything, or at most its ``limit``. Not here: the wire itself
(:class:`puli_mesh.client.MeshClient`), formatting, exit codes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from puliclient import query_fields
from puliclient.errors import (
    FarmError,
    FarmInvalidRequestError,
    FarmNotFoundError,
    FarmUnreachableError,
)
from puliclient.status import FINAL_COMMAND_STATUSES, FINAL_NODE_STATUSES

if TYPE_CHECKING:
    from puli_mesh.client import MeshClient
    from puliclient.graph import Graph

# Importable from here as before they moved to puliclient.errors.
__all__ = ["Farm", "FarmError", "FarmUnreachableError"]

LOG_CHUNK = 256 * 1024
LISTING_PAGE = 1000
"""Items asked for per page of a listing (the mesh answers at most its own maximum)."""


class Farm:
    """A connection to a mesh: any agent (``node='host:port'``) or ZooKeeper (``zk='hosts'``)."""

    def __init__(self, node: str | None = None, zk: str | None = None, cluster: str | None = None,
                 timeout: float = 10.0, *, client: MeshClient | None = None) -> None:
        """``client``: the wire to use instead of one built from the other arguments
        (a stub in tests)."""
        if client is None:
            from puli_mesh.client import MeshClient

            client = MeshClient.from_environment(node=node, zk=zk, cluster=cluster, timeout=timeout)
        self._client = client

    @staticmethod
    def graph_id(location: str) -> int:
        """The graph id in a ``submit()`` location (``puli://leader/nodes/12`` -> 12)."""
        return int(location.rstrip("/").rsplit("/", 1)[1])

    @staticmethod
    @contextmanager
    def _translated() -> Iterator[None]:
        """The wire's errors as this API's: the one place they are translated."""
        from puli_mesh.errors import ConfigError, MeshRequestError, MeshUnreachableError

        try:
            yield
        except MeshUnreachableError as exc:
            raise FarmUnreachableError(str(exc)) from exc
        except MeshRequestError as exc:
            raise FarmError.from_code(exc.code, str(exc)) from exc
        except ConfigError as exc:  # a cluster setting's name or value
            raise FarmInvalidRequestError(str(exc)) from exc

    def request(self, kind: str, **fields: Any) -> Any:
        """Send one request to the leader; return its answer's data."""
        with self._translated():
            return self._client.request(kind, **fields)

    def query(self, what: str, **args: Any) -> Any:
        """A QUERY (``status``, ``graphs``, ``commands``...); what the coordinator answers."""
        return self.request("QUERY", what=what, args=args)

    def edit(self, action: str, **args: Any) -> Any:
        """An EDIT (``pause``, ``set``, ``node_drain``...); what the coordinator answers."""
        return self.request("EDIT", action=action, args=args)

    def submit(self, graph: Graph) -> tuple[str, str]:
        """Submit a graph to this farm; return ``(location, message)`` as ``graph.submit()`` does.

        Raises ``GraphError`` (before sending) for a malformed graph, a ``FarmError``
        if the mesh refuses it, ``FarmUnreachableError`` if nothing answers."""
        data = graph.prepareGraphRepresentation()
        try:
            reply = self.request("SUBMIT", graph=data)
        except FarmError as exc:
            raise type(exc)(f"the mesh refused graph {data.get('name')!r}: {exc}", exc.code) from exc
        return str(reply["url"]), str(reply["message"])

    # ------------------------------------------------------------------ queries
    def status(self, nodes_limit: int | None = None) -> dict[str, Any]:
        """Cluster, leader, epoch and every node; with ``nodes_limit`` (0 to 500) only that many
        nodes, those that may need someone first (gone, silent, connecting, quarantined,
        draining, paused, busy, idle; then by name), and a ``summary`` counting every node
        (``nodes``, ``states``, ``slots``, ``running``) as of ``summary["as_of"]``: the leader
        builds it at most once a second, so it may be up to a second old."""
        if nodes_limit is None:
            return dict(self.query("status"))
        return dict(self.query("status", nodes_limit=int(nodes_limit)))

    def graph(self, graph_id: int, children: bool = True) -> dict[str, Any]:
        """One graph's whole tree (task groups, tasks, commands) with statuses.

        ``children=False`` gives the graph alone (status, counts, times): cheap
        to ask often, whatever the size of the graph."""
        return dict(self.query("graph", id=int(graph_id), children=bool(children)))

    def listing(self, what: str, limit: int | None = None, **args: Any) -> list[dict[str, Any]]:
        """Every item of a paged listing (``graphs``, ``commands``, ``nodes``), or the first
        ``limit``: page after page, each starting at the cursor the previous one ended at."""
        args = {k: v for k, v in args.items() if v not in (None, [], "")}
        items: list[dict[str, Any]] = []
        cursor: Any = None
        while limit is None or len(items) < limit:
            want = LISTING_PAGE if limit is None else min(LISTING_PAGE, limit - len(items))
            page = self.query(what, **args, limit=want, **({} if cursor is None else {"cursor": cursor}))
            items.extend(page["items"])
            cursor = page["cursor"]
            if cursor is None:
                break
        return items if limit is None else items[:limit]

    def graphs(self, limit: int | None = None, **filters: Any) -> list[dict[str, Any]]:
        """Jobs (graphs) without their trees, at most ``limit``; see :meth:`jobs` for the filters."""
        return self.listing("graphs", limit, **filters)

    def jobs(self, *, ids: list[int] | None = None, user: str | list[str] | None = None,
             status: str | list[str | int] | None = None, name: str | list[str] | None = None,
             tags: dict[str, Any] | None = None, pool: str | list[str] | None = None,
             since: float | None = None, created_before: float | None = None,
             started_after: float | None = None, started_before: float | None = None,
             ended_after: float | None = None, ended_before: float | None = None,
             sort: str | None = None, reverse: bool = False, limit: int | None = None) -> list[dict[str, Any]]:
        """Jobs matching every given filter (AND); a list means any of them (OR); in id
        order (``reverse``: newest first), all of them or the first ``limit``.

        ``status`` takes names or numbers (``["RUNNING", "ERROR"]``); ``name`` is a glob
        (``shot01*_light``; without ``*`` or ``?``: contained in the name; case-sensitive;
        see :mod:`puliclient.patterns`); ``tags={"prod": "film"}``. Times are epoch seconds
        (Puli's ``constraint_creationtime/starttime/endtime``): ``since`` submitted at or after,
        ``created_before``, ``started_after``/``started_before``, ``ended_after``/``ended_before``
        (a job not started or ended yet matches no range on that time); the leader filters.

        ``sort``: a field of :data:`puliclient.query_fields.JOB_FIELDS`, a Puli name
        (``creationTime``...) or ``tags:KEY``; ``reverse`` for descending. Sorting needs every
        match, so ``limit`` then cuts the sorted list; ``FarmInvalidRequestError`` for an
        unknown field."""
        field = self._field(sort, query_fields.JOB_FIELDS, query_fields.JOB_ALIASES, tags=True)
        # Without a field, ``reverse`` is newest first, which the leader pages: the first
        # ``limit`` are the newest, never read them all.
        rows = self.graphs(None if field else limit, id=ids, user=user, status=status, name=name, tags=tags,
                           pool=pool, since=since, created_before=created_before, started_after=started_after,
                           started_before=started_before, ended_after=ended_after, ended_before=ended_before,
                           newest_first=(field is None and reverse) or None)
        if field is None:
            return rows
        rows = query_fields.sorted_rows(rows, field, reverse)
        return rows if limit is None else rows[:limit]

    @staticmethod
    def _field(typed: str | None, fields: tuple[str, ...], aliases: dict[str, str], tags: bool = False) -> str | None:
        """The listing field ``typed`` names (None: not given); an unknown one is a bad request."""
        if typed is None:
            return None
        try:
            return query_fields.field_name(typed, fields, aliases, tags)
        except ValueError as exc:
            raise FarmInvalidRequestError(str(exc)) from exc

    def commands(self, *, graph: int | None = None, status: str | list[str | int] | None = None,
                 node: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Commands of a graph, task group or task (all when None), by status and by the node
        that runs or last ran them; in id order, all of them or the first ``limit``."""
        return self.listing("commands", limit, id=graph, status=status, node=node)

    def nodes(self, *, pool: str | None = None, state: str | list[str] | None = None,
              name: str | list[str] | None = None, speed: str | float | None = None,
              ram: str | float | None = None, cores: str | float | None = None,
              sort: str | None = None, reverse: bool = False, offset: int = 0,
              limit: int | None = None) -> list[dict[str, Any]]:
        """Render nodes as ``status()`` shows them (by name), filtered by pool, state (idle,
        busy, paused, draining, ...), name (globs, as for :meth:`jobs`; a list: any of them) and
        pul_rn's numeric constraints on ``speed`` (the performance index), ``ram`` (MB) and
        ``cores``: ``"+2"`` more than 2, ``"-2"`` less than 2, ``2`` exactly 2; from ``offset``,
        at most ``limit`` (all when None).

        ``sort``: a field of :data:`puliclient.query_fields.NODE_FIELDS` or a Puli name
        (``ramSize``, ``speed``...); ``reverse`` for descending. The leader filters, sorts and
        slices (``query_fields.node_listing``): only the rows asked for travel.
        ``FarmInvalidRequestError`` for an unknown field or a bound that is not a number."""
        return list(self.node_page(pool=pool, state=state, name=name, speed=speed, ram=ram, cores=cores, sort=sort,
                                   reverse=reverse, offset=offset, limit=limit)["items"])

    def node_page(self, **args: Any) -> dict[str, Any]:
        """:meth:`nodes`' rows as the leader answers them, ``{"items", "total"}`` (``total``: how
        many match, before ``offset`` and ``limit``); the same arguments."""
        args = {k: v for k, v in args.items() if v is not None and v != [] and v != ""}
        for key, default in (("reverse", False), ("offset", 0)):  # what an older request did not say
            if args.get(key) == default:
                args.pop(key)
        return dict(self.query("node_rows", **args))

    def pools(self) -> list[dict[str, Any]]:
        """Pools as the coordinator sees them: ``[{'name', 'render_nodes', 'graphs'}]``."""
        return list(self.query("pools"))

    def licences(self) -> list[dict[str, Any]]:
        """Puli's ``LicenseManager.stats()``: ``[{'name', 'total', 'used', 'rns'}]``."""
        return list(self.query("licences"))

    def stats(self) -> dict[str, Any]:
        """The last hour, a sample per minute: throughput, queue depth, utilisation, licences."""
        return dict(self.query("stats"))

    def history(self, since: float | None = None) -> list[dict[str, Any]]:
        """The farm's per-minute samples since ``since`` (epoch seconds; None: every one kept, the
        last 24 hours), oldest first; kept across a leader failover. Each has ``start``, ``end``,
        ``done``, ``failed`` (that minute), ``done_total``, ``failed_total``, ``finished_per_minute``,
        ``ready``, ``ready_by_pool``, ``running``, ``nodes_online``, ``slots``, ``busy_slots``,
        ``utilisation`` and ``licences`` ({name: [used, total]})."""
        args = {} if since is None else {"since": float(since)}
        return list(self.query("history", **args)["samples"])

    # -------------------------------------------------------------------- edits
    def pause(self, node_id: int, kill: bool = False) -> None:
        """Pause a graph, task group or task: nothing new starts; ``kill`` also stops what runs."""
        self.edit("pause", id=int(node_id), kill=kill)

    def resume(self, node_id: int) -> None:
        self.edit("resume", id=int(node_id))

    def cancel(self, node_id: int) -> None:
        self.edit("cancel", id=int(node_id))

    def restart(self, node_id: int, errors_only: bool = False, cascade: bool = True) -> None:
        """Run again: everything, or only the commands in ERROR/TIMEOUT. What depends on them is
        restarted too (it ran on their old results) unless ``cascade`` is False."""
        self.edit("restart", id=int(node_id), errors_only=errors_only, cascade=bool(cascade))

    def cancel_command(self, command_id: int) -> None:
        self.edit("command_cancel", id=int(command_id))

    def restart_command(self, command_id: int, cascade: bool = True) -> None:
        self.edit("command_restart", id=int(command_id), cascade=bool(cascade))

    def done_command(self, command_id: int) -> None:
        """Accept one command by hand as DONE (Puli's ``PUT /commands/<id>`` status DONE): killed
        first if it runs; what depends on it runs as after a real DONE."""
        self.edit("command_done", id=int(command_id))

    def set_command(self, command_id: int, description: str | None = None,
                    arguments: Mapping[str, Any] | None = None) -> None:
        """A command's description and arguments (merged; a None value removes one), for its next run."""
        args: dict[str, Any] = {"id": int(command_id)}
        if description is not None:
            args["description"] = description
        if arguments is not None:
            args["arguments"] = dict(arguments)
        self.edit("command_set", **args)

    def pause_command(self, command_id: int, kill: bool = False) -> None:
        """Hold one command: it keeps its status but is not handed out until resumed;
        ``kill`` also stops it if it runs (it runs again after the resume, no attempt spent)."""
        self.edit("command_pause", id=int(command_id), kill=bool(kill))

    def resume_command(self, command_id: int) -> None:
        self.edit("command_resume", id=int(command_id))

    def set(self, node_id: int, /, **values: Any) -> None:
        """``priority`` (dispatchKey), ``maxRN``, ``pool`` (graphs only), ``strategy`` (a group's, or
        a graph's root group's: ``puliclient.strategies``), ``timer`` (epoch seconds, None clears
        it), ``maxAttempt``, ``ramUse`` (MB), ``idleTimeout`` (seconds, 0: off, None: the farm's
        default; for the commands started next), ``gpus``, ``killOnRamOveruse`` (bool, for the commands
        started next), ``name``; ``user`` (graphs only, an operator's edit)
        gives the job to another user."""
        user = values.pop("user", None)
        if values:
            self.edit("set", id=int(node_id), values=values)
        if user is not None:
            self.edit("set_user", id=int(node_id), user=user)

    def set_tags(self, node_id: int, /, **tags: Any) -> None:
        """Merge tags; a None value removes that tag."""
        self.edit("tags", id=int(node_id), tags=tags)

    def set_environment(self, node_id: int, environment: Mapping[str, str | None]) -> None:
        """Merge into a node's environment (a None value removes a variable): every task under
        it runs its next commands with it (Puli's ``PUT /tasks/<id>/env``)."""
        self.edit("environment", id=int(node_id), environment=dict(environment))

    def set_arguments(self, node_id: int, arguments: Mapping[str, Any]) -> None:
        """Merge into a node's arguments (a None value removes one), for the next commands of
        every task under it (Puli's ``PUT /tasks/<id>/arguments``)."""
        self.edit("arguments", id=int(node_id), arguments=dict(arguments))

    def archive(self, graph_id: int) -> None:
        """Remove a DONE or CANCELED graph from the farm."""
        self.edit("archive", id=int(graph_id))

    def edit_jobs(self, action: str, *, kill: bool = False, errors_only: bool = False,
                  values: dict[str, Any] | None = None, **filters: Any) -> list[int]:
        """Apply ``pause``, ``resume``, ``cancel``, ``restart``, ``set`` or ``archive`` to every
        job matching ``filters`` (those of :meth:`jobs`); return the ids edited. Refuses to
        run without a filter: a whole-farm edit must name the jobs."""
        if not any(v not in (None, [], "", {}) for v in filters.values()):
            raise FarmInvalidRequestError(f"{action} of every job refused: give at least one filter")
        edited = []
        for job in self.jobs(**filters):
            args: dict[str, Any] = {"id": job["id"]}
            if action == "pause":
                args["kill"] = kill
            elif action == "restart":
                args["errors_only"] = errors_only
            elif action == "set":
                args["values"] = dict(values or {})
            self.edit(action, **args)
            edited.append(int(job["id"]))
        return edited

    def pause_node(self, name: str, kill: bool = False) -> None:
        """No new work for this render node; ``kill`` re-queues what runs (no attempt spent)."""
        self.edit("node_pause", name=name, kill=kill)

    def drain_node(self, name: str) -> None:
        """Finish what runs, take nothing new; the node reports ``draining``."""
        self.edit("node_drain", name=name)

    def resume_node(self, name: str) -> None:
        self.edit("node_resume", name=name)

    def clear_quarantine(self, name: str) -> None:
        self.edit("clear_quarantine", name=name)

    def clear_node(self, name: str) -> None:
        """Forgive a render node: end its quarantine and every job's and failed command's
        avoidance of it (a node neither quarantined nor avoided: ``FarmIllegalEditError``)."""
        self.edit("clear_node", name=name)

    def set_node(self, name: str, **values: Any) -> None:
        """An operator's ``pools`` (a list of names) or ``performance`` (a number above 0) for a
        render node, in one edit; a value None goes back to what the node's agent says."""
        self.edit("node_set", name=name, values=values)

    def set_node_pools(self, name: str, pools: list[str] | None) -> None:
        """Put a render node in these pools (each must exist), over the ones its agent says, also
        when it joins again; None goes back to its agent's. What it runs goes on."""
        self.set_node(name, pools=None if pools is None else list(pools))

    def set_pool_nodes(self, pool: str, names: list[str]) -> None:
        """The render nodes of ``pool`` are ``names`` now (Puli's ``PUT /pools/<p>/rendernodes``):
        each node that joins or leaves it gets an operator's pools (:meth:`set_node_pools`)."""
        self.edit("pool_set_nodes", pool=pool, names=list(names))

    def set_node_performance(self, name: str, value: float | None) -> None:
        """A render node's performance (faster nodes are offered work first); None: its agent's."""
        self.set_node(name, performance=value)

    def remove_node(self, name: str) -> None:
        """Forget a render node that left the mesh (its record, quarantine, pools, overrides);
        a connected one is refused (``FarmIllegalEditError``): stop its agent first."""
        self.edit("node_remove", name=name)

    def step_down(self) -> str:
        """Ask the leader to hand over now (before maintenance of its machine); return its name.

        It stops dispatching, waits for its journal to be durable and leaves the
        election; another agent takes over. Running commands go on."""
        return str(self.edit("step_down")["leader"])

    # ---------------------------------------------------------- cluster settings
    def set_licence(self, name: str, total: int) -> None:
        """Define a licence or change its total (lowering it never kills). The leader writes it
        (role operator); keys are managed with ``puli-mesh keys`` (``MeshClient.add_key``...)."""
        with self._translated():
            self._client.set_licence(name, total)

    def define_pool(self, name: str) -> None:
        """Define a pool; graphs may name it before any node joins it. The leader writes it (role operator)."""
        with self._translated():
            self._client.define_pool(name)

    # ------------------------------------------------------------- share trees
    def set_share(self, pool: str, account: str, min: int = 0, max: int = 0,  # noqa: A002
                  weight: float = 1.0) -> None:
        """Define (or change) share account ``account`` of ``pool``: ``PROJECT`` (a job's ``prod``
        tag, else its ``project`` tag) or ``PROJECT/USER``, with ``min`` slots guaranteed, at most
        ``max`` (0: no cap) and a ``weight``. In force at the next free slot. Role operator."""
        with self._translated():
            self._client.change_settings("share_set", pool=pool, account=account, min=min, max=max,
                                         weight=weight)

    def remove_share(self, pool: str, account: str) -> None:
        """Remove share account ``account`` of ``pool`` (``FarmNotFoundError`` if there is none). Role operator."""
        with self._translated():
            self._client.change_settings("share_remove", pool=pool, account=account)

    def set_share_preempt(self, pool: str, after: float | None) -> None:
        """Pool ``pool``'s share tree preempts: an account below its guarantee that finds no room gets
        slots from borrowers, by killing and requeuing (no attempt spent) their youngest commands
        older than ``after`` seconds (`puli-mesh shares preempt` says 60). None: never (the default).
        Role operator."""
        with self._translated():
            self._client.change_settings("share_preempt", pool=pool, preempt_after=after)

    def shares(self) -> list[dict[str, Any]]:
        """Each share account in use or defined: ``[{'pool', 'account', 'min', 'max', 'weight',
        'use', 'ready', 'defined', 'preempt_after'}]`` (``use``: its commands holding a slot now;
        ``ready``: READY commands of its jobs that are not paused; ``preempt_after``: its pool's,
        None when it does not preempt)."""
        return list(self.query("shares"))

    def set_share_quota(self, kind: str, name: str, max: int) -> None:  # noqa: A002
        """``kind`` ``'user'`` or ``'project'`` (a job's ``prod`` tag, else its ``project`` tag)
        ``name`` holds at most ``max`` commands, whatever the pool (0: no quota). Role operator."""
        with self._translated():
            self._client.change_settings("share_quota", kind=kind, name=name, max=max)

    def quotas(self) -> list[dict[str, Any]]:
        """Each quota across pools: ``[{'kind', 'name', 'max', 'use'}]``."""
        return list(self.query("quotas"))

    # ------------------------------------------------------------- event hooks
    def add_hook(self, name: str, events: list[str], url: str | None = None, command: str | None = None,
                 user: str | None = None, pool: str | None = None) -> dict[str, Any]:
        """Add (or replace) event hook ``name``: the ``events`` (``puli_mesh.hooks.EVENT_KINDS``:
        ``job_done``, ``job_error``, ``job_canceled``, ``command_failed``, ``command_preempted``,
        ``node_quarantined``, ``node_lost``) are POSTed as JSON to ``url`` and/or given to ``command`` on the leader's
        host, optionally only for ``user``'s or ``pool``'s jobs. Role operator; admin with a
        command. Returns the hook as kept."""
        with self._translated():
            return dict(self._client.change_settings("hook_add", name=name, events=list(events), url=url,
                                                     command=command, user=user, pool=pool))

    def hooks(self) -> list[dict[str, Any]]:
        """Every event hook (``{'name', 'events', 'url', 'command', 'user', 'pool', 'added_at'}``)."""
        with self._translated():
            return list(self._client.change_settings("hook_list"))

    def remove_hook(self, name: str) -> None:
        """Remove event hook ``name`` (``FarmNotFoundError`` if there is none). Role operator."""
        with self._translated():
            self._client.change_settings("hook_remove", name=name)

    def cluster_pools(self) -> list[dict[str, Any]]:
        """Pools defined in ZooKeeper or named by a live agent, with the live agents in each:
        ``[{'name', 'nodes'}]`` by name. Needs ``zk``; works while no coordinator is elected."""
        with self._translated():
            members = self._client.pool_members()
        return [{"name": pool, "nodes": nodes} for pool, nodes in members.items()]

    # --------------------------------------------------------------------- logs
    def _log_node(self, command_id: int) -> tuple[dict[str, Any], str]:
        """The command and the endpoint of the node that runs or last ran it."""
        cmd = self.command(command_id)
        node = cmd.get("render_node") or cmd.get("last_node")
        if not node:
            raise FarmNotFoundError(f"command {command_id} has not run yet: it has no log "
                                    f"(status {cmd.get('status_name')})")
        for n in self.status()["nodes"]:
            if n["name"] == node and n.get("endpoint"):
                return cmd, str(n["endpoint"])
        raise FarmUnreachableError(f"the log of command {command_id} is on {node}, which is not in "
                                   f"the mesh now")

    def read_log(self, command_id: int, offset: int = 0, limit: int = LOG_CHUNK) -> dict[str, Any]:
        """A piece of a command's log from the node that ran it: ``{"node", "path", "data"
        (bytes), "next_offset", "size"}``. A negative offset counts from the end."""
        _cmd, endpoint = self._log_node(command_id)
        with self._translated():
            return dict(self._client.request_at(endpoint, "LOGS", command_id=int(command_id),
                                                offset=int(offset), limit=int(limit)))

    def tail_log(self, command_id: int, lines: int = 50) -> str:
        """The last ``lines`` lines of a command's log (looks at its last 256 KiB)."""
        data = self.read_log(command_id, offset=-LOG_CHUNK)["data"]
        text = bytes(data).decode("utf-8", errors="replace")
        return "".join(text.splitlines(keepends=True)[-lines:]) if lines > 0 else ""

    def follow_log(self, command_id: int, offset: int = 0, interval: float = 0.5,
                   timeout: float | None = None) -> Iterator[bytes]:
        """Yield the log as it grows until the command is final and everything is read.
        Waits for a command that has not started yet."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            cmd = self.command(command_id)
            if cmd.get("render_node") or cmd.get("last_node"):
                try:
                    piece = self.read_log(command_id, offset=offset)
                except FarmNotFoundError:  # the log file may not exist yet
                    piece = {"data": b"", "next_offset": offset}
                if piece["data"]:
                    offset = int(piece["next_offset"])
                    yield bytes(piece["data"])
                    continue
                if cmd["status"] in FINAL_COMMAND_STATUSES and not cmd.get("render_node"):
                    # Read once more after seeing it final: the last lines land before the end.
                    try:
                        last = self.read_log(command_id, offset=offset)
                    except FarmNotFoundError:
                        return
                    while last["data"]:
                        yield bytes(last["data"])
                        last = self.read_log(command_id, offset=int(last["next_offset"]))
                    return
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"command {command_id} still {cmd.get('status_name')} after {timeout:.0f}s")
            time.sleep(interval)

    def command(self, command_id: int) -> dict[str, Any]:
        """One command: status, node, attempts, last message."""
        return dict(self.query("command", id=int(command_id)))

    def wait(self, graph_id: int, timeout: float | None = None, interval: float = 0.5) -> dict[str, Any]:
        """Poll until the graph is DONE, ERROR or CANCELED; return its tree. Raises TimeoutError.

        Polls the graph alone (not its commands) so waiting on a big graph costs
        the coordinator little; the whole tree is fetched once, at the end."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            tree = self.graph(graph_id, children=False)
            if tree["status"] in FINAL_NODE_STATUSES:
                return self.graph(graph_id)
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"graph {graph_id} still {tree.get('status_name')} after {timeout:.0f}s")
            time.sleep(interval)

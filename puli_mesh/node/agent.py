"""The agent: the one program every render node runs.

The loop reads top to bottom like the story of an agent:

1. open a ZooKeeper session, register as a member, bind the ROUTER on its port;
2. follow the leader znode: the worker part connects to whoever leads;
3. contend in the election; when elected, take a new epoch, start the
   coordinator part on the same ROUTER and publish itself as leader;
4. serve: worker traffic, coordinator traffic, client requests (a follower
   answers with REDIRECT), command logs (answered by the node that holds them);
5. on SIGTERM/SIGINT: take no new work, let running commands finish within the
   grace period, kill the rest, leave ZooKeeper cleanly (so a successor takes
   over in milliseconds instead of a session timeout).

One thread owns every socket and all state. Kazoo's threads only ``post``
events into a queue and wake the loop through a pipe.

Guarantees: what the agent's role is and when it changes (following, taking over,
leading, handing over, stopping) is decided by ``node.role.AgentRole`` alone; this
module feeds it events (ZooKeeper states, the election, step-down requests, journal
fencing, signals, a tick every turn) and carries out the actions it returns.

Not here: the role's rules and timers (``node/role.py``), what a leader watches in ZooKeeper
(``node/leader_watches``, a base class), scheduling
(``coordinator/``), running commands (``node/worker.py``).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import queue
import signal
import time
from collections import deque
from types import FrameType
from typing import Any

import zmq
from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import KazooException, NoNodeError
from kazoo.handlers.threading import KazooTimeoutError

from puli_mesh import cluster_state, zk_access
from puli_mesh.cluster_history import ZooKeeperHistory
from puli_mesh.config import Settings
from puli_mesh.coordinator.core import CoreSettings, SchedulingCore
from puli_mesh.coordinator.farm_metrics import FarmRecorder
from puli_mesh.coordinator.journal import JournalWriter, read_journal, take_epoch
from puli_mesh.coordinator.records import replay
from puli_mesh.coordinator.service import CoordinatorService
from puli_mesh.errors import ConfigError, ZooKeeperError
from puli_mesh.faults import Faults, guarded
from puli_mesh.limits import MAX_MESSAGE_BYTES, ROUTER_BACKLOG, ROUTER_RCVHWM, ROUTER_SNDHWM
from puli_mesh.metrics import AgentMetrics
from puli_mesh.node import role, share_feed
from puli_mesh.node.desk import Desk
from puli_mesh.node.leader_watches import MEMBER_REFRESH_S, LeaderWatches
from puli_mesh.node.membership import Membership
from puli_mesh.node.nimby import watch_for
from puli_mesh.node.orphans import kill_orphans
from puli_mesh.node.resources import read_resources
from puli_mesh.node.security import AgentSecurity
from puli_mesh.node.shell_execution import seal_inherited_descriptors
from puli_mesh.node.worker import Worker
from puli_mesh.web.server import WebServer
from puli_mesh.zkpaths import ClusterPaths

log = logging.getLogger(__name__)

LOOP_TIMEOUT_MS = 50
ZK_CONNECT_MIN_S = 5.0
"""The first connection to ZooKeeper may take this long even with a shorter session timeout
(a TCP handshake and a session to create, on a busy ensemble)."""
REGISTER_MARGIN_S = 2.0
"""Registering waits for a previous life's member znode to expire: its session timeout, plus this."""
SHUTDOWN_WAIT_S = 5.0
"""On the way out, killed commands and their final UPDATEs get this long before the agent closes."""
GC_THRESHOLDS = (20_000, 20, 20)
"""Python's default (700, 10, 10) suits short scripts, not a leader holding a million
commands: each full collection walks the whole tree (0.4 s at 1M commands on the 2-core
VM) and the defaults ran 18 of them while such a tree was built (5.5 s; 3.5 s and 2
full collections with these). The agent makes few reference cycles, so collecting
less often costs little memory; on the mesh benchmark the leader's CPU per command
fell about 3%."""


def tune_garbage_collector() -> None:
    """For a long-running agent: what exists once it is up (modules, settings, clients) is
    never scanned again (``gc.freeze``), and collections are rarer."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


class Agent(LeaderWatches):
    """One render node's agent: worker always, coordinator while it leads."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.paths = ClusterPaths(settings.cluster)
        self.events: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self.context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self.router: zmq.Socket[bytes] | None = None
        self.desk: Desk | None = None  # reads the ROUTER (``node.desk``)
        self.security = AgentSecurity.from_settings(settings)
        self.zk: KazooClient = zk_access.connect(settings.zk, settings.session_timeout, self.security.credential,
                                                 settings.zookeeper_options())
        self.membership = Membership(self.zk, self.paths, settings.name, self.post)
        self.worker = Worker(settings, self.context)
        self.worker.secure = self.security.secure_client if self.security.secured else None
        self.faults = Faults()  # units of the loop's work that failed (``puli_mesh.faults``)
        self.service: CoordinatorService | None = None
        self.leader: cluster_state.LeaderInfo | None = None
        self.role = role.AgentRole(session_timeout=settings.session_timeout, grace_period=settings.grace_period)
        self.stopped = False
        self.exit_code = 0  # what ``run`` returns: a killfile's -2/-3 sets its own
        self.nimby = watch_for(settings.nimby, settings.killfile, settings.nimby_idle_minutes,  # when it takes work
                               settings.nimby_window, self.worker)
        self._last_member_refresh = 0.0
        self._last_member_reads = 0.0
        self.members_to_read: deque[str] = deque()  # the leader's round of member reads
        self._last_seal = time.monotonic()  # run() seals once before the loop starts
        self.licences_watched: set[str] = set()  # licence znodes whose data this leader watches
        self.metrics = AgentMetrics(self)
        self.web = WebServer(settings, self.security, self.metrics.render)  # HTTP (and /metrics), started last

    # ----------------------------------------------------------------- plumbing
    def post(self, kind: str, payload: Any) -> None:
        """Hand an event to the loop; safe from any thread or signal handler."""
        self.events.put((kind, payload))
        try:
            os.write(self._wake_w, b"x")
        except BlockingIOError:
            pass  # the pipe is full: the loop is already going to wake up

    def _signal(self, signum: int, _frame: FrameType | None) -> None:
        self.post("shutdown", signal.Signals(signum).name)

    # -------------------------------------------------------------------- start
    def start(self) -> None:
        s = self.settings
        self.security.start_zap(self.context)
        self.router = self.context.socket(zmq.ROUTER)
        self.security.serve(self.router)
        self.desk = Desk(self.router, s, self.security, self.worker, self,
                         step_down=lambda: self._feed(role.StepDownAsked()), zk=self.zk)
        self.router.setsockopt(zmq.ROUTER_MANDATORY, 1)
        # No ROUTER_HANDOVER: a connection with a routing id already in use is refused, so nobody
        # takes a worker's link over (each worker connection has a fresh, unguessable id).
        self.router.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        self.router.setsockopt(zmq.RCVHWM, ROUTER_RCVHWM)
        self.router.setsockopt(zmq.SNDHWM, ROUTER_SNDHWM)
        self.router.setsockopt(zmq.BACKLOG, ROUTER_BACKLOG)
        self.router.setsockopt(zmq.LINGER, 0)
        try:
            self.router.bind(s.endpoint)
        except zmq.ZMQError as exc:
            raise ConfigError(
                f"cannot listen on {s.endpoint}: {exc} (is another agent using --port {s.port}?)") from exc
        try:
            self.zk.start(timeout=max(ZK_CONNECT_MIN_S, s.session_timeout))
        except KazooTimeoutError as exc:
            raise ZooKeeperError(f"ZooKeeper at {s.zk} did not answer; check --zk / PULI_ZK") from exc
        self.security.follow(self.zk, self.paths)
        self.membership.register(self._member_data(), wait=s.session_timeout + REGISTER_MARGIN_S)
        # Registered: no other live agent has this name, so these are our previous life's.
        kill_orphans(s.name, s.log_dir)
        self.zk.DataWatch(self.paths.leader, self._on_leader_data)
        self.membership.join_election()
        log.info("agent %s up on %s (cluster %s, %d slots, pools %s)",
                 s.name, s.endpoint, s.cluster, s.slots, ",".join(s.pools))
        self.web.start()  # after our own sockets: it reaches the mesh through this agent's ROUTER

    def _member_data(self) -> dict[str, Any]:
        res = read_resources()
        return {
            "endpoint": self.settings.endpoint,
            "slots": self.settings.slots,
            "pools": list(self.settings.pools),
            "running": len(self.worker.running),
            "accepting": self.worker.accepting,
            "pid": os.getpid(),
            "faults": self.faults.total,
            **res.as_dict(),
            **self.nimby.member_data(),  # why a workstation holds (``node.nimby``)
        }

    def _on_leader_data(self, data: bytes | None, _stat: Any) -> None:
        self.post("leader", cluster_state.parse_leader(data))

    # --------------------------------------------------------------------- loop
    def run(self) -> int:
        """Run until stopped by a signal; returns an exit code."""
        signal.signal(signal.SIGTERM, self._signal)
        signal.signal(signal.SIGINT, self._signal)
        sealed = seal_inherited_descriptors()  # frames are spawned without close_fds
        if sealed:
            log.debug("%d inherited descriptor(s) made close-on-exec", sealed)
        self.start()
        tune_garbage_collector()
        try:
            while not self.stopped:
                self._turn()
        finally:
            self._shutdown()
        return self.exit_code

    def _turn(self) -> None:
        poller = zmq.Poller()
        assert self.router is not None
        poller.register(self.router, zmq.POLLIN)
        if self.worker.socket is not None:
            poller.register(self.worker.socket, zmq.POLLIN)
        poller.register(self._wake_r, zmq.POLLIN)
        report_fds = self.worker.report_fds
        for fd in report_fds:
            poller.register(fd, zmq.POLLIN)
        timeout = LOOP_TIMEOUT_MS
        # Wake in time for a journal batch gathering records, and for the worker's gathered updates.
        for due in (self.service.flush_due_in() if self.service is not None else None,
                    self.worker.outbox_due_in(time.monotonic())):
            if due is not None:
                timeout = min(timeout, int(due * 1000) + 1)
        ready = dict(poller.poll(timeout))
        if self._wake_r in ready:
            try:
                while os.read(self._wake_r, 4096):
                    pass
            except BlockingIOError:
                pass
        self._drain_events()
        if ready.get(self.router) and self.desk is not None:
            self.desk.drain()
        sock = self.worker.socket
        if sock is not None and ready.get(sock):
            for _ in range(1000):
                try:
                    frame = sock.recv(zmq.NOBLOCK)
                except zmq.Again:
                    break
                guarded(self.faults, "worker message", self.worker.on_message, frame)
        for fd, cid in report_fds.items():
            if fd in ready:
                guarded(self.faults, "command report", self.worker.on_report, cid)
        guarded(self.faults, "worker", self.worker.tick)
        if self.service is not None:
            guarded(self.faults, "coordinator", self.service.tick)
        guarded(self.faults, "housekeeping", self._housekeeping)

    # ------------------------------------------------------------------- events
    def _drain_events(self) -> None:
        while True:
            try:
                kind, payload = self.events.get_nowait()
            except queue.Empty:
                return
            handler = getattr(self, f"_event_{kind}")
            try:
                handler(payload)
            except (KazooException, KazooTimeoutError, ZooKeeperError) as exc:
                log.warning("ZooKeeper operation for %s failed: %s", kind, exc)
            except Exception:  # a bug must not take the agent (and its running commands) down
                log.exception("handling %s failed", kind)

    def _event_shutdown(self, signame: str) -> None:
        log.info("%s received", signame)
        self._feed(role.Shutdown())

    def _event_leader(self, info: cluster_state.LeaderInfo | None) -> None:
        self.leader = info
        if info is None:
            log.info("no leader published in cluster %s", self.settings.cluster)
            return
        log.info("leader is %s at %s (epoch %d)", info.name, info.endpoint, info.epoch)
        self.worker.follow(info.endpoint, info.epoch)

    def _event_elected(self, _payload: Any) -> None:
        self._feed(role.Elected())

    def _event_election_failed(self, _reason: str) -> None:
        self._feed(role.ElectionFailed())

    def _event_zk_state(self, state: str) -> None:
        log.info("ZooKeeper session %s", state)
        if state == KazooState.SUSPENDED:
            self._feed(role.Suspended())
        elif state == KazooState.CONNECTED:
            self._feed(role.Connected())
        elif state == KazooState.LOST:
            self._feed(role.Lost())

    def _event_journal_written(self, payload: tuple[CoordinatorService, int, Exception | None]) -> None:
        service, number, exc = payload
        if service is not self.service:
            return  # a batch of a coordinator that already stepped down
        service.on_written(number, exc)
        if service.fenced:
            self._feed(role.JournalFenced())

    # --------------------------------------------------------------------- role
    def _feed(self, event: role.Event) -> None:
        """Move the role and carry out its actions, in order; answers (a takeover's outcome,
        the leader znode's owner, a rejoin's failure) are fed back once the list is done."""
        actions = self.role.handle(event, time.monotonic())
        if not actions:
            return  # most turns: a Tick with no timer due
        answers = []
        for action in actions:
            answer = self._carry_out(action)
            if answer is not None:
                answers.append(answer)
        for answer in answers:
            self._feed(answer)

    def _carry_out(self, action: role.Action) -> role.Event | None:
        name = self.settings.name
        service = self.service
        match action:
            case role.TakeOver():
                return self._take_over()
            case role.AbandonTakeover():
                self.service = None
            case role.StopDispatching() if service is not None:
                service.dispatching = False
            case role.ResumeDispatching() if service is not None:
                service.dispatching = True
            case role.CheckLeaderZnode():
                return role.LeaderZnodeOwned() if self._still_leader() else role.LeaderZnodeLost()
            case role.BeginHandover(reason) if service is not None:
                log.info("agent %s hands over leadership: %s", name, reason)
                service.dispatching = False
            case role.EndHandover() if service is not None:
                self.service = None
                log.info("agent %s stepped down (epoch %d)", name, service.epoch)
            case role.StepDown(reason) if service is not None:
                log.warning("agent %s steps down as coordinator (epoch %d): %s", name, service.epoch, reason)
                self.service = None
            case role.DeleteLeaderZnode():
                try:
                    self.zk.delete(self.paths.leader)
                except (KazooException, KazooTimeoutError):
                    pass  # gone already, or it goes with our session: followers see it either way
            case role.Resign():
                self.membership.resign()
            case role.Rejoin():
                return self._rejoin()
            case role.StopAccepting():
                log.info("taking no new work, %d running command(s) get %.0fs to finish",
                         len(self.worker.running), self.settings.grace_period)
                self.worker.stop_accepting()
                self.worker._send_ready()
            case role.KillCommands():
                if self.worker.running:
                    log.warning("grace period over: killing %d running command(s)", len(self.worker.running))
                self.worker.kill_all("agent shutting down")
            case role.Exit(reason):
                log.info("agent %s leaves its loop: %s", name, reason)
                self.stopped = True
            case _:
                log.error("agent %s cannot carry out %r without a coordinator", name, action)
        return None

    def _take_over(self) -> role.TakeoverDone | role.TakeoverFailed:
        try:
            self._start_coordinator()
        except (KazooException, KazooTimeoutError, ZooKeeperError) as exc:
            log.error("agent %s gives up leadership: taking over failed: %s", self.settings.name, exc)
            return role.TakeoverFailed()
        except Exception:  # a bug, or an unreadable snapshot: let another agent try
            log.exception("agent %s gives up leadership: taking over failed", self.settings.name)
            return role.TakeoverFailed()
        return role.TakeoverDone()

    def _start_coordinator(self) -> None:
        started = time.monotonic()
        epoch, epoch_version = take_epoch(self.zk, self.paths)
        replay_faults = Faults()
        core, next_index = self._recover(epoch, replay_faults)
        assert self.router is not None
        s = self.settings
        service = CoordinatorService(
            self.router, core, epoch,
            heartbeat_interval=s.heartbeat_interval, heartbeat_liveness=s.heartbeat_liveness,
            leader_name=s.name, cluster=s.cluster,
            journal=JournalWriter(self.zk, self.paths, epoch, epoch_version), post=self.post,
            next_index=next_index, lost_grace=s.lost_grace,
            snapshot_every=s.snapshot_every, snapshot_interval=s.snapshot_interval, secured=self.security.secured,
            recorder=FarmRecorder.resumed(ZooKeeperHistory(self.zk, self.paths), s.history_period))
        service.faults.counts.update(replay_faults.counts)  # records skipped at recovery, in status
        self.service = service
        cluster_state.ensure_shared(self.zk, self.paths, self.security.credential)
        service.set_pools(cluster_state.read_pools(self.zk, self.paths))
        service.set_licences(cluster_state.read_licences(self.zk, self.paths))
        share_feed.feed(self.zk, self.paths, service)  # a tree written but not journalled by a leader gone
        # Their registration data (the load figures ``status`` shows) is read in the round of
        # member reads, not here: 2,000 reads queued ahead of the leader znode's publication
        # held a takeover up by a second.
        service.set_members(set(self.zk.get_children(self.paths.nodes)))
        self.watch_cluster()
        # Publish only now that the state is rebuilt: workers follow this znode.
        leader = cluster_state.LeaderInfo(name=s.name, endpoint=s.endpoint, epoch=epoch)
        cluster_state.publish_leader(self.zk, self.paths, leader, self.security.credential)
        log.info("agent %s leads cluster %s with epoch %d (took over in %.3fs)",
                 s.name, s.cluster, epoch, time.monotonic() - started)

    def _recover(self, epoch: int, faults: Faults) -> tuple[SchedulingCore, int]:
        """Rebuild the core from the newest snapshot and the journal after it."""
        started = time.monotonic()
        s = self.settings
        settings = CoreSettings(retry_delay_s=s.retry_delay, quarantine_after=s.quarantine_after,
                                sick_after=s.sick_after, forgive_after_s=s.forgive_after,
                                archive_after_s=s.archive_after_days * 86400.0, graph_limits=s.graph_limits())
        recovered = read_journal(self.zk, self.paths)
        snapshot = recovered.snapshot
        core = SchedulingCore(settings) if snapshot is None else SchedulingCore.restore(snapshot, settings)
        refused = replay(core, recovered.records, faults)
        log.info("epoch %d recovered %s snapshot + %d record(s) in %d batch(es) (%d refused as live) in %.3fs",
                 epoch, "a" if recovered.snapshot is not None else "no", len(recovered.records),
                 recovered.batches, refused, time.monotonic() - started)
        return core, recovered.last_index + 1

    def _still_leader(self) -> bool:
        """Whether this session owns the leader znode; a failed read counts as no (a leader that
        cannot tell must not dispatch on)."""
        try:
            _, stat = self.zk.get(self.paths.leader)
        except NoNodeError:
            return False
        except (KazooException, KazooTimeoutError) as exc:
            log.warning("cannot read the leader znode: %s", exc)
            return False
        return bool(stat.ephemeralOwner == self.zk.client_id[0])

    def _rejoin(self) -> role.RejoinFailed | None:
        try:
            self.membership.register(self._member_data(), wait=self.settings.session_timeout + REGISTER_MARGIN_S)
            self.membership.join_election()
        except (KazooException, KazooTimeoutError, ZooKeeperError) as exc:
            log.warning("agent %s could not rejoin the election: %s", self.settings.name, exc)
            return role.RejoinFailed()
        return None

    # ------------------------------------------------------------- housekeeping
    def _housekeeping(self) -> None:
        self._feed(role.Tick())  # the role's timers: suspension, handover deadline, rejoin, grace period
        if self.role.state in role.HANDING_OVER_STATES and self.service is not None and self.service.journal_idle:
            self._feed(role.JournalDrained())  # service.tick() flushed the journal earlier in this turn
        if self.role.state is role.RoleState.STOPPING and not self.worker.running:
            self._feed(role.WorkerIdle())  # in the same turn as a handover that just ended
        now = time.monotonic()
        if (code := self.nimby.tick(now)) is not None:
            self.exit_code, self.stopped = code, True  # its -2 or -3 (``node.killfile``)
        if now - self._last_seal >= MEMBER_REFRESH_S:
            # Frames are spawned without close_fds: a descriptor some library opened without
            # close-on-exec since the last look would reach them. Seal it, and say so.
            self._last_seal = now
            sealed = seal_inherited_descriptors()
            if sealed:
                log.warning("%d descriptor(s) of the agent were inheritable; made close-on-exec", sealed)
        if (now - self._last_member_refresh >= MEMBER_REFRESH_S or self.nimby.news()) \
                and self.zk.state == KazooState.CONNECTED:
            self._last_member_refresh = now
            try:
                self.membership.update(self._member_data(), now)
            except (KazooException, KazooTimeoutError) as exc:
                log.debug("member refresh failed: %s", exc)
        if (self.service is not None and now - self._last_member_reads >= 1.0
                and self.zk.state == KazooState.CONNECTED):
            self._last_member_reads = now
            self.read_some_members(self.service)

    def _shutdown(self) -> None:
        log.info("agent %s stopping", self.settings.name)
        self.web.stop()
        deadline = time.monotonic() + SHUTDOWN_WAIT_S
        if self.worker.running:
            self.worker.kill_all("agent stopped")
            while self.worker.running and time.monotonic() < deadline:
                self.worker.tick()
                time.sleep(0.05)
        # Give final UPDATEs a moment to reach the coordinator -- if there is one: with no leader
        # published, or this agent the leader it was and stepped down, nobody would acknowledge
        # them (and leader changes are not followed from here).
        leader = self.leader
        answered = leader is not None and (self.service is not None or leader.name != self.settings.name)
        while answered and self.worker.pending and time.monotonic() < deadline and self.worker.socket is not None:
            self._turn_worker_only()
        self.worker.close()
        self.membership.close()
        with contextlib.suppress(KazooException, KazooTimeoutError):
            if self.service is not None:
                self.zk.delete(self.paths.leader)
        self.service = None
        with contextlib.suppress(KazooException, KazooTimeoutError):
            self.zk.stop()
            self.zk.close()
        if self.router is not None:
            self.router.close(linger=0)
        self.security.stop()
        self.context.term()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def _turn_worker_only(self) -> None:
        sock = self.worker.socket
        assert sock is not None
        if sock.poll(50):
            self.worker.on_message(sock.recv())
        if self.service is not None and self.desk is not None and self.router is not None and self.router.poll(0):
            self.desk.drain()
        self.worker.tick()

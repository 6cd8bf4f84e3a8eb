"""How this node launches a command: the environment it gets and the account it runs as.

A command gets a clean environment, built in this order (a later step wins over an earlier one)
by :func:`inherited_environment` and ``command.command_environment``, both pure:

1. from the agent's own environment only ``INHERITED_VARIABLES`` and the ``LC_*`` variables
   (what a command needs to find programs, speak the node's locale and find its scratch disk),
   plus the names listed in the ``command_env_passthrough`` setting (never a ``PULI_*`` one);
2. ``HOME``, ``USER``, ``LOGNAME`` and ``SHELL`` (``ACCOUNT_VARIABLES``): the job user's, from
   the node's user database, when the command runs as that user (``run_as_job_user``), else the
   agent's own;
3. the job's environment (the graph's task or command ``environment``);
4. the ``PULI_*`` variables the agent sets (``PULI_USER``, ``PULI_LOG``, ...), and
   ``CUDA_VISIBLE_DEVICES`` naming the GPUs the leader booked for the command
   (:func:`gpu_environment`), when it booked any: the job's own value would let it use
   GPUs another command holds.

Guarantees: nothing else of the agent's environment reaches a command (not its ``PULI_KEYS``,
``PULI_ZK``, ``PYTHONPATH``, ``LD_LIBRARY_PATH``...: a studio that needs one lists it in
``command_env_passthrough``). With ``run_as_job_user`` a command runs as its job's user or not at
all: an empty user, a user unknown on this node or a user with uid 0 raises
:class:`~puli_mesh.errors.JobUserError`, which ends the command in ERROR; nothing falls back to
the agent's account.

Not here: spawning (``execution``, ``shell_execution``), log files (``command``), who may read a
log (the leader's access check).
"""

from __future__ import annotations

import functools
import os
import pwd
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from puli_mesh.errors import JobUserError

if TYPE_CHECKING:
    from puli_mesh.config import Settings

INHERITED_VARIABLES = frozenset({"PATH", "LANG", "LANGUAGE", "TZ", "TMPDIR"})
"""What every command gets of the agent's environment, besides ``LC_*``: ``PATH`` to find programs,
``LANG``/``LANGUAGE``/``LC_*``/``TZ`` so that its text, dates and file names read as on the node,
``TMPDIR`` so its temporary files go to the node's scratch disk."""
INHERITED_PREFIXES = ("LC_",)
ACCOUNT_VARIABLES = ("HOME", "USER", "LOGNAME", "SHELL")
"""Set from the account the command runs as."""
JOB_USER_DIRECTORY = "/"
"""Where a command run as its job's user starts: the agent's own working directory may be closed
to that user, and a home on NFS may be closed to root (root squash) who changes into it."""


GPU_VARIABLE = "CUDA_VISIBLE_DEVICES"


def gpu_environment(gpus: Sequence[object] | None) -> dict[str, str]:
    """The variable that gives a command the GPUs booked for it (``CommandSpec.gpus``); none
    when it booked none (then it sees what the job's environment says)."""
    if not gpus:
        return {}
    # The protocol checks the field is a list, not what it holds: the OS needs a string.
    return {GPU_VARIABLE: ",".join(str(g) for g in gpus)}


@dataclass(frozen=True, slots=True)
class Account:
    """A user account of this node that a command runs as."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    """Every group of the user (``os.getgrouplist``), its primary one included."""
    home: str
    shell: str

    def spawn_arguments(self) -> dict[str, Any]:
        """The ``subprocess.Popen`` arguments that make a child this account (set in the child,
        between fork and exec: groups, then gid, then uid)."""
        return {"user": self.uid, "group": self.gid, "extra_groups": list(self.groups),
                "cwd": JOB_USER_DIRECTORY}


def inherited_environment(agent_env: Mapping[str, str], passthrough: Collection[str] = (),
                          account: Account | None = None) -> dict[str, str]:
    """Steps 1 and 2 of the module docstring: what a command gets before its job's environment."""
    env = {name: value for name, value in agent_env.items()
           if name in INHERITED_VARIABLES or name.startswith(INHERITED_PREFIXES) or name in passthrough}
    if account is None:
        env.update({name: agent_env[name] for name in ACCOUNT_VARIABLES if name in agent_env})
    else:
        env.update(HOME=account.home, USER=account.name, LOGNAME=account.name, SHELL=account.shell)
    return env


def job_account(user: str) -> Account:
    """The account of ``user`` on this node, for ``run_as_job_user``; JobUserError when a command
    must not or cannot run as that user."""
    if not user:
        raise JobUserError("the job has no user, and this node runs each command as its job's user "
                           "(run_as_job_user): submit the job with a user")
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise JobUserError(f"user {user!r} is not known on this node, which runs each command as its "
                           f"job's user (run_as_job_user): give every node the studio's users "
                           f"(NIS/LDAP), or submit as a user this node knows") from None
    if entry.pw_uid == 0:
        raise JobUserError(f"user {user!r} has uid 0: a job never runs as root on a node that runs "
                           f"commands as their job's user (run_as_job_user); submit as an ordinary user")
    return Account(user, entry.pw_uid, entry.pw_gid, tuple(os.getgrouplist(user, entry.pw_gid)),
                   entry.pw_dir or JOB_USER_DIRECTORY, entry.pw_shell or "/bin/sh")


@functools.cache
def agent_environment() -> Mapping[str, str]:
    """The agent's environment as it was at the first command (the agent does not change its own).
    Decoding ``os.environ`` costs about 15 us for 40 variables, a noticeable share of a 1 ms
    command: it is done once."""
    return dict(os.environ)


@functools.cache
def _agent_account_environment(passthrough: tuple[str, ...]) -> Mapping[str, str]:
    # Computed once: a command run as the agent gets the same steps 1 and 2 every time.
    return inherited_environment(agent_environment(), passthrough)


@dataclass(frozen=True, slots=True)
class CommandLaunch:
    """How this node launches its commands: the ``command_env_passthrough`` and
    ``run_as_job_user`` settings."""

    passthrough: tuple[str, ...] = ()
    as_job_user: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> CommandLaunch:
        return cls(tuple(settings.command_env_passthrough), settings.run_as_job_user)

    def account_for(self, user: str) -> Account | None:
        """The account a command of ``user`` runs as: None for the agent's own (``run_as_job_user``
        off); JobUserError when it must not run."""
        return job_account(user) if self.as_job_user else None

    def base_environment(self, account: Account | None) -> Mapping[str, str]:
        """Steps 1 and 2 for a command run as ``account`` (None: the agent's). Not to be changed:
        ``command.command_environment`` copies it."""
        if account is None:
            return _agent_account_environment(self.passthrough)
        return inherited_environment(agent_environment(), self.passthrough, account)


DEFAULT_LAUNCH = CommandLaunch()
"""The agent's account and no passthrough: the settings' defaults."""

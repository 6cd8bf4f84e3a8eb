"""What a command gets of the agent's environment and which account it runs as (``node.launch``).

The environment is built by pure functions, tested here without any I/O; the accounts come from
the node's user database (``nobody`` and ``root`` exist on every Debian-like system).
Commands really run as ``nobody`` in ``test_job_user.py``.
"""

from __future__ import annotations

import os
import pwd

import pytest

from puli_mesh.config import Settings
from puli_mesh.errors import JobUserError
from puli_mesh.node.command import command_environment
from puli_mesh.node.launch import (
    ACCOUNT_VARIABLES,
    GPU_VARIABLE,
    Account,
    CommandLaunch,
    gpu_environment,
    inherited_environment,
    job_account,
)
from tests.unit.node.running import make_spec

AGENT_ENV = {
    "PATH": "/usr/bin:/bin", "LANG": "fr_FR.UTF-8", "LANGUAGE": "fr", "LC_ALL": "fr_FR.UTF-8",
    "LC_TIME": "C", "TZ": "Europe/Paris", "TMPDIR": "/scratch",
    "HOME": "/root", "USER": "root", "LOGNAME": "root", "SHELL": "/bin/bash",
    "PULI_KEYS": "/etc/puli-mesh/keys", "PULI_ZK": "zk1:2181", "PULI_KEY": "/root/admin.key_secret",
    "PYTHONPATH": "/opt/agent", "LD_LIBRARY_PATH": "/opt/agent/lib", "RLM_LICENSE": "5053@lic",
    "SSH_AUTH_SOCK": "/tmp/ssh-agent", "AWS_SECRET_ACCESS_KEY": "secret",
}
ARTIST = Account("artist", 2001, 2000, (2000, 2500), "/home/artist", "/bin/zsh")


def test_a_command_gets_only_the_allowlist_and_the_agents_account() -> None:
    assert inherited_environment(AGENT_ENV) == {
        "PATH": "/usr/bin:/bin", "LANG": "fr_FR.UTF-8", "LANGUAGE": "fr", "LC_ALL": "fr_FR.UTF-8",
        "LC_TIME": "C", "TZ": "Europe/Paris", "TMPDIR": "/scratch",
        "HOME": "/root", "USER": "root", "LOGNAME": "root", "SHELL": "/bin/bash",
    }


def test_passthrough_adds_the_named_variables_and_only_those() -> None:
    env = inherited_environment(AGENT_ENV, passthrough=("RLM_LICENSE", "NOT_SET_HERE"))
    assert env["RLM_LICENSE"] == "5053@lic"
    assert "NOT_SET_HERE" not in env and "PULI_KEYS" not in env and "PYTHONPATH" not in env


def test_a_command_run_as_its_jobs_user_gets_that_users_account_not_the_agents() -> None:
    env = inherited_environment(AGENT_ENV, passthrough=("HOME", "RLM_LICENSE"), account=ARTIST)
    assert {name: env[name] for name in ACCOUNT_VARIABLES} == {
        "HOME": "/home/artist", "USER": "artist", "LOGNAME": "artist", "SHELL": "/bin/zsh"}
    assert env["PATH"] == "/usr/bin:/bin" and env["RLM_LICENSE"] == "5053@lic"


def test_the_jobs_environment_wins_over_the_inherited_one_and_puli_variables_win_over_both() -> None:
    spec = make_spec(user="artist", environment={"PATH": "/opt/maya/bin", "HOME": "/shots", "TEXTURES": 3,
                                                 "PULI_USER": "someone-else", "PULI_LOG": "/dev/null"})
    base = inherited_environment(AGENT_ENV, account=ARTIST)
    env = command_environment(spec, "/logs/c/7/42.log", "rn1", "x" * 32, base)
    assert env["PATH"] == "/opt/maya/bin" and env["HOME"] == "/shots" and env["TEXTURES"] == "3"
    assert env["PULI_USER"] == "artist" and env["PULI_LOG"] == "/logs/c/7/42.log"
    assert env["LANG"] == "fr_FR.UTF-8" and env["USER"] == "artist"
    assert not {"PULI_KEYS", "PULI_ZK", "PULI_KEY", "AWS_SECRET_ACCESS_KEY", "SSH_AUTH_SOCK"} & set(env)
    assert base == inherited_environment(AGENT_ENV, account=ARTIST), "the shared base is never changed"


def test_the_launch_follows_the_settings() -> None:
    launch = CommandLaunch.from_settings(Settings(command_env_passthrough=["RLM_LICENSE"]))
    assert launch == CommandLaunch(("RLM_LICENSE",), as_job_user=False)
    assert launch.account_for("nobody") is None, "without run_as_job_user a command runs as the agent"
    assert "PULI_KEYS" not in launch.base_environment(None)


def test_the_account_of_a_known_user_has_its_ids_groups_and_home() -> None:
    entry = pwd.getpwnam("nobody")
    account = job_account("nobody")
    assert (account.name, account.uid, account.gid, account.home) == ("nobody", entry.pw_uid, entry.pw_gid,
                                                                     entry.pw_dir)
    assert entry.pw_gid in account.groups and set(account.groups) == set(os.getgrouplist("nobody", entry.pw_gid))
    assert account.spawn_arguments() == {"user": entry.pw_uid, "group": entry.pw_gid,
                                         "extra_groups": list(account.groups), "cwd": "/"}
    assert CommandLaunch(as_job_user=True).account_for("nobody") == account


@pytest.mark.parametrize(("user", "says"), [
    ("", "the job has no user"),
    ("no-such-user-on-this-node", "'no-such-user-on-this-node' is not known on this node"),
    ("root", "'root' has uid 0: a job never runs as root"),
])
def test_a_user_a_command_must_not_run_as_is_refused(user: str, says: str) -> None:
    with pytest.raises(JobUserError, match=says):
        CommandLaunch(as_job_user=True).account_for(user)


def test_a_command_sees_exactly_the_gpus_booked_for_it_whatever_its_job_says() -> None:
    base = inherited_environment(AGENT_ENV)
    spec = make_spec(environment={"CUDA_VISIBLE_DEVICES": "0,1,2,3"}, gpus=["1", "3"])
    assert command_environment(spec, "/l", "rn1", "x" * 32, base)["CUDA_VISIBLE_DEVICES"] == "1,3"
    unbooked = make_spec(environment={"CUDA_VISIBLE_DEVICES": "2"})  # none booked: its job's own
    assert command_environment(unbooked, "/l", "rn1", "x" * 32, base)["CUDA_VISIBLE_DEVICES"] == "2"
    assert "CUDA_VISIBLE_DEVICES" not in command_environment(make_spec(), "/l", "rn1", "x" * 32, base)
    assert gpu_environment([0, "GPU-9"]) == {GPU_VARIABLE: "0,GPU-9"} and gpu_environment(None) == {}

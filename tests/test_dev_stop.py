"""`edgeline dev`'s stop: a process that joins a group while its leader shuts down is stopped
too (`dagster dev` once restarted its code server on its way out, and it outlived the rest)."""

import os
import sys
import time
from pathlib import Path

import pytest

from orchestration.dev import Processes, process_status

# a leader that, on SIGTERM, starts a child in its group that ignores SIGTERM, then exits
LEADER = """
import pathlib, signal, subprocess, sys, time
def on_term(*_):
    child = subprocess.Popen([sys.executable, "-c",
        "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "open(sys.argv[1], 'w').close(); time.sleep(300)", sys.argv[2]])
    pathlib.Path(sys.argv[1]).write_text(str(child.pid))
    while not pathlib.Path(sys.argv[2]).exists():
        time.sleep(0.01)
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
pathlib.Path(sys.argv[3]).touch()
time.sleep(300)
"""


def alive(pid: int) -> bool:
    status = process_status(pid)
    return status is not None and status[0] != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads processes from /proc")
def test_a_process_started_while_its_leader_stops_is_stopped_too(tmp_path):
    child_pid, child_ready, leader_ready = (tmp_path / n for n in ("pid", "child", "leader"))
    processes = Processes(dict(os.environ))
    leader = processes.start(
        "leader",
        [sys.executable, "-c", LEADER, str(child_pid), str(child_ready), str(leader_ready)],
    )
    deadline = time.monotonic() + 30
    while not leader_ready.exists():
        assert leader.poll() is None and time.monotonic() < deadline, "the leader did not start"
        time.sleep(0.05)

    processes.stop_all(timeout_s=20, leftover_s=1)

    assert leader.returncode == 0  # it left by itself, on the first SIGTERM
    pid = int(child_pid.read_text())
    deadline = time.monotonic() + 5  # SIGKILL was sent; its new parent reaps it
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid), f"process {pid}, started as its leader stopped, outlived stop_all"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads processes from /proc")
def test_a_leader_that_exits_keeps_its_group_id_until_everything_is_stopped(tmp_path):
    """Reaped, its pid (the group's id) could go to another process, and a signal meant for the
    group would reach that one's group."""
    processes = Processes(dict(os.environ))
    leader = processes.start("leader", [sys.executable, "-c", "import sys; sys.exit(3)"])
    deadline = time.monotonic() + 30
    while processes.failed() is None:
        assert time.monotonic() < deadline, "the leader did not exit"
        time.sleep(0.05)

    assert processes.failed() == "leader exited with status 3"
    assert process_status(leader.pid)[0] == "Z"  # exited, not reaped: the pid is still taken

    processes.stop_all(timeout_s=5, leftover_s=1)
    assert leader.returncode == 3  # reaped by stop_all, last

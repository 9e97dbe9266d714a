"""`edgeline dev` (make dev): everything at once on the local instance, for watching it live.

- the Dagster UI and daemon (`dagster dev`): the registry sensor, the hourly roll-ups and the
  daily reports run by themselves;
- the gateway with the web page at `/`;
- a small simulated fleet of Pi agents (one simulated minute a second) sending telemetry.

Approve a new version in the UI (the `registry_decision` job) and watch the page and the agents
switch. Ctrl-C stops every process it started.
"""

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from resources.environment import PACKAGE_ROOT, code_location_args, dagster_home, edgeline_home


class Processes:
    """Child processes, each in its own process group, stopped together.

    A leader that exits is left unreaped until everything is stopped: while it is a zombie its
    pid, and so its group's id, cannot be given to another process, and a signal to the group
    reaches only what this started."""

    def __init__(self, environment: dict[str, str]) -> None:
        self.environment = environment
        self.running: list[tuple[str, subprocess.Popen, Path | None]] = []

    def start(self, name: str, argv: list[str], log: Path | None = None) -> subprocess.Popen:
        output = log.open("ab") if log else None
        process = subprocess.Popen(
            argv,
            cwd=PACKAGE_ROOT,
            env=self.environment,
            stdout=output,
            stderr=subprocess.STDOUT if output else None,
            start_new_session=True,  # Ctrl-C reaches this process; it stops the children
        )
        self.running.append((name, process, log))
        return process

    def failed(self) -> str | None:
        for name, process, log in self.running:
            status = _exit_status(process)
            if status is not None:
                return f"{name} exited with status {status}" + (f" (its log: {log})" if log else "")
        return None

    def stop_all(self, timeout_s: float = 30, leftover_s: float = 5) -> None:
        """SIGTERM to each group; once the leaders exit (SIGKILL after ``timeout_s``), SIGTERM
        again to what is left of their groups and SIGKILL after ``leftover_s``. A leader's exit
        is not its group's: `dagster dev` once restarted its code server while it shut down, and
        the new one, which no signal had reached, lived 45 s more."""
        groups = [process.pid for _, process, _ in self.running]
        for group in reversed(groups):
            _signal_group(group, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for _, process, _ in self.running:
            while _exit_status(process) is None and time.monotonic() < deadline:
                time.sleep(0.1)
            if _exit_status(process) is None:
                _signal_group(process.pid, signal.SIGKILL)
        left = [group for group in groups if _live_members(group)]
        for group in left:
            _signal_group(group, signal.SIGTERM)
        deadline = time.monotonic() + leftover_s
        while left and time.monotonic() < deadline:
            time.sleep(0.2)
            left = [group for group in left if _live_members(group)]
        for group in left:
            _signal_group(group, signal.SIGKILL)
        for _, process, _ in self.running:
            process.wait()  # reaped last: the groups' ids were ours until now


def _exit_status(process: subprocess.Popen) -> int | None:
    """The process's exit status (minus the signal that ended it), None while it runs; it is
    not reaped (``Popen.poll`` would reap it)."""
    if process.returncode is not None:
        return process.returncode
    ended = os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    if ended is None:
        return None
    return ended.si_status if ended.si_code == os.CLD_EXITED else -ended.si_status


def process_status(pid: int) -> tuple[str, int] | None:
    """A process's state letter (``Z``: a zombie) and process group, read from /proc; None when
    there is no such process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[2])


def _live_members(group: int) -> bool:
    """Whether process group ``group`` has a member that is not a zombie (its leader, exited
    and unreaped, still is one). Without /proc, any member counts."""
    proc = Path("/proc")
    if not proc.is_dir():
        return _signal_group(group, 0)
    for entry in proc.iterdir():
        status = process_status(int(entry.name)) if entry.name.isdigit() else None
        if status is not None and status[1] == group and status[0] != "Z":
            return True
    return False


def _signal_group(group: int, number: int) -> bool:
    """Send ``number`` to process group ``group`` (0 only asks); False when the group is gone."""
    try:
        os.killpg(group, number)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def answers_ok(url: str) -> bool:
    """True when ``url`` answers 200 (the dev processes' readiness)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def run_dev(host: str, port: int, gateway_port: int, fleet: int) -> int:
    """Start everything, print where it answers once it does, and keep the terminal quiet:
    each process logs to its own file under ``$EDGELINE_HOME/dev/``."""
    home = dagster_home()
    logs = edgeline_home() / "dev"
    logs.mkdir(parents=True, exist_ok=True)
    # a fresh fleet token each start (a fixed one would be a known password for any gateway
    # left running); the agents read it from their environment, never from a command line
    configured = os.environ.get("EDGELINE_GATEWAY_TOKENS")
    token = configured.split(",")[0].split(":")[0] if configured else secrets.token_urlsafe(24)
    environment = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "EDGELINE_GATEWAY_TOKENS": configured or token,
        "EDGELINE_AGENT_TOKEN": token,
        "EDGELINE_AGENT_CONFIG": "",  # not this machine's /etc/edgeline/agent.conf, if it has one
        # the page checks its channel every 15 s (not 5 minutes): an approval shows while you look
        "EDGELINE_WEB_POLL_S": os.environ.get("EDGELINE_WEB_POLL_S", "15"),
        "PYTHONUNBUFFERED": "1",  # each log line reaches its file as it is written
    }
    bin_dir = Path(sys.executable).parent
    processes = Processes(environment)
    stop = {"signal": None}

    def on_signal(number, _frame) -> None:
        stop["signal"] = number

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        processes.start(
            "dagster",
            [
                str(bin_dir / "dagster"),
                "dev",
                *code_location_args(),
                "--host",
                host,
                "--port",
                str(port),
            ],
            logs / "dagster.log",
        )
        gateway = f"http://{host}:{gateway_port}"
        processes.start(
            "gateway",
            [
                sys.executable,
                "-m",
                "clients.gateway",
                "--host",
                host,
                "--port",
                str(gateway_port),
                "--log-level",
                "info",  # a line per request in gateway.log
            ],
            logs / "gateway.log",
        )
        deadline = time.monotonic() + 60
        while not answers_ok(f"{gateway}/v1/health"):
            if time.monotonic() > deadline or processes.failed():
                print(f"the gateway did not start: {processes.failed() or 'no answer in 60 s'}")
                return 1
            time.sleep(0.5)
        for n in range(fleet):
            device = f"dev-turbine-{n:03d}"
            processes.start(
                device,
                [
                    sys.executable,
                    "-m",
                    "clients.pi.agent",
                    "--gateway",
                    gateway,
                    "--device-id",
                    device,
                    "--data-dir",
                    str(edgeline_home() / "dev" / device),
                    "--speed",
                    "60",  # a simulated minute a second
                    "--poll-s",
                    "10",
                    "--seed",
                    str(n),
                ],
                logs / f"{device}.log",
            )
        print(f"Edgeline dev: {fleet} simulated Pi agents and the gateway started; logs in {logs}")
        deadline = time.monotonic() + 180
        while not answers_ok(f"http://{host}:{port}/server_info"):
            if stop["signal"] is not None:
                return 0
            if time.monotonic() > deadline or processes.failed():
                print(f"the Dagster UI did not start: {processes.failed() or 'no answer in 180 s'}")
                return 1
            time.sleep(0.5)
        print(
            f"  the Dagster UI:  http://{host}:{port}\n"
            f"  the web page:    {gateway}/\n"
            f"  the fleet's device token for this run: {token}\n"
            "Ctrl-C stops everything."
        )
        while stop["signal"] is None:
            problem = processes.failed()
            if problem:
                print(f"stopping: {problem}")
                return 1
            time.sleep(1)
        return 0
    finally:
        print("stopping every process edgeline dev started ...")
        processes.stop_all()

"""Run the real Dagster daemon over a local Edgeline home, for tests and benchmarks."""

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from resources.environment import PACKAGE_ROOT, code_location_args, dagster_home


def daemon_environment(home: Path, sensor_interval_s: int = 1) -> dict[str, str]:
    return {
        **os.environ,
        "EDGELINE_ENV": "local",
        "EDGELINE_HOME": str(home),
        "DAGSTER_HOME": str(dagster_home(home / "dagster")),
        "EDGELINE_SENSOR_INTERVAL_S": str(sensor_interval_s),
    }


@contextmanager
def running_daemon(home: Path, sensor_interval_s: int = 1) -> Iterator[subprocess.Popen]:
    """``dagster-daemon run`` on the workspace, stopped (and its runs with it) on exit."""
    daemon = Path(sys.executable).with_name("dagster-daemon")
    log = (home / "daemon.log").open("wb")
    process = subprocess.Popen(
        [str(daemon), "run", *code_location_args()],
        cwd=PACKAGE_ROOT,
        env=daemon_environment(home, sensor_interval_s),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        wait_for_runs(home / "dagster", timeout_s=120)  # a run still writing outlives the daemon
        os.killpg(process.pid, 15)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
        log.close()


def wait_for_runs(dagster_home: Path, timeout_s: float) -> None:
    """Until no run of the instance is queued or in progress (or ``timeout_s`` passed): the
    benchmark once removed its instance while a run the daemon launched still wrote to it."""
    from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

    unfinished = [
        DagsterRunStatus.QUEUED,
        DagsterRunStatus.NOT_STARTED,
        DagsterRunStatus.STARTING,
        DagsterRunStatus.STARTED,
        DagsterRunStatus.CANCELING,
    ]
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        wait_for(lambda: not instance.get_runs(RunsFilter(statuses=unfinished), limit=1), timeout_s)


def wait_for(condition: Callable[[], bool], timeout_s: float, poll_s: float = 0.2) -> float | None:
    """Seconds until ``condition()`` held, or None if it did not within ``timeout_s``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if condition():
            return time.monotonic() - started
        time.sleep(poll_s)
    return None

"""An agent restarted three times scores no reading twice, whatever its source. Once the
simulated source restarted at 00:00 UTC and the CSV replay at row 1, and each re-scored reading
got a new event id: runs 2 and 3 scored all of run 1 again (1,559 readings). Counted where the
gateway hands events to its store, which would hide a resend by de-duplicating it."""

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edgeline_simulator.turbines import SIGNALS
from tests.gateway.server import Gateway
from tests.pi.test_agent import WINDOW, normal_readings, register_and_publish

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
TOKEN = "resume-token"
PER_RUN = 150  # new readings each run scores (--limit)


def recording(directory: Path, kind: str) -> tuple[str, Path | None]:
    """The agent's --source for ``kind``, and the file it reads (stdin's is piped in)."""
    rows = normal_readings()[: 5 * PER_RUN]
    if kind == "simulate":
        return "simulate", None
    if kind == "csv":
        path = directory / "turbine.csv"
        lines = [",".join(["timestamp", *SIGNALS])]
        lines += [",".join([f"row-{i}", *map(str, row)]) for i, row in enumerate(rows)]
        path.write_text("\n".join(lines) + "\n")
        return f"csv:{path}", path
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=12)
    path = directory / "turbine.jsonl"
    path.write_text(
        "".join(
            json.dumps(
                {
                    "timestamp": (start + timedelta(seconds=60 * i)).isoformat(),
                    **dict(zip(SIGNALS, map(float, row), strict=True)),
                }
            )
            + "\n"
            for i, row in enumerate(rows)
        )
    )
    return "stdin", path


def run_agent(gateway: Gateway, data: Path, source: str, piped: Path | None, day: int) -> None:
    """One run of the agent's command line, its simulated turbine on ``day`` whatever the time
    (a restart after midnight UTC would simulate the next day: other readings, a window to fill
    again, and event ids the first run never made)."""
    command = [
        sys.executable,
        "-m",
        "tests.pi.agent_on_one_day",
        str(day),
        "--gateway",
        gateway.url,
        "--device-id",
        "turbine-resume",
        "--data-dir",
        str(data),
        "--source",
        source,
        "--speed",
        "0",
        "--limit",
        str(PER_RUN),
    ]
    stdin = piped.open() if source == "stdin" and piped else subprocess.DEVNULL
    try:
        done = subprocess.run(
            command,
            cwd=REPO,
            env={**os.environ, "EDGELINE_AGENT_TOKEN": TOKEN},
            stdin=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        if stdin is not subprocess.DEVNULL:
            stdin.close()
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize("kind", ["simulate", "csv", "stdin"])
def test_three_restarts_score_no_reading_twice(tmp_path, kind):
    gateway = Gateway(tmp_path / "gateway", tokens=frozenset({TOKEN})).start()
    try:
        register_and_publish(gateway.store, gateway.registry, threshold=9.0)
        source, piped = recording(tmp_path, kind)
        data, day = tmp_path / "agent", int(time.time() // 86400)
        for _ in range(4):  # a first run and three restarts
            run_agent(gateway, data, source, piped, day)
        received = Counter(gateway.telemetry.appended)
        assert [i for i, n in received.items() if n > 1] == []  # no event sent twice
        # every run scored its own readings: the first window fills once, then one event each
        assert len(received) == 4 * PER_RUN - (WINDOW - 1)

        # lose what the agent knew of its progress (a disk restored from a backup): it scores
        # the same readings again, and each comes out as the same event, which the store drops
        with closing(sqlite3.connect(data / "outbox.sqlite")) as db, db:
            db.execute("DELETE FROM progress")
        before = len(set(gateway.telemetry.appended))
        run_agent(gateway, data, source, piped, day)
        assert len(set(gateway.telemetry.appended)) == before
    finally:
        gateway.stop()

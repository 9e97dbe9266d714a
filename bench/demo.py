"""Demo benchmark: `edgeline demo`'s wall time after installation, and where it goes.

    .venv/bin/python -m bench.demo [--quick]

Runs the demo as `make demo` does, in a fresh temporary EDGELINE_HOME (nothing trained before,
the synthetic images written again), timing the whole command from start to exit; then reads
each training run's step durations back from the demo's own Dagster instance. Prints one JSON
document (and writes bench/results/demo.json).
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.report import emit_report


def step_seconds(dagster_home: Path) -> dict[str, dict[str, float]]:
    """Seconds per step of each run in the instance, by job."""
    from dagster import DagsterInstance

    steps: dict[str, dict[str, float]] = {}
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        for run in instance.get_runs():
            for stats in instance.get_run_step_stats(run.run_id):
                if stats.start_time is not None and stats.end_time is not None:
                    job = steps.setdefault(run.job_name, {})
                    job[stats.step_key] = round(stats.end_time - stats.start_time, 1)
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the quick demo the tests run")
    parser.add_argument("--output", default="bench/results/demo.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        env = {**os.environ, "EDGELINE_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
        env.pop("EDGELINE_ENV", None)  # the local default, as a new user runs it
        command = [str(Path(sys.executable).with_name("edgeline")), "demo"]
        started = time.perf_counter()
        done = subprocess.run(
            command + (["--quick"] if args.quick else []), env=env, capture_output=True, text=True
        )
        wall = time.perf_counter() - started
        if done.returncode:
            print(done.stdout[-3000:], done.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"edgeline demo exited {done.returncode}")
        steps = step_seconds(home / "dagster")
    training = {job: s for job, s in steps.items() if job.startswith("retrain_")}
    report: dict[str, Any] = {
        "demo": "quick" if args.quick else "default",
        "cpus": os.cpu_count(),
        "wall_s": round(wall, 1),
        "wall_min": round(wall / 60, 2),
        "training_steps_s": training,
        "slowest_steps": sorted(
            (
                (f"{job}.{step}", s)
                for job, job_steps in training.items()
                for step, s in job_steps.items()
            ),
            key=lambda item: -item[1],
        )[:5],
        "summary": [
            line for line in done.stdout.splitlines() if "test_accuracy" in line or " f1 " in line
        ],
    }
    emit_report(report, args.output)


if __name__ == "__main__":
    main()

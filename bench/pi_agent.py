"""The device agent installed alone: its virtualenv's size and install time on each Python it
supports (where this machine has it), against the platform's full venv, and its cold start on
one core.

    .venv/bin/python -m bench.pi_agent [--runs 5] [--pythons oldest,raspberry-pi-os,newest]

Install: ``python -m venv`` and ``pip install ./clients/pi`` (a copy of it, so the checkout
stays clean) with pip's cache as it is (warm after the first run: the time is then pip's work,
not the download). Size: ``du -sm`` of the venv (pip included), and of this process's venv.

Cold start: the installed ``edgeline-agent`` console script, pinned to CPU 0 (the gateway, in
this process, runs on the other CPUs), reading JSON lines from a file that holds one full
window (``--source stdin``), timed from spawning the process to its log line "first window
scored". ``first_start``: an empty data directory (it fetches the manifest, downloads and
checks the model, then scores); ``restart``: the model already on disk. ``imports``: the same
interpreter importing numpy and onnxruntime alone. Medians of ``--runs``. Prints JSON (and
writes bench/results/pi_agent.json).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.report import emit_report
from edgeline_simulator.turbines import SIGNALS
from tests.gateway.server import Gateway
from tests.pi.installed import (
    PYTHONS,
    TOKEN,
    clean_environment,
    copy_sources,
    find_python,
    install_agent,
    megabytes,
    missing_python_reason,
    stored_events,
    write_settings,
)
from tests.pi.test_agent import WINDOW, normal_readings, register_and_publish

FIRST_LINE = "first window scored"


def pinned_to_first_cpu() -> None:
    os.sched_setaffinity(0, {0})


def time_to_first_window(script: Path, config: Path, readings: Path, home: Path) -> float:
    """Milliseconds from spawning the agent to its "first window scored" line."""
    with readings.open() as stdin:
        started = time.perf_counter()
        process = subprocess.Popen(
            [str(script), "--config", str(config)],
            stdin=stdin,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            cwd=home,
            env=clean_environment(home),
            preexec_fn=pinned_to_first_cpu,
        )
        seen = None
        lines = []
        for line in process.stderr:
            lines.append(line)
            if FIRST_LINE in line and seen is None:
                seen = time.perf_counter()
        process.wait(timeout=120)
    if seen is None or process.returncode:
        raise RuntimeError(
            f"the agent scored nothing (exit {process.returncode}):\n{''.join(lines)}"
        )
    return (seen - started) * 1000


def time_imports(python: Path, home: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [str(python), "-c", "import numpy, onnxruntime"],
        check=True,
        cwd=home,
        env=clean_environment(home),
        preexec_fn=pinned_to_first_cpu,
    )
    return (time.perf_counter() - started) * 1000


def cold_start(agent, workdir: Path, runs: int) -> dict:
    others = set(range(os.cpu_count() or 1)) - {0}
    if others:  # the gateway and this process keep off the agent's CPU
        os.sched_setaffinity(0, others)
    home = workdir / "home"
    home.mkdir(parents=True)
    readings = workdir / "window.jsonl"
    rows = normal_readings()[:WINDOW]
    readings.write_text(
        "".join(json.dumps(dict(zip(SIGNALS, map(float, row), strict=True))) + "\n" for row in rows)
    )
    gateway = Gateway(workdir / "gateway", tokens=frozenset({TOKEN})).start()
    first, again, imports = [], [], []
    try:
        register_and_publish(gateway.store, gateway.registry, 9.0)
        for run in range(runs):
            config = write_settings(
                workdir / f"etc-{run}", gateway.url, f"bench-pi-{run}", source="stdin"
            )
            first.append(time_to_first_window(agent.script, config, readings, home))
            again.append(time_to_first_window(agent.script, config, readings, home))
            imports.append(time_imports(agent.python, home))
        stored = sum(len(stored_events(gateway.telemetry, f"bench-pi-{r}")) for r in range(runs))
    finally:
        gateway.stop()
    return {
        "python": agent.python_version,
        "onnxruntime": agent.packages.get("onnxruntime"),
        "cpu": 0,
        "runs": runs,
        "first_start_ms": round(statistics.median(first), 1),
        "restart_ms": round(statistics.median(again), 1),
        "imports_ms": round(statistics.median(imports), 1),
        "first_start_ms_runs": [round(t, 1) for t in first],
        "restart_ms_runs": [round(t, 1) for t in again],
        "events_stored": stored,  # one window per start: 2 * runs
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="cold starts of each kind")
    parser.add_argument(
        "--pythons", default=",".join(PYTHONS), help="which of " + ", ".join(PYTHONS)
    )
    parser.add_argument("--output", default="bench/results/pi_agent.json")
    args = parser.parse_args()
    report: dict = {
        "benchmark": "pi_agent",
        "full_platform_venv_mb": megabytes(Path(sys.prefix)),
        "full_platform_venv": sys.prefix,
        "install": {},
        "skipped": {},
    }
    installed = {}
    with tempfile.TemporaryDirectory(prefix="edgeline-pi-bench-") as temporary:
        workdir = Path(temporary)
        source = copy_sources(workdir / "src")
        for which in args.pythons.split(","):
            version = PYTHONS[which]
            python = find_python(version)
            if python is None:
                report["skipped"][which] = missing_python_reason(which, version)
                continue
            installed[which] = install_agent(python, source, workdir / f"venv-{which}")
            report["install"][which] = installed[which].figures()
        chosen = next((installed[w] for w in ("raspberry-pi-os", *PYTHONS) if w in installed), None)
        if chosen is not None:
            report["cold_start"] = cold_start(chosen, workdir / "cold", args.runs)
    emit_report(report, args.output)


if __name__ == "__main__":
    main()

"""Where a device's readings come from: the simulated wind turbine, a CSV replay, or JSON lines.

Each source yields readings as ``{signal: value}``; the agent puts them in the order its model's
manifest declares, so a source never needs to know the model. ``paced`` sources (a simulation,
a replay) are slowed to the profile's interval by the agent; a live stream comes at its own pace.
"""

import csv
import json
import logging
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

log = logging.getLogger("edgeline.agent")

Reading = dict[str, float | str]


@dataclass
class SimulatedTurbine:
    """The demo's wind turbine, day after day, from today (numpy only)."""

    seed: int = 1
    turbine: int = 7
    paced: bool = True

    def __iter__(self) -> Iterator[Reading]:
        from clients.pi.simulator import SIGNALS, FleetSettings, simulate_turbine

        day_index = int(time.time() // 86400)
        while True:
            day = simulate_turbine(self.turbine, day_index, FleetSettings(turbines=1), self.seed)
            for index in range(len(day["fault"])):
                yield {name: float(day[name][index]) for name in SIGNALS}
            day_index += 1


@dataclass
class CsvReplay:
    """A recorded CSV, one reading per row, its columns named as the profile's signals (other
    columns, a timestamp or a label, are ignored)."""

    path: Path
    paced: bool = True

    def __iter__(self) -> Iterator[Reading]:
        with self.path.open(newline="") as handle:
            yield from csv.DictReader(handle)


@dataclass
class JsonLines:
    """One JSON object per line (``{"pressure_bar": 3.1, ...}``), e.g. piped from a sensor
    reader: ``my-sensor-reader | python -m clients.pi.agent ... --source stdin``."""

    stream: IO[str] = sys.stdin
    paced: bool = False

    def __iter__(self) -> Iterator[Reading]:
        for number, line in enumerate(self.stream, start=1):
            if not line.strip():
                continue
            try:
                reading = json.loads(line)
            except ValueError:
                reading = None
            if not isinstance(reading, dict):
                log.warning("line %d is not a JSON object of signal values; skipped", number)
                continue
            yield reading


def open_source(spec: str, seed: int = 1) -> SimulatedTurbine | CsvReplay | JsonLines:
    """``simulate``, ``csv:PATH`` or ``stdin``."""
    if spec == "simulate":
        return SimulatedTurbine(seed=seed)
    if spec == "stdin":
        return JsonLines()
    if spec.startswith("csv:"):
        path = Path(spec.removeprefix("csv:"))
        if not path.is_file():
            raise SystemExit(f"--source {spec}: no such file")
        return CsvReplay(path)
    raise SystemExit(f"--source {spec!r}: expected simulate, csv:PATH or stdin")

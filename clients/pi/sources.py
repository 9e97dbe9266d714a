"""Where a device's readings come from: the simulated wind turbine, a CSV replay, or JSON lines.

Each source yields ``(position, reading)``: the reading as ``{signal: value}`` (the agent puts
them in the order its model's manifest declares, so a source never needs to know the model) and
where it stands in the source (its simulated time, its row, its own timestamp; None when it
has none), by which the agent resumes after a restart instead of scoring readings again. A
source's ``key`` names what it reads. ``paced`` sources (a simulation, a replay) are slowed to
the profile's interval by the agent; a live stream comes at its own pace.
"""

from __future__ import annotations

import csv
import json
import logging
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Optional, Union

log = logging.getLogger("edgeline.agent")

# aliases are evaluated at run time: no ``X | Y`` here before Python 3.10
Reading = dict[str, Union[float, str]]
Positioned = tuple[Optional[float], Reading]


@dataclass
class SimulatedTurbine:
    """The demo's wind turbine, day after day, from today (numpy only)."""

    seed: int = 1
    turbine: int = 7
    paced: bool = True

    @property
    def key(self) -> str:
        return f"simulate:turbine-{self.turbine}:seed-{self.seed}"

    def __iter__(self) -> Iterator[Positioned]:
        from edgeline_simulator.turbines import SIGNALS, FleetSettings, simulate_turbine

        day_index = int(time.time() // 86400)
        while True:
            day = simulate_turbine(self.turbine, day_index, FleetSettings(turbines=1), self.seed)
            step = 86400 / len(day["fault"])
            for index in range(len(day["fault"])):  # the simulated reading's own time
                position = day_index * 86400 + index * step
                yield position, {name: float(day[name][index]) for name in SIGNALS}
            day_index += 1


@dataclass
class CsvReplay:
    """A recorded CSV, one reading per row, its columns named as the profile's signals (other
    columns, a timestamp or a label, are ignored)."""

    path: Path
    paced: bool = True

    @property
    def key(self) -> str:
        """The file as it is now: an edited or replaced file is another recording."""
        stat = self.path.stat()
        return f"csv:{self.path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"

    def __iter__(self) -> Iterator[Positioned]:
        with self.path.open(newline="") as handle:
            yield from enumerate(csv.DictReader(handle), start=1)  # the row: 1, 2, ...


@dataclass
class JsonLines:
    """One JSON object per line (``{"pressure_bar": 3.1, ...}``), e.g. piped from a sensor
    reader: ``my-sensor-reader | python -m clients.pi.agent ... --source stdin``."""

    stream: IO[str] = sys.stdin
    paced: bool = False
    key: str = "stdin"

    def __iter__(self) -> Iterator[Positioned]:
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
            yield reading_time(reading), reading


def reading_time(reading: Reading) -> float | None:
    """A reading's own ``timestamp`` (ISO 8601 with a zone, or seconds since the epoch) as
    seconds, when it has one: a stream piped in again after a restart is recognised by it."""
    stamp = reading.get("timestamp")
    if isinstance(stamp, (int, float)) and not isinstance(stamp, bool):
        return float(stamp)
    if isinstance(stamp, str):
        if stamp.endswith(("Z", "z")):  # fromisoformat reads a "Z" from Python 3.11 only
            stamp = stamp[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(stamp)
        except ValueError:
            return None
        return moment.timestamp() if moment.tzinfo else None
    return None


def open_source(spec: str, seed: int = 1) -> SimulatedTurbine | CsvReplay | JsonLines:
    """``simulate``, ``csv:PATH`` or ``stdin``."""
    if spec == "simulate":
        return SimulatedTurbine(seed=seed)
    if spec == "stdin":
        return JsonLines()
    if spec.startswith("csv:"):
        path = Path(spec[len("csv:") :]).expanduser()
        if not path.is_file():
            raise SystemExit(f"--source {spec}: no such file")
        return CsvReplay(path)
    raise SystemExit(f"--source {spec!r}: expected simulate, csv:PATH or stdin")

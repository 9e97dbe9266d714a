"""Sensor profiles: what a device measures, declared as data (the signal contract).

A profile names the model trained for the device, its signals (name, unit, optional valid
range), the seconds between readings, the window (readings per model input) and the column of a
user's file that names the device. The platform trains with it, the model's manifest carries it
and the agent reads its signal order from there. Standard library only: the Pi imports it too.

A profile file, YAML or TOML (``edgeline ingest-sensors FILE --profile pump.yaml``)::

    name: pump
    model: pump-autoencoder
    interval_s: 1.0
    window: 30
    device_column: pump_id
    signals:
      - {name: pressure_bar, unit: bar, min: 0, max: 16}
      - {name: flow_lpm, unit: l/min, min: 0}
      - {name: motor_current_a, unit: A}
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

NAME = re.compile(
    r"^[a-z0-9][a-z0-9-]{0,62}$"
)  # profile and model names: a path and a registry name
SIGNAL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class ProfileError(ValueError):
    """A profile that cannot describe a device; the message names the field."""


@dataclass(frozen=True)
class Signal:
    name: str
    unit: str = ""
    min: float | None = None  # readings outside [min, max] are sensor errors, not behaviour
    max: float | None = None

    def valid_range(self) -> tuple[float, float]:
        low = -math.inf if self.min is None else self.min
        high = math.inf if self.max is None else self.max
        return low, high


@dataclass(frozen=True)
class SensorProfile:
    name: str
    model: str
    signals: tuple[Signal, ...]
    interval_s: float
    window: int = 10
    device_column: str | None = None  # the column of a user's file that names the device
    description: str = field(default="", compare=False)  # not part of what readings mean

    def __post_init__(self) -> None:
        problems = []
        for key, value in (("name", self.name), ("model", self.model)):
            if not isinstance(value, str) or not NAME.match(value):
                problems.append(
                    f"{key} {value!r} must be lowercase letters, digits and '-' (at most 63)"
                )
        if not self.signals:
            problems.append("signals: at least one signal is needed")
        names = [s.name for s in self.signals]
        for signal in self.signals:
            if not isinstance(signal.name, str) or not SIGNAL_NAME.match(signal.name):
                problems.append(
                    f"signal name {signal.name!r} must be a letter or _ then letters, digits, _"
                )
            elif signal.name in ("timestamp", "device_id", "label", "state"):
                problems.append(f"signal name {signal.name!r} is reserved")
            low, high = signal.valid_range()
            if not low < high:
                problems.append(
                    f"signal {signal.name}: min {signal.min} must be below max {signal.max}"
                )
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            problems.append(f"signals named more than once: {duplicates}")
        if not (isinstance(self.interval_s, (int, float)) and 0 < self.interval_s <= 86400):
            problems.append(f"interval_s {self.interval_s!r} must be seconds between readings, > 0")
        if not (isinstance(self.window, int) and 3 <= self.window <= 10_000):
            problems.append(f"window {self.window!r} must be a whole number of readings, 3 or more")
        if problems:
            raise ProfileError(f"profile {self.name!r}: " + "; ".join(problems))

    @property
    def signal_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.signals)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.model,
            "description": self.description,
            "interval_s": float(self.interval_s),
            "window": self.window,
            "device_column": self.device_column,
            "signals": [
                {"name": s.name, "unit": s.unit, "min": s.min, "max": s.max} for s in self.signals
            ],
        }

    @classmethod
    def from_dict(cls, data: Any, source: str = "profile") -> SensorProfile:
        if not isinstance(data, dict):
            raise ProfileError(f"{source}: expected a mapping of name, model, signals, ...")
        known = {"name", "model", "description", "interval_s", "window", "device_column", "signals"}
        missing = sorted({"name", "model", "signals", "interval_s"} - set(data))
        if missing:
            raise ProfileError(f"{source}: missing {', '.join(missing)}")
        unknown = sorted(set(data) - known)
        if unknown:
            raise ProfileError(f"{source}: unknown field(s) {unknown}; known: {sorted(known)}")
        signals = []
        for index, entry in enumerate(data["signals"] or []):
            if isinstance(entry, str):
                entry = {"name": entry}
            if not isinstance(entry, dict) or "name" not in entry:
                raise ProfileError(f"{source}: signals[{index}] needs a name")
            extra = sorted(set(entry) - {"name", "unit", "min", "max"})
            if extra:
                raise ProfileError(f"{source}: signals[{index}] has unknown field(s) {extra}")
            bounds = {}
            for key in ("min", "max"):
                value = entry.get(key)
                if value is not None and not isinstance(value, (int, float)):
                    raise ProfileError(
                        f"{source}: signals[{index}].{key} {value!r} is not a number"
                    )
                bounds[key] = None if value is None else float(value)
            signals.append(Signal(str(entry["name"]), str(entry.get("unit") or ""), **bounds))
        try:
            return cls(
                name=data["name"],
                model=data["model"],
                signals=tuple(signals),
                interval_s=data["interval_s"],
                window=data.get("window", 10),
                device_column=data.get("device_column"),
                description=str(data.get("description") or ""),
            )
        except ProfileError as error:
            raise ProfileError(f"{source}: {error}") from None


WIND_TURBINE = SensorProfile(
    name="wind-turbine",
    model="turbine-autoencoder",
    description="The simulated wind-turbine fleet's SCADA signals (the default profile).",
    interval_s=60.0,
    window=10,
    device_column="turbine_id",
    signals=(
        Signal("wind_speed_ms", "m/s", 0.0, 60.0),
        Signal("rotor_rpm", "rpm", 0.0, 30.0),
        Signal("power_kw", "kW", -50.0, 2500.0),
        Signal("voltage_v", "V", 0.0, 1000.0),
        Signal("bearing_temp_c", "°C", -40.0, 150.0),
        Signal("vibration_x_mms", "mm/s", 0.0, 100.0),
        Signal("vibration_y_mms", "mm/s", 0.0, 100.0),
        Signal("yaw_error_deg", "°", -180.0, 180.0),
    ),
)
BUILT_IN = {WIND_TURBINE.name: WIND_TURBINE}

PROFILE_SCHEMA = "edgeline.profile/1"  # the version of what a profile holds

# The profile as JSON Schema (what a manifest's ``profile`` holds: ``SensorProfile.to_dict``).
# Ranges and patterns are the ones ``SensorProfile`` checks; a signal's min < max, distinct
# and unreserved names are checked there too.
PROFILE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "model", "interval_s", "window", "signals"],
    "properties": {
        "name": {"type": "string", "pattern": NAME.pattern},
        "model": {"type": "string", "pattern": NAME.pattern},
        "description": {"type": "string"},
        "interval_s": {"type": "number", "exclusiveMinimum": 0, "maximum": 86400},
        "window": {"type": "integer", "minimum": 3, "maximum": 10_000},
        "device_column": {"type": ["string", "null"]},
        "signals": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "pattern": SIGNAL_NAME.pattern},
                    "unit": {"type": "string"},
                    "min": {"type": ["number", "null"]},
                    "max": {"type": ["number", "null"]},
                },
            },
        },
    },
}

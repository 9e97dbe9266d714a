"""A device that is not a wind turbine, as a user would bring it: a centrifugal pump logged at
1 Hz (pressure, flow, motor current), with the operator's state column (ok, idle, cavitation)
and the user's own column names."""

from pathlib import Path

import numpy as np
import pandas as pd

PROFILE_YAML = """\
name: pump
model: pump-autoencoder
description: Cooling-water pumps, logged by the PLC once a second.
interval_s: 1
window: 20
device_column: Pump
signals:
  - {name: pressure_bar, unit: bar, min: 0, max: 16}
  - {name: flow_lpm, unit: l/min, min: 0, max: 2000}
  - {name: motor_current_a, unit: A, min: 0, max: 100}
"""
USER_COLUMNS = {"pressure_bar": "P_bar", "flow_lpm": "Q_lpm", "motor_current_a": "I_A"}
MAP = "timestamp=Time," + ",".join(f"{k}={v}" for k, v in USER_COLUMNS.items())


def pump_day(
    start: str, hours: float, pump: str, seed: int, cavitation_every_s: int = 1500
) -> pd.DataFrame:
    """One pump's readings: a variable-speed drive ramping between operating points, idle
    spells, and cavitation episodes (pressure drops and fluctuates, flow falls, the current
    jitters)."""
    rng = np.random.default_rng(seed)
    n = int(hours * 3600)
    demand = np.empty(n + 900)
    at, level = 0, 0.8
    while at < n:
        length = int(rng.integers(300, 900))
        target = 0.0 if rng.random() < 0.12 else rng.uniform(0.55, 1.0)
        ramp = np.linspace(level, target, int(rng.integers(30, 90)))  # the drive's ramp
        demand[at : at + length] = target
        demand[at : at + len(ramp)] = ramp
        at, level = at + length, target
    demand = demand[:n]
    target = 420.0 * demand
    flow = np.empty(n)
    flow[0] = target[0]
    for i in range(1, n):  # the flow follows the demand with a lag of a few seconds
        flow[i] = flow[i - 1] + 0.2 * (target[i] - flow[i - 1])
    running = demand > 0.05
    pressure = np.where(running, 6.2 - 2.0 * (flow / 420.0) ** 2, 1.1)
    current = np.where(running, 6.0 + 11.0 * demand, 0.3)
    state = np.where(running, "ok", "idle").astype(object)
    starts = np.arange(int(rng.integers(200, 600)), n - 200, cavitation_every_s)
    for begin in starts:
        end = begin + int(rng.integers(80, 160))
        if not running[begin:end].all():
            continue
        k = end - begin
        pressure[begin:end] -= rng.uniform(0.8, 1.6) + 0.35 * np.abs(rng.normal(0, 1, k))
        flow[begin:end] *= 0.85 + 0.04 * rng.normal(0, 1, k)
        current[begin:end] += 0.9 * rng.normal(0, 1, k)
        state[begin:end] = "cavitation"
    pressure += rng.normal(0, 0.04, n)
    flow = np.clip(flow + rng.normal(0, 3.0, n) * running, 0, None)
    current += rng.normal(0, 0.08, n)
    times = pd.date_range(start, periods=n, freq="1s", tz="UTC")
    return pd.DataFrame(
        {
            "Time": times.strftime("%Y-%m-%d %H:%M:%S"),
            "Pump": pump,
            "P_bar": pressure.round(3),
            "Q_lpm": flow.round(1),
            "I_A": current.round(2),
            "State": state,
        }
    )


def write_recording(path: Path, frames: list[pd.DataFrame]) -> Path:
    pd.concat(frames, ignore_index=True).to_csv(path, index=False)
    return path


def replay_csv(path: Path, frame: pd.DataFrame) -> Path:
    """The device's own log as the agent replays it: columns named as the profile's signals."""
    frame.rename(columns={v: k for k, v in USER_COLUMNS.items()}).to_csv(path, index=False)
    return path

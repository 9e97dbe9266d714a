"""A simulated wind-turbine fleet with physically coupled signals and labelled faults.

Only numpy: this runs on the device side (a Raspberry Pi feeding the agent) as well as in the
platform's demo data. Same seed, same readings.

Signals per reading (units as a device reports them):
    wind_speed_ms     Weibull-distributed mean wind with AR(1) turbulence and gusts
    rotor_rpm         follows the power curve: proportional to wind up to rated, then held
    power_kw          cubic between cut-in and rated, rated above, zero past cut-out
    voltage_v         690 V line voltage, sagging slightly with load
    bearing_temp_c    ambient + load heating, first-order lag
    vibration_x_mms   broadband + rotor-speed-dependent vibration (two axes)
    vibration_y_mms
    yaw_error_deg     nacelle yaw minus wind direction, a lagging tracking error

Faults (ground truth in ``fault``; 0 = none):
    1 bearing_wear     vibration and temperature rise over the episode
    2 voltage_sag      line voltage drops 12-25 %
    3 stuck_sensor     one signal freezes at its last value
    4 rotor_imbalance  once-per-revolution vibration grows with rotor speed
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeline_contract.profile import WIND_TURBINE

SIGNALS = WIND_TURBINE.signal_names  # the order of a reading, as the profile declares it
FAULTS = ("none", "bearing_wear", "voltage_sag", "stuck_sensor", "rotor_imbalance")

CUT_IN_MS, RATED_MS, CUT_OUT_MS = 3.0, 12.0, 25.0
RATED_KW, RATED_RPM, NOMINAL_V = 2000.0, 16.0, 690.0


@dataclass(frozen=True)
class FleetSettings:
    turbines: int = 5
    interval_s: int = 60
    fault_rate: float = 1.0  # expected fault episodes per turbine per day
    fault_minutes: tuple[int, int] = (40, 180)
    weibull_scale_ms: float = 8.5
    weibull_shape: float = 2.0


def power_curve(wind: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rotor rpm, power kW) for a wind speed."""
    ramp = np.clip((wind - CUT_IN_MS) / (RATED_MS - CUT_IN_MS), 0.0, 1.0)
    running = (wind >= CUT_IN_MS) & (wind < CUT_OUT_MS)
    rpm = np.where(running, 6.0 + (RATED_RPM - 6.0) * ramp, 0.0)
    power = np.where(running, RATED_KW * ramp**3, 0.0)
    return rpm, power


def simulate_turbine(
    turbine: int, day_index: int, settings: FleetSettings, seed: int
) -> dict[str, np.ndarray]:
    """One turbine's readings for one day: the signals, ``fault`` codes and ``offset_s``."""
    rng = np.random.default_rng([seed, turbine, day_index])
    n = 24 * 3600 // settings.interval_s
    # wind: a daily mean from the Weibull distribution, AR(1) turbulence, occasional gusts
    mean_wind = settings.weibull_scale_ms * rng.weibull(settings.weibull_shape)
    mean_wind = float(np.clip(mean_wind, 4.0, 20.0))
    turbulence = np.zeros(n)
    shocks = rng.normal(0, 0.35, n)
    for i in range(1, n):
        turbulence[i] = 0.97 * turbulence[i - 1] + shocks[i]
    gusts = (rng.random(n) < 0.01) * rng.exponential(3.0, n)
    diurnal = 1.0 + 0.15 * np.sin(np.arange(n) / n * 2 * np.pi + rng.uniform(0, 2 * np.pi))
    wind = np.clip(mean_wind * diurnal + turbulence + gusts, 0.0, None)
    rpm, power = power_curve(wind)
    rpm = rpm + rng.normal(0, 0.15, n) * (rpm > 0)
    power = np.clip(power + rng.normal(0, 15, n) * (power > 0), 0, None)
    load = power / RATED_KW
    voltage = NOMINAL_V - 6.0 * load + rng.normal(0, 1.5, n)
    ambient = 12.0 + 4.0 * np.sin(np.arange(n) / n * 2 * np.pi - 1.0)
    heating = 30.0 * load
    temperature = np.empty(n)
    temperature[0] = ambient[0] + heating[0]
    for i in range(1, n):
        temperature[i] = temperature[i - 1] + 0.1 * (ambient[i] + heating[i] - temperature[i - 1])
    temperature += rng.normal(0, 0.3, n)
    base_vibration = 0.6 + 0.08 * rpm + 0.3 * load
    vibration_x = base_vibration + np.abs(rng.normal(0, 0.12, n))
    vibration_y = base_vibration * 0.85 + np.abs(rng.normal(0, 0.12, n))
    yaw_error = np.zeros(n)
    yaw_shocks = rng.normal(0, 1.2, n)
    for i in range(1, n):
        yaw_error[i] = 0.9 * yaw_error[i - 1] + yaw_shocks[i]

    readings = {
        "wind_speed_ms": wind,
        "rotor_rpm": rpm,
        "power_kw": power,
        "voltage_v": voltage,
        "bearing_temp_c": temperature,
        "vibration_x_mms": vibration_x,
        "vibration_y_mms": vibration_y,
        "yaw_error_deg": yaw_error,
    }
    fault = np.zeros(n, dtype=np.int8)
    for _ in range(rng.poisson(settings.fault_rate)):
        kind = int(rng.integers(1, len(FAULTS)))
        length = int(rng.integers(*settings.fault_minutes) * 60 // settings.interval_s)
        start = int(rng.integers(0, max(1, n - length)))
        window = slice(start, start + length)
        if fault[window].any():
            continue  # one fault at a time keeps the labels unambiguous
        inject_fault(readings, kind, window, rng)
        fault[window] = kind
    readings["fault"] = fault
    readings["offset_s"] = np.arange(n, dtype=np.int64) * settings.interval_s
    return readings


def inject_fault(
    readings: dict[str, np.ndarray], kind: int, window: slice, rng: np.random.Generator
) -> None:
    """Change the signals in ``window`` the way the fault ``kind`` shows up in the field."""
    length = window.stop - window.start
    ramp = np.minimum(1.0, np.arange(1, length + 1) / max(1, length * 0.15))
    if FAULTS[kind] == "bearing_wear":
        severity = rng.uniform(1.0, 2.0)
        readings["vibration_x_mms"][window] += severity * 2.5 * ramp
        readings["vibration_y_mms"][window] += severity * 2.0 * ramp
        readings["bearing_temp_c"][window] += severity * 12.0 * ramp
    elif FAULTS[kind] == "voltage_sag":
        readings["voltage_v"][window] *= 1.0 - rng.uniform(0.12, 0.25)
    elif FAULTS[kind] == "stuck_sensor":
        # power is legitimately constant (zero) on an idle turbine, so it is not a candidate
        name = str(rng.choice(["wind_speed_ms", "voltage_v", "bearing_temp_c", "vibration_x_mms"]))
        readings[name][window] = readings[name][window.start]
    elif FAULTS[kind] == "rotor_imbalance":
        rpm = readings["rotor_rpm"][window]
        phase = np.sin(np.cumsum(rpm) * 0.3)
        severity = rng.uniform(1.5, 3.0)
        readings["vibration_x_mms"][window] += severity * (0.12 * rpm) * (1.2 + phase)
        readings["vibration_y_mms"][window] += severity * (0.12 * rpm) * (1.2 - phase)
    else:
        raise ValueError(f"unknown fault code {kind}")


def simulate_fleet_day(
    day_index: int, settings: FleetSettings = FleetSettings(), seed: int = 42
) -> dict[str, np.ndarray]:
    """Every turbine's readings for one day, concatenated, with a ``turbine_id`` column."""
    parts = [simulate_turbine(t, day_index, settings, seed) for t in range(settings.turbines)]
    columns = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    columns["turbine_id"] = np.concatenate(
        [np.full(len(p["fault"]), f"turbine-{t:03d}") for t, p in enumerate(parts)]
    )
    return columns

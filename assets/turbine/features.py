"""Cleaning and windowing: readings -> fixed-length windows the autoencoder and the device share.

A window is the last ``window`` readings of every signal, in the device's own units, flattened
time-major: ``[t0 s0, t0 s1, ..., t1 s0, ...]``. Scaling is not applied here: it is fitted on
training windows and lives inside the exported model.
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from clients.pi.simulator import SIGNALS, VALID_RANGES

DEFAULT_WINDOW = 10
MAX_FILL = 3  # readings a missing value may be carried forward


@dataclass
class CleaningReport:
    readings: int = 0
    out_of_range: dict[str, int] = field(default_factory=dict)
    missing_before_fill: int = 0
    filled: int = 0
    unusable_readings: int = 0


def clean_readings(frame: pd.DataFrame) -> tuple[pd.DataFrame, CleaningReport]:
    """Out-of-range values become missing; short gaps are carried forward per turbine."""
    report = CleaningReport(readings=len(frame))
    frame = frame.sort_values(["turbine_id", "timestamp"]).reset_index(drop=True).copy()
    for signal in SIGNALS:
        low, high = VALID_RANGES[signal]
        bad = (frame[signal] < low) | (frame[signal] > high)
        report.out_of_range[signal] = int(bad.sum())
        frame.loc[bad, signal] = np.nan
    missing = frame[list(SIGNALS)].isna()
    report.missing_before_fill = int(missing.to_numpy().sum())
    filled = frame.groupby("turbine_id")[list(SIGNALS)].ffill(limit=MAX_FILL)
    report.filled = report.missing_before_fill - int(filled.isna().to_numpy().sum())
    frame[list(SIGNALS)] = filled
    report.unusable_readings = int(filled.isna().any(axis=1).sum())
    return frame, report


@dataclass
class Windows:
    values: np.ndarray  # float32 [n, window * len(SIGNALS)], raw units
    fault: np.ndarray  # int8 fault code of the last reading (-1: unknown)
    day: np.ndarray  # datetime64[D] of the last reading
    turbine: np.ndarray


def make_windows(
    frame: pd.DataFrame, window: int = DEFAULT_WINDOW, interval_s: int = 60
) -> Windows:
    """Every run of ``window`` consecutive, complete readings of one turbine."""
    values, faults, days, turbines = [], [], [], []
    for turbine, part in frame.groupby("turbine_id", sort=True):
        part = part.sort_values("timestamp")
        signals = part[list(SIGNALS)].to_numpy(dtype=np.float32)
        if len(signals) < window:
            continue
        stacked = np.lib.stride_tricks.sliding_window_view(signals, window, axis=0)  # [n, S, W]
        stacked = stacked.transpose(0, 2, 1).reshape(len(stacked), -1)
        naive = part["timestamp"].dt.tz_convert(None).to_numpy()
        seconds = naive.astype("datetime64[s]").astype(np.int64)
        contiguous = (seconds[window - 1 :] - seconds[: len(seconds) - window + 1]) == (
            window - 1
        ) * interval_s
        complete = ~np.isnan(stacked).any(axis=1) & contiguous
        codes = part["fault"].cat.codes.to_numpy() if "fault" in part else np.full(len(part), -1)
        values.append(stacked[complete])
        faults.append(codes[window - 1 :][complete].astype(np.int8))
        days.append(naive.astype("datetime64[D]")[window - 1 :][complete])
        turbines.append(np.full(int(complete.sum()), turbine))
    if not values:
        empty = np.zeros((0, window * len(SIGNALS)), np.float32)
        return Windows(empty, np.zeros(0, np.int8), np.zeros(0, "datetime64[D]"), np.zeros(0, str))
    return Windows(
        np.concatenate(values),
        np.concatenate(faults),
        np.concatenate(days),
        np.concatenate(turbines),
    )

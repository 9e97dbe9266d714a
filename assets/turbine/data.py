"""Sensor readings as tables: the simulated fleet's days, and users' own CSV or Parquet files."""

import hashlib
import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from clients.pi.simulator import FAULTS, SIGNALS, FleetSettings, simulate_fleet_day
from resources.artifacts import ArtifactStore

EPOCH_DAY = date(2026, 1, 1)  # day indices (and so the simulator's seeds) count from here


def simulated_day(day: date, settings: FleetSettings, seed: int) -> pd.DataFrame:
    """The simulated fleet's readings for ``day``: one row per turbine per interval."""
    columns = simulate_fleet_day((day - EPOCH_DAY).days, settings, seed)
    midnight = datetime.combine(day, time(), tzinfo=UTC)
    frame = pd.DataFrame({name: columns[name] for name in SIGNALS})
    frame.insert(0, "turbine_id", columns["turbine_id"])
    frame.insert(
        0, "timestamp", pd.to_datetime(midnight) + pd.to_timedelta(columns["offset_s"], unit="s")
    )
    frame["fault"] = pd.Categorical.from_codes(columns["fault"], categories=list(FAULTS))
    return frame


@dataclass
class LoadReport:
    rows: int = 0
    bad_values: dict[str, int] = field(default_factory=dict)  # text or blanks in numeric columns
    missing_columns: list[str] = field(default_factory=list)
    bad_timestamps: int = 0
    gaps: int = 0  # missing intervals between consecutive readings of a turbine


def load_sensor_file(
    path: Path, mapping: dict[str, str], interval_s: int = 60
) -> tuple[pd.DataFrame, LoadReport]:
    """Read a user's CSV or Parquet file into Edgeline's columns.

    ``mapping`` maps Edgeline's names (``timestamp``, ``turbine_id``, and signals) to the file's
    column names. Text in numeric columns becomes missing and is counted; rows without a usable
    timestamp are dropped and counted; gaps in the time series are counted. Signals the file
    does not have are missing (NaN) and listed.
    """
    if path.suffix.lower() == ".parquet":
        raw = pd.read_parquet(path)
    elif path.suffix.lower() in (".csv", ".txt"):
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    else:
        raise ValueError(f"{path.name}: expected a .csv or .parquet file")
    unknown = sorted(set(mapping) - {"timestamp", "turbine_id", *SIGNALS})
    if unknown:
        raise ValueError(
            f"column mapping names unknown fields {unknown}; known: timestamp, turbine_id, {', '.join(SIGNALS)}"
        )
    absent = sorted(source for source in mapping.values() if source not in raw.columns)
    if absent:
        raise ValueError(f"{path.name} has no column(s) {absent}; it has {list(raw.columns)}")
    if "timestamp" not in mapping:
        raise ValueError("the column mapping needs a 'timestamp' entry")
    report = LoadReport(rows=len(raw))
    frame = pd.DataFrame()
    stamps = pd.to_datetime(raw[mapping["timestamp"]], errors="coerce", utc=True)
    frame["timestamp"] = stamps
    frame["turbine_id"] = (
        raw[mapping["turbine_id"]].astype(str) if "turbine_id" in mapping else "turbine-000"
    )
    for signal in SIGNALS:
        if signal not in mapping:
            report.missing_columns.append(signal)
            frame[signal] = np.nan
            continue
        source = raw[mapping[signal]]
        values = pd.to_numeric(source, errors="coerce")
        blank = source.astype(str).str.strip().isin(["", "nan", "NaN", "None"])
        report.bad_values[signal] = int((values.isna() & ~blank).sum())
        frame[signal] = values.astype(float)
    report.bad_timestamps = int(stamps.isna().sum())
    frame = frame.dropna(subset=["timestamp"]).sort_values(["turbine_id", "timestamp"])
    steps = frame.groupby("turbine_id")["timestamp"].diff().dt.total_seconds()
    report.gaps = int((steps.dropna() // interval_s - 1).clip(lower=0).sum())
    frame["fault"] = pd.Categorical([None] * len(frame), categories=list(FAULTS))
    return frame.reset_index(drop=True), report


def split_by_day(frame: pd.DataFrame) -> dict[date, pd.DataFrame]:
    days = frame["timestamp"].dt.date
    return {day: part.reset_index(drop=True) for day, part in frame.groupby(days)}


def day_range(end: date, days: int) -> list[date]:
    return [end - timedelta(days=offset) for offset in range(days - 1, -1, -1)]


def store_ingested_readings(
    frame: pd.DataFrame, store: ArtifactStore, prefix: str = "raw/sensors/"
) -> list[str]:
    """Write a user's readings as one Parquet file per day, named by content so that ingesting
    the same file twice does not double the data. Returns the days written."""
    days = []
    for day, part in split_by_day(frame).items():
        buffer = io.BytesIO()
        part.to_parquet(buffer, index=False)
        data = buffer.getvalue()
        store.put_bytes(
            f"{prefix}date={day.isoformat()}/ingested-{hashlib.sha256(data).hexdigest()[:12]}.parquet",
            data,
        )
        days.append(day.isoformat())
    return days

"""Sensor readings as tables: the simulated fleet's days, and users' own CSV or Parquet files.

Readings are stored per profile and day, as Parquet under ``raw/sensors/<profile>/date=<day>/``,
with the profile that describes them beside (``raw/sensors/<profile>/profile.json``). Columns:
``timestamp`` (UTC), ``device_id``, one column per signal, ``label`` (the file's own label, or
the simulated fault, "" when unknown) and ``state``: NORMAL, ANOMALY or UNLABELLED.
"""

import hashlib
import warnings
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.tseries.api import guess_datetime_format

from assets.catalog import declare_sensor_model
from edgeline_contract.profile import BUILT_IN, SensorProfile
from edgeline_simulator.turbines import FAULTS, SIGNALS, FleetSettings, simulate_fleet_day
from resources import layout
from resources.artifacts import PARQUET, ArtifactStore, frame_bytes

EPOCH_DAY = date(2026, 1, 1)  # day indices (and so the simulator's seeds) count from here
NORMAL, ANOMALY, UNLABELLED = 0, 1, -1
MAX_OUT_OF_RANGE = 0.05  # a larger share of impossible values is a wrong mapping or unit
MAX_BAD_TIMESTAMPS = 0.05  # a larger share of unreadable times is a wrong date format
UNREADABLE_SHOWN = 3  # distinct unreadable timestamps quoted when there are too many
GUESS_FROM = 20  # unreadable values tried for a format to guess (past a units row, blanks)
ISO8601 = "ISO8601"  # pandas' format for ISO 8601 in any precision, with or without offsets
MAX_ANOMALOUS = 0.5  # a device is mostly normal: more anomalies is an incomplete --normal
INTERVAL_TOLERANCE = 0.1  # the median step may differ this much from the profile's interval


class SensorDataError(ValueError):
    """Readings that cannot be used as they are; the message names the cause."""


def simulated_day(day: date, settings: FleetSettings, seed: int) -> pd.DataFrame:
    """The simulated fleet's readings for ``day``: one row per turbine per interval."""
    # a seed is non-negative: days before the epoch wrap around to distinct large indices
    columns = simulate_fleet_day((day - EPOCH_DAY).days % 2**31, settings, seed)
    midnight = datetime.combine(day, time(), tzinfo=UTC)
    frame = pd.DataFrame({name: columns[name] for name in SIGNALS})
    frame.insert(0, "device_id", columns["turbine_id"])
    frame.insert(
        0, "timestamp", pd.to_datetime(midnight) + pd.to_timedelta(columns["offset_s"], unit="s")
    )
    frame["label"] = np.asarray(FAULTS)[columns["fault"]]
    frame["state"] = np.where(columns["fault"] > 0, ANOMALY, NORMAL).astype(np.int8)
    return frame


@dataclass(frozen=True)
class Labels:
    """How a user's file says which readings are normal: a column and its normal values, all
    normal, or nothing (unlabelled)."""

    column: str | None = None
    normal: tuple[str, ...] = ()
    all_normal: bool = False

    def __post_init__(self) -> None:
        if self.column and self.all_normal:
            raise SensorDataError("--label-column and --all-normal exclude each other")
        if self.column and not self.normal:
            raise SensorDataError(
                f"--label-column {self.column} needs --normal: the values that mean normal"
            )
        if self.normal and not self.column:
            raise SensorDataError("--normal needs --label-column: the column that holds them")


@dataclass
class LoadReport:
    rows: int = 0
    devices: int = 0
    bad_values: dict[str, int] = field(default_factory=dict)  # text in numeric columns
    missing_values: dict[str, int] = field(default_factory=dict)  # blanks
    out_of_range: dict[str, int] = field(default_factory=dict)
    bad_timestamps: int = 0
    duplicate_timestamps: int = 0
    median_step_s: float | None = None
    gaps: int = 0  # missing intervals between consecutive readings of a device
    states: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # worth a look, not a reason to stop

    def lines(self) -> list[str]:
        """What the ingest prints."""
        return [
            f"read {self.rows} rows from {self.devices} device(s); median step "
            f"{self.median_step_s} s, {self.gaps} missing intervals",
            f"dropped: {self.bad_timestamps} rows without a usable timestamp, "
            f"{self.duplicate_timestamps} repeated timestamps",
            f"text in numeric columns {self.bad_values}; blanks {self.missing_values}",
            f"out of the profile's range (cleaned out before training) {self.out_of_range}",
            f"labels: {self.states}",
            *(f"note: {note}" for note in self.notes),
        ]


def _mapping_for(
    profile: SensorProfile, mapping: dict[str, str], columns: list[str]
) -> dict[str, str]:
    """Edgeline's field -> the file's column: the profile's names unless ``mapping`` says else."""
    fields = ("timestamp", "device_id", *profile.signal_names)
    unknown = sorted(set(mapping) - set(fields))
    if unknown:
        raise SensorDataError(
            f"--map names field(s) {unknown} that profile {profile.name} does not have; "
            f"its fields: {', '.join(fields)}"
        )
    resolved = {name: name for name in fields if name in columns}
    if profile.device_column and profile.device_column in columns:
        resolved["device_id"] = profile.device_column
    resolved.update(mapping)
    absent = sorted(source for source in resolved.values() if source not in columns)
    if absent:
        raise SensorDataError(f"the file has no column(s) {absent}; it has {columns}")
    missing = [s for s in (*profile.signal_names, "timestamp") if s not in resolved]
    if missing:
        raise SensorDataError(
            f"the file has no column for {missing} of profile {profile.name}: map each with "
            f"--map FIELD=COLUMN (it has {columns})"
        )
    return resolved


def _states(raw: pd.DataFrame, labels: Labels, report: LoadReport) -> tuple[pd.Series, pd.Series]:
    if labels.all_normal:
        return pd.Series("", index=raw.index), pd.Series(NORMAL, index=raw.index, dtype=np.int8)
    if not labels.column:
        return pd.Series("", index=raw.index), pd.Series(UNLABELLED, index=raw.index, dtype=np.int8)
    if labels.column not in raw.columns:
        raise SensorDataError(
            f"--label-column {labels.column}: no such column; it has {list(raw.columns)}"
        )
    text = raw[labels.column].astype(str).str.strip()
    text = text.where(~text.isin(["nan", "NaN", "None", "null", "<NA>"]), "")  # unlabelled
    counts = text.value_counts()
    values = {str(k): int(v) for k, v in counts.head(20).items()}
    absent = [value for value in labels.normal if value not in counts.index]
    if len(absent) == len(labels.normal):
        raise SensorDataError(
            f"none of --normal {list(labels.normal)} is a value of {labels.column}; "
            f"its values: {sorted(values)}"
        )
    if absent:
        report.notes.append(
            f"--normal value(s) {absent} do not occur in {labels.column} (its values: {values})"
        )
    state = np.where(
        text.isin(labels.normal), NORMAL, np.where(text == "", UNLABELLED, ANOMALY)
    ).astype(np.int8)
    return text, pd.Series(state, index=raw.index)


def _timestamps(source: pd.Series, timestamp_format: str | None) -> tuple[pd.Series, str]:
    """The timestamps in UTC (unreadable ones NaT) and the format they were read in.

    Without ``timestamp_format``: ISO 8601 in any precision, since ``isoformat()`` leaves out
    ``.000000`` on whole seconds and so mixes two formats in one file. A file that is not ISO
    8601 is read in the format pandas guesses from its first guessable value (01/12/2026 is
    January 12, as pandas infers it), and only in that format: never each value its own way,
    which would read 01/12 month first and 13/12 day first in the same file.
    """
    with warnings.catch_warnings():  # pandas' guess-the-format chatter; the checks speak instead
        warnings.simplefilter("ignore", UserWarning)
        if timestamp_format:
            return _read_as(source, timestamp_format), timestamp_format
        iso = _read_as(source, ISO8601)
        if iso.notna().all():
            return iso, ISO8601
        guesses = (guess_datetime_format(value) for value in source[iso.isna()].head(GUESS_FROM))
        guessed = next((guess for guess in guesses if guess), None)
        if guessed:
            inferred = _read_as(source, guessed)
            if inferred.notna().sum() > iso.notna().sum():
                return inferred, guessed
        return iso, ISO8601


def _read_as(source: pd.Series, timestamp_format: str) -> pd.Series:
    return pd.to_datetime(source, errors="coerce", utc=True, format=timestamp_format)


def _unreadable_timestamps(source: pd.Series, read: pd.Series, read_as: str, given: bool) -> str:
    """Too many of ``source`` unreadable: quote the first few as the file has them, and offer a
    day-first format only when they look day first (read month first, a day above 12 is no
    month) and it reads more of the file."""
    values = source[read.isna()]
    if given:
        tried = f"--date-format {read_as!r}"
    elif read_as == ISO8601:
        tried = "ISO 8601"
    else:
        tried = f"{read_as!r} (guessed from the file: it is not ISO 8601)"
    shown = ", ".join(map(repr, values.drop_duplicates().head(UNREADABLE_SHOWN)))
    message = (
        f"{len(values)} of {len(source)} timestamps in column {source.name} could not be read "
        f"as {tried}; first unreadable values: {shown}"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        guesses = (guess_datetime_format(v, dayfirst=True) for v in values.head(GUESS_FROM))
        day_first = next((g for g in guesses if g and g.startswith("%d") and g != read_as), None)
        if day_first:
            readable = int(_read_as(source, day_first).notna().sum())
            if readable > read.notna().sum():
                message += (
                    f": they look day first; --date-format {day_first!r} reads {readable} of "
                    f"{len(source)}"
                )
    return message


def _read_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise SensorDataError(f"{path}: no such file")
    if path.suffix.lower() == ".parquet":
        table = pd.read_parquet(path)
        if not isinstance(table.index, pd.RangeIndex):  # e.g. timestamps kept as the index
            table = table.reset_index()
        return table.astype(str).where(table.notna(), "")  # nulls: blanks, as in a CSV
    if path.suffix.lower() in (".csv", ".txt"):
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    raise SensorDataError(f"{path.name}: expected a .csv or .parquet file")


def load_sensor_file(
    path: Path,
    profile: SensorProfile,
    mapping: dict[str, str] | None = None,
    labels: Labels = Labels(),
    max_out_of_range: float = MAX_OUT_OF_RANGE,
    timestamp_format: str | None = None,
) -> tuple[pd.DataFrame, LoadReport]:
    """Read a user's CSV or Parquet file into the profile's columns, or say why it cannot be.

    Stops (``SensorDataError``) on what would make the data useless or wrong: a profile signal
    the file lacks, timestamps that do not fit the profile's interval, more than
    ``max_out_of_range`` of a signal's values outside its valid range (a wrong unit or column),
    more than MAX_BAD_TIMESTAMPS of timestamps unreadable (a wrong ``timestamp_format``, e.g.
    days first), labels that name no normal reading or make most readings anomalies. Counts
    what cleaning can handle: text in numeric columns, blanks, rows without a timestamp,
    repeated timestamps, gaps.
    """
    raw = _read_table(path)
    if raw.empty:
        raise SensorDataError(f"{path.name} has no rows")
    columns = _mapping_for(profile, mapping or {}, list(raw.columns))
    report = LoadReport(rows=len(raw))
    label, state = _states(raw, labels, report)
    anomalous = float((state == ANOMALY).mean())
    if anomalous > MAX_ANOMALOUS:
        raise SensorDataError(
            f"{anomalous:.0%} of readings would be anomalies (every {labels.column} value but "
            f"{list(labels.normal)}; its values: "
            f"{ {str(k): int(v) for k, v in label.value_counts().head(20).items()} }): "
            "is a normal value missing or misspelled in --normal?"
        )
    frame = pd.DataFrame(index=raw.index)
    frame["timestamp"], read_as = _timestamps(raw[columns["timestamp"]], timestamp_format)
    frame["device_id"] = (
        raw[columns["device_id"]].astype(str).str.strip() if "device_id" in columns else "device-1"
    )
    for signal in profile.signals:
        source = raw[columns[signal.name]]
        values = pd.to_numeric(source, errors="coerce").astype(float)
        blank = source.astype(str).str.strip().isin(["", "nan", "NaN", "None", "null"])
        report.missing_values[signal.name] = int(blank.sum())
        report.bad_values[signal.name] = int((values.isna() & ~blank).sum())
        low, high = signal.valid_range()
        outside = (values < low) | (values > high)
        report.out_of_range[signal.name] = int(outside.sum())
        share = float(outside.sum()) / max(1, int(values.notna().sum()))
        if share > max_out_of_range:
            example = values[outside].iloc[0]
            raise SensorDataError(
                f"{signal.name} (column {columns[signal.name]}): {share:.0%} of values are outside "
                f"the profile's range [{signal.min}, {signal.max}] {signal.unit} (e.g. {example}); "
                f"a wrong column or unit? At most {max_out_of_range:.0%} is cleaned out"
            )
        frame[signal.name] = values
    frame["label"], frame["state"] = label, state
    unreadable = frame["timestamp"].isna()
    report.bad_timestamps = int(unreadable.sum())
    if unreadable.mean() > MAX_BAD_TIMESTAMPS:
        raise SensorDataError(
            _unreadable_timestamps(
                raw[columns["timestamp"]], frame["timestamp"], read_as, bool(timestamp_format)
            )
        )
    frame = frame.dropna(subset=["timestamp"])
    frame = frame.sort_values(["device_id", "timestamp"], kind="stable")
    repeated = frame.duplicated(["device_id", "timestamp"])
    report.duplicate_timestamps = int(repeated.sum())
    frame = frame[~repeated].reset_index(drop=True)
    report.devices = int(frame["device_id"].nunique())
    steps = frame.groupby("device_id")["timestamp"].diff().dt.total_seconds().dropna()
    if len(steps):
        report.median_step_s = round(float(steps.median()), 6)
        if abs(report.median_step_s - profile.interval_s) > INTERVAL_TOLERANCE * profile.interval_s:
            raise SensorDataError(
                f"readings are {report.median_step_s} s apart (the median step per device), not "
                f"the expected {profile.interval_s:g} s (profile {profile.name}'s interval_s, or "
                "--interval): fix the profile or --interval, or check --date-format"
            )
        report.gaps = int((np.round(steps / profile.interval_s) - 1).clip(lower=0).sum())
    counts = frame["state"].value_counts()
    report.states = {
        name: int(counts.get(code, 0))
        for name, code in (("normal", NORMAL), ("anomalous", ANOMALY), ("unlabelled", UNLABELLED))
    }
    return frame, report


def split_by_day(frame: pd.DataFrame) -> dict[date, pd.DataFrame]:
    days = frame["timestamp"].dt.date
    return {day: part.reset_index(drop=True) for day, part in frame.groupby(days)}


def day_range(end: date, days: int) -> list[date]:
    return [end - timedelta(days=offset) for offset in range(days - 1, -1, -1)]


def record_profile(store: ArtifactStore, profile: SensorProfile) -> None:
    """Keep the profile with its readings; refuse one that would change what stored readings
    mean (other signals, units, ranges or interval under the same name)."""
    key = layout.sensor_profile(profile.name)
    if store.exists(key):
        stored = SensorProfile.from_dict(store.get_json(key), source=key)
        if stored == profile:
            declare_sensor_model(store, profile)  # a home from before models were declared
            return
        changed = [
            f"{name} (stored {getattr(stored, name)!r}, now {getattr(profile, name)!r})"
            for name in ("model", "signals", "interval_s", "window", "device_column")
            if getattr(stored, name) != getattr(profile, name)
        ]
        raise SensorDataError(
            f"profile {profile.name} is already stored with other {'; '.join(changed)}: its "
            "readings would no longer match it. Give the new profile another name, or remove "
            f"the old readings first (`edgeline forget-sensors {profile.name} --yes`)"
        )
    declare_sensor_model(store, profile)  # refused (nothing stored) if the name is taken
    store.put_json(key, profile.to_dict())


def read_profile(store: ArtifactStore, name: str) -> SensorProfile:
    """The profile stored with ``name``'s readings, or the built-in one of that name."""
    key = layout.sensor_profile(name)
    if store.exists(key):
        return SensorProfile.from_dict(store.get_json(key), source=key)
    if name in BUILT_IN:
        return BUILT_IN[name]
    stored = sorted(
        {
            profile
            for k in store.list_keys(layout.RAW_SENSORS)
            if (profile := layout.parse_sensor_profile(k))
        }
    )
    raise SensorDataError(
        f"no sensor profile {name!r}: ingest readings with `edgeline ingest-sensors FILE "
        f"--profile FILE` first (stored: {stored or 'none'}; built in: {sorted(BUILT_IN)})"
    )


def store_ingested_readings(
    frame: pd.DataFrame, profile: SensorProfile, store: ArtifactStore, replace: bool = False
) -> list[str]:
    """Write a user's readings as one Parquet file per day, named by content so that ingesting
    the same file twice does not double the data; the profile first. ``replace``: on the
    file's days, the devices it holds have only these readings afterwards (a corrected export);
    other devices' readings stay. New files are written before old ones go. Returns the days
    written."""
    record_profile(store, profile)
    days = []
    for date_of, part in split_by_day(frame).items():
        day = date_of.isoformat()
        key = _put_readings(store, profile.name, day, part)
        if replace:
            devices = set(part["device_id"])
            for old in store.list_keys(layout.sensor_day(profile.name, day)):
                if old == key or not layout.is_ingested_readings(old):
                    continue
                stored = store.get_frame(old)
                kept = stored[~stored["device_id"].isin(devices)]
                if len(kept) == len(stored):
                    continue
                if len(kept):
                    _put_readings(store, profile.name, day, kept)
                store.delete(old)
        days.append(day)
    return days


def _put_readings(store: ArtifactStore, profile: str, day: str, part: pd.DataFrame) -> str:
    data = frame_bytes(part.reset_index(drop=True))
    key = layout.ingested_readings(profile, day, hashlib.sha256(data).hexdigest()[:12])
    store.put_bytes(key, data, content_type=PARQUET)
    return key


def forget_readings(store: ArtifactStore, profile: str) -> int:
    """Remove a profile's stored readings and the profile itself (datasets and models made from
    them stay, with their lineage). Returns the files removed."""
    keys = store.list_keys(layout.sensor_readings(profile))
    for key in keys:
        store.delete(key)
    return len(keys)


def stored_days(store: ArtifactStore, profile: str) -> dict[str, list[str]]:
    """Day -> the Parquet keys of ``profile``'s readings that day, oldest day first: the
    ingested files, or, on a day nothing was ingested, the simulated one."""
    days: dict[str, list[str]] = {}
    for key in sorted(store.list_keys(layout.sensor_readings(profile))):
        found = layout.parse_sensor_day(key)
        if found:
            days.setdefault(found[1], []).append(key)
    for day, keys in days.items():
        ingested = [k for k in keys if not layout.is_simulated_readings(k)]
        days[day] = ingested or keys
    return dict(sorted(days.items()))


def profile_for_model(store: ArtifactStore, model: str) -> str | None:
    """The stored (or built-in) profile that trains ``model``, if one does."""
    names = {layout.sensor_profile_of(k) for k in store.list_keys(layout.RAW_SENSORS)}
    for name in sorted(names | set(BUILT_IN)):
        try:
            if read_profile(store, name).model == model:
                return name
        except ValueError:
            continue
    return None


def read_days(store: ArtifactStore, keys: list[str]) -> tuple[pd.DataFrame, int]:
    """The readings in ``keys``, each device's timestamp once (two ingested files that overlap
    would count readings twice; which one is kept is not defined, so corrections are ingested
    with ``replace``); returns how many repeats were dropped."""
    frame = pd.concat([store.get_frame(key) for key in keys], ignore_index=True)
    repeated = frame.duplicated(["device_id", "timestamp"], keep="last")
    return frame[~repeated].reset_index(drop=True), int(repeated.sum())

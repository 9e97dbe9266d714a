"""Cleaning, windowing and splitting: readings -> the windows the autoencoder and the device share.

A window is the last ``window`` readings of every signal, in the device's own units, flattened
time-major: ``[t0 s0, t0 s1, ..., t1 s0, ...]``. Scaling is not applied here: it is fitted on
training windows and lives inside the exported model.
"""

import hashlib
import io
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from assets.sensors.data import ANOMALY, NORMAL, UNLABELLED, SensorDataError
from edgeline_contract.profile import SensorProfile

MAX_FILL = 3  # readings a missing value may be carried forward
TRAIN, VALIDATION, TEST = 0, 1, 2


@dataclass
class CleaningReport:
    readings: int = 0
    out_of_range: dict[str, int] = field(default_factory=dict)
    missing_before_fill: int = 0
    filled: int = 0
    unusable_readings: int = 0


def clean_readings(
    frame: pd.DataFrame, profile: SensorProfile
) -> tuple[pd.DataFrame, CleaningReport]:
    """Out-of-range values become missing; short gaps are carried forward per device."""
    report = CleaningReport(readings=len(frame))
    signals = list(profile.signal_names)
    frame = frame.sort_values(["device_id", "timestamp"]).reset_index(drop=True).copy()
    for signal in profile.signals:
        low, high = signal.valid_range()
        bad = (frame[signal.name] < low) | (frame[signal.name] > high)
        report.out_of_range[signal.name] = int(bad.sum())
        frame.loc[bad, signal.name] = np.nan
    missing = frame[signals].isna()
    report.missing_before_fill = int(missing.to_numpy().sum())
    filled = frame.groupby("device_id")[signals].ffill(limit=MAX_FILL)
    report.filled = report.missing_before_fill - int(filled.isna().to_numpy().sum())
    frame[signals] = filled
    report.unusable_readings = int(filled.isna().any(axis=1).sum())
    return frame, report


@dataclass
class Windows:
    values: np.ndarray  # float32 [n, window * signals], raw units
    state: np.ndarray  # int8 NORMAL / ANOMALY / UNLABELLED of the window (_window_labels)
    label: np.ndarray  # int16 index into ``labels``
    labels: tuple[str, ...]
    end: np.ndarray  # datetime64[s] of the last reading
    incomplete: int = 0  # runs of ``window`` readings with a gap or a missing value


def _window_labels(
    state: np.ndarray, codes: np.ndarray, window: int
) -> tuple[np.ndarray, np.ndarray]:
    """A window is anomalous when any of its readings is (so a labelled anomaly never trains,
    not even as the tail of a window that ends after it), unlabelled when any reading is and
    none is anomalous, normal when all are. Its label: the newest anomalous reading's, else the
    last reading's."""
    anomalous = np.lib.stride_tricks.sliding_window_view(state == ANOMALY, window)
    unlabelled = np.lib.stride_tricks.sliding_window_view(state == UNLABELLED, window)
    merged = np.where(
        anomalous.any(axis=1), ANOMALY, np.where(unlabelled.any(axis=1), UNLABELLED, NORMAL)
    ).astype(np.int8)
    # the newest anomalous reading's position in each window (0 when none)
    newest = window - 1 - np.argmax(anomalous[:, ::-1], axis=1)
    starts = np.arange(len(merged))
    label = np.where(merged == ANOMALY, codes[starts + newest], codes[window - 1 :]).astype(
        np.int16
    )
    return merged, label


def make_windows(frame: pd.DataFrame, profile: SensorProfile) -> Windows:
    """Every run of ``profile.window`` consecutive, complete readings of one device."""
    window, signals = profile.window, list(profile.signal_names)
    labels = tuple(sorted(frame["label"].astype(str).unique())) if len(frame) else ()
    label_index = {name: i for i, name in enumerate(labels)}
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("values", "state", "label", "end")}
    incomplete = 0
    interval_ns = profile.interval_s * 1e9
    for _, part in frame.groupby("device_id", sort=True):
        part = part.sort_values("timestamp")
        if len(part) < window:
            incomplete += max(0, len(part) - window + 1)
            continue
        readings = part[signals].to_numpy(dtype=np.float32)
        stacked = np.lib.stride_tricks.sliding_window_view(readings, window, axis=0)  # [n, S, W]
        stacked = stacked.transpose(0, 2, 1).reshape(len(stacked), -1)
        stamps = part["timestamp"].dt.tz_convert(None).to_numpy().astype("datetime64[ns]")
        # consecutive: every step one interval, give or take half of one (a clock that drifts
        # a little stays in; a missing reading does not)
        steps = np.diff(stamps).astype(np.int64)
        regular = np.abs(steps - interval_ns) <= 0.5 * interval_ns
        contiguous = np.lib.stride_tricks.sliding_window_view(regular, window - 1).all(axis=1)
        complete = ~np.isnan(stacked).any(axis=1) & contiguous
        incomplete += int((~complete).sum())
        last = slice(window - 1, None)
        parts["values"].append(stacked[complete])
        state, codes = _window_labels(
            part["state"].to_numpy(np.int8),
            part["label"].astype(str).map(label_index).to_numpy(np.int16),
            window,
        )
        parts["state"].append(state[complete])
        parts["label"].append(codes[complete])
        parts["end"].append(stamps.astype("datetime64[s]")[last][complete])
    if not parts["values"]:
        return Windows(
            np.zeros((0, window * len(signals)), np.float32),
            np.zeros(0, np.int8),
            np.zeros(0, np.int16),
            labels,
            np.zeros(0, "datetime64[s]"),
            incomplete,
        )
    joined = {name: np.concatenate(arrays) for name, arrays in parts.items()}
    return Windows(labels=labels, incomplete=incomplete, **joined)


@dataclass(frozen=True)
class SplitSettings:
    val_days: int = 2
    test_days: int = 3
    val_share: float = 0.2  # when the readings span too few days: shares of the time range
    test_share: float = 0.3


def split_windows(end: np.ndarray, settings: SplitSettings) -> tuple[np.ndarray, str]:
    """TRAIN / VALIDATION / TEST per window, newest held out: by whole days when the readings
    span enough of them (a day's weather stays in one split), otherwise by shares of the time
    range (a recording of a few hours). Returns the split and how it was made."""
    days = np.unique(end.astype("datetime64[D]"))
    needed = settings.val_days + settings.test_days + 1
    if len(days) >= needed:
        test_start = days[-settings.test_days]
        val_start = days[-(settings.test_days + settings.val_days)]
        how = (
            f"by day: test {settings.test_days} newest days from {test_start}, "
            f"validation {settings.val_days} days from {val_start}"
        )
    else:
        first, last = end.min(), end.max()
        span = last - first
        test_start = last - span * settings.test_share
        val_start = test_start - span * settings.val_share
        how = (
            f"by time ({len(days)} days of readings, fewer than the {needed} a split by day "
            f"needs): test the newest {settings.test_share:.0%} from {test_start}, validation "
            f"{settings.val_share:.0%} before it"
        )
    split = np.where(end >= test_start, TEST, np.where(end >= val_start, VALIDATION, TRAIN))
    return split.astype(np.int8), how


def trains_as_normal(state: np.ndarray, unlabelled_as_normal: bool) -> np.ndarray:
    """Windows a model may learn "normal" from: labelled normal, and unlabelled ones when the
    usual unsupervised assumption holds (most readings of a working device are normal).
    Labelled anomalies never train."""
    return (state == NORMAL) | ((state == UNLABELLED) & unlabelled_as_normal)


def window_counts(
    windows: Windows, split: np.ndarray, unlabelled_as_normal: bool
) -> dict[str, int]:
    normal = trains_as_normal(windows.state, unlabelled_as_normal)
    return {
        "train_normal": int(((split == TRAIN) & normal).sum()),
        "val_normal": int(((split == VALIDATION) & normal).sum()),
        "test": int((split == TEST).sum()),
        "test_anomalous": int(((split == TEST) & (windows.state == ANOMALY)).sum()),
        "test_labelled": int(((split == TEST) & (windows.state != UNLABELLED)).sum()),
        "excluded_anomalous": int(((split < TEST) & (windows.state == ANOMALY)).sum()),
        "unlabelled": int((windows.state == UNLABELLED).sum()),
        "incomplete": windows.incomplete,
    }


def encode_dataset(windows: Windows, split: np.ndarray) -> tuple[bytes, str]:
    """The windows file and its content version (the same windows give the same version)."""
    digest = hashlib.sha256()
    for array in (windows.values, windows.state, windows.label, split):
        digest.update(array.tobytes())
    digest.update("\0".join(windows.labels).encode())
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        values=windows.values,
        state=windows.state,
        label=windows.label,
        labels=np.asarray(windows.labels, dtype=str),
        split=split,
    )
    return buffer.getvalue(), digest.hexdigest()[:16]


@dataclass(frozen=True)
class Dataset:
    values: np.ndarray
    state: np.ndarray
    label: np.ndarray
    labels: tuple[str, ...]
    split: np.ndarray

    def part(self, which: int) -> np.ndarray:
        return self.values[self.split == which]

    def normal(self, which: int, unlabelled_as_normal: bool) -> np.ndarray:
        chosen = (self.split == which) & trains_as_normal(self.state, unlabelled_as_normal)
        return self.values[chosen]


def decode_dataset(data: bytes) -> Dataset:
    with np.load(io.BytesIO(data)) as arrays:
        return Dataset(
            arrays["values"],
            arrays["state"],
            arrays["label"],
            tuple(str(x) for x in arrays["labels"]),
            arrays["split"],
        )


MIN_TRAIN_WINDOWS, MIN_VAL_WINDOWS = 32, 10


@dataclass
class PreparedDataset:
    windows: Windows
    split: np.ndarray
    split_how: str
    counts: dict[str, int]
    cleaning: CleaningReport


def prepare_dataset(
    frame: pd.DataFrame,
    profile: SensorProfile,
    settings: SplitSettings,
    unlabelled_as_normal: bool,
) -> PreparedDataset:
    """Readings -> cleaned, windowed, split; stops with the counts of why when there is too
    little to train on (rather than a model trained on nothing)."""
    cleaned, cleaning = clean_readings(frame, profile)
    windows = make_windows(cleaned, profile)
    if not len(windows.values):
        raise SensorDataError(
            f"no complete window of {profile.window} consecutive readings "
            f"({profile.interval_s:g} s apart): {cleaning.readings} readings, "
            f"{cleaning.unusable_readings} unusable after cleaning (out of range: "
            f"{cleaning.out_of_range}, missing: {cleaning.missing_before_fill}), "
            f"{windows.incomplete} windows broken by gaps or missing values"
        )
    split, how = split_windows(windows.end, settings)
    counts = window_counts(windows, split, unlabelled_as_normal)
    if counts["train_normal"] < MIN_TRAIN_WINDOWS or counts["val_normal"] < MIN_VAL_WINDOWS:
        unlabelled = "" if unlabelled_as_normal else " (unlabelled_as_normal is off)"
        raise SensorDataError(
            f"too few normal windows to train on: {counts['train_normal']} for training "
            f"(at least {MIN_TRAIN_WINDOWS}) and {counts['val_normal']} for validation (at least "
            f"{MIN_VAL_WINDOWS}){unlabelled}. Windows: {counts}; split {how}. Ingest more "
            "readings labelled normal, or unlabelled ones"
        )
    return PreparedDataset(windows, split, how, counts, cleaning)

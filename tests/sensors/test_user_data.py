"""Users' own readings: a CSV with a column mapping, bad rows and gaps, handled and reported."""

import io
import re

import numpy as np
import pandas as pd
import pytest

from assets.sensors.data import (
    ANOMALY,
    NORMAL,
    UNLABELLED,
    Labels,
    SensorDataError,
    load_sensor_file,
    store_ingested_readings,
)
from assets.sensors.features import _window_labels, clean_readings, make_windows, trains_as_normal
from edgeline_contract.profile import WIND_TURBINE
from edgeline_simulator.turbines import SIGNALS
from resources import LocalArtifactStore

MAPPING = {
    "timestamp": "Time",
    "device_id": "Unit",
    "wind_speed_ms": "Wind (m/s)",
    "rotor_rpm": "RPM",
    "power_kw": "Power",
    "voltage_v": "Volts",
    "bearing_temp_c": "Bearing C",
    "vibration_x_mms": "VibX",
    "vibration_y_mms": "VibY",
    "yaw_error_deg": "Yaw",
}


def _csv(tmp_path, rows: int = 40):
    times = pd.date_range("2026-11-01T23:40:00Z", periods=rows, freq="60s")
    frame = pd.DataFrame(
        {
            "Time": times.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Unit": "T7",
            "Wind (m/s)": [f"{8 + i % 3}" for i in range(rows)],
            "RPM": "12.5",
            "Power": "900",
            "Volts": "686",
            "Bearing C": "41.5",
            "VibX": "1.9",
            "VibY": "1.6",
            "Yaw": "",
        }
    )
    frame.loc[3, "Wind (m/s)"] = "n/a"  # text in a numeric column
    frame.loc[4, "Power"] = "lots"
    frame.loc[5, "Volts"] = "99999"  # out of range
    frame.loc[6, "Time"] = "yesterday"  # unusable timestamp
    frame = frame.drop(index=[20, 21, 22])  # a three-minute gap
    path = tmp_path / "readings.csv"
    frame.to_csv(path, index=False)
    return path


def test_csv_with_bad_rows_and_gaps_is_loaded_and_reported(tmp_path):
    frame, report = load_sensor_file(_csv(tmp_path), WIND_TURBINE, MAPPING)
    assert report.rows == 37 and report.devices == 1
    assert report.bad_values["wind_speed_ms"] == 1 and report.bad_values["power_kw"] == 1
    assert report.out_of_range["voltage_v"] == 1  # 1 of 36: below the 5 % that stops an ingest
    assert report.missing_values["yaw_error_deg"] == 37  # a blank column
    assert report.bad_timestamps == 1 and report.median_step_s == 60.0
    assert report.gaps == 4  # rows 20-22 dropped, row 6 unusable
    assert report.states == {"normal": 0, "anomalous": 0, "unlabelled": 36}
    assert len(frame) == 36 and frame["wind_speed_ms"].isna().sum() == 1
    cleaned, cleaning = clean_readings(frame, WIND_TURBINE)
    assert cleaning.out_of_range["voltage_v"] == 1
    assert cleaning.filled == 3  # wind, power, voltage carried forward one reading each
    assert cleaning.unusable_readings == 36  # yaw is blank throughout
    frame["yaw_error_deg"] = 0.0
    cleaned, cleaning = clean_readings(frame, WIND_TURBINE)
    windows = make_windows(cleaned, WIND_TURBINE)
    assert len(windows.values) > 0 and not pd.isna(windows.values).any()
    assert (windows.state == UNLABELLED).all()  # no labels in this file


def test_ingested_days_are_stored_once_with_their_profile(tmp_path):
    frame, _ = load_sensor_file(_csv(tmp_path), WIND_TURBINE, MAPPING)
    store = LocalArtifactStore(root=str(tmp_path / "store"))
    assert store_ingested_readings(frame, WIND_TURBINE, store) == ["2026-11-01", "2026-11-02"]
    assert store_ingested_readings(frame, WIND_TURBINE, store) == ["2026-11-01", "2026-11-02"]
    keys = store.list_keys("raw/sensors/")
    assert keys[-1] == "raw/sensors/wind-turbine/profile.json"
    assert len(keys) == 3 and all("/ingested-" in k for k in keys[:2])
    first = pd.read_parquet(io.BytesIO(store.get_bytes(keys[0])))
    assert list(first.columns[:2]) == ["timestamp", "device_id"]
    assert set(SIGNALS) <= set(first.columns) and {"label", "state"} <= set(first.columns)


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({**MAPPING, "Wind": "x"}, "--map names field(s) ['Wind'] that profile wind-turbine"),
        ({**MAPPING, "rotor_rpm": "Revs"}, "the file has no column(s) ['Revs']"),
        (
            {k: v for k, v in MAPPING.items() if k != "power_kw"},
            "the file has no column for ['power_kw'] of profile wind-turbine",
        ),
    ],
)
def test_bad_mappings_are_named(tmp_path, mapping, message):
    with pytest.raises(SensorDataError, match=re.escape(message)):
        load_sensor_file(_csv(tmp_path), WIND_TURBINE, mapping)


def test_a_window_is_anomalous_when_any_reading_is_and_those_never_train():
    state = np.array([NORMAL] * 4 + [ANOMALY] * 2 + [NORMAL] * 4 + [UNLABELLED] + [NORMAL] * 3)
    codes = np.array([0] * 4 + [1] * 2 + [0] * 4 + [2] + [0] * 3, dtype=np.int16)
    merged, label = _window_labels(state, codes, window=3)
    # windows end at readings 2..13: those holding reading 4 or 5 are anomalous (labelled 1)
    assert merged.tolist() == [0, 0, 1, 1, 1, 1, 0, 0, -1, -1, -1, 0]
    assert label.tolist() == [0, 0, 1, 1, 1, 1, 0, 0, 2, 0, 0, 0]
    assert trains_as_normal(merged, True).tolist() == [
        True, True, False, False, False, False, True, True, True, True, True, True
    ]  # fmt: skip
    assert trains_as_normal(merged, False).sum() == 5


def _pump_profile():
    from edgeline_contract.profile import SensorProfile, Signal

    return SensorProfile("pump", "pump-autoencoder", (Signal("p", "bar", 0, 16),), 1.0, 30)


def test_a_drifting_clock_keeps_its_windows_and_a_missing_reading_breaks_them():
    profile = _pump_profile()
    steps = np.full(200, 1.05)  # every step 5 % long: 30 readings span 30.45 s, not 29
    steps[100] = 2.0  # one reading missing
    stamps = pd.Timestamp("2026-11-20", tz="UTC") + pd.to_timedelta(
        np.concatenate([[0], np.cumsum(steps)]), unit="s"
    )
    frame = pd.DataFrame(
        {"timestamp": stamps, "device_id": "P-1", "p": 3.0, "label": "", "state": UNLABELLED}
    )
    windows = make_windows(frame, profile)
    # 201 readings make 172 runs of 30; the 29 that hold the missing reading's step are out
    assert len(windows.values) == 172 - 29 and windows.incomplete == 29


def test_null_labels_in_a_parquet_file_are_unlabelled(tmp_path):
    path = tmp_path / "pump.parquet"
    pd.DataFrame(
        {
            "timestamp": pd.date_range("2026-11-20", periods=100, freq="1s", tz="UTC"),
            "p": [3.0] * 99 + [None],
            "status": ["ok"] * 60 + [None] * 40,
        }
    ).set_index("timestamp").to_parquet(path)  # timestamps as the index, as pandas users do
    frame, report = load_sensor_file(
        path, _pump_profile(), labels=Labels(column="status", normal=("ok",))
    )
    assert report.states == {"normal": 60, "anomalous": 0, "unlabelled": 40}
    assert len(frame) == 100 and frame["label"].iloc[-1] == ""
    assert report.missing_values == {"p": 1} and report.bad_values == {"p": 0}


def _times_file(tmp_path, start: str, strftime: str):
    """40 readings a second apart in ``strftime``, after a units row as some exports have."""
    times = pd.date_range(start, periods=40, freq="1s").strftime(strftime)
    path = tmp_path / "pump.csv"
    pd.DataFrame({"timestamp": ["s", *times], "p": "3.0"}).to_csv(path, index=False)
    return path


def test_month_first_dates_are_read_in_the_format_guessed_from_the_file(tmp_path):
    path = _times_file(tmp_path, "2026-11-20 08:00", "%m/%d/%Y %H:%M:%S")
    frame, report = load_sensor_file(path, _pump_profile())
    assert report.bad_timestamps == 1 and len(frame) == 40
    expected = pd.date_range("2026-11-20 08:00", periods=40, freq="1s", tz="UTC")
    assert frame["timestamp"].tolist() == expected.tolist()


def test_day_first_dates_are_not_read_each_its_own_way(tmp_path):
    # 12/12 would be December 12 month first and 13/12 December 13 day first: one format
    # for the file, so the 13th is unreadable and the error offers the day-first format
    path = _times_file(tmp_path, "2026-12-12 23:59:40", "%d/%m/%Y %H:%M:%S")
    message = (
        "21 of 41 timestamps in column timestamp could not be read as '%m/%d/%Y %H:%M:%S' "
        "(guessed from the file: it is not ISO 8601); first unreadable values: 's', "
        "'13/12/2026 00:00:00', '13/12/2026 00:00:01': they look day first; --date-format "
        "'%d/%m/%Y %H:%M:%S' reads 40 of 41"
    )
    with pytest.raises(SensorDataError, match=re.escape(message)):
        load_sensor_file(path, _pump_profile())
    frame, report = load_sensor_file(path, _pump_profile(), timestamp_format="%d/%m/%Y %H:%M:%S")
    assert report.bad_timestamps == 1 and len(frame) == 40
    assert frame["timestamp"].iloc[-1] == pd.Timestamp("2026-12-13 00:00:19", tz="UTC")

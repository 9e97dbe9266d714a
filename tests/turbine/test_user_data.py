"""Users' own readings: a CSV with a column mapping, bad rows and gaps, handled and reported."""

import io

import pandas as pd
import pytest

from assets.turbine.data import load_sensor_file, store_ingested_readings
from assets.turbine.features import clean_readings, make_windows
from clients.pi.simulator import SIGNALS
from resources import LocalArtifactStore

MAPPING = {
    "timestamp": "Time",
    "turbine_id": "Unit",
    "wind_speed_ms": "Wind (m/s)",
    "rotor_rpm": "RPM",
    "power_kw": "Power",
    "voltage_v": "Volts",
    "bearing_temp_c": "Bearing C",
    "vibration_x_mms": "VibX",
    "vibration_y_mms": "VibY",
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
    frame, report = load_sensor_file(_csv(tmp_path), MAPPING)
    assert report.rows == 37
    assert report.bad_values["wind_speed_ms"] == 1 and report.bad_values["power_kw"] == 1
    assert report.bad_timestamps == 1
    assert report.gaps == 4  # rows 20-22 dropped, row 6 unusable
    assert report.missing_columns == ["yaw_error_deg"]
    assert len(frame) == 36 and frame["wind_speed_ms"].isna().sum() == 1
    cleaned, cleaning = clean_readings(frame)
    assert cleaning.out_of_range["voltage_v"] == 1
    assert cleaning.filled == 3  # wind, power, voltage carried forward one reading each
    assert cleaning.unusable_readings == 36  # yaw is absent from the file altogether
    frame["yaw_error_deg"] = 0.0
    cleaned, cleaning = clean_readings(frame)
    windows = make_windows(cleaned, window=10)
    assert len(windows.values) > 0 and not pd.isna(windows.values).any()
    assert (windows.fault == -1).all()  # no labels in a user's file


def test_ingested_days_are_stored_once(tmp_path):
    frame, _ = load_sensor_file(_csv(tmp_path), MAPPING)
    store = LocalArtifactStore(root=str(tmp_path / "store"))
    assert store_ingested_readings(frame, store) == ["2026-11-01", "2026-11-02"]
    assert store_ingested_readings(frame, store) == ["2026-11-01", "2026-11-02"]
    keys = store.list_keys("raw/sensors/")
    assert len(keys) == 2 and all("/ingested-" in k for k in keys)
    first = pd.read_parquet(io.BytesIO(store.get_bytes(keys[0])))
    assert list(first.columns[:2]) == ["timestamp", "turbine_id"] and set(SIGNALS) <= set(
        first.columns
    )


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({**MAPPING, "Wind": "x"}, "unknown fields"),
        ({**MAPPING, "rotor_rpm": "Revs"}, "no column"),
        ({k: v for k, v in MAPPING.items() if k != "timestamp"}, "'timestamp'"),
    ],
)
def test_bad_mappings_are_named(tmp_path, mapping, message):
    with pytest.raises(ValueError, match=message):
        load_sensor_file(_csv(tmp_path), mapping)

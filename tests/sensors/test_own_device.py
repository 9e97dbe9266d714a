"""A user's own device, through the documented path: a profile file, `edgeline ingest-sensors`
with labels, `edgeline train-sensors`, an approval, and the Pi agent replaying the device's log
against the published model."""

import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from assets.deployment.publish import read_channel
from assets.sensors.data import read_days
from orchestration.cli import main
from resources.environment import local_resources
from tests.gateway.server import Gateway
from tests.sensors.pump import MAP, PROFILE_YAML, pump_day, replay_csv, write_recording

REPO = Path(__file__).resolve().parents[2]
WINDOW = 20  # PROFILE_YAML's


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGELINE_ENV", "local")
    monkeypatch.setenv("EDGELINE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home" / "dagster"))
    (tmp_path / "pump.yaml").write_text(PROFILE_YAML)
    return tmp_path / "home"


def ingest(tmp_path, frames, *labels: str) -> int:
    recording = write_recording(tmp_path / "pumps.csv", frames)
    profile = str(tmp_path / "pump.yaml")
    return main(["ingest-sensors", str(recording), "--profile", profile, "--map", MAP, *labels])


def window_states(states: pd.Series) -> np.ndarray:
    """A window is anomalous when any of its readings is (as the platform labels them)."""
    anomalous = (states != "ok") & (states != "idle")
    return np.lib.stride_tricks.sliding_window_view(anomalous.to_numpy(), WINDOW).any(axis=1)


@pytest.mark.slow
def test_a_pump_goes_from_its_csv_to_a_device_that_flags_cavitation(home, tmp_path, capsys):
    pumps = [pump_day("2026-11-20 08:00", 3, f"P-{n}", seed=n) for n in (1, 2)]
    assert ingest(tmp_path, pumps, "--label-column", "State", "--normal", "ok,idle") == 0
    out = capsys.readouterr().out
    assert "read 21600 rows from 2 device(s); median step 1.0 s" in out
    assert "stored 21600 readings of profile pump for 1 day(s): 2026-11-20" in out

    assert main(["train-sensors", "--profile", "pump", "--epochs", "25"]) == 0
    out = capsys.readouterr().out
    assert "registered pump-autoencoder v1 (PendingManualApproval): held-out F1" in out
    resources = local_resources(home)
    card = resources["registry"].get_model_card("pump-autoencoder", 1)
    metrics = card["metrics"]
    assert metrics["evaluation"] == "labelled" and metrics["f1"] >= 0.85, metrics
    assert metrics["recall_by_label"]["cavitation"] >= 0.8
    assert [v["precision"] for v in card["variants"]] == ["fp32", "fp16"]
    assert card["task"]["profile"]["signals"][1] == {
        "name": "flow_lpm",
        "unit": "l/min",
        "min": 0.0,
        "max": 2000.0,
    }

    assert main(["registry", "approve", "pump-autoencoder", "1", "--reason", "pump test"]) == 0
    manifest = resources["artifacts"].get_json(
        f"deploy/pump-autoencoder/{read_channel(resources['artifacts'], 'pump-autoencoder')['version']}/manifest.json"
    )
    assert manifest["signals"] == ["pressure_bar", "flow_lpm", "motor_current_a"]
    assert manifest["window"] == WINDOW and manifest["profile"]["interval_s"] == 1.0

    # another hour of a third pump, never seen in training, replayed by the agent
    log = pump_day("2026-11-21 09:00", 1, "P-3", seed=3)
    gateway = Gateway(home, tokens=frozenset({"pump-token"})).start()
    token_file = tmp_path / "token"
    token_file.write_text("pump-token\n")
    token_file.chmod(0o600)
    command = [
        sys.executable,
        "-m",
        "clients.pi.agent",
        "--gateway",
        gateway.url,
        "--token-file",
        str(token_file),
        "--device-id",
        "P-3",
        "--model",
        "pump-autoencoder",
        "--source",
        f"csv:{replay_csv(tmp_path / 'p3.csv', log)}",
        "--speed",
        "0",
        "--data-dir",
        str(tmp_path / "agent"),
    ]
    try:
        finished = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=180)
    finally:
        gateway.stop()
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert "now running pump-autoencoder v1" in finished.stderr
    by_id = {e["event_id"]: e for e in gateway.telemetry.read("pi", *_today())}
    events = [by_id[i] for i in gateway.telemetry.appended]  # in the order they were scored
    expected = window_states(log["State"])
    assert len(events) == len(expected) == 3600 - WINDOW + 1
    flags = np.array([e["anomaly"] for e in events])
    assert {e["model"] for e in events} == {"pump-autoencoder"}
    recall = flags[expected].mean()
    false_alarms = flags[~expected].mean()
    print(
        f"pump: held-out F1 {metrics['f1']:.3f}; the agent's replay of P-3: recall "
        f"{recall:.3f}, false alarms {false_alarms:.4f} ({int(expected.sum())} fault windows)"
    )
    assert expected.sum() > 100 and recall >= 0.8 and false_alarms <= 0.02, (recall, false_alarms)

    # a wrong token: the agent says why it scored nothing, and fails
    gateway.start()
    try:
        token_file.write_text("not-a-token")
        refused = subprocess.run(
            [*command[:-1], str(tmp_path / "agent-2"), "--limit", "100"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        gateway.stop()
    assert refused.returncode == 1
    assert (
        "no reading was scored (100 read): no model: the gateway refused the token (HTTP 401): "
        "missing or invalid bearer token" in refused.stderr
    )


def _today():
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    return now - timedelta(hours=1), now + timedelta(hours=1)


@pytest.mark.slow
def test_unlabelled_normal_data_trains_and_the_card_says_unlabelled(home, tmp_path, capsys):
    quiet = [
        pump_day("2026-11-20 08:00", 3, f"P-{n}", seed=n, cavitation_every_s=10**9) for n in (4, 5)
    ]
    assert ingest(tmp_path, quiet, "--all-normal") == 0
    assert "labels: {'normal': 21600, 'anomalous': 0, 'unlabelled': 0}" in capsys.readouterr().out
    assert main(["train-sensors", "--profile", "pump", "--epochs", "25"]) == 0
    out = capsys.readouterr().out
    assert "registered pump-autoencoder v1 (PendingManualApproval): unlabelled: threshold" in out
    metrics = local_resources(home)["registry"].get_model_card("pump-autoencoder", 1)["metrics"]
    assert metrics["evaluation"] == "unlabelled" and "f1" not in metrics
    assert 0 <= metrics["flag_rate"] <= 0.02 and metrics["threshold"] > 0


def _stored(home: Path) -> list[str]:
    return sorted(p.relative_to(home).as_posix() for p in home.rglob("*") if p.is_file())


def _day_first(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(Time=pd.to_datetime(frame["Time"]).dt.strftime("%d/%m/%Y %H:%M:%S"))


def _isoformat_10hz(start: datetime, rows: int) -> list[str]:
    """Times as Python's ``isoformat()`` writes them at 10 Hz: ``.100000`` and so on, and no
    fraction at all on whole seconds."""
    return [(start + timedelta(microseconds=100_000 * i)).isoformat() for i in range(rows)]


def _pump_file(tmp_path: Path, change) -> list[str]:
    frame = pump_day("2026-11-20 08:00", 0.5, "P-1", seed=1)
    return [change(frame)]


@pytest.mark.parametrize(
    ("change", "labels", "message"),
    [
        (
            lambda f: f.drop(columns=["Q_lpm"]),
            (),
            "the file has no column(s) ['Q_lpm']",
        ),
        (
            lambda f: f.assign(P_bar=f["P_bar"] * 100),  # kPa, not bar
            (),
            "pressure_bar (column P_bar): 100% of values are outside the profile's range [0.0, 16.0]",
        ),
        (
            lambda f: f.iloc[::60],  # a reading a minute, the profile says one a second
            (),
            "readings are 60.0 s apart (the median step per device), not the expected 1 s (profile "
            "pump's interval_s, or --interval)",
        ),
        (
            lambda f: f,
            ("--label-column", "State", "--normal", "good"),
            "none of --normal ['good'] is a value of State; its values: ['cavitation', 'ok']",
        ),
        (
            lambda f: f,
            ("--label-column", "Status", "--normal", "ok"),
            "--label-column Status: no such column",
        ),
        (lambda f: f, ("--label-column", "State"), "--label-column State needs --normal"),
        (
            lambda f: f,
            ("--all-normal", "--label-column", "State", "--normal", "ok"),
            "exclude each other",
        ),
        (
            # the line ends after the value: no --date-format for times that are not day first
            lambda f: f.assign(Time="soon"),
            (),
            "1800 of 1800 timestamps in column Time could not be read as ISO 8601; "
            "first unreadable values: 'soon'\n",
        ),
        (
            # 12/12 then 13/12 at midnight: read month first, the 13th month does not exist
            lambda f: _day_first(pump_day("2026-12-12 23:45", 0.5, "P-1", seed=1)),
            (),
            "900 of 1800 timestamps in column Time could not be read as '%m/%d/%Y %H:%M:%S' "
            "(guessed from the file: it is not ISO 8601); first unreadable values: "
            "'13/12/2026 00:00:00', '13/12/2026 00:00:01', '13/12/2026 00:00:02': they look day "
            "first; --date-format '%d/%m/%Y %H:%M:%S' reads 1800 of 1800\n",
        ),
        (
            # the whole seconds of a 10 Hz isoformat() log in a month 13; the others are read
            lambda f: f.assign(
                Time=[
                    t if i % 10 else t.replace("2026-11-", "2026-13-")
                    for i, t in enumerate(_isoformat_10hz(datetime(2026, 11, 20, 0, 59), len(f)))
                ]
            ),
            (),
            "180 of 1800 timestamps in column Time could not be read as ISO 8601; first "
            "unreadable values: '2026-13-20T00:59:00', '2026-13-20T00:59:01', "
            "'2026-13-20T00:59:02'\n",
        ),
        (
            lambda f: f.assign(Time=pd.to_datetime(f["Time"]) - pd.Timedelta(days=365 * 7)),
            (),
            "readings dated ['2019-11-22'] fall outside the daily partitions (2020-01-01 to today)",
        ),
        (
            lambda f: f,
            ("--label-column", "State", "--normal", "idle,cavitation"),
            "% of readings would be anomalies (every State value but ['idle', 'cavitation']; "
            "its values: {'ok': ",
        ),
    ],
)
def test_ingest_errors_name_the_cause_and_store_nothing(
    home, tmp_path, capsys, change, labels, message
):
    assert ingest(tmp_path, _pump_file(tmp_path, change), *labels) == 2
    out = capsys.readouterr().out
    assert message in out and "nothing was stored" in out, out
    assert _stored(home) == []


@pytest.mark.parametrize(
    ("profile", "message"),
    [
        (PROFILE_YAML.replace("model: pump-autoencoder\n", ""), "missing model"),
        (PROFILE_YAML.replace("interval_s: 1", "interval_s: 0"), "interval_s 0 must be seconds"),
        (
            PROFILE_YAML.replace("name: pump\n", "name: Pump Station\n"),
            "name 'Pump Station' must be",
        ),
        (
            PROFILE_YAML.replace("min: 0, max: 16", "min: 16, max: 0"),
            "min 16.0 must be below max 0.0",
        ),
        (PROFILE_YAML.replace("unit: A,", "unit: A, scale: 2,"), "unknown field(s) ['scale']"),
        (PROFILE_YAML + "  - {name: flow_lpm}\n", "signals named more than once: ['flow_lpm']"),
        ("name: [unclosed", "not valid YAML"),
    ],
)
def test_bad_profiles_are_named(home, tmp_path, capsys, profile, message):
    (tmp_path / "pump.yaml").write_text(profile)
    assert ingest(tmp_path, _pump_file(tmp_path, lambda f: f)) == 2
    out = capsys.readouterr().out
    assert message in out and "nothing was stored" in out, out
    assert _stored(home) == []


def test_a_changed_profile_cannot_reinterpret_stored_readings(home, tmp_path, capsys):
    assert ingest(tmp_path, _pump_file(tmp_path, lambda f: f), "--all-normal") == 0
    before = _stored(home)
    (tmp_path / "pump.yaml").write_text(PROFILE_YAML.replace("window: 20", "window: 30"))
    assert ingest(tmp_path, _pump_file(tmp_path, lambda f: f), "--all-normal") == 2
    out = capsys.readouterr().out
    assert "profile pump is already stored with other window (stored 20, now 30)" in out
    assert "`edgeline forget-sensors pump --yes`" in out
    assert _stored(home) == before
    assert main(["forget-sensors", "pump"]) == 2  # says what it would remove, removes nothing
    assert "profile pump has readings for 1 day(s) (2026-11-20 .. 2026-11-20)" in (
        capsys.readouterr().out
    )
    assert main(["forget-sensors", "Pump Station", "--yes"]) == 2
    assert "'Pump Station' is not a profile name" in capsys.readouterr().out
    assert main(["forget-sensors", "pmup", "--yes"]) == 2
    assert "nothing is stored for profile pmup" in capsys.readouterr().out
    assert main(["forget-sensors", "pump", "--yes"]) == 0
    assert not any(k.startswith("artifacts/raw/sensors/pump/") for k in _stored(home))
    assert ingest(tmp_path, _pump_file(tmp_path, lambda f: f), "--all-normal") == 0


@pytest.mark.parametrize(
    ("zone", "suffix", "first_utc", "days"),
    [
        (None, "", "2026-11-20 00:59:00", "1 day(s): 2026-11-20"),  # no offset: UTC
        (UTC, "+00:00", "2026-11-20 00:59:00", "1 day(s): 2026-11-20"),
        (UTC, "Z", "2026-11-20 00:59:00", "1 day(s): 2026-11-20"),
        (
            timezone(timedelta(hours=1)),
            "+01:00",
            "2026-11-19 23:59:00",
            "2 day(s): 2026-11-19, 2026-11-20",
        ),
    ],
)
def test_a_10_hz_isoformat_recording_is_read_with_every_timestamp(
    home, tmp_path, capsys, zone: tzinfo | None, suffix: str, first_utc: str, days: str
):
    times = _isoformat_10hz(datetime(2026, 11, 20, 0, 59, tzinfo=zone), 1800)
    times = [t.replace("+00:00", suffix) for t in times]
    # as the user's file: the first row a whole second, fractions on all rows but those
    assert times[:2] == [f"2026-11-20T00:59:00{suffix}", f"2026-11-20T00:59:00.100000{suffix}"]
    assert sum("." not in t for t in times) == 180
    recording = pump_day("2026-11-20 00:59", 0.5, "P-1", seed=1).assign(Time=times)
    assert ingest(tmp_path, [recording], "--all-normal", "--interval", "0.1") == 0
    out = capsys.readouterr().out
    assert "read 1800 rows from 1 device(s); median step 0.1 s, 0 missing intervals" in out
    assert "dropped: 0 rows without a usable timestamp, 0 repeated timestamps" in out
    assert f"stored 1800 readings of profile pump for {days}" in out
    store = local_resources(home)["artifacts"]
    keys = [k for k in store.list_keys("raw/sensors/pump/") if k.endswith(".parquet")]
    stored = read_days(store, keys)[0].sort_values("timestamp", ignore_index=True)
    expected = pd.date_range(first_utc, periods=1800, freq="100ms", tz="UTC")
    assert stored["timestamp"].tolist() == expected.tolist()
    assert stored["pressure_bar"].tolist() == recording["P_bar"].tolist()


def test_day_first_dates_a_corrected_export_and_a_partial_normal_list(home, tmp_path, capsys):
    day_first = _pump_file(tmp_path, _day_first)
    labels = ("--label-column", "State", "--normal", "ok,idle")
    assert ingest(tmp_path, day_first, *labels, "--date-format", "%d/%m/%Y %H:%M:%S") == 0
    out = capsys.readouterr().out
    assert "stored 1800 readings of profile pump for 1 day(s): 2026-11-20" in out
    # the half hour has no idle spell: worth a note, not a stop
    assert "note: --normal value(s) ['idle'] do not occur in State" in out
    store = local_resources(home)["artifacts"]
    day = "raw/sensors/pump/date=2026-11-20/"
    (first,) = store.list_keys(day)
    corrected = _pump_file(tmp_path, lambda f: f.assign(P_bar=f["P_bar"] + 0.01))
    assert ingest(tmp_path, corrected, *labels, "--replace") == 0
    assert "(replacing what those days held)" in capsys.readouterr().out
    (second,) = store.list_keys(day)
    assert second != first
    # without --replace both files stay, and training counts each reading once
    assert ingest(tmp_path, day_first, *labels, "--date-format", "%d/%m/%Y %H:%M:%S") == 0
    frame, repeated = read_days(store, store.list_keys(day))
    assert len(store.list_keys(day)) == 2 and repeated == 1800 and len(frame) == 1800


def test_replace_concerns_the_files_devices_only(home, tmp_path):
    store = local_resources(home)["artifacts"]
    day = "raw/sensors/pump/date=2026-11-20/"
    both = _pump_file(tmp_path, lambda f: pd.concat([f, f.assign(Pump="P-2")]))
    assert ingest(tmp_path, both, "--all-normal") == 0
    p1 = _pump_file(tmp_path, lambda f: f.assign(P_bar=f["P_bar"] + 0.01))
    assert ingest(tmp_path, p1, "--all-normal", "--replace") == 0
    frames = {key: read_days(store, [key])[0] for key in store.list_keys(day)}
    devices = sorted(sorted(f["device_id"].unique()) for f in frames.values())
    assert devices == [["P-1"], ["P-2"]]  # P-2 kept, rewritten without P-1
    frame, repeated = read_days(store, list(frames))
    assert repeated == 0 and len(frame) == 3600
    corrected = frame[frame["device_id"] == "P-1"]["pressure_bar"].to_numpy()
    assert np.allclose(corrected, p1[0]["P_bar"].to_numpy())


def test_too_little_to_train_on_stops_in_sensor_features_with_the_counts(home, tmp_path, capsys):
    # 45 readings: 26 windows, of which the newest half are held out
    short = [pump_day("2026-11-20 08:00", 45 / 3600, "P-1", seed=1, cavitation_every_s=10**9)]
    assert ingest(tmp_path, short, "--all-normal") == 0
    assert main(["train-sensors", "--profile", "pump", "--epochs", "1"]) == 1
    out = capsys.readouterr().out
    assert "error: training pump-autoencoder failed" in out
    assert "too few normal windows to train on: 13 for training (at least 32)" in out


def test_a_recording_shorter_than_a_window_names_why(home, tmp_path, capsys):
    tiny = [pump_day("2026-11-20 08:00", 15 / 3600, "P-1", seed=1)]
    assert ingest(tmp_path, tiny, "--all-normal") == 0
    assert main(["train-sensors", "--profile", "pump", "--epochs", "1"]) == 1
    out = capsys.readouterr().out
    assert "no complete window of 20 consecutive readings (1 s apart): 15 readings" in out


def test_unlabelled_readings_train_as_normal_unless_told_otherwise(home, tmp_path, capsys):
    recording = [pump_day("2026-11-20 08:00", 0.5, "P-1", seed=1)]
    assert ingest(tmp_path, recording) == 0  # no label column, no --all-normal
    assert "labels: {'normal': 0, 'anomalous': 0, 'unlabelled': 1800}" in capsys.readouterr().out
    assert main(["train-sensors", "--profile", "pump", "--epochs", "1", "--no-unlabelled"]) == 1
    out = capsys.readouterr().out
    assert "too few normal windows to train on: 0 for training" in out
    assert "(unlabelled_as_normal is off)" in out

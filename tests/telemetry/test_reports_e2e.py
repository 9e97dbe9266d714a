"""Events POSTed to the gateway over HTTP -> store -> hourly roll-up -> daily report, both environments."""

import json
from datetime import UTC, datetime, timedelta

import httpx
import numpy as np
import pytest
from dagster import (
    DagsterInstance,
    FilesystemIOManager,
    build_schedule_context,
    instance_for_test,
    materialize,
)

from assets.sensors.data import record_profile
from assets.telemetry.assets import events_assets, report_assets, report_key
from assets.telemetry.reports import MIN_EVENTS_FOR_SHARE, readable_events
from edgeline_contract.profile import SensorProfile, Signal
from orchestration.definitions import defs
from resources import LocalArtifactStore, SqliteModelRegistry
from tests.gateway.conftest import TOKEN, pi_event, web_event

PUMP = SensorProfile("pump", "pump-autoencoder", (Signal("pressure_bar", "bar"),), 1.0, 20)
HOUR = (datetime.now(UTC) - timedelta(days=1)).replace(hour=10, minute=0, second=0, microsecond=0)
BASELINE = {
    "class_distribution": {"circle": 0.5, "star": 0.5},
    "confidence_histogram": {
        "edges": [i / 10 for i in range(11)],
        "counts": [0, 0, 0, 0, 0, 0, 0, 0, 10, 90],
    },
}


def _post(url: str, events: list[dict], browsers: dict[str, tuple[str, str]]) -> None:
    """Pi events with the device token; each browser's web events with a web token of its own
    (only a page's own token writes web events): ``browsers`` maps a test's browser name, and
    the id the gateway gave it, to (token, id), so an event sent again is the same event."""
    with httpx.Client() as http:  # one client: each httpx.post makes its own (30 ms here)
        batches: dict[str, list[dict]] = {TOKEN: []}
        for event in events:
            if event["client_kind"] == "web":
                if event["device_id"] not in browsers:
                    issued = http.post(f"{url}/v1/web/tokens").json()
                    browsers[event["device_id"]] = browsers[issued["browser_id"]] = (
                        issued["token"],
                        issued["browser_id"],
                    )
                token, event["device_id"] = browsers[event["device_id"]]
                batches.setdefault(token, []).append(event)
            else:
                batches[TOKEN].append(event)
        for token, batch in batches.items():
            for start in range(0, len(batch), 200):
                response = http.post(
                    f"{url}/v1/telemetry",
                    json={"events": batch[start : start + 200]},
                    headers={"Authorization": f"Bearer {token}"},
                )
                assert response.status_code in (200, 207, 422), response.text


@pytest.mark.slow
def test_gateway_to_report_figures_match(gateway, tmp_path):
    url, artifacts, telemetry = gateway
    registry = SqliteModelRegistry(path=str(tmp_path / "registry.sqlite"))
    registry.ensure_model("image-classifier")
    registry.register_version("image-classifier", {"baseline": BASELINE, "variants": []})
    rng = np.random.default_rng(0)
    inside = []
    for i in range(300):
        label = "circle" if i % 3 else "star"  # 2/3 circle: drifted from the 50/50 baseline
        confidence = float(rng.uniform(0.3, 1.0))
        where = {"variant": "fp16", "backend": "webgpu"} if i % 4 == 0 else {"backend": "wasm"}
        inside.append(
            web_event(
                at=HOUR + timedelta(seconds=int(rng.integers(0, 3600))),
                latency_ms=float(rng.gamma(4, 5)),
                device_id=f"browser-{i % 7}",
                top_k=[{"label": label, "confidence": confidence}],
                threads=2,
                **where,
            )
        )
    inside.append(
        web_event(at=HOUR, latency_ms=5.0, top_k=[{"label": "star", "confidence": 0.99}])
    )  # boundary: in
    outside = [
        web_event(at=HOUR + timedelta(hours=1)),
        web_event(at=HOUR - timedelta(milliseconds=1)),
    ]
    pis = [
        pi_event(at=HOUR + timedelta(minutes=m), anomaly=m % 10 == 0, device_id=f"turbine-{m % 3}")
        for m in range(60)
    ]
    # another device model in the same hour: its events are its own report's
    record_profile(artifacts, PUMP)
    pumps = [
        pi_event(at=HOUR + timedelta(minutes=m), anomaly=True, device_id="pump-1", model=PUMP.model)
        for m in range(0, 60, 3)
    ]
    browsers: dict[str, tuple[str, str]] = {}
    _post(url, inside + outside + pis + pumps, browsers)
    _post(url, inside[:50], browsers)  # a client retrying: no double counting
    _post(url, [web_event(latency_ms=-1)] * 3 + inside[50:51], browsers)  # invalid ones refused

    resources = {
        "artifacts": artifacts,
        "telemetry": telemetry,
        "registry": registry,
        "io_manager": FilesystemIOManager(base_dir=str(tmp_path / "io")),
    }
    instance = DagsterInstance.ephemeral()
    hour_key = HOUR.strftime("%Y-%m-%d-%H:%M")
    rolled = materialize(
        list(events_assets.values()), partition_key=hour_key, resources=resources, instance=instance
    )
    assert rolled.success
    assert rolled.output_for_node("telemetry_events_web")["events"] == len(
        inside
    )  # exactly the window
    assert rolled.output_for_node("telemetry_events_pi")["events"] == 60 + len(pumps)

    day = HOUR.strftime("%Y-%m-%d")
    instance.add_dynamic_partitions("image_models", ["image-classifier"])
    instance.add_dynamic_partitions("sensor_profiles", ["wind-turbine", PUMP.name])
    reports = {
        (kind, model): materialize(
            [report_assets[kind]],
            partition_key=report_key(kind, model, day),
            resources=resources,
            instance=instance,
        )
        for kind, model in (("web", "image-classifier"), ("pi", "wind-turbine"), ("pi", "pump"))
    }
    assert all(run.success for run in reports.values())
    result = reports[("web", "image-classifier")]
    web = artifacts.get_json(f"reports/web/{day}/image-classifier/report.json")
    # one row per variant and backend; the event that names no backend is counted as such
    groups: dict[tuple[str, str], list[float]] = {}
    for event in inside:
        key = (event["variant"], event.get("backend", "unreported"))
        groups.setdefault(key, []).append(event["latency_ms"])
    rows = {(row["variant"], row["backend"]): row for row in web["latency"]}
    assert set(rows) == {("fp16", "webgpu"), ("fp32", "wasm"), ("fp32", "unreported")}
    for key, latencies in groups.items():
        assert rows[key]["events"] == len(latencies)
        for p in (50, 95, 99):
            assert rows[key][f"p{p}_ms"] == pytest.approx(np.percentile(latencies, p))
    assert (
        "| fp16 | webgpu |"
        in artifacts.get_bytes(f"reports/web/{day}/image-classifier/report.md").decode()
    )
    labels = [e["top_k"][0]["label"] for e in inside]
    observed = {
        "circle": labels.count("circle") / len(labels),
        "star": labels.count("star") / len(labels),
    }
    assert web["quality"]["class_distribution"] == pytest.approx(observed)
    expected_psi = sum((observed[k] - 0.5) * np.log(observed[k] / 0.5) for k in observed)
    figures = web["figures"]
    assert figures["psi_class_distribution"]["value"] == pytest.approx(expected_psi)
    assert figures["psi_class_distribution"]["events"] == len(inside)
    # this baseline has no unsure_below: the page's rule for 2 classes (0.5), and it says so
    confidences = np.array([e["top_k"][0]["confidence"] for e in inside])
    unsure = figures["low_confidence_rate"]
    assert unsure["value"] == pytest.approx(np.mean(confidences < 0.5))
    assert unsure["threshold"] == 0.5 and "rule for older versions" in unsure["about"]
    assert (
        web["devices"] == 7 and len(web["fleet"]) == 7
    )  # browser-0..6 (the boundary event is browser-1)
    # the confidence distribution moved far from the baseline's 0.8-1.0: the drift check says so
    (check,) = [
        c
        for c in result.get_asset_check_evaluations()
        if c.asset_key.path[-1] == "quality_report_web"
    ]
    assert not check.passed and web["drift_psi"] > 0.2
    pi = artifacts.get_json(f"reports/pi/{day}/turbine-autoencoder/report.json")
    assert pi["events"] == 60 and pi["events_per_model"] == {"turbine-autoencoder": 60}
    assert pi["figures"]["anomaly_rate"]["value"] == pytest.approx(6 / 60)
    pump = artifacts.get_json(f"reports/pi/{day}/pump-autoencoder/report.json")
    assert (pump["events"], pump["baseline_model"]) == (len(pumps), "pump-autoencoder")
    assert pump["devices"] == 1  # 20 events: a count, and too few for a rate
    assert pump["figures"]["anomaly_rate"] | {"about": ""} == {
        "label": "Anomaly rate",
        "kind": "share",
        "value": None,
        "events": len(pumps),
        "needs": MIN_EVENTS_FOR_SHARE,
        "threshold": None,
        "about": "",
        "validation": None,
        "count": len(pumps),
        "verdict": "not enough data",
    }
    per_device = {}
    for event in pis:
        per_device.setdefault(event["device_id"], []).append(event["anomaly"])
    expected_rates = {device: float(np.mean(flags)) for device, flags in per_device.items()}
    assert pi["quality"]["anomaly_rate_per_device"] == pytest.approx(expected_rates)
    # the turbine model is not in this registry: its drift is not measured, and the check says
    # why rather than pass with a PSI of 0
    assert pi["drift_psi"] is None
    assert pi["drift_not_measured"].startswith("turbine-autoencoder v1: no model named")
    (pi_check,) = reports[("pi", "wind-turbine")].get_asset_check_evaluations()
    assert not pi_check.passed and pi_check.metadata["max_psi"].value == "not measured"
    assert (
        "Drift: not measured (turbine-autoencoder v1: no model named"
        in artifacts.get_bytes(f"reports/pi/{day}/turbine-autoencoder/report.md").decode()
    )
    page = artifacts.get_bytes(f"reports/web/{day}/image-classifier/report.html").decode()
    assert page.count("<table>") == 3 and "<pre>" not in page  # tables that render
    for figure in ("predicted classes", "top-1 confidence", "latency by hour"):
        assert f"<figcaption>{figure}</figcaption>" in page
    assert page.count("data:image/png;base64,") == 3
    pi_page = artifacts.get_bytes(f"reports/pi/{day}/turbine-autoencoder/report.html").decode()
    assert "<figcaption>anomaly rate per device</figcaption>" in pi_page


def test_schedules_target_the_hour_and_day_that_just_ended():
    """The partitions hold the hour and day in progress too; the schedules never pick those."""
    repository = defs.get_repository_def()
    at = datetime(2026, 11, 20, 14, 5, tzinfo=UTC)
    for name, expected in (
        ("telemetry_rollup_schedule", ["2026-11-20-13:00"]),
        # a report per model: each declared model of its kind
        ("quality_reports_web_schedule", ["2026-11-19|defects", "2026-11-19|plants"]),
        ("quality_reports_pi_schedule", ["2026-11-19|wind-turbine"]),
    ):
        schedule = next(s for s in repository.schedule_defs if s.name == name)
        with instance_for_test() as instance:
            instance.add_dynamic_partitions("image_models", ["plants", "defects"])
            instance.add_dynamic_partitions("sensor_profiles", ["wind-turbine"])
            with build_schedule_context(
                instance=instance, scheduled_execution_time=at, repository_def=repository
            ) as context:
                requests = schedule.evaluate_tick(context).run_requests
        assert sorted(r.partition_key for r in requests) == expected, name


def _write_behind_the_gateway(telemetry, environment: str, bodies: list[str], at: datetime) -> None:
    """Rows the gateway never checked: an older client's, or written straight into the store."""
    ms = int(at.timestamp() * 1000)
    if environment == "local":
        import sqlite3

        with sqlite3.connect(telemetry.path) as connection:
            connection.executemany(
                "INSERT INTO events VALUES (?, 'pi', ?, ?)",
                [(f"raw-{i}", ms + i, body) for i, body in enumerate(bodies)],
            )
    else:
        group = telemetry.log_group("pi")
        telemetry.logs.put_log_events(
            logGroupName=group,
            logStreamName=at.strftime("%Y-%m-%d"),
            logEvents=[{"timestamp": ms + i, "message": body} for i, body in enumerate(bodies)],
        )


def test_rollup_skips_and_counts_rows_it_cannot_read(telemetry_store, environment, tmp_path):
    """One Infinity or an absurd model_version used to fail the whole hour."""
    good = [pi_event(at=HOUR + timedelta(minutes=m)) for m in range(5)]
    telemetry_store.append(good)  # makes the day's stream as well
    broken = {**pi_event(), "event_id": "e-inf"}
    bodies = [
        json.dumps({**broken, "timestamp": HOUR.isoformat()}).replace("0.12", "Infinity"),
        json.dumps({**pi_event(at=HOUR), "event_id": "e-big", "model_version": 10**30}),
        json.dumps({**pi_event(at=HOUR), "event_id": "e-str", "latency_ms": "fast"}),
        "not json at all",
        json.dumps(["an", "array"]),
    ]
    _write_behind_the_gateway(telemetry_store, environment, bodies, HOUR + timedelta(minutes=30))
    result = materialize(
        [events_assets["pi"]],
        partition_key=HOUR.strftime("%Y-%m-%d-%H:%M"),
        resources={
            "artifacts": LocalArtifactStore(root=str(tmp_path / "a")),
            "telemetry": telemetry_store,
            "io_manager": FilesystemIOManager(base_dir=str(tmp_path / "io")),
        },
        instance=DagsterInstance.ephemeral(),
    )
    assert result.success
    (materialization,) = result.asset_materializations_for_node("telemetry_events_pi")
    assert materialization.metadata["events"].value == len(good)
    assert materialization.metadata["skipped_unreadable"].value == len(bodies)
    # what JSON allows only loosely is still read as the event it came with: its id and the
    # field are named (the store's fast parser refuses NaN, Infinity and 10**30 by itself)
    stored = telemetry_store.read("pi", HOUR, HOUR + timedelta(hours=1))
    _, skipped = readable_events(stored, "pi")
    assert [event_id for event_id, _ in skipped] == ["e-inf", "e-big", "e-str", "None", "None"]
    assert "not a finite number" in dict(skipped)["e-inf"]

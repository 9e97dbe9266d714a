"""Telemetry assets: hourly roll-ups of each client kind's events; a quality report per model and
day, with drift against that model's own baseline."""

import base64
from typing import Any

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetsDefinition,
    Config,
    DailyPartitionsDefinition,
    HourlyPartitionsDefinition,
    MetadataValue,
    MultiPartitionKey,
    MultiPartitionsDefinition,
    Output,
    asset,
)
from pydantic import Field

from assets.metadata import rounded
from assets.partitions import image_models, sensor_profiles
from assets.plots import png_markdown
from assets.sensors.data import read_profile
from assets.telemetry.reports import (
    DRIFT_PSI_THRESHOLD,
    build_report,
    drift_text,
    events_frame,
    readable_events,
    report_html,
    report_markdown,
    report_plots,
)
from assets.vision.review import pending_images
from resources import layout
from resources.errors import EdgelineError
from resources.registry import ModelRegistry
from resources.store_resources import ArtifactStoreResource, TelemetryStoreResource
from resources.telemetry import CLIENT_KINDS

GROUP = "telemetry"
# the hour and the day in progress are partitions too (end_offset=1): "today so far" can be
# rolled up and looked at; the schedules roll up each hour and day once it has ended
hourly_partitions = HourlyPartitionsDefinition(start_date="2026-11-01-00:00", end_offset=1)
report_days = DailyPartitionsDefinition(start_date="2026-11-01", end_offset=1)
# a report per model and day: web reports by image model, Pi reports by the profile whose model
# the devices run
REPORT_MODELS = {"web": ("model", image_models), "pi": ("profile", sensor_profiles)}
report_partitions = {
    kind: MultiPartitionsDefinition({dimension: models, "day": report_days})
    for kind, (dimension, models) in REPORT_MODELS.items()
}


def report_key(client_kind: str, model_partition: str, day: str) -> MultiPartitionKey:
    """The partition of ``model_partition``'s (an image model's, or a profile's) report on ``day``."""
    return MultiPartitionKey({REPORT_MODELS[client_kind][0]: model_partition, "day": day})


def build_events_asset(client_kind: str) -> AssetsDefinition:
    @asset(
        name=f"telemetry_events_{client_kind}",
        group_name=GROUP,
        kinds={"cloudwatch", "parquet"},
        partitions_def=hourly_partitions,
        description=(
            f"One hour of {client_kind} client events read from the TelemetryStore (CloudWatch Logs "
            "on aws) for exactly that window, de-duplicated by event id, stored as Parquet."
        ),
    )
    def events_asset(
        context: AssetExecutionContext,
        telemetry: TelemetryStoreResource,
        artifacts: ArtifactStoreResource,
    ) -> Output[dict[str, Any]]:
        window = context.partition_time_window
        events, skipped = readable_events(
            telemetry.read(client_kind, window.start, window.end), client_kind
        )
        for event_id, reason in skipped[:20]:
            context.log.warning("skipped event %s: %s", event_id, reason)
        key = layout.telemetry_hour(client_kind, window.start)
        artifacts.put_frame(key, pd.DataFrame(events))
        devices = len({e["device_id"] for e in events})
        return Output(
            {"key": key, "events": len(events)},
            metadata=rounded(
                {
                    "events": len(events),
                    "skipped_unreadable": len(skipped),
                    "devices": devices,
                    "window_start": window.start.isoformat(),
                    "window_end": window.end.isoformat(),
                    "key": key,
                }
            ),
        )

    return events_asset


class ReportConfig(Config):
    drift_psi_threshold: float = Field(
        default=DRIFT_PSI_THRESHOLD,
        gt=0,
        description="PSI above this fails the drift check; the report states it.",
    )


def _baseline(
    registry: ModelRegistry, frame: pd.DataFrame, model: str
) -> tuple[dict | None, int | None, str | None]:
    """The validation baseline of the newest version of ``model`` that sent events, and why
    there is none when there is none."""
    if frame.empty:
        return None, None, f"no events of {model}"
    version = int(frame["model_version"].max())
    try:
        baseline = registry.get_model_card(model, version).get("baseline")
    except EdgelineError as error:
        return None, version, f"{model} v{version}: {error}"
    if not baseline:
        return None, version, f"the card of {model} v{version} has no validation baseline"
    return baseline, version, None


def build_report_asset(client_kind: str, events_asset: AssetsDefinition) -> AssetsDefinition:
    name = f"quality_report_{client_kind}"
    dimension = REPORT_MODELS[client_kind][0]

    @asset(
        name=name,
        group_name=GROUP,
        kinds={"pandas", "html"},
        partitions_def=report_partitions[client_kind],
        deps=[events_asset],
        check_specs=[
            AssetCheckSpec(
                "drift", asset=name, description="Max PSI against the training baseline."
            )
        ],
        description=(
            f"A {client_kind} quality report per model and day: event counts, latency p50/p95/p99 per model version, "
            + (
                "class distribution and confidence against the validation baseline (PSI), low-confidence rate"
                if client_kind == "web"
                else "anomaly rate per device, reconstruction error against the baseline (PSI)"
            )
            + ", the fleet view, over that model's events only; each figure with its sample size "
            "and threshold, and 'not enough data' below its minimum. Markdown, HTML and JSON under "
            "reports/<kind>/<day>/<model>/."
        ),
    )
    def report_asset(
        context: AssetExecutionContext,
        config: ReportConfig,
        artifacts: ArtifactStoreResource,
        registry: ModelRegistry,
    ):
        key = context.partition_key
        assert isinstance(key, MultiPartitionKey)
        day, partition = key.keys_by_dimension["day"], key.keys_by_dimension[dimension]
        model = partition if client_kind == "web" else read_profile(artifacts, partition).model
        hours = artifacts.list_keys(layout.telemetry_day(client_kind, day))
        every = events_frame([artifacts.get_table(k) for k in hours])
        frame = every[every["model"] == model] if len(every) else every
        baseline, version, why_not = _baseline(registry, frame, model)
        waiting = (
            sum(image.model == model for image in pending_images(artifacts))
            if client_kind == "web"
            else None
        )
        report = build_report(
            client_kind,
            day,
            frame,
            baseline,
            version,
            model,
            waiting,
            no_baseline_because=why_not,
            psi_threshold=config.drift_psi_threshold,
        )
        plots = report_plots(client_kind, frame, report, baseline)
        encoded = {title: base64.b64encode(png).decode() for title, png in plots.items()}
        for title, png in plots.items():
            artifacts.put_bytes(
                layout.report_plot(client_kind, day, model, title), png, "image/png"
            )
        markdown = report_markdown(report)
        report_key = layout.report_json(client_kind, day, model)
        artifacts.put_json(report_key, report)
        artifacts.put_bytes(
            layout.report_markdown(client_kind, day, model), markdown.encode(), "text/markdown"
        )
        artifacts.put_bytes(
            layout.report_html(client_kind, day, model),
            report_html(report, encoded).encode(),
            "text/html",
        )
        metadata: dict[str, Any] = {
            "model": model,
            "events": report["events"],
            "devices": report["devices"],
            "hours_read": len(hours),
            "drift_psi": report["drift_psi"] if report["drift_psi"] is not None else "not measured",
            "drift": drift_text(report),
            **({"shared_images_waiting_for_review": waiting} if waiting is not None else {}),
            "report": MetadataValue.md(markdown),
            "report_key": report_key,
        }
        for title, png in plots.items():
            metadata[f"plot_{title.replace(' ', '_')}"] = MetadataValue.md(png_markdown(png, title))
        yield Output(report, metadata=rounded(metadata))
        drift = report["drift_psi"]
        yield AssetCheckResult(  # not measured is not a pass: it says why instead
            check_name="drift",
            passed=drift is not None and drift <= config.drift_psi_threshold,
            severity=AssetCheckSeverity.WARN,
            description=drift_text(report),
            metadata={
                "max_psi": drift if drift is not None else "not measured",
                "threshold": config.drift_psi_threshold,
                **({"not_measured": report["drift_not_measured"]} if drift is None else {}),
            },
        )

    return report_asset


events_assets = {kind: build_events_asset(kind) for kind in CLIENT_KINDS}
report_assets = {kind: build_report_asset(kind, events_assets[kind]) for kind in CLIENT_KINDS}
telemetry_assets = [*events_assets.values(), *report_assets.values()]

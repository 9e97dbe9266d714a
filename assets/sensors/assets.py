"""Sensor lineage: a device's readings -> windows -> autoencoder -> ONNX -> fp16 -> registered version.

Which device is the profile's business (``edgeline_contract/profile.py``): the simulated wind-turbine
fleet by default, or any profile stored with ingested readings (``edgeline ingest-sensors``).
"""

from datetime import date
from functools import partial
from typing import Any

import numpy as np
from dagster import (
    AssetDep,
    AssetExecutionContext,
    Config,
    DataVersion,
    MetadataValue,
    MultiPartitionKey,
    MultiToSingleDimensionPartitionMapping,
    Output,
    asset,
)
from pydantic import Field

from assets.conversion.assets import (
    PARITY_TOLERANCE,
    ExportPlan,
    GateInputs,
    Parity,
    build_export_asset,
    build_variant_asset,
)
from assets.conversion.variants import Variant, anomaly_agreement, anomaly_gate, convert_to_fp16
from assets.deployment.registration_asset import RegistrationFacts, build_registration_asset
from assets.metadata import rounded
from assets.partitions import sensor_days, sensor_profiles, sensor_readings
from assets.plots import histogram_plot, line_plot, png_markdown
from assets.sensors.data import (
    read_days,
    read_profile,
    record_profile,
    simulated_day,
    stored_days,
)
from assets.sensors.evaluation import error_baseline, evaluate_detector
from assets.sensors.features import (
    TEST,
    TRAIN,
    VALIDATION,
    Dataset,
    SplitSettings,
    decode_dataset,
    encode_dataset,
    prepare_dataset,
)
from assets.sensors.records import OUTPUT_NAMES, SensorFeatures, TrainedAutoencoder, input_spec
from edgeline_contract.profile import WIND_TURBINE
from edgeline_simulator.turbines import FleetSettings
from resources import layout
from resources.artifacts import ArtifactStore
from resources.store_resources import ArtifactStoreResource

GROUP = "sensors"


def check_partition_days(days: list[str]) -> None:
    """Readings must fall on a day partition (2020-01-01 to today) to be trained on."""
    valid = set(sensor_days.get_partition_keys())
    outside = [day for day in days if day not in valid]
    if outside:
        raise ValueError(
            f"readings dated {outside[:5]}{' ...' if len(outside) > 5 else ''} fall outside the "
            f"daily partitions ({sensor_days.start:%Y-%m-%d} to today): check the "
            "timestamps (and --date-format)"
        )


SENSOR_VARIANTS: tuple[Variant, ...] = (
    Variant(
        "fp16",
        partial(convert_to_fp16, float_processing=True),
        anomaly_gate(min_flag_agreement=0.995, max_error_relative_diff=0.25),
        "fp16 weights, fp32 inputs, outputs and feature scaling: half the download for the Pi.",
    ),
)


class RawSensorConfig(Config):
    turbines: int = Field(default=5, ge=1, description="Simulated turbines (wind-turbine only).")
    fault_rate: float = Field(default=1.0, ge=0, description="Fault episodes per turbine per day.")
    seed: int = 42


@asset(
    group_name=GROUP,
    kinds={"pandas", "parquet"},
    partitions_def=sensor_readings,
    description=(
        "One day of a profile's readings as Parquet under "
        "`raw/sensors/<profile>/date=YYYY-MM-DD/` (a partition per profile and day): what "
        "`edgeline ingest-sensors` stored for that day, or, for the built-in wind-turbine "
        "profile with nothing ingested, the simulated fleet's day. A run records one day or a "
        "range of one profile's days (`edgeline train-sensors` records a stretch of days in "
        "one run), each partition with its own metadata."
    ),
)
def raw_sensor_data(
    context: AssetExecutionContext, config: RawSensorConfig, artifacts: ArtifactStoreResource
) -> None:
    for key in context.partition_keys:
        assert isinstance(key, MultiPartitionKey)
        context.add_asset_metadata(_record_day(key, config, artifacts), partition_key=key)


def _record_day(
    key: MultiPartitionKey, config: RawSensorConfig, artifacts: ArtifactStore
) -> dict[str, Any]:
    """Check (or, for the simulated fleet, make) one partition's day of readings; returns the
    partition's metadata."""
    day = key.keys_by_dimension["day"]
    profile = read_profile(artifacts, key.keys_by_dimension["profile"])
    keys = stored_days(artifacts, profile.name).get(day, [])
    ingested = [k for k in keys if not layout.is_simulated_readings(k)]
    if ingested:
        (frame, repeated), source = read_days(artifacts, ingested), "ingested"
    elif profile == WIND_TURBINE:
        settings = FleetSettings(turbines=config.turbines, fault_rate=config.fault_rate)
        frame = simulated_day(date.fromisoformat(day), settings, config.seed)
        record_profile(artifacts, profile)
        repeated = 0
        artifacts.put_frame(layout.simulated_readings(profile.name, day), frame)
        source = "simulated"
    else:
        raise ValueError(
            f"no readings of profile {profile.name} for {day}: ingest them with "
            f"`edgeline ingest-sensors FILE --profile ...` (days stored: "
            f"{list(stored_days(artifacts, profile.name)) or 'none'})"
        )
    states = frame["state"].value_counts().to_dict()
    return rounded(
        {
            "profile": profile.name,
            "source": source,
            "rows": len(frame),
            "repeated_readings_dropped": repeated,
            "devices": int(frame["device_id"].nunique()),
            "first_reading": str(frame["timestamp"].min()),
            "last_reading": str(frame["timestamp"].max()),
            "missing_values": MetadataValue.json(
                {s: int(frame[s].isna().sum()) for s in profile.signal_names}
            ),
            "states": MetadataValue.json({str(k): int(v) for k, v in states.items()}),
            "labels": MetadataValue.json(
                {str(k): int(v) for k, v in frame["label"].value_counts().items()}
            ),
        }
    )


class SensorFeaturesConfig(Config):
    val_days: int = Field(default=2, ge=1)
    test_days: int = Field(default=3, ge=1)
    max_days: int = Field(default=30, ge=1, description="Use at most this many recent days.")
    unlabelled_as_normal: bool = Field(
        default=True,
        description=(
            "Train on unlabelled readings as if normal (the usual unsupervised assumption). "
            "Readings labelled anomalous never train."
        ),
    )


@asset(
    group_name=GROUP,
    kinds={"pandas", "numpy"},
    partitions_def=sensor_profiles,
    # a profile's training reads all of its days, and no other profile's
    deps=[
        AssetDep(
            raw_sensor_data,
            partition_mapping=MultiToSingleDimensionPartitionMapping(
                partition_dimension_name="profile"
            ),
        )
    ],
    description=(
        "Cleaned readings cut into windows of consecutive readings per device (the profile's "
        "window and interval), split by time: the newest days (or, for a short recording, the "
        "newest share of it) test, the ones before validate; training uses the oldest normal "
        "windows only. Scaling is fitted later, on training windows."
    ),
)
def sensor_features(
    context: AssetExecutionContext, config: SensorFeaturesConfig, artifacts: ArtifactStoreResource
) -> Output[SensorFeatures]:
    profile = read_profile(artifacts, context.partition_key)
    days = dict(list(stored_days(artifacts, profile.name).items())[-config.max_days :])
    if not days:
        raise ValueError(
            f"no readings of profile {profile.name}: materialise raw_sensor_data first"
        )
    frame, repeated = read_days(artifacts, [key for keys in days.values() for key in keys])
    if repeated:
        context.log.warning(
            "%d readings were ingested more than once (overlapping files); each counts once. "
            "Re-ingest corrections with --replace",
            repeated,
        )
    prepared = prepare_dataset(
        frame,
        profile,
        SplitSettings(val_days=config.val_days, test_days=config.test_days),
        config.unlabelled_as_normal,
    )
    data, version = encode_dataset(prepared.windows, prepared.split)
    key = layout.sensor_windows(profile.name, version)
    artifacts.put_bytes(key, data)
    record = SensorFeatures(
        key,
        version,
        profile.to_dict(),
        prepared.counts,
        config.unlabelled_as_normal,
        prepared.split_how,
        prepared.cleaning.__dict__,
    )
    first, last = next(iter(days)), next(reversed(days))
    context.log.info("windows %s from %d days (%s .. %s)", prepared.counts, len(days), first, last)
    return Output(
        record,
        data_version=DataVersion(version),
        metadata=rounded(
            {
                "profile": profile.name,
                "data_version": version,
                "days": len(days),
                "first_day": first,
                "last_day": last,
                "window": profile.window,
                "interval_s": profile.interval_s,
                "split": prepared.split_how,
                "repeated_readings_dropped": repeated,
                "windows": MetadataValue.json(prepared.counts),
                "cleaning": MetadataValue.json(prepared.cleaning.__dict__),
            }
        ),
    )


def _load_dataset(artifacts: ArtifactStore, features: SensorFeatures) -> Dataset:
    return decode_dataset(artifacts.get_bytes(features.key))


class AutoencoderConfig(Config):
    epochs: int = Field(default=25, ge=1)
    batch_size: int = Field(default=256, ge=8)
    learning_rate: float = Field(default=2e-3, gt=0)
    patience: int = Field(default=5, ge=1)
    threshold_percentile: float = Field(default=99.8, gt=50, lt=100)
    hidden: list[int] = Field(default=[64, 24, 8])
    seed: int = 0


@asset(
    group_name=GROUP,
    kinds={"pytorch"},
    partitions_def=sensor_profiles,
    description=(
        "Dense autoencoder trained on normal windows; anomaly threshold at a percentile of the "
        "validation windows' reconstruction error; scored on the held-out windows (precision, "
        "recall and F1 where they are labelled, the flag rate where they are not)."
    ),
)
def sensor_autoencoder(
    context: AssetExecutionContext,
    config: AutoencoderConfig,
    sensor_features: SensorFeatures,
    artifacts: ArtifactStoreResource,
) -> Output[TrainedAutoencoder]:
    from assets.conversion.weights import save_weights
    from assets.sensors.training import (
        AutoencoderSettings,
        reconstruction_error,
        train_autoencoder,
    )

    profile = sensor_features.sensor_profile
    data = _load_dataset(artifacts, sensor_features)
    settings = AutoencoderSettings(
        epochs=config.epochs,
        batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        patience=config.patience,
        threshold_percentile=config.threshold_percentile,
        hidden=tuple(config.hidden),
        seed=config.seed,
    )
    result = train_autoencoder(
        data.normal(TRAIN, sensor_features.unlabelled_as_normal),
        data.normal(VALIDATION, sensor_features.unlabelled_as_normal),
        profile.window,
        len(profile.signals),
        settings,
        context.log.info,
    )
    test = data.split == TEST
    errors = reconstruction_error(result.model, data.values[test])
    metrics = evaluate_detector(
        errors, result.threshold, data.state[test], data.label[test], data.labels
    )
    metrics["best_epoch"] = result.best_epoch
    weights_key = layout.run_weights(profile.model, context.run.run_id)
    save_weights(result.model, artifacts, weights_key)
    curves = line_plot(
        {
            "train": [h["train_loss"] for h in result.history],
            "val": [h["val_loss"] for h in result.history],
        },
        "reconstruction loss",
        "epoch",
        "mean squared error (scaled)",
    )
    anomalous = data.state[test] == 1
    histogram = histogram_plot(
        {
            "not anomalous": np.log10(errors[~anomalous] + 1e-6),
            "anomalous": np.log10(errors[anomalous] + 1e-6),
        },
        "held-out reconstruction error",
        "log10 error",
        marker=float(np.log10(result.threshold)),
    )
    context.log.info("held-out: %s", metrics)
    scores = {k: metrics[k] for k in ("precision", "recall", "f1") if k in metrics}
    return Output(
        TrainedAutoencoder(
            weights_key,
            profile.window,
            len(profile.signals),
            settings.hidden,
            result.threshold,
            metrics,
        ),
        metadata=rounded(
            {
                "profile": profile.name,
                "evaluation": metrics["evaluation"],
                "threshold": result.threshold,
                "flag_rate": metrics["flag_rate"],
                **scores,
                "recall_by_label": MetadataValue.json(metrics.get("recall_by_label", {})),
                "epochs_run": len(result.history),
                "train_seconds": round(result.seconds, 1),
                "loss_curve": MetadataValue.md(png_markdown(curves, "loss")),
                "error_histogram": MetadataValue.md(png_markdown(histogram, "errors")),
            }
        ),
    )


def _export_plan(artifacts: ArtifactStore, upstream: dict[str, Any]) -> ExportPlan:
    """The detector with its threshold: flags must agree with PyTorch's (but where an error lies
    within the tolerance of the threshold) and errors up to twice the threshold too."""
    import torch

    from assets.conversion.weights import load_weights
    from assets.sensors.model import AnomalyDetector

    trained: TrainedAutoencoder = upstream["sensor_autoencoder"]
    features: SensorFeatures = upstream["sensor_features"]
    profile = features.sensor_profile
    data = _load_dataset(artifacts, features)
    test_values = data.part(TEST)
    module = AnomalyDetector(trained.window, trained.signals, trained.hidden)
    module = load_weights(module, artifacts, trained.weights_key)

    def parity(torch_out: list[np.ndarray], onnx_out: list[np.ndarray]) -> Parity:
        metrics = anomaly_agreement(torch_out, onnx_out, trained.threshold, PARITY_TOLERANCE)
        failures = []
        if metrics["flags_changed_away_from_threshold"]:
            failures.append(
                f"{metrics['flags_changed_away_from_threshold']} anomaly flags differ from "
                "PyTorch's away from the threshold"
            )
        if metrics["error_relative_diff_max"] > PARITY_TOLERANCE:
            failures.append(
                f"error relative diff vs PyTorch {metrics['error_relative_diff_max']:.3g} > "
                f"{PARITY_TOLERANCE}"
            )
        return Parity(not failures, metrics, tuple(failures))

    return ExportPlan(
        model_name=profile.model,
        module=module,
        example=test_values[:1],
        input=input_spec(profile),
        outputs=OUTPUT_NAMES,
        onnx_metadata={"signals": ",".join(profile.signal_names), "model": profile.model},
        test_inputs=test_values,
        baseline_inputs=data.normal(VALIDATION, features.unlabelled_as_normal),
        reference=lambda values: [t.numpy() for t in module(torch.from_numpy(values))],
        parity=parity,
        baseline=lambda outputs: error_baseline(outputs[1], trained.threshold),
        weights_key=trained.weights_key,
        batch_size=4096,
    )


sensor_autoencoder_onnx = build_export_asset(
    name="sensor_autoencoder_onnx",
    group=GROUP,
    partitions_def=sensor_profiles,
    inputs=("sensor_autoencoder", "sensor_features"),
    plan=_export_plan,
    parity_description=(
        "fp32 ONNX vs PyTorch on held-out windows: the same flags (but where the error is "
        "within 1e-4 of the threshold), errors within 1e-4 relative up to twice it."
    ),
    description=(
        "The detector as one ONNX file: a raw window in the device's units in; smoothing, scaling, "
        "autoencoder and threshold inside; reconstruction, error and anomaly flag out."
    ),
)


def _variant_inputs(artifacts: ArtifactStore, inputs: dict[str, Any]) -> GateInputs:
    """The held-out windows (flags are judged against fp32's, so no labels)."""
    return GateInputs(_load_dataset(artifacts, inputs["sensor_features"]).part(TEST))


variant_assets = [
    build_variant_asset(
        variant,
        asset_prefix="sensor_autoencoder",
        group=GROUP,
        partitions_def=sensor_profiles,
        data_inputs=("sensor_features",),
        load_inputs=_variant_inputs,
    )
    for variant in SENSOR_VARIANTS
]


def _registration_facts(upstream: dict[str, Any]) -> RegistrationFacts:
    trained: TrainedAutoencoder = upstream["sensor_autoencoder"]
    features: SensorFeatures = upstream["sensor_features"]
    profile = features.sensor_profile
    headline = {k: trained.metrics[k] for k in ("f1", "flag_rate") if k in trained.metrics}
    return RegistrationFacts(
        model=profile.model,
        description=(
            f"{profile.name} anomaly autoencoder, {profile.window}-reading windows of "
            f"{len(profile.signals)} signals every {profile.interval_s:g} s"
        ),
        task={
            "kind": "anomaly-detection",
            "signals": list(profile.signal_names),
            "window": profile.window,
            "threshold": trained.threshold,
            "interval_s": profile.interval_s,
            "profile": profile.to_dict(),
            "evaluation": trained.metrics["evaluation"],
        },
        metrics=trained.metrics,
        data_version=features.data_version,
        weights_key=trained.weights_key,
        headline={**headline, "threshold": trained.threshold},
    )


registered_sensor_autoencoder = build_registration_asset(
    name="registered_sensor_autoencoder",
    group=GROUP,
    partitions_def=sensor_profiles,
    asset_prefix="sensor_autoencoder",
    variants=SENSOR_VARIANTS,
    inputs=("sensor_autoencoder", "sensor_features"),
    facts=_registration_facts,
    description=(
        "A new version of the profile's model (turbine-autoencoder by default) in the model "
        "registry, PendingManualApproval: variants, threshold, the profile (signals, units, "
        "interval, window), held-out evaluation, baseline error distribution, lineage."
    ),
)


sensor_assets = [
    raw_sensor_data,
    sensor_features,
    sensor_autoencoder,
    sensor_autoencoder_onnx,
    *variant_assets,
    registered_sensor_autoencoder,
]

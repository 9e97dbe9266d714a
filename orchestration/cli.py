"""Edgeline's command line: declare models and bring their data, train them, approve or reject
their versions, review shared images, and run the demo or the Dagster UI with a gateway and a
fleet. Each command has its own --help."""

import argparse
import getpass
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from resources import layout
from resources.environment import build_resources, dagster_home
from resources.errors import EdgelineError

if TYPE_CHECKING:
    from dagster import DagsterInstance

    from edgeline_contract.profile import SensorProfile
    from resources.artifacts import ArtifactStore
    from resources.registry import ModelRegistry


def run_demo(args: argparse.Namespace) -> int:
    """The whole loop on the current environment (orchestration/demo.py)."""
    from orchestration.demo import QUICK, DemoSettings, run_demo

    return run_demo(QUICK if args.quick else DemoSettings())


def _instance_with_models(store) -> "DagsterInstance":
    """The persistent Dagster instance, with every declared model a partition."""
    from dagster import DagsterInstance

    from orchestration.models import add_model_partitions

    instance = DagsterInstance.from_config(str(dagster_home()))
    add_model_partitions(instance, store)
    return instance


def run_ingest_images(args: argparse.Namespace) -> int:
    """Copy a user's <label>/<image> folder into a model's images (declared if it is new)."""
    from assets.catalog import ModelSpec, declare_model, find_model
    from assets.vision.dataset import ingest_image_folder

    store = build_resources()["artifacts"]
    try:
        spec = find_model(store, args.model) or declare_model(store, ModelSpec(args.model, "image"))
    except EdgelineError as error:
        print(f"error: {error}")
        return 2
    if spec.kind != "image":
        print(f"error: {spec.name} is a {spec.kind} model: images train image models")
        return 2
    copied, left_out = ingest_image_folder(Path(args.folder), store, layout.model_images(spec.name))
    for path, reason in left_out:
        print(f"left out {path}: {reason}")
    total = sum(copied.values())
    print(f"copied {total} images in {len(copied)} classes into {spec.name}: {copied}")
    _instance_with_models(store).dispose()
    print(f"Next: `edgeline train-images --model {spec.name}` trains, gates and registers it.")
    return 0 if total else 1


def _parse_settings(pairs: list[str]) -> dict[str, object]:
    """``KEY=VALUE`` settings (training, guardrails), values read as JSON where they parse
    (numbers, true)."""
    import json

    settings: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--set {pair!r}: use KEY=VALUE, e.g. --set augment=upright")
        try:
            settings[key] = json.loads(value)
        except json.JSONDecodeError:
            settings[key] = value
    return settings


def run_models(args: argparse.Namespace) -> int:
    """Declare a model, or list every model with its data, versions, channels and clients."""
    from assets.catalog import ModelSpec, declare_models, declared_models, load_model_specs

    resources = build_resources()
    store = resources["artifacts"]
    if args.action == "add":
        if bool(args.name) == bool(args.file):
            print(
                "error: models add needs NAME (with --kind, --profile or --set KEY=VALUE) or --file"
            )
            return 2
        from assets.vision.assets import training_settings

        try:
            specs = (
                load_model_specs(Path(args.file))
                if args.file
                else [
                    ModelSpec(
                        args.name,
                        args.kind,
                        description=args.description,
                        training=_parse_settings(args.set),
                        profile=args.profile,
                    )
                ]
            )
            for spec in specs:  # every bad setting is named before anything is declared
                if spec.kind == "image":
                    training_settings(spec)
            declared = declare_models(store, specs, replace=args.replace)
        except (EdgelineError, ValueError) as error:
            print(f"error: {error}")
            return 2
        _instance_with_models(store).dispose()
        for spec in declared:
            settings = spec.training or spec.profile or "defaults"
            print(f"declared {spec.kind} model {spec.name}: {settings}")
        return 0
    from orchestration.models import model_overview

    _instance_with_models(store).dispose()  # a home from before models were declared: adopted
    for line in model_overview(declared_models(store), store, resources["registry"]):
        print(line)
    return 0


def run_train_images(args: argparse.Namespace) -> int:
    """Train, convert, gate and register one image model: its partition of the vision lineage."""
    from assets.catalog import read_model
    from orchestration.definitions import build_definitions
    from orchestration.demo import LOGGERS
    from orchestration.jobs import retrain_image_classifier

    defs = build_definitions(build_resources())
    store, registry = defs.resources["artifacts"], defs.resources["registry"]
    try:
        spec = read_model(store, args.model, "image")
    except EdgelineError as error:
        print(f"error: {error}")
        return 2
    config = {"loggers": LOGGERS, "ops": {"raw_images": {"config": {}}}}
    if args.epochs:
        config["ops"]["image_classifier"] = {"config": {"epochs": args.epochs}}
    with _instance_with_models(store) as instance:
        result = defs.resolve_job_def(retrain_image_classifier.name).execute_in_process(
            run_config=config, instance=instance, partition_key=spec.name, raise_on_error=False
        )
    if not result.success:
        print(f"error: training {spec.name} failed (run {result.run_id}): {_failure(result)}")
        return 1
    registered = result.output_for_node("registered_image_classifier")
    card = registry.get_model_card(registered["model"], registered["version"])
    print(
        f"registered {registered['model']} v{registered['version']} ({registered['status']}): "
        f"test accuracy {card['metrics']['test_accuracy']:.3f}, variants "
        f"{', '.join(v['precision'] for v in card['variants'])}"
    )
    print(
        f"Next: `edgeline registry approve {registered['model']} {registered['version']} "
        "--reason TEXT` publishes it."
    )
    return 0


def _failure(result) -> str:
    """The cause of a failed run's first failed step (Dagster's wrappers taken off)."""
    failure = next((e for e in result.all_events if e.is_step_failure), None)
    error = failure.event_specific_data.error if failure else None
    while error is not None and error.cause is not None:
        error = error.cause
    return error.message.strip() if error else "see the run in the Dagster UI"


def run_images(args: argparse.Namespace) -> int:
    """The review queue of shared images: list it, accept some into the images of the model
    each was shared for, reject some."""
    from assets.vision.review import (
        ReviewError,
        accept_images,
        classes,
        pending_images,
        reject_images,
        suggested_labels,
    )

    store = build_resources()["artifacts"]
    pending = pending_images(store)
    if args.action == "review":
        for image in pending:
            print(
                f"{image.key}  for: {image.model}  suggested: {image.suggested_label or '-'}  "
                f"from: {image.uploader or '-'}  {image.bytes / 1e3:.0f} kB"
            )
        print(
            f"{len(pending)} shared images wait for review; by suggested label: "
            f"{suggested_labels(pending)}"
        )
        for model in sorted({image.model for image in pending}):
            print(f"classes of {model} now: {', '.join(sorted(classes(store, model))) or 'none'}")
        return 0
    keys = list(args.keys)
    if args.suggested:
        keys += [i.key for i in pending if (i.suggested_label or "") == args.suggested]
    keys = list(dict.fromkeys(keys))  # a key named and also suggested counts once
    try:
        if args.action == "accept":
            targets = accept_images(store, keys, args.by, args.label, args.new_class)
            print(f"accepted {len(targets)} images: {', '.join(targets)}")
            print("`edgeline train-images --model NAME` trains on them.")
        else:
            print(f"rejected {reject_images(store, keys, args.by, args.reason)} images")
    except ReviewError as error:  # raised before anything moves
        print(f"error: {error}")
        print("nothing was changed")
        return 2
    return 0


def _sensor_profile(spec: str, store: object) -> "SensorProfile":
    """A profile file (.yaml, .toml, .json) or the name of a stored or built-in profile."""
    from assets.catalog import DOCUMENT_SUFFIXES, load_profile
    from assets.sensors.data import read_profile

    path = Path(spec)
    if path.suffix.lower() in DOCUMENT_SUFFIXES or path.is_file():
        return load_profile(path)
    return read_profile(store, spec)


def run_ingest_sensors(args: argparse.Namespace) -> int:
    """Check a user's CSV/Parquet readings against a sensor profile and store them by day."""
    from dataclasses import replace

    from assets.sensors.assets import check_partition_days
    from assets.sensors.data import Labels, load_sensor_file, store_ingested_readings

    try:
        pairs = [pair.split("=", 1) for pair in args.map.split(",") if pair.strip()]
        mapping = {field.strip(): column.strip() for field, column in pairs}
    except ValueError:
        print(f"error: --map {args.map!r}: expected FIELD=COLUMN pairs separated by commas")
        return 2
    store = build_resources()["artifacts"]
    try:
        profile = _sensor_profile(args.profile, store)
        if args.interval is not None:
            profile = replace(profile, interval_s=args.interval)
        labels = Labels(
            column=args.label_column,
            normal=tuple(v.strip() for v in (args.normal or "").split(",") if v.strip()),
            all_normal=args.all_normal,
        )
        frame, report = load_sensor_file(
            Path(args.file), profile, mapping, labels, args.max_out_of_range, args.date_format
        )
        for line in report.lines():
            print(line)
        check_partition_days(sorted({d.isoformat() for d in frame["timestamp"].dt.date}))
        days = store_ingested_readings(frame, profile, store, replace=args.replace)
    except ValueError as error:  # ProfileError and SensorDataError: the cause, nothing stored
        print(f"error: {error}")
        print("nothing was stored")
        return 2
    print(
        f"stored {len(frame)} readings of profile {profile.name} for {len(days)} day(s): "
        f"{', '.join(days)}{' (replacing what those days held)' if args.replace else ''}"
    )
    _instance_with_models(store).dispose()  # its model is a partition of the sensor lineage
    print(
        f"Next: `edgeline train-sensors --profile {profile.name}` trains {profile.model} on them."
    )
    return 0


def run_train_sensors(args: argparse.Namespace) -> int:
    """The sensor lineage for one profile, on the persistent instance (so the UI shows it)."""
    from dagster import BetaWarning

    from assets.sensors.assets import check_partition_days
    from assets.sensors.data import read_profile, stored_days
    from orchestration.definitions import build_definitions
    from orchestration.demo import LOGGERS  # progress, not Dagster's debug events
    from orchestration.jobs import record_readings, retrain_sensor_autoencoder

    warnings.filterwarnings("ignore", category=BetaWarning)  # Output(data_version=...)
    defs = build_definitions(build_resources())
    store, registry = defs.resources["artifacts"], defs.resources["registry"]
    try:  # a stored profile's name, or the file it was ingested with
        profile = read_profile(store, _sensor_profile(args.profile, store).name)
    except ValueError as error:
        print(f"error: {error}")
        return 2
    days = list(stored_days(store, profile.name))
    if not days:
        print(f"error: profile {profile.name}: no readings stored; run `edgeline ingest-sensors`")
        return 2
    try:
        check_partition_days(days)
    except ValueError as error:
        print(f"error: profile {profile.name}: {error}")
        return 2
    config = {
        "loggers": LOGGERS,
        "ops": {
            "sensor_features": {"config": {"unlabelled_as_normal": not args.no_unlabelled}},
            "sensor_autoencoder": {"config": {"epochs": args.epochs}},
        },
    }
    with _instance_with_models(store) as instance:
        runs = record_readings(defs, instance, profile.name, days, {"loggers": LOGGERS})
        if not runs[-1].success:
            print(f"error: recording {profile.name}'s days failed (run {runs[-1].run_id})")
            return 1
        print(
            f"recorded {len(days)} day(s) of {profile.name} readings ({days[0]} .. {days[-1]}) "
            f"in {len(runs)} run(s): one per unbroken stretch of days"
        )
        result = defs.resolve_job_def(retrain_sensor_autoencoder.name).execute_in_process(
            run_config=config,
            instance=instance,
            partition_key=profile.name,
            raise_on_error=False,
        )
    if not result.success:
        print(f"error: training {profile.model} failed (run {result.run_id}): {_failure(result)}")
        return 1
    registered = result.output_for_node("registered_sensor_autoencoder")
    card = registry.get_model_card(registered["model"], registered["version"])
    metrics = card["metrics"]
    quality = (
        f"held-out F1 {metrics['f1']:.3f} (precision {metrics['precision']:.3f}, recall "
        f"{metrics['recall']:.3f})"
        if metrics["evaluation"] == "labelled"
        else f"unlabelled: threshold {metrics['threshold']:.4g}, flags {metrics['flag_rate']:.2%} "
        "of held-out windows"
    )
    print(
        f"registered {registered['model']} v{registered['version']} ({registered['status']}): {quality}"
    )
    print(
        f"Next: `edgeline registry approve {registered['model']} {registered['version']} "
        "--reason TEXT` publishes it to the devices."
    )
    return 0


def run_forget_sensors(args: argparse.Namespace) -> int:
    """Remove a profile's stored readings (and the profile), e.g. after a wrong ingest."""
    from assets.sensors.data import forget_readings, stored_days
    from edgeline_contract.profile import NAME

    if not NAME.match(args.profile):
        print(f"error: {args.profile!r} is not a profile name (lowercase letters, digits, '-')")
        return 2
    store = build_resources()["artifacts"]
    days = list(stored_days(store, args.profile))
    if not store.list_keys(layout.sensor_readings(args.profile)):
        print(f"error: nothing is stored for profile {args.profile}")
        return 2
    if not args.yes:
        print(
            f"profile {args.profile} has readings for {len(days)} day(s)"
            f"{f' ({days[0]} .. {days[-1]})' if days else ''}; add --yes to remove them and the "
            "profile (datasets and models trained on them stay)"
        )
        return 2
    print(f"removed {forget_readings(store, args.profile)} file(s) of profile {args.profile}")
    return 0


def rollout_lines(rollout, verdict) -> list[str]:
    """A rollout as a person reads it: where it stands, each guardrail, and what comes next."""
    if rollout is None:
        return ["no rollout was ever started for this model"]
    stable = f"v{rollout.stable}" if rollout.stable is not None else "no version"
    lines = [
        f"{rollout.model}: v{rollout.candidate} {rollout.state} on {rollout.share:.0%} of "
        f"clients (step {rollout.step + 1} of {len(rollout.steps)}: "
        f"{', '.join(f'{s:.0%}' for s in rollout.steps)}), {stable} for the others"
    ]
    if rollout.guardrails:
        settings = ", ".join(f"{k}={v}" for k, v in sorted(rollout.guardrails.items()))
        lines.append(f"guardrail settings of this rollout: {settings} (the others default)")
    if verdict is not None:
        lines.append(
            f"this step: {verdict.baked_s / 60:.1f} of {rollout.baking_s / 60:.1f} min baked; "
            f"clients seen: {verdict.candidate_clients} on v{rollout.candidate}, "
            f"{verdict.stable_clients} on other versions"
        )
        lines += [f"  {r.name}: {r.verdict}: {r.detail}" for r in verdict.results]
        lines.append(
            f"decision: {verdict.decision}"
            + (f" (waiting for {verdict.waiting_for})" if verdict.decision == "wait" else "")
        )
    last = rollout.history[-1]
    lines.append(f"last: {last['event']} by {last['by']} at {last['at']}: {last['why']}")
    return lines


def run_rollout(args: argparse.Namespace) -> int:
    """Start, inspect, guard, promote, pause, resume or abort a model's staged rollout."""
    from assets.deployment.canary import guard_rollout, judge_rollout
    from assets.deployment.planning import act_on_rollout, start_rollout
    from assets.deployment.rollout import read_rollout

    resources = build_resources()
    registry, artifacts = resources["registry"], resources["artifacts"]
    telemetry = resources["telemetry"]
    try:
        if args.action == "start":
            if args.version is None or not args.reason.strip():
                print("error: rollout start needs MODEL VERSION --reason TEXT")
                return 2
            steps = tuple(float(s) for s in args.steps.split(","))
            rollout = start_rollout(
                registry, artifacts, args.model, args.version, args.by, args.reason,
                steps=steps, baking_s=args.baking_s, guardrails=_parse_settings(args.set),
            )  # fmt: skip
            verdict = None
        elif args.action == "status":
            rollout = read_rollout(artifacts, args.model)
            running = rollout is not None and rollout.running
            verdict = judge_rollout(rollout, registry, telemetry) if running else None
        elif args.action == "guard":
            rollout, verdict = guard_rollout(registry, artifacts, telemetry, args.model)
        else:
            if not args.reason.strip():
                print(f"error: rollout {args.action} needs --reason TEXT")
                return 2
            rollout = act_on_rollout(
                registry, artifacts, args.model, args.action, args.by, args.reason
            )
            verdict = None
    except (EdgelineError, ValueError) as error:
        print(f"error: {error}")
        return 2
    print("\n".join(rollout_lines(rollout, verdict)))
    return 0


def run_registry(args: argparse.Namespace) -> int:
    """List versions, or approve/reject one, through the ModelRegistry resource."""
    resources = build_resources()
    registry, artifacts = resources["registry"], resources["artifacts"]
    if args.action == "list":
        return _list_versions(registry, artifacts, args.model)
    if not args.model or args.version is None or not args.reason.strip():
        print(f"error: registry {args.action} needs MODEL VERSION --reason TEXT")
        return 2
    from assets.deployment.planning import decide_version

    try:
        changed, before, after = decide_version(
            registry, artifacts, args.model, args.version, args.action, args.reason, args.by
        )
    except EdgelineError as error:
        print(f"error: {error}")
        return 2
    print(f"{changed.model} v{changed.version} is now {changed.status}")
    moved = "unchanged" if before == after else "moved"
    print(f"stable channel {moved}: {_named(before)} -> {_named(after)}")
    from orchestration.live_versions import record_live_versions

    with _instance_with_models(artifacts) as instance:  # shown in the UI, not only here
        record_live_versions(instance, registry, artifacts)
    return 0


def _named(version: int | None) -> str:
    return f"v{version}" if version else "no version"


LIVE = "  <- live: the stable channel serves it"


def _list_versions(registry: "ModelRegistry", artifacts: "ArtifactStore", model: str | None) -> int:
    """Every version of ``model`` (or of every model) with its status, the one the stable
    channel serves marked (its pointer, as clients read it); a line where it serves none."""
    from assets.deployment.publish import read_channel

    models = [model] if model else registry.list_models()
    try:
        versions = {name: registry.list_versions(name) for name in models}
    except EdgelineError as error:
        print(f"error: {error}")
        return 2
    for name, listed in versions.items():
        pointer = read_channel(artifacts, name)
        live = pointer.get("version") if pointer else None
        for v in listed:
            note = f" ({v.status_reason}, by {v.status_by})" if v.status_by else ""
            print(
                f"{v.model} v{v.version}  {v.status}{note}  registered "
                f"{v.created_at:%Y-%m-%d %H:%M}{LIVE if v.version == live else ''}"
            )
        if live is None:
            print(f"{name}: {'no version is live' if pointer else 'never published'}")
    return 0


def run_dev(args: argparse.Namespace) -> int:
    """The UI and daemon, the gateway with the page, and a small fleet (orchestration/dev.py)."""
    from orchestration.dev import run_dev

    return run_dev(args.host, args.port, args.gateway_port, args.fleet)


class DefaultsHelp(argparse.HelpFormatter):
    """Help that ends each option's text with its default, where it has one to show."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "%(default)" in text or action.default in (None, False, [], "", argparse.SUPPRESS):
            return text
        return f"{text} (default: %(default)s)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edgeline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo", help="the whole loop: train, approve, publish, a live fleet and page, reports"
    )
    demo.add_argument("--quick", action="store_true", help="a small, fast version (for tests)")
    demo.set_defaults(handler=run_demo)
    ingest = commands.add_parser(
        "ingest-images", help="copy a <label>/<image> folder into an image model's images"
    )
    ingest.add_argument("folder", help="folder with one sub-folder of images per label")
    ingest.add_argument(
        "--model",
        default="image-classifier",
        help="the image model they train, declared with default settings if new",
    )
    ingest.set_defaults(handler=run_ingest_images)
    models = commands.add_parser(
        "models", help="declare a model, or list every model with its data and versions"
    )
    models.add_argument("action", choices=["list", "add"], help="list them, or declare one")
    models.add_argument("name", nargs="?", help="add: the model's name (letters, digits, '-')")
    models.add_argument(
        "--kind", choices=["image", "sensor"], default="image", help="add: what it learns from"
    )
    models.add_argument("--profile", help="sensor: the stored profile whose readings train it")
    models.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="image: a training setting (augment=upright, preset=fast, image_size=96, "
        "epochs=20, ...); repeat for more",
    )
    models.add_argument("--description", default="", help="add: a line about the model")
    models.add_argument(
        "--file", help="add: a spec file (YAML, TOML, JSON) declaring one model or a list"
    )
    models.add_argument("--replace", action="store_true", help="change a declared model")
    models.set_defaults(handler=run_models)
    train_images = commands.add_parser(
        "train-images",
        help="train, convert, gate and register an image model (one run)",
        description="Runs the vision lineage for one declared image model (its partition of "
        "retrain_image_classifier) in one run, on the persistent Dagster instance, so the UI "
        "shows it; the new version waits for `edgeline registry approve`.",
    )
    train_images.add_argument(
        "--model", default="image-classifier", help="a declared image model's name"
    )
    train_images.add_argument(
        "--epochs", type=int, help="override the model's declared epochs (default: declared)"
    )
    train_images.set_defaults(handler=run_train_images)
    images = commands.add_parser(
        "images",
        help="review images that web pages and devices shared: only accepted ones ever train",
    )
    images.add_argument(
        "action", choices=["review", "accept", "reject"], help="list the queue, or decide"
    )
    images.add_argument("keys", nargs="*", help="image keys, as `images review` lists them")
    images.add_argument(
        "--suggested", help="also every waiting image whose suggested label is this one"
    )
    images.add_argument("--label", help="accept: file them under this class (default: suggested)")
    images.add_argument(
        "--new-class", action="store_true", help="accept: a label that is not a class yet"
    )
    images.add_argument("--reason", default="", help="reject: why")
    images.add_argument("--by", default=getpass.getuser(), help="who decides")
    images.set_defaults(handler=run_images)
    sensors = commands.add_parser(
        "ingest-sensors",
        help="check a CSV/Parquet file of a device's readings against a sensor profile and store it",
    )
    sensors.add_argument("file", help="a CSV or Parquet file of readings")
    sensors.add_argument(
        "--profile",
        default="wind-turbine",
        help="a profile file (.yaml, .toml), or a stored profile's name",
    )
    sensors.add_argument(
        "--map",
        default="",
        help="FIELD=COLUMN pairs where the file's names differ from the profile's, e.g. "
        "timestamp=Time,device_id=Unit,pressure_bar=P1",
    )
    sensors.add_argument("--label-column", help="the column that says which readings are normal")
    sensors.add_argument(
        "--normal", help="the label column's values that mean normal, e.g. ok,idle"
    )
    sensors.add_argument(
        "--all-normal", action="store_true", help="every reading in the file is normal"
    )
    sensors.add_argument(
        "--interval", type=float, help="seconds between readings, if not the profile's"
    )
    sensors.add_argument(
        "--date-format",
        help="the timestamps' strftime format when not ISO 8601, e.g. '%%d/%%m/%%Y %%H:%%M:%%S' "
        "(without it, 01/12/2026 is read month first: January 12)",
    )
    sensors.add_argument(
        "--replace",
        action="store_true",
        help="the file's days hold only its readings afterwards (a corrected export)",
    )
    sensors.add_argument(
        "--max-out-of-range",
        type=float,
        default=0.05,
        help="the share of a signal's values outside its range that stops the ingest",
    )
    sensors.set_defaults(handler=run_ingest_sensors)
    train = commands.add_parser(
        "train-sensors",
        help="train, convert, gate and register a profile's anomaly model (two runs)",
        description="Records the profile's stored days (raw_sensor_data: one run for an "
        "unbroken stretch of days, one more for each gap between them), then runs the sensor "
        "lineage for the profile's partition (retrain_sensor_autoencoder) in one run, on the "
        "persistent Dagster instance, so the UI shows them; the new version waits for "
        "`edgeline registry approve`.",
    )
    train.add_argument(
        "--profile", default="wind-turbine", help="a stored profile's name, or its file"
    )
    train.add_argument("--epochs", type=int, default=25, help="training epochs")
    train.add_argument(
        "--no-unlabelled",
        action="store_true",
        help="train on readings labelled normal only (by default unlabelled ones count as normal)",
    )
    train.set_defaults(handler=run_train_sensors)
    forget = commands.add_parser(
        "forget-sensors", help="remove a profile's stored readings and the profile"
    )
    forget.add_argument("profile", help="the stored profile's name")
    forget.add_argument("--yes", action="store_true", help="really remove them")
    forget.set_defaults(handler=run_forget_sensors)
    registry = commands.add_parser(
        "registry",
        help="list model versions (the live one marked), approve or reject one",
        description="An approval publishes the version and moves the stable channel to it at "
        "once; a rejection of the live version moves it back to the newest approved one.",
    )
    registry.add_argument(
        "action",
        choices=["list", "approve", "reject"],
        help="list: every version with its status; approve or reject: MODEL VERSION --reason",
    )
    registry.add_argument("model", nargs="?", help="the model (list: all when left out)")
    registry.add_argument("version", nargs="?", type=int, help="approve, reject: its number")
    registry.add_argument(
        "--reason", default="", help="approve, reject: why (required; kept in the registry)"
    )
    registry.add_argument("--by", default=getpass.getuser(), help="who decides")
    registry.set_defaults(handler=run_registry)
    rollout = commands.add_parser(
        "rollout",
        help="a staged rollout: a canary share of the fleet first, judged by its telemetry",
        description="start: approve (if pending) and publish VERSION to the first step's share "
        "of clients while the stable channel keeps the others; status: where it stands and each "
        "guardrail; guard: judge the guardrails now and act (abort on a breach, promote one "
        "step when all are within bounds after the bake), as the rollout sensor does; promote, "
        "pause, resume, abort: a person's decision (an abort rejects the version).",
    )
    rollout.add_argument(
        "action", choices=["start", "status", "guard", "promote", "pause", "resume", "abort"]
    )
    rollout.add_argument("model", help="the model")
    rollout.add_argument("version", nargs="?", type=int, help="start: the version to roll out")
    rollout.add_argument("--reason", default="", help="start, promote, pause, resume, abort: why")
    rollout.add_argument("--by", default=getpass.getuser(), help="who decides")
    rollout.add_argument(
        "--steps", default="0.05,0.25,1", help="start: the shares, growing, ending at 1"
    )
    rollout.add_argument(
        "--baking-s",
        type=float,
        default=3600.0,
        help="start: how long each step runs with every guardrail within bounds",
    )
    rollout.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="start: a guardrail setting for this rollout (min_clients=1, min_events=100, "
        "max_latency_ratio=2, ...; assets/deployment/guardrails.py says why each default is "
        "what it is); repeat for more",
    )
    rollout.set_defaults(handler=run_rollout)
    dev = commands.add_parser(
        "dev", help="the Dagster UI and daemon, the gateway with the web page, a simulated fleet"
    )
    dev.add_argument("--host", default="127.0.0.1", help="the address everything listens on")
    dev.add_argument("--port", type=int, default=3000, help="the Dagster UI's port")
    dev.add_argument("--gateway-port", type=int, default=8000, help="the gateway's port")
    dev.add_argument("--fleet", type=int, default=3, help="simulated Pi agents")
    dev.set_defaults(handler=run_dev)
    for command in commands.choices.values():
        command.formatter_class = DefaultsHelp
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())

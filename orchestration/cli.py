"""The ``edgeline`` command: the demo, the Dagster UI, and (later) registry decisions."""

import argparse
import getpass
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from orchestration.environment import (
    REPO_ROOT,
    build_resources,
    dagster_home,
    edgeline_env,
    edgeline_home,
)
from orchestration.jobs import DEMO_RUN_CONFIG, DEMO_SENSOR_DAYS
from resources.errors import EdgelineError


def run_demo(args: argparse.Namespace) -> int:
    """Record sensor days, run the lifecycle, then approve and publish: all in-process against
    the persistent local instance, so `make dev` shows every run afterwards."""
    os.environ["DAGSTER_HOME"] = str(dagster_home())
    from dagster import DagsterInstance

    from orchestration.definitions import defs

    print(f"Edgeline demo: EDGELINE_ENV={edgeline_env()}, data under {edgeline_home()}")
    started = time.monotonic()
    quiet = {"loggers": DEMO_RUN_CONFIG["loggers"]}
    today = datetime.now(UTC).date()
    with DagsterInstance.get() as instance:
        for offset in range(DEMO_SENSOR_DAYS, 0, -1):
            day = (today - timedelta(days=offset)).isoformat()
            recorded = defs.resolve_job_def("sensor_data").execute_in_process(
                run_config=quiet, instance=instance, partition_key=day, raise_on_error=False
            )
            if not recorded.success:
                print(f"recording turbine readings for {day} FAILED (run {recorded.run_id})")
                return 1
        print(f"recorded {DEMO_SENSOR_DAYS} days of turbine readings")
        result = defs.resolve_job_def("lifecycle").execute_in_process(
            run_config=DEMO_RUN_CONFIG, instance=instance, raise_on_error=False
        )
        status = "succeeded" if result.success else "FAILED"
        print(
            f"\nlifecycle job {status} in {time.monotonic() - started:.1f} s (run {result.run_id})"
        )
        if not result.success:
            return 1
        registry = defs.resources["registry"]
        print_registry_summary(registry)
        if not approve_and_publish(defs, instance, registry):
            return 1
    print(f"\ndemo finished in {time.monotonic() - started:.1f} s")
    print("Browse the lineage, metadata and plots with `make dev` (the Dagster UI).")
    return 0


def approve_and_publish(defs, instance, registry) -> bool:
    """Stand in for the QA engineer: approve each pending version, then let the registry sensor
    (evaluated once, with Dagster's own API) publish them."""
    from assets.deployment.publish import read_channel
    from orchestration.sensors import run_registry_sensor_once
    from resources.registry import PENDING

    print("\nApproving the new versions (the demo stands in for the QA engineer here):")
    for model in registry.list_models():
        for version in registry.list_versions(model, PENDING):
            registry.approve(model, version.version, reason="demo: metrics reviewed", by="demo-qa")
            print(f"  approved {model} v{version.version}")
    cursor_file = dagster_home() / "demo_registry_sensor_cursor.json"
    cursor = cursor_file.read_text() if cursor_file.exists() else None
    cursor, launched = run_registry_sensor_once(defs, instance, cursor, DEMO_RUN_CONFIG["loggers"])
    cursor_file.write_text(cursor)
    print(f"registry sensor launched: {', '.join(launched) or 'nothing new'}")
    artifacts = defs.resources["artifacts"]
    for model in registry.list_models():
        pointer = read_channel(artifacts, model)
        if pointer and pointer.get("version"):
            key = pointer["manifest_key"]
            root = getattr(artifacts, "root", None)  # local: show the file; aws: a presigned URL
            where = f"{root}/{key}" if root else artifacts.download_url(key)
            print(f"  {model}: stable -> v{pointer['version']}, manifest {where}")
    return all(entry.endswith(":ok") for entry in launched)


SUMMARY_METRICS = ("test_accuracy", "val_accuracy", "f1", "precision", "recall", "threshold")


def print_registry_summary(registry) -> None:
    """The newest version of each model, with its variants' sizes and latencies."""
    for model in registry.list_models():
        versions = registry.list_versions(model)
        if not versions:
            continue
        newest = versions[-1]
        card = registry.get_model_card(model, newest.version)
        shown = ", ".join(
            f"{name} {card['metrics'][name]:.3g}"
            for name in SUMMARY_METRICS
            if name in card["metrics"]
        )
        print(f"{model} v{newest.version}: {newest.status} | {shown}")
        for variant in card["variants"]:
            latency = variant["latency"].get("threads_1", {})
            print(
                f"  {variant['precision']:>5}  {variant['bytes'] / 1e6:6.2f} MB  "
                f"p50 {latency.get('p50_ms', float('nan')):.2f} ms (1 thread)  {variant['key']}"
            )


def run_ingest_images(args: argparse.Namespace) -> int:
    """Copy a user's <label>/<image> folder into raw/images/ of the current environment."""
    from assets.vision.dataset import ingest_image_folder

    store = build_resources()["artifacts"]
    copied, left_out = ingest_image_folder(Path(args.folder), store)
    for path, reason in left_out:
        print(f"left out {path}: {reason}")
    total = sum(copied.values())
    print(f"copied {total} images in {len(copied)} classes: {copied}")
    print("Materialise raw_images (or run `make demo`) to train on them.")
    return 0 if total else 1


def run_ingest_sensors(args: argparse.Namespace) -> int:
    """Load a user's CSV/Parquet readings with a column mapping into raw/sensors/date=.../."""
    from assets.turbine.data import load_sensor_file, store_ingested_readings

    try:
        mapping = dict(pair.split("=", 1) for pair in args.map.split(",") if pair)
    except ValueError:
        print(f"--map {args.map!r}: expected field=column pairs separated by commas")
        return 2
    frame, report = load_sensor_file(Path(args.file), mapping, args.interval)
    print(
        f"read {report.rows} rows: {report.bad_timestamps} without a usable timestamp (dropped), "
        f"bad values per column {report.bad_values}, {report.gaps} missing intervals"
    )
    if report.missing_columns:
        print(f"signals not in the file (left empty): {', '.join(report.missing_columns)}")
    days = store_ingested_readings(frame, build_resources()["artifacts"])
    print(f"stored {len(frame)} readings for {len(days)} days: {', '.join(days)}")
    print("Materialise those raw_sensor_data partitions, then sensor_features, to use them.")
    return 0 if days else 1


def run_registry(args: argparse.Namespace) -> int:
    """List versions, or approve/reject one, through the ModelRegistry resource."""
    resources = build_resources()
    registry, artifacts = resources["registry"], resources["artifacts"]
    if args.action == "list":
        models = [args.model] if args.model else registry.list_models()
        try:
            versions = [v for model in models for v in registry.list_versions(model)]
        except EdgelineError as error:
            print(f"error: {error}")
            return 2
        for v in versions:
            note = f" ({v.status_reason}, by {v.status_by})" if v.status_by else ""
            print(
                f"{v.model} v{v.version}  {v.status}{note}  registered {v.created_at:%Y-%m-%d %H:%M}"
            )
        return 0
    if not args.model or args.version is None or not args.reason.strip():
        print(f"registry {args.action} needs MODEL VERSION --reason TEXT")
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
    return 0


def _named(version: int | None) -> str:
    return f"v{version}" if version else "no version"


def run_dev(args: argparse.Namespace) -> int:
    """Start the Dagster UI and daemon on the local instance (replaces this process)."""
    os.environ["DAGSTER_HOME"] = str(dagster_home())
    dagster = os.path.join(os.path.dirname(sys.executable), "dagster")
    workspace = str(REPO_ROOT / "workspace.yaml")
    argv = [dagster, "dev", "-w", workspace, "--host", args.host, "--port", str(args.port)]
    os.chdir(REPO_ROOT)
    os.execv(dagster, argv)
    return 0  # not reached


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edgeline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run the whole lifecycle on the local default")
    demo.set_defaults(handler=run_demo)
    ingest = commands.add_parser(
        "ingest-images", help="copy a <label>/<image> folder into raw/images/"
    )
    ingest.add_argument("folder", help="folder with one sub-folder of images per label")
    ingest.set_defaults(handler=run_ingest_images)
    sensors = commands.add_parser(
        "ingest-sensors", help="load a CSV/Parquet file of turbine readings with a column mapping"
    )
    sensors.add_argument("file")
    sensors.add_argument(
        "--map",
        required=True,
        help="field=column pairs, e.g. timestamp=Time,turbine_id=Unit,wind_speed_ms=Wind",
    )
    sensors.add_argument("--interval", type=int, default=60, help="seconds between readings")
    sensors.set_defaults(handler=run_ingest_sensors)
    registry = commands.add_parser("registry", help="list, approve or reject model versions")
    registry.add_argument("action", choices=["list", "approve", "reject"])
    registry.add_argument("model", nargs="?")
    registry.add_argument("version", nargs="?", type=int)
    registry.add_argument("--reason", default="")
    registry.add_argument("--by", default=getpass.getuser())
    registry.set_defaults(handler=run_registry)
    dev = commands.add_parser("dev", help="start the Dagster UI and daemon")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=3000)
    dev.set_defaults(handler=run_dev)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())

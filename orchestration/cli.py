"""The ``edgeline`` command: the demo, the Dagster UI, and (later) registry decisions."""

import argparse
import getpass
import sys
from pathlib import Path

from orchestration.environment import (
    build_resources,
)
from resources.errors import EdgelineError


def run_demo(args: argparse.Namespace) -> int:
    """The whole loop on the current environment (orchestration/demo.py)."""
    from orchestration.demo import QUICK, DemoSettings, run_demo

    return run_demo(QUICK if args.quick else DemoSettings())


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
    """The UI and daemon, the gateway with the page, and a small fleet (orchestration/dev.py)."""
    from orchestration.dev import run_dev

    return run_dev(args.host, args.port, args.gateway_port, args.fleet)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edgeline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="the whole loop: train, approve, publish, a live fleet and page, reports"
    )
    demo.add_argument("--quick", action="store_true", help="a small, fast version (for tests)")
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
    dev = commands.add_parser(
        "dev", help="the Dagster UI and daemon, the gateway with the web page, a simulated fleet"
    )
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=3000, help="the Dagster UI's port")
    dev.add_argument("--gateway-port", type=int, default=8000, help="the gateway's port")
    dev.add_argument("--fleet", type=int, default=3, help="simulated Pi agents")
    dev.set_defaults(handler=run_dev)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())

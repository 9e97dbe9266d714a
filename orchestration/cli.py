"""The ``edgeline`` command: the demo, the Dagster UI, and (later) registry decisions."""

import argparse
import os
import sys
import time
from pathlib import Path

from orchestration.environment import (
    REPO_ROOT,
    build_resources,
    dagster_home,
    edgeline_env,
    edgeline_home,
)
from orchestration.jobs import DEMO_RUN_CONFIG


def run_demo(args: argparse.Namespace) -> int:
    """Run the lifecycle job in-process against the persistent local instance."""
    os.environ["DAGSTER_HOME"] = str(dagster_home())
    from dagster import DagsterInstance

    from orchestration.definitions import defs

    print(f"Edgeline demo: EDGELINE_ENV={edgeline_env()}, data under {edgeline_home()}")
    started = time.monotonic()
    with DagsterInstance.get() as instance:
        result = defs.resolve_job_def("lifecycle").execute_in_process(
            run_config=DEMO_RUN_CONFIG, instance=instance, raise_on_error=False
        )
    elapsed = time.monotonic() - started
    status = "succeeded" if result.success else "FAILED"
    print(f"lifecycle job {status} in {elapsed:.1f} s (run {result.run_id})")
    print("Browse it with `make dev` (the Dagster UI).")
    return 0 if result.success else 1


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

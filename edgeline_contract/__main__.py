"""Write (or ``--check``) the contract's JSON Schema files from the Python definitions."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from edgeline_contract import SCHEMA_DIR as SCHEMAS
from edgeline_contract import manifest, profile, rollout, scopes, telemetry


def documents() -> dict[str, Any]:
    """Each generated file's name and content."""
    sensor_profile = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://edgeline.dev/schemas/{profile.PROFILE_SCHEMA}",
        "title": "Edgeline sensor profile",
        **profile.PROFILE,
    }
    return {
        "manifest.schema.json": manifest.MANIFEST,
        "telemetry-event.schema.json": telemetry.EVENT,
        "sensor-profile.schema.json": sensor_profile,
        "scopes.json": scopes.DOCUMENT,
        "rollout.schema.json": rollout.ROLLOUT,
    }


def rendered(document: Any) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def stale_files(directory: Path = SCHEMAS) -> list[str]:
    """The generated files that differ from what the definitions give (or are missing)."""
    stale = []
    for name, document in documents().items():
        path = directory / name
        if not path.exists() or path.read_text(encoding="utf-8") != rendered(document):
            stale.append(name)
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edgeline_contract", description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if a file is not current")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        if stale:
            print(
                f"not current: {', '.join(stale)}; run python -m edgeline_contract", file=sys.stderr
            )
            return 1
        print("the contract's schema files are current")
        return 0
    SCHEMAS.mkdir(exist_ok=True)
    for name, document in documents().items():
        temporary = SCHEMAS / f".{name}.tmp"
        temporary.write_text(rendered(document), encoding="utf-8")
        temporary.replace(SCHEMAS / name)
        print(f"wrote {SCHEMAS / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

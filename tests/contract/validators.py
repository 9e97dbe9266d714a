"""Both validators of the contract over the same documents: edgeline_contract's (Python) and
the page's (clients/web/app/contract.js, run by Node.js over the same generated schema files)."""

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from edgeline_contract import SCHEMA_DIR
from edgeline_contract.manifest import manifest_problems
from edgeline_contract.telemetry import event_problems

ROOT = Path(__file__).resolve().parents[2]
CONTRACT_JS = ROOT / "clients" / "web" / "app" / "contract.js"
SCHEMA_FILES = {"manifest": "manifest.schema.json", "event": "telemetry-event.schema.json"}
PYTHON = {"manifest": manifest_problems, "event": event_problems}
# reads [[kind, document], ...] on stdin, prints [[[path, message], ...], ...]
NODE_SCRIPT = """
import { readFileSync } from "node:fs";
const { problems } = await import(process.env.CONTRACT_JS);
const schemas = JSON.parse(process.env.SCHEMAS);
for (const kind of Object.keys(schemas)) schemas[kind] = JSON.parse(readFileSync(schemas[kind], "utf8"));
const documents = JSON.parse(readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(documents.map(([kind, doc]) => problems(doc, schemas[kind]))));
"""


def node() -> str | None:
    return shutil.which("node")


def python_problems(documents: list[tuple[str, Any]]) -> list[list[tuple[str, str]]]:
    return [PYTHON[kind](document) for kind, document in documents]


def page_problems(documents: list[tuple[str, Any]]) -> list[list[tuple[str, str]]]:
    """What the page's validator says of each document, run by Node.js on the page's module."""
    schemas = {kind: str(SCHEMA_DIR / name) for kind, name in SCHEMA_FILES.items()}
    result = subprocess.run(
        [node(), "--input-type=module", "-e", NODE_SCRIPT],
        input=json.dumps(documents, allow_nan=False),
        capture_output=True,
        text=True,
        timeout=120,
        env={"CONTRACT_JS": CONTRACT_JS.as_uri(), "SCHEMAS": json.dumps(schemas), "PATH": ""},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [[tuple(p) for p in found] for found in json.loads(result.stdout)]


def disagreements(documents: list[tuple[str, Any]]) -> list[str]:
    """Each document on which the two validators name different fields."""
    python, page = python_problems(documents), page_problems(documents)
    return [
        f"{kind} {json.dumps(document)[:200]}: python {[f for f, _ in a]} page {[f for f, _ in b]}"
        for (kind, document), a, b in zip(documents, python, page, strict=True)
        if [f for f, _ in a] != [f for f, _ in b]
    ]

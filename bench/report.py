"""How every benchmark hands back its figures: one JSON document, printed and written to a file."""

import json
from pathlib import Path
from typing import Any


def emit_report(report: dict[str, Any], output: str) -> None:
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, indent=2)
    path.write_text(text)
    print(text)

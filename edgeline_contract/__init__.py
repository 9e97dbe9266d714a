"""The contract between the platform and its clients, in one place: the sensor profile, the
model manifest, the telemetry event and the token scopes, each with its version.

Standard library only, Python 3.9 and newer: the Pi agent and the gateway install it without
the platform. ``python -m edgeline_contract`` writes the JSON Schema files under ``schemas/``
that the page validates against (``--check`` says whether they are current).
"""

from pathlib import Path

SCHEMA_DIR = Path(__file__).parent / "schemas"  # the generated JSON Schema files

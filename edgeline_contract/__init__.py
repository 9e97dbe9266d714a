"""The contract between the platform and its clients, in one place: the sensor profile, the
model manifest, the telemetry event and the token scopes, each with its version.

Standard library only, Python 3.9 and newer: the Pi agent and the gateway install it without
the platform. ``python -m edgeline_contract`` writes the JSON Schema files under ``schemas/``
that the page validates against (``--check`` says whether they are current).
"""

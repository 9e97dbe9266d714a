"""The HTTP API both clients call: manifests, model downloads, telemetry, shared images."""

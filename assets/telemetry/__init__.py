"""Client telemetry: hourly roll-ups, daily quality reports, drift against the training baseline."""

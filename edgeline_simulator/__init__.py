"""Simulated devices for demos and tests: numpy only, so a Pi can run them beside the agent."""

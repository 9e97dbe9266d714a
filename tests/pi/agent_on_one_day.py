"""The agent's command line (``python -m clients.pi.agent``) with the simulated turbine's clock
held on one day, so that runs on either side of midnight UTC simulate the same day:

    python -m tests.pi.agent_on_one_day DAY_INDEX AGENT_ARGUMENTS...

The simulation starts at 00:00 UTC of the day it is started on; a restart after midnight begins
the next day's, which is right for a device but not for a test that counts readings."""

import sys
import types

from clients.pi import agent, sources

if __name__ == "__main__":
    noon = int(sys.argv[1]) * 86400 + 43200.0
    sources.time = types.SimpleNamespace(time=lambda: noon)  # only SimulatedTurbine reads it
    agent.main(sys.argv[2:])

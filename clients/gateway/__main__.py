"""``python -m clients.gateway [--host H] [--port P]`` (installed: ``edgeline-gateway``): the
gateway with uvicorn."""

import argparse
import sys

import uvicorn

from clients.gateway.app import app_from_environment
from clients.gateway.serving import server_config
from clients.gateway.settings import settings_from_environment

# How long a thread may hold the GIL while another waits for it (Python's default: 5 ms). The
# thread that writes a group of telemetry batches gives the GIL up in each SQLite call and waited
# up to that long for it back, behind the event loop. At 0.5 ms, in alternating rounds: 1.03-1.07x
# the events/s at four connections and 1.13-1.18x at eight, p99 alike (bench.gateway's setup).
GIL_SWITCH_INTERVAL_S = 0.0005


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=["debug", "info", "warning", "error"],
        help="uvicorn's; info adds one line per request (default: warning)",
    )
    args = parser.parse_args(argv)
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    settings = settings_from_environment()
    app = app_from_environment(settings)
    uvicorn.Server(server_config(app, settings, args.host, args.port, args.log_level)).run()


if __name__ == "__main__":
    main()

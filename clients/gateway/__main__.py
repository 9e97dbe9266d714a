"""``python -m clients.gateway [--host H] [--port P]`` (installed: ``edgeline-gateway``): the
gateway with uvicorn."""

import argparse

import uvicorn

from clients.gateway.app import app_from_environment
from clients.gateway.serving import server_config
from clients.gateway.settings import settings_from_environment


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
    settings = settings_from_environment()
    app = app_from_environment(settings)
    uvicorn.Server(server_config(app, settings, args.host, args.port, args.log_level)).run()


if __name__ == "__main__":
    main()

"""``python -m clients.gateway [--host H] [--port P]``: the gateway with uvicorn."""

import argparse

import uvicorn

from clients.gateway.app import app_from_environment

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=8000)
args = parser.parse_args()
uvicorn.run(app_from_environment(), host=args.host, port=args.port, log_level="warning")

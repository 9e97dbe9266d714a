"""``python -m clients.gateway [--host H] [--port P]``: the gateway with uvicorn."""

import argparse

import uvicorn

from clients.gateway.app import app_from_environment
from clients.gateway.serving import server_config
from clients.gateway.settings import settings_from_environment

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=8000)
args = parser.parse_args()
settings = settings_from_environment()
uvicorn.Server(server_config(app_from_environment(settings), settings, args.host, args.port)).run()

"""AWS Lambda entry point behind API Gateway (HTTP API or REST), through Mangum."""

from mangum import Mangum

from clients.gateway.app import app_from_environment

handler = Mangum(app_from_environment(), lifespan="off")

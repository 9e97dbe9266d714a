"""The one Definitions of the Edgeline code location."""

from dagster import Definitions

from orchestration.environment import build_resources
from orchestration.jobs import lifecycle_job

defs = Definitions(
    assets=[],
    jobs=[lifecycle_job],
    resources=build_resources(),
)

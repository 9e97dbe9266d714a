"""The one Definitions of the Edgeline code location."""

from dagster import Definitions

from assets.vision.assets import vision_assets
from orchestration.environment import build_resources
from orchestration.jobs import lifecycle_job

defs = Definitions(
    assets=[*vision_assets],
    jobs=[lifecycle_job],
    resources=build_resources(),
)

"""The one Definitions of the Edgeline code location."""

from dagster import Definitions

from assets.turbine.assets import turbine_assets
from assets.vision.assets import vision_assets
from orchestration.environment import build_resources
from orchestration.jobs import lifecycle_job, sensor_data_job, sensor_data_schedule

defs = Definitions(
    assets=[*vision_assets, *turbine_assets],
    jobs=[lifecycle_job, sensor_data_job],
    schedules=[sensor_data_schedule],
    resources=build_resources(),
)

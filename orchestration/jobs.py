"""Jobs: the lifecycle (everything the local demo runs end to end) and the daily sensor recording."""

from dagster import AssetSelection, build_schedule_from_partitioned_job, define_asset_job

from assets.deployment.assets import published_model
from assets.turbine.assets import raw_sensor_data

sensor_data_job = define_asset_job(
    "sensor_data",
    selection=AssetSelection.assets(raw_sensor_data),
    description="Record one day of turbine readings (a daily partition of raw_sensor_data).",
)

lifecycle_job = define_asset_job(
    "lifecycle",
    selection=AssetSelection.all() - AssetSelection.assets(raw_sensor_data, published_model),
    description="Train, export, convert, validate and register every model: the demo's main job.",
)

sensor_data_schedule = build_schedule_from_partitioned_job(
    sensor_data_job, hour_of_day=0, minute_of_hour=15
)

# The demo's settings: small images and a narrow network so that the whole lifecycle, training
# from scratch on the synthetic shapes, runs in a few minutes on 2 CPU cores.
DEMO_SENSOR_DAYS = 14
DEMO_RUN_CONFIG = {
    "loggers": {"console": {"config": {"log_level": "INFO"}}},
    "ops": {
        "raw_images": {"config": {"demo_images_per_class": 400, "demo_image_size": 96}},
        "image_classifier": {
            "config": {
                "image_size": 64,
                "width_mult": 0.5,
                "epochs": 25,
                "batch_size": 32,
                "learning_rate": 0.003,
                "patience": 8,
            }
        },
    },
}

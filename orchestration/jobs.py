"""Jobs: the lifecycle (everything the local demo runs end to end)."""

from dagster import AssetSelection, define_asset_job

lifecycle_job = define_asset_job(
    "lifecycle",
    selection=AssetSelection.all(),
    description="Train, export, convert, validate and register every model: the demo's main job.",
)


# The demo's settings: small images and a narrow network so that the whole lifecycle, training
# from scratch on the synthetic shapes, runs in a few minutes on 2 CPU cores.
DEMO_RUN_CONFIG = {
    "ops": {
        "raw_images": {"config": {"demo_images_per_class": 400, "demo_image_size": 96}},
        "image_classifier": {
            "config": {
                "image_size": 64,
                "width_mult": 0.5,
                "epochs": 30,
                "batch_size": 32,
                "learning_rate": 0.003,
                "patience": 8,
            }
        },
    }
}

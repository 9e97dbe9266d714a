"""Jobs: the lifecycle (everything the local demo runs end to end)."""

from dagster import AssetSelection, define_asset_job

lifecycle_job = define_asset_job(
    "lifecycle",
    selection=AssetSelection.all(),
    description="Train, export, convert, validate and register every model: the demo's main job.",
)

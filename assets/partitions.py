"""The partitions that split each lineage by model (a model is added when it is declared).

Image models are partitions of the vision lineage by name. Sensor models are partitions of the
sensor lineage by the profile that trains them (one profile, one model), and their readings are
partitioned by profile and day, so training a profile depends on that profile's days only.
"""

from dagster import (
    DailyPartitionsDefinition,
    DynamicPartitionsDefinition,
    MultiPartitionKey,
    MultiPartitionsDefinition,
)

image_models = DynamicPartitionsDefinition(name="image_models")
sensor_profiles = DynamicPartitionsDefinition(name="sensor_profiles")
# from 2020, for users' older recordings; today included, for what a device recorded this morning
sensor_days = DailyPartitionsDefinition(start_date="2020-01-01", end_offset=1)
sensor_readings = MultiPartitionsDefinition({"profile": sensor_profiles, "day": sensor_days})


def readings_key(profile: str, day: str) -> MultiPartitionKey:
    """The partition of ``profile``'s readings on ``day`` (YYYY-MM-DD)."""
    return MultiPartitionKey({"profile": profile, "day": day})

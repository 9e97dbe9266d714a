"""The artifact store's key layout, in one place: the assets, the gateway and the reports build
every key with these functions, so a prefix is spelled once.

    catalog/<model>.json                          a declared model (kind, images or profile, settings)
    raw/images/<model>/<label>/<image>            an image model's images (users' own, accepted shared ones)
    incoming/images/<day>/<uploader>/<uuid>.<ext> images clients shared, waiting for review
    reviews/images/<day>/<uuid>.<ext>.json        a person's decision on one of them
    incoming/uploads/<day>/[<uploader>.]count.json  a day's uploads counted (all web pages, or one)
    raw/sensors/<profile>/profile.json            a sensor profile, beside its readings
    raw/sensors/<profile>/date=<day>/*.parquet    readings, one folder per day
    datasets/<name>/<version>/...                 prepared datasets, by content version
    models/<model>/<run id>/...                   weights and ONNX files of one run
    deploy/<model>/<version>/...                  a published version (files, manifest, job)
    deploy/<model>/<channel>.json                 a channel pointer
    verdicts/<model>/<sha256>/<check>.json        a gate's verdict on the file with that sha256
    telemetry/<kind>/hour=<hour>/events.parquet   an hour's telemetry, rolled up
    reports/<kind>/<day>/<model>/report.{json,md,html}  a model's quality report of a day
    registry/<model>/cards/<sha256>.json          model cards the SageMaker registry points to
"""

import re
from datetime import date, datetime

CATALOG = "catalog/"
# written once a home from before models were declared has been carried over (or had nothing)
CATALOG_ADOPTED = f"{CATALOG}single-model-home-adopted"
RAW_IMAGES = "raw/images/"
INCOMING_IMAGES = "incoming/images/"
RAW_SENSORS = "raw/sensors/"
REPORTS = "reports/"


def catalog_entry(model: str) -> str:
    return f"{CATALOG}{model}.json"


def model_images(model: str) -> str:
    """The prefix of an image model's ``<label>/<image>`` tree."""
    return f"{RAW_IMAGES}{model}/"


def sensor_readings(profile: str) -> str:
    return f"{RAW_SENSORS}{profile}/"


def sensor_day(profile: str, day: str) -> str:
    return f"{sensor_readings(profile)}date={day}/"


def sensor_profile(profile: str) -> str:
    return f"{sensor_readings(profile)}profile.json"


def incoming_images(day: str, uploader: str | None = None) -> str:
    """The prefix of a day's shared images (by one uploader: a browser or device id)."""
    return f"{INCOMING_IMAGES}{day}/" + (f"{uploader}/" if uploader else "")


def incoming_image(day: date, uploader: str, name: str) -> str:
    return incoming_images(f"{day:%Y-%m-%d}", uploader) + name


def upload_count(day: str, uploader: str | None = None) -> str:
    """The counter of a day's uploads by one uploader, or by all web pages."""
    return f"incoming/uploads/{day}/" + (f"{uploader}.count.json" if uploader else "count.json")


def image_review(day: date, name: str) -> str:
    return f"reviews/images/{day:%Y-%m-%d}/{name}.json"


def dataset(name: str, version: str) -> str:
    return f"datasets/{name}/{version}/"


def model_run(model: str, run_id: str) -> str:
    return f"models/{model}/{run_id}/"


def parse_model_run(key: str) -> tuple[str, str]:
    """(model, run id) of a key under ``models/<model>/<run id>/``."""
    parts = key.split("/")
    if len(parts) < 4 or parts[0] != "models":
        raise ValueError(f"{key!r} is not a model run's file (models/<model>/<run id>/...)")
    return parts[1], parts[2]


# Model files of a run and the files of a published version are written once: a registered
# version's bytes never change (the store refuses other bytes under such a key).
_WRITE_ONCE = re.compile(r"^(models/[^/]+/[^/]+/|deploy/[^/]+/[0-9]+/)")


def is_write_once(key: str) -> bool:
    return _WRITE_ONCE.match(key) is not None


def verdict(model: str, sha256: str, check: str) -> str:
    return f"verdicts/{model}/{sha256}/{check}.json"


def deployed_version(model: str, version: int) -> str:
    return f"deploy/{model}/{version}/"


def channel(model: str, name: str = "stable") -> str:
    return f"deploy/{model}/{name}.json"


def telemetry_hour(client_kind: str, hour_start: datetime) -> str:
    return f"telemetry/{client_kind}/hour={hour_start:%Y-%m-%dT%H}/events.parquet"


def telemetry_day(client_kind: str, day: str) -> str:
    """The prefix of a day's hourly roll-ups."""
    return f"telemetry/{client_kind}/hour={day}T"


def report(client_kind: str, day: str, model: str) -> str:
    return f"{REPORTS}{client_kind}/{day}/{model}/"


def model_card(model: str, digest: str) -> str:
    return f"registry/{model}/cards/{digest}.json"

"""The artifact store's key layout, in one place: the assets, the gateway and the reports build
every key with these functions, and take keys apart with them, so a prefix or a file name is
spelled once (``tests/resources/test_layout_keys.py`` looks for keys built anywhere else).
Standard library only: the gateway and other light installs import it without Dagster.

    catalog/<model>.json                          a declared model (kind, images or profile, settings)
    raw/images/<model>/<label>/<image>            an image model's images (users' own, accepted shared ones)
    incoming/images/<day>/<uploader>/<uuid>.<ext> images clients shared, waiting for review
    incoming/images/<day>/<uploader>/<uuid>.<ext>.json  what came with one (label, model, sender)
    reviews/images/<day>/<uuid>.<ext>.json        a person's decision on one of them
    incoming/uploads/<day>/[<uploader>.]count.json  a day's uploads counted (all web pages, or one)
    raw/sensors/<profile>/profile.json            a sensor profile, beside its readings
    raw/sensors/<profile>/date=<day>/*.parquet    readings, one folder per day (ingested-<sha>, simulated)
    datasets/<name>/<version>/...                 prepared datasets, by content version
    models/<model>/<run id>/...                   weights, plots and ONNX files of one run
    deploy/<model>/<version>/...                  a published version (files, manifest, labels, job)
    deploy/<model>/<channel>.json                 a channel pointer
    deploy/<model>/rollout/state.json             the model's staged rollout (canary share, decisions)
    verdicts/<model>/<sha256>/<check>.json        a gate's verdict on the file with that sha256
    telemetry/<kind>/hour=<hour>/events.parquet   an hour's telemetry, rolled up
    reports/<kind>/<day>/<model>/report.{json,md,html}  a model's quality report of a day (and plots)
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
DEPLOY = "deploy/"
MODELS = "models/"

MANIFEST = "manifest.json"
LABELS = "labels.json"
DEVICE_JOB = "iot-job.json"
# a published version's files that only a token reads (through the channel endpoint)
PRIVATE_VERSION_FILES = frozenset({MANIFEST, DEVICE_JOB})
SIMULATED_READINGS = "simulated.parquet"
INGESTED_READINGS = "ingested-"
REPORT_JSON = "report.json"


def catalog_entry(model: str) -> str:
    return f"{CATALOG}{model}.json"


def parse_catalog_entry(key: str) -> str | None:
    """The model a catalog entry declares; None for any other key."""
    rest = key.removeprefix(CATALOG)
    if rest == key or "/" in rest or not rest.endswith(".json"):
        return None
    return rest.removesuffix(".json")


def model_images(model: str) -> str:
    """The prefix of an image model's ``<label>/<image>`` tree."""
    return f"{RAW_IMAGES}{model}/"


def labelled_image(tree: str, label: str, name: str) -> str:
    """An image's key in the ``<label>/<image>`` tree under the prefix ``tree``."""
    return f"{tree}{label}/{name}"


def parse_labelled_image(tree: str, key: str) -> tuple[str, str] | None:
    """(label, image name) of a key directly in a ``<label>/`` folder of ``tree``; else None."""
    if not key.startswith(tree):
        return None
    parts = key[len(tree) :].split("/")
    return (parts[0], parts[1]) if len(parts) == 2 and all(parts) else None


def model_image(model: str, label: str, name: str) -> str:
    """One image of an image model's class ``label``."""
    return labelled_image(model_images(model), label, name)


def sensor_readings(profile: str) -> str:
    return f"{RAW_SENSORS}{profile}/"


def sensor_day(profile: str, day: str) -> str:
    return f"{sensor_readings(profile)}date={day}/"


def sensor_profile(profile: str) -> str:
    return f"{sensor_readings(profile)}profile.json"


def simulated_readings(profile: str, day: str) -> str:
    """The simulated fleet's readings of a day (written when nothing was ingested for it)."""
    return sensor_day(profile, day) + SIMULATED_READINGS


def ingested_readings(profile: str, day: str, digest: str) -> str:
    """A user's readings of a day, named by (a prefix of) their content's sha256."""
    return f"{sensor_day(profile, day)}{INGESTED_READINGS}{digest}.parquet"


def is_simulated_readings(key: str) -> bool:
    """Whether ``key`` is a day's simulated readings."""
    return key.endswith(f"/{SIMULATED_READINGS}")


def is_ingested_readings(key: str) -> bool:
    """Whether ``key`` is a user's ingested readings."""
    return key.rsplit("/", 1)[-1].startswith(INGESTED_READINGS)


def sensor_profile_of(key: str) -> str:
    """The profile a key under ``raw/sensors/`` belongs to."""
    if not key.startswith(RAW_SENSORS):
        raise ValueError(f"{key!r} is not under {RAW_SENSORS}")
    return key[len(RAW_SENSORS) :].split("/")[0]


def parse_sensor_profile(key: str) -> str | None:
    """The profile whose stored description ``key`` is; None for any other key."""
    if not key.startswith(RAW_SENSORS) or key.count("/") != 3:
        return None
    profile = sensor_profile_of(key)
    return profile if key == sensor_profile(profile) else None


def parse_sensor_day(key: str) -> tuple[str, str] | None:
    """(profile, day) of a Parquet file of readings; None for any other key."""
    if not key.startswith(RAW_SENSORS) or not key.endswith(".parquet"):
        return None
    parts = key[len(RAW_SENSORS) :].split("/")
    if len(parts) < 3 or not parts[1].startswith("date="):
        return None
    return parts[0], parts[1].removeprefix("date=")


def incoming_images(day: str, uploader: str | None = None) -> str:
    """The prefix of a day's shared images (by one uploader: a browser or device id)."""
    return f"{INCOMING_IMAGES}{day}/" + (f"{uploader}/" if uploader else "")


def incoming_image(day: date, uploader: str, name: str) -> str:
    return incoming_images(f"{day:%Y-%m-%d}", uploader) + name


def parse_incoming_image(key: str) -> tuple[str, str | None, str]:
    """(day, uploader or None for uploads from before the review queue, name) of a shared image."""
    parts = key[len(INCOMING_IMAGES) :].split("/")
    if not key.startswith(INCOMING_IMAGES) or len(parts) not in (2, 3) or not all(parts):
        raise ValueError(f"{key!r} is not a shared image ({INCOMING_IMAGES}<day>/<uploader>/...)")
    return parts[0], parts[1] if len(parts) == 3 else None, parts[-1]


def image_sidecar(image_key: str) -> str:
    """What came with a shared image (suggested label, model, sender), beside it."""
    return f"{image_key}.json"


def upload_count(day: str, uploader: str | None = None) -> str:
    """The counter of a day's uploads by one uploader, or by all web pages."""
    return f"incoming/uploads/{day}/" + (f"{uploader}.count.json" if uploader else "count.json")


def image_review(day: date, name: str) -> str:
    return f"reviews/images/{day:%Y-%m-%d}/{name}.json"


def dataset(name: str, version: str) -> str:
    return f"datasets/{name}/{version}/"


def image_dataset_index(model: str, version: str) -> str:
    """An image dataset's labels, records (key, label, split) and skipped files."""
    return dataset(model, version) + "dataset.json"


def sensor_windows(profile: str, version: str) -> str:
    """A sensor dataset's encoded windows and split."""
    return dataset(profile, version) + "windows.npz"


def model_run(model: str, run_id: str) -> str:
    return f"{MODELS}{model}/{run_id}/"


def run_weights(model: str, run_id: str) -> str:
    """The PyTorch weights a run trained."""
    return model_run(model, run_id) + "model.pt"


def run_onnx(model: str, run_id: str, precision: str) -> str:
    """A run's ONNX file of one precision (fp32, fp16, int8)."""
    return run_model_file(model, run_id, f"model.{precision}.onnx")


def run_model_file(model: str, run_id: str, name: str) -> str:
    """A run's model file named ``name`` (an ONNX file, or compact weights)."""
    return f"{model_run(model, run_id)}{name}"


def run_plot(model: str, run_id: str, title: str) -> str:
    """A run's plot (training curves, confusion matrix), named by its title."""
    return f"{model_run(model, run_id)}{title.replace(' ', '_')}.png"


def parse_model_run(key: str) -> tuple[str, str]:
    """(model, run id) of a key under ``models/<model>/<run id>/``."""
    parts = key.split("/")
    if len(parts) < 4 or parts[0] != MODELS.rstrip("/"):
        raise ValueError(f"{key!r} is not a model run's file (models/<model>/<run id>/...)")
    return parts[1], parts[2]


# Model files of a run and the files of a published version are written once: a registered
# version's bytes never change (the store refuses other bytes under such a key).
_WRITE_ONCE = re.compile(rf"^({MODELS}[^/]+/[^/]+/|{DEPLOY}[^/]+/[0-9]+/)")


def is_write_once(key: str) -> bool:
    return _WRITE_ONCE.match(key) is not None


def verdict(model: str, sha256: str, check: str) -> str:
    return f"verdicts/{model}/{sha256}/{check}.json"


def deployed_version(model: str, version: int) -> str:
    return f"{DEPLOY}{model}/{version}/"


def deployed_file(model: str, version: int, name: str) -> str:
    """A file of a published version (a model file, labels, manifest, device job)."""
    return deployed_version(model, version) + name


def manifest(model: str, version: int) -> str:
    """A published version's manifest, written after every file it names."""
    return deployed_file(model, version, MANIFEST)


def labels(model: str, version: int) -> str:
    """A published image model's class labels, in output order."""
    return deployed_file(model, version, LABELS)


def device_job(model: str, version: int) -> str:
    """The device job document a Pi fleet is sent for a published version."""
    return deployed_file(model, version, DEVICE_JOB)


_PUBLISHED_FILE = re.compile(rf"^{DEPLOY}[^/]+/[0-9]+/([^/]+)$")  # deploy/<model>/<version>/<file>


def is_public_model_file(key: str) -> bool:
    """Whether anyone may download ``key``: a published version's file, not its manifest or job."""
    match = _PUBLISHED_FILE.match(key)
    return match is not None and match.group(1) not in PRIVATE_VERSION_FILES


def channels(model: str) -> str:
    """The prefix a model's channel pointers (and published versions) are under."""
    return f"{DEPLOY}{model}/"


def channel(model: str, name: str = "stable") -> str:
    return f"{channels(model)}{name}.json"


def rollout_state(model: str) -> str:
    """A model's staged rollout, beside its channel pointers (not itself a channel)."""
    return f"{channels(model)}rollout/state.json"


def parse_channel(key: str) -> tuple[str, str] | None:
    """(model, channel name) of a channel pointer; None for any other key."""
    parts = key.split("/")
    if len(parts) != 3 or f"{parts[0]}/" != DEPLOY or not parts[2].endswith(".json"):
        return None
    name = parts[2].removesuffix(".json")
    return (parts[1], name) if parts[1] and name else None


def telemetry_hour(client_kind: str, hour_start: datetime) -> str:
    return f"telemetry/{client_kind}/hour={hour_start:%Y-%m-%dT%H}/events.parquet"


def telemetry_day(client_kind: str, day: str) -> str:
    """The prefix of a day's hourly roll-ups."""
    return f"telemetry/{client_kind}/hour={day}T"


def report(client_kind: str, day: str, model: str) -> str:
    return f"{REPORTS}{client_kind}/{day}/{model}/"


def report_json(client_kind: str, day: str, model: str) -> str:
    """A quality report as data (what the drift sensor reads)."""
    return report(client_kind, day, model) + REPORT_JSON


def report_markdown(client_kind: str, day: str, model: str) -> str:
    """A quality report as Markdown."""
    return report(client_kind, day, model) + "report.md"


def report_html(client_kind: str, day: str, model: str) -> str:
    """A quality report as a page, plots inline."""
    return report(client_kind, day, model) + "report.html"


def report_plot(client_kind: str, day: str, model: str, title: str) -> str:
    """A quality report's plot, named by its title."""
    return f"{report(client_kind, day, model)}{title.replace(' ', '_')}.png"


def is_report_json(key: str) -> bool:
    """Whether ``key`` is a quality report's JSON (a home's from before many models too)."""
    return key.startswith(REPORTS) and key.endswith(f"/{REPORT_JSON}")


def model_card(model: str, digest: str) -> str:
    return f"registry/{model}/cards/{digest}.json"

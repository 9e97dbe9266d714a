"""`edgeline demo --quick` end to end, as README says to run it: on the local default, and on the
aws side against moto's server (the way README's "Try the aws side" section does it)."""

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from resources import LocalArtifactStore, S3ArtifactStore, SqliteTelemetryStore

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


def run_demo(home: Path, **environment: str) -> str:
    done = subprocess.run(
        [str(Path(sys.executable).with_name("edgeline")), "demo", "--quick"],
        cwd=REPO,
        env={**os.environ, "EDGELINE_HOME": str(home), "DAGSTER_HOME": "", **environment},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # the int8 calibrator's prints go to the run's log, not the person's terminal
    assert "Collecting tensor data" not in done.stdout + done.stderr
    if os.environ.get("EDGELINE_REQUIRE_BROWSER") == "1":  # CI, like make demo, has Chromium
        assert "web page: skipped" not in done.stdout
    return done.stdout


def reported_days(out: str, kind: str) -> list[str]:
    """The days whose ``kind`` report the demo says it wrote: the day it ran, or both days when
    it ran past midnight UTC (a day the test works out for itself can be the other one)."""
    days = re.findall(rf"  {kind}: \S*reports/{kind}/(\d{{4}}-\d\d-\d\d)/[^/]+/report\.html", out)
    assert days, out[-3000:]
    return days


def test_quick_demo_closes_the_loop_locally(tmp_path):
    began = datetime.now(UTC)
    out = run_demo(tmp_path, EDGELINE_ENV="local")
    assert "registry sensor launched: publish:image-classifier@1:ok" in out
    assert "turbine-autoencoder v1: Approved, stable -> v1" in out
    assert "Pi agents ran v1" in out and "windows scored" in out
    store = LocalArtifactStore(root=str(tmp_path / "artifacts"))
    days = reported_days(out, "pi")
    assert reported_days(out, "web") == days
    for kind, model in (("pi", "turbine-autoencoder"), ("web", "image-classifier")):
        # a report per model
        assert all(store.exists(f"reports/{kind}/{day}/{model}/report.html") for day in days)
    telemetry = SqliteTelemetryStore(path=str(tmp_path / "telemetry.sqlite"))
    window = (began - timedelta(minutes=1), datetime.now(UTC) + timedelta(minutes=1))
    pi = telemetry.read("pi", *window)
    assert pi and {e["model_version"] for e in pi} == {1}
    if "web page: skipped" not in out:
        assert "web page (headless Chromium) ran v1: 4 demo photos, 4 right" in out
        assert len(telemetry.read("web", *window)) == 4
    reports = [store.get_json(f"reports/pi/{day}/turbine-autoencoder/report.json") for day in days]
    assert sum(report["events"] for report in reports) == len(pi)


def test_quick_demo_on_the_aws_side(tmp_path, fresh_aws_account):
    # an account of its own: the demo's registry sensor publishes every approved version of its
    # models that the account's registry holds, and other tests register the same model names
    bucket = "edgeline-demo-test"
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)  # as README says, CORS for the page's downloads included
    s3.put_bucket_cors(
        Bucket=bucket,
        CORSConfiguration={
            "CORSRules": [{"AllowedOrigins": ["http://127.0.0.1:*"], "AllowedMethods": ["GET"]}]
        },
    )
    out = run_demo(
        tmp_path,
        EDGELINE_ENV="aws",
        EDGELINE_S3_BUCKET=bucket,
        EDGELINE_LOG_GROUP_PREFIX="/edgeline-demo-test",
    )
    assert "registry sensor launched: publish:image-classifier@1:ok" in out  # once a crash
    if "web page: skipped (no Chromium" not in out:  # the page downloads from moto's S3
        assert "web page (headless Chromium) ran v1: 4 demo photos, 4 right" in out
    store = S3ArtifactStore(bucket=bucket, prefix="edgeline")
    assert store.get_json("deploy/turbine-autoencoder/stable.json")["version"] == 1
    assert all(
        store.exists(f"reports/pi/{day}/turbine-autoencoder/report.html")
        for day in reported_days(out, "pi")
    )

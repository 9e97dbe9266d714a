"""Photos the page shares: bounded, waiting for a person's review, and never a way to poison a
training set. Once, 310 anonymous uploads were adopted by raw_images with no review and the
dataset went from 5 to 8 classes; rotating tokens from one address gave 29 tokens and 293 images
in 60 s; and 40 of 40 token requests with a forged X-Forwarded-For counted as other clients."""

import io
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from dagster import DagsterInstance, materialize
from PIL import Image

from assets.vision.assets import image_dataset, raw_images, shared_image_queue
from assets.vision.review import pending_images, reject_images
from clients.gateway.rate_limit import Rate
from resources.environment import local_resources
from tests.gateway.server import Gateway
from tests.vision.conftest import declare_image_model, write_colour_images


def photo(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (40, 40, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def fresh_token(http: httpx.Client, url: str) -> dict:
    response = http.post(f"{url}/v1/web/tokens")
    assert response.status_code == 200, response.text
    return response.json()


def share_as_device(http: httpx.Client, url: str, data: bytes, device_id: str) -> httpx.Response:
    return http.post(
        f"{url}/v1/images",
        content=data,
        params={"device_id": device_id},
        headers={"Authorization": "Bearer device-token"},
    )


def share(
    http: httpx.Client, url: str, token: str, data: bytes, label: str | None = None
) -> httpx.Response:
    return http.post(
        f"{url}/v1/images",
        content=data,
        params={"label": label} if label else {},
        headers={"Authorization": f"Bearer {token}"},
    )


@pytest.fixture
def running(tmp_path):
    started: list[Gateway] = []

    def start(**settings) -> Gateway:
        gateway = Gateway(tmp_path / f"gateway-{len(started)}", **settings).start()
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        gateway.stop()


UPLOADS = 200  # from 200 fresh tokens: no number of uploads starts a class


@pytest.mark.slow
def test_uploads_with_a_new_label_train_nothing_until_a_person_accepts_them(
    running, http, tmp_path
):
    """Hundreds of labelled uploads from fresh tokens: no new class and no image in the training set;
    accepting 10 adds exactly those 10."""
    gateway = running(web_rates={"tokens": Rate(per_minute=60_000, burst=1_000)})
    resources = {**local_resources(tmp_path / "home"), "artifacts": gateway.store}
    write_colour_images(gateway.store, per_class=20)
    for seed in range(UPLOADS):
        token = fresh_token(http, gateway.url)["token"]
        response = share(http, gateway.url, token, photo(seed), label="hacked-class")
        assert response.status_code == 201, response.text
    pending = pending_images(gateway.store)
    assert len(pending) == UPLOADS and {p.suggested_label for p in pending} == {"hacked-class"}

    instance = DagsterInstance.ephemeral()
    model = declare_image_model(gateway.store, instance)  # the page's model
    assert {p.model for p in pending} == {model}
    lineage = {"resources": resources, "instance": instance, "partition_key": model}
    before = materialize([raw_images, image_dataset], **lineage)
    dataset = before.output_for_node("image_dataset")
    assert dataset.labels == ("blue", "green", "red") and len(dataset.records) == 60
    assert not any("reviewed-" in r.key for r in dataset.records)
    waiting = before.asset_materializations_for_node("raw_images")[0].metadata
    assert waiting["shared_images_waiting_for_review"].value == UPLOADS

    chosen = [p.key for p in pending[:10]]
    review = {"ops": {"shared_image_queue": {"config": {"accept": chosen, "by": "qa"}}}}
    refused = materialize(
        [shared_image_queue], resources=resources, run_config=review, raise_on_error=False
    )
    assert not refused.success  # a made-up label is not a class: the reviewer must say so
    assert len(pending_images(gateway.store)) == UPLOADS
    review["ops"]["shared_image_queue"]["config"]["label"] = "red"  # what they really show
    assert materialize([shared_image_queue], resources=resources, run_config=review).success
    after = materialize([raw_images, image_dataset], **lineage).output_for_node("image_dataset")
    assert after.labels == ("blue", "green", "red") and len(after.records) == 70
    accepted = sorted(
        r.key.rsplit("reviewed-", 1)[1] for r in after.records if "reviewed-" in r.key
    )
    assert accepted == sorted(key.rsplit("/", 1)[1] for key in chosen)
    assert len(pending_images(gateway.store)) == UPLOADS - 10


def test_uploads_are_bounded_per_browser_and_per_day(running, http):
    """Counted when they start, by compare-and-swap: ten at once get three slots, a review
    gives none back, and fresh browser ids do not get past the day's total."""
    generous = Rate(per_minute=6_000, burst=100)  # the daily allowance is what this is about
    gateway = running(
        shares_per_browser_per_day=3,
        web_shares_per_day=5,
        web_rates={"tokens": generous, "images:write": generous},
        uploads_per_token=10,  # all ten send at once: none refused for sending together
    )
    token = fresh_token(http, gateway.url)["token"]
    with ThreadPoolExecutor(10) as pool:
        codes = list(
            pool.map(lambda i: share(http, gateway.url, token, photo(i)).status_code, range(10))
        )
    assert sorted(codes) == [201] * 3 + [429] * 7
    refused = share(http, gateway.url, token, photo(9))
    assert "uploaded 3 images today: at most 3 a day" in refused.json()["detail"]
    assert 0 < int(refused.headers["retry-after"]) <= 86400
    queued = [p.key for p in pending_images(gateway.store)]
    reject_images(gateway.store, queued, "qa", "spam")  # reviewed: the day's count stays
    assert share(http, gateway.url, token, photo(10)).status_code == 429
    others = [fresh_token(http, gateway.url)["token"] for _ in range(2)]
    assert [
        share(http, gateway.url, t, photo(20 + i)).status_code for i, t in enumerate(others)
    ] == [201, 201]
    assert (
        share(http, gateway.url, fresh_token(http, gateway.url)["token"], photo(30)).status_code
        == 429
    )
    assert len(pending_images(gateway.store)) == 2
    # a device may not pose as a web page
    device = share_as_device(http, gateway.url, photo(40), "web-pretender")
    assert device.status_code == 403


def test_sharing_can_be_turned_off_and_the_page_is_told(running, http):
    gateway = running(web_sharing=False)
    issued = fresh_token(http, gateway.url)
    assert issued["config"]["sharing"] is False
    assert "images:write" not in issued["scopes"]
    assert share(http, gateway.url, issued["token"], photo(0)).status_code == 403
    assert gateway.store.list_keys("incoming/") == []


def test_forwarded_addresses_are_believed_only_from_configured_proxies(running, http):
    """uvicorn believes X-Forwarded-For from 127.0.0.1 by default: any local caller could pose
    as 40 clients and get 40 tokens past a limit of 10 a client."""

    def tokens_granted(url: str) -> int:
        return sum(
            http.post(
                f"{url}/v1/web/tokens", headers={"X-Forwarded-For": f"203.0.113.{i}"}
            ).status_code
            == 200
            for i in range(40)
        )

    # a burst of 10 a client, as by default, refilled too slowly to matter: at the default 20 a
    # minute, 40 requests that took more than 3 s (a loaded machine) got an 11th token
    burst = {"tokens": Rate(per_minute=0.01, burst=10)}
    assert tokens_granted(running(web_rates=burst).url) == 10  # one client: the burst, then 429
    proxied = running(web_rates=burst, trusted_proxies=["127.0.0.1"])
    assert tokens_granted(proxied.url) == 40  # a real proxy's

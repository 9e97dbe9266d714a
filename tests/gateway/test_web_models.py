"""Which models a web page may open: published image models (or the configured ones), never a
device model; the default always (it may not be published yet)."""

from clients.gateway.manifests import PublishedManifests
from clients.gateway.settings import GatewaySettings
from clients.gateway.web_models import WebModels
from resources import LocalArtifactStore, layout


def publish(
    store, model: str, version: int, task: str, labels=("a", "b"), compact_bytes: int = 0
) -> None:
    """What a published version leaves for clients: its manifest and the channel pointer (with
    ``compact_bytes``, fp32's compact weights, recommended to wasm)."""
    manifest_key = layout.manifest(model, version)
    variants = [{"precision": "fp32", "bytes": 1000 * version}, {"precision": "fp16", "bytes": 500}]
    manifest = {
        "model": model,
        "version": version,
        "task": task,
        "labels": list(labels),
        "variants": variants,
        "recommended": {"web-wasm": "fp32", "web-webgpu": "fp16"},
    }
    if compact_bytes:
        variants[0]["compact"] = [{"encoding": "fp16", "bytes": compact_bytes}]
        manifest["recommended_encoding"] = {"web-wasm": "fp16"}
    store.put_json(manifest_key, manifest)
    store.put_json(layout.channel(model), {"version": version, "manifest_key": manifest_key})


def test_served_models_are_the_published_image_models(tmp_path):
    store = LocalArtifactStore(root=str(tmp_path))
    publish(store, "plants", 3, "image-classification", ("fern", "rose"), compact_bytes=1100)
    publish(store, "defects", 1, "image-classification")
    publish(store, "turbine-autoencoder", 2, "anomaly-detection")
    store.put_json(layout.channel("revoked-model"), {"version": None})
    served = WebModels(
        GatewaySettings(web_secret="s" * 32), store, PublishedManifests(store), ttl_s=0
    )
    assert served.listed() == [
        {
            "model": "defects",
            "version": 1,
            "labels": ["a", "b"],
            "bytes": 1000,
            "page": "/m/defects",
        },
        {
            "model": "plants",
            "version": 3,
            "labels": ["fern", "rose"],
            "bytes": 1100,  # what its page downloads: the compact weights
            "page": "/m/plants",
        },
    ]
    assert served.serves("plants") and served.serves("image-classifier")  # the default
    assert not served.serves("turbine-autoencoder") and not served.serves("revoked-model")
    only = WebModels(
        GatewaySettings(web_secret="s" * 32, web_models=("plants",)),
        store,
        PublishedManifests(store),
        ttl_s=0,
    )
    assert [m["model"] for m in only.listed()] == ["plants"]
    assert not only.serves("defects")

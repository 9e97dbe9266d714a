"""Transfer learning from a state-dict file: features loaded and frozen, a new head trained."""

import numpy as np
import pytest
import torch
import torchvision

from assets.vision.model import build_mobilenet_v2
from assets.vision.training import TrainingSettings, train_classifier


@pytest.fixture
def imagenet_like_weights(tmp_path):
    torch.manual_seed(3)
    network = torchvision.models.mobilenet_v2(weights=None)  # 1000-class head, as torchvision ships
    path = tmp_path / "mobilenet_v2.pth"
    torch.save(network.state_dict(), path)
    return path, network.state_dict()


def test_weights_file_gives_frozen_features_and_new_head(imagenet_like_weights):
    path, original = imagenet_like_weights
    model = build_mobilenet_v2(4, weights=str(path), trainable_blocks=1)
    net = model.network
    assert net.classifier[-1].out_features == 4
    assert torch.equal(net.features[0][0].weight, original["features.0.0.weight"])
    frozen = [p.requires_grad for p in net.features[:-1].parameters()]
    assert not any(frozen)
    assert all(p.requires_grad for p in net.features[-1].parameters())
    assert all(p.requires_grad for p in net.classifier.parameters())


def test_training_leaves_frozen_features_and_their_statistics_alone(imagenet_like_weights):
    path, original = imagenet_like_weights
    model = build_mobilenet_v2(2, weights=f"file://{path}", trainable_blocks=0)
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (24, 3, 32, 32), dtype=np.uint8)
    targets = np.arange(24) % 2
    train_classifier(
        model,
        (pixels, targets),
        (pixels[:8], targets[:8]),
        TrainingSettings(epochs=2, batch_size=8, augment="none"),
        progress=lambda _: None,
    )
    state = model.network.state_dict()
    assert torch.equal(state["features.3.conv.1.0.weight"], original["features.3.conv.1.0.weight"])
    assert torch.equal(
        state["features.3.conv.1.1.running_mean"], original["features.3.conv.1.1.running_mean"]
    )
    assert not torch.equal(state["classifier.1.weight"][:2], torch.zeros(2, 1280))


def test_missing_or_mismatched_weights_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"absent\.pth"):
        build_mobilenet_v2(3, weights=str(tmp_path / "absent.pth"))
    bad = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(1)}, bad)
    with pytest.raises(ValueError, match="do not fit MobileNetV2"):
        build_mobilenet_v2(3, weights=str(bad))


class _RunsCode:
    """Unpickling this calls a function: what a hostile weights file does."""

    def __reduce__(self):
        return (print, ("unpickled code ran",))


def test_weights_from_a_url_are_never_unpickled(tmp_path, monkeypatch, imagenet_like_weights):
    import functools
    import http.server
    import pickle
    import threading

    from assets.vision.model import load_state_dict

    torch.save({"features.0.0.weight": _RunsCode()}, tmp_path / "hostile.pth")
    (tmp_path / "good.pth").write_bytes(imagenet_like_weights[0].read_bytes())
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
            load_state_dict(f"{base}/hostile.pth")
        state = load_state_dict(f"{base}/good.pth")  # a plain state dict loads as before
        assert torch.equal(
            state["features.0.0.weight"], imagenet_like_weights[1]["features.0.0.weight"]
        )
    finally:
        server.shutdown()

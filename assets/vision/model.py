"""MobileNetV2 for the browser, with pre- and post-processing folded into the graph.

The exported model takes float32 RGB pixels 0-255 in NCHW (not uint8: a uint8 input adds a
Cast that the fp16 converter mishandles), normalises with ImageNet statistics, runs the
network and returns softmax probabilities. The client feeds pixels and reads the answer.
"""

import logging
import urllib.parse
from pathlib import Path

import torch
import torchvision
from torch import nn

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class PixelClassifier(nn.Module):
    """Pixels 0-255 -> probabilities. ``logits`` is what training optimises."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network
        # (pixels - mean) / std as one multiply-add: a Div over every pixel cost 5 % at 224 px
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255.0
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255.0
        self.register_buffer("scale", 1.0 / std)
        self.register_buffer("shift", -mean / std)

    def logits(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.network(pixels * self.scale + self.shift)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(pixels), dim=1)


def load_state_dict(weights: str) -> dict[str, torch.Tensor]:
    """A torchvision state dict from a file path, ``file://`` or ``http(s)://`` URI."""
    parsed = urllib.parse.urlparse(weights)
    if parsed.scheme in ("http", "https"):  # tensors only: never unpickle code from a URL
        return torch.hub.load_state_dict_from_url(
            weights, map_location="cpu", progress=False, weights_only=True
        )
    path = Path(parsed.path if parsed.scheme == "file" else weights)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {weights!r} does not exist")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"weights file {weights!r} does not hold a state dict")
    return state


def build_mobilenet_v2(
    num_classes: int,
    weights: str | None = None,
    trainable_blocks: int = 0,
    width_mult: float = 1.0,
    dropout: float = 0.2,
) -> PixelClassifier:
    """MobileNetV2 with a ``num_classes`` head.

    Without ``weights`` it trains from scratch (every layer trainable). With ``weights`` (a
    torchvision ImageNet state dict) it is transfer learning: the pretrained features are
    loaded and frozen, except the last ``trainable_blocks`` feature blocks, and a new head
    is trained.
    """
    network = torchvision.models.mobilenet_v2(weights=None, width_mult=width_mult, dropout=dropout)
    if not weights:
        zero_init_residual_branches(network)
    else:
        state = load_state_dict(weights)
        missing, unexpected = network.load_state_dict(state, strict=False)
        feature_missing = [k for k in missing if k.startswith("features.")]
        if feature_missing or unexpected:
            raise ValueError(
                f"weights {weights!r} do not fit MobileNetV2 (width {width_mult}): "
                f"missing {feature_missing[:3]}, unexpected {list(unexpected)[:3]}"
            )
        for parameter in network.features.parameters():
            parameter.requires_grad = False
        if trainable_blocks:
            for block in network.features[-trainable_blocks:]:
                for parameter in block.parameters():
                    parameter.requires_grad = True
        log.info("loaded %s; features frozen but the last %d blocks", weights, trainable_blocks)
    in_features = network.classifier[-1].in_features
    network.classifier[-1] = nn.Linear(in_features, num_classes)
    return PixelClassifier(network)


def zero_init_residual_branches(network: nn.Module) -> None:
    """Start each residual block as the identity (its last BatchNorm's scale at zero), for
    training from scratch. With torchvision's default init, a small data set left the loss rising
    for epochs and the result at chance on some CPUs and not others (arrows: 0.51 on one x86,
    0.85 with ATEN_CPU_CAPABILITY=default); starting from the identity it trains the same way
    everywhere (1.0 on each)."""
    from torchvision.models.mobilenetv2 import InvertedResidual

    for block in network.modules():
        if isinstance(block, InvertedResidual) and block.use_res_connect:
            last = [m for m in block.conv.modules() if isinstance(m, nn.BatchNorm2d)][-1]
            nn.init.zeros_(last.weight)


def frozen_batchnorm_to_eval(model: nn.Module) -> None:
    """Keep frozen BatchNorm layers' statistics fixed while the rest trains."""
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d) and not any(
            p.requires_grad for p in module.parameters()
        ):
            module.eval()

"""The turbine autoencoder and its export wrapper with scaling and the anomaly test inside.

The device feeds a raw window (its own units) and reads back the reconstruction (same units),
the reconstruction error and the anomaly flag. Inside the graph: per-signal smoothing over the
window, per-signal spread (log standard deviation, so a frozen sensor stands out), scaling
fitted on training windows, the autoencoder, and the threshold.
"""

import itertools

import torch
from torch import nn

LOG_STD_FLOOR = 1e-3


class WindowFeatures(nn.Module):
    """Raw window [N, W*S] -> scaled features [N, W*S + S] (smoothed values, then log-spreads)."""

    def __init__(self, window: int, signals: int) -> None:
        super().__init__()
        self.window, self.signals = window, signals
        features = window * signals + signals
        self.register_buffer("center", torch.zeros(features))
        self.register_buffer("scale", torch.ones(features))

    def raw_features(self, windows: torch.Tensor) -> torch.Tensor:
        series = windows.reshape(-1, self.window, self.signals).transpose(1, 2)  # [N, S, W]
        smoothed = nn.functional.avg_pool1d(series, 3, stride=1, padding=1, count_include_pad=False)
        # the spread of the steps from the window's first reading (the same standard deviation):
        # a stuck 2,000 kW reading then gives exactly 0 in every runtime; taken from the raw
        # values, the runtimes' means differed by one float32 step (1e-4 at 2,000), and its log
        # moved the exported model's error by 2 % against PyTorch's
        steps = series - series[:, :, :1]
        centred = steps - steps.mean(dim=2, keepdim=True)
        spread = torch.log(
            torch.sqrt((centred * centred).sum(dim=2) / (self.window - 1)) + LOG_STD_FLOOR
        )
        return torch.cat(
            [smoothed.transpose(1, 2).reshape(-1, self.window * self.signals), spread], 1
        )

    def fit(self, windows: torch.Tensor) -> None:
        """Fit the scaling on training windows only."""
        with torch.no_grad():
            raw = self.raw_features(windows)
            self.center.copy_(raw.mean(0))
            self.scale.copy_(raw.std(0).clamp_min(1e-3))

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        return (self.raw_features(windows) - self.center) / self.scale


class Autoencoder(nn.Module):
    def __init__(self, features: int, hidden: tuple[int, ...] = (64, 24, 8)) -> None:
        super().__init__()
        sizes = [features, *hidden]
        encoder, decoder = [], []
        for a, b in itertools.pairwise(sizes):
            encoder += [nn.Linear(a, b), nn.GELU()]
        for a, b in itertools.pairwise(sizes[::-1]):
            decoder += [nn.Linear(a, b), nn.GELU()]
        self.encoder = nn.Sequential(*encoder[:-1])  # linear bottleneck
        self.decoder = nn.Sequential(*decoder[:-1])  # linear output

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(features))


class AnomalyDetector(nn.Module):
    """Raw window -> (reconstruction in raw units of the smoothed window, error, anomaly flag)."""

    def __init__(self, window: int, signals: int, hidden: tuple[int, ...] = (64, 24, 8)) -> None:
        super().__init__()
        self.features = WindowFeatures(window, signals)
        self.autoencoder = Autoencoder(window * signals + signals, hidden)
        self.register_buffer("threshold", torch.tensor(float("inf")))

    def error(self, windows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.scaled_error(self.features(windows))

    def scaled_error(self, scaled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Reconstruction and its error for windows already turned into scaled features."""
        reconstructed = self.autoencoder(scaled)
        return reconstructed, ((reconstructed - scaled) ** 2).mean(dim=1)

    def forward(self, windows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        reconstructed, error = self.error(windows)
        n_values = self.features.window * self.features.signals
        raw = reconstructed * self.features.scale + self.features.center
        return raw[:, :n_values], error, error > self.threshold

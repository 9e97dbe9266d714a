"""Small matplotlib figures as PNG bytes, and the Markdown that shows one in the Dagster UI."""

import base64
import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from PIL import Image


def _png(figure: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=80)
    plt.close(figure)
    return buffer.getvalue()


def png_markdown(png: bytes, title: str) -> str:
    """Markdown with the PNG inline (Dagster has no image metadata type)."""
    return f"![{title}](data:image/png;base64,{base64.b64encode(png).decode()})"


def line_plot(series: Mapping[str, Sequence[float]], title: str, xlabel: str, ylabel: str) -> bytes:
    figure, axes = plt.subplots(figsize=(5, 3))
    for name, values in series.items():
        axes.plot(range(1, len(values) + 1), values, marker="o", markersize=3, label=name)
    axes.set(title=title, xlabel=xlabel, ylabel=ylabel)
    axes.grid(alpha=0.3)
    axes.legend()
    return _png(figure)


def confusion_plot(matrix: np.ndarray, labels: Sequence[str], title: str) -> bytes:
    figure, axes = plt.subplots(figsize=(1.2 + 0.6 * len(labels), 1 + 0.55 * len(labels)))
    axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    axes.set_yticks(range(len(labels)), labels)
    axes.set(title=title, xlabel="predicted", ylabel="true")
    for (row, column), value in np.ndenumerate(matrix):
        colour = "white" if value > matrix.max() / 2 else "black"
        axes.text(column, row, str(value), ha="center", va="center", color=colour, fontsize=8)
    return _png(figure)


def histogram_plot(
    samples: Mapping[str, np.ndarray],
    title: str,
    xlabel: str,
    bins: int = 40,
    marker: float | None = None,
) -> bytes:
    figure, axes = plt.subplots(figsize=(5, 3))
    finite = [s[np.isfinite(s)] for s in samples.values() if len(s)]
    edges = np.histogram_bin_edges(np.concatenate(finite), bins=bins) if finite else bins
    for name, values in samples.items():
        axes.hist(values, bins=edges, alpha=0.6, label=name, density=True)
    if marker is not None:
        axes.axvline(marker, color="red", linestyle="--", label=f"threshold {marker:.3g}")
    axes.set(title=title, xlabel=xlabel, ylabel="density")
    axes.legend()
    return _png(figure)


def image_grid(
    images: Sequence[Image.Image], captions: Sequence[str], columns: int = 8, size: int = 64
) -> bytes:
    """Thumbnails with captions, for a glance at what a dataset holds."""
    rows = max(1, -(-len(images) // columns))
    figure, axes_grid = plt.subplots(rows, columns, figsize=(columns * 1.1, rows * 1.25))
    for index, axes in enumerate(np.atleast_1d(axes_grid).flat):
        axes.axis("off")
        if index < len(images):
            axes.imshow(images[index].convert("RGB").resize((size, size)))
            axes.set_title(captions[index], fontsize=7)
    return _png(figure)

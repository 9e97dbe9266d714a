"""Small matplotlib figures as PNG bytes, and the Markdown that shows one in the Dagster UI."""

import base64
import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates
import matplotlib.pyplot as plt
import matplotlib.ticker
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


def bar_plot(
    groups: Mapping[str, Mapping[str, float]], title: str, ylabel: str, percent: bool = False
) -> bytes:
    """Bars per category, one colour per group (e.g. today's classes against the baseline)."""
    categories = sorted({c for values in groups.values() for c in values})
    figure, axes = plt.subplots(figsize=(max(4.0, 0.7 * len(categories) + 2), 3))
    width = 0.8 / max(1, len(groups))
    for offset, (name, values) in enumerate(groups.items()):
        positions = np.arange(len(categories)) + offset * width - 0.4 + width / 2
        axes.bar(positions, [values.get(c, 0.0) for c in categories], width, label=name)
    axes.set_xticks(range(len(categories)), categories, rotation=30, ha="right")
    axes.set(title=title, ylabel=ylabel)
    if percent:
        axes.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    axes.grid(alpha=0.3, axis="y")
    if len(groups) > 1:
        axes.legend()
    return _png(figure)


def time_plot(
    series: Mapping[str, tuple[Sequence, Sequence[float]]],
    title: str,
    ylabel: str,
    span: tuple | None = None,
) -> bytes:
    """One line per series over the hours of a day: ``{name: (times, values)}``; ``span`` is
    the (start, end) the x axis shows."""
    figure, axes = plt.subplots(figsize=(6, 3))
    for name, (times, values) in series.items():
        axes.plot(list(times), list(values), marker="o", markersize=3, label=name)
    if span is not None:
        axes.set_xlim(*span)
    axes.set(title=title, xlabel="hour (UTC)", ylabel=ylabel)
    axes.xaxis.set_major_formatter(matplotlib.dates.DateFormatter("%H:%M"))
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7)
    return _png(figure)

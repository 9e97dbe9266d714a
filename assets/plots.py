"""Small matplotlib figures as PNG bytes, and the Markdown that shows one in the Dagster UI."""

import base64
import functools
import io
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


@functools.cache
def _pyplot() -> ModuleType:
    """pyplot (off screen), imported by the first plot, not with the code location: 0.6 s that
    every CLI command and run process paid whether it drew or not."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot

    return matplotlib.pyplot


def _png(figure: "Figure") -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=80)
    _pyplot().close(figure)
    return buffer.getvalue()


def png_markdown(png: bytes, title: str) -> str:
    """Markdown with the PNG inline (Dagster has no image metadata type)."""
    return f"![{title}](data:image/png;base64,{base64.b64encode(png).decode()})"


def line_plot(series: Mapping[str, Sequence[float]], title: str, xlabel: str, ylabel: str) -> bytes:
    figure, axes = _pyplot().subplots(figsize=(5, 3))
    for name, values in series.items():
        axes.plot(range(1, len(values) + 1), values, marker="o", markersize=3, label=name)
    axes.set(title=title, xlabel=xlabel, ylabel=ylabel)
    axes.grid(alpha=0.3)
    axes.legend()
    return _png(figure)


def confusion_plot(matrix: np.ndarray, labels: Sequence[str], title: str) -> bytes:
    figure, axes = _pyplot().subplots(figsize=(1.2 + 0.6 * len(labels), 1 + 0.55 * len(labels)))
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
    figure, axes = _pyplot().subplots(figsize=(5, 3))
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
    figure, axes_grid = _pyplot().subplots(rows, columns, figsize=(columns * 1.1, rows * 1.25))
    for index, axes in enumerate(np.atleast_1d(axes_grid).flat):
        axes.axis("off")
        if index < len(images):
            axes.imshow(images[index].convert("RGB").resize((size, size)))
            axes.set_title(captions[index], fontsize=7)
    return _png(figure)


REPORT_DPI = 100  # a report's figures are read on a page, larger than metadata thumbnails


def _report_figure(width: float = 5.3) -> tuple["Figure", "Axes"]:
    return _pyplot().subplots(figsize=(width, 3.6), layout="constrained")


def _report_png(figure: "Figure") -> bytes:
    """A report figure with its legend under the plot (never over the data), as PNG bytes."""
    figure.legend(loc="outside lower center", ncol=2, fontsize=8, frameon=False)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=REPORT_DPI)
    _pyplot().close(figure)
    return buffer.getvalue()


def bar_plot(
    groups: Mapping[str, Mapping[str, float]],
    title: str,
    ylabel: str,
    reference: tuple[float, str] | None = None,
) -> bytes:
    """Shares per category, one colour per group (e.g. a day's classes against the validation
    set), categories in the order given, each bar labelled with its share (so a 0 % bar still
    shows); ``reference``: a (share, name) line across."""
    from matplotlib import ticker

    categories = list(dict.fromkeys(c for values in groups.values() for c in values))
    figure, axes = _report_figure(max(5.3, 0.6 * len(categories) + 2.5))
    width = 0.8 / max(1, len(groups))
    for offset, (name, values) in enumerate(groups.items()):
        positions = np.arange(len(categories)) + offset * width - 0.4 + width / 2
        shares = [values.get(c, 0.0) for c in categories]
        bars = axes.bar(positions, shares, width, label=name)
        axes.bar_label(
            bars, [f"{s:.1%}" if 0 < s < 0.1 else f"{s:.0%}" for s in shares], fontsize=7
        )
    if reference is not None:
        axes.axhline(reference[0], color="black", linestyle="--", linewidth=1, label=reference[1])
    few = len(categories) <= 5  # few enough to read level
    axes.set_xticks(
        range(len(categories)),
        categories,
        rotation=0 if few else 30,
        ha="center" if few else "right",
    )
    axes.set(title=title, ylabel=ylabel)
    axes.set_ylim(0, max(0.01, axes.get_ylim()[1] * 1.08))  # room for the labels
    axes.yaxis.set_major_formatter(ticker.PercentFormatter(1.0))
    axes.grid(alpha=0.3, axis="y")
    return _report_png(figure)


def binned_plot(
    edges: Sequence[float],
    groups: Mapping[str, Sequence[float]],
    title: str,
    ylabel: str,
    marker: tuple[float, str] | None = None,
    log_x: bool = False,
    percent_x: bool = False,
) -> bytes:
    """Each group's share of its counts per bin, drawn at the bins' true positions (so the axis
    runs low to high whatever the labels): the first group filled, the others as outlines;
    ``marker``: a (value, name) threshold drawn across."""
    from matplotlib import ticker

    figure, axes = _report_figure()
    for index, (name, counts) in enumerate(groups.items()):
        counts = np.asarray(counts, float)
        shares = counts / max(counts.sum(), 1.0)
        if index == 0:
            axes.stairs(shares, edges, fill=True, alpha=0.6, label=name)
        else:
            axes.stairs(shares, edges, color="black", linewidth=1.5, label=name)
    if marker is not None:
        axes.axvline(marker[0], color="#b00020", linestyle="--", linewidth=1.2, label=marker[1])
    if log_x:  # ticks at 1, 2 and 5 of each decade, written as plain numbers
        axes.set_xscale("log")
        axes.xaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        axes.xaxis.set_minor_locator(ticker.NullLocator())
        axes.xaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
    axes.set_xlim(edges[0], edges[-1])
    if percent_x:
        axes.xaxis.set_major_formatter(ticker.PercentFormatter(1.0))
    axes.yaxis.set_major_formatter(ticker.PercentFormatter(1.0, decimals=0))
    axes.set_ylim(0, None)
    axes.set(title=title, ylabel=ylabel)
    axes.grid(alpha=0.3)
    return _report_png(figure)


def time_plot(
    series: Mapping[str, tuple[Sequence, Sequence[float]]],
    title: str,
    ylabel: str,
    span: tuple | None = None,
) -> bytes:
    """One line per series over the hours of a day: ``{name: (times, values)}``, each hour a
    marker large enough to see alone; ``span`` is the (start, end) the x axis shows."""
    from matplotlib import dates

    figure, axes = _report_figure()
    for name, (times, values) in series.items():
        axes.plot(list(times), list(values), marker="o", markersize=7, linewidth=1.5, label=name)
    if span is not None:
        axes.set_xlim(*span)
    highest = max((max(values) for _, values in series.values() if len(values)), default=1.0)
    axes.set_ylim(0, 1.15 * highest)  # a lone hour's marker clear of the frame
    axes.set(title=title, xlabel="hour (UTC)", ylabel=ylabel)
    axes.xaxis.set_major_formatter(dates.DateFormatter("%H:%M"))
    axes.grid(alpha=0.3)
    return _report_png(figure)

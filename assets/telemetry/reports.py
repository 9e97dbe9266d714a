"""Quality reports from client telemetry: plain pandas over the events of one day.

Every drift and quality figure carries the events it rests on, the fewest it needs and what it is
compared with; below its minimum it says "not enough data" rather than show a number that
sampling noise alone made."""

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from assets.vision.metrics import unsure_floor
from edgeline_contract.telemetry import readable_event
from resources.telemetry import cycle_collection_paused

SCHEMA = "edgeline.quality-report/2"
CONFIDENCE_EDGES = np.linspace(0.0, 1.0, 11)
# PSI above this reads as drifted (the usual reading: below 0.1 stable, above 0.2 shifted); the
# report asset's config can change it, and the report states the one it used
DRIFT_PSI_THRESHOLD = 0.2
MIN_EVENTS_PER_BIN = 20  # a PSI's minimum: see psi_needs
MIN_EVENTS_FOR_PSI = 100
# a share (a rate) needs 30 events: below that one event moves a share by more than 3 points
# and its 95 % interval is about +-18 points wide or more; the count is shown instead ("2 of 6")
MIN_EVENTS_FOR_SHARE = 30


def readable_events(
    events: list[Any], client_kind: str
) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """The events a roll-up can use, and ``(event id, reason)`` for each it skips: one odd row
    (written by an older client, or straight into the store) never fails the hour."""
    kept, skipped = [], []
    with cycle_collection_paused():  # a check's small lists, made per event: 2x with it on
        for event in events:
            problem = readable_event(event, client_kind)
            if problem is None:
                kept.append(event)
            else:
                event_id = event.get("event_id") if isinstance(event, dict) else None
                skipped.append((str(event_id)[:64], problem))
    return kept, skipped


def events_frame(tables: Sequence[pa.Table]) -> pd.DataFrame:
    """The events of the hours' tables (as the events asset writes them) as one frame with the
    columns every report needs, the top-1 label and confidence flattened."""
    parts = [first_prediction(table).to_pandas() for table in tables if table.num_rows]
    if not parts:
        return pd.DataFrame(
            columns=[
                "event_id",
                "device_id",
                "model",
                "model_version",
                "variant",
                "timestamp",
                "latency_ms",
            ]
        )
    frame = pd.concat(parts, ignore_index=True)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601")
    outcome = frame["outcome"] if "outcome" in frame else pd.Series(index=frame.index, dtype=object)
    frame["outcome"] = outcome.fillna("scored")  # left out by clients before the field
    return frame


def first_prediction(table: pa.Table) -> pa.Table:
    """``top_k``'s first entry as the columns ``label`` and ``confidence`` (null without one),
    in place of ``top_k``. In Arrow: through pandas' Python lists it took 5x as long (0.49 s
    against 0.10 s for 200,000 events)."""
    if "top_k" not in table.column_names:
        return table
    top_k = table["top_k"].combine_chunks()
    label, confidence = pa.nulls(len(top_k), pa.string()), pa.nulls(len(top_k), pa.float64())
    # otherwise no event of the table sent an entry (top_k null or empty throughout)
    listed = pa.types.is_list(top_k.type) or pa.types.is_large_list(top_k.type)
    if listed and pa.types.is_struct(top_k.type.value_type):
        first = pc.list_slice(top_k, 0, 1)
        rows = pc.list_parent_indices(first).to_numpy()
        where = np.full(len(top_k), -1)
        where[rows] = np.arange(len(rows))
        entries = pc.list_flatten(first).take(pa.array(where, mask=where < 0))
        label = pc.struct_field(entries, "label").cast(pa.string())
        confidence = pc.struct_field(entries, "confidence").cast(pa.float64())
    table = table.drop_columns(["top_k"])
    return table.append_column("label", label).append_column("confidence", confidence)


def population_stability_index(
    expected: np.ndarray, observed: np.ndarray, floor: float = 1e-4
) -> float:
    """PSI between two distributions over the same bins (fractions or counts)."""
    expected = np.asarray(expected, float)
    observed = np.asarray(observed, float)
    if expected.sum() <= 0 or observed.sum() <= 0:
        return 0.0
    e = np.clip(expected / expected.sum(), floor, None)
    o = np.clip(observed / observed.sum(), floor, None)
    return float(np.sum((o - e) * np.log(o / e)))


def psi_needs(bins: int) -> int:
    """The fewest events a PSI over ``bins`` bins needs: 20 a bin, and at least 100.

    PSI sums (o - e) * ln(o / e) over the bins. For a model that did not drift at all, sampling
    alone makes n * PSI about chi-square with bins - 1 degrees of freedom (PSI about
    (bins - 1) / n), and a bin left empty by chance adds its baseline share times
    ln(share / 1e-4): on 6 events the median PSI of an unchanged model is 1.4 to 4 on 10 or 20
    bins, far above any threshold. With 20 events a bin, and at least 100, an unchanged model stays below 0.2
    on 99 days in 100 (simulated on flat and skewed baselines of 2 to 20 bins; the test
    tests/telemetry/test_report_figures.py runs that simulation)."""
    return max(MIN_EVENTS_FOR_PSI, MIN_EVENTS_PER_BIN * bins)


def percentile_needs(percent: float) -> int:
    """The fewest events a percentile needs: as many as a share, and enough that some lie above
    it (a p99 of fewer than 100 events is only the largest one)."""
    return max(MIN_EVENTS_FOR_SHARE, math.ceil(100 / (100 - percent)))


def unsure_below(baseline: dict[str, Any] | None, version: str, classes: int) -> tuple[float, str]:
    """The top-1 confidence below which a prediction counts as "not sure", and where it came
    from: the version's validation baseline (``unsure_below``), else the rule the page uses for
    a manifest without it (``unsure_floor`` of the number of classes)."""
    value = (baseline or {}).get("unsure_below")
    if isinstance(value, float) and 0 < value < 1:
        return value, f"{version}'s validation baseline"
    why = (
        f"{version} has no validation baseline"
        if baseline is None
        else f"{version}'s validation baseline has no unsure_below in (0, 1)"
    )
    return unsure_floor(classes), (
        f"the page's rule for older versions, min(0.5, 2 / {classes} classes); {why}"
    )


def figure(
    label: str,
    kind: str,
    value: float,
    events: int,
    needs: int,
    about: str,
    threshold: float | None = None,
    validation: float | None = None,
    count: int | None = None,
) -> dict[str, Any]:
    """One drift or quality figure with its sample size: ``kind`` "psi" (drifted above
    ``threshold``), "share" (``count`` of ``events``) or "number"; ``value`` is None below
    ``needs`` events, so that nothing can read a figure of a handful of events as a measure."""
    enough = events >= needs
    if not enough:
        verdict = "not enough data"
    elif kind == "psi" and threshold is not None:
        verdict = "drifted" if value > threshold else "no drift"
    else:
        verdict = "measured"
    return {
        "label": label,
        "kind": kind,
        "value": value if enough else None,
        "events": events,
        "needs": needs,
        "threshold": threshold,
        "about": about,
        "validation": validation,
        "count": count,
        "verdict": verdict,
    }


def latency_table(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Latency percentiles per model version, variant and backend (wasm, webgpu; cpu on a Pi)."""
    backend = frame["backend"] if "backend" in frame else pd.Series(index=frame.index, dtype=object)
    frame = frame.assign(backend=backend.fillna("unreported"))
    rows = []
    for (model, version, variant, where), part in frame.groupby(
        ["model", "model_version", "variant", "backend"], sort=True
    ):
        latency = part["latency_ms"].to_numpy(float)
        rows.append(
            {
                "model": model,
                "model_version": int(version),
                "variant": variant,
                "backend": where,
                "events": len(part),
                "p50_ms": float(np.percentile(latency, 50)),
                "p95_ms": float(np.percentile(latency, 95)),
                "p99_ms": float(np.percentile(latency, 99)),
            }
        )
    return rows


def fleet_view(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Which device ran which model version, as of its last event (to the second, UTC)."""
    last = frame.sort_values("timestamp").groupby("device_id").tail(1)
    return [
        {
            "device_id": row.device_id,
            "model": row.model,
            "model_version": int(row.model_version),
            "variant": row.variant,
            "last_seen": f"{row.timestamp:%Y-%m-%dT%H:%M:%SZ}",
        }
        for row in last.sort_values("device_id").itertuples()
    ]


# what a report compares with the validation baseline: {figure key: (label, expected, observed)}
Comparisons = dict[str, tuple[str, list[float], list[int]]]


def web_quality(
    frame: pd.DataFrame, baseline: dict[str, Any] | None, version: str
) -> tuple[dict[str, Any], dict[str, dict[str, Any]], Comparisons]:
    """The distributions a web report plots, its low-confidence rate, and what it compares
    with the baseline: the predicted classes and the top-1 confidence."""
    confidence = frame["confidence"].to_numpy(float)
    confidence = confidence[np.isfinite(confidence)]
    counts, _ = np.histogram(confidence, bins=CONFIDENCE_EDGES)
    classes = frame["label"].value_counts().sort_index()
    known = len((baseline or {}).get("class_distribution") or {}) or len(classes)
    threshold, source = unsure_below(baseline, version, max(known, 2))
    quality = {
        "class_distribution": {k: float(v / classes.sum()) for k, v in classes.items()},
        "confidence_histogram": {
            "edges": CONFIDENCE_EDGES.round(2).tolist(),
            "counts": counts.tolist(),
        },
        "unsure_below": threshold,
        "unsure_below_from": source,
    }
    unsure = int(np.sum(confidence < threshold))
    figures = {
        "low_confidence_rate": figure(
            "Low-confidence rate",
            "share",
            unsure / max(len(confidence), 1),
            len(confidence),
            MIN_EVENTS_FOR_SHARE,
            f"top-1 confidence below {threshold:.2f} ({source})",
            threshold,
            count=unsure,
        ),
    }
    if not baseline:
        return quality, figures, {}
    labels = sorted(set(baseline["class_distribution"]) | set(classes.index))
    return (
        quality,
        figures,
        {
            "psi_class_distribution": (
                "PSI of the predicted classes",
                [baseline["class_distribution"].get(label, 0.0) for label in labels],
                [int(classes.get(label, 0)) for label in labels],
            ),
            "psi_confidence": (
                "PSI of the top-1 confidence",
                baseline["confidence_histogram"]["counts"],
                counts.tolist(),
            ),
        },
    )


def _psi_figure(
    label: str, expected: list[float], observed: list[int], threshold: float, version: str
) -> dict[str, Any]:
    return figure(
        label,
        "psi",
        population_stability_index(np.array(expected), np.array(observed)),
        int(sum(observed)),
        psi_needs(len(expected)),
        f"drifted above {threshold:.2f}, against {version}'s validation baseline "
        f"({len(expected)} bins)",
        threshold,
    )


def pi_quality(
    frame: pd.DataFrame, baseline: dict[str, Any] | None, version: str
) -> tuple[dict[str, Any], dict[str, dict[str, Any]], Comparisons]:
    """The distributions a Pi report plots, its anomaly rate and error p50, p90 and p99 against
    the anomaly threshold, and what it compares with the baseline: the error distribution."""
    errors = frame["reconstruction_error"].to_numpy(float)
    log_errors = np.log10(errors + 1e-6)
    edges = (
        np.array(baseline["log10_error_histogram"]["edges"])
        if baseline
        else np.histogram_bin_edges(log_errors, bins=20)
    )
    counts, _ = np.histogram(np.clip(log_errors, edges[0], edges[-1]), bins=edges)
    per_device = frame.groupby("device_id")["anomaly"].agg(["mean", "size"]).sort_index()
    quality = {
        "anomaly_rate_per_device": {k: float(v) for k, v in per_device["mean"].items()},
        "events_per_device": {k: int(v) for k, v in per_device["size"].items()},
        "log10_error_histogram": {"edges": edges.tolist(), "counts": counts.tolist()},
        "anomaly_threshold": (baseline or {}).get("threshold"),
    }
    threshold = quality["anomaly_threshold"]
    against = (
        f"anomaly threshold {threshold:.3g} (from {version}'s validation baseline)"
        if threshold is not None
        else f"no anomaly threshold: {version} has no validation baseline"
    )
    flagged = int(frame["anomaly"].sum())
    figures = {
        "anomaly_rate": figure(
            "Anomaly rate",
            "share",
            flagged / len(frame),
            len(frame),
            MIN_EVENTS_FOR_SHARE,
            f"windows flagged by the devices; {against}",
            threshold,
            validation=(baseline or {}).get("anomaly_rate"),
            count=flagged,
        )
    }
    for percent in (50, 90, 99):
        figures[f"error_p{percent}"] = figure(
            f"Reconstruction error p{percent}",
            "number",
            float(np.percentile(errors, percent)),
            len(errors),
            percentile_needs(percent),
            against,
            threshold,
            validation=(baseline or {}).get("error_percentiles", {}).get(str(percent)),
        )
    if not baseline:
        return quality, figures, {}
    label, expected = "PSI of the reconstruction error", baseline["log10_error_histogram"]["counts"]
    return quality, figures, {"psi_error_distribution": (label, expected, counts.tolist())}


def failure_figure(outcomes: pd.Series) -> dict[str, Any]:
    """The share of inferences that gave no prediction (``outcome`` error or unscored): a model
    that fails on real inputs says nothing in the quality figures, which count answers only."""
    counts = outcomes.value_counts()
    errors, unscored = int(counts.get("error", 0)), int(counts.get("unscored", 0))
    return figure(
        "Failure rate",
        "share",
        (errors + unscored) / len(outcomes),
        len(outcomes),
        MIN_EVENTS_FOR_SHARE,
        f"inferences with no prediction: {_count(errors, 'run')} failed, "
        f"{_count(unscored, 'input')} could not be scored",
        count=errors + unscored,
    )


def drift_figure(report: dict[str, Any]) -> dict[str, Any] | None:
    """The PSI figure with the largest value; None when no PSI was measured (never a 0 that
    would read as "no drift")."""
    measured = [
        f
        for f in report.get("figures", {}).values()
        if f["kind"] == "psi" and f["value"] is not None
    ]
    return max(measured, key=lambda f: f["value"], default=None)


def _not_measured_because(report: dict[str, Any], no_baseline_because: str | None) -> str:
    psi = [f for f in report["figures"].values() if f["kind"] == "psi"]
    if not report["scored_events"]:
        model, failed = report["baseline_model"], report["model_events"]
        if failed:
            return (
                f"no prediction of {model}: its {_count(failed, 'event')} failed or were unscored"
            )
        return f"no event of {model}" if report["events"] else "no client has reported yet"
    if not psi:
        return no_baseline_because or "no validation baseline"
    needs = min(f["needs"] for f in psi)
    return (
        f"not enough data ({_count(report['scored_events'], 'event')}; a PSI here needs at "
        f"least {needs})"
    )


def build_report(
    client_kind: str,
    day: str,
    frame: pd.DataFrame,
    baseline: dict[str, Any] | None,
    baseline_version: int | None,
    model: str | None = None,
    waiting_for_review: int | None = None,
    no_baseline_because: str | None = None,
    psi_threshold: float = DRIFT_PSI_THRESHOLD,
) -> dict[str, Any]:
    """Counts, latency and the fleet over every event; quality and drift over ``model``'s events
    only (a Pi fleet may run several devices' models: one model's baseline says nothing of
    another's errors); for web pages, the photos shared and those waiting for review."""
    models = frame["model"].value_counts() if len(frame) else pd.Series(dtype=int)
    answered = frame[frame["outcome"] == "scored"] if len(frame) else frame
    ours = frame[frame["model"] == model] if model else frame
    scored = answered[answered["model"] == model] if model else answered
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "client_kind": client_kind,
        "day": day,
        "events": len(frame),
        "devices": int(frame["device_id"].nunique()) if len(frame) else 0,
        "baseline_model": model,
        "baseline_model_version": baseline_version,
        "events_per_model": {str(k): int(v) for k, v in models.items()},
        "model_events": len(ours),
        "scored_events": len(scored),
        "psi_threshold": psi_threshold,
        "latency": latency_table(answered) if len(answered) else [],
        "fleet": fleet_view(frame) if len(frame) else [],
        "quality": {},
        "figures": {},
    }
    if len(ours):
        report["figures"]["failure_rate"] = failure_figure(ours["outcome"])
    if len(scored):
        version = f"{model or 'the model'} v{baseline_version}"
        measure = web_quality if client_kind == "web" else pi_quality
        report["quality"], figures, comparisons = measure(scored, baseline, version)
        for key, (label, expected, observed) in comparisons.items():
            figures[key] = _psi_figure(label, expected, observed, psi_threshold, version)
        report["figures"].update(figures)
    drift = drift_figure(report)
    report["drift_psi"] = drift["value"] if drift else None
    if drift is None:
        report["drift_not_measured"] = _not_measured_because(report, no_baseline_because)
    if client_kind == "web":
        shared = int(frame["image_key"].notna().sum()) if "image_key" in frame else 0
        report["shared_images"] = {"shared": shared, "waiting_for_review": waiting_for_review}
    return report


CLIENTS = {"web": "web pages", "pi": "Pi devices"}


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def _title(report: dict[str, Any]) -> str:
    model = report.get("baseline_model") or "every model"
    return f"Quality report: {model} on {CLIENTS[report['client_kind']]}, {report['day']} (UTC)"


def _shared_line(report: dict[str, Any]) -> str:
    shared = report.get("shared_images")
    if not shared:
        return ""
    waiting = shared["waiting_for_review"]
    return f"Photos shared with predictions: {shared['shared']:,}" + (
        f"; waiting for a person's review: {waiting:,} (none trains until accepted)."
        if waiting is not None
        else "."
    )


def drift_text(report: dict[str, Any]) -> str:
    """The drift figure as a person reads it: the largest PSI with its events, verdict and
    threshold, or why there is none."""
    drift = drift_figure(report)
    if drift is None:
        why = report.get("drift_not_measured", "no baseline")
        return why if why.startswith("not enough data") else f"not measured ({why})"
    return (
        f"{drift['verdict']}, {drift['label']} {drift['value']:.3f} over "
        f"{_count(drift['events'], 'event')} (drifted above {drift['threshold']:.2f})"
    )


def _summary(report: dict[str, Any]) -> list[tuple[str, bool]]:
    """The report's opening paragraphs, each with whether it warns (a drift above threshold)."""
    model = report.get("baseline_model")
    if not report["events"]:
        lines = [
            (
                f"No client has reported yet: no event{f' of {model}' if model else ''} on "
                f"{report['day']} (UTC), so there is no drift or quality figure.",
                False,
            )
        ]
    else:
        per_model = report.get("events_per_model", {})
        mixed = set(per_model) - {model} if model else set()
        lines = [
            (
                f"{_count(report['events'], 'event')} from {_count(report['devices'], 'device')}"
                + (
                    f" (per model: {', '.join(f'{k} {v:,}' for k, v in per_model.items())}; "
                    f"drift and quality over {model}'s only)"
                    if mixed
                    else ""
                )
                + ".",
                False,
            )
        ]
        against = (
            f" against {model} v{report['baseline_model_version']}'s validation baseline"
            if any(f["kind"] == "psi" for f in report["figures"].values())
            else ""
        )
        drift = drift_figure(report)
        lines.append(
            (
                f"Drift{against}: {drift_text(report)}.",
                drift is not None and drift["verdict"] == "drifted",
            )
        )
        failed = report["figures"].get("failure_rate")
        if failed and failed["count"]:
            lines.append(
                (
                    f"{failed['count']:,} of {model or 'the model'}'s {failed['events']:,} "
                    f"inferences gave no prediction ({failed['about'].split(': ', 1)[1]}).",
                    True,
                )
            )
    shared = _shared_line(report)
    return lines + ([(shared, False)] if shared else [])


@dataclass(frozen=True)
class Table:
    """A report table as text cells; ``warn``: the rows to mark (a drifted figure)."""

    headers: list[str]
    rows: list[list[str]]
    warn: frozenset[int] = field(default_factory=frozenset)


def _ms(value: float) -> str:
    return f"{value:.3g}"


def _second(timestamp: str) -> str:
    return f"{pd.Timestamp(timestamp):%Y-%m-%d %H:%M:%S}"


# a row's key -> the column's title (words, with units) and how a cell reads
COLUMNS: dict[str, tuple[str, Callable[[Any], str]]] = {
    "device_id": ("Device", str),
    "model": ("Model", str),
    "model_version": ("Version", lambda version: f"v{version}"),
    "variant": ("Variant", str),
    "backend": ("Backend", str),
    "events": ("Events", lambda events: f"{events:,}"),
    "p50_ms": ("p50 (ms)", _ms),
    "p95_ms": ("p95 (ms)", _ms),
    "p99_ms": ("p99 (ms)", _ms),
    "last_seen": ("Last seen (UTC)", _second),
}


def _rows_table(rows: list[dict[str, Any]]) -> Table:
    keys = list(rows[0]) if rows else []
    return Table(
        [COLUMNS[key][0] for key in keys],
        [[COLUMNS[key][1](row[key]) for key in keys] for row in rows],
    )


def _figure_number(kind: str, value: float) -> str:
    return {"psi": f"{value:.3f}", "share": f"{value:.1%}"}.get(kind, f"{value:.3g}")


def _figure_value(figure: dict[str, Any]) -> str:
    count = f" ({figure['count']:,} of {figure['events']:,})" if figure["count"] is not None else ""
    if figure["value"] is None:
        return f"not enough data{count}"
    return _figure_number(figure["kind"], figure["value"]) + count


def _figures_table(report: dict[str, Any]) -> Table:
    figures = list(report["figures"].values())
    return Table(
        ["Figure", "Value", "Events", "Needs at least", "Validation", "Threshold", "Verdict"],
        [
            [
                f["label"],
                _figure_value(f),
                f"{f['events']:,}",
                f"{f['needs']:,}",
                "—" if f["validation"] is None else _figure_number(f["kind"], f["validation"]),
                f["about"],
                f["verdict"],
            ]
            for f in figures
        ],
        frozenset(i for i, f in enumerate(figures) if f["verdict"] == "drifted"),
    )


def _minimums(report: dict[str, Any]) -> str:
    return (
        f"Minimum samples: a PSI needs {MIN_EVENTS_PER_BIN} events per bin and at least "
        f"{MIN_EVENTS_FOR_PSI} (with fewer, sampling noise alone reads as drift); a share needs "
        f"{MIN_EVENTS_FOR_SHARE} (below that, its count is shown); a percentile p needs "
        f"100 / (100 - p) and at least {MIN_EVENTS_FOR_SHARE}. A PSI above "
        f"{report['psi_threshold']:.2f} reads as drifted."
    )


def _sections(report: dict[str, Any]) -> list[tuple[str, Table, str]]:
    """The report's tables with their headings and the note under each (none without events)."""
    if not report["events"]:
        return []
    return [
        ("Drift and quality", _figures_table(report), _minimums(report)),
        (
            "Latency by model version, variant and backend",
            _rows_table(report["latency"]),
            "",
        ),
        ("Fleet: each device's model as of its last event", _rows_table(report["fleet"]), ""),
    ]


def _markdown_table(table: Table) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cells) + " |"

    return "\n".join(
        [line(table.headers), line(["---"] * len(table.headers)), *map(line, table.rows)]
    )


def report_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown (the Dagster UI shows it as the asset's metadata)."""
    lines = [f"# {_title(report)}", ""]
    for text, _ in _summary(report):
        lines += [text, ""]
    for heading, table, note in _sections(report):
        lines += [f"## {heading}", _markdown_table(table), ""]
        lines += [note, ""] if note else []
    return "\n".join(lines).rstrip() + "\n"


def report_plots(
    client_kind: str, frame: pd.DataFrame, report: dict[str, Any], baseline: dict[str, Any] | None
) -> dict[str, bytes]:
    """The figures an engineer looks for first, as PNG bytes, each naming the events it shows;
    none before any client reported."""
    from assets.plots import bar_plot, binned_plot, time_plot

    if frame.empty:
        return {}
    quality, plots = report["quality"], {}
    today = f"{report['day']} ({_count(report['scored_events'], 'event')})"
    samples = (baseline or {}).get("samples")
    validation = "validation set" + (f" ({samples:,})" if samples else "")
    if client_kind == "web" and quality:
        known = baseline["class_distribution"] if baseline else {}
        classes = sorted(set(quality["class_distribution"]) | set(known))
        groups = {today: {c: quality["class_distribution"].get(c, 0.0) for c in classes}}
        if baseline:
            groups[validation] = {c: known.get(c, 0.0) for c in classes}
        plots["predicted classes"] = bar_plot(groups, "predicted classes", "share of predictions")
        histogram = quality["confidence_histogram"]
        groups = {today: histogram["counts"]}
        if baseline:
            groups[validation] = baseline["confidence_histogram"]["counts"]
        unsure = quality["unsure_below"]
        plots["top-1 confidence"] = binned_plot(
            histogram["edges"],
            groups,
            "top-1 confidence",
            "share of predictions",
            marker=(unsure, f"not sure below {unsure:.0%}"),
            percent_x=True,
        )
    elif quality:
        events = quality["events_per_device"]
        plots["anomaly rate per device"] = bar_plot(
            {
                today: {
                    f"{device}\n{_count(events[device], 'event')}": rate
                    for device, rate in quality["anomaly_rate_per_device"].items()
                }
            },
            "anomaly rate per device",
            "share of windows flagged",
            reference=(baseline["anomaly_rate"], "validation set") if baseline else None,
        )
        histogram = quality["log10_error_histogram"]
        groups = {today: histogram["counts"]}
        if baseline:
            groups[validation] = baseline["log10_error_histogram"]["counts"]
        threshold = quality["anomaly_threshold"]
        plots["reconstruction error"] = binned_plot(
            10 ** np.array(histogram["edges"]),
            groups,
            "reconstruction error (log scale)",
            "share of windows",
            marker=(threshold, f"anomaly threshold {threshold:.3g}") if threshold else None,
            log_x=True,
        )
    hourly = frame.assign(hour=frame["timestamp"].dt.floor("h"))  # drawn at the hour's middle
    backend = hourly["backend"] if "backend" in hourly else pd.Series("unreported", hourly.index)
    hourly = hourly.assign(backend=backend.fillna("unreported"))
    series = {}
    for (version, variant, where), part in hourly.groupby(
        ["model_version", "variant", "backend"], sort=True
    ):
        p50 = part.groupby("hour")["latency_ms"].median()
        name = f"v{version} {variant} {where} ({_count(len(part), 'event')})"
        series[name] = ((p50.index + pd.Timedelta(minutes=30)).to_pydatetime(), p50.to_numpy())
    day = pd.Timestamp(report["day"], tz="UTC").to_pydatetime()
    plots["latency by hour"] = time_plot(
        series, "latency p50 per hour", "ms", span=(day, day + timedelta(days=1))
    )
    return plots


WARN = " class='warn'"  # a drifted figure, in red


def _html_table(table: Table) -> str:
    head = "".join(f"<th>{html.escape(title)}</th>" for title in table.headers)
    body = "".join(
        f"<tr{WARN if index in table.warn else ''}>"
        + "".join(f"<td>{html.escape(cell)}</td>" for cell in row)
        + "</tr>"
        for index, row in enumerate(table.rows)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


REPORT_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:1140px;margin:2rem auto;padding:0 1rem;"
    "color:#15202b}h1{font-size:1.5rem}h2{font-size:1.1rem;margin-top:2rem}table{border-collapse:"
    "collapse;font-size:.9rem}th,td{border-bottom:1px solid #d9dee4;padding:.3rem .6rem;"
    "text-align:left;vertical-align:top}th{background:#f4f6f8}.muted{color:#5b6773}"
    ".warn,.warn td{color:#8a1c1c;font-weight:600}"
    ".plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:1rem}"
    ".plots figure{margin:0}.plots img{max-width:100%;border:1px solid #d9dee4}"
)


def report_html(report: dict[str, Any], plots: dict[str, str]) -> str:
    """A standalone page: summary, plots inline (base64 PNG, no file next to it needed), tables."""
    title = _title(report)
    summary = "".join(
        f"<p{WARN if warn else ''}>{html.escape(text)}</p>" for text, warn in _summary(report)
    )
    figures = "".join(
        f"<figure><img alt='{html.escape(name)}' src='data:image/png;base64,{data}'>"
        f"<figcaption>{html.escape(name)}</figcaption></figure>"
        for name, data in plots.items()
    )
    sections = "".join(
        f"<h2>{html.escape(heading)}</h2>{_html_table(table)}"
        + (f"<p class='muted'>{html.escape(note)}</p>" if note else "")
        for heading, table, note in _sections(report)
    )
    return (
        "<!doctype html><html lang='en'><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{REPORT_STYLE}</style><body>"
        f"<h1>Edgeline · {html.escape(title)}</h1>{summary}"
        + (f"<div class='plots'>{figures}</div>" if figures else "")
        + f"{sections}</body></html>"
    )

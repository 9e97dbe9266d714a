"""Quality reports from client telemetry: plain pandas over the events of one day."""

import html
import itertools
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from edgeline_contract.telemetry import readable_event

LOW_CONFIDENCE = 0.5
CONFIDENCE_EDGES = np.linspace(0.0, 1.0, 11)


def readable_events(
    events: list[Any], client_kind: str
) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """The events a roll-up can use, and ``(event id, reason)`` for each it skips: one odd row
    (written by an older client, or straight into the store) never fails the hour."""
    kept, skipped = [], []
    for event in events:
        problem = readable_event(event, client_kind)
        if problem is None:
            kept.append(event)
        else:
            event_id = event.get("event_id") if isinstance(event, dict) else None
            skipped.append((str(event_id)[:64], problem))
    return kept, skipped


def events_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Events as a table with the columns every report needs (top-1 label and confidence flattened)."""
    if frame.empty:
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
    frame = frame.copy()
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601")
    if "top_k" in frame:  # a list, or an array of dicts after a Parquet round trip
        first = [top[0] if top is not None and len(top) else None for top in frame["top_k"]]
        frame["label"] = [entry["label"] if entry is not None else None for entry in first]
        frame["confidence"] = [
            float(entry["confidence"]) if entry is not None else np.nan for entry in first
        ]
        frame = frame.drop(columns=["top_k"])
    return frame


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
    """Which device ran which model version, as of its last event."""
    last = frame.sort_values("timestamp").groupby("device_id").tail(1)
    return [
        {
            "device_id": row.device_id,
            "model": row.model,
            "model_version": int(row.model_version),
            "variant": row.variant,
            "last_seen": row.timestamp.isoformat(),
        }
        for row in last.sort_values("device_id").itertuples()
    ]


def web_quality(frame: pd.DataFrame, baseline: dict[str, Any] | None) -> dict[str, Any]:
    confidence = frame["confidence"].to_numpy(float)
    counts, _ = np.histogram(confidence, bins=CONFIDENCE_EDGES)
    distribution = frame["label"].value_counts(normalize=True).sort_index().to_dict()
    section: dict[str, Any] = {
        "class_distribution": {k: float(v) for k, v in distribution.items()},
        "confidence_histogram": {
            "edges": CONFIDENCE_EDGES.round(2).tolist(),
            "counts": counts.tolist(),
        },
        "low_confidence_rate": float(np.mean(confidence < LOW_CONFIDENCE)),
        "mean_confidence": float(confidence.mean()),
    }
    if baseline:
        labels = sorted(set(baseline["class_distribution"]) | set(distribution))
        expected = [baseline["class_distribution"].get(label, 0.0) for label in labels]
        observed = [distribution.get(label, 0.0) for label in labels]
        section["psi_class_distribution"] = population_stability_index(
            np.array(expected), np.array(observed)
        )
        section["psi_confidence"] = population_stability_index(
            np.array(baseline["confidence_histogram"]["counts"]), counts
        )
    return section


def pi_quality(frame: pd.DataFrame, baseline: dict[str, Any] | None) -> dict[str, Any]:
    errors = frame["reconstruction_error"].to_numpy(float)
    per_device = frame.groupby("device_id")["anomaly"].mean().sort_index()
    section: dict[str, Any] = {
        "anomaly_rate": float(frame["anomaly"].mean()),
        "anomaly_rate_per_device": {k: float(v) for k, v in per_device.items()},
        "error_percentiles": {str(p): float(np.percentile(errors, p)) for p in (50, 90, 99)},
    }
    if baseline:
        edges = np.array(baseline["log10_error_histogram"]["edges"])
        observed, _ = np.histogram(
            np.clip(np.log10(errors + 1e-6), edges[0], edges[-1]), bins=edges
        )
        section["psi_error_distribution"] = population_stability_index(
            np.array(baseline["log10_error_histogram"]["counts"]), observed
        )
        section["baseline_anomaly_rate"] = baseline["anomaly_rate"]
    return section


def drift_score(report: dict[str, Any]) -> float | None:
    """The largest PSI in the report; None when nothing was compared with a baseline (never a
    0 that would read as "no drift")."""
    quality = report.get("quality", {})
    return max((v for k, v in quality.items() if k.startswith("psi_")), default=None)


def build_report(
    client_kind: str,
    day: str,
    frame: pd.DataFrame,
    baseline: dict[str, Any] | None,
    baseline_version: int | None,
    model: str | None = None,
    waiting_for_review: int | None = None,
    no_baseline_because: str | None = None,
) -> dict[str, Any]:
    """Counts, latency and the fleet over every event; quality and drift over ``model``'s events
    only (a Pi fleet may run several devices' models: one model's baseline says nothing of
    another's errors); for web pages, the photos shared and those waiting for review."""
    models = frame["model"].value_counts() if len(frame) else pd.Series(dtype=int)
    scored = frame[frame["model"] == model] if model else frame
    report: dict[str, Any] = {
        "schema": "edgeline.quality-report/1",
        "client_kind": client_kind,
        "day": day,
        "events": len(frame),
        "devices": int(frame["device_id"].nunique()) if len(frame) else 0,
        "baseline_model": model,
        "baseline_model_version": baseline_version,
        "events_per_model": {str(k): int(v) for k, v in models.items()},
        "latency": latency_table(frame) if len(frame) else [],
        "fleet": fleet_view(frame) if len(frame) else [],
        "quality": {},
    }
    if len(scored):
        report["quality"] = (
            web_quality(scored, baseline) if client_kind == "web" else pi_quality(scored, baseline)
        )
    report["drift_psi"] = drift_score(report)
    if report["drift_psi"] is None:
        report["drift_not_measured"] = (
            "no events" if not len(scored) else no_baseline_because or "no validation baseline"
        )
    if client_kind == "web":
        shared = int(frame["image_key"].notna().sum()) if "image_key" in frame else 0
        report["shared_images"] = {"shared": shared, "waiting_for_review": waiting_for_review}
    return report


def _shared_line(report: dict[str, Any]) -> str:
    shared = report.get("shared_images")
    if not shared:
        return ""
    return (
        f"Photos shared with predictions: {shared['shared']}; waiting for a person's review: "
        f"{shared['waiting_for_review']} (none trains until accepted)."
    )


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "_none_"
    header = "| " + " | ".join(rows[0]) + " |\n| " + " | ".join("---" for _ in rows[0]) + " |\n"
    return header + "\n".join(
        "| "
        + " | ".join(f"{v:.2f}" if isinstance(v, float) else str(v) for v in row.values())
        + " |"
        for row in rows
    )


def drift_text(report: dict[str, Any]) -> str:
    """The drift figure as a person reads it: the PSI, or why it was not measured."""
    if report.get("drift_psi") is None:
        return f"not measured ({report.get('drift_not_measured', 'no baseline')})"
    return f"{report['drift_psi']:.3f}"


def report_markdown(report: dict[str, Any]) -> str:
    quality = {k: v for k, v in report["quality"].items() if not isinstance(v, dict)}
    lines = [
        f"# {report['client_kind']} quality report, {report['day']}",
        "",
        f"{report['events']} events from {report['devices']} devices; drift (max PSI) {drift_text(report)} "
        f"against the baseline of {report.get('baseline_model') or 'the model'} "
        f"v{report['baseline_model_version']} (quality over its events only; events per model: "
        f"{report.get('events_per_model', {})}).",
        "",
        _shared_line(report),
        "",
        "## Latency by model version, variant and backend",
        _table(report["latency"]),
        "",
        "## Quality",
        _table([quality]) if quality else "_no events_",
        "",
        "## Fleet",
        _table(report["fleet"]),
    ]
    return "\n".join(lines) + "\n"


def report_plots(
    client_kind: str, frame: pd.DataFrame, report: dict[str, Any], baseline: dict[str, Any] | None
) -> dict[str, bytes]:
    """The figures an engineer looks for first, as PNG bytes."""
    from assets.plots import bar_plot, time_plot

    if frame.empty:
        return {}
    quality, plots = report["quality"], {}
    if client_kind == "web":
        groups = {"today": quality["class_distribution"]}
        if baseline:
            groups["validation baseline"] = baseline["class_distribution"]
        plots["class distribution"] = bar_plot(groups, "predicted classes", "share", percent=True)
        edges = quality["confidence_histogram"]["edges"]
        bins = [f"{a:.1f}-{b:.1f}" for a, b in itertools.pairwise(edges)]

        def shares(counts: list[int]) -> dict[str, float]:
            total = max(sum(counts), 1)
            return {label: c / total for label, c in zip(bins, counts, strict=True)}

        groups = {"today": shares(quality["confidence_histogram"]["counts"])}
        if baseline:
            groups["validation baseline"] = shares(baseline["confidence_histogram"]["counts"])
        plots["confidence"] = bar_plot(groups, "top-1 confidence", "share", percent=True)
    else:
        plots["anomaly rate per device"] = bar_plot(
            {"today": quality["anomaly_rate_per_device"]}, "anomaly rate", "share", percent=True
        )
        model = report.get("baseline_model")
        scored = frame[frame["model"] == model] if model else frame
        errors = np.log10(scored["reconstruction_error"].to_numpy(float) + 1e-6)
        if baseline:
            edges = np.array(baseline["log10_error_histogram"]["edges"])
            counts, _ = np.histogram(np.clip(errors, edges[0], edges[-1]), bins=edges)
            labels = [f"{e:.1f}" for e in edges[:-1]]
            base = baseline["log10_error_histogram"]["counts"]
            plots["reconstruction error"] = bar_plot(
                {
                    "today": dict(zip(labels, counts / max(counts.sum(), 1), strict=True)),
                    "validation baseline": dict(
                        zip(labels, np.array(base) / max(sum(base), 1), strict=True)
                    ),
                },
                "log10 reconstruction error",
                "share",
                percent=True,
            )
    hourly = frame.assign(hour=frame["timestamp"].dt.floor("h"))
    backend = hourly["backend"] if "backend" in hourly else pd.Series("unreported", hourly.index)
    hourly = hourly.assign(backend=backend.fillna("unreported"))
    series = {}
    for (version, variant, where), part in hourly.groupby(
        ["model_version", "variant", "backend"], sort=True
    ):
        p50 = part.groupby("hour")["latency_ms"].median()
        series[f"v{version} {variant} {where}"] = (p50.index.to_pydatetime(), p50.to_numpy())
    day = pd.Timestamp(report["day"], tz="UTC").to_pydatetime()
    plots["latency by hour"] = time_plot(
        series, "latency p50 per hour", "ms", span=(day, day + timedelta(days=1))
    )
    return plots


def _html_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p class='muted'>none</p>"
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in rows[0])
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{v:.3f}</td>" if isinstance(v, float) else f"<td>{html.escape(str(v))}</td>"
            for v in row.values()
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


REPORT_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:1000px;margin:2rem auto;padding:0 1rem;"
    "color:#15202b}h1{font-size:1.5rem}h2{font-size:1.1rem;margin-top:2rem}table{border-collapse:"
    "collapse;font-size:.9rem}th,td{border-bottom:1px solid #d9dee4;padding:.3rem .6rem;"
    "text-align:left}th{background:#f4f6f8}.muted{color:#5b6773}.warn{color:#8a1c1c}"
    ".plots{display:flex;flex-wrap:wrap;gap:1rem}.plots img{max-width:100%;border:1px solid #d9dee4}"
)


def report_html(report: dict[str, Any], plots: dict[str, str]) -> str:
    """A standalone page: summary, tables and the plots inline (no file next to it needed)."""
    quality = {k: v for k, v in report["quality"].items() if not isinstance(v, dict)}
    drift = report["drift_psi"]
    warn = drift is not None and drift > 0.2
    figures = "".join(
        f"<figure><img alt='{html.escape(name)}' src='data:image/png;base64,{data}'>"
        f"<figcaption>{html.escape(name)}</figcaption></figure>"
        for name, data in plots.items()
    )
    title = f"{report['client_kind']} quality report, {report['day']}"
    return (
        "<!doctype html><html lang='en'><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{REPORT_STYLE}</style><body>"
        f"<h1>Edgeline · {html.escape(title)}</h1>"
        f"<p>{report['events']} events from {report['devices']} devices. Drift (largest PSI "
        f"against the validation baseline of v{report['baseline_model_version']}): "
        f"<strong class='{'warn' if warn else ''}'>{html.escape(drift_text(report))}</strong>.</p>"
        f"<p>{html.escape(_shared_line(report))}</p>"
        f"<div class='plots'>{figures}</div>"
        f"<h2>Latency by model version, variant and backend</h2>{_html_table(report['latency'])}"
        f"<h2>Quality</h2>{_html_table([quality] if quality else [])}"
        f"<h2>Fleet: each device's model as of its last event</h2>{_html_table(report['fleet'])}"
        "</body></html>"
    )

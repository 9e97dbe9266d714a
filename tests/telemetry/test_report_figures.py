"""What a person reads in a quality report: every drift and quality figure with its sample size
and threshold, "not enough data" below its minimum (never a red number made by noise), tables
in words, and plainly nothing before any client reported. Reports of 0, 1, 6 and 5,000 events
for a web (image) model and a Pi (sensor) model, built from event rows directly."""

import html
import itertools
import re

import numpy as np
import pytest

from assets.telemetry.reports import (
    DRIFT_PSI_THRESHOLD,
    MIN_EVENTS_FOR_SHARE,
    population_stability_index,
    psi_needs,
    report_html,
    report_markdown,
)
from tests.telemetry.rows import (
    PI_MODEL,
    day_of,
    pi_baseline,
    pi_day,
    pi_rows,
    report_of,
    web_baseline,
    web_day,
    web_rows,
)

SIZES = (0, 1, 6, 5000)
PREDICTION = ("top_k", "reconstruction_error", "anomaly")
FIGURES = {
    "web": ["failure_rate", "low_confidence_rate", "psi_class_distribution", "psi_confidence"],
    "pi": [
        "anomaly_rate",
        "error_p50",
        "error_p90",
        "error_p99",
        "failure_rate",
        "psi_error_distribution",
    ],
}


def day_report(kind: str, events: int) -> dict:
    return day_of(kind, events)[0]


def markdown_table(markdown: str, heading: str) -> list[dict[str, str]]:
    """The rows of the table under ``## heading``, each by its column titles."""
    section = markdown.split(f"## {heading}\n", 1)[1].splitlines()
    lines = list(itertools.takewhile(lambda line: line.startswith("|"), section))
    titles, *rows = ([cell.strip() for cell in line.strip("|").split("|")] for line in lines)
    return [dict(zip(titles, row, strict=True)) for row in rows[1:]]  # [0] is | --- |


@pytest.mark.parametrize("kind", ["web", "pi"])
@pytest.mark.parametrize("events", SIZES)
def test_each_figure_states_its_sample_size_minimum_and_threshold(kind, events):
    report = day_report(kind, events)
    markdown, page = report_markdown(report), report_html(report, {})
    assert "None" not in markdown and "{" not in markdown  # no Python value shows through
    if events == 0:
        assert report["figures"] == {} and report["drift_psi"] is None
        for text in (markdown, page):
            assert "No client has reported yet" in text and "vNone" not in text
        assert "## " not in markdown and "<table>" not in page  # no empty tables either
        return
    figures = report["figures"]
    assert sorted(figures) == FIGURES[kind]
    rows = markdown_table(markdown, "Drift and quality")
    assert [row["Figure"] for row in rows] == [f["label"] for f in figures.values()]
    for figure, row in zip(figures.values(), rows, strict=True):
        assert figure["events"] == events and row["Events"] == f"{events:,}"
        assert figure["needs"] >= MIN_EVENTS_FOR_SHARE
        assert row["Needs at least"] == f"{figure['needs']:,}"
        assert figure["about"] and row["Threshold"] == figure["about"]
        if figure["kind"] == "psi":
            assert figure["threshold"] == DRIFT_PSI_THRESHOLD
            assert f"drifted above {DRIFT_PSI_THRESHOLD:.2f}" in figure["about"]
    assert "Minimum samples: a PSI needs 20 events per bin and at least 100" in markdown
    if events < MIN_EVENTS_FOR_SHARE:  # 1 and 6: words where a number would be noise
        assert all(f["value"] is None for f in figures.values())
        assert {row["Verdict"] for row in rows} == {"not enough data"}
        assert all(row["Value"].startswith("not enough data") for row in rows)
        assert report["drift_psi"] is None
        assert f"not enough data ({events} event" in report["drift_not_measured"]
        assert "class='warn'" not in page
    else:
        assert all(f["value"] is not None for f in figures.values())
        for figure, row in zip(figures.values(), rows, strict=True):
            if figure["kind"] == "psi":
                assert row["Value"] == f"{figure['value']:.3f}"
                assert row["Verdict"] == ("drifted" if figure["value"] > 0.2 else "no drift")


def test_six_events_no_longer_read_as_drift():
    """The reported case: 6 events of a model that did not drift read PSI 5.010, in red."""
    report, _ = report_of("web", web_rows([0.9, 0.95, 0.85, 0.97, 0.92, 0.88]), web_baseline())
    noise = population_stability_index(
        np.array(web_baseline()["confidence_histogram"]["counts"]),
        np.array(report["quality"]["confidence_histogram"]["counts"]),
    )
    assert noise > 1.0  # what the report used to show, in red, for a model that did not drift
    markdown = report_markdown(report)
    assert f"{noise:.3f}" not in markdown
    assert (
        "Drift against image-classifier v2's validation baseline: not enough data (6 events; "
        "a PSI here needs at least 100)." in markdown
    )


def test_a_day_of_events_shows_drift_in_red_with_its_threshold():
    web, pi = day_report("web", 5000), day_report("pi", 5000)
    classes = web["figures"]["psi_class_distribution"]
    assert classes["verdict"] == "drifted" and web["drift_psi"] == classes["value"] > 0.2
    assert web["figures"]["psi_confidence"]["verdict"] == "no drift"  # same confidences
    page = report_html(web, {})
    assert page.count("class='warn'") == 2  # the summary and the drifted row, nothing else
    summary = (
        "Drift against image-classifier v2's validation baseline: drifted, PSI of the predicted "
        f"classes {classes['value']:.3f} over 5,000 events (drifted above 0.20)."
    )
    assert f"<p class='warn'>{html.escape(summary)}</p>" in page
    assert pi["figures"]["psi_error_distribution"]["verdict"] == "no drift"
    assert "class='warn'" not in report_html(pi, {})


def test_each_figure_has_its_own_minimum():
    """50 Pi events: enough for a rate and a median, not for a p99 or a PSI over 20 bins."""
    figures = report_of("pi", pi_day(50), pi_baseline())[0]["figures"]
    enough = {key for key, figure in figures.items() if figure["value"] is not None}
    assert enough == {"anomaly_rate", "error_p50", "error_p90", "failure_rate"}
    assert (
        figures["error_p99"]["needs"] == 100 and figures["psi_error_distribution"]["needs"] == 400
    )


def test_psi_minimum_keeps_a_model_that_did_not_drift_below_the_threshold():
    """psi_needs' claim, simulated: days drawn from the baseline itself (no drift at all) stay
    below the threshold on 99 in 100 at the minimum, and read as drift on a handful of events."""
    rng = np.random.default_rng(0)
    baselines = [
        np.ones(2),
        np.array([40, 30, 15, 10, 5]),
        np.ones(10),
        np.array([0, 0, 0, 1, 2, 3, 5, 10, 20, 59]),  # a confident classifier's top-1
        np.array([1, 2, 4, 8, 12, 15, 16, 14, 10, 7, 4, 3, 2, 1, 1, 0, 0, 0, 0, 0]),
    ]
    for counts in baselines:
        shares = counts / counts.sum()

        def psi_of_days(events: int, shares=shares, counts=counts) -> np.ndarray:
            days = rng.multinomial(events, shares, size=400)
            return np.array([population_stability_index(counts, day) for day in days])

        assert np.percentile(psi_of_days(psi_needs(len(counts))), 99) < DRIFT_PSI_THRESHOLD
        if len(counts) >= 5:
            assert np.median(psi_of_days(6)) > DRIFT_PSI_THRESHOLD


def _low_confidence(confidences: list[float], baseline: dict) -> dict:
    return report_of("web", web_rows(confidences), baseline)[0]["figures"]["low_confidence_rate"]


def test_low_confidence_rate_uses_the_versions_unsure_below():
    triple = [0.51, 0.53, 0.95]
    few = _low_confidence(triple, web_baseline(unsure_below=0.6))
    assert (few["count"], few["events"], few["value"]) == (2, 3, None)  # a count, not a rate
    assert few["threshold"] == 0.6
    assert few["about"] == (
        "top-1 confidence below 0.60 (image-classifier v2's validation baseline)"
    )
    report, _ = report_of("web", web_rows(triple * 10), web_baseline(unsure_below=0.6))
    rate = report["figures"]["low_confidence_rate"]
    assert rate["value"] == pytest.approx(2 / 3) and (rate["count"], rate["events"]) == (20, 30)
    (row,) = [
        r
        for r in markdown_table(report_markdown(report), "Drift and quality")
        if r["Figure"] == "Low-confidence rate"
    ]
    assert row["Value"] == "66.7% (20 of 30)" and row["Verdict"] == "measured"
    # another version's line is its own: 0.52 leaves only 0.51 below it
    assert _low_confidence(triple * 10, web_baseline(unsure_below=0.52))["value"] == (
        pytest.approx(1 / 3)
    )


def test_low_confidence_rate_falls_back_to_the_pages_rule():
    """A version without unsure_below: min(0.5, 2 / classes), as the page does."""
    confidences = [0.41, 0.45, 0.95, 0.58, 0.62] * 6
    older = _low_confidence(confidences, web_baseline())  # a baseline from before the key
    classes = len(web_baseline()["class_distribution"])
    assert older["threshold"] == min(0.5, 2 / classes)
    assert older["value"] == pytest.approx(0.4)  # 0.41 and 0.45 of every five
    assert older["about"] == (
        f"top-1 confidence below 0.50 (the page's rule for older versions, min(0.5, 2 / "
        f"{classes} classes); image-classifier v2's validation baseline has no unsure_below "
        "in (0, 1))"
    )
    none = _low_confidence(confidences, None)  # a version registered without a baseline
    assert none["value"] == pytest.approx(0.4)
    assert none["about"].endswith("image-classifier v2 has no validation baseline)")


def test_tables_speak_in_words_with_units_and_times_to_the_second():
    for kind in ("web", "pi"):
        markdown = report_markdown(day_report(kind, 5000))
        latency = markdown_table(markdown, "Latency by model version, variant and backend")
        assert list(latency[0]) == [
            "Model",
            "Version",
            "Variant",
            "Backend",
            "Events",
            "p50 (ms)",
            "p95 (ms)",
            "p99 (ms)",
        ]
        fleet = markdown_table(markdown, "Fleet: each device's model as of its last event")
        assert list(fleet[0]) == ["Device", "Model", "Version", "Variant", "Last seen (UTC)"]
        assert all(
            re.fullmatch(r"2026-11-20 \d\d:\d\d:\d\d", row["Last seen (UTC)"]) for row in fleet
        )
        headers = re.findall(r"^\| [A-Z].*\|$", markdown, flags=re.MULTILINE)
        assert headers and not any("_" in header for header in headers)


def test_several_models_are_counted_in_words():
    """A Pi fleet running two devices' models: the counts per model read as words, not a dict."""
    rows = pi_day(300) + pi_rows(np.full(100, 5.0), model="pump-autoencoder")
    markdown = report_markdown(report_of("pi", rows, pi_baseline())[0])
    assert (
        f"400 events from 6 devices (per model: {PI_MODEL} 300, pump-autoencoder 100; drift "
        f"and quality over {PI_MODEL}'s only)." in markdown
    )


@pytest.mark.parametrize("kind", ["web", "pi"])
def test_events_without_a_prediction_count_in_the_failure_rate_only(kind):
    """A model that fails on real inputs: its error and unscored events (no prediction, the
    time to failure as latency) make the failure rate and a warning line; the quality, drift
    and latency figures stay those of the answers, exactly as without them."""
    answered = web_day(400) if kind == "web" else pi_day(400)
    failed = []
    for i in range(100):
        row = {k: v for k, v in answered[i].items() if k not in PREDICTION}
        outcome = "error" if i % 4 == 0 else "unscored"
        failure = "session.run: invalid input" if outcome == "error" else "lacks rotor_rpm"
        failed.append(
            {
                **row,
                "event_id": f"failed-{i}",
                "latency_ms": 900.0,
                "outcome": outcome,
                "failure": failure,
            }
        )
    baseline = web_baseline() if kind == "web" else pi_baseline()
    report, _ = report_of(kind, answered + failed, baseline)
    alone, _ = report_of(kind, answered, baseline)
    rate = report["figures"]["failure_rate"]
    assert (rate["value"], rate["count"], rate["events"]) == (0.2, 100, 500)
    assert (
        rate["about"]
        == "inferences with no prediction: 25 runs failed, 75 inputs could not be scored"
    )
    assert alone["figures"]["failure_rate"]["value"] == 0.0
    assert report["scored_events"] == 400 and report["model_events"] == 500
    for key, figure in alone["figures"].items():
        if key != "failure_rate":
            assert report["figures"][key] == figure
    assert report["latency"] == alone["latency"]  # 900 ms to fail is not an inference's latency
    assert report["drift_psi"] == alone["drift_psi"]
    markdown = report_markdown(report)
    assert "100 of " in markdown and "500 inferences gave no prediction" in markdown
    assert "gave no prediction" not in report_markdown(alone)

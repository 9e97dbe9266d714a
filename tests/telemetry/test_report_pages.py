"""The HTML reports as a person opens them: headless Chromium renders the web and Pi reports
of 0, 1, 6 and 5,000 events, with their plots; the screenshots are saved under
test-artifacts/reports/ to be looked at."""

import base64

import pytest

from assets.telemetry.reports import report_html, report_plots
from tests.telemetry.rows import day_of

pytestmark = pytest.mark.slow

PLOTS = {
    "web": ["predicted classes", "top-1 confidence", "latency by hour"],
    "pi": ["anomaly rate per device", "reconstruction error", "latency by hour"],
}


@pytest.mark.parametrize("kind", ["web", "pi"])
def test_reports_render_readably_in_chromium(browser, artifacts_dir, kind):
    folder = artifacts_dir / "reports"
    folder.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    for events in (0, 1, 6, 5000):
        report, frame, baseline = day_of(kind, events)
        plots = report_plots(kind, frame, report, baseline)
        page.set_content(
            report_html(report, {k: base64.b64encode(v).decode() for k, v in plots.items()})
        )
        page.screenshot(path=str(folder / f"{kind}-{events}-events.png"), full_page=True)
        # every plot decoded, shown at least 420 px wide (labels readable), never upscaled
        images = page.eval_on_selector_all(
            "img",
            "all => all.map(i => [i.alt, i.naturalWidth, i.clientWidth])",
        )
        assert [alt for alt, _, _ in images] == (PLOTS[kind] if events else [])
        assert all(420 <= shown <= natural for _, natural, shown in images), images
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        text = page.inner_text("body")
        red = page.locator(".warn").count()
        if events == 0:
            assert "No client has reported yet" in text and red == 0
        elif events < 30:
            assert "not enough data" in text and red == 0
        else:  # the drifted web day: its summary and its row in red; the healthy Pi day: none
            assert red == (2 if kind == "web" else 0)
    page.close()

"""Debian's Chromium, headless, for the demo, the benchmarks and the browser tests (Playwright
drives it; its own browser download is not used)."""

import os
import shutil
from pathlib import Path

CHROMIUM = os.environ.get("EDGELINE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
MISSING = "no Chromium: install Debian's package `chromium` (make test does this when run as root)"


def chromium_path() -> str | None:
    """The Chromium executable, or None when it is not installed."""
    if Path(CHROMIUM).exists():
        return CHROMIUM
    return shutil.which(CHROMIUM)

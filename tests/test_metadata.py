"""Metadata floats as the UI shows them."""

import math

from assets.metadata import rounded


def test_floats_keep_four_significant_digits_and_nothing_else_changes():
    shown = rounded(
        {"f1": 0.9616326530612245, "p50_ms": 123.456789, "tiny": 1.23456e-7, "n": 17, "key": "k"}
    )
    assert shown == {"f1": 0.9616, "p50_ms": 123.5, "tiny": 1.235e-7, "n": 17, "key": "k"}
    assert rounded({"zero": 0.0, "nan": math.nan})["zero"] == 0.0
    assert math.isnan(rounded({"nan": math.nan})["nan"])

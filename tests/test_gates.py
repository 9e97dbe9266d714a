"""The variant gates' arithmetic, on outputs made by hand."""

import numpy as np

from assets.conversion.variants import anomaly_gate, classification_gate


def test_classification_gate_counts_flips_diff_and_size():
    reference = [np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])]
    one_flip = [np.array([[0.9, 0.1], [0.2, 0.8], [0.45, 0.55], [0.3, 0.7]])]
    gate = classification_gate(min_top1_agreement=0.995, max_abs_diff=1e-2, max_size_ratio=0.51)
    result = gate(reference, one_flip, 1000, 520)
    assert not result.passed
    assert result.metrics["top1_agreement"] == 0.75
    assert abs(result.metrics["max_abs_diff"] - 0.15) < 1e-9
    assert [f.split(" ")[0] for f in result.failures] == ["top-1", "max", "size"]
    assert gate(reference, reference, 1000, 500).passed


def test_anomaly_gate_compares_flags_and_reports_error_difference():
    reference = [None, np.array([1.0, 2.0, 4.0, 8.0]), np.array([False, False, True, True])]
    close = [None, np.array([1.01, 2.0, 4.0, 8.0]), np.array([False, False, True, True])]
    flipped = [None, np.array([1.0, 2.0, 4.0, 8.0]), np.array([False, True, True, True])]
    gate = anomaly_gate(min_flag_agreement=0.995, max_size_ratio=0.6)
    ok = gate(reference, close, 100, 55)
    assert ok.passed and abs(ok.metrics["error_relative_diff_max"] - 0.01) < 1e-9
    bad = gate(reference, flipped, 100, 70)
    assert not bad.passed and bad.metrics["flag_agreement"] == 0.75
    assert len(bad.failures) == 2

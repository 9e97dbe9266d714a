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


def test_anomaly_gate_bounds_flags_errors_near_the_threshold_and_the_flag_rate():
    # the reference flags 4 and 8: its threshold lies at 2 (the largest unflagged error)
    reference = [None, np.array([0.1, 2.0, 4.0, 8.0]), np.array([False, False, True, True])]
    gate = anomaly_gate(min_flag_agreement=0.995, max_error_relative_diff=0.1, max_size_ratio=0.6)

    # an error far below the threshold that triples decides nothing: its change counts against
    # the threshold (0.2 / 2 = 0.1), not against itself (2.0)
    small_moved = [None, np.array([0.3, 2.02, 4.0, 8.0]), reference[2]]
    ok = gate(reference, small_moved, 100, 55)
    assert ok.passed, ok.failures
    assert abs(ok.metrics["error_relative_diff_max"] - 0.1) < 1e-6

    # the error at twice the threshold moving 15 % fails, flags unchanged; far above it, not
    near_moved = [None, np.array([0.1, 2.0, 4.6, 8.0]), reference[2]]
    failed = gate(reference, near_moved, 100, 55)
    assert not failed.passed and failed.failures[0].startswith("error relative diff 0.15")
    far_moved = [None, np.array([0.1, 2.0, 4.0, 12.0]), reference[2]]
    assert gate(reference, far_moved, 100, 55).passed

    # a flag that flips away from the threshold fails, whatever the counts; and size
    flipped = [None, np.array([0.1, 2.0, 4.0, 8.0]), np.array([True, False, True, True])]
    bad = gate(reference, flipped, 100, 70)
    assert bad.metrics["flag_agreement"] == 0.75 and bad.metrics["flag_rate_change"] == 0.25
    assert bad.failures[0] == (
        "1 anomaly flags changed on windows whose error is not near the threshold"
    )
    assert bad.failures[1].startswith("size")

    # at the threshold an error may move a little and flip: once on a small set is rounding
    at_threshold = [None, np.array([0.1, 2.05, 4.0, 8.0]), np.array([False, True, True, True])]
    assert gate(reference, at_threshold, 100, 55).passed

    # on 1,000 windows, 10 flips at the threshold are too many (agreement 0.99 < 0.995), and
    # they move the flag rate by 1 % (more than 0.2 %)
    errors = np.concatenate([np.full(500, 0.5), np.full(10, 1.99), [2.0], np.full(489, 4.0)])
    flags = errors > 2.0
    moved = errors.copy()
    moved[500:510] = 2.01
    many = gate([None, errors, flags], [None, moved, moved > 2.0], 100, 55)
    assert [f.split(" (")[0] for f in many.failures] == [
        "anomaly-flag agreement 0.9900 < 0.995",
        "flag rate moved by +0.0100",
    ]

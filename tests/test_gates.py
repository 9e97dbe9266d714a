"""The variant gates' arithmetic, on outputs made by hand."""

import numpy as np
import pytest

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


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(1, keepdims=True))
    return shifted / shifted.sum(1, keepdims=True)


def _confident_model_and_a_variant(noise: float, seed: int = 0):
    """200 inputs over 5 classes, fp32 confident (margins 1-6 in logits) but for one input that
    is a tie within 0.002; the variant moves every logit by ``noise`` (fp16's rounding, or
    damage)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1, (200, 5))
    logits[np.arange(200), rng.integers(0, 5, 200)] += rng.uniform(3, 8, 200)
    logits[7, :] = [1.0, 1.002, -2, -2, -2]  # class 1 over class 0 by 0.002
    moved = logits + rng.normal(0, noise, logits.shape)
    moved[7, :] = [1.002, 1.0, -2, -2, -2]  # the variant's rounding turns the tie around
    return _softmax(logits), _softmax(moved), logits.argmax(1)  # labels: fp32 is right


def test_a_flip_on_a_tie_within_the_variants_error_is_excused_and_reported():
    reference, candidate, answers = _confident_model_and_a_variant(noise=0.003)
    gate = classification_gate(min_top1_agreement=0.995, max_abs_diff=1e-2)
    result = gate([reference], [candidate], 1000, 500, targets=answers)
    assert result.passed, result.failures
    metrics = result.metrics
    assert metrics["flips"] == 1 and metrics["near_tie_flips_excused"] == 1
    assert metrics["top1_agreement"] == 0.995  # 199 of 200, as before
    assert metrics["top1_agreement_excluding_near_ties"] == 1.0
    # the tolerance comes from the measured error: twice its 90th percentile, here ~0.01
    assert 0.002 < metrics["tie_margin"] < 0.03
    assert metrics["tie_margin"] == 2 * metrics["margin_error_p90"]
    # on the labels: fp32 right everywhere, the variant wrong on the tie it turned around
    assert metrics["fp32_accuracy"] == 1.0 and metrics["accuracy"] == 0.995
    assert metrics["accuracy_drop"] == pytest.approx(0.005)


def test_a_flip_of_a_confident_answer_is_not_excused():
    reference, candidate, answers = _confident_model_and_a_variant(noise=0.003)
    candidate[3] = np.roll(candidate[3], 1)  # a confident answer turned into another class
    gate = classification_gate(min_top1_agreement=0.995)
    result = gate([reference], [candidate], 1000, 500, targets=answers)
    assert not result.passed
    assert result.failures[0].startswith("top-1 agreement 0.9950 < 0.995 on the 199 inputs")
    assert result.metrics["flips"] == 2 and result.metrics["near_tie_flips_excused"] == 1


def test_a_damaged_variant_cannot_excuse_its_flips_as_ties():
    """Large numeric error would make every answer a "tie": the tolerance is capped."""
    reference, candidate, answers = _confident_model_and_a_variant(noise=3.0)
    gate = classification_gate(min_top1_agreement=0.985, max_tie_margin=0.1)
    result = gate([reference], [candidate], 1000, 500, targets=answers)
    assert not result.passed
    assert result.metrics["tie_margin"] == 0.1
    assert result.metrics["margin_error_p90"] > 1
    assert result.metrics["flips"] > 10
    assert result.metrics["accuracy_drop"] > 0.05


def test_a_tie_turned_into_a_confident_other_answer_is_not_excused():
    """fp32 undecided between two classes, the variant sure of the other one: not rounding."""
    reference, candidate, _ = _confident_model_and_a_variant(noise=0.003)
    ties = np.arange(20, 40)
    logits = np.log(reference)
    logits[ties, :] = [1.0, 1.05, -2, -2, -2]  # fp32: class 1 by a margin of 0.05
    reference = _softmax(logits)
    candidate[ties, :] = _softmax(np.array([[6.0, 1.0, -2, -2, -2]]))  # the variant: class 0
    result = classification_gate(min_top1_agreement=0.985)(
        [reference], [candidate], 1000, 250, targets=reference.argmax(1)
    )
    assert not result.passed
    assert result.metrics["flips"] == 21 and result.metrics["near_tie_flips_excused"] == 1
    assert result.metrics["accuracy_drop"] == pytest.approx(21 / 200)

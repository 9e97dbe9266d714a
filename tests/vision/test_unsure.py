"""The "not sure" threshold chosen on the validation set (assets/vision/metrics.py), on
constructed probabilities: the documented value for each case, whatever the order."""

import numpy as np
import pytest

from assets.vision.metrics import UNSURE_CEILING, unsure_floor, unsure_threshold


def answers(confidences: list[float] | np.ndarray, classes: int = 4, right: bool = True):
    """Probabilities whose top-1 is class 0 with each confidence (the rest shared evenly), and
    targets that make every answer right (or wrong)."""
    confidences = np.asarray(confidences, np.float64)
    probabilities = np.repeat(((1 - confidences) / (classes - 1))[:, None], classes, axis=1)
    probabilities[:, 0] = confidences
    targets = np.zeros(len(confidences), np.int64) if right else np.ones(len(confidences), np.int64)
    return probabilities.astype(np.float32), targets


def test_the_right_answers_5th_percentile_hedges_at_most_1_in_20():
    confidences = np.linspace(0.6, 0.99, 200)
    probabilities, targets = answers(confidences)
    threshold = unsure_threshold(probabilities, targets)
    assert threshold == pytest.approx(confidences[10], abs=1e-4)  # 5 % of 200 below it
    assert np.mean(probabilities.max(1) < threshold) <= 0.05


def test_wrong_answers_do_not_move_it():
    right = answers(np.linspace(0.6, 0.99, 100))
    wrong = answers(np.full(40, 0.99), right=False)  # confidently wrong
    together = (np.concatenate([right[0], wrong[0]]), np.concatenate([right[1], wrong[1]]))
    assert unsure_threshold(*together) == unsure_threshold(*right)


def test_a_small_set_takes_its_lowest_right_answer():
    probabilities, targets = answers([0.83, 0.71, 0.88, 0.79, 0.86])  # fewer than 20 right
    assert unsure_threshold(probabilities, targets) == pytest.approx(0.71, abs=1e-4)


def test_a_perfect_saturated_model_is_held_at_the_ceiling():
    probabilities, targets = answers(np.full(50, 0.9995))
    assert unsure_threshold(probabilities, targets) == UNSURE_CEILING == 0.9


def test_the_floor_is_even_odds_or_twice_a_uniform_guess():
    assert [unsure_floor(k) for k in (2, 3, 4, 5, 10)] == pytest.approx([0.5, 0.5, 0.5, 0.4, 0.2])


@pytest.mark.parametrize(("classes", "floor"), [(3, 0.5), (4, 0.5), (5, 0.4), (10, 0.2)])
def test_flat_answers_and_no_right_answer_give_the_floor(classes, floor):
    flat = np.full((30, classes), 1 / classes, np.float32)
    flat[:, 0] += 0.01  # barely above a uniform guess, and right
    assert unsure_threshold(flat, np.zeros(30, np.int64)) == pytest.approx(floor, abs=1e-4)
    probabilities, targets = answers(np.full(30, 0.95), classes, right=False)
    assert unsure_threshold(probabilities, targets) == pytest.approx(floor, abs=1e-4)
    assert unsure_threshold(np.empty((0, classes), np.float32), np.empty(0, np.int64)) == (
        pytest.approx(floor, abs=1e-4)
    )


def test_deterministic_and_steady_under_tiny_numeric_differences():
    rng = np.random.default_rng(0)
    probabilities, targets = answers(rng.uniform(0.55, 0.999, 300))
    threshold = unsure_threshold(probabilities, targets)
    order = rng.permutation(len(targets))
    assert unsure_threshold(probabilities[order], targets[order]) == threshold
    assert unsure_threshold(probabilities, targets) == threshold
    nudged = probabilities + rng.normal(0, 1e-6, probabilities.shape).astype(np.float32)
    assert abs(unsure_threshold(nudged, targets) - threshold) <= 1e-4  # another CPU's answer

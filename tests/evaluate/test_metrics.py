import numpy as np
import pytest

from dpiqa.evaluate.metrics import agreement, bootstrap_intervals, fit_logistic, logistic4


def test_perfect_and_reversed_rankings():
    mos = np.linspace(0, 1, 20)
    assert agreement(mos, mos) == pytest.approx({"srcc": 1, "krcc": 1, "plcc": 1, "plcc_logistic": 1, "rmse": 0})
    reversed_ = agreement(mos[::-1], mos)
    assert reversed_["srcc"] == pytest.approx(-1) and reversed_["krcc"] == pytest.approx(-1)


def test_the_logistic_fit_straightens_a_monotone_nonlinearity():
    rng = np.random.default_rng(0)
    prediction = rng.uniform(-3, 3, 200)
    mos = logistic4(prediction, 1, 0, 0.0, 0.5) + rng.normal(0, 0.01, 200)  # saturating
    stats = agreement(prediction, mos)
    assert stats["plcc_logistic"] > stats["plcc"] + 0.02
    assert np.corrcoef(fit_logistic(prediction, mos), mos)[0, 1] == pytest.approx(stats["plcc_logistic"])


def test_bootstrap_intervals_bracket_the_estimate_and_shrink_with_more_data():
    rng = np.random.default_rng(1)

    def width(n):
        mos = rng.uniform(0, 1, n)
        prediction = mos + rng.normal(0, 0.2, n)
        intervals = bootstrap_intervals(prediction, mos, resamples=200, seed=0)
        estimate = agreement(prediction, mos)["srcc"]
        low, high = intervals["srcc"]
        assert low <= estimate <= high
        return high - low

    assert width(400) < width(40)


def test_bootstrap_is_reproducible_with_a_seed():
    mos = np.linspace(0, 1, 30)
    prediction = mos ** 2
    assert bootstrap_intervals(prediction, mos, 50, seed=3) == bootstrap_intervals(prediction, mos, 50, seed=3)

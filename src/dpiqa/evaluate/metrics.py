"""IQA agreement statistics as small pure functions over scipy.

PLCC is reported raw and after the standard 4-parameter logistic mapping (VQEG), fitted from
predictions to MOS; every statistic gets a paired percentile-bootstrap confidence interval.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import optimize, stats

STATISTICS = ("srcc", "krcc", "plcc", "plcc_logistic", "rmse")


def logistic4(x: np.ndarray, top: float, bottom: float, centre: float, scale: float) -> np.ndarray:
    with np.errstate(over="ignore"):  # exp overflows to inf far from the centre: the limit is right
        return (top - bottom) / (1 + np.exp(-(x - centre) / np.abs(scale))) + bottom


def fit_logistic(prediction: np.ndarray, mos: np.ndarray) -> np.ndarray:
    """Predictions mapped onto the MOS scale by the fitted logistic (identity if it fails)."""
    start = [mos.max(), mos.min(), np.mean(prediction), np.std(prediction) / 4 or 1.0]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optimize.OptimizeWarning)
            parameters, _ = optimize.curve_fit(logistic4, prediction, mos, p0=start, maxfev=10_000)
    except (RuntimeError, ValueError, TypeError):  # no convergence, or too few points
        return prediction
    return logistic4(prediction, *parameters)


def agreement(prediction: np.ndarray, mos: np.ndarray) -> dict[str, float]:
    prediction, mos = np.asarray(prediction, float), np.asarray(mos, float)
    return {
        "srcc": float(stats.spearmanr(prediction, mos).statistic),
        "krcc": float(stats.kendalltau(prediction, mos).statistic),
        "plcc": float(stats.pearsonr(prediction, mos).statistic),
        "plcc_logistic": float(stats.pearsonr(fit_logistic(prediction, mos), mos).statistic),
        "rmse": float(np.sqrt(np.mean((prediction - mos) ** 2))),
    }


def bootstrap_intervals(
    prediction: np.ndarray, mos: np.ndarray, resamples: int, seed: int, confidence: float = 0.95
) -> dict[str, tuple[float, float]]:
    """Paired percentile-bootstrap intervals of every statistic (images resampled together)."""
    def statistics(p: np.ndarray, m: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = agreement(p, m)
            return np.array([values[name] for name in STATISTICS])

    result = stats.bootstrap(
        (np.asarray(prediction, float), np.asarray(mos, float)),
        statistics,
        paired=True,
        vectorized=False,
        n_resamples=resamples,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    low, high = result.confidence_interval
    return {name: (float(a), float(b)) for name, a, b in zip(STATISTICS, low, high)}

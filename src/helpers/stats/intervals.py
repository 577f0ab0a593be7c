"""Interval pieces every estimator shares: the normal quantile and the Wilson interval of a share."""
from __future__ import annotations

from scipy import stats
from statsmodels.stats.proportion import proportion_confint


def normal_quantile(confidence: float) -> float:
    """The two-sided normal quantile of a confidence level.

    >>> round(normal_quantile(0.95), 3)
    1.96
    """
    return float(stats.norm.ppf(0.5 + confidence / 2))


def wilson(successes, trials, confidence: float = 0.95):
    """(lower, upper) Wilson score interval of ``successes / trials`` (scalars or arrays).

    A thin name over statsmodels' ``proportion_confint(method="wilson")``, so that every share in
    the reports is given the same interval.

    >>> [round(v, 3) for v in wilson(5, 10)]
    [0.237, 0.763]
    """
    return proportion_confint(successes, trials, alpha=1 - confidence, method="wilson")

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from helpers import plots
from helpers.stats import overview


def test_wilson_interval_matches_the_closed_form():
    # Wilson (1927) score interval for k=30 of n=120 at 95%, written out by hand
    n, k, z = 120, 30, stats.norm.ppf(0.975)
    p = k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    df = pd.DataFrame({"churned": [True] * k + [False] * (n - k)})
    row = overview.churn_rate(df).iloc[0]
    assert row["rate"] == 0.25
    assert row["lower"] == pytest.approx(centre - half, abs=1e-12)
    assert row["upper"] == pytest.approx(centre + half, abs=1e-12)


def test_churn_rate_by_group():
    df = pd.DataFrame({"churned": [True, False, True, True], "contract": ["a", "a", "b", "b"]})
    out = overview.churn_rate(df, by="contract")
    assert out["contract"].tolist() == ["a", "b"] and out["rate"].tolist() == [0.5, 1.0]


def test_top_share_recovers_the_lognormal_closed_form():
    # For lognormal values the top-q share is 1 - Phi(Phi^-1(1 - q) - sigma) (Lorenz curve of the
    # lognormal); sigma = 1.683 is the classic 80/20. n = 200k gives a sampling SD ~ 0.003.
    sigma = 1.683
    values = np.random.default_rng(1).lognormal(0, sigma, 200_000)
    truth = 1 - stats.norm.cdf(stats.norm.ppf(0.8) - sigma)
    assert truth == pytest.approx(0.80, abs=0.001)
    assert overview.top_share(values, 0.2) == pytest.approx(truth, abs=0.015)


def test_top_share_interval_covers_the_truth_and_is_narrow():
    sigma = 1.2
    truth = 1 - stats.norm.cdf(stats.norm.ppf(0.8) - sigma)
    values = np.random.default_rng(2).lognormal(0, sigma, 20_000)
    r = overview.top_share_ci(values, 0.2, reps=300, seed=0)
    assert r["lower"] <= truth <= r["upper"]
    assert r["upper"] - r["lower"] < 0.05


def test_pareto_curve_ends_and_is_concave():
    curve = overview.pareto_curve(pd.Series([5.0, 1.0, 3.0, 1.0]), points=5)
    assert curve["revenue_share"].iloc[0] == 0 and curve["revenue_share"].iloc[-1] == pytest.approx(1)
    assert curve["revenue_share"].iloc[1] == pytest.approx(0.5)  # top quarter: 5 of 10
    assert (np.diff(curve["revenue_share"], 2) <= 1e-12).all()


def test_plots_draw_what_they_say():
    df = pd.DataFrame({"tenure_months": [1.0, 5, 7, 30], "churned": [True, False, True, False]})
    ax = plots.tenure_histogram(df)
    assert sum(p.get_height() for p in ax.patches) == 4
    rates = overview.churn_rate(df.assign(g=["a", "a", "b", "b"]), by="g")
    ax = plots.churn_rate_bars(rates, "g")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    ax = plots.pareto(overview.pareto_curve(pd.Series([3.0, 1.0])))
    assert len(ax.lines) == 5  # curve, diagonal, two reference lines, the mark of the top share

"""Plot helpers draw what they say: curves, bands, at-risk rows, intervals."""
import numpy as np
import pandas as pd
import pytest

from helpers import plots
from helpers.stats import survival


def _customers(n=300, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"tenure_months": rng.exponential(20, n).round(1), "churned": rng.random(n) < 0.7,
                         "g": rng.choice(["a", "b", "c"], n)})


def test_km_curves_draw_one_curve_per_group_with_bands_and_at_risk_rows():
    df = _customers()
    table = survival.km_table(df, group="g")
    ax = plots.km_curves(table, group="g", ticks=[0, 10, 20, 30])
    assert len(ax.lines) == 3 and len(ax.collections) == 3  # curves and confidence bands
    at_risk = [t for t in ax.at_risk_ax.texts if t.get_gid() == "at-risk"]
    assert len(at_risk) == 3 * 4  # one count per group and tick
    assert [t.get_text() for t in ax.at_risk_ax.get_yticklabels()] == ["a", "b", "c"][::-1] or \
        [t.get_text() for t in ax.at_risk_ax.get_yticklabels()] == ["a", "b", "c"]
    counts = [int(t.get_text().replace(",", "")) for t in at_risk[:4]]
    assert counts == [int((df.loc[df.g == "a", "tenure_months"] >= x).sum()) for x in (0, 10, 20, 30)]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b", "c"]


def test_km_curves_without_bands_or_table():
    ax = plots.km_curves(survival.km_table(_customers()), ci=False, at_risk=False)
    assert len(ax.lines) == 1 and not ax.collections and not hasattr(ax, "at_risk_ax")


def test_forest_plots_each_term_on_a_log_axis():
    hrs = pd.DataFrame({"term": ["x", "y"], "hr": [0.5, 2.0], "lower": [0.4, 1.5], "upper": [0.7, 2.5]})
    ax = plots.forest(hrs)
    labels = dict(zip(ax.get_yticks(), (t.get_text() for t in ax.get_yticklabels())))
    assert ax.get_xscale() == "log" and labels == {1: "x", 0: "y"}  # first term on top
    assert ax.lines[-1].get_xdata()[0] == 1  # the no-effect line
    assert ax.get_title() == "Hazard ratios of churn (95% interval)"


@pytest.mark.parametrize(("confidence", "label"), [(0.9, "90%"), (0.975, "97.5%")])
def test_interval_labels_say_the_confidence_level_used(confidence, label):
    hrs = pd.DataFrame({"term": ["x"], "hr": [0.5], "lower": [0.4], "upper": [0.7]})
    assert plots.forest(hrs, confidence=confidence).get_title() == f"Hazard ratios of churn ({label} interval)"
    rates = pd.DataFrame({"g": ["a"], "rate": [0.2], "lower": [0.1], "upper": [0.3]})
    assert plots.churn_rate_bars(rates, "g", confidence=confidence).get_xlabel() == f"share churned ({label} interval)"


def test_calibration_and_revenue_bars():
    cal = pd.DataFrame({"predicted": [0.2, 0.8], "observed": [0.25, 0.75], "lower": [0.1, 0.6], "upper": [0.4, 0.9]})
    ax = plots.calibration(cal, t=12)
    assert len(ax.lines) >= 2 and "12 months" in ax.get_xlabel()
    table = pd.DataFrame({"segmentation": ["contract", "quadrant"], "segment": ["m2m", "win_back"],
                          "revenue_lost": [100.0, 50.0], "revenue_lost_lower": [90.0, 40.0],
                          "revenue_lost_upper": [110.0, 60.0]})
    ax = plots.revenue_at_risk_bars(table)
    labels = dict(zip(ax.get_yticks(), (t.get_text() for t in ax.get_yticklabels())))
    assert len(ax.patches) == 2 and labels == {1: "contract: m2m", 0: "quadrant: win_back"}  # largest on top


def test_cumulative_incidence_draws_one_curve_per_cause():
    cif = pd.DataFrame({"cause": ["price"] * 3 + ["moved"] * 3, "time": [0, 1, 2] * 2,
                        "cif": [0, 0.1, 0.2, 0, 0.05, 0.1], "lower": [0, 0.05, 0.1, 0, 0.02, 0.05],
                        "upper": [0, 0.15, 0.3, 0, 0.1, 0.15]})
    ax = plots.cumulative_incidence(cif)
    assert len(ax.lines) == 2 and [t.get_text() for t in ax.get_legend().get_texts()] == ["price", "moved"]


def test_trend_accepts_timestamps_periods_and_month_strings():
    for months in (pd.date_range("2023-01-01", periods=3, freq="MS"), pd.period_range("2023-01", periods=3, freq="M"),
                   ["2023-01", "2023-02", "2023-03"]):
        ax = plots.trend(pd.DataFrame({"month": months, "value": [1.0, 2, 3], "lower": [0.0, 1, 2],
                                       "upper": [2.0, 3, 4]}))
        assert pd.Timestamp(ax.lines[0].get_xdata()[0]) == pd.Timestamp("2023-01-01")
        assert len(ax.collections) == 1  # the interval band

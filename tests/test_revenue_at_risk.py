"""Revenue at risk from each active customer's remaining months (conditional survival): references.

``months lost(t) = H - integral_0^H S(t + u) / S(t) du`` for an active customer at tenure t, with S
the segment's Kaplan-Meier curve held flat after its last follow-up (`churn.revenue_at_risk`).
"""
import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter

from helpers.stats import churn

COLUMNS = ["segment", "customers", "events", "rmst", "rmst_lower", "rmst_upper", "active", "active_monthly_value",
           "months_lost", "revenue_lost", "months_lost_lower", "revenue_lost_lower", "months_lost_upper",
           "revenue_lost_upper", "revenue_lost_se", "beyond_follow_up"]


def _simulated(n, *, scale, shape=1.0, follow_up=120.0, seed=0, segment="all"):
    """Weibull churn times (shape 1: exponential, rate 1/scale), uniform administrative censoring."""
    rng = np.random.default_rng(seed)
    churn_at = scale * rng.weibull(shape, n)
    censor_at = rng.uniform(0, follow_up, n)
    return pd.DataFrame({"seg": segment, "tenure_months": np.minimum(churn_at, censor_at),
                         "churned": churn_at <= censor_at, "monthly_value": rng.uniform(10, 100, n)})


def _km_steps(tenure, churned):
    """Kaplan-Meier knots (0, then each distinct tenure) and survival after each, in numpy (fast refits)."""
    times, which = np.unique(tenure, return_inverse=True)
    churners, everyone = np.bincount(which, weights=churned), np.bincount(which)
    at_risk = everyone[::-1].cumsum()[::-1]
    return np.r_[0.0, times], np.r_[1.0, np.cumprod(1 - churners / at_risk)]


def test_km_steps_are_lifelines_curve():
    df = _simulated(500, scale=20, seed=4)
    knots, surv = _km_steps(df["tenure_months"].to_numpy(), df["churned"].to_numpy())
    kmf = KaplanMeierFitter().fit(df["tenure_months"], df["churned"])
    np.testing.assert_allclose(surv[1:], kmf.survival_function_.iloc[1:, 0], rtol=1e-12)
    np.testing.assert_allclose(knots[1:], kmf.survival_function_.index[1:])


def test_six_customers_match_the_hand_computation():
    # KM: S = 1 on [0,1), 5/6 on [1,3), 5/6 * 3/4 = 0.625 on [3,5), 0.625 / 2 = 0.3125 from 5 on (flat after 6).
    # H = 3. Active at 2 (value 10): 1 month at ratio 1, 2 months at 0.625 / (5/6) = 0.75 -> keeps 2.5, loses 0.5.
    # Active at 4 (value 20): 1 month at 1, 2 months at 0.3125 / 0.625 = 0.5 -> keeps 2, loses 1.
    # Active at 6 (value 30): S flat after the last follow-up -> loses 0. Revenue lost 10 * 0.5 + 20 * 1 = 25.
    df = pd.DataFrame({"seg": "a", "tenure_months": [1.0, 2, 3, 4, 5, 6],
                       "churned": [True, False, True, False, True, False],
                       "monthly_value": [99.0, 10, 99, 20, 99, 30]})  # churned customers' value does not count
    out, note = churn.revenue_at_risk(df, "seg", horizon=3, min_size=1)
    row = out.iloc[0]
    assert out.columns.tolist() == COLUMNS and note == ""
    assert row["revenue_lost"] == pytest.approx(25.0, abs=1e-12)
    assert row["active"] == 3 and row["active_monthly_value"] == pytest.approx(20.0)
    assert row["months_lost"] == pytest.approx(25 / 60)  # value-weighted: revenue lost / active monthly revenue
    # SE by hand (delta method, Greenwood): with A(x) the integral of S, the event at 3 (n=4, d=1) moves the
    # customer at 2 by (A(5) - A(3)) / S(2) = 1.25 / (5/6) = 1.5, weight 10 -> B = 15, variance 15^2 / 12;
    # the event at 5 (n=2, d=1) moves the customer at 4 by (A(7) - A(5)) / S(4) = 1, weight 20 -> B = 20, 20^2 / 2;
    # the event at 1 is before every active tenure.
    assert row["revenue_lost_se"] == pytest.approx(np.sqrt(15**2 / 12 + 20**2 / 2), rel=1e-12)
    assert row["revenue_lost_lower"] == 0.0  # 25 - 1.96 * 14.8 < 0: cut at 0
    assert row["revenue_lost_upper"] == pytest.approx(25 + 1.959964 * np.sqrt(218.75), rel=1e-6)
    assert row["beyond_follow_up"] == pytest.approx(2 / 3)  # 4 + 3 and 6 + 3 pass the last follow-up (6)


def test_exponential_churn_is_memoryless_at_every_tenure():
    # closed form: with S(t) = exp(-lam t), S(t + u) / S(t) = exp(-lam u) at every t, so each active customer
    # loses H - (1 - exp(-lam H)) / lam months. 20,000 customers; the 95% interval must hold the truth, for all
    # active customers and for the young and the old ones separately (value on them only), and be narrow: under
    # 5% of the truth wide, 15% for the old (about 1,900 active at 36+ months, fewer at risk ahead of them).
    lam, horizon = 1 / 20, 12
    truth = horizon - (1 - np.exp(-lam * horizon)) / lam  # 2.976 months
    df = _simulated(20000, scale=1 / lam, seed=3)
    active = ~df["churned"]
    for value, width in ((df["monthly_value"], 0.05),
                         (df["monthly_value"].where(active & (df["tenure_months"] < 12), 0.0), 0.05),
                         (df["monthly_value"].where(active & (df["tenure_months"] >= 36), 0.0), 0.15)):
        row = churn.revenue_at_risk(df.assign(monthly_value=value), "seg", horizon=horizon, min_size=1)[0].iloc[0]
        assert row["months_lost_lower"] <= truth <= row["months_lost_upper"], (truth, row["months_lost"])
        assert row["months_lost_upper"] - row["months_lost_lower"] < width * truth


def test_decreasing_hazard_recovers_the_conditional_not_the_from_signup_loss():
    # Weibull shape 0.6 (hazard falls with tenure): a customer who has stayed is less likely to leave than a new
    # one, so the loss from current tenure is below H - RMST(H) from signup, which the old method charged.
    # Reference: the true conditional survival exp((t/s)^k - ((t+u)/s)^k), integrated on a fine grid over each
    # active customer's own tenure (trapezoid, 1,001 points: error far below the statistical one).
    scale, shape, horizon = 30.0, 0.6, 12
    df = _simulated(20000, scale=scale, shape=shape, seed=5)
    row = churn.revenue_at_risk(df, "seg", horizon=horizon, min_size=1)[0].iloc[0]
    active = df.loc[~df["churned"]]
    t, u = active["tenure_months"].to_numpy()[:, None], np.linspace(0, horizon, 1001)[None, :]
    kept = np.trapezoid(np.exp((t / scale) ** shape - ((t + u) / scale) ** shape), u, axis=1)
    truth = np.average(horizon - kept, weights=active["monthly_value"])
    assert row["months_lost_lower"] <= truth <= row["months_lost_upper"], (truth, row["months_lost"])
    assert row["months_lost_upper"] < horizon - row["rmst_upper"]  # clearly below the from-signup loss


def test_customers_at_the_end_of_the_curve_get_finite_losses():
    # "flat": the longest tenure (10) is an active customer, so S is held flat after it: loses 0 of the next 6.
    # "drop": the last two customers churn at 10, S falls to 0 there; the active customer at 9.5 (S = 3/4) keeps
    # 0.5 of the next 6 months and loses 5.5. Neither is NaN; the only event of "drop" after 9.5 has n = d, whose
    # Greenwood term is dropped (as for the RMST), so its SE is 0.
    df = pd.DataFrame({"seg": ["flat"] * 4 + ["drop"] * 4, "tenure_months": [1.0, 2, 3, 10, 1, 9.5, 10, 10],
                       "churned": [True, True, False, False, True, False, True, True],
                       "monthly_value": [0.0, 0, 5, 7, 0, 10, 0, 0]})
    out = churn.revenue_at_risk(df, "seg", horizon=6, min_size=1)[0].set_index("segment")
    assert out.loc["flat", "revenue_lost"] == pytest.approx(0.0, abs=1e-12)
    assert out.loc["flat", "beyond_follow_up"] == 0.5  # 3 + 6 < 10, 10 + 6 > 10
    assert out.loc["drop", "revenue_lost"] == pytest.approx(10 * 5.5)
    assert out.loc["drop", "months_lost"] == pytest.approx(5.5)
    numbers = out.drop(columns=["rmst_lower", "rmst_upper"]).select_dtypes("number")
    assert not numbers.isna().any().any()


def test_the_delta_method_se_agrees_with_the_bootstrap():
    # 400 bootstrap refits of the curve (customers resampled, the active base held fixed, as the SE assumes):
    # Monte Carlo relative error of a bootstrap SE ~ 1/sqrt(2 * 400) = 3.5%, so 12% allows ~3.4 of it. The value
    # sits on the active customers up to 36 months, where every resampled curve is still above 0.
    lam, horizon = 1 / 20, 12
    df = _simulated(2000, scale=1 / lam, follow_up=60, seed=1)
    df["monthly_value"] = df["monthly_value"].where(df["tenure_months"] <= 36, 0.0)
    tenure, churned = df["tenure_months"].to_numpy(), df["churned"].to_numpy()
    value, base = df["monthly_value"].to_numpy(), ~churned & (df["tenure_months"] <= 36).to_numpy()
    se = churn.revenue_at_risk(df, "seg", horizon=horizon, min_size=1)[0]["revenue_lost_se"].item()
    rng, reps = np.random.default_rng(2), []
    for _ in range(400):
        i = rng.integers(0, len(df), len(df))
        knots, surv = _km_steps(tenure[i], churned[i])
        t = tenure[base]
        s_t = surv[np.searchsorted(knots, t, side="right") - 1]
        kept = (churn._area(knots, surv, t + horizon) - churn._area(knots, surv, t)) / s_t
        reps.append(np.sum(value[base] * (horizon - kept)))
    assert se == pytest.approx(np.std(reps, ddof=1), rel=0.12)


def test_rank_keeps_its_columns_and_pools_small_segments():
    df = pd.concat([_simulated(300, scale=10, seed=1, segment="short"), _simulated(300, scale=40, seed=2,
                                                                                   segment="long"),
                    _simulated(20, scale=20, seed=3, segment="tiny")], ignore_index=True)
    out, note = churn.revenue_at_risk(df, "seg", horizon=12, min_size=50)
    assert "tiny" in note and set(out["segment"]) == {"short", "long"}
    assert (out["revenue_lost_lower"] <= out["revenue_lost"]).all()
    assert (out["revenue_lost"] <= out["revenue_lost_upper"]).all()
    ranked = churn.rank_revenue_at_risk(df, ["seg"], horizon=12, min_size=50)
    assert ranked.columns.tolist() == ["segmentation", "segment", "customers", "active", "active_monthly_value",
                                       "months_lost", "revenue_lost", "revenue_lost_lower", "revenue_lost_upper"]
    assert ranked["segment"].tolist() == out["segment"].tolist()

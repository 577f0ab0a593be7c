"""helpers.stats.economics: lifetime value, campaign return and the retention claim against closed forms,
hand-worked examples and simulated data with known churn hazards.

Reference used throughout: for an exponential curve S(m) = exp(-lam m) read at whole months,
CLV = margin * sum_{m=1..H} q^m = margin * q (1 - q^H) / (1 - q), with q = exp(-lam) (1 + d)^(-1/12)
(a finite geometric series). All data are simulated here with fixed seeds (helpers.data.synth is
deliberately not used).
"""
import numpy as np
import pandas as pd
import pytest

from helpers.data import schema as S
from helpers.stats import economics as ec
from helpers.stats.survival import fit_cox

T, E = S.TENURE, S.CHURNED
HORIZON, RATE, MARGIN = 36, 0.10, 20.0
HAZARD_CONTROL, HAZARD_TREATED = 0.05, 0.035  # per month
COST = 30.0  # stated cost per action in the recovery tests


# ---- references and simulators -------------------------------------------------------------
def exp_curve(lam, horizon=HORIZON, per_month=10):
    """Exponential survival on a grid of 1/per_month months; whole months are exact grid points."""
    time = np.arange(0, horizon * per_month + 1) / per_month
    return pd.DataFrame({"time": time, "survival": np.exp(-lam * time)})


def clv_exponential(lam, margin=MARGIN, horizon=HORIZON, rate=RATE):
    """Closed form: the geometric sum margin * q (1 - q^H) / (1 - q)."""
    q = np.exp(-lam) * (1 + rate) ** (-1 / 12)
    return margin * q * (1 - q**horizon) / (1 - q)


def exponential_arm(n, lam, seed, censor=36.0, **columns):
    """Exponential churn times with administrative censoring at ``censor`` months."""
    t = np.random.default_rng(seed).exponential(1 / lam, n)
    return pd.DataFrame({T: np.minimum(t, censor), E: t < censor, **columns})


@pytest.fixture(scope="module")
def campaign():
    """3000 customers per arm; treated cost varies around a mean of 30."""
    rng = np.random.default_rng(7)
    treated = exponential_arm(3000, HAZARD_TREATED, 1, **{S.ARM: S.TREATMENT, S.COST: rng.uniform(20, 40, 3000)})
    control = exponential_arm(3000, HAZARD_CONTROL, 2, **{S.ARM: S.CONTROL, S.COST: 0.0})
    return pd.concat([treated, control], ignore_index=True)


@pytest.fixture(scope="module")
def campaign_value(campaign):
    return ec.incremental_value(campaign, horizon_months=HORIZON, monthly_margin=MARGIN, cost_per_action=COST,
                                annual_discount_rate=RATE, reps=400, seed=0)


# ---- survival_at ---------------------------------------------------------------------------
def test_survival_at_is_a_right_continuous_step_held_beyond_the_last_time():
    curve = pd.DataFrame({"time": [0.5, 2.0, 5.0], "survival": [0.9, 0.8, 0.5]})
    got = ec.survival_at(curve, [0, 0.49, 0.5, 1.99, 2, 4.99, 5, 60])
    np.testing.assert_array_equal(got, [1.0, 1.0, 0.9, 0.9, 0.8, 0.8, 0.5, 0.5])


def test_a_resamples_curve_from_counts_is_lifelines_curve_of_the_repeated_rows():
    """The bootstrap's curve (counts per customer) against lifelines on the rows the counts repeat."""
    from helpers.stats.survival import km_table

    rng = np.random.default_rng(5)
    rows = pd.DataFrame({S.TENURE: rng.integers(0, 30, 400).astype(float), S.CHURNED: rng.random(400) < 0.6})
    sample = ec._Sample(rows, duration=S.TENURE, event=S.CHURNED)
    months = np.arange(0, 40)
    for counts in (np.ones(400, dtype=int), sample.draw(rng), sample.draw(rng)):
        repeated = rows.loc[rows.index.repeat(counts)]
        expected = ec.survival_at(km_table(repeated), months)
        np.testing.assert_allclose(ec.survival_at(sample.curve(counts), months), expected, rtol=0, atol=1e-12)
        assert sample.total(S.TENURE, counts) == pytest.approx(repeated[S.TENURE].sum())
    np.testing.assert_allclose(ec.survival_at(sample.curve(), months), ec.survival_at(km_table(rows), months))


def test_survival_at_rejects_several_curves_stacked():
    curve = pd.DataFrame({"time": [0.0, 1, 0, 1], "survival": [1.0, 0.9, 1.0, 0.8]})
    with pytest.raises(ValueError, match="strictly increasing: pass one curve"):
        ec.survival_at(curve, [1])


# ---- lifetime value ------------------------------------------------------------------------
@pytest.mark.parametrize("lam, rate", [(0.05, 0.10), (0.02, 0.0), (0.2, 0.25)])
def test_lifetime_value_matches_the_geometric_sum(lam, rate):
    got = ec.lifetime_value(exp_curve(lam), monthly_margin=MARGIN, horizon_months=HORIZON, annual_discount_rate=rate)
    assert got == pytest.approx(clv_exponential(lam, rate=rate), rel=1e-10)


def test_lifetime_value_without_churn_or_discounting_is_margin_times_horizon():
    flat = pd.DataFrame({"time": [0.0], "survival": [1.0]})  # held at 1 beyond time 0
    assert ec.lifetime_value(flat, monthly_margin=12.5, horizon_months=48, annual_discount_rate=0) == 12.5 * 48


def test_lifetime_value_rejects_a_fractional_horizon():
    with pytest.raises(ValueError, match="whole number of months >= 1"):
        ec.lifetime_value(exp_curve(0.05), monthly_margin=1, horizon_months=12.5)


def test_lifetime_value_falls_with_the_discount_rate():
    values = [ec.lifetime_value(exp_curve(0.05), monthly_margin=MARGIN, horizon_months=HORIZON,
                                annual_discount_rate=d) for d in (0, 0.05, 0.1, 0.2)]
    assert np.all(np.diff(values) < 0)


def test_lifetime_value_by_group_recovers_each_groups_closed_form():
    # Two groups with hazards 0.05 and 0.02 and revenue 100 (margin 30): the truth must lie in
    # each 95% bootstrap interval, and the interval must be narrower than 20% of the value.
    df = pd.concat([exponential_arm(1500, 0.05, 3, g="a", **{S.MONTHLY_VALUE: 100.0}),
                    exponential_arm(1500, 0.02, 4, g="b", **{S.MONTHLY_VALUE: 100.0})], ignore_index=True)
    out = ec.lifetime_value_by_group(df, group="g", horizon_months=24, reps=200, seed=0).set_index("g")
    assert out["customers"].tolist() == [1500, 1500]
    assert out["monthly_margin"].tolist() == pytest.approx([30.0, 30.0])
    for g, lam in [("a", 0.05), ("b", 0.02)]:
        truth = clv_exponential(lam, margin=30.0, horizon=24)
        assert out.loc[g, "lower"] < truth < out.loc[g, "upper"]
        assert out.loc[g, "upper"] - out.loc[g, "lower"] < 0.2 * truth


def test_customer_lifetime_value_from_cox_curves_recovers_the_closed_form():
    # Exponential PH data, hazard 0.05 * 0.6^x: each customer's CLV within 5% of the closed form.
    rng = np.random.default_rng(5)
    x = rng.integers(0, 2, 2000)
    df = exponential_arm(2000, 1.0, 6).assign(x=x, **{S.MONTHLY_VALUE: 100.0})
    df[T] = np.minimum(rng.exponential(1 / (0.05 * 0.6**x)), 36.0)
    df[E] = df[T] < 36.0
    clv = ec.customer_lifetime_value(fit_cox(df, covariates=["x"]), df, covariates=["x"], horizon_months=24)
    for level in (0, 1):
        truth = clv_exponential(0.05 * 0.6**level, margin=30.0, horizon=24)
        assert clv[df["x"] == level].to_numpy() == pytest.approx(truth, rel=0.05)


# ---- a retention campaign ------------------------------------------------------------------
def test_incremental_value_interval_contains_the_closed_form_difference(campaign_value):
    truth = clv_exponential(HAZARD_TREATED) - clv_exponential(HAZARD_CONTROL)
    out = campaign_value
    assert out["incremental_value_lower"] < truth < out["incremental_value_upper"]
    assert out["incremental_value_upper"] - out["incremental_value_lower"] < truth  # not absurdly wide
    assert out["break_even_cost"] == out["incremental_value"]
    assert (out["customers_treated"], out["customers_control"], out["reps"]) == (3000, 3000, 400)


def test_roi_interval_contains_the_closed_form_roi_and_is_surely_positive(campaign_value):
    truth = (clv_exponential(HAZARD_TREATED) - clv_exponential(HAZARD_CONTROL) - COST) / COST
    out = campaign_value
    assert out["roi_lower"] < truth < out["roi_upper"]
    assert out["roi"] == pytest.approx((out["incremental_value"] - COST) / COST, rel=1e-12)
    assert out["net_value"] == pytest.approx(out["incremental_value"] - COST, rel=1e-12)
    assert out["p_roi_positive"] > 0.95  # the truth (about 1.3) is clearly profitable


def test_incremental_value_takes_cost_from_the_column_and_adds_a_revenue_effect(campaign):
    # Cost: the treated mean of the cost column. Revenue effect r: the treated CLV is (1 + r) times
    # its CLV without the effect (same curve), so incremental value rises by r * CLV(treated).
    base = ec.incremental_value(campaign, horizon_months=HORIZON, monthly_margin=MARGIN, reps=0)
    lifted = ec.incremental_value(campaign, horizon_months=HORIZON, monthly_margin=MARGIN, reps=0,
                                  revenue_effect=0.1)
    treated_cost = campaign.loc[campaign[S.ARM] == S.TREATMENT, S.COST].mean()
    assert base["cost_per_action"] == pytest.approx(treated_cost, rel=1e-12)
    assert lifted["clv_treated"] == pytest.approx(1.1 * base["clv_treated"], rel=1e-12)
    assert lifted["incremental_value"] - base["incremental_value"] == pytest.approx(0.1 * base["clv_treated"])
    assert np.isnan(base["incremental_value_lower"]) and np.isnan(base["p_roi_positive"])


def test_incremental_value_margin_from_revenue_pools_both_arms(campaign):
    df = campaign.assign(**{S.MONTHLY_VALUE: np.where(campaign[S.ARM] == S.TREATMENT, 100.0, 60.0)})
    out = ec.incremental_value(df, horizon_months=HORIZON, cost_per_action=COST, reps=0)
    by_hand = ec.incremental_value(df, horizon_months=HORIZON, cost_per_action=COST, reps=0,
                                   monthly_margin=0.3 * 80.0)  # mean revenue 80 over equal arms
    assert out["incremental_value"] == pytest.approx(by_hand["incremental_value"], rel=1e-12)


def test_incremental_value_says_which_arm_is_missing(campaign):
    with pytest.raises(ValueError, match="arm needs rows labelled 'treatment' and 'control'"):
        ec.incremental_value(campaign[campaign[S.ARM] == S.CONTROL], horizon_months=12, monthly_margin=1,
                             cost_per_action=1, reps=0)


# ---- the retention claim -------------------------------------------------------------------
def test_retention_gain_adds_the_points_at_twelve_months_exactly():
    for lam in (0.01, 0.03, 0.08):
        gained = ec.retention_gain(exp_curve(lam))
        assert ec.survival_at(gained, [12])[0] == pytest.approx(np.exp(-12 * lam) + 0.05, abs=1e-14)


def test_retention_gain_keeps_an_exponential_curve_exponential():
    lam = 0.03
    k = np.log(np.exp(-12 * lam) + 0.05) / np.log(np.exp(-12 * lam))
    gained = ec.retention_gain(exp_curve(lam))
    np.testing.assert_allclose(gained["survival"], np.exp(-k * lam * gained["time"]), rtol=1e-12, atol=0)


def test_retention_gain_refuses_a_curve_that_cannot_rise_that_much():
    with pytest.raises(ValueError, match=r"retention at 12 months is 0.980; 0.980 \+ 0.05 must stay"):
        ec.retention_gain(pd.DataFrame({"time": [0.0, 6], "survival": [1.0, 0.98]}))


def test_retention_claim_on_a_hand_example():
    # Curve: S = 1 before month 12, 0.70 from 12 to 23, 0.49 from 24. Five points at 12 months:
    # k = log(0.75) / log(0.70), so S' = 0.75 from 12 and 0.49^k = (0.70^2)^k = 0.75^2 = 0.5625 at 24.
    # Margin 10, no discounting, horizon 24 months (month-end margin, months 1..24):
    #   CLV before = 10 * (11 * 1 + 12 * 0.70 + 0.49)   = 10 * 19.89   = 198.90
    #   CLV after  = 10 * (11 * 1 + 12 * 0.75 + 0.5625) = 10 * 20.5625 = 205.625
    # Acquisition cost 180: profit 18.90 -> 25.625, gain 6.725, increase 6.725 / 18.90 = 35.58%.
    curve = pd.DataFrame({"time": [0.0, 12, 24], "survival": [1.0, 0.70, 0.49]})
    out = ec.retention_claim(curve, monthly_margin=10, acquisition_cost=180, horizon_months=24,
                             annual_discount_rate=0)
    assert out["retention_before"] == 0.70 and out["retention_after"] == pytest.approx(0.75, abs=1e-14)
    assert (out["clv_before"], out["clv_after"]) == pytest.approx((198.9, 205.625), abs=1e-9)
    assert (out["profit_before"], out["profit_after"], out["gain"]) == pytest.approx((18.9, 25.625, 6.725), abs=1e-9)
    assert out["increase_pct"] == pytest.approx(100 * 6.725 / 18.9, abs=1e-9)
    assert out["claim_position"] == "within" and "within the claimed 25-85%" in out["verdict"]


@pytest.mark.parametrize("acquisition, position", [(0, "below"), (195, "above"), (250, "undefined")])
def test_retention_claim_verdicts(acquisition, position):
    # Same curve: profit 198.9 -> +3.4% (below); 3.9 -> 10.625, +172% (above); CLV < 250 (undefined).
    curve = pd.DataFrame({"time": [0.0, 12, 24], "survival": [1.0, 0.70, 0.49]})
    out = ec.retention_claim(curve, monthly_margin=10, acquisition_cost=acquisition, horizon_months=24,
                             annual_discount_rate=0)
    assert out["claim_position"] == position
    assert (position in out["verdict"]) if position != "undefined" else ("undefined" in out["verdict"])
    assert np.isnan(out["increase_pct"]) == (position == "undefined")


def test_claim_sensitivity_grid_shape_and_monotonicity():
    grid = ec.claim_sensitivity(exp_curve(0.03), margins=[10, 20], discount_rates=[0, 0.1, 0.2],
                                acquisition_costs=[0, 80, 160], horizon_months=HORIZON)
    assert grid.shape == (18, 9)
    assert list(grid.columns[:3]) == ["margin", "discount_rate", "acquisition_cost"]
    for _, cell in grid.groupby(["margin", "acquisition_cost"]):  # higher discount rate -> lower CLV
        assert np.all(np.diff(cell.sort_values("discount_rate")["clv_before"]) < 0)
    for _, cell in grid.groupby(["margin", "discount_rate"]):  # higher acquisition cost -> larger increase
        assert np.all(np.diff(cell.sort_values("acquisition_cost")["increase_pct"]) > 0)
    assert (grid["within_claim"] == grid["increase_pct"].between(25, 85)).all()


def test_acquisition_multiple():
    assert ec.acquisition_multiple(450.0, 100.0) == 4.5
    with pytest.raises(ValueError, match="retention_cost_per_customer must be > 0"):
        ec.acquisition_multiple(450.0, 0.0)


def test_retention_claim_ci_contains_the_closed_form_increase():
    # Exponential churn 0.04/month, 2000 customers, follow-up 36 months: the exact curve gives the
    # true increase; it must lie in the 95% bootstrap interval of the KM-based estimate.
    df = exponential_arm(2000, 0.04, 8)
    kwargs = dict(monthly_margin=MARGIN, acquisition_cost=250.0, horizon_months=HORIZON, annual_discount_rate=RATE)
    truth = ec.retention_claim(exp_curve(0.04), **kwargs)["increase_pct"]
    out = ec.retention_claim_ci(df, reps=200, seed=0, **kwargs)
    assert out["increase_pct_lower"] < truth < out["increase_pct_upper"]
    assert out["gain_lower"] < out["gain"] < out["gain_upper"]
    assert 0 <= out["p_within_claim"] <= 1 and out["reps_undefined"] == 0 and out["reps"] == 200

"""The churn-survival steps: recovery of planted effects on synthetic data, and closed-form references."""
import math

import numpy as np
import pandas as pd
import pytest

from helpers.data import segments
from helpers.data.io import Dataset
from helpers.stats import churn, survival

COVARIATES = ["contract", "customer_type", "satisfaction", "log2_monthly_value", "wallet_share", "below_parity",
              "quadrant"]
TRUTH_NAME = {"log2_monthly_value": "log2_value"}  # our term name -> the generator's


@pytest.fixture(scope="module")
def synthetic(default_data):
    tables, truth = default_data
    ds = Dataset("synthetic", None, tables, "test", truth)
    return ds, churn.prepare(ds), truth


@pytest.fixture(scope="module")
def cox(synthetic):
    return churn.cox_with_ph_check(synthetic[1], COVARIATES)


def test_contract_breaks_proportional_hazards_and_is_stratified(cox):
    # the generator gives each contract its own Weibull shape (0.8, 1.0, 1.3): not proportional
    assert cox.check.set_index("term").loc["contract[two-year]", "violated"]
    assert cox.strata == ["contract"] and not cox.ph_holds
    assert cox.verdict.startswith("contract violates proportional hazards (p < 0.001); the model is stratified by "
                                  "contract")
    assert "contract[two-year]" not in set(cox.hazard_ratios()["term"])


def test_ph_check_on_the_default_data_is_lifelines_test_and_leaves_customer_type_alone(cox):
    # reference: lifelines 0.30 proportional_hazard_test(time_transform="rank"), which the check
    # called before it was written with cumulative sums: same statistics, so the same verdicts
    from lifelines.statistics import proportional_hazard_test
    ref = proportional_hazard_test(cox.first, cox.first.design_, time_transform="rank").summary
    np.testing.assert_allclose(cox.check["statistic"], ref["test_statistic"], rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(cox.check["p"], ref["p"], rtol=1e-9, atol=1e-6)
    violated = set(cox.check.loc[cox.check["violated"], "covariate"])
    assert violated == {"contract"} and "customer_type[group]" in set(cox.hazard_ratios()["term"])


def test_cox_recovers_the_planted_hazard_ratios(cox, synthetic):
    # recovery: each planted log-HR lies in the 95% interval of the stratified model, and the
    # interval is informative (narrower than a factor 1.5 on the HR scale)
    truth = synthetic[2]["cox_log_hr"]
    hrs = cox.hazard_ratios(0.95).set_index("term")
    for term, row in hrs.iterrows():
        planted = math.exp(truth[TRUTH_NAME.get(term, term)])
        assert row["lower"] <= planted <= row["upper"], (term, planted, row["lower"], row["upper"])
        assert row["upper"] / row["lower"] < 1.5, term


def test_quadrant_survival_ordering_matches_the_planted_risk(synthetic):
    _, customers, truth = synthetic
    _, summary, _ = churn.segment_curves(customers, segments.QUADRANT, horizon=24)
    longest_first = summary.sort_values("rmst", ascending=False)["quadrant"].astype(str).tolist()
    assert longest_first == truth["quadrant_order_by_risk"]  # lowest planted risk stays longest


def test_manager_departure_effect_is_recovered(synthetic):
    ds, customers, truth = synthetic
    out = churn.manager_departure_effect(ds, customers, window_months=truth["params"]["hr_manager_departure_months"])
    row = out.set_index("term").loc[survival.AFTER_EVENT]
    planted = truth["params"]["hr_manager_departure"]
    assert row["lower"] <= planted <= row["upper"] and row["upper"] / row["lower"] < 2.5
    assert out["customers_exposed"].iloc[0] > 100


def test_holdout_model_beats_the_no_covariate_prediction_and_is_calibrated(cox, synthetic):
    acc = churn.holdout_accuracy(synthetic[1], cox, horizon=24, test_share=0.3, seed=1)
    assert acc["brier"] < acc["brier_km"] and 0 < acc["integrated_brier"] < 0.25
    cal = acc["calibration"]
    covered = ((cal["lower"] <= cal["predicted"]) & (cal["predicted"] <= cal["upper"])).mean()
    assert covered >= 0.8  # the model is the true one up to time-varying terms: most bins agree


def test_predictions_of_a_stratified_model_follow_the_input_rows():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"tenure_months": rng.exponential(10, 300), "churned": True, "x": rng.normal(size=300),
                       "g": rng.choice(["b", "a"], 300)})
    cph = survival.fit_cox(df, covariates=["x"], strata="g")
    pred = survival.predict_survival(cph, df, covariates=["x"], strata="g", times=[5.0])
    direct = [cph.predict_survival_function(df.loc[[i], ["x", "g"]], times=[5.0]).iloc[0, 0] for i in df.index[:20]]
    np.testing.assert_allclose(pred[5.0].iloc[:20], direct, rtol=1e-12)


def test_revenue_at_risk_counts_only_the_churn_still_ahead_of_each_active_customer():
    # no censoring before the last churn: RMST(h) = mean(min(T, h)), descriptive only. Every active customer is
    # past the segment's last churn (30 and 40 > 4; 50 > 5), so given the tenure they have, no month is lost
    # (tests/test_revenue_at_risk.py checks the conditional computation by hand and against closed forms).
    df = pd.DataFrame({"seg": ["a"] * 4 + ["b"] * 4,
                       "tenure_months": [2.0, 4.0, 30.0, 40.0, 1.0, 3.0, 5.0, 50.0],
                       "churned": [True, True, False, False, True, True, True, False],
                       "monthly_value": [10.0, 10.0, 20.0, 40.0, 5.0, 5.0, 5.0, 8.0]})
    out, note = churn.revenue_at_risk(df, "seg", horizon=10, min_size=1)
    rows = out.set_index("segment")
    rmst_a, rmst_b = (2 + 4 + 10 + 10) / 4, (1 + 3 + 5 + 10) / 4
    assert rows.loc["a", "rmst"] == pytest.approx(rmst_a) and rows.loc["b", "rmst"] == pytest.approx(rmst_b)
    assert rows["revenue_lost"].tolist() == [0.0, 0.0]  # the old (horizon - RMST) reading gave 90 and 22
    assert out["segment"].tolist() == ["a", "b"] and note == ""
    assert (out["revenue_lost_lower"] <= out["revenue_lost"]).all()


def test_usable_covariates_say_what_was_left_out():
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [1.0, 1.0, 1.0], "c": [np.nan, np.nan, 1.0]})
    kept, note = churn.usable_covariates(df, ["a", "b", "c", "d"])
    assert kept == ["a"]
    assert note == "Left out of the model: b (a single value), c (missing for 67% of customers), d (not in the data)."


def test_a_narrow_mean_tenure_interval_reads_with_the_digits_that_tell_its_bounds_apart():
    from helpers.steps.churn import _stay_sentence
    narrow = _stay_sentence(pd.Series({"rmst": 18.035, "rmst_lower": 18.03, "rmst_upper": 18.04}), 24, 0.95)
    assert "stay 18.04 months on average (95% interval 18.03 to 18.04;" in narrow
    wide = _stay_sentence(pd.Series({"rmst": 18.0, "rmst_lower": 17.9, "rmst_upper": 18.2}), 24, 0.95)
    assert "stay 18 months on average (95% interval 17.9 to 18.2;" in wide

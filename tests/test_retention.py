"""Campaign frames built from the contract tables, checked against the generator and by hand."""
import pandas as pd
import pytest

from helpers.data.io import Dataset
from helpers.data.validate import require_columns, validate
from helpers.stats import retention as R


@pytest.fixture(scope="module")
def synthetic(default_data):
    tables, truth = default_data  # the default data set (conftest.py)
    return Dataset("synthetic", None, tables, "test", truth)


@pytest.mark.parametrize("campaign", ["RCT-2024-07", "OUTREACH-2025-01"])
@pytest.mark.parametrize("months", [6, 12])
def test_observed_differences_match_the_generators_own_count(synthetic, campaign, months):
    # the generator records the observed treated-minus-control difference of its own outcomes;
    # the frame rebuilds them from the tables alone (revenue is stored to the cent)
    frame = R.campaign_frame(synthetic, campaign, window_months=months)
    means = frame.groupby("arm", observed=True)[[R.REVENUE_WINDOW, R.CHURNED_WINDOW]].mean()
    diff = means.loc["treatment"] - means.loc["control"]
    naive = synthetic.truth["campaigns"][campaign]["naive_difference"]
    assert diff[R.CHURNED_WINDOW] == pytest.approx(naive[f"churn_{months}m"], abs=1e-9)
    assert diff[R.REVENUE_WINDOW] == pytest.approx(naive[f"revenue_{months}m"], abs=0.05)
    assert len(frame) == synthetic.truth["campaigns"][campaign]["enrolled"]


def test_frame_by_hand():
    customers = pd.DataFrame({"customer_id": ["a", "b"], "signup_date": ["2023-01-10", "2023-03-01"],
                              "end_date": ["2023-08-15", "2024-01-01"], "churned": [True, False],
                              "monthly_value": [10.0, 20.0]})
    months = pd.date_range("2023-01-01", "2023-12-01", freq="MS")
    revenue = pd.concat([
        pd.DataFrame({"customer_id": "a", "month": months[:8], "revenue": 10.0}),
        pd.DataFrame({"customer_id": "b", "month": months[2:], "revenue": 20.0})])
    contacts = pd.DataFrame({"contact_id": ["k1", "k2", "k3"], "customer_id": ["a", "b", "b"],
                             "opened_at": ["2023-04-20", "2023-04-01", "2023-06-01"],
                             "kind": ["complaint", "complaint", "inquiry"],
                             "resolved_at": ["2023-05-10", "2023-04-03", "2023-06-01"],
                             "recovered": [None, False, None]})
    campaigns = pd.DataFrame({"campaign_id": "X", "customer_id": ["a", "b"], "assigned_at": "2023-05-01",
                              "arm": ["treatment", "control"], "assignment": "randomized", "cost": [5.0, 0.0]})
    ds = Dataset("hand", None, validate({"customers": customers, "revenue": revenue, "contacts": contacts,
                                         "campaigns": campaigns}), "x")
    f = R.campaign_frame(ds, "X", window_months=3, pre_months=2).set_index("customer_id")
    assert f[R.PRE_REVENUE].tolist() == [20.0, 40.0]  # March and April
    assert f[R.REVENUE_WINDOW].tolist() == [30.0, 60.0]  # May to July
    assert f[R.CHURNED_WINDOW].tolist() == [False, False]  # a leaves 2023-08-15, after 2023-08-01
    assert f[R.MONTHS_TO_CHURN].tolist() == pytest.approx([92 / (365.25 / 12)] * 2)
    # a: complaint open on 2023-05-01; b: failed recovery resolved 28 days before
    assert f[R.RECENT_COMPLAINT].tolist() == [1.0, 1.0]
    assert f[R.CONTACTS_WINDOW].tolist() == [0.0, 1.0]
    assert f[R.TENURE_AT_ASSIGNMENT].round(3).tolist() == [round(111 / (365.25 / 12), 3), round(61 / (365.25 / 12), 3)]


def test_design_is_checked_against_the_record(synthetic):
    frame = R.campaign_frame(synthetic, "OUTREACH-2025-01")
    assert R.campaign_design(frame) == "targeted"
    with pytest.raises(ValueError, match="DESIGN = 'randomized', but the campaign records assignment 'targeted'"):
        R.campaign_design(frame, "randomized")
    with pytest.raises(ValueError, match="the data do not record how customers were assigned"):
        R.campaign_design(frame.drop(columns="assignment"))


def test_unknown_campaign_and_missing_columns_are_named(synthetic):
    with pytest.raises(ValueError, match=r"campaigns.campaign_id has no campaign 'NOPE': the data set has "
                                         r"OUTREACH-2025-01, RCT-2024-07"):
        R.campaign_frame(synthetic, "NOPE")
    with pytest.raises(ValueError, match=r"experiment.csv has no column 'spend' \(asked for by OUTCOME\); its columns"):
        require_columns(pd.DataFrame({"a": [1]}), ["spend"], table="experiment.csv", parameter="OUTCOME")


COVARIATES = ["contract", "customer_type", "log2_monthly_value", "tenure_at_assignment", "recent_complaint"]


def _row(table, method):
    return table.set_index("method").loc[method]


def test_randomized_campaign_recovers_the_planted_effects(synthetic):
    # truth: treated-minus-control potential outcomes averaged over the enrolled (same draws)
    truth = synthetic.truth["campaigns"]["RCT-2024-07"]["ate"]
    frame = R.campaign_frame(synthetic, "RCT-2024-07", window_months=12)
    revenue = R.effect_table(frame, outcome=R.REVENUE_WINDOW, design="randomized", arm="arm", control="control",
                             covariates=COVARIATES, pre=R.PRE_REVENUE)
    cuped, plain = _row(revenue, "CUPED (pre-period outcome)"), _row(revenue, "difference in means")
    assert cuped["lower"] <= truth["revenue_12m"] <= cuped["upper"]
    assert cuped["upper"] - cuped["lower"] < 0.6 * (plain["upper"] - plain["lower"])  # CUPED narrows the interval
    assert cuped["variance_reduction"] > 0.5
    churn = _row(R.effect_table(frame, outcome=R.CHURNED_WINDOW, design="randomized", arm="arm", control="control"),
                 "difference in means")
    assert churn["lower"] <= truth["churn_12m"] <= churn["upper"] < 0


def test_targeted_outreach_naive_is_biased_and_aipw_recovers(synthetic):
    truth = synthetic.truth["campaigns"]["OUTREACH-2025-01"]["ate"]
    frame = R.campaign_frame(synthetic, "OUTREACH-2025-01", window_months=12)
    for outcome, key in ((R.REVENUE_WINDOW, "revenue_12m"), (R.CHURNED_WINDOW, "churn_12m")):
        table = R.effect_table(frame, outcome=outcome, design="targeted", arm="arm", control="control",
                               covariates=COVARIATES)
        naive, aipw = _row(table, "naive difference (biased)"), _row(table, "AIPW (ATE)")
        assert not naive["lower"] <= truth[key] <= naive["upper"], key  # the naive comparison misses the truth
        assert aipw["lower"] <= truth[key] <= aipw["upper"], key
    diagnostics = R.targeted_diagnostics(frame, arm="arm", treated="treatment", control="control",
                                         covariates=COVARIATES)
    assert (diagnostics["balance"]["smd_weighted"].abs() < 0.1).all()
    assert diagnostics["balance"]["smd_unweighted"].abs().max() > 0.3


def test_value_from_effect_carries_the_interval_through():
    out = R.value_from_effect({"estimate": 100.0, "lower": 40.0, "upper": 160.0}, margin_rate=0.3, cost_per_action=20)
    assert (out["incremental_value"], out["incremental_value_lower"], out["incremental_value_upper"]) == \
        pytest.approx((30.0, 12.0, 48.0))
    assert (out["roi"], out["roi_lower"], out["roi_upper"]) == pytest.approx((0.5, -0.4, 1.4))
    assert out["break_even_cost"] == pytest.approx(30.0) and out["net_value"] == pytest.approx(10.0)

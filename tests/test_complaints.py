"""Tests for helpers.stats.complaints: KPIs against references, episodes by hand, recovery of the planted
complaint effects, the leakage check and the error messages.

References and tolerances are stated at each test. Recovery tests fit the model an analyst would
fit on the generator's data (stratified by contract, adjusted for the covariates the generator
uses) and ask that the planted log hazard ratio lies in the 95% interval. Seeds are fixed.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.duration.hazard_regression import PHReg
from statsmodels.duration.survfunc import SurvfuncRight
from statsmodels.stats.proportion import proportion_confint

from helpers.data import schema as S
from helpers.data import synth
from helpers.data.segments import BELOW_PARITY, LOG2_VALUE, QUADRANT, add_segments
from helpers.stats import complaints as K
from helpers.stats import survival

# the generator's fixed covariates, as add_segments builds them (contract enters as strata)
COVARIATES = [S.CUSTOMER_TYPE, S.SATISFACTION, LOG2_VALUE, S.WALLET_SHARE, BELOW_PARITY, QUADRANT]
DPM = S.DAYS_PER_MONTH


def _binomial_se(p: float, m: int) -> float:
    return math.sqrt(p * (1 - p) / m)


def _fit(tables: dict) -> pd.DataFrame:
    customers = add_segments(tables[S.CUSTOMERS])
    episodes = K.complaint_episodes(customers, tables[S.CONTACTS], covariates=[*COVARIATES, S.CONTRACT])
    model = K.complaint_state_model(episodes, covariates=COVARIATES, strata=S.CONTRACT)
    return survival.hazard_ratios(model).set_index("term")


@pytest.fixture(scope="module")
def synthetic(default_data):
    """The reference data set: defaults, n = 20000, 36 months, seed 7 (conftest.py)."""
    return default_data


@pytest.fixture(scope="module")
def tables(synthetic):
    return synthetic[0]


@pytest.fixture(scope="module")
def truth(synthetic):
    return synthetic[1]


@pytest.fixture(scope="module")
def hazard_table(tables):
    return _fit(tables)


# ---- recovery of the planted effects ---------------------------------------------------------------
def test_state_model_recovers_planted_complaint_effects(hazard_table, truth):
    for term in K.STATE_TERMS:
        planted = truth["cox_log_hr"][term]
        lo, hi = np.log(hazard_table.loc[term, ["lower", "upper"]])
        assert lo <= planted <= hi, f"{term}: planted {planted:.3f} outside [{lo:.3f}, {hi:.3f}]"
        assert hi - lo < 1.0, f"{term}: interval [{lo:.3f}, {hi:.3f}] too wide to be a check"


def test_state_model_sees_a_recovered_complaint_that_hurts():
    """hr_recovered = 1.3 instead of 0.85: the interval holds log(1.3) and excludes 0."""
    params = dataclasses.replace(synth.SynthParams(), hr_recovered=1.3)
    tables, truth = synth.generate(10000, 36, seed=11, params=params)
    row = _fit(tables).loc["complaint[recovered]"]
    assert truth["cox_log_hr"]["complaint[recovered]"] == pytest.approx(math.log(1.3))
    assert math.log(row["lower"]) <= math.log(1.3) <= math.log(row["upper"])
    assert row["lower"] > 1  # log-HR interval above 0


def test_hazard_reading_states_the_paradox(hazard_table):
    text = K.hazard_reading(hazard_table.reset_index())
    assert text.startswith("While a complaint is open, customers churn ")
    assert "(the service-recovery paradox)" in text  # planted HR 0.85, upper bound < 1 at n = 20000
    assert "After a failed recovery" in text


@pytest.mark.parametrize("lower, upper, phrase", [(0.7, 0.9, "more loyal"), (1.1, 1.5, "still less loyal"),
                                                   (0.8, 1.1, "cannot tell")])
def test_hazard_reading_verdicts(lower, upper, phrase):
    table = pd.DataFrame({"term": ["complaint[recovered]"], "hr": [(lower + upper) / 2], "lower": [lower],
                          "upper": [upper]})
    assert phrase in K.hazard_reading(table)


# ---- KPIs against the generator's realised values ---------------------------------------------------
def test_fcr_rate_matches_truth(tables, truth):
    facts = truth["realised"]["complaints"]
    overall = K.fcr_rate(tables[S.CONTACTS], freq=None).iloc[0]
    assert overall["complaints"] == facts["count"]
    # exact: the same share of the same complaints (truth stores 10 significant digits)
    assert overall["value"] == pytest.approx(facts["fcr_rate"], abs=1e-9)
    # and within 3 binomial SE of the planted probability 0.4
    assert abs(overall["value"] - 0.4) <= 3 * _binomial_se(0.4, facts["count"])
    monthly = K.fcr_rate(tables[S.CONTACTS])
    assert monthly["complaints"].sum() == facts["count"]


def test_repeat_rate_matches_truth(tables, truth):
    facts, contacts = truth["realised"]["complaints"], tables[S.CONTACTS]
    anytime = K.repeat_rate(contacts, within_days=None, freq=None).iloc[0]
    # exact: truth counts a complaint as repeated when any row points to it
    assert anytime["value"] == pytest.approx(facts["repeat_rate"], abs=1e-9)
    sixty = K.repeat_rate(contacts, within_days=60, freq=None).iloc[0]
    # repeats fall before the resolution (lognormal, median 6 days): 60 days misses a handful, within 3 SE
    assert abs(sixty["value"] - facts["repeat_rate"]) <= 3 * _binomial_se(facts["repeat_rate"], facts["count"])
    week = K.repeat_rate(contacts, freq=None).iloc[0]
    assert week["value"] <= sixty["value"] <= anytime["value"]
    assert "repeat_of" in week["definition"] and "7 days" in week["definition"]


def test_repeat_rate_falls_back_to_the_next_complaint_without_repeat_of():
    contacts = pd.DataFrame({"customer_id": ["C1", "C1", "C1", "C2"], "kind": "complaint",
                             "opened_at": pd.to_datetime(["2023-01-01", "2023-01-05", "2023-03-01", "2023-01-02"])})
    out = K.repeat_rate(contacts, within_days=7, freq=None)
    assert out[["complaints", "repeated"]].iloc[0].tolist() == [4, 1]
    assert out["definition"].item().startswith("no repeat_of column")


def test_recovery_mix_matches_truth(tables, truth):
    facts = truth["realised"]["complaints"]
    mix = K.recovery_mix(tables[S.CONTACTS])
    assert mix["complaints"].sum() == facts["resolved"]
    assert mix["share"].sum() == pytest.approx(1.0, abs=1e-12)
    assert mix["recovered"].sum() / mix["with_outcome"].sum() == pytest.approx(facts["recovered_share"], abs=1e-9)
    assert mix[S.RECOVERY_ACTION].tolist() == list(S.RECOVERY_ACTIONS)
    # planted intercepts rise from none to refund, so does the recovered share
    assert mix["recovered_share"].is_monotonic_increasing


def test_kpi_summary_has_one_row_per_kpi(tables):
    customers, contacts = tables[S.CUSTOMERS], tables[S.CONTACTS]
    table = K.kpi_summary(customers, contacts)
    assert table["kpi"].is_unique and len(table) == 7
    assert ((table["lower"] <= table["value"]) & (table["value"] <= table["upper"])).all()
    assert table[["unit", "definition"]].notna().all().all()
    fcr = table.set_index("kpi").loc["first_contact_resolution", "value"]
    assert fcr == pytest.approx(K.fcr_rate(contacts, freq=None)["value"].item(), abs=1e-15)


# ---- KPIs against references --------------------------------------------------------------------------
def test_complaint_rate_interval_is_garwood(tables):
    customers, contacts = tables[S.CUSTOMERS], tables[S.CONTACTS]
    out = K.complaint_rate(customers, contacts)
    k, exposure, a = out["complaints"].to_numpy(), out["customer_months"].to_numpy(), 0.05
    # Garwood (1936): chi2(a/2, 2k)/2 .. chi2(1 - a/2, 2k + 2)/2, per exposure, per 1,000 (rel. 1e-10)
    lower = np.where(k > 0, stats.chi2.ppf(a / 2, 2 * k) / 2, 0.0) / exposure * 1000
    upper = stats.chi2.ppf(1 - a / 2, 2 * k + 2) / 2 / exposure * 1000
    np.testing.assert_allclose(out["lower"], lower, rtol=1e-10, atol=0)
    np.testing.assert_allclose(out["upper"], upper, rtol=1e-10, atol=0)
    # exposure: every active day counted once, in months of DAYS_PER_MONTH days (rel. 1e-12)
    days = (customers[S.END_DATE] - customers[S.SIGNUP_DATE]).dt.days.sum()
    assert exposure.sum() == pytest.approx(days / DPM, rel=1e-12)
    overall = K.complaint_rate(customers, contacts, freq=None).iloc[0]
    assert overall["complaints"] == k.sum() and overall["customer_months"] == pytest.approx(days / DPM, rel=1e-12)


def test_complaint_rate_month_without_complaints_has_zero_lower_bound():
    customers = pd.DataFrame({"signup_date": pd.to_datetime(["2023-01-01"]),
                              "end_date": pd.to_datetime(["2023-03-01"])})
    contacts = pd.DataFrame({"kind": ["complaint"], "opened_at": pd.to_datetime(["2023-02-10"])})
    out = K.complaint_rate(customers, contacts)
    assert out["complaints"].tolist() == [0, 1]
    assert out["customer_months"].tolist() == pytest.approx([31 / DPM, 28 / DPM], rel=1e-12)
    assert out["lower"].iloc[0] == 0 and out["upper"].iloc[0] == pytest.approx(
        -math.log(0.025) / (31 / DPM) * 1000, rel=1e-10)  # k = 0: upper = -log(a/2) / exposure


def test_fcr_interval_is_wilson(tables):
    out = K.fcr_rate(tables[S.CONTACTS])
    k, n = out["first_contact"].to_numpy(), out["complaints"].to_numpy()
    low, high = proportion_confint(k, n, alpha=0.05, method="wilson")  # statsmodels, abs 1e-12
    np.testing.assert_allclose(out["lower"], low, rtol=0, atol=1e-12)
    np.testing.assert_allclose(out["upper"], high, rtol=0, atol=1e-12)
    # Wilson (1927) score interval written out, abs 1e-12
    z, p = stats.norm.ppf(0.975), k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    np.testing.assert_allclose(out["lower"], centre - half, rtol=0, atol=1e-12)


def test_time_to_resolve_equals_statsmodels_survfunc(tables):
    customers, contacts = tables[S.CUSTOMERS], tables[S.CONTACTS]
    days = K.resolution_days(contacts, customers=customers)
    assert days[K.RESOLVED].sum() == (days[S.RESOLVED_AT].notna()).sum()
    km = K.time_to_resolve(contacts, customers=customers).set_index("time")["survival"]
    ref = SurvfuncRight(days[K.DAYS_TO_RESOLVE].to_numpy(), days[K.RESOLVED].astype(int).to_numpy())
    # statsmodels' product-limit estimate at its event times, abs 1e-6
    np.testing.assert_allclose(km.reindex(ref.surv_times).to_numpy(), ref.surv_prob, rtol=0, atol=1e-6)
    summary = K.time_to_resolve_summary(contacts, customers=customers).iloc[0]
    assert summary["median_lower"] <= summary["median"] <= summary["median_upper"]


def test_open_complaints_are_censored_at_the_customers_end():
    customers = pd.DataFrame({"customer_id": ["C1"], "end_date": pd.to_datetime(["2023-01-11"])})
    contacts = pd.DataFrame({"customer_id": ["C1", "C1"], "kind": "complaint",
                             "opened_at": pd.to_datetime(["2023-01-01", "2023-01-06"]),
                             "resolved_at": pd.to_datetime(["2023-01-03", None])})
    days = K.resolution_days(contacts, customers=customers, end_of_observation="2023-02-01")
    assert days[K.DAYS_TO_RESOLVE].tolist() == [2.0, 5.0] and days[K.RESOLVED].tolist() == [True, False]
    assert K.resolution_days(contacts)[K.DAYS_TO_RESOLVE].tolist() == [2.0, 0.0]  # latest date in the data


def test_complaints_to_compliments_interval():
    contacts = pd.DataFrame({"kind": ["complaint"] * 30 + ["compliment"] * 10,
                             "opened_at": pd.to_datetime(["2023-01-05"] * 40)})
    out = K.complaints_to_compliments(contacts, freq=None).iloc[0]
    low, high = proportion_confint(30, 40, method="wilson")  # conditional binomial share, mapped to p / (1 - p)
    assert out["value"] == 3.0
    assert out["lower"] == pytest.approx(low / (1 - low), rel=1e-12)
    assert out["upper"] == pytest.approx(high / (1 - high), rel=1e-12)


# ---- episodes and the model --------------------------------------------------------------------------
def test_episodes_by_hand():
    """C1: complaint on day 30 resolved day 40 (recovered), a repeat contact on day 35, a second complaint
    on day 100 still open when C1 churns on day 140. C2: no complaint. C3: an FCR complaint on day 10
    (failed), no churn. Tenure = days / DAYS_PER_MONTH."""
    day = lambda d: pd.Timestamp("2023-01-01") + pd.Timedelta(days=d)  # noqa: E731
    customers = pd.DataFrame({"customer_id": ["C1", "C2", "C3"], "signup_date": [day(0)] * 3,
                              "end_date": [day(140), day(200), day(50)], "churned": [True, False, False],
                              "contract": ["one-year", "two-year", "one-year"]})
    contacts = pd.DataFrame({
        "contact_id": ["K1", "K2", "K3", "K4", "K5"], "customer_id": ["C1", "C1", "C1", "C3", "C2"],
        "opened_at": [day(30), day(35), day(100), day(10), day(20)],
        "kind": ["complaint", "complaint", "complaint", "complaint", "inquiry"],
        "resolved_at": [day(40), day(40), None, day(10), day(20)], "repeat_of": [None, "K1", None, None, None],
        "recovered": pd.array([True, None, None, False, None], dtype="boolean")})
    out = K.complaint_episodes(customers, contacts, covariates=["contract"])
    expected = pd.DataFrame({
        "customer_id": ["C1", "C1", "C1", "C1", "C2", "C3", "C3"],
        "contract": ["one-year"] * 4 + ["two-year", "one-year", "one-year"],
        "start": np.array([0, 30, 40, 100, 0, 0, 10]) / DPM, "stop": np.array([30, 40, 100, 140, 200, 10, 50]) / DPM,
        "churned": [0, 0, 0, 1, 0, 0, 0],
        "state": pd.Categorical(["none", "open", "recovered", "open", "none", "none", "failed"], categories=K.STATES)})
    pd.testing.assert_frame_equal(out, expected, check_exact=False, rtol=1e-12)


def test_overlapping_complaints_follow_the_latest_event():
    day = lambda d: pd.Timestamp("2023-01-01") + pd.Timedelta(days=d)  # noqa: E731
    customers = pd.DataFrame({"customer_id": ["C1"], "signup_date": [day(0)], "end_date": [day(100)],
                              "churned": [False]})
    contacts = pd.DataFrame({"customer_id": "C1", "kind": "complaint", "opened_at": [day(10), day(20), day(50)],
                             "resolved_at": [day(30), day(40), day(50)], "recovered": [False, True, True]})
    out = K.complaint_episodes(customers, contacts)
    # opened 10 -> open; opened 20 -> open; 10 resolved at 30 -> failed; 20 resolved at 40 -> recovered;
    # opened and resolved at 50 -> recovered
    assert out["state"].astype(str).tolist() == ["none", "open", "open", "failed", "recovered", "recovered"]
    assert (out["start"] * DPM).round().tolist() == [0, 10, 20, 30, 40, 50]
    # a complaint dated before signup sets the state from tenure 0
    early = contacts.assign(opened_at=[day(-5), day(20), day(50)], resolved_at=[day(3), day(40), day(50)])
    assert K.complaint_episodes(customers, early)["state"].astype(str).tolist()[:2] == ["open", "failed"]


def test_episodes_reproduce_the_customers(tables):
    customers = tables[S.CUSTOMERS]
    ep = K.complaint_episodes(customers, tables[S.CONTACTS])
    assert (ep["stop"] > ep["start"]).all()
    length = (ep["stop"] - ep["start"]).groupby(ep[S.CUSTOMER_ID]).sum()
    np.testing.assert_allclose(length.reindex(customers[S.CUSTOMER_ID]).to_numpy(), customers[S.TENURE], atol=1e-9)
    assert ep[S.CHURNED].sum() == customers[S.CHURNED].sum()
    assert set(ep[K.STATE].astype(str)) == set(K.STATES)


def test_state_model_equals_statsmodels_phreg(tables):
    """lifelines CoxTimeVaryingFitter uses Efron ties and risk sets start < t <= stop (R's convention).
    statsmodels PHReg counts a record entering exactly at a failure time as at risk (Stata's); episodes
    start on whole days, so such ties occur: entry is shifted by 1e-9 months to use R's convention.
    The first 4,000 customers: agreement is a property of the two fits, not of the sample size."""
    covariates = [S.SATISFACTION, S.WALLET_SHARE]
    customers = tables[S.CUSTOMERS].head(4000)
    contacts = tables[S.CONTACTS][tables[S.CONTACTS][S.CUSTOMER_ID].isin(customers[S.CUSTOMER_ID])]
    ep = K.complaint_episodes(customers, contacts, covariates=[*covariates, S.CONTRACT])
    ep = ep.dropna(subset=covariates)
    model = K.complaint_state_model(ep, covariates=covariates, strata=S.CONTRACT)
    x = pd.concat([pd.get_dummies(ep[K.STATE], dtype=float).iloc[:, 1:], ep[covariates]], axis=1)
    ref = PHReg(ep["stop"].to_numpy(), x.to_numpy(), status=ep[S.CHURNED].to_numpy(),
                entry=ep["start"].to_numpy() + 1e-9, strata=ep[S.CONTRACT].astype(str).to_numpy(), ties="efron").fit()
    assert model.params_.index.tolist() == [*K.STATE_TERMS, *covariates]
    np.testing.assert_allclose(model.params_.to_numpy(), ref.params, rtol=0, atol=1e-6)  # agree to ~1e-12
    np.testing.assert_allclose(model.standard_errors_.to_numpy(), ref.bse, rtol=0, atol=1e-6)


# ---- leakage ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def flagged_customers(tables):
    """Synthetic customers with per-customer complaint flags (the simple-data view)."""
    customers, contacts = add_segments(tables[S.CUSTOMERS]), tables[S.CONTACTS]
    original = contacts[(contacts[S.KIND] == S.COMPLAINT) & contacts[S.REPEAT_OF].isna()]
    who = lambda rows: customers[S.CUSTOMER_ID].isin(rows[S.CUSTOMER_ID])  # noqa: E731
    failed = original[S.RECOVERED].fillna(True) == False  # noqa: E712
    return customers.assign(complained=who(original), failed_recovery=who(original[failed]),
                            open_complaint=who(original[original[S.RESOLVED_AT].isna()]))


def test_leakage_silent_on_synthetic_data(flagged_customers):
    assert K.leakage_warnings(flagged_customers) == []
    assert K.leakage_check(flagged_customers).empty
    checked = K.leakage_check(flagged_customers, keep_all=True)["column"]
    assert {"complained", "satisfaction", "contract"} <= set(checked) and S.END_REASON not in set(checked)


def test_leakage_fires_on_a_planted_flag(flagged_customers):
    rng = np.random.default_rng(3)
    churned = flagged_customers[S.CHURNED].to_numpy()
    flip = np.zeros(len(churned), bool)
    flip[rng.choice(len(churned), len(churned) // 100, replace=False)] = True  # exactly 1% disagree
    df = flagged_customers.assign(exit_flag=churned ^ flip, stayed_flag=~churned ^ flip)
    warnings = K.leakage_warnings(df)
    assert len(warnings) == 2
    assert warnings[0] == ("exit_flag agrees with churned for 99.0% of customers: this points to leakage or a "
                           "recording artefact (e.g. a flag set at the exit interview), not an effect. Check how "
                           "it was recorded before reading any model.")
    assert warnings[1].startswith("stayed_flag is the opposite of churned")


def test_leakage_fires_on_numeric_and_categorical_columns():
    rng = np.random.default_rng(0)
    churned = rng.random(1000) < 0.3
    df = pd.DataFrame({"churned": churned, "days_since_exit_call": np.where(churned, 1, 50) + rng.random(1000),
                       "exit_code": np.where(churned, rng.choice(["A", "B"], 1000), rng.choice(["C", "D"], 1000)),
                       "noise": rng.normal(size=1000), "segment": rng.choice(list("xyz"), 1000)})
    out = K.leakage_check(df)
    assert out.set_index("column")["measure"].to_dict() == {"days_since_exit_call": "reversed_auc",
                                                            "exit_code": "determined_share"}
    # dates are skipped by default; passed explicitly they are compared as numbers (NaT left out)
    end = pd.Timestamp("2025-01-01") - pd.to_timedelta(np.where(churned, 100, 0), unit="D")
    df["end_date"] = pd.Series(end).where(rng.random(1000) > 0.1)
    assert "end_date" not in set(K.leakage_check(df, keep_all=True)["column"])
    assert K.leakage_check(df, columns=["end_date"])["column"].tolist() == ["end_date"]


# ---- simple data -------------------------------------------------------------------------------------
def test_flag_comparison_odds_ratio_equals_the_two_by_two_table():
    rng = np.random.default_rng(5)
    complained = rng.random(2000) < 0.3
    df = pd.DataFrame({"complained": complained, "churned": rng.random(2000) < np.where(complained, 0.4, 0.25),
                       "tenure_months": rng.exponential(12, 2000)})
    out = K.flag_comparison(df, flag="complained", duration="tenure_months").set_index(["model", "term"])
    # Woolf: OR = ad / bc, log OR +/- z sqrt(1/a + 1/b + 1/c + 1/d) equals the logit MLE and Wald interval (rel 1e-6)
    a, b = (complained & df["churned"]).sum(), (complained & ~df["churned"]).sum()
    c, d = (~complained & df["churned"]).sum(), (~complained & ~df["churned"]).sum()
    odds, se = a * d / (b * c), math.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
    row = out.loc[("logistic", "complained")]
    assert row["estimate"] == pytest.approx(odds, rel=1e-6)
    assert row["lower"] == pytest.approx(odds * math.exp(-stats.norm.ppf(0.975) * se), rel=1e-6)
    assert out.loc[("cox", "complained"), "measure"] == "hazard ratio"


# ---- error messages ----------------------------------------------------------------------------------
def test_missing_column_names_table_and_column():
    contacts = pd.DataFrame({"kind": ["complaint"], "first_contact_resolution": [True]})
    with pytest.raises(ValueError, match=r"contacts has no column 'opened_at': fcr_rate needs it"):
        K.fcr_rate(contacts)
    customers = pd.DataFrame({"customer_id": ["C1"], "signup_date": pd.to_datetime(["2023-01-01"]),
                              "churned": [False]})
    with pytest.raises(ValueError, match=r"customers has no column 'end_date': complaint_episodes needs it"):
        K.complaint_episodes(customers, contacts)


def test_no_complaints_is_a_clear_error():
    contacts = pd.DataFrame({"kind": ["inquiry"], "opened_at": pd.to_datetime(["2023-01-01"]),
                             "first_contact_resolution": [True]})
    with pytest.raises(ValueError, match=r"contacts has no complaints \(no row with kind == 'complaint'"):
        K.fcr_rate(contacts)


def test_leakage_needs_a_binary_outcome():
    with pytest.raises(ValueError, match=r"outcome 'churned' has 3 distinct value\(s\)"):
        K.leakage_check(pd.DataFrame({"churned": [0, 1, 2], "x": [1, 2, 3]}))


def test_customer_flags_by_hand():
    customers = pd.DataFrame({"customer_id": ["a", "b", "c"], "churned": [True, False, False]})
    contacts = pd.DataFrame({
        "contact_id": ["k1", "k2", "k3", "k4"], "customer_id": ["a", "a", "b", "b"],
        "kind": ["complaint", "complaint", "complaint", "inquiry"],
        "opened_at": pd.to_datetime(["2023-01-01", "2023-02-01", "2023-03-01", "2023-03-02"]),
        "resolved_at": pd.to_datetime(["2023-01-05", None, "2023-03-03", "2023-03-02"]),
        "recovered": pd.array([False, pd.NA, True, pd.NA], dtype="boolean"),
        "repeat_of": [None, None, None, None]})
    out = K.customer_flags(customers, contacts)
    assert out["complained"].tolist() == [True, True, False]
    assert out["recovery_failed"].tolist() == [True, False, False]
    assert out["complaint_open_at_end"].tolist() == [True, False, False]
    assert out["customer_id"].tolist() == ["a", "b", "c"]

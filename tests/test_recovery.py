"""Tests of helpers.stats.recovery: planted effects recovered from the generator, references, edge cases.

Recovery tests use `synth.generate` with fixed seeds and compare with the planted parameters in
``truth["params"]``; reference tests compare with lifelines, statsmodels and hand arithmetic.
"""
import dataclasses

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from statsmodels.duration.survfunc import SurvfuncRight

from helpers.data import schema as S
from helpers.data import synth
from helpers.data.io import load_dataset
from helpers.stats import recovery as R

# ---- fixtures ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cohort(default_data):
    tables, _ = default_data
    return R.paradox_cohort(tables[S.CUSTOMERS], tables[S.CONTACTS], tables[S.REVENUE])


@pytest.fixture(scope="module")
def effect(cohort):
    return R.paradox_effect(cohort)


@pytest.fixture(scope="module")
def drivers(default_data):
    tables, _ = default_data
    return R.recovery_drivers(tables[S.CUSTOMERS], tables[S.CONTACTS], tables[S.REVENUE])


def _tables(default_data):
    tables, _ = default_data
    return tables[S.CUSTOMERS], tables[S.REVENUE], tables[S.CONTACTS]


# ---- service recovery paradox ----------------------------------------------------------------------
def test_paradox_supported_and_interval_covers_planted_hr(default_data, effect):
    # planted: hazard x 0.85 after a recovered complaint, compared with never-complainers of
    # the same covariates; the matched, stratified HR should cover it.
    truth = default_data[1]["params"]["hr_recovered"]
    assert effect["verdict"] == R.SUPPORTED
    assert effect["upper"] < 1
    assert effect["lower"] <= truth <= effect["upper"]
    assert effect["upper"] / effect["lower"] < 1.6  # not absurdly wide
    assert effect["n_sets"] > 2000 and effect["n_cases"] == effect["n_controls"]  # ratio=1
    assert "de Matos, Henrique & Rossi (2007" in effect["sentence"]
    assert effect["revenue_after"]["n_treated"] == effect["n_cases"]


def test_paradox_contradicted_when_recovery_raises_churn():
    params = dataclasses.replace(synth.SynthParams(), hr_recovered=1.3)
    tables, truth = synth.generate(20000, 36, seed=11, params=params)
    result = R.paradox_effect(R.paradox_cohort(tables[S.CUSTOMERS], tables[S.CONTACTS]))
    assert result["verdict"] == R.CONTRADICTED
    assert result["lower"] <= truth["params"]["hr_recovered"] <= result["upper"]


def test_failed_recovery_group_covers_planted_hr(default_data):
    tables, truth = default_data
    result = R.paradox_effect(R.paradox_cohort(tables[S.CUSTOMERS], tables[S.CONTACTS], group=R.FAILED))
    assert result["group"] == R.FAILED and result["verdict"] == R.CONTRADICTED
    assert result["lower"] <= truth["params"]["hr_failed"] <= result["upper"]


def test_cohort_controls_are_eligible_at_the_landmark(default_data, cohort):
    customers, _, contacts = _tables(default_data)
    first = (contacts.loc[(contacts[S.KIND] == S.COMPLAINT) & contacts[S.REPEAT_OF].isna()]
             .groupby(S.CUSTOMER_ID)[S.OPENED_AT].min())
    ctrl = cohort.loc[cohort[R.GROUP_COLUMN] == R.NEVER].merge(customers[[S.CUSTOMER_ID, S.SIGNUP_DATE, S.END_DATE]],
                                                                on=S.CUSTOMER_ID)
    first_at = ctrl[S.CUSTOMER_ID].map(first)
    assert (first_at.isna() | (first_at > ctrl[R.LANDMARK])).all()  # no complaint by the landmark
    assert ((ctrl[S.SIGNUP_DATE] <= ctrl[R.LANDMARK]) & (ctrl[S.END_DATE] > ctrl[R.LANDMARK])).all()
    case = cohort.loc[cohort[R.GROUP_COLUMN] == R.RECOVERED].set_index(R.MATCH_ID)
    pairs = ctrl.join(case[[S.CONTRACT, S.CUSTOMER_TYPE, R.TENURE_AT]], on=R.MATCH_ID, rsuffix="_case")
    assert (pairs[S.CONTRACT] == pairs[f"{S.CONTRACT}_case"]).all()
    assert ((pairs[R.TENURE_AT] - pairs[f"{R.TENURE_AT}_case"]).abs() <= 1.0).all()
    assert cohort[R.FOLLOWUP].between(0, 12).all() and cohort[R.FOLLOWUP].gt(0).all()


def test_matched_cox_agrees_with_lifelines():
    # reference: lifelines CoxPHFitter(strata=match_id), Efron ties, on a small cohort (lifelines
    # is slow with thousands of strata); agreement to the optimisers' tolerance.
    tables, _ = synth.generate(4000, 36, seed=5)
    small = R.paradox_cohort(tables[S.CUSTOMERS], tables[S.CONTACTS])
    ours = R.paradox_effect(small)
    data = pd.DataFrame({"T": small[R.FOLLOWUP], "E": small[R.CHURNED_FOLLOWUP].astype(int),
                         "x": (small[R.GROUP_COLUMN] == R.RECOVERED).astype(float),
                         "m": small[R.MATCH_ID].astype(str)})
    cph = CoxPHFitter().fit(data, "T", "E", strata=["m"])
    assert ours["log_hr"] == pytest.approx(cph.params_["x"], abs=1e-5)
    assert ours["se"] == pytest.approx(cph.standard_errors_["x"], abs=1e-5)


def test_km_risk_difference_matches_statsmodels(cohort, effect):
    # reference: statsmodels SurvfuncRight (KM with Greenwood SE), read at 12 months; 1e-9.
    risks, ses = [], []
    for group in (R.RECOVERED, R.NEVER):
        rows = cohort.loc[cohort[R.GROUP_COLUMN] == group]
        sf = SurvfuncRight(rows[R.FOLLOWUP].to_numpy(float), rows[R.CHURNED_FOLLOWUP].to_numpy(float))
        i = np.searchsorted(sf.surv_times, 12, side="right") - 1
        risks.append(1 - sf.surv_prob[i])
        ses.append(sf.surv_prob_se[i])
    assert effect["risk_cases"] == pytest.approx(risks[0], abs=1e-9)
    assert effect["risk_difference"] == pytest.approx(risks[0] - risks[1], abs=1e-9)
    assert effect["risk_se"] == pytest.approx(np.hypot(*ses), abs=1e-9)


# ---- matching: the sorted / k-d tree search against the full scan it replaced ------------------------
def full_scan_nearest(i, pool, cases, *, ratio, tenure_caliper, caliper, rng):
    """Reference: the earlier `recovery._nearest`, verbatim (every pool row scanned for every case)."""
    t = cases["landmark"][i]
    tenure = (t - pool["signup"]) / S.DAYS_PER_MONTH
    ok = ((pool["signup"] <= t) & (pool["end"] > t) & (pool["first"] > t) & pool["complete"]
          & (np.abs(tenure - cases["tenure"][i]) <= tenure_caliper))
    d = np.sqrt(((pool["z"] - cases["z"][i]) ** 2).sum(axis=1))
    d = np.where(ok & (d <= caliper), d, np.inf)
    order = np.lexsort((rng.random(d.size), d))[:ratio]  # random among ties
    order = order[np.isfinite(d[order])]
    return order, d[order]


def full_scan_match(cases, customers, first, z_all, *, exact, ratio, tenure_caliper, caliper, seed):
    """Reference: the earlier `recovery._match`, verbatim (O(n^2))."""
    rng = np.random.default_rng(seed)
    first_at = customers[S.CUSTOMER_ID].map(first.set_index(S.CUSTOMER_ID)[S.OPENED_AT])
    key_all = customers[list(exact)].astype(str).agg("|".join, axis=1) if exact else pd.Series("", customers.index)
    key_case = cases[list(exact)].astype(str).agg("|".join, axis=1) if exact else pd.Series("", cases.index)
    signup, end, first_day = (R._as_days(d) for d in (customers[S.SIGNUP_DATE], customers[S.END_DATE], first_at))
    c = {"landmark": R._as_days(cases[R.LANDMARK]), "tenure": cases[R.TENURE_AT].to_numpy(),
         "z": z_all[cases["_crow"].to_numpy()]}
    out = []
    for key, idx in key_case.groupby(key_case).indices.items():
        rows = np.flatnonzero((key_all == key).to_numpy())
        pool = {"signup": signup[rows], "end": end[rows], "first": first_day[rows], "z": z_all[rows],
                "complete": ~np.isnan(z_all[rows]).any(axis=1)}
        for i in idx:
            picked, dist = full_scan_nearest(i, pool, c, ratio=ratio, tenure_caliper=tenure_caliper, caliper=caliper,
                                              rng=rng)
            out += [(i, rows[j], dj) for j, dj in zip(picked, dist)]
    return pd.DataFrame(out, columns=["_case", "_crow", R.DISTANCE])


@pytest.fixture(scope="module")
def medium_tables(medium):
    return load_dataset(medium).tables  # 6,000 customers, seed 3 (conftest)


@pytest.mark.parametrize("options, direct_window, ties", [
    ({}, R._DIRECT_WINDOW, False),
    ({}, 0, False),  # every case through the k-d tree
    ({"ratio": 3, "group": R.FAILED}, 0, False),
    ({"covariates": (S.SATISFACTION,), "ratio": 2}, R._DIRECT_WINDOW, True),  # satisfaction in tenths: ties
    ({"covariates": (S.SATISFACTION,), "seed": 4}, 0, True),
    ({"covariates": (), "exact": ()}, R._DIRECT_WINDOW, True),  # every distance 0, one cell, 1-d tree on signup
    ({"tenure_caliper": 6, "caliper": np.inf}, R._DIRECT_WINDOW, False),  # long windows scanned, no tree
])
def test_matched_sets_equal_the_full_scan(medium_tables, monkeypatch, options, direct_window, ties):
    # reference: the O(n^2) scan this replaced (kept above). Same cases, same controls, same
    # distances bit for bit, same row order, the random tie-breaking included.
    customers, contacts = medium_tables[S.CUSTOMERS], medium_tables[S.CONTACTS]
    monkeypatch.setattr(R, "_DIRECT_WINDOW", direct_window)
    tie_breaks, uniforms = [], R._uniforms

    def counted(*args):
        tie_breaks.append(args)
        return uniforms(*args)

    monkeypatch.setattr(R, "_uniforms", counted)
    fast = R.paradox_cohort(customers, contacts, **options)
    monkeypatch.setattr(R, "_match", full_scan_match)
    slow = R.paradox_cohort(customers, contacts, **options)
    pd.testing.assert_frame_equal(fast, slow, check_exact=True)
    assert fast.attrs == slow.attrs and fast[R.MATCH_ID].nunique() > 250
    assert len(tie_breaks) > 10 or not ties  # where ties are planted, the seeded tie-breaking decided some sets


def test_uniforms_are_the_draws_of_the_seeded_stream():
    # reference: numpy's Generator(PCG64(seed)).random, drawn in full
    places = np.array([3, 0, 7, 7])
    assert R._uniforms(4, 10, places).tolist() == np.random.default_rng(4).random(20)[10 + places].tolist()


# ---- what kind of recovery works -----------------------------------------------------------------
def test_drivers_one_row_per_customer_with_bands(drivers):
    assert drivers[S.CUSTOMER_ID].is_unique
    band = drivers.groupby(R.SPEED_BAND, observed=True)[R.RESOLUTION_DAYS].agg(["min", "max"])
    assert band.loc["same day"].tolist() == [0, 0] and band.loc[">14 days", "min"] == 15
    assert drivers[R.FOLLOWUP].between(0, 12).all()


def test_speed_dose_response_slower_is_riskier(drivers):
    # planted: P(recovered) falls with log1p(resolution days) and is higher at first contact,
    # and a failed recovery has 1.8 / 0.85 times the hazard of a recovered one.
    out = R.speed_dose_response(drivers).set_index("level")
    trend = out.loc[R.TREND]
    assert trend["hr"] > 1 and trend["p"] < 0.05
    assert out.loc[">14 days", "hr"] > 1
    assert out.loc["same day", "share_lower"] > out.loc[">14 days", "share_upper"]


def test_action_effects_recovered_share_follows_planted_intercepts(default_data, drivers):
    out = R.action_effects(drivers)
    action = out.loc[out["term"] == S.RECOVERY_ACTION].set_index("level")
    planted = default_data[1]["params"]["recovery_intercepts"]
    assert action.loc["none", "hr"] == 1.0
    # the best and worst planted actions are told apart (Wilson intervals do not overlap)
    assert action.loc["refund", "share_lower"] > action.loc["none", "share_upper"]
    assert action["share"].idxmin() == min(planted, key=planted.get)
    fcr = out.loc[(out["term"] == S.FIRST_CONTACT_RESOLUTION) & (out["level"] == "True")].iloc[0]
    assert fcr["upper"] < 1  # first-contact resolution: more recoveries, less churn


def test_recovery_rates_wilson_interval():
    # reference: Wilson (1927) interval for 8 of 10, 95%: (0.4902, 0.9433)
    d = pd.DataFrame({S.RECOVERY_ACTION: ["fix"] * 10, S.RECOVERED: [True] * 8 + [False] * 2})
    row = R.recovery_rates(d).iloc[0]
    assert (row["share"], round(row["share_lower"], 4), round(row["share_upper"], 4)) == (0.8, 0.4902, 0.9433)


# ---- revenue event study -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def event_relative(default_data):
    customers, revenue, contacts = _tables(default_data)
    return R.event_study(customers, revenue, contacts, relative=True)


def test_event_study_dip_in_complaint_month(default_data):
    customers, revenue, contacts = _tables(default_data)
    es = R.event_study(customers, revenue, contacts)
    by_k = es.set_index("k")
    assert list(by_k.index) == list(range(-6, 7))
    assert by_k.loc[0, "did"] < 0 and by_k.loc[0, "upper"] < 0
    summary = R.event_study_summary(es)
    assert summary["k0_share"] == pytest.approx(by_k.loc[0, "did"] / summary["pre_mean_complainers"])
    assert es.attrs["dropped"]["incomplete_revenue"] == 0


def test_event_study_scale_for_its_e_value_is_the_pooled_standard_deviation(default_data):
    customers, revenue, contacts = _tables(default_data)
    es = R.event_study(customers, revenue, contacts)
    summary = R.event_study_summary(es)
    panel = es.attrs["panel"]
    after = panel[[f"change_{k}" for k in range(1, 7)]].mean(axis=1)
    a, b = after[panel[R.GROUP_COLUMN] == R.COMPLAINER], after[panel[R.GROUP_COLUMN] != R.COMPLAINER]
    pooled = np.sqrt(((len(a) - 1) * a.var() + (len(b) - 1) * b.var()) / (len(a) + len(b) - 2))  # textbook form
    assert summary["after_sd"] == pytest.approx(pooled, rel=1e-12)
    from helpers.steps.recovery import _event_strength

    d, se = summary["after"]["did"] / pooled, summary["after"]["se"] / pooled
    ev = _event_strength(summary)  # VanderWeele & Ding (2017): RR ~ exp(0.91 d), then the E-value of that RR
    rr = np.exp(0.91 * abs(d))
    assert ev.point == pytest.approx(rr + np.sqrt(rr * (rr - 1)), rel=1e-12)
    near = np.exp(0.91 * abs(d) - 1.78 * se)  # the 95% bound nearer 1, on the side of the estimate
    assert ev.bound == (1.0 if near <= 1 else pytest.approx(near + np.sqrt(near * (near - 1)), rel=1e-12))
    assert _event_strength({**summary, "after_sd": 0.0}) is None


def _open_share_in_event_month(panel: pd.DataFrame, contacts: pd.DataFrame, customers: pd.DataFrame) -> pd.Series:
    """Share of the event month each complainer's first complaint was open (to resolution or churn)."""
    first = (contacts.loc[(contacts[S.KIND] == S.COMPLAINT) & contacts[S.REPEAT_OF].isna()]
             .sort_values(S.OPENED_AT).drop_duplicates(S.CUSTOMER_ID).set_index(S.CUSTOMER_ID))
    c = panel.loc[panel[R.GROUP_COLUMN] == R.COMPLAINER, [S.CUSTOMER_ID, R.EVENT_MONTH]]
    opened = c[S.CUSTOMER_ID].map(first[S.OPENED_AT])
    stop = c[S.CUSTOMER_ID].map(first[S.RESOLVED_AT]).fillna(c[S.CUSTOMER_ID].map(
        customers.set_index(S.CUSTOMER_ID)[S.END_DATE]))
    month_end = c[R.EVENT_MONTH] + pd.offsets.MonthBegin(1)
    open_days = (np.minimum(stop, month_end) - opened).dt.days.clip(lower=0)
    return open_days / (month_end - c[R.EVENT_MONTH]).dt.days


def test_event_study_dip_matches_planted_spend_dip(default_data, event_relative):
    # planted: revenue x (1 - spend_dip_open x share of the month a complaint is open). In
    # relative terms the expected k = 0 effect is -spend_dip_open x the mean open share of the
    # event month, computed from the contacts table for the complainers in the panel.
    customers, _, contacts = _tables(default_data)
    dip = default_data[1]["params"]["spend_dip_open"]
    share = _open_share_in_event_month(event_relative.attrs["panel"], contacts, customers)
    expected = -dip * share.mean()
    k0 = event_relative.set_index("k").loc[0]
    assert k0["lower"] <= expected <= k0["upper"] and k0["upper"] < 0
    # after the complaint (mostly resolved within days) the effect fades: the average over
    # k = 1..6 is indistinguishable from 0, each k >= 2 is small next to the dip, and so are
    # the pre-period placebos
    summary = R.event_study_summary(event_relative)
    assert summary["after"]["lower"] <= 0 <= summary["after"]["upper"]
    others = event_relative.loc[(event_relative["k"] >= 2) | (event_relative["k"] <= -2), "did"]
    assert (others.abs() < 0.5 * abs(k0["did"])).all()
    assert summary["k0"]["did"] == pytest.approx(k0["did"], abs=1e-12)


def test_event_study_controls_are_clean(default_data, event_relative):
    _, _, contacts = _tables(default_data)
    panel = event_relative.attrs["panel"]
    first = (contacts.loc[(contacts[S.KIND] == S.COMPLAINT) & contacts[S.REPEAT_OF].isna()]
             .groupby(S.CUSTOMER_ID)[S.OPENED_AT].min())
    ctrl = panel.loc[panel[R.GROUP_COLUMN] == R.CONTROL]
    window_end = ctrl[R.EVENT_MONTH] + pd.DateOffset(months=7)
    first_at = ctrl[S.CUSTOMER_ID].map(first)
    assert (first_at.isna() | (first_at >= window_end)).all()
    comp = panel.loc[panel[R.GROUP_COLUMN] == R.COMPLAINER]
    assert (comp[S.CUSTOMER_ID].map(first).dt.to_period("M").dt.to_timestamp() == comp[R.EVENT_MONTH]).all()


def _tiny_panel():
    """2 complainers (C1, C2: first complaint in Feb 2023) and 2 never-complainers, Jan-Apr 2023."""
    ids = ["C1", "C2", "C3", "C4"]
    customers = pd.DataFrame({S.CUSTOMER_ID: ids, S.SIGNUP_DATE: pd.Timestamp("2022-12-01"),
                              S.END_DATE: pd.Timestamp("2024-01-01"), S.CHURNED: False,
                              S.CONTRACT: "month-to-month", S.MONTHLY_VALUE: 20.0})
    contacts = pd.DataFrame({S.CONTACT_ID: ["K1", "K2"], S.CUSTOMER_ID: ["C1", "C2"],
                             S.OPENED_AT: pd.to_datetime(["2023-02-10", "2023-02-20"]), S.KIND: S.COMPLAINT,
                             S.RESOLVED_AT: pd.to_datetime(["2023-02-12", "2023-02-25"]), S.REPEAT_OF: None})
    amounts = {"C1": [10, 8, 11, 100], "C2": [20, 15, 19, 0], "C3": [12, 13, 12, 5], "C4": [30, 33, 29, 7]}
    months = pd.date_range("2023-01-01", periods=4, freq="MS")
    revenue = pd.DataFrame([(c, m, float(v)) for c, vs in amounts.items() for m, v in zip(months, vs)],
                           columns=[S.CUSTOMER_ID, S.MONTH, S.REVENUE_AMOUNT])
    return customers, revenue, contacts


def test_did_equals_hand_computation_on_tiny_panel():
    customers, revenue, contacts = _tiny_panel()
    raw = R.event_study(customers, revenue, contacts, window=1, value_bands=1)
    es = raw.set_index("k")
    # k = 0 (Feb) against the reference k = -1 (Jan); April lies outside the window
    # complainers: 8-10 = -2, 15-20 = -5; controls: 13-12 = 1, 33-30 = 3
    assert es.loc[0, "did"] == pytest.approx((-2 - 5) / 2 - (1 + 3) / 2, abs=1e-12)
    assert es.loc[1, "did"] == pytest.approx((1 - 1) / 2 - (0 - 1) / 2, abs=1e-12)
    assert es.loc[-1, "did"] == pytest.approx(0.0, abs=1e-12)
    assert (es["n_complainers"] == 2).all() and (es["n_controls"] == 2).all()
    rel = R.event_study(customers, revenue, contacts, window=1, value_bands=1, relative=True).set_index("k")
    assert rel.loc[0, "did"] == pytest.approx((-2 / 10 - 5 / 20) / 2 - (1 / 12 + 3 / 30) / 2, abs=1e-12)
    summary = R.event_study_summary(raw)
    assert summary["after"]["did"] == pytest.approx(0.5, abs=1e-12)  # k = 1..1


# ---- edge cases ------------------------------------------------------------------------------------
def test_no_complaints_is_a_clear_error():
    customers, revenue, contacts = _tiny_panel()
    inquiries = contacts.assign(**{S.KIND: "inquiry"})
    for call in (lambda: R.paradox_cohort(customers, inquiries), lambda: R.recovery_drivers(customers, inquiries),
                 lambda: R.event_study(customers, revenue, inquiries)):
        with pytest.raises(ValueError, match=r"contacts\.kind has no 'complaint' rows"):
            call()


def test_landmark_without_never_complained_customer_is_dropped_and_counted():
    day = pd.Timestamp
    customers = pd.DataFrame({
        S.CUSTOMER_ID: ["C1", "C2", "C3", "C4"],
        S.SIGNUP_DATE: [day("2023-01-01"), day("2023-01-10"), day("2023-01-01"), day("2023-01-01")],
        S.END_DATE: [day("2024-01-01"), day("2024-01-01"), day("2024-01-01"), day("2023-05-01")],
        S.CHURNED: [False, False, False, True],
        S.CONTRACT: ["month-to-month", "month-to-month", "two-year", "two-year"],
        S.CUSTOMER_TYPE: "individual", S.SATISFACTION: 7.0, S.MONTHLY_VALUE: 40.0})
    contacts = pd.DataFrame({
        S.CONTACT_ID: ["K1", "K2"], S.CUSTOMER_ID: ["C1", "C3"],
        S.OPENED_AT: [day("2023-06-01"), day("2023-08-01")], S.KIND: S.COMPLAINT,
        S.RESOLVED_AT: [day("2023-06-03"), day("2023-08-01")], S.REPEAT_OF: None, S.RECOVERED: True})
    # C3 (two-year) has no two-year customer active and complaint-free at its landmark: C4 left in May
    cohort = R.paradox_cohort(customers, contacts)
    assert cohort.attrs["dropped"]["no_control"] == 1
    assert cohort[S.CUSTOMER_ID].tolist() == ["C1", "C2"] and set(cohort[R.MATCH_ID]) == {"K1"}
    months = (day("2024-01-01") - day("2023-06-03")).days / S.DAYS_PER_MONTH
    assert cohort[R.FOLLOWUP].tolist() == pytest.approx([months, months])
    assert not cohort[R.CHURNED_FOLLOWUP].any()


def test_unknown_group_and_missing_column_are_refused():
    customers, _, contacts = _tiny_panel()
    with pytest.raises(ValueError, match="group 'unhappy'"):
        R.paradox_cohort(customers, contacts, group="unhappy")
    with pytest.raises(ValueError, match="customers has no column 'customer_type'"):
        R.paradox_cohort(customers, contacts)  # the tiny table has no customer_type

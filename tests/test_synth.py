"""Tests for helpers.data.synth: determinism, the data contract, and recovery of the planted effects.

Tolerances follow from sampling error: a proportion p estimated from m trials has standard
error sqrt(p (1 - p) / m); a Poisson count D has standard error sqrt(D). Checks use 3 SE
(two-sided chance of a false alarm ~0.3% each). Recovery checks fit the model an analyst would
fit (lifelines Cox, stratified by contract) and ask that the planted log hazard ratio lies in
the 95% interval. All seeds are fixed, so every result is reproducible.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter, CoxTimeVaryingFitter

from helpers.data import schema, segments, synth

N_BIG = 20000


@pytest.fixture(scope="module")
def big(default_data):
    """The reference data set: defaults, n = 20000, 36 months, seed 7 (conftest.py)."""
    return default_data


@pytest.fixture(scope="module")
def tables(big):
    return big[0]


@pytest.fixture(scope="module")
def truth(big):
    return big[1]


@pytest.fixture(scope="module")
def customers(tables):
    return tables[schema.CUSTOMERS]


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _within(x: float, target: float, se: float, k: float = 3.0) -> bool:
    return abs(x - target) <= k * se


def _binomial_se(p: float, m: int) -> float:
    return math.sqrt(p * (1 - p) / m)


def _original_complaints(contacts: pd.DataFrame) -> pd.DataFrame:
    return contacts[(contacts[schema.KIND] == schema.COMPLAINT) & contacts[schema.REPEAT_OF].isna()]


# ---- determinism and writing -------------------------------------------------------------------


def test_same_seed_gives_identical_files(tmp_path):
    first = synth.write(*synth.generate(2000, seed=3), tmp_path / "a")
    second = synth.write(*synth.generate(2000, seed=3), tmp_path / "b")
    names = sorted(f.name for f in first.iterdir())
    assert names == sorted([f"{t}.parquet" for t in schema.TABLES] + ["truth.json"])  # no temp files left
    assert names == sorted(f.name for f in second.iterdir())
    for name in names:
        assert _sha256(first / name) == _sha256(second / name), name


def test_different_seed_gives_different_data(tmp_path):
    a = synth.write(*synth.generate(2000, seed=3), tmp_path / "a")
    b = synth.write(*synth.generate(2000, seed=4), tmp_path / "b")
    for name in (f"{schema.CUSTOMERS}.parquet", f"{schema.CONTACTS}.parquet", "truth.json"):
        assert _sha256(a / name) != _sha256(b / name)


def test_written_files_read_back_unchanged(tmp_path):
    tables, truth = synth.generate(1500, seed=5)
    folder = synth.write(tables, truth, tmp_path)
    for name, df in tables.items():
        back = pd.read_parquet(folder / f"{name}.parquet")
        back = back.astype({c.name: schema.pandas_dtype(c) for c in schema.TABLES[name].columns})
        pd.testing.assert_frame_equal(back, df)
    assert json.loads((folder / "truth.json").read_text()) == truth


def test_generate_rejects_impossible_arguments():
    with pytest.raises(ValueError, match="n >= 1 and months >= 1"):
        synth.generate(0)


# ---- the data contract ---------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(schema.TABLES))
def test_tables_follow_the_contract(tables, name):
    spec, df = schema.TABLES[name], tables[name]
    assert list(df.columns) == spec.names
    for col in spec.columns:
        assert df[col.name].dtype == schema.pandas_dtype(col), col.name
        values = df[col.name].dropna()
        if not col.nullable:
            assert df[col.name].notna().all(), col.name
        if col.unique:
            assert df[col.name].is_unique, col.name
        if col.choices:
            assert values.isin(col.choices).all(), col.name
        if col.min is not None:
            assert (values >= col.min).all(), col.name
        if col.max is not None:
            assert (values <= col.max).all(), col.name
    assert df.index.equals(pd.RangeIndex(len(df)))
    assert df.equals(df.sort_values(list(spec.sort_by), kind="mergesort").reset_index(drop=True))


def test_every_reference_exists(tables):
    ids = set(tables[schema.CUSTOMERS][schema.CUSTOMER_ID])
    for name in (schema.REVENUE, schema.CONTACTS, schema.CAMPAIGNS):
        assert set(tables[name][schema.CUSTOMER_ID]) <= ids, name
    contacts = tables[schema.CONTACTS]
    repeats = contacts[contacts[schema.REPEAT_OF].notna()]
    original = contacts.set_index(schema.CONTACT_ID).loc[repeats[schema.REPEAT_OF]]
    assert (original[schema.KIND] == schema.COMPLAINT).all()
    assert original[schema.REPEAT_OF].isna().all()
    assert (original[schema.CUSTOMER_ID].to_numpy() == repeats[schema.CUSTOMER_ID].to_numpy()).all()
    assert (original[schema.OPENED_AT].to_numpy() <= repeats[schema.OPENED_AT].to_numpy()).all()
    managers = set(tables[schema.CUSTOMERS][schema.ACCOUNT_MANAGER_ID].dropna())
    assert set(tables[schema.MANAGER_DEPARTURES][schema.ACCOUNT_MANAGER_ID]) <= managers


def test_customer_dates_and_tenure(customers, truth):
    start, as_of = pd.Timestamp(truth["arguments"]["start"]), pd.Timestamp(truth["arguments"]["as_of"])
    c = customers
    assert (c[schema.SIGNUP_DATE] >= start).all() and (c[schema.SIGNUP_DATE] < as_of).all()
    assert (c[schema.END_DATE] > c[schema.SIGNUP_DATE]).all()
    churned = c[schema.CHURNED]
    assert (c.loc[churned, schema.END_DATE] <= as_of).all()
    assert (c.loc[~churned, schema.END_DATE] == as_of).all()
    expected = schema.tenure_from_dates(c[schema.SIGNUP_DATE], c[schema.END_DATE])
    assert (c[schema.TENURE] == expected).all() and (c[schema.TENURE] > 0).all()
    assert c.loc[~churned, schema.END_REASON].isna().all()
    missing = c.loc[churned, schema.END_REASON].isna().mean()
    assert _within(missing, 0.05, _binomial_se(0.05, int(churned.sum())))


def test_customer_fields(customers):
    c = customers
    group = c[schema.CUSTOMER_TYPE] == schema.GROUP
    assert c.loc[group, schema.ACCOUNT_MANAGER_ID].notna().all()
    assert c.loc[~group, schema.ACCOUNT_MANAGER_ID].isna().all()
    assert set(c[schema.REGION]) == set(synth.REGIONS)
    assert c[schema.RELATIVE_SERVICE].isna().equals(c[schema.SATISFACTION].isna())
    for col in (schema.SATISFACTION, schema.WALLET_SHARE):  # MCAR 5%: binomial SE on n = 20000
        assert _within(c[col].isna().mean(), 0.05, _binomial_se(0.05, len(c))), col
    assert (c[schema.MONTHLY_VALUE] == c[schema.MONTHLY_VALUE].round(2)).all()
    # contract mix 55/25/20 (multinomial SE on n = 20000)
    mix = c[schema.CONTRACT].value_counts(normalize=True)
    for contract, share in zip(schema.CONTRACTS, (0.55, 0.25, 0.20)):
        assert _within(mix[contract], share, _binomial_se(share, len(c))), contract


def test_contacts_lie_within_each_customers_activity(tables):
    contacts, c = tables[schema.CONTACTS], tables[schema.CUSTOMERS].set_index(schema.CUSTOMER_ID)
    signup = c.loc[contacts[schema.CUSTOMER_ID], schema.SIGNUP_DATE].to_numpy()
    end = c.loc[contacts[schema.CUSTOMER_ID], schema.END_DATE].to_numpy()
    opened, resolved = contacts[schema.OPENED_AT].to_numpy(), contacts[schema.RESOLVED_AT]
    assert (opened >= signup).all() and (opened <= end).all()
    done = resolved.notna().to_numpy()
    assert (resolved.to_numpy()[done] >= opened[done]).all()
    assert (resolved.to_numpy()[done] <= end[done]).all()
    order = contacts.sort_values([schema.OPENED_AT, schema.CUSTOMER_ID], kind="mergesort")
    assert (order[schema.CONTACT_ID].to_numpy() == contacts[schema.CONTACT_ID].to_numpy()).all()


def test_complaint_fields_are_consistent(tables):
    contacts = tables[schema.CONTACTS]
    other = contacts[contacts[schema.KIND] != schema.COMPLAINT]
    assert other[[schema.RECOVERED, schema.RECOVERY_ACTION, schema.COMPENSATION, schema.REPEAT_OF]].isna().all().all()
    original = _original_complaints(contacts)
    fcr = original[schema.FIRST_CONTACT_RESOLUTION].astype(bool)
    assert (original.loc[fcr, schema.RESOLVED_AT] == original.loc[fcr, schema.OPENED_AT]).all()
    resolved = original[schema.RESOLVED_AT].notna()
    assert original[schema.RECOVERED].notna().equals(resolved)
    assert original[schema.RECOVERY_ACTION].notna().equals(resolved)
    paid = original[schema.RECOVERY_ACTION].isin(("credit", "refund"))
    assert (original.loc[paid, schema.COMPENSATION] > 0).all()
    assert (original.loc[resolved & ~paid, schema.COMPENSATION] == 0).all()
    repeats = contacts[contacts[schema.REPEAT_OF].notna()]
    assert not repeats[schema.FIRST_CONTACT_RESOLUTION].any()
    assert repeats[[schema.RECOVERED, schema.RECOVERY_ACTION, schema.COMPENSATION]].isna().all().all()
    # no two original complaints of one customer overlap (renewal process)
    o = original.sort_values([schema.CUSTOMER_ID, schema.OPENED_AT])
    same = o[schema.CUSTOMER_ID].to_numpy()[1:] == o[schema.CUSTOMER_ID].to_numpy()[:-1]
    assert (o[schema.OPENED_AT].to_numpy()[1:][same] > o[schema.RESOLVED_AT].to_numpy()[:-1][same]).all()


def test_revenue_months_lie_within_activity(tables):
    rev, c = tables[schema.REVENUE], tables[schema.CUSTOMERS]
    assert not rev.duplicated([schema.CUSTOMER_ID, schema.MONTH]).any()
    assert (rev[schema.MONTH].dt.day == 1).all()
    joined = rev.merge(c[[schema.CUSTOMER_ID, schema.SIGNUP_DATE, schema.END_DATE]], on=schema.CUSTOMER_ID)
    assert (joined[schema.MONTH] >= joined[schema.SIGNUP_DATE].dt.to_period("M").dt.to_timestamp()).all()
    assert (joined[schema.MONTH] < joined[schema.END_DATE]).all()
    # one row for every month from the signup month to the month of the last active day
    last = c[schema.END_DATE] - pd.Timedelta(days=1)
    months = ((last.dt.year - c[schema.SIGNUP_DATE].dt.year) * 12 + last.dt.month - c[schema.SIGNUP_DATE].dt.month
              + 1)
    counts = rev.groupby(schema.CUSTOMER_ID).size().reindex(c[schema.CUSTOMER_ID]).to_numpy()
    assert (counts == months.to_numpy()).all()


def test_campaign_enrolment(tables, truth):
    cam, c = tables[schema.CAMPAIGNS], tables[schema.CUSTOMERS].set_index(schema.CUSTOMER_ID)
    p = truth["params"]
    rct = cam[cam[schema.CAMPAIGN_ID] == p["rct_id"]]
    outreach = cam[cam[schema.CAMPAIGN_ID] == p["outreach_id"]]
    assert (rct[schema.ASSIGNMENT] == "randomized").all() and (outreach[schema.ASSIGNMENT] == "targeted").all()
    assert not set(rct[schema.CUSTOMER_ID]) & set(outreach[schema.CUSTOMER_ID])
    for part in (rct, outreach):
        who = c.loc[part[schema.CUSTOMER_ID]]
        assert (who[schema.SIGNUP_DATE].to_numpy() <= part[schema.ASSIGNED_AT].to_numpy()).all()
        assert (who[schema.END_DATE].to_numpy() > part[schema.ASSIGNED_AT].to_numpy()).all()
    costs = rct.groupby(schema.ARM, observed=True)[schema.COST].unique()
    assert list(costs[schema.TREATMENT]) == [25.0] and list(costs[schema.CONTROL]) == [0.0]
    # every customer active on the outreach day and not in the RCT is a candidate
    day = outreach[schema.ASSIGNED_AT].iloc[0]
    active = (c[schema.SIGNUP_DATE] <= day) & (c[schema.END_DATE] > day)
    assert set(c.index[active]) - set(rct[schema.CUSTOMER_ID]) == set(outreach[schema.CUSTOMER_ID])


# ---- realised facts against the truth -------------------------------------------------------


def test_churn_rate_by_contract_matches_truth(customers, truth):
    rates = customers.groupby(schema.CONTRACT, observed=False)[schema.CHURNED].mean()
    assert rates.to_dict() == pytest.approx(truth["realised"]["churn_rate_by_contract"], abs=1e-9)
    assert rates["month-to-month"] > rates["one-year"] > rates["two-year"]
    assert customers[schema.CHURNED].mean() == pytest.approx(truth["realised"]["churn_rate"], abs=1e-9)


def test_top_fifth_carries_about_four_fifths_of_revenue(tables, truth):
    total = tables[schema.REVENUE].groupby(schema.CUSTOMER_ID)[schema.REVENUE_AMOUNT].sum().sort_values()
    share = total.iloc[-N_BIG // 5:].sum() / total.sum()
    assert share == pytest.approx(truth["realised"]["top20_revenue_share"], abs=1e-9)
    assert 0.75 <= share <= 0.85  # the brief's band; value_sigma is tuned to ~0.80


def test_manager_departure_rate(tables, truth):
    m = truth["realised"]["managers"]
    assert m["departures"] == len(tables[schema.MANAGER_DEPARTURES])
    # Poisson count D over exposure Y: rate D / Y with SE sqrt(D) / Y
    se = math.sqrt(m["departures"]) / m["manager_years"]
    assert _within(m["departure_rate_per_year"], 0.20, se)
    per_manager = tables[schema.CUSTOMERS][schema.ACCOUNT_MANAGER_ID].value_counts()
    assert len(per_manager) == m["managers"] and 15 <= per_manager.mean() <= 25


def test_complaint_rates(tables, truth):
    contacts = tables[schema.CONTACTS]
    original = _original_complaints(contacts)
    facts = truth["realised"]["complaints"]
    assert facts["count"] == len(original)
    fcr = original[schema.FIRST_CONTACT_RESOLUTION].astype(bool)
    assert fcr.mean() == pytest.approx(facts["fcr_rate"], abs=1e-9)
    assert _within(fcr.mean(), 0.40, _binomial_se(0.40, len(original)))  # binomial, m = complaints
    repeated = original[schema.CONTACT_ID].isin(contacts[schema.REPEAT_OF].dropna())
    assert repeated.mean() == pytest.approx(facts["repeat_rate"], abs=1e-9)
    assert not repeated[fcr].any()
    rate = repeated[~fcr].mean()
    assert _within(rate, 0.50, _binomial_se(0.50, int((~fcr).sum())))  # binomial, m = non-FCR complaints
    recovered = original[schema.RECOVERED].dropna().astype(bool).mean()
    assert recovered == pytest.approx(facts["recovered_share"], abs=1e-9)


def test_randomized_campaign_is_balanced(tables, truth):
    cam = tables[schema.CAMPAIGNS]
    rct = cam[cam[schema.CAMPAIGN_ID] == truth["params"]["rct_id"]]
    treated = (rct[schema.ARM] == schema.TREATMENT).mean()
    assert _within(treated, 0.5, _binomial_se(0.5, len(rct)))  # binomial, m = enrolled
    c = tables[schema.CUSTOMERS]
    day = rct[schema.ASSIGNED_AT].iloc[0]
    active = int(((c[schema.SIGNUP_DATE] <= day) & (c[schema.END_DATE] > day)).sum())
    assert _within(len(rct) / active, 0.30, _binomial_se(0.30, active))  # binomial, m = active customers
    # randomization balances baseline risk: month-to-month share within 3 SE of a difference
    m2m = c.set_index(schema.CUSTOMER_ID).loc[rct[schema.CUSTOMER_ID], schema.CONTRACT] == "month-to-month"
    arm = (rct[schema.ARM] == schema.TREATMENT).to_numpy()
    se = math.sqrt(_binomial_se(m2m.mean(), arm.sum()) ** 2 + _binomial_se(m2m.mean(), (~arm).sum()) ** 2)
    assert _within(m2m[arm].mean() - m2m[~arm].mean(), 0.0, se)


def test_targeted_outreach_picks_high_risk_customers(tables, truth):
    cam = tables[schema.CAMPAIGNS]
    out = cam[cam[schema.CAMPAIGN_ID] == truth["params"]["outreach_id"]]
    who = tables[schema.CUSTOMERS].set_index(schema.CUSTOMER_ID).loc[out[schema.CUSTOMER_ID]]
    arm = (out[schema.ARM] == schema.TREATMENT).to_numpy()
    m2m = (who[schema.CONTRACT] == "month-to-month").to_numpy()
    assert m2m[arm].mean() > m2m[~arm].mean() + 0.1
    assert who[schema.MONTHLY_VALUE][arm].median() < who[schema.MONTHLY_VALUE][~arm].median()
    effects = truth["campaigns"][truth["params"]["outreach_id"]]
    # the naive comparison shows treated customers churning more, though the treatment helps
    assert effects["naive_difference"]["churn_12m"] > 0 > effects["att"]["churn_12m"]


def test_campaign_potential_outcomes(truth):
    for cid, camp in truth["campaigns"].items():
        assert camp["hr"] < 1 and camp["revenue_uplift"] > 0
        for key in ("ate", "att"):
            assert camp[key]["churn_6m"] < 0 and camp[key]["churn_12m"] < camp[key]["churn_6m"], cid
            assert camp[key]["revenue_12m"] > camp[key]["revenue_6m"] > 0, cid


def test_truth_is_plain_json_and_complete(truth):
    assert json.loads(json.dumps(truth)) == truth
    assert set(truth["params"]) == {f.name for f in dataclasses.fields(synth.SynthParams)}
    assert truth["arguments"] == {"n": N_BIG, "months": 36, "seed": 7, "start": "2023-01-01",
                                  "as_of": "2026-01-01"}
    assert truth["quadrant_order_by_risk"] == ["consolidate", "maintain", "win_back", "let_go"]
    assert truth["cox_log_hr"]["quadrant[let_go]"] == pytest.approx(math.log(1.5))


def test_quadrants_order_churn_as_planted(customers, truth):
    q = segments.value_satisfaction_quadrant(customers[schema.MONTHLY_VALUE], customers[schema.SATISFACTION])
    rates = customers[schema.CHURNED].groupby(q, observed=True).mean()
    assert list(rates.sort_values().index) == truth["quadrant_order_by_risk"]


def test_service_reason_more_common_among_unhappy_churners(customers):
    c = customers[customers[schema.END_REASON].notna() & customers[schema.SATISFACTION].notna()]
    service = c[schema.END_REASON] == "service"
    unhappy = c[schema.SATISFACTION] < 7
    assert service[unhappy].mean() > service[~unhappy].mean() + 0.05


# ---- recovery of the planted hazard ratios -------------------------------------------------------


def _static_covariates(c: pd.DataFrame) -> pd.DataFrame:
    """The fixed covariates as an analyst builds them from the customers table."""
    q = segments.value_satisfaction_quadrant(c[schema.MONTHLY_VALUE], c[schema.SATISFACTION])
    rsl = c[schema.RELATIVE_SERVICE]
    out = pd.DataFrame({
        "contract": c[schema.CONTRACT].astype(str),
        "customer_type[group]": (c[schema.CUSTOMER_TYPE] == schema.GROUP).astype(float),
        "satisfaction": c[schema.SATISFACTION],
        "log2_value": np.log2(c[schema.MONTHLY_VALUE] / c[schema.MONTHLY_VALUE].median()),
        "wallet_share": c[schema.WALLET_SHARE],
        "below_parity": (rsl < 1).astype(float).where(rsl.notna()),
    })
    for name in synth.QUADRANTS[1:]:
        out[f"quadrant[{name}]"] = (q == name).astype(float).where(q.notna())
    return out


def _assert_intervals_cover(summary: pd.DataFrame, truth: dict, max_width: float = 1.0):
    for name, row in summary.iterrows():
        planted = truth["cox_log_hr"][name]
        lo, hi = row["coef lower 95%"], row["coef upper 95%"]
        assert lo <= planted <= hi, f"{name}: planted {planted:.3f} outside [{lo:.3f}, {hi:.3f}]"
        assert hi - lo < max_width, f"{name}: interval [{lo:.3f}, {hi:.3f}] too wide to be a check"


def test_cox_stratified_by_contract_recovers_fixed_effects(customers, truth):
    df = _static_covariates(customers)
    for region in synth.REGIONS[1:]:  # the null segment: planted log-HR 0
        df[f"region[{region}]"] = (customers[schema.REGION] == region).astype(float)
    df["T"], df["E"] = customers[schema.TENURE], customers[schema.CHURNED].astype(int)
    cph = CoxPHFitter().fit(df.dropna(), "T", "E", strata=["contract"])
    _assert_intervals_cover(cph.summary, truth, max_width=0.6)


def _episodes(tables: dict, truth: dict) -> pd.DataFrame:
    """Counting-process rows (start, stop] in tenure days, built from the tables alone.

    Time-varying state: the latest original complaint (open / recovered / failed), the
    manager-departure window and each campaign's treatment window (definitions in truth).
    """
    c, p = tables[schema.CUSTOMERS], truth["params"]
    index = pd.Index(c[schema.CUSTOMER_ID])
    signup = c[schema.SIGNUP_DATE].to_numpy()

    def rows(ids, dates, var, value, seq=0):
        i = index.get_indexer(ids)
        day = (pd.DatetimeIndex(dates).to_numpy() - signup[i]) // np.timedelta64(1, "D")
        return pd.DataFrame({"i": i, "day": day, "var": var, "value": value, "seq": seq})

    k = _original_complaints(tables[schema.CONTACTS])
    done = k[k[schema.RESOLVED_AT].notna()]
    parts = [rows(k[schema.CUSTOMER_ID], k[schema.OPENED_AT], "complaint", 1),
             rows(done[schema.CUSTOMER_ID], done[schema.RESOLVED_AT], "complaint",
                  np.where(done[schema.RECOVERED].astype(bool), 2, 3), seq=1)]
    g = c[[schema.CUSTOMER_ID, schema.ACCOUNT_MANAGER_ID, schema.SIGNUP_DATE]].merge(
        tables[schema.MANAGER_DEPARTURES], on=schema.ACCOUNT_MANAGER_ID)
    g = g[g[schema.SIGNUP_DATE] <= g[schema.DEPARTED_AT]]
    gone = pd.DatetimeIndex(g[schema.DEPARTED_AT])
    parts += [rows(g[schema.CUSTOMER_ID], gone, "manager_departed", 1),
              rows(g[schema.CUSTOMER_ID], gone + pd.DateOffset(months=p["hr_manager_departure_months"]),
                   "manager_departed", 0)]
    for cid, cam in tables[schema.CAMPAIGNS].groupby(schema.CAMPAIGN_ID):
        cam = cam[cam[schema.ARM] == schema.TREATMENT]
        at = pd.DatetimeIndex(cam[schema.ASSIGNED_AT])
        parts += [rows(cam[schema.CUSTOMER_ID], at, f"campaign[{cid}]", 1),
                  rows(cam[schema.CUSTOMER_ID], at + pd.DateOffset(months=p["campaign_effect_months"]),
                       f"campaign[{cid}]", 0)]
    stop = ((c[schema.END_DATE] - c[schema.SIGNUP_DATE]).dt.days).to_numpy()
    ev = pd.concat(parts, ignore_index=True)
    ev = ev[ev["day"] < stop[ev["i"]]]
    first = pd.DataFrame({"i": np.arange(len(c)), "day": 0, "var": "complaint", "value": 0, "seq": -1})
    ev = pd.concat([first, ev], ignore_index=True).sort_values(["i", "day", "seq"], kind="mergesort")
    wide = ev.pivot_table(index=["i", "day"], columns="var", values="value", aggfunc="last", sort=True)
    wide = wide.groupby(level="i").ffill().fillna(0).reset_index().rename(columns={"day": "start"})
    wide["stop"] = wide.groupby("i")["start"].shift(-1)
    last = wide["stop"].isna()
    wide.loc[last, "stop"] = stop[wide.loc[last, "i"]]
    wide["event"] = (last & c[schema.CHURNED].to_numpy()[wide["i"]]).astype(int)
    for code, state in ((1, "open"), (2, "recovered"), (3, "failed")):
        wide[f"complaint[{state}]"] = (wide["complaint"] == code).astype(float)
    return wide.drop(columns="complaint")


def test_episodes_reproduce_the_customers(tables, truth):
    ep = _episodes(tables, truth)
    c = tables[schema.CUSTOMERS]
    assert (ep["stop"] > ep["start"]).all()
    tenure_days = (c[schema.END_DATE] - c[schema.SIGNUP_DATE]).dt.days.to_numpy()
    assert (ep.groupby("i")["stop"].max().to_numpy() == tenure_days).all()
    assert ep["event"].sum() == c[schema.CHURNED].sum()


def _fit_time_varying(tables: dict, truth: dict, varying: list[str]) -> pd.DataFrame:
    ep = _episodes(tables, truth)
    static = _static_covariates(tables[schema.CUSTOMERS])
    df = ep[["i", "start", "stop", "event"] + varying].join(static, on="i").dropna()
    ctv = CoxTimeVaryingFitter().fit(df, id_col="i", event_col="event", start_col="start", stop_col="stop",
                                     strata=["contract"])
    return ctv.summary


def test_time_varying_cox_recovers_complaint_manager_and_campaign_effects(tables, truth):
    cids = sorted(truth["campaigns"])
    varying = ["complaint[open]", "complaint[recovered]", "complaint[failed]", "manager_departed"]
    summary = _fit_time_varying(tables, truth, varying + [f"campaign[{cid}]" for cid in cids])
    # complaints, manager departure (HR 2.0 for 6 months), both campaigns, and again the fixed effects
    _assert_intervals_cover(summary, truth, max_width=1.0)


def test_recovery_paradox_can_be_switched_off():
    params = dataclasses.replace(synth.SynthParams(), hr_recovered=1.3)
    tables, truth = synth.generate(10000, seed=11, params=params)
    assert truth["cox_log_hr"]["complaint[recovered]"] == pytest.approx(math.log(1.3))
    summary = _fit_time_varying(tables, truth, ["complaint[open]", "complaint[recovered]", "complaint[failed]"])
    row = summary.loc["complaint[recovered]"]
    assert row["coef lower 95%"] <= math.log(1.3) <= row["coef upper 95%"]
    assert row["coef lower 95%"] > math.log(0.85)  # clearly distinguishable from the paradox data set


# ---- campaign effects that vary by quadrant and satisfaction ---------------------------------------

HETEROGENEOUS = dataclasses.replace(synth.SynthParams(), campaign_quadrant_hr=(1.0, 0.5, 1.0, 1.0),
                                    campaign_quadrant_uplift=(1.0, 3.0, 1.0, 1.0))


@pytest.fixture(scope="module")
def heterogeneous():
    """The reference data set's arguments with both campaigns twice as strong on churn (log scale) for
    win_back customers, and their revenue uplift three times as large."""
    return synth.generate(N_BIG, 36, seed=7, params=HETEROGENEOUS)


def test_default_data_are_those_recorded_before_the_heterogeneity_parameters():
    # recorded from generate(4000, 36, seed=3) before the campaign_quadrant_* and campaign_sat_slope fields
    # existed, and again (the complaint outcomes too) before the hidden_* fields: their defaults must plant
    # nothing and move no draw
    tables, truth = synth.generate(4000, 36, seed=3)
    assert int(tables[schema.CUSTOMERS][schema.CHURNED].sum()) == 1224
    complaints = truth["realised"]["complaints"]
    assert (complaints["resolved"], round(complaints["recovered_share"], 10)) == (2220, 0.6261261261)
    assert truth["realised"]["hidden"] == {"customers": 0, "share": 0.0}
    assert not synth.hidden_trait(4000, 36, seed=3).any()
    assert (len(tables[schema.CONTACTS]), len(tables[schema.REVENUE])) == (23508, 56977)
    assert round(float(tables[schema.REVENUE][schema.REVENUE_AMOUNT].sum()), 2) == 7593623.21
    rct = truth["campaigns"]["RCT-2024-07"]
    assert (rct["enrolled"], rct["treated"]) == (469, 240)
    assert rct["ate"]["churn_12m"] * 469 == pytest.approx(-21)  # 21 fewer churners in 12 months if all treated
    assert rct["ate"]["revenue_12m"] == pytest.approx(86.41491665, rel=1e-9)
    assert truth["campaigns"]["OUTREACH-2025-01"]["ate"]["revenue_12m"] == pytest.approx(71.60478215, rel=1e-9)


def test_default_campaign_effect_is_the_same_in_every_quadrant(truth):
    for cid, camp in truth["campaigns"].items():
        assert set(camp["hr_by_quadrant"].values()) == {camp["hr"]}, cid
        assert set(camp["revenue_uplift_by_quadrant"].values()) == {camp["revenue_uplift"]}, cid
        # the quadrants' effects add up to the campaign's (their ate still differ: baseline risk and value do)
        enrolled = camp["enrolled_by_quadrant"]
        assert sum(enrolled.values()) == camp["enrolled"], cid
        for key, ate in camp["ate"].items():
            total = sum(enrolled[q] * camp["ate_by_quadrant"][q][key] for q in synth.QUADRANTS)
            assert total == pytest.approx(camp["enrolled"] * ate, rel=1e-8), (cid, key)
    assert truth["params"]["campaign_quadrant_hr"] == dict.fromkeys(synth.QUADRANTS, 1.0)
    assert "campaign_heterogeneity" in truth["definitions"]


def test_heterogeneity_draws_no_random_numbers(tables, heterogeneous):
    # the covariates, contacts and campaign assignment are those of the reference data; only outcomes move
    het = heterogeneous[0]
    covariates = [schema.CUSTOMER_ID, schema.SIGNUP_DATE, schema.CONTRACT, schema.MONTHLY_VALUE, schema.SATISFACTION]
    pd.testing.assert_frame_equal(het[schema.CUSTOMERS][covariates], tables[schema.CUSTOMERS][covariates])
    rct = tables[schema.CAMPAIGNS][schema.CAMPAIGN_ID] == "RCT-2024-07"  # enrolled before any campaign acts
    pd.testing.assert_frame_equal(het[schema.CAMPAIGNS][rct], tables[schema.CAMPAIGNS][rct])
    assert not het[schema.CUSTOMERS][schema.CHURNED].equals(tables[schema.CUSTOMERS][schema.CHURNED])


def test_planted_heterogeneity_moves_only_the_quadrant_it_targets(truth, heterogeneous):
    het = heterogeneous[1]
    rct, base = het["campaigns"]["RCT-2024-07"], truth["campaigns"]["RCT-2024-07"]
    assert rct["hr_by_quadrant"] == {"consolidate": 0.75, "win_back": 0.375, "maintain": 0.75, "let_go": 0.75}
    assert rct["revenue_uplift_by_quadrant"]["win_back"] == pytest.approx(0.15)
    # common random numbers: the same Exp(1) draw and revenue noise under the same hazard ratio and uplift give
    # the same potential outcomes, so the RCT's other quadrants keep their effects exactly
    for q in ("consolidate", "maintain", "let_go"):
        assert rct["ate_by_quadrant"][q] == base["ate_by_quadrant"][q], q
    wb, wb_base = rct["ate_by_quadrant"]["win_back"], base["ate_by_quadrant"]["win_back"]
    # hazard ratio 0.375 instead of 0.75: the win_back customers' 12-month churn effect goes from -0.05 to -0.14
    assert wb["churn_12m"] < wb_base["churn_12m"] - 0.03
    assert wb["revenue_12m"] > 2 * wb_base["revenue_12m"]
    for cid, camp in het["campaigns"].items():  # win_back now gains most on churn in both campaigns
        churn = {q: camp["ate_by_quadrant"][q]["churn_12m"] for q in synth.QUADRANTS}
        assert min(churn, key=churn.get) == "win_back", (cid, churn)


def test_campaign_effects_follow_the_planted_rule_and_add_up_to_the_truth():
    params = dataclasses.replace(HETEROGENEOUS, campaign_sat_slope=0.1)
    tables, truth = synth.generate(3000, 36, seed=2, params=params)
    effects = synth.campaign_effects(3000, 36, seed=2, params=params)
    cam = tables[schema.CAMPAIGNS]
    assert effects[[schema.CAMPAIGN_ID, schema.CUSTOMER_ID]].equals(cam[[schema.CAMPAIGN_ID, schema.CUSTOMER_ID]])
    # the rule of truth["definitions"]["campaign_heterogeneity"], from the customers table where satisfaction
    # is recorded (it is the true score there) and the value median of all customers
    customers = tables[schema.CUSTOMERS]
    c = customers.set_index(schema.CUSTOMER_ID).loc[effects[schema.CUSTOMER_ID]]
    q = segments.value_satisfaction_quadrant(c[schema.MONTHLY_VALUE], c[schema.SATISFACTION],
                                             value_threshold=customers[schema.MONTHLY_VALUE].median())
    seen = q.notna().to_numpy()
    assert (q.to_numpy()[seen] == effects[segments.QUADRANT].to_numpy()[seen]).all()
    p = truth["params"]
    base = effects[schema.CAMPAIGN_ID].map({cid: camp["hr"] for cid, camp in truth["campaigns"].items()})
    hr = (base * q.map(p["campaign_quadrant_hr"]).astype(float).to_numpy()
          * np.exp(p["campaign_sat_slope"] * (c[schema.SATISFACTION].to_numpy() - p["satisfaction_centre"])))
    np.testing.assert_allclose(effects["hr"].to_numpy()[seen], hr.to_numpy()[seen], rtol=1e-12)
    # the potential-outcome columns average to the truth's effects, per campaign and per quadrant
    for (cid, quadrant), rows in effects.groupby([schema.CAMPAIGN_ID, segments.QUADRANT], observed=True):
        camp = truth["campaigns"][cid]
        assert len(rows) == camp["enrolled_by_quadrant"][quadrant]
        for key, ate in camp["ate_by_quadrant"][quadrant].items():
            assert rows[key].mean() == pytest.approx(ate, rel=1e-8, abs=1e-12), (cid, quadrant, key)
    for cid, rows in effects.groupby(schema.CAMPAIGN_ID):
        assert rows[["churn_6m", "churn_12m"]].isin([-1.0, 0.0, 1.0]).all().all()
        assert rows["revenue_12m"].mean() == pytest.approx(truth["campaigns"][cid]["ate"]["revenue_12m"], rel=1e-8)


def test_chunked_truth_has_the_same_heterogeneous_effects(tmp_path):
    one = synth.write_chunked(1500, chunk_size=2000, seed=5, folder=tmp_path / "one", params=HETEROGENEOUS,
                              tables=[schema.CUSTOMERS])
    _, truth = synth.generate(1500, seed=np.random.SeedSequence([5, 0]), params=HETEROGENEOUS)
    assert json.loads((one / "truth.json").read_text())["campaigns"] == truth["campaigns"]
    # three chunks: the quadrant counts and sums add over chunks, so the effects still add up
    three = synth.write_chunked(3000, chunk_size=1000, seed=5, folder=tmp_path / "three", params=HETEROGENEOUS)
    written = json.loads((three / "truth.json").read_text())
    cam = pd.read_parquet(three / f"{schema.CAMPAIGNS}.parquet")
    for cid, camp in written["campaigns"].items():
        assert camp["hr_by_quadrant"]["win_back"] == pytest.approx(0.5 * camp["hr"])
        assert sum(camp["enrolled_by_quadrant"].values()) == camp["enrolled"] == (cam[schema.CAMPAIGN_ID] == cid).sum()
        for key, ate in camp["ate"].items():
            total = sum(n * camp["ate_by_quadrant"][q][key] for q, n in camp["enrolled_by_quadrant"].items())
            assert total == pytest.approx(camp["enrolled"] * ate, rel=1e-8), (cid, key)


# ---- a planted hidden confounder -----------------------------------------------------------------

HIDDEN = dataclasses.replace(synth.SynthParams(), hidden_share=0.4, hr_hidden=0.5, hidden_recovery_or=4.0)


def _outcomes_move_only_for_hidden(base: pd.DataFrame, hidden: pd.DataFrame, u: pd.Series) -> None:
    """Customers without U are as they were, row for row; those with U churn less (hr_hidden 0.5)."""
    base, hidden = base.set_index(schema.CUSTOMER_ID), hidden.set_index(schema.CUSTOMER_ID)
    assert u.index.equals(hidden.index) and u.index.dtype == hidden.index.dtype
    has = u.to_numpy()
    pd.testing.assert_frame_equal(hidden[~has], base[~has])
    moved = [col for col in base.columns if not base[col].equals(hidden[col])]
    assert moved == [schema.END_DATE, schema.CHURNED, schema.TENURE, schema.END_REASON]
    before, after = base.loc[has, schema.CHURNED].mean(), hidden.loc[has, schema.CHURNED].mean()
    assert after < before - 5 * _binomial_se(before, int(has.sum())), (before, after)


def test_a_hidden_confounder_is_in_no_table_and_moves_only_the_outcomes_of_those_who_have_it():
    base, _ = synth.generate(4000, 36, seed=3)
    tables, truth = synth.generate(4000, 36, seed=3, params=HIDDEN)
    u = synth.hidden_trait(4000, 36, seed=3, params=HIDDEN)
    assert truth["hidden"] == {"share": 0.4, "hr": 0.5, "log_hr": pytest.approx(math.log(0.5)), "recovery_or": 4.0}
    assert truth["realised"]["hidden"]["customers"] == int(u.sum()) and "hidden" in truth["definitions"]
    assert _within(u.mean(), 0.4, _binomial_se(0.4, 4000))
    # U has a stream of its own: every recorded covariate, complaint timing and manager departure is as it was
    _outcomes_move_only_for_hidden(base[schema.CUSTOMERS], tables[schema.CUSTOMERS], u)
    assert tables[schema.MANAGER_DEPARTURES].equals(base[schema.MANAGER_DEPARTURES])
    # a complaint resolved in both data sets draws the same uniform against higher odds when its customer has U:
    # it can only turn from failed to recovered, and none without U changes
    keys = [schema.CUSTOMER_ID, schema.OPENED_AT]
    both = (_original_complaints(base[schema.CONTACTS]).merge(_original_complaints(tables[schema.CONTACTS]), on=keys,
                                                              suffixes=("_before", "_after"))
            .dropna(subset=[f"{schema.RECOVERED}_before", f"{schema.RECOVERED}_after"]))
    before, after = (both[f"{schema.RECOVERED}_{when}"].astype(bool) for when in ("before", "after"))
    has = both[schema.CUSTOMER_ID].map(u).astype(bool)
    assert (before[~has] == after[~has]).all() and not (before & ~after).any()
    assert after[has].mean() > after[~has].mean() + 0.15  # 0.84 vs 0.62: odds x 4 from about 0.63
    share = before.mean()  # before, the two groups were recovered alike (within 3 SE of their difference)
    assert _within(before[has].mean(), before[~has].mean(),
                   math.hypot(_binomial_se(share, int(has.sum())), _binomial_se(share, int((~has).sum()))))


def test_the_hidden_trait_of_chunked_data_is_exact_chunk_by_chunk(tmp_path):
    kwargs = {"chunk_size": 1000, "seed": 5, "tables": [schema.CUSTOMERS]}
    base = synth.write_chunked(3000, folder=tmp_path / "base", **kwargs)
    hidden = synth.write_chunked(3000, folder=tmp_path / "hidden", params=HIDDEN, **kwargs)
    u = synth.hidden_trait(3000, seed=5, params=HIDDEN, chunk_size=1000)
    assert json.loads((hidden / "truth.json").read_text())["realised"]["hidden"]["customers"] == int(u.sum())
    read = [pd.read_parquet(folder / f"{schema.CUSTOMERS}.parquet") for folder in (base, hidden)]
    dtypes = {c.name: schema.pandas_dtype(c) for c in schema.TABLES[schema.CUSTOMERS].columns}
    _outcomes_move_only_for_hidden(*(df.astype(dtypes) for df in read), u)
    assert not u.equals(synth.hidden_trait(3000, seed=5, params=HIDDEN))  # other streams than generate's


# ---- parameters the simulation cannot use are refused, naming the field -----------------------------
@pytest.mark.parametrize("field, value, need", [
    ("hr_hidden", 0.0, "a hazard ratio or Weibull parameter must be above 0"),  # was a bare "math domain error"
    ("hr_campaign", -0.5, "a hazard ratio or Weibull parameter must be above 0"),
    ("weibull_shape", (0.8, 0.0, 1.3), "a hazard ratio or Weibull parameter must be above 0"),
    ("rct_share", 1.5, "a share must lie in [0, 1]"),
    ("hidden_share", -0.1, "a share must lie in [0, 1]"),
    ("hr_quadrant", (1.0, 1.3), "give 4 values (consolidate, win_back, maintain, let_go)"),
    ("channel_probs", (0.0, 0.0, 0.0, 0.0), "weights must be 0 or more with a positive sum"),
    ("campaign_effect_months", 2.5, "must be a whole number of months, 1 or more"),
    ("hr_manager_departure_months", 0, "must be a whole number of months, 1 or more"),
    ("complaint_rate", float("inf"), "must be finite numbers"),
    ("value_sigma", 0.0, "must be above 0"),
    ("inquiry_rate", -1.0, "must be 0 or more"),
    ("compensation_range", (1.0, 0.2), "give (low, high) with 0 <= low <= high"),
    ("hr_recovered", True, "must be finite numbers"),
])
def test_a_parameter_the_simulation_cannot_use_is_refused_naming_it(field, value, need):
    with pytest.raises(ValueError) as refused:
        dataclasses.replace(synth.SynthParams(), **{field: value})
    assert str(refused.value) == f"SynthParams: {field}={value!r}: {need}"


def test_the_parameters_of_every_planted_scenario_are_accepted():
    synth.SynthParams()
    synth.SynthParams(hidden_share=1.0, hr_hidden=4.0, hidden_recovery_or=0.05, rct_share=1.0, hr_campaign=1.0,
                      campaign_quadrant_uplift=(0.0, 6.0, 1.0, 1.0), satisfaction_missing=0.0, manager_departure_rate=0)

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

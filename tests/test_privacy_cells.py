"""Small cells in tables and models, and identifiers that must never become model terms.

Table rows below K are hidden (`suppress_small`). Before any model is fitted, levels of fewer than K
customers are pooled or left out (`pool_small_levels`): the model tests plant a region "atlantis"
of 3 customers (the case of the issue) in the generator's reference data (conftest.py) and check
that no table or note of any model path shows it, and that the planted effects survive.
"""
import math
import re
import shutil

import numpy as np
import pandas as pd
import pytest

from helpers.data import schema as S
from helpers.data.io import Dataset, load_dataset
from helpers.data.privacy import check_covariates, identifier_covariates, pool_small_levels, suppress_small
from helpers.data.segments import BELOW_PARITY, LOG2_VALUE, QUADRANT, add_segments
from helpers.stats import churn, complaints, effects, recovery, retention, survival


def test_rows_below_k_are_hidden_and_said():
    t = pd.DataFrame({"seg": ["a", "b", "c"], "n_treated": [50, 9, 30], "n_control": [40, 60, 5]})
    kept, note = suppress_small(t, count=["n_treated", "n_control"], k=10, what="segments")
    assert kept["seg"].tolist() == ["a"]
    assert note == "2 of 3 segments with fewer than 10 customers hidden (small-cell suppression)."
    kept, note = suppress_small(t, count="n_control", k=5)
    assert len(kept) == 3 and note == ""


# ---- the pooling rule and its note ------------------------------------------------------------
SMALL = "atlantis"  # the planted small level: 3 customers, as in the issue
DROPPED = ("Levels with fewer than 10 customers, before any model: 1 level of {} left out with its rows "
           "(fewer than 10 customers).")
COX = [S.CUSTOMER_TYPE, S.SATISFACTION, LOG2_VALUE, S.WALLET_SHARE, BELOW_PARITY, QUADRANT, S.REGION]  # as planted
TRUTH_NAME = {LOG2_VALUE: "log2_value"}  # our term name -> the generator's
EFFECT_COVARIATES = [S.CONTRACT, S.CUSTOMER_TYPE, S.REGION, LOG2_VALUE]


def _plant(df: pd.DataFrame, column: str, levels: dict, *, among=None, seed: int = 0) -> pd.DataFrame:
    """``df`` with ``column`` set to each planted level (level -> customers) on random rows (of ``among``)."""
    rng = np.random.default_rng(seed)
    candidates = np.flatnonzero(np.ones(len(df), bool) if among is None else np.asarray(among, bool))
    rows = rng.choice(candidates, sum(levels.values()), replace=False)
    values = df[column]
    categorical = isinstance(values.dtype, pd.CategoricalDtype)
    values = values.cat.add_categories(list(levels)) if categorical else values.astype(object)
    bounds = np.cumsum([0, *levels.values()])
    for level, start, stop in zip(levels, bounds[:-1], bounds[1:]):
        values.iloc[rows[start:stop]] = level
    return df.assign(**{column: values if categorical else values.astype(df[column].dtype)})


def _shows(table: pd.DataFrame, level: str = SMALL) -> bool:
    """True when ``level`` is anywhere in the table: a cell, a term, a column name."""
    return level in table.to_csv()


def test_the_note_counts_levels_and_customers_and_names_none():
    df = pd.DataFrame({"region": ["north"] * 40 + ["south"] * 25 + ["atlantis"] * 3 + ["lemuria"] * 4 + ["mu"] * 5,
                       "plan": ["tiny"] * 7 + ["basic"] * 70})
    out, note = pool_small_levels(df, ["region", "plan"], min_cell=10)
    assert note == ("Levels with fewer than 10 customers, before any model: 3 levels of region pooled as "
                    "'other (pooled)' (12 customers); 1 level of plan left out with its rows (fewer than 10 "
                    "customers).")
    for name in ("atlantis", "lemuria", "mu", "tiny"):
        assert name not in note
    assert not re.search(r"\b[3457] customers", note)  # no small level's size
    assert out["region"].cat.categories.tolist() == ["north", "south", "other (pooled)"]  # reference stays north
    assert len(out) == 70 and set(out["plan"]) == {"basic"}
    assert pool_small_levels(out, ["region", "plan"], min_cell=10) == (out, "")  # applied twice: nothing more


def test_levels_are_counted_in_customers_not_episode_rows():
    episodes = pd.DataFrame({"customer_id": np.repeat(np.arange(60), 4), "plan": ["basic"] * 200 + ["gold"] * 40})
    assert pool_small_levels(episodes, ["plan"], min_cell=11)[1] == ""  # 40 rows
    out, note = pool_small_levels(episodes, ["plan"], min_cell=11, id_col="customer_id")  # 10 customers
    assert set(out["plan"]) == {"basic"} and "1 level of plan left out" in note


def test_a_level_counts_only_the_rows_a_model_uses():
    df = pd.DataFrame({"plan": ["basic"] * 30 + ["gold"] * 12, "x": [1.0] * 34 + [np.nan] * 4 + [1.0] * 4})
    assert pool_small_levels(df, ["plan"], min_cell=10)[1] == ""
    assert pool_small_levels(df, ["plan", "x"], min_cell=10)[1] == DROPPED.format("plan")  # 8 complete rows


# ---- every model path: a 3-customer level is in no table and no note ------------------------------
@pytest.fixture(scope="module")
def customers(default_data):
    return add_segments(default_data[0][S.CUSTOMERS])


@pytest.fixture(scope="module")
def complete(customers):
    return customers[COX].notna().all(axis=1).to_numpy()  # planted customers enter every model


@pytest.fixture(scope="module")
def cox_base(customers):
    return churn.cox_with_ph_check(customers, COX, strata=[S.CONTRACT])


@pytest.fixture(scope="module")
def cox_small(customers, complete):
    return churn.cox_with_ph_check(_plant(customers, S.REGION, {SMALL: 3}, among=complete), COX, strata=[S.CONTRACT])


def test_leaving_a_small_level_out_keeps_the_planted_hazard_ratios(cox_base, cox_small, default_data):
    # recovery: against the same data without the planted level, no hazard ratio moves by more
    # than 0.02, and each planted HR (generator's truth; none for region) lies in its 95% interval
    base, small = (c.hazard_ratios(0.95).set_index("term") for c in (cox_base, cox_small))
    assert small.index.tolist() == base.index.tolist()
    assert (small["hr"] - base["hr"]).abs().max() < 0.02
    truth = default_data[1]["cox_log_hr"]
    for term, row in small.iterrows():
        planted = 1.0 if term.startswith("region[") else math.exp(truth[TRUTH_NAME.get(term, term)])
        assert row["lower"] <= planted <= row["upper"], (term, planted, row["lower"], row["upper"])


def test_a_level_of_three_customers_is_in_no_cox_table_or_note(cox_small):
    assert not _shows(cox_small.hazard_ratios()) and not _shows(cox_small.check)
    assert cox_small.note == DROPPED.format("region")


def test_small_levels_that_reach_k_together_are_pooled_into_one_term(customers, complete, cox_base):
    planted = _plant(customers, S.REGION, {SMALL: 6, "lemuria": 5}, among=complete)
    cox = churn.cox_with_ph_check(planted, COX, strata=[S.CONTRACT])
    hrs, base = cox.hazard_ratios().set_index("term"), cox_base.hazard_ratios().set_index("term")
    assert "region[other (pooled)]" in hrs.index and not _shows(hrs) and not _shows(hrs, "lemuria")
    assert (hrs.loc[base.index, "hr"] - base["hr"]).abs().max() < 0.02
    assert cox.note == ("Levels with fewer than 10 customers, before any model: 2 levels of region pooled as "
                        "'other (pooled)' (11 customers).")


def test_parametric_models_leave_the_small_level_out(customers, complete):
    planted = _plant(customers.iloc[:3000], S.REGION, {SMALL: 3}, among=complete[:3000])
    table = survival.compare_parametric(planted, covariates=COX)
    assert (table["customers"] == planted[COX].notna().all(axis=1).sum() - 3).all()


def test_manager_departure_model_leaves_the_small_level_out(default_data, customers):
    ds = Dataset("synthetic", None, default_data[0], "test", default_data[1])
    managed = customers[S.ACCOUNT_MANAGER_ID].notna() & (customers[S.CUSTOMER_TYPE] == S.GROUP)
    planted = _plant(customers, S.REGION, {SMALL: 3}, among=managed)
    out = churn.manager_departure_effect(ds, planted, covariates=(LOG2_VALUE, S.REGION))
    assert not _shows(out) and out.attrs["small_cell_note"] == DROPPED.format("region")


def test_complaint_state_model_leaves_the_small_level_out(default_data, customers):
    planted = _plant(customers.iloc[:6000], S.REGION, {SMALL: 3})
    episodes = complaints.complaint_episodes(planted, default_data[0][S.CONTACTS],
                                             covariates=[S.CUSTOMER_TYPE, S.REGION, S.CONTRACT])
    model = complaints.complaint_state_model(episodes, covariates=[S.CUSTOMER_TYPE, S.REGION], strata=S.CONTRACT)
    assert not _shows(survival.hazard_ratios(model)) and model.small_cell_note_ == DROPPED.format("region")


def test_a_complaint_state_of_few_customers_gets_no_term_of_its_own():
    rng = np.random.default_rng(0)
    episodes = pd.DataFrame({"customer_id": np.arange(80), "start": 0.0, "stop": rng.exponential(10, 80),
                             "churned": 1, "state": ["none"] * 40 + ["open"] * 37 + ["failed"] * 3})
    model = complaints.complaint_state_model(episodes)
    assert model.params_.index.tolist() == ["complaint[open]"] and model.small_cell_note_ == DROPPED.format("state")
    episodes["state"] = ["none"] * 40 + ["open"] * 28 + ["recovered"] * 6 + ["failed"] * 6
    model = complaints.complaint_state_model(episodes)
    assert model.params_.index.tolist() == ["complaint[open]", "complaint[other (pooled)]"]


def test_flag_comparison_leaves_the_small_level_out(customers):
    rng = np.random.default_rng(1)
    table = customers.iloc[:4000].assign(complained=rng.random(4000) < 0.3)
    planted = _plant(table, S.REGION, {SMALL: 3})
    out = complaints.flag_comparison(planted, flag="complained", covariates=[S.REGION], duration=S.TENURE)
    assert set(out["model"]) == {"logistic", "cox"} and not _shows(out)
    assert out.attrs["small_cell_note"] == DROPPED.format("region")


@pytest.fixture(scope="module")
def drivers(default_data):
    tables = default_data[0]
    d = recovery.recovery_drivers(tables[S.CUSTOMERS], tables[S.CONTACTS])
    return _plant(d, S.CUSTOMER_TYPE, {SMALL: 3}, among=d[S.SATISFACTION].notna())


@pytest.mark.parametrize("table", [recovery.speed_dose_response, recovery.action_effects])
def test_recovery_drivers_leave_the_small_level_out(drivers, table):
    out = table(drivers)
    assert not _shows(out) and out.attrs["small_cell_note"] == DROPPED.format("customer_type")


@pytest.fixture(scope="module")
def campaigns(default_data):
    ds = Dataset("synthetic", None, default_data[0], "test", default_data[1])
    return {c: _plant(retention.campaign_frame(ds, c), S.REGION, {SMALL: 3})
            for c in ("RCT-2024-07", "OUTREACH-2025-01")}


def test_balance_table_shows_no_small_level(campaigns):
    table = effects.balance(campaigns["RCT-2024-07"], covariates=EFFECT_COVARIATES)
    assert not _shows(table) and "region[east]" in set(table["covariate"])
    assert table.attrs["small_cell_note"] == DROPPED.format("region")


def test_randomized_effects_leave_the_small_level_out(campaigns):
    frame, arms = campaigns["RCT-2024-07"], dict(arm=S.ARM, control=S.CONTROL)
    table = retention.effect_table(frame, outcome=retention.REVENUE_WINDOW, design="randomized",
                                   covariates=EFFECT_COVARIATES, **arms)
    assert table.attrs["small_cell_note"] == DROPPED.format("region")
    hazard = dict(duration=retention.MONTHS_TO_CHURN, event=retention.CHURNED_WINDOW, covariates=EFFECT_COVARIATES)
    hr = effects.churn_hazard_ratio(frame, **hazard)
    without = effects.churn_hazard_ratio(frame[frame[S.REGION] != SMALL], **hazard)
    assert hr["hr"] == pytest.approx(without["hr"], rel=1e-9) and hr["dropped"] == without["dropped"] + 3
    segments = retention.segment_table(frame, outcome=retention.REVENUE_WINDOW, segments=[S.REGION],
                                       design="randomized", treated=S.TREATMENT, **arms)
    assert not _shows(segments) and len(segments) == 4
    assert segments.attrs["small_cell_note"] == DROPPED.format("region")


def test_targeted_effects_leave_the_small_level_out(campaigns):
    frame, arms = campaigns["OUTREACH-2025-01"], dict(arm=S.ARM, control=S.CONTROL)
    diagnostics = retention.targeted_diagnostics(frame, treated=S.TREATMENT, covariates=EFFECT_COVARIATES, **arms)
    assert not _shows(diagnostics["balance"]) and diagnostics["small_cell_note"] == DROPPED.format("region")
    table = retention.effect_table(frame, outcome=retention.REVENUE_WINDOW, design="targeted",
                                   covariates=EFFECT_COVARIATES, **arms)
    assert table.attrs["small_cell_note"] == DROPPED.format("region")


# ---- identifiers are refused before any model ---------------------------------------------------
EMAIL = (r"^covariate email is an identifier \(2,031 distinct values in 2,040 customers\): it cannot be a "
         r"model term; drop it from COVARIATES$")


@pytest.fixture
def with_email(default_data):
    """2,040 customers, 2,031 with an e-mail address."""
    c = default_data[0][S.CUSTOMERS].iloc[:2040].copy()
    c["email"] = pd.array([f"customer{i}@example.com" for i in range(2031)] + [None] * 9, dtype="string")
    return c


def test_identifier_covariates_are_found(with_email):
    found = identifier_covariates(with_email, [S.CONTRACT, S.REGION, S.MONTHLY_VALUE, "email", S.ACCOUNT_MANAGER_ID])
    assert found == ["email", S.ACCOUNT_MANAGER_ID]  # a text column nearly unique, and a contract id column


def test_an_identifier_is_refused_with_its_parameter_column_and_reason(with_email):
    with pytest.raises(ValueError, match=EMAIL):
        check_covariates(with_email, [S.CONTRACT, "email"])
    with pytest.raises(ValueError, match=r"^stratum customer_id is an identifier \(an identifier column of the "
                                         r"data contract\): it cannot be a model term; drop it from STRATA$"):
        check_covariates(with_email, [S.CUSTOMER_ID], parameter="STRATA", role="stratum")
    check_covariates(with_email.iloc[:19], ["email"])  # too few rows to judge a text column


@pytest.mark.parametrize("fit", [
    lambda c: churn.cox_with_ph_check(c, [S.CONTRACT, "email"]),
    lambda c: survival.compare_parametric(c, covariates=["email"]),
    lambda c: effects.balance(c.assign(arm=np.resize([S.TREATMENT, S.CONTROL], len(c))), covariates=["email"]),
    lambda c: complaints.flag_comparison(c.assign(complained=True), flag="complained", covariates=["email"]),
], ids=["cox", "parametric", "balance", "flag_comparison"])
def test_model_functions_refuse_an_identifier_before_fitting(with_email, fit):
    with pytest.raises(ValueError, match=EMAIL):
        fit(with_email)


def test_complaint_state_model_judges_customers_not_episodes(with_email, default_data):
    episodes = complaints.complaint_episodes(with_email, default_data[0][S.CONTACTS], covariates=["email"])
    with pytest.raises(ValueError, match=r"^covariate email is an identifier \([\d,]+ distinct values in [\d,]+ "
                                         r"customers\): it cannot be a model term; drop it from COVARIATES$"):
        complaints.complaint_state_model(episodes, covariates=["email"])


def test_the_loaded_customers_frame_is_checked(tmp_path, dataset):
    folder = tmp_path / "data"
    shutil.copytree(dataset, folder)
    customers = pd.read_parquet(folder / "customers.parquet")
    customers["email"] = [f"c{i}@example.com" for i in range(len(customers))]
    customers.to_parquet(folder / "customers.parquet", index=False)
    ds = load_dataset(folder)
    with pytest.raises(ValueError, match=r"^covariate email is an identifier \(1,500 distinct values in 1,500 "
                                         r"customers\)"):
        check_covariates(ds.customers, [S.CONTRACT, "email"])
    assert identifier_covariates(ds, [S.CONTRACT, "email"]) == ["email"]  # a data set: its customers table

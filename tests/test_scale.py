"""The aggregated (DuckDB) path agrees with the row-level estimators, and recovers planted effects.

Tolerances, stated once:
- Kaplan-Meier, RMST, log-rank (overall and pairwise) from counts: exact (1e-9), since
  customers with the same tenure, churn flag and segment are interchangeable.
- Segment columns built in SQL: identical labels customer by customer.
- Cox on collapsed rows (`scale.fit_cox_counts`, exact Efron from the counts) vs lifelines on
  one row per customer: log hazard ratios within 1e-6 and standard errors within 1e-6 relative
  (lifelines' own convergence; was 0.005 and 0.001 with lifelines' weighted fit, whose Efron
  correction counts tied rows, not customers; tests/test_efron.py has the heavy-ties case).
- Piecewise-exponential (monthly intervals) vs lifelines Cox on continuous tenure: log hazard
  ratios within 0.01; on whole-month tenure it *is* Cox with Breslow ties (statsmodels PHReg,
  1e-6).
- Complaint-state PWE (half-month intervals) vs lifelines' CoxTimeVaryingFitter: log hazard
  ratios within 0.015; its exposure and events per state equal the row-level episodes' (1e-6).
"""
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from helpers.data import schema as S
from helpers.data import segments, synth
from helpers.data.io import load_dataset
from helpers.data.validate import DataError
from helpers.engine import scale
from helpers.stats import churn, complaints, pwe, survival
from helpers.stats.design import encode

W = scale.WEIGHT
COVARIATES = ["customer_type", "quadrant", "below_parity"]


@pytest.fixture(scope="module")
def both(medium):
    """(Source, Dataset, prepared customers) of the 6,000-customer data set."""
    ds = load_dataset(medium)
    return scale.Source(medium), ds, churn.prepare(ds)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, _default_data):
    """The 20,000-customer default data set on disk, opened in DuckDB, with its truth."""
    folder = synth.write(*_default_data, tmp_path_factory.mktemp("default"))
    return scale.Source(folder), _default_data[1]


def test_segment_columns_match_the_row_level_definitions(both):
    src, _, customers = both
    sql = src.sql(f"SELECT * FROM customers ORDER BY {S.CUSTOMER_ID}")
    rows = customers.sort_values(S.CUSTOMER_ID, ignore_index=True)
    for col in ["quadrant", "value_band", "service_by_value", "wallet_by_satisfaction", "cohort", "below_parity"]:
        a = rows[col].astype(object).where(rows[col].notna(), None).tolist()
        b = sql[col].astype(object).where(sql[col].notna(), None).tolist()
        assert a == b, col
    assert np.allclose(rows["log2_monthly_value"], sql["log2_monthly_value"], equal_nan=True)
    assert np.allclose(rows[S.TENURE], sql[S.TENURE])
    assert src.available_segmentations() == ["contract", "customer_type", "region", "quadrant", "service_by_value",
                                             "wallet_by_satisfaction", "cohort"]


@pytest.mark.parametrize("segment", ["contract", "quadrant", "service_by_value"])
def test_km_rmst_and_logrank_from_counts_are_exact(both, segment):
    src, _, customers = both
    counts = src.collapse([segment])
    assert counts[W].sum() == len(customers) and len(counts) < len(customers)
    rows = customers.dropna(subset=[segment])
    a, b = survival.km_table(rows, group=segment), survival.km_table(counts.dropna(subset=[segment]), group=segment,
                                                                     weights=W)
    assert a[segment].astype(str).tolist() == b[segment].astype(str).tolist()
    cols = ["time", "survival", "lower", "upper", "at_risk", "events", "censored"]
    assert np.allclose(a[cols].to_numpy(float), b[cols].to_numpy(float), atol=1e-9, equal_nan=True)
    sa = survival.km_summary(rows, group=segment, horizon=24)
    sb = survival.km_summary(counts.dropna(subset=[segment]), group=segment, horizon=24, weights=W)
    num = sa.select_dtypes("number").columns
    assert np.allclose(sa[num].to_numpy(float), sb[num].to_numpy(float), atol=1e-9, equal_nan=True)
    da = survival.rmst_difference(rows, group=segment, horizon=24)
    db = survival.rmst_difference(counts.dropna(subset=[segment]), group=segment, horizon=24, weights=W)
    assert np.allclose(da[["difference", "se", "p"]], db[["difference", "se", "p"]], atol=1e-9)
    assert survival.logrank(rows, group=segment)["statistic"] == pytest.approx(
        survival.logrank(counts.dropna(subset=[segment]), group=segment, weights=W)["statistic"], rel=1e-9)
    pa = survival.pairwise_logrank(rows, group=segment)
    pb = survival.pairwise_logrank(counts.dropna(subset=[segment]), group=segment, weights=W)
    assert np.allclose(pa[["statistic", "p_adjusted"]], pb[["statistic", "p_adjusted"]], atol=1e-9)


def test_pooling_counts_customers_not_rows(both):
    src, _, customers = both
    counts = src.collapse(["service_by_value"])
    _, note_rows = segments.pool_small(customers, "service_by_value", min_size=700)
    _, note_counts = segments.pool_small(counts, "service_by_value", min_size=700, weights=W)
    assert note_rows == note_counts


def test_cox_on_collapsed_rows_equals_row_level_cox(both):
    src, _, customers = both
    rows = src.collapse([*COVARIATES, "contract"])
    assert rows[W].sum() == len(customers)  # few rows per customer only at scale: see benchmarks/survival.py
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = survival.fit_cox(customers, covariates=COVARIATES, strata="contract")
    b = scale.fit_cox_counts(rows, covariates=COVARIATES, strata="contract")
    assert list(a.params_.index) == list(b.params_.index)
    assert np.abs(a.params_ - b.params_).max() < 1e-6
    assert np.allclose(a.standard_errors_, b.standard_errors_, rtol=1e-6, atol=0)
    assert b.rows_dropped_ == a.rows_dropped_


def test_pwe_matches_cox_on_continuous_tenure(both):
    src, _, customers = both
    rows = src.collapse([*COVARIATES, "contract"]).dropna()
    piecewise = pwe.fit_pwe(pwe.person_period(rows, columns=[*COVARIATES, "contract"]), covariates=COVARIATES,
                        strata="contract")
    cox = survival.fit_cox(customers, covariates=COVARIATES, strata="contract")
    assert list(piecewise.params_.index) == list(cox.params_.index)
    assert np.abs(piecewise.params_ - cox.params_).max() < 0.01
    assert np.allclose(piecewise.summary["se(coef)"], cox.standard_errors_, rtol=0.02)


def test_pwe_on_whole_months_is_cox_with_breslow_ties():
    """Reference: statsmodels' PHReg (Breslow ties) on one row per customer, a second library."""
    rng = np.random.default_rng(5)
    n = 3000
    x = rng.integers(0, 3, n)
    g = rng.integers(0, 2, n)
    t = np.ceil(rng.weibull(1.3, n) * 14 / np.exp(0.4 * (x == 1) + 0.9 * (x == 2) - 0.5 * g))
    c = rng.integers(6, 30, n)
    rows = pd.DataFrame({S.TENURE: np.minimum(t, c), S.CHURNED: t <= c, "x": pd.Categorical(x.astype(str)),
                         "g": g.astype(float), W: 1})
    piecewise = pwe.fit_pwe(pwe.person_period(rows, columns=["x", "g"]), covariates=["x", "g"])
    design = pd.get_dummies(rows["x"], dtype=float).iloc[:, 1:].assign(g=rows["g"])
    ph = sm.PHReg(rows[S.TENURE], design, status=rows[S.CHURNED].astype(int), ties="breslow").fit()
    assert np.allclose(piecewise.params_.to_numpy(), ph.params, atol=1e-6)
    assert np.allclose(piecewise.summary["se(coef)"].to_numpy(), ph.bse, rtol=1e-4)


def test_from_last_intervals_ignores_rows_ending_before_the_first_interval():
    rows = pd.DataFrame({"x": ["a", "a", "b"], "last": [1, -1, -1], S.CHURNED: [True, True, False],
                         "n": [2.0, 5.0, 1.0], "part": [0.5, 0.0, 0.0]})
    pp = pwe.from_last_intervals(rows, ["x"], 1.0)
    assert pp[[pwe.INTERVAL, "x", pwe.EVENTS, pwe.EXPOSURE]].values.tolist() == [[0, "a", 0.0, 2.0],
                                                                                [1, "a", 2.0, 0.5]]


def test_person_period_counts_every_customer_month():
    rows = pd.DataFrame({S.TENURE: [0.0, 0.5, 2.0, 2.5], S.CHURNED: [True, True, False, True], W: [1, 2, 1, 3]})
    pp = pwe.person_period(rows)
    assert pp[pwe.EVENTS].sum() == 1 + 2 + 3
    assert pp[pwe.EXPOSURE].sum() == pytest.approx(survival.ONE_DAY + 2 * 0.5 + 2.0 + 3 * 2.5)
    assert pp.loc[pp[pwe.INTERVAL] == 2, pwe.EVENTS].item() == 3


def test_complaint_states_from_duckdb_match_the_row_level_episodes(both):
    src, ds, customers = both
    episodes = complaints.complaint_episodes(customers, ds[S.CONTACTS], covariates=["customer_type", "contract"])
    known = episodes.dropna(subset=[complaints.STATE])
    rows = known.assign(exposure=known[survival.STOP] - known[survival.START]).groupby(
        complaints.STATE, observed=True)[["exposure", S.CHURNED]].sum()
    pp = src.complaint_person_period(width=1.0)
    agg = pp.groupby(scale.COMPLAINT, observed=True)[[pwe.EXPOSURE, pwe.EVENTS]].sum()
    assert np.allclose(rows.to_numpy(float), agg.to_numpy(float), atol=1e-6)
    ctv = survival.hazard_ratios(complaints.complaint_state_model(known, covariates=["customer_type"],
                                                                  strata="contract")).set_index("term")
    piecewise = survival.hazard_ratios(scale.complaint_state_model(src, covariates=["customer_type"],
                                                                   strata=["contract"],
                                                             width=0.5)).set_index("term")
    assert list(piecewise.index) == list(ctv.index)
    assert np.abs(piecewise["log_hr"] - ctv["log_hr"]).max() < 0.015


def _cut_into_intervals(episodes: pd.DataFrame, cells: list[str], width: float) -> pd.DataFrame:
    """Brute force: every (start, stop] episode split at multiples of ``width``, summed per interval x state x cell."""
    start, stop = episodes[survival.START].to_numpy(), episodes[survival.STOP].to_numpy()
    first, end = np.floor(start / width).astype(int), np.ceil(stop / width).astype(int)
    row = np.repeat(np.arange(len(episodes)), end - first)
    k = first[row] + np.arange(len(row)) - np.repeat(np.cumsum(end - first) - (end - first), end - first)
    lo, hi = k * width, (k + 1) * width
    piece = np.minimum(stop[row], hi) - np.maximum(start[row], lo)
    event = episodes[S.CHURNED].to_numpy()[row].astype(bool) & (stop[row] > lo) & (stop[row] <= hi)
    cut = episodes[[complaints.STATE, *cells]].iloc[row].reset_index(drop=True).assign(
        **{pwe.INTERVAL: k, pwe.EXPOSURE: piece, pwe.EVENTS: event.astype(float)})
    out = cut.groupby([pwe.INTERVAL, complaints.STATE, *cells], observed=True, dropna=False)[
        [pwe.EXPOSURE, pwe.EVENTS]].sum().reset_index()
    return out[out[pwe.EXPOSURE] > 0]


def _as_keys(pp: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    pp = pp.astype({k: object for k in keys[1:]})
    return pp.fillna({k: "<NA>" for k in keys[1:]}).sort_values(keys, ignore_index=True)


@pytest.mark.parametrize("width", [0.5, 1.0])
def test_complaint_person_period_equals_the_episodes_cut_into_intervals(both, width):
    src, ds, customers = both
    cells = ["customer_type", "contract"]
    episodes = complaints.complaint_episodes(customers, ds[S.CONTACTS], covariates=cells).dropna(
        subset=[complaints.STATE])
    want = _cut_into_intervals(episodes, cells, width).rename(columns={complaints.STATE: scale.COMPLAINT})
    got = src.complaint_person_period(covariates=["customer_type"], strata=["contract"], width=width)
    keys = [pwe.INTERVAL, scale.COMPLAINT, *cells]
    want, got = _as_keys(want, keys), _as_keys(got, keys)
    assert got[keys].equals(want[keys])
    assert np.allclose(got[pwe.EXPOSURE], want[pwe.EXPOSURE], rtol=1e-9, atol=1e-9)
    assert got[pwe.EVENTS].tolist() == want[pwe.EVENTS].tolist()
    assert np.allclose(got["start"], got[pwe.INTERVAL] * width)


@pytest.mark.parametrize("covariate", [S.CUSTOMER_TYPE, "tenure", "cell", "_cell", "_tenure", "x"])
def test_complaint_person_period_follows_the_row_level_rules_on_awkward_histories(tmp_path, covariate):
    """Same-day events, a complaint on the signup day, one resolved the day it opened, one after the
    end, a missing recovered flag, a repeat contact, a customer with no tenure, a missing covariate;
    and a covariate named like a column the query uses inside."""
    day = pd.Timestamp("2024-01-01")
    d = lambda n: day + pd.Timedelta(days=n)  # noqa: E731
    customers = pd.DataFrame({
        S.CUSTOMER_ID: ["A", "B", "C", "D", "E", "F"],
        S.SIGNUP_DATE: [day] * 6,
        S.END_DATE: [d(100), d(200), d(90), d(60), d(0), d(45)],
        S.CHURNED: [True, False, True, True, True, False],
        S.CUSTOMER_TYPE: ["individual", "group", None, "group", "individual", "group"]})
    rows = [  # customer, opened, resolved, recovered, repeat_of
        ("A", 10, 20, True, None), ("A", 20, 20, False, None), ("A", 20, 30, True, None),  # same-day changes
        ("B", 0, 5, False, None), ("B", 50, None, None, None), ("B", 60, 70, True, "K1"),  # at signup; still open
        ("C", 15, 15, True, None), ("C", 95, 99, True, None),  # resolved on the day; after the end
        ("D", 30, 40, None, None),  # flag missing: no state until the end
        ("E", 0, 0, True, None)]  # no tenure at all
    contacts = pd.DataFrame([{S.CONTACT_ID: f"K{i + 1}", S.CUSTOMER_ID: c, S.OPENED_AT: d(o),
                              S.RESOLVED_AT: d(r) if r is not None else pd.NaT, S.RECOVERED: f,
                              S.REPEAT_OF: rep, S.KIND: S.COMPLAINT} for i, (c, o, r, f, rep) in enumerate(rows)])
    contacts[S.RECOVERED] = contacts[S.RECOVERED].astype("boolean")
    customers = customers.rename(columns={S.CUSTOMER_TYPE: covariate})
    customers.to_parquet(tmp_path / "customers.parquet")
    contacts.to_parquet(tmp_path / "contacts.parquet")
    episodes = complaints.complaint_episodes(customers, contacts, covariates=[covariate]).dropna(
        subset=[complaints.STATE])
    keys = [pwe.INTERVAL, scale.COMPLAINT, covariate]
    want = _as_keys(_cut_into_intervals(episodes, [covariate], 1.0).rename(
        columns={complaints.STATE: scale.COMPLAINT}), keys)
    got = _as_keys(scale.Source(tmp_path).complaint_person_period(covariates=[covariate], width=1.0), keys)
    assert got[keys].equals(want[keys])
    assert np.allclose(got[pwe.EXPOSURE], want[pwe.EXPOSURE], rtol=1e-12)
    assert got[pwe.EVENTS].tolist() == want[pwe.EVENTS].tolist()
    assert set(got[scale.COMPLAINT]) == {"none", "open", "recovered", "failed"}


def test_aggregated_models_recover_the_planted_effects(reference):
    src, truth = reference
    planted = truth["cox_log_hr"]
    cox = scale.cox_with_ph_check(src, ["contract", "customer_type", "quadrant", "below_parity"])
    assert "contract" in cox.strata and not cox.check.set_index("covariate").loc["customer_type", "violated"]
    hrs = cox.hazard_ratios().set_index("term")
    for term in ["customer_type[group]"]:  # below_parity needs the numeric covariates unbanded (tests/test_churn.py)
        lo, hi = np.log(hrs.loc[term, ["lower", "upper"]].astype(float))
        assert lo < planted[term] < hi, term
        assert abs(np.log(hrs.loc[term, "hr_pwe"]) - np.log(hrs.loc[term, "hr"])) < 0.01
    adjust = ["customer_type", "satisfaction", "log2_monthly_value", "wallet_share", "below_parity", "quadrant"]
    model = scale.complaint_state_model(src, covariates=adjust, strata=["contract"], width=0.5)
    assert model.banded == ["satisfaction", "log2_monthly_value", "wallet_share"]
    states = survival.hazard_ratios(model).set_index("term")
    for term in complaints.STATE_TERMS:
        assert np.log(states.loc[term, "lower"]) < planted[term] < np.log(states.loc[term, "upper"]), term


def test_collapse_within_keeps_the_tenure_resolution_while_the_rows_fit(tmp_path):
    rng = np.random.default_rng(3)
    n = 5000  # tenure in quarter months: 48 values, 12 whole months
    pd.DataFrame({S.CUSTOMER_ID: [f"C{i}" for i in range(n)], S.TENURE: rng.integers(1, 49, n) / 4,
                  S.CHURNED: rng.random(n) < 0.3, S.CONTRACT: rng.choice(["month-to-month", "one-year"], n)}
                 ).to_parquet(tmp_path / "customers.parquet")
    src = scale.Source(tmp_path)
    fine, months = src.collapse([S.CONTRACT]), src.collapse([S.CONTRACT], resolution=1.0)
    assert len(months) < len(fine) < src.n / 3
    # every branch: no more rows than customers; the estimate far below, near (counted), far above the limit
    for max_rows, want, resolution in [(src.n, fine, None), (3 * len(fine), fine, None), (len(fine), fine, None),
                                       (len(fine) - 1, months, 1.0), (10, months, 1.0)]:
        rows, got = src.collapse_within([S.CONTRACT], max_rows=max_rows)
        assert got == resolution, max_rows
        pd.testing.assert_frame_equal(rows, want, check_dtype=False)
    assert not src.sql("SELECT * FROM duckdb_tables() WHERE temporary").shape[0]  # nothing left behind


def test_bands_measure_every_numeric_column_in_one_pass_as_band_does_one(both):
    src, _, _ = both
    columns = ["satisfaction", "wallet_share", "customer_type", "below_parity", "log2_monthly_value"]
    together = src.bands(columns)
    alone = scale.Source(src.dataset)
    assert together == {c: alone.band(c) for c in columns}
    assert together["customer_type"] == '"customer_type"' and together["below_parity"] == '"below_parity"'
    assert together["satisfaction"].startswith("CASE")


def test_numeric_covariates_enter_as_ordered_quantile_bands(both):
    src, _, _ = both
    rows = src.collapse(["satisfaction"], banded=["satisfaction"])
    levels = list(rows["satisfaction"].cat.categories)
    assert len(levels) == 5 and levels[0].startswith("1: ") and levels[-1].startswith("5: ")
    assert src.band("below_parity") == '"below_parity"'  # 0/1: kept as it is


def test_choose_engine_and_customer_count(medium):
    assert scale.customer_count(medium) == 6000
    assert scale.choose_engine("auto", 6000)[0] == "rows"
    assert scale.choose_engine("auto", 6000, threshold=5000)[0] == "aggregated"
    # the default threshold is the measured crossover (benchmarks/notebooks.py), the same in every notebook
    assert [scale.choose_engine("auto", n)[0] for n in (49_999, 50_000)] == ["rows", "aggregated"]
    from helpers.report.params import declared_parameters

    for notebook in sorted((Path(__file__).parents[1] / "notebooks").glob("0*.ipynb")):
        assert declared_parameters(notebook)["LARGE_DATA"].default == scale.LARGE, notebook.name
    assert "set by the ENGINE parameter" in scale.choose_engine("aggregated", 10)[1]
    with pytest.raises(ValueError, match="ENGINE must be one of auto, rows, aggregated"):
        scale.choose_engine("fast", 10)


def test_sample_dataset_keeps_each_sampled_customers_rows(both):
    src, ds, _ = both
    sample = src.sample_dataset(1000, seed=1)
    ids = set(sample.customers[S.CUSTOMER_ID])
    assert len(ids) == 1000
    for table in (S.CONTACTS, S.REVENUE, S.CAMPAIGNS):
        assert set(sample[table][S.CUSTOMER_ID]) <= ids
        full = ds[table]
        assert len(sample[table]) == int(full[S.CUSTOMER_ID].isin(ids).sum())
    assert len(sample[S.MANAGER_DEPARTURES]) == len(ds[S.MANAGER_DEPARTURES])
    assert sample.fingerprint == ds.fingerprint
    assert src.table_rows() == {name: len(df) for name, df in ds.tables.items()}
    again = src.sample_dataset(1000, seed=1)
    assert again.customers[S.CUSTOMER_ID].tolist() == sample.customers[S.CUSTOMER_ID].tolist()


def test_check_names_table_column_and_fix(tmp_path, both):
    _, ds, _ = both
    customers = ds.customers.astype({S.CONTRACT: "string"})
    customers.loc[3, S.TENURE] = -2.0
    customers.loc[5, S.CUSTOMER_ID] = customers.loc[6, S.CUSTOMER_ID]
    customers.loc[7, S.CONTRACT] = "weekly"
    customers.to_parquet(tmp_path / "customers.parquet")
    contacts = ds[S.CONTACTS].copy()
    contacts.loc[0, S.CUSTOMER_ID] = "C999999"
    contacts.to_parquet(tmp_path / "contacts.parquet")
    with pytest.raises(DataError) as err:
        scale.check(scale.Source(tmp_path))
    text = str(err.value)
    assert "customers.tenure_months: 1 row below 0 (row 3): tenure_months must be >= 0" in text
    assert "customers.customer_id: 2 rows duplicated (rows 5, 6)" in text
    assert "customers.contract: 1 row with another value (row 7): allowed values: month-to-month" in text
    assert "contacts.customer_id: 1 row with a customer_id not in customers (row 0)" in text
    scale.check(scale.Source(ds.source))  # the clean data set passes


@pytest.mark.parametrize("ids, increasing", [
    (["C1", "C2", "C3", "C4", "C5"], True),
    (["C1", "C2", "C2", "C4", "C5"], False),  # a duplicate next to its twin
    (["C1", "C2", "C3", "C4", "C4"], False),  # across the boundary of two batches
    (["C1", "C3", "C2", "C4", "C5"], False),  # unique but out of order: the GROUP BY decides
    (["C1", None, "C1", "C4", "C5"], False),  # a missing value between twins
    (["C1", None, "C2", None, "C5"], True),
])
def test_a_key_that_increases_down_the_file_is_unique_without_hashing(tmp_path, ids, increasing):
    pd.DataFrame({S.CUSTOMER_ID: ids, S.CHURNED: False, S.TENURE: 1.0}).to_parquet(tmp_path / "customers.parquet")
    src = scale.Source(tmp_path)
    assert scale._increasing(src, S.CUSTOMERS, S.CUSTOMER_ID, batch=2) is increasing
    twins = pd.Series(ids).dropna().duplicated(keep=False).sum()
    try:
        scale.check(src)
        said = ""
    except DataError as err:  # missing ids are a problem of their own
        said = str(err)
    assert (f"customers.customer_id: {twins} rows duplicated" in said) == bool(twins)
    assert ("duplicated" in said) == bool(twins)
    pd.DataFrame({"x": [1.0, 2.0, float("nan"), float("nan")]}).to_parquet(tmp_path / "contacts.parquet")
    assert not scale._increasing(scale.Source(tmp_path), S.CONTACTS, "x")  # NaN = NaN for a GROUP BY


def test_rules_duckdb_cannot_evaluate_together_are_run_one_by_one(tmp_path):
    pd.DataFrame({S.CUSTOMER_ID: ["a", "b"], S.CHURNED: [True, False], S.TENURE: [1.0, 2.0],
                  S.SIGNUP_DATE: ["2024-01-01", "soon"], S.END_DATE: ["2024-02-01", "2024-03-01"],
                  S.SATISFACTION: [11.0, 5.0]}).to_parquet(tmp_path / "customers.parquet")
    with pytest.raises(DataError) as err:
        scale.check(scale.Source(tmp_path))
    text = str(err.value)
    assert "customers.satisfaction: 1 row above 10 (row 0)" in text  # still found beside the unreadable date
    assert "customers.end_date: unreadable" in text


def test_missing_columns_are_named(tmp_path):
    pd.DataFrame({S.CUSTOMER_ID: ["a", "b"], S.CHURNED: [True, False]}).to_parquet(tmp_path / "customers.parquet")
    with pytest.raises(DataError, match="customers.tenure_months: column missing: add tenure_months or both"):
        scale.Source(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no customers.parquet or customers.csv"):
        scale.Source(tmp_path / "empty")


def test_profiled_fit_equals_statsmodels_glm(both):
    """The fast route of `fit_pwe` against statsmodels' GLM with every baseline dummy."""
    src, _, _ = both
    rows = src.collapse(["customer_type", "quadrant", "contract"]).dropna()
    pp = pwe.person_period(rows, columns=["customer_type", "quadrant", "contract"])
    fast = pwe.fit_pwe(pp, covariates=["customer_type", "quadrant"], strata="contract")
    glm = pwe.fit_pwe(pp, covariates=["customer_type", "quadrant"], strata="contract", method="glm")
    assert np.allclose(fast.params_, glm.params_, atol=1e-6)
    assert np.allclose(fast.summary["se(coef)"], glm.summary["se(coef)"], rtol=1e-5)
    assert fast.loglik == pytest.approx(glm.loglik, abs=1e-6)
    assert np.allclose(fast.baseline["hazard"], glm.baseline["hazard"], rtol=1e-5)


def test_large_data_are_checked_in_duckdb_before_any_kernel_starts(tmp_path, medium):
    from helpers.data.io import load_dataset as load

    from .conftest import workbench
    assert scale.checked_fingerprint(medium, threshold=1) == load(medium).fingerprint
    bad = tmp_path / "bad"
    bad.mkdir()
    customers = load(medium).customers
    customers.loc[2, S.SATISFACTION] = 11.0
    customers.to_parquet(bad / "customers.parquet")
    with pytest.raises(DataError, match=r"customers.satisfaction: 1 row above 10 \(row 2\)"):
        scale.checked_fingerprint(bad, threshold=1)
    done = workbench("run", "00", "-p", f"dataset={bad}", "-p", "large_data=1", "--reports", tmp_path / "r")
    assert done.returncode == 2 and "customers.satisfaction: 1 row above 10" in done.stderr + done.stdout
    assert not (tmp_path / "r").exists() or not list((tmp_path / "r").glob("*/manifest.json"))
    (bad / "customers.parquet").write_text("not a parquet file")  # unreadable: the pandas check says so
    with pytest.raises(ValueError, match="(?i)parquet"):
        scale.checked_fingerprint(bad, threshold=1)


def test_person_period_in_duckdb_equals_the_one_from_collapsed_rows(both):
    src, _, _ = both
    cols = ["customer_type", "quadrant", "contract"]
    a = pwe.person_period(src.collapse(cols), columns=cols, width=1.0)
    b = src.person_period(cols, width=1.0)
    key = [pwe.INTERVAL, *cols]
    a, b = a.sort_values(key, ignore_index=True), b.sort_values(key, ignore_index=True)
    assert a[key].astype(str).equals(b[key].astype(str))
    assert np.allclose(a[[pwe.EVENTS, pwe.EXPOSURE]], b[[pwe.EVENTS, pwe.EXPOSURE]], atol=1e-6)


def test_cox_groups_tenure_into_months_when_rows_would_be_too_many(both):
    src, _, customers = both
    exact = scale.cox_with_ph_check(src, COVARIATES, strata=["contract"])
    grouped = scale.cox_with_ph_check(src, COVARIATES, strata=["contract"], max_rows=100)
    assert exact.resolution is None and grouped.resolution == 1.0 and grouped.rows < exact.rows
    assert "grouped into whole months" in grouped.fit_note() and "grouped" not in exact.fit_note()
    assert np.abs(exact.final.params_ - grouped.final.params_).max() < 0.02


def test_ph_check_flags_material_changes_not_every_significant_one(both):
    """Millions of customers make slight non-proportionality significant; only a material change is remedied."""
    src, _, _ = both
    cols = ["customer_type", "contract"]
    pp = src.person_period(cols).dropna()
    huge = pp.assign(**{pwe.EVENTS: pp[pwe.EVENTS] * 2000, pwe.EXPOSURE: pp[pwe.EXPOSURE] * 2000})
    check = pwe.ph_check(huge, covariates=cols).set_index("covariate")
    assert check.loc["contract", "violated"] and check.loc["contract", "change"] > 1.25
    assert check.loc["customer_type", "significant"] and not check.loc["customer_type", "violated"]
    assert check.loc["customer_type", "change"] < 1.25
    strict = pwe.ph_check(huge, covariates=cols, material=1.0).set_index("covariate")
    assert strict["violated"].all()


def test_a_passed_check_is_remembered_for_the_same_bytes(tmp_path, medium, monkeypatch):
    from helpers import config
    monkeypatch.setattr(config, "PROCESSED", tmp_path / "processed")
    calls = []
    real = scale.check
    monkeypatch.setattr(scale, "check", lambda src: calls.append(src.name) or real(src))
    src = scale.Source(medium)
    first = scale.checked(src)
    assert scale.checked(src) == first and len(calls) == 1
    assert list((tmp_path / "processed" / ".checked").iterdir())[0].name.startswith(first)


def test_a_term_without_events_does_not_stop_the_fit():
    """A level with no churn has no finite estimate (as in any Poisson GLM); the others are still estimated."""
    rng = np.random.default_rng(3)
    n = 3000
    x = rng.choice(["a", "b", "c"], n, p=[0.5, 0.45, 0.05])
    g = rng.integers(0, 2, n).astype(float)
    t = rng.exponential(10 / np.exp(0.5 * g + 0.4 * (x == "b")), n)
    churned = (t < 24) & (x != "c")  # level c never churns
    rows = pd.DataFrame({S.TENURE: np.minimum(t, 24), S.CHURNED: churned, "x": x, "g": g, W: 1})
    pp = pwe.person_period(rows, columns=["x", "g"])
    fast = pwe.fit_pwe(pp, covariates=["x", "g"])
    glm = pwe.fit_pwe(pp, covariates=["x", "g"], method="glm")
    assert fast.params_["x[c]"] < -10 and fast.summary.loc["x[c]", "se(coef)"] > 10
    for term in ("x[b]", "g"):
        assert fast.params_[term] == pytest.approx(glm.params_[term], abs=1e-4)
        assert fast.summary.loc[term, "se(coef)"] == pytest.approx(glm.summary.loc[term, "se(coef)"], rel=1e-3)


def test_ph_check_statistic_is_the_likelihood_ratio_of_statsmodels_glm_fits(both):
    """Reference for `pwe.ph_check`: the same interaction model fitted by statsmodels' GLM, LR by hand."""
    from scipy import stats as st
    src, _, _ = both
    cols = ["customer_type", "contract"]
    pp = src.person_period(cols).dropna().reset_index(drop=True)
    check = pwe.ph_check(pp, covariates=cols, split_at=12.0).set_index("covariate")
    base = pwe.fit_pwe(pp, covariates=cols, method="glm")
    late = (pp["start"] >= 12.0).astype(float)
    inter = encode(pp, ["contract"]).mul(late, axis=0).add_suffix(":late")
    alt = pwe.fit_pwe(pp, covariates=cols, extra=inter, method="glm")
    stat = 2 * (alt.loglik - base.loglik)
    assert check.loc["contract", "statistic"] == pytest.approx(stat, rel=1e-6)
    assert check.loc["contract", "p"] == pytest.approx(st.chi2.sf(stat, inter.shape[1]), rel=1e-6, abs=1e-300)


# ---- a validation the runner passed, handed to its kernel --------------------------------------------------
def _counting_loads(monkeypatch) -> list:
    """Calls of `load_dataset` (the validating load) from now on."""
    from helpers.data import io

    calls, real = [], io.load_dataset
    monkeypatch.setattr(io, "load_dataset", lambda dataset: calls.append(str(dataset)) or real(dataset))
    return calls


def test_a_validation_handed_over_for_the_same_bytes_is_not_repeated(dataset, monkeypatch):
    ds = load_dataset(dataset)
    monkeypatch.setenv(scale.CHECKED_ENV, f"other,{scale.validation_token(ds.fingerprint)}")
    calls = _counting_loads(monkeypatch)
    fast = scale.load_validated(dataset)
    assert calls == []  # not validated again: the tables are what validation returns for these bytes
    assert (fast.name, fast.source, fast.fingerprint, fast.truth) == (ds.name, ds.source, ds.fingerprint, ds.truth)
    assert list(fast.tables) == list(ds.tables)
    for name, table in ds.tables.items():
        pd.testing.assert_frame_equal(fast.tables[name], table, check_exact=True)
    data = scale.open_data(dataset)
    assert calls == [] and data.engine == "rows" and data.n == len(ds.customers)
    monkeypatch.delenv(scale.CHECKED_ENV)
    scale.load_validated(dataset)
    assert calls == [str(dataset)]  # no token (a notebook run by hand): validated


def _edited_copy(dataset, folder, edit, *, tables=("*",)):
    """A copy of ``dataset`` (its ``tables``) whose validated customers ``edit`` changed, in the contract's dtypes."""
    folder.mkdir()
    for pattern in tables:
        for path in dataset.glob(f"{pattern}.parquet"):
            (folder / path.name).write_bytes(path.read_bytes())
    customers = load_dataset(folder).customers
    edit(customers)
    customers.to_parquet(folder / "customers.parquet", index=False)
    return folder


def test_a_changed_file_is_validated_again_whatever_token_was_handed(tmp_path, dataset, monkeypatch):
    clean = _edited_copy(dataset, tmp_path / "clean", lambda c: None, tables=[S.CUSTOMERS])
    token = scale.validation_token(load_dataset(clean).fingerprint)
    fp = token.split("-")[0]

    def negative(customers):
        customers.loc[[3, 7], S.MONTHLY_VALUE] = -1.0

    bad = _edited_copy(dataset, tmp_path / "bad", negative, tables=[S.CUSTOMERS])
    bad_fp = scale.fingerprint(scale.table_files(bad).values())
    calls = _counting_loads(monkeypatch)
    forged = [token,  # the token of the bytes before they changed
              bad_fp, f"{bad_fp}-", f"{bad_fp}-{'0' * 12}", f"{bad_fp}-{token.split('-')[1]}x",  # wrong code digest
              f" {bad_fp}-{token.split('-')[1]}".upper(), fp, "*", ".*", "", ",", ",,", "true", "1", "%s",
              "../" * 40 + "etc/passwd", "x" * 100_000, "\u202e" + token, f"{token}\n{bad_fp}"]
    for value in forged:
        monkeypatch.setenv(scale.CHECKED_ENV, value)
        with pytest.raises(DataError, match=r"customers.monthly_value: 2 rows below 0 \(rows 3, 7\)"):
            scale.load_validated(bad)
        with pytest.raises(DataError, match="monthly_value"):
            scale.open_data(bad)
    assert len(calls) == 2 * len(forged)
    monkeypatch.setenv(scale.CHECKED_ENV, token)
    scale.load_validated(clean)
    assert len(calls) == 2 * len(forged)  # the clean copy is what the token names


def test_only_files_already_typed_as_the_contract_skip_validation(tmp_path, dataset, monkeypatch):
    csv = tmp_path / "csv"
    csv.mkdir()
    load_dataset(dataset).customers.to_csv(csv / "customers.csv", index=False)  # CSV: validation gives the types

    def as_text(customers):
        customers[S.CONTRACT] = customers[S.CONTRACT].astype(str)  # not the contract's categorical dtype

    text = _edited_copy(dataset, tmp_path / "text", as_text)
    tokens = [scale.validation_token(load_dataset(folder).fingerprint) for folder in (csv, text)]
    monkeypatch.setenv(scale.CHECKED_ENV, ",".join(tokens))
    calls = _counting_loads(monkeypatch)
    for folder in (csv, text):
        pd.testing.assert_frame_equal(scale.load_validated(folder).customers, load_dataset(folder).customers)
    assert calls == [str(csv), str(text)]  # validated, though the token names these very bytes


def test_the_read_bytes_give_the_data_sets_fingerprint(dataset):
    files = scale.table_files(dataset)
    tables, fp = scale._read_fingerprinted(files)
    assert fp == scale.fingerprint(files.values()) == load_dataset(dataset).fingerprint
    assert set(tables) == set(files)

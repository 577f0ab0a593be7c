"""The exact Efron Cox fit from counts (`helpers.stats.efron`) against two other libraries, and recovery.

Tolerances, stated once:
- One row per customer, whole-month tenure (heavy ties): coefficients equal lifelines'
  CoxPHFitter (Efron ties; its Newton tolerance tightened to ``precision=1e-10``, since its
  default 1e-7 leaves about 1e-6 on its own estimates) and statsmodels' PHReg(ties="efron") to
  1e-6; standard errors to 1e-6 relative; log partial likelihoods to 1e-6.
- Collapsed counts with frequency weights vs the same customers one row each: 1e-8 (the
  likelihood is the same function, each customer one death in the tie correction).
- Closed-form tie sums (more than ``efron._DIRECT`` deaths at one time) vs term by term: 1e-9.
"""
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from lifelines import CoxPHFitter

from helpers.data.io import Dataset
from helpers.stats import churn, efron, survival

T, E, W = "tenure_months", "churned", "customers"
TERMS = ["x[b]", "x[c]", "g", "z"]
TIGHT = {"precision": 1e-10}  # lifelines' Newton tolerance, tightened (see the module docstring)


@pytest.fixture(scope="module")
def tied() -> pd.DataFrame:
    """4,000 customers, tenure in whole months (1-29): a few hundred churn in the same month."""
    rng = np.random.default_rng(5)
    n = 4000
    x, g, z, s = rng.integers(0, 3, n), rng.integers(0, 2, n), rng.integers(-2, 3, n), rng.integers(0, 3, n)
    t = np.ceil(rng.weibull(1.3 + 0.2 * s, n) * 14 / np.exp(0.4 * (x == 1) + 0.9 * (x == 2) - 0.5 * g + 0.2 * z))
    c = rng.integers(6, 30, n)
    return pd.DataFrame({T: np.minimum(t, c), E: (t <= c).astype(int), "x[b]": (x == 1) * 1.0,
                         "x[c]": (x == 2) * 1.0, "g": g * 1.0, "z": z * 1.0, "s": s})


def _counts(rows: pd.DataFrame, keys) -> pd.DataFrame:
    return rows.groupby(keys, as_index=False).size().rename(columns={"size": W})


def test_rows_equal_lifelines_and_statsmodels_efron(tied):
    fit = efron.fit_efron(tied, covariates=TERMS)
    assert fit.converged and fit.customers == len(tied) and fit.events == tied[E].sum()
    cph = CoxPHFitter().fit(tied[[T, E, *TERMS]], T, E, fit_options=TIGHT)
    assert np.abs(fit.params_ - cph.params_).max() < 1e-6
    assert np.allclose(fit.standard_errors_, cph.standard_errors_, rtol=1e-6, atol=0)
    assert fit.log_likelihood_ == pytest.approx(cph.log_likelihood_, abs=1e-6)
    ph = sm.PHReg(tied[T], tied[TERMS], status=tied[E], ties="efron").fit()
    assert np.abs(fit.params_.to_numpy() - ph.params).max() < 1e-6
    assert np.allclose(fit.standard_errors_, ph.bse, rtol=1e-6, atol=0)
    assert fit.log_likelihood_ == pytest.approx(ph.llf, abs=1e-6)
    ci = fit.confidence_intervals_
    assert np.allclose(ci.to_numpy(), cph.confidence_intervals_.to_numpy(), atol=1e-6)
    assert list(fit.summary.columns[:3]) == ["coef", "exp(coef)", "se(coef)"]


def test_counts_give_exactly_the_estimates_of_the_expanded_rows(tied):
    counts = _counts(tied, [T, E, *TERMS])
    assert len(counts) < len(tied) / 2 and counts.loc[counts[E] == 1, W].max() > 1
    rows, weighted = efron.fit_efron(tied, covariates=TERMS), efron.fit_efron(counts, covariates=TERMS, weights=W)
    assert np.abs(rows.params_ - weighted.params_).max() < 1e-8
    assert np.abs(rows.standard_errors_ - weighted.standard_errors_).max() < 1e-8
    assert weighted.log_likelihood_ == pytest.approx(rows.log_likelihood_, abs=1e-8)
    assert (weighted.customers, weighted.events) == (rows.customers, rows.events)
    # lifelines' weighted Efron counts tied rows, not customers: visibly off on the same counts
    lifelines_weighted = CoxPHFitter().fit(counts[[T, E, *TERMS, W]], T, E, weights_col=W, fit_options=TIGHT)
    assert np.abs(lifelines_weighted.params_ - rows.params_).max() > 1e-4


def test_closed_form_tie_sums_equal_the_term_by_term_sums(tied, monkeypatch):
    counts = _counts(tied, [T, E, *TERMS]).assign(**{W: lambda d: d[W] * 40})  # up to ~10,000 deaths a month
    deaths = counts[counts[E] == 1].groupby(T)[W].sum()
    assert deaths.max() > efron._DIRECT > deaths.min()
    mixed = efron.fit_efron(counts, covariates=TERMS, weights=W)
    monkeypatch.setattr(efron, "_DIRECT", 10 ** 9)
    direct = efron.fit_efron(counts, covariates=TERMS, weights=W)
    monkeypatch.setattr(efron, "_DIRECT", 0)
    closed = efron.fit_efron(counts, covariates=TERMS, weights=W)
    for other in (direct, closed):
        assert np.abs(mixed.params_ - other.params_).max() < 1e-9
        assert np.allclose(mixed.standard_errors_, other.standard_errors_, rtol=1e-9)
        assert mixed.log_likelihood_ == pytest.approx(other.log_likelihood_, rel=1e-12)


def test_strata_equal_lifelines_on_rows_and_counts_equal_rows(tied):
    fit = efron.fit_efron(tied, covariates=TERMS, strata="s")
    cph = CoxPHFitter().fit(tied[[T, E, *TERMS, "s"]], T, E, strata=["s"], fit_options=TIGHT)
    assert np.abs(fit.params_ - cph.params_).max() < 1e-6
    assert np.allclose(fit.standard_errors_, cph.standard_errors_, rtol=1e-6, atol=0)
    assert fit.log_likelihood_ == pytest.approx(cph.log_likelihood_, abs=1e-6)
    counts = efron.fit_efron(_counts(tied, [T, E, *TERMS, "s"]), covariates=TERMS, strata=["s"], weights=W)
    assert np.abs(fit.params_ - counts.params_).max() < 1e-8


def test_recovers_the_planted_customer_type_effect(default_data):
    # recovery: the generator's planted log-HR (truth.json, cox_log_hr) lies in the 95% interval of
    # the contract-stratified model of tests/test_churn.py, and the interval is informative
    tables, truth = default_data
    customers = churn.prepare(Dataset("synthetic", None, tables, "test", truth))
    covariates = ["customer_type", "satisfaction", "log2_monthly_value", "wallet_share", "below_parity", "quadrant"]
    design, _ = survival.cox_design(customers, covariates=covariates, strata=["contract"], duration=T, event=E)
    terms = [c for c in design.columns if c not in (T, E, "contract")]
    fit = efron.fit_efron(design, covariates=terms, strata="contract")
    lo, hi = fit.confidence_intervals_.loc["customer_type[group]"]
    assert lo < truth["cox_log_hr"]["customer_type[group]"] < hi and np.exp(hi - lo) < 1.5


def test_a_stratum_without_events_adds_nothing(tied):
    quiet = tied.sample(500, random_state=1).assign(s=9, **{E: 0})  # a stratum in which nobody churns
    with_quiet = pd.concat([tied, quiet], ignore_index=True)
    a = efron.fit_efron(tied, covariates=TERMS, strata="s")
    b = efron.fit_efron(with_quiet, covariates=TERMS, strata="s")
    assert np.abs(a.params_ - b.params_).max() < 1e-12 and b.log_likelihood_ == pytest.approx(a.log_likelihood_)
    assert b.customers == len(tied) + 500 and b.events == a.events
    cph = CoxPHFitter().fit(with_quiet[[T, E, *TERMS, "s"]], T, E, strata=["s"], fit_options=TIGHT)
    assert np.abs(b.params_ - cph.params_).max() < 1e-6
    with pytest.raises(ValueError, match="no churn events: the Cox model has nothing to fit"):
        efron.fit_efron(quiet, covariates=TERMS)


def test_perfect_separation_raises_or_is_flagged(tied):
    separated = tied.assign(**{E: tied[E] * (1 - tied["x[c]"])})  # nobody with x = c churns
    with pytest.raises(efron.ConvergenceError, match=r"no convergence after 50 Newton steps; coefficients running "
                                                     r"off: x\[c\] \(-\d+\.\d\) -- a term that separates"):
        efron.fit_efron(separated, covariates=TERMS)
    flagged = efron.fit_efron(separated, covariates=TERMS, strict=False)
    assert not flagged.converged and flagged.iterations == 50 and "x[c]" in flagged.message
    assert flagged.params_["x[c]"] < -10 and flagged.standard_errors_["x[c]"] > 100
    # the other terms are those of the customers who can churn (the separated ones leave every risk set)
    rest = efron.fit_efron(separated[separated["x[c]"] == 0], covariates=["x[b]", "g", "z"])
    assert np.abs(flagged.params_[["x[b]", "g", "z"]] - rest.params_).max() < 1e-8


def test_a_warm_start_reaches_the_same_optimum_in_fewer_steps(tied):
    cold = efron.fit_efron(tied, covariates=TERMS)
    near = efron.fit_efron(tied, covariates=TERMS, init=cold.params_.to_numpy() + 0.05)
    far = efron.fit_efron(tied, covariates=TERMS, init=[1.0, -1.0, 0.5, 0.0])
    for fit in (near, far):
        assert fit.converged and np.abs(fit.params_ - cold.params_).max() < 1e-10
    assert near.iterations < cold.iterations
    for bad in ([0.0], [0.0, 0.0, np.nan, 0.0]):
        with pytest.raises(ValueError, match="init: give 4 finite starting coefficients, one per covariate"):
            efron.fit_efron(tied, covariates=TERMS, init=bad)


def test_bad_inputs_say_what_to_fix(tied):
    with pytest.raises(ValueError, match="covariate 'x' is object, not numeric: encode it first"):
        efron.fit_efron(tied.assign(x="a"), covariates=["x"])
    with pytest.raises(ValueError, match="weights 'w' must be whole numbers of customers"):
        efron.fit_efron(tied.assign(w=0.5), covariates=TERMS, weights="w")
    with pytest.raises(ValueError, match="missing values in g: drop incomplete rows"):
        efron.fit_efron(tied.assign(g=np.where(tied.index == 3, np.nan, tied["g"])), covariates=TERMS)


def test_a_term_without_information_has_an_unbounded_variance_not_zero():
    var = efron._variance(np.array([[4.0, 0.0], [0.0, 0.0]]))  # singular: the second term carries nothing
    assert var[0, 0] == pytest.approx(0.25) and var[1, 1] == np.inf
    assert np.allclose(efron._variance(np.array([[4.0, 1.0], [1.0, 2.0]])), np.linalg.inv([[4.0, 1.0], [1.0, 2.0]]))

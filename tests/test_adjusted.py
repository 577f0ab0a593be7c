"""Adjusted survival curves (`helpers.stats.adjusted`): recovery of a known marginal effect, agreement
of the two adjustments, and reference values computed with lifelines by hand.

The simulated customers follow a Cox model exactly: hazard ``exp(log_hr[arm] + log(2) risk +
contract effect) / 20`` per month, so the standardized curves are estimated from a correct model.
Who is in which arm depends on ``risk`` (the riskier, the more likely targeted): confounding. The
true marginal restricted mean of each arm is that of the whole population had everyone been in it,
computed from simulated potential outcomes of 400,000 customers (common random numbers, so the
Monte Carlo error of the difference is about 0.01 month).
"""
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.discrete.discrete_model as dm
from lifelines import CoxPHFitter, KaplanMeierFitter

from helpers import plots
from helpers.data import schema as S
from helpers.stats import adjusted as A
from helpers.stats.survival import km_table, rmst, rmst_difference

ARM, RISK, CONTRACT = "arm", "risk", "contract"
COVARIATES = [RISK, CONTRACT]
LEVELS = ("control", "placebo", "treatment")
LOG_HR = {"control": 0.0, "placebo": 0.0, "treatment": np.log(0.6)}  # placebo: no effect at all
CONTRACT_LOG_HR = {"month-to-month": 0.0, "one-year": -0.5, "two-year": -1.0}
HORIZON = 24.0
# lifelines' Newton-Raphson run to machine precision. By default it stops when the Newton decrement is below
# 1e-7, before taking that last step, which leaves about 1e-7 in its coefficients; the module's exact Efron
# fit (`efron.fit_efron`) takes it. Run this far, lifelines' curves equal the module's to about 1e-15.
EXACT = {"precision": 1e-30, "r_precision": 0.0}


def _days(months: np.ndarray) -> np.ndarray:
    """Whole days, as the schema derives tenure, so there are ties as in real data."""
    return np.ceil(months * S.DAYS_PER_MONTH) / S.DAYS_PER_MONTH


def _covariates(n: int, rng, confounding: float):
    """Risk score, contract, their log hazard, and an arm whose odds rise with risk by ``confounding``."""
    risk = rng.normal(size=n)
    contract = rng.choice(list(CONTRACT_LOG_HR), n, p=[0.5, 0.3, 0.2])
    log_hazard = np.log(2) * risk + pd.Series(contract).map(CONTRACT_LOG_HR).to_numpy()
    score = np.column_stack([np.zeros(n), confounding * risk, confounding * risk + 0.3])
    p = np.exp(score) / np.exp(score).sum(axis=1, keepdims=True)
    arm = np.array(LEVELS)[(rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)]
    return risk, contract, log_hazard, arm


def simulate(n: int, *, seed: int, confounding: float = 1.0) -> pd.DataFrame:
    """Customers under the Cox model above, censored uniformly between 12 and 40 months."""
    rng = np.random.default_rng(seed)
    risk, contract, log_hazard, arm = _covariates(n, rng, confounding)
    churn = _days(rng.exponential(20 * np.exp(-(log_hazard + pd.Series(arm).map(LOG_HR).to_numpy()))))
    censor = _days(rng.uniform(12, 40, n))
    return pd.DataFrame({S.TENURE: np.minimum(churn, censor), S.CHURNED: churn <= censor, ARM: arm, RISK: risk,
                         CONTRACT: contract})


@pytest.fixture(scope="module")
def truth() -> dict:
    """True restricted mean tenure (months of the first 24) of the population under each arm."""
    rng = np.random.default_rng(99)
    _, _, log_hazard, _ = _covariates(400_000, rng, 0.0)
    e = rng.exponential(size=400_000)  # the same draw under every arm: common random numbers
    return {level: float(np.mean(np.minimum(_days(e * 20 * np.exp(-(log_hazard + LOG_HR[level]))), HORIZON)))
            for level in LEVELS}


@pytest.fixture(scope="module")
def confounded() -> pd.DataFrame:
    return simulate(1000, seed=3)


@pytest.fixture(scope="module")
def difference(confounded) -> pd.DataFrame:
    """The one large bootstrap of the file (60 resamples: about 1 s of CPU)."""
    return A.adjusted_rmst_difference(confounded, group=ARM, covariates=COVARIATES, horizon=HORIZON, reps=60,
                                      seed=1).set_index(ARM)


# ---- recovery of a known effect ----------------------------------------------------------------
def test_the_simulated_truth_matches_its_closed_form(truth):
    # Given the covariates, tenure is exponential with rate r and its restricted mean is
    # (1 - exp(-r tau)) / r; averaged over risk ~ N(0, 1) (Gauss-Hermite, 40 nodes) and the contract
    # mix. Rounding tenures up to whole days adds less than a day (0.033 month); Monte Carlo
    # error of 400,000 draws is about 0.015 month: tolerance 0.06.
    nodes, weights = np.polynomial.hermite_e.hermegauss(40)
    weights = weights / weights.sum()
    for level in LEVELS:
        expected = 0.0
        for (_, log_hr), share in zip(CONTRACT_LOG_HR.items(), [0.5, 0.3, 0.2]):
            r = np.exp(np.log(2) * nodes + log_hr + LOG_HR[level]) / 20
            expected += share * np.sum(weights * (1 - np.exp(-r * HORIZON)) / r)
        assert truth[level] == pytest.approx(expected, abs=0.06)
    assert truth["control"] == truth["placebo"]


def test_standardized_difference_recovers_the_truth_where_the_crude_one_is_biased(difference, truth):
    true_diff = truth["treatment"] - truth["control"]  # 2.50 months
    row = difference.loc["treatment"]
    # Tolerance 1.2 months = 3 SD of the estimate over 16 simulated data sets of this size and design
    # (SD 0.41, measured while writing the test); the crude KM difference is off by about 2.5 months.
    assert abs(row["difference"] - true_diff) < 1.2
    assert abs(row["crude_difference"] - true_diff) > 2.0
    assert row["lower"] < true_diff < row["upper"]
    assert row["upper"] - row["lower"] < 3.0  # not absurdly wide (4 SD is about 1.6)
    assert row["p"] < 0.01 and row["reps"] == 60


def test_a_level_without_effect_has_an_interval_that_covers_zero(difference):
    row = difference.loc["placebo"]
    assert row["lower"] < 0 < row["upper"] and row["upper"] - row["lower"] < 3.5
    assert row["crude_upper"] < 0  # the crude comparison wrongly finds placebo customers churning faster


def test_the_difference_is_the_area_between_the_standardized_curves(confounded, difference):
    curves = A.standardized_curves(confounded, group=ARM, covariates=COVARIATES)
    area = A.curve_rmst(curves, group=ARM, horizon=HORIZON)
    for level in ("placebo", "treatment"):
        assert difference.loc[level, "difference"] == pytest.approx(area[level] - area["control"], abs=1e-9)
        assert difference.loc[level, "rmst_reference"] == pytest.approx(area["control"], abs=1e-9)
    crude = rmst_difference(confounded, group=ARM, horizon=HORIZON).set_index(ARM)
    assert difference["crude_difference"].to_dict() == pytest.approx(crude["difference"].to_dict(), abs=1e-12)


def test_ipw_kaplan_meier_agrees_with_standardization():
    # Two estimators of the same curves, one from the churn model, one from the arm model. Over 8
    # data sets of this size the largest pointwise gap up to 24 months was 0.031 and the gap in
    # the RMST difference at most 0.36 months: tolerances 0.04 and 0.5.
    df = simulate(4000, seed=11)
    standardized = A.standardized_curves(df, group=ARM, covariates=COVARIATES)
    weighted = A.ipw_km_curves(df, group=ARM, covariates=COVARIATES)
    both = standardized.merge(weighted, on=[ARM, "time"], suffixes=("", "_ipw"))
    assert len(both) == len(standardized) == len(weighted)
    early = both[both["time"] <= HORIZON]
    assert (early["survival"] - early["survival_ipw"]).abs().max() < 0.04
    a, b = A.curve_rmst(standardized, group=ARM, horizon=HORIZON), A.curve_rmst(weighted, group=ARM, horizon=HORIZON)
    assert ((a - b).abs() < 0.4).all()
    assert abs((a["treatment"] - a["control"]) - (b["treatment"] - b["control"])) < 0.5


def test_without_confounding_adjusted_is_close_to_crude(truth):
    # Arms independent of the covariates: both estimate the same marginal difference; they differ by
    # the chance imbalance only (gap SD about 0.2 month at this size over 6 data sets; tolerance 0.6).
    df = simulate(3000, seed=5, confounding=0.0)
    area = A.curve_rmst(A.standardized_curves(df, group=ARM, covariates=COVARIATES), group=ARM, horizon=HORIZON)
    crude = rmst_difference(df, group=ARM, horizon=HORIZON).set_index(ARM)["difference"]
    for level in ("placebo", "treatment"):
        assert abs((area[level] - area["control"]) - crude[level]) < 0.6


# ---- reference values: lifelines by hand ---------------------------------------------------------
@pytest.fixture
def tiny() -> pd.DataFrame:
    return pd.DataFrame({
        S.TENURE: [2.0, 3, 3, 5, 6, 7, 8, 9, 11, 12, 4, 10],
        S.CHURNED: [True, True, False, True, True, False, True, True, False, True, True, False],
        ARM: list("aabbabbaabab"),
        RISK: [0.5, -1.0, 0.3, 1.2, -0.4, 0.0, 0.8, -0.6, 0.2, -1.1, 0.9, -0.2],
        CONTRACT: ["m", "m", "y", "m", "y", "y", "m", "y", "m", "y", "m", "y"],
    })


def _by_hand(tiny: pd.DataFrame, strata=None) -> dict:
    """lifelines fitted on hand-made dummies (to machine precision: `EXACT`); each customer predicted in each
    arm; plain mean."""
    X = pd.DataFrame({"arm[b]": (tiny[ARM] == "b").astype(float), RISK: tiny[RISK],
                      "contract[y]": (tiny[CONTRACT] == "y").astype(float)})
    if strata:
        X = X.drop(columns="contract[y]").assign(**{CONTRACT: tiny[CONTRACT]})
    data = X.assign(**{S.TENURE: tiny[S.TENURE], S.CHURNED: tiny[S.CHURNED].astype(int)})
    cph = CoxPHFitter().fit(data, duration_col=S.TENURE, event_col=S.CHURNED, strata=strata, fit_options=EXACT)
    return {level: cph.predict_survival_function(X.assign(**{"arm[b]": float(level == "b")}),
                                                 times=cph.timeline).mean(axis=1)
            for level in ("a", "b")}


@pytest.mark.parametrize("strata", [None, [CONTRACT]])
def test_standardized_curves_match_lifelines_by_hand(tiny, strata):
    covariates = [RISK] if strata else COVARIATES
    curves = A.standardized_curves(tiny, group=ARM, covariates=covariates, strata=strata)
    for level, expected in _by_hand(tiny, strata).items():
        mine = curves[curves[ARM] == level].set_index("time")["survival"]
        assert mine.loc[0.0] == 1.0  # no tenure 0: everyone is still a customer at 0
        np.testing.assert_allclose(mine.loc[expected.index].to_numpy(), expected.to_numpy(), rtol=0, atol=1e-12)


def _lifelines_standardized(df: pd.DataFrame, strata, fit_options=None) -> dict:
    """Level -> lifelines' CoxPHFitter (Efron ties) on one row per customer, every customer predicted in the
    level by `predict_survival_function`, plain mean: a Series on lifelines' timeline."""
    X = pd.DataFrame({f"arm[{level}]": (df[ARM] == level).astype(float) for level in LEVELS[1:]}).assign(
        **{RISK: df[RISK]})
    if strata:
        X[CONTRACT] = df[CONTRACT]
    else:
        X = X.assign(**{f"contract[{c}]": (df[CONTRACT] == c).astype(float) for c in ("one-year", "two-year")})
    data = X.assign(**{S.TENURE: df[S.TENURE], S.CHURNED: df[S.CHURNED].astype(int)})
    cph = CoxPHFitter().fit(data, duration_col=S.TENURE, event_col=S.CHURNED, strata=strata, fit_options=fit_options)
    out = {}
    for level in LEVELS:
        everyone = X.assign(**{f"arm[{other}]": float(other == level) for other in LEVELS[1:]})
        out[level] = cph.predict_survival_function(everyone, times=cph.timeline).mean(axis=1)
    return out


@pytest.mark.parametrize("strata", [None, [CONTRACT]])
def test_standardized_curves_and_rmsts_match_lifelines_on_tied_customers(confounded, difference, strata):
    # Reference: lifelines' CoxPHFitter (Efron ties, Breslow baseline) on the 1,000 customers, one row each, with
    # 145 tied churn days, and its predict_survival_function averaged -- what this module computed before it
    # used efron.fit_efron. Against lifelines run to machine precision (EXACT) the curves agree to 1e-12
    # (measured 3e-15) and the RMSTs to 1e-11 months (measured 7e-15). Against lifelines' default stopping
    # rule, which leaves about 1e-7 in its coefficients, to 1e-6 in survival and 1e-5 months (24 x 1e-6, the
    # area under the curve's error) in RMST (measured 2e-7 and 4e-6, stratified).
    covariates = [RISK] if strata else COVARIATES
    curves = A.standardized_curves(confounded, group=ARM, covariates=covariates, strata=strata)
    mine = A.curve_rmst(curves, group=ARM, horizon=HORIZON)
    if not strata:  # adjusted_rmst_difference's point estimates are these areas
        assert difference["rmst"].to_dict() == pytest.approx(mine.drop("control").to_dict(), abs=1e-12)
    for fit_options, survival_tol, rmst_tol in [(EXACT, 1e-12, 1e-11), (None, 1e-6, 1e-5)]:
        for level, expected in _lifelines_standardized(confounded, strata, fit_options).items():
            curve = curves[curves[ARM] == level].set_index("time")["survival"]
            np.testing.assert_allclose(curve.loc[expected.index].to_numpy(), expected.to_numpy(), rtol=0,
                                       atol=survival_tol)
            knots = expected.index[expected.index <= HORIZON].to_numpy()
            area = knots[0] + np.sum(expected.loc[knots].to_numpy() * np.diff(np.r_[knots, HORIZON]))
            assert mine[level] == pytest.approx(area, abs=rmst_tol)


def test_curves_at_chosen_times_are_the_full_curves_read_there(tiny):
    full = A.standardized_curves(tiny, group=ARM, covariates=COVARIATES)
    times = [0.0, 1.5, 3.0, 7.9, 12.0, 50.0]  # between steps, on steps, past the last follow-up
    some = A.standardized_curves(tiny, group=ARM, covariates=COVARIATES, times=times)
    for level in ("a", "b"):
        curve = full[full[ARM] == level]
        expected = [curve.loc[curve["time"] <= t, "survival"].iloc[-1] for t in times]
        np.testing.assert_allclose(some.loc[some[ARM] == level, "survival"], expected, rtol=0, atol=1e-12)


def test_adjusted_difference_matches_the_step_integral_by_hand(tiny):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 12 customers: some resamples barely converge
        out = A.adjusted_rmst_difference(tiny, group=ARM, covariates=COVARIATES, horizon=10, reps=20)
    areas = {}
    for level, s in _by_hand(tiny).items():
        knots = s.index[s.index <= 10].to_numpy()
        areas[level] = knots[0] * 1.0 + np.sum(s.loc[knots].to_numpy() * np.diff(np.r_[knots, 10.0]))
    assert out.loc[0, "difference"] == pytest.approx(areas["b"] - areas["a"], abs=1e-10)
    assert out.loc[0, "reference"] == "a" and out.loc[0, "horizon"] == 10 and out.loc[0, "reps"] >= 10


def test_ipw_curves_match_a_logistic_model_and_weighted_kaplan_meier_by_hand(tiny):
    X = pd.DataFrame({"const": 1.0, RISK: tiny[RISK], "contract[y]": (tiny[CONTRACT] == "y").astype(float)})
    b = (tiny[ARM] == "b").astype(float)
    p = dm.Logit(b, X).fit(disp=0).predict(X)
    w = np.where(b == 1, 1 / p, 1 / (1 - p))
    curves = A.ipw_km_curves(tiny, group=ARM, covariates=COVARIATES)
    for level in ("a", "b"):
        mine = (tiny[ARM] == level).to_numpy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            kmf = KaplanMeierFitter().fit(tiny.loc[mine, S.TENURE], tiny.loc[mine, S.CHURNED], weights=w[mine])
        expected = kmf.survival_function_at_times(curves.loc[curves[ARM] == level, "time"]).to_numpy()
        np.testing.assert_allclose(curves.loc[curves[ARM] == level, "survival"], expected, atol=1e-8)


def test_curve_rmst_of_a_kaplan_meier_table_is_lifelines_rmst(tiny):
    km = km_table(tiny, group=ARM)
    area = A.curve_rmst(km, group=ARM, horizon=10)
    for level in ("a", "b"):
        assert area[level] == pytest.approx(rmst(tiny[tiny[ARM] == level], horizon=10)["estimate"], abs=1e-12)


# ---- the table: at-risk counts, weights, drawing ---------------------------------------------
def test_at_risk_counts_are_those_of_the_kaplan_meier_table(confounded):
    curves = A.standardized_curves(confounded, group=ARM, covariates=COVARIATES)
    km = km_table(confounded, group=ARM)
    merged = km.merge(curves, on=[ARM, "time"], suffixes=("_km", ""))
    assert len(merged) == len(km)
    assert (merged["at_risk_km"] == merged["at_risk"]).all()
    assert curves.columns.tolist() == [ARM, "time", "survival", "at_risk"]
    steps_up = curves.groupby(ARM)["survival"].diff().max()
    assert steps_up < 1e-12  # never rises (up to rounding of the average)


def test_collapsed_rows_with_weights_give_the_customer_level_curves():
    rng = np.random.default_rng(4)
    n = 600
    contract = rng.choice(["m", "y"], n)
    arm = np.where(rng.random(n) < np.where(contract == "m", 0.7, 0.3), "b", "a")
    tenure = np.ceil(rng.exponential(np.where(contract == "m", 6.0, 15.0) * np.where(arm == "b", 1.5, 1.0)))
    df = pd.DataFrame({S.TENURE: np.minimum(tenure, 18.0), S.CHURNED: tenure <= 18, ARM: arm, CONTRACT: contract})
    collapsed = df.groupby(list(df.columns)).size().rename("customers").reset_index()
    rows = A.standardized_curves(df, group=ARM, covariates=[CONTRACT], times=np.arange(0, 19.0))
    weighted = A.standardized_curves(collapsed, group=ARM, covariates=[CONTRACT], times=np.arange(0, 19.0),
                                     weights="customers")
    assert (rows["at_risk"] == weighted["at_risk"]).all()
    # Whole-month tenure, heavy ties: the exact Efron fit counts each customer once in the tie correction and
    # Breslow's baseline counts customers, so the collapsed rows are the same customers (measured 3e-15;
    # efron.fit_efron converges to 1e-9 in its coefficients: tolerance 1e-8)
    assert (rows["survival"] - weighted["survival"]).abs().max() < 1e-8


@pytest.mark.parametrize("strata", [None, [CONTRACT]])
def test_a_resample_is_the_fit_of_its_duplicated_rows(confounded, strata):
    # `_bootstrap` gives a drawn row the number of times it was drawn as its weight; that must be the
    # model and the curves of as many copies of it (measured 4e-15 months; tolerance 1e-8, as above).
    covariates = [RISK] if strata else COVARIATES
    model = {"group": ARM, "levels": list(LEVELS), "strata": strata or [], "duration": S.TENURE,
             "event": S.CHURNED, "horizon": HORIZON}
    design = A._design(confounded, covariates=covariates, weights=None, **{k: v for k, v in model.items()
                                                                          if k != "horizon"})
    counts = np.random.default_rng(2).multinomial(len(design), np.full(len(design), 1 / len(design)))
    drawn = design.assign(**{A._W: counts.astype(float)})[counts > 0]
    copies = design.loc[design.index.repeat(counts)].reset_index(drop=True)
    assert counts.max() > 2 and copies[A._W].eq(1).all()
    fit = {"duration": S.TENURE, "event": S.CHURNED, "strata": strata or []}
    np.testing.assert_allclose(A._rmsts(drawn, A._fit(drawn, **fit), **model),
                               A._rmsts(copies, A._fit(copies, **fit), **model), rtol=0, atol=1e-8)


def test_levels_follow_a_categorical_order_else_sorted(tiny):
    ordered = tiny.assign(**{ARM: pd.Categorical(tiny[ARM], categories=["c", "b", "a"])})  # "c" never occurs
    assert A.standardized_curves(ordered, group=ARM, covariates=[RISK])[ARM].unique().tolist() == ["b", "a"]
    assert A.ipw_km_curves(tiny, group=ARM, covariates=[RISK])[ARM].unique().tolist() == ["a", "b"]


def test_km_curves_draws_the_standardized_table(confounded):
    curves = A.standardized_curves(confounded, group=ARM, covariates=COVARIATES, times=np.arange(0, 37.0))
    ax = plots.km_curves(curves, group=ARM, ci=False, title="Adjusted for risk and contract")
    assert len(ax.get_lines()) == len(LEVELS)


# ---- inputs ----------------------------------------------------------------------------------------
def test_missing_columns_are_named(tiny):
    with pytest.raises(ValueError, match=r"the data has no column 'satisfaction'"):
        A.standardized_curves(tiny, group=ARM, covariates=[RISK, "satisfaction"])
    with pytest.raises(ValueError, match=r"no column 'segment'"):
        A.adjusted_rmst_difference(tiny, group="segment", covariates=[RISK], horizon=10)


def test_a_single_group_level_is_refused(tiny):
    with pytest.raises(ValueError, match=r"group 'arm' has 1 level\(s\) \('a'\) among the 12 complete customers"):
        A.standardized_curves(tiny.assign(**{ARM: "a"}), group=ARM, covariates=[RISK])
    with pytest.raises(ValueError, match=r"has 1 level"):
        A.ipw_km_curves(tiny.assign(**{ARM: "a"}), group=ARM, covariates=[RISK])


@pytest.mark.parametrize("horizon", [0, -6.0, float("nan")])
def test_a_non_positive_horizon_is_refused(tiny, horizon):
    with pytest.raises(ValueError, match=r"horizon=.*must be a positive number of months"):
        A.adjusted_rmst_difference(tiny, group=ARM, covariates=[RISK], horizon=horizon)
    with pytest.raises(ValueError, match=r"must be a positive number of months"):
        A.curve_rmst(km_table(tiny, group=ARM), group=ARM, horizon=horizon)


def test_other_inputs_that_cannot_work_say_what_to_fix(tiny):
    with pytest.raises(ValueError, match=r"reference 'c' is not a level of 'arm': choose one of 'a', 'b'"):
        A.adjusted_rmst_difference(tiny, group=ARM, covariates=[RISK], horizon=10, reference="c")
    with pytest.raises(ValueError, match=r"'arm' is the group and also a covariate"):
        A.standardized_curves(tiny, group=ARM, covariates=[RISK, ARM])
    with pytest.raises(ValueError, match=r"level\(s\) 'b' of 'arm' have no churn"):
        A.standardized_curves(tiny.assign(**{S.CHURNED: tiny[S.CHURNED] & (tiny[ARM] == "a")}), group=ARM,
                              covariates=[RISK])
    with pytest.raises(ValueError, match=r"times=\[-1.0\]: give one or more tenures >= 0"):
        A.standardized_curves(tiny, group=ARM, covariates=[RISK], times=[-1.0])
    with pytest.raises(ValueError, match=r"reps=5: a bootstrap interval needs at least 20 resamples"):
        A.adjusted_rmst_difference(tiny, group=ARM, covariates=[RISK], horizon=10, reps=5)


# ---- numeric covariates in bands, and the quadrant step of notebook 01 ------------------------------
def test_numeric_columns_go_into_quantile_bands_and_the_rest_is_kept():
    df = pd.DataFrame({"x": [1.0, 1.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, np.nan], "flag": [0.0, 1.0] * 5,
                       "g": list("ab") * 5, "b": [True, False] * 5})
    out = A.in_bands(df, ["x", "flag", "g", "b"], bands=3)
    assert out["x"].cat.categories.tolist() == ["1st of 3", "2nd of 3", "3rd of 3"]
    assert out["x"].iloc[:3].nunique() == 1 and pd.isna(out["x"].iloc[-1])  # ties share a band; missing stays
    assert out[["flag", "g", "b"]].equals(df[["flag", "g", "b"]])  # two values, text, booleans: as they were
    heavy = A.in_bands(pd.DataFrame({"x": [0.0] * 8 + [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]}), ["x"], bands=5)
    assert heavy["x"].cat.categories.size < 5  # a value holding over half the rows leaves fewer bands


def test_the_quadrant_step_standardizes_over_the_covariates_that_do_not_cut_the_quadrants(dataset):
    from helpers.data import segments
    from helpers.engine.scale import open_data
    from helpers.steps import churn as step

    data = open_data(dataset)
    covariates = ["contract", "customer_type", "satisfaction", "log2_monthly_value", "wallet_share", "quadrant"]
    out = step.adjusted_quadrants(data, covariates=covariates, horizon=12, reps=20, min_size=30)
    assert out.status == "ok", out.reason
    rows = A.in_bands(data.customers[[segments.QUADRANT, "contract", "customer_type", "wallet_share",
                                             S.TENURE, S.CHURNED]].dropna(), ["wallet_share"])
    rows[segments.QUADRANT] = rows[segments.QUADRANT].astype(str)  # in the crude curves' (sorted) order
    expected = A.adjusted_rmst_difference(rows, group=segments.QUADRANT, covariates=["contract", "customer_type",
                                                 "wallet_share"], horizon=12, reference="consolidate", reps=20)
    pd.testing.assert_frame_equal(out.value.reset_index(drop=True), expected)
    said = out.answers[0]
    assert said.sentence.startswith("With contract, customer type and wallet share held fixed, win-back customers")
    none_left = step.adjusted_quadrants(data, covariates=["satisfaction", "quadrant", "below_parity"], horizon=12)
    assert none_left.status == "skipped" and "nothing to hold fixed" in none_left.reason

"""helpers.stats.survival: each estimator against an independent reference and on data with known effects.

References: statsmodels (SurvfuncRight, survdiff, PHReg), scipy maximum likelihood, closed forms
written out here, hand-computed examples, and scikit-survival where it happens to be installed.
All data are simulated here with fixed seeds (helpers.data.synth is deliberately not used).
"""
import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats
from statsmodels.duration.hazard_regression import PHReg
from statsmodels.duration.survfunc import SurvfuncRight, survdiff
from statsmodels.stats.multitest import multipletests

from helpers.data import schema as S
from helpers.stats import survival as sv

T, E = S.TENURE, S.CHURNED
Z95 = stats.norm.ppf(0.975)


# ---- simulators ----------------------------------------------------------------------------
def exponential(n, rate, seed, censor_max=60.0, **columns):
    """Exponential churn times with uniform(0, censor_max) censoring."""
    rng = np.random.default_rng(seed)
    t, c = rng.exponential(1 / rate, n), rng.uniform(0, censor_max, n)
    return pd.DataFrame({T: np.minimum(t, c), E: t <= c, **columns})


def cox_data(n, seed, *, base_rate=0.04, hr_x1=0.6, hr_x2=0.85):
    """Exponential proportional hazards: x1 binary, x2 standard normal; no tied times."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.integers(0, 2, n), rng.normal(size=n)
    rate = base_rate * hr_x1**x1 * hr_x2**x2
    t, c = rng.exponential(1 / rate), rng.uniform(0, 60, n)
    return pd.DataFrame({T: np.minimum(t, c), E: t <= c, "x1": x1, "x2": x2})


def km_by_hand(t, e, tau):
    """RMST of a KM curve in numpy (for the bootstrap): step integral from 0 to tau."""
    times, inverse = np.unique(t, return_inverse=True)
    deaths, leaving = np.bincount(inverse, weights=e), np.bincount(inverse)
    at_risk = len(t) - np.r_[0, np.cumsum(leaving)[:-1]]
    surv = np.cumprod(1 - deaths / at_risk)
    keep = times < tau
    return float(np.sum(np.r_[1.0, surv[keep]] * np.diff(np.r_[0.0, times[keep], tau])))


# ---- Kaplan-Meier ----------------------------------------------------------------------------
@pytest.fixture
def tied():
    """Whole-month tenures (many ties) in three contract groups with different churn rates."""
    parts = [exponential(400, rate, seed, **{S.CONTRACT: name})
             for seed, (rate, name) in enumerate(zip([0.08, 0.04, 0.02], S.CONTRACTS))]
    df = pd.concat(parts, ignore_index=True)
    return df.assign(**{T: np.ceil(df[T])})


def test_km_table_matches_statsmodels_at_every_event_time(tied):
    # statsmodels SurvfuncRight is an independent KM; lifelines' log-log interval is
    # exp(-exp(log(-log S) -/+ z se / (S log S))) with statsmodels' Greenwood se (Kalbfleisch-Prentice)
    for name, sub in tied.groupby(S.CONTRACT):  # noqa: B007 (name is read by the query string)
        ref = SurvfuncRight(sub[T], sub[E])
        ours = sv.km_table(tied, group=S.CONTRACT).query(f"{S.CONTRACT} == @name").set_index("time")
        at = ours.loc[ref.surv_times]
        np.testing.assert_allclose(at["survival"], ref.surv_prob, atol=1e-6)
        np.testing.assert_array_equal(at["at_risk"], ref.n_risk)
        np.testing.assert_array_equal(at["events"], ref.n_events)
        s, se = ref.surv_prob[:-1], ref.surv_prob_se[:-1]  # the last may be S = 0
        half = Z95 * se / (s * np.log(s))
        np.testing.assert_allclose(at["lower"].iloc[:-1], np.exp(-np.exp(np.log(-np.log(s)) - half)), atol=1e-6)
        np.testing.assert_allclose(at["upper"].iloc[:-1], np.exp(-np.exp(np.log(-np.log(s)) + half)), atol=1e-6)
        assert ours.loc[0.0, "survival"] == 1.0


def test_km_table_without_group_has_no_group_column(tied):
    out = sv.km_table(tied)
    assert list(out.columns) == ["time", "survival", "lower", "upper", "at_risk", "events", "censored"]
    assert out["at_risk"].iloc[0] == len(tied) and out["events"].sum() == tied[E].sum()


def test_km_summary_recovers_exponential_median_and_survival():
    # exponential: median = ln 2 / rate, S(12) = exp(-12 rate), RMST(24) = (1 - exp(-24 rate)) / rate
    rate = 0.05
    df = exponential(3000, rate, seed=1)
    row = sv.km_summary(df, times=(12, 24), horizon=24).iloc[0]
    assert row["customers"] == 3000 and row["median_reached"]
    assert row["median_lower"] <= np.log(2) / rate <= row["median_upper"]
    assert row["survival_12_lower"] <= np.exp(-12 * rate) <= row["survival_12_upper"]
    assert row["rmst_lower"] <= (1 - np.exp(-24 * rate)) / rate <= row["rmst_upper"]
    assert row["rmst"] == pytest.approx(sv.rmst(df, horizon=24)["estimate"], abs=1e-12)


def test_km_summary_marks_an_unreached_median_and_unobserved_times():
    df = exponential(500, 0.005, seed=2, censor_max=30)  # about 7% churn: the curve stays far above 0.5
    row = sv.km_summary(df, times=(12, 40)).iloc[0]
    assert not row["median_reached"] and np.isnan(row["median"])
    assert np.isnan(row["survival_40"])  # beyond the last follow-up
    assert 0.9 < row["survival_12"] < 1


# ---- restricted mean ---------------------------------------------------------------------
def test_rmst_point_estimate_is_the_step_integral_of_the_statsmodels_curve(tied):
    tau = 24.5
    ref = SurvfuncRight(tied[T], tied[E])
    keep = ref.surv_times < tau
    area = np.sum(np.r_[1.0, ref.surv_prob[keep]] * np.diff(np.r_[0.0, ref.surv_times[keep], tau]))
    assert sv.rmst(tied, horizon=tau)["estimate"] == pytest.approx(area, abs=1e-9)


def test_rmst_se_by_hand_and_without_censoring():
    # times 1,2,3,4 all churned, tau = 4: S = 1, .75, .5, .25 on unit intervals, RMST = 2.5.
    # Var = A^2 d/(n(n-d)) summed: 1.5^2/(4*3) + .75^2/(3*2) + .25^2/(2*1) = .1875 + .09375 + .03125
    df = pd.DataFrame({T: [1.0, 2, 3, 4], E: True})
    r = sv.rmst(df, horizon=4)
    assert r["estimate"] == 2.5 and r["se"] == pytest.approx(np.sqrt(0.3125), abs=1e-12)
    # Without censoring the formula equals var(min(T, tau), ddof=0) / n (the SE of a plain mean)
    t = np.random.default_rng(3).exponential(20, 500)
    r = sv.rmst(pd.DataFrame({T: t, E: True}), horizon=24)
    assert r["se"] == pytest.approx(np.sqrt(np.var(np.minimum(t, 24)) / 500), rel=1e-9)
    assert r["lower"] == pytest.approx(r["estimate"] - Z95 * r["se"])


def test_rmst_se_agrees_with_the_bootstrap():
    # 400 bootstrap replicates estimate an SE with Monte Carlo relative error ~ 1/sqrt(2*400) = 3.5%;
    # the Greenwood-type SE is asymptotic but n = 800 is ample. 12% is about 3.4 Monte Carlo SDs.
    df = exponential(800, 0.05, seed=4, censor_max=40)
    t, e = df[T].to_numpy(), df[E].to_numpy(float)
    rng = np.random.default_rng(5)
    boot = [km_by_hand(t[i], e[i], 24) for i in rng.integers(0, len(t), size=(400, len(t)))]
    assert sv.rmst(df, horizon=24)["se"] == pytest.approx(np.std(boot, ddof=1), rel=0.12)
    assert km_by_hand(t, e, 24) == pytest.approx(sv.rmst(df, horizon=24)["estimate"], abs=1e-9)


def test_rmst_difference_covers_the_closed_form():
    # RMST(tau) of an exponential = (1 - exp(-rate tau)) / rate
    tau, slow, fast = 24, 0.03, 0.05
    df = pd.concat([exponential(1500, fast, 6, group="fast"), exponential(1500, slow, 7, group="slow")])
    truth = (1 - np.exp(-slow * tau)) / slow - (1 - np.exp(-fast * tau)) / fast
    out = sv.rmst_difference(df, group="group", horizon=tau)
    row = out.iloc[0]
    assert (row["group"], row["reference"]) == ("slow", "fast") and len(out) == 1
    assert row["lower"] <= truth <= row["upper"] and row["upper"] - row["lower"] < 2.0
    assert row["p"] < 1e-6
    a, b = (sv.rmst(df[df["group"] == g], horizon=tau) for g in ("slow", "fast"))
    assert row["se"] == pytest.approx(np.hypot(a["se"], b["se"]))
    flipped = sv.rmst_difference(df, group="group", horizon=tau, reference="slow").iloc[0]
    assert flipped["difference"] == pytest.approx(-row["difference"])


# ---- log-rank ------------------------------------------------------------------------------
def test_logrank_matches_statsmodels_survdiff_for_two_and_three_groups(tied):
    two = tied[tied[S.CONTRACT] != S.CONTRACTS[2]]
    for df, k in [(two, 2), (tied, 3)]:
        ref_stat, ref_p = survdiff(df[T], df[E], df[S.CONTRACT])
        out = sv.logrank(df, group=S.CONTRACT)
        assert out["statistic"] == pytest.approx(ref_stat, abs=1e-6)
        assert out["p"] == pytest.approx(ref_p, abs=1e-6) and out["df"] == k - 1


def test_pairwise_logrank_matches_survdiff_and_holm_by_hand(tied):
    out = sv.pairwise_logrank(tied, group=S.CONTRACT)
    assert len(out) == 3
    for _, row in out.iterrows():
        pair = tied[tied[S.CONTRACT].isin([row["group_a"], row["group_b"]])]
        assert row["statistic"] == pytest.approx(survdiff(pair[T], pair[E], pair[S.CONTRACT])[0], abs=1e-6)
    # Holm: sorted p(1) <= p(2) <= p(3); adjusted = running max of (m - i + 1) p(i), capped at 1
    p = out["p"].to_numpy()
    order = np.argsort(p)
    holm = np.minimum(1, np.maximum.accumulate(np.array([3, 2, 1]) * p[order]))
    np.testing.assert_allclose(out["p_adjusted"].to_numpy()[order], holm, rtol=1e-12)
    assert (out["reject"] == (out["p_adjusted"] < 0.05)).all()
    bh = sv.pairwise_logrank(tied, group=S.CONTRACT, method="fdr_bh")
    np.testing.assert_allclose(bh["p_adjusted"], multipletests(p, method="fdr_bh")[1])


# ---- Cox ------------------------------------------------------------------------------------
def test_cox_matches_statsmodels_phreg_without_ties():
    # continuous times, no ties: lifelines' Efron and statsmodels' Breslow partial likelihoods coincide
    df = cox_data(600, seed=8)
    df[S.CONTRACT] = np.random.default_rng(9).choice(S.CONTRACTS, len(df))
    cph = sv.fit_cox(df, covariates=["x1", "x2", S.CONTRACT])
    exog = pd.get_dummies(df[S.CONTRACT], dtype=float).iloc[:, 1:]
    exog = pd.concat([df[["x1", "x2"]].astype(float), exog], axis=1)
    ref = PHReg(df[T], exog, status=df[E].astype(float), ties="breslow").fit()
    hr = sv.hazard_ratios(cph)
    assert hr["term"].tolist() == ["x1", "x2", f"{S.CONTRACT}[{S.CONTRACTS[1]}]", f"{S.CONTRACT}[{S.CONTRACTS[2]}]"]
    np.testing.assert_allclose(hr["hr"], np.exp(ref.params), rtol=1e-4)
    np.testing.assert_allclose(hr["se"], ref.bse, rtol=1e-4)
    np.testing.assert_allclose(hr["lower"], np.exp(ref.params - Z95 * ref.bse), rtol=1e-4)


def test_cox_recovers_planted_hazard_ratios():
    cph = sv.fit_cox(cox_data(4000, seed=10), covariates=["x1", "x2"])
    hr = sv.hazard_ratios(cph).set_index("term")
    for term, truth in [("x1", 0.6), ("x2", 0.85)]:
        assert hr.loc[term, "lower"] <= truth <= hr.loc[term, "upper"]
        assert hr.loc[term, "upper"] / hr.loc[term, "lower"] < 1.3  # not absurdly wide
    assert 0.55 < cph.concordance_index_ < 0.7
    hr90 = sv.hazard_ratios(cph, confidence=0.9).set_index("term")
    assert hr.loc["x1", "lower"] < hr90.loc["x1", "lower"]


def test_fit_cox_uses_complete_cases_and_says_how_many_were_dropped():
    df = cox_data(300, seed=11)
    df.loc[[3, 7, 9], "x2"] = np.nan
    cph = sv.fit_cox(df, covariates=["x1", "x2"])
    assert cph.rows_dropped_ == 3 and len(cph.design_) == 297


# ---- proportional hazards ------------------------------------------------------------------
def nonph_data(n, seed, beta_x2=float(np.log(0.85))):  # noqa: B008
    """Group a: Weibull shape 0.7, group b: shape 1.6 (crossing hazards); x2 acts proportionally."""
    rng = np.random.default_rng(seed)
    g, x2 = rng.choice(["a", "b"], n), rng.normal(size=n)
    shape = np.where(g == "a", 0.7, 1.6)
    t = 20 * (rng.exponential(size=n) * np.exp(-beta_x2 * x2)) ** (1 / shape)
    c = rng.uniform(0, 60, n)
    return pd.DataFrame({T: np.minimum(t, c), E: t <= c, "g": g, "x2": x2})


def test_ph_check_flags_the_nonproportional_covariate_and_the_remedy_stratifies_it():
    df = nonph_data(3000, seed=12)
    cph = sv.fit_cox(df, covariates=["g", "x2"])
    check = sv.check_proportional_hazards(cph).set_index("covariate")
    assert check.loc["g", "violated"] and check.loc["g", "p"] < 1e-3
    assert not check.loc["x2", "violated"]
    model, text = sv.ph_remedy(df, check.reset_index(), covariates=["g", "x2"])
    assert list(np.atleast_1d(model.strata)) == ["g"] and list(model.params_.index) == ["x2"]
    hr = sv.hazard_ratios(model).iloc[0]
    assert hr["lower"] <= 0.85 <= hr["upper"]
    assert text == ("g violates proportional hazards (p < 0.001); the model is stratified by g, so its hazard "
                    "ratios are per-stratum comparisons and g gets no hazard ratio.")


def test_ph_remedy_gives_a_numeric_violator_one_hazard_ratio_per_period():
    # hazard 0.05 * 2^x before 6 months, 0.05 after: the effect of x vanishes at 6 months
    rng = np.random.default_rng(13)
    n, cut, base = 3000, 6.0, 0.05
    x = rng.normal(size=n)
    h_early = base * 2.0**x
    draw = rng.exponential(size=n)  # target cumulative hazard
    t = np.where(draw < h_early * cut, draw / h_early, cut + (draw - h_early * cut) / base)
    c = rng.uniform(0, 48, n)
    df = pd.DataFrame({T: np.minimum(t, c), E: t <= c, "x": x})
    check = sv.check_proportional_hazards(sv.fit_cox(df, covariates=["x"]))
    assert check["violated"].item()
    model, text = sv.ph_remedy(df, check, covariates=["x"], split_at=cut)
    hr = sv.hazard_ratios(model).set_index("term")
    assert hr.loc["x:early", "lower"] <= 2.0 <= hr.loc["x:early", "upper"]
    assert hr.loc["x:late", "lower"] <= 1.0 <= hr.loc["x:late", "upper"]
    assert "one hazard ratio before and one after 6.0 months" in text


def fading(n, seed, *, cut=6.0, base=0.05, whole_months=False, zeros=0):
    """Hazard base * 2^x before ``cut`` months, base after (the effect of x vanishes); z acts not at all,
    g is a two-level stratum. Optionally whole-month tenures (many ties) and a few tenures of zero."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    h_early, draw = base * 2.0**x, rng.exponential(size=n)
    t = np.where(draw < h_early * cut, draw / h_early, cut + (draw - h_early * cut) / base)
    c = rng.uniform(0, 48, n)
    df = pd.DataFrame({T: np.minimum(t, c), E: t <= c, "x": x, "z": rng.normal(size=n),
                       "g": rng.choice(["a", "b"], n)})
    if whole_months:
        df[T] = np.ceil(df[T])
    df.loc[df.index < zeros, T] = 0.0
    return df


@pytest.mark.parametrize("strata", [None, "g", ["g", "h"]])
def test_ph_check_equals_lifelines_proportional_hazard_test(strata):
    # reference: lifelines 0.30 proportional_hazard_test(time_transform="rank"), the statistic this
    # check computed before it was written with cumulative sums; whole-month tenures (heavy Efron
    # ties), a categorical covariate and strata (lifelines numbers the ranks across the strata)
    from lifelines.statistics import proportional_hazard_test
    df = fading(800, seed=21, whole_months=True).assign(h=lambda d: np.where(d["z"] > 0.5, "p", "q"),
                                                        c=lambda d: np.where(d["x"] > 0, "hi", "lo"))
    cph = sv.fit_cox(df, covariates=["x", "z", "c"], strata=strata)
    ref = proportional_hazard_test(cph, cph.design_, time_transform="rank").summary
    check = sv.check_proportional_hazards(cph)
    assert check["term"].tolist() == [str(t) for t in ref.index]  # same rows, same order
    np.testing.assert_allclose(check["statistic"], ref["test_statistic"], rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(check["p"], ref["p"], rtol=1e-9, atol=1e-6)


def test_ph_check_holds_its_level_under_proportional_hazards_and_flags_a_fading_effect():
    # recovery: under proportional hazards the p-values are about uniform (chi-squared, 1 df), so
    # about 5% of 60 tests (30 data sets x 2 terms) are flagged at 0.05; the effect planted to vanish
    # at 6 months is flagged in every one of 10 data sets, and z (no effect at all) stays near its level
    null = [sv.check_proportional_hazards(sv.fit_cox(cox_data(300, seed=100 + i), covariates=["x1", "x2"]))
            for i in range(30)]
    p_null = np.concatenate([c["p"].to_numpy() for c in null])
    assert (p_null < 0.05).mean() <= 0.1 and 0.35 < p_null.mean() < 0.65
    planted = [sv.check_proportional_hazards(sv.fit_cox(fading(1000, seed=200 + i), covariates=["x", "z"]))
               .set_index("term") for i in range(10)]
    assert all(c.loc["x", "violated"] for c in planted) and sum(c.loc["z", "violated"] for c in planted) <= 2


def test_ph_remedy_equals_the_time_varying_fit_of_the_episodes():
    # reference: lifelines CoxTimeVaryingFitter on the (start, stop] episodes (0, min(T, cut)] and
    # (cut, T] -- how the remedy was fitted before -- with Efron ties (whole months), a stratum and
    # tenures of zero (no episode); the period-stratified CoxPHFitter has the same partial likelihood
    from lifelines import CoxTimeVaryingFitter
    cut = 6.0
    df = fading(1500, seed=13, whole_months=True, zeros=5)
    check = pd.DataFrame({"covariate": ["x", "z"], "p": [1e-4, 0.5], "violated": [True, False]})
    model, _ = sv.ph_remedy(df, check, covariates=["x", "z"], strata="g", split_at=cut)
    t, late = df[T].to_numpy(), df[T].to_numpy() > cut
    early_rows = df.assign(row=df.index, start=0.0, stop=np.minimum(t, cut), **{E: df[E] & ~late}, late=0.0)
    late_rows = df[late].assign(row=df.index[late], start=cut, stop=t[late], late=1.0)
    ep = pd.concat([early_rows, late_rows], ignore_index=True).query("stop > start")
    ep = ep.assign(**{"x:early": ep["x"] * (1 - ep["late"]), "x:late": ep["x"] * ep["late"], E: ep[E].astype(int)})
    ref = CoxTimeVaryingFitter().fit(ep[["row", "start", "stop", E, "z", "x:early", "x:late", "g"]], id_col="row",
                                     event_col=E, start_col="start", stop_col="stop", strata=["g"])
    assert model.params_.index.tolist() == ["z", "x:early", "x:late"]
    np.testing.assert_allclose(np.exp(model.params_), np.exp(ref.params_[model.params_.index]), rtol=0, atol=1e-6)
    np.testing.assert_allclose(model.standard_errors_, ref.standard_errors_[model.params_.index], rtol=0, atol=1e-6)


def test_ph_verdict_text_when_nothing_is_violated_and_for_multilevel_terms():
    check = pd.DataFrame({"covariate": ["x", "c", "c"], "p": [0.4, 0.2, 0.03], "violated": [False, False, True]})
    none = sv.ph_verdict_text(check.iloc[:2])
    assert none.startswith("No covariate violates proportional hazards (smallest p = 0.200)")
    assert sv.ph_verdict_text(check).startswith("c violates proportional hazards (p = 0.030); its hazard ratio is")


# ---- parametric ------------------------------------------------------------------------------
def censored_mle_loglik(dist, t, e, start):
    """Maximum censored log-likelihood of a two-parameter scipy distribution (log-parametrised)."""
    def nll(theta):
        frozen = dist(*np.exp(theta))
        return -np.sum(np.where(e, frozen.logpdf(t), frozen.logsf(t)))
    res = optimize.minimize(nll, np.log(start), method="Nelder-Mead", options={"xatol": 1e-9, "fatol": 1e-11})
    return -res.fun


def test_aft_log_likelihoods_match_scipy_censored_mle():
    # intercept-only AFT models are the plain Weibull / log-normal / log-logistic (scipy fisk)
    rng = np.random.default_rng(14)
    t, c = 20 * rng.weibull(1.3, 1500), rng.uniform(0, 50, 1500)
    df = pd.DataFrame({T: np.minimum(t, c), E: t <= c})
    time, e = df[T].to_numpy(), df[E].to_numpy()
    out = sv.compare_parametric(df).set_index("model")
    refs = {"Weibull AFT": censored_mle_loglik(lambda k, s: stats.weibull_min(k, scale=s), time, e, [1, 20]),
            "log-normal AFT": censored_mle_loglik(lambda sd, s: stats.lognorm(sd, scale=s), time, e, [1, 20]),
            "log-logistic AFT": censored_mle_loglik(lambda k, s: stats.fisk(k, scale=s), time, e, [1.5, 20])}
    for model, ll in refs.items():
        assert out.loc[model, "log_likelihood"] == pytest.approx(ll, abs=1e-4)
    # AIC = -2 LL + 2 k exactly, two parameters each, best first; Weibull data pick Weibull
    np.testing.assert_allclose(out["aic"], -2 * out["log_likelihood"] + 2 * out["n_params"], rtol=1e-12)
    assert (out["n_params"] == 2).all() and out.index[0] == "Weibull AFT" and out["aic"].is_monotonic_increasing


def test_weibull_on_exponential_data_does_not_beat_the_exponential():
    # Exponential MLE in closed form: rate = d / sum(T), LL = d log(rate) - rate sum(T). Weibull
    # nests it (shape 1), so 0 <= 2 (LL_weibull - LL_exp) and, for exponential data, < 3.84 (chi2_1, 95%)
    df = exponential(2000, 0.05, seed=15)
    d, total = df[E].sum(), df[T].sum()
    ll_exp = d * np.log(d / total) - d
    ll_weibull = sv.compare_parametric(df).set_index("model").loc["Weibull AFT", "log_likelihood"]
    assert 0 <= 2 * (ll_weibull - ll_exp) < 3.84


def test_compare_parametric_floors_zero_tenure_and_counts_covariates():
    df = cox_data(800, seed=16)
    df.loc[:4, T] = 0.0
    floored = 5 + (df.loc[5:, T] < sv.ONE_DAY).sum()  # a simulated tenure may also be under a day
    out = sv.compare_parametric(df, covariates=["x1", "x2"])
    assert (out["rows_floored"] == floored).all() and (out["n_params"] == 4).all() and (out["customers"] == 800).all()
    assert np.isfinite(out["log_likelihood"]).all()


def test_compare_parametric_ranks_the_true_lognormal_first():
    rng = np.random.default_rng(17)
    t, c = rng.lognormal(2.5, 1.0, 2000), rng.uniform(0, 80, 2000)
    out = sv.compare_parametric(pd.DataFrame({T: np.minimum(t, c), E: t <= c}))
    assert out["model"].iloc[0] == "log-normal AFT"


# ---- Brier score and calibration ----------------------------------------------------------
def test_brier_score_hand_computed_with_ties():
    # 8 customers, t = 4.5.             tenure: 1  2  3  3  4  5  6  7
    #                                  churned: y  n  y  n  y  n  y  n
    # Censoring KM G (churners leave first at a tie):
    #   time 2: 7 at risk, 1 censored -> 6/7; time 3: 6 at risk less 1 churner = 5, 1 censored -> 6/7*4/5 = 24/35;
    #   time 5: 3 at risk, 1 censored -> 24/35*2/3; time 7 -> 0.
    # Cases (churned by 4.5): T=1 (S=.2, G(1-)=1), T=3 (S=.4, G(3-)=6/7), T=4 (S=.3, G(4-)=24/35)
    # Controls (T > 4.5): S = .7, .8, .9 with G(4.5) = 24/35; censored by 4.5 (T=2, T=3) weigh 0.
    df = pd.DataFrame({T: [1.0, 2, 3, 3, 4, 5, 6, 7], E: [1, 0, 1, 0, 1, 0, 1, 0]})
    s = [0.2, 0.5, 0.4, 0.6, 0.3, 0.7, 0.8, 0.9]
    by_hand = (0.2**2 / 1 + 0.4**2 / (6 / 7) + 0.3**2 / (24 / 35) + (0.3**2 + 0.2**2 + 0.1**2) / (24 / 35)) / 8
    assert by_hand == pytest.approx(0.0702604, abs=1e-7)
    assert sv.brier_score(s, df, t=4.5) == pytest.approx(by_hand, abs=1e-12)


def test_brier_score_without_censoring_is_the_mean_squared_error():
    t = np.random.default_rng(18).exponential(10, 300)
    s = np.exp(-8 / 10) + np.linspace(-0.1, 0.1, 300)
    df = pd.DataFrame({T: t, E: True})
    assert sv.brier_score(s, df, t=8) == pytest.approx(np.mean(((t > 8) - s) ** 2), abs=1e-12)


def test_brier_and_integrated_brier_match_scikit_survival():
    sksurv = pytest.importorskip("sksurv.metrics")  # optional: not a project dependency
    from sksurv.util import Surv
    df = cox_data(600, seed=19)  # continuous times: no churn/censoring ties, where conventions differ
    y = Surv.from_arrays(df[E].to_numpy(), df[T].to_numpy())
    rate = 0.04 * 0.6 ** df["x1"].to_numpy() * 0.85 ** df["x2"].to_numpy()
    times = np.array([3.0, 6, 12, 24, 36])
    pred = np.exp(-np.outer(rate, times))
    _, ref = sksurv.brier_score(y, y, pred, times)
    ours = [sv.brier_score(pred[:, k], df, t=t) for k, t in enumerate(times)]
    np.testing.assert_allclose(ours, ref, rtol=1e-10)
    ibs = sv.integrated_brier(lambda t: np.exp(-rate * t), df, times=times)
    assert ibs == pytest.approx(sksurv.integrated_brier_score(y, y, pred, times), rel=1e-10)


def test_integrated_brier_is_the_trapezoid_average():
    df = pd.DataFrame({T: [1.0, 2, 3, 3, 4, 5, 6, 7], E: [1, 0, 1, 0, 1, 0, 1, 0]})
    fn = lambda t: np.clip(1 - np.arange(8) / 10 - t / 20, 0, 1)  # noqa: E731
    b = [sv.brier_score(fn(t), df, t=t) for t in (1, 2, 4)]
    # trapezoid over 1, 2, 4 divided by the range 3: ((b1 + b2)/2 * 1 + (b2 + b4)/2 * 2) / 3
    assert sv.integrated_brier(fn, df, times=[1, 2, 4]) == pytest.approx(((b[0] + b[1]) / 2 + (b[1] + b[2])) / 3)


def test_calibration_of_the_true_model_and_of_a_wrong_one():
    df = cox_data(4000, seed=20)
    rate = 0.04 * 0.6 ** df["x1"] * 0.85 ** df["x2"]
    true = np.exp(-rate * 12)
    good = sv.calibration_at(true, df, t=12)
    assert len(good) == 10 and good["customers"].sum() == 4000
    assert good["bin"].tolist() == list(range(1, 11)) and good["predicted"].is_monotonic_increasing
    assert ((good["lower"] <= good["predicted"]) & (good["predicted"] <= good["upper"])).sum() >= 8
    bad = sv.calibration_at(true**2, df, t=12)  # predicts twice the cumulative hazard
    assert (bad["lower"] > bad["predicted"]).sum() >= 8


# ---- competing risks -------------------------------------------------------------------------
def competing_data(n, seed, rates=(0.02, 0.01, 0.005)):
    """Constant cause-specific hazards for S.END_REASONS[:3]; 5% of churners lose their reason."""
    rng = np.random.default_rng(seed)
    total = sum(rates)
    t, c = rng.exponential(1 / total, n), rng.uniform(0, 60, n)
    reason = rng.choice(list(S.END_REASONS[:3]), n, p=np.array(rates) / total).astype(object)
    churned = t <= c
    reason[~churned | (rng.random(n) < 0.05)] = None
    return pd.DataFrame({T: np.minimum(t, c), E: churned, S.END_REASON: reason})


def test_cumulative_incidences_sum_to_one_minus_km_and_recover_the_truth():
    rates = (0.02, 0.01, 0.005)
    df = competing_data(3000, seed=21, rates=rates)
    out = sv.cumulative_incidence(df)
    assert set(out["cause"]) == {*S.END_REASONS[:3], sv.UNKNOWN}  # non-payment has no churner: no curve
    ci = out.dropna()  # the interval is NaN before each cause's first event
    assert len(ci) > 0.99 * len(out) and ((ci["lower"] <= ci["cif"]) & (ci["cif"] <= ci["upper"])).all()
    last = out.groupby("cause")["cif"].last().sum()
    km_last = sv.km_table(df)["survival"].iloc[-1]
    assert last == pytest.approx(1 - km_last, abs=1e-6)  # continuous times: no ties, no jitter
    # constant hazards: CIF_k(t) = rate_k / total (1 - exp(-total t)); the unknown 5% are
    # drawn at random, so the known causes keep 95% of their incidence
    total, t = sum(rates), 12.0
    at = out[out["time"] <= t].groupby("cause").last()
    for cause, rate in zip(S.END_REASONS, rates):
        truth = 0.95 * rate / total * (1 - np.exp(-total * t))
        assert at.loc[cause, "lower"] <= truth <= at.loc[cause, "upper"]
    # 1 - KM per cause (other causes as censoring) sums to more than the overall churn probability
    naive = sum(1 - sv.km_table(df.assign(**{E: df[S.END_REASON] == c}))["survival"].iloc[-1]
                for c in S.END_REASONS[:3])
    assert naive > out[out["cause"] != sv.UNKNOWN].groupby("cause")["cif"].last().sum()


# ---- manager departures: episodes and the time-varying fit ----------------------------------
def test_episodes_after_event_cases():
    customers = pd.DataFrame({S.CUSTOMER_ID: ["a", "b", "c", "d", "e"], T: [20.0, 5.0, 8.0, 10.0, 0.0],
                              E: [True, False, True, True, True], "x": [1, 2, 3, 4, 5]})
    events = pd.DataFrame({S.CUSTOMER_ID: ["a", "a", "c", "d", "e"], sv.EVENT_TENURE: [6.0, 4.0, 5.0, -2.0, 0.0]})
    ep = sv.episodes_after_event(customers, events, window_months=6, covariates=["x"])
    rows = ep[[S.CUSTOMER_ID, sv.START, sv.STOP, E, sv.AFTER_EVENT]].values.tolist()
    assert rows == [["a", 0.0, 4.0, False, 0], ["a", 4.0, 10.0, False, 1], ["a", 10.0, 20.0, True, 0],  # first event
                    ["b", 0.0, 5.0, False, 0],  # no event
                    ["c", 0.0, 5.0, False, 0], ["c", 5.0, 8.0, True, 1],  # churned inside the window
                    ["d", 0.0, 10.0, True, 0]]  # event before signup ignored; e: no time at risk
    assert ep.groupby(S.CUSTOMER_ID)["x"].first().tolist() == [1, 2, 3, 4]


def test_departure_tenure_converts_dates_with_days_per_month():
    customers = pd.DataFrame({S.CUSTOMER_ID: ["C1", "C2", "C3"], S.ACCOUNT_MANAGER_ID: ["M1", "M2", "M3"],
                              S.SIGNUP_DATE: pd.to_datetime(["2023-01-01", "2023-06-01", "2023-01-01"])})
    departures = pd.DataFrame({S.ACCOUNT_MANAGER_ID: ["M1", "M2"],
                               S.DEPARTED_AT: pd.to_datetime(["2023-03-02", "2023-01-01"])})
    out = sv.departure_tenure(customers, departures)
    assert out[S.CUSTOMER_ID].tolist() == ["C1"]  # M2 left before C2 signed up; M3 never left
    assert out[sv.EVENT_TENURE].item() == pytest.approx(60 / S.DAYS_PER_MONTH)


def test_time_varying_fit_recovers_a_doubled_hazard_after_the_event():
    # baseline hazard 0.04 per month; twice that for 6 months after an event at u ~ U(0, 36)
    # (half the customers have one). Piecewise-exponential draw by inverting the cumulative hazard.
    rng = np.random.default_rng(22)
    n, base, hr, window = 3000, 0.04, 2.0, 6.0
    u = np.where(rng.random(n) < 0.5, rng.uniform(0, 36, n), np.inf)
    h = rng.exponential(size=n)
    before = base * np.minimum(u, 1e9)  # cumulative hazard reached by u
    in_window = before + hr * base * window
    t = np.where(h < before, h / base,
                 np.where(h < in_window, u + (h - before) / (hr * base), u + window + (h - in_window) / base))
    c = rng.uniform(0, 48, n)
    ids = [f"C{i}" for i in range(n)]
    customers = pd.DataFrame({S.CUSTOMER_ID: ids, T: np.minimum(t, c), E: t <= c})
    events = pd.DataFrame({S.CUSTOMER_ID: ids, sv.EVENT_TENURE: u})[np.isfinite(u)]
    episodes = sv.episodes_after_event(customers, events, window_months=window)
    assert episodes.groupby(S.CUSTOMER_ID)[sv.STOP].max().sum() == pytest.approx(customers[T].sum())
    row = sv.hazard_ratios(sv.fit_time_varying(episodes, covariates=[sv.AFTER_EVENT])).iloc[0]
    assert row["lower"] <= hr <= row["upper"] and row["upper"] / row["lower"] < 1.8


def test_cumulative_incidence_keeps_a_churn_at_tenure_zero():
    # lifelines' AJ would drop an event at the first event-table time; tenure 0 is raised to one day
    df = pd.DataFrame({T: [0.0, 1, 2, 3], E: [True, True, True, False],
                       S.END_REASON: ["price", "price", "moved", None]})
    last = sv.cumulative_incidence(df).groupby("cause")["cif"].last()
    assert last.to_dict() == pytest.approx({"price": 0.5, "moved": 0.25})  # 2 and 1 of 4, no censoring before

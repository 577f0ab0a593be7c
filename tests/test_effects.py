"""helpers.stats.effects: each estimator against an independent reference and on data with known effects.

References: scipy's Welch t-test, statsmodels formula OLS with HC2, statsmodels multipletests,
closed forms (CUPED, SMD), and small examples worked out by hand in the comments (IPW, AIPW).
All data are simulated here with fixed seeds (helpers.data.synth is deliberately not used).
"""
import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.stats.multitest import multipletests

from helpers.stats import effects as fx

Z95 = stats.norm.ppf(0.975)
TREAT, CTRL = "treatment", "control"


def expit(x):
    return 1 / (1 + np.exp(-x))


def inside(result, truth, max_width):
    """The truth lies in the interval, and the interval is not absurdly wide."""
    return result["lower"] < truth < result["upper"] and result["upper"] - result["lower"] < max_width


# ---- simulators ----------------------------------------------------------------------------
def randomized(n=4000, seed=1, effect=5.0):
    """outcome = 50 + effect * treated + 2 * pre + N(0, 5^2); pre ~ N(10, 5^2); arms 50/50."""
    rng = np.random.default_rng(seed)
    treated, pre = rng.random(n) < 0.5, rng.normal(10, 5, n)
    region = rng.choice(["north", "south", "west"], n)
    y = 50 + effect * treated + 2 * pre + (region == "west") * 3 + rng.normal(0, 5, n)
    return pd.DataFrame({"arm": np.where(treated, TREAT, CTRL), "spend": y, "pre": pre, "region": region})


def targeted(n=4000, seed=2, effect=3.0):
    """Targeting on x (which lowers the outcome) and on region c: the naive comparison is biased down."""
    rng = np.random.default_rng(seed)
    x, region = rng.normal(size=n), rng.choice(["a", "b", "c"], n)
    ps = expit(-0.2 + 1.2 * x + 0.5 * (region == "c"))
    treated = rng.random(n) < ps
    y = 20 + effect * treated - 4 * x + 1.0 * (region == "b") + rng.normal(0, 2, n)
    return pd.DataFrame({"arm": np.where(treated, TREAT, CTRL), "spend": y, "x": x, "region": region})


# ---- difference in means: Welch ----------------------------------------------------------
def test_difference_in_means_is_welch():
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"arm": [TREAT] * 60 + [CTRL] * 90, "y": np.r_[rng.normal(3, 2, 60), rng.normal(2, 5, 90)]})
    r = fx.difference_in_means(df, outcome="y", arm="arm", treated=TREAT, control=CTRL)
    yt, yc = df.y[df.arm == TREAT], df.y[df.arm == CTRL]
    welch = stats.ttest_ind(yt, yc, equal_var=False)  # scipy reference
    se = np.sqrt(yt.var() / 60 + yc.var() / 90)  # Welch SE by hand
    assert r["estimate"] == pytest.approx(yt.mean() - yc.mean(), abs=1e-10)
    assert r["t"] == pytest.approx(welch.statistic, abs=1e-8)
    assert r["se"] == pytest.approx(se, abs=1e-10)
    # interval and p are normal (z), not Welch's t with Satterthwaite df
    assert r["lower"] == pytest.approx(r["estimate"] - Z95 * se, abs=1e-10)
    assert r["upper"] == pytest.approx(r["estimate"] + Z95 * se, abs=1e-10)
    assert r["p"] == pytest.approx(2 * stats.norm.sf(abs(welch.statistic)), abs=1e-10)
    assert (r["n_treated"], r["n_control"], r["dropped"]) == (60, 90, 0)


def test_difference_in_means_on_a_categorical_arm_with_other_arms_and_missing_rows():
    df = pd.DataFrame({"arm": pd.Categorical(["t", "t", "t", "c", "c", "c", "x", None],
                                             categories=["c", "t", "x"]),
                       "y": [5.0, 7, np.nan, 4, 5, 6, 100, 1]})
    with pytest.warns(UserWarning, match="arm column 'arm' has 1 missing values"):
        r = fx.difference_in_means(df, outcome="y", treated="t", control="c")
    # arm x is ignored; one row has no arm, one treated row no outcome
    assert r["estimate"] == pytest.approx(1.0, abs=1e-12)
    assert (r["n_treated"], r["n_control"], r["dropped"]) == (2, 3, 2)


# ---- ANCOVA and CUPED ----------------------------------------------------------------------
def test_regression_adjusted_equals_statsmodels_formula_fit():
    df = randomized(n=500, seed=4)
    df.loc[[3, 17, 250], "pre"] = np.nan  # complete cases, as the formula interface drops them
    r = fx.regression_adjusted(df, outcome="spend", covariates=["pre", "region"])
    data = df.assign(d=(df.arm == TREAT).astype(float))
    ref = smf.ols("spend ~ d + pre + C(region)", data).fit(cov_type="HC2")
    assert r["estimate"] == pytest.approx(ref.params["d"], abs=1e-10)
    assert r["se"] == pytest.approx(ref.bse["d"], abs=1e-10)
    assert r["p"] == pytest.approx(ref.pvalues["d"], abs=1e-10)
    assert (r["lower"], r["upper"]) == pytest.approx(tuple(ref.conf_int().loc["d"]), abs=1e-10)
    assert r["dropped"] == 3 and r["n_treated"] + r["n_control"] == 497


def test_cuped_equals_the_hand_formula():
    df = randomized(n=600, seed=5)
    r = fx.cuped(df, outcome="spend", pre="pre")
    y, x, t = df.spend, df.pre, df.arm == TREAT
    theta = np.cov(y, x)[0, 1] / np.var(x, ddof=1)  # Deng et al. (2013), pooled over both arms
    adjusted = y - theta * (x - x.mean())
    estimate = (y[t].mean() - y[~t].mean()) - theta * (x[t].mean() - x[~t].mean())
    se = np.sqrt(adjusted[t].var() / t.sum() + adjusted[~t].var() / (~t).sum())  # Welch SE of Y_cuped
    assert r["theta"] == pytest.approx(theta, abs=1e-10)
    assert r["estimate"] == pytest.approx(estimate, abs=1e-10)
    assert r["se"] == pytest.approx(se, abs=1e-10)
    assert r["variance_reduction"] == pytest.approx(1 - adjusted.var() / y.var(), abs=1e-12)
    assert r["variance_reduction"] == pytest.approx(np.corrcoef(y, x)[0, 1] ** 2, abs=1e-12)


def test_randomized_recovery_and_variance_reduction():
    df = randomized(n=4000, seed=2, effect=5.0)
    naive = fx.difference_in_means(df, outcome="spend")
    adjusted = fx.cuped(df, outcome="spend", pre="pre")
    ancova = fx.regression_adjusted(df, outcome="spend", covariates=["pre", "region"])
    assert inside(naive, 5.0, max_width=3.0)
    assert inside(adjusted, 5.0, max_width=1.5) and inside(ancova, 5.0, max_width=1.5)
    assert adjusted["upper"] - adjusted["lower"] < naive["upper"] - naive["lower"]
    assert ancova["se"] < naive["se"] and adjusted["se"] < naive["se"]
    assert adjusted["variance_reduction"] > 0.3  # about 100 / 134 here


# ---- several arms, segments ----------------------------------------------------------------
def test_arm_effects_recover_each_arm_and_adjust_with_holm():
    rng = np.random.default_rng(7)
    truth = {"control": 0.0, "email": 0.0, "call": 2.0, "visit": 5.0}
    arms = np.repeat(list(truth), 1000)
    pre = rng.normal(0, 3, arms.size)
    df = pd.DataFrame({"arm": arms, "pre": pre,
                       "y": 10 + pd.Series(arms).map(truth).to_numpy() + pre + rng.normal(0, 4, arms.size)})
    for method in ("difference", "ancova", "cuped"):
        out = fx.arm_effects(df, outcome="y", method=method, covariates=["pre"], pre="pre")
        assert out["arm"].tolist() == ["call", "email", "visit"]
        assert out.columns.tolist() == ["arm", "estimate", "se", "lower", "upper", "p", "p_adjusted",
                                        "n_treated", "n_control"]
        for row in out.itertuples():
            assert row.lower < truth[row.arm] < row.upper and row.upper - row.lower < 2.0
        assert (out["p_adjusted"] >= out["p"]).all()
        assert out["p_adjusted"].to_numpy() == pytest.approx(multipletests(out["p"], method="holm")[1], abs=1e-12)
        assert set(out["n_treated"]) == {1000} and set(out["n_control"]) == {1000}


def test_segment_effects_verdicts():
    rng = np.random.default_rng(8)
    seg = np.r_[["big_effect"] * 600, ["no_effect"] * 600, ["tiny"] * 10]
    treated = np.tile([True, False], seg.size // 2)
    y = 10 + 5 * (treated & (seg == "big_effect")) + rng.normal(0, 3, seg.size)
    df = pd.DataFrame({"arm": np.where(treated, TREAT, CTRL), "y": y, "seg": seg})
    df.loc[5, "seg"] = None  # a missing segment: dropped
    out = fx.segment_effects(df, outcome="y", by="seg")
    assert out["seg"].tolist() == ["big_effect", "no_effect", "tiny"]
    assert out["verdict"].tolist() == ["effect", "no clear effect", "too small to tell"]
    assert out.loc[2, ["n_treated", "n_control"]].tolist() == [5, 5] and np.isnan(out.loc[2, "p_adjusted"])
    assert out.loc[0, "lower"] < 5 < out.loc[0, "upper"]
    tested = out["p"].iloc[:2]
    assert out["p_adjusted"].iloc[:2].to_numpy() == pytest.approx(multipletests(tested, method="holm")[1])


def test_segment_without_variation_says_so():
    churned = [0.0] * 40 + [0.0, 1.0] * 20 + [0.0, 1.0, 1.0, 1.0] * 10  # a: nobody; b: control only; c: both
    df = pd.DataFrame({"arm": [TREAT, CTRL] * 60, "churned": churned, "seg": np.repeat(["a", "b", "c"], 40)})
    out = fx.segment_effects(df, outcome="churned", by="seg", min_per_arm=10)
    assert out["verdict"].tolist() == ["no variation within the arms"] * 2 + ["effect"]
    assert out["estimate"].isna().tolist() == [True, True, False]


# ---- targeted campaigns: hand-worked IPW and AIPW ------------------------------------------
IPW_EXAMPLE = pd.DataFrame({
    "arm": [TREAT] * 4 + [CTRL] * 6,
    "ps": [0.5, 0.25, 0.25, 0.97, 0.2, 0.2, 0.6, 0.6, 0.6, 0.02],
    "y": [6.0, 3, 5, 100, 1, 3, 2, 4, 0, -50],
})
# trim (0.05, 0.95) leaves out the rows with ps 0.97 (treated) and 0.02 (control).
# ATE weights: treated 1/e = 2, 4, 4 (sum 10); control 1/(1-e) = 1.25, 1.25, 2.5, 2.5, 2.5 (sum 10).
# mu_t = (2*6 + 4*3 + 4*5) / 10 = 44/10 = 4.4
# mu_c = (1.25*1 + 1.25*3 + 2.5*2 + 2.5*4 + 2.5*0) / 10 = 20/10 = 2.0          ATE = 2.4
# sandwich: residuals t: 1.6, -1.4, 0.6 -> sum w^2 r^2 = 4*2.56 + 16*1.96 + 16*0.36 = 47.36, / 10^2
#           residuals c: -1, 1, 0, 2, -2 -> 1.5625 + 1.5625 + 0 + 6.25*4 + 6.25*4 = 53.125, / 10^2
# se^2 = 0.4736 + 0.53125 = 1.00485
# ATT weights: treated 1; control e/(1-e) = 0.25, 0.25, 1.5, 1.5, 1.5 (sum 5)
# mu_t = 14/3; mu_c = (0.25*1 + 0.25*3 + 1.5*2 + 1.5*4 + 0) / 5 = 10/5 = 2       ATT = 8/3
# se^2 = [(4/3)^2 + (5/3)^2 + (1/3)^2] / 3^2 + [0.0625*(1 + 1) + 2.25*(0 + 4 + 4)] / 5^2 = 42/81 + 0.725


def test_ipw_matches_the_hand_worked_example():
    ate = fx.ipw(IPW_EXAMPLE, outcome="y", ps="ps")
    assert ate["estimate"] == pytest.approx(2.4, abs=1e-10)
    assert ate["se"] == pytest.approx(np.sqrt(1.00485), abs=1e-10)
    assert (ate["mean_treated"], ate["mean_control"]) == pytest.approx((4.4, 2.0), abs=1e-10)
    assert ate["lower"] == pytest.approx(2.4 - Z95 * np.sqrt(1.00485), abs=1e-10)
    assert (ate["trimmed"], ate["dropped"], ate["n_treated"], ate["n_control"]) == (2, 2, 3, 5)
    assert ate["ess_treated"] == pytest.approx(100 / 36, abs=1e-10)  # (2+4+4)^2 / (4+16+16)
    att = fx.ipw(IPW_EXAMPLE, outcome="y", ps=IPW_EXAMPLE["ps"], estimand="ATT")
    assert att["estimate"] == pytest.approx(8 / 3, abs=1e-10)
    assert att["se"] == pytest.approx(np.sqrt(42 / 81 + 0.725), abs=1e-10)


AIPW_EXAMPLE = pd.DataFrame({
    "arm": [TREAT] * 4 + [CTRL] * 4,
    "x": [0.0, 0, 1, 1, 0, 0, 1, 1],
    "ps": [0.5, 0.25, 0.5, 0.8, 0.5, 0.2, 0.5, 0.75],
    "y": [4.0, 6, 9, 7, 1, 3, 5, 4],
})
# OLS on a 0/1 covariate within an arm gives cell means: m1(0) = 5, m1(1) = 8; m0(0) = 2, m0(1) = 4.5.
# ATE: phi = m1 - m0 + d (y - m1)/e - (1 - d)(y - m0)/(1 - e)
#   rows 1-4 (treated): 3 + (4-5)/0.5 = 1;  3 + (6-5)/0.25 = 7;  3.5 + (9-8)/0.5 = 5.5;  3.5 + (7-8)/0.8 = 2.25
#   rows 5-8 (control): 3 - (1-2)/0.5 = 5;  3 - (3-2)/0.8 = 1.75;  3.5 - (5-4.5)/0.5 = 2.5;  3.5 - (4-4.5)/0.25 = 5.5
#   estimate = 30.5 / 8 = 3.8125
AIPW_PHI = [1.0, 7.0, 5.5, 2.25, 5.0, 1.75, 2.5, 5.5]
# ATT: a = d (y - m0) - (1 - d) e/(1 - e) (y - m0)
#   treated: 2, 4, 4.5, 2.5;  control (e/(1-e) = 1, 0.25, 1, 3): 1, -0.25, -0.5, 1.5;  sum 14.75
#   estimate = 14.75 / 4 = 3.6875;  influence (a - 3.6875 d) / 0.5:
AIPW_ATT_INFLUENCE = [-3.375, 0.625, 1.625, -2.375, 2.0, -0.5, -1.0, 3.0]


def test_aipw_matches_the_hand_worked_example():
    ate = fx.aipw(AIPW_EXAMPLE, outcome="y", covariates=["x"], ps="ps")
    assert ate["estimate"] == pytest.approx(3.8125, abs=1e-10)
    assert ate["se"] == pytest.approx(np.std(AIPW_PHI, ddof=1) / np.sqrt(8), abs=1e-10)
    assert ate["p"] == pytest.approx(2 * stats.norm.sf(3.8125 / ate["se"]), abs=1e-10)
    att = fx.aipw(AIPW_EXAMPLE, outcome="y", covariates=["x"], ps="ps", estimand="ATT")
    assert att["estimate"] == pytest.approx(3.6875, abs=1e-10)
    assert att["se"] == pytest.approx(np.std(AIPW_ATT_INFLUENCE, ddof=1) / np.sqrt(8), abs=1e-10)


def test_balance_matches_the_hand_formula():
    rng = np.random.default_rng(9)
    df = pd.DataFrame({"arm": np.repeat([TREAT, CTRL], [40, 60]), "age": rng.normal(40, 10, 100),
                       "w": rng.uniform(0.5, 2, 100)})
    a_t, a_c = df.age[:40], df.age[40:]
    sd = np.sqrt((a_t.var() + a_c.var()) / 2)  # Austin (2009): unweighted pooled SD
    out = fx.balance(df, covariates=["age"], weights="w")
    assert out.loc[0, "smd_unweighted"] == pytest.approx((a_t.mean() - a_c.mean()) / sd, abs=1e-12)
    weighted = np.average(a_t, weights=df.w[:40]) - np.average(a_c, weights=df.w[40:])
    assert out.loc[0, "smd_weighted"] == pytest.approx(weighted / sd, abs=1e-12)


# ---- targeted campaigns: recovery ------------------------------------------------------------
def test_observational_recovery():
    df = targeted(n=4000, seed=10, effect=3.0)
    covariates = ["x", "region"]
    ps = fx.propensity(df, covariates=covariates)
    treated = df.arm == TREAT
    naive = fx.naive(df, outcome="spend")
    assert not naive["lower"] < 3.0 < naive["upper"]  # biased by the confounder
    for estimand in ("ATE", "ATT"):
        assert inside(fx.ipw(df, outcome="spend", ps=ps, estimand=estimand), 3.0, max_width=1.5)
        assert inside(fx.aipw(df, outcome="spend", covariates=covariates, estimand=estimand), 3.0, max_width=1.0)
    kept = ps.where(ps.between(0.05, 0.95))  # the trimmed rows get no weight
    before_after = fx.balance(df, covariates=covariates, weights=fx.ipw_weights(kept, treated))
    assert before_after["covariate"].tolist() == ["x", "region[a]", "region[b]", "region[c]"]
    assert before_after.loc[0, "smd_unweighted"] > 0.5
    assert (before_after["smd_weighted"].abs() < 0.1).all() and not before_after["imbalanced"].any()


def test_propensity_is_aligned_to_the_data():
    df = targeted(n=300, seed=11)
    df.loc[4, "x"] = np.nan
    df.loc[7, "arm"] = "other"
    ps = fx.propensity(df, covariates=["x", "region"])
    assert ps.index.equals(df.index) and ps.name == "propensity"
    assert ps.isna().tolist() == [i in (4, 7) for i in df.index]
    assert ps.dropna().between(0, 1).all()


def test_overlap_summary_states_the_rule():
    rng = np.random.default_rng(12)
    ps = np.r_[rng.uniform(0.05, 0.95, 7370), np.full(200, 0.01), np.full(112, 0.99)]
    treated = np.r_[rng.random(7370) < 0.5, np.zeros(200, bool), np.ones(112, bool)]
    out = fx.overlap_summary(ps, treated)
    assert out["rule"] == "customers with a propensity below 0.05 or above 0.95 are left out: 312 of 7,682"
    table = out["by_arm"].set_index("arm")
    assert table.loc["treated", "share_above"] == pytest.approx(112 / treated.sum())
    assert table.loc["control", "share_below"] == pytest.approx(200 / (~treated).sum())
    assert table.loc["control", "min"] == 0.01 and table.loc["treated", "max"] == 0.99
    assert fx.overlap_summary(ps, treated, trim=None)["left_out"] == 0


# ---- churn hazard ratio ------------------------------------------------------------------------
def test_churn_hazard_ratio_recovers_0_7():
    rng = np.random.default_rng(13)
    n = 3000
    treated = rng.random(n) < 0.5
    t, c = rng.exponential(1 / (0.05 * np.where(treated, 0.7, 1.0))), rng.uniform(0, 36, n)
    df = pd.DataFrame({"arm": np.where(treated, TREAT, CTRL), "tenure_months": np.minimum(t, c), "churned": t <= c})
    r = fx.churn_hazard_ratio(df)
    assert r["lower"] < 0.7 < r["upper"] and r["upper"] - r["lower"] < 0.3
    assert r["events_treated"] + r["events_control"] == df.churned.sum()


# ---- error messages ------------------------------------------------------------------------------
def test_errors_name_the_column_and_say_what_to_do():
    df = pd.DataFrame({"arm": [TREAT, CTRL] * 5, "spend": np.arange(10.0), "pre": 1.0})
    with pytest.raises(ValueError, match="arm column 'arm' has only the value 'treatment'"):
        fx.difference_in_means(df.assign(arm=TREAT), outcome="spend")
    with pytest.raises(ValueError, match=r"control value 'holdout' is not in arm column 'arm' .*pass control="):
        fx.difference_in_means(df, outcome="spend", control="holdout")
    with pytest.raises(ValueError, match="outcome 'spend' is constant .* no variance"):
        fx.difference_in_means(df.assign(spend=3.0), outcome="spend")
    with pytest.raises(ValueError, match="does not vary within arm"):
        fx.difference_in_means(df.assign(spend=(df.arm == TREAT) * 1.0), outcome="spend")
    with pytest.raises(ValueError, match="covariate column 'age' is not in the data"):
        fx.regression_adjusted(df, outcome="spend", covariates=["age"])
    with pytest.raises(ValueError, match="outcome column 'revenue' is not in the data"):
        fx.difference_in_means(df, outcome="revenue")
    with pytest.raises(ValueError, match="pre-period column 'pre' is constant"):
        fx.cuped(df, outcome="spend", pre="pre")
    with pytest.raises(ValueError, match="arm 'treatment' has 1 row"):
        fx.difference_in_means(df.iloc[1:4], outcome="spend")
    with pytest.raises(ValueError, match="method='bayes'"):
        fx.arm_effects(df, outcome="spend", method="bayes")
    with pytest.raises(ValueError, match="propensity scores are 0, 1"):
        fx.ipw(df.assign(ps=np.r_[0.0, np.full(9, 0.5)]), outcome="spend", ps="ps", trim=None)


def test_missing_arm_values_are_dropped_counted_and_warned_about():
    df = pd.DataFrame({"arm": [TREAT, CTRL] * 10 + [None] * 3, "spend": np.arange(23.0)})
    with pytest.warns(UserWarning, match=r"arm column 'arm' has 3 missing values: those rows are left out"):
        r = fx.difference_in_means(df, outcome="spend")
    assert r["dropped"] == 3 and r["n_treated"] + r["n_control"] == 20
    with pytest.warns(UserWarning, match="3 missing values"):
        assert len(fx.arm_effects(df, outcome="spend")) == 1


def test_propensity_names_the_separating_covariate():
    rng = np.random.default_rng(14)
    x = rng.normal(size=200)
    df = pd.DataFrame({"arm": np.where(rng.random(200) < 0.5, TREAT, CTRL), "x": x})
    vip = np.where(df.arm == TREAT, rng.choice(["yes", "no"], 200), "no")  # every VIP was targeted
    with pytest.raises(ValueError, match="covariate 'vip' separates treated from control"):
        fx.propensity(df.assign(vip=vip), covariates=["x", "vip"])
    with pytest.raises(ValueError, match="covariate 'score' separates treated from control"):
        fx.propensity(df.assign(score=np.where(df.arm == TREAT, 1.0, -1.0) + rng.uniform(0, 0.5, 200)),
                      covariates=["x", "score"])

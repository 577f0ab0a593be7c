"""Who to target: DR-learner effects, their calibration, uplift curves and the value of targeting.

Campaigns simulated here with every customer's effect known (varying by a quadrant-like category
and by satisfaction), a plain second computation of the Qini and uplift curves, a hand example,
and the workbench's own generator, with a planted campaign effect that does not vary and one that
varies by quadrant (each customer's effect from `synth.campaign_effects`).
"""
import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.integrate import trapezoid

from helpers.data import schema, synth
from helpers.data.io import Dataset
from helpers.stats import retention as R
from helpers.stats import targeting as T

QUADRANTS = ["consolidate", "win_back", "maintain", "let_go"]
COVARIATES = ["quadrant", "contract", "satisfaction", "log_value", "noise"]
MARGIN, COST = 0.5, 10.0  # profit per unit of revenue effect, cost per action


def revenue_campaign(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """Three arms, randomized. "call" gains 5 + 50 for win-back customers + 30 below satisfaction 4; "email" 10 for all.

    At MARGIN 0.5 and COST 10 a call pays when its effect exceeds 20: the planted best rule is
    "win_back or satisfaction below 4", which a depth-2 tree can express.
    """
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"quadrant": pd.Categorical(rng.choice(QUADRANTS, n), categories=QUADRANTS),
                       "contract": rng.choice(["month-to-month", "one-year", "two-year"], n),
                       "satisfaction": np.round(rng.uniform(0, 10, n), 1), "log_value": rng.normal(3, 1, n),
                       "noise": rng.normal(size=n), "arm": rng.choice(["control", "call", "email"], n)})
    base = 100 + 20 * (df["contract"] == "two-year") + 5 * df["satisfaction"] + 15 * df["log_value"]
    df["tau_call"] = 5 + 50 * (df["quadrant"] == "win_back") + 30 * (df["satisfaction"] < 4)
    df["tau_email"] = 10.0
    effect = np.select([df["arm"] == "call", df["arm"] == "email"], [df["tau_call"], df["tau_email"]], 0.0)
    df["revenue"] = base + effect + rng.normal(0, 25, n)
    return df


def churn_campaign(n: int = 3000, seed: int = 1) -> pd.DataFrame:
    """One arm: calls cut the churn hazard to 0.3 of its value for win-back customers, nothing elsewhere.

    Exponential times with a 12-month window: ``months_to_churn`` censored at 12, ``churned_window``
    the 0/1 outcome, ``true_effect`` the change in the 12-month churn probability.
    """
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"quadrant": pd.Categorical(rng.choice(QUADRANTS, n), categories=QUADRANTS),
                       "satisfaction": np.round(rng.uniform(0, 10, n), 1), "noise": rng.normal(size=n),
                       "arm": rng.choice(["control", "call"], n)})
    hazard = 0.02 + 0.04 * (df["satisfaction"] < 5).to_numpy()
    ratio = np.where(df["quadrant"] == "win_back", 0.3, 1.0)
    t = rng.exponential(1 / (hazard * np.where(df["arm"] == "call", ratio, 1.0)))
    df[R.MONTHS_TO_CHURN], df[R.CHURNED_WINDOW] = np.minimum(t, 12.0), t <= 12
    df["true_effect"] = np.exp(-12 * hazard) - np.exp(-12 * hazard * ratio)
    return df


@pytest.fixture(scope="module")
def revenue():
    df = revenue_campaign()
    return df, T.fit_cate(df, outcome="revenue", covariates=COVARIATES, seed=0)


@pytest.fixture(scope="module")
def churn():
    df = churn_campaign()
    return df, T.fit_cate(df, outcome=R.CHURNED_WINDOW, covariates=["quadrant", "satisfaction", "noise"], seed=0)


def arm_rows(fit, arm):
    return fit.scores.loc[fit.scores["arm"] == arm]


def planted_value(df, rows, treat) -> float:
    """True profit per customer of treating ``treat`` (bool per row) with the planted call effects."""
    return float(np.mean(treat * (MARGIN * df.loc[rows, "tau_call"].to_numpy() - COST)))


# ---- per-customer effects ------------------------------------------------------------------------
def test_predictions_rank_customers_by_their_true_effect(revenue):
    df, fit = revenue
    s = arm_rows(fit, "call")
    rho = stats.spearmanr(s["predicted"], df.loc[s["row"], "tau_call"]).statistic
    assert rho > 0.8  # the planted effect takes 4 values (5, 35, 55, 85); 0.93 with the default models
    assert fit.arms == ("call", "email") and fit.dropped == 0 and fit.trimmed == 0
    assert set(fit.scores["fold"]) == set(range(5)) and not fit.binary
    # the average effects: truth inside the interval, and the interval not absurdly wide
    summary = fit.summary.set_index("arm")
    for arm, truth in (("call", df.loc[arm_rows(fit, "call")["row"], "tau_call"].mean()), ("email", 10.0)):
        assert summary.loc[arm, "lower"] < truth < summary.loc[arm, "upper"]
        assert summary.loc[arm, "upper"] - summary.loc[arm, "lower"] < 12


def test_blp_slope_is_near_one_with_heterogeneity_and_zero_without(revenue):
    _, fit = revenue
    cal = T.calibration(fit)
    blp = cal.blp.set_index("arm")
    call, email = blp.loc["call"], blp.loc["email"]
    assert call["lower"] > 0 and call["lower"] < 1 < call["upper"]  # real heterogeneity: signal, calibrated
    assert email["lower"] < 0 < email["upper"] and email["p"] > 0.05  # a constant effect: nothing to find
    assert cal.verdict.startswith("call: the predicted effects carry signal: customers predicted to gain more do "
                                  "gain more (slope ")
    assert "email: no evidence the effect varies (slope " in cal.verdict
    # GATES: the top-minus-bottom difference of the planted effects lies inside its interval
    gates = cal.gates.loc[cal.gates["arm"] == "call"]
    assert gates["estimate"].is_monotonic_increasing or gates["estimate"].iloc[-1] > gates["estimate"].iloc[0]
    s = arm_rows(fit, "call")
    group = np.floor(s["rank"].to_numpy() * 5).astype(int) + 1
    truth = revenue[0].loc[s["row"], "tau_call"].to_numpy()
    true_tmb = truth[group == 5].mean() - truth[group == 1].mean()
    assert call["tmb_lower"] < true_tmb < call["tmb_upper"]


# ---- uplift curves -------------------------------------------------------------------------------
def plain_qini(y, d, score, w=None):
    """Qini and uplift curves, one threshold at a time: the second computation of the reference test.

    Radcliffe (2007), "Using control groups to target on predicted lift", as scikit-uplift's
    ``qini_curve`` and ``uplift_curve`` compute them (an empty arm's ratio taken as 0), per customer.
    """
    w = np.ones(len(y)) if w is None else np.asarray(w, dtype=float)
    n, total_treated = len(y), np.sum(w * d)
    shares, qini, uplift = [0.0], [0.0], [0.0]
    for threshold in sorted(set(score), reverse=True):
        top = score >= threshold
        nt, nc = np.sum(w * d * top), np.sum(w * (1 - d) * top)
        yt, yc = np.sum(w * d * top * y), np.sum(w * (1 - d) * top * y)
        shares.append(top.sum() / n)
        qini.append((yt - (yc * nt / nc if nc > 0 else 0.0)) / total_treated)
        uplift.append(((yt / nt if nt > 0 else 0.0) - (yc / nc if nc > 0 else 0.0)) * top.sum() / n)
    return np.array(shares), np.array(qini), np.array(uplift)


def test_qini_on_fixed_predictions_matches_a_plain_computation():
    rng = np.random.default_rng(5)
    n = 400
    d = rng.integers(0, 2, n).astype(float)
    score = np.round(rng.normal(size=n), 1)  # one decimal: many ties, grouped as scikit-uplift does
    y = rng.normal(size=n) + d * (score > 0)
    w = rng.uniform(1.2, 4.0, n)
    for weights in (None, w):
        curve = T.qini_curve(y, d, score, weights=weights)
        share, qini, uplift = plain_qini(y, d, score, weights)
        np.testing.assert_allclose(curve["share"], share, atol=1e-12)
        np.testing.assert_allclose(curve["qini"], qini, atol=1e-12)
        np.testing.assert_allclose(curve["uplift"], uplift, atol=1e-12)
        areas = T.uplift_areas(y, d, score, weights=weights)
        assert areas["auuc"] == pytest.approx(trapezoid(uplift, share), abs=1e-12)
        assert areas["qini_coefficient"] == pytest.approx(trapezoid(qini, share) - qini[-1] / 2, abs=1e-12)


def test_qini_by_hand():
    # sorted by score: (treated, y) = (1, 1), (0, 0), (1, 0), (0, 1); two treated in all
    # qini:   top 1: (1 - 0) / 2 = 0.5; top 2: (1 - 0 x 1/1) / 2 = 0.5; top 3: (1 - 0 x 2/1) / 2 = 0.5;
    #         all:   (1 - 1 x 2/2) / 2 = 0
    # uplift: top 1: (1/1 - 0) x 1/4 = 0.25; top 2: (1 - 0) x 2/4 = 0.5; top 3: (1/2 - 0) x 3/4 = 0.375; all: 0
    # areas (trapezoids of width 1/4): qini 0.375, uplift 0.28125; random targeting 0 (no average effect)
    curve = T.qini_curve([0, 1, 0, 1], [0, 1, 1, 0], [0.7, 0.9, 0.5, 0.3])
    assert curve["qini"].tolist() == pytest.approx([0, 0.5, 0.5, 0.5, 0])
    assert curve["uplift"].tolist() == pytest.approx([0, 0.25, 0.5, 0.375, 0])
    areas = T.uplift_areas([0, 1, 0, 1], [0, 1, 1, 0], [0.7, 0.9, 0.5, 0.3])
    assert (areas["qini_coefficient"], areas["auuc"], areas["random_area"]) == pytest.approx((0.375, 0.28125, 0))


def test_uplift_curves_of_the_fit(revenue):
    _, fit = revenue
    up = T.uplift_curves(fit, reps=100)
    areas = up.areas.set_index("arm")
    assert areas.loc["call", "qini_coefficient_lower"] > 0  # the ranking beats random targeting
    assert areas.loc["email", "qini_coefficient_lower"] < 0 < areas.loc["email", "qini_coefficient_upper"]
    for arm, curve in up.curves.groupby("arm"):
        assert curve["qini"].iloc[0] == curve["uplift"].iloc[0] == 0
        assert curve["qini"].iloc[-1] == pytest.approx(areas.loc[arm, "ate"])  # both end at the average effect
        assert (curve["qini_lower"] <= curve["qini"] + 1e-9).all()
        assert (curve["qini"] <= curve["qini_upper"] + 1e-9).all()
    deciles = up.deciles.loc[up.deciles["arm"] == "call"]
    assert deciles["effect"].iloc[0] > 60 and deciles["toc"].iloc[-1] == pytest.approx(0, abs=1e-9)
    assert len(deciles) == 10 and deciles["n"].sum() == len(arm_rows(fit, "call"))


# ---- the value of targeting ----------------------------------------------------------------------
def test_targeting_value_of_the_top_shares(revenue):
    df, fit = revenue
    value = T.targeting_value(fit, margin_rate=MARGIN, cost_per_action=COST, reps=200)
    call = value.table.loc[value.table["arm"] == "call"].set_index("share")
    s = arm_rows(fit, "call")
    everyone = planted_value(df, s["row"], np.ones(len(s)))
    assert call.loc[1.0, "lower"] < everyone < call.loc[1.0, "upper"]
    assert call.loc[0.0, ["profit", "lower", "upper"]].tolist() == [0, 0, 0]
    best = value.best.set_index("arm")
    assert 0.3 <= best.loc["call", "share"] <= 0.7  # 54% of customers are worth a call
    assert best.loc["call", "profit"] > call.loc[1.0, "profit"]
    assert best.loc["email", "share"] == 0  # an email effect of 10 never pays a cost of 10 at margin 0.5
    assert "email: treating no one is best" in value.sentence and "call: treating the top " in value.sentence


def test_depth_two_rule_comes_close_to_the_planted_best_rule(revenue):
    df, fit = revenue
    rule = T.policy_tree(fit, margin_rate=MARGIN, cost_per_action=COST, reps=200)
    s = arm_rows(fit, "call")
    tau = df.loc[s["row"], "tau_call"].to_numpy()
    best = planted_value(df, s["row"], MARGIN * tau > COST)  # treat win-back customers and satisfaction below 4
    decided = rule.decisions.loc[rule.decisions["arm"] == "call", "treat"].to_numpy()
    assert planted_value(df, s["row"], decided) == pytest.approx(best, rel=0.10)  # the held-out decisions
    row = rule.table.set_index("arm").loc["call"]
    assert row["lower"] < best < row["upper"] and row["vs_all_lower"] > 0
    assert "win_back" in row["rule"] and "satisfaction" in row["rule"] and row["agreement"] > 0.9
    assert rule.table.set_index("arm").loc["email", "share_treated"] < 0.1
    assert "call: 'treat customers where " in rule.verdict and "it beats treating everyone by" in rule.verdict


def test_a_given_rule_is_valued_against_treating_everyone(revenue):
    df, fit = revenue
    planted = T.evaluate_rule(fit, df, lambda f: (f["quadrant"] == "win_back") | (f["satisfaction"] < 4),
                              margin_rate=MARGIN, cost_per_action=COST, name="win back or satisfaction below 4")
    quadrant = T.evaluate_rule(fit, df, lambda f: f["quadrant"] == "win_back", margin_rate=MARGIN,
                               cost_per_action=COST, name="win back")
    s = arm_rows(fit, "call")
    for result, treat in ((planted, (df["quadrant"] == "win_back") | (df["satisfaction"] < 4)),
                          (quadrant, df["quadrant"] == "win_back")):
        row = result.table.set_index("arm").loc["call"]
        truth = planted_value(df, s["row"], treat.loc[s["row"]].to_numpy())
        assert row["lower"] < truth < row["upper"] and row["vs_all_lower"] > 0
        assert row["share_treated"] == pytest.approx(treat.loc[s["row"]].mean())
    assert planted.verdict.startswith("call: 'win back or satisfaction below 4' treats 5")
    assert "it beats treating everyone by" in planted.verdict.split("; ")[0]


# ---- a binary outcome and time to churn ---------------------------------------------------------
def test_binary_outcome_end_to_end(churn):
    df, fit = churn
    s = fit.scores
    assert fit.binary and s["predicted"].between(-1, 1).all() and s[["mu0", "mu1"]].stack().between(0, 1).all()
    assert stats.spearmanr(s["predicted"], df.loc[s["row"], "true_effect"]).statistic > 0.5
    cal = T.calibration(fit)
    blp = cal.blp.iloc[0]
    assert np.isfinite(blp[["slope", "se", "lower", "upper", "p"]].astype(float)).all()
    assert blp["lower"] < 1 < blp["upper"]
    assert blp["tmb_lower"] > 0  # customers predicted to gain least (top group) vs most (bottom): churn differs
    assert cal.verdict.startswith(("the predicted effects carry signal", "no evidence the effect varies"))
    up = T.uplift_curves(fit, larger_is_better=False, reps=100)
    assert up.areas.iloc[0]["qini_coefficient_lower"] > 0 and up.areas.iloc[0]["ate"] > 0  # churn prevented
    # a churner takes away 500 of margin and a call costs 10: calls pay for win-back customers only (a quarter).
    # A 0/1 outcome makes the profit per customer noisy (+-15 at 3,000 customers), so the best share is not
    # pinned down; the truth must lie inside the intervals.
    gain = -500 * df.loc[s["row"], "true_effect"].to_numpy() - 10
    value = T.targeting_value(fit, margin_rate=-500, cost_per_action=10, reps=200)
    everyone = value.table.set_index("share").loc[1.0]
    assert everyone["lower"] < gain.mean() < everyone["upper"]
    win_back = T.evaluate_rule(fit, df, lambda f: f["quadrant"] == "win_back", margin_rate=-500, cost_per_action=10,
                               reps=200).table.iloc[0]
    assert win_back["lower"] < np.mean(gain * (df.loc[s["row"], "quadrant"] == "win_back")) < win_back["upper"]
    rule = T.policy_tree(fit, margin_rate=-500, cost_per_action=10, reps=200)
    assert "quadrant is win_back" in rule.table.iloc[0]["rule"]


def test_restricted_mean_tenure_by_predicted_effect(churn):
    df, fit = churn
    tenure = T.tenure_by_effect(fit, df, horizon=12).table.set_index("group")
    assert tenure.index.tolist() == [1, 2, 3] and (tenure[["rmst_treated", "rmst_control"]] <= 12).all().all()
    assert tenure.loc[1, "lower"] > 0  # the third predicted to gain most stays longer when called
    assert tenure.loc[3, "lower"] < 0 < tenure.loc[3, "upper"]  # the third predicted to gain least: no difference
    assert tenure["n_treated"].sum() + tenure["n_control"].sum() == len(df)


# ---- a targeted campaign --------------------------------------------------------------------------
def test_targeted_design_estimates_the_propensity():
    rng = np.random.default_rng(2)
    n = 2000
    df = pd.DataFrame({"satisfaction": rng.uniform(0, 10, n), "noise": rng.normal(size=n)})
    targeted = rng.uniform(size=n) < 1 / (1 + np.exp(df["satisfaction"] - 5))  # unhappy customers were called
    df["arm"] = np.where(targeted, "treatment", "control")
    df["revenue"] = 50 + 10 * df["satisfaction"] + 20 * targeted + rng.normal(0, 10, n)
    fit = T.fit_cate(df, outcome="revenue", covariates=["satisfaction", "noise"], design="targeted")
    assert fit.scores["propensity"].nunique() > 100 and fit.trimmed > 0
    summary = fit.summary.iloc[0]
    naive = df.loc[targeted, "revenue"].mean() - df.loc[~targeted, "revenue"].mean()
    assert summary["lower"] < 20 < summary["upper"] and naive < 0  # the naive difference even has the wrong sign


# ---- the workbench's own generator: a campaign effect that does not vary ------------------------
def test_homogeneous_planted_effect_is_not_called_heterogeneous():
    tables, truth = synth.generate(4000, 36, seed=3)
    frame = R.campaign_frame(Dataset("synthetic", None, tables, "test", truth), "RCT-2024-07")
    covariates = ["contract", "customer_type", "log2_monthly_value", "tenure_at_assignment", "recent_complaint",
                  "satisfaction", "pre_revenue"]
    for outcome in (R.REVENUE_WINDOW, R.CHURNED_WINDOW):
        fit = T.fit_cate(frame, outcome=outcome, covariates=covariates, seed=0)  # the default models
        cal = T.calibration(fit, confidence=0.99)
        assert not cal.blp.iloc[0]["lower"] > 0, cal.verdict  # no heterogeneity claimed at the 1% level
        assert "carry signal" not in cal.verdict
    assert fit.binary and fit.arms == ("treatment",)


# every customer active at month 18 is randomized (about 4,700 of 12,000); the offer cuts the churn hazard
# (hazard ratio 0.4) of win_back customers only, and lifts their revenue by 30% (6 x 5%), everyone else's by 5%
N_PLANTED, SEED_PLANTED = 12000, 1
PLANTED = dataclasses.replace(synth.SynthParams(), rct_share=1.0, hr_campaign=1.0,
                              campaign_quadrant_hr=(1.0, 0.4, 1.0, 1.0), campaign_quadrant_uplift=(1.0, 6.0, 1.0, 1.0))
GENERATOR_COVARIATES = ["contract", "customer_type", "log2_monthly_value", "tenure_at_assignment", "recent_complaint",
                        "satisfaction", "pre_revenue", "quadrant"]


@pytest.fixture(scope="module")
def planted():
    """The RCT's campaign frame, its truth, and each customer's planted effects indexed like the frame."""
    tables, truth = synth.generate(N_PLANTED, 36, seed=SEED_PLANTED, params=PLANTED)
    frame = R.campaign_frame(Dataset("synthetic", None, tables, "test", truth), "RCT-2024-07")
    effects = synth.campaign_effects(N_PLANTED, 36, seed=SEED_PLANTED, params=PLANTED)
    rct = effects[effects[schema.CAMPAIGN_ID] == "RCT-2024-07"].set_index(schema.CUSTOMER_ID)
    return frame, truth["campaigns"]["RCT-2024-07"], rct.loc[frame[schema.CUSTOMER_ID]].set_index(frame.index)


def _planted_targeting(planted, outcome: str, effect: str, margin_rate: float, cost: float):
    """Fit, then compare with the planted effects: mean prediction per quadrant, the best quadrant rule (the
    quadrants whose planted ate pays) valued by evaluate_rule, and the depth-2 tree's held-out decisions.

    Planted profit per customer = mean over the fitted customers of treat x (margin_rate x effect - cost), the
    effect being each customer's treated-minus-control potential outcome (the DR estimates' estimand).
    """
    frame, truth, effects = planted
    fit = T.fit_cate(frame, outcome=outcome, covariates=GENERATOR_COVARIATES, seed=0)
    s = fit.scores
    quadrant = frame.loc[s["row"], "quadrant"].to_numpy()
    gain = margin_rate * effects.loc[s["row"], effect].to_numpy() - cost
    pays = [q for q in QUADRANTS if margin_rate * truth["ate_by_quadrant"][q][effect] > cost]
    best = T.evaluate_rule(fit, frame, lambda f: f["quadrant"].isin(pays), margin_rate=margin_rate,
                           cost_per_action=cost, reps=200).table.iloc[0]
    tree = T.policy_tree(fit, margin_rate=margin_rate, cost_per_action=cost, reps=200)
    return {"predicted": s["predicted"].groupby(quadrant).mean(), "pays": pays, "best": best,
            "best_planted": float(np.mean(gain * np.isin(quadrant, pays))), "all_planted": float(gain.mean()),
            "tree": tree.table.iloc[0], "tree_planted": float(np.mean(gain * tree.decisions["treat"].to_numpy()))}


# The tolerances below were set on seeds 0-11 of these data (SEED_PLANTED is one of them): the ranking, the
# intervals' coverage and treating high-value customers beating treating everyone held on all 12; the tree's
# held-out decisions earned 63% to 100% (churn) and 66% to 97% (revenue) of the best quadrant rule's planted
# profit, so they must earn 60%: a depth-2 tree fitted to noisy pseudo-outcomes of ~3,500 customers a fold.
def test_generator_heterogeneous_churn_effect_is_ranked_and_targeted(planted):
    _, truth, _ = planted
    ate = {q: truth["ate_by_quadrant"][q]["churn_12m"] for q in QUADRANTS}
    # hazard ratio 1 outside win_back: the same churn day in both arms (common random numbers), an effect of 0
    assert ate["win_back"] < -0.1 and all(ate[q] == 0 for q in QUADRANTS if q != "win_back")
    # a churner takes away 500 and a call costs 10: calls pay in win_back only (500 x 0.14 > 10)
    r = _planted_targeting(planted, R.CHURNED_WINDOW, "churn_12m", -500, 10)
    predicted = r["predicted"]
    assert predicted.idxmin() == "win_back"  # the largest fall in churn
    assert (predicted.drop("win_back").abs() < -predicted["win_back"] / 2).all()  # the others near 0
    assert r["pays"] == ["win_back"] and r["best_planted"] > r["all_planted"]
    assert 0 < r["best"]["lower"] < r["best_planted"] < r["best"]["upper"]
    tree = r["tree"]
    assert "quadrant is win_back" in tree["rule"]
    assert tree["lower"] < r["tree_planted"] < tree["upper"]
    assert r["tree_planted"] >= 0.6 * r["best_planted"]


def test_generator_heterogeneous_revenue_effect_is_ranked_and_targeted(planted):
    _, truth, _ = planted
    ate = {q: truth["ate_by_quadrant"][q]["revenue_12m"] for q in QUADRANTS}
    assert max(ate, key=ate.get) == "win_back"
    # at margin 0.5 and 25 a call, the high-value quadrants pay (an uplift in proportion to monthly value)
    r = _planted_targeting(planted, R.REVENUE_WINDOW, "revenue_12m", 0.5, 25)
    assert r["predicted"].idxmax() == "win_back"
    assert r["pays"] == ["consolidate", "win_back"] and r["best_planted"] > r["all_planted"]
    best = r["best"]
    assert best["lower"] < r["best_planted"] < best["upper"] and best["vs_all_lower"] > 0
    tree = r["tree"]
    assert tree["lower"] < r["tree_planted"] < tree["upper"]
    assert r["tree_planted"] >= 0.6 * r["best_planted"]


# ---- bad inputs -----------------------------------------------------------------------------------
def test_bad_inputs_say_what_to_fix():
    df = revenue_campaign(200, seed=4)
    with pytest.raises(ValueError, match="covariate column 'tenure' is not in the data"):
        T.fit_cate(df, outcome="revenue", covariates=["tenure"])
    with pytest.raises(ValueError, match="design='rct': use 'randomized'"):
        T.fit_cate(df, outcome="revenue", covariates=COVARIATES, design="rct")
    with pytest.raises(ValueError, match="folds=1: cross-fitting needs"):
        T.fit_cate(df, outcome="revenue", covariates=COVARIATES, folds=1)
    with pytest.raises(ValueError, match="covariates is empty"):
        T.fit_cate(df, outcome="revenue", covariates=[])
    with pytest.raises(ValueError, match="control value 'holdout' is not in arm column 'arm'"):
        T.fit_cate(df, outcome="revenue", covariates=COVARIATES, control="holdout")
    with pytest.raises(ValueError, match="index has repeated labels"):
        T.fit_cate(pd.concat([df, df]), outcome="revenue", covariates=COVARIATES)
    with pytest.raises(ValueError, match=r"arms with fewer than 40 complete customers \(\{'email': \d+\}\)"):
        T.fit_cate(df.loc[(df["arm"] != "email") | (df.index < 20)], outcome="revenue", covariates=COVARIATES,
                   folds=20)
    with pytest.raises(ValueError, match="propensity=1.2: a known assignment probability"):
        T.fit_cate(df, outcome="revenue", covariates=COVARIATES, propensity=1.2)
    with pytest.raises(ValueError, match="outcome column 'contract' is not numeric"):
        T.fit_cate(df, outcome="contract", covariates=["satisfaction"])
    with pytest.raises(ValueError, match="treated must be 0/1 with both values present"):
        T.qini_curve([1.0, 2.0], [1, 1], [0.1, 0.2])


def test_a_rule_must_be_a_boolean_series(revenue):
    df, fit = revenue
    with pytest.raises(ValueError, match="the rule must give a boolean Series indexed like the frame"):
        T.evaluate_rule(fit, df, lambda f: f["satisfaction"], margin_rate=MARGIN, cost_per_action=COST)
    with pytest.raises(ValueError, match=r"says nothing about [0-9,]+ fitted customers"):
        T.evaluate_rule(fit, df.iloc[:100], lambda f: f["satisfaction"] < 4, margin_rate=MARGIN, cost_per_action=COST)
    with pytest.raises(ValueError, match="cost_per_action=-1: a cost is >= 0"):
        T.targeting_value(fit, margin_rate=MARGIN, cost_per_action=-1)

"""helpers.stats.sensitivity: each function against a published figure, a second library or a closed form.

References, cited where used:
- E-values: VanderWeele & Ding (2017, Ann Intern Med 167:268) and the EValue R package vignette
  "E-values for unmeasured confounding" (Mathur, Smith, Ding, VanderWeele), whose printed outputs
  are quoted below; statsmodels' Table2x2 for the risk-ratio interval.
- Rosenbaum bounds: rbounds::binarysens output for 76 vs 41 discordant pairs (T. E. Love, "Using
  rbounds with simulated data", 2019 course notes); the lead-in-children pairs of Rosenbaum (2002,
  Observational Studies, ch. 4; Morton et al. 1982) as given in rbounds' psens example; scipy's
  binomtest and wilcoxon; statsmodels' exact McNemar; brute-force enumeration.
- Power: statsmodels.stats.power (NormalIndPower, zt_ind_solve_power, proportion_effectsize);
  Schoenfeld's formula against Table 1 of Trials 16:213 (2015); simulations with fixed seeds.
- Integrity: closed forms of the chi-square and the one-sided z test.
- Hidden confounder: a planted binary U, checked with Ding & VanderWeele's (2016) bias factor, in a drawn
  cohort and in the generator's paradox cohort (synth's hidden_* parameters).
"""
import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.contingency_tables import Table2x2, mcnemar
from statsmodels.stats.power import NormalIndPower, zt_ind_solve_power
from statsmodels.stats.proportion import proportion_effectsize

from helpers.stats import sensitivity as sv

# Lead in the blood of children of battery-plant workers vs matched controls (Morton et al. 1982),
# as in rbounds' psens example "Replication of Rosenbaum Sensitivity Tests From Chapter 4 of
# Observational Studies".
LEAD_EXPOSED = [38, 23, 41, 18, 37, 36, 23, 62, 31, 34, 24, 14, 21, 17, 16, 20, 15, 10, 45, 39, 22, 35, 49, 48,
                44, 35, 43, 39, 34, 13, 73, 25, 27]
LEAD_CONTROL = [16, 18, 18, 24, 19, 11, 10, 15, 16, 18, 18, 13, 19, 10, 16, 16, 24, 13, 9, 14, 21, 19, 7, 18,
                19, 12, 11, 22, 25, 16, 13, 11, 13]
LEAD = np.subtract(LEAD_EXPOSED, LEAD_CONTROL)


def e_closed(rr):
    """E-value closed form (VanderWeele & Ding 2017, Table 1)."""
    r = max(rr, 1 / rr)
    return r + math.sqrt(r * (r - 1))


# ---- E-values ------------------------------------------------------------------------------
def test_published_examples_of_the_evalue_paper_and_package():
    # Breastfeeding and infant death from respiratory infection (Victora et al. 1987), the paper's
    # example: RR 3.9 (1.8, 8.7). The paper prints 7.2 and 3.0; the formula gives 7.263034 (the
    # EValue vignette prints 7.263034 and 3.0 for evalues.OR(3.9, 1.8, 8.7, rare = TRUE)).
    for ev in (sv.evalue_rr(3.9, 1.8, 8.7), sv.evalue_or(3.9, 1.8, 8.7, rare=True)):
        assert ev.point == pytest.approx(7.263034, abs=1e-6) and ev.bound == pytest.approx(3.0, abs=1e-12)
    assert math.floor(10 * sv.evalue_rr(3.9, 1.8, 8.7).point) / 10 == 7.2  # the paper's figure, truncated
    # Breastfeeding and childhood leukemia, RR 0.80 (0.71, 0.91): vignette prints 1.809017 and 1.428571.
    ev = sv.evalue_rr(0.80, 0.71, 0.91)
    assert (ev.point, ev.bound) == pytest.approx((1.809017, 1.428571), abs=1e-6)
    # Smoking and lung cancer (Hammond & Horn 1958), RR 10.73 (8.02, 14.36): 20.94777 and 15.52336.
    ev = sv.evalue_rr(10.73, 8.02, 14.36)
    assert (ev.point, ev.bound) == pytest.approx((20.94777, 15.52336), abs=1e-5)
    # EValue docs, evalue(OR(3, rare = FALSE)): RR 1.732051.
    assert sv.evalue_or(3.0, rare=False).rr == pytest.approx(1.732051, abs=1e-6)


@pytest.mark.parametrize("rr", [0.3, 0.8, 1.25, 2.0, 7.5])
def test_evalue_is_symmetric_in_rr_and_its_reciprocal(rr):
    lo, hi = rr * 0.8, rr * 1.3
    a, b = sv.evalue_rr(rr, lo, hi), sv.evalue_rr(1 / rr, 1 / hi, 1 / lo)
    assert a.point == pytest.approx(b.point, rel=1e-12) and a.bound == pytest.approx(b.bound, rel=1e-12)
    assert a.point == pytest.approx(e_closed(rr), rel=1e-12)


def test_closed_forms_and_intervals_that_include_no_effect():
    assert sv.evalue_rr(2.0).point == pytest.approx(2 + math.sqrt(2), rel=1e-12)
    assert math.isnan(sv.evalue_rr(2.0).bound)
    assert sv.evalue_rr(1.0).point == 1.0
    assert sv.evalue_rr(1.3, 0.9, 1.8).bound == 1.0 and sv.evalue_rr(0.7, 0.5, 1.0).bound == 1.0
    assert sv.evalue_rr(0.7, 0.5, 0.95).bound == pytest.approx(e_closed(0.95), rel=1e-12)  # limit nearer 1


def test_hazard_ratio_rare_and_common_outcome():
    # EValue docs example evalues.HR(0.56, 0.46, 0.69, rare = FALSE), checked against the conversion
    # RR = (1 - 0.5^sqrt(HR)) / (1 - 0.5^sqrt(1/HR)) (VanderWeele 2019) written out here.
    def to_rr(h):
        return (1 - 0.5 ** math.sqrt(h)) / (1 - 0.5 ** math.sqrt(1 / h))

    ev = sv.evalue_hr(0.56, 0.46, 0.69, rare=False)
    assert (ev.rr, ev.lower, ev.upper) == pytest.approx((to_rr(0.56), to_rr(0.46), to_rr(0.69)), rel=1e-12)
    assert ev.point == pytest.approx(e_closed(to_rr(0.56)), rel=1e-12) and round(ev.point, 2) == 2.35
    assert ev.bound == pytest.approx(e_closed(to_rr(0.69)), rel=1e-12) and ev.rare is False
    assert to_rr(1.0) == 1.0 and to_rr(2.0) == pytest.approx(1 / to_rr(0.5), rel=1e-12)
    rare = sv.evalue_hr(0.56, 0.46, 0.69, rare=True)
    assert (rare.point, rare.bound) == (sv.evalue_rr(0.56, 0.46, 0.69).point, sv.evalue_rr(0.56, 0.46, 0.69).bound)


def test_odds_ratio_common_outcome_uses_its_square_root():
    # EValue docs example evalues.OR(0.86, 0.75, 0.99, rare = FALSE): RR ~ sqrt(OR).
    ev = sv.evalue_or(0.86, 0.75, 0.99, rare=False)
    assert (ev.rr, ev.lower, ev.upper) == pytest.approx(tuple(math.sqrt(x) for x in (0.86, 0.75, 0.99)), rel=1e-12)
    assert ev.bound == pytest.approx(e_closed(math.sqrt(0.99)), rel=1e-12)


def test_risk_difference_goes_through_the_risk_ratio_and_its_log_interval():
    # 2x2 table: treated 90 of 600 churned, control 150 of 500; statsmodels gives the RR and its interval.
    table = Table2x2(np.array([[90, 510], [150, 350]]))
    ev = sv.evalue_risk_difference(90 / 600, 150 / 500, 600, 500)
    assert ev.rr == pytest.approx(table.riskratio, rel=1e-12)
    assert (ev.lower, ev.upper) == pytest.approx(table.riskratio_confint(), rel=1e-9)
    assert ev.point == pytest.approx(e_closed(table.riskratio)) and ev.bound == pytest.approx(e_closed(ev.upper))


def test_standardized_mean_difference_conversion():
    # VanderWeele & Ding (2017, Table 2): RR ~ exp(0.91 d), interval exp(0.91 d -+ 1.78 se).
    ev = sv.evalue_smd(0.5, 0.1)
    assert (ev.rr, ev.lower, ev.upper) == pytest.approx((math.exp(0.455), math.exp(0.277), math.exp(0.633)),
                                                        rel=1e-12)
    assert ev.point == pytest.approx(e_closed(math.exp(0.455))) and ev.bound == pytest.approx(e_closed(math.exp(0.277)))
    assert sv.evalue_smd(-0.5, 0.1).point == pytest.approx(ev.point) and sv.evalue_smd(0.1, 0.1).bound == 1.0


def test_sentences_say_the_effect_the_interval_and_no_effect():
    words = dict(exposure="the recovery", outcome="churn")
    assert sv.evalue_sentence(sv.evalue_rr(0.5, 0.35, 0.7), **words) == (
        "An unmeasured factor associated with both the recovery and churn by a risk ratio of 3.4 each could "
        "explain the effect away; one of 2.2 could move the interval to include no effect.")
    assert sv.evalue_sentence(sv.evalue_rr(1.2, 0.9, 1.6), **words).endswith(
        "risk ratio of 1.7 each could explain the effect away; the interval already includes no effect.")
    assert sv.evalue_sentence(sv.evalue_rr(1.002)).endswith("risk ratio of 1.05 each could explain the effect away.")
    assert "no effect" in sv.evalue_sentence(sv.evalue_rr(1.0))


@pytest.mark.parametrize(("call", "message"), [
    (lambda: sv.evalue_rr(-2.0), r"estimate=-2.0: pass a ratio above 0 \(the ratio itself, not its log\)"),
    (lambda: sv.evalue_rr(float("nan")), "estimate=nan: pass a ratio above 0"),
    (lambda: sv.evalue_rr("big"), "estimate='big' is not a number"),
    (lambda: sv.evalue_rr(2.0, 1.5), "pass both interval limits"),
    (lambda: sv.evalue_rr(2.0, 2.5, 3.0), r"interval \(2.5, 3\) does not contain the estimate 2"),
    (lambda: sv.evalue_hr(0.8, 0.0, 0.9, rare=False), "lower=0.0: pass a ratio above 0"),
    (lambda: sv.evalue_risk_difference(0.0, 0.2, 10, 10), "risk_treated=0.0: pass a share strictly between 0 and 1"),
    (lambda: sv.evalue_risk_difference(0.1, 0.2, 10.5, 10), "n_treated=10.5: pass a whole number of at least 1"),
    (lambda: sv.evalue_smd(0.3, 0.0), "se=0.0: pass a standard error above 0"),
])
def test_evalue_inputs_are_checked(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ---- Rosenbaum bounds -----------------------------------------------------------------------
def test_mcnemar_bound_reproduces_rbounds_binarysens():
    # rbounds::binarysens for 76 (treated only) vs 41 (control only) discordant pairs, upper bounds
    # as printed in Love (2019): Gamma 1, 1.25, 1.5, 1.75, 2, 2.5, 3.
    printed = {1.0: 0.00078, 1.25: 0.02456, 1.5: 0.15860, 1.75: 0.42373, 2.0: 0.69087, 2.5: 0.94847, 3.0: 0.99432}
    for gamma, p in printed.items():
        assert sv.mcnemar_bound(76, 41, gamma, alternative="greater") == pytest.approx(p, abs=5e-6)
    # gamma_at: the smallest Gamma (0.01 grid) with an upper bound above 0.05 lies between 1.25 and 1.5.
    g = sv.gamma_at(sv.mcnemar_bound, 76, 41, alternative="greater")
    assert 1.25 < g < 1.5 and sv.mcnemar_bound(76, 41, g, alternative="greater") > 0.05
    assert sv.mcnemar_bound(76, 41, g - 0.01, alternative="greater") <= 0.05


def test_mcnemar_bound_at_gamma_one_is_the_exact_binomial_and_mcnemar_test():
    for t, c in [(12, 30), (41, 76), (5, 5)]:
        less, greater = sv.mcnemar_bound(t, c, alternative="less"), sv.mcnemar_bound(t, c, alternative="greater")
        assert less == pytest.approx(stats.binomtest(t, t + c, 0.5, alternative="less").pvalue, rel=1e-12)
        assert greater == pytest.approx(stats.binomtest(t, t + c, 0.5, alternative="greater").pvalue, rel=1e-12)
        exact = mcnemar(np.array([[100, t], [c, 80]]), exact=True).pvalue  # two-sided
        assert min(1.0, 2 * min(less, greater)) == pytest.approx(exact, rel=1e-12)


def enumerate_bound(treated_event, size, events, gamma, alternative):
    """Brute force: every outcome of the sets' bounding Bernoullis, the tail probability summed."""
    a, n = np.asarray(events, float), np.asarray(size, float)
    keep = (a > 0) & (a < n)
    p = a / (a + gamma * (n - a)) if alternative == "less" else gamma * a / (gamma * a + n - a)
    p, t = p[keep], int(np.asarray(treated_event)[keep].sum())
    total = 0.0
    for draw in itertools.product((0, 1), repeat=len(p)):
        k = sum(draw)
        if (k <= t) if alternative == "less" else (k >= t):
            total += float(np.prod(np.where(draw, p, 1 - p)))
    return total


@pytest.mark.parametrize("alternative", ["less", "greater"])
@pytest.mark.parametrize("gamma", [1.0, 1.7, 3.0])
def test_matched_sets_bound_is_the_exact_convolution(gamma, alternative):
    # Ten sets of 2 to 5 customers, two uninformative (no events / all events).
    treated = [0, 1, 0, 0, 1, 0, 0, 1, 0, 1]
    size = [2, 3, 4, 5, 3, 2, 4, 3, 3, 2]
    events = [1, 2, 1, 2, 1, 0, 3, 3, 1, 1]
    got = sv.matched_sets_bound(treated, size, events, gamma, alternative=alternative, method="exact")
    assert got == pytest.approx(enumerate_bound(treated, size, events, gamma, alternative), rel=1e-10)


def test_pairs_are_the_mcnemar_special_case_and_normal_matches_exact_in_large_samples():
    # 30 pairs where only the treated churned, 50 where only the control did, 120 concordant.
    treated = [1] * 30 + [0] * 50 + [1] * 40 + [0] * 80
    events = [1] * 80 + [2] * 40 + [0] * 80
    for gamma in (1.0, 1.3, 2.0):
        for alt in ("less", "greater"):
            assert sv.matched_sets_bound(treated, [2] * 200, events, gamma, alternative=alt) == pytest.approx(
                sv.mcnemar_bound(30, 50, gamma, alternative=alt), rel=1e-9)
    rng = np.random.default_rng(7)
    size = rng.integers(2, 6, 3000)
    events = rng.binomial(size, 0.3)
    treated = (rng.random(3000) < 0.8 * events / size).astype(int)
    treated[events == size] = 1  # when every customer of a set churned, so did the treated one
    for gamma in (1.0, 1.2):
        exact = sv.matched_sets_bound(treated, size, events, gamma, method="exact")
        normal = sv.matched_sets_bound(treated, size, events, gamma, method="normal")
        assert abs(exact - normal) < 0.01  # continuity-corrected normal, 3000 sets: within 0.01
    big = np.tile([2, 3], 3000), np.tile([1, 1], 3000), np.tile([0, 0], 3000)
    assert sv.matched_sets_bound(big[2], big[0], big[1], 1.1) == sv.matched_sets_bound(
        big[2], big[0], big[1], 1.1, method="normal")  # auto: normal beyond EXACT_SETS informative sets


def test_matched_set_counts_from_a_cohort_frame():
    df = pd.DataFrame({"set": ["a"] * 3 + ["b"] * 2 + ["c"] * 4, "treated": [1, 0, 0, 1, 0, 0, 1, 0, 0],
                       "churned": [0, 1, 1, 1, 0, 0, 0, 1, 0]})
    counts = sv.matched_set_counts(df, set_id="set", treated="treated", outcome="churned")
    assert counts.to_dict("list") == {"set_size": [3, 2, 4], "set_events": [2, 1, 1], "treated_event": [0, 1, 0]}
    assert sv.matched_sets_bound(**counts) == pytest.approx(enumerate_bound(
        counts.treated_event, counts.set_size, counts.set_events, 1.0, "less"))
    with pytest.raises(ValueError, match="1 matched sets \\(e.g. 'c'\\) do not have exactly one treated"):
        sv.matched_set_counts(df.assign(treated=[1, 0, 0, 1, 0, 0, 1, 1, 0]), set_id="set", treated="treated",
                              outcome="churned")
    with pytest.raises(ValueError, match="outcome column 'churned' has values other than 0/1"):
        sv.matched_set_counts(df.assign(churned=2), set_id="set", treated="treated", outcome="churned")
    with pytest.raises(ValueError, match="set_id column 'pair' is not in the data"):
        sv.matched_set_counts(df, set_id="pair", treated="treated", outcome="churned")


def test_wilcoxon_bound_on_rosenbaums_lead_example():
    # Rosenbaum (2002, ch. 4), lead pairs, signed rank T = 527 (the one zero difference is ranked
    # but unsigned). Upper bounds of the book's table at Gamma = 2, 3, 4, 4.25, 5, 6 (normal
    # approximation): 0.0018, 0.0136, 0.0388, 0.0468, 0.0740, 0.1150. The book could not be opened
    # when this was written: the figures are as remembered from it, and agree to 4 decimals with
    # rbounds' psens formulas on its replication data (zero ranked, as in its older versions).
    table = {2: 0.0018, 3: 0.0136, 4: 0.0388, 4.25: 0.0468, 5: 0.0740, 6: 0.1150}
    for gamma, p in table.items():
        assert sv.wilcoxon_bound(LEAD, gamma) == pytest.approx(p, abs=5e-5)
    assert sv.wilcoxon_bound(LEAD, 1.0) < 1e-4
    assert sv.gamma_at(sv.wilcoxon_bound, LEAD) == 4.35  # 0.01 grid between 4.25 (0.0468) and 5 (0.0740)
    assert sv.wilcoxon_bound(LEAD, 4.35) > 0.05 >= sv.wilcoxon_bound(LEAD, 4.34)


def test_wilcoxon_bound_at_gamma_one_is_scipys_normal_approximation():
    rng = np.random.default_rng(3)
    d = np.round(rng.normal(0.4, 1.0, 60), 1)  # rounding makes ties and zeros
    d[:3] = 0.0
    for alternative in ("greater", "less"):
        ref = stats.wilcoxon(d, zero_method="pratt", method="approx", correction=False, alternative=alternative)
        assert sv.wilcoxon_bound(d, 1.0, alternative=alternative) == pytest.approx(ref.pvalue, rel=1e-10)


def test_bounds_grow_with_gamma():
    gammas = [1.0, 1.1, 1.5, 2.0, 3.0, 5.0]
    for bound in ([sv.mcnemar_bound(20, 45, g) for g in gammas], [sv.wilcoxon_bound(LEAD, g) for g in gammas],
                  [sv.matched_sets_bound([0, 0, 1, 0, 0], [3, 4, 2, 3, 5], [1, 2, 1, 2, 1], g) for g in gammas]):
        assert all(a < b for a, b in zip(bound, bound[1:]))


def test_gamma_at_edges():
    assert sv.gamma_at(sv.mcnemar_bound, 20, 22) == 1.0  # not significant even without hidden bias
    assert sv.gamma_at(sv.mcnemar_bound, 0, 400, gamma_max=3) == math.inf  # still significant at 3
    with pytest.raises(ValueError, match="alpha=1.5: pass a share strictly between 0 and 1"):
        sv.gamma_at(sv.mcnemar_bound, 20, 40, alpha=1.5)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: sv.mcnemar_bound(10, 5, 0.5), r"gamma=0.5: pass a bias gamma of at least 1 \(1 = no hidden bias\)"),
    (lambda: sv.mcnemar_bound(0, 0), "no discordant pairs"),
    (lambda: sv.mcnemar_bound(-1, 5), "treated_only=-1: pass a whole number of at least 0"),
    (lambda: sv.mcnemar_bound(3, 5, alternative="two-sided"), "alternative='two-sided': use 'less'"),
    (lambda: sv.matched_sets_bound([1], [2, 3], [1, 1]), "lengths 1, 2, 2: pass one value per matched set"),
    (lambda: sv.matched_sets_bound([1], [1], [1]), "set_size >= 2"),
    (lambda: sv.matched_sets_bound([1], [3], [0]), "treated_event <= set_events"),
    (lambda: sv.matched_sets_bound([0, 1], [2, 3], [0, 3]), "no matched set has both"),
    (lambda: sv.matched_sets_bound([0], [2], [1], method="fast"), "method='fast': use 'auto', 'exact' or 'normal'"),
    (lambda: sv.wilcoxon_bound([0.0, 0.0]), "every difference is zero"),
    (lambda: sv.wilcoxon_bound([1.0, np.inf]), "infinite values"),
])
def test_bound_inputs_are_checked(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ---- power and sample size -------------------------------------------------------------------
@pytest.mark.parametrize(("n1", "n0", "r2", "alpha", "power"), [(500, 500, 0.0, 0.05, 0.8), (300, 900, 0.4, 0.01, 0.9)])
def test_detectable_difference_matches_statsmodels(n1, n0, r2, alpha, power):
    # NormalIndPower counts the far tail too (negligible here), hence rel=1e-4.
    d = NormalIndPower().solve_power(nobs1=n1, ratio=n0 / n1, alpha=alpha, power=power)
    got = sv.detectable_difference(12.0, n1, n0, r2=r2, alpha=alpha, power=power)
    assert got == pytest.approx(d * 12.0 * math.sqrt(1 - r2), rel=1e-4)
    assert sv.detectable_effect(1.0, alpha=alpha, power=power) == pytest.approx(
        stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power), rel=1e-12)


@pytest.mark.parametrize(("delta", "r2", "ratio"), [(1.0, 0.0, 1.0), (0.5, 0.5, 2.0), (-2.0, 0.3, 0.5)])
def test_customers_for_difference_matches_statsmodels(delta, r2, ratio):
    n1 = zt_ind_solve_power(effect_size=abs(delta) / (8.0 * math.sqrt(1 - r2)), ratio=ratio, alpha=0.05, power=0.8)
    arms = sv.customers_for_difference(delta, 8.0, r2=r2, ratio=ratio)
    assert arms.treated == math.ceil(n1) and arms.control == math.ceil(n1 * ratio)


def test_two_proportions_on_the_arcsine_scale_match_statsmodels():
    h = NormalIndPower().solve_power(nobs1=2000, ratio=1.5, alpha=0.05, power=0.8)
    down = sv.detectable_proportion_difference(0.25, 2000, 3000)
    up = sv.detectable_proportion_difference(0.25, 2000, 3000, direction="up")
    assert abs(proportion_effectsize(0.25 + down, 0.25)) == pytest.approx(h, rel=1e-4)
    assert proportion_effectsize(0.25 + up, 0.25) == pytest.approx(h, rel=1e-4) and down < 0 < up
    n1 = NormalIndPower().solve_power(effect_size=proportion_effectsize(0.20, 0.15), ratio=1.0, alpha=0.05, power=0.8)
    arms = sv.customers_for_proportions(0.20, -0.05)
    assert arms.treated == math.ceil(n1) == arms.control


def test_schoenfeld_events_against_published_figures():
    # HR 0.75, two-sided 0.05, 80% power, 1:1: 4 (1.96 + 0.84)^2 / log(0.75)^2 = 379.4 -> 380 events.
    assert sv.events_for_hazard_ratio(0.75) == 380
    assert sv.detectable_hazard_ratio(380) == pytest.approx(0.75, abs=0.001)
    # Trials 16:213 (2015), Table 1: Schoenfeld total sample size at 5%, 80%, equal allocation and a 0.5
    # event probability, for HR 1.25, 1.5, 1.75, 2.0: 1264, 384, 204, 132 (rounded up to a multiple of 4).
    for hr, total in {1.25: 1264, 1.5: 384, 1.75: 204, 2.0: 132}.items():
        assert 4 * math.ceil(sv.customers_for_hazard_ratio(hr, 0.5).total / 4) == total
    # unequal allocation: D = (z + z)^2 / (s (1 - s) log^2 HR) with s = 1/3 treated (ratio 2).
    z2 = (stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) ** 2
    assert sv.events_for_hazard_ratio(0.8, share_treated=1 / 3) == math.ceil(z2 / (2 / 9 * math.log(0.8) ** 2))
    arms = sv.customers_for_hazard_ratio(0.8, 0.25, ratio=2.0)
    assert arms.treated == math.ceil(sv.events_for_hazard_ratio(0.8, share_treated=1 / 3) / 0.25 / 3)


def test_customers_for_se_scales_as_one_over_root_n():
    n = sv.customers_for_se(0.5, se=0.35, n=400)  # e.g. an RMST difference with SE 0.35 at 400 per arm
    def se_at(customers):
        return 0.35 * math.sqrt(400 / customers)

    assert sv.detectable_effect(se_at(n)) <= 0.5 < sv.detectable_effect(se_at(n - 1))


def simulated_power(effect, n, r2, rng, experiments=400):
    """Share of simulated two-arm experiments (n per arm, outcome variance 1) whose CUPED z-test rejects."""
    x = rng.normal(size=(experiments, 2 * n))
    t = np.tile(np.r_[np.ones(n), np.zeros(n)], (experiments, 1))
    y = effect * t + math.sqrt(r2) * x + math.sqrt(1 - r2) * rng.normal(size=x.shape)
    if r2 > 0:  # CUPED: y - theta (x - mean x), theta from all customers of the experiment
        xc = x - x.mean(axis=1, keepdims=True)
        y = y - (xc * y).sum(axis=1, keepdims=True) / (xc**2).sum(axis=1, keepdims=True) * xc
    y1, y0 = y[:, :n], y[:, n:]
    z = (y1.mean(axis=1) - y0.mean(axis=1)) / np.sqrt(y1.var(axis=1, ddof=1) / n + y0.var(axis=1, ddof=1) / n)
    return float(np.mean(np.abs(z) > stats.norm.ppf(0.975)))


def test_planned_power_is_met_in_simulation():
    # 400 simulated experiments per check: binomial SD of a power of 0.8 is 0.02; tolerance 0.06 (3 SD).
    rng = np.random.default_rng(2024)
    cuped = sv.detectable_difference(1.0, 200, 200, r2=0.5)
    assert abs(simulated_power(cuped, 200, 0.5, rng) - 0.8) < 0.06
    assert simulated_power(cuped, 200, 0.0, rng) < 0.65  # without the adjustment the same effect is often missed
    plain = sv.detectable_difference(1.0, 200, 200)
    assert abs(simulated_power(plain, 200, 0.0, rng) - 0.8) < 0.06
    # two proportions, arcsine test: baseline churn 0.2, 1000 per arm.
    p1 = 0.2 + sv.detectable_proportion_difference(0.2, 1000, 1000)
    def angle(rate):  # 2 asin(sqrt(observed rate)) in 400 simulated arms of 1000
        return 2 * np.arcsin(np.sqrt(rng.binomial(1000, rate, 400) / 1000))

    h = angle(p1) - angle(0.2)
    assert abs(np.mean(np.abs(h) / math.sqrt(2 / 1000) > stats.norm.ppf(0.975)) - 0.8) < 0.06


@pytest.mark.parametrize(("call", "message"), [
    (lambda: sv.detectable_difference(1.0, 100, 100, r2=1.0), r"r2=1.0: pass a share of variance explained in \[0,"),
    (lambda: sv.detectable_difference(1.0, 100, 100, alpha=0.0), "alpha=0.0: pass a share strictly between 0 and 1"),
    (lambda: sv.detectable_difference(1.0, 100, 100, power=1.2), "power=1.2: pass a share strictly between 0 and 1"),
    (lambda: sv.detectable_difference(-1.0, 100, 100), "sd=-1.0: pass a standard deviation above 0"),
    (lambda: sv.detectable_difference(1.0, 0, 100), "n_treated=0: pass a whole number of at least 1"),
    (lambda: sv.detectable_proportion_difference(0.01, 50, 50), "no rate down from 0.01 is detectable"),
    (lambda: sv.detectable_proportion_difference(0.2, 50, 50, direction="both"), "direction='both'"),
    (lambda: sv.events_for_hazard_ratio(1.0), "hazard_ratio=1 is no effect"),
    (lambda: sv.customers_for_hazard_ratio(0.8, 1.5), "event_probability=1.5: pass a share"),
    (lambda: sv.customers_for_proportions(0.1, -0.2), r"baseline \+ difference=-0.1.*: pass a share"),
    (lambda: sv.customers_for_difference(0.0, 1.0), "difference=0 is no effect"),
    (lambda: sv.customers_for_difference(1.0, 1.0, ratio=0), "ratio=0: pass a ratio n_control / n_treated above 0"),
    (lambda: sv.customers_for_se(0.5, se=0.3, n=0), "n=0: pass a whole number of at least 1"),
])
def test_power_inputs_are_checked(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ---- campaign integrity ----------------------------------------------------------------------
def test_sample_ratio_mismatch_against_closed_forms():
    # two arms, 50/50: chi2 = (n1 - n0)^2 / N and p = 2 Phi(-|z|); 821,588 vs 815,482 gives p = 1.8e-6.
    check = sv.sample_ratio_mismatch([821_588, 815_482])
    assert check.chi2 == pytest.approx(6106**2 / 1_637_070, rel=1e-12)
    assert check.p == pytest.approx(2 * stats.norm.sf(6106 / math.sqrt(1_637_070)), rel=1e-9)
    assert check.p == pytest.approx(1.8e-6, abs=0.05e-6) and check.verdict == sv.MISMATCH and check.df == 1
    # planned 80/20 with weights given as 4:1; three arms.
    check = sv.sample_ratio_mismatch([8100, 1900], [4, 1])
    assert check.expected == (8000.0, 2000.0) and check.chi2 == pytest.approx(100**2 / 8000 + 100**2 / 2000)
    assert check.verdict == sv.AS_PLANNED and check.p == pytest.approx(stats.chi2.sf(6.25, 1))
    three = sv.sample_ratio_mismatch([1000, 1100, 900])
    assert three.df == 2 and three.chi2 == pytest.approx(20.0) and three.verdict == sv.MISMATCH  # p = exp(-10)
    assert sv.sample_ratio_mismatch([1000, 1100, 900], threshold=1e-5).verdict == sv.AS_PLANNED


def test_non_inferiority_against_the_closed_form():
    ok = sv.non_inferiority(0.01, 0.02, 0.05)
    z = (0.01 - 0.05) / 0.02
    assert ok.p == pytest.approx(stats.norm.cdf(z), rel=1e-12) and ok.upper == pytest.approx(0.01 + 1.6448536 * 0.02)
    assert ok.verdict == sv.NON_INFERIOR and ok.p < 0.05
    worse = sv.non_inferiority(0.03, 0.02, 0.05)
    assert worse.verdict == sv.NOT_SHOWN and worse.p > 0.05 and worse.upper > 0.05
    for diff in np.linspace(-0.02, 0.08, 21):  # the bound and the p-value always agree
        r = sv.non_inferiority(diff, 0.015, 0.04, alpha=0.1)
        assert (r.upper < r.margin) == (r.p < 0.1)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: sv.sample_ratio_mismatch([100]), "pass the customer count of each of two or more arms"),
    (lambda: sv.sample_ratio_mismatch([100, -3]), "counts=-3: pass a whole number of at least 0"),
    (lambda: sv.sample_ratio_mismatch([100, 100], [0.5, 0.3, 0.2]), "2 counts but 3 shares"),
    (lambda: sv.sample_ratio_mismatch([100, 100], [0.5, 0.0]), "shares=0.0: pass a ratio above 0"),
    (lambda: sv.non_inferiority(0.01, 0.02, -0.05), r"margin=-0.05: pass a margin above 0 \(the largest"),
    (lambda: sv.non_inferiority(float("inf"), 0.02, 0.05), "difference=inf: pass a finite number"),
])
def test_integrity_inputs_are_checked(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ---- recovery: a planted hidden confounder ----------------------------------------------------
def confounded_cohort(n, *, rr_true, treat_ratio, rr_ud, seed):
    """Binary U (40%) multiplies the chance of treatment by ``treat_ratio`` and the outcome risk by ``rr_ud``."""
    rng = np.random.default_rng(seed)
    u = rng.random(n) < 0.4
    t = rng.random(n) < 0.2 * treat_ratio**u
    y = rng.random(n) < 0.05 * rr_true**t * rr_ud**u
    return u, t, y


def analyse(u, t, y, rr_ud):
    """Crude risks and E-value ignoring U, the U-standardized RR, and the planted strength and bias factor."""
    ev = sv.evalue_risk_difference(y[t].mean(), y[~t].mean(), int(t.sum()), int((~t).sum()))
    shares = [np.mean(u == level) for level in (False, True)]
    adjusted = sum(w * y[t & (u == lv)].mean() for w, lv in zip(shares, (False, True))) / sum(
        w * y[~t & (u == lv)].mean() for w, lv in zip(shares, (False, True)))
    rr_eu = max(np.mean(u[t] == lv) / np.mean(u[~t] == lv) for lv in (False, True))
    bias = rr_ud * rr_eu / (rr_ud + rr_eu - 1)  # Ding & VanderWeele (2016) bounding factor B
    return ev, adjusted, max(rr_eu, rr_ud), bias


def test_evalue_exceeds_the_planted_confounder_only_when_the_effect_survives_adjustment():
    # Tolerances: 400,000 customers; the U-standardized RR is within 0.15 of the truth.
    # (a) No true effect; a strong U (treatment chance x4, churn risk x4) makes a crude RR of about 2.2.
    u, t, y = confounded_cohort(400_000, rr_true=1.0, treat_ratio=4.0, rr_ud=4.0, seed=11)
    ev, adjusted, strength, bias = analyse(u, t, y, 4.0)
    assert abs(adjusted - 1.0) < 0.15 and ev.rr > 1.8  # the crude effect does not survive adjusting for U
    assert ev.point <= strength  # a confounder this strong can explain the effect away...
    assert bias >= ev.rr  # ...and its bias factor covers the whole crude RR (Ding & VanderWeele 2016)
    # (b) True RR 2; a weak U (x1.5 and x1.5) leaves the crude RR near 2.1.
    u, t, y = confounded_cohort(400_000, rr_true=2.0, treat_ratio=1.5, rr_ud=1.5, seed=12)
    ev, adjusted, strength, bias = analyse(u, t, y, 1.5)
    assert abs(adjusted - 2.0) < 0.15  # the effect survives adjusting for U
    assert ev.point > strength and ev.bound > strength  # weaker than the E-values: cannot explain it away
    assert bias < ev.rr and adjusted >= ev.rr / bias - 0.15  # true RR >= crude / B, up to the tolerance


# ---- the E-values the reports carry beside each observational ratio ----------------------------------------------
def _closed_form(rr: float) -> float:
    rr = max(rr, 1 / rr)
    return rr + math.sqrt(rr * (rr - 1))


def test_a_one_table_flag_comparison_carries_the_evalue_of_each_ratio(tmp_path):
    """03 on a one-table export: each flag's odds ratio (common outcome: its square root) and hazard ratio."""
    from helpers.steps import recovery

    rng = np.random.default_rng(3)
    n = 2000
    complained = rng.random(n) < 0.3
    churned = rng.random(n) < np.where(complained, 0.45, 0.25)  # common: about 31% churn
    path = tmp_path / "export.csv"
    pd.DataFrame({"complained": complained, "churned": churned, "tenure": rng.exponential(20, n) + 0.1,
                  "age": rng.normal(40, 10, n)}).to_csv(path, index=False)
    data = recovery.open_complaints(one_table=str(path), outcome="churned", flags=["complained"]).value
    section = recovery.adjusted(data, flags=["complained"], covariates=["age"], duration="tenure")
    assert section.status == "ok", section.reason
    table = section.frames[-1]
    findings = {f.name: f.value for f in section.findings}
    rows = {r["model"]: r for _, r in table.iterrows() if r["term"] == "complained"}
    odds = rows["logistic"]["estimate"]
    assert findings["evalue.complained.logistic"] == pytest.approx(_closed_form(math.sqrt(odds)))
    assert findings["evalue.complained.cox"] == pytest.approx(  # common outcome: the HR conversion of VanderWeele 2017
        sv.evalue_hr(rows["cox"]["estimate"], rows["cox"]["lower"], rows["cox"]["upper"], rare=False).point)
    lower = rows["logistic"]["lower"]  # the interval bound nearer 1, on the same conversion
    assert rows["logistic"]["e_value_bound"] == pytest.approx(_closed_form(math.sqrt(lower)) if lower > 1 else 1.0)


def test_the_recovery_kinds_carry_the_evalue_of_each_hazard_ratio(dataset):
    """03's resolution-speed and recovery-action hazard ratios: who gets which is not random, each has its E-value."""
    from helpers.stats import recovery as recovery_stats
    from helpers.steps import recovery

    data = recovery.open_complaints(str(dataset)).value
    section = recovery.recovery_kinds(data, followup_months=12)
    assert section.status == "ok", section.reason
    drivers = recovery_stats.recovery_drivers(data.customers, data.contacts, data.revenue, horizon_months=12)
    rare = sv.is_rare(float(drivers[recovery_stats.CHURNED_FOLLOWUP].mean()))
    speed, actions = section.frames[-2:]
    checked = 0
    for table in (speed, actions):
        reference = table["lower"] == table["upper"]  # the level the others are compared with (1 to 1)
        assert reference.any() and table.loc[reference, "e_value"].isna().all()
        for _, row in table[~reference].dropna(subset=["lower", "upper"]).iterrows():
            expected = sv.evalue_hr(row["hr"], row["lower"], row["upper"], rare=rare)
            assert (row["e_value"], row["e_value_bound"]) == pytest.approx((expected.point, expected.bound))
            checked += 1
    assert checked >= 3
    trend = {f.name: f.value for f in section.findings}
    hr = trend["speed.trend_hr"]  # common outcome: RR = (1 - 0.5 ** sqrt(HR)) / (1 - 0.5 ** sqrt(1 / HR))
    rr = hr if rare else (1 - 0.5 ** math.sqrt(hr)) / (1 - 0.5 ** math.sqrt(1 / hr))
    assert trend["speed.trend_hr.evalue"] == pytest.approx(_closed_form(rr))


def test_the_planned_sizes_give_the_planned_power_when_simulated_on_the_generators_campaign(default_data, tmp_path):
    """02's plan (issue 18): customers per arm for 80% power, checked by drawing campaigns of that size.

    Control customers are resampled from the generator's randomized campaign (its skewed revenue, its
    pre-period revenue, its churn); the treated arm is a second resample with the planned effect added
    (+50 revenue; 3 points less churn, by sparing churners at random). Each simulated campaign is read
    as the notebook reads it (CUPED on the pre-period revenue; the difference of two rates), and the
    share of campaigns found significant at 5% must be the planned 80% within 5 points (400 draws:
    2.5 binomial standard errors).
    """
    from statsmodels.stats.proportion import proportions_ztest

    from helpers.data import synth
    from helpers.data.io import load_dataset
    from helpers.stats import retention as R

    frame = R.campaign_frame(load_dataset(synth.write(*default_data, tmp_path / "default")), "RCT-2024-07")
    control = frame[frame["arm"] == "control"]
    rng, draws = np.random.default_rng(11), 400
    pre, post = control[R.PRE_REVENUE].to_numpy(float), control[R.REVENUE_WINDOW].to_numpy(float)
    r2 = np.corrcoef(pre, post)[0, 1] ** 2  # the variance CUPED removes
    n = sv.customers_for_difference(50.0, float(post.std(ddof=1)), r2=r2).treated
    found = 0
    for _ in range(draws):
        c, t = rng.integers(0, len(post), n), rng.integers(0, len(post), n)
        x, y = np.r_[pre[c], pre[t]], np.r_[post[c], post[t] + 50.0]
        theta = np.cov(x, y)[0, 1] / x.var(ddof=1)
        adjusted = y - theta * (x - x.mean())
        found += stats.ttest_ind(adjusted[n:], adjusted[:n]).pvalue < 0.05
    assert abs(found / draws - 0.8) < 0.05, (n, found / draws)

    churned = control[R.CHURNED_WINDOW].to_numpy(bool)
    base = churned.mean()
    n = sv.customers_for_proportions(base, -0.03).treated
    found = 0
    for _ in range(draws):
        c = churned[rng.integers(0, len(churned), n)]
        t = churned[rng.integers(0, len(churned), n)] & (rng.random(n) >= 0.03 / base)  # 3 points fewer churn
        found += proportions_ztest([t.sum(), c.sum()], [n, n])[1] < 0.05
    assert abs(found / draws - 0.8) < 0.05, (n, found / draws)


# ---- recovery on the generator: a planted hidden confounder of the service recovery paradox ---------------------
def planted_paradox(seed: int = 7, **planted) -> dict:
    """The paradox estimate on 20,000 generated customers x 36 months with a planted U, and U's strength.

    Estimate: recovered complainers vs their 3 matched never-complainers, churn hazard ratio within 12
    months, and its E-value (`evalue_hr`, rare rule from the cohort's churn). Strength of the planted U
    (Ding & VanderWeele 2016): RR_UD is hr_hidden on the risk-ratio scale by the same rule as the estimate
    (rare: RR = HR; common: VanderWeele's RR = (1 - 0.5^sqrt(HR)) / (1 - 0.5^sqrt(1/HR))), as a ratio >= 1;
    RR_EU is read from the cohort with `synth.hidden_trait`. The bound is stated for an observed RR above 1;
    a protective estimate is bounded with the exposure levels swapped, so RR_EU = max over u of
    P(U=u | control) / P(U=u | case) here. (Ordered case over control, RR_EU is about 1.5 and B 1.23-1.26 on
    the spurious paradox below, under the bias 1 / rr = 1.24-1.38 that U alone made on 7 of 8 seeds: no bound.)
    """
    from helpers.data import schema, synth
    from helpers.stats import recovery as recovery_stats

    params = synth.SynthParams(**planted)
    tables, truth = synth.generate(20_000, 36, seed=seed, params=params)
    cohort = recovery_stats.paradox_cohort(tables[schema.CUSTOMERS], tables[schema.CONTACTS], tables[schema.REVENUE],
                                           horizon_months=12, ratio=3, seed=0)
    effect = recovery_stats.paradox_effect(cohort, horizon_months=12)
    rare = sv.is_rare(cohort[recovery_stats.CHURNED_FOLLOWUP].mean())
    ev = sv.evalue_hr(effect["hr"], effect["lower"], effect["upper"], rare=rare)
    u = synth.hidden_trait(20_000, 36, seed=seed, params=params).loc[cohort[schema.CUSTOMER_ID]].to_numpy()
    case = (cohort[recovery_stats.GROUP_COLUMN] == recovery_stats.RECOVERED).to_numpy()
    ratios = [np.mean(u[case] == level) / np.mean(u[~case] == level) for level in (False, True)]
    rr_eu = max(1 / r if ev.rr < 1 else r for r in ratios)
    rr_u = sv.evalue_hr(params.hr_hidden, rare=rare).rr
    rr_ud = max(rr_u, 1 / rr_u)
    bias = rr_eu * rr_ud / (rr_eu + rr_ud - 1)
    return {"effect": effect, "ev": ev, "bias": bias, "strength": e_closed(bias),
            "planted_log_hr": truth["cox_log_hr"]["complaint[recovered]"]}


@pytest.fixture(scope="module")
def explained_away():
    """No recovery effect; a strong U (half the customers: churn hazard x4, odds of a recovery x0.05)."""
    return planted_paradox(hr_recovered=1.0, hidden_share=0.5, hr_hidden=4.0, hidden_recovery_or=0.05)


@pytest.fixture(scope="module")
def survives():
    """Recovery halves the churn hazard; a weaker U (30%: churn hazard x2, odds of a recovery x0.3)."""
    return planted_paradox(hr_recovered=0.5, hidden_share=0.3, hr_hidden=2.0, hidden_recovery_or=0.3)


def test_a_strong_planted_confounder_explains_a_spurious_paradox_away(explained_away):
    # Seeds 1-8 (this test: 7): HR 0.63-0.74, upper limit 0.75-0.87; E-value 1.78-2.09 against the planted
    # strength E_B 2.88-3.08; rr * B 1.31-1.45. Churn within the follow-up 18-20%: the common-outcome rule
    # (the assertions also hold under the rare rule on every seed).
    r = explained_away
    effect, ev, bias = r["effect"], r["ev"], r["bias"]
    assert r["planted_log_hr"] == 0.0
    assert effect["upper"] < 1 and effect["hr"] < 0.85  # a spurious paradox: U (churn x4) is rare among the recovered
    assert ev.point < r["strength"]  # the planted U is strong enough to explain the estimate away, as it does
    # Ding & VanderWeele: true RR in [rr, rr * B] (risk-ratio scale, where B is). The bound is on the population
    # RR; the estimate's sampling error (its 95% limits are within 13% of rr) is well inside rr * B >= 1.31.
    assert ev.rr <= 1.0 <= ev.rr * bias


def test_the_evalue_exceeds_a_weaker_planted_confounder_and_the_paradox_survives_it(survives):
    # Seeds 1-8 (this test: 7): HR 0.43-0.53; E-value 3.18-4.13 (its interval limit 2.58-3.34) against the
    # planted strength E_B 1.59-1.70; upper limit x B 0.61-0.73. Churn 13-14%: the rare rule (the common rule,
    # on every seed: E-value 2.47-3.00 against E_B 1.48-1.56).
    r = survives
    effect, ev, bias = r["effect"], r["ev"], r["bias"]
    assert r["planted_log_hr"] == pytest.approx(math.log(0.5)) and effect["upper"] < 1
    assert ev.point > r["strength"] and ev.bound > r["strength"]  # U is too weak to explain it away...
    assert ev.upper * bias < 1  # ...indeed: even the interval's limit nearer 1, moved by U's bias factor, is below 1

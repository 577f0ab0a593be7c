"""How sure is each verdict: unmeasured confounding, hidden bias, power, and campaign integrity.

E-values (VanderWeele & Ding 2017, Ann Intern Med 167:268)
    `evalue_rr`, `evalue_hr`, `evalue_or`, `evalue_risk_difference`, `evalue_smd` put an estimate
    on the risk-ratio scale and give the E-value of the estimate and of the interval limit nearer
    the null: the risk ratio an unmeasured factor would need with both the exposure and the
    outcome to explain the effect away. `evalue_sentence` says it in words.
Rosenbaum bounds (Rosenbaum 2002, Observational Studies, 2nd ed., ch. 4)
    Upper bounds on one-sided p-values under a hidden bias of at most ``gamma`` (the odds of
    treatment of two matched customers differ by at most that factor): `mcnemar_bound` (pairs,
    binary outcome), `matched_sets_bound` (one treated unit with 1..k controls, binary outcome;
    `matched_set_counts` builds its inputs from a frame), `wilcoxon_bound` (pairs, continuous
    outcome); `gamma_at` finds the bias at which a verdict stops being significant.
Power (two-sided ``alpha``, normal approximations)
    Smallest detectable effects: `detectable_difference` (means, CUPED/ANCOVA through ``r2``),
    `detectable_proportion_difference` (arcsine), `detectable_hazard_ratio` (Schoenfeld),
    `detectable_effect` (any estimate with a known SE). The inverse, customers needed:
    `customers_for_difference`, `customers_for_proportions`, `customers_for_hazard_ratio`
    (with `events_for_hazard_ratio`), `customers_for_se` (e.g. an RMST difference).
Campaign integrity
    `sample_ratio_mismatch` (chi-square of arm counts against the planned shares) and
    `non_inferiority` (a guardrail did not rise by more than a margin).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from helpers.stats.intervals import normal_quantile

SRM_THRESHOLD = 0.001  # p below which arm counts are called a sample-ratio mismatch
MISMATCH, AS_PLANNED = "mismatch", "as planned"
NON_INFERIOR, NOT_SHOWN = "non-inferior", "not shown"
EXACT_SETS = 5000  # matched sets up to which `matched_sets_bound` convolves exactly (method="auto")


# ---- checks ----------------------------------------------------------------------------------
def _number(name: str, value, *, low: float = -math.inf, above: bool = False, what: str = "a finite number") -> float:
    """``value`` as a float, or a ValueError that names the argument and the range it must be in."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r} is not a number: pass {what}") from None
    if not math.isfinite(x) or x < low or (above and x == low):
        raise ValueError(f"{name}={value!r}: pass {what}")
    return x


def _ratio(name: str, value) -> float:
    return _number(name, value, low=0.0, above=True, what="a ratio above 0 (the ratio itself, not its log)")


def _share(name: str, value) -> float:
    x = _number(name, value, what="a share strictly between 0 and 1")
    if not 0 < x < 1:
        raise ValueError(f"{name}={value!r}: pass a share strictly between 0 and 1")
    return x


def _count(name: str, value, low: int = 1) -> int:
    x = _number(name, value, low=low, what=f"a whole number of at least {low}")
    if x != int(x):
        raise ValueError(f"{name}={value!r}: pass a whole number of at least {low}")
    return int(x)


def _z(alpha: float, power: float | None = None) -> float:
    """z_{1-alpha/2}, plus z_{power} when a power is given (both checked)."""
    z = normal_quantile(1 - _share("alpha", alpha))
    return z if power is None else z + float(stats.norm.ppf(_share("power", power)))


def _gamma(gamma) -> float:
    return _number("gamma", gamma, low=1.0, what="a bias gamma of at least 1 (1 = no hidden bias)")


def _alternative(alternative: str) -> str:
    if alternative not in ("less", "greater"):
        raise ValueError(f"alternative={alternative!r}: use 'less' (treated have fewer events / lower "
                         f"outcomes) or 'greater'")
    return alternative


# ---- E-values ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class EValue:
    """E-values of an estimate on the risk-ratio scale.

    ``point`` is the E-value of the estimate; ``bound`` that of the interval limit nearer the
    null (1 when the interval includes no effect, nan without an interval). ``rr``, ``lower`` and
    ``upper`` are the estimate and interval on the risk-ratio scale, ``scale`` the measure given,
    ``rare`` whether the rare-outcome rule was used (None when it does not apply), ``note`` the
    conversion to a risk ratio.
    """

    point: float
    bound: float
    rr: float
    lower: float
    upper: float
    scale: str
    rare: bool | None
    note: str


def _e(rr: float) -> float:
    """E-value of one risk ratio: RR + sqrt(RR (RR - 1)), with RR < 1 inverted first."""
    r = rr if rr >= 1 else 1 / rr
    return r + math.sqrt(r * (r - 1))


def _evalue(rr: float, lower: float, upper: float, *, scale: str, rare: bool | None, note: str) -> EValue:
    if math.isnan(lower):
        bound = math.nan
    elif lower <= 1 <= upper:
        bound = 1.0
    else:
        bound = _e(lower if rr > 1 else upper)
    return EValue(_e(rr), bound, rr, lower, upper, scale, rare, note)


def _ratio_with_interval(estimate, lower, upper) -> tuple[float, float, float]:
    """(estimate, lower, upper) checked: positive, ordered, both limits or neither (nan, nan)."""
    est = _ratio("estimate", estimate)
    if (lower is None) != (upper is None):
        raise ValueError("pass both interval limits (lower and upper) or neither")
    if lower is None:
        return est, math.nan, math.nan
    lo, hi = _ratio("lower", lower), _ratio("upper", upper)
    if not lo <= est <= hi:
        raise ValueError(f"interval ({lo:g}, {hi:g}) does not contain the estimate {est:g}: check the order "
                         f"of the arguments (estimate, lower, upper)")
    return est, lo, hi


def evalue_rr(estimate: float, lower: float | None = None, upper: float | None = None) -> EValue:
    """E-value of a risk ratio (or rate ratio) and of its confidence limit nearer the null.

    ``E = RR + sqrt(RR (RR - 1))`` for RR >= 1; a protective RR < 1 is inverted first, so
    RR and 1/RR have the same E-value (VanderWeele & Ding 2017, Table 1).

    Parameters
    ----------
    estimate : float
        The risk ratio, above 0.
    lower, upper : float, optional
        Its confidence interval (both or neither).

    Returns
    -------
    EValue

    Example
    -------
    >>> ev = evalue_rr(3.9, 1.8, 8.7)  # breastfeeding and infant respiratory death (the paper's example)
    >>> round(ev.point, 2), round(ev.bound, 2)
    (7.26, 3.0)
    """
    rr, lo, hi = _ratio_with_interval(estimate, lower, upper)
    return _evalue(rr, lo, hi, scale="risk ratio", rare=None, note="risk ratio as given")


def _hr_to_rr(hr: float) -> float:
    return (1 - 0.5 ** math.sqrt(hr)) / (1 - 0.5 ** math.sqrt(1 / hr))


RARE = 0.15  # an outcome below this share at the end of follow-up is rare: HR ~ RR (VanderWeele & Ding 2017)


def is_rare(share: float) -> bool:
    """Whether an outcome seen in ``share`` of the units by the end of follow-up is rare for the E-value rules."""
    return float(share) < RARE


def evalue_hr(estimate: float, lower: float | None = None, upper: float | None = None, *, rare: bool) -> EValue:
    """E-value of a hazard ratio, through its approximate risk ratio.

    Rare outcome (fewer than 15% of customers have the event by the end of follow-up): HR ~ RR.
    Common outcome: ``RR ~ (1 - 0.5^sqrt(HR)) / (1 - 0.5^sqrt(1/HR))`` (VanderWeele 2019,
    Biometrics), applied to the estimate and to each limit.

    Parameters
    ----------
    estimate : float
        The hazard ratio, above 0.
    lower, upper : float, optional
        Its confidence interval (both or neither).
    rare : bool
        Whether the outcome is rare (< 15% at the end of follow-up). Churn over a year is not.

    Returns
    -------
    EValue

    Example
    -------
    >>> round(evalue_hr(0.56, 0.46, 0.69, rare=False).point, 2)
    2.35
    """
    hr, lo, hi = _ratio_with_interval(estimate, lower, upper)
    if rare:
        return _evalue(hr, lo, hi, scale="hazard ratio", rare=True, note="rare outcome: RR ~ HR")
    rr, (rlo, rhi) = _hr_to_rr(hr), ((math.nan, math.nan) if math.isnan(lo) else (_hr_to_rr(lo), _hr_to_rr(hi)))
    return _evalue(rr, rlo, rhi, scale="hazard ratio", rare=False,
                   note="common outcome: RR ~ (1 - 0.5^sqrt(HR)) / (1 - 0.5^sqrt(1/HR))")


def evalue_or(estimate: float, lower: float | None = None, upper: float | None = None, *, rare: bool) -> EValue:
    """E-value of an odds ratio: OR ~ RR for a rare outcome (< 15%), otherwise RR ~ sqrt(OR).

    Parameters
    ----------
    estimate : float
        The odds ratio, above 0.
    lower, upper : float, optional
        Its confidence interval (both or neither).
    rare : bool
        Whether the outcome is rare (< 15% at the end of follow-up).

    Returns
    -------
    EValue

    Example
    -------
    >>> round(evalue_or(3.0, rare=False).point, 2)  # RR ~ sqrt(3) = 1.73
    2.86
    """
    odds, lo, hi = _ratio_with_interval(estimate, lower, upper)
    if rare:
        return _evalue(odds, lo, hi, scale="odds ratio", rare=True, note="rare outcome: RR ~ OR")
    return _evalue(math.sqrt(odds), math.sqrt(lo), math.sqrt(hi), scale="odds ratio", rare=False,
                   note="common outcome: RR ~ sqrt(OR)")


def evalue_risk_difference(risk_treated: float, risk_control: float, n_treated: int, n_control: int, *,
                           confidence: float = 0.95) -> EValue:
    """E-value of a difference of two risks, through their risk ratio.

    ``RR = risk_treated / risk_control`` with the usual log-scale interval,
    ``se(log RR) = sqrt((1 - p1) / (n1 p1) + (1 - p0) / (n0 p0))``. (The EValue R package's
    ``evalues.RD`` bounds the risk difference itself instead; this is the simpler RR route.)

    Parameters
    ----------
    risk_treated, risk_control : float
        Shares of each group with the outcome, strictly between 0 and 1.
    n_treated, n_control : int
        Customers in each group.
    confidence : float
        Level of the interval.

    Returns
    -------
    EValue

    Example
    -------
    >>> round(evalue_risk_difference(0.10, 0.20, 1000, 1000).point, 2)  # RR = 0.5
    3.41
    """
    p1, p0 = _share("risk_treated", risk_treated), _share("risk_control", risk_control)
    n1, n0 = _count("n_treated", n_treated), _count("n_control", n_control)
    rr = p1 / p0
    half = normal_quantile(_share("confidence", confidence)) * math.sqrt((1 - p1) / (n1 * p1) + (1 - p0) / (n0 * p0))
    return _evalue(rr, rr * math.exp(-half), rr * math.exp(half), scale="risk difference", rare=None,
                   note="RR = risk_treated / risk_control, log-scale interval")


def evalue_smd(d: float, se: float) -> EValue:
    """E-value of a standardized mean difference (Cohen's d) with its standard error.

    ``RR ~ exp(0.91 d)`` with the 95% interval ``exp(0.91 d -+ 1.78 se)`` (VanderWeele & Ding
    2017, Table 2, after Chinn 2000); the interval is always 95%.

    Parameters
    ----------
    d : float
        Difference in means over the outcome's standard deviation.
    se : float
        Standard error of ``d``, above 0.

    Returns
    -------
    EValue

    Example
    -------
    >>> round(evalue_smd(0.5, 0.1).rr, 3)
    1.576
    """
    d, se = _number("d", d), _number("se", se, low=0.0, above=True, what="a standard error above 0")
    return _evalue(math.exp(0.91 * d), math.exp(0.91 * d - 1.78 * se), math.exp(0.91 * d + 1.78 * se),
                   scale="standardized mean difference", rare=None, note="RR ~ exp(0.91 d), 95% exp(0.91 d -+ 1.78 se)")


def _one_decimal(x: float) -> str:
    return f"{x:.1f}" if x >= 1.1 else f"{x:.2f}"


def evalue_sentence(ev: EValue, *, exposure: str = "the treatment", outcome: str = "the outcome") -> str:
    """The E-values of ``ev`` in one or two plain sentences, for a report.

    Example
    -------
    >>> text = evalue_sentence(evalue_rr(0.8, 0.71, 0.91), exposure="the recovery", outcome="churn")
    >>> text[:92]
    'An unmeasured factor associated with both the recovery and churn by a risk ratio of 1.8 each'
    >>> text[92:]
    ' could explain the effect away; one of 1.4 could move the interval to include no effect.'
    """
    if ev.point == 1:
        return "The estimate shows no effect: there is nothing for an unmeasured factor to explain away."
    text = (f"An unmeasured factor associated with both {exposure} and {outcome} by a risk ratio of "
            f"{_one_decimal(ev.point)} each could explain the effect away")
    if math.isnan(ev.bound):
        return text + "."
    if ev.bound == 1:
        return text + "; the interval already includes no effect."
    return text + f"; one of {_one_decimal(ev.bound)} could move the interval to include no effect."


# ---- Rosenbaum bounds -------------------------------------------------------------------------
def mcnemar_bound(treated_only: int, control_only: int, gamma: float = 1.0, *, alternative: str = "less") -> float:
    """Upper bound on the one-sided McNemar p-value of matched pairs with a binary outcome.

    Only discordant pairs count. Under a hidden bias of at most ``gamma``, the number of them in
    which only the treated customer had the event is at most Binomial(D, gamma / (1 + gamma))
    and at least Binomial(D, 1 / (1 + gamma)); the bound takes the tail that favours the null
    (Rosenbaum 2002, ch. 4). ``gamma=1`` is the exact one-sided McNemar (binomial) test.

    Parameters
    ----------
    treated_only, control_only : int
        Discordant pairs: only the treated had the event; only the control had it.
    gamma : float
        Largest ratio of the odds of treatment within a pair, at least 1.
    alternative : {"less", "greater"}
        "less": treated have fewer events (recovered complainers churn less).

    Returns
    -------
    float
        The upper bound on the p-value.

    Example
    -------
    >>> round(mcnemar_bound(76, 41, 1.25, alternative="greater"), 5)
    0.02456
    """
    t, c, g = _count("treated_only", treated_only, 0), _count("control_only", control_only, 0), _gamma(gamma)
    if t + c == 0:
        raise ValueError("there are no discordant pairs (treated_only + control_only = 0): nothing to test")
    if _alternative(alternative) == "less":
        return float(stats.binom.cdf(t, t + c, 1 / (1 + g)))
    return float(stats.binom.sf(t - 1, t + c, g / (1 + g)))


def matched_set_counts(df: pd.DataFrame, *, set_id: str, treated: str, outcome: str) -> pd.DataFrame:
    """One row per matched set for `matched_sets_bound`: ``set_size``, ``set_events``, ``treated_event``.

    Parameters
    ----------
    df : DataFrame
        One row per customer of a matched cohort.
    set_id : str
        Column naming each customer's matched set.
    treated : str
        Boolean (or 0/1) column, true for the one treated customer of each set.
    outcome : str
        0/1 (or boolean) outcome column, e.g. churned in the follow-up.

    Returns
    -------
    DataFrame
        Indexed by set, with the three count columns. Rows missing any of the three columns are
        left out.

    Example
    -------
    >>> df = pd.DataFrame({"set": [1, 1, 1, 2, 2], "t": [1, 0, 0, 1, 0], "y": [0, 1, 0, 1, 1]})
    >>> matched_set_counts(df, set_id="set", treated="t", outcome="y").values.tolist()
    [[3, 1, 0], [2, 2, 1]]
    """
    for role, col in (("set_id", set_id), ("treated", treated), ("outcome", outcome)):
        if col not in df.columns:
            raise ValueError(f"{role} column {col!r} is not in the data: check the spelling")
    rows = df[[set_id, treated, outcome]].dropna()
    for role, col in (("treated", treated), ("outcome", outcome)):
        if not rows[col].isin([0, 1]).all():
            raise ValueError(f"{role} column {col!r} has values other than 0/1 (or False/True): code it as 0/1")
    y, t = rows[outcome].astype(float), rows[treated].astype(bool)
    groups = pd.DataFrame({"set": rows[set_id], "t": t, "y": y, "ty": y * t}).groupby("set")
    out = pd.DataFrame({"set_size": groups.size(), "set_events": groups["y"].sum().astype(int),
                        "treated_event": groups["ty"].sum().astype(int)})
    bad = groups["t"].sum() != 1
    if bad.any():
        raise ValueError(f"{int(bad.sum())} matched sets (e.g. {bad[bad].index[0]!r}) do not have exactly one treated "
                         f"customer: each set is one treated customer and its controls")
    return out


def matched_sets_bound(treated_event, set_size, set_events, gamma: float = 1.0, *, alternative: str = "less",
                       method: str = "auto") -> float:
    """Upper bound on the one-sided p-value of matched sets (1 treated, 1..k controls), binary outcome.

    In a set of ``n`` customers of whom ``a`` had the event, the chance that the treated one is
    among them lies between ``a / (a + gamma (n - a))`` and ``gamma a / (gamma a + n - a)``
    under a hidden bias of at most ``gamma`` (Rosenbaum 2002, ch. 4). The statistic is the
    number of treated customers with the event; for "less" (treated have fewer events) each set
    is a Bernoulli with the lower chance and the bound is P(T <= t), for "greater" the upper
    chance and P(T >= t). Sets where all or none had the event carry no information.

    ``method="exact"`` convolves the sets' Bernoullis (the Poisson-binomial distribution, a few
    milliseconds for a few thousand sets); ``"normal"`` uses the normal approximation with a
    continuity correction; ``"auto"`` is exact up to `EXACT_SETS` informative sets. With
    ``gamma=1`` the exact form is the conditional permutation test of no effect (for pairs, the
    exact McNemar test).

    Parameters
    ----------
    treated_event : array-like of 0/1
        Per set, whether the treated customer had the event.
    set_size : array-like of int
        Per set, customers in it (treated plus controls), at least 2.
    set_events : array-like of int
        Per set, customers with the event.
    gamma : float
        Largest ratio of the odds of treatment within a set, at least 1.
    alternative : {"less", "greater"}
    method : {"auto", "exact", "normal"}

    Returns
    -------
    float

    Example
    -------
    >>> round(matched_sets_bound([0, 0, 1, 0], [3, 2, 4, 3], [1, 1, 2, 2], gamma=1.0), 4)
    0.3056
    """
    if method not in ("auto", "exact", "normal"):
        raise ValueError(f"method={method!r}: use 'auto', 'exact' or 'normal'")
    t, n, a = (np.asarray(v, dtype=float).ravel() for v in (treated_event, set_size, set_events))
    g, alternative = _gamma(gamma), _alternative(alternative)
    if not len(t) == len(n) == len(a) or len(t) == 0:
        raise ValueError(f"treated_event, set_size and set_events have lengths {len(t)}, {len(n)}, {len(a)}: "
                         f"pass one value per matched set to each")
    if not (np.all(np.isfinite(np.r_[t, n, a])) and np.isin(t, (0, 1)).all() and np.all(n >= 2)
            and np.all(n == np.round(n)) and np.all(a == np.round(a)) and np.all((t <= a) & (a - t <= n - 1))):
        raise ValueError("matched sets must have set_size >= 2 (whole numbers), treated_event 0 or 1, and "
                         "treated_event <= set_events <= set_size - 1 + treated_event: check the counts")
    keep = (a > 0) & (a < n)
    if not keep.any():
        raise ValueError("no matched set has both a customer with the event and one without: nothing to test")
    t, n, a = t[keep], n[keep], a[keep]
    p = a / (a + g * (n - a)) if alternative == "less" else g * a / (g * a + n - a)
    observed = int(t.sum())
    if method == "normal" or (method == "auto" and len(p) > EXACT_SETS):
        mu, sd = p.sum(), math.sqrt(float((p * (1 - p)).sum()))
        if alternative == "less":
            return float(stats.norm.cdf((observed + 0.5 - mu) / sd))
        return float(stats.norm.sf((observed - 0.5 - mu) / sd))
    pmf = np.ones(1)
    for q in p:
        pmf = np.append(pmf * (1 - q), 0.0) + np.append(0.0, pmf * q)
    return float(min(1.0, pmf[: observed + 1].sum() if alternative == "less" else pmf[observed:].sum()))


def wilcoxon_bound(differences, gamma: float = 1.0, *, alternative: str = "greater") -> float:
    """Upper bound on the one-sided p-value of Wilcoxon's signed-rank test of matched pairs.

    ``differences`` are treated-minus-control outcomes. Absolute differences are ranked (ties get
    average ranks; zero differences are ranked with the others but count on neither side, Pratt's
    convention, as in Rosenbaum 2002, ch. 4). Under a hidden bias of at most ``gamma`` the
    statistic T (sum of the ranks of positive differences) is compared with its bounding
    distribution through the normal approximation, without continuity correction:
    ``E = p sum(r)``, ``Var = p (1 - p) sum(r^2)`` with ``p = gamma / (1 + gamma)``.
    ``gamma=1`` is the usual normal-approximation signed-rank test. For "less", the
    differences are negated.

    Parameters
    ----------
    differences : array-like
        Treated minus control, one per pair (missing values are dropped).
    gamma : float
        Largest ratio of the odds of treatment within a pair, at least 1.
    alternative : {"greater", "less"}
        "greater": treated outcomes are higher.

    Returns
    -------
    float

    Example
    -------
    >>> round(wilcoxon_bound([3.0, 5.0, -1.0, 4.0, 2.0, 6.0], gamma=2.0), 3)
    0.091
    """
    d = np.asarray(differences, dtype=float).ravel()
    d = d[~np.isnan(d)]
    if np.isinf(d).any():
        raise ValueError("differences include infinite values: pass finite treated-minus-control differences")
    d = -d if _alternative(alternative) == "less" else d
    g = _gamma(gamma)
    ranks = stats.rankdata(np.abs(d)) * (d != 0)
    if not ranks.any():
        raise ValueError("every difference is zero (or there are none): nothing to test")
    p = g / (1 + g)
    z = (ranks[d > 0].sum() - p * ranks.sum()) / math.sqrt(p * (1 - p) * (ranks**2).sum())
    return float(stats.norm.sf(z))


def gamma_at(test: Callable[..., float], *args, alpha: float = 0.05, gamma_max: float = 1000.0, **kwargs) -> float:
    """Smallest hidden bias gamma (to 0.01) at which ``test``'s upper-bound p-value exceeds ``alpha``.

    ``test`` is one of the bounds above, called as ``test(*args, gamma=g, **kwargs)``. The bounds
    grow with gamma, so the answer is found by doubling and then bisection on a 0.01 grid.
    1.0 means the verdict is not significant even without hidden bias; ``inf`` that it is still
    significant at ``gamma_max``.

    Example
    -------
    >>> gamma_at(mcnemar_bound, 76, 41, alternative="greater")
    1.33
    """
    alpha = _share("alpha", alpha)
    top = round(100 * _number("gamma_max", gamma_max, low=1.0, what="a gamma_max of at least 1"))

    def above(k: int) -> bool:
        return test(*args, gamma=k / 100, **kwargs) > alpha

    if above(100):
        return 1.0
    lo, hi = 100, 200
    while not above(min(hi, top)):
        if hi >= top:
            return math.inf
        lo, hi = hi, 2 * hi
    hi = min(hi, top)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if above(mid) else (mid, hi)
    return hi / 100


# ---- power and sample size --------------------------------------------------------------------
@dataclass(frozen=True)
class Arms:
    """Customers needed in each arm."""

    treated: int
    control: int

    @property
    def total(self) -> int:
        return self.treated + self.control


def _sizes(n_treated, n_control) -> float:
    """sqrt(1/n_treated + 1/n_control), after checking the sizes."""
    return math.sqrt(1 / _count("n_treated", n_treated) + 1 / _count("n_control", n_control))


def _r2(r2) -> float:
    x = _number("r2", r2, low=0.0, what="a share of variance explained in [0, 1)")
    if x >= 1:
        raise ValueError(f"r2={r2!r}: pass a share of variance explained in [0, 1) (1 would leave no noise)")
    return x


def detectable_effect(se: float, *, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest true effect detected with ``power`` by a two-sided ``alpha`` test: (z_{1-a/2} + z_power) se.

    For any estimate with a known standard error, e.g. an RMST difference.

    Example
    -------
    >>> round(detectable_effect(1.0), 3)
    2.802
    """
    return _z(alpha, power) * _number("se", se, low=0.0, above=True, what="a standard error above 0")


def detectable_difference(sd: float, n_treated: int, n_control: int, *, r2: float = 0.0, alpha: float = 0.05,
                          power: float = 0.8) -> float:
    """Smallest detectable difference in means, with CUPED/ANCOVA variance reduction.

    ``(z_{1-a/2} + z_power) sd sqrt(1 - r2) sqrt(1/n_treated + 1/n_control)``: a pre-period
    covariate that explains a share ``r2`` of the outcome's variance shrinks the residual SD by
    ``sqrt(1 - r2)`` (Deng et al. 2013).

    Parameters
    ----------
    sd : float
        Outcome standard deviation (pooled), above 0.
    n_treated, n_control : int
        Customers per arm.
    r2 : float
        Share of variance explained by the adjustment covariates, in [0, 1); 0 = no adjustment.
    alpha, power : float
        Two-sided level and power.

    Returns
    -------
    float
        The difference, in the outcome's units.

    Example
    -------
    >>> round(detectable_difference(10.0, 500, 500), 3)
    1.772
    """
    sd = _number("sd", sd, low=0.0, above=True, what="a standard deviation above 0")
    return _z(alpha, power) * sd * math.sqrt(1 - _r2(r2)) * _sizes(n_treated, n_control)


def _arcsine(p: float) -> float:
    return 2 * math.asin(math.sqrt(p))


def detectable_proportion_difference(baseline: float, n_treated: int, n_control: int, *, direction: str = "down",
                                     alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest detectable change of a rate (risk difference), by the arcsine transformation.

    Solved exactly on the arcsine scale: Cohen's ``h = 2 asin(sqrt(p1)) - 2 asin(sqrt(p0))``
    has variance ``1/n_treated + 1/n_control``, so ``|h| = (z_{1-a/2} + z_power)
    sqrt(1/n_treated + 1/n_control)`` and ``p1 = sin^2(asin(sqrt(p0)) -+ h/2)``, the convention
    of statsmodels' ``NormalIndPower`` with ``proportion_effectsize``.

    Parameters
    ----------
    baseline : float
        Control rate ``p0``, strictly between 0 and 1.
    n_treated, n_control : int
        Customers per arm.
    direction : {"down", "up"}
        Whether the campaign is meant to lower the rate (churn) or raise it.
    alpha, power : float

    Returns
    -------
    float
        ``p1 - p0``: negative for "down".

    Example
    -------
    >>> round(detectable_proportion_difference(0.2, 1000, 1000), 4)
    -0.0476
    """
    p0 = _share("baseline", baseline)
    if direction not in ("down", "up"):
        raise ValueError(f"direction={direction!r}: use 'down' (the campaign lowers the rate) or 'up'")
    h = _z(alpha, power) * _sizes(n_treated, n_control)
    angle = math.asin(math.sqrt(p0)) + (h / 2 if direction == "up" else -h / 2)
    if not 0 <= angle <= math.pi / 2:
        raise ValueError(f"with {n_treated:,} and {n_control:,} customers no rate {direction} from {p0:g} is "
                         f"detectable (it would pass {'1' if direction == 'up' else '0'}): use larger arms")
    return math.sin(angle) ** 2 - p0


def detectable_hazard_ratio(events: int, *, share_treated: float = 0.5, alpha: float = 0.05,
                            power: float = 0.8) -> float:
    """Smallest detectable hazard ratio (below 1) from the number of events, by Schoenfeld's formula.

    ``|log HR| = (z_{1-a/2} + z_power) / sqrt(D s (1 - s))`` with ``D`` events and a share ``s``
    of customers treated (Schoenfeld 1983, Biometrics). The detectable harm is its reciprocal.

    Example
    -------
    >>> round(detectable_hazard_ratio(380), 3)
    0.75
    """
    d, s = _count("events", events), _share("share_treated", share_treated)
    return math.exp(-_z(alpha, power) / math.sqrt(d * s * (1 - s)))


def events_for_hazard_ratio(hazard_ratio: float, *, share_treated: float = 0.5, alpha: float = 0.05,
                            power: float = 0.8) -> int:
    """Events needed to detect ``hazard_ratio`` (Schoenfeld): ``(z_{1-a/2} + z_power)^2 / (s (1 - s) log^2 HR)``.

    Example
    -------
    >>> events_for_hazard_ratio(0.75)
    380
    """
    hr, s = _ratio("hazard_ratio", hazard_ratio), _share("share_treated", share_treated)
    if hr == 1:
        raise ValueError("hazard_ratio=1 is no effect: no number of events detects it; pass the effect to detect")
    return math.ceil(_z(alpha, power) ** 2 / (s * (1 - s) * math.log(hr) ** 2))


def _ratio_arms(ratio) -> float:
    return _number("ratio", ratio, low=0.0, above=True, what="a ratio n_control / n_treated above 0")


def _arms(n_treated: float, ratio: float) -> Arms:
    return Arms(math.ceil(n_treated - 1e-9), math.ceil(n_treated * ratio - 1e-9))


def customers_for_difference(difference: float, sd: float, *, r2: float = 0.0, ratio: float = 1.0,
                             alpha: float = 0.05, power: float = 0.8) -> Arms:
    """Customers per arm to detect a difference in means (with CUPED/ANCOVA ``r2``).

    ``n_treated = (z_{1-a/2} + z_power)^2 sd^2 (1 - r2) (1 + 1/ratio) / difference^2`` and
    ``n_control = ratio n_treated``, both rounded up.

    Example
    -------
    >>> customers_for_difference(1.0, 10.0, r2=0.5)
    Arms(treated=785, control=785)
    """
    delta = _number("difference", difference)
    if delta == 0:
        raise ValueError("difference=0 is no effect: pass the effect to detect")
    sd, k = _number("sd", sd, low=0.0, above=True, what="a standard deviation above 0"), _ratio_arms(ratio)
    return _arms((_z(alpha, power) * sd / delta) ** 2 * (1 - _r2(r2)) * (1 + 1 / k), k)


def customers_for_proportions(baseline: float, difference: float, *, ratio: float = 1.0, alpha: float = 0.05,
                              power: float = 0.8) -> Arms:
    """Customers per arm to detect a change of a rate from ``baseline`` to ``baseline + difference`` (arcsine).

    ``n_treated = (z_{1-a/2} + z_power)^2 (1 + 1/ratio) / h^2`` with Cohen's ``h`` between the two rates.

    Example
    -------
    >>> customers_for_proportions(0.2, -0.05)
    Arms(treated=903, control=903)
    """
    p0 = _share("baseline", baseline)
    p1 = _share("baseline + difference", p0 + _number("difference", difference))
    if p1 == p0:
        raise ValueError("difference=0 is no effect: pass the change of the rate to detect")
    k = _ratio_arms(ratio)
    return _arms((_z(alpha, power) / (_arcsine(p1) - _arcsine(p0))) ** 2 * (1 + 1 / k), k)


def customers_for_hazard_ratio(hazard_ratio: float, event_probability: float, *, ratio: float = 1.0,
                               alpha: float = 0.05, power: float = 0.8) -> Arms:
    """Customers per arm to detect ``hazard_ratio``: Schoenfeld's events over the chance of an event in the window.

    Parameters
    ----------
    hazard_ratio : float
        Effect to detect.
    event_probability : float
        Share of all customers expected to have the event (churn) within the follow-up window.
    ratio : float
        ``n_control / n_treated``.
    alpha, power : float

    Example
    -------
    >>> customers_for_hazard_ratio(0.75, 0.2)
    Arms(treated=950, control=950)
    """
    k = _ratio_arms(ratio)
    events = events_for_hazard_ratio(hazard_ratio, share_treated=1 / (1 + k), alpha=alpha, power=power)
    return _arms(events / _share("event_probability", event_probability) / (1 + k), k)


def customers_for_se(effect: float, *, se: float, n: int, alpha: float = 0.05, power: float = 0.8) -> int:
    """Customers needed to detect ``effect`` when the estimate's SE is ``se`` at ``n`` customers.

    The SE scales as ``1/sqrt(n)`` (an RMST difference, a mean, a regression coefficient), so
    ``n_needed = n ((z_{1-a/2} + z_power) se / effect)^2``, rounded up, counted the way ``n``
    is (per arm or in total, with the same allocation).

    Example
    -------
    >>> customers_for_se(0.5, se=0.35, n=400)  # RMST difference of 0.5 months; SE 0.35 at 400 per arm
    1539
    """
    delta = _number("effect", effect)
    if delta == 0:
        raise ValueError("effect=0 is no effect: pass the effect to detect")
    se = _number("se", se, low=0.0, above=True, what="a standard error above 0")
    return math.ceil(_count("n", n) * (_z(alpha, power) * se / delta) ** 2 - 1e-9)


# ---- campaign integrity -----------------------------------------------------------------------
@dataclass(frozen=True)
class RatioCheck:
    """Arm counts against the planned allocation: chi-square, its p-value and the verdict."""

    chi2: float
    df: int
    p: float
    observed: tuple[int, ...]
    expected: tuple[float, ...]
    verdict: str


def sample_ratio_mismatch(counts: Sequence[int], shares: Sequence[float] | None = None, *,
                          threshold: float = SRM_THRESHOLD) -> RatioCheck:
    """Sample-ratio-mismatch test: do the arm counts fit the planned allocation?

    Pearson's chi-square goodness of fit of the counts against ``shares`` (scipy's
    ``chisquare``). The verdict is "mismatch" when ``p < threshold``: 0.001 by default, the usual
    SRM alarm level (see Kohavi, Tang & Xu 2020, Trustworthy Online Controlled Experiments, on
    SRM). It is strict because the check runs on every campaign and a mismatch (broken assignment
    or logging) voids the comparison rather than adjusting it.

    Parameters
    ----------
    counts : sequence of int
        Customers found in each arm (two or more arms).
    shares : sequence of float, optional
        Planned shares (any positive weights; normalised). Default: equal.
    threshold : float
        p-value below which the counts are a mismatch.

    Returns
    -------
    RatioCheck

    Example
    -------
    >>> sample_ratio_mismatch([5000, 5200]).verdict
    'as planned'
    """
    observed = [_count("counts", c, 0) for c in counts]
    if len(observed) < 2 or sum(observed) == 0:
        raise ValueError(f"counts={list(counts)!r}: pass the customer count of each of two or more arms")
    weights = [1.0] * len(observed) if shares is None else [_ratio("shares", s) for s in shares]
    if len(weights) != len(observed):
        raise ValueError(f"{len(observed)} counts but {len(weights)} shares: pass one planned share per arm")
    expected = [sum(observed) * w / sum(weights) for w in weights]
    chi2, p = stats.chisquare(observed, expected)
    return RatioCheck(float(chi2), len(observed) - 1, float(p), tuple(observed), tuple(expected),
                      MISMATCH if p < _share("threshold", threshold) else AS_PLANNED)


@dataclass(frozen=True)
class NonInferiority:
    """One-sided test that a guardrail did not worsen by ``margin`` or more."""

    difference: float
    se: float
    margin: float
    upper: float
    p: float
    verdict: str


def non_inferiority(difference: float, se: float, margin: float, *, alpha: float = 0.05) -> NonInferiority:
    """Non-inferiority test of a guardrail: H0 ``difference >= margin`` against ``difference < margin``.

    ``difference`` is treated minus control in the direction of harm (complaints per customer:
    a rise is harm; for a guardrail where a fall is harm, pass minus the difference).
    ``p = Phi((difference - margin) / se)`` and the one-sided upper bound is
    ``difference + z_{1-alpha} se``; "non-inferior" when the bound is below the margin
    (equivalently ``p < alpha``), otherwise "not shown".

    Parameters
    ----------
    difference : float
        Estimated change of the guardrail, treated minus control.
    se : float
        Its standard error, above 0.
    margin : float
        Largest acceptable worsening, above 0.
    alpha : float
        One-sided level.

    Returns
    -------
    NonInferiority

    Example
    -------
    >>> non_inferiority(0.01, 0.02, 0.05).verdict
    'non-inferior'
    """
    diff = _number("difference", difference)
    se = _number("se", se, low=0.0, above=True, what="a standard error above 0")
    margin = _number("margin", margin, low=0.0, above=True, what="a margin above 0 (the largest acceptable harm)")
    alpha = _share("alpha", alpha)
    p = float(stats.norm.cdf((diff - margin) / se))
    upper = diff + float(stats.norm.ppf(1 - alpha)) * se
    return NonInferiority(diff, se, margin, upper, p, NON_INFERIOR if upper < margin else NOT_SHOWN)

"""Churn survival statistics: Kaplan-Meier, restricted means, log-rank, Cox and parametric fits,
prediction accuracy, competing risks and a time-varying exposure.

Thin wrappers over lifelines (and statsmodels for multiple testing). What those libraries do not
offer is written out here with its reference: the standard error and difference of the
restricted mean, censoring-weighted Brier scores, calibration by bin, and the episode splitting
behind the proportional-hazards remedy and the manager-departure analysis.

Time is tenure in months (``S.TENURE``), the event is churn (``S.CHURNED``). Figures belong in
``plots``; nothing here draws.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from lifelines import (
    AalenJohansenFitter,
    CoxPHFitter,
    CoxTimeVaryingFitter,
    KaplanMeierFitter,
    LogLogisticAFTFitter,
    LogNormalAFTFitter,
    WeibullAFTFitter,
)
from lifelines.statistics import multivariate_logrank_test, pairwise_logrank_test
from lifelines.utils import median_survival_times, restricted_mean_survival_time
from scipy import stats
from scipy.integrate import trapezoid
from statsmodels.stats.multitest import multipletests

from helpers.data import schema as S
from helpers.data.privacy import MIN_CELL, check_covariates, pool_small_levels
from helpers.stats.design import as_list, encode, is_categorical
from helpers.stats.intervals import normal_quantile

ONE_DAY = 1 / S.DAYS_PER_MONTH  # months: the floor for zero tenure (parametric fits, cumulative incidence)
UNKNOWN = "unknown"  # cause given to churned customers whose end reason is missing
EVENT_TENURE = "event_tenure"  # tenure (months) at which a customer's exposure event happened
START, STOP, AFTER_EVENT = "start", "stop", "after_event"  # episode columns
PERIOD = "period"  # extra stratum of the rows made by `ph_remedy`: "early" or "late" tenure


# ---- small shared pieces ----------------------------------------------------------------
def _groups(df: pd.DataFrame, group: str | None):
    """(level, rows) per level of ``group`` in sorted order, or one ("all", df) pair."""
    return [("all", df)] if group is None else list(df.groupby(group, observed=True, sort=True))


def _with_group(out: pd.DataFrame, group: str | None) -> pd.DataFrame:
    """Name the ``group`` column after the grouping column, or drop it when there is none."""
    return out.rename(columns={"group": group}) if group else out.drop(columns="group")


def _km(df: pd.DataFrame, *, duration: str, event: str, confidence: float = 0.95,
        weights: str | None = None) -> KaplanMeierFitter:
    w = None if weights is None else df[weights]
    return KaplanMeierFitter(alpha=1 - confidence).fit(df[duration], df[event].astype(bool), weights=w)


def _size(df: pd.DataFrame, weights: str | None) -> int:
    """Customers behind the rows: the row count, or the sum of the weights of collapsed rows."""
    return len(df) if weights is None else int(df[weights].sum())


def _events(df: pd.DataFrame, event: str, weights: str | None) -> int:
    e = df[event].astype(bool)
    return int(e.sum()) if weights is None else int(df.loc[e, weights].sum())


def _bounds(frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(lower, upper) columns of a lifelines confidence frame, picked by name (order varies)."""
    return frame.filter(like="lower").iloc[:, 0], frame.filter(like="upper").iloc[:, 0]


def _km_at(kmf: KaplanMeierFitter, t: float) -> tuple[float, float, float]:
    """Survival and its interval at ``t``; NaN beyond the last follow-up, where KM is undefined."""
    if t > kmf.durations.max():
        return np.nan, np.nan, np.nan
    lower, upper = _bounds(kmf.confidence_interval_.loc[:t])
    return float(kmf.survival_function_.loc[:t].iloc[-1, 0]), float(lower.iloc[-1]), float(upper.iloc[-1])


def _finite(value) -> float:
    return float(value) if np.isfinite(value) else np.nan


# ---- Kaplan-Meier --------------------------------------------------------------------------
def km_table(df: pd.DataFrame, *, group: str | None = None, duration: str = S.TENURE,
             event: str = S.CHURNED, confidence: float = 0.95, weights: str | None = None) -> pd.DataFrame:
    """Kaplan-Meier survival curve(s), tidy: one row per distinct tenure per group, plus time 0.

    Parameters
    ----------
    df : DataFrame
        One row per customer.
    group : str, optional
        Column whose levels get separate curves; one curve when None.
    duration, event : str
        Tenure (months) and churn indicator columns.
    confidence : float
        Level of lifelines' pointwise log-log interval (Kalbfleisch & Prentice).
    weights : str, optional
        Column counting the customers behind each row, for collapsed rows (one row per
        distinct tenure, churn flag and group, as `helpers.engine.scale` aggregates them): the curve,
        its interval and the counts are those of the customers themselves.

    Returns
    -------
    DataFrame
        ``group`` (named after the column, when given), ``time``, ``survival``, ``lower``,
        ``upper``, ``at_risk`` (at risk just before ``time``), ``events``, ``censored``.

    Example
    -------
    >>> df = pd.DataFrame({"tenure_months": [1.0, 2, 2, 5], "churned": [True, True, False, False]})
    >>> km_table(df)["survival"].round(3).tolist()
    [1.0, 0.75, 0.5, 0.5]
    """
    rows = []
    for key, sub in _groups(df, group):
        kmf = _km(sub, duration=duration, event=event, confidence=confidence, weights=weights)
        table = kmf.event_table.reindex(kmf.timeline)
        lower, upper = _bounds(kmf.confidence_interval_)
        rows.append(pd.DataFrame({
            "group": key, "time": kmf.timeline, "survival": kmf.survival_function_.iloc[:, 0].to_numpy(),
            "lower": lower.to_numpy(), "upper": upper.to_numpy(), "at_risk": table["at_risk"].to_numpy(),
            "events": table["observed"].to_numpy(), "censored": table["censored"].to_numpy()}))
    return _with_group(pd.concat(rows, ignore_index=True), group)


def _median(kmf: KaplanMeierFitter) -> dict:
    """Median tenure with the interval read off the confidence band (Brookmeyer-Crowley style)."""
    lower, upper = _bounds(median_survival_times(kmf.confidence_interval_))
    median = kmf.median_survival_time_
    return {"median": _finite(median), "median_lower": _finite(lower.iloc[0]),
            "median_upper": _finite(upper.iloc[0]), "median_reached": bool(np.isfinite(median))}


def km_summary(df: pd.DataFrame, *, group: str | None = None, times: Sequence[float] = (12, 24),
               horizon: float = 24, duration: str = S.TENURE, event: str = S.CHURNED,
               confidence: float = 0.95, weights: str | None = None) -> pd.DataFrame:
    """One row per group: size, median tenure, survival at fixed tenures and the restricted mean.

    The median is lifelines' first time the curve reaches 0.5; its interval is where the
    lower and upper confidence curves reach 0.5. A median that is not reached (the curve stays
    above 0.5) is NaN with ``median_reached`` False; a NaN ``median_upper`` likewise means the
    upper curve never reaches 0.5. Survival beyond a group's last follow-up is NaN.

    Parameters
    ----------
    df : DataFrame
        One row per customer.
    group : str, optional
        Column to split by; one row when None.
    times : sequence of float
        Tenures (months) at which to report survival.
    horizon : float
        Restricted-mean horizon (months); see `rmst`.
    duration, event : str
        Tenure and churn columns.
    confidence : float
        Level of every interval.
    weights : str, optional
        Customers behind each collapsed row (see `km_table`).

    Returns
    -------
    DataFrame
        ``group``, ``customers``, ``events``, ``median``, ``median_lower``, ``median_upper``,
        ``median_reached``, ``survival_<t>`` with ``_lower``/``_upper`` for each t, ``horizon``,
        ``rmst``, ``rmst_se``, ``rmst_lower``, ``rmst_upper``.

    Example
    -------
    >>> df = pd.DataFrame({"tenure_months": [3.0, 8, 14, 30], "churned": [True, True, False, True]})
    >>> km_summary(df, times=(12,))[["median", "survival_12"]].iloc[0].tolist()
    [8.0, 0.5]
    """
    rows = []
    for key, sub in _groups(df, group):
        kmf = _km(sub, duration=duration, event=event, confidence=confidence, weights=weights)
        row = {"group": key, "customers": _size(sub, weights), "events": _events(sub, event, weights),
               **_median(kmf)}
        for t in times:
            row.update(zip([f"survival_{t:g}", f"survival_{t:g}_lower", f"survival_{t:g}_upper"], _km_at(kmf, t)))
        mean = _rmst_of(kmf, horizon, confidence)
        row.update({"horizon": horizon, "rmst": mean["estimate"], "rmst_se": mean["se"],
                    "rmst_lower": mean["lower"], "rmst_upper": mean["upper"]})
        rows.append(row)
    return _with_group(pd.DataFrame(rows), group)


# ---- restricted mean survival time ---------------------------------------------------------
def _rmst_of(kmf: KaplanMeierFitter, horizon: float, confidence: float) -> dict:
    """RMST of a fitted KM: lifelines' exact step integral, our Greenwood-type standard error."""
    estimate = restricted_mean_survival_time(kmf, t=horizon)
    curve = kmf.survival_function_.iloc[:, 0]
    knots = curve.index.to_numpy(dtype=float)
    area = np.r_[0.0, np.cumsum(curve.to_numpy()[:-1] * np.diff(knots))]  # integral of S from 0 to each knot
    table = kmf.event_table
    t, d, n = table.index.to_numpy(dtype=float), table["observed"].to_numpy(), table["at_risk"].to_numpy()
    use = (d > 0) & (t <= horizon) & (n > d)  # n == d: R's survmean sets the term to 0 too
    a = estimate - np.interp(t[use], knots, area)  # A_j: integral of S from t_j to the horizon
    se = float(np.sqrt(np.sum(a**2 * d[use] / (n[use] * (n[use] - d[use])))))
    z = normal_quantile(confidence)
    return {"estimate": float(estimate), "se": se, "lower": estimate - z * se, "upper": estimate + z * se}


def rmst(df: pd.DataFrame, *, horizon: float, duration: str = S.TENURE, event: str = S.CHURNED,
         confidence: float = 0.95, weights: str | None = None) -> dict:
    """Restricted mean tenure up to ``horizon``: the area under the KM curve, with SE and interval.

    The point estimate is lifelines' ``restricted_mean_survival_time`` (an exact step
    integral). The variance is the Greenwood-type formula of Klein & Moeschberger (2003),
    eq. 4.5.1, without a small-sample factor -- the value R's ``print(survfit, rmean=tau)``
    reports::

        Var = sum over event times t_j <= tau of A_j^2 d_j / (n_j (n_j - d_j)),
        A_j = integral of S(u) du from t_j to tau,

    terms with n_j = d_j are dropped, as R does. Without censoring it equals the variance of
    the mean of min(T, tau) with divisor n. The interval is estimate +/- z SE. When ``horizon``
    passes the last follow-up, lifelines carries the last survival value forward. For one row
    per group, use `km_summary`; for group differences, `rmst_difference`.

    Parameters
    ----------
    df : DataFrame
        One row per customer (one group).
    horizon : float
        Upper limit of the integral (months).
    duration, event : str
        Tenure and churn columns.
    confidence : float
        Level of the normal interval.
    weights : str, optional
        Customers behind each collapsed row (see `km_table`).

    Returns
    -------
    dict
        ``estimate``, ``se``, ``lower``, ``upper`` (months).

    Example
    -------
    >>> df = pd.DataFrame({"tenure_months": [1.0, 2, 3, 4], "churned": [True] * 4})
    >>> {k: round(v, 4) for k, v in rmst(df, horizon=4).items() if k in ("estimate", "se")}
    {'estimate': 2.5, 'se': 0.559}
    """
    kmf = _km(df, duration=duration, event=event, confidence=confidence, weights=weights)
    return _rmst_of(kmf, horizon, confidence)


def rmst_difference(df: pd.DataFrame, *, group: str, horizon: float, reference=None,
                    duration: str = S.TENURE, event: str = S.CHURNED, confidence: float = 0.95,
                    weights: str | None = None) -> pd.DataFrame:
    """Difference in restricted mean tenure, each group minus a reference group.

    Groups are independent samples, so ``se = sqrt(se_group^2 + se_reference^2)``; the interval
    is the difference +/- z se and ``p`` the two-sided normal p-value for no difference.

    Parameters
    ----------
    df : DataFrame
        One row per customer.
    group : str
        Column that defines the groups.
    horizon : float
        Restricted-mean horizon (months).
    reference : optional
        Level subtracted from the others; the first level (sorted) when None.
    duration, event : str
        Tenure and churn columns.
    confidence : float
        Level of the interval.
    weights : str, optional
        Customers behind each collapsed row (see `km_table`).

    Returns
    -------
    DataFrame
        ``group``, ``reference``, ``difference``, ``se``, ``lower``, ``upper``, ``p``.

    Example
    -------
    >>> df = pd.DataFrame({"tenure_months": [1.0, 2, 3, 4, 2, 4, 6, 8], "churned": [True] * 8,
    ...                    "contract": ["a"] * 4 + ["b"] * 4})
    >>> rmst_difference(df, group="contract", horizon=8)["difference"].item()
    2.5
    """
    means = {key: rmst(sub, horizon=horizon, duration=duration, event=event, confidence=confidence, weights=weights)
             for key, sub in _groups(df, group)}
    reference = next(iter(means)) if reference is None else reference
    base, z = means[reference], normal_quantile(confidence)
    rows = []
    for key, m in means.items():
        if key != reference:
            diff, se = m["estimate"] - base["estimate"], float(np.hypot(m["se"], base["se"]))
            rows.append({group: key, "reference": reference, "difference": diff, "se": se, "lower": diff - z * se,
                         "upper": diff + z * se, "p": float(2 * stats.norm.sf(abs(diff) / se))})
    return pd.DataFrame(rows)


# ---- log-rank tests ------------------------------------------------------------------------
def logrank(df: pd.DataFrame, *, group: str, duration: str = S.TENURE, event: str = S.CHURNED,
            weights: str | None = None) -> dict:
    """Log-rank test that all groups share one survival curve (lifelines' multivariate test).

    ``weights`` names a column counting the customers behind each collapsed row (see
    `km_table`); the statistic is then that of the customers themselves.

    Example
    -------
    >>> df = pd.DataFrame({"tenure_months": [1.0, 2, 3, 4], "churned": [True] * 4, "g": list("abab")})
    >>> logrank(df, group="g")["df"]
    1
    """
    res = multivariate_logrank_test(df[duration], df[group], df[event].astype(bool),
                                    weights=None if weights is None else df[weights].to_numpy())
    return {"statistic": float(res.test_statistic), "df": int(res.degrees_of_freedom), "p": float(res.p_value)}


def pairwise_logrank(df: pd.DataFrame, *, group: str, method: str = "holm", alpha: float = 0.05,
                     duration: str = S.TENURE, event: str = S.CHURNED, weights: str | None = None) -> pd.DataFrame:
    """Log-rank test for every pair of groups, with p-values adjusted for multiple testing.

    Parameters
    ----------
    method : str
        Any statsmodels ``multipletests`` method ("holm", "bonferroni", "fdr_bh", ...).
    alpha : float
        Family-wise (or false-discovery) level behind ``reject``.
    weights : str, optional
        Customers behind each collapsed row (see `km_table`).

    Returns
    -------
    DataFrame
        ``group_a``, ``group_b``, ``statistic``, ``p``, ``p_adjusted``, ``reject``.

    Example
    -------
    >>> df = pd.DataFrame({"tenure_months": np.arange(1.0, 10), "churned": [True] * 9, "g": list("abc") * 3})
    >>> len(pairwise_logrank(df, group="g"))
    3
    """
    if weights is None:
        res = pairwise_logrank_test(df[duration], df[group], df[event].astype(bool)).summary
        out = pd.DataFrame({"group_a": [a for a, _ in res.index], "group_b": [b for _, b in res.index],
                            "statistic": res["test_statistic"].to_numpy(), "p": res["p"].to_numpy()})
    else:  # lifelines' pairwise test takes no weights: the same pairs, one weighted test each
        levels = sorted(df[group].dropna().unique())
        rows = []
        for i, a in enumerate(levels):
            for b in levels[i + 1:]:
                test = logrank(df[df[group].isin([a, b])], group=group, duration=duration, event=event,
                               weights=weights)
                rows.append({"group_a": a, "group_b": b, "statistic": test["statistic"], "p": test["p"]})
        out = pd.DataFrame(rows, columns=["group_a", "group_b", "statistic", "p"])
    reject, adjusted, _, _ = multipletests(out["p"], alpha=alpha, method=method)
    return out.assign(p_adjusted=adjusted, reject=reject)


# ---- Cox proportional hazards --------------------------------------------------------------
def _strata(df: pd.DataFrame, strata: list[str]) -> pd.DataFrame:
    """Strata as plain strings: lifelines groups by them, and categoricals make pandas warn there."""
    return df[strata].astype(str)


def cox_design(df: pd.DataFrame, *, covariates: Sequence[str], strata: list[str], duration: str,
                event: str, weights: str | None = None) -> tuple[pd.DataFrame, int]:
    """Complete cases, encoded: duration, event (0/1), covariate terms, raw strata (and weights);
    the number of customers dropped."""
    complete = df.dropna(subset=[duration, event, *covariates, *strata])
    parts = [complete[duration].astype(float), complete[event].astype(int), encode(complete, covariates),
             _strata(complete, strata)]
    if weights is not None:
        parts.append(complete[weights].astype(float))
    return pd.concat(parts, axis=1), _size(df, weights) - _size(complete, weights)


def fit_cox(df: pd.DataFrame, *, covariates: Sequence[str], strata: str | Sequence[str] | None = None,
            duration: str = S.TENURE, event: str = S.CHURNED, penalizer: float = 0.0,
            weights: str | None = None) -> CoxPHFitter:
    """Cox proportional-hazards model of churn (lifelines, Efron ties), on complete cases.

    Non-numeric covariates are one-hot encoded with the first level (first category, or first
    sorted value) as reference; their terms are named ``col[level]``.

    Parameters
    ----------
    df : DataFrame
        One row per customer.
    covariates : list of str
        Columns entering the model.
    strata : str or list of str, optional
        Columns to stratify by: each level gets its own baseline hazard and no coefficient.
    duration, event : str
        Tenure and churn columns.
    penalizer : float
        lifelines' ridge-type penalty (0 for the plain partial likelihood).
    weights : str, optional
        Column counting the identical customers behind each collapsed row (integer frequency
        weights; `helpers.engine.scale.collapse`). lifelines' weighted Efron correction counts tied
        rows, not customers, so on ties it differs slightly from the row-level fit (log hazard
        ratios within about 0.002 on the reference data, see tests/test_scale.py); the
        concordance index of a weighted fit counts rows and is not meaningful.

    Returns
    -------
    CoxPHFitter
        The fitted model, with two attributes added: ``rows_dropped_`` (customers with a missing
        value in a used column) and ``design_`` (the encoded frame it was fitted on, which
        `check_proportional_hazards` needs). Concordance is ``cph.concordance_index_``.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"tenure_months": rng.exponential(10, 200), "churned": True,
    ...                    "contract": rng.choice(["month-to-month", "two-year"], 200)})
    >>> fit_cox(df, covariates=["contract"]).params_.index.tolist()
    ['contract[two-year]']
    """
    strata = as_list(strata)
    design, dropped = cox_design(df, covariates=covariates, strata=strata, duration=duration, event=event,
                              weights=weights)
    cph = CoxPHFitter(penalizer=penalizer).fit(design, duration_col=duration, event_col=event,
                                               strata=strata or None, weights_col=weights)
    cph.rows_dropped_, cph.design_ = dropped, design
    return cph


def predict_survival(cph: CoxPHFitter, df: pd.DataFrame, *, covariates: Sequence[str],
                     strata: str | Sequence[str] | None = None, times: Sequence[float]) -> pd.DataFrame:
    """Predicted survival of each customer of ``df`` at ``times`` from a `fit_cox` model.

    ``df`` is encoded as `fit_cox` encodes (levels absent from the fit count as the reference);
    rows with a missing covariate or stratum get NaN.

    Returns
    -------
    DataFrame
        One row per row of ``df`` (same index), one column per time.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"tenure_months": rng.exponential(10, 200), "churned": True, "x": rng.normal(size=200)})
    >>> cph = fit_cox(df, covariates=["x"])
    >>> predict_survival(cph, df.head(3), covariates=["x"], times=[5.0]).shape
    (3, 1)
    """
    strata = as_list(strata)
    complete = df.dropna(subset=[*covariates, *strata])
    design = encode(complete, covariates).reindex(columns=cph.params_.index, fill_value=0.0)
    design = pd.concat([design, _strata(complete, strata)], axis=1)
    pred = cph.predict_survival_function(design, times=list(times)).T  # stratified fits reorder the rows
    pred.columns = list(times)
    return pred.reindex(df.index)


def hazard_ratios(model: CoxPHFitter | CoxTimeVaryingFitter, confidence: float = 0.95) -> pd.DataFrame:
    """Hazard ratio per term with a Wald interval at ``confidence``, tidy.

    Returns
    -------
    DataFrame
        ``term``, ``hr``, ``lower``, ``upper``, ``p``, ``log_hr``, ``se``.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"tenure_months": rng.exponential(10, 200), "churned": True, "x": rng.normal(size=200)})
    >>> hazard_ratios(fit_cox(df, covariates=["x"])).columns.tolist()
    ['term', 'hr', 'lower', 'upper', 'p', 'log_hr', 'se']
    """
    s, z = model.summary, normal_quantile(confidence)
    coef, se = s["coef"].to_numpy(), s["se(coef)"].to_numpy()
    return pd.DataFrame({"term": s.index.to_numpy(), "hr": np.exp(coef), "lower": np.exp(coef - z * se),
                         "upper": np.exp(coef + z * se), "p": s["p"].to_numpy(), "log_hr": coef, "se": se})


# ---- proportional hazards: check and remedy ------------------------------------------------
def check_proportional_hazards(cph: CoxPHFitter, data: pd.DataFrame | None = None, *,
                               alpha: float = 0.05) -> pd.DataFrame:
    """Grambsch-Therneau test per term (scaled Schoenfeld residuals against the rank of time).

    The statistic of lifelines' ``proportional_hazard_test(cph, data, time_transform="rank")``,
    computed in O(n log n) (lifelines builds the residuals one row at a time: 40 s at 100,000
    customers, 201 s at 200,000; see benchmarks/README.md). With ``d`` events in lifelines' order (sorted by
    strata, then tenure; ties in row order), ``g`` their centred ranks ``1..d`` (numbered
    across the strata one after another, as lifelines does), ``s`` their Schoenfeld residuals
    (Efron ties, `_schoenfeld`) and ``r = d * s @ cov(b)`` the scaled residuals, the statistic
    of term ``j`` is ``(g @ r_j)^2 / (d * se_j^2 * g @ g)``, chi-squared with one degree of
    freedom: a test that ``b_j(t) = b_j + c (rank(t) - mean)`` has ``c = 0``, the score test
    with each event's information replaced by the average ``I / d`` (Grambsch & Therneau 1994;
    R's ``cox.zph`` before 2019). Equal to lifelines' to about 1e-12 (tests/test_survival.py).

    Why this test and not the counts-based one of the aggregated path (`pwe.ph_check`:
    covariate x late-period interactions, likelihood-ratio test): this is the test the row-level
    path has always reported, so its p-values and verdicts stay what they were; the counts-based
    test asks a coarser question (one change at one cut), needs the tenure cut into intervals,
    and flags only changes larger than a materiality threshold meant for millions of customers.

    Parameters
    ----------
    cph : CoxPHFitter
        A model from `fit_cox`.
    data : DataFrame, optional
        The encoded frame the model was fitted on; ``cph.design_`` when None.
    alpha : float
        Level below which a term is flagged.

    Returns
    -------
    DataFrame
        ``term``, ``covariate`` (the source column: the term up to ``[``), ``statistic``,
        ``p``, ``violated``.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"tenure_months": rng.exponential(10, 200), "churned": True, "x": rng.normal(size=200)})
    >>> check_proportional_hazards(fit_cox(df, covariates=["x"]))["term"].tolist()
    ['x']
    """
    resid = _schoenfeld(cph, cph.design_ if data is None else data)
    d = len(resid)
    rank = np.arange(1, d + 1) - (d + 1) / 2
    slope = d * (rank @ resid) @ cph.variance_matrix_.to_numpy()  # g @ r, one per term
    statistic = slope**2 / (d * cph.standard_errors_.to_numpy() ** 2 * (rank @ rank))
    p = stats.chi2.sf(statistic, 1)
    terms = [str(t) for t in cph.params_.index]
    out = pd.DataFrame({"term": terms, "covariate": [t.split("[")[0] for t in terms], "statistic": statistic,
                        "p": p, "violated": p < alpha})
    return out.sort_values("term", ignore_index=True)  # lifelines' order: by term name


def _schoenfeld(cph: CoxPHFitter, data: pd.DataFrame) -> np.ndarray:
    """Schoenfeld residuals of the events (Efron ties), one row per event in lifelines' order.

    The rows are sorted as lifelines sorts them (strata, duration, event; a stable sort). Per
    stratum, at a time with ``m`` tied events the expected covariate is Efron's
    ``(1/m) sum_{l<m} (R_x - l/m D_x) / (R - l/m D)``: ``R``, ``R_x`` the sums of
    ``w exp(x b)`` and ``w exp(x b) x`` over the rows at risk (reversed cumulative sums),
    ``D``, ``D_x`` those over the tied events. A residual is the event's ``x`` minus it.
    """
    strata = as_list(cph.strata)
    df = data.sort_values([*strata, cph.duration_col, cph.event_col])
    x = df[cph.params_.index].to_numpy(dtype=float)
    t, e = df[cph.duration_col].to_numpy(dtype=float), df[cph.event_col].to_numpy(dtype=bool)
    w = np.ones(len(df)) if cph.weights_col is None else df[cph.weights_col].to_numpy(dtype=float)
    phi = w * np.exp(x @ cph.params_.to_numpy())
    stratum = df.groupby(strata, sort=False).ngroup().to_numpy() if strata else np.zeros(len(df), dtype=int)
    edges = np.r_[0, np.flatnonzero(np.diff(stratum)) + 1, len(df)]
    parts = [_schoenfeld_in_stratum(x[a:b], t[a:b], e[a:b], phi[a:b]) for a, b in zip(edges[:-1], edges[1:])]
    return np.concatenate(parts) if parts else np.empty((0, x.shape[1]))


def _schoenfeld_in_stratum(x: np.ndarray, t: np.ndarray, e: np.ndarray, phi: np.ndarray) -> np.ndarray:
    new = np.r_[True, t[1:] != t[:-1]]  # rows sorted by time: a new tie group starts
    group, first = np.cumsum(new) - 1, np.flatnonzero(new)
    sums = np.column_stack([phi, phi[:, None] * x])
    risk = np.cumsum(sums[::-1], axis=0)[::-1][first]  # everyone with t >= the group's time
    per_group = lambda v: np.bincount(group[e], weights=v, minlength=len(first))  # noqa: E731
    tied = np.column_stack([per_group(v[e]) for v in sums.T])
    m = per_group(np.ones(e.sum()))
    g, events_before = group[e], (np.cumsum(e) - e)[first]
    frac = ((np.cumsum(e)[e] - 1 - events_before[g]) / m[g])[:, None]  # l/m: l = 0..m-1 within the tie
    terms = (risk[g, 1:] - frac * tied[g, 1:]) / (risk[g, :1] - frac * tied[g, :1]) / m[g][:, None]
    expected = np.column_stack([per_group(c) for c in terms.T])
    return x[e] - expected[g]


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def ph_verdict_text(check: pd.DataFrame, *, stratified: Sequence[str] = (), split: Sequence[str] = (),
                    split_at: float | None = None) -> str:
    """Plain-English verdict on proportional hazards and on what the refit did about it.

    Parameters
    ----------
    check : DataFrame
        Output of `check_proportional_hazards`; a covariate's p is the smallest over its terms.
    stratified : sequence of str
        Violating covariates the refit stratifies by.
    split, split_at : sequence of str, float
        Violating covariates given one hazard ratio before and one after ``split_at`` months.

    Returns
    -------
    str
        One sentence per violating covariate, or one sentence saying none violates.

    Example
    -------
    >>> check = pd.DataFrame({"covariate": ["contract"], "p": [0.0002], "violated": [True]})
    >>> ph_verdict_text(check, stratified=["contract"])[:56]
    'contract violates proportional hazards (p < 0.001); the '
    """
    p = check.groupby("covariate", sort=False)["p"].min()
    bad = p[check.groupby("covariate", sort=False)["violated"].any()]
    if bad.empty and p.min() < 0.05:  # a level far below the usual one was asked for: say so, never "none violates"
        return (f"No covariate crosses the level chosen for this check (ALPHA), but the smallest is {_p(p.min())}"
                f": at the usual 0.05, {', '.join(p[p < 0.05].index.astype(str))} would violate proportional hazards, "
                "so their hazard ratios are averages over tenure.")
    if bad.empty:
        return (f"No covariate violates proportional hazards (smallest {_p(p.min())}), "
                "so each hazard ratio can be read as constant over tenure.")
    sentences = []
    for name, value in bad.items():
        head = f"{name} violates proportional hazards ({_p(value)})"
        if name in stratified:
            tail = (f"the model is stratified by {name}, so its hazard ratios are per-stratum comparisons "
                    f"and {name} gets no hazard ratio.")
        elif name in split:
            tail = (f"the model gives it one hazard ratio before and one after {split_at:.1f} months of tenure "
                    f"(terms {name}:early and {name}:late).")
        else:
            tail = "its hazard ratio is an average over tenure and should not be read as constant."
        sentences.append(f"{head}; {tail}")
    return " ".join(sentences)


def _two_periods(design: pd.DataFrame, cut: float, *, duration: str, event: str, split: list[str]) -> pd.DataFrame:
    """Each row as an early row (tenure up to ``cut``) and, past the cut, a late row, told apart by
    ``PERIOD``; ``x`` becomes ``x:early`` and ``x:late``.

    An early row has duration ``min(T, cut)`` and churns if ``T <= cut``; a late row (``T > cut``)
    keeps ``T``. With ``PERIOD`` as an extra stratum the Cox partial likelihood is that of the
    episodes (0, min(T, cut)] and (cut, T] in a counting-process fit: at a churn time up to the
    cut the early rows at risk are the customers with ``T >= t``, past it the late rows are, and
    the two baselines cover disjoint times. Rows with no time at risk (tenure 0) are dropped, as
    an episode (0, 0] would be.
    """
    tenure = design[duration]
    early = design.assign(**{duration: np.minimum(tenure, cut), event: design[event] * (tenure <= cut),
                             PERIOD: "early"})
    late = design[tenure > cut].assign(**{PERIOD: "late"})
    rows = pd.concat([early[early[duration] > 0], late], ignore_index=True)
    is_late = rows[PERIOD] == "late"
    for x in split:
        values = rows.pop(x)
        rows[f"{x}:early"], rows[f"{x}:late"] = values * ~is_late, values * is_late
    return rows


def ph_remedy(df: pd.DataFrame, check: pd.DataFrame, *, covariates: Sequence[str],
              strata: str | Sequence[str] | None = None, duration: str = S.TENURE, event: str = S.CHURNED,
              split_at: float | None = None, penalizer: float = 0.0):
    """Refit a Cox model so that the covariates flagged by `check_proportional_hazards` are handled.

    Two standard remedies (Therneau & Grambsch 2000, ch. 6):

    * a categorical violator (non-numeric column) becomes a stratum: its own baseline hazard,
      no hazard ratio;
    * a numeric violator gets a step-function effect: time is split at ``split_at`` (default:
      the median churn tenure) and the covariate enters as ``x:early`` (x before the cut, else
      0) and ``x:late`` (x after it), each with its own hazard ratio. Each customer becomes at
      most two rows, one per period, fitted by lifelines' CoxPHFitter (Efron ties) with the
      period as an extra stratum: the partial likelihood of (start, stop] episodes in
      CoxTimeVaryingFitter, whose risk-set search grew with the square of the data (42 s at
      50,000 customers, 3 s now; tested equal to 1e-6 in tests/test_survival.py).

    Parameters
    ----------
    df : DataFrame
        One row per customer.
    check : DataFrame
        Output of `check_proportional_hazards` for the model with these covariates.
    covariates, strata, duration, event, penalizer
        As in `fit_cox`.
    split_at : float, optional
        Tenure (months) where a numeric violator's effect may change.

    Returns
    -------
    tuple
        The refit (a CoxPHFitter; when a numeric covariate was split, ``PERIOD`` is among its
        strata) and the `ph_verdict_text` sentence that says what was done.

    Example
    -------
    >>> check = pd.DataFrame({"covariate": ["x"], "p": [0.5], "violated": [False]})
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"tenure_months": rng.exponential(10, 200), "churned": True, "x": rng.normal(size=200)})
    >>> model, text = ph_remedy(df, check, covariates=["x"])
    >>> text[:40]
    'No covariate violates proportional hazar'
    """
    bad = check.loc[check["violated"], "covariate"].unique()
    categorical = [c for c in bad if is_categorical(df[c])]
    split = [c for c in bad if c not in categorical]
    strata, kept = as_list(strata) + categorical, [c for c in covariates if c not in categorical]
    if not split:
        model = fit_cox(df, covariates=kept, strata=strata, duration=duration, event=event, penalizer=penalizer)
        return model, ph_verdict_text(check, stratified=categorical)
    design, _ = cox_design(df, covariates=kept, strata=strata, duration=duration, event=event)
    split_at = float(design.loc[design[event] == 1, duration].median()) if split_at is None else split_at
    rows = _two_periods(design, split_at, duration=duration, event=event, split=split)
    model = CoxPHFitter(penalizer=penalizer).fit(rows, duration_col=duration, event_col=event,
                                                 strata=[*strata, PERIOD])
    return model, ph_verdict_text(check, stratified=categorical, split=split, split_at=split_at)


# ---- parametric models ---------------------------------------------------------------------
def compare_parametric(df: pd.DataFrame, *, covariates: Sequence[str] = (), duration: str = S.TENURE,
                       event: str = S.CHURNED, floor: float = ONE_DAY, min_cell: int = MIN_CELL) -> pd.DataFrame:
    """Weibull, log-normal and log-logistic AFT models of tenure, ranked by AIC.

    The three are fitted by full likelihood on the same rows, so their AICs compare. The Cox
    model is left out on purpose: its partial likelihood is not a likelihood of the data, and
    its "AIC" is on a different scale. These fitters need tenure > 0, so tenures below
    ``floor`` (default one day, 1/30.4375 month) are raised to it; ``rows_floored`` says how many.

    Parameters
    ----------
    df : DataFrame
        One row per customer; incomplete rows are dropped.
    covariates : list of str
        Columns entering each model (encoded as in `fit_cox`); intercept-only when empty.
    duration, event : str
        Tenure and churn columns.
    floor : float
        Smallest tenure (months) passed to the fitters.
    min_cell : int
        Levels of a categorical covariate with fewer customers are pooled or left out first
        (`privacy.pool_small_levels`, as in `churn.cox_with_ph_check`); identifier covariates
        are refused (`privacy.check_covariates`).

    Returns
    -------
    DataFrame
        ``model``, ``log_likelihood``, ``aic`` (= -2 log_likelihood + 2 n_params),
        ``n_params``, ``customers``, ``rows_floored``; best (lowest AIC) first.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"tenure_months": rng.weibull(1.5, 300) * 20, "churned": True})
    >>> compare_parametric(df)["model"].iloc[0]
    'Weibull AFT'
    """
    check_covariates(df, covariates)
    df, _ = pool_small_levels(df, [duration, event, *covariates], min_cell=min_cell)
    design, _ = cox_design(df, covariates=covariates, strata=[], duration=duration, event=event)
    floored = int((design[duration] < floor).sum())
    design[duration] = design[duration].clip(lower=floor)
    rows = []
    for name, fitter in [("Weibull AFT", WeibullAFTFitter), ("log-normal AFT", LogNormalAFTFitter),
                         ("log-logistic AFT", LogLogisticAFTFitter)]:
        fit = fitter().fit(design, duration_col=duration, event_col=event)
        rows.append({"model": name, "log_likelihood": fit.log_likelihood_, "aic": fit.AIC_,
                     "n_params": len(fit.params_), "customers": len(design), "rows_floored": floored})
    return pd.DataFrame(rows).sort_values("aic", ignore_index=True)


# ---- prediction accuracy -------------------------------------------------------------------
def _censoring_survival(tenure: np.ndarray, churned: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Knots and values of G, the KM curve of the censoring times (Graf et al. 1999).

    Read off lifelines' event table. At a tenure where churn and censoring tie, the churners
    leave first, so G's hazard there is censored / (at_risk - churned).
    """
    table = KaplanMeierFitter().fit(tenure, churned).event_table
    at_risk = (table["at_risk"] - table["observed"]).to_numpy(dtype=float)
    hazard = np.divide(table["censored"].to_numpy(dtype=float), at_risk, out=np.zeros(len(table)), where=at_risk > 0)
    return table.index.to_numpy(dtype=float), np.cumprod(1 - hazard)


def brier_score(survival_at_t, df: pd.DataFrame, *, t: float, duration: str = S.TENURE,
                event: str = S.CHURNED) -> float:
    """Brier score at tenure ``t`` with inverse-probability-of-censoring weights (Graf et al. 1999).

    ``BS(t) = mean_i [ S_i(t)^2 w1_i + (1 - S_i(t))^2 w2_i ]`` where ``w1 = 1/G(T_i-)`` for a
    customer who churned by t, ``w2 = 1/G(t)`` for one still a customer after t, and both
    are 0 for one censored by t. G is the KM of the censoring distribution from the same rows.
    0 is perfect; predicting 0.5 for everyone scores 0.25.

    Parameters
    ----------
    survival_at_t : array-like
        Predicted probability of still being a customer at ``t``, one per row of ``df``.
    df : DataFrame
        The customers the predictions are for (their observed tenure and churn).
    t : float
        Tenure (months).
    duration, event : str
        Tenure and churn columns.

    Returns
    -------
    float

    Example
    -------
    >>> df = pd.DataFrame({"tenure_months": [2.0, 4, 6, 8], "churned": [True, True, False, False]})
    >>> brier_score([0.5, 0.5, 0.5, 0.5], df, t=5)
    0.25
    """
    tenure, churned = df[duration].to_numpy(dtype=float), df[event].to_numpy(dtype=bool)
    s = np.asarray(survival_at_t, dtype=float)
    knots, g = _censoring_survival(tenure, churned)
    g = np.r_[1.0, g]  # g[k] = G after the k-th knot; g[0] = 1 before the first
    g_before = g[np.searchsorted(knots, tenure, side="left")]  # G(T_i-)
    g_t = g[np.searchsorted(knots, t, side="right")]  # G(t)
    case, control = churned & (tenure <= t), tenure > t
    terms = np.where(case, s**2 / np.where(case, g_before, 1.0), 0.0) + np.where(control, (1 - s) ** 2 / g_t, 0.0)
    return float(terms.mean())


def integrated_brier(model_survival_fn: Callable[[float], np.ndarray], df: pd.DataFrame, *,
                     times: Sequence[float], duration: str = S.TENURE, event: str = S.CHURNED) -> float:
    """Brier score averaged over tenure: trapezoid rule over ``times``, divided by their range.

    Parameters
    ----------
    model_survival_fn : callable
        ``t -> array`` of predicted survival at t, one value per row of ``df``; for a lifelines
        model, e.g. ``lambda t: cph.predict_survival_function(X, times=[t]).iloc[0].to_numpy()``.
    df : DataFrame
        The customers predicted for.
    times : sequence of float
        Increasing tenures (at least two), within the follow-up.

    Returns
    -------
    float

    Example
    -------
    >>> df = pd.DataFrame({"tenure_months": [2.0, 4, 6, 8], "churned": [True, True, False, False]})
    >>> integrated_brier(lambda t: np.full(4, 0.5), df, times=[1, 3, 5])
    0.25
    """
    times = np.asarray(times, dtype=float)
    scores = [brier_score(model_survival_fn(t), df, t=t, duration=duration, event=event) for t in times]
    return float(trapezoid(scores, times) / (times[-1] - times[0]))


def calibration_at(predicted_survival_at_t, df: pd.DataFrame, *, t: float, bins: int = 10,
                   duration: str = S.TENURE, event: str = S.CHURNED, confidence: float = 0.95) -> pd.DataFrame:
    """Calibration at tenure ``t``: customers binned by predicted survival, KM-observed vs predicted.

    Bins are quantiles of the prediction (deciles by default; tied quantiles are merged). A
    well-calibrated model has ``predicted`` inside [``lower``, ``upper``] in most bins.

    Parameters
    ----------
    predicted_survival_at_t : array-like
        Predicted survival at ``t``, one per row of ``df``.
    df : DataFrame
        The customers predicted for.
    t : float
        Tenure (months).
    bins : int
        Number of quantile bins.
    confidence : float
        Level of the KM interval.

    Returns
    -------
    DataFrame
        ``bin`` (1 = lowest predicted survival), ``customers``, ``predicted`` (mean),
        ``observed`` (KM at t), ``lower``, ``upper``.

    Example
    -------
    >>> df = pd.DataFrame({"tenure_months": np.arange(1.0, 21), "churned": True})
    >>> calibration_at(np.linspace(0, 1, 20), df, t=5, bins=2)["customers"].tolist()
    [10, 10]
    """
    predicted = pd.Series(np.asarray(predicted_survival_at_t, dtype=float), index=df.index)
    which = pd.qcut(predicted, bins, labels=False, duplicates="drop")
    rows = []
    for b, sub in df.groupby(which):
        observed = _km_at(_km(sub, duration=duration, event=event, confidence=confidence), t)
        rows.append({"bin": int(b) + 1, "customers": len(sub), "predicted": predicted[sub.index].mean(),
                     **dict(zip(["observed", "lower", "upper"], observed))})
    return pd.DataFrame(rows)


# ---- competing risks -----------------------------------------------------------------------
def cumulative_incidence(df: pd.DataFrame, *, cause: str = S.END_REASON, causes: Sequence[str] = S.END_REASONS,
                         duration: str = S.TENURE, event: str = S.CHURNED, confidence: float = 0.95,
                         seed: int = 0) -> pd.DataFrame:
    """Cumulative incidence of churn by end reason (Aalen-Johansen, lifelines), tidy.

    Each cause's curve is the probability of having left *for that reason* by a tenure, with
    the other reasons as competing events. ``1 - KM`` with the other reasons treated as
    censoring overstates it: it answers "what if no one could leave for another reason",
    and the per-cause ``1 - KM`` curves can sum to more than the overall churn probability. The
    Aalen-Johansen curves sum to exactly ``1 - KM`` of churn for any reason.

    Churned customers with a missing reason form the cause ``"unknown"``; reasons outside
    ``causes`` are kept as causes of their own. lifelines jitters event times tied across
    causes (with ``seed``), so with ties the identity above holds up to the jitter. Two
    lifelines 0.30 quirks are worked around: its AJ interval columns are labelled the wrong way
    round (the "upper" one is the lower bound), so the bounds are taken as the row-wise min and
    max; and it drops events at the first event-table time (lifelines PR #1699), so tenure 0
    is raised to one day (``ONE_DAY``) here.

    Parameters
    ----------
    df : DataFrame
        One row per customer.
    cause : str
        Column with the end reason of churned customers.
    causes : sequence of str
        Known reasons, in reporting order; reasons with no churner get no curve.
    duration, event : str
        Tenure and churn columns.
    confidence : float
        Level of lifelines' interval (NaN before the cause's first event).
    seed : int
        Seed of lifelines' tie jitter.

    Returns
    -------
    DataFrame
        ``cause``, ``time``, ``cif``, ``lower``, ``upper``.

    Example
    -------
    >>> df = pd.DataFrame({"tenure_months": [1.0, 2, 3, 4], "churned": [True, True, False, True],
    ...                    "end_reason": ["price", "moved", None, None]})
    >>> cumulative_incidence(df).groupby("cause")["cif"].last().round(3).to_dict()
    {'moved': 0.25, 'price': 0.25, 'unknown': 0.5}
    """
    churned = df[event].astype(bool)
    reason = df[cause].astype("string").fillna(UNKNOWN)[churned]
    labels = [*causes, *sorted(set(reason) - set(causes) - {UNKNOWN}), UNKNOWN]
    code_of = {label: k for k, label in enumerate(labels, start=1)}
    codes = reason.map(code_of).reindex(df.index, fill_value=0).astype(int)  # 0: still a customer
    tenure = df[duration].where(df[duration] > 0, ONE_DAY)
    parts = []
    for label, k in code_of.items():
        if (codes == k).any():
            with warnings.catch_warnings():  # lifelines warns that it jitters tied times (documented above)
                warnings.simplefilter("ignore")
                ajf = AalenJohansenFitter(alpha=1 - confidence, seed=seed).fit(tenure, codes, event_of_interest=k)
            ci = ajf.confidence_interval_
            parts.append(pd.DataFrame({"cause": label, "time": ajf.cumulative_density_.index.to_numpy(),
                                       "cif": ajf.cumulative_density_.iloc[:, 0].to_numpy(),
                                       "lower": ci.min(axis=1).to_numpy(), "upper": ci.max(axis=1).to_numpy()}))
    return pd.concat(parts, ignore_index=True)


# ---- a time-varying exposure: manager departures -------------------------------------------
def departure_tenure(customers: pd.DataFrame, departures: pd.DataFrame, *, id_col: str = S.CUSTOMER_ID,
                     manager: str = S.ACCOUNT_MANAGER_ID, signup: str = S.SIGNUP_DATE,
                     departed: str = S.DEPARTED_AT) -> pd.DataFrame:
    """Tenure (months) at which each customer's account manager left, for `episodes_after_event`.

    Whole days from signup to the departure date, divided by ``S.DAYS_PER_MONTH``. Departures
    before the customer's signup are dropped (that manager never served them).

    Returns
    -------
    DataFrame
        ``id_col`` and ``EVENT_TENURE``, one row per customer whose manager left.

    Example
    -------
    >>> c = pd.DataFrame({"customer_id": ["C1"], "account_manager_id": ["M1"],
    ...                   "signup_date": pd.to_datetime(["2023-01-01"])})
    >>> d = pd.DataFrame({"account_manager_id": ["M1"], "departed_at": pd.to_datetime(["2024-01-01"])})
    >>> departure_tenure(c, d)["event_tenure"].round(2).tolist()
    [11.99]
    """
    merged = customers[[id_col, manager, signup]].merge(departures[[manager, departed]], on=manager)
    merged[EVENT_TENURE] = S.tenure_from_dates(merged[signup], merged[departed])
    return merged.loc[merged[EVENT_TENURE] >= 0, [id_col, EVENT_TENURE]].reset_index(drop=True)


def episodes_after_event(customers: pd.DataFrame, events: pd.DataFrame, *, window_months: float,
                         id_col: str = S.CUSTOMER_ID, event_time_col: str = EVENT_TENURE,
                         covariates: Sequence[str] = (), duration: str = S.TENURE,
                         event: str = S.CHURNED) -> pd.DataFrame:
    """Split each customer's tenure into (start, stop] episodes around an exposure event.

    ``after_event`` is 1 during [u, u + window) for a customer whose event happened at tenure u,
    else 0. A customer without an event (or with u < 0) is one episode. Churn is counted in the
    episode that ends at the customer's tenure; tenure-0 customers, with no time at risk,
    have no episode. With several events per customer the first is used.

    Parameters
    ----------
    customers : DataFrame
        One row per customer: id, tenure, churn and the ``covariates`` to carry.
    events : DataFrame
        ``id_col`` and ``event_time_col`` (tenure in months), e.g. from `departure_tenure`.
    window_months : float
        How long the exposure lasts.

    Returns
    -------
    DataFrame
        ``id_col``, covariates, ``start``, ``stop``, ``event``, ``after_event``; sorted by id, start.

    Example
    -------
    >>> c = pd.DataFrame({"customer_id": ["C1", "C2"], "tenure_months": [20.0, 5.0], "churned": [True, False]})
    >>> e = pd.DataFrame({"customer_id": ["C1"], "event_tenure": [4.0]})
    >>> episodes_after_event(c, e, window_months=6)[["start", "stop", "after_event"]].values.tolist()
    [[0.0, 4.0, 0.0], [4.0, 10.0, 1.0], [10.0, 20.0, 0.0], [0.0, 5.0, 0.0]]
    """
    tenure = customers[duration].to_numpy(dtype=float)
    u = customers[id_col].map(events.groupby(id_col)[event_time_col].min()).to_numpy(dtype=float)
    u = np.where(u >= 0, u, np.inf)  # no event, or one before the tenure started
    parts = []
    for lo, hi, flag in [(0.0, u, 0), (u, u + window_months, 1), (u + window_months, np.inf, 0)]:
        start, stop = np.minimum(lo, tenure), np.minimum(hi, tenure)
        part = customers[[id_col, *covariates]].assign(**{
            START: start, STOP: stop, event: customers[event].to_numpy(dtype=bool) & (hi >= tenure),
            AFTER_EVENT: flag})
        parts.append(part[stop > start])
    return pd.concat(parts).sort_values([id_col, START], ignore_index=True)


def fit_time_varying(episodes: pd.DataFrame, *, covariates: Sequence[str], strata: str | Sequence[str] | None = None,
                     id_col: str = S.CUSTOMER_ID, event: str = S.CHURNED,
                     penalizer: float = 0.0) -> CoxTimeVaryingFitter:
    """Cox model on (start, stop] episodes (lifelines CoxTimeVaryingFitter), complete cases.

    Covariates are encoded as in `fit_cox`. For the manager-departure question pass
    ``covariates=["after_event", ...]``: its hazard ratio compares churn in the window after a
    departure with churn at the same tenure otherwise.

    Example
    -------
    >>> c = pd.DataFrame({"customer_id": list("abcdef"), "tenure_months": [3.0, 9, 4, 12, 7, 2],
    ...                   "churned": True})
    >>> e = pd.DataFrame({"customer_id": list("abc"), "event_tenure": [1.0, 2, 3]})
    >>> ep = episodes_after_event(c, e, window_months=4)
    >>> fit_time_varying(ep, covariates=["after_event"]).params_.index.tolist()
    ['after_event']
    """
    strata = as_list(strata)
    used = episodes.dropna(subset=[*covariates, *strata])
    data = pd.concat([used[[id_col, START, STOP]], used[event].astype(int), encode(used, covariates),
                      _strata(used, strata)], axis=1)
    with warnings.catch_warnings():  # lifelines' own groupby(observed=...) FutureWarning under pandas 2.x
        warnings.simplefilter("ignore", FutureWarning)
        return CoxTimeVaryingFitter(penalizer=penalizer).fit(data, id_col=id_col, event_col=event, start_col=START,
                                                             stop_col=STOP, strata=strata or None)

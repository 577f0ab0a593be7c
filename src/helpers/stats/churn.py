"""The churn-survival analysis, step by step, for ``notebooks/01_churn_survival.ipynb``.

Each function is one section of the notebook: it combines the estimators of `survival` with
the segments of `segments` and returns tidy frames (or a small result object) with the
sentences a reader needs. Estimation lives in `survival`; this module decides what to fit.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter, KaplanMeierFitter

from helpers.data import schema as S
from helpers.data.io import Dataset
from helpers.data.privacy import MIN_CELL, check_covariates, pool_small_levels
from helpers.data.segments import LOG2_VALUE, add_segments, pool_small
from helpers.stats import survival
from helpers.stats.intervals import normal_quantile


def covariate_problem(name: str, *, present: bool, complete: float, distinct: int,
                      min_complete: float = 0.5) -> str | None:
    """Why a covariate cannot enter a model (``"x (a single value)"``), or None: one rule for every path.

    ``complete`` is the share of customers with a value, ``distinct`` the number of distinct
    values; the row-level path counts them in pandas, the aggregated one in DuckDB.

    The duration and the event themselves (tenure, churned, end date) never enter as covariates.

    >>> covariate_problem("wallet_share", present=True, complete=0.3, distinct=40)
    'wallet_share (missing for 70% of customers)'
    >>> covariate_problem("tenure_months", present=True, complete=1.0, distinct=40)
    'tenure_months (it is the duration or the outcome itself)'
    """
    if name in OUTCOME_COLUMNS:
        return f"{name} (it is the duration or the outcome itself)"
    if not present:
        return f"{name} (not in the data)"
    if complete < min_complete:
        return f"{name} (missing for {1 - complete:.0%} of customers)"
    if distinct < 2:
        return f"{name} (a single value)"
    return None


OUTCOME_COLUMNS = frozenset({S.TENURE, S.CHURNED, S.END_DATE, S.END_REASON})  # describe churn: never covariates


def left_out(problems: Sequence[str]) -> str:
    """The sentence naming the covariates left out of the model, or ""."""
    return f"Left out of the model: {', '.join(problems)}." if problems else ""


class NoCovariate(ValueError):
    """None of the requested covariates can enter the Cox model; ``note`` says why each was left out."""

    def __init__(self, covariates: Sequence[str], note: str):
        self.covariates, self.note = list(covariates), note
        super().__init__(f"no usable covariate for the Cox model among {', '.join(covariates)}. {note}")


def usable_covariates(customers: pd.DataFrame, covariates: Sequence[str], *, min_complete: float = 0.5,
                      ) -> tuple[list[str], str]:
    """The covariates the data can support, and a sentence naming those left out and why.

    A covariate is left out when the column is absent, has a single value, or is missing for
    more than ``1 - min_complete`` of the customers (`covariate_problem`).
    """
    kept, notes = [], []
    for name in covariates:
        present = name in customers
        problem = covariate_problem(name, present=present, min_complete=min_complete,
                                    complete=float(customers[name].notna().mean()) if present else 0.0,
                                    distinct=int(customers[name].nunique(dropna=True)) if present else 0)
        (notes if problem else kept).append(problem or name)
    return kept, left_out(notes)


@dataclass
class CoxResult:
    """A Cox fit with its proportional-hazards check and the remedy applied."""

    covariates: list[str]
    first: CoxPHFitter
    check: pd.DataFrame
    final: object
    verdict: str
    strata: list[str] = field(default_factory=list)
    note: str = ""
    min_cell: int = MIN_CELL  # smallest level of a covariate or stratum (`privacy.pool_small_levels`)

    @property
    def ph_holds(self) -> bool:
        return not self.check["violated"].any()

    def hazard_ratios(self, confidence: float = 0.95) -> pd.DataFrame:
        """Hazard ratios of the final (remedied) model."""
        return survival.hazard_ratios(self.final, confidence)


def cox_with_ph_check(customers: pd.DataFrame, covariates: Sequence[str], *, strata: Sequence[str] = (),
                      alpha: float = 0.05, min_complete: float = 0.5, min_cell: int = MIN_CELL) -> CoxResult:
    """Fit Cox, test proportional hazards (Schoenfeld residuals), and refit with the remedy.

    A categorical violator becomes a stratum; a numeric one gets an early and a late hazard
    ratio (see `survival.ph_remedy`). The verdict is a sentence for readers. No step grows with
    the square of the customers: 20 s at 200,000 (benchmarks/ph_check.py).

    Before any fit, identifier covariates and strata are refused (`privacy.check_covariates`)
    and the levels of categorical covariates and strata with fewer than ``min_cell`` customers
    are pooled or left out (`privacy.pool_small_levels`); ``note`` says how many.
    """
    check_covariates(customers, covariates)
    check_covariates(customers, strata, parameter="STRATA", role="stratum")
    kept, note = usable_covariates(customers, covariates, min_complete=min_complete)
    customers, pooled = pool_small_levels(customers, [S.TENURE, S.CHURNED, *kept, *strata], min_cell=min_cell)
    kept, single = usable_covariates(customers, kept, min_complete=min_complete)  # a level left out may leave one
    note = " ".join(part for part in (note, pooled, single) if part)
    if not kept:
        raise NoCovariate(covariates, note)
    first = survival.fit_cox(customers, covariates=kept, strata=list(strata) or None)
    check = survival.check_proportional_hazards(first, alpha=alpha)
    final, verdict = survival.ph_remedy(customers, check, covariates=kept, strata=list(strata) or None)
    bad = set(check.loc[check["violated"], "covariate"])
    new_strata = list(strata) + [c for c in kept if c in bad and not pd.api.types.is_numeric_dtype(customers[c])]
    return CoxResult(kept, first, check, final, verdict, new_strata, note, min_cell)


def holdout_accuracy(customers: pd.DataFrame, result: CoxResult, *, horizon: float, test_share: float = 0.3,
                     seed: int = 0, bins: int = 10, grid: int = 12, confidence: float = 0.95) -> dict:
    """Out-of-sample accuracy of the Cox model: calibration and Brier scores on a held-out share.

    The model is refitted on ``1 - test_share`` of the customers with the final covariates and
    strata (a numeric covariate split early/late is kept whole here: prediction needs a
    proportional model) and judged on the rest: the Brier score at ``horizon`` with censoring
    weights, the integrated Brier score over ``grid`` tenures up to the horizon, the Brier score
    of the no-covariate Kaplan-Meier prediction for comparison, and calibration by bins of
    predicted survival. The customers are pooled as for the model (`privacy.pool_small_levels`).
    """
    customers, _ = pool_small_levels(customers, [S.TENURE, S.CHURNED, *result.covariates, *result.strata],
                                     min_cell=getattr(result, "min_cell", MIN_CELL))
    covariates = [c for c in result.covariates if c not in result.strata]
    test = customers.sample(frac=test_share, random_state=seed)
    train = customers.drop(test.index)
    cph = survival.fit_cox(train, covariates=covariates, strata=result.strata or None)
    times = np.linspace(horizon / grid, horizon, grid)
    pred = survival.predict_survival(cph, test, covariates=covariates, strata=result.strata or None, times=times)
    test, pred = test.loc[pred.notna().all(axis=1)], pred.dropna()
    km = survival.km_table(train)
    km_at = lambda t: float(km.loc[km["time"] <= t, "survival"].iloc[-1])  # noqa: E731
    brier = survival.brier_score(pred[horizon].to_numpy(), test, t=horizon)
    baseline = survival.brier_score(np.full(len(test), km_at(horizon)), test, t=horizon)
    integrated = survival.integrated_brier(lambda t: pred[t].to_numpy(), test, times=times)
    calibration = survival.calibration_at(pred[horizon].to_numpy(), test, t=horizon, bins=bins,
                                          confidence=confidence)
    return {"brier": brier, "brier_km": baseline, "integrated_brier": integrated, "calibration": calibration,
            "test_customers": len(test), "train_customers": len(train)}


class NoSegment(ValueError):
    """No segment of a segmentation can be shown: every one is too small, or no customer has one.

    A property of the data, not a failure: a report section reads it as a reason to skip.
    """


def _pooled(customers: pd.DataFrame, segment: str, *, min_size: int,
            weights: str | None = None) -> tuple[pd.DataFrame, str]:
    """`segments.pool_small`, refused (`NoSegment`, with its reason) when no customer is left."""
    data, note = pool_small(customers, segment, min_size=min_size, weights=weights)
    if data.empty:
        raise NoSegment(f"no {segment} segment can be shown: {note or 'no customer has a ' + segment}")
    return data, note


def segment_curves(customers: pd.DataFrame, segment: str, *, horizon: float, times: Sequence[float] = (12, 24),
                   min_size: int = 50, confidence: float = 0.95,
                   weights: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Kaplan-Meier curves and their summary (median, survival at ``times``, RMST) per segment.

    Small segments are pooled or left out (`segments.pool_small`); the sentence says which.
    ``weights``: customers behind each row of collapsed counts (`helpers.engine.scale.Source.collapse`).
    """
    data, note = _pooled(customers, segment, min_size=min_size, weights=weights)
    table = survival.km_table(data, group=segment, confidence=confidence, weights=weights)
    summary = survival.km_summary(data, group=segment, times=times, horizon=horizon, confidence=confidence,
                                  weights=weights)
    return table, summary, note


def _area(knots: np.ndarray, surv: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``A(x)``, the integral of the step curve ``S`` from 0 to each ``x``, S held flat after the last knot.

    ``S(u) = surv[k]`` for ``knots[k] <= u < knots[k + 1]`` (right-continuous, ``knots[0] = 0``).
    """
    at_knots = np.r_[0.0, np.cumsum(surv[:-1] * np.diff(knots))]
    k = np.searchsorted(knots, x, side="right") - 1
    return at_knots[k] + surv[k] * (x - knots[k])


def _conditional_loss(tenure: np.ndarray, churned: np.ndarray, value: np.ndarray, active: np.ndarray,
                      horizon: float) -> dict:
    """Revenue one segment's active customers are expected to lose over the next ``horizon`` months.

    An active customer with tenure t loses ``H - (A(t + H) - A(t)) / S(t)`` of the next H
    months (`revenue_at_risk`), with S the segment's Kaplan-Meier curve (lifelines) and A its
    integral (`_area`). Customers with the same tenure are summed first, so the work is sorting
    and binary search: n log n. ``beyond_follow_up``: share of the active customers whose next H
    months pass the last follow-up.
    """
    kmf = KaplanMeierFitter().fit(tenure, churned)
    knots = kmf.survival_function_.index.to_numpy(dtype=float)
    surv = kmf.survival_function_.iloc[:, 0].to_numpy(dtype=float)
    t, inverse = np.unique(tenure[active], return_inverse=True)  # distinct tenures of the active customers
    w = np.bincount(inverse, weights=value[active], minlength=len(t))  # their monthly value, summed per tenure
    s_t = surv[np.searchsorted(knots, t, side="right") - 1]  # S(t), churn at t included
    w_s = np.divide(w, s_t, out=np.zeros(len(t)), where=s_t > 0)  # S(t) > 0 for a customer still here
    a_end = _area(knots, surv, t + horizon)
    lost = np.clip(horizon - np.divide(a_end - _area(knots, surv, t), s_t, out=np.full(len(t), float(horizon)),
                                       where=s_t > 0), 0.0, horizon)
    n_active = np.bincount(inverse, minlength=len(t))
    return {"revenue_lost": float(np.sum(w * lost)),
            "revenue_lost_se": _loss_se(kmf.event_table, knots, surv, t, w_s, a_end, horizon),
            "beyond_follow_up": float(n_active[t + horizon > knots[-1]].sum() / max(n_active.sum(), 1))}


def _loss_se(table: pd.DataFrame, knots, surv, t, w_s, a_end, horizon: float) -> float:
    """Delta-method SE of `_conditional_loss`'s revenue: Greenwood-type, as `survival.rmst`'s SE.

    The revenue kept is ``sum_t w_t (A(t + H) - A(t)) / S(t)``; its derivative in the log of the
    curve's factor ``1 - d_j / n_j`` at event time t_j is ``B_j = sum over t_j - H <= t < t_j of
    w_t (A(t + H) - A(t_j)) / S(t)`` (the revenue lost moves by the same amount, opposite sign),
    and ``Var = sum_j B_j^2 d_j / (n_j (n_j - d_j))`` (Greenwood's variance of each log factor;
    terms with n_j = d_j dropped, as R's survmean and `survival.rmst` do). ``w_s = w_t / S(t)``;
    the window sums are differences of cumulative sums over the sorted tenures ``t``.
    """
    tj, d, n = table.index.to_numpy(dtype=float), table["observed"].to_numpy(), table["at_risk"].to_numpy()
    use = (d > 0) & (n > d)
    tj, d, n = tj[use], d[use], n[use]
    p, q = np.r_[0.0, np.cumsum(w_s * a_end)], np.r_[0.0, np.cumsum(w_s)]
    lo, hi = np.searchsorted(t, tj - horizon, side="left"), np.searchsorted(t, tj, side="left")
    b = (p[hi] - p[lo]) - _area(knots, surv, tj) * (q[hi] - q[lo])
    return float(np.sqrt(np.sum(b**2 * d / (n * (n - d)))))


def revenue_at_risk(customers: pd.DataFrame, segment: str, *, horizon: float, min_size: int = 50,
                    confidence: float = 0.95) -> tuple[pd.DataFrame, str]:
    """Expected revenue lost to churn over the next ``horizon`` months, per segment, ranked.

    Each active customer is at their current tenure t, so what they stand to lose depends on
    the churn still ahead of them, not on the churn of the first months they already survived.
    With S the segment's Kaplan-Meier curve, the expected months lost over the next H months are
    the conditional-survival integral

        months lost(t) = H - integral_0^H S(t + u) / S(t) du,

    and ``revenue_lost = sum over active customers of monthly value x months lost(t)``. Beyond
    the segment's longest observed tenure S is held flat at its last value (as lifelines does
    for `survival.rmst`): no churn is extrapolated where nobody was observed, which understates
    the loss of the longest-tenured customers; ``beyond_follow_up`` says for how many of the
    active customers the next H months reach past that point. Customers with the same tenure
    are computed together (n log n in the customers).

    The interval is normal, estimate +/- z SE, with the SE from the delta method on the
    Kaplan-Meier curve (Greenwood's variance of each log hazard increment, as for the RMST
    interval of `survival.rmst`): it is the uncertainty of the churn curve, with the active
    customers, their tenures and values taken as known. It is cut to [0, H x their monthly
    value]. A missing monthly value counts as the segment's mean among the active. Requires
    ``monthly_value``.

    Parameters
    ----------
    customers : DataFrame
        One row per customer: segment, tenure, churn and monthly value.
    segment : str
        Column to split by; segments under ``min_size`` customers are pooled (`segments.pool_small`).
    horizon : float
        Months ahead (H).
    min_size : int
        Smallest segment shown on its own.
    confidence : float
        Level of the intervals.

    Returns
    -------
    (DataFrame, str)
        One row per segment, largest ``revenue_lost`` first: ``segment``, ``customers``,
        ``events``, ``rmst``, ``rmst_lower``, ``rmst_upper`` (restricted mean tenure over the first
        ``horizon`` months from signup, descriptive), ``active``, ``active_monthly_value`` (mean),
        ``months_lost`` (value-weighted mean months lost per active customer, so that
        ``revenue_lost = active x active_monthly_value x months_lost``), ``revenue_lost``, their
        ``_lower`` and ``_upper`` bounds, ``revenue_lost_se`` and ``beyond_follow_up`` (share of
        the active customers); and the pooling sentence.

    Example
    -------
    >>> df = pd.DataFrame({"seg": "a", "tenure_months": [1.0, 2, 3, 4, 5, 6],
    ...                    "churned": [True, False, True, False, True, False],
    ...                    "monthly_value": [0.0, 10, 0, 20, 0, 30]})
    >>> out, _ = revenue_at_risk(df, "seg", horizon=3, min_size=1)
    >>> round(out["revenue_lost"].item(), 6)
    25.0
    """
    data, note = _pooled(customers, segment, min_size=min_size)
    summary = survival.km_summary(data, group=segment, times=(), horizon=horizon, confidence=confidence)
    rows = []
    for key, sub in data.groupby(segment, observed=True, sort=True):
        active = ~sub[S.CHURNED].astype(bool).to_numpy()
        value = sub[S.MONTHLY_VALUE].astype(float)
        mean = float(value[active].mean()) if active.any() else np.nan
        loss = _conditional_loss(sub[S.TENURE].to_numpy(dtype=float), ~active, value.fillna(mean).to_numpy(),
                                 active, horizon)
        rows.append({segment: key, "active": int(active.sum()), "active_monthly_value": mean, **loss})
    out = summary.set_index(segment)[["customers", "events", "rmst", "rmst_lower", "rmst_upper"]].join(
        pd.DataFrame(rows).set_index(segment))
    return _ranked(out, horizon, confidence), note


def _ranked(out: pd.DataFrame, horizon: float, confidence: float) -> pd.DataFrame:
    """Bounds and months lost from `_conditional_loss`'s revenue and SE, in `revenue_at_risk`'s columns and order."""
    value = out["active"] * out["active_monthly_value"]  # the active base's monthly revenue
    z = normal_quantile(confidence)
    out["revenue_lost_lower"] = (out["revenue_lost"] - z * out["revenue_lost_se"]).clip(lower=0)
    out["revenue_lost_upper"] = (out["revenue_lost"] + z * out["revenue_lost_se"]).clip(upper=value * horizon)
    for name in ("", "_lower", "_upper"):
        out[f"months_lost{name}"] = out[f"revenue_lost{name}"] / value.where(value > 0)
    columns = ["segment", "customers", "events", "rmst", "rmst_lower", "rmst_upper", "active", "active_monthly_value",
               "months_lost", "revenue_lost", "months_lost_lower", "revenue_lost_lower", "months_lost_upper",
               "revenue_lost_upper", "revenue_lost_se", "beyond_follow_up"]
    out = out.rename_axis("segment").reset_index().sort_values("revenue_lost", ascending=False)
    return out[columns].reset_index(drop=True)


def rank_revenue_at_risk(customers: pd.DataFrame, segmentations: Sequence[str], *, horizon: float,
                         min_size: int = 50, confidence: float = 0.95) -> pd.DataFrame:
    """`revenue_at_risk` for several segmentations in one table, largest loss first.

    Segments of different segmentations overlap (a customer is in one contract and one
    quadrant), so the rows rank where the loss sits; they do not add up to a total. A
    segmentation with no segment to show is left out; `NoSegment` when none is left.
    """
    parts, why = [], []
    for s in segmentations:
        try:
            parts.append(revenue_at_risk(customers, s, horizon=horizon, min_size=min_size,
                                         confidence=confidence)[0].assign(segmentation=s))
        except NoSegment as e:
            why.append(str(e))
    if not parts:
        raise NoSegment("; ".join(w.rstrip(".") for w in why) or "no segmentation to rank")
    out = pd.concat(parts, ignore_index=True).sort_values("revenue_lost", ascending=False)
    columns = ["segmentation", "segment", "customers", "active", "active_monthly_value", "months_lost",
               "revenue_lost", "revenue_lost_lower", "revenue_lost_upper"]
    return out[columns].reset_index(drop=True)


def manager_departure_effect(ds: Dataset, customers: pd.DataFrame, *, window_months: float = 6,
                             covariates: Sequence[str] = (LOG2_VALUE,), strata: Sequence[str] = (S.CONTRACT,),
                             confidence: float = 0.95, min_cell: int = MIN_CELL) -> pd.DataFrame | None:
    """Hazard ratio of churn in the ``window_months`` after a group customer's account manager left.

    A time-varying Cox model on group customers with an account manager: the exposure switches
    on at the departure (in the customer's tenure) and off ``window_months`` later. None when
    the data have no group customers with managers or no departures table. Levels of the
    covariates and strata with fewer than ``min_cell`` group customers are pooled or left out
    first (`privacy.pool_small_levels`; None when no group customer is left);
    ``out.attrs["small_cell_note"]`` says how many.
    """
    if not (ds.has(S.MANAGER_DEPARTURES) and ds.has(S.CUSTOMERS, S.ACCOUNT_MANAGER_ID, S.SIGNUP_DATE)):
        return None
    group = customers.loc[customers[S.ACCOUNT_MANAGER_ID].notna()]
    if S.CUSTOMER_TYPE in group:
        group = group.loc[group[S.CUSTOMER_TYPE] == S.GROUP]
    covariates = [c for c in covariates if c in group]
    strata = [c for c in strata if c in group]
    check_covariates(group, covariates)
    group, pooled = pool_small_levels(group, [S.TENURE, S.CHURNED, *covariates, *strata], min_cell=min_cell)
    if group.empty:  # every group customer was in a level too small to show
        return None
    events = survival.departure_tenure(group, ds[S.MANAGER_DEPARTURES])
    episodes = survival.episodes_after_event(group, events, window_months=window_months,
                                             covariates=[*covariates, *strata])
    model = survival.fit_time_varying(episodes, covariates=[survival.AFTER_EVENT, *covariates], strata=strata or None)
    out = survival.hazard_ratios(model, confidence)
    exposed = episodes.groupby(S.CUSTOMER_ID)[survival.AFTER_EVENT].max().sum()
    out = out.assign(group_customers=len(group), customers_exposed=int(exposed))
    out.attrs["small_cell_note"] = pooled
    return out


def prepare(ds: Dataset, *, satisfaction_threshold: float = 7.0, cohort_freq: str = "Q") -> pd.DataFrame:
    """The customers table with every segment and derived covariate the data allow."""
    return add_segments(ds.customers, satisfaction_threshold=satisfaction_threshold, cohort_freq=cohort_freq)

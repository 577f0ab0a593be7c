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
from lifelines import CoxPHFitter

from helpers.data import schema as S
from helpers.data.io import Dataset
from helpers.data.privacy import MIN_CELL, check_covariates, pool_small_levels
from helpers.data.segments import LOG2_VALUE, add_segments, pool_small
from helpers.stats import survival


def covariate_problem(name: str, *, present: bool, complete: float, distinct: int,
                      min_complete: float = 0.5) -> str | None:
    """Why a covariate cannot enter a model (``"x (a single value)"``), or None: one rule for every path.

    ``complete`` is the share of customers with a value, ``distinct`` the number of distinct
    values; the row-level path counts them in pandas, the aggregated one in DuckDB.

    >>> covariate_problem("wallet_share", present=True, complete=0.3, distinct=40)
    'wallet_share (missing for 70% of customers)'
    """
    if not present:
        return f"{name} (not in the data)"
    if complete < min_complete:
        return f"{name} (missing for {1 - complete:.0%} of customers)"
    if distinct < 2:
        return f"{name} (a single value)"
    return None


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


def segment_curves(customers: pd.DataFrame, segment: str, *, horizon: float, times: Sequence[float] = (12, 24),
                   min_size: int = 50, confidence: float = 0.95,
                   weights: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Kaplan-Meier curves and their summary (median, survival at ``times``, RMST) per segment.

    Small segments are pooled or left out (`segments.pool_small`); the sentence says which.
    ``weights``: customers behind each row of collapsed counts (`helpers.engine.scale.Source.collapse`).
    """
    data, note = pool_small(customers, segment, min_size=min_size, weights=weights)
    table = survival.km_table(data, group=segment, confidence=confidence, weights=weights)
    summary = survival.km_summary(data, group=segment, times=times, horizon=horizon, confidence=confidence,
                                  weights=weights)
    return table, summary, note


def revenue_at_risk(customers: pd.DataFrame, segment: str, *, horizon: float, min_size: int = 50,
                    confidence: float = 0.95) -> tuple[pd.DataFrame, str]:
    """Expected revenue lost to churn over the horizon, per segment, ranked.

    For each segment: ``months_lost = horizon - RMST(horizon)``, the months of the horizon a
    customer of the segment is expected to be gone (RMST from the segment's Kaplan-Meier curve),
    and ``revenue_lost = active customers x mean monthly value of the active x months_lost``:
    what the segment's current base stands to lose over the next ``horizon`` months if it
    churns as the segment's customers have. The interval follows from the RMST interval.
    Requires ``monthly_value``.
    """
    data, note = pool_small(customers, segment, min_size=min_size)
    summary = survival.km_summary(data, group=segment, times=(), horizon=horizon, confidence=confidence)
    active = data.loc[~data[S.CHURNED].astype(bool)].groupby(segment)[S.MONTHLY_VALUE].agg(["size", "mean"])
    out = summary.set_index(segment)[["customers", "events", "rmst", "rmst_lower", "rmst_upper"]].join(active)
    out = out.rename(columns={"size": "active", "mean": "active_monthly_value"}).fillna({"active": 0})
    for name, rmst in (("", "rmst"), ("_lower", "rmst_upper"), ("_upper", "rmst_lower")):
        out[f"months_lost{name}"] = horizon - out[rmst]
        out[f"revenue_lost{name}"] = out["active"] * out["active_monthly_value"] * out[f"months_lost{name}"]
    out = out.reset_index().rename(columns={segment: "segment"}).sort_values("revenue_lost", ascending=False)
    return out.reset_index(drop=True), note


def rank_revenue_at_risk(customers: pd.DataFrame, segmentations: Sequence[str], *, horizon: float,
                         min_size: int = 50, confidence: float = 0.95) -> pd.DataFrame:
    """`revenue_at_risk` for several segmentations in one table, largest loss first.

    Segments of different segmentations overlap (a customer is in one contract and one
    quadrant), so the rows rank where the loss sits; they do not add up to a total.
    """
    parts = [revenue_at_risk(customers, s, horizon=horizon, min_size=min_size,
                             confidence=confidence)[0].assign(segmentation=s) for s in segmentations]
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

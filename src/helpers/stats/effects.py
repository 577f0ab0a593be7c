"""Treatment effects of retention campaigns: randomized comparisons and targeted (observational) ones.

Thin wrappers over statsmodels. Works on any one-table experiment: an outcome column, an arm
column with its control value, covariates. An arm column may hold several treatments; every
non-control arm is compared with control (`arm_effects`).

Randomized campaigns
    `difference_in_means` (OLS on a treated indicator with HC2 standard errors, which in the
    two-group case is exactly Welch's SE), `regression_adjusted` (ANCOVA with HC2; Lin 2013)
    and `cuped` (Deng et al. 2013), per arm in `arm_effects`, per segment in `segment_effects`,
    and `churn_hazard_ratio` (Cox, via `survival.fit_cox`).
Targeted campaigns
    `propensity` (logit), `overlap_summary`, `ipw_weights`, `balance` (standardised mean
    differences, Austin 2009), `ipw` (Hajek weights, sandwich SE) and `aipw` (doubly robust,
    influence-function SE). The naive comparison is `difference_in_means`.

Conventions, the same in every function:

- Intervals and p-values are normal (z), as statsmodels gives them for robust covariances
  (``use_t=False``); the key ``t`` holds estimate / se, referred to the standard normal.
- Rows whose arm is missing are left out with a warning that says how many, and counted in
  ``dropped`` along with rows of the compared arms that miss the outcome or a used column.
- Bad input is a ``ValueError`` that names the column and says what to do: a column not in the
  data, an arm column with a single value, a control or treated value that is absent, fewer
  than two rows in an arm, a constant outcome.
"""
from __future__ import annotations

import inspect
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.discrete.discrete_model import Logit
from statsmodels.regression.linear_model import OLS, WLS
from statsmodels.stats.multitest import multipletests
from statsmodels.tools.sm_exceptions import (
    ConvergenceWarning,
    HessianInversionWarning,
    PerfectSeparationError,
    PerfectSeparationWarning,
)
from statsmodels.tools.tools import add_constant

from helpers.data import schema as S
from helpers.data.privacy import MIN_CELL, check_covariates, pool_small_levels
from helpers.stats.design import as_list, require_roles
from helpers.stats.survival import fit_cox, hazard_ratios

_D = "_treated"  # the treated indicator's term in every design
_PS = "_propensity"  # propensity column added to a working copy
_EFFECT_COLUMNS = ["estimate", "se", "lower", "upper", "p"]
# verdicts of `segment_effects`
TOO_SMALL, EFFECT, NO_CLEAR_EFFECT, NO_VARIATION = ("too small to tell", "effect", "no clear effect",
                                                    "no variation within the arms")


# ---- checks and preparation ----------------------------------------------------------------
def _arm_rows(df: pd.DataFrame, *, arm: str, control, treated=None) -> tuple[pd.DataFrame, int]:
    """``df`` without rows whose arm is missing (warned about), after checking the arm values."""
    missing = int(df[arm].isna().sum())
    if missing:
        warnings.warn(f"arm column {arm!r} has {missing:,} missing values: those rows are left out (counted "
                      f"in 'dropped'); fill in their arm to include them", UserWarning, stacklevel=3)
    kept = df[df[arm].notna()]
    values = list(pd.unique(kept[arm]))
    if len(values) < 2:
        found = f"only the value {values[0]!r}" if values else "no values"
        raise ValueError(f"arm column {arm!r} has {found}: an effect needs a treated and a control arm; "
                         f"check the filter that made the data")
    for role, value in (("control", control), ("treated", treated)):
        if value is not None and value not in values:
            raise ValueError(f"{role} value {value!r} is not in arm column {arm!r} (values: "
                             f"{', '.join(map(repr, values))}): pass {role}= one of them")
    return kept, missing


def _outcome(rows: pd.DataFrame, d: pd.Series, *, outcome: str, treated, control) -> pd.Series:
    """The outcome as floats, after checking it is numeric, has two rows per arm, and varies."""
    y = rows[outcome]
    if not pd.api.types.is_numeric_dtype(y):
        raise ValueError(f"outcome column {outcome!r} is not numeric (dtype {y.dtype}): code it as a number or 0/1")
    for value, n in ((treated, int(d.sum())), (control, int((1 - d).sum()))):
        if n < 2:
            raise ValueError(f"arm {value!r} has {n} row(s) with a complete {outcome!r}: need at least 2 per arm")
    y = y.astype(float)
    if y.nunique() == 1:
        raise ValueError(f"outcome {outcome!r} is constant ({y.iloc[0]:g}) in arms {treated!r} and {control!r}: "
                         f"there is no variance to estimate an effect from; check the column")
    if y.groupby(d.to_numpy()).nunique().max() == 1:
        raise ValueError(f"outcome {outcome!r} does not vary within arm {treated!r} nor within {control!r}: "
                         f"its standard error would be zero; check the column")
    return y


def _two_arms(df: pd.DataFrame, *, outcome: str, arm: str, treated, control, columns: Sequence[str] = (),
              min_cell: int = MIN_CELL) -> tuple[pd.DataFrame, pd.Series, pd.Series, int, str]:
    """Rows of the two arms with complete outcome and ``columns``, small levels of ``columns`` pooled
    (`privacy.pool_small_levels`): rows, y, 0/1 indicator, rows dropped, the pooling note."""
    require_roles(df, outcome=outcome, arm=arm, covariate=list(columns))
    kept, missing = _arm_rows(df, arm=arm, control=control, treated=treated)
    pair = kept[kept[arm].isin([treated, control])]
    rows, note = pool_small_levels(pair.dropna(subset=[outcome, *columns]), columns, min_cell=min_cell)
    d = (rows[arm] == treated).astype(float).rename(_D)
    y = _outcome(rows, d, outcome=outcome, treated=treated, control=control)
    return rows, y, d, missing + len(pair) - len(rows), note


def _terms(df: pd.DataFrame, covariates: Sequence[str], *, drop_first: bool = True) -> pd.DataFrame:
    """Numeric covariates as floats; others one-hot as ``col[level]`` (first level dropped if asked)."""
    parts = [pd.DataFrame(index=df.index)]
    for col in covariates:
        if pd.api.types.is_numeric_dtype(df[col]):
            parts.append(df[col].astype(float).to_frame(col))
        else:
            levels = df[col].astype("category").cat.remove_unused_categories()
            dummies = pd.get_dummies(levels, dtype=float).iloc[:, int(drop_first):]
            parts.append(dummies.set_axis([f"{col}[{level}]" for level in dummies.columns], axis=1))
    return pd.concat(parts, axis=1)


def _aligned(df: pd.DataFrame, values, name: str) -> pd.Series:
    """A column name, a Series (aligned on the index) or one value per row, as floats indexed like ``df``."""
    if isinstance(values, str):
        require_roles(df, **{name: values})
        return df[values].astype(float)
    if isinstance(values, pd.Series):
        return values.reindex(df.index).astype(float)
    values = np.asarray(values, dtype=float)
    if len(values) != len(df):
        raise ValueError(f"{name} has {len(values)} values for {len(df)} rows: pass one per row, or a Series "
                         f"indexed like the data")
    return pd.Series(values, index=df.index)


def _counts(d: pd.Series) -> dict:
    return {"n_treated": int(d.sum()), "n_control": int((1 - d).sum())}


def _effect(y: pd.Series, X: pd.DataFrame, *, confidence: float, weights=None, cov_type: str = "HC2") -> dict:
    """Coefficient of the treated indicator from statsmodels OLS (WLS with ``weights``), robust SE."""
    model = OLS(y, X) if weights is None else WLS(y, X, weights=weights)
    fit = model.fit(cov_type=cov_type)
    lower, upper = fit.conf_int(alpha=1 - confidence).loc[_D]
    return {"estimate": float(fit.params[_D]), "se": float(fit.bse[_D]), "lower": float(lower),
            "upper": float(upper), "t": float(fit.tvalues[_D]), "p": float(fit.pvalues[_D])}


def _normal(estimate: float, se: float, confidence: float) -> dict:
    """Normal interval, z statistic and two-sided p of an estimate with its standard error."""
    z, t = stats.norm.ppf(0.5 + confidence / 2), estimate / se
    return {"estimate": float(estimate), "se": float(se), "lower": float(estimate - z * se),
            "upper": float(estimate + z * se), "t": float(t), "p": float(2 * stats.norm.sf(abs(t)))}


def _design(d: pd.Series, covariates: pd.DataFrame | None = None) -> pd.DataFrame:
    return pd.concat([pd.DataFrame({"const": 1.0, _D: d}, index=d.index), covariates], axis=1)


# ---- randomized campaigns ----------------------------------------------------------------
def difference_in_means(df: pd.DataFrame, *, outcome: str, arm: str = S.ARM, treated=S.TREATMENT,
                        control=S.CONTROL, confidence: float = 0.95) -> dict:
    """Mean outcome of the treated arm minus that of control, with a heteroskedasticity-robust SE.

    statsmodels OLS of the outcome on a treated indicator with HC2 standard errors: in this
    two-group design HC2 is exactly Welch's unequal-variance SE, sqrt(s_t^2/n_t + s_c^2/n_c)
    (Imbens & Rubin 2015, ch. 6), and ``t`` equals Welch's t. The interval and p are normal (z),
    not Welch's t with Satterthwaite degrees of freedom; with a few hundred rows per arm the
    difference is negligible. Also the naive estimate of a targeted campaign.

    Parameters
    ----------
    df : DataFrame
        One row per customer.
    outcome : str
        Numeric (or 0/1) outcome column.
    arm : str
        Column with each customer's arm.
    treated, control :
        The two values of ``arm`` to compare; rows of other arms are ignored.
    confidence : float
        Level of the interval.

    Returns
    -------
    dict
        ``estimate``, ``se``, ``lower``, ``upper``, ``t``, ``p``, ``n_treated``, ``n_control``,
        ``mean_treated``, ``mean_control``, ``dropped`` (rows left out: missing arm or outcome).

    Example
    -------
    >>> df = pd.DataFrame({"arm": ["treatment"] * 3 + ["control"] * 3, "spend": [5.0, 7, 9, 4, 5, 6]})
    >>> r = difference_in_means(df, outcome="spend")
    >>> round(r["estimate"], 3), round(r["se"], 3)
    (2.0, 1.291)
    """
    rows, y, d, dropped, _ = _two_arms(df, outcome=outcome, arm=arm, treated=treated, control=control)
    return {**_effect(y, _design(d), confidence=confidence), **_counts(d), "mean_treated": float(y[d == 1].mean()),
            "mean_control": float(y[d == 0].mean()), "dropped": dropped}


naive = difference_in_means  # the unadjusted comparison of a targeted campaign: biased when targeting confounds


def regression_adjusted(df: pd.DataFrame, *, outcome: str, covariates: Sequence[str], arm: str = S.ARM,
                        treated=S.TREATMENT, control=S.CONTROL, confidence: float = 0.95,
                        min_cell: int = MIN_CELL) -> dict:
    """Covariate-adjusted effect (ANCOVA): statsmodels OLS ``outcome ~ treated + covariates``, HC2 SE.

    With randomized arms the adjusted estimate targets the same effect as the difference in
    means, with a smaller SE when the covariates predict the outcome; with HC2 errors the
    interval stays valid even when the linear model is wrong (Lin 2013). Non-numeric
    covariates are one-hot encoded, first level dropped. Rows missing a covariate are dropped.
    Identifier covariates are refused (`privacy.check_covariates`); levels with fewer than
    ``min_cell`` customers are pooled or left out first (`privacy.pool_small_levels`).

    Parameters
    ----------
    df : DataFrame
        One row per customer.
    outcome : str
        Numeric (or 0/1) outcome column.
    covariates : list of str
        Columns measured before assignment (never ones the campaign could change).
    arm, treated, control :
        Arm column and the two values compared.
    confidence : float
        Level of the (normal) interval.

    Returns
    -------
    dict
        ``estimate``, ``se``, ``lower``, ``upper``, ``t``, ``p``, ``n_treated``, ``n_control``,
        ``dropped``, ``small_cell_note`` ("" when no level was pooled).

    Example
    -------
    >>> df = pd.DataFrame({"arm": ["treatment", "control"] * 4, "pre": [1.0, 1, 2, 2, 3, 3, 4, 4],
    ...                    "spend": [3.0, 1, 4, 2, 5, 3, 6, 4]})
    >>> round(regression_adjusted(df, outcome="spend", covariates=["pre"])["estimate"], 3)
    2.0
    """
    covariates = as_list(covariates)
    check_covariates(df, covariates)
    rows, y, d, dropped, note = _two_arms(df, outcome=outcome, arm=arm, treated=treated, control=control,
                                          columns=covariates, min_cell=min_cell)
    X = _design(d, _terms(rows, covariates))
    return {**_effect(y, X, confidence=confidence), **_counts(d), "dropped": dropped, "small_cell_note": note}


def cuped(df: pd.DataFrame, *, outcome: str, pre: str, arm: str = S.ARM, treated=S.TREATMENT,
          control=S.CONTROL, confidence: float = 0.95) -> dict:
    """CUPED (Deng et al. 2013): difference in means of the outcome adjusted by its pre-period value.

    ``theta = cov(Y, X) / var(X)`` over both arms pooled, ``Y_cuped = Y - theta (X - mean X)``,
    then `difference_in_means` of ``Y_cuped`` (HC2 = Welch SE, normal interval). The SE treats
    theta as known, as Deng et al. do (its estimation error is of order 1/n). The variance of
    the outcome shrinks by ``variance_reduction = 1 - var(Y_cuped) / var(Y)`` (the squared
    correlation of Y and X), and the SE roughly by its square root.

    Parameters
    ----------
    df : DataFrame
        One row per customer.
    outcome : str
        Numeric (or 0/1) outcome column.
    pre : str
        The same measure before assignment (or any pre-period covariate).
    arm, treated, control :
        Arm column and the two values compared.
    confidence : float
        Level of the (normal) interval.

    Returns
    -------
    dict
        ``estimate``, ``se``, ``lower``, ``upper``, ``t``, ``p``, ``theta``,
        ``variance_reduction``, ``n_treated``, ``n_control``, ``dropped``.

    Example
    -------
    >>> df = pd.DataFrame({"arm": ["treatment", "control"] * 4, "pre": [1.0, 1, 2, 2, 3, 3, 4, 4],
    ...                    "spend": [3.0, 1, 4, 2, 5, 3, 6, 4]})
    >>> r = cuped(df, outcome="spend", pre="pre")
    >>> round(r["estimate"], 3), round(r["theta"], 3), round(r["variance_reduction"], 3)
    (2.0, 1.0, 0.556)
    """
    rows, y, d, dropped, _ = _two_arms(df, outcome=outcome, arm=arm, treated=treated, control=control, columns=[pre])
    x = rows[pre].astype(float)
    if x.var() == 0:
        raise ValueError(f"pre-period column {pre!r} is constant: it cannot reduce variance; pass another one")
    theta = y.cov(x) / x.var()
    adjusted = y - theta * (x - x.mean())
    return {**_effect(adjusted, _design(d), confidence=confidence), "theta": float(theta),
            "variance_reduction": float(1 - adjusted.var() / y.var()), **_counts(d), "dropped": dropped}


def _levels(values: pd.Series) -> list:
    """Values present, in category order for a categorical column, else sorted."""
    return list(values.astype("category").cat.remove_unused_categories().cat.categories)


def arm_effects(df: pd.DataFrame, *, outcome: str, arm: str = S.ARM, control=S.CONTROL, method: str = "difference",
                covariates: Sequence[str] = (), pre: str | None = None, confidence: float = 0.95,
                correction: str = "holm") -> pd.DataFrame:
    """Effect of every non-control arm against control, with p-values adjusted for the comparisons.

    Each arm is compared with control on the rows of those two arms only, by
    `difference_in_means` (``method="difference"``), `regression_adjusted` (``"ancova"``, needs
    ``covariates``) or `cuped` (``"cuped"``, needs ``pre``). ``p_adjusted`` comes from
    statsmodels ``multipletests(p, method=correction)`` (Holm by default: controls the
    family-wise error, never below ``p``). The intervals are not adjusted.

    Parameters
    ----------
    df : DataFrame
        One row per customer.
    outcome, arm, control :
        Outcome column, arm column and its control value.
    method : {"difference", "ancova", "cuped"}
        Estimator per arm.
    covariates : list of str
        For ``"ancova"``.
    pre : str
        For ``"cuped"``.
    confidence : float
        Level of each (normal, unadjusted) interval.
    correction : str
        Any ``multipletests`` method: "holm", "bonferroni", "fdr_bh", ...

    Returns
    -------
    DataFrame
        One row per non-control arm (category order, else sorted): ``arm``, ``estimate``,
        ``se``, ``lower``, ``upper``, ``p``, ``p_adjusted``, ``n_treated``, ``n_control``.

    Example
    -------
    >>> df = pd.DataFrame({"arm": ["call", "email", "control"] * 4,
    ...                    "spend": [5.0, 3, 1, 6, 4, 2, 7, 3, 1, 6, 4, 2]})
    >>> arm_effects(df, outcome="spend")[["arm", "estimate"]].round(3).values.tolist()
    [['call', 4.5], ['email', 2.0]]
    """
    estimators = {"difference": (difference_in_means, {}), "ancova": (regression_adjusted, {"covariates": covariates}),
                  "cuped": (cuped, {"pre": pre})}
    if method not in estimators or (method == "ancova" and not as_list(covariates)) or (method == "cuped" and not pre):
        raise ValueError(f"method={method!r}: use 'difference', 'ancova' with covariates=, or 'cuped' with pre=")
    require_roles(df, arm=arm)
    kept, _ = _arm_rows(df, arm=arm, control=control)
    estimator, extra = estimators[method]
    rows = []
    for value in (v for v in _levels(kept[arm]) if v != control):
        r = estimator(kept, outcome=outcome, arm=arm, treated=value, control=control, confidence=confidence, **extra)
        rows.append({"arm": value, **{k: r[k] for k in [*_EFFECT_COLUMNS, "n_treated", "n_control"]}})
    out = pd.DataFrame(rows)
    out.insert(6, "p_adjusted", multipletests(out["p"], method=correction)[1])
    return out


def segment_effects(df: pd.DataFrame, *, outcome: str, by: str, arm: str = S.ARM, treated=S.TREATMENT,
                    control=S.CONTROL, min_per_arm: int = 30, correction: str = "holm",
                    confidence: float = 0.95, estimator=None, min_cell: int = MIN_CELL,
                    **estimator_kw) -> pd.DataFrame:
    """Effect within each segment, p-values adjusted across segments, and a verdict.

    ``estimator`` is `difference_in_means` by default (randomized designs); a targeted design
    passes `aipw` with its ``covariates=`` (and ``trim=``) as keyword arguments. A segment where
    the estimator refuses (e.g. a covariate separates the arms there) gets the verdict
    "not estimable: <reason>".

    A segment with fewer than ``min_per_arm`` rows in either arm is not estimated: its verdict
    is "too small to tell" and it takes no part in the adjustment. A segment whose outcome
    does not vary within either arm (e.g. nobody churned) is not estimated either: "no
    variation within the arms" (a standard error of zero would mean nothing). The others are
    `difference_in_means` (HC2 SE, normal interval); ``p_adjusted`` comes from statsmodels
    ``multipletests`` over them, and the verdict is "effect" when it is below
    ``1 - confidence``, else "no clear effect". Rows with a missing segment are dropped. First,
    an identifier ``by`` is refused (`privacy.check_covariates`) and segments with fewer than
    ``min_cell`` customers in the two arms are pooled or left out (`privacy.pool_small_levels`;
    ``attrs["small_cell_note"]`` says how many); ``min_cell`` is passed on to an estimator that
    takes it (`aipw`), for its covariates within each segment.

    Parameters
    ----------
    df : DataFrame
        One row per customer.
    outcome, by : str
        Outcome column and the column whose levels are the segments.
    arm, treated, control :
        Arm column and the two values compared.
    min_per_arm : int
        Fewest rows per arm for a segment to be estimated.
    correction : str
        ``multipletests`` method.
    confidence : float
        Level of the intervals; ``1 - confidence`` is the level of the verdict.

    Returns
    -------
    DataFrame
        One row per segment: ``by`` (named after the column), ``n_treated``, ``n_control``,
        ``estimate``, ``se``, ``lower``, ``upper``, ``p``, ``p_adjusted``, ``verdict``.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"arm": np.tile(["treatment", "control"], 50), "spend": rng.normal(size=100),
    ...                    "region": ["north"] * 90 + ["south"] * 10})
    >>> segment_effects(df, outcome="spend", by="region")["verdict"].tolist()
    ['no clear effect', 'too small to tell']
    """
    require_roles(df, by=by)
    check_covariates(df, [by], parameter="SEGMENTS", role="segmentation")
    rows, _, _, _, note = _two_arms(df, outcome=outcome, arm=arm, treated=treated, control=control, columns=[by],
                                    min_cell=min_cell)
    estimator = estimator or difference_in_means
    if "min_cell" in inspect.signature(estimator).parameters:
        estimator_kw = {**estimator_kw, "min_cell": min_cell}
    out = []
    for level, sub in rows.groupby(by, observed=True, sort=True):
        row = {by: level, **_counts((sub[arm] == treated).astype(float))}
        if min(row["n_treated"], row["n_control"]) < max(min_per_arm, 2):
            row["verdict"] = TOO_SMALL
        elif sub.groupby(arm, observed=True)[outcome].nunique().max() == 1:
            row["verdict"] = NO_VARIATION
        else:
            try:
                r = estimator(sub, outcome=outcome, arm=arm, treated=treated, control=control,
                              confidence=confidence, **estimator_kw)
                row.update({k: r[k] for k in _EFFECT_COLUMNS})
            except ValueError as e:
                row["verdict"] = f"not estimable: {e}"
        out.append(row)
    out = pd.DataFrame(out).reindex(columns=[by, "n_treated", "n_control", *_EFFECT_COLUMNS, "p_adjusted", "verdict"])
    out["verdict"] = out["verdict"].astype(object)
    tested = out["p"].notna()
    if tested.any():
        out.loc[tested, "p_adjusted"] = multipletests(out.loc[tested, "p"], method=correction)[1]
        out.loc[tested, "verdict"] = np.where(out.loc[tested, "p_adjusted"] < 1 - confidence, EFFECT, NO_CLEAR_EFFECT)
    out.attrs["small_cell_note"] = note
    return out


def churn_hazard_ratio(df: pd.DataFrame, *, arm: str = S.ARM, treated=S.TREATMENT, control=S.CONTROL,
                       duration: str = S.TENURE, event: str = S.CHURNED, covariates: Sequence[str] = (),
                       confidence: float = 0.95, min_cell: int = MIN_CELL) -> dict:
    """Hazard ratio of churn, treated vs control, from a Cox model (lifelines, via `survival.fit_cox`).

    Below 1 means the treated arm churns more slowly. The interval is the Wald interval on the
    log scale (`survival.hazard_ratios`). Optional ``covariates`` adjust the comparison; identifier
    covariates are refused and levels with fewer than ``min_cell`` customers pooled or left out
    first (`privacy.check_covariates`, `privacy.pool_small_levels`; the rows left out count in
    ``dropped``).

    Parameters
    ----------
    df : DataFrame
        One row per customer.
    arm, treated, control :
        Arm column and the two values compared.
    duration, event : str
        Time at risk since assignment (months) and churn indicator columns.
    covariates : list of str
        Extra terms (encoded as `survival.fit_cox` does).
    confidence : float
        Level of the interval.

    Returns
    -------
    dict
        ``hr``, ``lower``, ``upper``, ``p``, ``log_hr``, ``se``, ``n_treated``, ``n_control``,
        ``events_treated``, ``events_control``, ``dropped``.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> treated = np.arange(400) % 2 == 1
    >>> df = pd.DataFrame({"arm": np.where(treated, "treatment", "control"), "churned": True,
    ...                    "tenure_months": rng.exponential(np.where(treated, 20, 10))})
    >>> 0.3 < churn_hazard_ratio(df)["hr"] < 0.7
    True
    """
    covariates = as_list(covariates)
    require_roles(df, duration=duration, event=event)
    check_covariates(df, covariates)
    rows, _, d, dropped, _ = _two_arms(df, outcome=duration, arm=arm, treated=treated, control=control,
                                       columns=[event, *covariates], min_cell=min_cell)
    churned = rows[event].astype(bool)
    if not churned.any():
        raise ValueError(f"event column {event!r} has no churn in arms {treated!r} and {control!r}: "
                         f"a hazard ratio needs events")
    data = rows[[duration, event, *covariates]].assign(**{_D: d})
    hr = hazard_ratios(fit_cox(data, covariates=[_D, *covariates], duration=duration, event=event),
                       confidence).set_index("term").loc[_D]
    return {**{k: float(hr[k]) for k in ["hr", "lower", "upper", "p", "log_hr", "se"]}, **_counts(d),
            "events_treated": int(churned[d == 1].sum()), "events_control": int(churned[d == 0].sum()),
            "dropped": dropped}


# ---- targeted campaigns: propensity, overlap, balance ------------------------------------
def _separating(d: pd.Series, X: pd.DataFrame, covariates: Sequence[str]) -> list[str]:
    """Covariates with a term that alone splits treated from control (perfectly or quasi-perfectly)."""
    t, c = X[d == 1], X[d == 0]
    terms = [col for col in X.columns if X[col].nunique() > 1
             and (t[col].max() <= c[col].min() or c[col].max() <= t[col].min())]
    return [cov for cov in covariates if any(term == cov or term.startswith(f"{cov}[") for term in terms)]


def _logit(d: pd.Series, X: pd.DataFrame, covariates: Sequence[str]):
    """statsmodels Logit, with separation and non-convergence turned into a ValueError that names the cause."""
    with warnings.catch_warnings():
        for warning in (PerfectSeparationWarning, ConvergenceWarning, HessianInversionWarning):
            warnings.simplefilter("error", warning)
        try:
            return Logit(d, X).fit(disp=0, maxiter=100)
        except (PerfectSeparationWarning, PerfectSeparationError, ConvergenceWarning, HessianInversionWarning,
                np.linalg.LinAlgError) as err:
            culprits = _separating(d, X, covariates)
            if culprits:
                raise ValueError(f"covariate {', '.join(map(repr, culprits))} separates treated from control: "
                                 f"the propensity is 0 or 1 for some customers; drop or coarsen it, or keep "
                                 f"only the customers where the arms overlap") from err
            raise ValueError(f"the propensity model on {', '.join(map(repr, covariates))} failed ({err}): the "
                             f"covariates together may predict the arm perfectly, or one is constant or "
                             f"collinear; drop or coarsen some") from err


def propensity(df: pd.DataFrame, *, covariates: Sequence[str], arm: str = S.ARM, treated=S.TREATMENT,
               control=S.CONTROL, min_cell: int = MIN_CELL) -> pd.Series:
    """Propensity score P(treated | covariates) from a statsmodels logistic regression.

    Fitted on the complete cases of the two arms; non-numeric covariates are one-hot encoded
    (first level dropped). A covariate that predicts the arm perfectly (every customer with
    some level was targeted, say) makes the scores 0 or 1 and the weights infinite: that is a
    ValueError naming the covariate, as is a fit that does not converge. So is an identifier
    covariate (`privacy.check_covariates`); levels with fewer than ``min_cell`` customers are
    pooled or left out before the fit (`privacy.pool_small_levels`).

    Parameters
    ----------
    df : DataFrame
        One row per customer.
    covariates : list of str
        What the targeting could have depended on, measured before assignment.
    arm, treated, control :
        Arm column and the two values compared.
    min_cell : int
        Smallest level of a categorical covariate, in customers of the two arms.

    Returns
    -------
    Series
        ``propensity``, indexed like ``df``; NaN for rows of other arms, with a missing value or
        of a small level left out; ``attrs["small_cell_note"]`` says what was pooled.

    Example
    -------
    >>> df = pd.DataFrame({"arm": ["treatment", "control", "control", "treatment", "control", "treatment"],
    ...                    "value": [5.0, 1, 3, 2, 4, 6]})
    >>> propensity(df, covariates=["value"]).round(2).tolist()
    [0.73, 0.16, 0.42, 0.27, 0.58, 0.84]
    """
    covariates = as_list(covariates)
    require_roles(df, arm=arm, covariate=covariates)
    check_covariates(df, covariates)
    kept, _ = _arm_rows(df, arm=arm, control=control, treated=treated)
    rows, note = pool_small_levels(kept[kept[arm].isin([treated, control])].dropna(subset=covariates), covariates,
                                   min_cell=min_cell)
    d = (rows[arm] == treated).astype(float)
    X = add_constant(_terms(rows, covariates), has_constant="add")
    fit = _logit(d, X, covariates)
    ps = pd.Series(fit.predict(X), index=rows.index, name="propensity").reindex(df.index)
    ps.attrs["small_cell_note"] = note
    return ps


def overlap_summary(ps, treated_mask, *, trim: tuple[float, float] | None = (0.05, 0.95)) -> dict:
    """How far the propensity scores of the two arms overlap, and what a trimming rule leaves out.

    Trimming at fixed bounds (Crump et al. 2009 suggest 0.1/0.9) drops the customers whom one
    arm hardly ever contains; the effect is then that of the customers kept. Rows with a
    missing score are ignored.

    Parameters
    ----------
    ps : array-like
        Propensity scores, e.g. from `propensity`.
    treated_mask : array-like of bool
        True for treated rows, same length as ``ps``.
    trim : (float, float) or None
        Lowest and highest score kept; None keeps all.

    Returns
    -------
    dict
        ``by_arm`` (DataFrame: ``arm`` treated/control, ``n``, ``min``, ``q05``, ``q25``,
        ``median``, ``q75``, ``q95``, ``max``, ``share_below``, ``share_above``,
        ``share_outside``), ``left_out`` and ``n`` (rows), ``rule`` (a sentence).

    Example
    -------
    >>> overlap_summary([0.02, 0.3, 0.5, 0.6, 0.97, 0.4], [True, True, True, False, False, False])["rule"]
    'customers with a propensity below 0.05 or above 0.95 are left out: 2 of 6'
    """
    ps, treated_mask = pd.Series(np.asarray(ps, dtype=float)), np.asarray(treated_mask, dtype=bool)
    lo, hi = trim or (0.0, 1.0)
    rows = []
    for label, s in (("treated", ps[treated_mask].dropna()), ("control", ps[~treated_mask].dropna())):
        q = s.quantile([0.05, 0.25, 0.5, 0.75, 0.95]).to_numpy()
        rows.append({"arm": label, "n": len(s), "min": s.min(), **dict(zip(["q05", "q25", "median", "q75", "q95"], q)),
                     "max": s.max(), "share_below": (s < lo).mean(), "share_above": (s > hi).mean(),
                     "share_outside": ((s < lo) | (s > hi)).mean()})
    n, left_out = int(ps.notna().sum()), int(((ps < lo) | (ps > hi)).sum())
    rule = (f"customers with a propensity below {lo:g} or above {hi:g} are left out: {left_out:,} of {n:,}"
            if trim else f"no trimming: all {n:,} customers with a propensity are kept")
    return {"by_arm": pd.DataFrame(rows), "left_out": left_out, "n": n, "rule": rule}


def ipw_weights(ps, treated_mask, estimand: str = "ATE") -> pd.Series:
    """Inverse-probability weights for the average effect over everyone (ATE) or over the treated (ATT).

    ATE: ``1 / ps`` for treated, ``1 / (1 - ps)`` for control. ATT: 1 for treated,
    ``ps / (1 - ps)`` for control. Unnormalised: `ipw` and `balance` normalise within each arm
    (Hajek), so the scale does not matter. Missing scores give missing weights.

    Parameters
    ----------
    ps : array-like
        Propensity scores strictly between 0 and 1.
    treated_mask : array-like of bool
        True for treated rows.
    estimand : {"ATE", "ATT"}

    Returns
    -------
    Series
        ``weight``, indexed like ``ps`` when it is a Series.

    Example
    -------
    >>> ipw_weights([0.25, 0.5, 0.75], [True, False, False]).tolist()
    [4.0, 2.0, 4.0]
    """
    if estimand not in ("ATE", "ATT"):
        raise ValueError(f"estimand={estimand!r}: use 'ATE' (everyone) or 'ATT' (the treated)")
    e, t = np.asarray(ps, dtype=float), np.asarray(treated_mask, dtype=bool)
    with np.errstate(divide="ignore"):
        w = np.where(t, 1 / e, 1 / (1 - e)) if estimand == "ATE" else np.where(t, 1.0, e / (1 - e))
    return pd.Series(np.where(np.isnan(e), np.nan, w), index=ps.index if isinstance(ps, pd.Series) else None,
                     name="weight")


def _smd(difference: pd.Series, sd: pd.Series) -> np.ndarray:
    """Difference over SD; 0 when both are 0, +-inf when only the SD is (arms constant at different values)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sd > 0, difference / sd, np.where(difference == 0, 0.0, np.sign(difference) * np.inf))


def balance(df: pd.DataFrame, *, covariates: Sequence[str], arm: str = S.ARM, treated=S.TREATMENT,
            control=S.CONTROL, weights=None, threshold: float = 0.1, min_cell: int = MIN_CELL) -> pd.DataFrame:
    """Standardised mean differences of the covariates between arms, before and after weighting.

    ``smd = (mean_treated - mean_control) / sqrt((var_treated + var_control) / 2)`` with the
    denominator always from the unweighted data (Austin 2009), so that weighting changes only
    the numerator. Non-numeric covariates get one row per level (share of customers with it).
    Weighted means use ``weights`` normalised within each arm; rows whose weight is missing
    (trimmed ones, say) are left out of them. ``|smd| > threshold`` (0.1 by convention) flags
    a covariate as imbalanced, judged on the weighted SMD when there are weights. Identifier
    covariates are refused (`privacy.check_covariates`), and levels with fewer than ``min_cell``
    customers in the two arms are pooled or left out first (`privacy.pool_small_levels`), so no
    row of the table stands for fewer than ``min_cell`` customers.

    Parameters
    ----------
    df : DataFrame
        One row per customer.
    covariates : list of str
        Columns to compare.
    arm, treated, control :
        Arm column and the two values compared.
    weights : str, Series or array-like, optional
        Column name or one weight per row of ``df``, e.g. from `ipw_weights`.
    threshold : float
        Largest |SMD| counted as balanced.
    min_cell : int
        Smallest level shown, in customers.

    Returns
    -------
    DataFrame
        ``covariate`` (``col[level]`` for a level), ``mean_treated``, ``mean_control``,
        ``smd_unweighted``, ``smd_weighted`` (with weights), ``imbalanced``;
        ``attrs["small_cell_note"]`` says what was pooled ("" when nothing was).

    Example
    -------
    >>> df = pd.DataFrame({"arm": ["treatment", "treatment", "control", "control"], "age": [30.0, 40, 20, 30]})
    >>> balance(df, covariates=["age"])[["covariate", "smd_unweighted"]].round(3).values.tolist()
    [['age', 1.414]]
    """
    covariates = as_list(covariates)
    require_roles(df, arm=arm, covariate=covariates)
    check_covariates(df, covariates)
    kept, _ = _arm_rows(df, arm=arm, control=control, treated=treated)
    rows, note = pool_small_levels(kept[kept[arm].isin([treated, control])].dropna(subset=covariates), covariates,
                                   min_cell=min_cell)
    t = (rows[arm] == treated).to_numpy()
    X = _terms(rows, covariates, drop_first=False)
    sd = np.sqrt((X[t].var() + X[~t].var()) / 2)
    out = pd.DataFrame({"covariate": X.columns, "mean_treated": X[t].mean().to_numpy(),
                        "mean_control": X[~t].mean().to_numpy(),
                        "smd_unweighted": _smd(X[t].mean() - X[~t].mean(), sd)})
    if weights is not None:
        w = _aligned(df, weights, "weights").reindex(rows.index).fillna(0.0)
        weighted = [X[m].mul(w[m], axis=0).sum() / w[m].sum() for m in (t, ~t)]
        out["smd_weighted"] = _smd(weighted[0] - weighted[1], sd)
    out["imbalanced"] = out["smd_unweighted" if weights is None else "smd_weighted"].abs() > threshold
    out.attrs["small_cell_note"] = note
    return out


# ---- targeted campaigns: weighting estimators --------------------------------------------
def _weighting_rows(df: pd.DataFrame, ps, trim, *, outcome: str, arm: str, treated, control,
                    columns: Sequence[str] = (), min_cell: int = MIN_CELL,
                    ) -> tuple[pd.DataFrame, pd.Series, pd.Series, int, int, str]:
    """`_two_arms` with the propensity as a column, trimmed: rows, y, d, rows dropped, rows trimmed, pooling note."""
    e = _aligned(df, ps, "ps")
    outside = e.notna() & ~e.between(*trim) if trim else pd.Series(False, index=df.index)
    rows, y, d, dropped, note = _two_arms(df.assign(**{_PS: e.mask(outside)}), outcome=outcome, arm=arm,
                                          treated=treated, control=control, columns=[_PS, *columns], min_cell=min_cell)
    extreme = int((~rows[_PS].between(0, 1, inclusive="neither")).sum())
    if extreme:
        raise ValueError(f"{extreme:,} propensity scores are 0, 1 or outside [0, 1]: their weights are infinite; "
                         f"trim them (trim=(0.05, 0.95)) or fix the scores")
    return rows, y, d, dropped, int((outside & df[arm].isin([treated, control])).sum()), note


def _ess(w: pd.Series) -> float:
    return float(w.sum() ** 2 / (w**2).sum())


def ipw(df: pd.DataFrame, *, outcome: str, ps, arm: str = S.ARM, treated=S.TREATMENT, control=S.CONTROL,
        estimand: str = "ATE", trim: tuple[float, float] | None = (0.05, 0.95), confidence: float = 0.95) -> dict:
    """Inverse-probability-weighted effect of a targeted campaign (Hajek: weights normalised per arm).

    The estimate is the weighted mean outcome of the treated minus that of control, with
    `ipw_weights`. It is statsmodels WLS of the outcome on a treated indicator with those
    weights; its HC0 sandwich SE is the M-estimation SE that treats the propensity scores as
    known: ``se^2 = sum_t w^2 (y - mu_t)^2 / (sum_t w)^2 + sum_c w^2 (y - mu_c)^2 / (sum_c w)^2``.
    For the ATE that is conservative (estimating the scores lowers the true variance;
    Lunceford & Davidian 2004); for the ATT it can be either way. Rows with a score outside
    ``trim`` are left out, so the effect is that of the customers kept.

    Parameters
    ----------
    df : DataFrame
        One row per customer.
    outcome : str
        Numeric (or 0/1) outcome column.
    ps : str, Series or array-like
        Propensity column, or scores aligned to ``df`` (e.g. from `propensity`).
    arm, treated, control :
        Arm column and the two values compared.
    estimand : {"ATE", "ATT"}
        Effect over everyone kept, or over the treated kept.
    trim : (float, float) or None
        Lowest and highest score kept; None keeps all (scores must then be inside (0, 1)).
    confidence : float
        Level of the (normal) interval.

    Returns
    -------
    dict
        ``estimand``, ``estimate``, ``se``, ``lower``, ``upper``, ``t``, ``p``, ``mean_treated``,
        ``mean_control`` (weighted), ``n_treated``, ``n_control``, ``ess_treated``,
        ``ess_control`` (Kish effective sizes), ``trimmed``, ``dropped`` (includes ``trimmed``).

    Example
    -------
    >>> df = pd.DataFrame({"arm": ["treatment", "treatment", "control", "control"], "spend": [4.0, 6, 1, 3],
    ...                    "ps": [0.5, 0.25, 0.5, 0.75]})
    >>> ipw(df, outcome="spend", ps="ps")["estimate"]
    3.0
    """
    rows, y, d, dropped, trimmed, _ = _weighting_rows(df, ps, trim, outcome=outcome, arm=arm, treated=treated,
                                                      control=control)
    w = ipw_weights(rows[_PS], d == 1, estimand)
    means = [float(np.average(y[m], weights=w[m])) for m in (d == 1, d == 0)]
    return {"estimand": estimand, **_effect(y, _design(d), weights=w, cov_type="HC0", confidence=confidence),
            "mean_treated": means[0], "mean_control": means[1], **_counts(d), "ess_treated": _ess(w[d == 1]),
            "ess_control": _ess(w[d == 0]), "trimmed": trimmed, "dropped": dropped}


def aipw(df: pd.DataFrame, *, outcome: str, covariates: Sequence[str], arm: str = S.ARM, treated=S.TREATMENT,
         control=S.CONTROL, ps=None, estimand: str = "ATE", trim: tuple[float, float] | None = (0.05, 0.95),
         confidence: float = 0.95, min_cell: int = MIN_CELL) -> dict:
    """Augmented IPW (doubly robust) effect: right if either the propensity or the outcome model is.

    Outcome models are statsmodels OLS of the outcome on the covariates, one per arm, fitted on
    the rows kept and predicted for all of them (``m1``, ``m0``). For a 0/1 outcome this is a
    linear probability model: it keeps the estimator linear, and double robustness still
    protects the estimate when the propensity model is right. With ``e`` the score and ``d``
    the treated indicator (Robins, Rotnitzky & Zhao 1994; Glynn & Quinn 2010)::

        ATE:  phi = m1 - m0 + d (y - m1) / e - (1 - d) (y - m0) / (1 - e),  estimate = mean(phi)
        ATT:  a = d (y - m0) - (1 - d) e / (1 - e) (y - m0),  estimate = sum(a) / sum(d),
              phi = (a - estimate d) / mean(d) + estimate

    and ``se = sd(phi) / sqrt(n)`` (sd with n - 1), the empirical influence-function SE; the
    interval is normal. Without ``ps`` the score is `propensity` on the same covariates.
    Rows with a score outside ``trim`` are left out. Identifier covariates are refused
    (`privacy.check_covariates`); levels with fewer than ``min_cell`` customers are pooled or
    left out before the outcome models (`privacy.pool_small_levels`).

    Parameters
    ----------
    df : DataFrame
        One row per customer.
    outcome : str
        Numeric (or 0/1) outcome column.
    covariates : list of str
        Columns of the outcome models (and of the propensity model when ``ps`` is None).
    arm, treated, control :
        Arm column and the two values compared.
    ps : str, Series or array-like, optional
        Propensity column or scores aligned to ``df``.
    estimand : {"ATE", "ATT"}
    trim : (float, float) or None
        Lowest and highest score kept.
    confidence : float
        Level of the (normal) interval.

    Returns
    -------
    dict
        ``estimand``, ``estimate``, ``se``, ``lower``, ``upper``, ``t``, ``p``, ``n_treated``,
        ``n_control``, ``trimmed``, ``dropped`` (includes ``trimmed``), ``small_cell_note``.

    Example
    -------
    >>> df = pd.DataFrame({"arm": ["treatment", "control"] * 4, "x": [0.0, 0, 1, 1, 0, 0, 1, 1],
    ...                    "spend": [3.0, 1, 6, 4, 5, 1, 6, 4], "ps": 0.5})
    >>> aipw(df, outcome="spend", covariates=["x"], ps="ps")["estimate"]
    2.5
    """
    if estimand not in ("ATE", "ATT"):
        raise ValueError(f"estimand={estimand!r}: use 'ATE' (everyone) or 'ATT' (the treated)")
    covariates = as_list(covariates)
    require_roles(df, outcome=outcome, arm=arm, covariate=covariates)
    check_covariates(df, covariates)
    if ps is None:
        ps = propensity(df, covariates=covariates, arm=arm, treated=treated, control=control, min_cell=min_cell)
    rows, y, d, dropped, trimmed, note = _weighting_rows(df, ps, trim, outcome=outcome, arm=arm, treated=treated,
                                                         control=control, columns=covariates, min_cell=min_cell)
    X, e = add_constant(_terms(rows, covariates), has_constant="add"), rows[_PS]
    m1, m0 = (OLS(y[d == k], X[d == k]).fit().predict(X) for k in (1, 0))
    if estimand == "ATE":
        phi = m1 - m0 + d * (y - m1) / e - (1 - d) * (y - m0) / (1 - e)
    else:
        a = d * (y - m0) - (1 - d) * e / (1 - e) * (y - m0)
        estimate = a.sum() / d.sum()
        phi = (a - estimate * d) / d.mean() + estimate
    return {"estimand": estimand, **_normal(phi.mean(), phi.std(ddof=1) / np.sqrt(len(phi)), confidence),
            **_counts(d), "trimmed": trimmed, "dropped": dropped, "small_cell_note": note}

"""Segments the way service managers cut their customers, defined once on contract columns.

Value x satisfaction quadrants, relative service level by value, wallet share by satisfaction,
signup cohorts, plus the small-segment rule. These definitions depend only on `schema`, so the
synthetic generator plants its effects on exactly the segments the analyses read.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.data import schema as S

# derived columns that `add_segments` adds (when their inputs are present)
QUADRANT = "quadrant"
VALUE_BAND = "value_band"
SERVICE_BY_VALUE = "service_by_value"
WALLET_BY_SATISFACTION = "wallet_by_satisfaction"
COHORT = "cohort"
LOG2_VALUE = "log2_monthly_value"
BELOW_PARITY = "below_parity"
SEGMENTATIONS = (S.CONTRACT, S.CUSTOMER_TYPE, S.REGION, QUADRANT, SERVICE_BY_VALUE, WALLET_BY_SATISFACTION,
                 COHORT)

QUADRANTS = ("consolidate", "win_back", "maintain", "let_go")
POOLED = "other (pooled)"

# The bands, defined once: `add_segments` cuts with them in pandas and the DuckDB source renders them to SQL.
VALUE_BANDS = ("high value", "low value")  # above the median monthly value, or not
SATISFACTION_BANDS = ("high satisfaction", "low satisfaction")  # at or above the threshold, or not
SERVICE_CUTS = (0.9, 1.1)  # relative service level: behind below 0.9, at par to 1.1, ahead from 1.1
SERVICE_BANDS = ("behind competitor", "at par", "ahead of competitor")
WALLET_CUTS = (1 / 3, 2 / 3)
WALLET_BANDS = ("low wallet", "mid wallet", "high wallet")


def _as_float_series(x, index=None) -> pd.Series:
    if isinstance(x, pd.Series):
        return x.astype("float64")
    return pd.Series(np.asarray(x, dtype=float), index=index)


def value_satisfaction_quadrant(monthly_value, satisfaction, *, value_threshold: float | None = None,
                                satisfaction_threshold: float = 7.0) -> pd.Series:
    """Label each customer with a value x satisfaction quadrant.

    High value is ``monthly_value > value_threshold``; high satisfaction is
    ``satisfaction >= satisfaction_threshold``. consolidate = high value and high
    satisfaction, win_back = high value and low satisfaction, maintain = low value and high
    satisfaction, let_go = low value and low satisfaction.

    Parameters
    ----------
    monthly_value, satisfaction : array-like or Series of equal length (a Series' index is
        kept).
    value_threshold : float, optional
        Defaults to the median of ``monthly_value``.
    satisfaction_threshold : float
        Lowest score that counts as high satisfaction.

    Returns
    -------
    pd.Series
        Categorical with categories `QUADRANTS`, named ``quadrant``; missing where either
        input is missing.

    Example
    -------
    >>> list(value_satisfaction_quadrant([10, 50], [8, 3], value_threshold=20))
    ['maintain', 'win_back']
    """
    value = _as_float_series(monthly_value)
    sat = _as_float_series(satisfaction, index=value.index)
    threshold = value.median() if value_threshold is None else value_threshold
    high_v = (value > threshold).to_numpy()
    high_s = (sat >= satisfaction_threshold).to_numpy()
    code = np.select([high_v & high_s, high_v & ~high_s, ~high_v & high_s], [0, 1, 2], 3)
    code[(value.isna() | sat.isna()).to_numpy()] = -1
    return pd.Series(pd.Categorical.from_codes(code, categories=list(QUADRANTS)), index=value.index,
                     name=QUADRANT)


def _bands(values: pd.Series, cuts: tuple[float, ...], labels: tuple[str, ...]) -> pd.Series:
    return pd.cut(values, [-np.inf, *cuts, np.inf], labels=list(labels), right=False)


def add_segments(customers: pd.DataFrame, *, satisfaction_threshold: float = 7.0,
                 value_threshold: float | None = None, service_cuts: tuple[float, float] = SERVICE_CUTS,
                 wallet_cuts: tuple[float, float] = WALLET_CUTS, cohort_freq: str = "Q") -> pd.DataFrame:
    """Add the segment columns (and two derived covariates) that the data allow.

    - ``quadrant``: value x satisfaction (`value_satisfaction_quadrant`);
    - ``value_band``: high / low value (above the median monthly value, or ``value_threshold``);
    - ``service_by_value``: relative service level band (below ``service_cuts[0]``: behind
      the leading competitor; at par; ahead) crossed with the value band;
    - ``wallet_by_satisfaction``: wallet share band (low / mid / high) crossed with high / low
      satisfaction;
    - ``cohort``: signup period (``cohort_freq`` "Q" quarters or "Y" years);
    - covariates ``log2_monthly_value`` (log2 of value / median value, 0 for value 0 is not
      defined: such rows get NaN) and ``below_parity`` (relative service level < 1).

    Columns whose inputs are missing from the data are not added; segments with a missing
    input are missing for that customer.

    Example
    -------
    >>> c = pd.DataFrame({"monthly_value": [10.0, 50.0], "satisfaction": [8.0, 3.0]})
    >>> add_segments(c)["quadrant"].tolist()
    ['maintain', 'win_back']
    """
    out = customers.copy()
    has = lambda col: col in out and out[col].notna().any()  # noqa: E731
    if has(S.MONTHLY_VALUE):
        value = out[S.MONTHLY_VALUE].astype(float)
        threshold = value.median() if value_threshold is None else value_threshold
        band = pd.Series(np.where(value > threshold, *VALUE_BANDS), index=out.index)
        out[VALUE_BAND] = pd.Categorical(band.where(value.notna()), categories=list(VALUE_BANDS))
        out[LOG2_VALUE] = np.log2(value.where(value > 0) / value.median())
    high_sat = out[S.SATISFACTION] >= satisfaction_threshold if has(S.SATISFACTION) else None
    if high_sat is not None and has(S.MONTHLY_VALUE):
        out[QUADRANT] = value_satisfaction_quadrant(out[S.MONTHLY_VALUE], out[S.SATISFACTION],
                                                    value_threshold=value_threshold,
                                                    satisfaction_threshold=satisfaction_threshold)
    if has(S.RELATIVE_SERVICE) and has(S.MONTHLY_VALUE):
        band = _bands(out[S.RELATIVE_SERVICE], service_cuts, SERVICE_BANDS)
        out[SERVICE_BY_VALUE] = _cross(band, out[VALUE_BAND])
        out[BELOW_PARITY] = (out[S.RELATIVE_SERVICE] < 1).astype(float).where(out[S.RELATIVE_SERVICE].notna())
    if has(S.WALLET_SHARE) and high_sat is not None:
        band = _bands(out[S.WALLET_SHARE], wallet_cuts, WALLET_BANDS)
        sat = pd.Series(np.where(high_sat, *SATISFACTION_BANDS), index=out.index)
        out[WALLET_BY_SATISFACTION] = _cross(band, sat.where(out[S.SATISFACTION].notna()))
    if has(S.SIGNUP_DATE):
        out[COHORT] = out[S.SIGNUP_DATE].dt.to_period(cohort_freq).astype(str)
    return out


def _cross(a: pd.Series, b: pd.Series) -> pd.Series:
    """"a, b" labels, missing when either is missing, as an ordered categorical."""
    label = a.astype("string") + ", " + b.astype("string")
    levels = [f"{x}, {y}" for x in pd.Series(a).cat.categories for y in pd.Series(b).astype("category").cat.categories]
    return pd.Series(pd.Categorical(label, categories=[lv for lv in levels if lv in set(label.dropna())]),
                     index=a.index)


def available_segmentations(customers: pd.DataFrame) -> list[str]:
    """The segmentations of `SEGMENTATIONS` that the (segmented) customers table can show."""
    return [c for c in SEGMENTATIONS if c in customers and customers[c].notna().any()]


def pool_small(customers: pd.DataFrame, segment: str, *, min_size: int,
               weights: str | None = None) -> tuple[pd.DataFrame, str]:
    """Pool segments smaller than ``min_size`` customers into one, or leave them out.

    Small segments are merged into "other (pooled)"; when the pool itself is still smaller than
    ``min_size`` its customers are left out. Customers with a missing segment are left out.
    ``weights`` names a column counting the customers behind each row, for collapsed rows
    (`helpers.engine.scale`); sizes are then sums of it.

    Returns
    -------
    (DataFrame, str)
        The customers to analyse, with ``segment`` as a string column, and a sentence that says
        what was pooled or left out ("" when nothing was).
    """
    if segment not in customers:
        raise KeyError(f"customers has no column {segment!r} to segment by (segmentations available: "
                       f"{', '.join(available_segmentations(customers)) or 'none'})")
    seg = customers[segment].astype("string")
    w = pd.Series(1, index=customers.index) if weights is None else customers[weights]
    sizes = w.groupby(seg).sum()
    small = sorted(sizes[sizes < min_size].index)
    notes = []
    if seg.isna().any():
        notes.append(f"{int(w[seg.isna()].sum()):,} customers with no {segment} are left out")
    if small:
        pooled = int(sizes[small].sum())
        if pooled >= min_size:
            seg = seg.where(~seg.isin(small), POOLED)
            notes.append(f"segments under {min_size} customers ({', '.join(small)}) are pooled as '{POOLED}'")
        else:
            seg = seg.where(~seg.isin(small))
            notes.append(f"segments under {min_size} customers ({', '.join(small)}; {pooled} customers) are left out")
    out = customers.assign(**{segment: seg}).loc[seg.notna()]
    text = "; ".join(notes)
    return out, f"{text[:1].upper()}{text[1:]}." if notes else ""

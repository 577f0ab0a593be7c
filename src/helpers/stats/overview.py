"""What is in a data set: table sizes, churn rates, tenure, revenue concentration, contact mix.

Descriptive statistics for ``notebooks/00_data_overview.ipynb``; each returns a tidy frame or
a small dict of estimate and interval.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.data import schema as S
from helpers.data.io import Dataset
from helpers.stats.intervals import wilson


def table_sizes(ds: Dataset) -> pd.DataFrame:
    """One row per table: rows, columns, and the share of missing cells."""
    rows = [{"table": name, "rows": len(df), "columns": df.shape[1],
             "missing_cells": float(df.isna().to_numpy().mean()) if df.size else 0.0}
            for name, df in ds.tables.items()]
    return pd.DataFrame(rows)


def churn_rate(customers: pd.DataFrame, *, by: str | None = None, event: str = S.CHURNED,
               confidence: float = 0.95) -> pd.DataFrame:
    """Share of customers who churned, with a Wilson interval, overall or per group.

    This is the share churned by the end of each customer's observation, not a rate per
    month: customers observed for different lengths of time are counted alike (the survival
    notebook handles time).

    Parameters
    ----------
    customers : DataFrame
        Validated customers table.
    by : str, optional
        Column to group by; overall when None.
    confidence : float
        Confidence level of the Wilson score interval.

    Returns
    -------
    DataFrame
        Columns ``group`` (when ``by``), ``customers``, ``churned``, ``rate``, ``lower``, ``upper``.

    Example
    -------
    >>> df = pd.DataFrame({"churned": [True, False, False, True]})
    >>> churn_rate(df)["rate"].item()
    0.5
    """
    groups = customers.groupby(by, observed=True)[event] if by else [("all", customers[event])]
    rows = []
    for key, values in groups:
        n, k = len(values), int(values.sum())
        low, high = wilson(k, n, confidence)
        rows.append({"group": key, "customers": n, "churned": k, "rate": k / n, "lower": low, "upper": high})
    out = pd.DataFrame(rows)
    return out.rename(columns={"group": by}) if by else out.drop(columns="group")


def customer_revenue(ds: Dataset) -> pd.Series | None:
    """Total revenue per customer: the revenue table's sum, else monthly_value x tenure_months.

    None when the data set has neither (the notebook then skips the concentration section).
    """
    if ds.has(S.REVENUE):
        return ds[S.REVENUE].groupby(S.CUSTOMER_ID, observed=True)[S.REVENUE_AMOUNT].sum()
    c = ds.customers
    if not ds.has(S.CUSTOMERS, S.MONTHLY_VALUE):
        return None
    return (c[S.MONTHLY_VALUE] * c[S.TENURE]).set_axis(c[S.CUSTOMER_ID]).dropna()


def pareto_curve(values: pd.Series, points: int = 101) -> pd.DataFrame:
    """Cumulative share of revenue against the share of customers, largest first.

    Returns ``customer_share`` (0..1) and ``revenue_share`` (0..1) at ``points`` evenly spaced
    customer shares, for the Pareto (80/20) plot.
    """
    v = np.sort(np.asarray(values, dtype=float))[::-1]
    cum = np.concatenate([[0.0], np.cumsum(v) / v.sum()])
    x = np.linspace(0, 1, points)
    return pd.DataFrame({"customer_share": x, "revenue_share": np.interp(x * len(v), np.arange(len(v) + 1), cum)})


def top_share(values, top: float = 0.2) -> float:
    """Share of the total carried by the top ``top`` fraction of customers (80/20 reads 0.8 at 0.2)."""
    v = np.sort(np.asarray(values, dtype=float))[::-1]
    k = int(round(top * len(v)))
    return float(v[:k].sum() / v.sum())


def top_share_ci(values, top: float = 0.2, *, confidence: float = 0.95, reps: int = 400,
                 seed: int = 0) -> dict:
    """`top_share` with a percentile bootstrap interval over customers.

    Example
    -------
    >>> r = top_share_ci(np.arange(1, 101), top=0.2, reps=50)
    >>> round(r["estimate"], 3)
    0.358
    """
    v = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    draws = np.sort(rng.choice(v, size=(reps, len(v)), replace=True), axis=1)[:, ::-1]
    k = int(round(top * len(v)))
    boot = draws[:, :k].sum(axis=1) / draws.sum(axis=1)
    alpha = 1 - confidence
    low, high = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    est = top_share(v, top)
    return {"estimate": est, "lower": float(min(low, est)), "upper": float(max(high, est))}


def contact_mix(contacts: pd.DataFrame) -> pd.DataFrame:
    """Contacts by kind and channel: count and share of all contacts, tidy."""
    by = [S.KIND] + ([S.CHANNEL] if S.CHANNEL in contacts else [])
    out = contacts.groupby(by, observed=True).size().rename("contacts").reset_index()
    out["share"] = out["contacts"] / out["contacts"].sum()
    return out

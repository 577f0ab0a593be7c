"""The retention-effort analysis, step by step, for ``notebooks/02_retention_effort_revenue.ipynb``.

`campaign_frame` turns the data contract's tables into one row per customer assigned to a
campaign: arm, covariates at assignment, pre-period revenue, and outcomes over a window after
assignment (revenue, churn, time to churn, contacts). `read_experiment` reads the simpler
case, a one-table experiment. Estimation lives in `effects` and `economics`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from . import schema as S
from .io import Dataset
from .segments import add_segments

# columns of a campaign frame (outcomes and covariates at assignment)
REVENUE_WINDOW = "revenue_window"
PRE_REVENUE = "pre_revenue"
CHURNED_WINDOW = "churned_window"
MONTHS_TO_CHURN = "months_to_churn"
CONTACTS_WINDOW = "contacts_window"
TENURE_AT_ASSIGNMENT = "tenure_at_assignment"
RECENT_COMPLAINT = "recent_complaint"
DESIGNS = ("auto", "randomized", "targeted")


def _month_start(dates: pd.Series) -> pd.Series:
    return dates.dt.to_period("M").dt.to_timestamp()


def _window_sum(revenue: pd.DataFrame, frame: pd.DataFrame, start: pd.Series, months: int) -> pd.Series:
    """Revenue per customer over ``months`` calendar months from ``start`` (a month start)."""
    r = revenue.merge(frame[[S.CUSTOMER_ID]].assign(_start=start.to_numpy()), on=S.CUSTOMER_ID)
    end = r["_start"] + pd.DateOffset(months=months) if months > 0 else r["_start"]
    lo, hi = (r["_start"], end) if months > 0 else (r["_start"] + pd.DateOffset(months=months), r["_start"])
    inside = (r[S.MONTH] >= lo) & (r[S.MONTH] < hi)
    return r.loc[inside].groupby(S.CUSTOMER_ID)[S.REVENUE_AMOUNT].sum()


def recent_complaint(contacts: pd.DataFrame, customers: pd.Series, when: pd.Series, *, days: int = 90) -> pd.Series:
    """True when a customer's complaint was open at ``when``, or failed and was resolved in the ``days`` before.

    ``customers`` and ``when`` are aligned Series (customer id, date); the result has their index.
    """
    c = contacts.loc[contacts[S.KIND] == S.COMPLAINT]
    if S.REPEAT_OF in c:
        c = c.loc[c[S.REPEAT_OF].isna()]
    keys = pd.DataFrame({S.CUSTOMER_ID: customers.to_numpy(), "_when": when.to_numpy(), "_row": customers.index})
    m = c.merge(keys, on=S.CUSTOMER_ID)
    resolved = m[S.RESOLVED_AT] if S.RESOLVED_AT in m else pd.Series(pd.NaT, index=m.index)
    open_then = (m[S.OPENED_AT] <= m["_when"]) & (resolved.isna() | (resolved > m["_when"]))
    failed = (m[S.RECOVERED] == False) if S.RECOVERED in m else pd.Series(False, index=m.index)  # noqa: E712
    failed_recently = failed.fillna(False).astype(bool) & (resolved <= m["_when"]) & \
        (resolved > m["_when"] - pd.Timedelta(days=days))
    hit = m.loc[open_then | failed_recently, "_row"].unique()
    return pd.Series(customers.index.isin(hit), index=customers.index)


def campaign_frame(ds: Dataset, campaign_id: str, *, window_months: int = 12, pre_months: int = 6,
                   satisfaction_threshold: float = 7.0) -> pd.DataFrame:
    """One row per customer assigned to a campaign: arm, covariates at assignment and outcomes.

    Outcomes over ``window_months`` calendar months from assignment: ``revenue_window``
    (revenue from the assignment month on, the revenue table's months), ``churned_window``
    (churned before the window ends), ``months_to_churn`` with ``churned_window`` as its event
    (time from assignment to churn, censored at the window's end or the end of observation),
    ``contacts_window`` (contacts opened in the window). Pre-treatment: ``pre_revenue``
    (revenue in the ``pre_months`` months before the assignment month), ``tenure_at_assignment``,
    ``recent_complaint`` (a complaint open at assignment, or failed and resolved in the 90 days
    before), and the customer's segments (quadrant, contract, customer type, ...).

    Raises
    ------
    ValueError
        When the data set has no campaigns table or no such campaign (the message lists those
        it has).
    """
    if not ds.has(S.CAMPAIGNS):
        raise ValueError(f"data set {ds.name!r} has no campaigns table: give a one-table experiment "
                         "(EXPERIMENT_FILE) or a data set with campaigns")
    campaigns = ds[S.CAMPAIGNS]
    rows = campaigns.loc[campaigns[S.CAMPAIGN_ID] == campaign_id]
    if rows.empty:
        known = ", ".join(sorted(campaigns[S.CAMPAIGN_ID].unique()))
        raise ValueError(f"campaigns.campaign_id has no campaign {campaign_id!r}: the data set has {known}")
    customers = add_segments(ds.customers, satisfaction_threshold=satisfaction_threshold)
    frame = rows.merge(customers, on=S.CUSTOMER_ID, how="left").reset_index(drop=True)
    assigned = frame[S.ASSIGNED_AT]
    frame[TENURE_AT_ASSIGNMENT] = (assigned - frame[S.SIGNUP_DATE]).dt.days / S.DAYS_PER_MONTH
    window_end = assigned + pd.DateOffset(months=window_months)
    # end_date is the first day gone, so a churn during the window's last day has end_date == window_end
    churn_in = frame[S.CHURNED].astype(bool) & (frame[S.END_DATE] <= window_end)
    frame[CHURNED_WINDOW] = churn_in
    stop = frame[S.END_DATE].where(churn_in | (frame[S.END_DATE] < window_end), window_end)
    frame[MONTHS_TO_CHURN] = ((stop - assigned).dt.days / S.DAYS_PER_MONTH).clip(lower=0)
    if ds.has(S.REVENUE):
        month = _month_start(assigned)
        for column, months in ((REVENUE_WINDOW, window_months), (PRE_REVENUE, -pre_months)):
            sums = _window_sum(ds[S.REVENUE], frame, month, months)
            frame[column] = frame[S.CUSTOMER_ID].map(sums).fillna(0.0).astype(float)
    if ds.has(S.CONTACTS):
        contacts = ds[S.CONTACTS]
        frame[RECENT_COMPLAINT] = recent_complaint(contacts, frame[S.CUSTOMER_ID], assigned).astype(float)
        c = contacts[[S.CUSTOMER_ID, S.OPENED_AT]].merge(
            frame[[S.CUSTOMER_ID]].assign(_a=assigned.to_numpy(), _e=window_end.to_numpy()), on=S.CUSTOMER_ID)
        counts = c.loc[(c[S.OPENED_AT] >= c["_a"]) & (c[S.OPENED_AT] < c["_e"])].groupby(S.CUSTOMER_ID).size()
        frame[CONTACTS_WINDOW] = frame[S.CUSTOMER_ID].map(counts).fillna(0).astype(float)
    return frame


def campaign_design(frame: pd.DataFrame, design: str = "auto") -> str:
    """The design to analyse: the campaign's recorded assignment, checked against the parameter.

    ``design="auto"`` takes the recorded one; a stated design that contradicts the record is
    refused, since a targeted campaign analysed as randomized gives a biased answer.
    """
    if design not in DESIGNS:
        raise ValueError(f"design {design!r}: choose one of {', '.join(DESIGNS)}")
    recorded = frame[S.ASSIGNMENT].astype(str).unique() if S.ASSIGNMENT in frame else np.array([])
    if len(recorded) > 1:
        raise ValueError(f"campaigns.assignment mixes {', '.join(recorded)} within one campaign: split it")
    if design == "auto":
        if not len(recorded):
            raise ValueError("the data do not record how customers were assigned: set DESIGN to randomized or "
                             "targeted")
        return str(recorded[0])
    if len(recorded) and recorded[0] != design:
        raise ValueError(f"DESIGN = {design!r}, but the campaign records assignment {recorded[0]!r}: a "
                         f"{recorded[0]} campaign analysed as {design} gives a wrong answer; use DESIGN = 'auto'")
    return design


def read_experiment(path: str | Path) -> pd.DataFrame:
    """A one-table experiment (one row per customer): CSV, TSV or parquet, with a clear error when unreadable."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"experiment file not found: {path}")
    readers = {".csv": pd.read_csv, ".tsv": lambda p: pd.read_csv(p, sep="\t"), ".parquet": pd.read_parquet}
    if path.suffix.lower() not in readers:
        raise ValueError(f"{path.name}: give a .csv, .tsv or .parquet file")
    df = readers[path.suffix.lower()](path)
    if df.empty:
        raise ValueError(f"{path.name} has no rows")
    return df


def require_columns(df: pd.DataFrame, columns, *, table: str, parameter: str = "") -> None:
    """A clear error naming the table, the missing columns and the parameter that asked for them."""
    missing = [c for c in columns if c and c not in df]
    if missing:
        asked = f" (asked for by {parameter})" if parameter else ""
        raise ValueError(f"{table} has no column {', '.join(map(repr, missing))}{asked}; its columns are "
                         f"{', '.join(map(str, df.columns))}")

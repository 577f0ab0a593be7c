"""The retention-effort analysis, step by step, for ``notebooks/02_retention_effort_revenue.ipynb``.

`campaign_frame` turns the data contract's tables into one row per customer assigned to a
campaign: arm, covariates at assignment, pre-period revenue, and outcomes over a window after
assignment (revenue, churn, time to churn, contacts). The simpler case, a one-table
experiment, is read by `io.read_table`. Estimation lives in `effects` and `economics`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests

from helpers.data import schema as S
from helpers.data.io import Dataset, load_dataset, read_table
from helpers.data.privacy import MIN_CELL
from helpers.data.segments import add_segments
from helpers.stats import effects

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



# ---- effects, diagnostics and value: one call per notebook section ----------------------------

def arms_against(frame: pd.DataFrame, arm: str, control) -> list:
    """The non-control arms, in order; a clear error when the control arm is absent."""
    levels = [a for a in pd.unique(frame[arm].dropna())]
    if control not in levels:
        raise ValueError(f"the arm column {arm!r} has no control value {control!r}; its values are "
                         f"{', '.join(map(str, levels))}")
    return sorted((a for a in levels if a != control), key=str)


def _row(arm_value, method: str, result: dict) -> dict:
    keep = ("estimate", "se", "lower", "upper", "p", "n_treated", "n_control")
    return {"arm": arm_value, "method": method, **{k: result.get(k, np.nan) for k in keep},
            "variance_reduction": result.get("variance_reduction", np.nan)}


def _notes(*notes: str) -> str:
    """The distinct non-empty small-cell notes, in order, as one text."""
    return " ".join(dict.fromkeys(n for n in notes if n))


def effect_table(frame: pd.DataFrame, *, outcome: str, design: str, arm: str, control, covariates=(),
                 pre: str | None = None, trim=(0.05, 0.95), confidence: float = 0.95,
                 min_cell: int = MIN_CELL) -> pd.DataFrame:
    """Effect of each arm against control on one outcome, by every method the design allows.

    Randomized: difference in means, CUPED on the pre-period outcome (``pre``), ANCOVA on the
    covariates. Targeted: the naive difference (biased: shown so the reader sees the bias),
    IPW and AIPW (ATE and, for AIPW, ATT) with the propensity fitted on the covariates and the
    trimming rule applied. p-values are Holm-adjusted across arms within each method. Every
    model with covariates refuses identifiers and pools levels with fewer than ``min_cell``
    customers first (`privacy`); ``attrs["small_cell_note"]`` says what was pooled.
    """
    rows, notes = [], []
    for a in arms_against(frame, arm, control):
        kw = dict(outcome=outcome, arm=arm, treated=a, control=control, confidence=confidence)
        if design == "randomized":
            rows.append(_row(a, "difference in means", effects.difference_in_means(frame, **kw)))
            if pre:
                rows.append(_row(a, "CUPED (pre-period outcome)", effects.cuped(frame, pre=pre, **kw)))
            if covariates:
                r = effects.regression_adjusted(frame, covariates=covariates, min_cell=min_cell, **kw)
                rows.append(_row(a, "ANCOVA (covariates)", r))
                notes.append(r["small_cell_note"])
        else:
            rows.append(_row(a, "naive difference (biased)", effects.difference_in_means(frame, **kw)))
            ps = effects.propensity(frame, covariates=covariates, arm=arm, treated=a, control=control,
                                    min_cell=min_cell)
            notes.append(ps.attrs.get("small_cell_note", ""))
            rows.append(_row(a, "IPW (ATE)", effects.ipw(frame, ps=ps, trim=trim, **kw)))
            for estimand in ("ATE", "ATT"):
                r = effects.aipw(frame, covariates=covariates, ps=ps, trim=trim, estimand=estimand,
                                 min_cell=min_cell, **kw)
                rows.append(_row(a, f"AIPW ({estimand})", r))
                notes.append(r["small_cell_note"])
    out = pd.DataFrame(rows)
    out["p_adjusted"] = out.groupby("method")["p"].transform(lambda p: multipletests(p, method="holm")[1])
    out.attrs["small_cell_note"] = _notes(*notes)
    return out


def headline(table: pd.DataFrame, design: str) -> pd.DataFrame:
    """The rows to report: the most precise unbiased method of the design, per arm."""
    order = (["CUPED (pre-period outcome)", "ANCOVA (covariates)", "difference in means"] if design == "randomized"
             else ["AIPW (ATE)"])
    for method in order:
        rows = table.loc[table["method"] == method]
        if len(rows):
            return rows
    return table.iloc[0:0]


def targeted_diagnostics(frame: pd.DataFrame, *, arm: str, treated, control, covariates, trim=(0.05, 0.95),
                         min_cell: int = MIN_CELL) -> dict:
    """Propensity scores, their overlap and the covariate balance before and after weighting.

    Levels with fewer than ``min_cell`` customers are pooled or left out of the propensity model
    and of the balance table (`privacy.pool_small_levels`); ``small_cell_note`` says how many.
    """
    ps = effects.propensity(frame, covariates=covariates, arm=arm, treated=treated, control=control,
                            min_cell=min_cell)
    in_arms = frame[arm].isin([treated, control]) & ps.notna()
    is_treated = frame.loc[in_arms, arm] == treated
    weights = effects.ipw_weights(ps[in_arms], is_treated, "ATE")
    kept = ps[in_arms].between(*trim) if trim else pd.Series(True, index=weights.index)
    table = effects.balance(frame.loc[in_arms & kept.reindex(frame.index, fill_value=False)], covariates=covariates,
                            arm=arm, treated=treated, control=control, weights=weights[kept], min_cell=min_cell)
    return {"ps": ps, "overlap": effects.overlap_summary(ps[in_arms], is_treated, trim=trim), "balance": table,
            "small_cell_note": _notes(ps.attrs.get("small_cell_note", ""), table.attrs["small_cell_note"])}


def segment_table(frame: pd.DataFrame, *, outcome: str, segments, design: str, arm: str, treated, control,
                  covariates=(), min_per_arm: int = 30, trim=(0.05, 0.95), confidence: float = 0.95,
                  min_cell: int = MIN_CELL) -> pd.DataFrame:
    """Effects within segments, Holm-adjusted within each segmentation, with a verdict per segment.

    Randomized: difference in means per segment. Targeted: AIPW per segment (segments too small
    for a propensity model are "too small to tell"). Segments with fewer than ``min_cell``
    customers in the two arms are pooled or left out first (`privacy.pool_small_levels`);
    ``attrs["small_cell_note"]`` says how many.
    """
    parts, notes = [], []
    for by in [s for s in segments if s in frame and frame[s].notna().any()]:
        kw = {} if design == "randomized" else dict(estimator=effects.aipw, trim=trim,
                                                    covariates=[c for c in covariates if c != by])
        t = effects.segment_effects(frame, outcome=outcome, by=by, arm=arm, treated=treated, control=control,
                                    min_per_arm=min_per_arm, confidence=confidence, min_cell=min_cell, **kw)
        parts.append(t.rename(columns={by: "segment"}).assign(segmentation=by))
        notes.append(t.attrs["small_cell_note"])
    if not parts:
        return pd.DataFrame()
    out = pd.concat(parts, ignore_index=True)
    out = out[["segmentation", "segment", *[c for c in out if c not in ("segmentation", "segment")]]]
    out.attrs["small_cell_note"] = _notes(*notes)
    return out


def value_from_effect(effect: pd.Series | dict, *, margin_rate: float, cost_per_action: float) -> dict:
    """Incremental value, ROI and break-even cost from a revenue effect over the window (delta method).

    Incremental value = margin_rate x revenue effect per treated customer; it is linear in the
    effect, so its interval is the effect's interval times the margin rate, and the ROI's is
    that interval minus the cost, over the cost.
    """
    value = {k: margin_rate * float(effect[k]) for k in ("estimate", "lower", "upper")}
    out = {"incremental_value": value["estimate"], "incremental_value_lower": value["lower"],
           "incremental_value_upper": value["upper"], "cost_per_action": cost_per_action,
           "break_even_cost": value["estimate"], "net_value": value["estimate"] - cost_per_action}
    if cost_per_action > 0:
        for name, v in (("roi", value["estimate"]), ("roi_lower", value["lower"]), ("roi_upper", value["upper"])):
            out[name] = (v - cost_per_action) / cost_per_action
    return out


def load_experiment(*, dataset: str, campaign: str, experiment_file: str = "", design: str = "auto",
                    window_months: int = 12, pre_months: int = 6, satisfaction_threshold: float = 7.0,
                    ds: Dataset | None = None):
    """The experiment to analyse: a campaign of a data set, or a one-table experiment file.

    Returns ``(frame, design, ds, source, table)``: one row per customer, the checked design,
    the data set (None for a one-table experiment), a sentence saying where the rows came from,
    and the name of the rows for messages (``one-table experiment email.csv``, ``campaign
    RCT-2024-07 of data set 'synthetic'``), e.g. `helpers.data.validate.require_columns`'s table.
    ``ds``: the data set already opened (e.g. the sample of `helpers.engine.scale.open_data`);
    ``dataset`` is loaded when it is None.
    """
    if experiment_file:
        frame = read_table(experiment_file)
        table = f"one-table experiment {Path(experiment_file).name}"
        return frame, campaign_design(frame, design), None, f"{table}: {len(frame):,} rows", table
    ds = load_dataset(dataset) if ds is None else ds
    frame = campaign_frame(ds, campaign, window_months=window_months, pre_months=pre_months,
                           satisfaction_threshold=satisfaction_threshold)
    design = campaign_design(frame, design)
    table = f"campaign {campaign} of data set {ds.name!r}"
    source = (f"{table}: {len(frame):,} customers assigned on "
              f"{frame[S.ASSIGNED_AT].min():%Y-%m-%d}, outcomes over the {window_months} months after")
    return frame, design, ds, source, table


def arm_counts(frame: pd.DataFrame, *, arm: str, cost: str = S.COST) -> pd.DataFrame:
    """Customers per arm, and the mean cost per customer where the data record it."""
    out = frame.groupby(arm, observed=True).size().rename("customers").to_frame()
    if cost in frame:
        out["mean_cost"] = frame.groupby(arm, observed=True)[cost].mean()
    return out.reset_index()

"""Complaints: service-centre KPIs, complaint states over a customer's life, and leakage checks.

Four parts, each a handful of plain functions over the contract's tables:

1. KPIs as monthly trends with intervals (`complaint_rate`, `fcr_rate`, `repeat_rate`,
   `resolution`, `time_to_resolve`, `recovery_mix`, `complaints_to_compliments`) and one
   headline row per KPI (`kpi_summary`). Pass ``freq=None`` for one overall row.
2. The complaint state of each customer over tenure -- none / open / recovered / failed -- as
   (start, stop] episodes (`complaint_episodes`) for a time-varying Cox model
   (`complaint_state_model`), read out in words by `hazard_reading`.
3. `leakage_check` / `leakage_warnings`: columns that almost determine the outcome, to look at
   before any model.
4. `flag_comparison`: the simple-data version (one row per customer with a complained flag):
   adjusted odds ratios (statsmodels Logit) and hazard ratios (Cox).

Only *original* complaints count: rows of kind ``complaint`` whose ``repeat_of`` is missing.
Repeat contacts (``repeat_of`` set) only feed `repeat_rate`. Without a ``repeat_of``
column every complaint is original.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from lifelines import CoxTimeVaryingFitter
from statsmodels.discrete.discrete_model import Logit
from statsmodels.stats.rates import confint_poisson
from statsmodels.tools.tools import add_constant

from helpers.data import schema as S
from helpers.data.privacy import MIN_CELL, POOLED, check_covariates, pool_small_levels
from helpers.stats import survival
from helpers.stats.design import as_list, encode
from helpers.stats.intervals import wilson
from helpers.stats.survival import START, STOP
from helpers.tables import digits_apart

STATE = "state"  # episode column: the complaint state
STATES = ("none", "open", "recovered", "failed")  # reference level first
STATE_TERMS = tuple(f"complaint[{s}]" for s in STATES[1:])  # model terms, as the generator's truth names them
DAYS_TO_RESOLVE, RESOLVED = "days_to_resolve", "resolved"  # time-to-resolve columns
VALUE, LOWER, UPPER = "value", "lower", "upper"


# ---- shared pieces -------------------------------------------------------------------------
def _require(df: pd.DataFrame, table: str, columns: Sequence[str], why: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{table} has no column {', '.join(map(repr, missing))}: {why} needs it "
                         f"(columns present: {', '.join(map(str, df.columns))})")


def _originals(contacts: pd.DataFrame, need: Sequence[str], why: str, *, kind: str = S.KIND,
               repeat_of: str = S.REPEAT_OF) -> pd.DataFrame:
    """Original complaints (kind complaint, repeat_of missing); ValueError when there are none."""
    _require(contacts, "contacts", [kind, *need], why)
    complaints = contacts[contacts[kind] == S.COMPLAINT]
    if repeat_of in complaints:
        complaints = complaints[complaints[repeat_of].isna()]
    if complaints.empty:
        raise ValueError(f"contacts has no complaints (no row with {kind} == {S.COMPLAINT!r} and {repeat_of} "
                         f"missing): {why} needs at least one")
    return complaints


def _period(dates: pd.Series, freq: str | None) -> pd.Series:
    """First day of each date's period; one constant key when ``freq`` is None (overall)."""
    if freq is None:
        return pd.Series(pd.Timestamp(0), index=dates.index)
    return dates.dt.to_period(freq).dt.to_timestamp()


def _tidy(out: pd.DataFrame, freq: str | None) -> pd.DataFrame:
    out = out.rename_axis(S.MONTH).reset_index()
    return out.drop(columns=S.MONTH) if freq is None else out


def _share_trend(success: pd.Series, when: pd.Series, *, freq: str | None, confidence: float,
                 total: str, hits: str) -> pd.DataFrame:
    """Share of True in ``success`` per period of ``when``, Wilson interval: total, hits, value, ..."""
    g = success.astype(bool).groupby(_period(when, freq))
    n, k = g.size(), g.sum()
    low, high = wilson(k, n, confidence)
    out = pd.DataFrame({total: n, hits: k, VALUE: k / n, LOWER: low, UPPER: high})
    return _tidy(out, freq)


# ---- 1. KPIs ---------------------------------------------------------------------------------
def complaint_rate(customers: pd.DataFrame, contacts: pd.DataFrame, *, freq: str | None = "M",
                   per: float = 1000, confidence: float = 0.95, signup: str = S.SIGNUP_DATE,
                   end: str = S.END_DATE, opened: str = S.OPENED_AT) -> pd.DataFrame:
    """Original complaints per ``per`` active customer-months, per period, exact Poisson interval.

    Exposure is the time customers were active in the period, from ``signup_date`` up to (not
    including) ``end_date``, in months of ``S.DAYS_PER_MONTH`` days, so a rate per month
    does not depend on the length of the calendar month. The interval is the exact (Garwood)
    one for a Poisson count, ``chi2(a/2, 2k)/2`` to ``chi2(1-a/2, 2k+2)/2`` (statsmodels
    ``confint_poisson``, method "exact-c"), divided by the exposure and scaled by ``per``.
    Customers with a missing date are left out (with their complaints, when both tables have
    ``customer_id``).

    Parameters
    ----------
    customers, contacts : DataFrame
        The contract's tables (customers need the two dates).
    freq : str or None
        pandas period alias ("M", "Q", "Y"); None for one overall row.
    per : float
        Rate per this many customer-months.
    confidence : float
        Level of the interval.

    Returns
    -------
    DataFrame
        ``month`` (first day of the period; absent when ``freq`` is None), ``complaints``,
        ``customer_months``, ``value`` (rate), ``lower``, ``upper``.

    Example
    -------
    >>> cu = pd.DataFrame({"signup_date": pd.to_datetime(["2023-01-01"] * 2),
    ...                    "end_date": pd.to_datetime(["2024-01-01"] * 2)})
    >>> co = pd.DataFrame({"kind": ["complaint"] * 3, "opened_at": pd.to_datetime(["2023-02-03"] * 3)})
    >>> round(complaint_rate(cu, co, freq=None)["value"].item(), 1)  # 1000 x 3 / (2 x 365 / 30.4375)
    125.1
    """
    _require(customers, "customers", [signup, end], "complaint_rate")
    complaints = _originals(contacts, [opened], "complaint_rate")
    active = customers.dropna(subset=[signup, end])
    if S.CUSTOMER_ID in active and S.CUSTOMER_ID in complaints:
        complaints = complaints[complaints[S.CUSTOMER_ID].isin(active[S.CUSTOMER_ID])]
    if freq is None:
        exposure = pd.Series([(active[end] - active[signup]).dt.days.sum() / S.DAYS_PER_MONTH])
    else:
        periods = pd.period_range(active[signup].min(), active[end].max() - pd.Timedelta(days=1), freq=freq)
        exposure = pd.Series(_exposure(active[signup], active[end], periods), index=periods.start_time)
    counts = complaints.groupby(_period(complaints[opened], freq)).size()
    k = counts.reindex(exposure.index, fill_value=0) if freq else pd.Series([len(complaints)])
    low, high = confint_poisson(k.to_numpy(), exposure.to_numpy(), method="exact-c", alpha=1 - confidence)
    out = pd.DataFrame({"complaints": k.to_numpy(), "customer_months": exposure.to_numpy(),
                        VALUE: per * k.to_numpy() / exposure.to_numpy(), LOWER: per * low, UPPER: per * high},
                       index=exposure.index)
    return _tidy(out, freq)


def _exposure(signup: pd.Series, end: pd.Series, periods: pd.PeriodIndex) -> np.ndarray:
    """Customer-months active in each period: overlap of [signup, end) with the period, summed."""
    lo, hi = periods.start_time.to_numpy(), (periods + 1).start_time.to_numpy()
    a, b = signup.to_numpy()[:, None], end.to_numpy()[:, None]
    days = (np.minimum(b, hi) - np.maximum(a, lo)) / np.timedelta64(1, "D")
    return np.clip(days, 0, None).sum(axis=0) / S.DAYS_PER_MONTH


def fcr_rate(contacts: pd.DataFrame, *, freq: str | None = "M", confidence: float = 0.95,
             opened: str = S.OPENED_AT, fcr: str = S.FIRST_CONTACT_RESOLUTION) -> pd.DataFrame:
    """Share of original complaints resolved at first contact, per period of opening, Wilson interval.

    Complaints with a missing first-contact flag are left out.

    Returns
    -------
    DataFrame
        ``month`` (absent when ``freq`` is None), ``complaints``, ``first_contact``, ``value``,
        ``lower``, ``upper``.

    Example
    -------
    >>> co = pd.DataFrame({"kind": "complaint", "opened_at": pd.to_datetime(["2023-01-05"] * 4),
    ...                    "first_contact_resolution": [True, False, False, True]})
    >>> fcr_rate(co)[["month", "value"]].values.tolist()
    [[Timestamp('2023-01-01 00:00:00'), 0.5]]
    """
    complaints = _originals(contacts, [opened, fcr], "fcr_rate").dropna(subset=[fcr])
    return _share_trend(complaints[fcr], complaints[opened], freq=freq, confidence=confidence,
                        total="complaints", hits="first_contact")


def repeat_rate(contacts: pd.DataFrame, *, within_days: float | None = 7, freq: str | None = "M",
                confidence: float = 0.95, contact_id: str = S.CONTACT_ID, customer_id: str = S.CUSTOMER_ID,
                opened: str = S.OPENED_AT, repeat_of: str = S.REPEAT_OF) -> pd.DataFrame:
    """Share of original complaints followed by another contact on the same issue within N days.

    With a ``repeat_of`` column, a complaint is repeated when some row has ``repeat_of`` equal
    to its ``contact_id`` and was opened at most ``within_days`` days after it. Without that
    column the fallback is weaker: the same customer's *next complaint* opened within
    ``within_days`` days (it may be a new issue). The ``definition`` column says which was used.
    ``within_days=None`` counts repeats at any distance. Complaints opened less than N days
    before the end of the data have a shorter window, so the last periods read a little low.

    Returns
    -------
    DataFrame
        ``month`` (absent when ``freq`` is None), ``complaints``, ``repeated``, ``value``,
        ``lower``, ``upper`` (Wilson), ``definition``.

    Example
    -------
    >>> co = pd.DataFrame({"contact_id": ["K1", "K2", "K3"], "customer_id": ["C1", "C1", "C2"],
    ...                    "kind": "complaint", "opened_at": pd.to_datetime(["2023-01-02", "2023-01-05", "2023-01-09"]),
    ...                    "repeat_of": [None, "K1", None]})
    >>> repeat_rate(co, freq=None)["value"].item()
    0.5
    """
    window = np.inf if within_days is None else within_days
    span = "at any time" if within_days is None else f"within {within_days:g} days"
    if repeat_of in contacts:
        complaints = _originals(contacts, [contact_id, opened], "repeat_rate", repeat_of=repeat_of)
        links = contacts[[repeat_of, opened]].dropna().merge(
            complaints[[contact_id, opened]], left_on=repeat_of, right_on=contact_id, suffixes=("", "_original"))
        gap = (links[opened] - links[f"{opened}_original"]) / pd.Timedelta(days=1)
        repeated = complaints[contact_id].isin(links.loc[gap <= window, repeat_of])
        definition = f"another contact with {repeat_of} pointing to the complaint, opened {span}"
    else:
        complaints = _originals(contacts, [customer_id, opened], "repeat_rate", repeat_of=repeat_of)
        ordered = complaints.sort_values([customer_id, opened], kind="mergesort")
        gap = (ordered.groupby(customer_id)[opened].shift(-1) - ordered[opened]) / pd.Timedelta(days=1)
        repeated, complaints = gap <= window, ordered
        definition = (f"no {repeat_of} column: the same customer's next complaint opened {span} "
                      "(may be a new issue)")
    out = _share_trend(repeated, complaints[opened], freq=freq, confidence=confidence, total="complaints",
                       hits="repeated")
    return out.assign(definition=definition)


def resolution(contacts: pd.DataFrame, *, freq: str | None = "M", confidence: float = 0.95,
               opened: str = S.OPENED_AT, resolved: str = S.RESOLVED_AT) -> pd.DataFrame:
    """Share of original complaints resolved (``resolved_at`` present), per period of opening.

    Recent complaints have had less time, so the last periods read low; `time_to_resolve`
    accounts for that.

    Returns
    -------
    DataFrame
        ``month`` (absent when ``freq`` is None), ``complaints``, ``resolved``, ``value``,
        ``lower``, ``upper`` (Wilson).

    Example
    -------
    >>> co = pd.DataFrame({"kind": "complaint", "opened_at": pd.to_datetime(["2023-01-05"] * 2),
    ...                    "resolved_at": pd.to_datetime(["2023-01-07", None])})
    >>> resolution(co, freq=None)["value"].item()
    0.5
    """
    complaints = _originals(contacts, [opened, resolved], "resolution")
    return _share_trend(complaints[resolved].notna(), complaints[opened], freq=freq, confidence=confidence,
                        total="complaints", hits=RESOLVED)


def resolution_days(contacts: pd.DataFrame, *, customers: pd.DataFrame | None = None, end_of_observation=None,
                    customer_id: str = S.CUSTOMER_ID, opened: str = S.OPENED_AT, resolved: str = S.RESOLVED_AT,
                    end: str = S.END_DATE) -> pd.DataFrame:
    """Original complaints with days to resolution and a resolved flag, for a Kaplan-Meier fit.

    A resolved complaint's duration is ``resolved_at - opened_at`` in days (0 when resolved
    at first contact). An open one is censored at ``end_of_observation`` (default: the
    latest ``opened_at`` or ``resolved_at`` in ``contacts``) or, when ``customers`` is given,
    at the customer's ``end_date`` if that comes first (a churned customer's complaint can no
    longer be resolved).

    Returns
    -------
    DataFrame
        The complaints' rows with ``days_to_resolve`` and ``resolved`` (bool) added.

    Example
    -------
    >>> co = pd.DataFrame({"kind": "complaint", "opened_at": pd.to_datetime(["2023-01-05", "2023-01-20"]),
    ...                    "resolved_at": pd.to_datetime(["2023-01-07", None])})
    >>> resolution_days(co, end_of_observation="2023-01-31")["days_to_resolve"].tolist()
    [2.0, 11.0]
    """
    complaints = _originals(contacts, [opened, resolved], "resolution_days")
    censor = pd.Series(pd.Timestamp(end_of_observation) if end_of_observation is not None else
                       contacts[[opened, resolved]].max().max(), index=complaints.index)
    if customers is not None:
        _require(complaints, "contacts", [customer_id], "resolution_days with customers")
        ends = complaints[customer_id].map(customers.set_index(customer_id)[end])
        censor = censor.where(~(ends < censor), ends)
    done = complaints[resolved].notna()
    days = (complaints[resolved].where(done, censor) - complaints[opened]) / pd.Timedelta(days=1)
    return complaints.assign(**{DAYS_TO_RESOLVE: days.clip(lower=0).astype(float), RESOLVED: done.to_numpy()})


def time_to_resolve(contacts: pd.DataFrame, *, group: str | None = None, customers: pd.DataFrame | None = None,
                    end_of_observation=None, confidence: float = 0.95) -> pd.DataFrame:
    """Kaplan-Meier curve of days to resolution (share of complaints still open), tidy.

    `resolution_days` gives the durations and censoring; `survival.km_table` the curve, so
    ``time`` is in days and ``survival`` is the share of complaints still open after that many
    days. Complaints resolved at first contact end at day 0, so the curve starts below 1.

    Parameters
    ----------
    group : str, optional
        A contacts column (e.g. ``channel``) giving one curve per level.
    customers, end_of_observation :
        Where open complaints are censored; see `resolution_days`.

    Example
    -------
    >>> co = pd.DataFrame({"kind": "complaint", "opened_at": pd.to_datetime(["2023-01-05"] * 2),
    ...                    "resolved_at": pd.to_datetime(["2023-01-05", "2023-01-09"])})
    >>> time_to_resolve(co)["survival"].tolist()
    [0.5, 0.0]
    """
    days = resolution_days(contacts, customers=customers, end_of_observation=end_of_observation)
    return survival.km_table(days, group=group, duration=DAYS_TO_RESOLVE, event=RESOLVED, confidence=confidence)


def time_to_resolve_summary(contacts: pd.DataFrame, *, group: str | None = None, times: Sequence[float] = (7, 30),
                            customers: pd.DataFrame | None = None, end_of_observation=None,
                            confidence: float = 0.95) -> pd.DataFrame:
    """Median days to resolution with its interval, and the share still open after ``times`` days.

    `survival.km_summary` on `resolution_days`: ``median``, ``median_lower``,
    ``median_upper`` (days; NaN when not reached), ``survival_<t>`` (share still open after
    t days) with its interval, and the restricted mean over the last of ``times``.

    Example
    -------
    >>> co = pd.DataFrame({"kind": "complaint", "opened_at": pd.to_datetime(["2023-01-05"] * 3),
    ...                    "resolved_at": pd.to_datetime(["2023-01-05", "2023-01-09", "2023-01-15"])})
    >>> time_to_resolve_summary(co)["median"].item()
    4.0
    """
    days = resolution_days(contacts, customers=customers, end_of_observation=end_of_observation)
    return survival.km_summary(days, group=group, times=times, horizon=max(times), duration=DAYS_TO_RESOLVE,
                               event=RESOLVED, confidence=confidence)


def recovery_mix(contacts: pd.DataFrame, *, confidence: float = 0.95, resolved: str = S.RESOLVED_AT,
                 action: str = S.RECOVERY_ACTION, recovered: str = S.RECOVERED) -> pd.DataFrame:
    """Recovery actions among resolved original complaints, and the recovered share of each.

    A missing action is its own level, "missing". ``recovered_share`` counts complaints whose
    ``recovered`` flag is recorded (``with_outcome``); its interval is Wilson's.

    Returns
    -------
    DataFrame
        ``recovery_action`` (the contract's order), ``complaints``, ``share`` (of resolved
        complaints), ``with_outcome``, ``recovered``, ``recovered_share``, ``lower``, ``upper``.

    Example
    -------
    >>> co = pd.DataFrame({"kind": "complaint", "resolved_at": pd.to_datetime(["2023-01-05"] * 3),
    ...                    "recovery_action": ["fix", "fix", "none"], "recovered": [True, False, False]})
    >>> recovery_mix(co)[["recovery_action", "share", "recovered_share"]].values.tolist()
    [['none', 0.3333333333333333, 0.0], ['fix', 0.6666666666666666, 0.5]]
    """
    complaints = _originals(contacts, [resolved, action, recovered], "recovery_mix")
    done = complaints[complaints[resolved].notna()]
    labels = done[action].astype(object).where(done[action].notna(), "missing")
    g = done[recovered].astype("boolean").groupby(labels)
    out = pd.DataFrame({"complaints": g.size(), "with_outcome": g.count(), "recovered": g.sum()})
    order = [a for a in S.RECOVERY_ACTIONS if a in out.index] + sorted(set(out.index) - set(S.RECOVERY_ACTIONS))
    out = out.loc[order].rename_axis(action).reset_index()
    out.insert(2, "share", out["complaints"] / out["complaints"].sum())
    low, high = wilson(out["recovered"], out["with_outcome"], confidence)
    return out.assign(recovered_share=out["recovered"] / out["with_outcome"], **{LOWER: low, UPPER: high})


def complaints_to_compliments(contacts: pd.DataFrame, *, freq: str | None = "M", confidence: float = 0.95,
                              kind: str = S.KIND, opened: str = S.OPENED_AT) -> pd.DataFrame:
    """Original complaints per compliment, per period, with a conditional Poisson-ratio interval.

    Two Poisson counts over the same exposure, C complaints and K compliments: given
    C + K, C is binomial with ``p = r / (1 + r)``, r the ratio of their rates. The Wilson
    interval for p, mapped through ``p / (1 - p)``, is the interval for r (the conditional
    method for a ratio of Poisson rates). A period without compliments has ratio inf.

    Returns
    -------
    DataFrame
        ``month`` (absent when ``freq`` is None), ``complaints``, ``compliments``, ``value``,
        ``lower``, ``upper``.

    Example
    -------
    >>> co = pd.DataFrame({"kind": ["complaint"] * 6 + ["compliment"] * 3,
    ...                    "opened_at": pd.to_datetime(["2023-01-05"] * 9)})
    >>> complaints_to_compliments(co)["value"].item()
    2.0
    """
    complaints = _originals(contacts, [opened], "complaints_to_compliments", kind=kind)
    praise = contacts[contacts[kind] == S.COMPLIMENT]
    c = complaints.groupby(_period(complaints[opened], freq)).size()
    k = praise.groupby(_period(praise[opened], freq)).size()
    c, k = c.align(k, fill_value=0)
    low, high = wilson(c, c + k, confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = pd.DataFrame({"complaints": c, "compliments": k, VALUE: c / k, LOWER: low / (1 - low),
                            UPPER: high / (1 - high)})
    return _tidy(out.sort_index(), freq)


def kpi_summary(customers: pd.DataFrame, contacts: pd.DataFrame, *, within_days: float | None = 7,
                confidence: float = 0.95) -> pd.DataFrame:
    """One row per KPI, over the whole data: value, interval, unit and definition (headline table).

    Example
    -------
    >>> cu = pd.DataFrame({"customer_id": ["C1"], "signup_date": pd.to_datetime(["2023-01-01"]),
    ...                    "end_date": pd.to_datetime(["2024-01-01"])})
    >>> co = pd.DataFrame({"contact_id": ["K1", "K2"], "customer_id": "C1", "kind": ["complaint", "compliment"],
    ...                    "opened_at": pd.to_datetime(["2023-02-01"] * 2),
    ...                    "resolved_at": pd.to_datetime(["2023-02-03"] * 2),
    ...                    "first_contact_resolution": [False, True], "repeat_of": None,
    ...                    "recovered": [True, None], "recovery_action": ["fix", None]})
    >>> kpi_summary(cu, co)["kpi"].tolist()  # doctest: +NORMALIZE_WHITESPACE
    ['complaint_rate', 'first_contact_resolution', 'repeat_rate', 'resolved_share', 'median_days_to_resolve',
     'recovered_share', 'complaints_per_compliment']
    """
    kw = dict(freq=None, confidence=confidence)
    repeat = repeat_rate(contacts, within_days=within_days, **kw)
    median = time_to_resolve_summary(contacts, customers=customers, confidence=confidence).iloc[0]
    mix = recovery_mix(contacts, confidence=confidence)
    k, n = mix["recovered"].sum(), mix["with_outcome"].sum()
    rows = [
        ("complaint_rate", complaint_rate(customers, contacts, **kw), "per 1,000 customer-months",
         "original complaints (repeat_of missing) per 1,000 active customer-months; exact Poisson interval"),
        ("first_contact_resolution", fcr_rate(contacts, **kw), "share",
         "share of original complaints resolved at first contact; Wilson interval"),
        ("repeat_rate", repeat, "share", f"share of original complaints with {repeat['definition'].item()}"),
        ("resolved_share", resolution(contacts, **kw), "share", "share of original complaints with resolved_at"),
        ("median_days_to_resolve", pd.DataFrame({VALUE: [median["median"]], LOWER: [median["median_lower"]],
                                                 UPPER: [median["median_upper"]]}), "days",
         "Kaplan-Meier median of resolved_at - opened_at; open complaints censored at end_date"),
        ("recovered_share", pd.DataFrame(dict(zip([VALUE, LOWER, UPPER], [k / n, *wilson(k, n, confidence)])),
                                         index=[0]), "share",
         "share of resolved original complaints with recovered True (outcome recorded); Wilson interval"),
        ("complaints_per_compliment", complaints_to_compliments(contacts, **kw), "ratio",
         "original complaints / compliments; conditional (binomial) Poisson-ratio interval"),
    ]
    return pd.DataFrame([{"kpi": name, **frame[[VALUE, LOWER, UPPER]].iloc[0].astype(float).to_dict(),
                          "unit": unit, "definition": text} for name, frame, unit, text in rows])


# ---- 2. complaint states over tenure -------------------------------------------------------------
def _state_changes(customers: pd.DataFrame, complaints: pd.DataFrame, *, id_col: str, signup: str,
                   opened: str, resolved: str, recovered: str) -> pd.DataFrame:
    """One row per change of state, in the order they apply: row (customer position), t (tenure
    months, 0 at the earliest), tie (opening tenure of the complaint: orders same-day changes), state."""
    row = pd.Index(customers[id_col]).get_indexer(complaints[id_col])
    complaints, row = complaints[row >= 0], row[row >= 0]
    start = pd.Series(customers[signup].to_numpy()[row], index=complaints.index)
    t_open = S.tenure_from_dates(start, complaints[opened]).clip(lower=0).to_numpy()
    t_done = S.tenure_from_dates(start, complaints[resolved]).clip(lower=0).to_numpy()
    flag = complaints[recovered].astype("boolean")
    after = np.where(flag.isna(), None, np.where(flag.fillna(False), "recovered", "failed"))
    done = complaints[resolved].notna().to_numpy()
    parts = [pd.DataFrame({"row": np.arange(len(customers)), "t": 0.0, "tie": -np.inf, "seq": 0, STATE: "none"}),
             pd.DataFrame({"row": row, "t": t_open, "tie": t_open, "seq": 1, STATE: "open"}),
             pd.DataFrame({"row": row[done], "t": t_done[done], "tie": t_open[done], "seq": 2, STATE: after[done]})]
    changes = pd.concat(parts, ignore_index=True).astype({STATE: object})
    return changes.sort_values(["row", "t", "tie", "seq"], kind="mergesort")


def complaint_episodes(customers: pd.DataFrame, contacts: pd.DataFrame, *, covariates: Sequence[str] = (),
                       id_col: str = S.CUSTOMER_ID, signup: str = S.SIGNUP_DATE, end: str = S.END_DATE,
                       event: str = S.CHURNED, opened: str = S.OPENED_AT, resolved: str = S.RESOLVED_AT,
                       recovered: str = S.RECOVERED) -> pd.DataFrame:
    """Each customer's tenure as (start, stop] episodes of complaint state, for a time-varying Cox model.

    Tenure is whole days since ``signup_date`` / ``S.DAYS_PER_MONTH``. The state is "none"
    until the first original complaint; "open" from its ``opened_at`` to its ``resolved_at``
    (to ``end_date`` when still open); then "recovered" or "failed" by its ``recovered`` flag
    until the next original complaint opens. Repeat contacts do not change the state. A
    resolved complaint whose ``recovered`` flag is missing leaves the state missing (<NA>)
    until the next complaint; the model drops those episodes. Overlapping complaints (the
    next opened before the previous is resolved) follow the latest event: an opening or a
    resolution sets the state, whichever complaint it belongs to; on the same day the later
    complaint's event wins, and a complaint resolved on its opening day ends in its after-state.
    Changes before signup count from tenure 0, changes on or after ``end_date`` are dropped,
    zero-length episodes are dropped. ``churned`` is 1 only on a churner's last episode.

    Parameters
    ----------
    customers : DataFrame
        One row per customer: id, ``signup_date``, ``end_date``, ``churned`` and ``covariates``.
    contacts : DataFrame
        The contacts table (original complaints need id, opened_at, resolved_at, recovered).
    covariates : sequence of str
        Customer columns copied onto every episode.

    Returns
    -------
    DataFrame
        ``customer_id``, covariates, ``start``, ``stop`` (months), ``churned`` (0/1),
        ``state`` (categorical, levels none / open / recovered / failed); sorted by customer
        and start.

    Example
    -------
    >>> cu = pd.DataFrame({"customer_id": ["C1"], "signup_date": pd.to_datetime(["2023-01-01"]),
    ...                    "end_date": pd.to_datetime(["2023-05-01"]), "churned": [True]})
    >>> co = pd.DataFrame({"customer_id": ["C1"], "kind": "complaint", "opened_at": pd.to_datetime(["2023-01-31"]),
    ...                    "resolved_at": pd.to_datetime(["2023-03-02"]), "recovered": [True]})
    >>> complaint_episodes(cu, co)[["stop", "churned", "state"]].round(2).values.tolist()
    [[0.99, 0, 'none'], [1.97, 0, 'open'], [3.94, 1, 'recovered']]
    """
    _require(customers, "customers", [id_col, signup, end, event, *covariates], "complaint_episodes")
    complaints = _originals(contacts, [id_col, opened, resolved, recovered], "complaint_episodes")
    tenure = S.tenure_from_dates(customers[signup], customers[end]).to_numpy()
    ch = _state_changes(customers, complaints, id_col=id_col, signup=signup, opened=opened, resolved=resolved,
                        recovered=recovered)
    ch = ch.drop_duplicates(["row", "t"], keep="last")
    ch = ch[ch["t"] < tenure[ch["row"]]]
    last = ch["row"].ne(ch["row"].shift(-1)).to_numpy()
    stop = np.where(last, tenure[ch["row"]], ch["t"].shift(-1))
    out = customers[[id_col, *covariates]].iloc[ch["row"]].reset_index(drop=True).assign(**{
        START: ch["t"].to_numpy(), STOP: stop,
        event: (last & customers[event].to_numpy(dtype=bool)[ch["row"]]).astype(int),
        STATE: pd.Categorical(ch[STATE].to_numpy(), categories=STATES)})
    return out[out[STOP] > out[START]].reset_index(drop=True)


def complaint_state_model(episodes: pd.DataFrame, *, covariates: Sequence[str] = (),
                          strata: str | Sequence[str] | None = None, id_col: str = S.CUSTOMER_ID,
                          event: str = S.CHURNED, state: str = STATE,
                          min_cell: int = MIN_CELL) -> CoxTimeVaryingFitter:
    """Time-varying Cox model of churn on the complaint state (reference: no complaint so far).

    The state enters as dummies named ``complaint[open]``, ``complaint[recovered]``,
    ``complaint[failed]`` (the names of the generator's truth); a state that never occurs gets
    no term. Fitted by `survival.fit_time_varying` (lifelines CoxTimeVaryingFitter, Efron ties,
    complete cases). Read it with `survival.hazard_ratios` and `hazard_reading`.

    Before the fit, identifier covariates and strata are refused (`privacy.check_covariates`)
    and the states and the levels of categorical covariates and strata that fewer than
    ``min_cell`` customers ever had are pooled (a pooled state is ``complaint[other (pooled)]``)
    or left out with their episodes (`privacy.pool_small_levels`); the model's
    ``small_cell_note_`` says how many.

    Parameters
    ----------
    episodes : DataFrame
        From `complaint_episodes`.
    covariates : sequence of str
        Customer covariates carried on the episodes (encoded as in `survival.fit_cox`).
    strata : str or list of str, optional
        Columns with a baseline hazard of their own (e.g. contract).

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> ep = pd.DataFrame({"customer_id": np.arange(60), "start": 0.0, "stop": rng.exponential(10, 60),
    ...                    "churned": 1, "state": rng.choice(["none", "open", "failed"], 60)})
    >>> complaint_state_model(ep).params_.index.tolist()
    ['complaint[open]', 'complaint[failed]']
    """
    customers = episodes.drop_duplicates(id_col)
    check_covariates(customers, covariates)
    check_covariates(customers, as_list(strata), parameter="STRATA", role="stratum")
    episodes, note = pool_small_levels(episodes, [START, STOP, event, state, *covariates, *as_list(strata)],
                                       min_cell=min_cell, id_col=id_col)
    values = episodes[state].astype(object)
    present = [f"complaint[{level}]" for level in (*STATES[1:], POOLED) if (values == level).any()]
    dummies = {term: (values == term[len("complaint["):-1]).astype(float).where(values.notna()) for term in present}
    model = survival.fit_time_varying(episodes.assign(**dummies), covariates=[*present, *covariates], strata=strata,
                                      id_col=id_col, event=event)
    model.small_cell_note_ = note
    return model


def _ci(row, confidence: float) -> str:
    """"0.86 times as fast (95% CI 0.71-1.04)"; with more decimals when two would show a narrow
    interval (millions of customers) as "0.86-0.86".

    >>> _ci({"hr": 0.8597, "lower": 0.8561, "upper": 0.8633}, 0.95)
    '0.860 times as fast (95% CI 0.856-0.863)'
    """
    d = digits_apart(row["lower"], row["upper"], fmt=lambda x, digits: f"{x:.{digits}f}", digits=2, most=4)
    return f"{row['hr']:.{d}f} times as fast ({confidence:.0%} CI {row['lower']:.{d}f}-{row['upper']:.{d}f})"


def hazard_reading(hr_table: pd.DataFrame, *, confidence: float = 0.95) -> str:
    """The complaint-state hazard ratios in plain words, with the recovery-paradox verdict.

    Parameters
    ----------
    hr_table : DataFrame
        `survival.hazard_ratios` of a `complaint_state_model` (terms ``complaint[...]``).
    confidence : float
        The level the table was computed at (for the label only).

    Example
    -------
    >>> hr = pd.DataFrame({"term": ["complaint[open]", "complaint[recovered]"], "hr": [2.1, 0.86],
    ...                    "lower": [1.6, 0.71], "upper": [2.7, 1.04]})
    >>> print(hazard_reading(hr))  # doctest: +NORMALIZE_WHITESPACE
    While a complaint is open, customers churn 2.10 times as fast (95% CI 1.60-2.70) as customers
    without a complaint so far. After a recovered complaint, 0.86 times as fast (95% CI 0.71-1.04):
    the data cannot tell a recovered complainer from one who never complained (no detectable
    recovery paradox).
    """
    rows = hr_table.set_index("term")
    parts = []
    if "complaint[open]" in rows.index:
        parts.append(f"While a complaint is open, customers churn {_ci(rows.loc['complaint[open]'], confidence)} "
                     "as customers without a complaint so far.")
    if "complaint[recovered]" in rows.index:
        r = rows.loc["complaint[recovered]"]
        verdict = ("a recovered complainer is more loyal than one who never complained (the service-recovery "
                   "paradox)" if r["upper"] < 1 else
                   "a recovered complainer is still less loyal than one who never complained" if r["lower"] > 1 else
                   "the data cannot tell a recovered complainer from one who never complained (no detectable "
                   "recovery paradox)")
        parts.append(f"After a recovered complaint, {_ci(r, confidence)}: {verdict}.")
    if "complaint[failed]" in rows.index:
        parts.append(f"After a failed recovery, {_ci(rows.loc['complaint[failed]'], confidence)}.")
    return " ".join(parts)


# ---- 3. leakage ---------------------------------------------------------------------------------
def leakage_check(df: pd.DataFrame, *, outcome: str = S.CHURNED, columns: Sequence[str] | None = None,
                  threshold: float = 0.95, keep_all: bool = False) -> pd.DataFrame:
    """Columns that nearly determine a binary outcome or are strongly tied to it: leakage suspects, before any model.

    A thin wrapper over the package's one leakage check, `helpers.data.quality.leakage_scores`,
    whose module docstring states the grades and their thresholds: "near-determining" (a flag
    agreeing with the outcome for >= 97% of rows, AUC >= 0.95, 95% of rows in levels with a
    one-sided outcome, a sizeable level whose outcome never varies) and "strong" (odds ratio
    >= 20 splitting the rows into a mostly-churning and a mostly-staying group, AUC >= 0.85,
    one guess per level right for 85% of rows). Whether a column is missing is checked too.
    By default every column is checked except the outcome, ``end_date``, ``end_reason``,
    ``tenure_months`` (they record the outcome itself), identifiers and dates.

    Parameters
    ----------
    df : DataFrame
        One row per unit (customer), with the outcome.
    outcome : str
        Binary outcome column (churned). With one value only, nothing is flagged.
    columns : sequence of str, optional
        Columns to check (dates are compared as days).
    threshold : float
        Level purity for the determined share: a level counts as determined when its outcome
        share is >= ``threshold`` or <= ``1 - threshold``.
    keep_all : bool
        Return every checked column, not only the flagged ones.

    Returns
    -------
    DataFrame
        ``column``, ``kind`` (binary / categorical / numeric), ``measure`` (agreement,
        disagreement, determined_share, accuracy, pure_level, odds_ratio, auc, reversed_auc, or
        ``missing_...``), ``score``, ``baseline``, ``rows``, ``flagged``, ``grade``
        (near-determining, strong or ""), ``odds_ratio``, ``sentence``; near-determining first,
        then strong, then by score.

    Example
    -------
    >>> df = pd.DataFrame({"churned": [True, False] * 50, "exit_flag": [True, False] * 50, "x": range(100)})
    >>> leakage_check(df)[["column", "score", "grade"]].values.tolist()
    [['exit_flag', 1.0, 'near-determining']]
    """
    from helpers.data.quality import leakage_scores

    out = leakage_scores(df, outcome, columns, purity=threshold)
    return out if keep_all else out[out["flagged"]].reset_index(drop=True)


def leakage_warnings(df: pd.DataFrame, *, outcome: str = S.CHURNED, columns: Sequence[str] | None = None,
                     threshold: float = 0.95) -> list[str]:
    """Plain-word warnings, one per column `leakage_check` flags (near-determining first); empty when none.

    Example
    -------
    >>> df = pd.DataFrame({"churned": [True, False] * 50, "complained": [True, False] * 50})
    >>> leakage_warnings(df)[0][:60]
    'complained agrees with churned for 100.0% of customers: this'
    """
    return leakage_check(df, outcome=outcome, columns=columns, threshold=threshold)["sentence"].tolist()


# ---- 4. simple data: one row per customer with a flag -------------------------------------------
def _logit_rows(df: pd.DataFrame, terms: list[str], outcome: str, confidence: float) -> pd.DataFrame:
    complete = df.dropna(subset=[outcome, *terms])
    x = add_constant(encode(complete, terms), has_constant="add")
    fit = Logit(complete[outcome].astype(float), x).fit(disp=0)
    ci = fit.conf_int(alpha=1 - confidence).drop(index="const")
    return pd.DataFrame({"model": "logistic", "measure": "odds ratio", "term": ci.index,
                         "estimate": np.exp(fit.params.drop("const")).to_numpy(), LOWER: np.exp(ci[0]).to_numpy(),
                         UPPER: np.exp(ci[1]).to_numpy(), "p": fit.pvalues.drop("const").to_numpy(),
                         "n": int(fit.nobs)})


def flag_comparison(df: pd.DataFrame, *, flag: str | Sequence[str], outcome: str = S.CHURNED,
                    covariates: Sequence[str] = (), duration: str | None = None, event: str | None = None,
                    strata: str | Sequence[str] | None = None, confidence: float = 0.95,
                    min_cell: int = MIN_CELL) -> pd.DataFrame:
    """Adjusted comparison of customers with and without a flag (e.g. complained, resolved).

    A logistic regression of ``outcome`` on the flag(s) and covariates (statsmodels Logit,
    odds ratios with Wald intervals) and, when ``duration`` is given, a Cox model of the time
    to ``event`` (default: ``outcome``) on the same terms (`survival.fit_cox`, hazard ratios).
    Both use complete cases; non-numeric columns are one-hot encoded as ``col[level]``. Run
    `leakage_warnings` first: a flag recorded at the exit makes both models meaningless.

    An "ever complained" flag compares customers observed for different lengths of time:
    long-lived customers have had more time to complain, so the flag can look protective
    (immortal-time bias). With dated complaints, use `complaint_episodes` and
    `complaint_state_model` instead; this comparison is for data that have only the flag.

    Parameters
    ----------
    df : DataFrame
        One row per customer.
    flag : str or list of str
        The flag column(s) compared (bool or 0/1).
    outcome : str
        Binary outcome of the logistic model.
    covariates : sequence of str
        Adjustment columns.
    duration, event : str, optional
        Tenure and event columns for the Cox model; no Cox rows without ``duration``.
    strata : str or list of str, optional
        Cox strata (a baseline hazard per level).
    confidence : float
        Level of the intervals.
    min_cell : int
        Identifier flags and covariates are refused (`privacy.check_covariates`); levels of
        categorical flags, covariates and strata with fewer customers are pooled or left out
        before either model (`privacy.pool_small_levels`).

    Returns
    -------
    DataFrame
        One row per model and term: ``model`` (logistic / cox), ``measure`` (odds ratio /
        hazard ratio), ``term``, ``estimate``, ``lower``, ``upper``, ``p``, ``n``;
        ``attrs["small_cell_note"]`` says what was pooled ("" when nothing was).

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"complained": rng.random(400) < 0.3, "tenure_months": rng.exponential(12, 400)})
    >>> df["churned"] = rng.random(400) < np.where(df["complained"], 0.5, 0.25)
    >>> flag_comparison(df, flag="complained", duration="tenure_months")[["model", "term"]].values.tolist()
    [['logistic', 'complained'], ['cox', 'complained']]
    """
    terms = [*as_list(flag), *covariates]
    _require(df, "data", [outcome, *terms, *([duration, event or outcome] if duration else [])], "flag_comparison")
    check_covariates(df, as_list(flag), parameter="FLAGS", role="flag")
    check_covariates(df, covariates)
    check_covariates(df, as_list(strata), parameter="STRATA", role="stratum")
    df, note = pool_small_levels(df, [outcome, *terms, *([duration, event or outcome] if duration else []),
                                      *as_list(strata)], min_cell=min_cell)
    parts = [_logit_rows(df, terms, outcome, confidence)]
    if duration is not None:
        cph = survival.fit_cox(df, covariates=terms, strata=strata, duration=duration, event=event or outcome)
        hr = survival.hazard_ratios(cph, confidence)
        parts.append(pd.DataFrame({"model": "cox", "measure": "hazard ratio", "term": hr["term"],
                                   "estimate": hr["hr"], LOWER: hr["lower"], UPPER: hr["upper"], "p": hr["p"],
                                   "n": len(cph.design_)}))
    out = pd.concat(parts, ignore_index=True)
    out.attrs["small_cell_note"] = note
    return out


def customer_flags(customers: pd.DataFrame, contacts: pd.DataFrame) -> pd.DataFrame:
    """The customers table with per-customer complaint flags, as a one-row-per-customer export would hold them.

    ``complained`` (any original complaint), ``recovery_failed`` (any complaint with recovered
    False) and ``complaint_open_at_end`` (a complaint still open at the end): the flags a leakage
    check looks at before any model.
    """
    originals = _originals(contacts, [S.RESOLVED_AT, S.RECOVERED], "complaint flags")
    by = originals.groupby(S.CUSTOMER_ID)
    flags = pd.DataFrame({
        "complained": by.size() > 0,
        "recovery_failed": by[S.RECOVERED].apply(lambda r: bool((r == False).any())),  # noqa: E712
        "complaint_open_at_end": by[S.RESOLVED_AT].apply(lambda r: bool(r.isna().any())),
    })
    flags = flags.reindex(customers[S.CUSTOMER_ID], fill_value=False).set_axis(customers.index)
    return pd.concat([customers, flags.astype(bool)], axis=1)

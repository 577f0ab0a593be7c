"""Synthetic customer-service data with planted, known effects.

`generate` simulates customers, their monthly revenue, their service contacts, two retention
campaigns and account-manager departures, and returns the tables of the data contract
(`helpers.schema`) together with the truth: every planted parameter and the realised facts an
analysis should recover. `write` stores both, deterministically and atomically.

The churn model is a proportional-hazards model in continuous tenure time (months)::

    h_i(t) = h0_contract(t) * exp(x_i' beta) * m_i(t),    H0_c(t) = (t / scale_c) ** shape_c

with a Weibull baseline per contract (not proportional across contracts: stratify by
contract), fixed covariates ``x_i`` and a piecewise-constant multiplier ``m_i(t)`` that
switches at integer days when a complaint opens or is resolved, when the customer's account
manager leaves, and while a retention campaign acts. Churn times are drawn exactly: one
``Exp(1)`` draw per customer is matched against the cumulative hazard, which is inverted
within the piece where it is reached. The same draw under another multiplier schedule gives
the potential outcome of a campaign (common random numbers).

Example
-------
>>> tables, truth = generate(2000, seed=1)
>>> sorted(tables) == sorted(schema.TABLES)
True
>>> round(truth["cox_log_hr"]["customer_type[group]"], 3)
-0.511
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import config, schema
from .segments import QUADRANTS, value_satisfaction_quadrant

REGIONS = ("north", "south", "east", "west")
DAYS_PER_YEAR = 365.25

# allowed values the generator treats specially, checked against the contract at import
_INQUIRY, _REQUEST = "inquiry", "request"
_PAID_ACTIONS = ("credit", "refund")
if not ({_INQUIRY, _REQUEST} <= set(schema.CONTACT_KINDS) and set(_PAID_ACTIONS) <= set(schema.RECOVERY_ACTIONS)):
    raise ImportError("helpers.synth is out of step with helpers.schema: contact kinds or recovery actions")

# kinds of multiplier in the churn hazard (the schedule of change points)
_COMPLAINT, _MANAGER, _CAMPAIGN = 0, 1, 2
_N_FACTORS = 3
# complaint state of a customer at a given time
_NONE, _OPEN, _RECOVERED, _FAILED = 0, 1, 2, 3


@dataclass(frozen=True)
class SynthParams:
    """Every planted effect of the generator; the defaults are the reference data set.

    Hazard ratios (``hr_*``) multiply the churn hazard. Tuples follow the order of the
    matching schema constant (``schema.CONTRACTS``, ``schema.RECOVERY_ACTIONS``,
    ``schema.CHANNELS``, ``schema.END_REASONS``) or of `QUADRANTS`.

    Parameters
    ----------
    contract_mix : shares of month-to-month, one-year, two-year.
    weibull_scale, weibull_shape : baseline ``H0(t) = (t / scale) ** shape`` per contract,
        tenure ``t`` in months.
    group_share, hr_group : share of group (key-account) customers and their hazard ratio.
    satisfaction_mean, satisfaction_sd : true score ``clip(round(N(mean, sd), 1), 0, 10)``.
    satisfaction_centre, hr_satisfaction : hazard ratio per point, centred at the centre.
    satisfaction_missing : share of recorded scores missing completely at random.
    value_median, value_group_shift, value_sigma : ``log(value) ~ N(log(median) + shift *
        group, sigma)``; sigma is set so the top fifth of customers by window revenue
        carries about 80% of it.
    hr_value_doubling : hazard ratio per doubling of ``monthly_value / median``.
    hr_quadrant : hazard ratio of each value x satisfaction quadrant vs ``consolidate``.
    satisfaction_threshold : high satisfaction is true satisfaction >= this.
    competitor_mean, competitor_sd, competitor_range : competitor satisfaction
        ``clip(N(mean, sd), low, high)``; relative service level = own / competitor's.
    hr_below_parity : hazard ratio when the relative service level is below 1.
    wallet_a0, wallet_a_slope, wallet_a_floor, wallet_b : wallet share ~ ``Beta(a, b)`` with
        ``a = max(a0 + slope * (sat - centre), floor)``.
    hr_wallet_share : hazard ratio per unit of wallet share (0 -> 1).
    wallet_missing : share of recorded wallet shares missing completely at random.
    complaint_rate, complaint_sat_slope : complaints per month while none is open,
        ``rate * exp(slope * (sat - centre))``; the next opens an exponential time after the
        previous one is resolved.
    fcr_prob : probability a complaint is resolved at first contact (same day).
    resolution_median_days, resolution_sigma : lognormal days to resolve otherwise.
    recovery_action_probs : probabilities of none, apology, fix, credit, refund.
    compensation_range : credit / refund = monthly value * Uniform(low, high).
    recovery_intercepts, recovery_fcr_coef, recovery_delay_coef : ``P(recovered) =
        logistic(a_action + fcr_coef * FCR + delay_coef * log1p(resolution days))``.
    hr_complaint_open, hr_recovered, hr_failed : hazard ratio while a complaint is open, and
        after a recovered / failed one until the next complaint opens.
    repeat_prob : probability that a complaint not resolved at first contact gets one
        repeat contact.
    inquiry_rate, request_rate : contacts per month (no hazard effect).
    compliment_rate, compliment_sat_slope : compliments per month, ``rate * exp(slope *
        (sat - centre))``.
    request_resolution_mean_days : requests are resolved after ``ceil(Exp(mean))`` days.
    channel_probs : probabilities of phone, email, chat, store.
    customers_per_manager : group customers per account manager (assigned uniformly).
    manager_departure_rate : departures per manager-year, from the start of the window.
    hr_manager_departure, hr_manager_departure_months : hazard ratio of the manager's
        customers (active at the departure) for this many calendar months after it.
    rct_id, rct_month, rct_share, rct_treat_prob, rct_action, rct_cost : the randomized
        campaign: at ``start + rct_month`` months, ``rct_share`` of active customers are
        enrolled and randomized; cost per treated customer.
    hr_campaign, revenue_uplift_campaign : its effect on hazard and revenue.
    outreach_id, outreach_month, outreach_action, outreach_cost : the targeted outreach, at
        ``start + outreach_month`` months, over active customers not in the RCT.
    outreach_coefs : logistic targeting model: intercept, month-to-month, log2 value ratio,
        recent complaint (open, or failed within ``outreach_recent_days``), tenure months.
    hr_outreach, revenue_uplift_outreach : its effect on hazard and revenue.
    campaign_effect_months : both campaigns act for this many calendar months.
    revenue_noise_sigma : sigma of the mean-one lognormal monthly noise.
    spend_dip_open : revenue falls by this share of the month a complaint is open.
    end_reason_weights : base weights of moved, price, service, non-payment.
    service_complaint_mult, service_sat_slope : service weight times ``mult`` when a
        complaint is open or failed at churn, and times ``exp(slope * (sat - centre))``.
    price_high_value_mult : price weight multiplier above the median monthly value.
    end_reason_missing : share of churners whose end reason is missing.
    """

    contract_mix: tuple[float, ...] = (0.55, 0.25, 0.20)
    weibull_scale: tuple[float, ...] = (30.0, 110.0, 350.0)
    weibull_shape: tuple[float, ...] = (0.8, 1.0, 1.3)
    group_share: float = 0.15
    hr_group: float = 0.6
    satisfaction_mean: float = 7.0
    satisfaction_sd: float = 1.8
    satisfaction_centre: float = 7.0
    hr_satisfaction: float = 0.85
    satisfaction_missing: float = 0.05
    value_median: float = 40.0
    value_group_shift: float = 1.0
    value_sigma: float = 1.40
    hr_value_doubling: float = 0.92
    hr_quadrant: tuple[float, ...] = (1.0, 1.3, 1.15, 1.5)
    satisfaction_threshold: float = 7.0
    competitor_mean: float = 7.0
    competitor_sd: float = 1.0
    competitor_range: tuple[float, float] = (3.0, 10.0)
    hr_below_parity: float = 1.25
    wallet_a0: float = 2.0
    wallet_a_slope: float = 0.3
    wallet_a_floor: float = 0.5
    wallet_b: float = 3.0
    hr_wallet_share: float = 0.6
    wallet_missing: float = 0.05
    complaint_rate: float = 0.04
    complaint_sat_slope: float = -0.25
    fcr_prob: float = 0.4
    resolution_median_days: float = 6.0
    resolution_sigma: float = 0.8
    recovery_action_probs: tuple[float, ...] = (0.15, 0.30, 0.30, 0.15, 0.10)
    compensation_range: tuple[float, float] = (0.2, 1.0)
    recovery_intercepts: tuple[float, ...] = (-0.5, 0.3, 1.0, 1.2, 1.4)
    recovery_fcr_coef: float = 0.8
    recovery_delay_coef: float = -0.3
    hr_complaint_open: float = 2.0
    hr_recovered: float = 0.85
    hr_failed: float = 1.8
    repeat_prob: float = 0.5
    inquiry_rate: float = 0.25
    request_rate: float = 0.10
    compliment_rate: float = 0.02
    compliment_sat_slope: float = 0.25
    request_resolution_mean_days: float = 3.0
    channel_probs: tuple[float, ...] = (0.45, 0.25, 0.25, 0.05)
    customers_per_manager: float = 20.0
    manager_departure_rate: float = 0.20
    hr_manager_departure: float = 2.0
    hr_manager_departure_months: int = 6
    rct_id: str = "RCT-2024-07"
    rct_month: int = 18
    rct_share: float = 0.30
    rct_treat_prob: float = 0.5
    rct_action: str = "offer"
    rct_cost: float = 25.0
    hr_campaign: float = 0.75
    revenue_uplift_campaign: float = 0.05
    outreach_id: str = "OUTREACH-2025-01"
    outreach_month: int = 24
    outreach_action: str = "call"
    outreach_cost: float = 8.0
    outreach_coefs: tuple[float, ...] = (-1.5, 1.2, -0.5, 1.0, -0.03)
    outreach_recent_days: int = 90
    hr_outreach: float = 0.8
    revenue_uplift_outreach: float = 0.03
    campaign_effect_months: int = 12
    revenue_noise_sigma: float = 0.10
    spend_dip_open: float = 0.15
    end_reason_weights: tuple[float, ...] = (0.20, 0.35, 0.30, 0.15)
    service_complaint_mult: float = 2.0
    service_sat_slope: float = -0.2
    price_high_value_mult: float = 1.5
    end_reason_missing: float = 0.05


# ---- value x satisfaction quadrant ---------------------------------------------------------


# ---- calendar -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Clock:
    """The observation window in whole days since ``start``; months are calendar months."""

    start: pd.Timestamp
    as_of: pd.Timestamp
    days: int
    months: pd.DatetimeIndex
    edges: np.ndarray

    def dates(self, days) -> pd.DatetimeIndex:
        """Day offsets (NaN allowed) -> dates."""
        return self.start + pd.to_timedelta(np.asarray(days, dtype=float), unit="D")

    def add_months(self, days, months: int) -> np.ndarray:
        """Day offset of (date of ``days``) + ``months`` calendar months."""
        shifted = self.dates(days) + pd.DateOffset(months=months)
        return np.asarray((shifted - self.start).days, dtype=np.int64)

    def month_index(self, days) -> np.ndarray:
        """Index into ``months`` of the calendar month holding each day offset."""
        return np.searchsorted(self.edges, np.asarray(days), side="right") - 1


def _clock(start: str, months: int) -> _Clock:
    begin = pd.Timestamp(start).normalize()
    as_of = begin + pd.DateOffset(months=months)
    grid = pd.date_range(begin.to_period("M").to_timestamp(), as_of - pd.Timedelta(days=1), freq="MS")
    bounds = grid.append(pd.DatetimeIndex([grid[-1] + pd.DateOffset(months=1)]))
    edges = np.asarray((bounds - begin).days, dtype=np.int64)
    return _Clock(begin, as_of, (as_of - begin).days, grid, edges)


# ---- customers ----------------------------------------------------------------------------


@dataclass
class _Population:
    """Per-customer arrays (index = customer number); ``*_rec`` are the recorded values."""

    signup: np.ndarray
    contract: np.ndarray
    group: np.ndarray
    region: np.ndarray
    sat: np.ndarray
    sat_rec: np.ndarray
    value: np.ndarray
    value_median: float
    log2_value: np.ndarray
    high_value: np.ndarray
    quadrant: np.ndarray
    rsl: np.ndarray
    below_parity: np.ndarray
    wallet: np.ndarray
    wallet_rec: np.ndarray
    manager: np.ndarray
    eta: np.ndarray | None = None

    @property
    def n(self) -> int:
        return len(self.signup)


def _population(rng: np.random.Generator, n: int, clock: _Clock, p: SynthParams) -> _Population:
    """Draw the fixed covariates; everything recorded is rounded as it will be stored."""
    signup = rng.integers(0, clock.days, n)
    contract = rng.choice(len(schema.CONTRACTS), n, p=_probs(p.contract_mix))
    group = rng.random(n) < p.group_share
    region = rng.integers(0, len(REGIONS), n)
    sat = np.clip(np.round(rng.normal(p.satisfaction_mean, p.satisfaction_sd, n), 1), 0.0, 10.0)
    sat_rec = np.where(rng.random(n) < p.satisfaction_missing, np.nan, sat)
    log_value = rng.normal(math.log(p.value_median) + p.value_group_shift * group, p.value_sigma)
    value = np.maximum(np.round(np.exp(log_value), 2), 0.01)
    competitor = np.clip(rng.normal(p.competitor_mean, p.competitor_sd, n), *p.competitor_range)
    rsl = np.round(sat / competitor, 4)
    a = np.maximum(p.wallet_a0 + p.wallet_a_slope * (sat - p.satisfaction_centre), p.wallet_a_floor)
    wallet = np.round(rng.beta(a, p.wallet_b), 4)
    wallet_rec = np.where(rng.random(n) < p.wallet_missing, np.nan, wallet)
    median = float(np.median(value))
    quadrant = value_satisfaction_quadrant(value, sat, value_threshold=median,
                                           satisfaction_threshold=p.satisfaction_threshold)
    pop = _Population(signup, contract, group, region, sat, sat_rec, value, median,
                      np.log2(value / median), value > median, quadrant.cat.codes.to_numpy(),
                      rsl, rsl < 1.0, wallet, wallet_rec, _assign_managers(rng, group, p))
    pop.eta = _linear_predictor(pop, p)
    return pop


def _probs(weights) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    return w / w.sum()


def _assign_managers(rng: np.random.Generator, group: np.ndarray, p: SynthParams) -> np.ndarray:
    """Manager number per customer (-1 for individuals), uniformly over the managers."""
    manager = np.full(len(group), -1)
    n_group = int(group.sum())
    if n_group:
        n_managers = max(1, round(n_group / p.customers_per_manager))
        manager[group] = rng.integers(0, n_managers, n_group)
    return manager


def _linear_predictor(pop: _Population, p: SynthParams) -> np.ndarray:
    """``x' beta`` of the fixed covariates (the contract enters through the baseline)."""
    return (math.log(p.hr_group) * pop.group
            + math.log(p.hr_satisfaction) * (pop.sat - p.satisfaction_centre)
            + math.log(p.hr_value_doubling) * pop.log2_value
            + math.log(p.hr_wallet_share) * pop.wallet
            + math.log(p.hr_below_parity) * pop.below_parity
            + np.log(np.asarray(p.hr_quadrant))[pop.quadrant])


# ---- complaints and other contacts -----------------------------------------------------------


@dataclass
class _Complaints:
    """Original complaints (one row each), sorted by customer and opening day."""

    cust: np.ndarray
    opened: np.ndarray
    resolved: np.ndarray
    fcr: np.ndarray
    action: np.ndarray
    compensation: np.ndarray
    recovered: np.ndarray
    channel: np.ndarray
    repeat: np.ndarray
    repeat_u: np.ndarray
    repeat_channel: np.ndarray


def _complaint_episodes(rng, pop: _Population, clock: _Clock, p: SynthParams):
    """Renewal process per customer: (customer, opened day, resolved day, FCR) arrays.

    Loops over rounds (the k-th complaint of every customer), never over customers.
    """
    centred = pop.sat - p.satisfaction_centre
    rate_per_day = p.complaint_rate * np.exp(p.complaint_sat_slope * centred) / schema.DAYS_PER_MONTH
    cur = pop.signup.astype(np.int64)
    alive = np.arange(pop.n)
    out = []
    while alive.size:
        gap = np.maximum(np.ceil(rng.exponential(1.0 / rate_per_day[alive])), 1).astype(np.int64)
        opened = cur[alive] + gap
        fcr = rng.random(alive.size) < p.fcr_prob
        days = np.maximum(np.round(rng.lognormal(math.log(p.resolution_median_days), p.resolution_sigma,
                                                 alive.size)), 1).astype(np.int64)
        resolved = opened + np.where(fcr, 0, days)
        keep = opened < clock.days
        out.append((alive[keep], opened[keep], resolved[keep], fcr[keep]))
        alive = alive[keep]
        cur[alive] = resolved[keep]
    cust, opened, resolved, fcr = (np.concatenate(x) for x in zip(*out))
    order = np.lexsort((opened, cust))
    return cust[order], opened[order], resolved[order], fcr[order]


def _complaints(rng, pop: _Population, clock: _Clock, p: SynthParams) -> _Complaints:
    """Complaints with their recovery action, compensation, outcome and repeat-contact draws."""
    cust, opened, resolved, fcr = _complaint_episodes(rng, pop, clock, p)
    k = cust.size
    action = rng.choice(len(schema.RECOVERY_ACTIONS), k, p=_probs(p.recovery_action_probs))
    paid = np.isin(np.asarray(schema.RECOVERY_ACTIONS)[action], _PAID_ACTIONS)
    amount = np.maximum(np.round(pop.value[cust] * rng.uniform(*p.compensation_range, k), 2), 0.01)
    logit = (np.asarray(p.recovery_intercepts)[action] + p.recovery_fcr_coef * fcr
             + p.recovery_delay_coef * np.log1p(resolved - opened))
    recovered = rng.random(k) < 1.0 / (1.0 + np.exp(-logit))
    channel = rng.choice(len(schema.CHANNELS), k, p=_probs(p.channel_probs))
    repeat = ~fcr & (rng.random(k) < p.repeat_prob)
    repeat_u = rng.random(k)
    repeat_channel = rng.choice(len(schema.CHANNELS), k, p=_probs(p.channel_probs))
    return _Complaints(cust, opened, resolved, fcr, action, np.where(paid, amount, 0.0), recovered, channel,
                       repeat, repeat_u, repeat_channel)


def _other_contacts(rng, pop: _Population, clock: _Clock, p: SynthParams) -> dict[str, np.ndarray]:
    """Inquiries, requests and compliments: Poisson in calendar time over [signup, as_of)."""
    centred = pop.sat - p.satisfaction_centre
    rates = {_INQUIRY: np.full(pop.n, p.inquiry_rate), _REQUEST: np.full(pop.n, p.request_rate),
             schema.COMPLIMENT: p.compliment_rate * np.exp(p.compliment_sat_slope * centred)}
    span = (clock.days - pop.signup).astype(float)
    parts = []
    for kind, rate in rates.items():
        counts = rng.poisson(rate * span / schema.DAYS_PER_MONTH)
        cust = np.repeat(np.arange(pop.n), counts)
        day = np.floor(pop.signup[cust] + rng.random(cust.size) * span[cust]).astype(np.int64)
        wait = np.ceil(rng.exponential(p.request_resolution_mean_days, cust.size)) if kind == _REQUEST \
            else np.zeros(cust.size)
        parts.append((cust, day, np.full(cust.size, schema.CONTACT_KINDS.index(kind)), day + wait,
                      np.full(cust.size, kind != _REQUEST)))
    cust, day, kind, resolved, fcr = (np.concatenate(x) for x in zip(*parts))
    channel = rng.choice(len(schema.CHANNELS), cust.size, p=_probs(p.channel_probs))
    return dict(cust=cust, day=day, kind=kind, resolved=resolved, fcr=fcr, channel=channel)


def _complaint_state(c: _Complaints, n: int, before: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """State of each customer's latest complaint among those opened before day ``before[i]``.

    A complaint is open when it is resolved on or after ``before``. Returns the state code
    (none / open / recovered / failed) and the resolution day of that complaint.
    """
    seen = c.opened < before[c.cust]
    idx = np.flatnonzero(seen)
    last = idx[np.r_[c.cust[idx][1:] != c.cust[idx][:-1], True]] if idx.size else idx
    state = np.full(n, _NONE)
    resolved = np.full(n, np.nan)
    cust = c.cust[last]
    is_open = c.resolved[last] >= before[cust]
    state[cust] = np.where(is_open, _OPEN, np.where(c.recovered[last], _RECOVERED, _FAILED))
    resolved[cust] = c.resolved[last]
    return state, resolved


# ---- the hazard schedule and exact churn times ---------------------------------------------------


@dataclass
class _Events:
    """Change points of the hazard multiplier: from ``day`` on, factor ``kind`` is ``value``."""

    cust: np.ndarray
    day: np.ndarray
    kind: np.ndarray
    value: np.ndarray

    def __add__(self, other: "_Events") -> "_Events":
        return _Events(*(np.concatenate([a, b]) for a, b in zip(
            (self.cust, self.day, self.kind, self.value), (other.cust, other.day, other.kind, other.value))))


def _window_events(cust, begin, end, kind: int, hr: float) -> _Events:
    """Factor ``kind`` equals ``hr`` on [begin, end) and 1 afterwards."""
    cust = np.asarray(cust)
    ones = np.ones(cust.size)
    return _Events(np.r_[cust, cust], np.r_[np.broadcast_to(begin, cust.shape), np.broadcast_to(end, cust.shape)],
                   np.full(2 * cust.size, kind), np.r_[ones * hr, ones])


def _complaint_events(c: _Complaints, p: SynthParams) -> _Events:
    """Open -> hr_complaint_open; resolved -> hr_recovered or hr_failed (interleaved so an
    FCR complaint, opened and resolved the same day, ends in its after-state)."""
    after = np.where(c.recovered, p.hr_recovered, p.hr_failed)
    k = c.cust.size
    return _Events(np.repeat(c.cust, 2), np.column_stack([c.opened, c.resolved]).ravel(),
                   np.full(2 * k, _COMPLAINT), np.column_stack([np.full(k, p.hr_complaint_open), after]).ravel())


def _manager_departures(rng, pop: _Population, clock: _Clock, p: SynthParams) -> np.ndarray:
    """Departure day of each manager (floor of an exponential time from the start)."""
    n_managers = int(pop.manager.max()) + 1
    years = rng.exponential(1.0 / p.manager_departure_rate, n_managers)
    return np.floor(years * DAYS_PER_YEAR).astype(np.int64)


def _manager_events(pop: _Population, departed: np.ndarray, clock: _Clock, p: SynthParams) -> _Events:
    """The departure window for customers signed up by the day their manager left."""
    cust = np.flatnonzero(pop.manager >= 0)
    day = departed[pop.manager[cust]] if cust.size else np.zeros(0, np.int64)
    hit = (day < clock.days) & (pop.signup[cust] <= day)
    cust, day = cust[hit], day[hit]
    return _window_events(cust, day, clock.add_months(day, p.hr_manager_departure_months), _MANAGER,
                          p.hr_manager_departure)


def _ffill(values: np.ndarray) -> np.ndarray:
    """Forward-fill NaN (the first element must be set)."""
    idx = np.where(np.isnan(values), 0, np.arange(values.size))
    return values[np.maximum.accumulate(idx)]


def _pieces(who: np.ndarray, pop: _Population, events: _Events, horizon: int) -> pd.DataFrame:
    """Long frame of (customer, piece): start day, stop day and hazard multiplier."""
    member = np.zeros(pop.n, bool)
    member[who] = True
    keep = member[events.cust] & (events.day < horizon) & (events.day >= pop.signup[events.cust])
    cust = np.r_[who, events.cust[keep]]
    day = np.r_[pop.signup[who], events.day[keep]].astype(float)
    kind = np.r_[np.full(who.size, -1), events.kind[keep]]
    value = np.r_[np.ones(who.size), events.value[keep]]
    order = np.lexsort((np.r_[np.full(who.size, -1), np.flatnonzero(keep)], day, cust))
    cust, day, kind, value = cust[order], day[order], kind[order], value[order]
    mult = np.ones(cust.size)
    for k in range(_N_FACTORS):
        mult *= _ffill(np.where(kind == -1, 1.0, np.where(kind == k, value, np.nan)))
    last = np.r_[cust[1:] != cust[:-1], True]
    stop = np.where(last, float(horizon), np.r_[day[1:], horizon])
    return pd.DataFrame({"cust": cust, "t0": day, "t1": stop, "mult": mult})


def _churn_days(who: np.ndarray, pop: _Population, events: _Events, exp1: np.ndarray, p: SynthParams,
                horizon: int) -> np.ndarray:
    """Exact churn day (float, since the window start) of each customer in sorted ``who``.

    ``inf`` when the cumulative hazard up to ``horizon`` stays below the customer's
    ``Exp(1)`` draw (censored).
    """
    if who.size == 0:
        return np.zeros(0)
    pc = _pieces(who, pop, events, horizon)
    cust = pc["cust"].to_numpy()
    scale = np.asarray(p.weibull_scale)[pop.contract[cust]]
    shape = np.asarray(p.weibull_shape)[pop.contract[cust]]
    h0_start = ((pc["t0"].to_numpy() - pop.signup[cust]) / schema.DAYS_PER_MONTH / scale) ** shape
    h0_stop = ((pc["t1"].to_numpy() - pop.signup[cust]) / schema.DAYS_PER_MONTH / scale) ** shape
    rate = pc["mult"].to_numpy() * np.exp(pop.eta[cust])
    dH = rate * (h0_stop - h0_start)
    cum = pd.Series(dH).groupby(cust, sort=False).cumsum().to_numpy()
    idx = np.flatnonzero(cum >= exp1[cust])
    idx = idx[np.r_[True, cust[idx][1:] != cust[idx][:-1]]] if idx.size else idx
    h_at = h0_start[idx] + (exp1[cust[idx]] - (cum[idx] - dH[idx])) / rate[idx]
    tenure_days = scale[idx] * h_at ** (1.0 / shape[idx]) * schema.DAYS_PER_MONTH
    day = np.clip(pop.signup[cust[idx]] + tenure_days, pc["t0"].to_numpy()[idx], pc["t1"].to_numpy()[idx])
    out = np.full(who.size, np.inf)
    out[np.searchsorted(who, cust[idx])] = day
    return out


def _end_day(churn: np.ndarray, signup: np.ndarray, horizon: int) -> np.ndarray:
    """First day no longer a customer: ceil(churn day) for churners, ``horizon`` otherwise."""
    end = np.where(np.isfinite(churn), np.ceil(np.where(np.isfinite(churn), churn, 0)), horizon)
    return np.maximum(end, signup + 1).astype(np.int64)


# ---- retention campaigns ----------------------------------------------------------------------


@dataclass
class _Campaign:
    """One campaign: enrolled customers (sorted), arm and potential churn days under both arms."""

    cid: str
    assignment: str
    action: str
    cost: float
    hr: float
    uplift: float
    day: int
    who: np.ndarray
    treated: np.ndarray
    churn_treated: np.ndarray
    churn_control: np.ndarray
    propensity: np.ndarray


def _treated_churn(who, day: int, hr: float, pop, events, exp1, clock: _Clock, p) -> np.ndarray:
    """Churn days of ``who`` had all of them been treated from ``day`` on."""
    end = clock.add_months(np.full(who.size, day), p.campaign_effect_months)
    extra = _window_events(who, np.full(who.size, day), end, _CAMPAIGN, hr)
    return _churn_days(who, pop, events + extra, exp1, p, clock.days)


def _active_on(day: int, pop: _Population, churn: np.ndarray, clock: _Clock) -> np.ndarray:
    """Customers signed up by ``day`` and not churned before it (none after the window)."""
    return (pop.signup <= day) & (churn > day) & (day < clock.days)


def _randomized(pop, events, exp1, churn0, draws, clock: _Clock, p: SynthParams) -> _Campaign:
    """Enrol ``rct_share`` of active customers, randomize them, simulate both arms."""
    day = int(clock.add_months(np.zeros(1), p.rct_month)[0])
    who = np.flatnonzero(_active_on(day, pop, churn0, clock) & (draws[0] < p.rct_share))
    propensity = np.full(who.size, p.rct_treat_prob)
    treated = draws[1][who] < propensity
    churn_t = _treated_churn(who, day, p.hr_campaign, pop, events, exp1, clock, p)
    return _Campaign(p.rct_id, schema.ASSIGNMENTS[0], p.rct_action, p.rct_cost, p.hr_campaign,
                     p.revenue_uplift_campaign, day, who, treated, churn_t, churn0[who], propensity)


def _recent_complaint(c: _Complaints, n: int, day: int, window: int) -> np.ndarray:
    """Complaint open on ``day``, or the latest one failed and resolved within ``window`` days."""
    state, resolved = _complaint_state(c, n, np.full(n, day + 1))
    return (state == _OPEN) | ((state == _FAILED) & (resolved >= day - window))


def _targeted(pop, c, events, exp1, churn1, in_rct, draw, clock: _Clock, p: SynthParams) -> _Campaign:
    """Outreach to active customers outside the RCT, targeted on recorded risk factors."""
    day = int(clock.add_months(np.zeros(1), p.outreach_month)[0])
    who = np.flatnonzero(_active_on(day, pop, churn1, clock) & ~in_rct)
    b0, b_m2m, b_value, b_recent, b_tenure = p.outreach_coefs
    logit = (b0 + b_m2m * (pop.contract == schema.CONTRACTS.index("month-to-month"))
             + b_value * pop.log2_value + b_recent * _recent_complaint(c, pop.n, day, p.outreach_recent_days)
             + b_tenure * (day - pop.signup) / schema.DAYS_PER_MONTH)
    propensity = 1.0 / (1.0 + np.exp(-logit[who]))
    treated = draw[who] < propensity
    churn_t = _treated_churn(who, day, p.hr_outreach, pop, events, exp1, clock, p)
    return _Campaign(p.outreach_id, schema.ASSIGNMENTS[1], p.outreach_action, p.outreach_cost, p.hr_outreach,
                     p.revenue_uplift_outreach, day, who, treated, churn_t, churn1[who], propensity)


def _observed(churn: np.ndarray, camp: _Campaign) -> np.ndarray:
    """Churn days once the campaign's treated customers follow their treated outcome."""
    out = churn.copy()
    out[camp.who[camp.treated]] = camp.churn_treated[camp.treated]
    return out


def _simulate_churn(rng, pop, c: _Complaints, events: _Events, clock: _Clock, p: SynthParams):
    """Churn day of every customer (inf if censored) and the two campaigns.

    The campaigns act only after their assignment day, so who is active then follows from
    the schedule without them; one Exp(1) draw per customer serves every arm.
    """
    exp1 = rng.exponential(1.0, pop.n)
    draws = rng.random((3, pop.n))
    churn0 = _churn_days(np.arange(pop.n), pop, events, exp1, p, clock.days)
    rct = _randomized(pop, events, exp1, churn0, draws[:2], clock, p)
    churn1 = _observed(churn0, rct)
    in_rct = np.zeros(pop.n, bool)
    in_rct[rct.who] = True
    outreach = _targeted(pop, c, events, exp1, churn1, in_rct, draws[2], clock, p)
    return _observed(churn1, outreach), [rct, outreach]


# ---- revenue ----------------------------------------------------------------------------------


def _overlap(a, b, lo, hi) -> np.ndarray:
    """Days of [a, b) inside each [lo, hi): shape (len(a), len(lo))."""
    return np.clip(np.minimum(np.asarray(b)[:, None], hi) - np.maximum(np.asarray(a)[:, None], lo), 0, None)


def _revenue_matrix(who, end_day, uplift, uplift_from, pop, c: _Complaints, clock: _Clock, p, noise):
    """Revenue of customers ``who`` (rows) in each calendar month of the window (columns).

    value * share of the month active * noise * (1 - dip * share of the month with a complaint
    open) * (1 + uplift during the campaign effect).
    """
    lo, hi = clock.edges[:-1], clock.edges[1:]
    length = (hi - lo).astype(float)
    active = _overlap(pop.signup[who], end_day, lo, hi)
    row = np.full(pop.n, -1)
    row[who] = np.arange(who.size)
    r = row[c.cust]
    sel = np.flatnonzero(r >= 0)
    stop = np.minimum(c.resolved[sel], end_day[r[sel]])
    open_days = np.zeros(active.shape)
    np.add.at(open_days, r[sel], _overlap(c.opened[sel], stop, lo, hi))
    month = np.arange(lo.size)
    on = (month >= uplift_from[:, None]) & (month < uplift_from[:, None] + p.campaign_effect_months)
    return (pop.value[who, None] * active / length * noise[who] * (1.0 - p.spend_dip_open * open_days / length)
            * (1.0 + uplift[:, None] * on))


def _campaign_effects(camp: _Campaign, pop, c, clock: _Clock, p, noise) -> dict:
    """Potential-outcome effects (treated minus control) over the enrolled and the treated."""
    who = camp.who
    first = int(clock.month_index(camp.day))
    end_t = _end_day(camp.churn_treated, pop.signup[who], clock.days)
    end_c = _end_day(camp.churn_control, pop.signup[who], clock.days)
    rev_t = _revenue_matrix(who, end_t, np.full(who.size, camp.uplift), np.full(who.size, first), pop, c, clock,
                            p, noise)
    rev_c = _revenue_matrix(who, end_c, np.zeros(who.size), np.full(who.size, first), pop, c, clock, p, noise)
    diff, observed = {}, {}
    for h in (6, 12):
        cut = clock.add_months(np.array([camp.day]), h)[0]
        diff[f"churn_{h}m"] = (camp.churn_treated < cut).astype(float) - (camp.churn_control < cut)
        diff[f"revenue_{h}m"] = rev_t[:, first:first + h].sum(1) - rev_c[:, first:first + h].sum(1)
        observed[f"churn_{h}m"] = np.where(camp.treated, camp.churn_treated, camp.churn_control) < cut
        observed[f"revenue_{h}m"] = np.where(camp.treated, rev_t[:, first:first + h].sum(1),
                                             rev_c[:, first:first + h].sum(1))
    t = camp.treated
    return {
        "ate": {k: _mean(v) for k, v in diff.items()},
        "att": {k: _mean(v[t]) for k, v in diff.items()},
        "naive_difference": {k: _mean(v[t]) - _mean(v[~t]) for k, v in observed.items()},
    }


def _mean(x) -> float:
    x = np.asarray(x, dtype=float)
    return float(x.mean()) if x.size else float("nan")


# ---- end reasons --------------------------------------------------------------------------


def _end_reasons(rng, pop: _Population, c: _Complaints, churned, end_day, p: SynthParams) -> np.ndarray:
    """Reason code per customer (-1 when missing): probabilities proportional to the weights.

    Drawing the reason in proportion to reason-specific hazards ``p_k(t) * h(t)`` is the same
    as competing risks with cause-specific hazards ``h_k = p_k * h``.
    """
    u, missing = rng.random(pop.n), rng.random(pop.n) < p.end_reason_missing
    state, _ = _complaint_state(c, pop.n, end_day)
    w = np.tile(np.asarray(p.end_reason_weights, dtype=float), (pop.n, 1))
    service, price = schema.END_REASONS.index("service"), schema.END_REASONS.index("price")
    w[:, service] *= np.where(np.isin(state, (_OPEN, _FAILED)), p.service_complaint_mult, 1.0)
    w[:, service] *= np.exp(p.service_sat_slope * (pop.sat - p.satisfaction_centre))
    w[:, price] *= np.where(pop.high_value, p.price_high_value_mult, 1.0)
    cum = w.cumsum(1) / w.sum(1, keepdims=True)
    code = np.minimum((u[:, None] > cum).sum(1), w.shape[1] - 1)
    return np.where(churned & ~missing, code, -1)


# ---- tables -------------------------------------------------------------------------------


def _labels(codes, choices) -> np.ndarray:
    """Codes -> labels, None where the code is -1."""
    codes = np.asarray(codes)
    out = np.asarray(choices, dtype=object)[np.maximum(codes, 0)]
    out[codes < 0] = None
    return out


def _ids(prefix: str, numbers, width: int) -> np.ndarray:
    return np.char.mod(f"{prefix}%0{width}d", np.asarray(numbers) + 1).astype(object)


def _frame(name: str, data: dict) -> pd.DataFrame:
    """Columns in contract order, cast to the contract's dtypes, sorted, index reset."""
    table = schema.TABLES[name]
    df = pd.DataFrame({col: pd.Series(data[col]).astype(schema.pandas_dtype(table.column(col)))
                       for col in table.names})
    return df.sort_values(list(table.sort_by), kind="mergesort").reset_index(drop=True)


def _customers_table(pop, clock: _Clock, churned, end_day, reason) -> pd.DataFrame:
    signup, end = pd.Series(clock.dates(pop.signup)), pd.Series(clock.dates(end_day))
    manager = np.where(pop.manager >= 0, _ids("AM", pop.manager, 4), None)
    return _frame(schema.CUSTOMERS, {
        schema.CUSTOMER_ID: _ids("C", np.arange(pop.n), 6), schema.SIGNUP_DATE: signup, schema.END_DATE: end,
        schema.CHURNED: churned, schema.TENURE: schema.tenure_from_dates(signup, end),
        schema.CONTRACT: _labels(pop.contract, schema.CONTRACTS),
        schema.CUSTOMER_TYPE: np.where(pop.group, schema.GROUP, schema.INDIVIDUAL),
        schema.REGION: _labels(pop.region, REGIONS), schema.MONTHLY_VALUE: pop.value,
        schema.SATISFACTION: pop.sat_rec, schema.RELATIVE_SERVICE: np.where(np.isnan(pop.sat_rec), np.nan, pop.rsl),
        schema.WALLET_SHARE: pop.wallet_rec, schema.ACCOUNT_MANAGER_ID: manager,
        schema.END_REASON: _labels(reason, schema.END_REASONS),
    })


def _revenue_table(matrix: np.ndarray, clock: _Clock, active: np.ndarray) -> pd.DataFrame:
    cust, month = np.nonzero(active)
    return _frame(schema.REVENUE, {
        schema.CUSTOMER_ID: _ids("C", cust, 6), schema.MONTH: clock.months[month],
        schema.REVENUE_AMOUNT: np.maximum(np.round(matrix[cust, month], 2), 0.0),
    })


def _complaint_rows(c: _Complaints, end_day) -> dict[str, np.ndarray]:
    """Original complaints opened while active, then their repeat contacts.

    A complaint not resolved before the customer's end day is open: resolution, outcome,
    action and compensation missing. ``repeat_of`` holds the row of the original.
    """
    k = np.flatnonzero(c.opened < end_day[c.cust])
    end = end_day[c.cust[k]]
    done = c.resolved[k] < end
    resolved = np.where(done, c.resolved[k], np.nan)
    rep = np.flatnonzero(c.repeat[k])
    upper = np.minimum(c.resolved[k][rep], end[rep])
    rep_day = c.opened[k][rep] + np.floor(c.repeat_u[k][rep] * (upper - c.opened[k][rep])).astype(np.int64)
    n_o, n_r = k.size, rep.size
    nan_r = np.full(n_r, np.nan)
    return dict(
        cust=np.r_[c.cust[k], c.cust[k][rep]], day=np.r_[c.opened[k], rep_day],
        kind=np.full(n_o + n_r, schema.CONTACT_KINDS.index(schema.COMPLAINT)),
        resolved=np.r_[resolved, resolved[rep]], fcr=np.r_[c.fcr[k], np.zeros(n_r, bool)].astype(float),
        recovered=np.r_[np.where(done, c.recovered[k], np.nan), nan_r],
        action=np.r_[np.where(done, c.action[k], -1), np.full(n_r, -1)],
        compensation=np.r_[np.where(done, c.compensation[k], np.nan), nan_r],
        channel=np.r_[c.channel[k], c.repeat_channel[k][rep]], repeat_of=np.r_[np.full(n_o, -1), rep],
        is_repeat=np.r_[np.zeros(n_o, bool), np.ones(n_r, bool)],
    )


def _other_rows(o: dict, end_day) -> dict[str, np.ndarray]:
    """Inquiries, requests and compliments opened while active; open if unresolved by the end."""
    k = np.flatnonzero(o["day"] < end_day[o["cust"]])
    n = k.size
    done = o["resolved"][k] < end_day[o["cust"][k]]
    return dict(cust=o["cust"][k], day=o["day"][k], kind=o["kind"][k],
                resolved=np.where(done, o["resolved"][k], np.nan), fcr=o["fcr"][k].astype(float),
                recovered=np.full(n, np.nan), action=np.full(n, -1), compensation=np.full(n, np.nan),
                channel=o["channel"][k], repeat_of=np.full(n, -1), is_repeat=np.zeros(n, bool))


def _contacts_table(c: _Complaints, other: dict, end_day, clock: _Clock) -> pd.DataFrame:
    """All contacts, numbered K0000001... by opening day, then customer (originals first)."""
    comp = _complaint_rows(c, end_day)
    rows = {key: np.r_[comp[key], value] for key, value in _other_rows(other, end_day).items()}
    order = np.lexsort((rows["is_repeat"], rows["cust"], rows["day"]))
    rank = np.empty(order.size, np.int64)
    rank[order] = np.arange(order.size)
    ids = _ids("K", rank, 7)
    repeat_of = np.where(rows["repeat_of"] >= 0, ids[np.maximum(rows["repeat_of"], 0)], None)
    return _frame(schema.CONTACTS, {
        schema.CONTACT_ID: ids, schema.CUSTOMER_ID: _ids("C", rows["cust"], 6),
        schema.OPENED_AT: clock.dates(rows["day"]), schema.CHANNEL: _labels(rows["channel"], schema.CHANNELS),
        schema.KIND: _labels(rows["kind"], schema.CONTACT_KINDS), schema.RESOLVED_AT: clock.dates(rows["resolved"]),
        schema.FIRST_CONTACT_RESOLUTION: rows["fcr"], schema.REPEAT_OF: repeat_of,
        schema.RECOVERED: rows["recovered"], schema.RECOVERY_ACTION: _labels(rows["action"], schema.RECOVERY_ACTIONS),
        schema.COMPENSATION: rows["compensation"],
    })


def _campaigns_table(camps: list[_Campaign], clock: _Clock) -> pd.DataFrame:
    parts = [pd.DataFrame({
        schema.CAMPAIGN_ID: camp.cid, schema.CUSTOMER_ID: _ids("C", camp.who, 6),
        schema.ASSIGNED_AT: clock.dates(np.full(camp.who.size, camp.day)),
        schema.ARM: np.where(camp.treated, schema.TREATMENT, schema.CONTROL), schema.ASSIGNMENT: camp.assignment,
        schema.ACTION: camp.action, schema.COST: np.where(camp.treated, camp.cost, 0.0),
    }) for camp in camps]
    data = pd.concat(parts, ignore_index=True)
    return _frame(schema.CAMPAIGNS, {col: data[col] for col in data.columns})


def _departures_table(departed: np.ndarray, clock: _Clock) -> pd.DataFrame:
    who = np.flatnonzero(departed < clock.days)
    return _frame(schema.MANAGER_DEPARTURES, {
        schema.ACCOUNT_MANAGER_ID: _ids("AM", who, 4), schema.DEPARTED_AT: clock.dates(departed[who]),
    })


# ---- truth --------------------------------------------------------------------------------


def _cox_log_hr(p: SynthParams) -> dict[str, float]:
    """Planted log hazard ratios, named as a Cox model stratified by contract would name them."""
    log = math.log
    out = {"customer_type[group]": log(p.hr_group), "satisfaction": log(p.hr_satisfaction),
           "log2_value": log(p.hr_value_doubling), "wallet_share": log(p.hr_wallet_share),
           "below_parity": log(p.hr_below_parity),
           "complaint[open]": log(p.hr_complaint_open), "complaint[recovered]": log(p.hr_recovered),
           "complaint[failed]": log(p.hr_failed), "manager_departed": log(p.hr_manager_departure),
           f"campaign[{p.rct_id}]": log(p.hr_campaign), f"campaign[{p.outreach_id}]": log(p.hr_outreach)}
    for q, hr in zip(QUADRANTS[1:], p.hr_quadrant[1:]):
        out[f"quadrant[{q}]"] = log(hr / p.hr_quadrant[0])
    out.update({f"region[{r}]": 0.0 for r in REGIONS[1:]})
    return out


_DEFINITIONS = {
    "log2_value": "log2(monthly_value / median monthly_value of all customers)",
    "below_parity": "relative_service_level < 1",
    "quadrant": "value_satisfaction_quadrant(monthly_value, satisfaction): value above the median of all "
                "customers, satisfaction >= satisfaction_threshold; reference level consolidate",
    "complaint": "state of the latest original complaint (repeat_of missing): open from opened_at to "
                 "resolved_at (to end_date if missing), then recovered or failed until the next opens",
    "manager_departed": "group customer signed up on or before departed_at, from departed_at for "
                        "hr_manager_departure_months calendar months",
    "campaign": "treatment arm, from assigned_at for campaign_effect_months calendar months",
    "outreach_recent_complaint": "complaint open on assigned_at, or the latest complaint failed and was "
                                 "resolved within outreach_recent_days before assigned_at",
    "time": "tenure_months = days / DAYS_PER_MONTH; changes happen at whole days; churn within a day is "
            "recorded at the next day (end_date)",
    "effects": "treated minus control potential outcomes (same Exp(1) draw and revenue noise): churn_Hm = "
               "churned within H calendar months after assigned_at, revenue_Hm = revenue in the H calendar "
               "months from the assignment month; ate over enrolled, att over treated",
}


def _labelled(p: SynthParams) -> dict:
    """The parameters as a dict; tuples become dicts keyed by their labels."""
    d = asdict(p)
    labels = {"contract_mix": schema.CONTRACTS, "weibull_scale": schema.CONTRACTS,
              "weibull_shape": schema.CONTRACTS, "hr_quadrant": QUADRANTS,
              "recovery_action_probs": schema.RECOVERY_ACTIONS, "recovery_intercepts": schema.RECOVERY_ACTIONS,
              "channel_probs": schema.CHANNELS, "end_reason_weights": schema.END_REASONS,
              "outreach_coefs": ("intercept", "month_to_month", "log2_value", "recent_complaint", "tenure_months")}
    for key, names in labels.items():
        d[key] = dict(zip(names, d[key]))
    return d


def _complaint_facts(contacts: pd.DataFrame) -> dict:
    complaints = contacts[contacts[schema.KIND] == schema.COMPLAINT]
    original = complaints[complaints[schema.REPEAT_OF].isna()]
    repeated = original[schema.CONTACT_ID].isin(complaints[schema.REPEAT_OF].dropna())
    fcr = original[schema.FIRST_CONTACT_RESOLUTION].astype(bool)
    resolved = original[schema.RECOVERED].notna()
    return {"count": len(original), "repeat_contacts": len(complaints) - len(original),
            "fcr_rate": _mean(fcr), "repeat_rate": _mean(repeated), "repeat_rate_non_fcr": _mean(repeated[~fcr]),
            "resolved": int(resolved.sum()),
            "recovered_share": _mean(original.loc[resolved, schema.RECOVERED].astype(bool))}


def _manager_facts(departed: np.ndarray, clock: _Clock) -> dict:
    gone = departed < clock.days
    years = float(np.minimum(departed, clock.days).sum() / DAYS_PER_YEAR)
    return {"managers": int(departed.size), "departures": int(gone.sum()), "manager_years": years,
            "departure_rate_per_year": int(gone.sum()) / years if years else float("nan")}


def _top_share(revenue: pd.DataFrame, n: int, share: float = 0.2) -> float:
    total = revenue.groupby(schema.CUSTOMER_ID, observed=True)[schema.REVENUE_AMOUNT].sum()
    total = np.sort(np.r_[total.to_numpy(), np.zeros(n - len(total))])[::-1]
    return float(total[:max(1, round(share * n))].sum() / total.sum())


def _realised(tables, pop: _Population, departed, clock: _Clock) -> dict:
    cust = tables[schema.CUSTOMERS]
    churn = cust[schema.CHURNED]
    by_contract = churn.groupby(cust[schema.CONTRACT], observed=False).mean()
    by_quadrant = churn.groupby(pd.Categorical.from_codes(pop.quadrant, list(QUADRANTS)), observed=False).mean()
    return {"customers": len(cust), "churned": int(churn.sum()), "churn_rate": _mean(churn),
            "churn_rate_by_contract": {str(k): float(v) for k, v in by_contract.items()},
            "churn_rate_by_quadrant": {str(k): float(v) for k, v in by_quadrant.items()},
            "end_reason_shares": {str(k): float(v) for k, v in cust[schema.END_REASON].value_counts(
                normalize=True, sort=False).items()},
            "value_median": pop.value_median, "top20_revenue_share": _top_share(tables[schema.REVENUE], len(cust)),
            "managers": _manager_facts(departed, clock), "complaints": _complaint_facts(tables[schema.CONTACTS]),
            "rows": {name: len(df) for name, df in tables.items()}}


def _campaign_truth(camp: _Campaign, clock: _Clock, p: SynthParams, effects: dict) -> dict:
    return {"assignment": camp.assignment, "action": camp.action, "cost": camp.cost,
            "assigned_at": str(clock.dates([camp.day])[0].date()), "hr": camp.hr, "log_hr": math.log(camp.hr),
            "revenue_uplift": camp.uplift, "effect_months": p.campaign_effect_months,
            "enrolled": int(camp.who.size), "treated": int(camp.treated.sum()),
            "mean_propensity": _mean(camp.propensity), **effects}


def _plain(x):
    """JSON-ready copy: numpy scalars to Python, floats to 10 significant digits, NaN to None."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(f"{x:.10g}") if math.isfinite(x) else None
    return x


# ---- public entry points -------------------------------------------------------------------------


def _uplift(camps: list[_Campaign], clock: _Clock, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Revenue uplift per customer and the month index it starts (treated customers only)."""
    uplift, first = np.zeros(n), np.full(n, -1)
    for camp in camps:
        who = camp.who[camp.treated]
        uplift[who] = camp.uplift
        first[who] = clock.month_index(camp.day)
    return uplift, first


def generate(n: int = 20000, months: int = 36, *, seed: int = 7, params: SynthParams | None = None,
             start: str = "2023-01-01") -> tuple[dict[str, pd.DataFrame], dict]:
    """Simulate a customer base with planted effects; return the tables and the truth.

    Customers sign up uniformly over ``[start, start + months)``; observation ends at
    ``as_of = start + months`` (calendar months). Every random component has its own stream
    of ``np.random.default_rng(seed)``, so changing one effect (say ``hr_recovered``) leaves
    the covariates, complaints and contacts as they were.

    Parameters
    ----------
    n : int
        Number of customers.
    months : int
        Length of the observation window in calendar months.
    seed : int
        Seed; the same seed and arguments give identical tables and truth.
    params : SynthParams, optional
        The planted effects; defaults to ``SynthParams()``.
    start : str
        First day of the window.

    Returns
    -------
    tables : dict of DataFrame
        One frame per table of ``schema.TABLES`` (customers, revenue, contacts, campaigns,
        manager_departures), with the contract's columns, dtypes and sort order.
    truth : dict
        JSON-ready: ``arguments``, ``params``, ``cox_log_hr`` (planted log hazard ratios),
        ``quadrant_order_by_risk``, ``campaigns`` (planted and potential-outcome effects),
        ``realised`` (churn rates, revenue concentration, complaint and manager facts) and
        ``definitions`` (how each covariate is built from the tables).

    Example
    -------
    >>> tables, truth = generate(1000, seed=3)
    >>> tables["customers"].shape[0], truth["arguments"]["as_of"]
    (1000, '2026-01-01')
    """
    if n < 1 or months < 1:
        raise ValueError(f"generate needs n >= 1 and months >= 1, got n={n}, months={months}")
    p = params if params is not None else SynthParams()
    clock = _clock(start, months)
    streams = np.random.default_rng(seed).spawn(7)
    pop = _population(streams[0], n, clock, p)
    c = _complaints(streams[1], pop, clock, p)
    other = _other_contacts(streams[2], pop, clock, p)
    departed = _manager_departures(streams[3], pop, clock, p)
    events = _complaint_events(c, p) + _manager_events(pop, departed, clock, p)
    churn, camps = _simulate_churn(streams[4], pop, c, events, clock, p)
    churned = np.isfinite(churn)
    end_day = _end_day(churn, pop.signup, clock.days)
    sigma = p.revenue_noise_sigma
    noise = np.exp(streams[5].normal(-sigma ** 2 / 2, sigma, (n, clock.months.size)))
    everyone = np.arange(n)
    revenue = _revenue_matrix(everyone, end_day, *_uplift(camps, clock, n), pop, c, clock, p, noise)
    active = _overlap(pop.signup, end_day, clock.edges[:-1], clock.edges[1:]) > 0
    tables = {
        schema.CUSTOMERS: _customers_table(pop, clock, churned, end_day,
                                           _end_reasons(streams[6], pop, c, churned, end_day, p)),
        schema.REVENUE: _revenue_table(revenue, clock, active),
        schema.CONTACTS: _contacts_table(c, other, end_day, clock),
        schema.CAMPAIGNS: _campaigns_table(camps, clock),
        schema.MANAGER_DEPARTURES: _departures_table(departed, clock),
    }
    campaigns = {camp.cid: _campaign_truth(camp, clock, p, _campaign_effects(camp, pop, c, clock, p, noise))
                 for camp in camps}
    truth = {
        "generator": "helpers.synth.generate",
        "arguments": {"n": n, "months": months, "seed": seed, "start": str(clock.start.date()),
                      "as_of": str(clock.as_of.date())},
        "params": _labelled(p), "cox_log_hr": _cox_log_hr(p), "definitions": _DEFINITIONS,
        "quadrant_order_by_risk": [q for _, q in sorted(zip(p.hr_quadrant, QUADRANTS))],
        "campaigns": campaigns, "realised": _realised(tables, pop, departed, clock),
    }
    return tables, _plain(truth)


def write(tables: dict[str, pd.DataFrame], truth: dict, folder: str | Path | None = None) -> Path:
    """Write ``<folder>/<table>.parquet`` for every table and ``truth.json``, atomically.

    Each file is first written under a hidden temporary name in the same folder and then
    moved into place with ``os.replace``, so an interrupted run leaves no half-written file.
    Same tables -> same bytes: parquet via pyarrow without the index, JSON with sorted keys
    and floats to 10 significant digits.

    Parameters
    ----------
    tables : dict of DataFrame
        As returned by `generate`.
    truth : dict
        As returned by `generate`.
    folder : str or Path, optional
        Output folder (created if needed); defaults to ``config.SYNTHETIC``.

    Returns
    -------
    Path
        The folder written.

    Example
    -------
    >>> import tempfile
    >>> out = write(*generate(500, seed=1), tempfile.mkdtemp())
    >>> sorted(f.name for f in out.iterdir())[-1]
    'truth.json'
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = Path(config.SYNTHETIC if folder is None else folder)
    folder.mkdir(parents=True, exist_ok=True)
    staged = []
    try:
        for name, df in sorted(tables.items()):
            tmp = folder / f".{name}.parquet.tmp-{os.getpid()}"
            staged.append((tmp, folder / f"{name}.parquet"))
            pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp)
        tmp = folder / f".truth.json.tmp-{os.getpid()}"
        staged.append((tmp, folder / "truth.json"))
        tmp.write_text(json.dumps(_plain(truth), sort_keys=True, indent=2) + "\n", encoding="utf-8")
        for tmp, final in staged:
            os.replace(tmp, final)
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
    return folder

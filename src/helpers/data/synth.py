"""Synthetic customer-service data with planted, known effects.

`generate` simulates customers, their monthly revenue, their service contacts, two retention
campaigns and account-manager departures, and returns the tables of the data contract
(`helpers.data.schema`) together with the truth: every planted parameter and the realised facts an
analysis should recover. `write` stores both, deterministically and atomically;
`campaign_effects` gives what the tables cannot show, each enrolled customer's planted campaign effect,
and `hidden_trait` each customer's unrecorded trait (a planted hidden confounder, off by default).
`write_chunked` simulates a large population chunk by chunk and streams it to the same files
(10 million customers in well under 4 GiB of memory).

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

import contextlib
import dataclasses
import functools
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import config
from helpers.data import schema
from helpers.data.segments import QUADRANT, QUADRANTS, value_satisfaction_quadrant

REGIONS = ("north", "south", "east", "west")
DAYS_PER_YEAR = 365.25

# allowed values the generator treats specially, checked against the contract at import
_INQUIRY, _REQUEST = "inquiry", "request"
_PAID_ACTIONS = ("credit", "refund")
if not ({_INQUIRY, _REQUEST} <= set(schema.CONTACT_KINDS) and set(_PAID_ACTIONS) <= set(schema.RECOVERY_ACTIONS)):
    raise ImportError("helpers.data.synth is out of step with helpers.data.schema: contact kinds or recovery actions")

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
    campaign_quadrant_hr, campaign_sat_slope : how both campaigns' hazard ratio varies: while
        it acts, a treated customer's hazard ratio is ``hr * campaign_quadrant_hr[quadrant] *
        exp(campaign_sat_slope * (sat - centre))`` (``hr``: hr_campaign or hr_outreach; the
        true satisfaction and its quadrant). The defaults plant no heterogeneity.
    campaign_quadrant_uplift : revenue uplift multiplier of both campaigns by quadrant.
    revenue_noise_sigma : sigma of the mean-one lognormal monthly noise.
    spend_dip_open : revenue falls by this share of the month a complaint is open.
    end_reason_weights : base weights of moved, price, service, non-payment.
    service_complaint_mult, service_sat_slope : service weight times ``mult`` when a
        complaint is open or failed at churn, and times ``exp(slope * (sat - centre))``.
    price_high_value_mult : price weight multiplier above the median monthly value.
    end_reason_missing : share of churners whose end reason is missing.
    hidden_share, hr_hidden, hidden_recovery_or : a hidden confounder of the recovery paradox:
        an unrecorded trait U of a customer, true with probability ``hidden_share`` (drawn from
        a stream of its own, also chunk by chunk), multiplies the churn hazard by ``hr_hidden``
        throughout and the odds of a complaint being recovered by ``hidden_recovery_or``. U is
        in no table: `hidden_trait` gives it. The defaults plant none and change no table.
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
    campaign_quadrant_hr: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0)
    campaign_sat_slope: float = 0.0
    campaign_quadrant_uplift: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0)
    revenue_noise_sigma: float = 0.10
    spend_dip_open: float = 0.15
    end_reason_weights: tuple[float, ...] = (0.20, 0.35, 0.30, 0.15)
    service_complaint_mult: float = 2.0
    service_sat_slope: float = -0.2
    price_high_value_mult: float = 1.5
    end_reason_missing: float = 0.05
    hidden_share: float = 0.0
    hr_hidden: float = 1.0
    hidden_recovery_or: float = 1.0

    def __post_init__(self) -> None:
        """Refuse, naming the field, a value the simulation cannot use (before any draw is made)."""
        problems = [f"{name}={getattr(self, name)!r}: {need}" for name, need in _field_problems(self)]
        if problems:
            raise ValueError("SynthParams: " + "; ".join(problems))


_SHARES = ("group_share", "satisfaction_missing", "wallet_missing", "fcr_prob", "repeat_prob", "rct_share",
           "rct_treat_prob", "spend_dip_open", "end_reason_missing", "hidden_share")  # in [0, 1]
_POSITIVE = ("satisfaction_sd", "value_median", "value_sigma", "competitor_sd", "wallet_a_floor", "wallet_b",
             "resolution_median_days", "resolution_sigma", "request_resolution_mean_days", "customers_per_manager",
             "hidden_recovery_or", "service_complaint_mult", "price_high_value_mult")  # above 0
_RATES = ("complaint_rate", "inquiry_rate", "request_rate", "compliment_rate", "manager_departure_rate",
          "revenue_noise_sigma")  # 0 or more
_LENGTHS = {"contract_mix": schema.CONTRACTS, "weibull_scale": schema.CONTRACTS, "weibull_shape": schema.CONTRACTS,
            "hr_quadrant": QUADRANTS, "campaign_quadrant_hr": QUADRANTS, "campaign_quadrant_uplift": QUADRANTS,
            "recovery_action_probs": schema.RECOVERY_ACTIONS, "recovery_intercepts": schema.RECOVERY_ACTIONS,
            "channel_probs": schema.CHANNELS, "end_reason_weights": schema.END_REASONS,
            "outreach_coefs": range(5), "compensation_range": range(2), "competitor_range": range(2)}
_WEIGHTS = ("contract_mix", "recovery_action_probs", "channel_probs", "end_reason_weights")  # >= 0, sum above 0
_MONTHS = ("hr_manager_departure_months", "campaign_effect_months")  # whole months, 1 or more


def _field_problems(p: SynthParams):
    """(field, what it needs) for every field of ``p`` the simulation cannot use."""
    def numbers(name):
        value = getattr(p, name)
        return list(value) if isinstance(value, tuple) else [value]

    for name, labels in _LENGTHS.items():
        if len(getattr(p, name)) != len(labels):
            yield name, f"give {len(labels)} values" + (f" ({', '.join(labels)})" if isinstance(labels, tuple) else "")
    for f in fields(p):
        values = numbers(f.name)
        if f.type in ("str", str):
            continue
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
            yield f.name, "must be finite numbers"
            continue
        if (f.name.startswith("hr_") and not f.name.endswith("_months")) or f.name in (
                "weibull_scale", "weibull_shape", "campaign_quadrant_hr"):
            if not all(v > 0 for v in values):
                yield f.name, "a hazard ratio or Weibull parameter must be above 0"
        elif f.name in _SHARES and not all(0 <= v <= 1 for v in values):
            yield f.name, "a share must lie in [0, 1]"
        elif f.name in _POSITIVE and not all(v > 0 for v in values):
            yield f.name, "must be above 0"
        elif (f.name in _RATES or f.name == "campaign_quadrant_uplift") and not all(v >= 0 for v in values):
            yield f.name, "must be 0 or more"
        elif f.name in _WEIGHTS and not (all(v >= 0 for v in values) and sum(values) > 0):
            yield f.name, "weights must be 0 or more with a positive sum"
        elif f.name in _MONTHS and not all(v >= 1 and float(v).is_integer() for v in values):
            yield f.name, "must be a whole number of months, 1 or more"
        elif f.name in ("compensation_range", "competitor_range") and len(values) == 2 and not (
                0 <= values[0] <= values[1]):
            yield f.name, "give (low, high) with 0 <= low <= high"


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
        days = np.asarray(days, dtype=float)
        if np.array_equal(days, np.floor(days), equal_nan=True):  # whole days: a fast exact cast
            return self.start + pd.to_timedelta(days.astype("timedelta64[D]").astype("timedelta64[ns]"))
        return self.start + pd.to_timedelta(days, unit="D")

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
    """Per-customer arrays (index = customer number); ``*_rec`` are the recorded values, ``hidden`` is U."""

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
    hidden: np.ndarray
    eta: np.ndarray | None = None

    @property
    def n(self) -> int:
        return len(self.signup)


def _population(rng: np.random.Generator, n: int, clock: _Clock, p: SynthParams,
                median: float | None = None, hidden: np.ndarray | None = None) -> _Population:
    """Draw the fixed covariates; everything recorded is rounded as it will be stored.

    ``median`` is the median monthly value the value covariates are centred on; by default
    that of these ``n`` customers (a chunk of a larger population passes the overall one).
    ``hidden`` is the trait U (`_hidden`); by default no customer has it.
    """
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
    median = float(np.median(value)) if median is None else median
    quadrant = value_satisfaction_quadrant(value, sat, value_threshold=median,
                                           satisfaction_threshold=p.satisfaction_threshold)
    pop = _Population(signup, contract, group, region, sat, sat_rec, value, median,
                      np.log2(value / median), value > median, quadrant.cat.codes.to_numpy(),
                      rsl, rsl < 1.0, wallet, wallet_rec, _assign_managers(rng, group, p),
                      np.zeros(n, bool) if hidden is None else hidden)
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


def _hidden(rng: np.random.Generator, n: int, p: SynthParams) -> np.ndarray:
    """The unrecorded trait U: ``Uniform < hidden_share``, from its own stream (no other draw moves)."""
    return rng.random(n) < p.hidden_share


def _linear_predictor(pop: _Population, p: SynthParams) -> np.ndarray:
    """``x' beta`` of the fixed covariates and U (the contract enters through the baseline)."""
    return (math.log(p.hr_group) * pop.group
            + math.log(p.hr_satisfaction) * (pop.sat - p.satisfaction_centre)
            + math.log(p.hr_value_doubling) * pop.log2_value
            + math.log(p.hr_wallet_share) * pop.wallet
            + math.log(p.hr_below_parity) * pop.below_parity
            + np.log(np.asarray(p.hr_quadrant))[pop.quadrant]
            + math.log(p.hr_hidden) * pop.hidden)  # last: without U it adds 0.0, which changes no bit


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
    """Complaints with their recovery action, compensation, outcome (U shifts its log odds) and
    repeat-contact draws."""
    cust, opened, resolved, fcr = _complaint_episodes(rng, pop, clock, p)
    k = cust.size
    action = rng.choice(len(schema.RECOVERY_ACTIONS), k, p=_probs(p.recovery_action_probs))
    paid = np.isin(np.asarray(schema.RECOVERY_ACTIONS)[action], _PAID_ACTIONS)
    amount = np.maximum(np.round(pop.value[cust] * rng.uniform(*p.compensation_range, k), 2), 0.01)
    logit = (np.asarray(p.recovery_intercepts)[action] + p.recovery_fcr_coef * fcr
             + p.recovery_delay_coef * np.log1p(resolved - opened)
             + math.log(p.hidden_recovery_or) * pop.hidden[cust])
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

    def __add__(self, other: _Events) -> _Events:
        return _Events(*(np.concatenate([a, b]) for a, b in zip(
            (self.cust, self.day, self.kind, self.value), (other.cust, other.day, other.kind, other.value))))


def _window_events(cust, begin, end, kind: int, hr: float | np.ndarray) -> _Events:
    """Factor ``kind`` equals ``hr`` (one for all, or one per customer) on [begin, end) and 1 afterwards."""
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
    """One campaign: enrolled customers (sorted), arm and potential churn days under both arms.

    ``hr`` and ``uplift`` are the planted effects before heterogeneity; ``hr_each`` and
    ``uplift_each`` those of each enrolled customer (`_campaign_effect`).
    """

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
    hr_each: np.ndarray
    uplift_each: np.ndarray


def _campaign_effect(pop: _Population, who: np.ndarray, hr: float, uplift: float,
                     p: SynthParams) -> tuple[np.ndarray, np.ndarray]:
    """Hazard ratio and revenue uplift of each customer in ``who`` by quadrant and true satisfaction."""
    q = pop.quadrant[who]
    by_sat = np.exp(p.campaign_sat_slope * (pop.sat[who] - p.satisfaction_centre))
    return (hr * np.asarray(p.campaign_quadrant_hr)[q] * by_sat,
            uplift * np.asarray(p.campaign_quadrant_uplift)[q])


def _treated_churn(who, day: int, hr: np.ndarray, pop, events, exp1, clock: _Clock, p) -> np.ndarray:
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
    hr, uplift = _campaign_effect(pop, who, p.hr_campaign, p.revenue_uplift_campaign, p)
    churn_t = _treated_churn(who, day, hr, pop, events, exp1, clock, p)
    return _Campaign(p.rct_id, schema.ASSIGNMENTS[0], p.rct_action, p.rct_cost, p.hr_campaign,
                     p.revenue_uplift_campaign, day, who, treated, churn_t, churn0[who], propensity, hr, uplift)


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
    hr, uplift = _campaign_effect(pop, who, p.hr_outreach, p.revenue_uplift_outreach, p)
    churn_t = _treated_churn(who, day, hr, pop, events, exp1, clock, p)
    return _Campaign(p.outreach_id, schema.ASSIGNMENTS[1], p.outreach_action, p.outreach_cost, p.hr_outreach,
                     p.revenue_uplift_outreach, day, who, treated, churn_t, churn1[who], propensity, hr, uplift)


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
    cell = (r[sel, None] * lo.size + np.arange(lo.size)).ravel()  # (row, month), flat
    open_days = np.bincount(cell, weights=_overlap(c.opened[sel], stop, lo, hi).ravel(),
                            minlength=active.size).reshape(active.shape)
    month = np.arange(lo.size)
    on = (month >= uplift_from[:, None]) & (month < uplift_from[:, None] + p.campaign_effect_months)
    return (pop.value[who, None] * active / length * noise[who] * (1.0 - p.spend_dip_open * open_days / length)
            * (1.0 + uplift[:, None] * on))


def _potential_outcomes(camp: _Campaign, pop, c, clock: _Clock, p, noise) -> tuple[dict, dict]:
    """Per enrolled customer: treated-minus-control outcomes and the observed outcome, by name."""
    who = camp.who
    first = int(clock.month_index(camp.day))
    end_t = _end_day(camp.churn_treated, pop.signup[who], clock.days)
    end_c = _end_day(camp.churn_control, pop.signup[who], clock.days)
    rev_t = _revenue_matrix(who, end_t, camp.uplift_each, np.full(who.size, first), pop, c, clock, p, noise)
    rev_c = _revenue_matrix(who, end_c, np.zeros(who.size), np.full(who.size, first), pop, c, clock, p, noise)
    diff, observed = {}, {}
    for h in (6, 12):
        cut = clock.add_months(np.array([camp.day]), h)[0]
        diff[f"churn_{h}m"] = (camp.churn_treated < cut).astype(float) - (camp.churn_control < cut)
        diff[f"revenue_{h}m"] = rev_t[:, first:first + h].sum(1) - rev_c[:, first:first + h].sum(1)
        observed[f"churn_{h}m"] = np.where(camp.treated, camp.churn_treated, camp.churn_control) < cut
        observed[f"revenue_{h}m"] = np.where(camp.treated, rev_t[:, first:first + h].sum(1),
                                             rev_c[:, first:first + h].sum(1))
    return diff, observed


def _campaign_sums(camp: _Campaign, pop, c, clock: _Clock, p, noise) -> dict:
    """Sums behind the potential-outcome effects; they add over customers (and chunks).

    ``ate`` and ``att`` sum treated-minus-control outcomes over the enrolled and the treated;
    ``observed_treated`` and ``observed_control`` sum the observed outcome over each arm;
    ``by_quadrant`` counts the enrolled and sums ``ate`` per quadrant (arrays in `QUADRANTS`
    order). `_campaign_effects` turns them into means.
    """
    diff, observed = _potential_outcomes(camp, pop, c, clock, p, noise)
    t, q, m = camp.treated, pop.quadrant[camp.who], len(QUADRANTS)
    return {
        "enrolled": int(camp.who.size), "treated": int(t.sum()), "propensity": _total(camp.propensity),
        "ate": {k: _total(v) for k, v in diff.items()}, "att": {k: _total(v[t]) for k, v in diff.items()},
        "observed_treated": {k: _total(v[t]) for k, v in observed.items()},
        "observed_control": {k: _total(v[~t]) for k, v in observed.items()},
        "by_quadrant": {"enrolled": np.bincount(q, minlength=m),
                        "ate": {k: np.bincount(q, weights=v, minlength=m) for k, v in diff.items()}},
    }


def _campaign_effects(s: dict) -> dict:
    """Means of `_campaign_sums`: ate over the enrolled, att over the treated, naive difference,
    and the enrolled and ate of each quadrant."""
    control = s["enrolled"] - s["treated"]
    q = s["by_quadrant"]
    return {
        "ate": {k: _ratio(v, s["enrolled"]) for k, v in s["ate"].items()},
        "att": {k: _ratio(v, s["treated"]) for k, v in s["att"].items()},
        "naive_difference": {k: _ratio(v, s["treated"]) - _ratio(s["observed_control"][k], control)
                             for k, v in s["observed_treated"].items()},
        "enrolled_by_quadrant": dict(zip(QUADRANTS, q["enrolled"])),
        "ate_by_quadrant": {name: {k: _ratio(v[i], q["enrolled"][i]) for k, v in q["ate"].items()}
                            for i, name in enumerate(QUADRANTS)},
    }


def _total(x) -> float:
    return float(np.asarray(x, dtype=float).sum())


def _ratio(part, whole) -> float:
    """part / whole, NaN when whole is 0 (the mean of nothing)."""
    return float(part / whole) if whole else float("nan")


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
    """``prefix`` + zero-padded ``number + 1`` (wider when the number needs it)."""
    spec = f"{prefix}%0{width}d"
    return np.array([spec % x for x in (np.asarray(numbers) + 1).tolist()], dtype=object)


def _digits(count: int) -> int:
    """Digits of the largest of ``count`` identifiers numbered from 1."""
    return len(str(max(int(count), 1)))


@dataclass(frozen=True)
class _Numbering:
    """How identifiers are spelled: prefix + (offset + number + 1), zero-padded to a width.

    The widths grow with the counts so that identifiers of one table sort in numeric order;
    a chunk of a larger population shifts the customer offset.
    """

    customer_width: int = 6
    contact_width: int = 7
    manager_width: int = 4
    customer_offset: int = 0

    @classmethod
    def fitting(cls, customers: int, managers: int) -> _Numbering:
        return cls(customer_width=max(6, _digits(customers)), manager_width=max(4, _digits(managers)))

    def customers(self, numbers) -> np.ndarray:
        return _ids("C", np.asarray(numbers) + self.customer_offset, self.customer_width)

    def contacts(self, numbers) -> np.ndarray:
        return _ids("K", numbers, max(self.contact_width, _digits(len(numbers))))

    def managers(self, numbers) -> np.ndarray:
        return _ids("AM", numbers, self.manager_width)


def _frame(name: str, data: dict) -> pd.DataFrame:
    """Columns in contract order, cast to the contract's dtypes, sorted, index reset."""
    table = schema.TABLES[name]
    df = pd.DataFrame({col: pd.Series(data[col]).astype(schema.pandas_dtype(table.column(col)))
                       for col in table.names})
    return df.sort_values(list(table.sort_by), kind="mergesort").reset_index(drop=True)


def _customers_table(pop, clock: _Clock, churned, end_day, reason, ids: _Numbering) -> pd.DataFrame:
    signup, end = pd.Series(clock.dates(pop.signup)), pd.Series(clock.dates(end_day))
    manager = np.where(pop.manager >= 0, ids.managers(pop.manager), None)
    return _frame(schema.CUSTOMERS, {
        schema.CUSTOMER_ID: ids.customers(np.arange(pop.n)), schema.SIGNUP_DATE: signup, schema.END_DATE: end,
        schema.CHURNED: churned, schema.TENURE: schema.tenure_from_dates(signup, end),
        schema.CONTRACT: _labels(pop.contract, schema.CONTRACTS),
        schema.CUSTOMER_TYPE: np.where(pop.group, schema.GROUP, schema.INDIVIDUAL),
        schema.REGION: _labels(pop.region, REGIONS), schema.MONTHLY_VALUE: pop.value,
        schema.SATISFACTION: pop.sat_rec, schema.RELATIVE_SERVICE: np.where(np.isnan(pop.sat_rec), np.nan, pop.rsl),
        schema.WALLET_SHARE: pop.wallet_rec, schema.ACCOUNT_MANAGER_ID: manager,
        schema.END_REASON: _labels(reason, schema.END_REASONS),
    })


def _revenue_table(matrix: np.ndarray, clock: _Clock, active: np.ndarray, ids: _Numbering) -> pd.DataFrame:
    cust, month = np.nonzero(active)
    return _frame(schema.REVENUE, {
        schema.CUSTOMER_ID: ids.customers(cust), schema.MONTH: clock.months[month],
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


def _contacts_table(c: _Complaints, other: dict, end_day, clock: _Clock, ids: _Numbering) -> pd.DataFrame:
    """All contacts, numbered K0000001... by opening day, then customer (originals first)."""
    comp = _complaint_rows(c, end_day)
    rows = {key: np.r_[comp[key], value] for key, value in _other_rows(other, end_day).items()}
    order = np.lexsort((rows["is_repeat"], rows["cust"], rows["day"]))
    rank = np.empty(order.size, np.int64)
    rank[order] = np.arange(order.size)
    rows = {key: value[order] for key, value in rows.items()}  # in id order: the sort below is cheap
    contact = ids.contacts(np.arange(order.size))
    repeat_of = np.where(rows["repeat_of"] >= 0, contact[rank[np.maximum(rows["repeat_of"], 0)]], None)
    return _frame(schema.CONTACTS, {
        schema.CONTACT_ID: contact, schema.CUSTOMER_ID: ids.customers(rows["cust"]),
        schema.OPENED_AT: clock.dates(rows["day"]), schema.CHANNEL: _labels(rows["channel"], schema.CHANNELS),
        schema.KIND: _labels(rows["kind"], schema.CONTACT_KINDS), schema.RESOLVED_AT: clock.dates(rows["resolved"]),
        schema.FIRST_CONTACT_RESOLUTION: rows["fcr"], schema.REPEAT_OF: repeat_of,
        schema.RECOVERED: rows["recovered"], schema.RECOVERY_ACTION: _labels(rows["action"], schema.RECOVERY_ACTIONS),
        schema.COMPENSATION: rows["compensation"],
    })


def _campaigns_table(camps: list[_Campaign], clock: _Clock, ids: _Numbering) -> pd.DataFrame:
    parts = [pd.DataFrame({
        schema.CAMPAIGN_ID: camp.cid, schema.CUSTOMER_ID: ids.customers(camp.who),
        schema.ASSIGNED_AT: clock.dates(np.full(camp.who.size, camp.day)),
        schema.ARM: np.where(camp.treated, schema.TREATMENT, schema.CONTROL), schema.ASSIGNMENT: camp.assignment,
        schema.ACTION: camp.action, schema.COST: np.where(camp.treated, camp.cost, 0.0),
    }) for camp in camps]
    data = pd.concat(parts, ignore_index=True)
    return _frame(schema.CAMPAIGNS, {col: data[col] for col in data.columns})


def _departures_table(departed: np.ndarray, clock: _Clock, ids: _Numbering) -> pd.DataFrame:
    who = np.flatnonzero(departed < clock.days)
    return _frame(schema.MANAGER_DEPARTURES, {
        schema.ACCOUNT_MANAGER_ID: ids.managers(who), schema.DEPARTED_AT: clock.dates(departed[who]),
    })


# ---- truth --------------------------------------------------------------------------------


def _cox_log_hr(p: SynthParams) -> dict[str, float]:
    """Planted log hazard ratios, named as a Cox model stratified by contract would name them (U has no column)."""
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
    "campaign_heterogeneity": "a treated customer's hazard ratio while the campaign acts is hr * "
                              "campaign_quadrant_hr[quadrant] * exp(campaign_sat_slope * (satisfaction - "
                              "satisfaction_centre)), and the revenue uplift revenue_uplift * "
                              "campaign_quadrant_uplift[quadrant], by the true satisfaction (the recorded one where "
                              "not missing); hr_by_quadrant is at satisfaction_centre; cox_log_hr holds log(hr); "
                              "ate_by_quadrant are the effects within each quadrant",
    "outreach_recent_complaint": "complaint open on assigned_at, or the latest complaint failed and was "
                                 "resolved within outreach_recent_days before assigned_at",
    "time": "tenure_months = days / DAYS_PER_MONTH; changes happen at whole days; churn within a day is "
            "recorded at the next day (end_date)",
    "effects": "treated minus control potential outcomes (same Exp(1) draw and revenue noise): churn_Hm = "
               "churned within H calendar months after assigned_at, revenue_Hm = revenue in the H calendar "
               "months from the assignment month; ate over enrolled, att over treated",
    "hidden": "a hidden confounder: the unrecorded trait U of a customer (in no table; synth.hidden_trait gives "
              "it), true with probability hidden_share, multiplies the churn hazard by hr_hidden throughout and the "
              "odds that a complaint is recovered by hidden_recovery_or; cox_log_hr leaves it out. With hr_hidden != 1 "
              "the planted hazard ratios are those given U: without U, a Cox model finds those of covariates "
              "independent of U nearer 1 (non-collapsibility) and that of complaint[recovered] confounded",
}


def _labelled(p: SynthParams) -> dict:
    """The parameters as a dict; tuples become dicts keyed by their labels."""
    d = asdict(p)
    labels = {"contract_mix": schema.CONTRACTS, "weibull_scale": schema.CONTRACTS,
              "weibull_shape": schema.CONTRACTS, "hr_quadrant": QUADRANTS, "campaign_quadrant_hr": QUADRANTS,
              "campaign_quadrant_uplift": QUADRANTS,
              "recovery_action_probs": schema.RECOVERY_ACTIONS, "recovery_intercepts": schema.RECOVERY_ACTIONS,
              "channel_probs": schema.CHANNELS, "end_reason_weights": schema.END_REASONS,
              "outreach_coefs": ("intercept", "month_to_month", "log2_value", "recent_complaint", "tenure_months")}
    for key, names in labels.items():
        d[key] = dict(zip(names, d[key]))
    return d


def _by_code(codes: np.ndarray, k: int, churned: np.ndarray) -> dict:
    return {"customers": np.bincount(codes, minlength=k), "churned": np.bincount(codes[churned], minlength=k)}


def _complaint_counts(contacts: pd.DataFrame) -> dict:
    """Original complaints and their outcomes, counted (``repeated``: got a repeat contact)."""
    complaints = contacts[contacts[schema.KIND] == schema.COMPLAINT]
    original = complaints[complaints[schema.REPEAT_OF].isna()]
    repeated = original[schema.CONTACT_ID].isin(complaints[schema.REPEAT_OF].dropna())
    fcr = original[schema.FIRST_CONTACT_RESOLUTION].astype(bool)
    resolved = original[schema.RECOVERED].notna()
    recovered = original.loc[resolved, schema.RECOVERED].astype(bool)
    return {"count": len(original), "repeat_contacts": len(complaints) - len(original), "fcr": int(fcr.sum()),
            "repeated": int(repeated.sum()), "non_fcr": int((~fcr).sum()),
            "repeated_non_fcr": int(repeated[~fcr].sum()), "resolved": int(resolved.sum()),
            "recovered": int(recovered.sum())}


def _facts(w: _World, contacts: pd.DataFrame, clock: _Clock, p: SynthParams) -> dict:
    """Counts and sums of one simulated population: they add over chunks (`_add`)."""
    pop = w.pop
    return {
        "customers": pop.n, "churned": int(w.churned.sum()), "hidden": int(pop.hidden.sum()),
        "by_contract": _by_code(pop.contract, len(schema.CONTRACTS), w.churned),
        "by_quadrant": _by_code(pop.quadrant, len(QUADRANTS), w.churned),
        "end_reasons": np.bincount(w.reason[w.reason >= 0], minlength=len(schema.END_REASONS)),
        "managers": {"managers": int(w.departed.size), "departures": int((w.departed < clock.days).sum()),
                     "days": int(np.minimum(w.departed, clock.days).sum())},
        "complaints": _complaint_counts(contacts),
        "campaigns": {camp.cid: _campaign_sums(camp, pop, w.c, clock, p, w.noise) for camp in w.camps},
        "rows": {schema.CUSTOMERS: pop.n, schema.REVENUE: int(w.active.sum()), schema.CONTACTS: len(contacts),
                 schema.CAMPAIGNS: sum(int(camp.who.size) for camp in w.camps),
                 schema.MANAGER_DEPARTURES: int((w.departed < clock.days).sum())},
    }


def _add(a, b):
    """Sum of two nested dicts of counts and sums (numbers or numpy arrays)."""
    if isinstance(a, dict):
        return {key: _add(a[key], b[key]) for key in a}
    return a + b


def _rates(counts: dict, labels) -> dict[str, float]:
    return {str(k): _ratio(c, m) for k, c, m in zip(labels, counts["churned"], counts["customers"])}


def _window_revenue(w: _World) -> np.ndarray:
    """Each customer's revenue over the window, summed from the rounded monthly amounts."""
    return np.maximum(np.round(w.revenue, 2), 0.0).sum(1)


def _top_share(revenue: np.ndarray, share: float = 0.2) -> float:
    total = np.sort(revenue)[::-1]
    return float(total[:max(1, round(share * total.size))].sum() / total.sum())


def _complaint_facts(k: dict) -> dict:
    return {"count": k["count"], "repeat_contacts": k["repeat_contacts"], "fcr_rate": _ratio(k["fcr"], k["count"]),
            "repeat_rate": _ratio(k["repeated"], k["count"]),
            "repeat_rate_non_fcr": _ratio(k["repeated_non_fcr"], k["non_fcr"]),
            "resolved": k["resolved"], "recovered_share": _ratio(k["recovered"], k["resolved"])}


def _manager_facts(m: dict) -> dict:
    years = m["days"] / DAYS_PER_YEAR
    return {"managers": m["managers"], "departures": m["departures"], "manager_years": years,
            "departure_rate_per_year": _ratio(m["departures"], years)}


def _realised(f: dict, value_median: float, revenue: np.ndarray) -> dict:
    """Realised facts from (summed) `_facts`; ``revenue`` holds every customer's window revenue."""
    reasons = f["end_reasons"]
    return {"customers": f["customers"], "churned": f["churned"], "churn_rate": _ratio(f["churned"], f["customers"]),
            "churn_rate_by_contract": _rates(f["by_contract"], schema.CONTRACTS),
            "churn_rate_by_quadrant": _rates(f["by_quadrant"], QUADRANTS),
            "end_reason_shares": {r: _ratio(count, reasons.sum()) for r, count in zip(schema.END_REASONS, reasons)},
            "value_median": value_median, "top20_revenue_share": _top_share(revenue),
            "managers": _manager_facts(f["managers"]), "complaints": _complaint_facts(f["complaints"]),
            "hidden": {"customers": f["hidden"], "share": _ratio(f["hidden"], f["customers"])},
            "rows": dict(f["rows"])}


def _campaign_info(camp: _Campaign, clock: _Clock, p: SynthParams) -> dict:
    """What a campaign was (the same in every chunk)."""
    return {"assignment": camp.assignment, "action": camp.action, "cost": camp.cost,
            "assigned_at": str(clock.dates([camp.day])[0].date()), "hr": camp.hr, "log_hr": math.log(camp.hr),
            "revenue_uplift": camp.uplift, "effect_months": p.campaign_effect_months,
            "hr_by_quadrant": {q: camp.hr * m for q, m in zip(QUADRANTS, p.campaign_quadrant_hr)},
            "revenue_uplift_by_quadrant": {q: camp.uplift * m for q, m in zip(QUADRANTS, p.campaign_quadrant_uplift)}}


def _campaign_truth(info: dict, sums: dict) -> dict:
    return {**info, "enrolled": sums["enrolled"], "treated": sums["treated"],
            "mean_propensity": _ratio(sums["propensity"], sums["enrolled"]), **_campaign_effects(sums)}


def _planted(p: SynthParams) -> dict:
    """The truth that does not depend on the draws."""
    hidden = {"share": p.hidden_share, "hr": p.hr_hidden, "log_hr": math.log(p.hr_hidden),
              "recovery_or": p.hidden_recovery_or}
    return {"params": _labelled(p), "cox_log_hr": _cox_log_hr(p), "definitions": _DEFINITIONS, "hidden": hidden,
            "quadrant_order_by_risk": [q for _, q in sorted(zip(p.hr_quadrant, QUADRANTS))]}


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
        uplift[who] = camp.uplift_each[camp.treated]
        first[who] = clock.month_index(camp.day)
    return uplift, first


@dataclass
class _World:
    """One simulated population: everything its tables and its truth are built from."""

    pop: _Population
    c: _Complaints
    other: dict
    departed: np.ndarray
    camps: list
    churned: np.ndarray
    end_day: np.ndarray
    reason: np.ndarray
    noise: np.ndarray
    revenue: np.ndarray
    active: np.ndarray


_HIDDEN_STREAM = 7  # the trait U's stream, spawned after the first seven (which spawning more leaves as they were)


def _streams(seed) -> list[np.random.Generator]:
    """One independent stream per random component; ``seed`` is an int or a SeedSequence."""
    return np.random.default_rng(seed).spawn(_HIDDEN_STREAM + 1)


def _simulate(streams, n: int, clock: _Clock, p: SynthParams, median: float | None = None) -> _World:
    pop = _population(streams[0], n, clock, p, median, _hidden(streams[_HIDDEN_STREAM], n, p))
    c = _complaints(streams[1], pop, clock, p)
    other = _other_contacts(streams[2], pop, clock, p)
    departed = _manager_departures(streams[3], pop, clock, p)
    events = _complaint_events(c, p) + _manager_events(pop, departed, clock, p)
    churn, camps = _simulate_churn(streams[4], pop, c, events, clock, p)
    churned = np.isfinite(churn)
    end_day = _end_day(churn, pop.signup, clock.days)
    sigma = p.revenue_noise_sigma
    noise = np.exp(streams[5].normal(-sigma ** 2 / 2, sigma, (n, clock.months.size)))
    revenue = _revenue_matrix(np.arange(n), end_day, *_uplift(camps, clock, n), pop, c, clock, p, noise)
    active = _overlap(pop.signup, end_day, clock.edges[:-1], clock.edges[1:]) > 0
    reason = _end_reasons(streams[6], pop, c, churned, end_day, p)
    return _World(pop, c, other, departed, camps, churned, end_day, reason, noise, revenue, active)


def _tables(w: _World, clock: _Clock, ids: _Numbering, names) -> dict[str, pd.DataFrame]:
    """The named tables of a simulated population."""
    build = {
        schema.CUSTOMERS: lambda: _customers_table(w.pop, clock, w.churned, w.end_day, w.reason, ids),
        schema.REVENUE: lambda: _revenue_table(w.revenue, clock, w.active, ids),
        schema.CONTACTS: lambda: _contacts_table(w.c, w.other, w.end_day, clock, ids),
        schema.CAMPAIGNS: lambda: _campaigns_table(w.camps, clock, ids),
        schema.MANAGER_DEPARTURES: lambda: _departures_table(w.departed, clock, ids),
    }
    return {name: build[name]() for name in names}


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
        ``quadrant_order_by_risk``, ``campaigns`` (planted and potential-outcome effects, also
        by quadrant), ``hidden`` (the planted hidden confounder: share, hr, log_hr,
        recovery_or), ``realised`` (churn rates, revenue concentration, complaint, manager and
        hidden-trait facts) and ``definitions`` (how each covariate is built from the tables).

    Example
    -------
    >>> tables, truth = generate(1000, seed=3)
    >>> tables["customers"].shape[0], truth["arguments"]["as_of"]
    (1000, '2026-01-01')
    """
    _check_size("generate", n, months)
    p = params if params is not None else SynthParams()
    clock = _clock(start, months)
    w = _simulate(_streams(seed), n, clock, p)
    tables = _tables(w, clock, _Numbering.fitting(n, managers=w.departed.size), schema.TABLES)
    facts = _facts(w, tables[schema.CONTACTS], clock, p)
    truth = {
        "generator": "helpers.data.synth.generate",
        "arguments": {"n": n, "months": months, "seed": seed, "start": str(clock.start.date()),
                      "as_of": str(clock.as_of.date())},
        **_planted(p),
        "campaigns": {camp.cid: _campaign_truth(_campaign_info(camp, clock, p), facts["campaigns"][camp.cid])
                      for camp in w.camps},
        "realised": _realised(facts, w.pop.value_median, _window_revenue(w)),
    }
    return tables, _plain(truth)


def _check_size(name: str, n: int, months: int) -> None:
    if n < 1 or months < 1:
        raise ValueError(f"{name} needs n >= 1 and months >= 1, got n={n}, months={months}")


_EFFECTS = ("churn_6m", "churn_12m", "revenue_6m", "revenue_12m")


def campaign_effects(n: int = 20000, months: int = 36, *, seed: int = 7, params: SynthParams | None = None,
                     start: str = "2023-01-01") -> pd.DataFrame:
    """Each enrolled customer's planted campaign effect in the data `generate` gives for the same arguments.

    The tables look like real exports, so they hold no effect; this runs the same simulation
    again (the same draws) and returns what only the simulation knows. The means of the
    potential-outcome columns per campaign are the truth's ``ate``, per campaign and quadrant
    its ``ate_by_quadrant``.

    Parameters
    ----------
    n, months, seed, params, start :
        As given to `generate`.

    Returns
    -------
    DataFrame
        One row per campaign and enrolled customer, sorted as the campaigns table:
        ``campaign_id``, ``customer_id`` (the contract's dtypes), ``quadrant`` (by the true
        satisfaction), ``hr`` and ``revenue_uplift`` (planted, truth definitions:
        campaign_heterogeneity), and the treated-minus-control potential outcomes ``churn_6m``,
        ``churn_12m`` (-1, 0 or 1), ``revenue_6m``, ``revenue_12m`` (truth definitions: effects).

    Example
    -------
    >>> effects = campaign_effects(1000, seed=3)
    >>> rct = effects[effects["campaign_id"] == "RCT-2024-07"]
    >>> truth = generate(1000, seed=3)[1]["campaigns"]["RCT-2024-07"]
    >>> round(float(rct["churn_12m"].mean()), 6) == round(truth["ate"]["churn_12m"], 6)
    True
    """
    _check_size("campaign_effects", n, months)
    p = params if params is not None else SynthParams()
    clock = _clock(start, months)
    w = _simulate(_streams(seed), n, clock, p)
    ids = _Numbering.fitting(n, managers=w.departed.size)
    parts = []
    for camp in w.camps:
        diff, _ = _potential_outcomes(camp, w.pop, w.c, clock, p, w.noise)
        parts.append(pd.DataFrame({
            schema.CAMPAIGN_ID: camp.cid, schema.CUSTOMER_ID: ids.customers(camp.who),
            QUADRANT: pd.Categorical.from_codes(w.pop.quadrant[camp.who], categories=list(QUADRANTS)),
            "hr": camp.hr_each, "revenue_uplift": camp.uplift_each, **{k: diff[k] for k in _EFFECTS}}))
    out = pd.concat(parts, ignore_index=True)
    keys = {col: schema.pandas_dtype(schema.TABLES[schema.CAMPAIGNS].column(col))
            for col in (schema.CAMPAIGN_ID, schema.CUSTOMER_ID)}
    return out.astype(keys).sort_values(list(keys), kind="mergesort").reset_index(drop=True)


def hidden_trait(n: int = 20000, months: int = 36, *, seed: int = 7, params: SynthParams | None = None,
                 start: str = "2023-01-01", chunk_size: int | None = None) -> pd.Series:
    """Each customer's unrecorded trait U (the planted hidden confounder) in the data `generate` gives.

    U is in no table (truth definitions: hidden). It has a random stream of its own, so this
    draws it again without simulating: it depends on ``n``, ``seed`` and ``hidden_share``
    only (``months`` and ``start`` are taken so that the call repeats the one given to
    `generate`). With ``chunk_size`` it is U of the data `write_chunked` gives for the same
    arguments, chunk by chunk, exactly.

    Parameters
    ----------
    n, months, seed, params, start :
        As given to `generate` (or `write_chunked`).
    chunk_size : int, optional
        As given to `write_chunked`; None for `generate`.

    Returns
    -------
    Series
        Booleans named ``hidden``, indexed by ``customer_id`` (the contract's dtype) in id order.

    Example
    -------
    >>> params = SynthParams(hidden_share=0.3, hr_hidden=0.5, hidden_recovery_or=4.0)
    >>> u = hidden_trait(1000, seed=3, params=params)
    >>> int(u.sum()) == generate(1000, seed=3, params=params)[1]["realised"]["hidden"]["customers"]
    True
    """
    _check_size("hidden_trait", n, months)
    p = params if params is not None else SynthParams()
    if chunk_size is None:
        u = _hidden(_streams(seed)[_HIDDEN_STREAM], n, p)
    elif chunk_size < 1:
        raise ValueError(f"hidden_trait needs chunk_size >= 1 (or None for generate), got {chunk_size}")
    else:
        u = np.concatenate([_hidden(_streams(np.random.SeedSequence(entropy))[_HIDDEN_STREAM], size, p)
                            for _, size, entropy in _chunks(n, chunk_size, seed)])
    dtype = schema.pandas_dtype(schema.TABLES[schema.CUSTOMERS].column(schema.CUSTOMER_ID))
    ids = pd.Index(_Numbering.fitting(n, managers=0).customers(np.arange(n)), dtype=dtype, name=schema.CUSTOMER_ID)
    return pd.Series(u, index=ids, name="hidden")


def write(tables: dict[str, pd.DataFrame], truth: dict, folder: str | Path | None = None) -> Path:
    """Write ``<folder>/<table>.parquet`` for every table and ``truth.json``, atomically.

    Each file is first written under a hidden temporary name in the same folder and then
    moved into place with ``os.replace``, so an interrupted run leaves no half-written file.
    A ``<table>.parquet`` of a contract table not in ``tables`` (from an earlier run) is
    removed, so the folder holds one data set.
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
            tmp = _temporary(folder, f"{name}.parquet")
            staged.append((tmp, folder / f"{name}.parquet"))
            pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp)
        tmp = _temporary(folder, "truth.json")
        staged.append((tmp, folder / "truth.json"))
        tmp.write_text(_truth_text(truth), encoding="utf-8")
        for tmp, final in staged:
            os.replace(tmp, final)
        _drop_other_tables(folder, tables)
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
    return folder


def _temporary(folder: Path, name: str) -> Path:
    """Hidden name in the same folder, so the final ``os.replace`` is a rename."""
    return folder / f".{name}.tmp-{os.getpid()}"


def _truth_text(truth: dict) -> str:
    return json.dumps(_plain(truth), sort_keys=True, indent=2) + "\n"


def _drop_other_tables(folder: Path, written) -> None:
    """Remove ``<table>.parquet`` of contract tables not written now, left by an earlier run."""
    for name in schema.TABLES:
        if name not in written:
            (folder / f"{name}.parquet").unlink(missing_ok=True)


# ---- large populations, chunk by chunk -----------------------------------------------------------

CHUNK_SIZE = 250_000


def table_selection(names=None) -> list[str]:
    """The tables to write, in contract order: every table by default; ``customers`` required.

    Parameters
    ----------
    names : str or iterable of str, optional
        Names from ``schema.TABLES``.

    Returns
    -------
    list of str

    Raises
    ------
    ValueError
        Naming the unknown table and the known ones, or when ``customers`` is missing.

    Example
    -------
    >>> table_selection(["contacts", "customers"])
    ['customers', 'contacts']
    """
    if names is None:
        return list(schema.TABLES)
    names = [names] if isinstance(names, str) else list(names)
    unknown = [name for name in names if name not in schema.TABLES]
    if unknown:
        raise ValueError(f"unknown table {unknown[0]!r}: the tables are {', '.join(schema.TABLES)}")
    if schema.CUSTOMERS not in names:
        raise ValueError(f"the tables must include {schema.CUSTOMERS}, which every other table refers to "
                         f"(got {', '.join(names)})")
    return [name for name in schema.TABLES if name in names]


@dataclass(frozen=True)
class _Plan:
    """What every chunk shares: the window, the effects, the value median, id widths, tables."""

    clock: _Clock
    params: SynthParams
    median: float
    ids: _Numbering
    names: tuple[str, ...]


def _chunks(n: int, chunk_size: int, seed: int) -> list[tuple[int, int, tuple[int, int]]]:
    """(first customer, size, entropy) of each chunk; chunk k draws from ``SeedSequence([seed, k])``.

    The entropy, not a SeedSequence, is passed on: spawning streams from one SeedSequence
    twice gives different streams, and the first pass must see the draws of the second.
    """
    return [(first, min(chunk_size, n - first), (seed, k)) for k, first in enumerate(range(0, n, chunk_size))]


def _overall_median(chunks, clock: _Clock, p: SynthParams) -> float:
    """Median monthly value of all customers, from a first pass that draws only the covariates."""
    values = [_population(_streams(np.random.SeedSequence(entropy))[0], size, clock, p).value
              for _, size, entropy in chunks]
    return float(np.median(np.concatenate(values)))


def _numbering(n: int, chunks, p: SynthParams) -> _Numbering:
    """Id widths for the whole population, fixed before the first chunk is written.

    Contacts get room for at least 100 per customer; a chunk has at most
    ``max(1, round(size / customers_per_manager))`` managers.
    """
    managers = sum(max(1, round(size / p.customers_per_manager)) for _, size, _ in chunks)
    return _Numbering(max(6, _digits(n)), max(7, _digits(n) + 2), max(4, _digits(managers)))


@functools.cache
def _arrow_schema(name: str):
    """The arrow schema (with pandas metadata) `write` gives the contract table ``name``."""
    import pyarrow as pa

    empty = _frame(name, {column: [] for column in schema.TABLES[name].names})
    return pa.Schema.from_pandas(empty, preserve_index=False)


def _chunk(plan: _Plan, first: int, size: int, entropy) -> tuple[dict, dict, dict, np.ndarray]:
    """Simulate one chunk: its tables (arrow), facts, campaign descriptions, window revenue.

    Customer ids are final; contact and manager ids count from 1 within the chunk until
    `_renumber` shifts them past the earlier chunks'. The contacts are always built: the
    complaint facts are counted from them.
    """
    import pyarrow as pa

    w = _simulate(_streams(np.random.SeedSequence(entropy)), size, plan.clock, plan.params, plan.median)
    ids = dataclasses.replace(plan.ids, customer_offset=first)
    frames = _tables(w, plan.clock, ids, dict.fromkeys([*plan.names, schema.CONTACTS]))
    facts = _facts(w, frames[schema.CONTACTS], plan.clock, plan.params)
    tables = {name: pa.Table.from_pandas(frames.pop(name), schema=_arrow_schema(name), preserve_index=False)
              for name in plan.names}
    info = {camp.cid: _campaign_info(camp, plan.clock, plan.params) for camp in w.camps}
    return tables, facts, info, _window_revenue(w)


def _shift_ids(column, prefix: str, offset: int, width: int):
    """``prefix + number`` -> ``prefix + (number + offset)`` zero-padded to ``width``; nulls stay."""
    import pyarrow as pa
    import pyarrow.compute as pc

    number = pc.add(pc.cast(pc.utf8_slice_codeunits(column, len(prefix)), pa.int64()), offset)
    return pc.binary_join_element_wise(prefix, pc.utf8_lpad(pc.cast(number, pa.string()), width, "0"), "")


def _renumber(tables: dict, contacts: int, managers: int, ids: _Numbering) -> dict:
    """Shift a chunk's contact and manager ids past the ``contacts`` and ``managers`` before it."""
    contact = ("K", contacts, ids.contact_width)
    shifts = {schema.CONTACT_ID: contact, schema.REPEAT_OF: contact,
              schema.ACCOUNT_MANAGER_ID: ("AM", managers, ids.manager_width)}
    out = {}
    for name, table in tables.items():
        for column, (prefix, offset, width) in shifts.items():
            if column in table.column_names and offset:
                i = table.schema.get_field_index(column)
                field = table.schema.field(i)
                table = table.set_column(i, field, _shift_ids(table[column], prefix, offset, width).cast(field.type))
        out[name] = table
    return out


class _Staged:
    """Parquet files streamed under hidden temporary names and moved into place by `commit`.

    Leaving the ``with`` block removes whatever temporary file is left, so an interrupted run
    leaves no half file. Campaign rows go to one temporary file per campaign id, joined in id
    order at the end, so that table is sorted by (campaign_id, customer_id) as `write` sorts it.
    """

    def __init__(self, folder: Path, names, campaign_ids):
        self.folder, self.names, self.temps, self.writers = folder, list(names), [], {}
        self.campaign_ids = sorted(set(campaign_ids))

    def __enter__(self) -> _Staged:
        import pyarrow.parquet as pq

        try:
            for name in self.names:
                parts = self.campaign_ids if name == schema.CAMPAIGNS else [None]
                for i, cid in enumerate(parts):
                    path = self._temp(f"{name}.parquet" if cid is None else f"{name}-{i}.parquet")
                    self.writers[name, cid] = (path, pq.ParquetWriter(path, _arrow_schema(name)))
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        for _, writer in self.writers.values():
            with contextlib.suppress(Exception):  # already failing: the temporary files go below
                writer.close()
        for path in self.temps:
            path.unlink(missing_ok=True)

    def _temp(self, name: str) -> Path:
        self.temps.append(_temporary(self.folder, name))
        return self.temps[-1]

    def write(self, tables: dict) -> None:
        """Append one chunk's arrow tables (each file gets one or more row groups)."""
        import pyarrow.compute as pc

        for (name, cid), (_, writer) in self.writers.items():
            table = tables[name]
            if cid is not None:
                table = table.filter(pc.equal(table[schema.CAMPAIGN_ID], cid))
            if table.num_rows:
                writer.write_table(table)

    def commit(self, truth: dict) -> None:
        """Close the files, write truth.json, move everything into place."""
        for _, writer in self.writers.values():
            writer.close()
        done = {name: path for (name, cid), (path, _) in self.writers.items() if cid is None}
        if schema.CAMPAIGNS in self.names:
            done[schema.CAMPAIGNS] = self._join([path for (name, cid), (path, _) in self.writers.items()
                                                 if name == schema.CAMPAIGNS])
        truth_path = self._temp("truth.json")
        truth_path.write_text(_truth_text(truth), encoding="utf-8")
        for name, path in done.items():
            os.replace(path, self.folder / f"{name}.parquet")
        os.replace(truth_path, self.folder / "truth.json")
        _drop_other_tables(self.folder, self.names)

    def _join(self, parts: list[Path]) -> Path:
        import pyarrow.parquet as pq

        target = _arrow_schema(schema.CAMPAIGNS)
        path = self._temp(f"{schema.CAMPAIGNS}.parquet")
        with pq.ParquetWriter(path, target) as out:
            for part in parts:
                with pq.ParquetFile(part) as source:
                    for i in range(source.num_row_groups):
                        out.write_table(source.read_row_group(i).cast(target))
        return path


def _stream_chunks(plan: _Plan, chunks, staged: _Staged, progress: bool) -> tuple[dict, dict, np.ndarray]:
    """Simulate and write the chunks in order; the summed facts, campaign descriptions and
    every customer's window revenue."""
    total, revenue = None, np.empty(sum(size for _, size, _ in chunks))
    contacts = managers = 0
    began = time.perf_counter()
    for k, (first, size, entropy) in enumerate(chunks):
        tables, facts, info, revenue[first:first + size] = _chunk(plan, first, size, entropy)
        if contacts + facts["rows"][schema.CONTACTS] >= 10 ** plan.ids.contact_width:
            raise ValueError(f"more than {10 ** plan.ids.contact_width - 1:,} contacts do not fit the contact ids "
                             f"(K + {plan.ids.contact_width} digits): shorten the window (months) or lower the "
                             "contact rates")
        staged.write(_renumber(tables, contacts, managers, plan.ids))
        contacts += facts["rows"][schema.CONTACTS]
        managers += facts["managers"]["managers"]
        total = facts if total is None else _add(total, facts)
        if progress:
            print(f"chunk {k + 1}/{len(chunks)}: customers {first + 1:,}-{first + size:,} written at "
                  f"{time.perf_counter() - began:.1f} s", file=sys.stderr, flush=True)
    return total, info, revenue


_CHUNKED_NOTE = (
    "Simulated in chunks, chunk k drawn from SeedSequence([seed, k]); every fact is over all customers: counts "
    "are added; rates, shares, mean_propensity and the campaign effects (ate, att, naive_difference, "
    "ate_by_quadrant) are ratios of summed counts and sums, so they are exact; top20_revenue_share ranks every "
    "customer's window revenue; "
    "value_median is the median of all customers (a first pass), which also centres log2_value and the quadrants "
    "in every chunk. Campaign and revenue facts describe the simulation even when those tables are not written; "
    "rows counts the written tables. An account manager serves customers of one chunk; contact ids follow the "
    "opening day within each chunk.")


def write_chunked(n: int, months: int = 36, *, seed: int = 7, chunk_size: int = CHUNK_SIZE,
                  folder: str | Path | None = None, params: SynthParams | None = None, tables=None,
                  start: str = "2023-01-01", progress: bool = False) -> Path:
    """Simulate ``n`` customers chunk by chunk and stream them to ``<folder>/<table>.parquet``.

    For populations too large for `generate`: memory follows ``chunk_size``, not ``n``. Each
    chunk of ``chunk_size`` customers is a `generate`-style simulation with its own seed stream
    ``SeedSequence([seed, k])``, centred on the median monthly value of all ``n`` customers.
    Identifiers run on across chunks (customers, contacts and ``repeat_of``, account managers;
    the two campaigns are shared) and are as wide as ``n`` needs, so each file stays sorted
    as the contract says. The folder gets the layout `write` gives it (one parquet file per
    table, one or more row groups per chunk, and ``truth.json``), written under hidden
    temporary names and moved into place at the end: an interrupted run leaves no half file.
    Same arguments -> same bytes. The data differ from ``generate(n, seed=seed)`` (other seed
    streams), and with ``n <= chunk_size`` there is one chunk. A planted hidden trait U
    (``params.hidden_share``) is drawn chunk by chunk too: `hidden_trait` with the same
    ``chunk_size`` gives it exactly.

    Parameters
    ----------
    n : int
        Number of customers.
    months : int
        Length of the observation window in calendar months.
    seed : int
        Seed of the chunks' seed streams.
    chunk_size : int
        Customers per chunk: memory follows it. At 250,000 the peak was about 1.6 GiB without
        revenue and 2.1 GiB with it (benchmarks/generate.py, 10 million customers).
    folder : str or Path, optional
        Output folder (created if needed); defaults to ``config.SYNTHETIC``.
    params : SynthParams, optional
        The planted effects; defaults to ``SynthParams()``.
    tables : iterable of str, optional
        The tables to write (see `table_selection`); all by default. Revenue is about 14 rows
        per customer, so ``["customers", "contacts"]`` keeps a large data set small.
    start : str
        First day of the window.
    progress : bool
        Print a line per chunk to stderr.

    Returns
    -------
    Path
        The folder written. Its ``truth.json`` has the planted effects of `generate`, the
        arguments (with ``chunk_size``, ``chunks`` and ``tables``) and the realised facts over
        all customers (see ``realised.note``).

    Example
    -------
    >>> import tempfile
    >>> out = write_chunked(3000, chunk_size=1000, folder=tempfile.mkdtemp(), tables=["customers", "contacts"])
    >>> sorted(f.name for f in out.iterdir())
    ['contacts.parquet', 'customers.parquet', 'truth.json']
    """
    if n < 1 or months < 1 or chunk_size < 1:
        raise ValueError(f"write_chunked needs n, months and chunk_size >= 1, got n={n}, months={months}, "
                         f"chunk_size={chunk_size}")
    p = params if params is not None else SynthParams()
    names = table_selection(tables)
    clock = _clock(start, months)
    chunks = _chunks(n, chunk_size, seed)
    plan = _Plan(clock, p, _overall_median(chunks, clock, p), _numbering(n, chunks, p), tuple(names))
    folder = Path(config.SYNTHETIC if folder is None else folder)
    folder.mkdir(parents=True, exist_ok=True)
    arguments = {"n": n, "months": months, "seed": seed, "start": str(clock.start.date()),
                 "as_of": str(clock.as_of.date()), "chunk_size": chunk_size, "chunks": len(chunks), "tables": names}
    with _Staged(folder, names, (p.rct_id, p.outreach_id)) as staged:
        facts, info, revenue = _stream_chunks(plan, chunks, staged, progress)
        realised = _realised(facts, plan.median, revenue)
        realised["rows"] = {name: realised["rows"][name] for name in names}
        staged.commit({
            "generator": "helpers.data.synth.write_chunked", "arguments": arguments, **_planted(p),
            "campaigns": {cid: _campaign_truth(info[cid], facts["campaigns"][cid]) for cid in info},
            "realised": {**realised, "note": _CHUNKED_NOTE},
        })
    return folder

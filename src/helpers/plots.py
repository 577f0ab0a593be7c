"""Figures: each takes ``ax=None``, draws with seaborn/matplotlib, and returns the Axes.

No function here shows or saves a figure; the report layer embeds them. Labels come from the
data, so they are drawn as text: matplotlib's mathtext (``$...$``) is off, or a segment named
``a $\\frac{1}$ b`` would stop the figure, and with it the report.
"""
from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from mpl_toolkits.axes_grid1 import make_axes_locatable

from helpers.data import schema as S

mpl.rcParams["text.parse_math"] = False  # data labels are text, never math (see the module docstring)


def _level(confidence: float) -> str:
    """``0.95`` -> ``"95%"``, ``0.975`` -> ``"97.5%"``: the interval a figure shows, as its label says."""
    return f"{100 * confidence:g}%"


def _arms(value, lower, upper) -> list:
    """Error-bar lengths below and above ``value``; never negative (a share of 0 whose Wilson lower limit is
    -1e-17, a bound equal to the value up to rounding) and 0 where a bound is missing ("not reached")."""
    value, lower, upper = (np.asarray(x, dtype=float) for x in (value, lower, upper))
    return [np.nan_to_num(np.clip(value - lower, 0, None)), np.nan_to_num(np.clip(upper - value, 0, None))]


def _ax(ax, height: float = 4):
    return ax if ax is not None else plt.subplots(figsize=(7, height))[1]


def tenure_histogram(customers: pd.DataFrame, *, ax=None, duration: str = S.TENURE, event: str = S.CHURNED):
    """Histogram of tenure (months), stacked by churned vs still active at the end of observation."""
    ax = _ax(ax)
    data = customers.assign(status=customers[event].map({True: "churned", False: "active (censored)"}))
    sns.histplot(data=data, x=duration, hue="status", multiple="stack", bins=36, ax=ax,
                 hue_order=["active (censored)", "churned"])
    ax.set(xlabel="tenure (months)", ylabel="customers", title="Tenure at the end of observation")
    return ax


def churn_rate_bars(rates: pd.DataFrame, by: str, *, ax=None, confidence: float = 0.95):
    """Churn share per group with its interval (the output of `overview.churn_rate(by=...)`, at ``confidence``)."""
    ax = _ax(ax, height=1.2 + 0.45 * len(rates))
    y = range(len(rates))
    ax.errorbar(rates["rate"], list(y), xerr=_arms(rates["rate"], rates["lower"], rates["upper"]),
                fmt="o", capsize=4)
    ax.set_yticks(list(y), [str(v) for v in rates[by]])
    ax.set(xlabel=f"share churned ({_level(confidence)} interval)", ylabel=by, title=f"Churn by {by}")
    ax.set_xlim(left=0)
    return ax


def pareto(curve: pd.DataFrame, *, ax=None, top: float = 0.2):
    """Pareto curve of revenue concentration, with the 80/20 reference marked."""
    ax = _ax(ax)
    sns.lineplot(data=curve, x="customer_share", y="revenue_share", ax=ax, label="observed")
    ax.plot([0, 1], [0, 1], ls=":", color="grey", label="equal revenue")
    ax.axvline(top, ls="--", color="grey", lw=0.8)
    ax.axhline(0.8, ls="--", color="grey", lw=0.8)
    ax.set(xlabel="share of customers (largest first)", ylabel="share of revenue",
           title="Revenue concentration", xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right")
    return ax


def contact_mix_bars(mix: pd.DataFrame, *, ax=None):
    """Contacts by kind, split by channel when known (the output of `overview.contact_mix`)."""
    ax = _ax(ax)
    hue = S.CHANNEL if S.CHANNEL in mix else None
    sns.barplot(data=mix, y=S.KIND, x="contacts", hue=hue, ax=ax, orient="h")
    ax.set(xlabel="contacts", ylabel="", title="Service contacts by kind" + (" and channel" if hue else ""))
    return ax


def _at_risk(table: pd.DataFrame, t: float) -> int:
    later = table.loc[table["time"] >= t, "at_risk"]
    return int(later.iloc[0]) if len(later) else 0


def km_curves(table: pd.DataFrame, *, group: str | None = None, ax=None, ci: bool = True, at_risk: bool = True,
              ticks=None, title: str = "Share of customers still active", xlabel: str = "tenure (months)",
              ylabel: str = "still a customer"):
    """Kaplan-Meier curves from `survival.km_table`, with confidence bands and a number-at-risk table.

    The at-risk table is a second axes under the plot (``ax.at_risk_ax``), one row per curve:
    the customers still observed at each tick. Its texts carry the gid ``"at-risk"``.
    """
    groups = list(table.groupby(group, observed=True, sort=False)) if group else [("all customers", table)]
    if ax is None:
        ax = plt.subplots(figsize=(8, 4 + (0.25 * len(groups) + 0.8 if at_risk else 0)))[1]
    colors = sns.color_palette(n_colors=len(groups))
    for (name, t), color in zip(groups, colors):
        ax.step(t["time"], t["survival"], where="post", color=color, label=str(name))
        if ci:
            ax.fill_between(t["time"], t["lower"], t["upper"], step="post", color=color, alpha=0.15, lw=0)
    ax.set(xlabel=xlabel, ylabel=ylabel, ylim=(0, 1.02), title=title)
    ax.set_xlim(left=0)
    if len(groups) > 1:
        ax.legend(title=group, fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
    if at_risk:
        ax.at_risk_ax = _at_risk_table(ax, groups, colors, ticks)
    return ax


def _at_risk_table(ax, groups, colors, ticks):
    ticks = [x for x in (ax.get_xticks() if ticks is None else ticks) if ax.get_xlim()[0] <= x <= ax.get_xlim()[1]]
    ax.set_xticks(ticks)
    table = make_axes_locatable(ax).append_axes("bottom", size=0.22 * len(groups) + 0.1, pad=0.55, sharex=ax)
    rows = range(len(groups))[::-1]
    for row, (_, t) in zip(rows, groups):
        for x in ticks:
            table.text(x, row, f"{_at_risk(t, x):,}", ha="center", va="center", fontsize="small", gid="at-risk")
    table.set_yticks(list(rows), [str(name) for name, _ in groups], fontsize="small")
    for label, color in zip(table.get_yticklabels(), colors):
        label.set_color(color)
    table.set_ylim(-0.5, len(groups) - 0.5)
    table.tick_params(axis="both", length=0, labelbottom=False)
    table.tick_params(axis="y", pad=16)  # clear of the counts at tenure 0
    table.set_title("number at risk", fontsize="small", loc="left")
    for spine in table.spines.values():
        spine.set_visible(False)
    return table


def _plain_log_ticks(ax) -> None:
    """Ticks of a log x axis at round values, labelled as plain numbers (0.5, 1, 2), not powers of ten."""
    low, high = ax.get_xlim()
    nice = [0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5, 7, 10, 20, 50, 100]
    ticks = [t for t in nice if low <= t <= high] or [1]
    ax.xaxis.set_minor_locator(plt.NullLocator())
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])


def forest(hrs: pd.DataFrame, *, ax=None, title: str | None = None, confidence: float = 0.95):
    """Hazard ratios with intervals on a log axis (the output of `survival.hazard_ratios`, at ``confidence``)."""
    ax = _ax(ax, height=1.2 + 0.4 * len(hrs))
    y = list(range(len(hrs)))[::-1]
    ax.errorbar(hrs["hr"], y, xerr=_arms(hrs["hr"], hrs["lower"], hrs["upper"]), fmt="s", capsize=3)
    ax.axvline(1, color="grey", ls="--", lw=0.8)
    ax.set_xscale("log")
    _plain_log_ticks(ax)
    ax.set_yticks(y, hrs["term"].astype(str).tolist())
    ax.set(xlabel="hazard ratio (< 1: churn less, > 1: churn more)",
           title=title or f"Hazard ratios of churn ({_level(confidence)} interval)")
    return ax


def cumulative_incidence(cif: pd.DataFrame, *, ax=None):
    """Cumulative incidence of churn per end reason (the output of `survival.cumulative_incidence`)."""
    ax = _ax(ax)
    for (cause, t), color in zip(cif.groupby("cause", sort=False), sns.color_palette()):
        ax.step(t["time"], t["cif"], where="post", label=str(cause), color=color)
        ax.fill_between(t["time"], t["lower"], t["upper"], step="post", color=color, alpha=0.15, lw=0)
    ax.set(xlabel="tenure (months)", ylabel="share who left for this reason", title="Why customers leave",
           ylim=(0, None))
    ax.set_xlim(left=0)
    ax.legend(title="end reason", fontsize="small")
    return ax


def calibration(table: pd.DataFrame, *, t: float, ax=None):
    """Observed (Kaplan-Meier, with interval) against predicted survival at tenure ``t``, per bin."""
    ax = _ax(ax, height=5)
    ax.errorbar(table["predicted"], table["observed"],
                yerr=_arms(table["observed"], table["lower"], table["upper"]), fmt="o", capsize=3)
    ax.plot([0, 1], [0, 1], ls=":", color="grey", label="perfect calibration")
    ax.set(xlabel=f"predicted survival at {t:g} months", ylabel="observed (Kaplan-Meier)",
           title="Calibration on held-out customers", xlim=(0, 1.02), ylim=(0, 1.02))
    ax.legend(loc="upper left")
    return ax


def revenue_at_risk_bars(table: pd.DataFrame, *, ax=None, top: int = 12):
    """Expected revenue lost per segment with its interval (`churn.rank_revenue_at_risk`), largest first."""
    rows = table.head(top)
    ax = _ax(ax, height=1.2 + 0.4 * len(rows))
    labels = (rows["segmentation"] + ": " if "segmentation" in rows else "") + rows["segment"].astype(str)
    y = list(range(len(rows)))[::-1]
    ax.barh(y, rows["revenue_lost"], xerr=_arms(rows["revenue_lost"], rows["revenue_lost_lower"],
                                                rows["revenue_lost_upper"]), capsize=3)
    ax.set_yticks(y, labels.tolist())
    ax.set(xlabel="expected revenue lost to churn over the horizon", title="Where the revenue at risk sits")
    return ax


def propensity_overlap(ps: pd.Series, arm: pd.Series, *, trim=(0.05, 0.95), ax=None):
    """Histograms of the propensity score by arm, with the trimming bounds marked."""
    ax = _ax(ax)
    data = pd.DataFrame({"propensity": ps, "arm": arm.astype(str)}).dropna()
    sns.histplot(data=data, x="propensity", hue="arm", stat="density", common_norm=False, bins=40,
                 element="step", ax=ax)
    for bound in trim or ():
        ax.axvline(bound, color="grey", ls="--", lw=0.8)
    ax.set(xlabel="propensity score (probability of being treated)", title="Overlap of the arms", xlim=(0, 1))
    return ax


def balance_plot(table: pd.DataFrame, *, ax=None, threshold: float = 0.1):
    """Standardised mean differences before and after weighting (a "love plot")."""
    ax = _ax(ax, height=1.2 + 0.35 * len(table))
    y = list(range(len(table)))[::-1]
    ax.scatter(table["smd_unweighted"].abs(), y, marker="o", label="before weighting")
    if "smd_weighted" in table:
        ax.scatter(table["smd_weighted"].abs(), y, marker="s", label="after weighting")
    ax.axvline(threshold, color="grey", ls="--", lw=0.8)
    ax.set_yticks(y, table["term"].astype(str).tolist())
    ax.set(xlabel="|standardised mean difference|", title="Covariate balance")
    ax.legend(loc="lower right", fontsize="small")
    return ax


def estimates(table: pd.DataFrame, *, label: str = "method", ax=None, title: str = "Estimated effect", zero=0.0):
    """Point estimates with intervals, one row per ``label`` (e.g. naive, IPW, AIPW)."""
    ax = _ax(ax, height=1.2 + 0.45 * len(table))
    y = list(range(len(table)))[::-1]
    ax.errorbar(table["estimate"], y, xerr=_arms(table["estimate"], table["lower"], table["upper"]),
                fmt="o", capsize=4)
    ax.axvline(zero, color="grey", ls="--", lw=0.8)
    ax.set_yticks(y, table[label].astype(str).tolist())
    ax.set(xlabel="effect (treated minus control)", title=title)
    return ax


def claim_sensitivity(grid: pd.DataFrame, *, claim=(25, 85), ax=None):
    """Profit increase from 5 more points of retention against acquisition cost, one line per margin and discount."""
    ax = _ax(ax, height=4.5)
    data = grid.assign(margin=grid["margin"].map(lambda m: f"{m:,.2f} per month"),
                       discount_rate=grid["discount_rate"].map(lambda d: f"{d:.0%}"))
    sns.lineplot(data=data.rename(columns={"margin": "margin", "discount_rate": "discount rate"}),
                 x="acquisition_cost", y="increase_pct", hue="margin", style="discount rate", marker="o", ax=ax)
    ax.axhspan(*claim, color="grey", alpha=0.15, label="claimed 25-85%")
    ax.set(xlabel="cost of acquiring a customer", ylabel="profit increase per customer (%)",
           title="What 5 more points of retention are worth")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
    return ax


def trend(table: pd.DataFrame, *, ax=None, title: str = "", ylabel: str = "", x: str = "month"):
    """A monthly indicator with its interval band (the KPI tables of `complaints`)."""
    ax = _ax(ax, height=3.2)
    t = table.assign(**{x: pd.to_datetime(table[x].astype(str))})  # Timestamps, Periods or month strings
    ax.plot(t[x], t["value"], marker=".")
    ax.fill_between(t[x], t["lower"], t["upper"], alpha=0.2, lw=0)
    ax.set(title=title, ylabel=ylabel, xlabel="")
    ax.set_ylim(bottom=0)
    return ax


def event_study(table: pd.DataFrame, *, ax=None, ylabel: str = "revenue, complainers minus matched controls"):
    """Difference in differences by month relative to the complaint (k = 0), with intervals."""
    ax = _ax(ax)
    ax.errorbar(table["k"], table["did"], yerr=_arms(table["did"], table["lower"], table["upper"]),
                fmt="o-", capsize=3)
    ax.axhline(0, color="grey", lw=0.8)
    ax.axvline(-0.5, color="grey", ls="--", lw=0.8)
    ax.set(xlabel="months from the complaint (0 = the month it was opened)", ylabel=ylabel,
           title="Revenue around a complaint")
    return ax


def kpi_grid(trends: dict, *, ncols: int = 2):
    """Small multiples of monthly indicators: ``{title: table}`` with month, value, lower, upper. Returns the Axes."""
    nrows = -(-len(trends) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(11, 2.8 * nrows), sharex=True, squeeze=False)
    for ax, (title, table) in zip(axes.flat, trends.items()):
        trend(table, ax=ax, title=title)
    for ax in list(axes.flat)[len(trends):]:
        ax.set_visible(False)
    fig.autofmt_xdate()
    fig.tight_layout()
    return axes

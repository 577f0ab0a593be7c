"""Figures: each takes ``ax=None``, draws with seaborn/matplotlib, and returns the Axes.

No function here shows or saves a figure; the report layer embeds them.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from . import schema as S


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


def churn_rate_bars(rates: pd.DataFrame, by: str, *, ax=None):
    """Churn share per group with its interval (the output of `overview.churn_rate(by=...)`)."""
    ax = _ax(ax, height=1.2 + 0.45 * len(rates))
    y = range(len(rates))
    ax.errorbar(rates["rate"], list(y), xerr=[rates["rate"] - rates["lower"], rates["upper"] - rates["rate"]],
                fmt="o", capsize=4)
    ax.set_yticks(list(y), [str(v) for v in rates[by]])
    ax.set(xlabel="share churned (95% interval)", ylabel=by, title=f"Churn by {by}")
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

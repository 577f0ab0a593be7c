"""Figures: each takes ``ax=None``, draws with seaborn/matplotlib, and returns the Axes.

No function here shows or saves a figure; the report layer embeds them. Labels come from the
data, so they are drawn as text: matplotlib's mathtext (``$...$``) is off, or a segment named
``a $\\frac{1}$ b`` would stop the figure, and with it the report.

Every function takes ``caption: str = ""`` and attaches a caption to the figure (`caption_of`):
the caller's sentences, then a key saying how to read the marks (bands, bars, dashed lines), so
the title is never the only explanation. Captions are not numbered here; the section does that.
Shares are drawn on percent axes, and groups get colours that stay distinct (`group_colors`).
"""
from __future__ import annotations

import functools
import re
import textwrap
from collections.abc import Collection, Mapping

import matplotlib as mpl
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.textpath import TextToPath
from matplotlib.ticker import FuncFormatter, PercentFormatter
from mpl_toolkits.axes_grid1 import make_axes_locatable

from helpers.data import schema as S

mpl.rcParams["text.parse_math"] = False  # data labels are text, never math (see the module docstring)

CAPTION = "caption"  # attribute of the Figure that holds its caption (read it with `caption_of`)
OTHER = "#8c8c8c"  # the grey of a group outside an ordered series (e.g. pooled small cohorts)
_PERIOD = re.compile(r"^\d{4}(?:[-/ ]?(?:Q[1-4]|H[12]|\d{1,2}))?$")  # 2023, 2023Q1, 2023-04, 2023H2


# ---- small shared pieces ----------------------------------------------------------------------
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


def _captioned(ax, caption: str, key: str):
    """Attach ``caption`` (the caller's) and ``key`` (how to read this figure) to the figure; return ``ax``."""
    fig = (ax.flat[0] if hasattr(ax, "flat") else ax).figure
    setattr(fig, CAPTION, " ".join(part.strip() for part in (caption, key) if part and part.strip()))
    return ax


def caption_of(figure) -> str:
    """The caption a function of this module attached: to a Figure, an Axes or an array of Axes ("" if none)."""
    figure = figure.flat[0] if hasattr(figure, "flat") else figure
    return getattr(getattr(figure, "figure", figure), CAPTION, "")


def _percent(axis) -> None:
    """Label a 0-1 share axis in percent (``ax.xaxis`` or ``ax.yaxis``)."""
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{100 * v:.4g}%"))  # 0.3 -> 30%, 0.025 -> 2.5%


def _thousands(axis) -> None:
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))


def _add_to_legend(ax, handles: list, labels: list, **kwargs) -> None:
    """Redraw the legend with ``handles``/``labels`` added to the entries already there (seaborn's)."""
    old = ax.get_legend()
    title = old.get_title().get_text() if old else None
    before = (list(old.legend_handles), [t.get_text() for t in old.get_texts()]) if old else ([], [])
    ax.legend(before[0] + handles, before[1] + labels, title=title or None, **kwargs)


# ---- colours -------------------------------------------------------------------------------------
def _oklab(rgb: np.ndarray) -> np.ndarray:
    """sRGB (0-1, one colour per row) to OKLab (Ottosson 2020), where distances follow perceived differences."""
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    lms = np.cbrt(linear @ np.array([[0.4122214708, 0.5363325363, 0.0514459929],
                                     [0.2119034982, 0.6806995451, 0.1073969566],
                                     [0.0883024619, 0.2817188376, 0.6299787005]]).T)
    return lms @ np.array([[0.2104542553, 0.7936177850, -0.0040720468],
                           [1.9779984951, -2.4285922050, 0.4505937099],
                           [0.0259040371, 0.7827717662, -0.8086757660]]).T


@functools.lru_cache(maxsize=8)
def _distinct(n: int) -> tuple:
    """``n`` distinct colours: tab10, then greedy farthest-point picks in OKLab (the Glasbey et al. 2007 idea).

    Candidates are a 16-level RGB grid kept to colours that show on white and are not grey
    (OKLab lightness 0.45-0.85, chroma > 0.07), so no curve looks like a reference line.
    """
    chosen = [mpl.colors.to_rgb(c) for c in plt.get_cmap("tab10").colors][:n]
    grid = np.stack(np.meshgrid(*[np.linspace(0, 1, 16)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    lab = _oklab(grid)
    keep = (lab[:, 0] > 0.45) & (lab[:, 0] < 0.85) & (np.hypot(lab[:, 1], lab[:, 2]) > 0.07)
    grid, lab = grid[keep], lab[keep]
    gap = np.min(np.linalg.norm(lab[:, None] - _oklab(np.array(chosen))[None], axis=2), axis=1)
    while len(chosen) < n:
        k = int(np.argmax(gap))
        chosen.append(tuple(grid[k]))
        gap = np.minimum(gap, np.linalg.norm(lab - lab[k], axis=1))
    return tuple(chosen)


def _is_ordered(labels: pd.Series) -> bool:
    """Whether groups are ordered: an ordered categorical, numbers, dates, or period labels ("2023Q1")."""
    if isinstance(labels.dtype, pd.CategoricalDtype):
        return bool(labels.dtype.ordered)
    if pd.api.types.is_bool_dtype(labels):
        return False
    if pd.api.types.is_numeric_dtype(labels) or pd.api.types.is_datetime64_any_dtype(labels) or \
            isinstance(labels.dtype, pd.PeriodDtype):
        return True
    text = [str(v) for v in pd.unique(labels.dropna())]
    return sum(bool(_PERIOD.match(v)) for v in text) >= max(2, len(text) - 1)  # one pooled "other" may remain


def group_colors(labels, *, ordered: bool | None = None) -> list:
    """One colour per label, in order: a sequential ramp for ordered groups, else distinct hues.

    Ordered groups (signup cohorts, bands; detected by `_is_ordered` when ``ordered`` is None)
    get viridis from dark purple to a green that still shows on white, in sorted order; a label
    outside the series (e.g. "other (pooled)") is grey. Unordered groups get tab10, and beyond
    10 groups more colours picked to be as far as possible from those already used (`_distinct`),
    so 12 or 20 curves never repeat a colour.

    Example
    -------
    >>> len(set(group_colors([f"g{i}" for i in range(14)])))
    14
    """
    labels = list(labels)
    if not (_is_ordered(pd.Series(labels)) if ordered is None else ordered):
        return list(_distinct(len(labels)))
    periods = [bool(_PERIOD.match(str(v))) for v in labels]
    if sum(periods) < 2:  # ordered by their own order (an ordered categorical, bands): ramp in the given order
        periods, rank = [True] * len(labels), {i: i for i in range(len(labels))}
    else:  # period labels ramp in time order; another label (a pooled group) is grey
        rank = {i: r for r, i in enumerate(sorted((i for i in range(len(labels)) if periods[i]),
                                                  key=lambda i: str(labels[i])))}
    ramp = plt.get_cmap("viridis")(np.linspace(0, 0.85, max(len(rank), 2)))
    return [tuple(ramp[rank[i]]) if periods[i] else mpl.colors.to_rgba(OTHER) for i in range(len(labels))]


# ---- overview -------------------------------------------------------------------------------------
def tenure_histogram(customers: pd.DataFrame, *, ax=None, duration: str = S.TENURE, event: str = S.CHURNED,
                     caption: str = ""):
    """Histogram of tenure (months), stacked by churned vs still active at the end of observation."""
    ax = _ax(ax)
    data = customers.assign(status=customers[event].map({True: "churned", False: "active (censored)"}))
    sns.histplot(data=data, x=duration, hue="status", multiple="stack", bins=36, ax=ax,
                 hue_order=["active (censored)", "churned"])
    ax.set(xlabel="tenure (months)", ylabel="customers", title="Tenure at the end of observation")
    _thousands(ax.yaxis)
    return _captioned(ax, caption, "Stacked bars count customers by tenure: churned customers at the tenure they "
                                   "left, active ones at their tenure so far (censored: they may still leave).")


def churn_rate_bars(rates: pd.DataFrame, by: str, *, ax=None, confidence: float = 0.95, caption: str = ""):
    """Churn share per group with its interval (the output of `overview.churn_rate(by=...)`, at ``confidence``)."""
    ax = _ax(ax, height=1.2 + 0.45 * len(rates))
    y = list(range(len(rates)))[::-1]  # first row on top, as in the table
    ax.errorbar(rates["rate"], y, xerr=_arms(rates["rate"], rates["lower"], rates["upper"]), fmt="o", capsize=4)
    ax.set_yticks(y, [str(v) for v in rates[by]])
    ax.set(xlabel=f"share churned ({_level(confidence)} interval)", ylabel=by, title=f"Churn by {by}")
    ax.set_xlim(left=0)
    _percent(ax.xaxis)
    return _captioned(ax, caption, f"Dots: share of the customers in each group who churned during observation; "
                                   f"lines: {_level(confidence)} interval. Not adjusted for how long customers "
                                   "were observed.")


def pareto(curve: pd.DataFrame, *, ax=None, top: float = 0.2, caption: str = ""):
    """Pareto curve of revenue concentration, with the 80/20 reference and the share of the ``top`` customers."""
    ax = _ax(ax)
    sns.lineplot(data=curve, x="customer_share", y="revenue_share", ax=ax, label="observed")
    ax.plot([0, 1], [0, 1], ls=":", color="grey", label="equal revenue")
    ax.axvline(top, ls="--", color="grey", lw=0.8)
    ax.axhline(0.8, ls="--", color="grey", lw=0.8, label="80/20 reference")
    share = float(np.interp(top, curve["customer_share"], curve["revenue_share"]))
    ax.plot([top], [share], "o", color="C0")
    ax.annotate(f"largest {top:.0%} of customers: {share:.0%} of revenue", (top, share), xytext=(8, -14),
                textcoords="offset points", fontsize="small")
    ax.set(xlabel="share of customers (largest first)", ylabel="share of revenue",
           title="Revenue concentration", xlim=(0, 1), ylim=(0, 1.01))
    _percent(ax.xaxis)
    _percent(ax.yaxis)
    ax.legend(loc="lower right")
    return _captioned(ax, caption, "Customers sorted by revenue, largest first: the curve gives the share of "
                                   "revenue brought by each share of customers. Dotted: every customer brings the "
                                   "same; dashed: the 80/20 rule.")


def contact_mix_bars(mix: pd.DataFrame, *, ax=None, caption: str = ""):
    """Contacts by kind, split by channel when known (the output of `overview.contact_mix`)."""
    ax = _ax(ax)
    hue = S.CHANNEL if S.CHANNEL in mix else None
    sns.barplot(data=mix, y=S.KIND, x="contacts", hue=hue, ax=ax, orient="h")
    ax.set(xlabel="contacts", ylabel="", title="Service contacts by kind" + (" and channel" if hue else ""))
    _thousands(ax.xaxis)
    return _captioned(ax, caption, "Bars: number of service contacts of each kind" +
                      (", one bar per channel." if hue else "."))


# ---- survival ------------------------------------------------------------------------------------
def _at_risk(table: pd.DataFrame, t: float) -> int:
    later = table.loc[table["time"] >= t, "at_risk"]
    return int(later.iloc[0]) if len(later) else 0


def km_curves(table: pd.DataFrame, *, group: str | None = None, ax=None, ci: bool = True, at_risk: bool = True,
              ticks=None, title: str = "Share of customers still active", xlabel: str = "tenure (months)",
              ylabel: str = "still a customer", palette=None, confidence: float = 0.95, caption: str = ""):
    """Kaplan-Meier curves from `survival.km_table`, with confidence bands and a number-at-risk table.

    The at-risk table is a second axes under the plot (``ax.at_risk_ax``), one row per curve:
    the customers still observed at each tick. Its texts carry the gid ``"at-risk"``. Its row
    labels sit left of the widest count and ticks are thinned until the counts fit side by side.

    ``palette``: None picks colours with `group_colors` (a sequential ramp when the groups are
    ordered, such as signup cohorts), ``"sequential"`` or ``"qualitative"`` forces one, or a list
    of colours. ``confidence`` only labels the bands in the caption (the table holds them).
    """
    groups = list(table.groupby(group, observed=True, sort=False)) if group else [("all customers", table)]
    if ax is None:
        ax = plt.subplots(figsize=(8, 4 + (0.25 * len(groups) + 0.8 if at_risk else 0)))[1]
    colors = _curve_colors(table, group, [name for name, _ in groups], palette)
    for (name, t), color in zip(groups, colors):
        ax.step(t["time"], t["survival"], where="post", color=color, label=str(name))
        if ci:
            ax.fill_between(t["time"], t["lower"], t["upper"], step="post", color=color, alpha=0.15, lw=0)
    ax.set(xlabel=xlabel, ylabel=ylabel, ylim=(0, 1.02), title=title)
    ax.set_xlim(left=0)
    _percent(ax.yaxis)
    if len(groups) > 1:
        ax.legend(title=group, fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
    if at_risk:
        ax.at_risk_ax = _at_risk_table(ax, groups, colors, ticks)
    key = [f"Kaplan-Meier curve{'s' if len(groups) > 1 else ''}: the share {ylabel} against {xlabel}; each step "
           "down is an event."]
    if ci:
        key.append(f"Bands: {_level(confidence)} pointwise confidence interval.")
    if at_risk:
        key.append("Numbers under the plot: customers still observed (at risk) at each tick; where they are few, "
                   "the curve is uncertain.")
    return _captioned(ax, caption, " ".join(key))


def _curve_colors(table: pd.DataFrame, group: str | None, names: list, palette) -> list:
    """Colours of `km_curves`: `group_colors` (order detected on the column's dtype too), or the caller's list."""
    if palette is not None and not isinstance(palette, str):
        return list(palette)
    ordered = {"sequential": True, "qualitative": False}.get(palette) if palette else None
    if ordered is None:
        ordered = group is not None and _is_ordered(table[group])
    return group_colors(names, ordered=ordered)


def _text_width(texts: list[str], fontsize="small") -> float:
    """Width in points of the widest of ``texts`` (font metrics, so any backend and dpi; +10% for hinting)."""
    prop, measure = FontProperties(size=fontsize), TextToPath()
    return 1.1 * max((measure.get_text_width_height_descent(t, prop, ismath=False)[0] for t in texts), default=0.0)


def _fitting_ticks(ax, ticks: list, width: float) -> list:
    """Every k-th tick, with k the smallest that leaves ``width`` points (plus a gap) between tick centres."""
    low, high = ax.get_xlim()
    span = ax.get_position().width * ax.figure.get_figwidth() * 72  # points across the axes
    step = np.min(np.diff(ticks)) / (high - low) * span if len(ticks) > 1 else np.inf
    return ticks[::max(1, int(np.ceil((width + 6) / step)))]


def _at_risk_table(ax, groups, colors, ticks):
    low, high = ax.get_xlim()
    ticks = [x for x in (ax.get_xticks() if ticks is None else ticks) if low <= x <= high]
    counts = [[f"{_at_risk(t, x):,}" for x in ticks] for _, t in groups]
    ticks = _fitting_ticks(ax, ticks, _text_width([c for row in counts for c in row]))
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
    first = [f"{_at_risk(t, ticks[0]):,}" for _, t in groups] if ticks else []
    table.tick_params(axis="y", pad=_text_width(first) / 2 + 8)  # labels clear of the counts at the first tick
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


def forest(hrs: pd.DataFrame, *, ax=None, title: str | None = None, confidence: float = 0.95, caption: str = ""):
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
    return _captioned(ax, caption, f"Squares: hazard ratio of each term against its reference level (log scale, "
                                   f"so halving and doubling sit equally far from 1); lines: {_level(confidence)} "
                                   "interval. Dashed: no difference (1).")


def cumulative_incidence(cif: pd.DataFrame, *, ax=None, confidence: float = 0.95, caption: str = ""):
    """Cumulative incidence of churn per end reason (the output of `survival.cumulative_incidence`)."""
    ax = _ax(ax)
    causes = list(cif.groupby("cause", sort=False))
    for (cause, t), color in zip(causes, group_colors([c for c, _ in causes], ordered=False)):
        ax.step(t["time"], t["cif"], where="post", label=str(cause), color=color)
        ax.fill_between(t["time"], t["lower"], t["upper"], step="post", color=color, alpha=0.15, lw=0)
    ax.set(xlabel="tenure (months)", ylabel="share who left for this reason", title="Why customers leave",
           ylim=(0, None))
    ax.set_xlim(left=0)
    _percent(ax.yaxis)
    ax.legend(title="end reason", fontsize="small")
    return _captioned(ax, caption, f"Each curve: share of customers who had left for that reason by each tenure, "
                                   f"with the other reasons as competing events (Aalen-Johansen); the curves add up "
                                   f"to the share churned for any reason. Bands: {_level(confidence)} interval.")


def calibration(table: pd.DataFrame, *, t: float, ax=None, confidence: float = 0.95, caption: str = ""):
    """Observed (Kaplan-Meier, with interval) against predicted survival at tenure ``t``, per bin."""
    ax = _ax(ax, height=5)
    ax.errorbar(table["predicted"], table["observed"],
                yerr=_arms(table["observed"], table["lower"], table["upper"]), fmt="o", capsize=3)
    ax.plot([0, 1], [0, 1], ls=":", color="grey", label="perfect calibration")
    ax.set(xlabel=f"predicted survival at {t:g} months", ylabel="observed (Kaplan-Meier)",
           title="Calibration on held-out customers", xlim=(0, 1.02), ylim=(0, 1.02))
    _percent(ax.xaxis)
    _percent(ax.yaxis)
    ax.legend(loc="upper left")
    return _captioned(ax, caption, f"Each dot is a bin of held-out customers by predicted survival at {t:g} months: "
                                   f"mean prediction against the share observed still a customer, with its "
                                   f"{_level(confidence)} interval. Dots above the dotted diagonal: the model is too "
                                   "pessimistic there; below: too optimistic.")


def revenue_at_risk_bars(table: pd.DataFrame, *, ax=None, top: int = 12, horizon: float | None = None,
                         confidence: float = 0.95, caption: str = ""):
    """Expected revenue lost per segment with its interval (`churn.rank_revenue_at_risk`), largest first."""
    rows = table.head(top)
    ax = _ax(ax, height=1.2 + 0.4 * len(rows))
    labels = (rows["segmentation"] + ": " if "segmentation" in rows else "") + rows["segment"].astype(str)
    y = list(range(len(rows)))[::-1]
    ax.barh(y, rows["revenue_lost"], xerr=_arms(rows["revenue_lost"], rows["revenue_lost_lower"],
                                                rows["revenue_lost_upper"]), capsize=3)
    ax.set_yticks(y, labels.tolist())
    over = f"the next {horizon:g} months" if horizon is not None else "the horizon"
    ax.set(xlabel=f"expected revenue lost to churn over {over}", title="Where the revenue at risk sits")
    _thousands(ax.xaxis)
    return _captioned(ax, caption, f"Bars: revenue the segment's active customers are expected to lose to churn over "
                                   f"{over}, from each one's current tenure; lines: {_level(confidence)} interval. "
                                   "A customer is in one segment of each segmentation, so bars of different "
                                   "segmentations overlap and do not add up.")


# ---- retention effort ------------------------------------------------------------------------------
def propensity_overlap(ps: pd.Series, arm: pd.Series, *, trim=(0.05, 0.95), ax=None, caption: str = ""):
    """Histograms of the propensity score by arm, with the trimming bounds marked."""
    ax = _ax(ax)
    data = pd.DataFrame({"propensity": ps, "arm": arm.astype(str)}).dropna()
    sns.histplot(data=data, x="propensity", hue="arm", stat="density", common_norm=False, bins=40,
                 element="step", ax=ax)
    for bound in trim or ():
        ax.axvline(bound, color="grey", ls="--", lw=0.8)
    ax.set(xlabel="propensity score (probability of being treated)", title="Overlap of the arms", xlim=(0, 1))
    if trim:
        _add_to_legend(ax, [Line2D([], [], color="grey", ls="--", lw=0.8)], ["trimming bounds"], fontsize="small")
    return _captioned(ax, caption, "Distribution of the modelled probability of treatment in each arm (each arm's "
                                   "area is 1). Effects are estimated only where the arms overlap; customers outside "
                                   "the dashed bounds are trimmed.")


def balance_plot(table: pd.DataFrame, *, ax=None, threshold: float = 0.1, caption: str = ""):
    """Standardised mean differences before and after weighting (a "love plot")."""
    ax = _ax(ax, height=1.2 + 0.35 * len(table))
    y = list(range(len(table)))[::-1]
    ax.scatter(table["smd_unweighted"].abs(), y, marker="o", label="before weighting")
    if "smd_weighted" in table:
        ax.scatter(table["smd_weighted"].abs(), y, marker="s", label="after weighting")
    ax.axvline(threshold, color="grey", ls="--", lw=0.8, label=f"balance threshold ({threshold:g})")
    ax.set_yticks(y, table["term"].astype(str).tolist())
    ax.set(xlabel="|standardised mean difference|", title="Covariate balance")
    ax.legend(loc="lower right", fontsize="small")
    return _captioned(ax, caption, f"Difference between the arms' means of each covariate, in standard deviations. "
                                   f"Left of the dashed line ({threshold:g}) the arms are usually taken as "
                                   "balanced on it.")


def estimates(table: pd.DataFrame, *, label: str = "method", ax=None, title: str = "Estimated effect", zero=0.0,
              xlabel: str = "effect (treated minus control)", percent: bool = False, confidence: float = 0.95,
              caption: str = ""):
    """Point estimates with intervals, one row per ``label`` (e.g. naive, IPW, AIPW).

    ``percent``: the estimates are shares (0.02 = 2 points), drawn on a percent axis.
    """
    ax = _ax(ax, height=1.2 + 0.45 * len(table))
    y = list(range(len(table)))[::-1]
    ax.errorbar(table["estimate"], y, xerr=_arms(table["estimate"], table["lower"], table["upper"]),
                fmt="o", capsize=4)
    ax.axvline(zero, color="grey", ls="--", lw=0.8)
    ax.set_yticks(y, table[label].astype(str).tolist())
    ax.set(xlabel=xlabel, title=title)
    if percent:
        _percent(ax.xaxis)
    return _captioned(ax, caption, f"Dots: estimated effect per row; lines: {_level(confidence)} interval. Dashed: "
                                   "no effect. An interval that crosses it is compatible with no effect.")


def _robust_range(values: np.ndarray, keep: tuple[float, float]) -> tuple[float, float]:
    """Axis limits covering ``keep`` and every value inside Tukey's far fences (quartiles -/+ 3 IQR)."""
    finite = values[np.isfinite(values)]
    q1, q3 = np.percentile(finite, [25, 75]) if len(finite) else (0.0, 0.0)
    spread = 3 * max(q3 - q1, 0.1 * (keep[1] - keep[0]))
    inside = finite[(finite >= q1 - spread) & (finite <= q3 + spread)]
    low, high = min(keep[0], 0.0, *inside), max(keep[1], *inside)
    pad = 0.08 * (high - low)
    return low - pad, high + pad


def _mark_clipped(ax, x: np.ndarray, value: np.ndarray, edge: np.ndarray) -> None:
    """Triangles at the axis edge where values were clipped, one label per x and edge listing the values."""
    low, high = ax.get_xlim()
    for (at, y), v in pd.Series(value).groupby([x, edge]):
        up, right = bool(v.iloc[0] > y), at > (low + high) / 2  # labels point inwards, clear of the legend
        ax.plot([at], [y], marker="^" if up else "v", color="black", ms=8, ls="none")
        ax.annotate(", ".join(f"{w:,.0f}%" for w in sorted(v, reverse=up)), (at, y), xytext=(-8 if right else 8,
                    -11 if up else 5), textcoords="offset points", ha="right" if right else "left", fontsize="small",
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8})


def claim_sensitivity(grid: pd.DataFrame, *, claim=(25, 85), ax=None, clip: bool = True, caption: str = ""):
    """Profit increase from 5 more points of retention against acquisition cost, one line per margin and discount.

    The increase is a percentage of the profit before, so where that profit is near zero it runs
    to hundreds of percent (or flips sign) and one point would flatten every other line and the
    claimed band. With ``clip`` (default) the axis covers the claim and every value within
    Tukey's far fences (quartiles -/+ 3 IQR); points beyond are drawn at the edge as triangles
    labelled with their value. A log axis would not do: increases can be zero or negative.
    """
    ax = _ax(ax, height=4.5)
    data = grid.assign(margin=grid["margin"].map(lambda m: f"{m:,.2f} per month"),
                       discount_rate=grid["discount_rate"].map(lambda d: f"{d:.0%}"))
    value = data["increase_pct"].to_numpy(dtype=float)
    low, high = _robust_range(value, claim) if clip else (None, None)
    shown = np.clip(value, low, high) if clip else value
    sns.lineplot(data=data.assign(increase_pct=shown).rename(columns={"discount_rate": "discount rate"}),
                 x="acquisition_cost", y="increase_pct", hue="margin", style="discount rate", marker="o", ax=ax)
    band = ax.axhspan(*claim, color="grey", alpha=0.15)
    handles, labels = [band], [f"claimed {claim[0]:g}-{claim[1]:g}%"]
    out = np.isfinite(value) & (value != shown)
    _mark_clipped(ax, data["acquisition_cost"].to_numpy()[out], value[out], shown[out])
    if out.any():
        ax.set_ylim(low, high)
        handles.append(Line2D([], [], marker="^", color="black", ls="none"))
        labels.append("beyond the axis (value shown)")
    ax.set(xlabel="cost of acquiring a customer", ylabel="profit increase per customer",
           title="What 5 more points of retention are worth")
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=100, decimals=0))
    _add_to_legend(ax, handles, labels, fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
    return _captioned(ax, caption, "Each line: the increase in profit per customer from 5 more points of 12-month "
                                   "retention, for one monthly margin (colour) and discount rate (line style). Grey "
                                   "band: the claimed range. Where profit before is near zero the percentage "
                                   "explodes" + ("; such points are shown as triangles at the edge." if out.any()
                                                 else "."))


# ---- complaints -------------------------------------------------------------------------------------
def _dated(ax) -> None:
    locator = mdates.AutoDateLocator(maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def trend(table: pd.DataFrame, *, ax=None, title: str = "", ylabel: str = "", x: str = "month", incomplete: int = 0,
          percent: bool = False, caption: str = ""):
    """A monthly indicator with its interval band (the KPI tables of `complaints`).

    ``incomplete``: the last k months are not final (complaints opened then are still being
    resolved, so a share resolved reads low): they are shaded, drawn dashed, and named in the
    legend. ``percent``: the value is a share, drawn on a percent axis.
    """
    ax = _ax(ax, height=3.2)
    t = table.assign(**{x: pd.to_datetime(table[x].astype(str))})  # Timestamps, Periods or month strings
    line = ax.plot(t[x], t["value"], marker=".")[0]
    ax.fill_between(t[x], t["lower"], t["upper"], alpha=0.2, lw=0)
    k = min(int(incomplete), len(t))
    if k:
        _shade_incomplete(ax, line, t[x], t["value"], k)
    ax.set(title=title, ylabel=ylabel, xlabel="")
    ax.set_ylim(bottom=0)
    _dated(ax)
    if percent:
        _percent(ax.yaxis)
    key = "Line: the indicator per month; band: its interval."
    if k:
        key += (f" Shaded: the last {k} month{'s' if k > 1 else ''}, not yet final (recent cases are still open), "
                "so the value there will still move.")
    return _captioned(ax, caption, key)


def _shade_incomplete(ax, line, when: pd.Series, value: pd.Series, k: int) -> None:
    """Shade the last ``k`` periods, draw them dashed with open markers (``line`` keeps the rest), add a legend."""
    when, value = when.reset_index(drop=True), value.reset_index(drop=True)
    step = when.diff().median() if len(when) > 1 else pd.Timedelta(days=30)
    ax.axvspan(when.iloc[-k] - step / 2, when.iloc[-1] + step / 2, color="grey", alpha=0.12, lw=0,
               label="incomplete (not yet final)")
    final = len(when) - k
    line.set_data(when.iloc[:final], value.iloc[:final])
    tail = slice(max(final - 1, 0), None)  # joined to the last final month
    ax.plot(when.iloc[tail], value.iloc[tail], ls="--", marker="o", mfc="white", ms=4, color=line.get_color())
    ax.legend(loc="best", fontsize="small")


def event_study(table: pd.DataFrame, *, ax=None, ylabel: str = "revenue, complainers minus matched controls",
                percent: bool | None = None, confidence: float = 0.95, caption: str = ""):
    """Difference in differences by month relative to the complaint (k = 0), with intervals.

    ``percent``: the differences are shares of pre-complaint revenue (a percent axis); None
    reads it from the table (``attrs["relative"]``, set by `recovery.event_study`).
    """
    ax = _ax(ax)
    ax.errorbar(table["k"], table["did"], yerr=_arms(table["did"], table["lower"], table["upper"]),
                fmt="o-", capsize=3)
    ax.axhline(0, color="grey", lw=0.8)
    ax.axvline(-0.5, color="grey", ls="--", lw=0.8)
    ax.annotate("complaint opened", (-0.5, 1), xycoords=("data", "axes fraction"), xytext=(4, -12),
                textcoords="offset points", fontsize="small", color="grey")
    ax.set(xlabel="months from the complaint (0 = the month it was opened)", ylabel=textwrap.fill(ylabel, 40),
           title="Revenue around a complaint")
    if table.attrs.get("relative", False) if percent is None else percent:
        _percent(ax.yaxis)
    return _captioned(ax, caption, f"Dots: revenue of complainers minus matched customers who did not complain, "
                                   f"each against its own months before the complaint; lines: {_level(confidence)} "
                                   "interval. Months before the dashed line are placebo checks and should sit near 0.")


def kpi_grid(trends: dict, *, ncols: int = 2, incomplete: int | Mapping[str, int] = 0,
             percent: bool | Collection[str] = (), caption: str = ""):
    """Small multiples of monthly indicators: ``{title: table}`` with month, value, lower, upper. Returns the Axes.

    ``incomplete``: the last k months to shade as incomplete (`trend`), for every panel (an int)
    or per title (``{"Resolved": 2}``). ``percent``: True, or the titles whose values are shares.
    """
    nrows = -(-len(trends) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(11, 2.8 * nrows), sharex=True, squeeze=False)
    for ax, (title, table) in zip(axes.flat, trends.items()):
        k = incomplete.get(title, 0) if isinstance(incomplete, Mapping) else incomplete
        share = percent if isinstance(percent, bool) else title in percent
        trend(table, ax=ax, title=title, incomplete=k, percent=share)
    for i, ax in enumerate(list(axes.flat)[len(trends):], start=len(trends)):
        ax.set_visible(False)
        if i >= ncols:  # the panel above an empty slot is the bottom one of its column: give it dates
            axes.flat[i - ncols].xaxis.set_tick_params(which="both", labelbottom=True)
    fig.tight_layout()
    return _captioned(axes, caption, "Each panel: one indicator per month (line) with its interval (band)" +
                      ("; shaded months are not yet complete." if incomplete else "."))


def qini(curves: pd.DataFrame, *, ax=None, title: str = "Qini curve: targeting by predicted effect",
         caption: str = ""):
    """Cumulative gain of targeting customers in order of predicted effect, against random targeting.

    ``curves`` is `helpers.stats.targeting.UpliftCurves.curves` (``arm``, ``share``, ``qini`` with
    ``qini_lower``/``qini_upper``, ``random``); one line per arm, its bootstrap band shaded.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.2))
    arms = list(dict.fromkeys(curves["arm"]))
    colors = dict(zip(arms, group_colors(arms)))
    for arm, c in curves.groupby("arm", sort=False):
        color = colors[arm]
        ax.plot(c["share"], c["qini"], color=color, label=f"{arm}: by predicted effect")
        if {"qini_lower", "qini_upper"} <= set(c):
            ax.fill_between(c["share"], c["qini_lower"], c["qini_upper"], color=color, alpha=0.2, linewidth=0)
        ax.plot(c["share"], c["random"], color=color, linestyle="--", linewidth=1, label=f"{arm}: at random")
    _percent(ax.xaxis)
    ax.set_xlabel("share of customers targeted")
    ax.set_ylabel("gain per customer of the population")
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_title(title)
    ax.legend(frameon=False, fontsize="small")
    return _captioned(ax, caption, "Above the dashed line, targeting by predicted effect gains more than targeting "
                      "the same share at random; a band that reaches the dashed line cannot tell them apart.")

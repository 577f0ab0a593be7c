"""Plot helpers draw what they say: curves, bands, at-risk rows, intervals."""
import matplotlib as mpl
import numpy as np
import pandas as pd
import pytest

from helpers import plots
from helpers.stats import survival


def _customers(n=300, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"tenure_months": rng.exponential(20, n).round(1), "churned": rng.random(n) < 0.7,
                         "g": rng.choice(["a", "b", "c"], n)})


def test_km_curves_draw_one_curve_per_group_with_bands_and_at_risk_rows():
    df = _customers()
    table = survival.km_table(df, group="g")
    ax = plots.km_curves(table, group="g", ticks=[0, 10, 20, 30])
    assert len(ax.lines) == 3 and len(ax.collections) == 3  # curves and confidence bands
    at_risk = [t for t in ax.at_risk_ax.texts if t.get_gid() == "at-risk"]
    assert len(at_risk) == 3 * 4  # one count per group and tick
    assert [t.get_text() for t in ax.at_risk_ax.get_yticklabels()] == ["a", "b", "c"][::-1] or \
        [t.get_text() for t in ax.at_risk_ax.get_yticklabels()] == ["a", "b", "c"]
    counts = [int(t.get_text().replace(",", "")) for t in at_risk[:4]]
    assert counts == [int((df.loc[df.g == "a", "tenure_months"] >= x).sum()) for x in (0, 10, 20, 30)]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b", "c"]


def test_km_curves_without_bands_or_table():
    ax = plots.km_curves(survival.km_table(_customers()), ci=False, at_risk=False)
    assert len(ax.lines) == 1 and not ax.collections and not hasattr(ax, "at_risk_ax")


def test_forest_plots_each_term_on_a_log_axis():
    hrs = pd.DataFrame({"term": ["x", "y"], "hr": [0.5, 2.0], "lower": [0.4, 1.5], "upper": [0.7, 2.5]})
    ax = plots.forest(hrs)
    labels = dict(zip(ax.get_yticks(), (t.get_text() for t in ax.get_yticklabels())))
    assert ax.get_xscale() == "log" and labels == {1: "x", 0: "y"}  # first term on top
    assert ax.lines[-1].get_xdata()[0] == 1  # the no-effect line
    assert ax.get_title() == "Hazard ratios of churn (95% interval)"


@pytest.mark.parametrize(("confidence", "label"), [(0.9, "90%"), (0.975, "97.5%")])
def test_interval_labels_say_the_confidence_level_used(confidence, label):
    hrs = pd.DataFrame({"term": ["x"], "hr": [0.5], "lower": [0.4], "upper": [0.7]})
    assert plots.forest(hrs, confidence=confidence).get_title() == f"Hazard ratios of churn ({label} interval)"
    rates = pd.DataFrame({"g": ["a"], "rate": [0.2], "lower": [0.1], "upper": [0.3]})
    assert plots.churn_rate_bars(rates, "g", confidence=confidence).get_xlabel() == f"share churned ({label} interval)"


def test_calibration_and_revenue_bars():
    cal = pd.DataFrame({"predicted": [0.2, 0.8], "observed": [0.25, 0.75], "lower": [0.1, 0.6], "upper": [0.4, 0.9]})
    ax = plots.calibration(cal, t=12)
    assert len(ax.lines) >= 2 and "12 months" in ax.get_xlabel()
    table = pd.DataFrame({"segmentation": ["contract", "quadrant"], "segment": ["m2m", "win_back"],
                          "revenue_lost": [100.0, 50.0], "revenue_lost_lower": [90.0, 40.0],
                          "revenue_lost_upper": [110.0, 60.0]})
    ax = plots.revenue_at_risk_bars(table)
    labels = dict(zip(ax.get_yticks(), (t.get_text() for t in ax.get_yticklabels())))
    assert len(ax.patches) == 2 and labels == {1: "contract: m2m", 0: "quadrant: win_back"}  # largest on top


def test_cumulative_incidence_draws_one_curve_per_cause():
    cif = pd.DataFrame({"cause": ["price"] * 3 + ["moved"] * 3, "time": [0, 1, 2] * 2,
                        "cif": [0, 0.1, 0.2, 0, 0.05, 0.1], "lower": [0, 0.05, 0.1, 0, 0.02, 0.05],
                        "upper": [0, 0.15, 0.3, 0, 0.1, 0.15]})
    ax = plots.cumulative_incidence(cif)
    assert len(ax.lines) == 2 and [t.get_text() for t in ax.get_legend().get_texts()] == ["price", "moved"]


def test_trend_accepts_timestamps_periods_and_month_strings():
    for months in (pd.date_range("2023-01-01", periods=3, freq="MS"), pd.period_range("2023-01", periods=3, freq="M"),
                   ["2023-01", "2023-02", "2023-03"]):
        ax = plots.trend(pd.DataFrame({"month": months, "value": [1.0, 2, 3], "lower": [0.0, 1, 2],
                                       "upper": [2.0, 3, 4]}))
        assert pd.Timestamp(ax.lines[0].get_xdata()[0]) == pd.Timestamp("2023-01-01")
        assert len(ax.collections) == 1  # the interval band


# ---- issue 17: figures a reader can read ------------------------------------------------------------
def _oklab_of(colors):
    return plots._oklab(np.array([mpl.colors.to_rgb(c) for c in colors]))


@pytest.mark.parametrize("n", [12, 20])
def test_unordered_groups_get_colours_that_never_repeat(n):
    # the closest pair within tab10 itself sits 0.113 apart in OKLab; no colour added beyond 10 comes closer
    lab = _oklab_of(plots.group_colors([f"region {i}" for i in range(n)]))
    gaps = np.linalg.norm(lab[:, None] - lab[None], axis=2) + 9 * np.eye(n)
    assert gaps.min() > 0.1


def test_signup_cohorts_get_a_sequential_ramp_and_the_pooled_group_grey():
    cohorts = [f"{y}Q{q}" for y in (2021, 2022, 2023) for q in (1, 2, 3, 4)]
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"tenure_months": rng.exponential(20, 1200), "churned": rng.random(1200) < 0.6,
                       "cohort": rng.choice(cohorts + ["other (pooled)"], 1200)})
    ax = plots.km_curves(survival.km_table(df, group="cohort"), group="cohort", ci=False, at_risk=False)
    colors = {line.get_label(): line.get_color() for line in ax.lines}
    lightness = _oklab_of([colors[c] for c in cohorts])[:, 0]
    assert (np.diff(lightness) > 0).all()  # viridis: each later cohort lighter, in time order
    assert mpl.colors.to_hex(colors["other (pooled)"]) == plots.OTHER
    assert len({mpl.colors.to_hex(c) for c in colors.values()}) == 13
    forced = plots.km_curves(survival.km_table(df, group="cohort"), group="cohort", palette="qualitative",
                             ci=False, at_risk=False)
    assert forced.lines[0].get_color() == plots.group_colors(["x"], ordered=False)[0]


def _boxes(fig, artists):
    renderer = fig.canvas.get_renderer()
    return [a.get_window_extent(renderer) for a in artists]


@pytest.mark.parametrize(("group", "ticks"), [(None, None), ("g", [0, 10, 20, 30]), ("g", list(range(0, 61, 2)))])
def test_at_risk_labels_and_counts_never_collide(group, ticks):
    # the bug: "all customers" ran into "20,000", the count at tenure 0
    df = _customers(n=20000, seed=2).assign(
        g=lambda d: d["g"].map({"a": "month-to-month", "b": "one-year", "c": "two-year"}))
    ax = plots.km_curves(survival.km_table(df, group=group), group=group, ticks=ticks)
    fig = ax.figure
    fig.canvas.draw()
    table = ax.at_risk_ax
    labels = _boxes(fig, table.get_yticklabels())
    counts = [t for t in table.texts if t.get_gid() == "at-risk"]
    boxes = _boxes(fig, counts)
    gap = 3 * fig.dpi / 72  # 3 points: the old layout left 0.2 pixels between "all customers" and "20,000"
    assert max(b.x1 for b in labels) + gap < min(b.x0 for b in boxes)  # every row label clear of every count
    for row in {t.get_position()[1] for t in counts}:  # counts of one row side by side, never overlapping
        row_boxes = sorted((b for b, t in zip(boxes, counts) if t.get_position()[1] == row), key=lambda b: b.x0)
        assert all(left.x1 < right.x0 for left, right in zip(row_boxes, row_boxes[1:]))
    assert "at risk" in plots.caption_of(ax)


def _months(values, lower=None, upper=None):
    values = np.asarray(values, dtype=float)
    return pd.DataFrame({"month": pd.period_range("2023-01", periods=len(values), freq="M"), "value": values,
                         "lower": values - 0.02 if lower is None else lower,
                         "upper": values + 0.02 if upper is None else upper})


def test_trend_shades_the_incomplete_last_months_with_a_legend_entry():
    table = _months([0.9] * 9 + [0.8, 0.6, 0.4])
    ax = plots.trend(table, incomplete=3, percent=True, title="Resolved")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["incomplete (not yet final)"]
    shade = ax.patches[0].get_bbox()  # the shaded span, in data coordinates
    september, october, december = (mpl.dates.date2num(pd.Timestamp(f"2023-{m}-01")) for m in (9, 10, 12))
    assert september < shade.x0 < october and december < shade.x1  # the last final month is not shaded
    assert len(ax.lines[0].get_xdata()) == 9 and ax.lines[1].get_linestyle() == "--"
    assert ax.yaxis.get_major_formatter()(0.25, 0) == "25%"
    assert "last 3 months" in plots.caption_of(ax)
    assert plots.trend(table).get_legend() is None  # no option, no shading


def test_kpi_grid_shades_per_panel_and_keeps_dates_under_every_column():
    trends = {"Complaints per 1,000 customers": _months(np.full(12, 11.0)), "First-contact resolution":
              _months(np.full(12, 0.7)), "Resolved": _months([0.9] * 10 + [0.7, 0.5])}
    axes = plots.kpi_grid(trends, incomplete={"Resolved": 2}, percent={"First-contact resolution", "Resolved"})
    rate, fcr, resolved = axes.flat[:3]
    assert resolved.get_legend() is not None and rate.get_legend() is None and fcr.get_legend() is None
    assert fcr.yaxis.get_major_formatter()(0.5, 0) == "50%" and rate.yaxis.get_major_formatter()(10, 0) != "1000%"
    axes.flat[0].figure.canvas.draw()
    assert any(t.get_visible() and t.get_text() for t in fcr.get_xticklabels())  # above the empty slot
    assert not axes.flat[3].get_visible()


def _claim_grid(outlier=None):
    grid = pd.DataFrame([{"margin": m, "discount_rate": d, "acquisition_cost": a, "increase_pct": 5 + a / 60 + m / 10}
                         for m in (10.0, 20.0) for d in (0.05, 0.1) for a in (50.0, 150.0, 300.0, 600.0)])
    if outlier is not None:
        grid.loc[(grid["margin"] == 10) & (grid["discount_rate"] == 0.1) & (grid["acquisition_cost"] == 600),
                 "increase_pct"] = outlier
    return grid


def test_claim_sensitivity_keeps_an_outlier_from_flattening_the_rest():
    ax = plots.claim_sensitivity(_claim_grid(outlier=237.0))
    low, high = ax.get_ylim()
    assert 85 < high < 120 and low <= 0  # the claimed band and every ordinary point, not 237
    assert [t.get_text() for t in ax.texts] == ["237%"]  # the clipped point carries its value
    assert "beyond the axis (value shown)" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert ax.yaxis.get_major_formatter()(50, 0) == "50%"
    assert plots.claim_sensitivity(_claim_grid(outlier=237.0), clip=False).get_ylim()[1] > 237
    plain = plots.claim_sensitivity(_claim_grid())
    assert not plain.texts and "claimed 25-85%" in [t.get_text() for t in plain.get_legend().get_texts()]


def test_event_study_axis_is_in_percent_when_the_table_is_relative():
    es = pd.DataFrame({"k": [-1, 0, 1], "did": [0.0, -0.08, -0.04], "lower": [-0.01, -0.09, -0.05],
                       "upper": [0.01, -0.07, -0.03]})
    es.attrs["relative"] = True
    assert plots.event_study(es).yaxis.get_major_formatter()(-0.08, 0) == "-8%"
    es.attrs["relative"] = False
    assert plots.event_study(es).yaxis.get_major_formatter()(-0.08, 0) != "-8%"
    assert plots.event_study(es, percent=True).yaxis.get_major_formatter()(0.025, 0) == "2.5%"


def test_churn_rate_bars_list_the_groups_top_down_in_percent():
    rates = pd.DataFrame({"g": ["a", "b"], "rate": [0.2, 0.4], "lower": [0.1, 0.3], "upper": [0.3, 0.5]})
    ax = plots.churn_rate_bars(rates, "g")
    assert dict(zip(ax.get_yticks(), (t.get_text() for t in ax.get_yticklabels()))) == {1: "a", 0: "b"}
    assert ax.xaxis.get_major_formatter()(0.4, 0) == "40%"


def _every_figure():
    df = _customers()
    share = pd.DataFrame({"estimate": [0.1], "lower": [0.0], "upper": [0.2], "method": ["IPW"]})
    hrs = pd.DataFrame({"term": ["x"], "hr": [0.5], "lower": [0.4], "upper": [0.7]})
    return {
        "tenure_histogram": lambda c: plots.tenure_histogram(df, caption=c),
        "churn_rate_bars": lambda c: plots.churn_rate_bars(
            pd.DataFrame({"g": ["a"], "rate": [0.2], "lower": [0.1], "upper": [0.3]}), "g", caption=c),
        "pareto": lambda c: plots.pareto(pd.DataFrame({"customer_share": np.linspace(0, 1, 11),
                                                       "revenue_share": np.linspace(0, 1, 11) ** 0.5}), caption=c),
        "contact_mix_bars": lambda c: plots.contact_mix_bars(pd.DataFrame({"kind": ["complaint"], "contacts": [3]}),
                                                             caption=c),
        "km_curves": lambda c: plots.km_curves(survival.km_table(df), caption=c),
        "forest": lambda c: plots.forest(hrs, caption=c),
        "cumulative_incidence": lambda c: plots.cumulative_incidence(pd.DataFrame(
            {"cause": "price", "time": [0, 1], "cif": [0, 0.1], "lower": [0, 0.05], "upper": [0, 0.15]}), caption=c),
        "calibration": lambda c: plots.calibration(pd.DataFrame({"predicted": [0.5], "observed": [0.5],
                                                                 "lower": [0.4], "upper": [0.6]}), t=12, caption=c),
        "revenue_at_risk_bars": lambda c: plots.revenue_at_risk_bars(pd.DataFrame(
            {"segment": ["a"], "revenue_lost": [1.0], "revenue_lost_lower": [0.5], "revenue_lost_upper": [2.0]}),
            horizon=24, caption=c),
        "propensity_overlap": lambda c: plots.propensity_overlap(pd.Series(np.linspace(0.1, 0.9, 40)),
                                                                 pd.Series(["a", "b"] * 20), caption=c),
        "balance_plot": lambda c: plots.balance_plot(pd.DataFrame({"term": ["x"], "smd_unweighted": [0.3]}),
                                                     caption=c),
        "estimates": lambda c: plots.estimates(share, percent=True, caption=c),
        "claim_sensitivity": lambda c: plots.claim_sensitivity(_claim_grid(), caption=c),
        "trend": lambda c: plots.trend(_months([0.5, 0.6]), caption=c),
        "event_study": lambda c: plots.event_study(pd.DataFrame({"k": [0], "did": [0.1], "lower": [0.0],
                                                                 "upper": [0.2]}), caption=c),
        "kpi_grid": lambda c: plots.kpi_grid({"a": _months([0.5, 0.6])}, caption=c),
        "qini": lambda c: plots.qini(pd.DataFrame({"arm": "mail", "share": [0.0, 0.5, 1.0], "qini": [0, 0.3, 0.4],
                                                   "qini_lower": [0, 0.1, 0.2], "qini_upper": [0, 0.5, 0.6],
                                                   "random": [0, 0.2, 0.4]}), caption=c),
    }


@pytest.mark.parametrize("name", sorted(_every_figure()))
def test_every_figure_carries_the_callers_caption_and_a_key(name):
    drawn = _every_figure()[name]("Churn is highest early.")
    caption = plots.caption_of(drawn)
    assert caption.startswith("Churn is highest early. ") and len(caption) > 60  # the key follows the caption
    assert plots.caption_of(_every_figure()[name]("")) == caption.removeprefix("Churn is highest early. ")


def test_every_public_figure_function_is_covered_by_the_caption_test():
    public = {name for name, f in vars(plots).items() if callable(f) and not name.startswith("_")
              and getattr(f, "__module__", "") == plots.__name__ and name not in {"group_colors", "caption_of"}}
    assert public == set(_every_figure())

"""The sections of ``notebooks/02_retention_effort_revenue.ipynb``: what a retention campaign did, and whether it paid.

`open_experiment` opens the rows (a campaign of a data set, or a one-table experiment) and
returns a `Section` whose value is an `Experiment`: the rows, the checked design, the arms and
which column holds what. Every later step takes that section and loops over the arms itself,
so the notebook never branches on the design or on which outcomes the experiment has.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from helpers import plots
from helpers.data import privacy
from helpers.data import schema as S
from helpers.data.io import Dataset
from helpers.data.mapping import mapping_notes, match_columns, source_name_map
from helpers.data.segments import QUADRANT
from helpers.data.validate import require_columns
from helpers.engine import scale
from helpers.findings import slug, verdict
from helpers.stats import economics, effects, sensitivity, survival
from helpers.stats import retention as retention_stats
from helpers.stats.intervals import normal_quantile
from helpers.steps import checks
from helpers.steps.checks import data_quality
from helpers.steps.section import Section, Skip, step, value
from helpers.tables import interval, number, p_words, percent, points

_REVENUE = ("revenue", "Did the campaign raise revenue?")
_KEPT = ("kept", "Did the campaign keep customers?")
_PAYS = ("pays", "Claim: retention effort pays for itself.")
_FIVE_POINTS = ("five_points", "Claim: 5% more retention raises profit by 25% to 85%.")
_EFFECT_WORDS = {"supported": "", "contradicted": "", "inconclusive": " Not distinguishable from no effect."}


def _undetectable(row, confidence: float, fmt=number, unit: str = "") -> str:
    """For an inconclusive effect of a result row: the smallest one these data could have detected (80% power)."""
    return checks.undetectable_difference(row.get("se"), unit, confidence=confidence, fmt=fmt, noun="effect")

READINGS = (("margin on revenue effect", "revenue"), ("lifetime value", "lifetime"))  # value_table reading, key


@dataclass(frozen=True)
class Experiment:
    """What every section of the notebook works on: the rows and what their columns mean.

    ``frame`` has one row per customer; ``ds`` is the campaign's data set (None for a one-table
    experiment); ``arms`` are the non-control values of ``arm``, each compared with ``control``.
    ``pre``, ``churn``, ``duration`` and ``contacts`` are "" when the experiment has no such column.
    """

    frame: pd.DataFrame
    design: str
    arms: list
    source: str
    ds: Dataset | None
    arm: str
    control: object
    outcome: str
    pre: str = ""
    churn: str = ""
    duration: str = ""
    contacts: str = ""
    covariates: tuple = ()
    window_months: int = 12
    unit: str = "currency"  # of the outcome: currency, share (a 0/1 outcome or a rate) or count

    def shown(self, x) -> str:
        """A value (or a difference) of the outcome in its unit: 147, +4.2 pp, 0.31."""
        return points(x) if self.unit == "share" else number(x)


UNITS = ("auto", "currency", "share", "count")
_MONEY = re.compile(r"revenue|spend|sales|amount|value|margin|profit|price|eur|usd|gbp", re.I)


def read_unit(frame: pd.DataFrame, outcome: str, unit: str = "auto") -> str:
    """The unit of ``outcome``: the parameter when given, else read from the column.

    A 0/1 column is a share; a name that speaks of money (revenue, spend, value...) is currency;
    whole numbers otherwise are a count; anything else is taken as currency only when named so,
    else as a count-like quantity (no currency is ever assumed for a visit rate).
    """
    if unit != "auto":
        if unit not in UNITS:
            raise ValueError(f"OUTCOME_UNIT {unit!r} is not one of {', '.join(UNITS)}")
        return unit
    values = frame[outcome].dropna()
    if len(values) and values.isin([0, 1]).all():
        return "share"
    if _MONEY.search(str(outcome)):
        return "currency"
    return "count"


def open_experiment(*, dataset: str, campaign: str, experiment_file: str = "", design: str = "auto",
                    arm: str = S.ARM, control=S.CONTROL, outcome: str = retention_stats.REVENUE_WINDOW,
                    pre: str = "", churn: str = "", duration: str = "", contacts: str = "", covariates=(),
                    window_months: int = 12, pre_months: int = 6, outcome_unit: str = "auto", engine: str = "auto",
                    threshold: int = scale.LARGE,
                    sample: int = scale.SAMPLE, seed: int = 0, min_cell: int = privacy.MIN_CELL) -> Section:
    """Open the experiment and show where its rows came from, its design and its arms.

    Not a `step`: when the rows cannot be opened (no such campaign, a design that contradicts
    the record, a parameter naming a missing column) this raises, and the run fails with that
    message -- every other section needs the rows, so a report without them has nothing to show.
    The section's value is the `Experiment`; its finding is the design analysed.
    """
    data = None if experiment_file else scale.open_data(dataset, engine=engine, threshold=threshold, sample=sample,
                                                        seed=seed)
    frame, design, ds, source, table = retention_stats.load_experiment(
        dataset=dataset, campaign=campaign, experiment_file=experiment_file, design=design,
        window_months=window_months, pre_months=pre_months, ds=None if data is None else data.ds)
    covariates, matched = match_columns(frame, list(covariates), sources=None if ds is None else source_name_map(ds))
    require_columns(frame, [arm, outcome, pre, churn, duration, contacts, *covariates], table=table,
                    parameter="the parameters")
    exp = Experiment(frame, design, retention_stats.arms_against(frame, arm, control), source, ds, arm, control,
                     outcome, pre, churn, duration, contacts, tuple(covariates), window_months,
                     read_unit(frame, outcome, outcome_unit))
    out = Section("experiment", value=exp)
    if data is not None and data.sampled:
        out.lead("How this report was computed.", f"{data.sample_note('The campaign analysis')} Intervals are "
                 "those of the sample: wider than the full data would give.")
    counts, note = privacy.suppress_small(retention_stats.arm_counts(frame, arm=arm), count="customers", k=min_cell,
                                          what="arms")
    return (out.lead("Data:", f"{source}.").text(*mapping_notes({} if ds is None else ds.tables), *matched)
            .lead("Design:", f"{design}. Each of {', '.join(map(str, exp.arms))} is compared with {control}.")
            .lead("Outcome:", f"{outcome}, read as a {exp.unit}"
                  + (" (a share: effects in percentage points)." if exp.unit == "share" else "."))
            .text(note).table(counts)
            .pipe(data_quality, frame, what="experiment's rows")
            .find("design", design, label="Design analysed"))


def leakage(experiment: Section) -> Section:
    """Before any effect: does one covariate (or the arm) nearly determine churn in the window?"""
    exp = value(experiment)
    if exp is None:  # the check then skips, as every section after a failed opening
        return checks.leakage(pd.DataFrame(), "", [])
    return checks.leakage(exp.frame, exp.churn, [exp.arm, *exp.covariates])  # skipped without a churn outcome


def _opened(experiment: Section) -> Experiment:
    exp = value(experiment)
    if exp is None:
        raise Skip("This section needs the experiment, which did not run.")
    return exp


def _effects(exp: Experiment, outcome: str, **kw) -> pd.DataFrame:
    """`retention.effect_table` of one outcome, every arm against control by the design's methods."""
    return retention_stats.effect_table(exp.frame, outcome=outcome, design=exp.design, arm=exp.arm,
                                        control=exp.control, covariates=list(exp.covariates), **kw)


@step("balance")
def balance(experiment: Section, *, trim=(0.05, 0.95), min_cell: int = privacy.MIN_CELL) -> Section:
    """Covariate balance per arm; in a targeted design also the propensity overlap and the trimming rule."""
    exp = _opened(experiment)
    out, tables = Section(), {}
    for a in exp.arms:
        diagnostics = None
        if exp.design == "targeted":
            diagnostics = retention_stats.targeted_diagnostics(exp.frame, arm=exp.arm, treated=a, control=exp.control,
                                                               min_cell=min_cell, covariates=list(exp.covariates),
                                                               trim=trim)
            rule = diagnostics["overlap"]["rule"]
            out.figure(plots.propensity_overlap(diagnostics["ps"], exp.frame[exp.arm], trim=trim),
                       "The estimated chance of being treated, per arm: where the arms do not overlap there is no "
                       "comparable customer, and those customers are trimmed.")
            out.text(f"{a}: {rule[0].upper()}{rule[1:]}.")
            table = diagnostics["balance"]
        else:
            table = effects.balance(exp.frame, covariates=list(exp.covariates), arm=exp.arm, treated=a,
                                    control=exp.control, min_cell=min_cell)
        tables[a] = table
        out.figure(plots.balance_plot(table.rename(columns={"covariate": "term"})),
                   "Standardized differences between the arms per covariate; within the dashed lines (0.1) the arms "
                   "are comparable on it.").table(table)
        out.text(privacy.pooled_notes(table, diagnostics))
    out.value = tables
    return out


@step("revenue_effect", asks=[_REVENUE])
def revenue_effect(experiment: Section, *, trim=(0.05, 0.95), confidence: float = 0.95,
                   min_cell: int = privacy.MIN_CELL) -> Section:
    """The effect on the outcome by every method of the design; the headline method per arm is the finding.

    Randomized: the CUPED row also records the variance it removed. Targeted: the naive
    (biased) difference is recorded beside the AIPW headline, so the bias is in the results.
    """
    exp = _opened(experiment)
    table = _effects(exp, exp.outcome, pre=exp.pre or None, trim=trim, confidence=confidence, min_cell=min_cell)
    head = retention_stats.headline(table, exp.design).assign(outcome=exp.outcome)
    out = (Section(value=table)
           .figure(plots.estimates(table.assign(method=table["arm"].astype(str) + ": " + table["method"]),
                                   title=f"Effect on {exp.outcome}", confidence=confidence,
                                   xlabel=f"effect on {exp.outcome} (treated minus control)"),
                   "Each estimate with its interval: the methods differ in what they adjust for; an interval that "
                   "crosses 0 cannot tell the effect from none.")
           .table(table)
           .table(_arm_means(exp), caption=f"Each arm's mean {exp.outcome} beside the differences below.",
                  percent=[f"mean {exp.outcome}"] if exp.unit == "share" else ())
           .find_rows(head, "effect.revenue.{arm}", value="estimate", ci=("lower", "upper"), key=True,
                      unit={"share": "pp", "currency": "currency"}.get(exp.unit, ""),
                      label="Effect of {arm} on {outcome} ({method})")
           .find_rows(head, "variance_reduction.{arm}", value="variance_reduction", unit="share",
                      label="Variance removed by CUPED", where=lambda row: pd.notna(row["variance_reduction"])))
    if exp.design == "targeted":
        out.find_rows(table[table["method"].str.startswith("naive")], "naive.revenue.{arm}", value="estimate",
                      ci=("lower", "upper"), label="Naive (biased) difference, {arm}")
    for _, row in head.iterrows():
        said = verdict(row["lower"], row["upper"])
        name = f"effect.revenue.{slug(row['arm'])}"
        out.answer(f"{_REVENUE[0]}.{slug(row['arm'])}", _REVENUE[1] + _arm_words(exp, row["arm"]),
                   f"Customers in {row['arm']} had {_signed_in(exp, row['estimate'])} {exp.outcome} per customer "
                   f"against {exp.control} ({confidence:.0%} interval "
                   f"{interval(row['lower'], row['upper'], exp.shown)}; {row['method']}).{_EFFECT_WORDS[said]}"
                   + (_undetectable(row, confidence, exp.shown) if said == "inconclusive" else "")
                   + (_hidden_bias(out, exp, row) if exp.design == "targeted" else ""), verdict=said, finding=name,
                   p=row.get("p"))
    return out


def _hidden_bias(out: Section, exp: Experiment, row) -> str:
    """A targeted design's effect against unmeasured confounding: the E-value of the standardized difference."""
    sd = float(exp.frame[exp.outcome].std())
    if not sd > 0 or not pd.notna(row.get("se", float("nan"))):
        return ""
    ev = sensitivity.evalue_smd(row["estimate"] / sd, row["se"] / sd)
    out.find(f"evalue.revenue.{slug(row['arm'])}", ev.point, label=f"E-value of the revenue effect, {row['arm']}")
    return " " + sensitivity.evalue_sentence(ev, exposure="being targeted", outcome=exp.outcome)


def _arm_words(exp: Experiment, arm) -> str:
    """`` (arm vs control)`` when the experiment has several arms, else nothing."""
    return f" ({arm} vs {exp.control})" if len(exp.arms) > 1 else ""


def _signed_in(exp: Experiment, x: float) -> str:
    return exp.shown(x) if exp.unit == "share" else _signed(x)


def _arm_means(exp: Experiment) -> pd.DataFrame:
    """Customers and the mean (or rate) of the outcome per arm, control first."""
    grouped = exp.frame.groupby(exp.arm, observed=True)[exp.outcome]
    means = pd.DataFrame({"arm": grouped.mean().index, "customers": grouped.size().to_numpy(),
                          f"mean {exp.outcome}": grouped.mean().to_numpy()})
    order = {a: i for i, a in enumerate([exp.control, *exp.arms])}
    return means.sort_values("arm", key=lambda s: s.map(order)).reset_index(drop=True)


def _sentence(text: str) -> str:
    """``text`` as a sentence: a capital first letter and a closing full stop."""
    text = text.strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith((".", "!", "?")) else ".")


def _signed(x: float) -> str:
    return f"{'+' if x > 0 else ''}{number(x)}"


def _signed_percent(x: float) -> str:
    return f"{'+' if x > 0 else ''}{percent(x)}"


@step("churn_effect", asks=[_KEPT])
def churn_effect(experiment: Section, *, trim=(0.05, 0.95), confidence: float = 0.95,
                 min_cell: int = privacy.MIN_CELL) -> Section:
    """The change in the share churned within the window, and the hazard ratio of churn per arm."""
    exp = _opened(experiment)
    if not exp.churn:
        raise Skip("No churn outcome in this experiment: the churn effect is skipped. No churn clock (time to "
                   "churn) in this experiment: the hazard ratio is skipped.")
    table = _effects(exp, exp.churn, trim=trim, confidence=confidence, min_cell=min_cell)
    head = retention_stats.headline(table, exp.design)
    out = (Section(value=table).table(table)
           .find_rows(head, "effect.churn.{arm}", value="estimate", ci=("lower", "upper"), unit="pp", key=True,
                      label=f"Effect of {{arm}} on the share churned within {exp.window_months} months"))
    for _, row in head.iterrows():
        said = verdict(row["lower"], row["upper"], direction=-1)
        out.answer(f"{_KEPT[0]}.{slug(row['arm'])}", _KEPT[1] + _arm_words(exp, row["arm"]),
                   f"The share who churned within {exp.window_months} months changed by {points(row['estimate'])} in "
                   f"{row['arm']} against {exp.control} ({confidence:.0%} interval "
                   f"{interval(row['lower'], row['upper'], points)}).{_EFFECT_WORDS[said]}"
                   + (_undetectable(row, confidence, points) if said == "inconclusive" else ""), verdict=said,
                   p=row.get("p"),
                   finding=f"effect.churn.{slug(row['arm'])}")
    if not exp.duration:
        return out.text("No churn clock (time to churn) in this experiment: the hazard ratio is skipped.")
    adjust = exp.covariates if exp.design == "targeted" else ()  # a targeted design's HR is only as good as these
    hazard = {a: effects.churn_hazard_ratio(exp.frame, arm=exp.arm, treated=a, control=exp.control, min_cell=min_cell,
                                            duration=exp.duration, event=exp.churn, confidence=confidence,
                                            covariates=adjust)
              for a in exp.arms}
    for a, h in hazard.items():
        out.find(f"hr.churn.{slug(a)}", h["hr"], (h["lower"], h["upper"]),
                 label=f"Hazard ratio of churn, {a} vs {exp.control}")
    return out.table(pd.DataFrame(hazard).T)


@step("contacts_effect")
def contacts_effect(experiment: Section, *, trim=(0.05, 0.95), confidence: float = 0.95,
                    min_cell: int = privacy.MIN_CELL) -> Section:
    """The effect on service contacts over the window, headline method per arm."""
    exp = _opened(experiment)
    if not exp.contacts:
        raise Skip("No contacts outcome in this experiment: this section is skipped.")
    table = _effects(exp, exp.contacts, trim=trim, confidence=confidence, min_cell=min_cell)
    return Section(value=table).table(retention_stats.headline(table, exp.design))


@step("by_segment")
def by_segment(experiment: Section, *, segments=(), min_per_arm: int = 30, trim=(0.05, 0.95),
             confidence: float = 0.95, min_cell: int = privacy.MIN_CELL) -> Section:
    """The outcome's effect within each segment per arm (Holm within a segmentation), small segments hidden."""
    exp = _opened(experiment)
    tables = {a: retention_stats.segment_table(exp.frame, outcome=exp.outcome, segments=segments, design=exp.design,
                                               arm=exp.arm, treated=a, control=exp.control,
                                               covariates=list(exp.covariates), min_per_arm=min_per_arm, trim=trim,
                                               confidence=confidence, min_cell=min_cell)
              for a in exp.arms}
    if all(t.empty for t in tables.values()):
        raise Skip("None of the segmentations is in this experiment: effects by segment are skipped.")
    out = Section(value=tables)
    for a, table in tables.items():
        out.text(privacy.pooled_notes(table))
        table, note = privacy.suppress_small(table, count=["n_treated", "n_control"], k=min_cell, what="segments")
        shown = table.dropna(subset=["estimate"])
        out.text(note)
        if len(shown):
            out.figure(plots.estimates(shown.assign(method=shown["segmentation"] + ": " + shown["segment"].astype(str)),
                                       title=f"Effect of {a} on {exp.outcome}, by segment", confidence=confidence,
                                       xlabel=f"effect on {exp.outcome} (treated minus control)"),
                       "The effect within each segment, with Holm-corrected intervals: segments whose intervals "
                       "overlap cannot be told apart.")
        out.table(table)
    return out


def _cost(exp: Experiment, treated, cost_per_action: float | None) -> float | None:
    """The cost per treated customer: the parameter, else the mean of the cost column over the treated, else None."""
    if cost_per_action is not None:
        return cost_per_action
    return float(exp.frame.loc[exp.frame[exp.arm] == treated, S.COST].mean()) if S.COST in exp.frame else None


def _within(v, lo, hi):
    """The interval when it holds the estimate, else None: a bootstrap percentile interval need not."""
    return (lo, hi) if lo <= v <= hi else None


def _find_paid(out: Section, paid: dict, window_months: int) -> Section:
    """Incremental value, ROI (when there is a cost) and break-even cost per arm and reading."""
    for a, readings in paid.items():
        for reading, key in READINGS:
            v = readings.get(reading)
            if v is None:
                continue
            what = ("margin on the revenue effect" if key == "revenue"
                    else f"lifetime value over {window_months} months, retention only")
            out.find(f"incremental_value.{key}.{slug(a)}", v["incremental_value"],
                     _within(v["incremental_value"], v["incremental_value_lower"], v["incremental_value_upper"]),
                     unit="currency", label=f"Incremental value per treated customer, {a} ({what})")
            if pd.notna(v.get("roi", float("nan"))):
                out.find(f"roi.{key}.{slug(a)}", v["roi"], _within(v["roi"], v["roi_lower"], v["roi_upper"]),
                         label=f"Return on investment, {a} ({what})")
        out.find(f"break_even_cost.{slug(a)}", readings["margin on revenue effect"]["break_even_cost"],
                 unit="currency", label=f"Break-even cost per action, {a} (margin on the revenue effect)")
    return out


@step("payoff", asks=[_PAYS])
def payoff(experiment: Section, revenue: Section, *, margin_rate: float = 0.3, cost_per_action: float | None = None,
           annual_discount_rate: float = 0.1, reps: int = 300, seed: int = 0, confidence: float = 0.95) -> Section:
    """Incremental value, ROI and break-even cost per arm: margin on the revenue effect, and lifetime value.

    The margin reading takes the headline revenue effect (in a targeted design AIPW on the
    treated: the return on what was done). Lifetime value, from each arm's survival curve since
    assignment, needs a randomized design with a churn clock and the customers' monthly value.
    """
    exp = _opened(experiment)
    table = value(revenue)
    if table is None:
        raise Skip("Whether the effort pays needs the revenue effect, which did not run.")
    if exp.unit != "currency":
        raise Skip(f"The outcome {exp.outcome} is a {exp.unit}, not money: its margin value and return on investment "
                   "cannot be computed (set OUTCOME_UNIT=currency if it is money).")
    lifetime = exp.design == "randomized" and exp.churn and exp.duration and S.MONTHLY_VALUE in exp.frame
    out, paid = Section(), {}
    for a in exp.arms:
        cost = _cost(exp, a, cost_per_action)
        if cost is None:
            out.lead("No cost known.", f"Neither COST_PER_ACTION nor a cost column gives what {a} cost: the value "
                     "is shown, the return on investment is not computed.")
            cost = 0.0
        effect = (table.set_index(["arm", "method"]).loc[(a, "AIPW (ATT)")] if exp.design == "targeted"
                  else retention_stats.headline(table, exp.design).set_index("arm").loc[a])
        paid[a] = {"margin on revenue effect": retention_stats.value_from_effect(effect, margin_rate=margin_rate,
                                                                                 cost_per_action=cost)}
        if lifetime:
            paid[a]["lifetime value"] = economics.incremental_value(
                exp.frame, horizon_months=exp.window_months, arm=exp.arm, treated=a, control=exp.control,
                margin_rate=margin_rate, cost_per_action=cost, annual_discount_rate=annual_discount_rate, reps=reps,
                seed=seed, confidence=confidence, duration=exp.duration, event=exp.churn)
            km = survival.km_table(exp.frame[exp.frame[exp.arm].isin([a, exp.control])], group=exp.arm,
                                   duration=exp.duration, event=exp.churn, confidence=confidence)
            out.figure(plots.km_curves(km, group=exp.arm, title="Still a customer, months since assignment"),
                       f"Each arm's customers still with us after assignment: the gap between the curves is the "
                       f"retention the lifetime value counts ({a} against {exp.control}).")
    value_table = pd.DataFrame([{"arm": a, "reading": k, **v} for a, d in paid.items() for k, v in d.items()])
    out.value = value_table
    for a, readings in paid.items():
        _pays_answer(out, exp, a, readings, confidence)
    return _find_paid(out.table(value_table), paid, exp.window_months)


def _pays_answer(out: Section, exp: Experiment, arm, readings: dict, confidence: float) -> None:
    """The answer to "does retention effort pay for itself": the ROI of the headline (margin) reading."""
    v = readings["margin on revenue effect"]
    name = f"{_PAYS[0]}.{slug(arm)}"
    if pd.isna(v.get("roi", float("nan"))):
        bounds = interval(v["incremental_value_lower"], v["incremental_value_upper"], number)
        out.answer(name, _PAYS[1] + _arm_words(exp, arm),
                   f"The effort is worth {_signed(v['incremental_value'])} in margin per treated customer "
                   f"({confidence:.0%} interval {bounds}); with no cost per action given, its return cannot be "
                   "judged.", finding=f"incremental_value.revenue.{slug(arm)}")
        return
    said = verdict(v["roi_lower"], v["roi_upper"])
    words = {"supported": "it pays for itself.", "contradicted": "it costs more than it brings.",
             "inconclusive": "whether it pays cannot be told from these data."}[said]
    sentence = (f"Each unit spent on {arm} returned {_signed_percent(v['roi'])} net (return on investment; "
                f"{confidence:.0%} interval {interval(v['roi_lower'], v['roi_upper'], percent)}), from the margin on "
                f"its revenue effect: {words}")
    life = readings.get("lifetime value")
    if life is not None and pd.notna(life.get("roi", float("nan"))):
        sentence += (f" Counting only the customers it kept (lifetime value), the return is "
                     f"{_signed_percent(life['roi'])} ({interval(life['roi_lower'], life['roi_upper'], percent)}).")
    out.answer(name, _PAYS[1] + _arm_words(exp, arm), sentence, verdict=said, finding=f"roi.revenue.{slug(arm)}")


def _claim_base(exp: Experiment, margin_rate: float):
    """(customers, duration/event columns, monthly margin) for the retention claim; (None, {}, None) without."""
    if exp.ds is not None:  # the data set's own customers: tenure since signup
        base = exp.ds.customers
        margin = margin_rate * float(base[S.MONTHLY_VALUE].mean()) if S.MONTHLY_VALUE in base else None
        return base, dict(duration=S.TENURE, event=S.CHURNED), margin
    if exp.duration and exp.churn:  # a one-table experiment: time since assignment, margin from the outcome
        return exp.frame, dict(duration=exp.duration, event=exp.churn), \
            margin_rate * float(exp.frame[exp.outcome].mean()) / exp.window_months
    return None, {}, None


@step("claim", asks=[_FIVE_POINTS])
def claim(experiment: Section, *, margin_rate: float = 0.3, acquisition_cost: float = 150.0,
          horizon_months: int = 36, annual_discount_rate: float = 0.1, margin_rates=(0.2, 0.3, 0.5),
          discount_rates=(0.05, 0.1, 0.2), acquisition_costs=(50.0, 100.0, 150.0, 300.0, 600.0), reps: int = 300,
          seed: int = 0, confidence: float = 0.95) -> Section:
    """Five more points of 12-month retention on this data set's churn curve: profit per customer, before and after.

    The verdict against the claimed 25-85% has a bootstrap interval; the grid shows how the
    answer moves with margin, discount rate and acquisition cost.
    """
    exp = _opened(experiment)
    base, columns, margin = _claim_base(exp, margin_rate)
    if base is None or not margin:
        raise Skip("No churn clock or revenue in this experiment: the retention claim is skipped.")
    result = economics.retention_claim_ci(base, monthly_margin=margin, acquisition_cost=acquisition_cost,
                                          horizon_months=horizon_months, annual_discount_rate=annual_discount_rate,
                                          reps=reps, seed=seed, confidence=confidence, **columns)
    mean_value = margin / margin_rate
    grid = economics.claim_sensitivity(survival.km_table(base, **columns),
                                       margins=[r * mean_value for r in margin_rates], discount_rates=discount_rates,
                                       acquisition_costs=acquisition_costs, horizon_months=horizon_months)
    low, high = result["increase_pct_lower"], result["increase_pct_upper"]
    said = ("supported" if low >= 25 and high <= 85 else "contradicted" if high < 25 or low > 85
            else "inconclusive")
    spread = grid["increase_pct"].dropna()
    sentence = (f"On this data set's churn curve and margins, five more points of 12-month retention raise profit per "
                f"customer by {number(result['increase_pct'])}% ({confidence:.0%} interval "
                f"{interval(low, high, number)}%), {'within' if said == 'supported' else 'against'} the claimed "
                "25-85%.")
    if len(spread):
        sentence += (f" Under the other margins, discount rates and acquisition costs tried, it ranges from "
                     f"{number(spread.min())}% to {number(spread.max())}%: the interval covers resampling, not "
                     "these assumptions.")
    return (Section(value=result)
            .lead("Verdict.", result["verdict"])
            .answer(*_FIVE_POINTS, sentence, verdict=said, finding="claim.increase_pct")
            .figure(plots.claim_sensitivity(grid), "Each point is the profit increase under one combination of "
                    "margin, discount rate and acquisition cost; the shaded band is the claimed 25-85%.")
            .table(grid)
            .find("claim.increase_pct", result["increase_pct"], (result["increase_pct_lower"],
                                                                 result["increase_pct_upper"]),
                  unit="%", key=True, label="Profit increase per customer from 5 more points of retention")
            .find("claim.verdict", result["claim_position"], label="Against the claimed 25-85%"))


# ---- before any effect: was the campaign run as planned? and planning the next one -------------
_AS_PLANNED = ("as_planned", "Was the campaign run as planned?")
_PLAN = ("plan", "How many customers would the next campaign need?")


@step("integrity", asks=[_AS_PLANNED])
def integrity(experiment: Section, *, planned=(), guardrail_margin: float = 0.1,
              confidence: float = 0.95) -> Section:
    """Sample ratio against the planned allocation (randomized designs) and a guardrail on service contacts.

    ``planned`` are the planned shares of control and then each arm (in `Experiment.arms` order);
    empty means an equal split. A p-value of the chi-squared test below 0.001 (the usual
    sample-ratio-mismatch threshold) says the assignment did not go as planned, and no effect
    should be read before the cause is found. The guardrail is a one-sided non-inferiority test:
    the arm raised service contacts per customer by less than ``guardrail_margin`` times the
    control arm's mean.
    """
    exp = _opened(experiment)
    out, said_of = Section(), []  # (verdict, words) per check
    order = [exp.control, *exp.arms]
    counts = [int((exp.frame[exp.arm] == a).sum()) for a in order]
    if exp.design == "randomized":
        shares = list(planned) or None
        if shares is not None and len(shares) != len(order):
            raise Skip(f"PLANNED_SHARES has {len(shares)} shares for {len(order)} arms ({', '.join(map(str, order))}):"
                       " give one share per arm, control first.")
        check = sensitivity.sample_ratio_mismatch(counts, shares)
        split = "/".join(number(100 * e / sum(check.expected)) for e in check.expected)
        out.lead("Sample ratio.", f"{' / '.join(f'{a}: {n:,}' for a, n in zip(order, counts))} customers against a "
                 f"planned {split} split: chi-squared p {p_words(check.p)} ({check.verdict}; a mismatch is "
                 "p < 0.001).")
        out.find("srm.p", check.p, unit="p", label="Sample-ratio test against the planned allocation")
        mismatch = check.verdict == sensitivity.MISMATCH
        said_of.append(("contradicted" if mismatch else "supported",
                        f"the arm sizes {'do not match' if mismatch else 'match'} the planned {split} split "
                        f"(p {p_words(check.p)})"))
    else:
        out.text("A targeted campaign has no planned split to check: the arms are compared after weighting.")
    if exp.contacts:
        base = float(exp.frame.loc[exp.frame[exp.arm] == exp.control, exp.contacts].mean())
        margin = guardrail_margin * base
        for a in exp.arms:
            diff = effects.difference_in_means(exp.frame, outcome=exp.contacts, arm=exp.arm, treated=a,
                                               control=exp.control, confidence=confidence)
            test = sensitivity.non_inferiority(diff["estimate"], diff["se"], margin, alpha=1 - confidence)
            shown = test.verdict == sensitivity.NON_INFERIOR
            out.lead("Guardrail.", f"{a} changed service contacts per customer by {_signed(diff['estimate'])} "
                     f"against {number(base)} in {exp.control} (one-sided upper bound {number(test.upper)}); the "
                     f"margin is {percent(guardrail_margin)} of control, {number(margin)}: {test.verdict}.")
            out.find(f"guardrail.contacts.{slug(a)}", diff["estimate"], label=f"Change in contacts per customer, {a}")
            said_of.append(("supported" if shown else "inconclusive",
                            f"service contacts under {a} {'did not rise' if shown else 'may have risen'} by more than "
                            f"{percent(guardrail_margin)} (upper bound {number(test.upper)} against a margin of "
                            f"{number(margin)})"))
    verdicts = {v for v, _ in said_of}
    said = next((v for v in ("contradicted", "inconclusive", "supported") if v in verdicts), "")
    lead = {"supported": "Yes: ", "contradicted": "No: ", "inconclusive": "Not in every respect: "}.get(said, "")
    sentence = lead + "; ".join(words for _, words in said_of) + "." if said_of else \
        "Nothing to check: a targeted campaign without a contacts outcome."
    return out.answer(*_AS_PLANNED, sentence, verdict=said)


@step("plan", asks=[_PLAN])
def plan(experiment: Section, revenue: Section, *, revenue_effect: float, churn_effect: float, power: float = 0.8,
         confidence: float = 0.95) -> Section:
    """Customers per arm the next campaign needs for a chosen effect on revenue, churn and restricted mean tenure.

    Read from this campaign: the outcome's spread and the share CUPED removes (randomized), the
    control arm's churn in the window, and the standard error of the RMST difference (which
    shrinks as one over the square root of the customers). Two arms of equal size.
    """
    exp = _opened(experiment)
    frame, alpha = exp.frame, 1 - confidence
    control = frame[frame[exp.arm] == exp.control]
    table = value(revenue)
    r2 = 0.0
    if table is not None:
        head = retention_stats.headline(table, exp.design)
        r2 = float(head["variance_reduction"].dropna().max()) if "variance_reduction" in head and \
            head["variance_reduction"].notna().any() else 0.0
    rows = []
    sd = float(control[exp.outcome].std())
    if exp.unit != "share" and sd > 0:  # a 0/1 outcome is planned as a rate, below, when it is the churn outcome
        arms = sensitivity.customers_for_difference(revenue_effect, sd, r2=max(r2, 0.0), alpha=alpha, power=power)
        rows.append({"outcome": exp.outcome, "effect": _signed(revenue_effect), "customers_per_arm": arms.treated,
                     "read from": f"spread {number(sd)}, CUPED removing {percent(max(r2, 0.0))} of the variance"})
    if exp.churn:
        base = float(control[exp.churn].mean())
        if 0 < base + churn_effect < 1:
            arms = sensitivity.customers_for_proportions(base, churn_effect, alpha=alpha, power=power)
            rows.append({"outcome": f"churned within {exp.window_months} months", "effect": points(churn_effect),
                         "customers_per_arm": arms.treated, "read from": f"control churn {percent(base)}"})
    if exp.churn and exp.duration and len(exp.arms) == 1:
        pair = frame[frame[exp.arm].isin([exp.control, exp.arms[0]])]
        diff = survival.rmst_difference(pair, group=exp.arm, horizon=exp.window_months, reference=exp.control,
                                        duration=exp.duration, event=exp.churn, confidence=confidence).iloc[0]
        months = 0.25  # a quarter of a month of tenure over the window
        n = sensitivity.customers_for_se(months, se=float(diff["se"]), n=len(pair), alpha=alpha, power=power)
        rows.append({"outcome": f"restricted mean tenure over {exp.window_months} months",
                     "effect": f"+{months} months", "customers_per_arm": -(-n // 2),
                     "read from": f"this campaign's standard error at {len(pair):,} customers"})
    if not rows:
        raise Skip(f"{exp.outcome} does not vary in control and there is no churn outcome: nothing to plan for.")
    plan_table = pd.DataFrame(rows)
    needs = "; ".join(f"{r['customers_per_arm']:,} for {r['effect']} in {r['outcome']}"
                      for _, r in plan_table.iterrows())
    sentence = (f"With {power:.0%} power at the {alpha:g} level, the next campaign needs, per arm: {needs} (this one "
                f"had {len(control):,} customers in control).")
    out = Section(value=plan_table).table(plan_table).answer(*_PLAN, sentence)
    for _, r in plan_table.iterrows():
        out.find(f"plan.{slug(r['outcome'])}.customers_per_arm", int(r["customers_per_arm"]), unit="customers",
                 label=f"Customers per arm to detect {r['effect']} in {r['outcome']}")
    return out


_ADJUSTED = ("adjusted_tenure", "Did the targeted campaign keep customers longer, adjusted for whom it picked?")


@step("adjusted_tenure", asks=lambda experiment, **_: [_ADJUSTED] if (value(experiment) is not None and
                                                                      value(experiment).design == "targeted") else [])
def adjusted_tenure(experiment: Section, *, reps: int = 60, seed: int = 0, confidence: float = 0.95) -> Section:
    """Covariate-adjusted (standardized) survival curves by arm and the adjusted RMST difference, targeted designs.

    A targeted campaign picked its customers, so the crude curves mix the campaign with who got it;
    the standardized curves give every customer each arm in turn (`helpers.stats.adjusted`).
    """
    exp = _opened(experiment)
    if exp.design != "targeted":
        raise Skip("In a randomized design the arms differ only by chance: the crude curves above are the adjusted "
                   "ones.")
    if not (exp.churn and exp.duration):
        raise Skip("No churn clock (time to churn) in this experiment: adjusted tenure is skipped.")
    from helpers.stats import adjusted

    frame = exp.frame[exp.frame[exp.arm].isin([exp.control, *exp.arms])]
    kw = dict(group=exp.arm, covariates=list(exp.covariates), duration=exp.duration, event=exp.churn)
    curves = adjusted.standardized_curves(frame, **kw)
    diff = adjusted.adjusted_rmst_difference(frame, **kw, horizon=exp.window_months, reference=exp.control,
                                             reps=reps, seed=seed, confidence=confidence)
    out = checks.adjusted_view(
        Section(value=diff), curves, diff, group=exp.arm, title="Still a customer, adjusted for the covariates",
        confidence=confidence,
        caption="Each arm's curve if every customer had been in it (standardized over the covariates): the gap is "
                "the campaign's effect on tenure with who was picked held fixed.",
        table_caption=f"Restricted mean tenure over {exp.window_months} months, arm minus {exp.control}: adjusted "
                      f"(bootstrap, {reps} resamples) and crude.")
    for _, row in diff.iterrows():
        said = verdict(row["lower"], row["upper"])
        out.answer(f"{_ADJUSTED[0]}.{slug(row[exp.arm])}", _ADJUSTED[1] + _arm_words(exp, row[exp.arm]),
                   f"Adjusted for the covariates, {row[exp.arm]} customers stay {_signed(row['difference'])} months "
                   f"of {exp.window_months} against {exp.control} ({confidence:.0%} interval "
                   f"{interval(row['lower'], row['upper'])}); the crude difference is "
                   f"{_signed(row['crude_difference'])}."
                   + (_undetectable(row, confidence, unit=" months") if said == "inconclusive" else ""),
                   verdict=said, p=row.get("p"))
        out.find(f"adjusted_rmst.{slug(row[exp.arm])}", row["difference"], (row["lower"], row["upper"]),
                 unit="months", label=f"Adjusted restricted mean tenure difference, {row[exp.arm]}")
    return out


# ---- who to target ----------------------------------------------------------------------------
_TARGET = ("target", "Does targeting beat treating everyone, and whom should the next campaign treat?")
_QUADRANT_RULE = ("quadrant_rule", "Claim: win back high-value, low-satisfaction customers first.")
TARGETING_EXTRA = (S.SATISFACTION, retention_stats.PRE_REVENUE)  # tell customers apart beyond the covariates
_THIRDS = {1: "least", 2: "middle", 3: "most"}  # targeting.tenure_by_effect's groups, lowest predicted effect first


@step("targeting", asks=[_TARGET, _QUADRANT_RULE])
def who_to_target(experiment: Section, *, margin_rate: float = 0.3, cost_per_action: float | None = None,
                  reps: int = 200, seed: int = 0, confidence: float = 0.95) -> Section:
    """Per-customer effects (cross-fitted DR-learner), whether they carry signal, and what targeting is worth.

    The effects are on the outcome of the experiment; profit is the margin on that outcome
    minus the cost per action, so the section needs a money outcome and a known cost. Every
    figure is on held-out folds (`helpers.stats.targeting`).
    """
    exp = _opened(experiment)
    if exp.unit != "currency":
        raise Skip(f"The outcome {exp.outcome} is a {exp.unit}, not money: the value of targeting needs a money "
                   "outcome (set OUTCOME_UNIT=currency if it is).")
    from helpers.stats import targeting

    covariates = [c for c in dict.fromkeys([*exp.covariates, *TARGETING_EXTRA, exp.pre]) if c and c in exp.frame]
    if not covariates:
        raise Skip("No covariate to tell customers apart: per-customer effects need at least one.")
    costs = {a: _cost(exp, a, cost_per_action) for a in exp.arms}
    if any(c is None for c in costs.values()):
        raise Skip("Neither COST_PER_ACTION nor a cost column gives the cost of an action: the value of targeting "
                   "is net of it, so it is skipped.")
    cost = max(costs.values())
    fit = targeting.fit_cate(exp.frame, outcome=exp.outcome, covariates=covariates, arm=exp.arm, control=exp.control,
                             design=exp.design, seed=seed)
    cal = targeting.calibration(fit, confidence=confidence)
    curves = targeting.uplift_curves(fit, reps=reps, seed=seed, confidence=confidence)
    worth = targeting.targeting_value(fit, margin_rate=margin_rate, cost_per_action=cost, reps=reps, seed=seed,
                                      confidence=confidence)
    rule = targeting.policy_tree(fit, margin_rate=margin_rate, cost_per_action=cost, reps=reps, seed=seed,
                                 confidence=confidence)
    out = (Section(value=fit)
           .lead("Is there heterogeneity at all?", cal.verdict)
           .table(cal.blp, caption="Best linear predictor: a slope near 1 means customers predicted to gain more "
                                   "do gain more; near 0, the predictions carry no signal.")
           .figure(plots.qini(curves.curves))
           .table(curves.deciles, caption="The effect by decile of predicted effect (1 = highest), on held-out folds.")
           .table(worth.table, percent=["share"],
                  caption=f"Profit per customer of treating the top share by predicted effect, at a margin of "
                          f"{percent(margin_rate)} and a cost of {number(cost)} per action.")
           .table(rule.table, percent=["share_treated", "agreement"],
                  caption="The best depth-2 rule, valued on the folds it was not fitted on."))
    if exp.churn and exp.duration:  # who is predicted to gain most: do they also stay longer? (censoring-aware)
        tenure = targeting.tenure_by_effect(fit, exp.frame, horizon=exp.window_months, duration=exp.duration,
                                            event=exp.churn, confidence=confidence)
        shown = tenure.table[["arm", "group", "predicted", "rmst_treated", "rmst_control", "difference", "lower",
                              "upper"]].assign(group=lambda t: t["group"].map(_THIRDS))
        out.table(shown, labels={"group": "Predicted to gain", "predicted": "Predicted effect",
                                 "rmst_treated": "Treated", "rmst_control": "Control",
                                 "difference": "Treated minus control"},
                  caption=f"Restricted mean tenure (months) over the {exp.window_months} months after assignment, by "
                          f"third of predicted effect on {exp.outcome}, on held-out folds.")
        for _, row in tenure.table[tenure.table["group"] == tenure.table["group"].max()].iterrows():
            out.find(f"targeting.tenure_top.{slug(row['arm'])}", row["difference"], (row["lower"], row["upper"]),
                     unit="months", label=f"Tenure gained by the third predicted to gain most, {row['arm']}")
    signal = (cal.blp["lower"] > 0).any()
    parts = [cal.verdict, rule.verdict if signal else worth.sentence]
    out.answer(*_TARGET, " ".join(_sentence(p) for p in parts if p))
    if QUADRANT in exp.frame:
        quadrant = targeting.evaluate_rule(fit, exp.frame, lambda f: f[QUADRANT].astype(str) == "win_back",
                                           margin_rate=margin_rate, cost_per_action=cost, reps=reps, seed=seed,
                                           confidence=confidence, name="win back high value, low satisfaction")
        out.table(quadrant.table, percent=["share_treated"],
                  caption="The quadrant rule of practice, valued the same way.")
        row = quadrant.table.iloc[0]
        said = verdict(row["vs_all_lower"], row["vs_all_upper"])
        se = (row["vs_all_upper"] - row["vs_all_lower"]) / (2 * normal_quantile(confidence))  # of its bootstrap band
        out.answer(*_QUADRANT_RULE, _sentence(quadrant.verdict)
                   + (checks.undetectable_difference(se, " per customer", confidence=confidence, noun="effect")
                      if said == "inconclusive" else ""), verdict=said)
        out.find("targeting.quadrant_rule.vs_all", row["vs_all"], (row["vs_all_lower"], row["vs_all_upper"]),
                 unit="currency", label="Quadrant rule minus treating everyone, profit per customer")
    for _, row in cal.blp.iterrows():
        out.find(f"targeting.blp_slope.{slug(row['arm'])}", row["slope"], (row["lower"], row["upper"]),
                 label=f"Calibration slope of the predicted effects, {row['arm']}")
    return out

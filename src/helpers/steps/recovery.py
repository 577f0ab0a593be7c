"""The sections of ``notebooks/03_complaint_recovery.ipynb``: from a complaint to churn, recovery and revenue.

`open_complaints` opens either a data set with dated complaints (customers and a contacts table,
on the row-level or the aggregated path) or one table with complaint flags, and returns a
`Complaints` that every later step takes. The dated steps skip on one-table data with one
sentence; the leakage check and the adjusted comparison run on both.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from helpers import plots
from helpers.data import privacy
from helpers.data import schema as S
from helpers.data.io import Dataset, read_table
from helpers.data.mapping import mapping_notes, match_columns, source_name_map
from helpers.engine import scale
from helpers.findings import escape_md, slug, verdict
from helpers.stats import churn, complaints, overview, sensitivity, survival
from helpers.stats import recovery as recovery_stats
from helpers.stats.efron import ConvergenceError
from helpers.steps import checks
from helpers.steps.checks import data_quality
from helpers.steps.section import Section, Skip, step
from helpers.tables import interval, listed, number, percent, term

_STATES = ("states", "What does a complaint do to churn?")
_PARADOX = ("paradox", "Claim: a recovered complainer is more loyal than one who never complained.")
_REVENUE = ("revenue", "What happens to revenue after a complaint?")
_HANDLING = ("handling", "How is complaint handling doing?")

UNDATED = "This section needs dated complaints (a contacts table with resolved_at and recovered): skipped."


@dataclass
class Complaints:
    """What the steps of notebook 03 work on, whichever kind of data was opened.

    ``table`` is the frame the leakage check and the adjusted comparison read (the one table, or
    one row per customer with complaint flags); ``outcome`` its 0/1 outcome column. With dated
    complaints ``ds``, ``customers`` (segmented), ``contacts`` and ``data`` (the opened
    `helpers.engine.scale.Data`) are set and ``dated`` is true; ``covariates`` are the requested
    ones the customers can support.
    """

    table: pd.DataFrame
    outcome: str
    dated: bool = False
    ds: Dataset | None = None
    customers: pd.DataFrame | None = None
    contacts: pd.DataFrame | None = None
    covariates: list[str] = field(default_factory=list)
    data: scale.Data | None = None

    @property
    def revenue(self) -> pd.DataFrame | None:
        return self.ds.tables.get(S.REVENUE)

    def need_dates(self) -> None:
        """Raise `Skip` with the one sentence of every dated section when the data have no dated complaints."""
        if not self.dated:
            raise Skip(UNDATED)


def shown(section: Section, table: pd.DataFrame, *, count: str = "complaints", what: str = "months",
          min_cell: int = privacy.MIN_CELL) -> pd.DataFrame:
    """The rows of ``table`` large enough to show; the suppression note (once per table) goes to ``section``."""
    kept, note = privacy.suppress_small(table, count=count, k=min_cell, what=what)
    section.text(note)
    return kept


def _braced(text: str) -> str:
    """``text`` as literal text inside a `str.format` template."""
    return text.replace("{", "{{").replace("}", "}}")


def open_complaints(dataset: str = "synthetic", *, one_table: str = "", outcome: str = "churned",
                    flags: Sequence[str] = (), covariates: Sequence[str] = (), engine: str = "auto",
                    threshold: int = scale.LARGE, sample: int = scale.SAMPLE, seed: int = 0) -> Section:
    """Open the data (one table when ``one_table`` is given, else ``dataset``) and say what was opened.

    Not a guarded step: when the data cannot be opened no section can run, so the error is
    raised here and the notebook stops (the runner checks the data before a kernel starts).
    The section's value is a `Complaints`.
    """
    if one_table:
        table = read_table(one_table)
        return (Section("data", value=Complaints(table, outcome))
                .text(f"One-table data {one_table!r}: {len(table):,} rows; outcome {outcome}, compared: "
                      f"{', '.join(flags)}.")
                .pipe(data_quality, table, what="table")
                .find("mode", "one table", label="Data analysed"))
    data = scale.open_data(dataset, engine=engine, threshold=threshold, sample=sample, seed=seed)
    ds, customers = data.ds, data.customers
    named, matched = match_columns(customers, list(covariates), sources=source_name_map(ds))
    usable, note = churn.usable_covariates(customers, named)
    note = " ".join([*matched, note]).strip()
    contacts = ds[S.CONTACTS] if ds.has(S.CONTACTS) else None
    opened = Complaints(table=customers if contacts is None else complaints.customer_flags(customers, contacts),
                        outcome=S.CHURNED, dated=ds.has(S.CONTACTS, S.RESOLVED_AT, S.RECOVERED), ds=ds,
                        customers=customers, contacts=contacts, covariates=usable, data=data)
    where = ("" if contacts is None else
             f", {len(contacts):,} contacts" + (" of the sample." if data.sampled else "."))
    return (Section("data", value=opened)
            .lead("How this report was computed.", data.note + (
                " Here the complaint-state hazard model uses every customer (piecewise-exponential, DuckDB); every "
                "other section uses the sample." if data.sampled else ""))
            .text(f"Data set {ds.name!r}: {data.n:,} customers{where or ', no contacts table.'} {note}",
                  *mapping_notes(ds.tables))
            .pipe(data_quality, ds, what="sample" if data.sampled else "data")
            .find("mode", "dated complaints" if opened.dated else "one table", label="Data analysed"))


def leakage(c: Complaints) -> Section:
    """Columns that nearly determine the outcome, or are strongly tied to it (`helpers.steps.checks.leakage`)."""
    return checks.leakage(c.table, c.outcome)


@step("handling", asks=[_HANDLING])
def handling(c: Complaints, *, within_days: float = 7, confidence: float = 0.95,
             min_cell: int = privacy.MIN_CELL) -> Section:
    """The service-centre indicators over the whole period (the findings), then month by month."""
    c.need_dates()
    kpis = complaints.kpi_summary(c.ds.customers, c.contacts, within_days=within_days, confidence=confidence)
    out = Section(value=kpis).table(_kpi_display(kpis))
    for _, k in kpis.iterrows():  # an interval only where there is one that holds the value
        ci = (k["lower"], k["upper"]) if pd.notna(k["lower"]) and k["lower"] <= k["value"] <= k["upper"] else None
        out.find(f"kpi.{slug(k['kpi'])}", k["value"], ci, unit=k["unit"], label=k["kpi"].replace("_", " ").capitalize())
    trends = {
        "Complaints per 1,000 customers": complaints.complaint_rate(c.ds.customers, c.contacts, confidence=confidence),
        "First-contact resolution": complaints.fcr_rate(c.contacts, confidence=confidence),
        f"Repeat contact within {within_days} days": complaints.repeat_rate(c.contacts, within_days=within_days,
                                                                            confidence=confidence),
        "Resolved": complaints.resolution(c.contacts, confidence=confidence),
        "Complaints per compliment": complaints.complaints_to_compliments(c.contacts, confidence=confidence),
    }
    recent = f"Repeat contact within {within_days} days"
    axes = plots.kpi_grid({title: shown(out, t, min_cell=min_cell) for title, t in trends.items()},
                          incomplete={"Resolved": _unsettled_months(c.contacts), recent: 1},
                          percent={"First-contact resolution", recent, "Resolved"})
    shares = kpis.loc[kpis["unit"] == "share"].head(3)
    if len(shares):
        out.answer(*_HANDLING, "; ".join(f"{k['kpi'].replace('_', ' ').capitalize()}: {percent(k['value'])}"
                                         for _, k in shares.iterrows()) + " over the whole period.")
    return out.figure(axes, "The indicators month by month with their intervals; the latest months hold complaints "
                      "not yet resolved, so their resolution shares are still incomplete.")


def _kpi_display(kpis: pd.DataFrame) -> pd.DataFrame:
    """The indicators as a reader reads them: a name, the value and its interval in the indicator's own unit."""
    def shown(k, x):
        return percent(x) if k["unit"] == "share" else number(x)

    return pd.DataFrame({
        "indicator": [str(k["kpi"]).replace("_", " ").capitalize() for _, k in kpis.iterrows()],
        "value": [shown(k, k["value"]) for _, k in kpis.iterrows()],
        "95% interval": [interval(k["lower"], k["upper"], lambda x, k=k: shown(k, x)) if pd.notna(k["lower"]) else ""
                         for _, k in kpis.iterrows()],
        "unit": ["" if k["unit"] == "share" else k["unit"] for _, k in kpis.iterrows()],
        "definition": kpis["definition"].tolist() if "definition" in kpis else "",
    })


def _unsettled_months(contacts: pd.DataFrame) -> int:
    """Recent months whose resolution share is not final yet: the 90th percentile of days to resolve, in months."""
    complaints_only = contacts[contacts[S.KIND] == S.COMPLAINT]
    days = (complaints_only[S.RESOLVED_AT] - complaints_only[S.OPENED_AT]).dt.days.dropna()
    return max(1, math.ceil(float(days.quantile(0.9)) / 30.4)) if len(days) else 1


@step("resolution_time")
def resolution_time(c: Complaints, *, confidence: float = 0.95, min_cell: int = privacy.MIN_CELL) -> Section:
    """How long complaints stay open (Kaplan-Meier, open ones censored) and the recovery actions used."""
    c.need_dates()
    still_open = complaints.time_to_resolve(c.contacts, customers=c.ds.customers, confidence=confidence)
    out = Section(value=still_open).figure(plots.km_curves(
        still_open, title="Complaints still open", xlabel="days since the complaint was opened", ylabel="still open"),
        "The share of complaints still open by days since they were opened; complaints open at the end of the data "
        "are counted until then, not dropped.")
    mix = complaints.recovery_mix(c.contacts, confidence=confidence)
    return out.table(shown(out, mix, what="recovery actions", min_cell=min_cell))


def _state_model(c: Complaints, *, strata: list[str], min_cell: int):
    """The complaint-state model: lifelines on the episodes, or piecewise-exponential on every customer in DuckDB."""
    if c.data.src is None:
        episodes = complaints.complaint_episodes(c.customers, c.contacts, covariates=[*c.covariates, *strata])
        return complaints.complaint_state_model(episodes, covariates=c.covariates, strata=strata or None,
                                                min_cell=min_cell), ""
    # every customer: events and exposure per half-month x state x covariate band
    states = scale.complaint_state_model(c.data.src, covariates=c.covariates, strata=strata, width=0.5)
    return states, (f"Piecewise-exponential model on every customer; {', '.join(states.banded) or 'no covariate'} "
                    "entered as quantile bands.")


@step("complaint_states", asks=[_STATES])
def complaint_states(c: Complaints, *, strata: Sequence[str] = (), confidence: float = 0.95,
                     min_cell: int = privacy.MIN_CELL) -> Section:
    """Hazard ratios of churn by complaint state (none, open, recovered, failed), adjusted and stratified."""
    c.need_dates()
    states, note = _state_model(c, strata=[s for s in strata if s in c.customers], min_cell=min_cell)
    hrs = checks.with_evalues(survival.hazard_ratios(states, confidence),
                              rare=sensitivity.is_rare(c.customers[S.CHURNED].mean()))
    reading = complaints.hazard_reading(hrs, confidence=confidence)
    return (Section(value=hrs).text(note)
            .figure(plots.forest(hrs, confidence=confidence), "Hazard ratios of churn in each complaint state against "
                    "customers without a complaint so far: right of 1 churns faster.")
            .text(reading)
            .answer(*_STATES, reading, finding="hr.complaint.open")
            .table(hrs)
            .text(privacy.pooled_notes(states))
            .find_rows(hrs, "hr.{term}", value="hr", ci=("lower", "upper"), label="Hazard ratio of churn, {term}",
                       where=lambda row: row["term"].startswith("complaint["), key=True))


@step("paradox", asks=[_PARADOX])
def paradox(c: Complaints, *, followup_months: float = 12, ratio: int = 3, confidence: float = 0.95,
            seed: int = 0, reps: int = 60) -> Section:
    """Recovered complainers against matched never-complainers over the follow-up: the service recovery paradox."""
    c.need_dates()
    cohort = recovery_stats.paradox_cohort(c.customers, c.contacts, c.revenue, horizon_months=followup_months,
                                           ratio=ratio, seed=seed)
    effect = recovery_stats.paradox_effect(cohort, horizon_months=followup_months, confidence=confidence)
    km = survival.km_table(cohort, group=recovery_stats.GROUP_COLUMN, duration=recovery_stats.FOLLOWUP,
                           event=recovery_stats.CHURNED_FOLLOWUP, confidence=confidence)
    summary = pd.DataFrame([{k: v for k, v in effect.items() if not isinstance(v, dict) and k != "sentence"}])
    said, closing = checks.ratio_verdict(effect["lower"], effect["upper"], {
        "supported": " Recovered complainers are the more loyal: the paradox holds here.",
        "contradicted": " Recovered complainers stay less loyal: the paradox does not hold here.",
        "inconclusive": " The data cannot tell them apart."}, direction=-1, confidence=confidence)
    sentence = (f"Over the {number(followup_months)} months after their complaint was recovered, these customers churn "
                f"at {number(effect['hr'])} times the rate of comparable customers who never complained "
                f"({confidence:.0%} interval {interval(effect['lower'], effect['upper'])}).{closing}")
    strength = _paradox_strength(cohort, effect, confidence)
    sentence += " " + strength.sentence
    held, curves, diff, why = _adjusted_cohort(cohort, followup_months=followup_months, reps=reps, seed=seed,
                                          confidence=confidence)
    row = None if diff is None else diff.iloc[0]
    if row is not None:
        sentence += (f" Standardized over {listed(held)}, recovered complainers stay "
                     f"{number(abs(row['difference']))} months {'longer' if row['difference'] > 0 else 'shorter'} "
                     f"of the {number(followup_months)} ({confidence:.0%} interval "
                     f"{interval(row['lower'], row['upper'])}).")
    out = (Section(value=effect)
           .figure(plots.km_curves(km, group=recovery_stats.GROUP_COLUMN, title="Still a customer after the recovery",
                                  xlabel="months since the complaint was resolved"),
                  "Recovered complainers against their matched never-complainers: a higher curve stays longer.")
           .lead(f"Verdict: {escape_md(effect['verdict'])}.", effect["sentence"])
           .answer(*_PARADOX, sentence, verdict=said, finding="paradox.hr", p=effect.get("p"))
           .table(summary)
           .find("paradox.hr", effect["hr"], (effect["lower"], effect["upper"]), key=True,
                 label="Hazard ratio, recovered complainers vs matched never-complainers")
           .find("paradox.evalue", strength.evalue.point, label="E-value of the paradox hazard ratio")
           .find("paradox.evalue_bound", strength.evalue.bound, label="E-value of its interval bound nearer 1")
           .find("paradox.gamma", strength.gamma, label="Rosenbaum Gamma at which the paradox verdict would fail")
           .find("paradox.verdict", effect["verdict"], label="Service recovery paradox (churn)"))
    out.text(why)
    if row is not None:
        (checks.adjusted_view(
            out, curves, diff, group=recovery_stats.GROUP_COLUMN, title="Still a customer after the recovery, adjusted",
            xlabel="months since the complaint was resolved", confidence=confidence,
            caption=f"Each group's curve had every matched customer been in it, with {listed(held)} as they are: the "
                    "gap left is not the imbalance the matching left behind.",
            table_caption=f"Restricted mean follow-up over {number(followup_months)} months, recovered minus never "
                          f"complained: standardized (bootstrap, {int(row['reps'])} resamples) and crude.")
            .find("paradox.adjusted_rmst", row["difference"], (row["lower"], row["upper"]), unit="months",
                  label="Adjusted restricted mean follow-up, recovered minus matched never-complainers"))
    return out


_READ = {recovery_stats.TENURE_AT: "tenure"}  # column names as a sentence reads them


def _adjusted_cohort(cohort: pd.DataFrame, *, followup_months: float, reps: int, seed: int, confidence: float):
    """Standardized curves and RMST difference of the matched cohort over its matching columns (in fifths).

    Matching balances the groups only approximately (calipers, ties); standardization over the
    same columns removes what is left. Returns the columns held (as read), the curves, the
    difference and a note: curves and difference are None when the cohort lacks a column to hold
    fixed, a group or a churner, or when the model cannot be fitted (the note says why).
    """
    from helpers.stats import adjusted

    held = [c for c in (S.CONTRACT, S.CUSTOMER_TYPE, S.SATISFACTION, S.MONTHLY_VALUE, recovery_stats.TENURE_AT)
            if c in cohort and cohort[c].notna().any()]
    group, duration, event = recovery_stats.GROUP_COLUMN, recovery_stats.FOLLOWUP, recovery_stats.CHURNED_FOLLOWUP
    rows = adjusted.in_bands(cohort[[group, *held, duration, event]].dropna(), held)
    rows, _ = privacy.pool_small_levels(rows, held)
    if not held or rows[group].nunique() < 2 or not rows[event].any():
        return held, None, None, ""
    rows[group] = pd.Categorical(rows[group], categories=[recovery_stats.NEVER, recovery_stats.RECOVERED])
    kw = dict(group=group, covariates=held, duration=duration, event=event)
    try:
        curves = adjusted.standardized_curves(rows, **kw)
        diff = adjusted.adjusted_rmst_difference(rows, **kw, horizon=followup_months, reference=recovery_stats.NEVER,
                                                 reps=reps, seed=seed, confidence=confidence)
    except (ValueError, ConvergenceError) as e:  # the matched estimate stands; the adjustment says why it is absent
        return [_READ.get(c, term(c)) for c in held], None, None, f"The adjusted curves could not be computed: {e}"
    return [_READ.get(c, term(c)) for c in held], curves, diff, ""


@dataclass(frozen=True)
class _Strength:
    evalue: sensitivity.EValue
    gamma: float
    sentence: str


def _paradox_strength(cohort: pd.DataFrame, effect: dict, confidence: float) -> _Strength:
    """How much hidden bias the paradox verdict survives: the E-value of its hazard ratio and Rosenbaum's Gamma.

    The Gamma reads the matched sets (one recovered complainer and its never-complained controls)
    with churn within the follow-up as a binary outcome, one-sided at half of ``1 - confidence``.
    Controls may serve several sets, so the sets are not fully independent: read it as a guide.
    """
    rare = sensitivity.is_rare(cohort[recovery_stats.CHURNED_FOLLOWUP].mean())
    ev = sensitivity.evalue_hr(effect["hr"], effect["lower"], effect["upper"], rare=rare)
    words = sensitivity.evalue_sentence(ev, exposure="a recovered complaint", outcome="churn")
    sets = sensitivity.matched_set_counts(
        cohort.assign(_case=cohort[recovery_stats.GROUP_COLUMN] == recovery_stats.RECOVERED),
        set_id=recovery_stats.MATCH_ID, treated="_case", outcome=recovery_stats.CHURNED_FOLLOWUP)
    direction = "less" if effect["hr"] < 1 else "greater"
    gamma = sensitivity.gamma_at(sensitivity.matched_sets_bound, sets["treated_event"], sets["set_size"],
                                 sets["set_events"], alpha=(1 - confidence) / 2, alternative=direction)
    if gamma > 1:
        words += (f" In the matched sets the verdict holds unless a hidden factor changes the odds of recovery "
                  f"by a factor of {number(gamma)} (Rosenbaum's Gamma).")
    return _Strength(ev, gamma, words)


@step("recovery_kinds")
def recovery_kinds(c: Complaints, *, followup_months: float = 12, confidence: float = 0.95,
                   min_cell: int = privacy.MIN_CELL) -> Section:
    """Churn after the first resolved complaint by resolution speed (with a trend test) and by recovery action."""
    c.need_dates()
    drivers = recovery_stats.recovery_drivers(c.customers, c.contacts, c.revenue, horizon_months=followup_months)
    out, rare = Section(), sensitivity.is_rare(float(drivers[recovery_stats.CHURNED_FOLLOWUP].mean()))
    speed = shown(out, recovery_stats.speed_dose_response(drivers, confidence=confidence, min_cell=min_cell),
                  count="n", what="speed bands", min_cell=min_cell)
    speed = checks.with_evalues(speed, rare=rare)  # observational: who gets a fast resolution is not random
    rows = speed[speed["level"] != recovery_stats.TREND]
    out.figure(plots.forest(rows.assign(term=rows["level"]), title="Churn by resolution speed (vs same day)"),
               "Hazard ratio of churn after a complaint resolved in each speed band, against same-day resolution: "
               "right of 1, slower resolution goes with more churn.")
    out.table(speed).text(privacy.pooled_notes(speed))
    actions = recovery_stats.action_effects(drivers, confidence=confidence, min_cell=min_cell)
    out.table(checks.with_evalues(shown(out, actions, count="n", what="recovery actions", min_cell=min_cell),
                                  rare=rare))
    trend = speed[speed["level"] == recovery_stats.TREND].iloc[0]
    out.value = speed
    out.find("speed.trend_hr", trend["hr"], (trend["lower"], trend["upper"]),
             label="Hazard ratio per slower resolution band")
    if math.isfinite(trend["e_value"]):
        out.find("speed.trend_hr.evalue", trend["e_value"], label="E-value of the hazard ratio per slower band")
    return out


@step("revenue", asks=[_REVENUE])
def revenue(c: Complaints, *, window: int = 6, event_scale: str = "relative", seed: int = 0) -> Section:
    """Revenue around a first complaint against matched customers who did not complain (difference in differences).

    ``event_scale`` is "relative" (each customer's own pre-complaint level) or "currency".
    """
    c.need_dates()
    if c.revenue is None:
        raise Skip("No revenue table in this data set: the event study is skipped.")
    relative = event_scale == "relative"
    es = recovery_stats.event_study(c.customers, c.revenue, c.contacts, window=window, seed=seed, relative=relative)
    summary = recovery_stats.event_study_summary(es)
    unit = "share" if summary["relative"] else "currency"
    k0, after = summary["k0"], summary["after"]
    shown_as = "share of own pre-complaint revenue" if relative else "currency per month"
    fmt = percent if summary["relative"] else number
    said = verdict(after["lower"], after["upper"])
    per = " of their own pre-complaint level" if summary["relative"] else " per month"
    sentence = (f"In the months after a first complaint, complainers' revenue changes by {fmt(after['did'])}{per} "
                f"against matched customers who did not complain (interval "
                f"{interval(after['lower'], after['upper'], fmt)})"
                + (": no change beyond chance." if said == "inconclusive" else "."))
    if said == "inconclusive":
        sentence += checks.undetectable_difference(after["se"], per, fmt=fmt, noun="change")
    strength = _event_strength(summary)
    if strength is not None and said != "inconclusive":  # a change within chance has nothing to explain away
        sentence += " " + sensitivity.evalue_sentence(strength, exposure="a complaint", outcome="revenue after it")
    out = (Section(value=summary)
           .figure(plots.event_study(es, ylabel=f"complainers minus controls ({shown_as})"),
                   "Each point is a month before or after the complaint (0); the months before are placebo checks "
                   "and should sit on zero.")
           .answer(*_REVENUE, sentence, finding="event_study.after")
           .table(es)
           .find("event_study.k0", k0["did"], (k0["lower"], k0["upper"]), unit=unit,
                 label="Revenue change in the month of a complaint")
           .find("event_study.after", after["did"], (after["lower"], after["upper"]), unit=unit, key=True,
                 label="Revenue change in the months after"))
    if strength is not None:
        out.find("event_study.after.evalue", strength.point, label="E-value of the revenue change after")
        out.find("event_study.after.evalue_bound", strength.bound, label="E-value of its interval bound nearer 0")
    return out


def _event_strength(summary: dict) -> sensitivity.EValue | None:
    """E-value of the revenue change after a complaint, read as a standardized mean difference.

    The difference in differences over the pooled standard deviation of the subjects' average
    change (`recovery.event_study_summary`); None when that deviation is 0 or undefined.
    """
    after, sd = summary["after"], summary["after_sd"]
    if not (sd > 0 and after["se"] > 0 and math.isfinite(after["did"])):
        return None
    return sensitivity.evalue_smd(after["did"] / sd, after["se"] / sd)


@step("adjusted")
def adjusted(c: Complaints, *, flags: Sequence[str], covariates: Sequence[str] = (), duration: str = "",
             confidence: float = 0.95, min_cell: int = privacy.MIN_CELL) -> Section:
    """The outcome rate per level of each flag, and a logistic model (Cox with ``duration``) adjusted for covariates."""
    present = [f for f in flags if f in c.table]
    if not present:
        raise Skip(f"None of {', '.join(flags)} is in the data: the adjusted comparison is skipped.")
    known, out = c.table.dropna(subset=[c.outcome]), Section()
    for f in present:
        rates = shown(out, overview.churn_rate(known.dropna(subset=[f]), by=f, event=c.outcome, confidence=confidence),
                      count="customers", what=f"levels of {f}", min_cell=min_cell)
        out.table(rates.rename(columns={"churned": c.outcome, "customers": "rows"}))
        out.find_rows(rates.rename(columns={f: "level"}), f"rate.{slug(f)}.{{level}}", value="rate",
                      ci=("lower", "upper"), unit="share", label=f"{_braced(c.outcome)} rate, {_braced(f)} = {{level}}")
    adjust = [v for v in covariates if v in c.table and v not in present]
    compared = complaints.flag_comparison(known, flag=present, outcome=c.outcome, covariates=adjust, min_cell=min_cell,
                                          duration=duration or None, confidence=confidence)
    compared = checks.with_evalues(compared, rare=sensitivity.is_rare(float(known[c.outcome].astype(float).mean())),
                                   estimate="estimate")  # a flag is observed, never assigned
    for _, row in compared[compared["term"].isin(present) & compared["e_value"].notna()].iterrows():
        out.find(f"evalue.{slug(row['term'])}.{row['model']}", row["e_value"],
                 label=f"E-value of the {row['measure']} of {_braced(row['term'])} ({row['model']} model)")
    return out.table(compared).text(privacy.pooled_notes(compared))

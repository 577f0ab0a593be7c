"""The sections of ``notebooks/01_churn_survival.ipynb``: who leaves, and when.

Each step takes the data object (`helpers.engine.scale.Data`) and decides the computation path
itself: collapsed counts with their weights on the aggregated path, one row per customer (the
sample, said so) where a method needs it. Segments smaller than ``max(min_size, min_cell)``
customers are pooled or left out, so no table shows a group below the small-cell limit.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
from lifelines.exceptions import ConvergenceError

from helpers import plots
from helpers.data import privacy, segments
from helpers.data import schema as S
from helpers.data.mapping import END_REASON_LABEL, mapping_notes, match_columns, source_name_map
from helpers.engine import scale
from helpers.engine.scale import Data
from helpers.findings import slug, verdict
from helpers.stats import churn as churn_stats
from helpers.stats import sensitivity, survival
from helpers.stats.intervals import wilson
from helpers.steps import checks
from helpers.steps.checks import data_quality
from helpers.steps.section import Section, Skip, step, value
from helpers.tables import digits_apart, fixed, interval, listed, number, p_words, percent, term

_CHURNED = ("churned", "What share of customers left?")
_STAY = ("stay", "How long do customers stay?")
_DIFFER = ("segments_differ", "Do the segments churn differently?")
_DRIVERS = ("drivers", "What drives churn, all else equal?")
_SERVE_FIRST = ("serve_first", "Claim: serve high-value, low-satisfaction customers first.")
_MANAGER = ("manager", "Claim: when the account manager leaves, the key account leaves.")
_AT_RISK = ("at_risk", "Where does the revenue at risk sit?")


def _min_group(min_size: int, min_cell: int) -> int:
    """Segments below this many customers are pooled or left out: the larger of the two limits."""
    return max(min_size, min_cell)


def _needs(section: Section, need: str):
    """The value of an earlier section, or `Skip` with ``need`` ("X needs Y"), "which did not run"."""
    result = value(section)
    if result is None:
        raise Skip(f"{need}, which did not run.")
    return result


def _segmentation(data: Data, segment: str) -> None:
    """`Skip` when the data cannot be split by ``segment`` (the column is missing or has one value)."""
    if segment not in data.available:
        raise Skip(f"The data cannot be split by {segment} (segmentations available: "
                   f"{', '.join(data.available) or 'none'}): set SEGMENT_BY to one of them.")


def _durations(data: Data, what: str) -> None:
    """`Skip` when no customer was observed for any time: every tenure is zero, so there is no curve to draw."""
    tenure = data.customers[S.TENURE]
    if len(tenure) and float(tenure.max()) <= 0:
        raise Skip(f"Every customer has a tenure of 0 months, so {what} has nothing to show: check the tenure "
                   "column and its units in the mapping.")


def _events(data: Data, what: str) -> None:
    """`Skip` when no customer churned, or none was observed for any time: there is nothing to learn from."""
    _durations(data, what)
    if data.churned == 0:
        raise Skip(f"No customer churned (all {data.n:,} censored): {what} needs churn events.")


def _enough(data: Data, min_size: int, min_cell: int) -> None:
    """`Skip` when there are fewer customers than one segment needs: no segment could be shown."""
    if data.n < _min_group(min_size, min_cell):
        raise Skip(f"{data.n:,} customer{'s' * (data.n != 1)}: fewer than the {_min_group(min_size, min_cell)} a "
                   "segment needs to be shown (MIN_SEGMENT_SIZE, MIN_CELL).")


@contextmanager
def _shown_segments():
    """A segmentation with no segment to show (`churn.NoSegment`) skips the section with its reason."""
    try:
        yield
    except churn_stats.NoSegment as e:
        raise Skip(f"{str(e)[:1].upper()}{str(e)[1:]}".rstrip(".") + ".") from None


def _compared(rows: pd.DataFrame, segment: str) -> None:
    """`Skip` when fewer than two segments are left after pooling: there is nothing to compare."""
    levels = rows[segment].dropna().unique()
    if len(levels) < 2:
        raise Skip(f"Only one {segment} segment ({', '.join(map(str, levels)) or 'none'}) is left after pooling "
                   "small ones: there is nothing to compare.")


@step("customers", asks=[_CHURNED])
def customers(data: Data, *, confidence: float = 0.95) -> Section:
    """How the report was computed, how many customers (and churners) and which segmentations the data allow."""
    share = data.churned / data.n if data.n else float("nan")
    low, high = wilson(data.churned, data.n, confidence) if data.n else (float("nan"), float("nan"))
    return (Section(value=data.n)
            .lead("How this report was computed.", data.note)
            .text(f"{data.n:,} customers, {data.churned:,} churned; segmentations available: "
                  f"{', '.join(data.available)}", *mapping_notes(data.ds.tables))
            .answer(*_CHURNED, f"{percent(share)} of the {data.n:,} customers had churned by the end of their "
                    f"observation ({confidence:.0%} interval {interval(low, high, percent)}).", finding="churn_share")
            .pipe(data_quality, data.ds, what="sample" if data.sampled else "data")
            .find("customers", data.n, unit="customers", label="Customers analysed")
            .find("churn_share", share, (low, high), unit="share", key=True,
                  label="Share of customers who churned by the end of observation")
            .find("engine", data.engine, label="Computation path"))


def _stay_sentence(row, horizon: float, confidence: float) -> str:
    """The restricted mean tenure in words; the estimate with as many digits as its interval needs."""
    mean = number(row["rmst"], digits=digits_apart(row["rmst_lower"], row["rmst_upper"]))
    return (f"Over their first {number(horizon)} months customers stay {mean} months on average "
            f"({confidence:.0%} interval {interval(row['rmst_lower'], row['rmst_upper'])}; "
            "the restricted mean tenure).")


@step("overall")
def overall(data: Data, *, horizon: float, times: Sequence[float] = (12, 24), confidence: float = 0.95) -> Section:
    """Kaplan-Meier curve of all customers, survival at ``times`` and restricted mean tenure over ``horizon``."""
    _durations(data, "the survival curve")
    everyone = data.counts()
    summary = survival.km_summary(everyone, times=times, horizon=horizon, confidence=confidence,
                                  weights=data.weights)
    curve = plots.km_curves(survival.km_table(everyone, confidence=confidence, weights=data.weights),
                            confidence=confidence)
    row = summary.iloc[0]
    return (Section(value=summary)
            .figure(curve, "The share of customers still with us after each month of tenure, with its interval; "
                    "the numbers under the plot are the customers still observed then.")
            .table(summary)
            .answer(*_STAY, _stay_sentence(row, horizon, confidence), finding="rmst")
            .find_rows(summary, "rmst", value="rmst", ci=("rmst_lower", "rmst_upper"), unit="months", key=True,
                       label=f"Restricted mean tenure over {horizon} months, all customers"))


@step("by_segment")
def by_segment(data: Data, *, segment: str, horizon: float, times: Sequence[float] = (12, 24), min_size: int = 50,
               min_cell: int = privacy.MIN_CELL, confidence: float = 0.95) -> Section:
    """Kaplan-Meier curves per segment of ``segment``: restricted mean tenure and (where reached) median tenure."""
    _segmentation(data, segment)
    _durations(data, "the survival curves")
    _enough(data, min_size, min_cell)
    with _shown_segments():
        km, summary, note = churn_stats.segment_curves(data.counts([segment]), segment, horizon=horizon,
                                                       times=times, min_size=_min_group(min_size, min_cell),
                                                       confidence=confidence, weights=data.weights)
    field = "{" + segment + "}"
    return (Section(value=summary)
            .figure(plots.km_curves(km, group=segment, title=f"Still a customer, by {segment}", confidence=confidence),
                    "One curve per segment: the lower a curve, the sooner its customers leave. Curves whose bands "
                    "do not overlap differ by more than chance.")
            .text(note).table(summary)
            .find_rows(summary, f"rmst.{field}", value="rmst", ci=("rmst_lower", "rmst_upper"), unit="months",
                       label=f"Restricted mean tenure over {horizon} months, {segment} {field}")
            .find_rows(summary, f"median.{field}", value="median", ci=("median_lower", "median_upper"),
                       unit="months", label=f"Median tenure, {segment} {field}",
                       where=lambda row: row["median_reached"]))


def _segmented(data: Data, segment: str, min_group: int) -> pd.DataFrame:
    """The rows of the segment's customers (or counts), small segments pooled as in `by_segment`."""
    pooled, _ = segments.pool_small(data.counts([segment]), segment, min_size=min_group, weights=data.weights)
    return pooled


@step("rmst_difference")
def rmst_difference(data: Data, *, segment: str, horizon: float, min_size: int = 50,
                    min_cell: int = privacy.MIN_CELL, confidence: float = 0.95) -> Section:
    """Months of restricted mean tenure each segment gains or loses against the first, with intervals."""
    _segmentation(data, segment)
    _events(data, "the difference in restricted mean tenure")
    rows = _segmented(data, segment, _min_group(min_size, min_cell))
    _compared(rows, segment)
    diff = survival.rmst_difference(rows, group=segment, horizon=horizon, confidence=confidence,
                                    weights=data.weights)
    return Section(value=diff).table(diff)


@step("logrank", asks=[_DIFFER])
def logrank(data: Data, *, segment: str, alpha: float = 0.05, min_size: int = 50,
            min_cell: int = privacy.MIN_CELL) -> Section:
    """Log-rank test across the segments, then every pair with Holm's correction."""
    _segmentation(data, segment)
    _events(data, "the log-rank test")
    rows = _segmented(data, segment, _min_group(min_size, min_cell))
    _compared(rows, segment)
    test = survival.logrank(rows, group=segment, weights=data.weights)
    pairs = survival.pairwise_logrank(rows, group=segment, alpha=alpha, weights=data.weights)
    differ = test["p"] < alpha
    return (Section(value=test)
            .text(f"Log-rank across {segment}: chi-squared = {test['statistic']:.1f} on {test['df']} degrees of "
                  f"freedom, p {p_words(test['p'])}.")
            .table(pairs)
            .answer(*_DIFFER, (f"Yes: customers of different {segment} segments churn at different rates (log-rank "
                               f"p {p_words(test['p'])})." if differ else
                               f"No difference beyond chance between the {segment} segments (log-rank p "
                               f"{p_words(test['p'])}, at the {alpha:g} level)."), finding="logrank_p")
            .find("logrank_p", test["p"], unit="p", label=f"Log-rank p-value across {segment}"))



@step("cox")
def cox(data: Data, *, covariates: Sequence[str], strata: Sequence[str] = (), alpha: float = 0.05,
        min_cell: int = privacy.MIN_CELL) -> Section:
    """Cox model with its proportional-hazards check and remedy: on every customer, or on collapsed counts.

    The row-level path fits lifelines on the customers (`churn.cox_with_ph_check`); the
    aggregated path fits the exact Cox model on DuckDB counts and checks proportional hazards on
    the piecewise-exponential model (`scale.cox_with_ph_check`).
    """
    _events(data, "the Cox model")
    covariates, matched = _matched(data, covariates)
    strata, matched_strata = _matched(data, strata)
    try:
        if data.src is None:
            result = churn_stats.cox_with_ph_check(data.customers, covariates, strata=strata, alpha=alpha,
                                                   min_cell=min_cell)
        else:
            result = scale.cox_with_ph_check(data.src, covariates, strata=strata, alpha=alpha)
    except churn_stats.NoCovariate as e:  # the data cannot answer: a reason, not a failure
        raise Skip(f"No covariate the data can support among {', '.join(e.covariates)}. {e.note}") from None
    _separated(result.hazard_ratios(0.95))
    bad = sorted(set(result.check.loc[result.check["violated"], "covariate"]))
    return (Section(value=result)
            .text(*matched, *matched_strata)
            .lead("Proportional hazards.", " ".join(part for part in (result.verdict, result.note) if part))
            .table(result.check)
            .find("ph_check", "holds" if result.ph_holds else "violated: " + ", ".join(bad),
                  label="Proportional hazards"))


def _unremedied(section: Section, result, confidence: float) -> None:
    """Beside the remedied model: the unstratified model's hazard ratios of the covariates that violate proportional
    hazards, labelled so (an average over tenure), which the remedy would otherwise hide."""
    first = getattr(result, "first", None)
    if first is None or result.ph_holds:
        return
    bad = set(result.check.loc[result.check["violated"], "covariate"])
    plain = survival.hazard_ratios(first, confidence)
    plain = plain[plain["term"].map(lambda t: any(t == b or t.startswith(f"{b}[") for b in bad))]
    if len(plain):
        section.table(plain[["term", "hr", "lower", "upper", "p"]],
                      caption=f"The model before the remedy: hazard ratios of {', '.join(sorted(bad))}, which violate "
                              "proportional hazards. Each is an average over tenure, not a constant effect; read "
                              "the remedied model above for the other covariates.")


SEPARATION = 15.0  # |log hazard ratio| beyond this (a ratio of 3 million): the model separated, not estimated


def _separated(hrs: pd.DataFrame) -> None:
    """`Skip` when a term separates churners from the rest: its hazard ratio runs off to 0 or infinity."""
    logs = np.log(hrs[["hr", "lower", "upper"]].astype(float).clip(lower=1e-300))
    off = hrs.loc[~np.isfinite(logs).all(axis=1) | (logs.abs() > SEPARATION).any(axis=1), "term"].tolist()
    if off:
        raise Skip(f"{', '.join(map(str, off))} separates churners from the rest: its hazard ratio runs off to 0 or "
                   "infinity, so the model cannot estimate it. Check it for leakage (the section above), or leave it "
                   "out of COVARIATES.")


def _complete_customers(customers: pd.DataFrame, result: churn_stats.CoxResult) -> int:
    """Customers the first Cox model was fitted on: pooled as for the model, complete in every used column."""
    used = [S.TENURE, S.CHURNED, *result.covariates, *result.strata]
    pooled, _ = privacy.pool_small_levels(customers, used, min_cell=result.min_cell)
    return len(pooled.dropna(subset=used))


def _fit_sentence(data: Data, result) -> str:
    """How the Cox model was fitted: concordance and customers (rows), or the collapsed counts (aggregated)."""
    if data.src is not None:
        return result.fit_note()
    return (f"Concordance of the first model: {result.first.concordance_index_:.3f} "
            f"({_complete_customers(data.customers, result):,} customers with every covariate)")


def _drivers_sentence(hrs: pd.DataFrame, confidence: float) -> str:
    """The two hazard ratios furthest from 1 among those whose interval excludes 1, in words."""
    clear = hrs.loc[(hrs["lower"] > 1) | (hrs["upper"] < 1)].copy()
    if clear.empty:
        return "No covariate's hazard ratio is distinguishable from 1."
    clear["strength"] = clear["hr"].map(lambda v: abs(math.log(v)))
    top = clear.sort_values("strength", ascending=False).head(2)
    words = [f"{term(row['term'])} (hazard ratio {fixed(row['hr'])}, {confidence:.0%} interval "
             f"{interval(row['lower'], row['upper'])}: {'faster' if row['hr'] > 1 else 'slower'} churn)"
             for _, row in top.iterrows()]
    share = f"All {len(hrs)}" if len(clear) == len(hrs) else f"{len(clear)} of the {len(hrs)}"
    return f"{share} terms of the model have a hazard ratio clearly different from 1; the strongest: " + \
        "; ".join(words) + "."


def leakage(data: Data, *, covariates: Sequence[str]) -> Section:
    """Before the Cox model: does one covariate nearly determine churn? (`helpers.steps.checks.leakage`)."""
    return checks.leakage(data.customers, S.CHURNED, _matched(data, covariates)[0])


def _matched(data: Data, names: Sequence[str]) -> tuple[list[str], list[str]]:
    """Covariates named as in the source file (``PaymentMethod``) matched to the loaded columns, with notes."""
    return match_columns(data.customers, list(names), sources=source_name_map(data.ds))


@step("hazard_ratios", asks=[_DRIVERS])
def hazard_ratios(data: Data, cox_section: Section, leakage_section: Section | None = None, *,
                  confidence: float = 0.95) -> Section:
    """Hazard ratios of the final Cox model, their forest plot, and how the model was fitted.

    A term resting on a column the leakage check flagged carries its warning in its finding.
    """
    result = _needs(cox_section, "The hazard ratios need the Cox model")
    hrs = checks.with_evalues(result.hazard_ratios(confidence), rare=sensitivity.is_rare(data.churned / data.n))
    warn = (lambda terms: checks.caveat(leakage_section, terms)) if leakage_section is not None else \
        (lambda terms: "")
    section = (Section(value=hrs)
               .figure(plots.forest(hrs, confidence=confidence),
                       "Each line is a hazard ratio with its interval: right of 1 churns faster, left of 1 slower, "
                       "all else in the model equal; a line that crosses 1 is not distinguishable from no effect.")
               .text(_fit_sentence(data, result)).table(hrs)
               .answer(*_DRIVERS, " ".join(p for p in (_drivers_sentence(hrs, confidence),
                                                         warn(list(hrs["term"]))) if p), finding="hr"))
    for _, row in hrs.iterrows():
        said = warn([row["term"]])
        section.find(f"hr.{slug(row['term'])}", row["hr"], (row["lower"], row["upper"]),
                     label=f"Hazard ratio, {row['term']}" + (f" ({said})" if said else ""))
    _unremedied(section, result, confidence)
    if data.src is None:  # concordance counts rows: meaningful on one row per customer only
        said = warn(list(hrs["term"]))
        section.find("concordance", result.first.concordance_index_,
                     label="Concordance of the Cox model" + (f" ({said})" if said else ""))
    return section


@step("parametric")
def parametric(data: Data, cox_section: Section, *, min_cell: int = privacy.MIN_CELL) -> Section:
    """Weibull, log-normal and log-logistic AFT models on the Cox model's covariates, ranked by AIC."""
    result = _needs(cox_section, "The parametric comparison needs the Cox model's covariates")
    try:
        table = survival.compare_parametric(data.customers, covariates=result.covariates, min_cell=min_cell)
    except ConvergenceError:  # lifelines' own message is a page of advice; the reader needs one line
        raise Skip("The parametric models did not converge on these data (often: tenures all alike, or a "
                   "covariate that separates churners from the rest): the comparison is skipped.") from None
    return (Section(value=table).text(data.sample_note("The parametric comparison")).table(table)
            .find("best_parametric", table.iloc[0]["model"], label="Best parametric model by AIC"))


@step("holdout")
def holdout(data: Data, cox_section: Section, *, horizon: float, test_share: float = 0.3, seed: int = 0,
            confidence: float = 0.95) -> Section:
    """The Cox model refitted on part of the customers and judged on the rest: calibration and Brier scores."""
    result = _needs(cox_section, "Hold-out prediction needs the Cox model")
    accuracy = churn_stats.holdout_accuracy(data.customers, result, horizon=horizon, test_share=test_share,
                                            seed=seed, confidence=confidence)
    return (Section(value=accuracy).text(data.sample_note("Hold-out prediction"))
            .figure(plots.calibration(accuracy["calibration"], t=horizon, confidence=confidence),
                    "Predicted against observed survival for groups of held-out customers: points on the diagonal "
                    "mean the model's predictions can be taken at face value.")
            .text(f"Brier score at {horizon} months: {accuracy['brier']:.3f} (no-covariate prediction: "
                  f"{accuracy['brier_km']:.3f}); integrated Brier score: {accuracy['integrated_brier']:.3f}; "
                  f"{accuracy['test_customers']:,} held-out customers.")
            .find("brier_horizon", accuracy["brier"], label=f"Held-out Brier score at {horizon} months")
            .find("integrated_brier", accuracy["integrated_brier"], label="Held-out integrated Brier score"))


# ---- the differentiated-service lens: one segmentation per section -----------------------------
@dataclass(frozen=True)
class Lens:
    """One view of the lens: its section name, figure title and the sentence when the data lack it."""

    section: str
    title: str
    missing: str
    many_curves: bool = False  # no bands and no at-risk table: too many curves to read them


LENSES = {
    segments.QUADRANT: Lens("quadrants", "Still a customer, by value x satisfaction",
                            "No satisfaction or monthly value in this data set: the value x satisfaction quadrants "
                            "are skipped."),
    segments.SERVICE_BY_VALUE: Lens("service_level", "Still a customer, by relative service level and value",
                                    "No relative service level in this data set: this section is skipped."),
    segments.WALLET_BY_SATISFACTION: Lens("wallet_share", "Still a customer, by wallet share and satisfaction",
                                          "No wallet share or satisfaction in this data set: this section is skipped."),
    S.CUSTOMER_TYPE: Lens("customer_type", "Still a customer, individual vs group",
                          "No customer type in this data set: this section is skipped."),
    segments.COHORT: Lens("cohorts", "Still a customer, by signup cohort",
                          "No signup dates in this data set: the cohort view is skipped.", many_curves=True),
}


@step(lambda data, segmentation, **_: LENSES[segmentation].section,
      asks=lambda data, segmentation, **_: [_SERVE_FIRST] if segmentation == segments.QUADRANT else [])
def lens(data: Data, segmentation: str, *, horizon: float, times: Sequence[float] = (12, 24), min_size: int = 50,
         min_cell: int = privacy.MIN_CELL, confidence: float = 0.95) -> Section:
    """Kaplan-Meier curves and their summary for one segmentation of `LENSES`; skipped when the data lack it.

    The quadrants also give their order by restricted mean tenure, shortest first.
    """
    view = LENSES[segmentation]
    if segmentation not in data.available:
        raise Skip(view.missing)
    _enough(data, min_size, min_cell)
    with _shown_segments():
        km, summary, note = churn_stats.segment_curves(data.counts([segmentation]), segmentation, horizon=horizon,
                                                       times=times, min_size=_min_group(min_size, min_cell),
                                                       confidence=confidence, weights=data.weights)
    curves = plots.km_curves(km, group=segmentation, title=view.title, ci=not view.many_curves,
                             at_risk=not view.many_curves, confidence=confidence)
    section = (Section(value=summary)
               .figure(curves, f"{view.title}: the lower a curve, the sooner its customers leave.")
               .text(note).table(summary))
    if segmentation == segments.QUADRANT:
        order = summary.sort_values("rmst")[segmentation].astype(str)
        section.find("quadrant_order", " < ".join(order), label="Quadrants by restricted mean tenure, shortest first")
        _serve_first(section, data, horizon=horizon, min_group=_min_group(min_size, min_cell), confidence=confidence)
    return section


def _serve_first(section: Section, data: Data, *, horizon: float, min_group: int, confidence: float) -> None:
    """The claim "serve high-value, low-satisfaction customers first", read on restricted mean tenure.

    Supported when the win-back quadrant (high value, low satisfaction) stays shorter than the
    consolidate quadrant (high value, high satisfaction) by more than chance: valuable customers
    who are about to leave. Contradicted when they stay longer; inconclusive otherwise.
    """
    rows = _segmented(data, segments.QUADRANT, min_group)
    levels = set(rows[segments.QUADRANT].astype(str))
    if not {"win_back", "consolidate"} <= levels:
        section.answer(*_SERVE_FIRST, "Not answered on these data: the win-back or consolidate quadrant is too small "
                       "or missing.")
        return
    diff = survival.rmst_difference(rows, group=segments.QUADRANT, horizon=horizon, reference="consolidate",
                                    confidence=confidence, weights=data.weights)
    row = diff.loc[diff[segments.QUADRANT].astype(str) == "win_back"].iloc[0]
    said = verdict(row["lower"], row["upper"], direction=-1)
    months = abs(row["difference"])
    sentence = (f"High-value, low-satisfaction customers (win back) stay {number(months)} months "
                f"{'less' if row['difference'] < 0 else 'more'} over {number(horizon)} months than high-value, "
                f"high-satisfaction ones ({confidence:.0%} interval of the difference "
                f"{interval(row['lower'], row['upper'])} months).")
    sentence += {"supported": " They are valuable and leaving sooner: serving them first is where retention "
                              "effort can pay.",
                 "contradicted": " They stay longer, so the claim does not hold on these data.",
                 "inconclusive": " The difference is within chance."
                 + checks.undetectable_difference(row["se"], " months", confidence=confidence)}[said]
    section.answer(*_SERVE_FIRST, sentence, verdict=said, finding="rmst_difference.win_back", p=row.get("p"))
    section.find("rmst_difference.win_back", row["difference"], (row["lower"], row["upper"]), unit="months",
                 key=True, label=f"Restricted mean tenure over {horizon} months, win back minus consolidate")


_ADJUSTED_GAP = ("serve_first_adjusted", "Does the win-back gap hold with the other covariates held fixed?")
_DEFINES_QUADRANT = {segments.QUADRANT, segments.VALUE_BAND, segments.LOG2_VALUE, S.SATISFACTION, S.MONTHLY_VALUE,
                     segments.WALLET_BY_SATISFACTION, segments.SERVICE_BY_VALUE, segments.BELOW_PARITY,
                     S.RELATIVE_SERVICE}  # cut from value or satisfaction


@step("adjusted_quadrants", asks=[_ADJUSTED_GAP])
def adjusted_quadrants(data: Data, *, covariates: Sequence[str], horizon: float, reps: int = 60, seed: int = 0,
                       min_size: int = 50, min_cell: int = privacy.MIN_CELL, confidence: float = 0.95) -> Section:
    """The quadrants' survival standardized over the covariates that do not define them, and the win-back gap.

    Customers of different quadrants differ in contract, customer type and the rest, so part of
    the gap between the crude curves comes from who is in each quadrant. The covariates that cut
    the quadrants (value, satisfaction) cannot be held fixed: no customer could be in another
    quadrant then. Numeric covariates enter in fifths (`adjusted.in_bands`); small levels are pooled.
    """
    if segments.QUADRANT not in data.available:
        raise Skip(LENSES[segments.QUADRANT].missing)
    _events(data, "the adjusted quadrant curves")
    _enough(data, min_size, min_cell)
    from helpers.stats import adjusted

    names, notes = _matched(data, covariates)
    held = [c for c in names if c not in _DEFINES_QUADRANT and data.customers[c].notna().any()]
    if not held:
        raise Skip("No covariate besides value and satisfaction among COVARIATES: there is nothing to hold fixed, "
                   "so the crude quadrant curves above are the answer.")
    rows = adjusted.in_bands(data.customers[[segments.QUADRANT, *held, S.TENURE, S.CHURNED]].dropna(), held)
    rows, pooled = privacy.pool_small_levels(rows, [segments.QUADRANT, *held], min_cell=_min_group(min_size, min_cell))
    _compared(rows, segments.QUADRANT)
    rows[segments.QUADRANT] = rows[segments.QUADRANT].astype(str)  # sorted as the crude curves: the same colours
    kw = dict(group=segments.QUADRANT, covariates=held)
    curves = adjusted.standardized_curves(rows, **kw)
    reference = "consolidate" if (rows[segments.QUADRANT] == "consolidate").any() else None
    diff = adjusted.adjusted_rmst_difference(rows, **kw, horizon=horizon, reference=reference, reps=reps, seed=seed,
                                             confidence=confidence)
    words = listed(term(c) for c in held)
    out = checks.adjusted_view(
        Section(value=diff).text(*notes, pooled, data.sample_note("The adjusted curves")), curves, diff,
        group=segments.QUADRANT, title="Still a customer, by value x satisfaction, adjusted", confidence=confidence,
        caption=f"Each quadrant's curve had every customer been in it, with {words} as they are: the gaps left are "
                "those of value and satisfaction, not of who is in each quadrant.",
        table_caption=f"Restricted mean tenure over {number(horizon)} months against {diff['reference'].iloc[0]}: "
                      f"adjusted for {words} (bootstrap, {int(diff['reps'].iloc[0])} resamples) and crude.")
    win_back = diff.loc[diff[segments.QUADRANT].astype(str) == "win_back"]
    if reference is None or win_back.empty:
        out.answer(*_ADJUSTED_GAP, "Not answered on these data: the win-back or consolidate quadrant is too small or "
                   "missing.")
        return out
    row = win_back.iloc[0]
    said = verdict(row["lower"], row["upper"], direction=-1)
    out.answer(*_ADJUSTED_GAP,
               f"With {words} held fixed, win-back customers stay {number(abs(row['difference']))} months "
               f"{'less' if row['difference'] < 0 else 'more'} of {number(horizon)} than consolidate ones "
               f"({confidence:.0%} interval {interval(row['lower'], row['upper'])}); without the adjustment the gap "
               f"is {number(abs(row['crude_difference']))} months {'less' if row['crude_difference'] < 0 else 'more'}."
               + (checks.undetectable_difference(row["se"], " months", confidence=confidence)
                  if said == "inconclusive" else ""),
               verdict=said, finding="adjusted_rmst.win_back", p=row.get("p"))
    out.find("adjusted_rmst.win_back", row["difference"], (row["lower"], row["upper"]), unit="months",
             label=f"Adjusted restricted mean tenure over {horizon} months, win back minus consolidate")
    return out


# ---- manager departures, end reasons, revenue at risk --------------------------------------------
@step("manager_departure", asks=[_MANAGER])
def manager_departure(data: Data, *, window: float = 6, confidence: float = 0.95,
                      min_cell: int = privacy.MIN_CELL) -> Section:
    """Churn hazard of group customers in the ``window`` months after their account manager left.

    Skipped when the data have no managers or departures, when fewer than ``min_cell``
    customers lost their manager (small-cell suppression), or when too few of them churned for a
    bounded interval.
    """
    table = churn_stats.manager_departure_effect(data.ds, data.customers, window_months=window,
                                                 confidence=confidence, min_cell=min_cell)
    if table is None:
        raise Skip("No account managers or departures in this data set: this section is skipped.")
    if table["customers_exposed"].iloc[0] < min_cell:
        raise Skip(f"Fewer than {min_cell} customers lost their account manager: hidden (small-cell suppression).")
    if table[["lower", "upper"]].isin([0.0, float("inf")]).any().any():
        raise Skip("Too few churners after a manager left to estimate the hazard ratio (its interval is "
                   "unbounded): skipped.")
    after = table.loc[table["term"] == survival.AFTER_EVENT]
    row = after.iloc[0]
    said, closing = checks.ratio_verdict(row["lower"], row["upper"], {
        "supported": " Losing the manager does put the account at risk.",
        "contradicted": " They churn less after the departure: the claim does not hold here.",
        "inconclusive": " The difference is within chance."}, confidence=confidence)
    sentence = (f"In the {number(window)} months after their account manager leaves, group customers churn at "
                f"{number(row['hr'])} times the rate of the rest of their time ({confidence:.0%} interval "
                f"{interval(row['lower'], row['upper'])}).{closing}")
    ev = sensitivity.evalue_hr(row["hr"], row["lower"], row["upper"], rare=sensitivity.is_rare(data.churned / data.n))
    sentence += " " + sensitivity.evalue_sentence(ev, exposure="a manager's departure", outcome="churn")
    return (Section(value=table).text(data.sample_note("The manager-departure model")).table(table)
            .answer(*_MANAGER, sentence, verdict=said, finding="hr.manager_departure", p=row.get("p"))
            .find_rows(after, "hr.manager_departure", value="hr", ci=("lower", "upper"), key=True,
                       label=f"Hazard ratio in the {window} months after an account manager leaves")
            .find("hr.manager_departure.evalue", ev.point, label="E-value of the manager-departure hazard ratio"))


@step("end_reasons")
def end_reasons(data: Data, *, horizon: float, confidence: float = 0.95, min_cell: int = privacy.MIN_CELL) -> Section:
    """Cumulative incidence of churn per end reason (competing risks), reasons given by few customers hidden."""
    if not data.ds.has(S.CUSTOMERS, S.END_REASON):
        raise Skip("No end reasons in this data set: this section is skipped.")
    customers = data.customers
    cif = survival.cumulative_incidence(customers, confidence=confidence)
    reasons = customers.loc[customers[S.CHURNED], S.END_REASON].astype("string").fillna(survival.UNKNOWN)
    small = [r for r, n in reasons.value_counts().items() if n < min_cell]
    cif = cif[~cif["cause"].isin(small)]
    note = (f"{len(small)} end reasons given by fewer than {min_cell} customers hidden (small-cell suppression)."
            if small else "")
    at_horizon = cif.loc[cif["time"] <= horizon].groupby("cause", sort=False).tail(1)
    out = Section(value=at_horizon)
    if END_REASON_LABEL in customers:  # the data's own reasons, as the mapping grouped them
        own = (customers.loc[customers[S.CHURNED]].groupby([S.END_REASON, END_REASON_LABEL], observed=True)
               .size().rename("customers").reset_index().sort_values("customers", ascending=False))
        own, own_note = privacy.suppress_small(own, count="customers", k=min_cell, what="reasons")
        out.table(own, caption="The end reasons as the data recorded them, and the group each was put in by the "
                               "mapping.").text(own_note)
    return (out.text(data.sample_note("Competing risks"), note)
            .figure(plots.cumulative_incidence(cif, confidence=confidence),
                    "The share of all customers who left for each reason by each month of tenure; the reasons "
                    "compete, so the curves add up to the share who left.")
            .table(at_horizon, percent=["cif", "lower", "upper"]))


@step("revenue_at_risk", asks=[_AT_RISK])
def revenue_at_risk(data: Data, *, horizon: float, min_size: int = 50, min_cell: int = privacy.MIN_CELL,
                    confidence: float = 0.95) -> Section:
    """Expected revenue lost to churn over the horizon per segment of every segmentation, largest first.

    Left out on a sample, where adding up customers would understate every segment.
    """
    if data.sampled:
        raise Skip("Revenue at risk adds up customers: on a sample it would understate every segment, so it is left "
                   "out on the aggregated path (run with ENGINE=\"rows\" on a machine that holds the data, or on a "
                   "subset).")
    if S.MONTHLY_VALUE not in data.customers:
        raise Skip("No monthly value in this data set: revenue at risk is skipped.")
    _enough(data, min_size, min_cell)
    with _shown_segments():
        ranked = churn_stats.rank_revenue_at_risk(data.customers, data.available, horizon=horizon,
                                                  min_size=_min_group(min_size, min_cell), confidence=confidence)
    top = ranked.iloc[0]
    sentence = (f"The most revenue at risk over the next {number(horizon)} months is in {top['segmentation']} "
                f"{top['segment']}: {number(top['revenue_lost'])} ({confidence:.0%} interval "
                f"{interval(top['revenue_lost_lower'], top['revenue_lost_upper'], number)}).")
    return (Section(value=ranked)
            .figure(plots.revenue_at_risk_bars(ranked, horizon=horizon, confidence=confidence),
                    "The segments where churn is expected to cost the most revenue; segments of different "
                    "segmentations overlap, so the bars rank, they do not add up.")
            .table(ranked)
            .answer(*_AT_RISK, sentence, finding="revenue_at_risk.top")
            .find_rows(ranked.head(1), "revenue_at_risk.top", value="revenue_lost",
                       ci=("revenue_lost_lower", "revenue_lost_upper"), unit="currency", key=True,
                       label="Largest revenue at risk: {segmentation} {segment}"))

"""Checks every notebook runs before any model: the data's quality, and columns that give the outcome away.

Shared by the four notebooks (`helpers.data.quality` holds the rules and their thresholds):
`data_quality` adds the quality issues to the data section a report opens with, and `leakage`
is the section that warns, in words and graded, when one column nearly determines the outcome,
so that a hazard ratio of 2,620 for a complaint flag is read as a recording artefact, not an
effect. `caveat` puts the same warning on the headline findings that rest on such a column.
The strength of a verdict is worded here too (`undetectable_ratio`, `undetectable_difference`,
`with_evalues`), and `adjusted_view` shows standardized curves the same way in every notebook.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from helpers import plots
from helpers.data import quality
from helpers.findings import verdict
from helpers.stats import sensitivity
from helpers.stats.intervals import normal_quantile
from helpers.steps.section import Section, Skip, step
from helpers.tables import number

_LEAKAGE = ("leakage", "Does one column give the outcome away?")


def data_quality(section: Section, tables, *, what: str = "data") -> Section:
    """Add the quality issues of ``tables`` (a `Dataset`, a dict of tables or one frame) to ``section``.

    Problems lead in bold, notes follow as text, and the table of every issue closes the part;
    data without an issue get one sentence saying so.
    """
    issues = quality.quality_issues(tables, outcome=None)
    if not issues:
        return section.text(f"Data quality: no duplicated rows or ids, no constant or empty column and no value "
                            f"outside its scale in the {what}.")
    problems = [i for i in issues if i.severity == "problem"]
    for issue in problems:
        section.lead("Data quality problem.", issue.sentence)
    section.text(f"Data quality: {len(problems)} problem{'s' * (len(problems) != 1)}, "
                 f"{len(issues) - len(problems)} note{'s' * (len(issues) - len(problems) != 1)}.")
    return (section.table(quality.quality_table(issues), caption="Every data-quality check that found something.")
            .find("quality.problems", len(problems), unit="problems", label="Data-quality problems found"))


@step("leakage", asks=[_LEAKAGE])
def leakage(frame: pd.DataFrame, outcome: str, columns: Sequence[str] | None = None, *,
            unit: str = "customers") -> Section:
    """The graded leakage check of ``columns`` (all but ``outcome`` when None) against ``outcome``.

    The section's value is the list of `helpers.data.quality.Leak`; pass it to `caveat`.
    """
    if not outcome or outcome not in frame:
        raise Skip("No 0/1 outcome to check for leakage in these data.")
    present = None if columns is None else [c for c in columns if c in frame and c != outcome]
    leaks = quality.leakage(frame, outcome, present, unit=unit)
    out = Section(value=leaks)
    for leak in leaks:
        out.lead("Near-determining." if leak.grade == "near-determining" else "Strong.", leak.sentence)
    near = [leak for leak in leaks if leak.grade == "near-determining"]
    if leaks:
        out.text(quality.LEAKAGE_RULES)
        sentence = (f"{'Yes' if near else 'Possibly'}: " + "; ".join(
            f"{leak.column} is {leak.grade}" for leak in leaks[:3]) + (" (leakage or a recording artefact: the "
            "results that use it are marked)." if near else " (read the results that use it with care)."))
    else:
        sentence = f"No: no column nearly determines {outcome} or is strongly tied to it."
        out.text(sentence)
    return (out.answer(*_LEAKAGE, sentence, verdict="")
            .find("leakage.near_determining", len(near), unit="columns",
                  label="Columns that nearly determine the outcome")
            .find("leakage.strong", len(leaks) - len(near), unit="columns",
                  label="Columns strongly tied to the outcome"))


def caveat(leakage_section: Section, terms: Sequence[str]) -> str:
    """The warning a finding resting on ``terms`` carries ("" when none of them was flagged, or no check ran)."""
    leaks = leakage_section.value if leakage_section.status == "ok" else None
    return quality.leak_caveat(leaks or [], list(terms))


# ---- how strong a verdict is: the smallest detectable effect, and hidden bias ------------------
def undetectable_ratio(lower: float, upper: float, *, confidence: float = 0.95, power: float = 0.8) -> str:
    """For an inconclusive ratio: the smallest one either way these data would have detected, in words.

    The standard error of the log ratio is read from its interval, so the figure is Schoenfeld's
    for a Cox model and holds for any ratio estimated on the log scale.
    """
    if not (lower > 0 and upper > lower) or math.isinf(upper):
        return ""
    se = (math.log(upper) - math.log(lower)) / (2 * normal_quantile(confidence))
    far = sensitivity.detectable_effect(se, alpha=1 - confidence, power=power)
    return (f" Only a ratio below {number(math.exp(-far))} or above {number(math.exp(far))} would have been "
            f"detected with {power:.0%} power.")


def ratio_verdict(lower: float, upper: float, words: dict[str, str], *, direction: int = 1,
                  confidence: float = 0.95) -> tuple[str, str]:
    """The verdict on a claim that a ratio is above 1 (``direction=1``) or below it, and its closing words.

    ``words`` gives the sentence for each verdict; an inconclusive one also says the smallest
    ratio these data would have detected (`undetectable_ratio`).
    """
    said = verdict(lower, upper, null=1, direction=direction)
    extra = undetectable_ratio(lower, upper, confidence=confidence) if said == "inconclusive" else ""
    return said, words[said] + extra


def undetectable_difference(se: float | None, unit: str = "", *, confidence: float = 0.95, power: float = 0.8,
                            fmt=number, noun: str = "difference") -> str:
    """For an inconclusive difference with standard error ``se``: the smallest one either way, in words.

    ``fmt`` formats the number (a share as a percent, say) and ``unit`` follows it; ``noun``
    names what was estimated ("effect", "change"). "" when ``se`` is missing or not above 0.
    """
    if se is None or not se > 0:
        return ""
    far = sensitivity.detectable_effect(float(se), alpha=1 - confidence, power=power)
    article = "an" if noun[:1] in "aeiou" else "a"
    return (f" Only {article} {noun} larger than {fmt(far)}{unit} either way would have been detected with "
            f"{power:.0%} power.")


def with_evalues(hrs: pd.DataFrame, *, rare: bool, estimate: str = "hr") -> pd.DataFrame:
    """Ratios with the E-value of each estimate and of its interval bound nearer 1 (observational models).

    Hazard ratios in column ``estimate`` (with ``lower`` and ``upper``); when the frame has a
    ``measure`` column (`complaints.flag_comparison`), its odds-ratio rows are converted as odds
    ratios. ``rare``: the outcome is rare (`sensitivity.is_rare`), so a ratio is read as a risk
    ratio; else the common-outcome conversions apply. Reference levels (no interval): NaN.
    """
    def evalue(r):  # a reference level (interval 1 to 1) is compared with nothing: no E-value
        finite = all(0 < float(r[k]) < math.inf for k in (estimate, "lower", "upper")) and r["lower"] < r["upper"]
        convert = sensitivity.evalue_or if r.get("measure") == "odds ratio" else sensitivity.evalue_hr
        return convert(r[estimate], r["lower"], r["upper"], rare=rare) if finite else None

    values = [evalue(r) for _, r in hrs.iterrows()]
    return hrs.assign(e_value=[v.point if v else math.nan for v in values],
                      e_value_bound=[v.bound if v else math.nan for v in values])


def adjusted_view(section: Section, curves: pd.DataFrame, diff: pd.DataFrame, *, group: str, title: str,
                  caption: str, table_caption: str, confidence: float = 0.95, xlabel: str | None = None) -> Section:
    """Standardized curves (`adjusted.standardized_curves`) and the adjusted against crude restricted means.

    ``diff`` is `adjusted.adjusted_rmst_difference`'s table; ``caption`` says what to read from the
    figure, ``table_caption`` what the table holds.
    """
    axis = {"xlabel": xlabel} if xlabel else {}
    return (section
            .figure(plots.km_curves(curves, group=group, ci=False, confidence=confidence, title=title, **axis), caption)
            .table(diff[[group, "reference", "difference", "lower", "upper", "crude_difference", "crude_lower",
                         "crude_upper"]], caption=table_caption))

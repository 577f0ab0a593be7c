"""The sections of ``notebooks/00_data_overview.ipynb``: what the data hold, before any model."""
from __future__ import annotations

from helpers import plots
from helpers.data import privacy
from helpers.data import schema as S
from helpers.data.mapping import mapping_notes
from helpers.engine.scale import Data
from helpers.stats import overview
from helpers.steps.checks import data_quality
from helpers.steps.section import Section, Skip, step
from helpers.tables import interval, percent

_CHURNED = ("churned", "What share of customers left?")
_PARETO = ("pareto", "Do the largest 20% of customers bring 80% of revenue?")


@step("tables")
def tables(data: Data) -> Section:
    """Every table of the data set with its rows and columns (the full tables' rows on the aggregated path)."""
    ds = data.ds
    sizes = overview.table_sizes(ds)
    if data.sampled:  # the full tables' row counts from DuckDB; missing cells as in the sample
        sizes = sizes.assign(rows_in_sample=sizes["rows"], rows=sizes["table"].map(data.src.table_rows()))
    out = (Section(value=sizes)
           .lead("How this report was computed.", data.note)
           .text(data.sample_note("This overview"), f"Data set {ds.name!r}, fingerprint {ds.fingerprint}; "
                 f"{data.n:,} customers, {data.churned:,} churned.", *mapping_notes(ds.tables))
           .table(sizes)
           .find("customers", len(ds.customers), unit="customers", label="Customers in the data set"))
    return data_quality(out, ds, what="sample" if data.sampled else "data")


@step("churn_rate", asks=[_CHURNED])
def churn_rate(data: Data, *, confidence: float = 0.95) -> Section:
    """The share of customers who churned by the end of observation, with its Wilson interval."""
    overall = overview.churn_rate(data.customers, confidence=confidence)
    row = overall.iloc[0]
    return (Section(value=overall).table(overall, percent=["rate", "lower", "upper"])
            .answer(_CHURNED[0], _CHURNED[1],
                    f"{percent(row['rate'])} of the {data.n:,} customers had churned by the end of their observation "
                    f"({confidence:.0%} interval {interval(row['lower'], row['upper'], percent)}).",
                    finding="churn_rate")
            .find_rows(overall, "churn_rate", value="rate", ci=("lower", "upper"), unit="share", key=True,
                       label="Share of customers who churned by the end of observation"))


@step("churn_by_contract")
def churn_by_contract(data: Data, *, confidence: float = 0.95, min_cell: int = privacy.MIN_CELL) -> Section:
    """The churn share per contract type, small contracts suppressed."""
    if S.CONTRACT not in data.customers:
        raise Skip("The data set has no contract column: churn by contract is skipped.")
    rates = overview.churn_rate(data.customers, by=S.CONTRACT, confidence=confidence)
    shown, note = privacy.suppress_small(rates, count="customers", k=min_cell, what="contracts")
    return (Section(value=shown)
            .figure(plots.churn_rate_bars(shown, S.CONTRACT, confidence=confidence),
                    "Each point is the share of a contract's customers who churned, with its interval; points whose "
                    "intervals do not overlap differ by more than chance.")
            .table(shown, percent=["rate", "lower", "upper"]).text(note))


@step("tenure")
def tenure(data: Data) -> Section:
    """The histogram of tenure at the end of observation, churned and censored."""
    return Section().figure(plots.tenure_histogram(data.customers),
                            "Tenure at the end of observation. The customers still active (censored) have stayed "
                            "at least this long: their bars are lower bounds, not lifetimes.")


@step("revenue_concentration")
def revenue_concentration(data: Data, *, top: float = 0.2, confidence: float = 0.95, reps: int = 400,
                          seed: int = 0) -> Section:
    """The Pareto curve of revenue and the share of the largest ``top`` customers, bootstrap interval."""
    revenue = overview.customer_revenue(data.ds)
    if revenue is None:
        raise Skip("The data set has neither a revenue table nor monthly_value: revenue concentration is skipped.")
    share = overview.top_share_ci(revenue, top, confidence=confidence, reps=reps, seed=seed)
    said = (f"The largest {top:.0%} of customers bring {percent(share['estimate'])} of revenue ({confidence:.0%} "
            f"interval {interval(share['lower'], share['upper'], percent)}).")
    out = (Section(value=share)
           .figure(plots.pareto(overview.pareto_curve(revenue), top=top),
                   "Read the curve at the dashed vertical line: the share of all revenue the largest customers "
                   "bring. A straight diagonal would mean every customer brings the same.")
           .text(said)
           .find("revenue_top_share", share["estimate"], (share["lower"], share["upper"]), unit="share", key=True,
                 label=f"Revenue share of the top {top:.0%} of customers"))
    if abs(top - 0.2) < 1e-9:  # the 80/20 rule is a claim about the top 20% only
        rule = _pareto_verdict(share["lower"], share["upper"])
        out.answer(_PARETO[0], _PARETO[1], said + {"supported": " The 80/20 rule holds here.",
                                                    "contradicted": " The 80/20 rule does not hold here."}[rule],
                   verdict=rule, finding="revenue_top_share")
    return out


def _pareto_verdict(lower: float, upper: float, *, claim: float = 0.8, slack: float = 0.1) -> str:
    """The 80/20 rule is a rule of thumb: supported when the interval reaches within ``slack`` of 80%."""
    return "supported" if upper >= claim - slack and lower <= claim + slack else "contradicted"


@step("contact_mix")
def contact_mix(data: Data) -> Section:
    """Service contacts by kind and channel, and the share that are complaints."""
    if not data.ds.has(S.CONTACTS):
        raise Skip("The data set has no contacts table: the contact mix is skipped.")
    mix = overview.contact_mix(data.ds[S.CONTACTS])
    complaints = mix.loc[mix[S.KIND] == S.COMPLAINT, "share"].sum()
    return (Section(value=mix)
            .figure(plots.contact_mix_bars(mix), "Contacts by kind and channel: the longest bars are where the "
                    "service centre spends its time.")
            .find("complaint_share_of_contacts", complaints, unit="share",
                  label="Share of contacts that are complaints"))

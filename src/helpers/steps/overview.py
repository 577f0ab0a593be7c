"""The sections of ``notebooks/00_data_overview.ipynb``: what the data hold, before any model."""
from __future__ import annotations

from helpers import plots
from helpers.data import privacy
from helpers.data import schema as S
from helpers.data.mapping import mapping_notes
from helpers.engine.scale import Data
from helpers.stats import overview
from helpers.steps.section import Section, Skip, step


@step("tables")
def tables(data: Data) -> Section:
    """Every table of the data set with its rows and columns (the full tables' rows on the aggregated path)."""
    ds = data.ds
    sizes = overview.table_sizes(ds)
    if data.sampled:  # the full tables' row counts from DuckDB; missing cells as in the sample
        sizes = sizes.assign(rows_in_sample=sizes["rows"], rows=sizes["table"].map(data.src.table_rows()))
    return (Section(value=sizes)
            .lead("How this report was computed.", data.note)
            .text(data.sample_note("This overview"), f"Data set {ds.name!r}, fingerprint {ds.fingerprint}; "
                  f"{data.n:,} customers, {data.churned:,} churned.", *mapping_notes(ds.tables))
            .table(sizes)
            .find("customers", len(ds.customers), unit="customers", label="Customers in the data set"))


@step("churn_rate")
def churn_rate(data: Data, *, confidence: float = 0.95) -> Section:
    """The share of customers who churned by the end of observation, with its Wilson interval."""
    overall = overview.churn_rate(data.customers, confidence=confidence)
    return (Section(value=overall).table(overall)
            .find_rows(overall, "churn_rate", value="rate", ci=("lower", "upper"), unit="share",
                       label="Share of customers who churned by the end of observation"))


@step("churn_by_contract")
def churn_by_contract(data: Data, *, confidence: float = 0.95, min_cell: int = privacy.MIN_CELL) -> Section:
    """The churn share per contract type, small contracts suppressed."""
    if S.CONTRACT not in data.customers:
        raise Skip("The data set has no contract column: churn by contract is skipped.")
    rates = overview.churn_rate(data.customers, by=S.CONTRACT, confidence=confidence)
    shown, note = privacy.suppress_small(rates, count="customers", k=min_cell, what="contracts")
    return (Section(value=shown).figure(plots.churn_rate_bars(shown, S.CONTRACT, confidence=confidence))
            .table(shown).text(note))


@step("tenure")
def tenure(data: Data) -> Section:
    """The histogram of tenure at the end of observation, churned and censored."""
    return Section().figure(plots.tenure_histogram(data.customers))


@step("revenue_concentration")
def revenue_concentration(data: Data, *, top: float = 0.2, confidence: float = 0.95, reps: int = 400,
                          seed: int = 0) -> Section:
    """The Pareto curve of revenue and the share of the largest ``top`` customers, bootstrap interval."""
    revenue = overview.customer_revenue(data.ds)
    if revenue is None:
        raise Skip("The data set has neither a revenue table nor monthly_value: revenue concentration is skipped.")
    share = overview.top_share_ci(revenue, top, confidence=confidence, reps=reps, seed=seed)
    return (Section(value=share)
            .figure(plots.pareto(overview.pareto_curve(revenue), top=top))
            .text(f"The top {top:.0%} of customers bring {share['estimate']:.1%} of revenue ({confidence:.0%} "
                  f"interval {share['lower']:.1%} to {share['upper']:.1%}).")
            .find("revenue_top_share", share["estimate"], (share["lower"], share["upper"]), unit="share",
                  label=f"Revenue share of the top {top:.0%} of customers"))


@step("contact_mix")
def contact_mix(data: Data) -> Section:
    """Service contacts by kind and channel, and the share that are complaints."""
    if not data.ds.has(S.CONTACTS):
        raise Skip("The data set has no contacts table: the contact mix is skipped.")
    mix = overview.contact_mix(data.ds[S.CONTACTS])
    complaints = mix.loc[mix[S.KIND] == S.COMPLAINT, "share"].sum()
    return (Section(value=mix).figure(plots.contact_mix_bars(mix))
            .find("complaint_share_of_contacts", complaints, unit="share",
                  label="Share of contacts that are complaints"))

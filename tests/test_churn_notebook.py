"""notebooks/01_churn_survival.ipynb through the report runner, on synthetic data and on IBM Telco."""
import json
import math

import pytest

from .conftest import run_notebook
from .inprocess import default_sections
from .reading import answers_of

pytestmark = pytest.mark.slow


def run(tmp_path, *params):
    return run_notebook(tmp_path, "01_churn_survival", *params)


def test_on_telco_the_sections_without_data_say_so(tmp_path):
    findings, text, _ = run(tmp_path, "dataset=telco")
    assert findings["customers"]["value"] == 7043
    answers = answers_of(tmp_path)  # the published churn share of the IBM Telco sample: 1,869 of 7,043
    assert answers["churned"]["sentence"].startswith("26.5% of the 7,043 customers had churned")
    assert answers["manager"]["sentence"].startswith("Not answered on these data: No account managers")
    rmst = [findings[f"rmst.{c}"]["value"] for c in ("month-to-month", "one-year", "two-year")]
    assert rmst == sorted(rmst)
    assert findings["ph_check"]["value"].startswith("violated: contract")
    assert {"quadrant_order", "hr.manager_departure"}.isdisjoint(findings)
    for note in ("Left out of the model: customer_type (not in the data)",
                 "No satisfaction or monthly value in this data set",
                 "No account managers or departures in this data set",
                 "No signup dates in this data set", "No end reasons in this data set",
                 "The mapping filled 11 missing cells of customers.total_charges with 0."):  # said, not silent
        assert note in text, note


def test_aggregated_path_gives_the_row_level_curves_and_says_what_it_sampled(tmp_path, dataset):
    """ENGINE=aggregated on data small enough for both: RMST and log-rank exactly as the rows give them."""
    from helpers.data.io import load_dataset
    from helpers.stats import churn, survival

    findings, text, html = run(tmp_path, f"dataset={dataset}", "horizon_months=18", "engine=aggregated",
                               "sample_customers=600")
    customers = churn.prepare(load_dataset(dataset))
    summary = survival.km_summary(customers, group="contract", horizon=18).set_index("contract")
    for contract, row in summary.iterrows():
        assert findings[f"rmst.{contract}"]["value"] == pytest.approx(row["rmst"], abs=1e-9), contract
    assert findings["logrank_p"]["value"] == pytest.approx(survival.logrank(customers, group="contract")["p"],
                                                           abs=1e-12)
    assert findings["engine"]["value"] == "aggregated" and findings["customers"]["value"] == 1500
    truth = json.loads((dataset / "truth.json").read_text())["cox_log_hr"]
    f = findings["hr.customer_type.group"]
    assert f["ci_low"] <= math.exp(truth["customer_type[group]"]) <= f["ci_high"]
    assert "concordance" not in findings and "revenue_at_risk.top" not in findings
    for note in ("Aggregated path (DuckDB counts", "set by the ENGINE parameter",
                 "Hold-out prediction needs one row per customer: computed on a random sample of 600 of the 1,500",
                 "entered as quantile bands", "Revenue at risk adds up customers"):
        assert note in text, note
    assert "How this report was computed" in html


def test_a_median_whose_upper_limit_is_not_reached_is_reported_not_refused(medium):
    """Issue 15's reproduction: `data synth --n 6000 --seed 3`, then 01 by region, used to crash on a NaN bound.

    The notebook's own cells in this process (`tests.inprocess`): the crash was in the section, and how a
    missing bound reads in a page is pinned in test_findings, test_tables and test_index.
    """
    sections = default_sections("01", DATASET=str(medium), SEGMENT_BY="region")
    assert [s.name for s in sections if s.status == "failed"] == []
    medians = [f for s in sections for f in s.findings if f.name.startswith("median.")]
    open_ended = [f for f in medians if f.ci_high is None]
    assert open_ended and all(f.ci_low <= f.value for f in open_ended)
    assert all(f.text().endswith(", not reached] months") for f in open_ended)  # "35.4 [34.0, not reached] months"

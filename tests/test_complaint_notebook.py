"""notebooks/03_complaint_recovery.ipynb through the report runner: the aggregated path, a one-table export and CFPB.
The default dated data are checked on the default run (test_default_answers.py)."""
import json

import numpy as np
import pandas as pd
import pytest

from helpers.data.external import cfpb_complaints

from .conftest import run_notebook

pytestmark = pytest.mark.slow


def run(tmp_path, *params):
    return run_notebook(tmp_path, "03_complaint_recovery", *params)


@pytest.fixture
def export(tmp_path):
    """A one-row-per-customer churn export with complaint flags, and one leaky flag set at exit."""
    rng = np.random.default_rng(4)
    n = 3000
    complained = rng.random(n) < 0.3
    resolved = complained & (rng.random(n) < 0.7)
    tenure = rng.exponential(20, n).round(1) + 0.1
    churned = rng.random(n) < np.where(complained & ~resolved, 0.5, 0.25)
    exit_survey = np.where(rng.random(n) < 0.99, churned, ~churned)  # agrees with churn for 99% of customers
    path = tmp_path / "export.csv"
    pd.DataFrame({"complained": complained, "resolved": resolved, "tenure": tenure, "churned": churned,
                  "exit_survey_flag": exit_survey, "plan": rng.choice(["basic", "plus"], n)}).to_csv(path, index=False)
    return path


def test_one_table_export_warns_about_leakage_and_skips_dated_sections(tmp_path, export):
    findings, text, _ = run(tmp_path, f"one_table={export}", "outcome=churned", "flags=[complained, resolved]",
                         "covariates=[plan]", "duration=tenure")
    assert findings["mode"]["value"] == "one table"
    assert findings["leakage.near_determining"]["value"] + findings["leakage.strong"]["value"] == 1
    assert "exit_survey_flag agrees with churned for 99" in text
    assert "This section needs dated complaints" in text
    assert {"rate.complained.true", "rate.resolved.false"} <= set(findings)
    assert not any(name.startswith(("hr.complaint", "paradox", "event_study")) for name in findings)


def test_cfpb_dispute_rates_match_a_direct_count(tmp_path):
    findings, _, _ = run(tmp_path, "one_table=cfpb", "outcome=disputed", "flags=[response, timely]",
                      "covariates=[product, channel]")
    known = cfpb_complaints().dropna(subset=["disputed"])
    direct = known.groupby("response", observed=True)["disputed"].mean()
    for response, rate in direct.items():
        key = "rate.response." + response.lower().replace(" ", "_")
        assert findings[key]["value"] == pytest.approx(rate, abs=1e-12), response
    assert findings["rate.response.closed_with_monetary_relief"]["value"] < \
        findings["rate.response.closed_with_explanation"]["value"]


def test_dated_complaints_on_the_aggregated_path(tmp_path, medium):
    findings, text, _ = run(tmp_path, f"dataset={medium}", "engine=aggregated", "sample_customers=3000")
    truth = json.loads((medium / "truth.json").read_text())["cox_log_hr"]
    for state in ("open", "failed"):
        f = findings[f"hr.complaint.{state}"]
        assert f["ci_low"] <= np.exp(truth[f"complaint[{state}]"]) <= f["ci_high"], state
    assert "Piecewise-exponential model on every customer" in text
    assert "every other section uses the sample" in text and "contacts of the sample" in text

"""notebooks/02_retention_effort_revenue.ipynb through the report runner: both designs and a one-table experiment."""

import json

import numpy as np
import pandas as pd
import pytest

from helpers.data.io import load_dataset
from helpers.stats import retention as R

from .conftest import run_notebook, workbench
from .reading import answers_of

pytestmark = pytest.mark.slow
COVARIATES = ["contract", "customer_type", "log2_monthly_value", "tenure_at_assignment", "recent_complaint"]


def run(tmp_path, *params):
    return run_notebook(tmp_path, "02_retention_effort_revenue", *params)


def test_randomized_campaign(tmp_path, medium):
    findings, text, _ = run(tmp_path, f"dataset={medium}", "campaign=RCT-2024-07")
    assert findings["design"]["value"] == "randomized"
    # the recorded headline is the CUPED estimate the helpers give on the same frame
    frame = R.campaign_frame(load_dataset(medium), "RCT-2024-07")
    cuped = R.effect_table(frame, outcome=R.REVENUE_WINDOW, design="randomized", arm="arm", control="control",
                           covariates=COVARIATES,
                           pre=R.PRE_REVENUE).set_index("method").loc["CUPED (pre-period outcome)"]
    f = findings["effect.revenue.treatment"]
    assert (f["value"], f["ci_low"], f["ci_high"]) == pytest.approx((cuped["estimate"], cuped["lower"], cuped["upper"]))
    assert findings["variance_reduction.treatment"]["value"] > 0.5
    assert findings["effect.churn.treatment"]["ci_low"] < findings["effect.churn.treatment"]["ci_high"]
    assert 0 < findings["hr.churn.treatment"]["value"] < 2
    assert {"incremental_value.revenue.treatment", "incremental_value.lifetime.treatment", "roi.revenue.treatment",
            "break_even_cost.treatment"} <= set(findings)
    assert findings["claim.verdict"]["value"] in {"below", "within", "above"}
    assert findings["claim.increase_pct"]["ci_low"] <= findings["claim.increase_pct"]["value"]
    assert "**Design:** randomized" in text and "**Verdict.**" in text
    answers = answers_of(tmp_path)
    truth = json.loads((medium / "truth.json").read_text())
    assert truth["params"]["hr_campaign"] < 1 and answers["kept.treatment"]["verdict"] in {"supported", "inconclusive"}
    roi = findings["roi.revenue.treatment"]
    expected = "supported" if roi["ci_low"] > 0 else "contradicted" if roi["ci_high"] < 0 else "inconclusive"
    assert answers["pays.treatment"]["verdict"] == expected
    claim = findings["claim.increase_pct"]
    low, high = claim["ci_low"], claim["ci_high"]
    assert answers["five_points"]["verdict"] == ("supported" if low >= 25 and high <= 85 else
                                                 "contradicted" if high < 25 or low > 85 else "inconclusive")
    # the generator plants one campaign effect for everyone: targeting must not claim heterogeneity
    assert answers["target"]["sentence"].startswith("No evidence the effect varies")
    assert answers["quadrant_rule"]["verdict"] in {"inconclusive", "supported", "contradicted"}
    if answers["revenue.treatment"]["verdict"] == "inconclusive":  # then it says what could have been detected
        assert "would have been detected with 80% power" in answers["revenue.treatment"]["sentence"]


def test_targeted_outreach_shows_the_naive_bias(tmp_path, medium):
    findings, text, _ = run(tmp_path, f"dataset={medium}", "campaign=OUTREACH-2025-01", "adjusted_reps=20")
    assert findings["design"]["value"] == "targeted"
    answers = answers_of(tmp_path)  # planted: the outreach lowers the churn hazard (0.8); targeting hides it
    assert answers["adjusted_tenure.treatment"]["verdict"] in {"supported", "inconclusive"}
    assert findings["adjusted_rmst.treatment"]["value"] > 0
    naive, aipw = findings["naive.revenue.treatment"], findings["effect.revenue.treatment"]
    assert naive["ci_high"] < 0 < aipw["value"]  # targeting the low-value customers makes the naive look harmful
    assert "are left out:" in text  # the trimming rule is stated


def test_refuses_a_design_that_contradicts_the_record(tmp_path, medium):
    done = workbench("run", "02", "-p", f"dataset={medium}", "-p", "campaign=OUTREACH-2025-01", "-p",
                     "design=randomized", "--reports", tmp_path / "r", "--no-progress")
    assert done.returncode == 1
    assert "DESIGN = 'randomized', but the campaign records assignment 'targeted'" in done.stdout


@pytest.fixture
def one_table(tmp_path):
    """A one-table e-mail experiment: two mailings against no mailing, planted spend effects 0.5 and 1.5."""
    rng = np.random.default_rng(8)
    n = 6000
    arm = rng.choice(["No E-Mail", "Mens E-Mail", "Womens E-Mail"], n)
    history = rng.gamma(2.0, 100, n)
    recency = rng.integers(1, 13, n)
    spend = 0.02 * history - 0.3 * recency + rng.normal(0, 3, n) + np.select(
        [arm == "Mens E-Mail", arm == "Womens E-Mail"], [1.5, 0.5], 0.0)
    path = tmp_path / "email.csv"
    pd.DataFrame({"segment": arm, "spend": spend, "history": history, "recency": recency,
                  "channel": rng.choice(["web", "phone", "multichannel"], n)}).to_csv(path, index=False)
    return path, {"Mens E-Mail": 1.5, "Womens E-Mail": 0.5}


def test_one_table_experiment_with_several_arms(tmp_path, one_table):
    path, planted = one_table
    findings, text, _ = run(tmp_path, f"experiment_file={path}", "design=randomized", "arm_column=segment",
                         "control=No E-Mail", "outcome=spend", "pre_outcome=history", "churn_outcome=",
                         "duration=", "contacts_outcome=", "covariates=[recency]", "segments=[channel]",
                         "cost_per_action=0.1")
    for arm, effect in planted.items():
        f = findings[f"effect.revenue.{arm.lower().replace(' ', '_')}"]
        assert f["ci_low"] <= effect <= f["ci_high"] and f["ci_high"] - f["ci_low"] < 1.0
    assert "claim.verdict" not in findings and "hr.churn.mens_e-mail" not in findings
    for note in ("No churn outcome in this experiment", "No churn clock (time to churn) in this experiment",
                 "the retention claim is skipped"):
        assert note in text

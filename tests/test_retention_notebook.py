"""notebooks/02_retention_effort_revenue.ipynb through the report runner: the targeted design, a refused design and
one-table experiments. The default randomized campaign is checked on the default run (test_default_answers.py)."""
import numpy as np
import pandas as pd
import pytest

from .conftest import run_notebook, workbench

pytestmark = pytest.mark.slow


def run(tmp_path, *params):
    return run_notebook(tmp_path, "02_retention_effort_revenue", *params)


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

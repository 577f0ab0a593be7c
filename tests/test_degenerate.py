"""Degenerate data never crash a report: the section that cannot run says why in one line (issue 15, part 5).

Each data set is a small customers file of the shape that used to take a notebook down: only the
three required columns, one contract, every customer censored, every customer churned. The steps
are called directly (no kernel) and must skip with the reason; one data set also goes through the
runner, which must write complete reports and exit 0.
"""
import json

import numpy as np
import pandas as pd
import pytest

from helpers.engine.scale import open_data
from helpers.steps import churn as churn_steps
from helpers.steps import overview as overview_steps

from .conftest import workbench

N = 300


def customers_file(folder, n=N, **columns):
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"customer_id": [f"c{i}" for i in range(n)], "tenure_months": rng.integers(1, 40, n).astype(float),
                  **columns}).to_csv(folder / "customers.csv", index=False)
    return folder


@pytest.fixture
def shapes(tmp_path):
    rng = np.random.default_rng(1)
    two = rng.choice(["month-to-month", "one-year"], N)
    churned = rng.random(N) < 0.3
    return {
        "minimal": customers_file(tmp_path / "minimal", churned=rng.random(N) < 0.3),
        "one_contract": customers_file(tmp_path / "one_contract", churned=rng.random(N) < 0.3, contract="one-year"),
        "all_censored": customers_file(tmp_path / "all_censored", churned=False, contract=two),
        "all_churned": customers_file(tmp_path / "all_churned", churned=True, contract=two),
        "tenure_zero": customers_file(tmp_path / "tenure_zero", churned=rng.random(N) < 0.3, contract=two,
                                      tenure_months=0.0),
        "separated": customers_file(tmp_path / "separated", churned=churned, contract=two,
                                    customer_type=np.where(churned, "group", "individual")),
    }


def reasons(*sections):
    return {s.name: (s.status, s.reason) for s in sections}


def test_only_the_required_columns(shapes):
    data = open_data(shapes["minimal"])
    got = reasons(churn_steps.by_segment(data, segment="contract", horizon=24),
                  churn_steps.logrank(data, segment="contract"),
                  churn_steps.cox(data, covariates=["contract", "satisfaction"]))
    split = "The data cannot be split by contract (segmentations available: none): set SEGMENT_BY to one of them."
    assert got["by_segment"] == ("skipped", split) and got["logrank"] == ("skipped", split)
    assert got["cox"] == ("skipped", "No covariate the data can support among contract, satisfaction. Left out of "
                                     "the model: contract (not in the data), satisfaction (not in the data).")
    assert overview_steps.churn_by_contract(data).reason == ("The data set has no contract column: churn by "
                                                             "contract is skipped.")


def test_one_segment_only(shapes):
    data = open_data(shapes["one_contract"])
    got = reasons(churn_steps.by_segment(data, segment="contract", horizon=24),
                  churn_steps.logrank(data, segment="contract"),
                  churn_steps.rmst_difference(data, segment="contract", horizon=24))
    assert got["by_segment"][0] == "ok"  # one curve is still worth showing
    one = "Only one contract segment (one-year) is left after pooling small ones: there is nothing to compare."
    assert got["logrank"] == ("skipped", one) and got["rmst_difference"] == ("skipped", one)


def test_every_customer_censored(shapes):
    data = open_data(shapes["all_censored"])
    got = reasons(churn_steps.logrank(data, segment="contract"), churn_steps.cox(data, covariates=["contract"]),
                  overview_steps.churn_by_contract(data), overview_steps.churn_rate(data))
    assert got["logrank"] == ("skipped", "No customer churned (all 300 censored): the log-rank test needs churn "
                                         "events.")
    assert got["cox"][1].endswith("the Cox model needs churn events.")
    assert got["churn_by_contract"][0] == "ok"  # a share of 0 whose Wilson lower limit rounds below 0 plots
    assert got["churn_rate"][0] == "ok"


def test_every_customer_churned(shapes):
    data = open_data(shapes["all_churned"])
    got = reasons(overview_steps.churn_by_contract(data), churn_steps.overall(data, horizon=24),
                  churn_steps.logrank(data, segment="contract"))
    assert {status for status, _ in got.values()} == {"ok"}, got


def test_every_tenure_zero(shapes):
    data = open_data(shapes["tenure_zero"])
    got = reasons(churn_steps.overall(data, horizon=24), churn_steps.logrank(data, segment="contract"),
                  churn_steps.cox(data, covariates=["contract"]))
    assert {status for status, _ in got.values()} == {"skipped"}, got
    assert got["cox"][1] == ("Every customer has a tenure of 0 months, so the Cox model has nothing to show: check the "
                             "tenure column and its units in the mapping.")


def test_one_customer(tmp_path):
    data = open_data(customers_file(tmp_path / "one", n=1, churned=[True], contract=["one-year"]))
    got = reasons(churn_steps.overall(data, horizon=24), churn_steps.by_segment(data, segment="contract", horizon=24))
    assert got["overall"][0] == "ok"
    assert got["by_segment"] == ("skipped", "1 customer: fewer than the 50 a segment needs to be shown "
                                            "(MIN_SEGMENT_SIZE, MIN_CELL).")


def test_a_flag_that_separates_churners_and_the_duration_as_a_covariate(shapes):
    data = open_data(shapes["separated"])
    cox = churn_steps.cox(data, covariates=["contract", "customer_type", "tenure_months"])
    assert cox.status == "skipped" and cox.reason.startswith("customer_type[group] separates churners from the rest")
    hrs = churn_steps.hazard_ratios(data, cox)
    assert hrs.answers[0].sentence == ("Not answered on these data: The hazard ratios need the Cox model, which did "
                                       "not run.")
    kept = churn_steps.cox(data, covariates=["contract", "tenure_months"])  # the duration is refused, said why
    assert kept.status == "ok" and kept.value.covariates == ["contract"]
    assert "tenure_months (it is the duration or the outcome itself)" in kept.value.note


@pytest.mark.slow
def test_the_runner_writes_complete_reports_on_censored_data(tmp_path, shapes):
    reports = tmp_path / "reports"
    done = workbench("run", "00", "01", "-p", f"dataset={shapes['all_censored']}", "--reports", reports,
                     "--no-progress")
    assert done.returncode == 0, done.stdout + done.stderr
    (path,) = {p.resolve() for p in reports.glob("2*/manifest.json")}
    entries = {e["notebook"]: e for e in json.loads(path.read_text())["notebooks"]}
    assert {e["status"] for e in entries.values()} == {"succeeded"}
    skipped = {s["name"] for s in entries["01_churn_survival"]["skipped_sections"]}
    assert {"logrank", "cox", "hazard_ratios", "rmst_difference"} <= skipped
    assert "No customer churned (all 300 censored)" in (path.parent / entries["01_churn_survival"]["html"]).read_text()

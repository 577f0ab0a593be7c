"""Notebook 02's sections on an outcome that is not money (issue 15, part 6): units follow the outcome."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers.steps import retention as steps


@pytest.fixture
def visits(tmp_path):
    """A one-table e-mail test whose outcome is a visit (0/1), planted +4 points for the mailing."""
    rng = np.random.default_rng(3)
    n = 4000
    arm = rng.choice(["none", "mail"], n)
    visit = rng.random(n) < np.where(arm == "mail", 0.16, 0.12)
    path = tmp_path / "visits.csv"
    pd.DataFrame({"arm": arm, "visit": visit.astype(int), "recency": rng.integers(1, 13, n)}).to_csv(path, index=False)
    return path


def open_visits(path, **kw):
    return steps.open_experiment(dataset="", campaign="", experiment_file=str(path), design="randomized", arm="arm",
                                 control="none", outcome="visit", covariates=["recency"], **kw)


def test_a_visit_rate_is_a_share_in_points_never_currency_and_never_an_roi(visits):
    experiment = open_visits(visits)
    assert experiment.value.unit == "share"
    revenue = steps.revenue_effect(experiment)
    effect = next(f for f in revenue.findings if f.name == "effect.revenue.mail")
    assert effect.unit == "pp" and effect.ci_low <= 0.04 <= effect.ci_high
    assert " pp" in revenue.answers[0].sentence and "currency" not in revenue.answers[0].sentence
    means = next(f for f in revenue.frames if "mean visit" in f)
    assert means["arm"].tolist() == ["none", "mail"] and means["customers"].sum() == 4000  # the rates beside
    paid = steps.payoff(experiment, revenue, cost_per_action=0.5)
    assert paid.status == "skipped" and paid.reason.startswith("The outcome visit is a share, not money")


def test_a_stated_unit_wins_and_no_cost_means_no_roi(visits):
    experiment = open_visits(visits, outcome_unit="currency")
    revenue = steps.revenue_effect(experiment)
    paid = steps.payoff(experiment, revenue)  # no COST_PER_ACTION and no cost column
    assert paid.status == "ok" and not any(f.name.startswith("roi.") for f in paid.findings)
    assert "cannot be judged" in paid.answers[0].sentence
    assert steps.read_unit(pd.DataFrame({"visits": [0, 2, 5]}), "visits") == "count"
    assert steps.read_unit(pd.DataFrame({"spend_eur": [1.5, 2.0]}), "spend_eur") == "currency"
    with pytest.raises(ValueError, match="OUTCOME_UNIT 'dollars' is not one of"):
        steps.read_unit(pd.DataFrame({"x": [1.0]}), "x", "dollars")

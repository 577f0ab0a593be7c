"""How the Cox sections read when proportional hazards fail: nothing hidden, nothing false (issue 15, part 6)."""
from __future__ import annotations

import pandas as pd

from helpers.data import synth
from helpers.engine.scale import open_data
from helpers.stats import survival
from helpers.steps import churn as churn_steps
from helpers.tables import Table


def test_the_stratified_covariate_keeps_its_hazard_ratios_beside_the_remedied_model(tmp_path):
    folder = synth.write(*synth.generate(3000, 36, seed=5), tmp_path / "synthetic")
    data = open_data(folder)
    cox = churn_steps.cox(data, covariates=["contract", "customer_type", "satisfaction"])
    assert cox.status == "ok" and not cox.value.ph_holds  # the generator plants effects that change with tenure
    bad = sorted(set(cox.value.check.loc[cox.value.check["violated"], "covariate"]))
    hrs = churn_steps.hazard_ratios(data, cox)
    before = [p for p in hrs.parts if isinstance(p, Table) and p.caption.startswith("The model before the remedy")]
    assert len(before) == 1 and f"hazard ratios of {', '.join(bad)}, which violate" in before[0].caption
    terms = set(before[0].frame["term"])
    assert terms and all(any(t == b or t.startswith(f"{b}[") for b in bad) for t in terms)
    assert not terms & set(hrs.value["term"])  # the remedied model stratifies or splits them: only here as averages


def test_a_tiny_alpha_never_reads_as_no_violation():
    check = pd.DataFrame({"covariate": ["contract", "age"], "p": [1e-9, 0.4], "violated": [False, False]})
    text = survival.ph_verdict_text(check)
    assert not text.startswith("No covariate violates") and "at the usual 0.05, contract would violate" in text
    fine = pd.DataFrame({"covariate": ["age"], "p": [0.4], "violated": [False]})
    assert survival.ph_verdict_text(fine).startswith("No covariate violates proportional hazards (smallest p = 0.400)")

"""What `make report` answers on the default synthetic data, against the truth the generator planted.

The default run is every notebook with its default parameters on ``workbench data synth``'s data
(20,000 customers over 36 months, seed 7). Its reports open with answers; here each answer that
the planted truth decides must say what the truth says: supported where the generator planted
the effect and the data can show it, the planted value inside the answer's interval, and no
verdict where none is due. Numbers that have a direct count (the churned share, the top 20%'s
revenue, first-contact resolution) must equal it. The notebooks' own cells run in this process
(`tests.inprocess`), so the calls are the notebooks'; the runner, papermill and the HTML are
tested elsewhere (test_reports, test_hostile, test_sections).

Verdicts on these data, as of this writing: the 80/20 rule supported, "serve high-value,
low-satisfaction first" supported, "the manager leaves, the account leaves" supported, the
campaign ran as planned, kept customers (supported) but its revenue effect is inconclusive (the
planted +119 is below the 232 it could detect), "five points of retention raise profit 25-85%"
contradicted, and the recovery paradox supported (planted 0.85).
"""
import math

import numpy as np
import pytest

from helpers.data import schema as S
from helpers.data import synth
from helpers.data.io import load_dataset
from helpers.stats import complaints, recovery, survival
from helpers.stats import retention as R
from helpers.steps.section import FAILED, OK

from .inprocess import answers, default_sections

pytestmark = pytest.mark.slow  # the four notebooks on 20,000 customers: about a minute of CPU
COVARIATES = ["contract", "customer_type", "log2_monthly_value", "tenure_at_assignment", "recent_complaint"]


@pytest.fixture(scope="module")
def default(tmp_path_factory, default_data):
    """The default data set on disk (what `workbench data synth` writes), and its truth."""
    from helpers.cli import synth_command

    tables, truth = default_data
    defaults = {o.name: o.default for o in synth_command.params if o.name in ("n", "months", "seed")}
    assert defaults == {"n": 20000, "months": 36, "seed": 7} == {k: truth["arguments"][k] for k in defaults}
    return synth.write(tables, truth, tmp_path_factory.mktemp("default")), truth


def _run(notebook: str, folder, **parameters):
    sections = default_sections(notebook, DATASET=str(folder), **parameters)
    failed = {s.name: s.reason for s in sections if s.status == FAILED}
    findings = {f.name: f for s in sections if s.status == OK for f in s.findings}
    text = "\n".join(f"{p.lead} {p.sentence}".strip() for s in sections for p in s.parts if hasattr(p, "sentence"))
    return failed, findings, answers(sections), text


@pytest.fixture(scope="module")
def report(default):
    """``report("01")``: (failed sections, findings, answers, text) of a notebook on the default data, run once."""
    done = {}

    def ran(notebook: str, **parameters):
        key = (notebook, tuple(sorted(parameters.items())))
        if key not in done:
            done[key] = _run(notebook, default[0], **parameters)
        return done[key]

    return ran


def _inside(answer_or_finding, value: float) -> bool:
    return answer_or_finding.ci_low <= value <= answer_or_finding.ci_high


# ---- 00: the data overview ----------------------------------------------------------------------------
def test_the_overview_answers_with_the_direct_counts(report, default):
    failed, findings, said, _ = report("00")
    assert failed == {}
    customers = load_dataset(default[0]).customers
    assert len(customers) == 20000
    churned = customers[S.CHURNED].mean()
    assert findings["churn_rate"].value == pytest.approx(churned, abs=1e-12)
    assert said["churned"].sentence.startswith(f"{100 * churned:.1f}% of the 20,000 customers had churned")
    revenue = load_dataset(default[0])[S.REVENUE]  # every customer's revenue over the revenue table's months
    total = revenue.groupby(S.CUSTOMER_ID)[S.REVENUE_AMOUNT].sum().sort_values(ascending=False).to_numpy()
    top = total[: round(0.2 * len(total))].sum() / total.sum()  # the largest 20% of customers
    share = findings["revenue_top_share"]
    assert share.value == pytest.approx(top, abs=1e-12) and _inside(share, top)
    assert top == pytest.approx(0.809, abs=5e-4)  # the rule of thumb (80/20, within 10 points) holds
    assert said["pareto"].verdict == "supported" and said["pareto"].sentence.endswith("The 80/20 rule holds here.")


# ---- 01: churn survival --------------------------------------------------------------------------------
def test_the_churn_report_supports_what_was_planted(report, default):
    failed, findings, said, _ = report("01")
    truth = default[1]
    assert failed == {}
    assert said["leakage"].sentence.startswith("No: no column nearly determines")
    assert said["segments_differ"].sentence.startswith("Yes: customers of different contract segments churn")
    # the generator plants a manager departure doubling a key account's hazard for 6 months
    planted = math.exp(truth["cox_log_hr"]["manager_departed"])
    assert planted == pytest.approx(2.0) and said["manager"].verdict == "supported"
    assert _inside(findings["hr.manager_departure"], planted)
    # win back (high value, low satisfaction) churns faster than consolidate: serving it first pays
    assert said["serve_first"].verdict == "supported"
    # and the gap holds with contract, customer type and wallet share held fixed (standardized curves)
    assert said["serve_first_adjusted"].verdict == "supported" and findings["adjusted_rmst.win_back"].ci_high < 0
    assert said["serve_first_adjusted"].sentence.startswith("With contract, customer type and wallet share held")
    for term in ("satisfaction", "wallet_share"):
        assert _inside(findings[f"hr.{term}"], math.exp(truth["cox_log_hr"][term])), term
    assert said["drivers"].sentence.startswith("All 8 terms of the model have a hazard ratio clearly different")


# ---- 02: the randomized campaign (RCT-2024-07, the default) ---------------------------------------------
def test_the_campaign_report_recovers_the_planted_campaign(report, default):
    failed, findings, said, text = report("02")
    truth = default[1]["campaigns"]["RCT-2024-07"]
    assert failed == {}
    assert findings["design"].value == "randomized" and "Design: randomized" in text
    assert said["as_planned"].verdict == "supported"
    # revenue: the recorded headline is the CUPED estimate the helpers give on the same frame
    frame = R.campaign_frame(load_dataset(default[0]), "RCT-2024-07")
    cuped = R.effect_table(frame, outcome=R.REVENUE_WINDOW, design="randomized", arm="arm", control="control",
                           covariates=COVARIATES, pre=R.PRE_REVENUE).set_index("method").loc[
        "CUPED (pre-period outcome)"]
    revenue = findings["effect.revenue.treatment"]
    assert (revenue.value, revenue.ci_low, revenue.ci_high) == pytest.approx(
        (cuped["estimate"], cuped["lower"], cuped["upper"]))
    assert _inside(revenue, truth["ate"]["revenue_12m"])  # planted +119 a customer over 12 months
    assert said["revenue.treatment"].verdict == ("supported" if revenue.ci_low > 0 else "inconclusive")
    if said["revenue.treatment"].verdict == "inconclusive":  # then it says what could have been detected
        assert "would have been detected with 80% power" in said["revenue.treatment"].sentence
    assert findings["variance_reduction.treatment"].value > 0.5
    # churn within 12 months: planted -4.5 points (hazard ratio 0.75)
    kept = findings["effect.churn.treatment"]
    assert _inside(kept, truth["ate"]["churn_12m"]) and said["kept.treatment"].verdict == "supported"
    assert 0 < findings["hr.churn.treatment"].value < 1
    # pays, and the 25-85% claim: verdicts read off their own intervals
    roi = findings["roi.revenue.treatment"]
    assert said["pays.treatment"].verdict == ("supported" if roi.ci_low > 0 else
                                              "contradicted" if roi.ci_high < 0 else "inconclusive")
    claim = findings["claim.increase_pct"]
    assert claim.ci_low <= claim.value <= claim.ci_high and "Verdict." in text
    assert findings["claim.verdict"].value in {"below", "within", "above"}
    assert said["five_points"].verdict == ("supported" if claim.ci_low >= 25 and claim.ci_high <= 85 else
                                           "contradicted" if claim.ci_high < 25 or claim.ci_low > 85 else
                                           "inconclusive")
    assert {"incremental_value.revenue.treatment", "incremental_value.lifetime.treatment",
            "break_even_cost.treatment"} <= set(findings)
    # the generator plants one hazard ratio for everyone: targeting must not claim heterogeneity
    assert said["target"].sentence.startswith("No evidence the effect varies")
    if said["quadrant_rule"].verdict == "inconclusive":  # then it says what could have been detected
        assert "per customer either way would have been detected with 80% power" in said["quadrant_rule"].sentence
    # restricted mean tenure by third of predicted effect: the planted hazard ratio 0.75 acts in every third, so
    # the third predicted to gain most revenue stays longer when treated too (by 0.12 months of 12 here; with
    # about 750 customers a third its interval includes 0)
    tenure = findings["targeting.tenure_top.treatment"]
    assert tenure.unit == "months" and 0 < tenure.value < 1 and tenure.ci_low < tenure.value < tenure.ci_high
    assert said["quadrant_rule"].verdict in {"inconclusive", "supported", "contradicted"}


def test_the_targeted_outreach_shows_the_naive_bias_and_what_adjustment_recovers(report, default):
    """OUTREACH-2025-01 picked the low-value, at-risk customers: the naive comparison makes it look harmful."""
    failed, findings, said, text = report("02", CAMPAIGN="OUTREACH-2025-01", ADJUSTED_REPS=20)
    truth = default[1]["campaigns"]["OUTREACH-2025-01"]
    assert failed == {} and findings["design"].value == "targeted"
    assert truth["hr"] < 1 and said["adjusted_tenure.treatment"].verdict in {"supported", "inconclusive"}
    assert findings["adjusted_rmst.treatment"].value > 0
    naive, aipw = findings["naive.revenue.treatment"], findings["effect.revenue.treatment"]
    assert truth["naive_difference"]["revenue_12m"] < 0 and naive.ci_high < 0 < aipw.value
    assert "are left out:" in text  # the trimming rule is stated


# ---- 03: complaints and recovery --------------------------------------------------------------------------
def test_the_complaint_report_recovers_the_planted_states_and_the_paradox(report, default):
    failed, findings, said, text = report("03")
    planted = default[1]["cox_log_hr"]
    assert failed == {}
    assert findings["mode"].value == "dated complaints" and findings["leakage.near_determining"].value == 0
    contacts = load_dataset(default[0])["contacts"]
    fcr = complaints.fcr_rate(contacts, freq=None).iloc[0]
    assert findings["kpi.first_contact_resolution"].value == pytest.approx(fcr["value"])
    for state in ("open", "failed", "recovered"):
        assert _inside(findings[f"hr.complaint.{state}"], np.exp(planted[f"complaint[{state}]"])), state
    assert said["states"].sentence.startswith("While a complaint is open, customers churn 2.00 times as fast")
    # planted: a recovered complainer churns at 0.85 times the never-complained rate
    assert said["paradox"].verdict == "supported"
    assert _inside(findings["paradox.hr"], np.exp(planted["complaint[recovered]"]))
    # standardized over the matching columns: the planted hazard ratio 0.85 applied to the controls' own curve
    # gives the months a recovered complainer gains over the follow-up, S_c(t)^0.85 - S_c(t) integrated to 12
    c = load_dataset(default[0])
    cohort = recovery.paradox_cohort(c.customers, c["contacts"], c[S.REVENUE], horizon_months=12, ratio=3, seed=0)
    controls = cohort[cohort[recovery.GROUP_COLUMN] == recovery.NEVER]
    km = survival.km_table(controls, group=recovery.GROUP_COLUMN, duration=recovery.FOLLOWUP,
                           event=recovery.CHURNED_FOLLOWUP)
    knots = km.loc[km["time"] <= 12, ["time", "survival"]].drop_duplicates("time")
    steps = np.diff(np.r_[knots["time"].to_numpy(), 12.0])
    gained = float(np.sum((knots["survival"].to_numpy() ** 0.85 - knots["survival"].to_numpy()) * steps))
    assert 0.1 < gained < 0.3 and _inside(findings["paradox.adjusted_rmst"], gained)
    held = "Standardized over contract, customer type, satisfaction, monthly value and tenure, recovered"
    assert held in said["paradox"].sentence
    assert findings["event_study.k0"].value < 0  # the planted spend dip while a complaint is open
    assert findings["event_study.after.evalue"].value >= 1  # observational: how much hidden bias it survives
    after = findings["event_study.after"]
    within_chance = after.ci_low <= 0 <= after.ci_high
    evalue = "An unmeasured factor associated with both a complaint and revenue after it"
    assert (evalue in said["revenue"].sentence) == (not within_chance)  # only for an effect beyond chance
    assert ("either way would have been detected with 80% power" in said["revenue"].sentence) == within_chance
    assert "Verdict: supported." in text and "de Matos, Henrique & Rossi (2007" in text

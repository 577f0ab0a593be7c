"""The answers a report opens with: made by the steps, recorded, and shown first, escaped."""
from __future__ import annotations

import pytest
from bs4 import BeautifulSoup

from helpers.findings import make_answer, verdict
from helpers.report.html import answers_html, script_free
from helpers.steps.section import FAILED, SKIPPED, Section, Skip, step

HOSTILE = ['<script>alert(1)</script>', '<img src=x onerror=alert(1)>', '"><svg onload=alert(2)>',
           "[x](javascript:alert(3))", "wb-supported\" onclick=\"alert(4)"]


def test_verdict_reads_the_interval_against_the_null_in_the_claimed_direction():
    assert verdict(1.2, 2.8, null=1) == "supported"  # a hazard ratio above 1, as claimed
    assert verdict(0.5, 0.9, null=1) == "contradicted"
    assert verdict(0.9, 1.1, null=1) == "inconclusive"
    assert verdict(-0.07, -0.01, direction=-1) == "supported"  # a fall in churn, as claimed
    assert verdict(None, 3.0) == verdict(float("nan"), 1.0) == "inconclusive"  # a bound not reached


def test_an_answer_takes_a_known_verdict_only():
    with pytest.raises(ValueError, match="verdict 'proven' is not one of"):
        make_answer("x", "Q?", "A.", verdict="proven")
    with pytest.raises(ValueError, match="a question and a sentence"):
        make_answer("x", "Q?", " ")


@step("claim", asks=[("claim", "Claim: the effort pays.")])
def _skipping():
    raise Skip("No cost column in these data.")


@step("claim", asks=[("claim", "Claim: the effort pays.")])
def _failing():
    raise ZeroDivisionError("division by zero")


@step("claim", asks=[("claim", "Claim: the effort pays.")])
def _answering():
    return Section().answer("claim", "Claim: the effort pays.", "It does.", verdict="supported")


def test_a_question_whose_section_cannot_run_is_still_put_and_says_why():
    skipped, failed, done = _skipping(), _failing(), _answering()
    assert skipped.status == SKIPPED and failed.status == FAILED
    assert skipped.answers[0].sentence == "Not answered on these data: No cost column in these data."
    assert failed.answers[0].sentence.startswith("Not answered on these data: ZeroDivisionError")
    assert skipped.answers[0].verdict == "" and done.answers[0].verdict == "supported"


@pytest.mark.parametrize("hostile", HOSTILE)
def test_answers_from_the_data_are_shown_as_text(hostile):
    block = answers_html([{"name": "x", "question": hostile, "sentence": f"Segment {hostile} churns.",
                           "verdict": hostile}, {"name": "y", "question": "Q?", "sentence": "A.",
                                                 "verdict": "supported"}])
    soup = BeautifulSoup(block, "html.parser")
    assert not soup.find_all(["script", "img", "svg", "a"]) and not script_free(block)
    assert hostile in soup.get_text()
    badges = soup.select(".wb-verdict")  # an unknown verdict gets no badge (and no class made of it)
    assert [b.get_text() for b in badges] == ["supported"] and badges[0]["class"] == ["wb-verdict", "wb-supported"]


def test_a_column_that_gives_churn_away_is_answered_and_marks_the_findings_that_use_it():
    import numpy as np
    import pandas as pd

    from helpers.steps import checks

    rng = np.random.default_rng(0)
    churned = rng.random(5000) < 0.3
    flag = np.where(rng.random(5000) < 0.001, ~churned, churned)  # a bank export's complaint flag: 99.9% agreement
    frame = pd.DataFrame({"churned": churned, "Complain": flag, "age": rng.normal(40, 10, 5000)})
    section = checks.leakage(frame, "churned", ["Complain", "age"])
    (answer,) = section.answers
    assert answer.sentence.startswith("Yes: Complain is near-determining")
    assert "Complain" in checks.caveat(section, ["Complain"]) and checks.caveat(section, ["age"]) == ""
    clean = checks.leakage(frame.drop(columns="Complain"), "churned")
    assert clean.answers[0].sentence.startswith("No:") and checks.caveat(clean, ["age"]) == ""
    assert checks.leakage(frame, "", []).status == SKIPPED  # no 0/1 outcome: skipped with the reason


def test_the_verdicts_say_how_many_tests_they_rest_on_and_which_survive_a_false_discovery_rate():
    from statsmodels.stats.multitest import multipletests

    from helpers.steps.section import multiplicity

    ps = [0.001, 0.04, 0.03, 0.6]
    answers = [make_answer(f"a{i}", f"Claim {i}?", "s.", verdict="inconclusive" if p > 0.05 else "supported", p=p)
               for i, p in enumerate(ps)] + [make_answer("n", "Share?", "30%.")]
    (said,) = multiplicity(answers)
    kept = multipletests(ps, alpha=0.05, method="fdr_bh")[0]  # the reference: 0.001 stays; 0.04 and 0.03 do not
    assert list(kept) == [True, False, False, False]
    assert "rest on 4 tests" in said.sentence and "3 found an effect" in said.sentence
    assert "2 would no longer stand: Claim 1?; Claim 2?" in said.sentence
    assert multiplicity(answers[:1]) == []  # one verdict: nothing to correct
    with pytest.raises(ValueError, match="not between 0 and 1"):
        make_answer("x", "Q?", "A.", verdict="supported", p=1.5)


def test_the_smallest_detectable_difference_is_worded_from_its_standard_error():
    from scipy.stats import norm

    from helpers.steps import checks
    from helpers.tables import number, percent

    far = (norm.ppf(0.975) + norm.ppf(0.8)) * 2.0  # two-sided 5%, 80% power
    assert checks.undetectable_difference(2.0, " months") == (
        f" Only a difference larger than {number(far)} months either way would have been detected with 80% power.")
    assert checks.undetectable_difference(0.02, " of the level", fmt=percent, noun="change") == (
        f" Only a change larger than {percent(far / 100)} of the level either way would have been detected with 80% "
        "power.")
    assert checks.undetectable_difference(2.0, noun="effect").startswith(" Only an effect larger than ")
    assert checks.undetectable_difference(float("nan")) == checks.undetectable_difference(None) == ""
    assert checks.undetectable_difference(0.0) == ""

"""Every notebook on the small synthetic data set, run once for the module: what the reports say and how they read.

One `workbench run --all` (1,500 customers, 18-month horizons, a 6-month campaign window) serves
every test here: the browser checks at 1400 px, that no identifier appears in any page, and the
churn report's recovery of the planted effects.
"""
import json
import math
import re

import pytest

from helpers.data.io import load_dataset
from helpers.tables import percent

from .conftest import workbench
from .reading import entry_in

pytestmark = pytest.mark.slow
_BASE64 = re.compile(r"data:image/[a-z]+;base64,[A-Za-z0-9+/=]+")


@pytest.fixture(scope="module")
def every_report(tmp_path_factory, dataset):
    """Every notebook's report on the small synthetic data set, run once for this module."""
    reports = tmp_path_factory.mktemp("all") / "reports"
    done = workbench("run", "--all", "-p", f"dataset={dataset}", "-p", "horizon_months=18", "-p", "followup_months=18",
                     "-p", "window_months=6", "--reports", reports, "--no-progress")
    assert done.returncode == 0, done.stdout + done.stderr
    return reports


def test_every_report_reads_well_in_a_browser_at_1400_px(every_report, tmp_path):
    """Issue 17: at 1400 px no table overflows, no e-notation, no truncation, no row index, the answers first."""
    from .test_browser import CHROMIUM, check_in_browser

    if CHROMIUM is None:
        pytest.skip("needs Chromium (apt-get install chromium)")
    pages = sorted(every_report.glob("2*/*.html"))
    assert len(pages) == 4
    for page in pages:
        check = check_in_browser(page, tmp_path)
        layout = check["layout"]
        assert check["errors"] == [] and check["broken"] == [], (page.name, check)
        assert layout["overflowing"] == [] and layout["enotation"] == [] and layout["truncated"] == 0, (page.name,
                                                                                                        layout)
        assert layout["index_cells"] == 0, (page.name, layout)
        answers, key, first = layout["order"]
        assert 0 <= answers < key < first, (page.name, layout)


def test_no_identifier_in_any_html_report(every_report, dataset):
    reports = every_report
    ds = load_dataset(dataset)
    ids = set(ds.customers["customer_id"]) | set(ds["contacts"]["contact_id"])
    ids |= set(ds.customers["account_manager_id"].dropna())
    pages = [*reports.glob("2*/*.html"), reports / "index.html"]  # the runs' reports (stable folders link to them)
    assert len(pages) == 5  # index and the four notebooks
    for page in pages:
        words = set(re.findall(r"[A-Z]+\d+", _BASE64.sub("", page.read_text())))
        assert not words & ids, (page.name, sorted(words & ids)[:5])


def test_the_churn_report_recovers_the_planted_effects(every_report, dataset):
    _, findings, answers, html = entry_in(every_report, "01_churn_survival")
    truth = json.loads((dataset / "truth.json").read_text())
    # 1,500 customers: wide intervals, but they must contain the planted hazard ratios
    for term in ("satisfaction", "customer_type.group", "wallet_share"):
        key = {"customer_type.group": "customer_type[group]"}.get(term, term)
        f = findings[f"hr.{term}"]
        assert f["ci_low"] <= math.exp(truth["cox_log_hr"][key]) <= f["ci_high"], term
    rmst = [findings[f"rmst.{c}"]["value"] for c in ("month-to-month", "one-year", "two-year")]
    assert rmst == sorted(rmst) and all(0 < r <= 18 for r in rmst)
    assert findings["ph_check"]["value"] in {"holds", "violated: contract"}
    assert findings["quadrant_order"]["value"].split(" < ")[0] in {"let_go", "win_back"}
    assert findings["best_parametric"]["value"].endswith("AFT")
    assert 0.6 < findings["concordance"]["value"] < 0.95
    assert findings["hr.manager_departure"]["ci_low"] < findings["hr.manager_departure"]["ci_high"]
    assert findings["revenue_at_risk.top"]["value"] > 0
    assert html.count("data:image/png;base64") >= 10 and "at risk" in html
    # the answers a report opens with: the share that churned, and verdicts that never contradict the planted truth
    share = findings["churn_share"]
    assert f"{percent(share['value'])} of the 1,500 customers had churned" in answers["churned"]["sentence"]
    assert math.exp(truth["cox_log_hr"]["manager_departed"]) > 1
    assert answers["manager"]["verdict"] in {"supported", "inconclusive"}  # planted 2.0; 1,500 customers
    assert answers["serve_first"]["verdict"] in {"supported", "inconclusive"}  # planted: win back churns faster
    assert html.index("What the data say") < html.index("Key findings") < html.index("Parameters used")

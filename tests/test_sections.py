"""Sections as results: a failing section is its own, the report still renders, the run is partial.

Unit tests of `helpers.steps.section`, then the runner on a two-section notebook (partial
status, exit 1, the banner, the last complete report kept), then one injected failure in a
middle section of each of the four notebooks.
"""
import json

import nbformat
import pytest

from helpers import config
from helpers.steps import section as sec
from helpers.steps.section import FAIL_ENV, Section, Skip, record_sections, step, value

from .conftest import workbench, write_notebook

HOSTILE = '<img src=x onerror="alert(1)"> **bold** [x](javascript:alert(2))'


@step("fits")
def fits(x: float) -> Section:
    if x < 0:
        raise Skip("x is negative: this section needs a positive x.")
    if x == 0:
        raise ZeroDivisionError(HOSTILE)
    return Section(value=1 / x).text(f"one over {x}").find("inverse", 1 / x, (0.0, 2 / x))


# ---- the decorator -----------------------------------------------------------------------------------
def test_a_step_returns_a_named_section_with_its_value():
    out = fits(2.0)
    assert (out.name, out.status, out.value, [f.name for f in out.findings]) == ("fits", "ok", 0.5, ["inverse"])
    assert value(out) == 0.5


def test_skip_becomes_a_skipped_section_with_the_sentence():
    out = fits(-1.0)
    assert (out.status, out.reason) == ("skipped", "x is negative: this section needs a positive x.")
    assert value(out, "none") == "none" and out.findings == []


def test_any_other_error_becomes_a_failed_section_and_its_traceback_goes_to_stderr(capsys):
    out = fits(0.0)
    assert out.status == "failed" and out.reason == f"ZeroDivisionError: {HOSTILE}"
    assert "Traceback" in capsys.readouterr().err and value(out) is None


def test_a_bad_finding_fails_its_own_section():
    @step("outside")
    def outside() -> Section:
        return Section().find("x", 1.0, (2.0, 3.0))

    out = outside()
    assert out.status == "failed" and "value 1 lies outside its interval [2, 3]" in out.reason


def test_a_step_must_return_a_section():
    @step("wrong")
    def wrong():
        return 3

    assert wrong().status == "failed" and "returned int, not a Section" in wrong().reason


@pytest.mark.parametrize(("wanted", "failed"), [("fits", True), ("other, fits", True), ("*", True), ("other", False),
                                                ("", False), ("fit", False)])
def test_the_environment_injects_a_failure_by_exact_name(monkeypatch, wanted, failed):
    monkeypatch.setenv(FAIL_ENV, wanted)
    out = fits(2.0)
    assert (out.status == "failed") is failed
    if failed:
        assert out.reason.startswith("InjectedFailure: injected failure in section 'fits'")


# ---- findings from rows ----------------------------------------------------------------------------
def test_find_rows_slugs_the_name_and_keeps_the_label():
    import pandas as pd

    hrs = pd.DataFrame({"term": ["customer_type[group]", "At par, high"], "hr": [0.5, 2.0], "lower": [0.4, 1.5],
                        "upper": [0.7, 2.5]})
    out = Section().find_rows(hrs, "hr.{term}", value="hr", ci=("lower", "upper"), label="HR, {term}",
                              where=lambda row: row["hr"] > 0)
    assert [(f.name, f.label, f.ci_low) for f in out.findings] == [
        ("hr.customer_type.group", "HR, customer_type[group]", 0.4), ("hr.at_par_high", "HR, At par, high", 1.5)]
    assert len(Section().find_rows(hrs, "hr.{term}", value="hr", where=lambda row: row["hr"] > 1).findings) == 1


def test_record_sections_records_complete_sections_only(monkeypatch):
    recorded = []
    monkeypatch.setattr(sec, "record", lambda name, value, ci=None, **kw: recorded.append((name, value, ci)))
    open_below = Section(name="median").find("median", 3.0, (None, 4.0)).find("plain", 1.0)
    record_sections(fits(2.0), [fits(-1.0), fits(0.0)], fits(4.0), open_below)
    assert recorded == [("inverse", 0.5, (0.0, 1.0)), ("inverse", 0.25, (0.0, 0.5)), ("median", 3.0, (None, 4.0)),
                        ("plain", 1.0, None)]  # a bound not reached keeps the other one


# ---- what a reader sees ----------------------------------------------------------------------------
def shown(section: Section, monkeypatch) -> list:
    out = []
    monkeypatch.setattr("IPython.display.display", lambda obj, raw=False: out.append(obj))
    section._ipython_display_()
    return out


def markdown_of(outputs) -> str:
    return "\n".join(o.data for o in outputs if hasattr(o, "data") and isinstance(o.data, str))


def test_data_text_and_failure_reasons_are_escaped(monkeypatch):
    ok = Section(name="s").lead("Verdict.", HOSTILE).text(HOSTILE)
    failed = Section(name="f", status="failed", reason=f"ValueError: {HOSTILE}")
    for section in (ok, failed):
        text = markdown_of(shown(section, monkeypatch))
        assert "<img" not in text and "&lt;img" in text and "](javascript" not in text and "\\*\\*bold" in text
    assert markdown_of(shown(ok, monkeypatch)).startswith("**Verdict.** ")


def test_every_section_carries_its_status_for_the_runner(monkeypatch):
    outputs = shown(fits(-1.0), monkeypatch)
    bundle = outputs[0]
    assert bundle[sec.SECTION_MIME] == {"name": "fits", "status": "skipped",
                                        "reason": "x is negative: this section needs a positive x."}
    assert "**Skipped.** x is negative" in markdown_of(outputs)


def test_read_sections_reads_the_status_back_from_an_executed_notebook():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("a")
    cell.outputs = [nbformat.v4.new_output("display_data", data={sec.SECTION_MIME: {"name": "a", "status": "ok",
                                                                                     "reason": ""}})]
    nb.cells = [cell, nbformat.v4.new_code_cell("b")]
    assert sec.read_sections(nb) == [{"name": "a", "status": "ok", "reason": ""}]


# ---- the runner ---------------------------------------------------------------------------------------
TWO_SECTIONS = '''
from helpers.steps import Section, record_sections, step

@step("first")
def first():
    return Section().text("first section shown").find("first_value", 1.5)

@step("second")
def second(boom):
    if boom:
        raise ValueError(BOOM)
    return Section().find("second_value", 2.0)

a = first()
display(a)
b = second(BOOM)
display(b)
record_sections(a, b)
'''


@pytest.fixture
def two_sections(tmp_path):
    root = tmp_path / "project"
    (root / "notebooks").mkdir(parents=True)
    write_notebook(root / "notebooks" / "50_two.ipynb", 'BOOM = ""  # text of an error to raise in the second section',
                   TWO_SECTIONS)
    return root


def run_two(root, reports, *args, env=None):
    done = workbench("run", "50_two", *args, "--reports", reports, "--no-progress",
                     env={"WORKBENCH_ROOT": str(root), **(env or {})})
    runs = sorted(p for p in reports.glob("2*") if p.is_dir())
    return done, json.loads((runs[-1] / "manifest.json").read_text()), runs[-1]


@pytest.mark.slow
def test_a_failed_section_makes_a_partial_report_that_never_replaces_the_complete_one(tmp_path, two_sections):
    reports = tmp_path / "reports"
    good, m_good, _ = run_two(two_sections, reports)
    assert good.returncode == 0 and m_good["status"] == "succeeded", good.stdout + good.stderr
    hostile = "<script>alert(1)</script>"
    bad, m_bad, folder = run_two(two_sections, reports, "-p", f"boom={hostile}")
    assert bad.returncode == 1 and "50_two: partial" in bad.stdout
    entry = m_bad["notebooks"][0]
    assert m_bad["status"] == "partial" and entry["status"] == "partial"
    assert entry["failed_sections"] == [{"name": "second", "reason": f"ValueError: {hostile}"}]
    assert [f["name"] for f in entry["findings"]] == ["first_value"]  # the complete section's finding is kept
    page = (folder / entry["html"]).read_text()
    assert "Partial report." in page and "first section shown" in page and "This section failed." in page
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    executed = nbformat.read(str(folder / entry["ipynb"]), as_version=4)
    assert any("Traceback" in o.get("text", "") for c in executed.cells for o in c.get("outputs", []))
    stable = json.loads((reports / "latest" / "stable.json").read_text())
    assert m_good["run_id"] in json.dumps(stable) and m_bad["run_id"] not in json.dumps(stable)
    index = (reports / "index.html").read_text()
    assert f'href="{m_bad["run_id"]}/50_two.html"' in index and "partial" in index


# ---- one injected failure in each notebook ------------------------------------------------------------
MIDDLE = {  # a section in the middle of each notebook, failed on purpose
    "00_data_overview": "churn_by_contract",
    "01_churn_survival": "cox",
    "02_retention_effort_revenue": "churn_effect",
    "03_complaint_recovery": "paradox",
}


@pytest.mark.slow
def test_one_failing_section_leaves_the_rest_of_every_report_complete(tmp_path, dataset):
    assert set(MIDDLE) == {p.stem for p in config.NOTEBOOKS.glob("*.ipynb")}
    reports = tmp_path / "reports"
    short = ["-p", "horizon_months=18", "-p", "followup_months=18", "-p", "window_months=6"]  # 24 months of data
    done = workbench("run", "--all", "-p", f"dataset={dataset}", *short, "--jobs", "2", "--reports", reports,
                     "--no-progress", env={FAIL_ENV: ",".join(MIDDLE.values())})
    assert done.returncode == 1, done.stdout + done.stderr
    (path,) = {p.resolve() for p in reports.glob("2*/manifest.json")}
    manifest = json.loads(path.read_text())
    assert manifest["status"] == "partial"
    for entry in manifest["notebooks"]:
        name = entry["notebook"]
        assert entry["status"] == "partial", (name, entry.get("error"))
        assert [s["name"] for s in entry["failed_sections"]] == [MIDDLE[name]], name
        executed = nbformat.read(str(path.parent / entry["ipynb"]), as_version=4)
        statuses = {s["name"]: s["status"] for s in sec.read_sections(executed)}
        assert statuses[MIDDLE[name]] == "failed" and list(statuses.values()).count("failed") == 1, statuses
        assert list(statuses).index(MIDDLE[name]) < len(statuses) - 1, f"{name}: sections after it still ran"
        assert entry["findings"], f"{name}: the other sections' findings are kept"
        assert "Partial report." in (path.parent / entry["html"]).read_text()
    assert not (reports / "latest").exists(), "a partial run is never the latest complete report"


def test_a_section_keeps_figures_closed_until_it_is_shown():
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2)
    out = Section().figure(axes, "What to read.")
    assert out.parts[0] is fig and not plt.fignum_exists(fig.number)  # closed: the inline backend shows it once
    assert out.parts[1].caption and out.parts[1].lead.startswith("Figure ") and out.parts[1].sentence == "What to read."
    single = plt.subplots()[1]
    assert Section().figure(single).parts[0] is single.figure


def test_what_a_mapping_did_reaches_the_report_as_text_never_markup(monkeypatch):
    """A `fill:` value comes from the user's mapping file: shown in every report's data section, escaped."""
    import pandas as pd

    from helpers.data.mapping import mapping_notes

    customers = pd.DataFrame({"region": ["a"]})
    customers.attrs["filled"] = {"region": (3, HOSTILE)}
    text = markdown_of(shown(Section(name="data").text(*mapping_notes({"customers": customers})), monkeypatch))
    assert "The mapping filled 3 missing cells of customers.region with" in text
    assert "<img" not in text and "&lt;img" in text and "](javascript" not in text

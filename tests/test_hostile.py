"""Hostile data through every notebook: no report carries a script, no value runs as code.

Reports are shared by mail and from shared folders, and every string in them came from the data
or the parameters. Payloads go into every free-text column of a data set (labels and ids), every
column of the one-table files, a segment label, column names passed as parameters (ARM_COLUMN,
OUTCOME, PRE_OUTCOME, COVARIATES, SEGMENTS, FLAGS), the campaign id, the arm names, a file name
and a folder name. Each report must pass `script_free`, show each payload as text and never as
markup, and no payload may create a file. Columns with fixed values (contract, customer type,
end reason, channel, kind, recovery action, arm) refuse a payload before any kernel starts.

Two runs, five kernels (about 70 s): 00, 01, 02 (the campaign of a data set) and 03 (a one-table
complaint export) on the hostile data set, then 02 on a one-table experiment.
"""
import re
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.pyplot as plt
import nbformat
import numpy as np
import pandas as pd
import pytest
from bs4 import BeautifulSoup
from nbconvert.filters.markdown_mistune import markdown2html_mistune

from helpers import config, plots
from helpers.data import schema as S
from helpers.report import RunRefused, run
from helpers.report.html import script_free

pytestmark = pytest.mark.slow

IMG, SCRIPT, LINK, SVG, IFRAME = ("<img src=x onerror=alert(1)>", "<script>alert(2)</script>",
                                  "[x](javascript:alert(3))", '"><svg onload=alert(4)>',
                                  "</td><iframe src=javascript:alert(5)>")
SHELL, PYTHON = "$(touch /tmp/wb_pwned)", "'; import os; os.system(\"touch /tmp/wb_pwned\") #"
EVERY = [IMG, SCRIPT, LINK, SVG, IFRAME, SHELL, PYTHON]
LABELS = [IMG, SCRIPT, LINK, SVG, SHELL]  # the regions: segment labels and Cox terms
MARKERS = [Path("/tmp/wb_pwned"), config.NOTEBOOKS / "wb_pwned", Path.cwd() / "wb_pwned"]
IN_MARKUP = ("onerror", "onload", "alert(", "javascript:", "wb_pwned")  # never inside a tag
RAW = ("<script>alert", "<img src=x", "<svg", "<iframe")  # never unescaped in a page


def _hostile_dataset(clean: Path, folder: Path) -> Path:
    """A copy of ``clean`` with payloads in every free-text column; the columns with fixed values keep theirs."""
    folder.mkdir(parents=True)
    tables = {p.stem: pd.read_parquet(p) for p in clean.glob("*.parquet")}
    for df in tables.values():
        for column in (S.CUSTOMER_ID, S.ACCOUNT_MANAGER_ID, S.CONTACT_ID, S.REPEAT_OF):
            if column in df:  # ids stay unique and keep their links between tables
                df[column] = df[column].astype("string") + PYTHON
    customers = tables[S.CUSTOMERS]
    customers[S.REGION] = [LABELS[i % len(LABELS)] for i in range(len(customers))]
    campaigns = tables[S.CAMPAIGNS]
    campaigns[S.CAMPAIGN_ID] = campaigns[S.CAMPAIGN_ID].astype("string").replace("RCT-2024-07", IFRAME)
    campaigns[S.ACTION] = SHELL
    for name, df in tables.items():
        df.to_parquet(folder / f"{name}.parquet")
    return folder


def _complaints(folder: Path) -> Path:
    """A one-table complaint export: payloads as flag names and as the values of every text column."""
    rng = np.random.default_rng(6)
    n = 800
    churned = rng.random(n) < 0.3
    frame = pd.DataFrame({
        S.CHURNED: churned, IMG: rng.random(n) < 0.3, SCRIPT: rng.choice([LINK, IFRAME, SHELL], n),
        S.CUSTOMER_TYPE: rng.choice([PYTHON, SVG], n), S.SATISFACTION: rng.normal(6, 2, n),
        S.REGION: rng.choice(LABELS, n),
        "exit" + IMG: np.where(rng.random(n) < 0.99, churned, ~churned),  # leaky: its name goes into a warning
        **{c: rng.choice([IMG, SCRIPT, LINK], n) for c in (S.CONTRACT, S.END_REASON, S.CHANNEL, S.KIND,
                                                          S.RECOVERY_ACTION)}})
    path = folder / "complaints.csv"
    frame.to_csv(path, index=False)
    return path


def _experiment(folder: Path) -> tuple[Path, dict]:
    """A one-table experiment whose file name, column names, arms and segment labels are payloads."""
    rng = np.random.default_rng(5)
    n = 600
    arm, outcome, pre, covariate, segment = SVG, SCRIPT, "pre" + IMG, LINK, IFRAME
    frame = pd.DataFrame({arm: rng.choice([PYTHON, IMG, SHELL], n), pre: rng.gamma(2.0, 50, n),
                          covariate: rng.integers(1, 13, n), segment: rng.choice([IMG, LINK], n)})
    frame[outcome] = 0.05 * frame[pre] + rng.normal(0, 2, n) + (frame[arm] == IMG)
    path = folder / f"{IMG}.csv"
    frame.to_csv(path, index=False)
    return path, {"experiment_file": str(path), "arm_column": arm, "control": PYTHON, "outcome": outcome,
                  "pre_outcome": pre, "covariates": [covariate], "segments": [segment], "design": "randomized",
                  "churn_outcome": "", "duration": "", "contacts_outcome": "", "bootstrap_reps": 50}


@pytest.fixture(scope="module")
def hostile(dataset, tmp_path_factory):
    """The two runs on hostile data: ({notebook key: (run manifest, entry)}, reports folder, tmp folder)."""
    for marker in MARKERS:
        marker.unlink(missing_ok=True)
    tmp = tmp_path_factory.mktemp("hostile")
    reports = tmp / "reports"
    data = _hostile_dataset(dataset, tmp / f"data {SVG}")
    every = {"dataset": str(data), "one_table": str(_complaints(tmp)), "flags": [IMG, SCRIPT],
             "covariates": [S.CUSTOMER_TYPE, S.SATISFACTION, S.REGION], "segment_by": S.REGION,
             "segments": [S.REGION, S.CONTRACT], "campaign": IFRAME, "window_months": 6, "bootstrap_reps": 50}
    experiment, params = _experiment(tmp)
    manifests = [run(["00", "01", "02", "03"], every, reports=reports, progress=False, force=True),
                 run(["02"], params, reports=reports, progress=False, force=True)]
    entries = {f"{e['notebook']}#{i}": (m, e) for i, m in enumerate(manifests) for e in m["notebooks"]}
    return entries, reports, tmp


class _StartTags(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(self.get_starttag_text())


def _in_markup(page: str) -> list[str]:
    """The start tags of ``page`` that carry a piece of a payload."""
    parser = _StartTags()
    parser.feed(page)
    return [t for t in parser.tags if any(n in t.lower() for n in IN_MARKUP)]


def markdown_tags(executed: nbformat.NotebookNode) -> set[str]:
    """Every tag (with its attributes) that the Markdown outputs of a notebook make, before any sanitizing."""
    found = set()
    for output in (o for c in executed.cells for o in c.get("outputs", [])):
        md = output.get("data", {}).get("text/markdown")
        if md:
            found |= {str(t).split(">")[0] + ">" for t in BeautifulSoup(markdown2html_mistune(md), "html.parser")
                      .find_all(True)}
    return found


def test_every_notebook_runs_on_hostile_data(hostile):
    entries, _, _ = hostile
    assert {k: e.get("error") for k, (_, e) in entries.items() if e["status"] != "succeeded"} == {}
    assert len(entries) == 5


# the payloads each report must show, as text
SHOWN = {"00_data_overview#0": [SVG],  # the folder name, in the header and the data set line
         "01_churn_survival#0": LABELS,  # region: the segment labels and the Cox terms
         "02_retention_effort_revenue#0": [IFRAME, *LABELS],  # the campaign id; region segments
         "03_complaint_recovery#0": [IMG, SCRIPT, LINK, SVG, IFRAME, SHELL],  # flag names and levels, the
         # leaky column, covariate levels (pandas cuts the longest, PYTHON, to 50 characters)
         "02_retention_effort_revenue#1": EVERY}  # file, column and arm names, segment labels


@pytest.mark.parametrize("key", sorted(SHOWN))
def test_reports_show_payloads_only_as_text(hostile, key):
    entries, reports, _ = hostile
    run_, entry = entries[key]
    assert entry["status"] == "succeeded", entry.get("error")
    page = (reports / run_["run_id"] / entry["html"]).read_text()
    assert script_free(page) == []
    assert _in_markup(page) == [] and [r for r in RAW if r in page] == []
    text = BeautifulSoup(page, "html.parser").get_text(" ")
    assert [p for p in SHOWN[key] if p not in text] == [], "a payload did not reach the report as text"
    # the notebook escaped the data itself (escape_md): its Markdown makes only its own formatting
    executed = nbformat.read(str(reports / run_["run_id"] / entry["ipynb"]), as_version=4)
    assert markdown_tags(executed) <= {"<p>", "<strong>", "<ul>", "<li>", '<p class="wb-caption">', "<b>"}


def test_the_index_and_the_manifests(hostile):
    entries, reports, _ = hostile
    index = (reports / "index.html").read_text()
    own_css = re.compile(r"<style>.*?</style>", re.S)  # the index's one stylesheet, written by render_index
    assert script_free(own_css.sub("", index, count=1)) == []
    assert _in_markup(index) == [] and [r for r in RAW if r in index] == []
    _, entry = entries["02_retention_effort_revenue#1"]  # every value recorded as it was given
    assert (entry["parameters"]["CONTROL"], entry["parameters"]["COVARIATES"]) == (PYTHON, [LINK])
    assert any(f["label"].startswith(f"Effect of {IMG} on {SCRIPT}") for f in entry["findings"])


def test_no_payload_ran(hostile):
    _, _, tmp = hostile
    assert [m for m in MARKERS if m.exists()] == []
    assert not list(config.NOTEBOOKS.glob("*pwned*")) and not list(tmp.rglob("*pwned*"))


def test_labelled_columns_refuse_hostile_values_before_any_kernel(dataset, tmp_path):
    """A payload in a column with fixed values is refused with the column named, and nothing is written."""
    for table, column in [(S.CUSTOMERS, S.CONTRACT), (S.CUSTOMERS, S.CUSTOMER_TYPE), (S.CUSTOMERS, S.END_REASON),
                          (S.CONTACTS, S.CHANNEL), (S.CONTACTS, S.KIND), (S.CONTACTS, S.RECOVERY_ACTION),
                          (S.CAMPAIGNS, S.ARM)]:
        folder = tmp_path / f"{table}-{column}"
        folder.mkdir()
        for p in dataset.glob("*.parquet"):
            df = pd.read_parquet(p)
            if p.stem == table:
                df[column] = df[column].astype("string").where(df[column].isna(), IMG)
            df.to_parquet(folder / p.name)
        with pytest.raises(RunRefused, match=rf"{table}\.{column}"):
            run(["00"], {"dataset": str(folder)}, reports=tmp_path / "reports", progress=False)
    assert not (tmp_path / "reports").exists()


def test_a_label_with_dollar_signs_does_not_stop_a_figure(tmp_path):
    km = pd.DataFrame({"segment": [r"a $\frac{1}$ b"] * 2, "time": [0.0, 1.0], "survival": [1.0, 0.9],
                       "lower": [1.0, 0.8], "upper": [1.0, 1.0], "at_risk": [10, 9]})
    ax = plots.km_curves(km, group="segment")
    ax.figure.savefig(tmp_path / "km.png")
    plt.close(ax.figure)

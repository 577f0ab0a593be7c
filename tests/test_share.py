"""Share-ready reports: self-contained HTML, key findings and contents, failure safety, latest, diff,
hostile parameter values. The runs use the 00 notebook on small synthetic data, or tiny notebooks in a
temporary project (WORKBENCH_ROOT), as test_runner.py does."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from bs4 import BeautifulSoup

from helpers.findings import Finding
from helpers.report import RunRefused, run
from helpers.report import html as report_html
from helpers.report.history import diff_runs
from helpers.report.html import render_report, sanitize_html, script_free, strip_remote
from helpers.report.runner import run_state

from .conftest import workbench, write_notebook

pytestmark = pytest.mark.slow
_RUNS: dict = {}


def overview_run(dataset: Path, reports: Path) -> tuple[dict, Path]:
    """Run 00 once per session (test_browser.py reuses it): (manifest, run folder)."""
    if "00" not in _RUNS:
        manifest = run(["00"], {"dataset": str(dataset)}, strings=True, reports=reports, progress=False)
        _RUNS["00"] = (manifest, reports / manifest["run_id"])
    return _RUNS["00"]


@pytest.fixture(scope="module")
def overview(dataset, tmp_path_factory):
    return overview_run(dataset, tmp_path_factory.mktemp("share") / "reports")


def remote_references(page: str) -> list[str]:
    """Everything a browser would fetch from another host: src/href of any tag but <a>, CSS @import."""
    soup = BeautifulSoup(page, "html.parser")
    found = [f"<{tag.name} {attr}={tag[attr]}>" for tag in soup.find_all(True) for attr in ("src", "href")
             if tag.name != "a" and tag.has_attr(attr) and tag[attr].strip().lower().startswith(("http:", "https:",
                                                                                                 "//"))]
    styles = " ".join(s.get_text() for s in soup.find_all("style")).lower()
    return found + (["@import url(http"] if "@import url(http" in styles.replace(" ", "") else [])


# 1. self-contained
def test_reports_and_index_load_nothing_from_another_host(overview):
    _, folder = overview
    for page in [folder / "00_data_overview.html", folder.parent / "index.html"]:
        html = page.read_text()
        assert remote_references(html) == [], page
        assert "cdnjs" not in html and html.rstrip().endswith("</html>")
    assert (folder / "00_data_overview.html").read_text().count("data:image/png;base64") >= 3


def test_strip_remote_keeps_hyperlinks_and_inline_content():
    page = ('<link rel="stylesheet" href="https://fonts.example/f.css"><style>@import url("http://x/y.css");'
            'p{}</style><script src="//cdn.example/r.js"></script><script>var a=1;</script>'
            '<img src="https://h/a.png"><img src="data:image/png;base64,AAA"><a href="https://docs.example">docs</a>')
    out = strip_remote(page)
    assert remote_references(out) == []
    assert "var a=1" in out and "data:image/png;base64,AAA" in out and 'href="https://docs.example"' in out
    assert "[image not embedded: https://h/a.png]" in out


# 2. readable without the code
def test_report_opens_with_answers_key_findings_header_and_contents(overview):
    manifest, folder = overview
    (entry,) = manifest["notebooks"]
    soup = BeautifulSoup((folder / entry["html"]).read_text(), "html.parser")
    text = soup.get_text(" ")
    order = [text.index(s) for s in ("Data overview", "What the data say", "What share of customers left?",
                                     "Key findings", "Parameters used", "Contents", "What the data set holds")]
    assert order == sorted(order)
    block = soup.find(id="key-findings")
    items = [li.get_text() for li in block.find_all("li")]
    key = [Finding(**f).text() for f in entry["findings"] if f.get("key")]
    assert items == key and len(items) >= 2
    everything = soup.find(id="all-findings")  # every finding, collapsed, at the end; no list repeated at the bottom
    assert everything.name == "details" and len(everything.find_all("tr")) == len(entry["findings"]) + 1
    assert "Headline results" not in text
    toc = soup.find("nav", class_="wb-toc").find_all("a")
    assert [a.get_text() for a in toc][:2] == ["What the data set holds", "How many customers left?"]
    for a in toc:  # every entry points at an anchor that exists, placed just before its heading
        target = soup.find(id=a["href"][1:])
        assert target is not None and a.get_text() in target.find_next(["h2"]).get_text()
    assert "load_dataset(" not in text and "injected-parameters" not in str(soup)  # code and parameters hidden
    assert not soup.select(".jp-CodeCell .jp-InputArea") and soup.select(".jp-CodeCell .jp-OutputArea")


def test_show_code_includes_the_code_but_never_the_parameters_cells(overview):
    manifest, folder = overview
    (entry,) = manifest["notebooks"]
    executed = nbformat.read(str(folder / entry["ipynb"]), as_version=4)
    html = render_report(executed, entry, manifest, show_code=True)
    assert "open_data" in html and "record" in html
    assert "injected-parameters" not in html and "TOP_SHARE = 0.2" not in html
    assert remote_references(html) == []
    assert script_free(html) == [] and script_free((folder / entry["html"]).read_text()) == []


# 3. safe to open: no script but none, whatever the notebook's outputs carry
HOSTILE_HTML = ['<img src=x onerror=alert(1)>', '<script>alert(2)</script>', '<a href="javascript:alert(3)">x</a>',
                '"><svg onload=alert(4)>', '</td><iframe src=javascript:alert(5)>', '<img/src=x/onerror=alert(6)>',
                '<a href=" JaVa&#x09;ScRiPt:alert(7)">x</a>', '<a href="data:text/html;base64,PHNjcmlwdD4=">x</a>',
                '<object data="x.swf"></object>', '<embed src="x.swf">',
                '<form action="https://h/"><button>go</button></form>',
                '<base href="https://h/">', '<meta http-equiv="refresh" content="0;url=javascript:alert(8)">',
                '<div style="background:url(javascript:alert(9))">x</div>', '<a href="vbscript:msgbox(10)">x</a>',
                '<img src="data:image/svg+xml;base64,PHN2Zz4=">', '<style>body{background:url(//h/x)}</style>',
                '<math><mtext><img src=x onerror=alert(11)></mtext></math>', '<!--<script>alert(12)</script>-->']


@pytest.mark.parametrize("fragment", HOSTILE_HTML)
def test_script_free_flags_and_sanitize_html_removes_each_way_in(fragment):
    assert script_free(f"<p>before</p>{fragment}<p>after</p>") != []
    assert script_free(sanitize_html(fragment)) == []


def test_sanitize_html_keeps_what_a_report_needs():
    frame = pd.DataFrame({"<b>arm</b>": ["<img src=x onerror=alert(1)>"]}, index=pd.Index(["r"], name="i"))
    table = frame._repr_html_()  # pandas escapes values, column names and the index
    kept = sanitize_html(table + '<h2 id="a">Head<a class="anchor-link" href="#a">¶</a></h2><details><summary>s'
                         '</summary><code>x</code></details><a href="https://docs.example/x?a=1&amp;b=2">docs</a>'
                         '<img src="data:image/png;base64,iVBORw0KGgo=" alt="figure"><div style="border:1px solid #ccc;'
                         'padding:.3rem">box</div>')
    soup = BeautifulSoup(kept, "html.parser")
    assert soup.find("table", class_="dataframe") and soup.find("tr", style="text-align: right;")
    assert [th.get_text() for th in soup.find_all("th")] == ["", "<b>arm</b>", "i", "", "r"]
    assert soup.find("td").get_text() == "<img src=x onerror=alert(1)>"
    assert "<style" not in kept and ".dataframe tbody" not in kept  # pandas' CSS: the page has its own
    assert soup.find("h2", id="a").find("a", href="#a") and soup.find("details").find("summary")
    assert soup.find("a", href="https://docs.example/x?a=1&b=2")
    assert soup.find("img", src="data:image/png;base64,iVBORw0KGgo=")
    assert soup.find("div", style=True)["style"] == "border:1px solid #ccc;padding:.3rem;"
    assert script_free(kept) == []


def _hostile_notebook() -> nbformat.NotebookNode:
    """A notebook whose markdown cell and outputs (HTML, Markdown, JavaScript, a widget) carry script."""
    nb = nbformat.v4.new_notebook()
    code = nbformat.v4.new_code_cell("x")
    code.outputs = [nbformat.v4.new_output("display_data", data={"text/html": HOSTILE_HTML[1] + "<p>html out</p>",
                                                                 "text/plain": "x"}),
                    nbformat.v4.new_output("display_data", data={"text/markdown": "[md out](javascript:alert(3)) "
                                                                                  + HOSTILE_HTML[0]}),
                    nbformat.v4.new_output("display_data", data={"application/javascript": "alert(13)"}),
                    nbformat.v4.new_output("display_data", data={
                        "application/vnd.jupyter.widget-view+json": {"model_id": "m", "version_major": 2}})]
    markdown = nbformat.v4.new_markdown_cell(f"# Title\n\n## Section {HOSTILE_HTML[3]}\n\n{HOSTILE_HTML[5]}")
    nb.cells = [markdown, code]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}, "version_major": 2}}
    return nb


ENTRY = {"notebook": "99_hostile", "parameters": {"LABEL": HOSTILE_HTML[0]}, "data": {"dataset": HOSTILE_HTML[4]}}
RUN = {"run_id": "20240101-000000-aaaa", "started_at": "2024-01-01T00:00:00Z", "code": {}}


def test_render_report_sanitizes_every_cell_and_output():
    page = render_report(_hostile_notebook(), ENTRY, RUN)
    assert script_free(page) == [] and remote_references(page) == []
    text = BeautifulSoup(page, "html.parser").get_text(" ")
    assert "html out" in text and "md out" in text and "Section" in text
    assert "alert(13)" not in page and "widget-state" not in page


def test_render_report_refuses_a_page_that_could_run_a_script(monkeypatch):
    monkeypatch.setattr(report_html, "sanitize_html", lambda fragment: str(fragment))  # the check must stop it
    with pytest.raises(ValueError, match="99_hostile could still run a script after sanitizing: .*onerror"):
        render_report(_hostile_notebook(), ENTRY, RUN)


# 5. latest and diff
def stable_runs(folder: Path) -> dict[str, str]:
    """Notebook -> the run whose report a stable folder (reports/latest...) holds."""
    return {e["notebook"]: e["run_id"] for e in json.loads((folder / "stable.json").read_text())["notebooks"]}


def test_latest_holds_the_newest_good_report_of_its_data_set(overview):
    manifest, folder = overview
    (latest,) = folder.parent.glob("latest-*")  # a data set given by path: its own stable folder
    assert latest.name.startswith("latest-synthetic") and not (folder.parent / "latest").exists()
    assert stable_runs(latest) == {"00_data_overview": manifest["run_id"]}
    assert (latest / "00_data_overview.html").read_bytes() == (folder / "00_data_overview.html").read_bytes()


def _manifest(run_id, findings):
    return {"run_id": run_id, "started_at": "2024-01-01T00:00:00Z", "status": "succeeded",
            "notebooks": [{"notebook": "00_data_overview", "status": "succeeded", "findings": findings}]}


A = _manifest("20240101-000000-aaaa", [
    {"name": "churn_rate", "value": 0.20, "ci_low": 0.18, "ci_high": 0.22, "unit": "share"},
    {"name": "top_share", "value": 0.80, "ci_low": 0.75, "ci_high": 0.85},
    {"name": "customers", "value": 1000},
    {"name": "verdict", "value": "supported"},
    {"name": "gone", "value": 1.0}])
B = _manifest("20240108-000000-bbbb", [
    {"name": "churn_rate", "value": 0.30, "ci_low": 0.27, "ci_high": 0.33, "unit": "share"},
    {"name": "top_share", "value": 0.82, "ci_low": 0.77, "ci_high": 0.87},
    {"name": "customers", "value": 1200},
    {"name": "verdict", "value": "not supported"},
    {"name": "new", "value": 2.0}])


def test_diff_runs_flags_changes_beyond_the_intervals():
    table = diff_runs(A, B).set_index("finding")
    assert list(table.index) == ["churn_rate", "customers", "gone", "new", "top_share", "verdict"]
    assert table.loc["churn_rate", "change"] == pytest.approx(0.10)
    assert table.loc["churn_rate", "beyond_intervals"] is True  # [0.18, 0.22] vs [0.27, 0.33]
    assert table.loc["top_share", "beyond_intervals"] is False  # overlapping intervals
    assert table.loc["customers", "change"] == 200 and table.loc["customers", "beyond_intervals"] is None
    assert table.loc["verdict", "change"] == "changed"
    assert table.loc["gone", "change"] == "only in A" and table.loc["new", "change"] == "only in B"


def test_diff_command_prints_what_changed_in_lines_that_fit(tmp_path):
    for m in (A, B):
        (tmp_path / m["run_id"]).mkdir()
        (tmp_path / m["run_id"] / "manifest.json").write_text(json.dumps(m))
    done = workbench("diff", A["run_id"], B["run_id"], "--reports", tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"A {A['run_id']}") and lines[1].startswith(f"B {B['run_id']}")
    i = lines.index("  churn_rate")
    assert "+10 pp" in lines[i + 1] and lines[i + 1].endswith("beyond intervals")
    assert all(len(line) <= 100 for line in lines)
    missing = workbench("diff", A["run_id"], "nope", "--reports", tmp_path)
    assert missing.returncode == 2 and "no run 'nope'" in missing.stderr


# 4. failure safety
ECHO = ["A", "B", "C", "D"]


@pytest.fixture
def project(tmp_path) -> Path:
    """A project with `10_echo` (records its four string parameters) and `20_sleeps` (sleeps 120 s)."""
    root = tmp_path / "project"
    (root / "notebooks").mkdir(parents=True)
    write_notebook(root / "notebooks" / "10_echo.ipynb", "\n".join(f'{p} = "{p.lower()}"  # any text' for p in ECHO),
              "from helpers import record\n" + "\n".join(f'record("{p.lower()}", {p})' for p in ECHO))
    write_notebook(root / "notebooks" / "20_sleeps.ipynb", 'LABEL = "x"  # unused',
              'import pathlib, time\npathlib.Path("started").write_text("1")\ntime.sleep(120)')
    return root


def _start(root: Path, reports: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "helpers.cli", "run", *args, "--reports", str(reports),
                             "--no-progress", "--force"], env={**os.environ, "WORKBENCH_ROOT": str(root)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _assert_readable(reports: Path) -> None:
    for path in reports.rglob("*.json"):
        json.loads(path.read_text())  # every manifest parses
    for path in reports.rglob("*.html"):
        assert path.read_text().rstrip().endswith("</html>"), path
    visible = [p for p in reports.rglob("*") if ".tmp" not in p.relative_to(reports).parts]
    assert not [p for p in visible if "partial" in p.name], visible


def test_killed_and_concurrent_runs_leave_the_reports_intact(project, tmp_path):
    reports = tmp_path / "reports"
    first, second = _start(project, reports, "10"), _start(project, reports, "10")  # two runs at once
    assert first.wait(120) == 0 and second.wait(120) == 0, first.stderr.read() + second.stderr.read()
    good = sorted(p.name for p in reports.iterdir() if p.is_dir() and not p.is_symlink() and p.name[0] != ".")
    index = (reports / "index.html").read_text()
    assert len(good) == 2 and all(f'href="{g}/10_echo.html"' in index for g in good)

    killed = _start(project, reports, "20")
    marker = project / "notebooks" / "started"
    deadline = time.time() + 60
    while not marker.exists() and time.time() < deadline:
        time.sleep(0.2)
    assert marker.exists(), killed.stderr.read() if killed.poll() is not None else "the sleeping notebook never started"
    os.killpg(killed.pid, signal.SIGKILL)  # the runner and its kernel, mid-notebook
    killed.wait(30)
    _assert_readable(reports)
    (killed_id,) = {p.parent.name for p in reports.glob("*/manifest.json")} - set(good) - {"latest"}
    manifest = json.loads((reports / killed_id / "manifest.json").read_text())
    assert manifest["status"] == "running" and manifest["pid"] == killed.pid
    assert run_state(manifest) == "incomplete (killed)"
    assert stable_runs(reports / "latest") == {"10_echo": max(good)}

    rerun = workbench("run", "10", "--reports", reports, "--no-progress", "--force",  # unchanged, but rerun
                      env={"WORKBENCH_ROOT": str(project)})
    assert rerun.returncode == 0, rerun.stderr
    _assert_readable(reports)
    assert not (reports / ".tmp").exists()  # the killed run's scratch is gone
    index = (reports / "index.html").read_text()
    assert "incomplete (killed)" in index and all(f'href="{g}/10_echo.html"' in index for g in good)
    assert stable_runs(reports / "latest")["10_echo"] not in good  # the rerun is the newest good run


def test_run_state_decides_from_the_pid():
    dead = subprocess.Popen(["true"])
    dead.wait()
    here = {"status": "running", "pid": os.getpid(), "host": os.uname().nodename}
    assert run_state(here) == "running"
    assert run_state({**here, "pid": dead.pid}) == "incomplete (killed)"
    assert run_state({**here, "host": "elsewhere"}) == "incomplete (killed or still running)"
    assert run_state({"status": "running"}) == "incomplete (killed or still running)"
    assert run_state({**here, "status": "failed"}) == "failed"


# 6. hostile parameter values
HOSTILE = ["'; import os; os.system(\"touch /tmp/pwned\") #", "__import__('os').system('touch /tmp/pwned2')",
           "line one\nline two \"\"\" ''' \\ \n}", "../../etc"]


def _tree(root: Path) -> dict:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def test_hostile_values_are_data_never_code(project, tmp_path, dataset):
    for name in ("/tmp/pwned", "/tmp/pwned2"):
        Path(name).unlink(missing_ok=True)
    reports = project / "reports"
    for value in HOSTILE:  # as a data set: refused before any kernel starts, nothing written
        with pytest.raises(RunRefused):
            run(["00"], {"dataset": value}, strings=True, reports=reports, progress=False)
    assert not reports.exists()
    assert workbench("run", "../../etc/passwd", "--reports", reports).returncode == 2
    before = _tree(project)
    done = workbench("run", "10", *[a for p, v in zip(ECHO, HOSTILE) for a in ("-p", f"{p}={v}")],
                     "--reports", reports, "--no-progress", env={"WORKBENCH_ROOT": str(project)})
    assert done.returncode == 0, done.stderr
    (manifest,) = [json.loads(p.read_text()) for p in reports.glob("*/manifest.json") if not p.parent.is_symlink()]
    recorded = {f["name"]: f["value"] for f in manifest["notebooks"][0]["findings"]}
    assert recorded == {p.lower(): v for p, v in zip(ECHO, HOSTILE)}  # each value arrived as the same string
    assert not Path("/tmp/pwned").exists() and not Path("/tmp/pwned2").exists()
    after = {k: v for k, v in _tree(project).items() if not k.startswith("reports/")}
    assert after == before  # nothing written outside reports/

"""The generated report in a real browser (headless Chromium): no console error, every figure drawn,
no request to another host, the key findings shown; a screenshot is saved next to the report.

No browser-driver package: a temporary copy of the report gets a small script that records errors
and checks the images on load, writing the result into the DOM, which ``chromium --dump-dom`` prints.
"""
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from .test_share import overview_run

CHROMIUM = shutil.which("chromium")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (apt-get install chromium)")]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
HARNESS = """<script>(function () {
  var errors = [];
  window.addEventListener("error", function (e) {
    var t = e.target || {};
    errors.push(String(e.message || ("failed to load " + (t.src || t.href || t.tagName))));
  }, true);
  window.addEventListener("unhandledrejection", function (e) { errors.push("unhandled rejection: " + e.reason); });
  var original = console.error;
  console.error = function () { errors.push(Array.prototype.join.call(arguments, " ")); \
original.apply(console, arguments); };
  function layout() {  // what a reader would trip over: tables cut off, e-notation, truncation, row numbers
    var width = document.documentElement.clientWidth, text = document.body.innerText;
    var tables = Array.prototype.slice.call(document.querySelectorAll(".jp-OutputArea table"));
    var order = ["answers", "key-findings", "section-1"].map(function (id) {
      var e = document.getElementById(id); return e ? e.getBoundingClientRect().top + window.scrollY : -1; });
    return {width: width,
      overflowing: tables.filter(function (t) { return t.getBoundingClientRect().right > width + 1; })
        .map(function (t) { return t.innerText.slice(0, 60); }),
      enotation: (text.match(/\\b\\d(?:\\.\\d+)?e[+-]\\d+/gi) || []).slice(0, 5),
      truncated: tables.filter(function (t) {
        return /\\u2026|\\.\\.\\.|rows \\u00d7|rows x \\d+ columns/.test(t.innerText); })
        .length,
      index_cells: document.querySelectorAll(".jp-OutputArea tbody th").length,
      order: order};
  }
  window.addEventListener("load", function () {
    var images = Array.prototype.slice.call(document.images);
    document.body.dataset.check = JSON.stringify({
      errors: errors, images: images.length,
      broken: images.filter(function (i) { return !(i.complete && i.naturalWidth > 0); })\
.map(function (i) { return i.src.slice(0, 80); }),
      remote: performance.getEntriesByType("resource").map(function (r) { return r.name; })
        .filter(function (n) { return !/^(data|file|blob):/.test(n); }),
      findings: !!document.getElementById("key-findings"), layout: layout()});
  });
})();</script>"""


def chromium(*args: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                              text=True, timeout=60, check=False)


def check_in_browser(report: Path, work: Path) -> dict:
    """Open a copy of ``report`` with the harness injected; the harness's findings."""
    page = report.read_text()
    assert "<head>" in page
    copy = work / report.name
    copy.write_text(page.replace("<head>", "<head>" + HARNESS, 1))
    done = chromium("--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000", "--window-size=1400,1000",
                    "--dump-dom", copy.as_uri())
    body = BeautifulSoup(done.stdout, "html.parser").body
    assert body is not None and body.has_attr("data-check"), done.stderr[-2000:]
    uncaught = [line for line in done.stderr.splitlines() if ":CONSOLE" in line and "Uncaught" in line]
    return {**json.loads(body["data-check"]), "uncaught": uncaught}


def test_reports_open_cleanly_in_chromium(dataset, tmp_path_factory, tmp_path):
    manifest, folder = overview_run(dataset, tmp_path_factory.mktemp("share") / "reports")
    reports = [folder / e["html"] for e in manifest["notebooks"] if e.get("html")]
    assert reports
    for report in reports:
        check = check_in_browser(report, tmp_path)
        assert check["errors"] == [] and check["uncaught"] == [], check
        assert check["images"] >= 3 and check["broken"] == [], check
        assert check["remote"] == [] and check["findings"], check
        layout = check["layout"]  # at 1400 px: every table fits, numbers as people write them, answers first
        assert layout["overflowing"] == [] and layout["enotation"] == [] and layout["truncated"] == 0, layout
        assert layout["index_cells"] == 0, layout
        answers, key, first = layout["order"]
        assert 0 <= answers < key < first, layout
        shot = folder / f"{report.stem}.png"
        chromium("--window-size=1280,2000", "--hide-scrollbars", f"--screenshot={shot}", report.as_uri())
        assert shot.stat().st_size > 10_000


def test_the_layout_checks_catch_what_they_look_for(tmp_path):
    """A planted page with each fault: the harness reports every one (so a clean report's pass means something)."""
    page = tmp_path / "planted.html"
    page.write_text('<html><head></head><body><div class="jp-OutputArea"><table style="width:3000px"><tbody>'
                    "<tr><th>6634</th><td>8.977e+06</td><td>...</td></tr></tbody></table></div>"
                    '<h2 id="section-1">first</h2><div id="key-findings"></div><div id="answers"></div></body></html>')
    (tmp_path / "out").mkdir()
    layout = check_in_browser(page, tmp_path / "out")["layout"]
    assert layout["overflowing"] and layout["enotation"] == ["8.977e+06"] and layout["truncated"] == 1
    assert layout["index_cells"] == 1
    answers, key, first = layout["order"]
    assert not answers < key < first

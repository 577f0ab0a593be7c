"""The index page (`helpers.report.index.render_index`) from small synthetic manifests, no notebook run:
the latest good report per notebook and data set first, partial and failed runs marked, headline
answers, 200 runs on a short page, and hostile strings escaped or refused."""
import re
from html.parser import HTMLParser

from bs4 import BeautifulSoup

from helpers.findings import Finding
from helpers.report.html import script_free
from helpers.report.index import RECENT_RUNS, render_index

NOTEBOOKS = ["00_data_overview", "01_churn_survival", "02_retention_effort_revenue", "03_complaint_recovery"]
FINDINGS = [{"name": "churn_rate", "value": 0.265, "ci_low": 0.255, "ci_high": 0.276, "unit": "share",
             "label": "Churn rate"},
            {"name": "customers", "value": 20000, "ci_low": None, "ci_high": None, "unit": "customers",
             "label": "Customers in the data set"},
            {"name": "median", "value": 30.1, "ci_low": 28.0, "ci_high": None, "unit": "months",
             "label": "Median tenure"},
            {"name": "fourth", "value": 1.5, "ci_low": None, "ci_high": None, "unit": "", "label": "A fourth finding"}]


def _entry(notebook, *, status="succeeded", dataset="synthetic", fingerprint="9f8e7d6c5b4a3210", **extra):
    entry = {"notebook": notebook, "status": status, "duration_s": 12.3, "given": {}, "data_parameters": ["DATASET"],
             "data": {"dataset": dataset, "fingerprint": fingerprint}, "findings": FINDINGS,
             "html": f"{notebook}.html" if status != "failed" else None, **extra}
    if status != "succeeded":
        entry.setdefault("error", "failed sections: cox (ValueError: singular matrix)")
    return entry


def _run(n, entries, *, status=None, day=None):
    """Run number ``n``: later runs have larger numbers; ``day`` of January 2024, by default one per 10 runs."""
    day = day if day is not None else 1 + n // 10
    status = status or ("succeeded" if all(e["status"] == "succeeded" for e in entries) else "failed")
    return {"run_id": f"202401{day:02d}-{n:06d}-abcd", "started_at": f"2024-01-{day:02d}T00:00:{n % 60:02d}Z",
            "status": status, "notebooks": entries}


def _newest_first(runs):
    return sorted(runs, key=lambda r: r["started_at"], reverse=True)


def _section(page, title):
    """The HTML from the <h2> ``title`` to the next <h2>."""
    start = page.index(f"<h2>{title}")
    end = page.find("<h2>", start + 1)
    return page[start:] if end < 0 else page[start:end]


def test_200_runs_render_on_a_short_page_with_the_latest_reports_first():
    datasets = ["synthetic", "telco"]
    runs = _newest_first([_run(n, [_entry(nb, dataset=datasets[n % 2], fingerprint=f"fp{n % 2}" * 6)
                                   for nb in NOTEBOOKS]) for n in range(200)])
    page = render_index(runs)
    assert len(page.encode()) < 500_000, f"{len(page.encode()):,} bytes"
    assert page.index("Latest good report") < page.index("All runs, newest first (200)")
    latest = _section(page, "Latest good report")
    assert latest.count("<h3>") == 2 and latest.count("<tr><td>") == 2 * len(NOTEBOOKS)
    assert f'href="{runs[0]["run_id"]}/00_data_overview.html"' in latest  # the newest run, on its data set
    assert f'href="{runs[1]["run_id"]}/00_data_overview.html"' in latest  # the newest on the other data set
    soup = BeautifulSoup(page, "html.parser")
    (folded,) = soup.find_all("details")
    assert folded.summary.get_text() == f"{200 - RECENT_RUNS} older runs"
    shown = [r for r in soup.find_all("table")[-2].find_all("tr")[1:]]
    assert len(shown) == RECENT_RUNS
    days = [th.get_text() for th in folded.find_all("th", class_="day")]
    assert days[0].startswith("2024-01-18") and days[-1] == "2024-01-01 · 10 runs"
    assert all(f'href="{r["run_id"]}/03_complaint_recovery.html"' in page for r in runs)  # every run stays listed


def test_each_data_set_keeps_its_own_latest_report_named_with_its_fingerprint():
    runs = _newest_first([
        _run(1, [_entry("00_data_overview", dataset="synthetic", fingerprint="aaaaaaaaaaaaffff",
                        stable_set="latest")]),
        _run(2, [_entry("00_data_overview", dataset="/data/telco", fingerprint="bbbbbbbbbbbbffff",
                        stable_set="latest-telco-123456")]),
        _run(3, [_entry("00_data_overview", dataset="/data/telco", fingerprint="cccccccccccc",
                        given={"TOP_SHARE": 0.1})])])
    latest = _section(render_index(runs), "Latest good report")
    headings = [h.get_text() for h in BeautifulSoup(latest, "html.parser").find_all("h3")]
    assert headings == ["Data set /data/telco, default parameters · stable folder latest-telco-123456/ · "
                        "fingerprint bbbbbbbbbbbb",
                        "Data set synthetic, default parameters · stable folder latest/ · fingerprint aaaaaaaaaaaa",
                        "Data set /data/telco, top_share=0.1 · fingerprint cccccccccccc"]  # defaults first
    assert latest.count("stable folder <code>latest/</code>") == 1
    for run in runs:
        assert f'href="{run["run_id"]}/00_data_overview.html"' in latest


def test_partial_and_failed_runs_are_marked_and_never_hide_the_last_good_report():
    good = _run(1, [_entry("00_data_overview"), _entry("01_churn_survival")])
    partial = _run(2, [_entry("00_data_overview", status="partial")], status="partial")
    failed = _run(3, [_entry("01_churn_survival", status="failed", error="RuntimeError: planted failure")])
    only_partial = _run(4, [_entry("02_retention_effort_revenue", status="partial")], status="partial")
    runs = _newest_first([good, partial, failed, only_partial])
    page = render_index(runs)
    rows = {tr.td.get_text(" ").split()[0]: tr for tr in
            BeautifulSoup(_section(page, "Latest good report"), "html.parser").find_all("tr")[1:]}
    overview = rows["00_data_overview"]
    assert overview.a["href"] == f"{good['run_id']}/00_data_overview.html"  # the good report stays
    mark = overview.find("span", class_="partial")
    assert f"newer run {partial['run_id']}: partial report: failed sections: cox" in mark.get_text()
    assert mark.a["href"] == f"{partial['run_id']}/00_data_overview.html"
    survival = rows["01_churn_survival"]
    assert survival.a["href"] == f"{good['run_id']}/01_churn_survival.html"
    assert "failed: RuntimeError: planted failure" in survival.find("span", class_="failed").get_text()
    pending = rows["02_retention_effort_revenue"]
    assert "no good report yet" in pending.get_text() and pending.find("span", class_="partial")
    runs_list = _section(page, "All runs")
    assert f"<td>{good['run_id']}</td>" in runs_list and '<td class="partial">partial</td>' in runs_list
    assert "01_churn_survival: failed &mdash; RuntimeError: planted failure" in runs_list
    assert page.index(failed["run_id"]) < page.index(f"<td>{good['run_id']}</td>")  # newest first


def test_headline_answers_or_the_first_three_findings():
    answers = [{"question": "Who churns?", "sentence": "Month-to-month customers churn most.", "verdict": ""},
               {"question": "Does recovery pay?", "sentence": "Recovered complainers stay longer.",
                "verdict": "supported"}]
    runs = [_run(2, [_entry("00_data_overview", answers=answers)]), _run(1, [_entry("01_churn_survival")])]
    latest = BeautifulSoup(_section(render_index(runs), "Latest good report"), "html.parser")
    rows = latest.find_all("tr")[1:]
    assert [" ".join(li.get_text(" ").split()) for li in rows[0].find_all("li")] == [
        "Who churns? Month-to-month customers churn most.",
        "Does recovery pay? Recovered complainers stay longer. supported"]
    assert rows[0].find("b", class_="verdict").get_text() == "supported"
    fallback = [li.get_text() for li in rows[1].find_all("li")]
    assert fallback == [Finding(**f).text() for f in FINDINGS[:3]]
    assert fallback[0] == "Churn rate: 26.5% [25.5%, 27.6%]" and "not reached" in fallback[2]


def test_the_runners_contract_holds():
    """What the runner's tests read in index.html: unreadable manifests, run states, the newest-first order."""
    killed = _run(2, [], status="incomplete (killed)")
    runs = [killed, _run(1, [_entry("00_data_overview")])]
    page = render_index(runs, unreadable=[{"path": "up/manifest.json", "reason": "its run_id is not one the runner "
                                                                                "makes"}])
    assert "Unreadable manifests" in page and "up/manifest.json" in page and "its run_id is not one" in page
    assert "incomplete (killed)" in page and f'href="{runs[1]["run_id"]}/00_data_overview.html"' in page
    assert render_index([]).count("No successful run yet.") == 1


class _StartTags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(self.get_starttag_text())


HOSTILE = ["<script>alert(1)</script>", '"onmouseover=alert(2) x="', "javascript:alert(3)",
           "<img src=x onerror=alert(4)>"]
IN_MARKUP = ("onmouseover", "onerror", "alert(", "javascript:")  # never inside a tag


def test_hostile_strings_are_escaped_or_refused():
    script, quote, scheme, img = HOSTILE
    good = _run(1, [_entry(quote, html="00.html", dataset=script, fingerprint=img,
                           answers=[{"question": img, "sentence": script, "verdict": quote}]),
                    _entry("01_churn_survival", status="failed", error=img)])
    good["started_at"] = f"2024-01-01 {img}"
    refused = [
        {**_run(2, [_entry("00_data_overview")]), "run_id": f"20240102-{script}"},
        {**_run(3, [_entry("00_data_overview")]), "run_id": "../../victim"},
        {**_run(4, [_entry("00_data_overview")]), "run_id": scheme},
        _run(5, [_entry("00_data_overview", html=scheme)]),
        _run(6, [_entry("00_data_overview", html="../../x.html")]),
        _run(7, [_entry("00_data_overview", html="sub/x.html")]),
        _run(8, [_entry("00_data_overview", html=f"{quote}.html")]),
        "not a mapping",
    ]
    page = render_index([*refused[::-1], good], unreadable=[{"path": script, "reason": img}])
    own_css = re.compile(r"<style>.*?</style>", re.S)  # the page's one stylesheet
    assert script_free(own_css.sub("", page, count=1)) == []
    parser = _StartTags()
    parser.feed(page)
    assert [t for t in parser.tags if any(n in t.lower() for n in IN_MARKUP)] == []
    assert "<script>" not in page and "<img src=x" not in page
    hrefs = {a["href"] for a in BeautifulSoup(page, "html.parser").find_all("a")}
    assert hrefs == {f"{good['run_id']}/00.html"}  # the one link: relative, inside its run folder
    text = BeautifulSoup(page, "html.parser").get_text(" ")
    assert all(h in text for h in HOSTILE)  # shown as text
    unreadable = _section(page, "Unreadable manifests")
    assert unreadable.count("<li>") == 1 + len(refused)
    assert "../../victim/manifest.json: its run_id could lead outside its folder" in BeautifulSoup(
        unreadable, "html.parser").get_text()
    assert unreadable.count("names a report file that could lead outside its run folder") == 4

"""The index page of the reports folder: the newest good report of each notebook per data set, then every run.

Each manifest is treated as untrusted. Anyone who can write to the reports folder can edit one, and
its strings came from the data and the parameters. So every string is escaped (``html.escape``
with ``quote=True``), and the only links on the page are relative ``<run id>/<report>.html``
links. A run whose id or report file name could point elsewhere (it has a ``/``, a ``..`` or a
scheme) is listed with the unreadable manifests and is never linked. The page loads nothing and
runs no script: it has one stylesheet of its own and plain HTML.

With hundreds of runs the page stays short. The table of latest reports comes first, then the
newest `RECENT_RUNS` runs; older runs are folded into a ``<details>`` block and grouped by day.
"""
from __future__ import annotations

import dataclasses
import html
import re

from helpers.findings import Finding

RECENT_RUNS = 20  # runs listed openly; older ones are folded, by day
MOST_ANSWERS = 5  # headline answers shown per report
FALLBACK_FINDINGS = 3  # findings shown for a report that records no answers
FOLD_GROUPS_ABOVE = 6  # groups with other parameters (ad hoc, grid points) beyond this are folded
TEXT_LIMIT = 300  # characters of one string from a manifest (an error, a sentence)
DEFAULT_PARAMETERS = "default parameters"
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.=,+-]{0,120}$")  # no '/', '\', ':' (a scheme), space or quote
_FINDING_FIELDS = tuple(f.name for f in dataclasses.fields(Finding))
_REPORT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,120}\.html$")

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:70rem;
     padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:left;
     vertical-align:top}th{background:#f3f3f3}.failed{color:#b00020;font-weight:600}.ok{color:#1b5e20}
.partial{color:#a35200;font-weight:600}.muted{color:#666;font-size:.9em}ul{margin:.2rem 0;padding-left:1.2rem}
.verdict{background:#eef3ee;border-radius:3px;padding:0 .3rem}th.day{background:#e8e8e8}summary{cursor:pointer}
table.runs td:nth-child(-n+2),table.latest td:nth-child(2){white-space:nowrap}
table.runs ul{padding:0}table.runs li{display:inline-block;margin-right:1.2em}table.latest,table.runs{width:100%}
"""


def _e(x) -> str:
    return html.escape(str(x), quote=True)


def _clip(x, limit: int = TEXT_LIMIT) -> str:
    """Up to ``limit`` characters of ``x``, escaped; a longer text ends in an ellipsis."""
    text = str(x)
    return _e(text if len(text) <= limit else text[: limit - 1] + "\u2026")


def _safe_name(name, pattern: re.Pattern) -> bool:
    return isinstance(name, str) and bool(pattern.match(name)) and ".." not in name


def refusal(run) -> str | None:
    """Why ``run`` cannot be listed or linked, or None when it can.

    Example
    -------
    >>> refusal({"run_id": "../x", "started_at": "2024", "notebooks": []})
    'its run_id could lead outside its folder'
    >>> refusal({"run_id": "20240101-000000-abcd", "started_at": "2024",
    ...          "notebooks": [{"notebook": "00", "html": "javascript:alert(1)"}]})
    'notebook entry 1 names a report file that could lead outside its run folder'
    """
    if not isinstance(run, dict):
        return "it is not a mapping"
    if not _safe_name(run.get("run_id"), _RUN_ID):
        return "its run_id could lead outside its folder"
    if not isinstance(run.get("notebooks", []), list):
        return "its notebooks are not a list"
    for n, entry in enumerate(run.get("notebooks", []), 1):
        if not isinstance(entry, dict):
            return f"notebook entry {n} is not a mapping"
        if entry.get("html") is not None and not _safe_name(entry["html"], _REPORT):
            return f"notebook entry {n} names a report file that could lead outside its run folder"
    return None


def _link(run: dict, entry: dict, text) -> str:
    return f'<a href="{_e(run["run_id"])}/{_e(entry["html"])}">{_e(text)}</a>'


def _data(entry: dict) -> dict:
    return entry["data"] if isinstance(entry.get("data"), dict) else {}


def _report_group(run: dict, entry: dict) -> tuple[str, str]:
    """(data set, parameters) of a report: runs on other data or with other parameters are kept apart."""
    data = _data(entry).get("dataset") or "no data set"
    grid = (run.get("grid") or {}).get("label") if isinstance(run.get("grid"), dict) else None
    given = entry.get("given") if isinstance(entry.get("given"), dict) else {}
    data_parameters = entry.get("data_parameters") if isinstance(entry.get("data_parameters"), list) else []
    label = ", ".join(f"{str(k).lower()}={v!r}" for k, v in sorted(given.items(), key=lambda kv: str(kv[0]))
                      if k not in data_parameters)
    if grid:
        label = f"grid point {grid}"
    return str(data), label or DEFAULT_PARAMETERS


def _has_report(entry: dict) -> bool:
    return entry.get("status") in ("succeeded", "partial") and bool(entry.get("html"))


def latest_reports(runs: list[dict]) -> dict[tuple[str, str], dict[str, dict]]:
    """Per (data set, parameters) and notebook: the newest good report and the newer runs that did not replace it.

    Returns
    -------
    dict
        ``{(data set, parameters): {notebook: {"good": (run, entry) or None, "newer": [(run, entry), ...]}}}``;
        ``newer`` holds the partial and failed entries newer than the good one, newest first. A
        partial or failed run never takes the place of the last good report.
    """
    latest: dict[tuple[str, str], dict[str, dict]] = {}
    for run in runs:  # newest first
        for entry in run.get("notebooks", []):
            slot = latest.setdefault(_report_group(run, entry), {}).setdefault(
                str(entry.get("notebook")), {"good": None, "newer": []})
            if slot["good"] is not None:
                continue
            if entry.get("status") == "succeeded" and entry.get("html"):
                slot["good"] = (run, entry)
            elif entry.get("status") in ("partial", "failed"):
                slot["newer"].append((run, entry))
    kept = {key: {name: slot for name, slot in reports.items() if slot["good"] or slot["newer"]}
            for key, reports in latest.items()}
    return {key: reports for key, reports in kept.items() if reports}


def _finding_text(item) -> str:
    """A finding from a manifest as `Finding.text`; one that is not a finding's shape says so instead of failing."""
    try:
        return Finding(**{k: item[k] for k in _FINDING_FIELDS if k in item}).text()
    except (TypeError, ValueError, KeyError):
        name = item.get("name", "a finding") if isinstance(item, dict) else "a finding"
        return f"{str(name)[:60]}: (not readable)"


def _answer(item: dict) -> str:
    verdict = item.get("verdict") or ""
    question = item.get("question") or ""
    return (f'<li>{f"<span class=muted>{_clip(question)}</span><br>" if question else ""}{_clip(item["sentence"])}'
            f'{f" <b class=verdict>{_clip(verdict, 60)}</b>" if verdict else ""}</li>')


def answers_html(entry: dict) -> str:
    """A report's headline answers (its manifest's ``answers``), or else its first few (key) findings."""
    answers = entry.get("answers") if isinstance(entry.get("answers"), list) else []
    answers = [a for a in answers if isinstance(a, dict) and a.get("sentence")]
    if answers:
        more = len(answers) - MOST_ANSWERS
        rest = f'<li class="muted">{more} more in the report</li>' if more > 0 else ""
        return "<ul>" + "".join(_answer(a) for a in answers[:MOST_ANSWERS]) + rest + "</ul>"
    findings = [f for f in entry.get("findings", []) if isinstance(f, dict)]
    findings = [f for f in findings if f.get("key") is True] or findings  # the report's key findings, if marked
    items = "".join(f"<li>{_clip(_finding_text(f))}</li>" for f in findings[:FALLBACK_FINDINGS])
    return f"<ul>{items}</ul>" if items else '<span class="muted">no findings recorded</span>'


def _problem(run: dict, entry: dict) -> str:
    """What went wrong in a partial or failed entry, linked to its report when it has one."""
    status = str(entry.get("status"))
    what = _link(run, entry, f"{status} report") if _has_report(entry) else _e(status)
    return f"{what}: {_clip(entry.get('error') or status)}"


def _mark(slot: dict) -> str:
    newer = slot["newer"]
    if not newer:
        return ""
    run, entry = newer[0]
    others = f" (and {len(newer) - 1} more)" if len(newer) > 1 else ""
    lead = "newer run" if slot["good"] else "no good report yet; newest run"
    css = "partial" if entry.get("status") == "partial" else "failed"
    return (f'<br><span class="{css}">{lead} {_e(run["run_id"])}{others}: {_problem(run, entry)}</span>')


def _shown(slot: dict) -> tuple[dict, dict]:
    """The (run, entry) a row shows: the good report, else the newest partial or failed run."""
    return slot["good"] or slot["newer"][0]


def _latest_row(name: str, slot: dict) -> str:
    run, entry = _shown(slot)
    report = _link(run, entry, name) if slot["good"] else _e(name)
    fingerprint = str(_data(entry).get("fingerprint") or "")[:12]
    answers = answers_html(entry) if slot["good"] or _has_report(entry) else ""
    return (f"<tr><td>{report}{_mark(slot)}</td><td>{_clip(run.get('started_at', ''), 40)}</td>"
            f"<td><code>{_e(fingerprint)}</code></td><td>{answers}</td></tr>")


def _group_html(dataset: str, params: str, reports: dict[str, dict]) -> str:
    stable = {slot["good"][1].get("stable_set") for slot in reports.values() if slot["good"]} - {None}
    where = f" &middot; stable folder <code>{_e(stable.pop())}/</code>" if len(stable) == 1 else ""
    prints = {_data(_shown(slot)[1]).get("fingerprint") for slot in reports.values()} - {None, ""}
    fingerprint = f" &middot; fingerprint <code>{_e(str(prints.pop())[:12])}</code>" if len(prints) == 1 else ""
    rows = "".join(_latest_row(name, slot) for name, slot in sorted(reports.items()))
    return (f"<h3>Data set <code>{_e(dataset)}</code>, {_e(params)}{where}{fingerprint}</h3>"
            '<table class="latest"><tr><th>report</th><th>run started (UTC)</th><th>data fingerprint</th>'
            f"<th>headline answers</th></tr>{rows}</table>")


def latest_html(runs: list[dict]) -> str:
    """The latest-reports section: default parameters first, by data set; other parameters after, folded when many."""
    groups = sorted(latest_reports(runs).items(), key=lambda kv: (kv[0][1] != DEFAULT_PARAMETERS, kv[0]))
    plain = "".join(_group_html(d, p, r) for (d, p), r in groups if p == DEFAULT_PARAMETERS)
    other = [_group_html(d, p, r) for (d, p), r in groups if p != DEFAULT_PARAMETERS]
    if len(other) > FOLD_GROUPS_ABOVE:
        other = [f"<details><summary>{len(other)} groups with other parameters (ad-hoc runs, grid points)"
                 f"</summary>{''.join(other)}</details>"]
    return (plain + "".join(other)) or "<p>No successful run yet.</p>"


def _entry_item(run: dict, entry: dict) -> str:
    name, status = entry.get("notebook"), entry.get("status")
    if _has_report(entry):
        try:
            took = f" ({float(entry.get('duration_s', 0)):.0f} s)"
        except (TypeError, ValueError):
            took = ""
        if status == "succeeded":
            return f'<li class="ok">{_link(run, entry, name)}{took}</li>'
        return f'<li class="partial">{_link(run, entry, name)}{took} &mdash; partial: {_clip(entry.get("error"))}</li>'
    return (f'<li class="failed">{_e(name)}: {_e(status)} &mdash; '
            f"{_clip(entry.get('error') or status)}</li>")


def _run_row(run: dict) -> str:
    status = str(run.get("status", "unknown"))
    css = {"succeeded": "ok", "partial": "partial"}.get(status, "failed")
    datasets = dict.fromkeys(str(_data(e).get("dataset") or "") for e in run.get("notebooks", []))
    data = ", ".join(_clip(d, 80) for d in datasets if d)
    items = "".join(_entry_item(run, e) for e in run.get("notebooks", []))
    return (f"<tr><td>{_e(run['run_id'])}</td><td>{_clip(run.get('started_at', ''), 40)}</td>"
            f'<td class="{css}">{_e(status)}</td><td>{data}</td><td><ul>{items}</ul></td></tr>')


def runs_html(runs: list[dict], recent: int = RECENT_RUNS) -> str:
    """Every run, newest first: the newest ``recent`` in a table, the older ones folded and grouped by day."""
    head = ('<table class="runs"><tr><th>run</th><th>started (UTC)</th><th>status</th><th>data set</th>'
            "<th>notebooks</th></tr>")
    shown = head + "".join(_run_row(r) for r in runs[:recent]) + "</table>"
    older = runs[recent:]
    if not older:
        return shown
    rows, day = [], None
    for run in older:
        if str(run.get("started_at", ""))[:10] != day:
            day = str(run.get("started_at", ""))[:10]
            count = sum(str(r.get("started_at", ""))[:10] == day for r in older)
            rows.append(f'<tr><th class="day" colspan="5">{_e(day or "no date")} &middot; {count} '
                        f'run{"s" * (count != 1)}</th></tr>')
        rows.append(_run_row(run))
    return (shown + f"<details><summary>{len(older)} older runs</summary>{head}{''.join(rows)}</table>"
            "</details>")


def unreadable_html(unreadable: list) -> str:
    """The manifests that cannot be listed, each with its reason; nothing of theirs is followed."""
    items = "".join(f"<li><code>{_clip(u.get('path', '?'), 200)}</code>: {_clip(u.get('reason', ''))}</li>"
                    if isinstance(u, dict) else f"<li>{_clip(u)}</li>" for u in unreadable)
    return (f'<h2>Unreadable manifests</h2><p class="failed">These runs cannot be listed; their files were not '
            f"followed. Remove or repair them:</p><ul>{items}</ul>") if items else ""


def render_index(runs: list[dict], *, unreadable: list[dict] | None = None) -> str:
    """The index page: the newest good report of each notebook per data set and parameters, then every run.

    Parameters
    ----------
    runs : list of dict
        Run manifests, newest first (`helpers.report.runner.scan_runs`), each with its status
        for readers.
    unreadable : list of dict, optional
        ``{"path": ..., "reason": ...}`` of the manifests that could not be read.

    Returns
    -------
    str
        The page. It opens with the latest reports, one table per data set and parameters. Each
        table names its data set, its data fingerprint (short), and its stable folder
        (``latest/``) when it has one. A row holds the report's headline answers (its ``answers``,
        or its first findings). A newer partial or failed run is marked under the good report it
        did not replace. Then come the runs, newest first, with the older ones folded, and then
        the unreadable manifests. A run whose id or report file name could lead outside its
        folder is listed among the unreadable and linked nowhere.

    Example
    -------
    >>> run = {"run_id": "20240101-000000-abcd", "started_at": "2024-01-01T00:00:00Z", "status": "succeeded",
    ...        "notebooks": [{"notebook": "00", "status": "succeeded", "html": "00.html",
    ...                       "data": {"dataset": "<b>x</b>"}, "answers": [{"question": "Q?",
    ...                       "sentence": "Churn is 26%.", "verdict": ""}]}]}
    >>> page = render_index([run])
    >>> 'href="20240101-000000-abcd/00.html"' in page and "Data set <code>&lt;b&gt;x&lt;/b&gt;</code>" in page
    True
    """
    good, refused = [], list(unreadable or [])
    for run in runs:
        reason = refusal(run)
        if reason is None:
            good.append(run)
        else:
            shown = run.get("run_id") if isinstance(run, dict) else None
            refused.append({"path": f"{str(shown)[:80]}/manifest.json", "reason": reason})
    return (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Workbench reports</title>"
        f"<style>{_CSS}</style></head><body><h1>Customer-service workbench: reports</h1>"
        "<h2>Latest good report of each notebook</h2>" + latest_html(good) + unreadable_html(refused)
        + f"<h2>All runs, newest first ({len(good)})</h2>" + runs_html(good) + "</body></html>"
    )

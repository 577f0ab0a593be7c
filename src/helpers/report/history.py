"""Compare runs: what differs in how two runs were made, and how each recorded finding moved.

Used for weekly reports: ``workbench diff <last week's run-id> latest``. `diff_runs` is the
table of every finding; `compare` adds the code, data and parameters that differ and keeps the
findings that changed; `format_diff` writes that for a terminal, a Markdown note or a script.
"""
from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pandas as pd

from helpers.findings import Finding, escape_md

COLUMNS = ["notebook", "finding", "a", "b", "change", "a_interval", "b_interval", "beyond_intervals"]
FORMATS = ("text", "markdown", "json")
WIDTH = 100  # columns of a text line
ARROW = "\u2192"
NOT_SET = "(not set)"  # a parameter one run does not have
HINT = "; --all shows every finding"
PARAMETERS_DIFFER = "parameters differ, so differences below may follow from them"
_UNSEEN = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]+")  # controls, bidi


def load_manifest(run: str | Path, reports: Path) -> dict:
    """A run's manifest from a run id, a stable folder (``latest``, ``latest-telco``), a run folder or a file.

    A stable folder's ``stable.json`` lists each notebook's report with the run it came from, so
    ``workbench diff <last week's run> latest`` compares every notebook of the stable set.

    Raises
    ------
    FileNotFoundError
        With the runs that exist, when there is no such run, or its file is not a manifest.
    """
    path = Path(run)
    candidates = [path, path / "manifest.json", path / "stable.json", reports / str(run) / "manifest.json",
                  reports / str(run) / "stable.json"]
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        known = sorted(p.parent.name for p in reports.glob("*/manifest.json"))
        raise FileNotFoundError(f"no run {str(run)!r} under {reports} (runs: {', '.join(known) or 'none'})")
    try:
        manifest = json.loads(found.read_bytes())
    except (OSError, ValueError) as e:
        raise FileNotFoundError(f"{found} is not a readable manifest ({type(e).__name__}: {str(e)[:120]})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("notebooks", []), list):
        raise FileNotFoundError(f"{found} is not a run manifest (no list of notebooks)")
    return manifest


def _number(x, missing_ok: bool) -> bool:
    return (x is None and missing_ok) or (isinstance(x, (int, float)) and not isinstance(x, bool))


def _readable(f) -> bool:
    """A finding as `helpers.findings.record` writes it: a number or a verdict, numeric bounds or None."""
    return (isinstance(f, dict) and (isinstance(f.get("value"), str) or _number(f.get("value"), False))
            and _number(f.get("ci_low"), True) and _number(f.get("ci_high"), True))


def _findings(manifest: dict) -> dict[tuple[str, str], dict]:
    return {(str(e.get("notebook")), str(f.get("name"))): f for e in manifest.get("notebooks", [])
            if isinstance(e, dict) and isinstance(e.get("findings", []), list) for f in e.get("findings", [])
            if _readable(f)}


def _interval(f: dict | None) -> tuple[float, float] | None:
    """(low, high); a bound that is not reached (None) is unbounded; None when neither bound is given."""
    if f is None or (f.get("ci_low") is None and f.get("ci_high") is None):
        return None
    low, high = f.get("ci_low"), f.get("ci_high")
    return float("-inf") if low is None else float(low), float("inf") if high is None else float(high)


def _beyond(a: dict | None, b: dict | None) -> bool | None:
    """True when the intervals do not overlap (or one value lies outside the other's interval)."""
    if a is None or b is None or isinstance(a["value"], str) or isinstance(b["value"], str):
        return None
    ia, ib = _interval(a), _interval(b)
    if ia and ib:
        return ia[1] < ib[0] or ib[1] < ia[0]
    if ia or ib:
        low, high = ia or ib
        other = b["value"] if ia else a["value"]
        return not low <= float(other) <= high
    return None


def _change(a: dict | None, b: dict | None):
    if a is None or b is None:
        return "only in A" if b is None else "only in B"
    if isinstance(a["value"], str) or isinstance(b["value"], str):
        return "same" if a["value"] == b["value"] else "changed"
    return float(b["value"]) - float(a["value"])


def diff_runs(manifest_a: dict, manifest_b: dict) -> pd.DataFrame:
    """Every finding of either run: its value in A and in B, the change B - A, and whether it is real.

    Parameters
    ----------
    manifest_a, manifest_b : dict
        Run manifests (``reports/<run-id>/manifest.json``).

    Returns
    -------
    pandas.DataFrame
        One row per (notebook, finding), sorted: notebook, finding, a, b, change (B - A; "same" or
        "changed" for verdicts; "only in A/B"), a_interval, b_interval, beyond_intervals (True when
        the two intervals do not overlap, or one value lies outside the other run's interval;
        None when neither has an interval).

    Example
    -------
    >>> a = {"notebooks": [{"notebook": "00", "findings": [{"name": "churn_rate", "value": 0.2,
    ...       "ci_low": 0.18, "ci_high": 0.22}]}]}
    >>> b = {"notebooks": [{"notebook": "00", "findings": [{"name": "churn_rate", "value": 0.3,
    ...       "ci_low": 0.28, "ci_high": 0.32}]}]}
    >>> diff_runs(a, b)[["finding", "change", "beyond_intervals"]].to_dict("records")
    [{'finding': 'churn_rate', 'change': 0.09999999999999998, 'beyond_intervals': True}]
    """
    fa, fb = _findings(manifest_a), _findings(manifest_b)
    rows = []
    for key in sorted(fa.keys() | fb.keys()):
        a, b = fa.get(key), fb.get(key)
        rows.append({"notebook": key[0], "finding": key[1], "a": a["value"] if a else None,
                     "b": b["value"] if b else None, "change": _change(a, b), "a_interval": _interval(a),
                     "b_interval": _interval(b), "beyond_intervals": _beyond(a, b)})
    return pd.DataFrame(rows, columns=COLUMNS)


# ---- what differs in how the runs were made --------------------------------------------------------
def _mapping(x) -> dict:
    return x if isinstance(x, dict) else {}


def _entries(manifest: dict) -> dict[str, dict]:
    return {str(e.get("notebook")): e for e in manifest.get("notebooks", []) if isinstance(e, dict)}


def _differ(notebook, kind: str, pairs: dict[str, tuple]) -> list[dict]:
    return [{"notebook": notebook, "kind": kind, "name": name, "a": a, "b": b}
            for name, (a, b) in pairs.items() if a != b]


def _entry_changes(name: str, a: dict, b: dict) -> list[dict]:
    data_a, data_b = _mapping(a.get("data")), _mapping(b.get("data"))
    rows = _differ(name, "status", {"status": (a.get("status"), b.get("status"))})
    rows += _differ(name, "data", {k: (data_a.get(k), data_b.get(k)) for k in ("dataset", "fingerprint")})
    params_a, params_b = _mapping(a.get("parameters")), _mapping(b.get("parameters"))
    data_params = {str(p) for e in (a, b) if isinstance(e.get("data_parameters"), list) for p in e["data_parameters"]}
    keys = [k for k in dict.fromkeys([*params_a, *params_b]) if k not in data_params]  # the data set stands for them
    return rows + _differ(name, "parameter", {k: (params_a.get(k, NOT_SET), params_b.get(k, NOT_SET)) for k in keys})


def setting_changes(manifest_a: dict, manifest_b: dict) -> list[dict]:
    """What differs in how two runs were made: the code, and per notebook its status, data and parameters.

    Parameters
    ----------
    manifest_a, manifest_b : dict
        Run manifests, or a stable folder's ``stable.json``.

    Returns
    -------
    list of dict
        ``{"notebook", "kind", "name", "a", "b"}`` with the raw values: the code (``notebook``
        None; kind "code": "git commit", "workbench version"), then per notebook of both runs its
        "status", its "data" ("dataset", "fingerprint") and each "parameter" whose value
        differs (a parameter one run lacks is `NOT_SET`; the parameters that name the data are
        left out, the data set stands for them), then each notebook in one run only (kind
        "notebook", name "present", a and b True or False).

    Example
    -------
    >>> a = {"notebooks": [{"notebook": "01", "parameters": {"HORIZON": 24}, "data": {"dataset": "x"}}]}
    >>> b = {"notebooks": [{"notebook": "01", "parameters": {"HORIZON": 12}, "data": {"dataset": "x"}}]}
    >>> setting_changes(a, b)
    [{'notebook': '01', 'kind': 'parameter', 'name': 'HORIZON', 'a': 24, 'b': 12}]
    """
    rows = []
    code_a, code_b = manifest_a.get("code"), manifest_b.get("code")
    if isinstance(code_a, dict) and isinstance(code_b, dict):
        commit = (str(c.get("git_commit"))[:12] + " (uncommitted changes)" * bool(c.get("git_dirty"))
                  for c in (code_a, code_b))
        rows += _differ(None, "code", {"git commit": tuple(commit),
                                       "workbench version": (code_a.get("workbench_version"),
                                                             code_b.get("workbench_version"))})
    ea, eb = _entries(manifest_a), _entries(manifest_b)
    for name in sorted(ea.keys() & eb.keys()):
        rows += _entry_changes(name, ea[name], eb[name])
    return rows + [{"notebook": n, "kind": "notebook", "name": "present", "a": n in ea, "b": n in eb}
                   for n in sorted(ea.keys() ^ eb.keys())]


# ---- the comparison --------------------------------------------------------------------------------
def _shown(f: dict | None) -> str:
    """A finding's value and interval as the report shows them (`Finding.text` without the label)."""
    if f is None:
        return "(none)"
    return Finding("", f["value"], f.get("ci_low"), f.get("ci_high"), str(f.get("unit") or "")).text()[2:]


def _raw(f: dict | None) -> dict | None:
    return None if f is None else {k: f.get(k) for k in ("value", "ci_low", "ci_high")}


def _about(manifest: dict) -> dict:
    """The run id and start of a run, or the name and update time of a stable folder."""
    if "run_id" in manifest or "stable_set" not in manifest:
        return {"run": manifest.get("run_id"), "started_at": manifest.get("started_at")}
    return {"stable_set": manifest.get("stable_set"), "updated_at": manifest.get("updated_at")}


def _run_line(report: dict, x: str) -> str:
    about = report[x.lower()]
    if "stable_set" in about:
        name, when = f"stable folder {_plain(about['stable_set'], 60)}", f"updated {_plain(about['updated_at'], 30)}"
    else:
        name, when = _plain(about["run"] or "(no run id)", 60), f"started {_plain(about['started_at'], 30)}"
    return f"{x} {name}" + (f", {when}" if about.get("started_at") or about.get("updated_at") else "")


def compare(manifest_a: dict, manifest_b: dict, *, everything: bool = False) -> dict:
    """How two runs differ: their settings (`setting_changes`), then the findings that changed (or all).

    Parameters
    ----------
    manifest_a, manifest_b : dict
        Run manifests, or a stable folder's ``stable.json``.
    everything : bool
        Keep every finding, not only those whose shown value or interval changed (and those of
        notebooks both runs have).

    Returns
    -------
    dict
        ``a`` and ``b`` (run id or stable set, and when), ``settings``, ``parameters_differ``,
        ``findings`` (notebook, name, label, label_a when A's differs, unit, raw ``a`` and ``b``
        with value, ci_low, ci_high; change B - A or "same", "changed", "only in A/B";
        beyond_intervals; changed; settings_differ: the notebook's data or parameters differ),
        ``findings_total`` and ``findings_changed``.

    Example
    -------
    >>> a = {"notebooks": [{"notebook": "00", "findings": [{"name": "churn_rate", "value": 0.2,
    ...       "ci_low": 0.18, "ci_high": 0.22, "unit": "share"}]}]}
    >>> b = {"notebooks": [{"notebook": "00", "findings": [{"name": "churn_rate", "value": 0.3,
    ...       "ci_low": 0.28, "ci_high": 0.32, "unit": "share"}]}]}
    >>> [(f["name"], f["beyond_intervals"]) for f in compare(a, b)["findings"]]
    [('churn_rate', True)]
    """
    settings = setting_changes(manifest_a, manifest_b)
    differ = {s["notebook"] for s in settings if s["kind"] in ("data", "parameter")}
    both = _entries(manifest_a).keys() & _entries(manifest_b).keys()
    fa, fb = _findings(manifest_a), _findings(manifest_b)
    rows = []
    for key in sorted(fa.keys() | fb.keys()):
        a, b = fa.get(key), fb.get(key)
        label_a, label_b = (str(f.get("label") or f.get("name")) if f else None for f in (a, b))
        rows.append({"notebook": key[0], "name": key[1], "label": label_b or label_a,
                     "label_a": label_a if label_b and label_a and label_a != label_b else None,
                     "unit": str((b or a).get("unit") or ""), "a": _raw(a), "b": _raw(b), "change": _change(a, b),
                     "beyond_intervals": _beyond(a, b), "changed": _shown(a) != _shown(b),
                     "settings_differ": key[0] in differ})
    shown = [r for r in rows if everything or (r["changed"] and r["notebook"] in both)]
    return {"a": _about(manifest_a), "b": _about(manifest_b), "notebooks": sorted(both), "settings": settings,
            "parameters_differ": any(s["kind"] == "parameter" for s in settings), "everything": everything,
            "findings": shown, "findings_total": len(rows), "findings_changed": sum(r["changed"] for r in rows)}


# ---- words for people ------------------------------------------------------------------------------
def _plain(x, limit: int = 40) -> str:
    """A manifest value on one line, no control characters, at most ``limit`` characters."""
    text = " ".join(_UNSEEN.sub(" ", x if isinstance(x, str) else repr(x)).split())
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _setting_text(s: dict) -> tuple[str, str]:
    """(what, how it changed) of a setting row."""
    if s["kind"] == "notebook":
        return "report", "only in A" if s["a"] else "only in B"
    name = {"dataset": "data set"}.get(s["name"], s["name"])
    return _plain(name), f"{_plain(s['a'])} {ARROW} {_plain(s['b'])}"


def _settings_grouped(report: dict) -> list[tuple[str, str, str]]:
    """(where, what, change) per distinct change; one made in every notebook of both runs reads "all notebooks"."""
    groups: dict[tuple[str, str], list[str]] = {}
    for s in report["settings"]:
        groups.setdefault(_setting_text(s), []).append("code" if s["notebook"] is None else str(s["notebook"]))
    both = set(report["notebooks"])
    return [("all notebooks" if len(where) > 1 and set(where) == both else ", ".join(where), *what)
            for what, where in groups.items()]


def _change_text(row: dict) -> str:
    """B - A as the report would show it: a share's change in percentage points, signed."""
    change = row["change"]
    if isinstance(change, str):
        return change
    if change == 0:
        return "same value" if row["changed"] else "same"
    unit = {"share": "pp", "p": ""}.get(row["unit"], row["unit"])
    text = Finding("", change, unit=unit).text()[2:]
    return text if text.startswith(("+", "-")) else "+" + text


def _notebook_note(report: dict, notebook: str) -> str:
    """"HORIZON 24 → 12; other data (fingerprint): not directly comparable" for a notebook whose settings differ."""
    changes = ["other data (fingerprint)" if s["kind"] == "data" and s["name"] == "fingerprint"
               else f"{_plain(s['name'] if s['kind'] == 'parameter' else 'data set', 30)} {_plain(s['a'], 20)} "
                    f"{ARROW} {_plain(s['b'], 20)}"
               for s in report["settings"] if s["notebook"] == notebook and s["kind"] in ("data", "parameter")]
    return f"{'; '.join(changes)}: not directly comparable" if changes else ""


def _fit(line: str, width: int, more: int = 2) -> list[str]:
    """``line`` wrapped to ``width`` columns, continuation lines indented ``more`` further."""
    if len(line) <= width:
        return [line]
    indent = " " * (len(line) - len(line.lstrip()) + more)
    return textwrap.wrap(line, width, subsequent_indent=indent, break_on_hyphens=False)


def _titles(report: dict, hint: str = "") -> tuple[str, str]:
    """The headings of the settings and of the findings."""
    kinds = {s["kind"] for s in report["settings"]}
    settings = ("Code, data and parameters that differ" if "code" in kinds else "Data and parameters that differ"
                ) if kinds else "Data and parameters: the same in both runs"
    shown, total = len(report["findings"]), report["findings_total"]
    findings = f"Findings ({total})" if report["everything"] else f"Findings that changed ({shown} of {total}{hint})"
    return settings, findings


def _text(report: dict, width: int) -> str:
    lines = [_run_line(report, x) for x in ("A", "B")]
    settings, (settings_title, findings_title) = _settings_grouped(report), _titles(report, HINT)
    lines += ["", settings_title, *(f"  {where}: {what} {how}" for where, what, how in settings), "", findings_title]
    if report["parameters_differ"]:
        lines.append(PARAMETERS_DIFFER[0].upper() + PARAMETERS_DIFFER[1:] + ".")
    notebook = None
    for row in report["findings"]:
        if row["notebook"] != notebook:
            notebook, note = row["notebook"], _notebook_note(report, row["notebook"])
            lines += ["", _plain(notebook, 60) + (f" ({note})" if note else "")]
        label = _plain(row["label"], 500) + (f" (in A: {_plain(row['label_a'], 200)})" if row["label_a"] else "")
        beyond = "  beyond intervals" if row["beyond_intervals"] else ""
        lines += [f"  {label}", f"    {_shown(_side(row, 'a'))} {ARROW} {_shown(_side(row, 'b'))}  "
                                f"{_change_text(row)}{beyond}"]
    if not report["findings_total"]:
        lines.append("no findings in either run")
    return "\n".join(wrapped for line in lines for wrapped in _fit(line, width))


def _side(row: dict, which: str) -> dict | None:
    return None if row[which] is None else {**row[which], "unit": row["unit"]}


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header),
            *("| " + " | ".join(escape_md(c) for c in row) + " |" for row in rows)]


def _markdown(report: dict) -> str:
    lines = [f"**{x}** {escape_md(_run_line(report, x)[2:])}  " for x in ("A", "B")]
    settings, (settings_title, findings_title) = _settings_grouped(report), _titles(report)
    lines += ["", f"**{settings_title}**" if settings else f"{settings_title}."]
    if settings:
        lines += ["", *_md_table(["Notebook", "Setting", "Change"], [list(s) for s in settings])]
    lines += ["", f"**{findings_title}**"]
    if report["parameters_differ"]:
        lines += ["", f"*{PARAMETERS_DIFFER[0].upper() + PARAMETERS_DIFFER[1:]}.*"]
    rows = [[row["notebook"] + (" (settings differ)" if row["settings_differ"] else ""),
             row["label"] + (f" (in A: {row['label_a']})" if row["label_a"] else ""), _shown(_side(row, "a")),
             _shown(_side(row, "b")), _change_text(row), "yes" if row["beyond_intervals"] else ""]
            for row in report["findings"]]
    if rows:
        lines += ["", *_md_table(["Notebook", "Finding", "A", "B", "Change", "Beyond intervals"],
                                 [[_plain(c, 300) for c in row] for row in rows])]
    elif not report["findings_total"]:
        lines += ["", "No findings in either run."]
    return "\n".join(lines)


def format_diff(manifest_a: dict, manifest_b: dict, *, everything: bool = False, fmt: str = "text",
                width: int = WIDTH) -> str:
    """Two runs compared (`compare`) for a terminal, a Markdown note, or a script.

    Parameters
    ----------
    manifest_a, manifest_b : dict
        Run manifests, or a stable folder's ``stable.json``.
    everything : bool
        Every finding, not only those that changed.
    fmt : {"text", "markdown", "json"}
        ``text``: lines of at most ``width`` columns (labels wrap). ``markdown``: tables for the
        weekly note, every string from the manifests escaped (`helpers.findings.escape_md`).
        ``json``: `compare` as it is, raw numbers.
    width : int
        Columns of a text line.

    Returns
    -------
    str
        The data and parameters that differ first; then the findings, formatted as the report
        formats them (`Finding.text`: units, significant digits, shares as %), the change
        (shares in percentage points), and "beyond intervals" where the two intervals do not
        overlap. When a parameter differs, the findings are headed by `PARAMETERS_DIFFER`, and
        each notebook whose data or parameters differ names them.

    Example
    -------
    >>> a = {"notebooks": [{"notebook": "01", "parameters": {"HORIZON": 24}, "findings": [
    ...       {"name": "rmst", "value": 20.5, "ci_low": 20.1, "ci_high": 20.9, "unit": "months"}]}]}
    >>> b = {"notebooks": [{"notebook": "01", "parameters": {"HORIZON": 12}, "findings": [
    ...       {"name": "rmst", "value": 11.2, "ci_low": 11.0, "ci_high": 11.4, "unit": "months"}]}]}
    >>> print(format_diff(a, b))  # doctest: +NORMALIZE_WHITESPACE
    A (no run id)
    B (no run id)
    <BLANKLINE>
    Data and parameters that differ
      01: HORIZON 24 → 12
    <BLANKLINE>
    Findings that changed (1 of 1; --all shows every finding)
    Parameters differ, so differences below may follow from them.
    <BLANKLINE>
    01 (HORIZON 24 → 12: not directly comparable)
      rmst
        20.5 [20.1, 20.9] months → 11.2 [11, 11.4] months  -9.30 months  beyond intervals
    """
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}: use one of {', '.join(FORMATS)}")
    report = compare(manifest_a, manifest_b, everything=everything)
    if fmt == "json":
        return json.dumps(report, indent=2, default=str)
    return _markdown(report) if fmt == "markdown" else _text(report, width)

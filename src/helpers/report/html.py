"""HTML for readers: one report per executed notebook, and the index of runs.

Reports hide the code and papermill's injected-parameters cell, embed the figures (they are
inline PNG outputs already), and open with a header giving the parameters, the data
fingerprint, the code version and the time of the run.
"""
from __future__ import annotations

import copy
import html
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter

from ..findings import Finding

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:70rem;
     padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:left;
     vertical-align:top}th{background:#f3f3f3}.failed{color:#b00020;font-weight:600}.ok{color:#1b5e20}
.muted{color:#666;font-size:.9em}ul{margin:.2rem 0;padding-left:1.2rem}
"""


def _e(x) -> str:
    return html.escape(str(x), quote=True)


def _finding_text(item: dict) -> str:
    return Finding(**item).text()


def header_html(entry: dict, run: dict) -> str:
    """The provenance block at the top of a report."""
    params = "".join(f"<tr><td><code>{_e(k)}</code></td><td><code>{_e(repr(v))}</code></td></tr>"
                     for k, v in entry["parameters"].items())
    code = run["code"]
    dirty = " (with uncommitted changes)" if code.get("git_dirty") else ""
    data = entry.get("data") or {}
    return (
        '<div class="wb-header" style="border:1px solid #ccc;padding:.6rem 1rem;border-radius:6px;'
        'background:#fafafa;margin-bottom:1rem">'
        f"<p><b>Run</b> {_e(run['run_id'])} &middot; <b>started</b> {_e(run['started_at'])} &middot; "
        f"<b>code</b> {_e(code.get('git_commit', 'unknown'))[:12]}{dirty} &middot; "
        f"<b>workbench</b> {_e(code.get('workbench_version', ''))}</p>"
        f"<p><b>Data</b> {_e(data.get('dataset', 'none'))} &middot; <b>fingerprint</b> "
        f"<code>{_e(data.get('fingerprint', 'n/a'))}</code></p>"
        f"<details><summary>Parameters used</summary><table><tr><th>parameter</th><th>value</th></tr>"
        f"{params}</table></details></div>"
    )


def render_report(executed, entry: dict, run: dict) -> str:
    """Shareable HTML of an executed notebook: code hidden, header first, figures embedded."""
    nb = copy.deepcopy(executed)
    nb.cells = [c for c in nb.cells
                if not {"parameters", "injected-parameters"} & set(c.get("metadata", {}).get("tags", []))]
    titled = bool(nb.cells) and nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    nb.cells.insert(1 if titled else 0, nbformat.v4.new_markdown_cell(header_html(entry, run)))
    exporter = HTMLExporter(template_name="lab", exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True)
    title = next((line.lstrip("# ").strip() for c in nb.cells if c.cell_type == "markdown"
                  for line in c.source.splitlines() if line.startswith("# ")), entry["notebook"])
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    return body


def _latest_good(runs: list[dict]) -> dict[str, tuple[dict, dict]]:
    latest: dict[str, tuple[dict, dict]] = {}
    for run in runs:  # newest first
        for entry in run.get("notebooks", []):
            if entry.get("status") == "succeeded" and entry["notebook"] not in latest:
                latest[entry["notebook"]] = (run, entry)
    return latest


def _findings_list(entry: dict, most: int = 6) -> str:
    items = entry.get("findings", [])[:most]
    return "<ul>" + "".join(f"<li>{_e(_finding_text(f))}</li>" for f in items) + "</ul>" if items else ""


def render_index(runs: list[dict]) -> str:
    """The index page: newest good report per notebook, then every run, newest first.

    A failed run is listed with its error and never takes the place of the last good report.
    """
    latest = _latest_good(runs)
    rows = []
    for name, (run, entry) in sorted(latest.items()):
        link = f"{_e(run['run_id'])}/{_e(entry['html'])}"
        rows.append(f"<tr><td><a href=\"{link}\">{_e(name)}</a></td><td>{_e(run['started_at'])}</td>"
                    f"<td>{_findings_list(entry)}</td></tr>")
    latest_html = ("<table><tr><th>report</th><th>run started</th><th>headline findings</th></tr>"
                   + "".join(rows) + "</table>") if rows else "<p>No successful run yet.</p>"
    run_rows = []
    for run in runs:
        cells = []
        for entry in run.get("notebooks", []):
            if entry.get("status") == "succeeded":
                cells.append(f"<li class=\"ok\"><a href=\"{_e(run['run_id'])}/{_e(entry['html'])}\">"
                             f"{_e(entry['notebook'])}</a> ({entry.get('duration_s', 0):.0f} s)</li>")
            else:
                error = entry.get("error") or entry.get("status")
                cells.append(f"<li class=\"failed\">{_e(entry['notebook'])}: {_e(entry.get('status'))}"
                             f" &mdash; {_e(error)}</li>")
        status = run.get("status", "unknown")
        css = "ok" if status == "succeeded" else "failed"
        run_rows.append(f"<tr><td>{_e(run['run_id'])}</td><td>{_e(run['started_at'])}</td>"
                        f"<td class=\"{css}\">{_e(status)}</td><td><ul>{''.join(cells)}</ul></td></tr>")
    return (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Workbench reports</title>"
        f"<style>{_CSS}</style></head><body><h1>Customer-service workbench: reports</h1>"
        "<h2>Latest good report of each notebook</h2>" + latest_html +
        "<h2>All runs, newest first</h2><table><tr><th>run</th><th>started (UTC)</th><th>status</th>"
        "<th>notebooks</th></tr>" + "".join(run_rows) + "</table></body></html>"
    )


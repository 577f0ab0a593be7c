"""HTML for readers: one report per executed notebook, and the index of runs.

Reports hide the code (unless asked) and papermill's injected-parameters cell, embed the
figures (they are inline PNG outputs already), and open with a header giving the parameters,
the data fingerprint, the code version and the time of the run, then the key findings and a
table of contents of the notebook's ``##`` sections.

A report is self-contained: it loads no script, stylesheet, font or image from another host,
so it reads the same offline, behind a proxy or as an e-mail attachment. nbconvert's ``lab``
template would pull require.js, MathJax and mermaid from a CDN; `_TEMPLATE` extends it with
those blocks emptied (the notebooks use no LaTeX or mermaid, and no widgets), and
`strip_remote` then drops any remote ``<script src>``, ``<link href>``, ``@import`` or
``<img src>`` a notebook's own markdown or HTML output might carry.
"""
from __future__ import annotations

import copy
import html
import re

import nbformat
from jinja2 import DictLoader
from nbconvert import HTMLExporter

from ..findings import Finding, read_findings

# the lab template without its CDN scripts (require.js, MathJax, mermaid, widgets)
_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""
_REMOTE = r"""(?:https?:)?//"""
_REMOTE_TAG = re.compile(rf"""<script\b[^>]*\bsrc\s*=\s*["']?{_REMOTE}[^>]*>.*?</script\s*>"""
                         rf"""|<link\b[^>]*\bhref\s*=\s*["']?{_REMOTE}[^>]*>""", re.I | re.S)
_REMOTE_IMG = re.compile(rf"""<img\b[^>]*\bsrc\s*=\s*["']?({_REMOTE}[^"'\s>]*)[^>]*>""", re.I)
_REMOTE_IMPORT = re.compile(rf"""@import\s+(?:url\()?\s*["']?{_REMOTE}[^;]*;?""", re.I)

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


def strip_remote(page: str) -> str:
    """Drop everything in ``page`` that a browser would fetch from another host.

    Remote ``<script src>`` and ``<link href>`` tags and CSS ``@import`` rules are removed; a
    remote ``<img>`` becomes a plain link to it. Hyperlinks (``<a href>``) stay: a reader clicks
    them, the browser does not fetch them.

    Example
    -------
    >>> strip_remote('<script src="https://cdn.example/x.js"></script><img src="http://h/a.png"><p>k</p>')
    '<a href="http://h/a.png">[image not embedded: http://h/a.png]</a><p>k</p>'
    """
    page = _REMOTE_TAG.sub("", page)
    page = _REMOTE_IMPORT.sub("", page)
    return _REMOTE_IMG.sub(lambda m: f'<a href="{m[1]}">[image not embedded: {m[1]}]</a>', page)


def findings_html(findings: list[dict]) -> str:
    """The "Key findings" block: one line per recorded finding, in the order recorded."""
    if not findings:
        return ""
    items = "".join(f"<li>{_e(_finding_text(f))}</li>" for f in findings)
    return (f'<div class="wb-findings" id="key-findings" style="border-left:4px solid #1b5e20;padding:.2rem 1rem;'
            f'margin-bottom:1rem"><h2>Key findings</h2><ul>{items}</ul></div>')


def _section_anchors(nb) -> list[tuple[str, str]]:
    """Give every ``##`` heading of the markdown cells an anchor; return (anchor, heading) pairs."""
    sections = []
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        lines = cell.source.splitlines()
        for i, line in enumerate(lines):
            if line.startswith("## "):
                anchor = f"section-{len(sections) + 1}"
                sections.append((anchor, line[3:].strip()))
                lines[i] = f'<a id="{anchor}"></a>\n\n{line}'
        cell.source = "\n".join(lines)
    return sections


def toc_html(sections: list[tuple[str, str]]) -> str:
    """A table of contents linking to the anchors made by `_section_anchors`."""
    if not sections:
        return ""
    items = "".join(f'<li><a href="#{_e(a)}">{_e(title)}</a></li>' for a, title in sections)
    return f'<nav class="wb-toc"><h2>Contents</h2><ol>{items}</ol></nav>'


def _title(nb, default: str) -> str:
    return next((line.lstrip("# ").strip() for c in nb.cells if c.cell_type == "markdown"
                 for line in c.source.splitlines() if line.startswith("# ")), default)


def render_report(executed, entry: dict, run: dict, *, show_code: bool = False) -> str:
    """Shareable, self-contained HTML of an executed notebook.

    Parameters
    ----------
    executed : nbformat.NotebookNode
        The executed notebook.
    entry : dict
        Its manifest entry (notebook, parameters, data).
    run : dict
        The run's manifest (run_id, started_at, code).
    show_code : bool
        Include the code cells; by default readers see only text, tables and figures.

    Returns
    -------
    str
        The page: title, provenance header, key findings, contents, then the sections. The
        parameters cells (the notebook's defaults and papermill's injected values) are never
        shown; the values used are in the header.
    """
    nb = copy.deepcopy(executed)
    nb.cells = [c for c in nb.cells
                if not {"parameters", "injected-parameters"} & set(c.get("metadata", {}).get("tags", []))]
    sections = _section_anchors(nb)
    titled = bool(nb.cells) and nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    top = header_html(entry, run) + findings_html(read_findings(executed)) + toc_html(sections)
    nb.cells.insert(1 if titled else 0, nbformat.v4.new_markdown_cell(top))
    exporter = HTMLExporter(extra_loaders=[DictLoader({"wb_share.html.j2": _TEMPLATE})],
                            template_file="wb_share.html.j2", exclude_input=not show_code,
                            exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": _title(nb, entry["notebook"])}})
    return strip_remote(body)


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


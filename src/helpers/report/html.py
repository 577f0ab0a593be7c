"""HTML for readers: one report per executed notebook (the index of runs is `helpers.report.index`).

Reports hide the code (unless asked) and papermill's injected-parameters cell, embed the
figures (they are inline PNG outputs already), and open with the answers ("What the data
say"), the key findings, a header giving the parameters, the data fingerprint, the code
version and the time of the run, and a table of contents of the notebook's ``##`` sections;
every recorded finding closes the page in one collapsed table.

A report is self-contained: it loads no script, stylesheet, font or image from another host,
so it reads the same offline, behind a proxy or as an e-mail attachment. nbconvert's ``lab``
template would pull require.js, MathJax and mermaid from a CDN; `_TEMPLATE` extends it with
those blocks emptied (the notebooks use no LaTeX or mermaid, and no widgets), and
`strip_remote` then drops any remote ``<script src>``, ``<link href>``, ``@import`` or
``<img src>`` a notebook's own markdown or HTML output might carry.

A report is also safe to open: it runs no script (the template writes none). Every string from the
data is escaped where a notebook puts it into Markdown (`helpers.findings.escape_md`) and pandas
escapes its tables; as a last line of defence `sanitize_html` (bleach, an allow-list of tags,
attributes, CSS properties and URL schemes) cleans every markdown cell and HTML or Markdown
output as nbconvert renders it, and `render_report` refuses a page that `script_free` still
finds a problem in.
"""
from __future__ import annotations

import copy
import functools
import html
import re
import threading
from html.parser import HTMLParser

import bleach
import nbformat
from bleach.css_sanitizer import CSSSanitizer
from jinja2 import DictLoader
from nbconvert import HTMLExporter

from helpers.findings import ANSWER_MIME, FINDING_MIME, VERDICTS, Finding, read_answers, read_findings

# the lab template without its CDN scripts (require.js, MathJax, mermaid, widgets)
_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block extra_css -%}
<style>
.wb-table{border-collapse:collapse;margin:.6rem 0;font-size:.92em;max-width:100%}
.wb-table th,.wb-table td{border:1px solid #d5d5d5;padding:.25rem .55rem;text-align:right !important;
  vertical-align:top}
.wb-table th{background:#f3f3f3;font-weight:600}
.wb-table td:first-child,.wb-table th:first-child{text-align:left !important}
.jp-RenderedHTMLCommon .wb-table{table-layout:auto}
.wb-answers{border-left:5px solid #1a4f8b;background:#f5f8fc;padding:.4rem 1.2rem;margin:0 0 1rem 0}
.wb-answers dt{font-weight:600;margin-top:.6rem}.wb-answers dd{margin:.15rem 0 .3rem 0}
.wb-verdict{display:inline-block;border-radius:3px;padding:0 .4rem;margin-right:.4rem;font-size:.85em;
  font-weight:700;text-transform:uppercase;letter-spacing:.03em}
.wb-supported{background:#d8f0dc;color:#15552a}.wb-contradicted{background:#fbe0e0;color:#8a1616}
.wb-inconclusive{background:#eee;color:#444}
.wb-caption{color:#444;font-size:.92em;margin-top:.2rem}
.wb-key li{margin:.15rem 0}
</style>
{%- endblock extra_css -%}
"""
_REMOTE = r"""(?:https?:)?//"""
_REMOTE_TAG = re.compile(rf"""<script\b[^>]*\bsrc\s*=\s*["']?{_REMOTE}[^>]*>.*?</script\s*>"""
                         rf"""|<link\b[^>]*\bhref\s*=\s*["']?{_REMOTE}[^>]*>""", re.I | re.S)
_REMOTE_IMG = re.compile(rf"""<img\b[^>]*\bsrc\s*=\s*["']?({_REMOTE}[^"'\s>]*)[^>]*>""", re.I)
_REMOTE_IMPORT = re.compile(rf"""@import\s+(?:url\()?\s*["']?{_REMOTE}[^;]*;?""", re.I)


def _e(x) -> str:
    return html.escape(str(x), quote=True)


def _finding_text(item: dict) -> str:
    return Finding(**item).text()


def header_html(entry: dict, run: dict) -> str:
    """The provenance block under a report's answers: run, code, data and the parameters used."""
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


def _partial_html(entry: dict) -> str:
    """A banner naming the sections that failed: the rest of the report is complete, this part is not."""
    failed = entry.get("failed_sections") or []
    if not failed:
        return ""
    items = "".join(f"<li><b>{_e(s['name'])}</b>: {_e(s['reason'])}</li>" for s in failed)
    return (f'<div class="wb-partial" style="border:2px solid #b00;padding:.6rem 1rem;border-radius:6px;'
            f'margin-bottom:1rem"><p><b>Partial report.</b> {len(failed)} section{"s" * (len(failed) > 1)} failed; '
            f"every other section is complete. This report does not replace the last complete one.</p>"
            f"<ul>{items}</ul></div>")


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


# ---- sanitizing: what a report may contain --------------------------------------------------
_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd", "del", "details", "div",
    "dl", "dt", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "nav",
    "ol", "p", "pre", "q", "s", "samp", "small", "span", "strong", "sub", "summary", "sup", "table", "tbody",
    "td", "tfoot", "th", "thead", "tr", "u", "ul", "var"})
_ATTRIBUTES = {
    "*": {"class", "id", "title", "style", "lang", "dir"}, "a": {"href", "name"},
    "img": {"src", "alt", "width", "height"}, "table": {"border"}, "td": {"colspan", "rowspan", "align", "valign"},
    "th": {"colspan", "rowspan", "align", "valign", "scope"}, "ol": {"start", "type"}, "details": {"open"},
    "col": {"span"}, "colgroup": {"span"}}
_CSS_PROPERTIES = frozenset({
    "background", "background-color", "border", "border-bottom", "border-collapse", "border-color",
    "border-left", "border-radius", "border-right", "border-top", "color", "font-size", "font-style",
    "font-weight", "margin", "margin-bottom", "margin-left", "margin-right", "margin-top", "max-width",
    "padding", "padding-bottom", "padding-left", "padding-right", "padding-top", "text-align",
    "vertical-align", "white-space", "width"})
_SHOWN_MIME = frozenset({"text/plain", "text/html", "text/markdown", "image/png", "image/jpeg"})
_RECORDS = frozenset({FINDING_MIME, ANSWER_MIME})  # the record cell's outputs: shown at the top and the end instead
_STYLE_BLOCK = re.compile(r"<style\b[^>]*>.*?</style\s*>", re.I | re.S)  # pandas' table CSS: the page has its own
_BAD_CSS = re.compile(r"url\s*\(|expression|script|@import|behaviou?r|binding|\\", re.I)
_DATA_IMAGE = re.compile(r"data:image/(?:png|jpeg|gif);base64,[a-z0-9+/=]*", re.I)
_UNSEEN = re.compile(r"[\x00-\x20\x7f-\xa0]+")  # what a browser ignores inside a URL
_SCHEME = re.compile(r"^([a-z][a-z0-9+.\-]*):")
_LINK_SCHEMES = ("http", "https", "mailto")


def _url(value: str) -> str:
    return _UNSEEN.sub("", value).lower()


def _safe_url(tag: str, name: str, value: str) -> bool:
    """An ``href`` to http(s), mailto, a ``#fragment`` or a relative path; an ``<img src>`` also data:image."""
    url = _url(value)
    if tag == "img" and name == "src" and _DATA_IMAGE.fullmatch(url):
        return True
    scheme = _SCHEME.match(url)
    return scheme is None or scheme[1] in _LINK_SCHEMES


def _allowed_attribute(tag: str, name: str, value: str) -> bool:
    if name.startswith("on") or name not in _ATTRIBUTES["*"] | _ATTRIBUTES.get(tag, set()):
        return False
    if name in ("href", "src"):
        return _safe_url(tag, name, value)
    return name != "style" or not _BAD_CSS.search(value)


def sanitize_html(fragment) -> str:
    """A piece of HTML with only the tags, attributes, CSS and URLs a report needs; anything else escaped.

    Allowed: text formatting, headings, lists, tables, ``<details>``, links to http(s), mailto or
    a ``#fragment``, images from ``data:image/png|jpeg|gif;base64``, ``class``/``id``/``style`` (a
    few layout properties, no ``url()``). Dropped: every ``on*=`` attribute, ``javascript:`` and
    other URL schemes, comments, ``<style>`` blocks (with their CSS). Any other tag (``<script>``,
    ``<iframe>``, ``<svg>``, ``<form>``...) is shown as text. `render_report` applies it, as
    nbconvert's ``clean_html`` filter, to every markdown cell and HTML or Markdown output.

    Example
    -------
    >>> sanitize_html('<p onclick="x()">a <img src=x onerror=alert(1)><a href="javascript:alert(2)">b</a></p>')
    '<p>a <img src="x"><a>b</a></p>'
    >>> sanitize_html('<script>alert(3)</script><b style="color:red;background:url(//t)">c</b>')
    '&lt;script&gt;alert(3)&lt;/script&gt;<b>c</b>'
    """
    fragment = fragment.decode() if isinstance(fragment, bytes) else str(fragment)
    cleaner = bleach.Cleaner(tags=_TAGS, attributes=_allowed_attribute, protocols={*_LINK_SCHEMES, "data"},
                             strip=False, strip_comments=True,
                             css_sanitizer=CSSSanitizer(allowed_css_properties=_CSS_PROPERTIES))
    return cleaner.clean(_STYLE_BLOCK.sub("", fragment))


def _exporter(show_code: bool = False) -> HTMLExporter:
    """nbconvert's lab template without its CDN scripts, sanitizing with `sanitize_html`.

    One per thread and setting: its first page compiles the templates (0.1 s), later ones reuse them.
    """
    return _exporter_for(show_code, threading.get_ident())


@functools.cache
def _exporter_for(show_code: bool, thread: int) -> HTMLExporter:
    # the filter looks `sanitize_html` up at each call, so that replacing it (the tests do) reaches a kept exporter
    return HTMLExporter(extra_loaders=[DictLoader({"wb_share.html.j2": _TEMPLATE})], template_file="wb_share.html.j2",
                        exclude_input=not show_code, exclude_input_prompt=True, exclude_output_prompt=True,
                        sanitize_html=True, filters={"clean_html": lambda fragment: sanitize_html(fragment)})


def _shown_outputs_only(nb) -> None:
    """Drop the outputs a report never shows as such (JavaScript, widgets, SVG...) and the widget state."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if "outputs" in cell:
            cell.outputs = [o for o in cell.outputs if not _RECORDS & set(o.get("data", {}))]
        for output in cell.get("outputs", []):
            if "data" in output:
                output["data"] = {k: v for k, v in output["data"].items() if k in _SHOWN_MIME}
        if "outputs" in cell:
            cell.outputs = [o for o in cell.outputs if "data" not in o or o["data"]]


# ---- the final check ---------------------------------------------------------------------------
_FORBIDDEN_TAGS = frozenset({"script", "iframe", "frame", "frameset", "object", "embed", "applet", "form", "base",
                             "link", "svg", "math", "portal"})
_URL_ATTRIBUTES = frozenset({"href", "src", "action", "formaction", "xlink:href", "data", "poster", "background",
                             "srcset", "cite", "longdesc", "lowsrc", "dynsrc", "ping", "codebase", "manifest",
                             "icon", "archive", "classid", "usemap"})
_BLOCK = re.compile(r"<(script|style)\b[^>]*>(.*?)</\1\s*>", re.I | re.S)
# the same rules on the raw text, in case a browser reads a tag otherwise than `_Scan` (e.g. in <svg>)
_RAW_FORBIDDEN = re.compile(rf"<\s*/?\s*(?:{'|'.join(sorted(_FORBIDDEN_TAGS | {'style'}))})\b", re.I)
_RAW_TAG = re.compile(r"""<[a-z](?:"[^"]*"|'[^']*'|[^"'>])*>?""", re.I)
_QUOTED = re.compile(r""""[^"]*"|'[^']*'""")
_RAW_IN_TAG = {"an event-handler attribute": re.compile(r"[\s\"'/]on[a-z]+\s*=", re.I),  # outside quotes
               "a script URL": re.compile(r"(?:java|vb|live)script\s*:", re.I),
               "a data:text URL": re.compile(r"data\s*:\s*text/", re.I),
               "a meta refresh": re.compile(r"^<meta\b.*http-equiv", re.I | re.S)}


def _raw_problems(raw: str) -> list[str]:
    problems = [f"a forbidden tag in the raw page: {m[0]!r}" for m in _RAW_FORBIDDEN.finditer(raw)]
    for tag in _RAW_TAG.finditer(raw):
        for what, pattern in _RAW_IN_TAG.items():
            text = _QUOTED.sub('""', tag[0]) if what == "an event-handler attribute" else tag[0]
            if pattern.search(text):
                problems.append(f"{what} in the raw page: {tag[0][:60]!r}")
    return problems


class _Scan(HTMLParser):
    """Every tag of a page, its problems, and the text of its ``<script>`` and ``<style>`` blocks."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.blocks: list[tuple[str, str]] = []
        self._open: tuple[str, list[str]] | None = None

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._open = (tag, [])
        if tag in _FORBIDDEN_TAGS - {"script"} or (tag == "meta" and any(n == "http-equiv" for n, _ in attrs)):
            self.problems.append(f"a <{tag}> tag")
        for name, value in attrs:
            value = value or ""
            shown = f"<{tag} {name}={value[:60]!r}>"
            if name.startswith("on"):
                self.problems.append(f"{shown}: an event-handler attribute")
            elif name in _URL_ATTRIBUTES and not (name in ("href", "src") and _safe_url(tag, name, value)):
                self.problems.append(f"{shown}: a URL other than http(s), mailto, #, a relative path or a data image")
            elif name == "style" and _BAD_CSS.search(value):
                self.problems.append(f"{shown}: CSS that can load or run something")

    def handle_data(self, data):
        if self._open is not None:
            self._open[1].append(data)

    def handle_endtag(self, tag):
        if self._open is not None and tag == self._open[0]:
            self.blocks.append((tag, "".join(self._open[1])))
            self._open = None

    def close(self):
        super().close()
        if self._open is not None:  # a block never closed runs to the end of the page
            self.handle_endtag(self._open[0])


@functools.cache
def _template_blocks() -> frozenset[tuple[str, str]]:
    """The ``<script>`` and ``<style>`` blocks the template itself writes (those of an empty notebook)."""
    page, _ = _exporter().from_notebook_node(nbformat.v4.new_notebook(), resources={"metadata": {"name": "x"}})
    scan = _Scan()
    scan.feed(page)
    scan.close()
    return frozenset(scan.blocks)


def script_free(page: str) -> list[str]:
    """What in a report page could run a script or load a page; empty when nothing could.

    A problem is: a ``<script>`` or ``<style>`` block that the template did not write (the lab
    template with its CDN blocks emptied writes its CSS in a few ``<style>`` blocks and no
    script); an ``on*=`` attribute; a ``javascript:``, ``vbscript:``, ``data:`` (but a
    ``data:image/png|jpeg|gif;base64`` image) or other non-http(s) URL; CSS with ``url()``,
    ``expression`` or ``@import`` in a ``style`` attribute; a ``<iframe>``, ``<object>``,
    ``<embed>``, ``<form>``, ``<base>``, ``<link>``, ``<svg>``, ``<math>`` or ``<meta http-equiv>``.
    The page is read twice: parsed (so entities and quotes are resolved), and as raw text.

    Example
    -------
    >>> script_free('<p>a &lt;script&gt; <a href="#x">b</a><img src="data:image/png;base64,AAAA"></p>')
    []
    >>> for problem in script_free('<img src=x onerror=alert(1)><a href="jav&#x61;script:alert(2)">b</a>'):
    ...     print(problem)
    <img onerror='alert(1)'>: an event-handler attribute
    <a href='javascript:alert(2)'>: a URL other than http(s), mailto, #, a relative path or a data image
    an event-handler attribute in the raw page: '<img src=x onerror=alert(1)>'
    """
    own = _template_blocks()
    scan = _Scan()
    scan.feed(page)
    scan.close()
    problems = scan.problems + [f"a <{tag}> block the template did not write: {text.strip()[:60]!r}"
                                for tag, text in scan.blocks if (tag, text) not in own]
    problems += _raw_problems(_BLOCK.sub(lambda m: "" if (m[1].lower(), m[2]) in own else m[0], page))
    return list(dict.fromkeys(problems))


def answers_html(answers: list[dict]) -> str:
    """The "What the data say" block a report opens with: each question, its verdict and its one-sentence answer."""
    items = []
    for a in answers:
        verdict = str(a.get("verdict") or "")
        badge = (f'<span class="wb-verdict wb-{_e(verdict)}">{_e(verdict)}</span>' if verdict in VERDICTS else "")
        items.append(f"<dt>{_e(a.get('question', ''))}</dt><dd>{badge}{_e(a.get('sentence', ''))}</dd>")
    if not items:
        return ""
    return f'<div class="wb-answers" id="answers"><h2>What the data say</h2><dl>{"".join(items)}</dl></div>'


def findings_html(findings: list[dict], most: int = 8) -> str:
    """The "Key findings" block: the findings marked key (else the first few), one line each."""
    key = [f for f in findings if f.get("key")] or findings[:most]
    if not key:
        return ""
    items = "".join(f"<li>{_e(_finding_text(f))}</li>" for f in key)
    return f'<div class="wb-findings wb-key" id="key-findings"><h2>Key findings</h2><ul>{items}</ul></div>'


def all_findings_html(findings: list[dict]) -> str:
    """Every recorded finding in one collapsed table, at the end of a report (they are all in the manifest too)."""
    if not findings:
        return ""
    rows = []
    for f in findings:
        text = _finding_text(f)
        shown = text.split(": ", 1)[1] if ": " in text else text
        rows.append(f"<tr><td>{_e(f.get('label') or f.get('name'))}</td><td>{_e(shown)}</td>"
                    f"<td><code>{_e(f.get('name'))}</code></td></tr>")
    return (f'<details class="wb-all-findings" id="all-findings"><summary>All {len(findings)} recorded findings'
            f'</summary><table class="wb-table"><thead><tr><th>finding</th><th>value and 95% interval</th>'
            f"<th>name in the manifest</th></tr></thead><tbody>{''.join(rows)}</tbody></table></details>")


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
        shown; the values used are in the header. Every markdown cell and HTML or Markdown output
        is cleaned by `sanitize_html`; JavaScript, widget and other outputs are dropped.

    Raises
    ------
    ValueError
        When `script_free` still finds a way to run a script in the page (no page is better
        than one that runs a script in its readers' browsers).
    """
    nb = copy.deepcopy(executed)
    nb.cells = [c for c in nb.cells
                if not {"parameters", "injected-parameters"} & set(c.get("metadata", {}).get("tags", []))]
    _shown_outputs_only(nb)
    sections = _section_anchors(nb)
    titled = bool(nb.cells) and nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    findings = read_findings(executed)
    top = (_partial_html(entry) + answers_html(read_answers(executed)) + findings_html(findings)
           + header_html(entry, run) + toc_html(sections))
    nb.cells.insert(1 if titled else 0, nbformat.v4.new_markdown_cell(top))
    nb.cells.append(nbformat.v4.new_markdown_cell(all_findings_html(findings)))
    title = _title(nb, entry["notebook"])
    body, _ = _exporter(show_code).from_notebook_node(nb, resources={"metadata": {"name": title}})
    page = strip_remote(body)
    problems = script_free(page)
    if problems:  # fail closed: no report rather than one that runs a script in its readers' browsers
        raise ValueError(f"the report of {entry['notebook']} could still run a script after sanitizing: "
                         + "; ".join(problems[:5]))
    return page

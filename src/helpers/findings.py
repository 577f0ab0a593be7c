"""Headline results that a notebook records for the report index, the manifest and the tests.

A notebook calls `record` for each headline number. Inside a kernel the finding is shown as
a one-line summary and carried in the cell output under the MIME type ``FINDING_MIME``; the
report runner reads it back from the executed notebook with `read_findings`. No scrapbook.

The words around the numbers come from the data too: `slug` makes a finding name of a label,
and `escape_md` makes any data-derived string safe to put into the Markdown a report shows.
"""
from __future__ import annotations

import html
import math
import re
from dataclasses import asdict, dataclass

FINDING_MIME = "application/vnd.workbench.finding+json"
ANSWER_MIME = "application/vnd.workbench.answer+json"
VERDICTS = ("supported", "contradicted", "inconclusive")  # what an answer may say of a claim (or nothing)
NOT_REACHED = "not reached"  # how a missing bound of an interval reads
_ROUNDING = 1e-9  # relative: a value this close outside its interval is on its bound (float rounding)
_NAME = re.compile(r"^[a-z][a-z0-9_.\-]*$")
# `escape_md`, in one pass so that the '#' and ';' of an entity are never escaped again
_MD_ESCAPES = str.maketrans({
    **{c: "\\" + c for c in "\\`*_{}[]()#+-!|~$:"},  # Markdown: emphasis, code, links (and bare URLs),
    # images, headings, lists, tables, math
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",  # HTML
})
_LINE_BREAK = re.compile(r"[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]+")
_LIST_NUMBER = re.compile(r"^(\d+)\.(?=\s|$)")  # "1. x" at the start of a line would make a numbered list


@dataclass(frozen=True)
class Finding:
    """One recorded result: a number (with an optional interval) or a short verdict."""

    name: str
    value: float | str
    ci_low: float | None = None
    ci_high: float | None = None
    unit: str = ""
    label: str = ""
    key: bool = False  # one of the handful a report shows under its answers

    def text(self) -> str:
        """``label: value [low, high] unit``; shares as percentages, whole numbers with separators.

        A ``share`` reads in percent, a ``pp`` (a difference of shares) in signed percentage
        points, a ``p`` (p-value) as "< 0.001" below that. A bound the data cannot give (a median's
        upper limit when the curve never falls that far) reads "not reached".

        >>> Finding("x", -0.042, -0.071, -0.013, unit="pp", label="Churn").text()
        'Churn: -4.2 [-7.1, -1.3] pp'
        >>> Finding("p", 1e-12, unit="p", label="Log-rank p-value").text()
        'Log-rank p-value: < 0.001'
        >>> Finding("rmst", 18.004, 17.98, 18.03, unit="months", label="Mean tenure").text()
        'Mean tenure: 18.00 [17.98, 18.03] months'
        """
        name = self.label or self.name
        if isinstance(self.value, str):
            return f"{name}: {self.value}"
        fmt = {"share": lambda x: _fmt(x, share=True), "pp": _points, "p": _p}.get(self.unit, _fmt)
        if fmt is _fmt:
            from helpers.tables import digits_apart, fixed  # as many digits as keep the bounds apart
            digits = digits_apart(self.ci_low, self.ci_high)
            if digits > 3:
                fmt = lambda x: fixed(x, digits=digits)  # noqa: E731
        bound = lambda x: NOT_REACHED if x is None else fmt(x)  # noqa: E731
        ci = f" [{bound(self.ci_low)}, {bound(self.ci_high)}]" if (self.ci_low, self.ci_high) != (None, None) else ""
        unit = {"share": "", "p": "", "pp": " pp"}.get(self.unit, f" {self.unit}" if self.unit else "")
        return f"{name}: {fmt(self.value)}{ci}{unit}"


def _points(x: float) -> str:
    from helpers.tables import number

    return number(100 * x)


def _p(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.2g}"


def _fmt(x: float, share: bool = False) -> str:
    """Three significant digits, never e-notation (as the report's tables); whole numbers with separators."""
    from helpers.tables import fixed, number  # here: helpers.tables imports pandas, the runner's path need not

    if share:
        return f"{number(100 * x)}%"
    if float(x).is_integer() and abs(x) < 1e15:
        return f"{int(x):,}"
    return fixed(x)


def _number(x, what: str, name: str) -> float:
    try:
        x = float(x)
    except (TypeError, ValueError):
        raise TypeError(f"finding {name!r}: {what} must be a number, got {x!r}") from None
    if not math.isfinite(x):
        raise ValueError(f"finding {name!r}: {what} is {x}; record only finite numbers")
    return x


def slug(text) -> str:
    """A finding-name piece from any label: ``"month-to-month"`` -> ``"month-to-month"``,
    ``"customer_type[group]"`` -> ``"customer_type.group"``, ``"At par, high value"`` -> ``"at_par_high_value"``."""
    text = re.sub(r"\[(.*?)\]", r".\1", str(text).strip().lower())
    return re.sub(r"[^a-z0-9_.\-]+", "_", text).strip("_.") or "x"


def escape_md(value) -> str:
    """``value`` as Markdown text that renders as exactly that text: no tag, link, image or emphasis.

    A notebook builds its sentences as Markdown, and a report shared by mail shows them as HTML:
    an arm named ``<img src=x onerror=alert(1)>`` put into ``Markdown(f"...{arm}...")`` as it is
    would run its script in every reader's browser. Here HTML-special characters become entities
    (``< > & " '``); the characters with which Markdown makes emphasis, code, links, images,
    headings, lists, tables or math get a backslash (``\\ ` * _ { } [ ] ( ) # + - ! | ~ $ :``,
    the colon so that no URL becomes a link), and so is the dot of a leading ``1.`` (a numbered
    list); line breaks become spaces, so a value stays inside the sentence it was put in, and
    leading blanks are dropped (at the start of a line they make a code block; HTML does not show
    them). Use it on every data-derived string (a data value, a segment label, a column name, a
    file name, a parameter value, or a helper's sentence naming them) where it enters Markdown,
    never on the Markdown the notebook itself writes; not inside a code span (between backticks
    an entity shows as typed).

    Parameters
    ----------
    value : object
        Anything; it is shown as ``str(value)``.

    Returns
    -------
    str

    Example
    -------
    >>> escape_md("<img src=x onerror=alert(1)>")
    '&lt;img src=x onerror=alert\\\\(1\\\\)&gt;'
    >>> print(escape_md("[x](javascript:alert(3)) *month-to-month* R&D"))
    \\[x\\]\\(javascript\\:alert\\(3\\)\\) \\*month\\-to\\-month\\* R&amp;D
    """
    text = _LINE_BREAK.sub(" ", str(value)).lstrip().translate(_MD_ESCAPES)
    return _LIST_NUMBER.sub(r"\1\\.", text)


def make_finding(name: str, value, ci=None, *, unit: str = "", label: str = "", key: bool = False) -> Finding:
    """Check and build a `Finding` (see `record` for the arguments)."""
    if not _NAME.match(name):
        raise ValueError(f"finding name {name!r}: use lower-case letters, digits, '_', '.' or '-'")
    if isinstance(value, str):
        if ci is not None:
            raise ValueError(f"finding {name!r}: a verdict ({value!r}) takes no interval")
        return Finding(name, value, unit=unit, label=label, key=key)
    value = _number(value, "the value", name)
    if ci is None:
        return Finding(name, value, unit=unit, label=label, key=key)
    low, high = (None if _missing(v) else _number(v, "the interval", name) for v in ci)
    slack = _ROUNDING * max(1.0, abs(value))
    if low is not None and low - slack <= value < low:
        low = value
    if high is not None and high < value <= high + slack:
        high = value
    if (low is not None and value < low) or (high is not None and value > high):
        shown = ", ".join(NOT_REACHED if b is None else f"{b:.4g}" for b in (low, high))
        raise ValueError(f"finding {name!r}: value {value:.4g} lies outside its interval [{shown}]")
    return Finding(name, value, low, high, unit, label, key)


def _missing(bound) -> bool:
    """A bound the estimator could not give: None or NaN (a median whose upper limit is not reached)."""
    if bound is None:
        return True
    try:
        return not isinstance(bound, str) and math.isnan(float(bound))
    except (TypeError, ValueError):
        return False  # not a number: `_number` says so


def record(name: str, value, ci=None, *, unit: str = "", label: str = "", key: bool = False) -> Finding:
    """Record a headline result in the running notebook.

    Parameters
    ----------
    name : str
        Stable key, lower case (``churn_rate``, ``hr.customer_type.group``).
    value : float or str
        The estimate, or a short verdict such as ``"supported"``.
    ci : (float, float), optional
        Confidence interval; it must contain the value (a value off its bound by float rounding
        only is put on the bound). A bound that is None or NaN is one the data cannot give (a
        median whose upper limit is not reached): it is kept as None and reads "not reached".
    unit : str
        Unit for readers (``"share"``, ``"months"``).
    label : str
        One line for readers (``"Churn rate over the window"``).
    key : bool
        One of the handful of key findings a report shows under its answers.

    Returns
    -------
    Finding

    Example
    -------
    >>> record("churn_rate", 0.265, (0.255, 0.276), unit="share", label="Churn rate").text()
    'Churn rate: 26.5% [25.5%, 27.6%]'
    """
    finding = make_finding(name, value, ci, unit=unit, label=label, key=key)
    _show({
        "text/plain": finding.text(),
        "text/html": f'<p class="wb-finding"><b>{html.escape(finding.label or finding.name)}</b>: '
                     f"{html.escape(finding.text().split(': ', 1)[1])}</p>",
        FINDING_MIME: asdict(finding),
    })
    return finding


def _show(bundle: dict) -> None:
    """Display a raw MIME bundle when running in a kernel (not in a terminal or a plain script)."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython ships with ipykernel
        return
    shell = get_ipython()
    if shell is not None and type(shell).__name__ != "TerminalInteractiveShell":
        display(bundle, raw=True)


@dataclass(frozen=True)
class Answer:
    """A question a notebook exists for, answered in one plain sentence, with a verdict where one applies.

    ``question`` and the verdict are the step's own words; ``sentence`` may carry data-derived
    text (a segment's label) and is escaped wherever it is shown. ``finding`` names the finding
    it rests on (the number and interval of the sentence), so an index or a diff can follow it.
    """

    name: str
    question: str
    sentence: str
    verdict: str = ""
    finding: str = ""
    p: float | None = None  # the two-sided p-value the verdict rests on, where there is one

    def text(self) -> str:
        verdict = f" [{self.verdict}]" if self.verdict else ""
        return f"{self.question} {self.sentence}{verdict}"


def make_answer(name: str, question: str, sentence: str, *, verdict: str = "", finding: str = "",
                p: float | None = None) -> Answer:
    """Check and build an `Answer`: a finding-style name, a question, a sentence, a verdict of `VERDICTS` or none."""
    if not _NAME.match(name):
        raise ValueError(f"answer name {name!r}: use lower-case letters, digits, '_', '.' or '-'")
    if verdict and verdict not in VERDICTS:
        raise ValueError(f"answer {name!r}: verdict {verdict!r} is not one of {', '.join(VERDICTS)}")
    if not str(question).strip() or not str(sentence).strip():
        raise ValueError(f"answer {name!r}: a question and a sentence are both needed")
    if p is not None and not (_missing(p) or 0 <= float(p) <= 1):
        raise ValueError(f"answer {name!r}: p-value {p!r} is not between 0 and 1")
    return Answer(name, str(question), str(sentence), verdict, finding, None if _missing(p) else float(p))


def record_answer(answer: Answer) -> Answer:
    """Show an answer in the running notebook, carried under ``ANSWER_MIME`` for the report and the manifest."""
    _show({"text/plain": answer.text(), ANSWER_MIME: asdict(answer)})
    return answer


def read_answers(notebook) -> list[dict]:
    """Every answer recorded in an executed notebook, in cell order (a name recorded twice keeps its last)."""
    return read_outputs(notebook, ANSWER_MIME)


def verdict(low, high, *, null: float = 0.0, direction: int = 1) -> str:
    """The verdict on a claim that the effect is above ``null`` (``direction=1``) or below it (``-1``).

    Supported when the interval lies wholly on the claimed side, contradicted when it lies
    wholly on the other side, inconclusive when it contains ``null`` (or a bound is missing).

    >>> verdict(0.1, 0.4), verdict(-0.4, -0.1), verdict(-0.1, 0.4), verdict(0.7, 0.9, null=1, direction=-1)
    ('supported', 'contradicted', 'inconclusive', 'supported')
    """
    if _missing(low) or _missing(high):
        return "inconclusive"
    low, high = (float(low) - null) * direction, (float(high) - null) * direction
    low, high = min(low, high), max(low, high)
    if low > 0:
        return "supported"
    if high < 0:
        return "contradicted"
    return "inconclusive"


def read_outputs(notebook, mime: str) -> list[dict]:
    """The payloads an executed notebook (an nbformat node) carries under ``mime``, in cell order.

    Each payload is a mapping with a ``name``; a name seen twice keeps its last payload.
    """
    found: dict[str, dict] = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if mime in data:
                item = dict(data[mime])
                found[str(item.get("name"))] = item
    return list(found.values())


def read_findings(notebook) -> list[dict]:
    """Every finding recorded in an executed notebook, in cell order; a name recorded twice keeps its last value."""
    return read_outputs(notebook, FINDING_MIME)

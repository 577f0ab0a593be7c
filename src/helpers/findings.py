"""Headline results that a notebook records for the report index, the manifest and the tests.

A notebook calls `record` for each headline number. Inside a kernel the finding is shown as
a one-line summary and carried in the cell output under the MIME type ``FINDING_MIME``; the
report runner reads it back from the executed notebook with `read_findings`. No scrapbook.
"""
from __future__ import annotations

import html
import math
import re
from dataclasses import asdict, dataclass

FINDING_MIME = "application/vnd.workbench.finding+json"
_NAME = re.compile(r"^[a-z][a-z0-9_.\-]*$")


@dataclass(frozen=True)
class Finding:
    """One recorded result: a number (with an optional interval) or a short verdict."""

    name: str
    value: float | str
    ci_low: float | None = None
    ci_high: float | None = None
    unit: str = ""
    label: str = ""

    def text(self) -> str:
        """``label: value [low, high] unit``; shares as percentages, whole numbers with separators."""
        share = self.unit == "share"
        value = self.value if isinstance(self.value, str) else _fmt(self.value, share)
        ci = f" [{_fmt(self.ci_low, share)}, {_fmt(self.ci_high, share)}]" if self.ci_low is not None else ""
        unit = f" {self.unit}" if self.unit and not share else ""
        return f"{self.label or self.name}: {value}{ci}{unit}"


def _fmt(x: float, share: bool = False) -> str:
    if share:
        return f"{100 * x:.3g}%"
    if float(x).is_integer() and abs(x) < 1e15:
        return f"{int(x):,}"
    if abs(x) >= 1e4:
        return f"{x:,.0f}"
    return f"{x:.4g}"


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


def make_finding(name: str, value, ci=None, *, unit: str = "", label: str = "") -> Finding:
    """Check and build a `Finding` (see `record` for the arguments)."""
    if not _NAME.match(name):
        raise ValueError(f"finding name {name!r}: use lower-case letters, digits, '_', '.' or '-'")
    if isinstance(value, str):
        if ci is not None:
            raise ValueError(f"finding {name!r}: a verdict ({value!r}) takes no interval")
        return Finding(name, value, unit=unit, label=label)
    value = _number(value, "the value", name)
    if ci is None:
        return Finding(name, value, unit=unit, label=label)
    low, high = (_number(v, "the interval", name) for v in ci)
    if not low <= value <= high:
        raise ValueError(f"finding {name!r}: value {value:.4g} lies outside its interval [{low:.4g}, {high:.4g}]")
    return Finding(name, value, low, high, unit, label)


def record(name: str, value, ci=None, *, unit: str = "", label: str = "") -> Finding:
    """Record a headline result in the running notebook.

    Parameters
    ----------
    name : str
        Stable key, lower case (``churn_rate``, ``hr.customer_type.group``).
    value : float or str
        The estimate, or a short verdict such as ``"supported"``.
    ci : (float, float), optional
        Confidence interval; it must contain the value.
    unit : str
        Unit for readers (``"share"``, ``"months"``).
    label : str
        One line for readers (``"Churn rate over the window"``).

    Returns
    -------
    Finding

    Example
    -------
    >>> record("churn_rate", 0.265, (0.255, 0.276), unit="share", label="Churn rate").text()
    'Churn rate: 26.5% [25.5%, 27.6%]'
    """
    finding = make_finding(name, value, ci, unit=unit, label=label)
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython ships with ipykernel
        return finding
    if get_ipython() is not None and type(get_ipython()).__name__ != "TerminalInteractiveShell":
        bundle = {
            "text/plain": finding.text(),
            "text/html": f'<p class="wb-finding"><b>{html.escape(finding.label or finding.name)}</b>: '
                         f"{html.escape(finding.text().split(': ', 1)[1])}</p>",
            FINDING_MIME: asdict(finding),
        }
        display(bundle, raw=True)
    return finding


def read_findings(notebook) -> list[dict]:
    """Every finding recorded in an executed notebook (an nbformat node), in cell order.

    A name recorded twice keeps its last value.
    """
    found: dict[str, dict] = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if FINDING_MIME in data:
                item = dict(data[FINDING_MIME])
                found[item["name"]] = item
    return list(found.values())

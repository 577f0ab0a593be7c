"""A notebook section as a result: what it shows, what it found, or why it was skipped or failed.

Every step of a notebook is a function decorated with `step`. It returns a `Section` (its
figures, tables and sentences in the order a reader sees them, its findings, and a ``value``
the later steps may use), or raises `Skip` with one line saying why it cannot be computed on
these data. Any other exception is caught by the same decorator: the section is shown as
failed (error type and message; the traceback goes to the cell's stderr, so it stays in the
executed notebook), and the notebook goes on with the next section. The report runner reads
the status of every section back from the executed notebook (`read_sections`): a notebook with
a failed section is a *partial* run, never a complete report.

A section displays itself (``_ipython_display_``), so a notebook cell is one call::

    by_segment = steps.churn.by_segment(data, segment=SEGMENT_BY, horizon=HORIZON_MONTHS)
    by_segment

The environment variable ``WORKBENCH_FAIL_SECTION`` names sections (comma separated, ``*`` for
all) that raise an injected error when they start: the tests use it to prove that one failing
section leaves the rest of each report intact.
"""
from __future__ import annotations

import functools
import html
import itertools
import os
import sys
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from helpers.findings import (
    Answer,
    Finding,
    escape_md,
    make_answer,
    make_finding,
    read_outputs,
    record,
    record_answer,
    slug,
)
from helpers.tables import Table

SECTION_MIME = "application/vnd.workbench.section+json"
FAIL_ENV = "WORKBENCH_FAIL_SECTION"
OK, SKIPPED, FAILED = "ok", "skipped", "failed"


class Skip(Exception):  # noqa: N818 - a signal, not an error: the section cannot be computed on these data
    """Raised by a step: the section is skipped; the message is the one line a reader sees."""


class InjectedFailure(RuntimeError):
    """The error a section raises when ``WORKBENCH_FAIL_SECTION`` names it (tests only)."""


@dataclass
class Section:
    """What one notebook section shows and found.

    ``parts`` are shown in order: a matplotlib Figure (or Axes) with its numbered caption, a
    `helpers.tables.Table` (a DataFrame formatted for people), or text. Text is data-derived
    and escaped when shown; `Section.lead` adds a bold lead-in written by the step itself.
    ``findings`` are `helpers.findings.Finding`s, checked when they are added, so a NaN interval
    fails its own section, not the record cell; ``answers`` are the plain-sentence answers a
    report opens with. ``value`` is what later steps take from this one (a fitted model, a table).
    """

    name: str = ""
    status: str = OK
    parts: list = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    value: Any = None
    reason: str = ""
    answers: list[Answer] = field(default_factory=list)

    # ---- building ------------------------------------------------------------------------------------
    def figure(self, ax_or_fig, caption: str = "") -> Section:
        """Keep a figure (a Figure, an Axes or an array of Axes) to show with the section, under a numbered caption.

        ``caption`` says what to read from the figure (the step's own words; escaped when shown).
        The figure is closed now, so that the inline backend does not show it a second time.
        """
        import matplotlib.pyplot as plt

        from helpers import plots  # here: the runner reads sections without loading matplotlib

        if hasattr(ax_or_fig, "flat"):  # plt.subplots' array of Axes
            ax_or_fig = ax_or_fig.flat[0]
        fig = getattr(ax_or_fig, "figure", ax_or_fig)

        plt.close(fig)
        self.parts.append(fig)
        said = caption or plots.caption_of(fig)  # the step's words, else the plot's own "how to read it"
        self.parts.append(_Text(said, lead=f"Figure {next(_FIGURES)}.", caption=True))
        return self

    def table(self, frame, **how) -> Section:
        """Keep a table: a DataFrame shown through `helpers.tables.Table` (``how``: its labels, percent, units...)."""
        self.parts.append(frame if isinstance(frame, Table) else Table(frame, **how))
        return self

    def text(self, *sentences: str) -> Section:
        """Sentences from the data or a helper: shown escaped; empty ones are dropped, repeats shown once."""
        self.parts.extend(_Text(s) for s in sentences if s)
        return self

    def answer(self, name: str, question: str, sentence: str, *, verdict: str = "", finding: str = "",
               p: float | None = None) -> Section:
        """Answer one of the notebook's questions in a plain sentence (see `helpers.findings.Answer`)."""
        self.answers.append(make_answer(name, question, sentence, verdict=verdict, finding=finding, p=p))
        return self

    def pipe(self, fn: Callable[..., Section], *args, **kwargs) -> Section:
        """``fn(self, *args, **kwargs)``: a shared part (the data-quality block, say) added in a chain."""
        return fn(self, *args, **kwargs)

    @property
    def frames(self) -> list:
        """The DataFrames the section shows, as data (the formatted tables are what readers see)."""
        return [p.frame for p in self.parts if isinstance(p, Table)]

    def lead(self, bold: str, sentence: str = "") -> Section:
        """``**bold** sentence``: ``bold`` is the step's own words (not escaped), ``sentence`` is escaped."""
        self.parts.append(_Text(sentence, lead=bold))
        return self

    def find(self, name: str, value, ci=None, *, unit: str = "", label: str = "", key: bool = False) -> Section:
        """Add a finding (checked now; see `helpers.findings.record` for the arguments)."""
        self.findings.append(make_finding(name, value, ci, unit=unit, label=label, key=key))
        return self

    def find_rows(self, frame, name: str, *, value: str, ci: tuple[str, str] | None = None, unit: str = "",
                  label: str = "", where: Callable | None = None, key: bool = False) -> Section:
        """One finding per row of ``frame``: ``name`` and ``label`` are formatted with the row's fields.

        In ``name`` every field is passed through `helpers.findings.slug` (``"hr.{term}"`` ->
        ``hr.customer_type.group``); in ``label`` fields are shown as they are. Rows for which
        ``where(row)`` is false are skipped.
        """
        for _, row in frame.iterrows():
            if where is not None and not where(row):
                continue
            fields = {str(k): v for k, v in row.items()}
            interval = None if ci is None else (row[ci[0]], row[ci[1]])
            self.find(name.format(**{k: slug(v) for k, v in fields.items()}), row[value], interval, unit=unit,
                      label=label.format(**fields), key=key)
        return self

    # ---- showing ---------------------------------------------------------------------------------
    def status_bundle(self) -> dict:
        return {"name": self.name, "status": self.status, "reason": self.reason}

    def _ipython_display_(self) -> None:
        from IPython.display import Markdown, display

        display({"text/plain": f"[section {self.name}: {self.status}]",
                 "text/html": f'<span class="wb-section" data-status="{html.escape(self.status)}"></span>',
                 SECTION_MIME: self.status_bundle()}, raw=True)
        if self.status == SKIPPED:
            display(Markdown(f"**Skipped.** {escape_md(self.reason)}"))
            return
        if self.status == FAILED:
            display(Markdown(f"**This section failed.** {escape_md(self.reason)} The other sections are complete; "
                             "the traceback is in the executed notebook."))
            return
        for part in _deduplicated(self.parts):
            display(Markdown(part.markdown()) if isinstance(part, _Text) else part)

    def __repr__(self) -> str:
        return f"Section({self.name!r}, {self.status}{': ' + self.reason if self.reason else ''})"


@dataclass(frozen=True)
class _Text:
    sentence: str
    lead: str = ""
    caption: bool = False
    times: int = 1

    def markdown(self) -> str:
        if self.caption:  # raw HTML, where Markdown is not read: escaped as HTML
            return f'<p class="wb-caption"><b>{html.escape(self.lead)}</b> {html.escape(self.sentence)}</p>'
        text = escape_md(self.sentence) + (f" (said {self.times} times in this section.)" if self.times > 1 else "")
        return " ".join(p for p in (f"**{self.lead}**" if self.lead else "", text) if p)


_FIGURES = itertools.count(1)  # figure numbers, in the order the figures are made in this kernel


def _deduplicated(parts: list) -> list:
    """The parts with a sentence said again (the same note for five tables) shown once, with its count."""
    seen: dict[tuple, int] = {}
    out: list = []
    for part in parts:
        if isinstance(part, _Text) and not part.caption:
            key = (part.lead, part.sentence)
            if key in seen:
                i = seen[key]
                out[i] = _Text(part.sentence, part.lead, times=out[i].times + 1)
                continue
            seen[key] = len(out)
        out.append(part)
    return out


def _injected(name: str) -> bool:
    wanted = {n.strip() for n in os.environ.get(FAIL_ENV, "").split(",") if n.strip()}
    return "*" in wanted or name in wanted


def step(name: str | Callable[..., str], asks=()) -> Callable:
    """Decorate a step function: its `Section` gets ``name``; `Skip` and any other error become a result.

    The wrapped function returns a `Section` (or raises `Skip`). Whatever it raises, the call
    returns a `Section`: skipped with the `Skip` message, or failed with ``Type: message`` and the
    traceback printed to stderr. ``name`` may be a function of the call's arguments, for one step
    that makes several sections (one per segmentation, say).

    ``asks`` are the (answer name, question) pairs the step answers, or a function of the call's
    arguments giving them: when the section is skipped or fails, each question is still put to
    the reader, answered "not answered on these data" with the reason.
    """
    def decorate(fn: Callable[..., Section]) -> Callable[..., Section]:
        @functools.wraps(fn)
        def run(*args, **kwargs) -> Section:
            try:
                key = name if isinstance(name, str) else str(name(*args, **kwargs))
            except Exception:  # noqa: BLE001 - a bad argument is reported by the step itself
                key = fn.__name__
            try:
                questions = tuple(asks(*args, **kwargs) if callable(asks) else asks)
            except Exception:  # noqa: BLE001 - as above
                questions = ()
            out = _run(fn, key, args, kwargs)
            if out.status != OK:
                out.answers = [make_answer(n, q, f"Not answered on these data: {out.reason}") for n, q in questions]
            return out
        run.section = name
        return run
    return decorate


def _run(fn: Callable[..., Section], name: str, args, kwargs) -> Section:
    try:
        if _injected(name):
            raise InjectedFailure(f"injected failure in section {name!r} ({FAIL_ENV})")
        out = fn(*args, **kwargs)
        if not isinstance(out, Section):
            raise TypeError(f"step {name!r} returned {type(out).__name__}, not a Section")
        out.name = name
        return out
    except Skip as e:
        return Section(name, SKIPPED, reason=str(e))
    except Exception as e:  # noqa: BLE001 - one failing section must not take down the report
        traceback.print_exc(file=sys.stderr)
        return Section(name, FAILED, reason=f"{type(e).__name__}: {e}"[:2000])


def value(section: Section, default=None):
    """The section's value when it is complete, else ``default`` (a later step then skips)."""
    return section.value if section.status == OK else default


def record_sections(*sections: Section | Iterable[Section]) -> None:
    """Record the answers and findings of every complete section, in order (the notebook's last cell)."""
    flat = [s for item in sections for s in ([item] if isinstance(item, Section) else item)]
    answers = [a for s in flat for a in s.answers]  # a skipped or failed section's: "not answered"
    for a in [*answers, *multiplicity(answers)]:
        record_answer(a)
    for s in flat:
        for f in s.findings if s.status == OK else ():
            interval = None if (f.ci_low, f.ci_high) == (None, None) else (f.ci_low, f.ci_high)
            record(f.name, f.value, interval, unit=f.unit, label=f.label, key=f.key)


def multiplicity(answers: list[Answer], *, rate: float = 0.05) -> list[Answer]:
    """How many tests the verdicts rest on, and which survive a false-discovery rate of ``rate`` across them.

    Each verdict is read at its own 5% level (within a segmentation, Holm's correction is applied
    where the table is made); across the headline verdicts the Benjamini-Hochberg procedure says
    which would still stand if all were read together. Nothing when fewer than two verdicts have
    a p-value.
    """
    tested = [a for a in answers if a.verdict and a.p is not None]
    if len(tested) < 2:
        return []
    from statsmodels.stats.multitest import multipletests

    keep = multipletests([a.p for a in tested], alpha=rate, method="fdr_bh")[0]
    significant = [a for a in tested if a.verdict != "inconclusive"]
    lost = [a for a, k in zip(tested, keep) if not k and a.verdict != "inconclusive"]
    sentence = (f"The verdicts above rest on {len(tested)} tests, each at the 5% level; {len(significant)} found an "
                f"effect. Read together with a false-discovery rate of {rate:.0%} (Benjamini-Hochberg), "
                + ("all of them still stand." if not lost else
                   f"{len(lost)} would no longer stand: " + "; ".join(a.question for a in lost) + "."))
    return [make_answer("multiplicity", "How many tests do these verdicts rest on?", sentence)]


def read_sections(notebook) -> list[dict]:
    """The status of every section shown in an executed notebook (an nbformat node), in cell order."""
    return read_outputs(notebook, SECTION_MIME)

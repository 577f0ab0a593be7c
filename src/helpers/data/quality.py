"""Data quality and leakage: what `workbench data check` and every report's data section say before any model.

`helpers.data.validate` refuses data that break the contract. This module reports what data can
still hide, as `Issue` records with one plain sentence each (table, column, what to do):

- exact duplicate rows (apart from customer ids the mapping generated), repeated ids;
- columns entirely missing; columns with one value only (in the customers table or a one-table
  export: the covariates; one campaign has one campaign_id);
- numbers outside the scale the contract declares (``schema.Column.min``/``max``, or one you
  give), integer scores that look like two scales mixed (1-5 inside 0-10), dates before 1900
  or in the future;
- what the mapping did: cells it filled (``fill:``), rows it dropped;
- leakage: a column that nearly determines the outcome, or is strongly associated with it.

`leakage` is the one leakage check of the package (`helpers.stats.complaints.leakage_check` wraps
it). Its grades and thresholds, applied per column on the rows where the column and the outcome
are present, are these (``LEAKAGE_RULES`` says them in words):

near-determining
    a two-valued column agrees with the outcome (or with its opposite) for >= 97% of rows *and*
    removes at least half of the errors of always guessing the commoner outcome (so a rare flag
    does not "agree" with a rare outcome merely by being rare); >= 95% of rows in levels whose
    outcome share is >= 95% or <= 5% (levels of >= 10 rows); one guess per level right for
    >= 97% of rows, halving the errors; a numeric column alone separating the outcome with AUC
    >= 0.95; or a level holding >= 5% (and >= 10) of the rows in which the outcome is always
    the same, when the chance of that under the overall rate is below 1 in 1,000.
strong
    a two-valued column with an odds ratio >= 20, its 95% interval starting at >= 5, that splits
    the rows into a group that mostly has the outcome and one that mostly has not; one guess
    per level right for >= 85% of rows, halving the errors; or AUC >= 0.85.

Why these numbers: the complaint and segment flags of `helpers.data.synth` have odds ratios of
1.3 to 2.2 against churn, and its strongest numeric column (tenure) an AUC of 0.74. In the
public Telco file no flag passes an odds ratio of 2.6 nor a number an AUC of 0.65; its strongest
genuine predictor, a two-year contract against the rest, has an odds ratio of 17.7 but both of
its groups mostly stay, so it is not graded. A complaint flag with an odds ratio of 58 that
agrees with churn for 89% of customers (against 80% by always guessing "stays") is graded
strong; a flag agreeing with exit for 99.9% of a bank's customers is near-determining. The
interval bound keeps a few rows from grading a column. Whether a column is missing is checked
the same way as its values (a field filled in only at the exit leaks through its blanks).

Everything is vectorized (one ``duplicated``, one hash or sort per column, ``bincount``): a
1,000,000 x 20 customers table takes about three times one ``DataFrame.duplicated()`` over it
(10 s on a busy two-core machine, half of it the leakage check).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers.data import schema as S

PROBLEM, NOTE = "problem", "note"
NEAR, STRONG = "near-determining", "strong"
EARLIEST = pd.Timestamp("1900-01-01")
LIKERT = ((1, 5), (1, 7))  # integer scales that hide inside a wider declared one
MIN_LEVEL = 10  # levels (and columns) with fewer rows never count as determining anything
NEAR_AGREEMENT, STRONG_AGREEMENT, ERROR_CUT = 0.97, 0.85, 0.5
NEAR_AUC, STRONG_AUC = 0.95, 0.85
PURITY, PURE_SHARE, PURE_CHANCE = 0.95, 0.05, 1e-3
STRONG_OR, STRONG_OR_LOW, Z95 = 20.0, 5.0, 1.959964
MAX_LEVELS = 20  # numeric columns with more distinct values are cut into deciles
FILL_PROBLEM = 0.2  # a mapping that fills or drops this share of rows makes a problem, not a note
OUTCOME_RECORD = (S.END_DATE, S.END_REASON, S.TENURE)  # they record churn itself: never leakage candidates
ID_COLUMNS = (S.CUSTOMER_ID, S.ACCOUNT_MANAGER_ID, S.CONTACT_ID)
NEAR_ADVICE = ("this points to leakage or a recording artefact (e.g. a flag set at the exit interview), not an "
               "effect. Check how it was recorded before reading any model.")
STRONG_ADVICE = ("an association this strong is rare for a genuine cause: check how and when it was recorded (after "
                 "the outcome? by the same process?) and read any model that uses it with care.")
LEAKAGE_RULES = (
    "Leakage grades: near-determining = a flag agreeing with the outcome for at least 97% of rows (and halving the "
    "errors of always guessing the commoner outcome), 95% of rows in levels with a 95%+ one-sided outcome, a "
    "numeric column with AUC at least 0.95, or a level of at least 5% of rows whose outcome never varies; strong "
    "= an odds ratio of at least 20 that splits rows into a mostly-leaving and a mostly-staying group, one guess "
    "per level right for 85% of rows (halving the errors), or AUC at least 0.85.")
KIND_LABELS = {
    "mapping_dropped": "Rows the mapping dropped", "mapping_filled": "Cells the mapping filled",
    "duplicate_rows": "Duplicated rows", "duplicate_ids": "Repeated ids", "empty_column": "Empty column",
    "constant_column": "One value only", "out_of_scale": "Outside its scale", "mixed_scale": "Two scales mixed?",
    "leakage_near_determining": "Nearly determines the outcome", "leakage_strong": "Strongly tied to the outcome",
}


@dataclass(frozen=True)
class Issue:
    """One finding about the data: where, what, how many rows, and one sentence that says what to do.

    ``columns`` is empty for whole rows; ``share`` is ``count`` over the table's rows (rows read,
    for rows the mapping dropped); ``severity`` is ``"problem"`` (distorts results until fixed)
    or ``"note"`` (worth knowing). ``sentence`` carries names and values from the data verbatim:
    escape it before it goes into Markdown or HTML.
    """

    table: str
    columns: tuple[str, ...]
    kind: str
    count: int
    share: float
    severity: str
    sentence: str

    def __str__(self) -> str:
        return self.sentence


@dataclass(frozen=True)
class Leak:
    """A column graded by `leakage`: ``grade`` is ``"near-determining"`` or ``"strong"``.

    ``measure`` names the evidence (agreement, disagreement, determined_share, accuracy,
    pure_level, odds_ratio, auc, reversed_auc; ``missing_...`` when it is the column's blanks
    that match the outcome), ``score`` its value, ``baseline`` what a column without
    information scores, ``rows`` the rows compared, ``odds_ratio`` (two-valued columns, else
    None) symmetric (>= 1). ``sentence`` names the column and the evidence (data verbatim).
    """

    column: str
    outcome: str
    grade: str
    kind: str
    measure: str
    score: float
    baseline: float
    rows: int
    odds_ratio: float | None
    sentence: str

    def __str__(self) -> str:
        return self.sentence


# ---- leakage: one column against a 0/1 outcome ---------------------------------------------------

@dataclass(frozen=True)
class _Words:
    column: str
    outcome: str
    yes: str
    no: str
    unit: str


def _pct(share: float) -> str:
    return "0%" if share == 0 else "< 0.1%" if share < 0.001 else f"{share:.1%}"


def _num(x: float) -> str:
    return f"{x:,.0f}" if x >= 10 else f"{x:.1f}"


def _ordered(values) -> list:
    try:
        return sorted(values)
    except TypeError:  # mixed types: sorted as text
        return sorted(values, key=str)


def _pure(n, k, p, total, where, w: _Words, measure="pure_level") -> dict | None:
    """The largest level (>= 5% and >= 10 rows) whose outcome never varies, when chance makes that unlikely."""
    with np.errstate(divide="ignore"):
        none = (k == 0) & (n * math.log(1 - p) <= math.log(PURE_CHANCE))
        every = (k == n) & (n * math.log(p) <= math.log(PURE_CHANCE))
    hit = (n >= MIN_LEVEL) & (n >= PURE_SHARE * total) & (none | every)
    if not hit.any():
        return None
    i = int(np.argmax(np.where(hit, n, -1)))
    value, rate = (w.yes, p) if every[i] else (w.no, 1 - p)
    return {"grade": 2, "measure": measure, "score": float(n[i] / total), "baseline": float(rate),
            "sentence": f"all {int(n[i]):,} {w.unit} {where[i]} ({_pct(n[i] / total)} of {w.unit}) have {w.outcome} = "
                        f"{value}, against {_pct(rate)} of all {w.unit}: {NEAR_ADVICE}"}


def _binary(flag: np.ndarray, y: np.ndarray, where: list[str], subject: str, w: _Words, prefix="") -> list[dict]:
    """Evidence for a two-valued column (``flag`` True for its larger value), in the order it is preferred."""
    total, p = len(y), float(y.mean())
    n = np.array([(~flag).sum(), flag.sum()], dtype=float)
    k = np.array([y[~flag].sum(), y[flag].sum()])
    agree = float((k[1] + n[0] - k[0]) / total)
    a, base = max(agree, 1 - agree), max(p, 1 - p)
    reduction = (a - base) / (1 - base)
    measure = prefix + ("agreement" if agree >= 0.5 else "disagreement")
    verb = "agrees with" if agree >= 0.5 else "is the opposite of"
    cells = np.array([k[1], n[1] - k[1], k[0], n[0] - k[0]], dtype=float)
    cells = cells + 0.5 if (cells == 0).any() else cells  # Haldane-Anscombe: a finite odds ratio
    log_or = abs(math.log(cells[0] * cells[3] / (cells[1] * cells[2])))
    odds, low = math.exp(log_or), math.exp(log_or - Z95 * math.sqrt((1 / cells).sum()))
    split = (k[1] / n[1] - 0.5) * (k[0] / n[0] - 0.5) < 0  # one group mostly has the outcome, the other not
    said = f"{verb} {w.outcome} for {a:.1%} of {w.unit}"
    out = [{"grade": 2 * (a >= NEAR_AGREEMENT and reduction >= ERROR_CUT), "measure": measure, "score": a,
            "baseline": base, "sentence": f"{subject} {said}: {NEAR_ADVICE}"},
           _pure(n, k, p, total, where, w, prefix + "pure_level"),
           {"grade": int(odds >= STRONG_OR and low >= STRONG_OR_LOW and split), "measure": prefix + "odds_ratio",
            "score": odds, "baseline": 1.0,
            "sentence": f"{subject} is strongly associated with {w.outcome}: odds ratio {_num(odds)} (95% interval "
                        f"from {_num(low)}), and it {said} (a column with no information: {base:.1%}): "
                        f"{STRONG_ADVICE}"},
           {"grade": int(a >= STRONG_AGREEMENT and reduction >= ERROR_CUT), "measure": measure, "score": a,
            "baseline": base, "sentence": f"{subject} is strongly associated with {w.outcome}: it {said} (a column "
                                          f"with no information: {base:.1%}): {STRONG_ADVICE}"}]
    return [dict(e, odds_ratio=odds) for e in out if e]


def _levels(n: np.ndarray, k: np.ndarray, where: list[str], group: str, w: _Words, purity: float) -> list[dict]:
    """Evidence for a column of levels (categories, or deciles of a number): rows ``n`` and outcomes ``k`` per level."""
    total = n.sum()
    p = float(k.sum() / total)
    rate = k / np.maximum(n, 1)
    determined = float(n[(n >= MIN_LEVEL) & ((rate >= purity) | (rate <= 1 - purity))].sum() / total)
    small = n < MIN_LEVEL  # pooled into one level, so tiny levels cannot "predict" their rows
    pn, pk = np.append(n[~small], n[small].sum()), np.append(k[~small], k[small].sum())
    accuracy, base = float(np.maximum(pk, pn - pk).sum() / total), max(p, 1 - p)
    reduction = (accuracy - base) / (1 - base)
    guess = (f"guessing {w.outcome} from {w.column} alone (one guess per {group}) is right for {accuracy:.1%} of "
             f"{w.unit}, against {base:.1%} when always guessing the commoner outcome")
    out = [{"grade": 2 * (determined >= purity and base < purity), "measure": "determined_share",
            "score": determined, "baseline": float(base >= purity),
            "sentence": f"{w.column}: {determined:.1%} of {w.unit} are in {group}s where {w.outcome} is almost always "
                        f"the same: {NEAR_ADVICE}"},
           {"grade": 2 * (accuracy >= NEAR_AGREEMENT and reduction >= ERROR_CUT), "measure": "accuracy",
            "score": accuracy, "baseline": base, "sentence": f"{w.column} nearly determines {w.outcome}: {guess}: "
                                                             f"{NEAR_ADVICE}"},
           _pure(n, k, p, total, where, w),
           {"grade": int(accuracy >= STRONG_AGREEMENT and reduction >= ERROR_CUT), "measure": "accuracy",
            "score": accuracy, "baseline": base, "sentence": f"{w.column} is strongly associated with {w.outcome}: "
                                                             f"{guess}: {STRONG_ADVICE}"}]
    return [dict(e, odds_ratio=None) for e in out if e]


def _numeric(values: np.ndarray, n: np.ndarray, k: np.ndarray, w: _Words, purity: float) -> list[dict]:
    """AUC of the column alone, then its values (few) or deciles (many) as levels; ``values`` sorted distinct."""
    n1, total = k.sum(), n.sum()
    mid_rank = np.cumsum(n) - (n - 1) / 2  # the average rank of each distinct value (ties share it)
    auc = float(((k * mid_rank).sum() - n1 * (n1 + 1) / 2) / (n1 * (total - n1)))
    s, measure = max(auc, 1 - auc), "auc" if auc >= 0.5 else "reversed_auc"
    side = f"{'high' if auc >= 0.5 else 'low'} values go with {w.outcome} = {w.yes}"
    out = [{"grade": 2 * (s >= NEAR_AUC), "measure": measure, "score": s, "baseline": 0.5, "odds_ratio": None,
            "sentence": f"{w.column} separates {w.outcome} almost perfectly (AUC {s:.3f}; {side}): {NEAR_ADVICE}"},
           {"grade": int(s >= STRONG_AUC), "measure": measure, "score": s, "baseline": 0.5, "odds_ratio": None,
            "sentence": f"{w.column} is strongly associated with {w.outcome}: this column alone separates it with "
                        f"AUC {s:.3f} ({side}): {STRONG_ADVICE}"}]
    if len(values) <= MAX_LEVELS:
        where, group = [f"with {w.column} = {v:g}" for v in values], "value"
    else:  # deciles: each distinct value goes to the tenth its cumulative count falls in (ties stay together)
        tenth = np.minimum((10 * (np.cumsum(n) - n) / total).astype(int), 9)
        _, first = np.unique(tenth, return_index=True)
        last = np.append(first[1:], len(values)) - 1
        where = [f"with {w.column} = {values[i]:g}" if i == j else f"with {w.column} from {values[i]:g} to "
                 f"{values[j]:g}" for i, j in zip(first, last)]
        tenth = np.searchsorted(first, np.arange(len(values)), side="right") - 1
        n, k, group = np.bincount(tenth, weights=n), np.bincount(tenth, weights=k), "decile"
    return out + [e for e in _levels(n, k, where, group, w, purity) if e["grade"]]


def _as_values(x: pd.Series) -> pd.Series:
    """Dates and durations as days (NaN where missing); other columns as they are."""
    if pd.api.types.is_datetime64_any_dtype(x):
        return (x - x.min()).dt.total_seconds() / 86400
    if pd.api.types.is_timedelta64_dtype(x):
        return x.dt.total_seconds() / 86400
    return x


def _factorize(x: pd.Series, numeric: bool) -> tuple[np.ndarray, list]:
    """Level codes of present values and the levels: sorted for numbers (one sort), first seen otherwise (hashing)."""
    if numeric:
        levels, codes = np.unique(x.to_numpy(dtype=float), return_inverse=True)
        return codes.ravel(), list(levels)
    try:
        codes, levels = pd.factorize(x)
    except TypeError:  # unhashable cells (lists): their text
        codes, levels = pd.factorize(x.astype(str))
    return codes, list(levels)


def _best(evidence: list[dict]) -> dict:
    return max(evidence, key=lambda e: e["grade"])  # the first of the highest grade


def score_column(x: pd.Series, y: pd.Series, *, column: str | None = None, outcome: str | None = None,
                 yes: str = "1", no: str = "0", unit: str = "customers", purity: float = PURITY) -> dict | None:
    """How far one column determines a 0/1 outcome: kind, measure, score, baseline, rows, odds_ratio, grade, sentence.

    ``y`` is 0/1 with NaN where missing (``yes``/``no`` name its values in sentences). The
    column's values are scored on the rows where both are present, its blanks on every row
    with the outcome; the stronger evidence is kept. ``grade`` is "near-determining",
    "strong" or "" (see the module docstring for the rules). None when nothing can be scored
    (the column constant and never or always missing, the outcome constant, under 10 rows).

    Example
    -------
    >>> y = pd.Series([1.0, 0.0] * 50)
    >>> score_column(pd.Series([True, False] * 50), y, column="flag", outcome="left")["grade"]
    'near-determining'
    """
    w = _Words(str(x.name if column is None else column), str(y.name if outcome is None else outcome), yes, no, unit)
    x, yv = _as_values(x), y.to_numpy(dtype=float, na_value=np.nan)
    numeric = pd.api.types.is_numeric_dtype(x) and not pd.api.types.is_bool_dtype(x)
    has_y = ~np.isnan(yv)
    missing = x.isna().to_numpy() | (~np.isfinite(x.to_numpy(dtype=float, na_value=np.nan)) if numeric else False)
    ok = has_y & ~missing
    evidence, kind = [], "numeric" if numeric else "categorical"
    xs, ys = x[ok], yv[ok]
    codes, levels = _factorize(xs, numeric) if ok.sum() >= MIN_LEVEL and 0 < ys.sum() < len(ys) else ([], [])
    n = np.bincount(codes).astype(float) if len(levels) else np.array([])
    k = np.bincount(codes, weights=ys, minlength=len(n)) if len(levels) else n
    if len(levels) == 2:
        order = _ordered(levels)
        kind, flag = "binary", codes == next(i for i, v in enumerate(levels) if v is order[1])
        labels = [f"{v:g}" if numeric else str(v) for v in order]  # 1, not 1.0
        evidence = _binary(flag, ys, [f"with {w.column} = {v}" for v in labels], w.column, w)
    elif len(levels) > 2 and numeric:
        evidence = _numeric(np.asarray(levels, dtype=float), n, k, w, purity)
    elif len(levels) > 2:
        evidence = _levels(n, k, [f"with {w.column} = {v}" for v in levels], "level", w, purity)
    blanks = missing[has_y]
    if MIN_LEVEL <= blanks.sum() <= len(blanks) - MIN_LEVEL and 0 < yv[has_y].sum() < len(blanks):
        gaps = _binary(blanks, yv[has_y], [f"with {w.column} filled in", f"with {w.column} missing"],
                       f"whether {w.column} is missing", w, prefix="missing_")
        if not evidence or _best(gaps)["grade"] > _best(evidence)["grade"]:
            evidence = gaps
    if not evidence:
        return None
    best = _best(evidence)
    grade = {2: NEAR, 1: STRONG, 0: ""}[best["grade"]]
    return {"kind": kind, "measure": best["measure"], "score": float(best["score"]),
            "baseline": float(best["baseline"]), "rows": int(ok.sum() if "missing_" not in best["measure"]
                                                               else has_y.sum()),
            "odds_ratio": best["odds_ratio"], "grade": grade, "sentence": best["sentence"] if grade else ""}


# ---- leakage: a frame ------------------------------------------------------------------------------

def _column(frame: pd.DataFrame, col) -> pd.Series:
    x = frame[col]
    return x.iloc[:, 0] if isinstance(x, pd.DataFrame) else x  # duplicated column names: the first


def _candidates(frame: pd.DataFrame, outcome: str) -> list:
    """Default columns to check: not the outcome, its record (also what a mapping marks so), identifiers or dates."""
    skip = {outcome, *ID_COLUMNS, *OUTCOME_RECORD, *frame.attrs.get("outcome_record", ())}
    keep = []
    for col in dict.fromkeys(frame.columns):
        x = _column(frame, col)
        try:  # the first 1,000 rows settle most columns
            is_id = not pd.api.types.is_numeric_dtype(x) and x.iloc[:1000].dropna().is_unique and \
                x.notna().sum() > 1 and x.dropna().is_unique
        except TypeError:  # unhashable cells
            is_id = False
        if col not in skip and not is_id and not pd.api.types.is_datetime64_any_dtype(x):
            keep.append(col)
    return keep


LEAK_COLUMNS = ["column", "kind", "measure", "score", "baseline", "rows", "flagged", "grade", "odds_ratio",
                "sentence"]


def leakage_scores(frame: pd.DataFrame, outcome: str = S.CHURNED, columns: Sequence | None = None, *,
                   unit: str = "customers", purity: float = PURITY) -> pd.DataFrame:
    """Every checked column with its leakage evidence: one row each, graded ones first (then by score).

    Columns as `score_column` returns them, plus ``column`` and ``flagged`` (graded). By default
    every column is checked but the outcome, ``end_date``, ``end_reason``, ``tenure_months``
    (they record the outcome itself), identifiers (the contract's id columns and non-numeric
    columns with all values distinct) and dates; pass ``columns`` to choose (dates are then
    compared as days). The outcome has two values (the larger is "yes"); an outcome with one
    value, or none, gives an empty table.

    Raises
    ------
    ValueError
        The outcome is not a column, or has more than two values.
    """
    if outcome not in frame:
        raise ValueError(f"the leakage check needs the outcome column {outcome!r}; the columns are "
                         f"{', '.join(map(str, frame.columns))}")
    y = _column(frame, outcome)
    levels = _ordered(pd.unique(y.dropna()))
    if len(levels) > 2:
        raise ValueError(f"outcome {outcome!r} has {len(levels)} distinct value(s): the leakage check needs a "
                         "binary outcome (e.g. churned True/False)")
    rows = []
    if len(levels) == 2:
        y01 = (y == levels[1]).astype(object).where(y.notna()).astype(float)
        for col in _candidates(frame, outcome) if columns is None else columns:
            score = score_column(_column(frame, col), y01, column=str(col), outcome=str(outcome), yes=str(levels[1]),
                                 no=str(levels[0]), unit=unit, purity=purity)
            if score is not None:
                rows.append({"column": col, **score, "flagged": bool(score["grade"])})
    out = pd.DataFrame(rows, columns=LEAK_COLUMNS).astype({"flagged": bool})
    rank = out["grade"].map({NEAR: 0, STRONG: 1}).fillna(2)
    return out.assign(_r=rank).sort_values(["_r", "score"], ascending=[True, False], kind="mergesort",
                                           ignore_index=True).drop(columns="_r")


def leakage(frame: pd.DataFrame, outcome: str = S.CHURNED, columns: Sequence | None = None, *,
            unit: str = "customers", purity: float = PURITY) -> list[Leak]:
    """Columns that nearly determine a binary outcome, or are strongly tied to it: the check before any model.

    Graded "near-determining" or "strong" by the rules of the module docstring; each `Leak`
    carries a sentence naming the column and the evidence. Empty when nothing is graded, and
    when the outcome or a column is constant. Columns as in `leakage_scores`.

    Example
    -------
    >>> df = pd.DataFrame({"churned": [True, False] * 50, "exit_flag": [True, False] * 50, "x": range(100)})
    >>> [(leak.column, leak.grade) for leak in leakage(df)]
    [('exit_flag', 'near-determining')]
    >>> leakage(df)[0].sentence[:50]
    'exit_flag agrees with churned for 100.0% of custom'
    """
    out = leakage_scores(frame, outcome, columns, unit=unit, purity=purity)
    return [Leak(r.column, str(outcome), r.grade, r.kind, r.measure, r.score, r.baseline, r.rows,
                 None if pd.isna(r.odds_ratio) else float(r.odds_ratio), r.sentence)
            for r in out[out["flagged"]].itertuples()]


def leak_caveat(leaks: Sequence[Leak], terms: Sequence[str]) -> str:
    """The warning a headline finding carries when it uses a graded column; "" when it uses none.

    A term is a column or a model term ``column[level]``. Give a model's covariates for a
    model-wide finding (concordance), or one term for one estimate (a hazard ratio).

    Example
    -------
    >>> leak = Leak("Complain", "Exited", NEAR, "binary", "agreement", 0.999, 0.8, 10000, 9e3, "...")
    >>> leak_caveat([leak], ["Age", "Complain"])[:64]
    'Warning: Complain nearly determines Exited (leakage suspected, s'
    >>> leak_caveat([leak], ["Age", "contract[one-year]"])
    ''
    """
    hit = [leak for leak in leaks if any(str(t) == str(leak.column) or str(t).startswith(f"{leak.column}[")
                                         for t in terms)]
    if not hit:
        return ""
    near = [leak for leak in hit if leak.grade == NEAR]
    names = ", ".join(dict.fromkeys(str(leak.column) for leak in (near or hit)))
    verb = ("nearly determine" if len(near) > 1 else "nearly determines") if near else \
        ("are strongly associated with" if len(hit) > 1 else "is strongly associated with")
    return (f"Warning: {names} {verb} {hit[0].outcome} (leakage suspected, see the data section): read this result "
            "as a trace of how the data were recorded, not as an effect.")


# ---- data quality ------------------------------------------------------------------------------------

def _issue(table, columns, kind, count, rows, severity, sentence) -> Issue:
    return Issue(str(table), tuple(str(c) for c in columns), kind, int(count), count / rows if rows else 0.0,
                 severity, sentence)


def _mapping(table: str, df: pd.DataFrame, info: Mapping) -> list[Issue]:
    """Cells the mapping filled (``attrs["filled"]``: column -> (cells, value)) and rows it dropped (``"dropped"``)."""
    out = []
    for col, (n, value) in (info.get("filled") or {}).items():
        if n:
            sev = PROBLEM if n >= FILL_PROBLEM * len(df) else NOTE
            out.append(_issue(table, [col], "mapping_filled", n, len(df), sev,
                              f"{table}.{col}: the mapping filled {n:,} missing cells ({_pct(n / max(len(df), 1))} of "
                              f"rows) with {value} (fill:); make sure {value} is right for them, or remove the fill: "
                              "entry to keep them missing."))
    dropped = info.get("dropped") or {}
    dropped = dropped if isinstance(dropped, Mapping) else {"": dropped}
    n = int(sum(dropped.values()))
    if n:
        read = len(df) + n
        why = "; ".join(f"{v:,} {k}" for k, v in dropped.items() if k and v)
        chosen = all(str(k).startswith("outside the filter") for k, v in dropped.items() if v)  # the user's cohort
        severe = n >= FILL_PROBLEM * read and not chosen
        out.append(_issue(table, [], "mapping_dropped", n, read, PROBLEM if severe else NOTE,
                          f"{table}: the mapping dropped {n:,} of the {read:,} rows read ({_pct(n / read)}"
                          f"{'; ' + why if why else ''}); check that they should not be analysed."))
    return out


def _generated_ids(table: str, df: pd.DataFrame) -> bool:
    """Customer ids the mapping made up (C1, C2, ...): rows that differ only there are duplicates in the file."""
    return table == S.CUSTOMERS and str(df.attrs.get("customer_ids", "")).startswith("generated")


def _duplicates(table: str, df: pd.DataFrame) -> list[Issue]:
    key = S.TABLES[table].key if table in S.TABLES else None
    subset = [c for c in df.columns if not (_generated_ids(table, df) and c == key)]
    try:
        dup = df.duplicated(subset=subset or None)
    except TypeError:  # unhashable cells (lists): compared as text
        dup = df.astype(str).duplicated(subset=subset or None)
    out, n = [], int(dup.sum())
    if n:
        apart = f" (apart from the {key} the mapping generated)" if len(subset) < df.shape[1] else ""
        each = f"each row should be {S.TABLES[table].row}: " if table in S.TABLES else ""
        ex = f" (e.g. {key} {', '.join(map(str, _column(df, key)[dup].head(3)))})" if key in df else ""
        out.append(_issue(table, [], "duplicate_rows", n, len(df), PROBLEM,
                          f"{table}: {n:,} rows ({_pct(n / len(df))}) are exact duplicates of another row{apart}{ex}; "
                          f"{each}remove them in the source and load the data again."))
    for col in (c for c in S.TABLES[table].columns if c.unique and c.name in df) if table in S.TABLES else ():
        x = _column(df, col.name)
        again = x.notna() & x.duplicated()
        k = int(again.sum())
        if k:
            ex, who = ", ".join(map(str, pd.unique(x[again])[:3])), S.TABLES[table].row.removeprefix("one ")
            out.append(_issue(table, [col.name], "duplicate_ids", k, len(df), PROBLEM,
                              f"{table}.{col.name}: {k:,} rows ({_pct(k / len(df))}) repeat an id an earlier row "
                              f"already has (e.g. {ex}); each {who} must appear once: "
                              "merge or remove the repeated rows in the source."))
    return out


def _one_value(x: pd.Series) -> bool:
    """Every present value equal to the first (compared, not hashed: fast, and cells need not be hashable)."""
    present = x.dropna()
    first = present.iloc[0]
    try:
        return bool((present.iloc[:1000] == first).all() and (present == first).all())
    except (TypeError, ValueError):  # cells that do not compare (arrays): compared as text
        return bool((present.astype(str) == str(first)).all())


def _empty_or_constant(table: str, df: pd.DataFrame, outcome: str | None) -> list[Issue]:
    out, n = [], len(df)
    in_contract = set(S.TABLES[table].names) if table in S.TABLES else set()
    covariates = table == S.CUSTOMERS or table not in S.TABLES  # one campaign has one campaign_id: no issue
    for i, col in enumerate(df.columns):
        x = df.iloc[:, i]
        filled = int(x.notna().sum())
        if not filled:
            out.append(_issue(table, [col], "empty_column", n, n, PROBLEM,
                              f"{table}.{col} is empty in all {n:,} rows: check the export, or the mapping's entry "
                              "for it (columns: or keep:) and its missing: list; otherwise leave the column out."))
        elif n > 1 and covariates and _one_value(x):
            value = x.dropna().iloc[0]
            where = f"all {n:,} rows" if filled == n else f"the {filled:,} rows where it is filled in"
            if col == outcome:
                what, sev = "there is nothing to model: check that the export holds both outcomes", PROBLEM
            elif col in in_contract:
                what, sev = "it cannot separate any group: leave it out of covariates and segments", NOTE
            else:
                what, sev = "it cannot explain any difference: leave it out of the covariates (and of keep: in " \
                            "the mapping)", NOTE
            out.append(_issue(table, [col], "constant_column", n, n, sev,
                              f"{table}.{col} has one value only ({value}) in {where}: {what}."))
    return out


def _scale(table: str, col, scales: Mapping) -> tuple[float | None, float | None, str] | None:
    """(low, high, whose) for a number column: one you gave (``table.column`` or ``column``), else the contract's."""
    for key in (f"{table}.{col}", col):
        if key in scales:
            low, high = scales[key]
            return low, high, "the scale given"
    if table in S.TABLES and col in S.TABLES[table].names:
        c = S.TABLES[table].column(col)
        if c.kind == "float" and (c.min is not None or c.max is not None):
            return c.min, c.max, "the scale the data contract declares"
    return None


def _span(low, high) -> str:
    return f"{low:g} to {high:g}" if low is not None and high is not None else \
        f"at least {low:g}" if low is not None else f"at most {high:g}"


def _examples(values: pd.Series, fmt=lambda v: f"{v:g}") -> str:
    return ", ".join(fmt(v) for v in _ordered(pd.unique(values))[:3])


def _numbers_out(table, col, x: pd.Series, scale) -> list[Issue]:
    low, high, whose = scale
    v = pd.to_numeric(x, errors="coerce") if not pd.api.types.is_numeric_dtype(x) else x.astype(float)
    below = v < low if low is not None else pd.Series(False, index=v.index)
    above = v > high if high is not None else pd.Series(False, index=v.index)
    n = int(below.sum() + above.sum())
    if not n:
        return _mixed(table, col, v, low, high)
    parts = [f"{int(m.sum()):,} {side} {bound:g} (e.g. {_examples(v[m])})"
             for m, side, bound in ((below, "below", low), (above, "above", high)) if m.any()]
    return [_issue(table, [col], "out_of_scale", n, len(x), PROBLEM,
                   f"{table}.{col}: {n:,} values ({_pct(n / len(x))}) lie outside {whose}, {_span(low, high)}: "
                   f"{'; '.join(parts)}. Correct them in the source or leave them empty; a code that means "
                   "'unknown' (such as 99 or -1) belongs under missing: in the mapping.")]


def _mixed(table, col, v: pd.Series, low, high) -> list[Issue]:
    """Integer scores mostly on a 1-5 (or 1-7) scale inside a wider declared one, the rest above: two scales?"""
    v = v.dropna()
    if low is None or high is None or len(v) < 2 * MIN_LEVEL or not (v == v.round()).all():
        return []
    for a, b in LIKERT:
        inside = (v >= a) & (v <= b)
        if low <= a and b < high and 0.9 <= inside.mean() < 1:
            n = int((~inside).sum())
            return [_issue(table, [col], "mixed_scale", n, len(v), NOTE,
                           f"{table}.{col}: {inside.mean():.1%} of its values lie between {a} and {b}, but {n:,} "
                           f"({_pct(n / len(v))}) lie outside that range (e.g. {_examples(v[~inside])}) on its "
                           f"declared scale {_span(low, high)}: the file may mix a {a}-{b} and a {_span(low, high)} "
                           "scale; check the source and put every row on one scale (give scales= to check against "
                           f"{a}-{b}).")]
    return []


def _dates_out(table, col, x: pd.Series, today: pd.Timestamp) -> list[Issue]:
    d = x if pd.api.types.is_datetime64_any_dtype(x) else pd.to_datetime(x, errors="coerce", format="ISO8601")
    if getattr(d.dt, "tz", None) is not None:
        d = d.dt.tz_localize(None)
    early, late = d < EARLIEST, d > today
    n = int(early.sum() + late.sum())
    if not n:
        return []
    fmt = lambda t: f"{pd.Timestamp(t):%Y-%m-%d}"  # noqa: E731
    parts = [f"{int(m.sum()):,} {what} (e.g. {_examples(d[m], fmt)})"
             for m, what in ((early, "before 1900"), (late, f"after today, {today:%Y-%m-%d}")) if m.any()]
    return [_issue(table, [col], "out_of_scale", n, len(x), PROBLEM,
                   f"{table}.{col}: {n:,} dates ({_pct(n / len(x))}) are impossible: {'; '.join(parts)}. Correct them "
                   "in the source; a placeholder date that means 'unknown' belongs under missing: in the mapping.")]


def _out_of_scale(table: str, df: pd.DataFrame, scales: Mapping, today: pd.Timestamp) -> list[Issue]:
    out = []
    dates = {c.name for c in S.TABLES[table].columns if c.kind == "date"} if table in S.TABLES else set()
    for i, col in enumerate(df.columns):
        x = df.iloc[:, i]
        scale = _scale(table, col, scales)
        if scale is not None:
            out += _numbers_out(table, col, x, scale)
        elif pd.api.types.is_datetime64_any_dtype(x) or (col in dates and not pd.api.types.is_numeric_dtype(x)):
            out += _dates_out(table, col, x, today)
    return out


def _leak_issues(table: str, frame: pd.DataFrame, outcome: str) -> list[Issue]:
    y = _column(frame, outcome)
    if y.dropna().nunique() != 2:
        return []
    return [_issue(table, [leak.column], f"leakage_{leak.grade.replace('-', '_')}", leak.rows, len(frame),
                   PROBLEM if leak.grade == NEAR else NOTE, f"{table}: {leak.sentence}")
            for leak in leakage(frame, outcome)]


def quality_issues(data, *, notes: Mapping[str, Mapping] | None = None, outcome: str | None = S.CHURNED,
                   scales: Mapping | None = None, today=None, name: str = "data") -> list[Issue]:
    """Every data-quality issue of a data set, problems first: the data section of `data check` and the reports.

    Parameters
    ----------
    data : Dataset, dict of str to DataFrame, or DataFrame
        Validated tables (`helpers.data.io.Dataset` or its ``tables``), raw tables, or one table
        (named ``name``).
    notes : dict, optional
        Per table, what its mapping did: ``{"filled": {column: (cells, value)}, "dropped": rows
        or {reason: rows}}``. By default each table's ``attrs`` (where `helpers.data.mapping`
        records ``filled``).
    outcome : str or None
        Binary outcome for the leakage check (`leakage`), run on the customers table (or the one
        table) when it has the column; None to skip it.
    scales : dict, optional
        ``{"table.column" or "column": (low, high)}`` (None for an open end): scales that replace
        the contract's, e.g. ``{"satisfaction": (1, 5)}`` for a data set scored 1-5.
    today : date-like, optional
        Dates after it are in the future (default: today).

    Returns
    -------
    list of Issue
        Problems, then notes, table by table.

    Example
    -------
    >>> c = pd.DataFrame({"customer_id": [f"C{i}" for i in range(6)], "churned": [True, False] * 3,
    ...                   "tenure_months": [1.0, -2.0, 3.0, 4.0, 5.0, 6.0], "plan": "basic"})
    >>> for issue in quality_issues({"customers": c}):
    ...     print(issue.severity, issue.kind, issue.count)
    problem out_of_scale 1
    note constant_column 6
    """
    tables = getattr(data, "tables", data)
    tables = {name: tables} if isinstance(tables, pd.DataFrame) else dict(tables)
    today = pd.Timestamp.today().normalize() if today is None else pd.Timestamp(today)
    issues = []
    for table, df in tables.items():
        issues += _mapping(table, df, {**df.attrs, **((notes or {}).get(table) or {})})
        if len(df):
            issues += _duplicates(table, df) + _empty_or_constant(table, df, outcome)
            issues += _out_of_scale(table, df, scales or {}, today)
    frame = tables.get(S.CUSTOMERS, next(iter(tables.values())) if len(tables) == 1 else None)
    if outcome and frame is not None and outcome in frame:
        issues += _leak_issues(S.CUSTOMERS if S.CUSTOMERS in tables else next(iter(tables)), frame, outcome)
    return sorted(issues, key=lambda i: i.severity != PROBLEM)


def quality_table(issues: Sequence[Issue]) -> pd.DataFrame:
    """The issues for a report: human column labels, one row each, no index (empty with the labels when none).

    Example
    -------
    >>> quality_table([]).columns.tolist()
    ['Severity', 'Table', 'Column', 'Check', 'Rows', 'Share of rows', 'What it means and what to do']
    """
    rows = [{"Severity": i.severity, "Table": i.table, "Column": ", ".join(i.columns) or "(whole rows)",
             "Check": KIND_LABELS.get(i.kind, i.kind), "Rows": i.count, "Share of rows": _pct(i.share),
             "What it means and what to do": i.sentence} for i in issues]
    return pd.DataFrame(rows, columns=["Severity", "Table", "Column", "Check", "Rows", "Share of rows",
                                       "What it means and what to do"])


def quality_lines(issues: Sequence[Issue]) -> list[str]:
    """Lines for `workbench data check`: a count, then ``problem: ...`` / ``note: ...`` one per issue.

    Example
    -------
    >>> quality_lines([])[0][:40]
    'data quality: no problems found (duplica'
    """
    if not issues:
        return ["data quality: no problems found (duplicate rows and ids, empty and constant columns, values outside "
                "their scale, impossible dates, leakage)"]
    p = sum(i.severity == PROBLEM for i in issues)
    k = len(issues) - p
    lines = [f"data quality: {p} problem{'s' * (p != 1)}, {k} note{'s' * (k != 1)}"]
    lines += [f"{i.severity}: {i.sentence}" for i in issues]
    return lines + ([LEAKAGE_RULES] if any(i.kind.startswith("leakage") for i in issues) else [])

"""Tables for people: one formatting layer between a step's DataFrame and what a reader sees.

`Table` wraps a DataFrame and renders it with pandas' Styler (``exclude_styles``, HTML-escaped
cells and headers, no row index): human column labels, an interval as one "lower to upper"
column, counts with thousands separators, other numbers to three significant digits without
scientific notation, p-values as "< 0.001", shares in percent, booleans as yes / no, missing
cells as a dash. A long table shows its top rows and keeps the rest in a collapsed block; a
wide table with few rows is turned on its side, a wide and long one is split into column
groups that repeat the first column. Nothing is truncated by pandas.

The DataFrame stays what it was (``Table.frame``): a researcher in JupyterLab sees the same
formatted table and can still take the numbers.

>>> import pandas as pd
>>> t = Table(pd.DataFrame({"segment": ["a"], "n": [1200.0], "hr": [0.8512],
...                         "hr_lower": [0.7], "hr_upper": [0.9], "p": [1e-9]}))
>>> t.formatted().to_dict("records")
[{'Segment': 'a', 'Customers': '1,200', 'Hazard ratio': '0.851', 'Hazard ratio, 95% interval': '0.700 to 0.900', \
'p-value': '< 0.001'}]
"""
from __future__ import annotations

import functools
import html
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import pandas as pd

TOP_ROWS = 12  # a longer table shows this many rows, the rest collapsed
WIDE = 9  # more columns than this: turned on its side (few rows) or split into groups
DASH = "\u2013"

# raw column name -> what a reader calls it (anything else: underscores to spaces, first letter capital)
LABELS: dict[str, str] = {
    "n": "Customers", "customers": "Customers", "events": "Churned", "churned": "Churned", "at_risk": "At risk",
    "share": "Share", "rate": "Rate", "churn_rate": "Churn rate", "hr": "Hazard ratio",
    "hazard_ratio": "Hazard ratio", "exp(coef)": "Hazard ratio", "coef": "Log hazard ratio", "se": "Standard error",
    "se(coef)": "Standard error", "p": "p-value", "p_value": "p-value", "pvalue": "p-value", "p_holm": "p-value (Holm)",
    "p_adj": "p-value (adjusted)",
    "p_trend": "p-value (trend)", "z": "z", "rmst": "Restricted mean tenure (months)",
    "rmst_diff": "Difference in restricted mean tenure (months)", "median": "Median tenure (months)",
    "cif": "Cumulative incidence", "did": "Difference in differences", "estimate": "Estimate", "term": "Term",
    "covariate": "Covariate", "segment": "Segment", "level": "Level", "arm": "Arm", "aic": "AIC", "smd": "SMD",
    "estimator": "Estimator", "method": "Method", "reason": "Reason", "kind": "Kind", "channel": "Channel",
    "monthly_value": "Monthly value", "revenue_at_risk": "Revenue at risk", "value": "Value", "month": "Month",
    "tenure_months": "Tenure (months)", "concordance": "Concordance", "brier": "Brier score",
    "rmst_se": "Standard error of the restricted mean", "horizon": "Horizon (months)", "p_adjusted": "p-value (Holm)",
    "reject": "Differs after Holm", "group_a": "Segment", "group_b": "Against", "statistic": "Test statistic",
    "difference": "Difference", "reference": "Against", "violated": "Assumption violated",
    "e_value": "E-value", "e_value_bound": "E-value of the bound nearer 1", "log_hr": "Log hazard ratio",
    "n_params": "Parameters", "smd_unweighted": "SMD (unweighted)", "smd_weighted": "SMD (weighted)",
    "roi": "Return on investment", "vs_all": "Against treating everyone", "treat_all": "Treating everyone",
    "toc": "Gain over the average (TOC)", "clv_treated": "Lifetime value, treated",
    "clv_control": "Lifetime value, control",
    "share_treated": "Share treated", "break_even_cost": "Break-even cost", "net_value": "Net value per customer",
    "incremental_value": "Incremental value per customer", "cost_per_action": "Cost per action",
}
_LABEL_PATTERNS = ((re.compile(r"^survival_(\d+(?:\.\d+)?)$"), "Still a customer at {0} months"),)
_SHARES = re.compile(r"^survival_\d+(?:\.\d+)?(?:_lower|_upper)?$")  # always a share: shown in percent
_HIDDEN = frozenset({"median_reached"})  # shown by the table itself: a median not reached reads "not reached"
_TERMS = frozenset({"term", "covariate_term"})
_INTERVAL_SUFFIXES = (("_lower", "_upper"), ("_low", "_high"), ("_ci_low", "_ci_high"), ("_lo", "_hi"))
_BARE_INTERVALS = (("lower", "upper"), ("ci_low", "ci_high"), ("ci_lower", "ci_upper"), ("low", "high"))
_P = re.compile(r"^(p|p_value|pvalue|p[_ ].*|.*_p|.*p_value|.*pvalue)$", re.I)


def label(name) -> str:
    """The reader's name of a raw column (`LABELS`, else underscores as spaces, first letter capital)."""
    text = str(name)
    if text in LABELS:
        return LABELS[text]
    for pattern, words in _LABEL_PATTERNS:
        match = pattern.match(text)
        if match:
            return words.format(*match.groups())
    text = text.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def term(name) -> str:
    """A model term as a reader reads it: ``quadrant[win_back]`` -> ``quadrant: win back``.

    >>> term("quadrant[win_back]"), term("log2_monthly_value"), term("customer_type[group]")
    ('quadrant: win back', 'log2 monthly value', 'customer type: group')
    """
    text = str(name)
    match = re.fullmatch(r"(.*?)\[(.*)\]", text)
    if match:
        return f"{match[1].replace('_', ' ')}: {match[2].replace('_', ' ')}"
    return text.replace("_", " ")


def listed(words) -> str:
    """Words as a sentence lists them: ``a``, ``a and b``, ``a, b and c``.

    >>> listed(["contract"]), listed(["contract", "customer type", "wallet share"])
    ('contract', 'contract, customer type and wallet share')
    """
    words = [str(w) for w in words]
    return " and ".join([", ".join(words[:-1]), words[-1]] if len(words) > 1 else words)


def number(x, *, digits: int = 3) -> str:
    """A number for a reader: whole numbers with separators, others to ``digits`` significant digits, never e-notation.

    >>> [number(v) for v in (1195.0, 8.977e6, 0.0, 0.000123456, 3.14159, 0.7, -2.5e-7, float("nan"))]
    ['1,195', '8,977,000', '0', '0.000123', '3.14', '0.7', '-0.00000025', '–']
    """
    text = fixed(x, digits=digits)
    return text.rstrip("0").rstrip(".") if "." in text else text


def fixed(x, *, digits: int = 3) -> str:
    """Like `number`, but trailing zeros kept, so that a column reads alike: 0.700, 12.0, 1,195.

    >>> [fixed(v) for v in (0.7, 12.0, 1195.2, 0.0, float("inf"))]
    ['0.700', '12.0', '1,195', '0', 'infinite']
    """
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return DASH
    x = float(x)
    if math.isinf(x):
        return "infinite" if x > 0 else "minus infinite"
    if abs(x) < 1e-10:  # float noise around zero (a difference of two equal sums) reads as zero
        return "0"
    if abs(x) >= 10 ** (digits - 1):
        return f"{x:,.0f}"
    decimals = max(digits - 1 - math.floor(math.log10(abs(x))), 0)
    return f"{x:,.{decimals}f}"


def p_value(p) -> str:
    """A p-value as a reader reads it: ``< 0.001`` below that, else two significant digits.

    >>> [p_value(v) for v in (0.0, 2e-12, 0.0004, 0.0123, 0.5, 1.0)]
    ['< 0.001', '< 0.001', '< 0.001', '0.012', '0.50', '1.00']
    """
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return DASH
    p = float(p)
    if p < 0.001:
        return "< 0.001"
    return f"{p:.3f}" if p < 0.1 else f"{p:.2f}"


def p_words(p) -> str:
    """A p-value as it sits in a sentence: ``p < 0.001`` or ``p = 0.04`` (without the "p")."""
    shown = p_value(p)
    return shown if shown.startswith("<") else f"= {shown}"


def percent(x, *, digits: int = 3) -> str:
    """A share as a percentage to ``digits`` significant digits: 0.2654 -> ``26.5%``."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return DASH
    return f"{fixed(100 * float(x), digits=digits)}%"  # fixed: 68.0% beside 70.3%, not 68%


def points(x, *, digits: int = 2) -> str:
    """A difference of two shares in percentage points, signed: -0.0420 -> ``-4.2 pp``."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return DASH
    text = number(100 * float(x), digits=digits)
    return f"{'+' if float(x) > 0 else ''}{text} pp"


def interval(lower, upper, fmt=fixed) -> str:
    """``lower to upper``; a bound that is missing reads "not reached"; no interval at all (both missing): a dash.

    >>> interval(17.98, 18.03), interval(0.25, None)
    ('17.98 to 18.03', '0.250 to not reached')
    """
    def missing(x):
        return x is None or (isinstance(x, float) and math.isnan(x))

    if missing(lower) and missing(upper):
        return DASH
    if fmt in (fixed, number):  # as many digits as tell the two bounds apart
        digits = digits_apart(lower, upper, fmt=fmt)
        fmt = functools.partial(fmt, digits=digits)
    return " to ".join("not reached" if missing(x) else fmt(x) for x in (lower, upper))


def digits_apart(lower, upper, *, fmt=fixed, digits: int = 3, most: int = 6) -> int:
    """The fewest digits, from ``digits`` up to ``most``, with which ``fmt(x, digits=...)`` prints two
    different bounds differently (a narrow interval of millions of customers); ``digits`` when the
    bounds are equal or one is missing. Print the estimate with the same digits.

    >>> digits_apart(0.2, 0.3), digits_apart(17.98, 18.03), digits_apart(1.0, 1.0), digits_apart(1.0, None)
    (3, 4, 3, 3)
    >>> digits_apart(0.8561, 0.8633, fmt=lambda x, digits: f"{x:.{digits}f}", digits=2, most=4)  # decimals
    3
    """
    if any(x is None or math.isnan(float(x)) for x in (lower, upper)) or float(lower) == float(upper):
        return digits
    return next((d for d in range(digits, most + 1) if fmt(lower, digits=d) != fmt(upper, digits=d)), most)


@dataclass
class Table:
    """A DataFrame and how to show it; ``Table.frame`` is the data, the HTML is for readers.

    Parameters
    ----------
    frame : DataFrame
        The table. A meaningful index (named, or not a plain 0..n-1 range) becomes the first
        columns; a plain one is not shown.
    labels : mapping, optional
        Column -> label, over `LABELS`.
    percent : iterable of str
        Columns holding shares (0-1), shown in percent (their intervals too).
    units : mapping, optional
        Column -> unit, added to the header: ``{"revenue": "EUR"}`` -> "Revenue (EUR)".
    top : int
        Rows shown before the rest is collapsed.
    caption : str
        A sentence above the table (escaped).
    """

    frame: pd.DataFrame
    labels: Mapping[str, str] = field(default_factory=dict)
    percent: Iterable[str] = ()
    units: Mapping[str, str] = field(default_factory=dict)
    top: int = TOP_ROWS
    caption: str = ""

    def __post_init__(self):
        self.percent = frozenset(self.percent) | {str(c) for c in self.frame.columns if _SHARES.match(str(c))}

    # ---- formatting ----------------------------------------------------------------------------
    def formatted(self) -> pd.DataFrame:
        """Every cell as the text a reader sees, columns under their labels, each interval one column."""
        frame = _visible(self.frame)
        frame.columns = cols = [str(c) for c in frame.columns]
        lower_of = {lo: (key, hi) for key, (lo, hi) in _interval_pairs(cols).items()}
        uppers = {hi for _, hi in lower_of.values()}
        out = {}
        for col in cols:
            if col in lower_of:
                key, hi = lower_of[col]
                fmt = percent if self.percent & {key, col, hi} else fixed
                head = "95% interval" if "/" in key else f"{self._header(key)}, 95% interval"  # a bare pair
                out[head] = [interval(a, b, fmt) for a, b in zip(frame[col], frame[hi])]
            elif col not in uppers and col not in _HIDDEN:
                out[self._header(col)] = self._column(col, frame[col])
        return pd.DataFrame(out, index=range(len(frame)))

    def _header(self, col: str) -> str:
        text = self.labels.get(col) or label(col)
        unit = self.units.get(col)
        return f"{text} ({unit})" if unit else text

    def _column(self, col: str, values: pd.Series) -> list[str]:
        if col in self.percent:
            return [percent(v) for v in values]
        if _P.match(col) and pd.api.types.is_numeric_dtype(values):
            return [p_value(v) for v in values]
        if col in _TERMS:
            return [DASH if _missing(v) else term(v) for v in values]
        if pd.api.types.is_bool_dtype(values):
            return ["yes" if v else "no" for v in values]
        if pd.api.types.is_numeric_dtype(values):
            whole = values.dropna()
            if len(whole) and (whole == whole.round()).all():
                return [number(v) for v in values]
            return [fixed(v) for v in values]
        if pd.api.types.is_datetime64_any_dtype(values):
            return [DASH if pd.isna(v) else str(v.date() if v == v.normalize() else v) for v in values]
        return [DASH if _missing(v) else str(v) for v in values]

    # ---- showing -------------------------------------------------------------------------------
    def html(self) -> str:
        """The table as HTML: escaped, no index, long tables collapsed, wide ones turned or split."""
        shown = self.formatted()
        parts = [f'<p class="wb-caption">{html.escape(self.caption)}</p>'] if self.caption else []
        turned = shown.shape[1] > WIDE and len(shown) <= 6
        if turned:
            shown = _on_its_side(shown)
        groups = _column_groups(shown) if shown.shape[1] > WIDE else [shown]
        for group in groups:
            head, rest = (group, group.iloc[:0]) if turned else (group.iloc[:self.top], group.iloc[self.top:])
            parts.append(_styled(head))
            if len(rest):
                parts.append(f"<details><summary>All {len(group):,} rows</summary>{_styled(group)}</details>")
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        return self.html()

    def __repr__(self) -> str:
        return repr(self.frame)


def _missing(v) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _visible(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with a meaningful index as columns and a plain one dropped."""
    index = frame.index
    plain = isinstance(index, pd.RangeIndex) or (index.name is None and index.nlevels == 1
                                                 and pd.api.types.is_integer_dtype(index))
    if plain:
        return frame.reset_index(drop=True)
    names = [n if n is not None else ("level" if index.nlevels == 1 else f"level {i + 1}")
             for i, n in enumerate(index.names)]
    out = frame.copy()
    out.index = out.index.set_names(names)
    return out.reset_index()


def _interval_pairs(cols: list[str]) -> dict[str, tuple[str, str]]:
    """Estimate column (or a key for a bare pair) -> (lower, upper) column names."""
    pairs = {}
    present = set(cols)
    for col in cols:
        for lo_s, hi_s in _INTERVAL_SUFFIXES:
            if col.endswith(lo_s) and col[: -len(lo_s)] + hi_s in present:
                pairs[col[: -len(lo_s)]] = (col, col[: -len(lo_s)] + hi_s)
    for lo, hi in _BARE_INTERVALS:
        if lo in present and hi in present:
            pairs[f"{lo}/{hi}"] = (lo, hi)
    return pairs


def _styled(frame: pd.DataFrame) -> str:
    styler = frame.style.hide(axis="index").format(escape="html").format_index(escape="html", axis=1)
    return styler.to_html(exclude_styles=True, table_attributes='class="wb-table"')


def _on_its_side(frame: pd.DataFrame) -> pd.DataFrame:
    """A wide table with few rows, transposed: one row per former column.

    The leading text columns that name the rows (one, or two joined by ": " when one alone
    repeats) head the new columns; otherwise a single row is headed "value" and several rows by
    their number.
    """
    names = _leading_labels(frame)
    if names:
        head = frame[names].astype(str).agg(": ".join, axis=1)
        side = frame.drop(columns=names).T
        side.columns = head.tolist()
    else:
        side = frame.T
        side.columns = ["value"] if len(frame) == 1 else [str(i + 1) for i in range(len(frame))]
    side.insert(0, "", side.index)
    return side.reset_index(drop=True)


def _leading_labels(frame: pd.DataFrame, most: int = 2) -> list:
    """The first columns (at most ``most``) that hold text and together name every row once; [] if none do."""
    texts = []
    for col in frame.columns[:most]:
        if frame[col].str.fullmatch(r"[-+\d.,%\s–]+|not reached.*|").all():
            break
        texts.append(col)
        if not frame[texts].duplicated().any():
            return texts
    return []


def _column_groups(frame: pd.DataFrame) -> list[pd.DataFrame]:
    """A wide table as groups of at most `WIDE` columns, each repeating the columns that name the rows."""
    names = _leading_labels(frame) or [frame.columns[0]]
    rest = [c for c in frame.columns if c not in names]
    size = max(WIDE - len(names), 1)
    return [frame[[*names, *rest[i:i + size]]] for i in range(0, len(rest), size)]

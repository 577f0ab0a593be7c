"""Check tables against the data contract, once, where data comes in.

`validate` reads every rule from `helpers.data.schema`, collects every problem it finds (not only
the first), and raises one `DataError` whose message lists them, each naming the table, the
column, how many rows, a few example rows and what to fix. What it returns is typed with the
contract's dtypes and sorted; downstream code trusts it.

Row numbers in messages are the frame's index labels. A loader that reads a file may set the
index to the file's line numbers so that messages point into the file.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers.data import schema as S

MAX_EXAMPLES = 5
_TRUE = {True, "true", "True", "TRUE", "1"}  # True == 1: the number 1 is in the set too
_FALSE = {False, "false", "False", "FALSE", "0"}  # and 0


@dataclass(frozen=True)
class Problem:
    table: str
    column: str | None
    count: int
    what: str
    rows: tuple = ()
    fix: str = ""

    def __str__(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        if not self.count:
            return f"{where}: {self.what}: {self.fix}"
        shown = ", ".join(str(r) for r in self.rows[:MAX_EXAMPLES])
        more = ", ..." if self.count > MAX_EXAMPLES else ""
        rows = "rows" if self.count > 1 else "row"
        return f"{where}: {self.count} {rows} {self.what} ({rows} {shown}{more}): {self.fix}"


class DataError(ValueError):
    """The data do not meet the contract. ``problems`` lists every rule that failed."""

    def __init__(self, problems: list[Problem], source: str = "the data set"):
        self.problems = list(problems)
        self.source = source
        lines = "\n".join(f"- {p}" for p in self.problems)
        n = len(self.problems)
        super().__init__(f"{source} does not meet the data contract ({n} problem{'s' if n > 1 else ''}):\n{lines}")


def _problem(table, column, mask: pd.Series, what, fix) -> Problem | None:
    mask = mask.fillna(False).astype(bool)
    n = int(mask.sum())
    if not n:
        return None
    return Problem(table, column, n, what, tuple(mask.index[mask][:MAX_EXAMPLES]), fix)


# ---- one column ------------------------------------------------------------------------------

def _coerce_bool(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    present = values.notna()
    if pd.api.types.is_bool_dtype(values.dtype):  # already flags: nothing to read
        return values.astype("boolean"), pd.Series(False, index=values.index)
    kinds = pd.unique(values[present])  # each distinct value looked up once, not each cell
    is_true = values.isin([v for v in kinds if v in _TRUE]) & present
    is_false = values.isin([v for v in kinds if v in _FALSE]) & present
    out = pd.Series(pd.NA, index=values.index, dtype="boolean")
    out[is_true] = True
    out[is_false] = False
    return out, present & ~(is_true | is_false)


def _coerce(values: pd.Series, col: S.Column) -> tuple[pd.Series, pd.Series, str, str]:
    """Cast to the column's kind; return (cast, bad-mask, what, fix) for values that would not cast."""
    present = values.notna()
    if col.kind == "date":
        cast = pd.to_datetime(values, errors="coerce", format="mixed") if values.dtype == object \
            else pd.to_datetime(values, errors="coerce")
        return cast, present & cast.isna(), "not a date", \
            "write dates as YYYY-MM-DD (or give the date format in the mapping)"
    if col.kind == "float":
        cast = pd.to_numeric(values, errors="coerce") if values.dtype == object or \
            pd.api.types.is_string_dtype(values) else values.astype("float64")
        return cast.astype("float64"), present & cast.isna(), "not a number", \
            "use plain numbers with a '.' decimal point and no thousands separators (or give the " \
            "file's decimal: and thousands: marks in the mapping)"
    if col.kind == "bool":
        cast, bad = _coerce_bool(values)
        return cast, bad, "not true/false", \
            "use True/False or 1/0 (map other labels such as 'Yes'/'No' in the mapping)"
    cast = values.astype("string")
    if col.choices:
        bad = present & ~cast.isin(col.choices)
        unknown = sorted(set(cast[bad].astype(str)))[:MAX_EXAMPLES]
        return cast, bad, f"outside the allowed values ({', '.join(map(repr, unknown))})", \
            f"allowed values are {', '.join(col.choices)}"
    return cast, pd.Series(False, index=values.index), "", ""


def _check_column(df: pd.DataFrame, table: str, col: S.Column, problems: list) -> pd.Series:
    cast, bad, what, fix = _coerce(df[col.name], col)
    problems.append(_problem(table, col.name, bad, what, fix))
    if not col.nullable:
        problems.append(_problem(table, col.name, df[col.name].isna(), "missing",
                                 "this column may not be empty; fill it or drop those rows"))
    if col.kind == "float":
        problems.append(_problem(table, col.name, pd.Series(np.isinf(cast), index=cast.index),
                                 "infinite", "replace them with real numbers or leave them empty"))
        if col.min is not None:
            problems.append(_problem(table, col.name, cast < col.min, f"below {col.min:g}",
                                     f"{col.name} must be >= {col.min:g}"))
        if col.max is not None:
            problems.append(_problem(table, col.name, cast > col.max, f"above {col.max:g}",
                                     f"{col.name} must be <= {col.max:g}"))
    if col.unique:
        problems.append(_problem(table, col.name, cast.notna() & cast.duplicated(keep=False),
                                 "duplicated", "each value must appear once; remove the duplicates"))
    return cast


# ---- one table -------------------------------------------------------------------------------

def _check_table(name: str, df: pd.DataFrame, problems: list) -> pd.DataFrame:
    table = S.TABLES[name]
    df = df.copy()
    if name == S.CUSTOMERS and S.TENURE not in df and {S.SIGNUP_DATE, S.END_DATE} <= set(df):
        df[S.TENURE] = np.nan  # derived below, once the dates are parsed
    missing = [c.name for c in table.columns if c.required and c.name not in df]
    for column in missing:
        extra = " or both signup_date and end_date" if column == S.TENURE else ""
        problems.append(Problem(name, column, 0, "column missing", fix=f"add the column{extra} (columns found: "
                                f"{', '.join(map(str, df.columns)) or 'none'})"))
    if missing:
        return df
    if df.empty:
        problems.append(Problem(name, None, 0, "no rows", fix="the table is empty; give at least one row"))
        return df
    for col in table.columns:
        if col.name in df:
            if col.name == S.TENURE and df[S.TENURE].isna().all() and S.SIGNUP_DATE in df:
                continue
            df[col.name] = _check_column(df, name, col, problems)
    return df


@dataclass(frozen=True)
class RowRule:
    """A rule across columns of the customers table, written once for pandas and for DuckDB.

    ``broken(customers)`` is True where a row breaks it; ``sql`` is the same test as a WHERE
    clause over the raw table (`helpers.engine.scale.check`). It applies when every column of
    ``needs`` is present.
    """

    column: str
    needs: tuple[str, ...]
    broken: Callable[[pd.DataFrame], pd.Series]
    sql: str
    what: str
    fix: str


CUSTOMER_RULES = (
    RowRule(S.END_DATE, (S.SIGNUP_DATE, S.END_DATE), lambda c: c[S.END_DATE] < c[S.SIGNUP_DATE],
            f"CAST({S.END_DATE} AS DATE) < CAST({S.SIGNUP_DATE} AS DATE)",
            "with the end date before the signup date", "end_date must be on or after signup_date"),
    RowRule(S.END_REASON, (S.END_REASON,), lambda c: c[S.END_REASON].notna() & ~c[S.CHURNED].astype(bool),
            f"{S.END_REASON} IS NOT NULL AND NOT CAST({S.CHURNED} AS BOOLEAN)",
            "with an end reason but not churned",
            "an end reason belongs to churned customers only; clear it or set churned"),
)


def _customer_rules(c: pd.DataFrame, problems: list) -> pd.DataFrame:
    for rule in CUSTOMER_RULES:
        if set(rule.needs) <= set(c):
            problems.append(_problem(S.CUSTOMERS, rule.column, rule.broken(c), rule.what, rule.fix))
    if {S.SIGNUP_DATE, S.END_DATE} <= set(c):
        derived = S.tenure_from_dates(c[S.SIGNUP_DATE], c[S.END_DATE])
        if c[S.TENURE].isna().all():
            c[S.TENURE] = derived
        else:
            off = (c[S.TENURE] - derived).abs() > 1.01 / S.DAYS_PER_MONTH
            problems.append(_problem(S.CUSTOMERS, S.TENURE, off & derived.notna(),
                                     "disagreeing with signup_date and end_date by more than a day",
                                     "drop tenure_months to derive it from the dates, or correct the dates"))
    return c


def _reference_rules(t: dict[str, pd.DataFrame], problems: list) -> None:
    customers = t[S.CUSTOMERS].set_index(S.CUSTOMER_ID)
    known = customers.index
    for name, df in t.items():
        if name == S.CUSTOMERS or S.CUSTOMER_ID not in df:
            continue
        unknown = ~df[S.CUSTOMER_ID].isin(known)
        problems.append(_problem(name, S.CUSTOMER_ID, unknown, "not in the customers table",
                                 "every row must belong to a known customer; add the customers or drop the rows"))
    if not {S.SIGNUP_DATE, S.END_DATE} <= set(customers):
        return
    for name, column in ((S.CONTACTS, S.OPENED_AT), (S.CAMPAIGNS, S.ASSIGNED_AT), (S.REVENUE, S.MONTH)):
        if name not in t:
            continue
        df = t[name]
        signup = df[S.CUSTOMER_ID].map(customers[S.SIGNUP_DATE])
        end = df[S.CUSTOMER_ID].map(customers[S.END_DATE])
        when = df[column]
        if name == S.REVENUE:  # a month counts if any of its days is within the tenure
            signup, end = signup.dt.to_period("M").dt.to_timestamp(), end.dt.to_period("M").dt.to_timestamp()
        problems.append(_problem(name, column, when < signup, "before the customer's signup_date",
                                 "check the dates, or the customer's signup_date"))
        problems.append(_problem(name, column, when > end, "after the customer's end_date",
                                 "check the dates, or the customer's end_date (churn date)"))


def _contact_rules(c: pd.DataFrame, problems: list) -> None:
    if S.RESOLVED_AT in c:
        problems.append(_problem(S.CONTACTS, S.RESOLVED_AT, c[S.RESOLVED_AT] < c[S.OPENED_AT],
                                 "resolved before they were opened", "resolved_at must be on or after opened_at"))
    if S.REPEAT_OF in c:
        unknown = c[S.REPEAT_OF].notna() & ~c[S.REPEAT_OF].isin(c[S.CONTACT_ID])
        problems.append(_problem(S.CONTACTS, S.REPEAT_OF, unknown,
                                 "naming an unknown contact", "repeat_of must name a contact_id of this table"))
    not_complaint = c[S.KIND] != S.COMPLAINT
    for column in (S.RECOVERY_ACTION, S.RECOVERED):
        if column in c:
            problems.append(_problem(S.CONTACTS, column, c[column].notna() & not_complaint,
                                     "set on a contact that is not a complaint",
                                     "recovery fields belong to complaints only; clear them or fix the kind"))


def validate(tables: dict[str, pd.DataFrame], *, source: str = "the data set") -> dict[str, pd.DataFrame]:
    """Check tables against the data contract and return them typed and sorted.

    Parameters
    ----------
    tables : dict of str to DataFrame
        Tables by contract name; ``customers`` is required, the others optional. Columns
        outside the contract are kept as they are (they can serve as extra covariates).
    source : str
        How to name the data in messages, e.g. ``"data set 'synthetic'"``.

    Returns
    -------
    dict of str to DataFrame
        The same tables, cast to the contract's dtypes (``schema.pandas_dtype``), with
        ``tenure_months`` derived from the dates when it was absent, sorted, index reset.

    Raises
    ------
    DataError
        Listing every failed rule: table, column, count, example rows, what to fix.

    Example
    -------
    >>> import pandas as pd
    >>> t = validate({"customers": pd.DataFrame({"customer_id": ["a"], "churned": [True],
    ...                                          "tenure_months": [3.0]})})
    >>> t["customers"]["tenure_months"].tolist()
    [3.0]
    """
    problems: list = []
    unknown = sorted(set(tables) - set(S.TABLES))
    if unknown:
        problems.append(Problem(unknown[0], None, 0, "table not in the data contract",
                                fix=f"tables are {', '.join(S.TABLES)}; rename or drop {', '.join(unknown)}"))
    if S.CUSTOMERS not in tables:
        problems.append(Problem(S.CUSTOMERS, None, 0, "table missing", fix="a data set needs a customers table"))
        raise DataError([p for p in problems if p], source)
    out = {name: _check_table(name, df, problems) for name, df in tables.items() if name in S.TABLES}
    if not any(problems):
        out[S.CUSTOMERS] = _customer_rules(out[S.CUSTOMERS], problems)
        if S.CONTACTS in out:
            _contact_rules(out[S.CONTACTS], problems)
        _reference_rules(out, problems)
    problems = [p for p in problems if p]
    if problems:
        raise DataError(problems, source)
    return {name: _conform(name, df) for name, df in out.items()}


def require_columns(df: pd.DataFrame, columns, *, table: str, parameter: str = "") -> None:
    """A clear error naming the table, the missing columns and the parameter that asked for them.

    Empty names are ignored (a parameter set to "" means "no such column").

    Example
    -------
    >>> require_columns(pd.DataFrame({"a": [1]}), ["b"], table="x.csv", parameter="OUTCOME")
    Traceback (most recent call last):
    ValueError: x.csv has no column 'b' (asked for by OUTCOME); its columns are a
    """
    missing = [c for c in dict.fromkeys(columns) if c and c not in df]
    if missing:
        asked = f" (asked for by {parameter})" if parameter else ""
        raise ValueError(f"{table} has no column {', '.join(map(repr, missing))}{asked}; its columns are "
                         f"{', '.join(map(str, df.columns))}")


def _conform(name: str, df: pd.DataFrame) -> pd.DataFrame:
    for col in S.TABLES[name].columns:
        if col.name in df:
            df[col.name] = df[col.name].astype(S.pandas_dtype(col))
    return arranged(name, df)


def arranged(name: str, df: pd.DataFrame) -> pd.DataFrame:
    """A table as `validate` returns it: contract columns first, in contract order; sorted by its keys; index reset."""
    table = S.TABLES[name]
    ordered = [c for c in table.names if c in df] + [c for c in df.columns if c not in table.names]
    return df[ordered].sort_values(list(table.sort_by), kind="stable").reset_index(drop=True)

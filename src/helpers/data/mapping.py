"""Bring your own data: a YAML mapping file describes how your files become the contract's tables.

One entry per contract table (``customers`` required; ``revenue``, ``contacts``, ``campaigns``,
``manager_departures`` optional); every key but ``file`` is optional::

    description: CRM export of June 2024            # free text
    customers:
      file: export.csv          # .csv, .tsv, .txt, .parquet, .xlsx; relative to this YAML file
      sheet: Customers          # Excel only (default: the first sheet)
      delimiter: ";"            # default "," (a tab for .tsv)
      encoding: latin-1         # default utf-8; a byte-order mark (utf-8-sig) is detected
      header_row: 1             # line of the column names (1 = the first line)
      decimal: ","              # decimal mark of numbers (default ".")
      thousands: "."            # thousands separator to strip from numbers (default: none)
      missing: ["n/a", "-"]     # extra cell values meaning "missing" (blank cells always are)
      columns:                  # contract column: source column
        customer_id: Customer No
        contract: Plan
      values:                   # per column: source value -> contract value (quote "Yes"/"No")
        contract: {"Monthly": month-to-month, "Annual": one-year}
      dates:                    # per date column: its strftime format (default YYYY-MM-DD)
        signup_date: "%d/%m/%Y"
      tenure: {column: Days, unit: days}       # or months, weeks, years; else derived from the dates
      churned: {from: end_date, observed_until: 2024-06-30}   # or {column: Status, values: [Closed], active: [Open]}
      keep: [gender, Region Code]              # extra source columns (a list, or {source: name})
      fill: {total_charges: 0}                 # value for the missing cells of a column

Customer ids, when not mapped, come from the file's column named like ``customer_id`` (any case,
spaces or underscores: "Customer ID", "customerID"; two such columns are refused), else are
generated as ``C1``, ``C2``, ... in file order; `profile` says which. Row numbers in
messages are the file's line numbers (header = line 1, first data row = line 2), assuming no
line breaks inside quoted cells. `load_mapping` returns raw tables; ``helpers.data.validate``
checks them (``io.load_dataset("path/to/mapping.yaml")`` does both).
"""
from __future__ import annotations

import difflib
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from helpers.data import schema as S
from helpers.data.validate import DataError, Problem

TABLE_KEYS = ("file", "sheet", "delimiter", "encoding", "header_row", "decimal", "thousands", "missing",
              "columns", "values", "dates", "tenure", "churned", "keep", "fill")
TOP_KEYS = ("description", *S.TABLES)
TENURE_KEYS = ("column", "unit")
TENURE_UNITS = {"months": 1.0, "days": 1 / S.DAYS_PER_MONTH, "weeks": 7 / S.DAYS_PER_MONTH, "years": 12.0}
CHURN_KEYS = {"column": ("column", "values", "active", "otherwise"), "from": ("from", "observed_until")}
EXCEL = (".xlsx", ".xlsm", ".xls")
TEXT = (".csv", ".tsv", ".txt", ".tab")
ISO_LAYOUT = "Y-9-9"


class MappingError(ValueError):
    """The mapping file itself is wrong, or a data file cannot be read (one a mapping names, or a folder's)."""


def _suggest(word, options) -> str:
    """``"; did you mean 'x'?"`` for the closest option, or ``""``.

    Example
    -------
    >>> _suggest("colums", ["columns", "values"])
    "; did you mean 'columns'?"
    """
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _unknown(found, allowed, where: str) -> list[str]:
    return [f"{where}: unknown key {k!r}{_suggest(k, allowed)} (keys are {', '.join(allowed)})"
            for k in found if k not in allowed]


# ---- the mapping file ------------------------------------------------------------------------

def _check_table_spec(name: str, spec, errors: list) -> None:
    if not isinstance(spec, dict) or "file" not in spec:
        errors.append(f"{name}: give at least `file:` (the path of the table's file)")
        return
    errors += _unknown(spec, TABLE_KEYS, name)
    table = S.TABLES[name]
    for column in spec.get("columns") or {}:
        if column not in table.names:
            errors.append(f"{name}.columns: {column!r} is not a column of the {name} table in the data contract"
                          f"{_suggest(column, table.names)} (columns: {', '.join(table.names)}); list "
                          "columns outside the contract under keep:")
    dates = [c.name for c in table.columns if c.kind == "date"]
    for column in spec.get("dates") or {}:
        if column not in dates:
            errors.append(f"{name}.dates: {column!r} is not a date column of {name}{_suggest(column, dates)} "
                          f"(date columns: {', '.join(dates)})")
    for column, values in (spec.get("values") or {}).items():
        booleans = [k for k in values or {} if isinstance(k, bool)]
        if booleans:
            errors.append(f"{name}.values.{column}: the key {booleans[0]!r} was read by YAML as a boolean (unquoted "
                          "Yes/No/On/Off become true/false): quote the source values, e.g. \"Yes\": true")
    errors += _nested(name, spec) + _sources_used_twice(name, spec)


def _sources_used_twice(name: str, spec: dict) -> list[str]:
    """One source column feeding several contract columns, or tenure given both ways: refused, not guessed.

    >>> _sources_used_twice("customers", {"columns": {"contract": "Plan", "region": "Plan"}})
    ["customers: the source column 'Plan' feeds contract and region: map each contract column from a column of its own"]
    """
    errors, columns = [], spec.get("columns") or {}
    fed: dict[str, list[str]] = {}
    for target, source in columns.items():
        fed.setdefault(str(source), []).append(str(target))
    for block in ("tenure", "churned"):  # a status column read as churned is a source too
        if isinstance(spec.get(block), dict) and "column" in spec[block]:
            fed.setdefault(str(spec[block]["column"]), []).append(block)
    tenure = spec.get("tenure")
    if isinstance(tenure, dict) and "column" in tenure and S.TENURE in columns:
        errors.append(f"{name}: tenure is given twice, as columns: {S.TENURE}: {columns[S.TENURE]!r} and as "
                      f"tenure: {{column: {tenure['column']!r}}}: keep one")
    for source, targets in fed.items():
        if len(set(targets)) > 1:
            errors.append(f"{name}: the source column {source!r} feeds {', '.join(targets[:-1])} and {targets[-1]}: "
                          "map each contract column from a column of its own")
    return errors


def _nested(name: str, spec: dict) -> list[str]:
    """Problems of the tenure: and churned: blocks: unknown keys (with "did you mean"), units, labels."""
    errors = []
    tenure = spec.get("tenure")
    if tenure is not None:
        units = ", ".join(TENURE_UNITS)
        if not isinstance(tenure, dict) or "column" not in tenure:
            errors.append(f"{name}.tenure: write {{column: <source column>, unit: months}} (units: {units})")
        else:
            errors += _unknown(tenure, TENURE_KEYS, f"{name}.tenure")
            if tenure.get("unit", "months") not in TENURE_UNITS:
                errors.append(f"{name}.tenure: unit {tenure['unit']!r} is not one of {units}"
                              f"{_suggest(tenure['unit'], TENURE_UNITS)}")
    churned = spec.get("churned")
    if churned is not None:
        kind = next((k for k in CHURN_KEYS if isinstance(churned, dict) and k in churned), None)
        if kind is None:
            errors.append(f"{name}.churned: write {{column: <status column>, values: [<churned labels>], active: "
                          "[<other labels>]} or {from: end_date, observed_until: YYYY-MM-DD}")
        else:
            errors += _unknown(churned, CHURN_KEYS[kind], f"{name}.churned")
            if "otherwise" in churned and not isinstance(churned["otherwise"], bool):
                errors.append(f"{name}.churned: otherwise is true or false (whether a label under neither values: "
                              f"nor active: is churned), got {churned['otherwise']!r}")
    return errors


def read_mapping(path: str | Path) -> dict:
    """Parse a mapping file and check its structure (keys, tables, contract columns).

    Raises
    ------
    FileNotFoundError
        When the mapping file does not exist.
    MappingError
        Listing every problem: unknown keys (with a "did you mean"), unknown contract columns,
        a missing customers table, value maps whose keys YAML turned into booleans.

    Example
    -------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "m.yaml"
    >>> _ = p.write_text("customers:\\n  file: c.csv\\n  colums: {}\\n")
    >>> read_mapping(p)
    Traceback (most recent call last):
    ...
    helpers.data.mapping.MappingError: m.yaml: customers: unknown key 'colums'; did you mean 'columns'? ...
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"mapping file not found: {path} (write one with `workbench data init FILE`)")
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8-sig")) or {}
    except yaml.YAMLError as e:
        raise MappingError(f"{path.name} is not valid YAML: {e}") from e
    if not isinstance(spec, dict):
        raise MappingError(f"{path.name}: a mapping file is a set of `table: {{file: ...}}` entries")
    errors = _unknown(spec, TOP_KEYS, "top level")
    if S.CUSTOMERS not in spec:
        errors.append("customers: missing: a data set needs a customers table (`customers: {file: ...}`)")
    for name in S.TABLES:
        if name in spec:
            _check_table_spec(name, spec[name], errors)
    if errors:
        raise MappingError(f"{path.name}: " + "\n".join(errors) if len(errors) == 1 else
                           f"{path.name} has {len(errors)} problems:\n" + "\n".join(f"- {e}" for e in errors))
    return spec


# ---- reading one file ------------------------------------------------------------------------

def _encoding(path: Path, spec: dict) -> str:
    given = spec.get("encoding", "utf-8")
    with path.open("rb") as fh:
        bom = fh.read(3) == b"\xef\xbb\xbf"
    return "utf-8-sig" if bom and given.lower().replace("_", "-") in ("utf-8", "utf8") else given


def _decode_error(table: str, path: Path, encoding: str, err: UnicodeDecodeError) -> MappingError:
    data = path.read_bytes()
    line = data[:data.find(err.object[err.start:err.end]) if err.object else 0].count(b"\n") + 1
    return MappingError(f"{table}: {path.name} is not {encoding} text (byte {err.object[err.start]:#x} on line "
                        f"{line}): it is probably Latin-1 or Windows-1252; add `encoding: latin-1` (or cp1252) to "
                        f"the {table} entry of the mapping")


def _read_text(table: str, path: Path, spec: dict) -> pd.DataFrame:
    sep = spec.get("delimiter", "\t" if path.suffix.lower() in (".tsv", ".tab") else ",")
    encoding = _encoding(path, spec)
    try:
        return pd.read_csv(path, sep=sep, encoding=encoding, header=int(spec.get("header_row", 1)) - 1, dtype=str,
                           na_values=list(spec.get("missing", [])), skip_blank_lines=False)
    except UnicodeDecodeError as e:  # the encoding is the mapping's to give; empty or damaged files: io.read_file
        raise _decode_error(table, path, encoding, e) from e


def _read_excel(table: str, path: Path, spec: dict) -> pd.DataFrame:
    with pd.ExcelFile(path, engine="openpyxl") as book:  # .xlsx or .xlsm: `io.read_file` refuses .xls
        sheets = book.sheet_names
        sheet = spec.get("sheet", sheets[0])
        if sheet not in sheets:
            raise MappingError(f"{table}: {path.name} has no sheet {sheet!r}{_suggest(sheet, sheets)} (sheets: "
                               f"{', '.join(sheets)}): set sheet: in the mapping")
        return book.parse(sheet, header=int(spec.get("header_row", 1)) - 1, dtype=str,
                          na_values=list(spec.get("missing", [])))


def read_source(table: str, path: Path, spec: dict) -> pd.DataFrame:
    """One source file as text cells, stripped, blank cells missing, indexed by file line number."""
    if not path.is_file():
        raise MappingError(f"{table}: file not found: {path} (paths in a mapping are relative to the mapping file)")
    from helpers.data.io import read_file  # here, not at the top: io imports this module

    suffix = path.suffix.lower()
    if suffix not in TEXT + EXCEL + (".parquet",):
        raise MappingError(f"{table}: {path.name}: give a .csv, .tsv, .txt, .parquet or Excel (.xlsx) file")
    if suffix == ".parquet":
        return read_file(path, table=table)
    df = read_file(path, lambda p: (_read_excel if suffix in EXCEL else _read_text)(table, p, spec), table=table)
    df.columns = [str(c).strip() for c in df.columns]
    df.index = np.arange(len(df)) + int(spec.get("header_row", 1)) + 1
    df = df.apply(lambda s: s.str.strip() if s.dtype == object else s).replace("", np.nan)
    return df.dropna(how="all")


# ---- onto the contract -----------------------------------------------------------------------

def _source_column(table: str, df: pd.DataFrame, path: Path, column: str, role: str) -> pd.Series:
    if column in df:
        return df[column]
    found = ", ".join(map(repr, df.columns[:30]))
    hint = ""
    if len(df.columns) == 1:
        for sep in (";", "\t", "|", ","):
            if sep in df.columns[0]:
                hint = f"; the file seems to use {sep!r} between columns: add delimiter: {sep!r}"
                break
    raise MappingError(f"{table}: column {column!r} (for {role}) is not in {path.name}{_suggest(column, df.columns)}"
                       f"{hint} (columns found: {found})")


def _numbers(values: pd.Series, spec: dict) -> pd.Series:
    """Numbers written as text with the mapping's thousands separator and decimal mark, as plain text."""
    if values.dtype != object:
        return values
    if spec.get("thousands"):
        values = values.str.replace(str(spec["thousands"]), "", regex=False)
    if spec.get("decimal", ".") != ".":
        values = values.str.replace(str(spec["decimal"]), ".", regex=False)
    return values


def _layout(values: pd.Series) -> pd.Series:
    day = values.astype(str).str.split(r"[ T]", n=1).str[0]
    return day.str.replace(r"[A-Za-z]+", "M", regex=True).str.replace(r"\d{3,}", "Y", regex=True) \
        .str.replace(r"\d{1,2}", "9", regex=True)


def _dates(table: str, column: str, values: pd.Series, fmt: str | None, problems: list) -> pd.Series:
    """Parse a date column with its format; without one, dates must be written YYYY-MM-DD."""
    if values.dtype != object:
        return values
    present = values.notna()
    if fmt:
        parsed = pd.to_datetime(values, format=fmt, errors="coerce")
        bad = present & parsed.isna()
        problems.append(_rows_problem(table, column, bad, f"not a date in the format {fmt!r}", values,
                                      f"correct them, or change dates: {column}: in the mapping"))
        return parsed
    other = present & (_layout(values) != ISO_LAYOUT)
    problems.append(_rows_problem(table, column, other, "not written YYYY-MM-DD", values,
                                  f"give their format under dates: {column}: in the mapping (e.g. '%d/%m/%Y' or "
                                  "'%m/%d/%Y'); a column with several layouts must be made consistent first"))
    return values


def _rows_problem(table, column, mask: pd.Series, what, values: pd.Series, fix) -> Problem | None:
    n = int(mask.sum())
    if not n:
        return None
    shown = ", ".join(repr(v) for v in pd.unique(values[mask])[:3])
    return Problem(table, column, n, f"{what} (e.g. {shown})", tuple(mask.index[mask][:5]), fix)


def _keep(spec: dict) -> dict:
    keep = spec.get("keep") or {}
    return dict(keep) if isinstance(keep, dict) else {c: c for c in keep}


def _infer(values: pd.Series, spec: dict) -> pd.Series:
    """A kept column as numbers or booleans when every value is one, else as it is."""
    if values.dropna().map(lambda v: isinstance(v, (bool, np.bool_))).all() and values.notna().any():
        return values.astype(bool) if values.notna().all() else values.astype("boolean")
    if values.dtype == object:
        numbers = pd.to_numeric(_numbers(values, spec), errors="coerce")
        if values.notna().any() and (numbers.notna() == values.notna()).all():
            return numbers
    return values


def _map_values(values: pd.Series, table: dict) -> pd.Series:
    lookup = {str(k): v for k, v in table.items()}
    return values.map(lambda v: lookup.get(str(v), v) if pd.notna(v) else v).astype(object)


def _tenure(df: pd.DataFrame, raw: pd.DataFrame, table: str, path: Path, spec: dict) -> None:
    t = spec["tenure"]
    values = _numbers(_source_column(table, raw, path, t["column"], S.TENURE), spec)
    factor = TENURE_UNITS[t.get("unit", "months")]
    if factor != 1.0:  # text that is not a number stays as it is, for the validator to name
        number = pd.to_numeric(values, errors="coerce")
        values = (number * factor).astype(object).where(number.notna() | values.isna(), values)
    df[S.TENURE] = values


def _churned(df: pd.DataFrame, raw: pd.DataFrame, table: str, path: Path, spec: dict) -> None:
    rule = spec["churned"]
    if "from" in rule:
        if rule["from"] not in df:
            raise MappingError(f"{table}.churned: from {rule['from']!r} needs that column mapped under columns:")
        df[S.CHURNED] = df[rule["from"]].notna()
        if "observed_until" in rule:
            until = pd.to_datetime(str(rule["observed_until"]), format="%Y-%m-%d", errors="coerce")
            if pd.isna(until):
                raise MappingError(f"{table}.churned: observed_until {rule['observed_until']!r} is not a date: write "
                                   "the last day of observation as YYYY-MM-DD")
            df[rule["from"]] = pd.to_datetime(df[rule["from"]]).fillna(until)
        elif S.TENURE not in df:
            raise MappingError(f"{table}.churned: customers without an end date need an end of observation to "
                               "derive their tenure: add observed_until: YYYY-MM-DD")
        return
    status = _source_column(table, raw, path, rule["column"], S.CHURNED)
    churned, active = ([str(v) for v in rule.get(key) or []] for key in ("values", "active"))
    unlisted = status.notna() & ~status.isin([*churned, *active])
    if "otherwise" not in rule and unlisted.any():
        labels = ", ".join(f"{label!r} ({n:,} rows)" for label, n in status[unlisted].value_counts().items())
        raise MappingError(f"{table}.churned: column {rule['column']!r} of {path.name} holds labels listed neither "
                           f"under values: (churned) nor under active: {labels}; list each label (matched exactly, "
                           "case included), or add otherwise: false (or true) to say what the rest are")
    df[S.CHURNED] = (status.isin(churned) | (unlisted & bool(rule.get("otherwise")))).where(status.notna())


def _customer_ids(df: pd.DataFrame, raw: pd.DataFrame, path: Path, mapped: set) -> None:
    """Ids for a customers table whose mapping lists none: the file's column named like customer_id, else C1, C2, ...

    How they were found is kept in ``df.attrs["customer_ids"]`` for `profile` (`workbench data check`).
    """
    named = [c for c in raw.columns if _norm(c) == _norm(S.CUSTOMER_ID) and c not in mapped]
    if len(named) > 1:
        raise MappingError(f"{S.CUSTOMERS}: {path.name} has {len(named)} columns that may be the customer id "
                           f"({', '.join(map(repr, named))}): say which under columns:, e.g. "
                           f"`columns: {{{S.CUSTOMER_ID}: {_quote(named[0])}}}`")
    if named:
        df.insert(0, S.CUSTOMER_ID, raw[named[0]])
        df.attrs["customer_ids"] = (f"from column {named[0]!r} of {path.name} ({S.CUSTOMER_ID} is not listed under "
                                    "columns: in the mapping)")
    else:
        df.insert(0, S.CUSTOMER_ID, [f"C{i + 1}" for i in range(len(df))])
        df.attrs["customer_ids"] = (f"generated (C1, C2, ... in file order): {path.name} has no customer id column; "
                                    f"map one under columns: ({S.CUSTOMER_ID}: <column>) to use your own ids")


def _table(name: str, spec: dict, raw: pd.DataFrame, path: Path, problems: list) -> pd.DataFrame:
    table = S.TABLES[name]
    columns = spec.get("columns") or {}
    df = pd.DataFrame(index=raw.index)
    for column, source in columns.items():
        values = _source_column(name, raw, path, source, column)
        kind = table.column(column).kind
        df[column] = _numbers(values, spec) if kind == "float" else values
    for column, fmt in ((c.name, (spec.get("dates") or {}).get(c.name)) for c in table.columns if c.kind == "date"):
        if column in df:
            df[column] = _dates(name, column, df[column], fmt, problems)
    if spec.get("tenure"):
        _tenure(df, raw, name, path, spec)
    if spec.get("churned"):
        _churned(df, raw, name, path, spec)
    if name == S.CUSTOMERS and S.CUSTOMER_ID not in df:
        _customer_ids(df, raw, path, set(columns.values()))
    for source, target in _keep(spec).items():
        df[target] = _source_column(name, raw, path, source, f"keep: {target}")
    for column, value_map in (spec.get("values") or {}).items():
        if column in df:
            df[column] = _map_values(df[column], value_map or {})
    filled = {}
    for column, value in (spec.get("fill") or {}).items():
        if column in df:
            filled[column] = (int(df[column].isna().sum()), value)
            df[column] = df[column].astype(object).where(df[column].notna(), value)
    if filled:  # said by `profile` and by every report's data section (`mapping_notes`)
        df.attrs["filled"] = filled
    for target in _keep(spec).values():
        df[target] = _infer(df[target], spec)
    return df


def load_mapping(path: str | Path) -> tuple[dict[str, pd.DataFrame], list[Path]]:
    """Read the files a mapping names and map them onto the contract's tables (not yet validated).

    Parameters
    ----------
    path : str or Path
        The mapping YAML file (format in this module's docstring).

    Returns
    -------
    (dict of str to DataFrame, list of Path)
        Raw tables by contract name, indexed by the source files' line numbers, and the files
        read (the mapping first), for the fingerprint. ``validate.validate`` checks the tables.

    Raises
    ------
    MappingError
        The mapping is wrong, or a file is missing, empty or unreadable.
    helpers.data.validate.DataError
        Dates that do not follow their format (or YYYY-MM-DD when none is given).

    Example
    -------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "c.csv").write_text("id,Left,Months\\na,Yes,3\\nb,No,0\\n")
    >>> _ = (d / "m.yaml").write_text('''customers:
    ...   file: c.csv
    ...   columns: {customer_id: id, churned: Left, tenure_months: Months}
    ...   values: {churned: {"Yes": true, "No": false}}
    ... ''')
    >>> tables, files = load_mapping(d / "m.yaml")
    >>> tables["customers"]["churned"].to_dict()       # index: line numbers in c.csv
    {2: True, 3: False}
    """
    path = Path(path)
    spec = read_mapping(path)
    tables, files, problems = {}, [path], []
    for name in S.TABLES:
        if name not in spec:
            continue
        source = (path.parent / str(spec[name]["file"])).resolve()
        raw = read_source(name, source, spec[name])
        tables[name] = _table(name, spec[name], raw, source, problems)
        files.append(source)
    problems = [p for p in problems if p]
    if problems:
        raise DataError(problems, f"data set {path.name!r} (row numbers are line numbers in its files)")
    return tables, files


# ---- what a data set supports (`workbench data check`) ----------------------------------------

def _has(df: pd.DataFrame | None, *columns: str) -> bool:
    return df is not None and all(c in df and df[c].notna().any() for c in columns)


def _survival(c: pd.DataFrame) -> tuple[bool, str]:
    n, k = len(c), int(c[S.CHURNED].sum())
    if k == 0:
        return False, f"no customer churned (all {n:,} censored): there are no events to estimate survival from"
    if k == n:
        return True, (f"every customer churned ({n:,}), none censored: check that active customers were not "
                      "left out of the export")
    return True, f"{n:,} customers, {k:,} churned"


def _segments(c: pd.DataFrame) -> tuple[bool, str]:
    counts = {col: c[col].nunique() for col in (S.CONTRACT, S.CUSTOMER_TYPE, S.REGION) if col in c}
    usable = [col for col, k in counts.items() if k >= 2]
    if usable:
        return True, f"by {', '.join(usable)}"
    if counts:
        single = "; ".join(f"{col} has " + (f"one value only ({str(c[col].dropna().iloc[0])!r})" if k else "no values")
                           for col, k in counts.items())
        return False, f"{single}: segments need at least two values"
    return False, "no contract, customer_type or region column"


def _need(tables, table: str, *columns: str) -> tuple[bool, str]:
    df = tables.get(table)
    if df is None:
        return False, f"no {table} table"
    absent = [c for c in columns if not _has(df, c)]
    return (False, f"no {' or '.join(absent)} column") if absent else (True, "")


def analyses(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Which analyses validated tables support, and why not when they do not.

    Example
    -------
    >>> c = pd.DataFrame({"customer_id": ["a", "b"], "churned": [True, False], "tenure_months": [1.0, 2.0]})
    >>> analyses({"customers": c}).set_index("analysis").loc["complaint recovery", "why"]
    'no contacts table'
    """
    c = tables[S.CUSTOMERS]
    rows = {"churn survival": _survival(c), "churn by segment": _segments(c),
            "value x satisfaction quadrants": _need(tables, S.CUSTOMERS, S.MONTHLY_VALUE, S.SATISFACTION),
            "signup cohorts": _need(tables, S.CUSTOMERS, S.SIGNUP_DATE),
            "causes of churn": _need(tables, S.CUSTOMERS, S.END_REASON),
            "account-manager departures": _need(tables, S.MANAGER_DEPARTURES, S.DEPARTED_AT),
            "revenue concentration": _need(tables, S.REVENUE, S.REVENUE_AMOUNT) if S.REVENUE in tables
            else _need(tables, S.CUSTOMERS, S.MONTHLY_VALUE),
            "complaint recovery": _need(tables, S.CONTACTS, S.KIND),
            "retention effort": _need(tables, S.CAMPAIGNS, S.ARM)}
    if rows["complaint recovery"][0] and not (tables[S.CONTACTS][S.KIND] == S.COMPLAINT).any():
        rows["complaint recovery"] = (False, "the contacts table has no complaints")
    if rows["retention effort"][0] and tables[S.CAMPAIGNS][S.ARM].nunique() < 2:
        arm = tables[S.CAMPAIGNS][S.ARM].dropna().iloc[0]
        rows["retention effort"] = (False, f"campaigns.arm has one arm only ({arm!r}): an effect needs treatment "
                                           "and control")
    if rows["churn survival"][0] is False:
        for name in ("churn by segment", "value x satisfaction quadrants", "signup cohorts", "causes of churn"):
            rows[name] = (False, "no churn events")
    return pd.DataFrame([{"analysis": k, "possible": ok, "why": why} for k, (ok, why) in rows.items()])


def profile(tables: dict[str, pd.DataFrame]) -> list[str]:
    """A short text profile of validated tables: rows, churn rate, tenure, missing values, analyses.

    Example
    -------
    >>> c = pd.DataFrame({"customer_id": ["a", "b"], "churned": [True, False], "tenure_months": [1.0, 2.0]})
    >>> profile({"customers": c})[:3]
    ['rows: customers 2', 'churned: 1 of 2 (50.00%)', 'tenure: 1.0 to 2.0 months (median 1.5)']
    """
    c = tables[S.CUSTOMERS]
    tenure = c[S.TENURE]
    lines = ["rows: " + ", ".join(f"{name} {len(df):,}" for name, df in tables.items()),
             f"churned: {int(c[S.CHURNED].sum()):,} of {len(c):,} ({100 * c[S.CHURNED].mean():.2f}%)",
             f"tenure: {tenure.min():.1f} to {tenure.max():.1f} months (median {tenure.median():.1f})"]
    if "customer_ids" in c.attrs:  # a mapping that lists no customer_id (`_customer_ids`)
        lines.append(f"customer ids: {c.attrs['customer_ids']}")
    missing = [f"{name}.{col} {int(n):,} ({100 * n / len(df):.1f}%)" for name, df in tables.items()
               for col, n in df.isna().sum().items() if n]
    filled = [f"{name}.{col} {n:,} set to {value!r}" for name, df in tables.items()
              for col, (n, value) in df.attrs.get("filled", {}).items()]
    lines.append("missing values: " + (", ".join(missing) if missing else "none")
                 + (f" (after the mapping's fill: {', '.join(filled)})" if filled else ""))
    for row in analyses(tables).itertuples():
        lines.append(f"{row.analysis}: {'yes' if row.possible else 'no'}{', ' + row.why if row.why else ''}")
    return lines


def mapping_notes(tables: dict[str, pd.DataFrame]) -> list[str]:
    """Sentences for a report's data section: what a mapping did to the data beyond renaming.

    Cells it filled (``fill:``) and customer ids it took from an unlisted column or generated;
    nothing for data read without a mapping.

    >>> c = pd.DataFrame({"total_charges": [0.0, 5.0]})
    >>> c.attrs["filled"] = {"total_charges": (11, 0)}
    >>> mapping_notes({"customers": c})
    ['The mapping filled 11 missing cells of customers.total_charges with 0.']
    """
    notes = [f"The mapping filled {n:,} missing cell{'s' * (n != 1)} of {name}.{col} with {value!r}."
             for name, df in tables.items() for col, (n, value) in df.attrs.get("filled", {}).items() if n]
    ids = tables.get(S.CUSTOMERS, pd.DataFrame()).attrs.get("customer_ids")
    return notes + ([f"Customer ids: {ids}."] if ids else [])


# ---- drafting a mapping (`workbench data init`) ------------------------------------------------

SYNONYMS = {
    S.CUSTOMER_ID: ("customerid", "customer", "clientid", "accountid", "id", "customerno", "customernumber"),
    S.TENURE: ("tenure", "tenuremonths", "months", "monthsactive"),
    S.CHURNED: ("churn", "churned", "exited", "attrition", "left", "status"),
    S.CONTRACT: ("contract", "contracttype", "plan", "term"),
    S.MONTHLY_VALUE: ("monthlycharges", "monthlyvalue", "monthlyfee", "monthlyrevenue", "arpu", "mrr"),
    S.SIGNUP_DATE: ("signupdate", "startdate", "start", "joindate", "joined", "created", "since", "activated"),
    S.END_DATE: ("enddate", "churndate", "canceldate", "cancellationdate", "terminationdate", "cancelled",
                 "canceled", "terminated", "end"),
    S.SATISFACTION: ("satisfaction", "csat", "satisfactionscore"),
    S.REGION: ("region", "area", "state"),
    S.CUSTOMER_TYPE: ("customertype", "clienttype"),
}
_YES = {"yes", "y", "true", "1", "churned", "left", "exited"}
_NO = {"no", "n", "false", "0", "stayed", "active"}


def _norm(text) -> str:
    return re.sub(r"[^a-z0-9]", "", str(text).lower())


def guess_columns(columns) -> dict[str, str]:
    """Contract column -> source column, guessed from the names (exact synonyms, then close spellings).

    Example
    -------
    >>> guessed = guess_columns(["customerID", "tenure", "Churn", "Contract", "MonthlyCharges", "gender"])
    >>> guessed["customer_id"], guessed["tenure_months"], guessed["churned"], guessed["monthly_value"]
    ('customerID', 'tenure', 'Churn', 'MonthlyCharges')
    """
    by_norm = {_norm(c): c for c in columns}
    guesses, taken = {}, set()
    for target, names in SYNONYMS.items():
        hits = [by_norm[n] for n in names if n in by_norm and by_norm[n] not in taken]
        close = difflib.get_close_matches(_norm(target), [n for n in by_norm if by_norm[n] not in taken], n=1,
                                          cutoff=0.85)
        source = hits[0] if hits else by_norm[close[0]] if close else None
        if source is not None:
            guesses[target] = source
            taken.add(source)
    return guesses


def _guess_values(target: str, values: pd.Series) -> dict | None:
    seen = [str(v) for v in pd.unique(values.dropna())][:20]
    if target == S.CHURNED and len(seen) <= 2 and {_norm(v) for v in seen} <= _YES | _NO:
        return {v: _norm(v) in _YES for v in seen}
    if target == S.CONTRACT:
        choices = {_norm(c): c for c in S.CONTRACTS}
        out = {}
        for v in seen:
            close = difflib.get_close_matches(_norm(v), list(choices), n=1, cutoff=0.6)
            if close:
                out[v] = choices[close[0]]
            elif _contract_word(v):
                out[v] = _contract_word(v)
        return out or None
    return None


def _contract_word(value: str) -> str | None:
    """A contract from common plan words: monthly -> month-to-month, annual / 12 months -> one-year, ...

    Example
    -------
    >>> [_contract_word(v) for v in ("Monthly", "Annual", "24 months", "Gold")]
    ['month-to-month', 'one-year', 'two-year', None]
    """
    v = _norm(value)
    if any(w in v for w in ("two", "24", "biennial")):
        return S.CONTRACTS[2]
    if any(w in v for w in ("annual", "year", "12")):
        return S.CONTRACTS[1]
    if "month" in v or "rolling" in v:
        return S.CONTRACTS[0]
    return None


def _sniffed(file: Path) -> tuple[pd.DataFrame, dict]:
    """The file read for drafting, and ``{"delimiter": ...}`` when it is not a comma (one column read)."""
    raw = read_source(S.CUSTOMERS, file, {})
    if len(raw.columns) == 1 and file.suffix.lower() in TEXT:
        for sep in (";", "\t", "|"):
            if sep in str(raw.columns[0]):
                return read_source(S.CUSTOMERS, file, {"delimiter": sep}), {"delimiter": sep}
    return raw, {}


def _guess_date_format(values: pd.Series) -> str | None:
    """The first of a few common date layouts that reads every non-missing value, or None.

    Example
    -------
    >>> _guess_date_format(pd.Series(["19/08/2023", "22/03/2023"]))
    '%d/%m/%Y'
    """
    present = values.dropna().astype(str).head(500)
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d-%m-%Y", "%Y/%m/%d"):
        if len(present) and pd.to_datetime(present, format=fmt, errors="coerce").notna().all():
            return fmt
    return None


def draft_mapping(file: str | Path, *, out: str | Path | None = None) -> str:
    """A first mapping for a CSV/TSV/Excel file, with every guess marked ``# GUESS: confirm``.

    Parameters
    ----------
    file : str or Path
        The customers file.
    out : str or Path, optional
        Where the mapping will be written; the file's path is written relative to it.

    Returns
    -------
    str
        YAML text: the contract columns guessed from the header, value maps guessed from the
        values (churn labels, contract names), the other columns under ``keep:``.
    """
    file = Path(file)
    raw, spec = _sniffed(file)
    rel = Path(_relative(file, Path(out).parent if out else file.parent))
    guesses = guess_columns(raw.columns)
    lines = [f"# Mapping drafted by `workbench data init` from {file.name}: check every GUESS, then run",
             "# `workbench data check` on this file. Format: see the helpers.data.mapping docstring.",
             "customers:", f"  file: {_quote(rel.as_posix())}"]
    lines += [f"  delimiter: {_quote(spec['delimiter'])}   # GUESS: confirm"] if spec else []
    lines += ["  columns:"] + [f"    {t}: {_quote(s)}   # GUESS: confirm" for t, s in guesses.items()]
    formats = {t: _guess_date_format(raw[s]) for t, s in guesses.items()
               if S.TABLES[S.CUSTOMERS].column(t).kind == "date"}
    formats = {t: f for t, f in formats.items() if f and f != "%Y-%m-%d"}
    if formats:
        lines.append("  dates:")
        lines += [f"    {t}: {_quote(f)}   # GUESS: confirm" for t, f in formats.items()]
    if S.TENURE not in guesses and not {S.SIGNUP_DATE, S.END_DATE} <= set(guesses):
        lines.append(f"    # {S.TENURE}: ?   # TODO: tenure in months (or map signup_date and end_date)")
    if S.END_DATE in guesses and raw[guesses[S.END_DATE]].isna().any():
        lines.append(f"  churned: {{from: {S.END_DATE}, observed_until: YYYY-MM-DD}}   # TODO: "
                     f"{guesses[S.END_DATE]} is blank for active customers: give the last day of observation "
                     "(and drop churned: above)")
    maps = {t: _guess_values(t, raw[s]) for t, s in guesses.items()}
    maps = {t: m for t, m in maps.items() if m}
    if maps:
        lines.append("  values:")
        for t, m in maps.items():
            inner = ", ".join(f"{_quote(k)}: {str(v).lower() if isinstance(v, bool) else v}" for k, v in m.items())
            lines.append(f"    {t}: {{{inner}}}   # GUESS: confirm")
    rest = [c for c in raw.columns if c not in guesses.values()]
    if rest:
        lines.append("  keep:   # extra columns kept as covariates; delete those you do not need")
        lines += [f"    - {_quote(c)}" for c in rest]
    return "\n".join(lines) + "\n"


def _quote(text) -> str:
    return yaml.safe_dump(str(text), default_style=None).splitlines()[0] if text else '""'


def _relative(path: Path, start: Path) -> str:
    return os.path.relpath(path.resolve(), start.resolve())

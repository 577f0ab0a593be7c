"""Bring your own data: a YAML mapping file describes how your files become the contract's tables.

One entry per contract table (``customers`` required; ``revenue``, ``contacts``, ``campaigns``,
``manager_departures`` optional); every key but ``file`` is optional::

    description: CRM export of June 2024            # free text
    customers:
      file: export.csv          # .csv, .tsv, .txt, .parquet, .xlsx; relative to this YAML file
      sheet: Customers          # Excel only (default: the first sheet; `data init` picks the table-like one)
      delimiter: ";"            # default "," (a tab for .tsv)
      encoding: latin-1         # default utf-8; a byte-order mark (utf-8-sig) is detected
      header_row: 1             # line of the column names (1 = the first line)
      decimal: ","              # decimal mark of numbers (default ".")
      thousands: "."            # thousands separator to strip from numbers (default: none)
      missing: ["n/a", "-"]     # extra cell values meaning "missing" (blank cells always are)
      join:                     # columns of a second file, matched on a key (one file, or a list of them)
        {file: status.csv, on: customerID, columns: [Satisfaction]}   # the file sits next to this YAML file
      filter:                   # rows kept: every condition holds (never evaluated as code)
        - {column: Contract, in: [Month-to-month]}       # source columns; labels as written in the file
        - {column: InternetService, not_in: ["No"]}
        - {column: tenure, min: 1}                       # and max:; numbers compared as numbers
      columns:                  # contract column: source column
        customer_id: Customer No
        contract: Plan
      values:                   # per column: source value -> contract value (quote "Yes"/"No")
        contract: {"Monthly": month-to-month, "Annual": one-year}
      dates:                    # per date column: its strftime format (default YYYY-MM-DD), or a number format
        signup_date: "%d/%m/%Y"
        end_date: excel_serial  # or unix_seconds, unix_ms (also written {format: excel_serial})
      tenure: {column: Days, unit: days}       # or months, weeks, years; else derived from the dates
      churned: {from: end_date, observed_until: 2024-06-30}   # or {column: Status, values: [Closed], active: [Open]}
      satisfaction: {column: CSAT, scale: [1, 5]}             # rescaled linearly onto the contract's 0-10
      end_reason:                                              # the data's own labels, grouped onto the contract's
        column: Churn Reason
        groups: {price: [Price too high], service: [Network reliability], moved: [Moved]}
        otherwise: unknown      # labels in no group (else refused); the labels are kept as end_reason_label
      keep: [gender, Region Code]              # extra source columns (a list, or {source: name})
      fill: {total_charges: 0}                 # value for the missing cells of a column
      drop_missing: [tenure_months, churned]   # drop (and count) rows missing these; else they are refused

Customer ids, when not mapped, come from the file's column named like ``customer_id`` (any case,
spaces or underscores: "Customer ID", "customerID"; two such columns are refused), else are
generated as ``C1``, ``C2``, ... in file order; `profile` says which. Row numbers in
messages are the file's line numbers (header = line 1, first data row = line 2), assuming no
line breaks inside quoted cells. `load_mapping` returns raw tables; ``helpers.data.validate``
checks them (``io.load_dataset("path/to/mapping.yaml")`` does both).

The order of the steps: the file is read, joined (``join:``), filtered (``filter:``), mapped
(columns, dates, tenure, churned, satisfaction, end_reason, keep, values, fill), and rows with a
missing value of a ``drop_missing:`` column dropped. What the mapping did is kept in each table's
``attrs``: ``dropped`` (``{reason: rows}``, read by `helpers.data.quality`), ``filled``, ``joined``,
``rescaled``, ``end_reasons``, ``customer_ids`` and ``source_names`` (source column -> loaded name,
see `source_name_map` and `match_columns`); `profile` and `mapping_notes` say them in words.
"""
from __future__ import annotations

import codecs
import difflib
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from helpers.data import schema as S
from helpers.data.validate import DataError, Problem

TABLE_KEYS = ("file", "sheet", "delimiter", "encoding", "header_row", "decimal", "thousands", "missing", "join",
              "filter", "columns", "values", "dates", "tenure", "churned", "satisfaction", "end_reason", "keep",
              "fill", "drop_missing")
TOP_KEYS = ("description", *S.TABLES)
TENURE_KEYS = ("column", "unit")
TENURE_UNITS = {"months": 1.0, "days": 1 / S.DAYS_PER_MONTH, "weeks": 7 / S.DAYS_PER_MONTH, "years": 12.0}
CHURN_KEYS = {"column": ("column", "values", "active", "otherwise"), "from": ("from", "observed_until")}
SATISFACTION_KEYS = ("column", "scale")
END_REASON_KEYS = ("column", "groups", "otherwise", "label")
END_REASON_LABEL = "end_reason_label"  # where `end_reason:` keeps the data's own labels
UNKNOWN_REASON = "unknown"  # `otherwise: unknown`: the reason is left missing (the "unknown" cause)
JOIN_KEYS = ("file", "on", "columns", "sheet", "delimiter", "encoding")
FILTER_KEYS = ("column", "in", "not_in", "min", "max")
DATE_KEYS = ("format",)
# number formats of dates: (unit, origin) for pd.to_datetime
NUMERIC_DATES = {"excel_serial": ("D", "1899-12-30"), "unix_seconds": ("s", "unix"), "unix_ms": ("ms", "unix")}
PLAUSIBLE_DATES = (pd.Timestamp("1900-01-01"), pd.Timestamp("2100-12-31 23:59:59"))
CUSTOMERS_ONLY = ("satisfaction", "end_reason")
COMMON_ENCODINGS = ("utf-8", "latin-1", "cp1252", "utf-16")
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


def _is_name(value) -> bool:
    """A column name as YAML gives it: text, or a number (a header such as 2023); never a boolean or a list."""
    return isinstance(value, (str, int, float)) and not isinstance(value, bool) and str(value).strip() != ""


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _labels_problem(where: str, labels) -> str | None:
    """What is wrong with a list of labels from the mapping (``in:``, ``groups:``), or None."""
    if not isinstance(labels, list) or not labels:
        return f"{where}: write a list of labels, e.g. [\"Month-to-month\"], got {labels!r}"
    for label in labels:
        if isinstance(label, bool):
            return (f"{where}: the label {label!r} was read by YAML as a boolean (unquoted Yes/No/On/Off become "
                    "true/false): quote it, e.g. [\"No\"]")
        if not _is_name(label):
            return f"{where}: labels are text or numbers, got {label!r}"
    return None


def _counts(values: pd.Series, limit: int = 10) -> str:
    """``'Yes' (40 rows), 'No' (12 rows)``: the labels of a column with their counts, commonest first."""
    counts = values.dropna().astype(str).value_counts()
    shown = ", ".join(f"{label!r} ({n:,} row{'s' * (n != 1)})" for label, n in counts.head(limit).items())
    return shown + (f", ... ({len(counts) - limit:,} more)" if len(counts) > limit else "")


# ---- the mapping file ------------------------------------------------------------------------

def _check_table_spec(name: str, spec, errors: list) -> None:
    if not isinstance(spec, dict) or "file" not in spec:
        errors.append(f"{name}: give at least `file:` (the path of the table's file)")
        return
    errors += _unknown(spec, TABLE_KEYS, name)
    for j in _joins(spec):  # YAML 1.1 reads an unquoted key `on` as the boolean true
        if isinstance(j, dict) and True in j and "on" not in j:
            j["on"] = j.pop(True)
    table = S.TABLES[name]
    for column in spec.get("columns") or {}:
        if column not in table.names:
            errors.append(f"{name}.columns: {column!r} is not a column of the {name} table in the data contract"
                          f"{_suggest(column, table.names)} (columns: {', '.join(table.names)}); list "
                          "columns outside the contract under keep:")
    for column, values in (spec.get("values") or {}).items():
        booleans = [k for k in values or {} if isinstance(k, bool)]
        if booleans:
            errors.append(f"{name}.values.{column}: the key {booleans[0]!r} was read by YAML as a boolean (unquoted "
                          "Yes/No/On/Off become true/false): quote the source values, e.g. \"Yes\": true")
    errors += [f"{name}.{key}: only the customers table has {key}:" for key in CUSTOMERS_ONLY
               if key in spec and name != S.CUSTOMERS]
    errors += _encoding_problem(name, spec.get("encoding"))
    errors += (_nested(name, spec) + _dates_spec(name, spec) + _blocks(name, spec) + _rows_spec(name, spec)
               + _sources_used_twice(name, spec))


def _sources_used_twice(name: str, spec: dict) -> list[str]:
    """One source column feeding several contract columns, or a column given both ways: refused, not guessed.

    >>> _sources_used_twice("customers", {"columns": {"contract": "Plan", "region": "Plan"}})
    ["customers: the source column 'Plan' feeds contract and region: map each contract column from a column of its own"]
    """
    errors, columns = [], spec.get("columns") or {}
    fed: dict[str, list[str]] = {}
    for target, source in columns.items():
        fed.setdefault(str(source), []).append(str(target))
    for block in ("tenure", "churned", "satisfaction", "end_reason"):  # a status column read as churned is a source
        if isinstance(spec.get(block), dict) and "column" in spec[block]:
            fed.setdefault(str(spec[block]["column"]), []).append(block)
    for block, column in (("tenure", S.TENURE), ("satisfaction", S.SATISFACTION), ("end_reason", S.END_REASON)):
        given = spec.get(block)
        if isinstance(given, dict) and "column" in given and column in columns:
            errors.append(f"{name}: {block} is given twice, as columns: {column}: {columns[column]!r} and as "
                          f"{block}: {{column: {given['column']!r}}}: keep one")
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


def date_format(given) -> str | None:
    """The format of a ``dates:`` entry: ``"%d/%m/%Y"`` or ``{format: excel_serial}`` -> the format text.

    Example
    -------
    >>> date_format({"format": "unix_ms"}), date_format("%d/%m/%Y"), date_format(None)
    ('unix_ms', '%d/%m/%Y', None)
    """
    return given.get("format") if isinstance(given, dict) else given


def _dates_spec(name: str, spec: dict) -> list[str]:
    """Problems of ``dates:``: contract date columns only, each a strftime format or a number format."""
    errors, dates = [], [c.name for c in S.TABLES[name].columns if c.kind == "date"]
    given = spec.get("dates") or {}
    if not isinstance(given, dict):
        return [f"{name}.dates: write {{<date column>: <format>}}, e.g. {{signup_date: \"%d/%m/%Y\"}}"]
    for column, entry in given.items():
        where = f"{name}.dates.{column}"
        if column not in dates:
            errors.append(f"{name}.dates: {column!r} is not a date column of {name}{_suggest(column, dates)} "
                          f"(date columns: {', '.join(dates)})")
            continue
        if isinstance(entry, dict):
            errors += _unknown(entry, DATE_KEYS, where)
        fmt = date_format(entry)
        if not isinstance(fmt, str) or ("%" not in fmt and fmt not in NUMERIC_DATES):
            hint = _suggest(fmt, NUMERIC_DATES) or next((f"; did you mean {f!r}?" for f in NUMERIC_DATES
                                                         if isinstance(fmt, str) and fmt and f.startswith(fmt)), "")
            errors.append(f"{where}: {fmt!r} is not a date format{hint}: write a strftime "
                          f"format such as \"%d/%m/%Y\", or one of {', '.join(NUMERIC_DATES)} for dates written as "
                          "numbers")
    return errors


def _blocks(name: str, spec: dict) -> list[str]:
    """Problems of the satisfaction: and end_reason: blocks."""
    errors = []
    sat = spec.get("satisfaction")
    if sat is not None:
        if not isinstance(sat, dict) or not _is_name(sat.get("column")):
            errors.append(f"{name}.satisfaction: write {{column: <source column>, scale: [1, 5]}} (scale: the "
                          "lowest and highest score of the file's scale)")
        else:
            errors += _unknown(sat, SATISFACTION_KEYS, f"{name}.satisfaction")
            scale = sat.get("scale", [0, 10])
            if not (isinstance(scale, list) and len(scale) == 2 and all(map(_is_number, scale))
                    and scale[0] < scale[1]):
                errors.append(f"{name}.satisfaction: scale is [lowest, highest] of the file's scale, two numbers "
                              f"with the lowest first, e.g. [1, 5]; got {scale!r}")
    reason = spec.get("end_reason")
    if reason is not None:
        errors += _end_reason_spec(name, spec, reason)
    return errors


def _end_reason_spec(name: str, spec: dict, rule) -> list[str]:
    reasons = ", ".join(S.END_REASONS)
    if not isinstance(rule, dict) or not _is_name(rule.get("column")):
        return [f"{name}.end_reason: write {{column: <source column>, groups: {{price: [<labels>], ...}}}} (reasons: "
                f"{reasons})"]
    errors = _unknown(rule, END_REASON_KEYS, f"{name}.end_reason")
    groups = rule.get("groups") or {}
    if not isinstance(groups, dict):
        errors.append(f"{name}.end_reason.groups: write {{<reason>: [<labels of the file>]}} (reasons: {reasons})")
        groups = {}
    seen: dict[str, str] = {}
    for reason, labels in groups.items():
        if reason not in S.END_REASONS:
            errors.append(f"{name}.end_reason.groups: {reason!r} is not a reason of the data contract"
                          f"{_suggest(reason, S.END_REASONS)} (reasons: {reasons})")
        problem = _labels_problem(f"{name}.end_reason.groups.{reason}", labels)
        errors += [problem] if problem else []
        for label in labels if not problem else []:
            if str(label) in seen and seen[str(label)] != reason:
                errors.append(f"{name}.end_reason.groups: the label {str(label)!r} is under both {seen[str(label)]} "
                              f"and {reason}: keep it in one group")
            seen[str(label)] = reason
    if "otherwise" in rule and rule["otherwise"] not in (*S.END_REASONS, UNKNOWN_REASON):
        errors.append(f"{name}.end_reason: otherwise is a reason ({reasons}) or {UNKNOWN_REASON} (left missing), "
                      f"got {rule['otherwise']!r}{_suggest(rule['otherwise'], (*S.END_REASONS, UNKNOWN_REASON))}")
    label = rule.get("label", END_REASON_LABEL)
    if not isinstance(label, str) or not label.strip() or label in S.TABLES[name].names or label in _kept_names(spec):
        errors.append(f"{name}.end_reason: label is the name of the column that keeps the file's labels, a name "
                      f"outside the contract and keep: (default {END_REASON_LABEL}), got {label!r}")
    return errors


def _rows_spec(name: str, spec: dict) -> list[str]:
    """Problems of join:, filter: and drop_missing:."""
    errors = []
    if spec.get("join") == []:
        errors.append(f"{name}.join: write {{file: ..., on: ..., columns: [...]}}, or a list of them")
    for j in _joins(spec):
        errors += _join_spec(name, j)
    filters = spec.get("filter")
    if filters is not None:
        if not isinstance(filters, list) or not filters:
            errors.append(f"{name}.filter: write a list of conditions, e.g. [{{column: Contract, in: "
                          "[Month-to-month]}, {column: tenure, min: 1}]")
        else:
            for k, cond in enumerate(filters, start=1):
                errors += _filter_spec(f"{name}.filter[{k}]", cond)
    drop = spec.get("drop_missing")
    if drop is not None:
        allowed = [*S.TABLES[name].names, *_keep(spec).values(), *(["tenure"] if name == S.CUSTOMERS else [])]
        if not isinstance(drop, list) or not drop:
            errors.append(f"{name}.drop_missing: write a list of columns, e.g. [{S.TENURE}, {S.CHURNED}]")
        else:
            errors += [f"{name}.drop_missing: {c!r} is not a column of the mapped {name} table{_suggest(c, allowed)} "
                       f"(contract columns, or names under keep:)" for c in drop if not _is_name(c)
                       or str(c) not in allowed]
    return errors


def _join_spec(name: str, j) -> list[str]:
    where = f"{name}.join"
    if not isinstance(j, dict) or not all(k in j for k in ("file", "on", "columns")):
        return [f"{where}: write {{file: <file next to the mapping>, on: <key column in both files>, columns: "
                "[<columns to add>]}"]
    errors = _unknown(j, JOIN_KEYS, where)
    if not isinstance(j["file"], str) or not j["file"].strip() or "\x00" in j["file"]:
        errors.append(f"{where}: file is the name of a file next to the mapping, got {j['file']!r}")
    if not _is_name(j["on"]):
        errors.append(f"{where}: on is the name of the key column (in both files), got {j['on']!r}")
    columns = j["columns"]
    if not isinstance(columns, list) or not columns or not all(map(_is_name, columns)):
        errors.append(f"{where}: columns is a list of the companion file's columns to add, got {columns!r}")
    for key in ("sheet", "delimiter", "encoding"):
        if key in j and not (isinstance(j[key], str) and j[key]):
            errors.append(f"{where}: {key} is text, got {j[key]!r}")
    if isinstance(j.get("delimiter"), str) and len(j["delimiter"]) != 1:
        errors.append(f"{where}: delimiter is one character (\";\", \"|\", a tab), got {j['delimiter']!r}")
    errors += _encoding_problem(where, j.get("encoding"))
    return errors


def _encoding_problem(where: str, encoding) -> list[str]:
    """An ``encoding:`` Python cannot decode with, refused here rather than by a traceback while reading."""
    if not isinstance(encoding, str):
        return []
    try:
        codecs.lookup(encoding)
    except LookupError:
        return [f"{where}: encoding {encoding!r} is not a text encoding{_suggest(encoding, COMMON_ENCODINGS)} (e.g. "
                f"{', '.join(COMMON_ENCODINGS)})"]
    return []


def _filter_spec(where: str, cond) -> list[str]:
    if not isinstance(cond, dict) or not _is_name(cond.get("column")):
        return [f"{where}: write {{column: <source column>, in: [<labels>]}} (or not_in:, min:, max:)"]
    errors = _unknown(cond, FILTER_KEYS, where)
    tests = [k for k in FILTER_KEYS[1:] if k in cond]
    if not tests:
        errors.append(f"{where}: say which rows to keep: in: [<labels>], not_in: [<labels>], min: <number> or max: "
                      "<number>")
    for key in ("in", "not_in"):
        problem = _labels_problem(f"{where}.{key}", cond[key]) if key in cond else None
        errors += [problem] if problem else []
    for key in ("min", "max"):
        if key in cond and not _is_number(cond[key]):
            errors.append(f"{where}.{key}: a number, got {cond[key]!r}")
    if _is_number(cond.get("min")) and _is_number(cond.get("max")) and cond["min"] > cond["max"]:
        errors.append(f"{where}: min {cond['min']!r} is above max {cond['max']!r}: no row could pass")
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
                               f"{', '.join(map(repr, sheets))}): set sheet: in the mapping")
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


def numeric_dates(numbers: pd.Series, fmt: str) -> tuple[pd.Series, pd.Series]:
    """Dates written as numbers (`NUMERIC_DATES`): (the dates, a mask of numbers outside 1900-2100).

    Excel serials count days from 1899-12-30 (right from 1900-03-01 on: Excel's day 60 is the
    29 February 1900 that never was); Unix timestamps count seconds or milliseconds from
    1970-01-01 UTC. Numbers that would give a date outside `PLAUSIBLE_DATES` are not converted.

    Example
    -------
    >>> dates, implausible = numeric_dates(pd.Series([45123.0, 1.7e9]), "excel_serial")
    >>> dates.dt.strftime("%Y-%m-%d").tolist()[:1], implausible.tolist()
    (['2023-07-16'], [False, True])
    """
    unit, origin = NUMERIC_DATES[fmt]
    zero = pd.Timestamp("1970-01-01") if origin == "unix" else pd.Timestamp(origin)
    step = pd.Timedelta(1, unit=unit)
    low, high = ((d - zero) / step for d in PLAUSIBLE_DATES)
    numbers = pd.to_numeric(numbers, errors="coerce").astype(float)
    implausible = numbers.notna() & ((numbers < low) | (numbers > high))
    dates = pd.to_datetime(numbers.where(~implausible), unit=unit, origin=origin)
    return dates, implausible


def _fits(numbers: pd.Series, fmt: str) -> bool:
    """Every number gives a plausible date in this format, and not all of them in 1970 (the start of Unix time)."""
    dates, implausible = numeric_dates(numbers, fmt)
    return bool(len(numbers)) and not implausible.any() and not (dates.dt.year == 1970).all()


def _numeric_dates(table: str, column: str, values: pd.Series, fmt: str, spec: dict, problems: list) -> pd.Series:
    """Dates written as numbers; refused: text, numbers outside 1900-2100, and a column whose dates all fall in 1970.

    A column of Excel serials (45123) read as Unix timestamps gives dates in the first hours
    of 1970 -- plausible one by one, never as a whole column of customers.
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        return values
    text, present = _numbers(values, spec), values.notna()
    dates, implausible = numeric_dates(text, fmt)
    number = pd.to_numeric(text, errors="coerce")
    problems.append(_rows_problem(table, column, present & number.isna(), f"not a number (dates: {fmt})", values,
                                  f"an {fmt} date is a number; correct them, or give the column's format under "
                                  f"dates: {column}:"))
    epoch = fmt != "excel_serial" and dates.notna().any() and bool((dates.dropna().dt.year == 1970).all())
    wrong = (dates.notna() if epoch else implausible) & present
    other = [f for f in NUMERIC_DATES if f != fmt and _fits(number[wrong], f)]
    what = f"in 1970 as {fmt}, like the whole column" if epoch else f"not a plausible {fmt} date (outside 1900-2100)"
    problems.append(_rows_problem(table, column, wrong, what, values,
                                  f"they read as {other[0]}: write dates: {{{column}: {other[0]}}}" if other else
                                  f"check the column, or its format under dates: {column}:"))
    return dates  # NaT where refused: the problems above stop the load


def _dates(table: str, column: str, values: pd.Series, fmt: str | None, problems: list, spec: dict) -> pd.Series:
    """Parse a date column with its format; without one, dates must be written YYYY-MM-DD."""
    if fmt in NUMERIC_DATES:
        return _numeric_dates(table, column, values, fmt, spec, problems)
    if values.dtype != object:
        return values
    present = values.notna()
    if fmt:
        try:
            parsed = pd.to_datetime(values, format=fmt, errors="coerce")
        except ValueError as e:  # a bad directive such as %Q
            raise MappingError(f"{table}.dates.{column}: {fmt!r} is not a date format ({e}): write a strftime "
                               f"format such as \"%d/%m/%Y\", or one of {', '.join(NUMERIC_DATES)}") from None
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


def _kept_names(spec: dict) -> list[str]:
    """The names the mapping's keep: gives, as text (whatever the YAML holds)."""
    keep = spec.get("keep") or {}
    names = keep.values() if isinstance(keep, dict) else keep if isinstance(keep, list) else []
    return [str(n) for n in names if _is_name(n)]


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
    values = _numbers(_source_column(table, raw, path, str(t["column"]), S.TENURE), spec)
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
    status = _source_column(table, raw, path, str(rule["column"]), S.CHURNED)
    churned, active = ([str(v) for v in rule.get(key) or []] for key in ("values", "active"))
    unlisted = status.notna() & ~status.isin([*churned, *active])
    if "otherwise" not in rule and unlisted.any():
        raise MappingError(f"{table}.churned: column {rule['column']!r} of {path.name} holds labels listed neither "
                           f"under values: (churned) nor under active: {_counts(status[unlisted], 20)}; list each "
                           "label (matched exactly, case included), or add otherwise: false (or true) to say what the "
                           "rest are")
    df[S.CHURNED] = (status.isin(churned) | (unlisted & bool(rule.get("otherwise")))).where(status.notna())


def _satisfaction(df: pd.DataFrame, raw: pd.DataFrame, table: str, path: Path, spec: dict, problems: list) -> None:
    """``satisfaction: {column, scale: [lo, hi]}``: the file's scale mapped linearly onto the contract's range."""
    rule = spec["satisfaction"]
    values = _numbers(_source_column(table, raw, path, str(rule["column"]), S.SATISFACTION), spec)
    contract = S.TABLES[table].column(S.SATISFACTION)
    low, high = (float(v) for v in rule.get("scale", [contract.min, contract.max]))
    if (low, high) != (contract.min, contract.max):
        number = pd.to_numeric(values, errors="coerce")
        outside = number.notna() & ((number < low) | (number > high))
        problems.append(_rows_problem(table, S.SATISFACTION, outside, f"outside the scale {low:g}-{high:g} that the "
                                      "mapping gives", values, "correct them, or give the file's scale under "
                                      "satisfaction: scale: [lowest, highest]"))
        scaled = contract.min + (number - low) / (high - low) * (contract.max - contract.min)
        values = scaled.astype(object).where(number.notna() & ~outside, values)
        df.attrs["rescaled"] = {S.SATISFACTION: ((low, high), (contract.min, contract.max))}
    df[S.SATISFACTION] = values


def _end_reason(df: pd.DataFrame, raw: pd.DataFrame, table: str, path: Path, spec: dict) -> None:
    """``end_reason: {column, groups, otherwise, label}``: the file's labels grouped onto the contract's reasons.

    A label spelled like a reason (any case, spaces or hyphens) is that reason; the others must
    be under ``groups:`` (matched exactly), or ``otherwise:`` says what they are. The labels
    themselves are kept in the column ``label`` (default `END_REASON_LABEL`).
    """
    rule = spec["end_reason"]
    column = str(rule["column"])
    labels = _source_column(table, raw, path, column, S.END_REASON)
    text = labels.astype(str).where(labels.notna())
    spelled = {_norm(r): r for r in S.END_REASONS}
    listed = {str(label): reason for reason, group in (rule.get("groups") or {}).items() for label in group}
    reason = text.map(lambda v: listed.get(v, spelled.get(_norm(v))) if isinstance(v, str) else None)
    unlisted = labels.notna() & reason.isna()
    if "otherwise" not in rule and unlisted.any():
        raise MappingError(f"{table}.end_reason: column {column!r} of {path.name} holds labels in no group: "
                           f"{_counts(labels[unlisted], 20)}; list each under groups: (e.g. groups: {{price: "
                           f"[{str(labels[unlisted].iloc[0])!r}]}}; reasons: {', '.join(S.END_REASONS)}), or add "
                           f"otherwise: {UNKNOWN_REASON} (or a reason) for the rest")
    rest = None if rule.get("otherwise", UNKNOWN_REASON) == UNKNOWN_REASON else rule["otherwise"]
    df[S.END_REASON] = reason.astype(object).where(~unlisted, rest)
    label = rule.get("label", END_REASON_LABEL)
    df[label] = text
    df.attrs["end_reasons"] = {"column": column, "label": label, "labels": int(text.nunique()),
                               "otherwise": int(unlisted.sum()), "as": rule.get("otherwise", "")}
    df.attrs["outcome_record"] = [label]  # it records churn itself, like end_reason: no covariate, no leakage suspect


def _customer_ids(df: pd.DataFrame, raw: pd.DataFrame, path: Path, mapped: set, order: pd.Series | None) -> None:
    """Ids for a customers table whose mapping lists none: the file's column named like customer_id, else C1, C2, ...

    Generated ids number the rows of the file (``order``: line -> position), so that a filter
    does not renumber them. How they were found is kept in ``df.attrs["customer_ids"]`` for
    `profile` (`workbench data check`).
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
        df.attrs.setdefault("source_names", {})[named[0]] = S.CUSTOMER_ID
    else:
        number = order.reindex(df.index) if order is not None else pd.Series(np.arange(1, len(df) + 1), df.index)
        df.insert(0, S.CUSTOMER_ID, [f"C{i}" for i in number])
        df.attrs["customer_ids"] = (f"generated (C1, C2, ... in file order): {path.name} has no customer id column; "
                                    f"map one under columns: ({S.CUSTOMER_ID}: <column>) to use your own ids")


def _source_names(spec: dict) -> dict[str, str]:
    """Source column -> loaded name, for every column the mapping names (columns:, the blocks, keep:)."""
    names = {str(source): target for target, source in (spec.get("columns") or {}).items()}
    for block, target in (("tenure", S.TENURE), ("satisfaction", S.SATISFACTION), ("end_reason", S.END_REASON)):
        if isinstance(spec.get(block), dict):
            names[str(spec[block]["column"])] = target
    if isinstance(spec.get("churned"), dict) and "column" in spec["churned"]:
        names[str(spec["churned"]["column"])] = S.CHURNED
    names.update({str(source): str(target) for source, target in _keep(spec).items()})
    return names


def _table(name: str, spec: dict, raw: pd.DataFrame, path: Path, problems: list,
           order: pd.Series | None = None) -> pd.DataFrame:
    table = S.TABLES[name]
    columns = spec.get("columns") or {}
    df = pd.DataFrame(index=raw.index)
    df.attrs["source_names"] = _source_names(spec)
    for column, source in columns.items():
        values = _source_column(name, raw, path, source, column)
        kind = table.column(column).kind
        df[column] = _numbers(values, spec) if kind == "float" else values
    for column, fmt in ((c.name, date_format((spec.get("dates") or {}).get(c.name))) for c in table.columns
                        if c.kind == "date"):
        if column in df:
            df[column] = _dates(name, column, df[column], fmt, problems, spec)
    if spec.get("tenure"):
        _tenure(df, raw, name, path, spec)
    if spec.get("churned"):
        _churned(df, raw, name, path, spec)
    if spec.get("satisfaction"):
        _satisfaction(df, raw, name, path, spec, problems)
    if spec.get("end_reason"):
        _end_reason(df, raw, name, path, spec)
    if name == S.CUSTOMERS and S.CUSTOMER_ID not in df:
        _customer_ids(df, raw, path, set(columns.values()), order)
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


# ---- rows: join, filter, drop_missing ------------------------------------------------------------

def _joins(spec: dict) -> list:
    """The ``join:`` entries: one, or a list of them."""
    given = spec.get("join")
    return [] if given is None else [given] if isinstance(given, dict) else list(given) \
        if isinstance(given, list) else [given]


def companion_path(mapping: Path, given: str, *, table: str = S.CUSTOMERS) -> Path:
    """A file a mapping joins, confined to the mapping's folder (or a folder below it).

    Raises
    ------
    MappingError
        An absolute path, or one that leaves the folder (``..``, a link pointing elsewhere).

    Example
    -------
    >>> companion_path(Path("/data/m.yaml"), "../secret.csv")
    Traceback (most recent call last):
    helpers.data.mapping.MappingError: customers.join: file '../secret.csv' is not next to m.yaml ...
    """
    folder = Path(mapping).parent.resolve()
    path = (folder / given).resolve()
    if Path(given).is_absolute() or not path.is_relative_to(folder):
        raise MappingError(f"{table}.join: file {given!r} is not next to {Path(mapping).name} (in {folder} or a "
                           f"folder below it): copy the file there and write file: {_quote(Path(given).name)}")
    return path


def _join(table: str, spec: dict, raw: pd.DataFrame, source: Path, mapping: Path, files: list) -> pd.DataFrame:
    """Add the columns of each ``join:`` file, matched on its key; the matches counted in ``raw.attrs["joined"]``."""
    notes = []
    for j in _joins(spec):
        path = companion_path(mapping, j["file"], table=table)
        other = read_source(table, path, {k: j[k] for k in ("sheet", "delimiter", "encoding") if k in j})
        files.append(path)
        on, columns = str(j["on"]), [str(c) for c in j["columns"]]
        keys = _source_column(table, raw, source, on, "join: on")
        theirs = _source_column(table, other, path, on, f"join: on, in {path.name}")
        for column in columns:
            _source_column(table, other, path, column, f"join: columns, in {path.name}")
        clash = [c for c in columns if c in raw or c == on]
        if clash:
            raise MappingError(f"{table}.join: column {clash[0]!r} is in both {source.name} and {path.name}: join "
                               "only columns the main file lacks (drop it from columns:, or rename it in one file)")
        theirs = theirs.astype(str).where(theirs.notna())
        repeated = theirs.notna() & theirs.duplicated(keep=False)
        if repeated.any():
            shown = "; ".join(f"{key!r} on rows {', '.join(map(str, rows.index[:4]))}"
                              for key, rows in list(theirs[repeated].groupby(theirs[repeated], sort=False))[:5])
            raise MappingError(f"{table}.join: {path.name} has {theirs[repeated].nunique():,} values of {on!r} on more "
                               f"than one row ({int(repeated.sum()):,} rows: {shown}): a file joined on {on} needs one "
                               "row per key; remove the duplicates")
        lookup = other.loc[theirs.notna(), columns].set_index(theirs[theirs.notna()])
        mine = keys.astype(str).where(keys.notna())
        raw = raw.assign(**{c: mine.map(lookup[c]) for c in columns})
        matched = mine.isin(lookup.index)
        notes.append({"file": path.name, "on": on, "columns": columns, "rows": len(raw),
                      "matched": int(matched.sum()), "unused": int((~lookup.index.isin(mine.dropna())).sum())})
    raw.attrs["joined"] = notes
    return raw


def _member(values: pd.Series, labels: list) -> pd.Series:
    """Cells equal to one of the labels, compared as written in the file (and as numbers for typed columns)."""
    hit = values.astype(str).isin([str(v) for v in labels]) & values.notna()
    if pd.api.types.is_numeric_dtype(values):
        hit |= values.isin([v for v in labels if _is_number(v)])
    return hit


def _condition(cond: dict) -> str:
    """``Contract in ['Month-to-month']``, ``tenure >= 1``: a filter condition in words, for notes and messages."""
    parts = [f"{key.replace('_', ' ')} {[str(v) for v in cond[key]]}" for key in ("in", "not_in") if key in cond]
    parts += [f"{op} {cond[key]:g}" for key, op in (("min", ">="), ("max", "<=")) if key in cond]
    return f"{str(cond['column'])!r} " + " and ".join(parts)


def _passes(table: str, raw: pd.DataFrame, full: pd.DataFrame, source: Path, cond: dict, spec: dict) -> pd.Series:
    """Which rows of ``raw`` pass one condition; a label that no row of the file (``full``) has is refused."""
    column = str(cond["column"])
    values, every = _source_column(table, raw, source, column, "filter"), full[column]
    ok = pd.Series(True, index=values.index)
    for key in ("in", "not_in"):
        for label in cond.get(key, []):
            if not _member(every, [label]).any():
                hint = _suggest(label, every.dropna().astype(str).unique())
                raise MappingError(f"{table}.filter: {_condition(cond)}: the label {str(label)!r} is in no row of "
                                   f"column {column!r} of {source.name}{hint} (its labels: {_counts(every)}); "
                                   "write labels as the file has them, case "
                                   "included, or remove it")
    if "in" in cond:
        ok &= _member(values, cond["in"])
    if "not_in" in cond:
        ok &= ~_member(values, cond["not_in"])
    if "min" in cond or "max" in cond:
        number = pd.to_numeric(_numbers(values, spec), errors="coerce")
        text = values.notna() & number.isna()
        if text.any():
            raise MappingError(f"{table}.filter: {_condition(cond)}: column {column!r} of {source.name} holds values "
                               f"that are not numbers ({_counts(values[text], 5)}): min: and max: compare numbers; "
                               "filter text with in: or not_in:, or give the file's decimal: and thousands: marks")
        ok &= number.ge(cond.get("min", -np.inf)) & number.le(cond.get("max", np.inf))
    return ok


def _filter(table: str, spec: dict, raw: pd.DataFrame, source: Path) -> tuple[pd.DataFrame, dict]:
    """The rows every ``filter:`` condition keeps, and ``{reason: rows dropped}`` (by the first condition failed).

    A missing cell passes ``not_in:`` and fails ``in:``, ``min:`` and ``max:``.
    """
    dropped: dict[str, int] = {}
    full = raw
    for cond in spec.get("filter") or []:
        ok = _passes(table, raw, full, source, cond, spec)
        if len(raw) and not ok.any():
            column = str(cond["column"])
            raise MappingError(f"{table}.filter: {_condition(cond)} keeps none of the {len(raw):,} rows of "
                               f"{source.name} left to it (column {column!r}: {_counts(raw[column], 5)}): check the "
                               "condition")
        if (~ok).any():
            dropped[f"outside the filter {_condition(cond)}"] = int((~ok).sum())
        raw = raw[ok]
    return raw, dropped


def _drop_missing(table: str, spec: dict, df: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Rows missing a ``drop_missing:`` column dropped, counted per column (in the order listed)."""
    dropped: dict[str, int] = {}
    for given in spec.get("drop_missing") or []:
        column = S.TENURE if str(given) == "tenure" else str(given)
        if column not in df:
            derived = column == S.TENURE and {S.SIGNUP_DATE, S.END_DATE} <= set(df)
            raise MappingError(f"{table}.drop_missing: {column} is " + (
                f"derived from {S.SIGNUP_DATE} and {S.END_DATE} here: list those under drop_missing: instead"
                if derived else f"not mapped (columns: {', '.join(map(str, df.columns))}): map it, or remove it "
                                "from drop_missing:"))
        gone = df[column].isna()
        if gone.any():
            dropped[f"missing {column} (drop_missing:)"] = int(gone.sum())
            df = df[~gone]
    return df, dropped


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
        read (the mapping first, joined files included), for the fingerprint.
        ``validate.validate`` checks the tables.

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
        files.append(source)
        order = pd.Series(np.arange(1, len(raw) + 1), index=raw.index)  # generated ids number the rows read
        raw = _join(name, spec[name], raw, source, path, files)
        joined = raw.attrs.pop("joined")
        raw, dropped = _filter(name, spec[name], raw, source)
        df = _table(name, spec[name], raw, source, problems, order)
        df, missing = _drop_missing(name, spec[name], df)
        df.attrs.update({k: v for k, v in (("dropped", {**dropped, **missing}), ("joined", joined)) if v})
        tables[name] = df
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




def _what_the_mapping_did(name: str, df: pd.DataFrame) -> list[str]:
    """Sentences on a table's rows dropped, files joined, scales changed and end reasons grouped (``attrs``)."""
    out, attrs = [], df.attrs
    dropped = {k: v for k, v in (attrs.get("dropped") or {}).items() if v}
    if dropped:
        n = sum(dropped.values())
        why = "; ".join(f"{v:,} {k}" for k, v in dropped.items())
        out.append(f"The mapping dropped {n:,} of the {len(df) + n:,} rows of {name} ({why}).")
    for j in attrs.get("joined") or []:
        columns, unmatched, unused = ", ".join(j["columns"]), j["rows"] - j["matched"], j["unused"]
        miss = f", {unmatched:,} {'has' if unmatched == 1 else 'have'} no match ({columns} left missing)" \
            if unmatched else ""
        extra = f"; {unused:,} row{'s' * (unused != 1)} of {j['file']} match{'es' * (unused == 1)} none" \
            if unused else ""
        out.append(f"{name}: {columns} {'come' if len(j['columns']) > 1 else 'comes'} from {j['file']}, joined on "
                   f"{j['on']}: {j['matched']:,} of the {j['rows']:,} rows read matched{miss}{extra}.")
    for column, ((low, high), (to_low, to_high)) in (attrs.get("rescaled") or {}).items():
        out.append(f"{name}.{column} was rescaled from the file's {low:g}-{high:g} onto the contract's "
                   f"{to_low:g}-{to_high:g}.")
    reasons = attrs.get("end_reasons")
    if reasons:
        rest = (f"; {reasons['otherwise']:,} rows with a label in no group counted as {reasons['as']}"
                if reasons["otherwise"] else "")
        out.append(f"End reasons: the {reasons['labels']:,} labels of column {reasons['column']!r} were grouped "
                   f"onto the contract's reasons and are kept as {name}.{reasons['label']}{rest}.")
    return out


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
    lines += [sentence for name, df in tables.items() for sentence in _what_the_mapping_did(name, df)]
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

    Cells it filled (``fill:``), rows it dropped (``filter:``, ``drop_missing:``), files it
    joined, scales it changed, end reasons it grouped, and customer ids it took from an unlisted
    column or generated; nothing for data read without a mapping.

    >>> c = pd.DataFrame({"total_charges": [0.0, 5.0]})
    >>> c.attrs["filled"] = {"total_charges": (11, 0)}
    >>> mapping_notes({"customers": c})
    ['The mapping filled 11 missing cells of customers.total_charges with 0.']
    """
    notes = [f"The mapping filled {n:,} missing cell{'s' * (n != 1)} of {name}.{col} with {value!r}."
             for name, df in tables.items() for col, (n, value) in df.attrs.get("filled", {}).items() if n]
    notes += [sentence for name, df in tables.items() for sentence in _what_the_mapping_did(name, df)]
    ids = tables.get(S.CUSTOMERS, pd.DataFrame()).attrs.get("customer_ids")
    return notes + ([f"Customer ids: {ids}."] if ids else [])


# ---- columns by their names in the source file --------------------------------------------------

def source_name_map(data, table: str = S.CUSTOMERS) -> dict[str, str]:
    """Source column -> loaded column name, as a mapping renamed them (``{}`` for data read without one).

    Parameters
    ----------
    data : Dataset, dict of str to DataFrame, or DataFrame
        A loaded data set (`helpers.data.io.Dataset`), its tables, or one table.
    table : str
        Which table of a data set.

    Example
    -------
    >>> c = pd.DataFrame({"payment_method": ["card"]})
    >>> c.attrs["source_names"] = {"PaymentMethod": "payment_method"}
    >>> source_name_map(c)
    {'PaymentMethod': 'payment_method'}
    """
    tables = getattr(data, "tables", data)
    df = tables if isinstance(tables, pd.DataFrame) else (tables or {}).get(table)
    return dict(df.attrs.get("source_names") or {}) if df is not None else {}


def did_you_mean(name: str, df: pd.DataFrame, *, sources: Mapping[str, str] | None = None) -> str:
    """``"; did you mean 'payment_method' (PaymentMethod in the source file)?"``, or ``""``.

    The closest loaded column to ``name``, compared as written and ignoring case, spaces and
    underscores; a source name that the mapping renamed is suggested by its loaded name.
    ``sources`` (source name -> loaded name) defaults to ``df.attrs["source_names"]``.

    Example
    -------
    >>> did_you_mean("PaymentMthod", pd.DataFrame(columns=["payment_method"]),
    ...              sources={"PaymentMethod": "payment_method"})
    "; did you mean 'payment_method' (PaymentMethod in the source file)?"
    """
    sources = {str(s): str(t) for s, t in (df.attrs.get("source_names") or {} if sources is None else sources).items()}
    loaded = {str(c): str(c) for c in df.columns}
    options = {**loaded, **{_norm(c): c for c in loaded},
               **{s: t for s, t in sources.items() if t in loaded}, **{_norm(s): t for s, t in sources.items()
                                                                       if t in loaded}}
    close = difflib.get_close_matches(str(name), list(options), n=1, cutoff=0.6) or \
        difflib.get_close_matches(_norm(name), list(options), n=1, cutoff=0.6)
    if not close:
        return ""
    target = options[close[0]]
    source = next((s for s, t in sources.items() if t == target and s != target), None)
    return f"; did you mean {target!r}" + (f" ({source} in the source file)?" if source else "?")


def match_columns(df: pd.DataFrame, names: Sequence[str], *, sources: Mapping[str, str] | None = None,
                  ) -> tuple[list[str], list[str]]:
    """Columns asked for by name (a covariate list), as the loaded table names them; notes on what was matched.

    A name the table has is kept. Else a source name the mapping renamed (``PaymentMethod`` ->
    ``payment_method``; compared as written, then ignoring case, spaces and underscores) becomes
    its loaded name, said in a note. A name found neither way is kept as given (so the caller's
    own "column absent" rule still applies), with a note and a "did you mean".

    Parameters
    ----------
    df : DataFrame
        The table the names must be columns of (e.g. the customers, with derived columns).
    names : sequence of str
        The names asked for, e.g. a notebook's ``COVARIATES``.
    sources : mapping, optional
        Source name -> loaded name; default ``df.attrs["source_names"]`` (`source_name_map`).

    Returns
    -------
    (list of str, list of str)
        The names to use, in the order given (duplicates dropped), and one sentence per name
        renamed or not found.

    Example
    -------
    >>> c = pd.DataFrame(columns=["customer_id", "payment_method", "contract"])
    >>> names, notes = match_columns(c, ["contract", "PaymentMethod", "paymnt"],
    ...                              sources={"PaymentMethod": "payment_method"})
    >>> names
    ['contract', 'payment_method', 'paymnt']
    >>> print("\\n".join(notes))
    'PaymentMethod' is read as 'payment_method' (its name in the loaded data).
    'paymnt' is not a column of the data; did you mean 'payment_method' (PaymentMethod in the source file)?
    """
    sources = {str(s): str(t) for s, t in ((df.attrs.get("source_names") or {}) if sources is None
                                           else sources).items()}
    loose = {_norm(s): t for s, t in sources.items()} | {_norm(c): str(c) for c in df.columns}
    out, notes = [], []
    for name in names:
        name = str(name)
        found = name if name in df else sources.get(name) or loose.get(_norm(name))
        if found is not None and found in df:
            out.append(found)
            notes += [f"{name!r} is read as {found!r} (its name in the loaded data)."] if found != name else []
        else:
            out.append(name)
            hint = did_you_mean(name, df, sources=sources)
            notes.append(f"{name!r} is not a column of the data{hint or '.'}")
    return list(dict.fromkeys(out)), notes


# ---- drafting a mapping (`workbench data init`) ------------------------------------------------

SYNONYMS = {
    S.CUSTOMER_ID: ("customerid", "customer", "clientid", "accountid", "id", "customerno", "customernumber",
                    "clientnum", "clientnumber", "accountnumber", "custid", "subscriberid", "memberid"),
    S.TENURE: ("tenure", "tenuremonths", "tenureinmonths", "months", "monthsactive", "monthsonbook", "tenureyears",
               "tenureinyears", "tenureweeks", "tenuredays", "customertenure"),
    S.CHURNED: ("churn", "churned", "churnlabel", "churnvalue", "churnflag", "exited", "attritionflag", "attrition",
                "attrited", "left", "churnstatus", "customerstatus", "status"),
    S.CONTRACT: ("contract", "contracttype", "plan", "term"),
    S.MONTHLY_VALUE: ("monthlycharges", "monthlyvalue", "monthlyfee", "monthlyrevenue", "arpu", "mrr"),
    S.SIGNUP_DATE: ("signupdate", "startdate", "start", "joindate", "joined", "created", "since", "activated",
                    "createdat", "createdon", "signedupat", "startedat", "opened", "openedat", "customersince"),
    S.END_DATE: ("enddate", "churndate", "canceldate", "cancellationdate", "terminationdate", "cancelled",
                 "canceled", "terminated", "end", "closedat", "closedate", "closed", "cancelledat", "canceledat",
                 "endedat", "churnedat"),
    S.SATISFACTION: ("satisfaction", "csat", "satisfactionscore", "customersatisfaction", "satisfactionrating",
                     "csatscore"),
    S.REGION: ("region", "area", "state", "geography", "country", "territory"),
    S.CUSTOMER_TYPE: ("customertype", "clienttype"),
    S.END_REASON: ("endreason", "churnreason", "reason", "cancellationreason", "cancelreason", "exitreason",
                   "leavingreason"),
}
SEGMENTS = (S.CONTRACT, S.CUSTOMER_TYPE, S.REGION)
_YES = {"yes", "y", "true", "1", "churned", "left", "exited"}
_NO = {"no", "n", "false", "0", "stayed", "active"}
CHURNED_WORDS = {"yes", "y", "true", "churned", "churn", "left", "exited", "attrited", "closed", "cancelled",
                 "canceled", "terminated", "inactive", "lost", "gone", "former", "lapsed"}
ACTIVE_WORDS = {"no", "n", "false", "stayed", "active", "existing", "retained", "current", "open", "remaining",
                "renewed"}
REASON_WORDS = {"non-payment": ("nonpayment", "non-payment", "payment", "unpaid", "debt", "arrears", "collection"),
                "moved": ("moved", "moving", "relocat"),
                "service": ("service", "support", "attitude", "network", "reliab", "speed", "device", "product",
                            "quality", "outage", "coverage", "website", "dissatisf"),
                "price": ("price", "cheaper", "expensive", "cost", "charge", "offer", "fee", "discount", "afford")}
SHORT_SCALES = ((1, 5), (0, 5), (1, 7), (0, 7))


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
    for c in columns:  # created_at_ms, signup_ts: a date's name with its number unit at the end
        by_norm.setdefault(re.sub(r"(ms|ts|utc|epoch|unix)$", "", _norm(c)), c)
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


def _churn_label(label) -> bool | None:
    """Whether a status label says churned (True), active (False), or cannot tell (None), by its words.

    Example
    -------
    >>> [_churn_label(v) for v in ("Attrited Customer", "Existing Customer", "1", "Not churned", "Gold")]
    [True, False, True, False, None]
    """
    number = pd.to_numeric(pd.Series([str(label)]), errors="coerce").iloc[0]
    if number in (0, 1):
        return bool(number)
    words = re.findall(r"[a-z]+", str(label).lower())
    yes, no = any(w in CHURNED_WORDS for w in words), any(w in ACTIVE_WORDS for w in words)
    if yes == no:
        return None
    return yes != any(w in ("not", "non") for w in words)


def _reason_of(label: str) -> str | None:
    """The contract's end reason a label's words point to, or None (`REASON_WORDS`, first match)."""
    text = str(label).lower()
    spelled = {_norm(r): r for r in S.END_REASONS}.get(_norm(label))
    return spelled or next((r for r, words in REASON_WORDS.items() if any(w in text for w in words)), None)


def _comment(text) -> str:
    """Text from the data made safe for a YAML comment: one line, no control characters."""
    return re.sub(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+", " ", str(text))


def _mark(why: str = "", *, doubtful: bool = False) -> str:
    """The end of a guessed line: ``   # GUESS: confirm; why`` or ``   # GUESS: doubtful, why``."""
    if doubtful:
        return f"   # GUESS: doubtful, {_comment(why)}"
    return "   # GUESS: confirm" + (f"; {_comment(why)}" if why else "")


def _num(x: float) -> str:
    """A number for people: whole numbers in full (1672531200), others with 6 significant digits."""
    return f"{int(x)}" if float(x).is_integer() else f"{x:g}"


def _span(numbers: pd.Series) -> str:
    present = numbers.dropna()
    return f"values {_num(present.min())} to {_num(present.max())} (median {_num(present.median())})"


def _as_numbers(values: pd.Series) -> pd.Series | None:
    """The column as numbers when (nearly: 99%) every present value is one, else None."""
    present = values.dropna()
    numbers = pd.to_numeric(present, errors="coerce")
    return numbers.dropna() if len(present) and numbers.notna().mean() >= 0.99 else None


def _sniffed(file: Path) -> tuple[pd.DataFrame, dict, list[str]]:
    """The file read for drafting, the reading keys it needs (delimiter, sheet, header_row), and their lines."""
    if file.suffix.lower() in EXCEL:
        from helpers.data.io import choose_sheet, workbook_sheets  # here, not at the top: io imports this module

        sheets = workbook_sheets(file, table=S.CUSTOMERS)
        chosen, doubtful = choose_sheet(sheets)
        listed = ", ".join(s.describe() for s in sheets)
        if chosen is None:
            raise MappingError(f"{file.name}: no sheet looks like a table (a row of column names over rows of data): "
                               f"{listed}; export the table as CSV, or write the mapping with sheet: and header_row:")
        spec = {"sheet": chosen.name, **({"header_row": chosen.header_row} if chosen.header_row > 1 else {})}
        lines = [f"  sheet: {_quote(chosen.name)}" + _mark(
            f"{'several sheets look like tables' if doubtful else 'the table-like sheet'} of {len(sheets)}: {listed}; "
            "set sheet: to read another", doubtful=doubtful)] if len(sheets) > 1 else []
        if chosen.header_row > 1:
            lines.append(f"  header_row: {chosen.header_row}" + _mark(f"the column names are on row "
                                                                     f"{chosen.header_row} of the sheet"))
        return read_source(S.CUSTOMERS, file, spec), spec, lines
    raw = read_source(S.CUSTOMERS, file, {})
    if len(raw.columns) == 1 and file.suffix.lower() in TEXT:
        for sep in (";", "\t", "|"):
            if sep in str(raw.columns[0]):
                return (read_source(S.CUSTOMERS, file, {"delimiter": sep}), {"delimiter": sep},
                        [f"  delimiter: {_quote(sep)}{_mark()}"])
    return raw, {}, []


def _guess_date_format(values: pd.Series) -> str | None:
    """The first of a few common date layouts that reads every non-missing value, or None.

    Example
    -------
    >>> _guess_date_format(pd.Series(["19/08/2023", "22/03/2023"])), _guess_date_format(pd.Series(["20230819"]))
    ('%d/%m/%Y', '%Y%m%d')
    """
    present = values.dropna().astype(str).head(500)
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d-%m-%Y", "%Y/%m/%d"):
        if len(present) and pd.to_datetime(present, format=fmt, errors="coerce").notna().all():
            return fmt
    if len(present) and present.str.fullmatch(r"(19|20)\d{6}").all() and \
            pd.to_datetime(present, format="%Y%m%d", errors="coerce").notna().all():
        return "%Y%m%d"
    return None


def _guess_numeric_dates(values: pd.Series) -> tuple[str, str] | None:
    """(format, why) for a column of whole numbers that read as dates: Excel serials or Unix timestamps.

    Example
    -------
    >>> _guess_numeric_dates(pd.Series(["45123", "45200"]))[0], _guess_numeric_dates(pd.Series(["1700000000"]))[0]
    ('excel_serial', 'unix_seconds')
    """
    numbers = _as_numbers(values)
    if numbers is None or len(numbers) < len(values.dropna()):
        return None
    for fmt, low, high, what in (("excel_serial", 1e4, 8e4, "Excel serial day numbers"),
                                 ("unix_seconds", 1e8, 4.2e9, "Unix timestamps in seconds"),
                                 ("unix_ms", 1e11, 4.2e12, "Unix timestamps in milliseconds")):
        if numbers.between(low, high).all():
            dates, implausible = numeric_dates(numbers, fmt)
            if not implausible.any():
                return fmt, (f"numbers {_num(numbers.min())} to {_num(numbers.max())} read as {what}: "
                             f"{dates.min():%Y-%m-%d} to {dates.max():%Y-%m-%d}")
    return None


def _date_like(name) -> bool:
    n = str(name)
    return bool(re.search(r"date|time|since|created|joined|login|seen|updated|modified|epoch|(^|[_\s])(at|ts)$", n,
                          re.IGNORECASE)
                or re.search(r"[a-z]At$", n)) or _norm(n) in SYNONYMS[S.SIGNUP_DATE] + SYNONYMS[S.END_DATE]


def _unit_in_name(name) -> str | None:
    n = str(name).lower()
    for unit, pattern in (("years", r"year|yrs|\byr"), ("weeks", r"week|wks"), ("days", r"day"),
                          ("months", r"month|mths|\bmos\b")):
        if re.search(pattern, n):
            return unit
    return None


def _tenure_guess(name: str, values: pd.Series) -> tuple[str, str, bool] | None:
    """(unit, why, doubtful) for a tenure column from its name and the range of its values; None: not numbers.

    Example
    -------
    >>> unit, why, doubtful = _tenure_guess("Tenure", pd.Series(["0", "4", "10"]))
    >>> unit, doubtful, why.split(";")[0]
    ('years', True, 'values 0 to 10 (median 4): a tenure in months rarely stops at 10, so read as years')
    """
    numbers = _as_numbers(values)
    if numbers is None:
        return None
    seen, high = _span(numbers), numbers.max()
    said = _unit_in_name(name)
    if said:
        limit = {"years": 60, "months": 720, "weeks": 3200, "days": 22000}[said]
        return said, f"{seen}; the name says {said}" + (f", but {high:g} {said} is long" if high > limit else ""), \
            high > limit
    if high <= 15:
        return "years", (f"{seen}: a tenure in months rarely stops at {high:g}, so read as years; write unit: months "
                         "if they are months"), True
    if high <= 240:
        return "months", f"{seen}: months", False
    return "days", f"{seen}: too long for months, so read as days; write unit: weeks if they are weeks", True


def _scale_guess(values: pd.Series) -> tuple[tuple | None, str, bool] | None:
    """(scale to rescale from or None, why, doubtful) for a satisfaction column; None when it holds no numbers.

    Example
    -------
    >>> scale, why, doubtful = _scale_guess(pd.Series(["1", "3", "5"]))
    >>> scale, doubtful, why.split(": ")[1]
    ((1, 5), False, "a 1-5 score, rescaled onto the contract's 0-10")
    """
    numbers = _as_numbers(values)
    if numbers is None:
        return None
    contract = S.TABLES[S.CUSTOMERS].column(S.SATISFACTION)
    low, high, whole = numbers.min(), numbers.max(), bool((numbers % 1 == 0).all())
    seen = _span(numbers) + (", whole numbers" if whole else "")
    onto = f"the contract's {contract.min:g}-{contract.max:g}"
    if low >= 0 and high <= 7:
        scale = next(s for s in SHORT_SCALES if s[0] <= low and high <= s[1])
        partial = (low, high) != scale or not whole
        return scale, (f"{seen}: a {scale[0]}-{scale[1]} score, rescaled onto {onto}"
                       + ("; check the survey's scale" if partial else "")), partial
    if low >= contract.min and high <= contract.max:
        hint = "; if the survey's scale is 1-10, write scale: [1, 10]" if whole and low >= 1 else ""
        return None, f"{seen}: on {onto} as they are{hint}", bool(hint)
    if low >= 0 and high <= 100:
        return (0, 100), f"{seen}: a 0-100 score, rescaled onto {onto}; check the survey's scale", True
    return None, f"{seen}: outside {onto} and no common scale: give satisfaction: scale: [lowest, highest]", True


def _flow(text) -> str:
    """Text as one item of a YAML flow collection (``[...]``, ``{...}``), quoted when it must be."""
    dumped = yaml.safe_dump([str(text)], default_flow_style=True, allow_unicode=True, width=10**6).strip()
    if "\n" in dumped:
        return yaml.safe_dump(str(text), default_style='"', allow_unicode=True, width=10**6).strip()
    return dumped[1:-1]


def _flow_list(labels) -> str:
    return "[" + ", ".join(_flow(v) for v in labels) + "]"


# each drafting step reads the file's columns and adds lines to the draft `d`:
# d["guesses"] (contract -> source, the columns: entries), d["why"] (their comments), d["blocks"], d["notes"],
# d["used"] (source columns placed outside columns:), d["skip"] (left out of keep:)

def _draft_segments(raw: pd.DataFrame, d: dict) -> None:
    """A segment column (contract, customer type, region) needs two values: a single-valued one is never guessed."""
    by_norm = {_norm(c): c for c in raw.columns}
    for target in SEGMENTS:
        taken = {s for t, s in d["guesses"].items() if t != target}
        hits = [by_norm[n] for n in SYNONYMS[target] if n in by_norm and by_norm[n] not in taken]
        hits = list(dict.fromkeys(([d["guesses"][target]] if target in d["guesses"] else []) + hits))
        usable = [h for h in hits if raw[h].nunique() >= 2]
        for h in hits:
            if h not in usable:
                values = raw[h].dropna()
                one = f"one value only ({str(values.iloc[0])!r})" if len(values) else "no values"
                d["notes"].append(f"    # {target}: not {_comment(repr(h))}: {_comment(one)}, so no segments")
        if d["guesses"].get(target) not in usable:
            d["guesses"].pop(target, None)
            if usable:
                d["guesses"][target] = usable[0]


def _draft_tenure(raw: pd.DataFrame, d: dict) -> None:
    source = d["guesses"].get(S.TENURE)
    if source is None:
        return
    guess = _tenure_guess(source, raw[source])
    if guess is None:
        d["why"][S.TENURE] = _mark("its values are not all numbers", doubtful=True)
        return
    unit, why, doubtful = guess
    if unit == "months":
        d["why"][S.TENURE] = _mark(why, doubtful=doubtful)
    else:
        d["guesses"].pop(S.TENURE)
        d["used"].add(source)
        d["blocks"].append(f"  tenure: {{column: {_flow(source)}, unit: {unit}}}" + _mark(why, doubtful=doubtful))
    _blanks(raw, d, S.TENURE, source)


def _blanks(raw: pd.DataFrame, d: dict, column: str, source: str) -> None:
    """Note a required column's blank cells, for the one drop_missing: line `_blank_note` writes."""
    if raw[source].isna().any():
        d.setdefault("blank", {})[column] = (source, int(raw[source].isna().sum()))


def _blank_note(d: dict) -> list[str]:
    """``# blank cells in ...: such rows are refused; add drop_missing: [...]``: one line for every required column."""
    blank = d.get("blank", {})
    if not blank:
        return []
    cells = ", ".join(f"{_comment(repr(source))} ({n:,})" for source, n in blank.values())
    return [f"  # blank cells in {cells}: such rows are refused; add drop_missing: [{', '.join(blank)}] to drop them "
            "(counted)"]


def _draft_churned(raw: pd.DataFrame, d: dict) -> None:
    """The churn column: its labels listed; yes/no labels as a value map, other words as a churned: block."""
    source = d["guesses"].get(S.CHURNED)
    by_norm = {_norm(c): c for c in raw.columns}
    others = [by_norm[n] for n in SYNONYMS[S.CHURNED] if n in by_norm and by_norm[n] != source
              and by_norm[n] not in d["guesses"].values()
              and all(_churn_label(v) is not None for v in raw[by_norm[n]].dropna().unique()[:50])]
    blank_ends = S.END_DATE in d["guesses"] and raw[d["guesses"][S.END_DATE]].isna().any()
    tenure = S.TENURE in d["guesses"] or any(b.startswith("  tenure:") for b in d["blocks"])
    if blank_ends and (source is None or not tenure):  # the dates give tenure: the blank ends need observed_until
        end = d["guesses"][S.END_DATE]
        d["blocks"].append(f"  churned: {{from: {S.END_DATE}, observed_until: YYYY-MM-DD}}   # TODO: "
                           f"{_comment(end)} is blank for active customers: give the last day of observation")
        if source is not None:
            others, source = [d["guesses"].pop(S.CHURNED), *others], None
    for other in others:
        d["skip"].add(other)
        d["notes"].append(f"  # not kept: {_comment(repr(other))} also records churn "
                          f"({_comment(_counts(raw[other], 5))}); a covariate that records the outcome leaks it")
    if source is None:
        return
    _blanks(raw, d, S.CHURNED, source)
    labels = _counts(raw[source], 8)
    if _guess_values(S.CHURNED, raw[source]):
        d["why"][S.CHURNED] = _mark(f"labels {labels}")
        return
    found = raw[source].dropna().astype(str).value_counts().index
    churned, active = ([v for v in found if _churn_label(v) is want] for want in (True, False))
    unknown = [v for v in found if _churn_label(v) is None]
    d["guesses"].pop(S.CHURNED)
    d["used"].add(source)
    line = f"  churned: {{column: {_flow(source)}, values: {_flow_list(churned)}, active: {_flow_list(active)}}}"
    if unknown or not churned:
        d["blocks"].append(line + f"   # TODO: labels {_comment(labels)}; list each churned label under values:, "
                                  "the others under active:")
    else:
        d["blocks"].append(line + _mark(f"labels {labels}"))


def _draft_satisfaction(raw: pd.DataFrame, d: dict) -> None:
    source = d["guesses"].get(S.SATISFACTION)
    guess = _scale_guess(raw[source]) if source is not None else None
    if source is None or guess is None:
        if source is not None:
            d["why"][S.SATISFACTION] = _mark("its values are not numbers: map its labels to scores under values:",
                                             doubtful=True)
        return
    scale, why, doubtful = guess
    if scale is None:
        d["why"][S.SATISFACTION] = _mark(why, doubtful=doubtful)
        return
    d["guesses"].pop(S.SATISFACTION)
    d["used"].add(source)
    d["blocks"].append(f"  satisfaction: {{column: {_flow(source)}, scale: [{scale[0]}, {scale[1]}]}}"
                       + _mark(why, doubtful=doubtful))


def _draft_end_reason(raw: pd.DataFrame, d: dict) -> None:
    """End reasons in the file's own words: grouped onto the contract's reasons by their words, the labels kept."""
    source = d["guesses"].get(S.END_REASON)
    if source is None:
        return
    found = raw[source].dropna().astype(str).value_counts()
    if all(_norm(v) in {_norm(r) for r in S.END_REASONS} for v in found.index):
        d["why"][S.END_REASON] = _mark(f"labels {_counts(raw[source], 8)}")
        return
    d["guesses"].pop(S.END_REASON)
    d["used"].add(source)
    groups = {r: [v for v in found.index if _reason_of(v) == r] for r in S.END_REASONS}
    rest = [v for v in found.index if _reason_of(v) is None]
    d["blocks"].append("  end_reason:" + _mark(f"{len(found)} labels of {source!r} grouped onto the contract's "
                                               "reasons by their words; check each group", doubtful=True))
    d["blocks"].append(f"    column: {_quote(source)}")
    d["blocks"].append("    groups:")
    d["blocks"] += [f"      {r}: {_flow_list(labels)}" for r, labels in groups.items() if labels]
    if rest:
        unplaced = _comment(_counts(raw[source].where(raw[source].isin(rest)), 8))
        d["blocks"].append(f"    # TODO: labels in no group: {unplaced}: add them to a group, or write otherwise: "
                           f"{UNKNOWN_REASON}")


def _draft_dates(raw: pd.DataFrame, d: dict) -> list[str]:
    """``dates:`` lines for the guessed date columns (formats, or numbers that are dates), notes for the others."""
    lines = []
    for target in (S.SIGNUP_DATE, S.END_DATE):
        source = d["guesses"].get(target)
        if source is None:
            continue
        fmt = _guess_date_format(raw[source])
        number = _guess_numeric_dates(raw[source]) if fmt is None else None
        if number:
            lines.append(f"    {target}: {number[0]}" + _mark(number[1]))
        elif fmt and fmt != "%Y-%m-%d":
            lines.append(f"    {target}: {_quote(fmt)}{_mark()}")
    for column in raw.columns:
        number = _guess_numeric_dates(raw[column]) if _date_like(column) else None
        if number and column not in d["guesses"].values():
            d["notes"].append(f"  # {_comment(repr(column))} holds {_comment(number[1])}; kept as numbers (the "
                              f"contract's dates are {S.SIGNUP_DATE} and {S.END_DATE}: map one under columns: and "
                              f"write dates: {{<column>: {number[0]}}})")
    return ["  dates:", *lines] if lines else []


def draft_mapping(file: str | Path, *, out: str | Path | None = None) -> str:
    """A first mapping for a CSV/TSV/Excel file, each guess marked ``# GUESS: confirm`` or ``# GUESS: doubtful, why``.

    Guesses come from the names and the values: tenure units from the range (a tenure of 0 to
    10 is read as years, and said so), satisfaction scales (a 1-5 score gets ``scale: [1, 5]``),
    churn labels listed with their counts, end reasons grouped onto the contract's, Excel serials
    and Unix timestamps in date columns, the table-like sheet of a workbook; a column with one
    value is never a segment.

    Parameters
    ----------
    file : str or Path
        The customers file.
    out : str or Path, optional
        Where the mapping will be written; the file's path is written relative to it.

    Returns
    -------
    str
        YAML text: the reading keys, the contract columns guessed, value maps and blocks, the
        other columns under ``keep:``, and comments on what was doubtful or left out.
    """
    file = Path(file)
    raw, spec, head = _sniffed(file)
    rel = Path(_relative(file, Path(out).parent if out else file.parent))
    d = {"guesses": guess_columns(raw.columns), "why": {}, "blocks": [], "notes": [], "used": set(), "skip": set()}
    for step in (_draft_segments, _draft_tenure, _draft_churned, _draft_satisfaction, _draft_end_reason):
        step(raw, d)
    guesses = d["guesses"]
    lines = [f"# Mapping drafted by `workbench data init` from {_comment(file.name)}: check every GUESS, then run",
             "# `workbench data check` on this file. Format: see the helpers.data.mapping docstring.",
             "customers:", f"  file: {_quote(rel.as_posix())}", *head, "  columns:"]
    lines += [f"    {t}: {_quote(s)}{d['why'].get(t, _mark())}" for t, s in guesses.items()]
    lines += [n for n in d["notes"] if n.startswith("    #")]
    if S.TENURE not in guesses and not {S.SIGNUP_DATE, S.END_DATE} <= set(guesses) and \
            not any(b.startswith("  tenure:") for b in d["blocks"]):
        lines.append(f"    # {S.TENURE}: ?   # TODO: tenure in months (or map signup_date and end_date)")
    lines += _draft_dates(raw, d) + d["blocks"]
    maps = {t: _guess_values(t, raw[s]) for t, s in guesses.items()}
    maps = {t: m for t, m in maps.items() if m}
    if maps:
        lines.append("  values:")
        for t, m in maps.items():
            inner = ", ".join(f"{_flow(k)}: {str(v).lower() if isinstance(v, bool) else v}" for k, v in m.items())
            lines.append(f"    {t}: {{{inner}}}{_mark()}")
    rest = [c for c in raw.columns if c not in guesses.values() and c not in d["used"] | d["skip"]]
    if rest:
        lines.append("  keep:   # extra columns kept as covariates; delete those you do not need")
        lines += [f"    - {_quote(c)}" for c in rest]
    lines += [n for n in d["notes"] if not n.startswith("    #")] + _blank_note(d)
    return "\n".join(lines) + "\n"


def _quote(text) -> str:
    """Text as a YAML value in block context (quoted when it must be; one line, whatever it holds)."""
    if text is None or str(text) == "":
        return '""'
    dumped = yaml.safe_dump(str(text), allow_unicode=True, width=10**6).removesuffix("\n...\n").strip()
    if "\n" in dumped:
        return yaml.safe_dump(str(text), default_style='"', allow_unicode=True, width=10**6).strip()
    return dumped


def _relative(path: Path, start: Path) -> str:
    return os.path.relpath(path.resolve(), start.resolve())

"""Survival at scale: DuckDB aggregates parquet/CSV tables, the estimators work on the counts.

Millions of customers do not fit the row-level path (every customer a pandas row, lifelines on
all of them). Most survival statistics need far less: customers with the same tenure, churn
flag and segment are interchangeable. `Source` opens a data set's files in DuckDB (nothing is
read into pandas) and `Source.collapse` returns one row per distinct combination with the
number of customers behind it (column `WEIGHT`). On those rows:

- Kaplan-Meier, RMST and log-rank are *exact*: `helpers.stats.survival`'s functions take the counts
  as frequency weights (``weights=WEIGHT``); tenure is kept at the data's own resolution;
- the Cox model is the exact Efron partial likelihood from the counts (`fit_cox_counts`,
  `helpers.stats.efron`: every customer one death in the tie correction, so it equals lifelines on
  one row per customer) when every covariate is categorical (numeric ones are banded,
  `Source.band`);
- the piecewise-exponential model (`person_period`, `fit_pwe`) is a Poisson GLM (statsmodels)
  on events and exposure per interval x covariate cell with a log-exposure offset: the
  scalable counterpart of the Cox model, and the one that takes time-varying states
  (`Source.complaint_person_period`: the complaint states of `helpers.stats.complaints`).

Sections that need one row per customer (hold-out prediction, parametric fits, matching) run
on a random sample (`Source.sample_dataset`); the notebooks say so. `choose_engine` picks the
path by data size. Agreement with the row-level estimators, with the tolerances, is tested in
tests/test_scale.py; speed and memory are measured by benchmarks/survival.py.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import itertools
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from helpers import config
from helpers.data import io as io_module
from helpers.data import schema as S
from helpers.data import validate as validate_module
from helpers.data.io import Dataset, fingerprint, read_file, resolve, table_files
from helpers.data.segments import (
    BELOW_PARITY,
    COHORT,
    LOG2_VALUE,
    QUADRANT,
    QUADRANTS,
    SATISFACTION_BANDS,
    SERVICE_BANDS,
    SERVICE_BY_VALUE,
    SERVICE_CUTS,
    VALUE_BAND,
    VALUE_BANDS,
    WALLET_BANDS,
    WALLET_BY_SATISFACTION,
    WALLET_CUTS,
)
from helpers.data.validate import CUSTOMER_RULES, DataError, Problem, validate
from helpers.stats import efron, survival
from helpers.stats.churn import NoCovariate, covariate_problem, left_out
from helpers.stats.complaints import STATES
from helpers.stats.design import as_list
from helpers.stats.pwe import (  # noqa: F401
    EVENTS,
    EXPOSURE,
    INTERVAL,
    WEIGHT,
    PWEModel,
    fit_pwe,
    from_last_intervals,
    person_period,
    ph_check,
    with_pwe_column,
)

ENGINES = ("auto", "rows", "aggregated")
LARGE = 50_000  # customers from which "auto" takes the aggregated path: the crossover (benchmarks/notebooks.py)
MEMORY_LIMIT = "3GB"  # DuckDB's working memory; beyond it, it spills to disk
COX_ROWS = 300_000  # collapsed rows above which the aggregated Cox model groups tenure into whole months
SAMPLE = 50_000  # customers in the random sample behind row-level sections of the aggregated path
COMPLAINT = "complaint"  # the complaint-state column of `Source.complaint_person_period`
CHECKED_ENV = "WORKBENCH_CHECKED"  # `validation_token`s of the data the runner validated, for its kernels


# ---- which path --------------------------------------------------------------------------
def customer_count(dataset: str | Path = "synthetic") -> int:
    """Customers in a data set folder, counted by DuckDB (parquet: from the file's metadata)."""
    files = _files(resolve(dataset), str(dataset))
    with duckdb.connect() as con:
        return int(con.execute(f"SELECT count(*) FROM {_reader(files[S.CUSTOMERS])}").fetchone()[0])


def _count_or_none(dataset: str | Path) -> int | None:
    """`customer_count`, or None when DuckDB cannot read the customers file (pandas will say why)."""
    try:
        return customer_count(dataset)
    except duckdb.Error:
        return None


def choose_engine(engine: str, customers: int, *, threshold: int = LARGE) -> tuple[str, str]:
    """The path to take ("rows" or "aggregated") and the sentence a report shows about it.

    Example
    -------
    >>> choose_engine("auto", 2_000_000)[0]
    'aggregated'
    >>> choose_engine("rows", 2_000_000)[1][:40]
    'Row-level path (every customer in memory'
    """
    if engine not in ENGINES:
        raise ValueError(f"ENGINE must be one of {', '.join(ENGINES)}, got {engine!r}")
    chosen = engine if engine != "auto" else ("aggregated" if customers >= threshold else "rows")
    why = (f"chosen for {customers:,} customers (the aggregated path starts at {threshold:,})" if engine == "auto"
           else "set by the ENGINE parameter")
    if chosen == "rows":
        return chosen, f"Row-level path (every customer in memory, lifelines), {why}."
    return chosen, (f"Aggregated path (DuckDB counts; Kaplan-Meier, log-rank and RMST exact from them, Cox on "
                    f"collapsed rows and a piecewise-exponential model), {why}.")


# ---- what a notebook opens ---------------------------------------------------------------
@dataclass
class Data:
    """What a notebook works on, whichever the path.

    ``ds`` and ``customers`` (segmented) are the whole data set on the row-level path and a
    random sample on the aggregated one; ``counts(columns)`` gives the rows the survival
    estimators take -- the customers themselves, or collapsed counts with ``weights`` naming
    their weight column -- so one notebook cell serves both paths.
    """

    ds: Dataset
    customers: pd.DataFrame
    engine: str
    note: str
    n: int
    churned: int
    available: list[str]
    src: Source | None = None

    @property
    def weights(self) -> str | None:
        return WEIGHT if self.src is not None else None

    @property
    def sampled(self) -> bool:
        return self.src is not None and len(self.customers) < self.n

    def counts(self, columns: Sequence[str] = (), *, banded: Sequence[str] = ()) -> pd.DataFrame:
        return self.customers if self.src is None else self.src.collapse(columns, banded=banded)

    def tell(self, what: str = "This section") -> None:
        """Print `sample_note` when the section runs on the sample (nothing on the row-level path)."""
        if self.sampled:
            print(self.sample_note(what))

    def sample_note(self, what: str = "This section") -> str:
        """"" on the row-level path; else a sentence saying the section uses the sample."""
        if not self.sampled:
            return ""
        return (f"{what} needs one row per customer: computed on a random sample of {len(self.customers):,} "
                f"of the {self.n:,} customers.")


def open_data(dataset: str | Path = "synthetic", *, engine: str = "auto", threshold: int = LARGE, sample: int = SAMPLE,
              seed: int = 0, satisfaction_threshold: float = 7.0, cohort_freq: str = "Q") -> Data:
    """Open a data set on the path its size calls for (`choose_engine`); see `Data`.

    Built-in names and mapping files are small and always take the row-level path, which loads
    the data with `load_validated` (validated, unless the runner has just validated these very
    bytes). On the aggregated path the full data are checked in DuckDB (`check`), the sample is
    validated in pandas, and the sample's value x satisfaction quadrants use the full data's
    median value.
    """
    from helpers.data.io import READERS
    from helpers.data.segments import add_segments, available_segmentations
    key = str(dataset)
    if key in READERS or Path(key).suffix.lower() in (".yaml", ".yml"):
        choose_engine(engine, 0)  # a bad ENGINE is refused on every path
        chosen, note = "rows", f"Row-level path (the {key!r} data set is read through its own loader)."
    else:
        n = _count_or_none(dataset)
        chosen, note = choose_engine(engine, 0 if n is None else n, threshold=threshold)
    if chosen == "rows":
        ds = load_validated(dataset)
        customers = add_segments(ds.customers, satisfaction_threshold=satisfaction_threshold, cohort_freq=cohort_freq)
        return Data(ds, customers, chosen, note, len(customers), int(customers[S.CHURNED].sum()),
                    available_segmentations(customers))
    src = Source(dataset, satisfaction_threshold=satisfaction_threshold, cohort_freq=cohort_freq)
    checked(src)
    ds = src.sample_dataset(sample, seed=seed)
    customers = add_segments(ds.customers, satisfaction_threshold=satisfaction_threshold, cohort_freq=cohort_freq,
                             value_threshold=src.median_value)
    n, churned = src.n, src.churned
    if len(customers) < n:
        note += (f" Kaplan-Meier, RMST, log-rank and the hazard models use every customer; sections that need one row "
                 f"per customer use a random sample of {len(customers):,} and say so.")
    return Data(ds, customers, chosen, note, n, churned, src.available_segmentations(), src)


# ---- a validation the runner passed, handed to its kernels ----------------------------------
def validation_token(fp: str) -> str:
    """What says: the files of fingerprint ``fp`` passed `load_dataset`'s validation, by this code.

    The runner validates each data set before any kernel starts and hands the tokens of those
    that passed to its kernels in the environment variable `CHECKED_ENV` (comma-separated);
    `load_validated` then skips validating again, but only files whose bytes give exactly such a
    token. The part after the fingerprint is a digest of the modules that read and validate the
    data and of the pandas and pyarrow versions: other code validates again.

    Example
    -------
    >>> validation_token("0123456789abcdef").startswith("0123456789abcdef-")
    True
    """
    return f"{fp}-{_code_digest()}"


@functools.cache
def _code_digest() -> str:
    code = b"".join(Path(f).read_bytes() for f in (S.__file__, io_module.__file__, validate_module.__file__, __file__))
    return hashlib.sha256(code + f"pandas {pd.__version__} pyarrow {pa.__version__}".encode()).hexdigest()[:12]


def handed_tokens() -> set[str]:
    """The `validation_token`s this process was handed (`CHECKED_ENV`); empty outside a runner's kernel."""
    return {token for token in os.environ.get(CHECKED_ENV, "").split(",") if token}


def load_validated(dataset: str | Path = "synthetic") -> Dataset:
    """`load_dataset`, without validating again the files the runner has just validated.

    Validation takes seconds (20,000 customers: about 2 s) and the runner has done it before
    the kernel started. When this process was handed tokens (`handed_tokens`), a folder of
    parquet files is read once, its fingerprint computed from the very bytes read, and when that
    fingerprint's `validation_token` was handed and every contract column already has the
    contract's dtype, the tables are returned as `helpers.data.validate.validate` returns such
    tables (columns in contract order, sorted, index reset) without running its checks. In
    every other case (no token, a token of other bytes -- a file changed since the runner
    checked it --, CSV files, other dtypes, a built-in name or a mapping file) this is
    `load_dataset`, which validates.

    Example
    -------
    >>> ds = load_validated("synthetic")                                # doctest: +SKIP
    """
    from helpers.data.io import READERS, load_dataset
    key = str(dataset)
    handed = handed_tokens()
    if not handed or key in READERS or Path(key).suffix.lower() in (".yaml", ".yml"):
        return load_dataset(dataset)
    folder = resolve(dataset)
    files = table_files(folder)
    if S.CUSTOMERS not in files or any(p.suffix != ".parquet" for p in files.values()):
        return load_dataset(dataset)
    raw, fp = _read_fingerprinted(files)
    tables = _as_validated(raw) if validation_token(fp) in handed else None
    if tables is None:
        return load_dataset(dataset)
    truth_path = folder / "truth.json"
    truth = json.loads(truth_path.read_text()) if truth_path.exists() else None
    return Dataset(key, folder, tables, fp, truth)


def _read_fingerprinted(files: dict[str, Path]) -> tuple[dict[str, pd.DataFrame], str]:
    """Each parquet file read from its bytes, and the fingerprint of exactly those bytes (as `fingerprint`)."""
    tables, digests = {}, {}
    for name, path in files.items():
        data = path.read_bytes()
        digests[path] = hashlib.sha256(data).digest()
        tables[name] = read_file(path, lambda _, data=data: pd.read_parquet(io.BytesIO(data)), table=name)
    h = hashlib.sha256()
    for path in sorted(digests):
        h.update(path.name.encode() + digests[path])
    return tables, h.hexdigest()[:16]


def _same_dtype(have, want) -> bool:
    want = pd.api.types.pandas_dtype(want)
    if isinstance(want, pd.CategoricalDtype):
        return (isinstance(have, pd.CategoricalDtype) and have.ordered == want.ordered
                and list(have.categories) == list(want.categories) and have.categories.dtype == want.categories.dtype)
    return type(have) is type(want) and have == want and getattr(have, "storage", "") == getattr(want, "storage", "")


def _as_validated(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame] | None:
    """Tables that passed `validate` as it returns them, when their columns have the contract's dtypes; else None.

    Validation then casts nothing and derives nothing (``tenure_months`` is given), so what it
    returns is each table with its columns in contract order, sorted by its keys, index reset.
    """
    out = {}
    for name, df in tables.items():
        table = S.TABLES[name]
        if not all(_same_dtype(df[c.name].dtype, S.pandas_dtype(c)) for c in table.columns if c.name in df):
            return None
        if name == S.CUSTOMERS and (S.TENURE not in df or df[S.TENURE].isna().all()):
            return None
        out[name] = validate_module.arranged(name, df)
    return out


# ---- the data in DuckDB ------------------------------------------------------------------
def _files(folder: Path, name: str) -> dict[str, Path]:
    files = table_files(folder)
    if S.CUSTOMERS not in files:
        raise FileNotFoundError(f"data set {name!r}: no customers.parquet or customers.csv in {folder}")
    return files


def _reader(path: Path) -> str:
    quoted = "'" + str(path).replace("'", "''") + "'"
    return f"read_parquet({quoted})" if path.suffix == ".parquet" else f"read_csv_auto({quoted})"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _band_case(column: str, cuts: Sequence[float], labels: Sequence[str]) -> str:
    """CASE expression: label i for values below cuts[i] (right-open bands, as `segments._bands`)."""
    whens = " ".join(f"WHEN {column} < {cut!r} THEN {_lit(label)}" for cut, label in zip(cuts, labels))
    return f"CASE WHEN {column} IS NULL THEN NULL {whens} ELSE {_lit(labels[-1])} END"


def _numeric(duckdb_type: str) -> bool:
    """True for DuckDB's number types (the ones a covariate is banded from)."""
    return duckdb_type in ("DOUBLE", "FLOAT", "INTEGER", "BIGINT", "SMALLINT", "HUGEINT", "TINYINT", "UBIGINT",
                           "UINTEGER", "USMALLINT", "UTINYINT") or duckdb_type.startswith("DECIMAL")


def _cross_sql(a: str, b: str) -> str:
    return f"CASE WHEN ({a}) IS NULL OR ({b}) IS NULL THEN NULL ELSE ({a}) || ', ' || ({b}) END"


@dataclass
class Source:
    """A data set's files opened in DuckDB, with the segment columns of `helpers.data.segments`.

    The view ``customers`` holds the contract's customer columns plus ``tenure_months``
    (derived from the dates when the file has none) and every segment column the data allow,
    defined as `segments.add_segments` defines them (tests/test_scale.py checks that they agree
    customer by customer). ``contacts`` and the other tables are views over their files.

    Parameters
    ----------
    dataset : str or Path
        ``"synthetic"`` or the path of a folder with one parquet or CSV file per table.
    satisfaction_threshold : float
        Lowest satisfaction score that counts as high.
    cohort_freq : str
        Signup cohorts by quarter ("Q") or year ("Y").
    threads : int, optional
        DuckDB worker threads (default: all cores).
    memory_limit : str
        DuckDB's working memory ("3GB"); larger intermediate results spill to a temporary
        folder, so ten million customers' complaint episodes stay within a few GiB.

    Example
    -------
    >>> src = Source("synthetic")                                      # doctest: +SKIP
    >>> src.collapse(["contract"]).head()                              # doctest: +SKIP
    """

    dataset: str | Path = "synthetic"
    satisfaction_threshold: float = 7.0
    cohort_freq: str = "Q"
    threads: int | None = None
    memory_limit: str = MEMORY_LIMIT
    con: duckdb.DuckDBPyConnection = field(init=False, repr=False)
    folder: Path = field(init=False)
    files: dict[str, Path] = field(init=False, repr=False)
    columns: list[str] = field(init=False)
    facts: dict = field(init=False, repr=False)  # `_facts`: what one pass over the customers file gives
    _bands: dict = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self):
        self.name = str(self.dataset)
        self.folder = resolve(self.dataset)
        self.files = _files(self.folder, self.name)
        self.con = duckdb.connect()
        # bounded memory: what does not fit spills to a temporary folder instead of growing the process
        self.con.execute(f"SET memory_limit = '{self.memory_limit}'")
        self.con.execute(f"SET temp_directory = {_lit(Path(tempfile.gettempdir()) / 'workbench-duckdb')}")
        # the runner shows its own progress; DuckDB's bar would interleave with it on the terminal. In a
        # Jupyter kernel without ipywidgets DuckDB refuses the setting (and shows no bar there).
        with contextlib.suppress(duckdb.Error):
            self.con.execute("SET enable_progress_bar = false")
        if self.threads:
            self.con.execute(f"SET threads = {int(self.threads)}")
        for table, path in self.files.items():
            self.con.execute(f"CREATE VIEW raw_{table} AS SELECT * FROM {_reader(path)}")
        self.facts = self._facts()
        self.con.execute(f"CREATE VIEW {S.CUSTOMERS} AS {self._customers_sql()}")
        for table in self.files:
            if table != S.CUSTOMERS:
                self.con.execute(f"CREATE VIEW {table} AS SELECT * FROM raw_{table}")
        self.columns = [r[0] for r in self.con.execute(f"DESCRIBE {S.CUSTOMERS}").fetchall()]

    # -- the customers view
    def _raw_columns(self, table: str) -> list[str]:
        return [r[0] for r in self.con.execute(f"DESCRIBE raw_{table}").fetchall()]

    def _facts(self) -> dict:
        """What the customers view is built from, in one pass over the file: which of its columns
        hold a value, the median monthly value (of a number column), the numbers of customers and of churners."""
        wanted = [S.TENURE, S.SIGNUP_DATE, S.END_DATE, S.MONTHLY_VALUE, S.SATISFACTION, S.RELATIVE_SERVICE,
                  S.WALLET_SHARE]
        types = dict(self.con.execute(f"SELECT column_name, column_type FROM (DESCRIBE raw_{S.CUSTOMERS})").fetchall())
        have = [c for c in wanted if c in types]
        parts = [f"count({_q(c)})" for c in have] + ["count(*)", f"count_if(TRY_CAST({S.CHURNED} AS BOOLEAN))"
                                                     if S.CHURNED in types else "0"]
        parts.append(f"quantile_cont({S.MONTHLY_VALUE}, 0.5)" if _numeric(types.get(S.MONTHLY_VALUE, "")) else "NULL")
        *filled, n, churned, median = self.con.execute(f"SELECT {', '.join(parts)} FROM raw_{S.CUSTOMERS}").fetchone()
        return {"present": {c for c, k in zip(have, filled) if k}, "n": int(n), "churned": int(churned),
                "median": median}

    def _customers_sql(self) -> str:
        has = self.facts["present"]
        if S.TENURE in has:
            tenure = f"CAST({S.TENURE} AS DOUBLE)"
        elif {S.SIGNUP_DATE, S.END_DATE} <= has:
            days = f"date_diff('day', CAST({S.SIGNUP_DATE} AS DATE), CAST({S.END_DATE} AS DATE))"
            tenure = f"{days} / {S.DAYS_PER_MONTH!r}"
        else:
            raise DataError([Problem(S.CUSTOMERS, S.TENURE, 0, "column missing",
                                     fix="add tenure_months or both signup_date and end_date")],
                            source=f"data set {self.name!r}")
        derived = [f"{tenure} AS {S.TENURE}_", f"CAST({S.CHURNED} AS BOOLEAN) AS {S.CHURNED}_"]
        value, sat = S.MONTHLY_VALUE, S.SATISFACTION
        high_sat = f"CASE WHEN {sat} IS NULL THEN NULL WHEN {sat} >= {float(self.satisfaction_threshold)!r} " \
                   f"THEN '{SATISFACTION_BANDS[0]}' ELSE '{SATISFACTION_BANDS[1]}' END"
        if value in has:
            median = self.facts["median"]
            if median is None:  # a value column DuckDB did not read as numbers: its own error says so
                median = self.con.execute(f"SELECT quantile_cont({value}, 0.5) FROM raw_{S.CUSTOMERS}").fetchone()[0]
            value_band = (f"CASE WHEN {value} IS NULL THEN NULL WHEN {value} > {float(median)!r} "
                          f"THEN '{VALUE_BANDS[0]}' ELSE '{VALUE_BANDS[1]}' END")
            derived += [f"{value_band} AS {VALUE_BAND}",
                        f"CASE WHEN {value} > 0 THEN log2({value} / {float(median)!r}) END AS {LOG2_VALUE}"]
            if sat in has:
                high_v, high_s = f"{value} > {float(median)!r}", f"{sat} >= {float(self.satisfaction_threshold)!r}"
                derived.append(f"CASE WHEN {value} IS NULL OR {sat} IS NULL THEN NULL "
                               f"WHEN {high_v} AND {high_s} THEN '{QUADRANTS[0]}' WHEN {high_v} THEN '{QUADRANTS[1]}' "
                               f"WHEN {high_s} THEN '{QUADRANTS[2]}' ELSE '{QUADRANTS[3]}' END AS {QUADRANT}")
            if S.RELATIVE_SERVICE in has:
                band = _band_case(S.RELATIVE_SERVICE, SERVICE_CUTS, SERVICE_BANDS)
                derived += [f"{_cross_sql(band, value_band)} AS {SERVICE_BY_VALUE}",
                            f"CASE WHEN {S.RELATIVE_SERVICE} IS NULL THEN NULL WHEN {S.RELATIVE_SERVICE} < 1 "
                            f"THEN 1.0 ELSE 0.0 END AS {BELOW_PARITY}"]
        if S.WALLET_SHARE in has and sat in has:
            band = _band_case(S.WALLET_SHARE, WALLET_CUTS, WALLET_BANDS)
            derived.append(f"{_cross_sql(band, high_sat)} AS {WALLET_BY_SATISFACTION}")
        if S.SIGNUP_DATE in has:
            signup = f"CAST({S.SIGNUP_DATE} AS DATE)"
            period = (f"CAST(year({signup}) AS VARCHAR) || 'Q' || CAST(quarter({signup}) AS VARCHAR)"
                      if self.cohort_freq == "Q" else f"CAST(year({signup}) AS VARCHAR)")
            derived.append(f"{period} AS {COHORT}")
        replaced = f"EXCLUDE ({S.TENURE}, {S.CHURNED})" if S.TENURE in self._raw_columns(S.CUSTOMERS) \
            else f"EXCLUDE ({S.CHURNED})"
        inner = f"SELECT * {replaced}, {', '.join(derived)} FROM raw_{S.CUSTOMERS}"
        return (f"SELECT * EXCLUDE ({S.TENURE}_, {S.CHURNED}_), {S.TENURE}_ AS {S.TENURE}, "
                f"{S.CHURNED}_ AS {S.CHURNED} FROM ({inner})")

    # -- facts
    @property
    def n(self) -> int:
        """Customers in the data set."""
        return self.facts["n"]

    @property
    def churned(self) -> int:
        """Customers who churned."""
        return self.facts["churned"]

    @property
    def median_value(self) -> float | None:
        """The median monthly value of all customers (None without the column)."""
        return self.facts["median"] if S.MONTHLY_VALUE in self.facts["present"] else None

    def filled(self, columns: Sequence[str], table: str = S.CUSTOMERS) -> set[str]:
        """The columns of a table (the customers view: with its segments) that hold at least one value;
        each search stops at the first."""
        have = self.columns if table == S.CUSTOMERS else self._raw_columns(table)
        known = [c for c in dict.fromkeys(columns) if c in have]
        if not known:
            return set()
        found = self.con.execute("SELECT " + ", ".join(
            f"EXISTS (SELECT 1 FROM {table} WHERE {_q(c)} IS NOT NULL)" for c in known)).fetchone()
        return {c for c, k in zip(known, found) if k}

    def has(self, table: str, *columns: str) -> bool:
        """True when the table exists and each named column has a non-missing value (as `Dataset.has`)."""
        return table in self.files and self.filled(columns, table) == set(columns)

    def table_rows(self) -> dict[str, int]:
        """Rows of every table of the data set, counted by DuckDB (parquet: from the metadata)."""
        return {t: int(self.con.execute(f"SELECT count(*) FROM raw_{t}").fetchone()[0]) for t in self.files}

    def sql(self, query: str) -> pd.DataFrame:
        """Run a query on the views; the (small) result as a pandas frame."""
        return self.con.execute(query).df()

    def available_segmentations(self) -> list[str]:
        """The segmentations of `segments.SEGMENTATIONS` the data allow (as the row-level function)."""
        from helpers.data.segments import SEGMENTATIONS
        filled = self.filled(SEGMENTATIONS)
        return [c for c in SEGMENTATIONS if c in filled]

    # -- counts
    def band(self, column: str, *, bands: int = 5, max_levels: int = 12) -> str:
        """SQL for a numeric column as quantile bands, or the column itself when it has few values.

        A numeric covariate with more than ``max_levels`` distinct values would leave as many
        collapsed rows as customers; it enters the aggregated models as ``bands`` quantile bands
        (labels "lo to hi", ordered; the lowest band is the reference).
        """
        return self.bands([column], bands=bands, max_levels=max_levels)[column]

    def bands(self, columns: Sequence[str], *, bands: int = 5, max_levels: int = 12) -> dict[str, str]:
        """`band` of each column; the numeric ones not seen before are measured in one pass together."""
        key = lambda c: (c, bands, max_levels)  # noqa: E731
        new = [c for c in dict.fromkeys(columns) if key(c) not in self._bands]
        types = dict(self.con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {S.CUSTOMERS})").fetchall()) \
            if new else {}
        numeric = [c for c in new if _numeric(types.get(c, ""))]
        for c in new:
            if c not in numeric:
                self._bands[key(c)] = _q(c)
        if numeric:
            probs = [i / bands for i in range(1, bands)]
            parts = [f"approx_count_distinct({_q(c)}), quantile_cont({_q(c)}, {probs}), min({_q(c)}), max({_q(c)})"
                     for c in numeric]
            stats = self.con.execute(f"SELECT {', '.join(parts)} FROM {S.CUSTOMERS}").fetchone()
            for i, c in enumerate(numeric):
                distinct, cuts, lo, hi = stats[4 * i:4 * i + 4]
                if distinct <= max_levels:
                    self._bands[key(c)] = _q(c)
                    continue
                edges = sorted(set(float(x) + 0.0 for x in cuts))  # + 0.0: -0.0 and 0.0 print alike
                bounds = [float(lo) + 0.0, *edges, float(hi) + 0.0]
                labels = [f"{i + 1}: {a:.3g} to {b:.3g}" for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:]))]
                self._bands[key(c)] = _band_case(_q(c), edges, labels)
        return {c: self._bands[key(c)] for c in columns}

    def profile(self, columns: Sequence[str]) -> dict[str, tuple[int, bool]]:
        """(customers with a value, whether it takes two values or more) of each customer column, in one pass."""
        known = [c for c in dict.fromkeys(columns) if c in self.columns]
        if not known:
            return {}
        row = self.con.execute("SELECT " + ", ".join(
            f"count({_q(c)}), coalesce(min({_q(c)}) < max({_q(c)}), false)" for c in known) +
            f" FROM {S.CUSTOMERS}").fetchone()
        return {c: (int(row[2 * i]), bool(row[2 * i + 1])) for i, c in enumerate(known)}

    def _collapse_keys(self, columns: list[str], banded: Sequence[str], resolution: float | None) -> list[str]:
        """The GROUP BY keys of `collapse`: the columns (banded ones as bands), tenure, churned."""
        unknown = [c for c in columns if c not in self.columns]
        if unknown:
            raise KeyError(f"customers has no column {', '.join(map(repr, unknown))} "
                           f"(columns: {', '.join(self.columns)})")
        exprs = [f"{self.band(c) if c in banded else _q(c)} AS {_q(c)}" for c in columns]
        tenure = S.TENURE if resolution is None else \
            f"ceil({S.TENURE} / {float(resolution)!r}) * {float(resolution)!r} AS {S.TENURE}"
        return [*exprs, tenure, S.CHURNED]

    def _collapse_sql(self, columns: list[str], banded: Sequence[str], resolution: float | None) -> str:
        keys = self._collapse_keys(columns, banded, resolution)
        return f"SELECT {', '.join(keys)}, count(*) AS {WEIGHT} FROM {S.CUSTOMERS} GROUP BY ALL ORDER BY ALL"

    def collapse(self, columns: Sequence[str] = (), *, banded: Sequence[str] = (),
                 resolution: float | None = None) -> pd.DataFrame:
        """One row per distinct (columns, tenure, churned) with the number of customers (`WEIGHT`).

        ``banded`` columns enter as quantile bands (`band`). Segment columns come back as
        ordered categoricals in the order the row-level path uses (first level = reference).
        ``resolution`` (months) rounds tenure up to its multiples (1: whole months, the
        heavy-ties case); None keeps the data's own resolution, which keeps every estimate exact.

        Example
        -------
        >>> src.collapse(["contract"]).columns.tolist()                  # doctest: +SKIP
        ['contract', 'tenure_months', 'churned', 'customers']
        """
        columns = list(dict.fromkeys(columns))
        return _ordered(self.con.execute(self._collapse_sql(columns, banded, resolution)).df(), columns)

    def collapse_within(self, columns: Sequence[str] = (), *, banded: Sequence[str] = (),
                        max_rows: int = COX_ROWS) -> tuple[pd.DataFrame, float | None]:
        """`collapse` at the data's own tenure resolution if that leaves at most ``max_rows`` rows,
        else in whole months; (rows, resolution: None or 1.0).

        How many fine rows there would be is first estimated in one streamed pass (HyperLogLog,
        about 1% off); an estimate more than twice ``max_rows`` or below half of it decides, and
        only in between are the fine rows grouped inside DuckDB and counted, the whole months then
        grouped from them (the same counts as from the customers).
        """
        columns = list(dict.fromkeys(columns))
        if self.n <= max_rows:  # never more rows than customers
            return self.collapse(columns, banded=banded), None
        keys = ", ".join(self._collapse_keys(columns, banded, None))
        names = ", ".join([*(_q(c) for c in columns), S.TENURE, S.CHURNED])
        estimate = self.con.execute(f"SELECT approx_count_distinct(hash({names})) "
                                    f"FROM (SELECT {keys} FROM {S.CUSTOMERS})").fetchone()[0]
        if estimate > 2 * max_rows:
            return self.collapse(columns, banded=banded, resolution=1.0), 1.0
        if estimate < max_rows / 2:
            return self.collapse(columns, banded=banded), None
        fine = _temp_name("collapsed")
        try:
            self.con.execute(f"CREATE TEMP TABLE {fine} AS {self._collapse_sql(columns, banded, None)}")
            if self.con.execute(f"SELECT count(*) FROM {fine}").fetchone()[0] <= max_rows:
                return _ordered(self.con.execute(f"SELECT * FROM {fine} ORDER BY ALL").df(), columns), None
            keys = [*(_q(c) for c in columns), f"ceil({S.TENURE}) AS {S.TENURE}", S.CHURNED]
            coarse = self.con.execute(f"SELECT {', '.join(keys)}, sum({WEIGHT})::BIGINT AS {WEIGHT} FROM {fine} "
                                      "GROUP BY ALL ORDER BY ALL").df()
            return _ordered(coarse, columns), 1.0
        finally:
            self.con.execute(f"DROP TABLE IF EXISTS {fine}")

    def person_period(self, columns: Sequence[str] = (), *, banded: Sequence[str] = (),
                      width: float = 1.0) -> pd.DataFrame:
        """`person_period` of every customer, aggregated in DuckDB with exact exposure.

        DuckDB returns one row per (cells, last interval, churned) with the customer count and
        the summed exposure in that last interval; the full intervals before it are expanded
        here. Equal to `person_period` on the collapsed rows (tests/test_scale.py), but the
        result is the size of cells x intervals however many distinct tenures there are.
        """
        columns = list(dict.fromkeys(columns))
        exprs = [f"{self.band(c) if c in banded else _q(c)} AS {_q(c)}" for c in columns]
        t, w = f"greatest({S.TENURE}, {survival.ONE_DAY!r})", repr(float(width))
        last = f"CAST(ceil({t} / {w}) AS BIGINT) - 1"
        compact = self.con.execute(
            f"SELECT {''.join(e + ', ' for e in exprs)}{last} AS last, {S.CHURNED}, count(*) AS n, "
            f"sum({t} - ({last}) * {w}) AS part FROM {S.CUSTOMERS} WHERE {S.TENURE} IS NOT NULL GROUP BY ALL "
            "ORDER BY ALL").df()
        compact = _ordered(compact, columns)
        return from_last_intervals(compact, columns, float(width))

    # -- a sample for the row-level sections
    def sample_dataset(self, n: int = SAMPLE, *, seed: int = 0) -> Dataset:
        """A random sample of ``n`` customers with their rows of every other table, validated.

        Manager departures are kept whole (they are managers, not customers). The data set's
        fingerprint is that of the full files. Everything when the data set is smaller.
        """
        total = self.n
        take = f"USING SAMPLE reservoir({int(n)} ROWS) REPEATABLE ({int(seed)})" if n < total else ""
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE sample_ids AS "
                         f"SELECT {S.CUSTOMER_ID} FROM raw_{S.CUSTOMERS} {take}")
        raw = {}
        for table in self.files:
            if table == S.MANAGER_DEPARTURES or S.CUSTOMER_ID not in self._raw_columns(table):
                raw[table] = self.con.execute(f"SELECT * FROM raw_{table}").df()
            else:
                raw[table] = self.con.execute(
                    f"SELECT * FROM raw_{table} SEMI JOIN sample_ids USING ({S.CUSTOMER_ID})").df()
        tables = validate(raw, source=f"data set {self.name!r} (a sample of {min(n, total):,} customers)")
        truth_path = self.folder / "truth.json"
        truth = json.loads(truth_path.read_text()) if truth_path.exists() else None
        return Dataset(self.name, self.folder, tables, fingerprint(self.files.values()), truth)

    # -- time-varying complaint states
    def complaint_person_period(self, *, covariates: Sequence[str] = (), strata: Sequence[str] = (),
                                width: float = 1.0, banded: Sequence[str] = ()) -> pd.DataFrame:
        """Events and exposure per interval x complaint state x covariate cell, computed in DuckDB.

        The states are those of `complaints.complaint_episodes` (none until the first original
        complaint, open until it is resolved, then recovered or failed by its ``recovered``
        flag, the latest event winning; same-day events of equal rank by ``contact_id``; tenure
        in whole days / ``DAYS_PER_MONTH``); each customer's episodes are cut at multiples of
        ``width`` months. Episodes with a missing state (resolved, flag missing) are left out, as
        the row-level model drops them. Fit with `fit_pwe` and ``covariates=[COMPLAINT, ...]``.

        How, in one pass over each table and without a row per customer-interval: the covariate
        cells get an integer id; only complainers' state changes are ordered (one window); an
        episode (start, stop] contributes what a customer leaving at ``stop`` would, minus what
        one leaving at ``start`` would, so DuckDB sums those ends by (state, cell, interval) and
        `from_last_intervals` spreads them over the intervals. Customers who never complained
        are one "none" episode (0, tenure], summed without a join.
        """
        if not self.has(S.CONTACTS, S.OPENED_AT, S.RESOLVED_AT, S.RECOVERED):
            raise ValueError("complaint states need a contacts table with opened_at, resolved_at and recovered")
        cells = list(dict.fromkeys([*covariates, *strata]))
        w, dpm = repr(float(width)), repr(S.DAYS_PER_MONTH)
        tenure = f"date_diff('day', CAST({S.SIGNUP_DATE} AS DATE), CAST({S.END_DATE} AS DATE)) / {dpm}"
        raw_contacts = self._raw_columns(S.CONTACTS)
        repeat = f"AND {S.REPEAT_OF} IS NULL" if S.REPEAT_OF in raw_contacts else ""
        order = f", k.{S.CONTACT_ID}" if S.CONTACT_ID in raw_contacts else ""
        days = "greatest(date_diff('day', CAST(c.{s} AS DATE), CAST(k.{col} AS DATE)), 0) / " + dpm
        t_open = days.format(s=S.SIGNUP_DATE, col=S.OPENED_AT)
        t_done = days.format(s=S.SIGNUP_DATE, col=S.RESOLVED_AT)
        after = f"CASE WHEN k.{S.RECOVERED} IS NULL THEN NULL WHEN k.{S.RECOVERED} THEN 'recovered' ELSE 'failed' END"
        labels, cust = _temp_name("cells"), _temp_name("cust")
        cell, span = _unused("_cell", self.columns), _unused("_tenure", self.columns)  # no covariate's name
        try:
            if cells:
                exprs = ", ".join(f"{self.band(c) if c in banded else _q(c)} AS {_q(c)}" for c in cells)
                self.con.execute(f"CREATE TEMP TABLE {labels} AS SELECT row_number() OVER () AS {cell}, * "
                                 f"FROM (SELECT DISTINCT {exprs} FROM {S.CUSTOMERS})")
                same = " AND ".join(f"l.{_q(c)} IS NOT DISTINCT FROM x.{_q(c)}" for c in cells)
                self.con.execute(f"CREATE TEMP TABLE {cust} AS SELECT x.{S.CUSTOMER_ID}, x.{S.SIGNUP_DATE}, "
                                 f"x.{S.CHURNED}, x.{span}, l.{cell} FROM (SELECT {S.CUSTOMER_ID}, "
                                 f"{S.SIGNUP_DATE}, {S.CHURNED}, {tenure} AS {span}, {exprs} FROM {S.CUSTOMERS}) x "
                                 f"JOIN {labels} l ON {same}")
            else:
                self.con.execute(f"CREATE TEMP TABLE {cust} AS SELECT {S.CUSTOMER_ID}, {S.SIGNUP_DATE}, "
                                 f"{S.CHURNED}, {tenure} AS {span}, 1 AS {cell} FROM {S.CUSTOMERS}")
            ends = self.con.execute(f"""
            WITH complaints AS MATERIALIZED (
                SELECT c.{S.CUSTOMER_ID} AS id, c.{S.CHURNED} AS churned, c.{span} AS tenure, c.{cell} AS cell,
                       {t_open} AS t_open, {t_done} AS t_done, {after} AS after,
                       k.{S.RESOLVED_AT} IS NOT NULL AS resolved, {order[2:] + ' AS ord' if order else '0 AS ord'}
                FROM {S.CONTACTS} k JOIN {cust} c USING ({S.CUSTOMER_ID})
                WHERE k.{S.KIND} = '{S.COMPLAINT}' {repeat}),
            changes AS (
                SELECT id, churned, tenure, cell, t_open AS t, t_open AS tie, 1 AS seq, 'open' AS state, ord
                FROM complaints
                UNION ALL
                SELECT id, churned, tenure, cell, t_done, t_open, 2, after, ord FROM complaints WHERE resolved),
            ordered AS (  -- the last change of a day wins; it lasts until the next day with a change
                SELECT *, lead(t) OVER w AS next, first_value(t) OVER w AS first FROM changes WHERE t < tenure
                WINDOW w AS (PARTITION BY id ORDER BY t, tie, seq, ord)),
            episodes AS MATERIALIZED (
                SELECT state, cell, t AS start, coalesce(next, tenure) AS stop, next IS NULL AND churned AS event,
                       t = first AS first, tenure, churned
                FROM ordered WHERE next IS NULL OR next > t),
            ends AS (  -- +1 at each episode's stop, -1 at its start; a complainer's "none" ends at the first change
                SELECT 'none' AS state, {cell} AS cell, {span} AS x, 1 AS sign, {S.CHURNED} AS event FROM {cust}
                UNION ALL SELECT 'none', cell, tenure, -1, churned FROM episodes WHERE first
                UNION ALL SELECT 'none', cell, start, 1, false FROM episodes WHERE first
                UNION ALL SELECT state, cell, stop, 1, event FROM episodes WHERE state IS NOT NULL
                UNION ALL SELECT state, cell, start, -1, false FROM episodes WHERE state IS NOT NULL)
            SELECT state AS {COMPLAINT}, cell AS {cell}, CAST(ceil(x / {w}) AS BIGINT) - 1 AS last,
                   event AS {S.CHURNED}, sum(sign) AS n,
                   fsum(sign * (x - (CAST(ceil(x / {w}) AS BIGINT) - 1) * {w})) AS part
            FROM ends WHERE x > 0 GROUP BY ALL""").df()
            names = self.con.execute(f"SELECT * FROM {labels}").df() if cells else pd.DataFrame({cell: [1]})
        finally:
            self.con.execute(f"DROP TABLE IF EXISTS {labels}")
            self.con.execute(f"DROP TABLE IF EXISTS {cust}")
        out = from_last_intervals(ends, [COMPLAINT, cell], float(width), dropna=False)
        out = out.merge(names, on=cell, how="left").drop(columns=cell)
        out[COMPLAINT] = pd.Categorical(out[COMPLAINT], categories=list(STATES))
        out = _ordered(out, cells)
        out[INTERVAL] = out[INTERVAL].astype(int)
        return out[[INTERVAL, COMPLAINT, *cells, EXPOSURE, EVENTS, "start"]].sort_values(
            [INTERVAL, COMPLAINT, *cells], ignore_index=True)


def _unused(name: str, taken: Sequence[str]) -> str:
    """``name``, or ``name`` with a number appended, so that it is none of ``taken``."""
    free, i = name, 0
    while free in taken:
        i += 1
        free = f"{name}{i}"
    return free


def _temp_name(what: str) -> str:
    """A temporary table's name no other query of this process uses."""
    return f"_{what}_{next(_TEMP)}"


_TEMP = itertools.count()


def _order(column: str) -> tuple[str, ...] | None:
    """The level order the row-level path gives a segment column (None: sorted)."""
    crossed = {SERVICE_BY_VALUE: (SERVICE_BANDS, VALUE_BANDS),
               WALLET_BY_SATISFACTION: (WALLET_BANDS, SATISFACTION_BANDS)}
    if column in crossed:
        a, b = crossed[column]
        return tuple(f"{x}, {y}" for x in a for y in b)
    if column == QUADRANT:
        return QUADRANTS
    if column == VALUE_BAND:
        return VALUE_BANDS
    known = S.TABLES[S.CUSTOMERS]
    return known.column(column).choices if column in known.names else None


def _ordered(df: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """String columns as categoricals in the row-level level order, unused levels dropped."""
    for c in columns:
        if c in df and not pd.api.types.is_numeric_dtype(df[c]) and not isinstance(df[c].dtype, pd.CategoricalDtype):
            present = set(df[c].dropna())
            order = _order(c) or ()
            levels = [v for v in order if v in present] + sorted(present - set(order))
            df[c] = pd.Categorical(df[c], categories=levels)
    return df


# ---- the churn Cox model on the aggregated path ------------------------------------------
def fit_cox_counts(rows: pd.DataFrame, *, covariates: Sequence[str], strata: str | Sequence[str] | None = None,
                   duration: str = S.TENURE, event: str = S.CHURNED, weights: str = WEIGHT) -> efron.EfronCox:
    """Cox model (Efron ties) on collapsed rows, exactly the row-level fit: `efron.fit_efron`.

    Covariates are encoded as `survival.fit_cox` encodes them (terms ``col[level]``, first level
    the reference) and incomplete rows are dropped (``rows_dropped_``: customers). Unlike
    lifelines' weighted fit, each customer counts once in Efron's tie correction, so the
    estimates equal lifelines' on one row per customer (1e-6, tests/test_scale.py). A fit that
    does not converge raises `efron.ConvergenceError`, which names the runaway terms.

    Example
    -------
    >>> rows = pd.DataFrame({"tenure_months": [1.0, 1, 2, 2, 3], "churned": [True, True, False, True, True],
    ...                      "contract": ["a", "b", "a", "b", "b"], "customers": [40, 10, 30, 25, 5]})
    >>> fit_cox_counts(rows, covariates=["contract"]).params_.index.tolist()
    ['contract[b]']
    """
    strata = as_list(strata)
    design, dropped = survival.cox_design(rows, covariates=covariates, strata=strata, duration=duration, event=event,
                                       weights=weights)
    terms = [c for c in design.columns if c not in {duration, event, weights, *strata}]
    fit = efron.fit_efron(design, covariates=terms, duration=duration, event=event, strata=strata, weights=weights)
    fit.rows_dropped_ = dropped
    return fit


@dataclass
class AggregatedCox:
    """Exact Cox on collapsed counts with a PWE proportional-hazards check and remedy; read like
    `churn.CoxResult` (no ``first`` model: the check is made on the piecewise-exponential one)."""

    covariates: list[str]
    banded: list[str]
    check: pd.DataFrame
    final: efron.EfronCox
    pwe: PWEModel
    verdict: str
    strata: list[str]
    note: str
    rows: int
    customers: int
    resolution: float | None = None

    @property
    def ph_holds(self) -> bool:
        return not self.check["violated"].any()

    def hazard_ratios(self, confidence: float = 0.95) -> pd.DataFrame:
        """Hazard ratios of the final model, with the piecewise-exponential estimate beside them."""
        return with_pwe_column(survival.hazard_ratios(self.final, confidence), self.pwe, confidence)

    def fit_note(self) -> str:
        grouped = "" if self.resolution is None else " tenure grouped into whole months (Efron ties) to keep them few;"
        return (f"Cox model fitted on {self.rows:,} collapsed rows standing for {self.customers:,} customers "
                f"with every covariate (exact Efron partial likelihood from the counts);{grouped} "
                f"{', '.join(self.banded) or 'no covariate'} entered as quantile bands. hr_pwe: the "
                f"piecewise-exponential model (monthly baseline, exact exposure) beside it.")


def usable_covariates(src: Source, covariates: Sequence[str], *, min_complete: float = 0.5) -> tuple[list[str], str]:
    """As `helpers.stats.churn.usable_covariates` (the same rule, `covariate_problem`), from DuckDB counts."""
    kept, notes = [], []
    profile = src.profile(covariates)
    for name in covariates:
        filled, varies = profile.get(name, (0, False))
        distinct = 2 if varies else min(filled, 1)  # the rule asks only whether there are two values or more
        problem = covariate_problem(name, present=name in src.columns, complete=filled / src.n, distinct=distinct,
                                    min_complete=min_complete)
        (notes if problem else kept).append(problem or name)
    return kept, left_out(notes)


def cox_with_ph_check(src: Source, covariates: Sequence[str], *, strata: Sequence[str] = (), alpha: float = 0.05,
                      width: float = 1.0, max_rows: int = COX_ROWS) -> AggregatedCox:
    """The aggregated counterpart of `churn.cox_with_ph_check`.

    Numeric covariates with many values become quantile bands; the customers are collapsed to
    one row per (covariates, strata, tenure, churned); the Cox model is fitted on those counts
    exactly (`fit_cox_counts`: the row-level estimates, to 1e-6). Proportional hazards are
    checked on the piecewise-exponential model (`ph_check`); a violating covariate becomes a
    stratum (every covariate here is categorical or 0/1). The final model is refitted both ways (Cox and PWE).

    Tenure keeps the data's own resolution unless that leaves more than ``max_rows``
    collapsed rows; then the Cox model groups tenure into whole months (Efron ties) and says
    so. The piecewise-exponential model always uses exact exposure (`Source.person_period`).
    """
    kept, note = usable_covariates(src, covariates)
    if not kept:
        raise NoCovariate(covariates, note)
    strata = [s for s in strata if s not in kept]
    banded = [c for c, sql in src.bands(kept).items() if sql != _q(c)]
    rows, resolution = src.collapse_within([*kept, *strata], banded=banded, max_rows=max_rows)
    complete = rows.dropna(subset=[*kept, *strata])
    pp = src.person_period([*kept, *strata], banded=banded, width=width).dropna(subset=[*kept, *strata])
    check = ph_check(pp, covariates=kept, strata=strata, alpha=alpha)
    bad = [c for c in kept if c in set(check.loc[check["violated"], "covariate"])]
    final_strata, final_cov = [*strata, *bad], [c for c in kept if c not in bad]
    final = fit_cox_counts(rows, covariates=final_cov, strata=final_strata)
    pwe = fit_pwe(pp, covariates=final_cov, strata=final_strata)
    verdict = survival.ph_verdict_text(check, stratified=bad)
    slight = check[check["significant"] & ~check["violated"]]
    if len(slight):
        verdict += (" Significant but slight (the hazard ratio changes by less than a quarter between early and late "
                    "tenure, which millions of customers make detectable): " + ", ".join(
                        f"{r.covariate} (x{r.change:.2f})" for r in slight.itertuples()) +
                    "; kept with one average hazard ratio.")
    return AggregatedCox(kept, banded, check, final, pwe, verdict, final_strata, note, len(complete),
                         int(complete[WEIGHT].sum()), resolution)


def complaint_state_model(src: Source, *, covariates: Sequence[str] = (), strata: Sequence[str] = (),
                          width: float = 1.0) -> PWEModel:
    """The complaint-state hazard model of `complaints.complaint_state_model`, piecewise-exponential.

    Terms are named as the row-level model's (``complaint[open]``, ...); numeric covariates
    with many values enter as quantile bands.
    """
    banded = [c for c, sql in src.bands(covariates).items() if sql != _q(c)]
    pp = src.complaint_person_period(covariates=covariates, strata=strata, width=width, banded=banded)
    present = [s for s in STATES if (pp[COMPLAINT] == s).any()]
    pp[COMPLAINT] = pp[COMPLAINT].cat.set_categories(present)
    model = fit_pwe(pp, covariates=[COMPLAINT, *covariates], strata=strata)
    model.banded = banded
    return model


# ---- checks of the full data without pandas ------------------------------------------------
def checked_fingerprint(dataset: str | Path, *, engine: str = "auto", threshold: int = LARGE) -> str:
    """Check a data set before any kernel starts and return its fingerprint (`checked_data`)."""
    return checked_data(dataset, engine=engine, threshold=threshold)[0]


def checked_data(dataset: str | Path, *, engine: str = "auto", threshold: int = LARGE):
    """Check a data set before any kernel starts: its fingerprint, and the loaded data when small.

    Small data sets (and built-in names, mapping files, ``engine="rows"``) are loaded and
    validated in pandas (`helpers.data.io.load_dataset`), and that `Dataset` is returned with the
    fingerprint, so that plan-time checks of the customers (identifier covariates) need no
    second load; a folder of ``threshold`` customers or more is checked in DuckDB (`check`)
    without loading its rows, and the second item is None.
    """
    from helpers.data.io import READERS, load_dataset
    key = str(dataset)
    if engine == "rows" or key in READERS or Path(key).suffix.lower() in (".yaml", ".yml"):
        ds = load_dataset(dataset)
        return ds.fingerprint, ds
    n = _count_or_none(dataset)
    if n is None or n < threshold:  # small, or unreadable by DuckDB: pandas' check says what is wrong
        ds = load_dataset(dataset)
        return ds.fingerprint, ds
    try:
        src = Source(dataset)
    except duckdb.Error as err:  # e.g. a file that is not parquet/CSV at all
        raise ValueError(f"data set {key!r}: DuckDB cannot read its files: {str(err).splitlines()[0]}") from None
    return checked(src), None


def _marker(fp: str) -> Path:
    """Where a passed check of these bytes is remembered: fingerprint + the checking code's digest."""
    code = b"".join(Path(f).read_bytes() for f in (__file__, S.__file__, validate_module.__file__))
    rules = hashlib.sha256(code).hexdigest()[:12]
    return config.PROCESSED / ".checked" / f"{fp}-{rules}"


def checked(src: Source) -> str:
    """`check` the data unless the same bytes passed the same checks before; their fingerprint.

    A passed check is remembered under ``data/processed/.checked/`` (an empty file named by
    the fingerprint and a digest of the rules), so that the runner's check before the kernels
    start is not repeated in every notebook: ten million customers take about 20 s to check.
    """
    fp = fingerprint(src.files.values())
    marker = _marker(fp)
    if not marker.exists():
        check(src)
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    return fp



def check(src: Source, *, examples: int = 5) -> None:
    """The data contract's column rules, run in DuckDB over every row; a DataError listing all.

    Required columns present, required columns filled, numbers within their bounds, categories
    among their choices, unique keys unique, customer ids of the other tables known, end date
    not before signup, end reasons on churners only. The row-level validator
    (`helpers.data.validate`) checks more (types cell by cell, tenure agreeing with the dates, dates
    within tenure); the aggregated path runs it on the sample it draws.

    Each table is read once for all its row rules (one count per rule); a key is unique without
    hashing when it is strictly increasing down the file (`_increasing`), else by a GROUP BY;
    customer ids are looked up by one anti-join. Only a broken rule is read again, for the
    numbers of its first ``examples`` rows.
    """
    problems: list[Problem] = []
    for name in src.files:
        table = S.TABLES[name]
        have = src._raw_columns(name)
        rules: list[tuple[str, str, str, str]] = []  # (column, where, what, fix), counted together
        for col in table.columns:
            if col.name not in have:
                if col.required and not (col.name == S.TENURE and {S.SIGNUP_DATE, S.END_DATE} <= set(have)):
                    problems.append(Problem(name, col.name, 0, "column missing",
                                            fix=f"add the column (columns found: {', '.join(have)})"))
                continue
            c = _q(col.name)
            if not col.nullable:
                rules.append((col.name, f"{c} IS NULL", "missing", "this column may not be empty; fill it or drop "
                                                                    "those rows"))
            if col.kind == "float":
                if col.min is not None:
                    rules.append((col.name, f"TRY_CAST({c} AS DOUBLE) < {col.min!r}", f"below {col.min:g}",
                                  f"{col.name} must be >= {col.min:g}"))
                if col.max is not None:
                    rules.append((col.name, f"TRY_CAST({c} AS DOUBLE) > {col.max!r}", f"above {col.max:g}",
                                  f"{col.name} must be <= {col.max:g}"))
            if col.choices:
                allowed = ", ".join(_lit(v) for v in col.choices)
                rules.append((col.name, f"{c} IS NOT NULL AND CAST({c} AS VARCHAR) NOT IN ({allowed})",
                              "with another value", f"allowed values: {', '.join(col.choices)}"))
        for rule in CUSTOMER_RULES if name == S.CUSTOMERS else ():  # the same rules as the pandas validator
            if set(rule.needs) <= set(have):
                rules.append((rule.column, rule.sql, rule.what, rule.fix))
        counted = [(rule, n) for rule, n in zip(rules, _counts(src, name, [where for _, where, _, _ in rules]))]
        for col in table.columns:
            if col.name not in have:
                continue
            c = _q(col.name)
            if col.unique:
                where = f"{c} IN (SELECT {c} FROM raw_{name} GROUP BY {c} HAVING count(*) > 1)"
                rule = (col.name, where, "duplicated", "each value must appear once; remove the duplicates")
                counted.append((rule, 0 if _increasing(src, name, col.name) else None))
            if col.references == f"{S.CUSTOMERS}.{S.CUSTOMER_ID}" and name != S.CUSTOMERS:
                unknown = src.con.execute(f"SELECT count(*) FROM raw_{name} k ANTI JOIN raw_{S.CUSTOMERS} c "
                                          f"ON k.{c} = c.{S.CUSTOMER_ID} WHERE k.{c} IS NOT NULL").fetchone()[0]
                where = f"{c} IS NOT NULL AND {c} NOT IN (SELECT {S.CUSTOMER_ID} FROM raw_{S.CUSTOMERS} " \
                        f"WHERE {S.CUSTOMER_ID} IS NOT NULL)"
                counted.append(((col.name, where, "with a customer_id not in customers",
                                 "every row must belong to a known customer"), int(unknown)))
        view = f"(SELECT *, row_number() OVER () AS _row FROM raw_{name})"
        for (column, where, what, fix), n in counted:
            if n != 0:  # broken, or not counted yet (None): the rows are found one rule at a time
                problems.extend(_rule(src, view, name, column, where, what, fix, examples))
    if problems:
        raise DataError(problems, source=f"data set {src.name!r}")


def _counts(src: Source, table: str, wheres: list[str]) -> list[int | None]:
    """How many rows of the table meet each condition, in one pass; None for every rule when
    DuckDB cannot evaluate them together (text in a number column, say): they are then run one by one."""
    if not wheres:
        return []
    try:
        return [int(n) for n in src.con.execute(
            "SELECT " + ", ".join(f"count_if({w})" for w in wheres) + f" FROM raw_{table}").fetchone()]
    except duckdb.Error:
        return [None] * len(wheres)


def _increasing(src: Source, table: str, column: str, *, batch: int = 1_000_000) -> bool:
    """True when the column's values (missing ones aside) strictly increase down the file: then
    they are unique, shown in one streamed pass instead of a hash table of every value (an export
    sorted by its key, the usual case). False as soon as one does not, or for a float column."""
    kind = src.con.execute(f"SELECT typeof({_q(column)}) FROM raw_{table} LIMIT 1").fetchall()
    if not kind or kind[0][0] in ("DOUBLE", "FLOAT") or kind[0][0].startswith("DECIMAL"):
        return False
    cursor = src.con.cursor()  # a stream of its own: stopping early leaves the main connection free
    try:
        previous = None
        query = f"SELECT {_q(column)} FROM raw_{table} WHERE {_q(column)} IS NOT NULL"
        for chunk in cursor.sql(query).to_arrow_reader(batch):
            values = chunk.column(0)
            if not len(values):
                continue
            if previous is not None and pc.less_equal(values[0], previous).as_py():
                return False
            if len(values) > 1 and pc.any(pc.less_equal(values[1:], values[:-1])).as_py():
                return False
            previous = values[-1]
        return True
    finally:
        cursor.close()


def _rule(src: Source, view: str, table: str, column: str, where: str, what: str, fix: str,
          examples: int) -> list[Problem]:
    try:
        n, rows = src.con.execute(f"SELECT count(*), list(_row ORDER BY _row)[1:{examples}] FROM {view} "
                                  f"WHERE {where}").fetchone()
    except duckdb.Error as err:  # a value DuckDB cannot compare (e.g. text in a number column)
        return [Problem(table, column, 0, "unreadable", fix=f"check the column's values ({str(err).splitlines()[0]})")]
    if not n:
        return []
    return [Problem(table, column, int(n), what, tuple(int(r) - 1 for r in rows), fix)]

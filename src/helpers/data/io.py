"""Load a data set by name or path, validate it once, and fingerprint it.

A data set is a folder holding one file per contract table, ``<table>.parquet`` or
``<table>.csv`` (``customers`` required), plus an optional ``truth.json`` written by the
synthetic generator. Names resolve to folders:

``"synthetic"``
    ``data/processed/synthetic/``, written by ``workbench data synth`` (``make report`` writes
    it when missing).
``"telco"``
    IBM Telco Customer Churn from ``data/external/`` (see `helpers.data.external.telco_tables`).

A path ending in ``.yaml`` or ``.yml`` is a mapping file that describes your own files
(`helpers.data.mapping`). Any other value is taken as a path to such a folder.
"""
from __future__ import annotations

import difflib
import hashlib
import json
import re
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from helpers import config
from helpers.data import schema as S
from helpers.data.external import READERS, TABLE_READERS
from helpers.data.mapping import EXCEL, TEXT, MappingError, load_mapping
from helpers.data.validate import validate

NAMED = {"synthetic": config.SYNTHETIC}
_READERS = {".parquet": pd.read_parquet, ".csv": pd.read_csv, ".tsv": lambda p: pd.read_csv(p, sep="\t")}
_ZIP, _OLE2 = b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_KNOWN = {_ZIP: "an Excel workbook or another zip archive", _OLE2: "an Excel 97-2003 or password-protected Office "
          "file", b"PAR1": "a parquet file"}
_CONTROL = set(range(32)) - set(b"\t\n\r\x0c\x1a")  # bytes that text files hold rarely (binary files: 1 in 9)
_DAMAGED = (pa.ArrowException, OSError, EOFError, zipfile.BadZipFile, KeyError)  # what the readers raise on bad bytes


@dataclass(frozen=True)
class Dataset:
    """Validated tables of one data set, with where they came from.

    ``tables`` maps contract table names to typed frames; ``fingerprint`` is a short hash of
    the files' bytes (same files, same fingerprint); ``truth`` holds the generator's planted
    effects for synthetic data, else None.
    """

    name: str
    source: Path
    tables: dict[str, pd.DataFrame]
    fingerprint: str
    truth: dict | None = field(default=None, repr=False)

    def __getitem__(self, table: str) -> pd.DataFrame:
        if table not in self.tables:
            raise KeyError(f"data set {self.name!r} has no {table} table (it has {', '.join(self.tables)})")
        return self.tables[table]

    def has(self, table: str, *columns: str) -> bool:
        """True when the table is present and holds every named column with some non-missing value."""
        df = self.tables.get(table)
        return df is not None and all(c in df and df[c].notna().any() for c in columns)

    @property
    def customers(self) -> pd.DataFrame:
        return self.tables[S.CUSTOMERS]


def resolve(dataset: str | Path) -> Path:
    """The folder a data set name or path points to; a clear error when there is none."""
    key = str(dataset)
    folder = NAMED.get(key, Path(key).expanduser())
    if key == "synthetic" and not (folder / f"{S.CUSTOMERS}.parquet").exists():
        raise FileNotFoundError(
            f"the synthetic data set is not generated yet ({folder}): run `workbench data synth` "
            "(or `make data`) first")
    if not folder.is_dir():
        raise FileNotFoundError(
            f"data set {key!r} not found: give {', '.join(map(repr, [*NAMED, *READERS]))} or the path of a folder "
            "holding "
            f"customers.parquet or customers.csv (looked for {folder.resolve()})")
    return folder


def table_files(folder: Path) -> dict[str, Path]:
    """Contract table name -> file in the folder (parquet preferred over CSV)."""
    found: dict[str, Path] = {}
    for suffix in (".csv", ".parquet"):
        for name in S.TABLES:
            path = folder / f"{name}{suffix}"
            if path.exists():
                found[name] = path
    return found


def fingerprint(paths) -> str:
    """Short sha256 over the names and bytes of the given files, independent of their order.

    A file's digest is remembered in this process while its size, modification and change
    times and inode stay the same (a notebook opening ten million customers' 0.9 GB reads them
    once, not at every step that asks).
    """
    h = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        h.update(path.name.encode())
        h.update(_file_digest(path))
    return h.hexdigest()[:16]


_DIGESTS: dict[tuple, bytes] = {}


def _file_digest(path: Path) -> bytes:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    if key not in _DIGESTS:
        with path.open("rb") as f:  # streamed: data sets of several GB hash in constant memory
            _DIGESTS[key] = hashlib.file_digest(f, "sha256").digest()
    return _DIGESTS[key]


def _is_text(head: bytes) -> bool:
    """False for binary data: more than 1 byte in 20 a control byte (UTF-16 text, full of NULs, is text)."""
    return head.startswith((b"\xff\xfe", b"\xfe\xff")) or sum(b in _CONTROL for b in head) * 20 <= len(head)


def _sniff(path: Path) -> tuple[str, str] | None:
    """(what is wrong, what to do) when its size and first and last bytes show a file cannot be read as named."""
    suffix, size = path.suffix.lower(), path.stat().st_size
    with path.open("rb") as f:
        head = f.read(4096)
        f.seek(max(size - 4, 0))
        tail = f.read(4)
    known = next((what for magic, what in _KNOWN.items() if head.startswith(magic)), None)
    looks = f"it is {known}" if known else "it holds text: a CSV file renamed?" if _is_text(head) else \
        "damaged, or another kind of file"
    if size <= len(head) and not head.strip():
        return f"{path.name} is empty", "export the table again" + (", with a header line and its rows"
                                                                    if suffix in TEXT else "")
    if suffix == ".xls":
        return f"{path.name} is an Excel 97-2003 file (.xls), which is not read", "save it as .xlsx or CSV"
    if suffix in EXCEL and head.startswith(_OLE2):
        return f"{path.name} is encrypted (password-protected)", "save an unprotected copy, or export the sheet as CSV"
    if suffix in EXCEL and not head.startswith(_ZIP):
        return f"{path.name} is not an Excel workbook ({looks})", "save it from Excel as .xlsx, or export it as CSV"
    if suffix == ".parquet" and not (head.startswith(b"PAR1") and tail == b"PAR1"):
        why = "truncated or damaged: the parquet footer is missing" if head.startswith(b"PAR1") else looks
        return f"{path.name} is not a readable parquet file ({why})", "export it again"
    if suffix in TEXT and (known or not _is_text(head)):
        return f"{path.name} is not a text file ({looks if known else 'it holds binary data'})", \
            "export the table again as CSV"
    return None


def _read_error(path: Path, err: Exception) -> tuple[str, str]:
    """(what is wrong, what to do) for an error a reader raised."""
    text = str(err.args[0] if isinstance(err, KeyError) and err.args else err)  # a KeyError's str() is a repr
    detail = (text.splitlines() or [type(err).__name__])[0].removeprefix("Error tokenizing data. C error: ")
    if isinstance(err, pd.errors.EmptyDataError):
        return f"{path.name} is empty", "export the table again, with a header line and its rows"
    if isinstance(err, UnicodeDecodeError):
        return (f"{path.name} is not {err.encoding} text (byte {err.object[err.start]:#x})", "save it as UTF-8, or "
                "read it through a mapping file that gives its encoding (`workbench data init` drafts one)")
    if isinstance(err, pd.errors.ParserError):
        return f"{path.name} cannot be split into columns ({detail})", \
            "check the delimiter and the quotes around cells (a mapping file can give delimiter:)"
    if isinstance(err, PermissionError):
        return f"{path.name} cannot be opened (permission denied)", "give your user read access to it"
    if path.suffix.lower() in EXCEL:
        return f"{path.name} is not a readable Excel workbook (truncated or damaged: {detail})", \
            "save it again from Excel, or export the sheet as CSV"
    kind = "parquet file" if path.suffix.lower() == ".parquet" else "text file"
    return f"{path.name} is not a readable {kind} (truncated or damaged: {detail})", "export it again"


def read_file(path: Path, read: Callable[[Path], pd.DataFrame] | None = None, *,
              table: str | None = None) -> pd.DataFrame:
    """Read one data file; a file that cannot be read is one line naming it and what to do, not a traceback.

    Every reader of data files goes through here. The file's size and first and last bytes are
    checked before reading (empty, a workbook that is not a zip archive, an encrypted workbook,
    an .xls, a parquet file without its footer, binary data in a text file); what a reader
    raises on damaged bytes is translated the same way.

    Parameters
    ----------
    path : Path
        The file.
    read : callable, optional
        ``read(path) -> DataFrame``; by default the reader of the file's suffix (parquet, CSV, TSV).
    table : str, optional
        The contract table the file holds, named at the start of the message.

    Raises
    ------
    helpers.data.mapping.MappingError
        ``customers: customers.parquet is not a readable parquet file (truncated or damaged: the
        parquet footer is missing): export it again``. FileNotFoundError passes through.

    Example
    -------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "customers.parquet"
    >>> _ = p.write_bytes(b"")
    >>> read_file(p, table="customers")
    Traceback (most recent call last):
    helpers.data.mapping.MappingError: customers: customers.parquet is empty: export the table again
    """
    try:
        problem = _sniff(path)
        if problem is None:
            return (read or _READERS[path.suffix.lower()])(path)
    except FileNotFoundError:
        raise
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, *_DAMAGED) as err:
        problem = _read_error(path, err)
    what, fix = problem
    raise MappingError(f"{table + ': ' if table else ''}{what}: {fix}") from None


def _close(word, options) -> str:
    """``"; did you mean 'x'?"`` for the closest option, or ``""``."""
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


# ---- the sheets of a workbook ------------------------------------------------------------------

DICTIONARY_NAMES = ("dictionary", "readme", "read me", "notes", "about", "legend", "codebook", "definitions",
                    "glossary", "metadata", "info", "instructions", "description", "contents")
DICTIONARY_HEADERS = ("description", "definition", "meaning", "explanation", "values", "notes")


@dataclass(frozen=True)
class Sheet:
    """One sheet of a workbook as `workbook_sheets` sees it: its size below the header row, and what it looks like.

    ``header_row`` is the sheet row of the column names (1 = the first); a sheet is table-like
    when that row holds two or more distinct names over at least one row of data, and it does
    not look like a data dictionary (by its name, or a narrow "column / description" header).
    """

    name: str
    rows: int
    columns: int
    header_row: int = 1
    header: bool = False
    dictionary: bool = False

    @property
    def table_like(self) -> bool:
        return self.header and self.rows >= 1 and self.columns >= 2 and not self.dictionary

    @property
    def cells(self) -> int:
        return self.rows * self.columns

    def describe(self) -> str:
        """``'Customers' (7,043 rows x 21 columns)``, with what the sheet looks like when it is no table."""
        if not self.columns:
            return f"{self.name!r} (empty)"
        if self.columns < 2:
            return f"{self.name!r} ({self.rows + 1:,} row{'s' * (self.rows > 0)} of one column: no table)"
        what = "; a data dictionary" if self.dictionary else "; no header row" if not self.header else ""
        return f"{self.name!r} ({self.rows:,} row{'s' * (self.rows != 1)} x {self.columns} columns{what})"


def _sheet(name: str, cells: pd.DataFrame) -> Sheet:
    cells = cells.apply(lambda s: s.str.strip() if s.dtype == object else s).replace("", np.nan)
    cells = cells.dropna(how="all").dropna(axis=1, how="all")
    if cells.empty:
        return Sheet(str(name), 0, 0)
    wide = cells.notna().sum(axis=1) >= min(2, cells.shape[1])
    at = int(np.argmax(wide.to_numpy()))  # the first row with two names: title lines above it are skipped
    names = cells.iloc[at].dropna().astype(str)
    header = len(names) >= 2 and names.is_unique and pd.to_numeric(names, errors="coerce").isna().all()
    words = {w for n in names for w in re.findall(r"[a-z]+", n.lower())}
    dictionary = any(w in str(name).lower() for w in DICTIONARY_NAMES) or \
        (len(names) <= 4 and bool(words & set(DICTIONARY_HEADERS)))
    return Sheet(str(name), len(cells) - at - 1, len(names), int(cells.index[at]) + 1, header, dictionary)


def workbook_sheets(path: Path, *, table: str | None = None) -> list[Sheet]:
    """Every sheet of an .xlsx workbook, measured (`Sheet`); an unreadable workbook is one line (`io.read_file`).

    Example
    -------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "book.xlsx"
    >>> with pd.ExcelWriter(p) as xl:
    ...     pd.DataFrame({"Column": ["id"], "Description": ["customer"]}).to_excel(xl, sheet_name="Dictionary",
    ...                                                                            index=False)
    ...     pd.DataFrame({"id": ["a", "b"], "tenure": [1, 2]}).to_excel(xl, sheet_name="Data", index=False)
    >>> [s.describe() for s in workbook_sheets(p)]
    ["'Dictionary' (1 row x 2 columns; a data dictionary)", "'Data' (2 rows x 2 columns)"]
    """
    def read(p: Path) -> list[Sheet]:
        with pd.ExcelFile(p, engine="openpyxl") as book:
            return [_sheet(n, book.parse(n, header=None, dtype=str)) for n in book.sheet_names]

    return read_file(Path(path), read, table=table)


def choose_sheet(sheets: Sequence[Sheet]) -> tuple[Sheet | None, bool]:
    """The table-like sheet with the most rows x columns, and whether the choice is doubtful.

    Doubtful: another table-like sheet has at least half as many cells. None when no sheet is
    table-like.

    Example
    -------
    >>> choose_sheet([Sheet("Notes", 3, 1), Sheet("Data", 100, 5, header=True)])
    (Sheet(name='Data', rows=100, columns=5, header_row=1, header=True, dictionary=False), False)
    """
    tables = sorted((s for s in sheets if s.table_like), key=lambda s: s.cells, reverse=True)
    if not tables:
        return None, False
    return tables[0], len(tables) > 1 and 2 * tables[1].cells > tables[0].cells


def table_sheet(path: Path, sheet: str | None = None, *, how: str = "name it") -> Sheet:
    """The sheet to read as a table: the one named, else the table-like one; refused, with the sheets, when unclear.

    Parameters
    ----------
    path : Path
        The workbook.
    sheet : str, optional
        The sheet's name, as the workbook spells it.
    how : str
        How the caller chooses a sheet, for the message (e.g. ``"give book.xlsx#<sheet>"``).

    Raises
    ------
    MappingError
        No such sheet (with a "did you mean"), no table-like sheet, or two that could be the table.
    """
    sheets = workbook_sheets(path)
    listed = ", ".join(s.describe() for s in sheets)
    if sheet is not None:
        found = [s for s in sheets if s.name == sheet]
        if not found:
            raise MappingError(f"{path.name} has no sheet {sheet!r}{_close(sheet, [s.name for s in sheets])} "
                               f"(sheets: {listed}): {how}")
        return found[0]
    chosen, doubtful = choose_sheet(sheets)
    if chosen is None:
        raise MappingError(f"{path.name}: no sheet looks like a table (a row of column names over rows of data): "
                           f"{listed}; export the table as CSV, or {how}")
    if doubtful:
        raise MappingError(f"{path.name} has several sheets that look like tables ({listed}): say which: {how}")
    return chosen



def load_dataset(dataset: str | Path = "synthetic") -> Dataset:
    """Read, validate and fingerprint a data set.

    Parameters
    ----------
    dataset : str or Path
        ``"synthetic"``, ``"telco"``, the path of a folder with one file per table, or the path
        of a mapping file (``.yaml``; see `helpers.data.mapping`); its fingerprint covers the
        mapping and the files it names.

    Returns
    -------
    Dataset
        Validated, typed tables (see `helpers.data.validate.validate`).

    Raises
    ------
    FileNotFoundError
        When the name or folder does not exist, or the folder holds no customers table.
    helpers.data.validate.DataError
        When the tables break the data contract; the message lists every problem.
    helpers.data.mapping.MappingError
        When a mapping is wrong or a file cannot be read (empty, damaged, encrypted; see `read_file`).

    Example
    -------
    >>> ds = load_dataset("synthetic")                                   # doctest: +SKIP
    >>> ds.customers["churned"].mean()                                   # doctest: +SKIP
    """
    source = f"data set {str(dataset)!r}"
    if str(dataset) in READERS:
        raw, paths = READERS[str(dataset)]()
        folder, truth = paths[0].parent, None
    elif Path(str(dataset)).suffix.lower() in (".yaml", ".yml"):
        raw, paths = load_mapping(Path(dataset).expanduser())
        folder, truth = Path(dataset).expanduser().parent, None
        source += " (row numbers are line numbers in its files)"
    else:
        folder = resolve(dataset)
        files = table_files(folder)
        if S.CUSTOMERS not in files:
            raise FileNotFoundError(f"data set {str(dataset)!r}: no customers.parquet or customers.csv in {folder}")
        raw = {name: read_file(path, table=name) for name, path in files.items()}
        paths = list(files.values())
        truth_path = folder / "truth.json"
        truth = json.loads(truth_path.read_text()) if truth_path.exists() else None
    tables = validate(raw, source=source)
    return Dataset(str(dataset), folder, tables, fingerprint(paths), truth)


def _split_sheet(source: str | Path) -> tuple[Path, str | None]:
    """``book.xlsx#Experiment`` -> (book.xlsx, "Experiment"); any other source -> (its path, None).

    The text after a ``#`` names a sheet only when the whole text is no file and the text before
    it is an existing workbook (a ``#`` may be part of a file name, or of a sheet name).
    """
    path, text = Path(source).expanduser(), str(source)
    if not path.is_file():
        for at in (m.start() for m in re.finditer("#", text)):
            book = Path(text[:at]).expanduser()
            if book.suffix.lower() in EXCEL and book.is_file():
                return book, text[at + 1:]
    return path, None


def absolute_source(source: str) -> str:
    """A source that names an existing relative path, made absolute; a workbook's ``#sheet`` is kept.

    Kernels run in ``notebooks/``, not where the command was typed, so the runner hands them
    absolute paths. Anything else (a built-in name, a missing file, an absolute path) is returned
    unchanged, for the loader to accept or refuse.

    Example
    -------
    >>> absolute_source("synthetic")
    'synthetic'
    """
    path, sheet = _split_sheet(source)
    if not source or path.is_absolute() or not path.exists():
        return source
    return str(path.resolve()) + (f"#{sheet}" if sheet is not None else "")


def table_path(source: str | Path) -> Path:
    """The file behind a one-table source (a built-in name, a path, ``book.xlsx#sheet``); an error when missing."""
    if str(source) in TABLE_READERS:
        return TABLE_READERS[str(source)][1]
    path, _ = _split_sheet(source)
    if not path.is_file():
        raise FileNotFoundError(f"table not found: {path} (give {', '.join(map(repr, TABLE_READERS))} or the path "
                                "of a .csv, .tsv, .parquet or .xlsx file)")
    return path


def _read_workbook(path: Path, sheet: str | None) -> pd.DataFrame:
    """One sheet of a workbook as a table: the one named, else the table-like one (`table_sheet`)."""
    chosen = table_sheet(path, sheet, how=f"name the sheet after a #, e.g. {path.name}#<sheet>")
    return read_file(path, lambda p: pd.read_excel(p, sheet_name=chosen.name, header=chosen.header_row - 1,
                                                   engine="openpyxl"))


def read_table(source: str | Path, *, sheet: str | None = None) -> pd.DataFrame:
    """One table outside the data contract: a one-table experiment or complaint log.

    Parameters
    ----------
    source : str or Path
        A built-in name (``"cfpb"``: `helpers.data.external.cfpb_complaints`), or the path of a
        CSV, TSV, parquet or Excel (.xlsx) file. Of a workbook, the table-like sheet is read
        (`table_sheet`: a row of column names over rows of data, not a data dictionary); when
        two sheets could be the table, or to read another, name it: ``book.xlsx#Experiment``.
    sheet : str, optional
        The sheet of a workbook (instead of ``#sheet``).

    Raises
    ------
    FileNotFoundError
        The file is missing.
    ValueError
        Of another type, empty, unreadable (`read_file`), or a workbook whose table is unclear
        (the message lists its sheets).

    Example
    -------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "book.xlsx"
    >>> with pd.ExcelWriter(p) as xl:
    ...     pd.DataFrame({"Field": ["arm"], "Description": ["treatment or control"]}).to_excel(
    ...         xl, sheet_name="Dictionary", index=False)
    ...     pd.DataFrame({"arm": ["treatment", "control"], "spend": [1.5, 2.0]}).to_excel(
    ...         xl, sheet_name="Experiment", index=False)
    >>> read_table(p).to_dict("list")
    {'arm': ['treatment', 'control'], 'spend': [1.5, 2.0]}
    """
    if str(source) in TABLE_READERS:
        return TABLE_READERS[str(source)][0]()
    path = table_path(source)
    named = _split_sheet(source)[1] if sheet is None else sheet
    suffix = path.suffix.lower()
    if suffix not in _READERS and suffix not in EXCEL:
        raise ValueError(f"{path.name}: give a .csv, .tsv, .parquet or .xlsx file")
    if named is not None and suffix not in EXCEL:
        raise ValueError(f"{path.name} is not a workbook: a sheet ({named!r}) is named for workbooks only")
    df = _read_workbook(path, named) if suffix in EXCEL else read_file(path)
    if df.empty:
        raise ValueError(f"{path.name} has no rows")
    return df

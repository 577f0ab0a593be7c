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

import hashlib
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

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
    """Short sha256 over the names and bytes of the given files, independent of their order."""
    h = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        h.update(path.name.encode())
        with path.open("rb") as f:  # streamed: data sets of several GB hash in constant memory
            h.update(hashlib.file_digest(f, "sha256").digest())
    return h.hexdigest()[:16]


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


def table_path(source: str | Path) -> Path:
    """The file behind a one-table source (a built-in name or a path); a clear error when it is missing."""
    if str(source) in TABLE_READERS:
        return TABLE_READERS[str(source)][1]
    path = Path(source).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"table not found: {path} (give {', '.join(map(repr, TABLE_READERS))} or the path "
                                "of a .csv, .tsv or .parquet file)")
    return path


def read_table(source: str | Path) -> pd.DataFrame:
    """One table outside the data contract: a one-table experiment or complaint log.

    ``source`` is a built-in name (``"cfpb"``: `helpers.data.external.cfpb_complaints`) or the path of
    a CSV, TSV or parquet file. A clear error when it is missing, of another type, or empty.
    """
    if str(source) in TABLE_READERS:
        return TABLE_READERS[str(source)][0]()
    path = table_path(source)
    if path.suffix.lower() not in _READERS:
        raise ValueError(f"{path.name}: give a .csv, .tsv or .parquet file")
    df = read_file(path)
    if df.empty:
        raise ValueError(f"{path.name} has no rows")
    return df

"""Load a data set by name or path, validate it once, and fingerprint it.

A data set is a folder holding one file per contract table, ``<table>.parquet`` or
``<table>.csv`` (``customers`` required), plus an optional ``truth.json`` written by the
synthetic generator. Names resolve to folders:

``"synthetic"``
    ``data/processed/synthetic/``, written by ``workbench data synth`` (``make report`` writes
    it when missing).
``"telco"``
    IBM Telco Customer Churn from ``data/external/`` (see `helpers.external.telco_tables`).

A path ending in ``.yaml`` or ``.yml`` is a mapping file that describes your own files
(`helpers.mapping`). Any other value is taken as a path to such a folder.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import config
from . import schema as S
from .external import READERS, TABLE_READERS
from .mapping import load_mapping
from .validate import validate

NAMED = {"synthetic": config.SYNTHETIC}
_READERS = {".parquet": pd.read_parquet, ".csv": pd.read_csv}


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
            f"data set {key!r} not found: give {', '.join(map(repr, [*NAMED, *READERS]))} or the path of a folder holding "
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


def load_dataset(dataset: str | Path = "synthetic") -> Dataset:
    """Read, validate and fingerprint a data set.

    Parameters
    ----------
    dataset : str or Path
        ``"synthetic"``, ``"telco"``, the path of a folder with one file per table, or the path
        of a mapping file (``.yaml``; see `helpers.mapping`); its fingerprint covers the
        mapping and the files it names.

    Returns
    -------
    Dataset
        Validated, typed tables (see `helpers.validate.validate`).

    Raises
    ------
    FileNotFoundError
        When the name or folder does not exist, or the folder holds no customers table.
    helpers.validate.DataError
        When the tables break the data contract; the message lists every problem.

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
        raw = {name: _READERS[path.suffix](path) for name, path in files.items()}
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

    ``source`` is a built-in name (``"cfpb"``: `helpers.external.cfpb_complaints`) or the path of
    a CSV, TSV or parquet file. A clear error when it is missing, of another type, or empty.
    """
    if str(source) in TABLE_READERS:
        return TABLE_READERS[str(source)][0]()
    path = table_path(source)
    readers = {".csv": pd.read_csv, ".tsv": lambda p: pd.read_csv(p, sep="\t"), ".parquet": pd.read_parquet}
    if path.suffix.lower() not in readers:
        raise ValueError(f"{path.name}: give a .csv, .tsv or .parquet file")
    df = readers[path.suffix.lower()](path)
    if df.empty:
        raise ValueError(f"{path.name} has no rows")
    return df

"""Run notebooks with papermill and write run folders, their manifests, HTML and the index.

A run is one set of parameters, written to ``reports/<run-id>/``:

- ``<notebook>.ipynb``: the executed notebook (``<notebook>.failed.ipynb`` when it failed);
- ``<notebook>.html``: the shareable report (successful notebooks only);
- ``manifest.json``: parameters, data fingerprint, git commit, package versions, durations,
  status, cache key and recorded findings of every notebook, and the notebooks it skipped.

`run` makes one run; `run_grid` one run per point of a grid (`helpers.report.grid`), each in
its own folder (``<run-id>-<point>``). Each notebook of a run is one job
(`helpers.report.grid.execute_job`, one kernel): jobs run one after another in this process,
``jobs`` at a time in worker processes, or on a Dask cluster (``scheduler``); only this process
writes manifests. Parameters and data of every run are checked before any kernel starts; when
one fails nothing is written. A data set validated here is not validated again in the kernels:
each job hands its kernel the `helpers.engine.scale.validation_token` of the bytes that passed
(`run_job`), and the kernel skips the validation only for files whose bytes give that token.

A notebook is skipped, and its last report stays the one the index shows, when a successful
earlier run of it has the same cache key: the notebook's source, the effective parameters, the
data fingerprint and the environment (Python, package versions, the helpers package's source;
not the git commit, so committing an unrelated file forces nothing). ``force=True`` reruns. The
data of a skipped notebook are fingerprinted from their files but not loaded or checked again:
the run it repeats checked the same bytes and parameters with the same code.

``reports/index.html`` is rebuilt from every manifest after each finished job, under a file lock
(``reports/.index.lock``) so that runs and jobs finishing at once do not overwrite each other's
index; ``reports/latest`` is a symbolic link to the newest successful run.

Every file is written through a temporary name and a rename, and papermill writes the
notebook it is executing under ``reports/.tmp/<run-id>/``, so a killed run leaves no
half-written file among the reports and the previous reports untouched. The manifest records
the runner's process id: a run left "running" by a killed process is shown as incomplete, and
its scratch files are removed the next time the index is rebuilt.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import platform
import re
import secrets
import shutil
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd

from helpers import config
from helpers.data import schema as S
from helpers.data.io import READERS, absolute_source, fingerprint, read_table, resolve, table_files, table_path
from helpers.data.privacy import check_covariates
from helpers.files import atomic_write

from .grid import Grid, alive, completed, connect, execute_job, warm_up
from .index import render_index
from .params import DATA_ROLES, ParameterError, declared_parameters, resolve_parameters, with_role

PACKAGES = ("cs-workbench", "pandas", "numpy", "scipy", "statsmodels", "lifelines", "seaborn", "matplotlib",
            "papermill", "nbconvert", "pyarrow")


class RunRefused(ValueError):
    """The run was refused before any kernel started (bad parameter, missing or invalid data)."""


class NotApplicable(RunRefused):
    """The data set lacks what a notebook needs (``[needs: ...]``, a ``campaign``): refused when run alone,
    left out of a run of several notebooks, with the reason (the manifest's ``not_run``)."""


class DiskFull(RuntimeError):
    """The disk filled up during a run; the folders of that run were removed."""


def list_notebooks() -> list[Path]:
    """Every analysis notebook, in name order."""
    return sorted(p for p in config.NOTEBOOKS.glob("*.ipynb") if not p.name.startswith("."))


def find_notebook(name: str) -> Path:
    """A notebook by file name, stem (``00_data_overview``) or number prefix (``00``)."""
    notebooks = list_notebooks()
    stem = Path(name).name.removesuffix(".ipynb")
    matches = [p for p in notebooks if p.stem == stem] or [p for p in notebooks if p.stem.split("_")[0] == stem]
    if len(matches) != 1:
        known = ", ".join(p.stem for p in notebooks)
        raise RunRefused(f"no notebook named {name!r} in {config.NOTEBOOKS} (notebooks: {known})")
    return matches[0]


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=config.ROOT, capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def environment_info() -> dict[str, Any]:
    """Code version and package versions, for the manifest."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "code": {"git_commit": _git("rev-parse", "HEAD") or "unknown",
                 "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
                 "workbench_version": versions["cs-workbench"]},
        "packages": versions,
    }


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def data_parameters(declared: dict) -> list[str]:
    """The parameters that name a notebook's data (`DATA_ROLES`): the data set, then the one-table sources."""
    return [name for role in DATA_ROLES for name in with_role(declared, role)]


def _one(declared: dict, role: str) -> str | None:
    names = with_role(declared, role)
    if len(names) > 1:
        raise RunRefused(f"parameters {', '.join(names)} all carry [role: {role}]: a notebook has one")
    return names[0] if names else None


def _absolute_paths(given: dict, declared: dict) -> dict:
    """Data parameters that name an existing relative path (``book.xlsx#Sheet`` too), made absolute."""
    out = dict(given)
    for name in data_parameters(declared):
        if isinstance(out.get(name), str):
            out[name] = absolute_source(out[name])
    return out


def _data_of(effective: dict, declared: dict, cache: dict, notebook: str,
             before_loading: Callable[[], None] | None = None) -> tuple[dict | None, dict[str, str]]:
    """Load (and so check) the data a notebook's parameters name, once per name; its fingerprint.

    The parameters are found by their roles (`helpers.report.params.ROLES`): a ``table`` source
    when one is given, else the ``dataset``, read on the path ``engine`` and ``large`` choose.
    Identifier columns named by a ``covariates`` or ``strata`` parameter are refused here, before
    any kernel starts (`helpers.data.privacy.check_covariates`), on the customers of a small data
    set or on a one-table source; a large data set is checked for the contract's id columns only.

    ``before_loading()`` is called before anything is loaded. Returns the data (None: the
    notebook has no data parameter) and the environment to hand to the notebook's kernel: the
    `helpers.engine.scale.validation_token` of a data set validated in pandas here, so that the
    kernel does not validate the same bytes again (`helpers.engine.scale.load_validated`).
    """
    table = next((str(effective[p]) for p in with_role(declared, "table") if effective.get(p)), "")
    if table:
        if before_loading is not None:
            before_loading()
        try:
            frame = read_table(table)  # readable before any kernel starts: a damaged file is refused here
            _no_identifiers(frame, effective, declared)
            return {"dataset": table, "fingerprint": fingerprint([table_path(table)])}, {}
        except (FileNotFoundError, ValueError) as e:
            raise RunRefused(f"{notebook}: {e}") from None
    dataset, engine, large = (_one(declared, role) for role in ("dataset", "engine", "large"))
    if dataset is None:
        return None, {}
    name = str(effective[dataset])
    if before_loading is not None:
        before_loading()
    from helpers.engine.scale import (  # DuckDB and lifelines: only when a data set is checked
        CHECKED_ENV,
        LARGE,
        checked_data,
        validation_token,
    )
    try:
        if name not in cache:
            cache[name] = checked_data(name, engine=str(effective[engine]) if engine else "auto",
                                       threshold=int(effective[large]) if large else LARGE)
        fp, ds = cache[name]
        _no_identifiers(ds.tables if ds is not None else pd.DataFrame(), effective, declared)
    except (FileNotFoundError, ValueError) as e:
        raise RunRefused(f"{notebook}: {e}") from None
    _holds_what_is_needed(name, ds, effective, declared, notebook)
    return {"dataset": name, "fingerprint": fp}, ({CHECKED_ENV: validation_token(fp)} if ds is not None else {})


def _holds_what_is_needed(name: str, ds, effective: dict, declared: dict, notebook: str) -> None:
    """Refuse a data set without the tables its ``[needs: ...]`` names, or without the ``campaign`` asked for.

    ``ds`` is the loaded `Dataset`, or None for a large folder checked in DuckDB (its tables are
    then its files, and a campaign is looked up in the campaigns file alone).
    """
    parameter = _one(declared, "dataset")
    instead = with_role(declared, "table")
    otherwise = f", or a one-table source in {' or '.join(instead)}" if instead else ""
    held = set(ds.tables) if ds is not None else set(table_files(resolve(name)))
    present = {t for t in held if ds is None or ds.has(t)}
    missing = [t for t in declared[parameter].needs if t not in present]
    if missing:
        raise NotApplicable(f"{notebook}: data set {name!r} has no {' and no '.join(missing)} table, which {parameter} "
                         f"needs: give a data set that has {'them' if len(missing) > 1 else 'it'} "
                         f"(tables: {', '.join(sorted(present)) or 'none'}){otherwise}")
    for p in with_role(declared, "campaign"):
        wanted = effective.get(p)
        if wanted in (None, "") or S.CAMPAIGNS not in present:
            continue
        campaigns = (ds.tables[S.CAMPAIGNS] if ds is not None
                     else read_table(str(table_files(resolve(name))[S.CAMPAIGNS])))
        known = sorted(campaigns[S.CAMPAIGN_ID].dropna().astype(str).unique())
        if str(wanted) not in known:
            shown = ", ".join(map(repr, known[:10])) + (f" and {len(known) - 10} more" if len(known) > 10 else "")
            raise NotApplicable(f"{notebook}: {p}={wanted!r} is not a campaign of data set {name!r}; "
                             f"its campaigns: {shown or 'none'}")


def _skip_unloaded(job: dict, declared: dict,
                   unchanged: Callable[[dict], dict | None] | None) -> tuple[dict | None, dict] | None:
    """(data, skip record) when ``unchanged`` finds the job with its data fingerprinted from the files alone.

    None when the job must run, or when its data must be loaded to be fingerprinted: only a
    notebook without data or with a folder data set (`_unread_data`) is judged unloaded; a
    one-table source, a built-in reader or a mapping file is loaded (and checked) in any case.
    """
    if unchanged is None or any(job["parameters"].get(p) for p in with_role(declared, "table")):
        return None
    dataset = _one(declared, "dataset")
    data = None if dataset is None else _unread_data(str(job["parameters"][dataset]))
    if dataset is not None and data is None:
        return None
    record = unchanged({**job, "data": data})
    return None if record is None else (data, record)


def _unread_data(name: str) -> dict | None:
    """The data record of a folder data set, its fingerprint from the files' bytes, none of them loaded.

    None when only loading the data set can tell: a built-in reader, a mapping file, a folder
    that is missing or holds no customers file (loading then says what is wrong).
    """
    if name in READERS or Path(name).suffix.lower() in (".yaml", ".yml"):
        return None
    try:
        files = table_files(resolve(name))
    except FileNotFoundError:
        return None
    return {"dataset": name, "fingerprint": fingerprint(files.values())} if S.CUSTOMERS in files else None


def _no_identifiers(data, effective: dict, declared: dict) -> None:
    for role, term in (("covariates", "covariate"), ("strata", "stratum")):
        for parameter in with_role(declared, role):
            columns = effective.get(parameter)
            if isinstance(columns, list):
                check_covariates(data, columns, parameter=parameter, role=term)


def _set_slug(dataset: str) -> str:
    """A data set as a folder-name suffix: a built-in name as it is, a path as its stem and a digest."""
    stem = re.sub(r"[^a-z0-9_.-]+", "-", Path(dataset).stem.lower()).strip("-.")[:40] or "data"
    is_path = "/" in dataset or "\\" in dataset or "." in dataset
    return f"{stem}-{hashlib.sha256(dataset.encode()).hexdigest()[:6]}" if is_path else stem


def stable_set_name(declared: dict, given: dict[str, Any]) -> str | None:
    """The stable set a run's report joins: ``latest`` for the notebook's defaults, ``latest-<data set>``
    when only the data set differs, None when any other parameter is given (an ad-hoc run).

    Example
    -------
    >>> from helpers.report.params import Parameter
    >>> declared = {"DATASET": Parameter("DATASET", "synthetic", role="dataset"), "SEED": Parameter("SEED", 0)}
    >>> [stable_set_name(declared, g) for g in ({}, {"DATASET": "telco"}, {"SEED": 3})]
    ['latest', 'latest-telco', None]
    """
    if set(given) - set(data_parameters(declared)):
        return None
    table = next((str(given[p]) for p in with_role(declared, "table") if given.get(p)), "")
    dataset_param = _one(declared, "dataset")
    dataset = table or str(given.get(dataset_param, ""))
    default = getattr(declared.get(dataset_param), "default", None)
    if not dataset or (not table and dataset == default):
        return LATEST
    return f"{LATEST}-{_set_slug(dataset)}"


def plan(names: list[str], overrides: dict[str, Any], *, strings: bool = False,
         data_cache: dict | None = None, unchanged: Callable[[dict], dict | None] | None = None,
         before_loading: Callable[[], None] | None = None) -> list[dict]:
    """Resolve notebooks and parameters, and load each data set once; refuse before any kernel starts.

    With one notebook an unknown parameter is refused; with several, a parameter is passed to
    the notebooks that declare it and refused only when none does. Likewise a data set without
    what a notebook needs (`NotApplicable`) refuses a run of that notebook alone; in a run of
    several, that notebook's job carries ``not_run`` (the reason) and does not run, unless no
    notebook can, and then the run is refused. ``data_cache`` (data set
    name -> (fingerprint, Dataset or None)) lets several plans (the points of a grid) load each data set once.

    ``unchanged(job)`` (the runner: `find_unchanged` of the job's cache key) returns the skip
    record of a job that need not run; such a job, ``job["unchanged"]`` set to it, has its data
    fingerprinted but not loaded or checked again: the successful run it repeats checked the
    same bytes and parameters with the same code. ``before_loading()`` is called before any data
    set is loaded (the runner starts its worker processes then). A job whose data were validated
    in pandas carries ``kernel_env``, the environment to hand to its kernel (`run_job`).
    """
    paths = [find_notebook(n) for n in names] if names else list_notebooks()
    if not paths:
        raise RunRefused(f"no notebooks found in {config.NOTEBOOKS}")
    declared = {p: declared_parameters(p) for p in paths}
    known = {name.lower() for d in declared.values() for name in d}
    for key in overrides:
        if len(paths) > 1 and key.lower() not in known:
            raise RunRefused(f"no notebook of this run has a parameter {key!r} "
                             f"(parameters: {', '.join(sorted(known))})")
    jobs, datasets = [], ({} if data_cache is None else data_cache)
    for path, params in declared.items():
        mine = {k: v for k, v in overrides.items() if len(paths) == 1 or k.lower() in {n.lower() for n in params}}
        try:
            given = resolve_parameters(params, mine, notebook=path.stem, strings=strings)
        except ParameterError as e:
            raise RunRefused(str(e)) from None
        given = _absolute_paths(given, params)  # the kernel runs in notebooks/, not in the caller's folder
        effective = {name: p.default for name, p in params.items()} | given
        job = {"path": path, "parameters": effective, "given": given, "data": None,
               "data_parameters": data_parameters(params), "stable_set": stable_set_name(params, given)}
        skip = _skip_unloaded(job, params, unchanged)
        if skip is not None:
            job["data"], job["unchanged"] = skip
        else:
            try:
                job["data"], kernel_env = _data_of(effective, params, datasets, path.stem, before_loading)
            except NotApplicable as e:
                if len(paths) == 1:
                    raise
                job["not_run"] = str(e).removeprefix(f"{path.stem}: ")
            else:
                job.update({"kernel_env": kernel_env} if kernel_env else {})
        jobs.append(job)
    if all("not_run" in job for job in jobs):
        raise RunRefused("no notebook can run on these data:\n" + "\n".join(
            f"- {job['path'].stem}: {job['not_run']}" for job in jobs))
    return jobs


SCRATCH = ".tmp"  # papermill's notebooks in progress, per run: reports/.tmp/<run-id>/
STABLE = ".stable"  # the report sets behind reports/latest and reports/latest-<data set>/
LOCK = ".index.lock"
LATEST = "latest"
RUN_ID = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{4}(?:-[a-z0-9_.=,+-]{1,60})?$")  # what `_new_run_folder` makes
STABLE_SET = re.compile(rf"^{LATEST}(?:-[a-z0-9_.-]{{1,60}})?$")
_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,120}$")  # a notebook stem or a report file name
STATUSES = ("running", "succeeded", "partial", "failed")  # partial: every cell ran, a section failed
EMPTY_RUN_SECONDS = 60  # an empty run folder or a .partial file older than this is left over, not in use


class UnsafePath(ValueError):
    """A path built from a manifest or a run id that would leave the reports folder."""


def confined(reports: Path, *parts: str) -> Path:
    """``reports/<parts...>``, refused unless it lies inside ``reports`` (after resolving links).

    Example
    -------
    >>> confined(Path("/srv/reports"), "20260101-000000-abcd", "00.html").as_posix()
    '/srv/reports/20260101-000000-abcd/00.html'
    >>> confined(Path("/srv/reports"), "../victim")
    Traceback (most recent call last):
    ...
    helpers.report.runner.UnsafePath: '../victim' leads outside the reports folder /srv/reports
    """
    root = Path(reports).resolve()
    path = root.joinpath(*parts).resolve()
    if path == root or not path.is_relative_to(root):
        raise UnsafePath(f"{'/'.join(map(str, parts))!r} leads outside the reports folder {root}")
    return path


def _check_entry(entry: Any, n: int) -> None:
    if not isinstance(entry, dict):
        raise ValueError(f"notebook entry {n} is not a mapping")
    name, status = entry.get("notebook"), entry.get("status")
    if not (isinstance(name, str) and _FILE.match(name)):
        raise ValueError(f"notebook entry {n} has no valid notebook name")
    if status not in STATUSES:
        raise ValueError(f"notebook entry {n} has an unknown status {str(status)[:40]!r}")
    for key in ("html", "ipynb"):
        if entry.get(key) is not None and not (isinstance(entry[key], str) and _FILE.match(entry[key])):
            raise ValueError(f"notebook entry {n} names an invalid {key} file")
    for key in ("findings", "answers"):
        items = entry.get(key, [])
        if not isinstance(items, list) or not all(isinstance(f, dict) for f in items):
            raise ValueError(f"notebook entry {n} has {key} that are not a list of mappings")
    if not isinstance(entry.get("duration_s", 0), (int, float)):
        raise ValueError(f"notebook entry {n} has a duration that is not a number")
    for key, kinds in (("cache_key", dict), ("parameters", dict), ("given", dict), ("data", dict)):
        if entry.get(key) is not None and not isinstance(entry[key], kinds):
            raise ValueError(f"notebook entry {n} has a {key} that is not a mapping")
    names = entry.get("data_parameters", [])
    if not isinstance(names, list) or not all(isinstance(x, str) for x in names):
        raise ValueError(f"notebook entry {n} has data_parameters that are not a list of names")
    for key in ("failed_sections", "skipped_sections"):
        sections = entry.get(key, [])
        if not isinstance(sections, list) or not all(isinstance(s, dict) and isinstance(s.get("name"), str)
                                                     and isinstance(s.get("reason"), str) for s in sections):
            raise ValueError(f"notebook entry {n} has {key} that are not a list of names and reasons")
    stable = entry.get("stable_set")
    if stable is not None and not (isinstance(stable, str) and STABLE_SET.match(stable)):
        raise ValueError(f"notebook entry {n} names an invalid stable set")


def check_manifest(manifest: Any, folder: str) -> dict:
    """A run's manifest, checked before anything is read, linked or removed through it.

    The run id must be the runner's own pattern and the folder's name; every file it names must
    be a plain file name. Raises ValueError saying what is wrong.
    """
    if not isinstance(manifest, dict):
        raise ValueError(f"not a mapping but {type(manifest).__name__}")
    run_id = manifest.get("run_id")
    if not (isinstance(run_id, str) and RUN_ID.match(run_id)):
        raise ValueError("its run_id is not one the runner makes")
    if run_id != folder:
        raise ValueError(f"its run_id is not its folder's name {folder!r}")
    if not isinstance(manifest.get("started_at"), str) or manifest.get("status") not in STATUSES:
        raise ValueError("it has no valid started_at and status")
    for key in ("notebooks", "skipped", "not_run"):
        if not isinstance(manifest.get(key, []), list):
            raise ValueError(f"its {key} is not a list")
    for n, entry in enumerate(manifest.get("notebooks", []), 1):
        _check_entry(entry, n)
    return manifest


def scan_runs(reports: Path) -> tuple[list[dict], list[dict]]:
    """Every run's checked manifest under ``reports``, newest first, and the manifests that cannot be used.

    Returns
    -------
    (runs, unreadable)
        ``unreadable`` holds ``{"path": "<folder>/manifest.json", "reason": ...}`` for each
        manifest that is not JSON, not a mapping, empty, behind a symbolic link, or whose run id
        or file names are not the runner's own; such a run is listed, never followed.
    """
    runs, unreadable = [], []
    for path in sorted(Path(reports).glob("*/manifest.json")):
        if path.parent.is_symlink() or path.parent.name.startswith("."):
            continue  # reports/latest (older layout) and the scratch folders
        shown = f"{path.parent.name}/manifest.json"
        try:
            if path.is_symlink():
                raise ValueError("it is a symbolic link")
            raw = path.read_bytes()
            if not raw.strip():
                raise ValueError("it is empty")
            runs.append(check_manifest(json.loads(raw), path.parent.name))
        except (OSError, ValueError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            unreadable.append({"path": shown, "reason": str(e)[:200]})
    runs.sort(key=lambda r: (r["started_at"], r["run_id"]), reverse=True)
    return runs, unreadable


def read_runs(reports: Path) -> list[dict]:
    """Every run's checked manifest under ``reports``, newest first (`scan_runs` without the unreadable)."""
    return scan_runs(reports)[0]


def run_state(run: dict) -> str:
    """A run's status for readers: a "running" manifest whose process is gone is incomplete.

    Returns the manifest's status, except for a "running" manifest: "running" while its process
    lives, "incomplete (killed)" when it is gone, and "incomplete (killed or still running)" when
    this machine cannot tell (another host, or a manifest without a pid).
    """
    status = run.get("status", "unknown")
    if status != "running":
        return status
    pid, host = run.get("pid"), run.get("host")
    if not isinstance(pid, int) or host != socket.gethostname():
        return "incomplete (killed or still running)"
    return "running" if alive(pid) else "incomplete (killed)"


def _sweep(reports: Path, runs: list[dict]) -> None:
    """Remove the scratch files of runs that are over (finished or killed); call under the lock."""
    for tmp in [*reports.glob(".index.html.*.partial"), *reports.glob(f".{LATEST}*.partial")]:
        tmp.unlink(missing_ok=True)  # left by a kill: these are only written under the lock
    for run in runs:
        if run_state(run) in ("running", "incomplete (killed or still running)"):
            continue  # alive, or on another host: its scratch may still be in use
        shutil.rmtree(confined(reports, SCRATCH, run["run_id"]), ignore_errors=True)
        for tmp in confined(reports, run["run_id"]).glob(".*.partial"):
            if _older_than(tmp, EMPTY_RUN_SECONDS):  # a younger one may be a write in progress (a finishing run)
                tmp.unlink(missing_ok=True)
    if (reports / SCRATCH).is_dir() and not any((reports / SCRATCH).iterdir()):
        (reports / SCRATCH).rmdir()
    for folder in reports.iterdir():  # a run folder left empty (its first manifest could not be written)
        if (RUN_ID.match(folder.name) and folder.is_dir() and not folder.is_symlink() and not any(folder.iterdir())
                and _older_than(folder, EMPTY_RUN_SECONDS)):
            folder.rmdir()


def _older_than(path: Path, seconds: float) -> bool:
    try:
        return time.time() - path.stat().st_mtime > seconds
    except FileNotFoundError:  # gone meanwhile: nothing to remove
        return False


def stable_sets(runs: list[dict], reports: Path) -> dict[str, dict[str, tuple[dict, dict]]]:
    """Per stable set (``latest``, ``latest-<data set>``): each notebook's newest good report in it.

    An entry belongs to the stable set the runner named for it (``stable_set``): runs with the
    notebooks' default parameters on one data set. Runs with other parameters, grid points and
    reports whose HTML is gone belong to none.
    """
    sets: dict[str, dict[str, tuple[dict, dict]]] = {}
    for run in runs:  # newest first
        for entry in run.get("notebooks", []):
            name = entry.get("stable_set")
            if not name or entry["status"] != "succeeded" or not entry.get("html"):
                continue
            if entry["notebook"] not in sets.setdefault(name, {}) and confined(reports, run["run_id"],
                                                                               entry["html"]).is_file():
                sets[name][entry["notebook"]] = (run, entry)
    return sets


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)  # same bytes, no extra space; the folder can be zipped or mailed as is
    except OSError:
        shutil.copy2(source, target)


def _write_stable_set(reports: Path, name: str, picks: dict[str, tuple[dict, dict]]) -> None:
    """Make ``reports/<name>`` hold ``picks``: a new folder under `STABLE`, then the link renamed over the old.

    The folder holds each notebook's HTML (hard links to the run's files) and ``stable.json``:
    the manifest entries with the run each came from, which `workbench diff` reads like a run's.
    """
    record = {"stable_set": name, "notebooks": [{**entry, "run_id": run["run_id"]}
                                                for _, (run, entry) in sorted(picks.items())]}
    link = reports / name
    if link.is_symlink():
        try:
            current = json.loads((link / "stable.json").read_text())
            if current.get("notebooks") == json.loads(json.dumps(record["notebooks"], default=str)):
                return
        except (OSError, ValueError):
            pass
    elif link.exists():
        return  # a real file or folder of someone else's: never replaced
    folder = confined(reports, STABLE, f"{name}-{secrets.token_hex(4)}")
    folder.mkdir(parents=True)
    for _, (run, entry) in picks.items():
        _link_or_copy(confined(reports, run["run_id"], entry["html"]), folder / entry["html"])
    atomic_write(folder / "stable.json", json.dumps({**record, "updated_at": _now()}, indent=2, default=str))
    tmp = reports / f".{name}.{os.getpid()}.partial"
    tmp.unlink(missing_ok=True)
    os.symlink(f"{STABLE}/{folder.name}", tmp)  # relative: the reports folder can be moved or served as is
    os.replace(tmp, link)


def _prune_stable(reports: Path) -> None:
    """Remove the folders under `STABLE` that no ``latest*`` link points at any more."""
    kept = {os.readlink(p) for p in reports.glob(f"{LATEST}*") if p.is_symlink()}
    for folder in (reports / STABLE).glob("*") if (reports / STABLE).is_dir() else []:
        if f"{STABLE}/{folder.name}" not in kept:
            shutil.rmtree(folder, ignore_errors=True)


def _point_latest(reports: Path, runs: list[dict]) -> None:
    """Rebuild every stable set (``reports/latest``, ``reports/latest-<data set>``) from the runs."""
    for name, picks in stable_sets(runs, reports).items():
        _write_stable_set(reports, name, picks)
    _prune_stable(reports)


@contextmanager
def _index_lock(reports: Path):
    """Hold an exclusive lock on ``reports/.index.lock`` (released when the process dies)."""
    reports.mkdir(parents=True, exist_ok=True)
    with open(reports / LOCK, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def write_index(reports: Path) -> Path:
    """Rebuild ``reports/index.html`` and the stable sets (``reports/latest*``) from the manifests, under the lock.

    Runs whose process is gone are shown as incomplete and their scratch files are removed;
    manifests that cannot be used are listed as unreadable and followed nowhere.
    """
    reports = Path(reports)
    with _index_lock(reports):
        runs, unreadable = scan_runs(reports)
        _sweep(reports, runs)
        _point_latest(reports, runs)
        page = render_index([{**r, "status": run_state(r)} for r in runs], unreadable=unreadable)
        return atomic_write(reports / "index.html", page)


def _save(manifest: dict, folder: Path, reports: Path) -> None:
    atomic_write(folder / "manifest.json", json.dumps(manifest, indent=2, default=str))
    write_index(reports)


def _new_run_folder(reports: Path, suffix: str = "") -> tuple[str, Path]:
    """A fresh ``reports/<YYYYmmdd-HHMMSS-xxxx[-suffix]>/``; never one another run already holds."""
    for _ in range(10):
        run_id = f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}{'-' * bool(suffix)}{suffix}"
        folder = reports / run_id
        try:
            folder.mkdir(parents=True)
            return run_id, folder
        except FileExistsError:
            continue
    raise RuntimeError(f"could not create a new run folder under {reports}")


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def notebook_digest(path: Path) -> str:
    """Digest of a notebook's cells (type and source); outputs and metadata do not count."""
    nb = nbformat.read(str(path), as_version=4)
    return _digest([[cell.cell_type, cell.source] for cell in nb.cells])


def environment_digest(env: dict) -> str:
    """Digest of what a notebook runs on: Python, the package versions and the helpers package's source.

    The git commit is left out on purpose: committing an unrelated file must not force reruns.
    """
    package = Path(__file__).resolve().parents[1]
    source = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        source.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    return _digest({"python": platform.python_version(), "packages": env["packages"], "helpers": source.hexdigest()})


def cache_key(job: dict, environment: str) -> dict:
    """What decides whether a notebook job reruns.

    Parameters
    ----------
    job : dict
        From `plan`: path, parameters (effective), data (data set and fingerprint).
    environment : str
        From `environment_digest`.

    Returns
    -------
    dict
        ``key`` (a digest of the other items), ``notebook`` (source digest), ``parameters``
        (digest of the effective parameters), ``data`` (fingerprint, or None) and ``environment``.
    """
    parts = {"notebook": notebook_digest(job["path"]), "parameters": _digest(job["parameters"]),
             "data": (job["data"] or {}).get("fingerprint"), "environment": environment}
    return {"key": _digest(parts), **parts}


def find_unchanged(key: str, runs: list[dict], reports: Path) -> dict | None:
    """The newest successful report with cache key ``key`` whose HTML is still there, as a skip record.

    Returns ``{"notebook", "cache_key", "unchanged_since": run_id, "report": "<run-id>/<html>"}``
    or None when no earlier run matches.
    """
    for run in runs:  # newest first
        for entry in run.get("notebooks", []):
            found = entry.get("status") == "succeeded" and (entry.get("cache_key") or {}).get("key") == key
            if found and entry.get("html") and confined(reports, run["run_id"], entry["html"]).is_file():
                return {"notebook": entry["notebook"], "cache_key": entry["cache_key"],
                        "unchanged_since": run["run_id"], "report": f"{run['run_id']}/{entry['html']}"}
    return None


def _slug(label: str) -> str:
    """A grid point's label as a folder-name suffix: ``top_share=0.1,confidence=0.9``."""
    return re.sub(r"[^a-z0-9_.=,+-]+", "-", label.lower().replace(", ", ",")).strip("-")[:60]


def _plan_points(names: list[str], points: list[dict], grid: Grid | None, strings: bool,
                 **options) -> list[list[dict]]:
    """`plan` for every point, data sets loaded once; a grid with bad points is refused as a whole.

    ``options`` (``unchanged``, ``before_loading``) go to every `plan`.
    """
    if grid is None:
        return [plan(names, points[0], strings=strings, **options)]
    for name in names:  # an unknown notebook: one message, not one per point
        find_notebook(name)
    planned, problems, data = [], [], {}
    for n, point in enumerate(points, 1):
        try:
            planned.append(plan(names, point, strings=strings, data_cache=data, **options))
        except RunRefused as e:
            problems.append(f"- point {n} ({grid.label(point)}): {e}")
    if problems:
        raise RunRefused(f"{grid.source}: {len(problems)} of {len(points)} grid points refused, so none runs:\n"
                         + "\n".join(problems))
    return planned


def _open_run(reports: Path, env: dict, extra: dict, suffix: str, created: list[str]) -> dict:
    """Create a run folder, its scratch folder and its first manifest ("running"); its id goes into ``created``."""
    run_id, folder = _new_run_folder(reports, suffix)
    created.append(run_id)
    (reports / SCRATCH / run_id).mkdir(parents=True)
    manifest = {"run_id": run_id, "started_at": _now(), "status": "running", "pid": os.getpid(),
                "host": socket.gethostname(), **env, **extra, "notebooks": []}
    atomic_write(folder / "manifest.json", json.dumps(manifest, indent=2, default=str))
    return manifest


def _crashed(job: dict, error: BaseException) -> dict:
    """The entry of a job whose worker failed outside the notebook (worker died, connection lost)."""
    return {"notebook": job["path"].stem, "parameters": job["parameters"], "given": job["given"], "data": job["data"],
            "cache_key": job.get("cache_key"), "stable_set": job.get("stable_set"),
            "data_parameters": job.get("data_parameters", []), "status": "failed",
            "duration_s": 0.0, "error": f"{type(error).__name__}: {error}"[:2000]}


_HANDED: Counter = Counter()  # (variable, value) -> jobs of this process handing it to their kernels now
_OUTER: dict[str, str | None] = {}  # what those variables held before
_HANDED_LOCK = threading.Lock()


def run_job(job: dict) -> dict:
    """`execute_job` with the job's ``kernel_env`` in the environment its kernel starts with.

    ``kernel_env`` maps a variable to a value, e.g. the `helpers.engine.scale.validation_token`
    of the data the runner validated (`plan`). Runs wherever `execute_job` does (this process,
    a pool worker, a Dask worker); jobs that run at once in one process (threads of a Dask
    worker) hand the union of their values, comma-separated, and the variable gets back what
    it held before when no job hands it any more.
    """
    pairs = list(job.get("kernel_env", {}).items())
    _hand(pairs, 1)
    try:
        return execute_job(job)
    finally:
        _hand(pairs, -1)


def _hand(pairs: list[tuple[str, str]], step: int) -> None:
    """Hand (``step`` 1) or take back (-1) ``pairs``; each variable then holds the values still handed."""
    with _HANDED_LOCK:
        for name, value in pairs:
            if step > 0 and name not in _OUTER:
                _OUTER[name] = os.environ.get(name)
            _HANDED[name, value] += step
            if _HANDED[name, value] <= 0:
                del _HANDED[name, value]
        for name in {name for name, _ in pairs}:
            values = sorted(v for n, v in _HANDED if n == name)
            if values:
                os.environ[name] = ",".join(values)
                continue
            outer = _OUTER.pop(name, None)
            if outer is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = outer


def _workers(jobs: int | None, n: int) -> int:
    """``jobs``, or by default the number of usable cores, at most the number of jobs ``n``."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(jobs or cores, n))


def _prepare(planned: list[list[dict]], grid: Grid | None, reports: Path, environment: str,
             earlier: list[dict] | None) -> list[dict]:
    """Per point: the jobs to run, the skip records of the unchanged ones (cache keys attached), and
    the notebooks the data do not suit (``extra["not_run"]``, for the manifest).

    A job `plan` found unchanged (its data not loaded) is skipped whatever; the others are looked
    up in ``earlier`` (None: ``force``, every one runs).
    """
    points = []
    for n, jobs in enumerate(planned):
        todo, skipped = [], []
        not_run = [{"notebook": job["path"].stem, "reason": job["not_run"]} for job in jobs if "not_run" in job]
        for job in (job for job in jobs if "not_run" not in job):
            job["cache_key"] = cache_key(job, environment)
            if grid is not None:
                job["stable_set"] = None  # a grid point is never the stable report
            same = job.get("unchanged") or (None if earlier is None else
                                            find_unchanged(job["cache_key"]["key"], earlier, reports))
            (todo if same is None else skipped).append(job if same is None else same)
        point = grid.points[n] if grid else {}
        extra = {"grid": {"file": grid.source, "point": {k: point[k] for k in grid.varying},
                          "label": grid.label(point)}} if grid else {}
        extra |= {"not_run": not_run} if not_run else {}
        points.append({"todo": todo, "skipped": skipped, "extra": extra,
                       "label": grid.label(point) if grid else ""})
    return points


def run_points(names: list[str], points: list[dict], *, grid: Grid | None = None, strings: bool = False,
               reports: Path | None = None, progress: bool = True, show_code: bool = False,
               jobs: int | None = 1, scheduler: str | None = None, force: bool = False,
               timeout: float = 10.0) -> list[dict]:
    """Check every point, then run every notebook job that is not unchanged; one run folder per point.

    Parameters
    ----------
    names : list of str
        Notebook names; every notebook when empty.
    points : list of dict
        Parameter overrides, one mapping per run.
    grid : Grid, optional
        The grid the points come from: labels, the manifest's ``grid`` record, refusals per point.
    strings, reports, progress, show_code
        As for `run`.
    jobs : int or None
        Local worker processes (one kernel each); None: the number of cores, at most the number
        of jobs; 1: one after another in this process, with a progress bar.
    scheduler : str, optional
        Address of a Dask scheduler (``tcp://host:8786``) whose workers run the jobs instead.
    force : bool
        Rerun notebooks that are unchanged since a successful run.
    timeout : float
        Seconds to wait for the Dask scheduler and a worker.

    Returns
    -------
    list of dict
        One manifest per point. A point whose notebooks were all unchanged writes no folder: its
        ``run_id`` is None and its status "skipped". Each manifest's ``skipped`` lists the
        unchanged notebooks and the run holding their report.

    Raises
    ------
    RunRefused
        Before anything is written: a bad parameter or data set in any point.
    helpers.report.grid.SchedulerUnreachable
        Before anything is written: no scheduler or worker answered at ``scheduler``.
    """
    reports = Path(reports or config.reports_dir())
    env = environment_info()
    environment, earlier = environment_digest(env), None if force else read_runs(reports)
    parallel = jobs != 1 and not scheduler and len(points) * (len(names) or len(list_notebooks())) > 1
    planned = _plan_points(  # unchanged notebooks: their data are not loaded again
        list(names), list(points), grid, strings, before_loading=warm_up if parallel else None,  # worker imports
        unchanged=None if force else lambda job: find_unchanged(cache_key(job, environment)["key"], earlier, reports))
    prepared = _prepare(planned, grid, reports, environment, earlier)
    if progress:
        for point in prepared:
            for skip in point["skipped"]:
                print(skip_line(skip, point["label"], reports), flush=True)
            for entry in point["extra"].get("not_run", []):
                print(not_run_line(entry, point["label"]), flush=True)
    if not any(p["todo"] for p in prepared):
        if reports.is_dir():
            write_index(reports)  # nothing to run, but a killed run's scratch is still swept
        return [_unchanged(p) for p in prepared]
    client = connect(scheduler, timeout=timeout) if scheduler else None
    try:
        return _execute_points(prepared, reports, env, progress=progress, show_code=show_code,
                               workers=_workers(jobs, sum(len(p["todo"]) for p in prepared)), client=client)
    finally:
        if client is not None:
            client.close()


def _unchanged(point: dict) -> dict:
    """The result of a point whose notebooks are all unchanged: no folder, no run id."""
    return {"run_id": None, "status": "skipped", **point["extra"], "notebooks": [], "skipped": point["skipped"]}


def _open_runs(prepared: list[dict], reports: Path, env: dict, *, progress: bool, show_code: bool,
               in_process: bool, created: list[str]) -> tuple[list[dict], list[dict], list[tuple]]:
    """A run folder per point with jobs; (manifests, job specs for `execute_job`, each spec's slot)."""
    manifests, specs, slots = [], [], []
    total = sum(len(p["todo"]) for p in prepared)
    for point in prepared:
        if not point["todo"]:
            manifests.append(_unchanged(point))
            continue
        manifest = _open_run(reports, env, {**point["extra"], "skipped": point["skipped"]}, _slug(point["label"]),
                             created)
        manifests.append(manifest)
        header = {k: manifest[k] for k in ("run_id", "started_at", "code")}
        for pos, job in enumerate(point["todo"]):
            bar = f"[{len(specs) + 1}/{total}] {_named(job['path'].stem, point['label'])}"
            specs.append({**job, "folder": reports / manifest["run_id"], "run": header, "show_code": show_code,
                          "scratch": reports / SCRATCH / manifest["run_id"],
                          "progress": bar if progress and in_process else None})
            slots.append((manifest, pos, len(point["todo"]), point["label"]))
    return manifests, specs, slots


def _record(manifest: dict, got: dict[int, dict], expected: int, reports: Path) -> None:
    """Write a run's manifest with the entries finished so far (in plan order); final when all are in."""
    manifest["notebooks"] = [got[k] for k in sorted(got)]
    if len(got) == expected:
        statuses = {e["status"] for e in manifest["notebooks"]}
        status = ("succeeded" if statuses <= {"succeeded"} else "partial" if statuses <= {"succeeded", "partial"}
                  else "failed")
        manifest.update(status=status, finished_at=_now())
    _save(manifest, reports / manifest["run_id"], reports)


def _execute_points(prepared: list[dict], reports: Path, env: dict, *, progress: bool, show_code: bool,
                    workers: int, client) -> list[dict]:
    """Open the run folders, run the jobs, and record each entry as its job finishes.

    When the disk fills up, the run folders this call made are removed with their scratch, and
    `DiskFull` says so: a half-recorded run is worse than none.
    """
    in_process = client is None and workers == 1  # then a progress bar per notebook, as they run one at a time
    created: list[str] = []
    manifests: list[dict] = []
    try:
        manifests, specs, slots = _open_runs(prepared, reports, env, progress=progress, show_code=show_code,
                                             in_process=in_process, created=created)
        write_index(reports)  # the new runs are listed as running
        entries: dict[str, dict[int, dict]] = {m["run_id"]: {} for m in manifests if m["run_id"]}
        for done, (i, outcome) in enumerate(completed(run_job, specs, workers=workers, client=client), 1):
            if _disk_full(outcome):
                raise outcome
            manifest, pos, expected, label = slots[i]
            entry = outcome if isinstance(outcome, dict) else _crashed(specs[i], outcome)
            entries[manifest["run_id"]][pos] = entry
            _record(manifest, entries[manifest["run_id"]], expected, reports)
            if progress:
                print(f"[{done}/{len(specs)}] {result_line(entry, label)}", flush=True)
    except BaseException as e:  # Ctrl-C, or a bug: record the runs as failed rather than "running"
        if _disk_full(e):
            _discard(reports, created)
            where = getattr(e, "filename", None) or reports
            raise DiskFull(f"no space left on the device writing {where}: this run's files were removed; "
                           f"free some space and run again") from None
        for m in manifests:
            if m["status"] == "running":
                m.update(status="failed", finished_at=_now(), error=f"run interrupted: {type(e).__name__}: {e}"[:2000])
        raise
    finally:
        if created:  # empty when nothing was opened, or the runs were discarded
            _close_runs(reports, [m for m in manifests if m["run_id"] in created])
    return manifests


def _disk_full(error: Any) -> bool:
    return isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)


def _discard(reports: Path, run_ids: list[str]) -> None:
    """Remove runs (folder and scratch) this process made, e.g. when the disk is full."""
    for run_id in run_ids:
        shutil.rmtree(confined(reports, run_id), ignore_errors=True)
        shutil.rmtree(confined(reports, SCRATCH, run_id), ignore_errors=True)
    run_ids.clear()
    with contextlib.suppress(OSError):
        write_index(reports)


def _close_runs(reports: Path, manifests: list[dict]) -> None:
    """Remove the runs' scratch, write their final manifests and the index once more."""
    for m in manifests:
        shutil.rmtree(confined(reports, SCRATCH, m["run_id"]), ignore_errors=True)
        atomic_write(confined(reports, m["run_id"], "manifest.json"), json.dumps(m, indent=2, default=str))
    write_index(reports)


def _named(notebook: str, label: str) -> str:
    return f"{notebook} ({label})" if label else notebook


def result_line(entry: dict, label: str = "") -> str:
    """``00_data_overview (TOP_SHARE=0.1): succeeded in 6.2 s`` (with the error when it failed)."""
    line = f"{_named(entry['notebook'], label)}: {entry['status']} in {entry.get('duration_s', 0):.1f} s"
    return line if entry["status"] == "succeeded" else f"{line}: {entry.get('error')}"


def skip_line(skip: dict, label: str, reports: Path) -> str:
    """``00_data_overview: unchanged since run <id>, skipped (--force reruns); report: <path>``."""
    return (f"{_named(skip['notebook'], label)}: unchanged since run {skip['unchanged_since']}, skipped "
            f"(--force reruns); report: {reports / skip['report']}")


def not_run_line(entry: dict, label: str = "") -> str:
    """``02_retention_effort_revenue: not run: data set 'telco' has no campaigns table, ...``."""
    return f"{_named(entry['notebook'], label)}: not run: {entry['reason']}"


def run(names: list[str] | None = None, overrides: dict[str, Any] | None = None, *, strings: bool = False,
        reports: Path | None = None, progress: bool = True, show_code: bool = False, jobs: int | None = 1,
        scheduler: str | None = None, force: bool = False) -> dict:
    """Execute notebooks and write one run folder; return its manifest.

    Parameters
    ----------
    names : list of str, optional
        Notebook names (stem, file name or number prefix); all notebooks when empty.
    overrides : dict, optional
        Parameter values by name (any case).
    strings : bool
        Values are command-line strings to convert to each parameter's type.
    reports : Path, optional
        Reports folder; default `config.reports_dir()`.
    progress : bool
        Show progress: a bar per notebook when they run one at a time, else a line per finished notebook.
    show_code : bool
        Include the code cells in the HTML reports (hidden by default).
    jobs : int or None
        Notebooks run at once, one kernel each (None: the number of cores, at most the notebooks).
    scheduler : str, optional
        Run the notebooks on the Dask cluster at this address instead (see `run_points`).
    force : bool
        Rerun notebooks unchanged since a successful run; by default they are skipped, listed
        under the manifest's ``skipped``, and when all are, no folder is written (run_id None).

    Raises
    ------
    RunRefused
        Before anything is written, when a parameter or a data set is refused.
    """
    (manifest,) = run_points(list(names or []), [dict(overrides or {})], strings=strings, reports=reports,
                             progress=progress, show_code=show_code, jobs=jobs, scheduler=scheduler, force=force)
    return manifest


def run_grid(grid: Grid, *, reports: Path | None = None, progress: bool = True, show_code: bool = False,
             jobs: int | None = None, scheduler: str | None = None, force: bool = False,
             timeout: float = 10.0) -> list[dict]:
    """Run a grid (`helpers.report.grid.load_grid`): one run folder per point, the index rebuilt at the end.

    Every point is checked before any kernel starts; one bad point refuses the grid (`RunRefused`,
    naming each bad point). Arguments and result as for `run_points`.

    Example
    -------
    >>> from helpers.report.grid import parse_grid
    >>> grid = parse_grid({"notebooks": ["00"], "grid": {"TOP_SHARE": [0.1, 0.2]}})
    >>> manifests = run_grid(grid, jobs=2)   # doctest: +SKIP
    """
    return run_points(list(grid.notebooks), list(grid.points), grid=grid, reports=reports, progress=progress,
                      show_code=show_code, jobs=jobs, scheduler=scheduler, force=force, timeout=timeout)

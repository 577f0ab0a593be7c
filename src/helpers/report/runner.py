"""Run notebooks with papermill and write a run folder, its manifest, HTML and the index.

One call of `run` is one run, written to ``reports/<run-id>/``:

- ``<notebook>.ipynb``: the executed notebook (``<notebook>.failed.ipynb`` when it failed);
- ``<notebook>.html``: the shareable report (successful notebooks only);
- ``manifest.json``: parameters, data fingerprint, git commit, package versions, durations,
  status and recorded findings of every notebook.

``reports/index.html`` is rebuilt from every manifest after each notebook, under a file lock
(``reports/.index.lock``) so that runs started at once do not overwrite each other's index;
``reports/latest`` is a symbolic link to the newest successful run. Parameters and data are
checked before any kernel starts; when they fail nothing is written.

Every file is written through a temporary name and a rename, and papermill writes the
notebook it is executing under ``reports/.tmp/<run-id>/``, so a killed run leaves no
half-written file among the reports and the previous reports untouched. The manifest records
the runner's process id: a run left "running" by a killed process is shown as incomplete, and
its scratch files are removed the next time the index is rebuilt.
"""
from __future__ import annotations

import fcntl
import json
import os
import secrets
import shutil
import socket
import subprocess
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import nbformat
import papermill as pm

from .. import config
from ..files import atomic_write
from ..findings import read_findings
from ..io import fingerprint, load_dataset, table_path
from .html import render_index, render_report
from .params import ParameterError, declared_parameters, resolve_parameters

PACKAGES = ("cs-workbench", "pandas", "numpy", "scipy", "statsmodels", "lifelines", "seaborn", "matplotlib",
            "papermill", "nbconvert", "pyarrow")
DATASET_PARAM = "DATASET"
TABLE_PARAMS = ("EXPERIMENT_FILE", "ONE_TABLE")  # a one-table source replaces the data set when given
# figures must be inline outputs whatever backend the caller's environment sets (e.g. Agg)
KERNEL_ENV = {"MPLBACKEND": "module://matplotlib_inline.backend_inline"}


class RunRefused(ValueError):
    """The run was refused before any kernel started (bad parameter, missing or invalid data)."""


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
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _absolute_paths(given: dict) -> dict:
    """Data parameters that name an existing relative path, made absolute."""
    out = dict(given)
    for name in (DATASET_PARAM, *TABLE_PARAMS):
        value = out.get(name)
        if isinstance(value, str) and value and not Path(value).is_absolute() and Path(value).exists():
            out[name] = str(Path(value).resolve())
    return out


def _data_of(effective: dict, cache: dict, notebook: str) -> dict | None:
    """Load (and so check) the data a notebook's parameters name, once per name; its fingerprint."""
    table = next((str(effective[p]) for p in TABLE_PARAMS if effective.get(p)), "")
    if table:
        try:
            return {"dataset": table, "fingerprint": fingerprint([table_path(table)])}
        except FileNotFoundError as e:
            raise RunRefused(f"{notebook}: {e}") from None
    if DATASET_PARAM not in effective:
        return None
    name = str(effective[DATASET_PARAM])
    if name not in cache:
        try:
            cache[name] = load_dataset(name).fingerprint
        except (FileNotFoundError, ValueError) as e:
            raise RunRefused(f"{notebook}: {e}") from None
    return {"dataset": name, "fingerprint": cache[name]}


def plan(names: list[str], overrides: dict[str, Any], *, strings: bool = False) -> list[dict]:
    """Resolve notebooks and parameters, and load each data set once; refuse before any kernel starts.

    With one notebook an unknown parameter is refused; with several, a parameter is passed to
    the notebooks that declare it and refused only when none does.
    """
    paths = [find_notebook(n) for n in names] if names else list_notebooks()
    if not paths:
        raise RunRefused(f"no notebooks found in {config.NOTEBOOKS}")
    declared = {p: declared_parameters(p) for p in paths}
    known = {name.lower() for d in declared.values() for name in d}
    for key in overrides:
        if len(paths) > 1 and key.lower() not in known:
            raise RunRefused(f"no notebook of this run has a parameter {key!r} (parameters: {', '.join(sorted(known))})")
    jobs, datasets = [], {}
    for path, params in declared.items():
        mine = {k: v for k, v in overrides.items() if len(paths) == 1 or k.lower() in {n.lower() for n in params}}
        try:
            given = resolve_parameters(params, mine, notebook=path.stem, strings=strings)
        except ParameterError as e:
            raise RunRefused(str(e)) from None
        given = _absolute_paths(given)  # the kernel runs in notebooks/, not in the caller's folder
        effective = {name: p.default for name, p in params.items()} | given
        data = _data_of(effective, datasets, path.stem)
        jobs.append({"path": path, "parameters": effective, "given": given, "data": data})
    return jobs


@contextmanager
def _kernel_env():
    """Set `KERNEL_ENV` for the kernel papermill starts (it inherits this process's environment)."""
    saved = {k: os.environ.get(k) for k in KERNEL_ENV}
    os.environ.update(KERNEL_ENV)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _execute(job: dict, folder: Path, scratch: Path, progress: bool) -> dict:
    stem = job["path"].stem
    partial = scratch / f"{stem}.ipynb"
    entry = {"notebook": stem, "parameters": job["parameters"], "data": job["data"], "status": "running"}
    started = time.perf_counter()
    try:
        with _kernel_env():
            pm.execute_notebook(str(job["path"]), str(partial), parameters=job["given"], cwd=str(config.NOTEBOOKS),
                                progress_bar={"desc": stem} if progress else False)
        entry["status"] = "succeeded"
    except pm.PapermillExecutionError as e:
        entry["status"], entry["error"] = "failed", f"{e.ename}: {e.evalue}"[:2000]
    except Exception as e:  # kernel died, timeout, unreadable notebook: still a failed notebook, not a crash
        entry["status"], entry["error"] = "failed", f"{type(e).__name__}: {e}"[:2000]
    entry["duration_s"] = round(time.perf_counter() - started, 2)
    if partial.exists():
        executed = nbformat.read(str(partial), as_version=4)
        entry["findings"] = read_findings(executed)
        name = f"{stem}.ipynb" if entry["status"] == "succeeded" else f"{stem}.failed.ipynb"
        partial.replace(folder / name)
        entry["ipynb"] = name
        if entry["status"] == "succeeded":
            entry["executed"] = executed
    return entry


SCRATCH = ".tmp"  # papermill's notebooks in progress, per run: reports/.tmp/<run-id>/
LOCK = ".index.lock"
LATEST = "latest"


def read_runs(reports: Path) -> list[dict]:
    """Every run's manifest under ``reports``, newest first; unreadable ones (and ``latest``) are skipped."""
    runs = []
    for path in reports.glob("*/manifest.json"):
        if path.parent.is_symlink():
            continue
        try:
            runs.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError):
            continue
    return sorted(runs, key=lambda r: (r.get("started_at", ""), r.get("run_id", "")), reverse=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


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
    return "running" if _alive(pid) else "incomplete (killed)"


def _sweep(reports: Path, runs: list[dict]) -> None:
    """Remove the scratch files of runs that are over (finished or killed); call under the lock."""
    for tmp in [*reports.glob(".index.html.*.partial"), *reports.glob(f".{LATEST}.*.partial")]:
        tmp.unlink(missing_ok=True)  # left by a kill: these are only written under the lock
    for run in runs:
        if run_state(run) in ("running", "incomplete (killed or still running)"):
            continue  # alive, or on another host: its scratch may still be in use
        shutil.rmtree(reports / SCRATCH / run["run_id"], ignore_errors=True)
        for tmp in (reports / run["run_id"]).glob(".*.partial"):
            tmp.unlink(missing_ok=True)
    if (reports / SCRATCH).is_dir() and not any((reports / SCRATCH).iterdir()):
        (reports / SCRATCH).rmdir()


def _point_latest(reports: Path, runs: list[dict]) -> None:
    """Point ``reports/latest`` at the newest successful run: a new link renamed over the old one."""
    good = next((r["run_id"] for r in runs if r.get("status") == "succeeded"), None)
    link = reports / LATEST
    if good is None or (link.is_symlink() and os.readlink(link) == good):
        return
    tmp = reports / f".{LATEST}.{os.getpid()}.partial"
    tmp.unlink(missing_ok=True)
    os.symlink(good, tmp)  # relative: the reports folder can be moved or served as is
    os.replace(tmp, link)


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
    """Rebuild ``reports/index.html`` and ``reports/latest`` from the manifests, under the index lock.

    Runs whose process is gone are shown as incomplete and their scratch files are removed.
    """
    reports = Path(reports)
    with _index_lock(reports):
        runs = read_runs(reports)
        _sweep(reports, runs)
        _point_latest(reports, runs)
        return atomic_write(reports / "index.html", render_index([{**r, "status": run_state(r)} for r in runs]))


def _save(manifest: dict, folder: Path, reports: Path) -> None:
    atomic_write(folder / "manifest.json", json.dumps(manifest, indent=2, default=str))
    write_index(reports)


def _new_run_folder(reports: Path) -> tuple[str, Path]:
    """A fresh ``reports/<YYYYmmdd-HHMMSS-xxxx>/``; never one another run already holds."""
    for _ in range(10):
        run_id = f"{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
        folder = reports / run_id
        try:
            folder.mkdir(parents=True)
            return run_id, folder
        except FileExistsError:
            continue
    raise RuntimeError(f"could not create a new run folder under {reports}")


def run(names: list[str] | None = None, overrides: dict[str, Any] | None = None, *, strings: bool = False,
        reports: Path | None = None, progress: bool = True, show_code: bool = False) -> dict:
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
        Show a progress bar (notebook name, cell count).
    show_code : bool
        Include the code cells in the HTML reports (hidden by default).

    Raises
    ------
    RunRefused
        Before anything is written, when a parameter or a data set is refused.
    """
    jobs = plan(list(names or []), dict(overrides or {}), strings=strings)
    reports = Path(reports or config.reports_dir())
    run_id, folder = _new_run_folder(reports)
    scratch = reports / SCRATCH / run_id
    scratch.mkdir(parents=True)
    manifest = {"run_id": run_id, "started_at": _now(), "status": "running", "pid": os.getpid(),
                "host": socket.gethostname(), **environment_info(), "notebooks": []}
    try:
        _save(manifest, folder, reports)
        for i, job in enumerate(jobs, 1):
            if progress:
                print(f"[{i}/{len(jobs)}] {job['path'].stem}", flush=True)
            entry = _execute(job, folder, scratch, progress)
            executed = entry.pop("executed", None)
            if executed is not None:
                entry["html"] = f"{job['path'].stem}.html"
                atomic_write(folder / entry["html"], render_report(executed, entry, manifest, show_code=show_code))
            manifest["notebooks"].append(entry)
            _save(manifest, folder, reports)
        ok = all(e["status"] == "succeeded" for e in manifest["notebooks"])
        manifest.update(status="succeeded" if ok else "failed", finished_at=_now())
    except BaseException as e:  # Ctrl-C, or a bug: record the run as failed rather than "running"
        manifest.update(status="failed", finished_at=_now(), error=f"run interrupted: {type(e).__name__}: {e}"[:2000])
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        _save(manifest, folder, reports)
    return manifest

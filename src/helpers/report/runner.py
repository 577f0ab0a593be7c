"""Run notebooks with papermill and write a run folder, its manifest, HTML and the index.

One call of `run` is one run, written to ``reports/<run-id>/``:

- ``<notebook>.ipynb``: the executed notebook (``<notebook>.failed.ipynb`` when it failed);
- ``<notebook>.html``: the shareable report (successful notebooks only);
- ``manifest.json``: parameters, data fingerprint, git commit, package versions, durations,
  status and recorded findings of every notebook.

``reports/index.html`` is rebuilt from every manifest after each notebook. Parameters and data
are checked before any kernel starts; when they fail nothing is written. Every file is written
through a temporary name and a rename, so a killed run leaves no half-written file and the
previous reports untouched.
"""
from __future__ import annotations

import json
import os
import secrets
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


def _execute(job: dict, folder: Path, progress: bool) -> dict:
    stem = job["path"].stem
    partial = folder / f".{stem}.partial.ipynb"
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


def read_runs(reports: Path) -> list[dict]:
    """Every run's manifest under ``reports``, newest first; unreadable ones are skipped."""
    runs = []
    for path in reports.glob("*/manifest.json"):
        try:
            runs.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError):
            continue
    return sorted(runs, key=lambda r: (r.get("started_at", ""), r.get("run_id", "")), reverse=True)


def write_index(reports: Path) -> Path:
    """Rebuild ``reports/index.html`` from the manifests."""
    return atomic_write(reports / "index.html", render_index(read_runs(reports)))


def _save(manifest: dict, folder: Path, reports: Path) -> None:
    atomic_write(folder / "manifest.json", json.dumps(manifest, indent=2, default=str))
    write_index(reports)


def run(names: list[str] | None = None, overrides: dict[str, Any] | None = None, *, strings: bool = False,
        reports: Path | None = None, progress: bool = True) -> dict:
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

    Raises
    ------
    RunRefused
        Before anything is written, when a parameter or a data set is refused.
    """
    jobs = plan(list(names or []), dict(overrides or {}), strings=strings)
    reports = Path(reports or config.reports_dir())
    started = datetime.now(timezone.utc)
    run_id = f"{started:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
    folder = reports / run_id
    folder.mkdir(parents=True)
    manifest = {"run_id": run_id, "started_at": _now(), "status": "running", **environment_info(),
                "notebooks": []}
    _save(manifest, folder, reports)
    for i, job in enumerate(jobs, 1):
        if progress:
            print(f"[{i}/{len(jobs)}] {job['path'].stem}", flush=True)
        entry = _execute(job, folder, progress)
        executed = entry.pop("executed", None)
        if executed is not None:
            entry["html"] = f"{job['path'].stem}.html"
            atomic_write(folder / entry["html"], render_report(executed, entry, manifest))
        manifest["notebooks"].append(entry)
        _save(manifest, folder, reports)
    ok = all(e["status"] == "succeeded" for e in manifest["notebooks"])
    manifest.update(status="succeeded" if ok else "failed", finished_at=_now())
    _save(manifest, folder, reports)
    return manifest

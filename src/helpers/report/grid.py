"""Grids of runs, and where their jobs execute: grid files, one notebook job, a pool or a Dask cluster.

A grid file runs notebooks once per combination of parameter values (the cartesian product)::

    notebooks: [00_data_overview]   # or "all"
    parameters:                     # the same in every run (optional)
      DATASET: synthetic
    grid:                           # one run per combination of these values
      TOP_SHARE: [0.1, 0.2]
      CONFIDENCE: [0.9, 0.95]

`load_grid` reads the file and checks its shape; the runner then checks every point's
parameters and data, as for any run, before a kernel starts (`helpers.report.runner.run_grid`).

A job is one notebook with one point's parameters. `execute_job` runs it in one papermill
kernel and writes its executed notebook and HTML report into its run folder; `completed` runs
many jobs in this process, in a pool of worker processes, or on a Dask cluster (`connect`), and
yields each result as it finishes. Only the runner writes manifests and the index.
"""
from __future__ import annotations

import contextlib
import copy
import difflib
import functools
import itertools
import json
import math
import multiprocessing
import multiprocessing.forkserver
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nbformat
import papermill as pm
from traitlets.config import Config

from helpers.files import atomic_write
from helpers.findings import read_answers, read_findings
from helpers.steps.section import FAILED, SKIPPED, read_sections

from .html import render_report
from .params import ParameterError, inject_parameters, load_plain_yaml

if TYPE_CHECKING:
    from distributed import Client

GRID_KEYS = ("notebooks", "parameters", "grid")
MAX_POINTS = 1000  # grid points a file may make unless --max-points says more
# figures must be inline outputs whatever backend the caller's environment sets (e.g. Agg)
KERNEL_ENV = {"MPLBACKEND": "module://matplotlib_inline.backend_inline"}
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class GridError(ValueError):
    """A grid file that cannot be used: malformed YAML, a missing or unknown key, an empty grid."""


class SchedulerUnreachable(ConnectionError):
    """No Dask scheduler (or no worker) answered at the given address."""


@dataclass(frozen=True)
class Grid:
    """A parsed grid file: notebook names (empty: every notebook) and one parameter mapping per point."""

    notebooks: tuple[str, ...]
    points: tuple[dict, ...]
    varying: tuple[str, ...]
    source: str = "the grid file"

    def label(self, point: dict) -> str:
        """``TOP_SHARE=0.1, CONFIDENCE=0.9``: the point's values of the parameters the grid varies."""
        return ", ".join(f"{name}={point[name]}" for name in self.varying)


def load_grid(path: str | Path, *, max_points: int = MAX_POINTS) -> Grid:
    """Read a grid file (YAML) and expand it into points; `GridError` says what to fix.

    The file may hold only plain values (`helpers.report.params.load_plain_yaml`: no YAML tags,
    anchors or repeated keys), and it may make at most ``max_points`` points.

    Example
    -------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "grid.yaml"
    >>> _ = p.write_text("notebooks: all\\ngrid: {TOP_SHARE: [0.1, 0.2]}\\n")
    >>> [g.label(point) for g in [load_grid(p)] for point in g.points]
    ['TOP_SHARE=0.1', 'TOP_SHARE=0.2']
    """
    path = Path(path)
    try:
        data = load_plain_yaml(path.read_bytes(), source=str(path))
    except ParameterError as e:
        raise GridError(str(e)) from None
    except OSError as e:
        raise GridError(f"{path}: cannot be read ({e.strerror})") from None
    return parse_grid(data, source=str(path), max_points=max_points)


def parse_grid(data: Any, *, source: str = "the grid file", max_points: int = MAX_POINTS) -> Grid:
    """Check a grid file's mapping and expand its ``grid`` into the cartesian product of its lists.

    Parameters
    ----------
    data : Any
        The loaded YAML: ``notebooks`` (a list of names, one name, or ``all``), ``grid`` (parameter
        name -> non-empty list of values) and optionally ``parameters`` (name -> value, every run).
    source : str
        Name used in messages.
    max_points : int
        Refuse a grid of more points than this (``workbench run --max-points``).

    Returns
    -------
    Grid
        One point per combination, in the order of the lists (the last parameter varies fastest).

    Raises
    ------
    GridError
        Not a mapping, an unknown or missing key, an empty grid, a value that is not a list,
        a repeated value, a parameter given both fixed and in the grid, or more than
        ``max_points`` points.

    Example
    -------
    >>> g = parse_grid({"notebooks": ["00"], "grid": {"SEED": [1, 2], "CONFIDENCE": [0.9, 0.95]}})
    >>> len(g.points), g.points[1]
    (4, {'SEED': 1, 'CONFIDENCE': 0.95})
    """
    if not isinstance(data, dict):
        raise GridError(f"{source}: a grid file is a mapping with the keys notebooks, grid and (optionally) "
                        f"parameters; got {type(data).__name__}")
    for key in data:
        if key not in GRID_KEYS:
            close = difflib.get_close_matches(str(key), GRID_KEYS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise GridError(f"{source}: unknown key {key!r}{hint}; the keys are {', '.join(GRID_KEYS)}")
    fixed = _mapping(data.get("parameters") or {}, "parameters", source)
    axes = _axes(data.get("grid"), source)
    for name in axes:
        if name.lower() in {k.lower() for k in fixed}:
            raise GridError(f"{source}: {name} is both under parameters and under grid; keep it in one")
    count = math.prod(len(values) for values in axes.values())
    if count > max_points:
        sizes = " x ".join(f"{len(values)} {name}" for name, values in axes.items())
        raise GridError(f"{source}: the grid makes {count:,} points ({sizes}), more than the {max_points:,} "
                        f"allowed; make it smaller, or raise the limit with --max-points {count}")
    points = tuple({**fixed, **dict(zip(axes, combo))} for combo in itertools.product(*axes.values()))
    return Grid(_notebooks(data.get("notebooks"), source), points, tuple(axes), source)


def _notebooks(value: Any, source: str) -> tuple[str, ...]:
    if value == "all":
        return ()
    names = [value] if isinstance(value, str) else value
    if isinstance(names, list) and names and all(isinstance(v, str) for v in names):
        return tuple(names)
    numbers = [v for v in (names if isinstance(names, list) else [names]) if isinstance(v, (int, float))]
    hint = " (quote number prefixes: YAML reads 01 as the number 1)" if numbers else ""
    raise GridError(f"{source}: notebooks must be \"all\" or a list of notebook names, e.g. "
                    f"notebooks: [00_data_overview] or ['00']; got {value!r}{hint}")


def _mapping(value: Any, key: str, source: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise GridError(f"{source}: {key} must be a mapping of NAME: value; got {value!r}")
    return {str(k): v for k, v in value.items()}


def _axes(value: Any, source: str) -> dict[str, list]:
    """The ``grid`` mapping: each parameter with a non-empty list of distinct values."""
    if not value:
        raise GridError(f"{source}: grid is empty: give at least one parameter with a list of values, "
                        f"e.g. grid: {{TOP_SHARE: [0.1, 0.2]}}")
    axes = _mapping(value, "grid", source)
    for name, values in axes.items():
        if not isinstance(values, list) or not values:
            raise GridError(f"{source}: grid.{name} must be a non-empty list of values, e.g. {name}: "
                            f"[{values!r}, ...]; got {values!r}")
        seen = [json.dumps(v, sort_keys=True, default=str) for v in values]
        repeated = next((v for v, s in zip(values, seen) if seen.count(s) > 1), None)
        if repeated is not None:
            raise GridError(f"{source}: grid.{name} lists {repeated!r} more than once; each point must differ")
    lower = [n.lower() for n in axes]
    if len(set(lower)) < len(lower):
        raise GridError(f"{source}: grid names a parameter twice (names match in any case): {', '.join(axes)}")
    return axes


_ENV_STATE: dict[str, Any] = {"users": 0, "saved": {}}
_ENV_LOCK = threading.Lock()


@contextmanager
def kernel_env():
    """Set `KERNEL_ENV` for the kernels papermill starts (they inherit this process's environment).

    Counted, so that jobs in threads of one process (a Dask worker with several threads) never
    restore the old values while another job's kernel is starting.
    """
    with _ENV_LOCK:
        if _ENV_STATE["users"] == 0:
            _ENV_STATE["saved"] = {k: os.environ.get(k) for k in KERNEL_ENV}
            os.environ.update(KERNEL_ENV)
        _ENV_STATE["users"] += 1
    try:
        yield
    finally:
        with _ENV_LOCK:
            _ENV_STATE["users"] -= 1
            if _ENV_STATE["users"] == 0:
                for k, v in _ENV_STATE["saved"].items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v


def _kernel_config(folder: str) -> Config:
    """Kernel sockets as files in ``folder`` (one per job), not TCP ports.

    Kernels started at once in several processes pick their free TCP ports independently and
    can collide ("Address already in use", papermill issue #511); socket files in a folder of
    their own cannot. A short folder: a socket path may be at most about 100 characters.
    """
    return Config({"KernelManager": {"transport": "ipc", "ip": str(Path(folder) / "kernel")}})


def _papermill(job: dict) -> dict:
    """Execute the notebook into the scratch folder, then move it into the run folder."""
    stem = job["path"].stem
    partial = Path(job["scratch"]) / f"{stem}.ipynb"
    entry = {"notebook": stem, "parameters": job["parameters"], "given": job["given"], "data": job["data"],
             "cache_key": job.get("cache_key"), "stable_set": job.get("stable_set"),
             "data_parameters": job.get("data_parameters", []), "status": "running"}
    started = time.perf_counter()
    try:
        with kernel_env(), tempfile.TemporaryDirectory(prefix="wb-kernel-") as sockets:
            source = inject_parameters(nbformat.read(str(job["path"]), as_version=4), job["given"])
            pm.execute_notebook(source, str(partial), cwd=str(job["path"].parent),
                                progress_bar={"desc": job["progress"]} if job.get("progress") else False,
                                config=_kernel_config(sockets))
        entry["status"] = "succeeded"
    except pm.PapermillExecutionError as e:
        entry["status"], entry["error"] = "failed", f"{e.ename}: {e.evalue}"[:2000]
    except Exception as e:  # kernel died, timeout, unreadable notebook: still a failed notebook, not a crash
        entry["status"], entry["error"] = "failed", f"{type(e).__name__}: {e}"[:2000]
    entry["duration_s"] = round(time.perf_counter() - started, 2)
    if partial.exists():
        executed = nbformat.read(str(partial), as_version=4)
        entry["findings"] = read_findings(executed)
        entry["answers"] = read_answers(executed)
        if entry["status"] == "succeeded":
            _section_status(entry, read_sections(executed))
        complete = entry["status"] in ("succeeded", "partial")  # every cell ran: a report to show
        entry["ipynb"] = f"{stem}.ipynb" if complete else f"{stem}.failed.ipynb"
        if complete:
            partial.replace(Path(job["folder"]) / entry["ipynb"])
        else:  # kept for the error only: the outputs of a half-run notebook are never shared
            atomic_write(Path(job["folder"]) / entry["ipynb"], nbformat.writes(errors_only(executed)))
            partial.unlink()
        if complete:
            entry["executed"] = executed
    return entry


def _section_status(entry: dict, sections: list[dict]) -> None:
    """Mark a notebook whose cells all ran but with a failed section partial; list the sections that did not run."""
    for status, key in ((FAILED, "failed_sections"), (SKIPPED, "skipped_sections")):
        found = [{"name": str(s.get("name"))[:200], "reason": str(s.get("reason"))[:2000]}
                 for s in sections if s.get("status") == status]
        if found:
            entry[key] = found
    if entry.get("failed_sections"):
        entry["status"] = "partial"
        entry["error"] = ("failed sections: " + "; ".join(f"{s['name']} ({s['reason']})"
                                                         for s in entry["failed_sections"]))[:2000]


def errors_only(nb):
    """A copy of an executed notebook with every output removed but the error (name and message).

    What a failed run printed before it failed (tables, figures, data values in a traceback's
    frames) stays out of the reports folder; the error says what to fix.
    """
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.outputs = [nbformat.v4.new_output("error", ename=o.get("ename", ""), evalue=o.get("evalue", ""),
                                               traceback=[f"{o.get('ename', '')}: {o.get('evalue', '')}"])
                        for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    return nb


def execute_job(job: dict) -> dict:
    """Run one notebook job and write its executed notebook and HTML report into its run folder.

    Runs in a worker process (local pool or Dask worker) or in the runner's own process; it
    writes only files of its own notebook, never the manifest or the index.

    Parameters
    ----------
    job : dict
        ``path`` (the notebook), ``given`` (parameters passed to papermill), ``parameters``
        (effective), ``data`` (data set and fingerprint), ``cache_key``; ``folder`` and ``scratch``
        (run folder and its scratch folder); ``run`` (run_id, started_at, code: the report
        header); ``show_code``; ``progress`` (a progress-bar label, or None for no bar).

    Returns
    -------
    dict
        The manifest entry: notebook, parameters, data, cache_key, status, duration_s; findings
        and ipynb when the notebook produced output; html when it succeeded; error when it failed.
    """
    entry = _papermill(job)
    executed = entry.pop("executed", None)
    if executed is not None:
        entry["html"] = f"{entry['notebook']}.html"
        page = render_report(executed, entry, job["run"], show_code=job.get("show_code", False))
        atomic_write(Path(job["folder"]) / entry["html"], page)
    return entry


def connect(address: str, *, timeout: float = 10.0) -> Client:
    """A `distributed.Client` on the scheduler at ``address``, with at least one worker.

    Raises
    ------
    SchedulerUnreachable
        When no scheduler answers within ``timeout`` seconds, or it has no worker by then.
    """
    from distributed import Client

    try:
        client = Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as e:
        raise SchedulerUnreachable(f"no Dask scheduler answered at {address} within {timeout:g} s "
                                   f"({type(e).__name__}: {e}); start one (`dask scheduler`, then "
                                   f"`dask worker {address} --nthreads 1`) or check the address") from None
    try:
        client.wait_for_workers(1, timeout=timeout)
    except (OSError, TimeoutError) as e:
        client.close()
        raise SchedulerUnreachable(f"the Dask scheduler at {address} has no worker after {timeout:g} s "
                                   f"({type(e).__name__}); start one: `dask worker {address} --nthreads 1`") from None
    return client


def completed(fn: Callable[[dict], Any], jobs: list[dict], *, workers: int = 1,
              client: Client | None = None) -> Iterator[tuple[int, Any]]:
    """Run ``fn`` on every job; yield ``(index, result)`` as each finishes, the exception if it raised.

    Parameters
    ----------
    fn : callable
        An importable function (workers import it by name), e.g. `execute_job`.
    jobs : list of dict
        Its arguments, one job each.
    workers : int
        Local worker processes; with 1 the jobs run one after another in this process.
    client : distributed.Client, optional
        Run the jobs on this Dask cluster instead (`connect`); ``workers`` is then not used.

    Example
    -------
    >>> sorted(completed(abs, [-2, 3]))
    [(0, 2), (1, 3)]
    """
    if client is not None:
        yield from _on_dask(fn, jobs, client)
    elif workers <= 1 or len(jobs) <= 1:
        for i, job in enumerate(jobs):
            yield i, _outcome(functools.partial(fn, job))
    else:
        yield from _in_pool(fn, jobs, min(workers, len(jobs)))


def _outcome(get: Callable[[], Any]) -> Any:
    try:
        return get()
    except Exception as e:  # the job's own failure, a dead worker, a lost connection
        return e


WATCH_SECONDS = 0.5  # how often a pool worker checks that the runner that started it still lives


def _worker_init(runner: int) -> None:
    """In a pool worker: one BLAS/OpenMP thread per kernel, and an end when the runner dies.

    With one kernel per core, more threads per kernel only compete for the same cores. A worker
    is a child of the forkserver, not of the runner, so a killed runner (``kill -9``) would leave
    it, and its kernel, running into the dead run's folder: a watchdog thread ends both.
    """
    for name in THREAD_VARS:
        os.environ.setdefault(name, "1")
    threading.Thread(target=_watch, args=(runner,), name="runner-watchdog", daemon=True).start()


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (someone else's process counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _watch(runner: int) -> None:
    """Poll ``runner``; when it is gone, stop this worker's kernels and exit at once."""
    while alive(runner):
        time.sleep(WATCH_SECONDS)
    end_children()
    os._exit(1)


def end_children(grace: float = 2.0) -> None:
    """Terminate this process's descendants (kernels), then kill those still running after ``grace`` s."""
    import psutil

    children = psutil.Process().children(recursive=True)
    for child in children:
        with contextlib.suppress(psutil.Error):
            child.terminate()
    _, alive = psutil.wait_procs(children, timeout=grace)
    for child in alive:
        with contextlib.suppress(psutil.Error):
            child.kill()


def _context() -> multiprocessing.context.BaseContext:
    """Workers forked from a fresh server process that imported this module once (not from the runner).

    Not a plain fork: the runner has started pandas/pyarrow/DuckDB threads, whose locks a fork
    would copy half-way. Not spawn: each worker would import the whole stack again, all at once.
    """
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


def warm_up() -> None:
    """Start the workers' server process now, so that its imports overlap the runner's checks."""
    _context()
    multiprocessing.forkserver.ensure_running()


def _in_pool(fn: Callable, jobs: list, workers: int) -> Iterator[tuple[int, Any]]:
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=_context(),
                               initializer=_worker_init, initargs=(os.getpid(),))
    try:
        futures = {pool.submit(fn, job): i for i, job in enumerate(jobs)}
        for future in as_completed(futures):
            yield futures[future], _outcome(future.result)
    finally:  # also on Ctrl-C: queued jobs never start
        pool.shutdown(wait=True, cancel_futures=True)


def _on_dask(fn: Callable, jobs: list, client: Client) -> Iterator[tuple[int, Any]]:
    from distributed import as_completed as dask_completed

    futures = client.map(fn, jobs, pure=False)  # pure=False: equal jobs are still separate runs
    index = {f.key: i for i, f in enumerate(futures)}
    try:
        for future in dask_completed(futures, loop=client.loop):
            yield index[future.key], _outcome(future.result)
    finally:
        client.cancel(futures)

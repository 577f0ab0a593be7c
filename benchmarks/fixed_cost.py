"""Fixed cost of a run: what every notebook pays before its own work. Prints figures, asserts nothing.

    python benchmarks/fixed_cost.py                 # 5 repeats of each measurement
    python benchmarks/fixed_cost.py --repeats 9 --jobs 2
    python benchmarks/fixed_cost.py --only imports  # just the kernel imports of the steps modules

1. empty: a notebook holding only its ``parameters`` cell, through the runner as a user runs it
   (``workbench run <it> --force`` in a fresh process, a copy of the project's layout holding
   that notebook only): interpreter start, the runner's imports, the plan, one kernel, the HTML
   report, the manifest and the index.
2. no-op report: ``workbench run --all --jobs N`` on the default data set when every notebook is
   unchanged since the last run (what a second ``make report`` does): the runner's imports,
   the check of the data, the cache keys, and the index; no kernel starts.
3. imports: ``import helpers.steps.<module>`` in a fresh interpreter, timed inside it: what a
   notebook's first cell costs before the kernel does anything else.

Each figure is the median (and the fastest) of ``--repeats`` runs, as wall time and as CPU time
(user + system, of the process and every process it waited for). On a machine shared with other
work the CPU time is the steadier of the two; wall time is what a user waits.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

STEPS = ("overview", "churn", "retention", "recovery")
IMPORT = ("import time; w, c = time.perf_counter(), time.process_time(); import {module}; "
          "print(time.perf_counter() - w, time.process_time() - c)")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: list[str], env: dict | None = None,
          ok: tuple[int, ...] = (0,)) -> tuple[float, float, subprocess.CompletedProcess]:
    """Run ``command``; (wall seconds, CPU seconds of it and its waited-for descendants, the process)."""
    cpu, started = _children_cpu(), time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **(env or {})})
    wall, cpu = time.perf_counter() - started, _children_cpu() - cpu
    if done.returncode not in ok:
        sys.exit(f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return wall, cpu, done


def summary(label: str, walls: list[float], cpus: list[float]) -> str:
    return (f"{label:<44} wall {statistics.median(walls):5.2f} s (fastest {min(walls):5.2f})   "
            f"CPU {statistics.median(cpus):5.2f} s (least {min(cpus):5.2f})")


def workbench(*args: str) -> list[str]:
    return [sys.executable, "-m", "helpers.cli", *args]


def empty_project(folder: Path) -> Path:
    """A project root whose notebooks/ holds one notebook: a ``parameters`` cell and nothing else."""
    (folder / "notebooks").mkdir(parents=True)
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("SEED = 0  # a parameter, so that papermill has a cell to inject after")
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(folder / "notebooks" / "90_empty.ipynb"))
    return folder


def empty_runs(repeats: int, scratch: Path) -> None:
    root, reports = empty_project(scratch / "project"), scratch / "empty-reports"
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu, _ = timed(workbench("run", "90_empty", "--force", "--reports", str(reports), "--no-progress"),
                             env={"WORKBENCH_ROOT": str(root)})
        walls.append(wall)
        cpus.append(cpu)
    kernel = [e["duration_s"] for p in reports.glob("2*/manifest.json") for e in json.loads(p.read_text())["notebooks"]]
    print(summary("empty notebook through the runner", walls, cpus)
          + f"   (papermill part {statistics.median(kernel):.2f} s)")


def noop_runs(repeats: int, jobs: int, dataset: str, scratch: Path) -> None:
    reports = scratch / "report"
    command = workbench("run", "--all", "-p", f"dataset={dataset}", "--jobs", str(jobs), "--reports", str(reports),
                        "--no-progress")
    notebooks = len(list(Path(__file__).resolve().parents[1].glob("notebooks/*.ipynb")))
    walls, cpus, executed = [], [], 0
    while len(walls) < repeats:
        wall, cpu, done = timed(command, ok=(0, 1))
        if done.stdout.count("skipped (--force reruns)") == notebooks:
            walls.append(wall)
            cpus.append(cpu)
            continue
        executed += 1  # the first run; or the helpers' source changed meanwhile (the cache key holds its digest)
        print(f"(a run that executed notebooks, not part of the figure: wall {wall:.1f} s)")
        if executed > 3:
            sys.exit(f"the notebooks keep running instead of being skipped:\n{done.stdout}")
    print(summary(f"no-op make report (--jobs {jobs}, {notebooks} skipped)", walls, cpus))


def import_runs(repeats: int) -> None:
    for name in STEPS:
        module = f"helpers.steps.{name}"
        walls, cpus = [], []
        for _ in range(repeats):
            _, _, done = timed([sys.executable, "-c", IMPORT.format(module=module)])
            wall, cpu = map(float, done.stdout.split())
            walls.append(wall)
            cpus.append(cpu)
        print(summary(f"import {module}", walls, cpus))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs of each measurement [default: 5]")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    parser.add_argument("--jobs", type=int, default=cores, help=f"--jobs of the report runs [default: {cores}]")
    parser.add_argument("--dataset", default="synthetic", help="data set of the report runs [default: synthetic]")
    parser.add_argument("--only", choices=["empty", "report", "imports"], help="run one of the three measurements")
    args = parser.parse_args()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{cores} cores, load average {load}; Python {sys.version.split()[0]}; {args.repeats} repeats")
    with tempfile.TemporaryDirectory(prefix="wb-fixed-") as scratch:
        if args.only in (None, "empty"):
            empty_runs(args.repeats, Path(scratch))
        if args.only in (None, "report"):
            noop_runs(args.repeats, args.jobs, args.dataset, Path(scratch))
        if args.only in (None, "imports"):
            import_runs(args.repeats)
    print(f"load average at the end {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()

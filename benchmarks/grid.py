"""Wall times of grid runs and of `make report`: one job at a time vs in parallel. Prints figures, asserts nothing.

    python benchmarks/grid.py                              # on the default data set (synthetic)
    python benchmarks/grid.py --dataset data/raw/mine --jobs 4
    python benchmarks/grid.py --only report                # just the `make report` timing

1. grid: 00_data_overview over 8 grid points (TOP_SHARE x CONFIDENCE x SEED), ``--jobs 1`` vs
   ``--jobs N``, with ``--force``: wall time, seconds per run, speedup.
2. report: every notebook on the data set, as ``make report`` runs them (``workbench run --all``),
   ``--jobs 1`` vs ``--jobs N``: wall time and each notebook's seconds from the manifest; then
   the same command again without ``--force`` (every notebook unchanged, so skipped).

Each measurement runs the `workbench` command in a fresh temporary reports folder, as a user would.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

GRID = {"TOP_SHARE": [0.1, 0.2], "CONFIDENCE": [0.9, 0.95], "SEED": [0, 1]}  # 8 points


def workbench(*args: str) -> tuple[float, subprocess.CompletedProcess]:
    """Run ``workbench ARGS``; (wall seconds, the finished process). Stops on a failed run."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "helpers.cli", *args], capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"workbench {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return wall, done


def entries(reports: Path) -> list[dict]:
    """Every notebook entry of every run under ``reports``."""
    return [e for p in reports.glob("*/manifest.json") if not p.parent.is_symlink()
            for e in json.loads(p.read_text())["notebooks"]]


def grid_runs(dataset: str, jobs: int, scratch: Path) -> None:
    grid = scratch / "grid.yaml"
    grid.write_text(yaml.safe_dump({"notebooks": ["00_data_overview"], "parameters": {"DATASET": dataset},
                                    "grid": GRID}))
    walls = {}
    for n in (1, jobs):
        reports = scratch / f"grid-jobs{n}"
        walls[n], _ = workbench("run", "--grid", str(grid), "--jobs", str(n), "--force", "--reports", str(reports),
                                "--no-progress")
        seconds = [e["duration_s"] for e in entries(reports)]
        print(f"grid, 8 runs of 00_data_overview, --jobs {n}: wall {walls[n]:.1f} s; per run "
              f"{min(seconds):.1f}-{max(seconds):.1f} s (sum {sum(seconds):.1f} s)")
    print(f"grid speedup, --jobs {jobs} vs --jobs 1: {walls[1] / walls[jobs]:.2f}x")


def report_runs(dataset: str, jobs: int, scratch: Path) -> None:
    walls = {}
    for n in (1, jobs):
        reports = scratch / f"report-jobs{n}"
        walls[n], _ = workbench("run", "--all", "-p", f"dataset={dataset}", "--jobs", str(n), "--force",
                                "--reports", str(reports), "--no-progress")
        per = ", ".join(f"{e['notebook']} {e['duration_s']:.1f} s" for e in sorted(entries(reports),
                                                                                  key=lambda e: e["notebook"]))
        print(f"make report (workbench run --all), --jobs {n}: wall {walls[n]:.1f} s; {per}")
    print(f"make report speedup, --jobs {jobs} vs --jobs 1: {walls[1] / walls[jobs]:.2f}x")
    again, done = workbench("run", "--all", "-p", f"dataset={dataset}", "--jobs", str(jobs),
                            "--reports", str(scratch / f"report-jobs{jobs}"), "--no-progress")
    skipped = done.stdout.count("skipped (--force reruns)")
    print(f"make report again, nothing changed: wall {again:.1f} s ({skipped} notebooks skipped)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="synthetic", help="data set for every run [default: synthetic]")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    parser.add_argument("--jobs", type=int, default=cores, help=f"parallel jobs to compare with 1 [default: {cores}]")
    parser.add_argument("--only", choices=["grid", "report"], help="run one of the two benchmarks")
    args = parser.parse_args()
    dataset = str(Path(args.dataset).resolve()) if Path(args.dataset).exists() else args.dataset
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{cores} cores, load average {load}; data set {dataset}; --jobs {args.jobs} vs 1")
    with tempfile.TemporaryDirectory(prefix="wb-bench-") as scratch:
        if args.only in (None, "grid"):
            grid_runs(dataset, args.jobs, Path(scratch))
        if args.only in (None, "report"):
            report_runs(dataset, args.jobs, Path(scratch))


if __name__ == "__main__":
    main()

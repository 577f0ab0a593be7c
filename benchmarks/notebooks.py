"""Notebooks end to end on both computation paths, by data size (01 and 03 by default). Prints figures only.

    python benchmarks/notebooks.py                          # 20k, 50k and 100k customers
    python benchmarks/notebooks.py --sizes 20000 200000 --notebooks 01

Each figure is one ``workbench run <notebook> -p DATASET=<data> -p ENGINE=<path> --force`` in a
fresh process, as a user runs it (reports into a temporary folder): wall time and CPU time (user
+ system of the runner and its kernel). ``rows`` computes on every customer in pandas and
lifelines; ``aggregated`` on DuckDB counts, with the sections that need one row per customer on
a random sample of ``SAMPLE_CUSTOMERS`` (the notebook's default, 50,000). The crossover printed
at the end is the smallest size at which the aggregated path is faster for every notebook timed:
where ``ENGINE=auto`` should switch (the notebooks' ``LARGE_DATA``).

Data: the generator's defaults (36 months, seed 7) written to ``data/processed/bench/nb<N>/``
(git-ignored) when missing.
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = {"00": "00_data_overview", "01": "01_churn_survival", "02": "02_retention_effort_revenue",
             "03": "03_complaint_recovery"}
ENGINES = ("rows", "aggregated")


def data_set(n: int) -> Path:
    """The benchmark data set of ``n`` customers, generated once."""
    folder = ROOT / "data" / "processed" / "bench" / f"nb{n}"
    if not (folder / "customers.parquet").exists():
        from helpers.data import synth

        started = time.perf_counter()
        synth.write(*synth.generate(n, 36, seed=7), folder)
        print(f"  generated {n:,} customers in {time.perf_counter() - started:.1f} s", flush=True)
    return folder


def run(notebook: str, folder: Path, engine: str) -> tuple[float, float, bool]:
    """Wall and CPU seconds of one forced run of ``notebook``, and whether it succeeded."""
    workbench = Path(sys.executable).with_name("workbench")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryDirectory() as reports:
        started = time.perf_counter()
        done = subprocess.run([str(workbench), "run", NOTEBOOKS[notebook], "-p", f"DATASET={folder}", "-p",
                               f"ENGINE={engine}", "--force", "--no-progress", "--reports", reports],
                              cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})
        wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        print(done.stdout[-2000:], done.stderr[-2000:], sep="\n", file=sys.stderr)
    return wall, cpu, done.returncode == 0


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 50_000, 100_000])
    parser.add_argument("--notebooks", nargs="+", choices=sorted(NOTEBOOKS), default=["01", "03"])
    args = parser.parse_args(argv)
    print(f"load average at the start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)")
    print("| notebook | customers | rows: wall | rows: CPU | aggregated: wall | aggregated: CPU | faster |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    faster: dict[int, set] = {}
    for n in args.sizes:
        folder = data_set(n)
        for notebook in args.notebooks:
            times = {engine: run(notebook, folder, engine) for engine in ENGINES}
            if not all(ok for _, _, ok in times.values()):
                print(f"| {notebook} | {n:,} | a run failed: see above | | | | |", flush=True)
                continue
            best = min(ENGINES, key=lambda e: times[e][0])
            faster.setdefault(n, set()).add(best)
            (rw, rc, _), (aw, ac, _) = times["rows"], times["aggregated"]
            print(f"| {notebook} | {n:,} | {rw:.1f} s | {rc:.1f} s | {aw:.1f} s | {ac:.1f} s | {best} |", flush=True)
    crossing = [n for n in args.sizes if faster.get(n) == {"aggregated"}]
    print(f"crossover: the aggregated path is faster for every notebook from {crossing[0]:,} customers" if crossing
          else "crossover: the row path is faster at every size timed")


if __name__ == "__main__":
    main()

"""Benchmark: what the aggregated path pays to open a large data set, part by part. Prints figures.

    python benchmarks/opening.py                         # 1M and 10M customers
    python benchmarks/opening.py --sizes 10000000 --repeats 3

Data: ``data/processed/bench/n<N>/`` as written by ``benchmarks/generate.py N`` (written first
when missing). Each part runs in a fresh Python process (nothing it reads is cached in the
process; the operating system's file cache is warm after the first), timed inside it:

- *source*: ``scale.Source(folder)``: the views, the customers file read once for its facts;
- *check*: ``scale.check``: the data contract over every row in DuckDB, what the runner does
  once per data fingerprint before any kernel starts;
- *sample*: ``Source.sample_dataset``: 50,000 customers with their contacts, validated in pandas;
- *open_data*: a kernel's whole first cell on the aggregated path (the check remembered, as
  the runner leaves it): source, fingerprint, sample, segments, counts;
- *complaint states*: ``Source.complaint_person_period`` with notebook 03's covariates and
  strata at half-month width, then the piecewise-exponential fit (``scale.complaint_state_model``).

Figures are the median of ``--repeats`` processes, with peak memory (``ru_maxrss``) of the
slowest. Nothing here is asserted in the tests; tests/test_scale.py checks the results.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COVARIATES = ["customer_type", "satisfaction", "log2_monthly_value", "wallet_share", "below_parity"]

PARTS = {
    "source": "src = scale.Source(folder)",
    "check": "src = scale.Source(folder); start(); scale.check(src)",
    "sample": "src = scale.Source(folder); start(); src.sample_dataset(50_000, seed=0)",
    "open_data": "scale.checked(scale.Source(folder)); start(); scale.open_data(folder, engine='aggregated')",
    "complaint states": ("src = scale.Source(folder); start(); scale.complaint_state_model("
                         f"src, covariates={COVARIATES!r}, strata=['contract'], width=0.5)"),
}

CHILD = """
import json, resource, sys, time
from helpers.engine import scale
folder = sys.argv[1]
t0 = [time.perf_counter()]
def start():
    t0[0] = time.perf_counter()
{code}
print("RESULT", json.dumps({{"seconds": time.perf_counter() - t0[0],
                   "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20}}))
"""


def measure(part: str, folder: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD.format(code=PARTS[part]), str(folder)],
                          capture_output=True, text=True, cwd=ROOT)
    if done.returncode:
        sys.exit(f"{part} on {folder} failed:\n{done.stderr}")
    lines = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
    if not lines:
        sys.exit(f"{part} on {folder} printed no result:\n{done.stdout[-2000:]}")
    return json.loads(lines[-1].removeprefix("RESULT "))


def data_for(n: int) -> Path:
    folder = ROOT / "data" / "processed" / "bench" / f"n{n}"
    if not (folder / "customers.parquet").exists():
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "generate.py"), str(n), str(folder)], check=True)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per figure [default: 3]")
    parser.add_argument("--parts", nargs="+", choices=list(PARTS), default=list(PARTS))
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    for n in args.sizes:
        folder = data_for(n)
        for part in args.parts:
            runs = [measure(part, folder) for _ in range(args.repeats)]
            seconds = [r["seconds"] for r in runs]
            print(f"{n:>12,} customers  {part:<17} {statistics.median(seconds):7.2f} s "
                  f"(fastest {min(seconds):6.2f})  peak {max(r['peak_gib'] for r in runs):5.2f} GiB", flush=True)
    print(f"load average at the end {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()

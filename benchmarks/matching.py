"""Benchmark: the landmark matching of `recovery.paradox_cohort`, sorted windows and k-d trees
against the full scan it replaced.

    python benchmarks/matching.py                                  # 20k, 50k, 100k; full scan up to 50k
    python benchmarks/matching.py --sizes 20000 --full-scan-up-to 20000

Data: ``synth.generate(N, 36, seed=7)`` in memory (the default data set's settings at N
customers). What is timed is notebook 03's call, ``paradox_cohort(customers, contacts,
revenue)``, best of ``--repeat`` runs; "matching" is the part spent in ``recovery._match``. The
full scan (``tests.test_recovery.full_scan_match``: the earlier implementation, verbatim) runs once per size,
and the script prints whether its cohort is identical to the new one. Nothing is asserted
(tests/test_recovery.py checks the equality).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import pandas as pd

from helpers.data import schema as S
from helpers.data import synth
from helpers.stats import recovery as R

# the reference, the O(n^2) scan that `recovery._match` replaced, lives once: in the test that compares them
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.test_recovery import full_scan_match  # noqa: E402

# ---- timing --------------------------------------------------------------------------------------
_NEW = R._match  # the implementation measured


def _timed(tables: dict, match) -> tuple[pd.DataFrame, float, float]:
    """(cohort, seconds for paradox_cohort, seconds of it in the matching) with ``match`` as `recovery._match`."""
    spent = []

    def timed_match(*args, **kwargs):
        began = time.perf_counter()
        pairs = match(*args, **kwargs)
        spent.append(time.perf_counter() - began)
        return pairs

    R._match = timed_match
    try:
        began = time.perf_counter()
        cohort = R.paradox_cohort(tables[S.CUSTOMERS], tables[S.CONTACTS], tables[S.REVENUE])
        return cohort, time.perf_counter() - began, spent[0]
    finally:
        R._match = _NEW


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 50_000, 100_000])
    parser.add_argument("--full-scan-up-to", type=int, default=50_000, help="largest size timed with the full scan")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the new code per size (the best is shown)")
    args = parser.parse_args(argv)
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}; load average "
          f"{os.getloadavg()[0]:.1f}")
    for n in args.sizes:
        tables, _ = synth.generate(n, 36, seed=7)
        runs = [_timed(tables, _NEW) for _ in range(args.repeat)]
        cohort, seconds, matching = min(runs, key=lambda r: r[1])
        sets = cohort[R.MATCH_ID].nunique()
        print(f"\n{n:,} customers: {sets:,} matched sets, {len(cohort):,} rows")
        print(f"  sorted windows + k-d tree  {seconds:7.2f} s  (matching {matching:6.2f} s)")
        if n > args.full_scan_up_to:
            continue
        old, old_seconds, old_matching = _timed(tables, full_scan_match)
        same = old.equals(cohort) and old.attrs == cohort.attrs
        print(f"  full scan (reference)      {old_seconds:7.2f} s  (matching {old_matching:6.2f} s)")
        print(f"  speed-up {old_seconds / seconds:.1f}x (matching {old_matching / matching:.0f}x); "
              f"cohorts identical: {'yes' if same else 'NO'}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()

"""Benchmark: churn survival (KM by segment + the proportional-hazards model) on the aggregated
path against lifelines on one row per customer; and the time-varying complaint model.

    python benchmarks/survival.py                          # 100k, 1M, 10M; row-level up to 1M
    python benchmarks/survival.py --sizes 100000 --rows-up-to 100000
    python benchmarks/survival.py --complaints --sizes 100000 1000000
    python benchmarks/survival.py --compare                # beside statsmodels, scikit-survival, a DuckDB scan

Data: ``data/processed/bench/n<N>/`` as written by ``benchmarks/generate.py N`` (written first
when missing). Every measurement runs in a fresh Python process, so its peak memory
(``ru_maxrss``) is its own; wall times include reading the data.

The model is the one the issue asks to compare, with heavy ties: tenure in whole months
(rounded up), contract as strata, customer type, value x satisfaction quadrant and below-parity
service as covariates. Workbench path: DuckDB collapses the customers, KM/log-rank by contract
from the counts, the exact Efron Cox fit from the counts (`scale.fit_cox_counts`, `helpers.stats.efron`)
and the piecewise-exponential model beside it; lifelines' weighted Cox on the same collapsed rows
is timed after them, outside the path's time, for comparison. Row level: pandas reads the
columns, the segments are added, KM/log-rank per customer, lifelines CoxPHFitter with its
default algorithm choice and with ``batch_mode=True``. The ratio compares the workbench path
with the faster of the two.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

COVARIATES = ["customer_type", "quadrant", "below_parity"]
STRATA = "contract"
ROOT = Path(__file__).resolve().parents[1]


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20


def _hrs(model) -> dict:
    import numpy as np
    return {str(k): float(np.exp(v)) for k, v in model.params_.items()}


# ---- one measurement, in its own process ----------------------------------------------------
def aggregated(folder: Path) -> dict:
    from helpers.engine import scale
    from helpers.stats import pwe, survival
    began = time.perf_counter()
    src = scale.Source(folder)
    counts = src.collapse([STRATA])
    survival.km_table(counts, group=STRATA, weights=scale.WEIGHT)
    survival.km_summary(counts, group=STRATA, horizon=24, weights=scale.WEIGHT)
    survival.logrank(counts, group=STRATA, weights=scale.WEIGHT)
    km = time.perf_counter() - began
    rows = src.collapse([*COVARIATES, STRATA], resolution=1.0).dropna()
    fitted = time.perf_counter()
    cox = scale.fit_cox_counts(rows, covariates=COVARIATES, strata=STRATA)
    fit = time.perf_counter() - fitted
    model = time.perf_counter() - began - km
    piecewise = pwe.fit_pwe(pwe.person_period(rows, columns=[*COVARIATES, STRATA]),
                            covariates=COVARIATES, strata=STRATA)
    seconds = time.perf_counter() - began
    fitted = time.perf_counter()  # the former path, for comparison: lifelines' weighted Efron on the same rows
    weighted = survival.fit_cox(rows, covariates=COVARIATES, strata=STRATA, weights=scale.WEIGHT)
    weighted_seconds = time.perf_counter() - fitted
    unstratified = scale.fit_cox_counts(rows, covariates=[*COVARIATES, STRATA])  # scikit-survival's model
    return {"hr_unstratified": _hrs(unstratified),
            "seconds": seconds, "km_seconds": km, "cox_seconds": model, "fit_seconds": fit,
            "lifelines_weighted_seconds": weighted_seconds, "collapsed_rows": len(rows),
            "customers": int(rows[scale.WEIGHT].sum()), "hr": _hrs(cox), "hr_pwe": _hrs(piecewise),
            "hr_lifelines_weighted": _hrs(weighted), "peak_gib": _peak_gib()}


def _customers(folder: Path):
    """The model's columns of every customer, with the segments added and tenure in whole months."""
    import numpy as np
    import pandas as pd

    from helpers.data import schema as S
    from helpers.data.segments import add_segments
    wanted = [S.TENURE, S.CHURNED, S.CONTRACT, S.CUSTOMER_TYPE, S.MONTHLY_VALUE, S.SATISFACTION, S.RELATIVE_SERVICE]
    customers = add_segments(pd.read_parquet(folder / "customers.parquet", columns=wanted))
    customers[S.TENURE] = np.ceil(customers[S.TENURE])
    return customers


def _row_design(customers, strata: list[str]):
    from helpers.data import schema as S
    from helpers.stats import survival
    covariates = COVARIATES if strata else [*COVARIATES, STRATA]
    design, _ = survival.cox_design(customers, covariates=covariates, strata=strata, duration=S.TENURE,
                                    event=S.CHURNED)
    return design


def rows(folder: Path, batch_mode) -> dict:
    from lifelines import CoxPHFitter

    from helpers.data import schema as S
    from helpers.stats import survival
    began = time.perf_counter()
    customers = _customers(folder)
    load = time.perf_counter() - began
    survival.km_table(customers, group=STRATA)
    survival.km_summary(customers, group=STRATA, horizon=24)
    survival.logrank(customers, group=STRATA)
    km = time.perf_counter() - began - load
    design = _row_design(customers, [STRATA])
    del customers
    fitted = time.perf_counter()
    cox = CoxPHFitter().fit(design, duration_col=S.TENURE, event_col=S.CHURNED, strata=[STRATA], batch_mode=batch_mode)
    return {"seconds": time.perf_counter() - began, "load_seconds": load, "km_seconds": km,
            "cox_seconds": time.perf_counter() - fitted, "hr": _hrs(cox), "peak_gib": _peak_gib()}


def rows_statsmodels(folder: Path) -> dict:
    """statsmodels' PHReg (Efron ties, the same strata) on one row per customer: the Cox fit alone after loading."""
    import numpy as np
    import pandas as pd
    from statsmodels.duration.hazard_regression import PHReg

    from helpers.data import schema as S
    began = time.perf_counter()
    design = _row_design(_customers(folder), [STRATA])
    load = time.perf_counter() - began
    terms = [c for c in design.columns if c not in (S.TENURE, S.CHURNED, STRATA)]
    fitted = time.perf_counter()
    fit = PHReg(design[S.TENURE].to_numpy(), design[terms].to_numpy(dtype=float), status=design[S.CHURNED].to_numpy(),
                strata=pd.factorize(design[STRATA])[0], ties="efron").fit()
    return {"seconds": time.perf_counter() - began, "load_seconds": load, "cox_seconds": time.perf_counter() - fitted,
            "hr": {t: float(np.exp(b)) for t, b in zip(terms, fit.params)}, "peak_gib": _peak_gib()}


def rows_sksurv(folder: Path) -> dict:
    """scikit-survival's CoxPHSurvivalAnalysis (Efron ties) on one row per customer. It has no strata: contract
    enters as covariates, and the comparison is with the workbench's unstratified fit."""
    import numpy as np
    from sksurv.linear_model import CoxPHSurvivalAnalysis
    from sksurv.util import Surv

    from helpers.data import schema as S
    began = time.perf_counter()
    design = _row_design(_customers(folder), [])
    load = time.perf_counter() - began
    terms = [c for c in design.columns if c not in (S.TENURE, S.CHURNED)]
    fitted = time.perf_counter()
    y = Surv.from_arrays(event=design[S.CHURNED].astype(bool).to_numpy(), time=design[S.TENURE].to_numpy())
    fit = CoxPHSurvivalAnalysis(ties="efron").fit(design[terms].to_numpy(dtype=float), y)
    return {"seconds": time.perf_counter() - began, "load_seconds": load, "cox_seconds": time.perf_counter() - fitted,
            "hr": {t: float(np.exp(b)) for t, b in zip(terms, fit.coef_)}, "peak_gib": _peak_gib()}


def duckdb_scan(folder: Path) -> dict:
    """The floor: DuckDB reading the model's columns of every customer once (a bare aggregate, nothing fitted)."""
    import duckdb

    from helpers.data import schema as S
    began = time.perf_counter()
    columns = [S.TENURE, S.CHURNED, S.CONTRACT, S.CUSTOMER_TYPE, S.MONTHLY_VALUE, S.SATISFACTION, S.RELATIVE_SERVICE]
    sums = ", ".join(f"count(DISTINCT {c})" if c in (S.CONTRACT, S.CUSTOMER_TYPE) else f"sum({c}::DOUBLE)"
                     for c in columns)
    duckdb.connect().execute(f"SELECT {sums} FROM read_parquet('{folder / 'customers.parquet'}')").fetchall()
    return {"seconds": time.perf_counter() - began, "peak_gib": _peak_gib()}


def complaints_aggregated(folder: Path) -> dict:
    from helpers.engine import scale
    began = time.perf_counter()
    model = scale.complaint_state_model(scale.Source(folder), covariates=["customer_type"], strata=[STRATA], width=0.5)
    return {"seconds": time.perf_counter() - began, "cells": model.cells, "hr": _hrs(model), "peak_gib": _peak_gib()}


def complaints_rows(folder: Path) -> dict:
    import pandas as pd

    from helpers.data import schema as S
    from helpers.data.validate import validate
    from helpers.stats import complaints
    began = time.perf_counter()
    tables = validate({S.CUSTOMERS: pd.read_parquet(folder / "customers.parquet"),
                       S.CONTACTS: pd.read_parquet(folder / "contacts.parquet")})
    episodes = complaints.complaint_episodes(tables[S.CUSTOMERS], tables[S.CONTACTS],
                                             covariates=["customer_type", STRATA])
    load = time.perf_counter() - began
    model = complaints.complaint_state_model(episodes, covariates=["customer_type"], strata=STRATA)
    return {"seconds": time.perf_counter() - began, "load_seconds": load, "episodes": len(episodes), "hr": _hrs(model),
            "peak_gib": _peak_gib()}


MEASURES = {"aggregated": lambda f: aggregated(f), "rows-default": lambda f: rows(f, None),
            "rows-batch": lambda f: rows(f, True), "rows-statsmodels": rows_statsmodels, "rows-sksurv": rows_sksurv,
            "duckdb-scan": duckdb_scan, "complaints-aggregated": complaints_aggregated,
            "complaints-rows": complaints_rows}
LABELS = {"aggregated": "workbench (aggregated)", "rows-default": "lifelines default", "rows-batch":
          "lifelines batch_mode", "rows-statsmodels": "statsmodels PHReg", "rows-sksurv": "scikit-survival (no strata)",
          "duckdb-scan": "bare DuckDB scan"}


def _measure(kind: str, folder: Path, timeout: float) -> dict:
    """Run one measurement in a fresh process; its JSON result, or why there is none."""
    try:
        done = subprocess.run([sys.executable, __file__, "--one", kind, str(folder)], capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish within {timeout:.0f} s"}
    if done.returncode:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _data(n: int) -> Path:
    folder = ROOT / "data" / "processed" / "bench" / f"n{n}"
    if not (folder / "truth.json").exists():
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "generate.py"), str(n)], check=True)
    return folder


def _max_diff(a: dict, b: dict) -> float:
    common = set(a) & set(b)
    if len(common) != len(a):
        raise ValueError(f"terms differ: {sorted(set(a) ^ set(b))}")
    return max(abs(a[k] - b[k]) for k in common)


COMPETITORS = ["rows-default", "rows-batch", "rows-statsmodels", "rows-sksurv"]


def compare(sizes: list[int], rows_up_to: int, timeout: float) -> None:
    """One markdown table: the workbench path beside each library and a bare DuckDB scan, by size (issue 16, goal 8)."""
    print("| customers | method | wall time | peak memory | time / workbench | max \\|HR difference\\| vs workbench |")
    print("| --- | --- | --- | --- | --- | --- |")
    for n in sizes:
        folder = _data(n)
        kinds = ["aggregated", "duckdb-scan", *(COMPETITORS if n <= rows_up_to else [])]
        results = {k: _measure(k, folder, timeout) for k in kinds}
        ours = results["aggregated"]
        for kind, r in results.items():
            if "error" in r:
                print(f"| {n:,} | {LABELS[kind]} | {r['error']} | | | |", flush=True)
                continue
            ratio = r["seconds"] / ours["seconds"] if "error" not in ours else float("nan")
            diff = ""
            if "hr" in r and kind != "aggregated" and "error" not in ours:
                diff = f"{_max_diff(ours['hr_unstratified' if kind == 'rows-sksurv' else 'hr'], r['hr']):.1e}"
            cells = [f"{n:,}", LABELS[kind], f"{r['seconds']:.2f} s", f"{r['peak_gib']:.2f} GiB", f"{ratio:.2f}x", diff]
            print("| " + " | ".join(cells) + " |", flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    parser.add_argument("--rows-up-to", type=int, default=1_000_000, help="largest size fitted row by row too")
    parser.add_argument("--complaints", action="store_true", help="the time-varying complaint model instead")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed per measurement")
    parser.add_argument("--compare", action="store_true",
                        help="one table: the workbench beside lifelines, statsmodels, scikit-survival, DuckDB")
    parser.add_argument("--one", nargs=2, metavar=("KIND", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    if args.one:
        print(json.dumps(MEASURES[args.one[0]](Path(args.one[1]))))
        return
    import os
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}; load average {os.getloadavg()[0]:.2f}")
    if args.compare:
        compare(args.sizes, args.rows_up_to, args.timeout)
        return
    for n in args.sizes:
        folder = _data(n)
        kinds = ["complaints-aggregated", "complaints-rows"] if args.complaints else ["aggregated", "rows-default",
                                                                                       "rows-batch"]
        if n > args.rows_up_to:
            kinds = kinds[:1]
        results = {k: _measure(k, folder, args.timeout) for k in kinds}
        print(f"\n{n:,} customers ({folder.relative_to(ROOT)})")
        for kind, r in results.items():
            if "error" in r:
                print(f"  {kind:<22} {r['error']}")
                continue
            parts = [f"{r['seconds']:8.1f} s", f"peak {r['peak_gib']:5.2f} GiB"]
            parts += [f"{key.replace('_seconds', '')} {r[key]:.1f} s" for key in ("load_seconds", "km_seconds",
                                                                                  "cox_seconds")
                      if key in r]
            parts += [f"Efron fit {r['fit_seconds']:.3f} s"] if "fit_seconds" in r else []
            parts += [f"{r[key]:,} {key.replace('_', ' ')}" for key in ("collapsed_rows", "cells",
                                                                        "episodes") if key in r]
            print(f"  {kind:<22} " + "; ".join(parts))
        first = results[kinds[0]]
        if "error" in first:
            continue
        if "hr_pwe" in first:
            print("  piecewise-exponential beside the Cox fit: max |HR difference| "
                  f"{_max_diff(first['hr'], first['hr_pwe']):.4f}")
        others = [r for k, r in results.items() if k != kinds[0] and "error" not in r]
        if others:
            fastest = min(others, key=lambda r: r["seconds"])
            print("  row level (faster of its runs) / workbench path: "
                  f"{fastest['seconds'] / first['seconds']:.1f}x the wall "
                  f"time; max |HR difference| {_max_diff(first['hr'], fastest['hr']):.2e}; row-level Cox fit alone "
                  f"{fastest['cox_seconds']:.1f} s")
            if "hr_lifelines_weighted" in first:
                print("  former path, lifelines' weighted Cox on the same rows: "
                      f"{first['lifelines_weighted_seconds']:.2f} s; "
                      "max |HR difference| from row level "
                      f"{_max_diff(first['hr_lifelines_weighted'], fastest['hr']):.4f}")
        print("  hazard ratios (workbench): " + ", ".join(f"{k} {v:.3f}" for k, v in first["hr"].items()))
        sys.stdout.flush()


if __name__ == "__main__":
    main()

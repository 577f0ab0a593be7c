"""Benchmark: write a large synthetic data set chunk by chunk; report wall time, peak memory, sizes.

    python benchmarks/generate.py                      # 10,000,000 customers: customers + contacts
    python benchmarks/generate.py 1000000 --revenue    # 1,000,000 customers, revenue as well

The data go to ``data/processed/bench/n<N>/`` (git-ignored) unless a folder is given. When that
folder's truth.json already records the same arguments, the data are reused, not written again.
Peak memory is the largest resident set (``ru_maxrss``) of this process and of its children.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

from helpers import config
from helpers.data import schema, synth


def _arguments(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=10_000_000, help="customers (default 10,000,000)")
    parser.add_argument("folder", nargs="?", type=Path, default=None,
                        help="output folder (default data/processed/bench/n<N>/)")
    parser.add_argument("--revenue", action="store_true", help="write the revenue table too (~14 rows a customer)")
    parser.add_argument("--chunk-size", type=int, default=synth.CHUNK_SIZE, help="customers per chunk")
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args(argv)


def _written_before(folder: Path, wanted: dict) -> bool:
    """True when folder/truth.json records these arguments and every table file is there."""
    truth = folder / "truth.json"
    if not truth.exists():
        return False
    recorded = json.loads(truth.read_text()).get("arguments", {})
    same = all(recorded.get(key) == value for key, value in wanted.items())
    return same and all((folder / f"{name}.parquet").exists() for name in wanted["tables"])


def _peak_gib() -> tuple[float, float]:
    """Largest resident set of this process and of its children, GiB (Linux reports KiB)."""
    kib = [resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return kib[0] / 2 ** 20, kib[1] / 2 ** 20


def _sizes(folder: Path, tables: list[str]) -> list[str]:
    lines = []
    for name in tables:
        path = folder / f"{name}.parquet"
        rows = pq.ParquetFile(path).metadata.num_rows
        lines.append(f"  {path.name:<20} {path.stat().st_size / 1e6:>10,.1f} MB {rows:>14,} rows")
    lines.append(f"  {'truth.json':<20} {(folder / 'truth.json').stat().st_size / 1e6:>10,.3f} MB")
    return lines


def main(argv=None) -> None:
    args = _arguments(argv)
    tables = synth.table_selection([schema.CUSTOMERS, schema.CONTACTS] + ([schema.REVENUE] if args.revenue else []))
    folder = args.folder or config.PROCESSED / "bench" / f"n{args.n}"
    wanted = {"n": args.n, "months": 36, "seed": args.seed, "chunk_size": args.chunk_size, "tables": tables}
    print(f"{args.n:,} customers ({', '.join(tables)}) in chunks of {args.chunk_size:,} -> {folder}")
    began = time.perf_counter()
    if _written_before(folder, wanted):
        print("reused: truth.json there records the same arguments")
    else:
        synth.write_chunked(args.n, 36, seed=args.seed, chunk_size=args.chunk_size, folder=folder, tables=tables,
                            progress=True)
    self_gib, children_gib = _peak_gib()
    print(f"wall time {time.perf_counter() - began:,.1f} s")
    print(f"peak memory (ru_maxrss) {self_gib:.2f} GiB this process, {children_gib:.2f} GiB children")
    print("on disk:")
    print("\n".join(_sizes(folder, tables)))
    sys.stdout.flush()


if __name__ == "__main__":
    main()

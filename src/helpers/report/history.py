"""Compare runs: how each recorded finding moved between two runs, and whether beyond its intervals.

Used for weekly reports: ``workbench diff latest <last week's run-id>``.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

COLUMNS = ["notebook", "finding", "a", "b", "change", "a_interval", "b_interval", "beyond_intervals"]


def load_manifest(run: str | Path, reports: Path) -> dict:
    """A run's manifest from a run id, a stable folder (``latest``, ``latest-telco``), a run folder or a file.

    A stable folder's ``stable.json`` lists each notebook's report with the run it came from, so
    ``workbench diff <last week's run> latest`` compares every notebook of the stable set.

    Raises
    ------
    FileNotFoundError
        With the runs that exist, when there is no such run, or its file is not a manifest.
    """
    path = Path(run)
    candidates = [path, path / "manifest.json", path / "stable.json", reports / str(run) / "manifest.json",
                  reports / str(run) / "stable.json"]
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        known = sorted(p.parent.name for p in reports.glob("*/manifest.json"))
        raise FileNotFoundError(f"no run {str(run)!r} under {reports} (runs: {', '.join(known) or 'none'})")
    try:
        manifest = json.loads(found.read_bytes())
    except (OSError, ValueError) as e:
        raise FileNotFoundError(f"{found} is not a readable manifest ({type(e).__name__}: {str(e)[:120]})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("notebooks", []), list):
        raise FileNotFoundError(f"{found} is not a run manifest (no list of notebooks)")
    return manifest


def _findings(manifest: dict) -> dict[tuple[str, str], dict]:
    return {(str(e.get("notebook")), str(f.get("name"))): f for e in manifest.get("notebooks", [])
            if isinstance(e, dict) for f in e.get("findings", []) if isinstance(f, dict) and "value" in f}


def _interval(f: dict | None) -> tuple[float, float] | None:
    if f is None or f.get("ci_low") is None or f.get("ci_high") is None:
        return None
    return float(f["ci_low"]), float(f["ci_high"])


def _beyond(a: dict | None, b: dict | None) -> bool | None:
    """True when the intervals do not overlap (or one value lies outside the other's interval)."""
    if a is None or b is None or isinstance(a["value"], str) or isinstance(b["value"], str):
        return None
    ia, ib = _interval(a), _interval(b)
    if ia and ib:
        return ia[1] < ib[0] or ib[1] < ia[0]
    if ia or ib:
        low, high = ia or ib
        other = b["value"] if ia else a["value"]
        return not low <= float(other) <= high
    return None


def _change(a: dict | None, b: dict | None):
    if a is None or b is None:
        return "only in A" if b is None else "only in B"
    if isinstance(a["value"], str) or isinstance(b["value"], str):
        return "same" if a["value"] == b["value"] else "changed"
    return float(b["value"]) - float(a["value"])


def diff_runs(manifest_a: dict, manifest_b: dict) -> pd.DataFrame:
    """Every finding of either run: its value in A and in B, the change B - A, and whether it is real.

    Parameters
    ----------
    manifest_a, manifest_b : dict
        Run manifests (``reports/<run-id>/manifest.json``).

    Returns
    -------
    pandas.DataFrame
        One row per (notebook, finding), sorted: notebook, finding, a, b, change (B - A; "same" or
        "changed" for verdicts; "only in A/B"), a_interval, b_interval, beyond_intervals (True when
        the two intervals do not overlap, or one value lies outside the other run's interval;
        None when neither has an interval).

    Example
    -------
    >>> a = {"notebooks": [{"notebook": "00", "findings": [{"name": "churn_rate", "value": 0.2,
    ...       "ci_low": 0.18, "ci_high": 0.22}]}]}
    >>> b = {"notebooks": [{"notebook": "00", "findings": [{"name": "churn_rate", "value": 0.3,
    ...       "ci_low": 0.28, "ci_high": 0.32}]}]}
    >>> diff_runs(a, b)[["finding", "change", "beyond_intervals"]].to_dict("records")
    [{'finding': 'churn_rate', 'change': 0.09999999999999998, 'beyond_intervals': True}]
    """
    fa, fb = _findings(manifest_a), _findings(manifest_b)
    rows = []
    for key in sorted(fa.keys() | fb.keys()):
        a, b = fa.get(key), fb.get(key)
        rows.append({"notebook": key[0], "finding": key[1], "a": a["value"] if a else None,
                     "b": b["value"] if b else None, "change": _change(a, b), "a_interval": _interval(a),
                     "b_interval": _interval(b), "beyond_intervals": _beyond(a, b)})
    return pd.DataFrame(rows, columns=COLUMNS)

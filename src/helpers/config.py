"""Paths, built once from the project root.

The root is the folder holding ``pyproject.toml`` above this file (an editable install, the
normal case), or the ``WORKBENCH_ROOT`` environment variable when set (a runner that works on
a copy, or tests that want a temporary reports folder).
"""
from __future__ import annotations

import os
from pathlib import Path


def _find_root() -> Path:
    env = os.environ.get("WORKBENCH_ROOT")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").exists() and (parent / "notebooks").is_dir():
            return parent
    return Path.cwd()


ROOT = _find_root()
NOTEBOOKS = ROOT / "notebooks"
DATA = ROOT / "data"
RAW = DATA / "raw"
PROCESSED = DATA / "processed"
EXTERNAL = DATA / "external"
SYNTHETIC = PROCESSED / "synthetic"


def reports_dir() -> Path:
    """Where runs are written; ``WORKBENCH_REPORTS`` overrides (tests use a temporary one)."""
    return Path(os.environ.get("WORKBENCH_REPORTS", ROOT / "reports")).resolve()

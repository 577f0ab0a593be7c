"""Reading what a notebook run left in its manifest, for the notebook tests."""
from __future__ import annotations

import json
from pathlib import Path


def answers_of(tmp_path: Path) -> dict[str, dict]:
    """The answers of the one notebook `conftest.run_notebook` ran under ``tmp_path``, by name."""
    (path,) = {p.resolve() for p in (tmp_path / "reports").glob("*/manifest.json")}
    (entry,) = json.loads(path.read_text())["notebooks"]
    return {a["name"]: a for a in entry.get("answers", [])}

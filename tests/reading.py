"""Reading what a notebook run left in its manifest, for the notebook tests."""
from __future__ import annotations

import json
from pathlib import Path


def answers_of(tmp_path: Path) -> dict[str, dict]:
    """The answers of the one notebook `conftest.run_notebook` ran under ``tmp_path``, by name."""
    (path,) = {p.resolve() for p in (tmp_path / "reports").glob("*/manifest.json")}
    (entry,) = json.loads(path.read_text())["notebooks"]
    return {a["name"]: a for a in entry.get("answers", [])}


def entry_in(reports: Path, notebook: str) -> tuple[dict, dict[str, dict], dict[str, dict], str]:
    """One notebook's manifest entry in the one run under ``reports``: (entry, findings, answers by name, HTML)."""
    (path,) = {p.resolve() for p in reports.glob("2*/manifest.json")}
    (entry,) = [e for e in json.loads(path.read_text())["notebooks"] if e["notebook"] == notebook]
    return (entry, {f["name"]: f for f in entry["findings"]}, {a["name"]: a for a in entry.get("answers", [])},
            (path.parent / entry["html"]).read_text())

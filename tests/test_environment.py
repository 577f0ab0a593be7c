"""environment.yml (conda) and pyproject.toml (pip) must list the same packages with the same bounds."""
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
# conda-forge spells a few packages differently from PyPI
CONDA_TO_PIP = {"python-duckdb": "duckdb"}


def _split(req: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", req)
    return m[1].lower().replace("_", "-"), m[2].replace(" ", "")


def _pip() -> dict[str, str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = meta["dependencies"] + [r for extra in meta["optional-dependencies"].values() for r in extra]
    return dict(_split(r) for r in reqs)


def _conda() -> dict[str, str]:
    deps = yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]
    found = dict(_split(d) for d in deps if isinstance(d, str))
    found.pop("pip", None)
    python = found.pop("python")
    assert python == ">=3.11"
    return {CONDA_TO_PIP.get(k, k): v for k, v in found.items()}


def test_same_packages_and_bounds():
    pip, conda = _pip(), _conda()
    assert sorted(set(pip) - set(conda)) == [], "in pyproject.toml but not environment.yml"
    assert sorted(set(conda) - set(pip)) == [], "in environment.yml but not pyproject.toml"
    assert {k: v for k, v in pip.items() if conda[k] != v} == {}, "bounds differ"


def test_known_pins_hold():
    # lifelines 0.30.3 needs pandas < 3; unpinned, pip pairs pandas 3 with lifelines 0.30.0
    pip = _pip()
    assert pip["pandas"] == ">=2.2,<3"
    assert pip["lifelines"] == ">=0.30.3"


def test_python_requirement_matches():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert meta["requires-python"] == ">=3.11"

"""Shared fixtures: fixed seeds, a non-interactive plotting backend, figures closed after each test.

Also the two tiers: a test that starts a notebook kernel is marked ``slow``; `make test-fast`
leaves those out and starts no kernel (`_no_kernel_in_the_fast_tier`). And the order: the test
files that took longest last time run first, so that the workers of `make test` finish together.
"""
import copy
import html
import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")  # the runner overrides it for kernels
# one BLAS/OpenMP thread per process, set before numpy loads: `make test` runs a test process per core, and
# their kernels and workers inherit it; more threads only compete for the same cores (and spin while waiting)
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from helpers import config
from helpers.data import synth  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# ---- the fast tier starts no kernel ------------------------------------------------------------------------
KERNEL_TESTS = {  # tests that start a notebook kernel in files that do not mark them slow
    "tests/test_mapping.py::test_a_notebook_runs_on_a_mapping_file_and_bad_data_writes_nothing",
}
NO_KERNEL = "a test outside the slow tier started a notebook kernel: mark it @pytest.mark.slow (make test-fast)"


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config, items):
    for item in items:  # before `-m "not slow"` deselects
        if item.nodeid in KERNEL_TESTS:
            item.add_marker(pytest.mark.slow)
    yield
    _longest_files_first(config, items)  # the tests that will run


@pytest.fixture(scope="session", autouse=True)
def _no_kernel_in_the_fast_tier(request, tmp_path_factory):
    """With ``-m "not slow"`` (`make test-fast`) the ``python3`` kernel exits at once, saying why.

    So a test that starts a kernel but is not marked slow fails there instead of slowing the
    fast tier down. The kernelspec comes first on ``JUPYTER_PATH``, for the subprocesses too.
    """
    if (request.config.option.markexpr or "").replace(" ", "") != "notslow":
        yield
        return
    folder = tmp_path_factory.mktemp("no-kernels")
    spec = folder / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({"argv": [sys.executable, "-c", f"raise SystemExit({NO_KERNEL!r})"],
                                                  "display_name": "no kernel", "language": "python"}))
    before = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(folder), before]))
    yield
    if before is None:
        os.environ.pop("JUPYTER_PATH", None)
    else:
        os.environ["JUPYTER_PATH"] = before


# ---- the longest files first -------------------------------------------------------------------------------
# `make test` hands whole files to its workers (`--dist loadfile`) in collection order (`--no-loadscope-reorder`;
# by default xdist sorts them by their number of tests, which puts the few long notebook tests last). Sorting the
# files by what they took last time (pytest's cache, per -m expression) lets the workers finish together.
SECONDS = "workbench/seconds-per-file/"
_SPENT: Counter = Counter()


def _file(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def _seconds_last_time(config) -> dict:
    if hasattr(config, "workerinput"):  # an xdist worker: the controller read the cache, so every worker agrees
        return config.workerinput.get("seconds_per_file", {})
    cache = getattr(config, "cache", None)  # None with -p no:cacheprovider
    return cache.get(SECONDS + (config.option.markexpr or "all"), {}) if cache is not None else {}


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):  # pytest-xdist, in the controller, for each worker
    node.workerinput["seconds_per_file"] = _seconds_last_time(node.config)


def _longest_files_first(config, items) -> None:
    """Files in decreasing seconds last time; a file not timed yet counts 30 s per slow test and 1 s per other."""
    seconds, tests = _seconds_last_time(config), Counter(_file(i.nodeid) for i in items)
    slow = Counter(_file(i.nodeid) for i in items if i.get_closest_marker("slow"))
    items.sort(key=lambda i: -seconds.get(_file(i.nodeid), 30 * slow[_file(i.nodeid)] + tests[_file(i.nodeid)]))


def pytest_runtest_logreport(report):
    _SPENT[_file(report.nodeid)] += report.duration


def pytest_sessionfinish(session):
    config, cache = session.config, getattr(session.config, "cache", None)
    if cache is None or hasattr(config, "workerinput") or config.option.keyword or not _SPENT:
        return  # a worker (the controller records), no cache, or a -k selection (not whole files)
    key = SECONDS + (config.option.markexpr or "all")
    cache.set(key, {**cache.get(key, {}), **{name: round(s, 1) for name, s in _SPENT.items()}})


@pytest.fixture
def customers() -> pd.DataFrame:
    """A small valid customers table with dates (tenure derived by the validator)."""
    return pd.DataFrame({
        "customer_id": ["C1", "C2", "C3", "C4"],
        "signup_date": ["2023-01-01", "2023-02-15", "2023-03-01", "2023-03-10"],
        "end_date": ["2023-07-01", "2024-01-01", "2023-03-20", "2024-01-01"],
        "churned": [True, False, True, False],
        "contract": ["month-to-month", "one-year", "month-to-month", "two-year"],
        "monthly_value": [30.0, 55.5, 12.0, 80.0],
        "end_reason": ["price", None, None, None],
    })


@pytest.fixture(scope="session")
def _default_data():
    return synth.generate(20000, 36, seed=7)


@pytest.fixture(scope="module")
def default_data(_default_data):
    """The reference data set (20,000 customers, 36 months, seed 7) as ``(tables, truth)``.

    Generated once per test session; each test module gets its own copies, so no module can change
    another's.
    """
    tables, truth = _default_data
    return {name: df.copy() for name, df in tables.items()}, copy.deepcopy(truth)


@pytest.fixture(scope="session")
def dataset(tmp_path_factory) -> Path:
    """A small synthetic data set on disk: 1,500 customers over 24 months, seed 11."""
    folder = tmp_path_factory.mktemp("synthetic")
    return synth.write(*synth.generate(1500, 24, seed=11), folder)


@pytest.fixture(scope="session")
def medium(tmp_path_factory) -> Path:
    """6,000 customers over 36 months, seed 3: enough for campaigns' 12-month windows and matched cohorts."""
    return synth.write(*synth.generate(6000, 36, seed=3), tmp_path_factory.mktemp("medium"))


def workbench(*args, env=None) -> subprocess.CompletedProcess:
    """Run the `workbench` command in a subprocess, as a user would."""
    return subprocess.run([sys.executable, "-m", "helpers.cli", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=900)


def run_notebook(tmp_path: Path, notebook: str, *params: str) -> tuple[dict, str, str]:
    """Run one notebook through `workbench run` with ``-p`` params; (findings by name, output text, HTML).

    The output text joins every stream and Markdown output, so tests can look for the notes a
    notebook prints when it skips a section.
    """
    reports = tmp_path / "reports"
    done = workbench("run", notebook, *[a for p in params for a in ("-p", p)], "--reports", reports, "--no-progress")
    assert done.returncode == 0, done.stdout + done.stderr
    (path,) = {p.resolve() for p in reports.glob("*/manifest.json")}  # `latest` links to the same run
    entry = json.loads(path.read_text())["notebooks"][0]
    executed = nbformat.read(str(path.parent / entry["ipynb"]), as_version=4)
    text = "\n".join(o.get("text", "") + o.get("data", {}).get("text/markdown", "")
                     for c in executed.cells for o in c.get("outputs", []))
    text = html.unescape(re.sub(r"\\(.)", r"\1", text))  # Markdown escapes data strings (`escape_md`): read them back
    return {f["name"]: f for f in entry["findings"]}, text, (path.parent / entry["html"]).read_text()


def write_notebook(path: Path, params: str, *cells: str) -> None:
    """A notebook whose first cell, tagged ``parameters``, is ``params``, then one code cell per ``cells``."""
    nb = nbformat.v4.new_notebook()
    first = nbformat.v4.new_code_cell(params)
    first.metadata["tags"] = ["parameters"]
    nb.cells = [first, *map(nbformat.v4.new_code_cell, cells)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))


@pytest.fixture
def project_with_failing_notebook(tmp_path) -> Path:
    """00_data_overview and 99_fails (raises in its second cell)."""
    root = tmp_path / "project"
    (root / "notebooks").mkdir(parents=True)
    shutil.copy(config.NOTEBOOKS / "00_data_overview.ipynb", root / "notebooks")
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('DATASET = "synthetic"  # data set [role: dataset]')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell('raise RuntimeError("planted failure")')]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(root / "notebooks" / "99_fails.ipynb"))
    return root

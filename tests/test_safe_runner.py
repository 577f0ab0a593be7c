"""Values are data, never code: parameters, grid and parameter files, manifests, killed runs, stable paths.

Each test reproduces one way a hostile or broken value entered on 71c863a (code run from a
parameter, a directory deleted through a manifest, a traceback where a refusal was promised,
workers left running after a kill, a stable path that mixed runs) and checks that it cannot now.
"""
import ast
import base64
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import psutil
import pytest
from click.testing import CliRunner, Result

from helpers import config
from helpers.cli import main
from helpers.data import io
from helpers.report import ParameterError, declared_parameters, find_notebook, resolve_parameters, run
from helpers.report import grid as grid_module
from helpers.report.grid import MAX_POINTS, GridError, errors_only, parse_grid
from helpers.report.history import diff_runs, load_manifest
from helpers.report.params import Parameter, inject_parameters, load_plain_yaml, parameters_source
from helpers.report.runner import DiskFull, confined, scan_runs, write_index

from .conftest import workbench, write_notebook

PAYLOAD = 'x"+str(__import__("os").system("id > pwned.txt"))+"'
BINARY = base64.b64encode(PAYLOAD.encode()).decode()


def cli(*args) -> Result:
    """The `workbench` command in this process: refusals come before any kernel, so no subprocess is needed."""
    return CliRunner().invoke(main, [str(a) for a in args])


# 1. parameter values: plain, typed element by element, bounded, never code

@pytest.mark.parametrize("text, refused", [
    (f"!!binary {BINARY}", "the YAML tag '!!binary' is not accepted"),
    ('!!python/object/apply:os.system ["id"]', "the YAML tag '!!python/object/apply:os.system'"),
    ("!!set {a: null}", "the YAML tag '!!set'"),
    ("!!omap [a: 1]", "the YAML tag '!!omap'"),
    ("[contract, !!binary aGk=]", "the YAML tag '!!binary' is not accepted \\(line 1, column 12\\)"),
    ("!!str text", "the YAML tag '!!str'"),
    ("!local x", "the YAML tag '!local'"),
    ("[&a x, *a]", "anchors and aliases"),
    ("{a: 1, A: 2}", "'A' is given twice"),
    ("[a, b", "not valid YAML"),
])
def test_yaml_tags_anchors_and_repeated_keys_are_refused(text, refused):
    with pytest.raises(ParameterError, match=refused):
        load_plain_yaml(text, source="p")


def test_plain_yaml_keeps_dates_as_text_and_refuses_bytes_that_are_not_utf8():
    assert load_plain_yaml("[2024-01-01, 3, 0.5, true, null]") == ["2024-01-01", 3, 0.5, True, None]
    with pytest.raises(ParameterError, match=r"params.yaml: not UTF-8 text \(byte 9\): save it as UTF-8"):
        load_plain_yaml(b"dataset: \xff\xfe", source="params.yaml")


def test_the_reported_exploits_are_refused_before_any_kernel(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    reports = tmp_path / "reports"
    attempts = [("01", f"covariates=[contract, !!binary {BINARY}]", "parameter COVARIATES: the YAML tag '!!binary'"),
                ("02", f"cost_per_action=!!binary {BINARY}", "parameter COST_PER_ACTION: the YAML tag '!!binary'"),
                ("01", "strata=!!python/object/apply:os.system [id]", "parameter STRATA: the YAML tag")]
    for notebook, pair, message in attempts:
        done = cli("run", notebook, "-p", pair, "--reports", reports)
        assert done.exit_code == 2 and message in done.output, done.output
    grid = tmp_path / "grid.yaml"
    grid.write_text(f"notebooks: ['01']\ngrid:\n  STRATA: [[], [!!binary {BINARY}]]\n")
    done = cli("run", "--grid", grid, "--reports", reports)
    assert done.exit_code == 2 and "the YAML tag '!!binary' is not accepted (line 3" in done.output
    assert not (tmp_path / "pwned.txt").exists() and not reports.exists()


def test_shipped_notebooks_declare_a_type_for_every_parameter_and_bounds_for_the_numeric_ones():
    bounded = {"CONFIDENCE", "ALPHA", "TOP_SHARE", "BOOTSTRAP_REPS", "SEED", "MIN_CELL", "TEST_SHARE",
               "MATCHED_CONTROLS", "SAMPLE_CUSTOMERS", "LARGE_DATA", "MARGIN_RATE", "TRIM"}
    for name in ("00", "01", "02", "03"):
        for p in declared_parameters(find_notebook(name)).values():
            assert p.kind in ("str", "int", "float", "bool") or p.kind.startswith("list["), p
            if p.scalar_kind in ("int", "float") and p.name in bounded:
                assert p.bounds is not None, f"{name}: {p.name} declares no range"
    assert declared_parameters(find_notebook("02"))["COST_PER_ACTION"].type_name == "float or null"


@pytest.mark.parametrize("notebook, pair, message", [
    ("00", "confidence=.nan", "CONFIDENCE must be a finite number, got nan"),
    ("00", "confidence=.inf", "CONFIDENCE must be a finite number, got inf"),
    ("00", "confidence=1.0", r"CONFIDENCE = 1.0 is outside its range 0.5 <= x < 1"),
    ("00", "bootstrap_reps=0", r"BOOTSTRAP_REPS = 0 is outside its range 50 <= x <= 100000"),
    ("00", "top_share=1.5", r"TOP_SHARE = 1.5 is outside its range 0 < x < 1"),
    ("00", "min_cell=0", r"MIN_CELL = 0 is outside its range 3 <= x <= 1000"),
    ("01", "covariates=[contract, 3]", r"COVARIATES, element 2 must be of type str, got 3 \(int\)"),
    ("01", "survival_times=[12, -1]", r"SURVIVAL_TIMES, element 2 = -1 is outside its range 0 < x <= 600"),
    ("02", "cost_per_action=cheap", r"COST_PER_ACTION must be of type float \(default None\), got 'cheap'"),
    ("02", "trim=[0.1]", r"TRIM must hold 2 values, got 1"),
    ("02", "trim=[0.1, 1.5]", r"TRIM, element 2 = 1.5 is outside its range 0 <= x <= 1"),
    ("02", "claim_margin_rates=[0.2, .nan]", r"CLAIM_MARGIN_RATES, element 2 must be a finite number"),
])
def test_values_are_checked_element_by_element_against_type_and_range(notebook, pair, message):
    name, _, value = pair.partition("=")
    with pytest.raises(ParameterError, match=message):
        resolve_parameters(declared_parameters(find_notebook(notebook)), {name: value}, strings=True)


def test_a_none_default_takes_its_declared_type_or_null():
    declared = declared_parameters(find_notebook("02"))
    assert resolve_parameters(declared, {"cost_per_action": "12"}, strings=True) == {"COST_PER_ACTION": 12.0}
    assert resolve_parameters(declared, {"cost_per_action": "null"}, strings=True) == {"COST_PER_ACTION": None}
    assert resolve_parameters(declared, {"COST_PER_ACTION": 3}) == {"COST_PER_ACTION": 3.0}
    for value in (b"x", {1, 2}, ("a",), object()):  # through the Python API or a grid: no object but plain ones
        with pytest.raises(ParameterError, match="a value is text, a number, true/false, null or a list"):
            resolve_parameters(declared, {"COST_PER_ACTION": value})


def test_an_untyped_none_default_or_empty_list_is_a_notebook_error(tmp_path):
    for line, message in [("X = None  # a cost", "X: a None default must declare its type"),
                          ("X = []  # columns", "X: an empty list default must declare its type"),
                          ("X = 2  # a count [range: x in 1..5]", "a range is written like"),
                          ("X = 2  # a count [range: 5 <= x <= 9]", r"X = 2 is outside its range 5 <= x <= 9")]:
        write_notebook(tmp_path / "nb.ipynb", line)
        with pytest.raises(ParameterError, match=message):
            declared_parameters(tmp_path / "nb.ipynb")


def test_the_same_parameter_twice_is_refused(tmp_path):
    done = cli("run", "00", "-p", "dataset=a", "-p", "DATASET=b", "--reports", tmp_path / "r")
    assert done.exit_code == 2 and "parameter DATASET is given twice (-p dataset=... and -p DATASET=...)" in done.output
    with pytest.raises(ParameterError, match="parameter X is given twice"):
        resolve_parameters({"X": Parameter("X", 1)}, {"x": 1, "X": 2})


def test_the_injected_cell_holds_only_literals():
    values = {"COVARIATES": [PAYLOAD, "'''", '"""', "\\", "a\nb"], "DATASET": "'); import os #", "N": 3,
              "RATE": 0.5, "ON": True, "COST": None}
    source = parameters_source(values)
    tree = ast.parse(source)
    assert all(isinstance(node, ast.Assign) for node in tree.body)
    assert {n.targets[0].id: ast.literal_eval(n.value) for n in tree.body} == values
    for bad in ({"X": b"bytes"}, {"X": float("nan")}, {"__import__": 1}, {"X": {1, 2}}):
        with pytest.raises(ParameterError):
            parameters_source(bad)
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("N = 1  # n")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("print(N)")]
    injected = inject_parameters(nb, {"N": 2})
    assert [c.source for c in injected.cells] == ["N = 1  # n", "# Parameters\nN = 2", "print(N)"]
    assert injected.cells[1].metadata["tags"] == ["injected-parameters"] and len(nb.cells) == 2


@pytest.fixture
def lists_project(tmp_path) -> Path:
    """A project whose notebook records the text of a list parameter and of a text parameter."""
    root = tmp_path / "project"
    (root / "notebooks").mkdir(parents=True)
    write_notebook(root / "notebooks" / "30_lists.ipynb", 'ITEMS = ["a"]  # texts\nLABEL = "x"  # a text',
              'from helpers import record\nrecord("items", " | ".join(ITEMS))\nrecord("label", LABEL)')
    return root


@pytest.mark.slow
def test_hostile_list_elements_reach_the_kernel_as_the_same_text(lists_project, tmp_path):
    items = [PAYLOAD, "'''; import os; os.system('touch pwned2') #", "\\x00 ok"]
    done = subprocess.run([sys.executable, "-m", "helpers.cli", "run", "30", "-p", f"items={json.dumps(items)}",
                           "-p", f"label={PAYLOAD}", "--reports", str(tmp_path / "r"), "--no-progress"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "WORKBENCH_ROOT": str(lists_project)})
    assert done.returncode == 0, done.stderr
    (manifest,) = scan_runs(tmp_path / "r")[0]
    recorded = {f["name"]: f["value"] for f in manifest["notebooks"][0]["findings"]}
    assert recorded == {"items": " | ".join(items), "label": PAYLOAD}
    assert not list(tmp_path.rglob("pwned*")) and not list(lists_project.rglob("pwned*"))


def test_parameter_file_errors_are_one_line_with_exit_2(tmp_path):
    cases = {b"dataset: [unclosed": "not valid YAML (line 1",
             b"dataset: !!python/object/apply:os.system [id]": "the YAML tag '!!python/object/apply:os.system'",
             b"dataset: \xff\xfe\x00": "not UTF-8 text",
             b"- a\n- b\n": "a parameters file is a mapping of NAME: value, got list",
             b"seed: 1\nSEED: 2\n": "'SEED' is given twice"}
    for n, (raw, message) in enumerate(cases.items()):
        path = tmp_path / f"p{n}.yaml"
        path.write_bytes(raw)
        done = cli("run", "00", "-f", path, "--reports", tmp_path / "r")
        assert done.exit_code == 2 and done.exception is None or isinstance(done.exception, SystemExit), done.output
        assert done.output.startswith(f"refused: {path}") and message in done.output, done.output
        assert len(done.output.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


# 8. limits

def test_a_grid_of_a_million_points_is_refused_at_once_saying_how_many(monkeypatch):
    axes = {f"P{i}": list(range(4)) for i in range(10)}
    expanded = []
    real_product = grid_module.itertools.product
    monkeypatch.setattr(grid_module.itertools, "product", lambda *a: expanded.append(a) or real_product(*a))
    with pytest.raises(GridError, match=rf"makes 1,048,576 points \(4 P0 x .* x 4 P9\), more than the "
                                        rf"{MAX_POINTS:,} allowed; .* --max-points 1048576"):
        parse_grid({"notebooks": ["00"], "grid": axes})
    assert expanded == []  # counted, never expanded
    small = {"notebooks": ["00"], "grid": {"SEED": [1, 2, 3], "CONFIDENCE": [0.8, 0.9, 0.95]}}
    with pytest.raises(GridError, match="makes 9 points"):
        parse_grid(small, max_points=8)
    assert len(parse_grid(small, max_points=9).points) == 9


# 2 and 3. manifests are data: checked, confined, and listed when unreadable

def _good_manifest(reports: Path, run_id: str = "20260101-000000-abcd") -> str:
    (reports / run_id).mkdir(parents=True)
    (reports / run_id / "00.html").write_text("<html></html>")
    (reports / run_id / "manifest.json").write_text(json.dumps(
        {"run_id": run_id, "started_at": "2026-01-01T00:00:00Z", "status": "succeeded",
         "notebooks": [{"notebook": "00", "status": "succeeded", "html": "00.html", "stable_set": "latest",
                        "findings": [{"name": "n", "value": 1}]}]}))
    return run_id


def test_a_manifest_cannot_remove_read_or_link_anything_outside_the_reports(tmp_path):
    reports, victim = tmp_path / "reports", tmp_path / "victim"
    (victim / "sub").mkdir(parents=True)
    (victim / "keep.txt").write_text("precious")
    good = _good_manifest(reports)
    hostile = {"abs": {"run_id": str(victim), "started_at": "2020", "status": "failed", "notebooks": []},
               "up": {"run_id": "../victim", "started_at": "2020", "status": "failed", "notebooks": []},
               "20200101-000000-aaaa": {"run_id": "20200101-000000-bbbb", "started_at": "2020", "status": "failed",
                                        "notebooks": []},
               "20200101-000000-cccc": {"run_id": "20200101-000000-cccc", "started_at": "2020",
                                        "status": "succeeded", "notebooks": [
                                            {"notebook": "00", "status": "succeeded", "html": "../../victim/keep.txt",
                                             "stable_set": "latest"}]},
               "20200101-000000-dddd": {"run_id": "20200101-000000-dddd", "started_at": "2020",
                                        "status": "succeeded", "notebooks": [
                                            {"notebook": "00", "status": "succeeded", "html": "00.html",
                                             "stable_set": "../../victim"}]}}
    for folder, manifest in hostile.items():
        (reports / folder).mkdir()
        (reports / folder / "manifest.json").write_text(json.dumps(manifest))
    (reports / ".tmp" / "x").mkdir(parents=True)
    done = cli("index", "--reports", reports)
    assert done.exit_code == 0, done.output
    assert (victim / "keep.txt").read_text() == "precious" and (victim / "sub").is_dir()
    runs, unreadable = scan_runs(reports)
    assert [r["run_id"] for r in runs] == [good]
    assert {u["path"].split("/")[0] for u in unreadable} == set(hostile)
    links = [p for p in reports.rglob("*") if p.is_symlink()]
    assert all(p.resolve().is_relative_to(reports.resolve()) for p in links) and links
    index = (reports / "index.html").read_text()
    assert "Unreadable manifests" in index and "up/manifest.json" in index and "its run_id is not one" in index
    with pytest.raises(ValueError, match="leads outside the reports folder"):
        confined(reports, "..", "victim")


@pytest.mark.parametrize("raw", [pytest.param(b"[]", marks=pytest.mark.slow), b"null", b'{"status": "succeeded"}',
                                 b"\x00\xff\xfe binary", b"",
                                 b'{"run_id": "20260102-000000-abcd", "started_at": "x", "status": "succeeded", '
                                 b'"notebooks": [{"notebook": "00", "status": "succeeded", "cache_key": "k"}]}'])
def test_a_malformed_manifest_is_listed_as_unreadable_and_breaks_nothing(tmp_path, raw, lists_project):
    reports = tmp_path / "reports"
    good = _good_manifest(reports)
    (reports / "20260102-000000-abcd").mkdir()
    (reports / "20260102-000000-abcd" / "manifest.json").write_bytes(raw)
    write_index(reports)
    index = (reports / "index.html").read_text()
    assert "20260102-000000-abcd/manifest.json" in index and f'href="{good}/00.html"' in index
    if raw == b"[]":  # and a run still works beside it, in a subprocess, as a user's next command would
        done = workbench("run", "30", "--reports", reports, "--no-progress", env={"WORKBENCH_ROOT": str(lists_project)})
        assert done.returncode == 0, done.stderr


# 5. a killed parallel run: its workers and kernels end too

def _sleepers(root: Path, names=("20_sleeps", "21_sleeps")) -> Path:
    (root / "notebooks").mkdir(parents=True)
    for name in names:
        write_notebook(root / "notebooks" / f"{name}.ipynb", 'LABEL = "x"  # unused',
                  f'import pathlib, time\npathlib.Path("{name}.started").write_text("1")\ntime.sleep(90)\n'
                  f'pathlib.Path("{name}.finished").write_text("1")')
    return root


@pytest.mark.slow
def test_a_killed_parallel_run_leaves_no_worker_or_kernel_behind(tmp_path):
    root, reports = _sleepers(tmp_path / "project"), tmp_path / "reports"
    runner = subprocess.Popen([sys.executable, "-m", "helpers.cli", "run", "--all", "--jobs", "2", "--reports",
                               str(reports), "--no-progress"], env={**os.environ, "WORKBENCH_ROOT": str(root)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while len(list((root / "notebooks").glob("*.started"))) < 2 and time.time() < deadline:
        assert runner.poll() is None, runner.stderr.read()
        time.sleep(0.2)
    assert len(list((root / "notebooks").glob("*.started"))) == 2, "the kernels never started"
    family = psutil.Process(runner.pid).children(recursive=True)
    assert len(family) >= 4  # the forkserver, two workers, two kernels (and the resource tracker)
    os.kill(runner.pid, signal.SIGKILL)  # the runner alone, as `kill -9 $!` does
    runner.wait(10)
    gone, alive = psutil.wait_procs(family, timeout=20)
    assert not [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE], alive
    (folder,) = [p for p in reports.glob("2*") if p.is_dir()]
    assert not list(folder.glob("*.html")) and not list((root / "notebooks").glob("*.finished"))
    done = workbench("index", "--reports", reports)
    assert done.returncode == 0 and "incomplete (killed)" in (reports / "index.html").read_text()


# 6. stable paths: complete, consistent, one per data set; ad-hoc runs stay apart

@pytest.fixture
def two_notebooks(tmp_path, dataset, monkeypatch) -> Path:
    """Notebooks 10_a and 11_b whose default data set is `dataset` (the runner checks it; they only record)."""
    root = tmp_path / "project"
    (root / "notebooks").mkdir(parents=True)
    for name in ("10_a", "11_b"):
        write_notebook(root / "notebooks" / f"{name}.ipynb",
                  'DATASET = "synthetic"  # data set [role: dataset]\nTOP = 1  # a number [range: 0 <= x <= 10]',
                  f'from helpers import record\nrecord("top", TOP)\nrecord("which", "{name}")')
    monkeypatch.setattr(config, "NOTEBOOKS", root / "notebooks")
    monkeypatch.setitem(io.NAMED, "synthetic", dataset)
    return root


def _stable(folder: Path) -> dict[str, str]:
    return {e["notebook"]: e["run_id"] for e in json.loads((folder / "stable.json").read_text())["notebooks"]}


@pytest.mark.slow
def test_stable_folders_hold_a_complete_set_per_data_set_and_ad_hoc_runs_stay_apart(two_notebooks, tmp_path,
                                                                                    medium):
    reports = tmp_path / "reports"

    def go(names, overrides=None, **options):
        return run(names, overrides, strings=True, reports=reports, progress=False, **options)

    first = go([])["run_id"]
    assert _stable(reports / "latest") == {"10_a": first, "11_b": first}
    go(["10"], {"top": "3"})  # ad hoc: never the stable reports
    go(["11"], {"dataset": str(medium)})  # another data set: a stable folder of its own
    assert _stable(reports / "latest") == {"10_a": first, "11_b": first}
    (other,) = reports.glob("latest-*")
    assert other.name.startswith("latest-medium") and _stable(other) == {"11_b": max(reports.glob("2*")).name}
    assert go([])["run_id"] is None  # unchanged: skipped, and latest still holds both
    assert _stable(reports / "latest") == {"10_a": first, "11_b": first}
    newest = go(["10"], force=True)["run_id"]
    assert _stable(reports / "latest") == {"10_a": newest, "11_b": first}
    assert (reports / "latest" / "10_a.html").read_bytes() == (reports / newest / "10_a.html").read_bytes()
    assert len(list((reports / ".stable").iterdir())) == 2  # the replaced folder is pruned

    table = diff_runs(load_manifest(first, reports), load_manifest("latest", reports))
    assert set(table["change"]) == {0.0, "same"}  # every notebook of the set compared, none "only in A"
    index = (reports / "index.html").read_text()
    assert index.count("stable folder <code>latest/</code>") == 1 and "top=3" in index
    assert f"Data set <code>{medium}</code>" in index and "Data set <code>synthetic</code>" in index


# 7. a full disk: one line, documented exit, nothing left behind

@pytest.mark.slow
def test_a_full_disk_removes_the_run_and_says_so(lists_project, tmp_path, monkeypatch):
    monkeypatch.setattr(config, "NOTEBOOKS", lists_project / "notebooks")
    real = grid_module.atomic_write

    def full(path, data):
        if str(path).endswith(".html"):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, data)

    monkeypatch.setattr(grid_module, "atomic_write", full)
    reports = tmp_path / "reports"
    with pytest.raises(DiskFull, match=r"no space left on the device writing .*30_lists.html: this run's files "
                                       r"were removed; free some space and run again"):
        run(["30"], reports=reports, progress=False)
    assert not list(reports.glob("2*")) and not (reports / ".tmp").exists()


# 9. a failed notebook kept under reports/ holds its error and nothing else

def test_a_failed_notebook_keeps_only_its_error():
    nb = nbformat.v4.new_notebook()
    shown = nbformat.v4.new_code_cell("df")
    shown.outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "alice@example.com"}),
                     nbformat.v4.new_output("stream", name="stdout", text="bob@example.com")]
    failed = nbformat.v4.new_code_cell("fit()")
    failed.outputs = [nbformat.v4.new_output("error", ename="ValueError", evalue="no convergence",
                                             traceback=["frame with carol@example.com"])]
    nb.cells = [shown, failed]
    kept = errors_only(nb)
    assert kept.cells[0].outputs == [] and "example.com" not in nbformat.writes(kept)
    assert kept.cells[1].outputs[0]["evalue"] == "no convergence" and nb.cells[0].outputs  # a copy


def test_an_identifier_named_as_a_model_term_is_refused_before_any_kernel(tmp_path, dataset):
    import pandas as pd

    folder = tmp_path / "with_email"
    shutil.copytree(dataset, folder)
    customers = pd.read_parquet(folder / "customers.parquet")
    customers["email"] = [f"c{i}@example.com" for i in range(len(customers))]
    customers.to_parquet(folder / "customers.parquet")
    for pair, message in [("covariates=[contract, email]", "covariate email is an identifier (1,500 distinct values "
                                                           "in 1,500 customers): it cannot be a model term; drop it "
                                                           "from COVARIATES"),
                          ("strata=[customer_id]", "stratum customer_id is an identifier (an identifier column of "
                                                   "the data contract)")]:
        done = cli("run", "01", "-p", f"dataset={folder}", "-p", pair, "--reports", tmp_path / "r")
        assert done.exit_code == 2 and message in done.output, done.output
    assert not (tmp_path / "r").exists()

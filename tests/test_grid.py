"""Grid runs, parallel jobs, skipping unchanged notebooks, and a Dask cluster (helpers.report.grid and the runner)."""
import json
import shutil
import socket
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from helpers import config
from helpers.cli import main
from helpers.report.grid import GridError, load_grid, parse_grid
from helpers.report.runner import cache_key, environment_digest, environment_info, find_unchanged, plan

from .conftest import workbench

FAST = {"BOOTSTRAP_REPS": 50}  # 00_data_overview in about 5 s on the small `dataset` fixture


def write_grid(folder: Path, spec: dict) -> Path:
    path = folder / "grid.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def manifests(reports: Path) -> list[dict]:
    """Every run's manifest (not the `latest` link), by run id."""
    found = [json.loads(p.read_text()) for p in reports.glob("*/manifest.json") if not p.parent.is_symlink()]
    return sorted(found, key=lambda m: m["run_id"])


# grid files: parsing and expansion

def test_the_grid_is_the_cartesian_product_with_the_fixed_parameters_in_every_point():
    grid = parse_grid({"notebooks": ["00"], "parameters": {"DATASET": "synthetic"},
                       "grid": {"TOP_SHARE": [0.1, 0.2, 0.3], "CONFIDENCE": [0.9, 0.95]}})
    assert grid.notebooks == ("00",) and grid.varying == ("TOP_SHARE", "CONFIDENCE")
    assert len(grid.points) == 6 and len({json.dumps(p, sort_keys=True) for p in grid.points}) == 6
    assert grid.points[0] == {"DATASET": "synthetic", "TOP_SHARE": 0.1, "CONFIDENCE": 0.9}
    assert grid.points[1] == {"DATASET": "synthetic", "TOP_SHARE": 0.1, "CONFIDENCE": 0.95}  # the last varies fastest
    assert grid.label(grid.points[-1]) == "TOP_SHARE=0.3, CONFIDENCE=0.95"
    assert parse_grid({"notebooks": "all", "grid": {"SEED": [1]}}).notebooks == ()  # every notebook


@pytest.mark.parametrize("spec, message", [
    (["00"], "a grid file is a mapping with the keys notebooks, grid"),
    ({"notebooks": ["00"], "grids": {"SEED": [1]}}, "unknown key 'grids' (did you mean 'grid'?)"),
    ({"grid": {"SEED": [1]}}, "notebooks must be \"all\" or a list of notebook names"),
    ({"notebooks": [0, 1], "grid": {"SEED": [1]}}, "quote number prefixes: YAML reads 01 as the number 1"),
    ({"notebooks": ["00"]}, "grid is empty: give at least one parameter with a list of values"),
    ({"notebooks": ["00"], "grid": {}}, "grid is empty"),
    ({"notebooks": ["00"], "grid": {"SEED": 3}}, "grid.SEED must be a non-empty list of values, e.g. SEED: [3, ...]"),
    ({"notebooks": ["00"], "grid": {"SEED": []}}, "grid.SEED must be a non-empty list of values"),
    ({"notebooks": ["00"], "grid": {"SEED": [1, 2, 1]}}, "grid.SEED lists 1 more than once"),
    ({"notebooks": ["00"], "grid": {"SEED": [1], "seed": [2]}}, "grid names a parameter twice"),
    ({"notebooks": ["00"], "parameters": {"seed": 1}, "grid": {"SEED": [2]}}, "SEED is both under parameters and "),
    ({"notebooks": ["00"], "parameters": [1], "grid": {"SEED": [2]}}, "parameters must be a mapping of NAME: value"),
])
def test_malformed_grids_are_refused_with_what_to_fix(spec, message):
    with pytest.raises(GridError, match="^the grid file: ") as e:
        parse_grid(spec)
    assert message in str(e.value)


def test_malformed_yaml_names_the_file_and_the_line(tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text("notebooks: [00_data_overview\ngrid:\n  SEED: [1, 2]\n")
    with pytest.raises(GridError, match=r"grid.yaml: not valid YAML \(line \d+, column \d+\)"):
        load_grid(path)


# every point is checked before any kernel starts; one bad point refuses the grid (exit 2, nothing written)

@pytest.mark.parametrize("spec, message", [
    ({"notebooks": ["00"], "grid": {"HORIZON": [1, 2]}},
     "2 of 2 grid points refused, so none runs:\n- point 1 (HORIZON=1): 00_data_overview has no parameter 'HORIZON'"),
    ({"notebooks": ["00"], "grid": {"CONFIDENCE": [0.9, "high"]}},
     ("1 of 2 grid points refused, so none runs:\n"
      "- point 2 (CONFIDENCE=high): parameter CONFIDENCE must be of type float")),
    ({"notebooks": ["01"], "grid": {"SEGMENT_BY": ["contract", "colour"]}},
     "- point 2 (SEGMENT_BY=colour): parameter SEGMENT_BY = 'colour' is not one of its choices"),
    ({"notebooks": ["00"], "grid": {"DATASET": ["{dataset}", "/no/such/folder"]}},
     "- point 2 (DATASET=/no/such/folder): 00_data_overview: data set '/no/such/folder' not found"),
    ({"notebooks": ["00", "nope"], "grid": {"SEED": [1, 2]}}, "no notebook named 'nope'"),
    ({"notebooks": ["00"], "grid": {"SEED": []}}, "grid.SEED must be a non-empty list of values"),
])
def test_a_bad_point_refuses_the_whole_grid_before_anything_is_written(tmp_path, dataset, spec, message):
    spec = json.loads(json.dumps(spec).replace("{dataset}", str(dataset)))
    spec.setdefault("parameters", {"DATASET": str(dataset)} if "DATASET" not in spec["grid"] else {})
    reports = tmp_path / "reports"
    done = CliRunner().invoke(main, ["run", "--grid", str(write_grid(tmp_path, spec)), "--reports", str(reports)])
    assert done.exit_code == 2, done.output
    assert done.stderr.startswith("refused: ") and message in done.stderr
    assert not reports.exists()


@pytest.mark.parametrize("args, message", [
    (["00", "--grid", "{grid}"], "with --grid, the notebooks and parameters come from the grid file"),
    (["--grid", "{grid}", "-p", "seed=2"], "with --grid, the notebooks and parameters come from the grid file"),
    (["--jobs", "2", "--scheduler", "tcp://127.0.0.1:1"], "give --jobs or --scheduler, not both"),
])
def test_options_that_do_not_go_together_are_usage_errors(tmp_path, args, message):
    path = write_grid(tmp_path, {"notebooks": ["00"], "grid": {"SEED": [1]}})
    args = [str(path) if a == "{grid}" else a for a in args]
    done = CliRunner().invoke(main, ["run", *args, "--reports", str(tmp_path / "r")])
    assert done.exit_code == 2 and message in done.stderr


# the cache key: what decides a rerun (no kernels)

@pytest.fixture(scope="module")
def env_digest() -> str:
    return environment_digest(environment_info())


def key_of(dataset, env_digest, notebook="00", **params) -> dict:
    (job,) = plan([notebook], {"DATASET": str(dataset), **params})
    return cache_key(job, env_digest)


def test_the_cache_key_changes_with_a_parameter_the_data_and_the_environment(dataset, env_digest, tmp_path):
    base = key_of(dataset, env_digest)
    assert key_of(dataset, env_digest) == base  # deterministic
    other = key_of(dataset, env_digest, CONFIDENCE=0.9)
    assert other["key"] != base["key"] and [k for k in base if base[k] != other[k]] == ["key", "parameters"]
    assert key_of(dataset, env_digest, CONFIDENCE=0.95) == base  # the default, given explicitly: the same run

    copy = shutil.copytree(dataset, tmp_path / "copy")
    before = key_of(copy, env_digest)
    departures = pd.read_parquet(copy / "manager_departures.parquet")
    departures.iloc[:-1].to_parquet(copy / "manager_departures.parquet")  # same folder, one row fewer
    after = key_of(copy, env_digest)
    assert [k for k in before if before[k] != after[k]] == ["key", "data"]

    (job,) = plan(["00"], {"DATASET": str(dataset)})
    assert cache_key(job, "another environment")["key"] != base["key"]


def test_the_environment_is_python_and_packages_not_the_git_commit():
    env = environment_info()
    moved = {**env, "code": {**env["code"], "git_commit": "0" * 40, "git_dirty": True}}
    assert environment_digest(moved) == environment_digest(env)
    bumped = {**env, "packages": {**env["packages"], "pandas": "0.0.1"}}
    assert environment_digest(bumped) != environment_digest(env)


def test_the_cache_key_changes_with_the_notebook_source_not_its_outputs(dataset, env_digest, tmp_path, monkeypatch):
    root = tmp_path / "project"
    (root / "notebooks").mkdir(parents=True)
    path = root / "notebooks" / "00_data_overview.ipynb"
    shutil.copy(config.NOTEBOOKS / "00_data_overview.ipynb", path)
    monkeypatch.setattr(config, "NOTEBOOKS", root / "notebooks")
    base = key_of(dataset, env_digest)
    nb = nbformat.read(str(path), as_version=4)
    code = next(c for c in nb.cells if c.cell_type == "code" and "parameters" not in c.metadata.get("tags", []))
    code.outputs = [nbformat.v4.new_output("stream", text="an output left in by mistake")]
    nb.metadata["widgets"] = {"state": {}}
    nbformat.write(nb, str(path))
    assert key_of(dataset, env_digest) == base
    code.source += "\nprint('one more line')"
    nbformat.write(nb, str(path))
    changed = key_of(dataset, env_digest)
    assert changed["notebook"] != base["notebook"] and changed["key"] != base["key"]


def test_only_a_successful_report_that_is_still_there_counts_as_unchanged(tmp_path):
    (tmp_path / "run-b").mkdir()
    (tmp_path / "run-b" / "00.html").write_text("<html></html>")
    key = {"key": "k1"}
    runs = [{"run_id": "run-c", "notebooks": [{"notebook": "00", "status": "failed", "cache_key": key}]},
            {"run_id": "run-b", "notebooks": [{"notebook": "00", "status": "succeeded", "cache_key": key,
                                               "html": "00.html"}]},
            {"run_id": "run-a", "notebooks": [{"notebook": "00", "status": "succeeded", "cache_key": key,
                                               "html": "gone.html"}]}]
    found = find_unchanged("k1", runs, tmp_path)
    assert found == {"notebook": "00", "cache_key": key, "unchanged_since": "run-b", "report": "run-b/00.html"}
    assert find_unchanged("k1", runs[::2], tmp_path) is None  # failed, or its report deleted
    assert find_unchanged("k2", runs, tmp_path) is None


# runs with kernels

@pytest.mark.slow
def test_a_grid_runs_in_parallel_one_folder_per_point_then_skips_until_forced(tmp_path, dataset):
    """Two points, --jobs 2; the same grid again is skipped, and so is a plain run of one point, until --force."""
    reports = tmp_path / "reports"
    path = write_grid(tmp_path, {"notebooks": ["00_data_overview"], "parameters": {"DATASET": str(dataset), **FAST},
                                 "grid": {"TOP_SHARE": [0.1, 0.25]}})
    done = workbench("run", "--grid", path, "--jobs", "2", "--reports", reports)
    assert done.returncode == 0, done.stdout + done.stderr
    runs = manifests(reports)
    assert [m["grid"]["point"] for m in runs] in ([{"TOP_SHARE": 0.1}, {"TOP_SHARE": 0.25}],
                                                 [{"TOP_SHARE": 0.25}, {"TOP_SHARE": 0.1}])
    index = (reports / "index.html").read_text()
    for m in runs:
        (entry,) = m["notebooks"]
        assert m["status"] == entry["status"] == "succeeded" and m["skipped"] == []
        assert m["run_id"].endswith(f"-top_share={m['grid']['point']['TOP_SHARE']}")
        assert entry["parameters"]["TOP_SHARE"] == m["grid"]["point"]["TOP_SHARE"]
        assert set(entry["cache_key"]) == {"key", "notebook", "parameters", "data", "environment"}
        assert f'href="{m["run_id"]}/00_data_overview.html"' in index
        assert f"00_data_overview (TOP_SHARE={m['grid']['point']['TOP_SHARE']}): succeeded in" in done.stdout
    assert "%|" not in done.stderr  # one line per finished job, no progress bars
    assert not (reports / ".tmp").exists()

    again = CliRunner().invoke(main, ["run", "--grid", str(path), "--reports", str(reports)])  # no kernel: in-process
    assert again.exit_code == 0, again.output
    first = {m["grid"]["label"]: m["run_id"] for m in runs}
    for label, run_id in first.items():
        assert (f"00_data_overview ({label}): unchanged since run {run_id}, skipped (--force reruns); "
                f"report: {reports / run_id / '00_data_overview.html'}") in again.stdout
    assert len(manifests(reports)) == 2  # nothing new written

    one_point = ["run", "00", "-p", f"dataset={dataset}", "-p", "bootstrap_reps=50", "-p", "top_share=0.1",
                 "--reports", str(reports), "--no-progress"]  # the same notebook and parameters as a point
    single = CliRunner().invoke(main, one_point)
    assert single.exit_code == 0 and f"unchanged since run {first['TOP_SHARE=0.1']}" in single.stdout
    assert "nothing to run: every notebook is unchanged" in single.stdout

    forced = workbench(*one_point, "--force")
    assert forced.returncode == 0, forced.stderr
    assert "00_data_overview: succeeded in" in forced.stdout and "unchanged" not in forced.stdout
    assert len(manifests(reports)) == 3


@pytest.fixture
def cluster():
    """A Dask cluster on this machine: two worker processes, one thread each."""
    import distributed  # a dependency of the project: a missing one must fail, not skip
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as c:
        yield c


@pytest.mark.slow
def test_a_grid_runs_on_a_dask_cluster_and_a_failed_job_fails_only_its_run(tmp_path, dataset, cluster,
                                                                            project_with_failing_notebook):
    reports = tmp_path / "reports"
    path = write_grid(tmp_path, {"notebooks": "all", "parameters": {"DATASET": str(dataset), **FAST},
                                 "grid": {"TOP_SHARE": [0.1, 0.25]}})  # TOP_SHARE goes to 00 only
    done = workbench("run", "--grid", path, "--scheduler", cluster.scheduler_address, "--reports", reports,
                     "--no-progress", env={"WORKBENCH_ROOT": str(project_with_failing_notebook)})
    assert done.returncode == 1, done.stdout + done.stderr
    runs = manifests(reports)
    assert len(runs) == 2
    for m in runs:
        entries = {e["notebook"]: e for e in m["notebooks"]}
        assert m["status"] == "failed" and entries["00_data_overview"]["status"] == "succeeded"
        assert entries["99_fails"]["error"] == "RuntimeError: planted failure"
        assert (reports / m["run_id"] / "00_data_overview.html").is_file()
        assert (reports / m["run_id"] / "99_fails.failed.ipynb").is_file()
    assert done.stdout.count("99_fails (TOP_SHARE=") == 2 and "RuntimeError: planted failure" in done.stdout
    index = (reports / "index.html").read_text()
    assert all(f'href="{m["run_id"]}/00_data_overview.html"' in index for m in runs)


def test_an_unreachable_scheduler_is_refused_naming_the_address(tmp_path, dataset):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    reports = tmp_path / "reports"
    done = workbench("run", "00", "-p", f"dataset={dataset}", "--scheduler", address, "--scheduler-timeout", "1",
                     "--reports", reports)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"refused: no Dask scheduler answered at {address} within 1 s" in done.stderr
    assert "Traceback" not in done.stderr and not reports.exists()

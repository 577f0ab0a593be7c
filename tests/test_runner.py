"""The report runner end to end, through the `workbench` command, on small synthetic data.

The last tests replace the kernel (`execute_job`) and run in the fast tier; the others are slow.
"""
import json
import os
import shutil
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from helpers.data.io import load_dataset
from helpers.report import RunRefused

from .conftest import workbench

N = 1500  # customers in the `dataset` fixture (conftest.py)


def manifest(reports: Path) -> dict:
    (path,) = [p for p in reports.glob("*/manifest.json") if not p.parent.is_symlink()]  # not reports/latest
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def overview(dataset, tmp_path_factory):
    """00_data_overview on `dataset` through `workbench run`, once for the module: (the finished command, reports)."""
    reports = tmp_path_factory.mktemp("overview") / "reports"
    return workbench("run", "00_data_overview", "-p", f"dataset={dataset}", "--reports", reports,
                     "--no-progress"), reports


@pytest.mark.slow
def test_overview_run_writes_report_manifest_and_index(dataset, overview):
    done, reports = overview
    assert done.returncode == 0, done.stderr
    m = manifest(reports)
    (entry,) = m["notebooks"]
    assert m["status"] == entry["status"] == "succeeded" and m["finished_at"] >= m["started_at"]
    assert entry["parameters"]["DATASET"] == str(dataset) and entry["parameters"]["CONFIDENCE"] == 0.95
    ds = load_dataset(dataset)
    assert entry["data"] == {"dataset": str(dataset), "fingerprint": ds.fingerprint}
    assert m["code"]["git_commit"] and m["packages"]["lifelines"] and m["packages"]["pandas"].startswith("2.")
    assert entry["duration_s"] > 0

    findings = {f["name"]: f for f in entry["findings"]}
    assert findings["customers"]["value"] == N
    churn = findings["churn_rate"]
    assert churn["value"] == pytest.approx(ds.customers["churned"].mean(), abs=1e-12)
    assert churn["ci_low"] < churn["value"] < churn["ci_high"] and churn["ci_high"] - churn["ci_low"] < 0.06
    share = findings["revenue_top_share"]
    assert 0.65 < share["value"] < 0.9 and share["ci_low"] < share["value"] < share["ci_high"]
    complaints = (ds["contacts"]["kind"] == "complaint").mean()
    assert findings["complaint_share_of_contacts"]["value"] == pytest.approx(complaints)

    run_dir = reports / m["run_id"]
    html = (run_dir / entry["html"]).read_text()
    assert ds.fingerprint in html and m["run_id"] in html and "Parameters used" in html
    assert html.count("data:image/png;base64") >= 3  # figures embedded
    assert "load_dataset(" not in html and "injected-parameters" not in html  # code hidden
    executed = nbformat.read(str(run_dir / entry["ipynb"]), as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)
    index = (reports / "index.html").read_text()
    assert f'href="{m["run_id"]}/00_data_overview.html"' in index and "What share of customers left?" in index
    assert not list(run_dir.glob(".*"))  # no temporary files left


@pytest.mark.slow
def test_a_failed_notebook_is_listed_and_never_replaces_the_last_good_report(dataset, tmp_path, overview,
                                                                               project_with_failing_notebook):
    env = {"WORKBENCH_ROOT": str(project_with_failing_notebook)}
    reports = tmp_path / "reports"
    good, earlier = overview  # the last good report: `workbench run 00 -p dataset=...`, copied
    shutil.copytree(earlier, reports, symlinks=True)
    assert good.returncode == 0, good.stderr
    good_id = manifest(reports)["run_id"]
    bad = workbench("run", "--all", "-p", f"dataset={dataset}", "--reports", reports, "--no-progress", "--force",
                    env=env)  # --force: 00 is unchanged since the good run and would be skipped
    assert bad.returncode == 1
    assert "99_fails: failed" in bad.stdout and "RuntimeError: planted failure" in bad.stdout
    (bad_dir,) = [p for p in reports.glob("2*") if p.is_dir() and p.name != good_id]
    m = json.loads((bad_dir / "manifest.json").read_text())
    entries = {e["notebook"]: e for e in m["notebooks"]}
    assert m["status"] == "failed" and entries["00_data_overview"]["status"] == "succeeded"
    assert entries["99_fails"]["error"] == "RuntimeError: planted failure"
    assert (bad_dir / "99_fails.failed.ipynb").exists() and not (bad_dir / "99_fails.html").exists()
    index = (reports / "index.html").read_text()
    assert "planted failure" in index
    assert f'href="{good_id}/00_data_overview.html"' in index  # the earlier good run is still listed
    assert index.index(m["run_id"]) < index.index(f'<td>{good_id}</td>')  # newest first


@pytest.mark.slow
@pytest.mark.parametrize("args, message", [
    (["-p", "horizon=3"], "refused: 00_data_overview has no parameter 'horizon'"),
    (["-p", "confidence=high"], "refused: parameter CONFIDENCE must be of type float"),
    (["-p", "dataset=/no/such/folder"], "refused: 00_data_overview: data set '/no/such/folder' not found"),
])
def test_refused_runs_write_nothing(tmp_path, args, message):
    reports = tmp_path / "reports"
    done = workbench("run", "00_data_overview", *args, "--reports", reports, "--no-progress")
    assert done.returncode == 2 and message in done.stderr
    assert not reports.exists()


@pytest.mark.slow
def test_invalid_data_is_refused_with_the_contract_message(tmp_path, dataset):
    broken = tmp_path / "broken"
    broken.mkdir()
    customers = load_dataset(dataset).customers.head(50).copy()
    customers.loc[[3, 7], "monthly_value"] = -1.0
    customers.to_csv(broken / "customers.csv", index=False)
    reports = tmp_path / "reports"
    done = workbench("run", "00", "-p", f"dataset={broken}", "--reports", reports)
    assert done.returncode == 2
    assert "customers.monthly_value: 2 rows below 0 (rows 3, 7): monthly_value must be >= 0" in done.stderr
    assert not reports.exists()


@pytest.mark.slow
def test_params_command_lists_every_parameter():
    done = workbench("params", "00_data_overview")
    assert done.returncode == 0
    assert ("dataset" in done.stdout and "default 'synthetic'" in done.stdout
            and "confidence             float" in done.stdout)
    assert workbench("params", "nope").returncode == 2


# ---- no kernel: what the runner hands to a job's kernel, and what it does not load again -------------------
def _fake_job(seen: list):
    """An `execute_job` that runs no kernel: it notes the validations handed to it and writes a report."""
    from helpers.engine.scale import CHECKED_ENV

    def execute(job):
        seen.append(os.environ.get(CHECKED_ENV))
        stem = job["path"].stem
        (Path(job["folder"]) / f"{stem}.html").write_text("<p>report</p>")
        return {"notebook": stem, "parameters": job["parameters"], "given": job["given"], "data": job["data"],
                "cache_key": job["cache_key"], "stable_set": job["stable_set"], "status": "succeeded",
                "data_parameters": job["data_parameters"], "duration_s": 0.1, "html": f"{stem}.html",
                "findings": []}
    return execute


def test_a_validation_passed_before_the_kernels_is_handed_to_each_and_taken_back(dataset, tmp_path, monkeypatch):
    from helpers.engine import scale
    from helpers.report import runner

    seen = []
    monkeypatch.setattr(runner, "execute_job", _fake_job(seen))
    monkeypatch.delenv(scale.CHECKED_ENV, raising=False)
    manifest = runner.run(["00", "01"], {"dataset": str(dataset)}, reports=tmp_path / "reports", progress=False)
    assert manifest["status"] == "succeeded"
    assert seen == [scale.validation_token(load_dataset(dataset).fingerprint)] * 2
    assert scale.CHECKED_ENV not in os.environ


def test_an_unchanged_notebook_is_skipped_without_loading_its_data_and_a_changed_file_is_checked(
        dataset, tmp_path, monkeypatch):
    import shutil

    from helpers.engine import scale
    from helpers.report import runner

    folder = tmp_path / "data"
    shutil.copytree(dataset, folder)
    reports, seen = tmp_path / "reports", []
    monkeypatch.setattr(runner, "execute_job", _fake_job(seen))
    first = runner.run(["00"], {"dataset": str(folder)}, reports=reports, progress=False)
    real, checks = scale.checked_data, []
    monkeypatch.setattr(scale, "checked_data", lambda *a, **k: checks.append(a) or real(*a, **k))
    again = runner.run(["00"], {"dataset": str(folder)}, reports=reports, progress=False)
    assert again["run_id"] is None and again["skipped"][0]["unchanged_since"] == first["run_id"]
    assert checks == [] and len(seen) == 1  # neither loaded nor validated: that run checked these bytes
    customers = pd.read_parquet(folder / "customers.parquet")
    customers.loc[3, "monthly_value"] = -1.0
    customers.to_parquet(folder / "customers.parquet", index=False)
    with pytest.raises(RunRefused, match=r"customers.monthly_value: 1 row below 0 \(row 3\)"):
        runner.run(["00"], {"dataset": str(folder)}, reports=reports, progress=False)
    assert len(checks) == 1 and len(seen) == 1


def test_jobs_at_once_in_one_process_hand_the_union_and_restore_what_was_there(monkeypatch):
    import threading

    from helpers.report import runner

    both, seen = threading.Barrier(2, timeout=30), []

    def execute(job):
        both.wait()  # the two jobs are running at once
        seen.append(os.environ["WB_TEST_HANDED"])
        both.wait()
        return {}

    monkeypatch.setattr(runner, "execute_job", execute)
    monkeypatch.setenv("WB_TEST_HANDED", "outer")
    jobs = [{"kernel_env": {"WB_TEST_HANDED": value}} for value in ("b", "a")]
    threads = [threading.Thread(target=runner.run_job, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == ["a,b", "a,b"] and os.environ["WB_TEST_HANDED"] == "outer"


# ---- data that do not suit a notebook: refused alone, left out of a run of several ------------------------------
@pytest.fixture
def without_campaigns(dataset, tmp_path) -> Path:
    """The `dataset` fixture's tables but its campaigns."""
    folder = tmp_path / "no-campaigns"
    shutil.copytree(dataset, folder, ignore=shutil.ignore_patterns("campaigns.*"))
    return folder


def test_a_data_set_without_the_campaigns_02_needs_is_refused_before_any_kernel(without_campaigns, tmp_path,
                                                                               monkeypatch):
    from click.testing import CliRunner

    from helpers.cli import main
    from helpers.report import runner

    seen = []
    monkeypatch.setattr(runner, "execute_job", _fake_job(seen))
    reports = tmp_path / "reports"
    done = CliRunner().invoke(main, ["run", "02", "-p", f"dataset={without_campaigns}", "--reports", str(reports)])
    assert done.exit_code == 2, done.output
    assert (f"refused: 02_retention_effort_revenue: data set '{without_campaigns}' has no campaigns table, which "
            "DATASET needs: give a data set that has it (tables: contacts, customers, manager_departures, revenue), "
            "or a one-table source in EXPERIMENT_FILE") in done.output
    assert seen == [] and not reports.exists()


def test_a_campaign_the_data_set_does_not_hold_is_refused_listing_those_it_holds(dataset, tmp_path, monkeypatch):
    from helpers.report import runner

    monkeypatch.setattr(runner, "execute_job", _fake_job([]))
    held = sorted(set(load_dataset(dataset).tables["campaigns"]["campaign_id"]))
    for hostile in ("nope", "<script>alert(1)</script>", "x'; import os #"):
        with pytest.raises(runner.NotApplicable) as refused:
            runner.run(["02"], {"dataset": str(dataset), "campaign": hostile}, reports=tmp_path / "r", progress=False)
        assert str(refused.value) == (f"02_retention_effort_revenue: CAMPAIGN={hostile!r} is not a campaign of data "
                                      f"set {str(dataset)!r}; its campaigns: {', '.join(map(repr, held))}")
    assert not (tmp_path / "r").exists()


def test_in_a_run_of_several_a_notebook_the_data_do_not_suit_is_listed_as_not_run(without_campaigns, tmp_path,
                                                                                  monkeypatch, capsys):
    from helpers.report import runner

    seen = []
    monkeypatch.setattr(runner, "execute_job", _fake_job(seen))
    reports = tmp_path / "reports"
    result = runner.run(["00", "02"], {"dataset": str(without_campaigns)}, reports=reports, progress=True)
    assert [e["notebook"] for e in result["notebooks"]] == ["00_data_overview"] and len(seen) == 1
    (entry,) = result["not_run"]
    assert entry["notebook"] == "02_retention_effort_revenue" and entry["reason"].startswith(
        f"data set '{without_campaigns}' has no campaigns table")
    assert manifest(reports)["not_run"] == result["not_run"]
    assert "02_retention_effort_revenue: not run: data set" in capsys.readouterr().out
    with pytest.raises(RunRefused, match=r"no notebook can run on these data:\n- 02_retention_effort_revenue: data"):
        runner.run(["02", "02"], {"dataset": str(without_campaigns)}, reports=reports, progress=False)

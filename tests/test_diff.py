"""`workbench diff`: the data and parameters that differ first, then the findings that changed, as the
report formats them; text within 100 columns, Markdown for the weekly note, JSON with raw numbers.
Manifests are small dicts written to tmp_path; no notebook runs."""
import copy
import json

import pytest
from click.testing import CliRunner

from helpers.cli import main
from helpers.report.history import PARAMETERS_DIFFER, WIDTH, compare, format_diff, setting_changes


def _finding(name, value, ci=(None, None), unit="", label=""):
    return {"name": name, "value": value, "ci_low": ci[0], "ci_high": ci[1], "unit": unit, "label": label}


def _entry(notebook, parameters, findings, *, dataset="synthetic", fingerprint="9f8e7d6c5b4a3210"):
    return {"notebook": notebook, "status": "succeeded", "html": f"{notebook}.html",
            "parameters": {"DATASET": dataset, **parameters}, "data_parameters": ["DATASET"],
            "data": {"dataset": dataset, "fingerprint": fingerprint}, "findings": findings}


CHURN = "Share of customers who churned by the end of observation"
RMST = "Restricted mean tenure over the first 24 months, month-to-month customers"
A = {"run_id": "20240101-090000-aaaa", "started_at": "2024-01-01T09:00:00Z", "status": "succeeded",
     "code": {"git_commit": "1a2b3c4d5e6f7a8b", "git_dirty": False, "workbench_version": "0.4.0"},
     "notebooks": [
         _entry("00_data_overview", {"TOP_SHARE": 0.2}, [
             _finding("customers", 20000, unit="customers", label="Customers in the data set"),
             _finding("churn_rate", 0.265, (0.255, 0.276), "share", CHURN),
             _finding("revenue_top_share", 0.512, (0.49, 0.53), "share", "Revenue share of the top 20%")]),
         _entry("01_churn_survival", {"HORIZON_MONTHS": 24}, [
             _finding("rmst.month-to-month", 14.2, (13.9, 14.5), "months", RMST),
             _finding("median.one-year", 30.1, (28.0, None), "months", "Median tenure, one-year customers"),
             _finding("ph", "supported", label="Proportional hazards")])]}


def _b(changes=None):
    """A copy of A one week later, the given findings' fields changed: {(notebook index, finding index): {...}}."""
    b = copy.deepcopy(A)
    b.update(run_id="20240108-090000-bbbb", started_at="2024-01-08T09:00:00Z")
    for (n, f), fields in (changes or {}).items():
        b["notebooks"][n]["findings"][f].update(fields)
    return b


def _lines(text):
    return text.splitlines()


def test_by_default_only_changed_findings_formatted_as_the_report():
    b = _b()  # no change: nothing but the run ids
    out = format_diff(A, b)
    assert "Data and parameters: the same in both runs" in out and "(0 of 6; --all shows every finding)" in out
    assert CHURN not in out and PARAMETERS_DIFFER not in out.lower()
    b["notebooks"][0]["findings"][1].update(value=0.35, ci_low=0.33, ci_high=0.37)
    b["notebooks"][0]["findings"][0]["value"] = 21500
    lines = _lines(format_diff(A, b))
    i = lines.index(f"  {CHURN}")
    assert lines[i + 1] == "    26.5% [25.5%, 27.6%] → 35% [33%, 37%]  +8.5 pp  beyond intervals"
    j = lines.index("  Customers in the data set")
    assert lines[j + 1] == "    20,000 customers → 21,500 customers  +1,500 customers"  # no interval: no mark
    assert "Median tenure, one-year customers" not in "\n".join(lines)  # unchanged: left out
    everything = format_diff(A, b, everything=True)
    assert "Findings (6)" in everything and "30.1 [28, not reached] months → 30.1 [28, not reached] months  same" \
        in everything


def test_overlapping_intervals_are_not_beyond_and_an_unreached_bound_is_open():
    b = _b({(0, 1): {"value": 0.27, "ci_low": 0.26, "ci_high": 0.28},
              (1, 1): {"value": 40.0, "ci_low": 33.0, "ci_high": 45.0}})
    rows = {r["name"]: r for r in compare(A, b)["findings"]}
    assert rows["churn_rate"]["beyond_intervals"] is False  # [25.5%, 27.6%] and [26%, 28%] overlap
    assert rows["median.one-year"]["beyond_intervals"] is False  # [28, not reached] holds all of [33, 45]
    assert "beyond intervals" not in format_diff(A, b)


def test_parameters_and_data_that_differ_come_first_and_head_the_findings():
    b = _b({(1, 0): {"value": 9.8, "ci_low": 9.6, "ci_high": 10.0, "label": RMST.replace("24", "12")}})
    b["notebooks"][1]["parameters"]["HORIZON_MONTHS"] = 12
    for entry in b["notebooks"]:
        entry["data"]["fingerprint"] = "0123456789abcdef"
    b["code"]["git_commit"] = "77aa88bb99cc00dd"
    lines = _lines(format_diff(A, b))
    settings, findings = lines.index("Code, data and parameters that differ"), lines.index(
        "Findings that changed (1 of 6; --all shows every finding)")
    assert settings < findings
    assert lines[settings + 1:findings - 1] == ["  code: git commit 1a2b3c4d5e6f → 77aa88bb99cc",
                                                "  all notebooks: fingerprint 9f8e7d6c5b4a3210 → 0123456789abcdef",
                                                "  01_churn_survival: HORIZON_MONTHS 24 → 12"]
    assert lines[findings + 1] == "Parameters differ, so differences below may follow from them."
    assert "01_churn_survival (other data (fingerprint); HORIZON_MONTHS 24 → 12: not directly comparable)" in lines
    words = " ".join(" ".join(lines).split())  # the long label wraps
    assert "(in A: Restricted mean tenure over the first 24 months" in words
    assert "14.2 [13.9, 14.5] months → 9.80 [9.60, 10] months -4.40 months beyond intervals" in words


def test_the_data_set_is_a_setting_not_a_parameter():
    b = _b()
    b["notebooks"][0].update(parameters={**b["notebooks"][0]["parameters"], "DATASET": "telco"},
                             data={"dataset": "telco", "fingerprint": "9f8e7d6c5b4a3210"})
    assert setting_changes(A, b) == [{"notebook": "00_data_overview", "kind": "data", "name": "dataset",
                                      "a": "synthetic", "b": "telco"}]
    out = format_diff(A, b)
    assert "  00_data_overview: data set synthetic → telco" in out and PARAMETERS_DIFFER not in out.lower()


def test_a_notebook_in_one_run_only_is_named_once_and_its_findings_shown_with_all():
    b = _b()
    b["notebooks"].pop(1)
    out = format_diff(A, b)
    assert "  01_churn_survival: report only in A" in out and "Proportional hazards" not in out
    assert "supported → (none)  only in A" in format_diff(A, b, everything=True)


def test_text_lines_fit_100_columns_and_carry_no_control_characters():
    b = _b({(0, 1): {"value": 0.4, "ci_low": 0.39, "ci_high": 0.41, "label": "Churn " * 60 + "\x1b[31mred\n"}})
    b["notebooks"][0]["parameters"]["SEGMENTS"] = ["contract", "region", "x" * 200]
    out = format_diff(A, b, everything=True)
    assert max(len(line) for line in out.splitlines()) <= WIDTH
    assert "\x1b" not in out and "[31mred" in out  # the escape character is gone, the text stays
    assert "SEGMENTS (not set) → ['contract', 'region', 'xxx" in out  # a long value is cut with an ellipsis


def test_markdown_is_tables_with_every_manifest_string_escaped():
    hostile = '<script>alert(1)</script> | [x](javascript:alert(2))'
    b = _b({(0, 1): {"value": 0.4, "ci_low": 0.39, "ci_high": 0.41, "label": hostile}})
    b["notebooks"][1]["parameters"]["HORIZON_MONTHS"] = 12
    md = format_diff(A, b, fmt="markdown")
    assert "| Notebook | Setting | Change |" in md and "| 01\\_churn\\_survival | HORIZON\\_MONTHS | 24 → 12 |" in md
    assert f"*{PARAMETERS_DIFFER[0].upper()}{PARAMETERS_DIFFER[1:]}.*" in md
    assert "| Notebook | Finding | A | B | Change | Beyond intervals |" in md
    (row,) = [line for line in md.splitlines() if "script" in line]
    assert "<script>" not in row and "&lt;script&gt;" in row and "javascript\\:" in row
    assert row.count(" | ") == 5 and row.endswith("| \\+13.5 pp | yes |")  # the label's '|' is escaped: 6 cells


def test_json_gives_raw_numbers():
    b = _b({(0, 1): {"value": 0.30, "ci_low": 0.28, "ci_high": 0.32}})
    report = json.loads(format_diff(A, b, fmt="json"))
    (row,) = report["findings"]
    assert row["a"] == {"value": 0.265, "ci_low": 0.255, "ci_high": 0.276} and row["unit"] == "share"
    assert row["change"] == pytest.approx(0.035) and row["beyond_intervals"] is True
    assert report["a"]["run"] == A["run_id"] and report["findings_total"] == 6 and report["settings"] == []
    with pytest.raises(ValueError, match="format 'html': use one of text, markdown, json"):
        format_diff(A, b, fmt="html")


def test_a_finding_that_is_not_a_findings_shape_is_left_out():
    b = _b({(0, 1): {"value": ["not", "a", "number"]}, (0, 2): {"ci_low": "low"}})
    names = {r["name"] for r in compare(A, b, everything=True)["findings"]}
    assert "revenue_top_share" in names  # only in A now: B's is unreadable
    assert "only in A" in format_diff(A, b)


def _write(folder, *manifests):
    for m in manifests:
        (folder / m["run_id"]).mkdir()
        (folder / m["run_id"] / "manifest.json").write_text(json.dumps(m))


def test_the_command_formats_and_options(tmp_path):
    b = _b({(0, 1): {"value": 0.30, "ci_low": 0.28, "ci_high": 0.32}})
    _write(tmp_path, A, b)
    args = ["diff", A["run_id"], b["run_id"], "--reports", str(tmp_path)]
    text = CliRunner().invoke(main, args)
    assert text.exit_code == 0 and text.output.startswith(f"A {A['run_id']}, started 2024-01-01T09:00:00Z\n")
    assert "+3.5 pp  beyond intervals" in text.output and "Median tenure" not in text.output
    assert "Median tenure" in CliRunner().invoke(main, [*args, "--all"]).output
    assert "| Notebook | Finding |" in CliRunner().invoke(main, [*args, "--format", "markdown"]).output
    assert json.loads(CliRunner().invoke(main, [*args, "--format", "json"]).output)["findings_changed"] == 1
    missing = CliRunner().invoke(main, ["diff", A["run_id"], "nope", "--reports", str(tmp_path)])
    assert missing.exit_code == 2 and "no run 'nope'" in missing.output


def test_a_stable_folder_compares_like_a_run(tmp_path):
    _write(tmp_path, A)
    (tmp_path / "latest").mkdir()
    stable = {"stable_set": "latest", "updated_at": "2024-01-09T00:00:00Z",
              "notebooks": [{**e, "run_id": "20240108-090000-bbbb"} for e in _b()["notebooks"]]}
    (tmp_path / "latest" / "stable.json").write_text(json.dumps(stable))
    done = CliRunner().invoke(main, ["diff", A["run_id"], "latest", "--reports", str(tmp_path)])
    assert done.exit_code == 0, done.output
    assert "B stable folder latest, updated 2024-01-09T00:00:00Z" in done.output
    assert "Data and parameters: the same in both runs" in done.output  # no code recorded: not compared

"""Small groups stay hidden in shared reports: suppressed cells, pooled levels, notes that count without naming.

That no identifier appears in any report is checked on the four reports of `test_reports.py`.
"""
import re

import pytest

from .conftest import run_notebook

pytestmark = pytest.mark.slow
_BASE64 = re.compile(r"data:image/[a-z]+;base64,[A-Za-z0-9+/=]+")


def test_small_groups_are_hidden_and_the_report_says_so(tmp_path):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    contract = ["month-to-month"] * 120 + ["one-year"] * 75 + ["two-year"] * 5
    folder = tmp_path / "data"
    folder.mkdir()
    pd.DataFrame({"customer_id": [f"Q{i}" for i in range(200)], "tenure_months": rng.uniform(0, 30, 200).round(1),
                  "churned": rng.random(200) < 0.3, "contract": contract,
                  "monthly_value": rng.gamma(2, 30, 200).round(2)}).to_csv(folder / "customers.csv", index=False)
    _, text, html = run_notebook(tmp_path, "00_data_overview", f"dataset={folder}")
    assert "1 of 3 contracts with fewer than 10 customers hidden (small-cell suppression)." in text
    assert "two-year" not in html and "one-year" in html


def _edited_copy(dataset, tmp_path, edit, *, rows: int, seed: int):
    """A copy of ``dataset`` whose customers ``edit(customers, rows)`` changed, for ``rows`` random customers."""
    import shutil

    import numpy as np
    import pandas as pd

    folder = tmp_path / "data"
    shutil.copytree(dataset, folder)
    customers = pd.read_parquet(folder / "customers.parquet")
    edit(customers, np.random.default_rng(seed).choice(len(customers), rows, replace=False))
    customers.to_parquet(folder / "customers.parquet", index=False)
    return folder


def test_the_churn_notebook_pools_small_levels_before_the_cox_model(tmp_path, dataset):
    # the issue: 3 group customers gave a row customer_type[group] HR 2.6e-09 [0, inf], and a
    # note named a 3-customer region; now both are left out before the model and the note counts
    def edit(customers, rows):
        customers["customer_type"] = "individual"
        customers.loc[rows[:3], "customer_type"] = "group"
        customers.loc[rows[3:], "region"] = "atlantis"
        customers["account_manager_id"] = None  # no key accounts left: the manager section is skipped

    folder = _edited_copy(dataset, tmp_path, edit, rows=6, seed=0)
    findings, text, html = run_notebook(tmp_path, "01_churn_survival", f"dataset={folder}", "horizon_months=18",
                                        "covariates=[contract, customer_type, satisfaction, region]")
    assert "customer_type[group]" not in html and "atlantis" not in html
    assert not any(name.startswith(("hr.customer_type", "hr.region_atlantis")) for name in findings)
    shown = re.sub(r"\\(.)", r"\1", text)  # the Markdown outputs escape punctuation
    assert ("Levels with fewer than 10 customers, before any model: 1 level of customer_type left out with its "
            "rows (fewer than 10 customers); 1 level of region left out with its rows (fewer than 10 customers). "
            "Left out of the model: customer_type (a single value).") in shown
    assert "hr.satisfaction" in findings


def test_the_complaint_notebook_says_how_many_levels_it_pooled_without_naming_them(tmp_path, dataset):
    def edit(customers, rows):
        customers["customer_type"] = "individual"
        customers.loc[rows, "customer_type"] = "group"  # 3 customers: no model term may stand for them

    folder = _edited_copy(dataset, tmp_path, edit, rows=3, seed=1)
    _, text, html = run_notebook(tmp_path, "03_complaint_recovery", f"dataset={folder}")
    assert "customer_type[group]" not in html and "customer_type[T.group]" not in html
    assert ("Levels with fewer than 10 customers, before any model: 1 level of customer_type left out with its "
            "rows (fewer than 10 customers).") in text

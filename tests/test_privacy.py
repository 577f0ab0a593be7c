"""No customer, contact or account-manager identifier appears in a shared report."""
import re

import pytest

from helpers.io import load_dataset

from .conftest import workbench

pytestmark = pytest.mark.slow
_BASE64 = re.compile(r"data:image/[a-z]+;base64,[A-Za-z0-9+/=]+")


def test_no_identifier_in_any_html_report(tmp_path, dataset):
    reports = tmp_path / "reports"
    done = workbench("run", "--all", "-p", f"dataset={dataset}", "-p", "horizon_months=18", "-p", "window_months=6",
                     "--reports", reports, "--no-progress")
    assert done.returncode == 0, done.stdout + done.stderr
    ds = load_dataset(dataset)
    ids = set(ds.customers["customer_id"]) | set(ds["contacts"]["contact_id"])
    ids |= set(ds.customers["account_manager_id"].dropna())
    pages = [p for p in reports.rglob("*.html") if not p.parent.is_symlink()]
    assert len(pages) == 5  # index and the four notebooks
    for page in pages:
        words = set(re.findall(r"[A-Z]+\d+", _BASE64.sub("", page.read_text())))
        assert not words & ids, (page.name, sorted(words & ids)[:5])

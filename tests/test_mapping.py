"""Mapping files: the Telco worked example, derivations, drafting, and `workbench data check/init`."""
import os
import re

import pandas as pd
import pytest
from click.testing import CliRunner

from helpers import config
from helpers.cli import main
from helpers.data import external, mapping
from helpers.data import schema as S
from helpers.data.io import load_dataset
from helpers.data.validate import validate
from helpers.stats import overview

from .conftest import workbench

TELCO_MAPPING = config.EXTERNAL / "ibm_telco_churn" / "mapping.yaml"

# A CRM export as people send it: semicolons, day-first dates, decimal commas, status labels,
# active customers without an end date, no customer ids.
EXPORT = """Start;Cancelled;Status;Plan;Fee;Region
01/01/2023;01/07/2023;Closed;Monthly;12,50;North
15/02/2023;;Active;Annual;20,00;South
01/03/2023;20/03/2023;Closed;Monthly;9,99;North
10/03/2023;;Active;Two-year;30,00;South
"""
EXPORT_MAPPING = """description: synthetic CRM export
customers:
  file: export.csv
  delimiter: ";"
  decimal: ","
  columns: {signup_date: Start, end_date: Cancelled, contract: Plan, monthly_value: Fee, region: Region}
  dates: {signup_date: "%d/%m/%Y", end_date: "%d/%m/%Y"}
  values: {contract: {"Monthly": month-to-month, "Annual": one-year, "Two-year": two-year}}
  churned: {from: end_date, observed_until: 2024-01-01}
  keep: {Status: status}
"""


@pytest.fixture(scope="module")
def telco_by_mapping():
    return load_dataset(TELCO_MAPPING)


def telco_by_hand() -> pd.DataFrame:
    """Reference: the Telco CSV read with pandas alone, column by column (the reader the mapping replaced)."""
    raw = pd.read_csv(external.TELCO_FILE, dtype={"TotalCharges": str})
    blank = raw["TotalCharges"].str.strip() == ""
    assert (raw.loc[blank, "tenure"] == 0).all()  # blank charges: only the 11 customers not billed yet
    extras = {"gender": "gender", "SeniorCitizen": "senior_citizen", "Partner": "partner", "Dependents": "dependents",
              "PhoneService": "phone_service", "InternetService": "internet_service",
              "OnlineSecurity": "online_security", "TechSupport": "tech_support",
              "PaperlessBilling": "paperless_billing", "PaymentMethod": "payment_method",
              "TotalCharges": "total_charges"}
    out = pd.DataFrame({
        "customer_id": raw["customerID"], "tenure_months": raw["tenure"].astype(float),
        "churned": raw["Churn"].map({"Yes": True, "No": False}),
        "contract": raw["Contract"].map({"Month-to-month": "month-to-month", "One year": "one-year",
                                         "Two year": "two-year"}),
        "monthly_value": raw["MonthlyCharges"]})
    more = raw[list(extras)].rename(columns=extras)
    more["senior_citizen"] = more["senior_citizen"].astype(bool)
    more["total_charges"] = pd.to_numeric(more["total_charges"].where(~blank, "0"))
    return validate({"customers": pd.concat([out, more], axis=1)})["customers"]


def test_telco_mapping_gives_the_customers_table_read_by_hand(telco_by_mapping):
    pd.testing.assert_frame_equal(telco_by_mapping.customers, telco_by_hand())
    pd.testing.assert_frame_equal(load_dataset("telco").customers, telco_by_mapping.customers)  # one definition
    # published facts (data/external/ibm_telco_churn/PROVENANCE.md): 1,869 / 7,043 = 26.54%
    assert round(100 * telco_by_mapping.customers["churned"].mean(), 2) == 26.54
    counts = telco_by_mapping.customers["contract"].value_counts().to_dict()
    assert counts == {"month-to-month": 3875, "two-year": 1695, "one-year": 1473}


def test_fingerprint_covers_the_mapping_and_its_files(tmp_path):
    (tmp_path / "export.csv").write_text(EXPORT)
    (tmp_path / "m.yaml").write_text(EXPORT_MAPPING)
    first = load_dataset(tmp_path / "m.yaml").fingerprint
    (tmp_path / "m.yaml").write_text(EXPORT_MAPPING.replace("2024-01-01", "2024-02-01"))
    second = load_dataset(tmp_path / "m.yaml").fingerprint
    (tmp_path / "export.csv").write_text(EXPORT.replace("12,50", "13,50"))
    assert len({first, second, load_dataset(tmp_path / "m.yaml").fingerprint}) == 3


def test_an_export_with_dates_decimal_commas_and_no_ids(tmp_path):
    (tmp_path / "export.csv").write_text(EXPORT)
    (tmp_path / "m.yaml").write_text(EXPORT_MAPPING)
    c = load_dataset(tmp_path / "m.yaml").customers
    assert c["customer_id"].tolist() == ["C1", "C2", "C3", "C4"]
    assert c["churned"].tolist() == [True, False, True, False]
    assert c["monthly_value"].tolist() == [12.5, 20.0, 9.99, 30.0]
    # 2023-01-01 -> 2023-07-01 is 181 days; active customers are censored at observed_until
    assert c["tenure_months"].iloc[0] == pytest.approx(181 / S.DAYS_PER_MONTH)
    assert c["end_date"].iloc[1] == pd.Timestamp("2024-01-01")
    assert c["status"].tolist() == ["Closed", "Active", "Closed", "Active"]


NO_ID_MAPPING = """customers:
  file: c.csv
  columns: {tenure_months: tenure, churned: churn}
  values: {churned: {"Yes": true, "No": false}}
"""


@pytest.mark.parametrize("header", ["Customer ID", "customerID", "CUSTOMER_ID", " customer id "])
def test_an_unmapped_column_named_like_customer_id_gives_the_ids(tmp_path, header):
    (tmp_path / "c.csv").write_text(f"tenure,{header},churn\n3,K7,Yes\n4,K2,No\n")
    (tmp_path / "m.yaml").write_text(NO_ID_MAPPING)
    ds = load_dataset(tmp_path / "m.yaml")
    assert ds.customers["customer_id"].tolist() == ["K2", "K7"]
    assert (f"customer ids: from column {header.strip()!r} of c.csv (customer_id is not listed under columns: in "
            "the mapping)") in mapping.profile(ds.tables)


def test_two_columns_named_like_customer_id_are_refused(tmp_path):
    (tmp_path / "c.csv").write_text("Customer ID,customer_id,tenure,churn\nK7,7,3,Yes\nK2,2,4,No\n")
    (tmp_path / "m.yaml").write_text(NO_ID_MAPPING)
    with pytest.raises(mapping.MappingError, match=r"^customers: c.csv has 2 columns that may be the customer id "
                                                   r"\('Customer ID', 'customer_id'\): say which under columns:, "
                                                   r"e.g. `columns: \{customer_id: Customer ID\}`$"):
        load_dataset(tmp_path / "m.yaml")
    # a column mapped to another contract column is no candidate
    (tmp_path / "m.yaml").write_text(NO_ID_MAPPING.replace("churned: churn}", "churned: churn, account_manager_id: "
                                                                              "customer_id}"))
    assert load_dataset(tmp_path / "m.yaml").customers["customer_id"].tolist() == ["K2", "K7"]


def test_generated_ids_are_said_so_by_data_check(tmp_path):
    (tmp_path / "c.csv").write_text("tenure,churn\n3,Yes\n4,No\n")
    (tmp_path / "m.yaml").write_text(NO_ID_MAPPING)
    done = CliRunner().invoke(main, ["data", "check", str(tmp_path / "m.yaml")])
    assert done.exit_code == 0, done.output
    assert ("  customer ids: generated (C1, C2, ... in file order): c.csv has no customer id column; map one under "
            "columns: (customer_id: <column>) to use your own ids\n") in done.stdout
    (tmp_path / "m.yaml").write_text(NO_ID_MAPPING.replace("tenure_months", "customer_id: tenure, tenure_months"))
    assert "customer ids" not in CliRunner().invoke(main, ["data", "check", str(tmp_path / "m.yaml")]).stdout


def test_tenure_in_days_and_churn_from_a_status_column(tmp_path):
    (tmp_path / "c.tsv").write_text("id\tdays\tstate\nx\t61\tgone\ny\t0\tactive\nz\t30\t\n")
    (tmp_path / "m.yml").write_text("customers:\n  file: c.tsv\n  columns: {customer_id: id}\n"
                                    "  tenure: {column: days, unit: days}\n"
                                    "  churned: {column: state, values: [gone], otherwise: false}\n")
    tables, files = mapping.load_mapping(tmp_path / "m.yml")
    assert [f.name for f in files] == ["m.yml", "c.tsv"]
    c = tables["customers"]
    assert c["tenure_months"].tolist() == pytest.approx([61 / S.DAYS_PER_MONTH, 0.0, 30 / S.DAYS_PER_MONTH])
    assert c["churned"].tolist()[:2] == [True, False] and pd.isna(c["churned"].iloc[2])


def test_guesses_for_the_telco_header_and_values():
    raw = pd.read_csv(external.TELCO_FILE, dtype=str, nrows=200)
    assert mapping.guess_columns(raw.columns) == {
        "customer_id": "customerID", "tenure_months": "tenure", "churned": "Churn", "contract": "Contract",
        "monthly_value": "MonthlyCharges"}
    assert mapping._guess_values("churned", raw["Churn"]) == {"No": False, "Yes": True}
    assert mapping._guess_values("contract", raw["Contract"]) == {
        "Month-to-month": "month-to-month", "One year": "one-year", "Two year": "two-year"}


def test_a_drafted_telco_mapping_loads_with_the_published_churn_rate(tmp_path):
    text = mapping.draft_mapping(external.TELCO_FILE, out=tmp_path / "m.yaml")
    assert text.count("# GUESS: confirm") == 7
    (tmp_path / "m.yaml").write_text(text)
    c = load_dataset(tmp_path / "m.yaml").customers
    assert round(100 * overview.churn_rate(c)["rate"].item(), 2) == 26.54


def test_data_check_and_init_commands(tmp_path):
    done = workbench("data", "check", TELCO_MAPPING)
    assert done.returncode == 0, done.stderr
    for line in ("churned: 1,869 of 7,043 (26.54%)", "tenure: 0.0 to 72.0 months", "churn survival: yes",
                 "value x satisfaction quadrants: no, no satisfaction column",
                 "complaint recovery: no, no contacts table", "retention effort: no, no campaigns table"):
        assert line in done.stdout
    (tmp_path / "c.csv").write_text("customerID,tenure,Churn\na,3,Yes\nb,-1,No\n")
    done = workbench("data", "init", tmp_path / "c.csv")
    assert done.returncode == 0 and (tmp_path / "mapping.yaml").exists(), done.stderr
    assert workbench("data", "init", tmp_path / "c.csv").returncode == 2  # no overwrite without --force
    done = workbench("data", "check", tmp_path / "mapping.yaml")
    assert done.returncode == 2
    assert "customers.tenure_months: 1 row below 0 (row 3): tenure_months must be >= 0" in done.stderr


def test_a_notebook_runs_on_a_mapping_file_and_bad_data_writes_nothing(tmp_path):
    reports = tmp_path / "reports"
    done = workbench("run", "00_data_overview", "-p", f"dataset={TELCO_MAPPING}", "--reports", reports, "--no-progress")
    assert done.returncode == 0, done.stderr
    (manifest,) = {p.resolve() for p in reports.glob("*/manifest.json")}
    good = manifest.parent.name
    (tmp_path / "bad.csv").write_text("customer,tenure,churn\nA1,-3,Yes\nA2,4,No\n")
    (tmp_path / "bad.yaml").write_text("customers:\n  file: bad.csv\n  columns: {customer_id: customer, "
                                       "tenure_months: tenure, churned: churn}\n"
                                       '  values: {churned: {"Yes": true, "No": false}}\n')
    done = workbench("run", "00_data_overview", "-p", f"dataset={tmp_path / 'bad.yaml'}", "--reports", reports)
    assert done.returncode == 2 and "customers.tenure_months: 1 row below 0 (row 2)" in done.stderr
    runs = [p.name for p in reports.iterdir() if p.is_dir() and not p.name.startswith(("latest", "."))]
    assert runs == [good]  # nothing new written


def test_draft_of_a_semicolon_export_with_day_first_dates(tmp_path):
    # a CRM export as a new user brings it: ';' between columns, day-first dates, blank end for actives
    (tmp_path / "export.csv").write_text(
        "Customer No;Start;Cancelled;Status;Plan;Monthly Fee\n"
        "K1;19/08/2023;19/10/2023;Closed;Annual;93.3\n"
        "K2;22/03/2023;;Active;Monthly;51.7\n"
        "K3;02/01/2023;15/03/2024;Closed;Monthly;20\n")
    text = mapping.draft_mapping(tmp_path / "export.csv")
    for line in ("delimiter: ;", "customer_id: Customer No", "signup_date: Start", "end_date: Cancelled",
                 "signup_date: '%d/%m/%Y'", "{Annual: one-year, Monthly: month-to-month}",
                 "churned: {from: end_date, observed_until: YYYY-MM-DD}   # TODO"):
        assert line in text, line
    (tmp_path / "mapping.yaml").write_text(text)
    with pytest.raises(mapping.MappingError, match=r"observed_until 'YYYY-MM-DD' is not a date: write the last day"):
        load_dataset(tmp_path / "mapping.yaml")
    confirmed = text.replace("YYYY-MM-DD", "2024-06-30").replace("    churned: Status   # GUESS: confirm\n", "")
    (tmp_path / "mapping.yaml").write_text(confirmed)
    c = load_dataset(tmp_path / "mapping.yaml").customers
    assert c["churned"].tolist() == [True, False, True]
    assert c["end_date"].dt.strftime("%Y-%m-%d").tolist() == ["2023-10-19", "2024-06-30", "2024-03-15"]
    assert c["contract"].astype(str).tolist() == ["one-year", "month-to-month", "month-to-month"]


def test_relative_data_paths_reach_the_kernel(tmp_path):
    # the kernel runs in notebooks/: a relative dataset path given on the command line must still work
    from helpers.report.params import Parameter
    from helpers.report.runner import _absolute_paths
    (tmp_path / "m.yaml").write_text("x")
    declared = {"DATASET": Parameter("DATASET", "synthetic", role="dataset"), "OTHER": Parameter("OTHER", "")}
    here = os.getcwd()
    try:
        os.chdir(tmp_path)
        assert _absolute_paths({"DATASET": "m.yaml", "OTHER": "m.yaml"}, declared) == {
            "DATASET": str(tmp_path / "m.yaml"), "OTHER": "m.yaml"}
        assert _absolute_paths({"DATASET": "synthetic"}, declared) == {"DATASET": "synthetic"}
    finally:
        os.chdir(here)


# ---- nested blocks: unknown keys, units, churn labels ------------------------------------------------
# labels as a hand-made export has them ("Yes " is stripped by the reader, so it is "Yes")
MESSY_CHURN = "id,months,Churn\n" + "".join(f"c{i},{i % 30 + 1},{label}\n" for i, label in enumerate(
    ["yes"] * 40 + ["Yes "] * 12 + ["Y"] * 5 + ["Yes"] * 40 + ["No"] * 80 + ["no"] * 15 + ["N"] * 8))


def _customers(tmp_path, csv: str, block: str) -> dict:
    (tmp_path / "c.csv").write_text(csv)
    (tmp_path / "m.yaml").write_text("customers:\n  file: c.csv\n  columns: {customer_id: id, tenure_months: months}\n"
                                     + block)
    return mapping.load_mapping(tmp_path / "m.yaml")[0]["customers"]


def test_unlisted_churn_labels_are_refused_with_each_label_and_its_count(tmp_path):
    """A silent wrong answer before: every label but "Yes" counted as not churned (52 of 200 churned, truth 97)."""
    with pytest.raises(mapping.MappingError) as e:
        _customers(tmp_path, MESSY_CHURN, "  churned: {column: Churn, values: [\"Yes\"]}\n")
    message = str(e.value)
    assert message.startswith("customers.churned: column 'Churn' of c.csv holds labels listed neither under values: "
                              "(churned) nor under active: 'No' (80 rows), 'yes' (40 rows), 'no' (15 rows), 'N' (8 "
                              "rows), 'Y' (5 rows); ")
    assert "'Yes'" not in message and "add otherwise: false (or true)" in message


def test_listing_every_churned_label_and_saying_what_the_rest_are(tmp_path):
    listed = "  churned: {column: Churn, values: [\"yes\", \"Yes\", \"Y\"], active: [\"No\", \"no\", \"N\"]}\n"
    assert _customers(tmp_path, MESSY_CHURN, listed)["churned"].sum() == 97
    rest_active = "  churned: {column: Churn, values: [\"yes\", \"Yes\", \"Y\"], otherwise: false}\n"
    assert _customers(tmp_path, MESSY_CHURN, rest_active)["churned"].sum() == 97
    rest_churned = "  churned: {column: Churn, active: [\"No\", \"no\", \"N\"], otherwise: true}\n"
    assert _customers(tmp_path, MESSY_CHURN, rest_churned)["churned"].sum() == 97


@pytest.mark.parametrize(("block", "message"), [
    ("  tenure: {column: months, units: days}\n",
     "customers.tenure: unknown key 'units'; did you mean 'unit'? (keys are column, unit)"),
    ("  tenure: {column: months, unit: month}\n",
     "customers.tenure: unit 'month' is not one of months, days, weeks, years; did you mean 'months'?"),
    ("  churned: {column: Churn, value: [Yes]}\n",
     "customers.churned: unknown key 'value'; did you mean 'values'? (keys are column, values, active, otherwise)"),
    ("  churned: {from: end_date, observed: 2024-06-30}\n",
     "customers.churned: unknown key 'observed'; did you mean 'observed_until'?"),
    ("  churned: {column: Churn, values: [Yes], otherwise: maybe}\n",
     "customers.churned: otherwise is true or false"),
    ("  churned: {status: Churn}\n", "customers.churned: write {column: <status column>, values:"),
])
def test_unknown_keys_inside_nested_blocks_are_refused(tmp_path, block, message):
    """A silent wrong answer before: `units: days` was ignored and days were read as months."""
    with pytest.raises(mapping.MappingError, match=re.escape(message)):
        _customers(tmp_path, "id,months,Churn\na,3,Yes\n", block)


@pytest.mark.parametrize(("unit", "months"), [("months", 24.0), ("years", 288.0), ("weeks", 24 * 7 / S.DAYS_PER_MONTH),
                                              ("days", 24 / S.DAYS_PER_MONTH)])
def test_tenure_in_years_weeks_or_days_becomes_months(tmp_path, unit, months):
    (tmp_path / "c.csv").write_text("id,t,Churn\na,24,Yes\n")
    (tmp_path / "m.yaml").write_text(f"customers:\n  file: c.csv\n  columns: {{customer_id: id}}\n"
                                     f"  tenure: {{column: t, unit: {unit}}}\n"
                                     "  churned: {column: Churn, values: [\"Yes\"], otherwise: false}\n")
    c = mapping.load_mapping(tmp_path / "m.yaml")[0]["customers"]
    assert float(c["tenure_months"].iloc[0]) == pytest.approx(months)


@pytest.mark.parametrize(("block", "message"), [
    ("  columns: {customer_id: id, tenure_months: months, contract: Churn, region: Churn}\n"
     "  churned: {column: Churn, values: [Yes], otherwise: false}\n",
     "customers: the source column 'Churn' feeds contract, region and churned: map each contract column"),
    ("  columns: {customer_id: id, tenure_months: months, monthly_value: months}\n"
     "  churned: {column: Churn, values: [Yes], otherwise: false}\n",
     "customers: the source column 'months' feeds tenure_months and monthly_value: map each contract column"),
    ("  columns: {customer_id: id, tenure_months: months}\n  tenure: {column: days, unit: days}\n"
     "  churned: {column: Churn, values: [Yes], otherwise: false}\n",
     "customers: tenure is given twice, as columns: tenure_months: 'months' and as tenure: {column: 'days'}: keep one"),
])
def test_one_source_column_for_two_contract_columns_is_refused(tmp_path, block, message):
    """Accepted silently before: `contract: Plan` beside `region: Plan`; `tenure:` won over tenure_months unsaid."""
    (tmp_path / "c.csv").write_text("id,months,days,Churn\na,3,90,Yes\n")
    (tmp_path / "m.yaml").write_text("customers:\n  file: c.csv\n" + block)
    with pytest.raises(mapping.MappingError, match=re.escape(message)):
        mapping.load_mapping(tmp_path / "m.yaml")


def test_cells_the_mapping_filled_are_said_by_data_check(telco_by_mapping):
    """`fill:` imputed silently before: the profile said "missing values: none"."""
    lines = mapping.profile(telco_by_mapping.tables)
    assert "missing values: none (after the mapping's fill: customers.total_charges 11 set to 0)" in lines
    assert mapping.mapping_notes(telco_by_mapping.tables) == [
        "The mapping filled 11 missing cells of customers.total_charges with 0."]
    assert mapping.mapping_notes(load_dataset("telco").tables)  # the built-in name reads the same mapping

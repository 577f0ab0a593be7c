"""Mapping files: the Telco worked example, derivations, drafting, and `workbench data check/init`."""
import json
import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from helpers import config
from helpers.cli import main
from helpers.data import external, mapping, quality
from helpers.data import schema as S
from helpers.data.io import load_dataset
from helpers.data.validate import DataError, validate
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


# ---- issue 15: drafting from names and values, and what real exports need ------------------------------
FIXTURES = Path(__file__).parent / "fixtures" / "mapping"
PAYLOAD = "__import__('os').system('touch wb_pwned') <script>alert(1)</script>"


def _fixtures(tmp_path, *names: str) -> Path:
    """Copies of fixture files in a fresh folder (a mapping's files sit next to it)."""
    for name in names:
        shutil.copy(FIXTURES / name, tmp_path / name)
    return tmp_path


def _load(tmp_path, text: str):
    (tmp_path / "m.yaml").write_text(text)
    return load_dataset(tmp_path / "m.yaml")


def _draft(tmp_path, name: str) -> str:
    return mapping.draft_mapping(tmp_path / name, out=tmp_path / "m.yaml")


def test_draft_reads_a_tenure_in_years_and_a_1_to_5_score(tmp_path):
    """Kaggle's bank churn export: Tenure 1-10 was read as months and a 1-5 score put on 0-10 as it was."""
    text = _draft(_fixtures(tmp_path, "bank_churn.csv"), "bank_churn.csv")
    for line in ("  tenure: {column: Tenure, unit: years}   # GUESS: doubtful, values 1 to 10 (median 4): a tenure in "
                 "months rarely stops at 10, so read as years; write unit: months if they are months",
                 "  satisfaction: {column: Satisfaction Score, scale: [1, 5]}   # GUESS: confirm; values 1 to 5 "
                 "(median 3), whole numbers: a 1-5 score, rescaled onto the contract's 0-10",
                 "    churned: Exited   # GUESS: confirm; labels '0' (7 rows), '1' (5 rows)",
                 "    region: Geography   # GUESS: confirm", "    customer_id: CustomerId   # GUESS: confirm"):
        assert line in text, line
    c = _load(tmp_path, text).customers
    raw = pd.read_csv(FIXTURES / "bank_churn.csv").sort_values("CustomerId")
    assert c["tenure_months"].tolist() == (12.0 * raw["Tenure"]).tolist()
    # linear: 1 -> 0, 5 -> 10 on the contract's scale (schema: satisfaction min 0, max 10)
    assert c["satisfaction"].tolist() == pytest.approx((10 * (raw["Satisfaction Score"] - 1) / 4).tolist())
    assert int(c["churned"].sum()) == 5


def test_draft_of_the_cognos_telco_export(tmp_path):
    """IBM's full Telco export: one country and one state, a churn label and a churn value, 20 churn reasons."""
    text = _draft(_fixtures(tmp_path, "telco_cognos.csv"), "telco_cognos.csv")
    for line in ("    churned: Churn Label   # GUESS: confirm; labels 'Yes' (20 rows), 'No' (8 rows)",
                 "    # region: not 'State': one value only ('California'), so no segments",
                 "    # region: not 'Country': one value only ('United States'), so no segments",
                 "  # not kept: 'Churn Value' also records churn ('1' (20 rows), '0' (8 rows)); a covariate that "
                 "records the outcome leaks it",
                 "    column: Churn Reason", "      moved: [Moved]",
                 "    # TODO: labels in no group: \"Don't know\" (1 row), 'Deceased' (1 row): add them to a group, or "
                 "write otherwise: unknown"):
        assert line in text, line
    assert "region:" not in text.replace("# region:", "") and "- Churn Value" not in text
    with pytest.raises(mapping.MappingError, match=r"column 'Churn Reason' of telco_cognos.csv holds labels in no "
                                                   r"group: \"Don't know\" \(1 row\), 'Deceased' \(1 row\); list each"):
        _load(tmp_path, text)
    confirmed = text.replace("    column: Churn Reason\n", "    column: Churn Reason\n    otherwise: unknown\n")
    ds = _load(tmp_path, confirmed)
    c = ds.customers
    assert c["end_reason_label"].notna().sum() == 20 and c["end_reason"].notna().sum() == 18
    assert c.loc[c["end_reason_label"] == "Moved", "end_reason"].tolist() == ["moved"]
    assert ("End reasons: the 20 labels of column 'Churn Reason' were grouped onto the contract's reasons and are kept "
            "as customers.end_reason_label; 2 rows with a label in no group counted as unknown.") in \
        mapping.mapping_notes(ds.tables)


def _churners_book(path: Path, *, title: bool = False) -> Path:
    """Kaggle's BankChurners as a workbook: a data dictionary first, the table, a notes sheet."""
    with pd.ExcelWriter(path) as xl:
        pd.read_csv(FIXTURES / "bank_churners_dictionary.csv").to_excel(xl, sheet_name="Data Dictionary", index=False)
        table = pd.read_csv(FIXTURES / "bank_churners.csv", dtype=str)
        if title:
            pd.DataFrame([["Credit card customers, extract of 2024-06-30"]]).to_excel(
                xl, sheet_name="BankChurners", index=False, header=False)
        table.to_excel(xl, sheet_name="BankChurners", index=False, startrow=2 if title else 0)
        pd.DataFrame([["exported by the CRM"]]).to_excel(xl, sheet_name="Notes", index=False, header=False)
    return path


def test_draft_of_a_workbook_picks_the_table_and_says_how_to_pick_another(tmp_path):
    text = mapping.draft_mapping(_churners_book(tmp_path / "churners.xlsx"))
    assert ("  sheet: BankChurners   # GUESS: confirm; the table-like sheet of 3: 'Data Dictionary' (5 rows x 2 "
            "columns; a data dictionary), 'BankChurners' (14 rows x 12 columns), 'Notes' (1 row of one column: no "
            "table); set sheet: to read another") in text
    assert ("  churned: {column: Attrition_Flag, values: [Attrited Customer], active: [Existing Customer]}   # GUESS: "
            "confirm; labels 'Existing Customer' (10 rows), 'Attrited Customer' (4 rows)") in text
    assert "    customer_id: CLIENTNUM   # GUESS: confirm" in text
    assert "    tenure_months: Months_on_book   # GUESS: confirm; values 13 to 52 (median 32.5); the name says months" \
        in text
    c = _load(tmp_path, text).customers
    assert (len(c), int(c["churned"].sum())) == (14, 4)
    titled = mapping.draft_mapping(_churners_book(tmp_path / "titled.xlsx", title=True))
    assert "  header_row: 3   # GUESS: confirm; the column names are on row 3 of the sheet" in titled
    assert len(_load(tmp_path, titled).customers) == 14


def test_draft_notices_numbers_that_are_dates(tmp_path):
    _fixtures(tmp_path, "subscriptions_excel_serial.csv", "accounts_unix.csv")
    text = _draft(tmp_path, "subscriptions_excel_serial.csv")
    assert ("    signup_date: excel_serial   # GUESS: confirm; numbers 44927 to 45134 read as Excel serial day "
            "numbers: 2023-01-01 to 2023-07-27") in text
    assert ("  # 'Last Login' holds numbers 1704067200 to 1706400000 read as Unix timestamps in seconds: 2024-01-01 to "
            "2024-01-28; kept as numbers") in text
    c = _load(tmp_path, text.replace("YYYY-MM-DD", "2024-06-30")).customers
    assert c["signup_date"].min() == pd.Timestamp("2023-01-01") and int(c["churned"].sum()) == 4
    text = _draft(tmp_path, "accounts_unix.csv")
    for line in ("    signup_date: created_at   # GUESS: confirm", "    end_date: closed_at_ms   # GUESS: confirm",
                 "    signup_date: unix_seconds   # GUESS: confirm", "    end_date: unix_ms   # GUESS: confirm"):
        assert line in text, line
    c = _load(tmp_path, text.replace("YYYY-MM-DD", "2024-06-30")).customers
    # acc_2: created 1674000000 s = 2023-01-18, closed 1677024000000 ms = 2023-02-22 (UTC)
    assert c.set_index("customer_id").loc["acc_2", ["signup_date", "end_date"]].tolist() == [
        pd.Timestamp("2023-01-18"), pd.Timestamp("2023-02-22")]


def test_a_drafted_mapping_keeps_hostile_names_and_labels_as_text(tmp_path):
    """Column names and labels go into the YAML draft: none may add a key, end a comment or break the quoting."""
    header = ['customer id', 'tenure', 'Churn', 'Plan, or: "contract" #x', "x\ncustomers: {file: /etc/passwd}",
              "- [a]"]
    rows = [["A1", "3", "Yes", "Monthly", PAYLOAD, "1"], ["A2", "5", "No", "Annual, 12: months", "b", "2"]]
    pd.DataFrame(rows, columns=header).to_csv(tmp_path / "c.csv", index=False)
    text = mapping.draft_mapping(tmp_path / "c.csv")
    spec = yaml.safe_load(text)
    assert list(spec) == ["customers"] and spec["customers"]["file"] == "c.csv"
    assert spec["customers"]["keep"] == ['Plan, or: "contract" #x', "x\ncustomers: {file: /etc/passwd}", "- [a]"]
    assert len(_load(tmp_path, text).customers) == 2
    with pd.ExcelWriter(tmp_path / "b.xlsx") as xl:
        pd.DataFrame(rows, columns=header).to_excel(xl, sheet_name="- 'y' #c {z} <b>", index=False)
        pd.DataFrame({"Field": ["x"], "Description": ["y"]}).to_excel(xl, sheet_name="Dictionary", index=False)
    assert yaml.safe_load(mapping.draft_mapping(tmp_path / "b.xlsx"))["customers"]["sheet"] == "- 'y' #c {z} <b>"


# ---- dates written as numbers --------------------------------------------------------------------------
SERIAL = """customers:
  file: subscriptions_excel_serial.csv
  columns: {customer_id: Customer, signup_date: Start Date, end_date: Cancel Date}
  dates: {signup_date: excel_serial, end_date: {format: excel_serial}}
  churned: {from: end_date, observed_until: 2024-06-30}
"""


def test_dates_as_excel_serials_and_unix_timestamps(tmp_path):
    _fixtures(tmp_path, "subscriptions_excel_serial.csv", "accounts_unix.csv")
    c = _load(tmp_path, SERIAL).customers
    # Excel's day 44927 is 2023-01-01 (days from 1899-12-30); K001 cancelled on day 44967 = 2023-02-10
    assert c.loc[0, ["signup_date", "end_date"]].tolist() == [pd.Timestamp("2023-01-01"), pd.Timestamp("2023-02-10")]
    unix = ("customers:\n  file: accounts_unix.csv\n  columns: {customer_id: account_id, signup_date: created_at, "
            "end_date: closed_at_ms}\n  dates: {signup_date: unix_seconds, end_date: unix_ms}\n"
            "  churned: {from: end_date, observed_until: 2024-06-30}\n")
    c = _load(tmp_path, unix).customers
    assert c.loc[0, "signup_date"] == pd.Timestamp("2023-01-01") and int(c["churned"].sum()) == 4


@pytest.mark.parametrize(("edit", "message"), [
    (("end_date: {format: excel_serial}", "end_date: unix_seconds"),
     "customers.end_date: 4 rows in 1970 as unix_seconds, like the whole column (e.g. '44967', '45063', '45159') "
     "(rows 2, 5, 8, 11): they read as excel_serial: write dates: {end_date: excel_serial}"),
    (("signup_date: excel_serial", "signup_date: unix_ms"),
     "customers.signup_date: 10 rows in 1970 as unix_ms, like the whole column"),
])
def test_dates_in_the_wrong_number_format_are_refused_with_the_one_they_fit(tmp_path, edit, message):
    _fixtures(tmp_path, "subscriptions_excel_serial.csv")
    with pytest.raises(DataError, match=re.escape(message)):
        _load(tmp_path, SERIAL.replace(*edit))


def test_implausible_and_non_numeric_number_dates_are_refused(tmp_path):
    (tmp_path / "c.csv").write_text("id,start,end,t,gone\na,44927,1677024000000,3,y\nb,99999,,4,n\nc,soon,,5,n\n")
    base = ("customers:\n  file: c.csv\n  columns: {customer_id: id, signup_date: start, end_date: end, "
            "tenure_months: t}\n  churned: {column: gone, values: [y], otherwise: false}\n")
    with pytest.raises(DataError) as e:
        _load(tmp_path, base + "  dates: {signup_date: excel_serial, end_date: unix_seconds}\n")
    assert ("customers.signup_date: 1 row not a number (dates: excel_serial) (e.g. 'soon') (row 4): an excel_serial "
            "date is a number") in str(e.value)
    assert ("customers.signup_date: 1 row not a plausible excel_serial date (outside 1900-2100) (e.g. '99999') (row 3):"
            " check the column, or its format under dates: signup_date:") in str(e.value)
    assert ("customers.end_date: 1 row not a plausible unix_seconds date (outside 1900-2100) (e.g. '1677024000000') "
            "(row 2): they read as unix_ms: write dates: {end_date: unix_ms}") in str(e.value)


@pytest.mark.parametrize(("dates", "message"), [
    ("{signup_date: excel}", "customers.dates.signup_date: 'excel' is not a date format; did you mean "
                             "'excel_serial'?: write a strftime format such as \"%d/%m/%Y\", or one of excel_serial, "
                             "unix_seconds, unix_ms"),
    ("{signup_date: {fromat: unix_ms}}", "customers.dates.signup_date: unknown key 'fromat'; did you mean 'format'?"),
    ("{signup_date: '%Q'}", "customers.dates.signup_date: '%Q' is not a date format ('Q' is a bad directive"),
    (f"{{signup_date: {json.dumps(PAYLOAD)}}}", "customers.dates.signup_date: \"__import__('os').system('touch "
                                               "wb_pwned') <script>alert(1)</script>\" is not a date format"),
])
def test_date_formats_are_checked(tmp_path, dates, message):
    (tmp_path / "c.csv").write_text("id,start,t,churn\na,2023-01-01,3,Yes\n")
    with pytest.raises(mapping.MappingError, match=re.escape(message)):
        _load(tmp_path, "customers:\n  file: c.csv\n  columns: {customer_id: id, signup_date: start, tenure_months: t}"
                        f"\n  churned: {{column: churn, values: [\"Yes\"], otherwise: false}}\n  dates: {dates}\n")
    assert not list(tmp_path.glob("*pwned*"))


# ---- keeping some rows: filter --------------------------------------------------------------------------
TELCO_SAMPLE = """customers:
  file: telco_sample.csv
  columns: {customer_id: customerID, tenure_months: tenure, churned: Churn, contract: Contract}
  values:
    churned: {"Yes": true, "No": false}
    contract: {"Month-to-month": month-to-month, "One year": one-year, "Two year": two-year}
  keep: {PaymentMethod: payment_method, InternetService: internet_service}
"""
FILTER = """  filter:
    - {column: Contract, in: [Month-to-month]}
    - {column: InternetService, not_in: ["No"]}
    - {column: tenure, min: 2, max: 24}
"""


def test_a_filter_keeps_rows_declaratively_and_says_how_many_it_dropped(tmp_path):
    ds = _load(_fixtures(tmp_path, "telco_sample.csv"), TELCO_SAMPLE + FILTER)
    c = ds.customers
    # by hand from the fixture: 8 month-to-month (4 not), all with internet, 6 of them with tenure 2-24
    assert c["customer_id"].tolist() == ["1452-KIOVK", "3668-QPYBK", "6713-OKOMC", "9237-HQITU", "9305-CDSKC",
                                         "9763-GRSKD"]
    assert c.attrs["dropped"] == {"outside the filter 'Contract' in ['Month-to-month']": 4,
                                  "outside the filter 'tenure' >= 2 and <= 24": 2}
    sentence = ("The mapping dropped 6 of the 12 rows of customers (4 outside the filter 'Contract' in "
                "['Month-to-month']; 2 outside the filter 'tenure' >= 2 and <= 24).")
    assert sentence in mapping.mapping_notes(ds.tables) and sentence in mapping.profile(ds.tables)
    issue = next(i for i in quality.quality_issues(ds) if i.kind == "mapping_dropped")
    assert issue.count == 6 and "the mapping dropped 6 of the 12 rows read (50.0%" in issue.sentence


def test_generated_ids_do_not_move_when_rows_are_filtered(tmp_path):
    (tmp_path / "c.csv").write_text("t,churn\n1,Yes\n0,No\n3,No\n")
    spec = ("customers:\n  file: c.csv\n  columns: {tenure_months: t}\n"
            "  churned: {column: churn, values: [\"Yes\"], active: [\"No\"]}\n")
    assert _load(tmp_path, spec + "  filter: [{column: t, min: 1}]\n").customers["customer_id"].tolist() == ["C1", "C3"]


@pytest.mark.parametrize(("block", "message"), [
    ("  filter: {column: Contract, in: [One year]}\n", "customers.filter: write a list of conditions"),
    ("  filter: [{column: Contract, not in: [One year]}]\n",
     "customers.filter[1]: unknown key 'not in'; did you mean 'not_in'?"),
    ("  filter: [{column: InternetService, not_in: [No]}]\n",
     "customers.filter[1].not_in: the label False was read by YAML as a boolean (unquoted Yes/No/On/Off become "
     "true/false): quote it, e.g. [\"No\"]"),
    ("  filter: [{column: tenure, min: '1'}]\n", "customers.filter[1].min: a number, got '1'"),
    ("  filter: [{column: tenure, min: 9, max: 2}]\n", "customers.filter[1]: min 9 is above max 2: no row could pass"),
    ("  filter: [{column: tenure}]\n", "customers.filter[1]: say which rows to keep: in: [<labels>], not_in:"),
    ("  filter: [{column: Contrct, in: [One year]}]\n",
     "customers: column 'Contrct' (for filter) is not in telco_sample.csv; did you mean 'Contract'?"),
    ("  filter: [{column: Contract, in: [One Year]}]\n",
     "customers.filter: 'Contract' in ['One Year']: the label 'One Year' is in no row of column 'Contract' of "
     "telco_sample.csv; did you mean 'One year'? (its labels: 'Month-to-month' (8 rows), 'One year' (3 rows), "
     "'Two year' (1 row)); write labels as the file has them, case included, or remove it"),
    ("  filter: [{column: tenure, min: 100}]\n",
     "customers.filter: 'tenure' >= 100 keeps none of the 12 rows of telco_sample.csv left to it"),
    ("  filter: [{column: PaymentMethod, min: 1}]\n",
     "customers.filter: 'PaymentMethod' >= 1: column 'PaymentMethod' of telco_sample.csv holds values that are not "
     "numbers ('Mailed check' (5 rows), 'Electronic check' (4 rows), 'Bank transfer (automatic)' (2 rows), 'Credit "
     "card (automatic)' (1 row)): min: and max: compare numbers"),
])
def test_filter_problems_name_the_condition_and_what_to_write(tmp_path, block, message):
    with pytest.raises(mapping.MappingError, match=re.escape(message)):
        _load(_fixtures(tmp_path, "telco_sample.csv"), TELCO_SAMPLE + block)


def test_a_filter_compares_hostile_labels_and_never_runs_them(tmp_path):
    _fixtures(tmp_path, "telco_sample.csv")
    with pytest.raises(mapping.MappingError, match=r"the label \"__import__\('os'\).system\('touch wb_pwned'\) "
                                                   r"<script>alert\(1\)</script>\" is in no row of column 'Contract'"):
        _load(tmp_path, TELCO_SAMPLE + f"  filter: [{{column: Contract, not_in: [{json.dumps(PAYLOAD)}]}}]\n")
    with pytest.raises(mapping.MappingError, match=r"column \"__import__\('os'\).* \(for filter\) is not in"):
        _load(tmp_path, TELCO_SAMPLE + f"  filter: [{{column: {json.dumps(PAYLOAD)}, in: [a]}}]\n")
    # a payload in the data is a label like any other: kept or dropped by plain comparison
    (tmp_path / "p.csv").write_text(f"id,t,churn,plan\na,1,Yes,{json.dumps(PAYLOAD)}\nb,2,No,Monthly\n")
    spec = ("customers:\n  file: p.csv\n  columns: {customer_id: id, tenure_months: t}\n"
            "  churned: {column: churn, values: [\"Yes\"], active: [\"No\"]}\n")
    kept = _load(tmp_path, spec + f"  filter: [{{column: plan, in: [{json.dumps(PAYLOAD)}]}}]\n").customers
    assert kept["customer_id"].tolist() == ["a"] and not list(tmp_path.glob("*pwned*"))
    assert not Path("wb_pwned").exists()


# ---- a second file: join ----------------------------------------------------------------------------------
JOIN = "  join: {file: status.csv, on: customerID, columns: [Satisfaction]}\n  satisfaction: {column: Satisfaction, " \
       "scale: [1, 5]}\n"


def test_a_join_adds_a_companion_files_columns_and_counts_the_matches(tmp_path):
    _fixtures(tmp_path, "telco_sample.csv", "status.csv")
    ds = _load(tmp_path, TELCO_SAMPLE + JOIN)
    c = ds.customers.set_index("customer_id")
    assert c.loc["3668-QPYBK", "satisfaction"] == 0.0 and c.loc["7795-CFOCW", "satisfaction"] == 10.0  # 1 and 5 of 5
    assert c["satisfaction"].isna().sum() == 2  # 9763-GRSKD and 7469-LKBCI are not in status.csv
    assert ("customers: Satisfaction comes from status.csv, joined on customerID: 10 of the 12 rows read matched, 2 "
            "have no match (Satisfaction left missing); 1 row of status.csv matches none.") in \
        mapping.mapping_notes(ds.tables)
    assert "customers.satisfaction was rescaled from the file's 1-5 onto the contract's 0-10." in \
        mapping.mapping_notes(ds.tables)
    assert [p.name for p in mapping.load_mapping(tmp_path / "m.yaml")[1]] == ["m.yaml", "telco_sample.csv",
                                                                               "status.csv"]
    before = ds.fingerprint
    (tmp_path / "status.csv").write_text((tmp_path / "status.csv").read_text().replace(",3,", ",4,"))
    assert load_dataset(tmp_path / "m.yaml").fingerprint != before  # the companion is part of the data set


def test_duplicate_keys_in_a_companion_file_are_refused_with_their_rows(tmp_path):
    _fixtures(tmp_path, "telco_sample.csv", "status_duplicates.csv")
    with pytest.raises(mapping.MappingError, match=re.escape(
            "customers.join: status_duplicates.csv has 2 values of 'customerID' on more than one row (5 rows: "
            "'3668-QPYBK' on rows 4, 12; '9237-HQITU' on rows 6, 13, 14): a file joined on customerID needs one row "
            "per key; remove the duplicates")):
        _load(tmp_path, TELCO_SAMPLE + JOIN.replace("status.csv", "status_duplicates.csv"))


def test_a_companion_file_must_sit_next_to_the_mapping(tmp_path):
    (tmp_path / "data").mkdir()
    _fixtures(tmp_path / "data", "telco_sample.csv", "status.csv")
    (tmp_path / "data" / "more").mkdir()
    shutil.copy(FIXTURES / "status.csv", tmp_path / "data" / "more" / "status.csv")
    shutil.copy(FIXTURES / "status.csv", tmp_path / "outside.csv")
    (tmp_path / "data" / "link.csv").symlink_to(tmp_path / "outside.csv")
    assert _load(tmp_path / "data", TELCO_SAMPLE + JOIN.replace("status.csv", "more/status.csv")).customers[
        "satisfaction"].notna().sum() == 10  # a folder below the mapping's is next to it
    for given in ("../outside.csv", str(tmp_path / "outside.csv"), "link.csv", "more/../../outside.csv"):
        refused = rf"^customers.join: file {re.escape(repr(given))} is not next to m.yaml \(in .*data or a folder " \
            r"below it\): copy the file there and write file: "
        with pytest.raises(mapping.MappingError, match=refused):
            _load(tmp_path / "data", TELCO_SAMPLE + JOIN.replace("status.csv", given))


@pytest.mark.parametrize(("join", "message"), [
    ("{file: status.csv, columns: [Satisfaction]}", "customers.join: write {file: <file next to the mapping>, on:"),
    ("{file: status.csv, on: customerID, columns: Satisfaction}",
     "customers.join: columns is a list of the companion file's columns to add, got 'Satisfaction'"),
    ("{file: status.csv, on: customerID, columns: [Satisfction]}",
     "customers: column 'Satisfction' (for join: columns, in status.csv) is not in status.csv; did you mean "
     "'Satisfaction'?"),
    ("{file: status.csv, on: customerId, columns: [Satisfaction]}",
     "customers: column 'customerId' (for join: on) is not in telco_sample.csv; did you mean 'customerID'?"),
    ("{file: status.csv, on: customerID, columns: [Satisfaction], how: left}",
     "customers.join: unknown key 'how' (keys are file, on, columns, sheet, delimiter, encoding)"),
    ("{file: telco_sample.csv, on: customerID, columns: [tenure]}",
     "customers.join: column 'tenure' is in both telco_sample.csv and telco_sample.csv: join only columns the main "
     "file lacks"),
    ("{file: nowhere.csv, on: customerID, columns: [Satisfaction]}", "customers: file not found: "),
    (f"{{file: status.csv, on: {json.dumps(PAYLOAD)}, columns: [Satisfaction]}}",
     "customers: column \"__import__('os').system('touch wb_pwned') <script>alert(1)</script>\" (for join: on) is not "
     "in telco_sample.csv"),
    (f"{{file: status.csv, on: customerID, columns: [Satisfaction], encoding: {json.dumps(PAYLOAD)}}}",
     "customers.join: encoding \"__import__('os').system('touch wb_pwned') <script>alert(1)</script>\" is not a text "
     "encoding"),
    ("{file: status.csv, on: customerID, columns: [Satisfaction], encoding: iso8859_2}", None),
    ("{file: status.csv, on: customerID, columns: [Satisfaction], encoding: utf8x}",
     "customers.join: encoding 'utf8x' is not a text encoding; did you mean 'utf-8'? (e.g. utf-8, latin-1, cp1252, "
     "utf-16)"),
    ("{file: status.csv, on: customerID, columns: [Satisfaction], delimiter: '(a+)+$'}",
     "customers.join: delimiter is one character (\";\", \"|\", a tab), got '(a+)+$'"),
])
def test_join_problems_name_the_file_the_column_and_what_to_write(tmp_path, join, message):
    _fixtures(tmp_path, "telco_sample.csv", "status.csv")
    if message is None:  # any encoding Python knows is taken
        rescaled = "  satisfaction: {column: Satisfaction, scale: [1, 5]}\n"
        assert _load(tmp_path, TELCO_SAMPLE + f"  join: {join}\n" + rescaled).customers["satisfaction"].notna().sum() \
            == 10
        return
    with pytest.raises(mapping.MappingError, match=re.escape(message)):
        _load(tmp_path, TELCO_SAMPLE + f"  join: {join}\n")


# ---- rows missing a required value: drop_missing ------------------------------------------------------------
GAPS = """customers:
  file: telco_gaps.csv
  columns: {customer_id: customerID, tenure_months: tenure, churned: Churn}
  values: {churned: {"Yes": true, "No": false}}
"""


def test_rows_missing_a_required_value_are_refused_unless_dropped_explicitly(tmp_path):
    _fixtures(tmp_path, "telco_gaps.csv")
    with pytest.raises(DataError, match=r"customers.churned: 1 row missing \(row 8\)"):
        _load(tmp_path, GAPS)
    ds = _load(tmp_path, GAPS + "  drop_missing: [tenure, churned]\n")
    assert len(ds.customers) == 10
    assert not ds.customers["customer_id"].isin(["3668-QPYBK", "1452-KIOVK"]).any()
    assert ds.customers.attrs["dropped"] == {"missing tenure_months (drop_missing:)": 1,
                                             "missing churned (drop_missing:)": 1}
    assert ("The mapping dropped 2 of the 12 rows of customers (1 missing tenure_months (drop_missing:); 1 missing "
            "churned (drop_missing:)).") in mapping.mapping_notes(ds.tables)


@pytest.mark.parametrize(("drop", "message"), [
    ("[tenur]", "customers.drop_missing: 'tenur' is not a column of the mapped customers table; did you mean "
                "'tenure'? (contract columns, or names under keep:)"),
    ("tenure_months", "customers.drop_missing: write a list of columns, e.g. [tenure_months, churned]"),
    (f"[{json.dumps(PAYLOAD)}]", "customers.drop_missing: \"__import__('os').system('touch wb_pwned') "
                                 "<script>alert(1)</script>\" is not a column of the mapped customers table"),
    ("[region]", "customers.drop_missing: region is not mapped (columns: customer_id, tenure_months, churned): map "
                 "it, or remove it from drop_missing:"),
])
def test_drop_missing_names_columns_of_the_mapped_table(tmp_path, drop, message):
    _fixtures(tmp_path, "telco_gaps.csv")
    with pytest.raises(mapping.MappingError, match=re.escape(message)):
        _load(tmp_path, GAPS + f"  drop_missing: {drop}\n")


def test_drop_missing_of_a_tenure_derived_from_dates_names_the_dates(tmp_path):
    (tmp_path / "c.csv").write_text("id,start,end,churn\na,2023-01-01,2023-03-01,Yes\nb,,2023-05-01,No\n")
    with pytest.raises(mapping.MappingError, match=r"drop_missing: tenure_months is derived from signup_date and "
                                                   r"end_date here: list those under drop_missing: instead"):
        _load(tmp_path, "customers:\n  file: c.csv\n  columns: {customer_id: id, signup_date: start, end_date: end}\n"
                        "  churned: {column: churn, values: [\"Yes\"], active: [\"No\"]}\n"
                        "  drop_missing: [tenure_months]\n")
    c = _load(tmp_path, (tmp_path / "m.yaml").read_text().replace("[tenure_months]", "[signup_date]")).customers
    assert c["customer_id"].tolist() == ["a"]


# ---- end reasons in the data's own words ---------------------------------------------------------------------
COGNOS = """customers:
  file: telco_cognos.csv
  columns: {customer_id: CustomerID, tenure_months: Tenure Months}
  churned: {column: Churn Label, values: ["Yes"], active: ["No"]}
"""
REASONS = """  end_reason:
    column: Churn Reason
    groups:
      price: [Price too high, Extra data charges, Long distance charges, Competitor made better offer]
      service: [Network reliability, Service dissatisfaction, Product dissatisfaction]
      moved: [Moved]
"""


def test_end_reasons_keep_the_data_labels_and_group_them_onto_the_contract(tmp_path):
    _fixtures(tmp_path, "telco_cognos.csv")
    with pytest.raises(mapping.MappingError) as e:
        _load(tmp_path, COGNOS + REASONS)
    assert str(e.value).startswith("customers.end_reason: column 'Churn Reason' of telco_cognos.csv holds labels in no "
                                   "group: 'Competitor had better devices' (1 row), ")
    assert str(e.value).endswith("or add otherwise: unknown (or a reason) for the rest")
    c = _load(tmp_path, COGNOS + REASONS + "    otherwise: unknown\n").customers
    assert c["end_reason"].value_counts()[lambda n: n > 0].to_dict() == {"price": 4, "service": 3, "moved": 1}
    assert c["end_reason_label"].notna().sum() == 20 and c["end_reason"].isna().sum() == 20  # 8 active, 12 unknown
    assert c.attrs["outcome_record"] == ["end_reason_label"]
    c = _load(tmp_path, COGNOS + REASONS + "    otherwise: service\n    label: reason_given\n").customers
    assert c["end_reason"].value_counts()[lambda n: n > 0].to_dict() == {"service": 15, "price": 4, "moved": 1}
    assert "reason_given" in c and "end_reason_label" not in c


def test_end_reason_labels_spelled_like_the_contract_need_no_group(tmp_path):
    (tmp_path / "c.csv").write_text("id,t,churn,why\na,3,Yes,Price\nb,4,Yes,Non payment\nc,5,No,\n")
    c = _load(tmp_path, "customers:\n  file: c.csv\n  columns: {customer_id: id, tenure_months: t}\n"
                        "  churned: {column: churn, values: [\"Yes\"], active: [\"No\"]}\n"
                        "  end_reason: {column: why}\n").customers
    assert c["end_reason"].tolist()[:2] == ["price", "non-payment"] and c["end_reason_label"].tolist()[:2] == [
        "Price", "Non payment"]


@pytest.mark.parametrize(("block", "message"), [
    ("  end_reason: {column: Churn Reason, groups: {pricing: [Price too high]}}\n",
     "customers.end_reason.groups: 'pricing' is not a reason of the data contract; did you mean 'price'? (reasons: "
     "moved, price, service, non-payment)"),
    ("  end_reason: {column: Churn Reason, groups: {price: [Moved], moved: [Moved]}}\n",
     "customers.end_reason.groups: the label 'Moved' is under both price and moved: keep it in one group"),
    ("  end_reason: {column: Churn Reason, otherwise: other}\n",
     "customers.end_reason: otherwise is a reason (moved, price, service, non-payment) or unknown (left missing), got "
     "'other'"),
    ("  end_reason: {column: Churn Reason, groups: {price: Price too high}}\n",
     "customers.end_reason.groups.price: write a list of labels"),
    ("  end_reason: {column: Churn Reason, label: tenure_months}\n",
     "customers.end_reason: label is the name of the column that keeps the file's labels, a name outside the contract"),
    ("  end_reason: {column: Churn Reason, group: {}}\n", "customers.end_reason: unknown key 'group'; did you mean "
                                                         "'groups'?"),
    ("  end_reason: Churn Reason\n", "customers.end_reason: write {column: <source column>, groups:"),
    ("  end_reason: {column: Churn Reason}\n  columns: {end_reason: Churn Reason}\n",
     "customers: end_reason is given twice, as columns: end_reason: 'Churn Reason' and as end_reason: {column: "
     "'Churn Reason'}: keep one"),
])
def test_end_reason_blocks_are_checked(tmp_path, block, message):
    _fixtures(tmp_path, "telco_cognos.csv")
    with pytest.raises(mapping.MappingError, match=re.escape(message)):
        _load(tmp_path, COGNOS + block)


def test_hostile_end_reason_labels_stay_labels(tmp_path):
    (tmp_path / "c.csv").write_text(f"id,t,churn,why\na,3,Yes,{json.dumps(PAYLOAD)}\nb,4,No,\n")
    base = ("customers:\n  file: c.csv\n  columns: {customer_id: id, tenure_months: t}\n"
            "  churned: {column: churn, values: [\"Yes\"], active: [\"No\"]}\n")
    with pytest.raises(mapping.MappingError, match=r"holds labels in no group: \"__import__\('os'\)"):
        _load(tmp_path, base + "  end_reason: {column: why}\n")
    c = _load(tmp_path, base + f"  end_reason: {{column: why, groups: {{price: [{json.dumps(PAYLOAD)}]}}}}\n").customers
    assert c["end_reason"].iloc[0] == "price" and pd.isna(c["end_reason"].iloc[1])
    assert c["end_reason_label"].iloc[0] == PAYLOAD
    assert not list(tmp_path.glob("*pwned*")) and not Path("wb_pwned").exists()


# ---- satisfaction on the file's own scale ----------------------------------------------------------------------
@pytest.mark.parametrize(("block", "message"), [
    ("  satisfaction: {column: Satisfaction Score, scale: [5, 1]}\n",
     "customers.satisfaction: scale is [lowest, highest] of the file's scale, two numbers with the lowest first, e.g. "
     "[1, 5]; got [5, 1]"),
    ("  satisfaction: {column: Satisfaction Score, scale: ['1', '5']}\n", "got ['1', '5']"),
    ("  satisfaction: {column: Satisfaction Score, scale: [true, 5]}\n", "got [True, 5]"),
    ("  satisfaction: {column: Satisfaction Score, scale: [1, .inf]}\n", "got [1, inf]"),
    (f"  satisfaction: {{column: Satisfaction Score, scale: {json.dumps(PAYLOAD)}}}\n",
     "got \"__import__('os').system('touch wb_pwned') <script>alert(1)</script>\""),
    ("  satisfaction: {column: Satisfaction Score, scal: [1, 5]}\n",
     "customers.satisfaction: unknown key 'scal'; did you mean 'scale'?"),
    ("  satisfaction: {column: Satisfaction Score, scale: [1, 4]}\n",
     "customers.satisfaction: 2 rows outside the scale 1-4 that the mapping gives (e.g. '5') (rows 5, 6): correct "
     "them, or give the file's scale under satisfaction: scale: [lowest, highest]"),
])
def test_satisfaction_scales_are_checked(tmp_path, block, message):
    _fixtures(tmp_path, "bank_churn.csv")
    base = ("customers:\n  file: bank_churn.csv\n  columns: {customer_id: CustomerId, churned: Exited}\n"
            "  tenure: {column: Tenure, unit: years}\n  values: {churned: {\"1\": true, \"0\": false}}\n")
    with pytest.raises((mapping.MappingError, DataError), match=re.escape(message)):
        _load(tmp_path, base + block)


# ---- covariates named as in the source file -------------------------------------------------------------------------
def test_covariates_given_by_their_source_names_are_matched(telco_by_mapping):
    """Telco's PaymentMethod was left out silently: the loader names it payment_method."""
    names = mapping.source_name_map(telco_by_mapping)
    assert names["PaymentMethod"] == "payment_method" and names["customerID"] == "customer_id"
    assert names == mapping.source_name_map(telco_by_mapping.tables) == mapping.source_name_map(
        telco_by_mapping.customers)
    derived = telco_by_mapping.customers.assign(log2_monthly_value=1.0)  # what a step adds keeps the attrs
    used, notes = mapping.match_columns(derived, ["contract", "PaymentMethod", "payment method", "log2_monthly_value",
                                                  "PaymentMthod", PAYLOAD])
    assert used == ["contract", "payment_method", "log2_monthly_value", "PaymentMthod", PAYLOAD]
    assert notes == ["'PaymentMethod' is read as 'payment_method' (its name in the loaded data).",
                     "'payment method' is read as 'payment_method' (its name in the loaded data).",
                     "'PaymentMthod' is not a column of the data; did you mean 'payment_method' (PaymentMethod in the "
                     "source file)?",
                     f"{PAYLOAD!r} is not a column of the data."]
    assert mapping.did_you_mean("Contrakt", derived) == "; did you mean 'contract' (Contract in the source file)?"
    bare = pd.DataFrame(columns=["payment_method"])  # a frame without attrs: give the translation
    assert mapping.match_columns(bare, ["PaymentMethod"], sources=names)[0] == ["payment_method"]
    assert mapping.source_name_map({"customers": bare}) == {}

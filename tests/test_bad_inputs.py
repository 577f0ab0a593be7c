"""The bad-input catalogue: each case writes files and a mapping, and pins the message it must produce.

A case is (name, files, mapping, message): ``files`` maps file names to their text (or bytes),
``mapping`` is the YAML text (None: no mapping file is written), ``message`` is a substring the
error must contain, or None when the data must load. Messages name the table or file, the column,
the count, example rows (line numbers in the file: header = line 1) and what to do. Cases whose
data load but limit the analyses pin the line `workbench data check` prints; the analysis-level
cases at the end pin the errors of the estimators.
"""
import io
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from helpers.cli import main
from helpers.data.io import load_dataset
from helpers.data.mapping import MappingError, profile
from helpers.data.validate import DataError, require_columns
from helpers.engine.scale import checked_fingerprint
from helpers.stats import churn, effects

from .conftest import workbench

CSV = ("customer,tenure,churn,plan,value\n"
       "A1,3,Yes,Monthly,10.5\n"
       "A2,12,No,Annual,20\n"
       "A3,0,No,Monthly,15\n")
COLUMNS = "{customer_id: customer, tenure_months: tenure, churned: churn, contract: plan, monthly_value: value}"
VALUES = """  values:
    churned: {"Yes": true, "No": false}
    contract: {"Monthly": month-to-month, "Annual": one-year}
"""
MAPPING = f"customers:\n  file: customers.csv\n  columns: {COLUMNS}\n{VALUES}"
DATED = ("customer,signup,end,churn\n"
         "A1,2023-01-01,2023-07-01,Yes\n"
         "A2,2023-02-15,2024-01-01,No\n")
DATED_MAPPING = """customers:
  file: customers.csv
  columns: {customer_id: customer, signup_date: signup, end_date: end, churned: churn}
  values: {churned: {"Yes": true, "No": false}}
"""


GARBAGE = np.random.default_rng(0).bytes(200)  # what a damaged download or a wrong attachment holds
OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the magic bytes of password-protected .xlsx and of .xls files


def _parquet() -> bytes:
    buf = io.BytesIO()
    pd.read_csv(io.StringIO(CSV)).to_parquet(buf)
    return buf.getvalue()


PARQUET = _parquet()


def _csv(*rows: str) -> dict:
    return {"customers.csv": "customer,tenure,churn,plan,value\n" + "".join(r + "\n" for r in rows)}


def _with(extra: str, base: str = MAPPING) -> str:
    return base + extra


LOAD_CASES = [
    # ---- files -----------------------------------------------------------------------------------
    ("missing data file", {}, MAPPING, "customers: file not found: "),
    ("empty file", {"customers.csv": ""}, MAPPING, "customers: customers.csv is empty: export the table again"),
    ("header only", _csv(), MAPPING, "customers: no rows: the table is empty; give at least one row"),
    ("unsupported file type", {"customers.json": "{}"}, MAPPING.replace("customers.csv", "customers.json"),
     "customers: customers.json: give a .csv, .tsv, .txt, .parquet or Excel (.xlsx) file"),
    ("wrong delimiter", {"customers.csv": CSV.replace(",", ";")}, MAPPING,
     "the file seems to use ';' between columns: add delimiter: ';'"),
    ("semicolon file with its delimiter", {"customers.csv": CSV.replace(",", ";")},
     _with("  delimiter: ';'\n"), None),
    ("byte-order mark, detected", {"customers.csv": "\ufeff" + CSV}, MAPPING, None),
    ("byte-order mark, utf-8-sig", {"customers.csv": "\ufeff" + CSV}, _with("  encoding: utf-8-sig\n"), None),
    ("latin-1 file read as utf-8", {"customers.csv": (CSV.replace("Annual", "Année")).encode("latin-1")},
     MAPPING, "customers: customers.csv is not utf-8 text (byte 0xe9 on line 3): it is probably Latin-1 or "
              "Windows-1252; add `encoding: latin-1`"),
    ("latin-1 file with its encoding", {"customers.csv": CSV.replace("Annual", "Année").encode("latin-1")},
     MAPPING.replace('"Annual"', '"Année"') + "  encoding: latin-1\n", None),
    ("garbage bytes as CSV", {"customers.csv": GARBAGE}, MAPPING,
     "customers: customers.csv is not a text file (it holds binary data): export the table again as CSV"),
    ("truncated parquet", {"c.parquet": PARQUET[:len(PARQUET) // 2]}, MAPPING.replace("customers.csv", "c.parquet"),
     "customers: c.parquet is not a readable parquet file (truncated or damaged: the parquet footer is missing): "
     "export it again"),
    ("CSV renamed .xlsx", {"book.xlsx": CSV}, MAPPING.replace("customers.csv", "book.xlsx"),
     "customers: book.xlsx is not an Excel workbook (it holds text: a CSV file renamed?): save it from Excel as "
     ".xlsx, or export it as CSV"),
    ("empty .xlsx", {"book.xlsx": b""}, MAPPING.replace("customers.csv", "book.xlsx"),
     "customers: book.xlsx is empty: export the table again"),
    ("password-protected .xlsx", {"book.xlsx": OLE2 + GARBAGE}, MAPPING.replace("customers.csv", "book.xlsx"),
     "customers: book.xlsx is encrypted (password-protected): save an unprotected copy, or export the sheet as CSV"),
    (".xls (Excel 97-2003)", {"book.xls": OLE2 + GARBAGE}, MAPPING.replace("customers.csv", "book.xls"),
     "customers: book.xls is an Excel 97-2003 file (.xls), which is not read: save it as .xlsx or CSV"),
    ("truncated .xlsx", {"book.xlsx": b"PK\x03\x04" + GARBAGE}, MAPPING.replace("customers.csv", "book.xlsx"),
     "customers: book.xlsx is not a readable Excel workbook (truncated or damaged: File is not a zip file): save it "
     "again from Excel, or export the sheet as CSV"),
    # ---- the mapping itself ------------------------------------------------------------------------
    ("misspelled table key", _csv("A1,3,Yes,Monthly,10"), MAPPING.replace("  columns:", "  colums:"),
     "customers: unknown key 'colums'; did you mean 'columns'?"),
    ("misspelled table name", _csv("A1,3,Yes,Monthly,10"), MAPPING.replace("customers:\n", "customer:\n", 1),
     "top level: unknown key 'customer'; did you mean 'customers'?"),
    ("unknown contract column", _csv("A1,3,Yes,Monthly,10"), MAPPING.replace("tenure_months:", "tenure_month:"),
     "customers.columns: 'tenure_month' is not a column of the customers table in the data contract; "
     "did you mean 'tenure_months'?"),
    ("unquoted Yes/No in a value map", _csv("A1,3,Yes,Monthly,10"), MAPPING.replace('"Yes"', "Yes"),
     "customers.values.churned: the key True was read by YAML as a boolean"),
    ("table without a file", {}, "customers:\n  columns: {customer_id: id}\n",
     "customers: give at least `file:`"),
    ("source column misspelled", {"customers.csv": CSV.replace("churn,", "Churn,")}, MAPPING,
     "customers: column 'churn' (for churned) is not in customers.csv; did you mean 'Churn'?"),
    ("kept column misspelled", {"customers.csv": CSV}, _with("  keep: [valeu]\n"),
     "customers: column 'valeu' (for keep: valeu) is not in customers.csv; did you mean 'value'?"),
    ("required column not mapped", {"customers.csv": CSV}, MAPPING.replace("churned: churn, ", ""),
     "customers.churned: column missing: add the column"),
    ("churn from end date, no end of observation", {"customers.csv": DATED},
     DATED_MAPPING.replace("churned: churn}", "}") + "  churned: {from: end_date}\n",
     "customers.churned: customers without an end date need an end of observation"),
    # ---- values ------------------------------------------------------------------------------------
    ("unknown contract value", _csv("A1,3,Yes,Monthly,10", "A2,4,No,Weekly,10"), MAPPING,
     "customers.contract: 1 row outside the allowed values ('Weekly') (row 3): allowed values are month-to-month"),
    ("non-numeric tenure", _csv("A1,3,Yes,Monthly,10", "A2,three,No,Annual,10"), MAPPING,
     "customers.tenure_months: 1 row not a number (row 3)"),
    ("negative tenure", _csv("A1,3,Yes,Monthly,10", "A2,-2,No,Annual,10", "A3,-1,No,Annual,10"), MAPPING,
     "customers.tenure_months: 2 rows below 0 (rows 3, 4): tenure_months must be >= 0"),
    ("tenure of 0 is allowed", _csv("A1,0,No,Monthly,10", "A2,5,Yes,Annual,10"), MAPPING, None),
    ("missing churn flag", _csv("A1,3,Yes,Monthly,10", "A2,4,,Annual,10"), MAPPING,
     "customers.churned: 1 row missing (row 3): this column may not be empty"),
    ("duplicate customer ids", _csv("A1,3,Yes,Monthly,10", "A1,4,No,Annual,10", "A2,4,No,Annual,10"), MAPPING,
     "customers.customer_id: 2 rows duplicated (rows 2, 3): each value must appear once"),
    ("thousands separator refused", _csv('A1,3,Yes,Monthly,"1,200.50"'), MAPPING,
     "customers.monthly_value: 1 row not a number (row 2): use plain numbers with a '.' decimal point and no "
     "thousands separators (or give the file's decimal: and thousands: marks in the mapping)"),
    ("thousands separator with thousands:", _csv('A1,3,Yes,Monthly,"1,200.50"'), _with("  thousands: ','\n"), None),
    ("decimal comma with decimal:", {"customers.csv": "customer;tenure;churn;plan;value\nA1;3;Yes;Monthly;10,5\n"},
     _with("  delimiter: ';'\n  decimal: ','\n"), None),
    ("infinite value", _csv("A1,3,Yes,Monthly,10", "A2,4,No,Annual,inf"), MAPPING,
     "customers.monthly_value: 1 row infinite (row 3): replace them with real numbers"),
    # ---- dates -------------------------------------------------------------------------------------
    ("churn date before signup", {"customers.csv": DATED.replace("2024-01-01,No", "2023-01-01,No")}, DATED_MAPPING,
     "customers.end_date: 1 row with the end date before the signup date (row 3): end_date must be on or after"),
    ("dates in mixed layouts", {"customers.csv": DATED.replace("2023-02-15", "15/02/2023")}, DATED_MAPPING,
     "customers.signup_date: 1 row not written YYYY-MM-DD (e.g. '15/02/2023') (row 3): give their format under "
     "dates: signup_date:"),
    ("dates not in their format", {"customers.csv": DATED.replace("2023-01-01", "01/01/2023").replace(
        "2023-02-15", "31/02/2023")}, _with("  dates: {signup_date: '%d/%m/%Y'}\n", DATED_MAPPING),
     "customers.signup_date: 1 row not a date in the format '%d/%m/%Y' (e.g. '31/02/2023') (row 3)"),
    ("unparseable date", {"customers.csv": DATED.replace("2023-02-15", "2023-02-30")}, DATED_MAPPING,
     "customers.signup_date: 1 row not a date (row 3): write dates as YYYY-MM-DD"),
    ("day-first dates with their format", {"customers.csv": DATED.replace("2023-02-15", "15/02/2023").replace(
        "2023-01-01", "01/01/2023")}, _with("  dates: {signup_date: '%d/%m/%Y'}\n", DATED_MAPPING), None),
    # ---- other tables ------------------------------------------------------------------------------
    ("contact after the customer's end",
     {"customers.csv": DATED, "contacts.csv": "id,cust,opened,kind\nK1,A1,2023-08-01,complaint\n"},
     DATED_MAPPING + "contacts:\n  file: contacts.csv\n  columns: {contact_id: id, customer_id: cust, "
                     "opened_at: opened, kind: kind}\n",
     "contacts.opened_at: 1 row after the customer's end_date (row 2): check the dates"),
    ("revenue for an unknown customer",
     {"customers.csv": DATED, "revenue.csv": "cust,month,amount\nA1,2023-02-01,10\nZ9,2023-02-01,10\n"},
     DATED_MAPPING + "revenue:\n  file: revenue.csv\n  columns: {customer_id: cust, month: month, revenue: amount}\n",
     "revenue.customer_id: 1 row not in the customers table (row 3): every row must belong to a known customer"),
]


def _write(tmp_path, files: dict, mapping: str | None):
    for name, content in files.items():
        (tmp_path / name).write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    if mapping is not None:
        (tmp_path / "mapping.yaml").write_text(mapping, encoding="utf-8")
    return tmp_path / "mapping.yaml"


@pytest.mark.parametrize("files, mapping, message", [pytest.param(*c[1:], id=c[0]) for c in LOAD_CASES])
def test_load_case(tmp_path, files, mapping, message):
    path = _write(tmp_path, files, mapping)
    if message is None:
        assert len(load_dataset(path).customers) >= 1
        return
    with pytest.raises((MappingError, DataError, FileNotFoundError)) as err:
        load_dataset(path)
    assert message in str(err.value)


def test_missing_mapping_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"mapping file not found: .*nope.yaml \(write one with "
                                                r"`workbench data init FILE`\)"):
        load_dataset(tmp_path / "nope.yaml")


def test_messages_say_rows_are_file_lines(tmp_path):
    path = _write(tmp_path, _csv("A1,3,Yes,Monthly,10", "A2,-2,No,Annual,10"), MAPPING)
    with pytest.raises(DataError, match=r"data set '.*mapping.yaml' \(row numbers are line numbers in its files\)"):
        load_dataset(path)


def test_accepted_inputs_give_the_values(tmp_path):
    _write(tmp_path, _csv('A1,3,Yes,Monthly,"1,200.50"'), _with("  thousands: ','\n"))
    assert load_dataset(tmp_path / "mapping.yaml").customers["monthly_value"].tolist() == [1200.5]
    (tmp_path / "customers.csv").write_bytes(("\ufeff" + CSV).encode("utf-8"))
    assert load_dataset(tmp_path / "mapping.yaml").customers["customer_id"].tolist() == ["A1", "A2", "A3"]


# ---- Excel -----------------------------------------------------------------------------------------

def test_excel_with_the_data_on_another_sheet(tmp_path):
    with pd.ExcelWriter(tmp_path / "book.xlsx") as xl:
        pd.DataFrame({"note": ["exported 2024-06-30"]}).to_excel(xl, sheet_name="Notes", index=False)
        pd.read_csv(pd.io.common.StringIO(CSV)).to_excel(xl, sheet_name="Data", index=False)
    mapping = MAPPING.replace("customers.csv", "book.xlsx")
    with pytest.raises(MappingError, match=r"column 'customer' \(for customer_id\) is not in book.xlsx"):
        load_dataset(_write(tmp_path, {}, mapping))
    with pytest.raises(MappingError, match=r"book.xlsx has no sheet 'data'; did you mean 'Data'\?"):
        load_dataset(_write(tmp_path, {}, mapping + "  sheet: data\n"))
    assert len(load_dataset(_write(tmp_path, {}, mapping + "  sheet: Data\n")).customers) == 3


# ---- files that cannot be read: one line naming the file and what to do, exit status 2 ----------------

UNREADABLE_CASES = [
    ("empty CSV", "customers.csv", b"",
     "customers: customers.csv is empty: export the table again, with a header line and its rows"),
    ("empty parquet", "customers.parquet", b"", "customers: customers.parquet is empty: export the table again"),
    ("garbage bytes named .csv", "customers.csv", GARBAGE,
     "customers: customers.csv is not a text file (it holds binary data): export the table again as CSV"),
    ("garbage bytes named .parquet", "customers.parquet", GARBAGE,
     "customers: customers.parquet is not a readable parquet file (damaged, or another kind of file): export it again"),
    ("truncated parquet", "customers.parquet", PARQUET[:len(PARQUET) // 2],
     "customers: customers.parquet is not a readable parquet file (truncated or damaged: the parquet footer is "
     "missing): export it again"),
    ("workbook saved as .csv", "customers.csv", b"PK\x03\x04" + GARBAGE,
     "customers: customers.csv is not a text file (it is an Excel workbook or another zip archive): export the table "
     "again as CSV"),
]


@pytest.mark.parametrize("name, content, message", [pytest.param(*c[1:], id=c[0]) for c in UNREADABLE_CASES])
def test_unreadable_file_in_a_folder(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(MappingError) as err:
        load_dataset(tmp_path)
    assert message in str(err.value)
    with pytest.raises(ValueError) as err:  # what the runner checks before any kernel starts; it refuses ValueErrors
        checked_fingerprint(tmp_path)
    assert message in str(err.value)
    for args in (["data", "check", str(tmp_path)], ["data", "init", str(tmp_path / name)]):
        done = CliRunner().invoke(main, args)
        assert done.exit_code == 2, done.output
        assert message in done.stderr and "Traceback" not in done.output


def test_data_check_prints_no_traceback_for_damaged_files(tmp_path):
    # the command as a user runs it: a damaged parquet export, an encrypted workbook named by a mapping
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "customers.parquet").write_bytes(PARQUET[:len(PARQUET) // 2])
    done = workbench("data", "check", tmp_path / "data")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "customers.parquet is not a readable parquet file (truncated or damaged" in done.stderr
    _write(tmp_path, {"book.xlsx": OLE2 + GARBAGE}, MAPPING.replace("customers.csv", "book.xlsx"))
    for args in (("data", "check", tmp_path / "mapping.yaml"), ("data", "init", tmp_path / "book.xlsx", "--force")):
        done = workbench(*args)
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert done.stderr.strip().endswith("customers: book.xlsx is encrypted (password-protected): save an "
                                            "unprotected copy, or export the sheet as CSV")


# ---- data that load but limit the analyses: what `workbench data check` prints ----------------------

PROFILE_CASES = [
    ("all customers censored", _csv("A1,3,No,Monthly,10", "A2,4,No,Annual,10", "A3,5,No,Monthly,10"), MAPPING,
     "churn survival: no, no customer churned (all 3 censored): there are no events to estimate survival from"),
    ("all customers churned", _csv("A1,3,Yes,Monthly,10", "A2,4,Yes,Annual,10"), MAPPING,
     "churn survival: yes, every customer churned (2), none censored: check that active customers were not left "
     "out of the export"),
    ("one segment only", _csv("A1,3,Yes,Monthly,10", "A2,4,No,Monthly,10"), MAPPING,
     "churn by segment: no, contract has one value only ('month-to-month'): segments need at least two values"),
    ("no satisfaction column", {"customers.csv": CSV}, MAPPING,
     "value x satisfaction quadrants: no, no satisfaction column"),
    ("no contacts or campaigns", {"customers.csv": CSV}, MAPPING, "complaint recovery: no, no contacts table"),
    ("a campaign with one arm only",
     {"customers.csv": DATED, "campaigns.csv": "c,cust,at,arm,how\nX,A1,2023-03-01,treatment,randomized\n"},
     DATED_MAPPING + "campaigns:\n  file: campaigns.csv\n  columns: {campaign_id: c, customer_id: cust, "
                     "assigned_at: at, arm: arm, assignment: how}\n",
     "retention effort: no, campaigns.arm has one arm only ('treatment'): an effect needs treatment and control"),
]


@pytest.mark.parametrize("files, mapping, message", [pytest.param(*c[1:], id=c[0]) for c in PROFILE_CASES])
def test_profile_case(tmp_path, files, mapping, message):
    ds = load_dataset(_write(tmp_path, files, mapping))
    assert message in "\n".join(profile(ds.tables))


# ---- analysis-level inputs: the estimators' messages --------------------------------------------------

def _experiment(**over) -> pd.DataFrame:
    base = {"arm": ["treatment", "control"] * 4, "spend": [5.0, 3.0, 6.0, 2.0, 7.0, 4.0, 5.5, 3.5]}
    return pd.DataFrame(base | over)


def _small_segments() -> pd.DataFrame:
    return pd.DataFrame({"contract": list("abc") * 4, "tenure_months": np.arange(1.0, 13), "churned": [True, False] * 6,
                         "monthly_value": 10.0})


ANALYSIS_CASES = [
    ("treatment column with one arm only", lambda: effects.difference_in_means(
        _experiment(arm=["treatment"] * 8), outcome="spend"),
     "arm column 'arm' has only the value 'treatment': an effect needs a treated and a control arm"),
    ("constant outcome", lambda: effects.difference_in_means(_experiment(spend=[5.0] * 8), outcome="spend"),
     "outcome 'spend' is constant (5) in arms 'treatment' and 'control': there is no variance"),
    ("parameter naming a missing column", lambda: effects.difference_in_means(_experiment(), outcome="spnd"),
     "outcome column 'spnd' is not in the data (columns: arm, spend): check the spelling"),
    ("parameter naming a missing column (notebook parameters)", lambda: require_columns(
        _experiment(), ["spend", "spnd"], table="email.csv", parameter="outcome"),
     "email.csv has no column 'spnd' (asked for by outcome); its columns are arm, spend"),
    ("outcome that is not numeric", lambda: effects.difference_in_means(_experiment(spend=["x"] * 8), outcome="spend"),
     "outcome column 'spend' is not numeric"),
    ("every segment too small to show (a KeyError before)", lambda: churn.revenue_at_risk(
        _small_segments(), "contract", horizon=12, min_size=50),
     "no contract segment can be shown: Segments under 50 customers (a, b, c; 12 customers) are left out."),
    ("every segment too small for the curves", lambda: churn.segment_curves(_small_segments(), "contract", horizon=12,
                                                                          min_size=50),
     "no contract segment can be shown: Segments under 50 customers"),
]


@pytest.mark.parametrize("call, message", [pytest.param(*c[1:], id=c[0]) for c in ANALYSIS_CASES])
def test_analysis_case(call, message):
    with pytest.raises(ValueError) as err:
        call()
    assert message in str(err.value)


def test_a_segmentation_without_a_segment_to_show_is_left_out_of_the_ranking_and_skips_its_section():
    from helpers.steps import churn as steps

    customers = pd.DataFrame({"contract": ["a", "b"] * 60, "region": None, "tenure_months": np.arange(1.0, 121),
                              "churned": [True, False, False] * 40, "monthly_value": 10.0})
    ranked = churn.rank_revenue_at_risk(customers, ["contract", "region"], horizon=12, min_size=50)
    assert set(ranked["segmentation"]) == {"contract"}  # no customer has a region: that one is left out
    with pytest.raises(churn.NoSegment, match="^no region segment can be shown: 120 customers with no region are "
                                              "left out; no contract segment can be shown: 120 customers with no "
                                              "contract are left out$"):
        churn.rank_revenue_at_risk(customers.assign(contract=None), ["region", "contract"], horizon=12, min_size=50)
    # in a report section the same refusal is a reason to skip, not a failure
    skipped = r"^No region segment can be shown: 120 customers with no region are left out\.$"
    with pytest.raises(steps.Skip, match=skipped), steps._shown_segments():
        churn.segment_curves(customers, "region", horizon=12, min_size=50)


def test_treatment_column_with_a_missing_value_is_dropped_with_a_warning():
    arms = ["treatment", "control"] * 4
    arms[3] = np.nan
    with pytest.warns(UserWarning, match=r"arm column 'arm' has 1 missing values: those rows are left out \(counted "
                                         r"in 'dropped'\); fill in their arm to include them"):
        result = effects.difference_in_means(_experiment(arm=arms), outcome="spend")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert result["dropped"] == 1


# ---- from each kind of export to a complete report, editing only the mapping -----------------------------------
EXPORTS = Path(__file__).parent / "fixtures" / "mapping"


def _workbook(folder: Path) -> str:
    """Kaggle's BankChurners as a CRM hands it over: a data dictionary sheet first, then the table."""
    with pd.ExcelWriter(folder / "churners.xlsx") as book:
        pd.read_csv(EXPORTS / "bank_churners_dictionary.csv").to_excel(book, sheet_name="Data Dictionary", index=False)
        pd.read_csv(EXPORTS / "bank_churners.csv", dtype=str).to_excel(book, sheet_name="BankChurners", index=False)
    return "churners.xlsx"


def _raw(name: str, **read) -> pd.DataFrame:
    return pd.read_csv(EXPORTS / name, **read)


# (name, export file or a function writing it, what the draft's refusal says (None: it loads as drafted), the edits
# the refusal or the draft's TODO asks for, the churned customers counted on the raw file)
EXPORT_CASES = [
    ("bank churn, tenure in years, a 1-5 score", "bank_churn.csv", None, [],
     lambda: int((_raw("bank_churn.csv")["Exited"] == 1).sum())),
    ("bank churners, a churn label column", "bank_churners.csv", None, [],
     lambda: int((_raw("bank_churners.csv")["Attrition_Flag"] == "Attrited Customer").sum())),
    ("bank churners in a workbook behind a data dictionary", _workbook, None, [],
     lambda: int((_raw("bank_churners.csv")["Attrition_Flag"] == "Attrited Customer").sum())),
    ("telco sample", "telco_sample.csv", None, [], lambda: int((_raw("telco_sample.csv")["Churn"] == "Yes").sum())),
    ("telco cognos, twenty end reasons", "telco_cognos.csv",
     "column 'Churn Reason' of telco_cognos.csv holds labels in no group: \"Don't know\" (1 row), 'Deceased' (1 row)",
     [("    column: Churn Reason\n", "    column: Churn Reason\n    otherwise: unknown\n")],
     lambda: int((_raw("telco_cognos.csv")["Churn Label"] == "Yes").sum())),
    ("telco with blank cells", "telco_gaps.csv", "customers.churned: 1 row missing (row 8)",
     [("  keep:", "  drop_missing: [tenure_months, churned]\n  keep:")],
     lambda: int((_raw("telco_gaps.csv").dropna(subset=["tenure", "Churn"])["Churn"] == "Yes").sum())),
    ("subscriptions with Excel serial dates", "subscriptions_excel_serial.csv",
     "observed_until 'YYYY-MM-DD' is not a date: write the last day of observation as YYYY-MM-DD",
     [("observed_until: YYYY-MM-DD", "observed_until: 2024-12-31")],
     lambda: int(_raw("subscriptions_excel_serial.csv")["Cancel Date"].notna().sum())),
    ("accounts with Unix timestamps", "accounts_unix.csv",
     "observed_until 'YYYY-MM-DD' is not a date: write the last day of observation as YYYY-MM-DD",
     [("observed_until: YYYY-MM-DD", "observed_until: 2024-12-31")],
     lambda: int(_raw("accounts_unix.csv")["closed_at_ms"].notna().sum())),
]


@pytest.mark.slow  # no kernel, but 00 and 01 on every export: about 15 s
@pytest.mark.parametrize("export, refusal, edits, churned", [pytest.param(*c[1:], id=c[0]) for c in EXPORT_CASES])
def test_each_kind_of_export_reaches_a_complete_report_by_editing_only_the_mapping(tmp_path, export, refusal, edits,
                                                                                    churned):
    """Issue 15's "done when": `data init`, answer what the draft or the refusal asks, and every section runs."""
    import shutil

    from helpers.data.mapping import draft_mapping
    from helpers.steps.section import FAILED

    from .inprocess import answers, default_sections

    if callable(export):
        export = export(tmp_path)
    else:
        shutil.copy(EXPORTS / export, tmp_path / export)
    before = (tmp_path / export).read_bytes()
    target = tmp_path / "mapping.yaml"
    text = draft_mapping(tmp_path / export, out=target)
    target.write_text(text)
    if refusal is None:
        load_dataset(target)
    else:
        with pytest.raises((MappingError, DataError)) as refused:
            load_dataset(target)
        assert refusal in str(refused.value)
    for old, new in edits:
        assert old in text, (old, text)
        text = text.replace(old, new)
    target.write_text(text)
    customers = load_dataset(target).customers
    assert int(customers["churned"].sum()) == churned()  # the raw file's own count
    for notebook in ("00", "01"):
        sections = default_sections(notebook, DATASET=str(target))
        assert {s.name: s.reason for s in sections if s.status == FAILED} == {}, notebook
        share = customers["churned"].mean()
        assert answers(sections)["churned"].sentence.startswith(f"{100 * share:.1f}% of the {len(customers)} customers")
    assert (tmp_path / export).read_bytes() == before  # the export itself was never edited

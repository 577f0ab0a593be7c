from pathlib import Path

import pandas as pd
import pytest

from helpers.data import io
from helpers.data.mapping import MappingError
from helpers.data.validate import DataError


def test_a_folder_of_csv_and_parquet_tables_loads_validated(tmp_path, customers):
    customers.to_csv(tmp_path / "customers.csv", index=False)
    pd.DataFrame({"customer_id": ["C1"], "month": [pd.Timestamp("2023-02-01")], "revenue": [30.0]}) \
        .to_parquet(tmp_path / "revenue.parquet")
    (tmp_path / "notes.txt").write_text("ignored")
    ds = io.load_dataset(tmp_path)
    assert set(ds.tables) == {"customers", "revenue"}
    assert ds.customers["signup_date"].dtype == "datetime64[ns]"
    assert ds.has("revenue", "revenue") and not ds.has("contacts")
    assert ds.truth is None and len(ds.fingerprint) == 16


def test_fingerprint_follows_the_bytes(tmp_path, customers):
    customers.to_csv(tmp_path / "customers.csv", index=False)
    first = io.load_dataset(tmp_path).fingerprint
    assert io.load_dataset(tmp_path).fingerprint == first
    customers.assign(monthly_value=1.0).to_csv(tmp_path / "customers.csv", index=False)
    assert io.load_dataset(tmp_path).fingerprint != first


def test_a_files_digest_is_read_once_and_again_when_the_file_changes(tmp_path, monkeypatch):
    import hashlib
    import os
    import time
    path = tmp_path / "customers.csv"
    path.write_bytes(b"customer_id\nC1\n")
    reads = []
    real = hashlib.file_digest
    monkeypatch.setattr(hashlib, "file_digest", lambda f, d: reads.append(1) or real(f, d))
    first = io.fingerprint([path])
    assert io.fingerprint([path]) == first and len(reads) == 1
    st = path.stat()
    time.sleep(0.05)  # past the file system's clock tick, as any edit by a person is
    path.write_bytes(b"customer_id\nC2\n")  # same size, and the modification time put back
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert io.fingerprint([path]) != first and len(reads) == 2


def test_missing_data_sets_say_what_to_do(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match=r"data set 'nowhere' not found: give 'synthetic', 'telco' or the path"):
        io.load_dataset("nowhere")
    with pytest.raises(FileNotFoundError, match=r"no customers.parquet or customers.csv in"):
        io.load_dataset(tmp_path)
    monkeypatch.setitem(io.NAMED, "synthetic", tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match=r"not generated yet .* run `workbench data synth`"):
        io.load_dataset("synthetic")


def test_invalid_files_name_the_data_set(tmp_path, customers):
    customers.drop(columns="churned").to_csv(tmp_path / "customers.csv", index=False)
    with pytest.raises(DataError, match=rf"data set '{tmp_path}' does not meet the data contract"):
        io.load_dataset(tmp_path)


def test_missing_table_is_a_clear_key_error(tmp_path, customers):
    customers.to_csv(tmp_path / "customers.csv", index=False)
    with pytest.raises(KeyError, match="has no contacts table"):
        io.load_dataset(tmp_path)["contacts"]


def test_read_table_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"table not found: .*none.csv \(give 'cfpb' or the path"):
        io.read_table(tmp_path / "none.csv")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(ValueError, match=r"x.json: give a .csv, .tsv, .parquet or .xlsx file"):
        io.read_table(tmp_path / "x.json")
    (tmp_path / "x.xlsx").write_text("")  # a workbook is read now: an empty one is said so, as by every reader
    with pytest.raises(ValueError, match=r"^x.xlsx is empty: export the table again$"):
        io.read_table(tmp_path / "x.xlsx")
    (tmp_path / "e.csv").write_text("arm,spend\n")
    with pytest.raises(ValueError, match="e.csv has no rows"):
        io.read_table(tmp_path / "e.csv")
    (tmp_path / "ok.tsv").write_text("arm\tspend\na\t1.5\n")
    assert io.read_table(tmp_path / "ok.tsv").to_dict("list") == {"arm": ["a"], "spend": [1.5]}
    assert len(io.read_table("cfpb")) == 3186


def test_files_that_do_not_read_say_which_and_what_to_do(tmp_path, customers):
    # what the readers raise (pandas' parser, a decoder, pyarrow) comes out as one line, through io.read_file
    (tmp_path / "customers.csv").write_text("customer_id,churned,tenure_months\nC1,True,3\nC2,False,4,9\n")
    with pytest.raises(MappingError, match=r"^customers: customers.csv cannot be split into columns \(Expected 3 "
                                           r"fields in line 3, saw 4\): check the delimiter and the quotes"):
        io.load_dataset(tmp_path)
    (tmp_path / "customers.csv").write_bytes("customer_id,churned,tenure_months\nJosé,True,3\n".encode("latin-1"))
    with pytest.raises(MappingError, match=r"^customers: customers.csv is not utf-8 text \(byte 0xe9\): save it as "
                                           r"UTF-8, or read it through a mapping file that gives its encoding"):
        io.load_dataset(tmp_path)
    customers.to_parquet(tmp_path / "log.parquet")
    damaged = bytearray((tmp_path / "log.parquet").read_bytes())
    damaged[4:200] = bytes(196)  # the column chunks zeroed, header and footer intact
    (tmp_path / "log.parquet").write_bytes(damaged)
    with pytest.raises(ValueError, match=r"^log.parquet is not a readable parquet file \(truncated or damaged: .+\): "
                                         r"export it again$"):
        io.read_table(tmp_path / "log.parquet")


# ---- one-table mode on a workbook (notebook 02's EXPERIMENT_FILE, 03's ONE_TABLE) ----------------------
FIXTURES = Path(__file__).parent / "fixtures" / "mapping"
EXPERIMENT = pd.read_csv(FIXTURES / "experiment.csv")  # a one-table retention experiment, 12 customers


def _book(path: Path, sheets: dict) -> Path:
    """A workbook as people send them: sheets in the given order, a title line above a table when asked."""
    with pd.ExcelWriter(path) as xl:
        for name, (frame, title) in sheets.items():
            if title:
                pd.DataFrame([[title]]).to_excel(xl, sheet_name=name, index=False, header=False)
            frame.to_excel(xl, sheet_name=name, index=False, startrow=2 if title else 0)
    return path


DICTIONARY = pd.DataFrame({"Field": ["arm", "spend_after"], "Description": ["treatment or control", "spend, EUR"]})


def test_read_table_reads_the_table_sheet_of_a_workbook(tmp_path):
    """A failure inside the kernel before: read_table refused every .xlsx."""
    book = _book(tmp_path / "exp.xlsx", {"Read me": (DICTIONARY, None), "Experiment": (EXPERIMENT, "Wave 1, 2024"),
                                         "Notes": (pd.DataFrame({"exported by": ["CRM"]}), None)})
    assert [s.describe() for s in io.workbook_sheets(book)] == [
        "'Read me' (2 rows x 2 columns; a data dictionary)", "'Experiment' (12 rows x 5 columns)",
        "'Notes' (2 rows of one column: no table)"]
    pd.testing.assert_frame_equal(io.read_table(book), EXPERIMENT)  # the title line above the header is skipped
    pd.testing.assert_frame_equal(io.read_table(f"{book}#Experiment"), EXPERIMENT)
    pd.testing.assert_frame_equal(io.read_table(book, sheet="Experiment"), EXPERIMENT)
    assert io.table_path(f"{book}#Experiment") == book  # what the run's fingerprint reads


def test_two_tables_in_a_workbook_are_refused_with_the_sheets(tmp_path):
    book = _book(tmp_path / "waves.xlsx", {"Wave 1": (EXPERIMENT, None), "Wave 2": (EXPERIMENT, None)})
    with pytest.raises(ValueError, match=r"^waves.xlsx has several sheets that look like tables \('Wave 1' \(12 rows x "
                                         r"5 columns\), 'Wave 2' \(12 rows x 5 columns\)\): say which: name the sheet "
                                         r"after a #, e.g. waves.xlsx#<sheet>$"):
        io.read_table(book)
    assert len(io.read_table(f"{book}#Wave 2")) == 12
    with pytest.raises(ValueError, match=r"^waves.xlsx has no sheet 'wave 2'; did you mean 'Wave 2'\? \(sheets: "):
        io.read_table(f"{book}#wave 2")
    small = _book(tmp_path / "small.xlsx", {"Summary": (EXPERIMENT.head(2), None), "Data": (EXPERIMENT, None)})
    assert len(io.read_table(small)) == 12  # a table a sixth the size is no rival
    empty = _book(tmp_path / "notes.xlsx", {"Notes": (DICTIONARY, None)})
    with pytest.raises(ValueError, match=r"^notes.xlsx: no sheet looks like a table .*'Notes' \(2 rows x 2 columns; a "
                                         r"data dictionary\); export the table as CSV, or name the sheet after a #"):
        io.read_table(empty)


def test_a_hostile_sheet_name_is_only_compared_and_quoted(tmp_path):
    payload = "<img src=x onerror=alert(1)>'; import os #"
    book = _book(tmp_path / "b.xlsx", {"Data": (EXPERIMENT, None)})
    with pytest.raises(ValueError, match=r"^b.xlsx has no sheet \"<img src=x onerror=alert\(1\)>'; import os #\" "
                                         r"\(sheets: 'Data' \(12 rows x 5 columns\)\)"):
        io.read_table(f"{book}#{payload}")
    (tmp_path / "t.csv").write_text("a,b\n1,2\n")
    with pytest.raises(FileNotFoundError, match=r"table not found: .*t.csv#x"):  # '#' selects sheets of workbooks only
        io.read_table(f"{tmp_path / 't.csv'}#x")
    with pytest.raises(ValueError, match=r"^t.csv is not a workbook: a sheet \('x'\) is named for workbooks only$"):
        io.read_table(tmp_path / "t.csv", sheet="x")


def test_a_relative_source_is_made_absolute_for_the_kernel_with_its_sheet_kept(tmp_path, monkeypatch):
    """Kernels run in notebooks/: the runner hands them absolute paths (issue 15: `book.xlsx#Sheet` was not)."""
    monkeypatch.chdir(tmp_path)
    with pd.ExcelWriter(tmp_path / "book.xlsx") as book:
        pd.DataFrame({"field": ["arm"], "meaning": ["assigned arm"]}).to_excel(book, sheet_name="About", index=False)
        pd.DataFrame({"arm": ["a", "b"], "spend": [1.0, 2.0]}).to_excel(book, sheet_name="Experiment", index=False)
    pd.DataFrame({"x": [1]}).to_csv(tmp_path / "a#b.csv", index=False)  # a '#' that is part of a file name
    assert io.absolute_source("book.xlsx#Experiment") == f"{tmp_path / 'book.xlsx'}#Experiment"
    assert io.absolute_source("book.xlsx") == str(tmp_path / "book.xlsx")
    assert io.absolute_source("a#b.csv") == str(tmp_path / "a#b.csv")
    assert io.read_table(io.absolute_source("book.xlsx#Experiment"))["spend"].tolist() == [1.0, 2.0]
    for unchanged in ("synthetic", "cfpb", "missing.csv", "missing.xlsx#Sheet", str(tmp_path / "book.xlsx"), "",
                      "../../etc/passwd#<script>"):
        assert io.absolute_source(unchanged) == unchanged


def test_the_runner_hands_the_kernel_an_absolute_workbook_sheet(tmp_path, monkeypatch):
    from helpers.report import runner

    monkeypatch.chdir(tmp_path)
    with pd.ExcelWriter(tmp_path / "book.xlsx") as book:
        pd.DataFrame({"about": ["this workbook"]}).to_excel(book, sheet_name="About", index=False)
        pd.DataFrame({"arm": ["control", "email"] * 20, "spend": [1.0, 2.0] * 20}).to_excel(
            book, sheet_name="Experiment", index=False)
    (job,) = runner.plan(["02"], {"experiment_file": "book.xlsx#Experiment", "outcome": "spend"})
    assert job["parameters"]["EXPERIMENT_FILE"] == f"{tmp_path / 'book.xlsx'}#Experiment"
    assert job["data"]["dataset"] == f"{tmp_path / 'book.xlsx'}#Experiment"

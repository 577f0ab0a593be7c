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
    (tmp_path / "x.xlsx").write_text("")
    with pytest.raises(ValueError, match=r"x.xlsx: give a .csv, .tsv or .parquet file"):
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

"""Tests for helpers.data.synth.write_chunked: the layout and contract of `write`, identifiers that run on
across chunks, determinism, atomic writes, a truth over all chunks, and recovery of planted effects.

Most tests share one data set of 3,000 customers in 3 chunks of 1,000 (seed 5). The recovery test
fits the model an analyst would fit (lifelines Cox, stratified by contract) and asks that the planted
log hazard ratio lies in the 95% interval; all seeds are fixed, so every result is reproducible.
"""
from __future__ import annotations

import hashlib
import json

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from lifelines import CoxPHFitter

from helpers import cli
from helpers.data import schema, segments, synth
from helpers.data.io import load_dataset
from helpers.data.schema import (
    ACCOUNT_MANAGER_ID,
    CAMPAIGN_ID,
    CAMPAIGNS,
    CHURNED,
    COMPLAINT,
    CONTACT_ID,
    CONTACTS,
    CONTRACT,
    CUSTOMER_ID,
    CUSTOMERS,
    DEPARTED_AT,
    END_DATE,
    KIND,
    MANAGER_DEPARTURES,
    MONTHLY_VALUE,
    REPEAT_OF,
    REVENUE,
    REVENUE_AMOUNT,
    SIGNUP_DATE,
)

from .conftest import workbench

N, CHUNK = 3000, 1000
ALL_FILES = sorted([f"{t}.parquet" for t in schema.TABLES] + ["truth.json"])


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return synth.write_chunked(N, chunk_size=CHUNK, seed=5, folder=tmp_path_factory.mktemp("chunked"))


@pytest.fixture(scope="module")
def ds(folder):
    return load_dataset(folder)  # validates: raises DataError listing every broken rule


def _sha(folder) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _number(ids: pd.Series, prefix: str) -> pd.Series:
    return ids.str[len(prefix):].astype(int)


# ---- layout, contract, identifiers --------------------------------------------------------------


def test_folder_has_the_layout_and_schemas_of_write(folder, tmp_path):
    assert sorted(f.name for f in folder.iterdir()) == ALL_FILES  # no temporary file left
    reference = synth.write(*synth.generate(300, seed=1), tmp_path)
    for table in schema.TABLES:
        ours, theirs = pq.read_schema(folder / f"{table}.parquet"), pq.read_schema(reference / f"{table}.parquet")
        assert ours.equals(theirs, check_metadata=True), table
    assert pq.ParquetFile(folder / f"{CUSTOMERS}.parquet").num_row_groups == N // CHUNK  # a row group per chunk


def test_files_meet_the_contract_and_keep_its_sort_order(folder, ds):
    assert len(ds.customers) == N and set(ds.tables) == set(schema.TABLES)
    for name, spec in schema.TABLES.items():
        raw = pd.read_parquet(folder / f"{name}.parquet")
        assert list(raw.columns) == spec.names, name
        assert raw.equals(raw.sort_values(list(spec.sort_by), kind="mergesort").reset_index(drop=True)), name


def test_ids_run_on_across_chunks_and_references_resolve(ds):
    c, k = ds[CUSTOMERS], ds[CONTACTS]
    assert c[CUSTOMER_ID].tolist() == [f"C{i:06d}" for i in range(1, N + 1)]
    assert k[CONTACT_ID].tolist() == [f"K{i:07d}" for i in range(1, len(k) + 1)]
    for name in (REVENUE, CONTACTS, CAMPAIGNS):
        assert set(ds[name][CUSTOMER_ID]) <= set(c[CUSTOMER_ID]), name
    chunk = (_number(k[CUSTOMER_ID], "C") - 1) // CHUNK
    assert chunk.is_monotonic_increasing and chunk.nunique() == N // CHUNK  # chunk after chunk
    repeats = k[k[REPEAT_OF].notna()]
    original = k.set_index(CONTACT_ID).loc[repeats[REPEAT_OF]]
    assert len(repeats) and (original[KIND] == COMPLAINT).all() and original[REPEAT_OF].isna().all()
    assert (original[CUSTOMER_ID].to_numpy() == repeats[CUSTOMER_ID].to_numpy()).all()


def test_account_managers_are_numbered_across_chunks(ds):
    served = ds[CUSTOMERS].dropna(subset=[ACCOUNT_MANAGER_ID])
    chunks = ((_number(served[CUSTOMER_ID], "C") - 1) // CHUNK).groupby(served[ACCOUNT_MANAGER_ID]).nunique()
    assert (chunks == 1).all() and chunks.size > 3 * (N // CHUNK)  # each manager in one chunk, ids not reused
    assert set(ds[MANAGER_DEPARTURES][ACCOUNT_MANAGER_ID]) <= set(served[ACCOUNT_MANAGER_ID])
    assert _number(served[ACCOUNT_MANAGER_ID], "AM").max() == ds.truth["realised"]["managers"]["managers"]


def test_ids_are_wide_enough_for_ten_million_customers():
    ids = synth._numbering(10_000_000, synth._chunks(10_000_000, 250_000, 7), synth.SynthParams())
    # C + 8 digits; room for 100 contacts a customer; at most 40 chunks x 12,500 managers
    assert (ids.customer_width, ids.contact_width, ids.manager_width) == (8, 10, 6)
    shifted = synth._shift_ids(pa.array(["K0000000009", None, "K0000000010"]), "K", 99_999_990, 10).to_pylist()
    assert shifted == ["K0099999999", None, "K0100000000"]  # same width: text order is numeric order


def test_duckdb_reads_and_joins_the_files(folder, ds):
    customers, contacts = (f"read_parquet('{folder / f'{t}.parquet'}')" for t in (CUSTOMERS, CONTACTS))
    with duckdb.connect() as con:
        assert con.execute(f"SELECT count(*) FROM {customers}").fetchone()[0] == N
    with duckdb.connect() as con:
        joined = con.execute(f"SELECT count(*) FROM {contacts} JOIN {customers} USING (customer_id)").fetchone()[0]
    assert joined == len(ds[CONTACTS])


# ---- determinism and one chunk ----------------------------------------------------------------------


def test_same_arguments_give_identical_bytes(tmp_path):
    a = synth.write_chunked(1200, chunk_size=500, seed=3, folder=tmp_path / "a")
    b = synth.write_chunked(1200, chunk_size=500, seed=3, folder=tmp_path / "b")
    c = synth.write_chunked(1200, chunk_size=500, seed=4, folder=tmp_path / "c")
    assert sorted(_sha(a)) == ALL_FILES and _sha(a) == _sha(b)
    assert _sha(a)[f"{CUSTOMERS}.parquet"] != _sha(c)[f"{CUSTOMERS}.parquet"]


def test_one_chunk_is_generate_with_the_chunk_seed(tmp_path):
    out = synth.write_chunked(800, chunk_size=1000, seed=5, folder=tmp_path)
    tables, truth = synth.generate(800, seed=np.random.SeedSequence([5, 0]))
    for name, df in tables.items():
        back = pd.read_parquet(out / f"{name}.parquet")
        back = back.astype({c.name: schema.pandas_dtype(c) for c in schema.TABLES[name].columns})
        pd.testing.assert_frame_equal(back, df)
    written = json.loads((out / "truth.json").read_text())
    assert {k: v for k, v in written["realised"].items() if k != "note"} == truth["realised"]
    assert written["campaigns"] == truth["campaigns"]


# ---- the truth over all chunks ------------------------------------------------------------------------


def test_truth_is_planted_as_generate_and_realised_over_all_chunks(ds):
    truth, c = ds.truth, ds.customers
    planted = synth.generate(300, seed=1)[1]
    for key in ("params", "cox_log_hr", "definitions", "quadrant_order_by_risk"):
        assert truth[key] == planted[key], key
    assert truth["arguments"] == {"n": N, "months": 36, "seed": 5, "start": "2023-01-01", "as_of": "2026-01-01",
                                  "chunk_size": CHUNK, "chunks": 3, "tables": list(schema.TABLES)}
    r = truth["realised"]
    assert r["rows"] == {name: len(df) for name, df in ds.tables.items()}
    assert r["churned"] == c[CHURNED].sum() and r["churn_rate"] == pytest.approx(c[CHURNED].mean(), abs=1e-9)
    rates = c.groupby(CONTRACT, observed=False)[CHURNED].mean()
    assert rates.to_dict() == pytest.approx(r["churn_rate_by_contract"], abs=1e-9)
    assert r["value_median"] == c[MONTHLY_VALUE].median()  # of all customers, not of one chunk
    q = segments.value_satisfaction_quadrant(c[MONTHLY_VALUE], c[schema.SATISFACTION])
    assert list(c[CHURNED].groupby(q, observed=True).mean().sort_values().index) == truth["quadrant_order_by_risk"]
    total = ds[REVENUE].groupby(CUSTOMER_ID)[REVENUE_AMOUNT].sum().sort_values()
    assert total.iloc[-N // 5:].sum() / total.sum() == pytest.approx(r["top20_revenue_share"], abs=1e-9)
    assert r["managers"]["departures"] == len(ds[MANAGER_DEPARTURES])
    k = ds[CONTACTS]
    original = k[(k[KIND] == COMPLAINT) & k[REPEAT_OF].isna()]
    assert r["complaints"]["count"] == len(original)
    assert r["complaints"]["repeat_rate"] == pytest.approx(original[CONTACT_ID].isin(k[REPEAT_OF]).mean(), abs=1e-9)


def test_campaign_counts_add_over_chunks(ds):
    cam = ds[CAMPAIGNS]
    for cid, facts in ds.truth["campaigns"].items():
        rows = cam[cam[CAMPAIGN_ID] == cid]
        assert facts["enrolled"] == len(rows) and facts["treated"] == (rows[schema.ARM] == schema.TREATMENT).sum()
        assert facts["assigned_at"] == str(rows[schema.ASSIGNED_AT].iloc[0].date())


# ---- choosing tables, refusing, interrupting ----------------------------------------------------------


def test_tables_restricts_the_files_and_drops_stale_ones(tmp_path):
    (tmp_path / f"{REVENUE}.parquet").write_bytes(b"from an earlier run")
    out = synth.write_chunked(1500, chunk_size=500, folder=tmp_path, tables=[CONTACTS, CUSTOMERS])
    assert sorted(f.name for f in out.iterdir()) == ["contacts.parquet", "customers.parquet", "truth.json"]
    ds = load_dataset(out)
    assert set(ds.tables) == {CUSTOMERS, CONTACTS}
    assert ds.truth["arguments"]["tables"] == [CUSTOMERS, CONTACTS]
    assert ds.truth["realised"]["rows"] == {CUSTOMERS: 1500, CONTACTS: len(ds[CONTACTS])}


def test_unknown_or_incomplete_tables_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown table 'orders': the tables are customers, revenue, contacts, "
                                         "campaigns, manager_departures"):
        synth.write_chunked(100, folder=tmp_path, tables=[CUSTOMERS, "orders"])
    with pytest.raises(ValueError, match="the tables must include customers"):
        synth.write_chunked(100, folder=tmp_path, tables=[CONTACTS])
    assert not any(tmp_path.iterdir())


def test_an_interrupted_run_leaves_no_half_file(tmp_path, monkeypatch):
    earlier = synth.write_chunked(1500, chunk_size=500, seed=1, folder=tmp_path / "earlier")
    before = _sha(earlier)
    real, calls = synth._chunk, []

    def interrupted(*args):
        calls.append(args)
        if len(calls) == 2:  # Ctrl-C while the second chunk is simulated, after the first was written
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(synth, "_chunk", interrupted)
    for out in (earlier, tmp_path / "fresh"):
        calls.clear()
        with pytest.raises(KeyboardInterrupt):
            synth.write_chunked(1500, chunk_size=500, seed=2, folder=out)
    assert _sha(earlier) == before  # the earlier data set is whole, no temporary file next to it
    assert not any((tmp_path / "fresh").iterdir())


def test_contact_ids_that_would_overflow_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(synth, "_numbering", lambda n, chunks, p: synth._Numbering(6, 4, 4))  # K + 4 digits
    with pytest.raises(ValueError, match=r"more than 9,999 contacts do not fit the contact ids \(K \+ 4 digits\)"):
        synth.write_chunked(N, chunk_size=CHUNK, folder=tmp_path, tables=[CUSTOMERS])
    assert not any(tmp_path.iterdir())


# ---- recovery of planted effects --------------------------------------------------------------------


def _manager_windows(c: pd.DataFrame, departures: pd.DataFrame, months: int) -> pd.DataFrame:
    """Counting-process rows (start, stop] in tenure days, from the tables alone: ``manager_departed``
    is 1 from the day the customer's manager left, for ``months`` calendar months (truth definitions)."""
    days = (c[END_DATE] - c[SIGNUP_DATE]).dt.days.to_numpy()
    g = c[[ACCOUNT_MANAGER_ID, SIGNUP_DATE, END_DATE]].reset_index(names="i").merge(departures, on=ACCOUNT_MANAGER_ID)
    g = g[(g[SIGNUP_DATE] <= g[DEPARTED_AT]) & (g[DEPARTED_AT] < g[END_DATE])]
    on = (g[DEPARTED_AT] - g[SIGNUP_DATE]).dt.days.to_numpy()
    off = (g[DEPARTED_AT] + pd.DateOffset(months=months) - g[SIGNUP_DATE]).dt.days.to_numpy()
    i = g["i"].to_numpy()
    rows = pd.DataFrame({"i": np.r_[np.arange(len(c)), i, i], "start": np.r_[np.zeros(len(c), int), on, off],
                         "manager_departed": np.r_[np.zeros(len(c)), np.ones(i.size), np.zeros(i.size)]})
    rows = rows[rows["start"] < days[rows["i"]]].sort_values(["i", "start"], kind="stable")
    rows = rows.drop_duplicates(["i", "start"], keep="last")  # a departure on the signup day
    last = rows["i"].ne(rows["i"].shift(-1)).to_numpy()
    rows["stop"] = np.where(last, days[rows["i"]], rows["start"].shift(-1).fillna(0))
    rows["event"] = (last & c[CHURNED].to_numpy()[rows["i"]]).astype(int)
    return rows


def _static_covariates(c: pd.DataFrame) -> pd.DataFrame:
    """The fixed covariates as an analyst builds them from the customers table (truth definitions)."""
    q = segments.value_satisfaction_quadrant(c[MONTHLY_VALUE], c[schema.SATISFACTION])
    rsl = c[schema.RELATIVE_SERVICE]
    out = pd.DataFrame({
        "contract": c[CONTRACT].astype(str),
        "customer_type[group]": (c[schema.CUSTOMER_TYPE] == schema.GROUP).astype(float),
        "satisfaction": c[schema.SATISFACTION], "log2_value": np.log2(c[MONTHLY_VALUE] / c[MONTHLY_VALUE].median()),
        "wallet_share": c[schema.WALLET_SHARE], "below_parity": (rsl < 1).astype(float).where(rsl.notna()),
    })
    for name in synth.QUADRANTS[1:]:
        out[f"quadrant[{name}]"] = (q == name).astype(float).where(q.notna())
    return out


def test_cox_on_three_chunks_recovers_the_group_and_manager_effects(tmp_path):
    # 30,000 customers in 3 chunks. Only group customers have managers, and a departure doubles their
    # hazard for 6 months, so a model without that window understates the group effect (about -0.45
    # for a planted -0.51 at this size): the departure window enters as a time-varying covariate
    # (start, stop] via CoxPHFitter's entry_col, equivalent to CoxTimeVaryingFitter and faster. A
    # departure joined to the wrong chunk's customers would pull manager_departed towards 0.
    out = synth.write_chunked(30000, chunk_size=10000, seed=7, folder=tmp_path, tables=[CUSTOMERS, MANAGER_DEPARTURES])
    ds = load_dataset(out)
    c, truth = ds.customers, ds.truth
    rows = _manager_windows(c, ds[MANAGER_DEPARTURES], truth["params"]["hr_manager_departure_months"])
    df = rows.join(_static_covariates(c), on="i").drop(columns="i").dropna()
    fit = CoxPHFitter().fit(df, duration_col="stop", event_col="event", entry_col="start", strata=["contract"])
    for name, max_width in (("customer_type[group]", 0.2), ("manager_departed", 0.5)):
        planted, row = truth["cox_log_hr"][name], fit.summary.loc[name]
        lo, hi = row["coef lower 95%"], row["coef upper 95%"]
        assert lo <= planted <= hi, f"{name}: planted {planted:.3f} outside [{lo:.3f}, {hi:.3f}]"
        assert hi - lo < max_width, f"{name}: interval [{lo:.3f}, {hi:.3f}] too wide to be a check"


# ---- the command ----------------------------------------------------------------------------------------


def test_cli_refuses_an_unknown_table(tmp_path):
    done = workbench("data", "synth", "--n", "300", "--tables", "customers,orders", "--out", tmp_path / "out")
    assert done.returncode == 2
    assert ("unknown table 'orders': the tables are customers, revenue, contacts, campaigns, manager_departures"
            in done.stderr)
    assert not (tmp_path / "out").exists()


def test_cli_writes_chunks_of_the_chosen_tables(tmp_path):
    done = workbench("data", "synth", "--n", "2000", "--chunk-size", "1000", "--tables", "customers,contacts",
                     "--out", tmp_path)
    assert done.returncode == 0, done.stderr
    assert "customers 2,000, contacts " in done.stdout and "chunk 2/2" in done.stderr
    assert sorted(f.name for f in tmp_path.iterdir()) == ["contacts.parquet", "customers.parquet", "truth.json"]


def test_cli_switches_to_chunks_above_the_threshold(tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "AUTO_CHUNK_ABOVE", 1000)
    args = ["data", "synth", "--n", "1500", "--tables", "customers", "--out", str(tmp_path)]
    done = CliRunner().invoke(cli.main, args)
    assert done.exit_code == 0, done.output
    assert "1,500 customers are more than 1,000: writing them in chunks of 250,000" in done.output
    assert json.loads((tmp_path / "truth.json").read_text())["generator"] == "helpers.data.synth.write_chunked"

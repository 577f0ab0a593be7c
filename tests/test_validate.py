"""Each contract rule is rejected with a message naming table, column, count, rows and the fix."""
import numpy as np
import pandas as pd
import pytest

from helpers.data import schema as S
from helpers.data.validate import DataError, validate


def test_valid_tables_come_back_typed_with_tenure_derived(customers):
    t = validate({"customers": customers})["customers"]
    for col in S.TABLES[S.CUSTOMERS].columns:
        if col.name in t:
            assert t[col.name].dtype == S.pandas_dtype(col), col.name
    # 2023-01-01 -> 2023-07-01 is 181 days
    assert t.loc[t.customer_id == "C1", "tenure_months"].item() == pytest.approx(181 / S.DAYS_PER_MONTH)


def _broken(customers, **changes):
    df = customers.copy()
    for column, (row, value) in changes.items():
        df[column] = df[column].astype(object)
        df.loc[row, column] = value
    return df


CUSTOMER_CASES = [
    ({"customer_id": (1, "C1")}, r"customers\.customer_id: 2 rows duplicated \(rows 0, 1\): "
                                 r"each value must appear once"),
    ({"churned": (2, "maybe")}, r"customers\.churned: 1 row not true/false \(row 2\): use True/False or 1/0"),
    ({"contract": (3, "weekly")}, r"customers\.contract: 1 row outside the allowed values \('weekly'\) \(row 3\): "
                                  r"allowed values are month-to-month, one-year, two-year"),
    ({"monthly_value": (0, -5.0)}, r"customers\.monthly_value: 1 row below 0 \(row 0\): monthly_value must be >= 0"),
    ({"monthly_value": (0, "1,200")}, r"customers\.monthly_value: 1 row not a number \(row 0\): use plain numbers "
                                      r"with a '\.' decimal point and no thousands separators"),
    ({"monthly_value": (1, np.inf)}, r"customers\.monthly_value: 1 row infinite \(row 1\)"),
    ({"signup_date": (1, "15/13/2023")}, r"customers\.signup_date: 1 row not a date \(row 1\): "
                                         r"write dates as YYYY-MM-DD"),
    ({"end_date": (0, "2022-12-01")}, r"customers\.end_date: 1 row with the end date before the signup date \(row 0\): "
                                      r"end_date must be on or after signup_date"),
    ({"end_reason": (1, "price")}, r"customers\.end_reason: 1 row with an end reason but not churned \(row 1\)"),
    ({"end_reason": (0, "bored")}, r"customers\.end_reason: 1 row outside the allowed values \('bored'\)"),
    ({"customer_id": (2, None)}, r"customers\.customer_id: 1 row missing \(row 2\): this column may not be empty"),
]


@pytest.mark.parametrize("changes, message", CUSTOMER_CASES)
def test_customer_rules(customers, changes, message):
    with pytest.raises(DataError, match=message):
        validate({"customers": _broken(customers, **changes)})


def test_missing_required_column_names_what_was_found(customers):
    with pytest.raises(DataError, match=r"customers\.churned: column missing: add the column \(columns found: "):
        validate({"customers": customers.drop(columns="churned")})


def test_tenure_needs_a_column_or_both_dates(customers):
    with pytest.raises(DataError, match=r"customers\.tenure_months: column missing: add the column or both "
                                        r"signup_date and end_date"):
        validate({"customers": customers.drop(columns="end_date")})


def test_tenure_that_disagrees_with_the_dates(customers):
    with pytest.raises(DataError, match=r"customers\.tenure_months: 1 row disagreeing with signup_date and end_date"):
        validate({"customers": customers.assign(tenure_months=[181 / S.DAYS_PER_MONTH, 10.5, 19 / S.DAYS_PER_MONTH,
                                                               9.7])})


def test_empty_table_and_missing_customers_table(customers):
    with pytest.raises(DataError, match=r"customers: no rows: the table is empty"):
        validate({"customers": customers.iloc[:0]})
    with pytest.raises(DataError, match=r"customers: table missing: a data set needs a customers table"):
        validate({"revenue": pd.DataFrame()})


def test_unknown_table(customers):
    with pytest.raises(DataError, match=r"complaints: table not in the data contract: tables are customers, revenue"):
        validate({"customers": customers, "complaints": pd.DataFrame()})


def test_all_problems_are_listed_together(customers):
    bad = _broken(customers, contract=(3, "weekly"), monthly_value=(0, -1.0))
    with pytest.raises(DataError, match=r"\(2 problems\)") as err:
        validate({"customers": bad})
    assert len(err.value.problems) == 2


def test_many_bad_rows_show_five_examples_and_the_count():
    n = 12
    df = pd.DataFrame({"customer_id": [f"C{i}" for i in range(n)], "churned": [False] * n,
                       "tenure_months": [-1.0] * n})
    with pytest.raises(DataError, match=r"tenure_months: 12 rows below 0 \(rows 0, 1, 2, 3, 4, \.\.\.\)"):
        validate({"customers": df})


def _contacts(**over):
    base = {"contact_id": ["K1", "K2"], "customer_id": ["C1", "C2"],
            "opened_at": ["2023-02-01", "2023-03-01"], "kind": ["complaint", "inquiry"],
            "resolved_at": ["2023-02-03", "2023-03-01"], "recovery_action": ["fix", None]}
    return pd.DataFrame(base | over)


@pytest.mark.parametrize("over, message", [
    ({"customer_id": ["C1", "C9"]}, r"contacts\.customer_id: 1 row not in the customers table \(row 1\)"),
    ({"opened_at": ["2023-08-01", "2023-03-01"], "resolved_at": ["2023-08-02", "2023-03-01"]},
     r"contacts\.opened_at: 1 row after the customer's end_date \(row 0\)"),
    ({"opened_at": ["2022-12-01", "2023-03-01"]}, r"contacts\.opened_at: 1 row before the customer's signup_date"),
    ({"resolved_at": ["2023-01-15", "2023-03-01"]}, r"contacts\.resolved_at: 1 row resolved before they were opened"),
    ({"recovery_action": ["fix", "refund"]},
     r"contacts\.recovery_action: 1 row set on a contact that is not a complaint \(row 1\)"),
    ({"kind": ["complaint", "rant"]}, r"contacts\.kind: 1 row outside the allowed values \('rant'\)"),
    ({"contact_id": ["K1", "K1"]}, r"contacts\.contact_id: 2 rows duplicated"),
])
def test_contact_rules(customers, over, message):
    with pytest.raises(DataError, match=message):
        validate({"customers": customers, "contacts": _contacts(**over)})


def test_revenue_month_outside_the_customers_months(customers):
    revenue = pd.DataFrame({"customer_id": ["C1", "C1", "C1"], "month": ["2023-01-01", "2023-07-01", "2023-08-01"],
                            "revenue": [10.0, 10.0, 10.0]})
    with pytest.raises(DataError, match=r"revenue\.month: 1 row after the customer's end_date \(row 2\)"):
        validate({"customers": customers, "revenue": revenue})
    with pytest.raises(DataError, match=r"revenue\.revenue: 1 row below 0"):
        validate({"customers": customers, "revenue": revenue.iloc[:2].assign(revenue=[1.0, -2.0])})


def test_campaign_and_departure_rules(customers):
    campaigns = pd.DataFrame({"campaign_id": ["X", "X"], "customer_id": ["C2", "C4"],
                              "assigned_at": ["2023-06-01", "2023-06-01"], "arm": ["treatment", "placebo"],
                              "assignment": ["randomized", "randomized"]})
    with pytest.raises(DataError, match=r"campaigns\.arm: 1 row outside the allowed values \('placebo'\)"):
        validate({"customers": customers, "campaigns": campaigns})
    departures = pd.DataFrame({"account_manager_id": ["AM1", "AM1"], "departed_at": ["2023-01-01", "2023-02-01"]})
    with pytest.raises(DataError, match=r"manager_departures\.account_manager_id: 2 rows duplicated"):
        validate({"customers": customers, "manager_departures": departures})


def test_source_names_the_data_set(customers):
    with pytest.raises(DataError, match=r"^data set 'mine' does not meet the data contract \(1 problem\):"):
        validate({"customers": customers.drop(columns="churned")}, source="data set 'mine'")


@pytest.mark.parametrize("values", [
    pd.Series([True, False, "true", "FALSE", "1", "0", 1, 0, 1.0, 2, "yes", " true", None, np.nan], dtype=object),
    pd.Series([1.0, 0.0, 0.5, np.nan]),
    pd.Series(["True", "no", None], dtype="string"),
    pd.Series([True, False, None], dtype="boolean"),
    pd.Series([True, False]),
])
def test_flags_are_read_as_the_documented_labels_cell_by_cell(values):
    from helpers.data.validate import _FALSE, _TRUE, _coerce_bool
    cast, bad = _coerce_bool(values)
    for v, c, b in zip(values, cast, bad):  # the rule, one cell at a time
        want = None if pd.isna(v) else True if v in _TRUE else False if v in _FALSE else None
        assert (None if pd.isna(c) else bool(c)) == want, v
        assert bool(b) == (not pd.isna(v) and want is None), v
    assert cast.dtype == "boolean"

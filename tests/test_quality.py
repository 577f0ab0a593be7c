"""Tests for helpers.data.quality: data-quality issues and the graded leakage check.

Each test builds a small frame in the shape of a real export (a telecom file with 300 duplicated
rows and no ids, a bank export whose complaint flag agrees with exit for 99.9% of customers, a
telecom complaint flag with an odds ratio of 58 and 89% agreement, the Telco file as published)
and pins the issue or grade and the sentence. Reference values are closed forms (odds ratio
ad / bc, Mann-Whitney U / n1 n0 from scipy for the AUC). Seeds are fixed.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from helpers import config
from helpers.data import quality as Q
from helpers.data import schema as S
from helpers.data import synth
from helpers.data.io import load_dataset
from helpers.data.mapping import TABLE_KEYS
from helpers.data.validate import validate
from helpers.stats import complaints as K

TODAY = "2025-06-30"
HOSTILE = ["<script>alert(1)</script>", "{outcome}", "a|b\n# heading", "'; DROP TABLE x; --", "$(rm -rf ~)",
           "**bold** [x](javascript:alert(2))", "💥 \u202e"]


def customers(n: int = 1000, *, seed: int = 0, churn: float = 0.2, **columns) -> pd.DataFrame:
    """A valid-looking customers table: unique ids, churned, tenure in months, plus ``columns``."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({S.CUSTOMER_ID: [f"C{i + 1}" for i in range(n)], S.CHURNED: rng.random(n) < churn,
                         S.TENURE: rng.exponential(20, n).round(2), **columns})


def kinds(issues) -> list[tuple[str, str, tuple]]:
    return [(i.kind, i.severity, i.columns) for i in issues]


def by_kind(issues, kind: str) -> Q.Issue:
    found = [i for i in issues if i.kind == kind]
    assert len(found) == 1, kinds(issues)
    return found[0]


# ---- duplicates --------------------------------------------------------------------------------------
def test_three_hundred_duplicated_rows():
    rng = np.random.default_rng(1)
    c = customers(6700, monthly_value=rng.gamma(2, 30, 6700).round(2))
    copies = c.sample(300, random_state=1)
    out = Q.quality_issues({S.CUSTOMERS: pd.concat([c, copies], ignore_index=True)}, outcome=None)
    dup = by_kind(out, "duplicate_rows")
    assert (dup.count, dup.severity, dup.columns) == (300, "problem", ())
    assert dup.share == pytest.approx(300 / 7000)
    assert dup.sentence.startswith("customers: 300 rows (4.3%) are exact duplicates of another row (e.g. customer_id ")
    assert "remove them in the source" in dup.sentence
    assert "drop_duplicates" not in dup.sentence and "drop_duplicates" not in TABLE_KEYS  # no such mapping key
    assert by_kind(out, "duplicate_ids").count == 300  # whole-row copies repeat the id too


def test_duplicated_rows_of_a_file_without_ids_read_through_a_mapping(tmp_path):
    """The public telecom file shape: no customer id (the mapping generates C1, C2, ...), 300 repeated lines."""
    rng = np.random.default_rng(2)
    n = 2850
    raw = pd.DataFrame({"Call Failure": rng.integers(0, 30, n), "Complains": rng.integers(0, 2, n),
                        "Subscription Length": rng.integers(3, 48, n), "Seconds of Use": rng.integers(0, 17000, n),
                        "Churn": rng.integers(0, 2, n)})
    pd.concat([raw, raw.sample(300, random_state=3)]).to_csv(tmp_path / "telecom.csv", index=False)
    (tmp_path / "m.yaml").write_text(
        "customers:\n  file: telecom.csv\n  columns: {tenure_months: Subscription Length, churned: Churn}\n"
        '  values: {churned: {"1": true, "0": false}}\n  keep: [Call Failure, Complains, Seconds of Use]\n')
    issues = Q.quality_issues(load_dataset(tmp_path / "m.yaml"))
    dup = by_kind(issues, "duplicate_rows")
    assert dup.count == 300 and dup.share == pytest.approx(300 / 3150)
    assert "(apart from the customer_id the mapping generated)" in dup.sentence
    assert not [i for i in issues if i.kind == "duplicate_ids"]


def test_duplicate_ids_name_the_column_and_examples():
    c = customers(50)
    c.loc[[10, 20, 30], S.CUSTOMER_ID] = ["C1", "C2", "C2"]
    issue = by_kind(Q.quality_issues({S.CUSTOMERS: c}, outcome=None), "duplicate_ids")
    assert (issue.columns, issue.count) == ((S.CUSTOMER_ID,), 3)
    assert issue.sentence.startswith("customers.customer_id: 3 rows (6.0%) repeat an id an earlier row already has "
                                     "(e.g. C1, C2); each customer must appear once")


# ---- empty and constant columns ------------------------------------------------------------------------
def test_a_constant_column_is_a_note_and_an_empty_column_a_problem():
    c = customers(200, phone_service="Yes", fax_number=np.nan)
    c.loc[:9, "phone_service"] = None
    out = Q.quality_issues({S.CUSTOMERS: c}, outcome=None)
    const, empty = by_kind(out, "constant_column"), by_kind(out, "empty_column")
    assert (const.severity, const.columns, empty.severity, empty.columns) == \
        ("note", ("phone_service",), "problem", ("fax_number",))
    assert const.sentence == ("customers.phone_service has one value only (Yes) in the 190 rows where it is filled "
                              "in: it cannot explain any difference: leave it out of the covariates (and of keep: in "
                              "the mapping).")
    assert empty.sentence.startswith("customers.fax_number is empty in all 200 rows")
    assert out[0] is empty  # problems first


def test_a_constant_outcome_is_a_problem_and_no_leak():
    c = customers(100, churn=0.0, flag=np.arange(100) % 2 == 0)
    out = Q.quality_issues({S.CUSTOMERS: c})
    issue = by_kind(out, "constant_column")
    assert (issue.columns, issue.severity) == ((S.CHURNED,), "problem")
    assert "nothing to model" in issue.sentence
    assert not [i for i in out if i.kind.startswith("leakage")]


# ---- scales and dates -----------------------------------------------------------------------------------
def test_satisfaction_of_eleven_on_the_contracts_zero_to_ten_scale():
    sat = np.tile(np.arange(11.0), 10)
    sat[[3, 50]] = [11, 12]
    out = Q.quality_issues({S.CUSTOMERS: customers(110, satisfaction=sat)}, outcome=None)
    issue = by_kind(out, "out_of_scale")
    low, high = S.TABLES[S.CUSTOMERS].column(S.SATISFACTION).min, S.TABLES[S.CUSTOMERS].column(S.SATISFACTION).max
    assert (low, high) == (0, 10)  # read from the contract, not written here
    assert issue.count == 2 and issue.columns == (S.SATISFACTION,)
    assert issue.sentence.startswith("customers.satisfaction: 2 values (1.8%) lie outside the scale the data contract "
                                     "declares, 0 to 10: 2 above 10 (e.g. 11, 12).")


def test_zero_to_ten_scores_in_a_one_to_five_data_set():
    rng = np.random.default_rng(4)
    sat = rng.integers(1, 6, 1000).astype(float)
    sat[:40] = rng.choice([0, 7, 8, 9, 10], 40)
    mixed = by_kind(Q.quality_issues({S.CUSTOMERS: customers(satisfaction=sat)}, outcome=None), "mixed_scale")
    assert mixed.severity == "note" and mixed.count == 40
    assert "the file may mix a 1-5 and a 0 to 10 scale" in mixed.sentence
    declared = Q.quality_issues({S.CUSTOMERS: customers(satisfaction=sat)}, outcome=None,
                                scales={"satisfaction": (1, 5)})
    issue = by_kind(declared, "out_of_scale")
    assert issue.count == 40 and issue.severity == "problem"
    assert "outside the scale given, 1 to 5" in issue.sentence and "below 1 (e.g. 0)" in issue.sentence
    assert not [i for i in declared if i.kind == "mixed_scale"]


def test_continuous_satisfaction_is_not_a_mixed_scale():
    sat = np.random.default_rng(5).uniform(1, 5.5, 1000)
    assert Q.quality_issues({S.CUSTOMERS: customers(satisfaction=sat)}, outcome=None) == []


def test_negative_tenure_and_revenue_and_impossible_dates():
    c = customers(100)
    c.loc[[5, 6], S.TENURE] = [-3.0, -0.5]
    c[S.SIGNUP_DATE] = pd.Timestamp("2023-01-01")
    c.loc[7, S.SIGNUP_DATE] = pd.Timestamp("1899-12-31")
    c.loc[8, S.SIGNUP_DATE] = pd.Timestamp("2031-05-01")
    revenue = pd.DataFrame({S.CUSTOMER_ID: ["C1", "C2"], S.MONTH: ["2023-01-01", "2023-02-01"],
                            S.REVENUE_AMOUNT: ["-12.5", "30"]})  # raw text, as a mapping hands it over
    out = Q.quality_issues({S.CUSTOMERS: c, S.REVENUE: revenue}, outcome=None, today=TODAY)
    found = {(i.table, i.columns[0]): i for i in out if i.kind == "out_of_scale"}
    assert set(found) == {(S.CUSTOMERS, S.TENURE), (S.CUSTOMERS, S.SIGNUP_DATE), (S.REVENUE, S.REVENUE_AMOUNT)}
    assert "2 below 0 (e.g. -3, -0.5)" in found[S.CUSTOMERS, S.TENURE].sentence
    assert found[S.REVENUE, S.REVENUE_AMOUNT].count == 1
    assert found[S.CUSTOMERS, S.SIGNUP_DATE].sentence == (
        "customers.signup_date: 2 dates (2.0%) are impossible: 1 before 1900 (e.g. 1899-12-31); 1 after today, "
        "2025-06-30 (e.g. 2031-05-01). Correct them in the source; a placeholder date that means 'unknown' "
        "belongs under missing: in the mapping.")


# ---- what the mapping did ---------------------------------------------------------------------------------
def test_cells_filled_and_rows_dropped_by_the_mapping():
    c = customers(100, total_charges=1.0)
    c.attrs["filled"] = {"total_charges": (30, 0)}
    out = Q.quality_issues({S.CUSTOMERS: c}, outcome=None, notes={S.CUSTOMERS: {"dropped": {"blank lines": 25}}})
    filled, dropped = by_kind(out, "mapping_filled"), by_kind(out, "mapping_dropped")
    assert (filled.count, filled.share, filled.severity) == (30, 0.3, "problem")  # 30% of a column made up
    assert filled.sentence.startswith("customers.total_charges: the mapping filled 30 missing cells (30.0% of rows) "
                                      "with 0 (fill:)")
    assert (dropped.count, dropped.share, dropped.severity) == (25, 0.2, "problem")
    assert dropped.sentence == ("customers: the mapping dropped 25 of the 125 rows read (20.0%; 25 blank lines); "
                                "check that they should not be analysed.")


def test_the_published_telco_file_has_one_note():
    issues = Q.quality_issues(load_dataset(config.EXTERNAL / "ibm_telco_churn" / "mapping.yaml"))
    assert kinds(issues) == [("mapping_filled", "note", ("total_charges",))]
    assert issues[0].count == 11


def test_clean_synthetic_data_has_no_issues():
    tables, _ = synth.generate(2000, 24, seed=1)
    assert Q.quality_issues(validate(tables)) == []


def test_quality_table_and_lines():
    c = customers(100, plan="basic")
    c.loc[3, S.TENURE] = -1.0
    issues = Q.quality_issues({S.CUSTOMERS: c})
    table = Q.quality_table(issues)
    assert table.columns.tolist() == ["Severity", "Table", "Column", "Check", "Rows", "Share of rows",
                                      "What it means and what to do"]
    assert table[["Severity", "Column", "Check", "Rows", "Share of rows"]].values.tolist() == [
        ["problem", "tenure_months", "Outside its scale", 1, "1.0%"], ["note", "plan", "One value only", 100, "100.0%"]]
    lines = Q.quality_lines(issues)
    assert lines[0] == "data quality: 1 problem, 1 note"
    assert lines[1] == f"problem: {issues[0].sentence}" and lines[2].startswith("note: customers.plan")


# ---- leakage --------------------------------------------------------------------------------------------
def flag_table(a: int, b: int, c: int, d: int, *, seed: int = 0) -> pd.DataFrame:
    """Rows in the 2x2 cells (flag & churned, flag & stayed, no flag & churned, no flag & stayed), shuffled."""
    flag = np.repeat([True, True, False, False], [a, b, c, d])
    churned = np.repeat([True, False, True, False], [a, b, c, d])
    order = np.random.default_rng(seed).permutation(len(flag))
    return pd.DataFrame({"complains": flag[order], S.CHURNED: churned[order]})


def test_bank_complaint_flag_agreeing_on_999_in_1000_is_near_determining():
    rng = np.random.default_rng(7)
    exited = rng.random(10000) < 0.204
    complain = exited.copy()
    complain[rng.choice(10000, 10, replace=False)] ^= True  # 10 of 10,000 disagree
    df = pd.DataFrame({"Exited": exited.astype(int), "Complain": complain.astype(int),
                       "Age": rng.integers(18, 90, 10000)})
    leaks = Q.leakage(df, "Exited")
    assert [(x.column, x.grade, x.measure) for x in leaks] == [("Complain", "near-determining", "agreement")]
    assert leaks[0].score == pytest.approx(0.999) and leaks[0].rows == 10000
    assert leaks[0].sentence.startswith("Complain agrees with Exited for 99.9% of customers: this points to leakage")
    caveat = Q.leak_caveat(leaks, ["Age", "Complain"])
    assert caveat.startswith("Warning: Complain nearly determines Exited (leakage suspected")
    assert Q.leak_caveat(leaks, ["Age"]) == ""


def test_telecom_flag_with_odds_ratio_58_is_strong():
    a, b, c, d = 315, 45, 285, 2355  # agreement (a + d) / n = 0.89, odds ratio ad / bc = 57.9
    df = flag_table(a, b, c, d)
    leaks = Q.leakage(df)
    assert [(x.column, x.grade, x.measure) for x in leaks] == [("complains", "strong", "odds_ratio")]
    assert leaks[0].odds_ratio == pytest.approx(a * d / (b * c), rel=1e-12)
    assert leaks[0].sentence.startswith("complains is strongly associated with churned: odds ratio 58 (95% interval "
                                        "from 41), and it agrees with churned for 89.0% of customers (a column with "
                                        "no information: 80.0%)")
    # what notebook 03 shows: a warning, no longer "No column almost determines the outcome"
    assert K.leakage_warnings(df) == [leaks[0].sentence]
    issue = by_kind(Q.quality_issues({S.CUSTOMERS: customers(3000).assign(**df)}), "leakage_strong")
    assert issue.severity == "note" and issue.sentence == f"customers: {leaks[0].sentence}"


def test_a_genuine_strong_predictor_is_not_graded():
    """Telco, two-year contract against the rest: 48 of 1,695 churn against 1,821 of 5,348 (odds ratio 17.7)."""
    df = flag_table(48, 1695 - 48, 1821, 5348 - 1821)
    assert Q.leakage(df) == []
    assert K.leakage_check(df, keep_all=True)["odds_ratio"].item() == pytest.approx((1821 * 1647) / (48 * 3527))


def test_a_level_where_every_customer_churned():
    rng = np.random.default_rng(8)
    plan = rng.choice(["basic", "plus", "gold"], 2000).astype(object)
    plan[:160] = "closing"
    churned = np.where(plan == "closing", True, rng.random(2000) < 0.2)
    leaks = Q.leakage(pd.DataFrame({"plan": plan, S.CHURNED: churned}))
    assert [(x.column, x.grade, x.measure) for x in leaks] == [("plan", "near-determining", "pure_level")]
    assert leaks[0].sentence.startswith("all 160 customers with plan = closing (8.0% of customers) have churned = "
                                        "True, against ")


def test_a_small_pure_level_is_chance():
    """12 customers who all stayed, at a churn rate of 20%: 0.8 ** 12 = 7%, no evidence of anything."""
    rng = np.random.default_rng(9)
    plan = rng.choice(["basic", "plus"], 1000).astype(object)
    churned = rng.random(1000) < 0.2
    plan[:12], churned[:12] = "trial", False
    assert Q.leakage(pd.DataFrame({"plan": plan, S.CHURNED: churned})) == []


def test_harmless_columns_grade_nothing():
    rng = np.random.default_rng(10)
    n = 5000
    churned = rng.random(n) < 0.3
    df = pd.DataFrame({S.CHURNED: churned, "flag": rng.random(n) < np.where(churned, 0.4, 0.25),
                       "spend": rng.gamma(2, 30, n) * np.where(churned, 0.8, 1.0),
                       "region": rng.choice(list("NSEW"), n), "rare": rng.random(n) < 0.01,
                       "visits": rng.poisson(3, n)})
    assert Q.leakage(df) == []
    scores = Q.leakage_scores(df).set_index("column")
    assert set(scores.index) == {"flag", "spend", "region", "rare", "visits"} and not scores["flagged"].any()


def test_constant_outcome_or_column_is_no_leak():
    df = pd.DataFrame({S.CHURNED: [False] * 50, "flag": [True, False] * 25})
    assert Q.leakage(df) == [] and K.leakage_check(df).empty and K.leakage_warnings(df) == []
    assert Q.leakage(pd.DataFrame({S.CHURNED: [True, False] * 25, "flag": True})) == []
    assert Q.leakage(pd.DataFrame({S.CHURNED: [np.nan] * 20, "flag": [1, 0] * 10})) == []
    with pytest.raises(ValueError, match=r"outcome 'churned' has 3 distinct value\(s\)"):
        Q.leakage(pd.DataFrame({S.CHURNED: [0, 1, 2] * 5, "x": range(15)}))


def test_nans_in_the_column_and_the_outcome():
    rng = np.random.default_rng(11)
    n = 3000
    left = rng.random(n) < 0.25
    churned = pd.array(left, dtype="boolean")
    exit_flag = pd.array(np.where(rng.random(n) < 0.99, left, ~left), dtype="boolean")
    exit_flag[rng.random(n) < 0.3] = pd.NA
    churned[:100] = pd.NA
    df = pd.DataFrame({S.CHURNED: churned, "exit_flag": exit_flag})
    leak, = Q.leakage(df)
    assert (leak.grade, leak.measure) == ("near-determining", "agreement")
    assert leak.rows == int((df["exit_flag"].notna() & df[S.CHURNED].notna()).sum())


def test_a_field_filled_in_only_at_the_exit_leaks_through_its_blanks():
    rng = np.random.default_rng(12)
    churned = rng.random(2000) < 0.25
    reason = np.where(churned, rng.choice(["price", "moved"], 2000), None)  # where filled, all churned
    leak, = Q.leakage(pd.DataFrame({S.CHURNED: churned, "cancel_note": reason}))
    assert (leak.grade, leak.measure, leak.rows) == ("near-determining", "missing_disagreement", 2000)
    assert leak.sentence.startswith("whether cancel_note is missing is the opposite of churned for 100.0% of customers")


def test_numeric_columns_by_auc_and_by_deciles():
    rng = np.random.default_rng(13)
    n = 4000
    churned = rng.random(n) < 0.3
    df = pd.DataFrame({S.CHURNED: churned,
                       "days_since_exit_call": (np.where(churned, 2, 40) + rng.normal(0, 6, n)).round(),
                       "score": (np.where(churned, 1.8, 0) + rng.normal(0, 1, n)).round(1),
                       "gap": np.where(churned, rng.choice([0.5, 99.5], n), rng.uniform(10, 90, n))})
    leaks = {x.column: x for x in Q.leakage(df)}
    y = churned
    for column, grade in (("days_since_exit_call", "near-determining"), ("score", "strong")):
        u = stats.mannwhitneyu(df.loc[y, column], df.loc[~y, column]).statistic / (y.sum() * (~y).sum())
        assert leaks[column].score == pytest.approx(max(u, 1 - u), rel=1e-12)  # ties: midranks, as scipy
        assert leaks[column].grade == grade, column
    assert leaks["days_since_exit_call"].measure == "reversed_auc" and leaks["score"].measure == "auc"
    # both ends churn: AUC near 0.5, but deciles show that the middle never does
    assert leaks["gap"].grade == "near-determining" and leaks["gap"].measure in {"determined_share", "pure_level"}


def test_leakage_check_keeps_its_columns_and_reads_the_shared_check():
    df = flag_table(315, 45, 285, 2355)
    out = K.leakage_check(df, keep_all=True)
    assert {"column", "kind", "measure", "score", "baseline", "rows", "flagged"} <= set(out.columns)
    assert out[["column", "grade", "flagged"]].values.tolist() == [["complains", "strong", True]]


def test_hostile_names_and_values_are_carried_verbatim():
    rng = np.random.default_rng(14)
    n = 600
    churned = rng.random(n) < 0.3
    df = customers(n)
    df[S.CHURNED] = churned
    for text in HOSTILE:
        df[text] = rng.choice(HOSTILE, n)  # harmless hostile values
    df[HOSTILE[0] + "exit"] = np.where(rng.random(n) < 0.99, churned, ~churned)
    df[HOSTILE[1]] = HOSTILE[2]  # a constant column: name and value go into the sentence
    df[0] = rng.normal(size=n)  # a column name that is not a string
    df.loc[[1, 2], S.CUSTOMER_ID] = HOSTILE[3]
    issues = Q.quality_issues({S.CUSTOMERS: df})
    sentences = {i.kind: i.sentence for i in issues}
    assert sentences["leakage_near_determining"].startswith(f"customers: {HOSTILE[0]}exit agrees with churned")
    assert sentences["constant_column"].startswith(f"customers.{HOSTILE[1]} has one value only ({HOSTILE[2]})")
    assert f"(e.g. {HOSTILE[3]})" in sentences["duplicate_ids"]
    assert len(Q.quality_table(issues)) == len(issues) and Q.quality_lines(issues)
    leaks = Q.leakage(df)
    assert [x.column for x in leaks] == [HOSTILE[0] + "exit"]
    assert Q.leak_caveat(leaks, [f"{HOSTILE[0]}exit[True]"]).startswith(f"Warning: {HOSTILE[0]}exit nearly")


def test_duplicate_column_names_and_mixed_types_do_not_crash():
    rng = np.random.default_rng(15)
    df = pd.DataFrame(np.c_[rng.random(100) < 0.3, rng.normal(size=100), rng.normal(size=100)],
                      columns=[S.CHURNED, "x", "x"])
    df[S.CHURNED] = df[S.CHURNED].astype(bool)
    df["mixed"] = [1, "1", None, 2.5, "a"] * 20
    df["lists"] = [[1, 2]] * 100
    Q.quality_table(Q.quality_issues(df))
    Q.leakage(df, columns=["x", "mixed"])


def test_a_large_frame_flags_only_the_leaking_column():
    """200,000 rows of 20 columns: only the near-copy of churn is flagged (its speed: benchmarks, not tests)."""
    rng = np.random.default_rng(16)
    n = 200_000
    churned = rng.random(n) < 0.25
    df = pd.DataFrame({S.CUSTOMER_ID: np.arange(n).astype(str), S.CHURNED: churned, S.TENURE: rng.exponential(20, n),
                       **{f"num{i}": rng.normal(size=n) for i in range(8)},
                       **{f"cat{i}": rng.choice(["a", "b", "c", "d"], n) for i in range(8)},
                       "flag": rng.random(n) < 0.2, "exit": churned ^ (rng.random(n) < 0.005)})
    issues = Q.quality_issues({S.CUSTOMERS: df})
    assert [i.columns for i in issues] == [("exit",)]

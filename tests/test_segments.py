import numpy as np
import pandas as pd
import pytest

from helpers.data import segments


def test_value_satisfaction_quadrant_labels():
    values = pd.Series([10.0, 50.0, 50.0, 10.0, 30.0], index=list("abcde"))
    sat = pd.Series([8.0, 8.0, 3.0, 6.9, np.nan], index=list("abcde"))
    q = segments.value_satisfaction_quadrant(values, sat, value_threshold=20)
    assert list(q.astype(object).fillna("-")) == ["maintain", "consolidate", "win_back", "let_go", "-"]
    assert list(q.index) == list("abcde") and list(q.cat.categories) == list(segments.QUADRANTS)
    by_median = segments.value_satisfaction_quadrant([1.0, 2.0, 3.0], [7.0, 7.0, 7.0])  # median 2 is not high
    assert list(by_median) == ["maintain", "maintain", "consolidate"]


@pytest.fixture
def customers():
    return pd.DataFrame({
        "monthly_value": [10.0, 50.0, 80.0, 20.0, 30.0, 40.0],
        "satisfaction": [8.0, 3.0, 9.0, 5.0, np.nan, 7.0],
        "relative_service_level": [1.2, 0.5, 1.0, 0.95, np.nan, 1.3],
        "wallet_share": [0.1, 0.5, 0.9, 0.2, 0.4, np.nan],
        "signup_date": pd.to_datetime(["2023-01-05", "2023-02-01", "2023-04-01", "2023-05-01", "2024-01-01",
                                       "2024-02-01"]),
    })


def test_add_segments_labels_each_customer(customers):
    out = segments.add_segments(customers)  # median value 35
    assert out["value_band"].tolist() == ["low value", "high value", "high value", "low value", "low value",
                                          "high value"]
    assert out["service_by_value"].astype(object).fillna("-").tolist() == [
        "ahead of competitor, low value", "behind competitor, high value", "at par, high value",
        "at par, low value", "-", "ahead of competitor, high value"]
    assert out["wallet_by_satisfaction"].astype(object).fillna("-").tolist() == [
        "low wallet, high satisfaction", "mid wallet, low satisfaction", "high wallet, high satisfaction",
        "low wallet, low satisfaction", "-", "-"]
    assert out["cohort"].tolist() == ["2023Q1", "2023Q1", "2023Q2", "2023Q2", "2024Q1", "2024Q1"]
    assert out["below_parity"].tolist()[:4] == [0.0, 1.0, 0.0, 1.0] and np.isnan(out["below_parity"][4])
    assert out["log2_monthly_value"].iloc[1] == pytest.approx(np.log2(50 / 35))
    assert segments.available_segmentations(out) == ["quadrant", "service_by_value", "wallet_by_satisfaction",
                                                     "cohort"]


def test_segments_need_their_inputs():
    out = segments.add_segments(pd.DataFrame({"monthly_value": [1.0, 2.0]}))
    assert "quadrant" not in out and "cohort" not in out and "value_band" in out


def test_pool_small_pools_or_leaves_out_and_says_so():
    c = pd.DataFrame({"seg": ["a"] * 10 + ["b"] * 3 + ["c"] * 3 + [None]})
    out, note = segments.pool_small(c, "seg", min_size=5)
    assert out["seg"].value_counts().to_dict() == {"a": 10, "other (pooled)": 6}
    assert note == ("1 customers with no seg are left out; segments under 5 customers (b, c) are pooled as "
                    "'other (pooled)'.")
    out, note = segments.pool_small(c, "seg", min_size=7)
    assert out["seg"].value_counts().to_dict() == {"a": 10}
    assert "segments under 7 customers (b, c; 6 customers) are left out" in note
    assert segments.pool_small(c.dropna(), "seg", min_size=3)[1] == ""
    with pytest.raises(KeyError, match="customers has no column 'quadrant' to segment by"):
        segments.pool_small(c, "quadrant", min_size=3)

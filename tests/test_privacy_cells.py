import pandas as pd

from helpers.privacy import suppress_small


def test_rows_below_k_are_hidden_and_said():
    t = pd.DataFrame({"seg": ["a", "b", "c"], "n_treated": [50, 9, 30], "n_control": [40, 60, 5]})
    kept, note = suppress_small(t, count=["n_treated", "n_control"], k=10, what="segments")
    assert kept["seg"].tolist() == ["a"]
    assert note == "2 of 3 segments with fewer than 10 customers hidden (small-cell suppression)."
    kept, note = suppress_small(t, count="n_control", k=5)
    assert len(kept) == 3 and note == ""

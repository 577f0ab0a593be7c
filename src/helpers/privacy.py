"""Small-cell suppression: no table or figure in a shared report shows a group of fewer than K customers.

Notebooks pass every table of groups through `suppress_small` before showing it; the rows of
groups below the threshold are hidden and the returned sentence says so. Segments in the churn
notebook are pooled instead (`segments.pool_small`), with the same threshold as a floor.
"""
from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

MIN_CELL = 10  # default smallest group a shared report may show


def suppress_small(table: pd.DataFrame, *, count: str | Sequence[str], k: int = MIN_CELL,
                   what: str = "groups") -> tuple[pd.DataFrame, str]:
    """Hide the rows of groups smaller than ``k``, and say how many were hidden.

    Parameters
    ----------
    table : DataFrame
        One row per group, with the group sizes in ``count`` (one column, or several: a row
        is hidden when any of them is below ``k``, e.g. the treated and the control count).
    k : int
        Smallest group size shown.
    what : str
        What a row is, for the sentence ("segments", "months").

    Returns
    -------
    (DataFrame, str)
        The rows kept, and a sentence ("" when nothing was hidden).

    Example
    -------
    >>> t = pd.DataFrame({"contract": ["a", "b"], "customers": [120, 4], "rate": [0.2, 0.5]})
    >>> kept, note = suppress_small(t, count="customers", k=10, what="contracts")
    >>> kept["contract"].tolist(), note
    (['a'], '1 of 2 contracts with fewer than 10 customers hidden (small-cell suppression).')
    """
    counts = table[[count] if isinstance(count, str) else list(count)]
    small = (counts < k).any(axis=1)
    if not small.any():
        return table, ""
    note = f"{int(small.sum())} of {len(table)} {what} with fewer than {k} customers hidden (small-cell suppression)."
    return table.loc[~small], note

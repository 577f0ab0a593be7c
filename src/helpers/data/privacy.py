"""Small-cell suppression: no table or figure in a shared report shows a group of fewer than K customers.

Notebooks pass every table of groups through `suppress_small` before showing it; the rows of
groups below the threshold are hidden and the returned sentence says so. Segments in the churn
notebook are pooled instead (`segments.pool_small`), with the same threshold as a floor.

Models are protected before they are fitted: every model-building function pools the small
levels of its categorical covariates and strata with `pool_small_levels` (so no term, balance
row or segment effect stands for fewer than K customers), and refuses identifier covariates
with `check_covariates` (an e-mail address is never a model term).
"""
from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from helpers.data import schema as S
from helpers.data.segments import POOLED

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


# ---- small levels of model covariates ----------------------------------------------------
def _level_sizes(df: pd.DataFrame, column: str, id_col: str | None, weights: str | None) -> pd.Series:
    """Customers per level of ``column`` (missing values are no level)."""
    by = df.groupby(column, observed=True, sort=False)
    sizes = by[weights].sum() if weights else by[id_col].nunique() if id_col else by.size()
    return sizes[sizes > 0]


def _pool_column(df: pd.DataFrame, column: str, *, used: list[str], min_cell: int, id_col: str | None,
                 weights: str | None, label: str) -> tuple[pd.DataFrame, str, list, float]:
    """One pass of the rule over one column, its levels counted over the rows complete in ``used``:
    (frame, "pooled" / "dropped" / "", small levels, their customers)."""
    sizes = _level_sizes(df.dropna(subset=used), column, id_col, weights)
    small = [level for level in sizes.index if sizes[level] < min_cell and level != label]
    if label in sizes.index and sizes[label] < min_cell:
        small.append(label)
    if not small:
        return df, "", [], 0
    customers = float(sizes[small].sum())
    values = df[column]
    is_small = values.isin(small)
    dtype = values.dtype if isinstance(values.dtype, pd.CategoricalDtype) else values.astype("category").dtype
    present = set(values.dropna().unique())
    kept = [level for level in dtype.categories if level in present and level not in small]
    if customers + (sizes.get(label, 0) if label in kept else 0) >= min_cell:
        levels = [*[level for level in kept if level != label], label]
        pooled = pd.Categorical(values.astype(object).where(~is_small, label), categories=levels,
                                ordered=dtype.ordered)
        return df.assign(**{column: pd.Series(pooled, index=df.index)}), "pooled", small, customers
    out = df.loc[~is_small]
    if isinstance(values.dtype, pd.CategoricalDtype):
        out = out.assign(**{column: out[column].cat.remove_categories([s for s in small if s in dtype.categories])})
    return out, "dropped", small, customers


def _customers(n: float, min_cell: int) -> str:
    return f"{int(n):,} customers" if n >= min_cell else f"fewer than {min_cell} customers"


def pool_small_levels(df: pd.DataFrame, columns: Sequence[str], *, min_cell: int = MIN_CELL,
                      id_col: str | None = None, weights: str | None = None,
                      label: str = POOLED) -> tuple[pd.DataFrame, str]:
    """Pool the levels of categorical model columns that hold fewer than ``min_cell`` customers.

    The one small-cell rule of every model (Cox, complaint-state, propensity, balance, effects by
    segment), applied before anything is fitted or tabulated: in each non-numeric column of
    ``columns`` (a covariate, a stratum, a segmentation) the levels with fewer than ``min_cell``
    customers are merged into one level ``label``, placed last so that the reference level of
    the model stays a real one. When the merged level would still hold fewer than ``min_cell``
    customers, those levels are dropped together with their rows. Customers are counted over
    the rows complete in every one of ``columns`` (the rows a complete-case model uses), so
    pass the duration, event and numeric covariates too: numeric columns have no levels and
    only decide which rows count. Missing values are no level. The columns are visited until
    no level is small (dropping rows for one column can shrink a level of another).

    The note counts levels and customers and never names a level; a count of fewer than
    ``min_cell`` customers is given as "fewer than ``min_cell``", so no small level's size
    can be read from it.

    Parameters
    ----------
    df : DataFrame
        The rows a model will be fitted on.
    columns : sequence of str
        The model's columns: the non-numeric ones are pooled (their levels become terms, strata
        or table rows), all of them decide which rows count; absent ones are skipped.
    min_cell : int
        Smallest number of customers a level may hold (the notebooks' ``MIN_CELL``).
    id_col : str, optional
        Column naming the customer of each row, for frames with several rows per customer
        (episodes of a time-varying model); customers are then counted as distinct ids.
    weights : str, optional
        Column counting the customers behind each collapsed row (`helpers.engine.scale`).
    label : str
        Name of the pooled level.

    Returns
    -------
    (DataFrame, str)
        The rows to fit on (a pooled column becomes categorical) and a sentence ("" when no
        level was small; ``df`` itself is then returned).

    Example
    -------
    >>> df = pd.DataFrame({"region": ["north"] * 30 + ["south"] * 20 + ["east"] * 6 + ["west"] * 5 + ["atlantis"] * 3})
    >>> out, note = pool_small_levels(df, ["region"], min_cell=10)
    >>> out["region"].value_counts(sort=False).to_dict()
    {'north': 30, 'south': 20, 'other (pooled)': 14}
    >>> print(note)  # doctest: +NORMALIZE_WHITESPACE
    Levels with fewer than 10 customers, before any model: 3 levels of region pooled as
    'other (pooled)' (14 customers).
    """
    used = [c for c in dict.fromkeys(columns) if c in df]
    candidates = [c for c in used if not pd.api.types.is_numeric_dtype(df[c])]
    done: dict[str, dict] = {}
    out, changed = df, True
    while changed:
        changed = False
        for column in candidates:
            out, action, small, customers = _pool_column(out, column, used=used, min_cell=min_cell, id_col=id_col,
                                                         weights=weights, label=label)
            if action:
                changed = True
                entry = done.setdefault(column, {"pooled": set(), "dropped": set(), "dropped_customers": 0.0})
                members = set(small) - {label} | (entry["pooled"] if label in small else set())
                if action == "pooled":
                    entry["pooled"] |= members
                else:
                    entry["pooled"] -= members
                    entry["dropped"] |= members
                    entry["dropped_customers"] += customers
    parts = []
    for column, entry in done.items():
        if entry["pooled"]:
            n = len(entry["pooled"])
            pooled = _level_sizes(out.dropna(subset=used), column, id_col, weights).get(label, 0)
            parts.append(f"{n} level{'s' * (n > 1)} of {column} pooled as '{label}' ({_customers(pooled, min_cell)})")
        if entry["dropped"]:
            n = len(entry["dropped"])
            parts.append(f"{n} level{'s' * (n > 1)} of {column} left out with {'their' if n > 1 else 'its'} "
                         f"rows ({_customers(entry['dropped_customers'], min_cell)})")
    if not parts:
        return df, ""
    return out, f"Levels with fewer than {min_cell} customers, before any model: {'; '.join(parts)}."


def pooled_notes(*results) -> str:
    """The notes `pool_small_levels` left on model results, one per line; "" when no level was small.

    A result carries its note as ``attrs["small_cell_note"]`` (a table), a ``small_cell_note``
    key (a dict) or a ``small_cell_note_`` attribute (a fitted model); a notebook shows them
    with ``display(Markdown(escape_md(pooled_notes(a, b))))``, which shows nothing when empty.

    Example
    -------
    >>> t = pd.DataFrame({"x": [1]}); t.attrs["small_cell_note"] = "Levels with fewer than 10 ..."
    >>> pooled_notes(t, {"small_cell_note": ""}, None)
    'Levels with fewer than 10 ...'
    """
    notes = []
    for result in results:
        if isinstance(result, dict):
            note = result.get("small_cell_note")
        elif isinstance(result, pd.DataFrame):
            note = result.attrs.get("small_cell_note")
        else:
            note = getattr(result, "small_cell_note_", None)
        if note and note not in notes:
            notes.append(note)
    return "\n".join(notes)


# ---- identifiers are never model terms -----------------------------------------------------
ID_COLUMNS = tuple(dict.fromkeys(c.name for t in S.TABLES.values() for c in t.columns if c.kind == "id"))
NEARLY_UNIQUE = 0.95  # a text column with a larger share of distinct values is an identifier
MIN_ROWS_TO_JUDGE = 20  # ... when it has at least this many non-missing values


def _customers_frame(data) -> pd.DataFrame:
    """The frame to judge: ``data`` itself, or the customers table of a data set or a dict of tables."""
    return data if isinstance(data, pd.DataFrame) else data[S.CUSTOMERS]


def _identifier_reason(frame: pd.DataFrame, column: str) -> str | None:
    """Why ``column`` is an identifier, or None."""
    if column in ID_COLUMNS:
        return "an identifier column of the data contract"
    if column not in frame:
        return None
    values = frame.loc[:, column]
    if isinstance(values, pd.DataFrame):  # a column named twice (a covariate that is also a stratum)
        values = values.iloc[:, 0]
    text = pd.api.types.is_string_dtype(values) or pd.api.types.is_object_dtype(values) or \
        isinstance(values.dtype, pd.CategoricalDtype)
    filled = values.dropna()
    if not text or len(filled) < MIN_ROWS_TO_JUDGE:
        return None
    distinct = filled.astype(str).nunique()
    if distinct / len(filled) > NEARLY_UNIQUE:
        return f"{distinct:,} distinct values in {len(values):,} customers"
    return None


def identifier_covariates(data, covariates: Sequence[str]) -> list[str]:
    """The covariates that are identifiers: they must never become model terms.

    A covariate is an identifier when it is an ``id`` column of the data contract
    (`schema.TABLES`: customer_id, account_manager_id, contact_id, ...), or a text column whose
    non-missing values are more than 95% distinct among at least 20 (an e-mail address, a
    phone number, a name). Numeric columns are never identifiers here: a continuous covariate
    is nearly unique too.

    Parameters
    ----------
    data : DataFrame, Dataset or dict of DataFrame
        One row per customer (the loaded customers frame), or a data set whose customers table
        is judged.
    covariates : sequence of str
        The columns meant as model terms; columns absent from the data are not judged (except
        the contract's id columns, which are always refused).

    Returns
    -------
    list of str
        The identifier covariates, in the order given.

    Example
    -------
    >>> df = pd.DataFrame({"email": [f"c{i}@example.com" for i in range(40)], "contract": ["a", "b"] * 20})
    >>> identifier_covariates(df, ["contract", "email", "customer_id"])
    ['email', 'customer_id']
    """
    frame = _customers_frame(data)
    return [c for c in dict.fromkeys(covariates) if _identifier_reason(frame, c) is not None]


def check_covariates(data, covariates: Sequence[str], *, parameter: str = "COVARIATES",
                     role: str = "covariate") -> None:
    """Refuse identifier covariates (`identifier_covariates`) with a message that says what to fix.

    Call it where covariates come in: the runner at plan time, and the top of every
    model-building function, so that a notebook run directly in Jupyter refuses too.

    Parameters
    ----------
    data : DataFrame, Dataset or dict of DataFrame
        As in `identifier_covariates`.
    covariates : sequence of str
        The columns to check.
    parameter : str
        The parameter that holds them, named in the message (``COVARIATES``, ``STRATA``).
    role : str
        What a column of that parameter is, for the message ("covariate", "stratum").

    Raises
    ------
    ValueError
        For the first identifier: ``covariate email is an identifier (2,031 distinct values in
        2,040 customers): it cannot be a model term; drop it from COVARIATES``.

    Example
    -------
    >>> df = pd.DataFrame({"email": [f"c{i}@example.com" for i in range(40)]})
    >>> check_covariates(df, ["email"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: covariate email is an identifier (40 distinct values in 40 customers): it cannot be a ...
    """
    frame = _customers_frame(data)
    for column in dict.fromkeys(covariates):
        reason = _identifier_reason(frame, column)
        if reason is not None:
            raise ValueError(f"{role} {column} is an identifier ({reason}): it cannot be a model term; "
                             f"drop it from {parameter}")

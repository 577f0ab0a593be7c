"""Design matrices shared by the regression estimators: column lists and one-hot encoding."""
from __future__ import annotations

from collections.abc import Sequence

import pandas as pd


def as_list(columns) -> list[str]:
    """None -> [], a name -> [name], any other iterable -> list.

    >>> as_list(None), as_list("contract"), as_list(("a", "b"))
    ([], ['contract'], ['a', 'b'])
    """
    return [] if columns is None else [columns] if isinstance(columns, str) else list(columns)


def require_roles(df: pd.DataFrame, **roles) -> None:
    """Raise when a named column is missing; ``roles`` maps a role (outcome, covariate...) to columns.

    >>> require_roles(pd.DataFrame({"spend": [1.0]}), outcome="spnd")
    Traceback (most recent call last):
    ValueError: outcome column 'spnd' is not in the data (columns: spend): check the spelling
    """
    for role, columns in roles.items():
        for col in as_list(columns):
            if col not in df.columns:
                raise ValueError(f"{role} column {col!r} is not in the data (columns: "
                                 f"{', '.join(map(str, df.columns))}): check the spelling")


def is_categorical(values: pd.Series) -> bool:
    """True when a column enters a model as levels (one-hot), not as a number."""
    return not pd.api.types.is_numeric_dtype(values)


def encode(df: pd.DataFrame, covariates: Sequence[str]) -> pd.DataFrame:
    """Numeric covariates as floats; other columns one-hot as ``col[level]``, first level dropped.

    >>> encode(pd.DataFrame({"x": [1, 2], "c": ["a", "b"]}), ["x", "c"]).columns.tolist()
    ['x', 'c[b]']
    """
    parts = [pd.DataFrame(index=df.index)]
    for col in covariates:
        if is_categorical(df[col]):
            levels = df[col].astype("category").cat.remove_unused_categories()
            dummies = pd.get_dummies(levels, dtype=float).iloc[:, 1:]
            parts.append(dummies.set_axis([f"{col}[{level}]" for level in dummies.columns], axis=1))
        else:
            parts.append(df[col].astype(float).to_frame(col))
    return pd.concat(parts, axis=1)

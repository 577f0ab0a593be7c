"""Notebook parameters: declared once, in the notebook's ``parameters`` cell, checked before a run.

Each parameter is one line of literal Python with a comment that is its help text::

    DATASET = "synthetic"   # data set name or folder
    SEGMENT_BY = "contract" # column that splits the curves [choices: contract, quadrant]
    HORIZON_MONTHS = 24     # restricted-mean horizon

The default's type is the parameter's type; ``[choices: a, b]`` at the end of the comment
limits the values. Overrides are matched case-insensitively (``-p dataset=...``) and refused,
with a message, when the name is unknown, the type is wrong or the value is not a choice.
"""
from __future__ import annotations

import ast
import io
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import yaml

_CHOICES = re.compile(r"\[choices:\s*(?P<values>[^\]]*)\]\s*$")


class ParameterError(ValueError):
    """A parameter override that the notebook does not accept."""


@dataclass(frozen=True)
class Parameter:
    name: str
    default: Any
    help: str = ""
    choices: tuple | None = None

    @property
    def type_name(self) -> str:
        return type(self.default).__name__ if self.default is not None else "any"


def _comments(source: str) -> dict[int, str]:
    out = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            out[tok.start[0]] = tok.string.lstrip("#").strip()
    return out


def parameters_cell(nb) -> int:
    """Index of the cell tagged ``parameters``; a clear error when there is none."""
    for i, cell in enumerate(nb.cells):
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            return i
    raise ParameterError("the notebook has no cell tagged 'parameters'")


def declared_parameters(notebook: str | Path) -> dict[str, Parameter]:
    """The parameters a notebook declares, in order, read from its ``parameters`` cell."""
    nb = nbformat.read(str(notebook), as_version=4)
    source = nb.cells[parameters_cell(nb)].source
    comments = _comments(source)
    params = {}
    for node in ast.parse(source).body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            raise ParameterError(f"{Path(notebook).name}: the parameters cell may hold only `NAME = literal` lines "
                                 f"(line {node.lineno})")
        name = node.targets[0].id
        try:
            default = ast.literal_eval(node.value)
        except ValueError:
            raise ParameterError(f"{Path(notebook).name}: parameter {name} must have a literal default") from None
        text = comments.get(node.end_lineno, "")
        match = _CHOICES.search(text)
        choices = None
        if match:
            choices = tuple(yaml.safe_load(v.strip()) for v in match["values"].split(","))
            text = text[: match.start()].strip()
        params[name] = Parameter(name, default, text, choices)
    return params


def parse_cli_value(raw: str, param: Parameter) -> Any:
    """Turn a ``-p NAME=VALUE`` string into the parameter's type (strings stay strings)."""
    if isinstance(param.default, str) or (param.choices and all(isinstance(c, str) for c in param.choices)):
        return raw
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw


def _check_type(value: Any, param: Parameter) -> Any:
    default = param.default
    if default is None:
        return value
    if isinstance(default, bool) or isinstance(value, bool):
        ok = isinstance(value, bool) and isinstance(default, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float))
        value = float(value) if ok else value
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise ParameterError(f"parameter {param.name} must be of type {param.type_name} (default {default!r}), "
                             f"got {value!r} ({type(value).__name__})")
    return value


def resolve_parameters(declared: dict[str, Parameter], overrides: dict[str, Any], *,
                       notebook: str = "the notebook", strings: bool = False) -> dict[str, Any]:
    """Check overrides against the declared parameters and return them under their declared names.

    Parameters
    ----------
    declared : dict
        From `declared_parameters`.
    overrides : dict
        Name (any case) to value; with ``strings=True`` values are CLI strings to convert.
    notebook : str
        Name used in messages.

    Raises
    ------
    ParameterError
        Unknown name, wrong type, or a value outside the choices.
    """
    by_lower = {name.lower(): p for name, p in declared.items()}
    out = {}
    for key, value in overrides.items():
        param = by_lower.get(str(key).lower())
        if param is None:
            known = ", ".join(p.lower() for p in declared) or "none"
            raise ParameterError(f"{notebook} has no parameter {key!r} (its parameters: {known})")
        if strings and isinstance(value, str):
            value = parse_cli_value(value, param)
        value = _check_type(value, param)
        if param.choices is not None and value not in param.choices:
            allowed = ", ".join(map(str, param.choices))
            raise ParameterError(f"parameter {param.name} = {value!r} is not one of its choices: {allowed}")
        out[param.name] = value
    return out


def split_assignments(pairs: list[str]) -> dict[str, str]:
    """``["dataset=telco", "horizon_months=12"]`` -> dict; a clear error for a pair without '='."""
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ParameterError(f"-p takes NAME=VALUE, got {pair!r}")
        out[name.strip()] = value
    return out

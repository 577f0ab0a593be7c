"""Notebook parameters: declared once, in the notebook's ``parameters`` cell, checked before a run.

Each parameter is one line of literal Python with a comment that is its help text, optionally
ended by tags that narrow what it accepts::

    DATASET = "synthetic"    # data set name or folder
    SEGMENT_BY = "contract"  # column that splits the curves [choices: contract, quadrant]
    CONFIDENCE = 0.95        # confidence level [range: 0.5 <= x < 1]
    STRATA = []              # stratification columns [type: list[str]]
    COST = None              # cost of one action [type: float] [range: x >= 0]
    TRIM = [0.05, 0.95]      # propensity bounds [range: 0 <= x <= 1] [length: 2]
    DATASET = "synthetic"    # data set [role: dataset]
    DATASET = "synthetic"    # data set with campaigns [role: dataset] [needs: campaigns]

The default's type is the parameter's type (``str``, ``int``, ``float``, ``bool`` or a list of
one of them); a ``None`` default or an empty list declares its type with ``[type: ...]``.
``[choices: ...]`` and ``[range: ...]`` apply to the value, or to each element of a list.
``[role: ...]`` tells the runner what a parameter means to it (`ROLES`), so that the runner
reads the data a notebook names, and checks its model terms, without knowing parameter names.
``[needs: ...]`` on the data set names the tables it must hold (`helpers.data.schema.TABLES`),
so that a data set without them is refused before any kernel starts.

Values are data, never code. A value is a plain scalar (text, number, true/false, null) or a
list of them, checked element by element; NaN and infinity are refused where a number is
expected. YAML is read by `load_plain_yaml`, which refuses every tag (``!!binary``,
``!!python/...``, ``!!set``), anchors and repeated keys. The cell that carries the values into
the kernel is written by `parameters_source` from ``repr`` of checked plain values, so whatever
reaches the kernel is a literal.
"""
from __future__ import annotations

import ast
import copy
import io
import math
import re
import tokenize
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import yaml

from helpers.data import schema as S

KINDS = ("str", "int", "float", "bool")
ROLES = {  # what a [role: ...] tag tells the runner about a parameter
    "dataset": "the data set (a built-in name, a folder or a mapping file), loaded and checked before a run",
    "table": "a one-table source that replaces the data set when given (a file or a built-in name)",
    "engine": "the computation path (auto, rows, aggregated): rows forces the full pandas check",
    "large": "customers from which the data are checked in DuckDB instead of pandas",
    "covariates": "columns that become model covariates: identifier columns are refused",
    "strata": "columns that become model strata: identifier columns are refused",
    "campaign": "a campaign_id the data set's campaigns table must hold (unless a one-table source is given)",
}
DATA_ROLES = ("dataset", "table")  # parameters that name the data, not how it is analysed
MAX_TEXT = 4096  # characters of one text value
MAX_ITEMS = 1000  # elements of one list value
_TAG = re.compile(r"\[(?P<key>choices|type|range|length|role|needs):\s*(?P<value>(?:[^\[\]]|\[[^\]]*\])*)\]\s*$")
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_RANGE = re.compile(rf"^(?:(?P<low>{_NUMBER})\s*(?P<lop><=|<)\s*)?x(?:\s*(?P<hop><=|<)\s*(?P<high>{_NUMBER}))?$")
_RANGE_FROM = re.compile(rf"^x\s*(?P<op>>=|>)\s*(?P<low>{_NUMBER})$")
_PLAIN_HELP = "a value is text, a number, true/false, null or a list of them"


class ParameterError(ValueError):
    """A parameter override that the notebook does not accept."""


@dataclass(frozen=True)
class Bounds:
    """An interval ``low <(=) x <(=) high``; either end may be open-ended (None)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, x: float) -> bool:
        above = self.low is None or (x > self.low if self.low_open else x >= self.low)
        below = self.high is None or (x < self.high if self.high_open else x <= self.high)
        return above and below

    def __str__(self) -> str:
        low = "" if self.low is None else f"{_num(self.low)} {'<' if self.low_open else '<='} "
        high = "" if self.high is None else f" {'<' if self.high_open else '<='} {_num(self.high)}"
        if self.low is not None and self.high is None:
            return f"x {'>' if self.low_open else '>='} {_num(self.low)}"
        return f"{low}x{high}"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


def parse_bounds(text: str) -> Bounds:
    """``"0.5 <= x < 1"``, ``"x >= 0"`` or ``"x < 10"`` as `Bounds`.

    Example
    -------
    >>> b = parse_bounds("0.5 <= x < 1")
    >>> (0.95 in b, 1.0 in b, str(b))
    (True, False, '0.5 <= x < 1')
    """
    text = text.strip()
    if match := _RANGE_FROM.match(text):
        return Bounds(low=float(match["low"]), low_open=match["op"] == ">")
    match = _RANGE.match(text)
    if not match or not (match["low"] or match["high"]):
        raise ParameterError(f"a range is written like '0 < x <= 1', 'x >= 0' or 'x < 10', not {text!r}")
    return Bounds(low=float(match["low"]) if match["low"] else None,
                  high=float(match["high"]) if match["high"] else None,
                  low_open=match["lop"] == "<", high_open=match["hop"] == "<")


@dataclass(frozen=True)
class Parameter:
    """One declared parameter: its default, help, and what it accepts.

    ``kind`` is ``str``, ``int``, ``float``, ``bool`` or ``list[<one of them>]``; left empty, it
    is read from the default. A ``None`` default means "not given" and also accepts null.
    """

    name: str
    default: Any
    help: str = ""
    choices: tuple | None = None
    kind: str = ""
    bounds: Bounds | None = None
    length: int | None = None
    role: str = ""
    needs: tuple[str, ...] = ()
    _item: str = field(init=False, repr=False, compare=False, default="")

    def __post_init__(self):
        kind = self.kind or _kind_of(self.default, self.name)
        item = kind[5:-1] if kind.startswith("list[") and kind.endswith("]") else ""
        if (item or kind) not in KINDS:
            raise ParameterError(f"parameter {self.name}: unknown type {kind!r} (types: {', '.join(KINDS)}, "
                                 f"or list[...] of one of them)")
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "_item", item)

    @property
    def type_name(self) -> str:
        return f"{self.kind} or null" if self.default is None else self.kind

    @property
    def is_list(self) -> bool:
        return bool(self._item)

    @property
    def scalar_kind(self) -> str:
        """The type of the value, or of each element of a list."""
        return self._item or self.kind


def _kind_of(default: Any, name: str) -> str:
    """The type a default declares; a None default or an empty list must say it with ``[type: ...]``."""
    if isinstance(default, list):
        kinds = {_kind_of(v, name) for v in default}
        if not kinds:
            raise ParameterError(f"parameter {name}: an empty list default must declare its type, "
                                 f"e.g. `# help [type: list[str]]`")
        kinds = {"float"} if kinds == {"int", "float"} else kinds
        if len(kinds) > 1 or next(iter(kinds)).startswith("list"):
            raise ParameterError(f"parameter {name}: a list default holds values of one type, got {default!r}")
        return f"list[{kinds.pop()}]"
    if default is None:
        raise ParameterError(f"parameter {name}: a None default must declare its type, e.g. `# help [type: float]`")
    kind = type(default).__name__
    if kind not in KINDS:
        raise ParameterError(f"parameter {name}: a default is text, a number, True/False, None or a list, "
                             f"not {kind}")
    return kind


def _comments(source: str) -> dict[int, str]:
    out = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            out[tok.start[0]] = tok.string.lstrip("#").strip()
    return out


def _tags(text: str, name: str) -> tuple[str, dict[str, str]]:
    """Help text and the ``[key: value]`` tags at its end, in any order."""
    tags = {}
    while match := _TAG.search(text):
        if match["key"] in tags:
            raise ParameterError(f"parameter {name}: [{match['key']}: ...] is given twice")
        tags[match["key"]] = match["value"].strip()
        text = text[: match.start()].rstrip()
    return text, tags


def with_role(declared: dict[str, Parameter], role: str) -> list[str]:
    """The names of the declared parameters that carry ``[role: <role>]``, in order.

    Example
    -------
    >>> declared = {"DATA": Parameter("DATA", "x", role="dataset"), "SEED": Parameter("SEED", 0)}
    >>> with_role(declared, "dataset"), with_role(declared, "table")
    (['DATA'], [])
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    return [name for name, p in declared.items() if p.role == role]


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
        text, tags = _tags(comments.get(node.end_lineno, ""), name)
        try:
            params[name] = _declare(name, default, text, tags)
        except ParameterError as e:
            raise ParameterError(f"{Path(notebook).name}: {e}") from None
    return params


def _declare(name: str, default: Any, text: str, tags: dict[str, str]) -> Parameter:
    choices = tuple(yaml.safe_load(v.strip()) for v in tags["choices"].split(",")) if "choices" in tags else None
    length = tags.get("length")
    if length is not None and not length.isdigit():
        raise ParameterError(f"parameter {name}: [length: ...] takes a whole number, got {length!r}")
    role = tags.get("role", "")
    if role and role not in ROLES:
        raise ParameterError(f"parameter {name}: [role: {role}] is not a role; roles: {', '.join(ROLES)}")
    needs = tuple(t.strip() for t in tags["needs"].split(",")) if "needs" in tags else ()
    if unknown := [t for t in needs if t not in S.TABLES]:
        raise ParameterError(f"parameter {name}: [needs: ...] names tables of the contract "
                             f"({', '.join(S.TABLES)}), not {', '.join(map(repr, unknown))}")
    if needs and role != "dataset":
        raise ParameterError(f"parameter {name}: [needs: ...] goes with [role: dataset]")
    param = Parameter(name, default, text, choices, kind=tags.get("type", ""),
                      bounds=parse_bounds(tags["range"]) if "range" in tags else None,
                      length=int(length) if length is not None else None, role=role, needs=needs)
    if default is not None:
        check_value(default, param)  # the notebook's own default obeys its declaration
    return param


class _PlainLoader(yaml.SafeLoader):
    """YAML without dates (``2024-01-01`` stays text) and with repeated keys refused."""


_PlainLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
# YAML 1.1 reads `1e-30` (no dot) as text; YAML 1.2, and every user, reads a number
_PlainLoader.add_implicit_resolver("tag:yaml.org,2002:float",
                                   re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
                                   list("-+0123456789."))


def _mapping_without_repeats(loader: _PlainLoader, node: yaml.MappingNode) -> dict:
    seen = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if str(key).lower() in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"{key!r} is given twice (names match in any case)", key_node.start_mark)
        seen[str(key).lower()] = key
    return loader.construct_mapping(node, deep=True)


_PlainLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_repeats)


def _where(mark) -> str:
    return f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""


def load_plain_yaml(text: str | bytes, *, source: str = "the value") -> Any:
    """Read YAML that may hold only plain values: no tags, no anchors or aliases, no repeated keys.

    Raises
    ------
    ParameterError
        Naming ``source``, the line and what is refused; also for YAML that does not parse and
        for bytes that are not UTF-8.

    Example
    -------
    >>> load_plain_yaml("[contract, 2024-01-01, 3, 1e-30]")
    ['contract', '2024-01-01', 3, 1e-30]
    >>> load_plain_yaml("!!binary aGk=", source="parameter X")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    helpers.report.params.ParameterError: parameter X: the YAML tag '!!binary' is not accepted (line 1, ...
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ParameterError(f"{source}: not UTF-8 text (byte {e.start}): save it as UTF-8") from None
    try:
        for event in yaml.parse(text, Loader=_PlainLoader):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
                raise ParameterError(f"{source}: YAML anchors and aliases (&, *) are not accepted"
                                     f"{_where(event.start_mark)}")
            tag = getattr(event, "tag", None)
            if tag is not None:
                shown = tag.replace("tag:yaml.org,2002:", "!!")
                raise ParameterError(f"{source}: the YAML tag {shown!r} is not accepted{_where(event.start_mark)}: "
                                     f"{_PLAIN_HELP}")
        return yaml.load(text, Loader=_PlainLoader)  # noqa: S506 -- a SafeLoader without tags, checked above
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise ParameterError(f"{source}: not valid YAML{_where(mark)}: {getattr(e, 'problem', None) or e}") from None


def parse_cli_value(raw: str, param: Parameter) -> Any:
    """Turn a ``-p NAME=VALUE`` string into a value for ``param`` (text parameters keep the text)."""
    if param.kind == "str" or (param.choices and all(isinstance(c, str) for c in param.choices)):
        return raw
    try:
        return load_plain_yaml(raw, source=f"parameter {param.name}")
    except ParameterError as e:
        if "YAML tag" in str(e) or "anchors" in str(e):
            raise
        return raw  # not YAML: the type check says what was expected


def _plain(value: Any, where: str) -> None:
    """Refuse anything but text, numbers, booleans, None and lists/mappings of them (recursively)."""
    if value is None or type(value) in (str, int, float, bool):
        return
    if type(value) is list:
        for i, v in enumerate(value, 1):
            _plain(v, f"{where}, element {i}")
        return
    if type(value) is dict:
        for k, v in value.items():
            if type(k) is not str:
                raise ParameterError(f"{where}: a key is {type(k).__name__}; {_PLAIN_HELP}")
            _plain(v, f"{where}, key {k!r}")
        return
    raise ParameterError(f"{where}: got {type(value).__name__}; {_PLAIN_HELP}")


def _scalar(value: Any, kind: str, param: Parameter, where: str) -> Any:
    """One value (or one element of a list) as ``kind``, inside the choices and the range."""
    def refuse(got: str) -> ParameterError:
        default = "" if param.is_list else f" (default {param.default!r})"
        return ParameterError(f"{where} must be of type {kind}{default}, got {got}")

    if kind == "bool" or isinstance(value, bool):
        if not (kind == "bool" and isinstance(value, bool)):
            raise refuse(f"{value!r} ({type(value).__name__})")
    elif kind == "float":
        if not isinstance(value, (int, float)):
            raise refuse(f"{value!r} ({type(value).__name__})")
        value = float(value)
        if not math.isfinite(value):
            raise ParameterError(f"{where} must be a finite number, got {value!r}")
    elif kind == "int":
        if not isinstance(value, int):
            raise refuse(f"{value!r} ({type(value).__name__})")
    elif not isinstance(value, str):
        raise refuse(f"{value!r} ({type(value).__name__})")
    elif len(value) > MAX_TEXT or "\x00" in value:
        raise ParameterError(f"{where} must be text of at most {MAX_TEXT} characters without NUL bytes")
    if param.choices is not None and value not in param.choices:
        raise ParameterError(f"{where} = {value!r} is not one of its choices: {', '.join(map(str, param.choices))}")
    if param.bounds is not None and kind in ("int", "float") and value not in param.bounds:
        raise ParameterError(f"{where} = {value!r} is outside its range {param.bounds}")
    return value


def check_value(value: Any, param: Parameter) -> Any:
    """``value`` checked against ``param``, element by element; the value to use.

    Raises
    ------
    ParameterError
        Not a plain value, the wrong type (of an element), NaN or infinity, outside the choices
        or the range, or a list of the wrong length.
    """
    where = f"parameter {param.name}"
    _plain(value, where)
    if value is None and param.default is None:
        return None
    if not param.is_list:
        return _scalar(value, param.kind, param, where)
    if not isinstance(value, list):
        raise ParameterError(f"{where} must be of type {param.kind} (default {param.default!r}), e.g. "
                             f"[a, b], got {value!r} ({type(value).__name__})")
    if param.length is not None and len(value) != param.length:
        raise ParameterError(f"{where} must hold {param.length} values, got {len(value)}: {value!r}")
    if len(value) > MAX_ITEMS:
        raise ParameterError(f"{where} holds {len(value)} values; at most {MAX_ITEMS}")
    return [_scalar(v, param.scalar_kind, param, f"{where}, element {i}") for i, v in enumerate(value, 1)]


def resolve_parameters(declared: dict[str, Parameter], overrides: dict[str, Any], *,
                       notebook: str = "the notebook", strings: bool = False) -> dict[str, Any]:
    """Check overrides against the declared parameters and return them under their declared names.

    Parameters
    ----------
    declared : dict
        From `declared_parameters`.
    overrides : dict
        Name (any case) to value; with ``strings=True`` text values are command-line strings
        to convert (`parse_cli_value`).
    notebook : str
        Name used in messages.

    Raises
    ------
    ParameterError
        Unknown or repeated name, not a plain value, wrong type, outside the choices or range.
    """
    by_lower = {name.lower(): p for name, p in declared.items()}
    out = {}
    for key, value in overrides.items():
        param = by_lower.get(str(key).lower())
        if param is None:
            known = ", ".join(p.lower() for p in declared) or "none"
            raise ParameterError(f"{notebook} has no parameter {key!r} (its parameters: {known})")
        if param.name in out:
            raise ParameterError(f"parameter {param.name} is given twice (names match in any case)")
        if strings and isinstance(value, str):
            value = parse_cli_value(value, param)
        out[param.name] = check_value(value, param)
    return out


def split_assignments(pairs: list[str]) -> dict[str, str]:
    """``["dataset=telco", "horizon_months=12"]`` -> dict; a pair without '=' or a name given twice is refused."""
    out, seen = {}, {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ParameterError(f"-p takes NAME=VALUE, got {pair!r}")
        if name.lower() in seen:
            raise ParameterError(f"parameter {name} is given twice (-p {seen[name.lower()]}=... and -p {name}=...); "
                                 f"give it once")
        seen[name.lower()] = name
        out[name] = value
    return out


def parameters_source(values: dict[str, Any]) -> str:
    """The source of the cell that carries ``values`` into the kernel: one ``NAME = literal`` per line.

    Every value must be plain (`check_value` made it so); each line is ``repr`` of it and is read
    back with `ast.literal_eval` before it is used, so the cell can hold nothing but literals.

    Example
    -------
    >>> print(parameters_source({"COVARIATES": ['x"+str(1)+"'], "CONFIDENCE": 0.9}))
    # Parameters
    COVARIATES = ['x"+str(1)+"']
    CONFIDENCE = 0.9
    """
    lines = ["# Parameters"]
    for name, value in values.items():
        if not name.isidentifier() or name.startswith("_"):
            raise ParameterError(f"{name!r} is not a parameter name")
        _plain(value, f"parameter {name}")
        literal = repr(value)
        try:
            same = ast.literal_eval(literal) == value
        except (ValueError, SyntaxError):  # nan, inf: never a parameter value
            same = False
        if not same:
            raise ParameterError(f"parameter {name}: its value {literal} does not survive as a literal")
        lines.append(f"{name} = {literal}")
    return "\n".join(lines)


def inject_parameters(nb, values: dict[str, Any]):
    """A copy of notebook ``nb`` with a cell tagged ``injected-parameters`` after its parameters cell.

    Papermill's own injection is not used: it writes string values through a translator that a
    crafted value can escape. The cell is `parameters_source`; the values are recorded under
    ``metadata.papermill.parameters`` as papermill does.
    """
    nb = copy.deepcopy(nb)
    at = parameters_cell(nb) + 1
    nb.cells = [c for c in nb.cells if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
    cell = nbformat.v4.new_code_cell(parameters_source(values))
    cell.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(at, cell)
    nb.metadata.setdefault("papermill", {})["parameters"] = dict(values)
    return nb

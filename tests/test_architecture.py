"""The layers of the package as the README describes them, and notebooks that stay thin.

Each module of ``src/helpers`` belongs to a layer (its folder; the base modules at the top);
it may import only from its own layer and the layers below it. No module imports a private
name (``_x``) of another. Each analysis notebook is parameters, then one call per section.
"""
import ast
from pathlib import Path

import nbformat
import pytest

from helpers import config

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "helpers"
# lowest first; a module may import its own layer and any before it
LAYERS = ["base", "data", "stats", "engine", "steps", "report", "cli"]
BASE = {"config", "files", "findings", "plots", "tables"}  # below everything; may use data.schema only
MAX_CODE_LINES, MAX_IFS = 100, 5


def layer_of(module: str) -> str:
    """``helpers.stats.survival`` -> ``stats``; ``helpers.findings`` -> ``base``; ``helpers.cli`` -> ``cli``."""
    parts = module.split(".")[1:]
    if not parts or parts[0] in BASE or parts == ["data", "schema"]:
        return "base"
    return parts[0]


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        yield name, path


def imports(name: str, path: Path):
    """(imported module, names) for every import in the file, relative ones resolved."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield target, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []


def test_every_module_sits_in_a_known_layer():
    assert {layer_of(name) for name, _ in modules()} - {"helpers"} <= set(LAYERS)
    for layer in LAYERS[1:-1]:
        assert (PACKAGE / layer / "__init__.py").is_file(), f"the {layer} layer is a folder"


def violations(name: str, path: Path) -> list[str]:
    """Every import of ``name`` (at ``path``) that goes up the layers or takes a private name."""
    if name == "helpers":  # the package's front door re-exports a few names
        return []
    own, found = LAYERS.index(layer_of(name)), []
    for target, names in imports(name, path):
        if not target.startswith("helpers"):
            continue
        folder = PACKAGE.parent.joinpath(*target.split("."))
        submodules = [f"{target}.{n}" for n in names if (folder / f"{n}.py").exists() or (folder / n).is_dir()]
        for item in submodules or [target]:  # `from helpers.data import schema` imports helpers.data.schema
            if LAYERS.index(layer_of(item)) > own:
                found.append(f"{name} ({layer_of(name)}) imports {item} ({layer_of(item)})")
        found += [f"{name} imports the private name {n} from {target}" for n in names if n.startswith("_")]
    return found


@pytest.mark.parametrize(("name", "path"), list(modules()), ids=lambda x: str(x))
def test_imports_go_down_the_layers_only(name, path):
    assert violations(name, path) == []


def test_the_rule_catches_an_import_up_the_layers_and_a_private_name(tmp_path):
    source = tmp_path / "fake.py"
    source.write_text("from helpers.engine.scale import Data\nfrom helpers.data import schema\n"
                      "from helpers.stats.survival import _groups\n\ndef f():\n    from helpers.steps import churn\n")
    assert violations("helpers.stats.fake", source) == [
        "helpers.stats.fake (stats) imports helpers.engine.scale (engine)",
        "helpers.stats.fake imports the private name _groups from helpers.stats.survival",
        "helpers.stats.fake (stats) imports helpers.steps.churn (steps)"]
    assert violations("helpers.steps.fake", source) == [
        "helpers.steps.fake imports the private name _groups from helpers.stats.survival"]
    assert layer_of("helpers.data.schema") == "base" and layer_of("helpers.plots") == "base"


def notebook_size(path: Path) -> tuple[int, int]:
    """(code lines, ``if`` statements) over the code cells, blank lines and comments left out."""
    nb = nbformat.read(str(path), as_version=4)
    lines = ifs = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        lines += sum(1 for line in cell.source.splitlines() if line.strip() and not line.strip().startswith("#"))
        ifs += sum(isinstance(node, (ast.If, ast.IfExp)) for node in ast.walk(ast.parse(cell.source)))
    return lines, ifs


@pytest.mark.parametrize("path", sorted(config.NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_notebooks_are_thin(path):
    lines, ifs = notebook_size(path)
    assert lines <= MAX_CODE_LINES and ifs <= MAX_IFS, f"{path.name}: {lines} code lines, {ifs} if statements"


@pytest.mark.parametrize("path", sorted(config.NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_no_notebook_branches_on_the_computation_path(path):
    text = "\n".join(c.source for c in nbformat.read(str(path), as_version=4).cells if c.cell_type == "code")
    for needle in ("data.src", "data.sampled", "weights=", "ENGINE ==", "EXPERIMENT_FILE if", "if ONE_TABLE"):
        assert needle not in text, f"{path.name} decides the computation path itself ({needle!r})"


def test_notebook_size_counts_lines_and_ifs(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("# a comment\nx = 1\n\nif x:\n    y = 2 if x else 3\n")]
    nbformat.write(nb, str(tmp_path / "n.ipynb"))
    assert notebook_size(tmp_path / "n.ipynb") == (3, 2)

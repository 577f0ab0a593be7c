"""House rules for the committed notebooks (each notebook's run is tested in test_runner.py)."""
import nbformat
import pytest

from helpers.report import declared_parameters, list_notebooks

NOTEBOOKS = list_notebooks()


def test_there_are_notebooks():
    assert [p.stem for p in NOTEBOOKS][:1] == ["00_data_overview"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs_and_with_documented_parameters(path):
    nb = nbformat.read(str(path), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "clear the outputs before committing"
    params = declared_parameters(path)
    assert params and all(name.isupper() and p.help for name, p in params.items())
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")

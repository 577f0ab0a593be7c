"""Parameters are declared once in the notebook and refused before any kernel starts when wrong."""
import nbformat
import pytest

from helpers.report import ParameterError, declared_parameters, find_notebook, resolve_parameters
from helpers.report.params import split_assignments

from .conftest import write_notebook


@pytest.fixture
def notebook(tmp_path):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(
        'DATASET = "synthetic"  # data set name or folder [role: dataset]\n'
        'SEGMENT_BY = "contract"  # column that splits the curves [choices: contract, quadrant]\n'
        'HORIZON_MONTHS = 24  # restricted-mean horizon\n'
        'CONFIDENCE = 0.95  # confidence level\n'
        'SHOW_CODE = False  # include code\n'
        'COVARIATES = ["satisfaction", "monthly_value"]  # Cox covariates [role: covariates]\n'
        'LEVEL = 2  # an int with choices [choices: 1, 2, 3]\n')
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(path))
    return declared_parameters(path)


def test_declared_parameters_read_type_default_help_and_choices(notebook):
    p = notebook["SEGMENT_BY"]
    assert (p.default, p.help, p.choices, p.type_name) == ("contract", "column that splits the curves",
                                                           ("contract", "quadrant"), "str")
    assert notebook["HORIZON_MONTHS"].type_name == "int" and notebook["LEVEL"].choices == (1, 2, 3)
    assert list(notebook) == ["DATASET", "SEGMENT_BY", "HORIZON_MONTHS", "CONFIDENCE", "SHOW_CODE", "COVARIATES",
                              "LEVEL"]


def test_cli_strings_become_typed_values_and_names_match_any_case(notebook):
    out = resolve_parameters(notebook, {"horizon_months": "12", "confidence": "0.9", "show_code": "true",
                                        "covariates": "[satisfaction]", "segment_by": "quadrant", "level": "3",
                                        "dataset": "123"}, strings=True)
    assert out == {"HORIZON_MONTHS": 12, "CONFIDENCE": 0.9, "SHOW_CODE": True, "COVARIATES": ["satisfaction"],
                   "SEGMENT_BY": "quadrant", "LEVEL": 3, "DATASET": "123"}


def test_an_int_is_accepted_for_a_float():
    assert resolve_parameters({"C": _p("C", 0.95)}, {"C": 1}) == {"C": 1.0}


def _p(name, default, choices=None):
    from helpers.report import Parameter
    return Parameter(name, default, "", choices)


@pytest.mark.parametrize("overrides, message", [
    ({"horizon": "12"}, r"nb has no parameter 'horizon' \(its parameters: dataset, segment_by, horizon_months"),
    ({"horizon_months": "twelve"}, r"parameter HORIZON_MONTHS must be of type int \(default 24\), "
                                   r"got 'twelve' \(str\)"),
    ({"horizon_months": "12.5"}, r"HORIZON_MONTHS must be of type int .* got 12\.5 \(float\)"),
    ({"show_code": "1"}, r"SHOW_CODE must be of type bool \(default False\), got 1 \(int\)"),
    ({"confidence": "high"}, r"CONFIDENCE must be of type float"),
    ({"segment_by": "region"}, r"parameter SEGMENT_BY = 'region' is not one of its choices: contract, quadrant"),
    ({"level": "7"}, r"parameter LEVEL = 7 is not one of its choices: 1, 2, 3"),
    ({"covariates": "satisfaction"}, r"COVARIATES must be of type list"),
])
def test_refusals(notebook, overrides, message):
    with pytest.raises(ParameterError, match=message):
        resolve_parameters(notebook, overrides, notebook="nb", strings=True)


def test_a_parameters_cell_with_code_is_refused(tmp_path):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("import os\nX = 1")
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell]
    nbformat.write(nb, str(tmp_path / "bad.ipynb"))
    with pytest.raises(ParameterError, match=r"bad.ipynb: the parameters cell may hold only `NAME = literal` lines"):
        declared_parameters(tmp_path / "bad.ipynb")


def test_split_assignments():
    assert split_assignments(["a=1", "b = x=y"]) == {"a": "1", "b": " x=y"}
    with pytest.raises(ParameterError, match="-p takes NAME=VALUE, got 'oops'"):
        split_assignments(["oops"])


def test_every_shipped_notebook_declares_documented_parameters():
    for name in ["00_data_overview"]:
        params = declared_parameters(find_notebook(name))
        assert "DATASET" in params
        assert all(p.help for p in params.values()), "every parameter needs a help comment"


def test_roles_are_read_from_tags_and_unknown_roles_are_refused(tmp_path, notebook):
    from helpers.report.params import with_role

    declared = notebook
    assert with_role(declared, "dataset") == ["DATASET"] and with_role(declared, "covariates") == ["COVARIATES"]
    assert with_role(declared, "table") == [] and declared["LEVEL"].role == ""
    write_notebook(tmp_path / "bad.ipynb", 'DATASET = "synthetic"  # data [role: datasets]')
    with pytest.raises(ParameterError, match=r"\[role: datasets\] is not a role; roles: dataset, table"):
        declared_parameters(tmp_path / "bad.ipynb")


def test_the_tables_a_data_set_needs_are_tables_of_the_contract(tmp_path):
    write_notebook(tmp_path / "ok.ipynb", 'DATASET = "synthetic"  # data [role: dataset] [needs: campaigns, revenue]')
    assert declared_parameters(tmp_path / "ok.ipynb")["DATASET"].needs == ("campaigns", "revenue")
    for tag, message in [("[role: dataset] [needs: campaign]", r"names tables of the contract \(customers, .*\), "
                                                                 r"not 'campaign'"),
                         ("[needs: campaigns]", r"\[needs: ...\] goes with \[role: dataset\]"),
                         ("[role: dataset] [needs: <script>]", r"not '<script>'")]:
        write_notebook(tmp_path / "bad.ipynb", f'DATASET = "synthetic"  # data {tag}')
        with pytest.raises(ParameterError, match=message):
            declared_parameters(tmp_path / "bad.ipynb")


def test_the_runner_finds_the_data_by_role_not_by_name(tmp_path, monkeypatch):
    """A data parameter under another name is still loaded and checked before any kernel starts."""
    from helpers import config
    from helpers.report.runner import RunRefused, plan

    folder = tmp_path / "notebooks"
    folder.mkdir()
    write_notebook(folder / "20_renamed.ipynb", 'SOURCE = "synthetic"  # where the customers are [role: dataset]\n'
                   'TERMS = ["contract"]  # model terms [role: covariates]', "pass")
    monkeypatch.setattr(config, "NOTEBOOKS", folder)
    with pytest.raises(RunRefused, match=r"20_renamed: data set '/no/such/folder' not found"):
        plan(["20_renamed"], {"source": "/no/such/folder"}, strings=True)
    (job,) = plan(["20_renamed"], {"source": "telco"}, strings=True)
    assert job["data"]["dataset"] == "telco" and job["data_parameters"] == ["SOURCE"]
    assert job["stable_set"] == "latest-telco"  # only the data differ from the defaults
    with pytest.raises(RunRefused, match="customer_id"):
        plan(["20_renamed"], {"source": "telco", "terms": "[customer_id]"}, strings=True)


def test_a_number_in_e_notation_without_a_dot_is_a_number():
    """YAML 1.1 reads `1e-30` as text; a user means a number (issue 15, part 6)."""
    from helpers.report.params import Parameter, load_plain_yaml, parse_cli_value

    assert load_plain_yaml("[1e-30, 1E5, -2e3, 1.5e-2, 1e, e5, 1e-30x]") == [1e-30, 1e5, -2000.0, 0.015, "1e", "e5",
                                                                            "1e-30x"]
    assert parse_cli_value("1e-30", Parameter("ALPHA", 0.05, "significance")) == 1e-30
    assert parse_cli_value("1e-30", Parameter("NAME", "x", "any text")) == "1e-30"  # text stays text
    assert resolve_parameters({"ALPHA": _p("ALPHA", 0.05)}, {"alpha": "1e-30"}, strings=True) == {"ALPHA": 1e-30}

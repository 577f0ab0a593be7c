"""The report layer: run notebooks with papermill, check their parameters, write HTML and the index."""
from .params import Parameter, ParameterError, declared_parameters, resolve_parameters
from .runner import RunRefused, find_notebook, list_notebooks, read_runs, run, write_index

__all__ = ["Parameter", "ParameterError", "RunRefused", "declared_parameters", "find_notebook", "list_notebooks",
           "read_runs", "resolve_parameters", "run", "write_index"]

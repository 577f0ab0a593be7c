"""A notebook's cells run in this process with its default parameters: the sections a default run makes.

`make report` runs every notebook with its defaults on the default synthetic data through
papermill; the tests that check what those reports answer need the same sections without a
kernel, papermill or the HTML export (about 7 s of fixed cost a notebook). The notebook's own
code cells run here, in order, so the calls cannot drift from the notebook's; only the last
cell's `record_sections` is replaced, to collect the sections instead of displaying them.
"""
from __future__ import annotations

import nbformat

from helpers.report import declared_parameters, find_notebook
from helpers.report.params import parameters_cell
from helpers.steps.section import Section


def default_sections(notebook: str, **overrides) -> list[Section]:
    """The sections ``notebook`` records when run with its defaults (``overrides`` by parameter name)."""
    path = find_notebook(notebook)
    declared = declared_parameters(path)
    if unknown := set(overrides) - set(declared):
        raise KeyError(f"{path.stem} has no parameters {sorted(unknown)}")
    nb = nbformat.read(str(path), as_version=4)
    recorded: list[Section] = []

    def record_sections(*sections) -> None:
        recorded.extend(s for item in sections for s in ([item] if isinstance(item, Section) else item))

    namespace = {name: p.default for name, p in declared.items()} | overrides
    cells = [c for c in nb.cells if c.cell_type == "code"]
    skip = nb.cells[parameters_cell(nb)]
    for n, cell in enumerate(cells):
        if cell is skip:
            continue
        exec(compile(cell.source, f"{path.name}, code cell {n + 1}", "exec"), namespace)  # the notebook's own code
        namespace["record_sections"] = record_sections  # after the imports: the last cell collects instead
    if not recorded:
        raise AssertionError(f"{path.name}: the last cell recorded no sections")
    return recorded


def answers(sections: list[Section]) -> dict[str, object]:
    """The sections' answers by name (``helpers.findings.Answer``)."""
    return {a.name: a for s in sections for a in s.answers}

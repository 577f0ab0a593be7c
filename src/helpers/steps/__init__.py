"""Steps layer: what a notebook section calls. Each step takes the data object and returns a `Section`.

One module per notebook (`overview` for 00, `churn` for 01, `retention` for 02, `recovery` for 03);
`section` holds the result type and the decorator that turns a failing section into a result.
"""
from helpers.steps.section import Section, Skip, record_sections, step, value

__all__ = ["Section", "Skip", "record_sections", "step", "value"]

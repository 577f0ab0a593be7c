"""Customer-service analytics workbench: the logic behind the notebooks.

Layers (each imports only those below it): ``schema``/``config`` -> ``io``/``validate``/``synth``
-> analyses (``overview``, ``findings``, ``plots``) -> ``report`` -> ``cli``.
"""
import sys

# jsonschema (under nbformat) imports rfc3987_syntax when it is installed, which compiles a lark
# grammar: 1 to 3 s of every `workbench` command and kernel start, for checking the "iri" string
# format that no notebook schema uses (jsonschema skips a format whose checker is missing).
sys.modules.setdefault("rfc3987_syntax", None)

from helpers.data.io import Dataset, load_dataset  # noqa: E402
from helpers.data.validate import DataError, validate  # noqa: E402

from .findings import record  # noqa: E402

__version__ = "0.1.0"
__all__ = ["DataError", "Dataset", "load_dataset", "record", "validate"]

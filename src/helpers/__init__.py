"""Customer-service analytics workbench: the logic behind the notebooks.

Layers (each imports only those below it): ``schema``/``config`` -> ``io``/``validate``/``synth``
-> analyses (``overview``, ``findings``, ``plots``) -> ``report`` -> ``cli``.
"""
from .findings import record
from .io import Dataset, load_dataset
from .validate import DataError, validate

__version__ = "0.1.0"
__all__ = ["DataError", "Dataset", "load_dataset", "record", "validate"]

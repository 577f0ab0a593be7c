"""Engine layer: the data object (rows or counts, sample or not) and the DuckDB source."""

"""Data layer: the schema, segment bands, reading and validating files, mappings, built-in data sets, the generator."""
